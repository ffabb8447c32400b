//! Reading classic pcap and pcapng files, record by record.
//!
//! Every length taken from the file is checked before it is used: a record may not claim more
//! than [`MAX_SNAPLEN`] captured bytes, a pcapng block more than [`MAX_BLOCK_LEN`], so the one
//! reusable buffer never grows past that whatever the input says. Every step consumes input, so
//! damaged files end in an error or a clean end, never in a loop.

use std::io::{self, Read};
use std::time::Duration;

use super::MAX_SNAPLEN;
use crate::packet::{Frame, LinkType};

/// Classic pcap magic with microsecond timestamps.
pub(super) const PCAP_MAGIC_MICRO: u32 = 0xa1b2_c3d4;
/// Classic pcap magic with nanosecond timestamps.
pub(super) const PCAP_MAGIC_NANO: u32 = 0xa1b2_3c4d;
/// Classic pcap file header: magic, version, zone, sigfigs, snaplen, network.
const PCAP_HEADER_LEN: usize = 24;
/// Classic pcap record header: seconds, fraction, captured length, original length.
const PCAP_RECORD_HEADER_LEN: usize = 16;

/// pcapng Section Header Block type: the same in both byte orders.
const BT_SHB: u32 = 0x0A0D_0D0A;
/// pcapng Interface Description Block.
const BT_IDB: u32 = 1;
/// pcapng (obsolete) Packet Block.
const BT_PB: u32 = 2;
/// pcapng Simple Packet Block.
const BT_SPB: u32 = 3;
/// pcapng Enhanced Packet Block.
const BT_EPB: u32 = 6;
/// pcapng byte-order magic, written in the writer's byte order.
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// The smallest pcapng block: type, length, trailing length.
const MIN_BLOCK_LEN: u32 = 12;
/// The smallest Section Header Block: the block frame, byte-order magic, version, section length.
const MIN_SHB_LEN: u32 = 28;

/// The longest pcapng block read: an Enhanced Packet Block of [`MAX_SNAPLEN`] bytes with 128 KiB
/// of options, the limit Wireshark sets too. Longer blocks are taken for damage.
const MAX_BLOCK_LEN: u32 = 32 + MAX_SNAPLEN + 131_072;
/// The most interfaces one pcapng section may describe, which bounds the memory a file made of
/// nothing but interface descriptions can take.
const MAX_INTERFACES: usize = 65_536;
/// Interface names longer than this are cut (at a character boundary) when kept.
const MAX_NAME_LEN: usize = 256;

/// pcapng Interface Description Block options.
const OPT_ENDOFOPT: u16 = 0;
const OPT_IF_NAME: u16 = 2;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// Why a file cannot be read (further).
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// The file starts with neither a pcap nor a pcapng magic number.
    #[error("not a pcap or pcapng file")]
    NotPcap,
    /// The file is shorter than any magic number.
    #[error("not a pcap or pcapng file: only {len} bytes long")]
    TooShort {
        /// The length of the file.
        len: usize,
    },
    /// The file ends inside its file or first section header.
    #[error("file ends inside its {format} header, after {got} of {need} bytes")]
    ShortHeader {
        /// "pcap" or "pcapng".
        format: &'static str,
        /// The bytes there are.
        got: u64,
        /// The bytes the header needs.
        need: u64,
    },
    /// A format version this reader does not know.
    #[error("unsupported {format} version {major}.{minor} at byte {offset}")]
    Version {
        /// "pcap" or "pcapng".
        format: &'static str,
        /// The major version in the file.
        major: u16,
        /// The minor version in the file.
        minor: u16,
        /// Where the header that says so starts.
        offset: u64,
    },
    /// A record or block that cannot be right: absurd lengths, lengths that disagree.
    #[error("damaged file at byte {offset}: {reason}")]
    Damaged {
        /// Where the damaged record or block starts.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A pcapng packet for an interface its section has not described.
    #[error(
        "damaged file at byte {offset}: packet for interface {id}, but the section describes {count} interface(s)"
    )]
    NoInterface {
        /// Where the packet block starts.
        offset: u64,
        /// The interface it names.
        id: u32,
        /// How many interfaces the section describes before it.
        count: usize,
    },
    /// Reading failed.
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
}

fn damaged(offset: u64, reason: String) -> PcapError {
    PcapError::Damaged { offset, reason }
}

/// The byte order of a file or pcapng section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    /// The byte order a pcapng byte-order magic was written in.
    fn of_byte_order_magic(b: [u8; 4]) -> Option<Endian> {
        if u32::from_le_bytes(b) == BYTE_ORDER_MAGIC {
            Some(Endian::Little)
        } else if u32::from_be_bytes(b) == BYTE_ORDER_MAGIC {
            Some(Endian::Big)
        } else {
            None
        }
    }

    fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        }
    }

    fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }

    fn u64(self, b: [u8; 8]) -> u64 {
        match self {
            Endian::Little => u64::from_le_bytes(b),
            Endian::Big => u64::from_be_bytes(b),
        }
    }
}

/// Fixed-size fields of a record or block body in a known byte order; `None` past its end.
#[derive(Clone, Copy)]
struct Fields<'a> {
    buf: &'a [u8],
    endian: Endian,
}

impl Fields<'_> {
    fn bytes<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        self.buf.get(at..at.checked_add(N)?)?.try_into().ok()
    }

    fn u16(&self, at: usize) -> Option<u16> {
        Some(self.endian.u16(self.bytes(at)?))
    }

    fn u32(&self, at: usize) -> Option<u32> {
        Some(self.endian.u32(self.bytes(at)?))
    }

    fn u64(&self, at: usize) -> Option<u64> {
        Some(self.endian.u64(self.bytes(at)?))
    }
}

/// The unit of a pcapng interface's timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolution {
    /// 10^-n seconds.
    Decimal(u8),
    /// 2^-n seconds.
    Binary(u8),
}

impl Resolution {
    /// The if_tsresol option byte: the high bit chooses powers of 2 over powers of 10.
    fn from_option(b: u8) -> Resolution {
        if b & 0x80 != 0 {
            Resolution::Binary(b & 0x7f)
        } else {
            Resolution::Decimal(b)
        }
    }

    /// `units` of this resolution as a duration, to the nanosecond (rounded down).
    fn duration(self, units: u64) -> Duration {
        const NANOS: u128 = 1_000_000_000;
        // units < 2^64 and NANOS < 2^30, so the product fits a u128 with room to spare.
        let scaled = u128::from(units) * NANOS;
        let nanos = match self {
            // 10^n beyond u128 makes every count smaller than a nanosecond.
            Resolution::Decimal(n) => 10u128.checked_pow(n.into()).map_or(0, |d| scaled / d),
            // n < 128 after the mask: the shift is always defined.
            Resolution::Binary(n) => scaled >> n,
        };
        // The resolution is at most a second, so the seconds fit a u64.
        let secs = u64::try_from(nanos / NANOS).unwrap_or(u64::MAX);
        let subsec = u32::try_from(nanos % NANOS).unwrap_or(0);
        Duration::new(secs, subsec)
    }
}

/// What a pcapng Interface Description Block says about its interface.
#[derive(Debug)]
struct Interface {
    link: LinkType,
    /// 0: no limit.
    snaplen: u32,
    resolution: Resolution,
    /// if_tsoffset: seconds to add to every timestamp.
    offset_secs: i64,
    name: Option<String>,
}

impl Interface {
    /// A timestamp of this interface since the epoch.
    fn timestamp(&self, high: u32, low: u32) -> Duration {
        let units = (u64::from(high) << 32) | u64::from(low);
        let ts = self.resolution.duration(units);
        let shift = Duration::from_secs(self.offset_secs.unsigned_abs());
        if self.offset_secs >= 0 {
            ts.saturating_add(shift)
        } else {
            ts.saturating_sub(shift)
        }
    }
}

/// The format of the file being read.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Classic pcap: one link type and one timestamp unit for the whole file.
    Pcap { nano: bool, link: LinkType },
    /// pcapng: link type and timestamp unit per interface.
    PcapNg,
}

/// Whether a read filled what was asked, or the input ended first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    Complete,
    Ended,
}

/// Where the next frame's bytes are in the buffer, and what else is known about it.
struct Record {
    ts: Duration,
    link: LinkType,
    start: usize,
    len: usize,
    orig_len: u32,
    interface: Option<usize>,
}

/// A streaming reader of classic pcap and pcapng files.
///
/// Give it a buffered input (`BufReader<File>`): it reads each record with a few small reads.
#[derive(Debug)]
pub struct Reader<R> {
    input: R,
    kind: Kind,
    /// Byte order of the file (pcap) or of the current section (pcapng).
    endian: Endian,
    /// The interfaces of the current pcapng section, by interface id.
    interfaces: Vec<Interface>,
    /// The current record or block; never longer than [`MAX_BLOCK_LEN`].
    buf: Vec<u8>,
    /// Bytes consumed from the input so far.
    offset: u64,
    /// Where the record the file ends inside starts.
    truncated: Option<u64>,
    /// The end or an error has been reached: nothing more is read.
    finished: bool,
}

impl<R: Read> Reader<R> {
    /// Reads the file header (pcap) or first section header (pcapng) and gets ready to read
    /// frames. The format is told by the magic number; both byte orders are read.
    pub fn new(mut input: R) -> Result<Self, PcapError> {
        let mut magic = [0u8; 4];
        let got = read_full(&mut input, &mut magic)?;
        if got < magic.len() {
            return Err(PcapError::TooShort { len: got });
        }
        let mut reader = Reader {
            input,
            kind: Kind::PcapNg,
            endian: Endian::Little,
            interfaces: Vec::new(),
            buf: Vec::new(),
            offset: magic.len() as u64,
            truncated: None,
            finished: false,
        };
        let (le, be) = (u32::from_le_bytes(magic), u32::from_be_bytes(magic));
        if le == BT_SHB {
            reader.first_section_header()?;
            return Ok(reader);
        }
        let (endian, nano) = match (le, be) {
            (PCAP_MAGIC_MICRO, _) => (Endian::Little, false),
            (PCAP_MAGIC_NANO, _) => (Endian::Little, true),
            (_, PCAP_MAGIC_MICRO) => (Endian::Big, false),
            (_, PCAP_MAGIC_NANO) => (Endian::Big, true),
            _ => return Err(PcapError::NotPcap),
        };
        reader.endian = endian;
        reader.pcap_header(nano)?;
        Ok(reader)
    }

    /// The rest of a classic pcap file header, after its magic.
    fn pcap_header(&mut self, nano: bool) -> Result<(), PcapError> {
        let rest = PCAP_HEADER_LEN - 4;
        if self.fill(rest)? == Fill::Ended {
            return Err(PcapError::ShortHeader {
                format: "pcap",
                got: self.offset,
                need: PCAP_HEADER_LEN as u64,
            });
        }
        // Offsets below are from the end of the magic.
        let f = Fields {
            buf: self.buf.get(..rest).unwrap_or_default(),
            endian: self.endian,
        };
        let short = || damaged(0, "short file header".to_string());
        let major = f.u16(0).ok_or_else(short)?;
        let minor = f.u16(2).ok_or_else(short)?;
        if major != 2 {
            return Err(PcapError::Version {
                format: "pcap",
                major,
                minor,
                offset: 0,
            });
        }
        // The upper 16 bits of the network field hold the FCS length and reserved bits.
        let network = f.u32(16).ok_or_else(short)?;
        self.kind = Kind::Pcap {
            nano,
            link: LinkType::from_number(network & 0xffff),
        };
        Ok(())
    }

    /// The rest of the Section Header Block a pcapng file starts with, after its block type.
    fn first_section_header(&mut self) -> Result<(), PcapError> {
        let mut head = [0u8; 8];
        let got = read_full(&mut self.input, &mut head)?;
        self.offset += got as u64;
        if got < head.len() {
            return Err(PcapError::ShortHeader {
                format: "pcapng",
                got: self.offset,
                need: MIN_SHB_LEN.into(),
            });
        }
        let [l0, l1, l2, l3, b0, b1, b2, b3] = head;
        let len_bytes = [l0, l1, l2, l3];
        let bom = [b0, b1, b2, b3];
        // Text with CRLF line ends can start like a section header; the byte-order magic cannot.
        let Some(endian) = Endian::of_byte_order_magic(bom) else {
            return Err(PcapError::NotPcap);
        };
        if self.section_header(0, len_bytes, bom)? == Fill::Ended {
            return Err(PcapError::ShortHeader {
                format: "pcapng",
                got: self.offset,
                need: endian.u32(len_bytes).into(),
            });
        }
        Ok(())
    }

    /// The rest of a Section Header Block starting at `start`, after its type, length and
    /// byte-order magic: a new section, with its own byte order and no interfaces yet.
    fn section_header(
        &mut self,
        start: u64,
        len_bytes: [u8; 4],
        bom: [u8; 4],
    ) -> Result<Fill, PcapError> {
        let Some(endian) = Endian::of_byte_order_magic(bom) else {
            return Err(damaged(
                start,
                format!("section header block with a bad byte-order magic {bom:02x?}"),
            ));
        };
        let len = endian.u32(len_bytes);
        check_block_len(start, BT_SHB, len)?;
        // Version, section length, options and the trailing length.
        let rest = len as usize - 12;
        if self.fill(rest)? == Fill::Ended {
            return Ok(Fill::Ended);
        }
        let f = Fields {
            buf: self.buf.get(..rest).unwrap_or_default(),
            endian,
        };
        check_trailer(start, len, f.u32(rest - 4))?;
        let major = f.u16(0).unwrap_or_default();
        let minor = f.u16(2).unwrap_or_default();
        if major != 1 {
            return Err(PcapError::Version {
                format: "pcapng",
                major,
                minor,
                offset: start,
            });
        }
        self.endian = endian;
        self.interfaces.clear();
        Ok(Fill::Complete)
    }

    /// The next frame of the file; `Ok(None)` at its end, or when it ends inside the last
    /// record (see [`Reader::truncated`]). After the end or an error, always `Ok(None)`.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, PcapError> {
        if self.finished {
            return Ok(None);
        }
        let next = match self.kind {
            Kind::Pcap { nano, link } => self.next_pcap(nano, link),
            Kind::PcapNg => self.next_pcapng(),
        };
        let record = match next {
            Ok(Some(record)) => record,
            Ok(None) => {
                self.finished = true;
                return Ok(None);
            }
            Err(e) => {
                self.finished = true;
                return Err(e);
            }
        };
        let data = record
            .start
            .checked_add(record.len)
            .and_then(|end| self.buf.get(record.start..end))
            .unwrap_or_default();
        let interface = record
            .interface
            .and_then(|id| self.interfaces.get(id))
            .and_then(|i| i.name.as_deref());
        Ok(Some(Frame {
            ts: record.ts,
            link: record.link,
            data,
            orig_len: record.orig_len,
            interface,
        }))
    }

    /// Where the record starts that the file ends inside of, if it does: everything before it
    /// was read. tcpdump calls such a file a "truncated dump file"; it is what a capture that
    /// was killed, or a copy of a file still being written, looks like.
    pub fn truncated(&self) -> Option<u64> {
        self.truncated
    }

    /// The next classic pcap record.
    fn next_pcap(&mut self, nano: bool, link: LinkType) -> Result<Option<Record>, PcapError> {
        let start = self.offset;
        let mut head = [0u8; PCAP_RECORD_HEADER_LEN];
        let got = read_full(&mut self.input, &mut head)?;
        self.offset += got as u64;
        if got == 0 {
            return Ok(None);
        }
        if got < head.len() {
            return Ok(self.ends_inside(start));
        }
        let f = Fields {
            buf: &head,
            endian: self.endian,
        };
        let short = || damaged(start, "short record header".to_string());
        let secs = f.u32(0).ok_or_else(short)?;
        let frac = f.u32(4).ok_or_else(short)?;
        let caplen = f.u32(8).ok_or_else(short)?;
        let orig_len = f.u32(12).ok_or_else(short)?;
        if caplen > MAX_SNAPLEN {
            return Err(damaged(
                start,
                format!(
                    "packet record of {caplen} captured bytes, more than the maximum of {MAX_SNAPLEN}"
                ),
            ));
        }
        let len = caplen as usize;
        if self.fill(len)? == Fill::Ended {
            return Ok(self.ends_inside(start));
        }
        let frac_nanos = if nano {
            u64::from(frac)
        } else {
            u64::from(frac) * 1000
        };
        let ts = Duration::from_secs(secs.into()).saturating_add(Duration::from_nanos(frac_nanos));
        Ok(Some(Record {
            ts,
            link,
            start: 0,
            len,
            orig_len,
            interface: None,
        }))
    }

    /// The next packet of a pcapng file, going through the blocks before it.
    fn next_pcapng(&mut self) -> Result<Option<Record>, PcapError> {
        loop {
            let start = self.offset;
            let mut head = [0u8; 8];
            let got = read_full(&mut self.input, &mut head)?;
            self.offset += got as u64;
            if got == 0 {
                return Ok(None);
            }
            if got < head.len() {
                return Ok(self.ends_inside(start));
            }
            let [t0, t1, t2, t3, l0, l1, l2, l3] = head;
            let (type_bytes, len_bytes) = ([t0, t1, t2, t3], [l0, l1, l2, l3]);
            // The Section Header Block type reads the same in both byte orders; its length can
            // only be read after the byte-order magic that follows.
            if u32::from_le_bytes(type_bytes) == BT_SHB {
                let mut bom = [0u8; 4];
                let got = read_full(&mut self.input, &mut bom)?;
                self.offset += got as u64;
                if got < bom.len() || self.section_header(start, len_bytes, bom)? == Fill::Ended {
                    return Ok(self.ends_inside(start));
                }
                continue;
            }
            let block_type = self.endian.u32(type_bytes);
            let len = self.endian.u32(len_bytes);
            check_block_len(start, block_type, len)?;
            // The body and the trailing length.
            let rest = len as usize - 8;
            if self.fill(rest)? == Fill::Ended {
                return Ok(self.ends_inside(start));
            }
            let body_len = rest - 4;
            let f = Fields {
                buf: self.buf.get(..rest).unwrap_or_default(),
                endian: self.endian,
            };
            check_trailer(start, len, f.u32(body_len))?;
            let body = Fields {
                buf: self.buf.get(..body_len).unwrap_or_default(),
                endian: self.endian,
            };
            match block_type {
                BT_IDB => {
                    let interface = interface_description(start, body)?;
                    if self.interfaces.len() >= MAX_INTERFACES {
                        return Err(damaged(
                            start,
                            format!("more than {MAX_INTERFACES} interfaces in one section"),
                        ));
                    }
                    self.interfaces.push(interface);
                }
                BT_EPB | BT_PB => return self.timed_packet(start, block_type, body).map(Some),
                BT_SPB => return self.simple_packet(start, body).map(Some),
                // Name resolution, statistics, decryption secrets, custom blocks, and block
                // types yet to come: nothing a frame needs.
                _ => {}
            }
        }
    }

    /// An Enhanced Packet Block, or the obsolete Packet Block it replaced: the same layout but
    /// for the width of the interface id.
    fn timed_packet(
        &self,
        start: u64,
        block_type: u32,
        body: Fields<'_>,
    ) -> Result<Record, PcapError> {
        const DATA: usize = 20;
        let short = || damaged(start, format!("short {}", block_name(block_type)));
        let id = if block_type == BT_PB {
            body.u16(0).ok_or_else(short)?.into()
        } else {
            body.u32(0).ok_or_else(short)?
        };
        let high = body.u32(4).ok_or_else(short)?;
        let low = body.u32(8).ok_or_else(short)?;
        let caplen = body.u32(12).ok_or_else(short)?;
        let orig_len = body.u32(16).ok_or_else(short)?;
        let room = body.buf.len().saturating_sub(DATA);
        if caplen as usize > room {
            return Err(damaged(
                start,
                format!(
                    "{} of {caplen} captured bytes holds only {room}",
                    block_name(block_type)
                ),
            ));
        }
        if caplen > MAX_SNAPLEN {
            return Err(damaged(
                start,
                format!(
                    "{} of {caplen} captured bytes, more than the maximum of {MAX_SNAPLEN}",
                    block_name(block_type)
                ),
            ));
        }
        let interface = self.interface(start, id)?;
        Ok(Record {
            ts: interface.timestamp(high, low),
            link: interface.link,
            start: DATA,
            len: caplen as usize,
            orig_len,
            interface: Some(id as usize),
        })
    }

    /// A Simple Packet Block: interface 0, no timestamp (the epoch stands in), and a captured
    /// length that is the least of the original length, the block's room and the snaplen.
    fn simple_packet(&self, start: u64, body: Fields<'_>) -> Result<Record, PcapError> {
        const DATA: usize = 4;
        let orig_len = body
            .u32(0)
            .ok_or_else(|| damaged(start, "short simple packet block".to_string()))?;
        let interface = self.interface(start, 0)?;
        let room = body.buf.len().saturating_sub(DATA);
        let mut len = room.min(orig_len as usize);
        if interface.snaplen != 0 {
            len = len.min(interface.snaplen as usize);
        }
        if len > MAX_SNAPLEN as usize {
            return Err(damaged(
                start,
                format!(
                    "simple packet block of {len} captured bytes, more than the maximum of {MAX_SNAPLEN}"
                ),
            ));
        }
        Ok(Record {
            ts: Duration::ZERO,
            link: interface.link,
            start: DATA,
            len,
            orig_len,
            interface: Some(0),
        })
    }

    /// Interface `id` of the current section.
    fn interface(&self, start: u64, id: u32) -> Result<&Interface, PcapError> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.interfaces.get(i))
            .ok_or(PcapError::NoInterface {
                offset: start,
                id,
                count: self.interfaces.len(),
            })
    }

    /// Notes that the input ended inside the record or block at `start`.
    fn ends_inside(&mut self, start: u64) -> Option<Record> {
        self.truncated = Some(start);
        None
    }

    /// Reads `len` bytes (at most [`MAX_BLOCK_LEN`]) into the buffer.
    fn fill(&mut self, len: usize) -> io::Result<Fill> {
        debug_assert!(len <= MAX_BLOCK_LEN as usize);
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        let Some(dst) = self.buf.get_mut(..len) else {
            return Ok(Fill::Ended);
        };
        let got = read_full(&mut self.input, dst)?;
        self.offset += got as u64;
        Ok(if got == len {
            Fill::Complete
        } else {
            Fill::Ended
        })
    }
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_full<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while let Some(rest) = buf.get_mut(got..)
        && !rest.is_empty()
    {
        match input.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n.min(rest.len()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// What a pcapng block type is called, for messages.
fn block_name(block_type: u32) -> &'static str {
    match block_type {
        BT_SHB => "section header block",
        BT_IDB => "interface description block",
        BT_PB => "packet block",
        BT_SPB => "simple packet block",
        BT_EPB => "enhanced packet block",
        _ => "block",
    }
}

/// Checks the total length of a pcapng block against what its type needs, the 32-bit
/// alignment and [`MAX_BLOCK_LEN`].
fn check_block_len(start: u64, block_type: u32, len: u32) -> Result<(), PcapError> {
    let min = match block_type {
        BT_SHB => MIN_SHB_LEN,
        BT_IDB => 20,
        BT_EPB | BT_PB => 32,
        BT_SPB => 16,
        _ => MIN_BLOCK_LEN,
    };
    let name = block_name(block_type);
    if len < min {
        return Err(damaged(
            start,
            format!(
                "{name} (type {block_type:#x}) of {len} bytes, shorter than the {min} it needs"
            ),
        ));
    }
    if !len.is_multiple_of(4) {
        return Err(damaged(
            start,
            format!("{name} (type {block_type:#x}) of {len} bytes, not a multiple of 4"),
        ));
    }
    if len > MAX_BLOCK_LEN {
        return Err(damaged(
            start,
            format!(
                "{name} (type {block_type:#x}) of {len} bytes, more than the maximum of {MAX_BLOCK_LEN}"
            ),
        ));
    }
    Ok(())
}

/// Checks that a block's trailing length repeats its leading one.
fn check_trailer(start: u64, len: u32, trailer: Option<u32>) -> Result<(), PcapError> {
    match trailer {
        Some(t) if t == len => Ok(()),
        Some(t) => Err(damaged(
            start,
            format!("block of {len} bytes ends with a length of {t}"),
        )),
        None => Err(damaged(start, format!("block of {len} bytes is cut short"))),
    }
}

/// An Interface Description Block's body (after type and length, without the trailing length).
fn interface_description(start: u64, body: Fields<'_>) -> Result<Interface, PcapError> {
    const OPTIONS: usize = 8;
    let short = || damaged(start, "short interface description block".to_string());
    let link = body.u16(0).ok_or_else(short)?;
    let snaplen = body.u32(4).ok_or_else(short)?;
    let mut interface = Interface {
        link: LinkType::from_number(link.into()),
        snaplen,
        resolution: Resolution::Decimal(6),
        offset_secs: 0,
        name: None,
    };
    let mut at = OPTIONS;
    // Each option is a 4-byte header and a value padded to 32 bits: every turn moves on.
    while let (Some(code), Some(len)) = (body.u16(at), body.u16(at + 2)) {
        if code == OPT_ENDOFOPT {
            break;
        }
        let value_at = at + 4;
        let len = usize::from(len);
        let Some(value) = body.buf.get(value_at..value_at + len) else {
            return Err(damaged(
                start,
                format!(
                    "interface description option {code} of {len} bytes at byte {} runs past the end of its block",
                    start + 8 + at as u64
                ),
            ));
        };
        match code {
            OPT_IF_NAME => interface.name = Some(interface_name(value)),
            OPT_IF_TSRESOL => {
                if let Some(&b) = value.first() {
                    interface.resolution = Resolution::from_option(b);
                }
            }
            OPT_IF_TSOFFSET => {
                let value = Fields {
                    buf: value,
                    endian: body.endian,
                };
                if let Some(secs) = value.u64(0) {
                    // A signed number of seconds, in two's complement.
                    interface.offset_secs = secs as i64;
                }
            }
            _ => {}
        }
        at = value_at + len.next_multiple_of(4);
    }
    Ok(interface)
}

/// An if_name option value: UTF-8 (damage replaced), up to the NUL some writers end it with,
/// at most [`MAX_NAME_LEN`] bytes.
fn interface_name(value: &[u8]) -> String {
    let end = value
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(value.len())
        .min(MAX_NAME_LEN);
    let mut name = String::from_utf8_lossy(value.get(..end).unwrap_or(value)).into_owned();
    // Replacement characters take more bytes than what they replace.
    if name.len() > MAX_NAME_LEN {
        let mut cut = MAX_NAME_LEN;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame copied out of the reader.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Owned {
        ts: Duration,
        link: LinkType,
        data: Vec<u8>,
        orig_len: u32,
        interface: Option<String>,
    }

    fn owned(f: Frame<'_>) -> Owned {
        Owned {
            ts: f.ts,
            link: f.link,
            data: f.data.to_vec(),
            orig_len: f.orig_len,
            interface: f.interface.map(str::to_string),
        }
    }

    /// The frames of a file, the error that ended them, and where it is truncated.
    type Outcome = (Vec<Owned>, Option<PcapError>, Option<u64>);

    /// Everything a reader makes of `bytes`: the frames, the error that ended them if any, and
    /// the truncation offset. Fails if more frames come than the file has room for (no record
    /// is shorter than 16 bytes), which is how a reader that stops consuming would show.
    fn read_all(bytes: &[u8]) -> Result<Outcome, PcapError> {
        let mut reader = Reader::new(bytes)?;
        let mut frames = Vec::new();
        let error = loop {
            match reader.next_frame() {
                Ok(Some(f)) => frames.push(owned(f)),
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
            assert!(frames.len() <= bytes.len() / 16, "more frames than records");
        };
        // Once ended, it stays ended.
        assert!(matches!(reader.next_frame(), Ok(None)));
        Ok((frames, error, reader.truncated()))
    }

    fn frame(
        ts: Duration,
        link: LinkType,
        data: &[u8],
        orig_len: u32,
        interface: Option<&str>,
    ) -> Owned {
        Owned {
            ts,
            link,
            data: data.to_vec(),
            orig_len,
            interface: interface.map(str::to_string),
        }
    }

    fn b16(e: Endian, v: u16) -> [u8; 2] {
        match e {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    fn b32(e: Endian, v: u32) -> [u8; 4] {
        match e {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    fn b64(e: Endian, v: u64) -> [u8; 8] {
        match e {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    /// A classic pcap file built by hand in either byte order.
    struct Pcap {
        e: Endian,
        out: Vec<u8>,
        /// Where each record ends.
        ends: Vec<usize>,
    }

    impl Pcap {
        fn new(e: Endian, magic: u32, network: u32) -> Pcap {
            let mut out = Vec::new();
            out.extend(b32(e, magic));
            out.extend(b16(e, 2));
            out.extend(b16(e, 4));
            out.extend([0; 8]);
            out.extend(b32(e, 65535));
            out.extend(b32(e, network));
            Pcap {
                e,
                out,
                ends: vec![PCAP_HEADER_LEN],
            }
        }

        fn record(&mut self, secs: u32, frac: u32, data: &[u8], orig_len: u32) -> &mut Self {
            let e = self.e;
            self.out.extend(b32(e, secs));
            self.out.extend(b32(e, frac));
            self.out.extend(b32(e, data.len() as u32));
            self.out.extend(b32(e, orig_len));
            self.out.extend(data);
            self.ends.push(self.out.len());
            self
        }
    }

    /// A pcapng file built by hand: sections in either byte order, any blocks.
    struct Ng {
        e: Endian,
        out: Vec<u8>,
        /// Where each block ends.
        ends: Vec<usize>,
    }

    impl Ng {
        fn new(e: Endian) -> Ng {
            let mut ng = Ng {
                e,
                out: Vec::new(),
                ends: Vec::new(),
            };
            ng.shb(e);
            ng
        }

        /// A block with the lengths given, whatever they are.
        fn raw(&mut self, block_type: u32, len: u32, body: &[u8], trailer: u32) -> &mut Self {
            let e = self.e;
            self.out.extend(b32(e, block_type));
            self.out.extend(b32(e, len));
            self.out.extend(body);
            self.out.resize(
                self.out.len() + body.len().next_multiple_of(4) - body.len(),
                0,
            );
            self.out.extend(b32(e, trailer));
            self.ends.push(self.out.len());
            self
        }

        fn block(&mut self, block_type: u32, body: &[u8]) -> &mut Self {
            let len = 12 + body.len().next_multiple_of(4) as u32;
            self.raw(block_type, len, body, len)
        }

        fn shb(&mut self, e: Endian) -> &mut Self {
            self.e = e;
            let mut body = Vec::new();
            body.extend(b32(e, BYTE_ORDER_MAGIC));
            body.extend(b16(e, 1));
            body.extend(b16(e, 0));
            body.extend(b64(e, u64::MAX));
            // shb_userappl, to be skipped.
            body.extend(self.options(&[(4, b"test")]));
            self.block(BT_SHB, &body)
        }

        fn options(&self, options: &[(u16, &[u8])]) -> Vec<u8> {
            let mut out = Vec::new();
            for (code, value) in options {
                out.extend(b16(self.e, *code));
                out.extend(b16(self.e, value.len() as u16));
                out.extend(*value);
                out.resize(out.len().next_multiple_of(4), 0);
            }
            out.extend([0; 4]);
            out
        }

        fn idb(&mut self, link: u16, snaplen: u32, options: &[(u16, &[u8])]) -> &mut Self {
            let mut body = Vec::new();
            body.extend(b16(self.e, link));
            body.extend([0; 2]);
            body.extend(b32(self.e, snaplen));
            if !options.is_empty() {
                body.extend(self.options(options));
            }
            self.block(BT_IDB, &body)
        }

        fn packet_body(&self, id: [u8; 4], units: u64, data: &[u8], orig_len: u32) -> Vec<u8> {
            let mut body = Vec::new();
            body.extend(id);
            body.extend(b32(self.e, (units >> 32) as u32));
            body.extend(b32(self.e, units as u32));
            body.extend(b32(self.e, data.len() as u32));
            body.extend(b32(self.e, orig_len));
            body.extend(data);
            body.resize(body.len().next_multiple_of(4), 0);
            body
        }

        fn epb(&mut self, id: u32, units: u64, data: &[u8], orig_len: u32) -> &mut Self {
            let mut body = self.packet_body(b32(self.e, id), units, data, orig_len);
            // opt_comment and epb_flags, to be skipped.
            body.extend(self.options(&[(1, b"a comment"), (2, &[0, 0, 0, 1])]));
            self.block(BT_EPB, &body)
        }

        fn pb(&mut self, id: u16, units: u64, data: &[u8], orig_len: u32) -> &mut Self {
            let [a, b] = b16(self.e, id);
            let body = self.packet_body([a, b, 0, 0], units, data, orig_len);
            self.block(BT_PB, &body)
        }

        fn spb(&mut self, orig_len: u32, data: &[u8]) -> &mut Self {
            let mut body = b32(self.e, orig_len).to_vec();
            body.extend(data);
            self.block(BT_SPB, &body)
        }
    }

    fn secs(s: u64, nanos: u32) -> Duration {
        Duration::new(s, nanos)
    }

    fn bytes(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn classic_pcap_in_both_byte_orders_and_precisions() {
        for e in [Endian::Little, Endian::Big] {
            for (magic, nano) in [(PCAP_MAGIC_MICRO, false), (PCAP_MAGIC_NANO, true)] {
                let (a, b) = (bytes(60, 1), bytes(1500, 2));
                let mut file = Pcap::new(e, magic, 1);
                file.record(1_700_000_000, 123_456, &a, 60)
                    .record(1_700_000_001, 999_999, &b[..96], 1500)
                    .record(0, 0, &[], 0);
                let (frames, error, truncated) = read_all(&file.out).unwrap();
                assert!(error.is_none(), "{error:?}");
                assert_eq!(truncated, None);
                let scale = if nano { 1 } else { 1000 };
                assert_eq!(
                    frames,
                    [
                        frame(
                            secs(1_700_000_000, 123_456 * scale),
                            LinkType::Ethernet,
                            &a,
                            60,
                            None
                        ),
                        frame(
                            secs(1_700_000_001, 999_999 * scale),
                            LinkType::Ethernet,
                            &b[..96],
                            1500,
                            None
                        ),
                        frame(Duration::ZERO, LinkType::Ethernet, &[], 0, None),
                    ],
                    "{e:?} nano={nano}"
                );
            }
        }
    }

    #[test]
    fn classic_pcap_link_type_ignores_the_fcs_bits() {
        // FCS length 2 (16-bit words), the F bit, link type 101.
        let mut file = Pcap::new(Endian::Big, PCAP_MAGIC_MICRO, 0x5000_0065);
        file.record(1, 2, &[0x45, 0], 2);
        let (frames, error, _) = read_all(&file.out).unwrap();
        assert!(error.is_none());
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].link, LinkType::Raw);
    }

    #[test]
    fn classic_pcap_fraction_beyond_a_second_carries() {
        let mut file = Pcap::new(Endian::Little, PCAP_MAGIC_MICRO, 1);
        file.record(u32::MAX, u32::MAX, &[1], 1);
        let (frames, _, _) = read_all(&file.out).unwrap();
        assert_eq!(
            frames[0].ts,
            Duration::from_secs(u32::MAX.into()) + Duration::from_micros(u32::MAX.into())
        );
    }

    #[test]
    fn unknown_or_short_files_are_not_pcap() {
        for bytes in [
            &b"hello, world\n"[..],
            b"\n\r\r\nnot a byte-order magic",
            b"\0\0\0\0",
        ] {
            let e = read_all(bytes).unwrap_err();
            assert!(matches!(e, PcapError::NotPcap), "{e:?}");
            assert_eq!(e.to_string(), "not a pcap or pcapng file");
        }
        for len in 0..4 {
            let e = read_all(&PCAP_MAGIC_MICRO.to_le_bytes()[..len]).unwrap_err();
            assert!(
                matches!(e, PcapError::TooShort { len: l } if l == len),
                "{e:?}"
            );
            assert!(e.to_string().starts_with("not a pcap or pcapng file"));
        }
    }

    #[test]
    fn files_shorter_than_their_header_are_errors() {
        let pcap = Pcap::new(Endian::Little, PCAP_MAGIC_NANO, 1).out;
        for len in 4..PCAP_HEADER_LEN {
            let e = read_all(&pcap[..len]).unwrap_err();
            assert!(
                matches!(e, PcapError::ShortHeader { format: "pcap", got, need: 24 } if got == len as u64),
                "{e:?}"
            );
        }
        let ng = Ng::new(Endian::Big).out;
        for len in 4..ng.len() {
            let e = read_all(&ng[..len]).unwrap_err();
            assert!(
                matches!(e, PcapError::ShortHeader { format: "pcapng", got, .. } if got == len as u64),
                "{e:?}"
            );
            assert!(e.to_string().contains("header"), "{e}");
        }
        // A section header alone is a valid file without packets.
        let (frames, error, truncated) = read_all(&ng).unwrap();
        assert!(frames.is_empty() && error.is_none() && truncated.is_none());
    }

    #[test]
    fn unsupported_versions_are_errors() {
        let mut pcap = Pcap::new(Endian::Big, PCAP_MAGIC_MICRO, 1).out;
        pcap[4..6].copy_from_slice(&3u16.to_be_bytes());
        let e = read_all(&pcap).unwrap_err();
        assert_eq!(e.to_string(), "unsupported pcap version 3.4 at byte 0");

        let mut ng = Ng::new(Endian::Little);
        ng.idb(1, 0, &[]);
        let second = ng.out.len();
        ng.shb(Endian::Little);
        ng.out[second + 12..second + 14].copy_from_slice(&2u16.to_le_bytes());
        let (frames, error, _) = read_all(&ng.out).unwrap();
        assert!(frames.is_empty());
        assert!(
            matches!(error, Some(PcapError::Version { format: "pcapng", major: 2, minor: 0, offset }) if offset == second as u64),
            "{error:?}"
        );
    }

    #[test]
    fn classic_pcap_absurd_caplen_is_damage_at_its_offset() {
        let mut file = Pcap::new(Endian::Little, PCAP_MAGIC_MICRO, 1);
        file.record(1, 0, &[1, 2, 3], 3);
        let at = file.out.len();
        file.out.extend(1u32.to_le_bytes());
        file.out.extend(0u32.to_le_bytes());
        file.out.extend((MAX_SNAPLEN + 1).to_le_bytes());
        file.out.extend(100u32.to_le_bytes());
        file.out.extend([0; 64]);
        let (frames, error, truncated) = read_all(&file.out).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(truncated, None);
        let error = error.expect("an error");
        assert!(
            matches!(error, PcapError::Damaged { offset, .. } if offset == at as u64),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .starts_with(&format!("damaged file at byte {at}: ")),
            "{error}"
        );
        // The largest legal record is fine.
        let big = bytes(MAX_SNAPLEN as usize, 3);
        let mut file = Pcap::new(Endian::Little, PCAP_MAGIC_MICRO, 1);
        file.record(1, 0, &big, MAX_SNAPLEN + 10);
        let (frames, error, _) = read_all(&file.out).unwrap();
        assert!(error.is_none());
        assert_eq!(frames[0].data, big);
    }

    /// Two sections in different byte orders; interfaces with different link types, timestamp
    /// units, an offset and names; every packet block type; blocks to skip.
    fn two_sections() -> (Ng, Vec<Owned>) {
        let (p1, p2, p3, p4, p5, p6) = (
            bytes(60, 1),
            bytes(41, 2),
            bytes(60, 3),
            bytes(10, 4),
            bytes(33, 5),
            bytes(54, 6),
        );
        let mut ng = Ng::new(Endian::Little);
        ng.idb(
            1,
            64,
            &[
                (OPT_IF_NAME, b"eth0"),
                (OPT_IF_TSRESOL, &[9]),
                (3, b"the uplink"),
            ],
        );
        // Name resolution block: to be skipped.
        ng.block(
            4,
            &[1, 0, 8, 0, 127, 0, 0, 1, b'l', b'o', b'\0', 0, 0, 0, 0, 0],
        );
        let offset = 1_000_000_000i64.to_le_bytes();
        ng.idb(
            101,
            0,
            &[
                (OPT_IF_TSRESOL, &[0x80 | 20]),
                (OPT_IF_TSOFFSET, &offset),
                (OPT_IF_NAME, b"tun0\0"),
            ],
        );
        ng.epb(0, 1_700_000_000_123_456_789, &p1, 60);
        ng.epb(1, (700_000_000 << 20) | (1 << 19), &p2, 1400);
        // An unknown block type, custom blocks (copyable and not), and a decryption secrets
        // block: to be skipped.
        ng.block(0x1234, &[1, 2, 3, 4, 5]);
        ng.block(0x0000_0bad, &[]);
        ng.block(0x4000_0bad, &[9; 17]);
        ng.block(0x0000_000a, &[0; 8]);
        ng.spb(100, &p3);
        ng.spb(10, &p4);
        // Interface statistics block: to be skipped.
        ng.block(5, &[0; 12]);
        ng.pb(1, 3 << 18, &p5, 33);
        ng.shb(Endian::Big);
        ng.idb(113, 0, &[]);
        ng.epb(0, 1_600_000_000_000_001, &p6, 54);
        let want = vec![
            frame(
                secs(1_700_000_000, 123_456_789),
                LinkType::Ethernet,
                &p1,
                60,
                Some("eth0"),
            ),
            frame(
                secs(1_700_000_000, 500_000_000),
                LinkType::Raw,
                &p2,
                1400,
                Some("tun0"),
            ),
            frame(Duration::ZERO, LinkType::Ethernet, &p3, 100, Some("eth0")),
            frame(Duration::ZERO, LinkType::Ethernet, &p4, 10, Some("eth0")),
            frame(
                secs(1_000_000_000, 750_000_000),
                LinkType::Raw,
                &p5,
                33,
                Some("tun0"),
            ),
            frame(
                secs(1_600_000_000, 1_000),
                LinkType::LinuxSll,
                &p6,
                54,
                None,
            ),
        ];
        (ng, want)
    }

    #[test]
    fn pcapng_sections_interfaces_and_blocks() {
        let (ng, want) = two_sections();
        let (frames, error, truncated) = read_all(&ng.out).unwrap();
        assert!(error.is_none(), "{error:?}");
        assert_eq!(truncated, None);
        assert_eq!(frames, want);
    }

    #[test]
    fn pcapng_read_one_byte_at_a_time_with_interruptions() {
        /// Hands out one byte a read, and an interruption before every other one.
        struct Trickle<'a> {
            bytes: &'a [u8],
            interrupt: bool,
        }
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.interrupt = !self.interrupt;
                if self.interrupt {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                let (Some(first), Some(dst)) = (self.bytes.first(), buf.first_mut()) else {
                    return Ok(0);
                };
                *dst = *first;
                self.bytes = &self.bytes[1..];
                Ok(1)
            }
        }
        let (ng, want) = two_sections();
        let mut reader = Reader::new(Trickle {
            bytes: &ng.out,
            interrupt: false,
        })
        .unwrap();
        let mut frames = Vec::new();
        while let Some(f) = reader.next_frame().unwrap() {
            frames.push(owned(f));
        }
        assert_eq!(frames, want);
    }

    #[test]
    fn pcapng_a_new_section_forgets_the_interfaces() {
        let mut ng = Ng::new(Endian::Little);
        ng.idb(1, 0, &[]).idb(1, 0, &[]).epb(1, 0, &[1], 1);
        ng.shb(Endian::Little).idb(1, 0, &[]);
        let at = ng.out.len();
        ng.epb(1, 0, &[2], 1);
        let (frames, error, _) = read_all(&ng.out).unwrap();
        assert_eq!(frames.len(), 1);
        let error = error.expect("an error");
        assert!(
            matches!(error, PcapError::NoInterface { offset, id: 1, count: 1 } if offset == at as u64),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            format!(
                "damaged file at byte {at}: packet for interface 1, but the section describes 1 interface(s)"
            )
        );
    }

    #[test]
    fn pcapng_packets_without_interfaces_are_damage() {
        for block in [BT_EPB, BT_PB, BT_SPB] {
            let mut ng = Ng::new(Endian::Big);
            let at = ng.out.len();
            match block {
                BT_EPB => ng.epb(0, 0, &[1], 1),
                BT_PB => ng.pb(0, 0, &[1], 1),
                _ => ng.spb(1, &[1]),
            };
            let (frames, error, _) = read_all(&ng.out).unwrap();
            assert!(frames.is_empty());
            assert!(
                matches!(error, Some(PcapError::NoInterface { offset, id: 0, count: 0 }) if offset == at as u64),
                "{error:?}"
            );
        }
    }

    #[test]
    fn pcapng_simple_packets_keep_to_the_snaplen() {
        let mut ng = Ng::new(Endian::Little);
        ng.idb(1, 8, &[]).spb(10, &bytes(10, 0));
        let (frames, error, _) = read_all(&ng.out).unwrap();
        assert!(error.is_none());
        assert_eq!(frames[0].data, bytes(8, 0));
        assert_eq!(frames[0].orig_len, 10);
    }

    /// A section with one Ethernet interface and a packet, then `damage` applied, then whatever
    /// `damage` appends: the error must name where the damaged block starts.
    fn damaged_at(damage: impl FnOnce(&mut Ng)) -> (u64, String) {
        let mut ng = Ng::new(Endian::Little);
        ng.idb(1, 0, &[]).epb(0, 5, &[1, 2, 3], 3);
        let at = ng.out.len();
        damage(&mut ng);
        let (frames, error, truncated) = read_all(&ng.out).unwrap();
        assert_eq!(frames.len(), 1, "the packet before the damage");
        assert_eq!(truncated, None);
        match error {
            Some(PcapError::Damaged { offset, reason }) => {
                assert_eq!(offset, at as u64, "{reason}");
                (offset, reason)
            }
            other => panic!("not damage: {other:?}"),
        }
    }

    #[test]
    fn pcapng_damage_is_reported_where_it_is() {
        // Shorter than the minimum block, and than an enhanced packet block.
        let (_, reason) = damaged_at(|ng| {
            ng.raw(0x99, 8, &[], 8);
        });
        assert!(reason.contains("shorter than the 12"), "{reason}");
        let (_, reason) = damaged_at(|ng| {
            ng.raw(BT_EPB, 28, &[0; 16], 28);
        });
        assert!(
            reason.contains("enhanced packet block") && reason.contains("32"),
            "{reason}"
        );
        // Not a multiple of 4.
        let (_, reason) = damaged_at(|ng| {
            ng.raw(0x99, 13, &[0], 13);
        });
        assert!(reason.contains("multiple of 4"), "{reason}");
        // Absurdly long, whether or not the bytes are there.
        let (_, reason) = damaged_at(|ng| {
            ng.raw(0x99, u32::MAX - 3, &[0; 64], 0);
        });
        assert!(reason.contains("maximum"), "{reason}");
        let (_, reason) = damaged_at(|ng| {
            let len = MAX_BLOCK_LEN + 4;
            ng.raw(0x99, len, &vec![0; len as usize - 12], len);
        });
        assert!(reason.contains("maximum"), "{reason}");
        // Trailing length not the leading one.
        let (_, reason) = damaged_at(|ng| {
            ng.raw(0x99, 16, &[0; 4], 20);
        });
        assert!(reason.contains("ends with a length of 20"), "{reason}");
        // A packet larger than its block.
        let (_, reason) = damaged_at(|ng| {
            let mut body = ng.packet_body(0u32.to_le_bytes(), 0, &[0; 8], 8);
            body[12..16].copy_from_slice(&9u32.to_le_bytes());
            ng.block(BT_EPB, &body);
        });
        assert!(reason.contains("holds only 8"), "{reason}");
        let (_, reason) = damaged_at(|ng| {
            let mut body = ng.packet_body(0u32.to_le_bytes(), 0, &[0; 8], 8);
            body[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
            ng.block(BT_EPB, &body);
        });
        assert!(reason.contains("holds only 8"), "{reason}");
        // An interface option running past its block.
        let (_, reason) = damaged_at(|ng| {
            let mut body = vec![1, 0, 0, 0, 0, 0, 0, 0];
            body.extend(OPT_IF_NAME.to_le_bytes());
            body.extend(9u16.to_le_bytes());
            body.extend(b"eth0");
            ng.block(BT_IDB, &body);
        });
        assert!(reason.contains("runs past the end"), "{reason}");
        // A section header without a byte-order magic.
        let (_, reason) = damaged_at(|ng| {
            ng.raw(BT_SHB, 28, &[0; 16], 28);
        });
        assert!(reason.contains("byte-order magic"), "{reason}");
    }

    #[test]
    fn pcapng_interfaces_are_bounded() {
        let mut ng = Ng::new(Endian::Little);
        for _ in 0..MAX_INTERFACES {
            ng.idb(1, 0, &[]);
        }
        ng.epb(MAX_INTERFACES as u32 - 1, 0, &[7], 1);
        let at = ng.out.len();
        ng.idb(1, 0, &[]);
        let (frames, error, _) = read_all(&ng.out).unwrap();
        assert_eq!(frames.len(), 1);
        assert!(
            matches!(error, Some(PcapError::Damaged { offset, .. }) if offset == at as u64),
            "{error:?}"
        );
    }

    #[test]
    fn interface_names_are_bounded_and_lossless_when_valid() {
        assert_eq!(interface_name(b"eth0"), "eth0");
        assert_eq!(interface_name(b"eth0\0\0\0"), "eth0");
        assert_eq!(interface_name("wlp3s0-é".as_bytes()), "wlp3s0-é");
        assert_eq!(interface_name(b"a\xffb"), "a\u{fffd}b");
        let long = interface_name(&[0xff; 1000]);
        assert!(long.len() <= MAX_NAME_LEN && !long.is_empty());
        assert_eq!(interface_name(&[b'x'; 1000]).len(), MAX_NAME_LEN);
    }

    #[test]
    fn timestamp_resolutions_never_overflow() {
        assert_eq!(
            Resolution::Decimal(6).duration(1_500_000),
            secs(1, 500_000_000)
        );
        assert_eq!(Resolution::Decimal(9).duration(7), secs(0, 7));
        assert_eq!(Resolution::Decimal(12).duration(1_999), secs(0, 1));
        assert_eq!(Resolution::Decimal(0).duration(u64::MAX), secs(u64::MAX, 0));
        assert_eq!(Resolution::Decimal(127).duration(u64::MAX), Duration::ZERO);
        assert_eq!(Resolution::Binary(0).duration(3), secs(3, 0));
        assert_eq!(
            Resolution::Binary(20).duration(5 << 20 | 1 << 18),
            secs(5, 250_000_000)
        );
        assert_eq!(Resolution::Binary(127).duration(u64::MAX), Duration::ZERO);
        assert_eq!(Resolution::from_option(9), Resolution::Decimal(9));
        assert_eq!(Resolution::from_option(0xff), Resolution::Binary(127));
        let interface = |offset_secs| Interface {
            link: LinkType::Ethernet,
            snaplen: 0,
            resolution: Resolution::Decimal(0),
            offset_secs,
            name: None,
        };
        assert_eq!(interface(-10).timestamp(0, 25), secs(15, 0));
        assert_eq!(interface(-100).timestamp(0, 25), Duration::ZERO);
        assert_eq!(
            interface(i64::MAX).timestamp(u32::MAX, u32::MAX),
            Duration::MAX
        );
    }

    /// Every prefix of a valid file: an error while the header is incomplete; afterwards the
    /// frames of the records that are complete, flagged as truncated unless the cut falls
    /// between records, and never an error.
    fn check_every_cut(file: &[u8], record_ends: &[usize]) {
        let (all, error, _) = read_all(file).unwrap();
        assert!(error.is_none());
        let header_end = record_ends[0];
        for len in 0..file.len() {
            let cut = &file[..len];
            if len < header_end {
                assert!(read_all(cut).is_err(), "cut at {len}");
                continue;
            }
            let (frames, error, truncated) = read_all(cut).unwrap();
            assert!(error.is_none(), "cut at {len}: {error:?}");
            assert_eq!(frames, all[..frames.len()], "cut at {len}");
            let last_end = record_ends.iter().rev().find(|&&end| end <= len).unwrap();
            if *last_end == len {
                assert_eq!(truncated, None, "cut at {len}");
            } else {
                assert_eq!(truncated, Some(*last_end as u64), "cut at {len}");
            }
        }
    }

    #[test]
    fn every_cut_of_a_pcap_reads_cleanly() {
        let mut file = Pcap::new(Endian::Big, PCAP_MAGIC_NANO, 1);
        file.record(1, 2, &bytes(20, 0), 20)
            .record(3, 4, &[], 0)
            .record(5, 6, &bytes(7, 1), 9);
        check_every_cut(&file.out, &file.ends);
    }

    #[test]
    fn every_cut_of_a_pcapng_reads_cleanly() {
        let (ng, _) = two_sections();
        check_every_cut(&ng.out, &ng.ends);
    }

    /// xorshift64: a fixed sequence, so a failure can be replayed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_damage_never_panics_or_hangs() {
        let (ng, _) = two_sections();
        let mut pcap = Pcap::new(Endian::Little, PCAP_MAGIC_MICRO, 1);
        pcap.record(1, 2, &bytes(40, 0), 40)
            .record(3, 4, &bytes(3, 0), 3);
        let mut rng = Rng(0x5eed_cafe_f00d_d00d);
        let mut outcomes = [0usize; 3];
        for file in [&ng.out, &pcap.out] {
            for _ in 0..3000 {
                let mut damaged = file.clone();
                for _ in 0..=rng.below(4) {
                    let at = rng.below(damaged.len());
                    // Either any byte, or one of the values lengths like to break on.
                    damaged[at] = match rng.below(4) {
                        0 => 0,
                        1 => 0xff,
                        _ => rng.next() as u8,
                    };
                }
                // read_all fails the test if frames come without input being consumed.
                match read_all(&damaged) {
                    Err(_) => outcomes[0] += 1,
                    Ok((_, Some(_), _)) => outcomes[1] += 1,
                    Ok((_, None, _)) => outcomes[2] += 1,
                }
            }
        }
        // The damage reaches every outcome: header errors, damaged records, readable files.
        assert!(outcomes.iter().all(|&n| n > 0), "{outcomes:?}");
    }
}
