//! Filter expressions (a tcpdump subset): parsed, compiled to classic BPF, run in user space.
//!
//! `sockscope capture EXPR` compiles the expression once per link type. A live capture hands
//! the program to the kernel (`SO_ATTACH_FILTER`), which drops what does not match; reading a
//! file (`-r`) runs the same program through [`Program::run`]. One program for both means live
//! and offline cannot disagree, and the code generator mirrors libpcap's, so both agree with
//! `tcpdump -r FILE EXPR`.
//!
//! The language: `tcp udp sctp icmp icmp6 arp ip ip6`, `[ip|ip6|arp] [src|dst|src or dst|src
//! and dst] host ADDR`, `… net CIDR` (or `net ADDR mask MASK`), `[tcp|udp|sctp] [src|dst] port
//! N` and `portrange N-M`, with `and`/`&&`, `or`/`||`, `not`/`!` and parentheses. `not` binds
//! tightest; `and` and `or` have equal precedence and group left to right, as in tcpdump; a bare
//! value after `and`/`or` inherits the qualifiers before it (`port 80 or 443`). Names are not
//! resolved.

pub mod bpf;
mod compile;
mod parse;

use std::fmt;
use std::str::FromStr;

pub use bpf::{Insn, MAX_INSNS, Program, SNAP_LEN};

use crate::packet::LinkType;

/// Why an expression cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The expression does not parse or asks for something sockscope does not do (such as
    /// resolving a name). The message quotes the expression and marks the offending word.
    #[error("filter: {message}\n  {expression}\n  {}", marker(column, width))]
    Syntax {
        /// What is wrong.
        message: String,
        /// The whole expression, as one line.
        expression: String,
        /// The column (in characters) of the offending word.
        column: usize,
        /// Its width in characters (at least 1).
        width: usize,
    },

    /// The expression cannot be compiled: an unsupported link type, or too large a program.
    #[error("filter: {0}")]
    Unsupported(String),

    /// A hand-built program that the kernel's checker would refuse.
    #[error("filter: invalid BPF program: {0}")]
    InvalidProgram(String),
}

/// The line under the expression that points at the offending word.
fn marker(column: &usize, width: &usize) -> String {
    format!("{}{}", " ".repeat(*column), "^".repeat((*width).max(1)))
}

/// A parsed filter expression; empty accepts everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    expr: Option<parse::Expr>,
}

impl Filter {
    /// Parses the words of an expression, joined with spaces as tcpdump joins them.
    pub fn parse<S: AsRef<str>>(words: &[S]) -> Result<Filter, FilterError> {
        let text = words
            .iter()
            .map(|w| w.as_ref())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Filter {
            expr: parse::parse(&text)?,
        })
    }

    /// Whether the expression is empty (accepts everything).
    pub fn is_empty(&self) -> bool {
        self.expr.is_none()
    }

    /// Compiles the expression to classic BPF for frames of link type `link`. The program
    /// returns [`SNAP_LEN`] for an accepted packet and 0 otherwise. An empty expression
    /// compiles to [`Program::accept_all`] for every link type.
    pub fn compile(&self, link: LinkType) -> Result<Program, FilterError> {
        match &self.expr {
            None => Ok(Program::accept_all()),
            Some(e) => compile::compile(e, link),
        }
    }
}

impl FromStr for Filter {
    type Err = FilterError;

    /// Parses a whole expression given as one string.
    fn from_str(s: &str) -> Result<Filter, FilterError> {
        Filter::parse(&[s])
    }
}

impl fmt::Display for Filter {
    /// The normalised expression: qualifiers spelled out (`port 80 or 443` shows as
    /// `port 80 or port 443`) and parentheses wherever `and` and `or` meet.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.expr {
            None => Ok(()),
            Some(e) => e.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_joined_like_tcpdump() {
        let split = Filter::parse(&["tcp", "port", "80", "or", "443"]);
        let joined: Result<Filter, _> = "tcp port 80 or 443".parse();
        assert_eq!(split, joined);
        assert_eq!(
            split.map(|f| f.to_string()).ok().as_deref(),
            Some("tcp port 80 or tcp port 443")
        );
        // A single argument holding the whole expression works too (quoted on the shell).
        let one = Filter::parse(&["host 192.0.2.1 and (port 22 or 80)".to_string()]);
        assert_eq!(
            one.map(|f| f.to_string()).ok().as_deref(),
            Some("host 192.0.2.1 and (port 22 or port 80)")
        );
    }

    #[test]
    fn empty_filter() {
        let f = Filter::parse::<String>(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(f.is_empty());
        assert_eq!(f.to_string(), "");
        assert_eq!(f.compile(LinkType::Ethernet), Ok(Program::accept_all()));
        assert!(Program::accept_all().matches(&[], 0));
        let blank = Filter::parse(&["  ", ""]).unwrap_or_else(|e| panic!("{e}"));
        assert!(blank.is_empty());
        assert!(!Filter::parse(&["tcp"]).unwrap_or_default().is_empty());
    }

    #[test]
    fn any_sequence_of_words_parses_or_errors_and_compiles_or_errors() {
        // Every sequence of up to three of these words: parsing and compiling must answer
        // (an error is fine), never panic, and what compiles must pass the kernel's checks.
        const WORDS: [&str; 26] = [
            "tcp",
            "port",
            "80",
            "or",
            "and",
            "not",
            "(",
            ")",
            "host",
            "192.0.2.1",
            "::1",
            "net",
            "10/8",
            "/",
            "24",
            "src",
            "dst",
            "mask",
            "255.0.0.0",
            "portrange",
            "1-2",
            "ip6",
            "arp",
            "!",
            "foo",
            "",
        ];
        let links = [
            LinkType::Ethernet,
            LinkType::LinuxSll2,
            LinkType::Raw,
            LinkType::Ipv6,
            LinkType::Null,
        ];
        let frame = [0x45u8; 64];
        let mut compiled = 0;
        for a in WORDS {
            for b in WORDS {
                for c in WORDS {
                    let Ok(filter) = Filter::parse(&[a, b, c]) else {
                        continue;
                    };
                    assert_eq!(Filter::parse(&[filter.to_string()]), Ok(filter.clone()));
                    for link in links {
                        if let Ok(p) = filter.compile(link) {
                            compiled += 1;
                            assert!(Program::from_insns(p.insns().to_vec()).is_ok());
                            for n in [0, 13, 20, 34, 54, 64] {
                                let _ = p.matches(&frame[..n], 64);
                            }
                        }
                    }
                }
            }
        }
        assert!(compiled > 500, "only {compiled} programs");
    }

    #[test]
    fn error_message_quotes_and_points() {
        let e = Filter::parse(&["tcp", "port", "foo"]).err();
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some(
                "filter: expected a port number after 'port', found 'foo' (service names are \
                 not resolved: give the number)\n  tcp port foo\n           ^^^"
            )
        );
    }
}
