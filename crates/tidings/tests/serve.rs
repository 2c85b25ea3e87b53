//! End-to-end tests of `tidings serve`: the real binary, a temporary data directory,
//! ephemeral loopback ports (IPv4 and IPv6), raw NNTP over plain TCP, STARTTLS and NNTPS.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::{Client, Daemon, WAIT};

fn article(subject: &str, mid: &str, body: &str) -> Vec<String> {
    vec![
        "From: Tester <tester@example.org>".to_owned(),
        "Newsgroups: local.test".to_owned(),
        format!("Subject: {subject}"),
        format!("Message-ID: {mid}"),
        String::new(),
        body.to_owned(),
    ]
}

fn lines(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_flow_over_plain_starttls_nntps_and_ipv6() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Daemon::start(tmp.path(), "");
    assert!(
        d.stdout
            .iter()
            .any(|l| l == "pathhost test.tidings.invalid")
    );
    let (ok, out, err) = d.admin(&["user", "add", "alice", "--password-stdin"], "s3cret\n");
    assert!(ok, "{out}{err}");

    // Plain, on the STARTTLS port.
    let mut c = Client::connect(d.addr("starttls")).await;
    let greeting = c.line().await;
    assert!(greeting.starts_with("200"), "{greeting}");
    assert!(greeting.contains("test.tidings.invalid"), "{greeting}");
    assert!(c.cmd("CAPABILITIES").await.starts_with("101"));
    let caps = c.block().await;
    assert!(caps.iter().any(|l| l == "STARTTLS"), "{caps:?}");
    assert!(c.cmd("AUTHINFO USER alice").await.starts_with("483"));
    let r = c.cmd("GROUP local.test").await;
    assert!(r.starts_with("211 0 "), "{r}");
    let posted = article("wiring test", "<wiring.1@example.org>", "Hello, world.");
    let r = c.post(&lines(&posted)).await;
    assert!(r.starts_with("240"), "{r}");
    let r = c.cmd("ARTICLE <wiring.1@example.org>").await;
    assert!(r.starts_with("220"), "{r}");
    let art = c.block().await;
    assert!(art.iter().any(|l| l == "Subject: wiring test"), "{art:?}");
    assert!(
        art.iter()
            .any(|l| l.starts_with("Path: test.tidings.invalid")),
        "{art:?}"
    );
    assert_eq!(art.last().unwrap(), "Hello, world.");
    let r = c.cmd("GROUP local.test").await;
    assert!(r.starts_with("211 1 1 1 local.test"), "{r}");
    let r = c.cmd("OVER 1").await;
    assert!(r.starts_with("224"), "{r}");
    let over = c.block().await;
    assert_eq!(over.len(), 1);
    assert!(over[0].starts_with("1\twiring test\t"), "{over:?}");
    let r = c.cmd("LIST").await;
    assert!(r.starts_with("215"), "{r}");
    let list = c.block().await;
    for g in ["local.general", "local.test", "misc.test", "junk"] {
        assert!(
            list.iter().any(|l| l.starts_with(&format!("{g} "))),
            "{g} in {list:?}"
        );
    }

    // STARTTLS, then AUTHINFO (the user was added through the control socket).
    let trust = d.trust();
    let mut c = c.starttls(&trust).await;
    assert!(c.is_tls());
    assert!(c.cmd("CAPABILITIES").await.starts_with("101"));
    let caps = c.block().await;
    assert!(!caps.iter().any(|l| l == "STARTTLS"), "{caps:?}");
    assert!(c.cmd("AUTHINFO USER alice").await.starts_with("381"));
    let r = c.cmd("AUTHINFO PASS wrong").await;
    assert!(r.starts_with("481"), "{r}");
    assert!(c.cmd("AUTHINFO USER alice").await.starts_with("381"));
    let r = c.cmd("AUTHINFO PASS s3cret").await;
    assert!(r.starts_with("281"), "{r}");
    assert!(c.cmd("QUIT").await.starts_with("205"));

    // NNTPS: TLS from the first byte.
    let mut s = Client::connect_tls(d.addr("implicit"), &trust).await;
    assert!(s.is_tls());
    assert!(s.line().await.starts_with("200"));
    let r = s.cmd("GROUP local.test").await;
    assert!(r.starts_with("211 1 "), "{r}");
    let r = s.cmd("ARTICLE 1").await;
    assert!(r.starts_with("220 1 <wiring.1@example.org>"), "{r}");
    s.block().await;
    assert!(s.cmd("QUIT").await.starts_with("205"));

    // IPv6, plain.
    let mut v6 = Client::connect(d.addr("none")).await;
    assert!(v6.line().await.starts_with("200"));
    assert!(v6.cmd("DATE").await.starts_with("111"));
    assert!(
        v6.cmd("STAT <wiring.1@example.org>")
            .await
            .starts_with("223")
    );

    // A session that is open at shutdown is told so and closed; the exit is clean.
    let exited = {
        let start = Instant::now();
        let ok = d.stop();
        assert!(start.elapsed() < Duration::from_secs(15));
        ok
    };
    assert!(exited, "stderr:\n{}", d.stderr());
    let bye = v6.line().await;
    assert!(bye.is_empty() || bye.starts_with("400"), "{bye}");

    // The article survives a restart.
    let d = Daemon::start(tmp.path(), "");
    let mut c = Client::connect(d.addr("starttls")).await;
    c.line().await;
    assert!(
        c.cmd("STAT <wiring.1@example.org>")
            .await
            .starts_with("223")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_reload_on_sighup_keeps_sessions() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start(tmp.path(), "");
    let old = d.trust();
    let mut kept = Client::connect_tls(d.addr("implicit"), &old).await;
    assert!(kept.line().await.starts_with("200"));

    // A new self-signed pair replaces the files.
    let other = tmp.path().join("newcert");
    tidings_net::tls::ensure_self_signed(&other, "localhost").unwrap();
    std::fs::copy(other.join("key.pem"), d.data_dir.join("key.pem")).unwrap();
    std::fs::copy(other.join("cert.pem"), d.data_dir.join("cert.pem")).unwrap();
    d.signal("HUP");
    let new = d.trust();
    let deadline = Instant::now() + WAIT;
    loop {
        // Handshakes pinned to the new certificate succeed once it is loaded.
        let tcp = tokio::net::TcpStream::connect(d.addr("implicit"))
            .await
            .unwrap();
        let connector = tidings_net::tls::connector(&new, None).unwrap();
        let name = tidings_net::tls::server_name("localhost").unwrap();
        if tidings_net::Stream::connect_tls(tcp, &connector, name, WAIT)
            .await
            .is_ok()
        {
            break;
        }
        assert!(Instant::now() < deadline, "new certificate never served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The session made with the old certificate still works.
    assert!(kept.cmd("DATE").await.starts_with("111"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_address_limit_refuses_with_400_and_stays_responsive() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start(tmp.path(), "[limits]\nmax_per_address = 2\n");
    let addr = d.addr("starttls");
    let mut a = Client::connect(addr).await;
    assert!(a.line().await.starts_with("200"));
    let mut b = Client::connect(addr).await;
    assert!(b.line().await.starts_with("200"));
    let mut c = Client::connect(addr).await;
    let refused = c.line().await;
    assert!(refused.starts_with("400"), "{refused}");
    // The limit is per server, not per listener.
    let mut t = Client::connect_tls(d.addr("implicit"), &d.trust()).await;
    assert!(t.line().await.starts_with("400"));
    assert!(a.cmd("DATE").await.starts_with("111"));
    assert!(b.cmd("DATE").await.starts_with("111"));
    // A slot frees when a session ends.
    assert!(a.cmd("QUIT").await.starts_with("205"));
    drop(a);
    let deadline = Instant::now() + WAIT;
    loop {
        let mut n = Client::connect(addr).await;
        if n.line().await.starts_with("200") {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_does_not_slow_another() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start(tmp.path(), "");
    let addr = d.addr("starttls");
    let mut poster = Client::connect(addr).await;
    poster.line().await;
    let big = "x".repeat(70);
    let body: Vec<String> = (0..8000).map(|i| format!("{i} {big}")).collect();
    let mut art = article("big", "<big.1@example.org>", "");
    art.pop();
    art.extend(body);
    let r = poster.post(&lines(&art)).await;
    assert!(r.starts_with("240"), "{r}");

    // The slow client asks for the ~600 KB article many times and never reads.
    let mut slow = Client::connect(addr).await;
    slow.line().await;
    let mut burst = String::new();
    for _ in 0..64 {
        burst.push_str("ARTICLE <big.1@example.org>\r\n");
    }
    slow.send(&burst).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut quick = Client::connect(addr).await;
    let start = Instant::now();
    assert!(quick.line().await.starts_with("200"));
    for _ in 0..20 {
        assert!(quick.cmd("DATE").await.starts_with("111"));
        assert!(quick.cmd("GROUP local.test").await.starts_with("211"));
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the quick client took {:?}",
        start.elapsed()
    );
    drop(slow);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start(tmp.path(), "[limits]\nidle_timeout_secs = 1\n");
    let mut c = Client::connect(d.addr("starttls")).await;
    assert!(c.line().await.starts_with("200"));
    let start = Instant::now();
    let bye = c.line().await;
    assert!(bye.is_empty() || bye.starts_with("400"), "{bye}");
    assert!(c.line().await.is_empty(), "connection not closed");
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_stop_signal_ends_a_slow_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Daemon::start(tmp.path(), "[limits]\ndrain_timeout_secs = 60\n");
    let mut c = Client::connect(d.addr("none")).await;
    assert!(c.line().await.starts_with("200"));
    // A POST in the middle of its article holds the graceful stop (up to the drain timeout).
    assert!(c.cmd("POST").await.starts_with("340"));
    c.send("Newsgroups: misc.test\r\n").await;
    d.signal("TERM");
    assert_eq!(
        d.wait_exit(Duration::from_millis(500)),
        None,
        "the first signal waits for the session"
    );
    d.signal("TERM");
    let status = d.wait_exit(Duration::from_secs(10)).expect("still running");
    assert_eq!(status.code(), Some(130));
}
