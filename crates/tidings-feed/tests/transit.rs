//! Transit sessions over loopback with a temporary store and writer.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tidings_feed::{
    IdentifiedBy, PeerIdentity, TransitConfig, TransitEnd, TransitServices, UnknownGroups,
    serve_transit,
};
use tidings_net::{Shutdown, Stream};
use tidings_store::writer::{Writer, WriterConfig};
use tidings_store::{Config, GroupStatus, Lookup, Part, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(20);

struct Server {
    _dir: tempfile::TempDir,
    svc: Arc<TransitServices>,
    shutdown: Shutdown,
    peer: PeerIdentity,
}

fn server(config: TransitConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open(
            dir.path().join("store"),
            Config {
                pathhost: "me.test".into(),
                durable: false,
                ..Config::default()
            },
        )
        .unwrap(),
    );
    for g in ["misc.test", "misc.other", "junk"] {
        store
            .add_group(g, GroupStatus::Posting, 1_000_000, "admin", "")
            .unwrap();
    }
    let writer = Writer::start(Arc::clone(&store), WriterConfig::default()).unwrap();
    let svc = TransitServices::new(store, writer, "me.test".into(), config);
    Server {
        _dir: dir,
        svc: Arc::new(svc),
        shutdown: Shutdown::new(),
        peer: PeerIdentity::new("peer.test", IdentifiedBy::Address),
    }
}

struct Client {
    stream: Stream,
    buf: Vec<u8>,
    task: tokio::task::JoinHandle<TransitEnd>,
}

impl Server {
    async fn connect_with(&self, unread: &[u8]) -> Client {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (c, s) = tokio::join!(tokio::net::TcpStream::connect(addr), l.accept());
        let svc = Arc::clone(&self.svc);
        let sig = self.shutdown.signal();
        let peer = self.peer.clone();
        let unread = unread.to_vec();
        let stream = Stream::from_tcp(s.unwrap().0);
        let task = tokio::spawn(serve_transit(svc, stream, peer, unread, sig));
        Client {
            stream: Stream::from_tcp(c.unwrap()),
            buf: Vec::new(),
            task,
        }
    }

    async fn connect(&self) -> Client {
        self.connect_with(b"").await
    }

    fn stored(&self, id: &str) -> Option<Vec<u8>> {
        match self.svc.store.lookup(id).unwrap() {
            // The store adds Xref when it serves an article; compare without it.
            Lookup::Present(t) => Some(
                tidings_article::remove_header(
                    &self.svc.store.read(t, Part::Article).unwrap(),
                    "Xref",
                )
                .unwrap(),
            ),
            _ => None,
        }
    }
}

impl Client {
    async fn send(&mut self, data: &[u8]) {
        tokio::time::timeout(WAIT, self.stream.write_all(data))
            .await
            .unwrap()
            .unwrap();
    }

    async fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let l: Vec<u8> = self.buf.drain(..=i).collect();
                return String::from_utf8_lossy(&l).trim_end().to_owned();
            }
            let mut tmp = vec![0u8; 65536];
            let n = tokio::time::timeout(WAIT, self.stream.read(&mut tmp))
                .await
                .expect("read timed out")
                .unwrap();
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.line().await
    }
}

fn date(offset: i64) -> String {
    tidings_article::format_date(tidings_feed::inbound::system_clock() + offset)
}

/// An article in wire form (dot-stuffed, terminated).
fn article(
    id: &str,
    groups: &str,
    path: &str,
    date: &str,
    body: impl AsRef<[u8]>,
) -> (Vec<u8>, Vec<u8>) {
    let mut plain = format!(
        "Path: {path}\r\nFrom: Joe <joe@example.org>\r\nNewsgroups: {groups}\r\n\
         Subject: test {id}\r\nDate: {date}\r\nMessage-ID: {id}\r\n\r\n"
    )
    .into_bytes();
    plain.extend_from_slice(body.as_ref());
    let mut wire = Vec::new();
    tidings_proto::write_stuffed(&plain, &mut wire);
    (plain, wire)
}

fn simple(id: &str) -> (Vec<u8>, Vec<u8>) {
    article(
        id,
        "misc.test",
        "peer.test!origin",
        &date(0),
        "hello\r\n.dot line\r\n",
    )
}

fn with_our_path(plain: &[u8]) -> Vec<u8> {
    let mut out = b"Path: me.test!".to_vec();
    out.extend_from_slice(plain.strip_prefix(b"Path: ").unwrap());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ihave_accept_duplicate_reject_defer() {
    let s = server(TransitConfig::default());
    let mut c = s.connect().await;
    let (plain, wire) = simple("<a1@x>");
    assert!(c.cmd("IHAVE <a1@x>").await.starts_with("335"));
    c.send(&wire).await;
    assert!(c.line().await.starts_with("235"));
    assert_eq!(s.stored("<a1@x>").unwrap(), with_our_path(&plain));
    // Duplicate: refused at once.
    assert!(c.cmd("IHAVE <a1@x>").await.starts_with("435"));
    // Reject (missing headers), then a re-offer is refused at once.
    assert!(c.cmd("IHAVE <bad@x>").await.starts_with("335"));
    c.send(b"Message-ID: <bad@x>\r\n\r\nbody\r\n.\r\n").await;
    let r = c.line().await;
    assert!(r.starts_with("437 Missing required header"), "{r}");
    assert!(c.cmd("IHAVE <bad@x>").await.starts_with("435"));
    // Defer: another connection is receiving it.
    let _claim = s.svc.in_flight.claim("<busy@x>", Instant::now()).unwrap();
    assert!(c.cmd("IHAVE <busy@x>").await.starts_with("436"));
    assert!(c.cmd("CHECK <busy@x>").await.starts_with("431 <busy@x>"));
    // Bad syntax, unknown commands.
    assert!(c.cmd("IHAVE nobrackets").await.starts_with("501"));
    assert!(c.cmd("FROB").await.starts_with("500"));
    assert!(c.cmd("DATE").await.starts_with("111 "));
    assert!(c.cmd("QUIT").await.starts_with("205"));
    assert!(matches!(c.task.await.unwrap(), TransitEnd::Closed));
    let n = s.peer.counters.snapshot();
    assert_eq!(
        (n.offered, n.accepted, n.refused, n.rejected, n.deferred),
        (6, 1, 2, 1, 2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_pipelined_check_takethis_in_one_write() {
    let s = server(TransitConfig::default());
    let mut c = s.connect().await;
    let mut batch = b"MODE STREAM\r\n".to_vec();
    let mut plains = Vec::new();
    for i in 0..500 {
        let id = format!("<s{i}@x>");
        let mut body = format!("line {i}\r\n..two dots\r\n").into_bytes();
        body.extend_from_slice(b"\xff\xfe 8-bit\r\nbare\nlf\r\n");
        let (plain, wire) = article(&id, "misc.test", "peer.test!o", &date(0), &body);
        batch.extend_from_slice(format!("CHECK {id}\r\nTAKETHIS {id}\r\n").as_bytes());
        batch.extend_from_slice(&wire);
        plains.push((id, plain));
    }
    c.send(&batch).await;
    assert!(c.line().await.starts_with("203"));
    for (id, _) in &plains {
        assert_eq!(c.line().await, format!("238 {id}"));
        assert_eq!(c.line().await, format!("239 {id}"));
    }
    for (id, plain) in &plains {
        assert_eq!(s.stored(id).unwrap(), with_our_path(plain), "{id}");
    }
    let g = s.svc.store.group("misc.test").unwrap().unwrap();
    assert_eq!(g.count, 500, "each stored once");
    // Offered again: refused from history.
    assert_eq!(c.cmd("CHECK <s7@x>").await, "438 <s7@x>");
    assert!(s.svc.in_flight.is_empty(), "claims released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takethis_without_check_and_duplicate_takethis() {
    let s = server(TransitConfig::default());
    let mut c = s.connect().await;
    assert!(c.cmd("MODE STREAM").await.starts_with("203"));
    let (plain, wire) = simple("<t1@x>");
    let mut w = b"TAKETHIS <t1@x>\r\n".to_vec();
    w.extend_from_slice(&wire);
    c.send(&w).await;
    assert_eq!(c.line().await, "239 <t1@x>");
    assert_eq!(s.stored("<t1@x>").unwrap(), with_our_path(&plain));
    // The duplicate is read completely, then refused; the next command is in sync.
    let mut w = b"TAKETHIS <t1@x>\r\n".to_vec();
    w.extend_from_slice(&wire);
    w.extend_from_slice(b"CHECK <t2@x>\r\n");
    c.send(&w).await;
    assert!(c.line().await.starts_with("439 <t1@x>"));
    assert_eq!(c.line().await, "238 <t2@x>");
    // A TAKETHIS with a bad message-id argument: read, then 439.
    let mut w = b"TAKETHIS bogus\r\n".to_vec();
    w.extend_from_slice(&wire);
    w.extend_from_slice(b"CHECK <t3@x>\r\n");
    c.send(&w).await;
    assert!(c.line().await.starts_with("439 bogus"));
    assert_eq!(c.line().await, "238 <t3@x>");
}

/// With a bound of unstored bytes far below what is pipelined (and below one article), the
/// session waits for the store instead of reading on, and still takes everything: no
/// deadlock, every article acknowledged and stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_unstored_bound_still_takes_a_long_stream() {
    let s = server(TransitConfig {
        max_pending_bytes: 4096,
        ..TransitConfig::default()
    });
    let mut c = s.connect().await;
    let mut batch = b"MODE STREAM\r\n".to_vec();
    let mut ids = Vec::new();
    for i in 0..300 {
        let id = format!("<b{i}@x>");
        // every 50th is larger than the whole bound
        let size = if i % 50 == 0 { 10_000 } else { 2_000 };
        let (_, wire) = article(
            &id,
            "misc.test",
            "peer.test!o",
            &date(0),
            "z".repeat(size) + "\r\n",
        );
        batch.extend_from_slice(format!("TAKETHIS {id}\r\n").as_bytes());
        batch.extend_from_slice(&wire);
        ids.push(id);
    }
    assert!(batch.len() > 100 * 4096);
    // Write and read concurrently: the server stops reading while it waits for the store.
    let (mut rd, mut wr) = tokio::io::split(c.stream);
    let writer = tokio::spawn(async move {
        tokio::time::timeout(WAIT, wr.write_all(&batch))
            .await
            .unwrap()
            .unwrap();
        wr
    });
    c.stream = {
        let mut got = Vec::new();
        let mut lines = 0;
        let mut tmp = vec![0u8; 65536];
        while lines < ids.len() + 1 {
            let n = tokio::time::timeout(WAIT, rd.read(&mut tmp))
                .await
                .expect("replies stopped: deadlock?")
                .unwrap();
            assert!(n > 0, "connection closed");
            got.extend_from_slice(&tmp[..n]);
            lines = got.iter().filter(|&&b| b == b'\n').count();
        }
        let text = String::from_utf8(got).unwrap();
        let mut it = text.lines();
        assert!(it.next().unwrap().starts_with("203"));
        for id in &ids {
            assert_eq!(it.next().unwrap(), format!("239 {id}"));
        }
        rd.unsplit(writer.await.unwrap())
    };
    for id in &ids {
        assert!(s.stored(id).is_some(), "{id}");
    }
    assert_eq!(c.cmd("QUIT").await.get(..3), Some("205"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connections_offering_the_same_id() {
    let s = server(TransitConfig::default());
    let mut a = s.connect().await;
    let mut b = s.connect().await;
    assert_eq!(a.cmd("CHECK <same@x>").await, "238 <same@x>");
    assert_eq!(b.cmd("CHECK <same@x>").await, "431 <same@x>");
    assert!(b.cmd("IHAVE <same@x>").await.starts_with("436"));
    // A sends it; once stored, B is refused from history.
    let (_, wire) = simple("<same@x>");
    let mut w = b"TAKETHIS <same@x>\r\n".to_vec();
    w.extend_from_slice(&wire);
    a.send(&w).await;
    assert_eq!(a.line().await, "239 <same@x>");
    assert_eq!(b.cmd("CHECK <same@x>").await, "438 <same@x>");
    // IHAVE holds its claim while the article is being sent.
    assert!(a.cmd("IHAVE <slow@x>").await.starts_with("335"));
    assert!(b.cmd("IHAVE <slow@x>").await.starts_with("436"));
    let (_, wire) = simple("<slow@x>");
    a.send(&wire).await;
    assert!(a.line().await.starts_with("235"));
    assert!(b.cmd("IHAVE <slow@x>").await.starts_with("435"));
}

async fn takethis(c: &mut Client, id: &str, wire: &[u8]) -> String {
    let mut w = format!("TAKETHIS {id}\r\n").into_bytes();
    w.extend_from_slice(wire);
    c.send(&w).await;
    c.line().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_checks_refuse_with_reasons() {
    let s = server(TransitConfig {
        max_article: 4096,
        ..TransitConfig::default()
    });
    let mut c = s.connect().await;
    let now = date(0);
    // Loop.
    let (_, w) = article("<l@x>", "misc.test", "a!me.test!b", &now, "x\r\n");
    let r = takethis(&mut c, "<l@x>", &w).await;
    assert_eq!(r, "439 <l@x> Loop: me.test is already in Path");
    // Message-id mismatch: refused, not remembered (the id is still wanted).
    let (_, w) = article("<other@x>", "misc.test", "p!q", &now, "x\r\n");
    let r = takethis(&mut c, "<m@x>", &w).await;
    assert!(
        r.starts_with("439 <m@x> Message-ID <other@x> does not match"),
        "{r}"
    );
    assert_eq!(c.cmd("CHECK <m@x>").await, "238 <m@x>");
    // Mismatched and invalid too (a NUL; missing headers): still the mismatch, and the
    // offered id is not remembered, so the real article with that id is still wanted.
    let (_, w) = article("<other2@x>", "misc.test", "p!q", &now, "a\0b\r\n");
    let r = takethis(&mut c, "<m2@x>", &w).await;
    assert!(
        r.starts_with("439 <m2@x> Message-ID <other2@x> does not match"),
        "{r}"
    );
    let w = b"Message-ID: <other3@x>\r\n\r\nbody\r\n.\r\n";
    let r = takethis(&mut c, "<m3@x>", w).await;
    assert!(
        r.starts_with("439 <m3@x> Message-ID <other3@x> does not match"),
        "{r}"
    );
    assert!(c.cmd("IHAVE <m4@x>").await.starts_with("335"));
    c.send(b"Subject: no id\r\n\r\nbody\r\n.\r\n").await;
    let r = c.line().await;
    assert!(r.starts_with("437 Message-ID (none) does not match"), "{r}");
    for id in ["<m2@x>", "<m3@x>", "<m4@x>"] {
        assert_eq!(c.cmd(&format!("CHECK {id}")).await, format!("238 {id}"));
        assert_eq!(s.svc.store.lookup(id).unwrap(), Lookup::Unknown, "{id}");
    }
    // Too large: the rest is discarded and the connection stays in sync.
    let big = "y".repeat(100) + "\r\n";
    let (_, w) = article("<big@x>", "misc.test", "p!q", &now, big.repeat(100));
    let mut bytes = b"TAKETHIS <big@x>\r\n".to_vec();
    bytes.extend_from_slice(&w);
    bytes.extend_from_slice(b"CHECK <after@x>\r\n");
    c.send(&bytes).await;
    let r = c.line().await;
    assert!(r.starts_with("439 <big@x> Article too large"), "{r}");
    assert_eq!(c.line().await, "238 <after@x>");
    // NUL.
    let (_, w) = article("<nul@x>", "misc.test", "p!q", &now, "a\0b\r\n");
    let r = takethis(&mut c, "<nul@x>", &w).await;
    assert_eq!(r, "439 <nul@x> Nul character in article");
    // A bare LF followed by '.': refused (437/439) and remembered.
    let (_, w) = article("<lf@x>", "misc.test", "p!q", &now, "a\n.\r\nb\r\n");
    let r = takethis(&mut c, "<lf@x>", &w).await;
    assert!(
        r.starts_with("439 <lf@x> Bare LF followed by '.' in article"),
        "{r}"
    );
    assert_eq!(c.cmd("CHECK <lf@x>").await, "438 <lf@x>");
    assert!(c.cmd("IHAVE <lf2@x>").await.starts_with("335"));
    let (_, w) = article("<lf2@x>", "misc.test", "p!q", &now, "\n.x\r\n");
    c.send(&w).await;
    let r = c.line().await;
    assert!(r.starts_with("437 Bare LF followed by '.'"), "{r}");
    assert_eq!(c.cmd("CHECK <lf2@x>").await, "438 <lf2@x>");
    // Too old, too far in the future.
    let (_, w) = article("<old@x>", "misc.test", "p!q", &date(-20 * 86_400), "x\r\n");
    let r = takethis(&mut c, "<old@x>", &w).await;
    assert!(r.starts_with("439 <old@x> Article too old"), "{r}");
    let (_, w) = article("<new@x>", "misc.test", "p!q", &date(3 * 86_400), "x\r\n");
    let r = takethis(&mut c, "<new@x>", &w).await;
    assert!(r.starts_with("439 <new@x> Article dated"), "{r}");
    // Unknown groups refused (and remembered).
    let (_, w) = article("<ug@x>", "alt.nope", "p!q", &now, "x\r\n");
    let r = takethis(&mut c, "<ug@x>", &w).await;
    assert!(
        r.starts_with("439 <ug@x> Unwanted newsgroups: alt.nope"),
        "{r}"
    );
    assert_eq!(c.cmd("CHECK <ug@x>").await, "438 <ug@x>");
    assert_eq!(c.cmd("CHECK <old@x>").await, "438 <old@x>");
    assert_eq!(
        c.cmd("CHECK <new@x>").await,
        "238 <new@x>",
        "future: not remembered"
    );
    // IHAVE gets 437 with the reason.
    assert!(c.cmd("IHAVE <l2@x>").await.starts_with("335"));
    let (_, w) = article("<l2@x>", "misc.test", "me.test!b", &now, "x\r\n");
    c.send(&w).await;
    assert_eq!(c.line().await, "437 Loop: me.test is already in Path");
    for id in [
        "<l@x>", "<m@x>", "<big@x>", "<nul@x>", "<lf@x>", "<lf2@x>", "<old@x>", "<new@x>", "<ug@x>",
    ] {
        assert!(s.stored(id).is_none(), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_groups_filed_in_junk_when_configured() {
    let s = server(TransitConfig {
        unknown_groups: UnknownGroups::Junk,
        ..TransitConfig::default()
    });
    let mut c = s.connect().await;
    let (plain, w) = article("<j@x>", "alt.nope", "p!q", &date(0), "x\r\n");
    assert_eq!(takethis(&mut c, "<j@x>", &w).await, "239 <j@x>");
    assert_eq!(s.stored("<j@x>").unwrap(), with_our_path(&plain));
    assert_eq!(s.svc.store.group("junk").unwrap().unwrap().count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_bytes_first_and_hand_back_to_reader() {
    let s = server(TransitConfig::default());
    // The reader hands over a TAKETHIS with its article and more pipelined commands.
    let (_, wire) = simple("<h@x>");
    let mut unread = b"TAKETHIS <h@x>\r\n".to_vec();
    unread.extend_from_slice(&wire);
    unread.extend_from_slice(b"CHECK <h2@x>\r\nCAPABILITIES\r\nMODE READER\r\nGROUP misc.test\r\n");
    let mut c = s.connect_with(&unread).await;
    assert_eq!(c.line().await, "239 <h@x>");
    assert_eq!(c.line().await, "238 <h2@x>");
    assert!(c.line().await.starts_with("101"));
    let mut caps = Vec::new();
    loop {
        let l = c.line().await;
        if l == "." {
            break;
        }
        caps.push(l);
    }
    assert!(caps.iter().any(|l| l == "IHAVE") && caps.iter().any(|l| l == "STREAMING"));
    match tokio::time::timeout(WAIT, c.task).await.unwrap().unwrap() {
        TransitEnd::Reader { unread, .. } => {
            assert_eq!(unread, b"MODE READER\r\nGROUP misc.test\r\n");
        }
        TransitEnd::Closed => panic!("expected a hand-back"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_says_goodbye() {
    let s = server(TransitConfig::default());
    let mut c = s.connect().await;
    assert!(c.cmd("MODE STREAM").await.starts_with("203"));
    s.shutdown.trigger();
    assert!(c.line().await.starts_with("400"));
    assert!(matches!(
        tokio::time::timeout(WAIT, c.task).await.unwrap().unwrap(),
        TransitEnd::Closed
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_never_followed_by_takethis_are_bounded() {
    // 65,536 ids answered 238 and never sent: the next new id gets 431 (try later) instead
    // of another claim; a TAKETHIS for one of them frees its place.
    let s = server(TransitConfig::default());
    let mut c = s.connect().await;
    assert!(c.cmd("MODE STREAM").await.starts_with("203"));
    const N: usize = 65_536;
    let mut batch = Vec::with_capacity(N * 24);
    for i in 0..=N {
        batch.extend_from_slice(format!("CHECK <c{i}@x>\r\n").as_bytes());
    }
    c.send(&batch).await;
    for i in 0..N {
        assert_eq!(c.line().await, format!("238 <c{i}@x>"));
    }
    assert_eq!(c.line().await, format!("431 <c{N}@x>"));
    let (_, wire) = article("<c0@x>", "misc.test", "peer.test!o", &date(0), b"b\r\n");
    assert_eq!(takethis(&mut c, "<c0@x>", &wire).await, "239 <c0@x>");
    assert_eq!(
        c.cmd(&format!("CHECK <c{N}@x>")).await,
        format!("238 <c{N}@x>")
    );
}
