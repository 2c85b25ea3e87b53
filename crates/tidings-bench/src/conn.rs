//! A blocking NNTP client connection built on the tidings-proto client codec.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use socket2::SockRef;
use tidings_proto::command::Command;
use tidings_proto::{Response, ResponseDecoder};

/// Socket read/write timeout: no single wait may last longer.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest multi-line response accepted (an OVER of 20,000 records is a few MB).
const BLOCK_LIMIT: usize = 256 << 20;
/// Read chunk size.
const CHUNK: usize = 256 << 10;

/// Resolve an address and insist that it is loopback.
pub fn loopback_addr(addr: &str) -> Result<SocketAddr> {
    let sa = addr
        .to_socket_addrs()
        .with_context(|| format!("resolving {addr}"))?
        .next()
        .ok_or_else(|| anyhow!("{addr}: no address"))?;
    if !sa.ip().is_loopback() {
        bail!("{addr}: only loopback addresses (127.0.0.1, ::1) are allowed");
    }
    Ok(sa)
}

/// One client connection: a socket, an input buffer and the pipelining decoder.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    decoder: ResponseDecoder,
    out: Vec<u8>,
    /// Queued before `out`, in order: owned runs of earlier `out` bytes and shared buffers
    /// (large article bodies, written without being copied into `out`).
    ahead: Vec<Arc<[u8]>>,
    quickack: bool,
    /// The greeting line (code and text).
    pub greeting: String,
}

impl Conn {
    /// Connect, set TCP_NODELAY (and TCP_QUICKACK if asked), read the greeting.
    pub fn connect(addr: SocketAddr, quickack: bool) -> Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut conn = Self {
            stream,
            buf: vec![0; CHUNK * 2],
            start: 0,
            end: 0,
            decoder: ResponseDecoder::new(4096, BLOCK_LIMIT),
            out: Vec::with_capacity(4096),
            ahead: Vec::new(),
            quickack,
            greeting: String::new(),
        };
        conn.set_quickack();
        let g = conn.read_response()?;
        if !matches!(g.code.0, 200 | 201) {
            bail!("{addr}: greeting {} {}", g.code, g.text);
        }
        conn.greeting = format!("{} {}", g.code, g.text);
        Ok(conn)
    }

    fn set_quickack(&self) {
        if self.quickack {
            // Best effort: the option only changes ACK timing.
            let _ = SockRef::from(&self.stream).set_tcp_quickack(true);
        }
    }

    /// Queue a command (not yet written).
    pub fn queue(&mut self, cmd: &Command) {
        cmd.encode(&mut self.out);
        self.decoder.sent(cmd.kind());
    }

    /// Queue raw bytes that get no reply of their own (an article after 335/340).
    pub fn queue_bytes(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Queue raw bytes written by `f` straight into the output buffer.
    pub fn queue_with(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        f(&mut self.out);
    }

    /// Queue a shared buffer (a large body from a pool) without copying it.
    pub fn queue_shared(&mut self, bytes: &Arc<[u8]>) {
        if !self.out.is_empty() {
            self.ahead.push(Arc::from(self.out.as_slice()));
            self.out.clear();
        }
        self.ahead.push(Arc::clone(bytes));
    }

    /// Write everything queued.
    pub fn flush(&mut self) -> Result<()> {
        for b in self.ahead.drain(..) {
            self.stream.write_all(&b).context("writing")?;
        }
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).context("writing")?;
            self.out.clear();
        }
        Ok(())
    }

    /// Flush, then read the next complete response.
    pub fn read_response(&mut self) -> Result<Response> {
        self.flush()?;
        // Bounded: every iteration either consumes bytes or reads more (with a timeout),
        // and a response is at most BLOCK_LIMIT bytes.
        loop {
            let step = self
                .decoder
                .decode(&self.buf[self.start..self.end])
                .map_err(|e| anyhow!("bad response: {e}"))?;
            self.start += step.consumed;
            if let Some(r) = step.response {
                return Ok(r);
            }
            if step.consumed == 0 || self.start == self.end {
                self.fill()?;
            }
        }
    }

    /// Send one command and read its response.
    pub fn call(&mut self, cmd: &Command) -> Result<Response> {
        self.queue(cmd);
        self.read_response()
    }

    fn fill(&mut self) -> Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.buf.len() - self.end < CHUNK {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < CHUNK {
            let len = self.buf.len() * 2;
            self.buf.resize(len, 0);
        }
        let n = self
            .stream
            .read(&mut self.buf[self.end..])
            .context("reading")?;
        if n == 0 {
            bail!("connection closed by server");
        }
        self.end += n;
        self.set_quickack();
        Ok(())
    }

    /// Send QUIT and close (errors ignored).
    pub fn quit(mut self) {
        self.queue(&Command::Quit);
        let _ = self.flush();
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
    }
}
