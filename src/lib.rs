//! sockscope: socket inspection and network troubleshooting for Linux.
//!
//! The binary is a thin layer over this library (parse, dispatch, exit code), so tests and
//! benchmarks use the same code. See DESIGN.md for the contract.

pub mod check;
pub mod cli;
pub mod commands;
pub mod duration;
pub mod echo;
pub mod error;
pub mod man;
pub mod output;
pub mod packet;
pub mod ping;
pub mod probe;
pub mod signals;
pub mod sockets;
pub mod stats;
pub mod sys;

pub use error::{Error, Exit, Result};
