//! Which counters to show: the catalogue, all of them, or those named. Names are nstat-style
//! shell patterns (`TcpExt*`, `Udp?InErrors`, `Ip[46]*`) matched case-insensitively, as nstat
//! matches with fnmatch(FNM_CASEFOLD). A pattern that matches nothing is a usage error that
//! suggests the closest names.

use crate::error::{Error, Result};
use crate::stats::Counters;
use crate::stats::catalogue::CATALOGUE;

/// What the user asked to see.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Selection {
    /// The catalogue: the counters that explain trouble, in its order.
    #[default]
    Catalogue,
    /// Every counter, in file order.
    All,
    /// The counters matching any of these patterns, in file order.
    Patterns(Vec<String>),
}

impl Selection {
    /// The selection for the command line: patterns when given, else everything with `--all`,
    /// else the catalogue.
    pub fn new(all: bool, patterns: Vec<String>) -> Selection {
        if !patterns.is_empty() {
            Selection::Patterns(patterns)
        } else if all {
            Selection::All
        } else {
            Selection::Catalogue
        }
    }

    /// Fills `out` with the indexes (into `counters`) of the selected counters; no allocation
    /// once `out` has grown to size. Counters of the catalogue that this kernel lacks are left
    /// out.
    pub fn indexes_into(&self, counters: &Counters, out: &mut Vec<usize>) {
        out.clear();
        match self {
            Selection::Catalogue => {
                out.extend(CATALOGUE.iter().filter_map(|e| counters.index_of(e.name)))
            }
            Selection::All => out.extend(0..counters.len()),
            Selection::Patterns(patterns) => out.extend(
                counters
                    .names()
                    .enumerate()
                    .filter(|(_, n)| patterns.iter().any(|p| glob_match(p, n)))
                    .map(|(i, _)| i),
            ),
        }
    }

    /// The selected indexes; a pattern that matches no counter is a usage error naming the
    /// closest existing names.
    pub fn indexes(&self, counters: &Counters) -> Result<Vec<usize>> {
        if let Selection::Patterns(patterns) = self {
            for p in patterns {
                if !counters.names().any(|n| glob_match(p, n)) {
                    return Err(unknown(p, counters));
                }
            }
        }
        let mut out = Vec::new();
        self.indexes_into(counters, &mut out);
        Ok(out)
    }
}

/// The error for a pattern that matches nothing.
fn unknown(pattern: &str, counters: &Counters) -> Error {
    let close = suggestions(pattern, counters.names(), 3);
    let hint = if close.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", close.join(", "))
    };
    Error::Usage(format!(
        "no kernel counter is named {pattern:?}{hint} ('sockscope stats --all' lists them all)"
    ))
}

/// Up to `n` names closest to `wanted` by edit distance (case-insensitive), closest first;
/// only names close enough to be a likely typo (at most a third of the length apart, or a
/// name that contains the wanted text).
pub fn suggestions<'a>(
    wanted: &str,
    names: impl Iterator<Item = &'a str>,
    n: usize,
) -> Vec<&'a str> {
    let want: String = wanted
        .chars()
        .filter(|c| !matches!(c, '*' | '?' | '[' | ']'))
        .flat_map(char::to_lowercase)
        .collect();
    let limit = (want.len() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = names
        .filter_map(|name| {
            let lower = name.to_ascii_lowercase();
            let d = edit_distance(&want, &lower);
            let contains = want.len() >= 4 && lower.contains(&want);
            (d <= limit || contains).then_some((if contains { d.min(limit) } else { d }, name))
        })
        .collect();
    scored.sort_by_key(|&(d, name)| (d, name.len()));
    scored.into_iter().take(n).map(|(_, name)| name).collect()
}

/// Levenshtein distance over bytes (the names are ASCII).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == cb {
                diag
            } else {
                1 + diag.min(above).min(row[j])
            };
            diag = above;
        }
    }
    row[b.len()]
}

/// Shell-pattern matching as fnmatch(3) with FNM_CASEFOLD (ASCII): `*` any run, `?` one
/// character, `[abc]`, `[a-z]`, `[!x]` or `[^x]` one of a set, `\x` the character x.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p = pattern.as_bytes();
    let s = name.as_bytes();
    let (mut pi, mut si) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, name index it stood for).
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        let step = match p.get(pi) {
            Some(b'*') => {
                star = Some((pi + 1, si));
                pi += 1;
                continue;
            }
            Some(b'?') => Some(pi + 1),
            Some(b'[') => match class(p, pi, s[si]) {
                Some((true, next)) => Some(next),
                Some((false, _)) => None,
                // An unclosed `[` is an ordinary character.
                None => (s[si] == b'[').then_some(pi + 1),
            },
            Some(b'\\') if pi + 1 < p.len() => {
                p[pi + 1].eq_ignore_ascii_case(&s[si]).then_some(pi + 2)
            }
            Some(&c) => c.eq_ignore_ascii_case(&s[si]).then_some(pi + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                si += 1;
            }
            (None, Some((sp, ss))) => {
                pi = sp;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// A bracket expression at `p[start]` (`[`): whether `c` is in it, and the index after `]`;
/// None when it is not closed.
fn class(p: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let c = c.to_ascii_lowercase();
    let mut found = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == b']' && !first {
            return Some((found != negate, i + 1));
        }
        first = false;
        let lo = lo.to_ascii_lowercase();
        if p.get(i + 1) == Some(&b'-') && p.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = p[i + 2].to_ascii_lowercase();
            found |= lo <= c && c <= hi;
            i += 3;
        } else {
            found |= lo == c;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_fnmatch_casefold() {
        for (p, n, want) in [
            ("TcpExt*", "TcpExtListenOverflows", true),
            ("tcpext*", "TcpExtListenOverflows", true),
            ("TcpExt*", "TcpActiveOpens", false),
            ("*Overflows", "TcpExtListenOverflows", true),
            ("*listen*", "TcpExtListenDrops", true),
            ("Udp?InErrors", "Udp6InErrors", true),
            ("Udp?InErrors", "UdpInErrors", false),
            ("Ip[46]*", "Ip6InReceives", true),
            ("Ip[!6]*", "Ip6InReceives", false),
            ("Ip[^6]*", "IpInReceives", true),
            ("Ip[a-j]*", "IpInReceives", true),
            ("UdpNoPorts", "udpnoports", true),
            ("UdpNoPorts", "UdpNoPortsX", false),
            ("a[", "a[", true),
            ("a\\*", "a*", true),
            ("a\\*", "ab", false),
            ("*", "", true),
            ("", "x", false),
            ("**x*y", "axby", true),
        ] {
            assert_eq!(glob_match(p, n), want, "{p} vs {n}");
        }
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn suggestions_find_the_typo() {
        let names = [
            "TcpExtListenOverflows",
            "TcpExtListenDrops",
            "UdpNoPorts",
            "Udp6NoPorts",
        ];
        assert_eq!(
            suggestions("TcpExtListenOverflow", names.iter().copied(), 3)[0],
            "TcpExtListenOverflows"
        );
        assert_eq!(
            suggestions("udpnoport", names.iter().copied(), 3),
            ["UdpNoPorts", "Udp6NoPorts"]
        );
        assert_eq!(
            suggestions("ListenOverflows", names.iter().copied(), 1),
            ["TcpExtListenOverflows"]
        );
        assert!(suggestions("Zzzzzzzz", names.iter().copied(), 3).is_empty());
    }

    #[test]
    fn selection_picks_and_refuses() {
        let c = crate::stats::tests::fixture();
        let tcpext = Selection::Patterns(vec!["tcpext*".into()])
            .indexes(&c)
            .unwrap();
        assert!(tcpext.len() > 50);
        assert!(tcpext.iter().all(|&i| c.name(i).starts_with("TcpExt")));
        let two = Selection::Patterns(vec!["UdpNoPorts".into(), "udp?noports".into()])
            .indexes(&c)
            .unwrap();
        assert_eq!(
            two.iter().map(|&i| c.name(i)).collect::<Vec<_>>(),
            ["UdpNoPorts", "Udp6NoPorts"]
        );
        assert_eq!(Selection::All.indexes(&c).unwrap().len(), c.len());
        let cat = Selection::Catalogue.indexes(&c).unwrap();
        assert_eq!(c.name(cat[0]), "TcpExtListenOverflows");
        let err = Selection::Patterns(vec!["TcpExtListenOverflow".into()])
            .indexes(&c)
            .unwrap_err();
        assert!(matches!(err, Error::Usage(_)));
        assert!(
            err.to_string()
                .contains("did you mean TcpExtListenOverflows"),
            "{err}"
        );
    }
}
