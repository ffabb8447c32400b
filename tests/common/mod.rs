//! Helpers shared by the integration tests: the binary, child processes that hold sockets, and
//! the privileged-test rule (run in CI and fail there if impossible; skip elsewhere, saying why).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The sockscope binary under test.
pub fn sockscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sockscope"))
}

/// Runs sockscope with `args`; returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = sockscope()
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run sockscope");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs sockscope with `--json` output and parses it.
pub fn run_json(args: &[&str]) -> (i32, serde_json::Value) {
    let (code, out, err) = run(args);
    let v = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {out}\nstderr: {err}"));
    (code, v)
}

/// Whether this test may use root privileges. In CI (CI=true) a privileged test must run, so
/// missing root fails it; elsewhere it is skipped with the reason printed.
pub fn privileged(what: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what}: needs root, and CI must run privileged tests");
    }
    eprintln!("SKIPPED {what}: needs root (CI runs it as root)");
    false
}

/// A child process, killed when dropped.
pub struct Holder {
    pub child: Child,
    /// The first line it printed (for example the port it bound).
    pub first_line: String,
}

impl Holder {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `python3 -c CODE ARGS…` and waits for its first line of output.
pub fn python(code: &str, args: &[&str]) -> Holder {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(code)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 is needed for these tests");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let first_line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("python helper did not start in time")
        .trim()
        .to_string();
    Holder { child, first_line }
}

/// A python3 program that listens on 127.0.0.1 (port 0), prints the port and sleeps; the marker
/// argument lets tests find it by command line.
pub const PY_LISTENER: &str = r#"
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
time.sleep(120)
"#;

/// A pre-forked server: the parent listens and forks two children that share the socket.
pub const PY_PREFORK: &str = r#"
import os, socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
kids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        time.sleep(120)
        os._exit(0)
    kids.append(pid)
print(s.getsockname()[1], *kids, flush=True)
try:
    time.sleep(120)
finally:
    for k in kids:
        os.kill(k, 9)
"#;

/// The loopback addresses the tests bind to. Other local addresses (127.1.x.x, say) may belong
/// to other programs on the machine that happen to use the same port numbers.
pub const TEST_ADDRS: [&str; 3] = ["127.0.0.1", "::1", "::ffff:127.0.0.1"];

/// Records of `records` (a JSON array) whose local end is `port` on a test address.
pub fn with_local_port(records: &serde_json::Value, port: u16) -> Vec<serde_json::Value> {
    records
        .as_array()
        .expect("JSON array")
        .iter()
        .filter(|r| r["local_port"] == port && TEST_ADDRS.iter().any(|a| r["local_addr"] == *a))
        .cloned()
        .collect()
}

/// The pids of a record's processes.
pub fn pids(record: &serde_json::Value) -> Vec<u64> {
    record["processes"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["pid"].as_u64()).collect())
        .unwrap_or_default()
}
