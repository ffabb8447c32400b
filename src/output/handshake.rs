//! Rendering of decided TCP connection attempts (`sockscope capture --handshakes`): one line, or
//! one JSON object, per attempt.
//!
//! # Lines
//! ```text
//! 04:12:00.123456       127.0.0.1:45678 > 127.0.0.1:8080        established      SYN → SYN/ACK +0.041ms → ACK +0.052ms  rtt 0.041ms  client curl[1234]  server python3[999]
//! 04:12:00.123456       127.0.0.1:45680 > 127.0.0.1:9           refused          SYN → RST +0.030ms  client curl[1235]
//! 04:12:00.123456      198.18.1.1:40000 > 198.18.1.2:81         unanswered       SYN ×3 (2 retransmits) over 3.000s, no answer
//! 04:12:00.123456        10.0.0.5:40000 > 10.0.0.1:22           not-acknowledged SYN → SYN/ACK +0.200ms (×3), no ACK  rtt 0.200ms
//! 04:12:00.123456      198.18.1.1:40000 > 198.18.1.2:81         unreachable      SYN → ICMP host unreachable from 198.18.1.254 +3.100ms
//! ```
//! The time of the first SYN (local), the client (the end that sent the SYN) and the server
//! (IPv6 as `[addr]:port`; the columns line up for IPv4), the outcome, then the steps with
//! their times after the first SYN (`ms` with microseconds below a second, `s` with
//! milliseconds above). `×N` counts a SYN or SYN/ACK seen N times (retransmissions). `rtt` is
//! the SYN/ACK time minus the last SYN before it. Then, when they apply: `simultaneous open`;
//! `ignored N SYN/ACK with a wrong ack` (SYN/ACKs that acknowledged something else than the
//! SYN); `late: reported OUTCOME before` (an answer came after the attempt had been reported);
//! and the local processes at each end, `client NAME[PID]` and `server NAME[PID]`.
//!
//! Unanswered and not-acknowledged attempts say why they were decided: `no answer` (nothing
//! came for a while), `no answer before the capture ended`, `no answer before a new attempt
//! on the same ports` (the client sent a SYN with another sequence number), or `no answer yet
//! (decided early: too many attempts pending)`; likewise `no ACK …`.
//!
//! # JSON
//! One object per attempt:
//! - `type`: `"handshake"`.
//! - `time`: the first SYN, RFC 3339 in UTC with nanoseconds; `timestamp`: the same in seconds
//!   since the Unix epoch (a number).
//! - `client_addr`, `client_port`: the end that sent the SYN; `server_addr`, `server_port`: the
//!   end it went to. Addresses are numeric, IPv6 without brackets.
//! - `outcome`: `"established"`, `"refused"` (RST answering the SYN), `"reset"` (RST after the
//!   SYN/ACK, before the ACK), `"unanswered"` (SYNs and nothing back), `"not-acknowledged"`
//!   (SYN/ACK but no ACK), `"unreachable"` (an ICMP error about the SYN or the SYN/ACK).
//! - `decided`: what decided it: `"event"` (a segment or an ICMP error), `"silence"` (nothing
//!   came for long enough), `"new-attempt"` (a SYN with another sequence number on the same
//!   ports), `"end"` (the capture ended), `"full"` (too many attempts pending: decided early).
//! - `syn_count`, `synack_count`: SYNs and SYN/ACKs seen, retransmissions included.
//! - `synack_ms`, `ack_ms`, `rst_ms`: when the first SYN/ACK, the completing ACK and the RST
//!   came, in milliseconds after the first SYN; `rtt_ms`: the first SYN/ACK minus the last SYN
//!   before it; `total_ms`: the ACK minus the first SYN. `null` when absent.
//! - `icmp`: `{"from": address of the reporting router or host, "what": e.g. "host
//!   unreachable", "ms": when, after the first SYN, "about": "client" (it quoted the SYN) or
//!   "server" (it quoted the SYN/ACK)}`, or `null`.
//! - `reset_by`: `"client"`, `"server"`, or `null` when no RST ended it.
//! - `wrong_acks`: SYN/ACKs on these ports that acknowledged something else than the SYN.
//! - `simultaneous`: both ends sent a SYN (simultaneous open, or a socket connected to itself).
//! - `earlier_outcome`: the outcome this attempt was reported with before a late answer, or
//!   `null`.
//! - `processes`: the local processes at its ends, `[{"side": "client"|"server", "pid", "name",
//!   "user", "cmdline"}]` (empty when neither end is on this host, or when reading a file).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use crate::output::{clock_time, printable, rfc3339_utc};
pub use crate::packet::handshake::Side;
use crate::packet::handshake::{Attempt, Decided, Outcome};
use crate::sockets::ProcessInfo;

/// The local processes at one end of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOwner {
    pub side: Side,
    pub processes: Vec<ProcessInfo>,
}

/// `addr:port`, `[v6]:port`.
fn endpoint(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

/// A duration for a line: `0.041ms` below a second (to the microsecond), `7.012s` above (to
/// the millisecond).
fn span(d: Duration) -> String {
    let micros = d.as_nanos().saturating_add(500) / 1_000;
    if micros < 1_000_000 {
        return format!("{}.{:03}ms", micros / 1_000, micros % 1_000);
    }
    let millis = d.as_nanos().saturating_add(500_000) / 1_000_000;
    format!("{}.{:03}s", millis / 1_000, millis % 1_000)
}

/// `+0.041ms` after the first SYN.
fn offset(a: &Attempt, ts: Duration) -> String {
    format!("+{}", span(a.since_first_syn(ts)))
}

/// `SYN`, or `SYN ×N`.
fn counted(what: &str, n: u32) -> String {
    if n > 1 {
        format!("{what} ×{n}")
    } else {
        what.to_string()
    }
}

/// Why an attempt without an answer was decided then, after `no answer` / `no ACK`.
fn why(decided: Decided) -> &'static str {
    match decided {
        Decided::Event | Decided::Silence => "",
        Decided::End => " before the capture ended",
        Decided::NewAttempt => " before a new attempt on the same ports",
        Decided::Full => " yet (decided early: too many attempts pending)",
    }
}

/// `SYN[ ×N] → SYN/ACK +t[ (×M)]`, the steps up to the server's answer.
fn to_synack(a: &Attempt, out: &mut String) {
    out.push_str(&counted("SYN", a.syn_count));
    if let Some(t) = a.synack {
        let _ = write!(out, " → SYN/ACK {}", offset(a, t));
        if a.synack_count > 1 {
            let _ = write!(out, " (×{})", a.synack_count);
        }
    }
}

/// The steps of the handshake, from the first SYN to what decided it.
fn steps(a: &Attempt) -> String {
    let mut out = String::new();
    match a.outcome {
        Outcome::Established => {
            to_synack(a, &mut out);
            if let Some(t) = a.ack {
                let _ = write!(out, " → ACK {}", offset(a, t));
            }
            if a.synack.is_none() {
                out.push_str(" (SYN/ACK not seen)");
            }
        }
        Outcome::Refused | Outcome::Reset => {
            to_synack(a, &mut out);
            if let Some(r) = a.reset {
                out.push_str(" → RST");
                if a.outcome == Outcome::Reset {
                    out.push_str(match r.by {
                        Side::Client => " from client",
                        Side::Server => " from server",
                    });
                }
                let _ = write!(out, " {}", offset(a, r.ts));
            }
        }
        Outcome::Unreachable => {
            to_synack(a, &mut out);
            if let Some(i) = &a.icmp {
                let _ = write!(
                    out,
                    " → ICMP {} from {} {}",
                    printable(&i.what),
                    i.from,
                    offset(a, i.ts)
                );
            }
        }
        Outcome::Unanswered => {
            out.push_str(&counted("SYN", a.syn_count));
            if a.syn_count > 1 {
                let retransmits = a.syn_count - 1;
                let _ = write!(
                    out,
                    " ({retransmits} retransmit{}) over {}",
                    if retransmits == 1 { "" } else { "s" },
                    span(a.last_syn.saturating_sub(a.first_syn))
                );
            }
            let _ = write!(out, ", no answer{}", why(a.decided));
        }
        Outcome::NotAcknowledged => {
            to_synack(a, &mut out);
            let _ = write!(out, ", no ACK{}", why(a.decided));
        }
    }
    out
}

/// `curl[1234]`, `nginx[10],nginx[11]`, never with control characters.
fn processes_text(processes: &[ProcessInfo]) -> String {
    processes
        .iter()
        .map(|p| format!("{}[{}]", printable(&p.name), p.pid))
        .collect::<Vec<_>>()
        .join(",")
}

/// One line for a decided attempt (no newline). See the module doc.
pub fn handshake_line(a: &Attempt, owners: &[LocalOwner]) -> String {
    let mut line = format!(
        "{} {:>21} > {:<21} {:<16} {}",
        clock_time(a.first_syn),
        endpoint(a.client),
        endpoint(a.server),
        a.outcome.name(),
        steps(a)
    );
    if let Some(rtt) = a.rtt() {
        let _ = write!(line, "  rtt {}", span(rtt));
    }
    if a.simultaneous {
        line.push_str("  simultaneous open");
    }
    if a.wrong_acks > 0 {
        let _ = write!(line, "  ignored {} SYN/ACK with a wrong ack", a.wrong_acks);
    }
    if let Some(earlier) = a.earlier {
        let _ = write!(line, "  late: reported {} before", earlier.name());
    }
    for side in [Side::Client, Side::Server] {
        let processes: Vec<ProcessInfo> = owners
            .iter()
            .filter(|o| o.side == side)
            .flat_map(|o| o.processes.iter().cloned())
            .collect();
        if !processes.is_empty() {
            let name = match side {
                Side::Client => "client",
                Side::Server => "server",
            };
            let _ = write!(line, "  {name} {}", processes_text(&processes));
        }
    }
    line
}

/// The `icmp` member of a [`HandshakeRecord`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IcmpRecord<'a> {
    pub from: String,
    pub what: &'a str,
    pub ms: f64,
    pub about: Side,
}

/// One element of `processes` in a [`HandshakeRecord`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessRecord<'a> {
    pub side: Side,
    pub pid: u32,
    pub name: &'a str,
    pub user: &'a str,
    pub cmdline: &'a str,
}

/// One attempt as JSON; the fields are described in the module doc.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandshakeRecord<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub time: String,
    pub timestamp: f64,
    pub client_addr: String,
    pub client_port: u16,
    pub server_addr: String,
    pub server_port: u16,
    pub outcome: Outcome,
    pub decided: Decided,
    pub syn_count: u32,
    pub synack_count: u32,
    pub synack_ms: Option<f64>,
    pub ack_ms: Option<f64>,
    pub rst_ms: Option<f64>,
    pub rtt_ms: Option<f64>,
    pub total_ms: Option<f64>,
    pub icmp: Option<IcmpRecord<'a>>,
    pub reset_by: Option<Side>,
    pub wrong_acks: u32,
    pub simultaneous: bool,
    pub earlier_outcome: Option<Outcome>,
    pub processes: Vec<ProcessRecord<'a>>,
}

/// A duration in milliseconds, to the nanosecond.
fn ms(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e6
}

/// The JSON record of a decided attempt.
pub fn handshake_json<'a>(a: &'a Attempt, owners: &'a [LocalOwner]) -> HandshakeRecord<'a> {
    let after = |ts: Duration| ms(a.since_first_syn(ts));
    HandshakeRecord {
        kind: "handshake",
        time: rfc3339_utc(a.first_syn),
        timestamp: a.first_syn.as_secs_f64(),
        client_addr: a.client.ip().to_string(),
        client_port: a.client.port(),
        server_addr: a.server.ip().to_string(),
        server_port: a.server.port(),
        outcome: a.outcome,
        decided: a.decided,
        syn_count: a.syn_count,
        synack_count: a.synack_count,
        synack_ms: a.synack.map(after),
        ack_ms: a.ack.map(after),
        rst_ms: a.reset.map(|r| after(r.ts)),
        rtt_ms: a.rtt().map(ms),
        total_ms: a.total().map(ms),
        icmp: a.icmp.as_ref().map(|i| IcmpRecord {
            from: i.from.to_string(),
            what: &i.what,
            ms: after(i.ts),
            about: i.about,
        }),
        reset_by: a.reset.map(|r| r.by),
        wrong_acks: a.wrong_acks,
        simultaneous: a.simultaneous,
        earlier_outcome: a.earlier,
        processes: owners
            .iter()
            .flat_map(|o| {
                o.processes.iter().map(|p| ProcessRecord {
                    side: o.side,
                    pid: p.pid,
                    name: &p.name,
                    user: &p.user,
                    cmdline: &p.cmdline,
                })
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::handshake::{ACK, Config, IcmpError, RST, SYN, Segment, Tracker};

    /// 2026-11-24T04:12:00Z, plus microseconds.
    fn at(micros: u64) -> Duration {
        Duration::new(1_795_493_520, 0) + Duration::from_micros(micros)
    }

    fn seg(micros: u64, src: &str, dst: &str, flags: u8, seq: u32, ack: u32) -> Segment {
        Segment {
            ts: at(micros),
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            flags,
            seq,
            ack,
            len: 0,
        }
    }

    /// The attempt the last segment decides.
    fn decided(segments: &[Segment]) -> Attempt {
        let mut t = Tracker::new(Config::default());
        let (last, rest) = segments.split_last().unwrap();
        for s in rest {
            assert_eq!(t.segment(s), None);
        }
        t.segment(last).expect("decided")
    }

    fn process(pid: u32, name: &str) -> ProcessInfo {
        ProcessInfo {
            pid,
            name: name.into(),
            user: "alice".into(),
            uid: Some(1000),
            cmdline: format!("{name} --flag"),
            start_time: None,
        }
    }

    fn owner(side: Side, processes: Vec<ProcessInfo>) -> LocalOwner {
        LocalOwner { side, processes }
    }

    /// The line after the local clock time of the first SYN.
    fn rest(a: &Attempt, owners: &[LocalOwner]) -> String {
        let line = handshake_line(a, owners);
        let clock = clock_time(a.first_syn);
        line.strip_prefix(&format!("{clock} "))
            .unwrap_or_else(|| panic!("{line:?} does not start with {clock}"))
            .to_string()
    }

    const C: &str = "127.0.0.1:45678";
    const S: &str = "127.0.0.1:8080";

    fn established() -> Attempt {
        decided(&[
            seg(0, C, S, SYN, 1000, 0),
            seg(41, S, C, SYN | ACK, 5000, 1001),
            seg(52, C, S, ACK, 1001, 5001),
        ])
    }

    #[test]
    fn established_line_with_processes_at_both_ends() {
        let owners = [
            owner(Side::Server, vec![process(999, "python3")]),
            owner(Side::Client, vec![process(1234, "curl")]),
        ];
        assert_eq!(
            rest(&established(), &owners),
            "      127.0.0.1:45678 > 127.0.0.1:8080        established      \
             SYN → SYN/ACK +0.041ms → ACK +0.052ms  rtt 0.041ms  client curl[1234]  server python3[999]"
        );
        assert!(handshake_line(&established(), &[]).ends_with("rtt 0.041ms"));
    }

    #[test]
    fn refused_line() {
        let a = decided(&[
            seg(0, "127.0.0.1:45680", "127.0.0.1:9", SYN, 7, 0),
            seg(30, "127.0.0.1:9", "127.0.0.1:45680", RST | ACK, 0, 8),
        ]);
        let owners = [owner(Side::Client, vec![process(1235, "curl")])];
        assert_eq!(
            rest(&a, &owners),
            "      127.0.0.1:45680 > 127.0.0.1:9           refused          SYN → RST +0.030ms  \
             client curl[1235]"
        );
    }

    #[test]
    fn reset_line_says_who_reset() {
        let a = decided(&[
            seg(0, C, S, SYN, 1000, 0),
            seg(41, S, C, SYN | ACK, 5000, 1001),
            seg(50, C, S, RST, 1001, 0),
        ]);
        assert_eq!(
            rest(&a, &[]),
            "      127.0.0.1:45678 > 127.0.0.1:8080        reset            \
             SYN → SYN/ACK +0.041ms → RST from client +0.050ms  rtt 0.041ms"
        );
    }

    #[test]
    fn unanswered_lines_say_how_long_and_why_then() {
        let (c, s) = ("198.18.1.1:40000", "198.18.1.2:81");
        let mut t = Tracker::new(Config::default());
        for micros in [0, 1_000_000, 3_000_000] {
            assert_eq!(t.segment(&seg(micros, c, s, SYN, 1, 0)), None);
        }
        let a = t.expire(at(10_000_000)).pop().unwrap();
        assert_eq!(
            rest(&a, &[]),
            "     198.18.1.1:40000 > 198.18.1.2:81         unanswered       \
             SYN ×3 (2 retransmits) over 3.000s, no answer"
        );
        let mut t = Tracker::new(Config::default());
        assert_eq!(t.segment(&seg(0, c, s, SYN, 1, 0)), None);
        assert_eq!(t.segment(&seg(1_000_000, c, s, SYN, 1, 0)), None);
        let a = t.finish().pop().unwrap();
        assert!(
            rest(&a, &[])
                .ends_with("SYN ×2 (1 retransmit) over 1.000s, no answer before the capture ended"),
            "{a:?}"
        );
        let mut t = Tracker::new(Config {
            max_pending: 1,
            ..Config::default()
        });
        assert_eq!(t.segment(&seg(0, c, s, SYN, 1, 0)), None);
        let a = t
            .segment(&seg(5, "198.18.1.1:40001", s, SYN, 1, 0))
            .unwrap();
        assert!(
            rest(&a, &[])
                .ends_with("SYN, no answer yet (decided early: too many attempts pending)")
        );
        let a = t
            .segment(&seg(9, "198.18.1.1:40001", s, SYN, 2, 0))
            .unwrap();
        assert!(rest(&a, &[]).ends_with("SYN, no answer before a new attempt on the same ports"));
    }

    #[test]
    fn not_acknowledged_line_counts_the_synacks() {
        let (c, s) = ("10.0.0.5:40000", "10.0.0.1:22");
        let mut t = Tracker::new(Config::default());
        for x in [
            seg(0, c, s, SYN, 1, 0),
            seg(200, s, c, SYN | ACK, 9, 2),
            seg(1_000_200, s, c, SYN | ACK, 9, 2),
            seg(3_000_200, s, c, SYN | ACK, 9, 2),
        ] {
            assert_eq!(t.segment(&x), None);
        }
        let a = t.expire(at(60_000_000)).pop().unwrap();
        assert_eq!(
            rest(&a, &[]),
            "       10.0.0.5:40000 > 10.0.0.1:22           not-acknowledged \
             SYN → SYN/ACK +0.200ms (×3), no ACK  rtt 0.200ms"
        );
    }

    fn icmp_error() -> IcmpError {
        IcmpError {
            ts: at(3_100),
            from: "198.18.1.254".parse().unwrap(),
            what: "host unreachable".into(),
            quoted_src: "198.18.1.1:40000".parse().unwrap(),
            quoted_dst: "198.18.1.2:81".parse().unwrap(),
            quoted_seq: Some(1),
        }
    }

    fn unreachable() -> Attempt {
        let mut t = Tracker::new(Config::default());
        assert_eq!(
            t.segment(&seg(0, "198.18.1.1:40000", "198.18.1.2:81", SYN, 1, 0)),
            None
        );
        t.icmp(&icmp_error()).unwrap()
    }

    #[test]
    fn unreachable_line_names_the_reporter() {
        assert_eq!(
            rest(&unreachable(), &[]),
            "     198.18.1.1:40000 > 198.18.1.2:81         unreachable      \
             SYN → ICMP host unreachable from 198.18.1.254 +3.100ms"
        );
    }

    #[test]
    fn ipv6_endpoints_are_bracketed() {
        let (c, s) = ("[::1]:45678", "[::1]:8080");
        let a = decided(&[
            seg(0, c, s, SYN, 1, 0),
            seg(2_500, s, c, SYN | ACK, 9, 2),
            seg(1_502_500, c, s, ACK, 2, 10),
        ]);
        assert_eq!(
            rest(&a, &[]),
            "          [::1]:45678 > [::1]:8080            established      \
             SYN → SYN/ACK +2.500ms → ACK +1.503s  rtt 2.500ms"
        );
    }

    #[test]
    fn notes_for_late_answers_wrong_acks_missed_synacks_and_simultaneous_opens() {
        let mut t = Tracker::new(Config::default());
        assert_eq!(t.segment(&seg(0, C, S, SYN, 1000, 0)), None);
        assert_eq!(t.expire(at(3_500_000)).len(), 1);
        assert_eq!(t.segment(&seg(3_600_000, S, C, SYN | ACK, 9, 77)), None);
        assert_eq!(t.segment(&seg(3_700_000, S, C, SYN | ACK, 9, 1001)), None);
        let a = t.segment(&seg(3_700_100, C, S, ACK, 1001, 10)).unwrap();
        assert_eq!(
            rest(&a, &[]),
            "      127.0.0.1:45678 > 127.0.0.1:8080        established      \
             SYN → SYN/ACK +3.700s → ACK +3.700s  rtt 3.700s  \
             ignored 1 SYN/ACK with a wrong ack  late: reported unanswered before"
        );
        let a = decided(&[seg(0, C, S, SYN, 1000, 0), seg(50, C, S, ACK, 1001, 1)]);
        assert!(rest(&a, &[]).ends_with("SYN → ACK +0.050ms (SYN/ACK not seen)"));
        let a = decided(&[
            seg(0, C, S, SYN, 100, 0),
            seg(10, S, C, SYN, 900, 0),
            seg(20, C, S, SYN | ACK, 100, 901),
            seg(30, S, C, SYN | ACK, 900, 101),
        ]);
        assert!(
            rest(&a, &[])
                .ends_with("SYN → SYN/ACK +0.030ms → ACK +0.020ms  rtt 0.030ms  simultaneous open")
        );
    }

    #[test]
    fn process_names_cannot_drive_the_terminal() {
        let owners = [owner(
            Side::Client,
            vec![process(1, "evil\x1b[2J\nname"), process(2, "ok")],
        )];
        let line = handshake_line(&established(), &owners);
        assert!(line.ends_with("client evil?[2J name[1],ok[2]"), "{line}");
        assert!(!line.chars().any(char::is_control));
    }

    #[test]
    fn spans_switch_from_ms_to_s_at_a_second() {
        assert_eq!(span(Duration::ZERO), "0.000ms");
        assert_eq!(span(Duration::from_nanos(41_499)), "0.041ms");
        assert_eq!(span(Duration::from_nanos(41_500)), "0.042ms");
        assert_eq!(span(Duration::from_micros(999_999)), "999.999ms");
        assert_eq!(span(Duration::from_nanos(999_999_600)), "1.000s");
        assert_eq!(span(Duration::from_millis(7_012)), "7.012s");
        assert_eq!(span(Duration::MAX), "18446744073709551616.000s");
    }

    #[test]
    fn established_json() {
        let owners = [
            owner(Side::Client, vec![process(1234, "curl")]),
            owner(Side::Server, vec![process(999, "python3")]),
        ];
        let a = established();
        let json = serde_json::to_string(&handshake_json(&a, &owners)).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"type":"handshake","time":"2026-11-24T04:12:00.000000000Z","#,
                r#""timestamp":1795493520.0,"client_addr":"127.0.0.1","client_port":45678,"#,
                r#""server_addr":"127.0.0.1","server_port":8080,"outcome":"established","#,
                r#""decided":"event","syn_count":1,"synack_count":1,"synack_ms":0.041,"#,
                r#""ack_ms":0.052,"rst_ms":null,"rtt_ms":0.041,"total_ms":0.052,"icmp":null,"#,
                r#""reset_by":null,"wrong_acks":0,"simultaneous":false,"earlier_outcome":null,"#,
                r#""processes":[{"side":"client","pid":1234,"name":"curl","user":"alice","#,
                r#""cmdline":"curl --flag"},{"side":"server","pid":999,"name":"python3","#,
                r#""user":"alice","cmdline":"python3 --flag"}]}"#
            )
        );
    }

    #[test]
    fn refused_unreachable_and_unanswered_json() {
        let a = decided(&[
            seg(0, "[::1]:45680", "[::1]:9", SYN, 7, 0),
            seg(30, "[::1]:9", "[::1]:45680", RST | ACK, 0, 8),
        ]);
        let v = serde_json::to_value(handshake_json(&a, &[])).unwrap();
        assert_eq!(v["client_addr"], "::1");
        assert_eq!(v["server_port"], 9);
        assert_eq!(v["outcome"], "refused");
        assert_eq!(v["rst_ms"], 0.03);
        assert_eq!(v["reset_by"], "server");
        assert_eq!(v["synack_ms"], serde_json::Value::Null);
        assert_eq!(v["rtt_ms"], serde_json::Value::Null);
        assert_eq!(v["processes"], serde_json::json!([]));

        let a = unreachable();
        let v = serde_json::to_value(handshake_json(&a, &[])).unwrap();
        assert_eq!(v["outcome"], "unreachable");
        assert_eq!(
            v["icmp"],
            serde_json::json!({"from": "198.18.1.254", "what": "host unreachable",
                               "ms": 3.1, "about": "client"})
        );

        let mut t = Tracker::new(Config::default());
        let s = seg(123_456, C, S, SYN, 1, 0);
        assert_eq!(t.segment(&s), None);
        let a = t.finish().pop().unwrap();
        let v = serde_json::to_value(handshake_json(&a, &[])).unwrap();
        assert_eq!(v["outcome"], "unanswered");
        assert_eq!(v["decided"], "end");
        assert_eq!(v["time"], "2026-11-24T04:12:00.123456000Z");
        assert_eq!(v["timestamp"], at(123_456).as_secs_f64());
        assert_eq!(v["syn_count"], 1);
        assert_eq!(v["synack_count"], 0);
        assert_eq!(v["total_ms"], serde_json::Value::Null);
    }
}
