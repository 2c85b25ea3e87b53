//! Inbound transit: sessions that receive articles from peers (IHAVE, MODE STREAM, CHECK,
//! TAKETHIS).

mod inflight;
mod session;

use std::sync::Arc;
use std::time::Duration;

use tidings_net::{ShutdownSignal, Stream};
use tidings_store::Store;
use tidings_store::writer::Writer;

pub use inflight::{InFlight, InFlightGuard};

use crate::peers::PeerIdentity;
use crate::policy::TransitConfig;

/// Everything transit sessions need from the server, shared by all of them.
pub struct TransitServices {
    /// The store (history look-ups, remembered rejects, the active list).
    pub store: Arc<Store>,
    /// The group-commit writer: acknowledgements are sent from its completions.
    pub writer: Writer,
    /// Our Path identity: prepended to Path, and a Path containing it is a loop.
    pub pathhost: String,
    /// `[transit]` settings.
    pub config: TransitConfig,
    /// Message-ids being received by some session right now.
    pub in_flight: Arc<InFlight>,
    /// Current time, unix seconds (tests pin it).
    pub clock: fn() -> i64,
    /// A session that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// Longest command line.
    pub max_line: usize,
}

impl TransitServices {
    /// Services with the system clock, a 600 s idle timeout, a 2048-octet line limit and an
    /// in-flight set with `config`'s timeout.
    #[must_use]
    pub fn new(store: Arc<Store>, writer: Writer, pathhost: String, config: TransitConfig) -> Self {
        Self {
            in_flight: InFlight::new(Duration::from_secs(config.in_flight_timeout_secs.max(1))),
            store,
            writer,
            pathhost,
            config,
            clock: system_clock,
            idle_timeout: Duration::from_secs(600),
            max_line: 2048,
        }
    }
}

impl std::fmt::Debug for TransitServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransitServices")
            .field("pathhost", &self.pathhost)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The system clock, unix seconds.
#[must_use]
pub fn system_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// How a transit session ended.
// Returned once per session and moved right away: boxing the stream would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum TransitEnd {
    /// The connection is closed (QUIT, end of file, error, idle timeout, shutdown).
    Closed,
    /// A command for the reader arrived (MODE READER, GROUP, AUTHINFO, ...): every reply
    /// before it has been written; the caller hands `stream` back to the reader session,
    /// which processes `unread` (that command line and everything pipelined after it) first.
    Reader {
        /// The connection, TLS and COMPRESS state intact.
        stream: Stream,
        /// Bytes received but not processed, starting with the reader's command.
        unread: Vec<u8>,
    },
}

/// Runs a transit session for an identified `peer`: processes `unread` (bytes the reader
/// session received but did not process, starting with the transit command that caused the
/// hand-off) and then the socket, until QUIT, end of file, an error, the idle timeout,
/// `shutdown` (the peer gets `400`), or a reader command ([`TransitEnd::Reader`]).
///
/// No greeting is sent: the connection was greeted by the reader session (or, for a
/// dedicated peering socket, the caller greets).
pub async fn serve_transit(
    services: Arc<TransitServices>,
    stream: Stream,
    peer: PeerIdentity,
    unread: Vec<u8>,
    shutdown: ShutdownSignal,
) -> TransitEnd {
    session::run(services, stream, peer, unread, shutdown).await
}
