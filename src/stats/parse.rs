//! Pure parsers of the kernel's counter files, named as iproute2's nstat names them.
//!
//! Two layouts exist. `/proc/net/snmp` and `/proc/net/netstat` hold pairs of lines, a header
//! and its values, both starting with the section (`TcpExt: SyncookiesSent …` /
//! `TcpExt: 0 …`); a counter's name is the section and the field run together
//! (`TcpExtSyncookiesSent`). `/proc/net/snmp6` and `/proc/net/sctp/snmp` hold one
//! `Name  value` per line, the name already complete (`Ip6InReceives`).
//!
//! As in nstat: values beyond the header's fields are ignored (a 2.4 kernel added a dummy ICMP
//! field), lines starting with `#` in the one-per-line files are not counters. Unlike nstat,
//! which reads values as unsigned, values are signed 64-bit (Tcp MaxConn is -1); a value above
//! i64::MAX wraps, as the kernel's own unsigned arithmetic does, so deltas stay right.

use std::fmt;

/// What is wrong with a counter file's text, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub what: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

impl std::error::Error for ParseError {}

fn error(line: usize, what: impl Into<String>) -> ParseError {
    ParseError {
        line,
        what: what.into(),
    }
}

/// A counter value: signed, with unsigned values above i64::MAX wrapped.
pub fn parse_value(text: &str) -> Option<i64> {
    text.parse::<i64>()
        .ok()
        .or_else(|| text.parse::<u64>().ok().map(|v| v as i64))
}

/// Parses header/value line pairs (`/proc/net/snmp`, `/proc/net/netstat`), calling
/// `emit(section, field, value)` for each counter in file order.
pub fn parse_pairs(text: &str, mut emit: impl FnMut(&str, &str, i64)) -> Result<(), ParseError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    while let Some((n, header)) = lines.next() {
        let Some((section, fields)) = header.split_once(':') else {
            return Err(error(
                n,
                format!("expected 'Section: Field …', found {header:?}"),
            ));
        };
        let Some((vn, values)) = lines.next() else {
            return Err(error(
                n,
                format!("the {section} header has no line of values"),
            ));
        };
        let Some((vsection, values)) = values.split_once(':') else {
            return Err(error(vn, format!("expected '{section}: values…'")));
        };
        if vsection != section {
            return Err(error(
                vn,
                format!("values of section {vsection:?} follow the header of {section:?}"),
            ));
        }
        let mut values = values.split_ascii_whitespace();
        for field in fields.split_ascii_whitespace() {
            let Some(v) = values.next() else {
                return Err(error(vn, format!("{section}: no value for {field}")));
            };
            let Some(v) = parse_value(v) else {
                return Err(error(
                    vn,
                    format!("{section}{field}: {v:?} is not a number"),
                ));
            };
            emit(section, field, v);
        }
    }
    Ok(())
}

/// The section of a complete name from a one-per-line file: up to the first `6` for IPv6
/// (`Ip6`, `Icmp6`, `Udp6`, `UdpLite6`), `Sctp` for SCTP, otherwise none.
pub fn section_of(name: &str) -> usize {
    if let Some(i) = name.find('6') {
        return i + 1;
    }
    if name.starts_with("Sctp") {
        return 4;
    }
    0
}

/// Parses `Name value` lines (`/proc/net/snmp6`, `/proc/net/sctp/snmp`), calling
/// `emit(section, field, value)` with the name split by [`section_of`].
pub fn parse_lines(text: &str, mut emit: impl FnMut(&str, &str, i64)) -> Result<(), ParseError> {
    for (i, line) in text.lines().enumerate() {
        let mut words = line.split_ascii_whitespace();
        let Some(name) = words.next() else { continue };
        if name.starts_with('#') {
            continue;
        }
        let Some(v) = words.next() else {
            return Err(error(i + 1, format!("{name} has no value")));
        };
        let Some(v) = parse_value(v) else {
            return Err(error(i + 1, format!("{name}: {v:?} is not a number")));
        };
        let (section, field) = name.split_at(section_of(name));
        emit(section, field, v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Result<Vec<(String, i64)>, ParseError> {
        let mut v = Vec::new();
        parse_pairs(text, |s, f, n| v.push((format!("{s}{f}"), n)))?;
        Ok(v)
    }

    fn lines(text: &str) -> Result<Vec<(String, String, i64)>, ParseError> {
        let mut v = Vec::new();
        parse_lines(text, |s, f, n| v.push((s.to_string(), f.to_string(), n)))?;
        Ok(v)
    }

    #[test]
    fn pairs_name_as_nstat_and_keep_negatives() {
        let got = pairs(
            "Tcp: RtoAlgorithm MaxConn ActiveOpens\nTcp: 1 -1 13\n\
             IcmpMsg: InType3 OutType3\nIcmpMsg: 4 5\n",
        )
        .unwrap();
        assert_eq!(
            got,
            [
                ("TcpRtoAlgorithm".to_string(), 1),
                ("TcpMaxConn".to_string(), -1),
                ("TcpActiveOpens".to_string(), 13),
                ("IcmpMsgInType3".to_string(), 4),
                ("IcmpMsgOutType3".to_string(), 5),
            ]
        );
    }

    #[test]
    fn extra_values_are_ignored_missing_ones_are_errors() {
        assert_eq!(pairs("Icmp: InMsgs\nIcmp: 1 0\n").unwrap().len(), 1);
        let e = pairs("Icmp: InMsgs InErrors\nIcmp: 1\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.what.contains("InErrors"), "{e}");
    }

    #[test]
    fn damaged_pairs_are_errors() {
        assert!(pairs("Tcp: A B\n").is_err());
        assert!(pairs("Tcp A B\nTcp 1 2\n").is_err());
        assert!(pairs("Tcp: A\nUdp: 1\n").is_err());
        assert!(pairs("Tcp: A\nTcp: x\n").is_err());
        assert_eq!(pairs("").unwrap(), []);
    }

    #[test]
    fn huge_unsigned_values_wrap() {
        assert_eq!(parse_value("18446744073709551615"), Some(-1));
        assert_eq!(parse_value("9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_value("x"), None);
    }

    #[test]
    fn one_per_line_files_split_their_section() {
        let got = lines(
            "Ip6InReceives                   \t1\n#comment 1\n\n\
             UdpLite6InDatagrams 0\nIcmp6OutType135 7\nSctpCurrEstab 2\nOdd 3\n",
        )
        .unwrap();
        assert_eq!(
            got,
            [
                ("Ip6".into(), "InReceives".into(), 1),
                ("UdpLite6".into(), "InDatagrams".into(), 0),
                ("Icmp6".into(), "OutType135".into(), 7),
                ("Sctp".into(), "CurrEstab".into(), 2),
                ("".into(), "Odd".into(), 3),
            ]
        );
        assert!(lines("Ip6InReceives\n").is_err());
        assert!(lines("Ip6InReceives many\n").is_err());
    }
}
