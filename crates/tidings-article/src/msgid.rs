//! Message-IDs: the NNTP look-up form (RFC 3977 §3.6) and the strict form that new
//! articles must use (RFC 5536 §3.1.3).

use crate::ascii::{ALNUM, ATEXT_SYM, all_bytes, has_class, is_vchar};
use std::fmt;
use std::str::FromStr;

/// Maximum length of a message-id in octets, angle brackets included (RFC 3977 §3.6,
/// RFC 5536 §3.1.3).
pub const MAX_MESSAGE_ID_LEN: usize = 250;

/// Why a message-id was rejected. Display gives a reason a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageIdError {
    /// Not enclosed in `<` and `>`, or nothing between them.
    #[error("must be of the form <...>")]
    Brackets,
    /// Longer than 250 octets.
    #[error("longer than 250 octets")]
    TooLong,
    /// A byte outside printable US-ASCII, or a `>` inside.
    #[error("contains a character outside printable US-ASCII or a '>' inside")]
    BadChar,
    /// Strict form: no `@` separating id-left and id-right.
    #[error("no '@' between left and right parts")]
    NoAt,
    /// Strict form: the part before `@` is not a dot-atom-text.
    #[error("left part is not a dot-atom")]
    BadLeft,
    /// Strict form: the part after `@` is neither a dot-atom-text nor a `[...]` literal.
    #[error("right part is not a dot-atom or [literal]")]
    BadRight,
}

/// A syntactically valid message-id, including its angle brackets. Compared byte-wise
/// (message-ids are case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(Box<str>);

/// RFC 5322 atext.
pub(crate) fn is_atext(b: u8) -> bool {
    has_class(b, ALNUM | ATEXT_SYM)
}

/// RFC 5322 dot-atom-text: `1*atext *("." 1*atext)`.
pub(crate) fn is_dot_atom_text(s: &[u8]) -> bool {
    !s.is_empty()
        && s.split(|&b| b == b'.')
            .all(|p| !p.is_empty() && p.iter().all(|&b| is_atext(b)))
}

/// Checks the RFC 3977 §3.6 look-up form without allocating.
pub fn check_lookup(s: &[u8]) -> Result<(), MessageIdError> {
    if s.len() > MAX_MESSAGE_ID_LEN {
        return Err(MessageIdError::TooLong);
    }
    let inner = match s {
        [b'<', inner @ .., b'>'] if !inner.is_empty() => inner,
        _ => return Err(MessageIdError::Brackets),
    };
    if all_bytes(inner, |b| is_vchar(b) & (b != b'>')) {
        Ok(())
    } else {
        Err(MessageIdError::BadChar)
    }
}

/// Checks the strict RFC 5536 §3.1.3 form (`<id-left@id-right>`) without allocating.
pub fn check_strict(s: &[u8]) -> Result<(), MessageIdError> {
    check_lookup(s)?;
    let inner = s.get(1..s.len() - 1).unwrap_or_default();
    // id-left is a dot-atom-text, which cannot contain '@', so split at the first '@'.
    let at = inner
        .iter()
        .position(|&b| b == b'@')
        .ok_or(MessageIdError::NoAt)?;
    let (left, right) = (&inner[..at], &inner[at + 1..]);
    if !is_dot_atom_text(left) {
        return Err(MessageIdError::BadLeft);
    }
    let right_ok = match right {
        [b'[', lit @ .., b']'] => lit
            .iter()
            .all(|&b| (0x21..=0x7e).contains(&b) && !b"[]\\>".contains(&b)),
        _ => is_dot_atom_text(right),
    };
    if right_ok {
        Ok(())
    } else {
        Err(MessageIdError::BadRight)
    }
}

impl MessageId {
    /// Parses the look-up form of RFC 3977 §3.6: `<`, one or more printable US-ASCII
    /// characters (0x21–0x7E) other than `>`, `>`; at most 250 octets in all. This is
    /// what a server must accept in ARTICLE/IHAVE/etc. Surrounding whitespace is not
    /// accepted.
    pub fn parse(s: &str) -> Result<Self, MessageIdError> {
        check_lookup(s.as_bytes())?;
        Ok(MessageId(s.into()))
    }

    /// Like [`MessageId::parse`] but from bytes (a header value or a command argument).
    pub fn parse_bytes(s: &[u8]) -> Result<Self, MessageIdError> {
        check_lookup(s)?;
        // check_lookup guarantees ASCII.
        std::str::from_utf8(s)
            .map(|v| MessageId(v.into()))
            .map_err(|_| MessageIdError::BadChar)
    }

    /// Parses the strict form new articles must use (RFC 5536 §3.1.3):
    /// `<id-left@id-right>` where id-left is a dot-atom-text and id-right a dot-atom-text
    /// or a `[no-fold-literal]`, at most 250 octets.
    pub fn parse_strict(s: &str) -> Result<Self, MessageIdError> {
        check_strict(s.as_bytes())?;
        Ok(MessageId(s.into()))
    }

    /// The message-id with its angle brackets.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The message-id as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Whether this id also satisfies the strict RFC 5536 form.
    pub fn is_strict(&self) -> bool {
        check_strict(self.0.as_bytes()).is_ok()
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for MessageId {
    type Err = MessageIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MessageId::parse(s)
    }
}

impl AsRef<str> for MessageId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Splits a References-like value (message-ids separated by whitespace, possibly with
/// comments or junk between them) into the `<...>` tokens it contains, in order.
/// Returns `None` if a `<` is not closed. Tokens are not validated.
pub fn split_msgids(value: &[u8]) -> impl Iterator<Item = Option<&[u8]>> {
    let mut rest = value;
    std::iter::from_fn(move || {
        let lt = rest.iter().position(|&b| b == b'<')?;
        let after = &rest[lt..];
        match after.iter().position(|&b| b == b'>') {
            Some(gt) => {
                let tok = &after[..=gt];
                rest = &after[gt + 1..];
                Some(Some(tok))
            }
            None => {
                rest = &[];
                Some(None)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lookup_form() {
        assert!(MessageId::parse("<foo>").is_ok());
        assert!(MessageId::parse("<a@b.c>").is_ok());
        assert!(MessageId::parse("<\"weird\"[]@>").is_ok());
        assert_eq!(MessageId::parse("<>"), Err(MessageIdError::Brackets));
        assert_eq!(MessageId::parse("foo"), Err(MessageIdError::Brackets));
        assert_eq!(MessageId::parse("<a b>"), Err(MessageIdError::BadChar));
        assert_eq!(MessageId::parse("<a>b>"), Err(MessageIdError::BadChar));
        assert_eq!(
            MessageId::parse("<caf\u{e9}>"),
            Err(MessageIdError::BadChar)
        );
        let ok = format!("<{}>", "x".repeat(248));
        assert!(MessageId::parse(&ok).is_ok());
        let long = format!("<{}>", "x".repeat(249));
        assert_eq!(MessageId::parse(&long), Err(MessageIdError::TooLong));
        assert_eq!(
            MessageId::parse_bytes(b"<\xff>"),
            Err(MessageIdError::BadChar)
        );
    }

    #[test]
    fn strict_form() {
        assert!(MessageId::parse_strict("<abc.def@example.com>").is_ok());
        assert!(MessageId::parse_strict("<a+b$c@[127.0.0.1]>").is_ok());
        assert_eq!(MessageId::parse_strict("<foo>"), Err(MessageIdError::NoAt));
        assert_eq!(
            MessageId::parse_strict("<a..b@c>"),
            Err(MessageIdError::BadLeft)
        );
        assert_eq!(
            MessageId::parse_strict("<\"q\"@c>"),
            Err(MessageIdError::BadLeft)
        );
        assert_eq!(
            MessageId::parse_strict("<a@b@c>"),
            Err(MessageIdError::BadRight)
        );
        assert_eq!(
            MessageId::parse_strict("<a@>"),
            Err(MessageIdError::BadRight)
        );
        assert_eq!(
            MessageId::parse_strict("<a@[x\\y]>"),
            Err(MessageIdError::BadRight)
        );
        assert!(!MessageId::parse("<foo>").unwrap().is_strict());
    }

    #[test]
    fn display_eq_ord() {
        let a: MessageId = "<a@x>".parse().unwrap();
        let b = MessageId::parse("<b@x>").unwrap();
        assert_eq!(a.to_string(), "<a@x>");
        assert_eq!(a.as_str(), "<a@x>");
        assert!(a < b);
        assert_ne!(a, MessageId::parse("<A@x>").unwrap());
    }

    #[test]
    fn split_references() {
        let v = b"<a@b> (comment)\r\n <c@d><e@f>";
        let ids: Vec<_> = split_msgids(v).collect();
        assert_eq!(
            ids,
            vec![
                Some(&b"<a@b>"[..]),
                Some(&b"<c@d>"[..]),
                Some(&b"<e@f>"[..])
            ]
        );
        let bad: Vec<_> = split_msgids(b"<a@b> <c").collect();
        assert_eq!(bad, vec![Some(&b"<a@b>"[..]), None]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn parse_of_display(left in "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\\.[a-z0-9]{1,8}){0,3}",
                            right in "[a-z0-9-]{1,20}(\\.[a-z]{2,6}){0,3}") {
            let s = format!("<{left}@{right}>");
            let id = MessageId::parse_strict(&s).unwrap();
            prop_assert_eq!(MessageId::parse_strict(&format!("{id}")).unwrap(), id.clone());
            prop_assert_eq!(MessageId::parse(id.as_str()).unwrap(), id);
        }

        #[test]
        fn lookup_never_panics(s in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = MessageId::parse_bytes(&s);
            let _ = check_strict(&s);
        }
    }
}
