//! Naming the local processes at the ends of TCP connection attempts (`--handshakes`).
//!
//! Seeing which process holds another user's socket needs CAP_SYS_PTRACE and
//! CAP_DAC_READ_SEARCH, and CAP_SYS_PTRACE is as good as root: the process that parses packets
//! from the network must not keep it. So a live capture forks a small helper before it opens its
//! sockets; the helper keeps just those two capabilities (as the user nobody, with
//! no_new_privs), reads the socket table and /proc when asked, and answers with plain records.
//! The capture itself then drops everything. The helper reads nothing but lists of port numbers
//! from the capture, and ends when the capture does (its pipe closes, or PR_SET_PDEATHSIG).

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::IpAddr;
use std::os::fd::{FromRawFd, OwnedFd};

use serde::{Deserialize, Serialize};

use crate::sockets::collect::{self, OwnerScan, Query};
use crate::sockets::{ProcessInfo, Proto, Socket, State};

/// An endpoint as a plain IP (an IPv4-mapped IPv6 address as IPv4) and a port.
pub type Key = (IpAddr, u16);

/// An IPv4-mapped IPv6 address as its IPv4 address; others unchanged.
pub fn plain_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One TCP socket of the local table, with its owners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub local: Key,
    /// None for a listening socket.
    pub remote: Option<Key>,
    pub listening: bool,
    pub processes: Vec<ProcessInfo>,
}

/// Reads the TCP sockets bound to any of `ports` with their owning processes, in this process.
pub fn read_table(ports: &[u16]) -> Option<Vec<Entry>> {
    let mut ports = ports.to_vec();
    ports.sort_unstable();
    ports.dedup();
    if ports.is_empty() {
        return Some(Vec::new());
    }
    let query = Query {
        protocols: vec![Proto::Tcp],
        health: false,
        ..Query::default()
    };
    let keep = |s: &Socket| {
        s.local
            .port
            .is_some_and(|p| ports.binary_search(&p).is_ok())
    };
    let snap = collect::collect(
        collect::default_backend().as_ref(),
        &query,
        &keep,
        OwnerScan::Kept,
    )
    .ok()?;
    let entries = snap
        .sockets
        .iter()
        .filter_map(|s| {
            let local = (plain_ip(s.local.addr.as_ip()?), s.local.port?);
            let listening = s.state == State::Listen;
            let remote = if listening {
                None
            } else {
                Some((plain_ip(s.remote.addr.as_ip()?), s.remote.port?))
            };
            let processes = s
                .owners
                .pids()
                .iter()
                .filter_map(|pid| snap.processes.get(pid).cloned())
                .collect();
            Some(Entry {
                local,
                remote,
                listening,
                processes,
            })
        })
        .collect();
    Some(entries)
}

/// The table read for one batch of attempts, indexed.
pub struct Index {
    /// (local, remote) → processes, for connected sockets (the entry with owners wins when a
    /// tuple shows twice, as a TIME-WAIT leftover beside a live connection).
    pub connected: HashMap<(Key, Key), Vec<ProcessInfo>>,
    /// port → listening sockets (address, processes).
    pub listening: HashMap<u16, Vec<(IpAddr, Vec<ProcessInfo>)>>,
}

impl Index {
    pub fn new(entries: Vec<Entry>) -> Index {
        let mut connected: HashMap<(Key, Key), Vec<ProcessInfo>> = HashMap::new();
        let mut listening: HashMap<u16, Vec<(IpAddr, Vec<ProcessInfo>)>> = HashMap::new();
        for e in entries {
            match e.remote {
                Some(remote) if !e.listening => {
                    let slot = connected.entry((e.local, remote)).or_default();
                    if slot.is_empty() {
                        *slot = e.processes;
                    }
                }
                _ => listening
                    .entry(e.local.1)
                    .or_default()
                    .push((e.local.0, e.processes)),
            }
        }
        Index {
            connected,
            listening,
        }
    }

    /// The processes holding the connected socket `local` → `remote`.
    pub fn connection(&self, local: Key, remote: Key) -> Option<&[ProcessInfo]> {
        self.connected
            .get(&(local, remote))
            .map(Vec::as_slice)
            .filter(|p| !p.is_empty())
    }

    /// The processes listening on `server` (its address, or the wildcard).
    pub fn listener(&self, server: Key) -> Option<&[ProcessInfo]> {
        self.listening
            .get(&server.1)?
            .iter()
            .find(|(ip, _)| ip.is_unspecified() || *ip == server.0)
            .map(|(_, p)| p.as_slice())
            .filter(|p| !p.is_empty())
    }
}

/// Where tables come from.
pub enum Source {
    /// Read in this process (reading a file: no lookups at all; tests).
    InProcess,
    /// Asked of the privileged helper.
    Helper(Helper),
}

impl Source {
    pub fn read(&mut self, ports: &[u16]) -> Option<Vec<Entry>> {
        match self {
            Source::InProcess => read_table(ports),
            Source::Helper(h) => h.ask(ports),
        }
    }
}

/// The helper's first line, once it has dropped what it does not need.
const READY: &str = "ready";

/// The helper process and the pipes to it.
pub struct Helper {
    /// None once closed (on drop).
    requests: Option<std::fs::File>,
    answers: BufReader<std::fs::File>,
    pid: libc::pid_t,
}

impl Helper {
    /// Forks the helper. Call it while the process has a single thread and before it opens
    /// anything the helper should not hold (packet sockets, the -w file).
    pub fn spawn() -> io::Result<Helper> {
        let (req_read, req_write) = pipe()?;
        let (ans_read, ans_write) = pipe()?;
        // SAFETY: the process is single-threaded here (the caller's contract), so the child
        // may run ordinary Rust code; it only ever leaves through _exit.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            drop(req_write);
            drop(ans_read);
            serve(req_read, ans_write);
        }
        drop(req_read);
        drop(ans_write);
        let mut helper = Helper {
            requests: Some(std::fs::File::from(req_write)),
            answers: BufReader::new(std::fs::File::from(ans_read)),
            pid,
        };
        // It says "ready" once it holds no more than it needs, so nothing goes on while a
        // helper with every privilege is around.
        let mut first = String::new();
        helper.answers.read_line(&mut first)?;
        if first.trim_end() != READY {
            return Err(io::Error::other(
                "the helper that names processes could not drop its privileges",
            ));
        }
        Ok(helper)
    }

    /// The table for `ports`, or None when the helper failed (the processes are then not
    /// named; the capture goes on).
    fn ask(&mut self, ports: &[u16]) -> Option<Vec<Entry>> {
        let mut line = serde_json::to_string(ports).ok()?;
        line.push('\n');
        self.requests.as_mut()?.write_all(line.as_bytes()).ok()?;
        let mut answer = String::new();
        if self.answers.read_line(&mut answer).ok()? == 0 {
            return None;
        }
        serde_json::from_str(&answer).ok()
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        // Closing the request pipe ends it; then reap it so no zombie is left.
        drop(self.requests.take());
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and ours alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The helper's life: keep only what naming processes needs, then answer requests until the
/// capture goes away.
fn serve(requests: OwnedFd, answers: OwnedFd) -> ! {
    // SAFETY: prctl with integer arguments: die with the capture.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    // Ctrl-C goes to the whole process group: the capture decides when the helper ends.
    // SAFETY: ignoring SIGINT/SIGTERM/SIGHUP in this process only.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    if crate::packet::live::drop_privileges(true).is_err() {
        // Better no names than a helper with more than it needs.
        // SAFETY: _exit is always safe.
        unsafe { libc::_exit(0) };
    }
    let mut input = BufReader::new(std::fs::File::from(requests));
    let mut output = std::fs::File::from(answers);
    if output.write_all(format!("{READY}\n").as_bytes()).is_err() {
        // SAFETY: _exit is always safe.
        unsafe { libc::_exit(0) };
    }
    let mut line = String::new();
    loop {
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let ports: Vec<u16> = serde_json::from_str(&line).unwrap_or_default();
        let entries = read_table(&ports).unwrap_or_default();
        let mut answer = serde_json::to_string(&entries).unwrap_or_else(|_| "[]".into());
        answer.push('\n');
        if output.write_all(answer.as_bytes()).is_err() {
            break;
        }
    }
    // SAFETY: _exit is always safe; no destructors or atexit handlers of the parent's run.
    unsafe { libc::_exit(0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: u32) -> ProcessInfo {
        ProcessInfo {
            pid,
            name: format!("p{pid}"),
            user: "root".into(),
            uid: Some(0),
            cmdline: String::new(),
            start_time: None,
        }
    }

    #[test]
    fn index_finds_connections_and_listeners() {
        let a: Key = ("127.0.0.1".parse().unwrap(), 40000);
        let b: Key = ("127.0.0.1".parse().unwrap(), 80);
        let index = Index::new(vec![
            // A TIME-WAIT leftover without owners does not hide the live one.
            Entry {
                local: a,
                remote: Some(b),
                listening: false,
                processes: vec![],
            },
            Entry {
                local: a,
                remote: Some(b),
                listening: false,
                processes: vec![process(1)],
            },
            Entry {
                local: ("0.0.0.0".parse().unwrap(), 80),
                remote: None,
                listening: true,
                processes: vec![process(2)],
            },
        ]);
        assert_eq!(index.connection(a, b).unwrap()[0].pid, 1);
        assert!(index.connection(b, a).is_none());
        assert_eq!(index.listener(b).unwrap()[0].pid, 2);
        assert!(index.listener(("127.0.0.1".parse().unwrap(), 81)).is_none());
    }

    #[test]
    fn entries_survive_the_pipe_format() {
        let e = Entry {
            local: ("::1".parse().unwrap(), 1),
            remote: Some(("10.0.0.1".parse().unwrap(), 2)),
            listening: false,
            processes: vec![process(7)],
        };
        let text = serde_json::to_string(&vec![e.clone()]).unwrap();
        let back: Vec<Entry> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, vec![e]);
    }
}
