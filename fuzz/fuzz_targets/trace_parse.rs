//! What `trace` reads off the wire: ICMP/ICMPv6 answers quoting its probes (echo, TCP, UDP)
//! and TCP segments, with and without an IPv4 header in front, then matched against probes.
//! The parsers must return None on anything malformed, never panic.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use sockscope::ping::packet::Family;
use sockscope::ping::trace::{Wire, match_icmp, match_tcp, parse_icmp, parse_tcp};

fuzz_target!(|data: &[u8]| {
    let t = IpAddr::V4(Ipv4Addr::new(198, 18, 3, 2));
    let wires = [
        Wire::Icmp { id: 1 },
        Wire::Tcp { sport: 40000, dport: 80, base: 7 },
        Wire::Udp { dport: 33434 },
    ];
    for (family, with_ip) in [(Family::V4, true), (Family::V4, false), (Family::V6, false)] {
        if let Some(a) = parse_icmp(family, data, with_ip) {
            for w in wires {
                let _ = match_icmp(w, t, t, &a);
            }
        }
    }
    for with_ip in [true, false] {
        if let Some(s) = parse_tcp(data, with_ip) {
            let _ = match_tcp(wires[1], t, t, &s);
        }
    }
});
