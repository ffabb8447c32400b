//! pcap and pcapng files of any content: the reader must read every record until an error or
//! the end, never panic, never hang, never allocate beyond its bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::packet::pcap::Reader;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = Reader::new(data) else {
        return;
    };
    let mut frames = 0usize;
    while let Ok(Some(frame)) = reader.next_frame() {
        // No record takes fewer than 16 bytes of the file.
        frames += 1;
        assert!(frames <= data.len() / 16);
        assert!(frame.data.len() <= data.len());
    }
    let _ = reader.truncated();
});
