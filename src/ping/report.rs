//! Rendering of ping: iputils-style lines (prefixed with the host when there are several),
//! the iputils summary for one host, an fping-like table for several, or one JSON object per
//! line (`--json`). Renders events and statistics only; never touches the system.

use std::io::{self, Write};
use std::net::IpAddr;
use std::time::Duration;

use serde_json::json;

use crate::output::Style;
use crate::output::grid::Grid;
use crate::output::json::write_line;
use crate::ping::stats::{HostStats, percent_text, time_text};
use crate::ping::{Config, Event, Proto, Target};

/// Writes what a ping run shows.
pub struct Reporter<'a> {
    pub out: &'a mut dyn Write,
    pub targets: &'a [Target],
    pub cfg: &'a Config,
    pub quiet: bool,
    pub json: bool,
    pub style: Style,
}

/// Three decimals, as the rtt line shows them.
fn ms3(v: f64) -> String {
    format!("{v:.3}")
}

/// An address with its port: `127.0.0.1:80`, `[::1]:80`.
fn with_port(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

impl Reporter<'_> {
    fn multi(&self) -> bool {
        self.targets.len() > 1
    }

    fn seq_name(&self) -> &'static str {
        match self.cfg.proto {
            Proto::Icmp => "icmp_seq",
            Proto::Tcp(_) => "tcp_seq",
            Proto::Udp(_) => "udp_seq",
        }
    }

    /// The `PING host (addr) …` lines (one per host unless quiet with several hosts).
    fn header(&mut self) -> io::Result<()> {
        if self.json || (self.quiet && self.multi()) {
            return Ok(());
        }
        for t in self.targets {
            let what = match self.cfg.proto {
                Proto::Icmp if t.addr.is_ipv4() => {
                    format!("{}({}) bytes of data.", self.cfg.size, self.cfg.size + 28)
                }
                Proto::Icmp => format!("{} data bytes", self.cfg.size),
                Proto::Tcp(p) => format!("tcp port {p}: TCP connect (SYN -> SYN/ACK)"),
                Proto::Udp(p) => format!("udp port {p}: {} data bytes", self.cfg.size),
            };
            writeln!(self.out, "PING {} ({}) {what}", t.name, t.addr)?;
        }
        self.out.flush()
    }

    /// One event (nothing for sends, nothing at all when quiet).
    pub fn event(&mut self, ev: &Event, out_of_order: bool) -> io::Result<()> {
        if matches!(ev, Event::Started) {
            return self.header();
        }
        if self.quiet || matches!(ev, Event::Sent { .. }) {
            return Ok(());
        }
        if self.json {
            self.event_json(ev, out_of_order)?;
            return self.out.flush();
        }
        let seq_name = self.seq_name();
        let (host, line) = match ev {
            Event::Sent { .. } | Event::Started => return Ok(()),
            Event::Reply {
                host,
                seq,
                from,
                bytes,
                ttl,
                rtt_ms,
                dup,
                refused,
                bad_data,
            } => {
                let mut l = match self.cfg.proto {
                    Proto::Icmp => format!("{bytes} bytes from {from}: {seq_name}={seq}"),
                    Proto::Tcp(p) if *refused => {
                        format!(
                            "from {}: refused (RST) {seq_name}={seq}",
                            with_port(*from, p)
                        )
                    }
                    Proto::Tcp(p) => {
                        format!("from {}: connected {seq_name}={seq}", with_port(*from, p))
                    }
                    Proto::Udp(p) => format!(
                        "{bytes} bytes from {}: {seq_name}={seq}",
                        with_port(*from, p)
                    ),
                };
                if let Some(t) = ttl {
                    l.push_str(&format!(" ttl={t}"));
                }
                l.push_str(&format!(" time={} ms", time_text(*rtt_ms)));
                if *dup {
                    l.push_str(" (DUP!)");
                }
                if out_of_order {
                    l.push_str(" (out of order)");
                }
                if *bad_data {
                    l.push_str(" (wrong data)");
                }
                (*host, l)
            }
            Event::Timeout { host, seq } => (*host, format!("no answer yet for {seq_name}={seq}")),
            Event::Error {
                host,
                seq,
                from,
                text,
            } => match from {
                Some(f) => (*host, format!("From {f} {seq_name}={seq} {text}")),
                None => (*host, format!("{seq_name}={seq} {text}")),
            },
        };
        if self.multi() {
            let name = self
                .targets
                .get(host)
                .map(|t| t.name.as_str())
                .unwrap_or("?");
            writeln!(self.out, "{name}: {line}")?;
        } else {
            writeln!(self.out, "{line}")?;
        }
        self.out.flush()
    }

    fn event_json(&mut self, ev: &Event, out_of_order: bool) -> io::Result<()> {
        let proto = self.cfg.proto.name();
        let port = match self.cfg.proto {
            Proto::Icmp => None,
            Proto::Tcp(p) | Proto::Udp(p) => Some(p),
        };
        let h = match ev {
            Event::Started => return Ok(()),
            Event::Sent { host, .. }
            | Event::Reply { host, .. }
            | Event::Timeout { host, .. }
            | Event::Error { host, .. } => *host,
        };
        let name = self.targets.get(h).map(|t| t.name.as_str());
        let addr = self.targets.get(h).map(|t| t.addr.to_string());
        let v = match ev {
            Event::Sent { .. } | Event::Started => return Ok(()),
            Event::Reply {
                seq,
                from,
                bytes,
                ttl,
                rtt_ms,
                dup,
                refused,
                bad_data,
                ..
            } => json!({
                "type": "reply", "proto": proto, "host": name, "addr": addr, "port": port,
                "seq": seq, "from": from.to_string(), "bytes": bytes, "ttl": ttl,
                "time_ms": rtt_ms, "dup": dup, "out_of_order": out_of_order,
                "refused": refused, "bad_data": bad_data,
            }),
            Event::Timeout { seq, .. } => json!({
                "type": "timeout", "proto": proto, "host": name, "addr": addr, "port": port,
                "seq": seq,
            }),
            Event::Error {
                seq, from, text, ..
            } => json!({
                "type": "error", "proto": proto, "host": name, "addr": addr, "port": port,
                "seq": seq, "from": from.map(|f| f.to_string()), "error": text,
            }),
        };
        write_line(self.out, &v)
    }

    /// The summary: iputils' for one host, a table for several, one JSON object per host.
    pub fn summary(&mut self, stats: &[HostStats], elapsed: Duration) -> io::Result<()> {
        let ms = elapsed.as_millis();
        if self.json {
            for (t, s) in self.targets.iter().zip(stats) {
                let v = json!({
                    "type": "summary", "proto": self.cfg.proto.name(), "host": t.name,
                    "addr": t.addr.to_string(), "transmitted": s.transmitted,
                    "received": s.received, "duplicates": s.duplicates, "errors": s.errors,
                    "loss_pct": s.loss_pct(), "time_ms": ms as u64,
                    "rtt_min_ms": (s.rtt.n > 0).then_some(s.rtt.min),
                    "rtt_avg_ms": s.rtt.avg(),
                    "rtt_max_ms": (s.rtt.n > 0).then_some(s.rtt.max),
                    "rtt_mdev_ms": s.rtt.mdev(),
                });
                write_line(self.out, &v)?;
            }
            return self.out.flush();
        }
        if !self.multi() {
            if let (Some(t), Some(s)) = (self.targets.first(), stats.first()) {
                writeln!(self.out, "\n--- {} ping statistics ---", t.name)?;
                let mut l = format!(
                    "{} packets transmitted, {} received",
                    s.transmitted, s.received
                );
                if s.duplicates > 0 {
                    l.push_str(&format!(", +{} duplicates", s.duplicates));
                }
                if s.errors > 0 {
                    l.push_str(&format!(", +{} errors", s.errors));
                }
                l.push_str(&format!(
                    ", {}% packet loss, time {ms}ms",
                    percent_text(s.loss_pct())
                ));
                writeln!(self.out, "{l}")?;
                if let (Some(avg), Some(mdev)) = (s.rtt.avg(), s.rtt.mdev()) {
                    writeln!(
                        self.out,
                        "rtt min/avg/max/mdev = {}/{}/{}/{} ms",
                        ms3(s.rtt.min),
                        ms3(avg),
                        ms3(s.rtt.max),
                        ms3(mdev)
                    )?;
                }
            }
            return self.out.flush();
        }
        if !self.quiet {
            writeln!(self.out)?;
        }
        let mut g = Grid::new(
            &[
                "Host", "Address", "Sent", "Recv", "Loss", "Min", "Avg", "Max",
            ],
            &[2, 3, 4, 5, 6, 7],
        );
        for (t, s) in self.targets.iter().zip(stats) {
            g.push(&t.name);
            g.push_display(t.addr);
            g.push_display(s.transmitted);
            g.push_display(s.received);
            g.push(&format!("{}%", percent_text(s.loss_pct())));
            match s.rtt.avg() {
                Some(avg) => {
                    g.push(&ms3(s.rtt.min));
                    g.push(&ms3(avg));
                    g.push(&ms3(s.rtt.max));
                }
                None => {
                    for _ in 0..3 {
                        g.push("-");
                    }
                }
            }
        }
        g.write(self.out, &self.style, None, |_, _, c| c)?;
        writeln!(self.out, "(times in ms; total time {ms}ms)")?;
        self.out.flush()
    }
}
