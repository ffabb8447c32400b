//! Collecting a [`Snapshot`]: a backend reads the socket table, the owner scan maps inodes to
//! pids, and sysinfo describes just those processes.

use crate::error::Result;
use crate::sockets::owners::{self, OwnerMap};
use crate::sockets::{Family, Owners, Proto, Snapshot, Socket, State, process};

/// What to read from the kernel. Narrow queries let the kernel do the filtering (sock_diag state
/// masks), which matters at 100,000 sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub protocols: Vec<Proto>,
    /// Inet families to read (TCP, UDP and RAW); UNIX sockets ignore this.
    pub families: Vec<Family>,
    /// Kernel state numbers wanted, as a bit mask (bit n = state n); `u32::MAX` for all.
    pub state_mask: u32,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            protocols: vec![Proto::Tcp, Proto::Udp],
            families: vec![Family::Inet, Family::Inet6],
            state_mask: u32::MAX,
        }
    }
}

impl Query {
    /// A mask with the bits of these states set.
    pub fn mask_of(states: &[State]) -> u32 {
        states.iter().fold(0u32, |m, s| {
            m | 1u32.checked_shl(u32::from(s.kernel_number())).unwrap_or(0)
        })
    }
}

/// A source of the socket table. On Linux this is sock_diag (plus /proc/net for RAW); elsewhere
/// the portable netstat2 backend. Tests use netstat2 on Linux as an independent cross-check.
pub trait Backend {
    /// Every socket matching `query` that `keep` keeps, without owners. Filtering while reading
    /// keeps memory proportional to what is kept, not to the whole table.
    fn sockets(&self, query: &Query, keep: &dyn Fn(&Socket) -> bool) -> Result<Vec<Socket>>;
}

/// How to find owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerScan {
    /// Not at all (counts only: `list --summary`).
    None,
    /// Every process that holds any of the sockets (list). The /proc scan runs while the kernel
    /// dumps the socket table, on its own threads.
    All,
    /// Stop once each socket has an owner, then look only at descendants of the owners found
    /// (who): they may share the socket, as pre-forked servers do.
    FirstThenDescendants,
}

/// The platform's backend.
pub fn default_backend() -> Box<dyn Backend> {
    #[cfg(target_os = "linux")]
    {
        Box::new(crate::sockets::linux::DiagBackend)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Box::new(crate::sockets::netstat2_backend::Netstat2Backend)
    }
}

/// Reads the socket table with `backend`, keeps the sockets `keep` wants, joins their owners
/// and describes the owning processes.
pub fn collect(
    backend: &dyn Backend,
    query: &Query,
    keep: &dyn Fn(&Socket) -> bool,
    scan: OwnerScan,
) -> Result<Snapshot> {
    let (mut sockets, map) = match scan {
        OwnerScan::None => (backend.sockets(query, keep)?, OwnerMap::default()),
        OwnerScan::All => std::thread::scope(|threads| {
            let everything = threads.spawn(owners::scan_everything);
            let sockets = backend.sockets(query, keep);
            let map = everything.join().unwrap_or_default();
            sockets.map(|s| (s, map))
        })?,
        OwnerScan::FirstThenDescendants => {
            let sockets = backend.sockets(query, keep)?;
            let map = owners::scan(&sockets, scan)?;
            (sockets, map)
        }
    };
    apply_owners(&mut sockets, &map);
    let mut snapshot = process::describe(sockets, &map);
    snapshot.unreadable_processes = map.unreadable;
    Ok(snapshot)
}

/// Sets each socket's [`Owners`] from the inode map.
pub fn apply_owners(sockets: &mut [Socket], map: &OwnerMap) {
    let me = current_uid();
    for s in sockets {
        if matches!(s.owners, Owners::Known(_)) {
            continue; // the backend found them itself (netstat2)
        }
        s.owners = match map.owners.get(&s.inode) {
            Some(pids) if s.inode != 0 => Owners::Known(pids.clone()),
            _ if s.inode == 0 => Owners::None,
            // Our own sockets we can always see; other users' only if every process was readable.
            _ if map.unreadable > 0 && s.uid != Some(me) => Owners::Hidden,
            _ => Owners::None,
        };
    }
}

/// The effective uid of this process.
pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}
