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
//! - Hand-off to transit: when [`Services::transit`] allows a connection (a configured peer), its
//!   first transit command (IHAVE, CHECK, TAKETHIS, MODE STREAM) ends the reader session with
//!   [`SessionEnd::Transit`], carrying the stream and every unprocessed byte, and CAPABILITIES
//!   lists `IHAVE` and `STREAMING` for it. [`resume_connection`] takes a connection back.
//!
//! What it does NOT do: accept connections (the daemon runs `tidings_net::listener`), transit
//! itself (the daemon passes handed-off connections to the peering crate; without a gate, or
//! for connections it does not allow, transit commands answer `502`, or `480` when
//! authenticating could help, and are not advertised), control messages other than `cancel` (refused with `441`), PGP
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
    /// Which connections may send transit commands (configured peers); `None`: nobody.
    pub transit: Option<Arc<dyn TransitGate>>,
}

/// Decides which connections are peers, allowed to send transit commands (IHAVE, CHECK,
/// TAKETHIS, MODE STREAM). Asked at each transit command and at CAPABILITIES, so it sees the
/// connection's current state (TLS after STARTTLS, the user after AUTHINFO).
pub trait TransitGate: Send + Sync {
    /// Whether a connection from `peer`, with this TLS client certificate and authenticated
    /// user, may send transit commands.
    fn allows(
        &self,
        peer: SocketAddr,
        tls_fingerprint: Option<&tidings_net::Fingerprint>,
        user: Option<&str>,
    ) -> bool;

    /// Whether authenticating could make a connection a peer (then a refused transit command
    /// gets `480` rather than `502`). Default: no.
    fn auth_could_help(&self) -> bool {
        false
    }
}

/// How a reader session ended.
// Returned once per session and moved right away: boxing the stream would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum SessionEnd {
    /// The connection is closed (or being closed).
    Closed,
    /// A transit command arrived on a connection the gate allows: the caller runs a transit
    /// session on `stream`. Every reply before it has been written.
    Transit {
        /// The connection, TLS and COMPRESS state intact.
        stream: Stream,
        /// The transit command line (with CRLF) and everything received after it.
        unread: Vec<u8>,
        /// The authenticated user, if any.
        user: Option<String>,
    },
}

/// The state a connection comes back to the reader with (see [`resume_connection`]).
#[derive(Debug, Default)]
pub struct Resume {
    /// Bytes received but not processed, starting with the next command.
    pub unread: Vec<u8>,
    /// The user authenticated before the hand-off.
    pub user: Option<String>,
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
/// connection is closed), or until an allowed peer sends a transit command
/// ([`SessionEnd::Transit`]).
pub async fn serve_connection(
    services: Arc<Services>,
    stream: Stream,
    peer: SocketAddr,
    listener: ListenerSettings,
    shutdown: ShutdownSignal,
) -> SessionEnd {
    session::run(services, stream, peer, listener, shutdown, None).await
}

/// Continues a connection that a transit session handed back: no greeting; `resume.unread`
/// is processed first (it starts with the command that caused the hand-back, e.g. MODE
/// READER), with the user authenticated before.
pub async fn resume_connection(
    services: Arc<Services>,
    stream: Stream,
    peer: SocketAddr,
    listener: ListenerSettings,
    shutdown: ShutdownSignal,
    resume: Resume,
) -> SessionEnd {
    session::run(services, stream, peer, listener, shutdown, Some(resume)).await
}
