//! ICMP and ICMPv6 echo packets: building requests and parsing what comes back (replies and the
//! errors that quote our requests), as pure functions over bytes built on pnet's packet types.
//! Nothing here trusts its input: short or malformed packets give `None` or [`Incoming::Other`],
//! never a panic.

use std::net::IpAddr;

use pnet::packet::Packet;
use pnet::packet::icmp::{self, IcmpCode, IcmpPacket, IcmpTypes};
use pnet::packet::icmpv6::{Icmpv6Code, Icmpv6Packet, Icmpv6Types};
use pnet::packet::ip::IpNextHeaderProtocols;
use pnet::packet::ipv4::Ipv4Packet;
use pnet::packet::ipv6::Ipv6Packet;

/// The ICMP (and ICMPv6) header: type, code, checksum, identifier, sequence.
pub const ICMP_HEADER: usize = 8;
/// The IPv4 header without options.
pub const IPV4_HEADER: usize = 20;

/// The IP version of a socket or packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: IpAddr) -> Family {
        if addr.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }
}

/// The payload of every request: the bytes 0, 1, 2, … (mod 256), checked on the reply.
pub fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 256) as u8).collect()
}

/// An echo request with this identifier, sequence and payload. The ICMPv4 checksum is filled
/// in; for ICMPv6 the kernel computes it (it needs the source address).
pub fn build_echo_request(family: Family, id: u16, seq: u16, data: &[u8]) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; ICMP_HEADER + data.len()];
    match family {
        Family::V4 => {
            let mut p = icmp::echo_request::MutableEchoRequestPacket::new(&mut buf)?;
            p.set_icmp_type(IcmpTypes::EchoRequest);
            p.set_icmp_code(IcmpCode(0));
            p.set_identifier(id);
            p.set_sequence_number(seq);
            p.set_payload(data);
            let sum = icmp::checksum(&IcmpPacket::new(p.packet())?);
            p.set_checksum(sum);
        }
        Family::V6 => {
            let mut p =
                pnet::packet::icmpv6::echo_request::MutableEchoRequestPacket::new(&mut buf)?;
            p.set_icmpv6_type(Icmpv6Types::EchoRequest);
            p.set_icmpv6_code(Icmpv6Code(0));
            p.set_identifier(id);
            p.set_sequence_number(seq);
            p.set_payload(data);
        }
    }
    Some(buf)
}

/// An ICMP error: type and code as on the wire, plus the MTU where the message carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpError {
    pub family: Family,
    pub icmp_type: u8,
    pub code: u8,
    pub mtu: Option<u32>,
}

impl IcmpError {
    /// The text iputils prints for it (`Time to live exceeded`, `Destination Port Unreachable`).
    pub fn text(&self) -> String {
        match (self.family, self.icmp_type, self.code) {
            (Family::V4, 3, code) => match code {
                0 => "Destination Net Unreachable".into(),
                1 => "Destination Host Unreachable".into(),
                2 => "Destination Protocol Unreachable".into(),
                3 => "Destination Port Unreachable".into(),
                4 => format!("Frag needed and DF set (mtu = {})", self.mtu.unwrap_or(0)),
                5 => "Source Route Failed".into(),
                6 => "Destination Net Unknown".into(),
                7 => "Destination Host Unknown".into(),
                8 => "Source Host Isolated".into(),
                9 => "Destination Net Prohibited".into(),
                10 => "Destination Host Prohibited".into(),
                11 => "Destination Net Unreachable for Type of Service".into(),
                12 => "Destination Host Unreachable for Type of Service".into(),
                13 => "Packet filtered".into(),
                14 => "Precedence Violation".into(),
                15 => "Precedence Cutoff".into(),
                c => format!("Dest Unreachable, Bad Code: {c}"),
            },
            (Family::V4, 11, 0) => "Time to live exceeded".into(),
            (Family::V4, 11, 1) => "Frag reassembly time exceeded".into(),
            (Family::V4, 12, _) => "Parameter problem".into(),
            (Family::V6, 1, code) => match code {
                0 => "Destination unreachable: No route".into(),
                1 => "Destination unreachable: Administratively prohibited".into(),
                2 => "Destination unreachable: Beyond scope of source address".into(),
                3 => "Destination unreachable: Address unreachable".into(),
                4 => "Destination unreachable: Port unreachable".into(),
                c => format!("Destination unreachable: Unknown code {c}"),
            },
            (Family::V6, 2, _) => format!("Packet too big: mtu={}", self.mtu.unwrap_or(0)),
            (Family::V6, 3, 0) => "Time exceeded: Hop limit".into(),
            (Family::V6, 3, 1) => "Time exceeded: Defrag failure".into(),
            (Family::V6, 4, _) => "Parameter problem".into(),
            (_, t, c) => format!("ICMP error type {t} code {c}"),
        }
    }
}

/// What a received packet is, for ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// An echo reply.
    Reply {
        id: u16,
        seq: u16,
        data: &'a [u8],
        /// From the IPv4 header when the socket delivers it (raw IPv4).
        ttl: Option<u8>,
    },
    /// An ICMP error quoting one of our echo requests (to `dest`).
    Error {
        error: IcmpError,
        id: u16,
        seq: u16,
        dest: IpAddr,
    },
    /// Anything else (other ICMP types, errors about other traffic).
    Other,
}

/// Parses an ICMPv4 packet as a raw socket (`with_ip_header`) or a datagram socket (without)
/// delivers it. `None`: too short or malformed.
pub fn parse_v4(buf: &[u8], with_ip_header: bool) -> Option<Incoming<'_>> {
    let (icmp_bytes, ttl) = if with_ip_header {
        let ip = Ipv4Packet::new(buf)?;
        let ihl = usize::from(ip.get_header_length()) * 4;
        if ihl < IPV4_HEADER || ip.get_version() != 4 {
            return None;
        }
        (buf.get(ihl..)?, Some(ip.get_ttl()))
    } else {
        (buf, None)
    };
    if icmp_bytes.len() < ICMP_HEADER {
        return None;
    }
    let packet = IcmpPacket::new(icmp_bytes)?;
    // A raw IPv4 socket gets ICMP as it came off the wire, checksum unchecked by the kernel
    // (datagram sockets and ICMPv6 are checked for us): a damaged packet is no reply.
    if with_ip_header && pnet::packet::icmp::checksum(&packet) != packet.get_checksum() {
        return Some(Incoming::Other);
    }
    let t = packet.get_icmp_type();
    if t == IcmpTypes::EchoReply {
        let (id, seq) = id_seq(icmp_bytes)?;
        return Some(Incoming::Reply {
            id,
            seq,
            data: icmp_bytes.get(ICMP_HEADER..)?,
            ttl,
        });
    }
    if t != IcmpTypes::DestinationUnreachable
        && t != IcmpTypes::TimeExceeded
        && t != IcmpTypes::ParameterProblem
    {
        return Some(Incoming::Other);
    }
    let code = packet.get_icmp_code().0;
    let mtu = (t == IcmpTypes::DestinationUnreachable && code == 4)
        .then(|| u32::from(u16::from_be_bytes([icmp_bytes[6], icmp_bytes[7]])));
    let error = IcmpError {
        family: Family::V4,
        icmp_type: t.0,
        code,
        mtu,
    };
    Some(quoted_v4(icmp_bytes.get(ICMP_HEADER..)?, error).unwrap_or(Incoming::Other))
}

/// The echo request an ICMPv4 error quotes: its IP header and at least 8 bytes of ICMP.
fn quoted_v4(inner: &[u8], error: IcmpError) -> Option<Incoming<'_>> {
    let ip = Ipv4Packet::new(inner)?;
    let ihl = usize::from(ip.get_header_length()) * 4;
    if ihl < IPV4_HEADER || ip.get_next_level_protocol() != IpNextHeaderProtocols::Icmp {
        return None;
    }
    let req = inner.get(ihl..)?;
    if req.len() < ICMP_HEADER || IcmpPacket::new(req)?.get_icmp_type() != IcmpTypes::EchoRequest {
        return None;
    }
    let (id, seq) = id_seq(req)?;
    Some(Incoming::Error {
        error,
        id,
        seq,
        dest: IpAddr::V4(ip.get_destination()),
    })
}

/// Parses an ICMPv6 packet (sockets never deliver the IPv6 header). `None`: too short.
pub fn parse_v6(buf: &[u8]) -> Option<Incoming<'_>> {
    if buf.len() < ICMP_HEADER {
        return None;
    }
    let packet = Icmpv6Packet::new(buf)?;
    let t = packet.get_icmpv6_type();
    if t == Icmpv6Types::EchoReply {
        let (id, seq) = id_seq(buf)?;
        return Some(Incoming::Reply {
            id,
            seq,
            data: buf.get(ICMP_HEADER..)?,
            ttl: None,
        });
    }
    if !(1..=4).contains(&t.0) {
        return Some(Incoming::Other);
    }
    let mtu = (t == Icmpv6Types::PacketTooBig)
        .then(|| u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]));
    let error = IcmpError {
        family: Family::V6,
        icmp_type: t.0,
        code: packet.get_icmpv6_code().0,
        mtu,
    };
    Some(quoted_v6(buf.get(ICMP_HEADER..)?, error).unwrap_or(Incoming::Other))
}

/// The echo request an ICMPv6 error quotes (no extension headers).
fn quoted_v6(inner: &[u8], error: IcmpError) -> Option<Incoming<'_>> {
    let ip = Ipv6Packet::new(inner)?;
    if ip.get_next_header() != IpNextHeaderProtocols::Icmpv6 {
        return None;
    }
    let req = inner.get(40..)?;
    if req.len() < ICMP_HEADER
        || Icmpv6Packet::new(req)?.get_icmpv6_type() != Icmpv6Types::EchoRequest
    {
        return None;
    }
    let (id, seq) = id_seq(req)?;
    Some(Incoming::Error {
        error,
        id,
        seq,
        dest: IpAddr::V6(ip.get_destination()),
    })
}

/// The identifier and sequence of one of our own echo requests, as the kernel hands it back
/// from a datagram socket's error queue.
pub fn parse_own_request(family: Family, buf: &[u8]) -> Option<(u16, u16)> {
    let is_request = match family {
        Family::V4 => IcmpPacket::new(buf)?.get_icmp_type() == IcmpTypes::EchoRequest,
        Family::V6 => Icmpv6Packet::new(buf)?.get_icmpv6_type() == Icmpv6Types::EchoRequest,
    };
    if is_request { id_seq(buf) } else { None }
}

/// Identifier and sequence of an echo header (same place in ICMP and ICMPv6).
fn id_seq(icmp: &[u8]) -> Option<(u16, u16)> {
    let b = icmp.get(4..ICMP_HEADER)?;
    Some((
        u16::from_be_bytes([b[0], b[1]]),
        u16::from_be_bytes([b[2], b[3]]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// A 20-byte IPv4 header (protocol ICMP) from `src` to `dst` with this TTL.
    fn ipv4_header(src: [u8; 4], dst: [u8; 4], ttl: u8, total: usize) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0, 0, ttl, 1, 0, 0];
        h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        h.extend_from_slice(&src);
        h.extend_from_slice(&dst);
        h
    }

    /// Sets the ICMP checksum of `icmp` as a sender would.
    fn fix_checksum(icmp: &mut [u8]) {
        icmp[2..4].copy_from_slice(&[0, 0]);
        let sum = pnet::packet::icmp::checksum(&IcmpPacket::new(icmp).unwrap());
        icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    }

    fn reply_v4(id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
        let mut p = build_echo_request(Family::V4, id, seq, data).unwrap();
        p[0] = 0; // echo reply
        fix_checksum(&mut p);
        p
    }

    #[test]
    fn damaged_checksum_on_a_raw_socket_is_no_reply() {
        let mut icmp = reply_v4(5, 3, b"xyz");
        icmp[9] ^= 0xff;
        let mut raw = ipv4_header([127, 0, 0, 1], [127, 0, 0, 1], 63, 20 + icmp.len());
        raw.extend_from_slice(&icmp);
        assert_eq!(parse_v4(&raw, true), Some(Incoming::Other));
    }

    #[test]
    fn request_v4_has_valid_checksum_and_fields() {
        let p = build_echo_request(Family::V4, 0x1234, 7, &payload(56)).unwrap();
        assert_eq!(p.len(), 64);
        assert_eq!(p[0], 8);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
        // The one's complement sum over a packet with a correct checksum is 0xffff.
        let mut sum = 0u32;
        for c in p.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff);
        assert_eq!(parse_own_request(Family::V4, &p), Some((0x1234, 7)));
    }

    #[test]
    fn request_v6_fields() {
        let p = build_echo_request(Family::V6, 9, 65535, b"ab").unwrap();
        assert_eq!(p, vec![128, 0, 0, 0, 0, 9, 0xff, 0xff, b'a', b'b']);
        assert_eq!(parse_own_request(Family::V6, &p), Some((9, 65535)));
        assert_eq!(parse_own_request(Family::V4, &p), None);
    }

    #[test]
    fn reply_v4_with_and_without_ip_header() {
        let icmp = reply_v4(5, 3, b"xyz");
        let mut raw = ipv4_header([127, 0, 0, 1], [127, 0, 0, 1], 63, 20 + icmp.len());
        raw.extend_from_slice(&icmp);
        assert_eq!(
            parse_v4(&raw, true),
            Some(Incoming::Reply {
                id: 5,
                seq: 3,
                data: b"xyz",
                ttl: Some(63)
            })
        );
        assert_eq!(
            parse_v4(&icmp, false),
            Some(Incoming::Reply {
                id: 5,
                seq: 3,
                data: b"xyz",
                ttl: None
            })
        );
    }

    #[test]
    fn time_exceeded_v4_quotes_our_request() {
        let req = build_echo_request(Family::V4, 77, 2, &payload(56)).unwrap();
        let quoted_ip = ipv4_header([198, 18, 1, 1], [198, 18, 2, 2], 1, 84);
        let mut err = vec![11, 0, 0, 0, 0, 0, 0, 0];
        err.extend_from_slice(&quoted_ip);
        err.extend_from_slice(&req[..8]);
        fix_checksum(&mut err);
        let mut raw = ipv4_header([198, 18, 1, 2], [198, 18, 1, 1], 64, 20 + err.len());
        raw.extend_from_slice(&err);
        match parse_v4(&raw, true) {
            Some(Incoming::Error {
                error,
                id,
                seq,
                dest,
            }) => {
                assert_eq!((id, seq), (77, 2));
                assert_eq!(dest, IpAddr::V4(Ipv4Addr::new(198, 18, 2, 2)));
                assert_eq!(error.text(), "Time to live exceeded");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn frag_needed_carries_mtu() {
        let req = build_echo_request(Family::V4, 1, 1, &[]).unwrap();
        let mut err = vec![3, 4, 0, 0, 0, 0, 0x05, 0xdc];
        err.extend_from_slice(&ipv4_header([1, 1, 1, 1], [198, 18, 0, 9], 5, 28));
        err.extend_from_slice(&req);
        match parse_v4(&err, false) {
            Some(Incoming::Error { error, .. }) => {
                assert_eq!(error.text(), "Frag needed and DF set (mtu = 1500)")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn errors_about_other_traffic_are_other() {
        // A port unreachable quoting a UDP datagram, not an echo request.
        let mut quoted = ipv4_header([1, 2, 3, 4], [5, 6, 7, 8], 64, 28);
        quoted[9] = 17;
        let mut err = vec![3, 3, 0, 0, 0, 0, 0, 0];
        err.extend_from_slice(&quoted);
        err.extend_from_slice(&[0; 8]);
        assert_eq!(parse_v4(&err, false), Some(Incoming::Other));
        // An echo request (someone pinging us) is not for us either.
        let req = build_echo_request(Family::V4, 1, 1, &[]).unwrap();
        assert_eq!(parse_v4(&req, false), Some(Incoming::Other));
    }

    #[test]
    fn truncated_and_malformed_v4_never_panic() {
        let icmp = reply_v4(5, 3, b"xyz");
        let mut raw = ipv4_header([127, 0, 0, 1], [127, 0, 0, 1], 63, 20 + icmp.len());
        raw.extend_from_slice(&icmp);
        for n in 0..raw.len() {
            let _ = parse_v4(&raw[..n], true);
            let _ = parse_v4(&raw[..n], false);
        }
        assert_eq!(parse_v4(&raw[..27], true), None);
        assert_eq!(parse_v4(&icmp[..7], false), None);
        // IHL smaller than 5, IHL pointing past the end, wrong version.
        let mut bad = raw.clone();
        bad[0] = 0x42;
        assert_eq!(parse_v4(&bad, true), None);
        bad[0] = 0x4f;
        assert_eq!(parse_v4(&bad, true), None);
        bad[0] = 0x65;
        assert_eq!(parse_v4(&bad, true), None);
        // An error whose quote is cut short.
        let mut err = vec![11, 0, 0, 0, 0, 0, 0, 0];
        err.extend_from_slice(&ipv4_header([1, 1, 1, 1], [2, 2, 2, 2], 1, 28));
        err.extend_from_slice(&[8, 0, 0]);
        assert_eq!(parse_v4(&err, false), Some(Incoming::Other));
        for n in 0..err.len() {
            let _ = parse_v4(&err[..n], false);
        }
    }

    #[test]
    fn reply_and_errors_v6() {
        let mut reply = build_echo_request(Family::V6, 4, 9, b"hi").unwrap();
        reply[0] = 129;
        assert_eq!(
            parse_v6(&reply),
            Some(Incoming::Reply {
                id: 4,
                seq: 9,
                data: b"hi",
                ttl: None
            })
        );
        // Time exceeded quoting an IPv6 header (next header 58) and our request.
        let req = build_echo_request(Family::V6, 4, 10, b"hi").unwrap();
        let dst: Ipv6Addr = "fd00::2".parse().unwrap();
        let mut ip6 = vec![0x60, 0, 0, 0, 0, 10, 58, 1];
        ip6.extend_from_slice(&"fd00::1".parse::<Ipv6Addr>().unwrap().octets());
        ip6.extend_from_slice(&dst.octets());
        let mut err = vec![3, 0, 0, 0, 0, 0, 0, 0];
        err.extend_from_slice(&ip6);
        err.extend_from_slice(&req);
        match parse_v6(&err) {
            Some(Incoming::Error {
                error,
                id,
                seq,
                dest,
            }) => {
                assert_eq!((id, seq, dest), (4, 10, IpAddr::V6(dst)));
                assert_eq!(error.text(), "Time exceeded: Hop limit");
            }
            other => panic!("unexpected {other:?}"),
        }
        for n in 0..err.len() {
            let _ = parse_v6(&err[..n]);
        }
        assert_eq!(parse_v6(&err[..7]), None);
        assert_eq!(parse_v6(&err[..50]), Some(Incoming::Other));
        // Neighbour solicitation and friends are not ours.
        assert_eq!(parse_v6(&[135, 0, 0, 0, 0, 0, 0, 0]), Some(Incoming::Other));
    }

    #[test]
    fn packet_too_big_v6() {
        let e = IcmpError {
            family: Family::V6,
            icmp_type: 2,
            code: 0,
            mtu: Some(1280),
        };
        assert_eq!(e.text(), "Packet too big: mtu=1280");
        let e = IcmpError {
            family: Family::V4,
            icmp_type: 3,
            code: 3,
            mtu: None,
        };
        assert_eq!(e.text(), "Destination Port Unreachable");
    }
}
