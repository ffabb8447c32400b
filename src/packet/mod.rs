//! Packets: pure decoding, filter expressions (compiled to classic BPF, also run in user space),
//! the TCP handshake tracker, pcap/pcapng files, and live capture sources.
//!
//! Gathering, deciding and rendering stay apart: a source (live socket or file) yields
//! [`Frame`]s; [`decode`], [`filter`] and [`handshake`] are pure functions over them; rendering
//! lives in `crate::output`.

use std::time::Duration;

pub mod decode;
pub mod filter;
pub mod handshake;
pub mod live;
pub mod owners;
pub mod pcap;
pub mod session;

/// The time since the Unix epoch, the clock of capture timestamps (for a frame without a kernel
/// timestamp, and for deciding silent handshakes).
pub fn now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// The link-layer header type of a frame, with its pcap LINKTYPE_* number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1): 14-byte Ethernet II header (also Linux loopback, with zero MACs).
    Ethernet,
    /// LINKTYPE_RAW (101): the frame starts with an IPv4 or IPv6 header (version nibble says).
    Raw,
    /// LINKTYPE_IPV4 (228): the frame is an IPv4 packet.
    Ipv4,
    /// LINKTYPE_IPV6 (229): the frame is an IPv6 packet.
    Ipv6,
    /// LINKTYPE_LINUX_SLL (113): Linux "cooked" header v1, 16 bytes, protocol at offset 14.
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276): Linux "cooked" header v2, 20 bytes, protocol at offset 0.
    LinuxSll2,
    /// LINKTYPE_NULL (0): 4-byte BSD loopback header, address family in host byte order.
    Null,
    /// Any other link type: frames are shown as bytes, filters cannot look inside.
    Other(u32),
}

impl LinkType {
    /// The pcap LINKTYPE_* number.
    pub fn number(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll2 => 276,
            LinkType::Other(n) => n,
        }
    }

    /// The link type of a pcap LINKTYPE_* number.
    pub fn from_number(n: u32) -> LinkType {
        match n {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            101 => LinkType::Raw,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            n => LinkType::Other(n),
        }
    }
}

/// One captured frame, from a live socket or a file.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Capture time since the Unix epoch.
    pub ts: Duration,
    pub link: LinkType,
    /// The captured bytes (may be shorter than the frame on the wire).
    pub data: &'a [u8],
    /// The length of the frame on the wire.
    pub orig_len: u32,
    /// The interface it was captured on, when known.
    pub interface: Option<&'a str>,
}
