//! `sockscope trace`: validates the arguments into a [`TraceConfig`], resolves the host, runs
//! the trace and renders its report. The logic lives in [`crate::ping::trace`].

use std::io::Write;
use std::time::Duration;

use crate::cli::TraceArgs;
use crate::error::{Error, Exit, Result};
use crate::output::json::write_value;
use crate::ping::packet::Family;
use crate::ping::trace::{self, TraceConfig, TraceProto, render_text, split_host_port, to_json};
use crate::ping::{self, Target};
use crate::sockets::resolve::host_name;

/// Turns the command line into the host to resolve and a run configuration (exit 2 on bad
/// input).
pub fn config(args: &TraceArgs) -> Result<(String, TraceConfig)> {
    let (host, host_port) = split_host_port(&args.host)?;
    let port_for = |flag: Option<u16>, what: &str| -> Result<u16> {
        let port = match (flag, host_port) {
            (Some(a), Some(b)) if a != b => {
                return Err(Error::Usage(format!(
                    "--{what} {a} and the port of '{}' ({b}) disagree",
                    args.host
                )));
            }
            (Some(p), _) | (None, Some(p)) => p,
            (None, None) => {
                return Err(Error::Usage(format!(
                    "--{what} needs a port: --{what} PORT or HOST:PORT"
                )));
            }
        };
        if port == 0 {
            return Err(Error::Usage(
                "port 0 cannot be traced: give a port from 1 to 65535".into(),
            ));
        }
        Ok(port)
    };
    let proto = match (args.tcp, args.udp) {
        (Some(p), _) => TraceProto::Tcp(port_for(p, "tcp")?),
        (None, Some(p)) => TraceProto::Udp(port_for(p, "udp")?),
        (None, None) => {
            if host_port.is_some() {
                return Err(Error::Usage(format!(
                    "'{}': a port goes with --tcp or --udp (ICMP has no ports)",
                    args.host
                )));
            }
            TraceProto::Icmp
        }
    };
    let wait = args.wait.unwrap_or(Duration::from_secs(1));
    Ok((
        host,
        TraceConfig {
            proto,
            max_hops: args.max_hops,
            rounds: args.rounds,
            wait,
        },
    ))
}

/// Runs `trace`: exit 0 when the target answered, 1 when it did not.
pub fn run(args: &TraceArgs, out: &mut dyn Write) -> Result<Exit> {
    let (host, cfg) = config(args)?;
    let want = match (args.ipv4, args.ipv6) {
        (true, _) => Some(Family::V4),
        (_, true) => Some(Family::V6),
        _ => None,
    };
    let (addr, scope) = ping::resolve_scoped(&host, want)?;
    let target = Target {
        name: host,
        addr,
        scope,
    };
    ping::catch_interrupt();
    let mut report = trace::run(&target, &cfg)?;
    if args.resolve {
        for h in &mut report.hops {
            h.names = h.addresses.iter().map(|a| host_name(*a)).collect();
        }
    }
    if args.json {
        write_value(out, &to_json(&report, args.resolve))?;
    } else {
        render_text(&report, out)?;
    }
    Ok(if report.reached {
        Exit::Success
    } else {
        Exit::Negative
    })
}
