//! ICMP/ICMPv6 replies and errors off the wire, with and without an IPv4 header in front:
//! the parsers must return None on anything malformed, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::ping::packet::{Family, parse_own_request, parse_v4, parse_v6};

fuzz_target!(|data: &[u8]| {
    let _ = parse_v4(data, true);
    let _ = parse_v4(data, false);
    let _ = parse_v6(data);
    let _ = parse_own_request(Family::V4, data);
    let _ = parse_own_request(Family::V6, data);
});
