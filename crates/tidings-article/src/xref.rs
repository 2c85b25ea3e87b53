//! The Xref header (RFC 5536 §3.2.14): `pathhost group:locator group:locator ...`.
//!
//! The article locator is any printable US-ASCII (`1*%x21-7E`); NNTP servers write the
//! article number there, and [`Xref::number_in`] reads it as one. A receiving server
//! replaces Xref anyway, so validation accepts every locator the grammar allows.

use std::fmt;

use crate::ascii::{WS, has_class};
use crate::group::{GroupName, GroupNameError, check_group_name, group_end};
use crate::headers::trim_ws;

/// Why an Xref value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XrefError {
    /// No server name.
    #[error("empty Xref")]
    Empty,
    /// The server name has characters outside printable US-ASCII.
    #[error("bad server name in Xref")]
    BadHost,
    /// No `group:locator` location follows the server name.
    #[error("no group:number in Xref")]
    NoLocations,
    /// A location is not `group:locator` (locator: printable US-ASCII, at least one).
    #[error("bad group:number in Xref")]
    BadLocation,
    /// A group name is invalid.
    #[error("bad newsgroup in Xref: {0}")]
    BadGroup(#[from] GroupNameError),
}

/// A parsed Xref value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xref {
    /// The server's path identity.
    pub host: String,
    /// (group, article locator) pairs in order; the locator is the article number on
    /// NNTP servers (see [`Xref::number_in`]).
    pub locations: Vec<(GroupName, String)>,
}

fn parse_number(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |a, &b| a * 10 + u64::from(b - b'0')))
}

fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| has_class(b, WS)).filter(|t| !t.is_empty())
}

fn is_locator_char(b: u8) -> bool {
    (0x21..=0x7e).contains(&b)
}

/// Splits `group:locator` at the first colon (a group name has none; a locator may).
fn split_location(tok: &[u8]) -> Result<(&[u8], &[u8]), XrefError> {
    let colon = tok
        .iter()
        .position(|&b| b == b':')
        .ok_or(XrefError::BadLocation)?;
    let (group, locator) = (&tok[..colon], &tok[colon + 1..]);
    if locator.is_empty() || !locator.iter().all(|&b| is_locator_char(b)) {
        return Err(XrefError::BadLocation);
    }
    check_group_name(group)?;
    Ok((group, locator))
}

/// [`check_xref`] for values that pass: `Some(count)` only where it returns `Ok(count)`;
/// `None` sends the caller to the full check.
fn check_xref_fast(v: &[u8]) -> Option<usize> {
    let ws = |i: usize| v.get(i).is_some_and(|&b| has_class(b, WS));
    let mut i = 0;
    while ws(i) {
        i += 1;
    }
    let host = i;
    while let Some(&b) = v.get(i)
        && !has_class(b, WS)
    {
        if !(0x21..=0x7e).contains(&b) {
            return None;
        }
        i += 1;
    }
    if i == host {
        return None;
    }
    let mut n = 0;
    loop {
        while ws(i) {
            i += 1;
        }
        if i == v.len() {
            return (n > 0).then_some(n);
        }
        i = group_end(v, i)?;
        if v.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        let locator = i;
        while v.get(i).is_some_and(|&b| is_locator_char(b)) {
            i += 1;
        }
        if i == locator || !(i == v.len() || ws(i)) {
            return None;
        }
        n += 1;
    }
}

/// Validates an Xref value without allocating; returns the number of locations.
pub fn check_xref(value: &[u8]) -> Result<usize, XrefError> {
    match check_xref_fast(value) {
        Some(n) => Ok(n),
        None => check_xref_general(value),
    }
}

/// [`check_xref`] without the fast path.
fn check_xref_general(value: &[u8]) -> Result<usize, XrefError> {
    let mut it = tokens(value);
    let host = it.next().ok_or(XrefError::Empty)?;
    if !host.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(XrefError::BadHost);
    }
    let mut n = 0;
    for t in it {
        split_location(t)?;
        n += 1;
    }
    if n == 0 {
        Err(XrefError::NoLocations)
    } else {
        Ok(n)
    }
}

impl Xref {
    /// Builds an Xref for `host` and the given (group, article number) locations.
    pub fn new(host: &str, locations: Vec<(GroupName, u64)>) -> Self {
        Xref {
            host: host.to_owned(),
            locations: locations
                .into_iter()
                .map(|(g, n)| (g, n.to_string()))
                .collect(),
        }
    }

    /// Parses an Xref value (whitespace, including folding, separates the parts).
    pub fn parse(value: &[u8]) -> Result<Self, XrefError> {
        check_xref(value)?;
        let mut it = tokens(trim_ws(value));
        let host = it.next().ok_or(XrefError::Empty)?;
        let host = std::str::from_utf8(host)
            .map_err(|_| XrefError::BadHost)?
            .to_owned();
        let mut locations = Vec::new();
        for t in it {
            let (g, locator) = split_location(t)?;
            // `split_location` checked the locator is printable ASCII.
            let locator = String::from_utf8_lossy(locator).into_owned();
            locations.push((GroupName::parse_bytes(g)?, locator));
        }
        Ok(Xref { host, locations })
    }

    /// The article number of `group` in this Xref: `None` if the group is not listed or
    /// its locator is not a number (at most 19 digits).
    pub fn number_in(&self, group: &str) -> Option<u64> {
        self.locations
            .iter()
            .find(|(g, _)| g.as_str() == group)
            .and_then(|(_, locator)| parse_number(locator.as_bytes()))
    }
}

impl fmt::Display for Xref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host)?;
        for (g, locator) in &self.locations {
            write!(f, " {g}:{locator}")?;
        }
        Ok(())
    }
}

/// Formats an Xref value from a pathhost and (group, number) pairs, e.g.
/// `news.example.org misc.test:3 alt.test:17`.
pub fn format_xref(host: &str, locations: &[(&str, u64)]) -> String {
    let mut s = String::with_capacity(host.len() + locations.len() * 24);
    s.push_str(host);
    for (g, n) in locations {
        s.push(' ');
        s.push_str(g);
        s.push(':');
        s.push_str(&n.to_string());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn build_and_parse() {
        let s = format_xref("news.example.org", &[("misc.test", 3), ("alt.test", 17)]);
        assert_eq!(s, "news.example.org misc.test:3 alt.test:17");
        let x = Xref::parse(s.as_bytes()).unwrap();
        assert_eq!(x.host, "news.example.org");
        assert_eq!(x.number_in("alt.test"), Some(17));
        assert_eq!(x.to_string(), s);
        let x = Xref::parse(b" h\r\n\ta.b:1 ").unwrap();
        assert_eq!(x.locations.len(), 1);
    }

    #[test]
    fn errors() {
        assert_eq!(Xref::parse(b""), Err(XrefError::Empty));
        assert_eq!(Xref::parse(b"host"), Err(XrefError::NoLocations));
        assert_eq!(Xref::parse(b"host a.b"), Err(XrefError::BadLocation));
        assert_eq!(Xref::parse(b"host a.b:"), Err(XrefError::BadLocation));
        assert_eq!(Xref::parse(b"host a.b: 1"), Err(XrefError::BadLocation));
        assert_eq!(Xref::parse(b"host a.b:1\x7f"), Err(XrefError::BadLocation));
        assert_eq!(Xref::parse(b"host a.b:\xe91"), Err(XrefError::BadLocation));
        assert_eq!(
            check_xref(b"host a.b:1 :2"),
            Err(XrefError::BadGroup(GroupNameError::Empty))
        );
        assert!(matches!(
            Xref::parse(b"host a..b:1"),
            Err(XrefError::BadGroup(_))
        ));
        assert_eq!(Xref::parse(b"h\xe9 a:1"), Err(XrefError::BadHost));
    }

    #[test]
    fn any_printable_locator() {
        // RFC 5536 §3.2.14: article-locator = 1*( %x21-7E ).
        let x = Xref::parse(b"news.example misc.test:a1b2 alt.test:17 a.b:x:y~!").unwrap();
        assert_eq!(x.locations[0].1, "a1b2");
        assert_eq!(x.locations[2].0.as_str(), "a.b");
        assert_eq!(x.locations[2].1, "x:y~!");
        assert_eq!(x.number_in("misc.test"), None);
        assert_eq!(x.number_in("alt.test"), Some(17));
        assert_eq!(
            x.to_string(),
            "news.example misc.test:a1b2 alt.test:17 a.b:x:y~!"
        );
        assert_eq!(check_xref(b"news.example misc.test:a1b2"), Ok(1));
        assert_eq!(check_xref_fast(b"news.example misc.test:a1b2"), Some(1));
        let x = Xref::parse(b"host a:99999999999999999999").unwrap();
        assert_eq!(x.number_in("a"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn fast_check_agrees(v in "[ab.:1x~ \t\r\n!\x7f\u{e9}]{0,24}") {
            let slow = check_xref_general(v.as_bytes());
            if let Some(n) = check_xref_fast(v.as_bytes()) {
                prop_assert_eq!(Ok(n), slow.clone(), "{:?}", v);
            }
            prop_assert_eq!(check_xref(v.as_bytes()), slow);
        }

        #[test]
        fn fast_check_agrees_on_long_numbers(n in "[0-9]{15,22}") {
            let v = format!("h a.b:{n} c:1");
            let slow = check_xref_general(v.as_bytes());
            prop_assert_eq!(check_xref_fast(v.as_bytes()).ok_or(()), slow.clone().map_err(|_| ()));
            prop_assert_eq!(check_xref(v.as_bytes()), slow);
        }

        #[test]
        fn parse_of_print(host in "[a-z][a-z0-9.-]{0,20}",
                          locs in proptest::collection::vec(("[a-z]{1,8}(\\.[a-z0-9]{1,8}){0,3}", 0u64..u64::MAX / 10), 1..8)) {
            let pairs: Vec<(&str, u64)> = locs.iter().map(|(g, n)| (g.as_str(), *n)).collect();
            let s = format_xref(&host, &pairs);
            let x = Xref::parse(s.as_bytes()).unwrap();
            prop_assert_eq!(x.to_string(), s);
            prop_assert_eq!(x.locations.len(), locs.len());
        }
    }
}
