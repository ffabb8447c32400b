//! Decoding of link, network and transport headers (pure, never panics).
//!
//! [`decode`] turns the bytes of one frame into owned, plain structs: the link header
//! ([`Link`]), any VLAN tags, the network layer ([`Network`]: ARP, IPv4, IPv6) and the transport
//! layer ([`Transport`]: TCP, UDP, ICMP, ICMPv6). Every length field is checked against the bytes
//! that are really there: a header cut short by the end of the capture is marked
//! *truncated*, a header whose own fields contradict each other (IPv4 header length below 20,
//! TCP data offset below 5, a UDP length beyond the IP payload) is marked *malformed*, and
//! whatever could be read before the problem is kept. Nothing here indexes out of bounds or
//! overflows, whatever the input (the tests feed it random and mutated frames).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::LinkType;
use super::handshake::{IcmpError, Segment};

/// TCP flag bit FIN (in [`Tcp::flags`]).
pub const FIN: u16 = 0x01;
/// TCP flag bit SYN.
pub const SYN: u16 = 0x02;
/// TCP flag bit RST.
pub const RST: u16 = 0x04;
/// TCP flag bit PSH.
pub const PSH: u16 = 0x08;
/// TCP flag bit ACK.
pub const ACK: u16 = 0x10;
/// TCP flag bit URG.
pub const URG: u16 = 0x20;
/// TCP flag bit ECE (ECN echo).
pub const ECE: u16 = 0x40;
/// TCP flag bit CWR (congestion window reduced).
pub const CWR: u16 = 0x80;
/// TCP flag bit NS (ECN nonce, now AE "accurate ECN"), the low bit of byte 12.
pub const NS: u16 = 0x100;

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of reverse ARP (same packet format as ARP).
pub const ETHERTYPE_RARP: u16 = 0x8035;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// EtherType (TPID) of an 802.1Q VLAN tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// EtherType (TPID) of an 802.1ad service tag (QinQ outer tag).
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
/// Old pre-standard QinQ TPID still seen in the wild.
pub const ETHERTYPE_QINQ_OLD: u16 = 0x9100;

/// IP protocol numbers this module knows by name.
pub mod ip_proto {
    /// IPv6 hop-by-hop options extension header.
    pub const HOPOPT: u8 = 0;
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 routing extension header.
    pub const ROUTING: u8 = 43;
    /// IPv6 fragment extension header.
    pub const FRAGMENT: u8 = 44;
    /// Encapsulating security payload.
    pub const ESP: u8 = 50;
    /// Authentication header.
    pub const AH: u8 = 51;
    /// ICMP for IPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 "no next header".
    pub const NO_NEXT: u8 = 59;
    /// IPv6 destination options extension header.
    pub const DSTOPTS: u8 = 60;
    /// IPv6 mobility extension header.
    pub const MOBILITY: u8 = 135;
}

/// A 48-bit MAC address, displayed as `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Mac(pub [u8; 6]);

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl serde::Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Everything decoded from one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The link-layer header.
    pub link: Link,
    /// 802.1Q / 802.1ad tags between the link header and the network layer, outermost first.
    pub vlans: Vec<Vlan>,
    /// The EtherType of the network layer, after any VLAN tags. Link types without one (RAW,
    /// IPV4, IPV6, NULL) get the EtherType of what they carry (0x0800 for IPv4, 0x86dd for
    /// IPv6); `None` when the link header could not be read or names no network protocol.
    pub ethertype: Option<u16>,
    /// The network layer.
    pub network: Network,
    /// The transport layer (only ever set inside IPv4 or IPv6).
    pub transport: Transport,
    /// True when the capture ends before the end of what the headers describe: a header cut
    /// short, or an IP packet whose length says more bytes than were captured (a small snap
    /// length). Payload bytes beyond the headers are not needed for that verdict.
    pub truncated: bool,
}

/// The link-layer header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// Ethernet II. Linux loopback frames are Ethernet with all-zero MACs.
    Ethernet(Ethernet),
    /// Linux cooked capture v1 (LINKTYPE_LINUX_SLL); `ifindex` is `None`.
    LinuxSll(Sll),
    /// Linux cooked capture v2 (LINKTYPE_LINUX_SLL2), with the interface index.
    LinuxSll2(Sll),
    /// LINKTYPE_RAW: no link header, the version nibble says IPv4 or IPv6.
    Raw,
    /// LINKTYPE_IPV4: no link header, an IPv4 packet.
    Ipv4,
    /// LINKTYPE_IPV6: no link header, an IPv6 packet.
    Ipv6,
    /// LINKTYPE_NULL: the BSD loopback header, with its address family (already put in the
    /// right byte order).
    Null {
        /// 2 is IPv4; 24, 28 and 30 are IPv6 (NetBSD/OpenBSD, FreeBSD, macOS).
        family: u32,
    },
    /// A link type this decoder does not look into.
    Other(u32),
    /// The frame is shorter than the link header of this link type.
    Truncated(LinkType),
}

/// An Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ethernet {
    pub src: Mac,
    pub dst: Mac,
    /// The EtherType field of the header itself (0x8100 when a VLAN tag follows; values up to
    /// 1500 are an 802.3 length). The type after the tags is [`Decoded::ethertype`].
    pub ethertype: u16,
}

/// A Linux cooked capture header (v1 or v2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sll {
    /// 0 to us, 1 broadcast, 2 multicast, 3 to another host, 4 sent by us.
    pub packet_type: u16,
    /// The ARPHRD_* device type (1 Ethernet, 772 loopback, 65534 none/tun, 824 netlink…).
    pub arphrd: u16,
    /// The link-layer source address (at most 8 bytes).
    pub addr: Vec<u8>,
    /// The protocol: an EtherType for most device types.
    pub protocol: u16,
    /// The interface index (v2 only).
    pub ifindex: Option<u32>,
}

/// One 802.1Q or 802.1ad tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vlan {
    /// The tag protocol identifier: 0x8100, 0x88a8 or 0x9100.
    pub tpid: u16,
    /// The VLAN id (12 bits).
    pub id: u16,
    /// The priority code point (3 bits).
    pub priority: u8,
    /// The drop eligible indicator.
    pub drop_eligible: bool,
}

/// The network layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// No network layer: the link header was cut, or the link type carries nothing this
    /// decoder reads (an unknown link type or address family, a netlink capture).
    None,
    Arp(Arp),
    Ipv4(Ipv4),
    Ipv6(Ipv6),
    /// An EtherType this decoder does not look into (LLDP, MPLS, an 802.3 length…).
    Other {
        ethertype: u16,
    },
    /// The header is cut short by the end of the capture.
    Truncated {
        proto: NetProto,
        /// The IP addresses, when the fixed part of an IP header was captured.
        endpoints: Option<(IpAddr, IpAddr)>,
    },
    /// The header contradicts itself or its link layer.
    Malformed {
        proto: NetProto,
        /// What is wrong, for people (`header length 12 < 20`).
        reason: String,
        /// The IP addresses, when they could be read.
        endpoints: Option<(IpAddr, IpAddr)>,
    },
}

/// The kind of network-layer header that could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetProto {
    /// An 802.1Q/802.1ad tag.
    Vlan,
    Arp,
    Ipv4,
    Ipv6,
    /// An IP header of unknown version (RAW link type).
    Ip,
}

impl NetProto {
    /// How people call this header (`IPv4`, `802.1Q tag`).
    pub fn name(self) -> &'static str {
        match self {
            NetProto::Vlan => "802.1Q tag",
            NetProto::Arp => "ARP",
            NetProto::Ipv4 => "IPv4",
            NetProto::Ipv6 => "IPv6",
            NetProto::Ip => "IP",
        }
    }
}

/// An ARP (or RARP) packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    /// Hardware type (1 Ethernet).
    pub hardware_type: u16,
    /// Protocol type (0x0800 IPv4).
    pub protocol_type: u16,
    /// 1 request, 2 reply, 3 reverse request, 4 reverse reply.
    pub operation: u16,
    /// The addresses, filled in for Ethernet/IPv4 ARP only (6-byte hardware and 4-byte
    /// protocol addresses).
    pub sender_mac: Option<Mac>,
    pub sender_ip: Option<Ipv4Addr>,
    pub target_mac: Option<Mac>,
    pub target_ip: Option<Ipv4Addr>,
}

/// ARP operation: request.
pub const ARP_REQUEST: u16 = 1;
/// ARP operation: reply.
pub const ARP_REPLY: u16 = 2;

/// An IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// Type of service (DSCP and ECN).
    pub tos: u8,
    pub ttl: u8,
    /// Identification.
    pub id: u16,
    /// The protocol of the payload.
    pub protocol: u8,
    /// DF flag.
    pub dont_fragment: bool,
    /// MF flag.
    pub more_fragments: bool,
    /// The fragment offset in bytes.
    pub fragment_offset: u16,
    /// Header length in bytes, options included.
    pub header_len: u8,
    /// Total length as the header says (0 for packets captured before TCP segmentation
    /// offload filled it in; the captured length is used then).
    pub total_len: u16,
}

/// An IPv6 header with its extension headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Payload length as the header says (0 for jumbograms and offloaded packets).
    pub payload_len: u16,
    pub hop_limit: u8,
    /// The Next Header field of the fixed header.
    pub next_header: u8,
    /// The extension headers walked, in order, by protocol number (0 hop-by-hop, 43 routing,
    /// 44 fragment, 51 AH, 60 destination options, 135 mobility).
    pub ext_headers: Vec<u8>,
    /// The upper-layer protocol after the extension headers (59 for "no next header"; the
    /// extension header itself when it was cut short).
    pub protocol: u8,
    /// The fragment header, when there is one.
    pub fragment: Option<Fragment>,
}

/// Fragmentation of an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
    /// Offset of this fragment in bytes.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
}

/// The transport layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// No transport layer: not an IP packet, or its IP header could not be decoded.
    None,
    Tcp(Tcp),
    Udp(Udp),
    /// ICMP for IPv4.
    Icmp(Icmp),
    /// ICMP for IPv6.
    Icmpv6(Icmp),
    /// A non-first fragment: the transport header is in another packet.
    Fragment {
        proto: u8,
    },
    /// A protocol this decoder does not look into (GRE, ESP, SCTP, 59 "no next header"…).
    Other {
        proto: u8,
    },
    /// The header (or an IPv6 extension header, by its number) is cut short by the end of the
    /// capture.
    Truncated {
        proto: u8,
        /// TCP/UDP ports when the first four bytes were captured.
        ports: Option<(u16, u16)>,
    },
    /// The header contradicts itself or the IP header.
    Malformed {
        proto: u8,
        /// TCP/UDP ports when they could be read.
        ports: Option<(u16, u16)>,
        /// What is wrong, for people (`data offset 12 < 20`).
        reason: String,
    },
}

/// A TCP header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tcp {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    /// Flag bits: [`FIN`] … [`CWR`] and [`NS`].
    pub flags: u16,
    pub window: u16,
    pub urgent: u16,
    /// Header length in bytes, options included.
    pub header_len: u8,
    /// The options, in order; with `options_cut`, only those captured whole.
    pub options: Vec<TcpOption>,
    /// The capture ends inside the options (a small snap length).
    pub options_cut: bool,
    /// Payload bytes as the IP header counts them (the capture may hold fewer).
    pub payload_len: usize,
}

impl Tcp {
    /// Whether all of the flag bits in `mask` are set.
    pub fn has(&self, mask: u16) -> bool {
        self.flags & mask == mask
    }
}

/// A TCP option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpOption {
    /// End of option list (kind 0); the rest of the header is padding.
    Eol,
    /// No-operation (kind 1).
    Nop,
    /// Maximum segment size (kind 2).
    Mss(u16),
    /// Window scale shift count (kind 3).
    WindowScale(u8),
    /// SACK permitted (kind 4).
    SackPermitted,
    /// Selective acknowledgement blocks, left and right edges (kind 5).
    Sack(Vec<(u32, u32)>),
    /// Timestamps (kind 8).
    Timestamps { val: u32, ecr: u32 },
    /// Any other option, with its total length.
    Unknown { kind: u8, len: u8 },
    /// An option whose length byte is missing, below 2, wrong for its kind, or runs past the
    /// header; the options after it cannot be found, so the list ends here.
    Bad { kind: u8, len: u8 },
}

/// A UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Udp {
    pub src_port: u16,
    pub dst_port: u16,
    /// The length field (header included).
    pub length: u16,
    /// Payload bytes: the length field less the 8-byte header.
    pub payload_len: usize,
}

/// An ICMP or ICMPv6 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmp {
    pub icmp_type: u8,
    pub code: u8,
    /// The name of the type (`echo request`), when it is a common one.
    pub name: Option<&'static str>,
    /// The name of the code for error types (`port unreachable`).
    pub code_name: Option<&'static str>,
    /// Identifier and sequence number of echo (and ICMPv4 timestamp) messages.
    pub echo: Option<Echo>,
    /// For errors: the offending packet the message quotes.
    pub quoted: Option<Quoted>,
    /// ICMPv4 redirect: the gateway to use.
    pub gateway: Option<Ipv4Addr>,
    /// Fragmentation needed (ICMPv4) and packet too big (ICMPv6): the next-hop MTU.
    pub mtu: Option<u32>,
    /// Parameter problem: the offset of the offending byte.
    pub pointer: Option<u32>,
    /// ICMPv6 neighbour discovery.
    pub ndp: Option<Ndp>,
    /// Bytes after the 8-byte ICMP header, as the IP header counts them.
    pub payload_len: usize,
}

/// Identifier and sequence number of an echo message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo {
    pub id: u16,
    pub seq: u16,
}

/// The start of the packet an ICMP error quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The upper-layer protocol of the quoted packet (after IPv6 extension headers).
    pub protocol: u8,
    /// TCP/UDP ports of the quoted packet, when quoted.
    pub ports: Option<(u16, u16)>,
    /// The sequence number of a quoted TCP segment (its bytes 4 to 8), when quoted.
    pub tcp_seq: Option<u32>,
    /// The quoted ICMP message (of the same ICMP version), when quoted.
    pub icmp: Option<QuotedIcmp>,
}

/// The ICMP message inside a quoted packet (a traceroute probe, a ping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedIcmp {
    pub icmp_type: u8,
    pub code: u8,
    pub name: Option<&'static str>,
    pub echo: Option<Echo>,
}

/// An ICMPv6 neighbour discovery message (RFC 4861).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ndp {
    RouterSolicitation {
        source_mac: Option<Mac>,
    },
    RouterAdvertisement {
        /// Current hop limit advertised (0: unspecified).
        hop_limit: u8,
        /// M flag: addresses by DHCPv6.
        managed: bool,
        /// O flag: other configuration by DHCPv6.
        other: bool,
        /// Router lifetime in seconds.
        lifetime: u16,
        source_mac: Option<Mac>,
        /// Prefix information options: prefix and length.
        prefixes: Vec<(Ipv6Addr, u8)>,
        mtu: Option<u32>,
    },
    NeighborSolicitation {
        target: Ipv6Addr,
        source_mac: Option<Mac>,
    },
    NeighborAdvertisement {
        target: Ipv6Addr,
        router: bool,
        solicited: bool,
        override_flag: bool,
        target_mac: Option<Mac>,
    },
    Redirect {
        /// The better first hop.
        target: Ipv6Addr,
        /// The destination being redirected.
        destination: Ipv6Addr,
        target_mac: Option<Mac>,
    },
}

impl Decoded {
    /// Source and destination of the IP packet: from a decoded header, or from one that is
    /// truncated or malformed but whose addresses were captured.
    pub fn ip_endpoints(&self) -> Option<(IpAddr, IpAddr)> {
        match &self.network {
            Network::Ipv4(ip) => Some((ip.src.into(), ip.dst.into())),
            Network::Ipv6(ip) => Some((ip.src.into(), ip.dst.into())),
            Network::Truncated { endpoints, .. } | Network::Malformed { endpoints, .. } => {
                *endpoints
            }
            _ => None,
        }
    }

    /// The upper-layer protocol number of an IP packet (after IPv6 extension headers).
    pub fn ip_protocol(&self) -> Option<u8> {
        match &self.network {
            Network::Ipv4(ip) => Some(ip.protocol),
            Network::Ipv6(ip) => Some(ip.protocol),
            _ => None,
        }
    }

    /// The TCP header, when there is a complete one.
    pub fn tcp(&self) -> Option<&Tcp> {
        match &self.transport {
            Transport::Tcp(t) => Some(t),
            _ => None,
        }
    }

    /// The UDP header, when there is a complete one.
    pub fn udp(&self) -> Option<&Udp> {
        match &self.transport {
            Transport::Udp(u) => Some(u),
            _ => None,
        }
    }

    /// The ICMP or ICMPv6 message.
    pub fn icmp(&self) -> Option<&Icmp> {
        match &self.transport {
            Transport::Icmp(i) | Transport::Icmpv6(i) => Some(i),
            _ => None,
        }
    }

    /// The ARP packet.
    pub fn arp(&self) -> Option<&Arp> {
        match &self.network {
            Network::Arp(a) => Some(a),
            _ => None,
        }
    }

    /// Source and destination ports of TCP or UDP, also from a header cut short or malformed
    /// after its first four bytes.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match &self.transport {
            Transport::Tcp(t) => Some((t.src_port, t.dst_port)),
            Transport::Udp(u) => Some((u.src_port, u.dst_port)),
            Transport::Truncated { ports, .. } | Transport::Malformed { ports, .. } => *ports,
            _ => None,
        }
    }

    /// Fragmentation of the IP packet, when it is a fragment (IPv4 with MF set or a non-zero
    /// offset; IPv6 with a fragment header).
    pub fn fragment(&self) -> Option<Fragment> {
        match &self.network {
            Network::Ipv4(ip) if ip.more_fragments || ip.fragment_offset != 0 => Some(Fragment {
                id: u32::from(ip.id),
                offset: ip.fragment_offset,
                more: ip.more_fragments,
            }),
            Network::Ipv6(ip) => ip.fragment,
            _ => None,
        }
    }

    /// What is malformed, if a header contradicts itself: `IPv4 header: header length 8 < 20`.
    pub fn malformed(&self) -> Option<String> {
        if let Network::Malformed { proto, reason, .. } = &self.network {
            return Some(format!("{} header: {reason}", proto.name()));
        }
        if let Transport::Malformed { proto, reason, .. } = &self.transport {
            return Some(format!("{} header: {reason}", ip_header_name(*proto)));
        }
        None
    }
}

/// The TCP segment of `d` as the handshake tracker takes it, when `d` holds a TCP header
/// (also one whose options were cut by the capture: flags and numbers are there).
pub fn tcp_segment(ts: Duration, d: &Decoded) -> Option<Segment> {
    let t = d.tcp()?;
    let (src, dst) = d.ip_endpoints()?;
    Some(Segment {
        ts,
        src: SocketAddr::new(src, t.src_port),
        dst: SocketAddr::new(dst, t.dst_port),
        // The tracker reads FIN, SYN, RST, PSH and ACK, all in the low byte.
        flags: (t.flags & 0xff) as u8,
        seq: t.seq,
        ack: t.ack,
        len: u32::try_from(t.payload_len).unwrap_or(u32::MAX),
    })
}

/// The ICMP or ICMPv6 error of `d` about a TCP segment, as the handshake tracker takes it:
/// destination unreachable (`what` is the code, `port unreachable`), time exceeded and
/// parameter problem, quoting a TCP header with its ports.
pub fn icmp_error_for_tcp(ts: Duration, d: &Decoded) -> Option<IcmpError> {
    let (i, v6) = match &d.transport {
        Transport::Icmp(i) => (i, false),
        Transport::Icmpv6(i) => (i, true),
        _ => return None,
    };
    let unreachable = if v6 { 1 } else { 3 };
    let is_error = if v6 {
        matches!(i.icmp_type, 1 | 3 | 4)
    } else {
        matches!(i.icmp_type, 3 | 11 | 12)
    };
    let q = i.quoted.as_ref().filter(|q| q.protocol == ip_proto::TCP)?;
    let (quoted_sport, quoted_dport) = q.ports?;
    if !is_error {
        return None;
    }
    let what = match (i.icmp_type == unreachable, i.code_name, i.name) {
        (true, Some(code), _) => code.to_string(),
        (true, None, _) => format!("destination unreachable (code {})", i.code),
        (false, _, Some(name)) => name.to_string(),
        (false, _, None) => format!("ICMP type {}", i.icmp_type),
    };
    Some(IcmpError {
        ts,
        from: d.ip_endpoints()?.0,
        what,
        quoted_src: SocketAddr::new(q.src, quoted_sport),
        quoted_dst: SocketAddr::new(q.dst, quoted_dport),
        quoted_seq: q.tcp_seq,
    })
}

/// The name of the header an IP protocol number stands for (`TCP`, `fragment`), as used in
/// `[truncated TCP header]`.
pub fn ip_header_name(proto: u8) -> String {
    match proto {
        ip_proto::HOPOPT => "hop-by-hop options".into(),
        ip_proto::ICMP => "ICMP".into(),
        ip_proto::TCP => "TCP".into(),
        ip_proto::UDP => "UDP".into(),
        ip_proto::ROUTING => "routing".into(),
        ip_proto::FRAGMENT => "fragment".into(),
        ip_proto::AH => "AH".into(),
        ip_proto::ICMPV6 => "ICMPv6".into(),
        ip_proto::DSTOPTS => "destination options".into(),
        ip_proto::MOBILITY => "mobility".into(),
        n => format!("protocol {n}"),
    }
}

/// Decodes one frame of link type `link`. Never panics; see the module docs for how damaged
/// frames are reported.
pub fn decode(link: LinkType, data: &[u8]) -> Decoded {
    let mut d = Decoded {
        link: Link::Other(link.number()),
        vlans: Vec::new(),
        ethertype: None,
        network: Network::None,
        transport: Transport::None,
        truncated: false,
    };
    match link {
        LinkType::Ethernet => ethernet(&mut d, data),
        LinkType::LinuxSll => sll(&mut d, data),
        LinkType::LinuxSll2 => sll2(&mut d, data),
        LinkType::Raw => {
            d.link = Link::Raw;
            raw_ip(&mut d, data);
        }
        LinkType::Ipv4 => {
            d.link = Link::Ipv4;
            d.ethertype = Some(ETHERTYPE_IPV4);
            ipv4(&mut d, data);
        }
        LinkType::Ipv6 => {
            d.link = Link::Ipv6;
            d.ethertype = Some(ETHERTYPE_IPV6);
            ipv6(&mut d, data);
        }
        LinkType::Null => null(&mut d, data),
        LinkType::Other(n) => d.link = Link::Other(n),
    }
    d
}

fn be16(b: [u8; 2]) -> u16 {
    u16::from_be_bytes(b)
}

/// A big-endian u16 at `at`, if there.
fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    data.get(at..)?.first_chunk::<2>().map(|b| be16(*b))
}

/// A big-endian u32 at `at`, if there.
fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..)?
        .first_chunk::<4>()
        .map(|b| u32::from_be_bytes(*b))
}

fn mac_at(data: &[u8], at: usize) -> Option<Mac> {
    data.get(at..)?.first_chunk::<6>().map(|b| Mac(*b))
}

fn ipv4_at(data: &[u8], at: usize) -> Option<Ipv4Addr> {
    data.get(at..)?
        .first_chunk::<4>()
        .map(|b| Ipv4Addr::from(*b))
}

fn ipv6_at(data: &[u8], at: usize) -> Option<Ipv6Addr> {
    data.get(at..)?
        .first_chunk::<16>()
        .map(|b| Ipv6Addr::from(*b))
}

/// The bytes after `n`, or none.
fn after(data: &[u8], n: usize) -> &[u8] {
    data.get(n..).unwrap_or_default()
}

fn link_truncated(d: &mut Decoded, link: LinkType) {
    d.link = Link::Truncated(link);
    d.truncated = true;
}

fn ethernet(d: &mut Decoded, data: &[u8]) {
    let Some((h, rest)) = data.split_first_chunk::<14>() else {
        return link_truncated(d, LinkType::Ethernet);
    };
    let ethertype = be16([h[12], h[13]]);
    d.link = Link::Ethernet(Ethernet {
        dst: Mac([h[0], h[1], h[2], h[3], h[4], h[5]]),
        src: Mac([h[6], h[7], h[8], h[9], h[10], h[11]]),
        ethertype,
    });
    network(d, ethertype, rest);
}

/// ARPHRD_NETLINK: the cooked header's protocol is a netlink family, not an EtherType.
const ARPHRD_NETLINK: u16 = 824;

fn sll(d: &mut Decoded, data: &[u8]) {
    let Some((h, rest)) = data.split_first_chunk::<16>() else {
        return link_truncated(d, LinkType::LinuxSll);
    };
    let addr_len = usize::from(be16([h[4], h[5]])).min(8);
    let s = Sll {
        packet_type: be16([h[0], h[1]]),
        arphrd: be16([h[2], h[3]]),
        addr: h.get(6..6 + addr_len).unwrap_or_default().to_vec(),
        protocol: be16([h[14], h[15]]),
        ifindex: None,
    };
    let (arphrd, protocol) = (s.arphrd, s.protocol);
    d.link = Link::LinuxSll(s);
    cooked_network(d, arphrd, protocol, rest);
}

fn sll2(d: &mut Decoded, data: &[u8]) {
    let Some((h, rest)) = data.split_first_chunk::<20>() else {
        return link_truncated(d, LinkType::LinuxSll2);
    };
    let addr_len = usize::from(h[11]).min(8);
    let s = Sll {
        protocol: be16([h[0], h[1]]),
        ifindex: Some(u32::from_be_bytes([h[4], h[5], h[6], h[7]])),
        arphrd: be16([h[8], h[9]]),
        packet_type: u16::from(h[10]),
        addr: h.get(12..12 + addr_len).unwrap_or_default().to_vec(),
    };
    let (arphrd, protocol) = (s.arphrd, s.protocol);
    d.link = Link::LinuxSll2(s);
    cooked_network(d, arphrd, protocol, rest);
}

fn cooked_network(d: &mut Decoded, arphrd: u16, protocol: u16, rest: &[u8]) {
    if arphrd == ARPHRD_NETLINK {
        // A netlink message, not a network packet: the protocol is the netlink family.
        return;
    }
    network(d, protocol, rest);
}

fn null(d: &mut Decoded, data: &[u8]) {
    let Some((h, rest)) = data.split_first_chunk::<4>() else {
        return link_truncated(d, LinkType::Null);
    };
    // Host byte order of the machine that wrote it: families are small, so a value with high
    // bits set was written the other way round.
    let mut family = u32::from_le_bytes(*h);
    if family & 0xffff_0000 != 0 {
        family = family.swap_bytes();
    }
    d.link = Link::Null { family };
    match family {
        2 => {
            d.ethertype = Some(ETHERTYPE_IPV4);
            ipv4(d, rest);
        }
        24 | 28 | 30 => {
            d.ethertype = Some(ETHERTYPE_IPV6);
            ipv6(d, rest);
        }
        _ => {}
    }
}

fn raw_ip(d: &mut Decoded, data: &[u8]) {
    match data.first().map(|b| b >> 4) {
        None => {
            d.truncated = true;
            d.network = Network::Truncated {
                proto: NetProto::Ip,
                endpoints: None,
            };
        }
        Some(4) => {
            d.ethertype = Some(ETHERTYPE_IPV4);
            ipv4(d, data);
        }
        Some(6) => {
            d.ethertype = Some(ETHERTYPE_IPV6);
            ipv6(d, data);
        }
        Some(v) => {
            d.network = Network::Malformed {
                proto: NetProto::Ip,
                reason: format!("IP version {v}"),
                endpoints: None,
            };
        }
    }
}

/// Decodes what follows an EtherType: VLAN tags, then ARP, IPv4, IPv6 or an unknown protocol.
fn network(d: &mut Decoded, mut ethertype: u16, mut data: &[u8]) {
    while matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
    ) {
        let Some((tag, rest)) = data.split_first_chunk::<4>() else {
            d.truncated = true;
            d.network = Network::Truncated {
                proto: NetProto::Vlan,
                endpoints: None,
            };
            return;
        };
        let tci = be16([tag[0], tag[1]]);
        d.vlans.push(Vlan {
            tpid: ethertype,
            id: tci & 0x0fff,
            priority: (tci >> 13) as u8,
            drop_eligible: tci & 0x1000 != 0,
        });
        ethertype = be16([tag[2], tag[3]]);
        data = rest;
    }
    d.ethertype = Some(ethertype);
    match ethertype {
        ETHERTYPE_IPV4 => ipv4(d, data),
        ETHERTYPE_IPV6 => ipv6(d, data),
        ETHERTYPE_ARP | ETHERTYPE_RARP => arp(d, data),
        _ => d.network = Network::Other { ethertype },
    }
}

fn arp(d: &mut Decoded, data: &[u8]) {
    let Some(h) = data.first_chunk::<8>() else {
        d.truncated = true;
        d.network = Network::Truncated {
            proto: NetProto::Arp,
            endpoints: None,
        };
        return;
    };
    let (hlen, plen) = (usize::from(h[4]), usize::from(h[5]));
    let mut a = Arp {
        hardware_type: be16([h[0], h[1]]),
        protocol_type: be16([h[2], h[3]]),
        operation: be16([h[6], h[7]]),
        sender_mac: None,
        sender_ip: None,
        target_mac: None,
        target_ip: None,
    };
    // Bounded: hlen and plen are at most 255 each.
    let needed = 8 + 2 * hlen + 2 * plen;
    if data.len() < needed {
        d.truncated = true;
        d.network = Network::Truncated {
            proto: NetProto::Arp,
            endpoints: None,
        };
        return;
    }
    if a.hardware_type == 1 && a.protocol_type == ETHERTYPE_IPV4 && hlen == 6 && plen == 4 {
        a.sender_mac = mac_at(data, 8);
        a.sender_ip = ipv4_at(data, 14);
        a.target_mac = mac_at(data, 18);
        a.target_ip = ipv4_at(data, 24);
    }
    d.network = Network::Arp(a);
}

/// The payload of an IP packet (or of a layer inside it): the captured bytes, bounded by what
/// the headers say, and how long the headers say it is.
#[derive(Debug, Clone, Copy)]
struct Span<'a> {
    data: &'a [u8],
    /// The length the IP header gives (at least `data.len()`).
    claimed: usize,
    /// False when the IP header gave no length (0: offloaded or jumbo packets), so `claimed`
    /// is only what was captured.
    known: bool,
}

impl<'a> Span<'a> {
    /// The IP payload `data[..claimed]` (as much of it as was captured).
    fn new(data: &'a [u8], claimed: Option<usize>) -> Span<'a> {
        match claimed {
            Some(claimed) => Span {
                data: data.get(..claimed).unwrap_or(data),
                claimed,
                known: true,
            },
            None => Span {
                data,
                claimed: data.len(),
                known: false,
            },
        }
    }

    /// The capture ends before the end of this span.
    fn cut(&self) -> bool {
        self.claimed > self.data.len()
    }

    /// What follows the first `n` bytes.
    fn skip(&self, n: usize) -> Span<'a> {
        Span {
            data: after(self.data, n),
            claimed: self.claimed.saturating_sub(n),
            known: self.known,
        }
    }
}

fn ipv4(d: &mut Decoded, data: &[u8]) {
    let Some(h) = data.first_chunk::<20>() else {
        d.truncated = true;
        d.network = Network::Truncated {
            proto: NetProto::Ipv4,
            endpoints: None,
        };
        return;
    };
    let version = h[0] >> 4;
    if version != 4 {
        d.network = Network::Malformed {
            proto: NetProto::Ipv4,
            reason: format!("IP version {version}"),
            endpoints: None,
        };
        return;
    }
    let src = Ipv4Addr::new(h[12], h[13], h[14], h[15]);
    let dst = Ipv4Addr::new(h[16], h[17], h[18], h[19]);
    let endpoints = Some((IpAddr::V4(src), IpAddr::V4(dst)));
    let header_len = (h[0] & 0x0f) * 4;
    let total_len = be16([h[2], h[3]]);
    let malformed = |reason: String| Network::Malformed {
        proto: NetProto::Ipv4,
        reason,
        endpoints,
    };
    if header_len < 20 {
        d.network = malformed(format!("header length {header_len} < 20"));
        return;
    }
    if total_len != 0 && total_len < u16::from(header_len) {
        d.network = malformed(format!(
            "total length {total_len} < header length {header_len}"
        ));
        return;
    }
    let hl = usize::from(header_len);
    if data.len() < hl {
        d.truncated = true;
        d.network = Network::Truncated {
            proto: NetProto::Ipv4,
            endpoints,
        };
        return;
    }
    let frag = be16([h[6], h[7]]);
    let ip = Ipv4 {
        src,
        dst,
        tos: h[1],
        ttl: h[8],
        id: be16([h[4], h[5]]),
        protocol: h[9],
        dont_fragment: frag & 0x4000 != 0,
        more_fragments: frag & 0x2000 != 0,
        fragment_offset: (frag & 0x1fff) << 3,
        header_len,
        total_len,
    };
    let claimed = (total_len != 0).then(|| usize::from(total_len) - hl);
    let span = Span::new(after(data, hl), claimed);
    if span.cut() {
        d.truncated = true;
    }
    let (proto, offset) = (ip.protocol, ip.fragment_offset);
    d.network = Network::Ipv4(ip);
    d.transport = if offset != 0 {
        Transport::Fragment { proto }
    } else {
        transport(d, proto, span)
    };
}

/// The outcome of walking IPv6 extension headers.
struct ExtWalk {
    chain: Vec<u8>,
    /// The upper-layer protocol, or the extension header that did not fit.
    proto: u8,
    /// Where the upper-layer header starts.
    offset: usize,
    fragment: Option<Fragment>,
    /// The extension header `proto` does not fit in the bytes given.
    short: bool,
    /// The length of the header that did not fit (as far as it is known).
    need: usize,
}

/// Walks the IPv6 extension headers starting with `next` over `data` (the IPv6 payload).
/// Stops at the first upper-layer protocol, at a non-first fragment (whose payload is not a
/// header), or at a header that does not fit.
fn walk_ext(mut next: u8, data: &[u8]) -> ExtWalk {
    let mut w = ExtWalk {
        chain: Vec::new(),
        proto: next,
        offset: 0,
        fragment: None,
        short: false,
        need: 0,
    };
    loop {
        w.proto = next;
        let here = after(data, w.offset);
        let len = match next {
            ip_proto::HOPOPT | ip_proto::ROUTING | ip_proto::DSTOPTS | ip_proto::MOBILITY => {
                here.get(1).map(|&l| (usize::from(l) + 1) * 8)
            }
            ip_proto::AH => here.get(1).map(|&l| (usize::from(l) + 2) * 4),
            ip_proto::FRAGMENT => Some(8),
            _ => return w,
        };
        let Some(h) = len.and_then(|len| here.get(..len)) else {
            w.short = true;
            // Without its length byte, a header needs at least 8 bytes.
            w.need = len.unwrap_or(8);
            return w;
        };
        w.chain.push(next);
        w.offset += h.len();
        // Every extension header starts with its Next Header byte; `h` has at least 8 bytes.
        next = h.first().copied().unwrap_or(ip_proto::NO_NEXT);
        if w.proto == ip_proto::FRAGMENT {
            let off_flags = u16_at(h, 2).unwrap_or(0);
            let frag = Fragment {
                id: u32_at(h, 4).unwrap_or(0),
                offset: off_flags & 0xfff8,
                more: off_flags & 1 != 0,
            };
            w.fragment = Some(frag);
            if frag.offset != 0 {
                w.proto = next;
                return w;
            }
        }
    }
}

fn ipv6(d: &mut Decoded, data: &[u8]) {
    let Some(h) = data.first_chunk::<40>() else {
        d.truncated = true;
        d.network = Network::Truncated {
            proto: NetProto::Ipv6,
            endpoints: None,
        };
        return;
    };
    let version = h[0] >> 4;
    if version != 6 {
        d.network = Network::Malformed {
            proto: NetProto::Ipv6,
            reason: format!("IP version {version}"),
            endpoints: None,
        };
        return;
    }
    let first = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let payload_len = be16([h[4], h[5]]);
    let next_header = h[6];
    let src = ipv6_at(h, 8).unwrap_or(Ipv6Addr::UNSPECIFIED);
    let dst = ipv6_at(h, 24).unwrap_or(Ipv6Addr::UNSPECIFIED);
    let claimed = (payload_len != 0).then_some(usize::from(payload_len));
    let span = Span::new(after(data, 40), claimed);
    if span.cut() {
        d.truncated = true;
    }
    let walk = walk_ext(next_header, span.data);
    let ip = Ipv6 {
        src,
        dst,
        traffic_class: (first >> 20) as u8,
        flow_label: first & 0x000f_ffff,
        payload_len,
        hop_limit: h[7],
        next_header,
        ext_headers: walk.chain,
        protocol: walk.proto,
        fragment: walk.fragment,
    };
    let proto = walk.proto;
    let non_first = walk.fragment.is_some_and(|f| f.offset != 0);
    d.network = Network::Ipv6(ip);
    d.transport = if walk.short {
        short(d, proto, span.skip(walk.offset), walk.need)
    } else if non_first {
        Transport::Fragment { proto }
    } else {
        transport(d, proto, span.skip(walk.offset))
    };
}

/// Decodes the transport header of protocol `proto` in `span`.
fn transport(d: &mut Decoded, proto: u8, span: Span<'_>) -> Transport {
    match proto {
        ip_proto::TCP => tcp(d, span),
        ip_proto::UDP => udp(d, span),
        ip_proto::ICMP => icmp(d, span),
        ip_proto::ICMPV6 => icmpv6(d, span),
        _ => Transport::Other { proto },
    }
}

/// TCP/UDP ports from the first four bytes of a header.
fn ports(proto: u8, data: &[u8]) -> Option<(u16, u16)> {
    if proto != ip_proto::TCP && proto != ip_proto::UDP {
        return None;
    }
    Some((u16_at(data, 0)?, u16_at(data, 2)?))
}

/// A header of `needed` bytes does not fit in `span`: truncated when the IP header says the
/// bytes are there but were not captured, malformed when the IP header itself leaves no room.
fn short(d: &mut Decoded, proto: u8, span: Span<'_>, needed: usize) -> Transport {
    let ports = ports(proto, span.data);
    if span.claimed >= needed || !span.known {
        d.truncated = true;
        Transport::Truncated { proto, ports }
    } else {
        Transport::Malformed {
            proto,
            ports,
            reason: format!(
                "needs {needed} bytes, the IP payload leaves {}",
                span.claimed
            ),
        }
    }
}

fn tcp(d: &mut Decoded, span: Span<'_>) -> Transport {
    let Some(h) = span.data.first_chunk::<20>() else {
        return short(d, ip_proto::TCP, span, 20);
    };
    let header_len = (h[12] >> 4) * 4;
    let (src_port, dst_port) = (be16([h[0], h[1]]), be16([h[2], h[3]]));
    if header_len < 20 {
        return Transport::Malformed {
            proto: ip_proto::TCP,
            ports: Some((src_port, dst_port)),
            reason: format!("data offset {header_len} < 20"),
        };
    }
    let hl = usize::from(header_len);
    // The capture may end inside the options (a small snap length): keep the fixed header and
    // the options that were captured, as tcpdump does.
    let (options, options_cut) = match span.data.get(20..hl) {
        Some(o) => (o, false),
        None if span.claimed >= hl || !span.known => (after(span.data, 20), true),
        None => return short(d, ip_proto::TCP, span, hl),
    };
    if options_cut {
        d.truncated = true;
    }
    Transport::Tcp(Tcp {
        src_port,
        dst_port,
        seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
        flags: (u16::from(h[12] & 1) << 8) | u16::from(h[13]),
        window: be16([h[14], h[15]]),
        urgent: be16([h[18], h[19]]),
        header_len,
        options: tcp_options(options, options_cut),
        options_cut,
        payload_len: span.claimed.saturating_sub(hl),
    })
}

/// Parses TCP options; a bad length ends the list with [`TcpOption::Bad`]. With `cut`, `data`
/// ends where the capture does, and an option running past it just ends the list.
fn tcp_options(mut data: &[u8], cut: bool) -> Vec<TcpOption> {
    let mut out = Vec::new();
    while let Some((&kind, rest)) = data.split_first() {
        match kind {
            0 => {
                out.push(TcpOption::Eol);
                break;
            }
            1 => {
                out.push(TcpOption::Nop);
                data = rest;
                continue;
            }
            _ => {}
        }
        let Some(&len) = rest.first() else {
            if !cut {
                out.push(TcpOption::Bad { kind, len: 0 });
            }
            break;
        };
        let Some(opt) = data.get(..usize::from(len)).filter(|_| len >= 2) else {
            if !cut || len < 2 {
                out.push(TcpOption::Bad { kind, len });
            }
            break;
        };
        let body = after(opt, 2);
        let parsed = match (kind, len) {
            (2, 4) => u16_at(body, 0).map(TcpOption::Mss),
            (3, 3) => body.first().map(|&s| TcpOption::WindowScale(s)),
            (4, 2) => Some(TcpOption::SackPermitted),
            (5, _) if body.len().is_multiple_of(8) && !body.is_empty() => Some(TcpOption::Sack(
                body.chunks_exact(8)
                    .filter_map(|b| Some((u32_at(b, 0)?, u32_at(b, 4)?)))
                    .collect(),
            )),
            (8, 10) => u32_at(body, 0)
                .zip(u32_at(body, 4))
                .map(|(val, ecr)| TcpOption::Timestamps { val, ecr }),
            (2..=5 | 8, _) => None,
            _ => Some(TcpOption::Unknown { kind, len }),
        };
        match parsed {
            Some(o) => out.push(o),
            None => {
                out.push(TcpOption::Bad { kind, len });
                break;
            }
        }
        data = after(data, usize::from(len));
    }
    out
}

fn udp(d: &mut Decoded, span: Span<'_>) -> Transport {
    let Some(h) = span.data.first_chunk::<8>() else {
        return short(d, ip_proto::UDP, span, 8);
    };
    let (src_port, dst_port) = (be16([h[0], h[1]]), be16([h[2], h[3]]));
    let length = be16([h[4], h[5]]);
    let malformed = |reason: String| Transport::Malformed {
        proto: ip_proto::UDP,
        ports: Some((src_port, dst_port)),
        reason,
    };
    // Length 0: a jumbogram (RFC 2675) or an offloaded datagram; the IP payload says.
    let total = if length == 0 {
        span.claimed
    } else {
        usize::from(length)
    };
    if total < 8 {
        return malformed(format!("length {length} < 8"));
    }
    if span.known && total > span.claimed {
        return malformed(format!(
            "length {length} > IP payload length {}",
            span.claimed
        ));
    }
    if !span.known && total > span.data.len() {
        d.truncated = true;
    }
    Transport::Udp(Udp {
        src_port,
        dst_port,
        length,
        payload_len: total - 8,
    })
}

/// The name of an ICMPv4 type.
pub fn icmp_type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        0 => "echo reply",
        3 => "destination unreachable",
        4 => "source quench",
        5 => "redirect",
        8 => "echo request",
        9 => "router advertisement",
        10 => "router solicitation",
        11 => "time exceeded",
        12 => "parameter problem",
        13 => "timestamp request",
        14 => "timestamp reply",
        15 => "information request",
        16 => "information reply",
        17 => "address mask request",
        18 => "address mask reply",
        _ => return None,
    })
}

/// The name of an ICMPv4 code, for the types whose codes mean something.
pub fn icmp_code_name(t: u8, code: u8) -> Option<&'static str> {
    Some(match (t, code) {
        (3, 0) => "net unreachable",
        (3, 1) => "host unreachable",
        (3, 2) => "protocol unreachable",
        (3, 3) => "port unreachable",
        (3, 4) => "fragmentation needed",
        (3, 5) => "source route failed",
        (3, 6) => "destination network unknown",
        (3, 7) => "destination host unknown",
        (3, 8) => "source host isolated",
        (3, 9) => "network administratively prohibited",
        (3, 10) => "host administratively prohibited",
        (3, 11) => "network unreachable for TOS",
        (3, 12) => "host unreachable for TOS",
        (3, 13) => "communication administratively prohibited",
        (3, 14) => "host precedence violation",
        (3, 15) => "precedence cutoff in effect",
        (5, 0) => "network",
        (5, 1) => "host",
        (5, 2) => "TOS and network",
        (5, 3) => "TOS and host",
        (11, 0) => "TTL exceeded in transit",
        (11, 1) => "fragment reassembly time exceeded",
        (12, 0) => "pointer indicates the error",
        (12, 1) => "missing a required option",
        (12, 2) => "bad length",
        _ => return None,
    })
}

/// The name of an ICMPv6 type.
pub fn icmpv6_type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        1 => "destination unreachable",
        2 => "packet too big",
        3 => "time exceeded",
        4 => "parameter problem",
        128 => "echo request",
        129 => "echo reply",
        130 => "multicast listener query",
        131 => "multicast listener report",
        132 => "multicast listener done",
        133 => "router solicitation",
        134 => "router advertisement",
        135 => "neighbor solicitation",
        136 => "neighbor advertisement",
        137 => "redirect",
        143 => "multicast listener report v2",
        _ => return None,
    })
}

/// The name of an ICMPv6 code, for the types whose codes mean something.
pub fn icmpv6_code_name(t: u8, code: u8) -> Option<&'static str> {
    Some(match (t, code) {
        (1, 0) => "no route to destination",
        (1, 1) => "communication administratively prohibited",
        (1, 2) => "beyond scope of source address",
        (1, 3) => "address unreachable",
        (1, 4) => "port unreachable",
        (1, 5) => "source address failed ingress/egress policy",
        (1, 6) => "reject route to destination",
        (3, 0) => "hop limit exceeded in transit",
        (3, 1) => "fragment reassembly time exceeded",
        (4, 0) => "erroneous header field",
        (4, 1) => "unrecognized next header",
        (4, 2) => "unrecognized IPv6 option",
        _ => return None,
    })
}

fn new_icmp(h: &[u8; 8], v6: bool, span: &Span<'_>) -> Icmp {
    let (t, code) = (h[0], h[1]);
    Icmp {
        icmp_type: t,
        code,
        name: if v6 {
            icmpv6_type_name(t)
        } else {
            icmp_type_name(t)
        },
        code_name: if v6 {
            icmpv6_code_name(t, code)
        } else {
            icmp_code_name(t, code)
        },
        echo: None,
        quoted: None,
        gateway: None,
        mtu: None,
        pointer: None,
        ndp: None,
        payload_len: span.claimed.saturating_sub(8),
    }
}

fn echo(h: &[u8; 8]) -> Echo {
    Echo {
        id: be16([h[4], h[5]]),
        seq: be16([h[6], h[7]]),
    }
}

fn icmp(d: &mut Decoded, span: Span<'_>) -> Transport {
    let Some(h) = span.data.first_chunk::<8>() else {
        return short(d, ip_proto::ICMP, span, 8);
    };
    let mut m = new_icmp(h, false, &span);
    let body = after(span.data, 8);
    match m.icmp_type {
        0 | 8 | 13 | 14 => m.echo = Some(echo(h)),
        3 | 4 | 5 | 11 | 12 => {
            m.quoted = quoted_v4(body);
            match m.icmp_type {
                3 if m.code == 4 => {
                    m.mtu = Some(u32::from(be16([h[6], h[7]]))).filter(|&mtu| mtu != 0);
                }
                5 => m.gateway = Some(Ipv4Addr::new(h[4], h[5], h[6], h[7])),
                12 => m.pointer = Some(u32::from(h[4])),
                _ => {}
            }
        }
        _ => {}
    }
    Transport::Icmp(m)
}

fn icmpv6(d: &mut Decoded, span: Span<'_>) -> Transport {
    let Some(h) = span.data.first_chunk::<8>() else {
        return short(d, ip_proto::ICMPV6, span, 8);
    };
    let mut m = new_icmp(h, true, &span);
    let body = after(span.data, 8);
    let word = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    match m.icmp_type {
        128 | 129 => m.echo = Some(echo(h)),
        1..=4 => {
            m.quoted = quoted_v6(body);
            match m.icmp_type {
                2 => m.mtu = Some(word),
                4 => m.pointer = Some(word),
                _ => {}
            }
        }
        133..=137 => {
            // Fixed part after the first 8 bytes: RA 8, NS/NA 16, redirect 32.
            let fixed = match m.icmp_type {
                133 => 0,
                134 => 8,
                135 | 136 => 16,
                _ => 32,
            };
            let Some(fields) = body.get(..fixed) else {
                return short(d, ip_proto::ICMPV6, span, 8 + fixed);
            };
            let opts = ndp_options(after(body, fixed));
            if opts.cut && span.cut() {
                d.truncated = true;
            }
            m.ndp = ndp(h, fields, opts);
        }
        _ => {}
    }
    Transport::Icmpv6(m)
}

/// The NDP options this decoder keeps.
#[derive(Default)]
struct NdpOptions {
    source_mac: Option<Mac>,
    target_mac: Option<Mac>,
    prefixes: Vec<(Ipv6Addr, u8)>,
    mtu: Option<u32>,
    /// An option runs past the bytes given.
    cut: bool,
}

fn ndp_options(mut data: &[u8]) -> NdpOptions {
    let mut o = NdpOptions::default();
    while let Some(&kind) = data.first() {
        let len = data.get(1).map_or(0, |&l| usize::from(l) * 8);
        if len == 0 {
            // A zero length is invalid (RFC 4861 says to drop the packet): stop here.
            o.cut = data.len() < 2;
            break;
        }
        let Some(opt) = data.get(..len) else {
            o.cut = true;
            break;
        };
        match kind {
            1 => o.source_mac = o.source_mac.or(mac_at(opt, 2)),
            2 => o.target_mac = o.target_mac.or(mac_at(opt, 2)),
            3 if len == 32 => {
                if let (Some(&plen), Some(prefix)) = (opt.get(2), ipv6_at(opt, 16)) {
                    o.prefixes.push((prefix, plen));
                }
            }
            5 if len == 8 => o.mtu = u32_at(opt, 4),
            _ => {}
        }
        data = after(data, len);
    }
    o
}

/// Builds the NDP message of type `h[0]` from its fixed `fields` (after the first 8 bytes).
fn ndp(h: &[u8; 8], fields: &[u8], o: NdpOptions) -> Option<Ndp> {
    Some(match h[0] {
        133 => Ndp::RouterSolicitation {
            source_mac: o.source_mac,
        },
        134 => Ndp::RouterAdvertisement {
            hop_limit: h[4],
            managed: h[5] & 0x80 != 0,
            other: h[5] & 0x40 != 0,
            lifetime: be16([h[6], h[7]]),
            source_mac: o.source_mac,
            prefixes: o.prefixes,
            mtu: o.mtu,
        },
        135 => Ndp::NeighborSolicitation {
            target: ipv6_at(fields, 0)?,
            source_mac: o.source_mac,
        },
        136 => Ndp::NeighborAdvertisement {
            target: ipv6_at(fields, 0)?,
            router: h[4] & 0x80 != 0,
            solicited: h[4] & 0x40 != 0,
            override_flag: h[4] & 0x20 != 0,
            target_mac: o.target_mac,
        },
        137 => Ndp::Redirect {
            target: ipv6_at(fields, 0)?,
            destination: ipv6_at(fields, 16)?,
            target_mac: o.target_mac,
        },
        _ => return None,
    })
}

/// The transport part of a quoted packet: ports, or the quoted ICMP message.
fn quoted_transport(q: &mut Quoted, data: &[u8], v6: bool) {
    q.ports = ports(q.protocol, data);
    if q.protocol == ip_proto::TCP {
        q.tcp_seq = u32_at(data, 4);
    }
    let icmp_proto = if v6 { ip_proto::ICMPV6 } else { ip_proto::ICMP };
    if q.protocol == icmp_proto
        && let Some(h) = data.first_chunk::<2>()
    {
        let (t, code) = (h[0], h[1]);
        let is_echo = if v6 {
            matches!(t, 128 | 129)
        } else {
            matches!(t, 0 | 8)
        };
        q.icmp = Some(QuotedIcmp {
            icmp_type: t,
            code,
            name: if v6 {
                icmpv6_type_name(t)
            } else {
                icmp_type_name(t)
            },
            echo: data.first_chunk::<8>().filter(|_| is_echo).map(echo),
        });
    }
}

/// The IPv4 packet quoted by an ICMP error: its header and the ports (or ICMP message) in the
/// first 8 bytes of its payload, when there.
fn quoted_v4(data: &[u8]) -> Option<Quoted> {
    let h = data.first_chunk::<20>()?;
    let header_len = usize::from(h[0] & 0x0f) * 4;
    if h[0] >> 4 != 4 || header_len < 20 {
        return None;
    }
    let mut q = Quoted {
        src: Ipv4Addr::new(h[12], h[13], h[14], h[15]).into(),
        dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]).into(),
        protocol: h[9],
        ports: None,
        tcp_seq: None,
        icmp: None,
    };
    // A non-first fragment carries no transport header.
    if be16([h[6], h[7]]) & 0x1fff == 0
        && let Some(t) = data.get(header_len..)
    {
        quoted_transport(&mut q, t, false);
    }
    Some(q)
}

/// The IPv6 packet quoted by an ICMPv6 error, with its extension headers walked.
fn quoted_v6(data: &[u8]) -> Option<Quoted> {
    let h = data.first_chunk::<40>()?;
    if h[0] >> 4 != 6 {
        return None;
    }
    let payload = after(data, 40);
    let walk = walk_ext(h[6], payload);
    let mut q = Quoted {
        src: ipv6_at(h, 8)?.into(),
        dst: ipv6_at(h, 24)?.into(),
        protocol: walk.proto,
        ports: None,
        tcp_seq: None,
        icmp: None,
    };
    if !walk.short && walk.fragment.is_none_or(|f| f.offset == 0) {
        quoted_transport(&mut q, after(payload, walk.offset), true);
    }
    Some(q)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builders of test frames, shared with the renderer's tests.
    pub(crate) mod build {
        use std::net::{Ipv4Addr, Ipv6Addr};

        pub const MAC_A: [u8; 6] = [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff];
        pub const MAC_B: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];

        pub fn eth_frame(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
            let mut f = Vec::new();
            f.extend_from_slice(&dst);
            f.extend_from_slice(&src);
            f.extend_from_slice(&ethertype.to_be_bytes());
            f.extend_from_slice(payload);
            f
        }

        /// An IPv4 header (no options unless given) followed by `payload`.
        pub fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
            ipv4_packet_full(src, dst, proto, 64, 0x1234, 0x4000, &[], payload)
        }

        #[allow(clippy::too_many_arguments)]
        pub fn ipv4_packet_full(
            src: Ipv4Addr,
            dst: Ipv4Addr,
            proto: u8,
            ttl: u8,
            id: u16,
            flags_frag: u16,
            options: &[u8],
            payload: &[u8],
        ) -> Vec<u8> {
            let hl = 20 + options.len();
            let total = (hl + payload.len()) as u16;
            let mut p = vec![0x40 | (hl / 4) as u8, 0];
            p.extend_from_slice(&total.to_be_bytes());
            p.extend_from_slice(&id.to_be_bytes());
            p.extend_from_slice(&flags_frag.to_be_bytes());
            p.extend_from_slice(&[ttl, proto, 0, 0]);
            p.extend_from_slice(&src.octets());
            p.extend_from_slice(&dst.octets());
            p.extend_from_slice(options);
            p.extend_from_slice(payload);
            p
        }

        /// An IPv6 header with `next` as Next Header, followed by `payload`.
        pub fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, next: u8, payload: &[u8]) -> Vec<u8> {
            let mut p = vec![0x60, 0x0a, 0xbc, 0xde];
            p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            p.extend_from_slice(&[next, 64]);
            p.extend_from_slice(&src.octets());
            p.extend_from_slice(&dst.octets());
            p.extend_from_slice(payload);
            p
        }

        /// A TCP header with the given options (padded to 4 bytes with EOL) and payload.
        #[allow(clippy::too_many_arguments)]
        pub fn tcp_packet(
            sport: u16,
            dport: u16,
            seq: u32,
            ack: u32,
            flags: u16,
            win: u16,
            options: &[u8],
            payload: &[u8],
        ) -> Vec<u8> {
            let mut opts = options.to_vec();
            while !opts.len().is_multiple_of(4) {
                opts.push(0);
            }
            let hl = 20 + opts.len();
            let mut t = Vec::new();
            t.extend_from_slice(&sport.to_be_bytes());
            t.extend_from_slice(&dport.to_be_bytes());
            t.extend_from_slice(&seq.to_be_bytes());
            t.extend_from_slice(&ack.to_be_bytes());
            t.push(((hl / 4) as u8) << 4 | (flags >> 8) as u8);
            t.push(flags as u8);
            t.extend_from_slice(&win.to_be_bytes());
            t.extend_from_slice(&[0, 0, 0, 0]);
            t.extend_from_slice(&opts);
            t.extend_from_slice(payload);
            t
        }

        pub fn udp_datagram(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
            let mut u = Vec::new();
            u.extend_from_slice(&sport.to_be_bytes());
            u.extend_from_slice(&dport.to_be_bytes());
            u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            u.extend_from_slice(&[0, 0]);
            u.extend_from_slice(payload);
            u
        }

        /// An ICMP (or ICMPv6) message: type, code, the 4-byte rest of header, body.
        pub fn icmp_message(t: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
            let mut m = vec![t, code, 0, 0];
            m.extend_from_slice(&rest);
            m.extend_from_slice(body);
            m
        }

        /// The SYN options Linux sends: mss, sackOK, TS, nop, wscale.
        pub fn linux_syn_options(mss: u16, tsval: u32, wscale: u8) -> Vec<u8> {
            let mut o = vec![2, 4];
            o.extend_from_slice(&mss.to_be_bytes());
            o.extend_from_slice(&[4, 2, 8, 10]);
            o.extend_from_slice(&tsval.to_be_bytes());
            o.extend_from_slice(&0u32.to_be_bytes());
            o.extend_from_slice(&[1, 3, 3, wscale]);
            o
        }

        pub fn arp_packet(
            op: u16,
            smac: [u8; 6],
            sip: Ipv4Addr,
            tmac: [u8; 6],
            tip: Ipv4Addr,
        ) -> Vec<u8> {
            let mut a = vec![0, 1, 0x08, 0x00, 6, 4];
            a.extend_from_slice(&op.to_be_bytes());
            a.extend_from_slice(&smac);
            a.extend_from_slice(&sip.octets());
            a.extend_from_slice(&tmac);
            a.extend_from_slice(&tip.octets());
            a
        }

        /// The loopback SYN of the renderer's example line: 127.0.0.1:45678 > 127.0.0.1:8080.
        pub fn loopback_syn() -> Vec<u8> {
            let lo = Ipv4Addr::LOCALHOST;
            let t = tcp_packet(
                45678,
                8080,
                1234567,
                0,
                0x02,
                65495,
                &linux_syn_options(65495, 1, 7),
                &[],
            );
            eth_frame([0; 6], [0; 6], 0x0800, &ipv4_packet(lo, lo, 6, &t))
        }
    }

    use build::*;

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }
    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn ethernet_ipv4_tcp_syn_with_options() {
        let f = loopback_syn();
        let d = decode(LinkType::Ethernet, &f);
        assert_eq!(
            d.link,
            Link::Ethernet(Ethernet {
                src: Mac([0; 6]),
                dst: Mac([0; 6]),
                ethertype: 0x0800
            })
        );
        assert_eq!(d.ethertype, Some(0x0800));
        let Network::Ipv4(ip) = &d.network else {
            panic!("{:?}", d.network)
        };
        assert_eq!((ip.src, ip.dst), (Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST));
        assert_eq!((ip.ttl, ip.id, ip.protocol), (64, 0x1234, 6));
        assert!(ip.dont_fragment && !ip.more_fragments);
        assert_eq!(
            (ip.header_len, ip.total_len, ip.fragment_offset),
            (20, 60, 0)
        );
        let t = d.tcp().unwrap();
        assert_eq!(
            (t.src_port, t.dst_port, t.seq, t.ack),
            (45678, 8080, 1234567, 0)
        );
        assert_eq!((t.flags, t.window, t.header_len), (SYN, 65495, 40));
        assert!(t.has(SYN) && !t.has(ACK) && !t.has(SYN | ACK));
        assert_eq!(
            t.options,
            vec![
                TcpOption::Mss(65495),
                TcpOption::SackPermitted,
                TcpOption::Timestamps { val: 1, ecr: 0 },
                TcpOption::Nop,
                TcpOption::WindowScale(7),
            ]
        );
        assert_eq!(t.payload_len, 0);
        assert!(!d.truncated);
        assert_eq!(d.malformed(), None);
        assert_eq!(
            d.ip_endpoints(),
            Some((
                IpAddr::from(Ipv4Addr::LOCALHOST),
                IpAddr::from(Ipv4Addr::LOCALHOST)
            ))
        );
        assert_eq!(d.ports(), Some((45678, 8080)));
        assert_eq!(d.ip_protocol(), Some(6));
        assert_eq!(d.fragment(), None);
    }

    #[test]
    fn tcp_all_flags_sack_unknown_and_ethernet_padding() {
        let mut o = vec![1, 1, 5, 18];
        for v in [100u32, 200, 300, 400] {
            o.extend_from_slice(&v.to_be_bytes());
        }
        o.extend_from_slice(&[30, 4, 0xab, 0xcd]);
        let all = FIN | SYN | RST | PSH | ACK | URG | ECE | CWR | NS;
        let t = tcp_packet(1, 2, 3, 4, all, 5, &o, b"hello");
        let ip = ipv4_packet(v4("10.0.0.1"), v4("10.0.0.2"), 6, &t);
        let mut f = eth_frame(MAC_A, MAC_B, 0x0800, &ip);
        // Ethernet pads short frames: the padding is not TCP payload.
        f.extend_from_slice(&[0; 12]);
        let d = decode(LinkType::Ethernet, &f);
        let t = d.tcp().unwrap();
        assert_eq!(t.flags, 0x1ff);
        assert!(t.has(NS) && t.has(CWR) && t.has(ECE) && t.has(URG));
        assert_eq!(
            t.options,
            vec![
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::Sack(vec![(100, 200), (300, 400)]),
                TcpOption::Unknown { kind: 30, len: 4 },
            ]
        );
        assert_eq!(t.payload_len, 5);
        assert!(!d.truncated);
        let Link::Ethernet(e) = d.link else { panic!() };
        assert_eq!((e.src, e.dst), (Mac(MAC_B), Mac(MAC_A)));
        assert_eq!(e.src.to_string(), "02:00:00:00:00:01");
    }

    #[test]
    fn tcp_bad_options_end_the_list() {
        for (opts, last) in [
            (vec![2, 3, 0, 0], TcpOption::Bad { kind: 2, len: 3 }),
            (vec![8, 1, 0, 0], TcpOption::Bad { kind: 8, len: 1 }),
            (vec![1, 1, 1, 99], TcpOption::Bad { kind: 99, len: 0 }),
            (
                vec![5, 6, 0, 0, 0, 0, 0, 0],
                TcpOption::Bad { kind: 5, len: 6 },
            ),
            (vec![30, 40, 0, 0], TcpOption::Bad { kind: 30, len: 40 }),
            (vec![3, 4, 7, 0], TcpOption::Bad { kind: 3, len: 4 }),
        ] {
            let t = tcp_packet(1, 2, 0, 0, SYN, 0, &opts, &[]);
            let d = decode(
                LinkType::Ipv4,
                &ipv4_packet(v4("1.1.1.1"), v4("2.2.2.2"), 6, &t),
            );
            assert_eq!(d.tcp().unwrap().options.last(), Some(&last), "{opts:?}");
        }
        // EOL ends the list; what follows is padding.
        let t = tcp_packet(1, 2, 0, 0, SYN, 0, &[1, 0, 2, 4, 5, 0xb4], &[]);
        let d = decode(
            LinkType::Ipv4,
            &ipv4_packet(v4("1.1.1.1"), v4("2.2.2.2"), 6, &t),
        );
        assert_eq!(
            d.tcp().unwrap().options,
            vec![TcpOption::Nop, TcpOption::Eol]
        );
    }

    #[test]
    fn vlan_and_qinq_tags() {
        let u = udp_datagram(1000, 53, b"q");
        let ip = ipv4_packet(v4("10.0.0.1"), v4("10.0.0.2"), 17, &u);
        let mut tagged = vec![0x20, 100, 0x08, 0x00]; // priority 1, VLAN 100
        tagged.extend_from_slice(&ip);
        let d = decode(
            LinkType::Ethernet,
            &eth_frame(MAC_A, MAC_B, 0x8100, &tagged),
        );
        assert_eq!(
            d.vlans,
            vec![Vlan {
                tpid: 0x8100,
                id: 100,
                priority: 1,
                drop_eligible: false
            }]
        );
        assert_eq!(d.ethertype, Some(0x0800));
        assert_eq!(d.udp().unwrap().dst_port, 53);

        let mut qinq = vec![0x10, 0x0a, 0x81, 0x00, 0x00, 0xc8, 0x86, 0xdd];
        let u6 = udp_datagram(1, 2, &[]);
        qinq.extend_from_slice(&ipv6_packet(v6("fd00::1"), v6("fd00::2"), 17, &u6));
        let d = decode(LinkType::Ethernet, &eth_frame(MAC_A, MAC_B, 0x88a8, &qinq));
        let ids: Vec<_> = d
            .vlans
            .iter()
            .map(|v| (v.tpid, v.id, v.drop_eligible))
            .collect();
        assert_eq!(ids, vec![(0x88a8, 10, true), (0x8100, 200, false)]);
        assert_eq!(d.ethertype, Some(0x86dd));
        assert!(matches!(
            d.link,
            Link::Ethernet(Ethernet {
                ethertype: 0x88a8,
                ..
            })
        ));
        assert_eq!(d.udp().unwrap().src_port, 1);

        // A tag cut in half.
        let d = decode(
            LinkType::Ethernet,
            &eth_frame(MAC_A, MAC_B, 0x8100, &[0, 5]),
        );
        assert!(d.truncated);
        assert_eq!(
            d.network,
            Network::Truncated {
                proto: NetProto::Vlan,
                endpoints: None
            }
        );
    }

    #[test]
    fn arp_request_and_reply() {
        let req = arp_packet(1, MAC_B, v4("10.0.0.1"), [0; 6], v4("10.0.0.2"));
        let d = decode(
            LinkType::Ethernet,
            &eth_frame([0xff; 6], MAC_B, 0x0806, &req),
        );
        let a = d.arp().unwrap();
        assert_eq!(a.operation, ARP_REQUEST);
        assert_eq!(a.sender_mac, Some(Mac(MAC_B)));
        assert_eq!(a.sender_ip, Some(v4("10.0.0.1")));
        assert_eq!(a.target_mac, Some(Mac([0; 6])));
        assert_eq!(a.target_ip, Some(v4("10.0.0.2")));
        assert_eq!(d.ip_endpoints(), None);
        assert_eq!(d.transport, Transport::None);

        let rep = arp_packet(2, MAC_A, v4("10.0.0.2"), MAC_B, v4("10.0.0.1"));
        let d = decode(LinkType::Ethernet, &eth_frame(MAC_B, MAC_A, 0x0806, &rep));
        let a = d.arp().unwrap();
        assert_eq!(a.operation, ARP_REPLY);
        assert_eq!(a.sender_mac, Some(Mac(MAC_A)));

        // Non-Ethernet hardware: kept, without addresses.
        let odd = [
            0, 6, 0x08, 0x00, 2, 4, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        ];
        let d = decode(LinkType::Ethernet, &eth_frame(MAC_B, MAC_A, 0x0806, &odd));
        let a = d.arp().unwrap();
        assert_eq!((a.hardware_type, a.sender_ip), (6, None));

        // Cut before the addresses end.
        let d = decode(
            LinkType::Ethernet,
            &eth_frame(MAC_B, MAC_A, 0x0806, &rep[..20]),
        );
        assert!(d.truncated);
        assert!(matches!(
            d.network,
            Network::Truncated {
                proto: NetProto::Arp,
                ..
            }
        ));
    }

    #[test]
    fn ipv6_with_hop_by_hop_and_fragment_headers() {
        // Hop-by-hop (8 bytes, router alert) -> fragment (first fragment, more) -> UDP.
        let u = udp_datagram(5353, 5353, b"abcd");
        let mut p = vec![44, 0, 5, 2, 0, 0, 1, 0];
        p.extend_from_slice(&[17, 0, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef]);
        p.extend_from_slice(&u);
        let d = decode(
            LinkType::Ipv6,
            &ipv6_packet(v6("fe80::1"), v6("ff02::fb"), 0, &p),
        );
        let Network::Ipv6(ip) = &d.network else {
            panic!("{:?}", d.network)
        };
        assert_eq!(ip.ext_headers, vec![0, 44]);
        assert_eq!((ip.next_header, ip.protocol), (0, 17));
        assert_eq!(
            ip.fragment,
            Some(Fragment {
                id: 0xdeadbeef,
                offset: 0,
                more: true
            })
        );
        assert_eq!(
            (ip.flow_label, ip.traffic_class, ip.hop_limit),
            (0xabcde, 0, 64)
        );
        assert_eq!(d.udp().unwrap().payload_len, 4);
        assert_eq!(d.fragment().map(|f| f.id), Some(0xdeadbeef));
        assert_eq!(d.ip_protocol(), Some(17));

        // A non-first fragment: no transport header.
        let p = [6, 0, 0x05, 0xc8, 0, 0, 0, 9, 1, 2, 3, 4];
        let d = decode(
            LinkType::Ipv6,
            &ipv6_packet(v6("fd00::1"), v6("fd00::2"), 44, &p),
        );
        assert_eq!(d.transport, Transport::Fragment { proto: 6 });
        assert_eq!(
            d.fragment(),
            Some(Fragment {
                id: 9,
                offset: 1480,
                more: false
            })
        );

        // Routing, destination options, AH, mobility, then "no next header".
        let mut p = vec![60, 0, 0, 0, 0, 0, 0, 0];
        p.extend_from_slice(&[51, 0, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&[135, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // AH: (1+2)*4 = 12
        p.extend_from_slice(&[59, 0, 0, 0, 0, 0, 0, 0]);
        let d = decode(LinkType::Ipv6, &ipv6_packet(v6("::1"), v6("::1"), 43, &p));
        let Network::Ipv6(ip) = &d.network else {
            panic!()
        };
        assert_eq!(ip.ext_headers, vec![43, 60, 51, 135]);
        assert_eq!(ip.protocol, 59);
        assert_eq!(d.transport, Transport::Other { proto: 59 });
        assert!(!d.truncated);
    }

    #[test]
    fn ipv6_extension_header_cut_or_beyond_payload() {
        let p = [17, 4, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut f = ipv6_packet(v6("::1"), v6("::1"), 0, &p);
        // Payload length says 48 (what the header claims), capture holds 10.
        f[4..6].copy_from_slice(&48u16.to_be_bytes());
        let d = decode(LinkType::Ipv6, &f);
        assert!(d.truncated);
        assert_eq!(
            d.transport,
            Transport::Truncated {
                proto: 0,
                ports: None
            }
        );
        // Payload length says 10, which the hop-by-hop header (40 bytes) does not fit in.
        f[4..6].copy_from_slice(&10u16.to_be_bytes());
        let d = decode(LinkType::Ipv6, &f);
        assert!(matches!(d.transport, Transport::Malformed { proto: 0, .. }));
        assert!(
            d.malformed()
                .unwrap()
                .starts_with("hop-by-hop options header")
        );
    }

    #[test]
    fn udp_v4_and_v6() {
        let u = udp_datagram(40000, 53, &[7; 25]);
        let d = decode(
            LinkType::Raw,
            &ipv4_packet(v4("10.0.0.1"), v4("10.0.0.2"), 17, &u),
        );
        assert_eq!(d.link, Link::Raw);
        assert_eq!(
            d.udp(),
            Some(&Udp {
                src_port: 40000,
                dst_port: 53,
                length: 33,
                payload_len: 25
            })
        );
        let d = decode(
            LinkType::Raw,
            &ipv6_packet(v6("fd00::1"), v6("fd00::2"), 17, &u),
        );
        assert_eq!(d.udp().unwrap().payload_len, 25);
        assert_eq!(d.ethertype, Some(0x86dd));
        assert_eq!(
            d.ip_endpoints(),
            Some((v6("fd00::1").into(), v6("fd00::2").into()))
        );

        // Length below 8 and beyond the IP payload.
        let mut bad = u.clone();
        bad[4..6].copy_from_slice(&4u16.to_be_bytes());
        let d = decode(
            LinkType::Ipv4,
            &ipv4_packet(v4("1.1.1.1"), v4("2.2.2.2"), 17, &bad),
        );
        assert!(matches!(
            d.transport,
            Transport::Malformed {
                proto: 17,
                ports: Some((40000, 53)),
                ..
            }
        ));
        bad[4..6].copy_from_slice(&100u16.to_be_bytes());
        let d = decode(
            LinkType::Ipv4,
            &ipv4_packet(v4("1.1.1.1"), v4("2.2.2.2"), 17, &bad),
        );
        assert_eq!(
            d.malformed().as_deref(),
            Some("UDP header: length 100 > IP payload length 33")
        );
        assert_eq!(d.ports(), Some((40000, 53)));
    }

    /// A TCP SYN from 10.0.0.2:40000 to 10.0.0.1:80, as an ICMP error would quote it.
    fn quoted_syn() -> Vec<u8> {
        let t = tcp_packet(40000, 80, 1, 0, SYN, 1024, &[], &[]);
        ipv4_packet(v4("10.0.0.2"), v4("10.0.0.1"), 6, &t[..8])
    }

    #[test]
    fn icmp_echo_and_errors() {
        let m = icmp_message(8, 0, [0, 7, 0, 1], &[0; 56]);
        let d = decode(
            LinkType::Ipv4,
            &ipv4_packet(v4("127.0.0.1"), v4("127.0.0.1"), 1, &m),
        );
        let i = d.icmp().unwrap();
        assert_eq!((i.icmp_type, i.code, i.name), (8, 0, Some("echo request")));
        assert_eq!(i.echo, Some(Echo { id: 7, seq: 1 }));
        assert_eq!(i.payload_len, 56);
        assert!(matches!(d.transport, Transport::Icmp(_)));

        let m = icmp_message(3, 3, [0; 4], &quoted_syn());
        let d = decode(
            LinkType::Ipv4,
            &ipv4_packet(v4("10.0.0.1"), v4("10.0.0.2"), 1, &m),
        );
        let i = d.icmp().unwrap();
        assert_eq!(i.name, Some("destination unreachable"));
        assert_eq!(i.code_name, Some("port unreachable"));
        assert_eq!(i.echo, None);
        assert_eq!(
            i.quoted,
            Some(Quoted {
                src: v4("10.0.0.2").into(),
                dst: v4("10.0.0.1").into(),
                protocol: 6,
                ports: Some((40000, 80)),
                tcp_seq: Some(1),
                icmp: None
            })
        );

        // Fragmentation needed with an MTU; redirect with a gateway; parameter problem.
        let m = icmp_message(3, 4, [0, 0, 0x05, 0x78], &quoted_syn());
        let d = decode(
            LinkType::Ipv4,
            &ipv4_packet(v4("10.0.0.1"), v4("10.0.0.2"), 1, &m),
        );
        assert_eq!(d.icmp().unwrap().mtu, Some(1400));
        let m = icmp_message(5, 1, [10, 0, 0, 254], &quoted_syn());
        let d = decode(
            LinkType::Ipv4,
            &ipv4_packet(v4("10.0.0.1"), v4("10.0.0.2"), 1, &m),
        );
        assert_eq!(d.icmp().unwrap().gateway, Some(v4("10.0.0.254")));
        assert_eq!(d.icmp().unwrap().code_name, Some("host"));
        let m = icmp_message(12, 0, [20, 0, 0, 0], &quoted_syn());
        let d = decode(
            LinkType::Ipv4,
            &ipv4_packet(v4("10.0.0.1"), v4("10.0.0.2"), 1, &m),
        );
        assert_eq!(d.icmp().unwrap().pointer, Some(20));

        // Time exceeded quoting a ping (traceroute -I).
        let ping = icmp_message(8, 0, [0, 9, 0, 3], &[]);
        let inner = ipv4_packet(v4("10.0.0.2"), v4("8.8.8.8"), 1, &ping);
        let m = icmp_message(11, 0, [0; 4], &inner);
        let d = decode(
            LinkType::Ipv4,
            &ipv4_packet(v4("10.0.0.1"), v4("10.0.0.2"), 1, &m),
        );
        let q = d.icmp().unwrap().quoted.unwrap();
        assert_eq!(q.ports, None);
        assert_eq!(
            q.icmp,
            Some(QuotedIcmp {
                icmp_type: 8,
                code: 0,
                name: Some("echo request"),
                echo: Some(Echo { id: 9, seq: 3 })
            })
        );

        // An error quoting too little keeps the error, without the quote.
        let m = icmp_message(3, 1, [0; 4], &quoted_syn()[..12]);
        let d = decode(
            LinkType::Ipv4,
            &ipv4_packet(v4("10.0.0.1"), v4("10.0.0.2"), 1, &m),
        );
        assert_eq!(d.icmp().unwrap().quoted, None);
        assert_eq!(d.icmp().unwrap().code_name, Some("host unreachable"));
    }

    #[test]
    fn icmpv6_echo_errors_and_ndp() {
        let (a, b) = (v6("fd00::1"), v6("fd00::2"));
        let m = icmp_message(128, 0, [0, 7, 0, 2], b"xyz");
        let d = decode(LinkType::Ipv6, &ipv6_packet(a, b, 58, &m));
        assert!(matches!(d.transport, Transport::Icmpv6(_)));
        let i = d.icmp().unwrap();
        assert_eq!(
            (i.name, i.echo),
            (Some("echo request"), Some(Echo { id: 7, seq: 2 }))
        );

        // Port unreachable quoting a UDP datagram behind a destination options header.
        let mut inner_payload = vec![17, 0, 1, 4, 0, 0, 0, 0];
        inner_payload.extend_from_slice(&udp_datagram(5000, 53, b"q"));
        let inner = ipv6_packet(b, a, 60, &inner_payload);
        let m = icmp_message(1, 4, [0; 4], &inner);
        let d = decode(LinkType::Ipv6, &ipv6_packet(a, b, 58, &m));
        let i = d.icmp().unwrap();
        assert_eq!(i.code_name, Some("port unreachable"));
        let q = i.quoted.unwrap();
        assert_eq!((q.src, q.dst, q.protocol), (b.into(), a.into(), 17));
        assert_eq!(q.ports, Some((5000, 53)));

        let m = icmp_message(2, 0, [0, 0, 5, 0], &inner);
        let d = decode(LinkType::Ipv6, &ipv6_packet(a, b, 58, &m));
        assert_eq!(d.icmp().unwrap().mtu, Some(1280));
        let m = icmp_message(4, 1, [0, 0, 0, 6], &inner);
        let d = decode(LinkType::Ipv6, &ipv6_packet(a, b, 58, &m));
        assert_eq!(d.icmp().unwrap().pointer, Some(6));
        assert_eq!(
            d.icmp().unwrap().code_name,
            Some("unrecognized next header")
        );

        // Neighbor solicitation with a source link-layer address option.
        let mut body = v6("fe80::2").octets().to_vec();
        body.extend_from_slice(&[1, 1]);
        body.extend_from_slice(&MAC_A);
        let m = icmp_message(135, 0, [0; 4], &body);
        let d = decode(
            LinkType::Ipv6,
            &ipv6_packet(v6("fe80::1"), v6("ff02::1:ff00:2"), 58, &m),
        );
        assert_eq!(
            d.icmp().unwrap().ndp,
            Some(Ndp::NeighborSolicitation {
                target: v6("fe80::2"),
                source_mac: Some(Mac(MAC_A))
            })
        );

        // Neighbor advertisement (solicited, override) with the target's address.
        let mut body = v6("fe80::2").octets().to_vec();
        body.extend_from_slice(&[2, 1]);
        body.extend_from_slice(&MAC_B);
        let m = icmp_message(136, 0, [0x60, 0, 0, 0], &body);
        let d = decode(
            LinkType::Ipv6,
            &ipv6_packet(v6("fe80::2"), v6("fe80::1"), 58, &m),
        );
        assert_eq!(
            d.icmp().unwrap().ndp,
            Some(Ndp::NeighborAdvertisement {
                target: v6("fe80::2"),
                router: false,
                solicited: true,
                override_flag: true,
                target_mac: Some(Mac(MAC_B))
            })
        );

        // Router solicitation; router advertisement with prefix and MTU options.
        let m = icmp_message(133, 0, [0; 4], &[]);
        let d = decode(
            LinkType::Ipv6,
            &ipv6_packet(v6("fe80::2"), v6("ff02::2"), 58, &m),
        );
        assert_eq!(
            d.icmp().unwrap().ndp,
            Some(Ndp::RouterSolicitation { source_mac: None })
        );
        let mut body = vec![0; 8]; // reachable time, retrans timer
        body.extend_from_slice(&[5, 1, 0, 0, 0, 0, 0x05, 0xdc]);
        let mut pi = vec![3, 4, 64, 0xc0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0];
        pi.extend_from_slice(&v6("2001:db8::").octets());
        body.extend_from_slice(&pi);
        let m = icmp_message(134, 0, [64, 0xc0, 0x07, 0x08], &body);
        let d = decode(
            LinkType::Ipv6,
            &ipv6_packet(v6("fe80::1"), v6("ff02::1"), 58, &m),
        );
        assert_eq!(
            d.icmp().unwrap().ndp,
            Some(Ndp::RouterAdvertisement {
                hop_limit: 64,
                managed: true,
                other: true,
                lifetime: 1800,
                source_mac: None,
                prefixes: vec![(v6("2001:db8::"), 64)],
                mtu: Some(1500)
            })
        );

        // Redirect.
        let mut body = v6("fe80::9").octets().to_vec();
        body.extend_from_slice(&v6("2001:db8::5").octets());
        let m = icmp_message(137, 0, [0; 4], &body);
        let d = decode(
            LinkType::Ipv6,
            &ipv6_packet(v6("fe80::1"), v6("fe80::2"), 58, &m),
        );
        assert!(matches!(
            d.icmp().unwrap().ndp,
            Some(Ndp::Redirect { target, destination, .. })
                if target == v6("fe80::9") && destination == v6("2001:db8::5")
        ));

        // A neighbor solicitation without its target is malformed (the IP length says so).
        let m = icmp_message(135, 0, [0; 4], &[0; 4]);
        let d = decode(
            LinkType::Ipv6,
            &ipv6_packet(v6("fe80::1"), v6("fe80::2"), 58, &m),
        );
        assert!(matches!(
            d.transport,
            Transport::Malformed { proto: 58, .. }
        ));
    }

    #[test]
    fn cooked_raw_and_null_links() {
        let u = udp_datagram(1, 2, b"x");
        let ip = ipv4_packet(v4("127.0.0.1"), v4("127.0.0.2"), 17, &u);

        let mut sll = vec![0, 4, 0x03, 0x04, 0, 6];
        sll.extend_from_slice(&MAC_A);
        sll.extend_from_slice(&[0, 0, 0x08, 0x00]);
        sll.extend_from_slice(&ip);
        let d = decode(LinkType::LinuxSll, &sll);
        assert_eq!(
            d.link,
            Link::LinuxSll(Sll {
                packet_type: 4,
                arphrd: 772,
                addr: MAC_A.to_vec(),
                protocol: 0x0800,
                ifindex: None
            })
        );
        assert_eq!(d.udp().unwrap().dst_port, 2);

        let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6];
        sll2.extend_from_slice(&MAC_A);
        sll2.extend_from_slice(&[0, 0]);
        sll2.extend_from_slice(&ip);
        let d = decode(LinkType::LinuxSll2, &sll2);
        let Link::LinuxSll2(s) = &d.link else {
            panic!("{:?}", d.link)
        };
        assert_eq!((s.ifindex, s.arphrd, s.packet_type), (Some(3), 1, 0));
        assert_eq!(s.addr, MAC_A.to_vec());
        assert_eq!(d.udp().unwrap().src_port, 1);

        // Netlink captures carry no IP.
        let mut nl = sll.clone();
        nl[2..4].copy_from_slice(&824u16.to_be_bytes());
        assert_eq!(decode(LinkType::LinuxSll, &nl).network, Network::None);

        let d = decode(LinkType::Raw, &ip);
        assert_eq!(d.ethertype, Some(0x0800));
        assert!(d.udp().is_some());
        let d = decode(LinkType::Raw, &[0x50, 0, 0]);
        assert!(matches!(
            d.network,
            Network::Malformed {
                proto: NetProto::Ip,
                ..
            }
        ));
        assert!(matches!(
            decode(LinkType::Raw, &[]).network,
            Network::Truncated {
                proto: NetProto::Ip,
                ..
            }
        ));

        for (family, v6pkt) in [(2u32, false), (24, true), (28, true), (30, true)] {
            let pkt = if v6pkt {
                ipv6_packet(v6("::1"), v6("::1"), 17, &u)
            } else {
                ip.clone()
            };
            for bytes in [family.to_le_bytes(), family.to_be_bytes()] {
                let mut f = bytes.to_vec();
                f.extend_from_slice(&pkt);
                let d = decode(LinkType::Null, &f);
                assert_eq!(d.link, Link::Null { family }, "{bytes:?}");
                assert_eq!(d.udp().unwrap().dst_port, 2, "{bytes:?}");
            }
        }
        let d = decode(LinkType::Null, &[7, 0, 0, 0, 1, 2]);
        assert_eq!(
            (d.link, d.network),
            (Link::Null { family: 7 }, Network::None)
        );

        // IPV4/IPV6 link types with the other version are malformed.
        let d = decode(
            LinkType::Ipv6,
            &ipv4_packet_full(v4("1.1.1.1"), v4("1.1.1.1"), 6, 1, 1, 0, &[0; 20], &[]),
        );
        assert!(matches!(
            d.network,
            Network::Malformed {
                proto: NetProto::Ipv6,
                ..
            }
        ));
        let d = decode(LinkType::Ipv4, &ipv6_packet(v6("::1"), v6("::1"), 6, &[]));
        assert!(matches!(
            d.network,
            Network::Malformed {
                proto: NetProto::Ipv4,
                ..
            }
        ));

        let d = decode(LinkType::Other(147), &[1, 2, 3]);
        assert_eq!((d.link, d.network), (Link::Other(147), Network::None));

        for link in [
            LinkType::Ethernet,
            LinkType::LinuxSll,
            LinkType::LinuxSll2,
            LinkType::Null,
        ] {
            let d = decode(link, &[0; 3]);
            assert_eq!(d.link, Link::Truncated(link));
            assert!(d.truncated);
        }
    }

    #[test]
    fn ipv4_fragments() {
        let later = ipv4_packet_full(
            v4("10.0.0.1"),
            v4("10.0.0.2"),
            17,
            64,
            1234,
            185,
            &[],
            &[0; 40],
        );
        let d = decode(LinkType::Ipv4, &later);
        assert_eq!(d.transport, Transport::Fragment { proto: 17 });
        assert_eq!(
            d.fragment(),
            Some(Fragment {
                id: 1234,
                offset: 1480,
                more: false
            })
        );
        assert_eq!(d.ports(), None);

        let first = ipv4_packet_full(
            v4("10.0.0.1"),
            v4("10.0.0.2"),
            17,
            64,
            1234,
            0x2000,
            &[],
            &udp_datagram(1, 2, &[0; 40]),
        );
        let d = decode(LinkType::Ipv4, &first);
        assert_eq!(d.udp().unwrap().src_port, 1);
        assert_eq!(
            d.fragment(),
            Some(Fragment {
                id: 1234,
                offset: 0,
                more: true
            })
        );
    }

    #[test]
    fn ipv4_options_and_malformed_lengths() {
        let t = tcp_packet(1, 2, 0, 0, ACK, 0, &[], b"abc");
        let with_opts =
            ipv4_packet_full(v4("1.1.1.1"), v4("2.2.2.2"), 6, 1, 1, 0, &[1, 1, 1, 0], &t);
        let d = decode(LinkType::Ipv4, &with_opts);
        let Network::Ipv4(ip) = &d.network else {
            panic!()
        };
        assert_eq!(ip.header_len, 24);
        assert_eq!(d.tcp().unwrap().payload_len, 3);

        let mut bad = with_opts.clone();
        bad[0] = 0x44; // IHL 4: 16 bytes
        let d = decode(LinkType::Ipv4, &bad);
        assert_eq!(
            d.malformed().as_deref(),
            Some("IPv4 header: header length 16 < 20")
        );
        assert_eq!(
            d.ip_endpoints(),
            Some((v4("1.1.1.1").into(), v4("2.2.2.2").into()))
        );
        assert_eq!(d.transport, Transport::None);

        let mut bad = with_opts.clone();
        bad[2..4].copy_from_slice(&10u16.to_be_bytes());
        let d = decode(LinkType::Ipv4, &bad);
        assert_eq!(
            d.malformed().as_deref(),
            Some("IPv4 header: total length 10 < header length 24")
        );

        // Total length 0 (TSO): the captured bytes are the packet.
        let mut tso = with_opts.clone();
        tso[2..4].copy_from_slice(&[0, 0]);
        let d = decode(LinkType::Ipv4, &tso);
        assert_eq!(d.tcp().unwrap().payload_len, 3);
        assert!(!d.truncated);

        // The TCP header does not fit in what the IP length leaves: malformed, not truncated.
        let mut short_ip = with_opts.clone();
        short_ip[2..4].copy_from_slice(&34u16.to_be_bytes());
        let d = decode(LinkType::Ipv4, &short_ip);
        assert!(!d.truncated);
        assert!(matches!(
            d.transport,
            Transport::Malformed {
                proto: 6,
                ports: Some((1, 2)),
                ..
            }
        ));

        // Data offset below 5.
        let mut bad = with_opts;
        bad[24 + 12] = 0x40;
        let d = decode(LinkType::Ipv4, &bad);
        assert_eq!(
            d.malformed().as_deref(),
            Some("TCP header: data offset 16 < 20")
        );
    }

    #[test]
    fn every_truncation_point_of_a_tcp_frame() {
        let mut o = linux_syn_options(1460, 99, 7);
        o.extend_from_slice(&[1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        let t = tcp_packet(40000, 443, 1, 2, PSH | ACK, 502, &o, b"payload!");
        let ip = ipv4_packet_full(
            v4("192.0.2.1"),
            v4("192.0.2.2"),
            6,
            64,
            7,
            0,
            &[1, 1, 1, 1],
            &t,
        );
        let vlan_ip = [&[0x00, 0x07, 0x08, 0x00][..], &ip].concat();
        let full = eth_frame(MAC_A, MAC_B, 0x8100, &vlan_ip);
        let tcp_start = 14 + 4 + 24;
        let headers_end = tcp_start + 20 + o.len().div_ceil(4) * 4;
        let full_decode = decode(LinkType::Ethernet, &full);
        assert!(!full_decode.truncated);
        let full_tcp = full_decode.tcp().unwrap();
        assert_eq!(full_tcp.payload_len, 8);
        assert_eq!(full_tcp.options.len(), 8);
        for cut in 0..full.len() {
            let d = decode(LinkType::Ethernet, &full[..cut]);
            assert!(d.truncated, "cut at {cut}: {d:?}");
            assert_eq!(d.malformed(), None, "cut at {cut}");
            if cut >= headers_end {
                // Only payload is missing: the headers are all there.
                assert_eq!(d.tcp(), Some(full_tcp), "cut at {cut}");
            } else if cut >= tcp_start + 20 {
                // Cut inside the options: the fixed header and the whole options before the
                // cut are kept.
                let t = d.tcp().unwrap();
                assert!(t.options_cut, "cut at {cut}");
                assert_eq!((t.seq, t.ack, t.flags), (1, 2, PSH | ACK), "cut at {cut}");
                assert_eq!(t.payload_len, 8, "cut at {cut}");
                assert!(full_tcp.options.starts_with(&t.options), "cut at {cut}");
                assert!(!t.options.iter().any(|o| matches!(o, TcpOption::Bad { .. })));
            } else {
                assert!(d.tcp().is_none(), "cut at {cut}");
            }
            if (tcp_start + 4..tcp_start + 20).contains(&cut) {
                assert_eq!(
                    d.transport,
                    Transport::Truncated {
                        proto: 6,
                        ports: Some((40000, 443))
                    },
                    "cut at {cut}"
                );
            }
            if cut >= 18 + 20 {
                assert!(d.ip_endpoints().is_some(), "cut at {cut}");
            }
        }
        // Every option boundary is reached: each prefix of the options shows up.
        let seen: std::collections::HashSet<usize> = (tcp_start + 20..headers_end)
            .filter_map(|cut| {
                decode(LinkType::Ethernet, &full[..cut])
                    .tcp()
                    .map(|t| t.options.len())
            })
            .collect();
        assert_eq!(seen.len(), full_tcp.options.len(), "{seen:?}");
    }

    #[test]
    fn handshake_inputs() {
        let ts = Duration::from_millis(1500);
        // The 8 bytes an ICMP error quotes are no whole TCP header: no segment.
        let d = decode(LinkType::Ipv4, &quoted_syn());
        assert_eq!(d.ports(), Some((40000, 80)));
        assert_eq!(tcp_segment(ts, &d), None);

        let t = tcp_packet(40000, 80, 7, 9, SYN | ACK | ECE, 1024, &[], b"data");
        let d = decode(
            LinkType::Ipv4,
            &ipv4_packet(v4("10.0.0.2"), v4("10.0.0.1"), 6, &t),
        );
        assert_eq!(
            tcp_segment(ts, &d),
            Some(Segment {
                ts,
                src: "10.0.0.2:40000".parse().unwrap(),
                dst: "10.0.0.1:80".parse().unwrap(),
                flags: 0x52,
                seq: 7,
                ack: 9,
                len: 4,
            })
        );
        assert_eq!(icmp_error_for_tcp(ts, &d), None);

        let m = icmp_message(3, 1, [0; 4], &quoted_syn());
        let d = decode(
            LinkType::Ipv4,
            &ipv4_packet(v4("10.0.0.254"), v4("10.0.0.2"), 1, &m),
        );
        assert_eq!(tcp_segment(ts, &d), None);
        assert_eq!(
            icmp_error_for_tcp(ts, &d),
            Some(IcmpError {
                ts,
                from: v4("10.0.0.254").into(),
                what: "host unreachable".into(),
                quoted_src: "10.0.0.2:40000".parse().unwrap(),
                quoted_dst: "10.0.0.1:80".parse().unwrap(),
                quoted_seq: Some(1),
            })
        );
        let m = icmp_message(11, 0, [0; 4], &quoted_syn());
        let d = decode(
            LinkType::Ipv4,
            &ipv4_packet(v4("10.0.0.254"), v4("10.0.0.2"), 1, &m),
        );
        assert_eq!(icmp_error_for_tcp(ts, &d).unwrap().what, "time exceeded");
        // A redirect is no error; a quoted UDP datagram is not about TCP.
        let m = icmp_message(5, 1, [0; 4], &quoted_syn());
        let d = decode(
            LinkType::Ipv4,
            &ipv4_packet(v4("10.0.0.254"), v4("10.0.0.2"), 1, &m),
        );
        assert_eq!(icmp_error_for_tcp(ts, &d), None);
        let udp_quote = ipv4_packet(v4("10.0.0.2"), v4("10.0.0.1"), 17, &udp_datagram(1, 2, &[]));
        let m = icmp_message(3, 3, [0; 4], &udp_quote);
        let d = decode(
            LinkType::Ipv4,
            &ipv4_packet(v4("10.0.0.1"), v4("10.0.0.2"), 1, &m),
        );
        assert_eq!(icmp_error_for_tcp(ts, &d), None);

        // ICMPv6, quoting a SYN over IPv6; the quote holds the ports but not the sequence.
        let (a, b) = (v6("fd00::1"), v6("fd00::2"));
        let syn6 = tcp_packet(40000, 443, 1, 0, SYN, 0, &[], &[]);
        let m = icmp_message(1, 4, [0; 4], &ipv6_packet(a, b, 6, &syn6[..4]));
        let d = decode(LinkType::Ipv6, &ipv6_packet(b, a, 58, &m));
        let e = icmp_error_for_tcp(ts, &d).unwrap();
        assert_eq!((e.what.as_str(), e.quoted_seq), ("port unreachable", None));
        assert_eq!(e.quoted_dst, "[fd00::2]:443".parse().unwrap());
    }

    /// xorshift64*: small, deterministic, good enough to shake the decoder.
    pub(crate) struct Rng(pub u64);

    impl Rng {
        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        pub fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    pub(crate) const ALL_LINKS: [LinkType; 8] = [
        LinkType::Ethernet,
        LinkType::Raw,
        LinkType::Ipv4,
        LinkType::Ipv6,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::Null,
        LinkType::Other(147),
    ];

    /// Valid frames of many kinds, to mutate.
    pub(crate) fn seeds() -> Vec<Vec<u8>> {
        let (a, b) = (v4("10.0.0.1"), v4("10.0.0.2"));
        let (a6, b6) = (v6("fd00::1"), v6("fd00::2"));
        let syn = tcp_packet(1, 2, 3, 4, SYN, 5, &linux_syn_options(1460, 1, 7), &[]);
        let mut ns = v6("fe80::2").octets().to_vec();
        ns.extend_from_slice(&[1, 1, 1, 2, 3, 4, 5, 6]);
        let v6_err = icmp_message(
            1,
            4,
            [0; 4],
            &ipv6_packet(b6, a6, 17, &udp_datagram(1, 2, &[])),
        );
        vec![
            ipv4_packet(a, b, 6, &syn),
            ipv4_packet(a, b, 17, &udp_datagram(1, 2, b"x")),
            ipv4_packet(
                a,
                b,
                1,
                &icmp_message(
                    3,
                    3,
                    [0; 4],
                    &ipv4_packet(b, a, 17, &udp_datagram(1, 2, &[])),
                ),
            ),
            ipv4_packet(
                a,
                b,
                1,
                &icmp_message(
                    11,
                    0,
                    [0; 4],
                    &ipv4_packet(b, a, 1, &icmp_message(8, 0, [0; 4], &[])),
                ),
            ),
            ipv6_packet(a6, b6, 6, &syn),
            ipv6_packet(
                a6,
                b6,
                0,
                &[
                    &[44, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 1, 0, 0, 0, 1][..],
                    &udp_datagram(1, 2, &[]),
                ]
                .concat(),
            ),
            ipv6_packet(a6, b6, 58, &v6_err),
            ipv6_packet(a6, b6, 58, &icmp_message(135, 0, [0; 4], &ns)),
            arp_packet(1, MAC_A, a, [0; 6], b),
        ]
    }

    /// Frames of link type `link` built from a seed (seed 8 is ARP, the others IP).
    pub(crate) fn framed(link: LinkType, seed: usize, ip: &[u8]) -> Vec<u8> {
        let arp = seed == 8;
        let v6 = ip.first().is_some_and(|b| b >> 4 == 6);
        let et: u16 = if arp {
            0x0806
        } else if v6 {
            0x86dd
        } else {
            0x0800
        };
        match link {
            LinkType::Ethernet => eth_frame(MAC_A, MAC_B, et, ip),
            LinkType::LinuxSll => [
                &[0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0][..],
                &et.to_be_bytes(),
                ip,
            ]
            .concat(),
            LinkType::LinuxSll2 => [
                &et.to_be_bytes()[..],
                &[0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0],
                ip,
            ]
            .concat(),
            LinkType::Null => [&(if v6 { 30u32 } else { 2 }).to_le_bytes()[..], ip].concat(),
            _ => ip.to_vec(),
        }
    }

    #[test]
    fn random_and_mutated_bytes_never_panic() {
        let seeds = seeds();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut flagged = 0usize;
        for round in 0..100_000 {
            let link = ALL_LINKS[round % ALL_LINKS.len()];
            let data = if round % 3 == 0 {
                let len = rng.below(120);
                (0..len).map(|_| rng.next() as u8).collect::<Vec<_>>()
            } else {
                let seed = rng.below(seeds.len());
                let mut f = framed(link, seed, &seeds[seed]);
                for _ in 0..1 + rng.below(4) {
                    if f.is_empty() {
                        break;
                    }
                    let at = rng.below(f.len());
                    match rng.below(3) {
                        0 => f[at] = rng.next() as u8,
                        1 => f[at] ^= 1 << rng.below(8),
                        _ => f.truncate(at),
                    }
                }
                f
            };
            let d = decode(link, &data);
            if d.truncated || d.malformed().is_some() {
                flagged += 1;
            }
            // The accessors must not panic either.
            let _ = (d.ip_endpoints(), d.ports(), d.fragment(), d.ip_protocol());
        }
        // The mutations do produce damaged frames, so the damaged paths were walked.
        assert!(flagged > 10_000, "{flagged}");
    }
}
