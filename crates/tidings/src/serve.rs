//! `tidings serve`: the daemon.
//!
//! Start-up, in order: the data directory, the store (and the initial groups when it is new),
//! the users file, the certificate (configured, or self-signed in the data directory), the
//! listeners and the control socket are all set up before anything is printed, so a start
//! that prints `ready` is a start that works. Then one tokio task per listener accepts
//! connections and hands each to the reader session, inside a tracing span (peer, listener,
//! tls).
//!
//! Peering shares the reader's ports: the reader session hands a connection that the `[[peer]]`
//! table identifies as a peer over to a transit session at its first transit command
//! (IHAVE, CHECK, TAKETHIS, MODE STREAM), and the transit session hands it back at the first
//! reader command (MODE READER, GROUP, AUTHINFO, ...); this module loops between the two. TLS
//! listeners request (not require) a client certificate when a peer pins one.
//!
//! Signals: SIGHUP reloads the certificate (it is also reloaded when its files change).
//! SIGINT or SIGTERM: the listeners stop accepting, every session is told to finish its
//! current command (the shutdown signal), sessions get `limits.drain_timeout_secs` to end,
//! then the store writer stores what is queued and stops, and the store is closed last.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use tidings_feed::outbound::{FeedStatus, FeederConfig, Feeders, Routes, Wakers};
use tidings_feed::{PeerTable, TransitEnd, TransitServices};
use tidings_net::Shutdown;
use tidings_net::listener::{self, Connection, Limiter, ListenOptions, RefusalReason, TlsMode};
use tidings_net::tls::{self, CertPaths, CertResolver, ClientCertPolicy};
use tidings_reader::{ListenerSettings, Resume, Services, SessionEnd, TransitGate};
use tidings_store::Store;
use tidings_store::writer::{Writer, WriterConfig, WriterHooks};
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::config::{Config, ListenConfig, parse_group_spec};
use crate::{admin, users};

/// The store's directory inside the data directory.
pub fn store_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("store")
}

/// The storage engine's settings from the configuration.
pub fn store_config(cfg: &Config) -> tidings_store::Config {
    let defaults = tidings_store::Config::default();
    tidings_store::Config {
        segment_size: cfg.store.segment_size,
        pathhost: cfg.pathhost(),
        durable: cfg.store.durable,
        reject_keep: i64::try_from(cfg.store.reject_retention_days.saturating_mul(86_400))
            .unwrap_or(i64::MAX),
        cache_size: cfg.store.cache_mb.saturating_mul(1 << 20),
        // Room for the headers the server adds (Path, Xref, Injection-Info, ...).
        max_article: defaults.max_article.max(
            cfg.limits
                .max_article
                .max(cfg.transit.max_article)
                .saturating_add(64 << 10),
        ),
        ..defaults
    }
}

/// Opens (or creates) the store of the configured data directory.
pub fn open_store(cfg: &Config) -> Result<Store> {
    let dir = store_dir(&cfg.node.data_dir);
    Store::open(&dir, store_config(cfg)).map_err(|e| store_error(e, "opening", &dir))
}

/// A store error with what was being done to which store directory, and a hint when the
/// store is locked by another process.
pub fn store_error(e: tidings_store::Error, doing: &str, dir: &Path) -> anyhow::Error {
    let hint = if e.is_already_open() {
        " (a server, or an admin command, has it open)"
    } else {
        ""
    };
    anyhow!(e).context(format!("{doing} the store in {}{hint}", dir.display()))
}

/// Whether the store of a data directory has been created (its index exists).
fn store_exists(data_dir: &Path) -> bool {
    store_dir(data_dir).join("index.redb").exists()
}

/// Opens the store of the configured data directory for an admin command: refuses to
/// create one (a command run from the wrong directory, or with the wrong `--config`, must
/// not make an empty store there; the server creates the store and its initial groups).
pub fn open_existing_store(cfg: &Config) -> Result<Store> {
    let dir = store_dir(&cfg.node.data_dir);
    if !store_exists(&cfg.node.data_dir) {
        bail!(
            "no store in {} and no server answering on its control socket: start the server \
             (tidings serve) first, or give the --config of the server (node.data_dir)",
            dir.display()
        );
    }
    open_store(cfg)
}

fn create_data_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))
}

fn describe(group: &str) -> &'static str {
    match group {
        "local.general" => "Local general discussion",
        "local.test" => "Local test postings",
        "misc.test" => "Test postings",
        "control" => "Control messages",
        "control.cancel" => "Cancel messages",
        "junk" => "Articles for groups this server does not carry",
        _ => "",
    }
}

/// Runs the daemon until SIGINT or SIGTERM.
pub fn run(cfg: Config) -> Result<()> {
    for w in cfg.warnings() {
        tracing::warn!("configuration: {w}");
    }
    let data_dir = cfg.node.data_dir.clone();
    create_data_dir(&data_dir)?;
    let pathhost = cfg.pathhost();
    let fresh = !store_exists(&data_dir);
    let store = Arc::new(open_store(&cfg)?);
    let report = store.recovery_report();
    if report.reindexed > 0 || report.truncated_bytes > 0 || !report.problems.is_empty() {
        tracing::warn!(?report, "store recovered after an unclean shutdown");
    }
    if fresh {
        for spec in &cfg.node.initial_groups {
            let Some((name, status)) = parse_group_spec(spec) else {
                continue;
            };
            store
                .add_group(name, status, crate::unix_now(), "tidings", describe(name))
                .with_context(|| format!("creating the initial group {name}"))?;
        }
    }
    let users = Arc::new(users::FileUsers::new(users::users_path(&data_dir))?);

    let cert_paths = match (&cfg.tls.cert, &cfg.tls.key) {
        (Some(c), Some(k)) => CertPaths::new(c, k),
        _ => tls::ensure_self_signed(&data_dir, &pathhost)
            .context("generating a self-signed certificate")?,
    };
    let resolver = Arc::new(CertResolver::new(cert_paths.clone()).with_context(|| {
        format!(
            "loading the TLS certificate {} and key {}",
            cert_paths.cert.display(),
            cert_paths.key.display()
        )
    })?);
    let peers = Arc::new(PeerTable::new(cfg.peer.clone()));
    // Ask TLS clients for a certificate only when a peer is identified by one.
    let client_certs = if peers.has_fingerprints() {
        ClientCertPolicy::Request
    } else {
        ClientCertPolicy::None
    };
    let acceptor =
        tls::acceptor(resolver.clone(), client_certs).context("building the TLS configuration")?;

    let moderation_dir = cfg.moderation_dir();
    std::fs::create_dir_all(&moderation_dir)
        .with_context(|| format!("creating {}", moderation_dir.display()))?;

    // Outbound peering: the writer routes every article it stores (transit and POST) and
    // queues it for the fed peers in the same transaction; the feeders start with the runtime.
    let (feed_hooks, mut feed_configs, feed_wakers) = feed_setup(&cfg)?;
    // Feeders present our certificate, so that peers may identify us by its fingerprint.
    for f in &mut feed_configs {
        f.client_cert = Some(cert_paths.clone());
    }
    let writer = Writer::start_with_hooks(Arc::clone(&store), WriterConfig::default(), feed_hooks)
        .context("starting the store writer")?;
    let services = Arc::new(Services {
        store: Arc::clone(&store),
        writer: writer.clone(),
        pathhost: pathhost.clone(),
        config: Arc::new(reader_config(&cfg)),
        auth: users,
        tls: Some(acceptor),
        moderation_dir,
        clock: crate::unix_now,
        limits: Arc::default(),
        transit: (!peers.is_empty())
            .then(|| Arc::new(PeerGate(Arc::clone(&peers))) as Arc<dyn TransitGate>),
    });
    let mut transit = TransitServices::new(
        Arc::clone(&store),
        writer.clone(),
        pathhost.clone(),
        cfg.transit.clone(),
    );
    transit.clock = crate::unix_now;
    transit.idle_timeout = Duration::from_secs(cfg.limits.idle_timeout_secs.max(1));
    transit.max_line = cfg.limits.max_line;
    let mut peering = Peering {
        peers,
        transit: Arc::new(transit),
        feeds: None,
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tidings")
        .build()
        .context("starting the async runtime")?;
    let feeders = {
        let _rt = runtime.enter();
        Feeders::start(&store, feed_configs, &feed_wakers).map_err(|e| anyhow!(e))?
    };
    peering.feeds = Some(feeders.status());
    let result = runtime.block_on(serve(&cfg, services, peering, Arc::clone(&store), resolver));
    // Feeders stop first (they flush what they delivered), then the writer, then the store.
    runtime.block_on(feeders.stop(Duration::from_secs(5)));
    // Sessions are over (drained or aborted): store what is queued, then close the store.
    writer.shutdown();
    drop(runtime);
    match Arc::try_unwrap(store) {
        Ok(store) => store.close().context("closing the store")?,
        Err(store) => store.flush().context("flushing the store")?,
    }
    tracing::info!("stopped");
    result
}

/// The reader's settings: the `[reader]` table, with the `[limits]` and `[[access]]` that
/// concern sessions.
fn reader_config(cfg: &Config) -> tidings_reader::ReaderConfig {
    let mut r = cfg.reader.clone();
    r.access = cfg.access.clone();
    r.idle_timeout_secs = cfg.limits.idle_timeout_secs;
    r.tls_handshake_timeout_secs = cfg.limits.handshake_timeout_secs;
    r.max_line = cfg.limits.max_line;
    r.max_article = cfg.limits.max_article;
    r
}

async fn bind(l: &ListenConfig) -> Result<TcpListener> {
    tidings_net::listener::bind_tcp(l.addr)
        .with_context(|| format!("listening on {} ({})", l.addr, l.tls.0))
}

/// Entries an expiry slice examines before the writer gets the store back.
pub(crate) const EXPIRE_SLICE: usize = 1000;

/// Runs an expiry pass every `every` (the first one `every` after start), in slices on a
/// blocking thread so that the writer and readers keep going, until `shutdown` fires.
async fn run_expiry(
    store: Arc<Store>,
    policy: Arc<tidings_store::ExpirePolicy>,
    every: Duration,
    mut shutdown: tidings_net::ShutdownSignal,
) {
    loop {
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(every) => {}
        }
        let started = std::time::Instant::now();
        loop {
            let (st, pol) = (Arc::clone(&store), Arc::clone(&policy));
            let step = tokio::task::spawn_blocking(move || {
                st.expire_step(&pol, crate::unix_now(), EXPIRE_SLICE)
            })
            .await;
            match step {
                Ok(Ok(p)) if p.done => {
                    let removed = p.removed_articles + p.forgotten_rejects + p.segments_dropped;
                    if removed > 0 || !p.problems.is_empty() {
                        tracing::info!(
                            secs = started.elapsed().as_secs_f64(),
                            removed_articles = p.removed_articles,
                            removed_rows = p.removed_rows,
                            forgotten_rejects = p.forgotten_rejects,
                            segments_dropped = p.segments_dropped,
                            segments_compacted = p.segments_compacted,
                            problems = ?p.problems,
                            "expiry pass done"
                        );
                    }
                    break;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "expiry failed; next pass at the next interval");
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "expiry task failed");
                    break;
                }
            }
            if shutdown.is_triggered() {
                return;
            }
        }
    }
}

/// The `[[peer]]` table as the reader's transit gate.
struct PeerGate(Arc<PeerTable>);

impl TransitGate for PeerGate {
    fn allows(
        &self,
        peer: std::net::SocketAddr,
        tls_fingerprint: Option<&tidings_net::Fingerprint>,
        user: Option<&str>,
    ) -> bool {
        self.0.identify(peer.ip(), tls_fingerprint, user).is_some()
    }

    fn auth_could_help(&self) -> bool {
        self.0.has_users()
    }
}

/// What connections need for peering.
#[derive(Clone)]
struct Peering {
    peers: Arc<PeerTable>,
    transit: Arc<TransitServices>,
    /// The outbound feeders' status (for the control socket's `feed status`).
    feeds: Option<FeedStatus>,
}

/// Runs a connection: the reader session, and transit sessions when it hands over, back and
/// forth until the connection closes.
async fn run_connection(
    services: Arc<Services>,
    peering: Peering,
    stream: tidings_net::Stream,
    peer: std::net::SocketAddr,
    settings: ListenerSettings,
    shutdown: tidings_net::ShutdownSignal,
) {
    let mut end = tidings_reader::serve_connection(
        Arc::clone(&services),
        stream,
        peer,
        settings.clone(),
        shutdown.clone(),
    )
    .await;
    while let SessionEnd::Transit {
        stream,
        unread,
        user,
    } = end
    {
        let fp = stream.info().tls.as_ref().and_then(|t| t.peer_fingerprint);
        let Some(identity) = peering
            .peers
            .identify(peer.ip(), fp.as_ref(), user.as_deref())
        else {
            // The gate and the table are the same data; this cannot happen.
            tracing::warn!("handed over to transit but not a peer; closing");
            return;
        };
        let handed = tidings_feed::serve_transit(
            Arc::clone(&peering.transit),
            stream,
            identity,
            unread,
            shutdown.clone(),
        )
        .await;
        let TransitEnd::Reader { stream, unread } = handed else {
            return;
        };
        end = tidings_reader::resume_connection(
            Arc::clone(&services),
            stream,
            peer,
            settings.clone(),
            shutdown.clone(),
            Resume { unread, user },
        )
        .await;
    }
}

async fn serve(
    cfg: &Config,
    services: Arc<Services>,
    peering: Peering,
    store: Arc<Store>,
    resolver: Arc<CertResolver>,
) -> Result<()> {
    let data_dir = &cfg.node.data_dir;
    let mut bound = Vec::new();
    for l in cfg.listeners() {
        let tcp = bind(&l).await?;
        let addr = tcp.local_addr().context("reading a bound address")?;
        bound.push((l, tcp, addr));
    }

    let signals = install_signals()?;
    let abs = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.clone());
    let sock_path = admin::socket_path(&abs);
    if sock_path.exists() {
        // The store is ours (redb holds a lock), so a socket file left there is stale.
        std::fs::remove_file(&sock_path)
            .with_context(|| format!("removing the stale {}", sock_path.display()))?;
    }
    let control = bind_control(&abs, &sock_path)?;

    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "tidings {}", env!("CARGO_PKG_VERSION"));
        let _ = writeln!(out, "data dir {}", abs.display());
        let _ = writeln!(out, "pathhost {}", services.pathhost);
        for (l, _, addr) in &bound {
            let _ = writeln!(
                out,
                "listening on {addr} ({}) {}",
                l.tls.0,
                l.display_name()
            );
        }
        let _ = writeln!(out, "control socket {}", sock_path.display());
        let _ = writeln!(out, "ready");
        let _ = out.flush();
    }
    tracing::info!(data_dir = %abs.display(), pathhost = %services.pathhost, "ready");

    let shutdown = Shutdown::new();
    let limiter = Arc::new(Limiter::new(
        cfg.limits.max_connections,
        cfg.limits.max_per_address,
    ));
    let mut runs = Vec::new();
    for (l, tcp, addr) in bound {
        let mode = l.tls.0;
        let tls = if mode == TlsMode::None {
            None
        } else {
            services.tls.clone()
        };
        let mut options = ListenOptions::new(mode, tls, Arc::clone(&limiter));
        options.handshake_timeout = Duration::from_secs(cfg.limits.handshake_timeout_secs);
        let services = Arc::clone(&services);
        let peering = peering.clone();
        let name = l.display_name();
        let starttls = mode == TlsMode::StartTls;
        let auth_requires_tls = l.auth_requires_tls;
        let handler = move |conn: Connection| {
            let services = Arc::clone(&services);
            let peering = peering.clone();
            let settings = ListenerSettings {
                name: name.clone(),
                starttls,
                auth_requires_tls,
            };
            async move {
                let span = tracing::info_span!(
                    "conn",
                    peer = %conn.peer,
                    listener = %settings.name,
                    tls = %conn.mode
                );
                let Connection {
                    stream,
                    peer,
                    shutdown,
                    permit,
                    ..
                } = conn;
                async move {
                    tracing::debug!("connected");
                    run_connection(services, peering, stream, peer, settings, shutdown).await;
                    tracing::debug!("closed");
                }
                .instrument(span)
                .await;
                drop(permit);
            }
        };
        let refuse = |r: &listener::Refusal| {
            tracing::info!(peer = %r.peer, reason = ?r.reason, "connection refused");
            match r.reason {
                RefusalReason::TooManyConnections => {
                    b"400 Too many connections, try again later\r\n".to_vec()
                }
                RefusalReason::TooManyFromAddress => {
                    b"400 Too many connections from your address\r\n".to_vec()
                }
            }
        };
        let signal = shutdown.signal();
        runs.push(tokio::spawn(async move {
            listener::run(tcp, options, handler, refuse, signal)
                .await
                .map_err(|e| anyhow!("listener {addr}: {e}"))
        }));
    }

    let watcher = Arc::clone(&resolver).spawn_watcher(
        Duration::from_secs(cfg.tls.reload_interval_secs),
        shutdown.signal(),
    );
    let policy = Arc::new(cfg.expire.policy());
    let control_task = tokio::spawn(admin::serve_control(
        control,
        sock_path.clone(),
        Arc::clone(&store),
        peering.feeds.clone(),
        Arc::clone(&policy),
        users::users_path(data_dir),
        shutdown.signal(),
    ));
    if cfg.expire.every_minutes > 0 {
        let keep = match cfg.expire.default_max_age_days {
            0 => "forever".to_owned(),
            d => format!("{d} days"),
        };
        tracing::info!(
            every_minutes = cfg.expire.every_minutes,
            rules = cfg.expire.rule.len(),
            "expiry: articles in groups no [[expire.rule]] matches are kept {keep} \
             (expire.default_max_age_days)"
        );
    }
    let expiry_task = (cfg.expire.every_minutes > 0).then(|| {
        tokio::spawn(run_expiry(
            Arc::clone(&store),
            policy,
            Duration::from_secs(cfg.expire.every_minutes.saturating_mul(60)),
            shutdown.signal(),
        ))
    });

    wait_for_stop(&resolver, signals).await?;
    tracing::info!("shutting down: no new connections; sessions finish their command");
    shutdown.trigger();

    let mut all = Vec::new();
    for r in runs {
        match r.await {
            Ok(Ok(conns)) => all.push(conns),
            Ok(Err(e)) => tracing::error!(error = %e, "listener failed"),
            Err(e) => tracing::error!(error = %e, "listener task failed"),
        }
    }
    let deadline = Duration::from_secs(cfg.limits.drain_timeout_secs);
    let drains = all.into_iter().map(|c| c.drain(deadline));
    let mut aborted = 0;
    for d in drains {
        aborted += d.await;
    }
    if aborted > 0 {
        tracing::warn!(aborted, "sessions cut at the drain deadline");
    }
    let _ = watcher.await;
    let _ = control_task.await;
    if let Some(t) = expiry_task {
        let _ = t.await;
    }
    drop(services);
    drop(peering);
    Ok(())
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

/// Installs the handlers (before `ready` is printed, so that no signal is lost).
fn install_signals() -> Result<Signals> {
    use tokio::signal::unix::{SignalKind, signal};
    Ok(Signals {
        term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        hup: signal(SignalKind::hangup()).context("installing the SIGHUP handler")?,
    })
}

/// Binds the control socket at `sock_path` with mode 0600. It is bound inside a new private
/// (0700) directory, given its mode there and only then moved into place, so that no other
/// local user can connect in between whatever the data directory's own mode.
fn bind_control(data_dir: &Path, sock_path: &Path) -> Result<tokio::net::UnixListener> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let private = data_dir.join(".control.new");
    if private.exists() {
        std::fs::remove_dir_all(&private)
            .with_context(|| format!("removing the stale {}", private.display()))?;
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .with_context(|| format!("creating {}", private.display()))?;
    let tmp = private.join("control.sock");
    let bound = (|| -> Result<tokio::net::UnixListener> {
        let l = tokio::net::UnixListener::bind(&tmp)
            .with_context(|| format!("binding the control socket {}", tmp.display()))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("setting the mode of {}", tmp.display()))?;
        std::fs::rename(&tmp, sock_path)
            .with_context(|| format!("moving the control socket to {}", sock_path.display()))?;
        Ok(l)
    })();
    let _ = std::fs::remove_dir_all(&private);
    bound
}

/// Waits for SIGINT or SIGTERM (reloading the certificate on SIGHUP meanwhile). A second
/// SIGINT or SIGTERM during the graceful stop ends the process at once (what is acknowledged
/// is on disk already when `store.durable` is on).
async fn wait_for_stop(resolver: &Arc<CertResolver>, signals: Signals) -> Result<()> {
    let Signals {
        mut term,
        mut int,
        mut hup,
    } = signals;
    loop {
        let stop = tokio::select! {
            _ = term.recv() => true,
            _ = int.recv() => true,
            _ = hup.recv() => {
                let r = Arc::clone(resolver);
                match tokio::task::spawn_blocking(move || r.reload()).await {
                    Ok(Ok(())) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "SIGHUP: TLS certificate reload failed; keeping the old one"),
                    Err(e) => tracing::warn!(error = %e, "SIGHUP: reload task failed"),
                }
                false
            }
        };
        if stop {
            tokio::spawn(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                tracing::warn!("second stop signal: exiting without waiting for the graceful stop");
                std::process::exit(130);
            });
            return Ok(());
        }
    }
}

/// Logs a failed group commit. The first failure disables the store's writer until the
/// server restarts (recovery runs at start); meanwhile peers are told to retry later (436,
/// 431, 400) and posters get 441, and readers keep reading. Later batches fail with
/// "writer disabled": those are logged at most once a minute.
fn write_failed_hook() -> tidings_store::writer::FailedHook {
    let last = std::sync::Mutex::new(None::<std::time::Instant>);
    Arc::new(move |e: &tidings_store::Error| {
        if !matches!(e, tidings_store::Error::Poisoned) {
            tracing::error!(
                error = %e,
                "storing articles failed; the store takes no more articles until the server \
                 is restarted (recovery runs at start); readers are still served"
            );
            return;
        }
        let mut last = last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            *last = Some(std::time::Instant::now());
            tracing::error!(
                "articles refused: the store's writer is disabled since an earlier failure; \
                 restart the server"
            );
        }
    })
}

/// Outbound peering set-up from the `[[peer]]` list: the writer's router and "queued" hook,
/// and one feeder configuration per peer with an `addr`.
fn feed_setup(cfg: &Config) -> Result<(WriterHooks, Vec<FeederConfig>, Wakers)> {
    let routes = Routes::new(&cfg.peer).map_err(|e| anyhow!(e))?;
    let mut configs = Vec::new();
    for p in &cfg.peer {
        if let Some(f) = FeederConfig::from_peer(p).map_err(|e| anyhow!(e))? {
            configs.push(f);
        }
    }
    let wakers = Wakers::new(configs.iter().map(|c| c.name.as_str()));
    let hooks = WriterHooks {
        router: (!routes.is_empty()).then(|| routes.into_router()),
        queued: (!configs.is_empty()).then(|| wakers.hook()),
        failed: Some(write_failed_hook()),
    };
    Ok((hooks, configs, wakers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_store::{GroupStatus, Lookup, NewArticle, OverviewInput, Store};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scheduled_expiry_removes_expired_articles() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), tidings_store::Config::default()).unwrap());
        store
            .add_group("misc.test", GroupStatus::Posting, 0, "t", "")
            .unwrap();
        let now = crate::unix_now();
        let arts: Vec<(String, Vec<u8>, i64)> = [("old", now - 30 * 86_400), ("new", now)]
            .iter()
            .map(|(n, t)| {
                let id = format!("<{n}@example.org>");
                let b = format!("Message-ID: {id}\r\nNewsgroups: misc.test\r\n\r\nbody\r\n");
                (id, b.into_bytes(), *t)
            })
            .collect();
        let batch: Vec<NewArticle<'_>> = arts
            .iter()
            .map(|(id, b, t)| NewArticle {
                bytes: b,
                message_id: id,
                groups: vec!["misc.test"],
                arrival: *t,
                expires: None,
                overview: OverviewInput::default(),
                feeds: Vec::new(),
            })
            .collect();
        store.store_batch(&batch).unwrap();
        let policy = Arc::new(crate::config::ExpireConfig::default().policy());
        let shutdown = tidings_net::Shutdown::new();
        let task = tokio::spawn(run_expiry(
            Arc::clone(&store),
            policy,
            Duration::from_millis(50),
            shutdown.signal(),
        ));
        let mut gone = false;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if !matches!(store.lookup("<old@example.org>"), Ok(Lookup::Present(_))) {
                gone = true;
                break;
            }
        }
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
        assert!(
            gone,
            "the 30-day-old article was not expired (default 10 days)"
        );
        assert!(matches!(
            store.lookup("<new@example.org>"),
            Ok(Lookup::Present(_))
        ));
    }
}
