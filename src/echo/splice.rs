//! Zero-copy echo for stream sockets on Linux: bytes move socket → pipe → socket with
//! splice(2), never through user space. Pipes come from a small pool and go back to it empty,
//! so 10,000 idle connections hold no pipe at all, and a slow reader can hold at most one.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

/// Pipe capacity asked for (F_SETPIPE_SZ): fewer, larger splices for bulk transfers. The kernel
/// may give less (pipe-max-size, per-user pipe limits); that only costs speed.
const PIPE_SIZE: libc::c_int = 1 << 20;
/// Empty pipes kept for reuse; beyond that they are closed.
const POOL_MAX: usize = 64;

/// A non-blocking pipe.
#[derive(Debug)]
pub struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    /// Its capacity in bytes.
    pub capacity: usize,
}

impl Pipe {
    /// A new pipe, enlarged when the kernel allows.
    pub fn new() -> io::Result<Pipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: fds has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both are open descriptors that we now own.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: F_SETPIPE_SZ / F_GETPIPE_SZ on an open pipe descriptor.
        let capacity = unsafe {
            libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE);
            libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ)
        };
        Ok(Pipe {
            read,
            write,
            capacity: usize::try_from(capacity).unwrap_or(65536).max(4096),
        })
    }

    /// Moves up to `len` bytes from `fd` into the pipe.
    pub fn fill_from(&self, fd: RawFd, len: usize) -> io::Result<usize> {
        splice(fd, self.write.as_raw_fd(), len)
    }

    /// Moves up to `len` bytes from the pipe to `fd`.
    pub fn drain_to(&self, fd: RawFd, len: usize) -> io::Result<usize> {
        splice(self.read.as_raw_fd(), fd, len)
    }
}

fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    // SAFETY: both are open descriptors owned by the caller for the duration of the call; null
    // offsets mean "current position", as required for sockets and pipes.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Empty pipes for reuse.
#[derive(Debug, Default)]
pub struct PipePool {
    pipes: Mutex<Vec<Pipe>>,
}

impl PipePool {
    /// An empty pipe: from the pool, or new.
    pub fn take(&self) -> io::Result<Pipe> {
        if let Some(p) = self.pipes.lock().ok().and_then(|mut v| v.pop()) {
            return Ok(p);
        }
        Pipe::new()
    }

    /// Gives back a pipe, which must be empty.
    pub fn give(&self, pipe: Pipe) {
        if let Ok(mut v) = self.pipes.lock()
            && v.len() < POOL_MAX
        {
            v.push(pipe);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    #[test]
    fn splices_between_sockets() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let (c, mut d) = UnixStream::pair().unwrap();
        a.write_all(b"zero copy").unwrap();
        let pipe = Pipe::new().unwrap();
        assert!(pipe.capacity >= 4096);
        let n = pipe.fill_from(b.as_raw_fd(), pipe.capacity).unwrap();
        assert_eq!(n, 9);
        assert_eq!(pipe.drain_to(c.as_raw_fd(), n).unwrap(), 9);
        let mut buf = [0u8; 9];
        d.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"zero copy");
        // Nothing left: a non-blocking splice says so instead of waiting.
        let e = pipe.fill_from(b.as_raw_fd(), 10).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }
}
