//! Client-side response decoder with pipelining.
//!
//! The client records the kind of every command it sends
//! ([`ResponseDecoder::sent`]); the decoder reads replies in order, and for
//! each one decides from the reply code *and the pending command* whether a
//! dot-terminated block follows (see [`ReplyCode::is_multiline`]).

use std::collections::VecDeque;

use thiserror::Error;

use crate::block::{BlockDecoder, BlockError, BlockStep, DEFAULT_BLOCK_LIMIT};
use crate::command::CommandKind;
use crate::line::{LineDecoder, LineError};
use crate::reply::ReplyCode;

/// Default limit for a status line, CRLF included.
pub const DEFAULT_STATUS_LIMIT: usize = 4096;

/// One reply from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The reply code.
    pub code: ReplyCode,
    /// The text after the code (lossily decoded as UTF-8), without the
    /// separating space.
    pub text: String,
    /// The un-stuffed block of a multi-line reply.
    pub block: Option<Vec<u8>>,
}

/// Progress of [`ResponseDecoder::decode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseStep {
    /// Bytes to drop from the front of the buffer.
    pub consumed: usize,
    /// A complete response, if one was finished.
    pub response: Option<Response>,
}

/// A reply that could not be decoded. Each variant says how many bytes to
/// drop; the decoder remains usable (though a malformed status line usually
/// means the connection is no longer trustworthy).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResponseError {
    /// The status line is not `3DIGIT [SP text]` with a code in 100–599,
    /// contains NUL, or is over the status-line limit. The pending command
    /// it answered is considered answered.
    #[error("malformed status line")]
    Malformed {
        /// Bytes to drop.
        consumed: usize,
    },
    /// A multi-line block exceeded the block limit; it was discarded
    /// through its terminator.
    #[error("response block too large ({discarded} octets discarded)")]
    TooLarge {
        /// Bytes to drop.
        consumed: usize,
        /// The reply code that introduced the block.
        code: ReplyCode,
        /// Wire bytes of the discarded block.
        discarded: usize,
    },
}

impl ResponseError {
    /// Bytes to drop from the front of the buffer.
    #[must_use]
    pub fn consumed(&self) -> usize {
        match *self {
            Self::Malformed { consumed } | Self::TooLarge { consumed, .. } => consumed,
        }
    }
}

/// Parse a status line (without CRLF) into code and text.
///
/// # Errors
/// `None` if it is not `3DIGIT [SP/TAB text]` with a code in 100–599.
#[must_use]
pub fn parse_status(line: &[u8]) -> Option<(ReplyCode, String)> {
    let (digits, rest) = line.split_at_checked(3)?;
    if !digits.iter().all(u8::is_ascii_digit) || memchr::memchr(0, line).is_some() {
        return None;
    }
    let value = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    let code = ReplyCode::new(value)?;
    let text = match rest.split_first() {
        None => &[][..],
        Some((b' ' | b'\t', text)) => text,
        Some(_) => return None,
    };
    Some((code, String::from_utf8_lossy(text).into_owned()))
}

#[derive(Debug, Clone)]
struct InBlock {
    code: ReplyCode,
    text: String,
}

/// Incremental, pipelining response decoder (see module docs).
///
/// Contract: as for [`BlockDecoder`], drop `consumed` bytes after every call
/// and pass what remains plus new bytes next time.
#[derive(Debug, Clone)]
pub struct ResponseDecoder {
    pending: VecDeque<CommandKind>,
    lines: LineDecoder,
    block: BlockDecoder,
    current: Option<InBlock>,
}

impl Default for ResponseDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_STATUS_LIMIT, DEFAULT_BLOCK_LIMIT)
    }
}

impl ResponseDecoder {
    /// A decoder with the given status-line and block limits.
    #[must_use]
    pub fn new(status_limit: usize, block_limit: usize) -> Self {
        Self {
            pending: VecDeque::new(),
            lines: LineDecoder::new(status_limit),
            block: BlockDecoder::new(block_limit),
            current: None,
        }
    }

    /// Record that a command of this kind was sent.
    pub fn sent(&mut self, kind: CommandKind) {
        self.pending.push_back(kind);
    }

    /// Number of commands still waiting for their (final) reply.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The command the next reply answers, if any.
    #[must_use]
    pub fn next_kind(&self) -> Option<CommandKind> {
        self.pending.front().copied()
    }

    /// Whether a continuation reply leaves the command pending: after 335
    /// (IHAVE), 340 (POST) or 383 (AUTHINFO SASL) the client sends more and
    /// the same command gets another reply.
    fn keeps_pending(code: ReplyCode, kind: Option<CommandKind>) -> bool {
        matches!(
            (code.0, kind),
            (335, Some(CommandKind::Ihave))
                | (340, Some(CommandKind::Post))
                | (383, Some(CommandKind::AuthinfoSasl))
        )
    }

    /// Decode at most one response from the front of `buf`.
    ///
    /// # Errors
    /// [`ResponseError`] for a malformed status line or an over-size block.
    pub fn decode(&mut self, buf: &[u8]) -> Result<ResponseStep, ResponseError> {
        let mut used = 0;
        if self.current.is_none() {
            let line = match self.lines.decode(buf) {
                Ok(None) => {
                    return Ok(ResponseStep {
                        consumed: 0,
                        response: None,
                    });
                }
                Ok(Some(l)) => l,
                Err(LineError::Discarding { discard, .. }) => {
                    return Ok(ResponseStep {
                        consumed: discard,
                        response: None,
                    });
                }
                Err(e) => {
                    self.pending.pop_front();
                    return Err(ResponseError::Malformed {
                        consumed: e.discard(),
                    });
                }
            };
            used = line.consumed;
            let kind = self.next_kind();
            let Some((code, text)) = parse_status(line.line) else {
                self.pending.pop_front();
                return Err(ResponseError::Malformed { consumed: used });
            };
            let multiline = code.is_multiline(kind);
            if !Self::keeps_pending(code, kind) {
                self.pending.pop_front();
            }
            if !multiline {
                return Ok(ResponseStep {
                    consumed: used,
                    response: Some(Response {
                        code,
                        text,
                        block: None,
                    }),
                });
            }
            self.current = Some(InBlock { code, text });
        }
        let rest = buf.get(used..).unwrap_or_default();
        match self.block.decode(rest) {
            Ok(BlockStep::NeedMore { consumed }) => Ok(ResponseStep {
                consumed: used + consumed,
                response: None,
            }),
            Ok(BlockStep::Done { consumed, block }) => {
                let cur = self.current.take();
                Ok(ResponseStep {
                    consumed: used + consumed,
                    response: cur.map(|c| Response {
                        code: c.code,
                        text: c.text,
                        block: Some(block),
                    }),
                })
            }
            Err(BlockError::TooLarge {
                consumed,
                discarded,
                ..
            }) => {
                let code = self
                    .current
                    .take()
                    .map_or(ReplyCode::INTERNAL_FAULT, |c| c.code);
                Err(ResponseError::TooLarge {
                    consumed: used + consumed,
                    code,
                    discarded,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(dec: &mut ResponseDecoder, mut buf: &[u8]) -> Vec<Response> {
        let mut out = Vec::new();
        for _ in 0..1000 {
            let step = dec.decode(buf).unwrap();
            buf = &buf[step.consumed..];
            match step.response {
                Some(r) => out.push(r),
                None if step.consumed == 0 => break,
                None => {}
            }
        }
        out
    }

    #[test]
    fn pipelined_group_listgroup() {
        let mut d = ResponseDecoder::default();
        d.sent(CommandKind::Group);
        d.sent(CommandKind::ListGroup);
        d.sent(CommandKind::Stat);
        let wire = b"211 3 1 3 misc\r\n211 3 1 3 misc list\r\n1\r\n2\r\n3\r\n.\r\n223 1 <a@b>\n";
        let r = drain(&mut d, wire);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].block, None);
        assert_eq!(r[1].block.as_deref(), Some(&b"1\r\n2\r\n3\r\n"[..]));
        assert_eq!(r[2].code, ReplyCode::ARTICLE_EXISTS);
        assert_eq!(r[2].text, "1 <a@b>");
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn ihave_two_phase() {
        let mut d = ResponseDecoder::default();
        d.sent(CommandKind::Ihave);
        let r = drain(&mut d, b"335 send it\r\n");
        assert_eq!(r[0].code, ReplyCode::SEND_ARTICLE);
        assert_eq!(d.pending(), 1);
        let r = drain(&mut d, b"235 thanks\r\n");
        assert_eq!(r[0].code, ReplyCode::TRANSFER_OK);
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn malformed_status() {
        let mut d = ResponseDecoder::default();
        assert_eq!(
            d.decode(b"hello\r\n"),
            Err(ResponseError::Malformed { consumed: 7 })
        );
        assert!(d.decode(b"2000\r\n").is_err());
        assert!(d.decode(b"099 x\r\n").is_err());
        assert_eq!(
            parse_status(b"205"),
            Some((ReplyCode::CLOSING, String::new()))
        );
    }
}
