//! Zero-copy parsing of the header block of an article (RFC 5322 §2.2, RFC 5536 §2).
//!
//! [`Headers::parse`] scans the raw article bytes once and records, for every header
//! field, byte ranges into the input: the name, the (still folded) value and the whole
//! raw field including its line terminator(s). Nothing is copied and nothing is decoded:
//! values may contain 8-bit bytes, Latin-1 or broken UTF-8. Lines end in CRLF; a bare LF
//! is tolerated. Order and duplicates are preserved. Names compare case-insensitively.

use std::borrow::Cow;
use std::ops::Range;

use memchr::memchr;

use crate::ascii::vchar_stop;

/// Why a header block could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The article has no header fields at all (it starts with the empty line or is empty).
    #[error("Article has no header fields")]
    Empty,
    /// The first line of the article is a continuation line (starts with space or tab).
    #[error("Header block starts with a continuation line")]
    LeadingContinuation,
    /// A header line has no colon.
    #[error("Malformed header line {line}: no colon")]
    MissingColon {
        /// 1-based line number within the header block.
        line: usize,
    },
    /// A header name is empty or contains a byte outside printable US-ASCII.
    #[error("Malformed header line {line}: bad header name")]
    BadName {
        /// 1-based line number within the header block.
        line: usize,
    },
}

/// Byte ranges of one header field inside the parsed article.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldRanges {
    name: Range<usize>,
    value: Range<usize>,
    raw: Range<usize>,
    /// Index into [`KNOWN_NAMES`] of the field name, or [`UNKNOWN`].
    known: u8,
}

/// One header field, borrowed from the article bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderField<'a> {
    name: &'a [u8],
    value: &'a [u8],
    raw: &'a [u8],
}

impl<'a> HeaderField<'a> {
    /// The field name as written (without the colon).
    pub fn name(&self) -> &'a [u8] {
        self.name
    }

    /// The field value: after the colon and any leading SP/HTAB, up to (not including)
    /// the final line terminator. Folding (CRLF followed by SP/HTAB) is kept.
    pub fn value(&self) -> &'a [u8] {
        self.value
    }

    /// The whole raw field, name to final line terminator inclusive, byte-exact.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The value with folding removed (see [`unfold`]).
    pub fn unfolded(&self) -> Cow<'a, [u8]> {
        unfold(self.value)
    }

    /// Whether this field's name equals `name`, ignoring ASCII case.
    pub fn name_is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// Header names looked up once per field while parsing (validation and overview
/// dispatch on the index instead of comparing names again). The order is the one of
/// `validate::KNOWN`.
pub(crate) const KNOWN_NAMES: [&str; 24] = [
    "From",
    "Date",
    "Message-ID",
    "Newsgroups",
    "Path",
    "Subject",
    "Injection-Date",
    "Injection-Info",
    "Xref",
    "References",
    "Followup-To",
    "Distribution",
    "Expires",
    "Control",
    "Approved",
    "Supersedes",
    "Cancel-Lock",
    "Cancel-Key",
    "Sender",
    "Reply-To",
    "Organization",
    "Summary",
    "User-Agent",
    "In-Reply-To",
];

/// [`FieldRanges::known`] of a name that is not in [`KNOWN_NAMES`].
const UNKNOWN: u8 = u8::MAX;

/// Each known name as a little-endian `u128` of its lower-cased bytes (zero-padded),
/// and the mask of its letter positions (0x20 there, 0 elsewhere): a name `x` of the
/// same length matches, ignoring ASCII case, exactly when `x | FOLD == LOWER` (for a
/// letter, `b | 0x20` is the lower-case letter only for that letter in either case; the
/// other bytes of the known names, `-`, compare exactly).
const fn name_keys() -> ([u128; 24], [u128; 24]) {
    let mut lower = [0u128; 24];
    let mut fold = [0u128; 24];
    let mut i = 0;
    while i < 24 {
        let n = KNOWN_NAMES[i].as_bytes();
        let mut j = 0;
        while j < n.len() {
            let b = n[j];
            if b.is_ascii_alphabetic() {
                fold[i] |= 0x20 << (8 * j);
            }
            lower[i] |= (b.to_ascii_lowercase() as u128) << (8 * j);
            j += 1;
        }
        i += 1;
    }
    (lower, fold)
}

const KEYS: ([u128; 24], [u128; 24]) = name_keys();

/// Candidates by `(length, first letter)`: slot `len << 5 | (first & 0x1f)` holds the
/// indices into [`KNOWN_NAMES`] of at most two names (checked when compiling).
const fn slot_table() -> [[u8; 2]; 512] {
    let mut t = [[UNKNOWN; 2]; 512];
    let mut i = 0;
    while i < KNOWN_NAMES.len() {
        let n = KNOWN_NAMES[i].as_bytes();
        let s = (n.len() << 5) | (n[0] & 0x1f) as usize;
        if t[s][0] == UNKNOWN {
            t[s][0] = i as u8;
        } else if t[s][1] == UNKNOWN {
            t[s][1] = i as u8;
        } else {
            panic!("more than two known header names share a slot");
        }
        i += 1;
    }
    t
}

static SLOTS: [[u8; 2]; 512] = slot_table();

/// Classifies the header name `ctx[..len]`; bytes of `ctx` after the name (if any) are
/// ignored but let the name be loaded in one go.
#[inline(always)]
fn classify_at(ctx: &[u8], len: usize) -> u8 {
    if len >= 16 || len > ctx.len() {
        return UNKNOWN;
    }
    let Some(&first) = ctx.first() else {
        return UNKNOWN;
    };
    let [a, b] = SLOTS[(len << 5) | usize::from(first & 0x1f)];
    if a == UNKNOWN {
        return UNKNOWN;
    }
    let x = match ctx.first_chunk::<16>() {
        Some(c) => u128::from_le_bytes(*c),
        None => {
            let mut b = [0u8; 16];
            for (d, s) in b.iter_mut().zip(ctx) {
                *d = *s;
            }
            u128::from_le_bytes(b)
        }
    };
    let x = x & (u128::MAX >> (8 * (16 - len)));
    let (lower, fold) = (&KEYS.0, &KEYS.1);
    for c in [a, b] {
        if let (Some(&l), Some(&f)) = (lower.get(usize::from(c)), fold.get(usize::from(c)))
            && x | f == l
        {
            return c;
        }
    }
    UNKNOWN
}

/// Index into [`KNOWN_NAMES`] of `name` (ASCII case ignored).
pub(crate) fn classify(name: &[u8]) -> Option<usize> {
    match classify_at(name, name.len()) {
        UNKNOWN => None,
        k => Some(usize::from(k)),
    }
}

/// Index of the first byte of the 16 little-endian bytes `x` that cannot continue a
/// header name (not in 33..=126, or `:`), if any.
#[inline(always)]
fn name_stop(x: u128) -> Option<usize> {
    vchar_stop(x, b':')
}

/// Bytes allowed in a header name other than `:` (RFC 5322 ftext: 33..=126).
#[inline(always)]
fn is_name_char(b: u8) -> bool {
    b.wrapping_sub(33) <= 126 - 33 && b != b':'
}

/// The parsed header block of an article: ranges into the borrowed article bytes.
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    data: &'a [u8],
    fields: Vec<FieldRanges>,
    body_offset: usize,
    header_end: usize,
    has_separator: bool,
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

impl<'a> Headers<'a> {
    /// Parses the header block at the start of `data` (a whole article, or just headers).
    ///
    /// The header block ends at the first empty line (CRLF CRLF, or LF LF); the body
    /// starts right after it. An article without an empty line is all headers, and its
    /// body offset is `data.len()`.
    pub fn parse(data: &'a [u8]) -> Result<Self, HeaderError> {
        let mut fields: Vec<FieldRanges> = Vec::with_capacity(32);
        let mut pos = 0usize;
        let mut line_no = 0usize;
        let len = data.len();
        let mut body_offset = len;
        let mut header_end = len;
        let mut has_separator = false;
        while pos < len {
            line_no += 1;
            // Fast path: a field line with a well-formed name. Anything else (empty line,
            // continuation, errors) goes through the general code below.
            let mut colon = match data.get(pos..).and_then(<[u8]>::first_chunk::<16>) {
                Some(c) => match name_stop(u128::from_le_bytes(*c)) {
                    Some(i) => pos + i,
                    None => pos + 16,
                },
                None => pos,
            };
            if colon == pos + 16 || data.len() - pos < 16 {
                while let Some(&b) = data.get(colon)
                    && is_name_char(b)
                {
                    colon += 1;
                }
            }
            if colon > pos && data.get(colon) == Some(&b':') {
                let mut vstart = colon + 1;
                while let Some(&b) = data.get(vstart)
                    && is_wsp(b)
                {
                    vstart += 1;
                }
                let rest = data.get(vstart..).unwrap_or_default();
                let (content_end, next) = match memchr(b'\n', rest) {
                    Some(i) => {
                        let nl = vstart + i;
                        // nl > colon >= pos, and no CR between colon and vstart.
                        let ce = if nl > vstart && data[nl - 1] == b'\r' {
                            nl - 1
                        } else {
                            nl
                        };
                        (ce, nl + 1)
                    }
                    None => (len, len),
                };
                fields.push(FieldRanges {
                    name: pos..colon,
                    value: vstart..content_end,
                    raw: pos..next,
                    known: classify_at(&data[pos..], colon - pos),
                });
                pos = next;
                continue;
            }
            let (content_end, next) = match memchr(b'\n', &data[pos..]) {
                Some(i) => {
                    let nl = pos + i;
                    let ce = if nl > pos && data[nl - 1] == b'\r' {
                        nl - 1
                    } else {
                        nl
                    };
                    (ce, nl + 1)
                }
                None => (len, len),
            };
            if content_end == pos {
                // Empty line: end of the header block.
                if fields.is_empty() {
                    return Err(HeaderError::Empty);
                }
                header_end = pos;
                body_offset = next;
                has_separator = next > pos;
                break;
            }
            let first = data[pos];
            if is_wsp(first) {
                match fields.last_mut() {
                    Some(f) => {
                        f.value.end = content_end;
                        f.raw.end = next;
                    }
                    None => return Err(HeaderError::LeadingContinuation),
                }
                pos = next;
                continue;
            }
            let line = &data[pos..content_end];
            let colon = match memchr(b':', line) {
                Some(c) => c,
                None => return Err(HeaderError::MissingColon { line: line_no }),
            };
            if colon == 0 || !line[..colon].iter().all(|&b| (33..=126).contains(&b)) {
                return Err(HeaderError::BadName { line: line_no });
            }
            let mut vstart = pos + colon + 1;
            while vstart < content_end && is_wsp(data[vstart]) {
                vstart += 1;
            }
            fields.push(FieldRanges {
                name: pos..pos + colon,
                value: vstart..content_end,
                raw: pos..next,
                known: classify_at(&data[pos..], colon),
            });
            pos = next;
        }
        if fields.is_empty() {
            return Err(HeaderError::Empty);
        }
        if !has_separator {
            header_end = len;
        }
        Ok(Headers {
            data,
            fields,
            body_offset,
            header_end,
            has_separator,
        })
    }

    fn field(&self, r: &FieldRanges) -> HeaderField<'a> {
        let d = self.data;
        HeaderField {
            name: d.get(r.name.clone()).unwrap_or_default(),
            value: d.get(r.value.clone()).unwrap_or_default(),
            raw: d.get(r.raw.clone()).unwrap_or_default(),
        }
    }

    /// The bytes that were parsed (the whole article as given).
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Offset of the first body byte (after the empty separator line); `data().len()` if
    /// the article has no body.
    pub fn body_offset(&self) -> usize {
        self.body_offset
    }

    /// The body bytes (possibly empty).
    pub fn body(&self) -> &'a [u8] {
        self.data.get(self.body_offset..).unwrap_or_default()
    }

    /// The header fields, raw, without the empty separator line.
    pub fn header_block(&self) -> &'a [u8] {
        self.data.get(..self.header_end).unwrap_or_default()
    }

    /// Whether an empty line separated headers from a (possibly empty) body.
    pub fn has_separator(&self) -> bool {
        self.has_separator
    }

    /// Number of header fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields (never true for a successfully parsed block).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// All fields in order.
    pub fn iter(&self) -> impl Iterator<Item = HeaderField<'a>> + '_ {
        self.fields.iter().map(|r| self.field(r))
    }

    /// `(index into KNOWN_NAMES, value)` of the fields with a known name, in order.
    pub(crate) fn known_values(&self) -> impl Iterator<Item = (usize, &'a [u8])> + '_ {
        let d = self.data;
        self.fields
            .iter()
            .filter(|r| r.known != UNKNOWN)
            .map(move |r| {
                (
                    usize::from(r.known),
                    d.get(r.value.clone()).unwrap_or_default(),
                )
            })
    }

    /// The field at `index` (in article order).
    pub fn field_at(&self, index: usize) -> Option<HeaderField<'a>> {
        self.fields.get(index).map(|r| self.field(r))
    }

    /// Byte range of the whole raw field at `index` within [`Headers::data`].
    pub fn raw_range(&self, index: usize) -> Option<Range<usize>> {
        self.fields.get(index).map(|r| r.raw.clone())
    }

    /// All fields named `name` (case-insensitive), in order.
    pub fn get_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = HeaderField<'a>> + 's {
        self.iter().filter(move |f| f.name_is(name))
    }

    /// The first field named `name` (case-insensitive).
    pub fn get_field(&self, name: &str) -> Option<HeaderField<'a>> {
        let n = name.as_bytes();
        if let Some(k) = classify(n) {
            // Same result as comparing names: case-insensitive equality is transitive.
            let k = k as u8;
            return self
                .fields
                .iter()
                .find(|r| r.known == k)
                .map(|r| self.field(r));
        }
        self.fields
            .iter()
            .find(|r| {
                self.data
                    .get(r.name.clone())
                    .is_some_and(|x| x.eq_ignore_ascii_case(n))
            })
            .map(|r| self.field(r))
    }

    /// The (folded) value of the first field named `name`.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.get_field(name).map(|f| f.value)
    }

    /// The unfolded value of the first field named `name`.
    pub fn get_unfolded(&self, name: &str) -> Option<Cow<'a, [u8]>> {
        self.get_field(name).map(|f| f.unfolded())
    }

    /// How many fields are named `name`.
    pub fn count(&self, name: &str) -> usize {
        self.get_all(name).count()
    }

    /// Whether a field named `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.get_field(name).is_some()
    }
}

/// Removes folding from a header value: every CRLF (or bare LF) is deleted, keeping the
/// whitespace that follows it (RFC 5322 §2.2.3). Trailing whitespace is kept. Borrows when
/// the value has no line breaks.
pub fn unfold(value: &[u8]) -> Cow<'_, [u8]> {
    if memchr(b'\n', value).is_none() && memchr(b'\r', value).is_none() {
        return Cow::Borrowed(value);
    }
    let mut out = Vec::with_capacity(value.len());
    let mut rest = value;
    while let Some(nl) = memchr(b'\n', rest) {
        let seg = &rest[..nl];
        out.extend_from_slice(seg.strip_suffix(b"\r").unwrap_or(seg));
        rest = &rest[nl + 1..];
    }
    out.extend_from_slice(rest);
    Cow::Owned(out)
}

/// Trims leading and trailing SP, HTAB, CR and LF.
pub fn trim_ws(mut v: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = v {
        if first.is_ascii_whitespace() {
            v = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = v {
        if last.is_ascii_whitespace() {
            v = rest;
        } else {
            break;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const ART: &[u8] = b"Path: a!b!not-for-mail\r\nFrom: Joe <joe@example.com>\r\nSubject: hello\r\n  world\r\nsubject: dup\r\nX-Empty:\r\n\r\nbody line\r\n";

    #[test]
    fn parses_fields_and_body() {
        let h = Headers::parse(ART).unwrap();
        assert_eq!(h.len(), 5);
        assert_eq!(h.get("path"), Some(&b"a!b!not-for-mail"[..]));
        assert_eq!(h.get("SUBJECT"), Some(&b"hello\r\n  world"[..]));
        assert_eq!(h.get_unfolded("Subject").unwrap().as_ref(), b"hello  world");
        assert_eq!(h.count("subject"), 2);
        assert_eq!(h.get("x-empty"), Some(&b""[..]));
        assert_eq!(h.body(), b"body line\r\n");
        assert!(h.has_separator());
        assert_eq!(&ART[..h.header_block().len()], h.header_block());
        let raw: Vec<u8> = h.iter().flat_map(|f| f.raw().to_vec()).collect();
        assert_eq!(raw, h.header_block());
        let names: Vec<&[u8]> = h.iter().map(|f| f.name()).collect();
        assert_eq!(names[3], b"subject");
    }

    #[test]
    fn bare_lf_and_no_body() {
        let h = Headers::parse(b"A: 1\nB: 2\n\tcont\n").unwrap();
        assert_eq!(h.get("b"), Some(&b"2\n\tcont"[..]));
        assert_eq!(h.body_offset(), 16);
        assert!(!h.has_separator());
        let h = Headers::parse(b"A: 1\n\nbody").unwrap();
        assert_eq!(h.body(), b"body");
        let h = Headers::parse(b"A: 1").unwrap();
        assert_eq!(h.get("a"), Some(&b"1"[..]));
        assert!(h.body().is_empty());
    }

    #[test]
    fn eight_bit_values() {
        let h = Headers::parse(b"Subject: caf\xe9 \xff\xfe\r\n\r\n\x00\xff").unwrap();
        assert_eq!(h.get("subject"), Some(&b"caf\xe9 \xff\xfe"[..]));
        assert_eq!(h.body(), b"\x00\xff");
    }

    #[test]
    fn errors() {
        assert_eq!(Headers::parse(b"").unwrap_err(), HeaderError::Empty);
        assert_eq!(Headers::parse(b"\r\nbody").unwrap_err(), HeaderError::Empty);
        assert_eq!(
            Headers::parse(b" x: y\r\n").unwrap_err(),
            HeaderError::LeadingContinuation
        );
        assert_eq!(
            Headers::parse(b"A: b\r\nnocolon\r\n\r\n").unwrap_err(),
            HeaderError::MissingColon { line: 2 }
        );
        assert_eq!(
            Headers::parse(b": y\r\n").unwrap_err(),
            HeaderError::BadName { line: 1 }
        );
        assert_eq!(
            Headers::parse(b"A b: y\r\n").unwrap_err(),
            HeaderError::BadName { line: 1 }
        );
    }

    #[test]
    fn name_stop_agrees_with_byte_loop() {
        let mut x = 0x9e3779b97f4a7c15u64;
        for _ in 0..20_000 {
            let mut b = [0u8; 16];
            for v in &mut b {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly name bytes, some ':' and control/8-bit/DEL/space bytes.
                *v = match x % 23 {
                    0 => b':',
                    1 => (x >> 8) as u8,
                    2 => 0x7f,
                    3 => b' ',
                    _ => b'A' + (x >> 16) as u8 % 26,
                };
            }
            let want = b.iter().position(|&c| !is_name_char(c));
            assert_eq!(name_stop(u128::from_le_bytes(b)), want, "{b:?}");
        }
    }

    #[test]
    fn short_and_long_names() {
        let h = Headers::parse(b"A-Very-Long-Header-Name-Indeed: 1\r\nX:2\r\nFROM:  a@b\r\nP:")
            .unwrap();
        assert_eq!(h.get("a-very-long-header-name-indeed"), Some(&b"1"[..]));
        assert_eq!(h.get("x"), Some(&b"2"[..]));
        assert_eq!(h.get("From"), Some(&b"a@b"[..]));
        assert_eq!(h.get("p"), Some(&b""[..]));
        assert_eq!(
            Headers::parse(b"A-Very-Long-Header-Name\x7f: 1\r\n").unwrap_err(),
            HeaderError::BadName { line: 1 }
        );
        assert_eq!(
            Headers::parse(b"A-Very-Long-Header-Name-Without-Colon\r\n").unwrap_err(),
            HeaderError::MissingColon { line: 1 }
        );
    }

    #[test]
    fn unfold_and_trim() {
        assert_eq!(unfold(b"a\r\n b\n\tc").as_ref(), b"a b\tc");
        assert!(matches!(unfold(b"plain"), Cow::Borrowed(_)));
        assert_eq!(trim_ws(b" \t x y \r\n"), b"x y");
        assert_eq!(trim_ws(b"   "), b"");
    }
}
