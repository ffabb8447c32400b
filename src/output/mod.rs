//! Rendering: tables (comfy-table on a terminal, plain aligned columns in a pipe), JSON and the
//! Prometheus text format.
//! Renderers read a [`Snapshot`](crate::sockets::Snapshot) and never touch the system.

pub mod grid;
pub mod handshake;
pub mod health;
pub mod json;
pub mod packet;
pub mod prometheus;
pub mod stats;
pub mod table;

use std::collections::HashMap;
use std::io::IsTerminal;
use std::net::IpAddr;

use crate::sockets::{Addr, Endpoint, Owners, Proto, Snapshot, Socket};

/// When to use colours (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// Only on a terminal, and not when NO_COLOR is set.
    #[default]
    Auto,
    Always,
    Never,
}

/// How to render.
#[derive(Debug, Clone, Default)]
pub struct Style {
    /// Output goes to a terminal: draw a comfy-table rather than plain columns.
    pub terminal: bool,
    /// Use colours.
    pub color: bool,
    /// Terminal width, if known.
    pub width: Option<u16>,
}

impl Style {
    /// The style for stdout, honouring `--color` and `NO_COLOR`.
    pub fn for_stdout(choice: ColorChoice) -> Style {
        let terminal = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && !no_color,
        };
        Style {
            // --color always asks for the terminal rendering in a pipe too (`| less -R`).
            terminal: terminal || choice == ColorChoice::Always,
            color,
            width: if terminal { terminal_width() } else { None },
        }
    }
}

/// The width of the terminal on stdout (comfy-table finds it itself only when it may style).
fn terminal_width() -> Option<u16> {
    // SAFETY: winsize is plain data that TIOCGWINSZ fills in on success.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a winsize for the ioctl on stdout.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_col > 0).then_some(ws.ws_col)
}

/// Names for addresses and ports, filled in by `-r`; empty means numeric output.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub hosts: HashMap<IpAddr, String>,
    pub services: HashMap<(Proto, u16), String>,
}

/// Writes one end of a socket: `127.0.0.1:80`, `[::1]:80`, `0.0.0.0:*`, `/run/x.sock`,
/// `@abstract`, `*`; with names, `localhost:http`.
pub fn write_endpoint(out: &mut String, s: &Socket, e: &Endpoint, names: &Names) {
    use std::fmt::Write as _;
    let (Addr::Ip { ip, .. }, Some(port)) = (&e.addr, e.port) else {
        let _ = write!(out, "{}", e.addr);
        // An unnamed UNIX socket is known by its inode (the peer's, for the remote end), so the
        // two ends of a socketpair can be told apart and matched, as in ss.
        if s.proto == Proto::Unix && e.addr == Addr::Unnamed {
            let inode = if std::ptr::eq(e, &s.local) {
                Some(s.inode)
            } else {
                s.peer_inode
            };
            if let Some(i) = inode.filter(|&i| i != 0) {
                let _ = write!(out, ":{i}");
            }
        }
        return;
    };
    match names.hosts.get(ip) {
        Some(n) => out.push_str(n),
        None if ip.is_ipv6() => {
            let _ = write!(out, "[{}]", e.addr);
        }
        None => {
            let _ = write!(out, "{}", e.addr);
        }
    }
    out.push(':');
    if s.proto == Proto::Raw {
        out.push_str(&protocol_name(port));
    } else if port == 0 {
        out.push('*');
    } else if let Some(name) = names.services.get(&(s.proto, port)) {
        out.push_str(name);
    } else {
        let _ = write!(out, "{port}");
    }
}

/// An IP protocol number with its name, for RAW sockets (`icmp(1)`).
pub fn protocol_name(n: u16) -> String {
    let name = match n {
        0 => return "*".into(),
        1 => "icmp",
        2 => "igmp",
        6 => "tcp",
        17 => "udp",
        58 => "ipv6-icmp",
        255 => "raw",
        _ => return n.to_string(),
    };
    format!("{name}({n})")
}

/// The PID/Process cell: `1234/nginx,1235/nginx`, `-` when hidden (not root), `(none)` when no
/// process holds it.
pub fn owners_text(s: &Socket, snap: &Snapshot) -> String {
    match &s.owners {
        Owners::Hidden => "-".into(),
        Owners::None => "(none)".into(),
        Owners::Known(pids) => pids
            .iter()
            .map(|pid| match snap.processes.get(pid) {
                Some(p) => format!("{pid}/{}", p.name),
                None => pid.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// The User cell: the user that created the socket, or the owner's user when the kernel does
/// not say.
pub fn user_text(s: &Socket, snap: &Snapshot) -> String {
    if let Some(uid) = s.uid {
        return snap.user_name(uid);
    }
    s.owners
        .pids()
        .first()
        .and_then(|p| snap.processes.get(p))
        .map(|p| p.user.clone())
        .unwrap_or_else(|| "?".into())
}

/// The Proto cell: `tcp`, `udp`, `raw`, or the UNIX socket type as ss names it (`u_str`).
pub fn proto_text(s: &Socket) -> &'static str {
    match (s.proto, s.unix_type) {
        (Proto::Unix, Some(t)) => t.netid(),
        (p, _) => p.name(),
    }
}

/// A line on stderr, prefixed with the program's name. A stderr that cannot be written
/// (`2>/dev/full`) is no reason to fail, let alone panic as `eprintln!` would.
pub fn warn(message: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "sockscope: {message}");
}

/// A Unix time as local `YYYY-MM-DD HH:MM:SS`.
pub fn local_time(epoch_secs: u64) -> String {
    let t = epoch_secs as libc::time_t;
    // SAFETY: tm is plain data, fully written by localtime_r on success; both pointers are valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return epoch_secs.to_string();
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// A capture time as local `HH:MM:SS.ffffff` (tcpdump's default time format).
pub fn clock_time(ts: std::time::Duration) -> String {
    let t = ts.as_secs() as libc::time_t;
    // SAFETY: tm is plain data, fully written by localtime_r on success; both pointers are valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    let micros = ts.subsec_micros();
    if !ok {
        return format!("{}.{micros:06}", ts.as_secs());
    }
    format!(
        "{:02}:{:02}:{:02}.{micros:06}",
        tm.tm_hour, tm.tm_min, tm.tm_sec
    )
}

/// A time since the Unix epoch as RFC 3339 in UTC with nanoseconds, for JSON
/// (`2026-11-24T04:12:00.123456789Z`).
pub fn rfc3339_utc(ts: std::time::Duration) -> String {
    let secs = ts.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ts.subsec_nanos()
    )
}

/// Text made safe for one table cell: newlines and tabs become spaces, other control characters
/// (which could drive the terminal) become '?'. JSON keeps the original text.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\n' | '\t' | '\r' => ' ',
                c if c.is_control() => '?',
                c => c,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        use std::time::Duration;
        assert_eq!(
            rfc3339_utc(Duration::ZERO),
            "1970-01-01T00:00:00.000000000Z"
        );
        assert_eq!(
            rfc3339_utc(Duration::new(951_782_400, 5)),
            "2000-02-29T00:00:00.000000005Z"
        );
        assert_eq!(
            rfc3339_utc(Duration::new(1_795_493_520, 123_456_789)),
            "2026-11-24T04:12:00.123456789Z"
        );
    }

    #[test]
    fn printable_defuses_control_characters() {
        assert_eq!(printable("plain"), "plain");
        assert_eq!(printable("a\nb\tc"), "a b c");
        assert_eq!(printable("evil\x1b[2Jpath"), "evil?[2Jpath");
    }
}
