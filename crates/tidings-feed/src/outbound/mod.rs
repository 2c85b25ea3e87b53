//! The outbound half of peering: routing, and the feeders that empty the durable per-peer
//! queues into peer servers.
//!
//! - [`route`]: which peers an article is queued for ([`Routes`]); the binary installs
//!   [`Routes::into_router`] as the store writer's router, so transit and POST articles are
//!   queued in the same transaction that stores them.
//! - [`Feeders`]: one feeder per peer with an `addr`, each with `connections` connections that
//!   take entries from the peer's queue in order (after `delay_secs`), skip articles that were
//!   cancelled or expired meanwhile, and offer them with MODE STREAM (CHECK, then TAKETHIS for
//!   the wanted ones, `window` commands per round; TAKETHIS without CHECK while more than 95 %
//!   of the last 100 are accepted, back to CHECK below 90 %) or IHAVE when streaming is off or
//!   refused. 235/239 and 435/437/438/439 remove the entry (counted), and so does a 5xx
//!   about the article (501, ...; counted as rejected, logged); 431/436 defer it for
//!   `retry_after`; any other reply (400, 480, 500, 502, 503, ...) or a broken connection
//!   offers the unanswered entries again after a reconnect with exponential back-off and
//!   jitter. Removals are batched and
//!   committed every `flush_interval`, so after a crash a few delivered articles may be
//!   offered again (the peer answers 435/438).

mod dispatch;
mod feeder;
pub mod route;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tidings_net::tls::{self, CertPaths, ServerTrust};
use tidings_net::{Shutdown, ShutdownSignal};
use tidings_store::Store;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub use route::{PeerRoute, RouteInput, Routes};

use crate::peers::{CounterSnapshot, PeerConfig, PeerCounters, PeerTransport};

/// Settings of one peer's feeder (from its `[[peer]]` entry plus timing knobs).
#[derive(Debug, Clone)]
pub struct FeederConfig {
    /// Queue name and log name (the peer's `name`).
    pub name: String,
    /// `host:port`.
    pub addr: String,
    /// tcp, starttls or nntps.
    pub transport: PeerTransport,
    /// How to verify the peer's certificate (TLS transports).
    pub trust: Option<ServerTrust>,
    /// Our certificate and key, presented as the TLS client certificate so that a peer which
    /// identifies us by `tls_fingerprint` (and no address) accepts our transit commands.
    pub client_cert: Option<CertPaths>,
    /// AUTHINFO USER (and PASS).
    pub user: Option<String>,
    /// AUTHINFO PASS.
    pub password: Option<String>,
    /// Parallel connections (>= 1).
    pub connections: usize,
    /// Commands per round in streaming mode (1..=[`crate::peers::MAX_WINDOW`]).
    pub window: usize,
    /// Hold articles this long after they were queued.
    pub delay_secs: u64,
    /// Try MODE STREAM.
    pub streaming: bool,
    /// Ask for COMPRESS DEFLATE (RFC 8054) after authenticating; a refusal means uncompressed.
    pub compress: bool,
    /// Deferred (431/436) articles are offered again after this.
    pub retry_after: Duration,
    /// First reconnect wait; doubled per failure (with jitter) up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest reconnect wait.
    pub backoff_max: Duration,
    /// Queue poll interval (besides the wake-up when articles are queued).
    pub poll: Duration,
    /// Connect, handshake and reply timeout; for writes, the longest time without progress.
    pub io_timeout: Duration,
    /// Polls without work before an idle connection is closed.
    pub idle_polls: u32,
    /// How often delivered entries are removed from the durable queue.
    pub flush_interval: Duration,
    /// How often counters are logged.
    pub log_interval: Duration,
}

impl FeederConfig {
    /// The feeder settings of a `[[peer]]` entry; `None` for a peer without `addr`.
    ///
    /// # Errors
    /// A TLS transport without `tls_fingerprint` or `ca_file`.
    pub fn from_peer(p: &PeerConfig) -> Result<Option<FeederConfig>, String> {
        let Some(addr) = &p.addr else {
            return Ok(None);
        };
        let trust = match (p.transport, p.tls_fingerprint, &p.ca_file) {
            (PeerTransport::Tcp, _, _) => None,
            (_, Some(fp), _) => Some(ServerTrust::Pinned(vec![fp])),
            (_, None, Some(ca)) => Some(ServerTrust::CaFile(ca.clone())),
            (_, None, None) => {
                return Err(format!(
                    "peer {}: TLS needs tls_fingerprint or ca_file",
                    p.name
                ));
            }
        };
        Ok(Some(FeederConfig {
            name: p.name.clone(),
            addr: addr.clone(),
            transport: p.transport,
            trust,
            client_cert: None,
            user: p.user.clone(),
            password: p.password.clone(),
            connections: p.connections.max(1),
            window: p.window.clamp(1, crate::peers::MAX_WINDOW),
            delay_secs: p.delay_secs,
            streaming: p.streaming,
            compress: p.compress,
            retry_after: Duration::from_secs(p.retry_secs.max(1)),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(p.max_reconnect_secs.max(1)),
            poll: Duration::from_secs(5),
            io_timeout: Duration::from_secs(p.response_timeout_secs.max(1)),
            idle_polls: 60,
            flush_interval: Duration::from_millis(200),
            log_interval: Duration::from_secs(600),
        }))
    }
}

/// A feeder's counters, shared by its connections.
#[derive(Debug, Default)]
pub struct FeedCounters {
    /// offered (CHECK, IHAVE, TAKETHIS without CHECK), accepted (235/239), refused
    /// (435/438), rejected (437/439), deferred (431/436 and failed offers), bytes accepted.
    pub counts: PeerCounters,
    /// Queued entries whose article was gone (cancelled, expired) when their turn came.
    pub missing: AtomicU64,
    /// Queue depth at the last look.
    pub queued: AtomicU64,
    /// Connections up now (after MODE STREAM or its refusal).
    pub up: AtomicU64,
    /// The last connection failure: unix time and what happened.
    pub last_error: std::sync::Mutex<Option<(i64, String)>>,
}

/// A plain copy of [`FeedCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedSnapshot {
    /// See [`FeedCounters::counts`].
    pub counts: CounterSnapshot,
    /// See [`FeedCounters::missing`].
    pub missing: u64,
    /// See [`FeedCounters::queued`].
    pub queued: u64,
    /// See [`FeedCounters::up`].
    pub up: u64,
}

impl FeedCounters {
    /// The current values.
    #[must_use]
    pub fn snapshot(&self) -> FeedSnapshot {
        FeedSnapshot {
            counts: self.counts.snapshot(),
            missing: self.missing.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::Relaxed),
            up: self.up.load(Ordering::Relaxed),
        }
    }

    /// The last connection failure (unix time, text), if any.
    #[must_use]
    pub fn last_error(&self) -> Option<(i64, String)> {
        match self.last_error.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub(crate) fn set_last_error(&self, at: i64, what: String) {
        let mut g = match self.last_error.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g = Some((at, what));
    }
}

fn log_counters(name: &str, s: &FeedSnapshot, what: &str) {
    let c = &s.counts;
    tracing::info!(
        peer = %name, offered = c.offered, accepted = c.accepted, refused = c.refused,
        rejected = c.rejected, deferred = c.deferred, missing = s.missing, bytes = c.bytes,
        queued = s.queued, "{what}"
    );
}

/// The wake-up signals of the feeders, one per peer, created before the store writer so that
/// its "queued" hook ([`Wakers::hook`]) can wake feeders started after it.
#[derive(Debug, Clone, Default)]
pub struct Wakers {
    map: Vec<(String, Arc<Notify>)>,
}

impl Wakers {
    /// One signal per peer name.
    #[must_use]
    pub fn new<'a>(peers: impl IntoIterator<Item = &'a str>) -> Wakers {
        Wakers {
            map: peers
                .into_iter()
                .map(|p| (p.to_owned(), Arc::new(Notify::new())))
                .collect(),
        }
    }

    /// The signal of a peer (a fresh one when the peer is unknown).
    #[must_use]
    pub fn get(&self, peer: &str) -> Arc<Notify> {
        self.map
            .iter()
            .find(|(n, _)| n == peer)
            .map_or_else(|| Arc::new(Notify::new()), |(_, w)| Arc::clone(w))
    }

    /// Wakes the feeders of these peers.
    pub fn notify(&self, peers: &[String]) {
        for (n, w) in &self.map {
            if peers.iter().any(|p| p == n) {
                w.notify_waiters();
            }
        }
    }

    /// The store writer's "queued" hook.
    #[must_use]
    pub fn hook(&self) -> tidings_store::writer::QueuedHook {
        let me = self.clone();
        Arc::new(move |peers: &[String]| me.notify(peers))
    }
}

/// One running feeder.
struct Running {
    name: String,
    counters: Arc<FeedCounters>,
    dispatch: Arc<dispatch::Dispatch>,
    tasks: Vec<JoinHandle<()>>,
    housekeeping: JoinHandle<()>,
}

/// The running feeders (one per fed peer). Start them after the store and its writer; stop
/// them (with [`Feeders::stop`]) before the writer.
pub struct Feeders {
    feeders: Vec<Running>,
    shutdown: Shutdown,
}

impl std::fmt::Debug for Feeders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feeders")
            .field(
                "peers",
                &self.feeders.iter().map(|r| &r.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Feeders {
    /// Starts a feeder for each configuration (on the current tokio runtime).
    ///
    /// # Errors
    /// A TLS trust setting could not be loaded (bad CA file).
    pub fn start(
        store: &Arc<Store>,
        configs: Vec<FeederConfig>,
        wakers: &Wakers,
    ) -> Result<Feeders, String> {
        let shutdown = Shutdown::new();
        let mut feeders = Vec::new();
        for cfg in configs {
            let tls = match &cfg.trust {
                Some(t) if cfg.transport != PeerTransport::Tcp => Some(
                    tls::connector(t, cfg.client_cert.as_ref())
                        .map_err(|e| format!("peer {}: {e}", cfg.name))?,
                ),
                _ => None,
            };
            let wake = wakers.get(&cfg.name);
            let counters = Arc::new(FeedCounters::default());
            let dispatch = Arc::new(dispatch::Dispatch::new(
                Arc::clone(store),
                &cfg.name,
                cfg.delay_secs,
                cfg.retry_after,
            ));
            let mut tasks = Vec::new();
            for index in 0..cfg.connections {
                tasks.push(tokio::spawn(feeder::run_slot(feeder::Ctx {
                    cfg: cfg.clone(),
                    store: Arc::clone(store),
                    dispatch: Arc::clone(&dispatch),
                    counters: Arc::clone(&counters),
                    wake: Arc::clone(&wake),
                    tls: tls.clone(),
                    shutdown: shutdown.signal(),
                    index,
                })));
            }
            let housekeeping = tokio::spawn(housekeeping(
                cfg.clone(),
                Arc::clone(&dispatch),
                Arc::clone(&counters),
                shutdown.signal(),
            ));
            feeders.push(Running {
                name: cfg.name.clone(),
                counters,
                dispatch,
                tasks,
                housekeeping,
            });
        }
        Ok(Feeders { feeders, shutdown })
    }

    /// Counters of every feeder.
    #[must_use]
    pub fn counters(&self) -> Vec<(String, FeedSnapshot)> {
        self.feeders
            .iter()
            .map(|f| (f.name.clone(), f.counters.snapshot()))
            .collect()
    }

    /// A handle for status reports (the control socket's `feed status`), usable while the
    /// feeders run.
    #[must_use]
    pub fn status(&self) -> FeedStatus {
        FeedStatus(Arc::new(
            self.feeders
                .iter()
                .map(|f| StatusEntry {
                    name: f.name.clone(),
                    connections: f.tasks.len(),
                    counters: Arc::clone(&f.counters),
                    dispatch: Arc::clone(&f.dispatch),
                })
                .collect(),
        ))
    }

    /// Stops every feeder (connections say QUIT after their current round), removes what was
    /// delivered from the queues and logs the counters. Bounded by `grace`.
    pub async fn stop(self, grace: Duration) {
        self.shutdown.trigger();
        let deadline = tokio::time::Instant::now() + grace;
        for f in self.feeders {
            for t in f.tasks {
                let abort = t.abort_handle();
                if tokio::time::timeout_at(deadline, t).await.is_err() {
                    abort.abort();
                }
            }
            let _ = tokio::time::timeout_at(deadline, f.housekeeping).await;
            let (d, c) = (Arc::clone(&f.dispatch), Arc::clone(&f.counters));
            let flushed = tokio::task::spawn_blocking(move || refresh(&d, &c)).await;
            if let Ok(Err(e)) = flushed {
                tracing::warn!(peer = %f.name, error = %e, "feed queue: final removal failed");
            }
            log_counters(&f.name, &f.counters.snapshot(), "feed stopped");
        }
    }
}

/// The feeders' counters, each with the depth of its durable queue (see [`Feeders::status`]).
#[derive(Clone)]
pub struct FeedStatus(Arc<Vec<StatusEntry>>);

/// A feeder as [`FeedStatus`] sees it.
struct StatusEntry {
    name: String,
    connections: usize,
    counters: Arc<FeedCounters>,
    dispatch: Arc<dispatch::Dispatch>,
}

/// One feeder's status (see [`FeedStatus::snapshot`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedReport {
    /// The peer's name.
    pub peer: String,
    /// Connections configured.
    pub connections: usize,
    /// Counters, queue depth and connections up.
    pub counters: FeedSnapshot,
    /// The last connection failure: unix time and what happened.
    pub last_error: Option<(i64, String)>,
}

impl std::fmt::Debug for FeedStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|e| &e.name))
            .finish()
    }
}

impl FeedStatus {
    /// Every feeder's counters, in configuration order. The queue depth is read now, after
    /// removing what was delivered since the last look, so it counts the entries still to be
    /// delivered. Blocking (store reads and a queue write): call off the async runtime.
    ///
    /// # Errors
    /// The store failed.
    pub fn snapshot(&self) -> Result<Vec<FeedReport>, tidings_store::Error> {
        self.0
            .iter()
            .map(|e| {
                refresh(&e.dispatch, &e.counters)?;
                Ok(FeedReport {
                    peer: e.name.clone(),
                    connections: e.connections,
                    counters: e.counters.snapshot(),
                    last_error: e.counters.last_error(),
                })
            })
            .collect()
    }
}

/// Removes the delivered entries from the durable queue and stores its depth in `counters`.
/// Blocking.
fn refresh(
    dispatch: &dispatch::Dispatch,
    counters: &FeedCounters,
) -> Result<(), tidings_store::Error> {
    let flushed = dispatch.flush();
    let n = dispatch.queue_len()?;
    counters.queued.store(n, Ordering::Relaxed);
    flushed.map(|_| ())
}

/// Flushes removals, refreshes the queue depth and logs counters, until shutdown ([`Feeders::stop`]
/// does the last flush once the connections have ended).
async fn housekeeping(
    cfg: FeederConfig,
    dispatch: Arc<dispatch::Dispatch>,
    counters: Arc<FeedCounters>,
    mut shutdown: ShutdownSignal,
) {
    let flush = |d: Arc<dispatch::Dispatch>, c: Arc<FeedCounters>| async move {
        let r = tokio::task::spawn_blocking(move || refresh(&d, &c)).await;
        if let Ok(Err(e)) = r {
            tracing::warn!(error = %e, "feed queue: removing delivered entries failed");
        }
    };
    let mut last_log = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(cfg.flush_interval) => {}
            () = shutdown.wait() => break,
        }
        flush(Arc::clone(&dispatch), Arc::clone(&counters)).await;
        if last_log.elapsed() >= cfg.log_interval {
            last_log = tokio::time::Instant::now();
            log_counters(&cfg.name, &counters.snapshot(), "feed counters");
        }
    }
}
