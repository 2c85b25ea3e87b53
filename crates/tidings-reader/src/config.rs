//! Reader configuration and access rules (deserialised from the daemon's TOML).

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;
use tidings_article::Wildmat;

/// Settings of reader sessions: the `[reader]` table of the daemon's configuration.
///
/// Access rules live in [`ReaderConfig::access`]; in TOML that is `[[reader.access]]`. A
/// daemon that prefers top-level `[[access]]` tables deserialises `Vec<AccessRule>` itself and
/// assigns it to this field before sharing the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReaderConfig {
    /// Longest command line accepted, in octets including CRLF (RFC 3977: 512). Longer lines
    /// get `501` and the connection stays usable.
    pub max_line: usize,
    /// Largest article accepted by POST, in octets (after un-stuffing). Bigger posts are read
    /// to their end, discarded and refused with `441`.
    pub max_article: usize,
    /// Seconds without a complete command before the connection is closed (a `400` line is
    /// sent first, without waiting for a slow reader). Also bounds each reply write.
    pub idle_timeout_secs: u64,
    /// Seconds allowed for a STARTTLS handshake.
    pub tls_handshake_timeout_secs: u64,
    /// File shown by `LIST MOTD` (UTF-8 text). Unset: `LIST MOTD` answers `503`.
    pub motd_file: Option<PathBuf>,
    /// `LIST MODERATORS` lines (`pattern:address`, RFC 6048). Empty: `503`.
    pub moderators: Vec<String>,
    /// `LIST DISTRIB.PATS` lines (`weight:wildmat:distribution`). Empty: `503`.
    pub distrib_pats: Vec<String>,
    /// `LIST DISTRIBUTIONS` lines (`name description`). Empty: `503`.
    pub distributions: Vec<String>,
    /// `LIST SUBSCRIPTIONS` lines (group names). Empty: `503`.
    pub subscriptions: Vec<String>,
    /// Address for the `mail-complaints-to` parameter of Injection-Info, if any.
    pub complaints_to: Option<String>,
    /// Access rules, matched in order (first match wins); empty: see [`AccessRule`] for the
    /// built-in default.
    pub access: Vec<AccessRule>,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        Self {
            max_line: tidings_proto::line::DEFAULT_LINE_LIMIT,
            max_article: 1_000_000,
            idle_timeout_secs: 600,
            tls_handshake_timeout_secs: 30,
            motd_file: None,
            moderators: Vec::new(),
            distrib_pats: Vec::new(),
            distributions: Vec::new(),
            subscriptions: Vec::new(),
            complaints_to: None,
            access: Vec::new(),
        }
    }
}

/// One access rule. A rule applies to a client whose address is in `from` (empty: any
/// address) and whose user is listed in `users` (empty: anyone, authenticated or not; `"*"`:
/// any authenticated user). The first rule that applies decides; rules are evaluated again
/// after a successful AUTHINFO. A client no rule applies to may only authenticate (other
/// commands get `480`).
///
/// Default access when no rules are configured: clients from loopback (127.0.0.0/8, ::1) may
/// read and post without authentication; anyone else must authenticate (over TLS when the
/// listener says so) and may then read and post everything.
///
/// Limits: `max_connections_per_user` counts the connections of an authenticated user over
/// all listeners (or, for a rule matching unauthenticated clients, the connections from one
/// address). Over the limit a new connection is greeted with `400` and closed, and an
/// AUTHINFO that would exceed it gets `481`, as nnrpd refuses a login. `posts_per_minute`
/// bounds POSTs per user (or address) over a sliding minute; over it the article gets `441`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessRule {
    /// Client networks (e.g. `"10.0.0.0/8"`, `"::1/128"`); empty matches any address.
    pub from: Vec<IpNet>,
    /// User names; empty matches everyone (including unauthenticated clients); `"*"` matches
    /// any authenticated user.
    pub users: Vec<String>,
    /// Wildmat of readable groups (`!` excludes). Groups not readable are invisible.
    pub read: String,
    /// Wildmat of groups the client may post to; empty: no posting.
    pub post: String,
    /// Whether NEWNEWS is allowed (`502` otherwise).
    pub newnews: bool,
    /// Most simultaneous connections per user (see above); unset: no limit.
    pub max_connections_per_user: Option<u32>,
    /// Most posts per user per minute; unset: no limit.
    pub posts_per_minute: Option<u32>,
    /// Whether the client may post articles with an Approved header (moderators; also
    /// needed for control messages that require approval). Default false, as INN's
    /// `allowapproved`: others get `441`.
    pub approve: bool,
}

impl Default for AccessRule {
    fn default() -> Self {
        Self {
            from: Vec::new(),
            users: Vec::new(),
            read: "*".to_owned(),
            post: "*".to_owned(),
            newnews: true,
            max_connections_per_user: None,
            posts_per_minute: None,
            approve: false,
        }
    }
}

impl AccessRule {
    /// Checks the values: `(key, message)` for each problem, keys relative to the rule
    /// (`read`, `post`). An empty wildmat is valid (nothing); a malformed one is a problem
    /// (it would otherwise grant nothing, silently).
    #[must_use]
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (key, pattern) in [("read", &self.read), ("post", &self.post)] {
            let p = pattern.trim();
            if !p.is_empty()
                && let Err(e) = Wildmat::parse(p)
            {
                out.push((key, format!("bad wildmat: {e}")));
            }
        }
        out
    }

    /// Whether the rule applies to a client at `ip` authenticated as `user`.
    #[must_use]
    pub fn applies(&self, ip: IpAddr, user: Option<&str>) -> bool {
        let ip = ip.to_canonical();
        let from_ok = self.from.is_empty() || self.from.iter().any(|n| n.contains(&ip));
        let user_ok = self.users.is_empty()
            || user.is_some_and(|u| self.users.iter().any(|x| x == "*" || x == u));
        from_ok && user_ok
    }
}

/// The built-in rules used when none are configured (see [`AccessRule`]).
#[must_use]
pub fn default_rules() -> Vec<AccessRule> {
    let loopback = ["127.0.0.0/8", "::1/128"]
        .iter()
        .filter_map(|s| s.parse::<IpNet>().ok())
        .collect();
    vec![
        AccessRule {
            from: loopback,
            ..AccessRule::default()
        },
        AccessRule {
            users: vec!["*".to_owned()],
            ..AccessRule::default()
        },
    ]
}

/// What the rule in force grants, compiled.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub read: Option<Wildmat>,
    pub post: Option<Wildmat>,
    pub newnews: bool,
    pub max_connections: Option<u32>,
    pub posts_per_minute: Option<u32>,
    pub approve: bool,
}

fn compile(s: &str) -> Option<Wildmat> {
    let s = s.trim();
    if s.is_empty() {
        None
    } else {
        Wildmat::parse(s).ok()
    }
}

impl Grant {
    pub(crate) fn from_rule(r: &AccessRule) -> Self {
        Self {
            read: compile(&r.read),
            post: compile(&r.post),
            newnews: r.newnews,
            max_connections: r.max_connections_per_user,
            posts_per_minute: r.posts_per_minute,
            approve: r.approve,
        }
    }

    pub(crate) fn can_read(&self, group: &str) -> bool {
        self.read.as_ref().is_some_and(|w| w.matches(group))
    }

    pub(crate) fn can_post(&self, group: &str) -> bool {
        self.post.as_ref().is_some_and(|w| w.matches(group))
    }

    pub(crate) fn may_post_somewhere(&self) -> bool {
        self.post.is_some()
    }
}

/// The rule in force for `ip` and `user`, compiled; `None` when no rule applies.
pub(crate) fn evaluate(cfg: &ReaderConfig, ip: IpAddr, user: Option<&str>) -> Option<Grant> {
    if cfg.access.is_empty() {
        default_rules()
            .iter()
            .find(|r| r.applies(ip, user))
            .map(Grant::from_rule)
    } else {
        cfg.access
            .iter()
            .find(|r| r.applies(ip, user))
            .map(Grant::from_rule)
    }
}

/// Whether, for a client at `ip` that has not authenticated, some rule for authenticated
/// users at that address allows posting (so the greeting says `200`).
pub(crate) fn may_post_after_auth(cfg: &ReaderConfig, ip: IpAddr) -> bool {
    let rules = if cfg.access.is_empty() {
        default_rules()
    } else {
        cfg.access.clone()
    };
    let ip = ip.to_canonical();
    rules.iter().any(|r| {
        !r.users.is_empty()
            && (r.from.is_empty() || r.from.iter().any(|n| n.contains(&ip)))
            && !r.post.trim().is_empty()
    })
}
