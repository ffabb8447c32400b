//! Rendering of kernel counters (`sockscope stats`): the table with meanings, the --watch lines
//! of what changed, JSON (`{counters, interval_s, rates}`) and the Prometheus text format.

use std::io::{self, Write};
use std::time::Duration;

use comfy_table::Color;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::output::Style;
use crate::output::grid::Grid;
use crate::output::prometheus::{self, MetricFamily, MetricType, Sample, snake_case};
use crate::stats::{Change, Counters, describe, is_gauge};

/// The meaning of a counter, or "" when the catalogue does not explain it.
fn meaning(name: &str) -> &'static str {
    describe(name).map_or("", |e| e.meaning)
}

/// Whether a rise of this counter means trouble.
fn trouble(name: &str) -> bool {
    describe(name).is_some_and(|e| e.trouble)
}

/// The one-shot table: Counter, Value, Meaning. On a terminal, troubling counters that are not
/// zero are coloured.
pub fn write_table(
    w: &mut dyn Write,
    counters: &Counters,
    selected: &[usize],
    style: &Style,
) -> io::Result<()> {
    let mut g = Grid::new(&["Counter", "Value", "Meaning"], &[1]).wrap_column(2);
    for &i in selected {
        let name = counters.name(i);
        g.push(name);
        g.push_display(counters.value(i));
        g.push(meaning(name));
    }
    g.write(w, style, None, |row, col, cell| {
        let i = selected[row];
        if col == 1 && counters.value(i) != 0 && trouble(counters.name(i)) {
            cell.fg(Color::Yellow)
        } else {
            cell
        }
    })
}

/// The --watch block of one interval: a line with the time and the interval, then the counters
/// that changed, troubling ones first and marked `!` with their meaning. Nothing when nothing
/// changed.
pub fn write_changes(
    w: &mut dyn Write,
    counters: &Counters,
    changes: &[Change],
    elapsed: Duration,
    stamp: &str,
    style: &Style,
) -> io::Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let troubling = changes
        .iter()
        .filter(|c| trouble(counters.name(c.index)))
        .count();
    writeln!(
        w,
        "{stamp}  {:.1}s  {} changed, {troubling} troubling",
        elapsed.as_secs_f64(),
        changes.len()
    )?;
    let mut g = Grid::new(&["", "Counter", "Delta", "Rate/s", "Meaning"], &[2, 3]).wrap_column(4);
    let mut rows: Vec<&Change> = Vec::with_capacity(changes.len());
    rows.extend(changes.iter().filter(|c| trouble(counters.name(c.index))));
    rows.extend(changes.iter().filter(|c| !trouble(counters.name(c.index))));
    for c in &rows {
        let name = counters.name(c.index);
        let bad = trouble(name);
        g.push(if bad { "!" } else { "" });
        g.push(name);
        g.push_with(|b| {
            use std::fmt::Write as _;
            let _ = write!(b, "{:+}", c.delta);
        });
        match c.rate {
            Some(r) => g.push_with(|b| {
                use std::fmt::Write as _;
                let _ = write!(b, "{r:.1}");
            }),
            None => g.push("-"),
        }
        g.push(if bad { meaning(name) } else { "" });
    }
    g.write(w, style, None, |row, col, cell| {
        if col <= 2 && trouble(counters.name(rows[row].index)) {
            cell.fg(Color::Red)
        } else {
            cell
        }
    })
}

/// `{NAME: value}` of the selected counters, in their order.
struct Values<'a> {
    counters: &'a Counters,
    selected: &'a [usize],
}

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.selected.len()))?;
        for &i in self.selected {
            m.serialize_entry(self.counters.name(i), &self.counters.value(i))?;
        }
        m.end()
    }
}

/// `{NAME: rate}` of the changed counters that have a rate.
struct Rates<'a> {
    counters: &'a Counters,
    changes: &'a [Change],
}

impl Serialize for Rates<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for c in self.changes {
            if let Some(r) = c.rate {
                m.serialize_entry(self.counters.name(c.index), &r)?;
            }
        }
        m.end()
    }
}

#[derive(Serialize)]
struct Document<'a> {
    counters: Values<'a>,
    interval_s: Option<f64>,
    rates: Option<Rates<'a>>,
}

/// The one-shot JSON document: `{"counters": {NAME: value}, "interval_s": null, "rates": null}`.
pub fn write_json(w: &mut dyn Write, counters: &Counters, selected: &[usize]) -> io::Result<()> {
    let doc = Document {
        counters: Values { counters, selected },
        interval_s: None,
        rates: None,
    };
    crate::output::json::write_value(w, &doc)
}

/// One --watch JSON line: the selected counters' values now, the interval's length in seconds,
/// and the per-second rates of the counters (not gauges) that changed in it.
pub fn write_json_line(
    w: &mut dyn Write,
    counters: &Counters,
    selected: &[usize],
    changes: &[Change],
    elapsed: Duration,
) -> io::Result<()> {
    let doc = Document {
        counters: Values { counters, selected },
        interval_s: Some(elapsed.as_secs_f64()),
        rates: Some(Rates { counters, changes }),
    };
    crate::output::json::write_line(w, &doc)
}

/// The Prometheus metric name of the counter at `i`: `sockscope_` + section + `_` + the
/// field in snake_case, `_total` for counters (`TcpExtTCPReqQFullDrop` →
/// `sockscope_tcpext_tcp_req_q_full_drop_total`; the gauge `TcpCurrEstab` →
/// `sockscope_tcp_curr_estab`).
pub fn metric_name(counters: &Counters, i: usize) -> String {
    let (section, field) = counters.split(i);
    let mut name = String::from("sockscope_");
    if !section.is_empty() {
        name.push_str(&section.to_ascii_lowercase());
        name.push('_');
    }
    // TcpExt fields start with the acronym TCP run into the next one (TCPMD5NotFound,
    // TCPOFODrop): split it off, so they read tcp_md5_not_found, tcp_ofo_drop.
    match field.strip_prefix("TCP") {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_uppercase()) => {
            name.push_str("tcp_");
            name.push_str(&snake_case(rest));
        }
        _ => name.push_str(&snake_case(field)),
    }
    if !is_gauge(counters.name(i)) {
        name.push_str("_total");
    }
    name
}

/// One family per selected counter, HELP naming the nstat counter, its file and its meaning.
pub fn families(counters: &Counters, selected: &[usize]) -> Vec<MetricFamily> {
    selected
        .iter()
        .map(|&i| {
            let name = counters.name(i);
            let mut help = format!("{name} (/proc/net/{})", counters.source(i).file());
            let m = meaning(name);
            if !m.is_empty() {
                help.push_str(": ");
                help.push_str(m);
            }
            let kind = if is_gauge(name) {
                MetricType::Gauge
            } else {
                MetricType::Counter
            };
            MetricFamily::new(metric_name(counters, i), kind, help)
                .sample(Sample::new(counters.value(i)))
        })
        .collect()
}

/// The selected counters in the Prometheus text format.
pub fn write_prometheus(
    w: &mut dyn Write,
    counters: &Counters,
    selected: &[usize],
) -> io::Result<()> {
    prometheus::write(w, &families(counters, selected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Selection, Source};

    fn small() -> Counters {
        Counters::parse(&[
            (
                Source::Snmp,
                "Tcp: MaxConn CurrEstab OutRsts\nTcp: -1 4 7\n",
            ),
            (Source::Snmp6, "Udp6RcvbufErrors 2\n"),
            (
                Source::Netstat,
                "TcpExt: ListenOverflows TCPReqQFullDrop TW TCPMD5NotFound TCPOFODrop\n\
                 TcpExt: 3 0 9 0 0\n",
            ),
        ])
        .unwrap()
    }

    fn text(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table_has_values_and_meanings() {
        let c = small();
        let all: Vec<usize> = (0..c.len()).collect();
        let t = text(|o| write_table(o, &c, &all, &Style::default()));
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("Counter"));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("TcpMaxConn") && l.contains("-1"))
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("TcpExtListenOverflows") && l.contains("accept queue"))
        );
        assert!(
            lines
                .iter()
                .any(|l| l.trim_end() == "TcpExtTW                   9")
        );
    }

    #[test]
    fn json_document_and_lines() {
        let c = small();
        let sel = Selection::Catalogue.indexes(&c).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&text(|o| write_json(o, &c, &sel))).unwrap();
        assert_eq!(v["counters"]["TcpExtListenOverflows"], 3);
        assert_eq!(v["counters"]["TcpCurrEstab"], 4);
        assert!(v["counters"].get("TcpExtTW").is_none());
        assert!(v["interval_s"].is_null() && v["rates"].is_null());

        let changes = [
            Change {
                index: c.index_of("TcpOutRsts").unwrap(),
                delta: 2,
                rate: Some(4.0),
            },
            Change {
                index: c.index_of("TcpCurrEstab").unwrap(),
                delta: -1,
                rate: None,
            },
        ];
        let line = text(|o| write_json_line(o, &c, &sel, &changes, Duration::from_millis(500)));
        assert_eq!(line.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["interval_s"], 0.5);
        assert_eq!(v["rates"], serde_json::json!({"TcpOutRsts": 4.0}));
        assert_eq!(v["counters"]["TcpMaxConn"], serde_json::Value::Null);
    }

    #[test]
    fn watch_block_marks_trouble_first() {
        let c = small();
        let changes = [
            Change {
                index: c.index_of("TcpExtTW").unwrap(),
                delta: 5,
                rate: Some(5.0),
            },
            Change {
                index: c.index_of("TcpExtListenOverflows").unwrap(),
                delta: 1,
                rate: Some(1.0),
            },
        ];
        let t = text(|o| {
            write_changes(
                o,
                &c,
                &changes,
                Duration::from_secs(1),
                "12:00:00",
                &Style::default(),
            )
        });
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "12:00:00  1.0s  2 changed, 1 troubling");
        assert!(
            lines[1].starts_with("   Counter                Delta  Rate/s  Meaning")
                && lines[2].starts_with(
                    "!  TcpExtListenOverflows     +1     1.0  a connection was dropped"
                ),
            "{t}"
        );
        assert!(lines[3] == "   TcpExtTW                  +5     5.0", "{t}");
        assert!(
            text(|o| write_changes(o, &c, &[], Duration::from_secs(1), "x", &Style::default()))
                .is_empty()
        );
    }

    #[test]
    fn prometheus_names_types_and_help() {
        let c = small();
        let all: Vec<usize> = (0..c.len()).collect();
        let t = text(|o| write_prometheus(o, &c, &all));
        assert!(t.contains("# TYPE sockscope_tcp_max_conn gauge\nsockscope_tcp_max_conn -1\n"));
        assert!(t.contains("# TYPE sockscope_tcp_curr_estab gauge\n"));
        assert!(t.contains(
            "# TYPE sockscope_tcp_out_rsts_total counter\nsockscope_tcp_out_rsts_total 7\n"
        ));
        assert!(t.contains("sockscope_udp6_rcvbuf_errors_total 2\n"));
        assert!(t.contains("sockscope_tcpext_tcp_md5_not_found_total 0\n"));
        assert!(t.contains("sockscope_tcpext_tcp_ofo_drop_total 0\n"));
        assert!(t.contains("# HELP sockscope_tcpext_tcp_req_q_full_drop_total TcpExtTCPReqQFullDrop (/proc/net/netstat): a SYN was dropped"));
        assert!(t.contains("# HELP sockscope_tcpext_tw_total TcpExtTW (/proc/net/netstat)\n"));
    }

    #[test]
    fn every_fixture_counter_has_a_distinct_valid_metric_name() {
        let c = crate::stats::tests::fixture();
        let all: Vec<usize> = (0..c.len()).collect();
        prometheus::validate(&families(&c, &all)).unwrap();
    }
}
