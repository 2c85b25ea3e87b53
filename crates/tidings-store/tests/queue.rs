//! Durable per-peer outgoing queues: filled in the store's transaction, kept across reopen and
//! crash, restored by recovery, not by rebuild.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

use tidings_store::{
    Config, GroupStatus, NewArticle, OverviewInput, Part, Store, StoreOutcome, Token,
};

fn wire(id: &str) -> Vec<u8> {
    format!(
        "Path: a!not-for-mail\r\nFrom: x@y.example\r\nNewsgroups: misc.test\r\nSubject: s\r\n\
         Message-ID: {id}\r\nDate: Tue, 01 Dec 2026 00:00:00 +0000\r\n\r\nbody of {id}\r\n"
    )
    .into_bytes()
}

fn open(dir: &Path) -> Store {
    let s = Store::open(dir, Config::default()).unwrap();
    if s.group("misc.test").unwrap().is_none() {
        s.add_group("misc.test", GroupStatus::Posting, 0, "t", "")
            .unwrap();
    }
    s
}

fn store(s: &Store, items: &[(&str, &[&str])], arrival: i64) -> Vec<StoreOutcome> {
    let bytes: Vec<Vec<u8>> = items.iter().map(|(id, _)| wire(id)).collect();
    let batch: Vec<NewArticle<'_>> = items
        .iter()
        .zip(&bytes)
        .map(|((id, feeds), b)| NewArticle {
            bytes: b,
            message_id: id,
            groups: vec!["misc.test"],
            arrival,
            expires: None,
            overview: OverviewInput {
                subject: b"s",
                lines: 1,
                ..OverviewInput::default()
            },
            feeds: feeds.to_vec(),
        })
        .collect();
    s.store_batch(&batch).unwrap()
}

fn ids(s: &Store, peer: &str) -> Vec<String> {
    s.queue_peek(peer, 0, 1000)
        .unwrap()
        .into_iter()
        .map(|e| e.message_id)
        .collect()
}

#[test]
fn queued_iff_stored_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let out = store(
        &s,
        &[
            ("<1@x>", &["peer-a", "peer-b"]),
            ("<2@x>", &["peer-a"]),
            ("<1@x>", &["peer-a"]), // duplicate in batch: not queued twice
            ("<3@x>", &[]),
            ("<4@x>", &["peer-a", "peer-a"]), // duplicate peer ignored
        ],
        100,
    );
    assert!(matches!(out[2], StoreOutcome::Duplicate));
    assert_eq!(ids(&s, "peer-a"), ["<1@x>", "<2@x>", "<4@x>"]);
    assert_eq!(ids(&s, "peer-b"), ["<1@x>"]);
    assert_eq!(s.queue_len("peer-a").unwrap(), 3);
    assert_eq!(s.queue_len("nobody").unwrap(), 0);
    // a duplicate offered again is not queued again
    store(&s, &[("<2@x>", &["peer-a"])], 101);
    assert_eq!(s.queue_len("peer-a").unwrap(), 3);
    // entries carry the token and arrival time of the stored article
    let e = s.queue_peek("peer-a", 0, 1).unwrap().remove(0);
    assert_eq!(e.seq, 1);
    assert_eq!(e.queued_at, 100);
    let art = s.read(e.token, Part::Article).unwrap();
    assert!(art.windows(6).any(|w| w == b"<1@x>\r"));
    let mut peers = s.queue_peers().unwrap();
    peers.sort();
    assert_eq!(
        peers,
        [("peer-a".to_string(), 3), ("peer-b".to_string(), 1)]
    );
}

#[test]
fn peek_remove_requeue() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let names: Vec<String> = (0..10).map(|i| format!("<q{i}@x>")).collect();
    let items: Vec<(&str, &[&str])> = names.iter().map(|n| (n.as_str(), &["p"][..])).collect();
    store(&s, &items, 5);
    let first = s.queue_peek("p", 0, 4).unwrap();
    assert_eq!(
        first.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    let next = s.queue_peek("p", 4, 100).unwrap();
    assert_eq!(next.len(), 6);
    assert_eq!(s.queue_remove("p", &[1, 3, 99]).unwrap(), 2);
    assert_eq!(s.queue_len("p").unwrap(), 8);
    // defer 2: it goes to the end with a new seq
    assert_eq!(s.queue_requeue("p", &[2]).unwrap(), [11]);
    let all = ids(&s, "p");
    assert_eq!(all.first().unwrap(), "<q3@x>");
    assert_eq!(all.last().unwrap(), "<q1@x>");
    assert_eq!(s.queue_len("p").unwrap(), 8);
    // emptying the queue never reuses seqs
    let seqs: Vec<u64> = s
        .queue_peek("p", 0, 100)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(s.queue_remove("p", &seqs).unwrap(), 8);
    assert_eq!(s.queue_len("p").unwrap(), 0);
    store(&s, &[("<late@x>", &["p"])], 6);
    assert_eq!(s.queue_peek("p", 0, 10).unwrap()[0].seq, 12);
    let tok: Token = s.queue_peek("p", 0, 1).unwrap()[0].token;
    assert_eq!(s.queue_append("p", &[(tok, 7, "<late@x>")]).unwrap(), [13]);
}

#[test]
fn survives_reopen_and_crash() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        store(&s, &[("<a@x>", &["p"]), ("<b@x>", &["p"])], 1);
        s.close().unwrap();
    }
    {
        let s = open(dir.path());
        assert_eq!(ids(&s, "p"), ["<a@x>", "<b@x>"]);
        s.queue_remove("p", &[1]).unwrap();
        store(&s, &[("<c@x>", &["p"])], 2);
        drop(s); // crash: no close
    }
    let s = open(dir.path());
    assert_eq!(ids(&s, "p"), ["<b@x>", "<c@x>"]);
    assert_eq!(s.queue_len("p").unwrap(), 2);
}

#[test]
fn recovery_queues_records_whose_commit_was_lost_rebuild_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("index.redb");
    let saved = dir.path().join("saved.redb");
    {
        let s = open(dir.path());
        store(&s, &[("<old@x>", &["p"])], 1);
        s.close().unwrap();
    }
    std::fs::copy(&idx, &saved).unwrap();
    {
        let s = open(dir.path());
        store(&s, &[("<new@x>", &["p", "q"])], 2);
        drop(s);
    }
    // the index as it was before the last batch: its commit "never happened"
    std::fs::copy(&saved, &idx).unwrap();
    {
        let s = open(dir.path());
        assert_eq!(s.recovery_report().reindexed, 1);
        assert_eq!(ids(&s, "p"), ["<old@x>", "<new@x>"]);
        assert_eq!(ids(&s, "q"), ["<new@x>"]);
        s.close().unwrap();
    }
    Store::rebuild(dir.path(), &Config::default(), |_| {}).unwrap();
    let s = open(dir.path());
    assert_eq!(
        s.queue_len("p").unwrap(),
        0,
        "rebuild cannot know what was delivered"
    );
}

#[test]
fn writer_router_and_queued_hook() {
    use std::sync::{Arc, Mutex};
    use tidings_store::writer::{OwnedArticle, Writer, WriterConfig, WriterHooks};
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(dir.path()));
    let woken: Arc<Mutex<Vec<String>>> = Arc::default();
    let w2 = Arc::clone(&woken);
    let hooks = WriterHooks {
        // route by message-id for the test: "<r..." goes to peer r
        router: Some(Arc::new(|a: &OwnedArticle| {
            if a.message_id.starts_with("<r") {
                vec!["r".into()]
            } else {
                Vec::new()
            }
        })),
        queued: Some(Arc::new(move |peers: &[String]| {
            w2.lock().unwrap().extend_from_slice(peers);
        })),
        failed: None,
    };
    let w = Writer::start_with_hooks(Arc::clone(&s), WriterConfig::default(), hooks).unwrap();
    for (id, feeds) in [
        ("<r1@x>", vec![]),
        ("<n1@x>", vec![]),
        ("<n2@x>", vec!["explicit".to_string()]),
    ] {
        let (tx, rx) = std::sync::mpsc::channel();
        w.submit(
            OwnedArticle {
                bytes: wire(id),
                message_id: id.into(),
                groups: vec!["misc.test".into()],
                arrival: 1,
                feeds,
                ..OwnedArticle::default()
            },
            Box::new(move |r| tx.send(r.is_ok()).unwrap()),
        )
        .unwrap();
        assert!(rx.recv().unwrap());
    }
    w.shutdown();
    assert_eq!(ids(&s, "r"), ["<r1@x>"]);
    assert_eq!(ids(&s, "explicit"), ["<n2@x>"]);
    assert_eq!(*woken.lock().unwrap(), ["r", "explicit"]);
}
