//! `sockscope who PORT` against real processes holding ports.

mod common;

use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use common::*;

#[test]
fn names_the_child_process_with_command_line_and_user() {
    let h = python(PY_LISTENER, &["sockscope-who-marker"]);
    let port = h.first_line.clone();
    let (code, text, err) = run(&["who", &port]);
    assert_eq!(code, 0, "{text}{err}");
    let line = text
        .lines()
        .find(|l| l.contains(&format!("127.0.0.1:{port}")))
        .unwrap_or_else(|| panic!("no row for the port:\n{text}"));
    assert!(line.contains("LISTEN"), "{line}");
    assert!(line.contains(&h.pid().to_string()), "{line}");
    assert!(line.contains("python3"), "{line}");
    assert!(
        line.contains("sockscope-who-marker"),
        "command line shown: {line}"
    );
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let user = if uid == 0 {
        "root".to_string()
    } else {
        String::new()
    };
    assert!(line.contains(&user), "{line}");
    // The start time is shown as a date.
    assert!(line.contains("20"), "{line}");

    let (code, v) = run_json(&["who", &format!("{port}/tcp"), "--json"]);
    assert_eq!(code, 0);
    let r = &with_local_port(&v, port.parse().unwrap())[0];
    let p = &r["processes"][0];
    assert_eq!(p["pid"], h.pid());
    assert_eq!(p["name"], "python3");
    assert!(
        p["cmdline"]
            .as_str()
            .unwrap()
            .contains("sockscope-who-marker")
    );
    assert!(p["start_time"].as_u64().unwrap() > 1_600_000_000);
}

#[test]
fn nothing_holds_the_port_exits_1() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, text, _) = run(&["who", &port.to_string()]);
    assert_eq!(code, 1);
    assert!(
        text.contains(&format!("nothing holds port {port}")),
        "{text}"
    );
    let (code, v) = run_json(&["who", &port.to_string(), "--json"]);
    assert_eq!(code, 1);
    assert_eq!(v.as_array().unwrap().len(), 0);
}

#[test]
fn protocol_suffix_and_several_ports() {
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    let up = u.local_addr().unwrap().port();
    let t = TcpListener::bind("127.0.0.1:0").unwrap();
    let tp = t.local_addr().unwrap().port();
    // UDP port asked as TCP: nothing holds it.
    let (code, text, _) = run(&["who", &format!("{up}/tcp")]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains(&format!("nothing holds port {up}/tcp")));
    let (code, text, _) = run(&["who", &format!("{up}/udp"), &tp.to_string()]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{up}")) && text.contains("UNCONN"),
        "{text}"
    );
    assert!(
        text.contains(&format!("127.0.0.1:{tp}")) && text.contains("LISTEN"),
        "{text}"
    );
    // One held, one not: exit 1, and the held one is still shown.
    let free = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, text, _) = run(&["who", &tp.to_string(), &free.to_string()]);
    assert_eq!(code, 1);
    assert!(text.contains(&format!("127.0.0.1:{tp}")));
    assert!(text.contains(&format!("nothing holds port {free}")));
}

#[test]
fn listening_socket_comes_first() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let _c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (_s, _) = l.accept().unwrap();
    let (_, text, _) = run(&["who", &port.to_string()]);
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert!(rows[0].contains("LISTEN"), "{text}");
    assert!(
        rows.iter().skip(1).any(|r| r.contains("ESTABLISHED")),
        "{text}"
    );
}

#[test]
fn prefork_children_are_found() {
    let h = python(PY_PREFORK, &[]);
    let mut parts = h.first_line.split_whitespace();
    let port = parts.next().unwrap().to_string();
    let kids: Vec<String> = parts.map(String::from).collect();
    let (code, v) = run_json(&["who", &port, "--json"]);
    assert_eq!(code, 0);
    let r = &with_local_port(&v, port.parse().unwrap())[0];
    let got = pids(r);
    assert!(got.contains(&u64::from(h.pid())), "{r}");
    for k in kids {
        assert!(got.contains(&k.parse().unwrap()), "child {k} missing: {r}");
    }
}

/// Whether `pid` is still a live process (a zombie waiting for its reaper is not).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the command name in parentheses.
        !matches!(
            stat.rsplit(')').next().map(str::trim_start),
            Some(s) if s.starts_with('Z') || s.starts_with('X')
        )
    })
}

#[test]
fn a_dropped_helper_takes_its_forked_children_with_it() {
    // The pre-forked server's workers are the python parent's children, not ours: killing the
    // parent alone would leave them sleeping for 120 s. The guard kills the process group.
    let h = python(PY_PREFORK, &[]);
    let kids: Vec<String> = h
        .first_line
        .split_whitespace()
        .skip(1)
        .map(String::from)
        .collect();
    assert_eq!(kids.len(), 2, "{}", h.first_line);
    let parent = h.pid().to_string();
    for pid in kids.iter().chain([&parent]) {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        assert!(
            environ
                .split(|b| *b == 0)
                .any(|kv| kv == format!("{HELPER_MARK}=1").as_bytes()),
            "helper {pid} is not marked for CI's leftover check"
        );
    }
    drop(h);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while kids.iter().any(|k| alive(k)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for k in &kids {
        assert!(!alive(k), "worker {k} outlived its dropped helper");
    }
    assert!(!alive(&parent), "helper {parent} outlived its guard");
}

#[test]
fn unprivileged_who_says_owner_is_hidden() {
    if !privileged("who as nobody via setpriv") {
        return;
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let out = as_nobody(env!("CARGO_BIN_EXE_sockscope"))
        .args(["who", &port.to_string()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the port is held even if the owner is hidden: {stdout}{stderr}"
    );
    assert!(stdout.contains("hidden"), "{stdout}");
    assert!(
        stderr.contains("root") && stderr.contains("CAP_SYS_PTRACE"),
        "{stderr}"
    );
}

#[test]
fn bad_ports_exit_2() {
    for bad in ["0", "65536", "http", "80/sctp", "-5"] {
        let (code, _, err) = run(&["who", bad]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(
            err.contains("port") || err.contains("protocol") || err.contains("unexpected"),
            "{bad}: {err}"
        );
    }
    let (code, _, err) = run(&["who"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn holder_that_is_not_a_descendant_is_found() {
    // A hands its listening socket to an unrelated process B over a UNIX socket (SCM_RIGHTS),
    // as servers do on a graceful reload: who must name both.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("handover.sock");
    let receiver = python(
        r#"
import socket, sys, time
u = socket.socket(socket.AF_UNIX); u.bind(sys.argv[1]); u.listen(1)
print("ready", flush=True)
c, _ = u.accept()
msg, fds, flags, addr = socket.recv_fds(c, 16, 1)
time.sleep(120)
"#,
        &[path.to_str().unwrap()],
    );
    let giver = python(
        r#"
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
u = socket.socket(socket.AF_UNIX); u.connect(sys.argv[1])
socket.send_fds(u, [b"x"], [s.fileno()])
print(s.getsockname()[1], flush=True)
time.sleep(120)
"#,
        &[path.to_str().unwrap()],
    );
    let port = giver.first_line.clone();
    // The receiver may take a moment to take the descriptor in.
    let mut got = Vec::new();
    for _ in 0..50 {
        let (_, v) = run_json(&["who", &port, "--json"]);
        got = pids(&with_local_port(&v, port.parse().unwrap())[0]);
        if got.len() == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(got.contains(&u64::from(giver.pid())), "{got:?}");
    assert!(got.contains(&u64::from(receiver.pid())), "{got:?}");
}

#[test]
fn a_broken_stderr_is_no_crash() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let devfull = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = sockscope()
        .args(["who", &port.to_string(), "--json"])
        .stderr(devfull)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}
