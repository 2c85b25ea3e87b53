//! History log tests: an uncommitted tail is cut at open, a missing log is detected and rebuilt,
//! expiry compacts the log, leftovers of an interrupted compaction are resolved.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::Write as _;
use std::path::Path;

use common::*;
use tidings_store::{Error, ExpirePolicy, Lookup, Store, StoreOutcome};

fn fill(dir: &Path, n: usize, prefix: &str, arrival: i64) -> Vec<Art> {
    let store = Store::open(dir, small_config()).unwrap();
    if store.group("alt.test").unwrap().is_none() {
        add_groups(&store);
    }
    let mut rng = Rng::new(9);
    let arts: Vec<Art> = (0..n)
        .map(|i| {
            Art::make(
                &mut rng,
                &format!("<{prefix}{i}@hist>"),
                vec![GROUPS[i % 3].to_string()],
                arrival,
                100 + (i * 13) % 500,
            )
        })
        .collect();
    for chunk in arts.chunks(25) {
        for o in store_arts(&store, chunk) {
            assert!(matches!(o, StoreOutcome::Stored { .. }), "{o:?}");
        }
    }
    store.close().unwrap();
    arts
}

fn all_present(store: &Store, arts: &[Art]) {
    for a in arts {
        assert!(
            matches!(store.lookup(&a.id).unwrap(), Lookup::Present(_)),
            "{} missing",
            a.id
        );
    }
}

#[test]
fn uncommitted_history_tail_is_cut_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let arts = fill(dir.path(), 60, "a", 100);
    let log = dir.path().join("history.log");
    let len = std::fs::metadata(&log).unwrap().len();
    // bytes appended for a transaction whose commit never happened
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(&[0x55; 300]).unwrap();
    drop(f);
    let store = Store::open(dir.path(), small_config()).unwrap();
    assert!(
        store
            .recovery_report()
            .problems
            .iter()
            .any(|p| p.contains("history log")),
        "{:?}",
        store.recovery_report()
    );
    assert_eq!(std::fs::metadata(&log).unwrap().len(), len);
    all_present(&store, &arts);
    assert!(store.check(|_| {}).unwrap().is_ok());
    store.close().unwrap();
}

#[test]
fn missing_history_log_is_detected_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let arts = fill(dir.path(), 40, "m", 100);
    std::fs::remove_file(dir.path().join("history.log")).unwrap();
    match Store::open(dir.path(), small_config()) {
        Err(Error::IndexMissing(_)) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("opened without a history log"),
    }
    let rb = Store::rebuild(dir.path(), &small_config(), |_| {}).unwrap();
    assert_eq!(rb.indexed, 40);
    let store = Store::open(dir.path(), small_config()).unwrap();
    all_present(&store, &arts);
    assert!(store.check(|_| {}).unwrap().is_ok());
}

#[test]
fn expiry_forgets_rejects_and_compacts_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let old = fill(dir.path(), 400, "o", 100);
    let store = Store::open(dir.path(), small_config()).unwrap();
    let policy = ExpirePolicy {
        rules: Vec::new(),
        default_max_age: Some(50),
        honour_expires: false,
    };
    // 1. every article expires: ids remembered as rejected
    let p = store.expire_all(&policy, 200, 64, 10_000).unwrap();
    assert!(p.done);
    assert_eq!(p.removed_articles, 400);
    for a in &old {
        assert_eq!(store.lookup(&a.id).unwrap(), Lookup::Rejected);
    }
    // 2. past reject_keep (1000 s): forgotten, and the log, now all dead, is rewritten
    let p = store.expire_all(&policy, 5000, 64, 10_000).unwrap();
    assert!(p.done);
    assert_eq!(p.forgotten_rejects, 400);
    assert!(p.history_compacted, "{p:?}");
    for a in &old {
        assert_eq!(store.lookup(&a.id).unwrap(), Lookup::Unknown);
    }
    store.close().unwrap();
    assert!(
        std::fs::metadata(dir.path().join("history.log"))
            .unwrap()
            .len()
            < 1024
    );
    // 3. the compacted log reopens and takes new articles
    let new = fill(dir.path(), 30, "n", 6000);
    let store = Store::open(dir.path(), small_config()).unwrap();
    all_present(&store, &new);
    for a in &old {
        assert_eq!(store.lookup(&a.id).unwrap(), Lookup::Unknown);
    }
    assert!(store.check(|_| {}).unwrap().is_ok());
}

#[test]
fn stale_compaction_leftover_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let arts = fill(dir.path(), 20, "s", 100);
    // a compacted log whose commit never happened (its generation is not the index's)
    let mut junk = b"TIDHIST\x01".to_vec();
    junk.extend_from_slice(&[7u8; 24]);
    std::fs::write(dir.path().join("history.log.new"), &junk).unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    assert!(!dir.path().join("history.log.new").exists());
    all_present(&store, &arts);
    assert!(store.check(|_| {}).unwrap().is_ok());
}
