//! A real newsreader: tin, driven through tmux by tests/tin/drive.sh, lists the groups, reads
//! an article and posts a follow-up; the follow-up must be stored with the right References.
//! Needs `tin` and `tmux` (CI installs them); without them the test fails in CI and is skipped
//! with a note elsewhere.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Client, Daemon};

fn have(tool: &str, arg: &str) -> bool {
    Command::new(tool)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success() || !o.stdout.is_empty() || !o.stderr.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tin_reads_and_follows_up() {
    if !(have("tin", "-V") && have("tmux", "-V")) {
        assert!(
            std::env::var_os("CI").is_none(),
            "tin and tmux are required in CI (.ci/run installs them)"
        );
        eprintln!("note: tin or tmux not installed; skipping the tin test");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start(tmp.path(), "");
    let addr = d.addr("starttls");
    let mut c = Client::connect(addr).await;
    c.line().await;
    let r = c
        .post(&[
            "From: Orig <orig@example.org>",
            "Newsgroups: local.test",
            "Subject: tin original",
            "Message-ID: <orig.1@example.org>",
            "",
            "Original body text.",
        ])
        .await;
    assert!(r.starts_with("240"), "{r}");

    let home = tmp.path().join("tin-home");
    std::fs::create_dir_all(&home).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tin/drive.sh");
    let out = tokio::task::spawn_blocking({
        let home = home.clone();
        move || {
            Command::new("bash")
                .arg(script)
                .arg(addr.ip().to_string())
                .arg(addr.port().to_string())
                .arg(&home)
                .arg("tin original")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let screens = std::fs::read_to_string(home.join("screens.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "tin driver failed: {}\nscreens:\n{screens}\nserver:\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.stderr()
    );
    assert!(screens.contains("local.test"), "group list: {screens}");

    // The follow-up is stored, threaded under the original.
    let r = c.cmd("GROUP local.test").await;
    assert!(r.starts_with("211 2 1 2"), "{r}");
    assert!(c.cmd("OVER 2").await.starts_with("224"));
    let over = c.block().await;
    let fields: Vec<&str> = over[0].split('\t').collect();
    assert_eq!(fields[1], "Re: tin original", "{over:?}");
    assert_eq!(fields[5], "<orig.1@example.org>", "{over:?}");
    assert!(c.cmd("ARTICLE 2").await.starts_with("220"));
    let art = c.block().await;
    assert!(
        art.iter().any(|l| l == "References: <orig.1@example.org>"),
        "{art:?}"
    );
    assert!(
        art.iter().any(|l| l == "Follow-up body from tin."),
        "{art:?}"
    );
}
