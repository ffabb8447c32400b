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
use crate::packet::handshake::{self, Attempt, Outcome, Tracker};
use crate::packet::pcap::{Precision, Reader, Writer};
use crate::packet::{Frame, LinkType, live};
use crate::sockets::collect::{self, OwnerScan, Query};
use crate::sockets::{Proto, Socket, State};

/// The snap length written in pcap headers and returned by the filters.
pub const SNAPLEN: u32 = 262_144;
/// How often a live session looks at the clock, the stop signals and the handshake timers, and
/// flushes the pcap file and the output.
const TICK: Duration = Duration::from_millis(100);
/// Receive buffer budget of a capture, shared by its sockets (the kernel doubles what is asked
/// and charges ~1 KiB per small packet queued, so one interface can hold a burst of ~200,000
/// packets while the reader catches up).
pub const DEFAULT_BUFFER: usize = 128 << 20;
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

impl PcapOut {
    fn create(output: &Output, link: LinkType) -> Result<PcapOut> {
        let (sink, name): (Box<dyn Write>, String) = match output {
            Output::Stdout => (Box::new(io::stdout()), "standard output".into()),
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

    /// Handles one frame that the capture program let through; `matched`: it matched the
    /// user's filter too (else it is an ICMP error let through for the tracker only).
    fn frame(&mut self, frame: &Frame, matched: bool) -> Result<()> {
        if self.done() {
            return Ok(());
        }
        if !matched {
            if let Some(tracker) = &mut self.tracker {
                let decoded = decode::decode(frame.link, frame.data);
                if let Some(error) = decode::icmp_error_for_tcp(frame.ts, &decoded) {
                    let decided = tracker.icmp(&error);
                    self.owners.queue(decided.into_iter().collect());
                }
            }
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
                // A connection's first SYN: look its client up while its socket still exists
                // (a refused or short-lived one may be gone by the time it is decided).
                if let Some(seg) = decode::tcp_segment(frame.ts, &decoded)
                    && seg.flags & handshake::SYN != 0
                    && seg.flags & handshake::ACK == 0
                {
                    self.owners.early(seg.src, seg.dst);
                }
                if !self.owners.live {
                    self.report(false)?;
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
/// table and one /proc scan per batch, at most every LOOKUP_INTERVAL however many attempts
/// are decided meanwhile (a SYN flood must not turn into a /proc scan per SYN).
struct OwnerLookup {
    live: bool,
    local: Vec<IpAddr>,
    pending: Vec<Attempt>,
    last: Option<Instant>,
    /// Clients of SYNs seen since the last lookup, to be looked up as soon as may be.
    early: Vec<(std::net::SocketAddr, std::net::SocketAddr)>,
    /// Client processes found early, by (client, server), until their attempt is decided.
    found: HashMap<(Key, Key), Vec<crate::sockets::ProcessInfo>>,
}

/// The most client lookups remembered (a SYN flood must not grow memory without bound).
const MAX_FOUND: usize = 65_536;

/// The shortest time between two owner lookups.
const LOOKUP_INTERVAL: Duration = Duration::from_millis(250);

/// Endpoints as plain IPs (an IPv4-mapped IPv6 address as IPv4), for map keys.
type Key = (IpAddr, u16);

fn key(addr: std::net::SocketAddr) -> Key {
    (plain_ip(addr.ip()), addr.port())
}

fn endpoint_key(e: &crate::sockets::Endpoint) -> Option<Key> {
    Some((plain_ip(e.addr.as_ip()?), e.port?))
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
            last: None,
            early: Vec::new(),
            found: HashMap::new(),
        }
    }

    /// Notes the first SYN of a connection from `client` (when it is local).
    fn early(&mut self, client: std::net::SocketAddr, server: std::net::SocketAddr) {
        if self.live && self.is_local(client.ip()) && self.early.len() < MAX_FOUND {
            self.early.push((client, server));
        }
    }

    /// Whether a lookup is wanted now.
    fn due(&self) -> bool {
        !self.early.is_empty() && self.last.is_none_or(|t| t.elapsed() >= LOOKUP_INTERVAL)
    }

    fn queue(&mut self, decided: Vec<Attempt>) {
        self.pending.extend(decided);
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
        if !self.live {
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
        let index = if wanted {
            self.last = Some(Instant::now());
            let mut ports: Vec<u16> = Vec::new();
            for a in pending.iter().filter(|a| self.worth_looking(a)) {
                ports.extend([a.client.port(), a.server.port()]);
            }
            ports.extend(self.early.iter().map(|(c, _)| c.port()));
            ports.sort_unstable();
            ports.dedup();
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
            .map(SocketIndex::new)
        } else {
            None
        };
        let early = std::mem::take(&mut self.early);
        if let Some(index) = &index {
            if self.found.len() + early.len() > MAX_FOUND {
                self.found.clear();
            }
            for (client, server) in early {
                if let Some(&i) = index.connected.get(&(key(client), key(server))) {
                    let processes = index.processes(i);
                    if !processes.is_empty() {
                        self.found.insert((key(client), key(server)), processes);
                    }
                }
            }
        }
        pending
            .into_iter()
            .map(|a| {
                let mut owners = match &index {
                    Some(index) if self.worth_looking(&a) => {
                        index.owners_of(&a, |ip| self.is_local(ip))
                    }
                    _ => Vec::new(),
                };
                let early = self.found.remove(&(key(a.client), key(a.server)));
                if let Some(processes) = early
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

/// One socket-table read, indexed for the attempts of a batch.
struct SocketIndex {
    snap: crate::sockets::Snapshot,
    /// (local, remote) → socket position, for connected sockets.
    connected: HashMap<(Key, Key), usize>,
    /// port → listening socket positions.
    listening: HashMap<u16, Vec<usize>>,
}

impl SocketIndex {
    fn new(snap: crate::sockets::Snapshot) -> SocketIndex {
        let mut connected = HashMap::new();
        let mut listening: HashMap<u16, Vec<usize>> = HashMap::new();
        for (i, s) in snap.sockets.iter().enumerate() {
            if s.state == State::Listen {
                if let Some(port) = s.local.port {
                    listening.entry(port).or_default().push(i);
                }
            } else if let (Some(l), Some(r)) = (endpoint_key(&s.local), endpoint_key(&s.remote)) {
                // Keep the one with owners when a tuple shows twice (a TIME-WAIT leftover).
                let has_owner = !s.owners.pids().is_empty();
                connected
                    .entry((l, r))
                    .and_modify(|e| {
                        if has_owner {
                            *e = i
                        }
                    })
                    .or_insert(i);
            }
        }
        SocketIndex {
            snap,
            connected,
            listening,
        }
    }

    fn processes(&self, i: usize) -> Vec<crate::sockets::ProcessInfo> {
        self.snap.sockets[i]
            .owners
            .pids()
            .iter()
            .filter_map(|pid| self.snap.processes.get(pid).cloned())
            .collect()
    }

    /// The processes at the local ends of an attempt: the client's connecting socket, and the
    /// server's accepted connection or else its listening socket.
    fn owners_of(&self, a: &Attempt, is_local: impl Fn(IpAddr) -> bool) -> Vec<LocalOwner> {
        let mut out = Vec::new();
        let mut push = |side, processes: Vec<crate::sockets::ProcessInfo>| {
            if !processes.is_empty() {
                out.push(LocalOwner { side, processes });
            }
        };
        let (client, server) = (key(a.client), key(a.server));
        if is_local(a.client.ip())
            && let Some(&i) = self.connected.get(&(client, server))
        {
            push(Side::Client, self.processes(i));
        }
        if is_local(a.server.ip()) {
            let accepted = self
                .connected
                .get(&(server, client))
                .map(|&i| self.processes(i))
                .filter(|p| !p.is_empty());
            let listener = || {
                self.listening
                    .get(&a.server.port())?
                    .iter()
                    .find(|&&i| {
                        self.snap.sockets[i].local.addr.as_ip().is_some_and(|ip| {
                            ip.is_unspecified() || plain_ip(ip) == plain_ip(a.server.ip())
                        })
                    })
                    .map(|&i| self.processes(i))
            };
            if let Some(p) = accepted.or_else(listener) {
                push(Side::Server, p);
            }
        }
        out
    }
}

/// An IPv4-mapped IPv6 address as its IPv4 address; others unchanged.
fn plain_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
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
    let mut programs: HashMap<LinkType, Programs> = HashMap::new();
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
            // A pcapng file may bring a new link type at any point: compile for it then.
            None => match Programs::new(config, frame.link) {
                Ok(p) => programs.entry(frame.link).or_insert(p),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            },
        };
        if !program.capture.matches(frame.data, frame.orig_len) {
            continue;
        }
        let matched = program.user_matches(frame.data, frame.orig_len);
        if let Some(output) = &config.write
            && pipeline.pcap.is_none()
        {
            match PcapOut::create(output, frame.link) {
                Ok(pcap) => pipeline.pcap = Some(pcap),
                Err(e) => {
                    error = Some(e);
                    break;
                }
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
    if let Some(output) = &config.write
        && pipeline.pcap.is_none()
        && error.is_none()
    {
        pipeline.pcap = Some(PcapOut::create(output, LinkType::Ethernet)?);
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
    let mut pipeline = Pipeline::new(config, consumer, true);
    // The file is created once the sockets are open (a capture that cannot start leaves an
    // existing file alone), and before privileges go (root may write where the user cannot).
    if let Some(output) = &config.write {
        pipeline.pcap = Some(PcapOut::create(output, interfaces[0].link)?);
    }
    if let Err(e) = live::drop_privileges(config.view == View::Handshakes) {
        notes.note(&format!("could not drop privileges: {e}"));
    }
    if config.view == View::Handshakes && !crate::sockets::owners::can_see_all_processes() {
        notes.note(&format!(
            "processes of other users' connections will not be named: {}",
            crate::sockets::HIDDEN_OWNERS_HINT
        ));
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
            pipeline.expire(wall_clock());
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
    running.request_stop();
    while error.is_none() {
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
                    pipeline.summary.seen += 1;
                    let iface = &self.interfaces[captured.interface];
                    let len = u32::try_from(captured.data.len()).unwrap_or(u32::MAX);
                    let programs = &self.programs[captured.interface];
                    if self.user_filter[captured.interface]
                        && !programs.capture.matches(&captured.data, len)
                    {
                        continue;
                    }
                    let matched = programs.user_matches(&captured.data, len);
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

fn wall_clock() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}
