//! Live capture: one AF_PACKET socket per interface, read through pnet's datalink channel.
//!
//! pnet opens its own socket with promiscuous mode on, reads one packet per poll+recvfrom into a
//! 4 KiB buffer, and has no filter or statistics API. So sockscope creates each socket itself and
//! hands it to pnet (`datalink::Config::socket_fd`) after setting it up:
//! - the socket is created with protocol 0, so it receives nothing until pnet binds it to the
//!   interface with ETH_P_ALL, and the classic BPF filter is attached before that bind: no
//!   unfiltered packet is ever queued;
//! - on loopback, PACKET_IGNORE_OUTGOING drops the outgoing copy of each packet (pnet discards
//!   `sll_pkttype`, so without it every loopback packet is seen twice, as libpcap avoids too);
//! - a large receive buffer (SO_RCVBUFFORCE) absorbs bursts; what still overflows is counted by
//!   the kernel and read back with PACKET_STATISTICS;
//! - the read buffer holds the largest frame (loopback's MTU is 65,536; GRO makes larger ones);
//! - each packet's kernel receive time comes from SIOCGSTAMPNS, not from the clock when the
//!   reader gets to it.
//!
//! Each interface has a reader thread that sends frames into one bounded channel: when the
//! consumer (a terminal, say) is slower than the traffic, the readers block, the socket buffers
//! fill and the kernel drops and counts, rather than memory growing without bound.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use pnet::datalink::{self, Channel, NetworkInterface};

use crate::error::{Error, Result};
use crate::packet::LinkType;
use crate::packet::filter::Program;

/// SOL_PACKET option: the socket's packet and drop counters (struct tpacket_stats).
const PACKET_STATISTICS: libc::c_int = 6;
/// ioctl: the receive time of the last packet read from the socket, as a timespec.
const SIOCGSTAMPNS: libc::c_ulong = 0x8907;
/// ARPHRD_* link types of the interfaces sockscope captures on.
const ARPHRD_ETHER: u32 = 1;
const ARPHRD_LOOPBACK: u32 = 772;
const ARPHRD_NONE: u32 = 65534;
/// The largest frame read: a GRO-merged or loopback packet can be 64 KiB and more.
pub const READ_BUFFER: usize = 262_144;
/// How long a reader waits for a packet before looking at the stop flag.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Batches waiting between the readers and the consumer.
const QUEUE: usize = 256;
/// The most frames a reader hands over at once.
const BATCH: usize = 256;
/// How long a reader lets packets gather after the first one arrives: short enough to look
/// immediate on a terminal, long enough to spare a wake-up per packet under load.
const LINGER: Duration = Duration::from_millis(5);

/// The remedy printed when the process may not open packet sockets.
pub const RAW_REMEDY: &str = "Capturing needs CAP_NET_RAW: run it with sudo, or grant the \
capabilities once with: sudo setcap cap_net_raw,cap_net_admin+ep \"$(command -v sockscope)\"";

/// An interface to capture on.
#[derive(Debug, Clone)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    pub link: LinkType,
    pub loopback: bool,
    pnet: NetworkInterface,
}

/// Which interfaces `-i SPEC` means: one by name, or (none, `any`, `all`) every interface that is
/// up and whose frames sockscope can read. Returns the interfaces and notes about those skipped.
pub fn select(spec: Option<&str>) -> Result<(Vec<Interface>, Vec<String>)> {
    let all = datalink::interfaces();
    let mut chosen = Vec::new();
    let mut notes = Vec::new();
    match spec {
        Some(name) if name != "any" && name != "all" => {
            let Some(pi) = all.iter().find(|i| i.name == name) else {
                let names: Vec<&str> = all.iter().map(|i| i.name.as_str()).collect();
                return Err(Error::Usage(format!(
                    "-i {name}: no such interface (interfaces here: {})",
                    names.join(", ")
                )));
            };
            if !pi.is_up() {
                return Err(Error::Usage(format!(
                    "-i {name}: the interface is down (bring it up with: ip link set {name} up)"
                )));
            }
            let arphrd = arphrd(&pi.name);
            let Some(link) = link_of(arphrd) else {
                return Err(Error::Usage(format!(
                    "-i {name}: its link type (ARPHRD {}) is not one sockscope can decode \
                     (Ethernet, loopback and raw-IP interfaces are)",
                    arphrd.map_or("unknown".to_string(), |n| n.to_string())
                )));
            };
            chosen.push(interface(pi, link, arphrd));
        }
        _ => {
            for pi in all.iter().filter(|i| i.is_up()) {
                let arphrd = arphrd(&pi.name);
                match link_of(arphrd) {
                    Some(link) => chosen.push(interface(pi, link, arphrd)),
                    None => notes.push(format!(
                        "not capturing on {}: its link type (ARPHRD {}) is not supported",
                        pi.name,
                        arphrd.map_or("unknown".to_string(), |n| n.to_string())
                    )),
                }
            }
            if chosen.is_empty() {
                return Err(Error::Other(
                    "no interface is up to capture on (see: ip link)".into(),
                ));
            }
        }
    }
    Ok((chosen, notes))
}

fn interface(pi: &NetworkInterface, link: LinkType, arphrd: Option<u32>) -> Interface {
    Interface {
        name: pi.name.clone(),
        index: pi.index,
        link,
        loopback: arphrd == Some(ARPHRD_LOOPBACK) || pi.is_loopback(),
        pnet: pi.clone(),
    }
}

/// The interface's ARPHRD_* type, from sysfs.
fn arphrd(name: &str) -> Option<u32> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/type"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The link type of frames read with SOCK_RAW on an interface of this ARPHRD type.
fn link_of(arphrd: Option<u32>) -> Option<LinkType> {
    match arphrd? {
        ARPHRD_ETHER | ARPHRD_LOOPBACK => Some(LinkType::Ethernet),
        ARPHRD_NONE => Some(LinkType::Raw),
        _ => None,
    }
}

/// How to open the sockets.
#[derive(Debug, Clone)]
pub struct Options {
    pub promiscuous: bool,
    /// Receive buffer per socket, in bytes.
    pub buffer: usize,
}

/// A frame read from an interface.
#[derive(Debug)]
pub struct Captured {
    /// Index into the interfaces passed to [`open`].
    pub interface: usize,
    /// Kernel receive time since the Unix epoch.
    pub ts: Duration,
    pub data: Vec<u8>,
}

/// What a reader thread sends.
#[derive(Debug)]
pub enum Event {
    /// Frames read one after the other from one interface.
    Frames(Vec<Captured>),
    /// The reader of this interface stopped on an error (the interface went away, say).
    Failed { interface: usize, error: io::Error },
}

/// The kernel's counters of one socket, summed over its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets that passed the filter, including those dropped.
    pub packets: u64,
    /// Packets dropped because the receive buffer was full.
    pub drops: u64,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, other: Stats) {
        self.packets += other.packets;
        self.drops += other.drops;
    }
}

/// Open sockets, bound and filtered, not yet read.
pub struct Opened {
    channels: Vec<(Box<dyn datalink::DataLinkReceiver>, RawFd)>,
    /// Per interface: whether the kernel runs the filter. When the kernel refuses a large
    /// program (ENOMEM: it is charged to net.core.optmem_max), the socket gets a program that
    /// accepts everything and the caller filters in user space, as libpcap does.
    pub kernel_filter: Vec<bool>,
}

/// Opens one packet socket per interface with its filter (`programs[i]` for `interfaces[i]`).
/// Needs CAP_NET_RAW; call it before dropping privileges.
pub fn open(interfaces: &[Interface], programs: &[Program], opts: &Options) -> Result<Opened> {
    let mut channels = Vec::with_capacity(interfaces.len());
    let mut kernel_filter = Vec::with_capacity(interfaces.len());
    for (iface, program) in interfaces.iter().zip(programs) {
        let fd = packet_socket()?;
        let raw = fd.as_raw_fd();
        let in_kernel = setup(raw, iface, program, opts)
            .map_err(|e| Error::Other(format!("cannot set up capture on {}: {e}", iface.name)))?;
        kernel_filter.push(in_kernel);
        let config = datalink::Config {
            read_buffer_size: READ_BUFFER,
            // The reader waits in its own poll; pnet's then only checks (zero timeout).
            read_timeout: Some(Duration::ZERO),
            promiscuous: opts.promiscuous,
            // pnet owns (and closes) the descriptor from here on, also when channel() fails.
            socket_fd: Some(fd.into_raw_fd()),
            ..Default::default()
        };
        let rx = match datalink::channel(&iface.pnet, config) {
            Ok(Channel::Ethernet(_tx, rx)) => rx,
            Ok(_) => {
                return Err(Error::Other(format!(
                    "cannot capture on {}: pnet returned an unknown channel type",
                    iface.name
                )));
            }
            Err(e) => {
                return Err(Error::Other(format!(
                    "cannot capture on {}: {e}",
                    iface.name
                )));
            }
        };
        channels.push((rx, raw));
    }
    Ok(Opened {
        channels,
        kernel_filter,
    })
}

/// A socket that receives nothing until bound with a protocol.
fn packet_socket() -> Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) {
            return Err(Error::Privilege {
                what: "opening a packet capture socket (AF_PACKET)".into(),
                remedy: RAW_REMEDY.into(),
            });
        }
        return Err(Error::Other(format!(
            "cannot open a packet capture socket (AF_PACKET): {e}"
        )));
    }
    // SAFETY: fd is a freshly created descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets the socket up; returns whether the kernel runs the filter (else: everything passes).
fn setup(fd: RawFd, iface: &Interface, program: &Program, opts: &Options) -> io::Result<bool> {
    let in_kernel = match attach(fd, program) {
        Ok(()) => true,
        Err(e) if e.raw_os_error() == Some(libc::ENOMEM) => {
            attach(fd, &Program::accept_all())?;
            false
        }
        Err(e) => return Err(e),
    };
    if iface.loopback {
        setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            &1 as &libc::c_int,
        )?;
    }
    let size = libc::c_int::try_from(opts.buffer).unwrap_or(libc::c_int::MAX);
    // SO_RCVBUFFORCE goes past net.core.rmem_max but needs CAP_NET_ADMIN; else take what we get.
    if setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &size).is_err() {
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &size)?;
    }
    // The first SIOCGSTAMPNS switches receive timestamps on (it fails: nothing received yet).
    let _ = stamp(fd);
    // Counters start at zero with this socket, but read them once to be sure.
    let _ = statistics(fd);
    Ok(in_kernel)
}

/// Attaches a classic BPF program (SO_ATTACH_FILTER).
fn attach(fd: RawFd, program: &Program) -> io::Result<()> {
    let insns = program.insns();
    let prog = libc::sock_fprog {
        len: u16::try_from(insns.len())
            .map_err(|_| io::Error::other("the filter program is too long"))?,
        filter: insns.as_ptr() as *mut libc::sock_filter,
    };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: value points to a live T of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The kernel receive time of the last packet read from `fd`.
fn stamp(fd: RawFd) -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: SIOCGSTAMPNS writes one timespec to the pointer given.
    let rc = unsafe { libc::ioctl(fd, SIOCGSTAMPNS as _, &mut ts) };
    if rc < 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(ts.tv_sec).ok()?,
        u32::try_from(ts.tv_nsec).ok()?,
    ))
}

/// The counters since the last read (the kernel resets them on each read).
fn statistics(fd: RawFd) -> io::Result<Stats> {
    let mut st = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: st and len are valid for the size given.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_PACKET,
            PACKET_STATISTICS,
            (&mut st as *mut libc::tpacket_stats).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // tp_packets already includes the drops.
    Ok(Stats {
        packets: u64::from(st.tp_packets),
        drops: u64::from(st.tp_drops),
    })
}

/// Running reader threads.
pub struct Running {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Stats>>,
}

impl Opened {
    /// Starts one reader thread per interface; frames arrive on the returned channel.
    pub fn start(self) -> (Running, Receiver<Event>) {
        let (tx, rx) = sync_channel(QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let threads = self
            .channels
            .into_iter()
            .enumerate()
            .map(|(i, (reader, fd))| {
                let tx = tx.clone();
                let stop = stop.clone();
                std::thread::spawn(move || read_loop(i, reader, fd, &tx, &stop))
            })
            .collect();
        (Running { stop, threads }, rx)
    }
}

impl Running {
    /// Stops the readers and returns the kernel's counters summed over every socket.
    /// `rx` must be drained or dropped by the caller so no reader stays blocked on a full queue.
    pub fn stop(self, rx: Receiver<Event>) -> Stats {
        self.stop.store(true, Ordering::SeqCst);
        drop(rx);
        let mut total = Stats::default();
        for t in self.threads {
            total += t.join().unwrap_or_default();
        }
        total
    }
}

fn read_loop(
    interface: usize,
    mut reader: Box<dyn datalink::DataLinkReceiver>,
    fd: RawFd,
    tx: &SyncSender<Event>,
    stop: &AtomicBool,
) -> Stats {
    while !stop.load(Ordering::Relaxed) {
        match readable(fd, POLL_INTERVAL) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                let _ = tx.send(Event::Failed { interface, error });
                break;
            }
        }
        // Let packets gather for LINGER, then take everything queued (pnet polls with a zero
        // timeout) and hand it over in batches: waking this thread and the consumer once per
        // packet would cost more CPU than reading them (tcpdump's ring does the same with a
        // block timeout). LINGER is short enough to look immediate on a terminal.
        std::thread::sleep(LINGER);
        loop {
            let mut batch = Vec::with_capacity(64);
            let mut failed = None;
            while batch.len() < BATCH {
                match reader.next() {
                    Ok(data) => batch.push(Captured {
                        interface,
                        ts: stamp(fd).unwrap_or_else(now),
                        data: data.to_vec(),
                    }),
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::TimedOut
                                | io::ErrorKind::Interrupted
                                | io::ErrorKind::WouldBlock
                        ) =>
                    {
                        break;
                    }
                    Err(error) => {
                        failed = Some(error);
                        break;
                    }
                }
            }
            let full = batch.len() == BATCH;
            if !batch.is_empty() && tx.send(Event::Frames(batch)).is_err() {
                return statistics(fd).unwrap_or_default();
            }
            if let Some(error) = failed {
                let _ = tx.send(Event::Failed { interface, error });
                return statistics(fd).unwrap_or_default();
            }
            if !full || stop.load(Ordering::Relaxed) {
                break;
            }
        }
    }
    statistics(fd).unwrap_or_default()
}

/// Waits until `fd` has something to read (true) or `timeout` passes (false).
fn readable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // POLLERR/POLLHUP (the interface went away) also end the wait: the read reports the error.
    Ok(rc > 0)
}

fn now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// Drops every capability the capture no longer needs once its sockets are open, so no packet
/// is parsed with the power to open more (as tcpdump does). `keep_process_lookup` keeps only
/// CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, which naming the processes of other users'
/// sockets needs (`--handshakes`). Also sets no_new_privs.
pub fn drop_privileges(keep_process_lookup: bool) -> io::Result<()> {
    use caps::{CapSet, Capability};
    let keep: caps::CapsHashSet = if keep_process_lookup {
        [Capability::CAP_SYS_PTRACE, Capability::CAP_DAC_READ_SEARCH]
            .into_iter()
            .collect()
    } else {
        caps::CapsHashSet::new()
    };
    let err = |e: caps::errors::CapsError| io::Error::other(e.to_string());
    caps::clear(None, CapSet::Ambient).map_err(err)?;
    caps::clear(None, CapSet::Inheritable).map_err(err)?;
    let effective: caps::CapsHashSet = caps::read(None, CapSet::Effective)
        .map_err(err)?
        .intersection(&keep)
        .copied()
        .collect();
    caps::set(None, CapSet::Effective, &effective).map_err(err)?;
    caps::set(None, CapSet::Permitted, &effective).map_err(err)?;
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
