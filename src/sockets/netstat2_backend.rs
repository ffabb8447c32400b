//! The portable backend: netstat2. On Linux it is the independent cross-check of the sock_diag
//! backend in tests; on other platforms it is the backend. It knows TCP and UDP only, and carries
//! no queues, uids or inodes (netstat2 0.11 drops them).

use crate::error::{Error, Result};
use crate::sockets::collect::{Backend, Query};
use crate::sockets::{Endpoint, Family, Owners, Proto, Socket, State};

use netstat2::{AddressFamilyFlags, ProtocolFlags, ProtocolSocketInfo, TcpState};

/// Reads TCP and UDP sockets through netstat2; owners come from netstat2's own pid lookup.
pub struct Netstat2Backend;

impl Backend for Netstat2Backend {
    fn sockets(&self, query: &Query, keep: &dyn Fn(&Socket) -> bool) -> Result<Vec<Socket>> {
        let mut af = AddressFamilyFlags::empty();
        if query.families.contains(&Family::Inet) {
            af |= AddressFamilyFlags::IPV4;
        }
        if query.families.contains(&Family::Inet6) {
            af |= AddressFamilyFlags::IPV6;
        }
        let mut pf = ProtocolFlags::empty();
        if query.protocols.contains(&Proto::Tcp) {
            pf |= ProtocolFlags::TCP;
        }
        if query.protocols.contains(&Proto::Udp) {
            pf |= ProtocolFlags::UDP;
        }
        if af.is_empty() || pf.is_empty() {
            return Ok(Vec::new());
        }
        // netstat2 panics (rather than failing) when /proc is unreadable; keep that from
        // reaching the user as a backtrace.
        let infos = std::panic::catch_unwind(|| netstat2::get_sockets_info(af, pf))
            .map_err(|_| Error::Other("netstat2 panicked while reading the socket table".into()))?
            .map_err(|e| Error::Other(format!("netstat2 could not read the socket table: {e}")))?;
        let mut out = Vec::with_capacity(infos.len());
        for info in infos {
            let mut pids = info.associated_pids.clone();
            pids.sort_unstable();
            pids.dedup();
            let mut s = match info.protocol_socket_info {
                ProtocolSocketInfo::Tcp(t) => {
                    let family = if t.local_addr.is_ipv4() {
                        Family::Inet
                    } else {
                        Family::Inet6
                    };
                    Socket::new(
                        Proto::Tcp,
                        family,
                        Endpoint::ip(t.local_addr, t.local_port),
                        Endpoint::ip(t.remote_addr, t.remote_port),
                        tcp_state(t.state),
                    )
                }
                ProtocolSocketInfo::Udp(u) => {
                    let family = if u.local_addr.is_ipv4() {
                        Family::Inet
                    } else {
                        Family::Inet6
                    };
                    let any = if u.local_addr.is_ipv4() {
                        std::net::IpAddr::from([0u8; 4])
                    } else {
                        std::net::IpAddr::from([0u16; 8])
                    };
                    Socket::new(
                        Proto::Udp,
                        family,
                        Endpoint::ip(u.local_addr, u.local_port),
                        Endpoint::ip(any, 0),
                        State::Unconn,
                    )
                }
            };
            if query.state_mask != u32::MAX
                && query.state_mask & (1u32 << s.state.kernel_number()) == 0
            {
                continue;
            }
            if !pids.is_empty() {
                s.owners = Owners::Known(pids);
            }
            if keep(&s) {
                out.push(s);
            }
        }
        Ok(out)
    }
}

fn tcp_state(s: TcpState) -> State {
    match s {
        TcpState::Closed => State::Close,
        TcpState::Listen => State::Listen,
        TcpState::SynSent => State::SynSent,
        TcpState::SynReceived => State::SynRecv,
        TcpState::Established => State::Established,
        TcpState::FinWait1 => State::FinWait1,
        TcpState::FinWait2 => State::FinWait2,
        TcpState::CloseWait => State::CloseWait,
        TcpState::Closing => State::Closing,
        TcpState::LastAck => State::LastAck,
        TcpState::TimeWait => State::TimeWait,
        TcpState::DeleteTcb => State::Close,
        #[allow(unreachable_patterns)]
        _ => State::Unknown(0),
    }
}
