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
    /// Also read what the problems are decided from (tcp_info, socket memory). A plain table
    /// shows no problems and skips it: at 100,000 sockets the extra kernel work and copies cost
    /// about half of the dump again.
    pub health: bool,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            protocols: vec![Proto::Tcp, Proto::Udp],
            families: vec![Family::Inet, Family::Inet6],
            state_mask: u32::MAX,
            health: true,
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
    /// The owners of every socket (list): the /proc scan runs on its own threads while the
    /// kernel dumps the socket table.
    Everything,
    /// After the dump, only the inodes of the sockets kept (who, check: few sockets).
    Kept,
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
    let (mut sockets, mut map) = match scan {
        OwnerScan::None => (backend.sockets(query, keep)?, OwnerMap::default()),
        OwnerScan::Everything => std::thread::scope(|threads| {
            let everything = threads.spawn(owners::scan_everything);
            let sockets = backend.sockets(query, keep);
            let map = everything.join().unwrap_or_default();
            sockets.map(|s| (s, map))
        })?,
        OwnerScan::Kept => {
            let sockets = backend.sockets(query, keep)?;
            let map = owners::scan(&sockets);
            (sockets, map)
        }
    };
    if scan != OwnerScan::None {
        owners::recheck_missing(&sockets, &mut map);
        apply_owners(&mut sockets, &map, owners::can_see_all_processes());
    }
    Ok(process::describe(sockets))
}

/// Sets each socket's [`Owners`] from the inode map. A socket with a descriptor but no owner
/// found is "no owner" only when every process could be looked into (`privileged` and nothing
/// unreadable); otherwise its owner is hidden, not absent.
pub fn apply_owners(sockets: &mut [Socket], map: &OwnerMap, privileged: bool) {
    let sees_everything = privileged && map.unreadable == 0;
    for s in sockets {
        if matches!(s.owners, Owners::Known(_)) {
            continue; // the backend found them itself (netstat2)
        }
        s.owners = match map.owners.get(&s.inode) {
            Some(pids) if s.inode != 0 => Owners::Known(pids.clone()),
            // No descriptor refers to it (TIME-WAIT, orphaned FIN-WAIT): nobody holds it.
            _ if s.inode == 0 => Owners::None,
            _ if sees_everything => Owners::None,
            _ => Owners::Hidden,
        };
    }
}

/// The effective uid of this process.
pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}
