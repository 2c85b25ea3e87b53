//! The group-commit writer: completions come after the batch is stored, in any interleaving of
//! submitters, and duplicates within the queued work are reported as such.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::mpsc;

use tidings_store::writer::{OwnedArticle, Writer, WriterConfig};
use tidings_store::{Config, GroupStatus, Lookup, Part, Store, StoreOutcome};

fn article(i: usize) -> OwnedArticle {
    let id = format!("<w{i}@test.example>");
    let bytes = format!(
        "Path: x!not-for-mail\r\nFrom: a@b.example\r\nNewsgroups: misc.test\r\nSubject: s{i}\r\n\
         Message-ID: {id}\r\nDate: Tue, 01 Dec 2026 00:00:00 +0000\r\n\r\nbody {i}\r\n"
    )
    .into_bytes();
    OwnedArticle {
        bytes,
        message_id: id,
        groups: vec!["misc.test".into()],
        arrival: 1_000 + i as i64,
        subject: format!("s{i}").into_bytes(),
        from: b"a@b.example".to_vec(),
        date: b"Tue, 01 Dec 2026 00:00:00 +0000".to_vec(),
        lines: 1,
        ..OwnedArticle::default()
    }
}

/// A store in `dir` with the group misc.test.
fn store_with_group(dir: &std::path::Path) -> Arc<Store> {
    let store = Arc::new(Store::open(dir, Config::default()).unwrap());
    store
        .add_group("misc.test", GroupStatus::Posting, 0, "test", "")
        .unwrap();
    store
}

#[test]
fn completions_report_durable_outcomes_from_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_group(dir.path());
    let writer = Writer::start(
        Arc::clone(&store),
        WriterConfig {
            max_batch: 7,
            ..WriterConfig::default()
        },
    )
    .unwrap();

    let (tx, rx) = mpsc::channel();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let writer = writer.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    // Thread 3 re-submits thread 0's ids: exactly one copy of each is stored.
                    let n = if t == 3 { i } else { t * 50 + i };
                    let tx = tx.clone();
                    writer
                        .submit(article(n), Box::new(move |r| tx.send((n, r)).unwrap()))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(tx);
    let results: Vec<_> = rx.iter().take(200).collect();
    assert_eq!(results.len(), 200);
    let stored = results
        .iter()
        .filter(|(_, r)| matches!(r, Ok(StoreOutcome::Stored { .. })))
        .count();
    let dups = results
        .iter()
        .filter(|(_, r)| matches!(r, Ok(StoreOutcome::Duplicate)))
        .count();
    assert_eq!((stored, dups), (150, 50));
    // Every article reported stored is readable at once, byte for byte (plus the Xref line).
    for n in 0..150 {
        let a = article(n);
        let Lookup::Present(token) = store.lookup(&a.message_id).unwrap() else {
            panic!("{} missing", a.message_id);
        };
        let body = store.read(token, Part::Body).unwrap();
        assert_eq!(body, format!("body {n}\r\n").into_bytes());
    }
    let g = store.group("misc.test").unwrap().unwrap();
    assert_eq!(g.count, 150);
    writer.shutdown();
}

#[test]
fn shutdown_stores_what_is_queued_then_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_group(dir.path());
    let writer = Writer::start(Arc::clone(&store), WriterConfig::default()).unwrap();
    let clone = writer.clone();
    let (tx, rx) = mpsc::channel();
    for i in 0..100 {
        let tx = tx.clone();
        writer
            .submit(article(i), Box::new(move |r| tx.send(r).unwrap()))
            .unwrap();
    }
    writer.shutdown();
    drop(tx);
    let answers: Vec<_> = rx.iter().collect();
    assert_eq!(
        answers.len(),
        100,
        "every queued article is answered before shutdown returns"
    );
    assert!(
        answers
            .iter()
            .all(|r| matches!(r, Ok(StoreOutcome::Stored { .. })))
    );
    let err = clone
        .submit(article(500), Box::new(|_| panic!("must not be called")))
        .unwrap_err();
    assert_eq!(err.0.message_id, "<w500@test.example>");
    clone.shutdown(); // idempotent
}

#[test]
fn rejections_are_remembered_in_the_group_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_group(dir.path());
    let writer = Writer::start(Arc::clone(&store), WriterConfig::default()).unwrap();
    let (tx, rx) = mpsc::channel();
    // Articles and rejections interleaved; a rejection of a stored article changes nothing.
    for i in 0..100 {
        let t = tx.clone();
        writer
            .submit(article(i), Box::new(move |r| t.send(r.is_ok()).unwrap()))
            .unwrap();
        let t = tx.clone();
        let id = if i % 10 == 0 {
            format!("<w{i}@test.example>")
        } else {
            format!("<rej{i}@test.example>")
        };
        writer
            .remember_reject(id, 5, Box::new(move |r| t.send(r.is_ok()).unwrap()))
            .unwrap();
    }
    drop(tx);
    let done: Vec<bool> = rx.iter().take(200).collect();
    assert_eq!(done.len(), 200);
    assert!(done.iter().all(|ok| *ok));
    for i in 0..100 {
        assert!(matches!(
            store.lookup(&format!("<w{i}@test.example>")).unwrap(),
            Lookup::Present(_)
        ));
        if i % 10 != 0 {
            assert_eq!(
                store.lookup(&format!("<rej{i}@test.example>")).unwrap(),
                Lookup::Rejected
            );
        }
    }
    writer.shutdown();
    // durable: still there after reopening
    drop(writer);
    let store = Arc::try_unwrap(store).ok().unwrap();
    store.close().unwrap();
    let store = Store::open(dir.path(), Config::default()).unwrap();
    assert_eq!(
        store.lookup("<rej7@test.example>").unwrap(),
        Lookup::Rejected
    );
}
