//! `check` and `rebuild` against a store in use: rebuild refuses to run while the store is open
//! (and keeps a server out while it runs), keeps the settings of every readable group, and
//! check reports no problem caused by writes that go on while it runs.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use redb::ReadableTable as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::*;
use tidings_store::{Error, ExpirePolicy, ExpireRule, GroupStatus, Lookup, Store, StoreOutcome};

fn arts(rng: &mut Rng, prefix: &str, from: usize, n: usize, arrival: i64) -> Vec<Art> {
    (from..from + n)
        .map(|i| {
            let groups = match i % 4 {
                0 => vec!["comp.lang.rust".to_string(), "alt.test".to_string()],
                1 => vec!["alt.test".to_string()],
                2 => vec!["misc.misc".to_string()],
                _ => vec!["mod.test".to_string()],
            };
            Art::make(
                rng,
                &format!("<{prefix}{i}@maint>"),
                groups,
                arrival,
                80 + (i * 37) % 300,
            )
        })
        .collect()
}

fn store_all(store: &Store, arts: &[Art], chunk: usize) {
    for c in arts.chunks(chunk) {
        for o in store_arts(store, c) {
            assert!(matches!(o, StoreOutcome::Stored { .. }), "{o:?}");
        }
    }
}

fn setup(store: &Store) {
    add_groups(store);
    store
        .add_group(
            "mod.test",
            GroupStatus::Moderated,
            0,
            "admin@test",
            "moderated",
        )
        .unwrap();
}

fn already_open(e: &Error) -> bool {
    matches!(e, Error::Db(redb::Error::DatabaseAlreadyOpen))
}

/// Names of the files in the store's directory (not the spool).
fn top_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A rebuild while the store is open (here: by this process) fails with redb's "already open"
/// error and changes nothing: no file is replaced or left behind, and the open store keeps
/// working. Once closed, rebuild runs; while it runs, the store cannot be opened; afterwards
/// the group settings (moderated, disabled) are kept.
#[test]
fn rebuild_refuses_while_the_store_is_open_and_locks_it_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    setup(&store);
    let mut rng = Rng::new(11);
    let first = arts(&mut rng, "a", 0, 80, 1000);
    store_all(&store, &first, 10);
    let ino = |name: &str| std::fs::metadata(dir.path().join(name)).unwrap().ino();
    let (index_ino, log_ino) = (ino("index.redb"), ino("history.log"));
    let files = top_files(dir.path());
    let log_before = std::fs::read(dir.path().join("history.log")).unwrap();

    let err = Store::rebuild(dir.path(), &small_config(), |_| {}).unwrap_err();
    assert!(already_open(&err), "{err:?}");
    // nothing renamed, nothing left behind
    assert_eq!(
        (ino("index.redb"), ino("history.log")),
        (index_ino, log_ino)
    );
    assert_eq!(top_files(dir.path()), files);
    assert_eq!(
        std::fs::read(dir.path().join("history.log")).unwrap(),
        log_before
    );

    // the open store still works: reads, writes, check
    let second = arts(&mut rng, "b", 0, 40, 2000);
    store_all(&store, &second, 10);
    for a in first.iter().chain(&second) {
        assert!(
            matches!(store.lookup(&a.id).unwrap(), Lookup::Present(_)),
            "{}",
            a.id
        );
    }
    let rep = store.check(|_| {}).unwrap();
    assert!(rep.is_ok(), "{rep:?}");
    assert_eq!(rep.articles, 120);
    store.close().unwrap();

    // closed: rebuild runs, and while it runs the store cannot be opened
    let mut opens = Vec::new();
    let rb = Store::rebuild(dir.path(), &small_config(), |p| {
        if p.done < p.total && opens.len() < 3 {
            opens.push(Store::open(dir.path(), small_config()).map(|_| ()));
        }
    })
    .unwrap();
    assert!(!opens.is_empty());
    for o in &opens {
        let e = o.as_ref().unwrap_err();
        assert!(already_open(e), "open during rebuild: {e:?}");
    }
    assert!(rb.problems.is_empty(), "{rb:?}");
    assert_eq!(rb.indexed, 120);
    assert_eq!(rb.groups_kept, 5);
    assert_eq!(rb.groups_created, 0);
    let store = Store::open(dir.path(), small_config()).unwrap();
    let status = |g: &str| store.group(g).unwrap().unwrap().status;
    assert_eq!(status("mod.test"), GroupStatus::Moderated);
    assert_eq!(status("alt.dead"), GroupStatus::Disabled);
    assert_eq!(status("alt.test"), GroupStatus::Posting);
    assert_eq!(store.group("mod.test").unwrap().unwrap().count, 30);
    assert!(store.check(|_| {}).unwrap().is_ok());
}

/// One group record of the old index that cannot be decoded costs that group its settings,
/// not every group: the others keep theirs (a moderated group stays moderated).
#[test]
fn rebuild_keeps_the_settings_of_every_readable_group() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    setup(&store);
    store
        .add_group("mod.other", GroupStatus::Moderated, 0, "admin@test", "")
        .unwrap();
    let mut rng = Rng::new(12);
    let a = arts(&mut rng, "c", 0, 40, 1000);
    store_all(&store, &a, 8);
    store.close().unwrap();
    {
        // damage one record of the `groups` table
        let db = redb::Database::create(dir.path().join("index.redb")).unwrap();
        let groups: redb::TableDefinition<'_, &str, &[u8]> = redb::TableDefinition::new("groups");
        let txn = db.begin_write().unwrap();
        txn.open_table(groups)
            .unwrap()
            .insert("misc.misc", [0xee_u8, 0xee, 0xee].as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let rb = Store::rebuild(dir.path(), &small_config(), |_| {}).unwrap();
    assert!(
        rb.problems.iter().any(|p| p.contains("misc.misc")),
        "{rb:?}"
    );
    assert_eq!(rb.groups_kept, 5, "{rb:?}");
    // misc.misc has articles in the spool: created again, with status y
    assert_eq!(rb.groups_created, 1, "{rb:?}");
    assert_eq!(rb.indexed, 40);
    let store = Store::open(dir.path(), small_config()).unwrap();
    let status = |g: &str| store.group(g).unwrap().unwrap().status;
    assert_eq!(status("mod.test"), GroupStatus::Moderated);
    assert_eq!(status("mod.other"), GroupStatus::Moderated);
    assert_eq!(status("alt.dead"), GroupStatus::Disabled);
    assert_eq!(status("misc.misc"), GroupStatus::Posting);
    assert_eq!(store.group("misc.misc").unwrap().unwrap().count, 10);
    assert!(store.check(|_| {}).unwrap().is_ok());
}

/// `check` runs again and again while another thread stores batches, cancels articles and
/// runs expiry slices (which remove articles, drop and compact segments and compact the
/// history log): no run reports a problem. Afterwards, with the store quiet, a damaged index
/// is still reported.
#[test]
fn check_reports_no_problem_caused_by_concurrent_writes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tidings_store::Config {
        reject_keep: 10,
        durable: false,
        ..small_config()
    };
    let store = Store::open(dir.path(), cfg.clone()).unwrap();
    setup(&store);
    let mut rng = Rng::new(13);
    // old articles (expired by the policy below) and recent ones
    store_all(&store, &arts(&mut rng, "old", 0, 2500, 1000), 100);
    store_all(&store, &arts(&mut rng, "new", 0, 1500, 90_000), 100);
    assert!(store.check(|_| {}).unwrap().is_ok());
    let policy = ExpirePolicy {
        rules: vec![ExpireRule {
            pattern: "alt.*".into(),
            max_age: Some(50_000),
        }],
        default_max_age: Some(50_000),
        honour_expires: false,
    };

    let writing = AtomicBool::new(true);
    let checks_during = AtomicU64::new(0);
    let mut stored = 0usize;
    let mut cancelled = 0usize;
    let mut compactions = 0usize;
    let mut segments = 0;
    std::thread::scope(|sc| {
        let writer = sc.spawn(|| {
            let mut rng = Rng::new(14);
            let mut next = 0usize;
            let mut recent: Vec<String> = Vec::new();
            let (mut stored, mut cancelled, mut compactions, mut segments) = (0, 0, 0, 0);
            let mut passes = 0;
            // bounded; ends once an expiry pass finished and enough checks overlapped
            for round in 0..3000 {
                if passes > 0 && checks_during.load(Ordering::Relaxed) >= 8 {
                    break;
                }
                let batch = arts(&mut rng, "w", next, 10, 100_000 + round);
                next += 10;
                store_all(&store, &batch, 10);
                stored += 10;
                recent.extend(batch.iter().map(|a| a.id.clone()));
                for _ in 0..2 {
                    let i = rng.below(recent.len() as u64) as usize;
                    let id = recent.swap_remove(i);
                    assert!(store.cancel(&id, 100_000 + round).unwrap());
                    cancelled += 1;
                }
                // an old article cancelled too (its segment is compacted or dropped by expiry)
                let old = format!("<old{}@maint>", rng.below(2500));
                if store.cancel(&old, 100_000 + round).unwrap() {
                    cancelled += 1;
                }
                let p = store.expire_step(&policy, 100_000 + round, 300).unwrap();
                if p.done {
                    passes += 1;
                    compactions += usize::from(p.history_compacted);
                    segments += p.segments_dropped + p.segments_compacted;
                }
            }
            writing.store(false, Ordering::Relaxed);
            assert!(passes > 0, "no expiry pass finished");
            (stored, cancelled, compactions, segments)
        });
        let mut runs = 0;
        while writing.load(Ordering::Relaxed) && runs < 5000 {
            let rep = store.check(|_| {}).unwrap();
            assert_eq!(
                rep.problem_count,
                0,
                "check run {runs}: {:?}",
                &rep.problems[..rep.problems.len().min(10)]
            );
            assert!(rep.records > 0 && rep.articles > 0, "{rep:?}");
            if writing.load(Ordering::Relaxed) {
                checks_during.fetch_add(1, Ordering::Relaxed);
            }
            runs += 1;
        }
        (stored, cancelled, compactions, segments) = writer.join().unwrap();
    });
    let during = checks_during.load(Ordering::Relaxed);
    assert!(during >= 8, "only {during} checks overlapped the writes");
    assert!(stored > 0 && cancelled > 0);
    eprintln!(
        "{during} checks during {stored} stores, {cancelled} cancels, \
         {compactions} history compactions, {segments} segments dropped or compacted"
    );
    // the writes exercised what check must tolerate
    assert!(compactions > 0, "the history log was not compacted");
    assert!(segments > 0, "no segment was dropped or compacted");

    // quiet again: clean, and real damage is still found
    let rep = store.check(|_| {}).unwrap();
    assert!(rep.is_ok(), "{rep:?}");
    drop(store);
    {
        // an overview row that history does not know, and a counter that is off
        let db = redb::Database::create(dir.path().join("index.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let ids: redb::TableDefinition<'_, u32, &str> = redb::TableDefinition::new("group_ids");
            let mut gid = None;
            for item in txn.open_table(ids).unwrap().iter().unwrap() {
                let (k, v) = item.unwrap();
                if v.value() == "misc.misc" {
                    gid = Some(k.value());
                }
            }
            let gid = gid.unwrap();
            let name = format!("ov.{gid}");
            let ov: redb::TableDefinition<'_, u64, &[u8]> = redb::TableDefinition::new(&name);
            let mut t = txn.open_table(ov).unwrap();
            let (k, v) = {
                let (k, v) = t.last().unwrap().unwrap();
                (k.value(), v.value().to_vec())
            };
            t.remove(&k).unwrap();
            t.insert(&(k + 1_000_000), v.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = Store::open(dir.path(), cfg).unwrap();
    let rep = store.check(|_| {}).unwrap();
    assert!(
        rep.problems.iter().any(|p| p.contains("not in history")),
        "{rep:?}"
    );
    assert!(
        rep.problems.iter().any(|p| p.contains("missing")),
        "{rep:?}"
    );
}
