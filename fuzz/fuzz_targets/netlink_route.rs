//! NETLINK_ROUTE answers as the kernel sends them (an RTM_NEWROUTE or RTM_NEWNEIGH message, or
//! an NLMSG_ERROR): the route and neighbour parsers must take what is there and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::probe::neigh::parse_neigh;
use sockscope::probe::route::parse_route;

fuzz_target!(|data: &[u8]| {
    if let Some(r) = parse_route(data) {
        let _ = r.kind.name();
    }
    if let Some(s) = parse_neigh(data) {
        let _ = s.name();
    }
});
