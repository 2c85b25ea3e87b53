//! Newsgroup names (RFC 5536 §3.1.4) and the Newsgroups / Followup-To lists.
//!
//! RFC 5536's grammar allows only ASCII letters, digits, `+`, `-` and `_` in a component;
//! components are separated by single dots. [`GroupName::parse`] follows that grammar.
//! RFC 3977 allows UTF-8 group names on the wire and some hierarchies use them, so
//! [`GroupName::parse_utf8`] additionally accepts any non-ASCII character in a component.
//! Neither checks the advisory rules (length ≤ 80, no all-digit component, reserved
//! names like `all` or `ctl`): those are policy, not syntax.

use std::fmt;
use std::str::FromStr;

use crate::ascii::{ALNUM, PMU, has_class};
use crate::headers::trim_ws;

/// Why a newsgroup name or list was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupNameError {
    /// The name is empty.
    #[error("empty newsgroup name")]
    Empty,
    /// Two dots in a row, or a leading / trailing dot.
    #[error("empty component in newsgroup name")]
    EmptyComponent,
    /// A character outside letters, digits, `+`, `-`, `_` and `.`.
    #[error("invalid character in newsgroup name")]
    BadChar,
    /// The list has an empty element (e.g. `a,,b` or a trailing comma) or no element.
    #[error("empty element in newsgroup list")]
    EmptyListElement,
}

/// A valid newsgroup name such as `comp.lang.rust`. Case is preserved and significant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupName(Box<str>);

fn is_component_char(b: u8) -> bool {
    has_class(b, ALNUM | PMU)
}

fn check(name: &[u8], allow_utf8: bool) -> Result<(), GroupNameError> {
    if name.is_empty() {
        return Err(GroupNameError::Empty);
    }
    let mut prev_dot = true;
    for &b in name {
        if is_component_char(b) || (allow_utf8 && b >= 0x80) {
            prev_dot = false;
        } else if b == b'.' {
            if prev_dot {
                return Err(GroupNameError::EmptyComponent);
            }
            prev_dot = true;
        } else {
            return Err(GroupNameError::BadChar);
        }
    }
    if prev_dot {
        return Err(GroupNameError::EmptyComponent);
    }
    if allow_utf8 && std::str::from_utf8(name).is_err() {
        return Err(GroupNameError::BadChar);
    }
    Ok(())
}

/// Checks a name against the RFC 5536 grammar without allocating.
pub fn check_group_name(name: &[u8]) -> Result<(), GroupNameError> {
    check(name, false)
}

impl GroupName {
    /// Parses a name following RFC 5536 §3.1.4 (ASCII only).
    pub fn parse(s: &str) -> Result<Self, GroupNameError> {
        check(s.as_bytes(), false)?;
        Ok(GroupName(s.into()))
    }

    /// Parses a name allowing, in addition, UTF-8 non-ASCII characters in components
    /// (RFC 3977 wire form). Invalid UTF-8 is rejected.
    pub fn parse_utf8(s: &str) -> Result<Self, GroupNameError> {
        check(s.as_bytes(), true)?;
        Ok(GroupName(s.into()))
    }

    /// Parses an RFC 5536 name from bytes.
    pub fn parse_bytes(s: &[u8]) -> Result<Self, GroupNameError> {
        check(s, false)?;
        std::str::from_utf8(s)
            .map(|v| GroupName(v.into()))
            .map_err(|_| GroupNameError::BadChar)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The dot-separated components.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for GroupName {
    type Err = GroupNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GroupName::parse(s)
    }
}

impl AsRef<str> for GroupName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Splits a comma-separated list value (Newsgroups, Followup-To, Distribution) into
/// trimmed elements. Whitespace (including folding) around elements is tolerated.
pub fn split_list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim_ws)
}

/// End of the newsgroup name (RFC 5536 grammar) that starts at `v[i]`: the index of the
/// first byte after it that is neither a component character nor `.`. `None` if the
/// bytes up to there are not a valid name (empty, or an empty component).
#[inline]
pub(crate) fn group_end(v: &[u8], mut i: usize) -> Option<usize> {
    let mut prev_dot = true;
    while let Some(&b) = v.get(i) {
        if is_component_char(b) {
            prev_dot = false;
        } else if b == b'.' {
            if prev_dot {
                return None;
            }
            prev_dot = true;
        } else {
            break;
        }
        i += 1;
    }
    (!prev_dot).then_some(i)
}

/// [`check_newsgroups`] for lists that pass: `Some(count)` only where it returns
/// `Ok(count)`; `None` sends the caller to the full check.
fn check_newsgroups_fast(v: &[u8]) -> Option<usize> {
    let skip_ws = |mut i: usize| {
        while v.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    let mut n = 0;
    let mut i = 0;
    loop {
        i = skip_ws(group_end(v, skip_ws(i))?);
        n += 1;
        match v.get(i) {
            None => return Some(n),
            Some(b',') => i += 1,
            Some(_) => return None,
        }
    }
}

/// Validates a Newsgroups value without allocating; returns the number of groups.
pub fn check_newsgroups(value: &[u8]) -> Result<usize, GroupNameError> {
    if let Some(n) = check_newsgroups_fast(value) {
        return Ok(n);
    }
    let mut n = 0;
    for g in split_list(value) {
        if g.is_empty() {
            return Err(GroupNameError::EmptyListElement);
        }
        check(g, false)?;
        n += 1;
    }
    Ok(n)
}

/// Parses a Newsgroups (or Followup-To other than `poster`) header value into names.
pub fn parse_newsgroups(value: &[u8]) -> Result<Vec<GroupName>, GroupNameError> {
    let mut out = Vec::new();
    for g in split_list(value) {
        if g.is_empty() {
            return Err(GroupNameError::EmptyListElement);
        }
        out.push(GroupName::parse_bytes(g)?);
    }
    if out.is_empty() {
        return Err(GroupNameError::EmptyListElement);
    }
    Ok(out)
}

/// A parsed Followup-To value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowupTo {
    /// The keyword `poster`: replies go by e-mail.
    Poster,
    /// Followups go to these groups.
    Groups(Vec<GroupName>),
}

/// Parses a Followup-To value (RFC 5536 §3.2.6): `poster` or a newsgroup list.
pub fn parse_followup_to(value: &[u8]) -> Result<FollowupTo, GroupNameError> {
    if trim_ws(value) == b"poster" {
        Ok(FollowupTo::Poster)
    } else {
        parse_newsgroups(value).map(FollowupTo::Groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names() {
        for ok in [
            "comp.lang.rust",
            "alt.binaries.x-y_z",
            "a",
            "de.alt.c++",
            "misc.test",
        ] {
            assert_eq!(GroupName::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(GroupName::parse(""), Err(GroupNameError::Empty));
        assert_eq!(
            GroupName::parse("a..b"),
            Err(GroupNameError::EmptyComponent)
        );
        assert_eq!(GroupName::parse(".a"), Err(GroupNameError::EmptyComponent));
        assert_eq!(GroupName::parse("a."), Err(GroupNameError::EmptyComponent));
        assert_eq!(GroupName::parse("a b"), Err(GroupNameError::BadChar));
        assert_eq!(GroupName::parse("a*b"), Err(GroupNameError::BadChar));
        assert_eq!(GroupName::parse("de.größe"), Err(GroupNameError::BadChar));
        assert!(GroupName::parse_utf8("de.größe").is_ok());
        assert_eq!(
            GroupName::parse_bytes(b"a.\xff"),
            Err(GroupNameError::BadChar)
        );
        let g = GroupName::parse("a.b.c").unwrap();
        assert_eq!(g.components().collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn lists() {
        let v = parse_newsgroups(b"misc.test, alt.test ,\r\n comp.x").unwrap();
        assert_eq!(
            v.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
            ["misc.test", "alt.test", "comp.x"]
        );
        assert_eq!(
            parse_newsgroups(b"a,,b"),
            Err(GroupNameError::EmptyListElement)
        );
        assert_eq!(
            parse_newsgroups(b"a,"),
            Err(GroupNameError::EmptyListElement)
        );
        assert_eq!(parse_newsgroups(b""), Err(GroupNameError::EmptyListElement));
        assert_eq!(check_newsgroups(b"a.b,c"), Ok(2));
        assert_eq!(parse_followup_to(b" poster ").unwrap(), FollowupTo::Poster);
        assert!(
            matches!(parse_followup_to(b"a.b").unwrap(), FollowupTo::Groups(g) if g.len() == 1)
        );
    }

    fn check_newsgroups_slow(value: &[u8]) -> Result<usize, GroupNameError> {
        let mut n = 0;
        for g in split_list(value) {
            if g.is_empty() {
                return Err(GroupNameError::EmptyListElement);
            }
            check(g, false)?;
            n += 1;
        }
        Ok(n)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn fast_list_check_agrees(v in "[a.,: \t\r\n+_-]{0,24}") {
            let fast = check_newsgroups_fast(v.as_bytes());
            let slow = check_newsgroups_slow(v.as_bytes());
            if let Some(n) = fast {
                prop_assert_eq!(Ok(n), slow.clone(), "{:?}", v);
            }
            prop_assert_eq!(check_newsgroups(v.as_bytes()), slow);
        }

        #[test]
        fn parse_of_display(s in "[a-z0-9+_-]{1,10}(\\.[a-zA-Z0-9+_-]{1,10}){0,5}") {
            let g = GroupName::parse(&s).unwrap();
            prop_assert_eq!(GroupName::parse(&format!("{g}")).unwrap(), g);
        }

        #[test]
        fn list_round_trip(v in proptest::collection::vec("[a-z]{1,8}(\\.[a-z0-9]{1,8}){0,3}", 1..6)) {
            let joined = v.join(",");
            let parsed = parse_newsgroups(joined.as_bytes()).unwrap();
            prop_assert_eq!(parsed.iter().map(|g| g.as_str().to_string()).collect::<Vec<_>>(), v);
        }
    }
}
