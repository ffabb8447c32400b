//! JSON records: the field names are part of the contract (DESIGN.md).

use std::io::{self, Write};

use serde::Serialize;

use crate::output::Names;
use crate::output::health::{Details, InfoRecord, TimerRecord};
use crate::sockets::health::MemInfo;
use crate::sockets::problems::Problem;
use crate::sockets::{Addr, Family, Owners, ProcessInfo, Proto, Snapshot, Socket, State, UnixType};

/// One socket as JSON.
#[derive(Debug, Serialize)]
pub struct SocketRecord<'a> {
    pub proto: Proto,
    pub family: Family,
    /// Numeric address, UNIX path, `@abstract` name; null for an unnamed UNIX socket.
    pub local_addr: Option<String>,
    pub local_port: Option<u16>,
    pub remote_addr: Option<String>,
    pub remote_port: Option<u16>,
    pub state: State,
    pub recv_q: u32,
    pub send_q: u32,
    pub inode: u64,
    pub uid: Option<u32>,
    /// Name of the socket's uid.
    pub user: Option<String>,
    /// Owning processes; empty when none or when hidden (see `owners_hidden`).
    pub processes: Vec<&'a ProcessInfo>,
    /// True when the owners could not be seen for lack of privilege (not the same as none).
    pub owners_hidden: bool,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub unix_type: Option<UnixType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_inode: Option<u64>,
    /// RAW sockets: the IP protocol number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u8>,
    /// IPv6 sockets that take no IPv4 (IPV6_V6ONLY); present only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub v6only: bool,
    /// With -r: resolved names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_host: Option<String>,
    /// TCP and UDP: what is wrong with the socket, in plain words (empty when healthy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problems: Option<&'a [Problem]>,
    /// With -i: tcp_info (TCP sockets whose kernel sent it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<InfoRecord>,
    /// With -m: socket memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemInfo>,
    /// With -o: the pending timer; null when none is pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer: Option<Option<TimerRecord>>,
}

fn addr_text(a: &Addr) -> Option<String> {
    match a {
        Addr::Unnamed => None,
        other => Some(other.to_string()),
    }
}

/// The record of `s`, borrowing process descriptions from `snap`; `show` adds the health
/// records asked for.
pub fn record<'a>(
    s: &'a Socket,
    snap: &'a Snapshot,
    names: &Names,
    show: Details,
) -> SocketRecord<'a> {
    let inet = matches!(s.proto, Proto::Tcp | Proto::Udp);
    let host = |a: &Addr| a.as_ip().and_then(|ip| names.hosts.get(&ip).cloned());
    SocketRecord {
        proto: s.proto,
        family: s.family,
        local_addr: addr_text(&s.local.addr),
        local_port: s.local.port,
        remote_addr: addr_text(&s.remote.addr),
        remote_port: s.remote.port,
        state: s.state,
        recv_q: s.recv_q,
        send_q: s.send_q,
        inode: s.inode,
        uid: s.uid,
        user: s.uid.map(|u| snap.user_name(u)),
        processes: s
            .owners
            .pids()
            .iter()
            .filter_map(|p| snap.processes.get(p))
            .collect(),
        owners_hidden: s.owners == Owners::Hidden,
        unix_type: s.unix_type,
        peer_inode: s.peer_inode,
        protocol: s.protocol,
        v6only: s.v6only,
        local_host: host(&s.local.addr),
        remote_host: host(&s.remote.addr),
        problems: inet.then_some(&s.problems[..]),
        info: s.tcp().filter(|_| show.info).map(InfoRecord::new),
        memory: s.memory().filter(|_| show.memory),
        timer: (show.timers && s.proto == Proto::Tcp)
            .then(|| s.timer.as_ref().map(TimerRecord::from)),
    }
}

/// Writes every socket as one JSON array, one record per line inside it (streamed, so 100,000
/// sockets need no second copy in memory).
pub fn write_sockets(
    w: &mut dyn Write,
    snap: &Snapshot,
    names: &Names,
    show: Details,
) -> io::Result<()> {
    w.write_all(b"[")?;
    for (i, s) in snap.sockets.iter().enumerate() {
        w.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut *w, &record(s, snap, names, show)).map_err(io::Error::from)?;
    }
    w.write_all(b"\n]\n")
}

/// Writes any serialisable value as one JSON document.
pub fn write_value<T: Serialize>(w: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, value).map_err(io::Error::from)?;
    w.write_all(b"\n")
}

/// Writes one JSON object on one line (streams: --watch).
pub fn write_line<T: Serialize>(w: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *w, value).map_err(io::Error::from)?;
    w.write_all(b"\n")
}
