//! The Prometheus text exposition format (version 0.0.4), as node_exporter's textfile collector
//! reads it: metric families with `# HELP` and `# TYPE` lines, then their samples with label
//! pairs. Generic: `stats --prometheus` writes kernel counters through it, `list --summary
//! --prometheus` socket counts with labels.
//!
//! The writer refuses (an `InvalidInput` error, before writing anything) what a scraper would
//! reject: invalid metric or label names, a family named twice, a sample with a label named twice.
//! HELP text and label values are escaped as the format says (`\\`, `\n`, and in label values
//! also `\"`). [`snake_case`] turns nstat-style CamelCase names into the snake_case that
//! `promtool check metrics` wants.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::{self, Write};

/// The type of a metric family (the `# TYPE` line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Only ever goes up (its name should end in `_total`).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Type unknown.
    Untyped,
}

impl MetricType {
    /// The word on the `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Untyped => "untyped",
        }
    }
}

/// A sample's value: integers are written exactly (an f64 would round counters above 2^53).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(v as f64),
        }
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) if x.is_nan() => f.write_str("NaN"),
            Value::Float(x) if x == f64::INFINITY => f.write_str("+Inf"),
            Value::Float(x) if x == f64::NEG_INFINITY => f.write_str("-Inf"),
            Value::Float(x) => write!(f, "{x}"),
        }
    }
}

/// One sample of a family: its labels (in the order given) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(String, String)>,
    pub value: Value,
}

impl Sample {
    /// A sample without labels.
    pub fn new(value: impl Into<Value>) -> Sample {
        Sample {
            labels: Vec::new(),
            value: value.into(),
        }
    }

    /// Adds a label pair.
    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Sample {
        self.labels.push((name.into(), value.into()));
        self
    }
}

/// A metric family: one name, one help text, one type, any number of samples.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    pub name: String,
    pub help: String,
    pub kind: MetricType,
    pub samples: Vec<Sample>,
}

impl MetricFamily {
    /// A family without samples yet.
    pub fn new(name: impl Into<String>, kind: MetricType, help: impl Into<String>) -> Self {
        MetricFamily {
            name: name.into(),
            help: help.into(),
            kind,
            samples: Vec::new(),
        }
    }

    /// Adds a sample.
    pub fn sample(mut self, sample: Sample) -> Self {
        self.samples.push(sample);
        self
    }
}

/// Whether `name` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// Whether `name` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`
/// (reserved for Prometheus itself).
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.starts_with("__")
}

/// HELP text escaped: backslash and newline.
pub fn escape_help(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// A label value escaped: backslash, double quote and newline.
pub fn escape_label_value(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

fn escape(text: &str, quote: bool) -> Cow<'_, str> {
    let special = text.contains(['\\', '\n']) || (quote && text.contains('"'));
    if !special {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// CamelCase to snake_case, keeping acronyms together and digits with the word before them:
/// `ListenOverflows` → `listen_overflows`, `TCPReqQFullDrop` → `tcp_req_q_full_drop`,
/// `DelayedACKs` → `delayed_acks`, `InType3` → `in_type3`, `MD5NotFound` →
/// `md5_not_found`; an acronym run into another stays one word (`TCPOFO` → `tcpofo`).
/// Characters that may not appear in a metric name become `_`; runs of `_` collapse. A word that promtool would take for an abbreviated unit (`h`, `s`, `ms`, …:
/// see [`UNIT_ABBREVIATIONS`]) is joined to the next one: `AckHMacFailure` →
/// `ack_hmac_failure`, not `ack_h_mac_failure`.
pub fn snake_case(name: &str) -> String {
    let words = split_words(name);
    let mut out = String::with_capacity(name.len() + 8);
    let mut glue = false;
    for (i, w) in words.iter().enumerate() {
        if i > 0 && !glue {
            out.push('_');
        }
        out.push_str(w);
        glue = i + 1 < words.len() && UNIT_ABBREVIATIONS.contains(&w.as_str());
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The words promtool's linter reads as abbreviated units when they stand alone in a metric name.
pub const UNIT_ABBREVIATIONS: [&str; 14] = [
    "s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
];

/// The lower-case words of a CamelCase name (see [`snake_case`]).
fn split_words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 8);
    let push_sep = |out: &mut String| {
        if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    };
    for (i, &c) in chars.iter().enumerate() {
        if !(c.is_ascii_alphanumeric()) {
            push_sep(&mut out);
            continue;
        }
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next = chars.get(i + 1).copied();
            // The plural of an acronym ("ACKs", "RTOs") is one word: an `s` that ends the word.
            let plural_s =
                next == Some('s') && chars.get(i + 2).is_none_or(|c| !c.is_ascii_lowercase());
            let starts_word = prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase()
                    && next.is_some_and(|n| n.is_ascii_lowercase())
                    && !plural_s);
            if starts_word {
                push_sep(&mut out);
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out.split('_')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Checks every family and sample: names valid, no family twice, no label twice in a sample.
pub fn validate(families: &[MetricFamily]) -> io::Result<()> {
    let mut seen = HashSet::new();
    for f in families {
        if !is_valid_metric_name(&f.name) {
            return Err(invalid(format!(
                "invalid Prometheus metric name {:?}",
                f.name
            )));
        }
        if !seen.insert(f.name.as_str()) {
            return Err(invalid(format!("metric family {} written twice", f.name)));
        }
        for s in &f.samples {
            for (i, (name, _)) in s.labels.iter().enumerate() {
                if !is_valid_label_name(name) {
                    return Err(invalid(format!(
                        "invalid Prometheus label name {name:?} on {}",
                        f.name
                    )));
                }
                if s.labels[..i].iter().any(|(n, _)| n == name) {
                    return Err(invalid(format!("label {name} twice on {}", f.name)));
                }
            }
        }
    }
    Ok(())
}

/// Writes the families in the text format, after [`validate`] (nothing is written when a
/// family is invalid). Families without samples still get their HELP and TYPE lines.
pub fn write(w: &mut dyn Write, families: &[MetricFamily]) -> io::Result<()> {
    validate(families)?;
    let mut line = String::with_capacity(256);
    for f in families {
        line.clear();
        let _ = writeln!(line, "# HELP {} {}", f.name, escape_help(&f.help));
        let _ = writeln!(line, "# TYPE {} {}", f.name, f.kind.as_str());
        w.write_all(line.as_bytes())?;
        for s in &f.samples {
            line.clear();
            line.push_str(&f.name);
            if !s.labels.is_empty() {
                line.push('{');
                for (i, (name, value)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    let _ = write!(line, "{name}=\"{}\"", escape_label_value(value));
                }
                line.push('}');
            }
            let _ = writeln!(line, " {}", s.value);
            w.write_all(line.as_bytes())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(families: &[MetricFamily]) -> String {
        let mut out = Vec::new();
        write(&mut out, families).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn snake_case_of_nstat_names() {
        for (camel, snake) in [
            ("ListenOverflows", "listen_overflows"),
            ("TCPReqQFullDrop", "tcp_req_q_full_drop"),
            ("DelayedACKs", "delayed_acks"),
            ("TCPSpuriousRTOs", "tcp_spurious_rtos"),
            ("InType3", "in_type3"),
            ("MD5NotFound", "md5_not_found"),
            ("MPJoinAckHMacFailure", "mp_join_ack_hmac_failure"),
            ("TimeInS", "time_in_s"),
            ("IPReversePathFilter", "ip_reverse_path_filter"),
            ("TW", "tw"),
            ("TWRecycled", "tw_recycled"),
            ("InECT1Pkts", "in_ect1_pkts"),
            ("RtoMin", "rto_min"),
            ("already_snake", "already_snake"),
            ("with-dash.dot", "with_dash_dot"),
            ("3com", "_3com"),
        ] {
            assert_eq!(snake_case(camel), snake, "{camel}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(is_valid_metric_name("sockscope_tcp_out_rsts_total"));
        assert!(is_valid_metric_name("a:b"));
        assert!(!is_valid_metric_name("1abc"));
        assert!(!is_valid_metric_name(""));
        assert!(!is_valid_metric_name("a-b"));
        assert!(is_valid_label_name("proto"));
        assert!(!is_valid_label_name("__name__"));
        assert!(!is_valid_label_name("a:b"));
    }

    #[test]
    fn escaping_follows_the_format() {
        assert_eq!(escape_help("plain"), "plain");
        assert_eq!(escape_help("a\\b\nc \"q\""), "a\\\\b\\nc \"q\"");
        assert_eq!(escape_label_value("a\\b\nc \"q\""), "a\\\\b\\nc \\\"q\\\"");
    }

    #[test]
    fn writes_help_type_and_samples_with_labels() {
        let families = vec![
            MetricFamily::new(
                "sockscope_tcp_out_rsts_total",
                MetricType::Counter,
                "TcpOutRsts: resets sent\nsecond line",
            )
            .sample(Sample::new(5i64)),
            MetricFamily::new("sockscope_sockets", MetricType::Gauge, "sockets by state")
                .sample(
                    Sample::new(3i64)
                        .label("proto", "tcp")
                        .label("state", "listen"),
                )
                .sample(Sample::new(1i64).label("proto", "odd\"name\\")),
            MetricFamily::new("sockscope_ratio", MetricType::Untyped, "x")
                .sample(Sample::new(0.5))
                .sample(Sample::new(f64::INFINITY))
                .sample(Sample::new(f64::NAN)),
        ];
        assert_eq!(
            text(&families),
            "# HELP sockscope_tcp_out_rsts_total TcpOutRsts: resets sent\\nsecond line\n\
             # TYPE sockscope_tcp_out_rsts_total counter\n\
             sockscope_tcp_out_rsts_total 5\n\
             # HELP sockscope_sockets sockets by state\n\
             # TYPE sockscope_sockets gauge\n\
             sockscope_sockets{proto=\"tcp\",state=\"listen\"} 3\n\
             sockscope_sockets{proto=\"odd\\\"name\\\\\"} 1\n\
             # HELP sockscope_ratio x\n\
             # TYPE sockscope_ratio untyped\n\
             sockscope_ratio 0.5\n\
             sockscope_ratio +Inf\n\
             sockscope_ratio NaN\n"
        );
    }

    #[test]
    fn integers_stay_exact() {
        assert_eq!(
            Value::from(9_007_199_254_740_993i64).to_string(),
            "9007199254740993"
        );
        assert_eq!(Value::from(-1i64).to_string(), "-1");
        assert_eq!(Value::from(u64::MAX).to_string(), "18446744073709552000");
    }

    #[test]
    fn invalid_families_are_refused_before_writing() {
        for bad in [
            vec![MetricFamily::new("bad-name", MetricType::Gauge, "")],
            vec![
                MetricFamily::new("dup", MetricType::Gauge, ""),
                MetricFamily::new("dup", MetricType::Gauge, ""),
            ],
            vec![
                MetricFamily::new("m", MetricType::Gauge, "")
                    .sample(Sample::new(1i64).label("__x", "")),
            ],
            vec![
                MetricFamily::new("m", MetricType::Gauge, "")
                    .sample(Sample::new(1i64).label("a", "1").label("a", "2")),
            ],
        ] {
            let mut out = Vec::new();
            let err = write(&mut out, &bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(out.is_empty());
        }
    }
}
