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
