//! `sockscope list`: the socket table.

use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::cli::ListArgs;
use crate::error::{Exit, Result};
use crate::output::table::{self, Mark};
use crate::output::{Names, Style, json, local_time};
use crate::sockets::collect::{self, Backend, OwnerScan};
use crate::sockets::filter::{self, Filter};
use crate::sockets::{HIDDEN_OWNERS_HINT, Snapshot, Socket, resolve};

/// Runs `list`.
pub fn run(args: &ListArgs, style: &Style, out: &mut dyn Write) -> Result<Exit> {
    let filter = Filter::from_args(args);
    let backend = collect::default_backend();
    if let Some(every) = args.watch {
        return watch(
            args,
            &filter,
            &*backend,
            style,
            every.max(Duration::from_millis(100)),
            out,
        );
    }
    let snap = gather(&*backend, &filter, args)?;
    if snap.owners_hidden() {
        eprintln!("sockscope: {HIDDEN_OWNERS_HINT}");
    }
    if args.summary {
        let rows = table::summary(&snap);
        if args.json {
            json::write_value(out, &rows)?;
        } else {
            table::write_summary(out, &rows, style)?;
        }
        return Ok(Exit::Success);
    }
    let names = names(args, &snap);
    if args.json {
        json::write_sockets(out, &snap, &names)?;
    } else {
        table::write_sockets(out, &snap, &names, style, None)?;
    }
    Ok(Exit::Success)
}

/// One collection: kernel query, socket filters, owners, owner filters, sort.
pub fn gather(backend: &dyn Backend, filter: &Filter, args: &ListArgs) -> Result<Snapshot> {
    // Counts need no owners unless an owner filter decides what is counted.
    let scan = if args.summary && !filter.needs_owners() {
        OwnerScan::None
    } else {
        OwnerScan::All
    };
    let mut snap = collect::collect(
        backend,
        &filter.query(),
        &|s: &Socket| filter.keeps_socket(s),
        scan,
    )?;
    if filter.needs_owners() {
        filter.apply(&mut snap);
    }
    filter::sort(&mut snap, args.sort);
    Ok(snap)
}

fn names(args: &ListArgs, snap: &Snapshot) -> Names {
    if args.resolve {
        resolve::names_for(&snap.sockets)
    } else {
        Names::default()
    }
}

/// A --watch event in JSON: the socket record plus what happened to it and when.
#[derive(Serialize)]
struct WatchEvent<'a> {
    event: &'static str,
    time: f64,
    #[serde(flatten)]
    socket: json::SocketRecord<'a>,
}

/// `--watch`: refresh until interrupted, marking sockets that appeared (+) or vanished (-).
fn watch(
    args: &ListArgs,
    filter: &Filter,
    backend: &dyn Backend,
    style: &Style,
    every: Duration,
    out: &mut dyn Write,
) -> Result<Exit> {
    let mut previous: Option<Snapshot> = None;
    let mut warned = false;
    loop {
        let snap = gather(backend, filter, args)?;
        if snap.owners_hidden() && !warned {
            eprintln!("sockscope: {HIDDEN_OWNERS_HINT}");
            warned = true;
        }
        let (shown, marks) = diff(previous.as_ref(), &snap);
        let names = names(args, &shown);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        if args.json {
            for (s, m) in shown.sockets.iter().zip(&marks) {
                let event = match (m, previous.is_some()) {
                    (_, false) => "present",
                    (Mark::Appeared, true) => "appeared",
                    (Mark::Vanished, true) => "vanished",
                    (Mark::Same, true) => continue,
                };
                let ev = WatchEvent {
                    event,
                    time: now.as_secs_f64(),
                    socket: json::record(s, &shown, &names),
                };
                json::write_line(out, &ev)?;
            }
        } else {
            let appeared = marks.iter().filter(|m| **m == Mark::Appeared).count();
            let vanished = marks.iter().filter(|m| **m == Mark::Vanished).count();
            let stamp = local_time(now.as_secs());
            if style.terminal {
                // Redraw in place: home, clear screen.
                write!(out, "\x1b[H\x1b[2J")?;
            }
            writeln!(
                out,
                "{stamp}  every {:.1}s  {} sockets  +{appeared} -{vanished}",
                every.as_secs_f64(),
                snap.sockets.len()
            )?;
            if style.terminal || previous.is_none() {
                table::write_sockets(out, &shown, &names, style, Some(&marks))?;
            } else {
                // In a pipe, after the first full table, print only what changed.
                let changed = changed_only(&shown, &marks);
                let changed_marks: Vec<Mark> =
                    marks.iter().copied().filter(|m| *m != Mark::Same).collect();
                if !changed.sockets.is_empty() {
                    table::write_sockets(out, &changed, &names, style, Some(&changed_marks))?;
                }
            }
        }
        out.flush()?;
        previous = Some(snap);
        std::thread::sleep(every);
    }
}

/// The sockets to show and their marks: the current ones (marked '+' if new) followed by those
/// that vanished since `previous` (marked '-').
pub fn diff(previous: Option<&Snapshot>, current: &Snapshot) -> (Snapshot, Vec<Mark>) {
    let mut shown = current.clone();
    let Some(prev) = previous else {
        let n = shown.sockets.len();
        return (shown, vec![Mark::Same; n]);
    };
    let before: HashSet<_> = prev.sockets.iter().map(Socket::identity).collect();
    let now: HashSet<_> = current.sockets.iter().map(Socket::identity).collect();
    let mut marks: Vec<Mark> = current
        .sockets
        .iter()
        .map(|s| {
            if before.contains(&s.identity()) {
                Mark::Same
            } else {
                Mark::Appeared
            }
        })
        .collect();
    for s in prev.sockets.iter().filter(|s| !now.contains(&s.identity())) {
        shown.sockets.push(s.clone());
        marks.push(Mark::Vanished);
        for pid in s.owners.pids() {
            if let Some(p) = prev.processes.get(pid) {
                shown.processes.entry(*pid).or_insert_with(|| p.clone());
            }
        }
    }
    (shown, marks)
}

fn changed_only(shown: &Snapshot, marks: &[Mark]) -> Snapshot {
    let mut s = shown.clone();
    s.sockets = shown
        .sockets
        .iter()
        .zip(marks)
        .filter(|(_, m)| **m != Mark::Same)
        .map(|(s, _)| s.clone())
        .collect();
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sockets::{Endpoint, Family, Proto, State};
    use std::net::{IpAddr, Ipv4Addr};

    fn sock(port: u16) -> Socket {
        let mut s = Socket::new(
            Proto::Tcp,
            Family::Inet,
            Endpoint::ip(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            Endpoint::ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            State::Listen,
        );
        s.inode = u64::from(port);
        s
    }

    #[test]
    fn diff_marks_new_and_gone() {
        let a = Snapshot {
            sockets: vec![sock(1), sock(2)],
            ..Snapshot::default()
        };
        let b = Snapshot {
            sockets: vec![sock(2), sock(3)],
            ..Snapshot::default()
        };
        let (first, m0) = diff(None, &a);
        assert_eq!(first.sockets.len(), 2);
        assert!(m0.iter().all(|m| *m == Mark::Same));
        let (shown, marks) = diff(Some(&a), &b);
        let ports: Vec<_> = shown
            .sockets
            .iter()
            .map(|s| s.local.port.unwrap())
            .collect();
        assert_eq!(ports, [2, 3, 1]);
        assert_eq!(marks, [Mark::Same, Mark::Appeared, Mark::Vanished]);
    }
}
