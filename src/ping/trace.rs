//! `trace`: the hop-by-hop path to a host, as `mtr --report` shows it.
//!
//! Every round sends one probe per TTL (hop limit) 1..=MAXHOPS at once — ICMP echo requests,
//! TCP SYNs crafted on a raw socket, or UDP datagrams — and reads the answers: ICMP time
//! exceeded from the routers on the way, and from the target an echo reply, a SYN/ACK or RST,
//! or a port unreachable. Answers are matched to probes by the headers they quote (ICMP
//! identifier and sequence, TCP ports and sequence, UDP source port), never by arrival order.
//! Once the target has answered at TTL k, later rounds probe only 1..=k.
//!
//! The parsing, matching and summing are pure functions over bytes and structs, unit-tested
//! below; [`run`] owns the sockets. Rendering is in [`render_text`] and [`to_json`].

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::error::Error;
use crate::ping::packet::{self, Family};
use crate::ping::socket::{IcmpSocket, Kind, Received, realtime_ns, recv_packet, wait};
use crate::ping::stats::Rtt;
use crate::ping::{Target, interrupted};
use crate::sys::setsockopt;

/// How the path is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceProto {
    Icmp,
    Tcp(u16),
    Udp(u16),
}

impl TraceProto {
    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            TraceProto::Icmp => "icmp",
            TraceProto::Tcp(_) => "tcp",
            TraceProto::Udp(_) => "udp",
        }
    }

    /// The destination port (none for ICMP).
    pub fn port(self) -> Option<u16> {
        match self {
            TraceProto::Icmp => None,
            TraceProto::Tcp(p) | TraceProto::Udp(p) => Some(p),
        }
    }
}

/// A validated trace run.
#[derive(Debug, Clone)]
pub struct TraceConfig {
    pub proto: TraceProto,
    /// The highest TTL probed (1..=255).
    pub max_hops: u8,
    /// Rounds of probes (at least 1).
    pub rounds: u32,
    /// How long a round waits for its answers.
    pub wait: Duration,
}

/// The remedy printed when the raw sockets cannot be opened.
pub const REMEDY: &str = "trace sends TTL-limited probes and reads the ICMP answers of the routers on raw \
sockets, which needs CAP_NET_RAW. Either:\n  run it as root:             sudo sockscope trace …\n  \
grant the capability once:  sudo setcap cap_net_raw+ep $(which sockscope)";

/// One hop of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Hop {
    pub ttl: u8,
    /// Who answered at this TTL, in the order first seen (several: ECMP).
    pub addresses: Vec<IpAddr>,
    /// With -r: the name of each address (same order), where it has one.
    pub names: Vec<Option<String>>,
    pub sent: u64,
    pub received: u64,
    pub rtt: Rtt,
}

impl Hop {
    /// Loss in percent of the probes sent.
    pub fn loss_pct(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        self.sent.saturating_sub(self.received) as f64 * 100.0 / self.sent as f64
    }
}

/// What a trace found.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceReport {
    /// What the user typed.
    pub host: String,
    pub target: IpAddr,
    pub proto: TraceProto,
    /// Whether the target itself answered.
    pub reached: bool,
    pub hops: Vec<Hop>,
    pub elapsed: Duration,
}

impl TraceReport {
    /// The last hop that answered at all.
    pub fn last_answering(&self) -> Option<&Hop> {
        self.hops.iter().rev().find(|h| h.received > 0)
    }
}

/// Splits `HOST[:PORT]`: `198.18.0.1:80`, `[fd00::1]:80`, `name:80`, a bare IPv6 address
/// (`fd00::1`, no port) or a name. Bad syntax (an open bracket, a port that is no number from
/// 1 to 65535, an empty host) is a usage error.
pub fn split_host_port(text: &str) -> Result<(String, Option<u16>), Error> {
    let t = text.trim();
    let bad = |why: &str| Error::Usage(format!("'{text}': {why} (expected HOST or HOST:PORT)"));
    let port_of = |p: &str| -> Result<u16, Error> {
        match p.parse::<u16>() {
            Ok(0) => Err(Error::Usage(format!(
                "'{text}': port 0 cannot be traced: give a port from 1 to 65535"
            ))),
            Ok(n) => Ok(n),
            Err(_) => Err(bad("the port is not a number from 1 to 65535")),
        }
    };
    let (host, port) = if let Some(rest) = t.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return Err(bad("an opening '[' without its ']'"));
        };
        let port = match after {
            "" => None,
            a => match a.strip_prefix(':') {
                Some(p) => Some(port_of(p)?),
                None => return Err(bad("only :PORT may follow ']'")),
            },
        };
        (inside.to_string(), port)
    } else if t.matches(':').count() == 1 {
        let (h, p) = t.split_once(':').unwrap_or((t, ""));
        (h.to_string(), Some(port_of(p)?))
    } else {
        (t.to_string(), None)
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if host.contains(['[', ']', '/', ' ']) {
        return Err(bad("not a host name or address"));
    }
    Ok((host, port))
}

// ----------------------------------------------------------------------------------------------
// Packets: pure builders and parsers.

/// The Internet checksum (RFC 1071) over `chunks` laid end to end (each of even length but
/// the last).
fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for c in chunks {
        let mut it = c.chunks_exact(2);
        for w in &mut it {
            sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
        }
        if let [last] = it.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The TCP pseudo-header of `src` -> `dst` for a segment of `len` bytes (same families).
fn pseudo_header(src: IpAddr, dst: IpAddr, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(40);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&[0, 6]);
            p.extend_from_slice(&(len as u16).to_be_bytes());
        }
        (s, d) => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V6(x) => x.octets(),
                IpAddr::V4(x) => x.to_ipv6_mapped().octets(),
            };
            p.extend_from_slice(&v6(s));
            p.extend_from_slice(&v6(d));
            p.extend_from_slice(&(len as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 6]);
        }
    }
    p
}

/// A TCP SYN from `src`:`sport` to `dst`:`dport` with sequence `seq` and an MSS option, its
/// checksum filled in (24 bytes: what a raw IPPROTO_TCP socket sends after the IP header).
pub fn build_syn(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, seq: u32) -> Vec<u8> {
    let mut s = vec![0u8; 24];
    s[0..2].copy_from_slice(&sport.to_be_bytes());
    s[2..4].copy_from_slice(&dport.to_be_bytes());
    s[4..8].copy_from_slice(&seq.to_be_bytes());
    s[12] = 6 << 4; // data offset: 6 words
    s[13] = TCP_SYN;
    s[14..16].copy_from_slice(&64_240u16.to_be_bytes());
    s[20..24].copy_from_slice(&[2, 4, 0x05, 0xb4]); // MSS 1460
    let sum = checksum(&[&pseudo_header(src, dst, s.len()), &s]);
    s[16..18].copy_from_slice(&sum.to_be_bytes());
    s
}

const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;

/// The headers an ICMP error quotes of the packet it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quoted {
    /// An echo request.
    Icmp {
        id: u16,
        seq: u16,
    },
    Tcp {
        sport: u16,
        dport: u16,
        seq: u32,
    },
    Udp {
        sport: u16,
        dport: u16,
    },
}

/// What an ICMP message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Time (TTL / hop limit) exceeded in transit: a router on the way.
    Exceeded,
    /// Destination unreachable, with its code; `port` when it is a port unreachable.
    Unreachable { code: u8, port: bool },
    /// An echo reply.
    EchoReply { id: u16, seq: u16 },
}

/// An ICMP message about one of the probes (or an echo reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpAnswer {
    pub answer: Answer,
    /// The quoted probe and where it was going (none for echo replies).
    pub quoted: Option<(Quoted, IpAddr)>,
}

/// Parses an ICMP (`V4`; with its IP header when `with_ip_header`, as raw sockets deliver it)
/// or ICMPv6 message. `None`: too short, damaged, or of no interest.
pub fn parse_icmp(family: Family, buf: &[u8], with_ip_header: bool) -> Option<IcmpAnswer> {
    let icmp = match (family, with_ip_header) {
        (Family::V4, true) => {
            let ihl = usize::from(*buf.first()? & 0x0f) * 4;
            if *buf.first()? >> 4 != 4 || ihl < packet::IPV4_HEADER {
                return None;
            }
            buf.get(ihl..)?
        }
        _ => buf,
    };
    if icmp.len() < packet::ICMP_HEADER {
        return None;
    }
    if family == Family::V4 && with_ip_header && checksum(&[icmp]) != 0 {
        return None;
    }
    let (t, code) = (icmp[0], icmp[1]);
    let id_seq = || {
        (
            u16::from_be_bytes([icmp[4], icmp[5]]),
            u16::from_be_bytes([icmp[6], icmp[7]]),
        )
    };
    let answer = match (family, t) {
        (Family::V4, 0) | (Family::V6, 129) => {
            let (id, seq) = id_seq();
            return Some(IcmpAnswer {
                answer: Answer::EchoReply { id, seq },
                quoted: None,
            });
        }
        (Family::V4, 11) | (Family::V6, 3) => Answer::Exceeded,
        (Family::V4, 3) => Answer::Unreachable {
            code,
            port: code == 3,
        },
        (Family::V6, 1) => Answer::Unreachable {
            code,
            port: code == 4,
        },
        _ => return None,
    };
    let quoted = quoted_probe(family, icmp.get(packet::ICMP_HEADER..)?)?;
    Some(IcmpAnswer {
        answer,
        quoted: Some(quoted),
    })
}

/// The probe an ICMP error quotes: its IP header (v4 with options, v6 without extension
/// headers) and the first 8 bytes of what followed.
fn quoted_probe(family: Family, inner: &[u8]) -> Option<(Quoted, IpAddr)> {
    let (proto, dest, l4) = match family {
        Family::V4 => {
            let ihl = usize::from(*inner.first()? & 0x0f) * 4;
            if *inner.first()? >> 4 != 4 || ihl < packet::IPV4_HEADER {
                return None;
            }
            let d: [u8; 4] = inner.get(16..20)?.try_into().ok()?;
            (
                *inner.get(9)?,
                IpAddr::V4(Ipv4Addr::from(d)),
                inner.get(ihl..)?,
            )
        }
        Family::V6 => {
            if *inner.first()? >> 4 != 6 {
                return None;
            }
            let d: [u8; 16] = inner.get(24..40)?.try_into().ok()?;
            (
                *inner.get(6)?,
                IpAddr::V6(Ipv6Addr::from(d)),
                inner.get(40..)?,
            )
        }
    };
    let h = l4.get(..8)?;
    let u16_at = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    let q = match (family, proto) {
        (Family::V4, 1) if h[0] == 8 => Quoted::Icmp {
            id: u16_at(4),
            seq: u16_at(6),
        },
        (Family::V6, 58) if h[0] == 128 => Quoted::Icmp {
            id: u16_at(4),
            seq: u16_at(6),
        },
        (_, 6) => Quoted::Tcp {
            sport: u16_at(0),
            dport: u16_at(2),
            seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        },
        (_, 17) => Quoted::Udp {
            sport: u16_at(0),
            dport: u16_at(2),
        },
        _ => return None,
    };
    Some((q, dest))
}

/// A received TCP segment's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
}

/// Parses a TCP segment as a raw IPPROTO_TCP socket delivers it (IPv4: with the IP header).
pub fn parse_tcp(buf: &[u8], with_ip_header: bool) -> Option<Segment> {
    let tcp = if with_ip_header {
        let ihl = usize::from(*buf.first()? & 0x0f) * 4;
        if *buf.first()? >> 4 != 4 || ihl < packet::IPV4_HEADER || *buf.get(9)? != 6 {
            return None;
        }
        buf.get(ihl..)?
    } else {
        buf
    };
    let h = tcp.get(..20)?;
    Some(Segment {
        sport: u16::from_be_bytes([h[0], h[1]]),
        dport: u16::from_be_bytes([h[2], h[3]]),
        seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
        flags: h[13],
    })
}

/// What identifies this run's probes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Echo requests with this identifier; the sequence is the probe key.
    Icmp { id: u16 },
    /// SYNs from `sport` to `dport`; the sequence minus `base` is the probe key.
    Tcp { sport: u16, dport: u16, base: u32 },
    /// Datagrams to `dport`, one socket each; the source port is the probe key.
    Udp { dport: u16 },
}

/// How an answer ends the path at its TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitKind {
    /// A router on the way (time exceeded).
    Hop,
    /// The target answered: echo reply, SYN/ACK or RST, port unreachable.
    Reached,
    /// Something refused the probe (unreachable, prohibited): the path ends here, unreached.
    Stopped,
}

/// The probe key and meaning of an ICMP answer from `from`, if it is about this run's probes
/// to `target`.
pub fn match_icmp(
    wire: Wire,
    target: IpAddr,
    from: IpAddr,
    a: &IcmpAnswer,
) -> Option<(u32, HitKind)> {
    if let Answer::EchoReply { id, seq } = a.answer {
        return match wire {
            Wire::Icmp { id: ours } if id == ours && from == target => {
                Some((u32::from(seq), HitKind::Reached))
            }
            _ => None,
        };
    }
    let (q, dest) = a.quoted?;
    if dest != target {
        return None;
    }
    let key = match (wire, q) {
        (Wire::Icmp { id: ours }, Quoted::Icmp { id, seq }) if id == ours => u32::from(seq),
        (
            Wire::Tcp { sport, dport, base },
            Quoted::Tcp {
                sport: s,
                dport: d,
                seq,
            },
        ) if s == sport && d == dport => seq.wrapping_sub(base),
        (Wire::Udp { dport }, Quoted::Udp { sport, dport: d }) if d == dport => u32::from(sport),
        _ => return None,
    };
    let kind = match a.answer {
        Answer::Exceeded => HitKind::Hop,
        Answer::Unreachable { port: true, .. }
            if from == target && matches!(wire, Wire::Udp { .. }) =>
        {
            HitKind::Reached
        }
        _ => HitKind::Stopped,
    };
    Some((key, kind))
}

/// The probe key of a TCP segment from `from`: the target's SYN/ACK or RST to one of our SYNs.
pub fn match_tcp(wire: Wire, target: IpAddr, from: IpAddr, s: &Segment) -> Option<u32> {
    let Wire::Tcp { sport, dport, base } = wire else {
        return None;
    };
    let answers_syn = s.flags & TCP_ACK != 0
        && (s.flags & (TCP_SYN | TCP_RST) != 0)
        && s.flags & (TCP_SYN | TCP_RST) != (TCP_SYN | TCP_RST);
    if from != target || s.sport != dport || s.dport != sport || !answers_syn {
        return None;
    }
    Some(s.ack.wrapping_sub(1).wrapping_sub(base))
}

// ----------------------------------------------------------------------------------------------
// Tally: probes and answers per TTL, and the report they make.

/// The counters of one TTL.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TtlTally {
    pub sent: u64,
    pub received: u64,
    pub rtt: Rtt,
    pub addresses: Vec<IpAddr>,
}

/// Probes and answers of a run, per TTL (index 0 is TTL 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Tally {
    pub ttls: Vec<TtlTally>,
    /// The lowest TTL at which the path ended (target reached, or refused).
    pub end: Option<(u8, HitKind)>,
}

impl Tally {
    pub fn new(max_hops: u8) -> Tally {
        Tally {
            ttls: vec![TtlTally::default(); usize::from(max_hops)],
            end: None,
        }
    }

    /// The highest TTL worth probing now.
    pub fn limit(&self) -> u8 {
        match self.end {
            Some((t, _)) => t,
            None => self.ttls.len() as u8,
        }
    }

    pub fn sent(&mut self, ttl: u8) {
        if let Some(t) = self.ttls.get_mut(usize::from(ttl).wrapping_sub(1)) {
            t.sent += 1;
        }
    }

    /// Counts an answer to a probe of `ttl` (each probe answered once).
    pub fn answered(&mut self, ttl: u8, from: IpAddr, rtt_ms: f64, kind: HitKind) {
        let Some(t) = self.ttls.get_mut(usize::from(ttl).wrapping_sub(1)) else {
            return;
        };
        t.received += 1;
        t.rtt.add(rtt_ms.max(0.0));
        if !t.addresses.contains(&from) {
            t.addresses.push(from);
        }
        if kind != HitKind::Hop {
            // The lowest ending TTL wins; at the same TTL, reaching the target beats a refusal.
            let better = match self.end {
                None => true,
                Some((e, k)) => ttl < e || (ttl == e && k == HitKind::Stopped),
            };
            if better {
                self.end = Some((ttl, kind));
            }
        }
    }

    /// Whether the target answered.
    pub fn reached(&self) -> bool {
        matches!(self.end, Some((_, HitKind::Reached)))
    }

    /// The hops to show: up to where the path ended; unreached, up to the last TTL that
    /// answered and one more (the first silent one, as mtr shows `???`).
    pub fn hops(&self) -> Vec<Hop> {
        let shown = match self.end {
            Some((t, _)) => usize::from(t),
            None => {
                let last = self.ttls.iter().rposition(|t| t.received > 0);
                last.map_or(1, |i| i + 2).min(self.ttls.len())
            }
        };
        self.ttls
            .iter()
            .take(shown)
            .enumerate()
            .map(|(i, t)| Hop {
                ttl: (i + 1) as u8,
                addresses: t.addresses.clone(),
                names: Vec::new(),
                sent: t.sent,
                received: t.received,
                rtt: t.rtt,
            })
            .collect()
    }
}

// ----------------------------------------------------------------------------------------------
// Rendering.

/// A time in ms: two decimals below 10 ms (links inside a data centre), one above (as mtr).
fn ms(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x < 10.0 => format!("{x:.2}"),
        Some(x) => format!("{x:.1}"),
    }
}

/// The report as `mtr --report` prints it: a header, one line per hop (its first address;
/// further ECMP addresses on lines of their own), `???` for a hop that never answered.
pub fn render_text(r: &TraceReport, w: &mut dyn io::Write) -> io::Result<()> {
    let what = match r.proto {
        TraceProto::Icmp => "icmp".to_string(),
        TraceProto::Tcp(p) => format!("tcp port {p}"),
        TraceProto::Udp(p) => format!("udp port {p}"),
    };
    writeln!(w, "TRACE {} ({}), {what}", r.host, r.target)?;
    let label = |h: &Hop, i: usize| -> String {
        let a = h.addresses[i];
        match h.names.get(i).and_then(|n| n.as_deref()) {
            Some(n) => format!("{n} ({a})"),
            None => a.to_string(),
        }
    };
    let width = r
        .hops
        .iter()
        .flat_map(|h| (0..h.addresses.len()).map(move |i| (h, i)))
        .map(|(h, i)| label(h, i).len())
        .max()
        .unwrap_or(3)
        .max(7);
    writeln!(
        w,
        "{:>4}  {:<width$}  {:>6}  {:>4}  {:>4}  {:>6}  {:>6}  {:>6}",
        "HOP", "ADDRESS", "Loss%", "Snt", "Rcv", "Best", "Avg", "Wrst"
    )?;
    for h in &r.hops {
        let first = if h.addresses.is_empty() {
            "???".to_string()
        } else {
            label(h, 0)
        };
        writeln!(
            w,
            "{:>3}.  {first:<width$}  {:>5.1}%  {:>4}  {:>4}  {:>6}  {:>6}  {:>6}",
            h.ttl,
            h.loss_pct(),
            h.sent,
            h.received,
            ms((h.rtt.n > 0).then_some(h.rtt.min)),
            ms(h.rtt.avg()),
            ms((h.rtt.n > 0).then_some(h.rtt.max)),
        )?;
        for i in 1..h.addresses.len() {
            writeln!(w, "      {}", label(h, i))?;
        }
    }
    if !r.reached {
        match r.last_answering() {
            Some(h) => writeln!(
                w,
                "{} not reached; the last hop that answered: {} (hop {})",
                r.target,
                h.addresses.first().map_or("???".into(), |a| a.to_string()),
                h.ttl
            )?,
            None => writeln!(w, "{} not reached; no hop answered", r.target)?,
        }
    }
    Ok(())
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The JSON document of DESIGN.md: `{target, reached, hops: [{ttl, addresses, sent,
/// received, loss, min_ms, avg_ms, max_ms}]}` (plus `host`, `proto`, `port`, and `names`
/// with -r).
pub fn to_json(r: &TraceReport, with_names: bool) -> Value {
    let hops: Vec<Value> = r
        .hops
        .iter()
        .map(|h| {
            let mut o = json!({
                "ttl": h.ttl,
                "addresses": h.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                "sent": h.sent,
                "received": h.received,
                "loss": round3(h.loss_pct()),
                "min_ms": (h.rtt.n > 0).then(|| round3(h.rtt.min)),
                "avg_ms": h.rtt.avg().map(round3),
                "max_ms": (h.rtt.n > 0).then(|| round3(h.rtt.max)),
            });
            if with_names {
                o["names"] = json!(h.names);
            }
            o
        })
        .collect();
    json!({
        "target": r.target.to_string(),
        "host": r.host,
        "proto": r.proto.name(),
        "port": r.proto.port(),
        "reached": r.reached,
        "hops": hops,
    })
}

// ----------------------------------------------------------------------------------------------
// The engine.

/// One probe in flight.
#[derive(Debug, Clone, Copy)]
struct Pending {
    ttl: u8,
    sent_ns: i128,
    answered: bool,
}

fn privilege(e: Error, fam: &str) -> Error {
    match e {
        Error::Privilege { .. } => Error::Privilege {
            what: format!("cannot open a raw {fam} ICMP socket"),
            remedy: REMEDY.into(),
        },
        other => other,
    }
}

fn set_ttl(fd: RawFd, family: Family, ttl: u8) -> io::Result<()> {
    let v = i32::from(ttl);
    match family {
        Family::V4 => setsockopt(fd, libc::IPPROTO_IP, libc::IP_TTL, &v),
        Family::V6 => setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &v),
    }
}

/// The source address the kernel would use towards `dest` (a connected UDP socket; no packet
/// is sent).
fn source_for(dest: SocketAddr) -> Result<IpAddr, Error> {
    let domain = Domain::for_address(dest);
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| Error::Other(format!("trace: UDP socket: {e}")))?;
    s.connect(&dest.into())
        .map_err(|e| Error::Other(format!("trace: no route to {}: {e}", dest.ip())))?;
    let local = s
        .local_addr()
        .map_err(|e| Error::Other(format!("trace: getsockname: {e}")))?;
    local
        .as_socket()
        .map(|a| a.ip())
        .ok_or_else(|| Error::Other("trace: no source address".into()))
}

/// The TCP side of a run: a raw socket that sends the SYNs and sees the answers, and an
/// ordinary TCP socket bound (never listening) to the source port, so no other program gets it.
struct TcpProber {
    raw: Socket,
    _reserved: Socket,
    src: IpAddr,
    sport: u16,
}

impl TcpProber {
    fn open(family: Family, dest: SocketAddr) -> Result<TcpProber, Error> {
        let domain = Domain::for_address(dest);
        let fam = if family == Family::V4 { "IPv4" } else { "IPv6" };
        let raw = Socket::new(domain, Type::RAW, Some(Protocol::TCP)).map_err(|e| {
            if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES)) {
                Error::Privilege {
                    what: format!("cannot open a raw {fam} TCP socket"),
                    remedy: REMEDY.into(),
                }
            } else {
                Error::Other(format!("trace: raw {fam} TCP socket: {e}"))
            }
        })?;
        let fail = |what: &str, e: io::Error| Error::Other(format!("trace: {what}: {e}"));
        raw.set_nonblocking(true)
            .map_err(|e| fail("non-blocking", e))?;
        let _ = raw.set_recv_buffer_size(1 << 20);
        setsockopt(
            raw.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            &1i32,
        )
        .map_err(|e| fail("SO_TIMESTAMPNS", e))?;
        let src = source_for(dest)?;
        let reserved = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))
            .map_err(|e| fail("TCP socket", e))?;
        reserved
            .bind(&SocketAddr::new(src, 0).into())
            .map_err(|e| fail("bind", e))?;
        let sport = reserved
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .map(|a| a.port())
            .ok_or_else(|| Error::Other("trace: no source port".into()))?;
        Ok(TcpProber {
            raw,
            _reserved: reserved,
            src,
            sport,
        })
    }
}

/// Traces the path to `target`.
pub fn run(target: &Target, cfg: &TraceConfig) -> Result<TraceReport, Error> {
    let family = Family::of(target.addr);
    let fam = if family == Family::V4 { "IPv4" } else { "IPv6" };
    let icmp = IcmpSocket::open(family, None).map_err(|e| privilege(e, fam))?;
    if icmp.kind != Kind::Raw {
        return Err(Error::Privilege {
            what: format!("cannot open a raw {fam} ICMP socket"),
            remedy: REMEDY.into(),
        });
    }
    let port = cfg.proto.port().unwrap_or(0);
    let dest = target.socket_addr(port);
    let tcp = match cfg.proto {
        TraceProto::Tcp(_) => Some(TcpProber::open(family, dest)?),
        _ => None,
    };
    // A random start for the SYN sequence numbers (the probe index is added to it).
    let base = (realtime_ns() as u32).wrapping_mul(0x9e37_79b9) ^ std::process::id();
    let wire = match (cfg.proto, &tcp) {
        (TraceProto::Tcp(p), Some(t)) => Wire::Tcp {
            sport: t.sport,
            dport: p,
            base,
        },
        (TraceProto::Udp(p), _) => Wire::Udp { dport: p },
        _ => Wire::Icmp { id: icmp.id },
    };
    let mut fds = vec![icmp.fd()];
    if let Some(t) = &tcp {
        fds.push(t.raw.as_raw_fd());
    }
    let to = SockAddr::from(target.socket_addr(0));
    let payload = packet::payload(32);
    let mut tally = Tally::new(cfg.max_hops);
    let mut buf = vec![0u8; 65_536];
    let mut next_key: u32 = 0;
    let start = Instant::now();

    'rounds: for _round in 0..cfg.rounds {
        let mut pending: HashMap<u32, Pending> = HashMap::new();
        // UDP: one socket per probe, kept until the round ends (its port is the key).
        let mut udp_socks: Vec<Socket> = Vec::new();
        let limit = tally.limit();
        for ttl in 1..=limit {
            let sent_ns;
            let key;
            match wire {
                Wire::Icmp { id } => {
                    next_key = (next_key + 1) & 0xffff;
                    key = next_key;
                    let Some(pkt) = packet::build_echo_request(family, id, key as u16, &payload)
                    else {
                        return Err(Error::Other("cannot build an ICMP echo request".into()));
                    };
                    set_ttl(icmp.fd(), family, ttl)
                        .map_err(|e| Error::Other(format!("trace: setting the TTL: {e}")))?;
                    sent_ns = realtime_ns();
                    if let Err(e) = icmp.send_to(&pkt, &to) {
                        send_failed(&e)?;
                    }
                }
                Wire::Tcp { sport, dport, base } => {
                    let Some(t) = &tcp else { break 'rounds };
                    next_key = next_key.wrapping_add(1);
                    key = next_key;
                    let syn = build_syn(t.src, sport, target.addr, dport, base.wrapping_add(key));
                    set_ttl(t.raw.as_raw_fd(), family, ttl)
                        .map_err(|e| Error::Other(format!("trace: setting the TTL: {e}")))?;
                    sent_ns = realtime_ns();
                    if let Err(e) = t.raw.send_to(&syn, &to) {
                        send_failed(&e)?;
                    }
                }
                Wire::Udp { .. } => {
                    let s =
                        Socket::new(Domain::for_address(dest), Type::DGRAM, Some(Protocol::UDP))
                            .map_err(|e| Error::Other(format!("trace: UDP socket: {e}")))?;
                    set_ttl(s.as_raw_fd(), family, ttl)
                        .map_err(|e| Error::Other(format!("trace: setting the TTL: {e}")))?;
                    s.connect(&dest.into())
                        .map_err(|e| Error::Other(format!("trace: connect: {e}")))?;
                    let sport = s
                        .local_addr()
                        .ok()
                        .and_then(|a| a.as_socket())
                        .map(|a| a.port())
                        .unwrap_or(0);
                    key = u32::from(sport);
                    sent_ns = realtime_ns();
                    if let Err(e) = s.send(&payload) {
                        send_failed(&e)?;
                    }
                    udp_socks.push(s);
                }
            }
            tally.sent(ttl);
            pending.insert(
                key,
                Pending {
                    ttl,
                    sent_ns,
                    answered: false,
                },
            );
        }
        let round_end = Instant::now() + cfg.wait;
        loop {
            if interrupted() {
                break 'rounds;
            }
            // Done when every probe up to where the path ends has its answer.
            let upto = tally.limit();
            if pending.values().all(|p| p.answered || p.ttl > upto) {
                break;
            }
            let now = Instant::now();
            if now >= round_end {
                break;
            }
            let left = (round_end - now).min(Duration::from_millis(200));
            let revents = wait(&fds, left.as_nanos() as i128)
                .map_err(|e| Error::Other(format!("poll: {e}")))?;
            for (i, rev) in revents.iter().enumerate() {
                if rev & (libc::POLLIN | libc::POLLERR) == 0 {
                    continue;
                }
                if i == 0 {
                    icmp.clear_error();
                    while let Some(r) = recv_packet(icmp.fd(), &mut buf)
                        .map_err(|e| Error::Other(format!("recvmsg: {e}")))?
                    {
                        let bytes = buf.get(..r.len).unwrap_or(&[]);
                        let hit = parse_icmp(family, bytes, family == Family::V4)
                            .and_then(|a| match_icmp(wire, target.addr, r.from, &a));
                        if let Some((key, kind)) = hit {
                            record(&mut pending, &mut tally, key, kind, &r);
                        }
                    }
                } else if let Some(t) = &tcp {
                    let _ = t.raw.take_error();
                    while let Some(r) = recv_packet(t.raw.as_raw_fd(), &mut buf)
                        .map_err(|e| Error::Other(format!("recvmsg: {e}")))?
                    {
                        let bytes = buf.get(..r.len).unwrap_or(&[]);
                        let hit = parse_tcp(bytes, family == Family::V4)
                            .and_then(|s| match_tcp(wire, target.addr, r.from, &s));
                        if let Some(key) = hit {
                            record(&mut pending, &mut tally, key, HitKind::Reached, &r);
                        }
                    }
                }
            }
        }
        drop(udp_socks);
    }
    Ok(TraceReport {
        host: target.name.clone(),
        target: target.addr,
        proto: cfg.proto,
        reached: tally.reached(),
        hops: tally.hops(),
        elapsed: start.elapsed(),
    })
}

/// A probe that could not be sent: a local refusal (no route, a firewall on this host) is a
/// lost probe; anything else ends the run.
fn send_failed(e: &io::Error) -> Result<(), Error> {
    match e.raw_os_error() {
        Some(
            libc::EHOSTUNREACH
            | libc::ENETUNREACH
            | libc::EPERM
            | libc::EACCES
            | libc::ENOBUFS
            | libc::EAGAIN
            | libc::ECONNREFUSED,
        ) => Ok(()),
        _ => Err(Error::Other(format!("trace: sending a probe: {e}"))),
    }
}

/// Counts the answer to probe `key`, once.
fn record(
    pending: &mut HashMap<u32, Pending>,
    tally: &mut Tally,
    key: u32,
    kind: HitKind,
    r: &Received,
) {
    let Some(p) = pending.get_mut(&key) else {
        return;
    };
    if p.answered {
        return;
    }
    p.answered = true;
    let stamp = r.stamp_ns.unwrap_or_else(realtime_ns);
    tally.answered(p.ttl, r.from, (stamp - p.sent_ns) as f64 / 1e6, kind);
}

#[cfg(test)]
mod tests {
    use super::*;

    const R1: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 1));
    const R2: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 2, 1));
    const T: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 3, 2));
    const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));

    fn v4_header(src: IpAddr, dst: IpAddr, proto: u8, ttl: u8, payload: usize) -> Vec<u8> {
        let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) else {
            panic!("v4 only")
        };
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0, 0, ttl, proto, 0, 0];
        h[2..4].copy_from_slice(&((20 + payload) as u16).to_be_bytes());
        h.extend_from_slice(&s.octets());
        h.extend_from_slice(&d.octets());
        h
    }

    /// An ICMPv4 error of `t`/`code` from `from`, quoting `probe` (IP header + 8 bytes), as a
    /// raw socket delivers it.
    fn icmp_error_v4(from: IpAddr, t: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
        let mut icmp = vec![t, code, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(quoted);
        let sum = checksum(&[&icmp]);
        icmp[2..4].copy_from_slice(&sum.to_be_bytes());
        let mut pkt = v4_header(from, ME, 1, 64, icmp.len());
        pkt.extend_from_slice(&icmp);
        pkt
    }

    #[test]
    fn host_port_syntax() {
        let ok = |s: &str| split_host_port(s).unwrap();
        assert_eq!(ok("198.18.0.1"), ("198.18.0.1".into(), None));
        assert_eq!(ok("198.18.0.1:80"), ("198.18.0.1".into(), Some(80)));
        assert_eq!(ok("[fd00::1]:443"), ("fd00::1".into(), Some(443)));
        assert_eq!(ok("[fd00::1]"), ("fd00::1".into(), None));
        assert_eq!(ok("fd00::1"), ("fd00::1".into(), None));
        assert_eq!(ok("db.internal:5432"), ("db.internal".into(), Some(5432)));
        for bad in [
            "",
            "h:0",
            "h:65536",
            "h:x",
            "[fd00::1",
            "[fd00::1]x",
            ":80",
            "a b",
            "a/24",
        ] {
            assert!(
                matches!(split_host_port(bad), Err(Error::Usage(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn syn_checksum_verifies_v4_and_v6() {
        let syn = build_syn(ME, 40000, T, 80, 0xdead_beef);
        assert_eq!(syn.len(), 24);
        assert_eq!(syn[13], TCP_SYN);
        assert_eq!(checksum(&[&pseudo_header(ME, T, 24), &syn]), 0);
        let (a, b): (IpAddr, IpAddr) = ("fd00::2".parse().unwrap(), "fd00:3::2".parse().unwrap());
        let syn6 = build_syn(a, 1, b, 2, 3);
        assert_eq!(checksum(&[&pseudo_header(a, b, 24), &syn6]), 0);
        let seg = parse_tcp(&syn6, false).unwrap();
        assert_eq!(
            (seg.sport, seg.dport, seg.seq, seg.flags),
            (1, 2, 3, TCP_SYN)
        );
    }

    #[test]
    fn time_exceeded_quoting_an_echo_request() {
        let req = packet::build_echo_request(Family::V4, 0x4242, 7, &[0; 32]).unwrap();
        let mut quoted = v4_header(ME, T, 1, 1, req.len());
        quoted.extend_from_slice(&req[..8]);
        let pkt = icmp_error_v4(R1, 11, 0, &quoted);
        let a = parse_icmp(Family::V4, &pkt, true).unwrap();
        assert_eq!(a.answer, Answer::Exceeded);
        let wire = Wire::Icmp { id: 0x4242 };
        assert_eq!(match_icmp(wire, T, R1, &a), Some((7, HitKind::Hop)));
        // Another program's echo (other id), or a probe to another target, is not ours.
        assert_eq!(match_icmp(Wire::Icmp { id: 1 }, T, R1, &a), None);
        assert_eq!(match_icmp(wire, R2, R1, &a), None);
        // A damaged checksum is no answer.
        let mut bad = pkt.clone();
        bad[30] ^= 0xff;
        assert_eq!(parse_icmp(Family::V4, &bad, true), None);
        // Truncated anywhere: no panic, no answer.
        for n in 0..pkt.len() {
            let _ = parse_icmp(Family::V4, &pkt[..n], true);
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        // A small deterministic fuzz (xorshift); fuzz/fuzz_targets/trace_parse.rs goes further.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let wires = [
            Wire::Icmp { id: 1 },
            Wire::Tcp {
                sport: 1,
                dport: 2,
                base: 3,
            },
            Wire::Udp { dport: 4 },
        ];
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 120) as usize;
            let mut buf: Vec<u8> = (0..len).map(|i| (x >> (i % 56)) as u8).collect();
            // Now and then a plausible start, so the deeper paths are reached too.
            if len > 30 && x.is_multiple_of(3) {
                buf[0] = 0x45;
                buf[9] = 1;
                buf[20] = [3, 11, 0][(x % 3) as usize];
                buf[28] = 0x45;
            }
            for (f, ip) in [(Family::V4, true), (Family::V4, false), (Family::V6, false)] {
                if let Some(a) = parse_icmp(f, &buf, ip) {
                    for w in wires {
                        let _ = match_icmp(w, T, T, &a);
                    }
                }
            }
            let _ = parse_tcp(&buf, true).map(|s| match_tcp(wires[1], T, T, &s));
            let _ = parse_tcp(&buf, false);
        }
    }

    #[test]
    fn echo_reply_from_the_target_reaches_it() {
        let mut rep = packet::build_echo_request(Family::V4, 9, 3, b"abcd").unwrap();
        rep[0] = 0;
        rep[2..4].copy_from_slice(&[0, 0]);
        let sum = checksum(&[&rep]);
        rep[2..4].copy_from_slice(&sum.to_be_bytes());
        let mut pkt = v4_header(T, ME, 1, 62, rep.len());
        pkt.extend_from_slice(&rep);
        let a = parse_icmp(Family::V4, &pkt, true).unwrap();
        let wire = Wire::Icmp { id: 9 };
        assert_eq!(match_icmp(wire, T, T, &a), Some((3, HitKind::Reached)));
        assert_eq!(match_icmp(wire, T, R1, &a), None, "a reply from elsewhere");
    }

    #[test]
    fn tcp_probes_matched_by_ports_and_sequence() {
        let base = 1_000_000u32;
        let wire = Wire::Tcp {
            sport: 40000,
            dport: 80,
            base,
        };
        let syn = build_syn(ME, 40000, T, 80, base.wrapping_add(5));
        let mut quoted = v4_header(ME, T, 6, 2, syn.len());
        quoted.extend_from_slice(&syn[..8]);
        let a = parse_icmp(Family::V4, &icmp_error_v4(R2, 11, 0, &quoted), true).unwrap();
        assert_eq!(match_icmp(wire, T, R2, &a), Some((5, HitKind::Hop)));
        // Admin-prohibited from a router ends the path, unreached.
        let a = parse_icmp(Family::V4, &icmp_error_v4(R2, 3, 13, &quoted), true).unwrap();
        assert_eq!(match_icmp(wire, T, R2, &a), Some((5, HitKind::Stopped)));
        // The target's SYN/ACK and RST/ACK acknowledge seq + 1.
        for flags in [TCP_SYN | TCP_ACK, TCP_RST | TCP_ACK] {
            let s = Segment {
                sport: 80,
                dport: 40000,
                seq: 1,
                ack: base.wrapping_add(6),
                flags,
            };
            assert_eq!(match_tcp(wire, T, T, &s), Some(5));
            assert_eq!(match_tcp(wire, T, R1, &s), None);
        }
        let other_port = Segment {
            sport: 81,
            dport: 40000,
            seq: 1,
            ack: base.wrapping_add(6),
            flags: TCP_SYN | TCP_ACK,
        };
        assert_eq!(match_tcp(wire, T, T, &other_port), None);
        let bare_syn = Segment {
            flags: TCP_SYN,
            sport: 80,
            ..other_port
        };
        assert_eq!(match_tcp(wire, T, T, &bare_syn), None);
        // A segment as the raw IPv4 socket delivers it.
        let mut pkt = v4_header(T, ME, 6, 62, 20);
        let mut seg = vec![0u8; 20];
        seg[0..2].copy_from_slice(&80u16.to_be_bytes());
        seg[2..4].copy_from_slice(&40000u16.to_be_bytes());
        seg[8..12].copy_from_slice(&base.wrapping_add(1).to_be_bytes());
        seg[13] = TCP_SYN | TCP_ACK;
        pkt.extend_from_slice(&seg);
        let s = parse_tcp(&pkt, true).unwrap();
        assert_eq!(match_tcp(wire, T, T, &s), Some(0));
        assert_eq!(parse_tcp(&pkt[..30], true), None);
    }

    #[test]
    fn udp_port_unreachable_from_the_target_reaches_it() {
        let mut quoted = v4_header(ME, T, 17, 1, 40);
        quoted.extend_from_slice(&[0x9c, 0x40, 0x82, 0x9a, 0, 40, 0, 0]); // 40000 -> 33434
        let wire = Wire::Udp { dport: 33434 };
        let a = parse_icmp(Family::V4, &icmp_error_v4(T, 3, 3, &quoted), true).unwrap();
        assert_eq!(
            a.answer,
            Answer::Unreachable {
                code: 3,
                port: true
            }
        );
        assert_eq!(match_icmp(wire, T, T, &a), Some((40000, HitKind::Reached)));
        // The same from a router is a refusal, not the target.
        assert_eq!(match_icmp(wire, T, R1, &a), Some((40000, HitKind::Stopped)));
        assert_eq!(match_icmp(Wire::Udp { dport: 1 }, T, T, &a), None);
    }

    #[test]
    fn icmpv6_time_exceeded_quoting_udp() {
        let me: Ipv6Addr = "fd00::2".parse().unwrap();
        let t: Ipv6Addr = "fd00:3::2".parse().unwrap();
        let mut ip6 = vec![0x60, 0, 0, 0, 0, 16, 17, 1];
        ip6.extend_from_slice(&me.octets());
        ip6.extend_from_slice(&t.octets());
        let mut icmp = vec![3, 0, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&ip6);
        icmp.extend_from_slice(&[0x9c, 0x40, 0x82, 0x9a, 0, 16, 0, 0]);
        let a = parse_icmp(Family::V6, &icmp, false).unwrap();
        let wire = Wire::Udp { dport: 33434 };
        let r: IpAddr = "fd00:1::1".parse().unwrap();
        assert_eq!(
            match_icmp(wire, IpAddr::V6(t), r, &a),
            Some((40000, HitKind::Hop))
        );
    }

    #[test]
    fn tally_cuts_at_the_target_and_keeps_ecmp_addresses() {
        let mut t = Tally::new(30);
        for ttl in 1..=30 {
            t.sent(ttl);
        }
        t.answered(1, R1, 0.5, HitKind::Hop);
        t.answered(2, R2, 1.0, HitKind::Hop);
        t.answered(4, T, 1.4, HitKind::Reached);
        t.answered(3, T, 1.2, HitKind::Reached);
        assert_eq!(t.limit(), 3);
        assert!(t.reached());
        for ttl in 1..=3 {
            t.sent(ttl);
        }
        let other = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 9));
        t.answered(1, other, 0.7, HitKind::Hop);
        t.answered(3, T, 1.0, HitKind::Reached);
        let hops = t.hops();
        assert_eq!(hops.len(), 3);
        assert_eq!(hops[0].addresses, vec![R1, other]);
        assert_eq!((hops[0].sent, hops[0].received), (2, 2));
        assert_eq!((hops[1].sent, hops[1].received), (2, 1));
        assert_eq!(hops[1].loss_pct(), 50.0);
        assert_eq!(hops[2].addresses, vec![T]);
        assert_eq!(hops[2].rtt.min, 1.0);
        assert_eq!(hops[2].rtt.max, 1.2);
        // Out-of-range TTLs are ignored, not a panic.
        t.sent(0);
        t.answered(0, R1, 1.0, HitKind::Hop);
        t.answered(200, R1, 1.0, HitKind::Hop);
    }

    #[test]
    fn unreached_shows_one_silent_hop_after_the_last_answer() {
        let mut t = Tally::new(30);
        for ttl in 1..=30 {
            t.sent(ttl);
        }
        t.answered(1, R1, 0.5, HitKind::Hop);
        assert!(!t.reached());
        let hops = t.hops();
        assert_eq!(hops.len(), 2);
        assert_eq!(hops[1].received, 0);
        assert_eq!(hops[1].loss_pct(), 100.0);
        assert_eq!(
            Tally::new(5).hops().len(),
            1,
            "nothing answered: one ??? hop"
        );
        // A refusal ends the path where it came from.
        t.answered(2, R2, 0.9, HitKind::Stopped);
        assert_eq!(t.hops().len(), 2);
        assert!(!t.reached());
    }

    #[test]
    fn text_and_json_reports() {
        let mut t = Tally::new(30);
        for ttl in 1..=3 {
            t.sent(ttl);
        }
        t.answered(1, R1, 0.25, HitKind::Hop);
        t.answered(3, T, 1.0, HitKind::Reached);
        let r = TraceReport {
            host: "server".into(),
            target: T,
            proto: TraceProto::Tcp(80),
            reached: t.reached(),
            hops: t.hops(),
            elapsed: Duration::from_millis(5),
        };
        let mut out = Vec::new();
        render_text(&r, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "TRACE server (198.18.3.2), tcp port 80");
        assert!(lines[2].starts_with("  1.  198.18.1.1"), "{text}");
        assert!(lines[3].starts_with("  2.  ???"), "{text}");
        assert!(lines[3].contains("100.0%"), "{text}");
        assert!(lines[4].starts_with("  3.  198.18.3.2"), "{text}");
        let j = to_json(&r, false);
        assert_eq!(j["target"], "198.18.3.2");
        assert_eq!(j["reached"], true);
        let h = &j["hops"][0];
        for k in [
            "ttl",
            "addresses",
            "sent",
            "received",
            "loss",
            "min_ms",
            "avg_ms",
            "max_ms",
        ] {
            assert!(h.get(k).is_some(), "{k} in {h}");
        }
        assert_eq!(h["addresses"][0], "198.18.1.1");
        assert_eq!(j["hops"][1]["min_ms"], Value::Null);
        assert_eq!(j["hops"][1]["loss"], 100.0);
        assert!(h.get("names").is_none());
    }
}
