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

use anyhow::{Context, Result, anyhow};
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

/// Opens the store of the configured data directory.
pub fn open_store(cfg: &Config) -> Result<Store> {
    let dir = store_dir(&cfg.node.data_dir);
    Store::open(&dir, store_config(cfg)).with_context(|| {
        format!(
            "opening the store in {} (is a server already running on it?)",
            dir.display()
        )
    })
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
    let data_dir = cfg.node.data_dir.clone();
    create_data_dir(&data_dir)?;
    let pathhost = cfg.pathhost();
    let fresh = !store_dir(&data_dir).join("index.redb").exists();
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
    let control = tokio::net::UnixListener::bind(&sock_path)
        .with_context(|| format!("binding the control socket {}", sock_path.display()))?;
    #[cfg(unix)]
    std::fs::set_permissions(
        &sock_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .with_context(|| format!("setting the mode of {}", sock_path.display()))?;

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
    let control_task = tokio::spawn(admin::serve_control(
        control,
        sock_path.clone(),
        Arc::clone(&store),
        peering.feeds.clone(),
        users::users_path(data_dir),
        shutdown.signal(),
    ));

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

/// Waits for SIGINT or SIGTERM; reloads the certificate on SIGHUP.
async fn wait_for_stop(resolver: &Arc<CertResolver>, signals: Signals) -> Result<()> {
    let Signals {
        mut term,
        mut int,
        mut hup,
    } = signals;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = hup.recv() => {
                let r = Arc::clone(resolver);
                match tokio::task::spawn_blocking(move || r.reload()).await {
                    Ok(Ok(())) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "SIGHUP: TLS certificate reload failed; keeping the old one"),
                    Err(e) => tracing::warn!(error = %e, "SIGHUP: reload task failed"),
                }
            }
        }
    }
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
    };
    Ok((hooks, configs, wakers))
}
