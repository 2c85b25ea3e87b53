//! The Path header (RFC 5536 §3.1.5, RFC 5537 §3.2.1).
//!
//! A Path value is a list of entries separated by `!`, newest first, e.g.
//! `news.b.example!!news.a.example!.POSTED.192.0.2.1!not-for-mail`. Besides path
//! identities it may carry the diagnostics of RFC 5537 §3.2.1: an empty entry (the
//! `!!` form, "the identity to the right was verified"), and `.KEYWORD[.identity]`
//! entries such as `.POSTED`, `.POSTED.client`, `.SEEN.host`, `.MISMATCH.host`
//! (other keywords, e.g. `.FROM`, are kept as they are). Whitespace (folding) around
//! `!` is tolerated and dropped.

use std::fmt;

use crate::ascii::{all_bytes, any_triple, count_byte, is_vchar};
use crate::headers::trim_ws;

/// Why a Path value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The value is empty.
    #[error("empty Path")]
    Empty,
    /// An entry contains a character not allowed in a path identity.
    #[error("invalid character in Path entry")]
    BadChar,
    /// A diagnostic entry has no keyword (`!.!`).
    #[error("empty diagnostic keyword in Path")]
    EmptyDiagnostic,
}

/// One element of a Path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathEntry<'a> {
    /// A path identity (a site name, FQDN or IP, or the tail entry like `not-for-mail`).
    Identity(&'a str),
    /// The empty entry of a `!!` delimiter: the sending site's identity was verified.
    Verified,
    /// A diagnostic `.KEYWORD` or `.KEYWORD.identity` (POSTED, SEEN, MISMATCH, ...).
    Diagnostic {
        /// The keyword, e.g. `POSTED`.
        keyword: &'a str,
        /// The identity after the keyword, if any.
        identity: Option<&'a str>,
    },
}

impl fmt::Display for PathEntry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathEntry::Identity(s) => f.write_str(s),
            PathEntry::Verified => Ok(()),
            PathEntry::Diagnostic {
                keyword,
                identity: None,
            } => write!(f, ".{keyword}"),
            PathEntry::Diagnostic {
                keyword,
                identity: Some(i),
            } => write!(f, ".{keyword}.{i}"),
        }
    }
}

/// Characters accepted in a path identity: RFC 5536 path-identity is
/// `ALPHA / DIGIT / "-" / "." / ":" / "_"`; we also accept the rest of printable
/// US-ASCII except `!` (old software put odd things there), but no whitespace or 8-bit.
fn is_ident_char(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && b != b'!'
}

fn parse_entry(raw: &[u8]) -> Result<PathEntry<'_>, PathError> {
    let e = trim_ws(raw);
    if e.is_empty() {
        return Ok(PathEntry::Verified);
    }
    if !e.iter().all(|&b| is_ident_char(b)) {
        return Err(PathError::BadChar);
    }
    let s = std::str::from_utf8(e).map_err(|_| PathError::BadChar)?;
    if let Some(diag) = s.strip_prefix('.') {
        let (keyword, identity) = match diag.split_once('.') {
            Some((k, i)) => (k, Some(i)),
            None => (diag, None),
        };
        if keyword.is_empty() {
            return Err(PathError::EmptyDiagnostic);
        }
        return Ok(PathEntry::Diagnostic { keyword, identity });
    }
    Ok(PathEntry::Identity(s))
}

/// Iterates over the entries of a Path value without allocating.
pub fn path_entries(value: &[u8]) -> impl Iterator<Item = Result<PathEntry<'_>, PathError>> {
    value.split(|&b| b == b'!').map(parse_entry)
}

/// Validates a Path value without allocating; returns the number of entries.
pub fn check_path(value: &[u8]) -> Result<usize, PathError> {
    let v = trim_ws(value);
    if v.is_empty() {
        return Err(PathError::Empty);
    }
    if all_bytes(v, is_vchar) {
        // Fast path (no whitespace, nothing 8-bit): only diagnostics need a look. An
        // empty keyword is a `.` entry followed by `.`, `!` or the end.
        let empty_keyword = any_triple(
            v,
            |a| a == b'!',
            |b| b == b'.',
            |c| (c == b'.') | (c == b'!'),
        ) || v.ends_with(b"!.")
            || (v.first() == Some(&b'.') && matches!(v.get(1), None | Some(b'.' | b'!')));
        if empty_keyword {
            return Err(PathError::EmptyDiagnostic);
        }
        return Ok(1 + count_byte(v, b'!'));
    }
    let mut n = 0;
    for raw in v.split(|&b| b == b'!') {
        let e = trim_ws(raw);
        if !e.iter().all(|&b| is_ident_char(b)) {
            return Err(PathError::BadChar);
        }
        if let Some(diag) = e.strip_prefix(b".")
            && diag
                .split(|&b| b == b'.')
                .next()
                .is_none_or(<[u8]>::is_empty)
        {
            return Err(PathError::EmptyDiagnostic);
        }
        n += 1;
    }
    Ok(n)
}

/// A parsed Path value, borrowing from the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path<'a> {
    entries: Vec<PathEntry<'a>>,
}

impl<'a> Path<'a> {
    /// Parses a Path header value (unfolded or not).
    pub fn parse(value: &'a [u8]) -> Result<Self, PathError> {
        let v = trim_ws(value);
        if v.is_empty() {
            return Err(PathError::Empty);
        }
        let entries = path_entries(v).collect::<Result<Vec<_>, _>>()?;
        Ok(Path { entries })
    }

    /// The entries, newest first.
    pub fn entries(&self) -> &[PathEntry<'a>] {
        &self.entries
    }

    /// The path identities (sites) only, newest first, without diagnostics.
    pub fn identities(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.entries.iter().filter_map(|e| match e {
            PathEntry::Identity(s) => Some(*s),
            _ => None,
        })
    }

    /// Whether `identity` appears as a path identity (ASCII case-insensitive, since
    /// sites may compare either way; RFC 5536 §3.1.5). Use it for loop detection.
    pub fn contains(&self, identity: &str) -> bool {
        self.identities().any(|s| s.eq_ignore_ascii_case(identity))
    }

    /// The tail entry (the oldest), e.g. `not-for-mail`.
    pub fn tail(&self) -> Option<&'a str> {
        self.identities().last()
    }

    /// The new Path value with `pathhost` prepended: `pathhost!old`.
    pub fn prepend(&self, pathhost: &str) -> String {
        format!("{pathhost}!{self}")
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str("!")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Prepends `pathhost` to a raw Path value: `pathhost!value` (value trimmed).
pub fn prepend_path(value: &[u8], pathhost: &str) -> Vec<u8> {
    let v = trim_ws(value);
    let mut out = Vec::with_capacity(pathhost.len() + 1 + v.len());
    out.extend_from_slice(pathhost.as_bytes());
    out.push(b'!');
    out.extend_from_slice(v);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_with_diagnostics() {
        let v = b"news.b.example!!news.a.example!.MISMATCH.192.0.2.7!.SEEN.x.example!.POSTED.client.example!not-for-mail";
        let p = Path::parse(v).unwrap();
        assert_eq!(
            p.entries(),
            &[
                PathEntry::Identity("news.b.example"),
                PathEntry::Verified,
                PathEntry::Identity("news.a.example"),
                PathEntry::Diagnostic {
                    keyword: "MISMATCH",
                    identity: Some("192.0.2.7")
                },
                PathEntry::Diagnostic {
                    keyword: "SEEN",
                    identity: Some("x.example")
                },
                PathEntry::Diagnostic {
                    keyword: "POSTED",
                    identity: Some("client.example")
                },
                PathEntry::Identity("not-for-mail"),
            ]
        );
        assert_eq!(p.to_string().as_bytes(), v);
        assert!(p.contains("NEWS.A.example"));
        assert!(!p.contains("192.0.2.7"));
        assert_eq!(p.tail(), Some("not-for-mail"));
        let q = Path::parse(b"a!.POSTED!b!.FROM.c!d").unwrap();
        assert_eq!(
            q.entries()[1],
            PathEntry::Diagnostic {
                keyword: "POSTED",
                identity: None
            }
        );
        assert_eq!(
            q.entries()[3],
            PathEntry::Diagnostic {
                keyword: "FROM",
                identity: Some("c")
            }
        );
    }

    #[test]
    fn folding_and_errors() {
        let p = Path::parse(b" a!\r\n b ! c ").unwrap();
        assert_eq!(p.to_string(), "a!b!c");
        assert_eq!(Path::parse(b"  "), Err(PathError::Empty));
        assert_eq!(Path::parse(b"a b!c"), Err(PathError::BadChar));
        assert_eq!(Path::parse(b"a!\xe9!c"), Err(PathError::BadChar));
        assert_eq!(Path::parse(b"a!.!c"), Err(PathError::EmptyDiagnostic));
        assert_eq!(check_path(b"a!b!!c"), Ok(4));
        assert_eq!(check_path(b"a!.!c"), Err(PathError::EmptyDiagnostic));
        assert_eq!(check_path(b"a!..x!c"), Err(PathError::EmptyDiagnostic));
        assert_eq!(check_path(b"a!.SEEN.x!c"), Ok(3));
        assert_eq!(check_path(b"a!b c"), Err(PathError::BadChar));
        assert_eq!(check_path(b" "), Err(PathError::Empty));
        assert_eq!(check_path(b".!a"), Err(PathError::EmptyDiagnostic));
        assert_eq!(check_path(b"a!."), Err(PathError::EmptyDiagnostic));
        assert_eq!(check_path(b"a! .!b"), Err(PathError::EmptyDiagnostic));
        assert_eq!(check_path(b".X!a"), Ok(2));
    }

    #[test]
    fn prepend() {
        let p = Path::parse(b"a!b").unwrap();
        assert_eq!(p.prepend("me"), "me!a!b");
        assert_eq!(prepend_path(b" a!b\r\n", "me"), b"me!a!b");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn prepend_then_parse(hosts in proptest::collection::vec("[a-z0-9][a-z0-9.:_-]{0,15}", 1..16),
                              me in "[a-z][a-z0-9.-]{0,15}") {
            let old = hosts.join("!");
            let new = prepend_path(old.as_bytes(), &me);
            let p = Path::parse(&new).unwrap();
            prop_assert!(p.contains(&me));
            prop_assert_eq!(p.identities().next(), Some(me.as_str()));
            prop_assert_eq!(p.identities().count(), hosts.len() + 1);
            prop_assert_eq!(p.to_string().into_bytes(), new);
        }
    }
}
