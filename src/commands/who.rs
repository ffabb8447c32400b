//! `sockscope who PORT…`: the sockets bound to a local port and the processes holding them.

use std::io::Write;
use std::time::Duration;

use crate::cli::WhoArgs;
use crate::error::{Exit, Result};
use crate::output::grid::Grid;
use crate::output::health::{Details, listener_health};
use crate::output::{Names, Style, json, local_time, proto_text, user_text, warn, write_endpoint};
use crate::sockets::collect::{self, OwnerScan, Query};
use crate::sockets::problems;
use crate::sockets::{Family, HIDDEN_OWNERS_HINT, Owners, Proto, Snapshot, Socket, State};
use crate::stats;

/// One `PORT[/tcp|/udp]` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortQuery {
    pub port: u16,
    /// None: TCP and UDP.
    pub proto: Option<Proto>,
}

impl PortQuery {
    /// Parses `8080`, `8080/tcp`, `53/udp`.
    pub fn parse(text: &str) -> Result<PortQuery, String> {
        let (port, proto) = match text.split_once('/') {
            Some((p, "tcp")) | Some((p, "TCP")) => (p, Some(Proto::Tcp)),
            Some((p, "udp")) | Some((p, "UDP")) => (p, Some(Proto::Udp)),
            Some((_, other)) => {
                return Err(format!(
                    "unknown protocol '{other}' in '{text}' (use PORT, PORT/tcp or PORT/udp)"
                ));
            }
            None => (text, None),
        };
        let port: u16 = port
            .parse()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("'{port}' is not a port number (1-65535)"))?;
        Ok(PortQuery { port, proto })
    }

    fn matches(self, s: &Socket) -> bool {
        s.local.port == Some(self.port) && self.proto.is_none_or(|p| p == s.proto)
    }

    fn label(self) -> String {
        match self.proto {
            Some(p) => format!("{}/{}", self.port, p.name()),
            None => self.port.to_string(),
        }
    }
}

/// Runs `who`.
pub fn run(args: &WhoArgs, style: &Style, out: &mut dyn Write) -> Result<Exit> {
    let mut protocols = Vec::new();
    for q in &args.ports {
        for p in q.proto.map_or(vec![Proto::Tcp, Proto::Udp], |p| vec![p]) {
            if !protocols.contains(&p) {
                protocols.push(p);
            }
        }
    }
    let query = Query {
        protocols,
        families: vec![Family::Inet, Family::Inet6],
        state_mask: u32::MAX,
        health: true,
    };
    let backend = collect::default_backend();
    let keep = |s: &Socket| args.ports.iter().any(|q| q.matches(s));
    let mut snap = collect::collect(&*backend, &query, &keep, OwnerScan::Kept)?;
    problems::assess(&mut snap.sockets, None);
    // Listening (and bound UDP) first, then connections, TIME-WAIT last.
    snap.sockets.sort_by_key(|s| {
        (
            s.local.port,
            rank(s.state),
            s.proto,
            s.local.clone(),
            s.remote.clone(),
        )
    });

    let mut exit = Exit::Success;
    let mut unheld = Vec::new();
    for q in &args.ports {
        // Held means some descriptor refers to a socket on the port. TIME-WAIT and orphaned
        // FIN-WAIT sockets (inode 0) are remnants of closed connections that nobody holds.
        let held = snap.sockets.iter().any(|s| q.matches(s) && s.inode != 0);
        if !held {
            exit = Exit::Negative;
            let remnants = snap.sockets.iter().any(|s| q.matches(s));
            unheld.push((q.label(), remnants));
        }
    }
    if args.json {
        json::write_sockets(out, &snap, &Names::default(), Details::default())?;
    } else {
        if !snap.sockets.is_empty() {
            write_table(out, &snap, style)?;
        }
        write_health(out, &snap)?;
        for (label, only_time_wait) in &unheld {
            if *only_time_wait {
                writeln!(
                    out,
                    "nothing holds port {label} (only remnants of closed connections, held by no process)"
                )?;
            } else {
                writeln!(out, "nothing holds port {label}")?;
            }
        }
    }
    if args.json {
        for (label, _) in &unheld {
            warn(format_args!("nothing holds port {label}"));
        }
    }
    if snap.owners_hidden() {
        warn(format_args!("{HIDDEN_OWNERS_HINT}"));
    }
    Ok(exit)
}

/// One health line per TCP listener, and the problems of the other sockets on the port. When
/// an accept queue is full, TcpExtListenOverflows is read over one second to say how many SYNs
/// the kernel is dropping.
fn write_health(out: &mut dyn Write, snap: &Snapshot) -> Result<()> {
    let listeners = || {
        snap.sockets
            .iter()
            .filter(|s| s.proto == Proto::Tcp && s.state == State::Listen)
    };
    let dropped = if listeners().any(|s| s.recv_q > s.send_q) {
        overflows_over(Duration::from_secs(1))
    } else {
        None
    };
    let names = Names::default();
    for s in &snap.sockets {
        let text = if s.proto == Proto::Tcp && s.state == State::Listen {
            listener_health(s, dropped)
        } else if !s.problems.is_empty() {
            let texts: Vec<String> = s
                .problems
                .iter()
                .map(|p| format!("{}: {}", p.code.name(), p.text))
                .collect();
            texts.join("; ")
        } else {
            continue;
        };
        let mut local = String::new();
        write_endpoint(&mut local, s, &s.local, &names);
        if s.state != State::Listen {
            local.push_str(" <- ");
            write_endpoint(&mut local, s, &s.remote, &names);
        }
        writeln!(out, "{} {local}: {text}", proto_text(s))?;
    }
    Ok(())
}

/// How much TcpExtListenOverflows rises over `span`; None when the counters cannot be read.
fn overflows_over(span: Duration) -> Option<i64> {
    let read = || {
        stats::read()
            .ok()
            .and_then(|c| c.get("TcpExtListenOverflows"))
    };
    let before = read()?;
    std::thread::sleep(span);
    Some(read()? - before)
}

fn rank(s: State) -> u8 {
    match s {
        State::Listen | State::Unconn => 0,
        State::TimeWait => 2,
        _ => 1,
    }
}

const HEADERS: [&str; 9] = [
    "Proto", "Local", "Remote", "State", "PID", "Process", "User", "Started", "Command",
];

/// One row per (socket, owning process); sockets without a visible owner get one row saying so.
fn grid(snap: &Snapshot) -> Grid {
    let names = Names::default();
    let mut g = Grid::new(&HEADERS, &[]).wrap_column(8);
    for s in &snap.sockets {
        let socket_cells = |g: &mut Grid| {
            g.push(proto_text(s));
            g.push_with(|b| write_endpoint(b, s, &s.local, &names));
            g.push_with(|b| write_endpoint(b, s, &s.remote, &names));
            g.push(&s.state.to_string().to_ascii_uppercase());
        };
        let without_owner = |g: &mut Grid, what: &str| {
            socket_cells(g);
            for cell in ["-", what, &user_text(s, snap), "-", "-"] {
                g.push(cell);
            }
        };
        match &s.owners {
            Owners::Hidden => without_owner(&mut g, "(hidden: needs root)"),
            Owners::None => without_owner(&mut g, "(none)"),
            Owners::Known(pids) => {
                for pid in pids {
                    socket_cells(&mut g);
                    g.push_display(pid);
                    match snap.processes.get(pid) {
                        Some(p) => {
                            g.push(&p.name);
                            g.push(&p.user);
                            g.push(&p.start_time.map(local_time).unwrap_or_else(|| "-".into()));
                            if p.cmdline.is_empty() {
                                // Kernel threads have no command line; ps shows them bracketed.
                                g.push(&format!("[{}]", p.name));
                            } else {
                                g.push(&p.cmdline);
                            }
                        }
                        None => {
                            for cell in ["?", "?", "-", "-"] {
                                g.push(cell);
                            }
                        }
                    }
                }
            }
        }
    }
    g
}

fn write_table(out: &mut dyn Write, snap: &Snapshot, style: &Style) -> std::io::Result<()> {
    grid(snap).write(out, style, None, |_, _, c| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_port_queries() {
        assert_eq!(
            PortQuery::parse("8080"),
            Ok(PortQuery {
                port: 8080,
                proto: None
            })
        );
        assert_eq!(
            PortQuery::parse("53/udp"),
            Ok(PortQuery {
                port: 53,
                proto: Some(Proto::Udp)
            })
        );
        assert_eq!(
            PortQuery::parse("22/tcp"),
            Ok(PortQuery {
                port: 22,
                proto: Some(Proto::Tcp)
            })
        );
        for bad in ["", "0", "70000", "http", "80/sctp", "-1", "80/"] {
            assert!(PortQuery::parse(bad).is_err(), "{bad}");
        }
    }
}
