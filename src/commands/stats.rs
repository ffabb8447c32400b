//! `sockscope stats`: the kernel's protocol counters, as nstat names them, with what each means.

use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cli::StatsArgs;
use crate::error::{Error, Exit, Result};
use crate::output::{Style, local_time, stats as render};
use crate::signals;
use crate::stats::{self, Reader, Selection};

/// The shortest --watch interval.
const MIN_WATCH: Duration = Duration::from_millis(100);

/// Runs `stats`.
pub fn run(args: &StatsArgs, style: &Style, out: &mut dyn Write) -> Result<Exit> {
    let selection = Selection::new(args.all, args.names.clone());
    if let Some(every) = args.watch {
        if every < MIN_WATCH {
            return Err(Error::Usage(format!(
                "--watch needs at least {MIN_WATCH:?} between reads"
            )));
        }
        return watch(args, &selection, every, style, out);
    }
    let counters = stats::read()?;
    let selected = selection.indexes(&counters)?;
    if args.json {
        render::write_json(out, &counters, &selected)?;
    } else if args.prometheus {
        render::write_prometheus(out, &counters, &selected)?;
    } else {
        render::write_table(out, &counters, &selected, style)?;
    }
    Ok(Exit::Success)
}

/// `--watch`: every interval, the selected counters that changed. The two snapshots and the
/// index and change lists are reused, so an interval reads three files and allocates next to
/// nothing. Ends on Ctrl-C/SIGTERM or when the reader of a pipe goes away.
fn watch(
    args: &StatsArgs,
    selection: &Selection,
    every: Duration,
    style: &Style,
    out: &mut dyn Write,
) -> Result<Exit> {
    signals::catch(&[libc::SIGINT, libc::SIGTERM]);
    let mut reader = Reader::new();
    let mut before = reader.read()?;
    let mut selected = selection.indexes(&before)?;
    if style.terminal && !args.json {
        crate::output::warn(format_args!(
            "watching {} counters every {:.1}s; Ctrl-C stops",
            selected.len(),
            every.as_secs_f64()
        ));
    }
    let mut now = before.clone();
    let mut changes = Vec::with_capacity(selected.len());
    let mut then = Instant::now();
    let mut next = then + every;
    loop {
        if !wait_until(next) {
            return Ok(Exit::Success);
        }
        reader.read_into(&mut now)?;
        let at = Instant::now();
        let elapsed = at - then;
        selection.indexes_into(&now, &mut selected);
        stats::changes(&before, &now, &selected, elapsed, &mut changes);
        if args.json {
            render::write_json_line(out, &now, &selected, &changes, elapsed)?;
        } else if !changes.is_empty() {
            let epoch = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let stamp = local_time(epoch.as_secs());
            render::write_changes(out, &now, &changes, elapsed, &stamp, style)?;
        }
        out.flush()?;
        std::mem::swap(&mut before, &mut now);
        then = at;
        next += every;
        if next < at {
            // Fell behind (a suspended process): start afresh instead of catching up.
            next = at + every;
        }
    }
}

/// Waits until `deadline`; false when the run should end instead (a stop signal, or the reader
/// of the stdout pipe went away). One poll on stdout does all three.
fn wait_until(deadline: Instant) -> bool {
    loop {
        if signals::stop_requested() || super::list::reader_gone() {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        let mut fd = libc::pollfd {
            fd: libc::STDOUT_FILENO,
            events: 0,
            revents: 0,
        };
        // SAFETY: one valid pollfd. With no events asked, only an error or hang-up on stdout
        // (or a signal, EINTR) ends the wait early.
        let n = unsafe { libc::poll(&mut fd, 1, ms) };
        if n > 0 && fd.revents & libc::POLLNVAL != 0 {
            // stdout is closed: poll cannot wait on it.
            std::thread::sleep(left);
        }
    }
}
