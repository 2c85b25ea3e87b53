#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::Read;

use common::*;
use tidings_store::{
    GroupStatus, Lookup, NewArticle, OverviewInput, Part, RefuseReason, Store, StoreOutcome, Token,
};

fn numbers(o: &StoreOutcome) -> Vec<(String, u64)> {
    match o {
        StoreOutcome::Stored { numbers, .. } => numbers.clone(),
        other => panic!("not stored: {other:?}"),
    }
}

#[test]
fn store_read_parts_and_counters() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    add_groups(&store);
    let mut rng = Rng::new(1);
    let a = Art::make(
        &mut rng,
        "<a@x>",
        vec![
            "comp.lang.rust".into(),
            "alt.test".into(),
            "comp.lang.rust".into(),
        ],
        100,
        2000,
    );
    let b = Art::make(&mut rng, "<b@x>", vec!["alt.test".into()], 101, 500);
    let out = store_arts(&store, &[a.clone(), b.clone(), a.clone()]);
    assert_eq!(
        numbers(&out[0]),
        vec![
            ("comp.lang.rust".to_string(), 1),
            ("alt.test".to_string(), 1)
        ]
    );
    assert_eq!(numbers(&out[1]), vec![("alt.test".to_string(), 2)]);
    assert_eq!(out[2], StoreOutcome::Duplicate);
    let again = store_arts(&store, std::slice::from_ref(&a));
    assert_eq!(again[0], StoreOutcome::Duplicate);

    let Lookup::Present(t) = store.lookup("<a@x>").unwrap() else {
        panic!()
    };
    let expected = a.stored("news.test", &numbers(&out[0]));
    assert_eq!(store.read(t, Part::Article).unwrap(), expected);
    let head = store.read(t, Part::Head).unwrap();
    assert!(head.ends_with(b"Xref: news.test comp.lang.rust:1 alt.test:1\r\n"));
    assert_eq!(store.read(t, Part::Body).unwrap(), a.body);
    assert_eq!(t.article_len() as usize, expected.len());
    assert_eq!(Token::from_bytes(&t.to_bytes()), t);
    let mut streamed = Vec::new();
    store
        .reader(t, Part::Article)
        .unwrap()
        .read_to_end(&mut streamed)
        .unwrap();
    assert_eq!(streamed, expected);

    let g = store.group("alt.test").unwrap().unwrap();
    assert_eq!((g.count, g.low, g.high), (2, 1, 2));
    let mut seen = Vec::new();
    store
        .overview("alt.test", 1..=10, |o| {
            seen.push((
                o.number,
                o.message_id.to_string(),
                o.bytes,
                o.xref.to_string(),
            ));
            true
        })
        .unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].1, "<a@x>");
    assert_eq!(seen[0].2, expected.len() as u64);
    assert_eq!(seen[0].3, "news.test comp.lang.rust:1 alt.test:1");

    // newnews
    let snap = store.snapshot().unwrap();
    let mut ids = Vec::new();
    snap.newnews(
        101,
        |g| g.starts_with("alt."),
        |id| {
            ids.push(id.to_string());
            true
        },
    )
    .unwrap();
    assert_eq!(ids, vec!["<b@x>".to_string()]);
    let mut ids = Vec::new();
    snap.newnews(
        0,
        |_| true,
        |id| {
            ids.push(id.to_string());
            true
        },
    )
    .unwrap();
    assert_eq!(ids, vec!["<a@x>".to_string(), "<b@x>".to_string()]);
    assert_eq!(snap.numbers("alt.test", 1..=100).unwrap(), vec![1, 2]);
    drop(snap);

    // cancel: gone, remembered, numbers not reused
    assert!(store.cancel("<a@x>", 200).unwrap());
    assert_eq!(store.lookup("<a@x>").unwrap(), Lookup::Rejected);
    let out = store_arts(&store, std::slice::from_ref(&a));
    assert_eq!(out[0], StoreOutcome::Refused(RefuseReason::Rejected));
    let g = store.group("alt.test").unwrap().unwrap();
    assert_eq!((g.count, g.low, g.high), (1, 2, 2));
    let g = store.group("comp.lang.rust").unwrap().unwrap();
    assert_eq!((g.count, g.low, g.high), (0, 2, 1));
    let c = Art::make(&mut rng, "<c@x>", vec!["comp.lang.rust".into()], 300, 100);
    let out = store_arts(&store, &[c]);
    assert_eq!(numbers(&out[0]), vec![("comp.lang.rust".to_string(), 2)]);

    // remembered rejects
    store.remember_reject("<r@x>", 10).unwrap();
    assert_eq!(store.lookup("<r@x>").unwrap(), Lookup::Rejected);
    assert_eq!(store.lookup("<nope@x>").unwrap(), Lookup::Unknown);

    // refusals
    let d = Art::make(
        &mut rng,
        "<d@x>",
        vec!["alt.dead".into(), "no.such".into()],
        300,
        100,
    );
    assert_eq!(
        store_arts(&store, &[d])[0],
        StoreOutcome::Refused(RefuseReason::NoGroups)
    );
    let e = Art::make(&mut rng, "bad id", vec!["alt.test".into()], 300, 100);
    assert_eq!(
        store_arts(&store, &[e])[0],
        StoreOutcome::Refused(RefuseReason::BadMessageId)
    );
    let rep = store.check(|_| {}).unwrap();
    assert!(rep.is_ok(), "{rep:?}");

    // persistence
    drop(store);
    let store = Store::open(dir.path(), small_config()).unwrap();
    assert_eq!(store.recovery_report().reindexed, 0);
    let Lookup::Present(t) = store.lookup("<b@x>").unwrap() else {
        panic!()
    };
    assert_eq!(store.read(t, Part::Body).unwrap(), b.body);
    assert_eq!(store.lookup("<a@x>").unwrap(), Lookup::Rejected);
    let g = store.group("alt.test").unwrap().unwrap();
    assert_eq!((g.count, g.low, g.high), (1, 2, 2));
}

#[test]
fn aliases_status_and_group_admin() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    add_groups(&store);
    store
        .add_group(
            "old.name",
            GroupStatus::Alias("misc.misc".into()),
            5,
            "me",
            "moved",
        )
        .unwrap();
    assert!(
        store
            .add_group("misc.misc", GroupStatus::Posting, 0, "", "")
            .is_err()
    );
    assert!(
        store
            .add_group("bad name", GroupStatus::Posting, 0, "", "")
            .is_err()
    );
    let mut rng = Rng::new(2);
    let a = Art::make(
        &mut rng,
        "<al@x>",
        vec!["old.name".into(), "misc.misc".into()],
        1,
        100,
    );
    let out = store_arts(&store, &[a]);
    assert_eq!(numbers(&out[0]), vec![("misc.misc".to_string(), 1)]);
    let g = store
        .change_group("misc.misc", Some(GroupStatus::Moderated), Some("desc"))
        .unwrap();
    assert_eq!(g.status, GroupStatus::Moderated);
    assert_eq!(g.description, "desc");
    let alts = store.list_groups(|g| g.name.starts_with("alt.")).unwrap();
    assert_eq!(alts.len(), 2);
    store.remove_group("misc.misc", 50).unwrap();
    assert!(store.group("misc.misc").unwrap().is_none());
    assert_eq!(store.lookup("<al@x>").unwrap(), Lookup::Rejected);
    assert!(store.check(|_| {}).unwrap().is_ok());
}

#[test]
fn large_article_streams() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    add_groups(&store);
    let mut rng = Rng::new(3);
    let a = Art::make(&mut rng, "<big@x>", vec!["alt.test".into()], 1, 300_000);
    let out = store_arts(&store, std::slice::from_ref(&a));
    let StoreOutcome::Stored { token, numbers } = &out[0] else {
        panic!()
    };
    let mut r = store.reader(*token, Part::Body).unwrap();
    assert_eq!(r.remaining(), a.body.len() as u64);
    let mut buf = [0u8; 1000];
    let mut got = Vec::new();
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, a.body);
    assert_eq!(
        store.read(*token, Part::Article).unwrap(),
        a.stored("news.test", numbers)
    );

    // A body is verified through the article's sum: its head (here 20 KB) is read and hashed
    // first, whatever the caller's buffer size, and never returned.
    let mut b = Art::make(&mut rng, "<bighead@x>", vec!["alt.test".into()], 2, 100_000);
    let long: String = (0..20_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    b.head
        .extend_from_slice(format!("X-Long: {long}\r\n").as_bytes());
    let out = store_arts(&store, std::slice::from_ref(&b));
    let StoreOutcome::Stored { token, .. } = &out[0] else {
        panic!()
    };
    assert_eq!(store.read(*token, Part::Body).unwrap(), b.body);
    for size in [7usize, 100, 4096, 65_536] {
        let mut r = store.reader(*token, Part::Body).unwrap();
        assert_eq!(r.remaining(), b.body.len() as u64);
        let mut buf = vec![0u8; size];
        let mut got = Vec::new();
        for _ in 0..1_000_000 {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            assert_eq!(r.remaining(), (b.body.len() - got.len()) as u64);
        }
        assert_eq!(got, b.body, "buffer {size}");
    }
}

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
    assert_send_sync::<Token>();
}

#[test]
fn expiry_reclaims_segments_in_slices() {
    use tidings_store::{ExpirePolicy, ExpireRule, OverviewField};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    add_groups(&store);
    let mut rng = Rng::new(4);
    let mut arts = Vec::new();
    for i in 0..120 {
        // alternate: short-lived alt.test and long-lived misc.misc, so segments end up sparse
        let g = if i % 3 == 0 { "misc.misc" } else { "alt.test" };
        arts.push(Art::make(
            &mut rng,
            &format!("<e{i}@x>"),
            vec![g.into()],
            1000 + i,
            600,
        ));
    }
    for chunk in arts.chunks(8) {
        store_arts(&store, chunk);
    }
    let seg_count = || std::fs::read_dir(dir.path().join("spool")).unwrap().count();
    let before = seg_count();
    assert!(before > 5, "{before}");
    let policy = ExpirePolicy {
        rules: vec![ExpireRule {
            pattern: "alt.*".into(),
            max_age: Some(100),
        }],
        default_max_age: None,
        honour_expires: false,
    };
    let mut steps = 0;
    let mut last = None;
    let mut slowest = std::time::Duration::ZERO;
    for _ in 0..10_000 {
        let t = std::time::Instant::now();
        let p = store.expire_step(&policy, 5000, 16).unwrap();
        slowest = slowest.max(t.elapsed());
        steps += 1;
        if p.done {
            last = Some(p);
            break;
        }
    }
    let p = last.expect("expiry pass did not finish");
    assert!(steps > 5, "expected several slices, got {steps}");
    assert_eq!(p.removed_articles, 80);
    assert!(p.segments_dropped + p.segments_compacted > 0, "{p:?}");
    assert!(p.records_moved > 0, "{p:?}");
    assert!(p.problems.is_empty(), "{p:?}");
    assert!(seg_count() < before, "{} >= {before}", seg_count());
    eprintln!("{steps} slices, slowest {slowest:?}, {p:?}");
    let g = store.group("alt.test").unwrap().unwrap();
    assert_eq!((g.count, g.low, g.high), (0, 81, 80));
    for (i, a) in arts.iter().enumerate() {
        let l = store.lookup(&a.id).unwrap();
        if i % 3 == 0 {
            let Lookup::Present(t) = l else {
                panic!("{} gone", a.id)
            };
            assert_eq!(store.read(t, Part::Body).unwrap(), a.body);
        } else {
            assert_eq!(l, Lookup::Rejected);
        }
    }
    let mut subjects = Vec::new();
    store
        .overview("misc.misc", 1..=3, |o| {
            subjects.push(o.field(OverviewField::Subject).into_owned());
            assert_eq!(
                o.field(OverviewField::Bytes),
                o.bytes.to_string().into_bytes()
            );
            true
        })
        .unwrap();
    assert_eq!(subjects.len(), 3);
    assert_eq!(subjects[0], arts[0].subject.as_bytes());
    let rep = store.check(|_| {}).unwrap();
    assert!(rep.is_ok(), "{rep:?}");
    // survives a reopen, and rebuild agrees
    drop(store);
    Store::rebuild(dir.path(), &small_config(), |_| {}).unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    let g = store.group("misc.misc").unwrap().unwrap();
    assert_eq!(g.count, 40);
    assert!(store.check(|_| {}).unwrap().is_ok());
}

type GroupFilter = dyn Fn(&str) -> bool;

/// NEWNEWS without an arrival index: each group's overview is searched by arrival. Arrivals
/// that run behind the numbering by less than the slack (a clock stepped back), numbers made
/// sparse by cancels, crossposts (listed once), and a reopen: the answer is exactly the
/// articles that arrived at or after the date, in arrival order.
#[test]
fn newnews_finds_exactly_the_new_articles() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), small_config()).unwrap();
    add_groups(&store);
    let mut rng = Rng::new(7);
    let mut arts = Vec::new();
    for i in 0..300i64 {
        let late = if i % 7 == 3 { 100 } else { 0 };
        let groups: Vec<String> = match i % 5 {
            0 => vec!["comp.lang.rust".into(), "alt.test".into()],
            1 | 3 => vec!["alt.test".into()],
            _ => vec!["misc.misc".into()],
        };
        arts.push(Art::make(
            &mut rng,
            &format!("<nn{i}@x>"),
            groups,
            1000 + 10 * i - late,
            300,
        ));
    }
    for chunk in arts.chunks(50) {
        for o in store_arts(&store, chunk) {
            assert!(matches!(o, StoreOutcome::Stored { .. }), "{o:?}");
        }
    }
    let cancelled: Vec<usize> = (0..300).filter(|i| i % 11 == 4).collect();
    for &i in &cancelled {
        assert!(store.cancel(&arts[i].id, 5000).unwrap());
    }
    let run = |store: &Store, since: i64, filter: &dyn Fn(&str) -> bool, max: usize| {
        let mut got = Vec::new();
        store
            .snapshot()
            .unwrap()
            .newnews(since, filter, |id| {
                got.push(id.to_string());
                got.len() < max
            })
            .unwrap();
        got
    };
    for round in 0..2 {
        let filters: [(&str, &GroupFilter); 3] = [
            ("all", &|_| true),
            ("alt.*", &|g: &str| g.starts_with("alt.")),
            ("comp.*", &|g: &str| g.starts_with("comp.")),
        ];
        for (fname, filter) in filters {
            // Besides round dates: the arrival of each article numbered just before a late
            // one (found only if the search starts before the late one).
            let sinces = [0, 1000, 1005, 1500, 2000, 3895, 3990, 3991, 4000, 9000]
                .into_iter()
                .chain((3..300).step_by(7).map(|i| 1000 + 10 * (i - 1)));
            for since in sinces {
                let mut want: Vec<(i64, &str)> = arts
                    .iter()
                    .enumerate()
                    .filter(|(i, a)| {
                        !cancelled.contains(i)
                            && a.arrival >= since
                            && a.groups.iter().any(|g| filter(g))
                    })
                    .map(|(_, a)| (a.arrival, a.id.as_str()))
                    .collect();
                want.sort();
                let got = run(&store, since, filter, usize::MAX);
                let arrival = |id: &str| arts.iter().find(|a| a.id == id).unwrap().arrival;
                let order: Vec<i64> = got.iter().map(|id| arrival(id)).collect();
                assert!(
                    order.windows(2).all(|w| w[0] <= w[1]),
                    "{fname} {since}: order {order:?}"
                );
                let mut got_sorted: Vec<(i64, &str)> =
                    got.iter().map(|id| (arrival(id), id.as_str())).collect();
                got_sorted.sort();
                assert_eq!(got_sorted, want, "round {round}, {fname}, since {since}");
            }
        }
        // The visitor can stop early.
        assert_eq!(run(&store, 0, &|_| true, 3).len(), 3);
        drop(store);
        store = Store::open(dir.path(), small_config()).unwrap();
    }
}

/// A batch of large articles is written in chunks while it is built (the early writer),
/// across segment changes: every article reads back byte for byte, before and after a reopen,
/// and `check` finds nothing wrong.
#[test]
fn big_batch_written_early_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = || tidings_store::Config {
        segment_size: 12 << 20,
        durable: true,
        ..small_config()
    };
    let store = Store::open(dir.path(), cfg()).unwrap();
    add_groups(&store);
    let mut rng = Rng::new(11);
    let arts: Vec<Art> = (0..44)
        .map(|i| {
            let size = 300_000 + (i * 9_001) % 400_000;
            Art::make(
                &mut rng,
                &format!("<big{i}@x>"),
                vec!["alt.test".into()],
                5,
                size,
            )
        })
        .collect();
    let out = store_arts(&store, &arts);
    let numbers: Vec<Vec<(String, u64)>> = out.iter().map(numbers).collect();
    let verify = |store: &Store| {
        for (a, n) in arts.iter().zip(&numbers) {
            let Lookup::Present(t) = store.lookup(&a.id).unwrap() else {
                panic!("{} missing", a.id)
            };
            assert_eq!(
                store.read(t, Part::Article).unwrap(),
                a.stored("news.test", n)
            );
            assert_eq!(store.read(t, Part::Body).unwrap(), a.body);
        }
    };
    verify(&store);
    assert!(store.check(|_| {}).unwrap().is_ok());
    drop(store);
    let store = Store::open(dir.path(), cfg()).unwrap();
    verify(&store);
    assert!(store.check(|_| {}).unwrap().is_ok());
}

#[test]
fn metadata_too_large_is_refused_before_numbering() {
    // Overview fields over the record metadata limit (1 MiB): refused, not acknowledged and
    // then unreadable; the group's numbering does not skip.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        tidings_store::Config {
            max_article: 8 << 20,
            ..small_config()
        },
    )
    .unwrap();
    add_groups(&store);
    let refs: Vec<u8> = (0..60_000)
        .flat_map(|i| format!("<ref{i}@example.org> ").into_bytes())
        .collect();
    assert!(refs.len() > 1 << 20);
    let mut wire = b"Newsgroups: alt.test\r\nReferences: ".to_vec();
    wire.extend_from_slice(&refs);
    wire.extend_from_slice(b"\r\n\r\nbody\r\n");
    let small = b"Newsgroups: alt.test\r\n\r\nbody\r\n".to_vec();
    let ov = |references: &'static [u8]| OverviewInput {
        references,
        ..OverviewInput::default()
    };
    let leaked: &'static [u8] = Box::leak(refs.into_boxed_slice());
    let batch = [
        NewArticle {
            bytes: &wire,
            message_id: "<huge@x>",
            groups: vec!["alt.test"],
            arrival: 5,
            expires: None,
            overview: ov(leaked),
            feeds: Vec::new(),
        },
        NewArticle {
            bytes: &small,
            message_id: "<small@x>",
            groups: vec!["alt.test"],
            arrival: 5,
            expires: None,
            overview: ov(b""),
            feeds: Vec::new(),
        },
    ];
    let out = store.store_batch(&batch).unwrap();
    assert_eq!(out[0], StoreOutcome::Refused(RefuseReason::TooLarge));
    assert_eq!(numbers(&out[1]), [("alt.test".to_owned(), 1)]);
    assert_eq!(store.lookup("<huge@x>").unwrap(), Lookup::Unknown);
    let Lookup::Present(t) = store.lookup("<small@x>").unwrap() else {
        panic!("small missing")
    };
    assert!(store.read(t, Part::Article).is_ok());
    assert!(store.check(|_| {}).unwrap().is_ok());
}
