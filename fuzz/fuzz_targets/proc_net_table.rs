//! /proc/net/raw{,6}-style tables: damaged text must give an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::sockets::Family;
use sockscope::sockets::linux::procnet::parse_table;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_table(text, Family::Inet);
        let _ = parse_table(text, Family::Inet6);
    }
});
