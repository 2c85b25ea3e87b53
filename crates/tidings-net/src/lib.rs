//! Transports for Tidings: bytes in, bytes out.
//!
//! What it does:
//!
//! - [`tls`]: rustls configuration with the *ring* provider, TLS 1.2 and 1.3 only; PEM loading;
//!   a self-signed certificate when none is configured; hot certificate reload; optional client
//!   certificates for peers, matched by SHA-256 [`Fingerprint`]; a client connector for feeders
//!   that trusts a CA file or a pinned fingerprint.
//! - [`Stream`]: one connection (plain TCP, TLS server or client side, optionally COMPRESSed),
//!   with STARTTLS upgrades that discard any plaintext buffered after the command, and a
//!   description of itself ([`StreamInfo`]) for logs and CAPABILITIES.
//! - [`compress`]: COMPRESS DEFLATE (RFC 8054), raw deflate with a sync flush at every flush.
//! - [`listener`]: the accept loop: NNTP over plain TCP, STARTTLS-capable, or implicit TLS
//!   (NNTPS), with total and per-address connection limits, handshake timeouts, shutdown and
//!   draining; plus an idle-read timeout helper.
//!
//! # Example: a STARTTLS port
//!
//! ```no_run
//! use std::{sync::Arc, time::Duration};
//! use tidings_net::listener::{self, Connection, Limiter, ListenOptions, TlsMode};
//! use tidings_net::tls::{self, CertResolver, ClientCertPolicy};
//! use tidings_net::{Shutdown, read_buf_with_idle_timeout};
//! use tokio::io::AsyncWriteExt;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let paths = tls::ensure_self_signed("/var/lib/tidings/tls".as_ref(), "news.example")?;
//! let certs = Arc::new(CertResolver::new(paths)?);
//! let acceptor = tls::acceptor(certs.clone(), ClientCertPolicy::None)?;
//! let shutdown = Shutdown::new();
//! let _watcher = certs.spawn_watcher(Duration::from_secs(60), shutdown.signal());
//!
//! let socket = tokio::net::TcpListener::bind("[::1]:119").await?;
//! let limiter = Arc::new(Limiter::new(500, 10));
//! let options = ListenOptions::new(TlsMode::StartTls, Some(acceptor), limiter);
//! let session = |conn: Connection| async move {
//!     let Connection { mut stream, starttls, permit, .. } = conn;
//!     let _slot = permit; // held until the session ends
//!     let _ = stream.write_all(b"200 ready\r\n").await;
//!     let mut buf = Vec::new();
//!     let idle = Duration::from_secs(600);
//!     if read_buf_with_idle_timeout(&mut stream, &mut buf, 4096, idle).await.is_err() {
//!         return;
//!     }
//!     // ... the NNTP layer decodes "STARTTLS\r\n" and removes it from `buf` ...
//!     if let (Some(acceptor), true) = (starttls, stream.can_starttls()) {
//!         let _ = stream.write_all(b"382 continue\r\n").await;
//!         let _ = stream.flush().await;
//!         // `buf` (whatever followed the command) is handed over and dropped.
//!         match stream.starttls_server(buf, &acceptor, Duration::from_secs(10)).await {
//!             Ok(up) => stream = up.stream, // log `up.discarded` when it is not 0
//!             Err(_) => return,
//!         }
//!     }
//!     // ... go on with `stream`, now TLS ...
//! };
//! let refuse = |_: &listener::Refusal| b"400 too many connections\r\n".to_vec();
//! // Runs until `shutdown.trigger()`, then gives back the running connections.
//! let running = listener::run(socket, options, session, refuse, shutdown.signal()).await?;
//! running.drain(Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```
//!
//! What it does NOT do: it knows no NNTP. It never parses a command or a reply; the session
//! layer decides when STARTTLS or COMPRESS happen, writes every reply (including the refusal
//! text the listener sends on its behalf), and decides whether a client certificate's
//! fingerprint belongs to a known peer. It has no QUIC yet, reads no configuration files, and
//! does not verify client certificate chains (peers are pinned, not CA-verified).

mod error;
mod fingerprint;
mod shutdown;
mod stream;

pub mod compress;
pub mod listener;
pub mod tls;

pub use error::NetError;
pub use fingerprint::Fingerprint;
pub use shutdown::{Shutdown, ShutdownSignal};
pub use stream::{
    Stream, StreamInfo, TlsInfo, Transport, Upgraded, read_buf_with_idle_timeout,
    read_with_idle_timeout,
};
