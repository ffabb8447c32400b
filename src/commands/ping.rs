//! `sockscope ping`: validates the arguments into a [`Config`], resolves the hosts, runs the
//! pings and renders events and summary. The logic lives in [`crate::ping`].

use std::io::Write;
use std::time::Duration;

use crate::cli::PingArgs;
use crate::error::{Error, Exit, Result};
use crate::output::Style;
use crate::ping::packet::Family;
use crate::ping::report::Reporter;
use crate::ping::{self, Config, Proto, Target};

/// The shortest interval allowed without root, as in iputils.
const MIN_USER_INTERVAL: Duration = Duration::from_millis(200);
/// The largest payload: 65535 minus the IPv4 and ICMP headers (IPv6: minus ICMPv6 only).
const MAX_SIZE_V4: usize = 65_507;
const MAX_SIZE_V6: usize = 65_527;

/// Turns the command line into a run configuration (exit 2 on bad input).
pub fn config(args: &PingArgs) -> Result<Config> {
    let proto = match (args.tcp, args.udp) {
        (Some(p), _) => Proto::Tcp(p),
        (None, Some(p)) => Proto::Udp(p),
        (None, None) => Proto::Icmp,
    };
    if matches!(proto, Proto::Tcp(0) | Proto::Udp(0)) {
        return Err(Error::Usage(
            "port 0 cannot be pinged: give a port from 1 to 65535".into(),
        ));
    }
    if args.count == Some(0) {
        return Err(Error::Usage("-c: the count must be at least 1".into()));
    }
    let interval = args.interval.unwrap_or(Duration::from_secs(1));
    if interval.is_zero() {
        return Err(Error::Usage("-i: the interval must be more than 0".into()));
    }
    // SAFETY: geteuid has no preconditions.
    if interval < MIN_USER_INTERVAL && unsafe { libc::geteuid() } != 0 {
        return Err(Error::Usage(format!(
            "-i {interval:?}: cannot flood; the minimal interval allowed for a user is 200ms (root may go lower)"
        )));
    }
    let timeout = args.timeout.unwrap_or(Duration::from_secs(1));
    if timeout.is_zero() {
        return Err(Error::Usage("-W: the timeout must be more than 0".into()));
    }
    if args.deadline.is_some_and(|d| d.is_zero()) {
        return Err(Error::Usage("-w: the deadline must be more than 0".into()));
    }
    if matches!(proto, Proto::Tcp(_)) && (args.size.is_some() || args.ttl.is_some()) {
        return Err(Error::Usage(
            "-s and -t do not apply to --tcp (a connect carries no payload)".into(),
        ));
    }
    if args.ttl == Some(0) {
        return Err(Error::Usage("-t 0: the TTL must be from 1 to 255".into()));
    }
    let size = args.size.unwrap_or(56);
    let max = if args.ipv4 { MAX_SIZE_V4 } else { MAX_SIZE_V6 };
    if size > max {
        return Err(Error::Usage(format!(
            "-s {size}: the payload can be at most {max} bytes"
        )));
    }
    Ok(Config {
        proto,
        count: args.count,
        interval,
        timeout,
        deadline: args.deadline,
        size,
        ttl: args.ttl,
    })
}

/// Runs `ping`.
pub fn run(args: &PingArgs, style: &Style, out: &mut dyn Write) -> Result<Exit> {
    let cfg = config(args)?;
    let want = match (args.ipv4, args.ipv6) {
        (true, _) => Some(Family::V4),
        (_, true) => Some(Family::V6),
        _ => None,
    };
    let targets = args
        .hosts
        .iter()
        .map(|h| {
            let (addr, scope) = ping::resolve_scoped(h, want)?;
            Ok(Target {
                name: h.clone(),
                addr,
                scope,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if !matches!(cfg.proto, Proto::Tcp(_))
        && cfg.size > MAX_SIZE_V4
        && targets.iter().any(|t| t.addr.is_ipv4())
    {
        return Err(Error::Usage(format!(
            "-s {}: the payload can be at most {MAX_SIZE_V4} bytes over IPv4",
            cfg.size
        )));
    }
    ping::catch_interrupt();
    let mut rep = Reporter {
        out,
        targets: &targets,
        cfg: &cfg,
        quiet: args.quiet,
        json: args.json,
        style: style.clone(),
    };
    let (stats, elapsed) = ping::run(&targets, &cfg, &mut |ev, ooo| rep.event(ev, ooo))?;
    rep.summary(&stats, elapsed)?;
    // With -c and -w together every host owes COUNT replies (iputils); otherwise one answer
    // from each is a yes.
    let owed = match (cfg.count, cfg.deadline) {
        (Some(c), Some(_)) => c,
        _ => 1,
    };
    Ok(if stats.iter().all(|s| s.received >= owed) {
        Exit::Success
    } else {
        Exit::Negative
    })
}
