//! Writing classic pcap files (version 2.4, in the host's byte order), which every tool reads.

use std::io::{self, Write};
use std::time::Duration;

use super::MAX_SNAPLEN;
use super::read::{PCAP_MAGIC_MICRO, PCAP_MAGIC_NANO};
use crate::packet::LinkType;

/// The unit of the timestamps in a written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Microseconds: the classic format, read by everything.
    Micro,
    /// Nanoseconds: read by libpcap 1.5+, tcpdump and Wireshark.
    Nano,
}

/// A classic pcap file being written.
///
/// Give it a buffered output (`BufWriter<File>`): each packet is two small writes, with no
/// allocation.
#[derive(Debug)]
pub struct Writer<W: Write> {
    output: W,
    snaplen: u32,
    precision: Precision,
}

impl<W: Write> Writer<W> {
    /// Writes the file header. A `snaplen` of 0 or above [`MAX_SNAPLEN`] means
    /// [`MAX_SNAPLEN`], as with tcpdump's `-s 0`. A link type number that does not fit the 16
    /// bits pcap has for it is an `InvalidInput` error.
    pub fn new(
        mut output: W,
        link: LinkType,
        snaplen: u32,
        precision: Precision,
    ) -> io::Result<Self> {
        let number = link.number();
        let Ok(number16) = u16::try_from(number) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("link type {number} does not fit in a pcap file header"),
            ));
        };
        let snaplen = if snaplen == 0 {
            MAX_SNAPLEN
        } else {
            snaplen.min(MAX_SNAPLEN)
        };
        let magic = match precision {
            Precision::Micro => PCAP_MAGIC_MICRO,
            Precision::Nano => PCAP_MAGIC_NANO,
        };
        let mut header = [0u8; 24];
        put(&mut header, 0, &magic.to_ne_bytes());
        put(&mut header, 4, &2u16.to_ne_bytes());
        put(&mut header, 6, &4u16.to_ne_bytes());
        // Bytes 8..16: time zone offset and timestamp accuracy, always 0.
        put(&mut header, 16, &snaplen.to_ne_bytes());
        put(&mut header, 20, &u32::from(number16).to_ne_bytes());
        output.write_all(&header)?;
        Ok(Writer {
            output,
            snaplen,
            precision,
        })
    }

    /// Writes one packet captured at `ts` (since the epoch): the first snaplen bytes of
    /// `data`, and `orig_len` as its length on the wire (raised to the captured length if
    /// smaller). Seconds past 2106, beyond the format, are written as its last second.
    pub fn write(&mut self, ts: Duration, data: &[u8], orig_len: u32) -> io::Result<()> {
        let data = data.get(..self.snaplen as usize).unwrap_or(data);
        // At most the snaplen, itself at most MAX_SNAPLEN: the length fits a u32.
        let caplen = u32::try_from(data.len()).unwrap_or(self.snaplen);
        let secs = u32::try_from(ts.as_secs()).unwrap_or(u32::MAX);
        let frac = match self.precision {
            Precision::Micro => ts.subsec_micros(),
            Precision::Nano => ts.subsec_nanos(),
        };
        let mut header = [0u8; 16];
        put(&mut header, 0, &secs.to_ne_bytes());
        put(&mut header, 4, &frac.to_ne_bytes());
        put(&mut header, 8, &caplen.to_ne_bytes());
        put(&mut header, 12, &orig_len.max(caplen).to_ne_bytes());
        self.output.write_all(&header)?;
        self.output.write_all(data)
    }

    /// Flushes the output.
    pub fn flush(&mut self) -> io::Result<()> {
        self.output.flush()
    }

    /// The output, for the caller to flush or close (a `BufWriter` must be flushed to see
    /// write errors).
    pub fn into_inner(self) -> W {
        self.output
    }
}

/// Copies `bytes` into `header` at `at`; both are fixed by the caller, always within bounds.
fn put(header: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = header.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::pcap::Reader;

    /// Writes `packets` (time, bytes, original length) and reads them back.
    fn round_trip(
        link: LinkType,
        snaplen: u32,
        precision: Precision,
        packets: &[(Duration, &[u8], u32)],
    ) -> Vec<(Duration, LinkType, Vec<u8>, u32)> {
        let mut writer = Writer::new(Vec::new(), link, snaplen, precision).unwrap();
        for (ts, data, orig_len) in packets {
            writer.write(*ts, data, *orig_len).unwrap();
        }
        writer.flush().unwrap();
        let file = writer.into_inner();
        let mut reader = Reader::new(&file[..]).unwrap();
        let mut frames = Vec::new();
        while let Some(f) = reader.next_frame().unwrap() {
            assert_eq!(f.interface, None);
            frames.push((f.ts, f.link, f.data.to_vec(), f.orig_len));
        }
        assert_eq!(reader.truncated(), None);
        frames
    }

    #[test]
    fn header_is_pcap_2_4_in_host_byte_order() {
        for (precision, magic) in [
            (Precision::Micro, 0xa1b2_c3d4u32),
            (Precision::Nano, 0xa1b2_3c4d),
        ] {
            let file = Writer::new(Vec::new(), LinkType::LinuxSll2, 1500, precision)
                .unwrap()
                .into_inner();
            let mut want = Vec::new();
            want.extend(magic.to_ne_bytes());
            want.extend(2u16.to_ne_bytes());
            want.extend(4u16.to_ne_bytes());
            want.extend([0; 8]);
            want.extend(1500u32.to_ne_bytes());
            want.extend(276u32.to_ne_bytes());
            assert_eq!(file, want);
        }
    }

    #[test]
    fn round_trip_keeps_time_to_the_precision() {
        let a: Vec<u8> = (0..=255).collect();
        let ts = Duration::new(1_700_000_000, 123_456_789);
        let packets: [(Duration, &[u8], u32); 3] = [
            (ts, &a, 256),
            (Duration::new(1_700_000_001, 999_999_999), &a[..14], 14),
            (Duration::ZERO, &[], 0),
        ];
        let micro = round_trip(LinkType::Ethernet, 0, Precision::Micro, &packets);
        let nano = round_trip(LinkType::Ethernet, 0, Precision::Nano, &packets);
        assert_eq!(micro.len(), 3);
        for ((got_us, got_ns), (ts, data, orig_len)) in micro.iter().zip(&nano).zip(&packets) {
            assert_eq!(got_ns, &(*ts, LinkType::Ethernet, data.to_vec(), *orig_len));
            let us = Duration::new(ts.as_secs(), ts.subsec_micros() * 1000);
            assert_eq!(got_us, &(us, LinkType::Ethernet, data.to_vec(), *orig_len));
        }
    }

    #[test]
    fn data_is_cut_to_the_snaplen_and_orig_len_covers_it() {
        let data: Vec<u8> = (0..100).collect();
        let ts = Duration::from_secs(5);
        let frames = round_trip(
            LinkType::Raw,
            64,
            Precision::Nano,
            &[(ts, &data, 1500), (ts, &data, 10), (ts, &data[..20], 0)],
        );
        assert_eq!(
            frames,
            [
                (ts, LinkType::Raw, data[..64].to_vec(), 1500),
                (ts, LinkType::Raw, data[..64].to_vec(), 64),
                (ts, LinkType::Raw, data[..20].to_vec(), 20),
            ]
        );
    }

    #[test]
    fn snaplen_zero_or_too_large_is_the_maximum() {
        let big = vec![0x5a; MAX_SNAPLEN as usize + 100];
        for snaplen in [0, MAX_SNAPLEN + 1, u32::MAX] {
            let frames = round_trip(
                LinkType::Ethernet,
                snaplen,
                Precision::Micro,
                &[(Duration::ZERO, &big, 70_000)],
            );
            assert_eq!(frames[0].2.len(), MAX_SNAPLEN as usize);
            assert_eq!(frames[0].3, MAX_SNAPLEN);
        }
    }

    #[test]
    fn seconds_beyond_the_format_are_its_last_second() {
        let frames = round_trip(
            LinkType::Ethernet,
            0,
            Precision::Nano,
            &[(Duration::new(u64::from(u32::MAX) + 1, 7), &[1], 1)],
        );
        assert_eq!(frames[0].0, Duration::new(u32::MAX.into(), 7));
    }

    #[test]
    fn link_types_beyond_16_bits_are_refused() {
        let e =
            Writer::new(Vec::new(), LinkType::Other(0x1_0001), 0, Precision::Micro).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let frames = round_trip(
            LinkType::Other(0xffff),
            0,
            Precision::Micro,
            &[(Duration::ZERO, &[1], 1)],
        );
        assert_eq!(frames[0].1, LinkType::Other(0xffff));
    }
}
