//! The echo server: TCP and UDP on one port, or a UNIX stream socket; thousands of connections
//! on a tokio runtime, zero-copy on Linux, bounded memory per connection.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::error::{Error, Result};

/// Listen backlog: 1,000 simultaneous connects complete at once instead of waiting for SYN
/// retransmits (the kernel caps it at net.core.somaxconn).
pub const BACKLOG: i32 = 4096;
/// Largest UDP datagram echoed (the IPv4 maximum payload).
const UDP_MAX: usize = 65_535;

/// What the server serves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub tcp: bool,
    pub udp: bool,
    pub unix: Option<PathBuf>,
    pub max_conns: usize,
    pub idle_timeout: Option<Duration>,
    pub quiet: bool,
}

/// Counters, printed as totals on exit.
#[derive(Debug, Default)]
pub struct Stats {
    pub connections: AtomicU64,
    pub refused: AtomicU64,
    pub active: AtomicUsize,
    pub stream_bytes: AtomicU64,
    pub datagrams: AtomicU64,
    pub datagram_bytes: AtomicU64,
}

/// The bound sockets, before serving.
#[derive(Debug)]
pub struct Bound {
    pub tcp: Option<TcpListener>,
    pub udp: Option<UdpSocket>,
    pub unix: Option<(UnixListener, PathBuf)>,
}

impl Bound {
    /// "tcp 127.0.0.1:7007, udp 127.0.0.1:7007" — what the server listens on.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(Ok(a)) = self.tcp.as_ref().map(TcpListener::local_addr) {
            parts.push(format!("tcp {a}"));
        }
        if let Some(Ok(a)) = self.udp.as_ref().map(UdpSocket::local_addr) {
            parts.push(format!("udp {a}"));
        }
        if let Some((_, p)) = &self.unix {
            parts.push(format!("unix {}", p.display()));
        }
        parts.join(", ")
    }
}

/// Binds what `cfg` asks for. With port 0 and both TCP and UDP, the UDP socket takes the port
/// the kernel chose for TCP (retrying if that one is taken for UDP).
pub async fn bind(cfg: &ServerConfig) -> Result<Bound> {
    if let Some(path) = &cfg.unix {
        return Ok(Bound {
            tcp: None,
            udp: None,
            unix: Some((bind_unix(path)?, path.clone())),
        });
    }
    for _ in 0..16 {
        let tcp = if cfg.tcp {
            Some(tcp_listener(cfg.listen)?)
        } else {
            None
        };
        let port = match &tcp {
            Some(l) => l
                .local_addr()
                .map_err(|e| bind_error(cfg.listen, "tcp", e))?
                .port(),
            None => cfg.listen.port(),
        };
        let udp = if cfg.udp {
            let addr = SocketAddr::new(cfg.listen.ip(), port);
            match std::net::UdpSocket::bind(addr) {
                Ok(s) => Some(s),
                // The port the kernel picked for TCP is taken for UDP: pick another.
                Err(e)
                    if e.kind() == io::ErrorKind::AddrInUse
                        && cfg.listen.port() == 0
                        && tcp.is_some() =>
                {
                    continue;
                }
                Err(e) => return Err(bind_error(addr, "udp", e)),
            }
        } else {
            None
        };
        let udp = match udp {
            Some(s) => {
                s.set_nonblocking(true)
                    .map_err(|e| Error::Other(format!("udp socket: {e}")))?;
                Some(UdpSocket::from_std(s).map_err(|e| Error::Other(format!("udp socket: {e}")))?)
            }
            None => None,
        };
        return Ok(Bound {
            tcp,
            udp,
            unix: None,
        });
    }
    Err(Error::Other(format!(
        "could not find a port free for both TCP and UDP on {}; give one with -l ADDR:PORT",
        cfg.listen.ip()
    )))
}

fn tcp_listener(addr: SocketAddr) -> Result<TcpListener> {
    let make = || -> io::Result<std::net::TcpListener> {
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        s.set_reuse_address(true)?;
        if addr.is_ipv6() {
            // [::] serves IPv4 too, as most servers do; [::1] is IPv6 only anyway.
            let _ = s.set_only_v6(false);
        }
        s.bind(&addr.into())?;
        s.listen(BACKLOG)?;
        s.set_nonblocking(true)?;
        Ok(s.into())
    };
    let std_listener = make().map_err(|e| bind_error(addr, "tcp", e))?;
    TcpListener::from_std(std_listener).map_err(|e| Error::Other(format!("tcp listener: {e}")))
}

fn bind_unix(path: &PathBuf) -> Result<UnixListener> {
    if path.exists() {
        // A socket file nobody listens on is left over from a crash: replace it. One somebody
        // listens on, or any other file, is not ours to remove.
        let stale = std::fs::metadata(path)
            .map(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
            .unwrap_or(false)
            && std::os::unix::net::UnixStream::connect(path).is_err();
        if !stale {
            return Err(Error::Usage(format!(
                "{} already exists (a socket something listens on, or another file); choose another --unix path",
                path.display()
            )));
        }
        let _ = std::fs::remove_file(path);
    }
    let std_listener = (|| -> io::Result<std::os::unix::net::UnixListener> {
        let s = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        s.bind(&socket2::SockAddr::unix(path)?)?;
        s.listen(BACKLOG)?;
        s.set_nonblocking(true)?;
        Ok(s.into())
    })()
    .map_err(|e| match e.kind() {
        io::ErrorKind::PermissionDenied => Error::Privilege {
            what: format!("cannot create the UNIX socket {}", path.display()),
            remedy: "choose a --unix path in a directory you can write to".into(),
        },
        // A path longer than a sockaddr_un holds.
        io::ErrorKind::InvalidInput => Error::Usage(format!("--unix {}: {e}", path.display())),
        _ => Error::Other(format!("cannot listen on {}: {e}", path.display())),
    })?;
    UnixListener::from_std(std_listener).map_err(|e| Error::Other(format!("unix listener: {e}")))
}

/// A bind failure, said in a way that tells what to do.
fn bind_error(addr: SocketAddr, proto: &str, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::PermissionDenied => Error::Privilege {
            what: format!("cannot listen on {proto} {addr}"),
            remedy:
                "ports below 1024 need root or CAP_NET_BIND_SERVICE: use a port of 1024 or more, \
                     run with sudo, or grant it once with \
                     setcap cap_net_bind_service+ep $(which sockscope)"
                    .into(),
        },
        io::ErrorKind::AddrInUse => Error::Other(format!(
            "{proto} {addr} is already in use; see who holds it with 'sockscope who {}/{proto}', or pick another port",
            addr.port()
        )),
        io::ErrorKind::AddrNotAvailable => Error::Usage(format!(
            "{addr} is not an address of this host; listen on 127.0.0.1, 0.0.0.0 or one of its own addresses"
        )),
        _ => Error::Other(format!("cannot listen on {proto} {addr}: {e}")),
    }
}

/// A listening socket that yields streams.
pub trait Acceptor: Send + Sync + 'static {
    type Stream: EchoStream;
    /// The next connection and a description of its peer.
    fn accept_one(&self) -> impl Future<Output = io::Result<(Self::Stream, String)>> + Send;
    /// "tcp" or "unix".
    const KIND: &'static str;
}

impl Acceptor for TcpListener {
    type Stream = TcpStream;
    const KIND: &'static str = "tcp";
    async fn accept_one(&self) -> io::Result<(TcpStream, String)> {
        let (s, peer) = self.accept().await?;
        let _ = s.set_nodelay(true);
        Ok((s, peer.to_string()))
    }
}

impl Acceptor for UnixListener {
    type Stream = UnixStream;
    const KIND: &'static str = "unix";
    async fn accept_one(&self) -> io::Result<(UnixStream, String)> {
        let (s, _) = self.accept().await?;
        // UNIX peers are usually unnamed: name them by their process when the kernel says.
        let peer = match s.peer_cred() {
            Ok(c) => match c.pid() {
                Some(pid) => format!("pid {pid}"),
                None => "peer".into(),
            },
            Err(_) => "peer".into(),
        };
        Ok((s, peer))
    }
}

/// A connected stream that can be echoed: tokio's readiness plus its raw descriptor.
pub trait EchoStream:
    std::os::fd::AsRawFd + std::os::fd::AsFd + Sized + Send + Sync + 'static
{
    fn ready_read(&self) -> impl Future<Output = io::Result<()>> + Send;
    fn ready_write(&self) -> impl Future<Output = io::Result<()>> + Send;
    fn try_op<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R>;
    /// Abort with RST instead of FIN (refusing over --max-conns).
    fn reset(&self) {
        let _ = SockRef::from(self).set_linger(Some(Duration::ZERO));
    }
    /// Half-close: no more data from us.
    fn finish(&self) {
        let _ = SockRef::from(self).shutdown(std::net::Shutdown::Write);
    }
}

macro_rules! echo_stream_impl {
    ($t:ty) => {
        impl EchoStream for $t {
            async fn ready_read(&self) -> io::Result<()> {
                self.readable().await
            }
            async fn ready_write(&self) -> io::Result<()> {
                self.writable().await
            }
            fn try_op<R>(
                &self,
                interest: Interest,
                f: impl FnOnce() -> io::Result<R>,
            ) -> io::Result<R> {
                self.try_io(interest, f)
            }
        }
    };
}
echo_stream_impl!(TcpStream);
echo_stream_impl!(UnixStream);

/// Serves until `shutdown` completes, then stops accepting, closes every connection and returns.
pub async fn serve(
    bound: Bound,
    cfg: &ServerConfig,
    stats: Arc<Stats>,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let ctx = Arc::new(Ctx::new(cfg.clone(), stats));
    let mut tasks = JoinSet::new();
    if let Some(l) = bound.tcp {
        tasks.spawn(accept_loop(l, ctx.clone(), stop_rx.clone()));
    }
    let unix_path = bound.unix.as_ref().map(|(_, p)| p.clone());
    if let Some((l, _)) = bound.unix {
        tasks.spawn(accept_loop(l, ctx.clone(), stop_rx.clone()));
    }
    if let Some(u) = bound.udp {
        tasks.spawn(udp_loop(u, ctx.clone(), stop_rx.clone()));
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    // The accept loops end their connections and wait for them; after a grace period the rest
    // are dropped.
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    if let Some(p) = unix_path {
        let _ = std::fs::remove_file(p);
    }
}

/// What every connection task shares.
struct Ctx {
    cfg: ServerConfig,
    stats: Arc<Stats>,
    #[cfg(target_os = "linux")]
    pipes: crate::echo::splice::PipePool,
}

impl Ctx {
    fn new(cfg: ServerConfig, stats: Arc<Stats>) -> Ctx {
        Ctx {
            cfg,
            stats,
            #[cfg(target_os = "linux")]
            pipes: crate::echo::splice::PipePool::default(),
        }
    }

    fn log(&self, line: std::fmt::Arguments<'_>) {
        if !self.cfg.quiet {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
}

async fn accept_loop<A: Acceptor>(listener: A, ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => break,
            // Reap finished connections so the set does not grow with every one ever served.
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            r = listener.accept_one() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: say so, breathe, go on; a server must not die of them.
                ctx.log(format_args!("sockscope echo: accept failed: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if ctx.stats.active.load(Ordering::Relaxed) >= ctx.cfg.max_conns {
            ctx.stats.refused.fetch_add(1, Ordering::Relaxed);
            stream.reset();
            ctx.log(format_args!(
                "{} {peer} refused: --max-conns {} reached",
                A::KIND,
                ctx.cfg.max_conns
            ));
            continue;
        }
        ctx.stats.active.fetch_add(1, Ordering::Relaxed);
        ctx.stats.connections.fetch_add(1, Ordering::Relaxed);
        let (ctx, stop) = (ctx.clone(), stop.clone());
        conns.spawn(async move {
            let started = Instant::now();
            let result = echo_connection(&stream, &ctx, stop).await;
            ctx.stats.active.fetch_sub(1, Ordering::Relaxed);
            let secs = started.elapsed().as_secs_f64();
            match result {
                Ok((bytes, why)) => ctx.log(format_args!(
                    "{} {peer}: {bytes} bytes echoed in {secs:.3} s ({why})",
                    A::KIND
                )),
                Err((bytes, e)) => ctx.log(format_args!(
                    "{} {peer}: {bytes} bytes echoed in {secs:.3} s, ended by error: {e}",
                    A::KIND
                )),
            }
        });
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

/// Echoes one connection until EOF, the idle timeout or shutdown. Returns the bytes echoed and
/// why it ended, or the bytes and the error.
async fn echo_connection<S: EchoStream>(
    stream: &S,
    ctx: &Ctx,
    mut stop: watch::Receiver<bool>,
) -> std::result::Result<(u64, &'static str), (u64, io::Error)> {
    let mut total = 0u64;
    let idle = ctx.cfg.idle_timeout;
    let mut bulk = false;
    loop {
        // Wait for data, the idle timeout or shutdown.
        let ready = tokio::select! {
            _ = stop.changed() => { stream.finish(); return Ok((total, "server shutting down")); }
            r = with_timeout(idle, stream.ready_read()) => r,
        };
        match ready {
            None => {
                stream.finish();
                return Ok((total, "idle timeout"));
            }
            Some(Err(e)) => return Err((total, e)),
            Some(Ok(())) => {}
        }
        match move_once(stream, ctx, idle, &mut bulk).await {
            Ok(0) => {
                stream.finish();
                return Ok((total, "closed by peer"));
            }
            Ok(n) => {
                total += n as u64;
                ctx.stats
                    .stream_bytes
                    .fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Ok((total, "idle timeout (peer not reading)"));
            }
            Err(e) => return Err((total, e)),
        }
    }
}

async fn with_timeout<T>(limit: Option<Duration>, f: impl Future<Output = T>) -> Option<T> {
    match limit {
        Some(d) => tokio::time::timeout(d, f).await.ok(),
        None => Some(f.await),
    }
}

/// A read that fills this much means bulk data (on Linux the splice path takes over); below
/// it, a message is moved with one recv and one send through a buffer on the stack, which for
/// small request/response traffic costs less than two splices and a pipe.
const SMALL: usize = 16 * 1024;

/// Moves what is readable now back to the peer; 0 at EOF. `bulk` remembers, per connection,
/// whether the last read was a full buffer: then the next one goes through a pooled pipe with
/// splice(2) (Linux), so streamed bytes are never copied to user space.
async fn move_once<S: EchoStream>(
    stream: &S,
    ctx: &Ctx,
    idle: Option<Duration>,
    bulk: &mut bool,
) -> io::Result<usize> {
    #[cfg(target_os = "linux")]
    if *bulk {
        let n = splice_once(stream, ctx, idle).await?;
        *bulk = n >= SMALL;
        return Ok(n);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ctx, &bulk);
    let n = copy_small(stream, idle).await?;
    *bulk = n == SMALL;
    Ok(n)
}

/// recv into a stack buffer and send straight back; only what the socket would not take at
/// once is copied to the heap, to be sent when it is writable (bounded: at most SMALL bytes).
async fn copy_small<S: EchoStream>(stream: &S, idle: Option<Duration>) -> io::Result<usize> {
    let fd = stream.as_raw_fd();
    let mut pending: Option<Vec<u8>> = None;
    let n = stream.try_op(Interest::READABLE, || {
        let mut buf = [0u8; SMALL];
        // SAFETY: buf is writable for its length; fd is the connected stream.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        if n > 0 {
            let sent = send_some(fd, &buf[..n])?;
            if sent < n {
                pending = Some(buf[sent..n].to_vec());
            }
        }
        Ok(n)
    })?;
    if let Some(rest) = pending {
        let mut off = 0;
        while off < rest.len() {
            // A full socket must surface as WouldBlock inside try_op, so tokio clears the write
            // readiness and the wait below really waits (instead of spinning on 0-byte sends).
            let sent = stream.try_op(Interest::WRITABLE, || match send_some(fd, &rest[off..])? {
                0 => Err(io::ErrorKind::WouldBlock.into()),
                m => Ok(m),
            });
            match sent {
                Ok(m) => off += m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait_writable(stream, idle).await?
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(n)
}

/// send(2) without SIGPIPE; a full socket buffer is 0 bytes sent, not an error.
fn send_some(fd: std::os::fd::RawFd, data: &[u8]) -> io::Result<usize> {
    // SAFETY: data is readable for its length; fd is the connected stream.
    let n = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) };
    if n >= 0 {
        return Ok(n as usize);
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::WouldBlock {
        Ok(0)
    } else {
        Err(e)
    }
}

async fn wait_writable<S: EchoStream>(stream: &S, idle: Option<Duration>) -> io::Result<()> {
    match with_timeout(idle, stream.ready_write()).await {
        Some(r) => r,
        None => Err(io::Error::new(io::ErrorKind::TimedOut, "peer not reading")),
    }
}

/// Bulk: socket → pooled pipe → socket with splice(2). At most one pipe is held while the peer
/// is slow to read, and nothing more is read from it meanwhile.
#[cfg(target_os = "linux")]
async fn splice_once<S: EchoStream>(
    stream: &S,
    ctx: &Ctx,
    idle: Option<Duration>,
) -> io::Result<usize> {
    let fd = stream.as_raw_fd();
    let pipe = ctx.pipes.take()?;
    let n = match stream.try_op(Interest::READABLE, || pipe.fill_from(fd, pipe.capacity)) {
        Ok(n) => n,
        Err(e) => {
            ctx.pipes.give(pipe);
            return Err(e);
        }
    };
    let mut left = n;
    while left > 0 {
        match stream.try_op(Interest::WRITABLE, || pipe.drain_to(fd, left)) {
            Ok(m) => left -= m,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_writable(stream, idle).await?,
            // The pipe still holds data: it is dropped, not returned to the pool.
            Err(e) => return Err(e),
        }
    }
    ctx.pipes.give(pipe);
    Ok(n)
}

/// UDP: each datagram goes back to its sender, byte for byte (never larger: no amplification).
async fn udp_loop(socket: UdpSocket, ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let mut buf = vec![0u8; UDP_MAX];
    loop {
        let (n, peer) = tokio::select! {
            _ = stop.changed() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                // ICMP errors from earlier replies surface here (ECONNREFUSED): not ours to stop for.
                Err(_) => continue,
            },
        };
        ctx.stats.datagrams.fetch_add(1, Ordering::Relaxed);
        ctx.stats
            .datagram_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
        if let Err(e) = socket.send_to(&buf[..n], peer).await {
            ctx.log(format_args!("udp {peer}: reply failed: {e}"));
        }
    }
}
