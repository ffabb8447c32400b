//! sock_diag over netlink: the kernel's own socket-table dump, which `ss` uses too.
//!
//! Unlike netstat2 0.11, this keeps Recv-Q/Send-Q, uids and UNIX sockets, and reports netlink
//! errors instead of returning an empty table.

use std::io;
use std::net::IpAddr;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
    Nla as _,
};
use netlink_packet_sock_diag::{
    SockDiagMessage,
    constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP},
    inet::{ExtensionFlags, InetRequest, SocketId, StateFlags},
    unix::{self, ShowFlags, UnixRequest, UnixResponse, nlas::UnixDiagName},
};
use netlink_sys::{Socket as NlSocket, SocketAddr, protocols::NETLINK_SOCK_DIAG};

use crate::error::{Error, Result};
use crate::sockets::health::{MemInfo, TcpInfo, Timer, TimerKind};
use crate::sockets::{Addr, Endpoint, Family, Proto, Socket, State, UnixType};

/// `UDIAG_SHOW_UID` (Linux 5.3+): ask for the uid of UNIX sockets.
const UDIAG_SHOW_UID: u32 = 1 << 6;
/// `UNIX_DIAG_UID`: the attribute that carries it.
const UNIX_DIAG_UID: u16 = 7;
/// Receive buffer: large enough for the biggest dump message the kernel builds (32 KiB).
const RECV_BUF: usize = 256 * 1024;
/// A dump interrupted by concurrent changes (NLM_F_DUMP_INTR) is tried again this many times.
const DUMP_TRIES: usize = 3;
/// `struct nlmsghdr`.
const NLMSG_HDRLEN: usize = 16;
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// `struct inet_diag_msg`: family, state, timer, retrans, the 48-byte socket id, expires,
/// rqueue, wqueue, uid, inode.
const INET_DIAG_MSG_LEN: usize = 72;
/// inet_diag attributes (include/uapi/linux/inet_diag.h).
const INET_DIAG_INFO: u16 = 2;
const INET_DIAG_CONG: u16 = 4;
const INET_DIAG_SKMEMINFO: u16 = 7;
const INET_DIAG_SKV6ONLY: u16 = 11;

/// Dumps TCP or UDP sockets of one family, with the kernel doing the state filtering. With
/// `health`, every answer carries socket memory and, for TCP, tcp_info and the congestion
/// control: the problems of every record are decided from them.
pub fn inet_sockets(
    proto: Proto,
    family: Family,
    state_mask: u32,
    health: bool,
    keep: &dyn Fn(&Socket) -> bool,
) -> Result<Vec<Socket>> {
    let (af, socket_id) = match family {
        Family::Inet => (AF_INET, SocketId::new_v4()),
        _ => (AF_INET6, SocketId::new_v6()),
    };
    let (protocol, extensions) = match proto {
        Proto::Tcp => (
            IPPROTO_TCP,
            ExtensionFlags::INFO | ExtensionFlags::CONG | ExtensionFlags::SKMEMINFO,
        ),
        _ => (IPPROTO_UDP, ExtensionFlags::SKMEMINFO),
    };
    let extensions = if health {
        extensions
    } else {
        ExtensionFlags::empty()
    };
    let request = SockDiagMessage::InetRequest(InetRequest {
        family: af,
        protocol,
        extensions,
        states: StateFlags::from_bits_retain(state_mask),
        socket_id,
    });
    let what = format!("{} over {}", proto.name(), family_name(family));
    let mut out = Vec::new();
    dump(&request, &what, &mut out, |_, payload, out| {
        if let Some(s) = parse_inet(payload, proto)
            && keep(&s)
        {
            out.push(s);
        }
    })?;
    Ok(out)
}

/// Dumps UNIX sockets in the states of `state_mask`.
pub fn unix_sockets(state_mask: u32) -> Result<Vec<Socket>> {
    let show =
        ShowFlags::NAME.bits() | ShowFlags::PEER.bits() | ShowFlags::RQLEN.bits() | UDIAG_SHOW_UID;
    let request = SockDiagMessage::UnixRequest(UnixRequest {
        state_flags: unix::StateFlags::from_bits_retain(state_mask),
        inode: 0,
        show_flags: ShowFlags::from_bits_retain(show),
        cookie: [0xff; 8],
    });
    let mut out = Vec::new();
    dump(&request, "unix", &mut out, |message, _, out| {
        if let Ok(m) = NetlinkMessage::<SockDiagMessage>::deserialize(message)
            && let NetlinkPayload::InnerMessage(SockDiagMessage::UnixResponse(r)) = m.payload
            && let Some(s) = from_unix(&r)
        {
            out.push(s);
        }
    })?;
    resolve_unix_peers(&mut out);
    Ok(out)
}

fn family_name(f: Family) -> &'static str {
    match f {
        Family::Inet => "IPv4",
        Family::Inet6 => "IPv6",
        Family::Unix => "unix",
    }
}

/// Sends one dump request and feeds every answer to `each`, as the whole netlink message and
/// its payload. Netlink errors become errors; an interrupted dump is retried from scratch.
fn dump<T>(
    request: &SockDiagMessage,
    what: &str,
    out: &mut Vec<T>,
    mut each: impl FnMut(&[u8], &[u8], &mut Vec<T>),
) -> Result<()> {
    let table_err = |source: io::Error| Error::SocketTable {
        what: what.to_string(),
        source,
    };
    let socket = open().map_err(table_err)?;
    let mut buf = vec![0u8; RECV_BUF];
    for attempt in 1..=DUMP_TRIES {
        out.clear();
        send(&socket, request).map_err(table_err)?;
        let mut interrupted = false;
        'recv: loop {
            let n = socket.recv(&mut &mut buf[..], 0).map_err(table_err)?;
            if n == 0 {
                return Err(table_err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "netlink socket closed before the dump ended",
                )));
            }
            let mut rest = &buf[..n];
            while let Some(header) = rest.get(..NLMSG_HDRLEN) {
                let len = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]) as usize;
                let kind = u16::from_ne_bytes([header[4], header[5]]);
                let flags = u16::from_ne_bytes([header[6], header[7]]);
                let Some(message) = rest.get(..len).filter(|_| len >= NLMSG_HDRLEN) else {
                    return Err(table_err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("a netlink message of {len} bytes does not fit its datagram"),
                    )));
                };
                let payload = &message[NLMSG_HDRLEN..];
                if flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                // DONE and ERROR carry an errno (negative), 0 for success.
                let code = || {
                    payload
                        .get(..4)
                        .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                        .unwrap_or(0)
                };
                match kind {
                    NLMSG_DONE if code() < 0 => {
                        return Err(table_err(io::Error::from_raw_os_error(-code())));
                    }
                    NLMSG_DONE => break 'recv,
                    NLMSG_ERROR if code() != 0 => {
                        return Err(table_err(io::Error::from_raw_os_error(-code())));
                    }
                    NLMSG_ERROR | NLMSG_NOOP => {}
                    _ => each(message, payload, out),
                }
                rest = rest.get(align4(len)..).unwrap_or_default();
            }
        }
        if !interrupted || attempt == DUMP_TRIES {
            return Ok(());
        }
    }
    Ok(())
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn open() -> io::Result<NlSocket> {
    let mut socket = NlSocket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    // A larger kernel-side buffer lets big dumps arrive in fewer, larger reads. Best effort.
    let _ = socket.set_rx_buf_sz(1 << 20);
    Ok(socket)
}

fn send(socket: &NlSocket, request: &SockDiagMessage) -> io::Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut packet = NetlinkMessage::new(header, request.clone().into());
    packet.finalize();
    let mut bytes = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut bytes);
    socket.send(&bytes, 0)?;
    Ok(())
}

/// Parses one inet_diag answer (`struct inet_diag_msg` and its attributes, after the netlink
/// header). Pure, so it is fuzzed; None when the message is not a whole inet_diag_msg.
pub fn parse_inet(payload: &[u8], proto: Proto) -> Option<Socket> {
    let h = payload.get(..INET_DIAG_MSG_LEN)?;
    let u32_at = |o: usize| u32::from_ne_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
    let family = match h[0] {
        2 => Family::Inet,
        10 => Family::Inet6,
        _ => return None,
    };
    let interface = u32_at(40);
    let ip = |o: usize| -> IpAddr {
        match family {
            Family::Inet => IpAddr::from([h[o], h[o + 1], h[o + 2], h[o + 3]]),
            _ => {
                let mut a = [0u8; 16];
                a.copy_from_slice(&h[o..o + 16]);
                IpAddr::from(a)
            }
        }
    };
    let end = |ip: IpAddr, port: u16| Endpoint {
        addr: Addr::Ip {
            ip,
            scope: match ip {
                IpAddr::V6(v6) if v6.is_unicast_link_local() => interface,
                _ => 0,
            },
        },
        port: Some(port),
    };
    let mut s = Socket::new(
        proto,
        family,
        end(ip(8), u16::from_be_bytes([h[4], h[5]])),
        end(ip(24), u16::from_be_bytes([h[6], h[7]])),
        State::from_kernel(h[1], proto != Proto::Tcp),
    );
    s.timer = TimerKind::from_kernel(h[2]).map(|kind| Timer {
        kind,
        expires_ms: u32_at(52),
        retries: h[3],
    });
    s.recv_q = u32_at(56);
    s.send_q = u32_at(60);
    s.uid = Some(u32_at(64));
    s.inode = u64::from(u32_at(68));
    let (mut info, mut cong) = (None, None);
    let mut rest = &payload[INET_DIAG_MSG_LEN..];
    while let Some(a) = rest.get(..4) {
        let len = usize::from(u16::from_ne_bytes([a[0], a[1]]));
        let kind = u16::from_ne_bytes([a[2], a[3]]) & 0x3fff;
        let Some(value) = rest.get(4..len) else {
            break;
        };
        match kind {
            INET_DIAG_INFO => info = Some(value),
            INET_DIAG_CONG => cong = Some(value),
            INET_DIAG_SKMEMINFO => {
                if let Some(m) = MemInfo::from_bytes(value) {
                    s.set_memory(m);
                }
            }
            INET_DIAG_SKV6ONLY => s.v6only = value.first().is_some_and(|&b| b != 0),
            _ => {}
        }
        rest = rest.get(align4(len)..).unwrap_or_default();
    }
    if proto == Proto::Tcp
        && let Some(info) = info.filter(|i| !i.is_empty())
    {
        s.set_tcp(TcpInfo::from_bytes(info, cong));
    }
    Some(s)
}

/// Converts a unix_diag answer; the peer's name is filled in later from the peer's own entry.
pub fn from_unix(r: &UnixResponse) -> Option<Socket> {
    let h = &r.header;
    let unix_type = UnixType::from_kernel(h.kind)?;
    let local = match r.name() {
        Some(UnixDiagName::Pathname(p)) => Addr::Path(p.to_string_lossy().into_owned()),
        Some(UnixDiagName::Abstract(a)) => Addr::Abstract(
            String::from_utf8_lossy(a)
                .trim_end_matches('\0')
                .replace('\0', "@"),
        ),
        None => Addr::Unnamed,
    };
    let mut s = Socket::new(
        Proto::Unix,
        Family::Unix,
        Endpoint {
            addr: local,
            port: None,
        },
        Endpoint {
            addr: Addr::Unnamed,
            port: None,
        },
        State::from_kernel(h.state, true),
    );
    s.inode = u64::from(h.inode);
    s.unix_type = Some(unix_type);
    s.peer_inode = r.peer().filter(|&p| p != 0).map(u64::from);
    for nla in &r.nlas {
        match nla {
            unix::nlas::Nla::ReceiveQueueLength(rq, wq) => {
                s.recv_q = *rq;
                s.send_q = *wq;
            }
            // The kernel sends a 4-byte uid; anything else is ignored rather than trusted.
            unix::nlas::Nla::Other(attr)
                if attr.kind() == UNIX_DIAG_UID && attr.value_len() == 4 =>
            {
                let mut v = [0u8; 4];
                attr.emit_value(&mut v);
                s.uid = Some(u32::from_ne_bytes(v));
            }
            _ => {}
        }
    }
    Some(s)
}

/// Gives each connected UNIX socket its peer's name as the remote address.
fn resolve_unix_peers(sockets: &mut [Socket]) {
    let names: std::collections::HashMap<u64, Addr> = sockets
        .iter()
        .filter(|s| s.local.addr != Addr::Unnamed)
        .map(|s| (s.inode, s.local.addr.clone()))
        .collect();
    for s in sockets.iter_mut() {
        if let Some(peer) = s.peer_inode
            && let Some(name) = names.get(&peer)
        {
            s.remote.addr = name.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_errors_are_reported_not_swallowed() {
        // No inet_diag handler exists for IP protocol 253 (reserved for experiments): the
        // kernel answers with an error, which must surface instead of an empty table.
        let request = SockDiagMessage::InetRequest(InetRequest {
            family: AF_INET,
            protocol: 253,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::all(),
            socket_id: SocketId::new_v4(),
        });
        let mut out: Vec<()> = Vec::new();
        let err = dump(&request, "test", &mut out, |_, _, _| {})
            .expect_err("an error, not an empty table");
        let text = err.to_string();
        assert!(
            text.contains("cannot read the kernel's socket table (test)"),
            "{text}"
        );
    }

    #[test]
    fn dumps_our_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let v = inet_sockets(Proto::Tcp, Family::Inet, 1 << 10, true, &|s| {
            s.local.port == Some(port)
        })
        .unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].state, State::Listen);
        assert!(v[0].inode > 0);
    }
}
