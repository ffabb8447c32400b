//! pcap and pcapng files: reading both, writing pcap.
//!
//! [`Reader`] streams frames out of a classic pcap file (microsecond or nanosecond timestamps,
//! either byte order) or a pcapng file (any number of sections and interfaces), one record at a
//! time through one reusable buffer, so files of any size read in constant memory. Damaged input
//! is an error that names the byte offset, never a panic or a hang; a file that ends inside its
//! last record reads cleanly up to there and says so through [`Reader::truncated`], as tcpdump
//! does for a "truncated dump file".
//!
//! [`Writer`] writes classic pcap (version 2.4), which tcpdump, tshark and every other tool read.
//!
//! Hand-written rather than taken from the pcap-file crate, which loops forever on a record
//! larger than the snapshot length (courvoif/pcap-file#48).

mod read;
mod write;

pub use read::{PcapError, Reader};
pub use write::{Precision, Writer};

/// The largest captured length of one packet that is read or written: libpcap's
/// `MAXIMUM_SNAPLEN`, the default snapshot length of tcpdump and tshark. A record claiming more
/// is taken for damage, as libpcap does.
pub const MAX_SNAPLEN: u32 = 262_144;
