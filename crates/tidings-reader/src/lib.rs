//! Reader sessions for Tidings: the NNTP conversation with newsreaders (tin, slrn,
//! Thunderbird, Python's `nntplib`).
//!
//! What it does:
//! - [`serve_connection`] runs one session on an accepted [`Stream`]: greeting, every RFC 3977
//!   reader command (GROUP, LISTGROUP, ARTICLE/HEAD/BODY/STAT, NEXT/LAST, OVER, HDR, LIST
//!   variants incl. RFC 6048 COUNTS/MODERATORS/MOTD/DISTRIB.PATS, NEWGROUPS, NEWNEWS, DATE,
//!   HELP, CAPABILITIES, MODE READER, QUIT), the RFC 2980 commands clients still use (XOVER,
//!   XHDR, XPAT, XGTITLE), AUTHINFO USER/PASS and SASL PLAIN (RFC 4643), STARTTLS (RFC 4642),
//!   COMPRESS DEFLATE (RFC 8054) and POST with injection per RFC 5537 (Message-ID, Date, Path,
//!   Injection-Date, Injection-Info; Cancel-Lock checked for cancels; moderated groups go to a
//!   moderation queue directory).
//! - Access rules ([`AccessRule`]) by client address and user: readable groups (others are
//!   invisible), postable groups, NEWNEWS, per-user connection limits and post rates.
//! - Replies are built in one buffer per batch of pipelined commands and written with one
//!   write; articles are dot-stuffed straight from the stored bytes, byte-exact.
//!
//! What it does NOT do: accept connections (the daemon runs `tidings_net::listener`), transit
//! (IHAVE, CHECK, TAKETHIS, MODE STREAM answer `502` and are not advertised; peering will plug
//! in as a separate handler), control messages other than `cancel` (refused with `441`), PGP
//! verification, expiry, or reading configuration files. Times given to NEWGROUPS/NEWNEWS
//! without `GMT` are taken as UTC. An idle client gets a `400` line and is disconnected.

mod config;
mod limits;
mod post;
mod session;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use config::{AccessRule, ReaderConfig, default_rules};
pub use limits::Limits;
pub use tidings_net::{ShutdownSignal, Stream};
pub use tokio_rustls::TlsAcceptor;

/// Checks user names and passwords (AUTHINFO USER/PASS and SASL PLAIN). Called on a blocking
/// thread, so it may be slow (e.g. argon2).
pub trait Authenticator: Send + Sync + 'static {
    /// Whether `password` is right for `user`.
    fn verify(&self, user: &str, password: &str) -> bool;
}

/// An [`Authenticator`] that accepts nobody.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoUsers;

impl Authenticator for NoUsers {
    fn verify(&self, _user: &str, _password: &str) -> bool {
        false
    }
}

/// Everything a session needs from the server, shared by all sessions.
pub struct Services {
    /// The article store (reads).
    pub store: Arc<tidings_store::Store>,
    /// The group-commit writer (POST).
    pub writer: tidings_store::writer::Writer,
    /// This server's path identity: greeting, Path, Message-ID, Injection-Info.
    pub pathhost: String,
    /// Reader settings and access rules.
    pub config: Arc<ReaderConfig>,
    /// Password checks.
    pub auth: Arc<dyn Authenticator>,
    /// TLS for STARTTLS; `None`: STARTTLS is not offered.
    pub tls: Option<TlsAcceptor>,
    /// Moderation queue: posts to moderated groups without Approved are written here, one
    /// file per article (`<unique>.msg`, written to a temporary name, fsynced, renamed).
    pub moderation_dir: PathBuf,
    /// Current time, unix seconds (tests pin it).
    pub clock: fn() -> i64,
    /// Connection and post-rate counters for access-rule limits (`Default::default()`).
    pub limits: Arc<Limits>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("pathhost", &self.pathhost)
            .field("moderation_dir", &self.moderation_dir)
            .finish_non_exhaustive()
    }
}

/// The system clock, for [`Services::clock`].
#[must_use]
pub fn system_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Per-listener settings of a session.
#[derive(Debug, Clone)]
pub struct ListenerSettings {
    /// Listener name, for logs.
    pub name: String,
    /// Offer STARTTLS (needs [`Services::tls`]).
    pub starttls: bool,
    /// AUTHINFO only under TLS (`483` otherwise, and not advertised before TLS).
    pub auth_requires_tls: bool,
}

/// Runs one reader session until QUIT, end of file, an I/O error, the idle timeout or
/// `shutdown` (after finishing the command in progress, the client gets `400` and the
/// connection is closed).
pub async fn serve_connection(
    services: Arc<Services>,
    stream: Stream,
    peer: SocketAddr,
    listener: ListenerSettings,
    shutdown: ShutdownSignal,
) {
    session::run(services, stream, peer, listener, shutdown).await;
}
