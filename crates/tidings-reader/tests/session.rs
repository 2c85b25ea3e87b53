//! Reader session tests over loopback TCP.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::net::SocketAddr;

use common::*;
use tidings_proto::ReplyCode;
use tidings_reader::{ListenerSettings, ReaderConfig};

fn remote() -> SocketAddr {
    "192.0.2.10:5555".parse().unwrap()
}

async fn greeted(s: &Server) -> Client {
    let mut c = s.connect().await;
    let g = c.line().await;
    assert!(g.starts_with("200 news.test"), "{g}");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcript_reader() {
    let s = server(Options::default());
    seed(&s);
    let mut c = greeted(&s).await;
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts/reader.txt"),
    )
    .unwrap();
    let mut kind = None;
    let mut block: Option<String> = None;
    for (no, l) in text.lines().enumerate() {
        let no = no + 1;
        if let Some(cmd) = l.strip_prefix("C: ") {
            kind = tidings_proto::parse(cmd.as_bytes()).ok().map(|c| c.kind());
            c.send(format!("{cmd}\r\n").as_bytes()).await;
            block = None;
        } else if let Some(exp) = l.strip_prefix("S: ") {
            let reply = c.line().await;
            let (code, want) = exp.split_once(' ').unwrap_or((exp, ""));
            assert!(
                reply.starts_with(code) && reply.contains(want),
                "line {no}: expected {exp:?}, got {reply:?}"
            );
            let rc = ReplyCode(reply[..3].parse().unwrap());
            if rc.is_multiline(kind) {
                block = Some(String::from_utf8_lossy(&c.block().await).into_owned());
            }
        } else if let Some(want) = l.strip_prefix("B: ") {
            let b = block.as_deref().unwrap_or("");
            assert!(b.contains(want), "line {no}: block lacks {want:?}:\n{b}");
        } else if let Some(not) = l.strip_prefix("N: ") {
            let b = block.as_deref().unwrap_or("");
            assert!(!b.contains(not), "line {no}: block has {not:?}:\n{b}");
        }
    }
    assert!(c.until_closed().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_commands_answered_in_order() {
    let s = server(Options::default());
    seed(&s);
    let mut c = greeted(&s).await;
    let mut batch = String::from("GROUP misc.test\r\n");
    for i in 0..200 {
        batch.push_str(&format!("STAT {}\r\n", i % 5));
        batch.push_str("ARTICLE <a1@test>\r\n");
    }
    batch.push_str("QUIT\r\n");
    c.send(batch.as_bytes()).await;
    assert!(c.line().await.starts_with("211"));
    for i in 0..200 {
        let r = c.line().await;
        match i % 5 {
            1..=3 => assert!(r.starts_with(&format!("223 {}", i % 5)), "{r}"),
            _ => assert!(r.starts_with("423"), "{r}"),
        }
        let r = c.line().await;
        assert!(r.starts_with("220 0 <a1@test>"), "{r}");
        c.block().await;
    }
    assert!(c.line().await.starts_with("205"));
}

fn binary_body() -> Vec<u8> {
    let mut body =
        b".leading dot\r\n..two dots\r\n.\r\nnul:\x00:end\r\n8bit \xe9\xff\x80\r\n".to_vec();
    body.extend((0u8..=255).filter(|&b| b != b'\r' && b != b'\n'));
    body.extend_from_slice(b"\r\nbare\rcr and bare\nlf\r\n");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_then_article_is_byte_exact_and_injected() {
    let s = server(Options::default());
    let mut c = greeted(&s).await;
    let body = binary_body();
    // Xref is the server's to set: refused, as INN does.
    let r = c
        .post(&article(
            "misc.test",
            "x",
            "Xref: bogus misc.test:99\r\n",
            b"b\r\n",
        ))
        .await;
    assert!(r.starts_with("441") && r.contains("Xref"), "{r}");
    let art = article("misc.test", "Binary \u{e9}", "", &body);
    let r = c.post(&art).await;
    assert!(r.starts_with("240"), "{r}");
    let id = r.split_whitespace().last().unwrap().to_owned();
    assert!(id.starts_with('<') && id.ends_with("@news.test>"), "{id}");
    assert!(c.cmd("GROUP misc.test").await.starts_with("211 1 1 1"));
    let r = c.cmd("BODY 1").await;
    assert!(r.starts_with(&format!("222 1 {id}")), "{r}");
    assert_eq!(c.block().await, body);
    let r = c.cmd(&format!("ARTICLE {id}")).await;
    assert!(r.starts_with("220 0"), "{r}");
    let full = c.block().await;
    let (head, b) = tidings_proto::split_header_body(&full);
    assert_eq!(b, &body[..]);
    let head = String::from_utf8_lossy(head);
    assert!(
        head.starts_with("Path: news.test!.POSTED.127.0.0.1!not-for-mail\r\n"),
        "{head}"
    );
    assert!(head.contains(&format!("Message-ID: {id}")), "{head}");
    assert!(head.contains("\r\nDate: "), "{head}");
    assert!(head.contains("\r\nInjection-Date: "), "{head}");
    assert!(
        head.contains("Injection-Info: news.test; posting-host=\"127.0.0.1\"; logging-data="),
        "{head}"
    );
    assert!(head.contains("Xref: news.test misc.test:1"), "{head}");
    // Same Message-ID again: refused.
    let again = article(
        "misc.test",
        "dup",
        &format!("Message-ID: {id}\r\n"),
        b"x\r\n",
    );
    let r = c.post(&again).await;
    assert!(r.starts_with("441") && r.contains("Duplicate"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_refusals() {
    let s = server(Options {
        config: ReaderConfig {
            max_article: 2000,
            ..ReaderConfig::default()
        },
        ..Options::default()
    });
    let mut c = greeted(&s).await;
    for (art, want) in [
        (
            b"Newsgroups: misc.test\r\nSubject: x\r\n\r\nbody\r\n".to_vec(),
            "From",
        ),
        (
            article("no.such.group", "x", "", b"b\r\n"),
            "Unknown newsgroup",
        ),
        (
            article("no.such.group,other.unknown", "x", "", b"b\r\n"),
            "No valid newsgroups",
        ),
        (
            article(
                "misc.test",
                "x",
                "Date: Tue, 01 Dec 2099 00:00:00 +0000\r\n",
                b"b\r\n",
            ),
            "in the future",
        ),
        (
            article("misc.test", "x", "Approved: me@example.org\r\n", b"b\r\n"),
            "approve",
        ),
        (article("local.ro", "x", "", b"b\r\n"), "read-only"),
        (
            article("misc.test", "x", "Message-ID: <bad\r\n", b"b\r\n"),
            "Message-ID",
        ),
        (
            article("misc.test", "x", "Control: newgroup foo.bar\r\n", b"b\r\n"),
            "newgroup",
        ),
        (
            article("misc.test", "x", "Control: cancel <a1@test>\r\n", b"b\r\n"),
            "not here",
        ),
        (
            article("misc.test", "x", "", b"a\n.\r\nQUIT\r\n"),
            "Bare LF followed by '.'",
        ),
    ] {
        let r = c.post(&art).await;
        assert!(r.starts_with("441") && r.contains(want), "{want}: {r}");
    }
    // Over-size: the body is discarded, the connection stays usable.
    let big = article("misc.test", "big", "", &vec![b'x'; 10_000]);
    let r = c.post(&big).await;
    assert!(r.starts_with("441") && r.contains("too large"), "{r}");
    assert!(c.cmd("DATE").await.starts_with("111"));
    let r = c.post(&article("misc.test", "fine", "", b"ok\r\n")).await;
    assert!(r.starts_with("240"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderated_post_goes_to_queue() {
    let s = server(Options::default());
    let mut c = greeted(&s).await;
    let r = c
        .post(&article("mod.test", "please", "", b"hello\r\n"))
        .await;
    assert!(r.starts_with("240") && r.contains("moderation"), "{r}");
    let files: Vec<_> = std::fs::read_dir(tmp_path(&s, "moderation"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].extension().unwrap() == "msg");
    let q = std::fs::read(&files[0]).unwrap();
    assert!(q.ends_with(b"\r\n\r\nhello\r\n"));
    // Message-ID and Date added, not injected yet (RFC 5537 §3.5): the moderator's approved
    // copy is injected when posted.
    let qs = String::from_utf8_lossy(&q).into_owned();
    assert!(
        qs.contains("\r\nMessage-ID: <") && qs.contains("\r\nDate: "),
        "{qs}"
    );
    assert!(
        !qs.contains("Injection-") && !qs.contains("Path:") && !qs.contains(".POSTED"),
        "{qs}"
    );
    assert!(c.cmd("GROUP mod.test").await.starts_with("211 0"));
    // Approved from a client that may not approve: refused.
    let r = c
        .post(&article(
            "mod.test",
            "ok",
            "Approved: mod@example.org\r\n",
            b"hi\r\n",
        ))
        .await;
    assert!(r.starts_with("441") && r.contains("approve"), "{r}");
    // The moderator (a rule with approve = true) posts the queued copy with Approved: the
    // copy is injected and published.
    let mut m = rule(&[], &[], "*", "*");
    m.approve = true;
    let s = server(Options {
        config: ReaderConfig {
            access: vec![m],
            ..ReaderConfig::default()
        },
        ..Options::default()
    });
    let mut c = greeted(&s).await;
    let mut approved = b"Approved: mod@example.org\r\n".to_vec();
    approved.extend_from_slice(&q);
    let r = c.post(&approved).await;
    assert!(r.starts_with("240") && !r.contains("moderation"), "{r}");
    assert!(c.cmd("GROUP mod.test").await.starts_with("211 1"));
    let r = c.cmd("HEAD 1").await;
    assert!(r.starts_with("221"), "{r}");
    let head = String::from_utf8_lossy(&c.block().await).into_owned();
    assert!(
        head.contains("Injection-Info: ") && head.contains(".POSTED"),
        "{head}"
    );
    // A crosspost to a group not carried here is filed in the carried one.
    let r = c
        .post(&article("misc.test,not.here", "cross", "", b"x\r\n"))
        .await;
    assert!(r.starts_with("240"), "{r}");
    assert!(c.cmd("GROUP misc.test").await.starts_with("211 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_with_cancel_lock() {
    let s = server(Options::default());
    seed(&s);
    let mut c = greeted(&s).await;
    let wrong = article(
        "misc.test",
        "cmsg cancel <a3@test>",
        "Control: cancel <a3@test>\r\nCancel-Key: sha256:d3Jvbmc=\r\n",
        b"cancel\r\n",
    );
    let r = c.post(&wrong).await;
    assert!(
        r.starts_with("441") && r.contains("cancel not authorised"),
        "{r}"
    );
    let nolock = article(
        "misc.test",
        "cmsg cancel <a1@test>",
        "Control: cancel <a1@test>\r\nCancel-Key: sha256:a2V5Mw==\r\n",
        b"cancel\r\n",
    );
    let r = c.post(&nolock).await;
    assert!(
        r.starts_with("441") && r.contains("cancel not authorised"),
        "{r}"
    );
    let right = article(
        "misc.test",
        "cmsg cancel <a3@test>",
        "Control: cancel <a3@test>\r\nCancel-Key: sha256:a2V5Mw==\r\n",
        b"cancel\r\n",
    );
    let r = c.post(&right).await;
    assert!(r.starts_with("240"), "{r}");
    assert!(c.cmd("STAT <a3@test>").await.starts_with("430"));
    assert!(c.cmd("GROUP control.cancel").await.starts_with("211 1"));
    assert!(c.cmd("STAT <a1@test>").await.starts_with("223"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input() {
    let s = server(Options::default());
    let mut c = greeted(&s).await;
    let long = format!("GROUP {}\r\n", "a".repeat(2000));
    assert!(c.cmd(long.trim_end()).await.starts_with("501"));
    c.send(b"DATE\x00\r\n").await;
    assert!(c.line().await.starts_with("501"));
    c.send(b"DATE\n").await;
    assert!(c.line().await.starts_with("111"));
    c.send(b"   \r\n").await;
    assert!(c.line().await.starts_with("500"));
    c.send(b"group misc.test\r\nstat <a b>\r\n").await;
    assert!(c.line().await.starts_with("211"));
    assert!(c.line().await.starts_with("501"));
    assert!(c.cmd("QUIT").await.starts_with("205"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authinfo_user_pass() {
    let s = server(Options::default());
    seed(&s);
    // IPv6 loopback (and IPv4-mapped loopback) read and post without authentication.
    for peer in ["[::1]:1", "[::ffff:127.0.0.1]:1"] {
        let mut c = s.connect_as(peer.parse().unwrap(), plain()).await;
        assert!(c.line().await.starts_with("200"));
        assert!(c.cmd("GROUP misc.test").await.starts_with("211"));
        let r = c.post(&article("misc.test", "v6", "", b"x\r\n")).await;
        assert!(r.starts_with("240"), "{peer}: {r}");
    }
    let mut c = s.connect_as(remote(), plain()).await;
    // Remote, unauthenticated, default rules: posting is possible after login.
    assert!(c.line().await.starts_with("200"));
    assert!(c.cmd("GROUP misc.test").await.starts_with("480"));
    assert!(c.cmd("POST").await.starts_with("480"));
    assert!(c.cmd("AUTHINFO PASS x").await.starts_with("482"));
    assert!(c.cmd("AUTHINFO USER alice").await.starts_with("381"));
    assert!(c.cmd("AUTHINFO PASS wrong").await.starts_with("481"));
    assert!(c.cmd("AUTHINFO USER alice").await.starts_with("381"));
    assert!(c.cmd("AUTHINFO PASS secret").await.starts_with("281"));
    assert!(c.cmd("AUTHINFO USER alice").await.starts_with("502"));
    assert!(c.cmd("GROUP misc.test").await.starts_with("211"));
    c.send(b"CAPABILITIES\r\n").await;
    assert!(c.line().await.starts_with("101"));
    let caps = c.lines().await;
    assert!(!caps.iter().any(|l| l.starts_with("AUTHINFO")), "{caps:?}");
    let r = c.post(&article("misc.test", "hi", "", b"x\r\n")).await;
    assert!(r.starts_with("240"), "{r}");
    let id = r.split_whitespace().last().unwrap().to_owned();
    let r = c.cmd(&format!("HEAD {id}")).await;
    assert!(r.starts_with("221"));
    let head = String::from_utf8_lossy(&c.block().await).into_owned();
    assert!(head.contains("posting-account=\"alice\""), "{head}");
    assert!(head.contains(".POSTED.192.0.2.10!"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authinfo_sasl_plain() {
    use base64::Engine as _;
    let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
    let s = server(Options::default());
    let mut c = s.connect_as(remote(), plain()).await;
    c.line().await;
    // Initial response, wrong password.
    let r = c
        .cmd(&format!("AUTHINFO SASL PLAIN {}", b64(b"\0bob\0nope")))
        .await;
    assert!(r.starts_with("481"), "{r}");
    assert!(c.cmd("AUTHINFO SASL PLAIN !!!").await.starts_with("501"));
    // Continuation: bad base64, then cancel, then success.
    assert!(c.cmd("AUTHINFO SASL PLAIN").await.starts_with("383"));
    assert!(c.cmd("%%%").await.starts_with("504"));
    assert!(c.cmd("AUTHINFO SASL PLAIN").await.starts_with("383"));
    assert!(c.cmd("*").await.starts_with("481"));
    assert!(c.cmd("AUTHINFO SASL PLAIN").await.starts_with("383"));
    let r = c.cmd(&b64(b"\0bob\0hunter2")).await;
    assert!(r.starts_with("281"), "{r}");
    assert!(c.cmd("AUTHINFO SASL PLAIN =").await.starts_with("502"));
    assert!(c.cmd("GROUP misc.test").await.starts_with("211"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_rules() {
    let cfg = ReaderConfig {
        access: vec![
            {
                let mut r = rule(&["192.0.2.0/24"], &[], "misc.*,local.*", "");
                r.newnews = false;
                r
            },
            rule(&[], &["alice"], "*,!secret.*", "misc.*"),
            {
                let mut r = rule(&[], &["bob"], "*", "*");
                r.max_connections_per_user = Some(1);
                r.posts_per_minute = Some(1);
                r
            },
        ],
        ..ReaderConfig::default()
    };
    let s = server(Options {
        config: cfg,
        ..Options::default()
    });
    seed(&s);
    // Anonymous from 192.0.2.x: read misc/local only, no posting, no NEWNEWS.
    let mut c = s.connect_as(remote(), plain()).await;
    assert!(c.line().await.starts_with("201"));
    assert!(c.cmd("GROUP secret.stuff").await.starts_with("411"));
    assert!(c.cmd("STAT <s1@test>").await.starts_with("430"));
    assert!(c.cmd("GROUP misc.test").await.starts_with("211"));
    assert!(c.cmd("NEWNEWS * 20000101 000000").await.starts_with("502"));
    assert!(c.cmd("POST").await.starts_with("440"));
    c.send(b"LIST\r\n").await;
    c.line().await;
    let l = c.lines().await;
    assert!(
        l.iter().any(|g| g.starts_with("misc.test")) && !l.iter().any(|g| g.contains("secret"))
    );
    c.send(b"CAPABILITIES\r\n").await;
    c.line().await;
    let caps = c.lines().await;
    assert!(
        !caps.contains(&"NEWNEWS".to_owned()) && !caps.contains(&"POST".to_owned()),
        "{caps:?}"
    );
    // carol has a password but no rule: rejected at login.
    let mut e = s
        .connect_as("198.51.100.9:1".parse().unwrap(), plain())
        .await;
    e.line().await;
    assert!(e.cmd("AUTHINFO USER carol").await.starts_with("381"));
    let r = e.cmd("AUTHINFO PASS pw").await;
    assert!(r.starts_with("481") && r.contains("no access"), "{r}");
    // Elsewhere, unauthenticated: nothing until login.
    let mut d = s
        .connect_as("198.51.100.1:1".parse().unwrap(), plain())
        .await;
    assert!(d.line().await.starts_with("200"));
    assert!(d.cmd("LIST").await.starts_with("480"));
    assert!(d.cmd("AUTHINFO USER alice").await.starts_with("381"));
    assert!(d.cmd("AUTHINFO PASS secret").await.starts_with("281"));
    assert!(d.cmd("GROUP secret.stuff").await.starts_with("411"));
    let r = d.post(&article("local.test", "x", "", b"b\r\n")).await;
    assert!(r.starts_with("441"), "{r}");
    let r = d.post(&article("misc.test", "x", "", b"b\r\n")).await;
    assert!(r.starts_with("240"), "{r}");
    // bob: one connection, one post a minute.
    let mut b1 = s
        .connect_as("198.51.100.2:1".parse().unwrap(), plain())
        .await;
    b1.line().await;
    assert!(b1.cmd("AUTHINFO USER bob").await.starts_with("381"));
    assert!(b1.cmd("AUTHINFO PASS hunter2").await.starts_with("281"));
    let mut b2 = s
        .connect_as("198.51.100.3:1".parse().unwrap(), plain())
        .await;
    b2.line().await;
    assert!(b2.cmd("AUTHINFO USER bob").await.starts_with("381"));
    let r = b2.cmd("AUTHINFO PASS hunter2").await;
    assert!(
        r.starts_with("481") && r.contains("Too many connections"),
        "{r}"
    );
    let r = b1.post(&article("misc.test", "1", "", b"b\r\n")).await;
    assert!(r.starts_with("240"), "{r}");
    let r = b1.post(&article("misc.test", "2", "", b"b\r\n")).await;
    assert!(r.starts_with("441") && r.contains("rate"), "{r}");
    // After bob's first connection closes, a new one may log in.
    assert!(b1.cmd("QUIT").await.starts_with("205"));
    b1.until_closed().await;
    tokio::time::timeout(WAIT, b1.task).await.unwrap().unwrap();
    assert!(b2.cmd("AUTHINFO USER bob").await.starts_with("381"));
    assert!(b2.cmd("AUTHINFO PASS hunter2").await.starts_with("281"));
}

fn tls_listener(auth_requires_tls: bool) -> ListenerSettings {
    ListenerSettings {
        name: "tls".into(),
        starttls: true,
        auth_requires_tls,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_then_auth() {
    let s = server(Options {
        tls: true,
        ..Options::default()
    });
    seed(&s);
    let mut c = s.connect_as(remote(), tls_listener(true)).await;
    // Posting possible after AUTHINFO: the greeting and MODE READER both say 200.
    assert!(c.line().await.starts_with("200"));
    assert!(c.cmd("MODE READER").await.starts_with("200"));
    // HELP lists what CAPABILITIES advertises: STARTTLS, but no AUTHINFO before TLS, no POST
    // before login, no LIST MOTD when there is no motd.
    c.send(b"HELP\r\n").await;
    assert!(c.line().await.starts_with("100"));
    let help = c.lines().await.join("\n");
    assert!(help.contains("  STARTTLS"), "{help}");
    assert!(help.contains("  ARTICLE"), "{help}");
    for absent in ["  AUTHINFO", "  POST", "  LIST MOTD", "  IHAVE"] {
        assert!(!help.contains(absent), "{absent} in {help}");
    }
    c.send(b"CAPABILITIES\r\n").await;
    c.line().await;
    let caps = c.lines().await;
    assert!(caps.contains(&"STARTTLS".to_owned()), "{caps:?}");
    assert!(
        !caps
            .iter()
            .any(|l| l.starts_with("AUTHINFO") || l.starts_with("SASL")),
        "{caps:?}"
    );
    assert!(c.cmd("AUTHINFO USER alice").await.starts_with("483"));
    // Plaintext pipelined after STARTTLS is discarded.
    c.send(b"STARTTLS\r\nAUTHINFO USER alice\r\n").await;
    assert!(c.line().await.starts_with("382"));
    c.buf.clear();
    c.starttls(&s.connector()).await;
    c.send(b"CAPABILITIES\r\n").await;
    let r = c.line().await;
    assert!(r.starts_with("101"), "injected command was answered: {r}");
    let caps = c.lines().await;
    assert!(!caps.contains(&"STARTTLS".to_owned()), "{caps:?}");
    assert!(caps.contains(&"AUTHINFO USER SASL".to_owned()), "{caps:?}");
    assert!(c.cmd("STARTTLS").await.starts_with("502"));
    c.send(b"HELP\r\n").await;
    assert!(c.line().await.starts_with("100"));
    let help = c.lines().await.join("\n");
    assert!(
        help.contains("  AUTHINFO USER") && help.contains("  AUTHINFO SASL"),
        "{help}"
    );
    assert!(!help.contains("  STARTTLS"), "{help}");
    assert!(c.cmd("AUTHINFO PASS secret").await.starts_with("482"));
    assert!(c.cmd("AUTHINFO USER alice").await.starts_with("381"));
    assert!(c.cmd("AUTHINFO PASS secret").await.starts_with("281"));
    assert!(c.cmd("ARTICLE <a1@test>").await.starts_with("220"));
    assert!(c.block().await.ends_with(b".body line 1\r\n"));
    // COMPRESS inside TLS.
    assert!(c.cmd("COMPRESS DEFLATE").await.starts_with("206"));
    c.compress();
    assert!(c.cmd("COMPRESS DEFLATE").await.starts_with("502"));
    assert!(c.cmd("BODY <a2@test>").await.starts_with("222"));
    assert_eq!(c.block().await, b".body line 2\r\n");
    assert!(c.cmd("QUIT").await.starts_with("205"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_forgets_the_selected_group() {
    let s = server(Options {
        tls: true,
        ..Options::default()
    });
    seed(&s);
    let mut c = s
        .connect_as("127.0.0.1:5555".parse().unwrap(), tls_listener(true))
        .await;
    assert!(c.line().await.starts_with("200"));
    assert!(c.cmd("GROUP misc.test").await.starts_with("211"));
    assert!(c.cmd("STAT").await.starts_with("223 1 "));
    assert!(c.cmd("STARTTLS").await.starts_with("382"));
    c.buf.clear();
    c.starttls(&s.connector()).await;
    // RFC 4642 §2.2.2: no group selected, no current article.
    assert!(c.cmd("STAT").await.starts_with("412"));
    assert!(c.cmd("NEXT").await.starts_with("412"));
    assert!(c.cmd("GROUP misc.test").await.starts_with("211"));
    assert!(c.cmd("STAT").await.starts_with("223 1 "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_refused_after_auth() {
    let s = server(Options {
        tls: true,
        ..Options::default()
    });
    let mut c = s.connect_as(remote(), tls_listener(false)).await;
    c.line().await;
    assert!(c.cmd("AUTHINFO USER alice").await.starts_with("381"));
    assert!(c.cmd("AUTHINFO PASS secret").await.starts_with("281"));
    assert!(c.cmd("STARTTLS").await.starts_with("502"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compress_alone_with_pipelining() {
    let s = server(Options::default());
    seed(&s);
    let mut c = greeted(&s).await;
    assert!(c.cmd("COMPRESS DEFLATE").await.starts_with("206"));
    c.compress();
    c.send(b"GROUP misc.test\r\nARTICLE 1\r\nCAPABILITIES\r\n")
        .await;
    assert!(c.line().await.starts_with("211"));
    assert!(c.line().await.starts_with("220"));
    c.block().await;
    assert!(c.line().await.starts_with("101"));
    let caps = c.lines().await;
    assert!(!caps.iter().any(|l| l.starts_with("COMPRESS")), "{caps:?}");
    assert!(c.cmd("QUIT").await.starts_with("205"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_and_idle() {
    let cfg = ReaderConfig {
        idle_timeout_secs: 1,
        ..ReaderConfig::default()
    };
    let s = server(Options {
        config: cfg,
        ..Options::default()
    });
    let mut c = greeted(&s).await;
    let rest = c.until_closed().await;
    assert!(
        rest.starts_with(b"400"),
        "{}",
        String::from_utf8_lossy(&rest)
    );

    let s = server(Options::default());
    let mut c = greeted(&s).await;
    assert!(c.cmd("DATE").await.starts_with("111"));
    s.shutdown.trigger();
    let rest = c.until_closed().await;
    assert!(
        rest.starts_with(b"400"),
        "{}",
        String::from_utf8_lossy(&rest)
    );
    tokio::time::timeout(WAIT, c.task).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn motd_and_static_lists() {
    let dir = tempfile::tempdir().unwrap();
    let motd = dir.path().join("motd");
    std::fs::write(&motd, "Welcome\n.dotted\n").unwrap();
    let cfg = ReaderConfig {
        motd_file: Some(motd),
        moderators: vec!["mod.*:%s@moderators.example".into()],
        distrib_pats: vec!["10:local.*:local".into()],
        ..ReaderConfig::default()
    };
    let s = server(Options {
        config: cfg,
        ..Options::default()
    });
    let mut c = greeted(&s).await;
    assert!(c.cmd("LIST MOTD").await.starts_with("215"));
    assert_eq!(c.lines().await, vec!["Welcome", ".dotted"]);
    assert!(c.cmd("LIST MODERATORS").await.starts_with("215"));
    assert_eq!(c.lines().await, vec!["mod.*:%s@moderators.example"]);
    assert!(c.cmd("LIST DISTRIB.PATS").await.starts_with("215"));
    assert_eq!(c.lines().await, vec!["10:local.*:local"]);
    c.send(b"CAPABILITIES\r\n").await;
    c.line().await;
    let caps = c.lines().await;
    let list = caps.iter().find(|l| l.starts_with("LIST ")).unwrap();
    assert!(
        list.contains("MOTD") && list.contains("MODERATORS") && !list.contains("SUBSCRIPTIONS"),
        "{list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_keeps_8bit_header_text_as_it_came() {
    let s = server(Options::default());
    let mut c = greeted(&s).await;
    // A Latin-1 Subject and From (not UTF-8): OVER, HDR and XPAT give the bytes back as INN
    // does, not U+FFFD replacement characters.
    let mut art = b"From: J\xf6rg <j@example.org>\r\nNewsgroups: misc.test\r\nSubject: caf\xe9 cr\xe8me\r\n\r\nbody\r\n".to_vec();
    let r = c.post(&art).await;
    assert!(r.starts_with("240"), "{r}");
    art.clear();
    assert!(c.cmd("GROUP misc.test").await.starts_with("211 1"));
    assert!(c.cmd("OVER 1").await.starts_with("224"));
    let over = c.block().await;
    let fields: Vec<&[u8]> = over.split(|&b| b == b'\t').collect();
    assert_eq!(
        fields[1],
        b"caf\xe9 cr\xe8me",
        "{:?}",
        String::from_utf8_lossy(&over)
    );
    assert_eq!(fields[2], b"J\xf6rg <j@example.org>");
    assert!(c.cmd("HDR Subject 1").await.starts_with("225"));
    assert_eq!(c.block().await, b"1 caf\xe9 cr\xe8me\r\n");
    assert!(c.cmd("XHDR From 1").await.starts_with("221"));
    assert_eq!(c.block().await, b"1 J\xf6rg <j@example.org>\r\n");
    assert!(c.cmd("XPAT Subject 1 caf*").await.starts_with("221"));
    assert_eq!(c.block().await, b"1 caf\xe9 cr\xe8me\r\n");
}
