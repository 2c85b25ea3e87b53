//! Incremental decoder for dot-terminated blocks (RFC 3977 §3.1.1).
//!
//! Used by the server for POST / IHAVE / TAKETHIS bodies and by the client
//! for multi-line responses. The decoder removes dot-stuffing, recognises
//! the terminating `CRLF . CRLF` and keeps every other byte exactly as sent:
//! 8-bit bytes, NUL, bare CR and bare LF are data. A line starts only after a
//! CRLF (or at the very start of the block), so a `.` after a bare LF is data.

use memchr::memmem::Finder;
use thiserror::Error;

/// Default maximum size of a decoded block (1 MiB).
pub const DEFAULT_BLOCK_LIMIT: usize = 1 << 20;

/// Outcome of one [`BlockDecoder::decode`] call that did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockStep {
    /// The terminator has not been seen yet. Drop `consumed` bytes from the
    /// front of the buffer, read more, and call again with what remains.
    NeedMore {
        /// Bytes of the buffer the decoder has taken (0 ..= buffer length).
        consumed: usize,
    },
    /// The block is complete.
    Done {
        /// Bytes of the buffer taken, up to and including the terminator.
        consumed: usize,
        /// The un-stuffed block: every line with its CRLF, no terminator.
        block: Vec<u8>,
    },
}

impl BlockStep {
    /// Bytes to drop from the front of the buffer.
    #[must_use]
    pub fn consumed(&self) -> usize {
        match *self {
            Self::NeedMore { consumed } | Self::Done { consumed, .. } => consumed,
        }
    }
}

/// A block that could not be accepted. The decoder has consumed it through
/// its terminator, so the connection stays in sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum BlockError {
    /// The un-stuffed block exceeded the limit; the rest was discarded up to
    /// and including the terminator. The server replies 437 / 439 / 441.
    #[error("block larger than {limit} octets ({discarded} octets discarded)")]
    TooLarge {
        /// Bytes of this call's buffer to drop (through the terminator).
        consumed: usize,
        /// Wire bytes of the whole block, over all calls, terminator included.
        discarded: usize,
        /// The configured limit.
        limit: usize,
    },
}

/// Incremental, non-rescanning dot-block decoder.
///
/// Contract: the first buffer passed starts at the first byte of the block.
/// After each call the caller drops [`BlockStep::consumed`] (or the error's
/// `consumed`) bytes and later passes the remaining bytes followed by new
/// ones. At most the two bytes of a possibly partial terminator are left
/// unconsumed, so nothing is scanned twice and the caller's buffer does not
/// grow with the block (which matters while discarding an over-size block).
/// After a block is finished (or rejected) the decoder is ready for the next.
#[derive(Debug, Clone)]
pub struct BlockDecoder {
    limit: usize,
    out: Vec<u8>,
    at_line_start: bool,
    prev_cr: bool,
    wire: usize,
    overflow: bool,
    finder: Finder<'static>,
}

impl Default for BlockDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_BLOCK_LIMIT)
    }
}

impl BlockDecoder {
    /// A decoder accepting blocks whose un-stuffed size is at most `limit`.
    #[must_use]
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            out: Vec::new(),
            at_line_start: true,
            prev_cr: false,
            wire: 0,
            overflow: false,
            finder: Finder::new(b"\n.").into_owned(),
        }
    }

    /// The configured limit.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether the current block has already exceeded the limit (the rest is
    /// being discarded).
    #[must_use]
    pub fn is_discarding(&self) -> bool {
        self.overflow
    }

    /// Whether no byte of a block has been consumed yet.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.wire == 0 && self.at_line_start && !self.overflow
    }

    /// Forget any partial block.
    pub fn reset(&mut self) {
        self.out = Vec::new();
        self.at_line_start = true;
        self.prev_cr = false;
        self.wire = 0;
        self.overflow = false;
    }

    fn emit(&mut self, chunk: &[u8]) {
        if self.overflow || chunk.is_empty() {
            return;
        }
        if self.out.len().saturating_add(chunk.len()) > self.limit {
            self.overflow = true;
            self.out = Vec::new();
            return;
        }
        self.out.extend_from_slice(chunk);
    }

    fn need_more(&mut self, consumed: usize) -> BlockStep {
        self.wire = self.wire.saturating_add(consumed);
        BlockStep::NeedMore { consumed }
    }

    fn finish(&mut self, consumed: usize) -> Result<BlockStep, BlockError> {
        let discarded = self.wire.saturating_add(consumed);
        let overflow = self.overflow;
        let block = std::mem::take(&mut self.out);
        self.reset();
        if overflow {
            Err(BlockError::TooLarge {
                consumed,
                discarded,
                limit: self.limit,
            })
        } else {
            Ok(BlockStep::Done { consumed, block })
        }
    }

    /// Feed the unconsumed bytes.
    ///
    /// # Errors
    /// [`BlockError::TooLarge`] once the terminator of an over-size block
    /// has been consumed.
    pub fn decode(&mut self, buf: &[u8]) -> Result<BlockStep, BlockError> {
        let mut i = 0;
        loop {
            if self.at_line_start {
                match buf.get(i) {
                    None => return Ok(self.need_more(i)),
                    Some(b'.') => match (buf.get(i + 1), buf.get(i + 2)) {
                        (None, _) | (Some(b'\r'), None) => return Ok(self.need_more(i)),
                        (Some(b'\r'), Some(b'\n')) => return self.finish(i + 3),
                        // A stuffed dot: drop it.
                        _ => {
                            i += 1;
                            self.prev_cr = false;
                        }
                    },
                    Some(_) => {}
                }
                self.at_line_start = false;
            }
            let rest = buf.get(i..).unwrap_or_default();
            match self.finder.find(rest) {
                Some(rel) => {
                    let crlf = if rel > 0 {
                        rest.get(rel - 1) == Some(&b'\r')
                    } else {
                        self.prev_cr
                    };
                    let (line, _) = rest.split_at(rel + 1);
                    self.emit(line);
                    i += rel + 1;
                    self.at_line_start = crlf;
                    self.prev_cr = false;
                }
                None => {
                    self.emit(rest);
                    if let [.., before, b'\n'] = rest {
                        self.at_line_start = *before == b'\r';
                    } else if rest == b"\n" {
                        self.at_line_start = self.prev_cr;
                    }
                    if let Some(&last) = rest.last() {
                        self.prev_cr = last == b'\r';
                    }
                    return Ok(self.need_more(buf.len()));
                }
            }
        }
    }
}

/// Decode a complete dot-terminated block held in one buffer.
///
/// Returns `Ok(None)` if the terminator is missing.
///
/// # Errors
/// [`BlockError::TooLarge`] if the un-stuffed block exceeds `limit`.
pub fn decode_block(buf: &[u8], limit: usize) -> Result<Option<(usize, Vec<u8>)>, BlockError> {
    match BlockDecoder::new(limit).decode(buf)? {
        BlockStep::Done { consumed, block } => Ok(Some((consumed, block))),
        BlockStep::NeedMore { .. } => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_does_not_keep_the_room_of_the_ones_pipelined_after_it() {
        // one small block followed by 200 KB of the next blocks, in one buffer
        let mut buf = b"small article\r\n.\r\n".to_vec();
        for _ in 0..2000 {
            buf.extend_from_slice(&[b'x'; 98]);
            buf.extend_from_slice(b"\r\n");
        }
        buf.extend_from_slice(b".\r\n");
        let mut d = BlockDecoder::new(1 << 20);
        let BlockStep::Done { consumed, block } = d.decode(&buf).unwrap() else {
            panic!("first block not done")
        };
        assert_eq!(block, b"small article\r\n");
        assert!(
            block.capacity() <= block.len() + 4096,
            "{}",
            block.capacity()
        );
        let BlockStep::Done { block, .. } = d.decode(&buf[consumed..]).unwrap() else {
            panic!("second block not done")
        };
        assert_eq!(block.len(), 200_000);
    }

    fn one(buf: &[u8]) -> (usize, Vec<u8>) {
        decode_block(buf, 1000).unwrap().unwrap()
    }

    #[test]
    fn empty_block() {
        assert_eq!(one(b".\r\nrest"), (3, Vec::new()));
    }

    #[test]
    fn unstuffs() {
        let (n, b) = one(b"a\r\n..b\r\n...\r\n.\r\nX");
        assert_eq!(n, 16);
        assert_eq!(b, b"a\r\n.b\r\n..\r\n");
    }

    #[test]
    fn bare_lf_dot_is_data() {
        let (_, b) = one(b"a\n.\nb\r\n.\r\n");
        assert_eq!(b, b"a\n.\nb\r\n");
        // Bare LF then ".\r\n" is not a terminator either.
        assert_eq!(decode_block(b"a\n.\r\n", 100).unwrap(), None);
    }

    #[test]
    fn binary_kept() {
        let (_, b) = one(b"\0\xff\r\x80\r\n.\r\n");
        assert_eq!(b, b"\0\xff\r\x80\r\n");
    }

    #[test]
    fn chunked_byte_by_byte() {
        let wire = b"..a\r\nb\r\n.\r\r\n..\r\n.\r\n";
        let mut d = BlockDecoder::new(100);
        let mut pending: Vec<u8> = Vec::new();
        let mut result = None;
        for &byte in wire {
            pending.push(byte);
            match d.decode(&pending).unwrap() {
                BlockStep::NeedMore { consumed } => {
                    pending.drain(..consumed);
                }
                BlockStep::Done { consumed, block } => {
                    pending.drain(..consumed);
                    result = Some(block);
                }
            }
        }
        assert!(pending.is_empty());
        assert_eq!(result.unwrap(), b".a\r\nb\r\n\r\r\n.\r\n");
    }

    #[test]
    fn too_large_is_discarded_through_terminator() {
        let mut d = BlockDecoder::new(4);
        let r = d.decode(b"abc\r\nd");
        assert_eq!(r, Ok(BlockStep::NeedMore { consumed: 6 }));
        assert!(d.is_discarding());
        let r = d.decode(b"ef\r\n.\r\nQUIT\r\n");
        assert_eq!(
            r,
            Err(BlockError::TooLarge {
                consumed: 7,
                discarded: 13,
                limit: 4
            })
        );
        // Ready for the next block.
        assert_eq!(d.decode(b".\r\n").unwrap().consumed(), 3);
    }

    #[test]
    fn exactly_at_limit() {
        assert_eq!(
            decode_block(b"abcd\r\n.\r\n", 6).unwrap().unwrap().1,
            b"abcd\r\n"
        );
        assert!(decode_block(b"abcd\r\n.\r\n", 5).is_err());
    }
}
