//! Filter expressions come from the user, and compiled programs run over untrusted packets: the
//! parser must reject garbage with an error, compilation must never panic, and the interpreter
//! must never read out of bounds. The input's first line is the expression, the rest a packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::packet::LinkType;
use sockscope::packet::filter::Filter;

fuzz_target!(|data: &[u8]| {
    let (expr, packet) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(expr) = std::str::from_utf8(expr) else {
        return;
    };
    let words: Vec<String> = expr.split_whitespace().map(str::to_string).collect();
    let Ok(filter) = Filter::parse(&words) else {
        return;
    };
    for link in [
        LinkType::Ethernet,
        LinkType::Raw,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::Null,
    ] {
        if let Ok(program) = filter.compile(link) {
            let _ = program.matches(packet, packet.len() as u32);
        }
    }
});
