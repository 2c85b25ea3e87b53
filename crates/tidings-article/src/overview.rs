//! Overview data (RFC 3977 §8): the seven standard fields plus `Xref:full`.
//!
//! Field values are bytes (Subject and From are often 8-bit). Each is the header's value
//! with folding removed and every remaining TAB, CR and LF replaced by a single space
//! (RFC 3977 §8.3), with surrounding whitespace trimmed. `:bytes` is the size of the
//! article as given (store articles with CRLF line endings and pass them as stored);
//! `:lines` counts the body's lines.
//!
//! An overview line, as produced by [`Overview::to_line`], is the fields joined by TAB
//! without the leading article number (the server prepends `number\t` for OVER). The
//! Xref field is written as `Xref: value` and omitted when the article has no Xref.

use crate::headers::{HeaderError, Headers, KNOWN_NAMES, trim_ws, unfold};

/// Why an overview line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverviewError {
    /// Fewer than the seven standard fields.
    #[error("overview line has fewer than 7 fields")]
    TooFewFields,
    /// `:bytes`, `:lines` or the article number is not a number.
    #[error("bad number in overview line")]
    BadNumber,
}

/// The overview fields of one article.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Overview {
    /// Subject.
    pub subject: Vec<u8>,
    /// From.
    pub from: Vec<u8>,
    /// Date.
    pub date: Vec<u8>,
    /// Message-ID.
    pub message_id: Vec<u8>,
    /// References.
    pub references: Vec<u8>,
    /// `:bytes`: article size in octets.
    pub bytes: u64,
    /// `:lines`: number of body lines.
    pub lines: u64,
    /// Xref value (without the `Xref: ` name), if the article has one.
    pub xref: Option<Vec<u8>>,
}

/// Cleans a header value for overview: unfold, TAB/CR/LF → space, trim.
pub fn overview_value(value: &[u8]) -> Vec<u8> {
    if memchr::memchr3(b'\t', b'\r', b'\n', value).is_none() {
        return trim_ws(value).to_vec();
    }
    // One buffer: unfold, trim in place, then blank the remaining TAB/CR/LF.
    let mut out = unfold(value).into_owned();
    // As trim_ws.
    let start = out
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(out.len());
    let end = out
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    out.truncate(end);
    out.drain(..start);
    for b in &mut out {
        if *b == b'\t' || *b == b'\r' || *b == b'\n' {
            *b = b' ';
        }
    }
    out
}

/// Number of lines in a body: LF count, plus one for a last line without LF.
pub fn count_lines(body: &[u8]) -> u64 {
    // Sum per chunk in u8 (vectorises well); 240 bytes (a whole number of vectors)
    // cannot overflow a u8.
    let n: u64 = body
        .chunks(240)
        .map(|c| {
            u64::from(
                c.iter()
                    .map(|&b| u8::from(b == b'\n'))
                    .fold(0u8, u8::wrapping_add),
            )
        })
        .sum();
    match body.last() {
        Some(b'\n') | None => n,
        Some(_) => n + 1,
    }
}

fn parse_num(s: &[u8]) -> Result<u64, OverviewError> {
    let s = trim_ws(s);
    if s.is_empty() {
        return Ok(0);
    }
    if s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return Err(OverviewError::BadNumber);
    }
    Ok(s.iter().fold(0u64, |a, &b| a * 10 + u64::from(b - b'0')))
}

impl Overview {
    /// Extracts the overview of a parsed article.
    pub fn from_headers(h: &Headers<'_>) -> Self {
        // One pass over the fields; the first occurrence of each name wins. Slots by
        // index into `KNOWN_NAMES`: Subject, From, Date, Message-ID, References, Xref.
        const SLOT: [u8; KNOWN_NAMES.len()] = {
            let mut t = [u8::MAX; KNOWN_NAMES.len()];
            t[5] = 0;
            t[0] = 1;
            t[1] = 2;
            t[2] = 3;
            t[9] = 4;
            t[8] = 5;
            t
        };
        let mut found: [Option<&[u8]>; 6] = [None; 6];
        for (k, value) in h.known_values() {
            if let Some(&s) = SLOT.get(k)
                && let Some(slot) = found.get_mut(usize::from(s))
                && slot.is_none()
            {
                *slot = Some(value);
            }
        }
        let [subject, from, date, message_id, references, xref] = found;
        let field = |v: Option<&[u8]>| v.map(overview_value).unwrap_or_default();
        Overview {
            subject: field(subject),
            from: field(from),
            date: field(date),
            message_id: field(message_id),
            references: field(references),
            bytes: h.data().len() as u64,
            lines: count_lines(h.body()),
            xref: xref.map(overview_value),
        }
    }

    /// Parses `article` (as stored, CRLF) and extracts its overview.
    pub fn from_article(article: &[u8]) -> Result<Self, HeaderError> {
        Ok(Self::from_headers(&Headers::parse(article)?))
    }

    /// Appends the TAB-separated overview line (no article number, no CRLF) to `out`.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        for f in [
            &self.subject,
            &self.from,
            &self.date,
            &self.message_id,
            &self.references,
        ] {
            out.extend_from_slice(f);
            out.push(b'\t');
        }
        out.extend_from_slice(self.bytes.to_string().as_bytes());
        out.push(b'\t');
        out.extend_from_slice(self.lines.to_string().as_bytes());
        if let Some(x) = &self.xref {
            out.extend_from_slice(b"\tXref: ");
            out.extend_from_slice(x);
        }
    }

    /// The TAB-separated overview line (no article number, no CRLF).
    pub fn to_line(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(256);
        self.write_line(&mut v);
        v
    }

    /// Parses a line made by [`Overview::to_line`] (a trailing CRLF is ignored). Extra
    /// fields other than `Xref:` are ignored; empty `:bytes`/`:lines` read as 0.
    pub fn parse_line(line: &[u8]) -> Result<Self, OverviewError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut it = line.split(|&b| b == b'\t');
        let mut next = || it.next().ok_or(OverviewError::TooFewFields);
        let subject = next()?.to_vec();
        let from = next()?.to_vec();
        let date = next()?.to_vec();
        let message_id = next()?.to_vec();
        let references = next()?.to_vec();
        let bytes = parse_num(next()?)?;
        let lines = parse_num(next()?)?;
        let mut xref = None;
        for extra in it {
            if extra.len() >= 5 && extra[..5].eq_ignore_ascii_case(b"xref:") {
                xref = Some(trim_ws(&extra[5..]).to_vec());
            }
        }
        Ok(Overview {
            subject,
            from,
            date,
            message_id,
            references,
            bytes,
            lines,
            xref,
        })
    }

    /// Parses an OVER/XOVER response line: `number\t` followed by an overview line.
    pub fn parse_numbered_line(line: &[u8]) -> Result<(u64, Self), OverviewError> {
        let tab = memchr::memchr(b'\t', line).ok_or(OverviewError::TooFewFields)?;
        let n = parse_num(&line[..tab])?;
        Ok((n, Self::parse_line(&line[tab + 1..])?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ART: &[u8] = b"Path: a!b\r\nFrom: Joe\t<joe@example.com>\r\nSubject: long\r\n\tfolded\tsubject \xe9\r\nDate: Tue, 01 Dec 2026 03:57:09 +0000\r\nMessage-ID: <x@y>\r\nReferences: <a@b>\r\n <c@d>\r\nXref: h misc.test:3\r\n\r\nline 1\r\nline 2\r\n\r\nlast";

    #[test]
    fn extract() {
        let o = Overview::from_article(ART).unwrap();
        assert_eq!(o.subject, b"long folded subject \xe9");
        assert_eq!(o.from, b"Joe <joe@example.com>");
        assert_eq!(o.message_id, b"<x@y>");
        assert_eq!(o.references, b"<a@b> <c@d>");
        assert_eq!(o.bytes, ART.len() as u64);
        assert_eq!(o.lines, 4);
        assert_eq!(o.xref.as_deref(), Some(&b"h misc.test:3"[..]));
        let line = o.to_line();
        assert_eq!(
            line,
            b"long folded subject \xe9\tJoe <joe@example.com>\tTue, 01 Dec 2026 03:57:09 +0000\t<x@y>\t<a@b> <c@d>\t".iter()
                .chain(format!("{}\t4\tXref: h misc.test:3", ART.len()).as_bytes())
                .copied()
                .collect::<Vec<u8>>()
        );
        assert_eq!(Overview::parse_line(&line).unwrap(), o);
        let mut numbered = b"42\t".to_vec();
        numbered.extend_from_slice(&line);
        numbered.extend_from_slice(b"\r\n");
        assert_eq!(Overview::parse_numbered_line(&numbered).unwrap(), (42, o));
    }

    #[test]
    fn overview_names_are_known() {
        let art = b"xref: h a:1\r\nREFERENCES: <r@x>\r\nmessage-id: <m@x>\r\ndate: d\r\nfrom: f\r\nsubject: s\r\nSubject: t\r\n\r\n";
        let o = Overview::from_article(art).unwrap();
        assert_eq!(
            [o.subject, o.from, o.date, o.message_id, o.references],
            [&b"s"[..], b"f", b"d", b"<m@x>", b"<r@x>"].map(<[u8]>::to_vec)
        );
        assert_eq!(o.xref.as_deref(), Some(&b"h a:1"[..]));
    }

    #[test]
    fn missing_fields_and_lines() {
        let o = Overview::from_article(b"Subject: s\r\n\r\n").unwrap();
        assert_eq!(o.from, b"");
        assert_eq!(o.lines, 0);
        assert_eq!(o.xref, None);
        assert_eq!(o.to_line(), b"s\t\t\t\t\t14\t0");
        assert_eq!(count_lines(b"a"), 1);
        assert_eq!(count_lines(b"a\r\n"), 1);
        assert_eq!(count_lines(b"\r\n\r\n"), 2);
        assert_eq!(
            Overview::parse_line(b"a\tb"),
            Err(OverviewError::TooFewFields)
        );
        assert_eq!(
            Overview::parse_line(b"a\tb\tc\td\te\tx\t1"),
            Err(OverviewError::BadNumber)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn parse_of_print(
            subject in proptest::collection::vec(any::<u8>().prop_filter("no tab/crlf", |b| !matches!(b, b'\t' | b'\r' | b'\n')), 0..40),
            from in "[ -~]{0,30}", msgid in "<[a-z]{1,10}@[a-z]{1,10}>",
            bytes in any::<u32>(), lines in any::<u32>(), xref in proptest::option::of("[a-z]{1,5} [a-z]{1,5}:[0-9]{1,4}"),
        ) {
            let o = Overview {
                subject, from: from.into_bytes(), date: b"Tue, 01 Dec 2026 03:57:09 +0000".to_vec(),
                message_id: msgid.into_bytes(), references: Vec::new(),
                bytes: bytes.into(), lines: lines.into(), xref: xref.map(String::into_bytes),
            };
            prop_assert_eq!(Overview::parse_line(&o.to_line()).unwrap(), o);
        }
    }
}
