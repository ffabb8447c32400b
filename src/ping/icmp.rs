//! The ICMP echo engine: one socket per address family for all hosts, sends paced across the
//! hosts, replies and errors matched to requests by identifier, sequence and source, timeouts
//! per request. A single thread waits in ppoll, so the send times are taken right before
//! `sendto` and the receive times come from the kernel (SO_TIMESTAMPNS).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::ping::packet::{self, Family, IcmpError, Incoming};
use crate::ping::socket::{IcmpSocket, Kind, realtime_ns, wait};
use crate::ping::{Config, Event, Target, interrupted};

/// The longest gap between two sends to different hosts (fping uses 10 ms).
const PACE: Duration = Duration::from_millis(1);
/// How long before a send to wake up first (see the wait in [`run`]).
const WARMUP: Duration = Duration::from_micros(1000);
/// The longest single wait, so Ctrl-C and deadlines are noticed promptly in any case.
const MAX_WAIT: Duration = Duration::from_millis(200);

/// One request in flight (or answered, kept to recognise duplicates).
#[derive(Debug, Clone, Copy)]
struct Pending {
    host: usize,
    seq: u64,
    sent_ns: i128,
    answered: bool,
    errored: bool,
    timed_out: bool,
}

impl Pending {
    fn outstanding(&self) -> bool {
        !(self.answered || self.errored || self.timed_out)
    }
}

struct Engine<'a> {
    targets: &'a [Target],
    data: Vec<u8>,
    dests: Vec<socket2::SockAddr>,
    pending: HashMap<u16, Pending>,
    outstanding: usize,
    /// Replies (not duplicates) per host, for -c with -w.
    replies: Vec<u64>,
    feed: &'a mut dyn FnMut(&Event) -> io::Result<()>,
}

/// Pings every target over ICMP until the count is done, the deadline passes or Ctrl-C;
/// returns how long it ran.
pub fn run(
    targets: &[Target],
    cfg: &Config,
    feed: &mut dyn FnMut(&Event) -> io::Result<()>,
) -> Result<Duration, Error> {
    let needs = |f: Family| targets.iter().any(|t| Family::of(t.addr) == f);
    let v4 = if needs(Family::V4) {
        Some(IcmpSocket::open(Family::V4, cfg.ttl)?)
    } else {
        None
    };
    let v6 = if needs(Family::V6) {
        Some(IcmpSocket::open(Family::V6, cfg.ttl)?)
    } else {
        None
    };
    let socks: Vec<&IcmpSocket> = v4.iter().chain(v6.iter()).collect();
    let fds: Vec<_> = socks.iter().map(|s| s.fd()).collect();

    feed(&Event::Started)?;
    let n = targets.len();
    let pace = if n > 1 {
        PACE.min(cfg.interval / n as u32)
    } else {
        Duration::ZERO
    };
    let start = Instant::now();
    let end = cfg.deadline.map(|d| start + d);
    let mut next_due: Vec<Instant> = (0..n).map(|h| start + pace * h as u32).collect();
    let mut sent = vec![0u64; n];
    let mut timeouts: VecDeque<(Instant, u16, usize, u64)> = VecDeque::new();
    let mut wire_seq: u16 = 0;
    let mut buf = vec![0u8; 65_536 + 512];
    let mut e = Engine {
        targets,
        data: packet::payload(cfg.size),
        dests: targets
            .iter()
            .map(|t| socket2::SockAddr::from(t.socket_addr(0)))
            .collect(),
        pending: HashMap::new(),
        outstanding: 0,
        replies: vec![0; n],
        feed,
    };
    // -c alone: COUNT requests. -c with -w, as iputils: keep asking until COUNT replies came
    // back or the deadline passes.
    let more = |sent: &[u64], replies: &[u64], h: usize| match (cfg.count, cfg.deadline) {
        (Some(c), Some(_)) => replies[h] < c,
        (Some(c), None) => sent[h] < c,
        (None, _) => true,
    };

    loop {
        if interrupted() {
            break;
        }
        let now = Instant::now();
        if end.is_some_and(|t| now >= t) {
            break;
        }
        // Sends that are due.
        for h in 0..n {
            if more(&sent, &e.replies, h) && next_due[h] <= now {
                wire_seq = wire_seq.wrapping_add(1);
                sent[h] += 1;
                // After a stall (SIGSTOP, a blocked pipe) go on at the interval from now, as
                // iputils does, rather than sending every missed request in one burst.
                let next = next_due[h] + cfg.interval;
                next_due[h] = if next < now { now + cfg.interval } else { next };
                let sock = match Family::of(targets[h].addr) {
                    Family::V4 => v4.as_ref(),
                    Family::V6 => v6.as_ref(),
                };
                if let Some(sock) = sock {
                    e.send(sock, h, sent[h], wire_seq)?;
                    timeouts.push_back((Instant::now() + cfg.timeout, wire_seq, h, sent[h]));
                }
            }
        }
        // Requests whose time is up.
        let now = Instant::now();
        while let Some(&(at, wseq, h, seq)) = timeouts.front() {
            if at > now {
                break;
            }
            timeouts.pop_front();
            if let Some(p) = e.pending.get_mut(&wseq)
                && p.host == h
                && p.seq == seq
                && p.outstanding()
            {
                p.timed_out = true;
                e.outstanding -= 1;
                (e.feed)(&Event::Timeout { host: h, seq })?;
            }
        }
        let done = (0..n).all(|h| !more(&sent, &e.replies, h));
        if done && (e.outstanding == 0 || cfg.deadline.is_some() && cfg.count.is_some()) {
            break;
        }
        // Wait for a packet or the next thing to do.
        let mut wake = now + MAX_WAIT;
        for h in (0..n).filter(|&h| more(&sent, &e.replies, h)) {
            // A long sleep ends a little early, then a short one: the CPU is awake (not in a
            // deep idle state) when the send time is taken, which keeps RTTs honest.
            let due = next_due[h];
            let early = due.checked_sub(WARMUP).filter(|&t| t > now + WARMUP);
            wake = wake.min(early.unwrap_or(due));
        }
        if let Some(&(at, ..)) = timeouts.front() {
            wake = wake.min(at);
        }
        if let Some(t) = end {
            wake = wake.min(t);
        }
        let ns = wake.saturating_duration_since(Instant::now()).as_nanos() as i128;
        let revents = wait(&fds, ns).map_err(|err| Error::Other(format!("poll: {err}")))?;
        for (sock, rev) in socks.iter().zip(revents) {
            if rev & libc::POLLIN != 0 {
                while let Some(r) = sock
                    .recv(&mut buf)
                    .map_err(|err| Error::Other(format!("recvmsg: {err}")))?
                {
                    e.received(
                        sock,
                        &buf[..r.len],
                        r.from,
                        r.ttl,
                        r.stamp_ns.unwrap_or_else(realtime_ns),
                    )?;
                }
            }
            if rev & libc::POLLERR != 0 {
                e.drain_errors(sock, &mut buf)?;
            }
        }
    }
    Ok(start.elapsed())
}

impl Engine<'_> {
    /// Sends request `seq` of host `h` with wire sequence `wseq`.
    fn send(&mut self, sock: &IcmpSocket, h: usize, seq: u64, wseq: u16) -> Result<(), Error> {
        let Some(pkt) = packet::build_echo_request(sock.family, sock.id, wseq, &self.data) else {
            return Err(Error::Other("cannot build an ICMP echo request".into()));
        };
        let sent_ns = realtime_ns();
        let Some(to) = self.dests.get(h) else {
            return Ok(());
        };
        let result = sock.send_to(&pkt, to);
        let mut p = Pending {
            host: h,
            seq,
            sent_ns,
            answered: false,
            errored: false,
            timed_out: false,
        };
        (self.feed)(&Event::Sent { host: h, seq })?;
        match result {
            Ok(()) => {
                self.outstanding += 1;
                if let Some(old) = self.pending.insert(wseq, p) {
                    // A wrapped sequence number replaces a request that never resolved.
                    if old.outstanding() {
                        self.outstanding -= 1;
                    }
                }
            }
            Err(err) => {
                p.errored = true;
                if let Some(old) = self.pending.insert(wseq, p)
                    && old.outstanding()
                {
                    self.outstanding -= 1;
                }
                (self.feed)(&Event::Error {
                    host: h,
                    seq,
                    from: None,
                    text: format!("sendmsg: {err}"),
                })?;
            }
        }
        Ok(())
    }

    /// Handles one received packet.
    fn received(
        &mut self,
        sock: &IcmpSocket,
        bytes: &[u8],
        from: IpAddr,
        sock_ttl: Option<u8>,
        stamp_ns: i128,
    ) -> Result<(), Error> {
        let parsed = match sock.family {
            Family::V4 => packet::parse_v4(bytes, sock.kind == Kind::Raw),
            Family::V6 => packet::parse_v6(bytes),
        };
        match parsed {
            Some(Incoming::Reply {
                id,
                seq: wseq,
                data,
                ttl,
            }) if id == sock.id => {
                let Some(p) = self.pending.get_mut(&wseq) else {
                    return Ok(());
                };
                if self.targets[p.host].addr != from {
                    return Ok(());
                }
                // A reply cut short is no answer (iputils: "truncated"), and must not make the
                // real one that may follow look like a duplicate.
                if data.len() < self.data.len() {
                    return Ok(());
                }
                let dup = p.answered;
                if p.outstanding() {
                    self.outstanding -= 1;
                }
                if !dup {
                    self.replies[p.host] += 1;
                }
                p.answered = true;
                let ev = Event::Reply {
                    host: p.host,
                    seq: p.seq,
                    from,
                    bytes: data.len() + packet::ICMP_HEADER,
                    ttl: ttl.or(sock_ttl),
                    rtt_ms: (stamp_ns - p.sent_ns) as f64 / 1e6,
                    dup,
                    refused: false,
                    bad_data: data != self.data.as_slice(),
                };
                (self.feed)(&ev)?;
            }
            Some(Incoming::Error {
                error,
                id,
                seq: wseq,
                dest,
            }) if id == sock.id => {
                self.error(wseq, dest, Some(from), error.text())?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Records an error about request `wseq` to `dest`, once.
    fn error(
        &mut self,
        wseq: u16,
        dest: IpAddr,
        from: Option<IpAddr>,
        text: String,
    ) -> Result<(), Error> {
        let Some(p) = self.pending.get_mut(&wseq) else {
            return Ok(());
        };
        if self.targets[p.host].addr != dest || p.answered || p.errored {
            return Ok(());
        }
        if p.outstanding() {
            self.outstanding -= 1;
        }
        p.errored = true;
        let ev = Event::Error {
            host: p.host,
            seq: p.seq,
            from,
            text,
        };
        (self.feed)(&ev)?;
        Ok(())
    }

    /// Reads the error queue of a datagram socket: ICMP errors about our requests and local
    /// failures.
    fn drain_errors(&mut self, sock: &IcmpSocket, buf: &mut [u8]) -> Result<(), Error> {
        sock.clear_error();
        if sock.kind != Kind::Dgram {
            return Ok(());
        }
        while let Some(q) = sock
            .recv_error(buf)
            .map_err(|err| Error::Other(format!("recvmsg (errors): {err}")))?
        {
            let Some((_, wseq)) = packet::parse_own_request(sock.family, &buf[..q.len]) else {
                continue;
            };
            let Some(dest) = q.dest else { continue };
            let text = match q.icmp {
                Some((t, c)) => IcmpError {
                    family: sock.family,
                    icmp_type: t,
                    code: c,
                    mtu: Some(q.info),
                }
                .text(),
                None => io::Error::from_raw_os_error(q.errno).to_string(),
            };
            self.error(wseq, dest, q.offender, text)?;
        }
        Ok(())
    }
}
