//! Integration tests of `sockscope ping`: the real binary against loopback (127.0.0.0/8, ::1),
//! TCP and UDP peers started here, and test hosts in network namespaces that the tests create
//! and remove. No other address is ever pinged.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use common::{SpawnGuarded, TestHost, ip, privileged, run, sockscope};

/// Whether this process may open an ICMP socket: root, or a gid in ping_group_range.
fn icmp_allowed(what: &str) -> bool {
    // SAFETY: no preconditions.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if euid == 0 || range_covers(&read_range(), egid) {
        return true;
    }
    privileged(what)
}

fn read_range() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap_or_default()
}

fn range_covers(range: &str, gid: u32) -> bool {
    let v: Vec<u64> = range
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    v.len() == 2 && v[0] <= u64::from(gid) && u64::from(gid) <= v[1]
}

/// Serialises the tests that read or change net.ipv4.ping_group_range.
static RANGE_LOCK: Mutex<()> = Mutex::new(());

/// Restores ping_group_range when dropped, also when the test fails.
struct RangeGuard(String);

impl RangeGuard {
    fn set(value: &str) -> RangeGuard {
        let old = read_range();
        std::fs::write("/proc/sys/net/ipv4/ping_group_range", value).expect("set ping_group_range");
        RangeGuard(old.trim().to_string())
    }
}

impl Drop for RangeGuard {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/net/ipv4/ping_group_range", &self.0);
    }
}

/// A copy of the binary that user nobody can run (the target dir may not be reachable).
struct NobodyBin {
    dir: tempfile::TempDir,
}

impl NobodyBin {
    fn new() -> NobodyBin {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let bin = dir.path().join("sockscope");
        std::fs::copy(env!("CARGO_BIN_EXE_sockscope"), &bin).expect("copy binary");
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        NobodyBin { dir }
    }

    /// Runs the binary as nobody without any capability.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
            ])
            .arg(self.dir.path().join("sockscope"))
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .expect("setpriv (util-linux) is needed");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn reply_lines(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.contains(" bytes from ")).collect()
}

fn check_loopback(addr: &str) {
    let (code, out, err) = run(&["ping", "-c", "3", "-i", "0.2", addr]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.starts_with(&format!("PING {addr} ({addr}) 56")),
        "{out}"
    );
    let replies = reply_lines(&out);
    assert_eq!(replies.len(), 3, "{out}");
    for (i, l) in replies.iter().enumerate() {
        assert!(
            l.starts_with(&format!("64 bytes from {addr}: icmp_seq={} ttl=", i + 1)),
            "{l}"
        );
        assert!(l.ends_with(" ms") && l.contains(" time="), "{l}");
    }
    assert!(
        out.contains(&format!("--- {addr} ping statistics ---")),
        "{out}"
    );
    assert!(
        out.contains("3 packets transmitted, 3 received, 0% packet loss, time "),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("rtt min/avg/max/mdev = ") && l.ends_with(" ms")),
        "{out}"
    );
}

#[test]
fn loopback_v4() {
    if icmp_allowed("ping loopback v4") {
        check_loopback("127.0.0.1");
    }
}

#[test]
fn loopback_v6() {
    if icmp_allowed("ping loopback v6") {
        check_loopback("::1");
    }
}

#[test]
fn quiet_prints_only_the_summary() {
    if !icmp_allowed("ping -q") {
        return;
    }
    let (code, out, err) = run(&["ping", "-q", "-c", "2", "-i", "0.2", "127.0.0.1"]);
    assert_eq!(code, 0, "{err}");
    assert!(reply_lines(&out).is_empty(), "{out}");
    let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 4, "header, title, counts, rtt: {out}");
    assert!(
        lines[1].starts_with("--- 127.0.0.1 ping statistics"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("2 packets transmitted, 2 received, 0% packet loss"),
        "{out}"
    );
    let rtt = lines[3]
        .strip_prefix("rtt min/avg/max/mdev = ")
        .and_then(|r| r.strip_suffix(" ms"));
    let nums: Vec<f64> = rtt
        .expect(&out)
        .split('/')
        .map(|x| x.parse().expect("number"))
        .collect();
    assert_eq!(nums.len(), 4);
    assert!(nums[0] <= nums[1] && nums[1] <= nums[2], "{out}");
}

#[test]
fn json_lines() {
    if !icmp_allowed("ping --json") {
        return;
    }
    let (code, out, err) = run(&["ping", "--json", "-c", "2", "-i", "0.2", "127.0.0.1", "::1"]);
    assert_eq!(code, 0, "{err}");
    let objs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let replies: Vec<_> = objs.iter().filter(|o| o["type"] == "reply").collect();
    assert_eq!(replies.len(), 4, "{out}");
    for r in &replies {
        assert_eq!(r["proto"], "icmp");
        assert!(
            r["seq"].as_u64().is_some_and(|s| (1..=2).contains(&s)),
            "{r}"
        );
        assert!(r["ttl"].as_u64().is_some(), "{r}");
        assert!(r["time_ms"].as_f64().is_some_and(|t| t >= 0.0), "{r}");
        assert_eq!(r["from"], r["addr"]);
        assert_eq!(r["dup"], false);
    }
    let sums: Vec<_> = objs.iter().filter(|o| o["type"] == "summary").collect();
    assert_eq!(sums.len(), 2, "{out}");
    for s in sums {
        assert_eq!(
            (s["transmitted"].as_u64(), s["received"].as_u64()),
            (Some(2), Some(2)),
            "{s}"
        );
        assert_eq!(s["loss_pct"].as_f64(), Some(0.0));
        for k in ["rtt_min_ms", "rtt_avg_ms", "rtt_max_ms", "rtt_mdev_ms"] {
            assert!(s[k].as_f64().is_some(), "{k} in {s}");
        }
    }
}

#[test]
fn several_hosts_at_once() {
    if !icmp_allowed("ping several hosts") {
        return;
    }
    let hosts = ["127.0.0.1", "127.0.0.2", "::1"];
    let mut args = vec!["ping", "-c", "2", "-i", "0.2"];
    args.extend(hosts);
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    for h in hosts {
        let prefixed = out
            .lines()
            .filter(|l| l.starts_with(&format!("{h}: 64 bytes from {h}: ")))
            .count();
        assert_eq!(prefixed, 2, "{h}: {out}");
        let row = out
            .lines()
            .find(|l| l.starts_with(&format!("{h} ")))
            .unwrap_or_else(|| panic!("{out}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(&cells[..5], &[h, h, "2", "2", "0%"], "{row}");
    }
    assert!(out.contains("Host") && out.contains("Loss"), "{out}");
}

#[test]
fn sweep_of_fifty_loopback_addresses() {
    if !icmp_allowed("ping sweep") {
        return;
    }
    let hosts: Vec<String> = (1..=50).map(|i| format!("127.0.0.{i}")).collect();
    let mut args = vec!["ping", "-q", "-c", "1", "-W", "1"];
    args.extend(hosts.iter().map(String::as_str));
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(reply_lines(&out).is_empty(), "{out}");
    for h in &hosts {
        let row = out
            .lines()
            .find(|l| l.starts_with(&format!("{h} ")))
            .unwrap_or_else(|| panic!("{h}: {out}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(&cells[2..5], &["1", "1", "0%"], "{row}");
    }
}

#[test]
fn tcp_to_listener_and_closed_port() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    let (code, out, err) = run(&["ping", "--tcp", &port, "-c", "2", "-i", "0.2", "127.0.0.1"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with(&format!("from 127.0.0.1:{port}: connected")))
            .count(),
        2,
        "{out}"
    );
    assert!(
        out.contains("2 packets transmitted, 2 received, 0% packet loss"),
        "{out}"
    );
    drop(listener);
    // Nothing listens there now: RST, which is an answer.
    let (code, out, err) = run(&["ping", "--tcp", &port, "-c", "2", "-i", "0.2", "127.0.0.1"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("refused (RST)") && l.contains(" time="))
            .count(),
        2,
        "{out}"
    );
    assert!(out.contains("2 received, 0% packet loss"), "{out}");
}

#[test]
fn udp_to_echo_peer_and_to_silent_socket() {
    let mut echo = sockscope()
        .args(["echo", "-l", "127.0.0.1:0", "--udp", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn_guarded()
        .expect("start echo");
    let mut line = String::new();
    BufReader::new(echo.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let result = run(&["ping", "--udp", &port, "-c", "3", "-i", "0.2", "127.0.0.1"]);
    let _ = echo.kill();
    let _ = echo.wait();
    let (code, out, err) = result;
    assert_eq!(code, 0, "{line}\n{out}\n{err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with(&format!("56 bytes from 127.0.0.1:{port}: udp_seq=")))
            .count(),
        3,
        "{out}"
    );
    assert!(
        out.contains("3 packets transmitted, 3 received, 0% packet loss"),
        "{out}"
    );

    // A socket that never answers: every request is lost.
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port().to_string();
    let (code, out, err) = run(&[
        "ping",
        "--udp",
        &port,
        "-c",
        "2",
        "-i",
        "0.2",
        "-W",
        "0.3",
        "127.0.0.1",
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("no answer yet for udp_seq=1"), "{out}");
    assert!(
        out.contains("2 packets transmitted, 0 received, 100% packet loss"),
        "{out}"
    );
}

#[test]
fn ctrl_c_prints_the_summary() {
    if !icmp_allowed("ping Ctrl-C") {
        return;
    }
    let child = sockscope()
        .args(["ping", "-i", "0.2", "127.0.0.1"])
        .stdout(Stdio::piped())
        .spawn_guarded()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(700));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("--- 127.0.0.1 ping statistics ---"), "{text}");
    assert!(text.contains("0% packet loss"), "{text}");
}

#[test]
fn bad_input_exits_2() {
    let long = format!("{}.test", "a".repeat(70));
    let cases: &[(&[&str], &str)] = &[
        (&["ping", "-c", "0", "127.0.0.1"], "count"),
        (&["ping", "-s", "70000", "127.0.0.1"], "at most"),
        (&["ping", "-t", "0", "127.0.0.1"], "TTL"),
        (&["ping", "-W", "0", "127.0.0.1"], "timeout"),
        (&["ping", "-c", "1", &long], "cannot resolve"),
        (&["ping", "-4", "-c", "1", "::1"], "IPv6"),
        (&["ping", "--tcp", "80", "-s", "10", "127.0.0.1"], "--tcp"),
        (&["ping", "--tcp", "0", "127.0.0.1"], "port 0"),
    ];
    for (args, needle) in cases {
        let (code, out, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {out}\n{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
}

#[test]
fn short_interval_needs_root() {
    if !privileged("ping -i 0.01 as nobody") {
        return;
    }
    let bin = NobodyBin::new();
    let (code, _, err) = bin.run(&["ping", "-c", "1", "-i", "0.01", "127.0.0.1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("200ms"), "{err}");
    // Root may.
    let (code, out, err) = run(&["ping", "-c", "3", "-i", "0.01", "127.0.0.1"]);
    assert_eq!(code, 0, "{out}\n{err}");
}

#[test]
fn unprivileged_gets_datagram_socket_or_exit_3() {
    if !privileged("ping as nobody") {
        return;
    }
    let _lock = RANGE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let bin = NobodyBin::new();
    let (code, out, err) = bin.run(&["ping", "-c", "1", "127.0.0.1"]);
    if range_covers(&read_range(), 65534) {
        assert_eq!(code, 0, "{out}\n{err}");
        assert_eq!(reply_lines(&out).len(), 1, "{out}");
    } else {
        assert_eq!(code, 3, "{out}\n{err}");
        for remedy in [
            "sudo",
            "setcap cap_net_raw+ep",
            "ping_group_range=\"0 2147483647\"",
        ] {
            assert!(err.contains(remedy), "{remedy}: {err}");
        }
        assert!(
            !out.contains("PING"),
            "nothing on stdout before the error: {out}"
        );
    }
}

#[test]
fn datagram_socket_when_ping_group_range_allows() {
    if !privileged("ping over a datagram socket") {
        return;
    }
    let _lock = RANGE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let _guard = RangeGuard::set("0 2147483647");
    let bin = NobodyBin::new();
    let (code, out, err) = bin.run(&["ping", "-c", "2", "-i", "0.2", "127.0.0.1", "::1"]);
    assert_eq!(code, 0, "{out}\n{err}");
    for h in ["127.0.0.1", "::1"] {
        let n = out
            .lines()
            .filter(|l| l.starts_with(&format!("{h}: 64 bytes from {h}: ")) && l.contains(" ttl="))
            .count();
        assert_eq!(n, 2, "{h}: {out}");
    }
}

#[test]
fn test_host_replies_then_link_down_is_total_loss() {
    if !privileged("ping a test host over veth") {
        return;
    }
    let host = TestHost::new();
    let (code, out, err) = run(&["ping", "-c", "3", "-i", "0.2", &host.ns_ip]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(reply_lines(&out).len(), 3, "{out}");
    assert!(out.contains("0% packet loss"), "{out}");
    host.link_down();
    let (code, out, err) = run(&["ping", "-c", "2", "-i", "0.2", "-W", "0.5", &host.ns_ip]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(reply_lines(&out).is_empty(), "{out}");
    assert!(
        out.contains("2 packets transmitted, 0 received") && out.contains("100% packet loss"),
        "{out}"
    );
}

#[test]
fn ipv6_test_host_replies_then_link_down_is_total_loss() {
    if !privileged("ping6 a test host over veth") {
        return;
    }
    let host = TestHost::new();
    let (code, out, err) = run(&["ping", "-6", "-c", "3", "-i", "0.2", &host.ns_ip6]);
    assert_eq!(code, 0, "{out}\n{err}");
    let replies = reply_lines(&out);
    assert_eq!(replies.len(), 3, "{out}");
    assert!(
        replies
            .iter()
            .all(|l| l.contains(&format!("from {}", host.ns_ip6)) && l.contains("ttl=")),
        "{out}"
    );
    host.link_down();
    let (code, out, err) = run(&[
        "ping",
        "-6",
        "-c",
        "2",
        "-i",
        "0.2",
        "-W",
        "0.5",
        &host.ns_ip6,
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("100% packet loss"), "{out}");
}

#[test]
fn sweep_with_silent_hosts_takes_about_one_timeout() {
    if !privileged("ping sweep with silent test hosts") {
        return;
    }
    let host = TestHost::new();
    let prefix = host
        .ns_ip
        .rsplit_once('.')
        .map(|(p, _)| p.to_string())
        .expect("ipv4");
    let silent: Vec<String> = (10..30).map(|i| format!("{prefix}.{i}")).collect();
    for a in &silent {
        let ok = host
            .exec()
            .args([
                "ip",
                "addr",
                "add",
                &format!("{a}/24"),
                "dev",
                &host.peer_if,
            ])
            .status();
        assert!(ok.is_ok_and(|s| s.success()), "ip addr add {a}");
    }
    host.link_down();
    // Concurrency, without timing the test: within a 2.5 s deadline every one of the 21
    // hosts must have had a request sent and its 1 s timeout run out; one after another, only
    // two or three would have.
    let mut args = vec!["ping", "-q", "-c", "1", "-W", "1", "-w", "2.5", "127.0.0.1"];
    args.extend(silent.iter().map(String::as_str));
    let (code, out, err) = run(&args);
    assert_eq!(code, 1, "{out}\n{err}");
    let lo = out
        .lines()
        .find(|l| l.starts_with("127.0.0.1 "))
        .expect("row");
    assert_eq!(
        &lo.split_whitespace().collect::<Vec<_>>()[2..5],
        &["1", "1", "0%"],
        "{out}"
    );
    for a in &silent {
        let row = out
            .lines()
            .find(|l| l.starts_with(&format!("{a} ")))
            .unwrap_or_else(|| panic!("{out}"));
        // -c 1 with -w asks again until the deadline (iputils), so at least one request.
        let cells = row.split_whitespace().collect::<Vec<_>>();
        let sent: u64 = cells[2].parse().unwrap();
        assert!(sent >= 1, "{row}");
        assert_eq!(&cells[3..5], &["0", "100%"], "{row}");
    }
}

/// Two namespaces: a router (forwarding) joined to this host, and a far host behind it.
struct RoutedHost {
    router: String,
    far: String,
    host_if: String,
    router_ip: String,
    far_ip: String,
    far_net: String,
}

/// `ip ARGS`, which must succeed.
fn ip_ok(args: &[&str]) {
    if let Err(e) = ip(args) {
        panic!("{e}");
    }
}

impl RoutedHost {
    fn new() -> RoutedHost {
        let id = std::process::id() % 100_000;
        let a = 100 + id % 70 * 2; // 198.19.a.0/24 and 198.19.(a+1).0/24
        let r = RoutedHost {
            router: format!("sscr-{id}"),
            far: format!("sscf-{id}"),
            host_if: format!("sscr{id}a"),
            router_ip: format!("198.19.{a}.2"),
            far_ip: format!("198.19.{}.2", a + 1),
            far_net: format!("198.19.{}.0/24", a + 1),
        };
        let (ra, rb, fa) = (
            format!("sscr{id}b"),
            format!("sscr{id}c"),
            format!("sscr{id}d"),
        );
        ip_ok(&["netns", "add", &r.router]);
        ip_ok(&["netns", "add", &r.far]);
        ip_ok(&[
            "link", "add", &r.host_if, "type", "veth", "peer", "name", &ra,
        ]);
        ip_ok(&["link", "set", &ra, "netns", &r.router]);
        ip_ok(&[
            "addr",
            "add",
            &format!("198.19.{a}.1/24"),
            "dev",
            &r.host_if,
        ]);
        ip_ok(&["link", "set", &r.host_if, "up"]);
        ip_ok(&[
            "-n",
            &r.router,
            "addr",
            "add",
            &format!("{}/24", r.router_ip),
            "dev",
            &ra,
        ]);
        ip_ok(&["-n", &r.router, "link", "set", &ra, "up"]);
        ip_ok(&[
            "-n", &r.router, "link", "add", &rb, "type", "veth", "peer", "name", &fa,
        ]);
        ip_ok(&["-n", &r.router, "link", "set", &fa, "netns", &r.far]);
        ip_ok(&[
            "-n",
            &r.router,
            "addr",
            "add",
            &format!("198.19.{}.1/24", a + 1),
            "dev",
            &rb,
        ]);
        ip_ok(&["-n", &r.router, "link", "set", &rb, "up"]);
        ip_ok(&[
            "-n",
            &r.far,
            "addr",
            "add",
            &format!("{}/24", r.far_ip),
            "dev",
            &fa,
        ]);
        ip_ok(&["-n", &r.far, "link", "set", &fa, "up"]);
        ip_ok(&[
            "-n",
            &r.far,
            "route",
            "add",
            "default",
            "via",
            &format!("198.19.{}.1", a + 1),
        ]);
        let fwd = Command::new("ip")
            .args([
                "netns",
                "exec",
                &r.router,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ])
            .status();
        assert!(
            fwd.is_ok_and(|s| s.success()),
            "ip_forward in the router namespace"
        );
        ip_ok(&["route", "add", &r.far_net, "via", &r.router_ip]);
        r
    }
}

impl Drop for RoutedHost {
    fn drop(&mut self) {
        for args in [
            vec!["route", "del", self.far_net.as_str()],
            vec!["link", "del", self.host_if.as_str()],
            vec!["netns", "del", self.router.as_str()],
            vec!["netns", "del", self.far.as_str()],
        ] {
            let _ = Command::new("ip").args(&args).output();
        }
    }
}

#[test]
fn ttl_expiry_names_the_router() {
    if !privileged("ping through a router namespace") {
        return;
    }
    let net = RoutedHost::new();
    // Through the router, the far host answers (its reply has one hop less: ttl 63).
    let (code, out, err) = run(&["ping", "-c", "1", "-W", "2", &net.far_ip]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!("64 bytes from {}: icmp_seq=1 ttl=63 ", net.far_ip)),
        "{out}"
    );
    // With TTL 1 the router drops it and says so.
    let (code, out, err) = run(&[
        "ping",
        "-c",
        "2",
        "-i",
        "0.2",
        "-t",
        "1",
        "-W",
        "1",
        &net.far_ip,
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    let line = format!("From {} icmp_seq=1 Time to live exceeded", net.router_ip);
    assert!(out.lines().any(|l| l == line), "{line}\n{out}");
    assert!(
        out.contains("2 packets transmitted, 0 received, +2 errors, 100% packet loss"),
        "{out}"
    );
    // The same over an unprivileged datagram socket (errors come from the error queue).
    let _lock = RANGE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let _guard = RangeGuard::set("0 2147483647");
    let bin = NobodyBin::new();
    let (code, out, err) = bin.run(&["ping", "-c", "1", "-t", "1", "-W", "1", &net.far_ip]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.lines().any(|l| l == line), "{line}\n{out}");
}

#[test]
fn deadline_stops_the_run() {
    if !icmp_allowed("ping -w") {
        return;
    }
    let (code, out, err) = run(&["ping", "-w", "1", "-i", "0.2", "127.0.0.1"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let sent: u64 = out
        .lines()
        .find(|l| l.contains(" packets transmitted, "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(out.contains(" received, 0% packet loss"), "{out}");
    assert!(
        (4..=6).contains(&sent),
        "{sent} sent in 1 s at 0.2 s: {out}"
    );
}

#[test]
fn tcp_json_marks_refused() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
        .to_string();
    let (code, out, err) = run(&["ping", "--json", "--tcp", &port, "-c", "1", "127.0.0.1"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let objs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(objs.len(), 2, "{out}");
    assert_eq!(objs[0]["type"], "reply");
    assert_eq!(objs[0]["proto"], "tcp");
    assert_eq!(objs[0]["refused"], true);
    assert_eq!(objs[0]["port"].as_u64().map(|p| p.to_string()), Some(port));
    assert_eq!(objs[1]["type"], "summary");
    assert_eq!(objs[1]["received"], 1);
}

#[test]
fn link_local_target_goes_out_of_the_named_interface() {
    if !privileged("ping a link-local address with %interface") {
        return;
    }
    let host = TestHost::new();
    let added = host
        .exec()
        .args([
            "ip",
            "-6",
            "addr",
            "add",
            "fe80::5353:2/64",
            "dev",
            &host.peer_if,
            "nodad",
        ])
        .status();
    assert!(added.is_ok_and(|s| s.success()), "ip addr add fe80::5353:2");
    let target = format!("fe80::5353:2%{}", host.host_if);
    let (code, out, err) = run(&["ping", "-c", "2", "-i", "0.2", &target]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(reply_lines(&out).len(), 2, "{out}");
    let (code, _, err) = run(&["ping", "-c", "1", "fe80::5353:2%no-such-if0"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn count_with_deadline_waits_for_that_many_replies() {
    if !privileged("ping -c with -w to a silent test host") {
        return;
    }
    // As iputils: -c N -w D keeps asking until N replies or the deadline, and exits 1 when
    // fewer than N came back.
    let (code, out, err) = run(&["ping", "-c", "2", "-w", "3", "-i", "0.2", "127.0.0.1"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("2 packets transmitted, 2 received"), "{out}");
    let host = TestHost::new();
    host.link_down();
    let (code, out, err) = run(&[
        "ping",
        "-c",
        "2",
        "-w",
        "1.5",
        "-i",
        "0.2",
        "-W",
        "0.5",
        &host.ns_ip,
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    let sent: u64 = out
        .lines()
        .find(|l| l.contains(" packets transmitted, "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(sent > 2, "kept sending until the deadline: {out}");
}
