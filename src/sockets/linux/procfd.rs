//! The inode → process join, from `/proc/PID/fd`: every descriptor that is a socket reads back
//! as `socket:[INODE]`.
//!
//! One pass over the processes fills a hash map (of every socket, or of the inodes asked for),
//! so the cost is one readlink per descriptor, whatever the number of sockets (ss's lookup
//! degrades there). The processes are split over the cores: at 100,000 sockets readlink
//! dominates.

use std::collections::HashSet;
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    scan_all_processes(None)
}

/// Owners of the `wanted` inodes, from every process. There is no stopping early once each
/// inode has one owner: another process may hold the same socket (pre-forked workers, a
/// socket handed over with SCM_RIGHTS), and `who` must name them all.
pub fn scan(wanted: &HashSet<u64>) -> OwnerMap {
    scan_all_processes(Some(wanted))
}

fn scan_all_processes(wanted: Option<&HashSet<u64>>) -> OwnerMap {
    match list_pids() {
        Some(pids) => scan_pids(&pids, wanted),
        // No /proc: nobody's owners can be seen.
        None => OwnerMap {
            unreadable: 1,
            ..OwnerMap::default()
        },
    }
}

/// Scans `pids` on every core; `wanted: None` records every socket.
pub fn scan_pids(pids: &[u32], wanted: Option<&HashSet<u64>>) -> OwnerMap {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
        .min(pids.len().max(1));
    let next = AtomicUsize::new(0);
    let result = Mutex::new(OwnerMap::default());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut local = OwnerMap::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&pid) = pids.get(i) else { break };
                    record(&mut local, pid, scan_process(pid, wanted));
                }
                if let Ok(mut all) = result.lock() {
                    merge(&mut all, local);
                }
            });
        }
    });
    let mut map = result.into_inner().unwrap_or_default();
    for owners in map.owners.values_mut() {
        owners.sort_unstable();
    }
    map
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

/// Numeric entries of /proc (thread-group leaders: threads share their leader's descriptors);
/// None when /proc cannot be read.
fn list_pids() -> Option<Vec<u32>> {
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    pids.sort_unstable();
    Some(pids)
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
    fn finds_own_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let link = std::fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd())).unwrap();
        let inode = socket_inode(link.as_os_str().as_bytes()).unwrap();
        let wanted: HashSet<u64> = [inode].into_iter().collect();
        let me = std::process::id();
        let map = scan(&wanted);
        assert!(map.owners[&inode].contains(&me), "{map:?}");
        assert_eq!(map.owners.len(), 1, "only the wanted inode is recorded");
        assert!(scan_everything().owners[&inode].contains(&me));
    }
}
