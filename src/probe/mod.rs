//! Probes: the one place where sockscope asks the network and the kernel about a destination.
//!
//! A TCP connect probe and a UDP probe with their classification (open, refused, timeout,
//! unreachable, closed, open|filtered), the classification of connect and send errors, the
//! addresses of this host, and (on Linux) the kernel's route and neighbour lookups. `check`,
//! `ping`, `echo` and `doctor` all use these instead of reaching into one another's modules.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Serialize;

#[cfg(target_os = "linux")]
pub mod neigh;
#[cfg(target_os = "linux")]
mod netlink;
#[cfg(target_os = "linux")]
pub mod route;
use tokio::net::{TcpSocket, UdpSocket};

/// What a failed connect, send or receive says about the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A RST (TCP) or an ICMP port-unreachable (connected UDP): nothing listens.
    Refused,
    /// No answer in time.
    Timeout,
    /// No route, or a route or ICMP error that refuses the destination.
    Unreachable,
    /// Anything else.
    Other,
}

/// Classifies a connect (or connected-UDP) error as DESIGN.md's check does.
pub fn classify(e: &io::Error) -> ErrorClass {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => ErrorClass::Refused,
        Some(libc::ETIMEDOUT) => ErrorClass::Timeout,
        // A route that prohibits the destination (EACCES/EPERM): unreachable, administratively.
        Some(libc::EHOSTUNREACH)
        | Some(libc::ENETUNREACH)
        | Some(libc::EACCES)
        | Some(libc::EPERM)
        | Some(libc::EHOSTDOWN)
        | Some(libc::ENETDOWN) => ErrorClass::Unreachable,
        _ if e.kind() == io::ErrorKind::TimedOut => ErrorClass::Timeout,
        _ => ErrorClass::Other,
    }
}

/// The verdict of one probe of one address, with the names scripts see in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Outcome {
    #[serde(rename = "open")]
    Open,
    #[serde(rename = "refused")]
    Refused,
    #[serde(rename = "timeout")]
    Timeout,
    #[serde(rename = "unreachable")]
    Unreachable,
    /// UDP: ICMP port unreachable.
    #[serde(rename = "closed")]
    Closed,
    /// UDP: no answer at all (an open port that does not answer looks the same).
    #[serde(rename = "open|filtered")]
    OpenFiltered,
    #[serde(rename = "error")]
    Error,
}

impl Outcome {
    /// The JSON/table name.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Open => "open",
            Outcome::Refused => "refused",
            Outcome::Timeout => "timeout",
            Outcome::Unreachable => "unreachable",
            Outcome::Closed => "closed",
            Outcome::OpenFiltered => "open|filtered",
            Outcome::Error => "error",
        }
    }

    /// A TCP probe's verdict from the connect error's class.
    fn of_tcp(c: ErrorClass) -> Outcome {
        match c {
            ErrorClass::Refused => Outcome::Refused,
            ErrorClass::Timeout => Outcome::Timeout,
            ErrorClass::Unreachable => Outcome::Unreachable,
            ErrorClass::Other => Outcome::Error,
        }
    }

    /// A UDP probe's verdict: a refusal (ICMP port unreachable) means closed.
    fn of_udp(e: &io::Error) -> Outcome {
        match classify(e) {
            ErrorClass::Refused => Outcome::Closed,
            c => Outcome::of_tcp(c),
        }
    }
}

/// The probe of one address.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub addr: SocketAddr,
    pub status: Outcome,
    /// Connect (or UDP round-trip) time in milliseconds, when it answered.
    pub time_ms: Option<f64>,
    pub error: Option<String>,
}

impl Probe {
    fn failed(addr: SocketAddr, status: Outcome, error: impl ToString) -> Probe {
        Probe {
            addr,
            status,
            time_ms: None,
            error: Some(error.to_string()),
        }
    }

    fn open(addr: SocketAddr, started: Instant) -> Probe {
        Probe {
            addr,
            status: Outcome::Open,
            time_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
            error: None,
        }
    }
}

/// A TCP connect: open (with the handshake time), refused, timeout, unreachable.
pub async fn tcp(addr: SocketAddr, timeout: Duration) -> Probe {
    let started = Instant::now();
    let socket = match if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    } {
        Ok(s) => s,
        Err(e) => {
            return Probe::failed(addr, Outcome::Error, e.to_string());
        }
    };
    match tokio::time::timeout(timeout, socket.connect(addr)).await {
        Ok(Ok(_stream)) => Probe::open(addr, started),
        Ok(Err(e)) => Probe::failed(addr, Outcome::of_tcp(classify(&e)), e.to_string()),
        Err(_) => Probe::failed(
            addr,
            Outcome::Timeout,
            format!("no answer within {timeout:?}"),
        ),
    }
}

/// The UDP probe payload: a recognisable line an echo peer sends back.
pub const UDP_PROBE: &[u8] = b"sockscope check\n";

/// UDP: a reply means open, ICMP port-unreachable closed, silence open|filtered. The probe is
/// sent twice (at 0 and half the timeout) in case the first datagram is lost.
pub async fn udp(addr: SocketAddr, timeout: Duration) -> Probe {
    let started = Instant::now();
    let sock = match udp_connected(addr).await {
        Ok(s) => s,
        Err(e) => {
            return Probe::failed(addr, Outcome::of_udp(&e), e.to_string());
        }
    };
    let mut buf = [0u8; 2048];
    for attempt in 0..2 {
        if let Err(e) = sock.send(UDP_PROBE).await {
            return Probe::failed(addr, Outcome::of_udp(&e), e.to_string());
        }
        let wait = if attempt == 0 {
            timeout / 2
        } else {
            timeout.saturating_sub(started.elapsed())
        };
        match tokio::time::timeout(wait, sock.recv(&mut buf)).await {
            Ok(Ok(_)) => {
                return Probe::open(addr, started);
            }
            Ok(Err(e)) => {
                return Probe::failed(addr, Outcome::of_udp(&e), e.to_string());
            }
            Err(_) => {}
        }
    }
    Probe::failed(
        addr,
        Outcome::OpenFiltered,
        format!("no reply within {timeout:?} (open but silent, or filtered)"),
    )
}

/// A UDP socket of `addr`'s family, connected to it: ICMP port-unreachable then comes back as
/// ECONNREFUSED, and only `addr`'s datagrams are received.
pub async fn udp_connected(addr: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(local).await?;
    sock.connect(addr).await?;
    Ok(sock)
}

/// The addresses of this host: loopback and every interface address.
pub fn local_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills ifap with a list we walk read-only and free with freeifaddrs.
    unsafe {
        if libc::getifaddrs(&mut ifap) != 0 {
            return out;
        }
        let mut p = ifap;
        while !p.is_null() {
            let a = (*p).ifa_addr;
            if !a.is_null() {
                match i32::from((*a).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(a as *const libc::sockaddr_in);
                        out.push(IpAddr::from(
                            u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                        ));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(a as *const libc::sockaddr_in6);
                        out.push(IpAddr::from(sin6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            p = (*p).ifa_next;
        }
        libc::freeifaddrs(ifap);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_errors() {
        assert_eq!(
            classify(&io::Error::from_raw_os_error(libc::ECONNREFUSED)),
            ErrorClass::Refused
        );
        assert_eq!(
            classify(&io::Error::from_raw_os_error(libc::EHOSTUNREACH)),
            ErrorClass::Unreachable
        );
        assert_eq!(
            classify(&io::Error::from(io::ErrorKind::TimedOut)),
            ErrorClass::Timeout
        );
    }

    #[test]
    fn udp_refusal_is_closed() {
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(Outcome::of_udp(&refused), Outcome::Closed);
        assert_eq!(Outcome::of_tcp(classify(&refused)), Outcome::Refused);
        let other = io::Error::from_raw_os_error(libc::EINVAL);
        assert_eq!(Outcome::of_udp(&other), Outcome::Error);
    }
}
