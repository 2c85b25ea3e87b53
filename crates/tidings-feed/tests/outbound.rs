//! Feeders against an in-test fake peer on loopback.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidings_feed::PeerConfig;
use tidings_feed::outbound::{FeederConfig, Feeders, Routes, Wakers};
use tidings_feed::peers::PeerTransport;
use tidings_net::Stream;
use tidings_net::tls::{self, CertResolver, ClientCertPolicy};
use tidings_proto::{BlockDecoder, BlockStep};
use tidings_store::{
    Config, ExpirePolicy, ExpireRule, GroupStatus, NewArticle, OverviewInput, Part, Store,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

// ---------------------------------------------------------------- fake peer

#[derive(Default)]
struct Behaviour {
    refuse_streaming: bool,
    /// answer COMPRESS DEFLATE with 206 and inflate/deflate from then on (else 500)
    compress: bool,
    /// ids answered 431 (CHECK) / 436 (IHAVE) the first time they are offered
    defer_once: HashSet<String>,
    /// ids rejected: 437 (IHAVE) / 439 (TAKETHIS)
    reject: HashSet<String>,
    /// ids answered 501 every time (CHECK, IHAVE, and TAKETHIS after reading the article),
    /// as a peer whose parser dislikes them would
    syntax_error: HashSet<String>,
}

#[derive(Default)]
struct Seen {
    /// every command line, in order
    commands: Vec<String>,
    /// received articles, un-stuffed, by id
    articles: HashMap<String, Vec<u8>>,
    /// how often each id was received
    received: HashMap<String, usize>,
    deferred: HashSet<String>,
}

#[derive(Clone)]
struct Peer {
    behaviour: Arc<Behaviour>,
    seen: Arc<Mutex<Seen>>,
    starttls: Option<tokio_rustls::TlsAcceptor>,
}

impl Peer {
    fn new(b: Behaviour) -> Peer {
        Peer {
            behaviour: Arc::new(b),
            seen: Arc::default(),
            starttls: None,
        }
    }

    /// Serves connections on `listener` (optionally TLS) until the test ends.
    fn serve(&self, listener: TcpListener, tls: Option<tokio_rustls::TlsAcceptor>) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let me = me.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let stream = match tls {
                        Some(a) => {
                            match Stream::accept_tls(tcp, &a, Duration::from_secs(5)).await {
                                Ok(s) => s,
                                Err(_) => return,
                            }
                        }
                        None => Stream::from_tcp(tcp),
                    };
                    let _ = me.session(stream).await;
                });
            }
        });
    }

    async fn read_line(s: &mut Stream, buf: &mut Vec<u8>) -> Option<String> {
        loop {
            if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&buf[..i]).into_owned();
                buf.drain(..i + 2);
                return Some(line);
            }
            if s.read_buf(buf).await.ok()? == 0 {
                return None;
            }
        }
    }

    async fn read_block(s: &mut Stream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
        let mut dec = BlockDecoder::new(1 << 24);
        loop {
            match dec.decode(buf).ok()? {
                BlockStep::Done { consumed, block } => {
                    buf.drain(..consumed);
                    return Some(block);
                }
                BlockStep::NeedMore { consumed } => {
                    buf.drain(..consumed);
                }
            }
            if s.read_buf(buf).await.ok()? == 0 {
                return None;
            }
        }
    }

    fn has(&self, id: &str) -> bool {
        self.seen.lock().unwrap().articles.contains_key(id)
    }

    fn defer_now(&self, id: &str) -> bool {
        self.behaviour.defer_once.contains(id)
            && self.seen.lock().unwrap().deferred.insert(id.into())
    }

    fn receive(&self, id: &str, block: Vec<u8>) -> bool {
        let mut seen = self.seen.lock().unwrap();
        *seen.received.entry(id.into()).or_default() += 1;
        if self.behaviour.reject.contains(id) || seen.articles.contains_key(id) {
            return false;
        }
        seen.articles.insert(id.into(), block);
        true
    }

    async fn session(&self, mut s: Stream) -> Option<()> {
        let mut buf = Vec::new();
        s.write_all(b"200 fake peer ready\r\n").await.ok()?;
        loop {
            let line = Self::read_line(&mut s, &mut buf).await?;
            self.seen.lock().unwrap().commands.push(line.clone());
            let mut words = line.split_whitespace();
            let verb = words.next().unwrap_or_default().to_ascii_uppercase();
            let arg = words.next().unwrap_or_default().to_owned();
            let reply = match verb.as_str() {
                "MODE" if self.behaviour.refuse_streaming => "500 What?".to_owned(),
                "MODE" => "203 Streaming permitted".to_owned(),
                "AUTHINFO" if line.contains("USER") => "381 more".to_owned(),
                "AUTHINFO" => "281 ok".to_owned(),
                "CHECK" | "IHAVE" if self.behaviour.syntax_error.contains(&arg) => {
                    "501 bad message-id".to_owned()
                }
                "TAKETHIS" if self.behaviour.syntax_error.contains(&arg) => {
                    Self::read_block(&mut s, &mut buf).await?;
                    "501 bad message-id".to_owned()
                }
                "CHECK" if self.has(&arg) => format!("438 {arg}"),
                "CHECK" if self.defer_now(&arg) => format!("431 {arg}"),
                "CHECK" => format!("238 {arg}"),
                "TAKETHIS" => {
                    let block = Self::read_block(&mut s, &mut buf).await?;
                    if self.receive(&arg, block) {
                        format!("239 {arg}")
                    } else {
                        format!("439 {arg}")
                    }
                }
                "IHAVE" if self.has(&arg) => "435 have it".to_owned(),
                "IHAVE" if self.defer_now(&arg) => "436 later".to_owned(),
                "IHAVE" => {
                    s.write_all(b"335 send it\r\n").await.ok()?;
                    s.flush().await.ok()?;
                    let block = Self::read_block(&mut s, &mut buf).await?;
                    if self.receive(&arg, block) {
                        "235 thanks".to_owned()
                    } else {
                        "437 rejected".to_owned()
                    }
                }
                "COMPRESS" if self.behaviour.compress && !s.is_compressed() => {
                    s.write_all(b"206 Compression active\r\n").await.ok()?;
                    s.flush().await.ok()?;
                    s = s.compress(std::mem::take(&mut buf)).ok()?;
                    continue;
                }
                "STARTTLS" if self.starttls.is_some() && !s.is_tls() => {
                    s.write_all(b"382 go ahead\r\n").await.ok()?;
                    let a = self.starttls.as_ref()?;
                    let up = s
                        .starttls_server(std::mem::take(&mut buf), a, Duration::from_secs(5))
                        .await
                        .ok()?;
                    s = up.stream;
                    continue;
                }
                "QUIT" => {
                    s.write_all(b"205 bye\r\n").await.ok()?;
                    return Some(());
                }
                _ => "500 unknown".to_owned(),
            };
            s.write_all(format!("{reply}\r\n").as_bytes()).await.ok()?;
            // (a compressed stream holds its output until flushed)
            s.flush().await.ok()?;
        }
    }
}

// ---------------------------------------------------------------- node side

fn article(i: usize, groups: &str, path: &str) -> (String, Vec<u8>) {
    let id = format!("<feed{i}@test.example>");
    // a line starting with a dot checks dot-stuffing; 8-bit bytes check byte-exactness
    let mut bytes = format!(
        "Path: {path}\r\nFrom: a@b.example\r\nNewsgroups: {groups}\r\nSubject: s{i}\r\n\
         Message-ID: {id}\r\nDate: Tue, 01 Dec 2026 00:00:00 +0000\r\n\r\nbody {i}\r\n.dot line\r\n"
    )
    .into_bytes();
    bytes.extend_from_slice(b"\xe9t\xe9\r\n");
    (id, bytes)
}

struct Node {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    routes: Routes,
    wakers: Wakers,
}

impl Node {
    fn new(peers: &[PeerConfig]) -> Node {
        Node::with_segments(peers, Config::default().segment_size)
    }

    fn with_segments(peers: &[PeerConfig], segment_size: u64) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path(),
            Config {
                pathhost: "here.example".into(),
                durable: false,
                segment_size,
                ..Config::default()
            },
        )
        .unwrap();
        for g in ["misc.test", "local.test"] {
            store
                .add_group(g, GroupStatus::Posting, 0, "t", "")
                .unwrap();
        }
        Node {
            _dir: dir,
            store: Arc::new(store),
            routes: Routes::new(peers).unwrap(),
            wakers: Wakers::new(peers.iter().map(|p| p.name.as_str())),
        }
    }

    /// Stores articles, routed; returns the ids stored.
    fn post(&self, arts: &[(String, Vec<u8>)]) -> Vec<String> {
        let feeds: Vec<Vec<String>> = arts
            .iter()
            .map(|(_, b)| self.routes.route_article(b, &[]))
            .collect();
        let batch: Vec<NewArticle<'_>> = arts
            .iter()
            .zip(&feeds)
            .map(|((id, b), f)| NewArticle {
                bytes: b,
                message_id: id,
                groups: vec!["misc.test", "local.test"],
                arrival: 1,
                expires: None,
                overview: OverviewInput::default(),
                feeds: f.iter().map(String::as_str).collect(),
            })
            .collect();
        self.store.store_batch(&batch).unwrap();
        let mut all: Vec<String> = feeds.into_iter().flatten().collect();
        all.dedup();
        self.wakers.notify(&all);
        arts.iter().map(|(id, _)| id.clone()).collect()
    }

    fn start(&self, peers: &[PeerConfig]) -> Feeders {
        let cfgs = peers
            .iter()
            .filter_map(|p| FeederConfig::from_peer(p).unwrap())
            .map(fast)
            .collect();
        Feeders::start(&self.store, cfgs, &self.wakers).unwrap()
    }
}

fn fast(mut c: FeederConfig) -> FeederConfig {
    c.retry_after = Duration::from_millis(200);
    c.backoff_min = Duration::from_millis(50);
    c.backoff_max = Duration::from_millis(300);
    c.poll = Duration::from_millis(100);
    c.io_timeout = Duration::from_secs(5);
    c.flush_interval = Duration::from_millis(20);
    c
}

fn peer(name: &str, addr: &str) -> PeerConfig {
    let mut p = PeerConfig::named(name);
    p.addr = Some(addr.to_owned());
    p.groups = "*,!local.*".into();
    p
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap().to_string();
    (l, a)
}

/// Byte-exact check: what the peer received is what the store holds.
fn assert_delivered(node: &Node, fake: &Peer, ids: &[String]) {
    let seen = fake.seen.lock().unwrap();
    for id in ids {
        let got = seen
            .articles
            .get(id)
            .unwrap_or_else(|| panic!("{id} not delivered"));
        let tok = match node.store.lookup(id).unwrap() {
            tidings_store::Lookup::Present(t) => t,
            other => panic!("{id}: {other:?}"),
        };
        assert_eq!(
            got,
            &node.store.read(tok, Part::Article).unwrap(),
            "{id} bytes"
        );
        assert_eq!(seen.received.get(id), Some(&1), "{id} received once");
    }
}

fn queue_empty(node: &Node, peer: &str) -> bool {
    node.store.queue_len(peer).unwrap() == 0
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_delivers_everything_then_takethis_only() {
    let (l, addr) = listener().await;
    let fake = Peer::new(Behaviour::default());
    fake.serve(l, None);
    let peers = [peer("peer-a", &addr)];
    let node = Node::new(&peers);
    let feeders = node.start(&peers);
    let arts: Vec<_> = (0..400)
        .map(|i| article(i, "misc.test", "x!not-for-mail"))
        .collect();
    let ids = node.post(&arts);
    wait_until("queue empty", || queue_empty(&node, "peer-a")).await;
    assert_delivered(&node, &fake, &ids);
    let counters = feeders.counters();
    feeders.stop(Duration::from_secs(5)).await;
    let c = counters[0].1.counts;
    assert_eq!(c.accepted, 400);
    assert_eq!(c.offered, 400);
    let seen = fake.seen.lock().unwrap();
    assert!(seen.commands.iter().any(|c| c == "MODE STREAM"));
    // after 100 accepted articles, TAKETHIS comes without CHECK: each of the two connections
    // switches after its second round of 64 (so at most 256 CHECKs)
    let checks = seen
        .commands
        .iter()
        .filter(|c| c.starts_with("CHECK"))
        .count();
    assert!(
        checks < 400,
        "{checks} CHECKs: never switched to TAKETHIS-only"
    );
    assert!(checks >= 100, "{checks} CHECKs: switched too early");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ihave_fallback_defer_and_reject() {
    let (l, addr) = listener().await;
    let arts: Vec<_> = (0..6)
        .map(|i| article(i, "misc.test", "x!not-for-mail"))
        .collect();
    let fake = Peer::new(Behaviour {
        refuse_streaming: true,
        defer_once: [arts[1].0.clone()].into(),
        reject: [arts[2].0.clone()].into(),
        ..Behaviour::default()
    });
    fake.serve(l, None);
    let peers = [peer("peer-i", &addr)];
    let node = Node::new(&peers);
    let feeders = node.start(&peers);
    let ids = node.post(&arts);
    wait_until("queue empty", || queue_empty(&node, "peer-i")).await;
    let c = feeders.counters()[0].1.counts;
    feeders.stop(Duration::from_secs(5)).await;
    let delivered: Vec<String> = ids.iter().filter(|i| **i != ids[2]).cloned().collect();
    assert_delivered(&node, &fake, &delivered);
    assert_eq!((c.accepted, c.rejected, c.deferred), (5, 1, 1));
    let seen = fake.seen.lock().unwrap();
    assert!(seen.commands.iter().any(|c| c.starts_with("IHAVE")));
    assert!(!seen.commands.iter().any(|c| c.starts_with("CHECK")));
    // the deferred one was offered twice, and last
    let offers: Vec<&String> = seen
        .commands
        .iter()
        .filter(|c| c.starts_with("IHAVE"))
        .collect();
    assert_eq!(offers.len(), 7);
    assert_eq!(offers[6], &format!("IHAVE {}", ids[1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_431_retried_and_439_dropped() {
    let (l, addr) = listener().await;
    let arts: Vec<_> = (0..20)
        .map(|i| article(i, "misc.test", "x!not-for-mail"))
        .collect();
    let fake = Peer::new(Behaviour {
        defer_once: [arts[3].0.clone(), arts[7].0.clone()].into(),
        reject: [arts[5].0.clone()].into(),
        ..Behaviour::default()
    });
    fake.serve(l, None);
    let mut p = peer("peer-s", &addr);
    p.window = 4;
    p.connections = 1;
    let peers = [p];
    let node = Node::new(&peers);
    let feeders = node.start(&peers);
    let ids = node.post(&arts);
    wait_until("queue empty", || queue_empty(&node, "peer-s")).await;
    let c = feeders.counters()[0].1.counts;
    feeders.stop(Duration::from_secs(5)).await;
    let delivered: Vec<String> = ids.iter().filter(|i| **i != ids[5]).cloned().collect();
    assert_delivered(&node, &fake, &delivered);
    assert_eq!((c.accepted, c.rejected, c.deferred), (19, 1, 2));
}

/// The switch to TAKETHIS-only counts each offered article once: a peer that already has
/// one article in twelve (about 92 % accepted, under the 95 % threshold) keeps getting CHECK.
/// (When a 238 and the following 239 both counted as accepted, the sample read about 96 %.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ninety_two_percent_accepted_stays_with_check() {
    let (l, addr) = listener().await;
    let fake = Peer::new(Behaviour::default());
    let arts: Vec<_> = (0..300)
        .map(|i| article(i, "misc.test", "x!not-for-mail"))
        .collect();
    let had: Vec<String> = arts.iter().step_by(12).map(|(id, _)| id.clone()).collect();
    {
        let mut seen = fake.seen.lock().unwrap();
        for id in &had {
            seen.articles.insert(id.clone(), Vec::new());
        }
    }
    fake.serve(l, None);
    let mut p = peer("peer-92", &addr);
    p.window = 10;
    p.connections = 1;
    let peers = [p];
    let node = Node::new(&peers);
    let feeders = node.start(&peers);
    let ids = node.post(&arts);
    wait_until("queue empty", || queue_empty(&node, "peer-92")).await;
    let c = feeders.counters()[0].1.counts;
    feeders.stop(Duration::from_secs(5)).await;
    let delivered: Vec<String> = ids.iter().filter(|i| !had.contains(i)).cloned().collect();
    assert_delivered(&node, &fake, &delivered);
    assert_eq!((c.accepted, c.refused), (275, 25));
    let seen = fake.seen.lock().unwrap();
    let checks = seen
        .commands
        .iter()
        .filter(|c| c.starts_with("CHECK"))
        .count();
    assert_eq!(
        checks, 300,
        "switched to TAKETHIS-only at about 92 % accepted"
    );
}

/// A peer that answers 501 to one message-id (every time): that entry is finished as
/// rejected and the rest of the backlog is delivered, by streaming (CHECK, and TAKETHIS once
/// in TAKETHIS-only mode) and by IHAVE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_article_501_is_rejected_and_the_backlog_flows() {
    let arts: Vec<_> = (0..150)
        .map(|i| article(i, "misc.test", "x!not-for-mail"))
        .collect();
    // one refused while CHECK is used, one once the feeder streams TAKETHIS only
    let bad = [arts[2].0.clone(), arts[140].0.clone()];
    let mut peers = Vec::new();
    let mut fakes = Vec::new();
    for (name, refuse_streaming) in [("peer-501s", false), ("peer-501i", true)] {
        let (l, addr) = listener().await;
        let fake = Peer::new(Behaviour {
            refuse_streaming,
            syntax_error: bad.iter().cloned().collect(),
            ..Behaviour::default()
        });
        fake.serve(l, None);
        let mut p = peer(name, &addr);
        p.window = 8;
        p.connections = 1;
        peers.push(p);
        fakes.push(fake);
    }
    let node = Node::new(&peers);
    let feeders = node.start(&peers);
    let ids = node.post(&arts);
    for p in &peers {
        wait_until(&p.name, || queue_empty(&node, &p.name)).await;
    }
    let counters = feeders.counters();
    feeders.stop(Duration::from_secs(5)).await;
    let delivered: Vec<String> = ids.iter().filter(|i| !bad.contains(i)).cloned().collect();
    for (fake, p) in fakes.iter().zip(&peers) {
        assert_delivered(&node, fake, &delivered);
        let name = &p.name;
        let c = counters.iter().find(|(n, _)| n == name).unwrap().1.counts;
        assert_eq!((c.accepted, c.rejected, c.deferred), (148, 2, 0), "{name}");
    }
    let seen = fakes[0].seen.lock().unwrap();
    assert!(seen.commands.contains(&format!("CHECK {}", bad[0])));
    assert!(
        seen.commands.contains(&format!("TAKETHIS {}", bad[1])),
        "the second one was streamed without CHECK"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_down_then_up_gets_the_backlog_once_in_order() {
    // find a free port, leave it closed for now
    let (l, addr) = listener().await;
    drop(l);
    let mut p = peer("peer-d", &addr);
    p.connections = 1;
    let peers = [p];
    let node = Node::new(&peers);
    let feeders = node.start(&peers);
    let arts: Vec<_> = (0..40)
        .map(|i| article(i, "misc.test", "x!not-for-mail"))
        .collect();
    let ids = node.post(&arts);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        node.store.queue_len("peer-d").unwrap(),
        40,
        "backlog kept on disk"
    );
    let fake = Peer::new(Behaviour::default());
    fake.serve(TcpListener::bind(&addr).await.unwrap(), None);
    wait_until("backlog delivered", || queue_empty(&node, "peer-d")).await;
    feeders.stop(Duration::from_secs(5)).await;
    assert_delivered(&node, &fake, &ids);
    let seen = fake.seen.lock().unwrap();
    let order: Vec<&str> = seen
        .commands
        .iter()
        .filter_map(|c| c.strip_prefix("CHECK "))
        .collect();
    assert_eq!(order, ids.iter().map(String::as_str).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nntps_pinned_fingerprint_and_wrong_pin() {
    let certdir = tempfile::tempdir().unwrap();
    let paths = tls::ensure_self_signed(certdir.path(), "localhost").unwrap();
    let certs = Arc::new(CertResolver::new(paths).unwrap());
    let fp = certs.fingerprint().unwrap();
    let acceptor = tls::acceptor(certs, ClientCertPolicy::None).unwrap();

    let (l1, good_addr) = listener().await;
    let good = Peer::new(Behaviour::default());
    good.serve(l1, Some(acceptor.clone()));
    let (l2, bad_addr) = listener().await;
    let bad = Peer::new(Behaviour::default());
    bad.serve(l2, Some(acceptor));

    let mut p1 = peer("peer-tls", &good_addr);
    p1.transport = PeerTransport::Nntps;
    p1.tls_fingerprint = Some(fp);
    p1.user = Some("feeder".into());
    p1.password = Some("secret".into());
    let mut p2 = peer("peer-badpin", &bad_addr);
    p2.transport = PeerTransport::Nntps;
    p2.tls_fingerprint = Some(tidings_net::Fingerprint::from_bytes([7; 32]));
    let peers = [p1, p2];
    let node = Node::new(&peers);
    let feeders = node.start(&peers);
    let arts: Vec<_> = (0..5)
        .map(|i| article(i, "misc.test", "x!not-for-mail"))
        .collect();
    let ids = node.post(&arts);
    wait_until("TLS peer fed", || queue_empty(&node, "peer-tls")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    feeders.stop(Duration::from_secs(5)).await;
    assert_delivered(&node, &good, &ids);
    assert!(
        good.seen
            .lock()
            .unwrap()
            .commands
            .iter()
            .any(|c| c == "AUTHINFO PASS secret"),
        "AUTHINFO sent inside TLS"
    );
    assert!(
        bad.seen.lock().unwrap().commands.is_empty(),
        "nothing sent to a wrong pin"
    );
    assert_eq!(node.store.queue_len("peer-badpin").unwrap(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_pinned_fingerprint() {
    let certdir = tempfile::tempdir().unwrap();
    let paths = tls::ensure_self_signed(certdir.path(), "localhost").unwrap();
    let certs = Arc::new(CertResolver::new(paths).unwrap());
    let fp = certs.fingerprint().unwrap();
    let acceptor = tls::acceptor(certs, ClientCertPolicy::None).unwrap();
    let (l, addr) = listener().await;
    let mut fake = Peer::new(Behaviour::default());
    fake.starttls = Some(acceptor);
    fake.serve(l, None);
    let mut p = peer("peer-st", &addr);
    p.transport = PeerTransport::Starttls;
    p.tls_fingerprint = Some(fp);
    let peers = [p];
    let node = Node::new(&peers);
    let feeders = node.start(&peers);
    let arts: Vec<_> = (0..3)
        .map(|i| article(i, "misc.test", "x!not-for-mail"))
        .collect();
    let ids = node.post(&arts);
    wait_until("queue empty", || queue_empty(&node, "peer-st")).await;
    feeders.stop(Duration::from_secs(5)).await;
    assert_delivered(&node, &fake, &ids);
    let seen = fake.seen.lock().unwrap();
    assert_eq!(seen.commands.first().map(String::as_str), Some("STARTTLS"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_skips_path_and_groups_and_cancelled_articles() {
    let (l, addr) = listener().await;
    let fake = Peer::new(Behaviour::default());
    fake.serve(l, None);
    let mut p = peer("peer-r", &addr);
    p.aliases = vec!["peer-r-old".into()];
    let peers = [p];
    let node = Node::new(&peers);
    let arts = vec![
        article(0, "misc.test", "x!peer-r!not-for-mail"),
        article(1, "local.test", "x!not-for-mail"),
        article(2, "misc.test", "peer-r-old!not-for-mail"),
        article(3, "misc.test", "x!not-for-mail"),
        article(4, "misc.test", "x!not-for-mail"),
    ];
    node.post(&arts);
    assert_eq!(node.store.queue_len("peer-r").unwrap(), 2);
    // cancelled while queued: skipped, not sent
    node.store.cancel(&arts[4].0, 2).unwrap();
    let feeders = node.start(&peers);
    wait_until("queue empty", || queue_empty(&node, "peer-r")).await;
    let snap = feeders.counters()[0].1;
    feeders.stop(Duration::from_secs(5)).await;
    assert_eq!(snap.missing, 1);
    let seen = fake.seen.lock().unwrap();
    assert_eq!(
        seen.articles.keys().cloned().collect::<Vec<_>>(),
        [arts[3].0.clone()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_feed_holds_articles_then_sends_them() {
    let (l, addr) = listener().await;
    let fake = Peer::new(Behaviour::default());
    fake.serve(l, None);
    let mut p = peer("peer-late", &addr);
    p.delay_secs = 2;
    let peers = [p];
    let node = Node::new(&peers);
    let feeders = node.start(&peers);
    // queued "now": held back for two seconds
    let (id, bytes) = article(0, "misc.test", "x!not-for-mail");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    node.store
        .store_batch(&[NewArticle {
            bytes: &bytes,
            message_id: &id,
            groups: vec!["misc.test"],
            arrival: now,
            expires: None,
            overview: OverviewInput::default(),
            feeds: vec!["peer-late"],
        }])
        .unwrap();
    node.wakers.notify(&["peer-late".to_owned()]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        fake.seen.lock().unwrap().articles.is_empty(),
        "sent before the delay"
    );
    assert_eq!(node.store.queue_len("peer-late").unwrap(), 1);
    wait_until("sent after the delay", || queue_empty(&node, "peer-late")).await;
    feeders.stop(Duration::from_secs(5)).await;
    assert_delivered(&node, &fake, &[id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_moved_by_expiry_compaction_is_still_delivered() {
    // Small segments; two articles in three expire, so expiry compacts the segments and moves
    // the queued (kept) articles' records to a new segment while the peer is down.
    let (l, addr) = listener().await;
    drop(l);
    let mut p = peer("peer-c", &addr);
    p.connections = 1;
    let peers = [p];
    let node = Node::with_segments(&peers, 4096);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let arts: Vec<_> = (0..60)
        .map(|i| {
            let group = if i % 3 == 0 {
                "misc.test"
            } else {
                "local.test"
            };
            article(i, group, "x!not-for-mail")
        })
        .collect();
    let feeds: Vec<Vec<String>> = arts
        .iter()
        .map(|(_, b)| node.routes.route_article(b, &[]))
        .collect();
    let batch: Vec<NewArticle<'_>> = arts
        .iter()
        .zip(&feeds)
        .enumerate()
        .map(|(i, ((id, b), f))| NewArticle {
            bytes: b,
            message_id: id,
            groups: vec![if i % 3 == 0 {
                "misc.test"
            } else {
                "local.test"
            }],
            arrival: if i % 3 == 0 { now } else { 1 },
            expires: None,
            overview: OverviewInput::default(),
            feeds: f.iter().map(String::as_str).collect(),
        })
        .collect();
    for chunk in batch.chunks(4) {
        node.store.store_batch(chunk).unwrap();
    }
    let kept: Vec<String> = arts.iter().step_by(3).map(|(id, _)| id.clone()).collect();
    assert_eq!(node.store.queue_len("peer-c").unwrap(), kept.len() as u64);
    let policy = ExpirePolicy {
        rules: vec![ExpireRule {
            pattern: "local.*".into(),
            max_age: Some(100),
        }],
        default_max_age: None,
        honour_expires: false,
    };
    let progress = node.store.expire_all(&policy, now, 64, 10_000).unwrap();
    assert!(progress.done, "{progress:?}");
    assert!(
        progress.records_moved > 0,
        "nothing compacted: {progress:?}"
    );
    let feeders = node.start(&peers);
    let fake = Peer::new(Behaviour::default());
    fake.serve(TcpListener::bind(&addr).await.unwrap(), None);
    node.wakers.notify(&["peer-c".to_owned()]);
    wait_until("backlog delivered", || queue_empty(&node, "peer-c")).await;
    let c = feeders.counters()[0].1;
    feeders.stop(Duration::from_secs(5)).await;
    assert_eq!((c.counts.accepted, c.missing), (kept.len() as u64, 0));
    assert_delivered(&node, &fake, &kept);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compress_deflate_when_the_peer_takes_it() {
    // A peer that takes COMPRESS inflates everything after its 206: the articles arrive
    // only if the feeder really compresses. A peer that refuses is fed uncompressed.
    for accept in [true, false] {
        let (l, addr) = listener().await;
        let fake = Peer::new(Behaviour {
            compress: accept,
            ..Behaviour::default()
        });
        fake.serve(l, None);
        let mut p = peer("peer-z", &addr);
        p.compress = true;
        p.connections = 1;
        let peers = [p];
        let node = Node::new(&peers);
        let feeders = node.start(&peers);
        let arts: Vec<_> = (0..30)
            .map(|i| article(i, "misc.test", "x!not-for-mail"))
            .collect();
        let ids = node.post(&arts);
        wait_until("queue empty", || queue_empty(&node, "peer-z")).await;
        feeders.stop(Duration::from_secs(5)).await;
        assert_delivered(&node, &fake, &ids);
        let seen = fake.seen.lock().unwrap();
        assert!(
            seen.commands.iter().any(|c| c == "COMPRESS DEFLATE"),
            "{:?}",
            seen.commands
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn articles_of_a_lost_segment_count_as_missing() {
    // A segment file deleted behind the store's back: its queued articles are finished as
    // missing (not retried forever); the rest is delivered.
    let (l, addr) = listener().await;
    let fake = Peer::new(Behaviour::default());
    fake.serve(l, None);
    let peers = [peer("peer-l", &addr)];
    let node = Node::with_segments(&peers, 4096);
    let arts: Vec<_> = (0..30)
        .map(|i| article(i, "misc.test", "x!not-for-mail"))
        .collect();
    let ids = node.post(&arts);
    node.store.flush().unwrap();
    let spool = node._dir.path().join("spool");
    let mut segs: Vec<_> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    assert!(segs.len() > 2, "{segs:?}");
    std::fs::remove_file(&segs[0]).unwrap();
    let feeders = node.start(&peers);
    wait_until("queue empty", || queue_empty(&node, "peer-l")).await;
    let c = feeders.counters()[0].1;
    feeders.stop(Duration::from_secs(5)).await;
    assert!(c.missing > 0, "{c:?}");
    assert_eq!(c.missing + c.counts.accepted, ids.len() as u64, "{c:?}");
}
