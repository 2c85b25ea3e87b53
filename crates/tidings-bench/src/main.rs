//! NNTP load generator for comparing Tidings with INN on loopback.
//!
//! `populate` feeds deterministic articles into a group (POST or IHAVE, several connections) and
//! writes their message-ids to a file; `reader` runs reader workloads (lock-step ARTICLE by
//! message-id and by number, pipelined ARTICLE, OVER over large ranges) and prints one
//! machine-readable `RESULT key=value ...` line per workload. Every response is checked; any error
//! makes the run fail. Loopback addresses only; every loop is bounded in count and time.

mod articles;
mod conn;
mod ingest;

use std::collections::VecDeque;
use std::fs;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand, ValueEnum};
use tidings_proto::Response;
use tidings_proto::command::{ArticleRange, ArticleRef, Command, MessageId, RangeOrId};

use crate::conn::{Conn, loopback_addr};

/// NNTP load generator (reader and ingest workloads) for Tidings and INN.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Post or feed N deterministic text articles into a group and write their message-ids.
    Populate(PopulateArgs),
    /// Run the reader workloads and print one RESULT line per workload.
    Reader(ReaderArgs),
    /// Streaming ingest (MODE STREAM; CHECK+TAKETHIS or TAKETHIS only; text or binary) of new
    /// articles; prints one RESULT line with articles/s, MB/s and server CPU per article.
    Ingest(ingest::IngestArgs),
    /// Wait until a group holds N articles; print how fast the last stretch arrived.
    Drain(ingest::DrainArgs),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// POST (reader injection); the server adds Path and injection headers.
    Post,
    /// IHAVE (transit), with a Path header.
    Ihave,
}

#[derive(clap::Args)]
struct PopulateArgs {
    /// Server address (loopback only).
    #[arg(long)]
    addr: String,
    /// Newsgroup to post into.
    #[arg(long)]
    group: String,
    /// Number of articles.
    #[arg(long)]
    count: u64,
    /// Parallel connections.
    #[arg(long, default_value_t = 4)]
    conns: u64,
    /// POST or IHAVE.
    #[arg(long, value_enum, default_value_t = Mode::Post)]
    mode: Mode,
    /// Run tag in the message-ids (default: derived from the clock).
    #[arg(long)]
    tag: Option<String>,
    /// Base time of the Date headers, seconds since the epoch (default: now). Pass the same
    /// tag and epoch to get byte-identical articles on two servers.
    #[arg(long)]
    epoch: Option<u64>,
    /// Where to write the message-ids, one per line.
    #[arg(long, default_value = "message-ids.txt")]
    ids: PathBuf,
    /// Send MODE READER first (INN needs it for POST from a peer address).
    #[arg(long)]
    mode_reader: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    max_secs: u64,
}

#[derive(clap::Args)]
struct ReaderArgs {
    /// Server address (loopback only).
    #[arg(long)]
    addr: String,
    /// Newsgroup holding the articles.
    #[arg(long)]
    group: String,
    /// File of message-ids (one per line), as written by `populate`.
    #[arg(long)]
    ids: PathBuf,
    /// Send MODE READER first on every connection (INN: gotcha 6).
    #[arg(long)]
    mode_reader: bool,
    /// Label for the RESULT lines (for example `inn` or `tidings`).
    #[arg(long, default_value = "server")]
    label: String,
    /// Seconds per workload.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// At most this many operations (articles, or OVER commands) per workload.
    #[arg(long, default_value_t = 2_000_000)]
    max_ops: u64,
    /// Connections per workload (each runs the workload independently).
    #[arg(long, default_value_t = 1)]
    conns: u64,
    /// Commands in flight for the pipelined workload.
    #[arg(long, default_value_t = 32)]
    window: usize,
    /// Articles per OVER command.
    #[arg(long, default_value_t = 20_000)]
    over_range: u64,
    /// Workloads to run, comma-separated: article-msgid, article-number, article-pipelined, over,
    /// and date (lock-step DATE: the round-trip floor of the machine and server, no storage).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "article-msgid,article-number,article-pipelined,over,date"
    )]
    workloads: Vec<Workload>,
    /// Set TCP_QUICKACK after every read (works around Nagle on servers without TCP_NODELAY).
    #[arg(long)]
    quickack: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    ArticleMsgid,
    ArticleNumber,
    ArticlePipelined,
    Over,
    Date,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Self::ArticleMsgid => "article-msgid",
            Self::ArticleNumber => "article-number",
            Self::ArticlePipelined => "article-pipelined",
            Self::Over => "over",
            Self::Date => "date",
        }
    }
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Populate(a) => populate(&a),
        Cmd::Reader(a) => reader(&a),
        Cmd::Ingest(a) => ingest::ingest(&a),
        Cmd::Drain(a) => ingest::drain(&a),
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn mode_reader(conn: &mut Conn) -> Result<()> {
    let r = conn.call(&Command::ModeReader)?;
    if !matches!(r.code.0, 200 | 201) {
        bail!("MODE READER: {} {}", r.code, r.text);
    }
    Ok(())
}

/// Counts shared by the threads of one run.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    errors: AtomicU64,
    bytes: AtomicU64,
}

impl Tally {
    fn error(&self, what: &str) {
        let n = self.errors.fetch_add(1, Ordering::Relaxed);
        if n < 5 {
            eprintln!("tidings-bench: error: {what}");
        }
    }
}

fn populate(a: &PopulateArgs) -> Result<()> {
    let addr = loopback_addr(&a.addr)?;
    if a.conns == 0 || a.conns > 64 {
        bail!("--conns must be 1..=64");
    }
    let tag = a.tag.clone().unwrap_or_else(|| format!("b{}", now_secs()));
    let epoch = a.epoch.unwrap_or_else(now_secs);
    let deadline = Instant::now() + Duration::from_secs(a.max_secs);
    let tally = Arc::new(Tally::default());
    let start = Instant::now();
    let mut handles = Vec::new();
    for j in 0..a.conns {
        let (tag, group, tally) = (tag.clone(), a.group.clone(), Arc::clone(&tally));
        let (count, conns, mode, mr) = (a.count, a.conns, a.mode, a.mode_reader);
        handles.push(thread::spawn(move || -> Result<()> {
            let mut conn = Conn::connect(addr, false)?;
            if mr {
                mode_reader(&mut conn)?;
            }
            let mut wire = Vec::with_capacity(8192);
            let mut i = j;
            while i < count {
                if Instant::now() > deadline {
                    bail!("populate: time limit reached");
                }
                let id = articles::message_id(&tag, i);
                let art = articles::article(&tag, i, &group, epoch, mode == Mode::Ihave);
                let (cmd, go, done) = match mode {
                    Mode::Post => (Command::Post, 340, 240),
                    Mode::Ihave => (
                        Command::Ihave(MessageId::new(&id).map_err(|e| anyhow!("{id}: {e}"))?),
                        335,
                        235,
                    ),
                };
                let r = conn.call(&cmd)?;
                if r.code.0 != go {
                    tally.error(&format!("{}: {} {}", cmd.to_line(), r.code, r.text));
                    i += conns;
                    continue;
                }
                wire.clear();
                tidings_proto::write_stuffed(&art, &mut wire);
                conn.queue_bytes(&wire);
                let r = conn.read_response()?;
                if r.code.0 == done {
                    tally.ok.fetch_add(1, Ordering::Relaxed);
                    tally.bytes.fetch_add(art.len() as u64, Ordering::Relaxed);
                } else {
                    tally.error(&format!("article {id}: {} {}", r.code, r.text));
                }
                i += conns;
            }
            conn.quit();
            Ok(())
        }));
    }
    let mut failure = None;
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = Some(e),
            Err(_) => failure = Some(anyhow!("populate thread panicked")),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let mut out = String::with_capacity(a.count as usize * 40);
    for i in 0..a.count {
        out.push_str(&articles::message_id(&tag, i));
        out.push('\n');
    }
    fs::write(&a.ids, out).with_context(|| format!("writing {}", a.ids.display()))?;
    let ok = tally.ok.load(Ordering::Relaxed);
    let errors = tally.errors.load(Ordering::Relaxed);
    let bytes = tally.bytes.load(Ordering::Relaxed);
    println!(
        "POPULATE addr={} group={} mode={} conns={} tag={tag} epoch={epoch} ok={ok} errors={errors} secs={secs:.2} rate={:.1} unit=articles/s mb_per_s={:.2}",
        a.addr,
        a.group,
        if a.mode == Mode::Post {
            "post"
        } else {
            "ihave"
        },
        a.conns,
        ok as f64 / secs.max(1e-9),
        bytes as f64 / 1e6 / secs.max(1e-9),
    );
    if let Some(e) = failure {
        return Err(e);
    }
    if errors > 0 {
        bail!("{errors} articles were not accepted");
    }
    Ok(())
}

/// What one workload thread reports.
struct Outcome {
    ops: u64,
    bytes: u64,
    records: u64,
    errors: u64,
    secs: f64,
}

/// Shared read-only setup of a reader run.
struct ReaderCtx {
    addr: SocketAddr,
    group: String,
    ids: Vec<MessageId>,
    mode_reader: bool,
    quickack: bool,
    duration: Duration,
    max_ops: u64,
    window: usize,
    over_range: u64,
}

/// Group numbers from a 211 reply: (count, low, high).
fn group_numbers(r: &Response) -> Result<(u64, u64, u64)> {
    if r.code.0 != 211 {
        bail!("GROUP: {} {}", r.code, r.text);
    }
    let mut it = r.text.split_ascii_whitespace().map(str::parse::<u64>);
    match (it.next(), it.next(), it.next()) {
        (Some(Ok(c)), Some(Ok(l)), Some(Ok(h))) => Ok((c, l, h)),
        _ => bail!("GROUP: malformed reply {}", r.text),
    }
}

/// A visiting order over `0..n` that is not sequential: `k * stride mod n` with
/// `gcd(stride, n) = 1`, started at a per-connection offset.
struct Order {
    n: u64,
    stride: u64,
    pos: u64,
}

impl Order {
    fn new(n: u64, seed: u64) -> Self {
        let n = n.max(1);
        let mut stride = 7919 % n;
        // Bounded: some stride up to n is coprime with n (1 at worst).
        for _ in 0..n {
            if stride != 0 && gcd(stride, n) == 1 {
                break;
            }
            stride = (stride + 1) % n;
        }
        if stride == 0 {
            stride = 1;
        }
        Self {
            n,
            stride,
            pos: seed.wrapping_mul(104_729) % n,
        }
    }

    fn next_index(&mut self) -> u64 {
        let v = self.pos;
        self.pos = (self.pos + self.stride) % self.n;
        v
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn check_article(r: &Response, want: &str, tally: &mut Outcome) {
    let ok = r.code.0 == 220
        && r.block.as_ref().is_some_and(|b| b.len() > 100)
        && r.text.split_ascii_whitespace().any(|w| w == want);
    if ok {
        tally.ops += 1;
        tally.bytes += r.block.as_ref().map_or(0, |b| b.len() as u64);
    } else {
        tally.errors += 1;
        if tally.errors <= 3 {
            eprintln!(
                "tidings-bench: error: ARTICLE {want}: {} {}",
                r.code, r.text
            );
        }
    }
}

fn run_workload(ctx: &ReaderCtx, w: Workload, seed: u64) -> Result<Outcome> {
    let mut conn = Conn::connect(ctx.addr, ctx.quickack)?;
    if ctx.mode_reader {
        mode_reader(&mut conn)?;
    }
    let mut out = Outcome {
        ops: 0,
        bytes: 0,
        records: 0,
        errors: 0,
        secs: 0.0,
    };
    let n = ctx.ids.len() as u64;
    let mut numbers = (0, 0, 0);
    if matches!(w, Workload::ArticleNumber | Workload::Over) {
        numbers = group_numbers(&conn.call(&Command::Group(ctx.group.clone()))?)?;
        if numbers.0 == 0 || numbers.2 < numbers.1 {
            bail!(
                "group {} is empty ({} {}-{})",
                ctx.group,
                numbers.0,
                numbers.1,
                numbers.2
            );
        }
    }
    let start = Instant::now();
    let deadline = start + ctx.duration;
    match w {
        Workload::ArticleMsgid => {
            let mut order = Order::new(n, seed);
            while out.ops + out.errors < ctx.max_ops && Instant::now() < deadline {
                let id = &ctx.ids[order.next_index() as usize];
                let r = conn.call(&Command::Article(Some(ArticleRef::MessageId(id.clone()))))?;
                check_article(&r, id.as_str(), &mut out);
            }
        }
        Workload::ArticleNumber => {
            let (_, low, high) = numbers;
            let mut order = Order::new(high - low + 1, seed);
            while out.ops + out.errors < ctx.max_ops && Instant::now() < deadline {
                let num = low + order.next_index();
                let r = conn.call(&Command::Article(Some(ArticleRef::Number(num))))?;
                check_article(&r, &num.to_string(), &mut out);
            }
        }
        Workload::ArticlePipelined => {
            let mut order = Order::new(n, seed);
            let mut inflight: VecDeque<usize> = VecDeque::with_capacity(ctx.window);
            let mut sent = 0u64;
            loop {
                let open = sent < ctx.max_ops && Instant::now() < deadline;
                while open && inflight.len() < ctx.window.max(1) && sent < ctx.max_ops {
                    let k = order.next_index() as usize;
                    conn.queue(&Command::Article(Some(ArticleRef::MessageId(
                        ctx.ids[k].clone(),
                    ))));
                    inflight.push_back(k);
                    sent += 1;
                }
                let Some(k) = inflight.pop_front() else { break };
                let r = conn.read_response()?;
                check_article(&r, ctx.ids[k].as_str(), &mut out);
            }
        }
        Workload::Date => {
            while out.ops + out.errors < ctx.max_ops && Instant::now() < deadline {
                let r = conn.call(&Command::Date)?;
                if r.code.0 == 111 {
                    out.ops += 1;
                } else {
                    out.errors += 1;
                    eprintln!("tidings-bench: error: DATE: {} {}", r.code, r.text);
                }
            }
        }
        Workload::Over => {
            let (count, low, high) = numbers;
            let dense = count == high - low + 1;
            let span = high - low + 1;
            let range = ctx.over_range.min(span).max(1);
            let mut k = seed;
            while out.ops + out.errors < ctx.max_ops && Instant::now() < deadline {
                let first = low + (k * range) % span;
                let last = (first + range - 1).min(high);
                k += 1;
                let r = conn.call(&Command::Over(Some(RangeOrId::Range(
                    ArticleRange::Between(first, last),
                ))))?;
                let records = r
                    .block
                    .as_ref()
                    .map_or(0, |b| memchr::memchr_iter(b'\n', b).count() as u64);
                let want = last - first + 1;
                if r.code.0 == 224 && records > 0 && (!dense || records == want) {
                    out.ops += 1;
                    out.records += records;
                    out.bytes += r.block.as_ref().map_or(0, |b| b.len() as u64);
                } else {
                    out.errors += 1;
                    eprintln!(
                        "tidings-bench: error: OVER {first}-{last}: {} {} ({records} of {want} records)",
                        r.code, r.text
                    );
                }
            }
        }
    }
    out.secs = start.elapsed().as_secs_f64();
    conn.quit();
    Ok(out)
}

fn reader(a: &ReaderArgs) -> Result<()> {
    let addr = loopback_addr(&a.addr)?;
    if a.conns == 0 || a.conns > 64 {
        bail!("--conns must be 1..=64");
    }
    if !(0.1..=600.0).contains(&a.duration) {
        bail!("--duration must be between 0.1 and 600 seconds");
    }
    let text =
        fs::read_to_string(&a.ids).with_context(|| format!("reading {}", a.ids.display()))?;
    let ids = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| MessageId::new(l.trim()).map_err(|e| anyhow!("{}: {l}: {e}", a.ids.display())))
        .collect::<Result<Vec<_>>>()?;
    if ids.is_empty() {
        bail!("{}: no message-ids", a.ids.display());
    }
    let ctx = Arc::new(ReaderCtx {
        addr,
        group: a.group.clone(),
        ids,
        mode_reader: a.mode_reader,
        quickack: a.quickack,
        duration: Duration::from_secs_f64(a.duration),
        max_ops: a.max_ops.div_ceil(a.conns),
        window: a.window.clamp(1, 1024),
        over_range: a.over_range.max(1),
    });
    let mut total_errors = 0;
    for &w in &a.workloads {
        let mut handles = Vec::new();
        for j in 0..a.conns {
            let ctx = Arc::clone(&ctx);
            handles.push(thread::spawn(move || run_workload(&ctx, w, j)));
        }
        let mut sum = Outcome {
            ops: 0,
            bytes: 0,
            records: 0,
            errors: 0,
            secs: 0.0,
        };
        let mut failure = None;
        for h in handles {
            match h.join() {
                Ok(Ok(o)) => {
                    sum.ops += o.ops;
                    sum.bytes += o.bytes;
                    sum.records += o.records;
                    sum.errors += o.errors;
                    sum.secs = sum.secs.max(o.secs);
                }
                Ok(Err(e)) => failure = Some(e),
                Err(_) => failure = Some(anyhow!("workload thread panicked")),
            }
        }
        if let Some(e) = failure {
            return Err(e.context(format!("workload {}", w.name())));
        }
        let secs = sum.secs.max(1e-9);
        let (count, unit) = match w {
            Workload::Over => (sum.records, "records/s"),
            Workload::Date => (sum.ops, "commands/s"),
            _ => (sum.ops, "articles/s"),
        };
        let window = if w == Workload::ArticlePipelined {
            ctx.window
        } else {
            1
        };
        println!(
            "RESULT label={} workload={} conns={} window={window} ops={} count={count} secs={:.2} rate={:.1} unit={unit} mb_per_s={:.2} errors={}",
            a.label,
            w.name(),
            a.conns,
            sum.ops,
            secs,
            count as f64 / secs,
            sum.bytes as f64 / 1e6 / secs,
            sum.errors
        );
        let _ = std::io::stdout().flush();
        total_errors += sum.errors;
    }
    if total_errors > 0 {
        bail!("{total_errors} errors");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_visits_every_index_once_per_cycle() {
        for n in [1u64, 2, 7919, 7920, 20_000, 15_838] {
            let mut o = Order::new(n, 3);
            let mut seen = vec![false; n as usize];
            for _ in 0..n {
                let i = o.next_index() as usize;
                assert!(!seen[i], "n={n}: {i} twice");
                seen[i] = true;
            }
        }
    }

    #[test]
    fn group_reply_numbers() {
        let r = Response {
            code: tidings_proto::ReplyCode::new(211).expect("code"),
            text: "20000 1 20000 bench.reader".to_owned(),
            block: None,
        };
        assert_eq!(group_numbers(&r).expect("211"), (20_000, 1, 20_000));
    }
}
