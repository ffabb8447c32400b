//! The command line, as clap derive definitions. The same definitions feed `--help`, the man
//! pages (clap_mangen) and the shell completions (clap_complete), so they cannot drift apart.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::duration::{parse_duration, parse_positive_duration};
use crate::sockets::filter::{AddrFilter, PortRange, SortKey, StateFilter};

/// `sockscope --version`: the package version and the git commit it was built from (see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("SOCKSCOPE_BUILD_COMMIT"),
    ")"
);

const AFTER_HELP: &str = "\
Exit status: 0 success or yes, 1 a negative answer (nothing holds the port, not listening, \
no reply, echo mismatch), 2 bad usage or input, 3 missing privilege, 4 other failure.";

/// Socket inspection and network troubleshooting: which process holds this port, is my server
/// really listening, what happened to my TCP handshake.
#[derive(Debug, Parser)]
#[command(
    name = "sockscope",
    version = VERSION,
    about = "Socket inspection and network troubleshooting for Linux",
    long_about = "sockscope puts ss/netstat/lsof, tcpdump, ping and an echo peer in one binary: \
which process holds this port, is my server really listening, what happened to my TCP handshake.",
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Cli {
    /// When to use colours: auto (only on a terminal, and not when NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl From<ColorChoice> for crate::output::ColorChoice {
    fn from(c: ColorChoice) -> Self {
        match c {
            ColorChoice::Auto => crate::output::ColorChoice::Auto,
            ColorChoice::Always => crate::output::ColorChoice::Always,
            ColorChoice::Never => crate::output::ColorChoice::Never,
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List sockets (TCP, UDP, UNIX, RAW) with their state, queues and owning processes.
    #[command(after_help = AFTER_HELP)]
    List(ListArgs),
    /// Show which processes hold a local port.
    #[command(after_help = AFTER_HELP)]
    Who(WhoArgs),
    /// Check whether servers are listening: local socket table plus a real connect probe.
    #[command(after_help = AFTER_HELP)]
    Check(CheckArgs),
    /// Capture packets live through a raw socket, or read a pcap file.
    #[command(after_help = AFTER_HELP)]
    Capture(CaptureArgs),
    /// ICMP echo (v4/v6), TCP connect or UDP echo round-trip ping to one or more hosts.
    #[command(after_help = AFTER_HELP)]
    Ping(PingArgs),
    /// The hop-by-hop path to a host (ICMP, TCP SYN or UDP probes), reported like mtr --report.
    #[command(after_help = AFTER_HELP)]
    Trace(TraceArgs),
    /// A TCP/UDP/UNIX echo server, or a client for one (--connect).
    #[command(after_help = AFTER_HELP)]
    Echo(EchoArgs),
    /// The kernel's protocol counters (as nstat), with what each means.
    #[command(after_help = AFTER_HELP)]
    Stats(StatsArgs),
    /// Print a shell completion script to stdout.
    Completions {
        /// The shell to generate completions for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `sockscope list`.
#[derive(Debug, Args, Clone, Default)]
pub struct ListArgs {
    /// TCP sockets (with -u, -x, -w: only the protocols named; default TCP and UDP).
    #[arg(short = 't', long = "tcp")]
    pub tcp: bool,
    /// UDP sockets.
    #[arg(short = 'u', long = "udp")]
    pub udp: bool,
    /// UNIX domain sockets (stream, dgram, seqpacket).
    #[arg(short = 'x', long = "unix")]
    pub unix: bool,
    /// RAW sockets (the protocol number shows as the local port).
    #[arg(short = 'w', long = "raw")]
    pub raw: bool,
    /// IPv4 sockets only.
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// IPv6 sockets only.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// Listening sockets only (TCP/UNIX "listen", UDP/RAW/UNIX-dgram "unconn").
    #[arg(short = 'l', long = "listening")]
    pub listening: bool,
    /// Only sockets in this state: listen, established, syn-sent, syn-recv, fin-wait-1,
    /// fin-wait-2, time-wait, close, close-wait, last-ack, closing, unconn, or the group
    /// "connected" (all but listen and unconn/close). Repeat or separate with commas.
    #[arg(long = "state", value_name = "S", value_delimiter = ',', value_parser = StateFilter::parse)]
    pub state: Vec<StateFilter>,
    /// Only sockets with this port at either end; ranges allowed (8000-8100). Repeatable.
    #[arg(long = "port", value_name = "P", value_delimiter = ',', value_parser = PortRange::parse)]
    pub port: Vec<PortRange>,
    /// Only sockets with this address (or inside this network, e.g. 10.0.0.0/8) at either end.
    #[arg(long = "addr", value_name = "ADDR[/PREFIX]", value_delimiter = ',', value_parser = AddrFilter::parse)]
    pub addr: Vec<AddrFilter>,
    /// Only sockets held by this process id.
    #[arg(long = "pid", value_name = "N")]
    pub pid: Option<u32>,
    /// Only sockets held by a process whose name contains NAME.
    #[arg(long = "process", value_name = "NAME")]
    pub process: Option<String>,
    /// Only sockets created by, or held by a process of, this user (name or uid).
    #[arg(long = "user", value_name = "U")]
    pub user: Option<String>,
    /// Resolve addresses to host names and ports to service names.
    #[arg(short = 'r', long = "resolve")]
    pub resolve: bool,
    /// Sort the rows by this key.
    #[arg(long = "sort", value_name = "KEY", value_parser = sort_keys(), default_value = "proto")]
    pub sort: SortKey,
    /// Print counts per protocol and state (like `ss -s`) instead of the sockets.
    #[arg(long = "summary")]
    pub summary: bool,
    /// Refresh every SECS seconds (default 2); sockets that appeared are marked '+', those
    /// that vanished '-'. Ends with Ctrl-C.
    #[arg(long = "watch", value_name = "SECS", num_args = 0..=1, default_missing_value = "2",
          value_parser = parse_duration)]
    pub watch: Option<Duration>,
    /// JSON output: one array of socket records (one object per line with --watch).
    #[arg(long = "json")]
    pub json: bool,
    /// TCP internals, as `ss -i`: RTT, RTO, cwnd, MSS, retransmissions, bytes and segments,
    /// delivery and pacing rates, time limited by the peer's window or the send buffer, the
    /// congestion control and options; a second line per socket (`info` in JSON).
    #[arg(short = 'i', long = "info")]
    pub info: bool,
    /// Socket memory, as `ss -m`: skmem:(r,rb,t,tb,f,w,o,bl,d), drops included (`memory` in JSON).
    #[arg(short = 'm', long = "memory")]
    pub memory: bool,
    /// Timers, as `ss -o`: retransmit, keepalive, timewait or persist (zero-window probe), time
    /// left and retries (`timer` in JSON).
    #[arg(short = 'o', long = "timers")]
    pub timers: bool,
    /// Only sockets with a problem (accept queue full, data left unread, peer's zero window,
    /// retransmitting, window- or buffer-limited, CLOSE-WAIT left open, drops), each said in
    /// plain words with what to do. Nothing printed and exit 0 when there is none.
    #[arg(long = "problems")]
    pub problems: bool,
    /// With --summary: write the counts (per protocol and state, and per problem) in the
    /// Prometheus text format, for node_exporter's textfile collector.
    #[arg(long = "prometheus", requires = "summary", conflicts_with = "json")]
    pub prometheus: bool,
}

/// `--sort`'s values, with their help, from the library's [`SortKey`].
fn sort_keys() -> impl clap::builder::TypedValueParser<Value = SortKey> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(
        SortKey::ALL
            .iter()
            .map(|(_, name, help)| PossibleValue::new(*name).help(*help)),
    )
    .map(|name: String| SortKey::from_name(&name).unwrap_or_default())
}

/// `sockscope stats`.
#[derive(Debug, Args, Clone)]
pub struct StatsArgs {
    /// Every counter (as nstat -az), not only those that explain trouble.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Every SECS seconds (default 1, at least 0.1), print the counters that changed with
    /// their delta and rate per second, troubling ones marked '!'. Ends with Ctrl-C. Put
    /// NAMEs before --watch, or give SECS.
    #[arg(long = "watch", value_name = "SECS", num_args = 0..=1, default_missing_value = "1",
          value_parser = parse_duration)]
    pub watch: Option<Duration>,
    /// JSON output: {"counters": {NAME: value}, "interval_s", "rates"}; with --watch one such
    /// object per line per interval.
    #[arg(long, conflicts_with = "prometheus")]
    pub json: bool,
    /// Prometheus text format (sockscope_ prefix) for node_exporter's textfile collector.
    #[arg(long, conflicts_with = "watch")]
    pub prometheus: bool,
    /// Only these counters: nstat names or shell patterns ('TcpExt*', 'Udp?InErrors'),
    /// matched case-insensitively.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

/// `sockscope who`.
#[derive(Debug, Args, Clone)]
pub struct WhoArgs {
    /// Ports to look up: PORT, PORT/tcp or PORT/udp.
    #[arg(required = true, value_name = "PORT[/tcp|/udp]", value_parser = crate::commands::who::PortQuery::parse)]
    pub ports: Vec<crate::commands::who::PortQuery>,
    /// JSON output: one array of socket records.
    #[arg(long = "json")]
    pub json: bool,
}

/// `sockscope check`.
#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    /// Targets to probe.
    #[arg(required = true, value_name = "HOST:PORT")]
    pub targets: Vec<String>,
    /// Probe UDP instead of TCP.
    #[arg(long)]
    pub udp: bool,
    /// How long one probe may take.
    #[arg(long, value_name = "DUR", value_parser = parse_positive_duration, default_value = "2s")]
    pub timeout: Duration,
    /// Retry until every target is open or DUR has passed.
    #[arg(long, value_name = "DUR", value_parser = parse_positive_duration)]
    pub wait: Option<Duration>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `sockscope capture`.
#[derive(Debug, Args, Clone)]
pub struct CaptureArgs {
    /// Interface to capture on (default, or `any`: every interface that is up).
    #[arg(short = 'i', value_name = "IFACE")]
    pub interface: Option<String>,
    /// Stop after N matching packets (with --handshakes: after N handshakes).
    #[arg(short = 'c', value_name = "N")]
    pub count: Option<u64>,
    /// Stop after DUR (live captures).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Write the packets to a pcap file (nanosecond timestamps; `-` for standard output)
    /// instead of printing them.
    #[arg(short = 'w', value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Read packets from a pcap or pcapng file (`-` for standard input) instead of capturing;
    /// needs no privilege.
    #[arg(short = 'r', value_name = "FILE")]
    pub read: Option<PathBuf>,
    /// One line per TCP connection attempt (established with its RTT, refused, unanswered,
    /// not acknowledged, reset, unreachable) instead of one per packet.
    #[arg(long)]
    pub handshakes: bool,
    /// Put the interface in promiscuous mode (off by default).
    #[arg(long)]
    pub promisc: bool,
    /// JSON output, one object per line, then a summary object.
    #[arg(long)]
    pub json: bool,
    /// tcpdump's -n/-nn (do not resolve names): accepted for habit's sake; sockscope never
    /// resolves names in captures.
    #[arg(short = 'n', action = clap::ArgAction::Count, hide = true)]
    pub numeric: u8,
    /// tcpdump's -l (line-buffered): accepted for habit's sake; lines are always written as
    /// they come.
    #[arg(short = 'l', hide = true)]
    pub line_buffered: bool,
    /// Filter expression, a tcpdump subset: tcp udp icmp icmp6 arp ip ip6,
    /// [src|dst] host ADDR, [src|dst] net CIDR, [src|dst] port N, portrange N-M,
    /// and/or/not (also && || !) and parentheses; e.g. `tcp port 80 or 443`. Options may
    /// come before or after it.
    #[arg(value_name = "EXPR")]
    pub expr: Vec<String>,
}

/// `sockscope ping`.
#[derive(Debug, Args, Clone)]
pub struct PingArgs {
    /// Hosts to ping (addresses or names); several are pinged at once.
    #[arg(required = true, value_name = "HOST")]
    pub hosts: Vec<String>,
    /// Stop after sending N requests to each host (with -w: after N replies, or at the
    /// deadline; default: until -w or Ctrl-C).
    #[arg(short = 'c', value_name = "N")]
    pub count: Option<u64>,
    /// Interval between requests to a host (default 1s; below 200ms needs root).
    #[arg(short = 'i', value_name = "DUR", value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// Time to wait for each reply (default 1s).
    #[arg(short = 'W', value_name = "DUR", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Deadline: stop after this long, whatever is outstanding.
    #[arg(short = 'w', value_name = "DUR", value_parser = parse_duration)]
    pub deadline: Option<Duration>,
    /// Payload size in bytes (default 56; ICMP and UDP).
    #[arg(short = 's', value_name = "SIZE")]
    pub size: Option<usize>,
    /// IP time to live / hop limit.
    #[arg(short = 't', value_name = "TTL")]
    pub ttl: Option<u8>,
    /// Quiet: no line per reply, only the summary.
    #[arg(short = 'q')]
    pub quiet: bool,
    /// IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// IPv6 only.
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Time TCP connects to PORT instead of ICMP echo.
    #[arg(long, value_name = "PORT", conflicts_with = "udp")]
    pub tcp: Option<u16>,
    /// Time UDP round trips to an echo peer on PORT.
    #[arg(long, value_name = "PORT")]
    pub udp: Option<u16>,
    /// JSON output, one object per line.
    #[arg(long)]
    pub json: bool,
}

/// `sockscope trace`.
#[derive(Debug, Args, Clone)]
pub struct TraceArgs {
    /// The host to trace: an address or a name, with :PORT for --tcp/--udp
    /// (198.18.0.1:443, [fd00::1]:443).
    #[arg(value_name = "HOST[:PORT]")]
    pub host: String,
    /// ICMP echo requests (the default).
    #[arg(long, conflicts_with_all = ["tcp", "udp"])]
    pub icmp: bool,
    /// TCP SYNs to PORT (or to the port of HOST:PORT; put the host first then).
    #[arg(long, value_name = "PORT", num_args = 0..=1, conflicts_with = "udp", value_parser = parse_trace_port)]
    pub tcp: Option<Option<u16>>,
    /// UDP datagrams to PORT (or to the port of HOST:PORT); the target answers with a port
    /// unreachable when nothing listens there.
    #[arg(long, value_name = "PORT", num_args = 0..=1, value_parser = parse_trace_port)]
    pub udp: Option<Option<u16>>,
    /// The highest TTL (hop limit) probed.
    #[arg(short = 'm', long = "max-hops", value_name = "MAXHOPS", default_value_t = 30,
          value_parser = clap::value_parser!(u8).range(1..))]
    pub max_hops: u8,
    /// Rounds of probes: every hop is probed this many times.
    #[arg(short = 'c', long = "count", value_name = "ROUNDS", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub rounds: u32,
    /// How long each round waits for its answers (default 1s); the whole run takes at most
    /// ROUNDS times this.
    #[arg(short = 'W', long = "wait", value_name = "DUR", value_parser = parse_positive_duration)]
    pub wait: Option<Duration>,
    /// IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// IPv6 only.
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Show the hops' names (reverse lookups through the system resolver); numeric by default.
    #[arg(short = 'r', long = "resolve")]
    pub resolve: bool,
    /// One JSON document: {target, reached, hops: [{ttl, addresses, sent, received, loss,
    /// min_ms, avg_ms, max_ms}]}.
    #[arg(long)]
    pub json: bool,
}

/// The port of `trace --tcp`/`--udp`; a host given there instead gets a hint.
fn parse_trace_port(text: &str) -> Result<u16, String> {
    text.parse::<u16>().map_err(|_| {
        format!(
            "'{text}' is not a port (1-65535); with HOST:PORT, put the host first: \
             sockscope trace HOST:PORT --tcp"
        )
    })
}

/// `sockscope echo`.
#[derive(Debug, Args, Clone)]
pub struct EchoArgs {
    /// Server: the address to listen on (ADDR:PORT, [V6ADDR]:PORT or PORT; port 0 picks a free
    /// one). Default 127.0.0.1:7007: loopback only unless asked.
    #[arg(
        short = 'l',
        long = "listen",
        value_name = "ADDR:PORT",
        conflicts_with_all = ["connect", "unix"]
    )]
    pub listen: Option<String>,
    /// TCP only (the server serves TCP and UDP on the same port by default).
    #[arg(long, conflicts_with_all = ["udp", "unix"])]
    pub tcp: bool,
    /// UDP only (server), or talk UDP (client).
    #[arg(long, conflicts_with = "unix")]
    pub udp: bool,
    /// A UNIX stream socket at PATH (server: created, and removed again on exit; client: the
    /// socket to connect to, with --connect and no address).
    #[arg(long, value_name = "PATH")]
    pub unix: Option<PathBuf>,
    /// Server: most connections served at once; more are refused (reset), not queued. The
    /// default leaves room for 10,000 held connections and more, under a 20,000-descriptor limit.
    #[arg(long, value_name = "N", default_value_t = 16_384, conflicts_with = "connect",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_conns: u64,
    /// Server: close connections idle this long (no data either way).
    #[arg(long, value_name = "DUR", value_parser = parse_positive_duration, conflicts_with = "connect")]
    pub idle_timeout: Option<Duration>,
    /// Server: do not log each connection.
    #[arg(long, conflicts_with = "connect")]
    pub quiet: bool,
    /// Run as a client against HOST:PORT (with --unix PATH, no address is needed).
    #[arg(long, value_name = "HOST:PORT", num_args = 0..=1, default_missing_value = "")]
    pub connect: Option<String>,
    /// Client: the message to send (default: the lines of standard input).
    #[arg(
        short = 'm',
        long = "message",
        value_name = "MSG",
        requires = "connect",
        conflicts_with = "size"
    )]
    pub message: Option<String>,
    /// Client: how many times to send the message(s).
    #[arg(short = 'n', long = "count", value_name = "COUNT", requires = "connect", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub count: u64,
    /// Client: send BYTES random bytes instead of a message (load mode: the round-trip size,
    /// default 64).
    #[arg(long, value_name = "BYTES", requires = "connect", value_parser = clap::value_parser!(u64).range(1..=16_777_216))]
    pub size: Option<u64>,
    /// Client load mode: this many connections at once, each doing round trips until
    /// --duration ends (or streaming --bytes).
    #[arg(long, value_name = "N", requires = "connect", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub connections: Option<u64>,
    /// Client load mode: how long to run (default 10s).
    #[arg(long, value_name = "DUR", requires = "connections", value_parser = parse_positive_duration, conflicts_with = "bytes")]
    pub duration: Option<Duration>,
    /// Client load mode: stream this many bytes through each connection (sent and read back at
    /// once) instead of round trips.
    #[arg(long, value_name = "BYTES", requires = "connections", value_parser = clap::value_parser!(u64).range(1..))]
    pub bytes: Option<u64>,
    /// Client: how long to wait to connect and for each echo.
    #[arg(long, value_name = "DUR", value_parser = parse_positive_duration, default_value = "2s")]
    pub timeout: Duration,
    /// JSON output (client: one document with every reply, or the load figures).
    #[arg(long, requires = "connect")]
    pub json: bool,
}
