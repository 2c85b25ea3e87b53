//! Fuzz entry points, called by `fuzz/fuzz_targets/*.rs`.
//!
//! Each function drives decoders over arbitrary input, whole and in chunks
//! whose sizes are derived from the input, and panics only if an invariant
//! is broken (chunked decoding differs from one-piece decoding, a round trip
//! fails, a limit is exceeded, or a decoder stops making progress).

use crate::block::{BlockDecoder, BlockError, BlockStep};
use crate::client::{Response, ResponseDecoder, ResponseError};
use crate::command::{CommandKind, parse};
use crate::line::{LineDecoder, LineError};
use crate::stuff::{Stuffed, write_stuffed};

/// What the command-line decoder reported, independent of chunking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent {
    /// A complete line.
    Line(Vec<u8>),
    /// An over-long line (reported once).
    TooLong,
    /// A line containing NUL.
    Nul,
}

/// Splits `data` into consecutive pieces whose sizes cycle through `chunks` (a size of 0 is
/// taken as 1; no sizes at all means one piece), the way reads arrive from a socket.
fn pieces<'a>(data: &'a [u8], chunks: &'a [usize]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = data;
    let mut sizes = chunks.iter().copied().cycle();
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = sizes.next().unwrap_or(rest.len()).max(1).min(rest.len());
        let (piece, tail) = rest.split_at(size);
        rest = tail;
        Some(piece)
    })
}

/// Feed `data` to a fresh [`LineDecoder`] in chunks of the given sizes
/// (cycled; a size of 0 is taken as 1), the way a server would. Returns the
/// events and the number of bytes left unconsumed at the end.
///
/// # Panics
/// If the decoder breaks its contract (no progress, over-long line
/// accepted, consumed more than available).
#[must_use]
pub fn drive_lines(data: &[u8], limit: usize, chunks: &[usize]) -> (Vec<LineEvent>, usize) {
    let mut dec = LineDecoder::new(limit);
    let mut buf: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    for piece in pieces(data, chunks) {
        buf.extend_from_slice(piece);
        // Every round either consumes at least one byte or stops.
        for _ in 0..=buf.len() {
            match dec.decode(&buf) {
                Ok(None) => break,
                Ok(Some(line)) => {
                    assert!(line.consumed > 0 && line.consumed <= buf.len());
                    assert!(line.line.len() + 2 <= dec.limit());
                    assert!(!line.line.contains(&0));
                    events.push(LineEvent::Line(line.line.to_vec()));
                    buf.drain(..line.consumed);
                }
                Err(e) => {
                    assert!(e.discard() > 0 && e.discard() <= buf.len());
                    match e {
                        LineError::TooLong { .. } => events.push(LineEvent::TooLong),
                        LineError::Nul { .. } => events.push(LineEvent::Nul),
                        LineError::Discarding { .. } => {}
                    }
                    buf.drain(..e.discard());
                }
            }
        }
    }
    (events, buf.len())
}

fn chunk_plan(data: &[u8]) -> Vec<usize> {
    data.iter()
        .take(8)
        .map(|&b| usize::from(b % 37) + 1)
        .collect()
}

/// Fuzz the command-line decoder and the command parser.
///
/// # Panics
/// If an invariant is broken.
pub fn command_decoder(data: &[u8]) {
    let limit = 8 + usize::from(data.first().copied().unwrap_or(0)) * 2;
    let (whole, left_whole) = drive_lines(data, limit, &[data.len().max(1)]);
    let (chunked, left_chunked) = drive_lines(data, limit, &chunk_plan(data));
    assert_eq!(whole, chunked, "chunked line decoding differs");
    assert_eq!(left_whole, left_chunked);
    if data.len() <= 2048 {
        let (bytes, _) = drive_lines(data, limit, &[1]);
        assert_eq!(whole, bytes, "byte-by-byte line decoding differs");
    }
    for ev in &whole {
        if let LineEvent::Line(line) = ev {
            check_command(line);
        }
    }
    // The raw input as one line, too (no framing limit).
    check_command(data);
}

fn check_command(line: &[u8]) {
    match parse(line) {
        Ok(cmd) => {
            let mut enc = Vec::new();
            cmd.encode(&mut enc);
            assert!(enc.ends_with(b"\r\n"));
            let body = enc.get(..enc.len() - 2).unwrap_or_default();
            assert!(!body.contains(&b'\n') && !body.contains(&b'\r'));
            let again = parse(body);
            assert_eq!(
                again.as_ref(),
                Ok(&cmd),
                "round trip failed: {:?}",
                String::from_utf8_lossy(body)
            );
        }
        Err(e) => {
            let code = e.reply_code().get();
            assert!(code == 500 || code == 501);
        }
    }
}

/// What the block decoder reported, independent of chunking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockEvent {
    /// A complete block.
    Block(Vec<u8>),
    /// An over-size block, with its total wire size.
    TooLarge(usize),
}

/// Feed `data` to a [`BlockDecoder`] in chunks (cycled sizes), decoding
/// consecutive blocks. Returns the events and the bytes left unconsumed.
///
/// # Panics
/// If the decoder breaks its contract.
#[must_use]
pub fn drive_blocks(data: &[u8], limit: usize, chunks: &[usize]) -> (Vec<BlockEvent>, usize) {
    let mut dec = BlockDecoder::new(limit);
    let mut buf: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    for piece in pieces(data, chunks) {
        buf.extend_from_slice(piece);
        for _ in 0..=buf.len() {
            match dec.decode(&buf) {
                Ok(BlockStep::NeedMore { consumed }) => {
                    assert!(consumed <= buf.len());
                    assert!(
                        buf.len() - consumed <= 2,
                        "decoder left too much unconsumed"
                    );
                    buf.drain(..consumed);
                    break;
                }
                Ok(BlockStep::Done { consumed, block }) => {
                    assert!(consumed > 0 && consumed <= buf.len());
                    assert!(block.len() <= limit);
                    events.push(BlockEvent::Block(block));
                    buf.drain(..consumed);
                }
                Err(BlockError::TooLarge {
                    consumed,
                    discarded,
                    ..
                }) => {
                    assert!(consumed > 0 && consumed <= buf.len());
                    assert!(discarded > limit);
                    events.push(BlockEvent::TooLarge(discarded));
                    buf.drain(..consumed);
                }
            }
        }
    }
    (events, buf.len())
}

/// Decode one complete block from `wire` in one piece (no limit).
fn unstuff_once(wire: &[u8]) -> Option<(usize, Vec<u8>)> {
    match BlockDecoder::new(usize::MAX).decode(wire) {
        Ok(BlockStep::Done { consumed, block }) => Some((consumed, block)),
        _ => None,
    }
}

/// Fuzz the block decoder, the stuffing writer and the response decoder.
///
/// # Panics
/// If an invariant is broken.
pub fn block_decoder(data: &[u8]) {
    let limit = match data.first() {
        Some(&b) if b >= 128 => usize::from(b - 128),
        _ => usize::MAX,
    };
    let (whole, left_whole) = drive_blocks(data, limit, &[data.len().max(1)]);
    let (chunked, left_chunked) = drive_blocks(data, limit, &chunk_plan(data));
    assert_eq!(whole, chunked, "chunked block decoding differs");
    assert_eq!(left_whole, left_chunked);
    if data.len() <= 2048 {
        let (bytes, _) = drive_blocks(data, limit, &[1]);
        assert_eq!(whole, bytes, "byte-by-byte block decoding differs");
    }
    for ev in &whole {
        if let BlockEvent::Block(b) = ev {
            assert!(b.is_empty() || b.ends_with(b"\r\n"));
            let mut wire = Vec::new();
            write_stuffed(b, &mut wire);
            assert_eq!(unstuff_once(&wire), Some((wire.len(), b.clone())));
        }
    }
    // stuff -> unstuff round trip of the raw input as an article.
    let mut wire = Vec::new();
    write_stuffed(data, &mut wire);
    assert_eq!(wire.len(), Stuffed::wire_len(data));
    let mut expected = data.to_vec();
    if !expected.is_empty() && !expected.ends_with(b"\r\n") {
        expected.extend_from_slice(b"\r\n");
    }
    assert_eq!(unstuff_once(&wire), Some((wire.len(), expected)));

    // Response decoder: pending command kinds derived from the input.
    let kinds = [
        CommandKind::ListGroup,
        CommandKind::Group,
        CommandKind::Article,
        CommandKind::Ihave,
        CommandKind::XGTitle,
        CommandKind::List,
    ];
    let plan: Vec<CommandKind> = data
        .iter()
        .take(16)
        .filter_map(|&b| kinds.get(usize::from(b) % 8).copied())
        .collect();
    let whole = drive_responses(data, &plan, &[data.len().max(1)]);
    let chunked = drive_responses(data, &plan, &chunk_plan(data));
    assert_eq!(whole, chunked, "chunked response decoding differs");
}

/// A response or the kind of error, for comparisons.
pub type ResponseEvent = Result<Response, &'static str>;

/// Feed `data` to a [`ResponseDecoder`] with the given pending commands,
/// in chunks (cycled sizes).
///
/// # Panics
/// If the decoder breaks its contract.
#[must_use]
pub fn drive_responses(
    data: &[u8],
    pending: &[CommandKind],
    chunks: &[usize],
) -> Vec<ResponseEvent> {
    let mut dec = ResponseDecoder::new(256, 4096);
    for &k in pending {
        dec.sent(k);
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    for piece in pieces(data, chunks) {
        buf.extend_from_slice(piece);
        for _ in 0..=buf.len() {
            match dec.decode(&buf) {
                Ok(step) => {
                    assert!(step.consumed <= buf.len());
                    buf.drain(..step.consumed);
                    match step.response {
                        Some(r) => events.push(Ok(r)),
                        None if step.consumed == 0 => break,
                        None => {}
                    }
                }
                Err(e) => {
                    assert!(e.consumed() > 0 && e.consumed() <= buf.len());
                    buf.drain(..e.consumed());
                    events.push(Err(match e {
                        ResponseError::Malformed { .. } => "malformed",
                        ResponseError::TooLarge { .. } => "too large",
                    }));
                }
            }
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoke() {
        command_decoder(b"");
        command_decoder(
            b"\x05GROUP misc.test\r\nARTICLE <a@b>\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n\0\n",
        );
        block_decoder(b"");
        block_decoder(b"211 1 1 1 g\r\n1\r\n.\r\n..x\r\n.\r\n");
        block_decoder(b"\x83abcdef\r\n.\r\n.\r\n");
    }
}
