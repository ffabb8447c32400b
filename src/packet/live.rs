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
use crate::packet::filter::{Insn, Program};
use crate::sys::setsockopt;

/// SOL_PACKET option: the socket's packet and drop counters (struct tpacket_stats).
const PACKET_STATISTICS: libc::c_int = 6;
/// ioctl: the receive time of the last packet read from the socket, as a timespec.
const SIOCGSTAMPNS: libc::c_ulong = 0x8907;
/// ARPHRD_* link types of the interfaces sockscope captures on.
const ARPHRD_ETHER: u32 = 1;
const ARPHRD_LOOPBACK: u32 = 772;
const ARPHRD_NONE: u32 = 65534;
const ARPHRD_RAWIP: u32 = 519;
const ARPHRD_TUNNEL: u32 = 768;
const ARPHRD_SIT: u32 = 776;
/// The largest frame read: a GRO-merged or loopback packet can be 64 KiB and more.
const READ_BUFFER: usize = 262_144;
/// How long a reader waits for a packet before looking at the stop flag.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Batches waiting between the readers and the consumer (with BATCH_BYTES, the queue holds at
/// most ~64 MiB of frames: a slow consumer makes the kernel drop and count, not memory grow).
const QUEUE: usize = 64;
/// The most frames, and about the most bytes, a reader hands over at once.
const BATCH: usize = 1024;
const BATCH_BYTES: usize = 1 << 20;
/// How often the readers add up the kernel's (32-bit, reset-on-read) counters.
const STATS_INTERVAL: Duration = Duration::from_secs(1);
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

/// An interface as the kernel of this network namespace reports it.
struct Listed {
    name: String,
    index: u32,
    up: bool,
    loopback: bool,
    /// ARPHRD_* type (SIOCGIFHWADDR), when it could be read.
    arphrd: Option<u32>,
}

/// Which interfaces `-i SPEC` means: one by name, or (none, `any`, `all`) every interface that is
/// up and whose frames sockscope can read. Returns the interfaces and notes about those skipped.
///
/// The list comes from if_nameindex(3) and ioctls on a socket, so it is this process's network
/// namespace (sysfs may show the host's when entered with `nsenter --net`), and it does not go
/// through pnet's listing, which assumes interface names are UTF-8.
pub fn select(spec: Option<&str>) -> Result<(Vec<Interface>, Vec<String>)> {
    let (all, mut notes) = list_interfaces()?;
    let mut chosen = Vec::new();
    let describe = |arphrd: Option<u32>| arphrd.map_or("unknown".to_string(), |n| n.to_string());
    match spec {
        Some(name) if name != "any" && name != "all" => {
            let Some(li) = all.iter().find(|i| i.name == name) else {
                let names: Vec<&str> = all.iter().map(|i| i.name.as_str()).collect();
                return Err(Error::Usage(format!(
                    "-i {name}: no such interface (interfaces here: {})",
                    names.join(", ")
                )));
            };
            if !li.up {
                return Err(Error::Usage(format!(
                    "-i {name}: the interface is down (bring it up with: ip link set {name} up)"
                )));
            }
            let Some(link) = link_of(li.arphrd) else {
                return Err(Error::Usage(format!(
                    "-i {name}: its link type (ARPHRD {}) is not one sockscope can decode \
                     (Ethernet, loopback and raw-IP interfaces are)",
                    describe(li.arphrd)
                )));
            };
            chosen.push(interface(li, link));
            notes.clear();
        }
        _ => {
            for li in all.iter().filter(|i| i.up) {
                match link_of(li.arphrd) {
                    Some(link) => chosen.push(interface(li, link)),
                    None => notes.push(format!(
                        "not capturing on {}: its link type (ARPHRD {}) is not supported",
                        li.name,
                        describe(li.arphrd)
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

fn interface(li: &Listed, link: LinkType) -> Interface {
    Interface {
        name: li.name.clone(),
        index: li.index,
        link,
        loopback: li.loopback,
        // pnet's channel() uses the index (to bind) and nothing else of it.
        pnet: NetworkInterface {
            name: li.name.clone(),
            description: String::new(),
            index: li.index,
            mac: None,
            ips: Vec::new(),
            flags: 0,
        },
    }
}

/// Every interface of this network namespace, with notes about those that cannot be used.
fn list_interfaces() -> Result<(Vec<Listed>, Vec<String>)> {
    // SAFETY: plain socket(2); any socket will do for the SIOCGIF* ioctls.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::Other(format!(
            "cannot list the network interfaces: {}",
            io::Error::last_os_error()
        )));
    }
    // SAFETY: fd is ours alone.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: if_nameindex returns an array ended by a zero entry, freed below.
    let head = unsafe { libc::if_nameindex() };
    if head.is_null() {
        return Err(Error::Other(format!(
            "cannot list the network interfaces: {}",
            io::Error::last_os_error()
        )));
    }
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let mut p = head;
    // SAFETY: walks the array up to its zero terminator; names are NUL-terminated C strings.
    unsafe {
        while (*p).if_index != 0 && !(*p).if_name.is_null() {
            let raw = std::ffi::CStr::from_ptr((*p).if_name);
            match raw.to_str() {
                Ok(name) => {
                    let flags = ifreq(sock.as_raw_fd(), raw, libc::SIOCGIFFLAGS)
                        .map(|r| r.ifr_ifru.ifru_flags as u16 as u32)
                        .unwrap_or(0);
                    let arphrd = ifreq(sock.as_raw_fd(), raw, libc::SIOCGIFHWADDR)
                        .map(|r| u32::from(r.ifr_ifru.ifru_hwaddr.sa_family));
                    out.push(Listed {
                        name: name.to_string(),
                        index: (*p).if_index,
                        up: flags & libc::IFF_UP as u32 != 0,
                        loopback: flags & libc::IFF_LOOPBACK as u32 != 0
                            || arphrd == Some(ARPHRD_LOOPBACK),
                        arphrd,
                    });
                }
                Err(_) => notes.push(format!(
                    "not capturing on interface {} ({}): its name is not UTF-8",
                    (*p).if_index,
                    raw.to_string_lossy()
                )),
            }
            p = p.add(1);
        }
        libc::if_freenameindex(head);
    }
    Ok((out, notes))
}

/// One SIOCGIF* ioctl for the interface `name`.
fn ifreq(fd: RawFd, name: &std::ffi::CStr, request: libc::c_ulong) -> Option<libc::ifreq> {
    // SAFETY: ifreq is plain data; the name is copied with its length checked.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.to_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return None;
    }
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: the request reads the name and writes into the union of req.
    let rc = unsafe { libc::ioctl(fd, request as _, &mut req) };
    (rc == 0).then_some(req)
}

/// The link type of frames read with SOCK_RAW on an interface of this ARPHRD type.
fn link_of(arphrd: Option<u32>) -> Option<LinkType> {
    match arphrd? {
        ARPHRD_ETHER | ARPHRD_LOOPBACK => Some(LinkType::Ethernet),
        // No link-layer header: tun, WireGuard, raw-IP modems, IP-in-IP and SIT tunnels.
        ARPHRD_NONE | ARPHRD_RAWIP | ARPHRD_TUNNEL | ARPHRD_SIT => Some(LinkType::Raw),
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
    /// Something the user should know about this interface (it went down, it is back).
    Note { interface: usize, text: String },
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
    channels: Vec<(Box<dyn datalink::DataLinkReceiver>, RawFd, u32)>,
    /// Indexes (into the interfaces given to [`open`]) of the interfaces opened.
    pub interfaces: Vec<usize>,
    /// Per opened interface: whether the kernel runs the filter. When the kernel refuses a large
    /// program (ENOMEM: it is charged to net.core.optmem_max), the socket gets a program that
    /// accepts everything and the caller filters in user space, as libpcap does.
    pub kernel_filter: Vec<bool>,
}

/// Opens one packet socket per interface with its filter (`programs[i]` for `interfaces[i]`).
/// Needs CAP_NET_RAW; call it before dropping privileges. With `skip_failures` (capturing on
/// every interface), an interface that cannot be set up (a container's veth that vanished
/// meanwhile, say) is left out with a note instead of ending the capture; the returned
/// [`Opened::interfaces`] says which remain.
pub fn open(
    interfaces: &[Interface],
    programs: &[Program],
    opts: &Options,
    skip_failures: bool,
    notes: &mut Vec<String>,
) -> Result<Opened> {
    let mut opened = Opened {
        channels: Vec::with_capacity(interfaces.len()),
        kernel_filter: Vec::with_capacity(interfaces.len()),
        interfaces: Vec::with_capacity(interfaces.len()),
    };
    let mut small_buffer = false;
    for (i, (iface, program)) in interfaces.iter().zip(programs).enumerate() {
        match open_one(iface, program, opts) {
            Ok((rx, raw, setup)) => {
                opened.channels.push((rx, raw, iface.index));
                opened.kernel_filter.push(setup.in_kernel);
                opened.interfaces.push(i);
                small_buffer |= setup.small_buffer;
            }
            // No privilege is no privilege on every interface.
            Err(e @ Error::Privilege { .. }) => return Err(e),
            Err(e) if skip_failures => notes.push(format!("not capturing on {}: {e}", iface.name)),
            Err(e) => return Err(e),
        }
    }
    if opened.channels.is_empty() {
        return Err(Error::Other(
            "could not capture on any interface (see the notes above)".into(),
        ));
    }
    if small_buffer {
        notes.push(format!(
            "could not enlarge the capture buffer past net.core.rmem_max (that needs \
             CAP_NET_ADMIN): bursts may be dropped; grant it with: sudo setcap \
             cap_net_raw,cap_net_admin+ep \"$(command -v sockscope)\", or raise the limit: \
             sysctl -w net.core.rmem_max={}",
            opts.buffer
        ));
    }
    Ok(opened)
}

fn open_one(
    iface: &Interface,
    program: &Program,
    opts: &Options,
) -> Result<(Box<dyn datalink::DataLinkReceiver>, RawFd, Setup)> {
    let fd = packet_socket()?;
    let raw = fd.as_raw_fd();
    let setup = setup(raw, iface, program, opts)
        .map_err(|e| Error::Other(format!("cannot set up capture on {}: {e}", iface.name)))?;
    let config = datalink::Config {
        read_buffer_size: READ_BUFFER,
        // The reader waits in its own poll; pnet's then only checks (zero timeout).
        read_timeout: Some(Duration::ZERO),
        promiscuous: opts.promiscuous,
        // pnet owns (and closes) the descriptor from here on, also when channel() fails.
        socket_fd: Some(fd.into_raw_fd()),
        ..Default::default()
    };
    match datalink::channel(&iface.pnet, config) {
        Ok(Channel::Ethernet(_tx, rx)) => Ok((rx, raw, setup)),
        Ok(_) => Err(Error::Other(format!(
            "cannot capture on {}: pnet returned an unknown channel type",
            iface.name
        ))),
        Err(e) => Err(Error::Other(format!(
            "cannot capture on {}: {e}",
            iface.name
        ))),
    }
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

/// How a socket was set up.
struct Setup {
    /// The kernel runs the filter (else everything passes and the caller filters).
    in_kernel: bool,
    /// The receive buffer could not be enlarged past net.core.rmem_max.
    small_buffer: bool,
}

/// SKF_AD_OFF + SKF_AD_PKTTYPE: the ancillary load of the packet type (PACKET_OUTGOING = 4).
const SKF_AD_PKTTYPE: u32 = 0xffff_f000 + 4;
const PACKET_OUTGOING: u32 = 4;

fn setup(fd: RawFd, iface: &Interface, program: &Program, opts: &Options) -> io::Result<Setup> {
    // Loopback shows every packet twice (going out and coming in): ignore the outgoing copy,
    // with the socket option where the kernel has it (4.20+), else in the filter itself.
    let drop_outgoing = iface.loopback
        && setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            &1 as &libc::c_int,
        )
        .is_err();
    let with_prefix = |insns: &[Insn]| -> Vec<Insn> {
        let mut all = Vec::with_capacity(insns.len() + 3);
        if drop_outgoing {
            all.extend([
                // ld [pkttype]; jeq #OUTGOING → ret #0, else the filter.
                Insn {
                    code: 0x20,
                    jt: 0,
                    jf: 0,
                    k: SKF_AD_PKTTYPE,
                },
                Insn {
                    code: 0x15,
                    jt: 0,
                    jf: 1,
                    k: PACKET_OUTGOING,
                },
                Insn {
                    code: 0x06,
                    jt: 0,
                    jf: 0,
                    k: 0,
                },
            ]);
        }
        all.extend_from_slice(insns);
        all
    };
    let in_kernel = match attach(fd, &with_prefix(program.insns())) {
        Ok(()) => true,
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "the kernel rejected the compiled filter as invalid ({e}); this is a bug \
                     in sockscope, please report it with the expression"
                ),
            ));
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOMEM) => {
            attach(fd, &with_prefix(Program::accept_all().insns())).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "the kernel refused even the smallest filter ({e}); see \
                         sysctl net.core.optmem_max"
                    ),
                )
            })?;
            false
        }
        Err(e) => return Err(e),
    };
    let size = libc::c_int::try_from(opts.buffer).unwrap_or(libc::c_int::MAX);
    // SO_RCVBUFFORCE goes past net.core.rmem_max but needs CAP_NET_ADMIN; else take what we get.
    let small_buffer = setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &size).is_err();
    if small_buffer {
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &size)?;
    }
    // The first SIOCGSTAMPNS switches receive timestamps on (it fails: nothing received yet).
    let _ = stamp(fd);
    // Counters start at zero with this socket, but read them once to be sure.
    let _ = statistics(fd);
    Ok(Setup {
        in_kernel,
        small_buffer,
    })
}

/// Attaches a classic BPF program (SO_ATTACH_FILTER).
fn attach(fd: RawFd, insns: &[Insn]) -> io::Result<()> {
    let prog = libc::sock_fprog {
        len: u16::try_from(insns.len())
            .map_err(|_| io::Error::other("the filter program is too long"))?,
        filter: insns.as_ptr() as *mut libc::sock_filter,
    };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
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
    /// Starts one reader thread per interface; frames arrive on the returned channel. The
    /// channel ends (disconnects) once every reader has stopped.
    pub fn start(self) -> (Running, Receiver<Event>) {
        let (tx, rx) = sync_channel(QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let threads = self
            .channels
            .into_iter()
            .enumerate()
            .map(|(i, (reader, fd, ifindex))| {
                let tx = tx.clone();
                let stop = stop.clone();
                std::thread::spawn(move || read_loop(i, ifindex, reader, fd, &tx, &stop))
            })
            .collect();
        (Running { stop, threads }, rx)
    }
}

impl Running {
    /// Asks the readers to stop: each hands over what it has read and ends within
    /// POLL_INTERVAL + LINGER, and the channel then disconnects. The caller keeps receiving
    /// until then, so no reader stays blocked on a full queue.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Waits for the stopped readers; returns the kernel's counters summed over every socket.
    pub fn join(self) -> Stats {
        self.stop.store(true, Ordering::SeqCst);
        let mut total = Stats::default();
        for t in self.threads {
            total += t.join().unwrap_or_default();
        }
        total
    }
}

fn read_loop(
    interface: usize,
    ifindex: u32,
    mut reader: Box<dyn datalink::DataLinkReceiver>,
    fd: RawFd,
    tx: &SyncSender<Event>,
    stop: &AtomicBool,
) -> Stats {
    let mut stats = Stats::default();
    let mut last_stats = std::time::Instant::now();
    let mut down = false;
    while !stop.load(Ordering::Relaxed) {
        // The kernel's counters are 32-bit and reset on each read: read them often enough
        // that they cannot wrap.
        if last_stats.elapsed() >= STATS_INTERVAL {
            stats += statistics(fd).unwrap_or_default();
            last_stats = std::time::Instant::now();
        }
        let error = match readable(fd, POLL_INTERVAL) {
            // Deleting an interface takes it down first: while it is down, look whether it is
            // still there.
            Ok(false) if down && !interface_exists(ifindex) => {
                Some(io::Error::from_raw_os_error(libc::ENODEV))
            }
            Ok(false) => continue,
            Ok(true) => None,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Some(e),
        };
        let error = match error {
            Some(e) => Some(e),
            None => {
                // Let packets gather for LINGER, then take everything queued (pnet polls with a
                // zero timeout) and hand it over in batches: waking this thread and the
                // consumer once per packet would cost more CPU than reading them (tcpdump's
                // ring does the same with a block timeout). LINGER is short enough to look
                // immediate on a terminal.
                std::thread::sleep(LINGER);
                match drain(interface, reader.as_mut(), fd, tx, stop) {
                    Ok(true) => {
                        if down {
                            down = false;
                            let _ = tx.send(Event::Note {
                                interface,
                                text: "capturing again".into(),
                            });
                        }
                        None
                    }
                    Ok(false) => break,
                    Err(e) => Some(e),
                }
            }
        };
        let Some(error) = error else { continue };
        // The kernel says ENETDOWN both when the interface goes down and when it is deleted.
        let gone = !interface_exists(ifindex);
        if error.raw_os_error() == Some(libc::ENETDOWN) && !gone {
            // The interface went down: the socket stays bound to it and works again when it
            // comes back up, so wait for that rather than give up.
            if !down {
                down = true;
                let _ = tx.send(Event::Note {
                    interface,
                    text: "the interface went down; waiting for it to come back up".into(),
                });
            }
            std::thread::sleep(POLL_INTERVAL);
            continue;
        }
        let error = if gone || error.raw_os_error() == Some(libc::ENODEV) {
            io::Error::other("the interface went away")
        } else {
            error
        };
        let _ = tx.send(Event::Failed { interface, error });
        break;
    }
    stats += statistics(fd).unwrap_or_default();
    stats
}

/// Reads everything queued on the socket and sends it in batches. Ok(false): the consumer
/// is gone.
fn drain(
    interface: usize,
    reader: &mut dyn datalink::DataLinkReceiver,
    fd: RawFd,
    tx: &SyncSender<Event>,
    stop: &AtomicBool,
) -> io::Result<bool> {
    loop {
        let mut batch = Vec::with_capacity(64);
        let mut bytes = 0;
        let mut failed = None;
        while batch.len() < BATCH && bytes < BATCH_BYTES {
            match reader.next() {
                Ok(data) => {
                    bytes += data.len();
                    batch.push(Captured {
                        interface,
                        ts: stamp(fd).unwrap_or_else(crate::packet::now),
                        data: data.to_vec(),
                    });
                }
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
                // pnet reports a pending socket error (POLLERR) as "Unexpected poll event".
                Err(e) => {
                    failed = Some(socket_error(fd).unwrap_or(e));
                    break;
                }
            }
        }
        let full = batch.len() == BATCH || bytes >= BATCH_BYTES;
        if !batch.is_empty() && tx.send(Event::Frames(batch)).is_err() {
            return Ok(false);
        }
        if let Some(error) = failed {
            return Err(error);
        }
        if !full || stop.load(Ordering::Relaxed) {
            return Ok(true);
        }
    }
}

/// Waits until `fd` has something to read (true) or `timeout` passes (false); a pending
/// socket error (the interface went down or away) is returned as the error.
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
    if pfd.revents & libc::POLLERR != 0
        && let Some(e) = socket_error(fd)
    {
        return Err(e);
    }
    Ok(rc > 0 && pfd.revents & libc::POLLIN != 0)
}

/// Whether an interface with this index still exists. Only "no such device" says it does not:
/// another failure (no descriptor left for the lookup's socket, say) is no proof it went away.
fn interface_exists(ifindex: u32) -> bool {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has the IF_NAMESIZE bytes if_indextoname may write.
    if !unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) }.is_null() {
        return true;
    }
    !matches!(
        io::Error::last_os_error().raw_os_error(),
        Some(libc::ENXIO) | Some(libc::ENODEV)
    )
}

/// The socket's pending error (SO_ERROR, which also clears it), if any.
fn socket_error(fd: RawFd) -> Option<io::Error> {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: err and len are valid for the size given.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (rc == 0 && err != 0).then(|| io::Error::from_raw_os_error(err))
}

/// Drops what the capture no longer needs once its sockets (and its -w file) are open, so no
/// packet is parsed with the power to open more, as tcpdump does: run as root, it becomes the
/// user nobody (root's files are then out of reach too); then every capability goes, except,
/// with `keep_process_lookup` (only the helper of [`crate::packet::owners`], which never sees a
/// packet), CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, which naming the processes of other users'
/// sockets needs. Also sets no_new_privs.
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
    let check = |rc: libc::c_int| {
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    // SAFETY: plain syscalls with integer arguments; glibc applies the id changes to every
    // thread (there is only this one yet).
    let become_nobody = || unsafe {
        // Keep the permitted set across the uid change, to choose from it below.
        check(libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0))?;
        check(libc::setgroups(0, std::ptr::null()))?;
        check(libc::setresgid(NOBODY, NOBODY, NOBODY))?;
        check(libc::setresuid(NOBODY, NOBODY, NOBODY))?;
        check(libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0))
    };
    // SAFETY: geteuid has no preconditions.
    // In a user namespace without a mapping for nobody this fails: the capabilities still go.
    let switched = if unsafe { libc::geteuid() } == 0 {
        become_nobody()
    } else {
        Ok(())
    };
    caps::clear(None, CapSet::Ambient).map_err(err)?;
    caps::clear(None, CapSet::Inheritable).map_err(err)?;
    let kept: caps::CapsHashSet = caps::read(None, CapSet::Permitted)
        .map_err(err)?
        .intersection(&keep)
        .copied()
        .collect();
    caps::set(None, CapSet::Effective, &kept).map_err(err)?;
    caps::set(None, CapSet::Permitted, &kept).map_err(err)?;
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })?;
    switched.map_err(|e| io::Error::new(e.kind(), format!("cannot become the user nobody: {e}")))
}

/// The uid and gid of the user nobody, which a capture run as root becomes.
const NOBODY: libc::uid_t = 65_534;
