//! ICMP sockets opened by hand (socket2 + libc): raw with CAP_NET_RAW, else the unprivileged
//! ICMP datagram ("ping") socket where `net.ipv4.ping_group_range` allows it. Receiving goes
//! through `recvmsg` for the control messages: TTL / hop limit, kernel receive timestamps
//! (SO_TIMESTAMPNS) and, on datagram sockets, ICMP errors from the error queue (IP_RECVERR).

use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::error::Error;
use crate::ping::packet::Family;
use crate::sys::setsockopt;

/// Which kind of ICMP socket the kernel gave us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SOCK_RAW: sees every ICMP packet of the host (IPv4 with its IP header).
    Raw,
    /// SOCK_DGRAM + IPPROTO_ICMP(V6): the kernel sets the identifier to the socket's port and
    /// delivers only the replies to it; errors come through the error queue.
    Dgram,
}

/// An open ICMP socket and the identifier its requests carry.
pub struct IcmpSocket {
    sock: Socket,
    pub family: Family,
    pub kind: Kind,
    pub id: u16,
}

/// One received packet.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub len: usize,
    pub from: IpAddr,
    pub ttl: Option<u8>,
    /// Kernel receive time, CLOCK_REALTIME nanoseconds.
    pub stamp_ns: Option<i128>,
}

/// One entry of the error queue: our own request (in the buffer) and what happened to it.
#[derive(Debug, Clone, Copy)]
pub struct Queued {
    pub len: usize,
    /// Where the request was going.
    pub dest: Option<IpAddr>,
    /// The router (or this host) that reported the error.
    pub offender: Option<IpAddr>,
    /// ICMP type and code when the error came by ICMP; none for a local error.
    pub icmp: Option<(u8, u8)>,
    pub info: u32,
    pub errno: i32,
}

/// The remedy printed when no ICMP socket can be opened.
pub const REMEDY: &str = "ICMP ping needs a raw socket (CAP_NET_RAW) or an ICMP datagram socket allowed by \
net.ipv4.ping_group_range. Either:\n  run it as root:             sudo sockscope ping …\n  grant the capability once:  \
sudo setcap cap_net_raw+ep $(which sockscope)\n  allow ping sockets:         \
sudo sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"\n(--tcp PORT and --udp PORT need no privilege.)";

/// CLOCK_REALTIME now, in nanoseconds (the clock of SO_TIMESTAMPNS).
pub fn realtime_ns() -> i128 {
    // SAFETY: timespec is plain data, written by clock_gettime.
    let mut ts: libc::timespec = unsafe { mem::zeroed() };
    // SAFETY: a valid pointer; CLOCK_REALTIME always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// `ICMP_FILTER` (level SOL_RAW) and `ICMP6_FILTER` (level IPPROTO_ICMPV6) from linux/icmp.h
/// and linux/icmpv6.h.
const ICMP_FILTER: i32 = 1;
const ICMP6_FILTER: i32 = 1;

/// The ICMP types a ping socket wants: echo replies and the errors that quote requests.
const WANTED_V4: [u8; 4] = [0, 3, 11, 12];
const WANTED_V6: [u8; 5] = [1, 2, 3, 4, 129];

/// A raw socket's type filter: a set bit blocks that type. Blocking the rest matters for
/// accuracy too: without it the kernel queues every echo request we send to loopback to our
/// own socket before it answers it.
fn install_filter(fd: RawFd, family: Family) -> io::Result<()> {
    let mut bits = [u32::MAX; 8];
    let wanted: &[u8] = match family {
        Family::V4 => &WANTED_V4,
        Family::V6 => &WANTED_V6,
    };
    for &t in wanted {
        bits[usize::from(t / 32)] &= !(1u32 << (t % 32));
    }
    let (level, name, len) = match family {
        Family::V4 => (libc::SOL_RAW, ICMP_FILTER, 4),
        Family::V6 => (libc::IPPROTO_ICMPV6, ICMP6_FILTER, 32),
    };
    // SAFETY: a valid fd; bits holds at least `len` bytes.
    let rc = unsafe { libc::setsockopt(fd, level, name, bits.as_ptr().cast(), len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn is_permission(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
}

impl IcmpSocket {
    /// Opens a raw socket, else a datagram socket, for `family`; `ttl` sets the TTL / hop limit.
    pub fn open(family: Family, ttl: Option<u8>) -> Result<IcmpSocket, Error> {
        let (domain, proto) = match family {
            Family::V4 => (Domain::IPV4, Protocol::ICMPV4),
            Family::V6 => (Domain::IPV6, Protocol::ICMPV6),
        };
        let fam = if family == Family::V4 { "IPv4" } else { "IPv6" };
        let (sock, kind) = match Socket::new(domain, Type::RAW, Some(proto)) {
            Ok(s) => (s, Kind::Raw),
            Err(raw_err) if is_permission(&raw_err) => {
                match Socket::new(domain, Type::DGRAM, Some(proto)) {
                    Ok(s) => (s, Kind::Dgram),
                    Err(e) if is_permission(&e) => {
                        return Err(Error::Privilege {
                            what: format!("cannot open an {fam} ICMP socket"),
                            remedy: REMEDY.into(),
                        });
                    }
                    Err(e) => {
                        return Err(Error::Other(format!(
                            "cannot open an {fam} ICMP datagram socket: {e}"
                        )));
                    }
                }
            }
            Err(e) => {
                return Err(Error::Other(format!(
                    "cannot open an {fam} ICMP socket: {e} (is {fam} enabled on this host?)"
                )));
            }
        };
        let fail =
            |what: &str, e: io::Error| Error::Other(format!("{fam} ICMP socket: {what}: {e}"));
        sock.set_nonblocking(true)
            .map_err(|e| fail("non-blocking", e))?;
        // Room for a sweep's worth of replies arriving at once.
        let _ = sock.set_recv_buffer_size(1 << 20);
        let fd = sock.as_raw_fd();
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &1i32)
            .map_err(|e| fail("SO_TIMESTAMPNS", e))?;
        match family {
            Family::V4 => {
                setsockopt(fd, libc::IPPROTO_IP, libc::IP_RECVTTL, &1i32)
                    .map_err(|e| fail("IP_RECVTTL", e))?;
                if let Some(t) = ttl {
                    sock.set_ttl_v4(u32::from(t))
                        .map_err(|e| fail("IP_TTL", e))?;
                }
                if kind == Kind::Dgram {
                    setsockopt(fd, libc::IPPROTO_IP, libc::IP_RECVERR, &1i32)
                        .map_err(|e| fail("IP_RECVERR", e))?;
                }
            }
            Family::V6 => {
                setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, &1i32)
                    .map_err(|e| fail("IPV6_RECVHOPLIMIT", e))?;
                if let Some(t) = ttl {
                    sock.set_unicast_hops_v6(u32::from(t))
                        .map_err(|e| fail("IPV6_UNICAST_HOPS", e))?;
                }
                if kind == Kind::Dgram {
                    setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, &1i32)
                        .map_err(|e| fail("IPV6_RECVERR", e))?;
                }
            }
        }
        if kind == Kind::Raw {
            install_filter(fd, family).map_err(|e| fail("ICMP type filter", e))?;
        }
        let id = match kind {
            // Raw sockets see every ICMP packet of the host: the identifier tells ours apart.
            // Not the pid alone: two pings in separate pid namespaces (containers sharing the
            // host's network) can both be pid 1.
            Kind::Raw => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                let mixed = std::process::id().wrapping_mul(0x9e37_79b9) ^ nanos ^ (nanos >> 16);
                (mixed & 0xffff) as u16
            }
            Kind::Dgram => {
                let any: SocketAddr = match family {
                    Family::V4 => (Ipv4Addr::UNSPECIFIED, 0).into(),
                    Family::V6 => (Ipv6Addr::UNSPECIFIED, 0).into(),
                };
                sock.bind(&any.into()).map_err(|e| fail("bind", e))?;
                let local = sock.local_addr().map_err(|e| fail("getsockname", e))?;
                local.as_socket().map(|a| a.port()).unwrap_or(0)
            }
        };
        Ok(IcmpSocket {
            sock,
            family,
            kind,
            id,
        })
    }

    /// The descriptor, for poll.
    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Sends one packet to `to` (see [`crate::ping::Target::socket_addr`]).
    pub fn send_to(&self, packet: &[u8], to: &SockAddr) -> io::Result<()> {
        self.sock.send_to(packet, to).map(|_| ())
    }

    /// Receives one packet into `buf`; `None` when nothing is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        recv_packet(self.fd(), buf)
    }

    /// Clears a pending socket error (raw sockets flag hard ICMP errors that way, and poll
    /// would report it until it is read).
    pub fn clear_error(&self) {
        let _ = self.sock.take_error();
    }

    /// Reads one entry of the error queue (datagram sockets); `None` when it is empty.
    pub fn recv_error(&self, buf: &mut [u8]) -> io::Result<Option<Queued>> {
        let Some(m) = recvmsg(self.fd(), buf, libc::MSG_ERRQUEUE)? else {
            return Ok(None);
        };
        let mut q = Queued {
            len: m.len,
            dest: m.from,
            offender: None,
            icmp: None,
            info: 0,
            errno: 0,
        };
        for c in &m.cmsgs {
            let ours = matches!(
                (c.level, c.kind),
                (libc::IPPROTO_IP, libc::IP_RECVERR) | (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
            );
            if !ours {
                continue;
            }
            let Some(ee) = read_struct::<libc::sock_extended_err>(&c.data) else {
                continue;
            };
            q.errno = ee.ee_errno as i32;
            q.info = ee.ee_info;
            if ee.ee_origin == libc::SO_EE_ORIGIN_ICMP || ee.ee_origin == libc::SO_EE_ORIGIN_ICMP6 {
                q.icmp = Some((ee.ee_type, ee.ee_code));
            }
            // SO_EE_OFFENDER: the address right after the struct.
            let off = mem::size_of::<libc::sock_extended_err>();
            q.offender = c.data.get(off..).and_then(sockaddr_ip);
        }
        Ok(Some(q))
    }
}

/// Receives one packet on any socket (the trace engine's raw TCP socket too), with the TTL /
/// hop limit and the kernel receive time when the socket asked for them; `None` when nothing
/// is waiting.
pub fn recv_packet(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<Received>> {
    let Some(m) = recvmsg(fd, buf, 0)? else {
        return Ok(None);
    };
    let mut r = Received {
        len: m.len,
        from: m.from.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ttl: None,
        stamp_ns: None,
    };
    for c in &m.cmsgs {
        match (c.level, c.kind) {
            (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                if let Some(ts) = read_struct::<libc::timespec>(&c.data) {
                    r.stamp_ns =
                        Some(i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec));
                }
            }
            (libc::IPPROTO_IP, libc::IP_TTL) | (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                if let Some(v) = read_struct::<i32>(&c.data) {
                    r.ttl = u8::try_from(v).ok();
                }
            }
            _ => {}
        }
    }
    Ok(Some(r))
}

struct Msg {
    len: usize,
    from: Option<IpAddr>,
    cmsgs: Vec<Cmsg>,
}

struct Cmsg {
    level: i32,
    kind: i32,
    data: Vec<u8>,
}

/// Reads a `T` from the start of `data`, if it is long enough.
fn read_struct<T: Copy>(data: &[u8]) -> Option<T> {
    if data.len() < mem::size_of::<T>() {
        return None;
    }
    // SAFETY: enough bytes; read_unaligned copes with any alignment; T is plain data.
    Some(unsafe { std::ptr::read_unaligned(data.as_ptr().cast::<T>()) })
}

/// An IP address from the bytes of a sockaddr_in / sockaddr_in6.
fn sockaddr_ip(data: &[u8]) -> Option<IpAddr> {
    let family = read_struct::<libc::sa_family_t>(data)?;
    match i32::from(family) {
        libc::AF_INET => {
            let sin = read_struct::<libc::sockaddr_in>(data)?;
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 => {
            let sin6 = read_struct::<libc::sockaddr_in6>(data)?;
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// recvmsg with room for control messages; `None` on EAGAIN.
fn recvmsg(fd: RawFd, buf: &mut [u8], flags: i32) -> io::Result<Option<Msg>> {
    // SAFETY: plain data, zero is a valid value.
    let mut name: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut control = [0u64; 64]; // 512 bytes, aligned for cmsghdr
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: plain data; every pointer set below outlives the call.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of_val(&control) as _;
    // SAFETY: msg points at valid buffers of the stated sizes.
    let n = unsafe { libc::recvmsg(fd, &mut msg, flags | libc::MSG_DONTWAIT) };
    if n < 0 {
        let e = io::Error::last_os_error();
        // A pending socket error (an ICMP error the kernel also reports as errno) is consumed by
        // this call; the ICMP packet itself, or the error queue, tells the rest.
        return match e.raw_os_error() {
            Some(libc::EAGAIN | libc::EINTR) => Ok(None),
            Some(
                libc::EHOSTUNREACH
                | libc::ENETUNREACH
                | libc::EHOSTDOWN
                | libc::ENETDOWN
                | libc::ECONNREFUSED
                | libc::EMSGSIZE
                | libc::EPROTO,
            ) => Ok(None),
            _ => Err(e),
        };
    }
    let len = (n as usize).min(buf.len());
    let name_len = (msg.msg_namelen as usize).min(mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: name is a valid sockaddr_storage; we view its initialised prefix as bytes.
    let name_bytes = unsafe {
        std::slice::from_raw_parts(
            (&name as *const libc::sockaddr_storage).cast::<u8>(),
            name_len,
        )
    };
    let from = sockaddr_ip(name_bytes);
    let mut cmsgs = Vec::new();
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled in, bounded by
    // msg_controllen; each data slice lies inside that buffer.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let hdr = &*c;
            let header = libc::CMSG_LEN(0) as usize;
            let total = hdr.cmsg_len as usize;
            let data_len = total.saturating_sub(header);
            let data = std::slice::from_raw_parts(libc::CMSG_DATA(c), data_len);
            cmsgs.push(Cmsg {
                level: hdr.cmsg_level,
                kind: hdr.cmsg_type,
                data: data.to_vec(),
            });
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(Some(Msg { len, from, cmsgs }))
}

/// Waits until one of `fds` is readable (or has an error queued), at most `timeout_ns`.
/// Returns the revents of each; an interrupted wait (a signal) returns all zero.
pub fn wait(fds: &[RawFd], timeout_ns: i128) -> io::Result<Vec<i16>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let t = timeout_ns.max(0);
    let ts = libc::timespec {
        tv_sec: (t / 1_000_000_000) as libc::time_t,
        tv_nsec: (t % 1_000_000_000) as _,
    };
    // SAFETY: pfds is a valid array of pollfd; ts is a valid timespec; no signal mask change.
    let rc = unsafe {
        libc::ppoll(
            pfds.as_mut_ptr(),
            pfds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![0; fds.len()]);
        }
        return Err(e);
    }
    Ok(pfds.iter().map(|p| p.revents).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_bytes_to_ip() {
        // SAFETY: plain data.
        let mut sin: libc::sockaddr_in = unsafe { mem::zeroed() };
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_addr.s_addr = u32::from(Ipv4Addr::new(198, 18, 0, 1)).to_be();
        // SAFETY: viewing a plain struct as bytes.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&sin as *const libc::sockaddr_in).cast::<u8>(),
                mem::size_of_val(&sin),
            )
        };
        assert_eq!(
            sockaddr_ip(bytes),
            Some(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)))
        );
        assert_eq!(sockaddr_ip(&bytes[..3]), None);
        assert_eq!(sockaddr_ip(&[]), None);
    }
}
