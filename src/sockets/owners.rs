//! Which processes hold which sockets: a map from socket inode to the pids with a descriptor
//! for it.

use std::collections::{HashMap, HashSet};

use crate::sockets::{Socket, State};

/// Socket inode → pids holding it, plus how many processes could not be looked into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerMap {
    pub owners: HashMap<u64, Vec<u32>>,
    /// Processes whose descriptor table was unreadable (other users' processes, when not root).
    pub unreadable: usize,
}

/// Owners of every socket on the system (empty where the platform has no /proc: the netstat2
/// backend finds owners itself there).
pub fn scan_everything() -> OwnerMap {
    #[cfg(target_os = "linux")]
    {
        crate::sockets::linux::procfd::scan_everything()
    }
    #[cfg(not(target_os = "linux"))]
    {
        OwnerMap::default()
    }
}

/// Finds the owners of `sockets` (every process is read; see `procfd::scan`).
pub fn scan(sockets: &[Socket]) -> OwnerMap {
    let wanted = wanted_inodes(sockets.iter());
    if wanted.is_empty() {
        return OwnerMap::default();
    }
    #[cfg(target_os = "linux")]
    {
        crate::sockets::linux::procfd::scan(&wanted)
    }
    #[cfg(not(target_os = "linux"))]
    {
        OwnerMap::default()
    }
}

fn wanted_inodes<'a>(sockets: impl Iterator<Item = &'a Socket>) -> HashSet<u64> {
    sockets.filter(|s| s.inode != 0).map(|s| s.inode).collect()
}

/// Sockets that have a descriptor somewhere (an inode) but no owner found: most often
/// connections accepted or opened while /proc was being read. They are looked for again in
/// the processes that hold other sockets on the same ports — where a server's new
/// connections live — rather than in every process again.
pub fn recheck_missing(sockets: &[Socket], map: &mut OwnerMap) {
    let missing: Vec<&Socket> = sockets
        .iter()
        .filter(|s| {
            s.inode != 0 && s.state != State::TimeWait && !map.owners.contains_key(&s.inode)
        })
        .collect();
    if missing.is_empty() {
        return;
    }
    let ports: HashSet<u16> = missing
        .iter()
        .flat_map(|s| [s.local.port, s.remote.port])
        .flatten()
        .filter(|&p| p != 0)
        .collect();
    let mut candidates: Vec<u32> = sockets
        .iter()
        .filter(|s| s.local.port.is_some_and(|p| ports.contains(&p)))
        .filter_map(|s| map.owners.get(&s.inode))
        .flatten()
        .copied()
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    if candidates.is_empty() {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let wanted = wanted_inodes(missing.into_iter());
        let found = crate::sockets::linux::procfd::scan_pids(&candidates, Some(&wanted));
        for (inode, pids) in found.owners {
            map.owners.insert(inode, pids);
        }
    }
}

/// Whether this process can see every process's descriptors: root, or CAP_SYS_PTRACE and
/// CAP_DAC_READ_SEARCH. Without that, an owner not found may just be hidden — even a process of
/// our own user that made itself non-dumpable, or one hidden by /proc's hidepid.
pub fn can_see_all_processes() -> bool {
    if crate::sockets::collect::current_uid() == 0 {
        return true;
    }
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let eff = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0);
        const CAP_DAC_READ_SEARCH: u64 = 1 << 2;
        const CAP_SYS_PTRACE: u64 = 1 << 19;
        eff & (CAP_DAC_READ_SEARCH | CAP_SYS_PTRACE) == CAP_DAC_READ_SEARCH | CAP_SYS_PTRACE
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}
