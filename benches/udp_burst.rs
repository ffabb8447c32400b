//! Load generator for benches/capture.sh: sends COUNT datagrams of SIZE bytes to
//! 127.0.0.1:PORT as fast as sendmmsg(2) allows, in batches of 1024, then prints how many were
//! sent and how long it took. Loopback only; bounded by COUNT. It binds PORT itself (a sink that
//! never reads) so that no ICMP errors slow the sender down.
//!
//! Run: `cargo bench --bench udp_burst -- PORT [COUNT] [SIZE]`.

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::Instant;

const BATCH: usize = 1024;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(port) = args.first().and_then(|p| p.parse::<u16>().ok()) else {
        eprintln!("usage: udp_burst PORT [COUNT] [SIZE]");
        std::process::exit(2);
    };
    let count: usize = args
        .get(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(1_000_000);
    let size: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(18);
    // A socket bound to the port that never reads: without it every datagram would draw an
    // ICMP port unreachable, and the ECONNREFUSED errors would break up the sendmmsg batches.
    let _sink = UdpSocket::bind(("127.0.0.1", port)).ok();
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.connect(("127.0.0.1", port)).expect("connect");
    let payload = vec![0x5au8; size];
    let mut iov: Vec<libc::iovec> = (0..BATCH)
        .map(|_| libc::iovec {
            iov_base: payload.as_ptr() as *mut libc::c_void,
            iov_len: payload.len(),
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = iov
        .iter_mut()
        .map(|v| {
            // SAFETY: mmsghdr is plain data; the fields used are set below.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = v;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    let start = Instant::now();
    let mut sent = 0usize;
    while sent < count {
        let n = (count - sent).min(BATCH);
        // SAFETY: msgs holds n valid mmsghdr pointing at live iovecs and payload.
        let rc = unsafe { libc::sendmmsg(sock.as_raw_fd(), msgs.as_mut_ptr(), n as u32, 0) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ECONNREFUSED) {
                continue; // an ICMP port unreachable from an earlier datagram: keep sending
            }
            eprintln!("sendmmsg: {e}");
            std::process::exit(1);
        }
        sent += rc as usize;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sent {sent} datagrams of {size} bytes in {secs:.3} s ({:.0}/s)",
        sent as f64 / secs
    );
}
