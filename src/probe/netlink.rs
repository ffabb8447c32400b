//! One request, one answer over NETLINK_ROUTE: what the route and neighbour lookups share.

use std::io;

use netlink_packet_core::{NLM_F_REQUEST, NetlinkHeader, NetlinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// Large enough for any single route or neighbour message (a few hundred bytes in practice).
const RECV_BUF: usize = 32 * 1024;

/// Sends `message` as a plain request (no dump) and returns the bytes of the kernel's answer:
/// the one netlink message that answers it (the reply, or an NLMSG_ERROR).
pub fn ask(message: RouteNetlinkMessage) -> io::Result<Vec<u8>> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST;
    header.sequence_number = 1;
    let mut packet = NetlinkMessage::new(header, message.into());
    packet.finalize();
    let mut bytes = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut bytes);
    socket.send(&bytes, 0)?;
    let mut buf = vec![0u8; RECV_BUF];
    let n = socket.recv(&mut &mut buf[..], 0)?;
    buf.truncate(n);
    // The first message is the answer; its header says how long it is.
    let len = buf
        .get(..4)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .filter(|&l| l >= 16 && l <= n)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the kernel's netlink answer is cut short ({n} bytes)"),
            )
        })?;
    buf.truncate(len);
    Ok(buf)
}
