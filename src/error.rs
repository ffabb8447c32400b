//! Errors the library returns and the exit codes they map to.
//!
//! Every error a user can see says what failed and what to do about it. The exit codes are the
//! contract of DESIGN.md: 0 yes, 1 a negative answer, 2 bad usage or input, 3 missing privilege,
//! 4 any other runtime failure.

use std::io;

/// The process exit codes of DESIGN.md, as one enum rather than scattered integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success, or "yes" (something holds the port, the server is listening).
    Success = 0,
    /// A negative answer: nothing holds the port, not listening, no reply, echo mismatch.
    Negative = 1,
    /// Bad usage or bad input.
    Usage = 2,
    /// Missing privilege.
    Privilege = 3,
    /// Any other runtime failure.
    Failure = 4,
}

impl Exit {
    /// The numeric code handed to the operating system.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Everything that can go wrong in sockscope.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user's input cannot be used (exit 2).
    #[error("{0}")]
    Usage(String),

    /// An operation needs a privilege the process lacks (exit 3).
    #[error("{what}: permission denied.\n{remedy}")]
    Privilege { what: String, remedy: String },

    /// Reading the kernel's socket tables failed (exit 4).
    #[error(
        "cannot read the kernel's socket table ({what}): {source}{}",
        table_hint(source)
    )]
    SocketTable {
        what: String,
        #[source]
        source: io::Error,
    },

    /// The platform has no backend for this operation (exit 4).
    #[error("{0} is not supported on this platform (sockscope supports Linux)")]
    Unsupported(&'static str),

    /// Writing the results failed for a reason other than a closed pipe (exit 4).
    #[error("cannot write output: {0}")]
    Output(#[source] io::Error),

    /// Any other failure, with context (exit 4).
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The exit code this error maps to.
    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) => Exit::Usage,
            Error::Privilege { .. } => Exit::Privilege,
            Error::SocketTable { .. }
            | Error::Unsupported(_)
            | Error::Output(_)
            | Error::Other(_) => Exit::Failure,
        }
    }

    /// Whether this error is a write to a closed pipe (`sockscope list | head`), which ends the
    /// program quietly with exit 0, as ripgrep and the coreutils do.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl From<io::Error> for Error {
    /// I/O errors that reach the top untyped come from writing output.
    fn from(e: io::Error) -> Self {
        Error::Output(e)
    }
}

/// What to do about a failed socket-table read, from the errno.
fn table_hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::EPROTONOSUPPORT) | Some(libc::EAFNOSUPPORT) => {
            "\nthe kernel lacks sock_diag support for it: load the modules with \
             'modprobe inet_diag tcp_diag udp_diag unix_diag', or use a kernel built with CONFIG_INET_DIAG"
        }
        Some(libc::EPERM) | Some(libc::EACCES) => {
            "\nthe kernel refused the request: a security policy (seccomp, SELinux, a container) may block \
             NETLINK_SOCK_DIAG; try as root"
        }
        _ => "",
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
