//! A capture session: frames from a live source or a file → filter → pcap file / decoder →
//! packets or handshakes handed to a [`Consumer`] (the renderer), with the counts of what was
//! seen, matched and dropped.
//!
//! Live, the filter runs in the kernel (classic BPF on each socket), so packets it rejects never
//! reach sockscope; from a file, the same compiled program runs in user space.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::output::handshake::{LocalOwner, Side};
use crate::packet::decode::{self, Decoded};
use crate::packet::filter::{Filter, Program};
use crate::packet::handshake::{self, Attempt, Tracker};
use crate::packet::pcap::{Precision, Reader, Writer};
use crate::packet::{Frame, LinkType, live};
use crate::sockets::collect::{self, OwnerScan, Query};
use crate::sockets::{Proto, Socket, State};

/// The snap length written in pcap headers and returned by the filters.
pub const SNAPLEN: u32 = 262_144;
/// How often a live session looks at the clock, the stop signals and the handshake timers, and
/// flushes the pcap file and the output.
const TICK: Duration = Duration::from_millis(100);
/// Default receive buffer of each capture socket: enough for a burst of ~100,000 small packets
/// on loopback (the kernel charges ~1 KiB per packet queued).
pub const DEFAULT_BUFFER: usize = 128 << 20;

/// Where packets come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Live capture on `-i IFACE` (None: every interface that is up).
    Live {
        interface: Option<String>,
        promiscuous: bool,
        buffer: usize,
    },
    /// A pcap or pcapng file (`-` is standard input).
    File(PathBuf),
}

/// Where the pcap goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A file.
    File(PathBuf),
    /// Standard output (`-w -`): then nothing else is printed on stdout.
    Stdout,
}

/// What the consumer is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// One record per packet.
    Packets,
    /// One record per TCP connection attempt.
    Handshakes,
    /// Nothing (only `-w`).
    Nothing,
}

/// A session's settings, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: Source,
    pub filter: Filter,
    /// Stop after this many matching packets (handshakes with [`View::Handshakes`]).
    pub count: Option<u64>,
    pub duration: Option<Duration>,
    pub write: Option<Output>,
    pub view: View,
}

/// The renderer side of a session.
pub trait Consumer {
    /// A packet that matched the filter, decoded.
    fn packet(&mut self, frame: &Frame, decoded: &Decoded) -> io::Result<()>;
    /// A decided connection attempt, with the local processes at its ends when known.
    fn handshake(&mut self, attempt: &Attempt, owners: &[LocalOwner]) -> io::Result<()>;
    /// Flush what was written (the session calls it when it has nothing more for now).
    fn flush(&mut self) -> io::Result<()>;
}

/// What a session counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Frames read: from the kernel (after its filter) or from the file.
    pub seen: u64,
    /// Frames that matched the filter and were shown or written (within `-c`).
    pub matched: u64,
    /// Handshakes reported (`--handshakes`).
    pub handshakes: u64,
    /// Live: packets dropped by the kernel for lack of buffer space (PACKET_STATISTICS).
    pub dropped: Option<u64>,
    /// Live: packets the kernel's filter accepted, dropped ones included (PACKET_STATISTICS).
    pub received_by_filter: Option<u64>,
}

/// How a session ended.
#[derive(Debug)]
pub struct Ended {
    pub summary: Summary,
    /// Set when it ended on an error after having started (a damaged file, a failed read).
    pub error: Option<Error>,
}

/// Messages for the user while the session runs (stderr).
pub trait Notes {
    fn note(&mut self, text: &str);
}

impl<F: FnMut(&str)> Notes for F {
    fn note(&mut self, text: &str) {
        self(text)
    }
}

/// Runs a session to its end.
pub fn run(config: &Config, consumer: &mut dyn Consumer, notes: &mut dyn Notes) -> Result<Ended> {
    match &config.source {
        Source::File(path) => run_file(config, path, consumer, notes),
        Source::Live {
            interface,
            promiscuous,
            buffer,
        } => {
            let opts = live::Options {
                promiscuous: *promiscuous,
                buffer: *buffer,
            };
            run_live(config, interface.as_deref(), &opts, consumer, notes)
        }
    }
}

/// Compiles the filter for one link type, as a usage error when it cannot be.
fn compile(filter: &Filter, link: LinkType) -> Result<Program> {
    filter
        .compile(link)
        .map_err(|e| Error::Usage(e.to_string()))
}

/// The pcap file being written.
struct PcapOut {
    writer: Writer<BufWriter<Box<dyn Write>>>,
    link: LinkType,
    name: String,
}

impl PcapOut {
    fn create(output: &Output, link: LinkType) -> Result<PcapOut> {
        let (sink, name): (Box<dyn Write>, String) = match output {
            Output::Stdout => (Box::new(io::stdout()), "standard output".into()),
            Output::File(path) => {
                let file = File::create(path).map_err(|e| {
                    Error::Other(format!(
                        "-w {}: cannot create the file: {e}",
                        path.display()
                    ))
                })?;
                (Box::new(file), path.display().to_string())
            }
        };
        let writer = Writer::new(
            BufWriter::with_capacity(1 << 20, sink),
            link,
            SNAPLEN,
            Precision::Nano,
        )
        .map_err(|e| write_error(&name, e))?;
        Ok(PcapOut { writer, link, name })
    }

    fn write(&mut self, frame: &Frame) -> Result<()> {
        if frame.link != self.link {
            return Err(Error::Usage(format!(
                "-w {}: a pcap file holds one link type, and this capture has two \
                 ({:?} and {:?}); capture one interface with -i",
                self.name, self.link, frame.link
            )));
        }
        self.writer
            .write(frame.ts, frame.data, frame.orig_len)
            .map_err(|e| write_error(&self.name, e))
    }

    fn flush(&mut self) -> Result<()> {
        self.writer.flush().map_err(|e| write_error(&self.name, e))
    }
}

fn write_error(name: &str, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return Error::Output(e);
    }
    Error::Other(format!("cannot write the pcap to {name}: {e}"))
}

/// The per-frame work shared by live and file sessions.
struct Pipeline<'a> {
    config: &'a Config,
    consumer: &'a mut dyn Consumer,
    pcap: Option<PcapOut>,
    tracker: Option<Tracker>,
    owners: OwnerLookup,
    summary: Summary,
}

impl<'a> Pipeline<'a> {
    fn new(config: &'a Config, consumer: &'a mut dyn Consumer, live: bool) -> Pipeline<'a> {
        let tracker =
            (config.view == View::Handshakes).then(|| Tracker::new(handshake::Config::default()));
        Pipeline {
            config,
            consumer,
            pcap: None,
            tracker,
            owners: OwnerLookup::new(live && config.view == View::Handshakes),
            summary: Summary::default(),
        }
    }

    /// Whether `-c` is reached.
    fn done(&self) -> bool {
        let n = match self.config.view {
            View::Handshakes => self.summary.handshakes,
            _ => self.summary.matched,
        };
        self.config.count.is_some_and(|c| n >= c)
    }

    /// Handles one frame that matched the filter.
    fn frame(&mut self, frame: &Frame) -> Result<()> {
        if self.done() {
            return Ok(());
        }
        self.summary.matched += 1;
        if let Some(pcap) = &mut self.pcap {
            pcap.write(frame)?;
        }
        match self.config.view {
            View::Nothing => {}
            View::Packets => {
                let decoded = decode::decode(frame.link, frame.data);
                self.consumer
                    .packet(frame, &decoded)
                    .map_err(Error::Output)?;
            }
            View::Handshakes => {
                let decoded = decode::decode(frame.link, frame.data);
                if let Some(tracker) = &mut self.tracker {
                    let decided = handshake_input(tracker, frame, &decoded);
                    self.owners.queue(decided);
                }
                if !self.owners.live {
                    self.report()?;
                }
            }
        }
        Ok(())
    }

    /// Decides attempts that have been silent for long enough at time `now`.
    fn expire(&mut self, now: Duration) {
        if let Some(tracker) = &mut self.tracker {
            let decided = tracker.expire(now);
            self.owners.queue(decided);
        }
    }

    /// Hands decided attempts to the consumer, with their local processes.
    fn report(&mut self) -> Result<()> {
        for (attempt, owners) in self.owners.resolve() {
            if self
                .config
                .count
                .is_some_and(|c| self.summary.handshakes >= c)
            {
                break;
            }
            self.summary.handshakes += 1;
            self.consumer
                .handshake(&attempt, &owners)
                .map_err(Error::Output)?;
        }
        Ok(())
    }

    /// Flushes output and the pcap.
    fn flush(&mut self) -> Result<()> {
        if let Some(pcap) = &mut self.pcap {
            pcap.flush()?;
        }
        self.consumer.flush().map_err(Error::Output)
    }

    /// The end: pending attempts are decided as they stand, everything is flushed.
    fn finish(&mut self) -> Result<()> {
        if let Some(tracker) = self.tracker.take() {
            let decided = tracker.finish();
            self.owners.queue(decided);
        }
        self.report()?;
        self.flush()
    }
}

/// Feeds one decoded frame to the tracker; returns the attempts it decided.
fn handshake_input(tracker: &mut Tracker, frame: &Frame, d: &Decoded) -> Vec<Attempt> {
    let mut decided = Vec::new();
    if let Some(segment) = decode::tcp_segment(frame.ts, d) {
        decided.extend(tracker.segment(&segment));
    } else if let Some(error) = decode::icmp_error_for_tcp(frame.ts, d) {
        decided.extend(tracker.icmp(&error));
    }
    decided
}

/// Names the local processes at the ends of decided attempts, in batches: one read of the socket
/// table and one /proc scan per batch, however many attempts it holds.
struct OwnerLookup {
    live: bool,
    local: Vec<IpAddr>,
    pending: Vec<Attempt>,
}

impl OwnerLookup {
    fn new(live: bool) -> OwnerLookup {
        OwnerLookup {
            live,
            local: if live {
                crate::check::local_addresses()
            } else {
                Vec::new()
            },
            pending: Vec::new(),
        }
    }

    fn queue(&mut self, decided: Vec<Attempt>) {
        self.pending.extend(decided);
    }

    fn is_local(&self, ip: IpAddr) -> bool {
        ip.is_loopback() || self.local.contains(&ip)
    }

    /// The pending attempts with their owners (none when reading a file: the processes of
    /// this host now have nothing to do with it).
    fn resolve(&mut self) -> Vec<(Attempt, Vec<LocalOwner>)> {
        let pending = std::mem::take(&mut self.pending);
        if pending.is_empty() {
            return Vec::new();
        }
        if !self.live {
            return pending.into_iter().map(|a| (a, Vec::new())).collect();
        }
        let mut ports = Vec::new();
        for a in &pending {
            if self.is_local(a.client.ip()) {
                ports.push(a.client.port());
            }
            if self.is_local(a.server.ip()) {
                ports.push(a.server.port());
            }
        }
        ports.sort_unstable();
        ports.dedup();
        let snapshot = if ports.is_empty() {
            None
        } else {
            let query = Query {
                protocols: vec![Proto::Tcp],
                ..Query::default()
            };
            let keep = |s: &Socket| {
                s.local
                    .port
                    .is_some_and(|p| ports.binary_search(&p).is_ok())
            };
            collect::collect(
                collect::default_backend().as_ref(),
                &query,
                &keep,
                OwnerScan::Kept,
            )
            .ok()
        };
        pending
            .into_iter()
            .map(|a| {
                let owners = match &snapshot {
                    Some(snap) => owners_of(&a, snap, |ip| self.is_local(ip)),
                    None => Vec::new(),
                };
                (a, owners)
            })
            .collect()
    }
}

/// The processes at the local ends of an attempt: the client's connecting socket, and the
/// server's accepted connection or else its listening socket.
fn owners_of(
    a: &Attempt,
    snap: &crate::sockets::Snapshot,
    is_local: impl Fn(IpAddr) -> bool,
) -> Vec<LocalOwner> {
    let processes = |s: &Socket| -> Vec<crate::sockets::ProcessInfo> {
        s.owners
            .pids()
            .iter()
            .filter_map(|pid| snap.processes.get(pid).cloned())
            .collect()
    };
    let same = |e: &crate::sockets::Endpoint, addr: std::net::SocketAddr| {
        e.port == Some(addr.port()) && e.addr.as_ip().is_some_and(|ip| same_ip(ip, addr.ip()))
    };
    let mut out = Vec::new();
    if is_local(a.client.ip())
        && let Some(s) = snap
            .sockets
            .iter()
            .find(|s| same(&s.local, a.client) && same(&s.remote, a.server))
    {
        let processes = processes(s);
        if !processes.is_empty() {
            out.push(LocalOwner {
                side: Side::Client,
                processes,
            });
        }
    }
    if is_local(a.server.ip()) {
        let accepted = snap
            .sockets
            .iter()
            .find(|s| same(&s.local, a.server) && same(&s.remote, a.client));
        let listener = || {
            snap.sockets.iter().find(|s| {
                s.state == State::Listen
                    && s.local.port == Some(a.server.port())
                    && s.local
                        .addr
                        .as_ip()
                        .is_some_and(|ip| ip.is_unspecified() || same_ip(ip, a.server.ip()))
            })
        };
        if let Some(s) = accepted
            .filter(|s| !s.owners.pids().is_empty())
            .or_else(listener)
        {
            let processes = processes(s);
            if !processes.is_empty() {
                out.push(LocalOwner {
                    side: Side::Server,
                    processes,
                });
            }
        }
    }
    out
}

/// Equal addresses, an IPv4-mapped IPv6 address being its IPv4 address.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    let plain = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    plain(a) == plain(b)
}

fn run_file(
    config: &Config,
    path: &Path,
    consumer: &mut dyn Consumer,
    notes: &mut dyn Notes,
) -> Result<Ended> {
    let (input, name): (Box<dyn Read>, String) = if path == Path::new("-") {
        (Box::new(io::stdin()), "standard input".into())
    } else {
        let file = File::open(path).map_err(|e| {
            let what = format!("-r {}: cannot open the file: {e}", path.display());
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            ) {
                Error::Usage(what)
            } else {
                Error::Other(what)
            }
        })?;
        (Box::new(file), path.display().to_string())
    };
    let mut reader = Reader::new(io::BufReader::with_capacity(1 << 20, input))
        .map_err(|e| Error::Usage(format!("-r {name}: {e}")))?;
    let mut programs: HashMap<LinkType, Program> = HashMap::new();
    let mut pipeline = Pipeline::new(config, consumer, false);
    let mut error = None;
    loop {
        if crate::signals::stop_requested() || pipeline.done() {
            break;
        }
        let frame = match reader.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(e) => {
                error = Some(Error::Usage(format!("-r {name}: {e}")));
                break;
            }
        };
        pipeline.summary.seen += 1;
        let program = match programs.get(&frame.link) {
            Some(p) => p,
            None => {
                let p = compile(&config.filter, frame.link)?;
                programs.entry(frame.link).or_insert(p)
            }
        };
        if !program.matches(frame.data, frame.orig_len) {
            continue;
        }
        if let Some(output) = &config.write
            && pipeline.pcap.is_none()
        {
            pipeline.pcap = Some(PcapOut::create(output, frame.link)?);
        }
        let ts = frame.ts;
        if let Err(e) = pipeline.frame(&frame) {
            error = Some(e);
            break;
        }
        pipeline.expire(ts);
    }
    if let Some(offset) = reader.truncated() {
        notes.note(&format!(
            "{name}: the file ends in the middle of a packet (byte {offset}): it was cut short; \
             read every packet before that"
        ));
    }
    // A pcap asked for but with nothing matched still gets its header, as tcpdump does.
    if let Some(output) = &config.write
        && pipeline.pcap.is_none()
        && error.is_none()
    {
        pipeline.pcap = Some(PcapOut::create(output, LinkType::Ethernet)?);
    }
    if let Err(e) = pipeline.finish()
        && error.is_none()
    {
        error = Some(e);
    }
    Ok(Ended {
        summary: pipeline.summary,
        error,
    })
}

fn run_live(
    config: &Config,
    interface: Option<&str>,
    opts: &live::Options,
    consumer: &mut dyn Consumer,
    notes: &mut dyn Notes,
) -> Result<Ended> {
    let (interfaces, skipped) = live::select(interface)?;
    let programs = interfaces
        .iter()
        .map(|i| compile(&config.filter, i.link))
        .collect::<Result<Vec<_>>>()?;
    let mut pipeline = Pipeline::new(config, consumer, true);
    if let Some(output) = &config.write {
        let link = interfaces[0].link;
        if let Some(other) = interfaces.iter().find(|i| i.link != link) {
            return Err(Error::Usage(format!(
                "-w: a pcap file holds one link type, but {} and {} differ; pick one \
                 interface with -i",
                interfaces[0].name, other.name
            )));
        }
        pipeline.pcap = Some(PcapOut::create(output, link)?);
    }
    let opened = live::open(&interfaces, &programs, opts)?;
    let user_filter: Vec<bool> = opened.kernel_filter.iter().map(|k| !k).collect();
    for (iface, _) in interfaces.iter().zip(&user_filter).filter(|(_, u)| **u) {
        notes.note(&format!(
            "the kernel refused the filter on {} as too large (net.core.optmem_max): \
             filtering in user space instead, which costs CPU",
            iface.name
        ));
    }
    if let Err(e) = live::drop_privileges(config.view == View::Handshakes) {
        notes.note(&format!("could not drop privileges: {e}"));
    }
    for text in &skipped {
        notes.note(text);
    }
    let names: Vec<&str> = interfaces.iter().map(|i| i.name.as_str()).collect();
    let filter = if config.filter.is_empty() {
        String::new()
    } else {
        format!(", filter '{}'", config.filter)
    };
    notes.note(&format!(
        "capturing on {}{filter}{} (Ctrl-C stops)",
        names.join(", "),
        if opts.promiscuous {
            ", promiscuous"
        } else {
            ""
        }
    ));

    let (running, rx) = opened.start();
    let started = Instant::now();
    let deadline = config.duration.map(|d| started + d);
    let mut active = interfaces.len();
    let mut next_tick = Instant::now() + TICK;
    let mut error = None;
    loop {
        if crate::signals::stop_requested() || pipeline.done() {
            break;
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        if now >= next_tick {
            next_tick = now + TICK;
            pipeline.expire(wall_clock());
            if let Err(e) = pipeline.report().and_then(|()| pipeline.flush()) {
                error = Some(e);
                break;
            }
        }
        let wait = next_tick
            .min(deadline.unwrap_or(next_tick))
            .saturating_duration_since(now);
        let first = match rx.recv_timeout(wait) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        // Take what is already queued in one go, then flush: immediate when traffic is light,
        // batched when it is heavy.
        let mut event = Some(first);
        let mut handled = 0;
        while let Some(ev) = event.take() {
            match ev {
                live::Event::Frames(frames) => {
                    for captured in frames {
                        pipeline.summary.seen += 1;
                        let iface = &interfaces[captured.interface];
                        let len = u32::try_from(captured.data.len()).unwrap_or(u32::MAX);
                        if user_filter[captured.interface]
                            && !programs[captured.interface].matches(&captured.data, len)
                        {
                            continue;
                        }
                        let frame = Frame {
                            ts: captured.ts,
                            link: iface.link,
                            data: &captured.data,
                            orig_len: len,
                            interface: Some(&iface.name),
                        };
                        if let Err(e) = pipeline.frame(&frame) {
                            error = Some(e);
                            break;
                        }
                        handled += 1;
                    }
                }
                live::Event::Failed {
                    interface,
                    error: e,
                } => {
                    let name = &interfaces[interface].name;
                    notes.note(&format!("stopped capturing on {name}: {e}"));
                    active -= 1;
                    if active == 0 {
                        error = Some(Error::Other(format!("capture failed on {name}: {e}")));
                    }
                }
            }
            if error.is_some() || pipeline.done() || handled >= 4096 {
                break;
            }
            event = rx.try_recv().ok();
        }
        if error.is_some() {
            break;
        }
        if config.view != View::Handshakes
            && let Err(e) = pipeline.consumer.flush()
        {
            error = Some(Error::Output(e));
            break;
        }
    }
    let stats = running.stop(rx);
    pipeline.summary.dropped = Some(stats.drops);
    pipeline.summary.received_by_filter = Some(stats.packets);
    if let Err(e) = pipeline.finish()
        && error.is_none()
    {
        error = Some(e);
    }
    Ok(Ended {
        summary: pipeline.summary,
        error,
    })
}

fn wall_clock() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}
