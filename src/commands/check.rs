//! `sockscope check HOST:PORT…`: is a server listening?

use std::io::Write;
use std::time::{Duration, Instant};

use crate::check::{self, CheckTarget, TargetResult};
use crate::cli::CheckArgs;
use crate::error::{Error, Exit, Result};
use crate::output::grid::Grid;
use crate::output::{Style, json, warn};
use crate::probe::Outcome;

/// How often `--wait` probes again.
const WAIT_EVERY: Duration = Duration::from_millis(250);

/// Runs `check`.
pub fn run(args: &CheckArgs, style: &Style, out: &mut dyn Write) -> Result<Exit> {
    let targets: Vec<CheckTarget> = args
        .targets
        .iter()
        .map(|t| CheckTarget::parse(t).map_err(Error::Usage))
        .collect::<Result<_>>()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
    let results = runtime.block_on(async {
        let started = Instant::now();
        let mut last_said = Instant::now();
        loop {
            let results = check::check_all(&targets, args.udp, args.timeout).await;
            let all_open = results.iter().all(TargetResult::is_open);
            let Some(wait) = args.wait else {
                return results;
            };
            if all_open || started.elapsed() >= wait {
                if !all_open {
                    warn(format_args!("gave up waiting after {wait:?}"));
                }
                return results;
            }
            if last_said.elapsed() >= Duration::from_secs(1) {
                let pending: Vec<String> = results
                    .iter()
                    .filter(|r| !r.is_open())
                    .map(|r| format!("{} ({})", r.target, r.status.name()))
                    .collect();
                warn(format_args!("waiting for {}", pending.join(", ")));
                last_said = Instant::now();
            }
            let left = wait.saturating_sub(started.elapsed());
            tokio::time::sleep(WAIT_EVERY.min(left)).await;
        }
    });
    // A resolver thread still waiting on a silent DNS server must not hold the exit: the
    // verdict (dns-error after --timeout) is already in.
    runtime.shutdown_background();
    if args.json {
        json::write_value(out, &results)?;
    } else {
        write_table(out, &results, style)?;
    }
    Ok(if results.iter().all(TargetResult::is_open) {
        Exit::Success
    } else {
        Exit::Negative
    })
}

fn write_table(
    out: &mut dyn Write,
    results: &[TargetResult],
    style: &Style,
) -> std::io::Result<()> {
    let mut g = Grid::new(
        &[
            "Target",
            "Proto",
            "Address",
            "Status",
            "Time",
            "Local socket table",
        ],
        &[4],
    )
    .wrap_column(5);
    for r in results {
        // Without a word from the socket table, the probe's own error says why.
        let note = r
            .note
            .clone()
            .or_else(|| {
                r.addresses
                    .iter()
                    .find(|a| a.status != Outcome::Open)
                    .and_then(|a| a.error.clone())
            })
            .unwrap_or_default();
        if r.addresses.is_empty() {
            for cell in [
                r.target.as_str(),
                r.proto,
                "-",
                r.status.name(),
                "-",
                note.as_str(),
            ] {
                g.push(cell);
            }
            continue;
        }
        for (i, a) in r.addresses.iter().enumerate() {
            g.push(if i == 0 { &r.target } else { "" });
            g.push(r.proto);
            g.push_display(a.addr);
            g.push(a.status.name());
            g.push(&a.time_ms.map_or("-".to_string(), |t| format!("{t:.2} ms")));
            g.push(if i == 0 { &note } else { "" });
        }
    }
    g.write(out, style, None, |_, _, c| c)
}
