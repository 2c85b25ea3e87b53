//! Interop with INN 2.7 on loopback (private instances from scripts/inn-instance.sh):
//!
//! - INN's innfeed streams (CHECK/TAKETHIS, and then IHAVE only) 2,000 articles to Tidings.
//!   Every article arrives once, byte for byte (see `common/interop.rs`: the header fields
//!   other than Path and Xref, and the body, exactly; Path must end with the injected Path).
//!   Tidings has INN as a feeding peer too: its feed counters show that of all these articles
//!   only the one posted at Tidings afterwards was offered back to INN (the Path check).
//! - Tidings feeds 2,000 articles to INN, streaming and with IHAVE (`streaming = false`); INN
//!   serves every one of them, byte for byte, and Tidings' counters show 2,000 offered and
//!   accepted, none refused.
//!
//! Without INN installed the tests are skipped with a note, or fail when `CI` is set.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;
#[path = "common/interop.rs"]
mod interop;

use std::path::Path;

use common::Daemon;
use interop::*;

const N: usize = 2000;
const TIDINGS: &str = "tidings.interop.test";
const INN: &str = "inn.interop.test";
const GROUP: &str = "misc.test";

/// A Tidings node with one plain loopback listener.
fn tidings(dir: &Path, extra: &str) -> Daemon {
    std::fs::create_dir_all(dir).unwrap();
    let data_dir = dir.join("data");
    let config = dir.join("tidings.toml");
    std::fs::write(
        &config,
        format!(
            "[node]\ndata_dir = \"{}\"\npathhost = \"{TIDINGS}\"\n\n[store]\ndurable = false\n\n\
             [[listen]]\naddr = \"127.0.0.1:0\"\ntls = \"none\"\nauth_requires_tls = false\n\n{extra}",
            data_dir.display()
        ),
    )
    .unwrap();
    Daemon::spawn(
        dir,
        data_dir,
        config.clone(),
        &["serve", "--config", config.to_str().unwrap()],
    )
}

/// Checks that `got` (fetched by id) is `arts`, byte for byte, each present.
fn check_all(arts: &[(String, Vec<u8>)], got: &[Option<Vec<u8>>], path_head: &str) {
    let mut missing = Vec::new();
    for ((id, sent), got) in arts.iter().zip(got) {
        let Some(got) = got else {
            missing.push(id.clone());
            continue;
        };
        if let Err(e) = same_article(sent, got) {
            panic!("{id}: {e}");
        }
        let p = path_of(got);
        assert!(p.starts_with(path_head), "{id}: Path {p:?}");
    }
    assert!(
        missing.is_empty(),
        "{} missing, first {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

fn inn_feeds_tidings(ihave: bool) {
    let test = if ihave {
        "inn_feeds_tidings_ihave"
    } else {
        "inn_feeds_tidings_streaming"
    };
    if !inn_available(test) {
        return;
    }
    let t = news_readable_tempdir();
    let inn_port = free_port();
    let mut d = tidings(
        &t.path().join("tidings"),
        &format!(
            "[[peer]]\nname = \"{INN}\"\naddr = \"127.0.0.1:{inn_port}\"\n\
             accept_from = [\"127.0.0.1/32\"]\n"
        ),
    );
    let feed = d.addr("none").to_string();
    let mut args = vec!["--pathhost", INN, "--feed", &feed, "--feed-name", TIDINGS];
    if ihave {
        args.push("--feed-ihave");
    }
    let inn = Inn::start(&t.path().join("inn"), inn_port, &args);

    // Load INN from loopback (it is a peer there): streamed, pipelined TAKETHIS.
    let tag = run_tag(test);
    let arts: Vec<_> = (0..N)
        .map(|i| article(&tag, i, GROUP, "origin.interop.test!not-for-mail"))
        .collect();
    let ids: Vec<String> = arts.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(Raw::open(inn.addr()).takethis_all(&arts), N, "loading INN");

    let mut r = Raw::open(d.addr("none"));
    poll_until(
        "innfeed to deliver everything to Tidings",
        || r.group_count(GROUP) >= N as u64,
        || format!("{}\n{}", inn.status(), d.stderr()),
    );
    let got = r.articles(&ids);
    check_all(&arts, &got, &format!("{TIDINGS}!{INN}!"));
    assert_eq!(r.group_count(GROUP), N as u64, "an article arrived twice");

    // One article posted at Tidings goes to INN: the feed works, and it is the only one offered.
    let back = format!("<back.{tag}@interop.example>");
    assert!(r.cmd("POST").starts_with("340"));
    r.send(
        format!(
            "From: T <t@interop.example>\r\nNewsgroups: {GROUP}\r\nSubject: back\r\n\
             Message-ID: {back}\r\n\r\nposted at Tidings\r\n.\r\n"
        )
        .as_bytes(),
    );
    let p = r.line_str();
    assert!(p.starts_with("240"), "POST: {p}");
    let mut ir = inn.reader();
    poll_until(
        "Tidings to feed its own article to INN",
        || ir.cmd(&format!("STAT {back}")).starts_with("223"),
        || format!("{}\n{}", inn.status(), d.stderr()),
    );
    assert_eq!(ir.group_count(GROUP), N as u64 + 1);
    assert!(d.stop(), "{}", d.stderr());
    let c = feed_stopped(&d.stderr(), INN).expect("feed counters in the log");
    assert_eq!(
        c,
        [1, 1, 0, 0, 0],
        "offered, accepted, refused, rejected, queued"
    );
}

#[test]
fn inn_feeds_tidings_streaming() {
    inn_feeds_tidings(false);
}

#[test]
fn inn_feeds_tidings_ihave() {
    inn_feeds_tidings(true);
}

fn tidings_feeds_inn(streaming: bool) {
    let test = if streaming {
        "tidings_feeds_inn_streaming"
    } else {
        "tidings_feeds_inn_ihave"
    };
    if !inn_available(test) {
        return;
    }
    let t = news_readable_tempdir();
    let inn_port = free_port();
    let inn = Inn::start(&t.path().join("inn"), inn_port, &["--pathhost", INN]);
    let mut d = tidings(
        &t.path().join("tidings"),
        &format!(
            "[[peer]]\nname = \"{INN}\"\naddr = \"127.0.0.1:{inn_port}\"\n\
             streaming = {streaming}\n\n\
             [[peer]]\nname = \"loader.interop.test\"\naccept_from = [\"127.0.0.1/32\"]\n"
        ),
    );
    let tag = run_tag(test);
    let arts: Vec<_> = (0..N)
        .map(|i| article(&tag, i, GROUP, "loader.interop.test!not-for-mail"))
        .collect();
    let ids: Vec<String> = arts.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(
        Raw::open(d.addr("none")).takethis_all(&arts),
        N,
        "loading Tidings"
    );

    let mut ir = inn.reader();
    poll_until(
        "Tidings to deliver everything to INN",
        || ir.group_count(GROUP) >= N as u64 && ir.stat_count(&ids) == N,
        || {
            let (_, feeds, _) = d.admin(&["feed", "status"], "");
            let mut r = inn.reader();
            format!(
                "INN has {} articles in {GROUP}, {} of {N} by STAT (new connection)\n\
                 --- tidings feed status\n{feeds}\n{}\n{}",
                r.group_count(GROUP),
                r.stat_count(&ids),
                inn.status(),
                d.stderr()
            )
        },
    );
    let got = ir.articles(&ids);
    check_all(
        &arts,
        &got,
        &format!("{INN}!{TIDINGS}!loader.interop.test!"),
    );
    assert!(d.stop(), "{}", d.stderr());
    let c = feed_stopped(&d.stderr(), INN).expect("feed counters in the log");
    assert_eq!(
        c,
        [N as u64, N as u64, 0, 0, 0],
        "offered, accepted, refused, rejected, queued"
    );
}

#[test]
fn tidings_feeds_inn_streaming() {
    tidings_feeds_inn(true);
}

#[test]
fn tidings_feeds_inn_ihave() {
    tidings_feeds_inn(false);
}
