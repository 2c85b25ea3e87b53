//! Tidings nodes feeding each other on loopback.
//!
//! - A mesh of three: A and B feed each other over TLS with pinned certificates (A to B by
//!   STARTTLS, B to A by NNTPS), each identifying the other *only* by its certificate (their
//!   connections come from 127.0.0.1, which no `accept_from` covers); C feeds and is fed by both
//!   over plain TCP on `[::1]` (identified by address). Articles posted at every node reach the
//!   other two exactly once: each node's group count and STAT by message-id, and over all six
//!   feeders exactly two acceptances per article (duplicates are refused by history).
//! - A peer that is down for a while, then back: its whole backlog arrives, nothing twice.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;
#[path = "common/interop.rs"]
mod interop;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Daemon;
use interop::*;
use tidings_net::{Fingerprint, tls};

const GROUP: &str = "misc.test";

fn free_port6() -> u16 {
    free_port_on("[::1]:0")
}

/// A node's fixed ports, data directory and certificate pin (made before it starts, so that
/// the others' configurations can name it).
struct Node {
    name: String,
    dir: PathBuf,
    starttls: u16,
    nntps: u16,
    plain6: u16,
    fp: Fingerprint,
}

impl Node {
    fn new(root: &Path, short: &str) -> Node {
        let name = format!("{short}.mesh.test");
        let dir = root.join(short);
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let paths = tls::ensure_self_signed(&data, &name).unwrap();
        let certs = tls::load_certs(&paths.cert).unwrap();
        Node {
            name,
            dir,
            starttls: free_port(),
            nntps: free_port(),
            plain6: free_port6(),
            fp: Fingerprint::of_der(&certs[0]),
        }
    }

    fn plain(&self) -> SocketAddr {
        SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, self.plain6))
    }

    fn write_config(&self, peers: &str) -> PathBuf {
        let config = self.dir.join("tidings.toml");
        std::fs::write(
            &config,
            format!(
                "[node]\ndata_dir = \"{}\"\npathhost = \"{}\"\n\n[store]\ndurable = false\n\n\
                 [[listen]]\naddr = \"127.0.0.1:{}\"\ntls = \"starttls\"\n\n\
                 [[listen]]\naddr = \"127.0.0.1:{}\"\ntls = \"implicit\"\n\n\
                 [[listen]]\naddr = \"[::1]:{}\"\ntls = \"none\"\nauth_requires_tls = false\n\n{peers}",
                self.dir.join("data").display(),
                self.name,
                self.starttls,
                self.nntps,
                self.plain6
            ),
        )
        .unwrap();
        config
    }

    fn start(&self) -> Daemon {
        let config = self.dir.join("tidings.toml");
        Daemon::spawn(
            &self.dir,
            self.dir.join("data"),
            config.clone(),
            &["serve", "--config", config.to_str().unwrap()],
        )
    }

    /// Runs an admin command on this node's configuration (server running or not).
    fn admin(&self, args: &[&str]) -> (bool, String, String) {
        common::admin(&self.dir.join("tidings.toml"), args, "")
    }
}

/// Posts a small article at `addr`.
fn post(addr: SocketAddr, id: &str, text: &str) {
    let mut c = Raw::open(addr);
    assert!(c.cmd("POST").starts_with("340"));
    c.send(
        format!(
            "From: M <m@mesh.example>\r\nNewsgroups: {GROUP}\r\nSubject: {text}\r\n\
             Message-ID: {id}\r\n\r\n{text}\r\n..dot line\r\n.\r\n"
        )
        .as_bytes(),
    );
    let r = c.line_str();
    assert!(r.starts_with("240"), "POST {id} at {addr}: {r}");
}

#[test]
fn three_nodes_starttls_nntps_and_tcp_each_article_once() {
    let t = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        Node::new(t.path(), "a"),
        Node::new(t.path(), "b"),
        Node::new(t.path(), "c"),
    );
    let tls_peer = |p: &Node, transport: &str, port: u16| {
        format!(
            "[[peer]]\nname = \"{}\"\naddr = \"127.0.0.1:{port}\"\ntransport = \"{transport}\"\n\
             tls_fingerprint = \"{}\"\nconnections = 1\n\n",
            p.name, p.fp
        )
    };
    let tcp_peer = |p: &Node| {
        format!(
            "[[peer]]\nname = \"{}\"\naddr = \"[::1]:{}\"\naccept_from = [\"::1/128\"]\n\
             connections = 1\n\n",
            p.name, p.plain6
        )
    };
    // COMPRESS DEFLATE (RFC 8054) on B's NNTPS link to A and on C's plain link to A.
    let compressed =
        |block: String| block.replace("connections = 1\n", "connections = 1\ncompress = true\n");
    a.write_config(&(tls_peer(&b, "starttls", b.starttls) + &tcp_peer(&c)));
    b.write_config(&(compressed(tls_peer(&a, "nntps", a.nntps)) + &tcp_peer(&c)));
    // C is identified by A and B by address; A and B identify C's connections (from ::1) the same way.
    c.write_config(&(compressed(tcp_peer(&a)) + &tcp_peer(&b)));
    let mut nodes = [a.start(), b.start(), c.start()];
    let addrs = [a.plain(), b.plain(), c.plain()];
    let names = [&a.name, &b.name, &c.name];

    let tag = run_tag("mesh");
    let per_node = 20;
    let mut ids = Vec::new();
    for k in 0..per_node {
        for (n, addr) in addrs.iter().enumerate() {
            let id = format!("<{k}.{n}.{tag}@mesh.example>");
            post(*addr, &id, &format!("mesh {k} posted at node {n}"));
            ids.push(id);
        }
    }
    let m = ids.len();
    for (n, addr) in addrs.iter().enumerate() {
        let mut r = Raw::open(*addr);
        poll_until(
            &format!("every article at {}", names[n]),
            || r.stat_count(&ids) == m,
            || {
                nodes
                    .iter()
                    .map(Daemon::stderr)
                    .collect::<Vec<_>>()
                    .join("\n----\n")
            },
        );
        assert_eq!(r.group_count(GROUP), m as u64, "{}: a duplicate", names[n]);
    }
    // Let the remaining (duplicate) offers be answered, then stop and read the counters.
    std::thread::sleep(Duration::from_millis(500));
    let mut accepted = 0;
    let mut report = Vec::new();
    for (n, d) in nodes.iter_mut().enumerate() {
        assert!(d.stop(), "{}", d.stderr());
        // the compressed links were compressed (A took COMPRESS DEFLATE from B and C)
        assert!(
            !d.stderr().contains("does not take COMPRESS"),
            "{}: {}",
            names[n],
            d.stderr()
        );
        for (o, other) in names.iter().enumerate() {
            if o == n {
                continue;
            }
            let cnt = feed_stopped(&d.stderr(), other)
                .unwrap_or_else(|| panic!("no counters for {other}:\n{}", d.stderr()));
            // Every link carried articles: on the TLS links, the pinned certificates were
            // checked and the client certificate identified the feeder.
            assert!(
                cnt[0] > 0,
                "{} -> {other} offered nothing: {cnt:?}",
                names[n]
            );
            assert!(
                cnt[1] + cnt[2] + cnt[3] > 0,
                "{} -> {other} got no answers: {cnt:?}\n{}",
                names[n],
                d.stderr()
            );
            accepted += cnt[1];
            report.push(format!("{} -> {other}: {cnt:?}", names[n]));
        }
    }
    assert_eq!(
        accepted,
        2 * m as u64,
        "each article must be accepted exactly once by each other node: {report:#?}"
    );
}

#[test]
fn peer_down_then_back_gets_its_whole_backlog_once() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (Node::new(t.path(), "a"), Node::new(t.path(), "b"));
    // Reconnection attempts at most 2 s apart: under a loaded machine B can take long to come
    // back, and A's back-off (doubling up to 120 s by default) could then outlast the wait.
    a.write_config(&format!(
        "[[peer]]\nname = \"{}\"\naddr = \"[::1]:{}\"\nmax_reconnect_secs = 2\n\n",
        b.name, b.plain6
    ));
    b.write_config(&format!(
        "[[peer]]\nname = \"{}\"\naccept_from = [\"::1/128\"]\n\n",
        a.name
    ));
    let mut da = a.start();
    let mut db = b.start();
    let tag = run_tag("backlog");
    let mut ids = Vec::new();
    for i in 0..10 {
        let id = format!("<before.{i}.{tag}@mesh.example>");
        post(a.plain(), &id, "before");
        ids.push(id);
    }
    let mut r = Raw::open(b.plain());
    poll_until(
        "the first articles at B",
        || r.stat_count(&ids) == ids.len(),
        || da.stderr(),
    );
    drop(r);
    assert!(db.stop(), "{}", db.stderr());

    // B is down: A queues, retries and backs off.
    for i in 0..300 {
        let id = format!("<during.{i}.{tag}@mesh.example>");
        post(a.plain(), &id, "while B is down");
        ids.push(id);
    }
    std::thread::sleep(Duration::from_secs(3));
    // A's status says so: no connection up, a connection failure, the backlog queued.
    let (ok, out, err) = da.admin(&["feed", "status"], "");
    assert!(ok, "feed status: {err}");
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{} ", b.name)))
        .unwrap_or_default()
        .to_owned();
    assert!(
        field(&line, "up").is_some_and(|u| u.starts_with("0/")),
        "{line}"
    );
    assert!(line.contains(" last_error=\""), "{line}");
    assert_eq!(field(&line, "queued"), Some("300"), "{line}");
    let mut db = b.start();
    let mut r = Raw::open(b.plain());
    poll_until(
        "B's backlog",
        || r.stat_count(&ids) == ids.len(),
        || format!("{}\n----\n{}", da.stderr(), db.stderr()),
    );
    assert_eq!(
        r.group_count(GROUP),
        ids.len() as u64,
        "an article twice at B"
    );
    drop(r);
    // B stores an article before it acknowledges it: wait for A to have every answer (its
    // queue empty) before B goes down again, or A rightly keeps the unanswered ones.
    let want = format!("{} ", b.name);
    let mut status = String::new();
    poll_until(
        "A's queue for B to empty",
        || {
            let (ok, out, err) = da.admin(&["feed", "status"], "");
            assert!(ok, "feed status: {err}");
            status = out
                .lines()
                .find(|l| l.starts_with(&want))
                .unwrap_or("")
                .to_owned();
            field(&status, "queued") == Some("0")
        },
        || format!("{}\n----\n{}", da.stderr(), db.stderr()),
    );
    assert_eq!(
        field(&status, "accepted"),
        Some(ids.len().to_string().as_str()),
        "A's live counters: {status}"
    );
    // the connections that delivered the backlog are still up (they close after idling)
    assert!(
        field(&status, "up").is_some_and(|u| !u.starts_with("0/")),
        "{status}"
    );
    assert!(db.stop());
    assert!(da.stop(), "{}", da.stderr());
    let cnt = feed_stopped(&da.stderr(), &b.name).expect("A's counters");
    assert_eq!(cnt[1], ids.len() as u64, "accepted: {cnt:?}");
    assert_eq!(cnt[4], 0, "queue not empty: {cnt:?}");
    // With A stopped, `feed status` reads the queue depths from the store.
    let (ok, out, err) = a.admin(&["feed", "status"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("server not running"), "{out}");
    assert!(out.contains(&format!("{} queued=0", b.name)), "{out}");
}

/// The value of `key=value` in a `feed status` line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split(' ')
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}
