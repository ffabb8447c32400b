//! Tables: comfy-table on a terminal, plain aligned columns (stable for scripts) in a pipe.

use std::collections::BTreeMap;
use std::io::{self, Write};

use comfy_table::{Attribute, Cell, CellAlignment, Color, ContentArrangement, Table, presets};

use crate::output::{Names, Style, endpoint_text, owners_text, printable, proto_text, user_text};
use crate::sockets::{Family, Owners, Proto, Snapshot, State};

/// The column headers of `list`, in the order DESIGN.md gives.
pub const HEADERS: [&str; 8] = [
    "Proto",
    "Local",
    "Remote",
    "State",
    "Recv-Q",
    "Send-Q",
    "PID/Process",
    "User",
];

/// A mark in the first column of `--watch` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Same,
    Appeared,
    Vanished,
}

impl Mark {
    fn text(self) -> &'static str {
        match self {
            Mark::Same => " ",
            Mark::Appeared => "+",
            Mark::Vanished => "-",
        }
    }
}

/// A comfy-table for the terminal: horizontal rules only, fitted to the width, coloured only
/// when `style` says so.
pub fn comfy(style: &Style) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(width) = style.width {
        table.set_width(width);
    }
    if style.color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table
}

/// One rendered row: the cells, as text.
fn rows(snap: &Snapshot, names: &Names) -> Vec<[String; 8]> {
    snap.sockets
        .iter()
        .map(|s| {
            [
                proto_text(s).to_string(),
                printable(&endpoint_text(s, &s.local, names)).into_owned(),
                printable(&endpoint_text(s, &s.remote, names)).into_owned(),
                state_text(s.state),
                s.recv_q.to_string(),
                s.send_q.to_string(),
                printable(&owners_text(s, snap)).into_owned(),
                printable(&user_text(s, snap)).into_owned(),
            ]
        })
        .collect()
}

/// Upper-case state, as ss and netstat print it (`LISTEN`, `ESTABLISHED`, `TIME-WAIT`).
fn state_text(s: State) -> String {
    s.to_string().to_ascii_uppercase()
}

/// Writes the socket table; `marks` (for --watch) adds a first column of +/-.
pub fn write_sockets(
    w: &mut dyn Write,
    snap: &Snapshot,
    names: &Names,
    style: &Style,
    marks: Option<&[Mark]>,
) -> io::Result<()> {
    let rows = rows(snap, names);
    if style.terminal {
        write_comfy(w, snap, &rows, style, marks)
    } else {
        write_plain(w, &rows, marks)
    }
}

fn write_comfy(
    w: &mut dyn Write,
    snap: &Snapshot,
    rows: &[[String; 8]],
    style: &Style,
    marks: Option<&[Mark]>,
) -> io::Result<()> {
    let mut table = comfy(style);
    let mut header: Vec<Cell> = Vec::new();
    if marks.is_some() {
        header.push(Cell::new(""));
    }
    header.extend(
        HEADERS
            .iter()
            .map(|h| Cell::new(h).add_attribute(Attribute::Bold)),
    );
    table.set_header(header);
    for (i, row) in rows.iter().enumerate() {
        let s = &snap.sockets[i];
        let mark = marks.and_then(|m| m.get(i).copied());
        let mut cells: Vec<Cell> = Vec::new();
        if let Some(m) = mark {
            let c = Cell::new(m.text());
            cells.push(match m {
                Mark::Appeared if style.color => c.fg(Color::Green),
                Mark::Vanished if style.color => c.fg(Color::Red),
                _ => c,
            });
        }
        for (col, text) in row.iter().enumerate() {
            let mut c = Cell::new(text);
            if col == 4 || col == 5 {
                c = c.set_alignment(CellAlignment::Right);
            }
            if style.color {
                if col == 3 {
                    c = match s.state {
                        State::Listen => c.fg(Color::Green),
                        State::Established => c.fg(Color::Cyan),
                        State::TimeWait | State::Close | State::CloseWait => c.fg(Color::DarkGrey),
                        State::SynSent | State::SynRecv => c.fg(Color::Yellow),
                        _ => c,
                    };
                }
                if col == 6 && s.owners == Owners::Hidden {
                    c = c.fg(Color::Yellow);
                }
                if mark == Some(Mark::Vanished) {
                    c = c.add_attribute(Attribute::Dim);
                }
            }
            cells.push(c);
        }
        table.add_row(cells);
    }
    writeln!(w, "{table}")
}

/// Plain columns: padded to the widest cell, queues right-aligned, no trailing spaces.
fn write_plain(w: &mut dyn Write, rows: &[[String; 8]], marks: Option<&[Mark]>) -> io::Result<()> {
    let mut widths = HEADERS.map(str::len);
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let headers = HEADERS.map(String::from);
    let mut line = String::with_capacity(256);
    let mut emit = |w: &mut dyn Write, mark: Option<Mark>, row: &[String; 8]| -> io::Result<()> {
        line.clear();
        if let Some(m) = mark {
            line.push_str(m.text());
            line.push(' ');
        }
        for (i, cell) in row.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            let right = i == 4 || i == 5;
            if right {
                line.extend(std::iter::repeat_n(' ', pad));
            }
            line.push_str(cell);
            if i + 1 < row.len() {
                if !right {
                    line.extend(std::iter::repeat_n(' ', pad));
                }
                line.push_str("  ");
            }
        }
        line.push('\n');
        w.write_all(line.as_bytes())
    };
    emit(w, marks.map(|_| Mark::Same), &headers)?;
    for (i, row) in rows.iter().enumerate() {
        emit(w, marks.and_then(|m| m.get(i).copied()), row)?;
    }
    Ok(())
}

/// Counts per protocol and state (`--summary`), in the manner of `ss -s`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SummaryRow {
    pub proto: String,
    pub total: usize,
    pub ipv4: usize,
    pub ipv6: usize,
    /// state name → count
    pub states: BTreeMap<String, usize>,
}

/// Counts the snapshot's sockets per protocol (TCP, UDP, UNIX, RAW, in that order).
pub fn summary(snap: &Snapshot) -> Vec<SummaryRow> {
    let mut out: Vec<SummaryRow> = Vec::new();
    for proto in [Proto::Tcp, Proto::Udp, Proto::Unix, Proto::Raw] {
        let mut row = SummaryRow {
            proto: proto.name().into(),
            ..SummaryRow::default()
        };
        for s in snap.sockets.iter().filter(|s| s.proto == proto) {
            row.total += 1;
            match s.family {
                Family::Inet => row.ipv4 += 1,
                Family::Inet6 => row.ipv6 += 1,
                Family::Unix => {}
            }
            *row.states.entry(s.state.to_string()).or_default() += 1;
        }
        if row.total > 0 {
            out.push(row);
        }
    }
    out
}

/// Writes the summary as a table.
pub fn write_summary(w: &mut dyn Write, rows: &[SummaryRow], style: &Style) -> io::Result<()> {
    let total: usize = rows.iter().map(|r| r.total).sum();
    writeln!(w, "Total: {total} sockets")?;
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            let states = r
                .states
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ");
            [
                r.proto.clone(),
                r.total.to_string(),
                r.ipv4.to_string(),
                r.ipv6.to_string(),
                states,
            ]
        })
        .collect();
    let headers = ["Proto", "Total", "IPv4", "IPv6", "States"];
    if style.terminal {
        let mut table = comfy(style);
        table.set_header(headers);
        for row in cells {
            table.add_row(row);
        }
        writeln!(w, "{table}")
    } else {
        let mut widths = headers.map(str::len);
        for row in &cells {
            for (i, c) in row.iter().enumerate() {
                widths[i] = widths[i].max(c.len());
            }
        }
        let line = |cols: [&str; 5]| {
            let mut s = String::new();
            for (i, c) in cols.iter().enumerate() {
                if i + 1 < cols.len() {
                    s.push_str(&format!("{c:<width$}  ", width = widths[i]));
                } else {
                    s.push_str(c);
                }
            }
            s
        };
        writeln!(w, "{}", line(headers))?;
        for r in &cells {
            writeln!(w, "{}", line([&r[0], &r[1], &r[2], &r[3], &r[4]]))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sockets::{Endpoint, ProcessInfo, Socket};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn snapshot() -> Snapshot {
        let mut a = Socket::new(
            Proto::Tcp,
            Family::Inet,
            Endpoint::ip(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080),
            Endpoint::ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            State::Listen,
        );
        a.owners = Owners::Known(vec![7, 8]);
        a.uid = Some(0);
        a.send_q = 128;
        let mut b = Socket::new(
            Proto::Udp,
            Family::Inet6,
            Endpoint::ip("::ffff:127.0.0.1".parse().unwrap(), 53),
            Endpoint::ip(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
            State::Unconn,
        );
        b.owners = Owners::Hidden;
        b.uid = Some(1000);
        let mut snap = Snapshot {
            sockets: vec![a, b],
            ..Snapshot::default()
        };
        snap.users.insert(0, "root".into());
        for pid in [7, 8] {
            snap.processes.insert(
                pid,
                ProcessInfo {
                    pid,
                    name: "srv".into(),
                    user: "root".into(),
                    uid: Some(0),
                    cmdline: "srv -d".into(),
                    start_time: None,
                },
            );
        }
        snap
    }

    #[test]
    fn plain_columns() {
        let mut out = Vec::new();
        write_sockets(
            &mut out,
            &snapshot(),
            &Names::default(),
            &Style::default(),
            None,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let header: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(header, HEADERS);
        let row: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            row,
            [
                "tcp",
                "127.0.0.1:8080",
                "0.0.0.0:*",
                "LISTEN",
                "0",
                "128",
                "7/srv,8/srv",
                "root"
            ]
        );
        let row: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            row,
            [
                "udp",
                "[::ffff:127.0.0.1]:53",
                "[::]:*",
                "UNCONN",
                "0",
                "0",
                "-",
                "1000"
            ]
        );
        assert!(!text.lines().any(|l| l.ends_with(' ')));
    }

    #[test]
    fn watch_marks() {
        let mut out = Vec::new();
        let marks = [Mark::Appeared, Mark::Vanished];
        write_sockets(
            &mut out,
            &snapshot(),
            &Names::default(),
            &Style::default(),
            Some(&marks),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.lines().nth(1).unwrap().starts_with("+ tcp"));
        assert!(text.lines().nth(2).unwrap().starts_with("- udp"));
    }

    #[test]
    fn names_replace_numbers() {
        let mut names = Names::default();
        names
            .hosts
            .insert(IpAddr::V4(Ipv4Addr::LOCALHOST), "localhost".into());
        names.services.insert((Proto::Tcp, 8080), "http-alt".into());
        let mut out = Vec::new();
        write_sockets(&mut out, &snapshot(), &names, &Style::default(), None).unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("localhost:http-alt")
        );
    }

    #[test]
    fn summary_counts() {
        let rows = summary(&snapshot());
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].proto, "tcp");
        assert_eq!(rows[0].ipv4, 1);
        assert_eq!(rows[0].states["listen"], 1);
        assert_eq!(rows[1].ipv6, 1);
        assert_eq!(rows[1].states["unconn"], 1);
    }

    #[test]
    fn terminal_table_has_headers() {
        let style = Style {
            terminal: true,
            color: false,
            width: Some(160),
        };
        let mut out = Vec::new();
        write_sockets(&mut out, &snapshot(), &Names::default(), &style, None).unwrap();
        let text = String::from_utf8(out).unwrap();
        for h in HEADERS {
            assert!(text.contains(h), "{h} missing in\n{text}");
        }
        assert!(!text.contains('\x1b'));
    }
}
