//! Listeners: the accept loop, TLS modes, connection limits and shutdown.
//!
//! [`run`] accepts connections on a bound `TcpListener` until a [`ShutdownSignal`] fires,
//! and returns the [`Connections`] still running so the caller can [`drain`](Connections::drain)
//! them with a deadline. For every accepted socket it:
//!
//! 1. sets `TCP_NODELAY`;
//! 2. takes a slot from the shared [`Limiter`] (total and per client address). Over a limit, the
//!    caller's refusal closure supplies a short message (the NNTP layer writes `400 ...`), which
//!    is written (over TLS on an implicit-TLS port) and the connection closed, all in a
//!    separate task bounded by a timeout, so the loop stays responsive;
//! 3. on an implicit-TLS port, performs the handshake with a timeout;
//! 4. calls the handler with a [`Connection`] in its own task. The connection's [`Permit`]
//!    frees the slot when dropped, that is when the handler is done with the connection.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::{NetError, ShutdownSignal, Stream};

/// How a port uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Plain text only.
    #[default]
    None,
    /// Plain text; the session may upgrade with STARTTLS (RFC 4642).
    StartTls,
    /// TLS from the first byte (NNTPS, RFC 8143).
    Implicit,
}

impl TlsMode {
    /// The configuration spelling: `none`, `starttls`, `implicit`.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::None => "none",
            TlsMode::StartTls => "starttls",
            TlsMode::Implicit => "implicit",
        }
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for an unknown [`TlsMode`] name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown TLS mode {0:?} (expected none, starttls or implicit)")]
pub struct BadTlsMode(pub String);

impl FromStr for TlsMode {
    type Err = BadTlsMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "plain" => Ok(TlsMode::None),
            "starttls" => Ok(TlsMode::StartTls),
            "implicit" | "tls" | "nntps" => Ok(TlsMode::Implicit),
            _ => Err(BadTlsMode(s.to_owned())),
        }
    }
}

/// One listening port as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Address and port; IPv4 or IPv6 (`[::1]:119`).
    pub addr: SocketAddr,
    /// TLS use on this port.
    pub mode: TlsMode,
}

impl ListenerConfig {
    /// Binds the port (see [`bind_tcp`]).
    pub async fn bind(&self) -> Result<TcpListener, NetError> {
        Ok(bind_tcp(self.addr)?)
    }
}

/// Binds a listening TCP socket. An IPv6 address accepts IPv6 only (`IPV6_V6ONLY`), whatever
/// the system's `bindv6only` default, so that `0.0.0.0:119` and `[::]:119` can both be
/// listened on; `SO_REUSEADDR` is set (a restart does not wait for old connections'
/// TIME_WAIT). Must be called inside a Tokio runtime.
pub fn bind_tcp(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// The server has `max_total` connections.
    TooManyConnections,
    /// This client address has `max_per_address` connections.
    TooManyFromAddress,
}

/// A refused connection, handed to the refusal closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub reason: RefusalReason,
    /// Who.
    pub peer: SocketAddr,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// Connection slots, total and per client address; share one between listeners (`Arc`) so the
/// limits hold for the whole server.
#[derive(Debug)]
pub struct Limiter {
    max_total: usize,
    max_per_address: usize,
    counts: Mutex<Counts>,
}

impl Limiter {
    /// At most `max_total` connections in all, `max_per_address` from one IP address
    /// (IPv4-mapped IPv6 addresses count as their IPv4 address; IPv6 addresses count per /64,
    /// the block one host or site normally gets). `usize::MAX` means no limit.
    pub fn new(max_total: usize, max_per_address: usize) -> Self {
        Self {
            max_total,
            max_per_address,
            counts: Mutex::new(Counts::default()),
        }
    }

    /// Takes a slot for `ip`, or says which limit is reached.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, RefusalReason> {
        let ip = limit_key(ip);
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.total >= self.max_total {
            return Err(RefusalReason::TooManyConnections);
        }
        let mine = counts.per_address.entry(ip).or_insert(0);
        if *mine >= self.max_per_address {
            if *mine == 0 {
                counts.per_address.remove(&ip);
            }
            return Err(RefusalReason::TooManyFromAddress);
        }
        *mine += 1;
        counts.total += 1;
        Ok(Permit {
            limiter: Arc::clone(self),
            ip,
        })
    }

    /// Connections holding a slot.
    pub fn active(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }

    /// Connections holding a slot for `ip`.
    pub fn active_for(&self, ip: IpAddr) -> usize {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.per_address.get(&limit_key(ip)).copied().unwrap_or(0)
    }
}

/// What the per-address limit counts: an IPv4 address (also when IPv4-mapped), or the /64 an
/// IPv6 address is in (a host given a /64 could otherwise open `max_per_address` connections
/// from each of its 2^64 addresses).
fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// A connection slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Permit {
    limiter: Arc<Limiter>,
    ip: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self
            .limiter
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_address.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_address.remove(&self.ip);
            }
        }
    }
}

/// An accepted connection, handed to the handler.
pub struct Connection {
    /// The stream: already TLS on an implicit-TLS port, plain otherwise.
    pub stream: Stream,
    /// The client's address.
    pub peer: SocketAddr,
    /// The port's TLS mode.
    pub mode: TlsMode,
    /// The acceptor for STARTTLS on a `starttls` port (`None` on the other ports).
    pub starttls: Option<TlsAcceptor>,
    /// Fires when the server shuts down (say goodbye and close).
    pub shutdown: ShutdownSignal,
    /// The connection's slot: keep it as long as the connection lives.
    pub permit: Permit,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("stream", &self.stream)
            .field("peer", &self.peer)
            .field("mode", &self.mode)
            .field("starttls", &self.starttls.is_some())
            .field("permit", &self.permit)
            .finish_non_exhaustive()
    }
}

/// How [`run`] treats connections.
#[derive(Clone)]
pub struct ListenOptions {
    /// TLS use on this port.
    pub mode: TlsMode,
    /// Required for `starttls` and `implicit`.
    pub tls: Option<TlsAcceptor>,
    /// Slots, shared by all the server's listeners.
    pub limiter: Arc<Limiter>,
    /// How long an implicit TLS handshake may take.
    pub handshake_timeout: Duration,
    /// How long writing a refusal (including its TLS handshake) may take.
    pub refusal_timeout: Duration,
    /// Refusals being written at once; beyond that, refused sockets are closed without a word.
    pub max_refusing: usize,
}

impl fmt::Debug for ListenOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenOptions")
            .field("mode", &self.mode)
            .field("tls", &self.tls.is_some())
            .field("limiter", &self.limiter)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("refusal_timeout", &self.refusal_timeout)
            .field("max_refusing", &self.max_refusing)
            .finish()
    }
}

impl ListenOptions {
    /// Options with the given mode, acceptor and limiter; a 10 s handshake timeout, a 5 s
    /// refusal timeout and 64 refusals at once.
    pub fn new(mode: TlsMode, tls: Option<TlsAcceptor>, limiter: Arc<Limiter>) -> Self {
        Self {
            mode,
            tls,
            limiter,
            handshake_timeout: Duration::from_secs(10),
            refusal_timeout: Duration::from_secs(5),
            max_refusing: 64,
        }
    }
}

/// The connections [`run`] started and that may still be running.
#[derive(Debug)]
pub struct Connections {
    set: JoinSet<()>,
}

impl Connections {
    /// Tasks not yet reaped (some may have just finished).
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// True if no task is left.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Waits up to `deadline` for every connection to end, then aborts the rest. Returns how
    /// many were aborted.
    pub async fn drain(mut self, deadline: Duration) -> usize {
        let all_done = async { while self.set.join_next().await.is_some() {} };
        if tokio::time::timeout(deadline, all_done).await.is_ok() {
            return 0;
        }
        let left = self.set.len();
        self.set.shutdown().await;
        left
    }
}

/// Decrements a counter on drop.
struct CountGuard(Arc<AtomicUsize>);

impl Drop for CountGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accepts connections on `listener` until `shutdown` fires, as described in the
/// [module documentation](self).
///
/// `handler` gets each [`Connection`] in its own task. `refuse` gives the bytes to write to a
/// connection over a limit (e.g. `b"400 too many connections\r\n".to_vec()`).
///
/// Returns the connections still running; call [`Connections::drain`]. Fails at once if the
/// mode needs TLS and `options.tls` is `None`. Accept errors (such as running out of file
/// descriptors) are logged and retried after a short pause; they do not stop the loop.
pub async fn run<H, Fut, R>(
    listener: TcpListener,
    options: ListenOptions,
    handler: H,
    refuse: R,
    mut shutdown: ShutdownSignal,
) -> Result<Connections, NetError>
where
    H: Fn(Connection) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    R: Fn(&Refusal) -> Vec<u8> + Send + Sync + 'static,
{
    if options.mode != TlsMode::None && options.tls.is_none() {
        return Err(NetError::TlsConfig(format!(
            "a {} listener needs a TLS acceptor",
            options.mode
        )));
    }
    let handler = Arc::new(handler);
    let refuse = Arc::new(refuse);
    let refusing = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = shutdown.wait() => break,
            Some(done) = set.join_next(), if !set.is_empty() => {
                if let Err(e) = done
                    && e.is_panic()
                {
                    tracing::error!(error = %e, "connection task panicked");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    match options.limiter.try_acquire(peer.ip()) {
                        Ok(permit) => {
                            set.spawn(serve(
                                tcp,
                                peer,
                                options.clone(),
                                permit,
                                Arc::clone(&handler),
                                shutdown.clone(),
                            ));
                        }
                        Err(reason) => {
                            if refusing.fetch_add(1, Ordering::Relaxed) >= options.max_refusing {
                                refusing.fetch_sub(1, Ordering::Relaxed);
                                tracing::debug!(%peer, ?reason, "refused silently");
                                continue;
                            }
                            let guard = CountGuard(Arc::clone(&refusing));
                            let message = refuse(&Refusal { reason, peer });
                            set.spawn(write_refusal(tcp, peer, options.clone(), message, guard));
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::select! {
                        () = shutdown.wait() => break,
                        () = tokio::time::sleep(Duration::from_millis(50)) => {}
                    }
                }
            },
        }
    }
    Ok(Connections { set })
}

async fn serve<H, Fut>(
    tcp: TcpStream,
    peer: SocketAddr,
    options: ListenOptions,
    permit: Permit,
    handler: Arc<H>,
    shutdown: ShutdownSignal,
) where
    H: Fn(Connection) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let stream = match (&options.mode, &options.tls) {
        (TlsMode::Implicit, Some(acceptor)) => {
            match Stream::accept_tls(tcp, acceptor, options.handshake_timeout).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            }
        }
        _ => Stream::from_tcp(tcp),
    };
    let starttls = match options.mode {
        TlsMode::StartTls => options.tls,
        _ => None,
    };
    handler(Connection {
        stream,
        peer,
        mode: options.mode,
        starttls,
        shutdown,
        permit,
    })
    .await;
}

async fn write_refusal(
    tcp: TcpStream,
    peer: SocketAddr,
    options: ListenOptions,
    message: Vec<u8>,
    _guard: CountGuard,
) {
    let work = async {
        let mut stream = match (&options.mode, &options.tls) {
            (TlsMode::Implicit, Some(acceptor)) => {
                Stream::accept_tls(tcp, acceptor, options.refusal_timeout).await?
            }
            _ => Stream::from_tcp(tcp),
        };
        stream.write_all(&message).await?;
        stream.flush().await?;
        stream.shutdown().await?;
        // Read (and ignore) what the client still sends until it closes, so that closing with
        // unread data does not reset the connection before the client read the message.
        let mut sink = [0u8; 1024];
        for _ in 0..16 {
            if stream.read(&mut sink).await? == 0 {
                break;
            }
        }
        Ok::<(), NetError>(())
    };
    match tokio::time::timeout(options.refusal_timeout, work).await {
        Ok(Ok(())) => tracing::debug!(%peer, "refused"),
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "refusal failed"),
        Err(_) => tracing::debug!(%peer, "refusal timed out"),
    }
}
