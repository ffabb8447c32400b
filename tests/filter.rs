//! Capture filters against the references: tcpdump must pick exactly the packets our BPF
//! interpreter picks from the same pcap file, for every link type we compile for; the kernel's
//! checker must accept every program we build (and, as root, the kernel must deliver exactly
//! the frames the interpreter accepts).

mod common;

use std::io::Write;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;

use sockscope::packet::LinkType;
use sockscope::packet::filter::bpf::{
    BPF_JA, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_MEM, BPF_RET, BPF_W,
};
use sockscope::packet::filter::{Filter, Insn, Program};

// ---- frames -------------------------------------------------------------------------------

const MAC_A: [u8; 6] = [0x02, 0, 0x5e, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0, 0x5e, 0, 0, 0x0b];

fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn eth4(payload: &[u8]) -> Vec<u8> {
    eth(MAC_B, MAC_A, 0x0800, payload)
}

fn eth6(payload: &[u8]) -> Vec<u8> {
    eth(MAC_B, MAC_A, 0x86dd, payload)
}

/// IPv4 header (with `options`, a multiple of 4 bytes) + payload. `frag` is the flags and
/// fragment offset field.
fn ip4(
    proto: u8,
    src: [u8; 4],
    dst: [u8; 4],
    options: &[u8],
    frag: u16,
    payload: &[u8],
) -> Vec<u8> {
    let ihl = 5 + options.len() / 4;
    let total = u16::try_from(ihl * 4 + payload.len()).expect("small packet");
    let mut h = vec![0x40 | u8::try_from(ihl).expect("ihl"), 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0x12, 0x34]);
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(options);
    h.extend_from_slice(payload);
    h
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>()
        .expect("IPv6 literal")
        .octets()
}

/// IPv6 header + payload (`next` is the first next-header value).
fn ip6(next: u8, src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&u16::try_from(payload.len()).expect("small").to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    h.extend_from_slice(&v6(src));
    h.extend_from_slice(&v6(dst));
    h.extend_from_slice(payload);
    h
}

fn tcp(src: u16, dst: u16, flags: u8) -> Vec<u8> {
    let mut t = src.to_be_bytes().to_vec();
    t.extend_from_slice(&dst.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t
}

fn udp(src: u16, dst: u16, data: &[u8]) -> Vec<u8> {
    let mut u = src.to_be_bytes().to_vec();
    u.extend_from_slice(&dst.to_be_bytes());
    u.extend_from_slice(&u16::try_from(8 + data.len()).expect("small").to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(data);
    u
}

fn sctp(src: u16, dst: u16) -> Vec<u8> {
    let mut s = src.to_be_bytes().to_vec();
    s.extend_from_slice(&dst.to_be_bytes());
    s.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 0]);
    s
}

fn icmp_echo() -> Vec<u8> {
    vec![8, 0, 0xf7, 0xfe, 0, 1, 0, 1]
}

fn icmp6_echo() -> Vec<u8> {
    vec![128, 0, 0, 0, 0, 1, 0, 1]
}

/// An ARP (or RARP) packet for IPv4 over Ethernet.
fn arp(op: u16, sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4];
    a.extend_from_slice(&op.to_be_bytes());
    a.extend_from_slice(&MAC_A);
    a.extend_from_slice(&sender);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&target);
    a
}

/// An IPv6 extension header (8 bytes) with `next` as its next header.
fn ext(next: u8, fragment_offset_word: u16) -> Vec<u8> {
    let mut e = vec![next, 0];
    e.extend_from_slice(&fragment_offset_word.to_be_bytes());
    e.extend_from_slice(&[0, 0, 0, 9]);
    e
}

const H1: [u8; 4] = [192, 0, 2, 1];
const H2: [u8; 4] = [192, 0, 2, 2];
const H3: [u8; 4] = [192, 0, 2, 3];
const H9: [u8; 4] = [192, 0, 2, 9];
const S7: [u8; 4] = [198, 51, 100, 7];
const S53: [u8; 4] = [198, 51, 100, 53];
const T5: [u8; 4] = [203, 0, 113, 5];
const T9: [u8; 4] = [203, 0, 113, 9];
const B1: [u8; 4] = [198, 18, 0, 1];
const B2: [u8; 4] = [198, 19, 255, 2];
const LO: [u8; 4] = [127, 0, 0, 1];

/// One frame of the test file: bytes, and the length on the wire (more than the bytes for a
/// truncated capture).
struct Rec {
    data: Vec<u8>,
    wire: usize,
}

fn whole(data: Vec<u8>) -> Rec {
    let wire = data.len();
    Rec { data, wire }
}

fn cut(data: Vec<u8>, keep: usize) -> Rec {
    let wire = data.len();
    let mut data = data;
    data.truncate(keep);
    Rec { data, wire }
}

/// Ethernet frames covering what the filters distinguish.
fn ethernet_frames() -> Vec<Rec> {
    let mut v = vec![
        whole(eth4(&ip4(6, H1, S7, &[], 0x4000, &tcp(40000, 80, 0x02)))),
        whole(eth4(&ip4(6, S7, H1, &[], 0x4000, &tcp(80, 40000, 0x12)))),
        whole(eth4(&ip4(6, H1, T5, &[], 0, &tcp(40001, 443, 0x10)))),
        whole(eth4(&ip4(17, H2, S53, &[], 0, &udp(5353, 53, b"q")))),
        whole(eth4(&ip4(17, T9, H2, &[], 0, &udp(53, 5353, b"a")))),
        whole(eth4(&ip4(1, H1, T5, &[], 0, &icmp_echo()))),
        whole(eth4(&ip4(132, H3, S7, &[], 0, &sctp(9899, 80)))),
        // IPv4 with 4 bytes of options: the ports move.
        whole(eth4(&ip4(
            6,
            [192, 0, 2, 4],
            S7,
            &[0x94, 4, 0, 0],
            0,
            &tcp(1024, 8080, 0x02),
        ))),
        // First fragment (MF, offset 0) and a later fragment whose payload looks like ports.
        whole(eth4(&ip4(
            17,
            [192, 0, 2, 5],
            S7,
            &[],
            0x2000,
            &udp(4000, 443, &[1; 16]),
        ))),
        whole(eth4(&ip4(
            17,
            [192, 0, 2, 5],
            S7,
            &[],
            185,
            &udp(80, 80, &[2; 8]),
        ))),
        whole(eth6(&ip6(
            6,
            "2001:db8::1",
            "2001:db8:1::2",
            &tcp(40000, 80, 0x02),
        ))),
        whole(eth6(&ip6(
            17,
            "2001:db8:1::2",
            "2001:db8::1",
            &udp(53, 5353, b"x"),
        ))),
        whole(eth6(&ip6(
            58,
            "2001:db8::1",
            "2001:db8:1::2",
            &icmp6_echo(),
        ))),
        // Hop-by-hop options, then TCP: libpcap's `tcp` and `port` do not look past it.
        whole(eth6(&ip6(
            0,
            "2001:db8::1",
            "2001:db8:1::2",
            &[ext(6, 0), tcp(40002, 80, 2)].concat(),
        ))),
        // A fragment header, then TCP (first fragment) and then ICMPv6.
        whole(eth6(&ip6(
            44,
            "2001:db8::3",
            "2001:db8:1::2",
            &[ext(6, 1), tcp(40003, 80, 2)].concat(),
        ))),
        whole(eth6(&ip6(
            44,
            "2001:db8::3",
            "2001:db8:1::9",
            &[ext(58, 1), icmp6_echo()].concat(),
        ))),
        whole(eth6(&ip6(
            132,
            "2001:db8::4",
            "2001:db8:1::2",
            &sctp(80, 9899),
        ))),
        whole(eth(MAC_B, MAC_A, 0x0806, &arp(1, H1, S7))),
        whole(eth(MAC_A, MAC_B, 0x0806, &arp(2, S7, H1))),
        whole(eth(MAC_B, MAC_A, 0x8035, &arp(3, H9, T9))),
        // VLAN-tagged IPv4 TCP to port 80: no match without the `vlan` keyword.
        whole(eth(
            MAC_B,
            MAC_A,
            0x8100,
            &[
                &[0, 7, 0x08, 0x00][..],
                &ip4(6, H1, S7, &[], 0, &tcp(40004, 80, 2)),
            ]
            .concat(),
        )),
        // Loopback frames (zero MACs).
        whole(eth(
            [0; 6],
            [0; 6],
            0x0800,
            &ip4(17, LO, LO, &[], 0x4000, &udp(41000, 9999, b"hi")),
        )),
        whole(eth(
            [0; 6],
            [0; 6],
            0x86dd,
            &ip6(6, "::1", "::1", &tcp(41001, 8080, 0x02)),
        )),
        whole(eth4(&ip4(
            6,
            [192, 0, 2, 7],
            S7,
            &[],
            0,
            &tcp(6000, 6010, 0x02),
        ))),
        whole(eth4(&ip4(17, B1, B2, &[], 0, &udp(80, 55, b"z")))),
        whole(eth4(&ip4(6, B2, B1, &[], 0, &tcp(22, 2222, 0x18)))),
        whole(eth4(&ip4(
            6,
            [10, 0, 0, 1],
            [10, 0, 0, 1],
            &[],
            0,
            &tcp(80, 80, 0x02),
        ))),
        // An 802.3 frame (length, not EtherType) carrying STP.
        whole(eth(
            [1, 0x80, 0xc2, 0, 0, 0],
            MAC_A,
            38,
            &[
                0x42, 0x42, 3, 0, 0, 0, 0, 0, 0x80, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        )),
        // Truncated captures: the first load past the captured bytes rejects the packet.
        cut(eth4(&ip4(6, H1, S7, &[], 0, &tcp(40005, 80, 2))), 34),
        cut(
            eth6(&ip6(6, "2001:db8::1", "2001:db8:1::2", &tcp(40006, 80, 2))),
            55,
        ),
        cut(eth4(&ip4(6, H1, S7, &[], 0, &tcp(40007, 80, 2))), 13),
        cut(eth4(&ip4(17, H1, S7, &[], 0, &udp(40008, 53, b"q"))), 30),
        cut(
            eth6(&ip6(
                17,
                "2001:db8::1",
                "2001:db8:1::2",
                &udp(40009, 53, b"q"),
            )),
            40,
        ),
        cut(
            eth4(&ip4(6, H1, S7, &[0x94, 4, 0, 0], 0, &tcp(40010, 443, 2))),
            38,
        ),
        // Cut inside the addresses: tcpdump's optimiser drops the loads of address words a
        // mask ignores (`net 0.0.0.0/0`, the last three words of a /32), and so do we.
        cut(eth4(&ip4(17, H1, S7, &[], 0, &udp(40011, 53, b"q"))), 28),
        cut(
            eth6(&ip6(
                17,
                "2001:db8::5",
                "2001:db8:1::2",
                &udp(40012, 53, b"q"),
            )),
            30,
        ),
    ];
    // Snapped, but with every header captured.
    let mut snapped = eth4(&ip4(17, S7, H2, &[], 0, &udp(443, 50000, &[7; 200])));
    let wire = snapped.len();
    snapped.truncate(60);
    v.push(Rec {
        data: snapped,
        wire,
    });
    v
}

/// The network-layer packet of an Ethernet frame, if it carries IPv4 or IPv6.
fn network_part(r: &Rec) -> Option<(u16, Rec)> {
    let ethertype = u16::from_be_bytes([*r.data.get(12)?, *r.data.get(13)?]);
    let data = r.data.get(14..)?.to_vec();
    Some((
        ethertype,
        Rec {
            data,
            wire: r.wire.checked_sub(14)?,
        },
    ))
}

/// Re-frames the Ethernet frames for another link type (frames the type cannot carry are
/// dropped; truncation is kept).
fn frames_for(link: LinkType) -> Vec<Rec> {
    let frames = ethernet_frames();
    match link {
        LinkType::Ethernet => frames,
        _ => frames
            .iter()
            .filter_map(network_part)
            .filter_map(|(ethertype, r)| {
                let header: Vec<u8> = match link {
                    LinkType::LinuxSll => {
                        let mut h = vec![0, 0, 0, 1, 0, 6];
                        h.extend_from_slice(&MAC_A);
                        h.extend_from_slice(&[0, 0]);
                        h.extend_from_slice(&ethertype.to_be_bytes());
                        h
                    }
                    LinkType::LinuxSll2 => {
                        let mut h = ethertype.to_be_bytes().to_vec();
                        h.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 4, 6]);
                        h.extend_from_slice(&MAC_A);
                        h.extend_from_slice(&[0, 0]);
                        h
                    }
                    LinkType::Raw if matches!(ethertype, 0x0800 | 0x86dd) => vec![],
                    LinkType::Ipv4 if ethertype == 0x0800 => vec![],
                    LinkType::Ipv6 if ethertype == 0x86dd => vec![],
                    // The family in the byte order of the file, as a BSD host writes it;
                    // AF_INET6 as macOS numbers it.
                    LinkType::Null if ethertype == 0x0800 => 2u32.to_le_bytes().to_vec(),
                    LinkType::Null if ethertype == 0x86dd => 30u32.to_le_bytes().to_vec(),
                    _ => return None,
                };
                let mut data = header.clone();
                data.extend_from_slice(&r.data);
                Some(Rec {
                    data,
                    wire: r.wire + header.len(),
                })
            })
            .collect(),
    }
}

// ---- pcap files ---------------------------------------------------------------------------

/// Writes a microsecond pcap file; record i (from 0) gets the timestamp i + 1 seconds, which
/// is how packets are recognised in tcpdump's output.
fn write_pcap(path: &Path, link: LinkType, recs: &[Rec]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&link.number().to_le_bytes());
    for (i, r) in recs.iter().enumerate() {
        let ts = u32::try_from(i + 1).expect("few packets");
        out.extend_from_slice(&ts.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&u32::try_from(r.data.len()).expect("len").to_le_bytes());
        out.extend_from_slice(&u32::try_from(r.wire).expect("len").to_le_bytes());
        out.extend_from_slice(&r.data);
    }
    let mut f = std::fs::File::create(path).expect("create pcap");
    f.write_all(&out).expect("write pcap");
}

/// One record of a pcap file: (seconds, captured bytes, length on the wire).
type PcapRecord = (u32, Vec<u8>, u32);

/// Reads a pcap file (either byte order, micro- or nanosecond): link type and records.
fn read_pcap(bytes: &[u8]) -> (u32, Vec<PcapRecord>) {
    let magic: [u8; 4] = bytes.get(..4).expect("pcap header").try_into().expect("4");
    let le = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        other => panic!("not a pcap file: magic {other:x?}"),
    };
    let u32_at = |off: usize| -> u32 {
        let b: [u8; 4] = bytes
            .get(off..off + 4)
            .expect("truncated pcap")
            .try_into()
            .expect("4");
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let link = u32_at(20);
    let mut recs = Vec::new();
    let mut off = 24;
    while off < bytes.len() {
        let (ts, incl, orig) = (u32_at(off), u32_at(off + 8) as usize, u32_at(off + 12));
        let data = bytes
            .get(off + 16..off + 16 + incl)
            .expect("truncated record")
            .to_vec();
        recs.push((ts, data, orig));
        off += 16 + incl;
    }
    (link, recs)
}

// ---- the comparison -----------------------------------------------------------------------

/// The packets (by timestamp) tcpdump selects from `file` with `expr`; None when it refuses
/// the expression because it "rejects all packets" of the file's link type.
fn tcpdump_selects(file: &Path, expr: &str) -> Option<Vec<u32>> {
    let mut cmd = Command::new("tcpdump");
    cmd.arg("-r").arg(file).args(["-w", "-"]);
    if !expr.is_empty() {
        cmd.arg(expr);
    }
    let out = cmd.output().expect("run tcpdump");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("expression rejects all packets") {
        return None;
    }
    assert!(out.status.success(), "tcpdump refused {expr:?}: {stderr}");
    Some(
        read_pcap(&out.stdout)
            .1
            .into_iter()
            .map(|(ts, ..)| ts)
            .collect(),
    )
}

/// The packets (by timestamp) our compiled program selects from `file`; None when the
/// expression cannot match anything on the link type (which we refuse, as tcpdump does).
fn we_select(file: &Path, expr: &str, link: LinkType) -> Option<Vec<u32>> {
    let (number, recs) = read_pcap(&std::fs::read(file).expect("read pcap"));
    assert_eq!(LinkType::from_number(number), link);
    let filter = Filter::parse(&[expr]).unwrap_or_else(|e| panic!("{e}"));
    let program = match filter.compile(link) {
        Ok(p) => p,
        Err(e) if e.to_string().contains("rejects every packet") => return None,
        Err(e) => panic!("{expr:?}: {e}"),
    };
    Some(
        recs.into_iter()
            .filter(|(_, data, wire)| program.matches(data, *wire))
            .map(|(ts, ..)| ts)
            .collect(),
    )
}

const ETHERNET_EXPRESSIONS: &[&str] = &[
    "",
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "sctp",
    "arp",
    "ip",
    "ip6",
    "not tcp",
    "!udp",
    "tcp or udp",
    "tcp and not port 80",
    "host 192.0.2.1",
    "src host 192.0.2.1",
    "dst host 192.0.2.1",
    "host 198.51.100.7",
    "src or dst host 192.0.2.2",
    "src and dst host 127.0.0.1",
    "host 192.0.2.9",
    "host 2001:db8::1",
    "dst host 2001:db8:1::2",
    "src and dst host ::1",
    "ip host 192.0.2.1",
    "ip6 host 2001:db8::1",
    "arp host 198.51.100.7",
    "arp dst host 192.0.2.1",
    "net 192.0.2.0/24",
    "src net 198.51.100.0/24",
    "dst net 203.0.113.0 mask 255.255.255.0",
    "net 127.0.0.0/8",
    "net 198.18.0.0/15",
    "net 198.18",
    "net 0.0.0.0/0",
    "src net 0.0.0.0/0 and udp",
    "net 2001:db8:1::/48",
    "src net 2001:db8::/32",
    "port 80",
    "src port 80",
    "dst port 80",
    "port 80 or 443",
    "tcp port 80",
    "tcp port 80 or 8080",
    "udp port 53",
    "udp dst port 53 or 5353",
    "sctp port 80",
    "src and dst port 80",
    "portrange 6000-6010",
    "tcp src portrange 1024-40001",
    "udp portrange 50-60",
    "dst portrange 440-450",
    "port 80 or host 2001:db8::1",
    "host 2001:db8::1 or port 80",
    "not port 80",
    "host 192.0.2.1 or 192.0.2.2",
    "host 192.0.2.1 and (port 80 or 443)",
    "tcp or udp and not icmp",
    "not (tcp or udp)",
    "ip and not ip6 or arp",
    "dst host 198.51.100.7 and not src net 192.0.2.0/24 or icmp6",
    "host 192.0.2.1 and not port 80 or 443",
];

/// The expressions compared on the other link types.
const OTHER_EXPRESSIONS: &[&str] = &[
    "",
    "tcp",
    "udp",
    "icmp or icmp6",
    "ip",
    "ip6",
    "arp",
    "not ip",
    "host 192.0.2.1",
    "dst host 2001:db8:1::2",
    "net 198.51.100.0/24",
    "port 80",
    "tcp dst port 80 or 8080",
    "udp portrange 50-60",
    "host 2001:db8::1 or port 80",
    "not port 80",
    "src net 2001:db8::/32 and not tcp",
];

fn compare(link: LinkType, expressions: &[&str]) {
    if !common::tool("tcpdump") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("frames.pcap");
    let frames = frames_for(link);
    assert!(frames.len() >= 10, "{link:?}: only {} frames", frames.len());
    write_pcap(&file, link, &frames);
    let mut failures = Vec::new();
    let mut selected_any = 0;
    for expr in expressions {
        let theirs = tcpdump_selects(&file, expr);
        let ours = we_select(&file, expr, link);
        if theirs
            .as_ref()
            .is_some_and(|t| !t.is_empty() && t.len() < frames.len())
        {
            selected_any += 1;
        }
        if theirs != ours {
            let program = Filter::parse(&[expr]).and_then(|f| f.compile(link));
            failures.push(format!(
                "{link:?} {expr:?}: tcpdump picks {theirs:?}, we pick {ours:?}\n{}",
                program.map(|p| p.dump()).unwrap_or_default()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The table must discriminate: most expressions pick some packets but not all.
    assert!(
        selected_any * 2 > expressions.len(),
        "{link:?}: only {selected_any} expressions select a proper subset"
    );
}

#[test]
fn agrees_with_tcpdump_on_ethernet() {
    compare(LinkType::Ethernet, ETHERNET_EXPRESSIONS);
}

#[test]
fn agrees_with_tcpdump_on_linux_cooked() {
    compare(LinkType::LinuxSll, OTHER_EXPRESSIONS);
}

#[test]
fn agrees_with_tcpdump_on_linux_cooked_v2() {
    compare(LinkType::LinuxSll2, OTHER_EXPRESSIONS);
}

#[test]
fn agrees_with_tcpdump_on_raw_ip() {
    compare(LinkType::Raw, OTHER_EXPRESSIONS);
}

#[test]
fn agrees_with_tcpdump_on_ipv4_and_ipv6_link_types() {
    compare(LinkType::Ipv4, OTHER_EXPRESSIONS);
    compare(LinkType::Ipv6, OTHER_EXPRESSIONS);
}

#[test]
fn agrees_with_tcpdump_on_bsd_loopback() {
    compare(LinkType::Null, OTHER_EXPRESSIONS);
}

#[test]
fn agrees_with_tcpdump_on_every_truncation() {
    // Every prefix of a few frames: which load fails first decides, so this checks that our
    // programs load what libpcap's load, in the same order.
    if !common::tool("tcpdump") {
        return;
    }
    let full = [
        eth4(&ip4(6, H1, S7, &[0x94, 4, 0, 0], 0, &tcp(40000, 80, 0x02))),
        eth6(&ip6(
            44,
            "2001:db8::1",
            "2001:db8:1::2",
            &[ext(6, 1), tcp(80, 443, 2)].concat(),
        )),
        eth6(&ip6(17, "2001:db8::1", "2001:db8:1::2", &udp(53, 80, b"x"))),
        eth(MAC_A, MAC_B, 0x0806, &arp(2, S7, H1)),
    ];
    let frames: Vec<Rec> = full
        .iter()
        .flat_map(|f| (0..=f.len()).map(|n| cut(f.clone(), n)))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("cuts.pcap");
    write_pcap(&file, LinkType::Ethernet, &frames);
    let mut failures = Vec::new();
    for expr in ETHERNET_EXPRESSIONS {
        let theirs = tcpdump_selects(&file, expr);
        let ours = we_select(&file, expr, LinkType::Ethernet);
        if theirs != ours {
            failures.push(format!(
                "{expr:?}: tcpdump picks {theirs:?}, we pick {ours:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn tcpdump_also_refuses_what_we_refuse() {
    // Expressions sockscope refuses for a reason tcpdump shares (not name resolution, which
    // tcpdump would attempt): tcpdump must fail on them too.
    if !common::tool("tcpdump") {
        return;
    }
    for expr in [
        "tcp and",
        "(tcp or udp",
        "tcp or udp)",
        "port 70000",
        "net 192.0.2.0/33",
        "net 192.0.2.1/24",
        "tcp host 192.0.2.1",
        "ip6 host 192.0.2.1",
        "tcp or 80",
        "192.0.2.1",
        "ip port 80",
        "TCP",
    ] {
        assert!(Filter::parse(&[expr]).is_err(), "we accept {expr:?}");
        let out = Command::new("tcpdump")
            .args(["-d", "-y", "EN10MB", expr])
            .output()
            .expect("run tcpdump");
        assert!(!out.status.success(), "tcpdump accepts {expr:?}");
    }
}

// ---- the kernel ---------------------------------------------------------------------------

/// Attaches a program to a socket with SO_ATTACH_FILTER; the kernel checks it on the way.
fn attach(fd: std::os::fd::RawFd, insns: &[Insn]) -> std::io::Result<()> {
    let prog = libc::sock_fprog {
        len: u16::try_from(insns.len()).map_err(|_| std::io::Error::other("too long"))?,
        filter: insns.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    // SAFETY: `prog` points at `insns`, which outlives the call; Insn has the layout of
    // sock_filter; the kernel copies the program.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            std::ptr::addr_of!(prog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether the kernel's checker (bpf_check_classic) accepts a program, attaching it to a fresh
/// UDP socket (no privilege needed). ENOMEM comes after the checker has accepted the program:
/// the socket's option memory (net.core.optmem_max: 20 KiB before Linux 6.9, 128 KiB since)
/// cannot hold it.
fn kernel_checker_accepts(insns: &[Insn]) -> Result<bool, std::io::Error> {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket");
    match attach(socket.as_raw_fd(), insns) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOMEM) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(false),
        Err(e) => Err(e),
    }
}

#[test]
fn the_kernel_accepts_every_program() {
    let links = [
        LinkType::Ethernet,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::Raw,
        LinkType::Ipv4,
        LinkType::Ipv6,
        LinkType::Null,
    ];
    let ports: Vec<String> = (1..=70).map(|n| format!("port {}", n * 7)).collect();
    let huge = format!("not ({}) and host 192.0.2.1", ports.join(" or "));
    let mut expressions: Vec<&str> = ETHERNET_EXPRESSIONS.to_vec();
    expressions.push(&huge);
    let mut longest = 0;
    let mut trampolines = false;
    for link in links {
        for expr in &expressions {
            let program = match Filter::parse(&[expr]).and_then(|f| f.compile(link)) {
                Ok(p) => p,
                Err(e) if e.to_string().contains("rejects every packet") => continue,
                Err(e) => panic!("{link:?} {expr:?}: {e}"),
            };
            longest = longest.max(program.len());
            trampolines |= program.insns().iter().any(|i| i.code == BPF_JMP | BPF_JA);
            match kernel_checker_accepts(program.insns()) {
                Ok(true) => {}
                Ok(false) => panic!(
                    "{link:?} {expr:?}: the kernel's checker refuses the program:\n{}",
                    program.dump()
                ),
                Err(e) => panic!("{link:?} {expr:?}: cannot attach: {e}"),
            }
        }
    }
    assert!(
        longest > 1000,
        "the huge expression compiled to only {longest} instructions"
    );
    assert!(trampolines, "no program needed a long jump");
}

#[test]
fn the_kernel_and_our_checker_refuse_the_same_programs() {
    let ret = |k| Insn::stmt(BPF_RET | BPF_K, k);
    let cases: Vec<Vec<Insn>> = vec![
        vec![ret(0)],
        vec![Insn::stmt(BPF_JMP | BPF_JA, 0), ret(1)],
        vec![Insn::stmt(BPF_JMP | BPF_JA, 1), ret(1)],
        vec![
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
            ret(1),
            ret(0),
        ],
        vec![
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 2, 0),
            ret(1),
            ret(0),
        ],
        vec![Insn::stmt(BPF_LD | BPF_W | BPF_MEM, 1), ret(0)],
        vec![Insn::stmt(BPF_LD | BPF_W | BPF_MEM, 16), ret(0)],
        vec![
            Insn::stmt(0x00, 5),
            Insn::stmt(0x02, 3),
            Insn::stmt(BPF_LD | BPF_W | BPF_MEM, 3),
            ret(0),
        ],
        vec![Insn::stmt(0x00, 5)],
        vec![Insn::stmt(0x34, 0), ret(0)],
        vec![Insn::stmt(0xee, 0), ret(0)],
        vec![ret(0); 4096],
        vec![ret(0); 4097],
    ];
    for insns in cases {
        let ours = Program::from_insns(insns.clone()).is_ok();
        let kernel = kernel_checker_accepts(&insns).expect("attach");
        assert_eq!(ours, kernel, "ours {ours}, kernel {kernel}: {insns:?}");
    }
}

#[test]
fn the_kernel_delivers_what_the_interpreter_accepts() {
    if !common::privileged("filter on a packet socket") {
        return;
    }
    let target = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let other = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let (port, other_port) = (
        target.local_addr().expect("addr").port(),
        other.local_addr().expect("addr").port(),
    );
    let expr = format!("udp dst port {port} and host 127.0.0.1");
    let program = Filter::parse(&[&expr])
        .and_then(|f| f.compile(LinkType::Ethernet))
        .unwrap_or_else(|e| panic!("{e}"));

    // SAFETY: plain socket(2); the descriptor is owned below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    assert!(
        fd >= 0,
        "packet socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: fd was just returned by socket(2) and is owned by nothing else.
    let owned = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // Attach before binding: nothing is queued before the filter is in place.
    attach(owned.as_raw_fd(), program.insns()).expect("attach");
    let lo = std::ffi::CString::new("lo").expect("cstring");
    // SAFETY: a valid NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(lo.as_ptr()) };
    assert!(ifindex > 0, "no loopback interface");
    // SAFETY: all-zero is a valid sockaddr_ll.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    sll.sll_ifindex = i32::try_from(ifindex).expect("ifindex");
    // SAFETY: sll is a valid sockaddr_ll of the size given.
    let rc = unsafe {
        libc::bind(
            owned.as_raw_fd(),
            std::ptr::addr_of!(sll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
    let timeout = libc::timeval {
        tv_sec: 5,
        tv_usec: 0,
    };
    // SAFETY: a valid timeval for SO_RCVTIMEO.
    unsafe {
        libc::setsockopt(
            owned.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            std::ptr::addr_of!(timeout).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };

    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for i in 0..3u8 {
        sender
            .send_to(&[i; 10], ("127.0.0.1", other_port))
            .expect("send");
        sender.send_to(&[i; 10], ("127.0.0.1", port)).expect("send");
    }
    let mut payloads = std::collections::BTreeSet::new();
    let mut buf = vec![0u8; 65536];
    while payloads.len() < 3 {
        // SAFETY: buf is writable for its length.
        let n = unsafe { libc::recv(owned.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        let Ok(n) = usize::try_from(n) else {
            break; // timed out: the assertion below says what is missing
        };
        let frame = buf.get(..n).expect("recv length");
        assert!(
            program.matches(frame, frame.len() as u32),
            "the kernel delivered a frame the interpreter rejects: {frame:02x?}"
        );
        let dst_port = frame.get(36..38).map(|p| u16::from_be_bytes([p[0], p[1]]));
        assert_ne!(
            dst_port,
            Some(other_port),
            "a frame to the other port got through"
        );
        if dst_port == Some(port) {
            payloads.extend(frame.get(42).copied());
        }
    }
    assert_eq!(
        payloads.len(),
        3,
        "only {payloads:?} of the 3 datagrams to port {port} were delivered"
    );
}
