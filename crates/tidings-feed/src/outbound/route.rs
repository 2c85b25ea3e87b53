//! Routing: which peers an article is queued for.
//!
//! A peer (a `[[peer]]` with an `addr`) gets an article when the article's groups match the
//! peer's `groups` wildmat (INN newsfeeds semantics: one group whose last matching pattern is
//! an `@` poison pattern excludes the article), none of the peer's Path names (its name and
//! aliases) is in the article's Path (it has seen it already), the article is not larger than
//! the peer's `max_size`, and, when the peer lists `distributions`, the article either has no
//! Distribution header or names one of them.

use std::sync::Arc;

use tidings_article::{Headers, Path, Wildmat};
use tidings_store::writer::{OwnedArticle, Router};

use crate::peers::PeerConfig;

/// The routing rule of one peer.
#[derive(Debug, Clone)]
pub struct PeerRoute {
    /// The peer's name (the queue name).
    pub name: String,
    /// Names that mean "the peer has it" when found in Path (name and aliases).
    pub path_names: Vec<String>,
    /// Groups sent to it.
    pub groups: Wildmat,
    /// Largest article sent.
    pub max_size: Option<u64>,
    /// Distributions sent (empty: any).
    pub distributions: Vec<String>,
}

/// The routing rules of every fed peer.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    peers: Vec<PeerRoute>,
}

/// What routing needs to know about an article.
#[derive(Debug, Clone, Copy)]
pub struct RouteInput<'a> {
    /// Its newsgroups (from the Newsgroups header).
    pub groups: &'a [&'a str],
    /// Its Path (after we prepended our own name, or as received), if it has a valid one.
    pub path: Option<&'a Path<'a>>,
    /// Its size in bytes.
    pub size: u64,
    /// Its Distribution header value, if any (comma-separated).
    pub distribution: Option<&'a str>,
}

impl Routes {
    /// Rules for the peers that have an `addr` (the ones we feed). Errors name the peer with
    /// a bad `groups` wildmat.
    ///
    /// # Errors
    /// A peer's `groups` is not a valid wildmat.
    pub fn new(peers: &[PeerConfig]) -> Result<Routes, String> {
        let mut out = Vec::new();
        for p in peers.iter().filter(|p| p.addr.is_some()) {
            let groups =
                Wildmat::parse(&p.groups).map_err(|e| format!("peer {}: groups: {e}", p.name))?;
            out.push(PeerRoute {
                name: p.name.clone(),
                path_names: p.path_names().map(str::to_owned).collect(),
                groups,
                max_size: p.max_size,
                distributions: p.distributions.clone(),
            });
        }
        Ok(Routes { peers: out })
    }

    /// True when no peer is fed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// The peers to queue an article for.
    #[must_use]
    pub fn route(&self, a: &RouteInput<'_>) -> Vec<String> {
        self.peers
            .iter()
            .filter(|p| wants(p, a))
            .map(|p| p.name.clone())
            .collect()
    }

    /// Routes an article from its bytes (Newsgroups, Path and Distribution headers are read);
    /// `fallback_groups` are used when it has no Newsgroups header.
    #[must_use]
    pub fn route_article(&self, bytes: &[u8], fallback_groups: &[String]) -> Vec<String> {
        if self.peers.is_empty() {
            return Vec::new();
        }
        let Ok(h) = Headers::parse(bytes) else {
            return Vec::new();
        };
        let ng = h.get_unfolded("Newsgroups");
        let ng_text = ng.as_deref().map(String::from_utf8_lossy);
        let mut groups: Vec<&str> = match &ng_text {
            Some(t) => t
                .split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .collect(),
            None => Vec::new(),
        };
        if groups.is_empty() {
            groups = fallback_groups.iter().map(String::as_str).collect();
        }
        let path_raw = h.get_unfolded("Path");
        let path = path_raw.as_deref().and_then(|p| Path::parse(p).ok());
        let dist_raw = h.get_unfolded("Distribution");
        let dist = dist_raw.as_deref().map(String::from_utf8_lossy);
        self.route(&RouteInput {
            groups: &groups,
            path: path.as_ref(),
            size: bytes.len() as u64,
            distribution: dist.as_deref(),
        })
    }

    /// A router for the store writer ([`tidings_store::writer::WriterHooks::router`]): every
    /// article submitted without explicit feeds (transit and POST alike) is routed here.
    #[must_use]
    pub fn into_router(self) -> Router {
        let routes = Arc::new(self);
        Arc::new(move |a: &OwnedArticle| routes.route_article(&a.bytes, &a.groups))
    }
}

fn wants(p: &PeerRoute, a: &RouteInput<'_>) -> bool {
    if !p.groups.matches_groups(a.groups) {
        return false;
    }
    if let Some(path) = a.path
        && p.path_names.iter().any(|n| path.contains(n))
    {
        return false;
    }
    if p.max_size.is_some_and(|m| a.size > m) {
        return false;
    }
    if !p.distributions.is_empty()
        && let Some(d) = a.distribution
    {
        let mut named = d.split(',').map(str::trim).filter(|x| !x.is_empty());
        if !named.any(|x| p.distributions.iter().any(|w| w.eq_ignore_ascii_case(x))) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn routes() -> Routes {
        let mut a = PeerConfig::named("alpha");
        a.addr = Some("127.0.0.1:1".into());
        a.aliases = vec!["alpha-old".into()];
        a.groups = "*,!junk,@alt.binaries.*".into();
        let mut b = PeerConfig::named("beta");
        b.addr = Some("127.0.0.1:2".into());
        b.groups = "comp.*".into();
        b.max_size = Some(100);
        b.distributions = vec!["world".into()];
        let c = PeerConfig::named("inbound-only");
        Routes::new(&[a, b, c]).unwrap()
    }

    fn art(groups: &str, path: &str, extra: &str, body: usize) -> Vec<u8> {
        format!(
            "Path: {path}\r\nNewsgroups: {groups}\r\nMessage-ID: <x@y>\r\n{extra}\r\n{}",
            "b".repeat(body)
        )
        .into_bytes()
    }

    #[test]
    fn routing_rules() {
        let r = routes();
        assert_eq!(
            r.route_article(&art("comp.lang.rust", "here!x!not-for-mail", "", 1), &[]),
            ["alpha", "beta"]
        );
        // Path names (and aliases) of the peer: not sent back
        assert_eq!(
            r.route_article(
                &art("comp.lang.rust", "here!alpha-old!not-for-mail", "", 1),
                &[]
            ),
            ["beta"]
        );
        // non-matching group, poison group
        assert!(r.route_article(&art("junk", "x", "", 1), &[]).is_empty());
        assert_eq!(
            r.route_article(&art("comp.a,alt.binaries.x", "x", "", 1), &[]),
            ["beta"]
        );
        // size and distribution
        assert_eq!(
            r.route_article(&art("comp.a", "x", "", 200), &[]),
            ["alpha"]
        );
        assert_eq!(
            r.route_article(&art("comp.a", "x", "Distribution: local\r\n", 1), &[]),
            ["alpha"]
        );
        assert_eq!(
            r.route_article(
                &art("comp.a", "x", "Distribution: local, world\r\n", 1),
                &[]
            ),
            ["alpha", "beta"]
        );
    }
}
