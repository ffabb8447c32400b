//! The kernel's neighbour (ARP/NDP) entry for an address on an interface: RTM_GETNEIGH over
//! NETLINK_ROUTE, as `ip neigh get ADDR dev IF` asks it. Reading the state (INCOMPLETE, then
//! FAILED, for a local-link host that never answers) tells `host-down` without waiting out the
//! connect. Parsed by a pure function over the answer's bytes, unit-tested on fixtures.

use std::io;
use std::net::IpAddr;

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::error::{Error, Result};

/// A neighbour entry's state (the kernel's NUD_* values, as `ip neigh` names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighState {
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
    Failed,
    Noarp,
    Permanent,
    /// NUD_NONE: an entry just created, in no state yet.
    None,
    /// A state value this code does not know (or several bits at once).
    Other(u16),
}

impl NeighState {
    /// The name `ip neigh` prints.
    pub fn name(self) -> String {
        match self {
            NeighState::Incomplete => "INCOMPLETE",
            NeighState::Reachable => "REACHABLE",
            NeighState::Stale => "STALE",
            NeighState::Delay => "DELAY",
            NeighState::Probe => "PROBE",
            NeighState::Failed => "FAILED",
            NeighState::Noarp => "NOARP",
            NeighState::Permanent => "PERMANENT",
            NeighState::None => "NONE",
            NeighState::Other(n) => return format!("0x{n:x}"),
        }
        .to_string()
    }

    fn of(s: NeighbourState) -> NeighState {
        match s {
            NeighbourState::Incomplete => NeighState::Incomplete,
            NeighbourState::Reachable => NeighState::Reachable,
            NeighbourState::Stale => NeighState::Stale,
            NeighbourState::Delay => NeighState::Delay,
            NeighbourState::Probe => NeighState::Probe,
            NeighbourState::Failed => NeighState::Failed,
            NeighbourState::Noarp => NeighState::Noarp,
            NeighbourState::Permanent => NeighState::Permanent,
            NeighbourState::None => NeighState::None,
            NeighbourState::Other(n) => NeighState::Other(n),
            // The crate's enum is non_exhaustive: a state added later keeps its number.
            _ => NeighState::Other(u16::from(s)),
        }
    }
}

/// Parses the kernel's answer to RTM_GETNEIGH: the entry's state from an RTM_NEWNEIGH
/// message; None for anything else (no entry comes back as an ENOENT error).
pub fn parse_neigh(buf: &[u8]) -> Option<NeighState> {
    match NetlinkMessage::<RouteNetlinkMessage>::deserialize(buf)
        .ok()?
        .payload
    {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(m)) => {
            Some(NeighState::of(m.header.state))
        }
        _ => None,
    }
}

/// The RTM_GETNEIGH request for `addr` on interface `ifindex`, as `ip neigh get` builds it.
fn request(ifindex: u32, addr: IpAddr) -> RouteNetlinkMessage {
    let mut m = NeighbourMessage::default();
    let (family, dst) = match addr {
        IpAddr::V4(v4) => (AddressFamily::Inet, NeighbourAddress::Inet(v4)),
        IpAddr::V6(v6) => (AddressFamily::Inet6, NeighbourAddress::Inet6(v6)),
    };
    m.header.family = family;
    m.header.ifindex = ifindex;
    m.attributes.push(NeighbourAttribute::Destination(dst));
    RouteNetlinkMessage::GetNeighbour(m)
}

/// The state of the neighbour entry for `addr` on interface `ifindex` in this thread's network
/// namespace; `Ok(None)` when there is no entry. Sends nothing to `addr`.
pub fn get(ifindex: u32, addr: IpAddr) -> Result<Option<NeighState>> {
    let fail = |e: io::Error| {
        Error::Other(format!(
            "cannot ask the kernel for the neighbour entry of {addr} on interface {ifindex} \
             (RTM_GETNEIGH over NETLINK_ROUTE, Linux 5.0 or later): {e}; check that the \
             interface exists ('ip link'), and that no sandbox blocks netlink sockets"
        ))
    };
    let answer = super::netlink::ask(request(ifindex, addr)).map_err(fail)?;
    if let Some(state) = parse_neigh(&answer) {
        return Ok(Some(state));
    }
    match super::route::answer_errno(&answer) {
        Some(libc::ENOENT) => Ok(None),
        Some(errno) if errno != 0 => Err(fail(io::Error::from_raw_os_error(errno))),
        _ => Err(fail(io::Error::new(
            io::ErrorKind::InvalidData,
            "the answer is not a neighbour message",
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::route::fixtures::{error, nlmsg, rtattr};
    use super::*;

    const RTM_NEWNEIGH: u16 = 28;
    const NDA_DST: u16 = 1;
    const NDA_LLADDR: u16 = 2;

    /// struct ndmsg (family, pad, pad, ifindex, state, flags, type) and its attributes.
    fn neigh_reply(family: u8, ifindex: i32, state: u16, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut p = vec![family, 0, 0, 0];
        p.extend_from_slice(&ifindex.to_ne_bytes());
        p.extend_from_slice(&state.to_ne_bytes());
        p.push(0); // flags
        p.push(1); // type: RTN_UNICAST
        for a in attrs {
            p.extend_from_slice(a);
        }
        nlmsg(RTM_NEWNEIGH, &p)
    }

    #[test]
    fn every_state() {
        for (nud, state) in [
            (0x01, NeighState::Incomplete),
            (0x02, NeighState::Reachable),
            (0x04, NeighState::Stale),
            (0x08, NeighState::Delay),
            (0x10, NeighState::Probe),
            (0x20, NeighState::Failed),
            (0x40, NeighState::Noarp),
            (0x80, NeighState::Permanent),
            (0x00, NeighState::None),
        ] {
            let buf = neigh_reply(
                libc::AF_INET as u8,
                3,
                nud,
                &[
                    rtattr(NDA_DST, &[198, 18, 0, 7]),
                    rtattr(NDA_LLADDR, &[2, 0, 0, 0, 0, 1]),
                ],
            );
            assert_eq!(parse_neigh(&buf), Some(state), "nud 0x{nud:x}");
        }
        assert_eq!(NeighState::Stale.name(), "STALE");
    }

    #[test]
    fn v6_entry_without_link_address() {
        let dst: std::net::Ipv6Addr = "fe80::1".parse().unwrap();
        let buf = neigh_reply(
            libc::AF_INET6 as u8,
            2,
            0x20,
            &[rtattr(NDA_DST, &dst.octets())],
        );
        assert_eq!(parse_neigh(&buf), Some(NeighState::Failed));
    }

    #[test]
    fn no_entry_and_garbage() {
        assert_eq!(parse_neigh(&error(libc::ENOENT)), None);
        assert_eq!(parse_neigh(&[]), None);
        let mut cut = neigh_reply(libc::AF_INET as u8, 3, 0x02, &[]);
        cut.truncate(18);
        assert_eq!(parse_neigh(&cut), None);
    }
}
