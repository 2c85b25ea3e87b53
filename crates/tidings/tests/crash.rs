//! Crash test of the whole daemon: a peer streams TAKETHIS and a reader POSTs while the
//! server is killed with SIGKILL at a random moment; after a restart on the same data
//! directory every article that was acknowledged (239 or 240) is there, byte for byte.
//! (A killed process leaves the page cache behind, so this checks that no acknowledgement
//! comes before the article is written and indexed; that the fsyncs come before the commit is
//! the storage engine's write protocol, docs/storage-format.md.)
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Client, Daemon};

/// The body of an article, from its id alone (a dot-stuffed line included).
fn body(id: &str) -> Vec<String> {
    let n = id.len();
    vec![
        format!("first line of {id}"),
        ".a line that starts with a dot".to_owned(),
        format!("{n} {}", "x".repeat(n * 7 % 300)),
        String::new(),
        "last".to_owned(),
    ]
}

fn wire(id: &str, path: &str) -> String {
    let mut s = format!(
        "Path: {path}\r\nFrom: Crash <crash@example.org>\r\nNewsgroups: misc.test\r\n\
         Subject: {id}\r\nDate: {}\r\nMessage-ID: {id}\r\n\r\n",
        tidings_article::format_date(tidings_reader::system_clock())
    );
    for l in body(id) {
        if l.starts_with('.') {
            s.push('.');
        }
        s.push_str(&l);
        s.push_str("\r\n");
    }
    s
}

fn config(data_dir: &std::path::Path) -> String {
    // durable acknowledgements (the default), unlike the other end-to-end tests
    common::test_config(
        data_dir,
        "[[peer]]\nname = \"peer.example\"\naccept_from = [\"127.0.0.1/32\"]\n",
    )
    .replace("durable = false", "durable = true")
}

/// Streams TAKETHIS in windows of 20 until the connection breaks; records each 239.
async fn stream(addr: std::net::SocketAddr, round: u32, acked: Arc<Mutex<Vec<String>>>) {
    let mut c = Client::connect(addr).await;
    if !c.line().await.starts_with("200") || !c.cmd("MODE STREAM").await.starts_with("203") {
        return;
    }
    for batch in 0..10_000u32 {
        let ids: Vec<String> = (0..20)
            .map(|i| format!("<t{round}.{batch}.{i}@crash.example>"))
            .collect();
        let mut text = String::new();
        for id in &ids {
            text.push_str(&format!(
                "TAKETHIS {id}\r\n{}.\r\n",
                wire(id, "peer.example!o")
            ));
        }
        c.send(&text).await;
        for id in &ids {
            let r = c.line().await;
            if r.is_empty() {
                return;
            }
            if r == format!("239 {id}") {
                acked.lock().unwrap().push(id.clone());
            }
        }
    }
}

/// POSTs one article after another until the connection breaks; records each 240.
async fn post(addr: std::net::SocketAddr, round: u32, acked: Arc<Mutex<Vec<String>>>) {
    let mut c = Client::connect(addr).await;
    if !c.line().await.starts_with("20") {
        return;
    }
    for i in 0..10_000u32 {
        let id = format!("<p{round}.{i}@crash.example>");
        if !c.cmd("POST").await.starts_with("340") {
            return;
        }
        let text = wire(&id, "not-for-mail");
        c.send(&format!("{text}.\r\n")).await;
        if c.line().await.starts_with("240") {
            acked.lock().unwrap().push(id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_articles_survive_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let cfg = tmp.path().join("tidings.toml");
    std::fs::write(&cfg, config(&data_dir)).unwrap();
    let args = ["serve", "--config", cfg.to_str().unwrap()];
    let mut all: Vec<String> = Vec::new();
    // The kill comes this long after the first 20 acknowledgements of the round.
    for (round, kill_after_ms) in [(0u32, 0u64), (1, 250), (2, 40)] {
        let mut d = Daemon::spawn(tmp.path(), data_dir.clone(), cfg.clone(), &args);
        let acked = Arc::new(Mutex::new(Vec::new()));
        let tasks = [
            tokio::spawn(stream(d.addr("starttls"), round, Arc::clone(&acked))),
            tokio::spawn(post(d.addr("none"), round, Arc::clone(&acked))),
        ];
        for _ in 0..2000 {
            if acked.lock().unwrap().len() >= 20 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(kill_after_ms)).await;
        d.signal("KILL");
        let status = d.wait_exit(Duration::from_secs(10)).expect("not killed");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "{status:?}"
        );
        for t in tasks {
            // a client may panic on the broken connection; what it recorded stands
            let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
        }
        let acked = acked.lock().unwrap().clone();
        assert!(
            !acked.is_empty(),
            "round {round}: nothing acknowledged before the kill"
        );
        all.extend(acked);

        // Restart: everything acknowledged in this round and the earlier ones is there.
        let mut d = Daemon::spawn(tmp.path(), data_dir.clone(), cfg.clone(), &args);
        let mut c = Client::connect(d.addr("none")).await;
        assert!(c.line().await.starts_with("200"));
        for id in &all {
            let r = c.cmd(&format!("BODY {id}")).await;
            assert!(
                r.starts_with("222"),
                "round {round}: {id} acknowledged, then lost: {r}"
            );
            assert_eq!(c.block().await, body(id), "{id}");
        }
        assert!(c.cmd("QUIT").await.starts_with("205"));
        assert!(d.stop(), "{}", d.stderr());
        eprintln!("round {round}: {} acknowledged articles checked", all.len());
    }
    let out = common::admin(&cfg, &["check"], "");
    assert!(out.0, "check after the kills: {}\n{}", out.1, out.2);
}
