//! /proc/net/snmp, netstat and snmp6-style counter files: damaged text must give an error,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::stats::{Counters, Source};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for source in Source::ALL {
            let _ = Counters::parse(&[(source, text)]);
        }
        let _ = Counters::parse(&[(Source::Snmp, text), (Source::Snmp6, text)]);
    }
});
