//! Tables: comfy-table on a terminal, plain aligned columns (stable for scripts) in a pipe.

use std::collections::BTreeMap;
use std::io::{self, Write};

use std::collections::HashMap;

use comfy_table::{Attribute, Color};

use crate::output::grid::Grid;
pub use crate::output::grid::Mark;
use crate::output::health::{Details, write_details};
use crate::output::prometheus::{self, MetricFamily, MetricType, Sample};
use crate::output::{Names, Style, owners_text, proto_text, user_text, write_endpoint};
use crate::sockets::problems::Code;
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

/// The socket table as a grid of cells; `show` adds detail lines under each socket.
pub fn grid(snap: &Snapshot, names: &Names, show: Details) -> Grid {
    let mut g = Grid::new(&HEADERS, &[4, 5]).wrap_column(6);
    g.reserve(snap.sockets.len(), 96);
    // Most sockets share their owner with many others: format each owner once.
    let mut owner_cache: HashMap<u32, String> = HashMap::new();
    for s in &snap.sockets {
        g.push(proto_text(s));
        g.push_with(|b| write_endpoint(b, s, &s.local, names));
        g.push_with(|b| write_endpoint(b, s, &s.remote, names));
        g.push(state_text(s.state));
        g.push_display(s.recv_q);
        g.push_display(s.send_q);
        match s.owners.pids() {
            [pid] => {
                let text = owner_cache
                    .entry(*pid)
                    .or_insert_with(|| owners_text(s, snap));
                g.push(text);
            }
            _ => g.push(&owners_text(s, snap)),
        }
        match s.uid.and_then(|u| snap.users.get(&u)) {
            Some(name) => g.push(name),
            None => g.push(&user_text(s, snap)),
        }
        if show.any() {
            g.detail_with(|b| write_details(b, s, show));
        }
    }
    g
}

/// Upper-case state, as ss and netstat print it (`LISTEN`, `ESTABLISHED`, `TIME-WAIT`).
fn state_text(s: State) -> &'static str {
    match s {
        State::Established => "ESTABLISHED",
        State::SynSent => "SYN-SENT",
        State::SynRecv => "SYN-RECV",
        State::FinWait1 => "FIN-WAIT-1",
        State::FinWait2 => "FIN-WAIT-2",
        State::TimeWait => "TIME-WAIT",
        State::Close => "CLOSE",
        State::CloseWait => "CLOSE-WAIT",
        State::LastAck => "LAST-ACK",
        State::Listen => "LISTEN",
        State::Closing => "CLOSING",
        State::Unconn => "UNCONN",
        State::Unknown(_) => "UNKNOWN",
    }
}

/// Writes the socket table; `marks` (for --watch) adds a first column of +/-.
pub fn write_sockets(
    w: &mut dyn Write,
    snap: &Snapshot,
    names: &Names,
    style: &Style,
    marks: Option<&[Mark]>,
    show: Details,
) -> io::Result<()> {
    let g = grid(snap, names, show);
    g.write(w, style, marks, |row, col, c| {
        let s = &snap.sockets[row];
        let c = match col {
            3 => match s.state {
                State::Listen => c.fg(Color::Green),
                State::Established => c.fg(Color::Cyan),
                State::TimeWait | State::Close | State::CloseWait => c.fg(Color::DarkGrey),
                State::SynSent | State::SynRecv => c.fg(Color::Yellow),
                _ => c,
            },
            6 if s.owners == Owners::Hidden => c.fg(Color::Yellow),
            _ => c,
        };
        match marks.and_then(|m| m.get(row)) {
            Some(Mark::Vanished) => c.add_attribute(Attribute::Dim),
            _ => c,
        }
    })
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
    /// problem code → sockets that have it (TCP and UDP)
    pub problems: BTreeMap<String, usize>,
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
            for p in &s.problems {
                *row.problems.entry(p.code.name().to_string()).or_default() += 1;
            }
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
    let mut g = Grid::new(
        &["Proto", "Total", "IPv4", "IPv6", "States", "Problems"],
        &[],
    )
    .wrap_column(4);
    let counts = |m: &BTreeMap<String, usize>| {
        let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v}")).collect();
        if parts.is_empty() {
            "-".to_string()
        } else {
            parts.join(", ")
        }
    };
    for r in rows {
        g.push(&r.proto);
        g.push_display(r.total);
        g.push_display(r.ipv4);
        g.push_display(r.ipv6);
        g.push(&counts(&r.states));
        g.push(&counts(&r.problems));
    }
    g.write(w, style, None, |_, _, c| c)
}

/// Writes the summary in the Prometheus text format: sockets per protocol and state, and per
/// protocol and problem (every problem code of TCP and UDP, 0 included, so no series vanishes
/// when a problem goes away).
pub fn write_summary_prometheus(w: &mut dyn Write, rows: &[SummaryRow]) -> io::Result<()> {
    let mut sockets = MetricFamily::new(
        "sockscope_sockets",
        MetricType::Gauge,
        "Sockets per protocol and state (sockscope list --summary).",
    );
    let mut problems = MetricFamily::new(
        "sockscope_socket_problems",
        MetricType::Gauge,
        "Sockets per protocol that have each problem (sockscope list --problems says which).",
    );
    for r in rows {
        for (state, n) in &r.states {
            sockets = sockets.sample(
                Sample::new(*n as u64)
                    .label("proto", r.proto.as_str())
                    .label("state", state.as_str()),
            );
        }
        if r.proto == Proto::Tcp.name() || r.proto == Proto::Udp.name() {
            for code in Code::ALL {
                let n = r.problems.get(code.name()).copied().unwrap_or(0);
                problems = problems.sample(
                    Sample::new(n as u64)
                        .label("proto", r.proto.as_str())
                        .label("problem", code.name()),
                );
            }
        }
    }
    prometheus::write(w, &[sockets, problems])
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
            Details::default(),
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
            Details::default(),
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
        write_sockets(
            &mut out,
            &snapshot(),
            &names,
            &Style::default(),
            None,
            Details::default(),
        )
        .unwrap();
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
        write_sockets(
            &mut out,
            &snapshot(),
            &Names::default(),
            &style,
            None,
            Details::default(),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        for h in HEADERS {
            assert!(text.contains(h), "{h} missing in\n{text}");
        }
        assert!(!text.contains('\x1b'));
    }
}
