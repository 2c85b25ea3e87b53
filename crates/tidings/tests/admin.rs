//! Admin commands with the server running (through the control socket) and stopped (on the
//! store directly), and the no-configuration start.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::Path;

use common::{Client, Daemon, admin};

fn ok(r: (bool, String, String)) -> String {
    assert!(r.0, "stdout:\n{}\nstderr:\n{}", r.1, r.2);
    r.1
}

fn group_names(list: &str) -> Vec<String> {
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// group add/list/rm and user add/list/rm against `config`.
fn exercise(config: &Path, suffix: &str) {
    let g = format!("local.admin{suffix}");
    let out = ok(admin(
        config,
        &[
            "group",
            "add",
            &g,
            "--status",
            "m",
            "--description",
            "Admin test group",
        ],
        "",
    ));
    assert!(out.contains(&format!("added group {g}")), "{out}");
    let list = ok(admin(config, &["group", "list"], ""));
    let line = list
        .lines()
        .find(|l| l.starts_with(&format!("{g} ")))
        .unwrap();
    assert!(
        line.contains(" m ") && line.ends_with("Admin test group"),
        "{line}"
    );
    // Duplicates and bad names are errors.
    let (dup, _, err) = admin(config, &["group", "add", &g], "");
    assert!(!dup && err.contains("exists"), "{err}");
    let (bad, _, _) = admin(config, &["group", "add", "bad name"], "");
    assert!(!bad);
    ok(admin(config, &["group", "rm", &g], ""));
    assert!(!group_names(&ok(admin(config, &["group", "list"], ""))).contains(&g));
    let (gone, _, _) = admin(config, &["group", "rm", &g], "");
    assert!(!gone);

    let u = format!("bob{suffix}");
    ok(admin(
        config,
        &["user", "add", &u, "--password-stdin"],
        "pw\n",
    ));
    assert!(
        ok(admin(config, &["user", "list"], ""))
            .lines()
            .any(|l| l == u)
    );
    ok(admin(config, &["user", "rm", &u], ""));
    assert!(
        !ok(admin(config, &["user", "list"], ""))
            .lines()
            .any(|l| l == u)
    );
    let (gone, _, _) = admin(config, &["user", "rm", &u], "");
    assert!(!gone);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_running_and_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Daemon::start(tmp.path(), "[[access]]\nusers = [\"*\"]\n");
    let sock = d.data_dir.join("control.sock");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&sock).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    exercise(&d.config, "1");

    // A group added through the socket is visible to readers at once; a user added through
    // the socket can log in at once (only authenticated users may read here).
    ok(d.admin(&["group", "add", "local.live"], ""));
    ok(d.admin(&["user", "add", "carol", "--password-stdin"], "pw\n"));
    let mut c = Client::connect(d.addr("none")).await;
    c.line().await;
    assert!(c.cmd("GROUP local.live").await.starts_with("480"));
    assert!(c.cmd("AUTHINFO USER carol").await.starts_with("381"));
    assert!(c.cmd("AUTHINFO PASS pw").await.starts_with("281"));
    assert!(c.cmd("GROUP local.live").await.starts_with("211"));
    drop(c);

    assert!(d.stop(), "{}", d.stderr());
    assert!(!sock.exists(), "control socket left behind");
    exercise(&d.config, "2");
    // Changes made while stopped are there at the next start.
    ok(admin(&d.config, &["group", "add", "local.offline"], ""));
    let d = Daemon::start(tmp.path(), "[[access]]\nusers = [\"*\"]\n");
    let names = group_names(&ok(d.admin(&["group", "list"], "")));
    assert!(names.contains(&"local.offline".to_owned()), "{names:?}");
    assert!(names.contains(&"local.live".to_owned()), "{names:?}");
    assert!(
        ok(d.admin(&["user", "list"], ""))
            .lines()
            .any(|l| l == "carol")
    );
}

#[test]
fn starts_on_defaults_in_an_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    // Default ports, but only if they are free here.
    let free = ["127.0.0.1:1119", "127.0.0.1:1563"]
        .iter()
        .all(|a| std::net::TcpListener::bind(a).is_ok());
    if !free {
        eprintln!("note: 127.0.0.1:1119 or :1563 is busy; skipping the no-config start");
        return;
    }
    let data_dir = tmp.path().join("tidings-data");
    let mut d = Daemon::spawn(
        tmp.path(),
        data_dir.clone(),
        tmp.path().join("none"),
        &["serve"],
    );
    let addrs: Vec<String> = d
        .listeners
        .iter()
        .map(|(m, a)| format!("{m} {a}"))
        .collect();
    assert_eq!(
        addrs,
        ["starttls 127.0.0.1:1119", "implicit 127.0.0.1:1563"]
    );
    assert!(data_dir.join("cert.pem").exists() && data_dir.join("key.pem").exists());
    assert!(d.stdout.iter().any(|l| l.starts_with("pathhost ")));
    // Admin commands without --config find ./tidings-data too.
    let out = std::process::Command::new(common::bin())
        .args(["group", "list"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout).into_owned();
    for g in [
        "local.general",
        "local.test",
        "misc.test",
        "control",
        "control.cancel",
        "junk",
    ] {
        assert!(group_names(&list).contains(&g.to_owned()), "{g} in {list}");
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut c = Client::connect(d.addr("starttls")).await;
        assert!(c.line().await.starts_with("200"));
        let mut s = Client::connect_tls(d.addr("implicit"), &d.trust()).await;
        assert!(s.line().await.starts_with("200"));
    });
    assert!(d.stop(), "{}", d.stderr());
}

#[test]
fn no_subcommand_prints_help() {
    let out = std::process::Command::new(common::bin()).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("serve") && text.contains("group"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_tools_cancel_expire_check_rebuild_and_group_set() {
    let tmp = tempfile::tempdir().unwrap();
    // An admin command does not create a store where there is none.
    let cfg = tmp.path().join("empty.toml");
    std::fs::write(
        &cfg,
        common::test_config(&tmp.path().join("nothing-here"), ""),
    )
    .unwrap();
    let (made, _, err) = admin(&cfg, &["group", "list"], "");
    assert!(!made && err.contains("no store"), "{err}");
    assert!(!tmp.path().join("nothing-here").join("store").exists());

    let mut d = Daemon::start(tmp.path(), "");
    let mut c = Client::connect(d.addr("none")).await;
    assert!(c.line().await.starts_with("200"));
    let art = |id: &str, extra: &'static str| {
        vec![
            "From: a@example.org".to_owned(),
            "Newsgroups: misc.test".to_owned(),
            format!("Subject: {id}"),
            format!("Message-ID: {id}"),
            extra.to_owned(),
            String::new(),
            "body".to_owned(),
        ]
        .into_iter()
        .collect::<Vec<_>>()
    };
    for (id, extra) in [
        ("<keep@example.org>", "X-Note: kept"),
        ("<gone@example.org>", "X-Note: cancelled"),
        // Expires in the past: the next expiry pass removes it.
        (
            "<old@example.org>",
            "Expires: Mon, 01 Jan 2001 00:00:00 +0000",
        ),
    ] {
        let lines = art(id, extra);
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let r = c.post(&refs).await;
        assert!(r.starts_with("240"), "{id}: {r}");
    }
    // cancel, through the socket
    let out = ok(d.admin(&["cancel", "<gone@example.org>"], ""));
    assert!(out.contains("cancelled <gone@example.org>"), "{out}");
    assert!(c.cmd("STAT <gone@example.org>").await.starts_with("430"));
    let out = ok(d.admin(&["cancel", "<never@example.org>"], ""));
    assert!(out.contains("not stored here"), "{out}");
    let (bad, _, _) = d.admin(&["cancel", "no-brackets"], "");
    assert!(!bad);
    // expire, through the socket: the article whose Expires has passed goes
    assert!(c.cmd("STAT <old@example.org>").await.starts_with("223"));
    let out = ok(d.admin(&["expire"], ""));
    assert!(out.contains("removed_articles=1"), "{out}");
    assert!(c.cmd("STAT <old@example.org>").await.starts_with("430"));
    assert!(c.cmd("STAT <keep@example.org>").await.starts_with("223"));
    // check, through the socket
    let out = ok(d.admin(&["check"], ""));
    assert!(
        out.contains("problems=0") && out.lines().last() == Some("ok"),
        "{out}"
    );
    // group set
    let out = ok(d.admin(&["group", "set", "misc.test", "--status", "m"], ""));
    assert!(out.contains("changed group misc.test: m"), "{out}");
    assert!(c.cmd("LIST ACTIVE misc.test").await.starts_with("215"));
    let active = c.block().await;
    assert!(active[0].ends_with(" m"), "{active:?}");
    let (bad, _, err) = d.admin(&["group", "set", "misc.test", "--status", "q"], "");
    assert!(!bad && err.contains("bad status"), "{err}");
    let (none, _, _) = d.admin(&["group", "set", "misc.test"], "");
    assert!(!none);
    // rebuild refuses while the server runs
    let (rebuilt, _, err) = d.admin(&["rebuild"], "");
    assert!(!rebuilt && err.contains("stop it first"), "{err}");
    drop(c);
    assert!(d.stop(), "{}", d.stderr());

    // Stopped: check and rebuild on the store itself; the group's status survives.
    let out = ok(admin(&d.config, &["check"], ""));
    assert!(out.lines().last() == Some("ok"), "{out}");
    let out = ok(admin(&d.config, &["rebuild"], ""));
    assert!(out.contains("indexed="), "{out}");
    let d = Daemon::start(tmp.path(), "");
    let list = ok(d.admin(&["group", "list"], ""));
    assert!(
        list.lines().any(|l| l.starts_with("misc.test m ")),
        "{list}"
    );
    let mut c = Client::connect(d.addr("none")).await;
    assert!(c.line().await.starts_with("200"));
    assert!(c.cmd("STAT <keep@example.org>").await.starts_with("223"));
    assert!(c.cmd("STAT <gone@example.org>").await.starts_with("430"));
}
