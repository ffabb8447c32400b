//! The counters that explain trouble, each with what it means in plain words and whether a rise
//! means trouble. `stats` shows these by default; `--watch` marks the troubling ones.
//! Also which counters are gauges (values, not counts) and which ones nstat leaves out.

/// One counter that explains something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The nstat name.
    pub name: &'static str,
    /// What a rise means, in plain words.
    pub meaning: &'static str,
    /// Whether a rise means trouble (as opposed to context: opens, segments, datagrams).
    pub trouble: bool,
}

const fn t(name: &'static str, meaning: &'static str) -> Entry {
    Entry {
        name,
        meaning,
        trouble: true,
    }
}

const fn c(name: &'static str, meaning: &'static str) -> Entry {
    Entry {
        name,
        meaning,
        trouble: false,
    }
}

/// The catalogue, in the order `stats` shows it: listeners, retransmissions, resets, memory,
/// errors, UDP, IP, ICMP, then the context counters.
pub static CATALOGUE: &[Entry] = &[
    // Listeners: accept queue and SYN queue.
    t(
        "TcpExtListenOverflows",
        "a connection was dropped because a listener's accept queue was full: the application does not accept() fast enough, or its backlog (listen(), net.core.somaxconn) is too small",
    ),
    t(
        "TcpExtListenDrops",
        "SYNs or handshake ACKs a listener dropped, for any reason (every ListenOverflow counts here too; more than those means memory or other failures)",
    ),
    t(
        "TcpExtTCPReqQFullDrop",
        "a SYN was dropped because the listener's SYN queue was full and syncookies are off: a SYN flood, or a backlog too small for the connection rate",
    ),
    t(
        "TcpExtTCPReqQFullDoCookies",
        "the listener's SYN queue was full, so a SYN cookie answered instead: a SYN flood, or a burst of connections larger than the backlog",
    ),
    t(
        "TcpExtSyncookiesSent",
        "SYN cookies sent because a listener's SYN queue overflowed",
    ),
    t(
        "TcpExtSyncookiesRecv",
        "handshakes completed with a valid SYN cookie (such connections lose some TCP options, e.g. window scaling)",
    ),
    t(
        "TcpExtSyncookiesFailed",
        "ACKs whose SYN cookie was invalid: late, stray or forged ACKs",
    ),
    t(
        "TcpExtTCPFastOpenListenOverflow",
        "Fast Open SYNs handled as plain SYNs because the listener's Fast Open queue was full",
    ),
    // Retransmissions and timeouts.
    t(
        "TcpRetransSegs",
        "TCP segments retransmitted: packet loss or congestion on the path (compare with TcpOutSegs)",
    ),
    t(
        "TcpExtTCPTimeouts",
        "retransmission timeouts (RTO) fired: no ACK came back in time, loss that fast retransmit could not repair",
    ),
    t(
        "TcpExtTCPSynRetrans",
        "SYNs and SYN/ACKs retransmitted: the peer or the path drops handshake packets, or a server answers too slowly",
    ),
    t(
        "TcpExtTCPLostRetransmit",
        "retransmitted segments that were lost again: heavy loss on the path",
    ),
    t(
        "TcpExtTCPFastRetrans",
        "segments resent by fast retransmit (duplicate ACKs or SACK): loss repaired without waiting for a timeout",
    ),
    t(
        "TcpExtTCPSpuriousRTOs",
        "retransmission timeouts that were needless (the ACK was only late): delay spikes on the path",
    ),
    t(
        "TcpExtTCPRetransFail",
        "retransmissions that could not be sent (the device queue or memory refused them)",
    ),
    // Resets and aborts.
    t(
        "TcpEstabResets",
        "connections reset while ESTABLISHED or CLOSE-WAIT: a peer aborted, or the application closed with unread data",
    ),
    t(
        "TcpOutRsts",
        "RSTs sent: connects refused (nothing listens on the port), connections aborted, or segments for connections that no longer exist",
    ),
    t(
        "TcpAttemptFails",
        "connection attempts that failed during the handshake (SYN-SENT or SYN-RECV back to CLOSED or LISTEN): refused or reset",
    ),
    t(
        "TcpExtTCPAbortOnData",
        "connections reset because data arrived after the application had closed its end (or it closed with SO_LINGER 0)",
    ),
    t(
        "TcpExtTCPAbortOnClose",
        "connections reset because the application closed them with data still unread in the receive queue",
    ),
    t(
        "TcpExtTCPAbortOnMemory",
        "connections reset for lack of memory: too many orphaned sockets (net.ipv4.tcp_max_orphans) or TCP memory exhausted",
    ),
    t(
        "TcpExtTCPAbortOnTimeout",
        "connections given up after too many unanswered retransmissions, keepalives or window probes: the peer vanished",
    ),
    t(
        "TcpExtTCPAbortOnLinger",
        "connections reset when their FIN-WAIT-2 time (net.ipv4.tcp_fin_timeout, TCP_LINGER2) ran out",
    ),
    t(
        "TcpExtTCPAbortFailed",
        "resets that could not be sent (no memory)",
    ),
    // Memory, backlog and receive-queue drops.
    t(
        "TcpExtTCPBacklogDrop",
        "segments dropped because a socket's backlog was full while the application held it: an overloaded receiver",
    ),
    t(
        "TcpExtPruneCalled",
        "a socket's receive queue went over its memory limit and had to be collapsed: the application reads too slowly, or the receive buffer is small",
    ),
    t(
        "TcpExtRcvPruned",
        "segments dropped from a receive queue because collapsing it did not free enough memory",
    ),
    t(
        "TcpExtOfoPruned",
        "out-of-order segments thrown away to free receive memory",
    ),
    t(
        "TcpExtTCPRcvQDrop",
        "segments dropped because the socket's receive buffer was full: the application does not read fast enough",
    ),
    t(
        "TcpExtTCPZeroWindowDrop",
        "segments dropped because our receive window was zero: the application stopped reading",
    ),
    t(
        "TcpExtTCPToZeroWindowAdv",
        "times a socket advertised a zero window: the application reads slower than its peer sends",
    ),
    t(
        "TcpExtTCPOFODrop",
        "out-of-order segments dropped because the socket had no receive memory left",
    ),
    t(
        "TcpExtTCPMemoryPressures",
        "times TCP entered memory pressure (net.ipv4.tcp_mem): the host's TCP buffers as a whole run short",
    ),
    t(
        "TcpExtTCPWqueueTooBig",
        "sends refused because a socket's write queue had grown too large",
    ),
    t(
        "TcpExtTCPTimeWaitOverflow",
        "TIME-WAIT sockets not kept because net.ipv4.tcp_max_tw_buckets was reached",
    ),
    // TCP errors.
    t(
        "TcpInErrs",
        "TCP segments received with errors (bad checksum or header)",
    ),
    t(
        "TcpInCsumErrors",
        "TCP segments received with a bad checksum: corruption on the wire, or a broken NIC or offload",
    ),
    // UDP.
    t(
        "UdpInErrors",
        "UDP datagrams that could not be delivered: receive buffer full, bad checksum or other errors (includes UdpRcvbufErrors)",
    ),
    t(
        "UdpRcvbufErrors",
        "UDP datagrams dropped because a socket's receive buffer was full: the application reads too slowly, or SO_RCVBUF (net.core.rmem_max) is too small",
    ),
    t(
        "UdpSndbufErrors",
        "UDP sends dropped because the socket's send buffer was full",
    ),
    t(
        "UdpNoPorts",
        "UDP datagrams to a port where nothing listens (answered with ICMP port unreachable)",
    ),
    t(
        "UdpInCsumErrors",
        "UDP datagrams received with a bad checksum",
    ),
    t(
        "UdpMemErrors",
        "UDP datagrams dropped because UDP's memory limit (net.ipv4.udp_mem) was reached",
    ),
    t(
        "Udp6InErrors",
        "IPv6 UDP datagrams that could not be delivered: receive buffer full, bad checksum or other errors",
    ),
    t(
        "Udp6RcvbufErrors",
        "IPv6 UDP datagrams dropped because a socket's receive buffer was full: the application reads too slowly, or its buffer is too small",
    ),
    t(
        "Udp6SndbufErrors",
        "IPv6 UDP sends dropped because the socket's send buffer was full",
    ),
    t(
        "Udp6NoPorts",
        "IPv6 UDP datagrams to a port where nothing listens",
    ),
    t(
        "Udp6InCsumErrors",
        "IPv6 UDP datagrams received with a bad checksum",
    ),
    t(
        "Udp6MemErrors",
        "IPv6 UDP datagrams dropped because UDP's memory limit was reached",
    ),
    // IP: routes, filters, discards.
    t(
        "IpOutNoRoutes",
        "outgoing IPv4 packets dropped because no route matched: a missing default route, or a wrong address",
    ),
    t(
        "IpExtInNoRoutes",
        "incoming IPv4 packets dropped because no route matched their destination",
    ),
    t(
        "TcpExtIPReversePathFilter",
        "incoming packets dropped by reverse-path filtering (rp_filter): the route back to their source leaves by another interface (asymmetric routing, or spoofing)",
    ),
    t(
        "IpInDiscards",
        "incoming IPv4 packets discarded though undamaged (usually for lack of memory)",
    ),
    t(
        "IpOutDiscards",
        "outgoing IPv4 packets discarded though undamaged (e.g. for lack of buffer space)",
    ),
    t(
        "IpInAddrErrors",
        "incoming IPv4 packets dropped because their destination is not an address of this host (and forwarding is off), or is invalid",
    ),
    t(
        "IpInHdrErrors",
        "incoming IPv4 packets with a bad header (checksum, version, options, TTL run out)",
    ),
    t(
        "IpReasmFails",
        "IPv4 packets that could not be reassembled: fragments lost or timed out",
    ),
    t(
        "IpFragFails",
        "IPv4 packets that had to be fragmented but could not be (Don't Fragment set): a path MTU problem",
    ),
    t(
        "Ip6InNoRoutes",
        "incoming IPv6 packets dropped because no route matched their destination",
    ),
    t(
        "Ip6OutNoRoutes",
        "outgoing IPv6 packets dropped because no route matched: a missing default route, or a wrong address",
    ),
    t(
        "Ip6InDiscards",
        "incoming IPv6 packets discarded though undamaged (usually for lack of memory)",
    ),
    t(
        "Ip6OutDiscards",
        "outgoing IPv6 packets discarded though undamaged",
    ),
    t(
        "Ip6InAddrErrors",
        "incoming IPv6 packets dropped because their destination is not an address of this host, or is invalid",
    ),
    t(
        "Ip6InTooBigErrors",
        "IPv6 packets that could not be forwarded because they were larger than the next link's MTU",
    ),
    t(
        "Ip6ReasmFails",
        "IPv6 packets that could not be reassembled: fragments lost or timed out",
    ),
    // ICMP.
    t(
        "IcmpInDestUnreachs",
        "ICMP destination unreachable received: connects to closed UDP ports, unreachable hosts or networks, or fragmentation needed (path MTU)",
    ),
    t(
        "IcmpOutDestUnreachs",
        "ICMP destination unreachable sent: datagrams came here for closed ports, or could not be routed on",
    ),
    t(
        "IcmpInErrors",
        "ICMP messages received damaged (bad checksum, too short)",
    ),
    t(
        "IcmpOutRateLimitGlobal",
        "ICMP messages not sent because of the global limit (net.ipv4.icmp_msgs_per_sec)",
    ),
    t(
        "IcmpOutRateLimitHost",
        "ICMP messages not sent because of the per-host limit (net.ipv4.icmp_ratelimit)",
    ),
    t(
        "Icmp6InDestUnreachs",
        "ICMPv6 destination unreachable received: closed ports, unreachable hosts or networks",
    ),
    t(
        "Icmp6OutDestUnreachs",
        "ICMPv6 destination unreachable sent: datagrams came here for closed ports, or could not be routed on",
    ),
    // Context: what the numbers above compare with.
    c("TcpActiveOpens", "connections this host opened (connect())"),
    c(
        "TcpPassiveOpens",
        "connections the listeners here accepted (handshakes completed)",
    ),
    c(
        "TcpCurrEstab",
        "connections now ESTABLISHED or CLOSE-WAIT (a value, not a count)",
    ),
    c("TcpInSegs", "TCP segments received"),
    c(
        "TcpOutSegs",
        "TCP segments sent, not counting retransmissions",
    ),
    c("UdpInDatagrams", "UDP datagrams delivered to sockets"),
    c("UdpOutDatagrams", "UDP datagrams sent"),
    c("Udp6InDatagrams", "IPv6 UDP datagrams delivered to sockets"),
    c("Udp6OutDatagrams", "IPv6 UDP datagrams sent"),
];

/// The catalogue entry of a counter (exact nstat name).
pub fn describe(name: &str) -> Option<&'static Entry> {
    CATALOGUE.iter().find(|e| e.name == name)
}

/// The counters that nstat reads but never prints ("useless numbers" in nstat.c: settings and
/// values, not counts). sockscope shows them; they are the only names `stats --all` has beyond
/// `nstat -az`. All of them are gauges.
pub const NSTAT_HIDDEN: [&str; 7] = [
    "IpForwarding",
    "IpDefaultTTL",
    "TcpRtoAlgorithm",
    "TcpRtoMin",
    "TcpRtoMax",
    "TcpMaxConn",
    "TcpCurrEstab",
];

/// The gauges nstat does print.
const PRINTED_GAUGES: [&str; 1] = ["SctpCurrEstab"];

/// Whether a counter is a value rather than a count: it goes up and down (a Prometheus gauge;
/// `--watch` gives it no rate). These are [`NSTAT_HIDDEN`] and SctpCurrEstab.
pub fn is_gauge(name: &str) -> bool {
    NSTAT_HIDDEN.contains(&name) || PRINTED_GAUGES.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_are_unique_and_meant() {
        for (i, e) in CATALOGUE.iter().enumerate() {
            assert!(
                !CATALOGUE[..i].iter().any(|o| o.name == e.name),
                "{} twice",
                e.name
            );
            assert!(e.meaning.len() > 10, "{} needs a meaning", e.name);
            assert!(!e.meaning.contains('\n'));
        }
        assert!(describe("TcpExtListenOverflows").is_some_and(|e| e.trouble));
        assert!(describe("TcpActiveOpens").is_some_and(|e| !e.trouble));
        assert!(describe("TcpExtTW").is_none());
    }

    #[test]
    fn catalogue_names_exist_in_this_kernels_files() {
        // Every entry but those of newer or older kernels is in the fixture from a 6.18 kernel.
        let names = crate::stats::tests::fixture()
            .names()
            .collect::<Vec<_>>()
            .join(" ");
        for e in CATALOGUE {
            assert!(
                names.split(' ').any(|n| n == e.name),
                "{} is not a counter of the fixture",
                e.name
            );
        }
    }
}
