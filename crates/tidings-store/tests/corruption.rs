//! Corruption tests: a flipped byte, a truncated segment, a missing index. Each is detected
//! and reported, none crashes the store, and `rebuild` repairs what can be repaired.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};

use common::*;
use tidings_store::{Error, GroupStatus, Lookup, Part, Store, StoreOutcome};

fn fill(dir: &Path, n: usize) -> Vec<(Art, Vec<(String, u64)>)> {
    let store = Store::open(dir, small_config()).unwrap();
    add_groups(&store);
    store
        .change_group("misc.misc", Some(GroupStatus::Moderated), Some("kept"))
        .unwrap();
    let mut rng = Rng::new(5);
    let arts: Vec<Art> = (0..n)
        .map(|i| {
            let g = vec![GROUPS[i % 3].to_string(), GROUPS[(i + 1) % 3].to_string()];
            Art::make(
                &mut rng,
                &format!("<{i}@corrupt>"),
                g,
                100 + i as i64,
                200 + (i * 37) % 3000,
            )
        })
        .collect();
    let mut out = Vec::new();
    for chunk in arts.chunks(10) {
        for (a, o) in chunk.iter().zip(store_arts(&store, chunk)) {
            let StoreOutcome::Stored { numbers, .. } = o else {
                panic!("{o:?}")
            };
            out.push((a.clone(), numbers));
        }
    }
    store.close().unwrap();
    out
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("spool"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Flips one byte of `needle`'s first occurrence in the spool.
fn flip(dir: &Path, needle: &[u8]) {
    for p in segments(dir) {
        let mut b = std::fs::read(&p).unwrap();
        if let Some(pos) = b.windows(needle.len()).position(|w| w == needle) {
            b[pos + needle.len() / 2] ^= 0x20;
            std::fs::write(&p, b).unwrap();
            return;
        }
    }
    panic!("needle not found");
}

fn verify_all(store: &Store, arts: &[(Art, Vec<(String, u64)>)], except: &[usize]) {
    for (i, (a, numbers)) in arts.iter().enumerate() {
        if except.contains(&i) {
            continue;
        }
        let Lookup::Present(t) = store.lookup(&a.id).unwrap() else {
            panic!("{} missing", a.id)
        };
        assert_eq!(
            store.read(t, Part::Article).unwrap(),
            a.stored("news.test", numbers),
            "{}",
            a.id
        );
    }
}

/// A body is verified through the article's sum, so a damaged head fails BODY too (and HEAD,
/// through its own sum), streamed or not.
#[test]
fn flipped_head_byte_fails_head_and_body() {
    let dir = tempfile::tempdir().unwrap();
    let arts = fill(dir.path(), 10);
    flip(
        dir.path(),
        format!("Subject: {}", arts[3].0.subject).as_bytes(),
    );
    let store = Store::open(dir.path(), small_config()).unwrap();
    let Lookup::Present(t) = store.lookup(&arts[3].0.id).unwrap() else {
        panic!()
    };
    let mut r = store.reader(t, Part::Body).unwrap();
    let mut sink = Vec::new();
    assert!(r.read_to_end(&mut sink).is_err());
    assert!(store.is_quarantined(t));
    assert!(store.read(t, Part::Body).is_err());
    assert!(store.read(t, Part::Head).is_err());
    verify_all(&store, &arts, &[3]);
}

/// A large article keeps its head sum: a damaged body fails BODY and ARTICLE, HEAD still
/// verifies (streamed or not).
#[test]
fn large_article_head_survives_a_damaged_body() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    add_groups(&store);
    let mut rng = Rng::new(9);
    let a = Art::make(
        &mut rng,
        "<large@corrupt>",
        vec!["alt.test".into()],
        1,
        100_000,
    );
    let out = store_arts(&store, std::slice::from_ref(&a));
    let StoreOutcome::Stored {
        token: t,
        ref numbers,
    } = out[0]
    else {
        panic!("{out:?}")
    };
    let stored = a.stored("news.test", numbers);
    let want_head = stored[..stored.len() - a.body.len() - 2].to_vec();
    drop(store);
    flip(dir.path(), &a.body[50_000..50_040]);
    let store = Store::open(dir.path(), small_config()).unwrap();
    assert_eq!(store.read(t, Part::Head).unwrap(), want_head);
    let mut head = Vec::new();
    store
        .reader(t, Part::Head)
        .unwrap()
        .read_to_end(&mut head)
        .unwrap();
    assert_eq!(head, want_head);
    assert!(matches!(
        store.read(t, Part::Body),
        Err(Error::Corrupt { .. })
    ));
    assert!(store.is_quarantined(t));
}

/// A small article's head is verified through the article's sum, streamed too: the body is
/// read and hashed after the head is returned, and a damaged body fails the head's read.
#[test]
fn small_article_head_streamed_is_verified_through_the_article() {
    let dir = tempfile::tempdir().unwrap();
    let arts = fill(dir.path(), 10);
    let store = Store::open(dir.path(), small_config()).unwrap();
    let Lookup::Present(t) = store.lookup(&arts[2].0.id).unwrap() else {
        panic!()
    };
    let stored = arts[2].0.stored("news.test", &arts[2].1);
    let want_head = stored[..stored.len() - arts[2].0.body.len() - 2].to_vec();
    for size in [1usize, 7, 4096, 65_536] {
        let mut r = store.reader(t, Part::Head).unwrap();
        assert_eq!(r.remaining(), want_head.len() as u64);
        let mut buf = vec![0u8; size];
        let mut got = Vec::new();
        for _ in 0..100_000 {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, want_head, "buffer {size}");
    }
    drop(store);
    flip(dir.path(), &arts[2].0.body[..40]);
    let store = Store::open(dir.path(), small_config()).unwrap();
    let mut head = Vec::new();
    assert!(
        store
            .reader(t, Part::Head)
            .unwrap()
            .read_to_end(&mut head)
            .is_err()
    );
    assert!(store.is_quarantined(t));
}

#[test]
fn flipped_body_byte_is_detected_quarantined_and_rebuild_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let arts = fill(dir.path(), 40);
    flip(dir.path(), &arts[7].0.body[..40]);
    let store = Store::open(dir.path(), small_config()).unwrap();
    let Lookup::Present(t) = store.lookup(&arts[7].0.id).unwrap() else {
        panic!()
    };
    // A small article's head has no sum of its own (it is verified through the article's),
    // so HEAD fails too; then the record is quarantined.
    assert!(matches!(
        store.read(t, Part::Head),
        Err(Error::Corrupt { .. })
    ));
    assert!(matches!(
        store.read(t, Part::Body),
        Err(Error::Quarantined { .. })
    ));
    assert!(matches!(
        store.read(t, Part::Article),
        Err(Error::Quarantined { .. })
    ));
    verify_all(&store, &arts, &[7]);
    let rep = store.check(|_| {}).unwrap();
    assert!(!rep.is_ok());
    assert_eq!(rep.bad_records, 1, "{rep:?}");
    drop(store);
    // quarantine survives a reopen
    let store = Store::open(dir.path(), small_config()).unwrap();
    assert!(store.is_quarantined(t));
    assert!(matches!(
        store.read(t, Part::Head),
        Err(Error::Quarantined { .. })
    ));
    drop(store);
    let mut calls = 0;
    let rb = Store::rebuild(dir.path(), &small_config(), |p| {
        calls += 1;
        assert!(p.done <= p.total);
    })
    .unwrap();
    assert!(calls > 0);
    assert_eq!(rb.bad_records, 1);
    assert_eq!(rb.indexed, 39);
    let store = Store::open(dir.path(), small_config()).unwrap();
    assert_eq!(store.lookup(&arts[7].0.id).unwrap(), Lookup::Unknown);
    verify_all(&store, &arts, &[7]);
    // group settings carried over from the old index
    let g = store.group("misc.misc").unwrap().unwrap();
    assert_eq!(g.status, GroupStatus::Moderated);
    assert_eq!(g.description, "kept");
    let rep = store.check(|_| {}).unwrap();
    // the bad record is still in the spool (reported), the indexes agree
    assert_eq!(rep.bad_records, 1);
    assert_eq!(rep.problem_count, 1, "{rep:?}");
}

#[test]
fn flipped_header_byte_rebuild_resyncs() {
    let dir = tempfile::tempdir().unwrap();
    let arts = fill(dir.path(), 30);
    // the record header holds the id hash; flip inside the record's message-id in its metadata
    flip(
        dir.path(),
        format!("\u{0}{}", arts[12].0.id)
            .as_bytes()
            .get(1..)
            .unwrap(),
    );
    let store = Store::open(dir.path(), small_config()).unwrap();
    let rep = store.check(|_| {}).unwrap();
    assert!(rep.bad_records >= 1, "{rep:?}");
    drop(store);
    let rb = Store::rebuild(dir.path(), &small_config(), |_| {}).unwrap();
    assert_eq!(rb.bad_records, 1, "{rb:?}");
    let store = Store::open(dir.path(), small_config()).unwrap();
    verify_all(&store, &arts, &[12]);
}

#[test]
fn truncated_segment_is_reported_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let arts = fill(dir.path(), 60);
    let segs = segments(dir.path());
    assert!(segs.len() >= 4, "{segs:?}");
    // cut a middle segment in half
    let mid = &segs[1];
    let len = std::fs::metadata(mid).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(mid)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    let mut lost = Vec::new();
    for (i, (a, _)) in arts.iter().enumerate() {
        let Lookup::Present(t) = store.lookup(&a.id).unwrap() else {
            panic!()
        };
        if let Err(e) = store.read(t, Part::Article) {
            assert!(matches!(e, Error::Corrupt { .. }), "{e}");
            lost.push(i);
        }
    }
    assert!(!lost.is_empty());
    let rep = store.check(|_| {}).unwrap();
    assert!(!rep.is_ok());
    // the store keeps working
    let mut rng = Rng::new(9);
    let extra = Art::make(
        &mut rng,
        "<extra@corrupt>",
        vec!["alt.test".into()],
        999,
        500,
    );
    assert!(matches!(
        store_arts(&store, std::slice::from_ref(&extra))[0],
        StoreOutcome::Stored { .. }
    ));
    drop(store);
    let rb = Store::rebuild(dir.path(), &small_config(), |_| {}).unwrap();
    assert!(rb.bad_records >= 1);
    let store = Store::open(dir.path(), small_config()).unwrap();
    for &i in &lost {
        assert_eq!(store.lookup(&arts[i].0.id).unwrap(), Lookup::Unknown);
    }
    verify_all(&store, &arts, &lost);
    assert!(matches!(
        store.lookup("<extra@corrupt>").unwrap(),
        Lookup::Present(_)
    ));
    let rep = store.check(|_| {}).unwrap();
    assert_eq!(rep.problem_count, rep.bad_records, "{rep:?}");
}

#[test]
fn truncated_last_segment_below_the_mark() {
    let dir = tempfile::tempdir().unwrap();
    let arts = fill(dir.path(), 20);
    let segs = segments(dir.path());
    let last = segs.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(len - 100)
        .unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    assert!(!store.recovery_report().problems.is_empty());
    // new writes go to a fresh segment, never over indexed ranges
    let mut rng = Rng::new(10);
    let extra = Art::make(
        &mut rng,
        "<extra2@corrupt>",
        vec!["alt.test".into()],
        999,
        500,
    );
    assert!(matches!(
        store_arts(&store, std::slice::from_ref(&extra))[0],
        StoreOutcome::Stored { .. }
    ));
    assert!(!store.check(|_| {}).unwrap().is_ok());
    drop(store);
    Store::rebuild(dir.path(), &small_config(), |_| {}).unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    verify_all(&store, &arts, &[19]);
    let rep = store.check(|_| {}).unwrap();
    assert_eq!(rep.problem_count, rep.bad_records, "{rep:?}");
}

#[test]
fn missing_index_is_detected_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let arts = fill(dir.path(), 50);
    std::fs::remove_file(dir.path().join("index.redb")).unwrap();
    match Store::open(dir.path(), small_config()) {
        Err(Error::IndexMissing(_)) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("opened without an index"),
    }
    let rb = Store::rebuild(dir.path(), &small_config(), |_| {}).unwrap();
    assert_eq!(rb.indexed, 50);
    assert_eq!(rb.groups_created, 3);
    let store = Store::open(dir.path(), small_config()).unwrap();
    verify_all(&store, &arts, &[]);
    for g in ["comp.lang.rust", "alt.test", "misc.misc"] {
        let info = store.group(g).unwrap().unwrap();
        let want = arts
            .iter()
            .filter(|(_, n)| n.iter().any(|(gg, _)| gg == g))
            .count() as u64;
        assert_eq!(info.count, want);
        assert_eq!(info.high, want);
    }
    // numbering continues after the rebuilt high water mark
    let mut rng = Rng::new(11);
    let next = Art::make(
        &mut rng,
        "<next@corrupt>",
        vec!["alt.test".into()],
        999,
        100,
    );
    let StoreOutcome::Stored { numbers, .. } = &store_arts(&store, std::slice::from_ref(&next))[0]
    else {
        panic!()
    };
    let high = store.group("alt.test").unwrap().unwrap().high;
    assert_eq!(numbers[0].1, high);
    assert!(store.check(|_| {}).unwrap().is_ok());
}

#[test]
fn garbage_index_file_is_reported_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let arts = fill(dir.path(), 30);
    let idx = dir.path().join("index.redb");
    let len = std::fs::metadata(&idx).unwrap().len() as usize;
    std::fs::write(&idx, vec![0x5a; len]).unwrap();
    assert!(Store::open(dir.path(), small_config()).is_err());
    let rb = Store::rebuild(dir.path(), &small_config(), |_| {}).unwrap();
    assert!(
        !rb.problems.is_empty(),
        "old index should be reported unreadable"
    );
    assert_eq!(rb.indexed, 30);
    let store = Store::open(dir.path(), small_config()).unwrap();
    verify_all(&store, &arts, &[]);
    assert!(store.check(|_| {}).unwrap().is_ok());
}
