//! `sockscope list` against real sockets that the tests open on loopback.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

fn me() -> u64 {
    u64::from(std::process::id())
}

#[test]
fn tcp_listeners_and_connections_v4_v6_with_owner() {
    let l4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let p4 = l4.local_addr().unwrap().port();
    let l6 = TcpListener::bind("[::1]:0").unwrap();
    let p6 = l6.local_addr().unwrap().port();
    let client = TcpStream::connect(("127.0.0.1", p4)).unwrap();
    let (_server, _) = l4.accept().unwrap();
    let cport = client.local_addr().unwrap().port();

    let (code, v) = run_json(&[
        "list",
        "-t",
        "--port",
        &p4.to_string(),
        "--port",
        &p6.to_string(),
        "--json",
    ]);
    assert_eq!(code, 0);
    let l4r = with_local_port(&v, p4);
    let listen = l4r
        .iter()
        .find(|r| r["state"] == "listen")
        .expect("v4 listener");
    assert_eq!(listen["family"], "inet");
    assert_eq!(listen["local_addr"], "127.0.0.1");
    assert!(pids(listen).contains(&me()), "{listen}");
    let server = l4r
        .iter()
        .find(|r| r["state"] == "established")
        .expect("server end");
    assert_eq!(server["remote_port"], cport);
    assert!(pids(server).contains(&me()));
    let client_rec = with_local_port(&v, cport);
    assert_eq!(
        client_rec.len(),
        1,
        "client end found by its remote port: {v}"
    );
    assert_eq!(client_rec[0]["state"], "established");
    assert_eq!(client_rec[0]["remote_port"], p4);
    let l6r = with_local_port(&v, p6);
    assert_eq!(l6r.len(), 1);
    assert_eq!(l6r[0]["family"], "inet6");
    assert_eq!(l6r[0]["local_addr"], "::1");
    assert!(pids(&l6r[0]).contains(&me()));
    drop(client);
}

#[test]
fn json_records_have_the_contract_fields() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (_, v) = run_json(&["list", "--port", &port.to_string(), "--json"]);
    let r = &with_local_port(&v, port)[0];
    for field in [
        "proto",
        "family",
        "local_addr",
        "local_port",
        "remote_addr",
        "remote_port",
        "state",
        "recv_q",
        "send_q",
        "inode",
        "uid",
        "processes",
    ] {
        assert!(r.get(field).is_some(), "field {field} missing: {r}");
    }
    assert_eq!(r["proto"], "tcp");
    assert!(r["inode"].as_u64().unwrap() > 0);
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        r["uid"].as_u64(),
        Some(u64::from(unsafe { libc::geteuid() }))
    );
    let p = &r["processes"][0];
    for field in ["pid", "name", "user", "cmdline"] {
        assert!(p.get(field).is_some(), "process field {field} missing: {p}");
    }
    // The listen backlog shows as Send-Q, as in ss.
    assert!(r["send_q"].as_u64().unwrap() > 0);
}

#[test]
fn udp_v4_and_v6() {
    let u4 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let u6 = UdpSocket::bind("[::1]:0").unwrap();
    let (p4, p6) = (
        u4.local_addr().unwrap().port(),
        u6.local_addr().unwrap().port(),
    );
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.connect(("127.0.0.1", p4)).unwrap();
    let pp = peer.local_addr().unwrap().port();
    let (code, v) = run_json(&["list", "-u", "--port", &format!("{p4},{p6},{pp}"), "--json"]);
    assert_eq!(code, 0);
    let r4 = &with_local_port(&v, p4)[0];
    assert_eq!(
        (r4["proto"].as_str(), r4["state"].as_str()),
        (Some("udp"), Some("unconn"))
    );
    assert!(pids(r4).contains(&me()));
    let r6 = &with_local_port(&v, p6)[0];
    assert_eq!(r6["family"], "inet6");
    let rp = &with_local_port(&v, pp)[0];
    assert_eq!(rp["state"], "established");
    assert_eq!(rp["remote_port"], p4);
}

#[test]
fn udp_receive_queue_is_reported() {
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = u.local_addr().unwrap().port();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..3 {
        tx.send_to(&[7u8; 100], ("127.0.0.1", port)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    let (_, v) = run_json(&["list", "-u", "--port", &port.to_string(), "--json"]);
    let r = &with_local_port(&v, port)[0];
    assert!(r["recv_q"].as_u64().unwrap() >= 300, "{r}");
}

#[test]
fn ipv4_mapped_addresses_stay_visible() {
    // A dual-stack listener on [::] accepts an IPv4 client: the accepted socket is AF_INET6
    // with ::ffff:127.0.0.1 at both ends.
    let l = TcpListener::bind("[::]:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let _c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (_s, _) = l.accept().unwrap();
    let (_, v) = run_json(&[
        "list",
        "-t",
        "--port",
        &port.to_string(),
        "--state",
        "established",
        "--json",
    ]);
    let server = with_local_port(&v, port);
    assert_eq!(server.len(), 1, "{v}");
    assert_eq!(server[0]["family"], "inet6");
    assert_eq!(server[0]["local_addr"], "::ffff:127.0.0.1");
    assert_eq!(server[0]["remote_addr"], "::ffff:127.0.0.1");
    // --addr with an IPv4 network matches the mapped address.
    let (_, v) = run_json(&[
        "list",
        "-t",
        "--port",
        &port.to_string(),
        "--addr",
        "127.0.0.0/8",
        "--json",
    ]);
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|r| r["local_addr"] == "::ffff:127.0.0.1")
    );
    let (_, text, _) = run(&[
        "list",
        "-t",
        "--port",
        &port.to_string(),
        "--state",
        "established",
    ]);
    assert!(text.contains("[::ffff:127.0.0.1]:"), "{text}");
}

#[test]
fn unix_stream_dgram_seqpacket_abstract_and_peers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let client = UnixStream::connect(&path).unwrap();
    let (_server, _) = listener.accept().unwrap();
    let dpath = dir.path().join("d.sock");
    let _dgram = UnixDatagram::bind(&dpath).unwrap();
    let spath = dir.path().join("q.sock");
    let seq = python(
        r#"
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1]); s.listen(1)
a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
a.bind("\0sockscope-test-abstract-%d" % __import__("os").getpid()); a.listen(1)
print("ok", flush=True)
time.sleep(120)
"#,
        &[spath.to_str().unwrap()],
    );
    let (code, v) = run_json(&["list", "-x", "--json"]);
    assert_eq!(code, 0);
    let all = v.as_array().unwrap();
    let by_path = |p: &std::path::Path| {
        all.iter()
            .filter(|r| r["local_addr"] == p.to_str().unwrap())
            .cloned()
            .collect::<Vec<_>>()
    };
    let s = by_path(&path);
    let listen = s
        .iter()
        .find(|r| r["state"] == "listen")
        .expect("stream listener");
    assert_eq!(listen["proto"], "unix");
    assert_eq!(listen["family"], "unix");
    assert_eq!(listen["type"], "stream");
    assert!(pids(listen).contains(&me()));
    // The accepted end carries the listener's path too; the client's end names its peer.
    let client_inode = {
        let c = all
            .iter()
            .find(|r| r["remote_addr"] == path.to_str().unwrap() && r["local_addr"].is_null())
            .expect("client end with the server's path as peer");
        assert_eq!(c["state"], "established");
        assert!(pids(c).contains(&me()));
        c["inode"].as_u64().unwrap()
    };
    assert!(
        all.iter()
            .any(|r| r["peer_inode"].as_u64() == Some(client_inode)),
        "server end points at the client"
    );
    let d = by_path(&dpath);
    assert_eq!(d[0]["type"], "dgram");
    assert_eq!(d[0]["state"], "unconn");
    let q = by_path(&spath);
    assert_eq!(q[0]["type"], "seqpacket");
    assert!(pids(&q[0]).contains(&u64::from(seq.pid())));
    let abs = format!("@sockscope-test-abstract-{}", seq.pid());
    let a = all
        .iter()
        .find(|r| r["local_addr"] == abs.as_str())
        .expect("abstract socket");
    assert!(pids(a).contains(&u64::from(seq.pid())));
    // The table names the type as ss does.
    let (_, text, _) = run(&["list", "-x"]);
    assert!(
        text.contains("u_str") && text.contains("u_dgr") && text.contains("u_seq"),
        "{text}"
    );
    assert!(text.contains(&abs));
    drop(client);
}

#[test]
fn prefork_shared_socket_lists_every_owner() {
    let h = python(PY_PREFORK, &[]);
    let mut parts = h.first_line.split_whitespace();
    let port: u16 = parts.next().unwrap().parse().unwrap();
    let mut expected: Vec<u64> = parts.map(|p| p.parse().unwrap()).collect();
    expected.push(u64::from(h.pid()));
    expected.sort();
    let (_, v) = run_json(&["list", "-t", "-l", "--port", &port.to_string(), "--json"]);
    let r = &with_local_port(&v, port)[0];
    assert_eq!(pids(r), expected, "{r}");
    let (_, text, _) = run(&[
        "list",
        "-t",
        "-l",
        "--port",
        &port.to_string(),
        "--addr",
        "127.0.0.1",
    ]);
    let want = expected
        .iter()
        .map(|p| format!("{p}/python3"))
        .collect::<Vec<_>>()
        .join(",");
    assert!(text.contains(&want), "{text}");
}

#[test]
fn filters() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let _c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (_s, _) = l.accept().unwrap();
    let p = port.to_string();
    let count = |extra: &[&str]| {
        let mut args = vec![
            "list",
            "-t",
            "--port",
            p.as_str(),
            "--addr",
            "127.0.0.1",
            "--json",
        ];
        args.extend_from_slice(extra);
        let (code, v) = run_json(&args);
        assert_eq!(code, 0);
        v.as_array().unwrap().len()
    };
    assert_eq!(count(&[]), 3);
    assert_eq!(count(&["-l"]), 1);
    assert_eq!(count(&["--state", "listen"]), 1);
    assert_eq!(count(&["--state", "established"]), 2);
    assert_eq!(count(&["--state", "connected"]), 2);
    assert_eq!(count(&["--state", "time-wait"]), 0);
    assert_eq!(count(&["-6"]), 0);
    assert_eq!(count(&["-4"]), 3);
    assert_eq!(count(&["-u"]), 3, "-t -u: both protocols");
    let (_, only_udp) = run_json(&["list", "-u", "--port", &p, "--addr", "127.0.0.1", "--json"]);
    assert_eq!(only_udp.as_array().unwrap().len(), 0);
    assert_eq!(count(&["--pid", &std::process::id().to_string()]), 3);
    assert_eq!(count(&["--pid", "1"]), 0);
    let name = std::fs::read_to_string("/proc/self/comm").unwrap();
    assert_eq!(count(&["--process", name.trim()]), 3);
    assert_eq!(count(&["--process", "no-such-process-name"]), 0);
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() }.to_string();
    assert_eq!(count(&["--user", &uid]), 3);
    assert_eq!(count(&["--addr", "127.0.0.0/8"]), 3);
    let (_, none) = run_json(&["list", "-t", "--port", &p, "--addr", "10.0.0.0/8", "--json"]);
    assert_eq!(none.as_array().unwrap().len(), 0);
    // Ranges
    let range = format!("{}-{}", port.saturating_sub(1), port);
    assert_eq!(
        run_json(&[
            "list",
            "-t",
            "--port",
            &range,
            "--addr",
            "127.0.0.1",
            "--json"
        ])
        .1
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["local_port"] == port)
        .count(),
        2
    );
}

#[test]
fn sort_and_summary() {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    let (pa, pb) = (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    );
    let ports = format!("{pa},{pb}");
    let (_, v) = run_json(&[
        "list",
        "-t",
        "--port",
        &ports,
        "--addr",
        "127.0.0.1",
        "--sort",
        "port",
        "--json",
    ]);
    let got: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["local_port"].as_u64().unwrap())
        .collect();
    let mut want = vec![u64::from(pa), u64::from(pb)];
    want.sort();
    assert_eq!(got, want);
    let (code, s) = run_json(&[
        "list",
        "-t",
        "--port",
        &ports,
        "--addr",
        "127.0.0.1",
        "--summary",
        "--json",
    ]);
    assert_eq!(code, 0);
    assert_eq!(s[0]["proto"], "tcp");
    assert_eq!(s[0]["total"], 2);
    assert_eq!(s[0]["ipv4"], 2);
    assert_eq!(s[0]["states"]["listen"], 2);
    let (_, text, _) = run(&[
        "list",
        "-t",
        "--port",
        &ports,
        "--addr",
        "127.0.0.1",
        "--summary",
    ]);
    assert!(text.starts_with("Total: 2 sockets"), "{text}");
}

#[test]
fn plain_table_when_piped() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (code, text, _) = run(&[
        "list",
        "-t",
        "--port",
        &port.to_string(),
        "--addr",
        "127.0.0.1",
    ]);
    assert_eq!(code, 0);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "Proto",
            "Local",
            "Remote",
            "State",
            "Recv-Q",
            "Send-Q",
            "PID/Process",
            "User"
        ]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(row[0], "tcp");
    assert_eq!(row[1], format!("127.0.0.1:{port}"));
    assert_eq!(row[2], "0.0.0.0:*");
    assert_eq!(row[3], "LISTEN");
    assert!(
        row[6].starts_with(&format!("{}/", std::process::id())),
        "{row:?}"
    );
    assert!(!text.contains('\x1b'), "no colour in a pipe");
    assert!(
        !text.contains('│') && !text.contains('─'),
        "no box drawing in a pipe"
    );
}

#[test]
fn resolve_names_loopback_only() {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    if !hosts
        .lines()
        .any(|l| l.split_whitespace().take(1).eq(["127.0.0.1"]) && l.contains("localhost"))
    {
        eprintln!(
            "SKIPPED resolve test: /etc/hosts has no 127.0.0.1 localhost entry (would need DNS)"
        );
        return;
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (_, text, _) = run(&[
        "list",
        "-t",
        "-r",
        "--port",
        &port.to_string(),
        "--addr",
        "127.0.0.1",
    ]);
    assert!(
        text.contains(&format!("localhost:{port}")) || text.contains("localhost:"),
        "{text}"
    );
    let (_, v) = run_json(&[
        "list",
        "-t",
        "-r",
        "--port",
        &port.to_string(),
        "--addr",
        "127.0.0.1",
        "--json",
    ]);
    assert_eq!(with_local_port(&v, port)[0]["local_host"], "localhost");
    assert_eq!(
        with_local_port(&v, port)[0]["local_addr"],
        "127.0.0.1",
        "JSON addresses stay numeric"
    );
}

#[test]
fn raw_sockets_with_protocol() {
    if !privileged("RAW socket listing") {
        return;
    }
    let h = python(
        r#"
import socket, time
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
r6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
print("ok", flush=True)
time.sleep(120)
"#,
        &[],
    );
    let (code, v) = run_json(&["list", "-w", "--json"]);
    assert_eq!(code, 0);
    let mine: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| pids(r).contains(&u64::from(h.pid())))
        .cloned()
        .collect();
    assert_eq!(mine.len(), 2, "{v}");
    let v4 = mine.iter().find(|r| r["family"] == "inet").unwrap();
    assert_eq!(v4["proto"], "raw");
    assert_eq!(v4["protocol"], 1);
    let v6 = mine.iter().find(|r| r["family"] == "inet6").unwrap();
    assert_eq!(v6["protocol"], 58);
    let (_, text, _) = run(&["list", "-w"]);
    assert!(
        text.contains("icmp(1)") && text.contains("ipv6-icmp(58)"),
        "{text}"
    );
}

#[test]
fn unprivileged_run_still_lists_and_says_owners_are_hidden() {
    if !privileged("unprivileged run via setpriv") {
        return;
    }
    if std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("setpriv (util-linux) is needed for this test");
    }
    // Root's listener, seen by nobody: listed, owner hidden ('-'), and a hint on stderr.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let out = as_nobody(env!("CARGO_BIN_EXE_sockscope"))
        .args([
            "list",
            "-t",
            "--port",
            &port.to_string(),
            "--addr",
            "127.0.0.1",
        ])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let row: Vec<&str> = stdout
        .lines()
        .nth(1)
        .expect("the socket is listed")
        .split_whitespace()
        .collect();
    assert_eq!(row[1], format!("127.0.0.1:{port}"));
    assert_eq!(row[6], "-", "owner hidden, not 'none': {stdout}");
    assert!(
        stderr.contains("root") && stderr.contains("CAP_SYS_PTRACE"),
        "{stderr}"
    );
    // JSON tells hidden apart from none.
    let out = as_nobody(env!("CARGO_BIN_EXE_sockscope"))
        .args(["list", "-t", "--port", &port.to_string(), "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &with_local_port(&v, port)[0];
    assert_eq!(r["owners_hidden"], true);
    assert_eq!(r["processes"].as_array().unwrap().len(), 0);
}

#[test]
fn time_wait_has_no_owner_rather_than_hidden() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (s, _) = l.accept().unwrap();
    let cport = c.local_addr().unwrap().port();
    drop(c); // the active closer goes to TIME-WAIT
    let mut buf = [0u8; 1];
    let _ = (&s).read(&mut buf);
    drop(s);
    std::thread::sleep(Duration::from_millis(100));
    let (_, v) = run_json(&[
        "list",
        "-t",
        "--port",
        &cport.to_string(),
        "--state",
        "time-wait",
        "--json",
    ]);
    // The ephemeral port may also be the local end of another test's TIME-WAIT socket (to
    // another server): this connection is the one whose remote end is our listener.
    let r: Vec<_> = with_local_port(&v, cport)
        .into_iter()
        .filter(|r| r["remote_port"] == port)
        .collect();
    assert_eq!(r.len(), 1, "{v}");
    assert_eq!(r[0]["owners_hidden"], false);
    assert_eq!(r[0]["processes"].as_array().unwrap().len(), 0);
    let (_, text, _) = run(&[
        "list",
        "-t",
        "--port",
        &cport.to_string(),
        "--state",
        "time-wait",
    ]);
    assert!(text.contains("(none)"), "{text}");
}

/// sockscope with these arguments and its stdout piped (for --watch, which runs until killed).
fn spawn_piped(args: &[&str]) -> Guard {
    sockscope()
        .args(args)
        .stdout(Stdio::piped())
        .spawn_guarded()
        .unwrap()
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn watch_marks_appeared_and_vanished() {
    // Pick a free port, then watch it while a listener comes and goes.
    let port = free_port();
    let mut child = spawn_piped(&[
        "list",
        "-t",
        "--port",
        &port.to_string(),
        "--watch",
        "0.2",
        "--json",
    ]);
    let rx = lines_of(&mut child);
    std::thread::sleep(Duration::from_millis(500));
    let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let wait_for = |event: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                if v["event"] == event && v["local_port"] == port {
                    assert!(v["time"].as_f64().unwrap() > 0.0);
                    return;
                }
            }
        }
        panic!("no '{event}' event for port {port}");
    };
    wait_for("appeared");
    drop(l);
    wait_for("vanished");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn watch_in_a_pipe_prints_table_then_changes() {
    let port = free_port();
    let mut child = spawn_piped(&[
        "list",
        "-t",
        "--port",
        &port.to_string(),
        "--addr",
        "127.0.0.1",
        "--watch",
        "0.2",
    ]);
    let rx = lines_of(&mut child);
    std::thread::sleep(Duration::from_millis(500));
    let _l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push_str(&line);
            seen.push('\n');
            if line.starts_with("+ tcp") && line.contains(&format!("127.0.0.1:{port}")) {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no '+' line for the new listener:\n{seen}");
}

#[test]
fn closed_pipe_exits_quietly() {
    let mut child = sockscope()
        .args(["list", "-x"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn_guarded()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away before anything is written
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn bad_input_exits_2_with_a_message() {
    for (args, needle) in [
        (vec!["list", "--port", "70000"], "port"),
        (vec!["list", "--port", "9-1"], "backwards"),
        (vec!["list", "--state", "bogus"], "unknown state"),
        (vec!["list", "--addr", "not-an-ip"], "not an IP"),
        (vec!["list", "--watch", "xyz"], "duration"),
        (vec!["list", "--no-such-flag"], "unexpected argument"),
        (vec!["list", "-4", "-6"], "cannot be used with"),
        (vec!["nosuchcommand"], "unrecognized subcommand"),
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn unix_socketpair_ends_name_each_other() {
    let (a, _b) = UnixStream::pair().unwrap();
    let link = std::fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&a)
    ))
    .unwrap();
    let inode: u64 = link
        .to_str()
        .unwrap()
        .trim_start_matches("socket:[")
        .trim_end_matches(']')
        .parse()
        .unwrap();
    let (_, text, _) = run(&["list", "-x"]);
    let row = text
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(format!("*:{inode}").as_str()))
        .unwrap_or_else(|| panic!("no row for *:{inode}\n{text}"));
    let peer = row.split_whitespace().nth(2).unwrap().to_string();
    let peer_inode = peer.trim_start_matches("*:");
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().nth(1) == Some(peer.as_str())
                && l.split_whitespace().nth(2) == Some(format!("*:{inode}").as_str())),
        "{peer_inode}: {text}"
    );
}

#[test]
fn unknown_user_and_too_fast_watch_are_bad_input() {
    let (code, _, err) = run(&["list", "--user", "no-such-user-here"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown user"), "{err}");
    let (code, _, err) = run(&["list", "--watch", "0"]);
    assert_eq!(code, 2);
    assert!(err.contains("--watch"), "{err}");
}

#[test]
fn watch_summary_prints_counts() {
    let mut child = spawn_piped(&["list", "-t", "--summary", "--watch", "0.2", "--json"]);
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(v["time"].as_f64().unwrap() > 0.0);
    assert_eq!(v["summary"][0]["proto"], "tcp", "{v}");
}

#[test]
fn watch_reports_state_changes() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (_server_end, _) = l.accept().unwrap();
    let mut child = spawn_piped(&[
        "list",
        "-t",
        "--port",
        &port.to_string(),
        "--addr",
        "127.0.0.1",
        "--watch",
        "0.2",
        "--json",
    ]);
    let rx = lines_of(&mut child);
    std::thread::sleep(Duration::from_millis(600));
    drop(c); // the server end goes to CLOSE-WAIT
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = false;
    while Instant::now() < deadline && !seen {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            seen = v["event"] == "changed" && v["state"] == "close-wait" && v["local_port"] == port;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen, "no 'changed' event to close-wait");
}

#[test]
fn quiet_watch_ends_when_the_reader_goes() {
    let port = free_port();
    let mut child = spawn_piped(&[
        "list",
        "-t",
        "--port",
        &port.to_string(),
        "--watch",
        "0.2",
        "--json",
    ]);
    drop(child.stdout.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0));
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("--watch kept running with nobody reading");
}

#[test]
fn unprivileged_owner_filters_and_non_dumpable_processes() {
    if !privileged("owner visibility as nobody") {
        return;
    }
    let nobody = |args: &[&str]| {
        as_nobody(args[0])
            .args(&args[1..])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn_guarded()
            .unwrap()
    };
    // A process of nobody's own that made itself non-dumpable: its descriptors cannot be read,
    // so its socket's owner is hidden, not absent.
    // Debian's python3: a pyenv shim under /root would not run as nobody.
    let mut holder = nobody(&[
        "/usr/bin/python3",
        "-c",
        "import ctypes,socket,time\nctypes.CDLL(None).prctl(4,0,0,0,0)\ns=socket.socket();s.bind(('127.0.0.1',0));s.listen();print(s.getsockname()[1],flush=True);time.sleep(60)",
    ]);
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().to_string();
    let out = nobody(&[
        env!("CARGO_BIN_EXE_sockscope"),
        "list",
        "-t",
        "--port",
        &port,
        "--addr",
        "127.0.0.1",
    ])
    .wait_with_output()
    .unwrap();
    let _ = holder.kill();
    let _ = holder.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    let row: Vec<&str> = text
        .lines()
        .nth(1)
        .expect("listed")
        .split_whitespace()
        .collect();
    assert_eq!(row[6], "-", "{text}");
    // An owner filter that cannot see root's processes says so instead of an unexplained
    // empty table.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let lp = l.local_addr().unwrap().port().to_string();
    let me = std::process::id().to_string();
    let out = nobody(&[
        env!("CARGO_BIN_EXE_sockscope"),
        "list",
        "-t",
        "--port",
        &lp,
        "--pid",
        &me,
    ])
    .wait_with_output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("hidden") && err.contains("CAP_SYS_PTRACE"),
        "{err}"
    );
}
