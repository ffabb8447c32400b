//! The Linux backend: sock_diag netlink dumps for TCP, UDP and UNIX sockets, /proc/net for RAW
//! sockets, and /proc/PID/fd for the processes that hold them.

pub mod diag;
pub mod procfd;
pub mod procnet;

use crate::error::Result;
use crate::sockets::collect::{Backend, Query};
use crate::sockets::{Proto, Socket};

/// sock_diag (TCP, UDP, UNIX) plus /proc/net/raw{,6}.
pub struct DiagBackend;

impl Backend for DiagBackend {
    fn sockets(&self, query: &Query, keep: &dyn Fn(&Socket) -> bool) -> Result<Vec<Socket>> {
        let mut out = Vec::new();
        for &proto in &query.protocols {
            match proto {
                Proto::Tcp | Proto::Udp => {
                    for &family in &query.families {
                        out.extend(diag::inet_sockets(
                            proto,
                            family,
                            query.state_mask,
                            query.health,
                            keep,
                        )?);
                    }
                }
                Proto::Unix => out.extend(
                    diag::unix_sockets(query.state_mask)?
                        .into_iter()
                        .filter(|s| keep(s)),
                ),
                Proto::Raw => {
                    for &family in &query.families {
                        let mask = query.state_mask;
                        out.extend(
                            procnet::raw_sockets(family)?.into_iter().filter(|s| {
                                mask & (1u32 << s.state.kernel_number()) != 0 && keep(s)
                            }),
                        );
                    }
                }
            }
        }
        Ok(out)
    }
}
