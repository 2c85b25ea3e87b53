//! Dot-stuffing writer for stored articles and other multi-line data.
//!
//! Articles are stored with CRLF line ends and without dot-stuffing. To send
//! one, every line starting with `.` gets an extra `.` and the block ends in
//! `.CRLF`. [`Stuffed`] produces the wire form as a sequence of slices
//! borrowed from the article (plus a few static slices), ready for vectored
//! writes, without copying the article.

use memchr::memmem::Finder;

const DOT: &[u8] = b".";
const CRLF: &[u8] = b"\r\n";
const TERMINATOR: &[u8] = b".\r\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Body,
    Tail,
    Terminator,
    Done,
}

/// Iterator over the wire form of a dot-stuffed block (see module docs).
///
/// A line starts at the beginning of the data and after each CRLF. If the
/// data is not empty and does not end with CRLF, a CRLF is added before the
/// terminator.
#[derive(Debug, Clone)]
pub struct Stuffed<'a> {
    data: &'a [u8],
    pos: usize,
    need_dot: bool,
    state: State,
    finder: Finder<'static>,
}

impl<'a> Stuffed<'a> {
    /// Stuff `data` (stored form: CRLF line ends, not stuffed).
    #[must_use]
    pub fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            need_dot: data.first() == Some(&b'.'),
            state: State::Body,
            finder: Finder::new(b"\r\n.").into_owned(),
        }
    }

    /// Exact number of bytes the iterator will yield in total.
    #[must_use]
    pub fn wire_len(data: &[u8]) -> usize {
        let dots = usize::from(data.first() == Some(&b'.'))
            + memchr::memmem::find_iter(data, b"\r\n.").count();
        let tail = if data.is_empty() || data.ends_with(CRLF) {
            0
        } else {
            2
        };
        data.len() + dots + tail + TERMINATOR.len()
    }
}

impl<'a> Iterator for Stuffed<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            match self.state {
                State::Body => {
                    if self.need_dot {
                        self.need_dot = false;
                        return Some(DOT);
                    }
                    let rest = self.data.get(self.pos..).unwrap_or_default();
                    if let Some(rel) = self.finder.find(rest) {
                        // Yield through the CRLF; the next line starts with '.'.
                        let (chunk, _) = rest.split_at(rel + 2);
                        self.pos += rel + 2;
                        self.need_dot = true;
                        return Some(chunk);
                    }
                    self.pos = self.data.len();
                    self.state = State::Tail;
                    if !rest.is_empty() {
                        return Some(rest);
                    }
                }
                State::Tail => {
                    self.state = State::Terminator;
                    if !self.data.is_empty() && !self.data.ends_with(CRLF) {
                        return Some(CRLF);
                    }
                }
                State::Terminator => {
                    self.state = State::Done;
                    return Some(TERMINATOR);
                }
                State::Done => return None,
            }
        }
    }
}

/// Append the dot-stuffed, terminated wire form of `data` to `out`.
pub fn write_stuffed(data: &[u8], out: &mut Vec<u8>) {
    out.reserve(data.len() + data.len() / 64 + 8);
    for chunk in Stuffed::new(data) {
        out.extend_from_slice(chunk);
    }
}

/// Split a stored article at the empty line separating header and body.
///
/// Returns `(head, body)`: `head` ends with the CRLF of the last header line
/// (it does not include the empty line) and `body` starts after the empty
/// line. An article without an empty line is all head; an article starting
/// with CRLF has an empty head.
#[must_use]
pub fn split_header_body(article: &[u8]) -> (&[u8], &[u8]) {
    if let Some(body) = article.strip_prefix(CRLF) {
        return (&[], body);
    }
    match memchr::memmem::find(article, b"\r\n\r\n") {
        Some(i) => {
            let (head, rest) = article.split_at(i + 2);
            (head, rest.get(2..).unwrap_or_default())
        }
        None => (article, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stuffed(data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        write_stuffed(data, &mut v);
        assert_eq!(v.len(), Stuffed::wire_len(data));
        v
    }

    #[test]
    fn empty() {
        assert_eq!(stuffed(b""), b".\r\n");
    }

    #[test]
    fn stuffs_leading_dots() {
        assert_eq!(stuffed(b".a\r\nb\r\n..\r\n"), b"..a\r\nb\r\n...\r\n.\r\n");
    }

    #[test]
    fn adds_missing_crlf() {
        assert_eq!(stuffed(b"a\r\nb"), b"a\r\nb\r\n.\r\n");
        assert_eq!(stuffed(b"a\r\n."), b"a\r\n..\r\n.\r\n");
    }

    #[test]
    fn bare_lf_dot_not_stuffed() {
        assert_eq!(stuffed(b"a\n.b\r\n"), b"a\n.b\r\n.\r\n");
    }

    #[test]
    fn slices_borrow_article() {
        let art = b"x\r\n.y\r\n".to_vec();
        let parts: Vec<&[u8]> = Stuffed::new(&art).collect();
        assert_eq!(parts, vec![&b"x\r\n"[..], b".", b".y\r\n", b".\r\n"]);
    }

    #[test]
    fn split() {
        let a = b"From: a\r\nSubject: b\r\n\r\nbody\r\n";
        assert_eq!(
            split_header_body(a),
            (&b"From: a\r\nSubject: b\r\n"[..], &b"body\r\n"[..])
        );
        assert_eq!(split_header_body(b"\r\nbody"), (&b""[..], &b"body"[..]));
        assert_eq!(split_header_body(b"A: b\r\n"), (&b"A: b\r\n"[..], &b""[..]));
        assert_eq!(
            split_header_body(b"A: b\r\n\r\n"),
            (&b"A: b\r\n"[..], &b""[..])
        );
    }
}
