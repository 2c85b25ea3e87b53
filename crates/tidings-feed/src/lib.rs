//! Peering for Tidings: the inbound half (transit sessions receiving articles from peers).
//!
//! What it does:
//! - [`peers`]: the `[[peer]]` configuration ([`PeerConfig`], shared with the outbound half)
//!   and identification of inbound connections ([`PeerTable::identify`]) by address (CIDR),
//!   pinned TLS client certificate (SHA-256) or AUTHINFO user; per-peer counters.
//! - [`policy`]: `[transit]` settings ([`TransitConfig`]), the accept / refuse / defer
//!   decision as a pure function ([`policy::decide`]), and the acceptance checks on a
//!   received article ([`policy::examine`]: transit header validation, NUL, message-id
//!   mismatch, loop, age, future date, carried groups or `junk`), which also prepends our
//!   pathhost to Path.
//! - [`inbound`]: [`serve_transit`], one transit session: IHAVE, MODE STREAM, CHECK and
//!   TAKETHIS with unlimited pipelining (also TAKETHIS without CHECK), an in-flight set with
//!   timeouts ([`InFlight`]) so that two connections do not receive the same article at once,
//!   remembered rejects, and 235/239 sent only once the store writer reports the article
//!   durable, in command order, without waiting for one article before reading the next.
//!
//! What it does NOT do: accept connections or greet (the reader session on the same port
//! hands a connection over at its first transit command, through the binary), reader commands
//! (a transit session hands the connection back at the first one), authentication or server-side
//! TLS handshakes (the binary and `tidings-net`), or keep the outgoing queues (the store does;
//! `outbound` feeds from them). It does not check PGP signatures of control messages, or
//! process control messages from peers at all: they are filed like any other article.

pub mod inbound;
pub mod outbound;
pub mod peers;
pub mod policy;

pub use inbound::{InFlight, InFlightGuard, TransitEnd, TransitServices, serve_transit};
pub use peers::{
    CounterSnapshot, IdentifiedBy, PeerConfig, PeerCounters, PeerIdentity, PeerTable, PeerTransport,
};
pub use policy::{TransitConfig, UnknownGroups};
