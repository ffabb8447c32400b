//! `sockscope capture` end to end: live on loopback and across a veth link to a test host in a
//! network namespace, handshakes, pcap files read back by tshark and tcpdump, filters compared
//! with tcpdump's on the same file, bad input and damaged files.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::{Guard, SpawnGuarded, TestHost, lines_of, privileged, run, sockscope, tool};
use serde_json::Value;

/// A running `sockscope capture`, started once it says it is capturing.
struct Capture {
    child: Guard,
    lines: Receiver<String>,
    stderr: Receiver<String>,
}

impl Capture {
    fn start(args: &[&str]) -> Capture {
        let mut child = sockscope()
            .arg("capture")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn_guarded()
            .expect("spawn sockscope capture");
        let lines = lines_of(&mut child);
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, err_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match err_rx.recv_timeout(left) {
                Ok(line) if line.contains("capturing on") => break,
                Ok(line) => seen.push(line),
                Err(_) => {
                    let _ = child.kill();
                    panic!("capture did not start: {seen:?}");
                }
            }
        }
        Capture {
            child,
            lines,
            stderr: err_rx,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGINT (Ctrl-C) and returns the exit code, the stdout lines and the stderr lines.
    fn stop(self) -> (i32, Vec<String>, Vec<String>) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        self.wait()
    }

    /// Waits for it to end by itself (-c, --duration).
    fn wait(mut self) -> (i32, Vec<String>, Vec<String>) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("capture did not end");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out: Vec<String> = drain(&self.lines);
        let err: Vec<String> = drain(&self.stderr);
        (status.code().unwrap_or(-1), out, err)
    }

    /// Waits until the capture has printed a line that `want` accepts, or panics.
    fn expect_line(&self, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if want(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!("no expected line from the capture"),
            }
        }
    }
}

fn drain(rx: &Receiver<String>) -> Vec<String> {
    let mut out = Vec::new();
    // The reader threads finish once the child's pipes close.
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        out.push(line);
    }
    out
}

fn json_lines(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// A TCP exchange with a listener of this process on 127.0.0.1: connect, accept, send five
/// bytes and read them on the server side, close. Returns the client's port.
fn tcp_exchange(listener: &TcpListener) -> u16 {
    let port = listener.local_addr().expect("addr").port();
    let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (mut server, _) = listener.accept().expect("accept");
    client.write_all(b"hello").expect("send");
    let mut buf = [0u8; 5];
    server.read_exact(&mut buf).expect("recv");
    let client_port = client.local_addr().expect("addr").port();
    drop(client);
    drop(server);
    client_port
}

/// A port on 127.0.0.1 that nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn temp_path(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).to_string_lossy().into_owned()
}

/// `tcpdump -r FILE -n -tt --nano [EXPR]`, one line per packet.
fn tcpdump_read(file: &str, expr: &[&str]) -> Vec<String> {
    let out = Command::new("tcpdump")
        .args(["-r", file, "-n", "-tt", "--time-stamp-precision=nano"])
        .args(expr)
        .output()
        .expect("tcpdump");
    assert!(
        out.status.success(),
        "tcpdump -r {file} {expr:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// How many packets tshark reads from a file.
fn tshark_count(file: &str, display_filter: Option<&str>) -> usize {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r", file, "-T", "fields", "-e", "frame.number"]);
    if let Some(f) = display_filter {
        cmd.args(["-Y", f]);
    }
    let out = cmd.output().expect("tshark");
    assert!(
        out.status.success(),
        "tshark -r {file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).lines().count()
}

// ---------------------------------------------------------------------------------------------
// Without privileges, bad input, files

#[test]
fn without_cap_net_raw_exits_3_and_says_how_to_grant_it() {
    if !privileged("capture as nobody") {
        return;
    }
    // A capture that cannot start leaves an existing -w file alone.
    let dir = tempfile::tempdir().expect("tempdir");
    let keep = temp_path(&dir, "keep.pcap");
    std::fs::write(&keep, b"precious").expect("write");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    std::fs::set_permissions(&keep, std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .expect("chmod");
    let out = common::as_nobody(env!("CARGO_BIN_EXE_sockscope"))
        .args(["capture", "-i", "lo", "-c", "1", "-w", &keep])
        .output()
        .expect("setpriv");
    assert_eq!(std::fs::read(&keep).expect("read"), b"precious");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("CAP_NET_RAW"), "{stderr}");
    assert!(
        stderr.contains("setcap cap_net_raw,cap_net_admin+ep"),
        "{stderr}"
    );
    assert!(stderr.contains("sudo"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_input_exits_2_with_a_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = temp_path(&dir, "x.pcap");
    std::fs::write(&pcap, pcap_bytes(&[])).expect("write");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["-c", "0", "-r", &pcap], "-c"),
        (vec!["-r", &pcap, "tcp", "and"], "filter"),
        (vec!["-r", &pcap, "port", "99999"], "99999"),
        (vec!["-r", &pcap, "(", "tcp"], "filter"),
        (vec!["-r", &pcap, "host", "example.com"], "filter"),
        (vec!["-r", &pcap, "-i", "lo"], "-r"),
        (vec!["-r", &pcap, "--duration", "1s"], "--duration"),
        (
            vec!["-r", "/nonexistent/file.pcap"],
            "/nonexistent/file.pcap",
        ),
        (vec!["-r", &pcap, "-w", "-", "--handshakes"], "-w -"),
        (vec!["-r", &pcap, "-w", &pcap], "being read"),
        (vec!["-i", "no-such-if0", "-c", "1"], "no-such-if0"),
        (vec!["--duration", "soon"], "soon"),
    ];
    for (args, needle) in cases {
        let mut all = vec!["capture"];
        all.extend(&args);
        let (code, _out, err) = run(&all);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// A classic pcap (µs, little-endian, Ethernet) holding `frames`, written by hand so that the
/// damage tests do not depend on the writer under test.
fn pcap_bytes(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(0xa1b2_c3d4u32.to_le_bytes());
    b.extend(2u16.to_le_bytes());
    b.extend(4u16.to_le_bytes());
    b.extend([0u8; 8]);
    b.extend(262_144u32.to_le_bytes());
    b.extend(1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        b.extend((1_700_000_000u32 + i as u32).to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend((f.len() as u32).to_le_bytes());
        b.extend((f.len() as u32).to_le_bytes());
        b.extend(f);
    }
    b
}

/// An Ethernet/IPv4/UDP frame from 192.0.2.1:1000 to 192.0.2.2:`dport` (checksums zero).
fn udp_frame(dport: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let payload = b"data";
    let total = (20 + 8 + payload.len()) as u16;
    f.extend([
        0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
    ]);
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f.extend(1000u16.to_be_bytes());
    f.extend(dport.to_be_bytes());
    f.extend(((8 + payload.len()) as u16).to_be_bytes());
    f.extend([0, 0]);
    f.extend(payload);
    f
}

#[test]
fn files_that_are_not_pcap_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, bytes) in [
        ("empty", Vec::new()),
        ("text", b"this is not a capture file\n".to_vec()),
        ("short", pcap_bytes(&[])[..10].to_vec()),
    ] {
        let path = temp_path(&dir, name);
        std::fs::write(&path, &bytes).expect("write");
        let (code, _out, err) = run(&["capture", "-r", &path]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains(&path), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn a_file_cut_short_is_read_up_to_the_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = temp_path(&dir, "cut.pcap");
    let full = pcap_bytes(&[udp_frame(53), udp_frame(54), udp_frame(55)]);
    std::fs::write(&path, &full[..full.len() - 7]).expect("write");
    let (code, out, err) = run(&["capture", "-r", &path]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.contains("192.0.2.2:53") && out.contains("192.0.2.2:54"),
        "{out}"
    );
    assert!(err.contains("cut short"), "{err}");
    assert!(err.contains("2 packets seen, 2 matched"), "{err}");
}

#[test]
fn a_damaged_record_exits_2_after_the_packets_before_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = temp_path(&dir, "bad.pcap");
    let mut bytes = pcap_bytes(&[udp_frame(53), udp_frame(54)]);
    // The second record's captured length: 0xffffffff.
    let second = 24 + 16 + udp_frame(53).len();
    bytes[second + 8..second + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&path, &bytes).expect("write");
    let (code, out, err) = run(&["capture", "-r", &path]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(err.contains(&path), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn reading_a_file_filters_counts_and_stops_at_c() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = temp_path(&dir, "udp.pcap");
    let frames: Vec<Vec<u8>> = (0..10).map(|i| udp_frame(50 + i)).collect();
    std::fs::write(&path, pcap_bytes(&frames)).expect("write");
    let (code, out, err) = run(&["capture", "-r", &path, "udp", "and", "dst", "port", "53"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(err.contains("10 packets seen, 1 matched"), "{err}");
    let (code, out, err) = run(&["capture", "-r", &path, "-c", "3", "udp"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    let (code, out, err) = run(&["capture", "-r", &path, "--json", "-c", "2"]);
    assert_eq!(code, 0, "{err}");
    let records = json_lines(&out.lines().map(str::to_string).collect::<Vec<_>>());
    assert_eq!(records.len(), 3, "two packets and the summary: {out}");
    assert_eq!(records[0]["type"], "packet");
    assert_eq!(records[0]["proto"], "udp");
    assert_eq!(records[0]["src"], "192.0.2.1");
    assert_eq!(records[0]["dst_port"], 50);
    assert_eq!(records[1]["dst_port"], 51);
    assert_eq!(records[2]["type"], "summary");
    assert_eq!(records[2]["seen"], 2);
    assert_eq!(records[2]["matched"], 2);
}

// ---------------------------------------------------------------------------------------------
// Live on loopback

#[test]
fn loopback_packets_are_seen_once_and_tshark_reads_the_pcap() {
    if !privileged("live capture on lo") || !tool("tshark") || !tool("tcpdump") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = temp_path(&dir, "lo.pcap");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let expr = format!("tcp port {port}");
    let cap = Capture::start(&["-i", "lo", "-w", &file, &expr]);
    let client_port = tcp_exchange(&listener);
    // Wait until the pcap holds the whole exchange (FINs included), then stop with SIGTERM.
    let deadline = Instant::now() + Duration::from_secs(15);
    while Path::new(&file).metadata().map(|m| m.len()).unwrap_or(0) < 24 + 7 * 16 + 7 * 54
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(cap.pid() as libc::pid_t, libc::SIGTERM) };
    let (code, out, err) = cap.wait();
    assert_eq!(code, 0, "{err:?}");
    assert!(out.is_empty(), "-w prints no packets: {out:?}");
    let summary = err.last().cloned().unwrap_or_default();
    assert!(summary.contains("dropped by the kernel"), "{err:?}");

    // Exactly one SYN, one SYN/ACK: loopback's outgoing copies are not captured.
    assert_eq!(
        tshark_count(&file, Some("tcp.flags.syn==1 && tcp.flags.ack==0")),
        1
    );
    assert_eq!(
        tshark_count(&file, Some("tcp.flags.syn==1 && tcp.flags.ack==1")),
        1
    );
    let total = tshark_count(&file, None);
    assert!(total >= 7, "handshake, data, ack, two FINs: {total}");
    assert!(summary.contains(&format!("{total} matched")), "{summary}");
    assert_eq!(
        tshark_count(&file, Some(&format!("tcp.port=={client_port}"))),
        total
    );
    assert_eq!(tcpdump_read(&file, &[]).len(), total);
}

#[test]
fn a_live_capture_prints_decoded_lines_and_stops_at_c() {
    if !privileged("live capture on lo") {
        return;
    }
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = sock.local_addr().expect("addr").port();
    let expr = format!("udp dst port {port}");
    let cap = Capture::start(&["-i", "lo", "-c", "3", &expr]);
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for _ in 0..5 {
        sender
            .send_to(b"12345678", ("127.0.0.1", port))
            .expect("send");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, out, err) = cap.wait();
    assert_eq!(code, 0, "{err:?}");
    assert_eq!(out.len(), 3, "{out:?}");
    for line in &out {
        assert!(line.contains(" lo "), "{line}");
        assert!(line.contains("UDP"), "{line}");
        assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
        assert!(line.contains("len 8"), "{line}");
    }
    assert!(err.iter().any(|l| l.contains("3 matched")), "{err:?}");
}

#[test]
fn capture_gives_up_its_capabilities_once_the_socket_is_open() {
    if !privileged("live capture on lo") {
        return;
    }
    let cap = Capture::start(&["-i", "lo", "udp", "port", "9"]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", cap.pid())).expect("status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    assert_eq!(field("CapEff:"), "0000000000000000", "{status}");
    assert_eq!(field("CapPrm:"), "0000000000000000", "{status}");
    assert_eq!(field("NoNewPrivs:"), "1", "{status}");
    // Run as root, it becomes nobody: root's files are out of its reach too.
    assert!(field("Uid:").starts_with("65534"), "{status}");
    assert!(field("Gid:").starts_with("65534"), "{status}");
    let (code, _out, err) = cap.stop();
    assert_eq!(code, 0, "{err:?}");

    // With --handshakes too: the process that reads packets keeps nothing; only its helper,
    // which never sees a packet, keeps CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH to name processes.
    let cap = Capture::start(&["-i", "lo", "--handshakes", "udp", "port", "9"]);
    let status_of =
        |pid: &str| std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field_of = |status: &str, name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let main = status_of(&cap.pid().to_string());
    assert_eq!(field_of(&main, "CapEff:"), "0000000000000000", "{main}");
    assert_eq!(field_of(&main, "CapPrm:"), "0000000000000000", "{main}");
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children", pid = cap.pid()))
            .expect("children");
    let helper = children
        .split_whitespace()
        .next()
        .expect("a helper process");
    let helper = status_of(helper);
    // CAP_DAC_READ_SEARCH (2) and CAP_SYS_PTRACE (19).
    assert_eq!(field_of(&helper, "CapEff:"), "0000000000080004", "{helper}");
    assert_eq!(field_of(&helper, "NoNewPrivs:"), "1", "{helper}");
    assert!(field_of(&helper, "Uid:").starts_with("65534"), "{helper}");
    let (code, _out, err) = cap.stop();
    assert_eq!(code, 0, "{err:?}");
}

#[test]
fn handshakes_on_loopback_established_and_refused_with_processes() {
    if !privileged("live capture on lo") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let open = listener.local_addr().expect("addr").port();
    let refused = closed_port();
    let expr = format!("port {open} or port {refused}");
    let cap = Capture::start(&["-i", "lo", "--handshakes", "--json", "-c", "2", &expr]);
    let client_port = tcp_exchange(&listener);
    let established = cap.expect_line(|l| l.contains("\"established\""));
    assert!(TcpStream::connect(("127.0.0.1", refused)).is_err());
    let (code, out, err) = cap.wait();
    assert_eq!(code, 0, "{err:?}");
    let mut records = json_lines(&out);
    records.insert(0, serde_json::from_str(&established).expect("json"));
    let est = records
        .iter()
        .find(|r| r["outcome"] == "established")
        .expect("established");
    assert_eq!(est["server_port"], open);
    assert_eq!(est["client_port"], client_port);
    assert_eq!(est["syn_count"], 1, "{est}");
    assert_eq!(est["synack_count"], 1, "{est}");
    assert!(est["rtt_ms"].as_f64().is_some_and(|r| r >= 0.0), "{est}");
    assert!(est["total_ms"].as_f64().is_some(), "{est}");
    let me = u64::from(std::process::id());
    let sides: Vec<(String, u64)> = est["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .map(|p| {
            (
                p["side"].as_str().unwrap_or("").to_string(),
                p["pid"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert!(sides.contains(&("server".into(), me)), "{est}");
    let refused_rec = records
        .iter()
        .find(|r| r["outcome"] == "refused")
        .expect("refused");
    assert_eq!(refused_rec["server_port"], refused);
    assert!(refused_rec["rst_ms"].as_f64().is_some(), "{refused_rec}");
    assert!(
        records
            .iter()
            .any(|r| r["type"] == "summary" && r["handshakes"] == 2),
        "{records:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Across a veth link to a test host in a network namespace (Ethernet with real MACs)

const PY_SERVE: &str = r#"
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    c.close()
"#;

#[test]
fn handshakes_to_a_test_host_open_refused_and_silent() {
    if !privileged("capture on a veth link to a network namespace") {
        return;
    }
    let host = TestHost::new();
    let mut server = host
        .exec()
        .args(["python3", "-c", PY_SERVE, &host.ns_ip])
        .stdout(Stdio::piped())
        .spawn_guarded()
        .expect("python3 in the namespace");
    let mut first = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("port");
    let open: u16 = first.trim().parse().expect("port number");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = temp_path(&dir, "veth.pcap");
    let cap = Capture::start(&[
        "-i",
        &host.host_if,
        "--handshakes",
        "--json",
        "-w",
        &file,
        "tcp",
    ]);
    let peer: Ipv4Addr = host.ns_ip.parse().expect("ip");
    // Open.
    let c = TcpStream::connect_timeout(&SocketAddr::from((peer, open)), Duration::from_secs(5))
        .expect("connect to the test host");
    let est: Value =
        serde_json::from_str(&cap.expect_line(|l| l.contains("\"established\""))).expect("json");
    // Exactly one SYN, one SYN/ACK and the ACK, across a real Ethernet link.
    assert_eq!(est["syn_count"], 1, "{est}");
    assert_eq!(est["synack_count"], 1, "{est}");
    assert!(est["ack_ms"].as_f64().is_some(), "{est}");
    drop(c);
    // Refused: nothing listens on port 9 there.
    assert!(
        TcpStream::connect_timeout(&SocketAddr::from((peer, 9)), Duration::from_secs(5)).is_err()
    );
    cap.expect_line(|l| l.contains("\"refused\""));
    // Silent: the test host's answers to us go nowhere, like a firewall that drops.
    let blackhole = host
        .exec()
        .args([
            "ip",
            "route",
            "add",
            "blackhole",
            &format!("{}/32", host.host_ip),
        ])
        .status()
        .expect("ip route");
    assert!(blackhole.success());
    // A connect left in progress (SYN-SENT) while the capture ends, so its process is known.
    let silent =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    silent.set_nonblocking(true).expect("nonblocking");
    let _ = silent.connect(&SocketAddr::from((peer, open)).into());
    // The first SYN and its retransmission after ~1 s.
    std::thread::sleep(Duration::from_millis(2500));
    let (code, out, err) = cap.stop();
    drop(silent);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(code, 0, "{err:?}");
    let records = json_lines(&out);
    let unanswered = records
        .iter()
        .find(|r| r["outcome"] == "unanswered")
        .unwrap_or_else(|| panic!("no unanswered attempt: {records:?}"));
    assert_eq!(unanswered["server_port"], open);
    assert!(
        unanswered["syn_count"].as_u64().is_some_and(|n| n >= 2),
        "the SYN was retransmitted: {unanswered}"
    );
    // The client end is this host: its process is named.
    let me = u64::from(std::process::id());
    assert!(
        unanswered["processes"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["pid"] == me && p["side"] == "client")),
        "{unanswered}"
    );

    // The pcap has real MACs and the decoder shows them.
    let mac = std::fs::read_to_string(format!("/sys/class/net/{}/address", host.host_if))
        .expect("mac")
        .trim()
        .to_string();
    let (code, out, err) = run(&["capture", "-r", &file, "--json"]);
    assert_eq!(code, 0, "{err}");
    let pkts = json_lines(&out.lines().map(str::to_string).collect::<Vec<_>>());
    assert!(
        pkts.iter().any(|p| p["src_mac"] == mac.as_str()),
        "{mac} not among {pkts:?}"
    );
    if tool("tshark") {
        let n = pkts.iter().filter(|p| p["type"] == "packet").count();
        assert_eq!(tshark_count(&file, None), n);
    }
}

// ---------------------------------------------------------------------------------------------
// Filters agree with tcpdump on a fixture captured live

#[test]
fn filters_agree_with_tcpdump_on_a_live_fixture() {
    if !privileged("live capture on lo") || !tool("tcpdump") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = temp_path(&dir, "fixture.pcap");
    let cap = Capture::start(&["-i", "lo", "-w", &file]);
    // TCP over IPv4 and IPv6, UDP both, ICMP echo both (sockscope ping), a refused connect.
    let l4 = TcpListener::bind("127.0.0.1:0").expect("bind");
    tcp_exchange(&l4);
    if let Ok(l6) = TcpListener::bind("[::1]:0") {
        let p6 = l6.local_addr().expect("addr").port();
        let _c = TcpStream::connect(("::1", p6)).expect("connect v6");
        let _ = l6.accept();
    }
    let _ = TcpStream::connect(("127.0.0.1", closed_port()));
    let u = UdpSocket::bind("127.0.0.1:0").expect("bind");
    u.send_to(b"x", ("127.0.0.1", 9)).expect("send");
    u.send_to(b"y", ("127.0.0.2", 53)).expect("send");
    if let Ok(u6) = UdpSocket::bind("[::1]:0") {
        let _ = u6.send_to(b"z", ("::1", 53));
    }
    let (code, _out, err) = run(&["ping", "-c", "2", "-i", "0.2", "127.0.0.1", "::1"]);
    assert!(code == 0 || code == 1, "{err}");
    std::thread::sleep(Duration::from_millis(300));
    let (code, _out, err) = cap.stop();
    assert_eq!(code, 0, "{err:?}");
    let all = tcpdump_read(&file, &[]);
    assert!(all.len() >= 15, "fixture too small: {all:?}");

    let port = l4.local_addr().expect("addr").port().to_string();
    let exprs: Vec<String> = vec![
        "tcp".into(),
        "udp".into(),
        "icmp".into(),
        "icmp6".into(),
        "ip".into(),
        "ip6".into(),
        "arp".into(),
        format!("port {port}"),
        format!("tcp port {port}"),
        format!("udp port {port}"),
        format!("src port {port}"),
        format!("dst port {port}"),
        "port 53 or port 9".into(),
        "udp and not port 53".into(),
        "host 127.0.0.2".into(),
        "dst host 127.0.0.2".into(),
        "src host 127.0.0.1 and udp".into(),
        "host ::1".into(),
        "net 127.0.0.0/8".into(),
        "net 127.0.0.2/32".into(),
        "not tcp".into(),
        "tcp or icmp".into(),
        "(tcp or udp) and host ::1".into(),
        "not (icmp or icmp6)".into(),
        "portrange 1-100".into(),
        "ip6 and not icmp6".into(),
    ];
    let out_file = temp_path(&dir, "out.pcap");
    for expr in &exprs {
        let words: Vec<&str> = expr.split(' ').collect();
        let want = tcpdump_read(&file, &words);
        let mut args = vec!["capture", "-r", &file, "-w", &out_file];
        args.extend(&words);
        let (code, _out, err) = run(&args);
        assert_eq!(code, 0, "{expr}: {err}");
        let got = tcpdump_read(&out_file, &[]);
        assert_eq!(got, want, "filter '{expr}' disagrees with tcpdump");
    }

    // The same file as pcapng (as tshark writes by default) reads the same.
    if tool("editcap") {
        let ng = temp_path(&dir, "fixture.pcapng");
        let status = Command::new("editcap")
            .args(["-F", "pcapng", &file, &ng])
            .status()
            .expect("editcap");
        assert!(status.success());
        let (c1, a, _) = run(&["capture", "-r", &file, "udp"]);
        let (c2, b, _) = run(&["capture", "-r", &ng, "udp"]);
        assert_eq!((c1, c2), (0, 0));
        assert_eq!(a, b);
    }
}

#[test]
fn an_interface_that_goes_down_is_waited_for_and_one_that_goes_away_ends_it() {
    if !privileged("capture on a veth link to a network namespace") {
        return;
    }
    let host = TestHost::new();
    let cap = Capture::start(&["-i", &host.host_if, "icmp"]);
    let ping = |what: &str| {
        let (code, _out, err) = run(&["ping", "-c", "1", "-W", "2", &host.ns_ip]);
        assert_eq!(code, 0, "{what}: {err}");
    };
    ping("before");
    cap.expect_line(|l| l.contains("echo reply"));
    let ip = |args: &[&str]| {
        let status = Command::new("ip").args(args).status().expect("ip");
        assert!(status.success(), "ip {args:?}");
    };
    ip(&["link", "set", &host.host_if, "down"]);
    std::thread::sleep(Duration::from_millis(300));
    ip(&["link", "set", &host.host_if, "up"]);
    // The peer's end keeps its address; wait until the link carries traffic again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while run(&["ping", "-c", "1", "-W", "1", &host.ns_ip]).0 != 0 && Instant::now() < deadline {}
    ping("after the link came back");
    cap.expect_line(|l| l.contains("echo reply"));
    // Gone for good: the capture ends with exit 4 and says why.
    ip(&["link", "del", &host.host_if]);
    let (code, _out, err) = cap.wait();
    assert_eq!(code, 4, "{err:?}");
    let err = err.join("\n");
    assert!(err.contains("went down"), "{err}");
    assert!(
        err.contains("went away") || err.contains("capture failed"),
        "{err}"
    );
    assert!(
        err.contains("packets seen"),
        "the summary is printed: {err}"
    );
}

#[test]
fn an_icmp_error_about_a_syn_says_unreachable_even_with_a_port_filter() {
    if !privileged("capture on a veth link to a network namespace") {
        return;
    }
    let host = TestHost::new();
    // The test host routes 198.18.254.0/24 (for us) to nowhere: it answers a SYN to it with
    // ICMP host unreachable, as a router without a route would. Nothing leaves the namespaces.
    let sh = |cmd: &mut Command| {
        let status = cmd.status().expect("ip");
        assert!(status.success(), "{cmd:?}");
    };
    sh(host.exec().args(["sysctl", "-qw", "net.ipv4.ip_forward=1"]));
    sh(host
        .exec()
        .args(["ip", "route", "add", "unreachable", "198.18.254.0/24"]));
    sh(Command::new("ip").args([
        "route",
        "add",
        "198.18.254.0/24",
        "via",
        &host.ns_ip,
        "dev",
        &host.host_if,
    ]));
    let cap = Capture::start(&[
        "-i",
        &host.host_if,
        "--handshakes",
        "--json",
        "-c",
        "1",
        "tcp",
        "port",
        "80",
    ]);
    let target: SocketAddr = "198.18.254.9:80".parse().expect("addr");
    let err = TcpStream::connect_timeout(&target, Duration::from_secs(5)).expect_err("unreachable");
    assert_ne!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    let (code, out, errs) = cap.wait();
    let _ = Command::new("ip")
        .args(["route", "del", "198.18.254.0/24"])
        .status();
    assert_eq!(code, 0, "{errs:?}");
    let records = json_lines(&out);
    let r = &records[0];
    assert_eq!(r["outcome"], "unreachable", "{r}");
    assert_eq!(r["server_addr"], "198.18.254.9");
    assert_eq!(r["icmp"]["from"], host.ns_ip.as_str(), "{r}");
    assert!(
        r["icmp"]["what"]
            .as_str()
            .is_some_and(|w| w.contains("unreachable")),
        "{r}"
    );
    // The ICMP error was let through for the tracker only: it is not counted as matched.
    let summary = records.last().expect("summary");
    assert_eq!(summary["type"], "summary");
    assert_eq!(
        summary["matched"], 1,
        "only the SYN matched 'tcp port 80': {summary}"
    );
}
