//! `-r`: host names (reverse DNS through the system resolver, /etc/hosts first) and service
//! names (/etc/services) for the sockets about to be shown. Each address is looked up once.
//! Unspecified addresses (`0.0.0.0`, `::`) are never looked up.

use std::collections::HashMap;
use std::ffi::CStr;
use std::net::{IpAddr, SocketAddr};

use socket2::SockAddr;

use crate::output::Names;
use crate::sockets::{Proto, Socket};

/// Resolves the addresses and ports of `sockets`.
pub fn names_for(sockets: &[Socket]) -> Names {
    let mut names = Names::default();
    let mut tried_hosts: HashMap<IpAddr, ()> = HashMap::new();
    for s in sockets {
        for end in [&s.local, &s.remote] {
            let (Some(ip), Some(port)) = (end.addr.as_ip(), end.port) else {
                continue;
            };
            if !ip.is_unspecified()
                && tried_hosts.insert(ip, ()).is_none()
                && let Some(name) = lookup(ip, 0, false, true)
            {
                names.hosts.insert(ip, name);
            }
            if port != 0 && matches!(s.proto, Proto::Tcp | Proto::Udp) {
                let key = (s.proto, port);
                if !names.services.contains_key(&key)
                    && let Some(name) = lookup(ip, port, s.proto == Proto::Udp, false)
                    && name != port.to_string()
                {
                    names.services.insert(key, name);
                }
            }
        }
    }
    names
}

/// The host name of `ip` by reverse lookup through the system resolver (getnameinfo with
/// NI_NAMEREQD); `None` when it has none.
pub fn host_name(ip: IpAddr) -> Option<String> {
    lookup(ip, 0, false, true)
}

/// getnameinfo(3): the host name (NI_NAMEREQD) or the service name of `ip`:`port`.
fn lookup(ip: IpAddr, port: u16, udp: bool, host: bool) -> Option<String> {
    let sa = SockAddr::from(SocketAddr::new(ip, port));
    let mut buf = [0 as libc::c_char; 1025];
    let mut flags = if udp { libc::NI_DGRAM } else { 0 };
    flags |= if host { libc::NI_NAMEREQD } else { 0 };
    let (h, hl, sv, sl) = if host {
        (
            buf.as_mut_ptr(),
            buf.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
        )
    } else {
        (
            std::ptr::null_mut(),
            0,
            buf.as_mut_ptr(),
            buf.len() as libc::socklen_t,
        )
    };
    // SAFETY: sa is a valid sockaddr of sa.len() bytes; the one output buffer given is writable
    // for its stated length, the other is null with length 0, as getnameinfo allows.
    let rc = unsafe { libc::getnameinfo(sa.as_ptr().cast(), sa.len(), h, hl, sv, sl, flags) };
    if rc != 0 {
        return None;
    }
    // SAFETY: on success getnameinfo wrote a NUL-terminated string into buf.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    Some(name).filter(|n| !n.is_empty())
}
