//! `sockscope capture`: validates the arguments into a session [`Config`], runs the session
//! ([`crate::packet::session`]) with a renderer that writes lines or JSON, and prints the summary.

use std::io::{self, Write};
use std::path::Path;

use crate::cli::CaptureArgs;
use crate::error::{Error, Exit, Result};
use crate::output::handshake::{LocalOwner, handshake_json, handshake_line};
use crate::output::packet::{packet_json, packet_line};
use crate::output::warn;
use crate::packet::Frame;
use crate::packet::decode::Decoded;
use crate::packet::filter::Filter;
use crate::packet::handshake::Attempt;
use crate::packet::session::{
    self, Config, Consumer, DEFAULT_BUFFER, Output, Source, Summary, View,
};

/// Turns the command line into a session configuration (exit 2 on bad input).
pub fn config(args: &CaptureArgs) -> Result<Config> {
    if args.count == Some(0) {
        return Err(Error::Usage("-c: the count must be at least 1".into()));
    }
    if args.duration.is_some_and(|d| d.is_zero()) {
        return Err(Error::Usage(
            "--duration: the duration must be more than 0".into(),
        ));
    }
    let filter = Filter::parse(&args.expr).map_err(|e| Error::Usage(e.to_string()))?;
    let source = match &args.read {
        Some(path) => {
            if args.interface.is_some() || args.promisc {
                return Err(Error::Usage(
                    "-i and --promisc are for live captures; -r reads a file".into(),
                ));
            }
            if args.duration.is_some() {
                return Err(Error::Usage(
                    "--duration is for live captures; -r reads the whole file (use -c to stop early)"
                        .into(),
                ));
            }
            Source::File(path.clone())
        }
        None => Source::Live {
            interface: args.interface.clone(),
            promiscuous: args.promisc,
            buffer: DEFAULT_BUFFER,
        },
    };
    let write = args.write.as_ref().map(|p| {
        if p.as_path() == Path::new("-") {
            Output::Stdout
        } else {
            Output::File(p.clone())
        }
    });
    if let (Some(w), Some(r)) = (&args.write, &args.read)
        && w != Path::new("-")
        && same_file(w, r)
    {
        return Err(Error::Usage(format!(
            "-w {}: that is the file being read (-r)",
            w.display()
        )));
    }
    let view = if args.handshakes {
        View::Handshakes
    } else if write.is_some() {
        // Like tcpdump -w: packets go to the file, not to the terminal.
        View::Nothing
    } else {
        View::Packets
    };
    if write == Some(Output::Stdout) && (view != View::Nothing || args.json) {
        return Err(Error::Usage(
            "-w - writes the pcap to standard output, so nothing else can go there \
             (drop --handshakes/--json, or write the pcap to a file)"
                .into(),
        ));
    }
    Ok(Config {
        source,
        filter,
        count: args.count,
        duration: args.duration,
        write,
        view,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Renders packets and handshakes as lines or JSON objects, one per line.
struct Renderer<'a> {
    out: &'a mut dyn Write,
    json: bool,
}

impl Consumer for Renderer<'_> {
    fn packet(&mut self, frame: &Frame, decoded: &Decoded) -> io::Result<()> {
        if self.json {
            let value = packet_json(frame, decoded);
            serde_json::to_writer(&mut *self.out, &value).map_err(io::Error::other)?;
            self.out.write_all(b"\n")
        } else {
            writeln!(self.out, "{}", packet_line(frame, decoded))
        }
    }

    fn handshake(&mut self, attempt: &Attempt, owners: &[LocalOwner]) -> io::Result<()> {
        if self.json {
            let value = handshake_json(attempt, owners);
            serde_json::to_writer(&mut *self.out, &value).map_err(io::Error::other)?;
            self.out.write_all(b"\n")
        } else {
            writeln!(self.out, "{}", handshake_line(attempt, owners))
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Runs `capture`.
pub fn run(args: &CaptureArgs, out: &mut dyn Write) -> Result<Exit> {
    let config = config(args)?;
    // SIGHUP too: a capture in a closed SSH session still ends with a complete file.
    crate::signals::catch(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP]);
    let mut renderer = Renderer {
        out,
        json: args.json,
    };
    let mut notes = |text: &str| warn(format_args!("{text}"));
    let ended = session::run(&config, &mut renderer, &mut notes)?;
    let live = matches!(config.source, Source::Live { .. });
    warn(format_args!(
        "{}",
        summary_text(&ended.summary, live, args.handshakes)
    ));
    if args.json && config.write != Some(Output::Stdout) {
        let value = summary_json(&ended.summary, args.handshakes);
        let written = serde_json::to_writer(&mut *renderer.out, &value)
            .map_err(io::Error::other)
            .and_then(|()| renderer.out.write_all(b"\n"))
            .and_then(|()| renderer.out.flush());
        if let Err(e) = written
            && ended.error.is_none()
        {
            return Err(Error::Output(e));
        }
    }
    match ended.error {
        Some(e) => Err(e),
        None => Ok(Exit::Success),
    }
}

/// The summary line on stderr: `12 packets seen, 10 matched, 0 dropped by the kernel`.
pub fn summary_text(s: &Summary, live: bool, handshakes: bool) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut text = format!(
        "{} seen, {} matched",
        plural(s.seen, "packet", "packets"),
        s.matched
    );
    if handshakes {
        text.push_str(&format!(
            ", {}",
            plural(s.handshakes, "handshake", "handshakes")
        ));
    }
    if live {
        text.push_str(&format!(
            ", {} dropped by the kernel",
            s.dropped.unwrap_or(0)
        ));
        // The filter runs in the kernel: what it rejects is never seen, so say what it passed.
        if let Some(received) = s.received_by_filter {
            text.push_str(&format!(" ({received} passed the kernel's filter)"));
        }
    }
    text
}

/// The last JSON line of a capture.
#[derive(serde::Serialize)]
struct SummaryRecord {
    #[serde(rename = "type")]
    kind: &'static str,
    seen: u64,
    matched: u64,
    dropped: Option<u64>,
    received_by_filter: Option<u64>,
    handshakes: Option<u64>,
}

fn summary_json(s: &Summary, handshakes: bool) -> SummaryRecord {
    SummaryRecord {
        kind: "summary",
        seen: s.seen,
        matched: s.matched,
        dropped: s.dropped,
        received_by_filter: s.received_by_filter,
        handshakes: handshakes.then_some(s.handshakes),
    }
}
