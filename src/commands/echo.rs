//! `sockscope echo`: the echo server, or with --connect the client and its load mode.

use std::io::{IsTerminal, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::cli::EchoArgs;
use crate::echo::client::{self, LoadKind, Messages, Reply, Target};
use crate::echo::server::{self, ServerConfig, Stats};
use crate::error::{Error, Exit, Result};
use crate::output::{json, warn};

/// The default listen address: loopback, never every interface unless asked.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7007";

/// Runs `echo`.
pub fn run(args: &EchoArgs, out: &mut dyn Write) -> Result<Exit> {
    raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
    let result = match &args.connect {
        Some(hostport) => runtime.block_on(client(args, hostport, out)),
        None => runtime.block_on(serve(args, out)),
    };
    // A resolver thread still waiting on a silent DNS server must not hold the exit.
    runtime.shutdown_background();
    result
}

/// Parses `ADDR:PORT`, `[V6]:PORT` or a bare `PORT` (on 127.0.0.1).
pub fn parse_listen(text: &str) -> Result<SocketAddr> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    Err(Error::Usage(format!(
        "'{text}' is not ADDR:PORT (examples: 127.0.0.1:7007, [::1]:7007, 0.0.0.0:7007, 7007)"
    )))
}

async fn serve(args: &EchoArgs, out: &mut dyn Write) -> Result<Exit> {
    let listen = parse_listen(args.listen.as_deref().unwrap_or(DEFAULT_LISTEN))?;
    let cfg = ServerConfig {
        listen,
        tcp: !args.udp,
        udp: !args.tcp,
        unix: args.unix.clone(),
        max_conns: usize::try_from(args.max_conns).unwrap_or(usize::MAX),
        idle_timeout: args.idle_timeout,
        quiet: args.quiet,
    };
    let bound = server::bind(&cfg).await?;
    writeln!(out, "listening on {}", bound.describe())?;
    out.flush()?;
    let stats = Arc::new(Stats::default());
    server::serve(bound, &cfg, stats.clone(), shutdown_signal()).await;
    writeln!(
        out,
        "totals: {} connections ({} refused), {} bytes echoed on streams, {} datagrams ({} bytes)",
        stats.connections.load(Ordering::Relaxed),
        stats.refused.load(Ordering::Relaxed),
        stats.stream_bytes.load(Ordering::Relaxed),
        stats.datagrams.load(Ordering::Relaxed),
        stats.datagram_bytes.load(Ordering::Relaxed),
    )?;
    Ok(Exit::Success)
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn target(args: &EchoArgs, hostport: &str) -> Result<Target> {
    if let Some(p) = &args.unix {
        if !hostport.is_empty() {
            return Err(Error::Usage(
                "give either --connect HOST:PORT or --unix PATH, not both".into(),
            ));
        }
        return Ok(Target::Unix(p.clone()));
    }
    if hostport.is_empty() {
        return Err(Error::Usage(
            "--connect needs HOST:PORT (or --unix PATH)".into(),
        ));
    }
    // HOST:PORT with a numeric port; names are resolved later.
    let port_ok = hostport.rsplit_once(':').is_some_and(|(h, p)| {
        // An IPv6 address needs its brackets, or the port would be ambiguous.
        let host_ok =
            !h.is_empty() && (!h.contains(':') || (h.starts_with('[') && h.ends_with(']')));
        host_ok && p.parse::<u16>().is_ok_and(|p| p != 0)
    });
    if !port_ok {
        return Err(Error::Usage(format!(
            "'{hostport}' is not HOST:PORT (examples: 127.0.0.1:7007, [::1]:7007, localhost:7007)"
        )));
    }
    Ok(if args.udp {
        Target::Udp(hostport.to_string())
    } else {
        Target::Tcp(hostport.to_string())
    })
}

/// The largest UDP payload over IPv4 (65,535 minus the IP and UDP headers).
const UDP_MAX_PAYLOAD: u64 = 65_507;

fn messages(args: &EchoArgs) -> Result<Messages> {
    if let Some(m) = &args.message {
        if m.is_empty() {
            return Err(Error::Usage(
                "-m: an empty message cannot be echoed; give at least one byte".into(),
            ));
        }
        return Ok(Messages::Fixed {
            list: vec![m.clone().into_bytes()],
            rounds: args.count,
        });
    }
    if let Some(size) = args.size {
        // Fresh bytes for every message, so an echo of the wrong message is caught; each is
        // made when it is sent.
        let size = usize::try_from(size).map_err(|_| Error::Usage("--size is too large".into()))?;
        return Ok(Messages::Random {
            size,
            count: args.count,
            seed: seed(),
        });
    }
    if std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "nothing to send: give -m MSG or --size BYTES, or pipe lines into stdin".into(),
        ));
    }
    let mut text = Vec::new();
    std::io::stdin()
        .read_to_end(&mut text)
        .map_err(|e| Error::Other(format!("cannot read stdin: {e}")))?;
    let list: Vec<Vec<u8>> = text
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    if list.is_empty() {
        return Err(Error::Usage(
            "nothing to send: stdin was empty; give -m MSG or --size BYTES".into(),
        ));
    }
    Ok(Messages::Fixed {
        list,
        rounds: args.count,
    })
}

/// Inputs that cannot work, said before any traffic.
fn validate_client(args: &EchoArgs) -> Result<()> {
    if args.udp {
        let longest = args
            .size
            .or(args.message.as_ref().map(|m| m.len() as u64))
            .unwrap_or(0);
        if longest > UDP_MAX_PAYLOAD {
            return Err(Error::Usage(format!(
                "over UDP a message can be at most {UDP_MAX_PAYLOAD} bytes, not {longest}"
            )));
        }
        if args.bytes.is_some() {
            return Err(Error::Usage(
                "--bytes streams over TCP or UNIX; with --udp use --duration".into(),
            ));
        }
    }
    if let Some(n) = args.connections {
        let per = args
            .bytes
            .map_or(args.size.unwrap_or(64) * 2, |_| 512 * 1024);
        if n.saturating_mul(per) > 1 << 30 {
            return Err(Error::Usage(format!(
                "--connections {n} with messages of that size would need over 1 GiB of buffers; use fewer or smaller"
            )));
        }
    }
    Ok(())
}

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x1234_5678)
        ^ u64::from(std::process::id())
}

async fn client(args: &EchoArgs, hostport: &str, out: &mut dyn Write) -> Result<Exit> {
    let target = target(args, hostport)?;
    validate_client(args)?;
    if let Some(n) = args.connections {
        return load(args, &target, n, out).await;
    }
    let msgs = messages(args)?;
    let json_out = args.json;
    let mut lines = Vec::new();
    let label = target.label();
    let report = client::run_messages(&target, &msgs, args.timeout, |r: &Reply| {
        if !json_out {
            lines.push(reply_line(r, &label, args.timeout));
        }
    })
    .await;
    if json_out {
        json::write_value(out, &report)?;
    } else {
        for l in lines {
            writeln!(out, "{l}")?;
        }
        if report.sent > 0 {
            writeln!(out, "--- {} echo statistics ---", report.target)?;
            let late = if report.late > 0 {
                format!(", {} late or duplicate", report.late)
            } else {
                String::new()
            };
            writeln!(
                out,
                "{} sent, {} echoed, {} mismatched, {} lost{late}",
                report.sent, report.echoed, report.mismatched, report.lost
            )?;
            if let (Some(min), Some(avg), Some(max)) =
                (report.rtt_min_ms, report.rtt_avg_ms, report.rtt_max_ms)
            {
                writeln!(out, "rtt min/avg/max = {min:.3}/{avg:.3}/{max:.3} ms")?;
            }
        }
    }
    out.flush()?;
    if let Some(e) = &report.error {
        warn(format_args!("{e}"));
    } else if report.mismatched > 0 {
        warn(format_args!(
            "mismatch: {} of {} echoes differ from what was sent",
            report.mismatched, report.sent
        ));
    } else if report.lost > 0 {
        warn(format_args!(
            "lost: {} of {} messages got no echo within {:?}",
            report.lost, report.sent, args.timeout
        ));
    }
    Ok(if report.ok() {
        Exit::Success
    } else {
        Exit::Negative
    })
}

fn reply_line(r: &Reply, target: &str, timeout: Duration) -> String {
    match (r.status, r.rtt_ms, r.differs_at) {
        ("ok", Some(t), _) => format!(
            "{} bytes from {target}: seq={} time={t:.3} ms",
            r.bytes, r.seq
        ),
        ("mismatch", Some(t), Some(at)) => format!(
            "{} bytes from {target}: seq={} time={t:.3} ms MISMATCH (first difference at byte {at})",
            r.bytes, r.seq
        ),
        ("lost", _, _) => format!("seq={}: no echo within {timeout:?}", r.seq),
        _ => format!("seq={}: connection closed", r.seq),
    }
}

async fn load(
    args: &EchoArgs,
    target: &Target,
    connections: u64,
    out: &mut dyn Write,
) -> Result<Exit> {
    let kind = match args.bytes {
        Some(bytes) => LoadKind::Stream { bytes },
        None => LoadKind::RoundTrips {
            size: args.size.map_or(64, |s| usize::try_from(s).unwrap_or(64)),
            duration: args.duration.unwrap_or(Duration::from_secs(10)),
        },
    };
    let n = usize::try_from(connections).unwrap_or(usize::MAX);
    let report = client::run_load(target, n, kind, args.timeout).await;
    if args.json {
        json::write_value(out, &report)?;
    } else {
        writeln!(
            out,
            "{} {}: {} of {} connections, {:.2} s: {} round trips ({:.0}/s), {} bytes echoed ({:.1} MB/s), {} mismatches, {} errors",
            report.proto,
            report.target,
            report.connected,
            report.connections,
            report.seconds,
            report.round_trips,
            report.round_trips_per_s,
            report.bytes,
            report.mb_per_s,
            report.mismatches,
            report.errors
        )?;
    }
    out.flush()?;
    if let Some(e) = &report.first_error {
        warn(format_args!("first error: {e}"));
    }
    Ok(if report.ok() {
        Exit::Success
    } else {
        Exit::Negative
    })
}

/// Thousands of connections need thousands of descriptors: lift the soft limit to the hard one.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid rlimit for getrlimit/setrlimit to read and write.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(
            parse_listen("7007").unwrap(),
            "127.0.0.1:7007".parse().unwrap()
        );
        assert_eq!(parse_listen("[::1]:9").unwrap(), "[::1]:9".parse().unwrap());
        assert_eq!(
            parse_listen("0.0.0.0:0").unwrap(),
            "0.0.0.0:0".parse().unwrap()
        );
        for bad in ["", "x", ":80", "1.2.3.4", "70000", "[::1]"] {
            assert!(parse_listen(bad).is_err(), "{bad}");
        }
    }
}
