//! Compilation of a parsed expression to classic BPF for one link type.
//!
//! A program runs the checks libpcap's code generator (gencode.c) emits, in the same order, so
//! that it gives the same answer as tcpdump's on every packet — including truncated ones,
//! where the first load past the captured bytes rejects the packet outright, so *which* loads
//! run before the answer is known matters. In particular:
//!
//! - `tcp`/`udp`/`sctp` test the IPv4 protocol byte, then the IPv6 next header, or a fragment
//!   header (44) followed by the protocol;
//! - `port` tries IPv6 first (next header at 6, ports at 40, no extension-header walk), then
//!   IPv4 (protocol byte, no non-first fragment, ports after the IHL via `ldx msh`), with the
//!   protocol one of SCTP, TCP and UDP;
//! - an IPv4 `host`/`net` also matches the sender and target of ARP and RARP packets;
//! - a `net` word whose mask is 0 is not loaded at all, as libpcap's optimiser removes it;
//! - an expression that no packet of the link type can match (`arp` on raw IP) is an error,
//!   as in tcpdump ("expression rejects all packets").
//!
//! The expression becomes a tree of tests (load, optional mask, compare), folded where a link
//! type makes a check constant (no ARP on raw IP) and where a leading check is shared, then
//! emitted back to front so every jump is forward; a jump too far for the 8-bit offsets goes
//! through a `ja` trampoline. Programs stay small: the kernel charges a socket filter (after
//! its conversion to eBPF) against `net.core.optmem_max`.

use super::FilterError;
use super::bpf::{
    BPF_ABS, BPF_ALU, BPF_AND, BPF_B, BPF_H, BPF_IND, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP,
    BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_MSH, BPF_RET, BPF_W, Insn, MAX_INSNS, Program, SNAP_LEN,
};
use super::parse::{AddrProto, Dir, Expr, PortProto, Prim, Proto};
use crate::packet::LinkType;

const ETHERTYPE_IP: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_REVARP: u16 = 0x8035;
const ETHERTYPE_IPV6: u16 = 0x86dd;

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_ICMPV6: u8 = 58;
const IPPROTO_SCTP: u8 = 132;

/// Address family values of a BSD loopback (LINKTYPE_NULL) header: AF_INET, and AF_INET6 as
/// NetBSD/OpenBSD (24), FreeBSD (28) and macOS (30) number it — the values libpcap checks
/// when it reads a file.
const AF_INET: u32 = 2;
const AF_INET6: [u32; 3] = [24, 28, 30];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Size {
    W,
    H,
    B,
}

impl Size {
    fn code(self) -> u16 {
        match self {
            Size::W => BPF_W,
            Size::H => BPF_H,
            Size::B => BPF_B,
        }
    }
}

/// Where a test's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    /// The packet at a fixed offset.
    Abs(Size, u32),
    /// The IPv4 transport header: `ldxb 4*([ip]&0xf)` then the packet at X + `off`.
    AfterIpv4Header { ip: u32, size: Size, off: u32 },
}

/// One check: load, mask, compare; jump on the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Test {
    load: Load,
    mask: Option<u32>,
    op: u16,
    k: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Const(bool),
    Test(Test),
    /// The (masked) value equals one of these: one load, then a `jeq` for each.
    AnyOf {
        load: Load,
        mask: Option<u32>,
        values: Vec<u32>,
    },
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
}

// Every node is a pure function of the packet: evaluating one twice gives the same answer and
// runs the same loads (a second run cannot fail where the first succeeded). That makes these
// rewrites exact, out-of-bounds rejections included:
//   (L and x) and (L and y)  =  L and (x and y)
//   (L and x) or  (L and y)  =  L and (x or y)
//   (v == a) or (v == b)     =  v in {a, b}
// which check a link type once for both directions of a `host`, say, and load a protocol
// byte once for several values.

/// `a and b`, folded where that skips no load that would run.
fn and(a: Node, b: Node) -> Node {
    match (a, b) {
        (Node::Const(false), _) => Node::Const(false),
        (Node::Const(true), b) => b,
        (a, Node::Const(true)) => a,
        (Node::And(l1, x), Node::And(l2, y)) if l1 == l2 => Node::And(l1, Box::new(and(*x, *y))),
        (a, b) => Node::And(Box::new(a), Box::new(b)),
    }
}

/// `a or b`, folded where that skips no load that would run.
fn or(a: Node, b: Node) -> Node {
    match (a, b) {
        (Node::Const(true), _) => Node::Const(true),
        (Node::Const(false), b) => b,
        (a, Node::Const(false)) => a,
        (Node::And(l1, x), Node::And(l2, y)) if l1 == l2 => Node::And(l1, Box::new(or(*x, *y))),
        (a, b) => match (equality(&a), equality(&b)) {
            (Some((la, ma, va)), Some((lb, mb, vb))) if la == lb && ma == mb => Node::AnyOf {
                load: la,
                mask: ma,
                values: va.iter().chain(vb).copied().collect(),
            },
            _ => Node::Or(Box::new(a), Box::new(b)),
        },
    }
}

/// The load, mask and accepted values of an equality test.
fn equality(n: &Node) -> Option<(Load, Option<u32>, &[u32])> {
    match n {
        Node::Test(t) if t.op == BPF_JEQ => Some((t.load, t.mask, std::slice::from_ref(&t.k))),
        Node::AnyOf { load, mask, values } => Some((*load, *mask, values)),
        _ => None,
    }
}

fn not(a: Node) -> Node {
    match a {
        Node::Const(v) => Node::Const(!v),
        a => Node::Not(Box::new(a)),
    }
}

fn test(load: Load, op: u16, k: u32) -> Node {
    Node::Test(Test {
        load,
        mask: None,
        op,
        k,
    })
}

/// `(packet[off] & mask) == value`; no load at all when the mask is 0 (value is 0 then).
fn masked_eq(size: Size, off: u32, value: u32, mask: u32) -> Node {
    match mask {
        0 => Node::Const(value == 0),
        u32::MAX => test(Load::Abs(size, off), BPF_JEQ, value),
        m => Node::Test(Test {
            load: Load::Abs(size, off),
            mask: Some(m),
            op: BPF_JEQ,
            k: value & m,
        }),
    }
}

/// How a link type's header says which network protocol follows.
#[derive(Debug, Clone, Copy)]
enum Header {
    /// A 16-bit EtherType at this offset (Ethernet, Linux cooked v1 and v2).
    EtherType(u32),
    /// No header: IPv4 or IPv6 by the version nibble.
    Raw,
    /// No header, always IPv4.
    Ipv4,
    /// No header, always IPv6.
    Ipv6,
    /// A 4-byte address family in the byte order of the capturing host.
    Null,
}

/// Where things are for one link type.
#[derive(Debug, Clone, Copy)]
struct Layout {
    header: Header,
    /// Offset of the network-layer header.
    nl: u32,
}

impl Layout {
    fn of(link: LinkType) -> Result<Layout, FilterError> {
        let (header, nl) = match link {
            LinkType::Ethernet => (Header::EtherType(12), 14),
            LinkType::LinuxSll => (Header::EtherType(14), 16),
            LinkType::LinuxSll2 => (Header::EtherType(0), 20),
            LinkType::Raw => (Header::Raw, 0),
            LinkType::Ipv4 => (Header::Ipv4, 0),
            LinkType::Ipv6 => (Header::Ipv6, 0),
            LinkType::Null => (Header::Null, 4),
            LinkType::Other(n) => {
                return Err(FilterError::Unsupported(format!(
                    "cannot filter packets of link type {n}: filters work on Ethernet, Linux \
                     cooked (SLL, SLL2), raw IP and BSD loopback captures"
                )));
            }
        };
        Ok(Layout { header, nl })
    }

    /// Whether the network protocol is `ethertype` (libpcap's `gen_linktype`).
    fn linktype(&self, ethertype: u16) -> Node {
        let et = u32::from(ethertype);
        match self.header {
            Header::EtherType(off) => test(Load::Abs(Size::H, off), BPF_JEQ, et),
            Header::Raw => match ethertype {
                ETHERTYPE_IP => masked_eq(Size::B, 0, 0x40, 0xf0),
                ETHERTYPE_IPV6 => masked_eq(Size::B, 0, 0x60, 0xf0),
                _ => Node::Const(false),
            },
            Header::Ipv4 => Node::Const(ethertype == ETHERTYPE_IP),
            Header::Ipv6 => Node::Const(ethertype == ETHERTYPE_IPV6),
            Header::Null => {
                // libpcap compares with the family in the byte order of the file (the
                // capturing host); a program does not know it, so it accepts both orders.
                let families: &[u32] = match ethertype {
                    ETHERTYPE_IP => &[AF_INET],
                    ETHERTYPE_IPV6 => &AF_INET6,
                    _ => &[],
                };
                families
                    .iter()
                    .flat_map(|&af| [af.swap_bytes(), af])
                    .map(|v| test(Load::Abs(Size::W, 0), BPF_JEQ, v))
                    .fold(Node::Const(false), or)
            }
        }
    }

    fn byte_eq(&self, off: u32, value: u8) -> Node {
        test(Load::Abs(Size::B, self.nl + off), BPF_JEQ, u32::from(value))
    }

    /// IPv4 with this protocol byte.
    fn ip_proto(&self, proto: u8) -> Node {
        and(self.linktype(ETHERTYPE_IP), self.byte_eq(9, proto))
    }

    /// IPv6 with this next header, directly or after a fragment header.
    fn ip6_proto(&self, proto: u8) -> Node {
        let direct = self.byte_eq(6, proto);
        let fragment = and(self.byte_eq(6, IPPROTO_FRAGMENT), self.byte_eq(40, proto));
        and(self.linktype(ETHERTYPE_IPV6), or(direct, fragment))
    }

    fn proto(&self, p: Proto) -> Node {
        match p {
            Proto::Ip => self.linktype(ETHERTYPE_IP),
            Proto::Ip6 => self.linktype(ETHERTYPE_IPV6),
            Proto::Arp => self.linktype(ETHERTYPE_ARP),
            Proto::Icmp => self.ip_proto(IPPROTO_ICMP),
            Proto::Icmp6 => self.ip6_proto(IPPROTO_ICMPV6),
            Proto::Tcp => or(self.ip_proto(IPPROTO_TCP), self.ip6_proto(IPPROTO_TCP)),
            Proto::Udp => or(self.ip_proto(IPPROTO_UDP), self.ip6_proto(IPPROTO_UDP)),
            Proto::Sctp => or(self.ip_proto(IPPROTO_SCTP), self.ip6_proto(IPPROTO_SCTP)),
        }
    }

    /// An IPv4 address (with mask) at `src`/`dst` after a header of `ethertype`.
    fn hostop(&self, ethertype: u16, src: u32, dst: u32, dir: Dir, addr: u32, mask: u32) -> Node {
        let at = |off: u32| {
            and(
                self.linktype(ethertype),
                masked_eq(Size::W, self.nl + off, addr, mask),
            )
        };
        match dir {
            Dir::Src => at(src),
            Dir::Dst => at(dst),
            Dir::Both => and(at(src), at(dst)),
            Dir::Either => or(at(src), at(dst)),
        }
    }

    fn host4(&self, proto: AddrProto, dir: Dir, addr: u32, mask: u32) -> Node {
        let ip = || self.hostop(ETHERTYPE_IP, 12, 16, dir, addr, mask);
        let arp = || self.hostop(ETHERTYPE_ARP, 14, 24, dir, addr, mask);
        match proto {
            AddrProto::Any => or(
                or(ip(), arp()),
                self.hostop(ETHERTYPE_REVARP, 14, 24, dir, addr, mask),
            ),
            AddrProto::Ip => ip(),
            AddrProto::Arp => arp(),
            // The parser refuses `ip6 host 192.0.2.1`.
            AddrProto::Ip6 => Node::Const(false),
        }
    }

    fn host6(&self, dir: Dir, addr: u128, mask: u128) -> Node {
        let words = |v: u128| {
            [
                (v >> 96) as u32,
                (v >> 64) as u32,
                (v >> 32) as u32,
                v as u32,
            ]
        };
        let (a, m) = (words(addr), words(mask));
        let at = |off: u32| {
            let mut words = Node::Const(true);
            for i in (0..4).rev() {
                let w = masked_eq(Size::W, self.nl + off + 4 * i as u32, a[i], m[i]);
                words = and(w, words);
            }
            and(self.linktype(ETHERTYPE_IPV6), words)
        };
        match dir {
            Dir::Src => at(8),
            Dir::Dst => at(24),
            Dir::Both => and(at(8), at(24)),
            Dir::Either => or(at(8), at(24)),
        }
    }

    /// The transport protocols a port primitive covers, in libpcap's order.
    fn port_protos(proto: PortProto, each: impl Fn(u8) -> Node) -> Node {
        match proto {
            PortProto::Any => or(each(IPPROTO_SCTP), or(each(IPPROTO_TCP), each(IPPROTO_UDP))),
            PortProto::Tcp => each(IPPROTO_TCP),
            PortProto::Udp => each(IPPROTO_UDP),
            PortProto::Sctp => each(IPPROTO_SCTP),
        }
    }

    /// The port checks at source (0) and/or destination (2) of a transport header.
    fn port_atoms(dir: Dir, low: u16, high: u16, range: bool, load: impl Fn(u32) -> Load) -> Node {
        let atom = |off: u32| {
            if range {
                and(
                    test(load(off), BPF_JGE, u32::from(low)),
                    not(test(load(off), BPF_JGT, u32::from(high))),
                )
            } else {
                test(load(off), BPF_JEQ, u32::from(low))
            }
        };
        match dir {
            Dir::Src => atom(0),
            Dir::Dst => atom(2),
            Dir::Both => and(atom(0), atom(2)),
            Dir::Either => or(atom(0), atom(2)),
        }
    }

    fn port(&self, proto: PortProto, dir: Dir, low: u16, high: u16, range: bool) -> Node {
        // libpcap tries SCTP, TCP and UDP in turn, each followed by the same port checks. As
        // the three protocol checks read the same byte, "any of them, then the ports once" is
        // the same test with the same loads (and what libpcap's optimiser makes of it).
        let nl = self.nl;
        let v6 = and(
            self.linktype(ETHERTYPE_IPV6),
            and(
                Self::port_protos(proto, |p| self.byte_eq(6, p)),
                Self::port_atoms(dir, low, high, range, |off| {
                    Load::Abs(Size::H, nl + 40 + off)
                }),
            ),
        );
        // Not a fragment other than the first.
        let first_fragment = not(test(Load::Abs(Size::H, nl + 6), BPF_JSET, 0x1fff));
        let v4 = and(
            self.linktype(ETHERTYPE_IP),
            and(
                and(
                    Self::port_protos(proto, |p| self.byte_eq(9, p)),
                    first_fragment,
                ),
                Self::port_atoms(dir, low, high, range, |off| Load::AfterIpv4Header {
                    ip: nl,
                    size: Size::H,
                    off: nl + off,
                }),
            ),
        );
        or(v6, v4)
    }

    fn prim(&self, p: &Prim) -> Node {
        match p {
            Prim::Proto(proto) => self.proto(*proto),
            Prim::Host { proto, dir, addr } => match addr {
                std::net::IpAddr::V4(a) => self.host4(*proto, *dir, u32::from(*a), u32::MAX),
                std::net::IpAddr::V6(a) => self.host6(*dir, u128::from(*a), u128::MAX),
            },
            Prim::Net4 {
                proto,
                dir,
                addr,
                mask,
            } => self.host4(*proto, *dir, *addr, *mask),
            Prim::Net6 {
                dir, addr, prefix, ..
            } => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
                self.host6(*dir, u128::from(*addr), mask)
            }
            Prim::Port {
                proto,
                dir,
                low,
                high,
                range,
            } => self.port(*proto, *dir, *low, *high, *range),
        }
    }

    /// Lowers an expression; walks chains of `and`/`or` without recursion.
    fn expr(&self, e: &Expr) -> Node {
        let (first, rest) = e.chain();
        let mut node = match first {
            Expr::Prim(p) => self.prim(p),
            Expr::Not(inner) => not(self.expr(inner)),
            // `chain` never stops at a binary node.
            Expr::Bin(..) => Node::Const(false),
        };
        for (op, right) in rest {
            let r = self.expr(right);
            node = match op {
                super::parse::BinOp::And => and(node, r),
                super::parse::BinOp::Or => or(node, r),
            };
        }
        node
    }
}

/// Emits instructions back to front; a label is an index into `rev`.
#[derive(Default)]
struct Gen {
    rev: Vec<Insn>,
}

fn too_large() -> FilterError {
    FilterError::Unsupported(format!(
        "expression too large: it needs more than {MAX_INSNS} BPF instructions, the kernel's \
         limit; split it or simplify it"
    ))
}

impl Gen {
    fn push(&mut self, insn: Insn) -> Result<usize, FilterError> {
        if self.rev.len() >= MAX_INSNS {
            return Err(too_large());
        }
        self.rev.push(insn);
        Ok(self.rev.len() - 1)
    }

    /// The jump offset from the next instruction pushed to `target`.
    fn distance(&self, target: usize) -> usize {
        self.rev.len() - target - 1
    }

    /// A jump to `target` that fits in 8 bits: direct, or through a `ja` placed after it.
    fn near(&mut self, target: usize) -> Result<usize, FilterError> {
        if self.distance(target) <= usize::from(u8::MAX) {
            return Ok(target);
        }
        let k = u32::try_from(self.distance(target)).map_err(|_| too_large())?;
        self.push(Insn::stmt(BPF_JMP | BPF_JA, k))
    }

    /// Emits `node` so that it continues at `t` when true and `f` when false; returns its
    /// entry. Recurses only into right operands (left chains are walked in the loop).
    fn node(&mut self, node: &Node, t: usize, f: usize) -> Result<usize, FilterError> {
        let (mut node, mut t, mut f) = (node, t, f);
        loop {
            match node {
                Node::Const(v) => return Ok(if *v { t } else { f }),
                Node::Not(inner) => {
                    std::mem::swap(&mut t, &mut f);
                    node = inner;
                }
                Node::And(a, b) => {
                    t = self.node(b, t, f)?;
                    node = a;
                }
                Node::Or(a, b) => {
                    f = self.node(b, t, f)?;
                    node = a;
                }
                Node::Test(x) => {
                    self.jump(x.op, x.k, t, f)?;
                    return self.load(x.load, x.mask);
                }
                Node::AnyOf { load, mask, values } => {
                    // Back to front: the last value decides between t and f; each earlier
                    // one goes to t or on to the next comparison.
                    let mut next = f;
                    for &v in values.iter().rev() {
                        next = self.jump(BPF_JEQ, v, t, next)?;
                    }
                    return self.load(*load, *mask);
                }
            }
        }
    }

    /// A conditional jump on A and k to `t` or `f`; returns its label.
    fn jump(&mut self, op: u16, k: u32, t: usize, f: usize) -> Result<usize, FilterError> {
        let f = self.near(f)?;
        let t = self.near(t)?;
        let jt = u8::try_from(self.distance(t)).map_err(|_| too_large())?;
        let jf = u8::try_from(self.distance(f)).map_err(|_| too_large())?;
        self.push(Insn::jump(BPF_JMP | op | BPF_K, k, jt, jf))
    }

    /// The load (and mask) in front of a test's jumps; returns the test's entry.
    fn load(&mut self, load: Load, mask: Option<u32>) -> Result<usize, FilterError> {
        if let Some(m) = mask {
            self.push(Insn::stmt(BPF_ALU | BPF_AND | BPF_K, m))?;
        }
        match load {
            Load::Abs(size, off) => self.push(Insn::stmt(BPF_LD | size.code() | BPF_ABS, off)),
            Load::AfterIpv4Header { ip, size, off } => {
                self.push(Insn::stmt(BPF_LD | size.code() | BPF_IND, off))?;
                self.push(Insn::stmt(BPF_LDX | BPF_B | BPF_MSH, ip))
            }
        }
    }
}

/// A link type as users know it, for messages.
fn link_name(link: LinkType) -> String {
    match link {
        LinkType::Ethernet => "an Ethernet link".into(),
        LinkType::Raw => "a raw IP link".into(),
        LinkType::Ipv4 => "a raw IPv4 link".into(),
        LinkType::Ipv6 => "a raw IPv6 link".into(),
        LinkType::LinuxSll | LinkType::LinuxSll2 => "a Linux cooked capture".into(),
        LinkType::Null => "a BSD loopback link".into(),
        LinkType::Other(n) => format!("link type {n}"),
    }
}

/// Compiles an expression for a link type.
pub(crate) fn compile(expr: &Expr, link: LinkType) -> Result<Program, FilterError> {
    let layout = Layout::of(link)?;
    let tree = layout.expr(expr);
    let insns = match tree {
        Node::Const(true) => return Ok(Program::accept_all()),
        // As tcpdump does, refuse rather than capture nothing (`arp` on a raw IP link).
        Node::Const(false) => {
            return Err(FilterError::Unsupported(format!(
                "the expression rejects every packet: nothing on {} can match it",
                link_name(link)
            )));
        }
        tree => {
            let mut g = Gen::default();
            let reject = g.push(Insn::stmt(BPF_RET | BPF_K, 0))?;
            let accept = g.push(Insn::stmt(BPF_RET | BPF_K, SNAP_LEN))?;
            let entry = g.node(&tree, accept, reject)?;
            if entry + 1 != g.rev.len() {
                // The entry is not the first instruction (cannot happen for a test, which
                // always emits its own code; kept for safety).
                let k = u32::try_from(g.distance(entry)).map_err(|_| too_large())?;
                g.push(Insn::stmt(BPF_JMP | BPF_JA, k))?;
            }
            g.rev.reverse();
            g.rev
        }
    };
    Program::from_insns(insns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::filter::Filter;

    fn prog(expr: &str, link: LinkType) -> Program {
        let f = match Filter::parse(&[expr]) {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        };
        match f.compile(link) {
            Ok(p) => p,
            Err(e) => panic!("{expr}: {e}"),
        }
    }

    /// An Ethernet frame: MACs, EtherType, payload.
    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// An IPv4 header (20 bytes + options) and payload.
    fn ipv4(
        proto: u8,
        src: [u8; 4],
        dst: [u8; 4],
        options: &[u8],
        frag: u16,
        l4: &[u8],
    ) -> Vec<u8> {
        let ihl = 5 + options.len() / 4;
        let total = (ihl * 4 + l4.len()) as u16;
        let mut h = vec![0x40 | ihl as u8, 0];
        h.extend_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&[0, 1]);
        h.extend_from_slice(&frag.to_be_bytes());
        h.extend_from_slice(&[64, proto, 0, 0]);
        h.extend_from_slice(&src);
        h.extend_from_slice(&dst);
        h.extend_from_slice(options);
        h.extend_from_slice(l4);
        h
    }

    fn ipv6(next: u8, src: u128, dst: u128, rest: &[u8]) -> Vec<u8> {
        let mut h = vec![0x60, 0, 0, 0];
        h.extend_from_slice(&(rest.len() as u16).to_be_bytes());
        h.extend_from_slice(&[next, 64]);
        h.extend_from_slice(&src.to_be_bytes());
        h.extend_from_slice(&dst.to_be_bytes());
        h.extend_from_slice(rest);
        h
    }

    fn ports(src: u16, dst: u16) -> Vec<u8> {
        let mut p = src.to_be_bytes().to_vec();
        p.extend_from_slice(&dst.to_be_bytes());
        p.extend_from_slice(&[0; 16]);
        p
    }

    const A: [u8; 4] = [192, 0, 2, 1];
    const B: [u8; 4] = [198, 51, 100, 7];
    const A6: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0001;
    const B6: u128 = 0x2001_0db8_0001_0000_0000_0000_0000_0002;

    fn hits(expr: &str, link: LinkType, frame: &[u8]) -> bool {
        prog(expr, link).matches(frame, frame.len() as u32)
    }

    #[test]
    fn protocols_on_ethernet() {
        let tcp4 = eth(0x0800, &ipv4(6, A, B, &[], 0, &ports(1234, 80)));
        let udp6 = eth(0x86dd, &ipv6(17, A6, B6, &ports(5353, 53)));
        let mut frag_hdr = vec![6, 0, 0, 1, 0, 0, 0, 9];
        frag_hdr.extend_from_slice(&ports(1, 2));
        let tcp6_frag = eth(0x86dd, &ipv6(44, A6, B6, &frag_hdr));
        let arp = eth(0x0806, &[0; 28]);
        let vlan = {
            let mut inner = vec![0, 5, 0x08, 0x00];
            inner.extend_from_slice(&ipv4(6, A, B, &[], 0, &ports(1, 80)));
            eth(0x8100, &inner)
        };
        for (expr, frame, want) in [
            ("tcp", &tcp4, true),
            ("udp", &tcp4, false),
            ("ip", &tcp4, true),
            ("ip6", &tcp4, false),
            ("udp", &udp6, true),
            ("ip6", &udp6, true),
            ("tcp", &udp6, false),
            ("tcp", &tcp6_frag, true),
            ("ip6 and not udp", &tcp6_frag, true),
            ("arp", &arp, true),
            ("ip or ip6", &arp, false),
            ("tcp", &vlan, false),
            ("port 80", &vlan, false),
            (
                "icmp",
                &eth(0x0800, &ipv4(1, A, B, &[], 0, &[8, 0, 0, 0])),
                true,
            ),
            (
                "icmp6",
                &eth(0x86dd, &ipv6(58, A6, B6, &[128, 0, 0, 0])),
                true,
            ),
            (
                "sctp",
                &eth(0x0800, &ipv4(132, A, B, &[], 0, &ports(9, 9))),
                true,
            ),
        ] {
            assert_eq!(hits(expr, LinkType::Ethernet, frame), want, "{expr}");
        }
    }

    #[test]
    fn hosts_and_nets() {
        let f = eth(0x0800, &ipv4(17, A, B, &[], 0, &ports(1, 2)));
        for (expr, want) in [
            ("host 192.0.2.1", true),
            ("src host 192.0.2.1", true),
            ("dst host 192.0.2.1", false),
            ("src and dst host 192.0.2.1", false),
            ("dst host 198.51.100.7", true),
            ("net 192.0.2.0/24", true),
            ("dst net 198.51.100.0 mask 255.255.255.0", true),
            ("net 10.0.0.0/8", false),
            ("net 0.0.0.0/0", true),
            ("ip host 192.0.2.1", true),
            ("arp host 192.0.2.1", false),
            ("host 2001:db8::1", false),
        ] {
            assert_eq!(hits(expr, LinkType::Ethernet, &f), want, "{expr}");
        }
        let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1];
        arp.extend_from_slice(&A);
        arp.extend_from_slice(&[0; 6]);
        arp.extend_from_slice(&B);
        let arp = eth(0x0806, &arp);
        for (expr, want) in [
            ("host 192.0.2.1", true),
            ("src host 192.0.2.1", true),
            ("dst host 198.51.100.7", true),
            ("arp dst host 198.51.100.7", true),
            ("ip host 192.0.2.1", false),
            ("net 198.51.100.0/24", true),
        ] {
            assert_eq!(hits(expr, LinkType::Ethernet, &arp), want, "arp: {expr}");
        }
        let f6 = eth(0x86dd, &ipv6(6, A6, B6, &ports(1, 2)));
        for (expr, want) in [
            ("host 2001:db8::1", true),
            ("src host 2001:db8::1", true),
            ("dst host 2001:db8::1", false),
            ("ip6 dst host 2001:db8:1::2", true),
            ("net 2001:db8::/32", true),
            ("src net 2001:db8:1::/48", false),
            ("dst net 2001:db8:1::/48", true),
            ("net ::/0", true),
            ("host 192.0.2.1", false),
        ] {
            assert_eq!(hits(expr, LinkType::Ethernet, &f6), want, "ipv6: {expr}");
        }
    }

    #[test]
    fn ports_follow_the_ip_header_length_and_skip_fragments() {
        let plain = eth(0x0800, &ipv4(6, A, B, &[], 0, &ports(40000, 443)));
        let options = eth(0x0800, &ipv4(6, A, B, &[1, 1, 1, 0], 0, &ports(40000, 443)));
        let later_fragment = eth(0x0800, &ipv4(17, A, B, &[], 0x0010, &ports(40000, 443)));
        let first_fragment = eth(0x0800, &ipv4(17, A, B, &[], 0x2000, &ports(40000, 443)));
        let v6 = eth(0x86dd, &ipv6(17, A6, B6, &ports(40000, 443)));
        for (expr, frame, want) in [
            ("port 443", &plain, true),
            ("dst port 443", &plain, true),
            ("src port 443", &plain, false),
            ("src and dst port 443", &plain, false),
            ("port 443", &options, true),
            ("tcp port 443", &options, true),
            ("udp port 443", &options, false),
            ("port 443", &later_fragment, false),
            ("port 443", &first_fragment, true),
            ("udp port 443", &v6, true),
            ("sctp port 443", &v6, false),
            ("portrange 400-500", &plain, true),
            ("portrange 444-500", &plain, false),
            ("src portrange 39999-40000", &options, true),
            ("tcp dst portrange 443", &options, true),
            ("portrange 440-443", &v6, true),
        ] {
            assert_eq!(hits(expr, LinkType::Ethernet, frame), want, "{expr}");
        }
    }

    #[test]
    fn truncated_packets_are_rejected_where_libpcap_rejects_them() {
        let full = eth(0x86dd, &ipv6(6, A6, B6, &ports(1, 80)));
        let cut = &full[..55]; // the TCP source port is not all there
        let p = prog("port 80 or host 2001:db8::1", LinkType::Ethernet);
        assert!(
            !p.matches(cut, full.len() as u32),
            "the port load fails first"
        );
        let p = prog("host 2001:db8::1 or port 80", LinkType::Ethernet);
        assert!(p.matches(cut, full.len() as u32), "the host matches before");
        let p = prog("not port 80", LinkType::Ethernet);
        assert!(
            !p.matches(cut, full.len() as u32),
            "a failed load rejects even under not"
        );
        assert!(!prog("ip", LinkType::Ethernet).matches(&full[..13], 60));
    }

    #[test]
    fn other_link_types() {
        let v4 = ipv4(6, A, B, &[], 0, &ports(1, 80));
        let v6 = ipv6(17, A6, B6, &ports(1, 53));
        let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&v4);
        let mut sll2 = vec![
            0x86, 0xdd, 0, 0, 0, 0, 0, 1, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0,
        ];
        sll2.extend_from_slice(&v6);
        let mut null4 = 2u32.to_le_bytes().to_vec();
        null4.extend_from_slice(&v4);
        let mut null6 = 30u32.to_be_bytes().to_vec();
        null6.extend_from_slice(&v6);
        for (link, frame, expr, want) in [
            (
                LinkType::LinuxSll,
                &sll,
                "tcp port 80 and host 192.0.2.1",
                true,
            ),
            (LinkType::LinuxSll, &sll, "ip6", false),
            (
                LinkType::LinuxSll2,
                &sll2,
                "udp dst port 53 and net 2001:db8:1::/48",
                true,
            ),
            (LinkType::LinuxSll2, &sll2, "ip", false),
            (LinkType::Raw, &v4, "tcp and dst host 198.51.100.7", true),
            (LinkType::Raw, &v4, "ip6 or arp", false),
            (LinkType::Raw, &v6, "ip6 and udp", true),
            (LinkType::Ipv4, &v4, "ip and port 80", true),
            (LinkType::Ipv4, &v4, "ip6 or dst port 80", true),
            (LinkType::Ipv6, &v6, "ip6 and port 53", true),
            (LinkType::Ipv6, &v6, "ip or arp or not udp", false),
            (LinkType::Null, &null4, "tcp port 80", true),
            (LinkType::Null, &null4, "ip6", false),
            (LinkType::Null, &null6, "udp and ip6", true),
            (LinkType::Null, &null6, "arp or ip", false),
        ] {
            assert_eq!(hits(expr, link, frame), want, "{link:?}: {expr}");
        }
    }

    #[test]
    fn constant_expressions_fold() {
        assert_eq!(prog("ip", LinkType::Ipv4), Program::accept_all());
        assert_eq!(prog("ip6 or ip", LinkType::Ipv4), Program::accept_all());
        let never = Filter::parse(&["arp or ip6"]).map(|f| f.compile(LinkType::Ipv4));
        match never {
            Ok(Err(FilterError::Unsupported(m))) => {
                assert!(m.contains("rejects every packet"), "{m}");
                assert!(m.contains("raw IPv4"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        // `arp host` can never match raw IP; the IPv4 part keeps its loads.
        let p = prog("host 192.0.2.1", LinkType::Raw);
        assert!(p.dump().contains("ld       [12]"), "{}", p.dump());
        assert!(!p.dump().contains("[14]"), "{}", p.dump());
    }

    #[test]
    fn same_code_as_libpcap_for_simple_expressions() {
        // `tcpdump -O -d -y EN10MB tcp` (libpcap 1.10, unoptimised): the generator mirrors
        // libpcap's checks load for load.
        let want = "\
(000) ldh      [12]
(001) jeq      #0x800           jt 2\tjf 4
(002) ldb      [23]
(003) jeq      #0x6             jt 12\tjf 4
(004) ldh      [12]
(005) jeq      #0x86dd          jt 6\tjf 13
(006) ldb      [20]
(007) jeq      #0x6             jt 12\tjf 8
(008) ldb      [20]
(009) jeq      #0x2c            jt 10\tjf 13
(010) ldb      [54]
(011) jeq      #0x6             jt 12\tjf 13
(012) ret      #262144
(013) ret      #0
";
        assert_eq!(prog("tcp", LinkType::Ethernet).dump(), want);
        let want = "\
(000) ldh      [12]
(001) jeq      #0x800           jt 2\tjf 7
(002) ld       [26]
(003) jeq      #0xc0000201      jt 6\tjf 4
(004) ld       [30]
(005) jeq      #0xc0000201      jt 6\tjf 7
(006) ret      #262144
(007) ret      #0
";
        // The EtherType is checked once for both addresses, as libpcap's optimiser does.
        assert_eq!(prog("ip host 192.0.2.1", LinkType::Ethernet).dump(), want);
        // Protocol bytes are loaded once for the three protocols a port can belong to.
        let port = prog("port 80", LinkType::Ethernet);
        assert!(port.len() <= 26, "{}", port.dump());
    }

    #[test]
    fn long_jumps_go_through_trampolines() {
        // Each port primitive is ~25 instructions: 60 of them need jumps far past 255.
        let words: Vec<String> = (1..=60).map(|n| format!("port {n}")).collect();
        let expr = words.join(" or ");
        let p = prog(&expr, LinkType::Ethernet);
        assert!(p.len() > 1000 && p.len() <= MAX_INSNS, "{}", p.len());
        assert!(p.insns().iter().any(|i| i.code == BPF_JMP | BPF_JA));
        let not_expr = format!("not ({expr})");
        let np = prog(&not_expr, LinkType::Ethernet);
        for port in [1u16, 30, 60, 61, 8080] {
            let f = eth(0x0800, &ipv4(6, A, B, &[], 0, &ports(50000, port)));
            let want = (1..=60).contains(&port);
            assert_eq!(p.matches(&f, f.len() as u32), want, "port {port}");
            assert_eq!(np.matches(&f, f.len() as u32), !want, "not port {port}");
            let f6 = eth(0x86dd, &ipv6(17, A6, B6, &ports(port, 50000)));
            assert_eq!(p.matches(&f6, f6.len() as u32), want, "v6 port {port}");
        }
        let words: Vec<String> = (1..=400).map(|n| format!("port {n}")).collect();
        let huge = Filter::parse(&[words.join(" or ")]).map(|f| f.compile(LinkType::Ethernet));
        match huge {
            Ok(Err(e)) => assert!(e.to_string().contains("expression too large"), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unsupported_link_type_is_an_error_but_empty_filter_is_not() {
        let f = Filter::parse(&["tcp"]).unwrap_or_default();
        let e = f.compile(LinkType::Other(105));
        assert!(matches!(e, Err(FilterError::Unsupported(m)) if m.contains("link type 105")));
        let empty = Filter::parse::<&str>(&[]).unwrap_or_default();
        assert_eq!(
            empty.compile(LinkType::Other(105)).ok(),
            Some(Program::accept_all())
        );
    }
}
