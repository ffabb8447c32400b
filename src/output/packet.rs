//! Rendering of captured packets: one text line in the manner of tcpdump, or one JSON object.
//!
//! # Text
//!
//! `TIME IFACE [vlan ID ]PROTO SRC > DST DETAILS, length N`, for example
//!
//! ```text
//! 04:12:00.123456 lo TCP 127.0.0.1:45678 > 127.0.0.1:8080 [S] seq 1234567 win 65495 <mss 65495,sackOK,TS val 1 ecr 0,nop,wscale 7> len 0, length 74
//! 04:12:00.123456 eth0 UDP [fd00::1]:53 > [fd00::2]:40000 len 33, length 95
//! 04:12:00.123456 lo ICMP 127.0.0.1 > 127.0.0.1 echo request id 7 seq 1, length 98
//! 04:12:00.123456 eth0 ARP who-has 10.0.0.2 tell 10.0.0.1, length 42
//! ```
//!
//! TIME is local `HH:MM:SS.ffffff`; IFACE is `-` when unknown. Endpoints are `addr:port`
//! (`[v6addr]:port`), or bare addresses without ports. TCP flags use tcpdump's letters
//! (`F` FIN, `S` SYN, `R` RST, `P` PSH, `.` ACK, `U` URG, `E` ECE, `W` CWR, `e` NS/AE;
//! `[none]` when no flag is set); `ack` is shown only with ACK set, `urg` only with URG;
//! options go between `<>` (ending in `[truncated]` when the capture ends inside them); `len`
//! is the TCP or UDP payload length (as the IP header counts it). Fragments end with
//! `frag id ID offset BYTES` (and `MF` when more follow); a non-first fragment has no ports.
//! Headers that could not be decoded show as `[truncated TCP header]` or
//! `[malformed IPv4 header: header length 16 < 20]`. The closing `, length N` is always the
//! length of the frame on the wire.
//!
//! # JSON
//!
//! One object per packet. Every top-level key is always present (null when it does not apply):
//!
//! | key | value |
//! |---|---|
//! | `type` | `"packet"` |
//! | `time` | capture time, RFC 3339 UTC with nanoseconds |
//! | `timestamp` | capture time, seconds since the Unix epoch (float) |
//! | `interface` | interface name, or null |
//! | `length` | frame length on the wire |
//! | `caplen` | bytes captured |
//! | `link` | `"ethernet"`, `"linux_sll"`, `"linux_sll2"`, `"raw"`, `"ipv4"`, `"ipv6"`, `"null"`, `"other"` |
//! | `link_type` | the pcap LINKTYPE number |
//! | `src_mac`, `dst_mac` | Ethernet addresses (`"aa:bb:cc:dd:ee:ff"`), null for other links |
//! | `packet_type` | Linux cooked captures: `"host"`, `"broadcast"`, `"multicast"`, `"otherhost"`, `"outgoing"` (or `"unknown"`) |
//! | `ifindex` | Linux cooked capture v2: the interface index |
//! | `vlan` | VLAN ids, outermost first (empty array when untagged) |
//! | `ethertype` | EtherType of the network layer, after VLAN tags (number) |
//! | `proto` | `"tcp"`, `"udp"`, `"icmp"`, `"icmp6"`, `"arp"`, `"ip"`, `"ip6"` (another IP protocol), or `"other"` |
//! | `src`, `dst` | IP addresses |
//! | `src_port`, `dst_port` | TCP/UDP ports |
//! | `ip_proto` | IP protocol number of the payload (after IPv6 extension headers) |
//! | `ttl` | IPv4 TTL |
//! | `ip_id` | IPv4 identification |
//! | `hop_limit` | IPv6 hop limit |
//! | `flow_label` | IPv6 flow label |
//! | `ext_headers` | IPv6 extension headers walked, by protocol number |
//! | `fragment` | `{"id", "offset" (bytes), "more"}` for fragments |
//! | `tcp` | `{"flags"` (tcpdump letters, `"S."`), `"flag_names"` (`["syn","ack"]`, from `fin syn rst psh ack urg ece cwr ns`), `"seq"`, `"ack"` (null without ACK), `"window"`, `"urgent"` (null without URG), `"header_len"`, `"options"`, `"options_truncated"` (the capture ends inside the options), `"payload_len"}` |
//! | `udp` | `{"length", "payload_len"}` |
//! | `icmp` | ICMP and ICMPv6: `{"type", "code", "name", "code_name", "id", "seq", "mtu", "gateway", "pointer", "payload_len", "quoted", "ndp"}` |
//! | `arp` | `{"op"` (`"request"`, `"reply"`, `"reverse_request"`, `"reverse_reply"`, `"unknown"`), `"opcode", "hardware_type", "protocol_type", "sender_mac", "sender_ip", "target_mac", "target_ip"}` |
//! | `truncated` | the capture holds less than the frame (caplen < length), or a header or the IP payload is cut short |
//! | `malformed` | what is wrong with a header that contradicts itself, or null |
//!
//! TCP options are objects with a `kind`: `{"kind":"mss","value":1460}`,
//! `{"kind":"wscale","value":7}`, `{"kind":"sack_ok"}`, `{"kind":"sack","blocks":[[l,r]]}`,
//! `{"kind":"timestamp","val":1,"ecr":0}`, `{"kind":"nop"}`, `{"kind":"eol"}`,
//! `{"kind":"unknown","number":30,"len":12}`, `{"kind":"bad","number":2,"len":3}` (a bad length
//! ends the list). An ICMP error's `quoted` packet is `{"src", "dst", "ip_proto", "proto",
//! "src_port", "dst_port", "tcp_seq", "icmp_type", "icmp_name", "id", "seq"}`. An NDP message's `ndp` is
//! `{"kind"` (`"router_solicitation"`, `"router_advertisement"`, `"neighbor_solicitation"`,
//! `"neighbor_advertisement"`, `"redirect"`) with the keys that apply: `"target"`,
//! `"destination"`, `"source_mac"`, `"target_mac"`, `"router"`, `"solicited"`, `"override"`,
//! `"managed"`, `"other"`, `"hop_limit"`, `"lifetime"`, `"prefixes"` (`["2001:db8::/64"]`),
//! `"mtu"}`.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use crate::output::{clock_time, rfc3339_utc};
use crate::packet::decode::{
    self, ACK, Arp, CWR, Decoded, ECE, FIN, Icmp, Link, Mac, NS, Ndp, NetProto, Network, PSH,
    Quoted, RST, SYN, Tcp, TcpOption, Transport, URG, ip_proto,
};
use crate::packet::{Frame, LinkType};

/// The one-line text form of a packet (see the module docs).
pub fn packet_line(frame: &Frame<'_>, d: &Decoded) -> String {
    let mut out = clock_time(frame.ts);
    out.push(' ');
    out.push_str(&interface_text(frame.interface));
    out.push(' ');
    for v in &d.vlans {
        let _ = write!(out, "vlan {} ", v.id);
    }
    body(&mut out, d);
    let _ = write!(out, ", length {}", frame.orig_len);
    out
}

/// An interface name made safe for one column: `-` when unknown or empty, control and blank
/// characters (possible in names read from files) as `?`.
fn interface_text(name: Option<&str>) -> String {
    match name {
        Some(n) if !n.is_empty() => n
            .chars()
            .map(|c| {
                if c.is_control() || c.is_whitespace() {
                    '?'
                } else {
                    c
                }
            })
            .collect(),
        _ => "-".into(),
    }
}

fn body(out: &mut String, d: &Decoded) {
    match &d.network {
        Network::None => no_network(out, &d.link),
        Network::Arp(a) => {
            out.push_str("ARP ");
            arp_text(out, a);
        }
        Network::Ipv4(ip) => ip_text(out, d, ip.src.into(), ip.dst.into(), false),
        Network::Ipv6(ip) => ip_text(out, d, ip.src.into(), ip.dst.into(), true),
        Network::Other { ethertype } => {
            if matches!(d.link, Link::Ethernet(_)) && *ethertype <= 1500 {
                let _ = write!(out, "802.3 length {ethertype}");
            } else {
                let _ = write!(out, "ethertype 0x{ethertype:04x}");
                if let Some(name) = ethertype_name(*ethertype) {
                    let _ = write!(out, " ({name})");
                }
            }
        }
        Network::Truncated { proto, endpoints } => {
            net_prefix(out, *proto, *endpoints);
            let _ = write!(out, "[truncated {}]", header_label(*proto));
        }
        Network::Malformed {
            proto,
            reason,
            endpoints,
        } => {
            net_prefix(out, *proto, *endpoints);
            let _ = write!(out, "[malformed {}: {reason}]", header_label(*proto));
        }
    }
}

/// The text for a frame whose link layer names nothing this tool decodes.
fn no_network(out: &mut String, link: &Link) {
    let _ = match link {
        Link::Truncated(t) => write!(out, "[truncated {} header]", link_title(*t)),
        Link::Null { family } => write!(out, "NULL family {family}"),
        Link::Other(n) => write!(out, "link type {n}"),
        Link::LinuxSll(s) | Link::LinuxSll2(s) if s.arphrd == 824 => {
            write!(out, "netlink protocol {}", s.protocol)
        }
        Link::LinuxSll(s) | Link::LinuxSll2(s) => {
            write!(out, "ARPHRD {} protocol 0x{:04x}", s.arphrd, s.protocol)
        }
        Link::Ethernet(_) | Link::Raw | Link::Ipv4 | Link::Ipv6 => {
            write!(out, "{} frame", link_title(LinkType::Ethernet))
        }
    };
}

fn link_title(t: LinkType) -> String {
    match t {
        LinkType::Ethernet => "Ethernet".into(),
        LinkType::LinuxSll => "Linux cooked".into(),
        LinkType::LinuxSll2 => "Linux cooked v2".into(),
        LinkType::Null => "NULL".into(),
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => "IP".into(),
        LinkType::Other(n) => format!("link type {n}"),
    }
}

/// `IPv4 header`, `802.1Q tag`.
fn header_label(proto: NetProto) -> String {
    match proto {
        NetProto::Vlan => proto.name().into(),
        p => format!("{} header", p.name()),
    }
}

/// The protocol column and addresses before a network header that could not be decoded.
fn net_prefix(out: &mut String, proto: NetProto, endpoints: Option<(IpAddr, IpAddr)>) {
    let col = match proto {
        NetProto::Vlan => None,
        NetProto::Arp => Some("ARP"),
        NetProto::Ipv4 | NetProto::Ip => Some("IP"),
        NetProto::Ipv6 => Some("IP6"),
    };
    if let Some(col) = col {
        out.push_str(col);
        out.push(' ');
    }
    if let Some((src, dst)) = endpoints {
        let _ = write!(out, "{src} > {dst} ");
    }
}

fn ethertype_name(t: u16) -> Option<&'static str> {
    Some(match t {
        0x0842 => "Wake-on-LAN",
        0x22f0 => "AVTP",
        0x8809 => "slow protocols",
        0x8847 => "MPLS",
        0x8848 => "MPLS multicast",
        0x8863 => "PPPoE discovery",
        0x8864 => "PPPoE session",
        0x888e => "EAPOL",
        0x88cc => "LLDP",
        0x88e5 => "MACsec",
        0x88f7 => "PTP",
        0x8906 => "FCoE",
        0x9000 => "loopback",
        _ => return None,
    })
}

/// The protocol column for IP protocol `proto` (`TCP`), or `IP`/`IP6` for others.
fn proto_column(proto: u8, v6: bool) -> &'static str {
    match proto {
        ip_proto::TCP => "TCP",
        ip_proto::UDP => "UDP",
        ip_proto::ICMP => "ICMP",
        ip_proto::ICMPV6 => "ICMP6",
        _ if v6 => "IP6",
        _ => "IP",
    }
}

fn ip_proto_name(proto: u8) -> Option<&'static str> {
    Some(match proto {
        2 => "IGMP",
        4 => "IPIP",
        33 => "DCCP",
        41 => "IPv6",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        59 => "no next header",
        89 => "OSPF",
        103 => "PIM",
        112 => "VRRP",
        115 => "L2TP",
        132 => "SCTP",
        136 => "UDPLite",
        _ => return None,
    })
}

/// `a:p > b:q` (`[a]:p` for IPv6), or `a > b` without ports.
fn endpoints(out: &mut String, src: IpAddr, dst: IpAddr, ports: Option<(u16, u16)>) {
    match ports {
        Some((sp, dp)) => {
            endpoint(out, src, sp);
            out.push_str(" > ");
            endpoint(out, dst, dp);
        }
        None => {
            let _ = write!(out, "{src} > {dst}");
        }
    }
}

fn endpoint(out: &mut String, ip: IpAddr, port: u16) {
    let _ = match ip {
        IpAddr::V4(a) => write!(out, "{a}:{port}"),
        IpAddr::V6(a) => write!(out, "[{a}]:{port}"),
    };
}

fn ip_text(out: &mut String, d: &Decoded, src: IpAddr, dst: IpAddr, v6: bool) {
    let col = match &d.transport {
        Transport::Tcp(_) => "TCP",
        Transport::Udp(_) => "UDP",
        Transport::Icmp(_) => "ICMP",
        Transport::Icmpv6(_) => "ICMP6",
        Transport::Fragment { proto }
        | Transport::Other { proto }
        | Transport::Truncated { proto, .. }
        | Transport::Malformed { proto, .. } => proto_column(*proto, v6),
        Transport::None if v6 => "IP6",
        Transport::None => "IP",
    };
    out.push_str(col);
    out.push(' ');
    endpoints(out, src, dst, d.ports());
    match &d.transport {
        Transport::Tcp(t) => tcp_text(out, t),
        Transport::Udp(u) => {
            let _ = write!(out, " len {}", u.payload_len);
        }
        Transport::Icmp(i) => icmp_text(out, i, false),
        Transport::Icmpv6(i) => icmp_text(out, i, true),
        Transport::Fragment { .. } | Transport::None => {}
        Transport::Other { proto } => {
            let _ = write!(out, " proto {proto}");
            if let Some(name) = ip_proto_name(*proto) {
                let _ = write!(out, " ({name})");
            }
        }
        Transport::Truncated { proto, .. } => {
            let _ = write!(
                out,
                " [truncated {} header]",
                decode::ip_header_name(*proto)
            );
        }
        Transport::Malformed { proto, reason, .. } => {
            let _ = write!(
                out,
                " [malformed {} header: {reason}]",
                decode::ip_header_name(*proto)
            );
        }
    }
    if let Some(f) = d.fragment() {
        let _ = write!(out, " frag id {} offset {}", f.id, f.offset);
        if f.more {
            out.push_str(" MF");
        }
    }
}

/// TCP flags in tcpdump's letters and order: `S.`, `FP.`, `none` when none is set.
pub fn tcp_flag_letters(flags: u16) -> String {
    const LETTERS: [(u16, char); 9] = [
        (FIN, 'F'),
        (SYN, 'S'),
        (RST, 'R'),
        (PSH, 'P'),
        (ACK, '.'),
        (URG, 'U'),
        (ECE, 'E'),
        (CWR, 'W'),
        (NS, 'e'),
    ];
    let s: String = LETTERS
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|&(_, c)| c)
        .collect();
    if s.is_empty() { "none".into() } else { s }
}

/// The names of the TCP flags set, lower case: `["syn", "ack"]`.
pub fn tcp_flag_names(flags: u16) -> Vec<&'static str> {
    const NAMES: [(u16, &str); 9] = [
        (FIN, "fin"),
        (SYN, "syn"),
        (RST, "rst"),
        (PSH, "psh"),
        (ACK, "ack"),
        (URG, "urg"),
        (ECE, "ece"),
        (CWR, "cwr"),
        (NS, "ns"),
    ];
    NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|&(_, n)| n)
        .collect()
}

fn tcp_text(out: &mut String, t: &Tcp) {
    let _ = write!(out, " [{}] seq {}", tcp_flag_letters(t.flags), t.seq);
    if t.has(ACK) {
        let _ = write!(out, " ack {}", t.ack);
    }
    let _ = write!(out, " win {}", t.window);
    if t.has(URG) {
        let _ = write!(out, " urg {}", t.urgent);
    }
    if !t.options.is_empty() || t.options_cut {
        out.push_str(" <");
        for (i, o) in t.options.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            tcp_option_text(out, o);
        }
        if t.options_cut {
            if !t.options.is_empty() {
                out.push(',');
            }
            out.push_str("[truncated]");
        }
        out.push('>');
    }
    let _ = write!(out, " len {}", t.payload_len);
}

fn tcp_option_name(kind: u8) -> Option<&'static str> {
    Some(match kind {
        19 => "md5",
        28 => "utimeout",
        29 => "tcp-ao",
        30 => "mptcp",
        34 => "tfo",
        _ => return None,
    })
}

fn tcp_option_text(out: &mut String, o: &TcpOption) {
    let _ = match o {
        TcpOption::Eol => write!(out, "eol"),
        TcpOption::Nop => write!(out, "nop"),
        TcpOption::Mss(m) => write!(out, "mss {m}"),
        TcpOption::WindowScale(s) => write!(out, "wscale {s}"),
        TcpOption::SackPermitted => write!(out, "sackOK"),
        TcpOption::Sack(blocks) => {
            let _ = write!(out, "sack {} ", blocks.len());
            for (l, r) in blocks {
                let _ = write!(out, "{{{l}:{r}}}");
            }
            Ok(())
        }
        TcpOption::Timestamps { val, ecr } => write!(out, "TS val {val} ecr {ecr}"),
        TcpOption::Unknown { kind, len } => match tcp_option_name(*kind) {
            Some(name) => write!(out, "{name} len {len}"),
            None => write!(out, "opt-{kind} len {len}"),
        },
        TcpOption::Bad { kind, len } => write!(out, "bad opt-{kind} len {len}"),
    };
}

fn icmp_text(out: &mut String, i: &Icmp, v6: bool) {
    let Some(name) = i.name else {
        let _ = write!(out, " type {} code {}", i.icmp_type, i.code);
        return;
    };
    out.push(' ');
    out.push_str(name);
    if let Some(ndp) = &i.ndp {
        ndp_text(out, ndp);
        return;
    }
    if let Some(e) = i.echo {
        let _ = write!(out, " id {} seq {}", e.id, e.seq);
    }
    match i.code_name {
        Some(c) => {
            let _ = write!(out, " ({c})");
        }
        None if i.code != 0 => {
            let _ = write!(out, " code {}", i.code);
        }
        None => {}
    }
    if let Some(mtu) = i.mtu {
        let _ = write!(out, " mtu {mtu}");
    }
    if let Some(g) = i.gateway {
        let _ = write!(out, " to {g}");
    }
    if let Some(p) = i.pointer {
        let _ = write!(out, " pointer {p}");
    }
    if let Some(q) = &i.quoted {
        out.push_str(" for ");
        quoted_text(out, q, v6);
    }
}

/// `UDP 10.0.0.2:5000 > 10.0.0.1:53`, `ICMP 10.0.0.2 > 8.8.8.8 echo request id 7 seq 1`.
fn quoted_text(out: &mut String, q: &Quoted, v6: bool) {
    out.push_str(proto_column(q.protocol, v6));
    out.push(' ');
    endpoints(out, q.src, q.dst, q.ports);
    if let Some(m) = &q.icmp {
        match m.name {
            Some(n) => {
                let _ = write!(out, " {n}");
            }
            None => {
                let _ = write!(out, " type {} code {}", m.icmp_type, m.code);
            }
        }
        if let Some(e) = m.echo {
            let _ = write!(out, " id {} seq {}", e.id, e.seq);
        }
    } else if proto_column(q.protocol, v6).starts_with("IP") {
        let _ = write!(out, " proto {}", q.protocol);
    }
}

fn flag_list(out: &mut String, flags: &[(bool, &str)]) {
    let set: Vec<&str> = flags.iter().filter(|f| f.0).map(|f| f.1).collect();
    if !set.is_empty() {
        let _ = write!(out, " flags [{}]", set.join(","));
    }
}

fn ndp_text(out: &mut String, ndp: &Ndp) {
    let from = |out: &mut String, mac: &Option<Mac>| {
        if let Some(m) = mac {
            let _ = write!(out, " from {m}");
        }
    };
    match ndp {
        Ndp::RouterSolicitation { source_mac } => from(out, source_mac),
        Ndp::RouterAdvertisement {
            hop_limit,
            managed,
            other,
            lifetime,
            source_mac,
            prefixes,
            mtu,
        } => {
            let _ = write!(out, " hop limit {hop_limit} lifetime {lifetime}");
            flag_list(out, &[(*managed, "managed"), (*other, "other")]);
            for (p, len) in prefixes {
                let _ = write!(out, " prefix {p}/{len}");
            }
            if let Some(m) = mtu {
                let _ = write!(out, " mtu {m}");
            }
            from(out, source_mac);
        }
        Ndp::NeighborSolicitation { target, source_mac } => {
            let _ = write!(out, " who-has {target}");
            from(out, source_mac);
        }
        Ndp::NeighborAdvertisement {
            target,
            router,
            solicited,
            override_flag,
            target_mac,
        } => {
            let _ = write!(out, " {target}");
            if let Some(m) = target_mac {
                let _ = write!(out, " is-at {m}");
            }
            flag_list(
                out,
                &[
                    (*router, "router"),
                    (*solicited, "solicited"),
                    (*override_flag, "override"),
                ],
            );
        }
        Ndp::Redirect {
            target,
            destination,
            target_mac,
        } => {
            let _ = write!(out, " {destination} to {target}");
            if let Some(m) = target_mac {
                let _ = write!(out, " is-at {m}");
            }
        }
    }
}

fn arp_text(out: &mut String, a: &Arp) {
    let addrs = (a.sender_mac, a.sender_ip, a.target_mac, a.target_ip);
    let _ = match (a.operation, addrs) {
        (1, (Some(_), Some(sip), Some(_), Some(tip))) => write!(out, "who-has {tip} tell {sip}"),
        (2, (Some(smac), Some(sip), Some(_), Some(_))) => write!(out, "{sip} is-at {smac}"),
        (3, (Some(smac), Some(_), Some(tmac), Some(_))) => {
            write!(out, "reverse who-is {tmac} tell {smac}")
        }
        (4, (Some(_), Some(_), Some(tmac), Some(tip))) => write!(out, "reverse {tmac} is-at {tip}"),
        _ => write!(
            out,
            "op {} hardware {} protocol 0x{:04x}",
            a.operation, a.hardware_type, a.protocol_type
        ),
    };
}

/// One packet as JSON (see the module docs for the fields).
#[derive(Debug, Clone, Serialize)]
pub struct PacketRecord {
    #[serde(rename = "type")]
    pub record_type: &'static str,
    pub time: String,
    pub timestamp: f64,
    pub interface: Option<String>,
    pub length: u32,
    pub caplen: usize,
    pub link: &'static str,
    pub link_type: u32,
    pub src_mac: Option<Mac>,
    pub dst_mac: Option<Mac>,
    pub packet_type: Option<&'static str>,
    pub ifindex: Option<u32>,
    pub vlan: Vec<u16>,
    pub ethertype: Option<u16>,
    pub proto: &'static str,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub ip_proto: Option<u8>,
    pub ttl: Option<u8>,
    pub ip_id: Option<u16>,
    pub hop_limit: Option<u8>,
    pub flow_label: Option<u32>,
    pub ext_headers: Option<Vec<u8>>,
    pub fragment: Option<FragmentRecord>,
    pub tcp: Option<TcpRecord>,
    pub udp: Option<UdpRecord>,
    pub icmp: Option<IcmpRecord>,
    pub arp: Option<ArpRecord>,
    pub truncated: bool,
    pub malformed: Option<String>,
}

/// The `fragment` object.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FragmentRecord {
    pub id: u32,
    pub offset: u16,
    pub more: bool,
}

/// The `tcp` object.
#[derive(Debug, Clone, Serialize)]
pub struct TcpRecord {
    /// tcpdump letters: `S.`.
    pub flags: String,
    /// Lower-case names of the flags set.
    pub flag_names: Vec<&'static str>,
    pub seq: u32,
    /// Null unless ACK is set.
    pub ack: Option<u32>,
    pub window: u16,
    /// Null unless URG is set.
    pub urgent: Option<u16>,
    pub header_len: u8,
    pub options: Vec<TcpOptionRecord>,
    /// The capture ends inside the options; `options` has those captured whole.
    pub options_truncated: bool,
    pub payload_len: usize,
}

/// One TCP option in JSON, tagged by `kind`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TcpOptionRecord {
    Eol,
    Nop,
    Mss { value: u16 },
    Wscale { value: u8 },
    SackOk,
    Sack { blocks: Vec<[u32; 2]> },
    Timestamp { val: u32, ecr: u32 },
    Unknown { number: u8, len: u8 },
    Bad { number: u8, len: u8 },
}

/// The `udp` object.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct UdpRecord {
    pub length: u16,
    pub payload_len: usize,
}

/// The `icmp` object (ICMP and ICMPv6).
#[derive(Debug, Clone, Serialize)]
pub struct IcmpRecord {
    #[serde(rename = "type")]
    pub icmp_type: u8,
    pub code: u8,
    pub name: Option<&'static str>,
    pub code_name: Option<&'static str>,
    pub id: Option<u16>,
    pub seq: Option<u16>,
    pub mtu: Option<u32>,
    pub gateway: Option<Ipv4Addr>,
    pub pointer: Option<u32>,
    pub payload_len: usize,
    pub quoted: Option<QuotedRecord>,
    pub ndp: Option<NdpRecord>,
}

/// The packet an ICMP error quotes.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct QuotedRecord {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ip_proto: u8,
    pub proto: &'static str,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub tcp_seq: Option<u32>,
    pub icmp_type: Option<u8>,
    pub icmp_name: Option<&'static str>,
    pub id: Option<u16>,
    pub seq: Option<u16>,
}

/// An NDP message; only the keys that apply to its kind are written.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NdpRecord {
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Ipv6Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<Ipv6Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_mac: Option<Mac>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_mac: Option<Mac>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub solicited: Option<bool>,
    #[serde(rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_flag: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hop_limit: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefixes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

/// The `arp` object.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ArpRecord {
    pub op: &'static str,
    pub opcode: u16,
    pub hardware_type: u16,
    pub protocol_type: u16,
    pub sender_mac: Option<Mac>,
    pub sender_ip: Option<Ipv4Addr>,
    pub target_mac: Option<Mac>,
    pub target_ip: Option<Ipv4Addr>,
}

fn link_name(t: LinkType) -> &'static str {
    match t {
        LinkType::Ethernet => "ethernet",
        LinkType::LinuxSll => "linux_sll",
        LinkType::LinuxSll2 => "linux_sll2",
        LinkType::Raw => "raw",
        LinkType::Ipv4 => "ipv4",
        LinkType::Ipv6 => "ipv6",
        LinkType::Null => "null",
        LinkType::Other(_) => "other",
    }
}

fn packet_type_name(t: u16) -> &'static str {
    match t {
        0 => "host",
        1 => "broadcast",
        2 => "multicast",
        3 => "otherhost",
        4 => "outgoing",
        _ => "unknown",
    }
}

/// The JSON `proto` value.
fn proto_key(d: &Decoded) -> &'static str {
    let v6 = matches!(
        d.network,
        Network::Ipv6(_)
            | Network::Truncated {
                proto: NetProto::Ipv6,
                ..
            }
            | Network::Malformed {
                proto: NetProto::Ipv6,
                ..
            }
    );
    let by_number = |p: u8| match p {
        ip_proto::TCP => "tcp",
        ip_proto::UDP => "udp",
        ip_proto::ICMP => "icmp",
        ip_proto::ICMPV6 => "icmp6",
        _ if v6 => "ip6",
        _ => "ip",
    };
    match (&d.network, &d.transport) {
        (_, Transport::Tcp(_)) => "tcp",
        (_, Transport::Udp(_)) => "udp",
        (_, Transport::Icmp(_)) => "icmp",
        (_, Transport::Icmpv6(_)) => "icmp6",
        (
            _,
            Transport::Fragment { proto }
            | Transport::Other { proto }
            | Transport::Truncated { proto, .. }
            | Transport::Malformed { proto, .. },
        ) => by_number(*proto),
        (Network::Arp(_), _)
        | (
            Network::Truncated {
                proto: NetProto::Arp,
                ..
            }
            | Network::Malformed {
                proto: NetProto::Arp,
                ..
            },
            _,
        ) => "arp",
        (Network::Ipv6(_), _) => "ip6",
        (Network::Ipv4(_), _) => "ip",
        (Network::Truncated { proto, .. } | Network::Malformed { proto, .. }, Transport::None) => {
            match proto {
                NetProto::Ipv6 => "ip6",
                NetProto::Ipv4 | NetProto::Ip => "ip",
                NetProto::Arp | NetProto::Vlan => "other",
            }
        }
        (Network::None | Network::Other { .. }, Transport::None) => "other",
    }
}

fn tcp_record(t: &Tcp) -> TcpRecord {
    TcpRecord {
        flags: tcp_flag_letters(t.flags),
        flag_names: tcp_flag_names(t.flags),
        seq: t.seq,
        ack: t.has(ACK).then_some(t.ack),
        window: t.window,
        urgent: t.has(URG).then_some(t.urgent),
        header_len: t.header_len,
        options: t
            .options
            .iter()
            .map(|o| match o {
                TcpOption::Eol => TcpOptionRecord::Eol,
                TcpOption::Nop => TcpOptionRecord::Nop,
                TcpOption::Mss(value) => TcpOptionRecord::Mss { value: *value },
                TcpOption::WindowScale(value) => TcpOptionRecord::Wscale { value: *value },
                TcpOption::SackPermitted => TcpOptionRecord::SackOk,
                TcpOption::Sack(blocks) => TcpOptionRecord::Sack {
                    blocks: blocks.iter().map(|&(l, r)| [l, r]).collect(),
                },
                TcpOption::Timestamps { val, ecr } => TcpOptionRecord::Timestamp {
                    val: *val,
                    ecr: *ecr,
                },
                TcpOption::Unknown { kind, len } => TcpOptionRecord::Unknown {
                    number: *kind,
                    len: *len,
                },
                TcpOption::Bad { kind, len } => TcpOptionRecord::Bad {
                    number: *kind,
                    len: *len,
                },
            })
            .collect(),
        options_truncated: t.options_cut,
        payload_len: t.payload_len,
    }
}

fn quoted_record(q: &Quoted, v6: bool) -> QuotedRecord {
    let proto = match q.protocol {
        ip_proto::TCP => "tcp",
        ip_proto::UDP => "udp",
        ip_proto::ICMP => "icmp",
        ip_proto::ICMPV6 => "icmp6",
        _ if v6 => "ip6",
        _ => "ip",
    };
    QuotedRecord {
        src: q.src,
        dst: q.dst,
        ip_proto: q.protocol,
        proto,
        src_port: q.ports.map(|p| p.0),
        dst_port: q.ports.map(|p| p.1),
        tcp_seq: q.tcp_seq,
        icmp_type: q.icmp.map(|m| m.icmp_type),
        icmp_name: q.icmp.and_then(|m| m.name),
        id: q.icmp.and_then(|m| m.echo).map(|e| e.id),
        seq: q.icmp.and_then(|m| m.echo).map(|e| e.seq),
    }
}

fn ndp_record(n: &Ndp) -> NdpRecord {
    let mac = |m: &Option<Mac>| *m;
    match n {
        Ndp::RouterSolicitation { source_mac } => NdpRecord {
            kind: "router_solicitation",
            source_mac: mac(source_mac),
            ..NdpRecord::default()
        },
        Ndp::RouterAdvertisement {
            hop_limit,
            managed,
            other,
            lifetime,
            source_mac,
            prefixes,
            mtu,
        } => NdpRecord {
            kind: "router_advertisement",
            hop_limit: Some(*hop_limit),
            managed: Some(*managed),
            other: Some(*other),
            lifetime: Some(*lifetime),
            source_mac: mac(source_mac),
            prefixes: Some(prefixes.iter().map(|(p, l)| format!("{p}/{l}")).collect()),
            mtu: *mtu,
            ..NdpRecord::default()
        },
        Ndp::NeighborSolicitation { target, source_mac } => NdpRecord {
            kind: "neighbor_solicitation",
            target: Some(*target),
            source_mac: mac(source_mac),
            ..NdpRecord::default()
        },
        Ndp::NeighborAdvertisement {
            target,
            router,
            solicited,
            override_flag,
            target_mac,
        } => NdpRecord {
            kind: "neighbor_advertisement",
            target: Some(*target),
            router: Some(*router),
            solicited: Some(*solicited),
            override_flag: Some(*override_flag),
            target_mac: mac(target_mac),
            ..NdpRecord::default()
        },
        Ndp::Redirect {
            target,
            destination,
            target_mac,
        } => NdpRecord {
            kind: "redirect",
            target: Some(*target),
            destination: Some(*destination),
            target_mac: mac(target_mac),
            ..NdpRecord::default()
        },
    }
}

fn icmp_record(i: &Icmp, v6: bool) -> IcmpRecord {
    IcmpRecord {
        icmp_type: i.icmp_type,
        code: i.code,
        name: i.name,
        code_name: i.code_name,
        id: i.echo.map(|e| e.id),
        seq: i.echo.map(|e| e.seq),
        mtu: i.mtu,
        gateway: i.gateway,
        pointer: i.pointer,
        payload_len: i.payload_len,
        quoted: i.quoted.as_ref().map(|q| quoted_record(q, v6)),
        ndp: i.ndp.as_ref().map(ndp_record),
    }
}

fn arp_record(a: &Arp) -> ArpRecord {
    ArpRecord {
        op: match a.operation {
            1 => "request",
            2 => "reply",
            3 => "reverse_request",
            4 => "reverse_reply",
            _ => "unknown",
        },
        opcode: a.operation,
        hardware_type: a.hardware_type,
        protocol_type: a.protocol_type,
        sender_mac: a.sender_mac,
        sender_ip: a.sender_ip,
        target_mac: a.target_mac,
        target_ip: a.target_ip,
    }
}

/// The JSON record of a packet (see the module docs for the fields); it serializes with the
/// keys in the documented order, `type` first.
pub fn packet_json(frame: &Frame<'_>, d: &Decoded) -> PacketRecord {
    let endpoints = d.ip_endpoints();
    let ports = d.ports();
    let (ether, sll) = match &d.link {
        Link::Ethernet(e) => (Some(e), None),
        Link::LinuxSll(s) | Link::LinuxSll2(s) => (None, Some(s)),
        _ => (None, None),
    };
    let (v4, v6) = match &d.network {
        Network::Ipv4(ip) => (Some(ip), None),
        Network::Ipv6(ip) => (None, Some(ip)),
        _ => (None, None),
    };
    PacketRecord {
        record_type: "packet",
        time: rfc3339_utc(frame.ts),
        timestamp: frame.ts.as_secs_f64(),
        interface: frame.interface.map(str::to_owned),
        length: frame.orig_len,
        caplen: frame.data.len(),
        link: link_name(frame.link),
        link_type: frame.link.number(),
        src_mac: ether.map(|e| e.src),
        dst_mac: ether.map(|e| e.dst),
        packet_type: sll.map(|s| packet_type_name(s.packet_type)),
        ifindex: sll.and_then(|s| s.ifindex),
        vlan: d.vlans.iter().map(|v| v.id).collect(),
        ethertype: d.ethertype,
        proto: proto_key(d),
        src: endpoints.map(|e| e.0),
        dst: endpoints.map(|e| e.1),
        src_port: ports.map(|p| p.0),
        dst_port: ports.map(|p| p.1),
        ip_proto: d.ip_protocol(),
        ttl: v4.map(|ip| ip.ttl),
        ip_id: v4.map(|ip| ip.id),
        hop_limit: v6.map(|ip| ip.hop_limit),
        flow_label: v6.map(|ip| ip.flow_label),
        ext_headers: v6.map(|ip| ip.ext_headers.clone()),
        fragment: d.fragment().map(|f| FragmentRecord {
            id: f.id,
            offset: f.offset,
            more: f.more,
        }),
        tcp: d.tcp().map(tcp_record),
        udp: d.udp().map(|u| UdpRecord {
            length: u.length,
            payload_len: u.payload_len,
        }),
        icmp: match &d.transport {
            Transport::Icmp(i) => Some(icmp_record(i, false)),
            Transport::Icmpv6(i) => Some(icmp_record(i, true)),
            _ => None,
        },
        arp: d.arp().map(arp_record),
        truncated: d.truncated || (frame.data.len() as u64) < u64::from(frame.orig_len),
        malformed: d.malformed(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::packet::decode::decode;
    use crate::packet::decode::tests::build::*;

    const TS: Duration = Duration::new(1_795_493_520, 123_456_789);

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }
    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn frame<'a>(link: LinkType, data: &'a [u8], iface: Option<&'a str>) -> Frame<'a> {
        Frame {
            ts: TS,
            link,
            data,
            orig_len: data.len() as u32,
            interface: iface,
        }
    }

    /// The line of an Ethernet frame, without the time column.
    fn line_of(link: LinkType, data: &[u8], iface: Option<&str>) -> String {
        let f = frame(link, data, iface);
        let line = packet_line(&f, &decode(link, data));
        let time = clock_time(TS);
        assert!(line.starts_with(&format!("{time} ")), "{line}");
        line[time.len() + 1..].to_string()
    }

    fn json_of(frame: &Frame<'_>, d: &Decoded) -> serde_json::Value {
        serde_json::to_value(packet_json(frame, d)).unwrap()
    }

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        eth_frame(MAC_A, MAC_B, ethertype, payload)
    }

    #[test]
    fn tcp_syn_line_and_time_column() {
        let f = loopback_syn();
        let fr = frame(LinkType::Ethernet, &f, Some("lo"));
        let line = packet_line(&fr, &decode(LinkType::Ethernet, &f));
        assert_eq!(
            line,
            format!(
                "{} lo TCP 127.0.0.1:45678 > 127.0.0.1:8080 [S] seq 1234567 win 65495 \
                 <mss 65495,sackOK,TS val 1 ecr 0,nop,wscale 7> len 0, length 74",
                clock_time(TS)
            )
        );
        assert!(clock_time(TS).ends_with(".123456"));
    }

    #[test]
    fn tcp_flags_ack_urg_and_options() {
        let lo = Ipv4Addr::LOCALHOST;
        let t = tcp_packet(
            8080,
            45678,
            99,
            1234568,
            SYN | ACK,
            65483,
            &[2, 4, 0xff, 0xd7],
            &[],
        );
        let l = line_of(
            LinkType::Ethernet,
            &eth(0x0800, &ipv4_packet(lo, lo, 6, &t)),
            Some("lo"),
        );
        assert_eq!(
            l,
            "lo TCP 127.0.0.1:8080 > 127.0.0.1:45678 [S.] seq 99 ack 1234568 win 65483 \
             <mss 65495> len 0, length 58"
        );
        // The last option claims 12 bytes where 6 are left.
        let mut o = vec![1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 30, 2, 40, 12];
        o.extend_from_slice(&[0; 4]);
        let t = tcp_packet(
            1,
            2,
            3,
            4,
            FIN | PSH | ACK | URG | ECE | CWR | NS,
            5,
            &o,
            b"hi",
        );
        let l = line_of(LinkType::Ipv4, &ipv4_packet(lo, lo, 6, &t), None);
        assert_eq!(
            l,
            "- TCP 127.0.0.1:1 > 127.0.0.1:2 [FP.UEWe] seq 3 ack 4 win 5 urg 0 \
             <nop,nop,sack 1 {1:2},mptcp len 2,bad opt-40 len 12> len 2, length 62"
        );
        let t = tcp_packet(1, 2, 3, 4, 0, 5, &[], &[]);
        let l = line_of(LinkType::Ipv4, &ipv4_packet(lo, lo, 6, &t), None);
        assert_eq!(
            l,
            "- TCP 127.0.0.1:1 > 127.0.0.1:2 [none] seq 3 win 5 len 0, length 40"
        );
    }

    #[test]
    fn udp_v6_line() {
        let u = udp_datagram(53, 40000, &[0; 33]);
        let p = ipv6_packet(v6("fd00::1"), v6("fd00::2"), 17, &u);
        let l = line_of(LinkType::Ethernet, &eth(0x86dd, &p), Some("eth0"));
        assert_eq!(
            l,
            "eth0 UDP [fd00::1]:53 > [fd00::2]:40000 len 33, length 95"
        );
    }

    #[test]
    fn icmp_lines() {
        let lo = Ipv4Addr::LOCALHOST;
        let m = icmp_message(8, 0, [0, 7, 0, 1], &[0; 56]);
        let l = line_of(
            LinkType::Ethernet,
            &eth(0x0800, &ipv4_packet(lo, lo, 1, &m)),
            Some("lo"),
        );
        assert_eq!(
            l,
            "lo ICMP 127.0.0.1 > 127.0.0.1 echo request id 7 seq 1, length 98"
        );

        let (a, b) = (v4("10.0.0.1"), v4("10.0.0.2"));
        let quoted = ipv4_packet(b, a, 17, &udp_datagram(5000, 53, &[])[..8]);
        let m = icmp_message(3, 3, [0; 4], &quoted);
        let l = line_of(
            LinkType::Ethernet,
            &eth(0x0800, &ipv4_packet(a, b, 1, &m)),
            Some("eth0"),
        );
        assert_eq!(
            l,
            "eth0 ICMP 10.0.0.1 > 10.0.0.2 destination unreachable (port unreachable) \
             for UDP 10.0.0.2:5000 > 10.0.0.1:53, length 70"
        );

        let syn = ipv4_packet(b, a, 6, &tcp_packet(40000, 80, 1, 0, SYN, 0, &[], &[])[..8]);
        let m = icmp_message(3, 4, [0, 0, 0x05, 0x78], &syn);
        let l = line_of(LinkType::Ipv4, &ipv4_packet(a, b, 1, &m), None);
        assert_eq!(
            l,
            "- ICMP 10.0.0.1 > 10.0.0.2 destination unreachable (fragmentation needed) mtu 1400 \
             for TCP 10.0.0.2:40000 > 10.0.0.1:80, length 56"
        );
        let m = icmp_message(5, 1, [10, 0, 0, 254], &syn);
        let l = line_of(LinkType::Ipv4, &ipv4_packet(a, b, 1, &m), None);
        assert_eq!(
            l,
            "- ICMP 10.0.0.1 > 10.0.0.2 redirect (host) to 10.0.0.254 \
             for TCP 10.0.0.2:40000 > 10.0.0.1:80, length 56"
        );
        let probe = ipv4_packet(b, v4("8.8.8.8"), 1, &icmp_message(8, 0, [0, 9, 0, 3], &[]));
        let m = icmp_message(11, 0, [0; 4], &probe);
        let l = line_of(LinkType::Ipv4, &ipv4_packet(a, b, 1, &m), None);
        assert_eq!(
            l,
            "- ICMP 10.0.0.1 > 10.0.0.2 time exceeded (TTL exceeded in transit) \
             for ICMP 10.0.0.2 > 8.8.8.8 echo request id 9 seq 3, length 56"
        );
        let m = icmp_message(42, 3, [0; 4], &[]);
        let l = line_of(LinkType::Ipv4, &ipv4_packet(a, b, 1, &m), None);
        assert_eq!(l, "- ICMP 10.0.0.1 > 10.0.0.2 type 42 code 3, length 28");
    }

    #[test]
    fn icmpv6_lines() {
        let (a, b) = (v6("fd00::1"), v6("fd00::2"));
        let m = icmp_message(129, 0, [0, 7, 0, 2], &[]);
        let l = line_of(LinkType::Ipv6, &ipv6_packet(b, a, 58, &m), None);
        assert_eq!(
            l,
            "- ICMP6 fd00::2 > fd00::1 echo reply id 7 seq 2, length 48"
        );

        let inner = ipv6_packet(a, b, 17, &udp_datagram(5000, 53, &[]));
        let m = icmp_message(1, 4, [0; 4], &inner);
        let l = line_of(LinkType::Ipv6, &ipv6_packet(b, a, 58, &m), None);
        assert_eq!(
            l,
            "- ICMP6 fd00::2 > fd00::1 destination unreachable (port unreachable) \
             for UDP [fd00::1]:5000 > [fd00::2]:53, length 96"
        );
        let m = icmp_message(2, 0, [0, 0, 5, 0], &inner);
        let l = line_of(LinkType::Ipv6, &ipv6_packet(b, a, 58, &m), None);
        assert_eq!(
            l,
            "- ICMP6 fd00::2 > fd00::1 packet too big mtu 1280 \
             for UDP [fd00::1]:5000 > [fd00::2]:53, length 96"
        );

        let mut ns = v6("fe80::2").octets().to_vec();
        ns.extend_from_slice(&[1, 1]);
        ns.extend_from_slice(&MAC_A);
        let m = icmp_message(135, 0, [0; 4], &ns);
        let p = ipv6_packet(v6("fe80::1"), v6("ff02::1:ff00:2"), 58, &m);
        let l = line_of(LinkType::Ethernet, &eth(0x86dd, &p), Some("eth0"));
        assert_eq!(
            l,
            "eth0 ICMP6 fe80::1 > ff02::1:ff00:2 neighbor solicitation who-has fe80::2 \
             from aa:bb:cc:dd:ee:ff, length 86"
        );
        let mut na = v6("fe80::2").octets().to_vec();
        na.extend_from_slice(&[2, 1]);
        na.extend_from_slice(&MAC_B);
        let m = icmp_message(136, 0, [0xe0, 0, 0, 0], &na);
        let l = line_of(
            LinkType::Ipv6,
            &ipv6_packet(v6("fe80::2"), v6("fe80::1"), 58, &m),
            None,
        );
        assert_eq!(
            l,
            "- ICMP6 fe80::2 > fe80::1 neighbor advertisement fe80::2 is-at 02:00:00:00:00:01 \
             flags [router,solicited,override], length 72"
        );
        let m = icmp_message(134, 0, [64, 0x80, 0x07, 0x08], &[0; 8]);
        let l = line_of(
            LinkType::Ipv6,
            &ipv6_packet(v6("fe80::1"), v6("ff02::1"), 58, &m),
            None,
        );
        assert_eq!(
            l,
            "- ICMP6 fe80::1 > ff02::1 router advertisement hop limit 64 lifetime 1800 \
             flags [managed], length 56"
        );
    }

    #[test]
    fn arp_lines() {
        let req = arp_packet(1, MAC_B, v4("10.0.0.1"), [0; 6], v4("10.0.0.2"));
        let l = line_of(LinkType::Ethernet, &eth(0x0806, &req), Some("eth0"));
        assert_eq!(l, "eth0 ARP who-has 10.0.0.2 tell 10.0.0.1, length 42");
        let rep = arp_packet(2, MAC_A, v4("10.0.0.2"), MAC_B, v4("10.0.0.1"));
        let l = line_of(LinkType::Ethernet, &eth(0x0806, &rep), Some("eth0"));
        assert_eq!(l, "eth0 ARP 10.0.0.2 is-at aa:bb:cc:dd:ee:ff, length 42");
        let mut odd = rep.clone();
        odd[7] = 9;
        let l = line_of(LinkType::Ethernet, &eth(0x0806, &odd), Some("eth0"));
        assert_eq!(l, "eth0 ARP op 9 hardware 1 protocol 0x0800, length 42");
    }

    #[test]
    fn vlan_fragment_other_and_damaged_lines() {
        let (a, b) = (v4("10.0.0.1"), v4("10.0.0.2"));
        let u = udp_datagram(1000, 53, b"q");
        let tagged = [
            &[0, 100, 0x81, 0x00, 0, 200, 0x08, 0x00][..],
            &ipv4_packet(a, b, 17, &u),
        ]
        .concat();
        let l = line_of(LinkType::Ethernet, &eth(0x88a8, &tagged), Some("eth0"));
        assert_eq!(
            l,
            "eth0 vlan 100 vlan 200 UDP 10.0.0.1:1000 > 10.0.0.2:53 len 1, length 51"
        );

        let first = ipv4_packet_full(
            a,
            b,
            17,
            64,
            1234,
            0x2000,
            &[],
            &udp_datagram(1000, 53, &[0; 24]),
        );
        let l = line_of(LinkType::Ipv4, &first, None);
        assert_eq!(
            l,
            "- UDP 10.0.0.1:1000 > 10.0.0.2:53 len 24 frag id 1234 offset 0 MF, length 52"
        );
        let later = ipv4_packet_full(a, b, 17, 64, 1234, 185, &[], &[0; 20]);
        let l = line_of(LinkType::Ipv4, &later, None);
        assert_eq!(
            l,
            "- UDP 10.0.0.1 > 10.0.0.2 frag id 1234 offset 1480, length 40"
        );

        let l = line_of(LinkType::Ethernet, &eth(0x88cc, &[0; 30]), Some("eth0"));
        assert_eq!(l, "eth0 ethertype 0x88cc (LLDP), length 44");
        let l = line_of(LinkType::Ethernet, &eth(0x0026, &[0; 38]), Some("eth0"));
        assert_eq!(l, "eth0 802.3 length 38, length 52");
        let l = line_of(LinkType::Ipv4, &ipv4_packet(a, b, 47, &[0; 4]), None);
        assert_eq!(l, "- IP 10.0.0.1 > 10.0.0.2 proto 47 (GRE), length 24");

        let t = tcp_packet(40000, 80, 1, 0, SYN, 0, &[], &[]);
        let full = eth(0x0800, &ipv4_packet(a, b, 6, &t));
        let l = line_of(LinkType::Ethernet, &full[..14 + 20 + 10], Some("eth0"));
        assert_eq!(
            l,
            "eth0 TCP 10.0.0.1:40000 > 10.0.0.2:80 [truncated TCP header], length 44"
        );
        let t = tcp_packet(40000, 80, 1, 0, SYN, 0, &linux_syn_options(1460, 1, 7), &[]);
        let with_opts = eth(0x0800, &ipv4_packet(a, b, 6, &t));
        let l = line_of(LinkType::Ethernet, &with_opts[..60], Some("eth0"));
        assert_eq!(
            l,
            "eth0 TCP 10.0.0.1:40000 > 10.0.0.2:80 [S] seq 1 win 0 <mss 1460,sackOK,[truncated]> \
             len 0, length 60"
        );
        let l = line_of(LinkType::Ethernet, &with_opts[..55], Some("eth0"));
        assert_eq!(
            l,
            "eth0 TCP 10.0.0.1:40000 > 10.0.0.2:80 [S] seq 1 win 0 <[truncated]> len 0, length 55"
        );
        let l = line_of(LinkType::Ethernet, &full[..14 + 2], Some("eth0"));
        assert_eq!(l, "eth0 IP [truncated IPv4 header], length 16");
        let l = line_of(LinkType::Ethernet, &full[..10], Some("eth0"));
        assert_eq!(l, "eth0 [truncated Ethernet header], length 10");
        let mut bad = full.clone();
        bad[14] = 0x43;
        let l = line_of(LinkType::Ethernet, &bad, Some("eth0"));
        assert_eq!(
            l,
            "eth0 IP 10.0.0.1 > 10.0.0.2 [malformed IPv4 header: header length 12 < 20], length 54"
        );
        let l = line_of(LinkType::Other(147), &[1, 2], Some("x"));
        assert_eq!(l, "x link type 147, length 2");
    }

    #[test]
    fn interface_names_are_defused() {
        let f = loopback_syn();
        let l = line_of(LinkType::Ethernet, &f, Some("ev\x1b[2Jil name"));
        assert!(l.starts_with("ev?[2Jil?name TCP "), "{l}");
        let l = line_of(LinkType::Ethernet, &f, Some(""));
        assert!(l.starts_with("- TCP "), "{l}");
        assert!(!l.chars().any(char::is_control));
    }

    #[test]
    fn tcp_json() {
        let f = loopback_syn();
        let mut fr = frame(LinkType::Ethernet, &f, Some("lo"));
        fr.orig_len = 80;
        let j = json_of(&fr, &decode(LinkType::Ethernet, &f));
        assert_eq!(j["type"], "packet");
        assert_eq!(j["time"], "2026-11-24T04:12:00.123456789Z");
        assert!((j["timestamp"].as_f64().unwrap() - 1_795_493_520.123_456_8).abs() < 1e-5);
        assert_eq!(j["interface"], "lo");
        assert_eq!(
            (j["length"].as_u64(), j["caplen"].as_u64()),
            (Some(80), Some(74))
        );
        assert_eq!(j["link"], "ethernet");
        assert_eq!(j["link_type"], 1);
        assert_eq!(j["src_mac"], "00:00:00:00:00:00");
        assert_eq!(j["vlan"], json!([]));
        assert_eq!(j["ethertype"], 2048);
        assert_eq!(j["proto"], "tcp");
        assert_eq!(
            (&j["src"], &j["dst"]),
            (&json!("127.0.0.1"), &json!("127.0.0.1"))
        );
        assert_eq!(
            (&j["src_port"], &j["dst_port"]),
            (&json!(45678), &json!(8080))
        );
        assert_eq!(
            (&j["ip_proto"], &j["ttl"], &j["ip_id"]),
            (&json!(6), &json!(64), &json!(4660))
        );
        assert_eq!(
            (&j["hop_limit"], &j["fragment"], &j["udp"]),
            (&json!(null), &json!(null), &json!(null))
        );
        assert_eq!(
            j["tcp"],
            json!({
                "flags": "S", "flag_names": ["syn"], "seq": 1234567, "ack": null,
                "window": 65495, "urgent": null, "header_len": 40, "payload_len": 0,
                "options_truncated": false,
                "options": [
                    {"kind": "mss", "value": 65495}, {"kind": "sack_ok"},
                    {"kind": "timestamp", "val": 1, "ecr": 0}, {"kind": "nop"},
                    {"kind": "wscale", "value": 7}
                ]
            })
        );
        // caplen < length: the capture holds less than the frame.
        assert_eq!(j["truncated"], true);
        assert_eq!(j["malformed"], json!(null));
        // Every documented key is there.
        for key in [
            "type",
            "time",
            "timestamp",
            "interface",
            "length",
            "caplen",
            "link",
            "link_type",
            "src_mac",
            "dst_mac",
            "packet_type",
            "ifindex",
            "vlan",
            "ethertype",
            "proto",
            "src",
            "dst",
            "src_port",
            "dst_port",
            "ip_proto",
            "ttl",
            "ip_id",
            "hop_limit",
            "flow_label",
            "ext_headers",
            "fragment",
            "tcp",
            "udp",
            "icmp",
            "arp",
            "truncated",
            "malformed",
        ] {
            assert!(j.get(key).is_some(), "{key}");
        }
        assert_eq!(j.as_object().unwrap().len(), 32);
    }

    #[test]
    fn icmp_arp_ndp_and_other_json() {
        let (a, b) = (v4("10.0.0.1"), v4("10.0.0.2"));
        let quoted = ipv4_packet(b, a, 17, &udp_datagram(5000, 53, &[])[..8]);
        let p = ipv4_packet(a, b, 1, &icmp_message(3, 3, [0; 4], &quoted));
        let j = json_of(&frame(LinkType::Raw, &p, None), &decode(LinkType::Raw, &p));
        assert_eq!(j["proto"], "icmp");
        assert_eq!(j["interface"], json!(null));
        assert_eq!(j["link"], "raw");
        assert_eq!(j["src_mac"], json!(null));
        assert_eq!(
            j["icmp"],
            json!({
                "type": 3, "code": 3, "name": "destination unreachable",
                "code_name": "port unreachable", "id": null, "seq": null, "mtu": null,
                "gateway": null, "pointer": null, "payload_len": 28, "ndp": null,
                "quoted": {"src": "10.0.0.2", "dst": "10.0.0.1", "ip_proto": 17, "proto": "udp",
                    "src_port": 5000, "dst_port": 53, "tcp_seq": null, "icmp_type": null, "icmp_name": null,
                    "id": null, "seq": null}
            })
        );
        assert_eq!(j["truncated"], false);

        let req = eth(0x0806, &arp_packet(1, MAC_B, a, [0; 6], b));
        let j = json_of(
            &frame(LinkType::Ethernet, &req, None),
            &decode(LinkType::Ethernet, &req),
        );
        assert_eq!(j["proto"], "arp");
        assert_eq!(
            j["arp"],
            json!({"op": "request", "opcode": 1, "hardware_type": 1, "protocol_type": 2048,
                "sender_mac": "02:00:00:00:00:01", "sender_ip": "10.0.0.1",
                "target_mac": "00:00:00:00:00:00", "target_ip": "10.0.0.2"})
        );
        assert_eq!(j["src"], json!(null));

        let mut na = v6("fe80::2").octets().to_vec();
        na.extend_from_slice(&[2, 1]);
        na.extend_from_slice(&MAC_B);
        let p = ipv6_packet(
            v6("fe80::2"),
            v6("fe80::1"),
            58,
            &icmp_message(136, 0, [0x40, 0, 0, 0], &na),
        );
        let j = json_of(
            &frame(LinkType::Ipv6, &p, None),
            &decode(LinkType::Ipv6, &p),
        );
        assert_eq!(j["proto"], "icmp6");
        assert_eq!(
            (&j["hop_limit"], &j["flow_label"]),
            (&json!(64), &json!(0xabcde))
        );
        assert_eq!(j["ext_headers"], json!([]));
        assert_eq!(
            j["icmp"]["ndp"],
            json!({"kind": "neighbor_advertisement", "target": "fe80::2", "router": false,
                "solicited": true, "override": false, "target_mac": "02:00:00:00:00:01"})
        );

        let later = ipv4_packet_full(a, b, 17, 64, 1234, 185, &[], &[0; 20]);
        let j = json_of(
            &frame(LinkType::Ipv4, &later, None),
            &decode(LinkType::Ipv4, &later),
        );
        assert_eq!(j["proto"], "udp");
        assert_eq!(
            j["fragment"],
            json!({"id": 1234, "offset": 1480, "more": false})
        );
        assert_eq!((&j["src_port"], &j["udp"]), (&json!(null), &json!(null)));

        let lldp = eth(0x88cc, &[0; 30]);
        let j = json_of(
            &frame(LinkType::Ethernet, &lldp, None),
            &decode(LinkType::Ethernet, &lldp),
        );
        assert_eq!(
            (&j["proto"], &j["ethertype"]),
            (&json!("other"), &json!(0x88cc))
        );

        let gre = ipv4_packet(a, b, 47, &[0; 4]);
        let j = json_of(
            &frame(LinkType::Ipv4, &gre, None),
            &decode(LinkType::Ipv4, &gre),
        );
        assert_eq!((&j["proto"], &j["ip_proto"]), (&json!("ip"), &json!(47)));

        let mut bad = gre.clone();
        bad[0] = 0x42;
        let j = json_of(
            &frame(LinkType::Ipv4, &bad, None),
            &decode(LinkType::Ipv4, &bad),
        );
        assert_eq!(j["malformed"], "IPv4 header: header length 8 < 20");
        assert_eq!((&j["proto"], &j["src"]), (&json!("ip"), &json!("10.0.0.1")));

        let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6];
        sll2.extend_from_slice(&[1, 2, 3, 4, 5, 6, 0, 0]);
        sll2.extend_from_slice(&gre);
        let j = json_of(
            &frame(LinkType::LinuxSll2, &sll2, Some("any")),
            &decode(LinkType::LinuxSll2, &sll2),
        );
        assert_eq!(
            (&j["link"], &j["link_type"]),
            (&json!("linux_sll2"), &json!(276))
        );
        assert_eq!(
            (&j["packet_type"], &j["ifindex"]),
            (&json!("outgoing"), &json!(3))
        );
    }

    #[test]
    fn rendering_damaged_frames_never_panics_nor_prints_control_characters() {
        use crate::packet::decode::tests::{ALL_LINKS, Rng, framed, seeds};
        let seeds = seeds();
        let mut rng = Rng(42);
        for round in 0..20_000 {
            let link = ALL_LINKS[round % ALL_LINKS.len()];
            let seed = rng.below(seeds.len());
            let mut f = framed(link, seed, &seeds[seed]);
            for _ in 0..1 + rng.below(3) {
                if f.is_empty() {
                    break;
                }
                let at = rng.below(f.len());
                if rng.below(4) == 0 {
                    f.truncate(at);
                } else {
                    f[at] = rng.next() as u8;
                }
            }
            let fr = frame(link, &f, Some("eth0"));
            let d = decode(link, &f);
            let line = packet_line(&fr, &d);
            assert!(!line.chars().any(char::is_control), "{line}");
            assert!(line.ends_with(&format!(", length {}", f.len())), "{line}");
            let j = json_of(&fr, &d);
            assert_eq!(j["type"], "packet");
        }
    }
}
