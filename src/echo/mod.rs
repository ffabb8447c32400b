//! The echo peer: a server (TCP and UDP on one port, or UNIX) and a client that checks every
//! echo and can load a server for benchmarks.

pub mod client;
pub mod server;
#[cfg(target_os = "linux")]
pub mod splice;
