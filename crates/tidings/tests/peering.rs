//! End-to-end: a configured peer streams articles on the port readers use; others may not.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;

fn article(id: &str) -> String {
    let date = tidings_article::format_date(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )
        .unwrap(),
    );
    format!(
        "Path: peer.example!origin\r\nFrom: Joe <joe@example.org>\r\nNewsgroups: misc.test\r\n\
         Subject: fed {id}\r\nDate: {date}\r\nMessage-ID: {id}\r\n\r\nbody of {id}\r\n..dot\r\n.\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_streams_on_the_reader_port_and_non_peers_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Daemon::start(
        tmp.path(),
        "[[peer]]\nname = \"peer.example\"\naccept_from = [\"127.0.0.1/32\"]\n",
    );
    // The peer (127.0.0.1) on the STARTTLS port, which readers use too.
    let mut c = Client::connect(d.addr("starttls")).await;
    assert!(c.line().await.starts_with("200"));
    assert!(c.cmd("GROUP misc.test").await.starts_with("211 0 "));
    assert!(c.cmd("CAPABILITIES").await.starts_with("101"));
    let caps = c.block().await;
    assert!(caps.iter().any(|l| l == "IHAVE"), "{caps:?}");
    assert!(caps.iter().any(|l| l == "STREAMING"), "{caps:?}");
    let mut batch = String::from("MODE STREAM\r\n");
    for i in 0..20 {
        let id = format!("<e2e.{i}@example.org>");
        batch.push_str(&format!("CHECK {id}\r\nTAKETHIS {id}\r\n{}", article(&id)));
    }
    c.send(&batch).await;
    assert!(c.line().await.starts_with("203"));
    for i in 0..20 {
        assert_eq!(c.line().await, format!("238 <e2e.{i}@example.org>"));
        assert_eq!(c.line().await, format!("239 <e2e.{i}@example.org>"));
    }
    assert!(c.cmd("IHAVE <e2e.3@example.org>").await.starts_with("435"));
    // Back to reading on the same connection.
    assert!(c.cmd("MODE READER").await.starts_with("20"));
    assert!(
        c.cmd("ARTICLE <e2e.7@example.org>")
            .await
            .starts_with("220")
    );
    let art = c.block().await;
    assert!(
        art.iter()
            .any(|l| l == "Path: test.tidings.invalid!peer.example!origin"),
        "{art:?}"
    );
    assert!(art.iter().any(|l| l == ".dot"), "{art:?}");
    assert!(c.cmd("GROUP misc.test").await.starts_with("211 20 "));
    assert!(c.cmd("QUIT").await.starts_with("205"));

    // A non-peer ([::1] is not in accept_from): 502, and nothing advertised.
    let mut n = Client::connect(d.addr("none")).await;
    assert!(n.line().await.starts_with("20"));
    assert!(n.cmd("IHAVE <x@example.org>").await.starts_with("502"));
    assert!(n.cmd("MODE STREAM").await.starts_with("502"));
    // TAKETHIS: the article that follows is read and dropped, not taken for commands (its
    // lines here would be QUIT and POST); also with a bad argument.
    let evil = "Path: x\r\nMessage-ID: <t@example.org>\r\n\r\nQUIT\r\nPOST\r\n.\r\n";
    n.send(&format!(
        "TAKETHIS <t@example.org>\r\n{evil}TAKETHIS bad\r\n{evil}"
    ))
    .await;
    assert!(n.line().await.starts_with("502"));
    assert!(n.line().await.starts_with("502"));
    assert!(n.cmd("DATE").await.starts_with("111"));
    assert!(n.cmd("CAPABILITIES").await.starts_with("101"));
    let caps = n.block().await;
    assert!(
        !caps.iter().any(|l| l == "IHAVE" || l == "STREAMING"),
        "{caps:?}"
    );
    assert!(d.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transit_user_gets_480_before_authinfo() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        tmp.path(),
        "[[peer]]\nname = \"peer.example\"\nuser = \"feeder\"\n",
    );
    let mut n = Client::connect(d.addr("none")).await;
    assert!(n.line().await.starts_with("20"));
    assert!(n.cmd("IHAVE <x@example.org>").await.starts_with("480"));
    n.send("TAKETHIS <x@example.org>\r\nPath: x\r\n\r\nQUIT\r\n.\r\n")
        .await;
    assert!(n.line().await.starts_with("480"));
    assert!(n.cmd("DATE").await.starts_with("111"));
}
