//! `sockscope echo`: the server against independent python3 clients, the client against
//! independent python3 servers (honest and lying), the load mode, limits and bad input.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// A running `sockscope echo` server; killed on drop.
struct Server {
    child: Guard,
    port: u16,
    unix: Option<String>,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = sockscope()
            .arg("echo")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn_guarded()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(line.starts_with("listening on "), "first line: {line:?}");
        let port = line
            .split([' ', ','])
            .filter_map(|w| w.rsplit_once(':').and_then(|(_, p)| p.trim().parse().ok()))
            .next()
            .unwrap_or(0);
        let unix = line.split("unix ").nth(1).map(|p| p.trim().to_string());
        Server {
            child,
            port,
            unix,
            stdout,
        }
    }

    /// Sends a signal and returns (exit code, rest of stdout, stderr).
    fn stop(mut self, signal: i32) -> (i32, String, String) {
        // SAFETY: kill with a pid we spawned.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), rest, err)
    }
}

fn py(code: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A full-duplex python client: sends N bytes from one thread while reading them back.
const PY_STREAM: &str = r#"
import socket, sys, threading, os
port, size = int(sys.argv[1]), int(sys.argv[2])
data = os.urandom(size)
s = socket.create_connection(("127.0.0.1", port))
t = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))
t.start()
got = bytearray()
while True:
    b = s.recv(1 << 20)
    if not b:
        break
    got += b
t.join()
print("ok" if bytes(got) == data else "mismatch %d of %d" % (len(got), size))
"#;

#[test]
fn tcp_multi_mib_payload_full_duplex() {
    let srv = Server::start(&["-l", "127.0.0.1:0", "--quiet"]);
    let (code, out, err) = py(PY_STREAM, &[&srv.port.to_string(), &(24 << 20).to_string()]);
    assert_eq!((code, out.trim()), (0, "ok"), "{err}");
}

#[test]
fn hundreds_of_simultaneous_connections() {
    let srv = Server::start(&["-l", "127.0.0.1:0", "--quiet"]);
    let code = r#"
import socket, sys
port = int(sys.argv[1])
conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(500)]
for i, c in enumerate(conns):
    c.sendall(b"message %d\n" % i)
bad = 0
for i, c in enumerate(conns):
    want = b"message %d\n" % i
    got = b""
    while len(got) < len(want):
        got += c.recv(100)
    bad += got != want
print("bad", bad)
"#;
    let (rc, out, err) = py(code, &[&srv.port.to_string()]);
    assert_eq!((rc, out.trim()), (0, "bad 0"), "{err}");
    // The backlog is large (ncat's is 10): it shows as the listener's Send-Q.
    let (_, v) = run_json(&[
        "list",
        "-t",
        "-l",
        "--port",
        &srv.port.to_string(),
        "--json",
    ]);
    let l = &with_local_port(&v, srv.port)[0];
    let somaxconn: u64 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(l["send_q"].as_u64().unwrap(), somaxconn.min(4096), "{l}");
}

#[test]
fn udp_datagrams_echoed_to_their_sender() {
    let srv = Server::start(&["-l", "127.0.0.1:0", "--quiet"]);
    let code = r#"
import socket, sys, os
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
ok = 0
for n in (1, 100, 1400, 9000, 65000):
    d = os.urandom(n)
    s.sendto(d, ("127.0.0.1", port))
    got, peer = s.recvfrom(70000)
    ok += got == d and peer[1] == port
print(ok)
"#;
    let (rc, out, err) = py(code, &[&srv.port.to_string()]);
    assert_eq!((rc, out.trim()), (0, "5"), "{err}");
}

#[test]
fn tcp_only_and_udp_only() {
    let tcp = Server::start(&["-l", "127.0.0.1:0", "--tcp", "--quiet"]);
    let (_, v) = run_json(&["list", "-u", "--port", &tcp.port.to_string(), "--json"]);
    assert!(
        with_local_port(&v, tcp.port).is_empty(),
        "no UDP socket with --tcp"
    );
    let udp = Server::start(&["-l", "127.0.0.1:0", "--udp", "--quiet"]);
    let (_, v) = run_json(&["list", "-t", "--port", &udp.port.to_string(), "--json"]);
    assert!(
        with_local_port(&v, udp.port).is_empty(),
        "no TCP socket with --udp"
    );
    let (code, _, err) = run(&[
        "echo",
        "--connect",
        &format!("127.0.0.1:{}", udp.port),
        "--udp",
        "-m",
        "x",
    ]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn unix_socket_served_and_removed_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo.sock");
    let p = path.to_str().unwrap();
    let srv = Server::start(&["--unix", p]);
    assert_eq!(srv.unix.as_deref(), Some(p));
    let code = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"over unix")
print(s.recv(100).decode())
"#;
    let (rc, out, err) = py(code, &[p]);
    assert_eq!((rc, out.trim()), (0, "over unix"), "{err}");
    let (code, _, err) = run(&["echo", "--connect", "--unix", p, "-m", "ping", "-n", "3"]);
    assert_eq!(code, 0, "{err}");
    let (code, rest, err) = srv.stop(libc::SIGTERM);
    assert_eq!(code, 0, "{err}");
    assert!(rest.contains("totals: 2 connections"), "{rest}");
    assert!(err.contains("unix"), "connections logged: {err}");
    assert!(!path.exists(), "socket file removed on exit");
}

#[test]
fn ctrl_c_prints_totals_and_logs_connections() {
    let srv = Server::start(&["-l", "127.0.0.1:0"]);
    let (code, _, e) = run(&[
        "echo",
        "--connect",
        &format!("127.0.0.1:{}", srv.port),
        "-m",
        "12345",
    ]);
    assert_eq!(code, 0, "{e}");
    let (code, rest, err) = srv.stop(libc::SIGINT);
    assert_eq!(code, 0);
    assert!(
        rest.contains("totals: 1 connections (0 refused), 5 bytes echoed"),
        "{rest}"
    );
    assert!(
        err.contains("127.0.0.1:") && err.contains("5 bytes echoed"),
        "{err}"
    );
}

#[test]
fn max_conns_refuses_rather_than_queues() {
    let srv = Server::start(&["-l", "127.0.0.1:0", "--max-conns", "2"]);
    let code = r#"
import socket, sys, time
port = int(sys.argv[1])
a = socket.create_connection(("127.0.0.1", port)); a.sendall(b"a"); a.recv(1)
b = socket.create_connection(("127.0.0.1", port)); b.sendall(b"b"); b.recv(1)
c = socket.create_connection(("127.0.0.1", port))
c.settimeout(3)
try:
    c.sendall(b"c")
    r = c.recv(1)
    print("refused" if r == b"" else "served")
except (ConnectionResetError, BrokenPipeError):
    print("refused")
except socket.timeout:
    print("queued")
a.close(); b.close()
time.sleep(0.3)
d = socket.create_connection(("127.0.0.1", port)); d.settimeout(3); d.sendall(b"d")
print("after close:", d.recv(1).decode())
"#;
    let (rc, out, err) = py(code, &[&srv.port.to_string()]);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["refused", "after close: d"],
        "{out}"
    );
    let (_, rest, log) = srv.stop(libc::SIGTERM);
    assert!(rest.contains("(1 refused)"), "{rest}");
    assert!(log.contains("--max-conns 2 reached"), "{log}");
}

#[test]
fn idle_connections_are_closed() {
    let srv = Server::start(&["-l", "127.0.0.1:0", "--idle-timeout", "300ms"]);
    let code = r#"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(5)
print("closed" if s.recv(1) == b"" else "data")
"#;
    let (rc, out, err) = py(code, &[&srv.port.to_string()]);
    assert_eq!((rc, out.trim()), (0, "closed"), "{err}");
    let (_, _, log) = srv.stop(libc::SIGTERM);
    assert!(log.contains("idle timeout"), "{log}");
}

#[test]
fn slow_reader_does_not_grow_server_memory() {
    let srv = Server::start(&["-l", "127.0.0.1:0", "--quiet"]);
    let rss = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    let before = rss(srv.child.id());
    // Send 64 MiB without ever reading: the server may buffer only a bounded amount.
    let code = r#"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(2)
sent = 0
block = b"x" * 65536
try:
    while sent < (64 << 20):
        sent += s.send(block)
except socket.timeout:
    pass
print(sent)
"#;
    let (rc, out, err) = py(code, &[&srv.port.to_string()]);
    assert_eq!(rc, 0, "{err}");
    let sent: u64 = out.trim().parse().unwrap();
    assert!(
        sent < (64 << 20),
        "the server kept reading from a client that never reads: {sent}"
    );
    let after = rss(srv.child.id());
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}

/// An independent echo server in python: TCP or UDP, optionally lying (flips one byte).
const PY_ECHO_SERVER: &str = r#"
import socket, sys, threading
mode, lie = sys.argv[1], sys.argv[2] == "lie"
def fix(b):
    return (bytes([b[0] ^ 1]) + b[1:]) if lie and b else b
if mode == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1], flush=True)
    while True:
        d, a = s.recvfrom(70000); s.sendto(fix(d), a)
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
def serve(c):
    while True:
        d = c.recv(65536)
        if not d: return
        c.sendall(fix(d))
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

#[test]
fn client_against_an_independent_server() {
    let h = python(PY_ECHO_SERVER, &["tcp", "honest"]);
    let target = format!("127.0.0.1:{}", h.first_line);
    let (code, out, err) = run(&["echo", "--connect", &target, "-m", "hello", "-n", "3"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("bytes from") && l.contains("time="))
            .count(),
        3,
        "{out}"
    );
    assert!(
        out.contains("3 sent, 3 echoed, 0 mismatched, 0 lost"),
        "{out}"
    );
    assert!(out.contains("rtt min/avg/max"), "{out}");
    let (code, v) = run_json(&["echo", "--connect", &target, "--size", "300000", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(v["echoed"], 1);
    assert!(v["rtt_avg_ms"].as_f64().unwrap() > 0.0);
    // Lines of stdin, one message each.
    let out = sockscope()
        .args(["echo", "--connect", &target])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn_guarded()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"one\ntwo\nthree\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 sent, 3 echoed"));
}

#[test]
fn client_catches_a_lying_server() {
    let h = python(PY_ECHO_SERVER, &["tcp", "lie"]);
    let (code, out, err) = run(&[
        "echo",
        "--connect",
        &format!("127.0.0.1:{}", h.first_line),
        "-m",
        "hello",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("MISMATCH") && out.contains("byte 0"), "{out}");
    assert!(err.contains("mismatch"), "{err}");
    let u = python(PY_ECHO_SERVER, &["udp", "lie"]);
    let (code, _, err) = run(&[
        "echo",
        "--connect",
        &format!("127.0.0.1:{}", u.first_line),
        "--udp",
        "-m",
        "hello",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("mismatch"), "{err}");
    let honest = python(PY_ECHO_SERVER, &["udp", "honest"]);
    let (code, _, err) = run(&[
        "echo",
        "--connect",
        &format!("127.0.0.1:{}", honest.first_line),
        "--udp",
        "--size",
        "1000",
        "-n",
        "5",
    ]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn client_says_refused_and_lost() {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, _, err) = run(&["echo", "--connect", &format!("127.0.0.1:{free}"), "-m", "x"]);
    assert_eq!(code, 1);
    assert!(err.contains("refused"), "{err}");
    let (code, _, err) = run(&[
        "echo",
        "--connect",
        &format!("127.0.0.1:{free}"),
        "--udp",
        "-m",
        "x",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("refused"), "{err}");
    // A UDP socket that never answers: lost.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (code, out, err) = run(&[
        "echo",
        "--connect",
        &format!("127.0.0.1:{port}"),
        "--udp",
        "-m",
        "x",
        "--timeout",
        "300ms",
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("1 lost") && err.contains("lost"), "{out}{err}");
}

#[test]
fn load_mode_round_trips_and_streaming() {
    let srv = Server::start(&["-l", "127.0.0.1:0", "--quiet"]);
    let target = format!("127.0.0.1:{}", srv.port);
    let (code, v) = run_json(&[
        "echo",
        "--connect",
        &target,
        "--connections",
        "50",
        "--duration",
        "1s",
        "--json",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["connected"], 50);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["mismatches"], 0);
    assert!(v["round_trips"].as_u64().unwrap() > 50, "{v}");
    assert!(v["round_trips_per_s"].as_f64().unwrap() > 0.0);
    let (code, v) = run_json(&[
        "echo",
        "--connect",
        &target,
        "--connections",
        "2",
        "--bytes",
        "16000000",
        "--json",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["bytes"], 32_000_000u64);
    assert!(v["mb_per_s"].as_f64().unwrap() > 0.0);
    let (code, v) = run_json(&[
        "echo",
        "--connect",
        &target,
        "--udp",
        "--connections",
        "4",
        "--duration",
        "500ms",
        "--json",
    ]);
    assert_eq!(code, 0, "{v}");
    assert!(v["round_trips"].as_u64().unwrap() > 0);
}

#[test]
fn bad_input_and_busy_port() {
    for args in [
        vec!["echo", "-l", "nonsense"],
        vec!["echo", "-l", "1.2.3.4"],
        vec!["echo", "--connect", "nohostport", "-m", "x"],
        vec!["echo", "--connect", "127.0.0.1:0", "-m", "x"],
        vec!["echo", "--connect", "-m", "x"],
        vec!["echo", "--connect", "127.0.0.1:9", "--size", "0"],
        vec!["echo", "--max-conns", "0"],
        vec!["echo", "--tcp", "--udp"],
        vec!["echo", "-m", "x"],
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (code, _, err) = run(&["echo", "-l", &format!("127.0.0.1:{port}"), "--tcp"]);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("in use") && err.contains("sockscope who"),
        "{err}"
    );
}

#[test]
fn low_port_without_privilege_exits_3_with_remedy() {
    if !privileged("echo on a low port as nobody") {
        return;
    }
    let out = as_nobody(env!("CARGO_BIN_EXE_sockscope"))
        .args(["echo", "-l", "127.0.0.1:7", "--tcp"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("setcap cap_net_bind_service+ep"), "{err}");
    let _ = Duration::ZERO;
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn a_client_that_never_reads_neither_spins_the_server_nor_escapes_the_idle_timeout() {
    let srv = Server::start(&["-l", "127.0.0.1:0", "--tcp", "--idle-timeout", "1s"]);
    // Small writes, never a read: the server's sends back fill up and must wait, not spin.
    let code = r#"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.settimeout(0.5)
try:
    for _ in range(4000):
        s.send(b"x" * 1000)
        time.sleep(0.0005)
except (socket.timeout, BlockingIOError):
    pass
print("stuck", flush=True)
s.settimeout(15)
try:
    while True:
        time.sleep(0.2)
        s.send(b"")
        if s.recv(1 << 20, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
            break
except BlockingIOError:
    pass
except OSError:
    pass
time.sleep(15)
"#;
    let mut client = python(code, &[&srv.port.to_string()]);
    assert_eq!(client.first_line, "stuck");
    let before = cpu_ticks(srv.child.id());
    std::thread::sleep(Duration::from_millis(800));
    let spent = cpu_ticks(srv.child.id()) - before;
    assert!(
        spent < 20,
        "the server used {spent} ticks in 0.8 s waiting on a full socket"
    );
    let _ = client.child.kill();
    let (_, _, log) = srv.stop(libc::SIGTERM);
    assert!(log.contains("idle timeout"), "{log}");
}

#[test]
fn udp_duplicates_and_extra_tcp_bytes_are_caught() {
    let dup = python(
        r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
while True:
    d, a = s.recvfrom(70000); s.sendto(d, a); s.sendto(d, a)
"#,
        &[],
    );
    let (code, v) = run_json(&[
        "echo",
        "--connect",
        &format!("127.0.0.1:{}", dup.first_line),
        "--udp",
        "-m",
        "hello",
        "-n",
        "3",
        "--json",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["echoed"], 3);
    assert!(v["late"].as_u64().unwrap() >= 1, "duplicates counted: {v}");
    let chatty = python(
        r#"
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept(); d = c.recv(100); c.sendall(d + b"!"); c.close()
"#,
        &[],
    );
    let (code, _, err) = run(&[
        "echo",
        "--connect",
        &format!("127.0.0.1:{}", chatty.first_line),
        "-m",
        "hello",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("beyond the echo"), "{err}");
}

#[test]
fn options_that_cannot_work_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-socket");
    std::fs::write(&file, "x").unwrap();
    let long = dir.path().join("x".repeat(120));
    for args in [
        vec!["echo", "--connect", "127.0.0.1:9", "-m", ""],
        vec![
            "echo",
            "--connect",
            "127.0.0.1:9",
            "--udp",
            "--size",
            "70000",
        ],
        vec![
            "echo",
            "--connect",
            "127.0.0.1:9",
            "--udp",
            "--connections",
            "2",
            "--bytes",
            "10",
        ],
        vec!["echo", "--json"],
        vec!["echo", "-l", "127.0.0.1:0", "--unix", "/tmp/x.sock"],
        vec![
            "echo",
            "--connect",
            "127.0.0.1:9",
            "-m",
            "x",
            "--timeout",
            "0",
        ],
        vec!["echo", "--connect", "127.0.0.1:9", "-m", "x", "--quiet"],
        vec!["echo", "--connect", "::1:9", "-m", "x"],
        vec!["echo", "--unix", file.to_str().unwrap()],
        vec!["echo", "--unix", long.to_str().unwrap()],
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
}
