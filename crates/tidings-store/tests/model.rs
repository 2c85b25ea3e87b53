//! Model test: random operation sequences against an in-memory model (fixed seed list).
//! `TIDINGS_MODEL_SEEDS=n` runs n seeds instead of the default 8; `TIDINGS_MODEL_OPS` sets the
//! number of operations per seed (default 150).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::Write;

use common::*;
use tidings_store::{
    Config, ExpirePolicy, ExpireRule, Lookup, Part, RefuseReason, Store, StoreOutcome,
};

#[derive(Clone, Debug)]
struct MArt {
    art: Art,
    /// (group, number) still filed.
    places: Vec<(String, u64)>,
    /// all numbers assigned (for the Xref)
    xref: Vec<(String, u64)>,
}

#[derive(Default)]
struct Model {
    arts: BTreeMap<String, MArt>,
    rejects: BTreeMap<String, i64>,
    high: BTreeMap<String, u64>,
    rows: BTreeMap<String, BTreeMap<u64, String>>,
    log: BTreeMap<String, Vec<String>>,
}

impl Model {
    fn expire(&mut self, clock: i64, keep: i64) {
        // rows first, in (group id, number) order = group creation order
        for g in LIVE_GROUPS {
            let rows: Vec<(u64, String)> = self.rows[g]
                .iter()
                .map(|(n, id)| (*n, id.clone()))
                .collect();
            for (n, id) in rows {
                let a = &self.arts[&id];
                let by_age = a.art.arrival <= clock - max_age(g);
                let by_exp = a.art.expires.is_some_and(|e| e <= clock);
                if by_age || by_exp {
                    self.remove_place(&id, g, n, clock);
                }
            }
        }
        // then remembered rejects past the keep time are forgotten
        self.rejects.retain(|_, at| *at + keep > clock);
    }

    fn remove_place(&mut self, id: &str, g: &str, n: u64, now: i64) {
        self.rows.get_mut(g).unwrap().remove(&n);
        let a = self.arts.get_mut(id).unwrap();
        a.places.retain(|(gg, nn)| !(gg == g && *nn == n));
        if a.places.is_empty() {
            self.log
                .entry(id.to_string())
                .or_default()
                .push(format!("expired {now}"));
            self.arts.remove(id);
            self.rejects.insert(id.to_string(), now);
        }
    }
}

const LIVE_GROUPS: [&str; 3] = ["comp.lang.rust", "alt.test", "misc.misc"];

fn policy() -> ExpirePolicy {
    ExpirePolicy {
        rules: vec![ExpireRule {
            pattern: "alt.*".into(),
            max_age: Some(60),
        }],
        default_max_age: Some(150),
        honour_expires: true,
    }
}

fn max_age(g: &str) -> i64 {
    if g.starts_with("alt.") { 60 } else { 150 }
}

fn observe(store: &Store, m: &Model, cfg: &Config, rng: &mut Rng, ctx: &str) {
    for g in LIVE_GROUPS {
        let info = store.group(g).unwrap().unwrap();
        let rows = &m.rows[g];
        let high = m.high.get(g).copied().unwrap_or(0);
        assert_eq!(info.high, high, "{ctx}: high of {g}");
        assert_eq!(info.count, rows.len() as u64, "{ctx}: count of {g}");
        let low = rows.keys().next().copied().unwrap_or(high + 1);
        assert_eq!(info.low, low, "{ctx}: low of {g}");
        let mut seen = Vec::new();
        store
            .overview(g, 0..=u64::MAX, |o| {
                seen.push((o.number, o.message_id.to_string(), o.bytes));
                true
            })
            .unwrap();
        let want: Vec<(u64, String, u64)> = rows
            .iter()
            .map(|(n, id)| {
                let a = &m.arts[id];
                (
                    *n,
                    id.clone(),
                    a.art.stored(&cfg.pathhost, &a.xref).len() as u64,
                )
            })
            .collect();
        assert_eq!(seen, want, "{ctx}: overview of {g}");
    }
    // a few history lookups and reads
    let ids: Vec<&String> = m.arts.keys().collect();
    for _ in 0..4 {
        if ids.is_empty() {
            break;
        }
        let id = ids[rng.below(ids.len() as u64) as usize];
        let a = &m.arts[id];
        let Lookup::Present(t) = store.lookup(id).unwrap() else {
            panic!("{ctx}: {id} not present");
        };
        let want = a.art.stored(&cfg.pathhost, &a.xref);
        match rng.below(3) {
            0 => assert_eq!(store.read(t, Part::Article).unwrap(), want, "{ctx}: {id}"),
            1 => assert_eq!(
                store.read(t, Part::Head).unwrap(),
                want[..want.len() - a.art.body.len() - 2].to_vec(),
                "{ctx}: head {id}"
            ),
            _ => assert_eq!(
                store.read(t, Part::Body).unwrap(),
                a.art.body,
                "{ctx}: body {id}"
            ),
        }
    }
    for (id, _) in m.rejects.iter().take(3) {
        assert_eq!(
            store.lookup(id).unwrap(),
            Lookup::Rejected,
            "{ctx}: reject {id}"
        );
    }
    assert_eq!(store.lookup("<never@seen>").unwrap(), Lookup::Unknown);
}

fn run_seed(seed: u64, ops: usize) {
    let dir = tempfile::tempdir().unwrap();
    // seed 1 runs with fsyncs (the default); the others without, for speed (durability is
    // what the crash test checks)
    let cfg = Config {
        durable: seed == 1,
        ..small_config()
    };
    let mut store = Store::open(dir.path(), cfg.clone()).unwrap();
    add_groups(&store);
    let mut m = Model::default();
    for g in LIVE_GROUPS {
        m.rows.insert(g.to_string(), BTreeMap::new());
    }
    let mut rng = Rng::new(seed);
    let mut clock = 1000i64;
    let mut next_id = 0u64;
    let mut all_ids: Vec<String> = Vec::new();
    for step in 0..ops {
        clock += rng.below(12) as i64;
        let ctx = format!("seed {seed} step {step}");
        match rng.below(100) {
            0..=44 => {
                // store a batch
                let n = 1 + rng.below(8) as usize;
                let mut batch = Vec::new();
                for _ in 0..n {
                    let id = if !all_ids.is_empty() && rng.chance(20) {
                        all_ids[rng.below(all_ids.len() as u64) as usize].clone()
                    } else {
                        next_id += 1;
                        format!("<{next_id}.{seed}@model>")
                    };
                    let mut groups = Vec::new();
                    for _ in 0..1 + rng.below(3) {
                        groups.push(GROUPS[rng.below(4) as usize].to_string());
                    }
                    let size = 50 + rng.below(3000) as usize;
                    let mut a = Art::make(&mut rng, &id, groups, clock, size);
                    if rng.chance(10) {
                        a.expires = Some(clock + rng.below(40) as i64);
                    }
                    batch.push(a);
                }
                let out = store_arts(&store, &batch);
                let mut in_batch = BTreeSet::new();
                for (a, o) in batch.iter().zip(&out) {
                    all_ids.push(a.id.clone());
                    let want = if !in_batch.insert(a.id.clone()) || m.arts.contains_key(&a.id) {
                        StoreOutcome::Duplicate
                    } else if m.rejects.contains_key(&a.id) {
                        StoreOutcome::Refused(RefuseReason::Rejected)
                    } else {
                        let mut places: Vec<(String, u64)> = Vec::new();
                        for g in &a.groups {
                            if LIVE_GROUPS.contains(&g.as_str())
                                && !places.iter().any(|p| &p.0 == g)
                            {
                                places.push((g.clone(), 0));
                            }
                        }
                        if places.is_empty() {
                            StoreOutcome::Refused(RefuseReason::NoGroups)
                        } else {
                            for p in &mut places {
                                let h = m.high.entry(p.0.clone()).or_insert(0);
                                *h += 1;
                                p.1 = *h;
                                m.rows.get_mut(&p.0).unwrap().insert(*h, a.id.clone());
                            }
                            m.log
                                .entry(a.id.clone())
                                .or_default()
                                .push(format!("stored {clock} {o:?}"));
                            m.arts.insert(
                                a.id.clone(),
                                MArt {
                                    art: a.clone(),
                                    places: places.clone(),
                                    xref: places.clone(),
                                },
                            );
                            let StoreOutcome::Stored { numbers, .. } = o else {
                                panic!("{ctx}: expected stored, got {o:?}");
                            };
                            assert_eq!(numbers, &places, "{ctx}");
                            continue;
                        }
                    };
                    assert_eq!(o, &want, "{ctx}: {}", a.id);
                }
            }
            45..=54 => {
                // cancel
                if all_ids.is_empty() {
                    continue;
                }
                let id = all_ids[rng.below(all_ids.len() as u64) as usize].clone();
                let was = m.arts.contains_key(&id);
                assert_eq!(store.cancel(&id, clock).unwrap(), was, "{ctx}: cancel {id}");
                m.log
                    .entry(id.clone())
                    .or_default()
                    .push(format!("cancel {clock} {was}"));
                if let Some(a) = m.arts.remove(&id) {
                    for (g, n) in a.places {
                        m.rows.get_mut(&g).unwrap().remove(&n);
                    }
                    m.rejects.insert(id, clock);
                } else {
                    m.rejects.entry(id).or_insert(clock);
                }
            }
            55..=62 => {
                // expire (small budget: many slices)
                let budget = 1 + rng.below(16) as usize;
                let p = store.expire_all(&policy(), clock, budget, 100_000).unwrap();
                assert!(p.done, "{ctx}: expiry did not finish");
                m.expire(clock, cfg.reject_keep);
            }
            63..=66 => {
                store
                    .remember_reject(&format!("<rej{step}@model>"), clock)
                    .unwrap();
                m.rejects.insert(format!("<rej{step}@model>"), clock);
            }
            67..=72 => {
                drop(store);
                store = Store::open(dir.path(), cfg.clone()).unwrap();
                assert_eq!(store.recovery_report().reindexed, 0, "{ctx}");
            }
            73..=77 => {
                // crash: the index loses the last batch's commit; recovery re-indexes it
                let idx = dir.path().join("index.redb");
                next_id += 1;
                let a = Art::make(
                    &mut rng,
                    &format!("<{next_id}.{seed}@model>"),
                    vec!["misc.misc".into()],
                    clock,
                    300,
                );
                drop(store);
                let saved = std::fs::read(&idx).unwrap();
                store = Store::open(dir.path(), cfg.clone()).unwrap();
                let out = store_arts(&store, std::slice::from_ref(&a));
                drop(store);
                std::fs::write(&idx, &saved).unwrap();
                store = Store::open(dir.path(), cfg.clone()).unwrap();
                assert_eq!(store.recovery_report().reindexed, 1, "{ctx}");
                let h = m.high.entry("misc.misc".into()).or_insert(0);
                *h += 1;
                let places = vec![("misc.misc".to_string(), *h)];
                assert_eq!(
                    out[0],
                    StoreOutcome::Stored {
                        token: match out[0] {
                            StoreOutcome::Stored { token, .. } => token,
                            _ => panic!(),
                        },
                        numbers: places.clone()
                    }
                );
                m.rows
                    .get_mut("misc.misc")
                    .unwrap()
                    .insert(*h, a.id.clone());
                all_ids.push(a.id.clone());
                m.arts.insert(
                    a.id.clone(),
                    MArt {
                        art: a,
                        places: places.clone(),
                        xref: places,
                    },
                );
            }
            78..=82 => {
                // crash with a torn record at the tail of the active segment
                drop(store);
                let mut segs: Vec<_> = std::fs::read_dir(dir.path().join("spool"))
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect();
                segs.sort();
                let last = segs.last().unwrap();
                let mut f = OpenOptions::new().append(true).open(last).unwrap();
                let mut junk = b"TDSR\x01\x01\0\0".to_vec();
                for _ in 0..rng.below(300) {
                    junk.push(rng.next() as u8);
                }
                f.write_all(&junk).unwrap();
                drop(f);
                store = Store::open(dir.path(), cfg.clone()).unwrap();
                assert_eq!(
                    store.recovery_report().truncated_bytes,
                    junk.len() as u64,
                    "{ctx}"
                );
            }
            _ => {
                observe(&store, &m, &cfg, &mut rng, &ctx);
            }
        }
    }
    observe(&store, &m, &cfg, &mut rng, &format!("seed {seed} end"));
    let rep = store.check(|_| {}).unwrap();
    assert!(rep.is_ok(), "seed {seed}: {rep:?}");
    // a rebuild from the spool alone gives the same observations (rejects from expiry aside)
    drop(store);
    let rb = Store::rebuild(dir.path(), &cfg, |_| {}).unwrap();
    assert_eq!(rb.bad_records, 0, "{rb:?}");
    let store = Store::open(dir.path(), cfg.clone()).unwrap();
    for id in m.arts.keys() {
        let info = store.snapshot().unwrap().article_info(id).unwrap();
        assert!(
            info.is_some(),
            "seed {seed}: {id} not rebuilt: {:?} {:?}",
            store.lookup(id).unwrap(),
            m.log.get(id)
        );
    }
    // expired articles still in the spool come back until the next expiry pass removes them
    let p = store.expire_all(&policy(), clock, 64, 100_000).unwrap();
    assert!(p.done);
    m.expire(clock, cfg.reject_keep);
    for (id, a) in &m.arts {
        let Lookup::Present(t) = store.lookup(id).unwrap() else {
            panic!(
                "seed {seed}: {id} lost by rebuild: {:?} {:?} {rb:?} {:?}",
                store.lookup(id).unwrap(),
                a.places,
                m.log.get(id)
            );
        };
        assert_eq!(
            store.read(t, Part::Article).unwrap(),
            a.art.stored(&cfg.pathhost, &a.xref)
        );
    }
    for g in LIVE_GROUPS {
        let info = store.group(g).unwrap().unwrap();
        assert_eq!(
            info.count,
            m.rows[g].len() as u64,
            "seed {seed}: rebuilt count of {g}"
        );
        assert_eq!(
            info.high,
            m.high.get(g).copied().unwrap_or(0),
            "seed {seed}: rebuilt high {g}"
        );
    }
    assert!(store.check(|_| {}).unwrap().is_ok());
}

#[test]
fn model_random_sequences() {
    let seeds: u64 = std::env::var("TIDINGS_MODEL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let ops: usize = std::env::var("TIDINGS_MODEL_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150);
    for seed in 1..=seeds {
        let t = std::time::Instant::now();
        run_seed(seed, ops);
        eprintln!("seed {seed}: {:?}", t.elapsed());
    }
}
