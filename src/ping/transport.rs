//! TCP and UDP ping, which need no privilege: `--tcp PORT` times TCP connects (SYN → SYN/ACK,
//! a refused connect is an answer too), `--udp PORT` times round trips to an echo peer and
//! checks that the payload comes back unchanged. One task per host, events over a channel.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use crate::error::Error;
use crate::ping::{Config, Event, Proto, Target, interrupted, packet};
use crate::probe::{self, Outcome};

/// The gap between the first requests to different hosts.
const PACE: Duration = Duration::from_millis(1);

/// Pings every target over TCP or UDP; returns how long it ran.
pub fn run(
    targets: &[Target],
    cfg: &Config,
    feed: &mut dyn FnMut(&Event) -> io::Result<()>,
) -> Result<Duration, Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
    let result = rt.block_on(async {
        feed(&Event::Started)?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let start = Instant::now();
        let n = targets.len();
        let pace = if n > 1 {
            PACE.min(cfg.interval / n as u32)
        } else {
            Duration::ZERO
        };
        for (h, t) in targets.iter().enumerate() {
            let first = start + pace * h as u32;
            let (cfg, tx) = (cfg.clone(), tx.clone());
            match cfg.proto {
                Proto::Tcp(port) => {
                    tokio::spawn(tcp_host(h, t.socket_addr(port), cfg, first, tx));
                }
                Proto::Udp(port) => {
                    tokio::spawn(udp_host(h, t.socket_addr(port), cfg, first, tx));
                }
                Proto::Icmp => {}
            }
        }
        drop(tx);
        let end = cfg.deadline.map(|d| start + d);
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ev) => feed(&ev)?,
                    None => break,
                },
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
            if interrupted() || end.is_some_and(|t| Instant::now() >= t) {
                break;
            }
        }
        Ok::<_, Error>(start.elapsed())
    });
    rt.shutdown_background();
    result
}

/// Sleeps until `due`, then moves it on by the interval; false when the count is done.
async fn next_turn(seq: u64, cfg: &Config, due: &mut Instant) -> bool {
    if cfg.count.is_some_and(|c| seq > c) {
        return false;
    }
    tokio::time::sleep_until(*due).await;
    // After a stall, go on at the interval from now instead of catching up in a burst.
    let now = Instant::now();
    *due = (*due + cfg.interval).max(now);
    true
}

/// TCP: one connect per interval, each in its own task so slow ones do not hold up the next.
async fn tcp_host(
    h: usize,
    addr: SocketAddr,
    cfg: Config,
    mut due: Instant,
    tx: UnboundedSender<Event>,
) {
    let mut seq = 1;
    while next_turn(seq, &cfg, &mut due).await {
        if tx.send(Event::Sent { host: h, seq }).is_err() {
            return;
        }
        let (tx, timeout) = (tx.clone(), cfg.timeout);
        tokio::spawn(async move {
            let t0 = std::time::Instant::now();
            let r = probe::tcp(addr, timeout).await;
            let rtt_ms = r
                .time_ms
                .unwrap_or_else(|| t0.elapsed().as_secs_f64() * 1000.0);
            let reply = |refused| Event::Reply {
                host: h,
                seq,
                from: addr.ip(),
                bytes: 0,
                ttl: None,
                rtt_ms,
                dup: false,
                refused,
                bad_data: false,
            };
            let ev = match r.status {
                Outcome::Open => reply(false),
                Outcome::Refused => reply(true),
                Outcome::Timeout => Event::Timeout { host: h, seq },
                _ => Event::Error {
                    host: h,
                    seq,
                    from: None,
                    text: r.error.unwrap_or_else(|| r.status.name().to_string()),
                },
            };
            let _ = tx.send(ev);
        });
        seq += 1;
    }
}

/// The datagram of request `seq`: `size` bytes, the first eight (when there is room) the
/// sequence number, the rest the payload pattern.
pub fn udp_payload(seq: u64, size: usize) -> Vec<u8> {
    let mut p = packet::payload(size);
    let tag = seq.to_be_bytes();
    let n = size.min(tag.len());
    p[..n].copy_from_slice(&tag[..n]);
    p
}

/// UDP: send, wait for the echo (or the timeout), check it, then the next.
async fn udp_host(
    h: usize,
    addr: SocketAddr,
    cfg: Config,
    mut due: Instant,
    tx: UnboundedSender<Event>,
) {
    let error = |seq, text: String| Event::Error {
        host: h,
        seq,
        from: None,
        text,
    };
    let sock = match probe::udp_connected(addr).await {
        Ok(s) => s,
        Err(e) => {
            let _ = tx.send(error(0, format!("cannot open a UDP socket to {addr}: {e}")));
            return;
        }
    };
    if let Some(ttl) = cfg.ttl {
        let s = socket2::SockRef::from(&sock);
        let _ = if addr.is_ipv4() {
            s.set_ttl_v4(u32::from(ttl))
        } else {
            s.set_unicast_hops_v6(u32::from(ttl))
        };
    }
    let mut buf = vec![0u8; cfg.size.max(8) + 1024];
    let mut seq = 1;
    while next_turn(seq, &cfg, &mut due).await {
        let want = udp_payload(seq, cfg.size);
        if tx.send(Event::Sent { host: h, seq }).is_err() {
            return;
        }
        let t0 = Instant::now();
        let ev = match sock.send(&want).await {
            Err(e) => error(seq, format!("send: {e}")),
            Ok(_) => loop {
                match tokio::time::timeout_at(t0 + cfg.timeout, sock.recv(&mut buf)).await {
                    Err(_) => break Event::Timeout { host: h, seq },
                    Ok(Err(e)) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                        break Event::Error {
                            host: h,
                            seq,
                            from: Some(addr.ip()),
                            text: format!(
                                "port unreachable: nothing listens on udp port {}",
                                addr.port()
                            ),
                        };
                    }
                    Ok(Err(e)) => break error(seq, format!("recv: {e}")),
                    Ok(Ok(n)) => {
                        let got = &buf[..n];
                        // A late echo of an earlier request: keep waiting for this one.
                        if cfg.size >= 8 && n >= 8 && got[..8] != want[..8] {
                            continue;
                        }
                        let rtt_ms = t0.elapsed().as_secs_f64() * 1000.0;
                        if got == want.as_slice() {
                            break Event::Reply {
                                host: h,
                                seq,
                                from: addr.ip(),
                                bytes: n,
                                ttl: None,
                                rtt_ms,
                                dup: false,
                                refused: false,
                                bad_data: false,
                            };
                        }
                        break Event::Error {
                            host: h,
                            seq,
                            from: Some(addr.ip()),
                            text: format!(
                                "payload mismatch: sent {} bytes, got {n} different ones",
                                want.len()
                            ),
                        };
                    }
                }
            },
        };
        if tx.send(ev).is_err() {
            return;
        }
        seq += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_payload_carries_seq() {
        let p = udp_payload(0x0102, 12);
        assert_eq!(p.len(), 12);
        assert_eq!(&p[..8], &[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(&p[8..], &[8, 9, 10, 11]);
        assert_eq!(udp_payload(5, 0), Vec::<u8>::new());
        assert_eq!(udp_payload(0x0102, 3), vec![0, 0, 0]);
    }
}
