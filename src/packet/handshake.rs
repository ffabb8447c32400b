//! The TCP handshake tracker: SYN → SYN/ACK → ACK, refused, unanswered (pure).
//!
//! The tracker follows every TCP connection attempt it sees begin with a SYN and decides what
//! became of it. Its input is plain data ([`Segment`], [`IcmpError`]), so it needs no packets
//! to be tested; its output is one [`Attempt`] per decided attempt, which `crate::output`
//! renders.
//!
//! # Outcomes
//! - Established ([`Outcome::Established`]): SYN from the client, SYN/ACK from the server
//!   acknowledging the client's ISN + 1, then a segment from the client acknowledging the
//!   server's ISN + 1 (a pure ACK or one with data). Decided at that ACK. When the capture
//!   point sees the client's ACK but missed the SYN/ACK (asymmetric routing), the client's ACK
//!   with sequence ISN + 1 still proves the handshake: established, without a SYN/ACK time.
//! - Refused ([`Outcome::Refused`]): a RST from the server acknowledging the SYN (RST/ACK,
//!   ack = ISN + 1), before any SYN/ACK: nothing listens there, or a firewall rejects with a
//!   reset. A RST that does not acknowledge the SYN is ignored, as the client's TCP ignores it
//!   (RFC 9293 3.10.7.3).
//! - Reset ([`Outcome::Reset`]): a RST after the SYN/ACK but before the ACK, from either side
//!   (a port scanner's half-open probe ends this way, reset by the client).
//! - Unreachable ([`Outcome::Unreachable`]): an ICMP or ICMPv6 error quoting the client's SYN
//!   (before any SYN/ACK), or quoting the server's SYN/ACK (the way back is broken).
//! - Unanswered ([`Outcome::Unanswered`]): SYNs (the first and its retransmissions: same
//!   4-tuple, same ISN) and nothing back.
//! - Not acknowledged ([`Outcome::NotAcknowledged`]): SYN/ACK seen (possibly retransmitted), no
//!   ACK from the client.
//! - Simultaneous open (both ends send a SYN on the same 4-tuple; also a socket connected to
//!   itself) is followed as one attempt of the end whose SYN came first, established when each
//!   end has acknowledged the other's SYN ([`Attempt::simultaneous`]).
//!
//! # When silence decides
//! An attempt that is still waiting is decided by silence when nothing came for
//! `max(silence_min, 1.5 × the last retransmission gap)`, capped at `silence_max`
//! (3.5 s and 10 s by default, see [`Config`]). The gap is the time between the last two SYNs
//! (before a SYN/ACK) or the last two SYN/ACKs (after one). TCP stacks double the gap at each
//! retransmission, so the next one is due 2 × the gap after the last: deciding at 1.5 × leaves a
//! clear margin and never races a retransmission that is due. With Linux' schedule (SYNs at 0,
//! 1, 3, 7, 15, 31 s) an attempt that gets no answer is reported 6.5 s after the first SYN,
//! with three SYNs seen; a single lost SYN (answered after the first retransmission) is never
//! reported as unanswered. A silence of 3.5 s also stays clear of a 3 s initial timeout.
//!
//! # After a decision
//! Decided attempts are remembered (bounded by [`Config::max_remembered`], for
//! [`Config::remember_for`]), so that retransmissions of an attempt already reported (a SYN
//! that crossed the RST, a SYN/ACK whose ACK was lost) are not reported again. Attempts decided
//! without an answer from TCP (by silence, an ICMP error, the end of the pending table) are
//! remembered whole: when the TCP answer comes after all (a host that was booting answers the
//! fifth SYN), the attempt is taken up again and reported once more when decided, with
//! [`Attempt::earlier`] saying what the earlier line said. Later ICMP errors on such an
//! attempt take it up again only when no ICMP error has been reported for it yet, so a router
//! answering every retransmission produces one line.
//!
//! # Memory
//! At most [`Config::max_pending`] attempts wait for a decision. When a new SYN would go beyond
//! that, the waiting attempt whose silence deadline comes first (the one closest to being
//! decided anyway) is decided early, as it stands, with [`Decided::Full`]; nothing is dropped
//! unreported. A SYN flood therefore costs a bounded table and one early line per new SYN.
//!
//! # Timestamps
//! Capture timestamps can step back (several interfaces, reordering). Within one attempt, an
//! event stamped earlier than the latest event seen is taken as simultaneous with it, so the
//! times of an attempt never go backwards and its derived durations are never negative.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;

/// TCP flag FIN.
pub const FIN: u8 = 0x01;
/// TCP flag SYN.
pub const SYN: u8 = 0x02;
/// TCP flag RST.
pub const RST: u8 = 0x04;
/// TCP flag PSH.
pub const PSH: u8 = 0x08;
/// TCP flag ACK.
pub const ACK: u8 = 0x10;

/// One TCP segment, as much of it as the tracker needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Capture time since the Unix epoch.
    pub ts: Duration,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// The TCP flags byte: [`FIN`], [`SYN`], [`RST`], [`PSH`], [`ACK`] (others are ignored).
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    /// The TCP payload length (0 when unknown). Lets a SYN carrying data (TCP Fast Open) be
    /// acknowledged as ISN + 1 + length.
    pub len: u32,
}

/// An ICMP or ICMPv6 error about a TCP segment, with the addresses of the quoted segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpError {
    /// Capture time since the Unix epoch.
    pub ts: Duration,
    /// The router or host that reported the error.
    pub from: IpAddr,
    /// What went wrong, e.g. "host unreachable", "port unreachable", "time exceeded".
    pub what: String,
    /// Source of the quoted TCP segment.
    pub quoted_src: SocketAddr,
    /// Destination of the quoted TCP segment.
    pub quoted_dst: SocketAddr,
    /// Sequence number of the quoted segment, when the quote is long enough to hold it.
    pub quoted_seq: Option<u32>,
}

/// Limits and timers of a [`Tracker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Most attempts waiting for a decision (at least 1). Beyond it, the one closest to its
    /// silence deadline is decided early ([`Decided::Full`]).
    pub max_pending: usize,
    /// Most decided attempts remembered, to recognise their retransmissions and late answers.
    pub max_remembered: usize,
    /// How long a decided attempt is remembered (Linux retransmits a SYN for up to 127 s).
    pub remember_for: Duration,
    /// Shortest silence that decides an attempt.
    pub silence_min: Duration,
    /// Longest silence needed to decide an attempt, whatever the retransmission gap.
    pub silence_max: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_pending: 65_536,
            max_remembered: 65_536,
            remember_for: Duration::from_secs(180),
            silence_min: Duration::from_millis(3_500),
            silence_max: Duration::from_secs(10),
        }
    }
}

/// What became of a connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// SYN → SYN/ACK → ACK.
    Established,
    /// The server answered the SYN with a RST.
    Refused,
    /// A RST after the SYN/ACK, before the ACK.
    Reset,
    /// An ICMP error about the SYN or the SYN/ACK.
    Unreachable,
    /// SYNs and nothing back.
    Unanswered,
    /// SYN/ACK but no ACK.
    NotAcknowledged,
}

impl Outcome {
    /// The name used in lines and JSON: "established", "not-acknowledged", ….
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Established => "established",
            Outcome::Refused => "refused",
            Outcome::Reset => "reset",
            Outcome::Unreachable => "unreachable",
            Outcome::Unanswered => "unanswered",
            Outcome::NotAcknowledged => "not-acknowledged",
        }
    }

    /// True when TCP itself closed the attempt (no later answer can change it).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Outcome::Established | Outcome::Refused | Outcome::Reset
        )
    }
}

/// One end of a connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The end that sent the SYN.
    Client,
    /// The end the SYN was sent to.
    Server,
}

/// What decided an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decided {
    /// A segment or an ICMP error.
    Event,
    /// Nothing came for long enough (see the module doc).
    Silence,
    /// The client started a new attempt on the same 4-tuple (a SYN with another ISN).
    NewAttempt,
    /// The capture ended.
    End,
    /// The pending table was full: decided early, as it stood.
    Full,
}

/// A RST that ended an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ResetInfo {
    /// Capture time since the Unix epoch.
    pub ts: Duration,
    /// Who sent it.
    pub by: Side,
}

/// An ICMP error that ended an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IcmpInfo {
    /// Capture time since the Unix epoch.
    pub ts: Duration,
    /// The router or host that reported it.
    pub from: IpAddr,
    /// What it reported ("host unreachable", …).
    pub what: String,
    /// Whose segment it quoted: the client's SYN or the server's SYN/ACK.
    pub about: Side,
}

/// A decided connection attempt. Times are capture times since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// The end that sent the SYN.
    pub client: SocketAddr,
    /// The end the SYN went to.
    pub server: SocketAddr,
    pub outcome: Outcome,
    /// What decided it.
    pub decided: Decided,
    /// The client's initial sequence number.
    pub isn: u32,
    /// The first SYN.
    pub first_syn: Duration,
    /// The last SYN (the first one when it was not retransmitted).
    pub last_syn: Duration,
    /// SYNs seen: 1 + retransmissions.
    pub syn_count: u32,
    /// The first SYN/ACK acknowledging the SYN.
    pub synack: Option<Duration>,
    /// SYN/ACKs seen: 1 + retransmissions.
    pub synack_count: u32,
    /// The server's initial sequence number, from its SYN/ACK.
    pub server_isn: Option<u32>,
    /// The last SYN sent before the first SYN/ACK: the one taken as answered, for [`Attempt::rtt`].
    pub answered_syn: Option<Duration>,
    /// The client's segment that completed the handshake.
    pub ack: Option<Duration>,
    /// The RST that ended it.
    pub reset: Option<ResetInfo>,
    /// The ICMP error that ended it.
    pub icmp: Option<IcmpInfo>,
    /// SYN/ACKs on this 4-tuple acknowledging something other than the SYN (not answers).
    pub wrong_acks: u32,
    /// Both ends sent a SYN (simultaneous open, or a socket connected to itself).
    pub simultaneous: bool,
    /// The outcome this attempt was reported with before, when it was taken up again after an
    /// answer that came late (see the module doc).
    pub earlier: Option<Outcome>,
}

impl Attempt {
    /// The network round trip as seen at the capture point: the first SYN/ACK minus the last
    /// SYN sent before it. (Which SYN a SYN/ACK answers cannot be known; the last is the
    /// closest, as in Karn's rule.)
    pub fn rtt(&self) -> Option<Duration> {
        self.synack?.checked_sub(self.answered_syn?)
    }

    /// The whole handshake: the completing ACK minus the first SYN.
    pub fn total(&self) -> Option<Duration> {
        self.ack?.checked_sub(self.first_syn)
    }

    /// Time from the first SYN to `ts` (zero for an earlier `ts`).
    pub fn since_first_syn(&self, ts: Duration) -> Duration {
        ts.saturating_sub(self.first_syn)
    }
}

/// Counts of what the tracker saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Segments fed in.
    pub segments: u64,
    /// ICMP errors fed in.
    pub icmp_errors: u64,
    /// Segments and ICMP errors that belonged to no tracked attempt (mid-stream traffic,
    /// connections whose SYN was not seen).
    pub ignored: u64,
    /// Segments on a tracked 4-tuple that did not fit its handshake (a SYN/ACK with a wrong
    /// ack, a RST that acknowledges nothing, …).
    pub stray: u64,
    /// Retransmissions of attempts already reported, not reported again.
    pub suppressed: u64,
    /// Attempts decided early because the pending table was full.
    pub evicted: u64,
}

/// (client, server).
type Key = (SocketAddr, SocketAddr);

/// An attempt waiting for a decision.
#[derive(Debug, Clone)]
struct Pending {
    /// The attempt as it stands (its outcome is set when decided).
    a: Attempt,
    /// Payload length of the first SYN (TCP Fast Open).
    syn_len: u32,
    /// The SYN before the last one, for the retransmission gap.
    prev_syn: Option<Duration>,
    /// The last SYN/ACK and the one before it.
    last_synack: Option<Duration>,
    prev_synack: Option<Duration>,
    /// Simultaneous open: the server's ISN from its own SYN.
    peer_isn: Option<u32>,
    /// Simultaneous open: the client's acknowledgment (time, ack) of the server's SYN, which
    /// can come before the server's SYN/ACK.
    client_ack: Option<(Duration, u32)>,
    /// The latest event time (timestamps never go back within an attempt).
    latest: Duration,
    /// When silence decides it.
    deadline: Duration,
}

/// A decided attempt, remembered.
#[derive(Debug)]
struct Reported {
    isn: u32,
    outcome: Outcome,
    decided_at: Duration,
    /// The whole attempt, when a late TCP answer can still change its outcome.
    revive: Option<Box<Pending>>,
}

/// What one event did to a pending attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Did not fit the handshake.
    Stray,
    /// Noted, but no answer: a retransmission, the peer's own SYN.
    Noted,
    /// An answer that moves the handshake on (a SYN/ACK).
    Progress,
    /// An answer that decides it.
    Done(Outcome),
}

/// Follows TCP connection attempts and decides their outcomes. See the module doc.
#[derive(Debug)]
pub struct Tracker {
    config: Config,
    pending: HashMap<Key, Pending>,
    /// Silence deadlines, earliest first; an entry is stale when its attempt's deadline moved.
    deadlines: BinaryHeap<Reverse<(Duration, Key)>>,
    reported: HashMap<Key, Reported>,
    /// Decision times, oldest first; an entry is stale when its key was reported again since.
    reported_order: VecDeque<(Duration, Key)>,
    stats: Stats,
}

fn has(flags: u8, flag: u8) -> bool {
    flags & flag != 0
}

/// A SYN that opens an attempt: SYN without ACK or RST.
fn is_bare_syn(flags: u8) -> bool {
    has(flags, SYN) && !has(flags, ACK) && !has(flags, RST)
}

/// `a` is at or after `b` in sequence space, by less than a quarter of it.
fn seq_at_or_after(a: u32, b: u32) -> bool {
    a.wrapping_sub(b) < 1 << 30
}

impl Pending {
    fn new(s: &Segment) -> Pending {
        Pending {
            a: Attempt {
                client: s.src,
                server: s.dst,
                outcome: Outcome::Unanswered,
                decided: Decided::Event,
                isn: s.seq,
                first_syn: s.ts,
                last_syn: s.ts,
                syn_count: 1,
                synack: None,
                synack_count: 0,
                server_isn: None,
                answered_syn: None,
                ack: None,
                reset: None,
                icmp: None,
                wrong_acks: 0,
                simultaneous: false,
                earlier: None,
            },
            syn_len: s.len,
            prev_syn: None,
            last_synack: None,
            prev_synack: None,
            peer_isn: None,
            client_ack: None,
            latest: s.ts,
            deadline: s.ts,
        }
    }

    /// The event time, never before the latest one of this attempt.
    fn clock(&mut self, ts: Duration) -> Duration {
        self.latest = self.latest.max(ts);
        self.latest
    }

    /// The client's ISN + 1, or + 1 + the SYN's payload (TCP Fast Open).
    fn acks_syn(&self, ack: u32) -> bool {
        let next = self.a.isn.wrapping_add(1);
        ack == next || ack == next.wrapping_add(self.syn_len)
    }

    /// The outcome as it stands, for a decision without an answer.
    fn as_it_stands(&self) -> Outcome {
        if self.a.synack.is_some() {
            Outcome::NotAcknowledged
        } else {
            Outcome::Unanswered
        }
    }

    /// When silence decides it (see the module doc).
    fn silence_deadline(&self, config: &Config) -> Duration {
        let (base, gap) = match self.last_synack {
            Some(last) => (
                last.max(self.a.last_syn),
                self.prev_synack.map(|p| last.saturating_sub(p)),
            ),
            None => (
                self.a.last_syn,
                self.prev_syn.map(|p| self.a.last_syn.saturating_sub(p)),
            ),
        };
        let wait = gap
            .map_or(Duration::ZERO, |g| g.saturating_add(g / 2))
            .min(config.silence_max)
            .max(config.silence_min);
        base.max(self.latest).saturating_add(wait)
    }

    /// A segment from the client.
    fn client_step(&mut self, s: &Segment) -> Step {
        let ts = self.clock(s.ts);
        let (syn, ack, rst) = (has(s.flags, SYN), has(s.flags, ACK), has(s.flags, RST));
        if rst {
            // A client RST before the SYN/ACK answers a SYN/ACK with a wrong ack (and the
            // client keeps trying); after it, with the client's next sequence number, it ends
            // the attempt (a half-open scan).
            if self.a.synack.is_some() && self.acks_syn(s.seq) {
                self.a.reset = Some(ResetInfo {
                    ts,
                    by: Side::Client,
                });
                return Step::Done(Outcome::Reset);
            }
            return Step::Stray;
        }
        if syn && !ack {
            // A retransmission (another ISN is a new attempt, handled by the caller).
            if s.seq != self.a.isn {
                return Step::Stray;
            }
            self.prev_syn = Some(self.a.last_syn);
            self.a.last_syn = ts;
            self.a.syn_count = self.a.syn_count.saturating_add(1);
            return Step::Noted;
        }
        if !ack {
            return Step::Stray;
        }
        if syn {
            // The client's SYN/ACK: simultaneous open, or a socket connected to itself.
            if s.seq != self.a.isn {
                return Step::Stray;
            }
            if s.src == s.dst && self.acks_syn(s.ack) {
                self.a.simultaneous = true;
                if self.a.synack.is_none() {
                    self.record_synack(ts, s.seq);
                }
                self.a.ack = Some(ts);
                return Step::Done(Outcome::Established);
            }
            if self
                .a
                .server_isn
                .is_some_and(|i| s.ack == i.wrapping_add(1))
            {
                self.a.ack = Some(ts);
                return Step::Done(Outcome::Established);
            }
            if self.peer_isn.is_some_and(|p| s.ack == p.wrapping_add(1)) {
                return self.client_acknowledges(ts, s.ack);
            }
            return Step::Stray;
        }
        match (self.a.server_isn, self.peer_isn) {
            (Some(server_isn), _) if seq_at_or_after(s.ack, server_isn.wrapping_add(1)) => {
                self.a.ack = Some(ts);
                Step::Done(Outcome::Established)
            }
            (Some(_), _) => Step::Stray,
            (None, Some(peer)) if s.ack == peer.wrapping_add(1) => {
                self.client_acknowledges(ts, s.ack)
            }
            (None, Some(_)) => Step::Stray,
            // The SYN/ACK went by another path: the client's next sequence number proves it
            // got one.
            (None, None) if self.acks_syn(s.seq) => {
                self.a.ack = Some(ts);
                Step::Done(Outcome::Established)
            }
            (None, None) => Step::Stray,
        }
    }

    /// Simultaneous open: the client acknowledged the server's SYN before its SYN/ACK.
    fn client_acknowledges(&mut self, ts: Duration, ack: u32) -> Step {
        if self.client_ack.is_none() {
            self.client_ack = Some((ts, ack));
        }
        Step::Noted
    }

    fn record_synack(&mut self, ts: Duration, seq: u32) {
        self.a.synack = Some(ts);
        self.a.synack_count = 1;
        self.a.server_isn = Some(seq);
        self.a.answered_syn = Some(self.a.last_syn);
        self.last_synack = Some(ts);
    }

    /// A segment from the server.
    fn server_step(&mut self, s: &Segment) -> Step {
        let ts = self.clock(s.ts);
        let (syn, ack, rst) = (has(s.flags, SYN), has(s.flags, ACK), has(s.flags, RST));
        if rst {
            let acks = ack && self.acks_syn(s.ack);
            let outcome = match self.a.server_isn {
                None if acks => Outcome::Refused,
                Some(server_isn) if acks || s.seq == server_isn.wrapping_add(1) => Outcome::Reset,
                _ => return Step::Stray,
            };
            self.a.reset = Some(ResetInfo {
                ts,
                by: Side::Server,
            });
            return Step::Done(outcome);
        }
        if syn && !ack {
            // The server's own SYN: simultaneous open.
            if self.a.synack.is_some() {
                return Step::Stray;
            }
            self.a.simultaneous = true;
            self.peer_isn = Some(s.seq);
            return Step::Noted;
        }
        if !syn {
            // Simultaneous open: the server may acknowledge the client's SYN with a pure ACK
            // after its own SYN, which then stands for its SYN/ACK.
            if ack
                && self.a.synack.is_none()
                && self.acks_syn(s.ack)
                && let Some(peer) = self.peer_isn
                && s.seq == peer.wrapping_add(1)
            {
                return self.synack_answers(ts, peer);
            }
            return Step::Stray;
        }
        if !self.acks_syn(s.ack) {
            self.a.wrong_acks = self.a.wrong_acks.saturating_add(1);
            return Step::Stray;
        }
        if self.a.synack.is_some() {
            self.prev_synack = self.last_synack;
            self.last_synack = Some(ts);
            self.a.synack_count = self.a.synack_count.saturating_add(1);
            return Step::Noted;
        }
        self.synack_answers(ts, s.seq)
    }

    /// The server's first answer to the SYN; in a simultaneous open, the handshake is complete
    /// when the client has already acknowledged the server's SYN.
    fn synack_answers(&mut self, ts: Duration, server_isn: u32) -> Step {
        self.record_synack(ts, server_isn);
        if let Some((at, ack)) = self.client_ack
            && ack == server_isn.wrapping_add(1)
        {
            self.a.ack = Some(at);
            return Step::Done(Outcome::Established);
        }
        Step::Progress
    }

    /// An ICMP error quoting a segment of this attempt, from `about`.
    fn icmp_step(&mut self, e: &IcmpError, about: Side) -> Step {
        let ts = self.clock(e.ts);
        let fits = match about {
            Side::Client => self.a.synack.is_none() && e.quoted_seq.is_none_or(|q| q == self.a.isn),
            Side::Server => self
                .a
                .server_isn
                .is_some_and(|isn| e.quoted_seq.is_none_or(|q| q == isn)),
        };
        if !fits {
            return Step::Stray;
        }
        self.a.icmp = Some(IcmpInfo {
            ts,
            from: e.from,
            what: e.what.clone(),
            about,
        });
        Step::Done(Outcome::Unreachable)
    }
}

impl Tracker {
    /// A tracker with these limits.
    pub fn new(config: Config) -> Tracker {
        Tracker {
            config,
            pending: HashMap::new(),
            deadlines: BinaryHeap::new(),
            reported: HashMap::new(),
            reported_order: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// What the tracker saw so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Attempts waiting for a decision.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Decided attempts remembered.
    pub fn remembered_len(&self) -> usize {
        self.reported.len()
    }

    /// Feeds one TCP segment; returns the attempt this segment decided, if any (possibly
    /// another one: the previous attempt on the same 4-tuple when this SYN starts a new one, or
    /// the attempt decided early to make room).
    pub fn segment(&mut self, s: &Segment) -> Option<Attempt> {
        self.stats.segments += 1;
        let forward = (s.src, s.dst);
        let backward = (s.dst, s.src);
        if let Some(p) = self.pending.get_mut(&forward) {
            if is_bare_syn(s.flags) && s.seq != p.a.isn {
                let old = self.decide(forward, None, Decided::NewAttempt, s.ts);
                // The old attempt made room: starting the new one evicts nothing.
                let evicted = self.start(s);
                return old.or(evicted);
            }
            let step = p.client_step(s);
            return self.apply(forward, step);
        }
        if let Some(p) = self.pending.get_mut(&backward) {
            let step = p.server_step(s);
            return self.apply(backward, step);
        }
        if self.reported.contains_key(&forward) {
            return self.reported_segment(forward, s, Side::Client);
        }
        if self.reported.contains_key(&backward) && !is_bare_syn(s.flags) {
            return self.reported_segment(backward, s, Side::Server);
        }
        if is_bare_syn(s.flags) {
            return self.start(s);
        }
        self.stats.ignored += 1;
        None
    }

    /// Feeds one ICMP or ICMPv6 error about a TCP segment; returns the attempt it decided.
    pub fn icmp(&mut self, e: &IcmpError) -> Option<Attempt> {
        self.stats.icmp_errors += 1;
        let client_key = (e.quoted_src, e.quoted_dst);
        let server_key = (e.quoted_dst, e.quoted_src);
        for (key, about) in [(client_key, Side::Client), (server_key, Side::Server)] {
            if let Some(p) = self.pending.get_mut(&key) {
                let step = p.icmp_step(e, about);
                return self.apply(key, step);
            }
        }
        for (key, about) in [(client_key, Side::Client), (server_key, Side::Server)] {
            let Some(r) = self.reported.get_mut(&key) else {
                continue;
            };
            // One ICMP line per attempt: a router answering every retransmission is not news.
            let Some(p) = r.revive.as_mut().filter(|p| p.a.icmp.is_none()) else {
                self.stats.suppressed += 1;
                return None;
            };
            let step = p.icmp_step(e, about);
            return self.take_up(key, step);
        }
        self.stats.ignored += 1;
        None
    }

    /// Decides the attempts whose silence deadline is at or before `now` (call it regularly:
    /// with the wall clock when live, with packet times when reading a file). Also forgets
    /// decided attempts older than [`Config::remember_for`].
    pub fn expire(&mut self, now: Duration) -> Vec<Attempt> {
        let mut out = Vec::new();
        while let Some(&Reverse((deadline, key))) = self.deadlines.peek() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            if self
                .pending
                .get(&key)
                .is_some_and(|p| p.deadline == deadline)
                && let Some(a) = self.decide(key, None, Decided::Silence, deadline)
            {
                out.push(a);
            }
        }
        while let Some(&(at, key)) = self.reported_order.front() {
            if at.saturating_add(self.config.remember_for) > now {
                break;
            }
            self.reported_order.pop_front();
            if self.reported.get(&key).is_some_and(|r| r.decided_at == at) {
                self.reported.remove(&key);
            }
        }
        out.sort_by_key(|a| (a.first_syn, a.client, a.server));
        out
    }

    /// The end of the capture: every waiting attempt, decided as it stands, first SYN first.
    pub fn finish(self) -> Vec<Attempt> {
        let mut out: Vec<Attempt> = self
            .pending
            .into_values()
            .map(|mut p| {
                p.a.outcome = p.as_it_stands();
                p.a.decided = Decided::End;
                p.a
            })
            .collect();
        out.sort_by_key(|a| (a.first_syn, a.client, a.server));
        out
    }

    /// A new attempt from a bare SYN; returns the attempt decided early to make room.
    fn start(&mut self, s: &Segment) -> Option<Attempt> {
        let key = (s.src, s.dst);
        self.reported.remove(&key);
        let evicted = if self.pending.len() >= self.config.max_pending.max(1) {
            self.evict(s.ts)
        } else {
            None
        };
        let mut p = Pending::new(s);
        p.deadline = p.silence_deadline(&self.config);
        self.deadlines.push(Reverse((p.deadline, key)));
        self.pending.insert(key, p);
        self.compact_deadlines();
        evicted
    }

    /// Decides early the pending attempt whose deadline comes first.
    fn evict(&mut self, now: Duration) -> Option<Attempt> {
        while let Some(Reverse((deadline, key))) = self.deadlines.pop() {
            if self
                .pending
                .get(&key)
                .is_some_and(|p| p.deadline == deadline)
            {
                self.stats.evicted += 1;
                return self.decide(key, None, Decided::Full, now);
            }
        }
        // Unreachable while every pending attempt has its deadline queued; stay bounded anyway.
        let key = *self.pending.keys().next()?;
        self.stats.evicted += 1;
        self.decide(key, None, Decided::Full, now)
    }

    /// Acts on what a segment or an ICMP error did to the pending attempt `key`.
    fn apply(&mut self, key: Key, step: Step) -> Option<Attempt> {
        match step {
            Step::Stray => {
                self.stats.stray += 1;
                None
            }
            Step::Noted | Step::Progress => {
                self.reschedule(key);
                None
            }
            Step::Done(outcome) => {
                let at = self.pending.get(&key).map_or(Duration::ZERO, |p| p.latest);
                self.decide(key, Some(outcome), Decided::Event, at)
            }
        }
    }

    /// A segment on the 4-tuple of an attempt already reported: a retransmission (suppressed),
    /// a new attempt (another ISN), or a late answer that takes the attempt up again.
    fn reported_segment(&mut self, key: Key, s: &Segment, from: Side) -> Option<Attempt> {
        let r = self.reported.get_mut(&key)?;
        if from == Side::Client && is_bare_syn(s.flags) && s.seq != r.isn {
            return self.start(s);
        }
        let Some(p) = r.revive.as_mut() else {
            // A retransmitted SYN or SYN/ACK of the attempt; anything else is traffic of the
            // connection or of its end.
            let retransmission = match from {
                Side::Client => is_bare_syn(s.flags) && s.seq == r.isn,
                Side::Server => has(s.flags, SYN) && has(s.flags, ACK),
            };
            if retransmission {
                self.stats.suppressed += 1;
            } else {
                self.stats.ignored += 1;
            }
            return None;
        };
        let step = match from {
            Side::Client => p.client_step(s),
            Side::Server => p.server_step(s),
        };
        self.take_up(key, step)
    }

    /// Acts on what an event did to a remembered attempt: an answer takes it up again.
    fn take_up(&mut self, key: Key, step: Step) -> Option<Attempt> {
        match step {
            Step::Noted => {
                self.stats.suppressed += 1;
                None
            }
            Step::Stray => {
                self.stats.ignored += 1;
                None
            }
            Step::Progress | Step::Done(_) => {
                let r = self.reported.remove(&key)?;
                let mut p = *r.revive?;
                p.a.earlier = Some(r.outcome);
                if let Step::Done(outcome) = step {
                    let at = p.latest;
                    return Some(self.conclude(key, p, Some(outcome), Decided::Event, at));
                }
                let evicted = if self.pending.len() >= self.config.max_pending.max(1) {
                    self.evict(p.latest)
                } else {
                    None
                };
                p.deadline = p.silence_deadline(&self.config);
                self.deadlines.push(Reverse((p.deadline, key)));
                self.pending.insert(key, p);
                self.compact_deadlines();
                evicted
            }
        }
    }

    /// Queues the new silence deadline of `key` after an event.
    fn reschedule(&mut self, key: Key) {
        let config = self.config;
        if let Some(p) = self.pending.get_mut(&key) {
            let deadline = p.silence_deadline(&config);
            if deadline != p.deadline {
                p.deadline = deadline;
                self.deadlines.push(Reverse((deadline, key)));
                self.compact_deadlines();
            }
        }
    }

    /// Drops stale deadlines when they outnumber the live ones, so the queue stays bounded
    /// even when `expire` is never called.
    fn compact_deadlines(&mut self) {
        if self.deadlines.len() > 2 * self.pending.len() + 64 {
            self.deadlines = self
                .pending
                .iter()
                .map(|(k, p)| Reverse((p.deadline, *k)))
                .collect();
        }
    }

    /// Removes `key` from the pending attempts and decides it (`None`: as it stands).
    fn decide(
        &mut self,
        key: Key,
        outcome: Option<Outcome>,
        decided: Decided,
        at: Duration,
    ) -> Option<Attempt> {
        let p = self.pending.remove(&key)?;
        Some(self.conclude(key, p, outcome, decided, at))
    }

    /// Decides an attempt (`None`: as it stands) and remembers it, whole when a late answer
    /// can still change it.
    fn conclude(
        &mut self,
        key: Key,
        mut p: Pending,
        outcome: Option<Outcome>,
        decided: Decided,
        at: Duration,
    ) -> Attempt {
        p.a.outcome = outcome.unwrap_or_else(|| p.as_it_stands());
        p.a.decided = decided;
        let attempt = p.a.clone();
        // A new attempt on the 4-tuple replaces this one at once.
        if decided != Decided::NewAttempt {
            let revive = (!attempt.outcome.is_final()).then(|| Box::new(p));
            self.remember(key, attempt.isn, attempt.outcome, at, revive);
        }
        attempt
    }

    fn remember(
        &mut self,
        key: Key,
        isn: u32,
        outcome: Outcome,
        at: Duration,
        revive: Option<Box<Pending>>,
    ) {
        if self.config.max_remembered == 0 {
            return;
        }
        self.reported.insert(
            key,
            Reported {
                isn,
                outcome,
                decided_at: at,
                revive,
            },
        );
        self.reported_order.push_back((at, key));
        while self.reported.len() > self.config.max_remembered {
            let Some((at, key)) = self.reported_order.pop_front() else {
                break;
            };
            if self.reported.get(&key).is_some_and(|r| r.decided_at == at) {
                self.reported.remove(&key);
            }
        }
        if self.reported_order.len() > 2 * self.reported.len() + 64 {
            let reported = &self.reported;
            self.reported_order
                .retain(|(at, key)| reported.get(key).is_some_and(|r| r.decided_at == *at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-24T04:12:00Z, plus microseconds.
    fn at(micros: u64) -> Duration {
        Duration::new(1_795_493_520, 0) + Duration::from_micros(micros)
    }

    fn secs(s: f64) -> u64 {
        (s * 1e6).round() as u64
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const C: &str = "10.0.0.5:40000";
    const S: &str = "10.0.0.1:22";

    fn seg(micros: u64, src: &str, dst: &str, flags: u8, seq: u32, ack: u32) -> Segment {
        Segment {
            ts: at(micros),
            src: addr(src),
            dst: addr(dst),
            flags,
            seq,
            ack,
            len: 0,
        }
    }

    fn syn(micros: u64, seq: u32) -> Segment {
        seg(micros, C, S, SYN, seq, 0)
    }

    fn synack(micros: u64, seq: u32, ack: u32) -> Segment {
        seg(micros, S, C, SYN | ACK, seq, ack)
    }

    fn ack(micros: u64, seq: u32, ack: u32) -> Segment {
        seg(micros, C, S, ACK, seq, ack)
    }

    fn tracker() -> Tracker {
        Tracker::new(Config::default())
    }

    /// Feeds segments that must not decide anything.
    fn feed(t: &mut Tracker, segments: &[Segment]) {
        for s in segments {
            assert_eq!(t.segment(s), None, "{s:?} decided something");
        }
    }

    #[test]
    fn three_way_handshake_is_established_at_the_ack() {
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1000), synack(41, 5000, 1001)]);
        assert_eq!(t.pending_len(), 1);
        let a = t.segment(&ack(52, 1001, 5001)).expect("decided");
        assert_eq!(a.outcome, Outcome::Established);
        assert_eq!(a.decided, Decided::Event);
        assert_eq!((a.client, a.server), (addr(C), addr(S)));
        assert_eq!((a.isn, a.server_isn), (1000, Some(5000)));
        assert_eq!((a.syn_count, a.synack_count), (1, 1));
        assert_eq!(
            (a.first_syn, a.synack, a.ack),
            (at(0), Some(at(41)), Some(at(52)))
        );
        assert_eq!(a.rtt(), Some(Duration::from_micros(41)));
        assert_eq!(a.total(), Some(Duration::from_micros(52)));
        assert_eq!((a.reset, &a.icmp, a.earlier), (None, &None, None));
        assert_eq!(t.pending_len(), 0);
        // The connection's traffic afterwards is not an attempt.
        feed(
            &mut t,
            &[
                seg(60, C, S, ACK | PSH, 1001, 5001),
                seg(70, S, C, ACK, 5001, 1101),
                seg(80, C, S, FIN | ACK, 1101, 5001),
            ],
        );
        assert_eq!(t.stats().ignored, 3);
        assert_eq!(t.stats().suppressed, 0);
        assert!(t.finish().is_empty());
    }

    #[test]
    fn an_ack_with_data_or_acking_more_completes_the_handshake() {
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1000), synack(41, 5000, 1001)]);
        // The pure ACK was not captured; the first data segment acknowledges server data.
        let a = t.segment(&seg(90, C, S, ACK | PSH, 1001, 5101)).unwrap();
        assert_eq!((a.outcome, a.ack), (Outcome::Established, Some(at(90))));
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1000), synack(41, 5000, 1001)]);
        // An ACK of an earlier server sequence number is not the handshake's.
        feed(&mut t, &[ack(50, 1001, 4000)]);
        assert_eq!(t.stats().stray, 1);
    }

    #[test]
    fn rtt_is_measured_from_the_last_syn_before_the_answer() {
        let mut t = tracker();
        feed(
            &mut t,
            &[
                syn(0, 7),
                syn(secs(1.0), 7),
                syn(secs(3.0), 7),
                synack(secs(3.0) + 200, 9, 8),
            ],
        );
        // A SYN retransmitted after the SYN/ACK (crossing it) changes neither rtt nor counts
        // of the answer.
        feed(&mut t, &[syn(secs(3.0) + 300, 7)]);
        let a = t.segment(&ack(secs(3.0) + 400, 8, 10)).unwrap();
        assert_eq!(a.outcome, Outcome::Established);
        assert_eq!(a.syn_count, 4);
        assert_eq!(a.answered_syn, Some(at(secs(3.0))));
        assert_eq!(a.rtt(), Some(Duration::from_micros(200)));
        assert_eq!(a.total(), Some(Duration::from_micros(3_000_400)));
        assert_eq!(a.last_syn, at(secs(3.0) + 300));
    }

    #[test]
    fn duplicate_synacks_are_counted_and_the_first_one_times_it() {
        let mut t = tracker();
        feed(
            &mut t,
            &[syn(0, 1), synack(100, 50, 2), synack(secs(1.0), 50, 2)],
        );
        let a = t.segment(&ack(secs(1.0) + 10, 2, 51)).unwrap();
        assert_eq!(a.synack_count, 2);
        assert_eq!(a.synack, Some(at(100)));
        assert_eq!(a.rtt(), Some(Duration::from_micros(100)));
    }

    #[test]
    fn a_synack_with_a_wrong_ack_is_no_answer() {
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1000), synack(50, 7777, 424_242)]);
        assert_eq!(t.stats().stray, 1);
        // The client's RST to it (seq = its ack) does not end the attempt either.
        feed(&mut t, &[seg(60, C, S, RST, 424_242, 0)]);
        assert_eq!(t.pending_len(), 1);
        feed(
            &mut t,
            &[syn(secs(1.0), 1000), synack(secs(1.0) + 90, 5000, 1001)],
        );
        let a = t.segment(&ack(secs(1.0) + 100, 1001, 5001)).unwrap();
        assert_eq!(a.outcome, Outcome::Established);
        assert_eq!(a.wrong_acks, 1);
        assert_eq!(a.server_isn, Some(5000));
        assert_eq!(a.rtt(), Some(Duration::from_micros(90)));
        assert_eq!(t.stats().stray, 2);
    }

    #[test]
    fn a_rst_acking_the_syn_refuses_it() {
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1000)]);
        let a = t.segment(&seg(30, S, C, RST | ACK, 0, 1001)).unwrap();
        assert_eq!(a.outcome, Outcome::Refused);
        assert_eq!(
            a.reset,
            Some(ResetInfo {
                ts: at(30),
                by: Side::Server
            })
        );
        assert_eq!((a.synack, a.rtt(), a.total()), (None, None, None));
        // The SYN that crossed the RST is not a new attempt, nor reported again.
        feed(&mut t, &[syn(secs(1.0), 1000)]);
        assert_eq!(t.stats().suppressed, 1);
        assert_eq!(t.pending_len(), 0);
        // A new connect from the same port is.
        feed(&mut t, &[syn(secs(2.0), 2000)]);
        assert_eq!(t.pending_len(), 1);
    }

    #[test]
    fn a_rst_that_does_not_ack_the_syn_is_ignored() {
        let mut t = tracker();
        feed(
            &mut t,
            &[
                syn(0, 1000),
                seg(30, S, C, RST, 0, 0),
                seg(40, S, C, RST | ACK, 0, 1234),
            ],
        );
        assert_eq!(t.stats().stray, 2);
        let a = t.finish();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].outcome, Outcome::Unanswered);
        assert_eq!(a[0].reset, None);
    }

    #[test]
    fn a_rst_after_the_synack_resets_it_from_either_side() {
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1000), synack(41, 5000, 1001)]);
        // A half-open scan: the client resets instead of acknowledging.
        let a = t.segment(&seg(50, C, S, RST, 1001, 0)).unwrap();
        assert_eq!(a.outcome, Outcome::Reset);
        assert_eq!(a.reset.map(|r| (r.ts, r.by)), Some((at(50), Side::Client)));
        assert_eq!(a.rtt(), Some(Duration::from_micros(41)));

        let mut t = tracker();
        feed(&mut t, &[syn(0, 1000), synack(41, 5000, 1001)]);
        let a = t.segment(&seg(60, S, C, RST, 5001, 0)).unwrap();
        assert_eq!(a.outcome, Outcome::Reset);
        assert_eq!(a.reset.map(|r| r.by), Some(Side::Server));
        // The SYN/ACK retransmitted after it is not reported again.
        feed(&mut t, &[synack(secs(1.0), 5000, 1001)]);
        assert_eq!(t.stats().suppressed, 1);
    }

    fn icmp(micros: u64, src: &str, dst: &str, seq: Option<u32>) -> IcmpError {
        IcmpError {
            ts: at(micros),
            from: "198.18.1.254".parse().unwrap(),
            what: "host unreachable".into(),
            quoted_src: addr(src),
            quoted_dst: addr(dst),
            quoted_seq: seq,
        }
    }

    #[test]
    fn an_icmp_error_quoting_the_syn_makes_it_unreachable() {
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1000)]);
        // Another sequence number, or other ports, is not about this SYN.
        assert_eq!(t.icmp(&icmp(10, C, S, Some(999))), None);
        assert_eq!(t.icmp(&icmp(10, C, "10.0.0.1:23", Some(1000))), None);
        let a = t.icmp(&icmp(3_100, C, S, Some(1000))).unwrap();
        assert_eq!(a.outcome, Outcome::Unreachable);
        let i = a.icmp.clone().unwrap();
        assert_eq!(i.ts, at(3_100));
        assert_eq!(i.from, "198.18.1.254".parse::<IpAddr>().unwrap());
        assert_eq!(
            (i.what.as_str(), i.about),
            ("host unreachable", Side::Client)
        );
        // The router answers each retransmission: one line is enough.
        feed(&mut t, &[syn(secs(1.0), 1000)]);
        assert_eq!(t.icmp(&icmp(secs(1.0) + 3_100, C, S, Some(1000))), None);
        assert_eq!(t.stats().icmp_errors, 4);
        // A quote too short for the sequence number still matches on the ports.
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1000)]);
        assert!(t.icmp(&icmp(10, C, S, None)).is_some());
    }

    #[test]
    fn an_icmp_error_quoting_the_synack_makes_it_unreachable_from_the_server_side() {
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1000), synack(41, 5000, 1001)]);
        // An error about the SYN after the SYN/ACK was seen does not decide it.
        assert_eq!(t.icmp(&icmp(45, C, S, Some(1000))), None);
        let a = t.icmp(&icmp(50, S, C, Some(5000))).unwrap();
        assert_eq!(a.outcome, Outcome::Unreachable);
        assert_eq!(a.icmp.map(|i| i.about), Some(Side::Server));
        assert_eq!(a.synack, Some(at(41)));
    }

    #[test]
    fn a_late_answer_after_an_icmp_error_is_reported() {
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1000)]);
        assert!(t.icmp(&icmp(100, C, S, Some(1000))).is_some());
        feed(
            &mut t,
            &[syn(secs(1.0), 1000), synack(secs(1.0) + 50, 5000, 1001)],
        );
        let a = t.segment(&ack(secs(1.0) + 60, 1001, 5001)).unwrap();
        assert_eq!(a.outcome, Outcome::Established);
        assert_eq!(a.earlier, Some(Outcome::Unreachable));
        assert_eq!(a.syn_count, 2);
        assert_eq!(a.rtt(), Some(Duration::from_micros(50)));
    }

    #[test]
    fn a_new_isn_on_the_same_ports_decides_the_old_attempt() {
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1000), syn(secs(1.0), 1000)]);
        let old = t.segment(&syn(secs(1.5), 2000)).unwrap();
        assert_eq!(old.outcome, Outcome::Unanswered);
        assert_eq!(old.decided, Decided::NewAttempt);
        assert_eq!((old.isn, old.syn_count), (1000, 2));
        feed(&mut t, &[synack(secs(1.5) + 30, 9000, 2001)]);
        let new = t.segment(&ack(secs(1.5) + 40, 2001, 9001)).unwrap();
        assert_eq!(new.outcome, Outcome::Established);
        assert_eq!(
            (new.isn, new.syn_count, new.first_syn),
            (2000, 1, at(secs(1.5)))
        );

        // After a SYN/ACK, the old one stood not acknowledged.
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1000), synack(41, 5000, 1001)]);
        let old = t.segment(&syn(secs(2.0), 3000)).unwrap();
        assert_eq!(old.outcome, Outcome::NotAcknowledged);
        assert_eq!(old.decided, Decided::NewAttempt);
        assert_eq!(t.pending_len(), 1);
    }

    #[test]
    fn segments_of_connections_whose_syn_was_not_seen_are_ignored() {
        let mut t = tracker();
        feed(
            &mut t,
            &[
                seg(0, C, S, ACK | PSH, 1, 2),
                seg(1, S, C, ACK, 2, 100),
                seg(2, S, C, SYN | ACK, 5000, 1001),
                seg(3, C, S, ACK, 1001, 5001),
                seg(4, C, S, RST, 1001, 0),
                seg(5, S, C, FIN | ACK, 9, 9),
            ],
        );
        assert_eq!(t.stats().ignored, 6);
        assert_eq!(t.pending_len(), 0);
        assert_eq!(t.icmp(&icmp(6, C, S, Some(1))), None);
        assert_eq!(t.stats().ignored, 7);
        assert!(t.expire(at(secs(1000.0))).is_empty());
        assert!(t.finish().is_empty());
    }

    #[test]
    fn simultaneous_open_is_established_whatever_the_order_of_the_synacks() {
        for client_first in [true, false] {
            let mut t = tracker();
            feed(&mut t, &[syn(0, 100), seg(10, S, C, SYN, 900, 0)]);
            let (client_at, server_at) = if client_first { (20, 30) } else { (30, 20) };
            let client_synack = seg(client_at, C, S, SYN | ACK, 100, 901);
            let server_synack = seg(server_at, S, C, SYN | ACK, 900, 101);
            let (first, second) = if client_first {
                (client_synack, server_synack)
            } else {
                (server_synack, client_synack)
            };
            feed(&mut t, &[first]);
            let a = t.segment(&second).expect("decided");
            assert_eq!(
                a.outcome,
                Outcome::Established,
                "client first: {client_first}"
            );
            assert!(a.simultaneous);
            assert_eq!(
                (a.synack, a.ack),
                (Some(at(server_at)), Some(at(client_at)))
            );
            assert_eq!(a.total(), Some(Duration::from_micros(client_at)));
            assert_eq!(t.pending_len(), 0);
            assert!(t.finish().is_empty());
        }
    }

    #[test]
    fn simultaneous_open_where_the_peer_acks_with_a_pure_ack() {
        let mut t = tracker();
        feed(
            &mut t,
            &[
                syn(0, 100),
                seg(10, S, C, SYN, 900, 0),
                seg(20, C, S, SYN | ACK, 100, 901),
            ],
        );
        let a = t.segment(&seg(30, S, C, ACK, 901, 101)).unwrap();
        assert_eq!(a.outcome, Outcome::Established);
        assert_eq!(a.server_isn, Some(900));
    }

    #[test]
    fn a_socket_connected_to_itself_is_established() {
        let me = "127.0.0.1:50000";
        let mut t = tracker();
        feed(&mut t, &[seg(0, me, me, SYN, 77, 0)]);
        let a = t.segment(&seg(10, me, me, SYN | ACK, 77, 78)).unwrap();
        assert_eq!(a.outcome, Outcome::Established);
        assert!(a.simultaneous);
        assert_eq!(a.client, a.server);
    }

    #[test]
    fn ipv6_attempts_are_tracked() {
        let (c6, s6) = ("[2001:db8::5]:40000", "[2001:db8::1]:443");
        let mut t = tracker();
        feed(
            &mut t,
            &[
                seg(0, c6, s6, SYN, 1, 0),
                // The same ports over IPv4 are another attempt.
                seg(1, "10.0.0.5:40000", "10.0.0.1:443", SYN, 1, 0),
                seg(5, s6, c6, SYN | ACK, 50, 2),
            ],
        );
        let a = t.segment(&seg(9, c6, s6, ACK, 2, 51)).unwrap();
        assert_eq!(a.outcome, Outcome::Established);
        assert_eq!((a.client, a.server), (addr(c6), addr(s6)));
        let rest = t.finish();
        assert_eq!(rest.len(), 1);
        assert!(rest[0].client.is_ipv4());
    }

    #[test]
    fn silence_decides_after_the_linux_retransmission_schedule() {
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1)]);
        assert!(t.expire(at(secs(1.0) - 1)).is_empty());
        feed(&mut t, &[syn(secs(1.0), 1)]);
        // After one retransmission: the 3.5 s minimum (the next SYN is due at 3 s).
        assert!(t.expire(at(secs(3.0) - 1)).is_empty());
        feed(&mut t, &[syn(secs(3.0), 1)]);
        // After the second: still 3.5 s (1.5 × 2 s is less), so 6.5 s, before the SYN due at 7 s.
        assert!(t.expire(at(secs(6.5) - 1)).is_empty());
        let decided = t.expire(at(secs(6.5)));
        assert_eq!(decided.len(), 1);
        let a = &decided[0];
        assert_eq!(
            (a.outcome, a.decided),
            (Outcome::Unanswered, Decided::Silence)
        );
        assert_eq!(
            (a.syn_count, a.first_syn, a.last_syn),
            (3, at(0), at(secs(3.0)))
        );
        // The next retransmissions are not reported again.
        feed(&mut t, &[syn(secs(7.0), 1), syn(secs(15.0), 1)]);
        assert!(t.expire(at(secs(40.0))).is_empty());
        assert_eq!(t.stats().suppressed, 2);
        assert!(t.finish().is_empty());
    }

    #[test]
    fn a_single_syn_is_decided_after_the_minimum_silence() {
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1)]);
        assert!(t.expire(at(secs(3.5) - 1)).is_empty());
        assert_eq!(t.expire(at(secs(3.5))).len(), 1);
    }

    #[test]
    fn silence_follows_long_gaps_up_to_the_cap() {
        // Windows-like: 3 s initial timeout. 1.5 × 3 s = 4.5 s after the retransmission.
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1), syn(secs(3.0), 1)]);
        assert!(t.expire(at(secs(7.5) - 1)).is_empty());
        assert_eq!(t.expire(at(secs(7.5))).len(), 1);
        // A 20 s gap would give 30 s; the cap is 10 s.
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1), syn(secs(20.0), 1)]);
        assert!(t.expire(at(secs(30.0) - 1)).is_empty());
        assert_eq!(t.expire(at(secs(30.0))).len(), 1);
    }

    #[test]
    fn a_synack_without_ack_is_decided_by_silence_after_its_retransmissions() {
        let mut t = tracker();
        feed(
            &mut t,
            &[
                syn(0, 1),
                synack(200, 9, 2),
                synack(secs(1.0) + 200, 9, 2),
                synack(secs(3.0) + 200, 9, 2),
            ],
        );
        assert!(t.expire(at(secs(6.5) + 199)).is_empty());
        let decided = t.expire(at(secs(6.5) + 200));
        assert_eq!(decided.len(), 1);
        let a = &decided[0];
        assert_eq!(
            (a.outcome, a.decided),
            (Outcome::NotAcknowledged, Decided::Silence)
        );
        assert_eq!((a.synack_count, a.synack), (3, Some(at(200))));
        feed(&mut t, &[synack(secs(7.0) + 200, 9, 2)]);
        assert_eq!(t.stats().suppressed, 1);
    }

    #[test]
    fn an_answer_after_a_silence_decision_is_reported_late() {
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1), syn(secs(1.0), 1), syn(secs(3.0), 1)]);
        assert_eq!(t.expire(at(secs(6.5))).len(), 1);
        feed(&mut t, &[syn(secs(7.0), 1), synack(secs(7.0) + 200, 9, 2)]);
        assert_eq!(t.pending_len(), 1);
        let a = t.segment(&ack(secs(7.0) + 300, 2, 10)).unwrap();
        assert_eq!(a.outcome, Outcome::Established);
        assert_eq!(a.earlier, Some(Outcome::Unanswered));
        assert_eq!(a.syn_count, 4);
        assert_eq!(a.rtt(), Some(Duration::from_micros(200)));
        assert_eq!(a.total(), Some(Duration::from_micros(7_000_300)));
        // A late refusal too.
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1)]);
        assert_eq!(t.expire(at(secs(3.5))).len(), 1);
        let a = t.segment(&seg(secs(4.0), S, C, RST | ACK, 0, 2)).unwrap();
        assert_eq!(
            (a.outcome, a.earlier),
            (Outcome::Refused, Some(Outcome::Unanswered))
        );
        // Stray segments do not take a reported attempt up again.
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1)]);
        assert_eq!(t.expire(at(secs(3.5))).len(), 1);
        feed(
            &mut t,
            &[synack(secs(4.0), 9, 12345), seg(secs(4.1), S, C, RST, 0, 0)],
        );
        assert_eq!(t.pending_len(), 0);
        assert!(t.expire(at(secs(100.0))).is_empty());
    }

    #[test]
    fn finish_decides_every_pending_attempt_as_it_stands() {
        let mut t = tracker();
        feed(
            &mut t,
            &[
                syn(secs(1.0), 1),
                seg(0, "10.0.0.6:1", S, SYN, 5, 0),
                seg(10, S, "10.0.0.6:1", SYN | ACK, 70, 6),
            ],
        );
        let a = t.finish();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].client, addr("10.0.0.6:1"));
        assert_eq!(
            (a[0].outcome, a[0].decided),
            (Outcome::NotAcknowledged, Decided::End)
        );
        assert_eq!(a[1].client, addr(C));
        assert_eq!(
            (a[1].outcome, a[1].decided),
            (Outcome::Unanswered, Decided::End)
        );
    }

    #[test]
    fn the_synack_may_go_by_another_path() {
        let mut t = tracker();
        feed(&mut t, &[syn(0, 1000)]);
        // Not the next sequence number: not this handshake's ACK.
        feed(&mut t, &[ack(40, 5000, 1)]);
        let a = t.segment(&ack(50, 1001, 777)).unwrap();
        assert_eq!(a.outcome, Outcome::Established);
        assert_eq!((a.synack, a.ack, a.rtt()), (None, Some(at(50)), None));
        assert_eq!(a.total(), Some(Duration::from_micros(50)));
    }

    #[test]
    fn a_fast_open_syn_with_data_may_be_acknowledged_past_its_payload() {
        let mut t = tracker();
        let mut first = syn(0, 1000);
        first.len = 100;
        feed(&mut t, &[first, synack(40, 5000, 1101)]);
        let a = t.segment(&ack(50, 1101, 5001)).unwrap();
        assert_eq!((a.outcome, a.wrong_acks), (Outcome::Established, 0));
    }

    #[test]
    fn timestamps_never_go_back_within_an_attempt() {
        let mut t = tracker();
        feed(&mut t, &[syn(1000, 1), synack(900, 9, 2)]);
        let a = t.segment(&ack(800, 2, 10)).unwrap();
        assert_eq!((a.synack, a.ack), (Some(at(1000)), Some(at(1000))));
        assert_eq!(a.rtt(), Some(Duration::ZERO));
        assert_eq!(a.total(), Some(Duration::ZERO));
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut t = tracker();
        feed(&mut t, &[syn(0, u32::MAX), synack(10, u32::MAX, 0)]);
        let a = t.segment(&ack(20, 0, 0)).unwrap();
        assert_eq!(a.outcome, Outcome::Established);
    }

    #[test]
    fn a_syn_flood_keeps_memory_bounded() {
        let config = Config::default();
        let mut t = Tracker::new(config);
        let server = addr("10.9.9.9:80");
        let mut early = 0usize;
        for i in 0..200_000u32 {
            let s = Segment {
                ts: at(u64::from(i)),
                src: SocketAddr::new(
                    IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]),
                    1024 + (i % 60_000) as u16,
                ),
                dst: server,
                flags: SYN,
                seq: i.wrapping_mul(2_654_435_761),
                ack: 0,
                len: 0,
            };
            if let Some(a) = t.segment(&s) {
                assert_eq!((a.outcome, a.decided), (Outcome::Unanswered, Decided::Full));
                early += 1;
            }
            assert!(t.pending.len() <= config.max_pending);
            assert!(t.deadlines.len() <= 2 * t.pending.len() + 65);
            assert!(t.reported.len() <= config.max_remembered);
            assert!(t.reported_order.len() <= 2 * t.reported.len() + 65);
        }
        assert_eq!(early, 200_000 - config.max_pending);
        assert_eq!(t.stats().evicted, early as u64);
        assert_eq!(t.pending_len(), config.max_pending);
        // The ones still waiting are decided by silence, then forgotten.
        let decided = t.expire(at(secs(60.0)));
        assert_eq!(decided.len(), config.max_pending);
        assert!(decided.windows(2).all(|w| w[0].first_syn <= w[1].first_syn));
        assert_eq!(t.pending_len(), 0);
        assert!(t.expire(at(secs(1000.0))).is_empty());
        assert_eq!(t.remembered_len(), 0);
        assert!(t.reported_order.is_empty());
    }

    #[test]
    fn new_attempts_on_one_tuple_keep_memory_bounded() {
        let mut t = tracker();
        let mut decided = 0;
        for i in 0..10_000u32 {
            decided += usize::from(t.segment(&syn(u64::from(i), i)).is_some());
        }
        assert_eq!(decided, 9_999);
        assert_eq!(t.pending_len(), 1);
        assert!(t.deadlines.len() <= 2 + 64);
        assert_eq!(t.remembered_len(), 0);
    }

    #[test]
    fn tiny_limits_are_honoured() {
        let mut t = Tracker::new(Config {
            max_pending: 0,
            max_remembered: 3,
            ..Config::default()
        });
        let mut decided = 0;
        for i in 0..10u16 {
            let s = seg(
                u64::from(i),
                &format!("10.0.0.5:{}", 1000 + i),
                S,
                SYN,
                1,
                0,
            );
            decided += usize::from(t.segment(&s).is_some());
            assert_eq!(t.pending_len(), 1);
            assert!(t.remembered_len() <= 3);
        }
        assert_eq!(decided, 9);
        let mut t = Tracker::new(Config {
            max_remembered: 0,
            ..Config::default()
        });
        feed(&mut t, &[syn(0, 1)]);
        assert!(t.segment(&seg(10, S, C, RST | ACK, 0, 2)).is_some());
        assert_eq!(t.remembered_len(), 0);
    }

    #[test]
    fn outcome_names() {
        let names: Vec<&str> = [
            Outcome::Established,
            Outcome::Refused,
            Outcome::Reset,
            Outcome::Unreachable,
            Outcome::Unanswered,
            Outcome::NotAcknowledged,
        ]
        .iter()
        .map(|o| o.name())
        .collect();
        assert_eq!(
            names,
            [
                "established",
                "refused",
                "reset",
                "unreachable",
                "unanswered",
                "not-acknowledged"
            ]
        );
        assert_eq!(
            serde_json::to_string(&Outcome::NotAcknowledged).unwrap(),
            "\"not-acknowledged\""
        );
        assert_eq!(
            serde_json::to_string(&Decided::NewAttempt).unwrap(),
            "\"new-attempt\""
        );
    }
}
