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
    inet::{ExtensionFlags, InetRequest, InetResponse, SocketId, StateFlags},
    unix::{self, ShowFlags, UnixRequest, UnixResponse, nlas::UnixDiagName},
};
use netlink_sys::{Socket as NlSocket, SocketAddr, protocols::NETLINK_SOCK_DIAG};

use crate::error::{Error, Result};
use crate::sockets::{Addr, Endpoint, Family, Proto, Socket, State, UnixType};

/// `UDIAG_SHOW_UID` (Linux 5.3+): ask for the uid of UNIX sockets.
const UDIAG_SHOW_UID: u32 = 1 << 6;
/// `UNIX_DIAG_UID`: the attribute that carries it.
const UNIX_DIAG_UID: u16 = 7;
/// Receive buffer: large enough for the biggest dump message the kernel builds (32 KiB).
const RECV_BUF: usize = 256 * 1024;
/// A dump interrupted by concurrent changes (NLM_F_DUMP_INTR) is tried again this many times.
const DUMP_TRIES: usize = 3;

/// Dumps TCP or UDP sockets of one family, with the kernel doing the state filtering.
pub fn inet_sockets(
    proto: Proto,
    family: Family,
    state_mask: u32,
    keep: &dyn Fn(&Socket) -> bool,
) -> Result<Vec<Socket>> {
    let (af, socket_id) = match family {
        Family::Inet => (AF_INET, SocketId::new_v4()),
        _ => (AF_INET6, SocketId::new_v6()),
    };
    let protocol = match proto {
        Proto::Tcp => IPPROTO_TCP,
        _ => IPPROTO_UDP,
    };
    let request = SockDiagMessage::InetRequest(InetRequest {
        family: af,
        protocol,
        extensions: ExtensionFlags::empty(),
        states: StateFlags::from_bits_retain(state_mask),
        socket_id,
    });
    let what = format!("{} over {}", proto.name(), family_name(family));
    let mut out = Vec::new();
    dump(&request, &what, &mut out, |msg, out| {
        if let SockDiagMessage::InetResponse(r) = msg {
            let s = from_inet(&r, proto, family);
            if keep(&s) {
                out.push(s);
            }
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
    dump(&request, "unix", &mut out, |msg, out| {
        if let SockDiagMessage::UnixResponse(r) = msg
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

/// Sends one dump request and feeds every answer to `each`. Netlink errors become errors; an
/// interrupted dump is retried from scratch.
fn dump<T>(
    request: &SockDiagMessage,
    what: &str,
    out: &mut Vec<T>,
    mut each: impl FnMut(SockDiagMessage, &mut Vec<T>),
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
            let mut offset = 0;
            while offset < n {
                let msg = NetlinkMessage::<SockDiagMessage>::deserialize(&buf[offset..n]).map_err(
                    |e| table_err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
                )?;
                let len = msg.header.length as usize;
                if msg.header.flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match msg.payload {
                    // A dump that failed in the kernel ends with DONE carrying -errno.
                    NetlinkPayload::Done(d) if d.code < 0 => {
                        return Err(table_err(io::Error::from_raw_os_error(-d.code)));
                    }
                    NetlinkPayload::Done(_) => break 'recv,
                    NetlinkPayload::Error(e) => {
                        let code = e.raw_code();
                        return Err(table_err(io::Error::from_raw_os_error(-code)));
                    }
                    NetlinkPayload::InnerMessage(m) => each(m, out),
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                offset += align4(len);
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

/// Converts an inet_diag answer. IPv4-mapped IPv6 addresses stay IPv6 (`::ffff:a.b.c.d`).
pub fn from_inet(r: &InetResponse, proto: Proto, family: Family) -> Socket {
    let h = &r.header;
    let id = &h.socket_id;
    let local_ip = normalise(id.source_address, family);
    let remote_ip = normalise(id.destination_address, family);
    let scope = |ip: &IpAddr| match ip {
        IpAddr::V6(v6) if v6.is_unicast_link_local() => id.interface_id,
        _ => 0,
    };
    let mut s = Socket::new(
        proto,
        family,
        Endpoint {
            addr: Addr::Ip {
                ip: local_ip,
                scope: scope(&local_ip),
            },
            port: Some(id.source_port),
        },
        Endpoint {
            addr: Addr::Ip {
                ip: remote_ip,
                scope: scope(&remote_ip),
            },
            port: Some(id.destination_port),
        },
        State::from_kernel(h.state, proto != Proto::Tcp),
    );
    s.recv_q = h.recv_queue;
    s.send_q = h.send_queue;
    s.inode = u64::from(h.inode);
    s.uid = Some(h.uid);
    s.v6only = r
        .nlas
        .iter()
        .any(|n| matches!(n, netlink_packet_sock_diag::inet::nlas::Nla::SkV6Only(true)));
    s
}

/// The crate hands IPv4 answers over as the address family says; make sure an AF_INET socket
/// carries an IPv4 address and an AF_INET6 one an IPv6 address.
fn normalise(ip: IpAddr, family: Family) -> IpAddr {
    match (ip, family) {
        (IpAddr::V6(v6), Family::Inet) => v6.to_ipv4().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        (ip, _) => ip,
    }
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
        let err =
            dump(&request, "test", &mut out, |_, _| {}).expect_err("an error, not an empty table");
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
        let v = inet_sockets(Proto::Tcp, Family::Inet, 1 << 10, &|s| {
            s.local.port == Some(port)
        })
        .unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].state, State::Listen);
        assert!(v[0].inode > 0);
    }
}
