//! `sockscope list`: the socket table.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::cli::ListArgs;
use crate::error::{Error, Exit, Result};
use crate::output::health::Details;
use crate::output::table::{self, Mark, SummaryRow};
use crate::output::{Names, Style, json, local_time, warn};
use crate::sockets::collect::{self, Backend, OwnerScan, Query};
use crate::sockets::filter::{self, Filter};
use crate::sockets::problems::{self, Sample};
use crate::sockets::{Family, HIDDEN_OWNERS_HINT, Proto, Snapshot, Socket, resolve};

/// The shortest --watch interval.
const MIN_WATCH: Duration = Duration::from_millis(100);

/// Runs `list`.
pub fn run(args: &ListArgs, style: &Style, out: &mut dyn Write) -> Result<Exit> {
    let filter = filter_of(args)?;
    let backend = collect::default_backend();
    if let Some(every) = args.watch {
        if every < MIN_WATCH {
            return Err(Error::Usage(format!(
                "--watch needs at least {MIN_WATCH:?} between refreshes"
            )));
        }
        return watch(args, &filter, &*backend, style, every, out);
    }
    let (snap, hidden) = gather(&*backend, &filter, args, None)?;
    if hidden {
        warn(format_args!("{HIDDEN_OWNERS_HINT}"));
    }
    if args.summary {
        let rows = table::summary(&snap);
        if args.prometheus {
            table::write_summary_prometheus(out, &rows)?;
        } else if args.json {
            json::write_value(out, &rows)?;
        } else {
            table::write_summary(out, &rows, style)?;
        }
        return Ok(Exit::Success);
    }
    let names = names(args, &snap);
    let show = details(args);
    if args.json {
        json::write_sockets(out, &snap, &names, show)?;
    } else if !(args.problems && snap.sockets.is_empty()) {
        table::write_sockets(out, &snap, &names, style, None, show)?;
    }
    Ok(Exit::Success)
}

/// What the detail lines show: -i, -m, -o, and the problems whenever one of those or
/// --problems is asked for.
fn details(args: &ListArgs) -> Details {
    Details {
        info: args.info,
        memory: args.memory,
        timers: args.timers,
        problems: args.problems || args.info || args.memory || args.timers,
    }
}

/// From the command line: no protocol flag means TCP and UDP; no family flag means both.
/// A --user that is neither a number nor a known user is bad input, not an empty answer.
fn filter_of(a: &ListArgs) -> Result<Filter> {
    if let Some(u) = &a.user
        && u.parse::<u32>().is_err()
        && !crate::sockets::process::user_exists(u)
    {
        return Err(Error::Usage(format!(
            "unknown user '{u}' (give a user name of this system or a numeric uid)"
        )));
    }
    let mut protocols = Vec::new();
    for (on, p) in [
        (a.tcp, Proto::Tcp),
        (a.udp, Proto::Udp),
        (a.unix, Proto::Unix),
        (a.raw, Proto::Raw),
    ] {
        if on {
            protocols.push(p);
        }
    }
    if protocols.is_empty() {
        protocols = vec![Proto::Tcp, Proto::Udp];
    }
    let families = match (a.ipv4, a.ipv6) {
        (true, false) => vec![Family::Inet],
        (false, true) => vec![Family::Inet6],
        _ => vec![Family::Inet, Family::Inet6],
    };
    Ok(Filter {
        protocols,
        families,
        listening: a.listening,
        states: a.state.clone(),
        ports: a.port.clone(),
        addrs: a.addr.clone(),
        pid: a.pid,
        process: a.process.clone(),
        user: a.user.clone(),
    })
}

/// One collection: kernel query, socket filters, owners, owner filters, sort. Also says whether
/// any owner was hidden — before the owner filters, which cannot match a hidden owner and
/// would otherwise drop such sockets without a word.
pub fn gather(
    backend: &dyn Backend,
    filter: &Filter,
    args: &ListArgs,
    watch: Option<&mut Option<Sample>>,
) -> Result<(Snapshot, bool)> {
    // Counts need no owners unless an owner filter decides what is counted.
    let scan = if args.summary && !filter.needs_owners() {
        OwnerScan::None
    } else {
        OwnerScan::Everything
    };
    // A plain table shows no problems: it keeps the speed of a plain dump, as ss does.
    let query = Query {
        health: args.json || args.summary || details(args).any(),
        ..filter.query()
    };
    let mut snap = collect::collect(backend, &query, &|s: &Socket| filter.keeps_socket(s), scan)?;
    // In --watch, problems compare with the previous sample, taken before any filter below.
    if query.health {
        problems::assess(&mut snap.sockets, watch.as_deref().and_then(Option::as_ref));
        if let Some(previous) = watch {
            *previous = Some(Sample::of(&snap.sockets));
        }
    }
    if args.problems {
        snap.sockets.retain(|s| !s.problems.is_empty());
    }
    let hidden = snap.owners_hidden();
    if filter.needs_owners() {
        filter.apply(&mut snap);
    }
    filter::sort(&mut snap, args.sort);
    Ok((snap, hidden))
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

/// A --watch --summary line in JSON.
#[derive(Serialize)]
struct SummaryEvent<'a> {
    time: f64,
    summary: &'a [SummaryRow],
}

/// `--watch`: refresh until interrupted, marking sockets that appeared (+), vanished (-) or
/// changed state (~). Ends quietly when the reader of a pipe goes away.
fn watch(
    args: &ListArgs,
    filter: &Filter,
    backend: &dyn Backend,
    style: &Style,
    every: Duration,
    out: &mut dyn Write,
) -> Result<Exit> {
    let mut previous: Option<Snapshot> = None;
    let mut sample: Option<Sample> = None;
    let mut warned = false;
    let show = details(args);
    loop {
        let (snap, hidden) = gather(backend, filter, args, Some(&mut sample))?;
        if hidden && !warned {
            warn(format_args!("{HIDDEN_OWNERS_HINT}"));
            warned = true;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let stamp = local_time(now.as_secs());
        if style.terminal {
            // Redraw in place: home, clear screen.
            write!(out, "\x1b[H\x1b[2J")?;
        }
        if args.summary {
            let rows = table::summary(&snap);
            if args.prometheus {
                table::write_summary_prometheus(out, &rows)?;
            } else if args.json {
                json::write_line(
                    out,
                    &SummaryEvent {
                        time: now.as_secs_f64(),
                        summary: &rows,
                    },
                )?;
            } else {
                writeln!(out, "{stamp}  every {:.1}s", every.as_secs_f64())?;
                table::write_summary(out, &rows, style)?;
            }
        } else {
            let (shown, marks) = diff(previous.as_ref(), &snap);
            let names = names(args, &shown);
            if args.json {
                for (s, m) in shown.sockets.iter().zip(&marks) {
                    let event = match (m, previous.is_some()) {
                        (_, false) => "present",
                        (Mark::Appeared, true) => "appeared",
                        (Mark::Vanished, true) => "vanished",
                        (Mark::Changed, true) => "changed",
                        (Mark::Same, true) => continue,
                    };
                    let socket = json::record(s, &shown, &names, show);
                    json::write_line(
                        out,
                        &WatchEvent {
                            event,
                            time: now.as_secs_f64(),
                            socket,
                        },
                    )?;
                }
            } else {
                let count = |k: Mark| marks.iter().filter(|m| **m == k).count();
                writeln!(
                    out,
                    "{stamp}  every {:.1}s  {} sockets  +{} -{} ~{}",
                    every.as_secs_f64(),
                    snap.sockets.len(),
                    count(Mark::Appeared),
                    count(Mark::Vanished),
                    count(Mark::Changed)
                )?;
                if style.terminal || previous.is_none() {
                    table::write_sockets(out, &shown, &names, style, Some(&marks), show)?;
                } else {
                    // In a pipe, after the first full table, print only what changed.
                    let (changed, changed_marks) = changed_only(&shown, &marks);
                    if !changed.sockets.is_empty() {
                        table::write_sockets(
                            out,
                            &changed,
                            &names,
                            style,
                            Some(&changed_marks),
                            show,
                        )?;
                    }
                }
            }
        }
        out.flush()?;
        previous = Some(snap);
        if reader_gone() {
            return Ok(Exit::Success);
        }
        std::thread::sleep(every);
    }
}

/// Whether stdout is a pipe whose reader has gone away: a quiet --watch would otherwise only
/// notice at its next write, which may never come.
pub(crate) fn reader_gone() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// The sockets to show and their marks: the current ones (marked '+' if new, '~' if their
/// state changed) followed by those that vanished since `previous` (marked '-').
pub fn diff(previous: Option<&Snapshot>, current: &Snapshot) -> (Snapshot, Vec<Mark>) {
    let mut shown = current.clone();
    let Some(prev) = previous else {
        let n = shown.sockets.len();
        return (shown, vec![Mark::Same; n]);
    };
    let before: HashMap<_, _> = prev
        .sockets
        .iter()
        .map(|s| (s.identity(), s.state))
        .collect();
    let now: HashMap<_, _> = current
        .sockets
        .iter()
        .map(|s| (s.identity(), s.state))
        .collect();
    let mut marks: Vec<Mark> = current
        .sockets
        .iter()
        .map(|s| match before.get(&s.identity()) {
            None => Mark::Appeared,
            Some(state) if *state != s.state => Mark::Changed,
            Some(_) => Mark::Same,
        })
        .collect();
    for s in prev
        .sockets
        .iter()
        .filter(|s| !now.contains_key(&s.identity()))
    {
        shown.sockets.push(s.clone());
        marks.push(Mark::Vanished);
        for pid in s.owners.pids() {
            if let Some(p) = prev.processes.get(pid) {
                shown.processes.entry(*pid).or_insert_with(|| p.clone());
            }
        }
        if let Some(uid) = s.uid
            && let Some(name) = prev.users.get(&uid)
        {
            shown.users.entry(uid).or_insert_with(|| name.clone());
        }
    }
    (shown, marks)
}

fn changed_only(shown: &Snapshot, marks: &[Mark]) -> (Snapshot, Vec<Mark>) {
    let mut s = shown.clone();
    let (sockets, kept): (Vec<Socket>, Vec<Mark>) = shown
        .sockets
        .iter()
        .zip(marks)
        .filter(|(_, m)| **m != Mark::Same)
        .map(|(s, m)| (s.clone(), *m))
        .unzip();
    s.sockets = sockets;
    (s, kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sockets::{Endpoint, Family, Proto, State};
    use std::net::{IpAddr, Ipv4Addr};

    fn sock(port: u16, state: State) -> Socket {
        let mut s = Socket::new(
            Proto::Tcp,
            Family::Inet,
            Endpoint::ip(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            Endpoint::ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            state,
        );
        s.inode = u64::from(port);
        s.uid = Some(1000);
        s
    }

    #[test]
    fn diff_marks_new_gone_and_changed() {
        let mut a = Snapshot {
            sockets: vec![
                sock(1, State::Listen),
                sock(2, State::Established),
                sock(4, State::Established),
            ],
            ..Snapshot::default()
        };
        a.users.insert(1000, "alice".into());
        let b = Snapshot {
            sockets: vec![
                sock(2, State::Established),
                sock(3, State::Listen),
                sock(4, State::CloseWait),
            ],
            ..Snapshot::default()
        };
        let (first, m0) = diff(None, &a);
        assert_eq!(first.sockets.len(), 3);
        assert!(m0.iter().all(|m| *m == Mark::Same));
        let (shown, marks) = diff(Some(&a), &b);
        let ports: Vec<_> = shown
            .sockets
            .iter()
            .map(|s| s.local.port.unwrap())
            .collect();
        assert_eq!(ports, [2, 3, 4, 1]);
        assert_eq!(
            marks,
            [Mark::Same, Mark::Appeared, Mark::Changed, Mark::Vanished]
        );
        assert_eq!(
            shown.user_name(1000),
            "alice",
            "a vanished socket keeps its user's name"
        );
        let (changed, cm) = changed_only(&shown, &marks);
        assert_eq!(changed.sockets.len(), 3);
        assert_eq!(cm, [Mark::Appeared, Mark::Changed, Mark::Vanished]);
    }
}
