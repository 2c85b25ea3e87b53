//! End-to-end: a POST on node A is queued for its `[[peer]]` B and streamed to it.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_on_a_is_fed_to_b() {
    // B: takes transit from A (identified by address)
    let tb = tempfile::tempdir().unwrap();
    let b_data = tb.path().join("data");
    let b_conf = tb.path().join("tidings.toml");
    let text = test_config(
        &b_data,
        "[[peer]]\nname = \"test.tidings.invalid\"\naccept_from = [\"127.0.0.1/32\"]\n",
    )
    .replace(
        "pathhost = \"test.tidings.invalid\"",
        "pathhost = \"b.tidings.invalid\"",
    );
    std::fs::write(&b_conf, text).unwrap();
    let mut b = Daemon::spawn(
        tb.path(),
        b_data,
        b_conf.clone(),
        &["serve", "--config", b_conf.to_str().unwrap()],
    );
    let b_addr = b.addr("starttls");

    // A: feeds B over plain TCP (B's STARTTLS port also speaks plain NNTP)
    let ta = tempfile::tempdir().unwrap();
    let mut a = Daemon::start(
        ta.path(),
        &format!("[[peer]]\nname = \"b.tidings.invalid\"\naddr = \"{b_addr}\"\nconnections = 1\n"),
    );
    let mut c = Client::connect(a.addr("none")).await;
    assert!(c.line().await.starts_with("20"));
    for (id, group) in [
        ("<fed.1@example.org>", "misc.test"),
        ("<local.1@example.org>", "local.test"),
        ("<fed.2@example.org>", "misc.test"),
    ] {
        let subject = format!("Subject: {id}");
        let mid = format!("Message-ID: {id}");
        let ng = format!("Newsgroups: {group}");
        let r = c
            .post(&[
                "From: Joe <joe@example.org>",
                &ng,
                &subject,
                &mid,
                "",
                "hello",
                ".dot line",
            ])
            .await;
        assert!(r.starts_with("240"), "{r}");
    }

    let mut r = Client::connect(b.addr("none")).await;
    assert!(r.line().await.starts_with("20"));
    let mut got = false;
    for _ in 0..200 {
        if r.cmd("STAT <fed.2@example.org>").await.starts_with("223") {
            got = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(got, "not fed to B; A's log:\n{}", a.stderr());
    assert!(
        r.cmd("ARTICLE <fed.1@example.org>")
            .await
            .starts_with("220")
    );
    let art = r.block().await;
    assert!(
        art.iter()
            .any(|l| l.starts_with("Path: b.tidings.invalid!test.tidings.invalid!")),
        "{art:?}"
    );
    assert!(art.iter().any(|l| l == ".dot line"), "{art:?}");
    // local.* is not in the peer's default groups
    assert!(r.cmd("STAT <local.1@example.org>").await.starts_with("430"));
    assert!(a.stop());
    assert!(b.stop());
    assert!(a.stderr().contains("feed stopped"), "{}", a.stderr());
}
