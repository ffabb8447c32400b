//! A capture session: frames from a live source or a file → filter → pcap file / decoder →
//! packets or handshakes handed to a [`Consumer`] (the renderer), with the counts of what was
//! seen, matched and dropped.
//!
//! Live, the filter runs in the kernel (classic BPF on each socket), so packets it rejects never
//! reach sockscope; from a file, the same compiled program runs in user space.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::output::handshake::{LocalOwner, Side};
use crate::packet::decode::{self, Decoded};
use crate::packet::filter::{Filter, Program};
use crate::packet::handshake::{self, Attempt, Outcome, Tracker};
use crate::packet::owners::{self, Key, plain_ip};
use crate::packet::pcap::{Precision, Reader, Writer};
use crate::packet::{Frame, LinkType, live};
use crate::sockets::ProcessInfo;

/// The snap length written in pcap headers and returned by the filters.
pub const SNAPLEN: u32 = 262_144;
/// How often a live session looks at the clock, the stop signals and the handshake timers, and
/// flushes the pcap file and the output.
const TICK: Duration = Duration::from_millis(100);
/// Receive buffer budget of a capture, shared by its sockets (the kernel doubles what is asked
/// and charges ~1 KiB per small packet queued, so one interface can hold a burst of ~200,000
/// packets while the reader catches up).
pub const DEFAULT_BUFFER: usize = 128 << 20;
/// How long a stopped capture goes on taking the frames its readers had already read.
const STOP_DRAIN: Duration = Duration::from_secs(1);
/// The least buffer a socket gets when the budget is shared by many interfaces.
const MIN_BUFFER: usize = 4 << 20;

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

/// The programs of one link type.
#[derive(Debug, Clone)]
struct Programs {
    /// What the kernel (or, for files, the first look) lets through.
    capture: Program,
    /// With --handshakes and a filter: the user's own filter. The capture program then also
    /// lets ICMP and ICMPv6 through, so that an error quoting a SYN of a matching connection
    /// can say "unreachable" (with 'port 80' alone it could not); such packets go to the
    /// tracker only: they are neither counted as matched nor written.
    user: Option<Program>,
}

impl Programs {
    fn new(config: &Config, link: LinkType) -> Result<Programs> {
        if config.view != View::Handshakes || config.filter.is_empty() {
            return Ok(Programs {
                capture: compile(&config.filter, link)?,
                user: None,
            });
        }
        let widened = Filter::parse(&[format!("({}) or icmp or icmp6", config.filter)])
            .map_err(|e| Error::Usage(e.to_string()))?;
        Ok(Programs {
            capture: compile(&widened, link)?,
            user: Some(compile(&config.filter, link)?),
        })
    }

    /// Whether a frame the capture program let through matched the user's filter.
    fn user_matches(&self, data: &[u8], len: u32) -> bool {
        self.user.as_ref().is_none_or(|p| p.matches(data, len))
    }
}

/// The pcap file being written.
struct PcapOut {
    writer: Writer<BufWriter<Box<dyn Write>>>,
    link: LinkType,
    name: String,
}

/// Where the pcap goes, opened (the file created) but not written yet.
struct Sink {
    out: Box<dyn Write>,
    name: String,
}

impl Sink {
    fn open(output: &Output) -> Result<Sink> {
        Ok(match output {
            Output::Stdout => Sink {
                out: Box::new(io::stdout()),
                name: "standard output".into(),
            },
            Output::File(path) => {
                let file = File::create(path).map_err(|e| {
                    let what = format!("-w {}: cannot create the file: {e}", path.display());
                    // A path that cannot be is bad input, as for -r.
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound
                            | io::ErrorKind::PermissionDenied
                            | io::ErrorKind::IsADirectory
                            | io::ErrorKind::NotADirectory
                    ) {
                        Error::Usage(what)
                    } else {
                        Error::Other(what)
                    }
                })?;
                Sink {
                    out: Box::new(file),
                    name: path.display().to_string(),
                }
            }
        })
    }
}

impl PcapOut {
    /// Starts the pcap (its header holds the link type).
    fn new(sink: Sink, link: LinkType) -> Result<PcapOut> {
        let writer = Writer::new(
            BufWriter::with_capacity(1 << 20, sink.out),
            link,
            SNAPLEN,
            Precision::Nano,
        )
        .map_err(|e| write_error(&sink.name, e))?;
        Ok(PcapOut {
            writer,
            link,
            name: sink.name,
        })
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
    fn new(
        config: &'a Config,
        consumer: &'a mut dyn Consumer,
        owners: Option<owners::Source>,
    ) -> Pipeline<'a> {
        let tracker =
            (config.view == View::Handshakes).then(|| Tracker::new(handshake::Config::default()));
        Pipeline {
            config,
            consumer,
            pcap: None,
            tracker,
            owners: OwnerLookup::new(owners),
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

    /// Handles one frame that the capture program let through; `matched`: it matched the
    /// user's filter too (else it is an ICMP error let through for the tracker only).
    fn frame(&mut self, frame: &Frame, matched: bool) -> Result<()> {
        if self.done() {
            return Ok(());
        }
        if !matched {
            self.track(frame);
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
                self.track(frame);
                if !self.owners.live() {
                    self.report(false)?;
                }
            }
        }
        Ok(())
    }

    /// Feeds a frame to the handshake tracker: a TCP segment, or an ICMP error quoting one.
    fn track(&mut self, frame: &Frame) {
        let Some(tracker) = &mut self.tracker else {
            return;
        };
        let decoded = decode::decode(frame.link, frame.data);
        let decided = if let Some(seg) = decode::tcp_segment(frame.ts, &decoded) {
            // A connection's first SYN: look its client up while its socket still exists (a
            // short-lived one may be gone by the time it is decided; one refused on loopback
            // is gone within microseconds, before even this lookup).
            if seg.flags & handshake::SYN != 0 && seg.flags & handshake::ACK == 0 {
                self.owners.early(seg.src, seg.dst);
            }
            tracker.segment(&seg)
        } else if let Some(error) = decode::icmp_error_for_tcp(frame.ts, &decoded) {
            tracker.icmp(&error)
        } else {
            None
        };
        self.owners.queue(decided.into_iter().collect());
    }

    /// Decides attempts that have been silent for long enough at time `now`.
    fn expire(&mut self, now: Duration) {
        if let Some(tracker) = &mut self.tracker {
            let decided = tracker.expire(now);
            self.owners.queue(decided);
        }
    }

    /// Hands decided attempts to the consumer, with their local processes.
    fn report(&mut self, force: bool) -> Result<()> {
        for (attempt, owners) in self.owners.resolve(force) {
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

    /// Finishes the session (see [`Pipeline::finish`]) and says how it ended: with `error`, or
    /// else with whatever finishing failed on.
    fn end(mut self, error: Option<Error>) -> Ended {
        let finished = self.finish();
        Ended {
            summary: self.summary,
            error: error.or(finished.err()),
        }
    }

    /// The end: pending attempts are decided as they stand, everything is flushed.
    fn finish(&mut self) -> Result<()> {
        if let Some(tracker) = self.tracker.take() {
            let decided = tracker.finish();
            self.owners.queue(decided);
        }
        self.report(true)?;
        self.flush()
    }
}

/// Names the local processes at the ends of decided attempts, in batches: one read of the socket
/// table and one /proc scan per batch, at most every LOOKUP_INTERVAL however many attempts
/// are decided meanwhile (a SYN flood must not turn into a /proc scan per SYN). A live capture
/// asks its privileged helper ([`owners::Helper`]); a file names nobody.
struct OwnerLookup {
    source: Option<owners::Source>,
    local: Vec<IpAddr>,
    pending: Vec<Attempt>,
    last: Option<Instant>,
    /// Clients of new connection attempts, to be looked up as soon as may be.
    early: Vec<(SocketAddr, SocketAddr)>,
    /// Client processes found early, by (client, server), with when they were found, until
    /// their attempt is decided (or they are too old to matter).
    found: HashMap<(Key, Key), (Instant, Vec<ProcessInfo>)>,
}

/// The most client lookups remembered (a SYN flood must not grow memory without bound).
const MAX_FOUND: usize = 65_536;
/// How long an early lookup waits for its attempt to be decided.
const FOUND_FOR: Duration = Duration::from_secs(150);
/// The shortest time between two owner lookups.
const LOOKUP_INTERVAL: Duration = Duration::from_millis(250);

fn key(addr: SocketAddr) -> Key {
    (plain_ip(addr.ip()), addr.port())
}

impl OwnerLookup {
    fn new(source: Option<owners::Source>) -> OwnerLookup {
        OwnerLookup {
            local: if source.is_some() {
                crate::probe::local_addresses()
            } else {
                Vec::new()
            },
            source,
            pending: Vec::new(),
            last: None,
            early: Vec::new(),
            found: HashMap::new(),
        }
    }

    fn live(&self) -> bool {
        self.source.is_some()
    }

    fn queue(&mut self, decided: Vec<Attempt>) {
        self.pending.extend(decided);
    }

    /// Notes the SYN that starts a connection attempt from `client` (when it is local).
    fn early(&mut self, client: SocketAddr, server: SocketAddr) {
        if self.live()
            && self.is_local(client.ip())
            && self.early.len() < MAX_FOUND
            && !self.found.contains_key(&(key(client), key(server)))
        {
            self.early.push((client, server));
        }
    }

    /// Whether a lookup is wanted now.
    fn due(&self) -> bool {
        !self.early.is_empty() && self.last.is_none_or(|t| t.elapsed() >= LOOKUP_INTERVAL)
    }

    fn is_local(&self, ip: IpAddr) -> bool {
        ip.is_loopback() || self.local.contains(&ip)
    }

    /// Whether an end of the attempt may still have a socket to name. A refused attempt has
    /// none: the server has no listener and the client's socket died with the RST.
    fn worth_looking(&self, a: &Attempt) -> bool {
        a.outcome != Outcome::Refused
            && (self.is_local(a.client.ip()) || self.is_local(a.server.ip()))
    }

    /// The pending attempts with their owners (none when reading a file: the processes of
    /// this host now have nothing to do with it). Unless `now_or_never`, waits (returns
    /// nothing) while the last lookup is more recent than LOOKUP_INTERVAL.
    fn resolve(&mut self, now_or_never: bool) -> Vec<(Attempt, Vec<LocalOwner>)> {
        if self.pending.is_empty() && self.early.is_empty() {
            return Vec::new();
        }
        if !self.live() {
            return std::mem::take(&mut self.pending)
                .into_iter()
                .map(|a| (a, Vec::new()))
                .collect();
        }
        let wanted = !self.early.is_empty() || self.pending.iter().any(|a| self.worth_looking(a));
        if wanted && !now_or_never && self.last.is_some_and(|t| t.elapsed() < LOOKUP_INTERVAL) {
            return Vec::new();
        }
        let pending = std::mem::take(&mut self.pending);
        let early = std::mem::take(&mut self.early);
        let index = if wanted {
            self.last = Some(Instant::now());
            let mut ports: Vec<u16> = early.iter().map(|(c, _)| c.port()).collect();
            for a in pending.iter().filter(|a| self.worth_looking(a)) {
                ports.extend([a.client.port(), a.server.port()]);
            }
            self.source
                .as_mut()
                .and_then(|s| s.read(&ports))
                .map(owners::Index::new)
        } else {
            None
        };
        self.found.retain(|_, (at, _)| at.elapsed() < FOUND_FOR);
        if let Some(index) = &index {
            for (client, server) in early {
                if self.found.len() >= MAX_FOUND {
                    break;
                }
                if let Some(p) = index.connection(key(client), key(server)) {
                    self.found
                        .insert((key(client), key(server)), (Instant::now(), p.to_vec()));
                }
            }
        }
        pending
            .into_iter()
            .map(|a| {
                let mut owners = match &index {
                    Some(index) if self.worth_looking(&a) => {
                        owners_of(index, &a, |ip| self.is_local(ip))
                    }
                    _ => Vec::new(),
                };
                let early = self.found.remove(&(key(a.client), key(a.server)));
                if let Some((_, processes)) = early
                    && !owners.iter().any(|o| o.side == Side::Client)
                {
                    owners.insert(
                        0,
                        LocalOwner {
                            side: Side::Client,
                            processes,
                        },
                    );
                }
                (a, owners)
            })
            .collect()
    }
}

/// The processes at the local ends of an attempt: the client's connecting socket, and the
/// server's accepted connection or else its listening socket.
fn owners_of(
    index: &owners::Index,
    a: &Attempt,
    is_local: impl Fn(IpAddr) -> bool,
) -> Vec<LocalOwner> {
    let (client, server) = (key(a.client), key(a.server));
    let mut out = Vec::new();
    if is_local(a.client.ip())
        && let Some(p) = index.connection(client, server)
    {
        out.push(LocalOwner {
            side: Side::Client,
            processes: p.to_vec(),
        });
    }
    if is_local(a.server.ip())
        && let Some(p) = index
            .connection(server, client)
            .or_else(|| index.listener(server))
    {
        out.push(LocalOwner {
            side: Side::Server,
            processes: p.to_vec(),
        });
    }
    out
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
    // The output is created once the input is known to be a capture, and before privileges
    // go: a file from elsewhere is parsed without them (sudo sockscope capture -r FILE).
    let mut sink = config.write.as_ref().map(Sink::open).transpose()?;
    if let Err(e) = live::drop_privileges(false) {
        notes.note(&format!("could not drop privileges: {e}"));
    }
    let mut programs: HashMap<LinkType, Programs> = HashMap::new();
    let mut pipeline = Pipeline::new(config, consumer, None);
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
        let program = match programs.get(&frame.link) {
            Some(p) => p,
            // A pcapng file may bring a new link type at any point: compile for it then.
            None => match Programs::new(config, frame.link) {
                Ok(p) => programs.entry(frame.link).or_insert(p),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            },
        };
        let passes = program.capture.matches(frame.data, frame.orig_len);
        let matched = passes && program.user_matches(frame.data, frame.orig_len);
        // Seen: every frame read, except ICMP let through for the tracker only.
        if matched || !passes {
            pipeline.summary.seen += 1;
        }
        if !passes {
            continue;
        }
        if pipeline.pcap.is_none() {
            match sink.take().map(|sink| PcapOut::new(sink, frame.link)) {
                Some(Ok(pcap)) => pipeline.pcap = Some(pcap),
                Some(Err(e)) => {
                    error = Some(e);
                    break;
                }
                None => {}
            }
        }
        let ts = frame.ts;
        if let Err(e) = pipeline.frame(&frame, matched) {
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
    if let Some(sink) = sink
        && error.is_none()
    {
        match PcapOut::new(sink, LinkType::Ethernet) {
            Ok(pcap) => pipeline.pcap = Some(pcap),
            Err(e) => error = Some(e),
        }
    }
    Ok(pipeline.end(error))
}

fn run_live(
    config: &Config,
    interface: Option<&str>,
    opts: &live::Options,
    consumer: &mut dyn Consumer,
    notes: &mut dyn Notes,
) -> Result<Ended> {
    let (selected, mut skipped) = live::select(interface)?;
    // The helper that names processes is forked first, while this process has one thread and
    // nothing open that the helper should not hold.
    let owner_source = if config.view == View::Handshakes {
        if !crate::sockets::owners::can_see_all_processes() {
            notes.note(&format!(
                "processes of other users' connections will not be named: {}",
                crate::sockets::HIDDEN_OWNERS_HINT
            ));
        }
        match owners::Helper::spawn() {
            Ok(helper) => Some(owners::Source::Helper(helper)),
            Err(e) => {
                notes.note(&format!("processes will not be named: {e}"));
                None
            }
        }
    } else {
        None
    };
    let programs = selected
        .iter()
        .map(|i| Programs::new(config, i.link))
        .collect::<Result<Vec<_>>>()?;
    let capture_programs: Vec<Program> = programs.iter().map(|p| p.capture.clone()).collect();
    if config.write.is_some()
        && let Some(other) = selected.iter().find(|i| i.link != selected[0].link)
    {
        return Err(Error::Usage(format!(
            "-w: a pcap file holds one link type, but {} and {} differ; pick one interface \
             with -i",
            selected[0].name, other.name
        )));
    }
    // One buffer budget for the whole capture, so that capturing on every interface of a host
    // with hundreds of them does not pin gigabytes of kernel memory.
    let per_socket = live::Options {
        buffer: (opts.buffer / selected.len()).max(MIN_BUFFER),
        ..opts.clone()
    };
    let every = !matches!(interface, Some(name) if name != "any" && name != "all");
    let opened = live::open(
        &selected,
        &capture_programs,
        &per_socket,
        every,
        &mut skipped,
    )?;
    let interfaces: Vec<live::Interface> = opened
        .interfaces
        .iter()
        .map(|&i| selected[i].clone())
        .collect();
    let programs: Vec<Programs> = opened
        .interfaces
        .iter()
        .map(|&i| programs[i].clone())
        .collect();
    let user_filter: Vec<bool> = opened.kernel_filter.iter().map(|k| !k).collect();
    for (iface, _) in interfaces.iter().zip(&user_filter).filter(|(_, u)| **u) {
        notes.note(&format!(
            "the kernel refused the filter on {} as too large (net.core.optmem_max): \
             filtering in user space instead, which costs CPU",
            iface.name
        ));
    }
    let mut pipeline = Pipeline::new(config, consumer, owner_source);
    // The file is created once the sockets are open (a capture that cannot start leaves an
    // existing file alone), and before privileges go (root may write where the user cannot).
    if let Some(output) = &config.write {
        pipeline.pcap = Some(PcapOut::new(Sink::open(output)?, interfaces[0].link)?);
    }
    // Everything: naming processes is the helper's job.
    if let Err(e) = live::drop_privileges(false) {
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
    let mut live = Live {
        interfaces: &interfaces,
        programs: &programs,
        user_filter: &user_filter,
        active: interfaces.len(),
    };
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
            pipeline.expire(crate::packet::now());
            if let Err(e) = pipeline.report(false).and_then(|()| pipeline.flush()) {
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
            handled += live.event(ev, &mut pipeline, notes, &mut error);
            if error.is_some() || pipeline.done() || handled >= 4096 {
                break;
            }
            event = rx.try_recv().ok();
        }
        if error.is_some() {
            break;
        }
        // Clients of new SYNs are looked up at once (within the rate limit), not at the tick.
        if pipeline.owners.due()
            && let Err(e) = pipeline.report(false)
        {
            error = Some(e);
            break;
        }
        if config.view != View::Handshakes
            && let Err(e) = pipeline.consumer.flush()
        {
            error = Some(Error::Output(e));
            break;
        }
    }
    // What the readers had already read when the capture was told to stop belongs to it (a
    // Ctrl-C after a burst keeps the whole burst): take it until they have all ended.
    // At most for STOP_DRAIN: behind a slow terminal the queue could take many seconds to print,
    // and a user who pressed Ctrl-C wants it to end (what is left is not counted as seen).
    running.request_stop();
    let drain_until = Instant::now() + STOP_DRAIN;
    while error.is_none() && Instant::now() < drain_until {
        match rx.recv_timeout(TICK) {
            Ok(ev) => {
                live.event(ev, &mut pipeline, notes, &mut error);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    drop(rx);
    let stats = running.join();
    pipeline.summary.dropped = Some(stats.drops);
    pipeline.summary.received_by_filter = Some(stats.packets);
    Ok(pipeline.end(error))
}

/// The live capture's view of the readers' events.
struct Live<'a> {
    interfaces: &'a [live::Interface],
    programs: &'a [Programs],
    user_filter: &'a [bool],
    /// Readers still running.
    active: usize,
}

impl Live<'_> {
    /// Handles one event; returns how many frames it held. Sets `error` when the capture must
    /// end.
    fn event(
        &mut self,
        ev: live::Event,
        pipeline: &mut Pipeline,
        notes: &mut dyn Notes,
        error: &mut Option<Error>,
    ) -> usize {
        match ev {
            live::Event::Frames(frames) => {
                let n = frames.len();
                for captured in frames {
                    // Past -c nothing more is looked at, nor counted.
                    if pipeline.done() {
                        break;
                    }
                    let iface = &self.interfaces[captured.interface];
                    let len = u32::try_from(captured.data.len()).unwrap_or(u32::MAX);
                    let programs = &self.programs[captured.interface];
                    // Passed the capture program (in the kernel, or here when it refused it).
                    let passes = !self.user_filter[captured.interface]
                        || programs.capture.matches(&captured.data, len);
                    let matched = passes && programs.user_matches(&captured.data, len);
                    // Seen: every frame read, except ICMP let through for the tracker only.
                    if matched || !passes {
                        pipeline.summary.seen += 1;
                    }
                    if !passes {
                        continue;
                    }
                    let frame = Frame {
                        ts: captured.ts,
                        link: iface.link,
                        data: &captured.data,
                        orig_len: len,
                        interface: Some(&iface.name),
                    };
                    if error.is_none()
                        && let Err(e) = pipeline.frame(&frame, matched)
                    {
                        *error = Some(e);
                    }
                }
                n
            }
            live::Event::Note { interface, text } => {
                notes.note(&format!("{}: {text}", self.interfaces[interface].name));
                0
            }
            live::Event::Failed {
                interface,
                error: e,
            } => {
                let name = &self.interfaces[interface].name;
                notes.note(&format!("stopped capturing on {name}: {e}"));
                self.active = self.active.saturating_sub(1);
                if self.active == 0 && error.is_none() {
                    *error = Some(Error::Other(format!("capture failed on {name}: {e}")));
                }
                0
            }
        }
    }
}
