//! Stop signals for long-running commands (`ping`, `capture`): the first Ctrl-C (SIGINT) or
//! SIGTERM asks the run to stop and print its summary; a second one ends the process at once, so
//! a stuck run can always be interrupted.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(signal: libc::c_int) {
    if STOP.swap(true, Ordering::SeqCst) {
        // A second signal: the default action (the shell reports it), as tcpdump users expect.
        // SAFETY: signal() and raise() are async-signal-safe.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }
}

/// Catches `signals` so the run can stop cleanly. Installed without SA_RESTART, so a blocking
/// poll or read returns at once with EINTR.
pub fn catch(signals: &[libc::c_int]) {
    for &signal in signals {
        // SAFETY: sigaction is plain data; the handler only touches an atomic and, the second
        // time, async-signal-safe calls.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_stop as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0;
            libc::sigaction(signal, &sa, std::ptr::null_mut());
        }
    }
}

/// Whether a stop signal arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
