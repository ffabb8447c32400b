//! Socket health as text and JSON: the `ss -i -m -o`-style second line of a socket (greppable
//! `key:value` words), its problem lines, and the `info`/`memory`/`timer` JSON records.

use std::fmt::Write as _;

use serde::Serialize;

use crate::sockets::health::{MemInfo, OPTIONS, TcpInfo, Timer};
use crate::sockets::problems::plural;
use crate::sockets::{Socket, State};

/// What the detail lines under each socket show (`-i`, `-m`, `-o`, problems).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Details {
    pub info: bool,
    pub memory: bool,
    pub timers: bool,
    pub problems: bool,
}

impl Details {
    /// Whether any detail line is asked for.
    pub fn any(self) -> bool {
        self.info || self.memory || self.timers || self.problems
    }
}

/// `ssthresh` before the first loss: "infinite", which ss does not print.
const INFINITE_SSTHRESH: u32 = 0x7fff_ffff;

/// The detail lines of `s` (without a final newline): one line of timer, memory and tcp_info
/// words, then one line per problem (`! code: text`). Empty when there is nothing to show.
pub fn write_details(out: &mut String, s: &Socket, show: Details) {
    let start = out.len();
    out.push_str("\t ");
    let mut w = Words {
        start: out.len(),
        out,
    };
    if show.timers
        && let Some(t) = s.timer
    {
        w.add(format_args!("timer:({})", timer_text(&t)));
    }
    if show.memory
        && let Some(m) = s.memory()
    {
        w.add(format_args!("skmem:({})", skmem_text(&m)));
    }
    if show.info
        && let Some(i) = s.tcp()
    {
        info_words(&mut w, i, s.state == State::Listen);
    }
    if !w.any() {
        out.truncate(start);
    }
    if show.problems {
        for p in &s.problems {
            if out.len() > start {
                out.push('\n');
            }
            let _ = write!(out, "\t ! {}: {}", p.code.name(), p.text);
        }
    }
}

/// Space-separated words written straight into the detail text (no string per word: a table
/// of 20,000 sockets with -i writes 600,000 of them).
struct Words<'a> {
    out: &'a mut String,
    start: usize,
}

impl Words<'_> {
    fn add(&mut self, w: std::fmt::Arguments<'_>) {
        if self.any() {
            self.out.push(' ');
        }
        let _ = self.out.write_fmt(w);
    }

    fn any(&self) -> bool {
        self.out.len() > self.start
    }
}

/// `keepalive,119min,0` as ss -o prints it.
pub fn timer_text(t: &Timer) -> String {
    format!("{},{},{}", t.kind.name(), ms_timer(t.expires_ms), t.retries)
}

/// `r0,rb131072,t0,tb2626560,f0,w0,o0,bl0,d0` as ss -m prints it.
pub fn skmem_text(m: &MemInfo) -> String {
    let mut t = format!(
        "r{},rb{},t{},tb{},f{},w{},o{},bl{}",
        m.rmem_alloc,
        m.rcvbuf,
        m.wmem_alloc,
        m.sndbuf,
        m.fwd_alloc,
        m.wmem_queued,
        m.optmem,
        m.backlog
    );
    if let Some(d) = m.drops {
        let _ = write!(t, ",d{d}");
    }
    t
}

/// A time left in ss's manner: `119min`, `7.5sec`... `1min`, `59sec`, `200ms`.
pub fn ms_timer(ms: u32) -> String {
    let mut secs = ms / 1000;
    let minutes = secs / 60;
    secs %= 60;
    let mut msecs = ms % 1000;
    let mut out = String::new();
    if minutes > 0 {
        msecs = 0;
        let _ = write!(out, "{minutes}min");
        if minutes > 9 {
            secs = 0;
        }
    }
    if secs > 0 {
        if secs > 9 {
            msecs = 0;
        }
        let _ = write!(out, "{secs}{}", if msecs > 0 { "." } else { "sec" });
    }
    if msecs > 0 {
        let _ = write!(out, "{msecs:03}ms");
    }
    if out.is_empty() {
        out.push_str("0ms");
    }
    out
}

/// A rate in bytes per second as bits per second, as ss prints it (`2.6Gbps`, `830Kbps`).
pub fn bps_text(bytes_per_sec: u64) -> String {
    Bps(bytes_per_sec).to_string()
}

/// Milliseconds from microseconds, as ss prints them (`0.027`, `204`, `0.5`).
struct Ms(u32);

impl std::fmt::Display for Ms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (whole, mut frac) = (self.0 / 1000, self.0 % 1000);
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let mut digits = 3;
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        write!(f, "{whole}.{frac:0digits$}")
    }
}

/// A rate in bytes per second as [`bps_text`] writes it, without a string of its own.
struct Bps(u64);

impl std::fmt::Display for Bps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bits = self.0 as f64 * 8.0;
        if bits >= 1e9 {
            write!(f, "{:.1}Gbps", bits / 1e9)
        } else if bits >= 1e6 {
            write!(f, "{:.1}Mbps", bits / 1e6)
        } else if bits >= 1e3 {
            write!(f, "{:.1}Kbps", bits / 1e3)
        } else {
            write!(f, "{bits}bps")
        }
    }
}

/// tcp_info as ss -i words. A listener's unacked/sacked are its accept queue and backlog
/// (already Recv-Q and Send-Q), so they are not repeated.
fn info_words(w: &mut Words<'_>, i: &TcpInfo, listener: bool) {
    let bits = i.options_bits().unwrap_or(0);
    for (bit, name) in OPTIONS {
        if bits & bit != 0 && name != "wscale" {
            w.add(format_args!("{name}"));
        }
    }
    if let Some(c) = i.cong() {
        w.add(format_args!("{c}"));
    }
    if let Some((snd, rcv)) = i.wscale() {
        w.add(format_args!("wscale:{snd},{rcv}"));
    }
    let nonzero = |v: Option<u32>| v.filter(|&v| v != 0);
    let nonzero64 = |v: Option<u64>| v.filter(|&v| v != 0);
    if let Some(v) = nonzero(i.rto_us()) {
        w.add(format_args!("rto:{}", Ms(v)));
    }
    if let Some(v) = i.backoff().filter(|&v| v != 0) {
        w.add(format_args!("backoff:{v}"));
    }
    if let (Some(rtt), Some(var)) = (nonzero(i.rtt_us()), i.rttvar_us()) {
        w.add(format_args!("rtt:{}/{}", Ms(rtt), Ms(var)));
    }
    if let Some(v) = nonzero(i.ato_us()) {
        w.add(format_args!("ato:{}", Ms(v)));
    }
    if let Some(v) = nonzero(i.snd_mss()) {
        w.add(format_args!("mss:{v}"));
    }
    if let Some(v) = nonzero(i.pmtu()) {
        w.add(format_args!("pmtu:{v}"));
    }
    if let Some(v) = nonzero(i.rcv_mss()) {
        w.add(format_args!("rcvmss:{v}"));
    }
    if let Some(v) = nonzero(i.advmss()) {
        w.add(format_args!("advmss:{v}"));
    }
    if let Some(v) = nonzero(i.snd_cwnd()) {
        w.add(format_args!("cwnd:{v}"));
    }
    if let Some(v) = i
        .snd_ssthresh()
        .filter(|&v| v != 0 && v < INFINITE_SSTHRESH)
    {
        w.add(format_args!("ssthresh:{v}"));
    }
    for (name, v) in [
        ("bytes_sent", i.bytes_sent()),
        ("bytes_retrans", i.bytes_retrans()),
        ("bytes_acked", i.bytes_acked()),
        ("bytes_received", i.bytes_received()),
    ] {
        if let Some(v) = nonzero64(v) {
            w.add(format_args!("{name}:{v}"));
        }
    }
    for (name, v) in [
        ("segs_out", i.segs_out()),
        ("segs_in", i.segs_in()),
        ("data_segs_out", i.data_segs_out()),
        ("data_segs_in", i.data_segs_in()),
    ] {
        if let Some(v) = nonzero(v) {
            w.add(format_args!("{name}:{v}"));
        }
    }
    // What the congestion window allows per RTT, as ss's "send" rate.
    if let (Some(cwnd), Some(mss), Some(rtt)) = (
        nonzero(i.snd_cwnd()),
        nonzero(i.snd_mss()),
        nonzero(i.rtt_us()),
    ) {
        let rate = u64::from(cwnd) * u64::from(mss) * 1_000_000 / u64::from(rtt);
        w.add(format_args!("send:{}", Bps(rate)));
    }
    for (name, v) in [
        ("lastsnd", i.last_data_sent_ms()),
        ("lastrcv", i.last_data_recv_ms()),
        ("lastack", i.last_ack_recv_ms()),
    ] {
        if let Some(v) = nonzero(v) {
            w.add(format_args!("{name}:{v}"));
        }
    }
    if let Some(v) = nonzero64(i.pacing_rate()).filter(|&v| v != u64::MAX) {
        w.add(format_args!("pacing_rate:{}", Bps(v)));
    }
    if let Some(v) = nonzero64(i.delivery_rate()) {
        w.add(format_args!("delivery_rate:{}", Bps(v)));
    }
    if let Some(v) = nonzero(i.delivered()) {
        w.add(format_args!("delivered:{v}"));
    }
    if i.app_limited() == Some(true) {
        w.add(format_args!("app_limited"));
    }
    if let Some(busy) = nonzero64(i.busy_us()) {
        w.add(format_args!("busy:{}ms", busy / 1000));
        for (name, v) in [
            ("rwnd_limited", i.rwnd_limited_us()),
            ("sndbuf_limited", i.sndbuf_limited_us()),
        ] {
            if let Some(v) = nonzero64(v) {
                w.add(format_args!(
                    "{name}:{}ms({:.1}%)",
                    v / 1000,
                    v as f64 * 100.0 / busy as f64
                ));
            }
        }
    }
    if let Some(v) = nonzero(i.unacked()).filter(|_| !listener) {
        w.add(format_args!("unacked:{v}"));
    }
    if let (Some(now), Some(total)) = (i.retrans(), i.total_retrans())
        && (now != 0 || total != 0)
    {
        w.add(format_args!("retrans:{now}/{total}"));
    }
    for (name, v) in [
        ("lost", i.lost()),
        ("sacked", i.sacked().filter(|_| !listener)),
        ("dsack_dups", i.dsack_dups()),
        ("reordering", i.reordering().filter(|&r| r != 3)),
        ("reord_seen", i.reord_seen()),
    ] {
        if let Some(v) = nonzero(v) {
            w.add(format_args!("{name}:{v}"));
        }
    }
    if let Some(v) = nonzero(i.rcv_rtt_us()) {
        w.add(format_args!("rcv_rtt:{}", Ms(v)));
    }
    for (name, v) in [
        ("rcv_space", i.rcv_space()),
        ("rcv_ssthresh", i.rcv_ssthresh()),
        ("notsent", i.notsent_bytes()),
    ] {
        if let Some(v) = nonzero(v) {
            w.add(format_args!("{name}:{v}"));
        }
    }
    if let Some(v) = nonzero(i.min_rtt_us()).filter(|&v| v != u32::MAX) {
        w.add(format_args!("minrtt:{}", Ms(v)));
    }
    if let Some(v) = nonzero(i.rcv_ooopack()) {
        w.add(format_args!("rcv_ooopack:{v}"));
    }
    if let Some(v) = i.snd_wnd().filter(|_| !listener) {
        w.add(format_args!("snd_wnd:{v}"));
    }
    if let Some(v) = nonzero(i.rcv_wnd()) {
        w.add(format_args!("rcv_wnd:{v}"));
    }
}

/// The health line `who` ends with for a TCP listener: `healthy: accept queue 0/4096`, or
/// `accept queue full: 129/128; the kernel dropped 37 SYNs (TcpExtListenOverflows) in the last
/// second` (`dropped`: the counter's rise over that second, when it could be read).
pub fn listener_health(s: &Socket, dropped: Option<i64>) -> String {
    let queue = format!("{}/{}", s.recv_q, s.send_q);
    if s.recv_q <= s.send_q {
        return format!("healthy: accept queue {queue}");
    }
    let drops = match dropped {
        Some(n) => format!(
            "the kernel dropped {} (TcpExtListenOverflows) in the last second",
            plural(n, "SYN")
        ),
        None => "the kernel drops new SYNs".to_string(),
    };
    format!(
        "accept queue full: {queue}; {drops}: the application is not accepting connections \
         fast enough (or at all)"
    )
}

/// `info` in JSON: tcp_info with the names of DESIGN.md; a field the kernel did not send is
/// left out, never zero.
#[derive(Debug, Serialize)]
pub struct InfoRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rttvar_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rto_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ato_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_rtt_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwnd: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssthresh: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mss: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcv_mss: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advmss: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pmtu: Option<u32>,
    /// Segments retransmitted and not yet acknowledged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retrans: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_retrans: Option<u32>,
    /// Unrecovered retransmission timeouts in a row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retransmits: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unacked: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sacked: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_sent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_retrans: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_acked: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_received: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segs_out: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segs_in: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_segs_out: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_segs_in: Option<u32>,
    /// Bytes per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_rate: Option<u64>,
    /// Bytes per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pacing_rate: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busy_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rwnd_limited_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sndbuf_limited_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_data_sent_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_data_recv_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ack_recv_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snd_wnd: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcv_wnd: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcv_space: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notsent_bytes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snd_wscale: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcv_wscale: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cong: Option<String>,
    /// Negotiated options: `ts`, `sack`, `wscale`, `ecn`, `ecnseen`, `fastopen`.
    pub options: Vec<&'static str>,
}

impl InfoRecord {
    pub fn new(i: &TcpInfo) -> InfoRecord {
        let ms = |us: Option<u32>| us.map(|v| f64::from(v) / 1000.0);
        let ms64 = |us: Option<u64>| us.map(|v| v as f64 / 1000.0);
        let ws = i.wscale();
        InfoRecord {
            rtt_ms: ms(i.rtt_us()),
            rttvar_ms: ms(i.rttvar_us()),
            rto_ms: ms(i.rto_us()),
            ato_ms: ms(i.ato_us()),
            min_rtt_ms: ms(i.min_rtt_us().filter(|&v| v != u32::MAX)),
            cwnd: i.snd_cwnd(),
            // TCP_INFINITE_SSTHRESH before the first loss: there is no threshold yet.
            ssthresh: i.snd_ssthresh().filter(|&v| v < INFINITE_SSTHRESH),
            mss: i.snd_mss(),
            rcv_mss: i.rcv_mss(),
            advmss: i.advmss(),
            pmtu: i.pmtu(),
            retrans: i.retrans(),
            total_retrans: i.total_retrans(),
            retransmits: i.retransmits(),
            lost: i.lost(),
            unacked: i.unacked(),
            sacked: i.sacked(),
            bytes_sent: i.bytes_sent(),
            bytes_retrans: i.bytes_retrans(),
            bytes_acked: i.bytes_acked(),
            bytes_received: i.bytes_received(),
            segs_out: i.segs_out(),
            segs_in: i.segs_in(),
            data_segs_out: i.data_segs_out(),
            data_segs_in: i.data_segs_in(),
            delivery_rate: i.delivery_rate(),
            // ~0 is the kernel's "no pacing", not a rate (and no JSON reader keeps it exact).
            pacing_rate: i.pacing_rate().filter(|&r| r != u64::MAX),
            busy_ms: ms64(i.busy_us()),
            rwnd_limited_ms: ms64(i.rwnd_limited_us()),
            sndbuf_limited_ms: ms64(i.sndbuf_limited_us()),
            last_data_sent_ms: i.last_data_sent_ms(),
            last_data_recv_ms: i.last_data_recv_ms(),
            last_ack_recv_ms: i.last_ack_recv_ms(),
            snd_wnd: i.snd_wnd(),
            rcv_wnd: i.rcv_wnd(),
            rcv_space: i.rcv_space(),
            notsent_bytes: i.notsent_bytes(),
            snd_wscale: ws.map(|w| w.0),
            rcv_wscale: ws.map(|w| w.1),
            cong: i.cong().map(str::to_string),
            options: i.options(),
        }
    }
}

/// `timer` in JSON.
#[derive(Debug, Serialize)]
pub struct TimerRecord {
    pub kind: &'static str,
    pub expires_ms: u32,
    pub retries: u8,
}

impl From<&Timer> for TimerRecord {
    fn from(t: &Timer) -> TimerRecord {
        TimerRecord {
            kind: t.kind.name(),
            expires_ms: t.expires_ms,
            retries: t.retries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sockets::health::TimerKind;

    #[test]
    fn timers_as_ss_prints_them() {
        assert_eq!(ms_timer(7_199_000), "119min");
        assert_eq!(ms_timer(65_500), "1min5sec");
        assert_eq!(ms_timer(59_000), "59sec");
        assert_eq!(ms_timer(7_500), "7.500ms");
        assert_eq!(ms_timer(200), "200ms");
        assert_eq!(ms_timer(0), "0ms");
        let t = Timer {
            kind: TimerKind::KeepAlive,
            expires_ms: 7_199_000,
            retries: 0,
        };
        assert_eq!(timer_text(&t), "keepalive,119min,0");
    }

    #[test]
    fn listener_health_lines() {
        use crate::sockets::{Endpoint, Family, Proto};
        let mut l = Socket::new(
            Proto::Tcp,
            Family::Inet,
            Endpoint::ip([0, 0, 0, 0].into(), 80),
            Endpoint::ip([0, 0, 0, 0].into(), 0),
            State::Listen,
        );
        l.send_q = 4096;
        assert_eq!(listener_health(&l, None), "healthy: accept queue 0/4096");
        l.recv_q = 129;
        l.send_q = 128;
        let text = listener_health(&l, Some(37));
        assert!(
            text.starts_with(
                "accept queue full: 129/128; the kernel dropped 37 SYNs (TcpExtListenOverflows) in the last second"
            ),
            "{text}"
        );
        assert!(listener_health(&l, None).contains("drops new SYNs"));
    }

    #[test]
    fn rates_and_memory() {
        assert_eq!(bps_text(325_000_000), "2.6Gbps");
        assert_eq!(bps_text(100), "800bps");
        assert_eq!(Ms(27).to_string(), "0.027");
        assert_eq!(Ms(204_000).to_string(), "204");
        assert_eq!(Ms(500).to_string(), "0.5");
        assert_eq!(Ms(1_230).to_string(), "1.23");
        let m = MemInfo {
            rcvbuf: 131_072,
            sndbuf: 2_626_560,
            drops: Some(3),
            ..MemInfo::default()
        };
        assert_eq!(skmem_text(&m), "r0,rb131072,t0,tb2626560,f0,w0,o0,bl0,d3");
    }
}
