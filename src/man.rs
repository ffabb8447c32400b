//! Man pages, generated from the clap definitions with clap_mangen: `sockscope.1` (with the
//! sections clap cannot know: output, JSON fields, exit status, privileges, examples) and one
//! `sockscope-COMMAND.1` per subcommand. `tests/man.rs` fails when the committed pages in `man/`
//! are stale; `SOCKSCOPE_UPDATE_MAN=1 cargo test --test man` rewrites them.

use clap::CommandFactory;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};

use crate::cli::Cli;

/// Every page: (file name, roff text).
pub fn pages() -> std::io::Result<Vec<(String, String)>> {
    // The plain version: the commit in --version (build.rs) would make the pages change with
    // every commit.
    let mut cmd = Cli::command()
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let man = Man::new(sub.clone())
            .date("")
            .source("sockscope")
            .manual("sockscope manual");
        let mut buf = Vec::new();
        man.render(&mut buf)?;
        out.push((
            man.get_filename(),
            String::from_utf8_lossy(&buf).into_owned(),
        ));
    }
    let man = Man::new(cmd)
        .date("")
        .source("sockscope")
        .manual("sockscope manual");
    let mut buf = Vec::new();
    man.render(&mut buf)?;
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    text.push_str(&extra_sections().to_roff());
    out.insert(0, (man.get_filename(), text));
    Ok(out)
}

fn section(r: &mut Roff, title: &str) {
    r.control("SH", [title]);
}

fn para(r: &mut Roff, text: &str) {
    r.control("PP", []).text([roman(text)]);
}

fn item(r: &mut Roff, tag: &str, text: &str) {
    r.control("TP", []).text([bold(tag)]).text([roman(text)]);
}

fn extra_sections() -> Roff {
    let mut r = Roff::new();

    section(&mut r, "LIST");
    para(
        &mut r,
        "sockscope list shows TCP and UDP sockets over IPv4 and IPv6 in every state by default; -x adds UNIX sockets (stream, dgram, seqpacket; path, @abstract name or * for unnamed, and the peer's name), -w RAW sockets (the IP protocol shows as the local port, e.g. icmp(1)). Naming protocols with -t, -u, -x or -w shows only those.",
    );
    para(
        &mut r,
        "Columns: Proto, Local, Remote, State, Recv-Q, Send-Q, PID/Process, User. Proto is tcp, udp, raw, or u_str, u_dgr, u_seq for UNIX sockets. Addresses are numeric (IPv6 in brackets, IPv4-mapped IPv6 kept as ::ffff:a.b.c.d, link-local with %interface); -r resolves host and service names. A remote port of * means unconnected. For listening TCP sockets Recv-Q is the accept queue and Send-Q the backlog, as in ss.",
    );
    para(
        &mut r,
        "PID/Process lists every process holding the socket as PID/name, comma-separated (a socket shared by a pre-forked server has several). It shows - when the owner cannot be seen (another user's process, and sockscope is not root; a line on stderr says so) and (none) when no process holds the socket (TIME-WAIT, or closed meanwhile). User is the user that created the socket.",
    );
    para(
        &mut r,
        "On a terminal the table is drawn with comfy-table; in a pipe the columns are plain, space-aligned and stable, one socket per line. Filters: --port matches either end and takes ranges (8000-8100); --addr takes an address or CIDR network and matches either end; --state takes ss state names or the group connected; --pid, --process (substring of the name) and --user (name or uid of the socket's creator or of an owning process) select by owner. --summary prints counts per protocol, family and state instead (like ss -s). --watch refreshes every SECS seconds (default 2) and marks sockets that appeared with + and those that vanished with -; in a pipe it prints the full table once and then only the changes.",
    );

    section(&mut r, "SOCKET HEALTH");
    para(
        &mut r,
        "-i adds TCP internals (as ss -i), -m socket memory (as ss -m), -o the pending timer (as ss -o), as a second line under each socket made of key:value words: options (ts sack ecn), the congestion control, wscale:SND,RCV, rto, rtt:RTT/RTTVAR and minrtt (milliseconds), mss, pmtu, cwnd, ssthresh, bytes_sent, bytes_retrans, bytes_acked, bytes_received, segs_out, segs_in, send (what cwnd allows per RTT), pacing_rate, delivery_rate, busy with rwnd_limited and sndbuf_limited (time limited by the peer's window or by the send buffer, and the share of busy time), unacked, retrans:NOW/TOTAL, lost, snd_wnd, rcv_space; skmem:(r,rb,t,tb,f,w,o,bl,d); timer:(retransmit|keepalive|timewait|persist,TIME,RETRIES) (ss calls the retransmit timer on; persist is the zero-window probe). Only what the running kernel's tcp_info holds is shown: a field an older kernel does not send is absent, never zero. TIME-WAIT and SYN-RECV sockets have no tcp_info. sock_diag needs no privilege, so every user sees the tcp_info of every socket.",
    );
    para(
        &mut r,
        "Every TCP and UDP socket is checked for problems, each said in plain words with what to do, on lines beginning with ! under the socket (with -i, -m, -o or --problems): accept-queue-full (a listener's Recv-Q is over its backlog: the kernel drops SYNs), unread-data (received data left unread for over a second), zero-window (the peer advertises no room; a persist timer probes it), retransmitting (retransmissions pending now, or more than 1% of the segments sent; a SYN sent again and again), rwnd-limited and sndbuf-limited (more than half of the time spent sending was limited by the peer's window or by the send buffer), close-wait (the peer closed and the application has not), drops (the kernel dropped datagrams or packets for the socket because its receive buffer was full; for a listener, connection attempts its full accept queue made the kernel drop). With --watch, the counters are compared with the previous sample, so a problem is about the last interval. --problems keeps only sockets with a problem and prints nothing (exit 0) when there is none; a plain list table does not ask the kernel for tcp_info and shows no problems, so it stays as fast as a plain dump. --summary adds the count of sockets with each problem; --summary --prometheus writes the counts in the Prometheus text format (gauges sockscope_sockets{proto,state} and sockscope_socket_problems{proto,problem}) for node_exporter's textfile collector. who ends with one health line per TCP listener (healthy: accept queue 0/4096, or accept queue full: 129/128 with the SYNs the kernel dropped in the last second, from TcpExtListenOverflows) and the problems of the other sockets on the port.",
    );

    section(&mut r, "WHO");
    para(
        &mut r,
        "sockscope who PORT[/tcp|/udp]... shows the sockets bound to each local port, listening sockets first, with one line per owning process: pid, name, user, start time and command line. When nothing holds a port it says so (\"nothing holds port 8080\") and exits 1; TIME-WAIT remnants alone do not count as holding it. Owners hidden for lack of privilege are shown as such, with a line on stderr. To stay fast on hosts with many sockets it stops reading /proc once every socket has an owner, then still looks at the descendants of the owners found, which may share the socket (pre-forked servers).",
    );

    section(&mut r, "CHECK");
    para(
        &mut r,
        "sockscope check HOST:PORT... resolves each target (A and AAAA records), probes every address with a real TCP connect and classifies it: open (with the connect time), refused (a RST: nothing listens there), timeout (no answer within --timeout: filtered, or the host is down), unreachable (ICMP or no route), dns-error. A target is open when any of its addresses is. With --udp it sends a probe datagram: an echoed reply means open, an ICMP port-unreachable closed, silence open|filtered (an open port that does not answer looks the same). For a target that is an address of this host, check also reads the local socket table: it names the listening socket and its process, or says that the port is listening only on another address (for example on 127.0.0.1 but checked on the external address, or IPv4 only and checked on ::1), or that nothing listens on it at all.",
    );
    para(
        &mut r,
        "--wait DUR probes again every 250 ms until every target is open or DUR has passed, saying on stderr what it still waits for; scripts use it to wait for a server to come up. Exit status: 0 when every target is open, 1 when any is not, 2 for bad input. --json prints one record per target: target, host, port, proto, status, time_ms, addresses (each with addr, status, time_ms, error), local, listeners (local_addr, local_port, state, serves_target, processes, owners_hidden) and note.",
    );

    section(&mut r, "ECHO");
    para(
        &mut r,
        "sockscope echo runs an echo server: TCP and UDP on the same port (default 127.0.0.1:7007; -l ADDR:PORT, port 0 for any free port; it never listens on every interface unless asked, e.g. -l 0.0.0.0:7007), --tcp or --udp for one only, or --unix PATH for a UNIX stream socket (removed again on exit). The first line on stdout says what it listens on. Each TCP or UNIX connection is echoed byte for byte, in order, with TCP_NODELAY; small messages go back with one recv and one send, and bulk data (a read that fills 16 KiB) moves on Linux with splice(2) through a pipe, never through user space. Memory per connection is bounded: a peer that stops reading holds at most one pipe, and the server stops reading from it. The listen backlog is 4096, so a thousand simultaneous connects complete at once. UDP datagrams go back to their sender unchanged (never larger: no amplification).",
    );
    para(
        &mut r,
        "Limits for a shared test peer: --max-conns N (default 16384) resets connections beyond N instead of queueing them; --idle-timeout DUR closes connections with no traffic for that long. Each connection is logged on stderr when it ends (peer, bytes, duration, why) unless --quiet. SIGINT or SIGTERM stops accepting, closes every connection and prints the totals.",
    );
    para(
        &mut r,
        "sockscope echo --connect HOST:PORT is the client: it sends -m MSG (or each line of standard input, or --size N random bytes) -n COUNT times over TCP, UDP (--udp) or a UNIX socket (--connect --unix PATH), checks every echo byte for byte and prints one line per message with its round-trip time, then a summary. --timeout DUR (default 2s) bounds the connect and each echo. Exit status 0 when every echo matched, 1 on a mismatch, a lost echo or a refused connection (the message on stderr says which).",
    );
    para(
        &mut r,
        "Load mode, for benchmarks: --connections N --duration DUR runs N connections at once, each sending --size bytes (default 64) and waiting for the echo, as fast as it comes back, and reports round trips per second; --connections N --bytes B instead streams B bytes through each connection, writing and reading at once, and reports MB/s. --json prints the figures as one object.",
    );

    section(&mut r, "PING");
    para(
        &mut r,
        "sockscope ping HOST... sends ICMP echo requests over IPv4 or IPv6 (-4/-6 force a family; names are resolved) and prints, as iputils ping does, one line per reply (64 bytes from ADDR: icmp_seq=N ttl=T time=X ms), answers not yet received, ICMP errors with the reporting router (From ROUTER icmp_seq=N Time to live exceeded; destination and port unreachable), duplicates (DUP!) and replies out of order; then N packets transmitted, M received, L% packet loss, time T and rtt min/avg/max/mdev. RTTs come from kernel receive timestamps.",
    );
    para(
        &mut r,
        "-c COUNT stops after COUNT requests per host (with -w, as iputils: after COUNT replies, or at the deadline, exiting 1 if fewer came back); -i INTERVAL (default 1s; below 200ms only for root), -W TIMEOUT per reply (default 1s), -w DEADLINE for the whole run, -s SIZE payload bytes (default 56), -t TTL, -q only the summary lines, --json one object per reply, timeout or error and one summary object per host, each on a line. Several hosts are pinged at once over one socket per family, lines prefixed with the host, and a table (host, address, sent, received, loss, min/avg/max) ends the run. --tcp PORT times TCP connects instead (a refused connect is an answer: the host is up); --udp PORT times round trips to a UDP echo peer and checks the payload. Ctrl-C prints the summary. Exit status 0 when every host answered at least once, 1 when one did not, 2 for bad input, 3 when ICMP needs a privilege it lacks.",
    );

    section(&mut r, "TRACE");
    para(
        &mut r,
        "sockscope trace HOST[:PORT] shows the path to HOST hop by hop, as mtr --report does: per hop (TTL or hop limit) the address that answered (several, one a line, when ECMP spreads the probes), Loss%, probes sent (Snt) and answered (Rcv), and the best, average and worst round trip in ms; a hop that never answered shows as ???. Every round sends one probe per TTL from 1 to -m MAXHOPS (default 30) at once and waits -W DUR (default 1s) for the answers, -c ROUNDS times (default 3), so a run takes at most ROUNDS times DUR and usually a few milliseconds. Once the target answers at TTL k, later rounds probe only 1 to k, and hops beyond the target are not shown. Unreached, the report ends one hop after the last that answered and names that hop.",
    );
    para(
        &mut r,
        "Probes: ICMP echo requests by default (--icmp); --tcp PORT sends TCP SYNs crafted on a raw socket from a reserved source port (a SYN/ACK or RST from the target is reached; the kernel resets the half-open connection); --udp PORT sends UDP datagrams, one socket each (a port unreachable from the target is reached). The port may also come from HOST:PORT ([V6ADDR]:PORT); put the host before a bare --tcp. Answers are matched by the headers an ICMP time exceeded or destination unreachable quotes (identifier and sequence, TCP ports and sequence, UDP source port) and by the target's address, never by order. An unreachable or prohibited from a router ends the path there, unreached. -4/-6 pick the family of a name; -r shows the hops' names (reverse lookups through the system resolver), numeric by default; --json prints one document. Linux routers send at most a few ICMP errors to one host at once, then one a second (net.ipv4.icmp_ratelimit): a trace repeated quickly may see hops lose answers. Exit status 0 when the target answered, 1 when not, 2 for bad input (port 0, bad HOST syntax), 3 without CAP_NET_RAW.",
    );

    section(&mut r, "CAPTURE");
    para(
        &mut r,
        "sockscope capture captures packets live through AF_PACKET raw sockets (pnet) on every interface that is up, or on -i IFACE, and prints one line per packet: local time, interface, protocol, endpoints as ADDR:PORT ([ADDR]:PORT for IPv6), TCP flags in tcpdump letters (S SYN, F FIN, R RST, P PSH, . ACK, U URG, E ECE, W CWR), seq, ack, window, options between <>, len (TCP or UDP payload bytes), and length (the frame on the wire). It decodes Ethernet, 802.1Q/802.1ad VLAN tags, ARP, IPv4 (fragments), IPv6 with its extension headers, TCP, UDP, ICMP and ICMPv6 (errors show the packet they quote); headers cut short or contradicting themselves are marked [truncated ...] or [malformed ...]. On loopback each packet is shown once (the outgoing copy is ignored, as libpcap does). Interfaces are never put in promiscuous mode unless --promisc is given.",
    );
    para(
        &mut r,
        "EXPR is a tcpdump subset: tcp, udp, icmp, icmp6, arp, ip, ip6; [src|dst] host ADDR (IPv4 or IPv6; an IPv4 host also matches ARP); [src|dst] net CIDR; [src|dst] port N and portrange N1-N2 (TCP, UDP and SCTP, or qualified: tcp port 80); and, or, not (also &&, ||, !) and parentheses, with tcpdump's precedence (and/or equal, left to right) and its inherited qualifiers (port 80 or 443). Names are never resolved: give addresses and numbers. The expression is compiled to classic BPF and attached to the socket, so the kernel discards what does not match; with -r the same program runs in user space, so a file and a live capture agree, and both agree with tcpdump -r FILE EXPR. As in tcpdump, ip, tcp and the others do not match VLAN-tagged frames in a file. Live, a tag the network card or the kernel stripped is not shown (pnet reads without the PACKET_AUXDATA that carries it). Options may come before or after the expression; tcpdump's -n, -nn and -l are accepted and change nothing (names are never resolved, lines are never held back).",
    );
    para(
        &mut r,
        "--handshakes prints one line per TCP connection attempt instead: the time of the first SYN, client > server, the outcome and the time of each step after the first SYN: established (SYN, SYN/ACK, ACK, with rtt: the SYN/ACK minus the last SYN before it), refused (a RST answered the SYN: nothing listens), reset (RST after the SYN/ACK), unreachable (an ICMP error quoted the SYN, with the router that sent it), unanswered (SYNs, retransmissions counted, and nothing back: filtered or host down; decided after max(3.5s, 1.5 times the last retransmission gap), at most 10s, or when the capture ends), not-acknowledged (SYN/ACK but no ACK). When an end is on this host, the processes holding its socket are named (client NAME[PID], server NAME[PID]): clients are looked up when their first SYN is seen, servers when the attempt is decided; a client whose connection is refused within microseconds (on loopback) is gone before it can be named. With a filter, --handshakes also lets ICMP and ICMPv6 errors through (to the tracker only: they are neither counted nor written), so that tcp port 80 can still say unreachable.",
    );
    para(
        &mut r,
        "-w FILE writes a pcap (nanosecond timestamps, link type Ethernet, or raw IP for interfaces without a link layer) that tcpdump, tshark and Wireshark read, instead of printing packets (-w - writes it to standard output). A pcap holds one link type, so -w with interfaces of different kinds needs -i. -r FILE reads pcap (microsecond or nanosecond, either byte order) and pcapng (several sections and interfaces, as tshark writes by default) and needs no privilege; -r - reads standard input. A file cut short is read up to the cut with a warning; a damaged one ends with exit status 2 naming the byte offset.",
    );
    para(
        &mut r,
        "-c N stops after N matching packets (with --handshakes, N handshakes), --duration DUR after DUR; Ctrl-C or SIGTERM stop it cleanly. The pcap is then complete, and a summary goes to standard error: packets seen (read from the kernel, or from the file), matched (passed the filter and shown or written) and, live, dropped by the kernel because its buffer was full, and how many packets the kernel's filter passed (both from PACKET_STATISTICS). Frames already read when the capture is told to stop are still written (for at most a second). With --handshakes and a filter, the ICMP errors let through for the tracker are not counted as seen. The capture's sockets share a 128 MiB receive buffer budget (at least 4 MiB each). An interface that goes down is waited for; one that cannot be opened, or goes away, is left out with a note when capturing on every interface. A filter the kernel refuses as too large (net.core.optmem_max) is run in user space instead, with a warning. --json prints one object per packet or per handshake, each on a line, and a last object {type: summary, seen, matched, dropped, received_by_filter, handshakes}.",
    );
    para(
        &mut r,
        "Packet JSON objects have: type (packet), time (RFC 3339 UTC, nanoseconds), timestamp (seconds since the epoch), interface, length, caplen, link, link_type, src_mac, dst_mac, packet_type, ifindex, vlan (list), ethertype, proto (tcp, udp, icmp, icmp6, arp, ip, ip6 or other), src, dst, src_port, dst_port, ip_proto, ttl, ip_id, hop_limit, flow_label, ext_headers, fragment {id, offset, more}, tcp {flags, flag_names, seq, ack, window, urgent, header_len, options, payload_len}, udp {length, payload_len}, icmp {type, code, name, code_name, id, seq, mtu, gateway, pointer, payload_len, quoted, ndp}, arp {op, opcode, hardware_type, protocol_type, sender_mac, sender_ip, target_mac, target_ip}, truncated and malformed; keys that do not apply are null.",
    );
    para(
        &mut r,
        "Handshake JSON objects have: type (handshake), time and timestamp (of the first SYN), client_addr, client_port, server_addr, server_port, outcome (established, refused, reset, unanswered, not-acknowledged, unreachable), decided (event, silence, new-attempt, end, full), syn_count, synack_count, synack_ms, ack_ms, rst_ms, rtt_ms, total_ms (milliseconds after the first SYN, or null), icmp {from, what, ms, about}, reset_by (client or server), wrong_acks, simultaneous, earlier_outcome, and processes: a list of {side, pid, name, user, cmdline}.",
    );

    section(&mut r, "STATS");
    para(
        &mut r,
        "sockscope stats prints the kernel's protocol counters of the current network namespace, read from /proc/net/snmp, /proc/net/snmp6, /proc/net/netstat and /proc/net/sctp/snmp (when SCTP is loaded) and named as nstat names them: the section and the field run together (TcpExtListenOverflows, TcpActiveOpens, UdpInErrors, IcmpMsgInType3, Ip6InReceives, Udp6RcvbufErrors, IpExtInOctets). A missing snmp6 (IPv6 disabled) is no error. By default it shows the counters that explain trouble, each with its value (also 0) and what it means in plain words: listen overflows and drops, SYN-queue drops and syncookies, retransmissions and timeouts, resets and aborts, drops for lack of memory or backlog, checksum errors, UDP buffer errors and datagrams to closed ports, IP no-route, reverse-path and discard drops, ICMP unreachables, and a few counters to compare them with (opens, segments, datagrams). --all shows every counter, as nstat -az does, plus the seven settings and values nstat hides (IpForwarding, IpDefaultTTL, TcpRtoAlgorithm, TcpRtoMin, TcpRtoMax, TcpMaxConn, TcpCurrEstab). NAME... shows only those counters: nstat names or shell patterns ('TcpExt*', 'Udp?InErrors', 'Ip[46]*'), matched case-insensitively; a NAME that matches nothing ends with exit status 2 and the closest existing names. Values are signed 64-bit integers (Tcp MaxConn is -1).",
    );
    para(
        &mut r,
        "--watch [SECS] (default 1, at least 0.1) reads the counters every SECS seconds and prints, for each interval in which something changed, a line with the time and the interval and then the counters that changed with their delta and rate per second; those whose rise means trouble come first, marked ! and with their meaning. Gauges (TcpCurrEstab and the settings) show their change but no rate. Without NAME or --all it watches the counters of the default list; with --all every counter; with NAME those. It ends with Ctrl-C or SIGTERM, or when the reader of its output pipe goes away. Put NAMEs before --watch (or give SECS): --watch takes the next word as its interval.",
    );
    para(
        &mut r,
        "--json prints one document {\"counters\": {NAME: value}, \"interval_s\": null, \"rates\": null}. With --watch it prints one such object per line for every interval, whether or not anything changed: counters holds the absolute values at the end of the interval, interval_s its measured length in seconds, and rates {NAME: per-second rate} of the counters (not gauges) that changed in it. --prometheus (not with --json or --watch) writes the Prometheus text format for node_exporter's textfile collector: one metric family per counter, named sockscope_ and the nstat name in snake case (TcpExtTCPReqQFullDrop becomes sockscope_tcpext_tcp_req_q_full_drop_total), typed counter with a _total suffix, or gauge for the settings and values; the HELP line names the nstat counter, its file and its meaning.",
    );

    section(&mut r, "JSON");
    para(
        &mut r,
        "--json prints one JSON array of socket records (list, who), or one object per line for streams (list --watch, with an added event of present, appeared or vanished and a time in seconds since the epoch). --summary --json prints an array of {proto, total, ipv4, ipv6, states, problems}. A socket record has:",
    );
    for (k, v) in [
        ("proto", "\"tcp\", \"udp\", \"unix\" or \"raw\""),
        ("family", "\"inet\", \"inet6\" or \"unix\""),
        (
            "local_addr, remote_addr",
            "numeric address, UNIX path or @name; null for an unnamed UNIX socket",
        ),
        (
            "local_port, remote_port",
            "number; null for UNIX sockets; for RAW sockets local_port is the IP protocol",
        ),
        (
            "state",
            "lower-case ss name: listen, established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait, close, close-wait, last-ack, closing, unconn",
        ),
        (
            "recv_q, send_q, inode, uid, user",
            "queues in bytes, socket inode, creator uid and its name",
        ),
        (
            "processes",
            "list of {pid, name, user, uid, cmdline, start_time}",
        ),
        (
            "owners_hidden",
            "true when the owners could not be seen for lack of privilege",
        ),
        (
            "type, peer_inode",
            "UNIX sockets: stream, dgram or seqpacket, and the peer's inode",
        ),
        ("protocol", "RAW sockets: the IP protocol number"),
        ("local_host, remote_host", "with -r: the resolved names"),
        (
            "problems",
            "TCP and UDP: a list of {code, text}, empty when healthy; codes accept-queue-full, unread-data, zero-window, retransmitting, rwnd-limited, sndbuf-limited, close-wait, drops",
        ),
        (
            "info",
            "with -i, TCP: rtt_ms, rttvar_ms, rto_ms, ato_ms, min_rtt_ms, cwnd, ssthresh, mss, rcv_mss, advmss, pmtu, retrans, total_retrans, retransmits, lost, unacked, sacked, bytes_sent, bytes_retrans, bytes_acked, bytes_received, segs_out, segs_in, data_segs_out, data_segs_in, delivery_rate and pacing_rate (bytes/s), busy_ms, rwnd_limited_ms, sndbuf_limited_ms, last_data_sent_ms, last_data_recv_ms, last_ack_recv_ms, snd_wnd, rcv_wnd, rcv_space, notsent_bytes, snd_wscale, rcv_wscale, cong, options; a field the kernel did not send is left out, and so are pacing_rate for a socket that is not paced and ssthresh before the first loss (the kernel's unlimited values)",
        ),
        (
            "memory",
            "with -m: rmem_alloc, rcvbuf, wmem_alloc, sndbuf, fwd_alloc, wmem_queued, optmem, backlog, drops (bytes; drops a count)",
        ),
        (
            "timer",
            "with -o, TCP: {kind, expires_ms, retries} (kind retransmit, keepalive, timewait or persist), or null",
        ),
    ] {
        item(&mut r, k, v);
    }
    para(
        &mut r,
        "trace --json prints one document {target, host, proto, port, reached, hops}; each hop is {ttl, addresses, sent, received, loss, min_ms, avg_ms, max_ms} (loss in percent; the times null for a hop that never answered; with -r also names, one per address, null where none).",
    );

    section(&mut r, "EXIT STATUS");
    for (k, v) in [
        (
            "0",
            "success, or yes (something holds the port, every target is open, every echo matched)",
        ),
        (
            "1",
            "a negative answer: nothing holds the port, not listening, no reply, echo mismatch",
        ),
        ("2", "bad usage or bad input"),
        ("3", "missing privilege; the message says how to grant it"),
        (
            "4",
            "any other failure (for example the kernel refused the socket-table dump)",
        ),
    ] {
        item(&mut r, k, v);
    }
    para(
        &mut r,
        "A closed output pipe (sockscope list | head) ends the program quietly with status 0.",
    );

    section(&mut r, "PRIVILEGES");
    para(
        &mut r,
        "capture needs CAP_NET_RAW (sudo, or setcap cap_net_raw,cap_net_admin+ep $(which sockscope); CAP_NET_ADMIN lets it enlarge its socket buffers past net.core.rmem_max); without it, it exits with status 3 and says so. Once its sockets and its -w file are open, a capture run as root becomes the user nobody, drops every capability and sets no_new_privs before it reads a packet; so does -r, which needs no privilege, once its files are open. With --handshakes, the processes are named by a helper process forked before any socket is opened, which keeps only CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (as nobody, with no_new_privs) and never sees a packet: it is only asked for port numbers. trace needs CAP_NET_RAW for its raw sockets, with every probe type (sudo, or setcap cap_net_raw+ep $(which sockscope)); without it, it exits with status 3 and says so. ping needs CAP_NET_RAW for ICMP (sudo, or setcap cap_net_raw+ep $(which sockscope)), or an unprivileged ICMP socket allowed by sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"; --tcp and --udp need nothing. echo needs root or CAP_NET_BIND_SERVICE only to listen on a port below 1024 (setcap cap_net_bind_service+ep $(which sockscope)); check needs no privilege. list and who need no privilege to list sockets. Seeing which process owns another user's socket needs root or the capabilities CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH: run with sudo, or grant them once with setcap cap_sys_ptrace,cap_dac_read_search+ep $(which sockscope).",
    );

    para(
        &mut r,
        "The Debian package installs /usr/bin/sockscope without file capabilities (as tcpdump's package does): capture and ICMP ping then need sudo. One command grants them to the installed binary: sudo setcap cap_net_raw,cap_net_admin+ep /usr/bin/sockscope. Think before running it: it lets every local user who can run sockscope capture every packet on every interface (other users' traffic, passwords sent in clear) and send raw packets with any source address and content, not only you. Remove them again with sudo setcap -r /usr/bin/sockscope; a reinstall or an upgrade of the package also drops them.",
    );

    section(&mut r, "INSTALL");
    para(
        &mut r,
        "From a clone of the source: cargo install --locked --path . puts the binary in ~/.cargo/bin. The man pages are the files man/*.1 of the source (man -l man/sockscope.1, or copy them into /usr/local/share/man/man1), and sockscope completions SHELL prints the completion script for bash, zsh, fish, elvish or powershell. bash .ci/package.sh builds a Debian package (with cargo-deb) that installs the binary in /usr/bin, the man pages in /usr/share/man/man1 and the bash, zsh and fish completions in their system directories: sudo dpkg -i target/debian/sockscope_*.deb. sockscope --version names the git commit it was built from.",
    );

    section(&mut r, "ENVIRONMENT");
    item(
        &mut r,
        "NO_COLOR",
        "when set and not empty, no colours (like --color never).",
    );

    section(&mut r, "EXAMPLES");
    for (cmd, what) in [
        (
            "sockscope list -l",
            "listening TCP and UDP sockets with their processes",
        ),
        (
            "sockscope list -t --state established --port 443",
            "HTTPS connections",
        ),
        (
            "sockscope list -x --process postgres",
            "UNIX sockets held by PostgreSQL",
        ),
        ("sockscope list --summary", "counts per protocol and state"),
        (
            "sockscope list -t -i -m -o --port 443",
            "TCP internals, memory and timers of HTTPS connections",
        ),
        (
            "sockscope list --problems",
            "only the sockets with a problem, and what to do about it",
        ),
        (
            "sockscope list --summary --prometheus > /var/lib/node_exporter/sockscope.prom.tmp && mv /var/lib/node_exporter/sockscope.prom.tmp /var/lib/node_exporter/sockscope.prom",
            "socket and problem counts for node_exporter's textfile collector",
        ),
        (
            "sockscope list -tl --watch 1",
            "listening TCP sockets, refreshed every second",
        ),
        ("sockscope who 8080", "which process holds port 8080"),
        (
            "sockscope who 53/udp --json",
            "the same for UDP port 53, as JSON",
        ),
        (
            "sockscope check db.internal:5432 --wait 30s",
            "wait up to 30 s for a server to accept connections",
        ),
        (
            "sockscope check --udp 127.0.0.1:7007",
            "does anything answer on this UDP port?",
        ),
        (
            "sockscope capture -i lo tcp port 8080",
            "the TCP packets of port 8080 on loopback",
        ),
        (
            "sockscope capture --handshakes port 443",
            "one line per connection attempt to or from port 443, with the processes",
        ),
        (
            "sockscope capture -i eth0 -w out.pcap -c 1000 udp",
            "1000 UDP packets into a pcap for tshark or Wireshark",
        ),
        (
            "sockscope capture -r out.pcapng --json host 10.0.0.1",
            "read a capture file as JSON lines, filtered",
        ),
        ("sockscope ping -c 3 ::1", "three ICMPv6 echoes"),
        (
            "sockscope ping -q -c 1 -W 1 10.0.0.1 10.0.0.2 10.0.0.3",
            "a sweep: which hosts answer",
        ),
        (
            "sockscope ping --tcp 443 -c 5 example.net",
            "TCP connect times where ICMP is filtered",
        ),
        (
            "sockscope trace --tcp 443 db.internal",
            "the path to a server, with SYNs to its port (where ICMP is filtered)",
        ),
        (
            "sockscope trace -c 10 --json 10.0.0.1",
            "ten rounds over every hop, as JSON",
        ),
        (
            "sockscope echo -l 127.0.0.1:0",
            "an echo server on a free port (TCP and UDP)",
        ),
        (
            "sockscope echo --connect 127.0.0.1:7007 -m hello -n 5",
            "five echoes, checked and timed",
        ),
        (
            "sockscope stats",
            "the kernel counters that explain trouble, with what each means",
        ),
        (
            "sockscope stats 'TcpExt*Listen*' 'Udp*Errors' --watch",
            "every second, how fast listen overflows and UDP buffer errors rise",
        ),
        (
            "sockscope stats --all --prometheus > /var/lib/node_exporter/sockscope.prom.tmp && mv /var/lib/node_exporter/sockscope.prom.tmp /var/lib/node_exporter/sockscope.prom",
            "every counter for node_exporter's textfile collector, replaced atomically",
        ),
        (
            "sockscope echo --connect 127.0.0.1:7007 --connections 1000 --duration 10s",
            "load: round trips per second over 1000 connections",
        ),
    ] {
        r.control("TP", []).text([bold(cmd)]).text([roman(what)]);
    }

    section(&mut r, "SEE ALSO");
    r.text([
        italic("ss"),
        roman("(8), "),
        italic("lsof"),
        roman("(8), "),
        italic("netstat"),
        roman("(8), "),
        italic("tcpdump"),
        roman("(8), "),
        italic("pcap-filter"),
        roman("(7), "),
        italic("tshark"),
        roman("(1), "),
        italic("ping"),
        roman("(8), "),
        italic("mtr"),
        roman("(8), "),
        italic("traceroute"),
        roman("(8)"),
    ]);
    r
}
