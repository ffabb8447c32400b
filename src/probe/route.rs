//! The kernel's route to a destination: RTM_GETROUTE over NETLINK_ROUTE, as `ip route get`
//! asks it. The answer is parsed by a pure function over its bytes, unit-tested on fixtures.
//!
//! A destination that a route refuses gets no route message back but an error, whose errno
//! names the route type (on this kernel, for IPv4 and IPv6 alike): EHOSTUNREACH an
//! `unreachable` route, EACCES a `prohibit` route, EINVAL a `blackhole` route, ENETUNREACH no
//! route at all (a `throw` route ends the same way: the lookup goes on and finds nothing).

use std::io;
use std::net::IpAddr;

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::error::{Error, Result};

/// The type of the route the kernel chose (`ip route` names), or `None` when there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    Unicast,
    Local,
    Broadcast,
    Anycast,
    Multicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
    Nat,
    Xresolve,
    Unspec,
    /// No route: the kernel answered ENETUNREACH.
    None,
    /// A type number this code does not know.
    Other(u8),
}

impl RouteKind {
    /// The name `ip route` prints ("none" for no route, "type-N" for an unknown one).
    pub fn name(self) -> String {
        match self {
            RouteKind::Unicast => "unicast",
            RouteKind::Local => "local",
            RouteKind::Broadcast => "broadcast",
            RouteKind::Anycast => "anycast",
            RouteKind::Multicast => "multicast",
            RouteKind::Blackhole => "blackhole",
            RouteKind::Unreachable => "unreachable",
            RouteKind::Prohibit => "prohibit",
            RouteKind::Throw => "throw",
            RouteKind::Nat => "nat",
            RouteKind::Xresolve => "xresolve",
            RouteKind::Unspec => "unspec",
            RouteKind::None => "none",
            RouteKind::Other(n) => return format!("type-{n}"),
        }
        .to_string()
    }

    /// Whether packets to the destination can leave (or be delivered here) by this route.
    pub fn usable(self) -> bool {
        matches!(
            self,
            RouteKind::Unicast
                | RouteKind::Local
                | RouteKind::Broadcast
                | RouteKind::Anycast
                | RouteKind::Multicast
        )
    }

    fn of(t: RouteType) -> RouteKind {
        match t {
            RouteType::Unspec => RouteKind::Unspec,
            RouteType::Unicast => RouteKind::Unicast,
            RouteType::Local => RouteKind::Local,
            RouteType::Broadcast => RouteKind::Broadcast,
            RouteType::Anycast => RouteKind::Anycast,
            RouteType::Multicast => RouteKind::Multicast,
            RouteType::BlackHole => RouteKind::Blackhole,
            RouteType::Unreachable => RouteKind::Unreachable,
            RouteType::Prohibit => RouteKind::Prohibit,
            RouteType::Throw => RouteKind::Throw,
            RouteType::Nat => RouteKind::Nat,
            RouteType::ExternalResolve => RouteKind::Xresolve,
            RouteType::Other(n) => RouteKind::Other(n),
            // The crate's enum is non_exhaustive: a type added later keeps its number.
            _ => RouteKind::Other(u8::from(t)),
        }
    }

    /// The route type an error answer stands for (see the module doc).
    fn of_errno(errno: i32) -> Option<RouteKind> {
        match errno {
            libc::ENETUNREACH => Some(RouteKind::None),
            libc::EHOSTUNREACH => Some(RouteKind::Unreachable),
            libc::EACCES => Some(RouteKind::Prohibit),
            libc::EINVAL => Some(RouteKind::Blackhole),
            _ => None,
        }
    }
}

/// The kernel's route to one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub kind: RouteKind,
    /// The output interface (its index), when the route has one.
    pub ifindex: Option<u32>,
    /// Its name, in this process's network namespace (filled by `get`, not by the parser).
    pub ifname: Option<String>,
    /// The preferred source address (`src` of `ip route get`).
    pub source: Option<IpAddr>,
    /// The next hop, when it is not the destination itself.
    pub gateway: Option<IpAddr>,
}

impl Route {
    fn refused(kind: RouteKind) -> Route {
        Route {
            kind,
            ifindex: None,
            ifname: None,
            source: None,
            gateway: None,
        }
    }
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// Parses the kernel's answer to RTM_GETROUTE (one netlink message: RTM_NEWROUTE, or an
/// NLMSG_ERROR whose errno names a refusing route type). None when the bytes are neither, or
/// the error is one no route type explains.
pub fn parse_route(buf: &[u8]) -> Option<Route> {
    let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(buf).ok()?;
    match msg.payload {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(m)) => {
            let mut route = Route::refused(RouteKind::of(m.header.kind));
            for a in &m.attributes {
                match a {
                    RouteAttribute::Oif(i) => route.ifindex = Some(*i),
                    RouteAttribute::PrefSource(s) => route.source = ip_of(s),
                    RouteAttribute::Gateway(g) => route.gateway = ip_of(g),
                    _ => {}
                }
            }
            Some(route)
        }
        NetlinkPayload::Error(e) if e.code.is_some() => {
            RouteKind::of_errno(e.raw_code().abs()).map(Route::refused)
        }
        _ => None,
    }
}

/// The errno of an NLMSG_ERROR answer (0 for an acknowledgement), None for anything else.
pub(super) fn answer_errno(buf: &[u8]) -> Option<i32> {
    match NetlinkMessage::<RouteNetlinkMessage>::deserialize(buf)
        .ok()?
        .payload
    {
        NetlinkPayload::Error(e) => Some(e.raw_code().abs()),
        _ => None,
    }
}

/// The RTM_GETROUTE request for `dst`, as `ip route get DST` builds it.
fn request(dst: IpAddr) -> RouteNetlinkMessage {
    let mut header = RouteHeader::default();
    let (family, len) = match dst {
        IpAddr::V4(_) => (AddressFamily::Inet, 32),
        IpAddr::V6(_) => (AddressFamily::Inet6, 128),
    };
    header.address_family = family;
    header.destination_prefix_length = len;
    let mut m = RouteMessage::default();
    m.header = header;
    m.attributes.push(RouteAttribute::Destination(dst.into()));
    RouteNetlinkMessage::GetRoute(m)
}

/// Asks the kernel which route it takes to `dst` (`ip route get DST`), in this thread's
/// network namespace. Sends nothing to `dst`.
pub fn get(dst: IpAddr) -> Result<Route> {
    let fail = |e: io::Error| {
        Error::Other(format!(
            "cannot ask the kernel for the route to {dst} (RTM_GETROUTE over NETLINK_ROUTE): {e}; \
             a sandbox (seccomp, a container's policy) may block netlink sockets, try outside it"
        ))
    };
    let answer = super::netlink::ask(request(dst)).map_err(fail)?;
    if let Some(mut route) = parse_route(&answer) {
        route.ifname = route.ifindex.and_then(interface_name);
        return Ok(route);
    }
    Err(fail(match answer_errno(&answer) {
        Some(errno) if errno != 0 => io::Error::from_raw_os_error(errno),
        _ => io::Error::new(
            io::ErrorKind::InvalidData,
            "the answer is not a route message",
        ),
    }))
}

/// The name of interface `index` in this network namespace (if_indextoname).
pub fn interface_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has the IF_NAMESIZE bytes if_indextoname writes at most.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success buf holds a NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
pub(super) mod fixtures {
    //! Netlink messages built byte by byte as the kernel lays them out (native byte order).

    /// A netlink message of `kind` around `payload`.
    pub fn nlmsg(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(&0u16.to_ne_bytes()); // flags
        v.extend_from_slice(&1u32.to_ne_bytes()); // seq
        v.extend_from_slice(&0u32.to_ne_bytes()); // pid
        v.extend_from_slice(payload);
        v
    }

    /// One attribute, padded to 4 bytes.
    pub fn rtattr(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(data);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    /// An NLMSG_ERROR answer with `errno` (the kernel sends it negated).
    pub fn error(errno: i32) -> Vec<u8> {
        let mut p = (-errno).to_ne_bytes().to_vec();
        p.extend_from_slice(&nlmsg(26, &[])); // the request's header
        nlmsg(2, &p)
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{error, nlmsg, rtattr};
    use super::*;

    const RTM_NEWROUTE: u16 = 24;
    const RTA_DST: u16 = 1;
    const RTA_OIF: u16 = 4;
    const RTA_GATEWAY: u16 = 5;
    const RTA_PREFSRC: u16 = 7;
    const RTA_TABLE: u16 = 15;
    const RTA_UID: u16 = 25;

    /// struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
    fn rtmsg(family: u8, dst_len: u8, table: u8, scope: u8, kind: u8) -> Vec<u8> {
        let mut v = vec![family, dst_len, 0, 0, table, 0, scope, kind];
        v.extend_from_slice(&0x200u32.to_ne_bytes()); // RTM_F_CLONED
        v
    }

    fn route_reply(head: Vec<u8>, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut p = head;
        for a in attrs {
            p.extend_from_slice(a);
        }
        nlmsg(RTM_NEWROUTE, &p)
    }

    #[test]
    fn local_loopback_v4() {
        // ip route get 127.0.0.1: local, dev lo (1), src 127.0.0.1, table local.
        let buf = route_reply(
            rtmsg(libc::AF_INET as u8, 32, 255, 254, 2),
            &[
                rtattr(RTA_TABLE, &255u32.to_ne_bytes()),
                rtattr(RTA_DST, &[127, 0, 0, 1]),
                rtattr(RTA_OIF, &1u32.to_ne_bytes()),
                rtattr(RTA_PREFSRC, &[127, 0, 0, 1]),
                rtattr(RTA_UID, &0u32.to_ne_bytes()),
            ],
        );
        let r = parse_route(&buf).unwrap();
        assert_eq!(r.kind, RouteKind::Local);
        assert_eq!(r.ifindex, Some(1));
        assert_eq!(r.ifname, None);
        assert_eq!(r.source, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(r.gateway, None);
        assert!(r.kind.usable());
    }

    #[test]
    fn unicast_via_gateway_v6() {
        let dst: std::net::Ipv6Addr = "2001:db8:1::5".parse().unwrap();
        let gw: std::net::Ipv6Addr = "fe80::1".parse().unwrap();
        let src: std::net::Ipv6Addr = "2001:db8::2".parse().unwrap();
        let buf = route_reply(
            rtmsg(libc::AF_INET6 as u8, 128, 254, 0, 1),
            &[
                rtattr(RTA_DST, &dst.octets()),
                rtattr(RTA_OIF, &7u32.to_ne_bytes()),
                rtattr(RTA_GATEWAY, &gw.octets()),
                rtattr(RTA_PREFSRC, &src.octets()),
                rtattr(0x7fff, &[1, 2, 3]), // an attribute this code does not know
            ],
        );
        let r = parse_route(&buf).unwrap();
        assert_eq!(r.kind, RouteKind::Unicast);
        assert_eq!(r.ifindex, Some(7));
        assert_eq!(r.gateway, Some(IpAddr::V6(gw)));
        assert_eq!(r.source, Some(IpAddr::V6(src)));
    }

    #[test]
    fn route_types_from_the_header() {
        for (n, kind) in [
            (6, RouteKind::Blackhole),
            (7, RouteKind::Unreachable),
            (8, RouteKind::Prohibit),
            (9, RouteKind::Throw),
            (3, RouteKind::Broadcast),
            (5, RouteKind::Multicast),
        ] {
            let buf = route_reply(rtmsg(libc::AF_INET as u8, 32, 254, 0, n), &[]);
            let r = parse_route(&buf).unwrap();
            assert_eq!(r.kind, kind, "type {n}");
            assert_eq!(r.ifindex, None);
        }
        assert_eq!(RouteKind::Blackhole.name(), "blackhole");
        assert_eq!(RouteKind::Other(42).name(), "type-42");
        assert!(!RouteKind::Prohibit.usable());
    }

    #[test]
    fn refusing_routes_from_the_errno() {
        for (errno, kind) in [
            (libc::ENETUNREACH, RouteKind::None),
            (libc::EHOSTUNREACH, RouteKind::Unreachable),
            (libc::EACCES, RouteKind::Prohibit),
            (libc::EINVAL, RouteKind::Blackhole),
        ] {
            let r = parse_route(&error(errno)).unwrap();
            assert_eq!(r, Route::refused(kind), "errno {errno}");
        }
        // Any other error is no route type: get() reports it.
        assert_eq!(parse_route(&error(libc::ENOBUFS)), None);
        assert_eq!(answer_errno(&error(libc::ENOBUFS)), Some(libc::ENOBUFS));
        assert_eq!(parse_route(&error(0)), None);
    }

    #[test]
    fn every_cut_and_flipped_byte_is_survived() {
        let whole = route_reply(
            rtmsg(libc::AF_INET6 as u8, 128, 254, 0, 1),
            &[
                rtattr(
                    RTA_DST,
                    &[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                ),
                rtattr(RTA_OIF, &7u32.to_ne_bytes()),
                rtattr(
                    RTA_GATEWAY,
                    &[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                ),
            ],
        );
        for n in 0..=whole.len() {
            let _ = parse_route(&whole[..n]);
            let _ = answer_errno(&whole[..n]);
        }
        for i in 0..whole.len() {
            for bit in 0..8 {
                let mut b = whole.clone();
                b[i] ^= 1 << bit;
                let _ = parse_route(&b);
            }
        }
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse_route(&[]), None);
        assert_eq!(parse_route(&[1, 2, 3]), None);
        let mut cut = route_reply(
            rtmsg(libc::AF_INET as u8, 32, 254, 0, 1),
            &[rtattr(RTA_OIF, &2u32.to_ne_bytes())],
        );
        cut.truncate(20);
        assert_eq!(parse_route(&cut), None);
        // A message of another type.
        assert_eq!(parse_route(&nlmsg(16, &[0; 16])), None);
    }
}
