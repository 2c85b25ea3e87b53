//! One inbound transit session: a read loop that decodes commands and articles, and a writer
//! task that sends the replies in command order as they become ready.
//!
//! Every command appends one [`Pending`] reply to a FIFO: either ready at once (438, 203, ...)
//! or a oneshot receiver completed later (235/239 by the store writer's completion, after the
//! batch is durable; 437/439 after the rejection is remembered). The writer task takes the
//! FIFO in order, gathers whatever is ready into one buffer and writes it, and waits only
//! when the next reply in order is not ready yet. So the read loop never waits for the
//! store, and a window of pipelined TAKETHIS shares one group commit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tidings_net::{ShutdownSignal, Stream, read_buf_with_idle_timeout};
use tidings_proto::reply::{write_lines, write_status};
use tidings_proto::table;
use tidings_proto::{
    BlockDecoder, BlockError, BlockStep, CapabilityState, Command, LineDecoder, ReplyCode,
};
use tidings_store::writer::OwnedArticle;
use tidings_store::{GroupStatus, RefuseReason, StoreOutcome};
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::inflight::InFlightGuard;
use super::{TransitEnd, TransitServices};
use crate::peers::{PeerCounters, PeerIdentity};
use crate::policy::{self, Context, History, Outcome, Refusal, Verb};

/// Most bytes read from the socket at once.
const READ_CHUNK: usize = 64 * 1024;
/// Write the gathered replies once they reach this size.
const FLUSH_AT: usize = 64 * 1024;
/// Most replies queued but not yet written; the read loop waits beyond this (TCP
/// backpressure), so memory stays bounded however deep the peer pipelines. The bytes of the
/// articles among them are bounded by `[transit] max_pending_bytes` ([`Session::unstored`]).
const MAX_PENDING: usize = 4096;

/// Most ids a session holds answered 238 to CHECK and not yet sent by TAKETHIS; past it a
/// CHECK of a new id gets 431 (try later). A feeder sends each TAKETHIS right after its 238,
/// so only a peer that never sends them reaches this.
const MAX_CHECKED: usize = 65_536;

/// Most group names a session remembers as carried or not (the cache is cleared past it).
const MAX_CARRIED_CACHE: usize = 10_000;

/// Article bytes a session may have handed to the store and not had stored yet (permits of
/// its `unstored` semaphore): `[transit] max_pending_bytes`, as a semaphore can count it.
fn unstored_bound(config: &crate::policy::TransitConfig) -> usize {
    config.max_pending_bytes.clamp(1, Semaphore::MAX_PERMITS)
}

/// How long the last replies may take to write at the end.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(2);

/// A reply line (or lines), and whether the connection closes after it.
struct Reply {
    bytes: Vec<u8>,
    close: bool,
}

impl Reply {
    fn new(code: ReplyCode, text: &str) -> Self {
        let mut bytes = Vec::with_capacity(text.len() + 8);
        write_status(&mut bytes, code, text);
        Self {
            bytes,
            close: false,
        }
    }

    fn closing(mut self) -> Self {
        self.close = true;
        self
    }
}

/// One entry of the reply FIFO.
enum Pending {
    Ready(Reply),
    Wait(oneshot::Receiver<Reply>),
}

/// The session is over (end of file, I/O error, timeout, shutdown, or the writer stopped).
struct Closed;

/// What the read loop does after a command.
enum Next {
    Continue,
    /// QUIT, shutdown, idle timeout or a fatal reply: end after the queued replies.
    End,
    /// Hand the connection back to the reader; the line is the command to replay.
    Reader(Vec<u8>),
}

struct Session {
    svc: Arc<TransitServices>,
    peer: PeerIdentity,
    rd: ReadHalf<Stream>,
    tx: mpsc::Sender<Pending>,
    rbuf: Vec<u8>,
    lines: LineDecoder,
    block: BlockDecoder,
    /// Claims taken by CHECK (238), waiting for their TAKETHIS.
    checked: HashMap<String, InFlightGuard>,
    /// One permit per byte of the articles handed to the writer and not stored yet (up to
    /// `[transit] max_pending_bytes`): taken before a submit, given back by its completion.
    /// The read loop waits for permits, so it stops reading while the store is behind.
    unstored: Arc<Semaphore>,
    carried: std::sync::Mutex<HashMap<String, policy::Carried>>,
    shutdown: ShutdownSignal,
    idle: Duration,
    tls: bool,
    compressed: bool,
}

pub(crate) async fn run(
    svc: Arc<TransitServices>,
    stream: Stream,
    peer: PeerIdentity,
    unread: Vec<u8>,
    shutdown: ShutdownSignal,
) -> TransitEnd {
    let tls = stream.is_tls();
    let compressed = stream.is_compressed();
    let idle = svc.idle_timeout.max(Duration::from_millis(1));
    let (rd, wr) = tokio::io::split(stream);
    let (tx, rx) = mpsc::channel(MAX_PENDING);
    let writer = tokio::spawn(write_replies(wr, rx, idle));
    let start = peer.counters.snapshot();
    tracing::info!(peer = %peer.name, by = ?peer.by, "transit session started");
    let unstored = Arc::new(Semaphore::new(unstored_bound(&svc.config)));
    let mut s = Session {
        lines: LineDecoder::new(svc.max_line),
        block: BlockDecoder::new(svc.config.max_article),
        svc,
        peer,
        rd,
        tx,
        rbuf: unread,
        checked: HashMap::new(),
        unstored,
        carried: std::sync::Mutex::new(HashMap::new()),
        shutdown,
        idle,
        tls,
        compressed,
    };
    let next = s.serve().await;
    let Session {
        rd,
        tx,
        rbuf,
        checked,
        peer,
        ..
    } = s;
    drop(checked);
    drop(tx);
    let end = peer.counters.snapshot();
    tracing::info!(
        peer = %peer.name,
        offered = end.offered - start.offered,
        accepted = end.accepted - start.accepted,
        refused = end.refused - start.refused,
        rejected = end.rejected - start.rejected,
        deferred = end.deferred - start.deferred,
        bytes = end.bytes - start.bytes,
        "transit session ended"
    );
    let Ok((wr, ok)) = writer.await else {
        return TransitEnd::Closed;
    };
    let mut stream = rd.unsplit(wr);
    match next {
        Next::Reader(mut line) if ok => {
            line.extend_from_slice(b"\r\n");
            line.extend_from_slice(&rbuf);
            TransitEnd::Reader {
                stream,
                unread: line,
            }
        }
        _ => {
            let _ = tokio::time::timeout(GOODBYE_TIMEOUT, stream.shutdown()).await;
            TransitEnd::Closed
        }
    }
}

/// Sends replies in FIFO order, gathering what is ready into one write. Returns the write
/// half and whether it ended normally (the FIFO was closed and everything was written).
async fn write_replies(
    mut wr: WriteHalf<Stream>,
    mut rx: mpsc::Receiver<Pending>,
    idle: Duration,
) -> (WriteHalf<Stream>, bool) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let item = match rx.try_recv() {
            Ok(item) => item,
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) => {
                if !flush(&mut wr, &mut buf, idle).await {
                    return (wr, false);
                }
                match rx.recv().await {
                    Some(item) => item,
                    None => break,
                }
            }
        };
        let reply = match item {
            Pending::Ready(r) => r,
            Pending::Wait(mut w) => match w.try_recv() {
                Ok(r) => r,
                Err(oneshot::error::TryRecvError::Empty) => {
                    if !flush(&mut wr, &mut buf, idle).await {
                        return (wr, false);
                    }
                    w.await.unwrap_or_else(|_| internal())
                }
                Err(oneshot::error::TryRecvError::Closed) => internal(),
            },
        };
        buf.extend_from_slice(&reply.bytes);
        if reply.close {
            let _ = flush(&mut wr, &mut buf, idle).await;
            return (wr, false);
        }
        if buf.len() >= FLUSH_AT && !flush(&mut wr, &mut buf, idle).await {
            return (wr, false);
        }
    }
    let ok = flush(&mut wr, &mut buf, idle).await;
    (wr, ok)
}

fn internal() -> Reply {
    Reply::new(
        ReplyCode::SERVICE_UNAVAILABLE,
        "Internal error; closing the connection",
    )
    .closing()
}

async fn flush(wr: &mut WriteHalf<Stream>, buf: &mut Vec<u8>, idle: Duration) -> bool {
    if buf.is_empty() {
        return true;
    }
    let r = tokio::time::timeout(idle, async {
        wr.write_all(buf).await?;
        wr.flush().await
    })
    .await;
    buf.clear();
    matches!(r, Ok(Ok(())))
}

fn first_word(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(line.len());
    let rest = line.get(start..).unwrap_or_default();
    let end = rest
        .iter()
        .position(u8::is_ascii_whitespace)
        .unwrap_or(rest.len());
    rest.get(..end).unwrap_or_default()
}

impl Session {
    fn counters(&self) -> &PeerCounters {
        &self.peer.counters
    }

    async fn push(&self, p: Pending) -> Result<(), Closed> {
        self.tx.send(p).await.map_err(|_| Closed)
    }

    async fn reply(&self, code: ReplyCode, text: &str) -> Result<(), Closed> {
        self.push(Pending::Ready(Reply::new(code, text))).await
    }

    /// Reads more bytes; `Ok(false)` when shutdown was signalled (only while `watch`).
    async fn fill(&mut self, watch: bool) -> Result<bool, Closed> {
        let mut sd = self.shutdown.clone();
        let tx = self.tx.clone();
        let res = tokio::select! {
            r = read_buf_with_idle_timeout(&mut self.rd, &mut self.rbuf, READ_CHUNK, self.idle) => Some(r),
            () = sd.wait(), if watch => None,
            () = tx.closed() => return Err(Closed),
        };
        match res {
            None => Ok(false),
            Some(Ok(0)) => Err(Closed),
            Some(Ok(_)) => Ok(true),
            Some(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                tracing::debug!(peer = %self.peer.name, "idle timeout");
                let r = Reply::new(
                    ReplyCode::SERVICE_UNAVAILABLE,
                    "Idle timeout, closing connection",
                );
                let _ = self.push(Pending::Ready(r.closing())).await;
                Err(Closed)
            }
            Some(Err(_)) => Err(Closed),
        }
    }

    async fn serve(&mut self) -> Next {
        match self.serve_inner().await {
            Ok(n) => n,
            Err(Closed) => Next::End,
        }
    }

    async fn serve_inner(&mut self) -> Result<Next, Closed> {
        loop {
            if self.shutdown.is_triggered() {
                return self.goodbye().await;
            }
            let line = match self.lines.decode(&self.rbuf) {
                Ok(Some(l)) => {
                    let consumed = l.consumed;
                    let line = l.line.to_vec();
                    self.rbuf.drain(..consumed.min(self.rbuf.len()));
                    line
                }
                Ok(None) => {
                    if !self.fill(true).await? {
                        return self.goodbye().await;
                    }
                    continue;
                }
                Err(e) => {
                    self.rbuf.drain(..e.discard().min(self.rbuf.len()));
                    if e.reply_due() {
                        let code = tidings_proto::ParseError::from(e).reply_code();
                        self.reply(code, &e.to_string()).await?;
                    }
                    continue;
                }
            };
            match self.command(line).await? {
                Next::Continue => {}
                other => return Ok(other),
            }
        }
    }

    async fn goodbye(&mut self) -> Result<Next, Closed> {
        let r = Reply::new(ReplyCode::SERVICE_UNAVAILABLE, "Server shutting down");
        self.push(Pending::Ready(r.closing())).await?;
        Ok(Next::End)
    }

    async fn command(&mut self, line: Vec<u8>) -> Result<Next, Closed> {
        let cmd = match tidings_proto::parse(&line) {
            Ok(c) => c,
            Err(e) => {
                if first_word(&line).eq_ignore_ascii_case(b"TAKETHIS") {
                    // The article follows whatever the argument: read it, then refuse it.
                    let raw = String::from_utf8_lossy(&line).into_owned();
                    let arg = raw.split_whitespace().nth(1).unwrap_or("<>").to_owned();
                    let _ = self.read_block().await?;
                    PeerCounters::add(&self.counters().rejected, 1);
                    let text = format!("{arg} {}", Refusal::BadCommandId(arg.clone()));
                    return self
                        .reply(ReplyCode::TAKETHIS_REJECTED, &text)
                        .await
                        .map(|()| Next::Continue);
                }
                let code = e.reply_code();
                let text = if code == ReplyCode::UNKNOWN_COMMAND {
                    "Unknown command".to_owned()
                } else {
                    format!("Syntax error: {e}")
                };
                self.reply(code, &text).await?;
                return Ok(Next::Continue);
            }
        };
        match cmd {
            Command::ModeStream => {
                self.reply(ReplyCode::STREAMING_OK, "Streaming permitted")
                    .await?;
            }
            Command::Ihave(id) => self.ihave(id.as_str()).await?,
            Command::Check(id) => self.check(id.as_str()).await?,
            Command::TakeThis(id) => self.takethis(id.as_str()).await?,
            Command::Quit => {
                self.push(Pending::Ready(
                    Reply::new(ReplyCode::CLOSING, "Bye").closing(),
                ))
                .await?;
                return Ok(Next::End);
            }
            Command::Capabilities(_) => {
                let implementation = format!("Tidings {}", env!("CARGO_PKG_VERSION"));
                let st = self.cap_state(Some(&implementation));
                let mut bytes = Vec::new();
                write_lines(
                    &mut bytes,
                    ReplyCode::CAPABILITIES_FOLLOW,
                    "Capability list follows",
                    table::capability_lines(&st),
                );
                self.push(Pending::Ready(Reply {
                    bytes,
                    close: false,
                }))
                .await?;
            }
            Command::Help => {
                let st = self.cap_state(None);
                let mut bytes = Vec::new();
                write_lines(
                    &mut bytes,
                    ReplyCode::HELP_FOLLOWS,
                    "Legal commands",
                    table::help_lines(&st),
                );
                self.push(Pending::Ready(Reply {
                    bytes,
                    close: false,
                }))
                .await?;
            }
            Command::Date => {
                let t = (self.svc.clock)();
                self.reply(
                    ReplyCode::SERVER_DATE,
                    &tidings_article::format_nntp_date(t),
                )
                .await?;
            }
            // Everything else (MODE READER, reader commands, AUTHINFO, STARTTLS, COMPRESS)
            // is the reader's: hand the connection back, replaying this command there.
            _ => return Ok(Next::Reader(line)),
        }
        Ok(Next::Continue)
    }

    fn cap_state<'a>(&self, implementation: Option<&'a str>) -> CapabilityState<'a> {
        CapabilityState {
            tls_active: self.tls,
            compress_active: self.compressed,
            reader: true,
            transit: true,
            implementation,
            ..CapabilityState::default()
        }
    }

    fn history(&self, id: &str) -> Result<History, ()> {
        self.svc.store.lookup(id).map(History::from).map_err(|_| ())
    }

    async fn ihave(&mut self, id: &str) -> Result<(), Closed> {
        PeerCounters::add(&self.counters().offered, 1);
        let Ok(history) = self.history(id) else {
            PeerCounters::add(&self.counters().deferred, 1);
            return self
                .reply(
                    ReplyCode::TRANSFER_NOT_POSSIBLE,
                    "Storage error; try again later",
                )
                .await;
        };
        let guard = if history == History::Unknown {
            self.svc.in_flight.claim(id, Instant::now())
        } else {
            None
        };
        let elsewhere = history == History::Unknown && guard.is_none();
        let v = policy::decide(Verb::Ihave, history, elsewhere, None);
        match v.outcome {
            Outcome::Send => {}
            Outcome::Defer => {
                PeerCounters::add(&self.counters().deferred, 1);
                return self.reply(v.code, "Retry later").await;
            }
            _ => {
                PeerCounters::add(&self.counters().refused, 1);
                let text = if history == History::Present {
                    "Duplicate"
                } else {
                    "Previously rejected"
                };
                return self.reply(v.code, text).await;
            }
        }
        self.reply(v.code, "Send it; end with <CR-LF>.<CR-LF>")
            .await?;
        let received = self.read_block().await?;
        let result = received.and_then(|a| self.examine(a, id));
        self.finish(Verb::Ihave, id, result, guard).await
    }

    async fn check(&mut self, id: &str) -> Result<(), Closed> {
        PeerCounters::add(&self.counters().offered, 1);
        let Ok(history) = self.history(id) else {
            PeerCounters::add(&self.counters().deferred, 1);
            return self.reply(ReplyCode::CHECK_LATER, id).await;
        };
        let new_claim = history == History::Unknown && !self.checked.contains_key(id);
        if new_claim && self.checked.len() >= MAX_CHECKED {
            // Answered 238 this many times without the TAKETHIS that should follow: ask the
            // peer to offer it again later rather than keep claims without bound.
            PeerCounters::add(&self.counters().deferred, 1);
            return self.reply(ReplyCode::CHECK_LATER, id).await;
        }
        let mut elsewhere = false;
        if new_claim {
            match self.svc.in_flight.claim(id, Instant::now()) {
                Some(g) => {
                    self.checked.insert(id.to_owned(), g);
                }
                None => elsewhere = true,
            }
        }
        let v = policy::decide(Verb::Check, history, elsewhere, None);
        match v.outcome {
            Outcome::Defer => PeerCounters::add(&self.counters().deferred, 1),
            Outcome::Refuse => PeerCounters::add(&self.counters().refused, 1),
            _ => {}
        }
        self.reply(v.code, id).await
    }

    async fn takethis(&mut self, id: &str) -> Result<(), Closed> {
        let mut guard = self.checked.remove(id);
        if guard.is_none() {
            // No CHECK before (innfeed's no-CHECK mode): this is the offer.
            PeerCounters::add(&self.counters().offered, 1);
        }
        let received = self.read_block().await?;
        let Ok(history) = self.history(id) else {
            return self.storage_failed(Verb::TakeThis, id).await;
        };
        if guard.is_none() && history == History::Unknown {
            guard = self.svc.in_flight.claim(id, Instant::now());
        }
        let elsewhere = history == History::Unknown && guard.is_none();
        let pre = policy::decide(Verb::TakeThis, history, elsewhere, None);
        if pre.outcome == Outcome::Refuse {
            PeerCounters::add(&self.counters().refused, 1);
            let why = match history {
                History::Present => "Duplicate",
                History::Rejected => "Previously rejected",
                History::Unknown => "Being received on another connection",
            };
            return self.reply(pre.code, &format!("{id} {why}")).await;
        }
        let result = received.and_then(|a| self.examine(a, id));
        self.finish(Verb::TakeThis, id, result, guard).await
    }

    async fn storage_failed(&self, verb: Verb, id: &str) -> Result<(), Closed> {
        PeerCounters::add(&self.counters().deferred, 1);
        let r = storage_error_reply(verb, id);
        self.push(Pending::Ready(r)).await
    }

    /// Reads a dot-terminated article; an over-size one is read to its end and refused.
    async fn read_block(&mut self) -> Result<Result<Vec<u8>, Refusal>, Closed> {
        loop {
            match self.block.decode(&self.rbuf) {
                Ok(BlockStep::NeedMore { consumed }) => {
                    self.rbuf.drain(..consumed.min(self.rbuf.len()));
                    self.fill(false).await?;
                }
                Ok(BlockStep::Done { consumed, block }) => {
                    self.rbuf.drain(..consumed.min(self.rbuf.len()));
                    return Ok(Ok(block));
                }
                Err(BlockError::TooLarge {
                    consumed,
                    discarded,
                    limit,
                }) => {
                    self.rbuf.drain(..consumed.min(self.rbuf.len()));
                    return Ok(Err(Refusal::TooLarge {
                        size: discarded,
                        limit,
                    }));
                }
            }
        }
    }

    fn examine(&self, article: Vec<u8>, id: &str) -> Result<OwnedArticle, Refusal> {
        let store = &self.svc.store;
        let carried = |g: &str| {
            let mut cache = match self.carried.lock() {
                Ok(c) => c,
                Err(poisoned) => poisoned.into_inner(),
            };
            if let Some(&c) = cache.get(g) {
                return c;
            }
            let c = match store.group(g) {
                Ok(Some(info)) => match info.status {
                    GroupStatus::Disabled => policy::Carried::No,
                    GroupStatus::Moderated => policy::Carried::Moderated,
                    _ => policy::Carried::Yes,
                },
                _ => policy::Carried::No,
            };
            // A peer can name any number of groups; the cache is only a shortcut.
            if cache.len() >= MAX_CARRIED_CACHE {
                cache.clear();
            }
            cache.insert(g.to_owned(), c);
            c
        };
        let cx = Context {
            pathhost: &self.svc.pathhost,
            now: (self.svc.clock)(),
            config: &self.svc.config,
            carried: &carried,
        };
        policy::examine(article, id, &cx)
    }

    /// Decides on a received article and queues its reply.
    async fn finish(
        &mut self,
        verb: Verb,
        id: &str,
        result: Result<OwnedArticle, Refusal>,
        guard: Option<InFlightGuard>,
    ) -> Result<(), Closed> {
        let checks = result.as_ref().map(|_| ()).map_err(Clone::clone);
        let v = policy::decide(verb, History::Unknown, false, Some(&checks));
        let prefix = if verb == Verb::TakeThis {
            format!("{id} ")
        } else {
            String::new()
        };
        match (v.outcome, result) {
            (Outcome::Accept, Ok(article)) => self.submit(verb, id, article, guard).await,
            (Outcome::Reject { remember }, Err(why)) => {
                PeerCounters::add(&self.counters().rejected, 1);
                tracing::debug!(peer = %self.peer.name, id, reason = %why, "article rejected");
                let reply = Reply::new(v.code, &format!("{prefix}{why}"));
                if !remember {
                    drop(guard);
                    return self.push(Pending::Ready(reply)).await;
                }
                // Remember before answering (and before releasing the claim), so that a
                // re-offer is refused at once. The writer records it in its next group
                // commit, with whatever else arrives meanwhile.
                let (tx, rx) = oneshot::channel();
                let now = (self.svc.clock)();
                let done = Box::new(move |r: Result<(), Arc<tidings_store::Error>>| {
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "could not remember a rejected message-id");
                    }
                    drop(guard);
                    let _ = tx.send(reply);
                });
                if self
                    .svc
                    .writer
                    .remember_reject(id.to_owned(), now, done)
                    .is_err()
                {
                    // The writer has stopped (shutting down): the session ends.
                    return Err(Closed);
                }
                self.push(Pending::Wait(rx)).await
            }
            (_, _) => {
                PeerCounters::add(&self.counters().refused, 1);
                self.reply(v.code, &format!("{prefix}Not wanted")).await
            }
        }
    }

    async fn submit(
        &mut self,
        verb: Verb,
        id: &str,
        article: OwnedArticle,
        guard: Option<InFlightGuard>,
    ) -> Result<(), Closed> {
        let len = article.bytes.len() as u64;
        // Wait (not reading from the peer meanwhile) until this article fits under the bound
        // of unstored bytes; one larger than the whole bound waits until the others are stored.
        let bound = unstored_bound(&self.svc.config);
        let want = u32::try_from(article.bytes.len().clamp(1, bound)).unwrap_or(u32::MAX);
        let Ok(permit) = Arc::clone(&self.unstored).acquire_many_owned(want).await else {
            return Err(Closed);
        };
        let (tx, rx) = oneshot::channel();
        let counters = Arc::clone(&self.peer.counters);
        let id_owned = id.to_owned();
        let done = Box::new(move |r: tidings_store::writer::WriteResult| {
            // the writer is done with the article's bytes
            drop(permit);
            let (ok_code, no_code, prefix) = match verb {
                Verb::TakeThis => (
                    ReplyCode::TAKETHIS_OK,
                    ReplyCode::TAKETHIS_REJECTED,
                    format!("{id_owned} "),
                ),
                _ => (
                    ReplyCode::TRANSFER_OK,
                    ReplyCode::TRANSFER_REJECTED,
                    String::new(),
                ),
            };
            let reply = match r {
                Ok(StoreOutcome::Stored { .. }) => {
                    PeerCounters::add(&counters.accepted, 1);
                    PeerCounters::add(&counters.bytes, len);
                    let text = if verb == Verb::TakeThis {
                        id_owned.clone()
                    } else {
                        "Article transferred OK".to_owned()
                    };
                    Reply::new(ok_code, &text)
                }
                Ok(StoreOutcome::Duplicate) => {
                    PeerCounters::add(&counters.refused, 1);
                    Reply::new(no_code, &format!("{prefix}Duplicate"))
                }
                Ok(StoreOutcome::Refused(why)) => {
                    PeerCounters::add(&counters.rejected, 1);
                    let why = match why {
                        RefuseReason::Rejected => "Previously rejected",
                        RefuseReason::NoGroups => "None of the newsgroups is carried here",
                        RefuseReason::NoHeaderEnd => "No blank line after the headers",
                        RefuseReason::TooLarge => "Article too large",
                        RefuseReason::BadMessageId => "Bad Message-ID",
                    };
                    Reply::new(no_code, &format!("{prefix}{why}"))
                }
                Err(_) => {
                    PeerCounters::add(&counters.deferred, 1);
                    storage_error_reply(verb, &id_owned)
                }
            };
            drop(guard);
            let _ = tx.send(reply);
        });
        if self.svc.writer.submit(article, done).is_err() {
            return self.storage_failed(verb, id).await;
        }
        self.push(Pending::Wait(rx)).await
    }
}

/// IHAVE: 436 (the peer retries). TAKETHIS has no "later" code: 400 and close, so the peer
/// keeps the article (it was not acknowledged) and offers it again.
fn storage_error_reply(verb: Verb, _id: &str) -> Reply {
    match verb {
        Verb::TakeThis | Verb::Check => Reply::new(
            ReplyCode::SERVICE_UNAVAILABLE,
            "Storage error; try again later",
        )
        .closing(),
        Verb::Ihave => Reply::new(
            ReplyCode::TRANSFER_NOT_POSSIBLE,
            "Storage error; try again later",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_words() {
        assert_eq!(first_word(b"  takethis <x>"), b"takethis");
        assert_eq!(first_word(b""), b"");
    }
}
