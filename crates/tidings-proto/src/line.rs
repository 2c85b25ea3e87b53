//! Incremental command-line framing (server side).
//!
//! [`LineDecoder`] looks for one complete command line at the front of the
//! connection's read buffer. It follows the "check, then parse" style: it
//! never consumes anything until a whole line (or an error) is known.

use thiserror::Error;

/// Default command-line limit: RFC 3977 §3.1, 512 octets including the CRLF.
pub const DEFAULT_LINE_LIMIT: usize = 512;

/// A framing error on a command line.
///
/// Every variant says how many bytes the caller must drop from the front of
/// its buffer ([`LineError::discard`]) so that the connection stays in sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum LineError {
    /// The line is longer than the configured limit. Reported once, when the
    /// excess is first seen; the server should reply 501. If `line_ended` is
    /// false the end of the line has not arrived yet and the decoder keeps
    /// discarding (see [`LineError::Discarding`]).
    #[error("command line longer than {limit} octets")]
    TooLong {
        /// Bytes to drop from the front of the buffer now.
        discard: usize,
        /// Whether the terminating LF was part of the discarded bytes.
        line_ended: bool,
        /// The limit that was exceeded.
        limit: usize,
    },
    /// More bytes of an over-long line that was already reported. No reply
    /// is due; drop `discard` bytes and call again.
    #[error("discarding the rest of an over-long command line")]
    Discarding {
        /// Bytes to drop from the front of the buffer now.
        discard: usize,
        /// Whether the terminating LF was part of the discarded bytes.
        line_ended: bool,
    },
    /// The line contains a NUL octet. The whole line (including its
    /// terminator) is to be dropped; the server should reply 501.
    #[error("NUL octet in command line")]
    Nul {
        /// Bytes to drop from the front of the buffer now.
        discard: usize,
    },
}

impl LineError {
    /// Number of bytes to drop from the front of the read buffer.
    #[must_use]
    pub fn discard(&self) -> usize {
        match *self {
            Self::TooLong { discard, .. }
            | Self::Discarding { discard, .. }
            | Self::Nul { discard } => discard,
        }
    }

    /// Whether the server owes the client a reply (501) for this error.
    #[must_use]
    pub fn reply_due(&self) -> bool {
        !matches!(self, Self::Discarding { .. })
    }
}

/// A complete command line found at the front of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// Bytes to drop from the buffer (the line and its terminator).
    pub consumed: usize,
    /// The line without its CRLF (or bare LF).
    pub line: &'a [u8],
}

/// Incremental command-line decoder with a configurable length limit.
///
/// Contract: pass the connection's read buffer, starting at the first byte
/// not yet consumed. After `Ok(Some(line))` drop `line.consumed` bytes, after
/// `Err(e)` drop `e.discard()` bytes; after `Ok(None)` read more and call
/// again with the grown buffer (the decoder remembers how far it has looked,
/// so it does not rescan).
#[derive(Debug, Clone)]
pub struct LineDecoder {
    limit: usize,
    scanned: usize,
    discarding: bool,
}

impl Default for LineDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_LINE_LIMIT)
    }
}

impl LineDecoder {
    /// A decoder accepting lines of at most `limit` octets counting a CRLF
    /// terminator (a bare LF counts as two octets too). `limit` is raised to
    /// at least 3.
    #[must_use]
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(3),
            scanned: 0,
            discarding: false,
        }
    }

    /// The configured limit.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether the decoder is in the middle of discarding an over-long line.
    #[must_use]
    pub fn is_discarding(&self) -> bool {
        self.discarding
    }

    /// Look for one complete line at the front of `buf`.
    ///
    /// # Errors
    /// [`LineError`] for over-long lines and lines containing NUL; the
    /// decoder stays usable.
    pub fn decode<'a>(&mut self, buf: &'a [u8]) -> Result<Option<Line<'a>>, LineError> {
        if self.discarding {
            self.scanned = 0;
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(match memchr::memchr(b'\n', buf) {
                Some(i) => {
                    self.discarding = false;
                    LineError::Discarding {
                        discard: i + 1,
                        line_ended: true,
                    }
                }
                None => LineError::Discarding {
                    discard: buf.len(),
                    line_ended: false,
                },
            });
        }
        // Only the first `limit` bytes can hold the LF of an acceptable line.
        let window = buf.len().min(self.limit);
        let from = self.scanned.min(window);
        let Some(rel) = buf.get(from..window).and_then(|w| memchr::memchr(b'\n', w)) else {
            if buf.len() < self.limit {
                self.scanned = window;
                return Ok(None);
            }
            // No LF within the limit: the line is too long whatever follows.
            self.scanned = 0;
            return Err(match memchr::memchr(b'\n', buf) {
                Some(i) => LineError::TooLong {
                    discard: i + 1,
                    line_ended: true,
                    limit: self.limit,
                },
                None => {
                    self.discarding = true;
                    LineError::TooLong {
                        discard: buf.len(),
                        line_ended: false,
                        limit: self.limit,
                    }
                }
            });
        };
        self.scanned = 0;
        let lf = from + rel;
        let consumed = lf + 1;
        let mut line = buf.get(..lf).unwrap_or_default();
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if line.len() + 2 > self.limit {
            return Err(LineError::TooLong {
                discard: consumed,
                line_ended: true,
                limit: self.limit,
            });
        }
        if memchr::memchr(0, line).is_some() {
            return Err(LineError::Nul { discard: consumed });
        }
        Ok(Some(Line { consumed, line }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_and_bare_lf() {
        let mut d = LineDecoder::default();
        let buf = b"GROUP a.b\r\nQUIT\n";
        let l = d.decode(buf).unwrap().unwrap();
        assert_eq!(l.line, b"GROUP a.b");
        assert_eq!(l.consumed, 11);
        let l = d.decode(&buf[11..]).unwrap().unwrap();
        assert_eq!(l.line, b"QUIT");
        assert_eq!(l.consumed, 5);
        assert_eq!(d.decode(b"").unwrap(), None);
    }

    #[test]
    fn partial_then_complete() {
        let mut d = LineDecoder::default();
        assert_eq!(d.decode(b"DA").unwrap(), None);
        assert_eq!(d.decode(b"DATE\r").unwrap(), None);
        let l = d.decode(b"DATE\r\n").unwrap().unwrap();
        assert_eq!(l.line, b"DATE");
    }

    #[test]
    fn exact_limit() {
        let mut d = LineDecoder::new(10);
        // 8 bytes + CRLF = 10: accepted.
        assert_eq!(
            d.decode(b"12345678\r\n").unwrap().unwrap().line,
            b"12345678"
        );
        // 9 bytes + CRLF = 11: rejected, whole line discarded.
        assert_eq!(
            d.decode(b"123456789\r\nX"),
            Err(LineError::TooLong {
                discard: 11,
                line_ended: true,
                limit: 10
            })
        );
        // 9 bytes + bare LF: counted as CRLF, rejected.
        assert!(d.decode(b"123456789\n").is_err());
    }

    #[test]
    fn overlong_across_calls() {
        let mut d = LineDecoder::new(10);
        assert_eq!(d.decode(b"123456789").unwrap(), None);
        let e = d.decode(b"1234567890ab").unwrap_err();
        assert_eq!(
            e,
            LineError::TooLong {
                discard: 12,
                line_ended: false,
                limit: 10
            }
        );
        assert!(e.reply_due());
        assert!(d.is_discarding());
        let e = d.decode(b"cdef").unwrap_err();
        assert_eq!(
            e,
            LineError::Discarding {
                discard: 4,
                line_ended: false
            }
        );
        assert!(!e.reply_due());
        let e = d.decode(b"gh\r\nQUIT\r\n").unwrap_err();
        assert_eq!(e.discard(), 4);
        assert!(!d.is_discarding());
        assert_eq!(d.decode(b"QUIT\r\n").unwrap().unwrap().line, b"QUIT");
    }

    #[test]
    fn nul_is_error() {
        let mut d = LineDecoder::default();
        assert_eq!(
            d.decode(b"GR\0UP\r\nQUIT\r\n"),
            Err(LineError::Nul { discard: 7 })
        );
    }
}
