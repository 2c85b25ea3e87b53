//! The TOML configuration of `tidings serve` and the admin commands.
//!
//! One file, every table optional: a missing table or key takes its embedded default, so an
//! empty file (or no file at all) is the default configuration. Unknown keys and bad values
//! are errors that name the key path (`listen[1].tls: ...`); [`check`] collects every such
//! error of a file instead of stopping at the first.
//!
//! Errors are collected per top-level key and, inside tables, per key (a table of one key is
//! deserialised on its own, which works because every table has defaults for all its keys),
//! and per array element. Cross-key rules (cert without key, duplicate listeners, zero limits)
//! are checked afterwards by [`Config::validate`].

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use tidings_net::listener::TlsMode;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[node]`: identity and data directory.
    pub node: NodeConfig,
    /// `[tls]`: the certificate for STARTTLS and NNTPS.
    pub tls: TlsConfig,
    /// `[[listen]]`: the ports. Omitted: 127.0.0.1:1119 (STARTTLS) and 127.0.0.1:1563 (NNTPS).
    pub listen: Option<Vec<ListenConfig>>,
    /// `[limits]`: connection and size limits.
    pub limits: LimitsConfig,
    /// `[store]`: storage engine settings.
    pub store: StoreConfig,
    /// `[log]`: logging.
    pub log: LogConfig,
    /// `[reader]`: reader session settings (see the `tidings-reader` crate).
    pub reader: tidings_reader::ReaderConfig,
    /// `[[access]]`: reader access rules (see the `tidings-reader` crate), first match wins.
    pub access: Vec<tidings_reader::AccessRule>,
    /// `[[peer]]`: peers (see the `tidings-feed` crate): who may send us articles, whom we feed.
    pub peer: Vec<tidings_feed::PeerConfig>,
    /// `[transit]`: settings of inbound transit (articles from peers).
    pub transit: tidings_feed::TransitConfig,
    /// `[expire]`: what expiry removes and how often the server runs it.
    pub expire: ExpireConfig,
}

/// `[node]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// The name this server puts in Path and Xref headers. Default: the system's host name
    /// (`/proc/sys/kernel/hostname`), else `localhost`.
    pub pathhost: Option<String>,
    /// Where the store, the users file, the control socket and a generated certificate live.
    /// Relative paths are relative to the working directory. Default `./tidings-data`.
    pub data_dir: PathBuf,
    /// Groups created when the store is created (first start only), as `name` or
    /// `name:flag` with flag `y`, `n` or `m`.
    pub initial_groups: Vec<String>,
    /// Where articles posted to moderated groups are kept for the moderator.
    /// Default `<data_dir>/moderation`.
    pub moderation_dir: Option<PathBuf>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            pathhost: None,
            data_dir: PathBuf::from("tidings-data"),
            initial_groups: [
                "local.general",
                "local.test",
                "misc.test",
                "control:n",
                "control.cancel:n",
                "junk:n",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
            moderation_dir: None,
        }
    }
}

/// `[tls]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain, end-entity first. With `key`; both omitted: a self-signed pair
    /// is generated into the data directory (`cert.pem`, `key.pem`) on first start.
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// How often the certificate files are checked for changes (seconds); SIGHUP reloads at
    /// once. Default 5.
    pub reload_interval_secs: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert: None,
            key: None,
            reload_interval_secs: 5,
        }
    }
}

/// How a listener uses TLS (`none`, `starttls`, `implicit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenTls(pub TlsMode);

impl<'de> Deserialize<'de> for ListenTls {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "none" => Ok(Self(TlsMode::None)),
            "starttls" => Ok(Self(TlsMode::StartTls)),
            "implicit" => Ok(Self(TlsMode::Implicit)),
            _ => Err(serde::de::Error::custom(format!(
                "unknown variant \"{s}\", expected one of none, starttls, implicit"
            ))),
        }
    }
}

/// One `[[listen]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// Address and port, IPv4 (`127.0.0.1:119`) or IPv6 (`[::1]:119`); port 0 picks a free
    /// port (printed at start).
    pub addr: SocketAddr,
    /// `none` (plain only), `starttls` (plain, STARTTLS offered) or `implicit` (NNTPS, TLS
    /// from the first byte). Default `starttls`.
    #[serde(default = "default_listen_tls")]
    pub tls: ListenTls,
    /// When true (the default), AUTHINFO before TLS is answered `483`.
    #[serde(default = "yes")]
    pub auth_requires_tls: bool,
    /// A name for logs. Default: `nntp`, `nntp-starttls` or `nntps` by `tls` mode.
    #[serde(default)]
    pub name: Option<String>,
}

fn default_listen_tls() -> ListenTls {
    ListenTls(TlsMode::StartTls)
}

fn yes() -> bool {
    true
}

impl ListenConfig {
    /// The name for logs.
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => match self.tls.0 {
                TlsMode::None => "nntp".into(),
                TlsMode::StartTls => "nntp-starttls".into(),
                TlsMode::Implicit => "nntps".into(),
            },
        }
    }
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Connections at once, all listeners together. Default 500.
    pub max_connections: usize,
    /// Connections at once from one IPv4 address or one IPv6 /64. Default 25.
    pub max_per_address: usize,
    /// A session that sends nothing for this long is closed (seconds). Default 600.
    pub idle_timeout_secs: u64,
    /// Longest command line (bytes, with CRLF). Default 2048.
    pub max_line: usize,
    /// Largest article accepted by POST (bytes). Default 1000000.
    pub max_article: usize,
    /// How long a TLS handshake may take (seconds). Default 10.
    pub handshake_timeout_secs: u64,
    /// On shutdown, how long sessions get to finish before they are cut (seconds). Default 10.
    pub drain_timeout_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_connections: 500,
            max_per_address: 25,
            idle_timeout_secs: 600,
            max_line: 2048,
            max_article: 1_000_000,
            handshake_timeout_secs: 10,
            drain_timeout_secs: 10,
        }
    }
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Spool segment size (bytes, 4096 ..= 4294967295). Default 1 GiB.
    pub segment_size: u64,
    /// fsync every group commit before acknowledging (default true). `false` is faster and
    /// may lose the last articles in a crash.
    pub durable: bool,
    /// How long refused, cancelled and expired message-ids are remembered (days). Default 10.
    pub reject_retention_days: u64,
    /// Index page cache (MiB). Default 64.
    pub cache_mb: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            segment_size: 1 << 30,
            durable: true,
            reject_retention_days: 10,
            cache_mb: 64,
        }
    }
}

/// `[expire]`: article retention. The running server makes an expiry pass every
/// `every_minutes` (in slices, so articles keep arriving meanwhile); `tidings expire` runs one
/// now. A pass removes articles past their group's age, forgets remembered rejects older than
/// `store.reject_retention_days`, drops or compacts spool segments that are empty or mostly
/// dead, and compacts the history log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExpireConfig {
    /// Days an article is kept in groups no rule matches (by arrival time); 0 keeps them
    /// forever. Default 10, as INN's `expire.ctl` (`*:A:1:10:never`).
    pub default_max_age_days: u64,
    /// Also remove an article once the time in its Expires header has passed. Default true.
    pub honour_expires: bool,
    /// Minutes between the server's expiry passes; 0: none (run `tidings expire`, e.g. from
    /// cron). Default 60.
    pub every_minutes: u64,
    /// `[[expire.rule]]`: retention per group, first match wins.
    pub rule: Vec<ExpireRuleConfig>,
}

impl Default for ExpireConfig {
    fn default() -> Self {
        Self {
            default_max_age_days: 10,
            honour_expires: true,
            every_minutes: 60,
            rule: Vec::new(),
        }
    }
}

/// `[[expire.rule]]`: `groups` is a simple pattern (`*` any run of characters, `?` one).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpireRuleConfig {
    /// Group pattern, e.g. `alt.binaries.*`.
    pub groups: String,
    /// Days to keep; 0 keeps forever.
    pub max_age_days: u64,
}

fn days(d: u64) -> Option<i64> {
    (d > 0).then(|| i64::try_from(d.saturating_mul(86_400)).unwrap_or(i64::MAX))
}

impl ExpireConfig {
    /// The store's expiry policy.
    pub fn policy(&self) -> tidings_store::ExpirePolicy {
        tidings_store::ExpirePolicy {
            rules: self
                .rule
                .iter()
                .map(|r| tidings_store::ExpireRule {
                    pattern: r.groups.clone(),
                    max_age: days(r.max_age_days),
                })
                .collect(),
            default_max_age: days(self.default_max_age_days),
            honour_expires: self.honour_expires,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `RUST_LOG`-style filter (`info`, `tidings=debug,info`); the `RUST_LOG` environment
    /// variable wins when set. Default `info`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".into(),
        }
    }
}

/// One configuration error: the key path and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// `listen[1].tls`, or empty for the whole file (syntax errors).
    pub path: String,
    /// The message.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every error of a configuration, one per line when displayed.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

fn err(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.into(),
        message: message.into(),
    }
}

fn join(prefix: &str, path: &serde_path_to_error::Path) -> String {
    let inner = path.to_string();
    if inner == "." {
        prefix.to_owned()
    } else if inner.starts_with('[') {
        format!("{prefix}{inner}")
    } else {
        format!("{prefix}.{inner}")
    }
}

/// Deserialises `value` as `T`, with errors prefixed by `prefix`.
fn de_one<T: DeserializeOwned>(prefix: &str, value: toml::Value) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        // The TOML value deserialiser appends "in `key`" lines: the path says that already.
        let message = e.inner().to_string();
        let message = message.lines().next().unwrap_or("").trim().to_owned();
        let mut path = join(prefix, e.path());
        // An unknown key's error sits at its table: name the key itself.
        if let Some(rest) = message.strip_prefix("unknown field `")
            && let Some((field, _)) = rest.split_once('`')
            && !path.ends_with(&format!(".{field}"))
        {
            path = format!("{path}.{field}");
        }
        err(path, message)
    })
}

/// Deserialises a table as `T`; on failure, retries key by key to find every bad key.
fn de_table<T: DeserializeOwned>(
    prefix: &str,
    value: toml::Value,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    let whole = match de_one::<T>(prefix, value.clone()) {
        Ok(v) => return Some(v),
        Err(e) => e,
    };
    let before = errors.len();
    if let toml::Value::Table(table) = value {
        for (k, v) in table {
            let mut one = toml::Table::new();
            one.insert(k, v);
            if let Err(e) = de_one::<T>(prefix, toml::Value::Table(one))
                && !e.message.starts_with("missing field")
            {
                errors.push(e);
            }
        }
    }
    if errors.len() == before {
        errors.push(whole);
    }
    None
}

fn de_array<T: DeserializeOwned>(
    key: &str,
    value: toml::Value,
    errors: &mut Vec<ConfigError>,
) -> Option<Vec<T>> {
    let toml::Value::Array(items) = value else {
        errors.push(err(
            key,
            format!("invalid type: {}, expected an array", value.type_str()),
        ));
        return None;
    };
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.into_iter().enumerate() {
        match de_table::<T>(&format!("{key}[{i}]"), item, errors) {
            Some(v) => out.push(v),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Parses configuration text, returning every error found.
pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        ConfigErrors(vec![err(
            "",
            format!("TOML syntax: {}", e.to_string().trim_end()),
        )])
    })?;
    let mut errors = Vec::new();
    let mut cfg = Config::default();
    for (key, value) in table {
        match key.as_str() {
            "node" => {
                if let Some(v) = de_table(&key, value, &mut errors) {
                    cfg.node = v;
                }
            }
            "tls" => {
                if let Some(v) = de_table(&key, value, &mut errors) {
                    cfg.tls = v;
                }
            }
            "limits" => {
                if let Some(v) = de_table(&key, value, &mut errors) {
                    cfg.limits = v;
                }
            }
            "store" => {
                if let Some(v) = de_table(&key, value, &mut errors) {
                    cfg.store = v;
                }
            }
            "log" => {
                if let Some(v) = de_table(&key, value, &mut errors) {
                    cfg.log = v;
                }
            }
            "reader" => {
                if let toml::Value::Table(t) = &value {
                    for (k, instead) in [
                        ("max_line", "limits.max_line"),
                        ("max_article", "limits.max_article"),
                        ("idle_timeout_secs", "limits.idle_timeout_secs"),
                        (
                            "tls_handshake_timeout_secs",
                            "limits.handshake_timeout_secs",
                        ),
                        ("access", "[[access]]"),
                    ] {
                        if t.contains_key(k) {
                            errors.push(err(
                                format!("reader.{k}"),
                                format!("set in {instead} instead"),
                            ));
                        }
                    }
                }
                if let Some(v) = de_table(&key, value, &mut errors) {
                    cfg.reader = v;
                }
            }
            "listen" => {
                if let Some(v) = de_array(&key, value, &mut errors) {
                    cfg.listen = Some(v);
                }
            }
            "access" => {
                if let Some(v) = de_array(&key, value, &mut errors) {
                    cfg.access = v;
                }
            }
            "peer" => {
                if let Some(v) = de_array(&key, value, &mut errors) {
                    cfg.peer = v;
                }
            }
            "transit" => {
                if let Some(v) = de_table(&key, value, &mut errors) {
                    cfg.transit = v;
                }
            }
            "expire" => {
                if let Some(v) = de_table(&key, value, &mut errors) {
                    cfg.expire = v;
                }
            }
            _ => errors.push(err(
                key.clone(),
                "unknown key, expected one of node, tls, listen, limits, store, log, reader, \
                 access, peer, transit, expire",
            )),
        }
    }
    errors.extend(cfg.validate());
    if errors.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Reads and parses a file; every error is returned.
/// (See also [`Config::warnings`] for what is valid but probably not meant.)
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![err(
            "",
            format!("cannot read {}: {e}", path.display()),
        )])
    })?;
    parse(&text)
}

/// `tidings config check`: every error of the file (empty when it is good).
pub fn check(path: &Path) -> Result<Vec<String>, Vec<ConfigError>> {
    match load(path) {
        Ok(cfg) => Ok(cfg.warnings()),
        Err(ConfigErrors(v)) => Err(v),
    }
}

impl Config {
    /// The listeners, defaults filled in.
    pub fn listeners(&self) -> Vec<ListenConfig> {
        match &self.listen {
            Some(l) => l.clone(),
            None => vec![
                ListenConfig {
                    addr: SocketAddr::from(([127, 0, 0, 1], 1119)),
                    tls: ListenTls(TlsMode::StartTls),
                    auth_requires_tls: true,
                    name: None,
                },
                ListenConfig {
                    addr: SocketAddr::from(([127, 0, 0, 1], 1563)),
                    tls: ListenTls(TlsMode::Implicit),
                    auth_requires_tls: true,
                    name: None,
                },
            ],
        }
    }

    /// The pathhost: configured, else the host name, else `localhost`.
    pub fn pathhost(&self) -> String {
        self.node.pathhost.clone().unwrap_or_else(system_hostname)
    }

    /// Where articles for moderated groups go.
    pub fn moderation_dir(&self) -> PathBuf {
        self.node
            .moderation_dir
            .clone()
            .unwrap_or_else(|| self.node.data_dir.join("moderation"))
    }

    /// Rules that involve more than one key.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if let Some(p) = &self.node.pathhost
            && (p.is_empty()
                || p.bytes().any(|b| {
                    b.is_ascii_whitespace() || b == b'!' || b == b':' || b.is_ascii_control()
                }))
        {
            errors.push(err(
                "node.pathhost",
                "must be a non-empty name without spaces, '!' or ':'",
            ));
        }
        for (key, v) in [
            ("limits.idle_timeout_secs", self.limits.idle_timeout_secs),
            (
                "limits.handshake_timeout_secs",
                self.limits.handshake_timeout_secs,
            ),
            ("limits.drain_timeout_secs", self.limits.drain_timeout_secs),
            ("tls.reload_interval_secs", self.tls.reload_interval_secs),
        ] {
            if v > MAX_SECS {
                errors.push(err(key, format!("must be at most {MAX_SECS} (a week)")));
            }
        }
        if self.expire.every_minutes > MAX_SECS / 60 {
            errors.push(err(
                "expire.every_minutes",
                format!("must be at most {} (a week)", MAX_SECS / 60),
            ));
        }
        for (i, r) in self.expire.rule.iter().enumerate() {
            if r.groups.trim().is_empty() {
                errors.push(err(format!("expire.rule[{i}].groups"), "must not be empty"));
            }
        }
        if self.node.data_dir.as_os_str().is_empty() {
            errors.push(err("node.data_dir", "must not be empty"));
        }
        for (i, g) in self.node.initial_groups.iter().enumerate() {
            if parse_group_spec(g).is_none() {
                errors.push(err(
                    format!("node.initial_groups[{i}]"),
                    format!("{g:?} is not NAME or NAME:FLAG with flag y, n or m"),
                ));
            }
        }
        match (&self.tls.cert, &self.tls.key) {
            (Some(_), None) => errors.push(err("tls.key", "missing: tls.cert needs tls.key")),
            (None, Some(_)) => errors.push(err("tls.cert", "missing: tls.key needs tls.cert")),
            _ => {}
        }
        if self.tls.reload_interval_secs == 0 {
            errors.push(err("tls.reload_interval_secs", "must be at least 1"));
        }
        if let Some(list) = &self.listen {
            if list.is_empty() {
                errors.push(err("listen", "at least one listener is needed"));
            }
            let mut seen = HashSet::new();
            for (i, l) in list.iter().enumerate() {
                if l.addr.port() != 0 && !seen.insert(l.addr) {
                    errors.push(err(
                        format!("listen[{i}].addr"),
                        format!("{} is listed twice", l.addr),
                    ));
                }
            }
        }
        let l = &self.limits;
        for (name, v) in [
            ("max_connections", l.max_connections),
            ("max_per_address", l.max_per_address),
            (
                "idle_timeout_secs",
                usize::try_from(l.idle_timeout_secs).unwrap_or(1),
            ),
            (
                "handshake_timeout_secs",
                usize::try_from(l.handshake_timeout_secs).unwrap_or(1),
            ),
            ("max_article", l.max_article),
        ] {
            if v == 0 {
                errors.push(err(format!("limits.{name}"), "must be at least 1"));
            }
        }
        if l.max_line < 512 {
            errors.push(err(
                "limits.max_line",
                "must be at least 512 (RFC 3977 command lines)",
            ));
        }
        if l.max_article > tidings_feed::policy::MAX_ARTICLE_LIMIT {
            errors.push(err(
                "limits.max_article",
                format!(
                    "must be at most {} (64 MiB, the largest article the store is set up for)",
                    tidings_feed::policy::MAX_ARTICLE_LIMIT
                ),
            ));
        }
        for (i, r) in self.access.iter().enumerate() {
            for (key, m) in r.problems() {
                errors.push(err(format!("access[{i}].{key}"), m));
            }
        }
        let mut names = HashSet::new();
        for (i, p) in self.peer.iter().enumerate() {
            for (k, m) in p.problems() {
                errors.push(err(format!("peer[{i}].{k}"), m));
            }
            if !names.insert(p.name.as_str()) {
                errors.push(err(
                    format!("peer[{i}].name"),
                    format!("{:?} is listed twice", p.name),
                ));
            }
        }
        for (k, m) in self.transit.problems() {
            errors.push(err(format!("transit.{k}"), m));
        }
        if !(4096..=u64::from(u32::MAX)).contains(&self.store.segment_size) {
            errors.push(err(
                "store.segment_size",
                "must be between 4096 and 4294967295",
            ));
        }
        errors
    }
}

/// Largest value of the `*_secs` settings: a week.
const MAX_SECS: u64 = 7 * 86_400;

impl Config {
    /// What is valid but probably not meant, or will fail at start: files the configuration
    /// names that cannot be read, and access rules that admit anyone when a listener is on a
    /// non-loopback address. `tidings config check` prints them; `serve` logs them.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut file = |key: String, path: &Path| {
            if let Err(e) = std::fs::File::open(path) {
                out.push(format!("{key}: {} cannot be read: {e}", path.display()));
            }
        };
        if let Some(c) = &self.tls.cert {
            file("tls.cert".into(), c);
        }
        if let Some(k) = &self.tls.key {
            file("tls.key".into(), k);
        }
        if let Some(m) = &self.reader.motd_file {
            file("reader.motd_file".into(), m);
        }
        for (i, p) in self.peer.iter().enumerate() {
            if let Some(ca) = &p.ca_file {
                file(format!("peer[{i}].ca_file"), ca);
            }
        }
        // Older articles must be refused by age once their remembered rejection (or
        // cancellation, or expiry) is forgotten, or a re-offer brings them back. With no age
        // limit (0) nothing can ensure that; the operator chose to take old articles.
        let (age, keep) = (self.transit.max_age_days, self.store.reject_retention_days);
        if age > 0 && age > keep {
            out.push(format!(
                "transit.max_age_days ({age}) is more than store.reject_retention_days \
                 ({keep}): an article rejected, cancelled or expired more than {keep} days ago \
                 is taken again when a peer offers it"
            ));
        }
        for (i, p) in self.peer.iter().enumerate() {
            if p.window > tidings_feed::peers::MAX_WINDOW {
                out.push(format!(
                    "peer[{i}].window ({}) is more than {}; {} is used (a round writes all its \
                     commands before reading replies; larger windows can block both sides)",
                    p.window,
                    tidings_feed::peers::MAX_WINDOW,
                    tidings_feed::peers::MAX_WINDOW
                ));
            }
        }
        let listeners = self.listeners();
        for (i, l) in listeners.iter().enumerate() {
            let ip = l.addr.ip();
            if ip.is_unspecified()
                && ip.is_ipv6()
                && !listeners
                    .iter()
                    .any(|o| o.addr.port() == l.addr.port() && o.addr.ip().is_ipv4())
            {
                out.push(format!(
                    "listen[{i}]: {} takes IPv6 clients only; add 0.0.0.0:{} for IPv4",
                    l.addr,
                    l.addr.port()
                ));
            }
        }
        let public: Vec<String> = listeners
            .iter()
            .filter(|l| !l.addr.ip().is_loopback())
            .map(|l| l.addr.to_string())
            .collect();
        if !public.is_empty() {
            for (i, r) in self.access.iter().enumerate() {
                if r.from.is_empty() && r.users.is_empty() {
                    let what = if r.post.trim().is_empty() {
                        "read"
                    } else {
                        "read and post"
                    };
                    out.push(format!(
                        "access[{i}]: no `from` and no `users`: anyone reaching {} may {what} \
                         without logging in",
                        public.join(", ")
                    ));
                }
            }
        }
        out
    }
}

/// `NAME` or `NAME:FLAG` (flag `y`, `n` or `m`).
pub fn parse_group_spec(spec: &str) -> Option<(&str, tidings_store::GroupStatus)> {
    use tidings_store::GroupStatus;
    let (name, flag) = spec.split_once(':').unwrap_or((spec, "y"));
    let status = match flag {
        "y" => GroupStatus::Posting,
        "n" => GroupStatus::NoPosting,
        "m" => GroupStatus::Moderated,
        _ => return None,
    };
    (!name.is_empty() && !name.contains(char::is_whitespace)).then_some((name, status))
}

/// The system's host name, else `localhost`.
pub fn system_hostname() -> String {
    for path in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(s) = std::fs::read_to_string(path) {
            let s = s.trim();
            if !s.is_empty() && !s.contains(char::is_whitespace) && !s.contains('!') {
                return s.to_owned();
            }
        }
    }
    "localhost".into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn empty_is_default() {
        let c = parse("").unwrap();
        assert_eq!(c.listeners().len(), 2);
        assert_eq!(c.node.data_dir, PathBuf::from("tidings-data"));
    }

    #[test]
    fn errors_name_their_path() {
        let e = parse(
            "[[listen]]\naddr = \"127.0.0.1:1\"\n[[listen]]\naddr = \"127.0.0.1:2\"\ntls = \"tls\"\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "listen[1].tls: unknown variant \"tls\", expected one of none, starttls, implicit"
        );
    }

    #[test]
    fn every_error_is_reported() {
        let e =
            parse("[limits]\nmax_line = \"x\"\nbogus = 1\n[node]\ndata_dirr = \"/x\"\n[frob]\n")
                .unwrap_err();
        let paths: Vec<_> = e.0.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"limits.max_line"), "{e}");
        assert!(
            paths.contains(&"limits.bogus") || paths.contains(&"limits"),
            "{e}"
        );
        assert!(
            paths.contains(&"node") || paths.contains(&"node.data_dirr"),
            "{e}"
        );
        assert!(paths.contains(&"frob"), "{e}");
        assert!(e.0.len() >= 4, "{e}");
    }

    #[test]
    fn peers_and_transit() {
        let c = parse(&format!(
            "[transit]\nunknown_groups = \"junk\"\nmax_age_days = 0\n\
             [[peer]]\nname = \"news.peer.example\"\naliases = [\"peer-alias\"]\n\
             addr = \"news.peer.example:563\"\ntransport = \"nntps\"\n\
             groups = \"*,!junk,!local.*\"\naccept_from = [\"192.0.2.0/24\"]\n\
             tls_fingerprint = \"sha256:{}\"\n",
            "ab".repeat(32)
        ))
        .unwrap();
        assert_eq!(c.peer.len(), 1);
        assert_eq!(c.transit.unknown_groups, tidings_feed::UnknownGroups::Junk);
        let e = parse(
            "[transit]\nunknown_groups = \"keep\"\n\
             [[peer]]\nname = \"a\"\n[[peer]]\nname = \"a\"\naccept_from = [\"x\"]\n\
             [[peer]]\nname = \"b\"\ntls_fingerprint = \"sha256:12\"\n\
             [[peer]]\nname = \"c\"\ngroups = \"[\"\nfrob = 1\n",
        )
        .unwrap_err();
        let paths: Vec<_> = e.0.iter().map(|e| e.path.as_str()).collect();
        for p in [
            "transit.unknown_groups",
            "peer[1].accept_from",
            "peer[2].tls_fingerprint",
            "peer[3].frob",
        ] {
            assert!(paths.iter().any(|x| x.starts_with(p)), "{p}: {e}");
        }
        let e =
            parse("[[peer]]\nname = \"a\"\n[[peer]]\nname = \"a\"\ngroups = \"[\"\n").unwrap_err();
        let paths: Vec<_> = e.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["peer[1].groups", "peer[1].name"], "{e}");
    }

    #[test]
    fn transit_pending_bytes() {
        let c = parse("").unwrap();
        assert_eq!(c.transit.max_pending_bytes, 64 << 20);
        let c = parse("[transit]\nmax_pending_bytes = 2000000\n").unwrap();
        assert_eq!(c.transit.max_pending_bytes, 2_000_000);
        let e = parse("[transit]\nmax_pending_bytes = 4096\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "transit.max_pending_bytes: must be at least max_article (1000000): one article \
             must fit"
        );
    }

    #[test]
    fn upper_bounds_and_cross_checks() {
        let big = 64 << 20;
        let c = parse(&format!(
            "[limits]\nmax_article = {big}\n[transit]\nmax_article = {big}\n"
        ))
        .unwrap();
        assert_eq!((c.limits.max_article, c.transit.max_article), (big, big));
        let e = parse(&format!(
            "[limits]\nmax_article = {}\n[transit]\nmax_article = 5000000000\n",
            big + 1
        ))
        .unwrap_err();
        let paths: Vec<_> = e.0.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"limits.max_article"), "{e}");
        assert!(paths.contains(&"transit.max_article"), "{e}");
        assert!(e.to_string().contains("must be at most 67108864"), "{e}");
        // A peer name the store could not queue for.
        let long = "p".repeat(256);
        let e = parse(&format!("[[peer]]\nname = \"{long}\"\n")).unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        assert_eq!(e.0[0].path, "peer[0].name", "{e}");
        assert!(e.0[0].message.contains("at most 255"), "{e}");
        parse(&format!("[[peer]]\nname = \"{}\"\n", "p".repeat(255))).unwrap();
        // max_age_days against reject_retention_days: a warning (older files set only one of
        // them); 0 (no age limit) is the operator's choice.
        let w = parse("[transit]\nmax_age_days = 11\n").unwrap().warnings();
        assert!(
            w.iter().any(|w| w.starts_with("transit.max_age_days (11)")),
            "{w:?}"
        );
        for ok in [
            "[transit]\nmax_age_days = 10\n",
            "[transit]\nmax_age_days = 30\n[store]\nreject_retention_days = 30\n",
            "[transit]\nmax_age_days = 0\n[store]\nreject_retention_days = 1\n",
        ] {
            assert!(parse(ok).unwrap().warnings().is_empty(), "{ok}");
        }
    }

    #[test]
    fn access_wildmats_are_checked() {
        let e = parse("[[access]]\nread = \"[\"\npost = \"a,[b\"\n").unwrap_err();
        let paths: Vec<_> = e.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["access[0].read", "access[0].post"], "{e}");
        parse("[[access]]\nread = \"*,!junk\"\npost = \"\"\n").unwrap();
    }

    #[test]
    fn pathhost_times_and_expire_rules() {
        let e = parse("[node]\npathhost = \"a:b\"\n").unwrap_err();
        assert_eq!(e.0[0].path, "node.pathhost", "{e}");
        // `now + idle` must not overflow in a session
        let e = parse("[limits]\nidle_timeout_secs = 9223372036854775807\n").unwrap_err();
        assert_eq!(e.0[0].path, "limits.idle_timeout_secs", "{e}");
        parse("[limits]\nidle_timeout_secs = 604800\n").unwrap();
        let c = parse(
            "[expire]\ndefault_max_age_days = 0\nevery_minutes = 5\n\
             [[expire.rule]]\ngroups = \"alt.*\"\nmax_age_days = 3\n",
        )
        .unwrap();
        let p = c.expire.policy();
        assert_eq!(p.default_max_age, None);
        assert_eq!(p.max_age("alt.test"), Some(3 * 86_400));
        assert_eq!(p.max_age("misc.test"), None);
        assert_eq!(
            Config::default().expire.policy().max_age("x"),
            Some(10 * 86_400)
        );
        let e = parse("[[expire.rule]]\ngroups = \"\"\nmax_age_days = 1\n").unwrap_err();
        assert_eq!(e.0[0].path, "expire.rule[0].groups", "{e}");
    }

    #[test]
    fn warnings_for_unreadable_files_and_open_access() {
        // Defaults: loopback listeners, no files: nothing to say.
        assert!(Config::default().warnings().is_empty());
        let c = parse(
            "[tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n\
             [[listen]]\naddr = \"192.0.2.1:119\"\n\
             [[access]]\nread = \"*\"\n\
             [[access]]\nusers = [\"*\"]\n",
        )
        .unwrap();
        let w = c.warnings();
        assert!(w.iter().any(|w| w.starts_with("tls.cert:")), "{w:?}");
        assert!(w.iter().any(|w| w.starts_with("tls.key:")), "{w:?}");
        assert!(
            w.iter()
                .any(|w| w.starts_with("access[0]:") && w.contains("read and post")),
            "{w:?}"
        );
        assert!(!w.iter().any(|w| w.starts_with("access[1]")), "{w:?}");
        // [::] alone takes IPv6 only (the socket is IPV6_V6ONLY); with 0.0.0.0 beside it, fine.
        let c = parse("[[listen]]\naddr = \"[::]:119\"\n").unwrap();
        assert!(
            c.warnings().iter().any(|w| w.contains("IPv6 clients only")),
            "{:?}",
            c.warnings()
        );
        let c =
            parse("[[listen]]\naddr = \"[::]:119\"\n[[listen]]\naddr = \"0.0.0.0:119\"\n").unwrap();
        assert!(!c.warnings().iter().any(|w| w.contains("IPv6 clients only")));
        // an old window above the cap: used as 1024, with a warning
        let c = parse("[[peer]]\nname = \"p\"\nwindow = 5000\n").unwrap();
        assert!(
            c.warnings()
                .iter()
                .any(|w| w.starts_with("peer[0].window (5000)"))
        );
        // The same rule with loopback listeners only is not worth a warning.
        let c = parse("[[access]]\nread = \"*\"\n").unwrap();
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    }

    #[test]
    fn cert_needs_key() {
        let e = parse("[tls]\ncert = \"/x\"\n").unwrap_err();
        assert_eq!(e.0[0].path, "tls.key");
    }
}
