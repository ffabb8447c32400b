//! Parsing of capture filter expressions — a subset of tcpdump's language (pcap-filter(7)) —
//! into an expression tree.
//!
//! The grammar follows libpcap's: `not` binds tightest, `and` and `or` have equal precedence and
//! group left to right, and a bare value after `and`/`or` inherits the qualifiers of the
//! primitive before it (`port 80 or 443`, `host 192.0.2.1 or 192.0.2.2`). Names are never
//! resolved: host names and service names are errors that say to give an address or a number.
//! Every error points at the offending word.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::FilterError;

/// Most words (tokens) an expression may have. No expression that long fits in the kernel's
/// 4096 instructions, and the bound keeps every walk over the tree shallow.
const MAX_TOKENS: usize = 4096;

/// Deepest nesting of parentheses and `not`.
const MAX_DEPTH: usize = 100;

/// A protocol keyword, alone (`tcp`) or qualifying a primitive (`tcp port 80`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    Ip,
    Ip6,
    Arp,
    Tcp,
    Udp,
    Sctp,
    Icmp,
    Icmp6,
}

impl Proto {
    fn from_keyword(word: &str) -> Option<Proto> {
        Some(match word {
            "ip" => Proto::Ip,
            "ip6" => Proto::Ip6,
            "arp" => Proto::Arp,
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            "sctp" => Proto::Sctp,
            "icmp" => Proto::Icmp,
            "icmp6" => Proto::Icmp6,
            _ => return None,
        })
    }

    fn keyword(self) -> &'static str {
        match self {
            Proto::Ip => "ip",
            Proto::Ip6 => "ip6",
            Proto::Arp => "arp",
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
            Proto::Icmp => "icmp",
            Proto::Icmp6 => "icmp6",
        }
    }
}

/// Which address or port of a packet a primitive looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// Source or destination (no qualifier, or `src or dst`).
    Either,
    Src,
    Dst,
    /// Source and destination (`src and dst`).
    Both,
}

impl Dir {
    fn prefix(self) -> &'static str {
        match self {
            Dir::Either => "",
            Dir::Src => "src ",
            Dir::Dst => "dst ",
            Dir::Both => "src and dst ",
        }
    }
}

/// The protocol qualifier of a `host` or `net` primitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddrProto {
    /// IPv4 (including ARP and RARP) or IPv6, by the address's family.
    Any,
    Ip,
    Ip6,
    Arp,
}

impl AddrProto {
    fn prefix(self) -> &'static str {
        match self {
            AddrProto::Any => "",
            AddrProto::Ip => "ip ",
            AddrProto::Ip6 => "ip6 ",
            AddrProto::Arp => "arp ",
        }
    }
}

/// The protocol qualifier of a `port` or `portrange` primitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PortProto {
    /// TCP, UDP or SCTP.
    Any,
    Tcp,
    Udp,
    Sctp,
}

impl PortProto {
    fn prefix(self) -> &'static str {
        match self {
            PortProto::Any => "",
            PortProto::Tcp => "tcp ",
            PortProto::Udp => "udp ",
            PortProto::Sctp => "sctp ",
        }
    }
}

/// One primitive of an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Prim {
    /// `tcp`, `ip6`, `arp`…
    Proto(Proto),
    /// `[ip|ip6|arp] [src|dst] host ADDR`.
    Host {
        proto: AddrProto,
        dir: Dir,
        addr: IpAddr,
    },
    /// `[ip|arp] [src|dst] net A.B.C.D/LEN` or `net A.B.C.D mask M.M.M.M`.
    Net4 {
        proto: AddrProto,
        dir: Dir,
        addr: u32,
        mask: u32,
    },
    /// `[ip6] [src|dst] net ADDR6/LEN`.
    Net6 {
        proto: AddrProto,
        dir: Dir,
        addr: Ipv6Addr,
        prefix: u8,
    },
    /// `[tcp|udp|sctp] [src|dst] port N` (`range` false, `low == high`) or `portrange N-M`.
    Port {
        proto: PortProto,
        dir: Dir,
        low: u16,
        high: u16,
        range: bool,
    },
}

impl fmt::Display for Prim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prim::Proto(p) => f.write_str(p.keyword()),
            Prim::Host { proto, dir, addr } => {
                write!(f, "{}{}host {addr}", proto.prefix(), dir.prefix())
            }
            Prim::Net4 {
                proto,
                dir,
                addr,
                mask,
            } => {
                write!(
                    f,
                    "{}{}net {}",
                    proto.prefix(),
                    dir.prefix(),
                    Ipv4Addr::from(*addr)
                )?;
                if mask.leading_ones() + mask.trailing_zeros() == 32 {
                    write!(f, "/{}", mask.leading_ones())
                } else {
                    write!(f, " mask {}", Ipv4Addr::from(*mask))
                }
            }
            Prim::Net6 {
                proto,
                dir,
                addr,
                prefix,
            } => write!(f, "{}{}net {addr}/{prefix}", proto.prefix(), dir.prefix()),
            Prim::Port {
                proto,
                dir,
                low,
                high,
                range,
            } => {
                write!(f, "{}{}", proto.prefix(), dir.prefix())?;
                if *range {
                    write!(f, "portrange {low}-{high}")
                } else {
                    write!(f, "port {low}")
                }
            }
        }
    }
}

/// `and` or `or`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    And,
    Or,
}

impl BinOp {
    fn word(self) -> &'static str {
        match self {
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }
}

/// An expression tree. Chains of `and`/`or` lean left, as they group left to right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    Prim(Prim),
    Not(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
}

impl Expr {
    /// The leftmost operand of a chain of binary operators and the (operator, right operand)
    /// pairs that follow it, in evaluation order. Walks the left spine without recursion, as
    /// chains can be long.
    pub(crate) fn chain(&self) -> (&Expr, Vec<(BinOp, &Expr)>) {
        let mut rest = Vec::new();
        let mut cur = self;
        while let Expr::Bin(op, left, right) = cur {
            rest.push((*op, &**right));
            cur = left;
        }
        rest.reverse();
        (cur, rest)
    }
}

impl fmt::Display for Expr {
    /// The normalised expression: every primitive spelled out with its qualifiers, and
    /// parentheses wherever `and` and `or` meet (they have equal precedence in tcpdump, which
    /// surprises readers used to `and` binding tighter).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Prim(p) => p.fmt(f),
            Expr::Not(inner) => match &**inner {
                Expr::Bin(..) => write!(f, "not ({inner})"),
                _ => write!(f, "not {inner}"),
            },
            Expr::Bin(..) => {
                let (first, rest) = self.chain();
                let changes = rest.windows(2).filter(|w| w[0].0 != w[1].0).count();
                for _ in 0..changes {
                    f.write_str("(")?;
                }
                write!(f, "{first}")?;
                let mut previous: Option<BinOp> = None;
                for (op, right) in rest {
                    if previous.is_some_and(|p| p != op) {
                        f.write_str(")")?;
                    }
                    previous = Some(op);
                    write!(f, " {} ", op.word())?;
                    match right {
                        Expr::Bin(..) => write!(f, "({right})")?,
                        _ => write!(f, "{right}")?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// Parses an expression (tcpdump's words joined with spaces). `Ok(None)` for an empty one.
pub(crate) fn parse(expression: &str) -> Result<Option<Expr>, FilterError> {
    let tokens = tokenize(expression)?;
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut p = Parser {
        text: expression,
        tokens,
        pos: 0,
        depth: 0,
        open_parens: Vec::new(),
    };
    let (expr, _) = p.expr(None)?;
    match p.peek() {
        None => Ok(Some(expr)),
        Some(t) if t.kind == Kind::RParen => {
            Err(p.error_at(t, "unbalanced parentheses: ')' without a matching '('"))
        }
        Some(t) => Err(p.expected_operator(t)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    LParen,
    RParen,
    Not,
    And,
    Or,
    Slash,
    Word,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    /// The token as written.
    text: String,
    /// Column of its first character (in characters).
    column: usize,
}

impl Token {
    fn width(&self) -> usize {
        self.text.chars().count().max(1)
    }
}

fn tokenize(expression: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = expression.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).copied();
        let (kind, len) = match c {
            '(' => (Kind::LParen, 1),
            ')' => (Kind::RParen, 1),
            '/' => (Kind::Slash, 1),
            '!' => (Kind::Not, 1),
            '&' if next == Some('&') => (Kind::And, 2),
            '|' if next == Some('|') => (Kind::Or, 2),
            _ => {
                let mut end = i;
                while let Some(&d) = chars.get(end) {
                    let pair = chars.get(end + 1).copied();
                    if d.is_whitespace()
                        || matches!(d, '(' | ')' | '/' | '!')
                        || (d == '&' && pair == Some('&'))
                        || (d == '|' && pair == Some('|'))
                    {
                        break;
                    }
                    end += 1;
                }
                let word: String = chars.get(i..end).unwrap_or_default().iter().collect();
                let kind = match word.as_str() {
                    "and" => Kind::And,
                    "or" => Kind::Or,
                    "not" => Kind::Not,
                    _ => Kind::Word,
                };
                (kind, end - i)
            }
        };
        let text: String = chars.get(i..i + len).unwrap_or_default().iter().collect();
        tokens.push(Token {
            kind,
            text,
            column: i,
        });
        if tokens.len() > MAX_TOKENS {
            return Err(syntax(
                expression,
                i,
                len,
                format!("expression too long: more than {MAX_TOKENS} words"),
            ));
        }
        i += len;
    }
    Ok(tokens)
}

/// A syntax error at a column of the expression.
fn syntax(expression: &str, column: usize, width: usize, message: String) -> FilterError {
    FilterError::Syntax {
        message,
        expression: expression
            .chars()
            .map(|c| {
                if c.is_whitespace() || c.is_control() {
                    ' '
                } else {
                    c
                }
            })
            .collect(),
        column,
        width: width.max(1),
    }
}

/// The address-or-port qualifier of a primitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddrKind {
    /// None given: the value must be an address (a host).
    Default,
    Host,
    Net,
    Port,
    Portrange,
}

impl AddrKind {
    fn from_keyword(word: &str) -> Option<AddrKind> {
        Some(match word {
            "host" => AddrKind::Host,
            "net" => AddrKind::Net,
            "port" => AddrKind::Port,
            "portrange" => AddrKind::Portrange,
            _ => return None,
        })
    }
}

/// The qualifiers a value is read with (tcpdump's `struct qual`); carried forward for
/// inheritance. `None` where tcpdump has "qerr": nothing to inherit.
#[derive(Debug, Clone)]
struct Quals {
    proto: Option<Proto>,
    dir: Dir,
    addr: AddrKind,
    /// The qualifier words as written (`tcp dst port`), for messages.
    words: String,
    /// Whether the value inherits them from an earlier primitive.
    inherited: bool,
}

impl Quals {
    fn inherit(self) -> Quals {
        Quals {
            inherited: true,
            ..self
        }
    }
}

/// Keywords of tcpdump's language that sockscope does not implement.
#[rustfmt::skip]
const UNSUPPORTED: &[&str] = &[
    "ether", "gateway", "proto", "protochain", "broadcast", "multicast", "less", "greater",
    "len", "vlan", "mpls", "pppoed", "pppoes", "geneve", "vxlan", "inbound", "outbound",
    "ifindex", "ifname", "on", "rnr", "rulenum", "reason", "rset", "ruleset", "srnr",
    "subrulenum", "action", "link", "ppp", "slip", "fddi", "tr", "wlan", "decnet", "atalk",
    "aarp", "lat", "sca", "moprc", "mopdl", "iso", "esis", "es-is", "isis", "is-is", "clnp",
    "stp", "ipx", "netbeui", "llc", "rarp", "igmp", "igrp", "pim", "vrrp", "carp", "ah", "esp",
    "radio", "type", "subtype", "dir", "ra", "ta", "addr1", "addr2", "addr3", "addr4", "atm",
    "lane", "oamf4", "oamf4ec", "oamf4sc", "oam", "metac", "bcc", "sc", "ilmic", "connectmsg",
    "metaconnect", "vpi", "vci", "fisu", "lssu", "msu", "sio", "opc", "dpc", "sls",
];

/// Whether a word is a keyword, so that it cannot be read as a value.
fn is_keyword(word: &str) -> bool {
    Proto::from_keyword(word).is_some()
        || AddrKind::from_keyword(word).is_some()
        || matches!(word, "src" | "dst" | "mask")
        || UNSUPPORTED.contains(&word)
}

const SUPPORTED: &str = "tcp, udp, sctp, icmp, icmp6, arp, ip, ip6, [src|dst] host, net, port, \
                         portrange, and, or, not, parentheses";

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    /// Indexes of the '(' tokens not closed yet.
    open_parens: Vec<usize>,
}

type Parsed = Result<(Expr, Option<Quals>), FilterError>;

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Token> {
        self.tokens.get(self.pos + ahead)
    }

    fn peek_kind(&self) -> Option<Kind> {
        self.peek().map(|t| t.kind)
    }

    fn peek_word(&self) -> Option<&str> {
        self.peek()
            .filter(|t| t.kind == Kind::Word)
            .map(|t| t.text.as_str())
    }

    fn error_at(&self, t: &Token, message: impl Into<String>) -> FilterError {
        syntax(self.text, t.column, t.width(), message.into())
    }

    /// An error at the end of the expression.
    fn error_at_end(&self, message: impl Into<String>) -> FilterError {
        syntax(self.text, self.text.chars().count(), 1, message.into())
    }

    /// Describes the token before the current one, for "after 'X'" in messages.
    fn previous_text(&self) -> Option<String> {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map(|t| t.text.clone())
    }

    /// "expected {what} after 'previous', found 'this'" (or "…the end of the expression").
    fn expected(&self, what: &str) -> FilterError {
        let after = match self.previous_text() {
            Some(prev) => format!(" after '{prev}'"),
            None => String::new(),
        };
        match self.peek() {
            Some(t) => self.error_at(t, format!("expected {what}{after}, found '{}'", t.text)),
            None => self.error_at_end(format!(
                "expected {what}{after}, found the end of the expression"
            )),
        }
    }

    fn expected_operator(&self, t: &Token) -> FilterError {
        let after = self
            .previous_text()
            .map(|p| format!(" after '{p}'"))
            .unwrap_or_default();
        self.error_at(
            t,
            format!(
                "expected 'and', 'or' or the end of the expression{after}, found '{}'",
                t.text
            ),
        )
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(match self.peek() {
                Some(t) => self.error_at(
                    t,
                    format!("expression nested too deeply (more than {MAX_DEPTH} levels)"),
                ),
                None => self.error_at_end("expression nested too deeply"),
            });
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn open_paren(&mut self) -> Result<(), FilterError> {
        self.enter()?;
        self.open_parens.push(self.pos);
        self.pos += 1;
        Ok(())
    }

    fn close_paren(&mut self) -> Result<(), FilterError> {
        match self.peek_kind() {
            Some(Kind::RParen) => {
                self.pos += 1;
                self.open_parens.pop();
                self.leave();
                Ok(())
            }
            None => {
                let open = self
                    .open_parens
                    .last()
                    .and_then(|&i| self.tokens.get(i))
                    .cloned();
                Err(match open {
                    Some(t) => {
                        self.error_at(&t, "unbalanced parentheses: this '(' is never closed")
                    }
                    None => self.error_at_end("unbalanced parentheses: missing ')'"),
                })
            }
            Some(_) => {
                let after = self
                    .previous_text()
                    .map(|p| format!(" after '{p}'"))
                    .unwrap_or_default();
                let t = self.peek().cloned();
                Err(match t {
                    Some(t) => self.error_at(
                        &t,
                        format!("expected 'and', 'or' or ')'{after}, found '{}'", t.text),
                    ),
                    None => self.error_at_end("missing ')'"),
                })
            }
        }
    }

    /// `expr: term | expr and term | expr and id | expr or term | expr or id`.
    fn expr(&mut self, ctx: Option<Quals>) -> Parsed {
        let (mut left, mut quals) = self.term(ctx)?;
        while let Some(kind @ (Kind::And | Kind::Or)) = self.peek_kind() {
            let op = if kind == Kind::And {
                BinOp::And
            } else {
                BinOp::Or
            };
            self.pos += 1;
            let inherited = quals.map(Quals::inherit);
            let (right, q) = if self.starts_id() {
                self.id(inherited)?
            } else {
                self.term(inherited)?
            };
            left = Expr::Bin(op, Box::new(left), Box::new(right));
            quals = q;
        }
        Ok((left, quals))
    }

    /// Whether the next tokens form an `id` (a bare value, possibly under `not` and
    /// parentheses) rather than a term: the first token after any `not`/`(` is a value.
    fn starts_id(&self) -> bool {
        let mut ahead = 0;
        loop {
            match self.peek_at(ahead) {
                Some(t) if matches!(t.kind, Kind::Not | Kind::LParen) => ahead += 1,
                Some(t) if t.kind == Kind::Word => return !is_keyword(&t.text),
                _ => return false,
            }
        }
    }

    /// `term: rterm | not term`; `rterm: head id | ( expr ) | pname`.
    fn term(&mut self, ctx: Option<Quals>) -> Parsed {
        let Some(t) = self.peek().cloned() else {
            return Err(self.expected("an expression"));
        };
        match t.kind {
            Kind::Not => {
                self.enter()?;
                self.pos += 1;
                let (inner, q) = self.term(ctx)?;
                self.leave();
                Ok((Expr::Not(Box::new(inner)), q))
            }
            Kind::LParen => {
                self.open_paren()?;
                if self.peek_kind() == Some(Kind::RParen) {
                    return Err(self.expected("an expression"));
                }
                let (inner, _) = self.expr(ctx.clone())?;
                self.close_paren()?;
                Ok((inner, ctx))
            }
            Kind::Word => {
                if let Some(proto) = Proto::from_keyword(&t.text) {
                    self.pos += 1;
                    let qualifies = self.peek_word().is_some_and(|w| {
                        matches!(w, "src" | "dst") || AddrKind::from_keyword(w).is_some()
                    });
                    if qualifies {
                        return self.head(Some((proto, t)));
                    }
                    return Ok((Expr::Prim(Prim::Proto(proto)), None));
                }
                if matches!(t.text.as_str(), "src" | "dst")
                    || AddrKind::from_keyword(&t.text).is_some()
                {
                    return self.head(None);
                }
                Err(self.bad_word(&t, true))
            }
            Kind::RParen if self.open_parens.is_empty() => {
                Err(self.error_at(&t, "unbalanced parentheses: ')' without a matching '('"))
            }
            _ => Err(self.expected("an expression")),
        }
    }

    /// The error for a word that cannot start a term.
    fn bad_word(&self, t: &Token, bare_value: bool) -> FilterError {
        let word = t.text.as_str();
        if UNSUPPORTED.contains(&word) {
            return self.error_at(
                t,
                format!(
                    "'{word}' is not supported by sockscope's filters (supported: {SUPPORTED})"
                ),
            );
        }
        let lower = word.to_lowercase();
        if lower != word && is_keyword(&lower) {
            return self.error_at(
                t,
                format!("unknown word '{word}' (keywords are lower-case: '{lower}')"),
            );
        }
        if bare_value && looks_like_value(word) {
            return self.error_at(
                t,
                format!(
                    "'{word}' needs a qualifier, such as 'host {word}' or 'port {word}' \
                     (there is no primitive before it to inherit one from)"
                ),
            );
        }
        match self.previous_text() {
            Some(prev) => self.error_at(
                t,
                format!("unknown word '{word}' after '{prev}' (expected one of: {SUPPORTED})"),
            ),
            None => self.error_at(
                t,
                format!("unknown word '{word}' (expected one of: {SUPPORTED})"),
            ),
        }
    }

    /// `head id`, where `head: [pname] [dqual] [aqual]` (at least one of the last two).
    fn head(&mut self, proto: Option<(Proto, Token)>) -> Parsed {
        let mut words: Vec<String> = Vec::new();
        if let Some((p, _)) = &proto {
            words.push(p.keyword().to_string());
        }
        let mut dir = Dir::Either;
        if let Some(first @ ("src" | "dst")) = self.peek_word().map(str::to_owned).as_deref() {
            self.pos += 1;
            words.push(first.to_string());
            dir = if first == "src" { Dir::Src } else { Dir::Dst };
            let other = if first == "src" { "dst" } else { "src" };
            if let Some(kind @ (Kind::And | Kind::Or)) = self.peek_kind() {
                let second = self
                    .peek_at(1)
                    .filter(|t| t.kind == Kind::Word && t.text == other);
                if second.is_none() {
                    let bad = self.peek().cloned();
                    return Err(match bad {
                        Some(b) => self.error_at(
                            &b,
                            format!(
                                "expected an address, 'host', 'net', 'port' or 'portrange' \
                                 after '{first}', found '{}' (for both directions write \
                                 '{first} or {other}' or '{first} and {other}')",
                                b.text
                            ),
                        ),
                        None => self.expected("an address"),
                    });
                }
                words.push(if kind == Kind::And { "and" } else { "or" }.to_string());
                words.push(other.to_string());
                self.pos += 2;
                dir = if kind == Kind::And {
                    Dir::Both
                } else {
                    Dir::Either
                };
            }
        }
        let mut addr = AddrKind::Default;
        if let Some(a) = self.peek_word().and_then(AddrKind::from_keyword) {
            words.push(self.peek_word().unwrap_or_default().to_string());
            self.pos += 1;
            addr = a;
        }
        if let Some((p, tok)) = &proto {
            self.check_proto(*p, addr, tok)?;
        }
        let quals = Quals {
            proto: proto.map(|(p, _)| p),
            dir,
            addr,
            words: words.join(" "),
            inherited: false,
        };
        let (expr, _) = self.id(Some(quals.clone()))?;
        Ok((expr, Some(quals)))
    }

    /// Checks that a protocol qualifier goes with the address kind (`tcp port`, `ip host`).
    fn check_proto(&self, proto: Proto, addr: AddrKind, tok: &Token) -> Result<(), FilterError> {
        let ok = match addr {
            AddrKind::Default | AddrKind::Host | AddrKind::Net => {
                matches!(proto, Proto::Ip | Proto::Ip6 | Proto::Arp)
            }
            AddrKind::Port | AddrKind::Portrange => {
                matches!(proto, Proto::Tcp | Proto::Udp | Proto::Sctp)
            }
        };
        if ok {
            return Ok(());
        }
        if addr == AddrKind::Default && matches!(proto, Proto::Tcp | Proto::Udp | Proto::Sctp) {
            return Err(self.error_at(
                tok,
                format!(
                    "'{}' with a direction needs 'port' or 'portrange' (as in '{} src port \
                     80'); for an address write '{} and src host ADDR'",
                    proto.keyword(),
                    proto.keyword(),
                    proto.keyword()
                ),
            ));
        }
        let (what, allowed, example) = match addr {
            AddrKind::Port => ("port", "tcp, udp or sctp", "port N"),
            AddrKind::Portrange => ("portrange", "tcp, udp or sctp", "portrange N-M"),
            AddrKind::Net => ("net", "ip, ip6 or arp", "net CIDR"),
            AddrKind::Host | AddrKind::Default => ("host", "ip, ip6 or arp", "host ADDR"),
        };
        Err(self.error_at(
            tok,
            format!(
                "'{}' cannot qualify '{what}' (only {allowed} can); write '{} and {example}'",
                proto.keyword(),
                proto.keyword()
            ),
        ))
    }

    /// `id: value | not id | ( pid )`, read with the qualifiers `quals`.
    fn id(&mut self, quals: Option<Quals>) -> Parsed {
        let Some(t) = self.peek().cloned() else {
            return Err(self.expected(&value_description(quals.as_ref())));
        };
        match t.kind {
            Kind::Not => {
                self.enter()?;
                self.pos += 1;
                let (inner, q) = self.id(quals)?;
                self.leave();
                Ok((Expr::Not(Box::new(inner)), q))
            }
            Kind::LParen => {
                self.open_paren()?;
                let (inner, q) = self.pid(quals)?;
                self.close_paren()?;
                Ok((inner, q))
            }
            Kind::Word if !is_keyword(&t.text) => {
                let Some(q) = quals else {
                    return Err(self.bad_word(&t, true));
                };
                self.pos += 1;
                let prim = self.value(&q, &t)?;
                Ok((Expr::Prim(prim), Some(q)))
            }
            _ => Err(self.expected(&value_description(quals.as_ref()))),
        }
    }

    /// `pid: id | pid and id | pid or id` (inside parentheses after qualifiers).
    fn pid(&mut self, quals: Option<Quals>) -> Parsed {
        let (mut left, mut q) = self.id(quals)?;
        while let Some(kind @ (Kind::And | Kind::Or)) = self.peek_kind() {
            let op = if kind == Kind::And {
                BinOp::And
            } else {
                BinOp::Or
            };
            self.pos += 1;
            let (right, q2) = self.id(q.map(Quals::inherit))?;
            left = Expr::Bin(op, Box::new(left), Box::new(right));
            q = q2;
        }
        Ok((left, q))
    }

    /// A value (with an optional `/LEN` or `mask M`) read with qualifiers `q`.
    fn value(&mut self, q: &Quals, t: &Token) -> Result<Prim, FilterError> {
        let word = t.text.as_str();
        match q.addr {
            AddrKind::Port | AddrKind::Portrange => self.port_value(q, t),
            AddrKind::Default | AddrKind::Host | AddrKind::Net => {
                let addr = parse_addr(word);
                let net_suffix = match self.peek_kind() {
                    Some(Kind::Slash) => true,
                    _ => self.peek_word() == Some("mask"),
                };
                if q.addr != AddrKind::Net {
                    return match addr {
                        Addr::V4 { value, octets: 4 } if !net_suffix => {
                            self.host(q, t, IpAddr::V4(Ipv4Addr::from(value)))
                        }
                        Addr::V6(a) if !net_suffix => self.host(q, t, IpAddr::V6(a)),
                        Addr::V4 { octets: 4, .. } | Addr::V6(_) => {
                            let suffix = self.peek().cloned();
                            let s = suffix.as_ref().unwrap_or(t);
                            let head = q.words.strip_suffix("host").unwrap_or(&q.words).trim();
                            let head = if head.is_empty() {
                                String::new()
                            } else {
                                format!("{head} ")
                            };
                            let form = if s.kind == Kind::Slash {
                                "/LEN"
                            } else {
                                " mask MASK"
                            };
                            Err(self.error_at(
                                s,
                                format!(
                                    "a mask or prefix length is for networks only: write \
                                     '{head}net {word}{form}'"
                                ),
                            ))
                        }
                        Addr::V4 { .. } | Addr::Number(_) => Err(self.error_at(
                            t,
                            format!(
                                "expected a full IPv4 or IPv6 address {}, found '{word}'{}",
                                self.context(q),
                                if q.addr == AddrKind::Default {
                                    format!(" (for a port write 'port {word}')")
                                } else {
                                    String::new()
                                }
                            ),
                        )),
                        Addr::BadNumeric => Err(self
                            .error_at(t, format!("'{word}' is not a valid IPv4 or IPv6 address"))),
                        Addr::Name => Err(self.error_at(
                            t,
                            format!(
                                "'{word}' is a name: host names are not resolved, give an \
                                 IPv4 or IPv6 address"
                            ),
                        )),
                    };
                }
                self.net(q, t, addr)
            }
        }
    }

    /// Says where a value's qualifiers come from, for messages.
    fn context(&self, q: &Quals) -> String {
        if q.inherited {
            format!("for '{}' (inherited from the primitive before)", q.words)
        } else {
            format!(
                "after '{}'",
                q.words.rsplit(' ').next().unwrap_or(q.words.as_str())
            )
        }
    }

    fn host(&self, q: &Quals, t: &Token, addr: IpAddr) -> Result<Prim, FilterError> {
        let proto = self.addr_proto(q, t, &addr)?;
        Ok(Prim::Host {
            proto,
            dir: q.dir,
            addr,
        })
    }

    /// The protocol qualifier of a host or net, checked against the address family.
    fn addr_proto(&self, q: &Quals, t: &Token, addr: &IpAddr) -> Result<AddrProto, FilterError> {
        let proto = match q.proto {
            None => AddrProto::Any,
            Some(Proto::Ip) => AddrProto::Ip,
            Some(Proto::Ip6) => AddrProto::Ip6,
            Some(Proto::Arp) => AddrProto::Arp,
            Some(p) => {
                return Err(self.error_at(
                    t,
                    format!(
                        "'{}' cannot qualify a host or network (only ip, ip6 or arp can); \
                         write '{} and host {}'",
                        p.keyword(),
                        p.keyword(),
                        t.text
                    ),
                ));
            }
        };
        let mismatch = match (proto, addr) {
            (AddrProto::Ip6, IpAddr::V4(_)) => Some(("ip6", "an IPv6", "the IPv4")),
            (AddrProto::Ip, IpAddr::V6(_)) => Some(("ip", "an IPv4", "the IPv6")),
            (AddrProto::Arp, IpAddr::V6(_)) => Some(("arp", "an IPv4", "the IPv6")),
            _ => None,
        };
        match mismatch {
            Some((qual, want, found)) => Err(self.error_at(
                t,
                format!(
                    "'{qual}' needs {want} address, found {found} address '{}'",
                    t.text
                ),
            )),
            None => Ok(proto),
        }
    }

    /// `net` values: `A.B.C.D`, `A.B` (whole octets), `N` (one octet), with `/LEN` or
    /// `mask M.M.M.M`; or an IPv6 address with `/LEN`.
    fn net(&mut self, q: &Quals, t: &Token, addr: Addr) -> Result<Prim, FilterError> {
        let word = t.text.as_str();
        match addr {
            Addr::V6(a) => {
                let proto = self.addr_proto(q, t, &IpAddr::V6(a))?;
                let prefix = match self.peek_kind() {
                    Some(Kind::Slash) => self.prefix_length(128, "IPv6")?,
                    _ if self.peek_word() == Some("mask") => {
                        let m = self.peek().cloned();
                        return Err(match m {
                            Some(m) => self.error_at(
                                &m,
                                "'mask' is for IPv4 networks; write an IPv6 network as ADDR/LEN",
                            ),
                            None => self.expected("a prefix length"),
                        });
                    }
                    _ => 128,
                };
                let bits = u128::from(a);
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                if bits & !mask != 0 {
                    return Err(self.error_at(
                        t,
                        format!(
                            "'{word}/{prefix}' has host bits set: the network is {}/{prefix}",
                            Ipv6Addr::from(bits & mask)
                        ),
                    ));
                }
                Ok(Prim::Net6 {
                    proto,
                    dir: q.dir,
                    addr: a,
                    prefix,
                })
            }
            Addr::V4 { value, octets } => self.net4(q, t, value, octets),
            Addr::Number(n @ 1..=255) => self.net4(q, t, n as u32, 1),
            Addr::Number(_) | Addr::BadNumeric => Err(self.error_at(
                t,
                format!(
                    "expected an IPv4 or IPv6 network {}, found '{word}'",
                    self.context(q)
                ),
            )),
            Addr::Name => Err(self.error_at(
                t,
                format!(
                    "'{word}' is a name: network names are not resolved, give a network such as \
                     192.0.2.0/24"
                ),
            )),
        }
    }

    fn net4(&mut self, q: &Quals, t: &Token, value: u32, octets: u32) -> Result<Prim, FilterError> {
        let shift = 32 - 8 * octets;
        let addr = value.checked_shl(shift).unwrap_or(0);
        let proto = self.addr_proto(q, t, &IpAddr::V4(Ipv4Addr::from(addr)))?;
        let (mask, shown) = match self.peek_kind() {
            Some(Kind::Slash) => {
                let len = self.prefix_length(32, "IPv4")?;
                (
                    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0),
                    format!("{}/{len}", t.text),
                )
            }
            _ if self.peek_word() == Some("mask") => {
                self.pos += 1;
                let Some(m) = self.peek().cloned() else {
                    return Err(self.expected("a netmask such as 255.255.255.0"));
                };
                let mask = match (m.kind, parse_addr(&m.text)) {
                    (Kind::Word, Addr::V4 { value, octets: 4 }) => value,
                    _ => return Err(self.expected("a netmask such as 255.255.255.0")),
                };
                self.pos += 1;
                (mask, format!("{} mask {}", t.text, m.text))
            }
            _ => (u32::MAX.checked_shl(shift).unwrap_or(0), t.text.clone()),
        };
        if addr & !mask != 0 {
            let net = Prim::Net4 {
                proto: AddrProto::Any,
                dir: Dir::Either,
                addr: addr & mask,
                mask,
            };
            let fixed = net.to_string();
            return Err(self.error_at(
                t,
                format!(
                    "'{shown}' has host bits set: the network is {}",
                    fixed.trim_start_matches("net ")
                ),
            ));
        }
        Ok(Prim::Net4 {
            proto,
            dir: q.dir,
            addr,
            mask,
        })
    }

    /// `/LEN` after a network address (the slash is the current token).
    fn prefix_length(&mut self, max: u8, family: &str) -> Result<u8, FilterError> {
        self.pos += 1; // the '/'
        let Some(t) = self.peek().cloned() else {
            return Err(self.expected("a prefix length"));
        };
        let Some(n) = (t.kind == Kind::Word).then(|| decimal(&t.text)).flatten() else {
            return Err(self.expected("a prefix length"));
        };
        if n > u64::from(max) {
            return Err(self.error_at(
                &t,
                format!(
                    "prefix length /{} is out of range for an {family} network (0-{max})",
                    t.text
                ),
            ));
        }
        self.pos += 1;
        Ok(u8::try_from(n).unwrap_or(max))
    }

    fn port_value(&mut self, q: &Quals, t: &Token) -> Result<Prim, FilterError> {
        let word = t.text.as_str();
        let keyword = if q.addr == AddrKind::Port {
            "port"
        } else {
            "portrange"
        };
        let proto = match q.proto {
            None => PortProto::Any,
            Some(Proto::Tcp) => PortProto::Tcp,
            Some(Proto::Udp) => PortProto::Udp,
            Some(Proto::Sctp) => PortProto::Sctp,
            // Rejected when the head was parsed; inherited qualifiers were checked there too.
            Some(p) => {
                return Err(
                    self.error_at(t, format!("'{}' cannot qualify '{keyword}'", p.keyword()))
                );
            }
        };
        let what = if q.addr == AddrKind::Port {
            "a port number"
        } else {
            "a port range N-M"
        };
        let number = |s: &str| -> Result<u16, FilterError> {
            if s.len() > 1 && s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(self.error_at(
                    t,
                    format!(
                        "'{word}': leading zeros are not accepted (tcpdump would read \
                         '{s}' as octal); write the number in decimal"
                    ),
                ));
            }
            match decimal(s) {
                Some(n) => u16::try_from(n)
                    .map_err(|_| self.error_at(t, format!("port {s} is out of range (0-65535)"))),
                None => {
                    let hint = if s.chars().any(|c| c.is_ascii_alphabetic()) {
                        " (service names are not resolved: give the number)"
                    } else {
                        ""
                    };
                    Err(self.error_at(
                        t,
                        format!("expected {what} {}, found '{word}'{hint}", self.context(q)),
                    ))
                }
            }
        };
        let (low, high, range) = if q.addr == AddrKind::Portrange {
            match word.split_once('-') {
                Some((a, b)) if !a.is_empty() && !b.is_empty() => {
                    let (a, b) = (number(a)?, number(b)?);
                    (a.min(b), a.max(b), true)
                }
                _ if decimal(word).is_some() => {
                    let n = number(word)?;
                    (n, n, true)
                }
                _ => {
                    let hint = if word.chars().any(|c| c.is_ascii_alphabetic()) {
                        " (service names are not resolved: give numbers)"
                    } else {
                        ""
                    };
                    return Err(self.error_at(
                        t,
                        format!("expected {what} {}, found '{word}'{hint}", self.context(q)),
                    ));
                }
            }
        } else {
            let n = number(word)?;
            (n, n, false)
        };
        if matches!(self.peek_kind(), Some(Kind::Slash)) || self.peek_word() == Some("mask") {
            let s = self.peek().cloned();
            if let Some(s) = s {
                return Err(self.error_at(&s, format!("a mask does not go with '{keyword}'")));
            }
        }
        Ok(Prim::Port {
            proto,
            dir: q.dir,
            low,
            high,
            range,
        })
    }
}

/// What value the qualifiers ask for, for "expected …" messages.
fn value_description(q: Option<&Quals>) -> String {
    match q.map(|q| q.addr) {
        Some(AddrKind::Port) => "a port number".into(),
        Some(AddrKind::Portrange) => "a port range N-M".into(),
        Some(AddrKind::Net) => "a network such as 192.0.2.0/24".into(),
        Some(AddrKind::Host) | Some(AddrKind::Default) => "an IPv4 or IPv6 address".into(),
        None => "an expression".into(),
    }
}

/// A decimal number of digits only (no sign, no hex, no octal), or None.
fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Whether a word looks like a number or an address rather than a misspelt keyword.
fn looks_like_value(word: &str) -> bool {
    word.contains(':')
        || word
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
}

/// How a word reads as an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Addr {
    /// A plain decimal number (`10`).
    Number(u64),
    /// Dotted decimal with 2 to 4 octets; `value` holds them right-aligned.
    V4 {
        value: u32,
        octets: u32,
    },
    V6(Ipv6Addr),
    /// Digits, dots or colons that do not form an address.
    BadNumeric,
    /// Anything else: a name.
    Name,
}

fn parse_addr(word: &str) -> Addr {
    if word.contains(':') {
        return word.parse().map(Addr::V6).unwrap_or(Addr::BadNumeric);
    }
    if !word.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Addr::Name;
    }
    if !word.contains('.') {
        return decimal(word).map(Addr::Number).unwrap_or(Addr::BadNumeric);
    }
    let parts: Vec<&str> = word.split('.').collect();
    if parts.len() > 4 {
        return Addr::BadNumeric;
    }
    let mut value: u32 = 0;
    for part in &parts {
        match decimal(part) {
            Some(n) if n <= 255 && part.len() <= 3 => value = (value << 8) | n as u32,
            _ => return Addr::BadNumeric,
        }
    }
    Addr::V4 {
        value,
        octets: parts.len() as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Expr {
        match parse(s) {
            Ok(Some(e)) => e,
            Ok(None) => panic!("{s:?}: empty"),
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    fn shown(s: &str) -> String {
        p(s).to_string()
    }

    fn err(s: &str) -> String {
        match parse(s) {
            Ok(e) => panic!("{s:?} parsed as {e:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn empty_expression_is_none() {
        assert_eq!(parse("").ok(), Some(None));
        assert_eq!(parse("   ").ok(), Some(None));
    }

    #[test]
    fn and_or_have_equal_precedence_left_to_right() {
        assert_eq!(shown("tcp or udp and icmp"), "(tcp or udp) and icmp");
        assert_eq!(shown("tcp and udp or icmp"), "(tcp and udp) or icmp");
        assert_eq!(shown("tcp or udp or icmp"), "tcp or udp or icmp");
        assert_eq!(
            shown("tcp and udp or icmp and arp"),
            "((tcp and udp) or icmp) and arp"
        );
        assert_eq!(shown("tcp and (udp or icmp)"), "tcp and (udp or icmp)");
        assert_eq!(shown("tcp && udp || icmp"), "(tcp and udp) or icmp");
    }

    #[test]
    fn not_binds_tightest() {
        assert_eq!(shown("not tcp and udp"), "not tcp and udp");
        assert_eq!(
            p("not tcp and udp"),
            Expr::Bin(
                BinOp::And,
                Box::new(Expr::Not(Box::new(Expr::Prim(Prim::Proto(Proto::Tcp))))),
                Box::new(Expr::Prim(Prim::Proto(Proto::Udp)))
            )
        );
        assert_eq!(shown("!tcp"), "not tcp");
        assert_eq!(shown("not (tcp or udp)"), "not (tcp or udp)");
        assert_eq!(shown("not not tcp"), "not not tcp");
    }

    #[test]
    fn qualifiers_are_inherited() {
        assert_eq!(shown("port 80 or 443"), "port 80 or port 443");
        assert_eq!(
            shown("host 192.0.2.1 or 192.0.2.2"),
            "host 192.0.2.1 or host 192.0.2.2"
        );
        assert_eq!(shown("tcp port 80 or 8080"), "tcp port 80 or tcp port 8080");
        assert_eq!(
            shown("tcp dst port 80 or 8080 and 22"),
            "(tcp dst port 80 or tcp dst port 8080) and tcp dst port 22"
        );
        assert_eq!(shown("port 80 or not 443"), "port 80 or not port 443");
        assert_eq!(
            shown("host 192.0.2.1 and (192.0.2.2 or 192.0.2.3)"),
            "host 192.0.2.1 and (host 192.0.2.2 or host 192.0.2.3)"
        );
        assert_eq!(shown("host not 192.0.2.1"), "not host 192.0.2.1");
        // The inherited qualifiers come from the last primitive, through parentheses.
        assert_eq!(
            shown("port 80 or (tcp) or 443"),
            "port 80 or tcp or port 443"
        );
        assert_eq!(
            shown("src 192.0.2.1 or 192.0.2.9"),
            "src host 192.0.2.1 or src host 192.0.2.9"
        );
        assert_eq!(
            shown("net 10 or 192.168"),
            "net 10.0.0.0/8 or net 192.168.0.0/16"
        );
    }

    #[test]
    fn qualified_forms() {
        assert_eq!(shown("ip host 192.0.2.1"), "ip host 192.0.2.1");
        assert_eq!(shown("ip6 host 2001:db8::1"), "ip6 host 2001:db8::1");
        assert_eq!(shown("arp src host 192.0.2.1"), "arp src host 192.0.2.1");
        assert_eq!(shown("udp dst port 53"), "udp dst port 53");
        assert_eq!(
            shown("tcp src portrange 1024-2048"),
            "tcp src portrange 1024-2048"
        );
        assert_eq!(shown("portrange 90-80"), "portrange 80-90");
        assert_eq!(shown("portrange 80"), "portrange 80-80");
        assert_eq!(shown("src or dst port 80"), "port 80");
        assert_eq!(shown("dst || src port 80"), "port 80");
        assert_eq!(
            shown("src and dst host 192.0.2.1"),
            "src and dst host 192.0.2.1"
        );
        assert_eq!(
            shown("dst and src net 10.0.0.0/8"),
            "src and dst net 10.0.0.0/8"
        );
        assert_eq!(shown("net 192.0.2.0/24"), "net 192.0.2.0/24");
        assert_eq!(shown("net 192.0.2.0 / 24"), "net 192.0.2.0/24");
        assert_eq!(
            shown("net 192.0.2.0 mask 255.255.255.0"),
            "net 192.0.2.0/24"
        );
        assert_eq!(
            shown("net 10.0.0.0 mask 255.0.255.0"),
            "net 10.0.0.0 mask 255.0.255.0"
        );
        assert_eq!(shown("net 192.0.2.1"), "net 192.0.2.1/32");
        assert_eq!(shown("net 2001:db8::/32"), "net 2001:db8::/32");
        assert_eq!(
            shown("ip6 src net 2001:db8::"),
            "ip6 src net 2001:db8::/128"
        );
        assert_eq!(shown("host ::ffff:192.0.2.1"), "host ::ffff:192.0.2.1");
        assert_eq!(shown("sctp port 9"), "sctp port 9");
        assert_eq!(shown("port 0 or 65535"), "port 0 or port 65535");
    }

    #[test]
    fn display_parses_back_to_the_same_tree() {
        for s in [
            "tcp or udp and not icmp",
            "host 192.0.2.1 and (port 80 or 443) or arp",
            "not (ip6 and src net 2001:db8::/32) and tcp dst portrange 1-1024",
            "net 10.0.0.0 mask 255.0.255.0 or src and dst host ::1",
            "tcp and (udp or (icmp and not arp)) or ip6",
        ] {
            let first = p(s);
            let again = p(&first.to_string());
            assert_eq!(first, again, "{s:?} -> {first}");
        }
    }

    #[test]
    fn error_dangling_operator() {
        let e = err("tcp and");
        assert!(
            e.contains("expected an expression after 'and', found the end of the expression"),
            "{e}"
        );
        assert!(e.ends_with("\n  tcp and\n         ^"), "{e}");
        let e = err("or tcp");
        assert!(e.contains("expected an expression, found 'or'"), "{e}");
        let e = err("tcp and or udp");
        assert!(
            e.contains("expected an expression after 'and', found 'or'"),
            "{e}"
        );
    }

    #[test]
    fn error_unbalanced_parentheses() {
        let e = err("(tcp or udp");
        assert!(e.contains("this '(' is never closed"), "{e}");
        assert!(e.ends_with("\n  (tcp or udp\n  ^"), "{e}");
        let e = err("tcp or udp)");
        assert!(e.contains("')' without a matching '('"), "{e}");
        assert!(e.ends_with("\n  tcp or udp)\n            ^"), "{e}");
        let e = err("()");
        assert!(
            e.contains("expected an expression after '(', found ')'"),
            "{e}"
        );
        let e = err("(tcp udp)");
        assert!(
            e.contains("expected 'and', 'or' or ')' after 'tcp', found 'udp'"),
            "{e}"
        );
    }

    #[test]
    fn error_bad_port() {
        let e = err("port 70000");
        assert!(e.contains("port 70000 is out of range (0-65535)"), "{e}");
        assert!(e.ends_with("\n  port 70000\n       ^^^^^"), "{e}");
        let e = err("tcp port foo");
        assert!(
            e.contains("expected a port number after 'port', found 'foo'"),
            "{e}"
        );
        assert!(e.ends_with("\n  tcp port foo\n           ^^^"), "{e}");
        let e = err("port http");
        assert!(e.contains("service names are not resolved"), "{e}");
        let e = err("port 80 or https");
        assert!(e.contains("inherited from the primitive before"), "{e}");
        let e = err("port 080");
        assert!(e.contains("leading zeros"), "{e}");
        let e = err("portrange 1-70000");
        assert!(e.contains("port 70000 is out of range"), "{e}");
        let e = err("portrange 80-90-100");
        assert!(e.contains("expected a port range N-M"), "{e}");
        let e = err("port");
        assert!(
            e.contains("expected a port number after 'port', found the end"),
            "{e}"
        );
        let e = err("port 80/8");
        assert!(e.contains("a mask does not go with 'port'"), "{e}");
    }

    #[test]
    fn error_bad_cidr() {
        let e = err("net 192.0.2.0/33");
        assert!(
            e.contains("prefix length /33 is out of range for an IPv4 network (0-32)"),
            "{e}"
        );
        assert!(
            e.ends_with("\n  net 192.0.2.0/33\n                ^^"),
            "{e}"
        );
        let e = err("net 2001:db8::/129");
        assert!(
            e.contains("out of range for an IPv6 network (0-128)"),
            "{e}"
        );
        let e = err("net 192.0.2.1/24");
        assert!(
            e.contains("has host bits set: the network is 192.0.2.0/24"),
            "{e}"
        );
        let e = err("net 2001:db8::1/32");
        assert!(
            e.contains("has host bits set: the network is 2001:db8::/32"),
            "{e}"
        );
        let e = err("host 192.0.2.0/24");
        assert!(e.contains("for networks only"), "{e}");
        let e = err("net 192.0.2.0/x");
        assert!(
            e.contains("expected a prefix length after '/', found 'x'"),
            "{e}"
        );
        let e = err("net 192.0.2.0 mask 255");
        assert!(e.contains("expected a netmask"), "{e}");
        let e = err("net 300.1.2.3");
        assert!(e.contains("expected an IPv4 or IPv6 network"), "{e}");
    }

    #[test]
    fn error_host_names_are_not_resolved() {
        let e = err("host example.com");
        assert!(
            e.contains("'example.com' is a name: host names are not resolved"),
            "{e}"
        );
        let e = err("host localhost");
        assert!(e.contains("host names are not resolved"), "{e}");
        let e = err("host 192.0.2");
        assert!(
            e.contains("expected a full IPv4 or IPv6 address after 'host'"),
            "{e}"
        );
        let e = err("host 1.2.3.4.5");
        assert!(e.contains("not a valid IPv4 or IPv6 address"), "{e}");
        let e = err("host 2001:db8::g");
        assert!(e.contains("not a valid IPv4 or IPv6 address"), "{e}");
        let e = err("src 80");
        assert!(e.contains("(for a port write 'port 80')"), "{e}");
    }

    #[test]
    fn error_unknown_words() {
        let e = err("foo");
        assert!(e.contains("unknown word 'foo'"), "{e}");
        let e = err("TCP");
        assert!(e.contains("keywords are lower-case: 'tcp'"), "{e}");
        let e = err("vlan");
        assert!(e.contains("'vlan' is not supported"), "{e}");
        let e = err("tcp or 80");
        assert!(e.contains("'80' needs a qualifier"), "{e}");
        let e = err("192.0.2.1");
        assert!(e.contains("'192.0.2.1' needs a qualifier"), "{e}");
        let e = err("tcp udp");
        assert!(
            e.contains(
                "expected 'and', 'or' or the end of the expression after 'tcp', found 'udp'"
            ),
            "{e}"
        );
        let e = err("tcp and foo");
        assert!(e.contains("unknown word 'foo'"), "{e}");
        let e = err("tcp[13] & 2 != 0");
        assert!(e.contains("unknown word 'tcp[13]'"), "{e}");
    }

    #[test]
    fn error_qualifier_mismatches() {
        let e = err("tcp host 192.0.2.1");
        assert!(e.contains("'tcp' cannot qualify 'host'"), "{e}");
        let e = err("ip port 80");
        assert!(e.contains("'ip' cannot qualify 'port'"), "{e}");
        let e = err("ip6 host 192.0.2.1");
        assert!(
            e.contains("'ip6' needs an IPv6 address, found the IPv4 address '192.0.2.1'"),
            "{e}"
        );
        let e = err("ip host ::1");
        assert!(e.contains("'ip' needs an IPv4 address"), "{e}");
        let e = err("icmp src 192.0.2.1");
        assert!(e.contains("'icmp' cannot qualify"), "{e}");
        let e = err("tcp src 192.0.2.1");
        assert!(e.contains("needs 'port' or 'portrange'"), "{e}");
        let e = err("src or port 80");
        assert!(e.contains("after 'src', found 'or'"), "{e}");
    }

    #[test]
    fn limits_are_errors_not_crashes() {
        let deep = format!("{}tcp{}", "(".repeat(500), ")".repeat(500));
        assert!(err(&deep).contains("nested too deeply"));
        let nots = format!("{}tcp", "not ".repeat(500));
        assert!(err(&nots).contains("nested too deeply"));
        let long = vec!["tcp"; 3000].join(" or ");
        assert!(err(&long).contains("expression too long"));
        // Within the limits a long chain parses (and displays) without deep recursion.
        let chain = vec!["tcp"; 1500].join(" and ");
        assert_eq!(p(&chain).to_string(), chain);
    }

    #[test]
    fn columns_count_characters() {
        let e = err("host é");
        assert!(e.ends_with("\n  host é\n       ^"), "{e}");
        let e = err("tcp\tand");
        assert!(e.ends_with("\n  tcp and\n         ^"), "{e}");
    }
}
