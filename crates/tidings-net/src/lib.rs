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
    Stream, StreamInfo, TlsInfo, Upgraded, read_buf_with_idle_timeout, read_with_idle_timeout,
};
