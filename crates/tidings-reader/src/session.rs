//! One reader session: the command loop, reply batching, and the commands themselves.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use tidings_article::Wildmat;
use tidings_net::{ShutdownSignal, Stream};
use tidings_proto::command::HeadersForm;
use tidings_proto::reply::{write_lines, write_status};
use tidings_proto::table::{self, Role};
use tidings_proto::{
    ArticleRange, ArticleRef, BlockDecoder, BlockError, BlockStep, CapabilityState, Command,
    LineDecoder, ListKind, NewsDateTime, RangeOrId, ReplyCode, write_stuffed,
};
use tidings_store::{GroupInfo, Part, Store, Token};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, Sleep};

use crate::config::{self, Grant};
use crate::limits::Slot;
use crate::{ListenerSettings, Resume, Services, SessionEnd};

/// Flush the reply buffer once it holds this much, even between pipelined commands.
const FLUSH_AT: usize = 256 * 1024;
/// Most bytes read from the socket at once.
const READ_CHUNK: usize = 64 * 1024;
/// How long the closing `400` line may take to write.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(2);
/// Parts of articles up to this size are read on the session's own thread: a positioned read
/// of a few KB from the page cache takes microseconds, far less than a hand-off to the blocking
/// pool and back. Bigger ones are read on a blocking thread.
pub(crate) const INLINE_READ_MAX: u64 = 64 * 1024;
/// OVER, HDR and LISTGROUP ranges up to this many numbers are served inline; longer ones (and
/// open ranges) on a blocking thread.
const INLINE_RANGE_MAX: u64 = 64;

/// Reply text to transit commands from a connection that may not use them.
const TRANSIT_UNAVAILABLE: &str = "Transit commands are not available on this connection";

static CONNECTION_IDS: AtomicU64 = AtomicU64::new(1);

/// What the loop does after a command.
enum Flow {
    Continue,
    Close,
    StartTls,
    Compress,
    Post,
    /// Hand the connection to a transit session; the line is the transit command.
    Transit(Vec<u8>),
    /// Read and drop the dot-terminated block the client sends without waiting (a refused
    /// TAKETHIS's article), then reply.
    DiscardThen(ReplyCode, &'static str),
}

/// Why a session ends early.
struct Closed;

/// The connection state a session keeps.
pub(crate) struct Session {
    pub(crate) svc: Arc<Services>,
    listener: ListenerSettings,
    pub(crate) peer: SocketAddr,
    shutdown: ShutdownSignal,
    stream: Option<Stream>,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// Reused for reading small articles.
    scratch: Vec<u8>,
    lines: LineDecoder,
    pub(crate) user: Option<String>,
    pending_user: Option<String>,
    pub(crate) grant: Option<Grant>,
    _slot: Option<Slot>,
    group: Option<String>,
    current: Option<u64>,
    sasl: bool,
    idle: Duration,
    /// The idle timer: armed once and moved forward only when it fires early (reset per
    /// command would cost a timer-wheel update per command).
    idle_timer: Pin<Box<Sleep>>,
    /// When the client last sent something.
    last_input: Instant,
    /// A standing wait on the shutdown signal (registered once, not per read).
    shutdown_wait: Pin<Box<dyn Future<Output = ()> + Send + Sync>>,
    pub(crate) conn_id: u64,
    pub(crate) suggested_id: Option<String>,
    /// Set when the session ends for a transit hand-off: the unprocessed bytes.
    handoff: Option<Vec<u8>>,
}

pub(crate) async fn run(
    svc: Arc<Services>,
    stream: Stream,
    peer: SocketAddr,
    listener: ListenerSettings,
    shutdown: ShutdownSignal,
    resume: Option<Resume>,
) -> SessionEnd {
    let idle = Duration::from_secs(svc.config.idle_timeout_secs.max(1));
    let resumed = resume.is_some();
    let Resume { unread, user } = resume.unwrap_or_default();
    let grant = config::evaluate(&svc.config, peer.ip(), user.as_deref());
    let mut sd = shutdown.clone();
    let shutdown_wait = Box::pin(async move { sd.wait().await });
    let now = Instant::now();
    let mut s = Session {
        lines: LineDecoder::new(svc.config.max_line),
        svc,
        listener,
        peer,
        shutdown,
        stream: Some(stream),
        rbuf: if unread.is_empty() {
            Vec::with_capacity(4096)
        } else {
            unread
        },
        wbuf: Vec::with_capacity(4096),
        scratch: Vec::new(),
        user,
        pending_user: None,
        grant,
        _slot: None,
        group: None,
        current: None,
        sasl: false,
        idle,
        idle_timer: Box::pin(tokio::time::sleep_until(now + idle)),
        last_input: now,
        shutdown_wait,
        conn_id: CONNECTION_IDS.fetch_add(1, Ordering::Relaxed),
        suggested_id: None,
        handoff: None,
    };
    tracing::debug!(conn = s.conn_id, peer = %peer, listener = %s.listener.name, resumed, "reader connected");
    if !resumed && s.greet().await.is_err() {
        return SessionEnd::Closed;
    }
    let _ = s.serve().await;
    if let (Some(unread), Some(stream)) = (s.handoff.take(), s.stream.take()) {
        tracing::debug!(conn = s.conn_id, "handed over to transit");
        return SessionEnd::Transit {
            stream,
            unread,
            user: s.user.take(),
        };
    }
    if let Some(mut st) = s.stream.take() {
        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, st.shutdown()).await;
    }
    tracing::debug!(conn = s.conn_id, "reader disconnected");
    SessionEnd::Closed
}

/// Whether a command line is a transit command (IHAVE, CHECK, TAKETHIS, MODE STREAM), judged by
/// its keywords only.
fn is_transit_line(line: &[u8]) -> bool {
    let mut words = line
        .split(u8::is_ascii_whitespace)
        .filter(|w| !w.is_empty());
    let first = words.next().unwrap_or_default();
    let second = words.next();
    table::lookup(first, second).is_ok_and(|(spec, _)| spec.role == Role::Transit)
}

/// Whether the line's first word is TAKETHIS (an article follows it whatever the reply).
fn is_takethis(line: &[u8]) -> bool {
    line.split(u8::is_ascii_whitespace)
        .find(|w| !w.is_empty())
        .is_some_and(|w| w.eq_ignore_ascii_case(b"TAKETHIS"))
}

fn ip_key(ip: IpAddr) -> String {
    format!("ip:{}", ip.to_canonical())
}

fn nntp_range(r: ArticleRange) -> Option<RangeInclusive<u64>> {
    let max = tidings_proto::command::MAX_ARTICLE_NUMBER;
    match r {
        ArticleRange::Single(a) => Some(a..=a),
        ArticleRange::From(a) => Some(a..=max),
        ArticleRange::Between(a, b) if a <= b => Some(a..=b),
        ArticleRange::Between(..) => None,
    }
}

/// Whether a range of article numbers is short enough to serve inline.
fn short_range(r: &RangeInclusive<u64>) -> bool {
    r.end().saturating_sub(*r.start()) < INLINE_RANGE_MAX
}

/// Overview field names usable with HDR (the standard seven plus Xref).
fn overview_field(name: &str) -> Option<tidings_store::OverviewField> {
    use tidings_store::OverviewField as F;
    Some(match name.to_ascii_lowercase().as_str() {
        "subject" => F::Subject,
        "from" => F::From,
        "date" => F::Date,
        "message-id" => F::MessageId,
        "references" => F::References,
        ":bytes" => F::Bytes,
        ":lines" => F::Lines,
        "xref" => F::Xref,
        _ => return None,
    })
}

/// A header's value in a stored head, cleaned as for overview (unfolded, TAB/CR/LF as
/// spaces); empty when absent.
fn header_value(head: &[u8], name: &str) -> Vec<u8> {
    let Ok(h) = tidings_article::Headers::parse(head) else {
        return Vec::new();
    };
    h.get(name)
        .map(tidings_article::overview::overview_value)
        .unwrap_or_default()
}

/// One OVER line: the stored fields as bytes (8-bit header text goes out as it came in).
fn overview_line(o: &tidings_store::OverviewRef<'_>, number: u64) -> Vec<u8> {
    let mut s =
        Vec::with_capacity(64 + o.subject.len() + o.from.len() + o.references.len() + o.xref.len());
    let _ = std::io::Write::write_fmt(&mut s, format_args!("{number}\t"));
    for f in [
        o.subject,
        o.from,
        o.date,
        o.message_id.as_bytes(),
        o.references,
    ] {
        s.extend_from_slice(f);
        s.push(b'\t');
    }
    let _ = std::io::Write::write_fmt(&mut s, format_args!("{}\t{}\t", o.bytes, o.lines));
    if !o.xref.is_empty() {
        s.extend_from_slice(b"Xref: ");
        s.extend_from_slice(o.xref.as_bytes());
    }
    s
}

type Failure = (ReplyCode, &'static str);

const INTERNAL: Failure = (ReplyCode::INTERNAL_FAULT, "Internal storage error");
const NO_GROUP: Failure = (ReplyCode::NO_GROUP_SELECTED, "No newsgroup selected");
const NO_CURRENT: Failure = (
    ReplyCode::NO_CURRENT_ARTICLE,
    "Current article number is invalid",
);
const NO_NUMBER: Failure = (
    ReplyCode::NO_SUCH_ARTICLE_NUMBER,
    "No article with that number",
);
const NO_RANGE: Failure = (
    ReplyCode::NO_SUCH_ARTICLE_NUMBER,
    "No articles in that range",
);
const NO_ID: Failure = (
    ReplyCode::NO_SUCH_ARTICLE_ID,
    "No article with that message-id",
);

/// A resolved article: its number (0 when designated by message-id), message-id and token.
struct Found {
    number: u64,
    message_id: String,
    token: Token,
}

/// HDR-like command flavours.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HdrKind {
    Hdr,
    XHdr,
    XPat,
}

impl Session {
    fn status(&mut self, code: ReplyCode, text: &str) {
        write_status(&mut self.wbuf, code, text);
    }

    fn fail(&mut self, f: Failure) {
        self.status(f.0, f.1);
    }

    fn may_post_now(&self) -> bool {
        self.grant.as_ref().is_some_and(Grant::may_post_somewhere)
    }

    /// What the greeting and MODE READER say about posting (200 or 201): whether the client
    /// may post now or, when no rule admits it yet, after AUTHINFO.
    fn posting_advertised(&self) -> bool {
        self.may_post_now()
            || (self.grant.is_none()
                && config::may_post_after_auth(&self.svc.config, self.peer.ip()))
    }

    fn is_tls(&self) -> bool {
        self.stream.as_ref().is_some_and(Stream::is_tls)
    }

    fn is_compressed(&self) -> bool {
        self.stream.as_ref().is_some_and(Stream::is_compressed)
    }

    fn auth_allowed_now(&self) -> bool {
        !self.listener.auth_requires_tls || self.is_tls()
    }

    fn starttls_offered(&self) -> bool {
        self.listener.starttls && self.svc.tls.is_some()
    }

    async fn greet(&mut self) -> Result<(), Closed> {
        let ip = self.peer.ip();
        // A per-address connection limit for rules that admit unauthenticated clients.
        if let Some(g) = &self.grant
            && g.max_connections.is_some()
        {
            match self.svc.limits.acquire(&ip_key(ip), g.max_connections) {
                Some(slot) => self._slot = Some(slot),
                None => {
                    self.status(
                        ReplyCode::SERVICE_UNAVAILABLE,
                        "Too many connections from your address; try again later",
                    );
                    let _ = self.flush().await;
                    return Err(Closed);
                }
            }
        }
        let posting = self.posting_advertised();
        let text = format!(
            "{} Tidings NNTP server {} ready ({})",
            self.svc.pathhost,
            env!("CARGO_PKG_VERSION"),
            if posting {
                "posting allowed"
            } else {
                "no posting"
            }
        );
        let code = if posting {
            ReplyCode::POSTING_ALLOWED
        } else {
            ReplyCode::POSTING_PROHIBITED
        };
        self.status(code, &text);
        self.flush().await
    }

    async fn flush(&mut self) -> Result<(), Closed> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let Some(st) = self.stream.as_mut() else {
            return Err(Closed);
        };
        let r = tokio::time::timeout(self.idle, async {
            st.write_all(&self.wbuf).await?;
            st.flush().await
        })
        .await;
        self.wbuf.clear();
        if self.wbuf.capacity() > 4 * FLUSH_AT {
            self.wbuf = Vec::with_capacity(4096);
        }
        match r {
            Ok(Ok(())) => Ok(()),
            _ => Err(Closed),
        }
    }

    /// Reads more bytes into `rbuf`; `Closed` at end of file, error, idle timeout or shutdown.
    async fn fill(&mut self, watch_shutdown: bool) -> Result<(), Closed> {
        let Some(st) = self.stream.as_mut() else {
            return Err(Closed);
        };
        if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
            self.rbuf.reserve(READ_CHUNK);
        }
        let res = loop {
            tokio::select! {
                biased;
                r = st.read_buf(&mut self.rbuf) => break Some(r),
                () = &mut self.shutdown_wait, if watch_shutdown => {
                    self.shutdown_wait = Box::pin(std::future::pending());
                    break None;
                }
                () = self.idle_timer.as_mut() => {
                    let deadline = self.last_input + self.idle;
                    if Instant::now() >= deadline {
                        break Some(Err(std::io::ErrorKind::TimedOut.into()));
                    }
                    self.idle_timer.as_mut().reset(deadline);
                }
            }
        };
        if matches!(res, Some(Ok(_))) {
            self.last_input = Instant::now();
        }
        match res {
            None => {
                self.goodbye("Server shutting down").await;
                Err(Closed)
            }
            Some(Ok(0)) => Err(Closed),
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                tracing::debug!(conn = self.conn_id, "idle timeout");
                self.goodbye("Idle timeout, closing connection").await;
                Err(Closed)
            }
            Some(Err(_)) => Err(Closed),
        }
    }

    async fn goodbye(&mut self, text: &str) {
        self.status(ReplyCode::SERVICE_UNAVAILABLE, text);
        if let Some(st) = self.stream.as_mut() {
            let buf = std::mem::take(&mut self.wbuf);
            let _ = tokio::time::timeout(GOODBYE_TIMEOUT, async {
                st.write_all(&buf).await?;
                st.flush().await
            })
            .await;
        }
    }

    async fn serve(&mut self) -> Result<(), Closed> {
        loop {
            loop {
                if self.shutdown.is_triggered() {
                    self.flush().await?;
                    self.goodbye("Server shutting down").await;
                    return Err(Closed);
                }
                let line = match self.lines.decode(&self.rbuf) {
                    Ok(Some(l)) => {
                        let consumed = l.consumed;
                        let line = l.line.to_vec();
                        self.rbuf.drain(..consumed);
                        line
                    }
                    Ok(None) => break,
                    Err(e) => {
                        self.rbuf.drain(..e.discard().min(self.rbuf.len()));
                        if e.reply_due() {
                            if self.sasl {
                                self.sasl = false;
                                self.status(ReplyCode::AUTH_FAILED, "Authentication failed");
                            } else {
                                let code = tidings_proto::ParseError::from(e).reply_code();
                                self.status(code, &format!("{e}"));
                            }
                        }
                        continue;
                    }
                };
                match self.handle_line(&line).await {
                    Flow::Continue => {}
                    Flow::Close => {
                        self.flush().await?;
                        return Ok(());
                    }
                    Flow::StartTls => self.starttls().await?,
                    Flow::Compress => {
                        self.flush().await?;
                        let unread = std::mem::take(&mut self.rbuf);
                        let st = self.stream.take().ok_or(Closed)?;
                        match st.compress(unread) {
                            Ok(st) => self.stream = Some(st),
                            Err(_) => return Err(Closed),
                        }
                    }
                    Flow::Post => self.receive_post().await?,
                    Flow::DiscardThen(code, text) => {
                        self.discard_block().await?;
                        self.status(code, text);
                    }
                    Flow::Transit(mut line) => {
                        self.flush().await?;
                        line.extend_from_slice(b"\r\n");
                        line.append(&mut self.rbuf);
                        self.handoff = Some(line);
                        return Ok(());
                    }
                }
                if self.wbuf.len() >= FLUSH_AT {
                    self.flush().await?;
                }
            }
            self.flush().await?;
            self.fill(true).await?;
        }
    }

    async fn starttls(&mut self) -> Result<(), Closed> {
        self.flush().await?;
        let (Some(acceptor), Some(st)) = (self.svc.tls.clone(), self.stream.take()) else {
            return Err(Closed);
        };
        let unread = std::mem::take(&mut self.rbuf);
        let timeout = Duration::from_secs(self.svc.config.tls_handshake_timeout_secs.max(1));
        match st.starttls_server(unread, &acceptor, timeout).await {
            Ok(up) => {
                if up.discarded > 0 {
                    tracing::info!(
                        conn = self.conn_id,
                        discarded = up.discarded,
                        "plaintext after STARTTLS discarded"
                    );
                }
                self.stream = Some(up.stream);
                self.lines = LineDecoder::new(self.svc.config.max_line);
                self.pending_user = None;
                self.sasl = false;
                // RFC 4642 §2.2.2: what the client said before the handshake is forgotten,
                // the selected group and current article included.
                self.group = None;
                self.current = None;
                self.suggested_id = None;
                Ok(())
            }
            Err(e) => {
                tracing::debug!(conn = self.conn_id, error = %e, "STARTTLS failed");
                Err(Closed)
            }
        }
    }

    /// Reads one dot-terminated block of at most `limit` octets from the connection: the
    /// un-stuffed block, or `Err(BlockError::TooLarge)` once an over-size one has been read
    /// to its end (the connection stays in step either way).
    async fn read_block(&mut self, limit: usize) -> Result<Result<Vec<u8>, BlockError>, Closed> {
        let mut dec = BlockDecoder::new(limit);
        loop {
            let step = dec.decode(&self.rbuf);
            let consumed = match &step {
                Ok(s) => s.consumed(),
                Err(BlockError::TooLarge { consumed, .. }) => *consumed,
            };
            self.rbuf.drain(..consumed.min(self.rbuf.len()));
            match step {
                Ok(BlockStep::NeedMore { .. }) => self.fill(false).await?,
                Ok(BlockStep::Done { block, .. }) => return Ok(Ok(block)),
                Err(e) => return Ok(Err(e)),
            }
        }
    }

    /// Reads a dot-terminated block and drops it (limit 0: nothing is kept).
    async fn discard_block(&mut self) -> Result<(), Closed> {
        self.read_block(0).await.map(|_| ())
    }

    async fn receive_post(&mut self) -> Result<(), Closed> {
        self.flush().await?;
        match self.read_block(self.svc.config.max_article).await? {
            Ok(block) => match crate::post::process(self, block).await {
                Ok(text) => self.status(ReplyCode::POST_OK, &text),
                Err(text) => self.status(ReplyCode::POSTING_FAILED, &text),
            },
            Err(BlockError::TooLarge {
                discarded, limit, ..
            }) => {
                let text = format!(
                    "Article too large ({discarded} octets; the limit is {limit}); not posted"
                );
                self.status(ReplyCode::POSTING_FAILED, &text);
            }
        }
        Ok(())
    }

    async fn handle_line(&mut self, line: &[u8]) -> Flow {
        if self.sasl {
            self.sasl = false;
            let text = String::from_utf8_lossy(line).trim().to_owned();
            self.sasl_response(&text).await;
            return Flow::Continue;
        }
        if is_transit_line(line) {
            // Also with a bad argument: a TAKETHIS's article follows whatever its argument,
            // so the transit session must read it.
            if self.transit_allowed() {
                return Flow::Transit(line.to_vec());
            }
            let auth_could_help = self.user.is_none()
                && self
                    .svc
                    .transit
                    .as_ref()
                    .is_some_and(|g| g.auth_could_help());
            let (code, text) = if auth_could_help {
                (
                    ReplyCode::AUTH_REQUIRED,
                    "Authentication required for transit commands",
                )
            } else {
                (ReplyCode::COMMAND_UNAVAILABLE, TRANSIT_UNAVAILABLE)
            };
            if is_takethis(line) {
                // RFC 4644 §2.5: the article follows without waiting for a reply; read it so
                // that its lines are not taken for commands.
                return Flow::DiscardThen(code, text);
            }
            if auth_could_help {
                self.status(code, text);
                return Flow::Continue;
            }
        }
        let cmd = match tidings_proto::parse(line) {
            Ok(c) => c,
            Err(e) => {
                let code = e.reply_code();
                let text = if code == ReplyCode::UNKNOWN_COMMAND {
                    "Unknown command".to_owned()
                } else {
                    format!("Syntax error: {e}")
                };
                self.status(code, &text);
                return Flow::Continue;
            }
        };
        let spec = table::spec_for(cmd.kind());
        if spec.is_some_and(|s| s.role == Role::Transit) {
            // Transit (IHAVE, CHECK, TAKETHIS, MODE STREAM) from a connection that is not a
            // peer's (peers' sessions were handed to the transit session above).
            self.status(ReplyCode::COMMAND_UNAVAILABLE, TRANSIT_UNAVAILABLE);
            return Flow::Continue;
        }
        if spec.is_some_and(|s| s.auth_required) && self.grant.is_none() {
            self.status(ReplyCode::AUTH_REQUIRED, "Authentication required");
            return Flow::Continue;
        }
        self.dispatch(cmd).await
    }

    async fn dispatch(&mut self, cmd: Command) -> Flow {
        match cmd {
            Command::Capabilities(_) => self.capabilities(),
            Command::ModeReader => {
                if self.posting_advertised() {
                    self.status(ReplyCode::POSTING_ALLOWED, "Posting allowed");
                } else {
                    self.status(ReplyCode::POSTING_PROHIBITED, "Posting prohibited");
                }
            }
            Command::Quit => {
                self.status(ReplyCode::CLOSING, "Bye");
                return Flow::Close;
            }
            Command::Group(g) => self.group(&g),
            Command::ListGroup(arg) => self.listgroup(arg).await,
            Command::Last => self.step(false),
            Command::Next => self.step(true),
            Command::Article(r) => self.article(r, Part::Article).await,
            Command::Head(r) => self.article(r, Part::Head).await,
            Command::Body(r) => self.article(r, Part::Body).await,
            Command::Stat(r) => match self.resolve(r) {
                Ok(f) => {
                    let text = format!("{} {}", f.number, f.message_id);
                    self.status(ReplyCode::ARTICLE_EXISTS, &text);
                }
                Err(e) => self.fail(e),
            },
            Command::Post => return self.post_command(),
            Command::Date => {
                let t = (self.svc.clock)();
                self.status(
                    ReplyCode::SERVER_DATE,
                    &tidings_article::format_nntp_date(t),
                );
            }
            Command::Help => {
                let mechs = self.sasl_mechanisms();
                let st = self.cap_state(mechs);
                let lines = table::help_lines_for(&self.capability_lines(&st), &st);
                write_lines(
                    &mut self.wbuf,
                    ReplyCode::HELP_FOLLOWS,
                    "Legal commands",
                    lines,
                );
            }
            Command::NewGroups(dt) => self.newgroups(&dt),
            Command::NewNews { wildmat, since } => self.newnews(&wildmat, &since).await,
            Command::List(kind) => self.list(kind).await,
            Command::Over(t) => self.over(t).await,
            Command::XOver(r) => self.over(r.map(RangeOrId::Range)).await,
            Command::Hdr { field, target } => self.hdr(HdrKind::Hdr, &field, target, &[]).await,
            Command::XHdr { field, target } => self.hdr(HdrKind::XHdr, &field, target, &[]).await,
            Command::XPat {
                field,
                target,
                patterns,
            } => {
                self.hdr(HdrKind::XPat, &field, Some(target), &patterns)
                    .await;
            }
            Command::XGTitle(w) => self.xgtitle(w),
            Command::StartTls => return self.starttls_command(),
            Command::AuthinfoUser(u) => self.authinfo_user(u),
            Command::AuthinfoPass(p) => self.authinfo_pass(p).await,
            Command::AuthinfoSasl { mechanism, initial } => {
                self.authinfo_sasl(&mechanism, initial).await;
            }
            Command::Compress(alg) => return self.compress_command(&alg),
            Command::ModeStream | Command::Ihave(_) | Command::Check(_) | Command::TakeThis(_) => {
                self.status(
                    ReplyCode::COMMAND_UNAVAILABLE,
                    "Transit commands are not available on this connection",
                );
            }
        }
        Flow::Continue
    }

    /// Whether the gate allows this connection (in its current state) to send transit commands.
    fn transit_allowed(&self) -> bool {
        let Some(gate) = &self.svc.transit else {
            return false;
        };
        let fp = self
            .stream
            .as_ref()
            .and_then(|s| s.info().tls.as_ref())
            .and_then(|t| t.peer_fingerprint);
        gate.allows(self.peer, fp.as_ref(), self.user.as_deref())
    }

    // ----- capabilities -----

    fn cap_state<'a>(&self, sasl: &'a [&'a str]) -> CapabilityState<'a> {
        let authenticated = self.user.is_some();
        CapabilityState {
            tls_active: self.is_tls(),
            starttls_offered: self.starttls_offered(),
            authenticated,
            authinfo_user: !authenticated && self.auth_allowed_now(),
            sasl_mechanisms: sasl,
            compress_offered: true,
            compress_active: self.is_compressed(),
            reader: true,
            transit: self.transit_allowed(),
            mode_reader_needed: false,
            posting: self.may_post_now(),
            implementation: None,
        }
    }

    fn sasl_mechanisms(&self) -> &'static [&'static str] {
        if self.user.is_none() && self.auth_allowed_now() {
            &["PLAIN"]
        } else {
            &[]
        }
    }

    fn capabilities(&mut self) {
        let implementation = format!("Tidings {}", env!("CARGO_PKG_VERSION"));
        let mut st = self.cap_state(self.sasl_mechanisms());
        st.implementation = Some(&implementation);
        let lines = self.capability_lines(&st);
        write_lines(
            &mut self.wbuf,
            ReplyCode::CAPABILITIES_FOLLOW,
            "Capability list follows",
            lines,
        );
    }

    /// The capability lines for `st`, without what this session cannot use (NEWNEWS when
    /// the access rule forbids it, LIST keywords whose data is not configured).
    fn capability_lines(&self, st: &CapabilityState<'_>) -> Vec<String> {
        let newnews = self.grant.as_ref().is_none_or(|g| g.newnews);
        let cfg = &self.svc.config;
        let unconfigured: Vec<&str> = [
            ("MOTD", cfg.motd_file.is_none()),
            ("MODERATORS", cfg.moderators.is_empty()),
            ("DISTRIB.PATS", cfg.distrib_pats.is_empty()),
            ("DISTRIBUTIONS", cfg.distributions.is_empty()),
            ("SUBSCRIPTIONS", cfg.subscriptions.is_empty()),
        ]
        .into_iter()
        .filter_map(|(k, off)| off.then_some(k))
        .collect();
        table::capability_lines(st)
            .into_iter()
            .filter(|l| newnews || l != "NEWNEWS")
            .map(|l| {
                if let Some(rest) = l.strip_prefix("LIST ") {
                    let kept: Vec<&str> = rest
                        .split(' ')
                        .filter(|k| !unconfigured.contains(k))
                        .collect();
                    format!("LIST {}", kept.join(" "))
                } else {
                    l
                }
            })
            .collect()
    }

    // ----- groups and articles -----

    /// The group if it exists and is readable.
    fn visible_group(&self, name: &str) -> Result<Option<GroupInfo>, Failure> {
        if !self.grant.as_ref().is_some_and(|g| g.can_read(name)) {
            return Ok(None);
        }
        self.svc.store.group(name).map_err(|_| INTERNAL)
    }

    fn select(&mut self, g: &GroupInfo) {
        self.group = Some(g.name.clone());
        self.current = (g.count > 0).then_some(g.low);
    }

    fn group(&mut self, name: &str) {
        match self.visible_group(name) {
            Ok(Some(g)) => {
                self.select(&g);
                let text = format!("{} {} {} {}", g.count, g.low, g.high, g.name);
                self.status(ReplyCode::GROUP_SELECTED, &text);
            }
            Ok(None) => self.status(ReplyCode::NO_SUCH_GROUP, "No such newsgroup"),
            Err(e) => self.fail(e),
        }
    }

    async fn listgroup(&mut self, arg: Option<(String, Option<ArticleRange>)>) {
        let (name, range) = match arg {
            Some((g, r)) => (g, r),
            None => match &self.group {
                Some(g) => (g.clone(), None),
                None => return self.fail(NO_GROUP),
            },
        };
        let g = match self.visible_group(&name) {
            Ok(Some(g)) => g,
            Ok(None) => return self.status(ReplyCode::NO_SUCH_GROUP, "No such newsgroup"),
            Err(e) => return self.fail(e),
        };
        self.select(&g);
        let range = match range {
            Some(r) => nntp_range(r),
            None => Some(g.low..=g.high.max(g.low)),
        };
        let numbers = match range {
            None => Ok(Vec::new()),
            Some(r) => {
                let gname = g.name.clone();
                let inline = short_range(&r);
                self.store_op(inline, move |s| {
                    s.snapshot().and_then(|snap| snap.numbers(&gname, r))
                })
                .await
            }
        };
        let Ok(numbers) = numbers else {
            return self.fail(INTERNAL);
        };
        let text = format!("{} {} {} {} list follows", g.count, g.low, g.high, g.name);
        write_lines(
            &mut self.wbuf,
            ReplyCode::GROUP_SELECTED,
            &text,
            numbers.iter().map(u64::to_string),
        );
    }

    /// The message-id and token of article `n` of `group`.
    fn by_number(&self, group: &str, n: u64) -> Result<Option<(String, Token)>, Failure> {
        let snap = self.svc.store.snapshot().map_err(|_| INTERNAL)?;
        let mut found = None;
        snap.overview(group, n..=n, |o| {
            found = Some((o.message_id.to_owned(), o.token));
            false
        })
        .map_err(|_| INTERNAL)?;
        Ok(found)
    }

    /// The token of a readable article by message-id, with the first readable (group,
    /// number) it is filed under.
    fn by_id(&self, id: &str) -> Result<Option<(Token, String, u64)>, Failure> {
        let snap = self.svc.store.snapshot().map_err(|_| INTERNAL)?;
        let Some(info) = snap.article_info(id).map_err(|_| INTERNAL)? else {
            return Ok(None);
        };
        let Some(grant) = &self.grant else {
            return Ok(None);
        };
        Ok(info
            .numbers
            .into_iter()
            .find(|(g, _)| grant.can_read(g))
            .map(|(g, n)| (info.token, g, n)))
    }

    fn resolve(&mut self, r: Option<ArticleRef>) -> Result<Found, Failure> {
        match r {
            Some(ArticleRef::MessageId(id)) => match self.by_id(id.as_str())? {
                Some((token, _, _)) => Ok(Found {
                    number: 0,
                    message_id: id.as_str().to_owned(),
                    token,
                }),
                None => Err(NO_ID),
            },
            Some(ArticleRef::Number(n)) => {
                let g = self.group.clone().ok_or(NO_GROUP)?;
                match self.by_number(&g, n)? {
                    Some((message_id, token)) => {
                        self.current = Some(n);
                        Ok(Found {
                            number: n,
                            message_id,
                            token,
                        })
                    }
                    None => Err(NO_NUMBER),
                }
            }
            None => {
                let g = self.group.clone().ok_or(NO_GROUP)?;
                let n = self.current.ok_or(NO_CURRENT)?;
                match self.by_number(&g, n)? {
                    Some((message_id, token)) => Ok(Found {
                        number: n,
                        message_id,
                        token,
                    }),
                    None => Err(NO_CURRENT),
                }
            }
        }
    }

    async fn article(&mut self, r: Option<ArticleRef>, part: Part) {
        let found = match self.resolve(r) {
            Ok(f) => f,
            Err(e) => return self.fail(e),
        };
        let token = found.token;
        let len = match part {
            Part::Article => token.article_len(),
            Part::Head => token.head_len(),
            Part::Body => token.body_len(),
        };
        // Small parts go through a buffer kept by the session (no allocation per article).
        // (A record expiry moved after the look-up is read at its new place.)
        let mut data = std::mem::take(&mut self.scratch);
        let r = if len <= INLINE_READ_MAX {
            self.svc
                .store
                .read_current_into(&found.message_id, token, part, &mut data)
        } else {
            let id = found.message_id.clone();
            blocking(&self.svc.store, move |s| {
                let mut v = Vec::new();
                s.read_current_into(&id, token, part, &mut v).map(|()| v)
            })
            .await
            .map(|v| data = v)
        };
        if r.is_err() {
            return self.status(
                ReplyCode::INTERNAL_FAULT,
                "The article could not be read from storage",
            );
        };
        let (code, what) = match part {
            Part::Article => (ReplyCode::ARTICLE_FOLLOWS, "article"),
            Part::Head => (ReplyCode::HEAD_FOLLOWS, "head"),
            Part::Body => (ReplyCode::BODY_FOLLOWS, "body"),
        };
        let text = format!("{} {} {what}", found.number, found.message_id);
        self.wbuf.reserve(data.len() + data.len() / 32 + 64);
        write_status(&mut self.wbuf, code, &text);
        write_stuffed(&data, &mut self.wbuf);
        if data.capacity() <= 2 * INLINE_READ_MAX as usize {
            data.clear();
            self.scratch = data;
        }
    }

    /// Runs a store operation inline (`inline`: known to be short) or on a blocking thread.
    async fn store_op<T, F>(&self, inline: bool, f: F) -> Result<T, tidings_store::Error>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, tidings_store::Error> + Send + 'static,
    {
        if inline {
            f(&self.svc.store)
        } else {
            blocking(&self.svc.store, f).await
        }
    }

    fn step(&mut self, forward: bool) {
        let Some(g) = self.group.clone() else {
            return self.fail(NO_GROUP);
        };
        let Some(cur) = self.current else {
            return self.fail(NO_CURRENT);
        };
        let found = (|| -> Result<Option<(u64, String)>, Failure> {
            let snap = self.svc.store.snapshot().map_err(|_| INTERNAL)?;
            let mut found = None;
            if forward {
                let Some(from) = cur.checked_add(1) else {
                    return Ok(None);
                };
                snap.overview(&g, from..=u64::MAX, |o| {
                    found = Some((o.number, o.message_id.to_owned()));
                    false
                })
                .map_err(|_| INTERNAL)?;
            } else if cur > 0 {
                // Walk back in windows so that a sparse group does not cost a full scan.
                let mut hi = cur - 1;
                loop {
                    let lo = hi.saturating_sub(255);
                    snap.overview(&g, lo..=hi, |o| {
                        found = Some((o.number, o.message_id.to_owned()));
                        true
                    })
                    .map_err(|_| INTERNAL)?;
                    if found.is_some() || lo == 0 {
                        break;
                    }
                    hi = lo - 1;
                }
            }
            Ok(found)
        })();
        match found {
            Ok(Some((n, id))) => {
                self.current = Some(n);
                self.status(ReplyCode::ARTICLE_EXISTS, &format!("{n} {id} retrieved"));
            }
            Ok(None) if forward => {
                self.status(ReplyCode::NO_NEXT_ARTICLE, "No next article in this group");
            }
            Ok(None) => self.status(
                ReplyCode::NO_PREVIOUS_ARTICLE,
                "No previous article in this group",
            ),
            Err(e) => self.fail(e),
        }
    }

    // ----- overview and headers -----

    async fn over(&mut self, target: Option<RangeOrId>) {
        let lines = match target {
            Some(RangeOrId::MessageId(id)) => {
                let (g, n) = match self.by_id(id.as_str()) {
                    Ok(Some((_, g, n))) => (g, n),
                    Ok(None) => return self.fail(NO_ID),
                    Err(e) => return self.fail(e),
                };
                let mut line = None;
                let r = self.svc.store.overview(&g, n..=n, |o| {
                    line = Some(overview_line(o, 0));
                    false
                });
                match (r, line) {
                    (Ok(()), Some(l)) => vec![l],
                    (Ok(()), None) => return self.fail(NO_ID),
                    (Err(_), _) => return self.fail(INTERNAL),
                }
            }
            other => {
                let Some(g) = self.group.clone() else {
                    return self.fail(NO_GROUP);
                };
                let range = match other {
                    Some(RangeOrId::Range(r)) => nntp_range(r),
                    _ => match self.current {
                        Some(n) => Some(n..=n),
                        None => return self.fail(NO_CURRENT),
                    },
                };
                let single = other.is_none();
                let Some(range) = range else {
                    return self.fail(NO_RANGE);
                };
                let inline = short_range(&range);
                let r = self
                    .store_op(inline, move |s| {
                        let mut out = Vec::new();
                        s.overview(&g, range, |o| {
                            out.push(overview_line(o, o.number));
                            true
                        })
                        .map(|()| out)
                    })
                    .await;
                match r {
                    Ok(v) if v.is_empty() => {
                        return self.fail(if single { NO_CURRENT } else { NO_RANGE });
                    }
                    Ok(v) => v,
                    Err(_) => return self.fail(INTERNAL),
                }
            }
        };
        write_lines(
            &mut self.wbuf,
            ReplyCode::OVERVIEW_FOLLOWS,
            "Overview information follows",
            lines,
        );
    }

    async fn hdr(
        &mut self,
        kind: HdrKind,
        field: &str,
        target: Option<RangeOrId>,
        patterns: &[String],
    ) {
        let pattern = if kind == HdrKind::XPat {
            match Wildmat::parse(&patterns.join(" ")) {
                Ok(w) => Some(w),
                Err(_) => {
                    return self.status(ReplyCode::SYNTAX_ERROR, "Bad pattern");
                }
            }
        } else {
            None
        };
        let ov = overview_field(field);
        let field_owned = field.to_owned();
        // (label, token, overview value if from overview)
        let items: Vec<(String, Token, Option<Vec<u8>>)> = match target {
            Some(RangeOrId::MessageId(id)) => {
                let (token, g, n) = match self.by_id(id.as_str()) {
                    Ok(Some(x)) => x,
                    Ok(None) => return self.fail(NO_ID),
                    Err(e) => return self.fail(e),
                };
                let label = if kind == HdrKind::Hdr {
                    "0".to_owned()
                } else {
                    id.as_str().to_owned()
                };
                let mut v = None;
                if let Some(f) = ov {
                    let r = self.svc.store.overview(&g, n..=n, |o| {
                        v = Some(o.field(f).into_owned());
                        false
                    });
                    if r.is_err() {
                        return self.fail(INTERNAL);
                    }
                }
                vec![(label, token, v)]
            }
            other => {
                let Some(g) = self.group.clone() else {
                    return self.fail(NO_GROUP);
                };
                let single = other.is_none();
                let range = match other {
                    Some(RangeOrId::Range(r)) => nntp_range(r),
                    _ => match self.current {
                        Some(n) => Some(n..=n),
                        None => return self.fail(NO_CURRENT),
                    },
                };
                let Some(range) = range else {
                    return self.fail(NO_RANGE);
                };
                let inline = short_range(&range);
                let r = self
                    .store_op(inline, move |s| {
                        let mut out = Vec::new();
                        s.overview(&g, range, |o| {
                            let v = ov.map(|f| o.field(f).into_owned());
                            out.push((o.number.to_string(), o.token, v));
                            true
                        })
                        .map(|()| out)
                    })
                    .await;
                match r {
                    Ok(v) if v.is_empty() => {
                        return self.fail(if single { NO_CURRENT } else { NO_RANGE });
                    }
                    Ok(v) => v,
                    Err(_) => return self.fail(INTERNAL),
                }
            }
        };
        // Fields not in the overview are read from the stored heads, off the async thread
        // unless there are only a few small ones.
        let inline = items.len() <= 4
            && items
                .iter()
                .all(|(_, t, v)| v.is_some() || t.head_len() <= INLINE_READ_MAX);
        let lines = self
            .store_op(inline, move |s| {
                let mut lines = Vec::with_capacity(items.len());
                for (label, token, v) in items {
                    let value = match v {
                        Some(v) => v,
                        None if field_owned.starts_with(':') => Vec::new(),
                        None => match s.read(token, Part::Head) {
                            Ok(head) => header_value(&head, &field_owned),
                            // Expired since the overview was read, or corrupt (never
                            // served): not listed, as ARTICLE would not find it either.
                            Err(
                                tidings_store::Error::Corrupt { .. }
                                | tidings_store::Error::Quarantined { .. },
                            ) => continue,
                            Err(tidings_store::Error::Io(e))
                                if e.kind() == std::io::ErrorKind::NotFound =>
                            {
                                continue;
                            }
                            Err(e) => return Err(e),
                        },
                    };
                    if let Some(w) = &pattern
                        && !w.matches(&String::from_utf8_lossy(&value))
                    {
                        continue;
                    }
                    let mut line = label.into_bytes();
                    line.push(b' ');
                    line.extend_from_slice(&value);
                    lines.push(line);
                }
                Ok::<_, tidings_store::Error>(lines)
            })
            .await;
        let Ok(lines) = lines else {
            return self.fail(INTERNAL);
        };
        let (code, text) = match kind {
            HdrKind::Hdr => (ReplyCode::HDR_FOLLOWS, "Headers follow"),
            HdrKind::XHdr => (ReplyCode::HEAD_FOLLOWS, "Header follows"),
            HdrKind::XPat => (ReplyCode::HEAD_FOLLOWS, "Matches follow"),
        };
        write_lines(&mut self.wbuf, code, text, lines);
    }

    // ----- lists -----

    fn readable_groups(&self, pattern: Option<&str>) -> Result<Vec<GroupInfo>, Failure> {
        let w = match pattern {
            Some(p) => {
                Some(Wildmat::parse(p).map_err(|_| (ReplyCode::SYNTAX_ERROR, "Bad wildmat"))?)
            }
            None => None,
        };
        let Some(grant) = self.grant.clone() else {
            return Ok(Vec::new());
        };
        self.svc
            .store
            .list_groups(|g| {
                grant.can_read(&g.name) && w.as_ref().is_none_or(|w| w.matches(&g.name))
            })
            .map_err(|_| INTERNAL)
    }

    async fn list(&mut self, kind: ListKind) {
        let cfg = Arc::clone(&self.svc.config);
        let static_list = |lines: &[String], what: &str, wbuf: &mut Vec<u8>| {
            if lines.is_empty() {
                write_status(
                    wbuf,
                    ReplyCode::FEATURE_NOT_SUPPORTED,
                    &format!("No {what} configured"),
                );
            } else {
                write_lines(
                    wbuf,
                    ReplyCode::LIST_FOLLOWS,
                    &format!("{what} follow"),
                    lines,
                );
            }
        };
        let groups_with = |s: &mut Self,
                           w: Option<&str>,
                           f: &dyn Fn(&GroupInfo) -> String,
                           text: &str| match s.readable_groups(w) {
            Ok(gs) => write_lines(&mut s.wbuf, ReplyCode::LIST_FOLLOWS, text, gs.iter().map(f)),
            Err(e) => s.fail(e),
        };
        match kind {
            ListKind::Active(w) => groups_with(
                self,
                w.as_deref(),
                &|g| format!("{} {} {} {}", g.name, g.high, g.low, g.status.as_flag()),
                "Newsgroups in form \"group high low status\"",
            ),
            ListKind::ActiveTimes(w) => groups_with(
                self,
                w.as_deref(),
                &|g| {
                    let who = if g.creator.is_empty() {
                        "unknown"
                    } else {
                        g.creator.as_str()
                    };
                    format!("{} {} {}", g.name, g.created, who)
                },
                "Newsgroup creation times follow",
            ),
            ListKind::Newsgroups(w) => groups_with(
                self,
                w.as_deref(),
                &|g| format!("{}\t{}", g.name, g.description),
                "Newsgroup descriptions follow",
            ),
            ListKind::Counts(w) => groups_with(
                self,
                w.as_deref(),
                &|g| {
                    format!(
                        "{} {} {} {} {}",
                        g.name,
                        g.high,
                        g.low,
                        g.count,
                        g.status.as_flag()
                    )
                },
                "Newsgroups in form \"group high low count status\"",
            ),
            ListKind::OverviewFmt => write_lines(
                &mut self.wbuf,
                ReplyCode::LIST_FOLLOWS,
                "Order of fields in overview database",
                [
                    "Subject:",
                    "From:",
                    "Date:",
                    "Message-ID:",
                    "References:",
                    ":bytes",
                    ":lines",
                    "Xref:full",
                ],
            ),
            ListKind::Headers(form) => {
                let lines: &[&str] = match form {
                    Some(HeadersForm::MsgId) | Some(HeadersForm::Range) | None => {
                        &[":", ":bytes", ":lines"]
                    }
                };
                write_lines(
                    &mut self.wbuf,
                    ReplyCode::LIST_FOLLOWS,
                    "Headers and metadata items supported",
                    lines,
                );
            }
            ListKind::DistribPats => {
                static_list(&cfg.distrib_pats, "Distribution patterns", &mut self.wbuf)
            }
            ListKind::Distributions => {
                static_list(&cfg.distributions, "Distributions", &mut self.wbuf)
            }
            ListKind::Moderators => {
                static_list(&cfg.moderators, "Moderator addresses", &mut self.wbuf)
            }
            ListKind::Subscriptions(_) => {
                static_list(&cfg.subscriptions, "Subscriptions", &mut self.wbuf)
            }
            ListKind::Motd => {
                let Some(path) = cfg.motd_file.clone() else {
                    return self.status(ReplyCode::FEATURE_NOT_SUPPORTED, "No message of the day");
                };
                match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
                    Ok(Ok(bytes)) => {
                        let text = String::from_utf8_lossy(&bytes).into_owned();
                        let lines: Vec<&str> =
                            text.lines().map(|l| l.trim_end_matches('\r')).collect();
                        write_lines(
                            &mut self.wbuf,
                            ReplyCode::LIST_FOLLOWS,
                            "Message of the day follows",
                            lines,
                        );
                    }
                    _ => self.status(ReplyCode::FEATURE_NOT_SUPPORTED, "No message of the day"),
                }
            }
        }
    }

    fn xgtitle(&mut self, w: Option<String>) {
        let pattern = match w {
            Some(w) => w,
            None => match &self.group {
                Some(g) => g.clone(),
                None => return self.fail(NO_GROUP),
            },
        };
        match self.readable_groups(Some(&pattern)) {
            Ok(gs) => write_lines(
                &mut self.wbuf,
                ReplyCode::GROUP_TITLES_FOLLOW,
                "List of groups and descriptions follows",
                gs.iter().map(|g| format!("{}\t{}", g.name, g.description)),
            ),
            Err(e) => self.fail(e),
        }
    }

    fn since(&self, dt: &NewsDateTime) -> Option<i64> {
        tidings_article::parse_nntp_date(dt.date(), dt.time(), (self.svc.clock)()).ok()
    }

    fn newgroups(&mut self, dt: &NewsDateTime) {
        let Some(since) = self.since(dt) else {
            return self.status(ReplyCode::SYNTAX_ERROR, "Bad date or time");
        };
        match self.readable_groups(None) {
            Ok(gs) => write_lines(
                &mut self.wbuf,
                ReplyCode::NEW_GROUPS_FOLLOW,
                "New newsgroups follow",
                gs.iter()
                    .filter(|g| g.created >= since)
                    .map(|g| format!("{} {} {} {}", g.name, g.high, g.low, g.status.as_flag())),
            ),
            Err(e) => self.fail(e),
        }
    }

    async fn newnews(&mut self, wildmat: &str, dt: &NewsDateTime) {
        let Some(grant) = self.grant.clone() else {
            return self.status(ReplyCode::AUTH_REQUIRED, "Authentication required");
        };
        if !grant.newnews {
            return self.status(
                ReplyCode::COMMAND_UNAVAILABLE,
                "NEWNEWS is not allowed for you",
            );
        }
        let Ok(w) = Wildmat::parse(wildmat) else {
            return self.status(ReplyCode::SYNTAX_ERROR, "Bad wildmat");
        };
        let Some(since) = self.since(dt) else {
            return self.status(ReplyCode::SYNTAX_ERROR, "Bad date or time");
        };
        let r = blocking(&self.svc.store, move |s| {
            let mut out = Vec::new();
            s.snapshot()?.newnews(
                since,
                |g| grant.can_read(g) && w.matches(g),
                |id| {
                    out.push(id.to_owned());
                    true
                },
            )?;
            Ok(out)
        })
        .await;
        match r {
            Ok(ids) => write_lines(
                &mut self.wbuf,
                ReplyCode::NEW_ARTICLES_FOLLOW,
                "New news follows",
                ids,
            ),
            Err(_) => self.fail(INTERNAL),
        }
    }

    // ----- posting -----

    fn post_command(&mut self) -> Flow {
        if !self.may_post_now() {
            self.status(ReplyCode::POSTING_NOT_PERMITTED, "Posting not permitted");
            return Flow::Continue;
        }
        let id = crate::post::unique_id(&self.svc.pathhost, (self.svc.clock)());
        self.status(
            ReplyCode::SEND_POST,
            &format!(
                "Send article to be posted; end with <CR-LF>.<CR-LF>; recommended Message-ID {id}"
            ),
        );
        self.suggested_id = Some(id);
        Flow::Post
    }

    // ----- TLS, compression, authentication -----

    fn starttls_command(&mut self) -> Flow {
        if !self.starttls_offered() || self.user.is_some() || self.is_tls() || self.is_compressed()
        {
            let why = if self.is_tls() {
                "TLS is already active"
            } else if self.user.is_some() {
                "Already authenticated"
            } else if self.is_compressed() {
                "Compression is active"
            } else {
                "STARTTLS is not available"
            };
            self.status(ReplyCode::COMMAND_UNAVAILABLE, why);
            return Flow::Continue;
        }
        self.status(ReplyCode::CONTINUE_TLS, "Begin TLS negotiation now");
        Flow::StartTls
    }

    fn compress_command(&mut self, alg: &str) -> Flow {
        if self.is_compressed() {
            self.status(
                ReplyCode::COMMAND_UNAVAILABLE,
                "Compression is already active",
            );
            return Flow::Continue;
        }
        if !alg.eq_ignore_ascii_case("DEFLATE") {
            self.status(
                ReplyCode::FEATURE_NOT_SUPPORTED,
                "Only the DEFLATE algorithm is supported",
            );
            return Flow::Continue;
        }
        self.status(ReplyCode::COMPRESSION_ACTIVE, "Compression active");
        Flow::Compress
    }

    /// Common checks before an AUTHINFO command; `false` when a reply was written.
    fn auth_precheck(&mut self) -> bool {
        if self.user.is_some() {
            self.status(ReplyCode::COMMAND_UNAVAILABLE, "Already authenticated");
            return false;
        }
        if !self.auth_allowed_now() {
            let text = if self.starttls_offered() {
                "Encryption required: use STARTTLS first"
            } else {
                "Encryption required: connect to the server's TLS (NNTPS) port"
            };
            self.status(ReplyCode::ENCRYPTION_REQUIRED, text);
            return false;
        }
        true
    }

    fn authinfo_user(&mut self, user: String) {
        if !self.auth_precheck() {
            return;
        }
        self.pending_user = Some(user);
        self.status(ReplyCode::PASSWORD_REQUIRED, "Password required");
    }

    async fn authinfo_pass(&mut self, password: String) {
        if !self.auth_precheck() {
            return;
        }
        let Some(user) = self.pending_user.take() else {
            return self.status(ReplyCode::AUTH_OUT_OF_SEQUENCE, "Send AUTHINFO USER first");
        };
        self.login(user, password).await;
    }

    async fn login(&mut self, user: String, password: String) {
        let auth = Arc::clone(&self.svc.auth);
        let u = user.clone();
        let ok = tokio::task::spawn_blocking(move || auth.verify(&u, &password))
            .await
            .unwrap_or(false);
        if !ok {
            tracing::info!(conn = self.conn_id, user = %user, "authentication failed");
            return self.status(ReplyCode::AUTH_FAILED, "Authentication failed");
        }
        let grant = config::evaluate(&self.svc.config, self.peer.ip(), Some(&user));
        if grant.is_none() {
            tracing::info!(conn = self.conn_id, user = %user, "no access rule for user");
            return self.status(
                ReplyCode::AUTH_FAILED,
                "Authentication rejected: no access for this user from your address",
            );
        }
        let mut slot = None;
        if let Some(g) = &grant
            && g.max_connections.is_some()
        {
            match self.svc.limits.acquire(&user, g.max_connections) {
                Some(s) => slot = Some(s),
                None => {
                    return self.status(
                        ReplyCode::AUTH_FAILED,
                        "Too many connections for this user; close another one first",
                    );
                }
            }
        }
        tracing::info!(conn = self.conn_id, user = %user, "authenticated");
        if slot.is_some() {
            self._slot = slot;
        }
        self.user = Some(user);
        self.grant = grant;
        self.status(ReplyCode::AUTH_ACCEPTED, "Authentication accepted");
    }

    async fn authinfo_sasl(&mut self, mechanism: &str, initial: Option<String>) {
        if !self.auth_precheck() {
            return;
        }
        if !mechanism.eq_ignore_ascii_case("PLAIN") {
            return self.status(
                ReplyCode::FEATURE_NOT_SUPPORTED,
                "SASL mechanism not supported (only PLAIN)",
            );
        }
        match initial {
            Some(resp) => self.sasl_response(&resp).await,
            None => {
                self.sasl = true;
                self.status(ReplyCode::SASL_CONTINUE, "=");
            }
        }
    }

    async fn sasl_response(&mut self, resp: &str) {
        if resp == "*" {
            return self.status(ReplyCode::AUTH_FAILED, "Authentication cancelled");
        }
        let decoded = if resp == "=" {
            Ok(Vec::new())
        } else {
            base64::engine::general_purpose::STANDARD.decode(resp)
        };
        let Ok(decoded) = decoded else {
            return self.status(ReplyCode::BASE64_ERROR, "Invalid base64 data");
        };
        let mut parts = decoded.split(|&b| b == 0);
        let (Some(authz), Some(authc), Some(pass), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return self.status(ReplyCode::AUTH_FAILED, "Authentication failed");
        };
        let (Ok(authz), Ok(authc), Ok(pass)) = (
            std::str::from_utf8(authz),
            std::str::from_utf8(authc),
            std::str::from_utf8(pass),
        ) else {
            return self.status(ReplyCode::AUTH_FAILED, "Authentication failed");
        };
        if authc.is_empty() || (!authz.is_empty() && authz != authc) {
            return self.status(ReplyCode::AUTH_FAILED, "Authentication failed");
        }
        self.login(authc.to_owned(), pass.to_owned()).await;
    }
}

/// Runs a store operation on a blocking thread.
pub(crate) async fn blocking<T, F>(store: &Arc<Store>, f: F) -> Result<T, tidings_store::Error>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, tidings_store::Error> + Send + 'static,
{
    let store = Arc::clone(store);
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(r) => r,
        Err(e) => Err(tidings_store::Error::Io(std::io::Error::other(
            e.to_string(),
        ))),
    }
}
