//! RAW sockets from `/proc/net/raw` and `/proc/net/raw6`.
//!
//! sock_diag can dump RAW sockets only one IP protocol at a time (raw_diag wants the protocol in
//! the request), so the /proc tables, which list them all, are the simpler complete source.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::sockets::{Endpoint, Family, Proto, Socket, State};

/// Reads the RAW sockets of one family.
pub fn raw_sockets(family: Family) -> Result<Vec<Socket>> {
    let path = match family {
        Family::Inet => "/proc/net/raw",
        _ => "/proc/net/raw6",
    };
    match std::fs::read_to_string(path) {
        Ok(text) => parse_table(&text, family).map_err(|e| Error::SocketTable {
            what: path.to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        }),
        // A kernel built without IPv6 has no raw6 table: no IPv6 RAW sockets, not an error.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && family == Family::Inet6 => {
            Ok(Vec::new())
        }
        Err(source) => Err(Error::SocketTable {
            what: path.to_string(),
            source,
        }),
    }
}

/// Parses a /proc/net/{raw,raw6,udp,udp6,tcp,tcp6}-style table (the header line is skipped).
pub fn parse_table(text: &str, family: Family) -> Result<Vec<Socket>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            parse_line(line, family)
                .ok_or_else(|| format!("line {}: cannot parse {line:?}", n + 1))?,
        );
    }
    Ok(out)
}

fn parse_line(line: &str, family: Family) -> Option<Socket> {
    // sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 10 {
        return None;
    }
    let (lip, lport) = parse_endpoint(f[1], family)?;
    let (rip, rport) = parse_endpoint(f[2], family)?;
    let state = u8::from_str_radix(f[3], 16).ok()?;
    let (tx, rx) = f[4].split_once(':')?;
    let mut s = Socket::new(
        Proto::Raw,
        family,
        Endpoint::ip(lip, lport),
        Endpoint::ip(rip, rport),
        State::from_kernel(state, true),
    );
    s.send_q = u32::from_str_radix(tx, 16).ok()?;
    s.recv_q = u32::from_str_radix(rx, 16).ok()?;
    s.uid = f[7].parse().ok();
    s.inode = f[9].parse().ok()?;
    s.protocol = u8::try_from(lport).ok();
    Some(s)
}

/// `0100007F:0050` (IPv4, host byte order words) or 32 hex digits for IPv6.
fn parse_endpoint(text: &str, family: Family) -> Option<(IpAddr, u16)> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match family {
        Family::Inet => {
            let v = u32::from_str_radix(addr, 16).ok()?;
            IpAddr::V4(Ipv4Addr::from(v.to_ne_bytes()))
        }
        _ => {
            if addr.len() != 32 {
                return None;
            }
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
    };
    Some((ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_raw_v4() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                    1: 00000000:0001 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 123456 2 0000000000000000 0\n";
        let v = parse_table(text, Family::Inet).unwrap();
        assert_eq!(v.len(), 1);
        let s = &v[0];
        assert_eq!(s.proto, Proto::Raw);
        assert_eq!(s.protocol, Some(1));
        assert_eq!(s.state, State::Unconn);
        assert_eq!(s.inode, 123456);
        assert_eq!(s.uid, Some(0));
        assert_eq!(
            s.local.addr.as_ip(),
            Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        );
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn parses_addresses_in_kernel_byte_order() {
        let (ip, port) = parse_endpoint("0100007F:1F90", Family::Inet).unwrap();
        assert_eq!(ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(port, 8080);
        let (ip6, _) =
            parse_endpoint("00000000000000000000000001000000:003A", Family::Inet6).unwrap();
        assert_eq!(ip6, IpAddr::V6(Ipv6Addr::LOCALHOST));
    }

    #[test]
    fn rejects_damaged_lines() {
        let text = "header\n 1: zz:0001 00000000:0000 07\n";
        assert!(parse_table(text, Family::Inet).is_err());
    }
}
