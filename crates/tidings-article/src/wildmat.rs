//! Wildmat patterns (RFC 3977 §4) with INN's extensions.
//!
//! RFC 3977 defines `*` (any run of characters, possibly empty), `?` (exactly one
//! character; one UTF-8 character, not one octet) and comma-separated lists of patterns
//! in which a pattern may be negated with a leading `!`; the **last** pattern that
//! matches decides (a plain pattern means "match", a negated one "no match"; no
//! matching pattern means "no match").
//!
//! As in INN's uwildmat, this implementation also supports:
//! * character sets `[...]` with ranges `a-z` and negation `[^...]` or `[!...]`; a `]`
//!   right after the opening bracket (or after the negation mark) is literal; commas
//!   inside a set do not split patterns;
//! * `\` escaping the next character (so `\*`, `\,`, `\[`, `\!` are literals);
//! * ASCII whitespace around each pattern of the list is ignored, so `*, !junk` is the
//!   list `*` and `!junk` (RFC 3977 wildmats cannot contain spaces; an escaped one,
//!   `\ `, is kept);
//! * "poison" patterns starting with `@` (INN newsfeeds): for a single name `@pat` is
//!   like `!pat`, but for an article posted to several groups (see
//!   [`Wildmat::matches_groups`]) one group whose last matching pattern is `@pat`
//!   rejects the whole article.
//!
//! Matching is `O(len(pattern) × len(text))` at worst (no exponential backtracking).

use std::fmt;

/// Why a wildmat could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WildmatError {
    /// The whole wildmat, or one pattern of the list, is empty.
    #[error("empty pattern in wildmat")]
    EmptyPattern,
    /// A `[` set is not closed.
    #[error("unclosed '[' in wildmat")]
    UnclosedSet,
    /// The wildmat ends with a lone `\`.
    #[error("trailing backslash in wildmat")]
    TrailingBackslash,
}

/// How a pattern of the list acts when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternKind {
    /// Plain pattern: match.
    Include,
    /// `!pattern`: no match.
    Exclude,
    /// `@pattern`: no match, and poisons a multi-group article.
    Poison,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Any,
    Star,
    Set {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Tok {
    fn matches(&self, c: char) -> bool {
        match self {
            Tok::Lit(l) => *l == c,
            Tok::Any => true,
            Tok::Star => false,
            Tok::Set { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    kind: PatternKind,
    toks: Vec<Tok>,
}

/// A compiled wildmat: a list of patterns. Parse once, match many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wildmat {
    source: String,
    patterns: Vec<Pattern>,
}

fn parse_set(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Tok, WildmatError> {
    let mut negated = false;
    if matches!(chars.peek(), Some('^') | Some('!')) {
        negated = true;
        chars.next();
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = match chars.next() {
            None => return Err(WildmatError::UnclosedSet),
            Some(']') if !first => break,
            Some('\\') => chars.next().ok_or(WildmatError::TrailingBackslash)?,
            Some(c) => c,
        };
        first = false;
        // Range "c-d" unless '-' is last before ']'.
        let mut lookahead = chars.clone();
        if lookahead.next() == Some('-') && !matches!(lookahead.peek(), Some(']') | None) {
            chars.next();
            let hi = match chars.next() {
                Some('\\') => chars.next().ok_or(WildmatError::TrailingBackslash)?,
                Some(h) => h,
                None => return Err(WildmatError::UnclosedSet),
            };
            ranges.push((c, hi));
        } else {
            ranges.push((c, c));
        }
    }
    Ok(Tok::Set { negated, ranges })
}

fn match_toks(toks: &[Tok], s: &str) -> bool {
    let (mut ti, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        let rest = s.get(si..).unwrap_or_default();
        match toks.get(ti) {
            Some(Tok::Star) => {
                // Collapse runs of stars.
                star = Some((ti + 1, si));
                ti += 1;
                continue;
            }
            Some(t) => {
                if let Some(c) = rest.chars().next()
                    && t.matches(c)
                {
                    ti += 1;
                    si += c.len_utf8();
                    continue;
                }
            }
            None if rest.is_empty() => return true,
            None => {}
        }
        // Mismatch: let the last star absorb one more character.
        match star {
            Some((sti, ssi)) => match s.get(ssi..).and_then(|r| r.chars().next()) {
                Some(c) => {
                    let ns = ssi + c.len_utf8();
                    star = Some((sti, ns));
                    ti = sti;
                    si = ns;
                }
                None => return false,
            },
            None => return false,
        }
    }
}

impl Wildmat {
    /// Compiles a wildmat such as `comp.*,!comp.lang.*,@alt.binaries.*` (whitespace
    /// around each pattern is ignored: `comp.*, !comp.lang.*`).
    pub fn parse(s: &str) -> Result<Self, WildmatError> {
        let mut patterns = Vec::new();
        let mut chars = s.chars().peekable();
        loop {
            while chars.next_if(char::is_ascii_whitespace).is_some() {}
            let kind = match chars.peek() {
                Some('!') => {
                    chars.next();
                    PatternKind::Exclude
                }
                Some('@') => {
                    chars.next();
                    PatternKind::Poison
                }
                _ => PatternKind::Include,
            };
            let mut toks = Vec::new();
            let mut more = false;
            // Unescaped whitespace literals at the end of `toks`, dropped at the comma.
            let mut trailing_ws = 0;
            while let Some(c) = chars.next() {
                let t = match c {
                    ',' => {
                        more = true;
                        break;
                    }
                    '*' => {
                        if toks.last() == Some(&Tok::Star) {
                            continue;
                        }
                        Tok::Star
                    }
                    '?' => Tok::Any,
                    '[' => parse_set(&mut chars)?,
                    '\\' => Tok::Lit(chars.next().ok_or(WildmatError::TrailingBackslash)?),
                    c => Tok::Lit(c),
                };
                // `c` is the unescaped character (an escape is `\\`, a set `[`).
                trailing_ws = if c.is_ascii_whitespace() {
                    trailing_ws + 1
                } else {
                    0
                };
                toks.push(t);
            }
            toks.truncate(toks.len() - trailing_ws);
            if toks.is_empty() {
                return Err(WildmatError::EmptyPattern);
            }
            patterns.push(Pattern { kind, toks });
            if !more {
                break;
            }
        }
        Ok(Wildmat {
            source: s.to_owned(),
            patterns,
        })
    }

    /// The kind of the last pattern matching `s`, if any.
    pub fn last_match(&self, s: &str) -> Option<PatternKind> {
        self.patterns
            .iter()
            .rev()
            .find(|p| match_toks(&p.toks, s))
            .map(|p| p.kind)
    }

    /// Whether `s` matches: the last matching pattern is a plain one.
    pub fn matches(&self, s: &str) -> bool {
        self.last_match(s) == Some(PatternKind::Include)
    }

    /// Feed matching for an article posted to `groups` (INN newsfeeds semantics): true
    /// if at least one group matches, unless some group's last matching pattern is a
    /// poison (`@`) pattern, which rejects the article whatever the other groups do.
    pub fn matches_groups(&self, groups: &[&str]) -> bool {
        let mut wanted = false;
        for g in groups {
            match self.last_match(g) {
                Some(PatternKind::Poison) => return false,
                Some(PatternKind::Include) => wanted = true,
                _ => {}
            }
        }
        wanted
    }

    /// The source text the wildmat was compiled from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Number of patterns in the list.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Always false: a compiled wildmat has at least one pattern.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

impl fmt::Display for Wildmat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for Wildmat {
    type Err = WildmatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Wildmat::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(p: &str, s: &str) -> bool {
        Wildmat::parse(p).unwrap().matches(s)
    }

    #[test]
    fn rfc3977_examples() {
        // RFC 3977 §4.4 examples.
        let w = Wildmat::parse("a*,!*b,*c*").unwrap();
        assert!(w.matches("aaa"));
        assert!(!w.matches("abb"));
        assert!(w.matches("ccb"));
        assert!(!w.matches("xxx"));
        assert!(m("*", ""));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("a?c", "aéc"), "? matches one UTF-8 character");
        assert!(!m("a??c", "aéc"));
        assert!(m("comp.*", "comp.lang.rust"));
        assert!(!m("comp.*", "comp"));
        assert!(m("*.rust", "comp.lang.rust"));
        assert!(m("a*b*c", "aXXbYYbZc"));
        assert!(!m("a*b*c", "aXXbYYbZ"));
    }

    #[test]
    fn last_match_wins() {
        assert!(!m("comp.*,!comp.lang.*", "comp.lang.c"));
        assert!(m("comp.*,!comp.lang.*,comp.lang.rust", "comp.lang.rust"));
        assert!(!m("!comp.*", "comp.x"));
        assert!(!m("@comp.*", "comp.x"));
    }

    #[test]
    fn inn_extensions() {
        assert!(m("[abc]x", "bx"));
        assert!(!m("[abc]x", "dx"));
        assert!(m("[a-c]", "b"));
        assert!(m("[^a-c]", "d"));
        assert!(m("[!a-c]", "d"));
        assert!(!m("[^a-c]", "a"));
        assert!(m("[]]", "]"));
        assert!(m("[a-]", "-"));
        assert!(m("[a,b]", ","), "comma in a set is literal");
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "x"));
        assert!(m("a\\,b", "a,b"));
        assert!(m("[é-ë]", "ê"));
    }

    #[test]
    fn errors() {
        assert_eq!(Wildmat::parse(""), Err(WildmatError::EmptyPattern));
        assert_eq!(Wildmat::parse("a,,b"), Err(WildmatError::EmptyPattern));
        assert_eq!(Wildmat::parse("a,"), Err(WildmatError::EmptyPattern));
        assert_eq!(Wildmat::parse("!"), Err(WildmatError::EmptyPattern));
        assert_eq!(Wildmat::parse("[ab"), Err(WildmatError::UnclosedSet));
        assert_eq!(Wildmat::parse("ab\\"), Err(WildmatError::TrailingBackslash));
        let w = Wildmat::parse("a,!b,@c").unwrap();
        assert_eq!(w.len(), 3);
        assert_eq!(w.to_string(), "a,!b,@c");
    }

    #[test]
    fn poison() {
        let w = Wildmat::parse("*,@alt.binaries.*,!junk").unwrap();
        assert!(w.matches_groups(&["misc.test", "comp.x"]));
        assert!(!w.matches_groups(&["misc.test", "alt.binaries.pictures"]));
        assert!(
            w.matches_groups(&["misc.test", "junk"]),
            "! only excludes that group"
        );
        assert!(!w.matches_groups(&["junk"]));
        assert!(!w.matches_groups(&[]));
        let w = Wildmat::parse("comp.*,alt.*,!alt.sex.*").unwrap();
        assert!(w.matches_groups(&["alt.sex.x", "comp.y"]));
    }

    #[test]
    fn whitespace_around_patterns_is_ignored() {
        // A peer's `groups = "*, !junk"`: the exclusion must work.
        let w = Wildmat::parse("*, !junk").unwrap();
        assert_eq!(w.len(), 2);
        assert!(w.matches("misc.test"));
        assert!(!w.matches("junk"));
        assert_eq!(w.last_match("junk"), Some(PatternKind::Exclude));
        let w = Wildmat::parse(" comp.* ,\t@alt.binaries.* , !comp.lang.* ").unwrap();
        assert!(w.matches("comp.x"));
        assert!(!w.matches("comp.lang.c"));
        assert!(!w.matches_groups(&["comp.x", "alt.binaries.x"]));
        assert!(!w.matches(" comp.x"));
        // Whitespace inside a pattern, escaped or in a set, stays.
        assert!(m("a b", "a b"));
        assert!(m("a\\ ", "a "));
        assert!(!m("a\\ ", "a"));
        assert!(m("a[ ]", "a "));
        assert_eq!(Wildmat::parse("a, ,b"), Err(WildmatError::EmptyPattern));
        assert_eq!(Wildmat::parse("  "), Err(WildmatError::EmptyPattern));
        assert_eq!(Wildmat::parse("a, ! "), Err(WildmatError::EmptyPattern));
    }

    #[test]
    fn pathological_is_fast() {
        let p = "*a*a*a*a*a*a*a*a*a*a*a*a*b";
        let s = "a".repeat(200);
        assert!(!m(p, &s));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn literal_matches_itself(s in "[a-z.]{1,20}") {
            prop_assert!(m(&s, &s));
            prop_assert!(m("*", &s));
            let q: String = s.chars().map(|_| '?').collect();
            prop_assert!(m(&q, &s));
        }

        #[test]
        fn never_panics(p in "[a-c*?!@,\\[\\]^\\\\-]{0,12}", s in "[a-cé]{0,10}") {
            if let Ok(w) = Wildmat::parse(&p) {
                let _ = w.matches(&s);
                let _ = w.matches_groups(&[&s, "a"]);
            }
        }
    }
}
