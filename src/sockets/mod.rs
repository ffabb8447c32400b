//! The socket table: the model (plain structs), how it is collected from the system, how owning
//! processes are joined to it, and the pure filters over it.
//!
//! Gathering, deciding and rendering stay apart: a [`Backend`](collect::Backend) returns plain
//! [`Socket`] values and an [`OwnerMap`](owners::OwnerMap); [`filter`] decides over them; the
//! `output` module renders a [`Snapshot`] without touching the system.

pub mod collect;
pub mod filter;
pub mod health;
pub mod netstat2_backend;
pub mod owners;
pub mod problems;
pub mod process;
pub mod resolve;

#[cfg(target_os = "linux")]
pub mod linux;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

/// Transport of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Unix,
    Raw,
}

impl Proto {
    /// The name used in JSON and in filters.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Unix => "unix",
            Proto::Raw => "raw",
        }
    }
}

/// Address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Inet,
    Inet6,
    Unix,
}

/// Type of a UNIX domain socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnixType {
    Stream,
    Dgram,
    Seqpacket,
}

impl UnixType {
    /// From the kernel's `SOCK_*` number.
    pub fn from_kernel(kind: u8) -> Option<UnixType> {
        match i32::from(kind) {
            libc::SOCK_STREAM => Some(UnixType::Stream),
            libc::SOCK_DGRAM => Some(UnixType::Dgram),
            libc::SOCK_SEQPACKET => Some(UnixType::Seqpacket),
            _ => None,
        }
    }

    /// The short netid that `ss` prints (u_str, u_dgr, u_seq).
    pub fn netid(self) -> &'static str {
        match self {
            UnixType::Stream => "u_str",
            UnixType::Dgram => "u_dgr",
            UnixType::Seqpacket => "u_seq",
        }
    }
}

/// Socket state, with the lower-case names `ss` uses (the JSON contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Established,
    SynSent,
    SynRecv,
    FinWait1,
    FinWait2,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    Closing,
    /// Not connected: an unconnected UDP, RAW or UNIX datagram socket (kernel TCP_CLOSE).
    Unconn,
    /// A state number this build does not know.
    Unknown(u8),
}

impl State {
    /// Every named state, for parsing and for the summary.
    pub const ALL: [State; 12] = [
        State::Established,
        State::SynSent,
        State::SynRecv,
        State::FinWait1,
        State::FinWait2,
        State::TimeWait,
        State::Close,
        State::CloseWait,
        State::LastAck,
        State::Listen,
        State::Closing,
        State::Unconn,
    ];

    /// Maps the kernel's TCP state number (include/net/tcp_states.h). `connectionless` turns
    /// TCP_CLOSE into "unconn", as `ss` does for UDP, RAW and UNIX sockets.
    pub fn from_kernel(state: u8, connectionless: bool) -> State {
        match state {
            1 => State::Established,
            2 => State::SynSent,
            3 | 12 => State::SynRecv, // 12 = TCP_NEW_SYN_RECV, the request mini-socket
            4 => State::FinWait1,
            5 => State::FinWait2,
            6 => State::TimeWait,
            7 if connectionless => State::Unconn,
            7 => State::Close,
            8 => State::CloseWait,
            9 => State::LastAck,
            10 => State::Listen,
            11 => State::Closing,
            other => State::Unknown(other),
        }
    }

    /// The kernel's number for this state (the bit used in sock_diag state masks).
    pub fn kernel_number(self) -> u8 {
        match self {
            State::Established => 1,
            State::SynSent => 2,
            State::SynRecv => 3,
            State::FinWait1 => 4,
            State::FinWait2 => 5,
            State::TimeWait => 6,
            State::Close | State::Unconn => 7,
            State::CloseWait => 8,
            State::LastAck => 9,
            State::Listen => 10,
            State::Closing => 11,
            State::Unknown(n) => n,
        }
    }

    /// The lower-case `ss` name.
    pub fn name(self) -> &'static str {
        match self {
            State::Established => "established",
            State::SynSent => "syn-sent",
            State::SynRecv => "syn-recv",
            State::FinWait1 => "fin-wait-1",
            State::FinWait2 => "fin-wait-2",
            State::TimeWait => "time-wait",
            State::Close => "close",
            State::CloseWait => "close-wait",
            State::LastAck => "last-ack",
            State::Listen => "listen",
            State::Closing => "closing",
            State::Unconn => "unconn",
            State::Unknown(_) => "unknown",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Unknown(n) => write!(f, "unknown({n})"),
            s => f.write_str(s.name()),
        }
    }
}

impl Serialize for State {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The address of one end of a socket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Addr {
    /// An IP address; `scope` is the interface index of a link-local IPv6 address (0 if none).
    Ip { ip: IpAddr, scope: u32 },
    /// A UNIX socket bound to a filesystem path.
    Path(String),
    /// A UNIX socket bound to an abstract name (shown with a leading '@', as ss does).
    Abstract(String),
    /// An unnamed UNIX socket.
    Unnamed,
}

impl Addr {
    /// An IP address without scope.
    pub fn ip(ip: IpAddr) -> Addr {
        Addr::Ip { ip, scope: 0 }
    }

    /// The IP address, for IP sockets.
    pub fn as_ip(&self) -> Option<IpAddr> {
        match self {
            Addr::Ip { ip, .. } => Some(*ip),
            _ => None,
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Ip { ip, scope: 0 } => write!(f, "{ip}"),
            Addr::Ip { ip, scope } => write!(f, "{ip}%{}", interface_name(*scope)),
            Addr::Path(p) => f.write_str(p),
            Addr::Abstract(name) => write!(f, "@{name}"),
            Addr::Unnamed => f.write_str("*"),
        }
    }
}

/// The name of interface `index`, or the number when it has none.
fn interface_name(index: u32) -> String {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return index.to_string();
    }
    // SAFETY: on success if_indextoname wrote a NUL-terminated name into buf.
    unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// One end of a socket: address and, for IP sockets, port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    pub addr: Addr,
    /// IP port (for RAW sockets the local "port" is the IP protocol number, as in /proc).
    pub port: Option<u16>,
}

impl Endpoint {
    /// An IP endpoint.
    pub fn ip(ip: IpAddr, port: u16) -> Endpoint {
        Endpoint {
            addr: Addr::ip(ip),
            port: Some(port),
        }
    }
}

/// Who owns a socket, as far as this process can tell.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Owners {
    /// The processes holding a descriptor for the socket (more than one for a socket shared
    /// by a pre-forked server).
    Known(Vec<u32>),
    /// No process holds it (a TIME-WAIT socket, or one that has been closed meanwhile).
    #[default]
    None,
    /// Not found, and some processes' descriptors could not be read: the owner may be a process
    /// of another user that only root (or CAP_SYS_PTRACE / CAP_DAC_READ_SEARCH) can see.
    Hidden,
}

impl Owners {
    /// The pids, or an empty slice.
    pub fn pids(&self) -> &[u32] {
        match self {
            Owners::Known(p) => p,
            _ => &[],
        }
    }
}

/// One socket, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    pub proto: Proto,
    pub family: Family,
    pub local: Endpoint,
    pub remote: Endpoint,
    pub state: State,
    pub recv_q: u32,
    pub send_q: u32,
    /// Socket inode (0 for sockets that no descriptor refers to, such as TIME-WAIT).
    pub inode: u64,
    /// The uid that created the socket, when the kernel reports it.
    pub uid: Option<u32>,
    /// UNIX sockets: stream, dgram or seqpacket.
    pub unix_type: Option<UnixType>,
    /// UNIX sockets: the inode of the connected peer.
    pub peer_inode: Option<u64>,
    /// RAW sockets: the IP protocol number.
    pub protocol: Option<u8>,
    /// IPv6 sockets: IPV6_V6ONLY, i.e. a [::] socket that does not take IPv4.
    pub v6only: bool,
    pub owners: Owners,
    /// TCP: the pending timer (idiag_timer), if any.
    pub timer: Option<health::Timer>,
    /// TCP and UDP: socket memory and tcp_info, when they were asked for and the kernel sent
    /// them ([`Socket::memory`], [`Socket::tcp`]). Boxed: a plain dump has none, and the table
    /// of 100,000 sockets is sorted and moved by value.
    pub health: Option<Box<health::Health>>,
    /// What is wrong with it, in plain words (TCP and UDP): decided by [`problems::assess`]
    /// where they are shown (list, who); empty until then.
    pub problems: Box<[problems::Problem]>,
}

impl Socket {
    /// A socket with the common fields set and the optional ones empty.
    pub fn new(
        proto: Proto,
        family: Family,
        local: Endpoint,
        remote: Endpoint,
        state: State,
    ) -> Socket {
        Socket {
            proto,
            family,
            local,
            remote,
            state,
            recv_q: 0,
            send_q: 0,
            inode: 0,
            uid: None,
            unix_type: None,
            peer_inode: None,
            protocol: None,
            v6only: false,
            owners: Owners::None,
            timer: None,
            health: None,
            problems: Box::default(),
        }
    }

    /// Socket memory (skmeminfo), when the kernel sent it.
    pub fn memory(&self) -> Option<health::MemInfo> {
        self.health.as_ref().and_then(|h| h.memory)
    }

    /// tcp_info and the congestion control, when the kernel sent them (not for TIME-WAIT and
    /// SYN-RECV mini-sockets).
    pub fn tcp(&self) -> Option<&health::TcpInfo> {
        self.health.as_ref().and_then(|h| h.tcp.as_ref())
    }

    /// Sets the socket memory.
    pub fn set_memory(&mut self, memory: health::MemInfo) {
        self.health.get_or_insert_default().memory = Some(memory);
    }

    /// Sets tcp_info.
    pub fn set_tcp(&mut self, info: health::TcpInfo) {
        self.health.get_or_insert_default().tcp = Some(info);
    }

    /// A key that identifies the socket across refreshes (for --watch).
    pub fn identity(&self) -> (Proto, Endpoint, Endpoint, u64) {
        (
            self.proto,
            self.local.clone(),
            self.remote.clone(),
            self.inode,
        )
    }
}

/// A process that holds sockets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ProcessInfo {
    pub pid: u32,
    pub name: String,
    /// User name (or the uid as text when it has no name).
    pub user: String,
    pub uid: Option<u32>,
    /// The command line, arguments joined by spaces.
    pub cmdline: String,
    /// Start time, seconds since the Unix epoch.
    pub start_time: Option<u64>,
}

/// Everything one collection gathered: the sockets, the processes that own them, and what
/// could not be seen.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub sockets: Vec<Socket>,
    pub processes: HashMap<u32, ProcessInfo>,
    /// Names for uids (socket owners), for display.
    pub users: HashMap<u32, String>,
}

impl Snapshot {
    /// The user name of a uid, or the uid as text.
    pub fn user_name(&self, uid: u32) -> String {
        self.users
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| uid.to_string())
    }

    /// Whether any socket's owners are hidden for lack of privilege.
    pub fn owners_hidden(&self) -> bool {
        self.sockets.iter().any(|s| s.owners == Owners::Hidden)
    }
}

/// The line told on stderr when owners of other users' sockets could not be seen.
pub const HIDDEN_OWNERS_HINT: &str = "some owners are hidden ('-'): seeing the processes of other users' sockets needs root \
     (sudo) or CAP_SYS_PTRACE/CAP_DAC_READ_SEARCH (setcap cap_sys_ptrace,cap_dac_read_search+ep $(which sockscope))";
