//! The ingest workload: streaming feed (MODE STREAM) of new articles over several connections,
//! either CHECK then TAKETHIS for each article or TAKETHIS only (innfeed's no-CHECK mode), with
//! text articles (1-4 KB) or binary ones (250-750 KB of yEnc-like bytes). Reports articles/s,
//! MB/s and, given the server's pid, the server's CPU time per article (from /proc/PID/stat).
//! Also `drain`: waits until a group holds a number of articles and reports how fast the last
//! stretch arrived (for measuring one server feeding another).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::ValueEnum;
use tidings_proto::command::{Command, MessageId};

use crate::articles::{self, Rng};
use crate::conn::{Conn, loopback_addr};
use crate::{Tally, group_numbers, now_secs};

/// How articles are offered.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Offer {
    /// CHECK, then TAKETHIS for every 238.
    Check,
    /// TAKETHIS only (no-CHECK mode).
    Takethis,
}

/// What the articles carry.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Text, 1-4 KB.
    Text,
    /// Binary (yEnc-like), 250-750 KB.
    Binary,
}

#[derive(clap::Args)]
pub struct IngestArgs {
    /// Server address (loopback only).
    #[arg(long)]
    addr: String,
    /// Newsgroup of the articles.
    #[arg(long)]
    group: String,
    /// Number of articles.
    #[arg(long)]
    count: u64,
    /// Parallel connections.
    #[arg(long, default_value_t = 4)]
    conns: u64,
    /// CHECK+TAKETHIS or TAKETHIS only.
    #[arg(long, value_enum, default_value_t = Offer::Check)]
    offer: Offer,
    /// Text or binary articles.
    #[arg(long, value_enum, default_value_t = Kind::Text)]
    kind: Kind,
    /// Commands in flight per connection.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// The server's pid, for its CPU time per article.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Label of the RESULT line (for example `inn` or `tidings`).
    #[arg(long, default_value = "server")]
    label: String,
    /// Run tag in the message-ids (default: derived from the clock).
    #[arg(long)]
    tag: Option<String>,
    /// Path identity put in the articles' Path header (the feeding peer's name).
    #[arg(long, default_value = "bench.tidings.test")]
    path: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    max_secs: u64,
}

#[derive(clap::Args)]
pub struct DrainArgs {
    /// Server address (loopback only).
    #[arg(long)]
    addr: String,
    /// Newsgroup to watch.
    #[arg(long)]
    group: String,
    /// Wait until the group holds this many articles.
    #[arg(long)]
    count: u64,
    /// Total bytes of those articles (for MB/s).
    #[arg(long, default_value_t = 0)]
    bytes: u64,
    /// Label of the RESULT line.
    #[arg(long, default_value = "feed")]
    label: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    max_secs: u64,
}

/// User plus system CPU time of a process, in seconds.
fn cpu_secs(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .ok_or_else(|| anyhow!("bad /proc/{pid}/stat"))?
        .1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>()? + f[12].parse::<u64>()?;
    // USER_HZ is 100 on every Linux architecture we run on.
    Ok(ticks as f64 / 100.0)
}

/// A pool of binary bodies (stuffed, with their terminator), shared by all connections and
/// written from the pool without a copy, so that the client spends little CPU on the two cores
/// it shares with the server.
fn binary_pool(tag: &str) -> Vec<(Arc<[u8]>, usize)> {
    let mut rng = Rng::new(0x5eed ^ tag.len() as u64);
    (0..16)
        .map(|k| {
            let size = 250 * 1024 + rng.below(500 * 1024) as usize;
            let mut body = Vec::with_capacity(size + 4096);
            body.extend_from_slice(
                format!("=ybegin part=1 line=128 size={size} name=bench{k}.bin\r\n").as_bytes(),
            );
            while body.len() < size {
                for _ in 0..128 {
                    let mut b = (rng.next_u64() & 0xff) as u8;
                    if matches!(b, 0 | b'\r' | b'\n' | b'=') {
                        b = b'*';
                    }
                    body.push(b);
                }
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(format!("=yend size={size}\r\n").as_bytes());
            let raw = body.len();
            let mut wire = Vec::with_capacity(raw + raw / 64 + 8);
            tidings_proto::write_stuffed(&body, &mut wire);
            (Arc::from(wire), raw)
        })
        .collect()
}

/// Queues one article (stuffed, terminated) on `conn`; returns its unstuffed size. A binary
/// article's body is written from the pool, its head from a small buffer.
fn queue_article(
    conn: &mut Conn,
    a: &IngestArgs,
    tag: &str,
    i: u64,
    epoch: u64,
    pool: &[(Arc<[u8]>, usize)],
) -> usize {
    match a.kind {
        Kind::Text => {
            let mut art = articles::article(tag, i, &a.group, epoch, false);
            let path = format!("Path: {}!not-for-mail\r\n", a.path);
            art.splice(0..0, path.bytes());
            conn.queue_with(|out| tidings_proto::write_stuffed(&art, out));
            art.len()
        }
        Kind::Binary => {
            let (body, raw) = &pool[(i % pool.len() as u64) as usize];
            let head = format!(
                "Path: {}!not-for-mail\r\nFrom: Poster <poster@example.test>\r\n\
                 Newsgroups: {}\r\nSubject: bench{} [{i}/{}] - \"file.bin\" yEnc ({tag})\r\n\
                 Date: {}\r\nMessage-ID: {}\r\nLines: {}\r\n\r\n",
                a.path,
                a.group,
                i % pool.len() as u64,
                a.count,
                articles::rfc5322_date(epoch),
                articles::message_id(tag, i),
                raw / 130,
            );
            conn.queue_bytes(head.as_bytes());
            conn.queue_shared(body);
            head.len() + raw
        }
    }
}

enum Pending {
    Check(u64),
    Take(u64, usize),
}

pub fn ingest(a: &IngestArgs) -> Result<()> {
    let addr: SocketAddr = loopback_addr(&a.addr)?;
    if a.conns == 0 || a.conns > 64 {
        bail!("--conns must be 1..=64");
    }
    if a.window == 0 || a.window > 1024 {
        bail!("--window must be 1..=1024");
    }
    let tag = a.tag.clone().unwrap_or_else(|| format!("i{}", now_secs()));
    let epoch = now_secs();
    let pool = Arc::new(if a.kind == Kind::Binary {
        binary_pool(&tag)
    } else {
        Vec::new()
    });
    let deadline = Instant::now() + Duration::from_secs(a.max_secs);
    let tally = Arc::new(Tally::default());
    let cpu0 = a.server_pid.map(cpu_secs).transpose()?;
    let start = Instant::now();
    let results: Vec<Result<()>> = thread::scope(|s| {
        let handles: Vec<_> = (0..a.conns)
            .map(|j| {
                let (tally, pool, tag) = (Arc::clone(&tally), Arc::clone(&pool), tag.clone());
                s.spawn(move || -> Result<()> {
                    let mut conn = Conn::connect(addr, false)?;
                    let r = conn.call(&Command::ModeStream)?;
                    if r.code.0 != 203 {
                        bail!("MODE STREAM: {} {}", r.code, r.text);
                    }
                    let mut pending = VecDeque::with_capacity(a.window);
                    let mut next = j;
                    let take = |conn: &mut Conn, i: u64, pending: &mut VecDeque<Pending>| {
                        let id = articles::message_id(&tag, i);
                        conn.queue(&Command::TakeThis(MessageId::new(&id).expect("valid id")));
                        let size = queue_article(conn, a, &tag, i, epoch, &pool);
                        pending.push_back(Pending::Take(i, size));
                    };
                    loop {
                        while pending.len() < a.window && next < a.count {
                            match a.offer {
                                Offer::Check => {
                                    let id = articles::message_id(&tag, next);
                                    conn.queue(&Command::Check(
                                        MessageId::new(&id).expect("valid id"),
                                    ));
                                    pending.push_back(Pending::Check(next));
                                }
                                Offer::Takethis => take(&mut conn, next, &mut pending),
                            }
                            next += a.conns;
                        }
                        let Some(p) = pending.pop_front() else { break };
                        if Instant::now() > deadline {
                            bail!("ingest: time limit reached");
                        }
                        let r = conn.read_response()?;
                        match (p, r.code.0) {
                            (Pending::Check(i), 238) => take(&mut conn, i, &mut pending),
                            (Pending::Take(_, size), 239) => {
                                tally.ok.fetch_add(1, Ordering::Relaxed);
                                tally.bytes.fetch_add(size as u64, Ordering::Relaxed);
                            }
                            (Pending::Check(i) | Pending::Take(i, _), code) => {
                                tally.error(&format!("article {i}: {code} {}", r.text));
                            }
                        }
                    }
                    conn.quit();
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow!("thread panicked"))))
            .collect()
    });
    let secs = start.elapsed().as_secs_f64();
    let cpu = match (a.server_pid, cpu0) {
        (Some(pid), Some(c0)) => Some(cpu_secs(pid)? - c0),
        _ => None,
    };
    let ok = tally.ok.load(Ordering::Relaxed);
    let errors = tally.errors.load(Ordering::Relaxed);
    let bytes = tally.bytes.load(Ordering::Relaxed);
    let workload = format!(
        "{}-{}",
        if a.offer == Offer::Check {
            "check"
        } else {
            "takethis"
        },
        if a.kind == Kind::Text {
            "text"
        } else {
            "binary"
        }
    );
    println!(
        "RESULT label={} workload={workload} conns={} window={} count={} ok={ok} errors={errors} bytes={bytes} secs={secs:.3} rate={:.1} unit=articles/s mb_per_s={:.1} server_cpu_s={} cpu_us_per_article={}",
        a.label,
        a.conns,
        a.window,
        a.count,
        ok as f64 / secs.max(1e-9),
        bytes as f64 / 1e6 / secs.max(1e-9),
        cpu.map_or("na".to_owned(), |c| format!("{c:.2}")),
        cpu.map_or("na".to_owned(), |c| format!(
            "{:.1}",
            c * 1e6 / (ok.max(1) as f64)
        )),
    );
    for r in results {
        r?;
    }
    if errors > 0 {
        bail!("{errors} articles were not accepted");
    }
    Ok(())
}

pub fn drain(a: &DrainArgs) -> Result<()> {
    let addr = loopback_addr(&a.addr)?;
    let deadline = Instant::now() + Duration::from_secs(a.max_secs);
    let group = Command::Group(a.group.clone());
    let mut conn = Conn::connect(addr, false)?;
    let (first, _, _) = group_numbers(&conn.call(&group)?)?;
    let mut started: Option<(Instant, u64)> = None;
    loop {
        if Instant::now() > deadline {
            bail!(
                "drain: {} did not reach {} articles in time",
                a.group,
                a.count
            );
        }
        let (n, _, _) = group_numbers(&conn.call(&group)?)?;
        if started.is_none() && n > first {
            started = Some((Instant::now(), n));
        }
        if n >= a.count {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let (t0, n0) = started.unwrap_or((Instant::now(), first));
    let secs = t0.elapsed().as_secs_f64().max(1e-3);
    let got = a.count - n0.min(a.count);
    let bytes = if a.count > 0 {
        a.bytes as f64 * got as f64 / a.count as f64
    } else {
        0.0
    };
    println!(
        "RESULT label={} workload=feed count={} measured={got} secs={secs:.3} rate={:.1} unit=articles/s mb_per_s={:.1}",
        a.label,
        a.count,
        got as f64 / secs,
        bytes / 1e6 / secs
    );
    conn.quit();
    Ok(())
}
