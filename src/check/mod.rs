//! `check`: is a server listening? A real connect (or UDP) probe to every address of each
//! target, classified as DESIGN.md says, plus — for targets on this host — what the local
//! socket table says about the port.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;

use crate::probe::{self, Outcome, Probe};
use crate::sockets::collect::{self, OwnerScan, Query};
use crate::sockets::{Family, ProcessInfo, Proto, State};

/// One `HOST:PORT` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckTarget {
    pub host: String,
    pub port: u16,
}

impl CheckTarget {
    /// Parses `host:80`, `10.0.0.1:80`, `[::1]:80`.
    pub fn parse(text: &str) -> Result<CheckTarget, String> {
        let bad = || {
            format!("'{text}' is not HOST:PORT (examples: localhost:8080, 10.0.0.5:443, [::1]:22)")
        };
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        // Brackets come in pairs, around the whole host.
        if host.starts_with('[') != host.ends_with(']') {
            return Err(bad());
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad());
        }
        // An IPv6 address needs its brackets, or the port would be ambiguous.
        if host.contains(':') && !text.starts_with('[') {
            return Err(bad());
        }
        let port: u16 = port.parse().ok().filter(|&p| p != 0).ok_or_else(bad)?;
        Ok(CheckTarget {
            host: host.to_string(),
            port,
        })
    }

    fn label(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A verdict, with the names scripts see in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    #[serde(rename = "open")]
    Open,
    #[serde(rename = "refused")]
    Refused,
    #[serde(rename = "timeout")]
    Timeout,
    #[serde(rename = "unreachable")]
    Unreachable,
    #[serde(rename = "dns-error")]
    DnsError,
    /// UDP: ICMP port unreachable.
    #[serde(rename = "closed")]
    Closed,
    /// UDP: no answer at all (an open port that does not answer looks the same).
    #[serde(rename = "open|filtered")]
    OpenFiltered,
    #[serde(rename = "error")]
    Error,
}

impl Status {
    /// The JSON/table name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Refused => "refused",
            Status::Timeout => "timeout",
            Status::Unreachable => "unreachable",
            Status::DnsError => "dns-error",
            Status::Closed => "closed",
            Status::OpenFiltered => "open|filtered",
            Status::Error => "error",
        }
    }

    /// Which verdict speaks for a target with several addresses: open beats everything, then
    /// the most definite answer.
    fn rank(self) -> u8 {
        match self {
            Status::Open => 0,
            Status::Refused | Status::Closed => 1,
            Status::OpenFiltered => 2,
            Status::Unreachable => 3,
            Status::Timeout => 4,
            Status::Error => 5,
            Status::DnsError => 6,
        }
    }
}

impl From<Outcome> for Status {
    /// A target's verdict from the probe of one of its addresses.
    fn from(o: Outcome) -> Status {
        match o {
            Outcome::Open => Status::Open,
            Outcome::Refused => Status::Refused,
            Outcome::Timeout => Status::Timeout,
            Outcome::Unreachable => Status::Unreachable,
            Outcome::Closed => Status::Closed,
            Outcome::OpenFiltered => Status::OpenFiltered,
            Outcome::Error => Status::Error,
        }
    }
}

/// A local socket bound to the probed port.
#[derive(Debug, Clone, Serialize)]
pub struct LocalSocket {
    pub local_addr: String,
    pub local_port: u16,
    pub state: State,
    /// Whether this socket accepts the probed address (its own, or a wildcard).
    pub serves_target: bool,
    /// An IPv6 socket that takes no IPv4 (IPV6_V6ONLY).
    pub v6only: bool,
    pub processes: Vec<ProcessInfo>,
    pub owners_hidden: bool,
}

/// The verdict on one target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetResult {
    pub target: String,
    pub host: String,
    pub port: u16,
    pub proto: &'static str,
    pub status: Status,
    pub time_ms: Option<f64>,
    pub addresses: Vec<Probe>,
    /// Whether the target is an address of this host.
    pub local: bool,
    /// For a local target: the sockets bound to the port.
    pub listeners: Vec<LocalSocket>,
    /// What the local socket table says, in words.
    pub note: Option<String>,
}

impl TargetResult {
    /// Open, for TCP; for UDP an echo reply.
    pub fn is_open(&self) -> bool {
        self.status == Status::Open
    }
}

/// Probes every target once, concurrently.
pub async fn check_all(targets: &[CheckTarget], udp: bool, timeout: Duration) -> Vec<TargetResult> {
    let mut out = join_all(targets.iter().map(|t| check_one(t, udp, timeout)).collect()).await;
    let local = probe::local_addresses();
    for r in &mut out {
        annotate_local(r, &local, udp);
    }
    out
}

/// Runs borrowed futures together (each is bounded by its own timeout) and keeps their order.
async fn join_all<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = fs.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => results[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().flatten().collect()
}

async fn check_one(t: &CheckTarget, udp: bool, timeout: Duration) -> TargetResult {
    let mut result = TargetResult {
        target: t.label(),
        host: t.host.clone(),
        port: t.port,
        proto: if udp { "udp" } else { "tcp" },
        status: Status::DnsError,
        time_ms: None,
        addresses: Vec::new(),
        local: false,
        listeners: Vec::new(),
        note: None,
    };
    let addrs: Vec<SocketAddr> =
        match tokio::time::timeout(timeout, tokio::net::lookup_host((t.host.as_str(), t.port)))
            .await
        {
            Ok(Ok(a)) => {
                let mut v: Vec<SocketAddr> = a.collect();
                v.dedup();
                v
            }
            Ok(Err(e)) => {
                result.note = Some(format!("cannot resolve {}: {e}", t.host));
                return result;
            }
            Err(_) => {
                result.note = Some(format!("resolving {} took longer than {timeout:?}", t.host));
                return result;
            }
        };
    if addrs.is_empty() {
        result.note = Some(format!("{} has no address", t.host));
        return result;
    }
    let probes = addrs.iter().map(|&a| async move {
        if udp {
            probe::udp(a, timeout).await
        } else {
            probe::tcp(a, timeout).await
        }
    });
    result.addresses = join_all(probes.collect()).await;
    if let Some(best) = result
        .addresses
        .iter()
        .min_by_key(|a| Status::from(a.status).rank())
    {
        result.status = best.status.into();
        result.time_ms = best.time_ms;
    }
    result
}

fn is_local(ip: IpAddr, local: &[IpAddr]) -> bool {
    ip.is_loopback() || local.contains(&ip)
}

/// Whether a socket bound to `bound` (IPV6_V6ONLY if `v6only`) accepts connections to `target`.
pub fn serves(bound: IpAddr, v6only: bool, target: IpAddr) -> bool {
    let target = match target {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(target),
        t => t,
    };
    match bound {
        // [::] takes IPv4 too unless it is v6-only (Linux's default is not).
        IpAddr::V6(v6) if v6.is_unspecified() => !v6only || target.is_ipv6(),
        IpAddr::V4(v4) if v4.is_unspecified() => target.is_ipv4(),
        b => b == target,
    }
}

/// For a target on this host, names the listening socket and its process, or explains why
/// nothing answers (bound only on another address, or not at all).
fn annotate_local(r: &mut TargetResult, local: &[IpAddr], udp: bool) {
    let targets: Vec<IpAddr> = r
        .addresses
        .iter()
        .map(|a| a.addr.ip())
        .filter(|ip| is_local(*ip, local))
        .collect();
    if targets.is_empty() {
        return;
    }
    r.local = true;
    let query = Query {
        protocols: vec![if udp { Proto::Udp } else { Proto::Tcp }],
        families: vec![Family::Inet, Family::Inet6],
        state_mask: Query::mask_of(&[if udp { State::Unconn } else { State::Listen }]),
        health: false,
    };
    let port = r.port;
    let keep = |s: &crate::sockets::Socket| s.local.port == Some(port);
    let backend = collect::default_backend();
    let snap = match collect::collect(&*backend, &query, &keep, OwnerScan::Kept) {
        Ok(s) => s,
        Err(e) => {
            r.note = Some(format!("cannot read the local socket table: {e}"));
            return;
        }
    };
    for s in &snap.sockets {
        let Some(ip) = s.local.addr.as_ip() else {
            continue;
        };
        r.listeners.push(LocalSocket {
            local_addr: ip.to_string(),
            local_port: port,
            state: s.state,
            serves_target: targets.iter().any(|t| serves(ip, s.v6only, *t)),
            v6only: s.v6only,
            processes: s
                .owners
                .pids()
                .iter()
                .filter_map(|p| snap.processes.get(p).cloned())
                .collect(),
            owners_hidden: s.owners == crate::sockets::Owners::Hidden,
        });
    }
    let what = if udp { "bound" } else { "listening" };
    let proto = if udp { "udp" } else { "tcp" };
    let serving: Vec<&LocalSocket> = r.listeners.iter().filter(|l| l.serves_target).collect();
    r.note = Some(if let Some(l) = serving.first() {
        format!(
            "{what} on {}:{} ({})",
            bracket(&l.local_addr),
            port,
            owner_words(l)
        )
    } else if r.listeners.is_empty() {
        format!("nothing is {what} on {proto} port {port} on this host")
    } else {
        let elsewhere: Vec<String> = r
            .listeners
            .iter()
            .map(|l| {
                let v6only = if l.v6only { " (v6-only)" } else { "" };
                format!("{}:{port}{v6only}", bracket(&l.local_addr))
            })
            .collect();
        let asked: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
        format!(
            "port {port} is {what} only on {}, not on {}",
            elsewhere.join(", "),
            asked.join(", ")
        )
    });
}

fn bracket(addr: &str) -> String {
    if addr.contains(':') {
        format!("[{addr}]")
    } else {
        addr.to_string()
    }
}

fn owner_words(l: &LocalSocket) -> String {
    if l.owners_hidden {
        return "owner hidden: needs root".into();
    }
    if l.processes.is_empty() {
        return "no process".into();
    }
    l.processes
        .iter()
        .map(|p| format!("pid {} {}", p.pid, p.name))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(
            CheckTarget::parse("localhost:80"),
            Ok(CheckTarget {
                host: "localhost".into(),
                port: 80
            })
        );
        assert_eq!(
            CheckTarget::parse("[::1]:22"),
            Ok(CheckTarget {
                host: "::1".into(),
                port: 22
            })
        );
        assert_eq!(CheckTarget::parse("[::1]:22").unwrap().label(), "[::1]:22");
        for bad in [
            "",
            "host",
            ":80",
            "host:0",
            "host:70000",
            "::1:22",
            "host:http",
            "[::1:80",
            "::1]:80",
        ] {
            assert!(CheckTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wildcard_and_exact_binding() {
        let v4 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(serves(v4("0.0.0.0"), false, v4("10.0.0.5")));
        assert!(!serves(v4("0.0.0.0"), false, v4("::1")));
        assert!(serves(v4("::"), false, v4("127.0.0.1")));
        assert!(!serves(v4("::"), true, v4("127.0.0.1")));
        assert!(serves(v4("::"), true, v4("::1")));
        assert!(serves(v4("127.0.0.1"), false, v4("127.0.0.1")));
        assert!(serves(v4("127.0.0.1"), false, v4("::ffff:127.0.0.1")));
        assert!(!serves(v4("127.0.0.1"), false, v4("10.0.0.5")));
        assert!(!serves(v4("::1"), false, v4("127.0.0.1")));
    }

    #[test]
    fn ranking_prefers_open_then_definite() {
        let mut v = [Status::Timeout, Status::Refused, Status::Unreachable];
        v.sort_by_key(|s| s.rank());
        assert_eq!(v[0], Status::Refused);
        assert!(Status::Open.rank() < Status::Refused.rank());
    }
}
