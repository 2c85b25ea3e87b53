//! One peer's feeder: its connections, the streaming / IHAVE protocol, back-off.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tidings_net::{Stream, tls};
use tidings_proto::client::ResponseDecoder;
use tidings_proto::{CommandKind, Response, write_stuffed};
use tidings_store::{Lookup, Part, QueueEntry, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio_rustls::TlsConnector;

use super::dispatch::Dispatch;
use super::{FeedCounters, FeederConfig};
use crate::peers::PeerTransport;

/// Outcomes kept to decide between CHECK and TAKETHIS-only.
const SAMPLE: usize = 100;

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    #[error("network: {0}")]
    Net(#[from] tidings_net::NetError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("timed out")]
    Timeout,
    #[error("connection closed by the peer")]
    Closed,
    #[error("unexpected reply {0}")]
    Unexpected(String),
    #[error("store: {0}")]
    Store(#[from] tidings_store::Error),
    #[error("shutting down")]
    Shutdown,
}

pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Cheap jitter source (no security need): time-seeded xorshift.
fn jitter(d: Duration) -> Duration {
    let mut x = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0x9e37_79b9, |d| d.subsec_nanos() as u64 | 1);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    // 75 % .. 125 %
    let pct = 75 + (x % 51);
    d.mul_f64(pct as f64 / 100.0)
}

/// Everything a connection task needs.
pub(crate) struct Ctx {
    pub cfg: FeederConfig,
    pub store: Arc<Store>,
    pub dispatch: Arc<Dispatch>,
    pub counters: Arc<FeedCounters>,
    pub wake: Arc<Notify>,
    pub tls: Option<TlsConnector>,
    pub shutdown: tidings_net::ShutdownSignal,
    /// Connection index, for logs.
    pub index: usize,
}

struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    dec: ResponseDecoder,
    io_timeout: Duration,
}

/// Writes all of `bytes` and flushes; fails with [`ConnError::Timeout`] only when `idle`
/// passes without any progress. A whole TAKETHIS window (up to `window` articles of any
/// size) may take far longer than `idle` on a slow link, and a timeout on the whole write
/// would resend the same batch forever.
async fn write_all_progress<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    mut bytes: &[u8],
    idle: Duration,
) -> Result<(), ConnError> {
    // Each round writes at least one byte, so this ends after at most `bytes.len()` rounds.
    while !bytes.is_empty() {
        let n = tokio::time::timeout(idle, w.write(bytes))
            .await
            .map_err(|_| ConnError::Timeout)??;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
        }
        bytes = bytes.get(n..).unwrap_or_default();
    }
    tokio::time::timeout(idle, w.flush())
        .await
        .map_err(|_| ConnError::Timeout)??;
    Ok(())
}

impl Conn {
    fn new(stream: Stream, io_timeout: Duration) -> Self {
        Conn {
            stream,
            buf: Vec::with_capacity(8192),
            dec: ResponseDecoder::default(),
            io_timeout,
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        write_all_progress(&mut self.stream, bytes, self.io_timeout).await
    }

    /// Reads the next response (for a command recorded with `dec.sent`, or the greeting).
    async fn response(&mut self) -> Result<Response, ConnError> {
        for _ in 0..1_000_000 {
            match self.dec.decode(&self.buf) {
                Ok(step) => {
                    self.buf.drain(..step.consumed);
                    if let Some(r) = step.response {
                        return Ok(r);
                    }
                    if step.consumed > 0 {
                        continue;
                    }
                }
                Err(e) => {
                    self.buf.drain(..e.consumed());
                    return Err(ConnError::Unexpected(e.to_string()));
                }
            }
            let n = tokio::time::timeout(self.io_timeout, self.stream.read_buf(&mut self.buf))
                .await
                .map_err(|_| ConnError::Timeout)??;
            if n == 0 {
                return Err(ConnError::Closed);
            }
        }
        Err(ConnError::Unexpected("reply loop bound reached".into()))
    }

    async fn command(&mut self, line: &str, kind: CommandKind) -> Result<Response, ConnError> {
        self.dec.sent(kind);
        self.write(format!("{line}\r\n").as_bytes()).await?;
        self.response().await
    }
}

/// Runs one connection slot of a peer until shutdown: connect, feed, back off, reconnect.
pub(crate) async fn run_slot(ctx: Ctx) {
    let mut backoff = ctx.cfg.backoff_min;
    let mut shutdown = ctx.shutdown.clone();
    loop {
        if shutdown.is_triggered() {
            return;
        }
        // do not connect while there is nothing to send
        if !wait_for_work(&ctx).await {
            return;
        }
        let mut in_flight: Vec<QueueEntry> = Vec::new();
        let res = session(&ctx, &mut in_flight).await;
        ctx.dispatch.give_back(in_flight);
        match res {
            Ok(()) | Err(ConnError::Shutdown) => {
                if shutdown.is_triggered() {
                    return;
                }
                backoff = ctx.cfg.backoff_min;
            }
            Err(e) => {
                ctx.counters.set_last_error(now_unix(), e.to_string());
                let wait = jitter(backoff);
                tracing::info!(
                    peer = %ctx.cfg.name, conn = ctx.index, error = %e,
                    retry_in_ms = wait.as_millis() as u64, "feed connection failed"
                );
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown.wait() => return,
                }
                backoff = (backoff * 2).min(ctx.cfg.backoff_max);
            }
        }
    }
}

/// Waits until the queue (probably) holds something to send; false on shutdown.
async fn wait_for_work(ctx: &Ctx) -> bool {
    let mut shutdown = ctx.shutdown.clone();
    for _ in 0..u32::MAX {
        let notified = ctx.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let mut have =
            ctx.dispatch.queue_len().unwrap_or(0) as usize > ctx.dispatch.pending_removals();
        if have && ctx.cfg.delay_secs > 0 && ctx.dispatch.next_retry_in().is_none() {
            // do not connect (and idle) while the oldest entry is still held back
            let delay = i64::try_from(ctx.cfg.delay_secs).unwrap_or(i64::MAX);
            have = match ctx.store.queue_peek(&ctx.cfg.name, 0, 1) {
                Ok(head) => head
                    .first()
                    .is_some_and(|e| e.queued_at.saturating_add(delay) <= now_unix()),
                Err(_) => true,
            };
        }
        if have {
            return true;
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep(ctx.cfg.poll) => {}
            () = shutdown.wait() => return false,
        }
    }
    false
}

async fn connect(ctx: &Ctx) -> Result<Conn, ConnError> {
    let addr = ctx.cfg.addr.as_str();
    let t = ctx.cfg.io_timeout;
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let stream = match (ctx.cfg.transport, &ctx.tls) {
        (PeerTransport::Nntps, Some(c)) => {
            let tcp = tokio::time::timeout(t, tokio::net::TcpStream::connect(addr))
                .await
                .map_err(|_| ConnError::Timeout)??;
            Stream::connect_tls(tcp, c, tls::server_name(host)?, t).await?
        }
        _ => Stream::connect(addr, t).await?,
    };
    if let Some(tcp) = stream.tcp() {
        let _ = tcp.set_nodelay(true);
    }
    let mut conn = Conn::new(stream, t);
    let greeting = conn.response().await?;
    if !matches!(greeting.code.0, 200 | 201) {
        return Err(ConnError::Unexpected(format!(
            "greeting {} {}",
            greeting.code.0, greeting.text
        )));
    }
    if let (PeerTransport::Starttls, Some(c)) = (ctx.cfg.transport, &ctx.tls) {
        let r = conn.command("STARTTLS", CommandKind::StartTls).await?;
        if r.code.0 != 382 {
            return Err(ConnError::Unexpected(format!(
                "STARTTLS: {} {}",
                r.code.0, r.text
            )));
        }
        let Conn { stream, buf, .. } = conn;
        let up = stream
            .starttls_client(buf, c, tls::server_name(host)?, t)
            .await?;
        conn = Conn::new(up.stream, t);
    }
    if let Some(user) = &ctx.cfg.user {
        let r = conn
            .command(&format!("AUTHINFO USER {user}"), CommandKind::AuthinfoUser)
            .await?;
        let r = if r.code.0 == 381 {
            let pass = ctx.cfg.password.as_deref().unwrap_or_default();
            conn.command(&format!("AUTHINFO PASS {pass}"), CommandKind::AuthinfoPass)
                .await?
        } else {
            r
        };
        if r.code.0 != 281 {
            return Err(ConnError::Unexpected(format!(
                "AUTHINFO: {} {}",
                r.code.0, r.text
            )));
        }
    }
    if ctx.cfg.compress {
        let r = conn
            .command("COMPRESS DEFLATE", CommandKind::Compress)
            .await?;
        if r.code.0 == 206 {
            // Whatever follows the 206 is already compressed.
            let Conn { stream, buf, .. } = conn;
            conn = Conn::new(stream.compress(buf)?, t);
        } else {
            tracing::info!(peer = %ctx.cfg.name, code = r.code.0,
                "the peer does not take COMPRESS DEFLATE; feeding uncompressed");
        }
    }
    Ok(conn)
}

/// Loaded article of an entry.
struct Item {
    entry: QueueEntry,
    bytes: Vec<u8>,
}

/// What loading an entry's article gave.
enum Loaded {
    Article(Vec<u8>),
    /// Cancelled, expired, or its record is corrupt: finished and counted as missing.
    Gone,
    /// The store could not answer (an I/O or index error): retried after the retry delay.
    Failed(tidings_store::Error),
}

/// Loads the article of one entry by its message-id. The article's current location is used,
/// not the one queued: expiry may have moved the record to another segment since.
fn load_one(store: &Store, e: &QueueEntry) -> Loaded {
    use tidings_store::Error;
    let token = match store.lookup(&e.message_id) {
        Ok(Lookup::Present(t)) => t,
        Ok(_) => return Loaded::Gone,
        Err(err) => return Loaded::Failed(err),
    };
    let mut bytes = Vec::new();
    match store.read_current_into(&e.message_id, token, Part::Article, &mut bytes) {
        Ok(()) => Loaded::Article(bytes),
        Err(Error::Corrupt { .. } | Error::Quarantined { .. }) => Loaded::Gone,
        // The segment file is lost (a record expiry moved is read at its new place).
        Err(Error::Io(io)) if io.kind() == std::io::ErrorKind::NotFound => Loaded::Gone,
        Err(err) => Loaded::Failed(err),
    }
}

/// Loads the articles of `entries`; entries whose article is gone (cancelled, expired,
/// corrupt) are finished and counted as missing; entries the store could not read now are
/// deferred. `None` when the loading task failed (the caller defers the entries).
async fn load(ctx: &Ctx, entries: Vec<QueueEntry>) -> Option<Vec<Item>> {
    let store = Arc::clone(&ctx.store);
    let res = tokio::task::spawn_blocking(move || {
        entries
            .into_iter()
            .map(|e| {
                let l = load_one(&store, &e);
                (e, l)
            })
            .collect::<Vec<_>>()
    })
    .await
    .ok()?;
    let mut out = Vec::with_capacity(res.len());
    for (entry, loaded) in res {
        match loaded {
            Loaded::Article(bytes) => out.push(Item { entry, bytes }),
            Loaded::Gone => {
                ctx.counters.missing.fetch_add(1, Ordering::Relaxed);
                ctx.dispatch.finish(entry.seq);
            }
            Loaded::Failed(err) => {
                tracing::warn!(peer = %ctx.cfg.name, id = %entry.message_id, error = %err,
                    "cannot read a queued article now; retrying later");
                ctx.dispatch.defer(entry);
            }
        }
    }
    Some(out)
}

/// Streaming mode of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Check,
    TakethisOnly,
    Ihave,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Counts a connection in [`FeedCounters::up`] while it lives.
struct Up<'a>(&'a FeedCounters);

impl<'a> Up<'a> {
    fn new(counters: &'a FeedCounters) -> Self {
        counters.up.fetch_add(1, Ordering::Relaxed);
        Up(counters)
    }
}

impl Drop for Up<'_> {
    fn drop(&mut self) {
        self.0.up.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One connection's life: connect, negotiate, feed until the queue is empty or shutdown.
async fn session(ctx: &Ctx, in_flight: &mut Vec<QueueEntry>) -> Result<(), ConnError> {
    let mut conn = connect(ctx).await?;
    let mut mode = Mode::Ihave;
    if ctx.cfg.streaming {
        let r = conn.command("MODE STREAM", CommandKind::ModeStream).await?;
        if r.code.0 == 203 {
            mode = Mode::Check;
        } else {
            tracing::info!(peer = %ctx.cfg.name, code = r.code.0, "no streaming; using IHAVE");
        }
    }
    tracing::debug!(peer = %ctx.cfg.name, conn = ctx.index, ?mode, "feed connection up");
    let _up = Up::new(&ctx.counters);
    let mut sample: VecDeque<bool> = VecDeque::with_capacity(SAMPLE);
    let c = &ctx.counters.counts;
    let mut idle_rounds = 0u32;
    let mut shutdown = ctx.shutdown.clone();
    loop {
        if shutdown.is_triggered() {
            let _ = conn.command("QUIT", CommandKind::Quit).await;
            return Err(ConnError::Shutdown);
        }
        let window = if mode == Mode::Ihave {
            1
        } else {
            ctx.cfg.window
        };
        let entries = ctx.dispatch.take(window, now_unix())?;
        if entries.is_empty() {
            // idle: wait for work; after a while, close the connection
            idle_rounds += 1;
            if idle_rounds > ctx.cfg.idle_polls {
                let _ = conn.command("QUIT", CommandKind::Quit).await;
                return Ok(());
            }
            let notified = ctx.wake.notified();
            let wait = ctx
                .dispatch
                .next_retry_in()
                .map_or(ctx.cfg.poll, |d| d.min(ctx.cfg.poll));
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(wait) => {}
                () = shutdown.wait() => {}
            }
            continue;
        }
        idle_rounds = 0;
        in_flight.clear();
        in_flight.extend(entries.iter().cloned());
        let Some(items) = load(ctx, entries).await else {
            tracing::error!(peer = %ctx.cfg.name, "loading queued articles failed; retrying later");
            for e in in_flight.drain(..) {
                ctx.dispatch.defer(e);
            }
            continue;
        };
        in_flight.retain(|e| items.iter().any(|it| it.entry.seq == e.seq));
        match mode {
            Mode::Ihave => {
                for it in &items {
                    add(&c.offered, 1);
                    let r = conn
                        .command(
                            &format!("IHAVE {}", it.entry.message_id),
                            CommandKind::Ihave,
                        )
                        .await?;
                    match r.code.0 {
                        335 => {
                            let mut out = Vec::with_capacity(it.bytes.len() + 64);
                            write_stuffed(&it.bytes, &mut out);
                            conn.write(&out).await?;
                            let r = conn.response().await?;
                            settle(
                                ctx,
                                in_flight,
                                &it.entry,
                                r.code.0,
                                it.bytes.len(),
                                &mut sample,
                            )?;
                        }
                        code => settle(ctx, in_flight, &it.entry, code, 0, &mut sample)?,
                    }
                }
            }
            Mode::Check => {
                let mut out = Vec::new();
                for it in &items {
                    out.extend_from_slice(format!("CHECK {}\r\n", it.entry.message_id).as_bytes());
                    conn.dec.sent(CommandKind::Check);
                    add(&c.offered, 1);
                }
                conn.write(&out).await?;
                let mut wanted = Vec::new();
                for it in &items {
                    let r = conn.response().await?;
                    match r.code.0 {
                        // sampled once, by the TAKETHIS answer: an accepted article must
                        // count once, as a refused one does
                        238 => wanted.push(it),
                        code => settle(ctx, in_flight, &it.entry, code, 0, &mut sample)?,
                    }
                }
                takethis(ctx, &mut conn, in_flight, &wanted, &mut sample).await?;
            }
            Mode::TakethisOnly => {
                add(&c.offered, items.len() as u64);
                let all: Vec<&Item> = items.iter().collect();
                takethis(ctx, &mut conn, in_flight, &all, &mut sample).await?;
            }
        }
        in_flight.clear();
        // innfeed's no-CHECK mode: TAKETHIS only while nearly everything is accepted
        if sample.len() >= SAMPLE {
            let ok = sample.iter().filter(|&&a| a).count();
            let next = match mode {
                Mode::Check if ok * 100 > SAMPLE * 95 => Mode::TakethisOnly,
                Mode::TakethisOnly if ok * 100 < SAMPLE * 90 => Mode::Check,
                m => m,
            };
            if next != mode {
                tracing::debug!(peer = %ctx.cfg.name, ?next, accepted = ok, "feed mode switch");
                mode = next;
                sample.clear();
            }
        }
    }
}

fn push_sample(sample: &mut VecDeque<bool>, ok: bool) {
    if sample.len() >= SAMPLE {
        sample.pop_front();
    }
    sample.push_back(ok);
}

async fn takethis(
    ctx: &Ctx,
    conn: &mut Conn,
    in_flight: &mut Vec<QueueEntry>,
    items: &[&Item],
    sample: &mut VecDeque<bool>,
) -> Result<(), ConnError> {
    if items.is_empty() {
        return Ok(());
    }
    let mut out = Vec::new();
    for it in items {
        out.extend_from_slice(format!("TAKETHIS {}\r\n", it.entry.message_id).as_bytes());
        write_stuffed(&it.bytes, &mut out);
        conn.dec.sent(CommandKind::TakeThis);
    }
    conn.write(&out).await?;
    for it in items {
        let r = conn.response().await?;
        settle(ctx, in_flight, &it.entry, r.code.0, it.bytes.len(), sample)?;
    }
    Ok(())
}

/// Applies a final reply to an entry: remove, drop (counted) or defer.
fn settle(
    ctx: &Ctx,
    in_flight: &mut Vec<QueueEntry>,
    e: &QueueEntry,
    code: u16,
    bytes: usize,
    sample: &mut VecDeque<bool>,
) -> Result<(), ConnError> {
    in_flight.retain(|x| x.seq != e.seq);
    let c = &ctx.counters.counts;
    match code {
        235 | 239 => {
            add(&c.accepted, 1);
            add(&c.bytes, bytes as u64);
            push_sample(sample, true);
            ctx.dispatch.finish(e.seq);
        }
        435 | 438 => {
            add(&c.refused, 1);
            push_sample(sample, false);
            ctx.dispatch.finish(e.seq);
        }
        437 | 439 => {
            add(&c.rejected, 1);
            push_sample(sample, false);
            ctx.dispatch.finish(e.seq);
        }
        431 | 436 => {
            tracing::debug!(peer = %ctx.cfg.name, id = %e.message_id, code, "deferred by the peer");
            add(&c.deferred, 1);
            push_sample(sample, false);
            ctx.dispatch.defer(e.clone());
        }
        500 | 502 | 503 => return Err(connection_level(ctx, in_flight, e, code)),
        code @ 501..=599 => {
            // A 5xx answer about this one article (501: the peer does not like its
            // message-id, ...): it would get the same answer every time, so it is finished
            // as rejected rather than offered first again forever.
            tracing::warn!(peer = %ctx.cfg.name, id = %e.message_id, code,
                "the peer answered a permanent error for this article; not offered again");
            add(&c.rejected, 1);
            push_sample(sample, false);
            ctx.dispatch.finish(e.seq);
        }
        other => return Err(connection_level(ctx, in_flight, e, other)),
    }
    Ok(())
}

/// A reply that says the connection is no good: 400 (the peer is going down), 480, 500
/// (command not understood), 502 (not permitted), 503, or anything unexpected. The entry
/// stays in flight, so it is given back when the connection ends and offered first on the
/// next one, after the reconnect back-off.
fn connection_level(
    ctx: &Ctx,
    in_flight: &mut Vec<QueueEntry>,
    e: &QueueEntry,
    code: u16,
) -> ConnError {
    in_flight.push(e.clone());
    add(&ctx.counters.counts.deferred, 1);
    ConnError::Unexpected(format!("reply {code} for {}", e.message_id))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A slow reader: the whole write takes several times the idle timeout, but it keeps
    /// moving, so it succeeds; a reader that stops reading makes it time out.
    #[tokio::test]
    async fn write_timeout_bounds_the_time_without_progress() {
        let idle = Duration::from_millis(150);
        let data = vec![b'x'; 64 * 1024];
        let (mut w, mut r) = tokio::io::duplex(1024);
        let reader = tokio::spawn(async move {
            let mut got = 0usize;
            let mut buf = [0u8; 1024];
            while got < 64 * 1024 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
            (got, r)
        });
        let start = std::time::Instant::now();
        let res = write_all_progress(&mut w, &data, idle).await;
        assert!(res.is_ok(), "{res:?}");
        assert!(
            start.elapsed() > idle * 2,
            "not slow enough to test anything"
        );
        let (got, _r) = reader.await.unwrap();
        assert_eq!(got, data.len());

        let (mut w, _r) = tokio::io::duplex(1024);
        let res = write_all_progress(&mut w, &data, idle).await;
        assert!(matches!(res, Err(ConnError::Timeout)), "{res:?}");
    }
}
