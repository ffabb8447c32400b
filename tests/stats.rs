//! `sockscope stats`: the kernel's counters against iproute2's nstat (exactly, in a fresh
//! network namespace where nothing moves them), deltas of traffic sent to closed loopback ports,
//! the Prometheus output against promtool, names and patterns, and --watch.
//! Traffic goes only to 127.0.0.1 and ::1.

mod common;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::*;

/// The counters nstat never prints (nstat.c's "useless numbers"); sockscope shows them.
const NSTAT_HIDDEN: [&str; 7] = [
    "IpForwarding",
    "IpDefaultTTL",
    "TcpRtoAlgorithm",
    "TcpRtoMin",
    "TcpRtoMax",
    "TcpMaxConn",
    "TcpCurrEstab",
];

/// A network namespace made for one test, removed on drop (also when the test fails).
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "ssc-stats-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .expect("run ip");
        assert!(
            out.status.success(),
            "ip netns add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Netns(name)
    }

    /// `program` run inside the namespace.
    fn exec(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// A child process, killed with its process group and reaped on drop (by its guard).
struct Running(Guard);

/// nstat's `NAME VALUE RATE` lines as a map (values as nstat prints them: unsigned).
fn parse_nstat(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?;
            let value = w.next()?.parse().ok()?;
            Some((name.to_string(), value))
        })
        .collect()
}

/// `nstat -asz [PATTERN…]`: absolute values, zeros too, and no history file read or written
/// (NSTAT_HISTORY points into a temporary directory all the same).
fn nstat(mut cmd: Command, patterns: &[&str]) -> BTreeMap<String, u64> {
    let dir = tempfile::tempdir().unwrap();
    let out = cmd
        .arg("-asz")
        .args(patterns)
        .env("NSTAT_HISTORY", dir.path().join("history"))
        .output()
        .expect("run nstat");
    assert!(
        out.status.success(),
        "nstat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_nstat(&String::from_utf8_lossy(&out.stdout))
}

/// `sockscope stats … --json` run by `cmd`, as a map of counters.
fn sockscope_counters(mut cmd: Command) -> BTreeMap<String, i64> {
    let out = cmd.output().expect("run sockscope");
    assert!(
        out.status.success(),
        "sockscope: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(v["interval_s"].is_null() && v["rates"].is_null());
    v["counters"]
        .as_object()
        .expect("counters object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_i64().expect("integer value")))
        .collect()
}

#[test]
fn counters_match_nstat_exactly_in_a_fresh_namespace() {
    if !privileged("stats against nstat in a network namespace") || !tool("nstat") || !tool("ip") {
        return;
    }
    let ns = Netns::new();
    let before = nstat(ns.exec("nstat"), &[]);
    let mut ours_cmd = ns.exec(env!("CARGO_BIN_EXE_sockscope"));
    ours_cmd.args(["stats", "--all", "--json"]);
    let ours = sockscope_counters(ours_cmd);
    let after = nstat(ns.exec("nstat"), &[]);
    assert_eq!(before, after, "the namespace was not quiet");
    assert!(before.len() > 100, "nstat printed too little: {before:?}");

    let (hidden, shown): (BTreeMap<_, _>, BTreeMap<_, _>) = ours
        .into_iter()
        .partition(|(k, _)| NSTAT_HIDDEN.contains(&k.as_str()));
    assert_eq!(hidden.len(), NSTAT_HIDDEN.len(), "{hidden:?}");
    assert_eq!(hidden["TcpMaxConn"], -1);
    let shown: BTreeMap<String, u64> = shown.into_iter().map(|(k, v)| (k, v as u64)).collect();
    let only_ours: Vec<_> = shown.keys().filter(|k| !before.contains_key(*k)).collect();
    let only_nstat: Vec<_> = before.keys().filter(|k| !shown.contains_key(*k)).collect();
    assert!(
        only_ours.is_empty() && only_nstat.is_empty(),
        "names differ: only sockscope {only_ours:?}, only nstat {only_nstat:?}"
    );
    assert_eq!(shown, before);
}

/// UDP datagrams to a closed port: the port of a socket bound and closed again.
fn closed_port(addr: &str) -> Option<u16> {
    let s = UdpSocket::bind((addr, 0)).ok()?;
    s.local_addr().ok().map(|a| a.port())
}

#[test]
fn no_ports_counters_grow_by_the_datagrams_sent_to_a_closed_port() {
    const N: i64 = 37;
    const N6: i64 = 23;
    let with_nstat = tool("nstat");
    let v6 = UdpSocket::bind("[::1]:0").is_ok();
    let names = ["UdpNoPorts", "Udp6NoPorts"];
    let read = || {
        let mut c = sockscope();
        c.args(["stats", "--json"]).args(names);
        sockscope_counters(c)
    };
    let read_nstat = || {
        if with_nstat {
            nstat(Command::new("nstat"), &names)
        } else {
            BTreeMap::new()
        }
    };
    // Something else on the host may send to a closed port meanwhile: one clean attempt of
    // three is proof enough.
    let mut last = String::new();
    for _ in 0..3 {
        let (n0, s0) = (read_nstat(), read());
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = closed_port("127.0.0.1").unwrap();
        for _ in 0..N {
            sender.send_to(b"stats test", ("127.0.0.1", port)).unwrap();
        }
        if v6 {
            let sender6 = UdpSocket::bind("[::1]:0").unwrap();
            let port6 = closed_port("::1").unwrap();
            for _ in 0..N6 {
                sender6.send_to(b"stats test", ("::1", port6)).unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(50));
        let (s1, n1) = (read(), read_nstat());
        let d = |a: &BTreeMap<String, i64>, b: &BTreeMap<String, i64>, k: &str| b[k] - a[k];
        let ours = (d(&s0, &s1, "UdpNoPorts"), d(&s0, &s1, "Udp6NoPorts"));
        let theirs = if with_nstat {
            let d = |k: &str| n1[k] as i64 - n0[k] as i64;
            (d("UdpNoPorts"), d("Udp6NoPorts"))
        } else {
            ours
        };
        let want = (N, if v6 { N6 } else { 0 });
        if ours == want && theirs == want {
            return;
        }
        last = format!("sockscope saw {ours:?}, nstat {theirs:?}, sent {want:?}");
    }
    panic!("{last}");
}

#[test]
fn prometheus_output_passes_promtool() {
    if !tool("promtool") {
        return;
    }
    for args in [
        &["stats", "--prometheus"][..],
        &["stats", "--all", "--prometheus"],
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("# TYPE sockscope_tcp_curr_estab gauge\n"),
            "{out}"
        );
        assert!(out.contains("# TYPE sockscope_tcpext_listen_overflows_total counter\n"));
        assert!(out.contains(
            "# HELP sockscope_tcpext_listen_overflows_total TcpExtListenOverflows (/proc/net/netstat): a connection was dropped"
        ));
        let mut p = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn_guarded()
            .expect("run promtool");
        {
            use std::io::Write;
            let mut stdin = p.stdin.take().unwrap();
            stdin.write_all(out.as_bytes()).unwrap();
        }
        let res = p.wait_with_output().unwrap();
        assert!(
            res.status.success(),
            "promtool check metrics on {args:?}: {}{}",
            String::from_utf8_lossy(&res.stdout),
            String::from_utf8_lossy(&res.stderr)
        );
    }
    let (_, all, _) = run(&["stats", "--all", "--prometheus"]);
    assert!(all.contains("\nsockscope_tcp_max_conn -1\n"));
    assert!(all.contains("\nsockscope_tcpext_tcp_req_q_full_drop_total "));
}

#[test]
fn an_unknown_name_exits_2_and_suggests_the_closest() {
    let (code, out, err) = run(&["stats", "TcpExtListenOverflow"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty());
    assert!(
        err.contains("TcpExtListenOverflow\"")
            && err.contains("did you mean TcpExtListenOverflows"),
        "{err}"
    );
    let (code, _, err) = run(&["stats", "UdpNoPorts", "udpnoport"]);
    assert_eq!(code, 2);
    assert!(err.contains("UdpNoPorts"), "{err}");
    let (code, _, err) = run(&["stats", "Zq*Nothing"]);
    assert_eq!(code, 2);
    assert!(err.contains("--all"), "{err}");
}

#[test]
fn names_and_patterns_select_case_insensitively() {
    let (code, v) = run_json(&["stats", "--json", "tcpext*listen*", "UDP?NOPORTS"]);
    assert_eq!(code, 0);
    let keys: Vec<&str> = v["counters"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for want in ["TcpExtListenOverflows", "TcpExtListenDrops", "Udp6NoPorts"] {
        assert!(keys.contains(&want), "{want} not in {keys:?}");
    }
    assert!(!keys.contains(&"UdpNoPorts"), "{keys:?}");
    assert!(
        keys.iter()
            .all(|k| k.starts_with("TcpExt") || *k == "Udp6NoPorts"),
        "{keys:?}"
    );

    let (code, out, _) = run(&["stats", "TcpMaxConn", "TcpExtListenOverflows"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("Counter") && lines[0].contains("Value"));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("TcpMaxConn") && l.contains(" -1"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("TcpExtListenOverflows") && l.contains("accept queue"))
    );
}

#[test]
fn default_shows_the_catalogue_and_all_shows_everything() {
    let (code, out, _) = run(&["stats"]);
    assert_eq!(code, 0);
    for name in [
        "TcpExtListenOverflows",
        "TcpExtTCPReqQFullDrop",
        "TcpRetransSegs",
        "UdpRcvbufErrors",
        "IpOutNoRoutes",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(name) && l.len() > name.len() + 20),
            "{name} missing or without meaning:\n{out}"
        );
    }
    assert!(!out.contains("IpExtInOctets"));
    let (code, v) = run_json(&["stats", "--all", "--json"]);
    assert_eq!(code, 0);
    let all = v["counters"].as_object().unwrap();
    assert!(all.len() > 200, "{}", all.len());
    assert!(all.contains_key("IpExtInOctets") && all.contains_key("TcpExtTW"));
    assert_eq!(all["TcpMaxConn"], -1);
}

#[test]
fn bad_combinations_and_intervals_are_usage_errors() {
    for args in [
        &["stats", "--json", "--prometheus"][..],
        &["stats", "--watch", "1", "--prometheus"],
        &["stats", "--watch", "0.05"],
        &["stats", "--watch", "soon"],
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
}

#[test]
fn watch_json_prints_a_line_per_interval_with_rates() {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver.set_nonblocking(true).unwrap();
    let to = receiver.local_addr().unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut child = Running(
        sockscope()
            .args(["stats", "--watch", "0.2", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn_guarded()
            .expect("start sockscope"),
    );
    let lines = lines_of(&mut child.0);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 64];
    while got.len() < 6 && Instant::now() < deadline {
        for _ in 0..20 {
            sender.send_to(b"watch", to).unwrap();
        }
        while receiver.recv(&mut buf).is_ok() {}
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(50)) {
            got.push(line);
        }
    }
    drop(child);
    assert!(got.len() >= 4, "too few lines: {got:?}");
    let mut with_rate = 0;
    for line in &got {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let interval = v["interval_s"].as_f64().expect("interval_s");
        assert!((0.15..2.0).contains(&interval), "{line}");
        assert!(v["counters"]["UdpInDatagrams"].is_i64(), "{line}");
        let rates = v["rates"].as_object().expect("rates object");
        assert!(
            !rates.contains_key("TcpCurrEstab"),
            "a gauge has no rate: {line}"
        );
        if rates
            .get("UdpInDatagrams")
            .and_then(|r| r.as_f64())
            .is_some_and(|r| r > 0.0)
        {
            with_rate += 1;
        }
    }
    assert!(with_rate >= 2, "UdpInDatagrams should rise: {got:?}");
}

/// Waits up to `limit` for the child to exit; its exit code.
fn exits_within(child: &mut Running, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.0.try_wait() {
            return Some(status.code().unwrap_or(-1));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn watch_ends_when_the_reader_of_its_pipe_goes_away() {
    // Text mode prints nothing while nothing changes: it must still notice.
    let mut child = Running(
        sockscope()
            .args(["stats", "TcpMaxConn", "--watch", "0.1"])
            .stdout(Stdio::piped())
            .spawn_guarded()
            .expect("start sockscope"),
    );
    std::thread::sleep(Duration::from_millis(300));
    drop(child.0.stdout.take());
    assert_eq!(exits_within(&mut child, Duration::from_secs(5)), Some(0));
}

#[test]
fn watch_ends_at_once_on_ctrl_c() {
    let mut child = Running(
        sockscope()
            .args(["stats", "--watch", "30", "--json"])
            .stdout(Stdio::null())
            .spawn_guarded()
            .expect("start sockscope"),
    );
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling our own child, still unreaped (the guard reaps it).
    unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(exits_within(&mut child, Duration::from_secs(3)), Some(0));
}
