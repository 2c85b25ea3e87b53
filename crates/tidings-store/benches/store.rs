//! Store benchmarks (a `harness = false` binary that prints figures).
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-store TIDINGS_BENCH_N=1000000 \
//!     cargo bench -p tidings-store --bench store
//! ```
//! `TIDINGS_BENCH_N` (default 100000) articles of 1-4 KB in 1.5 groups on average (100
//! groups) are stored with durable group commit in batches of `TIDINGS_BENCH_BATCH` (default:
//! the store writer's largest group commit, `WriterConfig::default().max_batch`, 1024); then the store is reopened after a SIGKILL of a child writer, and history lookups,
//! overview scans and the index size are measured. `TIDINGS_BENCH_DURABLE=0` turns fsync off,
//! `TIDINGS_BENCH_QUICK_REPAIR=0` turns redb quick-repair off, `TIDINGS_BENCH_CACHE_MB` sets
//! the redb cache (default 64). `TIDINGS_BENCH_DIR` sets where the store
//! lives (default: a temporary directory).
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use tidings_store::{Config, GroupStatus, Lookup, NewArticle, OverviewInput, Store, StoreOutcome};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const NGROUPS: u64 = 100;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn msgid(i: u64) -> String {
    format!(
        "<{i:x}.{}@bench.example.org>",
        i.wrapping_mul(2_654_435_761) % 1_000_003
    )
}

struct Owned {
    id: String,
    bytes: Vec<u8>,
    groups: Vec<String>,
    subject: String,
    lines: u64,
}

fn make(i: u64, rng: &mut Rng, bodies: &[Vec<u8>]) -> Owned {
    let id = msgid(i);
    let g1 = format!("bench.group{}", rng.below(NGROUPS));
    let mut groups = vec![g1];
    if rng.below(2) == 0 {
        groups.push(format!("bench.group{}", rng.below(NGROUPS)));
    }
    let subject = format!("Re: benchmark article number {i}");
    let body = &bodies[rng.below(bodies.len() as u64) as usize];
    let mut bytes = format!(
        "Path: bench!not-for-mail\r\nFrom: Bench User <bench@example.org>\r\nNewsgroups: {}\r\n\
         Subject: {subject}\r\nMessage-ID: {id}\r\nDate: Tue, 01 Dec 2026 00:00:00 +0000\r\n\
         Organization: Tidings benchmark\r\n\r\n",
        groups.join(",")
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    let lines = body.iter().filter(|&&b| b == b'\n').count() as u64;
    Owned {
        id,
        bytes,
        groups,
        subject,
        lines,
    }
}

fn bodies() -> Vec<Vec<u8>> {
    let mut rng = Rng(42);
    (0..64)
        .map(|_| {
            let size = 700 + rng.below(3000) as usize;
            let mut b = Vec::with_capacity(size + 80);
            while b.len() < size {
                for _ in 0..(20 + rng.below(55)) {
                    b.push(b'a' + rng.below(26) as u8);
                }
                b.extend_from_slice(b"\r\n");
            }
            b
        })
        .collect()
}

fn config() -> Config {
    Config {
        pathhost: "bench.example.org".into(),
        durable: env("TIDINGS_BENCH_DURABLE", 1) == 1,
        quick_repair: env("TIDINGS_BENCH_QUICK_REPAIR", 1) == 1,
        cache_size: env("TIDINGS_BENCH_CACHE_MB", 64) as usize * (1 << 20),
        ..Config::default()
    }
}

fn store_range(
    store: &Store,
    from: u64,
    to: u64,
    batch: u64,
    rng: &mut Rng,
    bodies: &[Vec<u8>],
) -> (Duration, u64) {
    let mut spent = Duration::ZERO;
    let mut stored = 0;
    let mut i = from;
    while i < to {
        let end = (i + batch).min(to);
        let owned: Vec<Owned> = (i..end).map(|k| make(k, rng, bodies)).collect();
        let reqs: Vec<NewArticle<'_>> = owned
            .iter()
            .map(|o| NewArticle {
                bytes: &o.bytes,
                message_id: &o.id,
                groups: o.groups.iter().map(String::as_str).collect(),
                arrival: 1_700_000_000 + (i as i64) / 1000,
                expires: None,
                overview: OverviewInput {
                    subject: o.subject.as_bytes(),
                    from: b"Bench User <bench@example.org>",
                    date: b"Tue, 01 Dec 2026 00:00:00 +0000",
                    references: b"",
                    lines: o.lines,
                },
                feeds: Vec::new(),
            })
            .collect();
        let t = Instant::now();
        let out = store.store_batch(&reqs).unwrap();
        spent += t.elapsed();
        stored += out
            .iter()
            .filter(|o| matches!(o, StoreOutcome::Stored { .. }))
            .count() as u64;
        i = end;
    }
    (spent, stored)
}

/// CPU seconds (user + system) used by this process so far.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn child(dir: &str) {
    let store = Store::open(dir, config()).unwrap();
    let mut rng = Rng(7);
    let bodies = bodies();
    let base = 1u64 << 40;
    let mut i = base;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        store_range(&store, i, i + 512, 512, &mut rng, &bodies);
        i += 512;
        println!("batch");
    }
}

fn main() {
    if let Ok(dir) = std::env::var("TIDINGS_BENCH_CHILD") {
        child(&dir);
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n = env("TIDINGS_BENCH_N", 100_000);
    let batch = env(
        "TIDINGS_BENCH_BATCH",
        tidings_store::writer::WriterConfig::default().max_batch as u64,
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var("TIDINGS_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "tidings-store bench: N={n} batch={batch} dir={}",
        dir.display()
    );

    // 1. store (skipped with TIDINGS_BENCH_REUSE=1 when the directory already holds a store of
    // the same N, to re-measure the read side with other settings)
    let reuse = env("TIDINGS_BENCH_REUSE", 0) == 1 && dir.join("index.redb").exists();
    if !reuse {
        let store = Store::open(&dir, config()).unwrap();
        for g in 0..NGROUPS {
            store
                .add_group(
                    &format!("bench.group{g}"),
                    GroupStatus::Posting,
                    0,
                    "bench",
                    "",
                )
                .unwrap();
        }
        let bodies = bodies();
        let mut rng = Rng(1);
        let cpu0 = cpu_secs();
        let (spent, stored) = store_range(&store, 0, n, batch, &mut rng, &bodies);
        let cpu = cpu_secs() - cpu0;
        println!(
            "store: {stored} articles in {:.2}s = {:.0} articles/s (durable={}, batch {batch}); \
             process CPU {:.2}s incl. article generation",
            spent.as_secs_f64(),
            stored as f64 / spent.as_secs_f64(),
            store.config().durable,
            cpu
        );
        store.close().unwrap();
    }

    // 2. reopen after SIGKILL of a writer
    let exe = std::env::current_exe().unwrap();
    let mut c = std::process::Command::new(exe)
        .env("TIDINGS_BENCH_CHILD", &dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::BufRead;
        let out = c.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(out).lines();
        for _ in 0..4 {
            let _ = lines.next();
        }
    }
    c.kill().unwrap();
    c.wait().unwrap();
    let t = Instant::now();
    let store = Store::open(&dir, config()).unwrap();
    let reopen = t.elapsed();
    println!(
        "reopen after SIGKILL: {:.3}s (reindexed {}, cut {} bytes)",
        reopen.as_secs_f64(),
        store.recovery_report().reindexed,
        store.recovery_report().truncated_bytes
    );

    // 3. history lookups of random stored ids
    let lookups = env("TIDINGS_BENCH_LOOKUPS", 1_000_000);
    let ids: Vec<String> = {
        let mut r = Rng(99);
        (0..lookups.min(1_000_000))
            .map(|_| msgid(r.below(n)))
            .collect()
    };
    let snap = store.snapshot().unwrap();
    let cpu0 = cpu_secs();
    let t = Instant::now();
    let mut found = 0u64;
    for k in 0..lookups {
        if let Lookup::Present(_) = snap.lookup(&ids[(k % ids.len() as u64) as usize]).unwrap() {
            found += 1;
        }
    }
    let el = t.elapsed();
    let cpu = cpu_secs() - cpu0;
    assert_eq!(found, lookups);
    println!(
        "history lookup (snapshot, 1 thread): {lookups} in {:.2}s = {:.0}/s; CPU {:.2}s = {:.0}/CPU-s",
        el.as_secs_f64(),
        lookups as f64 / el.as_secs_f64(),
        cpu,
        lookups as f64 / cpu.max(0.01)
    );
    let t = Instant::now();
    let few = lookups.min(100_000);
    for k in 0..few {
        store.lookup(&ids[k as usize]).unwrap();
    }
    let el = t.elapsed();
    println!(
        "history lookup (transaction per call): {:.0}/s",
        few as f64 / el.as_secs_f64()
    );
    // two threads
    let t = Instant::now();
    std::thread::scope(|s| {
        for th in 0..2u64 {
            let store = &store;
            let ids = &ids;
            s.spawn(move || {
                let snap = store.snapshot().unwrap();
                for k in (th..lookups).step_by(2) {
                    snap.lookup(&ids[(k % ids.len() as u64) as usize]).unwrap();
                }
            });
        }
    });
    let el = t.elapsed();
    println!(
        "history lookup (snapshot, 2 threads): {:.0}/s",
        lookups as f64 / el.as_secs_f64()
    );

    // 4. overview scan
    let t = Instant::now();
    let mut rows = 0u64;
    let mut text = 0u64;
    for g in 0..NGROUPS {
        snap.overview(&format!("bench.group{g}"), 0..=u64::MAX, |o| {
            rows += 1;
            text += (o.subject.len()
                + o.from.len()
                + o.date.len()
                + o.message_id.len()
                + o.references.len()
                + o.xref.len()) as u64;
            true
        })
        .unwrap();
    }
    let el = t.elapsed();
    println!(
        "overview scan: {rows} records in {:.2}s = {:.0} records/s",
        el.as_secs_f64(),
        rows as f64 / el.as_secs_f64()
    );

    // 5. index size
    let st = store.index_stats().unwrap();
    let per = |x: u64| x as f64 / n as f64;
    let ids_len: u64 = (0..n).map(|i| msgid(i).len() as u64).sum();
    let hist = st.history.stored_bytes + st.history.metadata_bytes + st.history.fragmented_bytes;
    let over = st.overview.stored_bytes + st.overview.metadata_bytes + st.overview.fragmented_bytes;
    println!(
        "index per article: history {:.0} B (stored {:.0} + btree {:.0} + unused {:.0}; incl. message-id {:.0}), \
         overview {:.0} B (incl. text fields {:.0})",
        per(hist),
        per(st.history.stored_bytes),
        per(st.history.metadata_bytes),
        per(st.history.fragmented_bytes),
        per(ids_len),
        per(over),
        per(text)
    );
    println!(
        "index overhead excluding text fields (overview text, message-id in history): {:.0} B/article; \
         index file {} bytes = {:.0} B/article (file includes free copy-on-write pages)",
        per(hist + over - text - ids_len),
        st.file_bytes,
        per(st.file_bytes)
    );
    println!(
        "RSS: current {} KB, peak {} KB",
        rss_kb("VmRSS:"),
        rss_kb("VmHWM:")
    );
    drop(snap);
}
