//! pcap files against the real tools: what sockscope's writer makes, tshark and tcpdump must
//! read to the nanosecond and the byte; what editcap and mergecap make of it, and a pcapng file
//! built here by hand, sockscope's reader must read as tshark does.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sockscope::packet::LinkType;
use sockscope::packet::pcap::{Precision, Reader, Writer};

/// A packet to write, or a frame read back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Packet {
    ts: Duration,
    link: LinkType,
    data: Vec<u8>,
    orig_len: u32,
    interface: Option<String>,
}

/// The Internet checksum of `parts`, taken together.
fn checksum(parts: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = parts.concat();
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 packet from `src` to `dst` carrying `payload` of protocol `proto`.
fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut header = vec![0x45, 0];
    header.extend(total.to_be_bytes());
    header.extend([0x12, 0x34, 0x40, 0, 64, proto, 0, 0]);
    header.extend(src);
    header.extend(dst);
    let sum = checksum(&[&header]);
    header[10..12].copy_from_slice(&sum.to_be_bytes());
    header.extend(payload);
    header
}

/// The pseudo-header TCP and UDP checksums cover.
fn pseudo(src: [u8; 4], dst: [u8; 4], proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::from(src);
    p.extend(dst);
    p.extend([0, proto]);
    p.extend((len as u16).to_be_bytes());
    p
}

/// An IPv4 UDP datagram.
fn udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut segment = Vec::new();
    segment.extend(sport.to_be_bytes());
    segment.extend(dport.to_be_bytes());
    segment.extend((len as u16).to_be_bytes());
    segment.extend([0, 0]);
    segment.extend(payload);
    let sum = checksum(&[&pseudo(src, dst, 17, len), &segment]);
    segment[6..8].copy_from_slice(&sum.to_be_bytes());
    ipv4(src, dst, 17, &segment)
}

/// An IPv4 TCP SYN.
fn tcp_syn(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, seq: u32) -> Vec<u8> {
    let mut segment = Vec::new();
    segment.extend(sport.to_be_bytes());
    segment.extend(dport.to_be_bytes());
    segment.extend(seq.to_be_bytes());
    segment.extend(0u32.to_be_bytes());
    // Data offset 5 words, SYN, window 64240, checksum, urgent pointer.
    segment.extend([0x50, 0x02, 0xfa, 0xf0, 0, 0, 0, 0]);
    let sum = checksum(&[&pseudo(src, dst, 6, segment.len()), &segment]);
    segment[16..18].copy_from_slice(&sum.to_be_bytes());
    ipv4(src, dst, 6, &segment)
}

/// The source address of an IPv4 packet, as tshark writes it.
fn source(ip: &[u8]) -> String {
    format!("{}.{}.{}.{}", ip[12], ip[13], ip[14], ip[15])
}

/// An Ethernet II frame around an IPv4 packet.
fn ether(ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
    f.extend(ip);
    f
}

const SNAPLEN: u32 = 128;

/// The IP packets the files hold: UDP, TCP, a UDP datagram longer than the snaplen, and a
/// time at the last nanosecond of a second. Each with the UDP destination port tshark shows.
fn ip_packets() -> Vec<(Duration, Vec<u8>, Option<u16>)> {
    vec![
        (
            Duration::new(1_700_000_000, 123_456_789),
            udp([10, 0, 0, 1], 40000, [10, 0, 0, 2], 9999, b"hello, world"),
            Some(9999),
        ),
        (
            Duration::new(1_700_000_000, 500_000_001),
            tcp_syn([192, 0, 2, 1], 40001, [192, 0, 2, 2], 80, 1),
            None,
        ),
        (
            Duration::new(1_700_000_001, 999),
            udp([10, 0, 0, 3], 40002, [10, 0, 0, 4], 7, &[0xab; 1000]),
            Some(7),
        ),
        (
            Duration::new(1_700_000_002, 999_999_999),
            udp([10, 0, 0, 5], 40003, [10, 0, 0, 6], 53535, b"x"),
            Some(53535),
        ),
    ]
}

/// What reading back a file written with `precision` and [`SNAPLEN`] must give.
fn expected(link: LinkType, precision: Precision) -> Vec<Packet> {
    ip_packets()
        .into_iter()
        .map(|(ts, ip, _)| {
            let data = if link == LinkType::Ethernet {
                ether(&ip)
            } else {
                ip
            };
            let ts = match precision {
                Precision::Micro => Duration::new(ts.as_secs(), ts.subsec_micros() * 1000),
                Precision::Nano => ts,
            };
            Packet {
                ts,
                link,
                orig_len: data.len() as u32,
                data: data[..data.len().min(SNAPLEN as usize)].to_vec(),
                interface: None,
            }
        })
        .collect()
}

/// Writes the packets of [`ip_packets`] in `link` framing to `path`.
fn write_file(path: &Path, link: LinkType, precision: Precision) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut writer = Writer::new(file, link, SNAPLEN, precision).expect("header");
    for (ts, ip, _) in ip_packets() {
        let data = if link == LinkType::Ethernet {
            ether(&ip)
        } else {
            ip
        };
        writer.write(ts, &data, data.len() as u32).expect("write");
    }
    writer.flush().expect("flush");
    writer.into_inner().into_inner().expect("flush");
}

/// Every frame of the file at `path`, through sockscope's reader.
fn read_file(path: &Path) -> Vec<Packet> {
    let file = std::io::BufReader::new(std::fs::File::open(path).expect("open"));
    let mut reader = Reader::new(file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut frames = Vec::new();
    while let Some(f) = reader
        .next_frame()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    {
        frames.push(Packet {
            ts: f.ts,
            link: f.link,
            data: f.data.to_vec(),
            orig_len: f.orig_len,
            interface: f.interface.map(str::to_string),
        });
    }
    assert_eq!(reader.truncated(), None, "{}", path.display());
    frames
}

/// Runs a tool and returns its stdout and stderr; fails the test if it fails.
fn run(program: &str, args: &[&str]) -> (String, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{program} {args:?} failed: {stderr}");
    (stdout, stderr)
}

/// tshark's fields of every packet (no name resolution: nothing is looked up).
fn tshark_fields(path: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec![
        "-n",
        "-r",
        path.to_str().expect("utf-8 path"),
        "-T",
        "fields",
    ];
    for field in fields {
        args.extend(["-e", field]);
    }
    let (stdout, _) = run("tshark", &args);
    stdout
        .lines()
        .map(|line| line.split('\t').map(str::to_string).collect())
        .collect()
}

/// A time since the epoch as tshark and tcpdump print it (seconds, a point, up to 9 digits).
fn parse_epoch(s: &str) -> Duration {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    assert!(frac.len() <= 9, "{s}");
    let nanos = format!("{frac:0<9}");
    Duration::new(
        secs.parse().unwrap_or_else(|_| panic!("time {s}")),
        nanos.parse().unwrap_or_else(|_| panic!("time {s}")),
    )
}

fn temp_path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[test]
fn tshark_reads_what_we_write_to_the_nanosecond_and_byte() {
    if !common::tool("tshark") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for link in [LinkType::Ethernet, LinkType::Raw] {
        for precision in [Precision::Micro, Precision::Nano] {
            let path = temp_path(&dir, &format!("{link:?}-{precision:?}.pcap"));
            write_file(&path, link, precision);
            let rows = tshark_fields(
                &path,
                &[
                    "frame.time_epoch",
                    "frame.len",
                    "frame.cap_len",
                    "ip.src",
                    "udp.dstport",
                    "tcp.dstport",
                ],
            );
            let want = expected(link, precision);
            assert_eq!(rows.len(), want.len(), "{rows:?}");
            for ((row, packet), (_, ip, dport)) in rows.iter().zip(&want).zip(ip_packets()) {
                let what = format!("{link:?} {precision:?}: {row:?}");
                assert_eq!(row.len(), 6, "{what}");
                assert_eq!(parse_epoch(&row[0]), packet.ts, "{what}");
                assert_eq!(row[1], packet.orig_len.to_string(), "{what}");
                assert_eq!(row[2], packet.data.len().to_string(), "{what}");
                assert_eq!(row[3], source(&ip), "{what}");
                let dport = dport.map(|p| p.to_string()).unwrap_or_default();
                assert_eq!(row[4], dport, "{what}");
            }
            // The TCP SYN is one too.
            assert_eq!(rows[1][5], "80");
        }
    }
}

#[test]
fn tcpdump_reads_what_we_write() {
    if !common::tool("tcpdump") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (link, name) in [
        (LinkType::Ethernet, "EN10MB (Ethernet)"),
        (LinkType::Raw, "RAW (Raw IP)"),
    ] {
        for (precision, digits) in [(Precision::Micro, 6), (Precision::Nano, 9)] {
            let path = temp_path(&dir, &format!("{link:?}-{precision:?}.pcap"));
            write_file(&path, link, precision);
            let unit = if digits == 9 { "nano" } else { "micro" };
            let (stdout, stderr) = run(
                "tcpdump",
                &[
                    "-r",
                    path.to_str().expect("utf-8 path"),
                    "-n",
                    "-tt",
                    &format!("--time-stamp-precision={unit}"),
                ],
            );
            assert!(
                stderr.contains(&format!("link-type {name}, snapshot length {SNAPLEN}")),
                "{stderr}"
            );
            let lines: Vec<&str> = stdout.lines().collect();
            let want = expected(link, precision);
            assert_eq!(lines.len(), want.len(), "{stdout}");
            for (line, packet) in lines.iter().zip(&want) {
                let (time, rest) = line.split_once(' ').expect("time first");
                assert_eq!(time.split_once('.').map(|(_, f)| f.len()), Some(digits));
                assert_eq!(parse_epoch(time), packet.ts, "{line}");
                assert!(rest.starts_with("IP "), "{line}");
            }
            assert!(
                lines[0].contains("10.0.0.1.40000 > 10.0.0.2.9999: UDP, length 12"),
                "{}",
                lines[0]
            );
            assert!(
                lines[1].contains("192.0.2.1.40001 > 192.0.2.2.80: Flags [S], seq 1, win 64240"),
                "{}",
                lines[1]
            );
            // Cut to the snaplen: tcpdump still knows the datagram's length from its header.
            assert!(lines[2].contains("UDP, length 1000"), "{}", lines[2]);
        }
    }
}

#[test]
fn editcap_pcapng_reads_back_as_the_original() {
    if !common::tool("editcap") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for link in [LinkType::Ethernet, LinkType::Raw] {
        for precision in [Precision::Micro, Precision::Nano] {
            let pcap = temp_path(&dir, "in.pcap");
            let pcapng = temp_path(&dir, "out.pcapng");
            write_file(&pcap, link, precision);
            run(
                "editcap",
                &[
                    "-F",
                    "pcapng",
                    pcap.to_str().expect("utf-8 path"),
                    pcapng.to_str().expect("utf-8 path"),
                ],
            );
            let want = expected(link, precision);
            assert_eq!(read_file(&pcap), want, "{link:?} {precision:?} pcap");
            assert_eq!(read_file(&pcapng), want, "{link:?} {precision:?} pcapng");
        }
    }
}

#[test]
fn mergecap_of_two_link_types_reads_as_both_originals() {
    if !common::tool("mergecap") || !common::tool("tshark") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b, merged) = (
        temp_path(&dir, "eth.pcap"),
        temp_path(&dir, "raw.pcap"),
        temp_path(&dir, "merged.pcapng"),
    );
    write_file(&a, LinkType::Ethernet, Precision::Nano);
    write_file(&b, LinkType::Raw, Precision::Micro);
    let path = |p: &PathBuf| p.to_str().expect("utf-8 path").to_string();
    run(
        "mergecap",
        &["-F", "pcapng", "-w", &path(&merged), &path(&a), &path(&b)],
    );
    let frames = read_file(&merged);
    // Merged in time order; where times are equal, the first file's packet first.
    let mut want: Vec<Packet> = expected(LinkType::Ethernet, Precision::Nano)
        .into_iter()
        .chain(expected(LinkType::Raw, Precision::Micro))
        .collect();
    want.sort_by_key(|p| p.ts);
    assert_eq!(frames, want);
    // One interface per input file, and every packet on the interface of its link type.
    let rows = tshark_fields(&merged, &["frame.interface_id", "frame.time_epoch"]);
    assert_eq!(rows.len(), frames.len());
    for (row, frame) in rows.iter().zip(&frames) {
        assert_eq!(parse_epoch(&row[1]), frame.ts, "{row:?}");
        let interface = match frame.link {
            LinkType::Ethernet => "0",
            _ => "1",
        };
        assert_eq!(row[0], interface, "{row:?} {frame:?}");
    }
}

/// A pcapng file built by hand, a section at a time.
struct Ng {
    big_endian: bool,
    out: Vec<u8>,
}

impl Ng {
    fn u16(&self, v: u16) -> [u8; 2] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn u32(&self, v: u32) -> [u8; 4] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn block(&mut self, block_type: u32, body: &[u8]) {
        let len = 12 + body.len().next_multiple_of(4) as u32;
        self.out.extend(self.u32(block_type));
        self.out.extend(self.u32(len));
        self.out.extend(body);
        self.out.resize(self.out.len().next_multiple_of(4), 0);
        self.out.extend(self.u32(len));
    }

    fn section(&mut self, big_endian: bool) {
        self.big_endian = big_endian;
        let mut body = Vec::from(self.u32(0x1A2B_3C4D));
        body.extend(self.u16(1));
        body.extend(self.u16(0));
        body.extend([0xff; 8]);
        self.block(0x0A0D_0D0A, &body);
    }

    fn interface(&mut self, link: u16, options: &[(u16, &[u8])]) {
        let mut body = Vec::from(self.u16(link));
        body.extend([0, 0]);
        body.extend(self.u32(0));
        for (code, value) in options {
            body.extend(self.u16(*code));
            body.extend(self.u16(value.len() as u16));
            body.extend(*value);
            body.resize(body.len().next_multiple_of(4), 0);
        }
        body.extend([0; 4]);
        self.block(1, &body);
    }

    fn packet(&mut self, interface: u32, units: u64, data: &[u8]) {
        let mut body = Vec::from(self.u32(interface));
        body.extend(self.u32((units >> 32) as u32));
        body.extend(self.u32(units as u32));
        body.extend(self.u32(data.len() as u32));
        body.extend(self.u32(data.len() as u32));
        body.extend(data);
        self.block(6, &body);
    }
}

#[test]
fn hand_built_pcapng_reads_as_tshark_reads_it() {
    if !common::tool("tshark") {
        return;
    }
    let ip = ip_packets();
    let mut ng = Ng {
        big_endian: false,
        out: Vec::new(),
    };
    ng.section(false);
    // Nanoseconds, named.
    ng.interface(1, &[(2, b"eth0"), (9, &[9])]);
    // 2^-20 seconds, 1e9 seconds later, named.
    let offset = 1_000_000_000i64.to_le_bytes();
    ng.interface(101, &[(2, b"tun0"), (9, &[0x80 | 20]), (14, &offset)]);
    // A name resolution block and a statistics block, to skip.
    ng.block(4, &[1, 0, 8, 0, 10, 0, 0, 1, b'h', 0, 0, 0, 0, 0, 0, 0]);
    ng.packet(0, 1_700_000_000_123_456_789, &ether(&ip[0].1));
    ng.packet(1, (700_000_000 << 20) | (3 << 18), &ip[1].1);
    ng.block(5, &[0; 12]);
    // A big-endian section: interface ids start again, default microseconds, no name.
    ng.section(true);
    ng.interface(101, &[]);
    ng.packet(0, 1_600_000_000_000_001, &ip[3].1);

    let dir = tempfile::tempdir().expect("tempdir");
    let path = temp_path(&dir, "hand.pcapng");
    std::fs::write(&path, &ng.out).expect("write");
    let frames = read_file(&path);
    let rows = tshark_fields(
        &path,
        &[
            "frame.time_epoch",
            "frame.len",
            "frame.interface_name",
            "ip.src",
        ],
    );
    let sent = [&ip[0].1, &ip[1].1, &ip[3].1];
    assert_eq!(frames.len(), sent.len());
    assert_eq!(rows.len(), frames.len(), "{rows:?}");
    for (i, (row, frame)) in rows.iter().zip(&frames).enumerate() {
        assert_eq!(parse_epoch(&row[0]), frame.ts, "{row:?} {frame:?}");
        assert_eq!(row[1], frame.data.len().to_string(), "{row:?}");
        assert_eq!(row[3], source(sent[i]), "{row:?}");
        // Wireshark 4.0 shows the name of the first section's interface 0 for the second
        // section's (its timestamps and link type do come from the right one): names are
        // compared in the first section only.
        if i < 2 {
            assert_eq!(
                row[2],
                frame.interface.as_deref().unwrap_or_default(),
                "{row:?}"
            );
        }
    }
    // And what they both say is what was meant.
    let summary: Vec<_> = frames
        .iter()
        .map(|f| (f.ts, f.link, f.interface.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                Duration::new(1_700_000_000, 123_456_789),
                LinkType::Ethernet,
                Some("eth0")
            ),
            (
                Duration::new(1_700_000_000, 750_000_000),
                LinkType::Raw,
                Some("tun0")
            ),
            (Duration::new(1_600_000_000, 1_000), LinkType::Raw, None),
        ]
    );
}
