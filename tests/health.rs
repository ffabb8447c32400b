//! Socket health (`list -i`, `-m`, `-o`, `--problems`, `--summary`) against real sockets, with
//! `ss` (iproute2) and `nstat` as the ground truth, read at the same moment.
//!
//! Each test builds its situation for real with a python3 peer (killed on drop), waits until
//! the sockets are quiet, then compares sockscope with ss, retrying a few times where two reads
//! can race. The privileged tests work only inside network namespaces they create (and remove
//! on drop, also on failure), so the kernel counters they read move only because of them.

mod common;

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::*;

// ---------------------------------------------------------------------------------------------
// ss: one row per socket, and the `key:value` words ss prints beside and under it

/// A socket as `ss -H` prints it (one protocol asked for, so no Netid column).
#[derive(Debug, Clone)]
struct SsRow {
    state: String,
    recv_q: u64,
    send_q: u64,
    local: String,
    peer: String,
    /// Every word after the peer column: on the row line (`timer:(...)`) and the tab-indented
    /// detail line (`mss:32768`, `skmem:(...)`, `cubic`...).
    words: Vec<String>,
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

impl SsRow {
    fn local_port(&self) -> u16 {
        port_of(&self.local)
    }

    fn peer_port(&self) -> u16 {
        port_of(&self.peer)
    }

    /// The value of the word `key:value`.
    fn get(&self, key: &str) -> Option<&str> {
        self.words
            .iter()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix(':'))
    }

    /// A numeric word; ss leaves out counters that are zero, so absent means 0.
    fn num(&self, key: &str) -> u64 {
        self.get(key)
            .map(|v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("ss word {key}:{v} is not a number"))
            })
            .unwrap_or(0)
    }

    /// `skmem:(r0,rb131072,t0,tb2626560,f0,w0,o0,bl0,d0)` as name → value.
    fn skmem(&self) -> Option<HashMap<String, u64>> {
        let inner = self.get("skmem")?.strip_prefix('(')?.strip_suffix(')')?;
        Some(
            inner
                .split(',')
                .filter_map(|item| {
                    let split = item.find(|c: char| c.is_ascii_digit())?;
                    Some((item[..split].to_string(), item[split..].parse().ok()?))
                })
                .collect(),
        )
    }

    /// `timer:(keepalive,9min59sec,0)` as (kind, milliseconds left, retries); ss calls the
    /// retransmission timer "on".
    fn timer(&self) -> Option<(String, u64, u64)> {
        let inner = self.get("timer")?.strip_prefix('(')?.strip_suffix(')')?;
        let mut parts = inner.split(',');
        let kind = parts.next()?.to_string();
        let ms = ss_ms(parts.next()?)?;
        let retries = parts.next()?.parse().ok()?;
        Some((kind, ms, retries))
    }
}

/// A time left as ss -o prints it (print_ms_timer): `10min`, `9min59sec`, `7.500ms` (7.5 s),
/// `59sec`, `200ms`, with an optional leading `-`.
fn ss_ms(text: &str) -> Option<u64> {
    let mut rest = text.trim_start_matches('-');
    let mut ms = 0u64;
    if let Some((min, after)) = rest.split_once("min") {
        ms += min.parse::<u64>().ok()? * 60_000;
        rest = after;
    }
    if let Some(secs) = rest.strip_suffix("sec") {
        ms += secs.parse::<u64>().ok()? * 1000;
    } else if let Some((secs, msecs)) = rest.split_once('.') {
        ms += secs.parse::<u64>().ok()? * 1000;
        ms += msecs.strip_suffix("ms")?.parse::<u64>().ok()?;
    } else if let Some(msecs) = rest.strip_suffix("ms") {
        ms += msecs.parse::<u64>().ok()?;
    } else if !rest.is_empty() {
        return None;
    }
    Some(ms)
}

/// Parses `ss -H` output: a row line per socket, then tab-indented detail lines.
fn parse_ss(text: &str) -> Vec<SsRow> {
    let mut rows: Vec<SsRow> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            if let Some(last) = rows.last_mut() {
                last.words
                    .extend(line.split_whitespace().map(str::to_string));
            }
            continue;
        }
        let mut f: Vec<&str> = line.split_whitespace().collect();
        // ss leaves the State column out when one state is asked for (`state time-wait`).
        let state = if f.first().is_some_and(|w| w.parse::<u64>().is_err()) {
            f.remove(0).to_string()
        } else {
            String::new()
        };
        assert!(f.len() >= 4, "unexpected ss line: {line:?}");
        rows.push(SsRow {
            state,
            recv_q: f[0].parse().expect("ss Recv-Q"),
            send_q: f[1].parse().expect("ss Send-Q"),
            local: f[2].to_string(),
            peer: f[3].to_string(),
            words: f[4..].iter().map(|w| w.to_string()).collect(),
        });
    }
    rows
}

/// `ss -H ARGS` (inside `ns` when given), parsed.
fn ss(ns: Option<&str>, args: &[&str]) -> Vec<SsRow> {
    let out = in_ns(ns, "ss")
        .arg("-H")
        .args(args)
        .output()
        .expect("ss (iproute2) is needed for these tests");
    assert!(
        out.status.success(),
        "ss {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_ss(&String::from_utf8_lossy(&out.stdout))
}

/// The ss row of the socket from `local` to `remote` port.
fn ss_find(rows: &[SsRow], local: u16, remote: u16) -> Option<SsRow> {
    rows.iter()
        .find(|r| r.local_port() == local && r.peer_port() == remote)
        .cloned()
}

/// `ss` filter for sockets with port `p` at either end.
fn either(p: u16) -> String {
    format!("( sport = :{p} or dport = :{p} )")
}

// ---------------------------------------------------------------------------------------------
// sockscope, python peers and namespaces

/// `program`, run inside the network namespace `ns` when given.
fn in_ns(ns: Option<&str>, program: &str) -> Command {
    match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, program]);
            c
        }
        None => Command::new(program),
    }
}

/// Runs sockscope (inside `ns` when given); returns (exit code, stdout, stderr).
fn sockscope_in(ns: Option<&str>, args: &[&str]) -> (i32, String, String) {
    run_command(&mut in_ns(ns, env!("CARGO_BIN_EXE_sockscope")), args)
}

/// `sockscope ARGS --json` (inside `ns` when given), parsed; it must succeed.
fn sockscope_json(ns: Option<&str>, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, out, err) = sockscope_in(ns, &all);
    assert_eq!(code, 0, "sockscope {all:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}): {out}\nstderr: {err}"))
}

/// The record of the socket from `local` to `remote` port.
fn rec(v: &Value, local: u16, remote: u16) -> Option<Value> {
    v.as_array()
        .expect("JSON array")
        .iter()
        .find(|r| r["local_port"] == local && r["remote_port"] == remote)
        .cloned()
}

/// The problem codes of a record.
fn codes(r: &Value) -> Vec<String> {
    r["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems list: {r}"))
        .iter()
        .map(|p| p["code"].as_str().expect("code").to_string())
        .collect()
}

/// An unsigned field of a JSON object; absent or not a number fails.
fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not an unsigned number in {v}"))
}

/// A python3 peer started as `prefix... python3 -c CODE ARGS...` (prefix: `ip netns exec NS`),
/// killed on drop; the lines it prints arrive on the receiver. Waits for its first line.
fn py(ns: Option<&str>, code: &str, args: &[&str]) -> (Holder, Receiver<String>) {
    let mut child = in_ns(ns, "python3")
        .arg("-c")
        .arg(code)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn_guarded()
        .expect("python3 is needed for these tests");
    let lines = lines_of(&mut child);
    let mut holder = Holder {
        child,
        first_line: String::new(),
    };
    holder.first_line = next_line(&lines, Duration::from_secs(20), "python peer start");
    (holder, lines)
}

/// The next line of a peer, waited for at most `limit`.
fn next_line(lines: &Receiver<String>, limit: Duration, what: &str) -> String {
    lines
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what}: no line from the python peer within {limit:?}"))
        .trim()
        .to_string()
}

/// The whitespace-separated numbers of a peer's line.
fn numbers(line: &str) -> Vec<u64> {
    line.split_whitespace()
        .map(|w| {
            w.parse()
                .unwrap_or_else(|_| panic!("not a number: {w:?} in {line:?}"))
        })
        .collect()
}

/// Tries `check` up to `tries` times, `pause` apart, until it says Ok; fails with its last
/// complaint. Two reads of live counters can race; a real mismatch stays.
fn eventually<T>(
    what: &str,
    tries: usize,
    pause: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let started = Instant::now();
    let mut last = String::new();
    for attempt in 0..tries {
        if attempt > 0 {
            std::thread::sleep(pause);
        }
        match check() {
            Ok(v) => return v,
            Err(e) => last = e,
        }
    }
    panic!(
        "{what}: still wrong after {tries} tries in {:?}: {last}",
        started.elapsed()
    );
}

/// Compares two values, saying which field differed.
fn same<T: PartialEq + std::fmt::Debug>(field: &str, ours: T, theirs: T) -> Result<(), String> {
    if ours == theirs {
        Ok(())
    } else {
        Err(format!("{field}: sockscope {ours:?}, ss {theirs:?}"))
    }
}

/// `ip ARGS`, which must succeed.
fn ip_ok(args: &[&str]) {
    if let Err(e) = ip(args) {
        panic!("{e}");
    }
}

/// A network namespace of this test, with its loopback up; deleted on drop (also when the
/// test fails), which removes every interface in it too.
struct Netns {
    name: String,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        // The guard exists before the namespace, so a failure half-way still removes it.
        let ns = Netns {
            name: format!("ssc-health-{}-{tag}{n}", std::process::id()),
        };
        ip_ok(&["netns", "add", &ns.name]);
        ip_ok(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    fn name(&self) -> Option<&str> {
        Some(&self.name)
    }

    /// Runs `program ARGS` inside; it must succeed; returns its stdout.
    fn run(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = in_ns(self.name(), program)
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} in {}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

// ---------------------------------------------------------------------------------------------
// Python peers

/// A loopback pair after a known transfer: the client (SO_RCVBUF 16384 before connecting, so
/// its receive window scale differs from its send one) sends 100,000 bytes, the server reads
/// them all. Then a second pair is closed by its client first, leaving that end in TIME-WAIT.
/// Prints: listener port, client port, bytes read, TIME-WAIT port.
const PY_TRANSFER: &str = r#"
import socket, time
N = 100000
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(4)
c = socket.socket()
c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
c.connect(l.getsockname())
s, _ = l.accept()
c.sendall(b"x" * N)
got = 0
deadline = time.monotonic() + 20
while got < N and time.monotonic() < deadline:
    got += len(s.recv(65536))
t = socket.create_connection(l.getsockname())
ts, _ = l.accept()
tport = t.getsockname()[1]
t.close()
time.sleep(0.1)
ts.close()
print(l.getsockname()[1], c.getsockname()[1], got, tport, flush=True)
time.sleep(120)
"#;

/// A pair whose client has SO_KEEPALIVE with TCP_KEEPIDLE 600. Prints: listener, client port.
const PY_KEEPALIVE: &str = r#"
import socket, time
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(4)
c = socket.socket()
c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 600)
c.connect(l.getsockname())
s, _ = l.accept()
c.sendall(b"hello")
s.recv(16)
print(l.getsockname()[1], c.getsockname()[1], flush=True)
time.sleep(120)
"#;

/// A listener with backlog 1 that never accepts, and three non-blocking clients: two fill the
/// accept queue, the third's SYNs are dropped. Prints: listener port, the clients' ports.
const PY_BACKLOG: &str = r#"
import select, socket, time
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(1)
port = l.getsockname()[1]
clients = []
for i in range(3):
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    # Wait for the handshake (the third never completes); so the order is fixed.
    select.select([], [c], [], 1.0)
    clients.append(c)
print(port, *[c.getsockname()[1] for c in clients], flush=True)
time.sleep(120)
"#;

/// A receiver that never reads (SO_RCVBUF 4096 on the listener, so the accepted socket has it)
/// and a sender that writes non-blocking until EAGAIN. Prints: listener port, client port,
/// bytes the sender got into its socket.
const PY_STUCK_READER: &str = r#"
import socket, time
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
l.bind(("127.0.0.1", 0))
l.listen(1)
c = socket.create_connection(l.getsockname())
s, _ = l.accept()
c.setblocking(False)
sent = 0
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        sent += c.send(b"x" * 65536)
    except BlockingIOError:
        break
print(l.getsockname()[1], c.getsockname()[1], sent, flush=True)
time.sleep(120)
"#;

/// A pair whose client closes while the server's application keeps its socket: CLOSE-WAIT.
/// Prints: listener port, client port.
const PY_CLOSE_WAIT: &str = r#"
import socket, time
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(4)
c = socket.create_connection(l.getsockname())
s, _ = l.accept()
cport = c.getsockname()[1]
c.close()
print(l.getsockname()[1], cport, flush=True)
time.sleep(120)
"#;

/// A UDP socket with a tiny SO_RCVBUF on 127.0.0.1, sent 2000 datagrams it never reads.
/// Prints: its port.
const PY_UDP_FLOOD: &str = r#"
import socket, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
u.bind(("127.0.0.1", 0))
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(2000):
    tx.sendto(b"y" * 100, u.getsockname())
print(u.getsockname()[1], flush=True)
time.sleep(120)
"#;

/// A TCP receiver on ADDR that reads N bytes from one connection. Prints its port, then
/// "got BYTES" when done (or after 60 s), and keeps the socket.
const PY_RECEIVER: &str = r#"
import socket, sys, time
addr, n = sys.argv[1], int(sys.argv[2])
l = socket.socket()
l.bind((addr, 0))
l.listen(1)
print(l.getsockname()[1], flush=True)
l.settimeout(60)
s, _ = l.accept()
s.settimeout(60)
got = 0
deadline = time.monotonic() + 60
while got < n and time.monotonic() < deadline:
    d = s.recv(1 << 16)
    if not d:
        break
    got += len(d)
print("got", got, flush=True)
time.sleep(120)
"#;

/// A TCP sender to ADDR PORT of N bytes. Prints its local port, then "sent" once sendall
/// returned, and keeps the socket.
const PY_SENDER: &str = r#"
import socket, sys, time
addr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = socket.create_connection((addr, port), timeout=60)
print(c.getsockname()[1], flush=True)
c.sendall(b"x" * n)
print("sent", flush=True)
time.sleep(120)
"#;

/// The ends of a loopback pair: (listener port, client port).
fn pair_ports(h: &Holder) -> (u16, u16) {
    let n = numbers(&h.first_line);
    (n[0] as u16, n[1] as u16)
}

// ---------------------------------------------------------------------------------------------
// 1. tcp_info and socket memory after a known transfer

#[test]
fn info_and_memory_match_ss_after_a_known_transfer() {
    let (h, _lines) = py(None, PY_TRANSFER, &[]);
    let n = numbers(&h.first_line);
    let (p, c, got, tw) = (n[0] as u16, n[1] as u16, n[2], n[3] as u16);
    assert_eq!(got, 100_000, "the server read the whole transfer");
    let filter = either(p);

    // Quiescence: nothing queued or unacknowledged at either end.
    eventually("quiescence", 50, Duration::from_millis(100), || {
        let rows = ss(None, &["-tin", &filter]);
        for (a, b) in [(p, c), (c, p)] {
            let r = ss_find(&rows, a, b).ok_or(format!("no ss row {a}->{b}"))?;
            if r.recv_q != 0 || r.send_q != 0 || r.num("unacked") != 0 {
                return Err(format!("not quiet yet: {r:?}"));
            }
        }
        Ok(())
    });

    let (client, server) = eventually(
        "tcp_info and skmem equal to ss",
        5,
        Duration::from_millis(200),
        || {
            let v = sockscope_json(None, &["list", "-t", "-i", "-m", "--port", &p.to_string()]);
            let rows = ss(None, &["-tinm", &filter]);
            let mut ends = Vec::new();
            for (a, b) in [(c, p), (p, c)] {
                let ours = rec(&v, a, b).ok_or(format!("no sockscope record {a}->{b}"))?;
                let theirs = ss_find(&rows, a, b).ok_or(format!("no ss row {a}->{b}"))?;
                let info = &ours["info"];
                let end = format!("{a}->{b}");
                for key in ["mss", "cwnd", "bytes_acked", "bytes_received"] {
                    same(&format!("{end} {key}"), u(info, key), theirs.num(key))?;
                }
                let wscale = format!("{},{}", u(info, "snd_wscale"), u(info, "rcv_wscale"));
                same(
                    &format!("{end} wscale"),
                    Some(wscale.as_str()),
                    theirs.get("wscale"),
                )?;
                let skmem = theirs
                    .skmem()
                    .ok_or(format!("no skmem in ss: {theirs:?}"))?;
                let m = &ours["memory"];
                for (ours_key, ss_key) in [
                    ("rmem_alloc", "r"),
                    ("rcvbuf", "rb"),
                    ("wmem_alloc", "t"),
                    ("sndbuf", "tb"),
                    ("fwd_alloc", "f"),
                    ("wmem_queued", "w"),
                    ("optmem", "o"),
                    ("backlog", "bl"),
                    ("drops", "d"),
                ] {
                    same(
                        &format!("{end} memory.{ours_key}"),
                        Some(u(m, ours_key)),
                        skmem.get(ss_key).copied(),
                    )?;
                }
                ends.push(ours);
            }
            let server = ends.pop().expect("server");
            let client = ends.pop().expect("client");
            Ok((client, server))
        },
    );

    // What the transfer itself fixes, independently of ss.
    let (ci, si) = (&client["info"], &server["info"]);
    assert_eq!(u(ci, "bytes_acked"), 100_001, "100,000 bytes and the SYN");
    assert_eq!(u(si, "bytes_received"), 100_000);
    assert_eq!(u(ci, "snd_wscale"), u(si, "rcv_wscale"), "{ci}\n{si}");
    assert_eq!(u(ci, "rcv_wscale"), u(si, "snd_wscale"), "{ci}\n{si}");
    assert_ne!(
        u(ci, "snd_wscale"),
        u(ci, "rcv_wscale"),
        "the client's small SO_RCVBUF makes its scales differ, so their order is tested"
    );
    for r in [&client, &server] {
        assert!(codes(r).is_empty(), "a healthy pair: {r}");
        let info = r["info"].as_object().expect("info object");
        for (k, v) in info {
            assert!(!v.is_null(), "info.{k} is null: absent fields are left out");
        }
    }

    // A TIME-WAIT socket: the kernel sends neither tcp_info nor memory for it.
    let v = sockscope_json(
        None,
        &["list", "-t", "-i", "-m", "-o", "--port", &tw.to_string()],
    );
    let tw_rec = v
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["local_port"] == tw && r["state"] == "time-wait")
        .unwrap_or_else(|| panic!("no TIME-WAIT record for port {tw}: {v}"))
        .clone();
    assert!(tw_rec.get("info").is_none(), "{tw_rec}");
    assert!(tw_rec.get("memory").is_none(), "{tw_rec}");
    assert_eq!(tw_rec["timer"]["kind"], "timewait", "{tw_rec}");
    let rows = ss(
        None,
        &[
            "-tinmo",
            "state",
            "time-wait",
            "sport",
            "=",
            &format!(":{tw}"),
        ],
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].get("mss").is_none() && rows[0].skmem().is_none(),
        "{rows:?}"
    );
    assert_eq!(rows[0].timer().map(|t| t.0), Some("timewait".to_string()));
    drop(h);
}

// ---------------------------------------------------------------------------------------------
// 2. A keepalive timer

#[test]
fn keepalive_timer_matches_ss() {
    let (h, _lines) = py(None, PY_KEEPALIVE, &[]);
    let (p, c) = pair_ports(&h);
    let filter = either(p);
    eventually(
        "keepalive timer as ss -to",
        5,
        Duration::from_millis(200),
        || {
            let v = sockscope_json(None, &["list", "-t", "-o", "--port", &p.to_string()]);
            let rows = ss(None, &["-ton", &filter]);
            let ours = rec(&v, c, p).ok_or("no client record")?;
            let theirs = ss_find(&rows, c, p).ok_or("no client row in ss")?;
            let (kind, ms, retries) = theirs
                .timer()
                .ok_or(format!("no timer in ss: {theirs:?}"))?;
            let t = &ours["timer"];
            same("timer.kind", t["kind"].as_str(), Some("keepalive"))?;
            same("ss timer kind", kind.as_str(), "keepalive")?;
            same("timer.retries", u(t, "retries"), retries)?;
            let expires = u(t, "expires_ms");
            if !(590_000..=600_000).contains(&expires) {
                return Err(format!(
                    "expires_ms {expires} is not within 10 s of TCP_KEEPIDLE 600"
                ));
            }
            // ss prints whole seconds below ten minutes; the two reads are a moment apart.
            if expires.abs_diff(ms) > 2000 {
                return Err(format!("expires_ms {expires}, ss {ms} ms"));
            }
            // The server end has no keepalive: no timer at all, as ss shows none.
            let server = rec(&v, p, c).ok_or("no server record")?;
            same("server timer", &server["timer"], &Value::Null)?;
            let ss_server = ss_find(&rows, p, c).ok_or("no server row in ss")?;
            same("ss server timer", ss_server.timer(), None)?;
            Ok(())
        },
    );
    drop(h);
}

// ---------------------------------------------------------------------------------------------
// 3. accept-queue-full, and the kernel counter it moves (in a fresh namespace)

/// The TcpExt counter `name` (ListenOverflows) as `nstat -az` prints it inside `ns` (its
/// history file in a temp dir).
fn nstat_tcpext(ns: &Netns, history: &std::path::Path, name: &str) -> u64 {
    let full = format!("TcpExt{name}");
    let out = ns.run(
        "nstat",
        &["-az", &full],
        &[("NSTAT_HISTORY", history.to_str().expect("utf-8 path"))],
    );
    out.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(full.as_str())).then(|| w.next()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {full} in nstat output: {out}"))
}

/// The TcpExt counter `name` read from /proc/net/netstat inside `ns`.
fn proc_tcpext(ns: &Netns, name: &str) -> u64 {
    let text = ns.run("cat", &["/proc/net/netstat"], &[]);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    assert_eq!(lines.len(), 2, "TcpExt header and values: {text}");
    let names = lines[0].split_whitespace();
    let values = lines[1].split_whitespace();
    names
        .zip(values)
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /proc/net/netstat: {text}"))
}

#[test]
fn accept_queue_full_and_listen_overflows_in_a_namespace() {
    if !privileged("accept-queue-full in a test namespace") {
        return;
    }
    if !tool("nstat") {
        return;
    }
    let ns = Netns::new("aq");
    let dir = tempfile::tempdir().expect("temp dir");
    let history = dir.path().join("nstat.history");
    let before_nstat = nstat_tcpext(&ns, &history, "ListenOverflows");
    let before_proc = proc_tcpext(&ns, "ListenOverflows");
    assert_eq!(before_nstat, before_proc);
    let before_drops = nstat_tcpext(&ns, &history, "ListenDrops");

    let (h, _lines) = py(ns.name(), PY_BACKLOG, &[]);
    let n = numbers(&h.first_line);
    let (p, dropped_client) = (n[0] as u16, n[3] as u16);

    let v = eventually("accept-queue-full", 20, Duration::from_millis(100), || {
        let v = sockscope_json(ns.name(), &["list", "-t", "-m", "--port", &p.to_string()]);
        let l = v
            .as_array()
            .expect("array")
            .iter()
            .find(|r| r["local_port"] == p && r["state"] == "listen")
            .cloned()
            .ok_or(format!("no listener: {v}"))?;
        same("listener recv_q", u(&l, "recv_q"), 2)?;
        same("listener send_q", u(&l, "send_q"), 1)?;
        // Its SYNs dropped also show as the listener's drops (sk_drops), and may be named.
        let problems = codes(&l);
        if problems.first().map(String::as_str) != Some("accept-queue-full")
            || problems
                .iter()
                .any(|c| c != "accept-queue-full" && c != "drops")
        {
            return Err(format!("listener problems {problems:?}"));
        }
        Ok(v)
    });
    // ss agrees on the queue.
    let rows = ss(ns.name(), &["-tln", &format!("sport = :{p}")]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].recv_q, rows[0].send_q), (2, 1), "{rows:?}");
    let third = rec(&v, dropped_client, p).expect("the third client");
    assert_eq!(third["state"], "syn-sent", "{third}");

    // Every SYN of the third client that reached the full listener was dropped and counted:
    // the first one and each retransmission (its SYN-SENT timer's retries, as ss shows).
    eventually(
        "ListenOverflows rise equals the SYNs dropped",
        20,
        Duration::from_millis(300),
        || {
            let syn_retries = |_: ()| -> Result<u64, String> {
                let rows = ss(ns.name(), &["-tno", &format!("sport = :{dropped_client}")]);
                let r = rows.first().ok_or("no SYN-SENT row in ss")?;
                same("ss state", r.state.as_str(), "SYN-SENT")?;
                Ok(r.timer().ok_or(format!("no timer: {r:?}"))?.2)
            };
            let r0 = syn_retries(())?;
            let nstat = nstat_tcpext(&ns, &history, "ListenOverflows") - before_nstat;
            let proc = proc_tcpext(&ns, "ListenOverflows") - before_proc;
            let listen_drops = nstat_tcpext(&ns, &history, "ListenDrops") - before_drops;
            let v = sockscope_json(
                ns.name(),
                &["list", "-t", "-l", "-m", "--port", &p.to_string()],
            );
            let r1 = syn_retries(())?;
            if r0 != r1 {
                return Err(format!(
                    "a SYN was retransmitted while reading ({r0} -> {r1})"
                ));
            }
            if nstat == 0 {
                return Err("TcpExtListenOverflows did not rise".into());
            }
            same("nstat rise vs /proc/net/netstat rise", nstat, proc)?;
            same("nstat rise vs SYNs sent by the third client", nstat, 1 + r0)?;
            // The only listener in the namespace: its drops are all of TcpExtListenDrops.
            let l = with_local_port(&v, p)
                .into_iter()
                .next()
                .ok_or(format!("no listener: {v}"))?;
            same(
                "listener memory.drops vs TcpExtListenDrops rise",
                u(&l["memory"], "drops"),
                listen_drops,
            )?;
            // Those drops are named for what they are: refused connection attempts.
            let text = l["problems"]
                .as_array()
                .and_then(|a| a.iter().find(|p| p["code"] == "drops"))
                .and_then(|p| p["text"].as_str())
                .ok_or(format!("no drops problem on the listener: {l}"))?;
            let attempts = if listen_drops == 1 {
                "1 incoming connection attempt ".to_string()
            } else {
                format!("{listen_drops} incoming connection attempts")
            };
            if !text.contains(&attempts) {
                return Err(format!("listener drops text: {text}"));
            }
            Ok(())
        },
    );
    drop(h);
    drop(ns);
}

// ---------------------------------------------------------------------------------------------
// 4. A receiver that never reads: unread-data at one end, zero-window and persist at the other

#[test]
fn stuck_reader_unread_data_zero_window_and_persist_timer() {
    let (h, _lines) = py(None, PY_STUCK_READER, &[]);
    let n = numbers(&h.first_line);
    let (p, c, sent) = (n[0] as u16, n[1] as u16, n[2]);
    assert!(sent > 0, "the sender wrote something before EAGAIN");
    let filter = either(p);
    std::thread::sleep(Duration::from_millis(1100));
    eventually(
        "unread-data, zero-window and a persist timer as ss shows",
        30,
        Duration::from_millis(250),
        || {
            let v = sockscope_json(None, &["list", "-t", "-i", "-o", "--port", &p.to_string()]);
            let rows = ss(None, &["-tino", &filter]);
            let receiver = rec(&v, p, c).ok_or("no receiver record")?;
            let sender = rec(&v, c, p).ok_or("no sender record")?;
            let ss_receiver = ss_find(&rows, p, c).ok_or("no receiver row in ss")?;
            let ss_sender = ss_find(&rows, c, p).ok_or("no sender row in ss")?;
            if !codes(&receiver).contains(&"unread-data".to_string()) {
                return Err(format!("receiver lacks unread-data: {receiver}"));
            }
            same(
                "receiver recv_q",
                u(&receiver, "recv_q"),
                ss_receiver.recv_q,
            )?;
            if u(&receiver, "recv_q") == 0 {
                return Err("nothing queued at the receiver".into());
            }
            if !codes(&sender).contains(&"zero-window".to_string()) {
                return Err(format!("sender lacks zero-window: {sender}"));
            }
            same(
                "sender snd_wnd",
                u(&sender["info"], "snd_wnd"),
                ss_sender.num("snd_wnd"),
            )?;
            let t = &sender["timer"];
            same("sender timer", t["kind"].as_str(), Some("persist"))?;
            let (kind, ms, retries) = ss_sender
                .timer()
                .ok_or(format!("no timer in ss: {ss_sender:?}"))?;
            same("ss sender timer kind", kind.as_str(), "persist")?;
            same("persist retries", u(t, "retries"), retries)?;
            // Below ten seconds ss prints milliseconds; a probe may re-arm it in between.
            let expires = u(t, "expires_ms");
            if expires.abs_diff(ms) > 1000 {
                return Err(format!("persist expires_ms {expires}, ss {ms} ms"));
            }
            Ok(())
        },
    );
    drop(h);
}

// ---------------------------------------------------------------------------------------------
// 5. CLOSE-WAIT left open by the application

#[test]
fn close_wait_is_a_problem_with_its_line_under_the_row() {
    let (h, _lines) = py(None, PY_CLOSE_WAIT, &[]);
    let (p, c) = pair_ports(&h);
    let filter = either(p);
    eventually("CLOSE-WAIT in ss", 50, Duration::from_millis(100), || {
        let rows = ss(None, &["-tn", &filter]);
        let r = ss_find(&rows, p, c).ok_or("no server row")?;
        same("ss state", r.state.as_str(), "CLOSE-WAIT")
    });
    let v = sockscope_json(None, &["list", "-t", "--port", &p.to_string()]);
    let server = rec(&v, p, c).expect("server record");
    assert_eq!(server["state"], "close-wait");
    assert_eq!(codes(&server), ["close-wait"], "{server}");
    let text = server["problems"][0]["text"].as_str().unwrap();
    assert!(text.contains("peer closed"), "{text}");

    let (code, out, err) = run(&["list", "--problems", "--port", &p.to_string()]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let ends = (format!("127.0.0.1:{p} "), format!("127.0.0.1:{c} "));
    let row = lines
        .iter()
        .position(|l| l.contains(&ends.0) && l.contains(&ends.1) && l.contains("CLOSE-WAIT"))
        .unwrap_or_else(|| panic!("no CLOSE-WAIT row for {p}->{c}:\n{out}"));
    let next = lines.get(row + 1).copied().unwrap_or_default();
    assert!(next.starts_with("\t ! close-wait: "), "{next:?} in\n{out}");
    // --problems keeps only sockets with a problem: not the healthy listener.
    assert!(
        !lines
            .iter()
            .any(|l| l.contains(&format!("127.0.0.1:{p} ")) && l.contains("LISTEN")),
        "{out}"
    );
    drop(h);
}

// ---------------------------------------------------------------------------------------------
// 6. UDP drops

#[test]
fn udp_drops_match_ss() {
    let (h, _lines) = py(None, PY_UDP_FLOOD, &[]);
    let p = numbers(&h.first_line)[0] as u16;
    eventually(
        "UDP drops as ss -uamn shows",
        5,
        Duration::from_millis(200),
        || {
            let v = sockscope_json(None, &["list", "-u", "-m", "--port", &p.to_string()]);
            let rows = ss(None, &["-uamn", &format!("sport = :{p}")]);
            let ours = with_local_port(&v, p)
                .into_iter()
                .next()
                .ok_or(format!("no record: {v}"))?;
            let theirs = rows.first().ok_or("no ss row")?;
            let skmem = theirs.skmem().ok_or(format!("no skmem: {theirs:?}"))?;
            let drops = u(&ours["memory"], "drops");
            if drops == 0 {
                return Err(format!("no drops counted: {ours}"));
            }
            same("memory.drops", Some(drops), skmem.get("d").copied())?;
            same("recv_q", u(&ours, "recv_q"), theirs.recv_q)?;
            same("problems", codes(&ours), vec!["drops".to_string()])?;
            let text = ours["problems"][0]["text"].as_str().unwrap_or_default();
            if !text.contains(&format!("{drops} datagrams")) {
                return Err(format!("the text does not say how many: {text}"));
            }
            Ok(())
        },
    );
    drop(h);
}

// ---------------------------------------------------------------------------------------------
// 7. Retransmissions, made by dropping data segments between two test namespaces

#[test]
fn retransmissions_from_dropped_segments_match_ss() {
    if !privileged("retransmissions between test namespaces") {
        return;
    }
    if !tool("nft") {
        return;
    }
    let sender_ns = Netns::new("tx");
    let receiver_ns = Netns::new("rx");
    // One veth pair straight between the two namespaces: nothing in the host's namespace.
    ip_ok(&[
        "link",
        "add",
        "tx0",
        "netns",
        &sender_ns.name,
        "type",
        "veth",
        "peer",
        "name",
        "rx0",
        "netns",
        &receiver_ns.name,
    ]);
    let (tx_ip, rx_ip) = ("198.18.200.1", "198.18.200.2");
    // One segment a packet (no GSO super-packets): the rule below then drops about a tenth
    // of ~1,400 segments, never none by chance.
    ip_ok(&[
        "-n",
        &sender_ns.name,
        "link",
        "set",
        "tx0",
        "gso_max_segs",
        "1",
    ]);
    for (ns, dev, addr) in [(&sender_ns, "tx0", tx_ip), (&receiver_ns, "rx0", rx_ip)] {
        ip_ok(&[
            "-n",
            &ns.name,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            dev,
        ]);
        ip_ok(&["-n", &ns.name, "link", "set", dev, "up"]);
    }

    const BYTES: &str = "2000000";
    let (rx, rx_lines) = py(receiver_ns.name(), PY_RECEIVER, &[rx_ip, BYTES]);
    let p = numbers(&rx.first_line)[0] as u16;
    // Drop one in ten of the segments that carry data to the port (not the handshake).
    let nft = |args: &[&str]| receiver_ns.run("nft", args, &[]);
    nft(&["add", "table", "inet", "ssc_health"]);
    nft(&[
        "add",
        "chain",
        "inet",
        "ssc_health",
        "in",
        "{ type filter hook input priority 0; }",
    ]);
    nft(&[
        "add",
        "rule",
        "inet",
        "ssc_health",
        "in",
        "tcp",
        "dport",
        &p.to_string(),
        "ip",
        "length",
        ">",
        "100",
        "numgen",
        "random",
        "mod",
        "10",
        "==",
        "0",
        "drop",
    ]);

    let (tx, tx_lines) = py(sender_ns.name(), PY_SENDER, &[rx_ip, &p.to_string(), BYTES]);
    let c = numbers(&tx.first_line)[0] as u16;
    assert_eq!(
        next_line(&tx_lines, Duration::from_secs(60), "sender"),
        "sent"
    );
    assert_eq!(
        next_line(&rx_lines, Duration::from_secs(60), "receiver"),
        format!("got {BYTES}")
    );
    let filter = either(p);
    eventually("sender quiescence", 100, Duration::from_millis(100), || {
        let rows = ss(sender_ns.name(), &["-tin", &filter]);
        let r = ss_find(&rows, c, p).ok_or("no sender row")?;
        if r.send_q != 0 || r.num("unacked") != 0 {
            return Err(format!("not all acknowledged yet: {r:?}"));
        }
        Ok(())
    });

    let sender = eventually(
        "total_retrans equal to ss's retrans:X/Y",
        5,
        Duration::from_millis(200),
        || {
            let v = sockscope_json(
                sender_ns.name(),
                &["list", "-t", "-i", "--port", &p.to_string()],
            );
            let rows = ss(sender_ns.name(), &["-tin", &filter]);
            let ours = rec(&v, c, p).ok_or(format!("no sender record: {v}"))?;
            let theirs = ss_find(&rows, c, p).ok_or("no sender row in ss")?;
            let (now, total) = theirs
                .get("retrans")
                .and_then(|r| r.split_once('/'))
                .ok_or(format!("no retrans:X/Y in ss: {theirs:?}"))?;
            same(
                "info.retrans",
                u(&ours["info"], "retrans").to_string(),
                now.to_string(),
            )?;
            same(
                "info.total_retrans",
                u(&ours["info"], "total_retrans").to_string(),
                total.to_string(),
            )?;
            same(
                "info.segs_out",
                u(&ours["info"], "segs_out"),
                theirs.num("segs_out"),
            )?;
            Ok(ours)
        },
    );
    eprintln!(
        "sender: {} of {} segments retransmitted; problems {:?}",
        u(&sender["info"], "total_retrans"),
        u(&sender["info"], "segs_out"),
        codes(&sender)
    );
    assert!(u(&sender["info"], "total_retrans") > 0, "{sender}");
    assert!(
        codes(&sender).contains(&"retransmitting".to_string()),
        "the sender retransmitted {} of {} segments: {sender}",
        u(&sender["info"], "total_retrans"),
        u(&sender["info"], "segs_out")
    );
    drop(tx);
    drop(rx);
}

// ---------------------------------------------------------------------------------------------
// 8. --problems with none, --summary counts, Prometheus text

#[test]
fn problems_with_none_prints_nothing_and_exits_0() {
    // A port nobody uses: bound by us for a moment, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind")
        .port();
    let (code, out, err) = run(&["list", "--problems", "--port", &port.to_string()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "", "nothing printed when no socket has a problem");
    let (code, v) = run_json(&["list", "--problems", "--port", &port.to_string(), "--json"]);
    assert_eq!(code, 0);
    assert_eq!(v, serde_json::json!([]));
}

#[test]
fn summary_counts_a_problem_we_made_and_prometheus_text_is_valid() {
    let (h, _lines) = py(None, PY_CLOSE_WAIT, &[]);
    let (p, c) = pair_ports(&h);
    eventually("CLOSE-WAIT", 50, Duration::from_millis(100), || {
        let v = sockscope_json(None, &["list", "-t", "--port", &p.to_string()]);
        let r = rec(&v, p, c).ok_or("no server record")?;
        same("state", r["state"].as_str(), Some("close-wait"))
    });
    let (code, v) = run_json(&["list", "--summary", "--json"]);
    assert_eq!(code, 0);
    let tcp = v
        .as_array()
        .expect("array of rows")
        .iter()
        .find(|r| r["proto"] == "tcp")
        .unwrap_or_else(|| panic!("no tcp row: {v}"));
    assert!(u(&tcp["problems"], "close-wait") >= 1, "{tcp}");
    assert!(u(&tcp["states"], "close-wait") >= 1, "{tcp}");
    // Only TCP and UDP have problems.
    for r in v.as_array().unwrap() {
        if r["proto"] != "tcp" && r["proto"] != "udp" {
            assert!(
                r["problems"].as_object().is_none_or(|m| m.is_empty()),
                "{r}"
            );
        }
    }

    let (code, text, err) = run(&["list", "--summary", "--prometheus"]);
    assert_eq!(code, 0, "{err}");
    let line = text
        .lines()
        .find(|l| l.starts_with(r#"sockscope_socket_problems{proto="tcp",problem="close-wait"} "#))
        .unwrap_or_else(|| panic!("no close-wait problem sample:\n{text}"));
    let n: u64 = line.rsplit(' ').next().unwrap().parse().expect("a count");
    assert!(n >= 1, "{line}");
    if !tool("promtool") {
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn_guarded()
        .expect("promtool");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("write to promtool");
    }
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    drop(h);
}

// ---------------------------------------------------------------------------------------------
// 9. Unprivileged: sock_diag gives tcp_info of anyone's sockets

#[test]
fn nobody_sees_tcp_info_of_roots_socket() {
    if !privileged("list -i as nobody (needs root to drop to nobody)") {
        return;
    }
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let p = l.local_addr().expect("addr").port();
    let client = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    let (_server, _) = l.accept().expect("accept");
    let c = client.local_addr().expect("addr").port();
    let out = as_nobody(env!("CARGO_BIN_EXE_sockscope"))
        .args(["list", "-t", "-i", "--json", "--port", &p.to_string()])
        .output()
        .expect("setpriv");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for (a, b) in [(c, p), (p, c)] {
        let r = rec(&v, a, b).unwrap_or_else(|| panic!("no record {a}->{b}: {v}"));
        assert_eq!(r["uid"], 0, "{r}");
        assert_eq!(
            r["owners_hidden"], true,
            "nobody cannot see root's processes: {r}"
        );
        let info = &r["info"];
        assert!(u(info, "mss") > 0, "tcp_info without privilege: {r}");
        assert!(u(info, "cwnd") > 0, "{r}");
    }
    // And it equals what root sees.
    let root = sockscope_json(None, &["list", "-t", "-i", "--port", &p.to_string()]);
    let (ours, theirs) = (rec(&v, c, p).unwrap(), rec(&root, c, p).unwrap());
    assert_eq!(ours["info"]["mss"], theirs["info"]["mss"]);
    assert_eq!(ours["info"]["snd_wscale"], theirs["info"]["snd_wscale"]);
}
