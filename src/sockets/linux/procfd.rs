//! The inode → process join, from `/proc/PID/fd`: every descriptor that is a socket reads back
//! as `socket:[INODE]`.
//!
//! One pass over the processes fills a hash map of only the inodes asked for, so the cost is
//! one readlink per descriptor, whatever the number of sockets (ss's lookup degrades there).
//! The processes are split over the cores, since at 100,000 sockets readlink dominates.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::sockets::collect::OwnerScan;
use crate::sockets::owners::OwnerMap;

/// What reading one process's descriptors gave.
enum FdScan {
    /// (inode, pid) for each wanted socket found.
    Found(Vec<u64>),
    /// Permission denied: another user's process and we are not root.
    Unreadable,
    /// The process exited meanwhile.
    Gone,
}

/// Owners of every socket on the system, from every process, in parallel over the cores. It
/// needs no list of sockets, so it can run while the socket table is being dumped.
pub fn scan_everything() -> OwnerMap {
    scan_parallel(&list_pids(), None, false).0
}

/// Owners of the `wanted` inodes: every process (`All`), or stopping early (`who`).
pub fn scan(wanted: &HashSet<u64>, mode: OwnerScan) -> OwnerMap {
    let pids = list_pids();
    match mode {
        OwnerScan::FirstThenDescendants => scan_until_found(&pids, wanted),
        _ => scan_parallel(&pids, Some(wanted), false).0,
    }
}

/// Scans `pids` on every core; `wanted: None` records every socket. With `stop_when_found`,
/// the workers stop taking new processes once every wanted inode has an owner. Returns the map
/// and the index of the first process no worker took (every process before it was scanned
/// completely).
fn scan_parallel(
    pids: &[u32],
    wanted: Option<&HashSet<u64>>,
    stop_when_found: bool,
) -> (OwnerMap, usize) {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
        .min(pids.len().max(1));
    let want = wanted.map_or(usize::MAX, HashSet::len);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let result = Mutex::new(OwnerMap::default());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut local = OwnerMap::default();
                while !stop.load(Ordering::Acquire) {
                    let i = next.fetch_add(1, Ordering::AcqRel);
                    let Some(&pid) = pids.get(i) else { break };
                    let found = scan_process(pid, wanted);
                    if !stop_when_found {
                        record(&mut local, pid, found);
                        continue;
                    }
                    // Early stop needs the shared count: merge as soon as something is found.
                    if let Ok(mut all) = result.lock() {
                        record(&mut all, pid, found);
                        if all.owners.len() >= want {
                            stop.store(true, Ordering::Release);
                        }
                    }
                }
                if let Ok(mut all) = result.lock() {
                    merge(&mut all, local);
                }
            });
        }
    });
    let taken = next.load(Ordering::Acquire).min(pids.len());
    let mut map = result.into_inner().unwrap_or_default();
    for owners in map.owners.values_mut() {
        owners.sort_unstable();
    }
    (map, taken)
}

/// For `who`: stop as soon as every wanted inode has an owner, then look only at descendants of
/// the owners found, which may share the socket (pre-forked servers, socket activation).
fn scan_until_found(pids: &[u32], wanted: &HashSet<u64>) -> OwnerMap {
    let (mut map, taken) = scan_parallel(pids, Some(wanted), true);
    let remaining = &pids[taken..];
    if remaining.is_empty() {
        return map;
    }
    let owners: HashSet<u32> = map.owners.values().flatten().copied().collect();
    let parents: HashMap<u32, u32> = pids
        .iter()
        .filter_map(|&p| parent_of(p).map(|pp| (p, pp)))
        .collect();
    for &pid in remaining {
        if descends_from(pid, &owners, &parents) {
            record(&mut map, pid, scan_process(pid, Some(wanted)));
        }
    }
    for o in map.owners.values_mut() {
        o.sort_unstable();
    }
    map
}

fn descends_from(pid: u32, owners: &HashSet<u32>, parents: &HashMap<u32, u32>) -> bool {
    let mut p = pid;
    // Bounded walk: a pid tree is shallow, and this guards against a cycle from pid reuse.
    for _ in 0..64 {
        match parents.get(&p) {
            Some(&pp) if owners.contains(&pp) => return true,
            Some(&pp) if pp > 1 && pp != p => p = pp,
            _ => return false,
        }
    }
    false
}

fn record(map: &mut OwnerMap, pid: u32, scan: FdScan) {
    match scan {
        FdScan::Found(inodes) => {
            for inode in inodes {
                let owners = map.owners.entry(inode).or_default();
                if !owners.contains(&pid) {
                    owners.push(pid);
                }
            }
        }
        FdScan::Unreadable => map.unreadable += 1,
        FdScan::Gone => {}
    }
}

fn merge(into: &mut OwnerMap, from: OwnerMap) {
    into.unreadable += from.unreadable;
    for (inode, pids) in from.owners {
        let owners = into.owners.entry(inode).or_default();
        for p in pids {
            if !owners.contains(&p) {
                owners.push(p);
            }
        }
    }
}

/// Numeric entries of /proc (thread-group leaders: threads share their leader's descriptors).
fn list_pids() -> Vec<u32> {
    let mut pids: Vec<u32> = match std::fs::read_dir("/proc") {
        Ok(dir) => dir
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .collect(),
        Err(_) => Vec::new(),
    };
    pids.sort_unstable();
    pids
}

fn scan_process(pid: u32, wanted: Option<&HashSet<u64>>) -> FdScan {
    let dir_path = format!("/proc/{pid}/fd");
    let dir = match std::fs::read_dir(&dir_path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return FdScan::Unreadable,
        Err(_) => return FdScan::Gone,
    };
    // A descriptor of the directory itself, for readlinkat: no path building per descriptor.
    let Ok(dirfd) = File::open(&dir_path) else {
        return FdScan::Gone;
    };
    let mut found = Vec::new();
    let mut buf = [0u8; 64];
    for entry in dir.flatten() {
        let Ok(name) = CString::new(entry.file_name().as_bytes()) else {
            continue;
        };
        // SAFETY: dirfd is an open directory, name is NUL-terminated, buf is writable for its
        // length, and readlinkat writes at most that many bytes.
        let n = unsafe {
            libc::readlinkat(
                dirfd.as_raw_fd(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n <= 0 {
            continue;
        }
        if let Some(inode) = socket_inode(&buf[..n as usize])
            && wanted.is_none_or(|w| w.contains(&inode))
        {
            found.push(inode);
        }
    }
    FdScan::Found(found)
}

/// `socket:[12345]` → 12345.
pub fn socket_inode(link: &[u8]) -> Option<u64> {
    let rest = link.strip_prefix(b"socket:[")?;
    let digits = rest.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The parent pid, from /proc/PID/stat (the field after the parenthesised command name).
fn parent_of(pid: u32) -> Option<u32> {
    let mut text = String::new();
    File::open(format!("/proc/{pid}/stat"))
        .ok()?
        .read_to_string(&mut text)
        .ok()?;
    parse_ppid(&text)
}

/// Parses the ppid out of a /proc/PID/stat line; the command name may hold spaces and ')'.
pub fn parse_ppid(stat: &str) -> Option<u32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"socket:[]"), None);
        assert_eq!(socket_inode(b"socket:[12"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
    }

    #[test]
    fn ppid_with_odd_names() {
        assert_eq!(parse_ppid("123 (a b) c) S 77 123 123 0"), Some(77));
        assert_eq!(parse_ppid("1 (systemd) S 0 1 1"), Some(0));
        assert_eq!(parse_ppid("garbage"), None);
    }

    #[test]
    fn descendants() {
        let owners: HashSet<u32> = [10].into_iter().collect();
        let parents: HashMap<u32, u32> = [(11, 10), (12, 11), (13, 1), (14, 14)]
            .into_iter()
            .collect();
        assert!(descends_from(11, &owners, &parents));
        assert!(descends_from(12, &owners, &parents));
        assert!(!descends_from(13, &owners, &parents));
        assert!(!descends_from(14, &owners, &parents));
    }

    #[test]
    fn finds_own_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let link = std::fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd())).unwrap();
        let inode = socket_inode(link.as_os_str().as_bytes()).unwrap();
        let wanted: HashSet<u64> = [inode].into_iter().collect();
        let me = std::process::id();
        for mode in [OwnerScan::All, OwnerScan::FirstThenDescendants] {
            let map = scan(&wanted, mode);
            assert!(map.owners[&inode].contains(&me), "{mode:?}: {map:?}");
        }
        assert!(scan_everything().owners[&inode].contains(&me));
    }
}
