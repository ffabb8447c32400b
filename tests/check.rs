//! `sockscope check`: open, refused, late-starting (--wait), silent and unreachable targets
//! (test hosts in network namespaces), UDP, DNS errors and bad input.

mod common;

use std::net::{TcpListener, UdpSocket};
use std::process::Stdio;
use std::time::Duration;

use common::*;

#[test]
fn open_target_names_the_local_listener() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (code, out, err) = run(&["check", &format!("127.0.0.1:{port}")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(" open "), "{out}");
    assert!(
        out.contains(&format!("pid {}", std::process::id())),
        "{out}"
    );
    let (code, v) = run_json(&["check", &format!("127.0.0.1:{port}"), "--json"]);
    assert_eq!(code, 0);
    let r = &v[0];
    assert_eq!(r["status"], "open");
    assert_eq!(r["proto"], "tcp");
    assert!(r["time_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(r["local"], true);
    assert_eq!(r["listeners"][0]["processes"][0]["pid"], std::process::id());
    assert_eq!(r["listeners"][0]["serves_target"], true);
}

#[test]
fn refused_and_bound_elsewhere() {
    let free = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, out, _) = run(&["check", &format!("127.0.0.1:{free}")]);
    assert_eq!(code, 1);
    assert!(
        out.contains("refused") && out.contains("nothing is listening"),
        "{out}"
    );
    // Listening on IPv4 loopback only, checked on ::1.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (code, v) = run_json(&["check", &format!("[::1]:{port}"), "--json"]);
    assert_eq!(code, 1);
    assert_eq!(v[0]["status"], "refused");
    let note = v[0]["note"].as_str().unwrap();
    assert!(
        note.contains(&format!("only on 127.0.0.1:{port}")) && note.contains("not on ::1"),
        "{note}"
    );
    // Several targets: exit 1 when any is not open, every one reported.
    let (code, v) = run_json(&[
        "check",
        &format!("127.0.0.1:{port}"),
        &format!("127.0.0.1:{free}"),
        "--json",
    ]);
    assert_eq!(code, 1);
    assert_eq!(v[0]["status"], "open");
    assert_eq!(v[1]["status"], "refused");
}

#[test]
fn names_are_resolved_and_every_address_tried() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (code, v) = run_json(&["check", &format!("localhost:{port}"), "--json"]);
    assert_eq!(code, 0, "{v}");
    assert!(
        v[0]["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["addr"] == format!("127.0.0.1:{port}"))
    );
}

#[test]
fn wait_until_a_late_server_starts() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = sockscope()
        .args(["check", &format!("127.0.0.1:{port}"), "--wait", "20s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn_guarded()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let _late = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("waiting for"),
        "progress on stderr: {stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("open"));
}

#[test]
fn wait_gives_up() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, _, err) = run(&["check", &format!("127.0.0.1:{port}"), "--wait", "600ms"]);
    assert_eq!(code, 1);
    assert!(err.contains("gave up"), "{err}");
}

#[test]
fn udp_open_closed_and_silent() {
    let echo = python(
        r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
while True:
    d, a = s.recvfrom(2048); s.sendto(d, a)
"#,
        &[],
    );
    let (code, v) = run_json(&[
        "check",
        "--udp",
        &format!("127.0.0.1:{}", echo.first_line),
        "--json",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v[0]["status"], "open");
    assert_eq!(v[0]["listeners"][0]["processes"][0]["pid"], echo.pid());
    let free = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, v) = run_json(&["check", "--udp", &format!("127.0.0.1:{free}"), "--json"]);
    assert_eq!(code, 1);
    assert_eq!(v[0]["status"], "closed");
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (code, v) = run_json(&[
        "check",
        "--udp",
        &format!("127.0.0.1:{port}"),
        "--timeout",
        "400ms",
        "--json",
    ]);
    assert_eq!(code, 1);
    assert_eq!(v[0]["status"], "open|filtered");
}

#[test]
fn dns_error() {
    // A label over 63 characters fails inside the resolver: no query leaves the machine.
    let host = format!("{}.test", "a".repeat(70));
    let (code, v) = run_json(&["check", &format!("{host}:80"), "--json"]);
    assert_eq!(code, 1);
    assert_eq!(v[0]["status"], "dns-error");
    assert!(v[0]["note"].as_str().unwrap().contains("cannot resolve"));
}

#[test]
fn silent_and_unreachable_test_host() {
    if !privileged("check against a test host in a network namespace") {
        return;
    }
    let host = TestHost::new();
    // Up, nothing listening: refused.
    let (code, v) = run_json(&[
        "check",
        &format!("{}:80", host.ns_ip),
        "--timeout",
        "2s",
        "--json",
    ]);
    assert_eq!(code, 1);
    assert_eq!(v[0]["status"], "refused", "{v}");
    assert_eq!(v[0]["local"], false);
    // A listener inside the namespace: open.
    let mut server = host
        .exec()
        .args(["python3", "-c", "import socket,time\ns=socket.socket();s.bind(('0.0.0.0',8080));s.listen();print('up',flush=True);time.sleep(60)"])
        .stdout(Stdio::piped())
        .spawn_guarded()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let (code, v) = run_json(&["check", &format!("{}:8080", host.ns_ip), "--json"]);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(code, 0, "{v}");
    assert_eq!(v[0]["status"], "open");
    // Link down: the SYN goes unanswered.
    host.link_down();
    let (code, v) = run_json(&[
        "check",
        &format!("{}:80", host.ns_ip),
        "--timeout",
        "1s",
        "--json",
    ]);
    assert_eq!(code, 1);
    assert_eq!(v[0]["status"], "timeout", "{v}");
    // Given long enough, neighbour discovery gives up: unreachable.
    let (code, v) = run_json(&[
        "check",
        &format!("{}:81", host.ns_ip),
        "--timeout",
        "10s",
        "--json",
    ]);
    assert_eq!(code, 1);
    assert_eq!(v[0]["status"], "unreachable", "{v}");
}

#[test]
fn bad_input_exits_2() {
    for bad in [
        "nohost",
        "host:",
        ":80",
        "host:0",
        "host:99999",
        "::1:80",
        "host:http",
    ] {
        let (code, _, err) = run(&["check", bad]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("HOST:PORT"), "{err}");
    }
    let (code, _, _) = run(&["check", "127.0.0.1:80", "--timeout", "soon"]);
    assert_eq!(code, 2);
    let (code, _, _) = run(&["check"]);
    assert_eq!(code, 2);
}

#[test]
fn a_v6_only_listener_does_not_serve_ipv4() {
    let h = python(
        r#"
import socket, time
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind(("::", 0)); s.listen(4)
print(s.getsockname()[1], flush=True)
time.sleep(60)
"#,
        &[],
    );
    let (code, v) = run_json(&["check", &format!("127.0.0.1:{}", h.first_line), "--json"]);
    assert_eq!(code, 1);
    assert_eq!(v[0]["status"], "refused");
    assert_eq!(v[0]["listeners"][0]["serves_target"], false, "{v}");
    assert_eq!(v[0]["listeners"][0]["v6only"], true);
    let note = v[0]["note"].as_str().unwrap();
    assert!(
        note.contains("(v6-only)") && note.contains("not on 127.0.0.1"),
        "{note}"
    );
    let (code, v) = run_json(&["check", &format!("[::1]:{}", h.first_line), "--json"]);
    assert_eq!(code, 0, "{v}");
    let (code, _, _) = run(&[
        "check",
        &format!("127.0.0.1:{}", h.first_line),
        "--wait",
        "0",
    ]);
    assert_eq!(code, 2, "--wait 0 is no wait");
}
