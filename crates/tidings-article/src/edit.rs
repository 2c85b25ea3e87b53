//! Editing header fields of a raw article: prepend, append, replace, remove.
//!
//! Every function returns a new article in which all bytes that are not part of the
//! edited fields are kept exactly. New fields use the article's line ending (CRLF, or
//! LF if the article's first header line ends in a bare LF).

use crate::headers::{HeaderError, Headers};

/// Why an edit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The article's headers do not parse.
    #[error("malformed headers: {0}")]
    Headers(#[from] HeaderError),
    /// The header name is empty or not printable US-ASCII without `:`.
    #[error("invalid header name")]
    BadName,
    /// The value contains a CR or LF that is not part of a fold (CRLF + SP/HTAB), or
    /// ends with a line break.
    #[error("invalid header value (stray line break)")]
    BadValue,
}

fn check_name(name: &str) -> Result<(), EditError> {
    let b = name.as_bytes();
    if b.is_empty() || !b.iter().all(|&c| (33..=126).contains(&c) && c != b':') {
        return Err(EditError::BadName);
    }
    Ok(())
}

fn check_value(v: &[u8]) -> Result<(), EditError> {
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'\r' => {
                if v.get(i + 1) != Some(&b'\n') {
                    return Err(EditError::BadValue);
                }
                i += 1;
                continue;
            }
            b'\n' if !matches!(v.get(i + 1), Some(b' ' | b'\t')) => {
                return Err(EditError::BadValue);
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn eol_of(h: &Headers<'_>) -> &'static [u8] {
    match h.field_at(0).map(|f| f.raw()) {
        Some(raw) if raw.ends_with(b"\n") && !raw.ends_with(b"\r\n") => b"\n",
        _ => b"\r\n",
    }
}

fn write_field(out: &mut Vec<u8>, name: &str, value: &[u8], eol: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(eol);
}

/// Inserts `name: value` as the first header field.
pub fn prepend_header(article: &[u8], name: &str, value: &[u8]) -> Result<Vec<u8>, EditError> {
    check_name(name)?;
    check_value(value)?;
    let h = Headers::parse(article)?;
    let mut out = Vec::with_capacity(article.len() + name.len() + value.len() + 4);
    write_field(&mut out, name, value, eol_of(&h));
    out.extend_from_slice(article);
    Ok(out)
}

/// Inserts `name: value` as the last header field (before the empty line).
pub fn append_header(article: &[u8], name: &str, value: &[u8]) -> Result<Vec<u8>, EditError> {
    check_name(name)?;
    check_value(value)?;
    let h = Headers::parse(article)?;
    let eol = eol_of(&h);
    let end = h.raw_range(h.len().saturating_sub(1)).map_or(0, |r| r.end);
    let mut out = Vec::with_capacity(article.len() + name.len() + value.len() + 6);
    out.extend_from_slice(article.get(..end).unwrap_or_default());
    if !out.ends_with(b"\n") {
        out.extend_from_slice(eol);
    }
    write_field(&mut out, name, value, eol);
    out.extend_from_slice(article.get(end..).unwrap_or_default());
    Ok(out)
}

/// Copies `article`, replacing each field named `name` by `replacement(index)` (its
/// occurrence number, 0-based) — `None` removes it.
fn rewrite(
    article: &[u8],
    h: &Headers<'_>,
    name: &str,
    mut replacement: impl FnMut(usize, &mut Vec<u8>) -> bool,
) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(article.len() + 64);
    let mut copied = 0;
    let mut occurrences = 0;
    for (i, f) in h.iter().enumerate() {
        if !f.name_is(name) {
            continue;
        }
        let Some(r) = h.raw_range(i) else { continue };
        out.extend_from_slice(article.get(copied..r.start).unwrap_or_default());
        let had_eol = f.raw().ends_with(b"\n");
        let before = out.len();
        if replacement(occurrences, &mut out) && !had_eol && out.len() > before {
            // The replaced field was the last line without terminator: drop the eol we wrote.
            while out.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                out.pop();
            }
        }
        occurrences += 1;
        copied = r.end;
    }
    out.extend_from_slice(article.get(copied..).unwrap_or_default());
    (out, occurrences)
}

/// Removes every field named `name` (case-insensitive).
pub fn remove_header(article: &[u8], name: &str) -> Result<Vec<u8>, EditError> {
    check_name(name)?;
    let h = Headers::parse(article)?;
    Ok(rewrite(article, &h, name, |_, _| false).0)
}

/// Sets `name` to `value`: the first field named `name` is replaced in place (written
/// with the given spelling of `name`), any further ones are removed; if there is none,
/// the field is appended after the last header field.
pub fn set_header(article: &[u8], name: &str, value: &[u8]) -> Result<Vec<u8>, EditError> {
    check_name(name)?;
    check_value(value)?;
    let h = Headers::parse(article)?;
    let eol = eol_of(&h);
    let (out, n) = rewrite(article, &h, name, |i, out| {
        if i == 0 {
            write_field(out, name, value, eol);
        }
        true
    });
    if n == 0 {
        return append_header(article, name, value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ART: &[u8] = b"Path: a!b\r\nSubject: s\r\n  folded\r\nX-Dup: 1\r\nFrom: f@x\r\nx-dup: 2\r\n\r\nbody \xff\r\nX-Dup: not a header\r\n";

    #[test]
    fn prepend_append() {
        let a = prepend_header(ART, "Injection-Info", b"news.example; posting-host=\"x\"").unwrap();
        assert!(
            a.starts_with(b"Injection-Info: news.example; posting-host=\"x\"\r\nPath: a!b\r\n")
        );
        assert_eq!(&a[a.len() - ART.len()..], ART);
        let b = append_header(ART, "Xref", b"h misc.test:1").unwrap();
        let h = Headers::parse(&b).unwrap();
        assert_eq!(
            h.field_at(h.len() - 1).unwrap().raw(),
            b"Xref: h misc.test:1\r\n"
        );
        assert_eq!(h.body(), b"body \xff\r\nX-Dup: not a header\r\n");
        let c = append_header(b"A: 1", "B", b"2").unwrap();
        assert_eq!(c, b"A: 1\r\nB: 2\r\n");
        let d = prepend_header(b"A: 1\n\nbody", "B", b"2").unwrap();
        assert_eq!(d, b"B: 2\nA: 1\n\nbody");
    }

    #[test]
    fn set_and_remove() {
        let a = set_header(ART, "Subject", b"new").unwrap();
        assert_eq!(a, b"Path: a!b\r\nSubject: new\r\nX-Dup: 1\r\nFrom: f@x\r\nx-dup: 2\r\n\r\nbody \xff\r\nX-Dup: not a header\r\n");
        let b = set_header(ART, "x-dup", b"3").unwrap();
        assert_eq!(b, b"Path: a!b\r\nSubject: s\r\n  folded\r\nx-dup: 3\r\nFrom: f@x\r\n\r\nbody \xff\r\nX-Dup: not a header\r\n");
        let c = remove_header(ART, "X-DUP").unwrap();
        assert_eq!(c, b"Path: a!b\r\nSubject: s\r\n  folded\r\nFrom: f@x\r\n\r\nbody \xff\r\nX-Dup: not a header\r\n");
        let d = set_header(ART, "Xref", b"h a:1").unwrap();
        assert_eq!(Headers::parse(&d).unwrap().get("xref"), Some(&b"h a:1"[..]));
        assert_eq!(
            set_header(b"A: 1\r\nB: 2", "B", b"3").unwrap(),
            b"A: 1\r\nB: 3"
        );
        assert_eq!(remove_header(ART, "Nope").unwrap(), ART);
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(set_header(ART, "Bad Name", b"x"), Err(EditError::BadName));
        assert_eq!(set_header(ART, "", b"x"), Err(EditError::BadName));
        assert_eq!(set_header(ART, "A", b"x\r\ny: z"), Err(EditError::BadValue));
        assert_eq!(set_header(ART, "A", b"x\r"), Err(EditError::BadValue));
        assert_eq!(set_header(ART, "A", b"x\r\n"), Err(EditError::BadValue));
        assert!(set_header(ART, "A", b"x\r\n y").is_ok());
        assert!(matches!(
            set_header(b"nocolon\r\n", "A", b"x"),
            Err(EditError::Headers(_))
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn edits_keep_other_bytes(
            fields in proptest::collection::vec(("[A-Z][a-z]{0,6}", proptest::collection::vec(32u8..=255, 0..20)), 1..8),
            body in proptest::collection::vec(any::<u8>(), 0..50),
            value in "[ -~]{0,20}",
        ) {
            let mut art = Vec::new();
            for (n, v) in &fields {
                art.extend_from_slice(n.as_bytes());
                art.extend_from_slice(b": ");
                art.extend_from_slice(v);
                art.extend_from_slice(b"\r\n");
            }
            art.extend_from_slice(b"\r\n");
            art.extend_from_slice(&body);
            let target = "X-Target";
            // Removing a header that is not there is the identity.
            prop_assert_eq!(remove_header(&art, target).unwrap(), art.clone());
            // Set then remove gives back the original.
            let set = set_header(&art, target, value.as_bytes()).unwrap();
            prop_assert_eq!(remove_header(&set, target).unwrap(), art.clone());
            let pre = prepend_header(&art, target, value.as_bytes()).unwrap();
            prop_assert!(pre.ends_with(&art));
            prop_assert_eq!(remove_header(&pre, target).unwrap(), art.clone());
            let h = Headers::parse(&set).unwrap();
            prop_assert_eq!(h.body(), &body[..]);
        }
    }
}
