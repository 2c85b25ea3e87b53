//! [`Stream`]: one connection, plain or TLS, client or server side, maybe compressed.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{CipherSuite, CommonState, ProtocolVersion};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio_rustls::{TlsAcceptor, TlsConnector, client, server};

use crate::compress::{DEFAULT_LEVEL, DeflateStream};
use crate::{Fingerprint, NetError};

/// What a TLS session negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// The protocol version (TLS 1.2 or 1.3).
    pub version: ProtocolVersion,
    /// The cipher suite.
    pub cipher_suite: CipherSuite,
    /// The fingerprint of the certificate the peer presented: a client certificate on the server
    /// side, the server's certificate on the client side.
    pub peer_fingerprint: Option<Fingerprint>,
    /// The server name: on the server side the one the client asked for (SNI, if any), on the
    /// client side the one it connected to.
    pub server_name: Option<String>,
}

impl TlsInfo {
    fn from_common(common: &CommonState, server_name: Option<&str>) -> Self {
        Self {
            version: common
                .protocol_version()
                .unwrap_or(ProtocolVersion::Unknown(0)),
            cipher_suite: common
                .negotiated_cipher_suite()
                .map_or(CipherSuite::Unknown(0), |s| s.suite()),
            peer_fingerprint: common
                .peer_certificates()
                .and_then(|certs| certs.first())
                .map(|c| Fingerprint::of_der(c)),
            server_name: server_name.map(str::to_owned),
        }
    }

    /// The version as people write it: `TLSv1.3`, `TLSv1.2`.
    pub fn version_name(&self) -> String {
        match self.version {
            ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
            ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
            v => format!("{v:?}"),
        }
    }

    /// True if the peer presented a certificate whose fingerprint is one of `pinned`
    /// (constant-time comparisons).
    pub fn peer_matches(&self, pinned: &[Fingerprint]) -> bool {
        self.peer_fingerprint
            .is_some_and(|fp| fp.matches_any(pinned))
    }

    /// The cipher suite's IANA name, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub fn cipher_name(&self) -> String {
        format!("{:?}", self.cipher_suite)
    }
}

/// The transport under a [`Stream`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Transport {
    /// TCP.
    #[default]
    Tcp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Tcp => f.write_str("tcp"),
        }
    }
}

/// What a [`Stream`] is, for logs and for deciding what CAPABILITIES to advertise.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamInfo {
    /// The transport.
    pub transport: Transport,
    /// The remote address.
    pub peer_addr: Option<SocketAddr>,
    /// The local address.
    pub local_addr: Option<SocketAddr>,
    /// TLS details when the stream is encrypted.
    pub tls: Option<TlsInfo>,
    /// True once COMPRESS DEFLATE is on.
    pub compressed: bool,
}

impl fmt::Display for StreamInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.transport)?;
        if let Some(peer) = self.peer_addr {
            write!(f, " peer={peer}")?;
        }
        match &self.tls {
            None => f.write_str(" plain")?,
            Some(tls) => {
                write!(f, " {} {}", tls.version_name(), tls.cipher_name())?;
                if let Some(fp) = &tls.peer_fingerprint {
                    write!(f, " cert={fp}")?;
                }
            }
        }
        if self.compressed {
            f.write_str(" deflate")?;
        }
        Ok(())
    }
}

enum Inner {
    Tcp(TcpStream),
    TlsServer(Box<server::TlsStream<TcpStream>>),
    TlsClient(Box<client::TlsStream<TcpStream>>),
    Deflate(Box<DeflateStream<Inner>>),
    /// Only while a method moves the inner stream out.
    Gone,
}

/// One connection: TCP, TCP+TLS (server or client side), either of them compressed.
///
/// It is `AsyncRead + AsyncWrite + Unpin + Send`; [`info`](Self::info) says what it is.
/// Upgrades ([`starttls_server`](Self::starttls_server),
/// [`starttls_client`](Self::starttls_client), [`compress`](Self::compress)) consume the
/// stream and return the new one.
pub struct Stream {
    inner: Inner,
    info: StreamInfo,
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream").field("info", &self.info).finish()
    }
}

/// The result of a STARTTLS upgrade.
#[derive(Debug)]
pub struct Upgraded {
    /// The encrypted stream.
    pub stream: Stream,
    /// How many plaintext bytes that followed the STARTTLS command were thrown away (worth a
    /// log line: a well-behaved peer sends none).
    pub discarded: usize,
}

async fn with_timeout<T>(
    timeout: Duration,
    fut: impl Future<Output = io::Result<T>>,
) -> Result<T, NetError> {
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(NetError::HandshakeTimeout),
        Ok(Err(e)) => Err(NetError::Handshake(e)),
        Ok(Ok(t)) => Ok(t),
    }
}

impl Stream {
    /// A plain TCP stream (sets `TCP_NODELAY`).
    pub fn from_tcp(tcp: TcpStream) -> Self {
        let _ = tcp.set_nodelay(true);
        let info = StreamInfo {
            transport: Transport::Tcp,
            peer_addr: tcp.peer_addr().ok(),
            local_addr: tcp.local_addr().ok(),
            tls: None,
            compressed: false,
        };
        Self {
            inner: Inner::Tcp(tcp),
            info,
        }
    }

    /// Connects over plain TCP, within `timeout`.
    pub async fn connect(addr: impl ToSocketAddrs, timeout: Duration) -> Result<Self, NetError> {
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| NetError::Io(io::ErrorKind::TimedOut.into()))??;
        Ok(Self::from_tcp(tcp))
    }

    /// Server side of implicit TLS (NNTPS): handshakes on a fresh TCP connection.
    pub async fn accept_tls(
        tcp: TcpStream,
        acceptor: &TlsAcceptor,
        timeout: Duration,
    ) -> Result<Self, NetError> {
        Self::from_tcp(tcp).tls_server(acceptor, timeout).await
    }

    /// Client side of implicit TLS (NNTPS): handshakes on a fresh TCP connection.
    pub async fn connect_tls(
        tcp: TcpStream,
        connector: &TlsConnector,
        name: ServerName<'static>,
        timeout: Duration,
    ) -> Result<Self, NetError> {
        Self::from_tcp(tcp)
            .tls_client(connector, name, timeout)
            .await
    }

    /// What this stream is.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// True if the stream is encrypted.
    pub fn is_tls(&self) -> bool {
        self.info.tls.is_some()
    }

    /// True if COMPRESS is on.
    pub fn is_compressed(&self) -> bool {
        self.info.compressed
    }

    /// True if STARTTLS may still be offered: neither TLS nor COMPRESS is on yet.
    pub fn can_starttls(&self) -> bool {
        !self.is_tls() && !self.is_compressed()
    }

    fn take_tcp(&mut self) -> Result<TcpStream, NetError> {
        if self.is_compressed() {
            return Err(NetError::AlreadyCompressed);
        }
        if self.is_tls() {
            return Err(NetError::AlreadyTls);
        }
        match std::mem::replace(&mut self.inner, Inner::Gone) {
            Inner::Tcp(tcp) => Ok(tcp),
            other => {
                self.inner = other;
                Err(NetError::AlreadyTls)
            }
        }
    }

    async fn tls_server(
        mut self,
        acceptor: &TlsAcceptor,
        timeout: Duration,
    ) -> Result<Self, NetError> {
        let tcp = self.take_tcp()?;
        let tls = with_timeout(timeout, acceptor.accept(tcp)).await?;
        let (_, conn) = tls.get_ref();
        self.info.tls = Some(TlsInfo::from_common(conn, conn.server_name()));
        self.inner = Inner::TlsServer(Box::new(tls));
        Ok(self)
    }

    async fn tls_client(
        mut self,
        connector: &TlsConnector,
        name: ServerName<'static>,
        timeout: Duration,
    ) -> Result<Self, NetError> {
        let tcp = self.take_tcp()?;
        let name_str = name.to_str().into_owned();
        let tls = with_timeout(timeout, connector.connect(name, tcp)).await?;
        let (_, conn) = tls.get_ref();
        self.info.tls = Some(TlsInfo::from_common(conn, Some(&name_str)));
        self.inner = Inner::TlsClient(Box::new(tls));
        Ok(self)
    }

    /// STARTTLS, server side (RFC 4642), after the application wrote its `382` reply.
    ///
    /// `unread` is everything the application had read from this stream but not yet used: it
    /// is taken by value and **dropped**, because plaintext that followed the STARTTLS command
    /// must never be treated as if it came over TLS (the command-injection attack of
    /// CVE-2011-0411 and friends). The number of bytes dropped is returned for logging.
    ///
    /// Fails with [`NetError::AlreadyTls`] or [`NetError::AlreadyCompressed`] if STARTTLS is not
    /// allowed (check [`can_starttls`](Self::can_starttls) first: the stream is consumed either
    /// way), and with a handshake error or timeout, after which the connection is gone.
    pub async fn starttls_server(
        self,
        unread: Vec<u8>,
        acceptor: &TlsAcceptor,
        timeout: Duration,
    ) -> Result<Upgraded, NetError> {
        let discarded = unread.len();
        drop(unread);
        let stream = self.tls_server(acceptor, timeout).await?;
        Ok(Upgraded { stream, discarded })
    }

    /// STARTTLS, client side (a feeder), after it read the server's `382` reply.
    ///
    /// `unread` is whatever the feeder had read past that reply; it is dropped (a server must not
    /// send anything there, and such bytes would be plaintext an attacker could have injected).
    pub async fn starttls_client(
        self,
        unread: Vec<u8>,
        connector: &TlsConnector,
        name: ServerName<'static>,
        timeout: Duration,
    ) -> Result<Upgraded, NetError> {
        let discarded = unread.len();
        drop(unread);
        let stream = self.tls_client(connector, name, timeout).await?;
        Ok(Upgraded { stream, discarded })
    }

    /// COMPRESS DEFLATE (RFC 8054), after the `206` reply was written and flushed (server) or
    /// read (client). Inside TLS when TLS is on: TLS(compress(NNTP)).
    ///
    /// `unread` is what the application had already read past the COMPRESS exchange: it is
    /// compressed data from the peer and is inflated first. Fails with
    /// [`NetError::AlreadyCompressed`] if COMPRESS is already on.
    pub fn compress(self, unread: Vec<u8>) -> Result<Self, NetError> {
        self.compress_with_level(unread, DEFAULT_LEVEL)
    }

    /// [`compress`](Self::compress) with a deflate level from 0 to 9.
    pub fn compress_with_level(mut self, unread: Vec<u8>, level: u32) -> Result<Self, NetError> {
        if self.is_compressed() {
            return Err(NetError::AlreadyCompressed);
        }
        let inner = std::mem::replace(&mut self.inner, Inner::Gone);
        self.inner = Inner::Deflate(Box::new(DeflateStream::with_prefix(inner, unread, level)));
        self.info.compressed = true;
        Ok(self)
    }

    /// The TCP socket underneath.
    pub fn tcp(&self) -> Option<&TcpStream> {
        fn walk(inner: &Inner) -> Option<&TcpStream> {
            match inner {
                Inner::Tcp(t) => Some(t),
                Inner::TlsServer(t) => Some(t.get_ref().0),
                Inner::TlsClient(t) => Some(t.get_ref().0),
                Inner::Deflate(d) => walk(d.get_ref()),
                Inner::Gone => None,
            }
        }
        walk(&self.inner)
    }
}

fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "stream was consumed by a failed upgrade",
    )
}

impl AsyncRead for Inner {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Inner::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Inner::TlsServer(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Inner::TlsClient(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Inner::Deflate(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Inner::Gone => Poll::Ready(Err(gone())),
        }
    }
}

impl AsyncWrite for Inner {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Inner::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Inner::TlsServer(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Inner::TlsClient(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Inner::Deflate(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Inner::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Inner::Tcp(s) => Pin::new(s).poll_flush(cx),
            Inner::TlsServer(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Inner::TlsClient(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Inner::Deflate(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Inner::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Inner::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Inner::TlsServer(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Inner::TlsClient(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Inner::Deflate(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Inner::Gone => Poll::Ready(Err(gone())),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Reads into `buf`, failing with [`io::ErrorKind::TimedOut`] if nothing arrives within `idle`.
///
/// Returns the byte count as `AsyncReadExt::read` does (0 at end of file). Sessions call this
/// for every read so that a silent client does not hold its slot forever.
pub async fn read_with_idle_timeout<R: AsyncRead + Unpin + ?Sized>(
    reader: &mut R,
    buf: &mut [u8],
    idle: Duration,
) -> io::Result<usize> {
    use tokio::io::AsyncReadExt;
    match tokio::time::timeout(idle, reader.read(buf)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("idle for {}s", idle.as_secs_f32()),
        )),
    }
}

/// Like [`read_with_idle_timeout`] but appends to a `Vec` (reading at most `max` more bytes),
/// the shape a line decoder's buffer wants. Cancel-safe: the bytes are appended only when the
/// read completes, so dropping the future (e.g. in `select!`) leaves `buf` as it was.
pub async fn read_buf_with_idle_timeout<R: AsyncRead + Unpin + ?Sized>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
    idle: Duration,
) -> io::Result<usize> {
    use tokio::io::AsyncReadExt;
    buf.reserve(max);
    let mut limited = (&mut *reader).take(u64::try_from(max).unwrap_or(u64::MAX));
    match tokio::time::timeout(idle, limited.read_buf(buf)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("idle for {}s", idle.as_secs_f32()),
        )),
    }
}
