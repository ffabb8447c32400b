//! What the kernel says about a socket's health, beside its row: TCP internals (`tcp_info`, as
//! `ss -i`), socket memory (`skmeminfo`, as `ss -m`) and the pending timer (as `ss -o`).
//!
//! `tcp_info` grows with every kernel release, and the kernel sends as many bytes of it as it
//! has. [`TcpInfo`] keeps those bytes as they came and answers each field only when the kernel
//! sent it, so a field an older kernel lacks is absent, never a made-up zero.

use std::time::Duration;

/// The bytes of `struct tcp_info` this build knows (up to `tcpi_total_rto_time`, Linux 6.7).
pub const TCP_INFO_KNOWN: usize = 248;

/// `struct tcp_info` as the kernel sent it (INET_DIAG_INFO), plus the congestion control name
/// (INET_DIAG_CONG).
#[derive(Clone, PartialEq, Eq)]
pub struct TcpInfo {
    bytes: [u8; TCP_INFO_KNOWN],
    /// How many bytes the kernel sent (capped at [`TCP_INFO_KNOWN`]).
    len: u16,
    /// The congestion control algorithm (`cubic`, `bbr`), NUL-padded.
    cong: [u8; 16],
}

impl std::fmt::Debug for TcpInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpInfo")
            .field("len", &self.len)
            .field("cong", &self.cong())
            .field("rtt_us", &self.rtt_us())
            .field("cwnd", &self.snd_cwnd())
            .finish_non_exhaustive()
    }
}

/// An integer field of `tcp_info`, read in native byte order.
trait Field: Sized {
    const SIZE: usize;
    fn read(b: &[u8]) -> Self;
}

macro_rules! field_types {
    ($($t:ty),*) => {$(
        impl Field for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn read(b: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(&b[..Self::SIZE]);
                <$t>::from_ne_bytes(a)
            }
        }
    )*};
}
field_types!(u8, u16, u32, u64);

/// Accessors for the fields of `struct tcp_info` (include/uapi/linux/tcp.h), by byte offset.
macro_rules! tcp_info_fields {
    ($($(#[$doc:meta])* $name:ident: $t:ty = $off:expr;)*) => {
        impl TcpInfo {$(
            $(#[$doc])*
            pub fn $name(&self) -> Option<$t> {
                self.field::<$t>($off)
            }
        )*}
    };
}

tcp_info_fields! {
    /// The kernel's TCP state number.
    state: u8 = 0;
    /// Congestion avoidance state (0 open, 1 disorder, 2 CWR, 3 recovery, 4 loss).
    ca_state: u8 = 1;
    /// Unrecovered RTO timeouts right now.
    retransmits: u8 = 2;
    /// Unanswered zero-window probes right now.
    probes: u8 = 3;
    /// Exponential backoff of the retransmission timer.
    backoff: u8 = 4;
    /// TCPI_OPT_* bits.
    options_bits: u8 = 5;
    wscale_bits: u8 = 6;
    app_limited_bits: u8 = 7;
    rto_us: u32 = 8;
    ato_us: u32 = 12;
    snd_mss: u32 = 16;
    rcv_mss: u32 = 20;
    unacked: u32 = 24;
    sacked: u32 = 28;
    lost: u32 = 32;
    /// Segments retransmitted and not yet acknowledged.
    retrans: u32 = 36;
    fackets: u32 = 40;
    last_data_sent_ms: u32 = 44;
    last_ack_sent_ms: u32 = 48;
    last_data_recv_ms: u32 = 52;
    last_ack_recv_ms: u32 = 56;
    pmtu: u32 = 60;
    rcv_ssthresh: u32 = 64;
    rtt_us: u32 = 68;
    rttvar_us: u32 = 72;
    snd_ssthresh: u32 = 76;
    snd_cwnd: u32 = 80;
    advmss: u32 = 84;
    reordering: u32 = 88;
    rcv_rtt_us: u32 = 92;
    rcv_space: u32 = 96;
    total_retrans: u32 = 100;
    /// Bytes per second.
    pacing_rate: u64 = 104;
    max_pacing_rate: u64 = 112;
    bytes_acked: u64 = 120;
    bytes_received: u64 = 128;
    segs_out: u32 = 136;
    segs_in: u32 = 140;
    notsent_bytes: u32 = 144;
    min_rtt_us: u32 = 148;
    data_segs_in: u32 = 152;
    data_segs_out: u32 = 156;
    /// Bytes per second.
    delivery_rate: u64 = 160;
    busy_us: u64 = 168;
    rwnd_limited_us: u64 = 176;
    sndbuf_limited_us: u64 = 184;
    delivered: u32 = 192;
    delivered_ce: u32 = 196;
    bytes_sent: u64 = 200;
    bytes_retrans: u64 = 208;
    dsack_dups: u32 = 216;
    reord_seen: u32 = 220;
    rcv_ooopack: u32 = 224;
    /// The peer's advertised receive window, scaled, in bytes.
    snd_wnd: u32 = 228;
    rcv_wnd: u32 = 232;
    rehash: u32 = 236;
    total_rto: u16 = 240;
    total_rto_recoveries: u16 = 242;
    total_rto_time_ms: u32 = 244;
}

/// `TCPI_OPT_*`: the options negotiated on the connection, with the names `ss` prints.
pub const OPTIONS: [(u8, &str); 6] = [
    (1, "ts"),
    (2, "sack"),
    (4, "wscale"),
    (8, "ecn"),
    (16, "ecnseen"),
    (32, "fastopen"),
];

impl TcpInfo {
    /// From the INET_DIAG_INFO attribute and the INET_DIAG_CONG one (if any). Bytes past what
    /// this build knows are ignored; a short attribute leaves the missing fields absent.
    pub fn from_bytes(info: &[u8], cong: Option<&[u8]>) -> TcpInfo {
        let len = info.len().min(TCP_INFO_KNOWN);
        let mut bytes = [0u8; TCP_INFO_KNOWN];
        bytes[..len].copy_from_slice(&info[..len]);
        let mut name = [0u8; 16];
        if let Some(c) = cong {
            let c = c.split(|&b| b == 0).next().unwrap_or_default();
            let n = c.len().min(name.len());
            name[..n].copy_from_slice(&c[..n]);
        }
        TcpInfo {
            bytes,
            len: len as u16,
            cong: name,
        }
    }

    fn field<T: Field>(&self, offset: usize) -> Option<T> {
        (offset + T::SIZE <= usize::from(self.len))
            .then(|| T::read(&self.bytes[offset..offset + T::SIZE]))
    }

    /// How many bytes of `tcp_info` the kernel sent (capped at what this build knows).
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the kernel sent nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The congestion control algorithm, when the kernel said.
    pub fn cong(&self) -> Option<&str> {
        let end = self.cong.iter().position(|&b| b == 0).unwrap_or(16);
        std::str::from_utf8(&self.cong[..end])
            .ok()
            .filter(|s| !s.is_empty())
    }

    /// The names of the options in effect (`ts`, `sack`, `wscale`, `ecn`...).
    pub fn options(&self) -> Vec<&'static str> {
        let bits = self.options_bits().unwrap_or(0);
        OPTIONS
            .iter()
            .filter(|(bit, _)| bits & bit != 0)
            .map(|(_, name)| *name)
            .collect()
    }

    /// Window scale factors (send, receive), when window scaling is in use.
    pub fn wscale(&self) -> Option<(u8, u8)> {
        let on = self.options_bits()? & 4 != 0;
        let b = self.wscale_bits()?;
        on.then_some((b & 0x0f, b >> 4))
    }

    /// Whether the last delivery-rate sample was limited by the application.
    pub fn app_limited(&self) -> Option<bool> {
        self.app_limited_bits().map(|b| b & 1 != 0)
    }
}

/// Socket memory (INET_DIAG_SKMEMINFO, `ss -m`), in bytes; `drops` is absent on kernels
/// older than 4.7, which did not send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct MemInfo {
    pub rmem_alloc: u32,
    pub rcvbuf: u32,
    pub wmem_alloc: u32,
    pub sndbuf: u32,
    pub fwd_alloc: u32,
    pub wmem_queued: u32,
    pub optmem: u32,
    pub backlog: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drops: Option<u32>,
}

impl MemInfo {
    /// From the attribute's payload: an array of u32 in SK_MEMINFO_* order. None when even the
    /// first eight (Linux 3.x) are missing.
    pub fn from_bytes(b: &[u8]) -> Option<MemInfo> {
        let at = |i: usize| -> Option<u32> {
            b.get(i * 4..i * 4 + 4)
                .map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
        };
        Some(MemInfo {
            rmem_alloc: at(0)?,
            rcvbuf: at(1)?,
            wmem_alloc: at(2)?,
            sndbuf: at(3)?,
            fwd_alloc: at(4)?,
            wmem_queued: at(5)?,
            optmem: at(6)?,
            backlog: at(7)?,
            drops: at(8),
        })
    }
}

/// What the kernel said about a socket's health beside its row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Health {
    pub memory: Option<MemInfo>,
    pub tcp: Option<TcpInfo>,
}

/// The kind of timer pending on a TCP socket (idiag_timer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKind {
    /// Retransmission (also of a SYN or SYN/ACK); ss calls it "on".
    Retransmit,
    KeepAlive,
    TimeWait,
    /// Zero-window probe: the peer advertises no room.
    Persist,
    Other(u8),
}

impl TimerKind {
    /// From idiag_timer; 0 is "no timer".
    pub fn from_kernel(n: u8) -> Option<TimerKind> {
        Some(match n {
            0 => return None,
            1 => TimerKind::Retransmit,
            2 => TimerKind::KeepAlive,
            3 => TimerKind::TimeWait,
            4 => TimerKind::Persist,
            other => TimerKind::Other(other),
        })
    }

    /// The name in JSON and in the table's `timer:(...)` word.
    pub fn name(self) -> &'static str {
        match self {
            TimerKind::Retransmit => "retransmit",
            TimerKind::KeepAlive => "keepalive",
            TimerKind::TimeWait => "timewait",
            TimerKind::Persist => "persist",
            TimerKind::Other(_) => "unknown",
        }
    }
}

/// The timer pending on a socket (`ss -o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    pub kind: TimerKind,
    /// Time left until it fires.
    pub expires_ms: u32,
    /// Retransmissions (retransmit timer) or unanswered probes (keepalive, persist) so far.
    pub retries: u8,
}

impl Timer {
    pub fn expires(&self) -> Duration {
        Duration::from_millis(u64::from(self.expires_ms))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tcp_info of `len` bytes with some fields set, as a kernel would send it.
    pub fn info_bytes(len: usize, set: &[(usize, u64, usize)]) -> Vec<u8> {
        let mut b = vec![0u8; len];
        for &(off, value, size) in set {
            if off + size <= len {
                b[off..off + size].copy_from_slice(&value.to_ne_bytes()[..size]);
            }
        }
        b
    }

    #[test]
    fn fields_exist_only_when_the_kernel_sent_them() {
        // A 4.9-era tcp_info ends after tcpi_min_rtt..data_segs_out (160 bytes).
        let b = info_bytes(
            160,
            &[(68, 1234, 4), (80, 10, 4), (120, 5000, 8), (228, 9, 4)],
        );
        let t = TcpInfo::from_bytes(&b, Some(b"cubic\0\0\0"));
        assert_eq!(t.rtt_us(), Some(1234));
        assert_eq!(t.snd_cwnd(), Some(10));
        assert_eq!(t.bytes_acked(), Some(5000));
        assert_eq!(t.delivery_rate(), None, "starts at 160: not sent");
        assert_eq!(t.snd_wnd(), None);
        assert_eq!(t.cong(), Some("cubic"));
        let full = TcpInfo::from_bytes(&info_bytes(300, &[(228, 9, 4), (244, 77, 4)]), None);
        assert_eq!(full.snd_wnd(), Some(9));
        assert_eq!(full.total_rto_time_ms(), Some(77));
        assert_eq!(full.len(), TCP_INFO_KNOWN);
        assert_eq!(full.cong(), None);
    }

    #[test]
    fn options_and_window_scales() {
        let b = info_bytes(104, &[(5, 1 | 2 | 4, 1), (6, 0x79, 1)]);
        let t = TcpInfo::from_bytes(&b, None);
        assert_eq!(t.options(), ["ts", "sack", "wscale"]);
        assert_eq!(t.wscale(), Some((9, 7)));
        let no_ws = TcpInfo::from_bytes(&info_bytes(104, &[(5, 2, 1), (6, 0x79, 1)]), None);
        assert_eq!(no_ws.wscale(), None);
    }

    #[test]
    fn meminfo_with_and_without_drops() {
        let words: Vec<u8> = (1u32..=9).flat_map(|v| v.to_ne_bytes()).collect();
        let m = MemInfo::from_bytes(&words).unwrap();
        assert_eq!((m.rmem_alloc, m.sndbuf, m.backlog), (1, 4, 8));
        assert_eq!(m.drops, Some(9));
        let old = MemInfo::from_bytes(&words[..32]).unwrap();
        assert_eq!(old.drops, None);
        assert!(MemInfo::from_bytes(&words[..20]).is_none());
    }

    #[test]
    fn timer_kinds() {
        assert_eq!(TimerKind::from_kernel(0), None);
        assert_eq!(TimerKind::from_kernel(4), Some(TimerKind::Persist));
        assert_eq!(TimerKind::from_kernel(9).unwrap().name(), "unknown");
    }
}
