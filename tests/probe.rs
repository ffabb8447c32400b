//! The probe layer's kernel lookups against iproute2: `probe::route::get` must agree with
//! `ip -j route get` on loopback, and, in a network namespace the test creates and removes,
//! report the unreachable, prohibit and blackhole routes added there; `probe::neigh::get` must
//! read the neighbour entries set there. Neither lookup sends a packet.

mod common;

use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::process::Command;

use common::{TestHost, ip, privileged, tool};
use sockscope::probe::neigh::{self, NeighState};
use sockscope::probe::route::{self, RouteKind};

/// `ip -j route get ADDR` (in namespace `ns` when given): the one route object it prints.
fn ip_route_get(ns: Option<&str>, addr: &str) -> serde_json::Value {
    let mut c = Command::new("ip");
    if let Some(ns) = ns {
        c.args(["-n", ns]);
    }
    let out = c
        .args(["-j", "route", "get", addr])
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip route get {addr}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip's JSON");
    v[0].clone()
}

/// Checks our route against iproute2's object for the same destination.
fn same_as_ip(ours: &route::Route, theirs: &serde_json::Value, addr: &str) {
    let kind = theirs["type"].as_str().unwrap_or("unicast");
    assert_eq!(ours.kind.name(), kind, "{addr}: type");
    assert_eq!(
        ours.ifname.as_deref(),
        theirs["dev"].as_str(),
        "{addr}: dev"
    );
    assert_eq!(
        ours.source.map(|s| s.to_string()).as_deref(),
        theirs["prefsrc"].as_str(),
        "{addr}: prefsrc"
    );
    assert_eq!(
        ours.gateway.map(|g| g.to_string()).as_deref(),
        theirs["gateway"].as_str(),
        "{addr}: gateway"
    );
}

#[test]
fn loopback_routes_match_ip_route_get() {
    if !tool("ip") {
        return;
    }
    for addr in ["127.0.0.1", "::1"] {
        let ip: IpAddr = addr.parse().unwrap();
        let ours = route::get(ip).unwrap_or_else(|e| panic!("{addr}: {e}"));
        assert_eq!(ours.kind, RouteKind::Local, "{addr}");
        assert!(ours.ifindex.is_some(), "{addr}: no interface");
        same_as_ip(&ours, &ip_route_get(None, addr), addr);
    }
}

/// The index of interface `name` in this thread's namespace (None when there is none).
fn if_index(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: a NUL-terminated name.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// Runs `f` on a thread that has entered namespace `ns` (setns affects that thread only).
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = std::fs::File::open(format!("/run/netns/{ns}")).expect("open the namespace");
    std::thread::spawn(move || {
        // SAFETY: a valid descriptor of a network namespace; only this thread moves.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("the namespace thread panicked")
}

#[test]
fn refusing_routes_in_a_namespace() {
    if !privileged("route types in a test namespace") || !tool("ip") {
        return;
    }
    // The test host (removed on drop, also when an assertion fails) gives a namespace with a
    // veth towards this one.
    // Its /24 must not be one of the prefixes routed below (a connected route would clash).
    let taken = |h: &TestHost| (95..=99).any(|n| h.host_ip.starts_with(&format!("198.18.{n}.")));
    let mut h = TestHost::new();
    while taken(&h) {
        h = TestHost::new();
    }
    for (kind, net) in [
        ("unreachable", "198.18.99.0/24"),
        ("prohibit", "198.18.98.0/24"),
        ("blackhole", "198.18.97.0/24"),
        ("throw", "198.18.96.0/24"),
    ] {
        ip(&["-n", &h.ns, "route", "add", kind, net]).expect("add route");
    }
    ip(&[
        "-n",
        &h.ns,
        "-6",
        "route",
        "add",
        "prohibit",
        "2001:db8:98::/48",
    ])
    .expect("add route");
    // A unicast route through the host's end of the veth.
    ip(&[
        "-n",
        &h.ns,
        "route",
        "add",
        "198.18.95.0/24",
        "via",
        &h.host_ip,
    ])
    .expect("add route");
    let cases = [
        ("198.18.99.1", RouteKind::Unreachable),
        ("198.18.98.1", RouteKind::Prohibit),
        ("198.18.97.1", RouteKind::Blackhole),
        // A throw route ends the lookup in this table, and no other has a route.
        ("198.18.96.1", RouteKind::None),
        ("203.0.113.1", RouteKind::None),
        ("2001:db8:98::1", RouteKind::Prohibit),
        ("2001:db8:5::1", RouteKind::None),
    ];
    let got = in_netns(&h.ns, move || {
        cases
            .iter()
            .map(|(a, _)| route::get(a.parse().unwrap()).map_err(|e| e.to_string()))
            .collect::<Vec<_>>()
    });
    for ((addr, want), r) in cases.iter().zip(got) {
        let r = r.unwrap_or_else(|e| panic!("{addr}: {e}"));
        assert_eq!(r.kind, *want, "{addr}");
        assert_eq!(r.ifindex, None, "{addr}");
        assert_eq!(r.gateway, None, "{addr}");
    }
    let ns = h.ns.clone();
    let via = in_netns(&h.ns, || route::get("198.18.95.7".parse().unwrap()));
    let via = via.unwrap_or_else(|e| panic!("198.18.95.7: {e}"));
    assert_eq!(via.kind, RouteKind::Unicast);
    assert_eq!(via.ifname.as_deref(), Some(h.peer_if.as_str()));
    assert_eq!(via.gateway, Some(h.host_ip.parse().unwrap()));
    same_as_ip(&via, &ip_route_get(Some(&ns), "198.18.95.7"), "198.18.95.7");
    // From this namespace, the test host's address is on the veth, directly.
    let direct = route::get(h.ns_ip.parse().unwrap()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(direct.kind, RouteKind::Unicast);
    assert_eq!(direct.ifname.as_deref(), Some(h.host_if.as_str()));
    assert_eq!(direct.source, Some(h.host_ip.parse().unwrap()));
    same_as_ip(&direct, &ip_route_get(None, &h.ns_ip), &h.ns_ip);
}

#[test]
fn no_neighbour_entry_on_loopback() {
    // Loopback resolves no neighbours: no entry, and no error.
    let lo = route::get("127.0.0.1".parse().unwrap())
        .unwrap_or_else(|e| panic!("{e}"))
        .ifindex
        .expect("loopback's route names its interface");
    let got = neigh::get(lo, "127.0.0.1".parse().unwrap()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, None);
}

#[test]
fn neighbour_states_in_a_namespace() {
    if !privileged("neighbour entries in a test namespace") || !tool("ip") {
        return;
    }
    let h = TestHost::new();
    let subnet = h.ns_ip.rsplit_once('.').map(|(net, _)| net.to_string());
    let subnet = subnet.expect("the test host's IPv4 address");
    // States the kernel keeps as set (no timer that would send a probe and move them on).
    let cases = [
        (50, "permanent", NeighState::Permanent),
        (51, "noarp", NeighState::Noarp),
        (52, "stale", NeighState::Stale),
        (53, "reachable", NeighState::Reachable),
        (54, "failed", NeighState::Failed),
    ];
    for (host, nud, _) in &cases {
        let addr = format!("{subnet}.{host}");
        let mut args = vec!["-n", &h.ns, "neigh", "replace", &addr];
        if *nud != "failed" {
            args.extend(["lladdr", "02:00:00:00:00:01"]);
        }
        args.extend(["dev", &h.peer_if, "nud", nud]);
        ip(&args).expect("set a neighbour entry");
    }
    let (peer, sub) = (h.peer_if.clone(), subnet.clone());
    let got = in_netns(&h.ns, move || {
        let index = if_index(&peer);
        let mut out = Vec::new();
        for (host, _, _) in cases {
            let addr: IpAddr = format!("{sub}.{host}").parse().unwrap();
            out.push(index.map(|i| neigh::get(i, addr).map_err(|e| e.to_string())));
        }
        // An address with no entry.
        out.push(index.map(|i| {
            neigh::get(i, format!("{sub}.99").parse().unwrap()).map_err(|e| e.to_string())
        }));
        out
    });
    let want: Vec<Option<NeighState>> = cases
        .iter()
        .map(|(_, _, s)| Some(*s))
        .chain([None])
        .collect();
    for (r, w) in got.into_iter().zip(want) {
        let r = r
            .expect("the veth's index")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r, w);
    }
}
