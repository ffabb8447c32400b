//! Which processes hold which sockets: a map from socket inode to the pids with a descriptor
//! for it.

use std::collections::HashMap;

use crate::error::Result;
use crate::sockets::Socket;
use crate::sockets::collect::OwnerScan;

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

/// Finds the owners of `sockets`. Sockets that already carry owners (the netstat2 backend finds
/// its own) keep them.
pub fn scan(sockets: &[Socket], mode: OwnerScan) -> Result<OwnerMap> {
    let mut map = OwnerMap::default();
    let mut wanted = std::collections::HashSet::new();
    for s in sockets {
        if s.inode != 0 {
            wanted.insert(s.inode);
        }
    }
    #[cfg(target_os = "linux")]
    if !wanted.is_empty() {
        map = crate::sockets::linux::procfd::scan(&wanted, mode);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (&wanted, mode);
    Ok(map)
}
