//! Peer configuration (`[[peer]]`) and identification of inbound connections.
//!
//! The same [`PeerConfig`] serves both halves of peering: the inbound half identifies a
//! connection as a peer (by address, TLS client certificate or AUTHINFO user) and the outbound
//! half uses `addr`, `transport`, `groups`, `user` and `password` to feed it.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};
use tidings_article::Wildmat;
use tidings_net::Fingerprint;

/// How we connect to a peer (outbound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerTransport {
    /// Plain TCP.
    #[default]
    Tcp,
    /// TCP, then STARTTLS (RFC 4642).
    Starttls,
    /// TLS from the first byte (NNTPS).
    Nntps,
}

/// One `[[peer]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The peer's Path identity (the name it prepends to Path); also its name in logs.
    pub name: String,
    /// Other names the peer uses in Path.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Where to feed it (`host:port`); omitted for an inbound-only peer.
    #[serde(default)]
    pub addr: Option<String>,
    /// How to connect to `addr`: `tcp`, `starttls` or `nntps`. Default `tcp`.
    #[serde(default)]
    pub transport: PeerTransport,
    /// Wildmat of the groups we send to it. Default `*,!junk,!local.*`.
    #[serde(default = "default_groups")]
    pub groups: String,
    /// Inbound identity by source address (CIDRs). Several peers may share an address; then a
    /// connection from it may send transit commands as any of them (a TLS fingerprint tells
    /// them apart).
    #[serde(default)]
    pub accept_from: Vec<IpNet>,
    /// The peer's certificate, `sha256:<64 hex digits>`: a connection presenting it is this
    /// peer, and an outbound TLS connection must find it.
    #[serde(default, deserialize_with = "de_fingerprint")]
    pub tls_fingerprint: Option<Fingerprint>,
    /// AUTHINFO user name: outbound, what we send; inbound, a connection authenticated as this
    /// user may send transit commands as this peer.
    #[serde(default)]
    pub user: Option<String>,
    /// AUTHINFO password we send to the peer (outbound).
    #[serde(default)]
    pub password: Option<String>,
    /// Outbound TLS: CA certificates (PEM) to verify the peer with, when `tls_fingerprint` is
    /// not set. One of the two is needed for `starttls` and `nntps`.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Outbound: connections fed in parallel. Default 2.
    #[serde(default = "default_connections")]
    pub connections: usize,
    /// Outbound: commands in flight per connection (CHECK/TAKETHIS window). Default 64; more
    /// than [`MAX_WINDOW`] is used as [`MAX_WINDOW`] (with a configuration warning).
    #[serde(default = "default_window")]
    pub window: usize,
    /// Outbound: hold articles this long before offering them (cancels can overtake them).
    #[serde(default)]
    pub delay_secs: u64,
    /// Outbound: largest article sent (bytes); larger ones are not queued.
    #[serde(default)]
    pub max_size: Option<u64>,
    /// Outbound: Distribution values sent (empty: any); an article whose Distribution header
    /// names none of them is not queued.
    #[serde(default)]
    pub distributions: Vec<String>,
    /// Outbound: try MODE STREAM (CHECK/TAKETHIS); false, or a refusal, means IHAVE.
    #[serde(default = "default_true")]
    pub streaming: bool,
    /// Outbound: ask the peer for COMPRESS DEFLATE (RFC 8054) after TLS and AUTHINFO; a peer
    /// that refuses (INN's innd does not know the command) is fed uncompressed. Default false.
    #[serde(default)]
    pub compress: bool,
    /// Outbound: how long a connection may make no progress (a write, or the reply awaited)
    /// before it is closed and its articles offered again. Default 60.
    #[serde(default = "default_response_timeout")]
    pub response_timeout_secs: u64,
    /// Outbound: how long an article the peer deferred (431, 436) waits before it is offered
    /// again. Default 30.
    #[serde(default = "default_retry")]
    pub retry_secs: u64,
    /// Outbound: the longest wait between reconnection attempts (the wait doubles from one
    /// second after each failure). Default 120.
    #[serde(default = "default_max_reconnect")]
    pub max_reconnect_secs: u64,
}

fn default_response_timeout() -> u64 {
    60
}

fn default_retry() -> u64 {
    30
}

fn default_max_reconnect() -> u64 {
    120
}

/// Largest of the `*_secs` settings of a peer: a day.
const MAX_PEER_SECS: u64 = 86_400;

/// Largest `window`. A round writes all its CHECK (or TAKETHIS) commands before it reads a
/// reply, so the replies of a whole window must fit in the socket buffers between the two
/// sides, or both block writing (a Tidings peer also stops reading at 4096 unanswered
/// commands). 1024 replies are about 64 KB.
pub const MAX_WINDOW: usize = 1024;

fn default_connections() -> usize {
    2
}

fn default_window() -> usize {
    64
}

fn default_true() -> bool {
    true
}

fn default_groups() -> String {
    "*,!junk,!local.*".to_owned()
}

fn de_fingerprint<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Fingerprint>, D::Error> {
    let s = String::deserialize(d)?;
    s.parse::<Fingerprint>()
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("{s:?} is not sha256:<64 hex digits>")))
}

fn is_path_identity(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'!' && b != b',')
}

impl PeerConfig {
    /// A peer with this name and every other key at its default (for tests and builders).
    #[must_use]
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            aliases: Vec::new(),
            addr: None,
            transport: PeerTransport::Tcp,
            groups: default_groups(),
            accept_from: Vec::new(),
            tls_fingerprint: None,
            user: None,
            password: None,
            ca_file: None,
            connections: default_connections(),
            window: default_window(),
            delay_secs: 0,
            max_size: None,
            distributions: Vec::new(),
            streaming: true,
            compress: false,
            response_timeout_secs: default_response_timeout(),
            retry_secs: default_retry(),
            max_reconnect_secs: default_max_reconnect(),
        }
    }

    /// Checks the values: returns `(key, message)` for each problem, keys relative to the
    /// entry (`name`, `aliases[1]`, `groups`, ...).
    #[must_use]
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !is_path_identity(&self.name) {
            out.push((
                "name".to_owned(),
                "must be a Path identity: non-empty, no spaces, '!' or ','".to_owned(),
            ));
        } else if self.name.len() > tidings_store::MAX_PEER_NAME {
            // the store keys the peer's outgoing queue by this name
            out.push((
                "name".to_owned(),
                format!(
                    "must be at most {} characters long",
                    tidings_store::MAX_PEER_NAME
                ),
            ));
        }
        for (i, a) in self.aliases.iter().enumerate() {
            if !is_path_identity(a) {
                out.push((
                    format!("aliases[{i}]"),
                    "must be a Path identity: non-empty, no spaces, '!' or ','".to_owned(),
                ));
            }
        }
        if let Err(e) = Wildmat::parse(&self.groups) {
            out.push(("groups".to_owned(), format!("bad wildmat: {e}")));
        }
        if let Some(a) = &self.addr {
            let ok = a
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !ok {
                out.push(("addr".to_owned(), format!("{a:?} is not HOST:PORT")));
            }
        }
        for (key, v) in [
            ("response_timeout_secs", self.response_timeout_secs),
            ("retry_secs", self.retry_secs),
            ("max_reconnect_secs", self.max_reconnect_secs),
        ] {
            if !(1..=MAX_PEER_SECS).contains(&v) {
                out.push((
                    key.to_owned(),
                    format!("must be 1..={MAX_PEER_SECS} (a day)"),
                ));
            }
        }
        if !(1..=64).contains(&self.connections) {
            out.push(("connections".to_owned(), "must be 1..=64".to_owned()));
        }
        if self.window == 0 {
            out.push(("window".to_owned(), "must be at least 1".to_owned()));
        }
        if self.addr.is_some()
            && self.transport != PeerTransport::Tcp
            && self.tls_fingerprint.is_none()
            && self.ca_file.is_none()
        {
            out.push((
                "transport".to_owned(),
                "TLS to a peer needs tls_fingerprint or ca_file".to_owned(),
            ));
        }
        if self.password.is_some() && self.user.is_none() {
            out.push(("password".to_owned(), "needs user".to_owned()));
        }
        if let Some(u) = &self.user
            && (u.is_empty() || u.chars().any(char::is_whitespace))
        {
            out.push((
                "user".to_owned(),
                "must be non-empty without spaces".to_owned(),
            ));
        }
        out
    }

    /// All the names the peer uses in Path (its name first).
    pub fn path_names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.aliases.iter().map(String::as_str))
    }
}

/// Per-peer counters, shared by all of a peer's sessions (later exposed as metrics).
#[derive(Debug, Default)]
pub struct PeerCounters {
    /// Articles offered (IHAVE, CHECK, and TAKETHIS not preceded by CHECK).
    pub offered: AtomicU64,
    /// Articles stored (235, 239).
    pub accepted: AtomicU64,
    /// Offers refused because we have or had the article (435, 438, 439 for a duplicate).
    pub refused: AtomicU64,
    /// Articles rejected for their content (437, 439).
    pub rejected: AtomicU64,
    /// Offers deferred (436, 431).
    pub deferred: AtomicU64,
    /// Bytes of the articles stored.
    pub bytes: AtomicU64,
}

/// A plain copy of [`PeerCounters`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// See [`PeerCounters::offered`].
    pub offered: u64,
    /// See [`PeerCounters::accepted`].
    pub accepted: u64,
    /// See [`PeerCounters::refused`].
    pub refused: u64,
    /// See [`PeerCounters::rejected`].
    pub rejected: u64,
    /// See [`PeerCounters::deferred`].
    pub deferred: u64,
    /// See [`PeerCounters::bytes`].
    pub bytes: u64,
}

impl PeerCounters {
    /// The current values.
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            offered: self.offered.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            deferred: self.deferred.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn add(field: &AtomicU64, n: u64) {
        field.fetch_add(n, Ordering::Relaxed);
    }
}

/// How a connection was identified as a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifiedBy {
    /// Its TLS client certificate matched `tls_fingerprint`.
    Certificate,
    /// It authenticated as the peer's `user`.
    User,
    /// Its address is in `accept_from`.
    Address,
}

/// An inbound connection identified as a configured peer.
#[derive(Debug, Clone)]
pub struct PeerIdentity {
    /// The peer's name (its Path identity).
    pub name: String,
    /// How it was identified.
    pub by: IdentifiedBy,
    /// The peer's shared counters.
    pub counters: Arc<PeerCounters>,
}

impl PeerIdentity {
    /// An identity outside any [`PeerTable`] (tests, tools), with fresh counters.
    #[must_use]
    pub fn new(name: &str, by: IdentifiedBy) -> Self {
        Self {
            name: name.to_owned(),
            by,
            counters: Arc::default(),
        }
    }
}

/// The configured peers, for identifying inbound connections.
#[derive(Debug, Default)]
pub struct PeerTable {
    peers: Vec<(PeerConfig, Arc<PeerCounters>)>,
}

impl PeerTable {
    /// A table of `peers`, in configuration order.
    #[must_use]
    pub fn new(peers: Vec<PeerConfig>) -> Self {
        Self {
            peers: peers.into_iter().map(|p| (p, Arc::default())).collect(),
        }
    }

    /// The configured peers.
    pub fn peers(&self) -> impl Iterator<Item = &PeerConfig> {
        self.peers.iter().map(|(p, _)| p)
    }

    /// Whether no peer is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Whether some peer can be identified by AUTHINFO (so authenticating could help a
    /// connection that is not a peer yet: reply 480 rather than 502).
    #[must_use]
    pub fn has_users(&self) -> bool {
        self.peers.iter().any(|(p, _)| p.user.is_some())
    }

    /// Whether some peer pins a TLS certificate (so TLS listeners should request one).
    #[must_use]
    pub fn has_fingerprints(&self) -> bool {
        self.peers.iter().any(|(p, _)| p.tls_fingerprint.is_some())
    }

    /// The counters of the peer called `name`.
    #[must_use]
    pub fn counters(&self, name: &str) -> Option<Arc<PeerCounters>> {
        self.peers
            .iter()
            .find(|(p, _)| p.name == name)
            .map(|(_, c)| Arc::clone(c))
    }

    /// Identifies a connection. A matching certificate wins, then an authenticated user, then
    /// the address (the first peer in configuration order whose `accept_from` contains it).
    /// `None`: not a peer; it may not send transit commands.
    #[must_use]
    pub fn identify(
        &self,
        ip: IpAddr,
        tls_fingerprint: Option<&Fingerprint>,
        user: Option<&str>,
    ) -> Option<PeerIdentity> {
        let ip = ip.to_canonical();
        let found = |by: IdentifiedBy, (p, c): &(PeerConfig, Arc<PeerCounters>)| PeerIdentity {
            name: p.name.clone(),
            by,
            counters: Arc::clone(c),
        };
        if let Some(fp) = tls_fingerprint
            && let Some(e) = self
                .peers
                .iter()
                .find(|(p, _)| p.tls_fingerprint.is_some_and(|pin| pin.ct_eq(fp)))
        {
            return Some(found(IdentifiedBy::Certificate, e));
        }
        if let Some(u) = user
            && let Some(e) = self
                .peers
                .iter()
                .find(|(p, _)| p.user.as_deref() == Some(u))
        {
            return Some(found(IdentifiedBy::User, e));
        }
        self.peers
            .iter()
            .find(|(p, _)| p.accept_from.iter().any(|net| net.contains(&ip)))
            .map(|e| found(IdentifiedBy::Address, e))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const FP: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

    fn peer(toml_text: &str) -> PeerConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn example_parses() {
        let p = peer(&format!(
            "name = \"news.peer.example\"\naliases = [\"peer-alias\"]\n\
             addr = \"news.peer.example:563\"\ntransport = \"nntps\"\n\
             groups = \"*,!junk,!local.*\"\naccept_from = [\"192.0.2.0/24\"]\n\
             tls_fingerprint = \"{FP}\"\nuser = \"u\"\npassword = \"p\"\n"
        ));
        assert_eq!(p.transport, PeerTransport::Nntps);
        assert!(p.problems().is_empty(), "{:?}", p.problems());
        assert_eq!(
            p.path_names().collect::<Vec<_>>(),
            ["news.peer.example", "peer-alias"]
        );
    }

    #[test]
    fn bad_values_are_named() {
        assert!(toml::from_str::<PeerConfig>("name = \"a\"\nbogus = 1\n").is_err());
        assert!(toml::from_str::<PeerConfig>("name = \"a\"\ntls_fingerprint = \"x\"\n").is_err());
        assert!(toml::from_str::<PeerConfig>("name = \"a\"\ntransport = \"quic\"\n").is_err());
        let p = peer("name = \"a!b\"\ngroups = \"[\"\naddr = \"nohost\"\npassword = \"p\"\n");
        let keys: Vec<String> = p.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["name", "groups", "addr", "password"]);
    }

    #[test]
    fn window_is_capped() {
        let at_max = peer(&format!("name = \"a\"\nwindow = {MAX_WINDOW}\n"));
        assert!(at_max.problems().is_empty(), "{:?}", at_max.problems());
        // larger windows are valid (older configurations) and used as MAX_WINDOW
        let big = peer("name = \"a\"\naddr = \"h:119\"\nwindow = 100000\n");
        assert!(big.problems().is_empty(), "{:?}", big.problems());
        let f = crate::outbound::FeederConfig::from_peer(&big)
            .unwrap()
            .unwrap();
        assert_eq!(f.window, MAX_WINDOW);
        let zero = peer("name = \"a\"\nwindow = 0\n");
        assert_eq!(zero.problems().len(), 1);
        assert_eq!(zero.problems()[0].0, "window");
    }

    #[test]
    fn feeder_timings() {
        let p = peer(
            "name = \"a\"\naddr = \"h:119\"\nresponse_timeout_secs = 300\nretry_secs = 5\n\
             max_reconnect_secs = 3600\n",
        );
        assert!(p.problems().is_empty(), "{:?}", p.problems());
        let f = crate::outbound::FeederConfig::from_peer(&p)
            .unwrap()
            .unwrap();
        assert_eq!(f.io_timeout, std::time::Duration::from_secs(300));
        assert_eq!(f.retry_after, std::time::Duration::from_secs(5));
        assert_eq!(f.backoff_max, std::time::Duration::from_secs(3600));
        let d = crate::outbound::FeederConfig::from_peer(&peer("name = \"a\"\naddr = \"h:119\"\n"))
            .unwrap()
            .unwrap();
        assert_eq!(d.io_timeout, std::time::Duration::from_secs(60));
        let bad = peer("name = \"a\"\nretry_secs = 0\nresponse_timeout_secs = 100000\n");
        let keys: Vec<String> = bad.problems().into_iter().map(|p| p.0).collect();
        assert_eq!(keys, ["response_timeout_secs", "retry_secs"]);
    }

    #[test]
    fn identification_order() {
        let mut a = PeerConfig::named("a");
        a.accept_from = vec!["192.0.2.0/24".parse().unwrap()];
        let mut b = PeerConfig::named("b");
        b.accept_from = vec!["192.0.2.0/24".parse().unwrap()];
        b.tls_fingerprint = Some(FP.parse().unwrap());
        let mut c = PeerConfig::named("c");
        c.user = Some("feeder".into());
        let t = PeerTable::new(vec![a, b, c]);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let fp: Fingerprint = FP.parse().unwrap();
        let id = t.identify(ip, None, None).unwrap();
        assert_eq!((id.name.as_str(), id.by), ("a", IdentifiedBy::Address));
        let id = t.identify(ip, Some(&fp), None).unwrap();
        assert_eq!((id.name.as_str(), id.by), ("b", IdentifiedBy::Certificate));
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        assert!(t.identify(other, None, None).is_none());
        assert!(t.identify(other, None, Some("nobody")).is_none());
        let id = t.identify(other, None, Some("feeder")).unwrap();
        assert_eq!((id.name.as_str(), id.by), ("c", IdentifiedBy::User));
        // IPv4-mapped IPv6 addresses match IPv4 networks.
        let mapped: IpAddr = "::ffff:192.0.2.9".parse().unwrap();
        assert_eq!(t.identify(mapped, None, None).unwrap().name, "a");
        // Counters are shared per peer.
        let c1 = t.identify(ip, None, None).unwrap().counters;
        PeerCounters::add(&c1.offered, 2);
        assert_eq!(t.counters("a").unwrap().snapshot().offered, 2);
        assert!(t.has_users() && t.has_fingerprints());
    }
}
