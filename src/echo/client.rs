//! The echo client: sends messages, checks every echo byte for byte and times it; and a load
//! mode (many connections, round trips or streaming) for benchmarks.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket, UnixStream};

use crate::error::Result;
use crate::probe::{self, ErrorClass, udp_connected};

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Tcp(String),
    Udp(String),
    Unix(PathBuf),
}

impl Target {
    /// For messages: `127.0.0.1:7007`, `unix /run/x.sock`.
    pub fn label(&self) -> String {
        match self {
            Target::Tcp(a) | Target::Udp(a) => a.clone(),
            Target::Unix(p) => p.display().to_string(),
        }
    }

    fn proto(&self) -> &'static str {
        match self {
            Target::Tcp(_) => "tcp",
            Target::Udp(_) => "udp",
            Target::Unix(_) => "unix",
        }
    }
}

/// Why a run is not a clean success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Failure {
    Refused,
    Timeout,
    Unreachable,
    Closed,
    Mismatch,
    Lost,
    Error,
}

/// A connection-level failure, with what to tell the user.
#[derive(Debug)]
pub struct ConnectError {
    pub kind: Failure,
    pub message: String,
}

/// Resolves `host:port` (names too: the first address that answers is used).
pub async fn resolve(hostport: &str) -> Result<Vec<SocketAddr>, ConnectError> {
    // A resolver that does not answer must not hold the client forever.
    let lookup = tokio::time::timeout(Duration::from_secs(10), tokio::net::lookup_host(hostport));
    match lookup.await.unwrap_or_else(|_| {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no answer from the resolver",
        ))
    }) {
        Ok(addrs) => {
            let v: Vec<SocketAddr> = addrs.collect();
            if v.is_empty() {
                Err(ConnectError {
                    kind: Failure::Error,
                    message: format!("{hostport} has no address"),
                })
            } else {
                Ok(v)
            }
        }
        Err(e) => Err(ConnectError {
            kind: Failure::Error,
            message: format!("cannot resolve {hostport}: {e}"),
        }),
    }
}

impl From<ErrorClass> for Failure {
    fn from(c: ErrorClass) -> Failure {
        match c {
            ErrorClass::Refused => Failure::Refused,
            ErrorClass::Timeout => Failure::Timeout,
            ErrorClass::Unreachable => Failure::Unreachable,
            ErrorClass::Other => Failure::Error,
        }
    }
}

fn connect_failure(what: &str, e: &io::Error) -> ConnectError {
    let kind = Failure::from(probe::classify(e));
    let message = match kind {
        Failure::Refused => format!("refused: nothing listens on {what} (connection refused)"),
        Failure::Timeout => format!("timeout: no answer from {what}"),
        Failure::Unreachable => format!("unreachable: {what}: {e}"),
        _ => format!("cannot connect to {what}: {e}"),
    };
    ConnectError { kind, message }
}

/// A connected stream of either kind.
pub enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// Connects to a stream target within `timeout`.
pub async fn connect_stream(
    target: &Target,
    timeout: Duration,
) -> Result<(Conn, String), ConnectError> {
    match target {
        Target::Unix(path) => {
            let what = path.display().to_string();
            match tokio::time::timeout(timeout, UnixStream::connect(path)).await {
                Ok(Ok(s)) => Ok((Conn::Unix(s), what)),
                Ok(Err(e)) => Err(connect_failure(&what, &e)),
                Err(_) => Err(connect_failure(
                    &what,
                    &io::Error::from(io::ErrorKind::TimedOut),
                )),
            }
        }
        Target::Tcp(hostport) | Target::Udp(hostport) => {
            let addrs = resolve(hostport).await?;
            let mut last = None;
            for addr in addrs {
                match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                    Ok(Ok(s)) => {
                        let _ = s.set_nodelay(true);
                        return Ok((Conn::Tcp(s), addr.to_string()));
                    }
                    Ok(Err(e)) => last = Some(connect_failure(&addr.to_string(), &e)),
                    Err(_) => {
                        last = Some(connect_failure(
                            &addr.to_string(),
                            &io::Error::from(io::ErrorKind::TimedOut),
                        ))
                    }
                }
            }
            Err(last.unwrap_or(ConnectError {
                kind: Failure::Error,
                message: format!("{hostport} has no address"),
            }))
        }
    }
}

/// The messages of a run, made one at a time: a thousand 16 MiB messages are never all in
/// memory together.
#[derive(Debug, Clone)]
pub enum Messages {
    /// These, in turn, `rounds` times over (-m, or the lines of stdin).
    Fixed { list: Vec<Vec<u8>>, rounds: u64 },
    /// `count` messages of `size` fresh pseudo-random bytes each (--size).
    Random { size: usize, count: u64, seed: u64 },
}

impl Messages {
    /// How many messages in all.
    pub fn count(&self) -> u64 {
        match self {
            Messages::Fixed { list, rounds } => list.len() as u64 * rounds,
            Messages::Random { count, .. } => *count,
        }
    }

    /// Message `i` (from 0).
    pub fn get(&self, i: u64) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Messages::Fixed { list, .. } => {
                std::borrow::Cow::Borrowed(&list[(i % list.len().max(1) as u64) as usize])
            }
            Messages::Random { size, seed, .. } => {
                std::borrow::Cow::Owned(pattern(*size, seed ^ i))
            }
        }
    }
}

/// One message's result.
#[derive(Debug, Clone, Serialize)]
pub struct Reply {
    pub seq: u64,
    pub bytes: usize,
    /// Round-trip time in milliseconds; none when lost.
    pub rtt_ms: Option<f64>,
    /// "ok", "mismatch", "lost", "closed".
    pub status: &'static str,
    /// For a mismatch: the first differing byte offset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub differs_at: Option<usize>,
}

/// The whole run of messages.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    pub proto: &'static str,
    pub peer: Option<String>,
    pub sent: u64,
    pub echoed: u64,
    pub mismatched: u64,
    pub lost: u64,
    /// UDP: echoes that came after their message was given up on, or twice.
    pub late: u64,
    pub rtt_min_ms: Option<f64>,
    pub rtt_avg_ms: Option<f64>,
    pub rtt_max_ms: Option<f64>,
    pub replies: Vec<Reply>,
    /// The connection-level failure, if any (refused, timeout, closed...).
    pub failure: Option<Failure>,
    pub error: Option<String>,
}

impl Report {
    fn new(target: &Target) -> Report {
        Report {
            target: target.label(),
            proto: target.proto(),
            peer: None,
            sent: 0,
            echoed: 0,
            mismatched: 0,
            lost: 0,
            late: 0,
            rtt_min_ms: None,
            rtt_avg_ms: None,
            rtt_max_ms: None,
            replies: Vec::new(),
            failure: None,
            error: None,
        }
    }

    /// Records a message that got no echo in time.
    fn lost(&mut self, seq: u64, bytes: usize) -> Reply {
        self.lost += 1;
        Reply {
            seq,
            bytes,
            rtt_ms: None,
            status: "lost",
            differs_at: None,
        }
    }

    /// Records an echo of `sent` that came back as `got` after `started`.
    fn answered(&mut self, seq: u64, sent: &[u8], got: &[u8], started: Instant) -> Reply {
        self.echoed += 1;
        let differs_at = first_difference(sent, got);
        if differs_at.is_some() {
            self.mismatched += 1;
        }
        Reply {
            seq,
            bytes: got.len(),
            rtt_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
            status: if differs_at.is_some() {
                "mismatch"
            } else {
                "ok"
            },
            differs_at,
        }
    }

    /// Records a connection-level failure.
    fn failed(&mut self, f: ConnectError) {
        self.failure = Some(f.kind);
        self.error = Some(f.message);
    }

    /// Whether every message came back intact.
    pub fn ok(&self) -> bool {
        self.failure.is_none() && self.mismatched == 0 && self.lost == 0 && self.echoed == self.sent
    }

    fn finish(&mut self) {
        let rtts: Vec<f64> = self.replies.iter().filter_map(|r| r.rtt_ms).collect();
        if !rtts.is_empty() {
            self.rtt_min_ms = rtts.iter().copied().reduce(f64::min);
            self.rtt_max_ms = rtts.iter().copied().reduce(f64::max);
            self.rtt_avg_ms = Some(rtts.iter().sum::<f64>() / rtts.len() as f64);
        }
        if self.failure.is_none() {
            if self.mismatched > 0 {
                self.failure = Some(Failure::Mismatch);
            } else if self.lost > 0 {
                self.failure = Some(Failure::Lost);
            }
        }
    }
}

fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    if a == b {
        return None;
    }
    Some(
        a.iter()
            .zip(b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len())),
    )
}

/// Sends each message, waits for its echo (up to `timeout`), checks it. `each` sees every reply
/// as it happens (for line-by-line output).
pub async fn run_messages(
    target: &Target,
    messages: &Messages,
    timeout: Duration,
    mut each: impl FnMut(&Reply),
) -> Report {
    let mut report = Report::new(target);
    match target {
        Target::Udp(hostport) => {
            udp_messages(hostport, messages, timeout, &mut report, &mut each).await
        }
        _ => match connect_stream(target, timeout).await {
            Ok((conn, peer)) => {
                report.peer = Some(peer);
                match conn {
                    Conn::Tcp(s) => {
                        stream_messages(s, messages, timeout, &mut report, &mut each).await
                    }
                    Conn::Unix(s) => {
                        stream_messages(s, messages, timeout, &mut report, &mut each).await
                    }
                }
            }
            Err(e) => {
                report.failure = Some(e.kind);
                report.error = Some(e.message);
            }
        },
    }
    report.finish();
    report
}

async fn stream_messages<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    messages: &Messages,
    timeout: Duration,
    report: &mut Report,
    each: &mut impl FnMut(&Reply),
) {
    let mut buf = Vec::new();
    for i in 0..messages.count() {
        let msg = &*messages.get(i);
        let seq = i + 1;
        let started = Instant::now();
        report.sent += 1;
        // Write and read at once: a message larger than the socket buffers would otherwise
        // deadlock against a server that echoes as it reads.
        buf.clear();
        buf.resize(msg.len(), 0);
        let (mut rd, mut wr) = tokio::io::split(&mut s);
        let exchange = async {
            let write = wr.write_all(msg);
            let read = rd.read_exact(&mut buf);
            tokio::try_join!(write, read)
        };
        let reply = match tokio::time::timeout(timeout, exchange).await {
            Err(_) => report.lost(seq, msg.len()),
            Ok(Err(e)) => {
                let closed = e.kind() == io::ErrorKind::UnexpectedEof;
                report.failure = Some(if closed {
                    Failure::Closed
                } else {
                    Failure::Error
                });
                report.error = Some(if closed {
                    format!("the server closed the connection during message {seq}")
                } else {
                    format!("message {seq}: {e}")
                });
                let r = Reply {
                    seq,
                    bytes: msg.len(),
                    rtt_ms: None,
                    status: "closed",
                    differs_at: None,
                };
                each(&r);
                report.replies.push(r);
                return;
            }
            Ok(Ok(_)) => report.answered(seq, msg, &buf, started),
        };
        each(&reply);
        let lost = reply.status == "lost";
        report.replies.push(reply);
        if lost {
            // The stream is out of step now: a late echo would be taken for the next one.
            report.error = Some(format!(
                "no echo of message {seq} within {timeout:?}; stopped"
            ));
            return;
        }
    }
    // Nothing more may come back than was sent: half-close, and anything but EOF is extra.
    let _ = s.shutdown().await;
    let mut extra = [0u8; 64];
    let wait = timeout.min(Duration::from_millis(200));
    if let Ok(Ok(n)) = tokio::time::timeout(wait, s.read(&mut extra)).await
        && n > 0
    {
        report.failure = Some(Failure::Mismatch);
        report.error = Some(format!(
            "mismatch: the server sent bytes beyond the echo of the last message ({n}+ extra)"
        ));
    }
}

async fn udp_messages(
    hostport: &str,
    messages: &Messages,
    timeout: Duration,
    report: &mut Report,
    each: &mut impl FnMut(&Reply),
) {
    let addr = match resolve(hostport).await {
        Ok(a) => a[0],
        Err(e) => return report.failed(e),
    };
    let sock = match udp_connected(addr).await {
        Ok(s) => s,
        Err(e) => return report.failed(connect_failure(&addr.to_string(), &e)),
    };
    report.peer = Some(addr.to_string());
    let mut buf = vec![0u8; 65_536];
    // Payloads given up on (the last few): their echoes may still come.
    let mut late: std::collections::VecDeque<Vec<u8>> = std::collections::VecDeque::new();
    for i in 0..messages.count() {
        let msg = &*messages.get(i);
        let seq = i + 1;
        // Echoes already queued (late, or sent twice) must not pass for this message's.
        while let Ok(_n) = sock.try_recv(&mut buf) {
            report.late += 1;
        }
        report.sent += 1;
        let started = Instant::now();
        if let Err(e) = sock.send(msg).await {
            return report.failed(connect_failure(&addr.to_string(), &e));
        }
        let deadline = started + timeout;
        let reply = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, sock.recv(&mut buf)).await {
                Err(_) => {
                    if late.len() == 16 {
                        late.pop_front();
                    }
                    late.push_back(msg.to_vec());
                    break report.lost(seq, msg.len());
                }
                Ok(Err(e)) => {
                    let f = connect_failure(&addr.to_string(), &e);
                    report.failure = Some(f.kind);
                    report.error = Some(if f.kind == Failure::Refused {
                        format!("refused: nothing listens on udp {addr} (ICMP port unreachable)")
                    } else {
                        f.message
                    });
                    return;
                }
                Ok(Ok(n)) => {
                    let got = &buf[..n];
                    // An echo of an earlier, timed-out message: not this one's.
                    if got != msg && late.iter().any(|l| l.as_slice() == got) {
                        report.late += 1;
                        continue;
                    }
                    break report.answered(seq, msg, got, started);
                }
            }
        };
        each(&reply);
        report.replies.push(reply);
    }
}

/// What the load mode does per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadKind {
    /// Request/response of `size` bytes, as fast as the echo comes back, until the deadline.
    RoundTrips { size: usize, duration: Duration },
    /// Stream `bytes` through each connection, writing and reading at once.
    Stream { bytes: u64 },
}

/// A load connection, set up before the clock starts.
enum LoadConn {
    Stream(Conn),
    Udp(UdpSocket),
}

/// Load-mode results.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub target: String,
    pub proto: &'static str,
    pub connections: usize,
    pub connected: usize,
    pub seconds: f64,
    pub round_trips: u64,
    pub round_trips_per_s: f64,
    /// Bytes echoed back (each also went out once).
    pub bytes: u64,
    /// Echoed bytes per second, in MB (10^6).
    pub mb_per_s: f64,
    pub mismatches: u64,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl LoadReport {
    /// Whether everything came back intact.
    pub fn ok(&self) -> bool {
        self.mismatches == 0 && self.errors == 0 && self.connected == self.connections
    }
}

#[derive(Default)]
struct LoadStats {
    round_trips: AtomicU64,
    bytes: AtomicU64,
    mismatches: AtomicU64,
    errors: AtomicU64,
    connected: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

impl LoadStats {
    fn error(&self, e: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut f) = self.first_error.lock() {
            f.get_or_insert(e);
        }
    }
}

/// A pseudo-random byte pattern (xorshift), so payloads are not trivially compressible or
/// constant, without a dependency.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Runs the load: `connections` at once against a stream target (or UDP round trips).
pub async fn run_load(
    target: &Target,
    connections: usize,
    kind: LoadKind,
    timeout: Duration,
) -> LoadReport {
    let stats = Arc::new(LoadStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let block = Arc::new(pattern(1 << 20, 0x5eed));
    // Every connection is set up first; the clock starts when all are (connect time is not
    // load), and the work starts together.
    let ready = Arc::new(AtomicU64::new(0));
    let all_ready = Arc::new(tokio::sync::Notify::new());
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections {
        let (target, stats, stop, block) =
            (target.clone(), stats.clone(), stop.clone(), block.clone());
        let (ready, all_ready, mut go) = (ready.clone(), all_ready.clone(), go_rx.clone());
        let n = connections as u64;
        tasks.spawn(async move {
            let conn = match &target {
                Target::Udp(hp) => match resolve(hp).await {
                    Ok(a) => udp_connected(a[0])
                        .await
                        .map(LoadConn::Udp)
                        .map_err(|e| format!("udp {}: {e}", a[0])),
                    Err(e) => Err(e.message),
                },
                _ => connect_stream(&target, timeout)
                    .await
                    .map(|(c, _)| LoadConn::Stream(c))
                    .map_err(|e| e.message),
            };
            if ready.fetch_add(1, Ordering::AcqRel) + 1 == n {
                all_ready.notify_one();
            }
            let conn = match conn {
                Ok(c) => c,
                Err(e) => return stats.error(e),
            };
            stats.connected.fetch_add(1, Ordering::Relaxed);
            if go.wait_for(|g| *g).await.is_err() {
                return;
            }
            let result = match (conn, kind) {
                (LoadConn::Udp(sock), LoadKind::RoundTrips { size, .. }) => {
                    udp_load(sock, size, c, &stats, &stop, timeout).await
                }
                (LoadConn::Udp(_), LoadKind::Stream { .. }) => {
                    Err("--bytes streams over TCP or UNIX only".into())
                }
                (LoadConn::Stream(Conn::Tcp(s)), kind) => {
                    stream_load(s, kind, c, &stats, &stop, &block, timeout).await
                }
                (LoadConn::Stream(Conn::Unix(s)), kind) => {
                    stream_load(s, kind, c, &stats, &stop, &block, timeout).await
                }
            };
            if let Err(e) = result {
                stats.error(e);
            }
        });
    }
    let setup_limit = timeout + Duration::from_secs(1);
    let _ = tokio::time::timeout(setup_limit, async {
        while ready.load(Ordering::Acquire) < connections as u64 {
            all_ready.notified().await;
        }
    })
    .await;
    let started = Instant::now();
    let _ = go_tx.send(true);
    let mut finished = None;
    match kind {
        LoadKind::RoundTrips { duration, .. } => {
            let deadline = tokio::time::sleep(duration);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    _ = &mut deadline => break,
                    r = tasks.join_next() => if r.is_none() { break },
                }
            }
            stop.store(true, Ordering::Relaxed);
            finished = Some(started.elapsed());
        }
        LoadKind::Stream { .. } => {}
    }
    let grace = timeout + Duration::from_secs(1);
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    // Streams end when the last byte is back; round trips at the deadline (the grace after it,
    // for connections to finish their last exchange, is not load).
    let elapsed = finished.unwrap_or_else(|| started.elapsed());
    // Whatever is still running is stuck waiting for an echo that did not come.
    for _ in 0..tasks.len() {
        stats.error(format!(
            "a connection got no echo within {timeout:?} of the end"
        ));
    }
    tasks.abort_all();
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let round_trips = stats.round_trips.load(Ordering::Relaxed);
    let bytes = stats.bytes.load(Ordering::Relaxed);
    let first_error = stats.first_error.lock().ok().and_then(|f| f.clone());
    LoadReport {
        target: target.label(),
        proto: target.proto(),
        connections,
        connected: if matches!(target, Target::Udp(_)) {
            connections
        } else {
            stats.connected.load(Ordering::Relaxed) as usize
        },
        seconds,
        round_trips,
        round_trips_per_s: round_trips as f64 / seconds,
        bytes,
        mb_per_s: bytes as f64 / seconds / 1e6,
        mismatches: stats.mismatches.load(Ordering::Relaxed),
        errors: stats.errors.load(Ordering::Relaxed),
        first_error,
    }
}

async fn stream_load<S: AsyncRead + AsyncWrite + Unpin>(
    s: S,
    kind: LoadKind,
    conn: usize,
    stats: &LoadStats,
    stop: &AtomicBool,
    block: &[u8],
    timeout: Duration,
) -> Result<(), String> {
    match kind {
        LoadKind::RoundTrips { size, .. } => {
            // Request, then response, on the stream itself; no per-round-trip timer and no
            // shared counter per round trip (both cost more than a 64-byte echo): counts are
            // published in batches, and a connection stuck waiting is counted as an error when
            // the run ends.
            let mut s = s;
            let payload = pattern(size, conn as u64 + 1);
            let mut buf = vec![0u8; size];
            let (mut trips, mut bad) = (0u64, 0u64);
            let publish = |trips: &mut u64, bad: &mut u64| {
                stats.round_trips.fetch_add(*trips, Ordering::Relaxed);
                stats
                    .bytes
                    .fetch_add(*trips * size as u64, Ordering::Relaxed);
                stats.mismatches.fetch_add(*bad, Ordering::Relaxed);
                (*trips, *bad) = (0, 0);
            };
            let result = loop {
                if stop.load(Ordering::Relaxed) {
                    break Ok(());
                }
                if let Err(e) = s.write_all(&payload).await {
                    break Err(format!("connection {conn}: {e}"));
                }
                if let Err(e) = s.read_exact(&mut buf).await {
                    break Err(format!("connection {conn}: {e}"));
                }
                bad += u64::from(buf != payload);
                trips += 1;
                if trips == 256 {
                    publish(&mut trips, &mut bad);
                }
            };
            publish(&mut trips, &mut bad);
            let _ = timeout;
            result
        }
        LoadKind::Stream { bytes } => {
            let (mut rd, mut wr) = tokio::io::split(s);
            let writer = async {
                let mut sent = 0u64;
                while sent < bytes {
                    let off = (sent % block.len() as u64) as usize;
                    let n = (block.len() - off)
                        .min((bytes - sent) as usize)
                        .min(256 * 1024);
                    wr.write_all(&block[off..off + n]).await?;
                    sent += n as u64;
                }
                wr.shutdown().await?;
                Ok::<(), io::Error>(())
            };
            let reader = async {
                let mut buf = vec![0u8; 256 * 1024];
                let mut got = 0u64;
                let mut last = Instant::now();
                while got < bytes {
                    let n = match tokio::time::timeout(timeout, rd.read(&mut buf)).await {
                        Ok(r) => r?,
                        Err(_) => {
                            return Err(io::Error::new(
                                io::ErrorKind::TimedOut,
                                "no data for a whole --timeout",
                            ));
                        }
                    };
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("closed after {got} of {bytes} bytes"),
                        ));
                    }
                    // Compare against the pattern at this offset, wrapping around the block.
                    let mut checked = 0;
                    while checked < n {
                        let off = ((got + checked as u64) % block.len() as u64) as usize;
                        let len = (block.len() - off).min(n - checked);
                        if buf[checked..checked + len] != block[off..off + len] {
                            stats.mismatches.fetch_add(1, Ordering::Relaxed);
                        }
                        checked += len;
                    }
                    got += n as u64;
                    stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    last = Instant::now();
                }
                let _ = last;
                Ok(())
            };
            tokio::try_join!(writer, reader)
                .map(|_| ())
                .map_err(|e| format!("connection {conn}: {e}"))
        }
    }
}

async fn udp_load(
    sock: UdpSocket,
    size: usize,
    conn: usize,
    stats: &LoadStats,
    stop: &AtomicBool,
    timeout: Duration,
) -> Result<(), String> {
    let addr = sock.peer_addr().map_err(|e| e.to_string())?;
    let payload = pattern(size, conn as u64 + 1);
    let mut buf = vec![0u8; size.max(1) + 1];
    while !stop.load(Ordering::Relaxed) {
        sock.send(&payload)
            .await
            .map_err(|e| format!("udp {addr}: {e}"))?;
        match tokio::time::timeout(timeout, sock.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                if buf[..n] != payload[..] {
                    stats.mismatches.fetch_add(1, Ordering::Relaxed);
                }
                stats.round_trips.fetch_add(1, Ordering::Relaxed);
                stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Ok(Err(e)) => return Err(format!("udp {addr}: {e}")),
            Err(_) => stats.error(format!(
                "udp {addr}: a datagram got no echo within {timeout:?}"
            )),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences() {
        assert_eq!(first_difference(b"abc", b"abc"), None);
        assert_eq!(first_difference(b"abc", b"abd"), Some(2));
        assert_eq!(first_difference(b"abc", b"ab"), Some(2));
    }

    #[test]
    fn pattern_is_deterministic_and_varied() {
        let a = pattern(1000, 7);
        assert_eq!(a, pattern(1000, 7));
        assert_ne!(a, pattern(1000, 8));
        assert!(a.iter().collect::<std::collections::HashSet<_>>().len() > 100);
    }
}
