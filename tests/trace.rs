//! Integration tests of `sockscope trace`: the real binary in a chain of network namespaces
//! that the tests create and remove (client -> router1 -> router2 -> server, addresses from
//! 198.18.0.0/15 and fd00::/8 that exist only inside those namespaces), compared with
//! `traceroute -T` and `mtr --report` run in the same client namespace. Nothing is sent to any
//! other address; every child process is killed and reaped.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Holder, holder, ip, privileged, run, run_command, tool};

/// `ip ARGS`, which must succeed.
fn ip_ok(args: &[&str]) {
    if let Err(e) = ip(args) {
        panic!("{e}");
    }
}

/// Four namespaces in a row, removed on drop (also when the test fails).
struct Chain {
    client: String,
    r1: String,
    r2: String,
    server: String,
    /// router1's, router2's and the server's addresses, as the client sees them.
    r1_ip: String,
    r2_ip: String,
    server_ip: String,
    r1_ip6: String,
    r2_ip6: String,
    server_ip6: String,
    /// The client's own address (for the drop rule).
    client_ip: String,
    /// A second router2 (ECMP), when added.
    r2b: Option<String>,
}

impl Chain {
    fn new() -> Chain {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id = (std::process::id() % 10_000) * 10 + n;
        let ns = |role: &str| format!("ssct-{id}-{role}");
        let c = Chain {
            client: ns("c"),
            r1: ns("r1"),
            r2: ns("r2"),
            server: ns("s"),
            client_ip: "198.18.10.2".into(),
            r1_ip: "198.18.10.1".into(),
            r2_ip: "198.18.11.2".into(),
            server_ip: "198.18.12.2".into(),
            r1_ip6: "fd00:5454:10::1".into(),
            r2_ip6: "fd00:5454:11::2".into(),
            server_ip6: "fd00:5454:12::2".into(),
            r2b: None,
        };
        for n in [&c.client, &c.r1, &c.r2, &c.server] {
            ip_ok(&["netns", "add", n]);
            ip_ok(&["-n", n, "link", "set", "lo", "up"]);
        }
        // (left namespace, its addresses, right namespace, its addresses)
        let links = [
            (
                &c.client,
                "198.18.10.2",
                "fd00:5454:10::2",
                &c.r1,
                "198.18.10.1",
                "fd00:5454:10::1",
            ),
            (
                &c.r1,
                "198.18.11.1",
                "fd00:5454:11::1",
                &c.r2,
                "198.18.11.2",
                "fd00:5454:11::2",
            ),
            (
                &c.r2,
                "198.18.12.1",
                "fd00:5454:12::1",
                &c.server,
                "198.18.12.2",
                "fd00:5454:12::2",
            ),
        ];
        for (i, (left, l4, l6, right, r4, r6)) in links.iter().enumerate() {
            let (a, b) = (format!("sct{id}l{i}"), format!("sct{id}r{i}"));
            ip_ok(&[
                "-n", left, "link", "add", &a, "type", "veth", "peer", "name", &b, "netns", right,
            ]);
            for (n, dev, v4, v6) in [(left, &a, l4, l6), (right, &b, r4, r6)] {
                ip_ok(&["-n", n, "addr", "add", &format!("{v4}/24"), "dev", dev]);
                ip_ok(&[
                    "-n",
                    n,
                    "-6",
                    "addr",
                    "add",
                    &format!("{v6}/64"),
                    "dev",
                    dev,
                    "nodad",
                ]);
                ip_ok(&["-n", n, "link", "set", dev, "up"]);
            }
        }
        // Routes: the client and router1 send everything onwards; router2 and the server send
        // everything back.
        for (n, v4, v6) in [
            (&c.client, "198.18.10.1", "fd00:5454:10::1"),
            (&c.r1, "198.18.11.2", "fd00:5454:11::2"),
            (&c.r2, "198.18.11.1", "fd00:5454:11::1"),
            (&c.server, "198.18.12.1", "fd00:5454:12::1"),
        ] {
            ip_ok(&["-n", n, "route", "add", "default", "via", v4]);
            ip_ok(&["-n", n, "-6", "route", "add", "default", "via", v6]);
        }
        sysctl_all(&[&c.r1, &c.r2], &c.server);
        c
    }

    /// A second path: router1 -> router2b (198.18.13.2) -> server, next to router2, and
    /// router1 spreading flows over both by their ports (ECMP, L4 hash); the server answers
    /// over both.
    fn add_second_path(&mut self) -> String {
        let r2b = format!("{}b", self.r2);
        self.r2b = Some(r2b.clone());
        ip_ok(&["netns", "add", &r2b]);
        ip_ok(&["-n", &r2b, "link", "set", "lo", "up"]);
        for (i, (left, l4, right, r4)) in [
            (&self.r1, "198.18.13.1", &r2b, "198.18.13.2"),
            (&r2b, "198.18.14.1", &self.server, "198.18.14.2"),
        ]
        .iter()
        .enumerate()
        {
            let (a, b) = (format!("{r2b}l{i}"), format!("{r2b}r{i}"));
            // Interface names: at most 15 characters.
            let (a, b) = (tail(&a), tail(&b));
            ip_ok(&[
                "-n", left, "link", "add", a, "type", "veth", "peer", "name", b, "netns", right,
            ]);
            for (n, dev, v4) in [(left, a, l4), (right, b, r4)] {
                ip_ok(&["-n", n, "addr", "add", &format!("{v4}/24"), "dev", dev]);
                ip_ok(&["-n", n, "link", "set", dev, "up"]);
            }
        }
        ip_ok(&["-n", &r2b, "route", "add", "default", "via", "198.18.13.1"]);
        // The server's address is on its router2 link: router2b reaches it over its own.
        ip_ok(&[
            "-n",
            &r2b,
            "route",
            "add",
            "198.18.12.0/24",
            "via",
            "198.18.14.2",
        ]);
        for (n, a, b) in [
            (&self.r1, "198.18.11.2", "198.18.13.2"),
            (&self.server, "198.18.12.1", "198.18.14.1"),
        ] {
            ip_ok(&[
                "-n", n, "route", "replace", "default", "nexthop", "via", a, "nexthop", "via", b,
            ]);
        }
        sysctl_all(&[&r2b], &self.server);
        let ok = Command::new("ip")
            .args(["netns", "exec", &self.r1, "sysctl", "-qw"])
            .arg("net.ipv4.fib_multipath_hash_policy=1")
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "fib_multipath_hash_policy in router1");
        "198.18.13.2".into()
    }
}

/// The last 15 characters of an interface name.
fn tail(name: &str) -> &str {
    &name[name.len().saturating_sub(15)..]
}

/// Forwarding on in the routers, and no ICMP rate limit in the routers and the server.
fn sysctl_all(routers: &[&String], server: &String) {
    {
        // Forwarding on in the routers. Linux sends at most 6 ICMP errors to one host at once
        // and then one a second (icmp_ratelimit): a fast trace run again and again, as the
        // tests do, would see the routers fall silent. These lab routers answer every probe.
        let sysctls = [
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
            "net.ipv4.icmp_ratelimit=0",
            "net.ipv6.icmp.ratelimit=0",
        ];
        let all = routers
            .iter()
            .map(|r| (*r, &sysctls[..]))
            .chain([(server, &sysctls[2..])]);
        for (r, keys) in all {
            for &key in keys {
                let ok = Command::new("ip")
                    .args(["netns", "exec", r, "sysctl", "-qw", key])
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "{key} in {r}");
            }
        }
    }
}

impl Chain {
    /// A command run inside the client namespace.
    fn in_client(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.client, program]);
        cmd
    }

    /// sockscope in the client namespace: (exit code, stdout, stderr).
    fn sockscope(&self, args: &[&str]) -> (i32, String, String) {
        run_command(&mut self.in_client(env!("CARGO_BIN_EXE_sockscope")), args)
    }

    /// `sockscope trace ARGS --json` in the client: (exit code, document).
    fn trace_json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all = vec!["trace", "--json"];
        all.extend_from_slice(args);
        let (code, out, err) = self.sockscope(&all);
        let v = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("bad JSON ({e}): {out}\nstderr: {err}"));
        (code, v)
    }

    /// A TCP listener on the server, on every address and both families, port `port`.
    fn listen_tcp(&self, port: u16) -> Holder {
        let code = r#"
import socket, sys, time
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
s.listen(64)
print("ready", flush=True)
time.sleep(60)
"#;
        let h = holder(
            Command::new("ip")
                .args(["netns", "exec", &self.server, "python3", "-c", code])
                .arg(port.to_string()),
        );
        assert_eq!(h.first_line, "ready", "the listener did not start");
        h
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth ends in it (and so their peers).
        let extra = self.r2b.iter();
        for n in [&self.client, &self.r1, &self.r2, &self.server]
            .into_iter()
            .chain(extra)
        {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

/// The first address of every hop of a trace document.
fn hop_addresses(doc: &serde_json::Value) -> Vec<String> {
    doc["hops"]
        .as_array()
        .unwrap_or_else(|| panic!("no hops: {doc}"))
        .iter()
        .map(|h| h["addresses"][0].as_str().unwrap_or("???").to_string())
        .collect()
}

/// Checks a trace that reached the server: exactly the three hops, each answering.
fn assert_reached(doc: &serde_json::Value, hops: &[&str]) {
    assert_eq!(doc["reached"], true, "{doc:#}");
    assert_eq!(hop_addresses(doc), hops, "{doc:#}");
    for (i, h) in doc["hops"].as_array().into_iter().flatten().enumerate() {
        assert_eq!(h["ttl"], i + 1, "{h}");
        assert_eq!(h["sent"], 3, "{h}");
        assert!(h["received"].as_u64().is_some_and(|r| r >= 1), "{h}");
        assert_eq!(h["addresses"].as_array().map(Vec::len), Some(1), "{h}");
        let (min, avg, max) = (
            h["min_ms"].as_f64().unwrap_or(-1.0),
            h["avg_ms"].as_f64().unwrap_or(-1.0),
            h["max_ms"].as_f64().unwrap_or(-1.0),
        );
        assert!(0.0 <= min && min <= avg && avg <= max, "{h}");
        assert!(
            h["loss"]
                .as_f64()
                .is_some_and(|l| (0.0..=100.0).contains(&l)),
            "{h}"
        );
    }
}

/// The hop addresses `traceroute -n` prints (one probe per hop: `-q 1`), `*` for no answer.
fn traceroute_hops(out: &str) -> Vec<String> {
    out.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

/// The hop addresses `mtr -n --report` prints (`  1.|-- 198.18.10.1  0.0% ...`).
fn mtr_hops(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.split_once("|--").map(|(_, r)| r))
        .filter_map(|r| r.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn icmp_tcp_and_udp_traces_list_the_hops_and_reach_the_server() {
    if !privileged("trace through a chain of namespaces") {
        return;
    }
    let net = Chain::new();
    let _listener = net.listen_tcp(8080);
    let hops = [&*net.r1_ip, &*net.r2_ip, &*net.server_ip];

    let (code, doc) = net.trace_json(&[&net.server_ip]);
    assert_eq!(code, 0, "{doc:#}");
    assert_reached(&doc, &hops);
    assert_eq!(doc["target"], net.server_ip);
    assert_eq!(doc["proto"], "icmp");

    let (code, doc) = net.trace_json(&[&net.server_ip, "--tcp", "8080"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_reached(&doc, &hops);
    assert_eq!(doc["proto"], "tcp");
    // A closed port answers with RST: reached too.
    let target = format!("{}:8081", net.server_ip);
    let (code, doc) = net.trace_json(&[&target, "--tcp"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_reached(&doc, &hops);

    let (code, doc) = net.trace_json(&[&net.server_ip, "--udp", "33434"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["reached"], true, "{doc:#}");
    assert_eq!(hop_addresses(&doc), hops, "{doc:#}");

    // The text report: a header, a column line, one line per hop.
    let (code, out, err) = net.sockscope(&["trace", "-c", "1", &net.server_ip]);
    assert_eq!(code, 0, "{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        lines[1].contains("Loss%") && lines[1].contains("Wrst"),
        "{out}"
    );
    for (i, h) in hops.iter().enumerate() {
        assert!(
            lines[i + 2].starts_with(&format!("{:>3}.  {h} ", i + 1)),
            "{out}"
        );
    }
}

#[test]
fn ipv6_traces_list_the_hops() {
    if !privileged("trace over IPv6 through a chain of namespaces") {
        return;
    }
    let net = Chain::new();
    let _listener = net.listen_tcp(8080);
    let hops = [&*net.r1_ip6, &*net.r2_ip6, &*net.server_ip6];
    let (code, doc) = net.trace_json(&["-6", &net.server_ip6]);
    assert_eq!(code, 0, "{doc:#}");
    assert_reached(&doc, &hops);
    let target = format!("[{}]:8080", net.server_ip6);
    let (code, doc) = net.trace_json(&[&target, "--tcp"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_reached(&doc, &hops);
    let (code, doc) = net.trace_json(&[&net.server_ip6, "--udp", "33434"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(hop_addresses(&doc), hops, "{doc:#}");
}

#[test]
fn same_hops_as_traceroute_and_mtr() {
    if !privileged("trace next to traceroute and mtr") || !tool("traceroute") || !tool("mtr") {
        return;
    }
    let net = Chain::new();
    let _listener = net.listen_tcp(8080);
    let (code, doc) = net.trace_json(&[&net.server_ip, "--tcp", "8080"]);
    assert_eq!(code, 0, "{doc:#}");
    let ours = hop_addresses(&doc);

    let out = net
        .in_client("traceroute")
        .args(["-n", "-T", "-p", "8080", "-q", "1", "-w", "2", "-m", "8"])
        .arg(&net.server_ip)
        .output()
        .expect("traceroute");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(traceroute_hops(&text), ours, "traceroute -T:\n{text}");

    let out = net
        .in_client("mtr")
        .args(["-n", "--report", "-c", "1", "-m", "8"])
        .arg(&net.server_ip)
        .output()
        .expect("mtr");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let (code, doc) = net.trace_json(&[&net.server_ip]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        mtr_hops(&text),
        hop_addresses(&doc),
        "mtr --report:\n{text}"
    );
}

#[test]
fn a_drop_on_router2_ends_the_trace_at_router1() {
    if !privileged("trace into a drop rule") || !tool("nft") {
        return;
    }
    let net = Chain::new();
    // router2 drops everything from the client before routing it: no time exceeded from it,
    // nothing beyond it.
    let rules = format!(
        "table inet ssct {{ chain pre {{ type filter hook prerouting priority -300; policy accept; ip saddr {} drop; }}; }}",
        net.client_ip
    );
    let ok = Command::new("ip")
        .args(["netns", "exec", &net.r2, "nft", &rules])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "nft in router2");
    for extra in [&[][..], &["--tcp", "8080"][..], &["--udp", "33434"][..]] {
        let mut args = vec![net.server_ip.as_str(), "-W", "300ms", "-m", "6"];
        args.extend_from_slice(extra);
        let started = std::time::Instant::now();
        let (code, doc) = net.trace_json(&args);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "3 rounds of 300ms took {:?}",
            started.elapsed()
        );
        assert_eq!(code, 1, "{doc:#}");
        assert_eq!(doc["reached"], false, "{doc:#}");
        let hops = doc["hops"].as_array().expect("hops");
        let answering: Vec<_> = hops
            .iter()
            .filter(|h| h["received"].as_u64().is_some_and(|r| r > 0))
            .collect();
        assert_eq!(answering.len(), 1, "{doc:#}");
        assert_eq!(answering[0]["addresses"][0], net.r1_ip, "{doc:#}");
        assert_eq!(answering[0]["ttl"], 1);
        // One silent hop after it, as mtr shows `???`.
        assert_eq!(hops.len(), 2, "{doc:#}");
        assert_eq!(hops[1]["addresses"], serde_json::json!([]));
        assert_eq!(hops[1]["loss"], 100.0);
    }
    let (code, out, _) =
        net.sockscope(&["trace", "-W", "300ms", "-c", "1", "-m", "4", &net.server_ip]);
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!(
            "{} not reached; the last hop that answered: {} (hop 1)",
            net.server_ip, net.r1_ip
        )),
        "{out}"
    );
}

#[test]
fn bad_input_exits_2() {
    for args in [
        &["trace", "127.0.0.1:0", "--tcp"][..],
        &["trace", "127.0.0.1", "--tcp", "0"],
        &["trace", "127.0.0.1", "--udp", "0"],
        &["trace", "127.0.0.1", "--tcp"],
        &["trace", "127.0.0.1:80"],
        &["trace", "127.0.0.1:80", "--tcp", "81"],
        &["trace", "[fd00::1"],
        &["trace", "127.0.0.1:99999", "--tcp"],
        &["trace", "127.0.0.1", "-m", "0"],
        &["trace", "127.0.0.1", "-c", "0"],
        &["trace", "::1", "-4"],
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {out}\n{err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
}

#[test]
fn without_cap_net_raw_exits_3_saying_how() {
    if !privileged("trace as nobody") || !tool("setpriv") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let bin = dir.path().join("sockscope");
    std::fs::copy(env!("CARGO_BIN_EXE_sockscope"), &bin).expect("copy binary");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for extra in [&[][..], &["--tcp", "80"][..]] {
        let mut cmd = common::as_nobody(&bin.to_string_lossy());
        let mut args = vec!["trace", "127.0.0.1"];
        args.extend_from_slice(extra);
        let (code, out, err) = run_command(&mut cmd, &args);
        assert_eq!(code, 3, "{out}\n{err}");
        assert!(err.contains("sudo"), "{err}");
        assert!(err.contains("setcap cap_net_raw+ep"), "{err}");
    }
}

/// `/etc/netns/NS/` with a hosts file and an nsswitch.conf that looks only there, which
/// `ip netns exec NS` mounts over /etc: names without any DNS query. Removed on drop.
/// (/etc/netns itself is removed again when the test made it and it is empty.)
struct NetnsEtc(std::path::PathBuf, bool);

impl NetnsEtc {
    fn new(ns: &str, hosts: &str) -> NetnsEtc {
        let top = std::path::Path::new("/etc/netns");
        let made_top = !top.exists();
        let dir = top.join(ns);
        std::fs::create_dir_all(&dir).expect("mkdir /etc/netns/NS");
        let guard = NetnsEtc(dir, made_top);
        std::fs::write(guard.0.join("hosts"), hosts).expect("hosts");
        std::fs::write(guard.0.join("nsswitch.conf"), "hosts: files\n").expect("nsswitch.conf");
        guard
    }
}

impl Drop for NetnsEtc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        if self.1 {
            let _ = std::fs::remove_dir("/etc/netns");
        }
    }
}

#[test]
fn r_names_the_hops() {
    if !privileged("trace -r through a chain of namespaces") {
        return;
    }
    let net = Chain::new();
    let hosts = format!(
        "127.0.0.1 localhost\n{} router1.test\n{} server.test\n",
        net.r1_ip, net.server_ip
    );
    let _etc = NetnsEtc::new(&net.client, &hosts);
    let (code, doc) = net.trace_json(&["-r", "-c", "1", &net.server_ip]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        hop_addresses(&doc),
        [&*net.r1_ip, &*net.r2_ip, &*net.server_ip]
    );
    let names: Vec<_> = doc["hops"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| h["names"][0].clone())
        .collect();
    assert_eq!(
        names,
        [
            serde_json::json!("router1.test"),
            serde_json::Value::Null,
            serde_json::json!("server.test")
        ],
        "{doc:#}"
    );
    let (code, out, err) = net.sockscope(&["trace", "-r", "-c", "1", &net.server_ip]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("  1.  router1.test ({}) ", net.r1_ip)),
        "{out}"
    );
    // Without -r, numeric.
    let (_, out, _) = net.sockscope(&["trace", "-c", "1", &net.server_ip]);
    assert!(!out.contains("router1.test"), "{out}");
}

#[test]
fn ecmp_shows_both_routers_of_hop_2() {
    if !privileged("trace over two equal-cost paths") {
        return;
    }
    let mut net = Chain::new();
    let r2b = net.add_second_path();
    // Every UDP probe has a source port of its own, so router1 spreads them over both paths:
    // 20 rounds all on one path would be a chance of 1 in 2^19.
    let (code, doc) = net.trace_json(&[&net.server_ip, "--udp", "33434", "-c", "20"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["reached"], true, "{doc:#}");
    let hops = doc["hops"].as_array().expect("hops");
    assert_eq!(hops.len(), 3, "{doc:#}");
    assert_eq!(hops[0]["addresses"], serde_json::json!([net.r1_ip]));
    let mut second: Vec<String> = hops[1]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    second.sort();
    assert_eq!(second, [net.r2_ip.clone(), r2b], "{doc:#}");
    assert_eq!(hops[1]["received"], 20, "{doc:#}");
    assert_eq!(hops[2]["addresses"], serde_json::json!([net.server_ip]));
    // The text report lists the second address on a line of its own.
    let (_, out, _) = net.sockscope(&["trace", "--udp", "33434", "-c", "20", &net.server_ip]);
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("      198.18.1"))
            .count(),
        1,
        "{out}"
    );
}
