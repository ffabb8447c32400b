//! Frames off the wire or out of a capture file, under every link type: the decoder must
//! decode what is there and mark the rest truncated or malformed, and the renderers must turn
//! whatever it made into one line without control characters and one JSON object, never
//! panicking. The first byte chooses the link type; the rest is the frame.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sockscope::output::packet::{packet_json, packet_line};
use sockscope::packet::decode::decode;
use sockscope::packet::{Frame, LinkType};

const LINKS: [LinkType; 8] = [
    LinkType::Ethernet,
    LinkType::Raw,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Null,
    LinkType::Other(147),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, frame)) = data.split_first() else {
        return;
    };
    let link = LINKS[usize::from(selector) % LINKS.len()];
    let decoded = decode(link, frame);
    let f = Frame {
        ts: Duration::new(1_795_493_520, 123_456_789),
        link,
        data: frame,
        // A wire length from the selector's high bits: equal to, or longer than, the capture.
        orig_len: (frame.len() as u32).saturating_add(u32::from(selector >> 4)),
        interface: Some("eth0"),
    };
    let line = packet_line(&f, &decoded);
    assert!(!line.chars().any(char::is_control), "{line:?}");
    let record = packet_json(&f, &decoded);
    assert_eq!(record.record_type, "packet");
    assert!(record.truncated || !decoded.truncated);
});
