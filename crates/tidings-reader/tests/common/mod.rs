//! Test harness: a temp store with a few groups, a session over loopback, a small client.
#![allow(clippy::unwrap_used, missing_docs, dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tidings_net::{Shutdown, Stream};
use tidings_reader::{AccessRule, Authenticator, ListenerSettings, ReaderConfig, Services};
use tidings_store::writer::{Writer, WriterConfig};
use tidings_store::{Config, GroupStatus, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const WAIT: Duration = Duration::from_secs(10);

pub struct Users;
impl Authenticator for Users {
    fn verify(&self, user: &str, password: &str) -> bool {
        matches!(
            (user, password),
            ("alice", "secret") | ("bob", "hunter2") | ("carol", "pw")
        )
    }
}

pub struct Server {
    pub dir: tempfile::TempDir,
    pub services: Arc<Services>,
    pub shutdown: Shutdown,
    pub tls_paths: Option<tidings_net::tls::CertPaths>,
    pub fingerprint: Option<tidings_net::Fingerprint>,
}

#[derive(Default)]
pub struct Options {
    pub config: ReaderConfig,
    pub tls: bool,
    pub transit: Option<Arc<dyn tidings_reader::TransitGate>>,
}

pub fn server(opts: Options) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open(
            dir.path().join("store"),
            Config {
                pathhost: "news.test".into(),
                durable: false,
                ..Config::default()
            },
        )
        .unwrap(),
    );
    for (name, status, desc) in [
        ("misc.test", GroupStatus::Posting, "Testing"),
        ("misc.other", GroupStatus::Posting, "Other things"),
        ("local.ro", GroupStatus::NoPosting, "Read only"),
        ("mod.test", GroupStatus::Moderated, "Moderated"),
        ("secret.stuff", GroupStatus::Posting, "Secret"),
        ("control.cancel", GroupStatus::NoPosting, "Cancels"),
    ] {
        store
            .add_group(name, status, 1_000_000, "admin@test", desc)
            .unwrap();
    }
    let writer = Writer::start(Arc::clone(&store), WriterConfig::default()).unwrap();
    let (tls, tls_paths, fingerprint) = if opts.tls {
        let paths =
            tidings_net::tls::ensure_self_signed(&dir.path().join("tls"), "news.test").unwrap();
        let certs = Arc::new(tidings_net::tls::CertResolver::new(paths.clone()).unwrap());
        let fp = certs.fingerprint();
        let acc =
            tidings_net::tls::acceptor(certs, tidings_net::tls::ClientCertPolicy::None).unwrap();
        (Some(acc), Some(paths), fp)
    } else {
        (None, None, None)
    };
    let services = Arc::new(Services {
        store,
        writer,
        pathhost: "news.test".into(),
        config: Arc::new(opts.config),
        auth: Arc::new(Users),
        tls,
        moderation_dir: dir.path().join("moderation"),
        clock: tidings_reader::system_clock,
        limits: Arc::default(),
        transit: opts.transit.clone(),
    });
    Server {
        dir,
        services,
        shutdown: Shutdown::new(),
        tls_paths,
        fingerprint,
    }
}

pub fn rule(from: &[&str], users: &[&str], read: &str, post: &str) -> AccessRule {
    AccessRule {
        from: from.iter().map(|s| s.parse().unwrap()).collect(),
        users: users.iter().map(|s| (*s).to_owned()).collect(),
        read: read.into(),
        post: post.into(),
        ..AccessRule::default()
    }
}

pub struct Client {
    pub stream: Option<Stream>,
    pub buf: Vec<u8>,
    pub task: tokio::task::JoinHandle<()>,
}

pub fn loopback() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

impl Server {
    /// Connects a client whose address the session sees as `peer`.
    pub async fn connect_as(&self, peer: SocketAddr, listener: ListenerSettings) -> Client {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (c, s) = tokio::join!(tokio::net::TcpStream::connect(addr), l.accept());
        let (s, _) = s.unwrap();
        let svc = Arc::clone(&self.services);
        let sig = self.shutdown.signal();
        let task = tokio::spawn(async move {
            tidings_reader::serve_connection(svc, Stream::from_tcp(s), peer, listener, sig).await;
        });
        Client {
            stream: Some(Stream::from_tcp(c.unwrap())),
            buf: Vec::new(),
            task,
        }
    }

    pub async fn connect(&self) -> Client {
        self.connect_as(loopback(), plain()).await
    }

    pub fn connector(&self) -> tokio_rustls::TlsConnector {
        tidings_net::tls::connector(
            &tidings_net::tls::ServerTrust::Pinned(vec![self.fingerprint.unwrap()]),
            None,
        )
        .unwrap()
    }
}

pub fn plain() -> ListenerSettings {
    ListenerSettings {
        name: "test".into(),
        starttls: false,
        auth_requires_tls: false,
    }
}

impl Client {
    fn s(&mut self) -> &mut Stream {
        self.stream.as_mut().unwrap()
    }

    pub async fn send(&mut self, data: &[u8]) {
        let st = self.s();
        tokio::time::timeout(WAIT, async {
            st.write_all(data).await.unwrap();
            st.flush().await.unwrap();
        })
        .await
        .expect("send timed out");
    }

    async fn more(&mut self) -> usize {
        let mut tmp = vec![0u8; 65536];
        let st = self.stream.as_mut().unwrap();
        let n = tokio::time::timeout(WAIT, st.read(&mut tmp))
            .await
            .expect("read timed out")
            .unwrap_or(0);
        self.buf.extend_from_slice(&tmp[..n]);
        n
    }

    /// One line without CRLF; panics on EOF.
    pub async fn line(&mut self) -> String {
        String::from_utf8_lossy(&self.raw_line().await.expect("connection closed")).into_owned()
    }

    pub async fn raw_line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let mut l: Vec<u8> = self.buf.drain(..=i).collect();
                l.pop();
                if l.last() == Some(&b'\r') {
                    l.pop();
                }
                return Some(l);
            }
            if self.more().await == 0 {
                return None;
            }
        }
    }

    /// A dot-terminated block, un-stuffed, as raw bytes with CRLF line ends.
    pub async fn block(&mut self) -> Vec<u8> {
        loop {
            if let Some((n, b)) = tidings_proto::block::decode_block(&self.buf, usize::MAX).unwrap()
            {
                self.buf.drain(..n);
                return b;
            }
            assert!(self.more().await > 0, "EOF inside a block");
        }
    }

    pub async fn lines(&mut self) -> Vec<String> {
        let b = self.block().await;
        String::from_utf8_lossy(&b)
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.line().await
    }

    /// Waits until the server closes the connection; returns what it sent meanwhile.
    pub async fn until_closed(&mut self) -> Vec<u8> {
        while self.more().await > 0 {}
        std::mem::take(&mut self.buf)
    }

    pub async fn starttls(&mut self, conn: &tokio_rustls::TlsConnector) {
        let st = self.stream.take().unwrap();
        let up = st
            .starttls_client(
                std::mem::take(&mut self.buf),
                conn,
                tidings_net::tls::server_name("localhost").unwrap(),
                WAIT,
            )
            .await
            .unwrap();
        self.stream = Some(up.stream);
    }

    pub fn compress(&mut self) {
        let st = self.stream.take().unwrap();
        self.stream = Some(st.compress(std::mem::take(&mut self.buf)).unwrap());
    }

    /// POST an article (raw, stored form; this stuffs it). Returns the final reply.
    pub async fn post(&mut self, article: &[u8]) -> String {
        let r = self.cmd("POST").await;
        assert!(r.starts_with("340"), "{r}");
        let mut wire = Vec::new();
        tidings_proto::write_stuffed(article, &mut wire);
        self.send(&wire).await;
        self.line().await
    }
}

pub fn article(groups: &str, subject: &str, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut a = format!(
        "From: Tester <tester@example.org>\r\nNewsgroups: {groups}\r\nSubject: {subject}\r\n{extra}\r\n"
    )
    .into_bytes();
    a.extend_from_slice(body);
    a
}

pub fn tmp_path(s: &Server, p: &str) -> PathBuf {
    s.dir.path().join(p)
}

/// Seeds misc.test with three articles (<a1@test>, <a2@test>, <a3@test>, the last with a
/// Cancel-Lock for key "a2V5Mw==") and secret.stuff with <s1@test>.
pub fn seed(s: &Server) {
    let lock =
        tidings_article::cancel_lock::lock_from_key(tidings_article::Scheme::Sha256, "a2V5Mw==");
    let arts: Vec<(String, Vec<u8>, Vec<&str>)> = (1..=3)
        .map(|i| {
            let extra = if i == 3 {
                format!("Cancel-Lock: sha256:{lock}\r\n")
            } else {
                String::new()
            };
            let refs = if i > 1 { "References: <a1@test>\r\n" } else { "" };
            let a = format!(
                "Path: elsewhere!not-for-mail\r\nFrom: a{i}@example.org\r\nNewsgroups: misc.test\r\nSubject: article {i}\r\nDate: Mon, 01 Jan 2024 00:00:0{i} +0000\r\nMessage-ID: <a{i}@test>\r\n{refs}X-Seq: seq-{i}\r\n{extra}\r\n.body line {i}\r\n"
            );
            (format!("<a{i}@test>"), a.into_bytes(), vec!["misc.test"])
        })
        .chain(std::iter::once((
            "<s1@test>".to_owned(),
            b"Path: x!not-for-mail\r\nFrom: s@example.org\r\nNewsgroups: secret.stuff\r\nSubject: secret\r\nDate: Mon, 01 Jan 2024 00:00:00 +0000\r\nMessage-ID: <s1@test>\r\n\r\nhush\r\n".to_vec(),
            vec!["secret.stuff"],
        )))
        .collect();
    let now = tidings_reader::system_clock();
    let batch: Vec<tidings_store::NewArticle<'_>> = arts
        .iter()
        .map(|(id, bytes, groups)| {
            let ov = tidings_article::Overview::from_article(bytes).unwrap();
            let leak = |v: Vec<u8>| -> &'static [u8] { Box::leak(v.into_boxed_slice()) };
            tidings_store::NewArticle {
                bytes,
                message_id: id,
                groups: groups.clone(),
                arrival: now,
                expires: None,
                overview: tidings_store::OverviewInput {
                    subject: leak(ov.subject),
                    from: leak(ov.from),
                    date: leak(ov.date),
                    references: leak(ov.references),
                    lines: ov.lines,
                },
                feeds: Vec::new(),
            }
        })
        .collect();
    let out = s.services.store.store_batch(&batch).unwrap();
    for o in out {
        assert!(
            matches!(o, tidings_store::StoreOutcome::Stored { .. }),
            "{o:?}"
        );
    }
}
