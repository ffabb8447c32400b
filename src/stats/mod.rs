//! The kernel's protocol counters, as iproute2's `nstat` reads and names them: `/proc/net/snmp`
//! (Ip, Icmp, IcmpMsg, Tcp, Udp, UdpLite), `/proc/net/snmp6` (Ip6, Icmp6, Udp6, UdpLite6),
//! `/proc/net/netstat` (TcpExt, IpExt, MPTcpExt) and `/proc/net/sctp/snmp` when SCTP is loaded,
//! named section + field (`TcpExtListenOverflows`).
//!
//! [`read`] reads the network namespace of the calling process; a [`Reader`] keeps its buffers
//! so that `--watch` reads every interval without allocating. The parsers ([`parse`]), the
//! catalogue of meanings ([`catalogue`]), the selection by name ([`select`]) and the deltas and
//! rates ([`changes`]) are pure functions over text and values.
//!
//! Differences from nstat, on purpose: values are signed 64-bit (Tcp MaxConn is -1; nstat
//! reads it as unsigned), and the seven settings and values that nstat never prints
//! ([`catalogue::NSTAT_HIDDEN`]: IpForwarding, TcpRtoMin, TcpCurrEstab…) are kept. The order
//! is snmp, snmp6, netstat, sctp (nstat puts sctp first).

pub mod catalogue;
pub mod parse;
pub mod select;

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

pub use catalogue::{CATALOGUE, Entry, describe, is_gauge};
pub use select::Selection;

/// The file a counter comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Snmp,
    Snmp6,
    Netstat,
    Sctp,
}

impl Source {
    /// The file's path below the `net` directory of /proc.
    pub fn file(self) -> &'static str {
        match self {
            Source::Snmp => "snmp",
            Source::Snmp6 => "snmp6",
            Source::Netstat => "netstat",
            Source::Sctp => "sctp/snmp",
        }
    }

    /// The order in which they are read.
    pub const ALL: [Source; 4] = [Source::Snmp, Source::Snmp6, Source::Netstat, Source::Sctp];
}

/// One snapshot of the counters, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    names: Vec<String>,
    /// Length of the section prefix of each name (`TcpExt` in `TcpExtListenOverflows`).
    sections: Vec<u8>,
    sources: Vec<Source>,
    values: Vec<i64>,
    index: HashMap<String, usize>,
}

impl Counters {
    /// The value of a counter, by its exact nstat name (`TcpExtListenOverflows`).
    pub fn get(&self, name: &str) -> Option<i64> {
        self.index_of(name).map(|i| self.values[i])
    }

    /// The position of a counter, by its exact nstat name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Every counter as (name, value), in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> + '_ {
        self.names
            .iter()
            .map(String::as_str)
            .zip(self.values.iter().copied())
    }

    /// Every name, in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.iter().map(String::as_str)
    }

    /// How many counters there are.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The name at position `i` (panics when out of range, like indexing).
    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// The value at position `i`.
    pub fn value(&self, i: usize) -> i64 {
        self.values[i]
    }

    /// The name at `i` split into section and field (`("TcpExt", "ListenOverflows")`).
    pub fn split(&self, i: usize) -> (&str, &str) {
        self.names[i].split_at(usize::from(self.sections[i]))
    }

    /// The file the counter at `i` comes from.
    pub fn source(&self, i: usize) -> Source {
        self.sources[i]
    }

    /// Parses counter files' text into a snapshot (for tests and other front ends): each
    /// source with its text, in order.
    pub fn parse(texts: &[(Source, &str)]) -> Result<Counters, parse::ParseError> {
        let mut c = Counters::default();
        let mut u = Updater::new(&mut c);
        for &(source, text) in texts {
            u.feed(source, text)?;
        }
        u.finish();
        Ok(c)
    }
}

/// Refills a [`Counters`] in place: while names come in the same order as last time only the
/// values are written, so a steady state allocates nothing.
struct Updater<'a> {
    c: &'a mut Counters,
    at: usize,
    changed: bool,
}

impl<'a> Updater<'a> {
    fn new(c: &'a mut Counters) -> Self {
        Updater {
            c,
            at: 0,
            changed: false,
        }
    }

    fn put(&mut self, source: Source, section: &str, field: &str, value: i64) {
        let i = self.at;
        self.at += 1;
        if !self.changed
            && let Some(name) = self.c.names.get(i)
            && name.len() == section.len() + field.len()
            && name.starts_with(section)
            && name.ends_with(field)
        {
            self.c.values[i] = value;
            return;
        }
        // The layout differs from here on: rebuild the rest.
        if !self.changed {
            self.changed = true;
            self.c.names.truncate(i);
            self.c.sections.truncate(i);
            self.c.sources.truncate(i);
            self.c.values.truncate(i);
        }
        self.c.names.push(format!("{section}{field}"));
        self.c
            .sections
            .push(u8::try_from(section.len()).unwrap_or(0));
        self.c.sources.push(source);
        self.c.values.push(value);
    }

    fn feed(&mut self, source: Source, text: &str) -> Result<(), parse::ParseError> {
        match source {
            Source::Snmp | Source::Netstat => {
                parse::parse_pairs(text, |s, f, v| self.put(source, s, f, v))
            }
            Source::Snmp6 | Source::Sctp => {
                parse::parse_lines(text, |s, f, v| self.put(source, s, f, v))
            }
        }
    }

    fn finish(self) {
        let c = self.c;
        if self.at < c.names.len() {
            c.names.truncate(self.at);
            c.sections.truncate(self.at);
            c.sources.truncate(self.at);
            c.values.truncate(self.at);
        } else if !self.changed {
            return;
        }
        c.index.clear();
        for (i, n) in c.names.iter().enumerate() {
            // A name twice (never seen in a kernel): the first one wins, as in a lookup by name.
            c.index.entry(n.clone()).or_insert(i);
        }
    }
}

/// Reads the counter files of one network namespace, reusing its buffers.
#[derive(Debug)]
pub struct Reader {
    paths: Vec<(Source, PathBuf)>,
    buf: Vec<u8>,
}

impl Default for Reader {
    fn default() -> Self {
        Reader::new()
    }
}

impl Reader {
    /// A reader of this process's network namespace (`/proc/net`).
    pub fn new() -> Reader {
        Reader::at("/proc/net")
    }

    /// A reader of the files below `dir`: `/proc/PID/net` for the namespace of process PID,
    /// or a directory of fixture files.
    pub fn at(dir: impl AsRef<Path>) -> Reader {
        let dir = dir.as_ref();
        Reader {
            paths: Source::ALL
                .iter()
                .map(|&s| (s, dir.join(s.file())))
                .collect(),
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    /// A fresh snapshot.
    pub fn read(&mut self) -> Result<Counters> {
        let mut c = Counters::default();
        self.read_into(&mut c)?;
        Ok(c)
    }

    /// Refills `counters` (allocation-free when the kernel's layout has not changed).
    /// `/proc/net/snmp` must exist; the others are skipped when missing (no IPv6, no SCTP).
    pub fn read_into(&mut self, counters: &mut Counters) -> Result<()> {
        if !cfg!(target_os = "linux") {
            return Err(Error::Unsupported("reading the kernel's protocol counters"));
        }
        let mut u = Updater::new(counters);
        for (source, path) in &self.paths {
            self.buf.clear();
            match std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut self.buf)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound && *source != Source::Snmp => {
                    continue;
                }
                Err(e) => return Err(read_error(path, &e)),
            }
            let text = std::str::from_utf8(&self.buf)
                .map_err(|_| Error::Other(format!("cannot parse {}: not text", path.display())))?;
            u.feed(*source, text)
                .map_err(|e| Error::Other(format!("cannot parse {}: {e}", path.display())))?;
        }
        u.finish();
        Ok(())
    }
}

fn read_error(path: &Path, e: &io::Error) -> Error {
    let hint = match e.kind() {
        io::ErrorKind::NotFound => {
            "\nthe counters come from procfs: mount it (mount -t proc proc /proc), and use a kernel with \
             IPv4 networking (CONFIG_INET, CONFIG_PROC_FS)"
        }
        io::ErrorKind::PermissionDenied => {
            "\na security policy (SELinux, AppArmor, a container) hides it: try as root, or outside the container"
        }
        _ => "",
    };
    Error::Other(format!("cannot read {}: {e}{hint}", path.display()))
}

/// The counters of this process's network namespace.
pub fn read() -> Result<Counters> {
    Reader::new().read()
}

/// One counter's change over an interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// Position in the newer snapshot.
    pub index: usize,
    /// New value minus old (wrapping, so a counter that wrapped still gives its increase).
    pub delta: i64,
    /// Per second; None for gauges, whose changes are not rates.
    pub rate: Option<f64>,
}

/// The counters among `selected` (indexes into `now`) whose value changed since `before`,
/// in the order of `selected`, into `out` (cleared first; no allocation once it has grown).
/// Counters new in `now` are not changes: they have no earlier value.
pub fn changes(
    before: &Counters,
    now: &Counters,
    selected: &[usize],
    elapsed: Duration,
    out: &mut Vec<Change>,
) {
    out.clear();
    let secs = elapsed.as_secs_f64();
    for &i in selected {
        let name = now.name(i);
        // Same layout (the usual case): same position; otherwise look the name up.
        let old = match before.names.get(i) {
            Some(n) if n == name => Some(before.values[i]),
            _ => before.get(name),
        };
        let Some(old) = old else { continue };
        let delta = now.values[i].wrapping_sub(old);
        if delta == 0 {
            continue;
        }
        let rate = (!is_gauge(name) && secs > 0.0).then(|| delta as f64 / secs);
        out.push(Change {
            index: i,
            delta,
            rate,
        });
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const SNMP: &str = include_str!("fixtures/snmp");
    pub const SNMP6: &str = include_str!("fixtures/snmp6");
    pub const NETSTAT: &str = include_str!("fixtures/netstat");
    /// `nstat -az` on the machine the fixtures come from (read a moment later: the names are
    /// the same, some values are not).
    pub const NSTAT_AZ: &str = include_str!("fixtures/nstat-az.txt");

    /// The counters of the fixture files.
    pub fn fixture() -> Counters {
        Counters::parse(&[
            (Source::Snmp, SNMP),
            (Source::Snmp6, SNMP6),
            (Source::Netstat, NETSTAT),
        ])
        .unwrap()
    }

    #[test]
    fn fixture_has_nstats_names_plus_the_hidden_ones() {
        let c = fixture();
        let nstat: Vec<&str> = NSTAT_AZ
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let ours: Vec<&str> = c
            .names()
            .filter(|n| !catalogue::NSTAT_HIDDEN.contains(n))
            .collect();
        let mut a = nstat.clone();
        let mut b = ours.clone();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
        for h in catalogue::NSTAT_HIDDEN {
            assert!(c.get(h).is_some(), "{h}");
        }
    }

    #[test]
    fn get_split_and_order() {
        let c = fixture();
        assert_eq!(c.name(0), "IpForwarding");
        assert_eq!(c.get("TcpMaxConn"), Some(-1));
        assert_eq!(c.get("IpDefaultTTL"), Some(64));
        assert_eq!(c.get("tcpmaxconn"), None);
        let i = c.index_of("TcpExtTCPReqQFullDrop").unwrap();
        assert_eq!(c.split(i), ("TcpExt", "TCPReqQFullDrop"));
        assert_eq!(c.source(i), Source::Netstat);
        let i = c.index_of("Udp6RcvbufErrors").unwrap();
        assert_eq!(c.split(i), ("Udp6", "RcvbufErrors"));
        assert_eq!(c.source(i), Source::Snmp6);
        assert_eq!(c.iter().count(), c.len());
        let first6 = c.names().position(|n| n.starts_with("Ip6")).unwrap();
        let first_ext = c.names().position(|n| n.starts_with("TcpExt")).unwrap();
        assert!(c.index_of("UdpLiteMemErrors").unwrap() < first6 && first6 < first_ext);
    }

    #[test]
    fn refilling_keeps_the_layout_and_notices_changes() {
        let mut c = Counters::default();
        let fill = |c: &mut Counters, snmp: &str| {
            let mut u = Updater::new(c);
            u.feed(Source::Snmp, snmp).unwrap();
            u.finish();
        };
        fill(&mut c, "Tcp: A B\nTcp: 1 2\n");
        let names_ptr = c.names.as_ptr();
        fill(&mut c, "Tcp: A B\nTcp: 3 4\n");
        assert_eq!(c.names.as_ptr(), names_ptr, "same layout: no reallocation");
        assert_eq!((c.get("TcpA"), c.get("TcpB")), (Some(3), Some(4)));
        fill(&mut c, "Tcp: A C B\nTcp: 5 6 7\n");
        assert_eq!(c.names().collect::<Vec<_>>(), ["TcpA", "TcpC", "TcpB"]);
        assert_eq!(c.get("TcpB"), Some(7));
        fill(&mut c, "Tcp: A\nTcp: 8\n");
        assert_eq!(c.len(), 1);
        assert_eq!(c.get("TcpB"), None);
    }

    #[test]
    fn changes_give_deltas_and_rates() {
        let before = Counters::parse(&[(
            Source::Snmp,
            "Tcp: CurrEstab OutRsts InSegs\nTcp: 5 10 100\n",
        )])
        .unwrap();
        let now = Counters::parse(&[(
            Source::Snmp,
            "Tcp: CurrEstab OutRsts InSegs New\nTcp: 3 14 100 9\n",
        )])
        .unwrap();
        let all: Vec<usize> = (0..now.len()).collect();
        let mut out = Vec::new();
        changes(&before, &now, &all, Duration::from_millis(500), &mut out);
        assert_eq!(
            out,
            [
                Change {
                    index: 0,
                    delta: -2,
                    rate: None
                },
                Change {
                    index: 1,
                    delta: 4,
                    rate: Some(8.0)
                },
            ]
        );
        // Shifted layout: found by name.
        let shifted = Counters::parse(&[(Source::Snmp, "Tcp: X OutRsts\nTcp: 0 20\n")]).unwrap();
        changes(&before, &shifted, &[1], Duration::from_secs(2), &mut out);
        assert_eq!(out[0].delta, 10);
        assert_eq!(out[0].rate, Some(5.0));
    }

    #[test]
    fn wrapped_counters_still_count_up() {
        let before =
            Counters::parse(&[(Source::Snmp, "Ip: InOctets\nIp: 18446744073709551615\n")]).unwrap();
        let now = Counters::parse(&[(Source::Snmp, "Ip: InOctets\nIp: 1\n")]).unwrap();
        let mut out = Vec::new();
        changes(&before, &now, &[0], Duration::from_secs(1), &mut out);
        assert_eq!(out[0].delta, 2);
    }

    #[test]
    fn reader_reads_a_directory_and_tolerates_no_ipv6() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("snmp"), SNMP).unwrap();
        std::fs::write(dir.path().join("netstat"), NETSTAT).unwrap();
        let mut r = Reader::at(dir.path());
        let c = r.read().unwrap();
        assert!(c.get("TcpExtListenOverflows").is_some());
        assert!(c.get("Ip6InReceives").is_none());
        std::fs::write(dir.path().join("snmp6"), SNMP6).unwrap();
        let mut c2 = c.clone();
        r.read_into(&mut c2).unwrap();
        assert_eq!(c2, fixture());

        std::fs::remove_file(dir.path().join("snmp")).unwrap();
        let err = r.read().unwrap_err().to_string();
        assert!(err.contains("snmp") && err.contains("mount"), "{err}");
        std::fs::write(dir.path().join("snmp"), "Tcp: A\n").unwrap();
        let err = r.read().unwrap_err().to_string();
        assert!(err.contains("cannot parse"), "{err}");
    }

    #[test]
    fn this_process_namespace_reads() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let c = read().unwrap();
        assert!(c.get("TcpActiveOpens").is_some());
        assert!(c.get("TcpExtListenOverflows").is_some());
    }
}
