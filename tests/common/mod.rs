//! Helpers shared by the integration tests: the binary, child processes that hold sockets, and
//! the privileged-test rule (run in CI and fail there if impossible; skip elsewhere, saying why).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::ops::{Deref, DerefMut};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// Set (to 1) in the environment of every process the tests start, and inherited by whatever
/// those fork: `.ci/run` looks for it in /proc/*/environ after `cargo test` and fails when a
/// process still carries it.
pub const HELPER_MARK: &str = "SOCKSCOPE_TEST_HELPER";

/// A child started by a test in a process group of its own (with everything it forks), marked
/// with [`HELPER_MARK`]. Dropping it (also when the test panics) SIGKILLs the whole group and
/// reaps the child, so neither the child nor its children (a pre-forked server's workers, the
/// program behind `ip netns exec` or `setpriv`) outlive the test. Derefs to the `Child`.
pub struct Guard {
    child: Option<Child>,
    pgid: libc::pid_t,
}

/// `Command::spawn` under a [`Guard`].
pub trait SpawnGuarded {
    fn spawn_guarded(&mut self) -> std::io::Result<Guard>;
}

impl SpawnGuarded for Command {
    fn spawn_guarded(&mut self) -> std::io::Result<Guard> {
        self.env(HELPER_MARK, "1").process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent. When the test
        // process dies without unwinding (Ctrl-C on `cargo test`: the helpers are in their own
        // process groups and no longer get the terminal's SIGINT), the child dies with it.
        unsafe {
            self.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = self.spawn()?;
        let pgid = libc::pid_t::try_from(child.id()).unwrap_or(0);
        Ok(Guard {
            child: Some(child),
            pgid,
        })
    }
}

impl Guard {
    /// Waits for the child and collects its output (as `Child::wait_with_output`), then ends
    /// whatever it left behind in its process group.
    pub fn wait_with_output(mut self) -> std::io::Result<Output> {
        let child = self.child.take().expect("child present until dropped");
        let out = child.wait_with_output();
        self.kill_group();
        // Once is enough: the group's id must not be signalled again after it is gone.
        self.pgid = 0;
        out
    }

    fn kill_group(&self) {
        // Only the group this guard created (its pgid is the child's pid, never 0 or 1).
        if self.pgid > 1 {
            // SAFETY: kill has no memory preconditions.
            unsafe { libc::kill(-self.pgid, libc::SIGKILL) };
        }
    }
}

impl Deref for Guard {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.child.as_ref().expect("child present until dropped")
    }
}

impl DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("child present until dropped")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill_group();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The sockscope binary under test (marked with [`HELPER_MARK`], so a leftover one is found).
pub fn sockscope() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sockscope"));
    c.env(HELPER_MARK, "1");
    c
}

/// Runs sockscope with `args`; returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    run_command(&mut sockscope(), args)
}

/// Runs `cmd` (sockscope, perhaps behind `ip netns exec`) with `args` and NO_COLOR; returns
/// (exit code, stdout, stderr).
pub fn run_command(cmd: &mut Command, args: &[&str]) -> (i32, String, String) {
    let out = cmd
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn_guarded()
        .and_then(Guard::wait_with_output)
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

/// Whether an external program the test compares against (tcpdump, tshark, editcap…) is
/// installed. `.ci/deps.sh` installs them, so in CI a missing one fails the test; elsewhere the
/// test is skipped with the reason printed.
#[allow(dead_code)]
pub fn tool(program: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()));
    if found {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{program} is not installed; .ci/deps.sh should have installed it");
    }
    eprintln!("SKIPPED: {program} is not installed (bash .ci/deps.sh installs it)");
    false
}

/// A helper process (under a [`Guard`]: killed with its process group when dropped).
pub struct Holder {
    pub child: Guard,
    /// The first line it printed (for example the port it bound).
    pub first_line: String,
}

impl Holder {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Starts `python3 -c CODE ARGS…` and waits for its first line of output.
pub fn python(code: &str, args: &[&str]) -> Holder {
    holder(Command::new("python3").arg("-c").arg(code).args(args))
}

/// Starts `cmd` under a guard and waits (at most 20 s) for its first line of output.
pub fn holder(cmd: &mut Command) -> Holder {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn_guarded()
        .expect("start the test's helper (python3 is needed for these tests)");
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

/// A test host in its own network namespace, joined to this one by a veth pair, with IPv4
/// addresses from 198.18.0.0/15 (the range set aside for network tests) and IPv6 unique local
/// addresses (fd00:5353:N::/64). Removed again on drop.
pub struct TestHost {
    pub ns: String,
    pub host_if: String,
    pub peer_if: String,
    pub host_ip: String,
    pub ns_ip: String,
    pub host_ip6: String,
    pub ns_ip6: String,
}

/// Runs `ip ARGS` (iproute2); the error says the command and what ip printed.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl TestHost {
    /// Creates the namespace and link (root only; callers check `privileged` first).
    pub fn new() -> TestHost {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id = (std::process::id() % 10_000) * 10 + n;
        let subnet = (std::process::id() + n * 37) % 250 + 1;
        let h = TestHost {
            ns: format!("ssc-test-{id}"),
            host_if: format!("ssc{id}a"),
            peer_if: format!("ssc{id}b"),
            host_ip: format!("198.18.{subnet}.1"),
            ns_ip: format!("198.18.{subnet}.2"),
            host_ip6: format!("fd00:5353:{subnet:x}::1"),
            ns_ip6: format!("fd00:5353:{subnet:x}::2"),
        };
        let peer = h.peer_if.clone();
        let setup = || -> Result<(), String> {
            ip(&["netns", "add", &h.ns])?;
            ip(&[
                "link", "add", &h.host_if, "type", "veth", "peer", "name", &peer,
            ])?;
            ip(&["link", "set", &peer, "netns", &h.ns])?;
            ip(&[
                "addr",
                "add",
                &format!("{}/24", h.host_ip),
                "dev",
                &h.host_if,
            ])?;
            ip(&["link", "set", &h.host_if, "up"])?;
            ip(&[
                "-n",
                &h.ns,
                "addr",
                "add",
                &format!("{}/24", h.ns_ip),
                "dev",
                &peer,
            ])?;
            ip(&["-n", &h.ns, "link", "set", &peer, "up"])?;
            ip(&["-n", &h.ns, "link", "set", "lo", "up"])?;
            // nodad: usable at once, without waiting for duplicate address detection.
            ip(&[
                "-6",
                "addr",
                "add",
                &format!("{}/64", h.host_ip6),
                "dev",
                &h.host_if,
                "nodad",
            ])?;
            ip(&[
                "-n",
                &h.ns,
                "-6",
                "addr",
                "add",
                &format!("{}/64", h.ns_ip6),
                "dev",
                &peer,
                "nodad",
            ])
        };
        if let Err(e) = setup() {
            panic!("cannot create the test host (needs root and iproute2): {e}");
        }
        h
    }

    /// Takes the test host's side of the link down: it goes silent.
    pub fn link_down(&self) {
        ip(&["-n", &self.ns, "link", "set", &self.peer_if, "down"]).expect("link down");
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]);
        c
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.host_if]);
        let _ = ip(&["netns", "del", &self.ns]);
    }
}

/// `program` run as the unprivileged user nobody (setpriv drops uid, gid, groups and every
/// capability), with NO_COLOR set.
pub fn as_nobody(program: &str) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
    ])
    .arg(program)
    .env("NO_COLOR", "1");
    c
}

/// The lines a child writes to stdout, as they come, on a channel (the child's stdout must be
/// piped; a reader thread owns it).
pub fn lines_of(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}
