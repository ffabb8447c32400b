//! `ping`: ICMP echo (v4 and v6, raw or datagram sockets), TCP connect and UDP echo round
//! trips, to one host or many at once, with iputils-style statistics.
//!
//! The probing engines ([`icmp`], [`transport`]) emit [`Event`]s; [`Tally`] turns them into
//! per-host [`HostStats`](stats::HostStats); [`report`] renders both. Packets are built and
//! parsed by the pure functions of [`packet`]; sockets live in [`socket`]. [`trace`] is the
//! hop-by-hop path engine (`sockscope trace`), on the same ICMP sockets.

pub mod icmp;
pub mod packet;
pub mod report;
pub mod socket;
pub mod stats;
pub mod trace;
pub mod transport;

use std::net::{IpAddr, ToSocketAddrs};
use std::time::Duration;

use crate::error::Error;
use packet::Family;
use stats::HostStats;

/// What is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Icmp,
    Tcp(u16),
    Udp(u16),
}

impl Proto {
    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Icmp => "icmp",
            Proto::Tcp(_) => "tcp",
            Proto::Udp(_) => "udp",
        }
    }
}

/// A host to ping: what the user typed and the address it resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub addr: IpAddr,
    /// The interface of a link-local IPv6 address (`fe80::1%eth0`), 0 for none.
    pub scope: u32,
}

impl Target {
    /// The socket address to send to (`port` 0 for ICMP), with the link-local scope.
    pub fn socket_addr(&self, port: u16) -> std::net::SocketAddr {
        match self.addr {
            IpAddr::V6(v6) => std::net::SocketAddrV6::new(v6, port, 0, self.scope).into(),
            ip => std::net::SocketAddr::new(ip, port),
        }
    }
}

/// A validated ping run.
#[derive(Debug, Clone)]
pub struct Config {
    pub proto: Proto,
    /// Requests per host; none: until the deadline or Ctrl-C.
    pub count: Option<u64>,
    pub interval: Duration,
    /// How long to wait for each reply.
    pub timeout: Duration,
    /// Stop after this long in any case.
    pub deadline: Option<Duration>,
    /// Payload bytes (ICMP, UDP).
    pub size: usize,
    pub ttl: Option<u8>,
}

/// Something that happened to one request of one host (`host` indexes the targets; `seq`
/// counts from 1 per host).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The sockets are open and probing begins (once, first).
    Started,
    Sent {
        host: usize,
        seq: u64,
    },
    Reply {
        host: usize,
        seq: u64,
        from: IpAddr,
        bytes: usize,
        ttl: Option<u8>,
        rtt_ms: f64,
        dup: bool,
        /// TCP: the host answered with RST.
        refused: bool,
        /// The payload came back different.
        bad_data: bool,
    },
    /// No answer within the timeout (a reply may still come late).
    Timeout {
        host: usize,
        seq: u64,
    },
    /// An ICMP error about the request, or a local failure to send it.
    Error {
        host: usize,
        seq: u64,
        from: Option<IpAddr>,
        text: String,
    },
}

/// Per-host counters, fed with events.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub hosts: Vec<HostStats>,
    highest_reply: Vec<u64>,
}

impl Tally {
    pub fn new(n: usize) -> Tally {
        Tally {
            hosts: vec![HostStats::default(); n],
            highest_reply: vec![0; n],
        }
    }

    /// Counts an event; returns whether it is a reply that came out of order (after a reply
    /// to a later request).
    pub fn record(&mut self, ev: &Event) -> bool {
        match *ev {
            Event::Sent { host, .. } => {
                if let Some(h) = self.hosts.get_mut(host) {
                    h.transmitted += 1;
                }
                false
            }
            Event::Reply {
                host,
                seq,
                rtt_ms,
                dup,
                ..
            } => {
                let (Some(h), Some(high)) =
                    (self.hosts.get_mut(host), self.highest_reply.get_mut(host))
                else {
                    return false;
                };
                if dup {
                    h.duplicates += 1;
                    return false;
                }
                h.received += 1;
                h.rtt.add(rtt_ms.max(0.0));
                let out_of_order = seq < *high;
                *high = (*high).max(seq);
                out_of_order
            }
            Event::Timeout { .. } | Event::Started => false,
            Event::Error { host, .. } => {
                if let Some(h) = self.hosts.get_mut(host) {
                    h.errors += 1;
                }
                false
            }
        }
    }
}

/// Catches Ctrl-C (SIGINT) so the run can stop and print its summary, as iputils does.
pub fn catch_interrupt() {
    crate::signals::catch(&[libc::SIGINT]);
}

/// Whether Ctrl-C was pressed.
pub fn interrupted() -> bool {
    crate::signals::stop_requested()
}

/// Resolves a host to one address of the wanted family and its link-local scope: literal
/// addresses with a zone (`fe80::1%eth0`) are taken apart by the system's numeric parser, so no
/// name lookup happens for them.
pub fn resolve_scoped(host: &str, want: Option<Family>) -> Result<(IpAddr, u32), Error> {
    let text = host.trim();
    if text.contains('%') {
        let literal = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        let addrs = (literal, 0u16).to_socket_addrs().map_err(|e| {
            Error::Usage(format!("'{host}' is not an address with an interface: {e}"))
        })?;
        for a in addrs {
            if let std::net::SocketAddr::V6(v6) = a
                && want.is_none_or(|f| f == Family::V6)
            {
                return Ok((IpAddr::V6(*v6.ip()), v6.scope_id()));
            }
        }
        return Err(Error::Usage(format!(
            "'{host}': an interface (%) goes with an IPv6 address"
        )));
    }
    resolve(host, want).map(|ip| (ip, 0))
}

/// Resolves a host (literal address or name) to one address of the wanted family.
pub fn resolve(host: &str, want: Option<Family>) -> Result<IpAddr, Error> {
    let text = host.trim();
    let literal = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    if text.is_empty() {
        return Err(Error::Usage("empty host name".into()));
    }
    if let Ok(addr) = literal.parse::<IpAddr>() {
        return match want {
            Some(f) if Family::of(addr) != f => Err(Error::Usage(format!(
                "'{host}' is an IPv{} address, but -{} asks for IPv{}",
                if addr.is_ipv4() { 4 } else { 6 },
                if f == Family::V4 { 4 } else { 6 },
                if f == Family::V4 { 4 } else { 6 },
            ))),
            _ => Ok(addr),
        };
    }
    let addrs = (literal, 0u16)
        .to_socket_addrs()
        .map_err(|e| Error::Usage(format!("cannot resolve '{host}': {e}")))?;
    let mut found = false;
    for a in addrs {
        found = true;
        if want.is_none_or(|f| Family::of(a.ip()) == f) {
            return Ok(a.ip());
        }
    }
    Err(Error::Usage(if found {
        format!("'{host}' has no address of the family asked for (-4/-6)")
    } else {
        format!("cannot resolve '{host}': no address")
    }))
}

/// Runs the pings, calling `sink` with every event (and whether a reply came out of order);
/// returns the per-host statistics and the run's duration.
pub fn run(
    targets: &[Target],
    cfg: &Config,
    sink: &mut dyn FnMut(&Event, bool) -> std::io::Result<()>,
) -> Result<(Vec<HostStats>, Duration), Error> {
    let mut tally = Tally::new(targets.len());
    let mut feed = |ev: &Event| -> std::io::Result<()> {
        let ooo = tally.record(ev);
        sink(ev, ooo)
    };
    let elapsed = match cfg.proto {
        Proto::Icmp => icmp::run(targets, cfg, &mut feed)?,
        Proto::Tcp(_) | Proto::Udp(_) => transport::run(targets, cfg, &mut feed)?,
    };
    Ok((tally.hosts, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn reply(seq: u64, rtt_ms: f64, dup: bool) -> Event {
        Event::Reply {
            host: 0,
            seq,
            from: LO,
            bytes: 64,
            ttl: Some(64),
            rtt_ms,
            dup,
            refused: false,
            bad_data: false,
        }
    }

    #[test]
    fn tally_counts_replies_dups_errors_and_order() {
        let mut t = Tally::new(2);
        for seq in 1..=4 {
            t.record(&Event::Sent { host: 0, seq });
        }
        assert!(!t.record(&reply(2, 1.0, false)));
        assert!(
            t.record(&reply(1, 3.0, false)),
            "seq 1 after seq 2 is out of order"
        );
        assert!(!t.record(&reply(1, 3.0, true)));
        t.record(&Event::Timeout { host: 0, seq: 3 });
        t.record(&Event::Error {
            host: 0,
            seq: 4,
            from: None,
            text: "x".into(),
        });
        // Events for unknown hosts are ignored, not a panic.
        t.record(&Event::Sent { host: 9, seq: 1 });
        let h = t.hosts[0];
        assert_eq!(
            (h.transmitted, h.received, h.duplicates, h.errors),
            (4, 2, 1, 1)
        );
        assert_eq!(h.rtt.avg(), Some(2.0));
        assert_eq!(h.loss_pct(), 50.0);
        assert_eq!(t.hosts[1], HostStats::default());
    }

    #[test]
    fn resolve_literals_and_families() {
        assert_eq!(resolve("127.0.0.1", None).unwrap(), LO);
        assert_eq!(
            resolve("[::1]", Some(Family::V6)).unwrap(),
            "::1".parse::<IpAddr>().unwrap()
        );
        assert!(matches!(
            resolve("::1", Some(Family::V4)),
            Err(Error::Usage(_))
        ));
        assert!(matches!(resolve("", None), Err(Error::Usage(_))));
        // A label longer than 63 characters fails inside the resolver, without a query.
        let long = format!("{}.test", "a".repeat(70));
        assert!(matches!(resolve(&long, None), Err(Error::Usage(_))));
    }
}
