//! The sock_diag backend against netstat2, an independent reader of the same tables: every
//! socket this test opens must be seen the same way by both, owners included.

#![cfg(target_os = "linux")]

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};

use sockscope::sockets::collect::{self, Backend, OwnerScan, Query};
use sockscope::sockets::linux::DiagBackend;
use sockscope::sockets::netstat2_backend::Netstat2Backend;
use sockscope::sockets::{Family, Proto, Socket};

type Key = (Proto, Family, String, String, String);

/// Whether `s` is one of ours: bound to one of `locals`. The client's ephemeral port may also
/// be the local end of other connections (TIME-WAIT remnants of other tests, to other servers):
/// for it, only the connection to `peer` counts.
fn ours(s: &Socket, locals: &[SocketAddr], client: (SocketAddr, SocketAddr)) -> bool {
    let addr = |e: &sockscope::sockets::Endpoint| match (e.addr.as_ip(), e.port) {
        (Some(ip), Some(port)) => Some(SocketAddr::new(ip, port)),
        _ => None,
    };
    match addr(&s.local) {
        Some(l) if l == client.0 => addr(&s.remote) == Some(client.1),
        Some(l) => locals.contains(&l),
        None => false,
    }
}

fn keys(
    sockets: &[Socket],
    locals: &[SocketAddr],
    client: (SocketAddr, SocketAddr),
) -> BTreeSet<Key> {
    sockets
        .iter()
        .filter(|s| ours(s, locals, client))
        .map(|s| {
            (
                s.proto,
                s.family,
                format!("{}:{:?}", s.local.addr, s.local.port),
                format!("{}:{:?}", s.remote.addr, s.remote.port),
                s.state.to_string(),
            )
        })
        .collect()
}

#[test]
fn diag_and_netstat2_agree_on_our_sockets() {
    let l4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let l6 = TcpListener::bind("[::1]:0").unwrap();
    let c = TcpStream::connect(l4.local_addr().unwrap()).unwrap();
    let (_s, _) = l4.accept().unwrap();
    let u4 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let u6 = UdpSocket::bind("[::1]:0").unwrap();
    let locals = [
        l4.local_addr().unwrap(),
        l6.local_addr().unwrap(),
        c.local_addr().unwrap(),
        u4.local_addr().unwrap(),
        u6.local_addr().unwrap(),
    ];
    let q = Query::default();
    let diag = DiagBackend.sockets(&q, &|_| true).unwrap();
    let ns2 = Netstat2Backend.sockets(&q, &|_| true).unwrap();
    let client = (c.local_addr().unwrap(), l4.local_addr().unwrap());
    let (a, b) = (keys(&diag, &locals, client), keys(&ns2, &locals, client));
    assert_eq!(a.len(), 6, "{a:?}");
    assert_eq!(a, b);

    // Owners: our pid for every one of them, from both.
    let me = std::process::id();
    for backend in [&DiagBackend as &dyn Backend, &Netstat2Backend] {
        let keep = |s: &Socket| ours(s, &locals, client);
        let snap = collect::collect(backend, &q, &keep, OwnerScan::Everything).unwrap();
        assert_eq!(snap.sockets.len(), 6);
        for s in &snap.sockets {
            assert!(s.owners.pids().contains(&me), "{s:?}");
        }
    }
    // Queues: only the sock_diag backend has them (netstat2 drops them).
    assert!(diag.iter().any(|s| s.proto == Proto::Tcp && s.send_q > 0));
}
