//! The group-commit writer: one thread that owns the write side of a [`Store`].
//!
//! Sessions (reader POST, transit IHAVE/TAKETHIS) hand it owned articles with a completion
//! callback. The thread takes whatever has queued up, up to [`WriterConfig::max_batch`]
//! articles, stores them with one [`Store::store_batch`] call (one spool fsync, one index
//! commit) and only then calls each completion with that article's outcome. So a session that
//! acknowledges in its completion never acknowledges before the article is durable, and the
//! cost of an fsync is shared by everything that arrived while the previous batch was syncing.
//!
//! The queue is unbounded: callers bound it themselves (a session has at most its pipelining
//! window of articles in flight). Completions run on the writer thread and must be quick (send
//! on a channel, wake a task). This module uses only `std` so the store stays runtime-free; an
//! async caller wraps the completion in a oneshot channel.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use crate::store::{NewArticle, OverviewInput, Store, StoreOutcome};

/// An article owned by the writer queue; the owned twin of [`NewArticle`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedArticle {
    /// Wire form: CRLF line ends, not dot-stuffed, without an Xref header.
    pub bytes: Vec<u8>,
    /// Message-id, e.g. `<abc@example>`.
    pub message_id: String,
    /// Groups to file it in.
    pub groups: Vec<String>,
    /// Arrival time, unix seconds.
    pub arrival: i64,
    /// Expires header as unix seconds, if honoured.
    pub expires: Option<i64>,
    /// Subject header value (tab-sanitised).
    pub subject: Vec<u8>,
    /// From header value (tab-sanitised).
    pub from: Vec<u8>,
    /// Date header value (tab-sanitised).
    pub date: Vec<u8>,
    /// References header value (tab-sanitised).
    pub references: Vec<u8>,
    /// Number of body lines.
    pub lines: u64,
    /// Peers to queue it for (see [`NewArticle::feeds`]). Left empty, the writer's
    /// [`Router`] (if any) fills it in [`Writer::submit`].
    pub feeds: Vec<String>,
}

impl OwnedArticle {
    /// Borrows it as the [`NewArticle`] that [`Store::store_batch`] takes.
    #[must_use]
    pub fn as_new(&self) -> NewArticle<'_> {
        NewArticle {
            bytes: &self.bytes,
            message_id: &self.message_id,
            groups: self.groups.iter().map(String::as_str).collect(),
            arrival: self.arrival,
            expires: self.expires,
            overview: OverviewInput {
                subject: &self.subject,
                from: &self.from,
                date: &self.date,
                references: &self.references,
                lines: self.lines,
            },
            feeds: self.feeds.iter().map(String::as_str).collect(),
        }
    }
}

/// What a completion receives: the article's outcome, or the error that failed its batch
/// (shared by every article of that batch; nothing of a failed batch is reported stored).
pub type WriteResult = Result<StoreOutcome, Arc<crate::Error>>;

/// Called once per submitted article, on the writer thread, after its batch is durable.
pub type Completion = Box<dyn FnOnce(WriteResult) + Send + 'static>;

/// Called once per [`Writer::remember_reject`], on the writer thread, after the batch that
/// recorded it is durable (or with the error that failed the batch).
pub type RejectCompletion = Box<dyn FnOnce(Result<(), Arc<crate::Error>>) + Send + 'static>;

/// Chooses the peers an article is queued for, when its submitter left
/// [`OwnedArticle::feeds`] empty (the daemon installs one built from its peer configuration, so
/// every path into the store — transit and POST — is routed the same way). Runs on the
/// submitting thread, not on the writer thread.
pub type Router = Arc<dyn Fn(&OwnedArticle) -> Vec<String> + Send + Sync>;

/// Called on the writer thread after a batch that queued articles for peers is durable, with
/// the names of those peers (each once). Must be quick (e.g. wake a feeder).
pub type QueuedHook = Arc<dyn Fn(&[String]) + Send + Sync>;

/// Called on the writer thread when a batch fails, with the error every article of the batch
/// is answered with. After a failure the store refuses writes ([`crate::Error::Poisoned`])
/// until it is reopened, so the caller should say so loudly (the store itself does not log).
pub type FailedHook = Arc<dyn Fn(&crate::Error) + Send + Sync>;

/// Optional hooks of a [`Writer`].
#[derive(Clone, Default)]
pub struct WriterHooks {
    /// See [`Router`].
    pub router: Option<Router>,
    /// See [`QueuedHook`].
    pub queued: Option<QueuedHook>,
    /// See [`FailedHook`].
    pub failed: Option<FailedHook>,
}

impl std::fmt::Debug for WriterHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterHooks")
            .field("router", &self.router.is_some())
            .field("queued", &self.queued.is_some())
            .field("failed", &self.failed.is_some())
            .finish()
    }
}

/// Writer settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterConfig {
    /// Most articles in one group commit. Default 1024.
    pub max_batch: usize,
    /// Most article bytes in one group commit. Default 64 MiB.
    pub max_batch_bytes: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_batch: 1024,
            max_batch_bytes: 64 << 20,
        }
    }
}

/// The writer has stopped (after [`Writer::shutdown`], or because its thread ended); the
/// article was not queued and is handed back.
#[derive(Debug, thiserror::Error)]
#[error("the store writer has stopped")]
pub struct WriterClosed(pub Box<OwnedArticle>);

struct Job {
    article: OwnedArticle,
    done: Completion,
}

struct RejectJob {
    id: String,
    at: i64,
    done: RejectCompletion,
}

enum Msg {
    Job(Box<Job>),
    Reject(Box<RejectJob>),
    Stop,
}

/// Handle to the writer thread. Clones share the thread; [`Writer::shutdown`] on any of them
/// stores what is queued, stops the thread and waits for it, after which every clone's
/// [`Writer::submit`] returns [`WriterClosed`].
#[derive(Clone)]
pub struct Writer {
    tx: Sender<Msg>,
    thread: Arc<std::sync::Mutex<Option<JoinHandle<()>>>>,
    router: Option<Router>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the writer thread for `store`.
    ///
    /// # Errors
    /// The thread could not be spawned.
    pub fn start(store: Arc<Store>, cfg: WriterConfig) -> std::io::Result<Writer> {
        Self::start_with_hooks(store, cfg, WriterHooks::default())
    }

    /// Starts the writer thread with a router and a "queued" hook (see [`WriterHooks`]).
    ///
    /// # Errors
    /// The thread could not be spawned.
    pub fn start_with_hooks(
        store: Arc<Store>,
        cfg: WriterConfig,
        hooks: WriterHooks,
    ) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<Msg>();
        let (queued, failed) = (hooks.queued, hooks.failed);
        let handle = std::thread::Builder::new()
            .name("tidings-writer".into())
            .spawn(move || {
                let hooks = LoopHooks {
                    queued: queued.as_ref(),
                    failed: failed.as_ref(),
                };
                writer_loop(&store, &rx, cfg, hooks);
            })?;
        Ok(Writer {
            tx,
            thread: Arc::new(std::sync::Mutex::new(Some(handle))),
            router: hooks.router,
        })
    }

    /// Queues an article; `done` is called with its outcome once its batch is durable.
    ///
    /// # Errors
    /// [`WriterClosed`] (with the article) when the writer has stopped.
    pub fn submit(&self, mut article: OwnedArticle, done: Completion) -> Result<(), WriterClosed> {
        if article.feeds.is_empty()
            && let Some(route) = &self.router
        {
            article.feeds = route(&article);
        }
        self.tx
            .send(Msg::Job(Box::new(Job { article, done })))
            .map_err(|e| match e.0 {
                Msg::Job(job) => WriterClosed(Box::new(job.article)),
                Msg::Reject(_) | Msg::Stop => WriterClosed(Box::default()),
            })
    }

    /// Queues a refused message-id to be remembered (as [`Store::remember_reject`]) in the
    /// next group commit, with the articles that arrive meanwhile: a feed that sends many
    /// unwanted articles costs one commit per batch, not one per article. `done` is called
    /// once the batch is durable.
    ///
    /// # Errors
    /// [`WriterClosed`] when the writer has stopped (`done` is not called).
    pub fn remember_reject(
        &self,
        id: String,
        at: i64,
        done: RejectCompletion,
    ) -> Result<(), WriterClosed> {
        self.tx
            .send(Msg::Reject(Box::new(RejectJob { id, at, done })))
            .map_err(|_| WriterClosed(Box::default()))
    }

    /// Stores everything queued so far, stops the thread and waits for it. Idempotent.
    pub fn shutdown(&self) {
        let _ = self.tx.send(Msg::Stop);
        let handle = match self.thread.lock() {
            Ok(mut g) => g.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

/// The hooks the writer thread calls.
#[derive(Clone, Copy)]
struct LoopHooks<'h> {
    queued: Option<&'h QueuedHook>,
    failed: Option<&'h FailedHook>,
}

/// What one group commit takes: articles and message-ids to remember as refused.
#[derive(Default)]
struct Pending {
    jobs: Vec<Job>,
    rejects: Vec<RejectJob>,
    bytes: usize,
}

impl Pending {
    fn len(&self) -> usize {
        self.jobs.len() + self.rejects.len()
    }

    fn add(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Job(job) => {
                self.bytes += job.article.bytes.len();
                self.jobs.push(*job);
            }
            Msg::Reject(r) => self.rejects.push(*r),
            Msg::Stop => return false,
        }
        true
    }
}

fn writer_loop(store: &Store, rx: &Receiver<Msg>, cfg: WriterConfig, hooks: LoopHooks<'_>) {
    let max_batch = cfg.max_batch.max(1);
    let mut p = Pending::default();
    let mut stopping = false;
    while !stopping {
        // Block for the first message of each batch; every sender gone means stop.
        match rx.recv() {
            Ok(msg) => stopping = !p.add(msg),
            Err(_) => stopping = true,
        }
        // Take what queued up meanwhile; when stopping, take everything that is left.
        while stopping || (p.len() < max_batch && p.bytes < cfg.max_batch_bytes) {
            match rx.try_recv() {
                Ok(msg) => {
                    if !p.add(msg) {
                        stopping = true;
                    }
                    if stopping && p.len() >= max_batch {
                        commit(store, &mut p, hooks);
                    }
                }
                Err(_) => break,
            }
        }
        commit(store, &mut p, hooks);
    }
}

/// Stores the pending articles and rejections as one batch and answers each of them; leaves
/// `p` empty.
fn commit(store: &Store, p: &mut Pending, hooks: LoopHooks<'_>) {
    if p.len() == 0 {
        return;
    }
    p.bytes = 0;
    let jobs = &mut p.jobs;
    let queued = hooks.queued;
    let mut peers: Vec<String> = Vec::new();
    let result = {
        let batch: Vec<NewArticle<'_>> = jobs.iter().map(|j| j.article.as_new()).collect();
        let rejects: Vec<(&str, i64)> = p.rejects.iter().map(|r| (r.id.as_str(), r.at)).collect();
        store.store_batch_remembering(&batch, &rejects)
    };
    match result {
        Ok(outcomes) => {
            if queued.is_some() {
                for (job, outcome) in jobs.iter().zip(&outcomes) {
                    if matches!(outcome, StoreOutcome::Stored { .. }) {
                        for f in &job.article.feeds {
                            if !peers.contains(f) {
                                peers.push(f.clone());
                            }
                        }
                    }
                }
            }
            for (job, outcome) in jobs.drain(..).zip(outcomes) {
                (job.done)(Ok(outcome));
            }
            for r in p.rejects.drain(..) {
                (r.done)(Ok(()));
            }
        }
        Err(e) => {
            if let Some(hook) = hooks.failed {
                hook(&e);
            }
            let e = Arc::new(e);
            for job in jobs.drain(..) {
                (job.done)(Err(Arc::clone(&e)));
            }
            for r in p.rejects.drain(..) {
                (r.done)(Err(Arc::clone(&e)));
            }
        }
    }
    // A short result vector would leave jobs without an answer: never keep them around.
    for job in jobs.drain(..) {
        (job.done)(Err(Arc::new(crate::Error::Io(std::io::Error::other(
            "store_batch returned fewer outcomes than articles",
        )))));
    }
    if let (Some(hook), false) = (queued, peers.is_empty()) {
        hook(&peers);
    }
}
