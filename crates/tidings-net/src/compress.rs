//! COMPRESS DEFLATE (RFC 8054): raw deflate both ways over any byte stream.
//!
//! [`DeflateStream`] deflates everything written and inflates everything read. It uses raw
//! deflate (RFC 1951, no zlib or gzip header), as RFC 8054 requires. Every application
//! `flush` ends with a deflate *sync flush*, so a reply is never stuck in the compressor.
//!
//! # Decompression bombs
//!
//! The wrapper never holds inflated data: each `poll_read` inflates straight into the caller's
//! buffer, and at most [`MAX_INFLATE_PER_READ`] bytes per call. Memory is therefore bounded by
//! the caller's buffer, whatever the ratio of the compressed input; a peer that sends a small
//! bomb only makes the application read a large stream, to which its own limits (line length,
//! article size, idle and total timeouts) apply exactly as they do to plaintext.
//!
//! Invalid deflate input is an [`std::io::ErrorKind::InvalidData`] error, never a panic.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most inflated bytes one `poll_read` produces.
pub const MAX_INFLATE_PER_READ: usize = 64 * 1024;

/// Compressed bytes read from the inner stream at a time.
const READ_CHUNK: usize = 16 * 1024;

/// Compressed bytes buffered before they are pushed to the inner stream.
const WRITE_CHUNK: usize = 16 * 1024;

/// The default compression level (zlib's 6 trades speed and ratio well for text).
pub const DEFAULT_LEVEL: u32 = 6;

/// A stream that is deflate-compressed in both directions.
pub struct DeflateStream<S> {
    inner: S,
    inflate: Decompress,
    deflate: Compress,
    /// Compressed input not yet inflated: `rbuf[rpos..]`.
    rbuf: Vec<u8>,
    rpos: usize,
    /// The last inflate filled the whole output: it may hold more even without input.
    inflate_pending: bool,
    read_eof: bool,
    /// The peer ended its deflate stream (BFINAL): reads return end of file from then on.
    inflate_done: bool,
    /// Compressed output not yet written: `wbuf[wpos..]`.
    wbuf: Vec<u8>,
    wpos: usize,
    /// Input accepted since the last sync flush.
    dirty: bool,
}

impl<S> std::fmt::Debug for DeflateStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeflateStream")
            .field("total_in", &self.inflate.total_in())
            .field("total_out", &self.deflate.total_out())
            .finish_non_exhaustive()
    }
}

impl<S> DeflateStream<S> {
    /// Wraps `inner` with the default compression level.
    pub fn new(inner: S) -> Self {
        Self::with_prefix(inner, Vec::new(), DEFAULT_LEVEL)
    }

    /// Wraps `inner`; `prefix` is compressed input the application had already read from
    /// `inner` (it is inflated before anything else), `level` is 0 (store) to 9 (best).
    pub fn with_prefix(inner: S, prefix: Vec<u8>, level: u32) -> Self {
        let mut rbuf = prefix;
        if rbuf.capacity() < READ_CHUNK {
            rbuf.reserve(READ_CHUNK - rbuf.len());
        }
        Self {
            inner,
            inflate: Decompress::new(false),
            deflate: Compress::new(Compression::new(level.min(9)), false),
            rbuf,
            rpos: 0,
            inflate_pending: false,
            read_eof: false,
            inflate_done: false,
            wbuf: Vec::with_capacity(WRITE_CHUNK),
            wpos: 0,
            dirty: false,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped stream, mutably (reading or writing it directly corrupts the compressed
    /// streams).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Compressed bytes read and inflated bytes produced so far.
    pub fn read_totals(&self) -> (u64, u64) {
        (self.inflate.total_in(), self.inflate.total_out())
    }

    /// Bytes accepted for writing and compressed bytes produced so far.
    pub fn write_totals(&self) -> (u64, u64) {
        (self.deflate.total_in(), self.deflate.total_out())
    }
}

impl<S: AsyncWrite + Unpin> DeflateStream<S> {
    /// Writes all pending compressed output to the inner stream.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.wpos < self.wbuf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.wbuf[self.wpos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wpos += n;
        }
        self.wbuf.clear();
        self.wpos = 0;
        Poll::Ready(Ok(()))
    }

    fn ensure_out_space(&mut self) {
        if self.wpos == self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
        }
        if self.wbuf.capacity() - self.wbuf.len() < 256 {
            self.wbuf.reserve(WRITE_CHUNK);
        }
    }
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("COMPRESS: {e}"))
}

impl<S: AsyncRead + Unpin> AsyncRead for DeflateStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.inflate_done {
                return Poll::Ready(Ok(()));
            }
            if this.rpos < this.rbuf.len() || this.inflate_pending {
                let want = buf.remaining().min(MAX_INFLATE_PER_READ);
                let out = buf.initialize_unfilled_to(want);
                let (in0, out0) = (this.inflate.total_in(), this.inflate.total_out());
                let status = this
                    .inflate
                    .decompress(&this.rbuf[this.rpos..], out, FlushDecompress::None)
                    .map_err(invalid)?;
                let consumed = usize::try_from(this.inflate.total_in() - in0).map_err(invalid)?;
                let produced = usize::try_from(this.inflate.total_out() - out0).map_err(invalid)?;
                this.rpos += consumed;
                this.inflate_pending = produced == want;
                buf.advance(produced);
                if status == Status::StreamEnd {
                    this.inflate_done = true;
                }
                if produced > 0 {
                    return Poll::Ready(Ok(()));
                }
                if consumed > 0 {
                    continue;
                }
            }
            // Inflate needs more input.
            if this.read_eof {
                return Poll::Ready(Ok(()));
            }
            if this.rpos > 0 {
                this.rbuf.drain(..this.rpos);
                this.rpos = 0;
            }
            let len = this.rbuf.len();
            if len >= READ_CHUNK * 4 {
                // Inflate made no progress on a large input: cannot happen with valid input.
                return Poll::Ready(Err(invalid("inflate made no progress")));
            }
            this.rbuf.resize(len + READ_CHUNK, 0);
            let mut rb = ReadBuf::new(&mut this.rbuf[len..]);
            let polled = Pin::new(&mut this.inner).poll_read(cx, &mut rb);
            let n = rb.filled().len();
            this.rbuf.truncate(len + n);
            ready!(polled)?;
            if n == 0 {
                this.read_eof = true;
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for DeflateStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        for _ in 0..8 {
            if this.wbuf.len() - this.wpos >= WRITE_CHUNK {
                ready!(this.poll_drain(cx))?;
            }
            this.ensure_out_space();
            let in0 = this.deflate.total_in();
            this.deflate
                .compress_vec(data, &mut this.wbuf, FlushCompress::None)
                .map_err(invalid)?;
            let consumed = usize::try_from(this.deflate.total_in() - in0).map_err(invalid)?;
            if consumed > 0 {
                this.dirty = true;
                return Poll::Ready(Ok(consumed));
            }
            // Output space full: push it out and try again.
            ready!(this.poll_drain(cx))?;
        }
        Poll::Ready(Err(io::Error::other("COMPRESS: deflate made no progress")))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.dirty {
            // Sync flush: all input so far becomes decodable output. Repeat while deflate fills
            // the whole output space (zlib's contract for flushing).
            loop {
                this.ensure_out_space();
                this.deflate
                    .compress_vec(&[], &mut this.wbuf, FlushCompress::Sync)
                    .map_err(invalid)?;
                if this.wbuf.len() < this.wbuf.capacity() {
                    break;
                }
            }
            this.dirty = false;
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
