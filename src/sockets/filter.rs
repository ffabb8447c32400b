//! Pure filters over the socket model: what `list` and `who` keep, and the kernel query that
//! lets the kernel discard the rest early.

use std::net::IpAddr;

use crate::sockets::collect::Query;
use crate::sockets::{Family, Proto, Snapshot, Socket, State};

/// A `--state` value: one state or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    One(State),
    /// Every state but listen and unconn/close.
    Connected,
}

impl StateFilter {
    /// Parses `listen`, `ESTAB`, `time-wait`, `time_wait`, `connected`...
    pub fn parse(text: &str) -> Result<StateFilter, String> {
        let t = text.trim().to_ascii_lowercase().replace('_', "-");
        if t == "connected" {
            return Ok(StateFilter::Connected);
        }
        let alias = match t.as_str() {
            "estab" => "established",
            "syn-received" => "syn-recv",
            "closed" => "close",
            other => other,
        };
        State::ALL
            .iter()
            .find(|s| s.name() == alias)
            .map(|s| StateFilter::One(*s))
            .ok_or_else(|| {
                let names: Vec<&str> = State::ALL.iter().map(|s| s.name()).collect();
                format!(
                    "unknown state '{text}' (use one of: {}, connected)",
                    names.join(", ")
                )
            })
    }

    fn matches(self, s: State) -> bool {
        match self {
            StateFilter::One(State::Close) => matches!(s, State::Close | State::Unconn),
            StateFilter::One(State::Unconn) => matches!(s, State::Close | State::Unconn),
            StateFilter::One(want) => s == want,
            StateFilter::Connected => !matches!(s, State::Listen | State::Close | State::Unconn),
        }
    }

    fn states(self) -> Vec<State> {
        match self {
            StateFilter::One(s) => vec![s],
            StateFilter::Connected => State::ALL
                .iter()
                .copied()
                .filter(|&s| self.matches(s))
                .collect(),
        }
    }
}

/// A `--port` value: one port or an inclusive range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    /// Parses `8080` or `8000-8100`.
    pub fn parse(text: &str) -> Result<PortRange, String> {
        let port = |p: &str| -> Result<u16, String> {
            p.trim().parse::<u16>().map_err(|_| {
                format!("'{text}' is not a port or port range (examples: 443, 8000-8100)")
            })
        };
        match text.split_once('-') {
            Some((a, b)) => {
                let (first, last) = (port(a)?, port(b)?);
                if first > last {
                    return Err(format!("port range '{text}' is backwards"));
                }
                Ok(PortRange { first, last })
            }
            None => {
                let p = port(text)?;
                Ok(PortRange { first: p, last: p })
            }
        }
    }

    /// Whether `port` is inside.
    pub fn contains(self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}

/// An `--addr` value: an address or a network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrFilter {
    pub net: IpAddr,
    pub prefix: u8,
}

impl AddrFilter {
    /// Parses `127.0.0.1`, `10.0.0.0/8`, `::1`, `fe80::/10`, `[::1]`.
    pub fn parse(text: &str) -> Result<AddrFilter, String> {
        let bad = || format!("'{text}' is not an IP address or network (e.g. 10.0.0.0/8, ::1)");
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (text, None),
        };
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(AddrFilter { net, prefix })
    }

    /// Whether `ip` is inside; IPv4-mapped IPv6 addresses match their IPv4 networks.
    pub fn contains(self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) if self.net.is_ipv4() => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            other => other,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(
                u128::from(u32::from(n)),
                u128::from(u32::from(a)),
                self.prefix,
                32,
            ),
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                prefix_eq(u128::from(n), u128::from(a), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8, bits: u32) -> bool {
    let shift = bits - u32::from(prefix);
    shift >= bits || (a >> shift) == (b >> shift)
}

/// The filters of `list`, validated.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub protocols: Vec<Proto>,
    pub families: Vec<Family>,
    pub listening: bool,
    pub states: Vec<StateFilter>,
    pub ports: Vec<PortRange>,
    pub addrs: Vec<AddrFilter>,
    pub pid: Option<u32>,
    pub process: Option<String>,
    pub user: Option<String>,
}

impl Filter {
    /// The kernel query: protocols, families and a state mask, so the kernel drops what the
    /// state filters exclude before it reaches us.
    pub fn query(&self) -> Query {
        let mut mask = u32::MAX;
        if self.listening {
            mask = Query::mask_of(&[State::Listen, State::Unconn]);
        }
        if !self.states.is_empty() {
            let wanted: Vec<State> = self.states.iter().flat_map(|s| s.states()).collect();
            mask &= Query::mask_of(&wanted);
        }
        Query {
            protocols: self.protocols.clone(),
            families: self.families.clone(),
            state_mask: mask,
            health: true,
        }
    }

    /// Whether the socket-level filters keep `s` (those that need no process information).
    pub fn keeps_socket(&self, s: &Socket) -> bool {
        if !self.protocols.contains(&s.proto) {
            return false;
        }
        if s.family != Family::Unix && !self.families.contains(&s.family) {
            return false;
        }
        if self.listening && !matches!(s.state, State::Listen | State::Unconn) {
            return false;
        }
        if !self.states.is_empty() && !self.states.iter().any(|f| f.matches(s.state)) {
            return false;
        }
        if !self.ports.is_empty() {
            // RAW sockets have protocol numbers, not ports; an unconnected remote end (port 0)
            // is no port at all.
            let remote = s.remote.port.filter(|&p| p != 0);
            let hit = s.proto != Proto::Raw
                && self.ports.iter().any(|r| {
                    [s.local.port, remote]
                        .iter()
                        .flatten()
                        .any(|&p| r.contains(p))
                });
            if !hit {
                return false;
            }
        }
        if !self.addrs.is_empty() {
            let ips = [s.local.addr.as_ip(), s.remote.addr.as_ip()];
            if !self
                .addrs
                .iter()
                .any(|f| ips.iter().flatten().any(|&ip| f.contains(ip)))
            {
                return false;
            }
        }
        true
    }

    /// Whether the process-level filters keep `s`, given the snapshot's process table.
    pub fn keeps_owner(&self, s: &Socket, snap: &Snapshot) -> bool {
        let procs = || s.owners.pids().iter().filter_map(|p| snap.processes.get(p));
        if let Some(pid) = self.pid
            && !s.owners.pids().contains(&pid)
        {
            return false;
        }
        if let Some(name) = &self.process
            && !procs().any(|p| p.name.contains(name.as_str()))
        {
            return false;
        }
        if let Some(user) = &self.user {
            let uid: Option<u32> = user.parse().ok();
            let socket_user = s
                .uid
                .is_some_and(|u| Some(u) == uid || snap.user_name(u) == *user);
            let process_user = procs().any(|p| p.user == *user || (uid.is_some() && p.uid == uid));
            if !socket_user && !process_user {
                return false;
            }
        }
        true
    }

    /// Keeps what every filter keeps.
    pub fn apply(&self, snap: &mut Snapshot) {
        let sockets = std::mem::take(&mut snap.sockets);
        snap.sockets = sockets
            .into_iter()
            .filter(|s| self.keeps_socket(s) && self.keeps_owner(s, snap))
            .collect();
    }

    /// Whether any filter needs the owning processes before it can decide.
    pub fn needs_owners(&self) -> bool {
        self.pid.is_some() || self.process.is_some() || self.user.is_some()
    }
}

/// `--sort` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Protocol, then local address and port (the default).
    #[default]
    Proto,
    Local,
    Remote,
    Port,
    State,
    RecvQ,
    SendQ,
    Pid,
    Process,
    User,
    Inode,
}

impl SortKey {
    /// Every key with its name on the command line and what it sorts by.
    pub const ALL: [(SortKey, &'static str, &'static str); 11] = [
        (
            SortKey::Proto,
            "proto",
            "Protocol, then local address and port (the default)",
        ),
        (SortKey::Local, "local", "Local address, then local port"),
        (
            SortKey::Remote,
            "remote",
            "Remote address, then remote port",
        ),
        (SortKey::Port, "port", "Local port"),
        (SortKey::State, "state", "State"),
        (SortKey::RecvQ, "recv-q", "Receive queue, largest first"),
        (SortKey::SendQ, "send-q", "Send queue, largest first"),
        (SortKey::Pid, "pid", "Owning process id"),
        (SortKey::Process, "process", "Owning process name"),
        (SortKey::User, "user", "Owning user (socket uid)"),
        (SortKey::Inode, "inode", "Socket inode"),
    ];

    /// The key named `name` on the command line.
    pub fn from_name(name: &str) -> Option<SortKey> {
        SortKey::ALL
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(k, _, _)| *k)
    }
}

/// Sorts sockets in place by `key`; ties keep protocol/local order so output is stable.
pub fn sort(snap: &mut Snapshot, key: SortKey) {
    let first_pid = |s: &Socket| s.owners.pids().first().copied().unwrap_or(u32::MAX);
    let process_name = |s: &Socket| {
        s.owners
            .pids()
            .first()
            .and_then(|p| snap.processes.get(p))
            .map(|p| p.name.clone())
            .unwrap_or_default()
    };
    let base = |a: &Socket, b: &Socket| {
        (a.proto, a.family, &a.local, &a.remote, a.inode)
            .cmp(&(b.proto, b.family, &b.local, &b.remote, b.inode))
    };
    let mut sockets = std::mem::take(&mut snap.sockets);
    match key {
        SortKey::Proto => sockets.sort_unstable_by(base),
        SortKey::Local => sockets.sort_by(|a, b| a.local.cmp(&b.local).then_with(|| base(a, b))),
        SortKey::Remote => sockets.sort_by(|a, b| a.remote.cmp(&b.remote).then_with(|| base(a, b))),
        SortKey::Port => {
            sockets.sort_by(|a, b| a.local.port.cmp(&b.local.port).then_with(|| base(a, b)))
        }
        SortKey::State => sockets.sort_by(|a, b| {
            state_rank(a.state)
                .cmp(&state_rank(b.state))
                .then_with(|| base(a, b))
        }),
        SortKey::RecvQ => sockets.sort_by(|a, b| b.recv_q.cmp(&a.recv_q).then_with(|| base(a, b))),
        SortKey::SendQ => sockets.sort_by(|a, b| b.send_q.cmp(&a.send_q).then_with(|| base(a, b))),
        SortKey::Pid => {
            sockets.sort_by(|a, b| first_pid(a).cmp(&first_pid(b)).then_with(|| base(a, b)))
        }
        SortKey::Process => {
            // Sockets without a (visible) owner go last, as with --sort pid.
            sockets.sort_by_cached_key(|s| {
                let name = process_name(s);
                (name.is_empty(), name, s.proto, s.local.clone(), s.inode)
            })
        }
        SortKey::User => sockets.sort_by(|a, b| a.uid.cmp(&b.uid).then_with(|| base(a, b))),
        SortKey::Inode => sockets.sort_by(|a, b| a.inode.cmp(&b.inode).then_with(|| base(a, b))),
    }
    snap.sockets = sockets;
}

/// Listening first, then the life of a connection in order, the unconnected last.
fn state_rank(s: State) -> u8 {
    match s {
        State::Listen => 0,
        State::SynSent => 1,
        State::SynRecv => 2,
        State::Established => 3,
        State::FinWait1 => 4,
        State::FinWait2 => 5,
        State::CloseWait => 6,
        State::Closing => 7,
        State::LastAck => 8,
        State::TimeWait => 9,
        State::Close => 10,
        State::Unconn => 11,
        State::Unknown(_) => 12,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sockets::Endpoint;
    use std::net::Ipv4Addr;

    fn tcp(lport: u16, rport: u16, state: State) -> Socket {
        Socket::new(
            Proto::Tcp,
            Family::Inet,
            Endpoint::ip(IpAddr::V4(Ipv4Addr::LOCALHOST), lport),
            Endpoint::ip(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)), rport),
            state,
        )
    }

    #[test]
    fn states_parse() {
        assert_eq!(
            StateFilter::parse("LISTEN"),
            Ok(StateFilter::One(State::Listen))
        );
        assert_eq!(
            StateFilter::parse("estab"),
            Ok(StateFilter::One(State::Established))
        );
        assert_eq!(
            StateFilter::parse("time_wait"),
            Ok(StateFilter::One(State::TimeWait))
        );
        assert_eq!(StateFilter::parse("connected"), Ok(StateFilter::Connected));
        assert!(StateFilter::parse("bogus").is_err());
    }

    #[test]
    fn ports_parse() {
        assert_eq!(
            PortRange::parse("80"),
            Ok(PortRange {
                first: 80,
                last: 80
            })
        );
        assert_eq!(
            PortRange::parse("8000-8100"),
            Ok(PortRange {
                first: 8000,
                last: 8100
            })
        );
        for bad in ["", "x", "70000", "9-1", "-5", "1-"] {
            assert!(PortRange::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addrs() {
        let f = AddrFilter::parse("10.0.0.0/8").unwrap();
        assert!(f.contains("10.9.8.7".parse().unwrap()));
        assert!(!f.contains("11.0.0.1".parse().unwrap()));
        assert!(f.contains("::ffff:10.1.1.1".parse().unwrap()));
        let any = AddrFilter::parse("0.0.0.0/0").unwrap();
        assert!(any.contains("1.2.3.4".parse().unwrap()));
        let v6 = AddrFilter::parse("[fe80::]/10").unwrap();
        assert!(v6.contains("fe80::1".parse().unwrap()));
        assert!(!v6.contains("::1".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "::1/129", "host", "1.2.3.4/x"] {
            assert!(AddrFilter::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_by_port_either_end_and_state() {
        let f = Filter {
            protocols: vec![Proto::Tcp],
            families: vec![Family::Inet],
            ports: vec![PortRange {
                first: 8000,
                last: 8100,
            }],
            ..Filter::default()
        };
        assert!(f.keeps_socket(&tcp(8050, 40000, State::Established)));
        assert!(f.keeps_socket(&tcp(40000, 8000, State::Established)));
        assert!(!f.keeps_socket(&tcp(40000, 9000, State::Established)));
        let listening = Filter {
            listening: true,
            ports: vec![],
            ..f.clone()
        };
        assert!(listening.keeps_socket(&tcp(1, 0, State::Listen)));
        assert!(!listening.keeps_socket(&tcp(1, 2, State::Established)));
        let udp_only = Filter {
            protocols: vec![Proto::Udp],
            ..listening
        };
        assert!(!udp_only.keeps_socket(&tcp(1, 0, State::Listen)));
    }

    #[test]
    fn query_masks_states() {
        let f = Filter {
            states: vec![StateFilter::One(State::Listen)],
            ..Filter::default()
        };
        assert_eq!(f.query().state_mask, 1 << 10);
        let l = Filter {
            listening: true,
            ..Filter::default()
        };
        assert_eq!(l.query().state_mask, (1 << 10) | (1 << 7));
    }

    #[test]
    fn owner_filters() {
        let mut s = tcp(80, 0, State::Listen);
        s.owners = crate::sockets::Owners::Known(vec![42]);
        s.uid = Some(0);
        let mut snap = Snapshot::default();
        snap.users.insert(0, "root".into());
        snap.processes.insert(
            42,
            crate::sockets::ProcessInfo {
                pid: 42,
                name: "nginx".into(),
                user: "www-data".into(),
                uid: Some(33),
                cmdline: "nginx: worker".into(),
                start_time: None,
            },
        );
        let by = |f: Filter| f.keeps_owner(&s, &snap);
        assert!(by(Filter {
            pid: Some(42),
            ..Filter::default()
        }));
        assert!(!by(Filter {
            pid: Some(43),
            ..Filter::default()
        }));
        assert!(by(Filter {
            process: Some("ngi".into()),
            ..Filter::default()
        }));
        assert!(!by(Filter {
            process: Some("apache".into()),
            ..Filter::default()
        }));
        assert!(by(Filter {
            user: Some("root".into()),
            ..Filter::default()
        }));
        assert!(by(Filter {
            user: Some("www-data".into()),
            ..Filter::default()
        }));
        assert!(by(Filter {
            user: Some("33".into()),
            ..Filter::default()
        }));
        assert!(!by(Filter {
            user: Some("postgres".into()),
            ..Filter::default()
        }));
    }
}
