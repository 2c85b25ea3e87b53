//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use tidings_store::{Config, GroupStatus, NewArticle, OverviewInput, Store};

/// Small deterministic PRNG (xorshift64*), so tests need no extra crates and are reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

/// An owned article to feed the store.
#[derive(Clone, Debug)]
pub struct Art {
    pub id: String,
    pub head: Vec<u8>,
    pub body: Vec<u8>,
    pub groups: Vec<String>,
    pub arrival: i64,
    pub expires: Option<i64>,
    pub subject: String,
}

impl Art {
    pub fn make(rng: &mut Rng, id: &str, groups: Vec<String>, arrival: i64, size: usize) -> Art {
        let subject = format!("subject {} {}", id, rng.below(1000));
        let head = format!(
            "Path: a!b\r\nFrom: user{}@example.org\r\nNewsgroups: {}\r\nSubject: {}\r\nMessage-ID: {}\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\n",
            rng.below(100),
            groups.join(","),
            subject,
            id
        )
        .into_bytes();
        let mut body = Vec::with_capacity(size + 80);
        let mut line = 0;
        while body.len() < size {
            let n = 20 + rng.below(50) as usize;
            for _ in 0..n {
                body.push(b'a' + (rng.below(26) as u8));
            }
            body.extend_from_slice(b"\r\n");
            line += 1;
        }
        let _ = line;
        Art {
            id: id.to_string(),
            head,
            body,
            groups,
            arrival,
            expires: None,
            subject,
        }
    }

    pub fn wire(&self) -> Vec<u8> {
        let mut v = self.head.clone();
        v.extend_from_slice(b"\r\n");
        v.extend_from_slice(&self.body);
        v
    }

    pub fn lines(&self) -> u64 {
        self.body.iter().filter(|&&b| b == b'\n').count() as u64
    }

    /// The form the store keeps: Xref appended to the header block.
    pub fn stored(&self, pathhost: &str, numbers: &[(String, u64)]) -> Vec<u8> {
        let mut v = self.head.clone();
        v.extend_from_slice(format!("Xref: {}", pathhost).as_bytes());
        for (g, n) in numbers {
            v.extend_from_slice(format!(" {g}:{n}").as_bytes());
        }
        v.extend_from_slice(b"\r\n\r\n");
        v.extend_from_slice(&self.body);
        v
    }
}

/// Borrowed request for one owned article (wire bytes kept by the caller).
pub fn request<'a>(a: &'a Art, wire: &'a [u8]) -> NewArticle<'a> {
    NewArticle {
        bytes: wire,
        message_id: &a.id,
        groups: a.groups.iter().map(String::as_str).collect(),
        arrival: a.arrival,
        expires: a.expires,
        overview: OverviewInput {
            subject: a.subject.as_bytes(),
            from: b"user@example.org",
            date: b"Thu, 1 Jan 2026 00:00:00 +0000",
            references: b"",
            lines: a.lines(),
        },
        feeds: Vec::new(),
    }
}

/// Stores owned articles as one batch.
pub fn store_arts(store: &Store, arts: &[Art]) -> Vec<tidings_store::StoreOutcome> {
    let wires: Vec<Vec<u8>> = arts.iter().map(Art::wire).collect();
    let reqs: Vec<NewArticle<'_>> = arts
        .iter()
        .zip(&wires)
        .map(|(a, w)| request(a, w))
        .collect();
    store.store_batch(&reqs).unwrap()
}

pub fn small_config() -> Config {
    Config {
        segment_size: 16 * 1024,
        pathhost: "news.test".into(),
        reject_keep: 1000,
        cache_size: 4 << 20,
        ..Config::default()
    }
}

pub const GROUPS: [&str; 4] = ["comp.lang.rust", "alt.test", "misc.misc", "alt.dead"];

pub fn add_groups(store: &Store) {
    for (i, g) in GROUPS.iter().enumerate() {
        let status = if i == 3 {
            GroupStatus::Disabled
        } else {
            GroupStatus::Posting
        };
        store
            .add_group(g, status, 0, "admin@test", "a group")
            .unwrap();
    }
}
