//! What is wrong with a socket, in plain words: one pure function over a socket (and, in
//! `--watch`, its previous sample), so every verdict is unit-tested case by case.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::sockets::health::TimerKind;
use crate::sockets::{Endpoint, Proto, Socket, State};

/// The problem codes of DESIGN.md, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    AcceptQueueFull,
    UnreadData,
    ZeroWindow,
    Retransmitting,
    RwndLimited,
    SndbufLimited,
    CloseWait,
    Drops,
}

impl Code {
    /// Every code, in report order.
    pub const ALL: [Code; 8] = [
        Code::AcceptQueueFull,
        Code::UnreadData,
        Code::ZeroWindow,
        Code::Retransmitting,
        Code::RwndLimited,
        Code::SndbufLimited,
        Code::CloseWait,
        Code::Drops,
    ];

    /// The code as JSON, the table and Prometheus labels name it.
    pub fn name(self) -> &'static str {
        match self {
            Code::AcceptQueueFull => "accept-queue-full",
            Code::UnreadData => "unread-data",
            Code::ZeroWindow => "zero-window",
            Code::Retransmitting => "retransmitting",
            Code::RwndLimited => "rwnd-limited",
            Code::SndbufLimited => "sndbuf-limited",
            Code::CloseWait => "close-wait",
            Code::Drops => "drops",
        }
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One problem: its code and a sentence that says what it means and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub code: Code,
    pub text: String,
}

/// The same socket one `--watch` interval earlier.
#[derive(Debug, Clone, Copy)]
pub struct Previous<'a> {
    pub socket: &'a Socket,
    pub elapsed: Duration,
}

/// Data left unread this long means the application is stuck or slow.
pub const UNREAD_AFTER_MS: u32 = 1000;
/// A retransmitted share of the segments sent above this (per mille) is a problem.
const RETRANS_PER_MILLE: u64 = 10;

/// The problems of `s`, in [`Code::ALL`] order; empty when healthy or not TCP/UDP.
pub fn problems(s: &Socket, prev: Option<Previous<'_>>) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut add = |code: Code, text: String| out.push(Problem { code, text });
    match s.proto {
        Proto::Tcp => tcp(s, prev, &mut add),
        Proto::Udp => udp(s, prev, &mut add),
        _ => {}
    }
    out
}

fn tcp(s: &Socket, prev: Option<Previous<'_>>, add: &mut impl FnMut(Code, String)) {
    let info = s.tcp();
    // The previous sample, when it is the same connection (tcp_info counters only grow).
    let before = prev
        .and_then(|p| p.socket.tcp())
        .filter(|b| b.segs_out() <= info.and_then(|i| i.segs_out()));
    let data_state = matches!(
        s.state,
        State::Established | State::CloseWait | State::FinWait1 | State::FinWait2
    );

    if s.state == State::Listen && s.recv_q > s.send_q {
        add(
            Code::AcceptQueueFull,
            format!(
                "accept queue full: {} connections wait for accept() over a backlog of {}, so the \
                 kernel drops new SYNs; the application is not accepting (stuck, or too slow): \
                 find out why, or raise its listen() backlog (and net.core.somaxconn)",
                s.recv_q, s.send_q
            ),
        );
    }

    if data_state
        && s.recv_q > 0
        && let Some(age) = info.and_then(|i| i.last_data_recv_ms())
        && age > UNREAD_AFTER_MS
    {
        add(
            Code::UnreadData,
            format!(
                "{} received bytes have waited unread for at least {}: the application does not \
                 read this socket (stuck, blocked elsewhere, or too slow)",
                s.recv_q,
                age_text(u64::from(age))
            ),
        );
    }

    let persist = s.timer.filter(|t| t.kind == TimerKind::Persist);
    let zero_window = info.and_then(|i| i.snd_wnd()) == Some(0);
    if data_state && (zero_window || persist.is_some()) {
        let probes = persist
            .map(|t| format!(" ({} unanswered window probes)", t.retries))
            .unwrap_or_default();
        add(
            Code::ZeroWindow,
            format!(
                "the peer advertises a zero receive window{probes}: it does not read its data, so \
                 nothing more can be sent; look at the receiving application"
            ),
        );
    }

    if let Some(i) = info {
        let pending = i.retrans().unwrap_or(0);
        let timeouts = i.retransmits().unwrap_or(0);
        let (retrans, segs) = match before {
            Some(b) => (
                i.total_retrans()
                    .unwrap_or(0)
                    .saturating_sub(b.total_retrans().unwrap_or(0)),
                i.segs_out()
                    .unwrap_or(0)
                    .saturating_sub(b.segs_out().unwrap_or(0)),
            ),
            None => (i.total_retrans().unwrap_or(0), i.segs_out().unwrap_or(0)),
        };
        let share_high =
            segs > 0 && u64::from(retrans) * 1000 > u64::from(segs) * RETRANS_PER_MILLE;
        if s.state == State::SynSent && (pending > 0 || timeouts > 0) {
            add(
                Code::Retransmitting,
                format!(
                    "the SYN was sent {} times with no answer yet: the peer's accept queue is \
                     full, a firewall drops it, or the host is down; sockscope doctor tells which",
                    u32::from(timeouts) + 1
                ),
            );
        } else if pending > 0 || timeouts > 0 || share_high {
            let mut what = Vec::new();
            if pending > 0 {
                what.push(format!(
                    "{} being retransmitted now",
                    plural(pending, "segment")
                ));
            }
            if timeouts > 0 {
                what.push(format!(
                    "{} in a row",
                    plural(timeouts, "retransmission timeout")
                ));
            }
            if share_high {
                let when = if before.is_some() {
                    " in the last interval"
                } else {
                    ""
                };
                what.push(format!(
                    "{retrans} of {segs} segments sent{when} were retransmissions ({:.1}%)",
                    f64::from(retrans) * 100.0 / f64::from(segs)
                ));
            }
            add(
                Code::Retransmitting,
                format!(
                    "{}: packets are lost on the path or the peer answers late; check the path \
                     (sockscope trace, interface errors) and the peer",
                    what.join("; ")
                ),
            );
        }

        let delta = |now: Option<u64>, then: Option<u64>| match before {
            Some(_) => now.unwrap_or(0).saturating_sub(then.unwrap_or(0)),
            None => now.unwrap_or(0),
        };
        let busy = delta(i.busy_us(), before.and_then(|b| b.busy_us()));
        let rwnd = delta(
            i.rwnd_limited_us(),
            before.and_then(|b| b.rwnd_limited_us()),
        );
        let sndbuf = delta(
            i.sndbuf_limited_us(),
            before.and_then(|b| b.sndbuf_limited_us()),
        );
        let pct = |part: u64| part as f64 * 100.0 / busy as f64;
        if busy > 0 && rwnd * 2 > busy {
            add(
                Code::RwndLimited,
                format!(
                    "sending was limited by the peer's receive window {:.0}% of the time: the \
                     receiver reads too slowly, or its receive buffer (net.ipv4.tcp_rmem) is too \
                     small for this path",
                    pct(rwnd)
                ),
            );
        }
        if busy > 0 && sndbuf * 2 > busy {
            add(
                Code::SndbufLimited,
                format!(
                    "sending was limited by this socket's send buffer {:.0}% of the time: let it \
                     grow (do not set a small SO_SNDBUF; raise net.ipv4.tcp_wmem's maximum)",
                    pct(sndbuf)
                ),
            );
        }
    }

    if s.state == State::CloseWait {
        let age = info
            .and_then(|i| i.last_data_recv_ms())
            .map(|ms| format!(" (last data from it {} ago)", age_text(u64::from(ms))))
            .unwrap_or_default();
        add(
            Code::CloseWait,
            format!(
                "the peer closed the connection{age} and this application has not closed its \
                 socket: a missing close() in the application (a descriptor leak if it grows)"
            ),
        );
    }

    drops(s, prev, add);
}

fn udp(s: &Socket, prev: Option<Previous<'_>>, add: &mut impl FnMut(Code, String)) {
    // UDP has no tcp_info: data unread across a whole interval of at least a second is stuck.
    if let Some(p) = prev
        && s.recv_q > 0
        && p.socket.recv_q > 0
        && p.elapsed >= Duration::from_millis(u64::from(UNREAD_AFTER_MS))
    {
        add(
            Code::UnreadData,
            format!(
                "{} bytes of datagrams have waited unread for at least {}: the application does \
                 not read this socket (stuck, blocked elsewhere, or too slow)",
                s.recv_q,
                age_text(p.elapsed.as_millis() as u64)
            ),
        );
    }
    drops(s, prev, add);
}

fn drops(s: &Socket, prev: Option<Previous<'_>>, add: &mut impl FnMut(Code, String)) {
    let Some(now) = s.memory().and_then(|m| m.drops) else {
        return;
    };
    let (count, when) = match prev.and_then(|p| p.socket.memory()).and_then(|m| m.drops) {
        Some(then) if then <= now => (now - then, " in the last interval"),
        _ => (now, ""),
    };
    if count == 0 {
        return;
    }
    let rcvbuf = s.memory().map(|m| m.rcvbuf).unwrap_or(0);
    let text = match (s.proto, s.state) {
        (Proto::Udp, _) => format!(
            "the kernel dropped {}{when} because the receive buffer ({rcvbuf} bytes) was \
             full: the application reads too slowly; read faster, or raise SO_RCVBUF (and \
             net.core.rmem_max)",
            plural(count, "datagram")
        ),
        // A listener carries no data: its drops are connection attempts (tcp_listendrop).
        (_, State::Listen) => format!(
            "the kernel dropped {}{when} (SYNs or handshake ACKs), mostly because the \
             accept queue or the SYN backlog was full: the application does not accept() fast \
             enough, or its listen() backlog (and net.core.somaxconn) is too small",
            plural(count, "incoming connection attempt")
        ),
        _ => format!(
            "the kernel dropped {}{when} for this socket (receive buffer {rcvbuf} bytes \
             full, or its backlog): the application reads too slowly",
            plural(count, "packet")
        ),
    };
    add(Code::Drops, text);
}

/// A collection kept for the next `--watch` interval, so problems can compare two samples.
#[derive(Debug)]
pub struct Sample {
    sockets: HashMap<(Proto, Endpoint, Endpoint, u64), Socket>,
    taken: Instant,
}

impl Sample {
    /// The TCP and UDP sockets of `sockets`, taken now.
    pub fn of(sockets: &[Socket]) -> Sample {
        Sample {
            sockets: sockets
                .iter()
                .filter(|s| matches!(s.proto, Proto::Tcp | Proto::Udp))
                .map(|s| (s.identity(), s.clone()))
                .collect(),
            taken: Instant::now(),
        }
    }
}

/// Decides the problems of every socket, against the previous sample when there is one.
pub fn assess(sockets: &mut [Socket], previous: Option<&Sample>) {
    let elapsed = previous.map(|p| p.taken.elapsed()).unwrap_or_default();
    for s in sockets.iter_mut() {
        let prev = previous
            .and_then(|p| p.sockets.get(&s.identity()))
            .map(|socket| Previous { socket, elapsed });
        s.problems = problems(s, prev).into();
    }
}

/// `1 SYN`, `37 SYNs`.
pub fn plural(n: impl Into<i64>, what: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A duration in milliseconds as `850ms`, `4.2s`, `3m05s`, `2h10m`, `3d04h`.
pub fn age_text(ms: u64) -> String {
    let s = ms / 1000;
    match ms {
        0..1000 => format!("{ms}ms"),
        1000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", s / 60, s % 60),
        3_600_000..86_400_000 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sockets::Family;
    use crate::sockets::health::tests::info_bytes;
    use crate::sockets::health::{MemInfo, TcpInfo, Timer};
    use std::net::{IpAddr, Ipv4Addr};

    fn sock(proto: Proto, state: State) -> Socket {
        Socket::new(
            proto,
            Family::Inet,
            Endpoint::ip(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080),
            Endpoint::ip(IpAddr::V4(Ipv4Addr::LOCALHOST), 40000),
            state,
        )
    }

    /// tcp_info offsets used below.
    const RETRANSMITS: usize = 2;
    const RETRANS: usize = 36;
    const LAST_DATA_RECV: usize = 52;
    const TOTAL_RETRANS: usize = 100;
    const SEGS_OUT: usize = 136;
    const BUSY: usize = 168;
    const RWND: usize = 176;
    const SNDBUF: usize = 184;
    const SND_WND: usize = 228;

    fn with_info(mut s: Socket, set: &[(usize, u64, usize)]) -> Socket {
        let mut fields = vec![(SND_WND, 65_535, 4)];
        fields.extend_from_slice(set);
        s.set_tcp(TcpInfo::from_bytes(
            &info_bytes(248, &fields),
            Some(b"cubic"),
        ));
        s
    }

    fn codes(s: &Socket, prev: Option<Previous<'_>>) -> Vec<&'static str> {
        problems(s, prev).iter().map(|p| p.code.name()).collect()
    }

    #[test]
    fn healthy_sockets_have_none() {
        let s = with_info(sock(Proto::Tcp, State::Established), &[(SEGS_OUT, 1000, 4)]);
        assert!(codes(&s, None).is_empty());
        let mut l = sock(Proto::Tcp, State::Listen);
        l.recv_q = 1;
        l.send_q = 1;
        assert!(codes(&l, None).is_empty(), "1 of backlog 1 is not over it");
        let mut u = sock(Proto::Udp, State::Unconn);
        u.set_memory(MemInfo {
            drops: Some(0),
            ..MemInfo::default()
        });
        assert!(codes(&u, None).is_empty());
        assert!(codes(&sock(Proto::Unix, State::CloseWait), None).is_empty());
    }

    #[test]
    fn accept_queue_over_the_backlog() {
        let mut l = sock(Proto::Tcp, State::Listen);
        l.recv_q = 2;
        l.send_q = 1;
        let p = problems(&l, None);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].code, Code::AcceptQueueFull);
        assert!(p[0].text.contains("2 connections"), "{}", p[0].text);
        assert!(p[0].text.contains("backlog of 1"), "{}", p[0].text);
    }

    #[test]
    fn a_listeners_drops_are_connection_attempts() {
        let mut l = sock(Proto::Tcp, State::Listen);
        l.recv_q = 2;
        l.send_q = 1;
        l.set_memory(MemInfo {
            drops: Some(1),
            ..MemInfo::default()
        });
        let p = problems(&l, None);
        assert_eq!(codes(&l, None), ["accept-queue-full", "drops"]);
        assert!(
            p[1].text.contains("1 incoming connection attempt "),
            "{}",
            p[1].text
        );
        l.recv_q = 0;
        l.set_memory(MemInfo {
            drops: Some(37),
            ..MemInfo::default()
        });
        let p = problems(&l, None);
        assert_eq!(p.len(), 1, "an emptied queue still tells of the drops");
        assert!(p[0].text.contains("37 incoming connection attempts"));
    }

    #[test]
    fn unread_data_needs_a_second_of_silence() {
        let mut s = with_info(
            sock(Proto::Tcp, State::Established),
            &[(LAST_DATA_RECV, 1500, 4)],
        );
        s.recv_q = 4096;
        assert_eq!(codes(&s, None), ["unread-data"]);
        let mut fresh = with_info(
            sock(Proto::Tcp, State::Established),
            &[(LAST_DATA_RECV, 200, 4)],
        );
        fresh.recv_q = 4096;
        assert!(codes(&fresh, None).is_empty(), "just arrived");
        let mut empty = with_info(
            sock(Proto::Tcp, State::Established),
            &[(LAST_DATA_RECV, 5000, 4)],
        );
        empty.recv_q = 0;
        assert!(codes(&empty, None).is_empty());
    }

    #[test]
    fn zero_window_from_the_window_or_a_persist_timer() {
        let s = with_info(sock(Proto::Tcp, State::Established), &[(SND_WND, 0, 4)]);
        assert_eq!(codes(&s, None), ["zero-window"]);
        let mut p = with_info(sock(Proto::Tcp, State::Established), &[]);
        p.timer = Some(Timer {
            kind: TimerKind::Persist,
            expires_ms: 200,
            retries: 3,
        });
        let found = problems(&p, None);
        assert_eq!(found[0].code, Code::ZeroWindow);
        assert!(found[0].text.contains("3 unanswered"));
        // A connection still opening has no window yet.
        let opening = with_info(sock(Proto::Tcp, State::SynSent), &[(SND_WND, 0, 4)]);
        assert!(codes(&opening, None).is_empty());
    }

    #[test]
    fn retransmitting_now_or_by_share() {
        let now = with_info(
            sock(Proto::Tcp, State::Established),
            &[(RETRANS, 2, 4), (RETRANSMITS, 1, 1), (SEGS_OUT, 1000, 4)],
        );
        let p = problems(&now, None);
        assert_eq!(p[0].code, Code::Retransmitting);
        assert!(p[0].text.contains("2 segments"), "{}", p[0].text);
        let share = with_info(
            sock(Proto::Tcp, State::Established),
            &[(TOTAL_RETRANS, 11, 4), (SEGS_OUT, 1000, 4)],
        );
        assert_eq!(codes(&share, None), ["retransmitting"]);
        let low = with_info(
            sock(Proto::Tcp, State::Established),
            &[(TOTAL_RETRANS, 10, 4), (SEGS_OUT, 1000, 4)],
        );
        assert!(codes(&low, None).is_empty(), "exactly 1% is not over 1%");
        // In --watch, the share of the last interval decides: old retransmissions are history.
        let before = with_info(
            sock(Proto::Tcp, State::Established),
            &[(TOTAL_RETRANS, 50, 4), (SEGS_OUT, 1000, 4)],
        );
        let after = with_info(
            sock(Proto::Tcp, State::Established),
            &[(TOTAL_RETRANS, 50, 4), (SEGS_OUT, 3000, 4)],
        );
        let prev = Previous {
            socket: &before,
            elapsed: Duration::from_secs(1),
        };
        assert_eq!(codes(&after, None), ["retransmitting"]);
        assert!(codes(&after, Some(prev)).is_empty());
        let worse = with_info(
            sock(Proto::Tcp, State::Established),
            &[(TOTAL_RETRANS, 80, 4), (SEGS_OUT, 2000, 4)],
        );
        let p = problems(&worse, Some(prev));
        assert!(p[0].text.contains("30 of 1000"), "{}", p[0].text);
    }

    #[test]
    fn limited_by_window_or_buffer() {
        let rwnd = with_info(
            sock(Proto::Tcp, State::Established),
            &[(BUSY, 1_000_000, 8), (RWND, 600_000, 8)],
        );
        assert_eq!(codes(&rwnd, None), ["rwnd-limited"]);
        let sndbuf = with_info(
            sock(Proto::Tcp, State::Established),
            &[(BUSY, 1_000_000, 8), (SNDBUF, 900_000, 8)],
        );
        let p = problems(&sndbuf, None);
        assert_eq!(p[0].code, Code::SndbufLimited);
        assert!(p[0].text.contains("90%"));
        let half = with_info(
            sock(Proto::Tcp, State::Established),
            &[(BUSY, 1_000_000, 8), (RWND, 500_000, 8)],
        );
        assert!(codes(&half, None).is_empty(), "half is not more than half");
    }

    #[test]
    fn close_wait_with_its_age() {
        let s = with_info(
            sock(Proto::Tcp, State::CloseWait),
            &[(LAST_DATA_RECV, 125_000, 4)],
        );
        let p = problems(&s, None);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].code, Code::CloseWait);
        assert!(p[0].text.contains("2m05s ago"), "{}", p[0].text);
        let bare = sock(Proto::Tcp, State::CloseWait);
        assert_eq!(codes(&bare, None), ["close-wait"]);
    }

    #[test]
    fn udp_drops_and_unread_data() {
        let mut u = sock(Proto::Udp, State::Unconn);
        u.set_memory(MemInfo {
            rcvbuf: 2304,
            drops: Some(37),
            ..MemInfo::default()
        });
        let p = problems(&u, None);
        assert_eq!(p[0].code, Code::Drops);
        assert!(p[0].text.contains("37 datagrams"), "{}", p[0].text);
        // In --watch, only new drops count; unread data needs two samples a second apart.
        let mut later = u.clone();
        later.recv_q = 512;
        let mut before = u.clone();
        before.recv_q = 300;
        let prev = Previous {
            socket: &before,
            elapsed: Duration::from_secs(2),
        };
        assert_eq!(codes(&later, Some(prev)), ["unread-data"]);
        later.set_memory(MemInfo {
            drops: Some(40),
            ..MemInfo::default()
        });
        let p = problems(&later, Some(prev));
        assert!(p[1].text.contains("3 datagrams in the last interval"));
        assert_eq!(codes(&later, None), ["drops"]);
    }

    #[test]
    fn a_listeners_drops_are_connection_attempts_not_unread_data() {
        // tcp_listendrop() counts the SYNs a full accept queue refused in the listener's
        // sk_drops: the advice is about accept(), not about reading.
        let mut l = sock(Proto::Tcp, State::Listen);
        l.set_memory(MemInfo {
            drops: Some(4),
            ..MemInfo::default()
        });
        let p = problems(&l, None);
        assert_eq!(p[0].code, Code::Drops);
        assert!(
            p[0].text.contains("4 incoming connection attempts"),
            "{}",
            p[0].text
        );
        assert!(p[0].text.contains("accept()"), "{}", p[0].text);
        assert!(!p[0].text.contains("reads too slowly"), "{}", p[0].text);
        let mut e = with_info(sock(Proto::Tcp, State::Established), &[]);
        if let Some(m) = l.memory() {
            e.set_memory(m);
        }
        assert!(problems(&e, None)[0].text.contains("4 packets"));
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age_text(850), "850ms");
        assert_eq!(age_text(4200), "4.2s");
        assert_eq!(age_text(185_000), "3m05s");
        assert_eq!(age_text(7_800_000), "2h10m");
        assert_eq!(age_text(3 * 86_400_000 + 4 * 3_600_000), "3d04h");
    }
}
