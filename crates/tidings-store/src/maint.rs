//! `check` (verify every checksum and the agreement of spool and indexes) and `rebuild`
//! (regenerate every index from the spool alone). Both stream.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use redb::{ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use crate::error::{Error, Result};
use crate::format::{
    GroupRec, HistEntry, HistValue, IDX_VERSION, KIND_ARTICLE, OverRec, SEG_HDR, Token, decode,
    decode_meta,
};
use crate::history::{HISTORY_FILE, History, LOG_HDR, decode_hist_mark};
use crate::index::{GROUP_IDS, GROUPS, META, SEGMENTS, Wtx, decode_mark, ov_def, ov_name};
use crate::spool::{self, ScanItem, SegScanner};
use crate::store::{
    Config, GroupStatus, INDEX_FILE, Progress, SPOOL_DIR, Store, apply_record, init_tables, open_db,
};

/// Most problems kept in a report (the count goes on).
const MAX_PROBLEMS: usize = 1000;
/// Problems that may come from concurrent writes are settled in batches of this many.
const SETTLE_BATCH: usize = 4096;
/// Passes `check` makes over history and overview when the history log is compacted under it.
const CHECK_PASSES: usize = 4;
/// Tries (1 ms apart) to get a snapshot whose history log commit has been published.
const SNAPSHOT_TRIES: usize = 2000;

/// The snapshot `check` compares: a read transaction and the history log's generation and
/// committed length in it.
struct CheckSnap {
    txn: ReadTransaction,
    gen_id: u64,
    hist_len: u64,
}

/// Keeps the entries of a history log record that is its key's latest (`live`).
fn keep_live(
    recs: &mut Vec<(u64, Vec<HistEntry<'static>>)>,
    key: u64,
    value: &[u8],
    live: bool,
) -> Result<()> {
    if !live {
        return Ok(());
    }
    let entries = match decode::<HistValue<'_>>(value, "history") {
        Ok(hv) => hv.entries.into_iter().map(HistEntry::into_owned).collect(),
        Err(e) => vec![HistEntry::Rejected {
            id: format!("(undecodable history value: {e})").into(),
            at: i64::MIN,
        }],
    };
    recs.push((key, entries));
    Ok(())
}

/// Result of [`Store::check`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Spool records read and verified.
    pub records: u64,
    /// Spool records that failed a check.
    pub bad_records: u64,
    /// Articles in history.
    pub articles: u64,
    /// Overview rows.
    pub overview_rows: u64,
    /// Number of problems found.
    pub problem_count: u64,
    /// The first problems (human-readable).
    pub problems: Vec<String>,
}

impl CheckReport {
    /// No problem found.
    pub fn is_ok(&self) -> bool {
        self.problem_count == 0
    }

    fn problem(&mut self, p: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        }
    }

    /// Adds the counts and problems of the history and overview phases.
    fn merge(&mut self, other: CheckReport) {
        self.articles += other.articles;
        self.overview_rows += other.overview_rows;
        self.bad_records += other.bad_records;
        self.records += other.records;
        self.problem_count += other.problem_count;
        let room = MAX_PROBLEMS.saturating_sub(self.problems.len());
        self.problems.extend(other.problems.into_iter().take(room));
    }
}

/// Result of [`Store::rebuild`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RebuildReport {
    /// Valid spool records read.
    pub records: u64,
    /// Articles indexed.
    pub indexed: u64,
    /// Records that failed a check and were left out.
    pub bad_records: u64,
    /// Groups carried over from the old index (status, description, creator).
    pub groups_kept: u64,
    /// Groups created from the spool because the old index did not have them.
    pub groups_created: u64,
    /// Problems found (human-readable, capped).
    pub problems: Vec<String>,
}

impl Store {
    /// Verifies every spool record's checksums, then that history, overview and the active
    /// list agree with each other and with the spool. Works while writes go on: the spool is
    /// examined up to the "indexed up to" mark committed when the check starts; then, on one
    /// snapshot, the history log up to the length the snapshot records and the overview and
    /// the active list as the snapshot has them. A disagreement that involves an article whose history changed after the snapshot
    /// (stored, cancelled, expired or moved since) is not reported: it is an effect of the
    /// concurrent writes, not a problem. Streams: memory use is bounded by the number of
    /// groups.
    pub fn check(&self, mut progress: impl FnMut(Progress)) -> Result<CheckReport> {
        let mut rep = CheckReport::default();
        let mark = {
            let txn = self.db.begin_read()?;
            match txn.open_table(META)?.get("mark")? {
                Some(v) => decode_mark(v.value()),
                None => None,
            }
        };
        let Some((mseg, moff)) = mark else {
            return Ok(rep);
        };
        // the spool phase needs only the mark: no read transaction is held during it
        self.check_spool(mseg, moff, &mut rep, &mut progress)?;
        let mut snap = self.check_snapshot()?;
        let mut passes = 1;
        loop {
            let mut sub = CheckReport::default();
            if self.check_indexes(&snap, &mut sub, &mut progress)? {
                rep.merge(sub);
                break;
            }
            // the history log was compacted (new generation) since the snapshot: the log
            // positions the snapshot records no longer exist; start over on a new snapshot
            if passes >= CHECK_PASSES {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::Interrupted,
                    "the history log was compacted again and again while check ran; \
                     run check again",
                )));
            }
            passes += 1;
            snap = self.check_snapshot()?;
        }
        progress(Progress {
            phase: "done",
            done: 1,
            total: 1,
        });
        Ok(rep)
    }

    /// A read snapshot whose history log position the in-memory history has reached (a commit
    /// is published right after it is durable, so this waits at most for that moment).
    fn check_snapshot(&self) -> Result<CheckSnap> {
        for _ in 0..SNAPSHOT_TRIES {
            let txn = self.db.begin_read()?;
            let (gen_id, hist_len) = match txn.open_table(META)?.get("history")? {
                Some(v) => decode_hist_mark(v.value()),
                None => None,
            }
            .ok_or_else(|| Error::CorruptIndex("history mark missing or malformed".into()))?;
            let (cur_gen, cur_len) = self.history.mark()?;
            if cur_gen == gen_id && cur_len >= hist_len {
                return Ok(CheckSnap {
                    txn,
                    gen_id,
                    hist_len,
                });
            }
            drop(txn);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Err(Error::CorruptIndex(
            "the history log lags behind the index (writer disabled?); reopen the store".into(),
        ))
    }

    /// Whether the history log is still the generation of the snapshot.
    fn same_history(&self, snap: &CheckSnap) -> Result<bool> {
        Ok(self.history.mark()?.0 == snap.gen_id)
    }

    /// Phase 1: every spool record up to the mark (segment `mseg`, offset `moff`).
    fn check_spool(
        &self,
        mseg: u32,
        moff: u64,
        rep: &mut CheckReport,
        progress: &mut impl FnMut(Progress),
    ) -> Result<()> {
        let mut segs = Vec::new();
        for s in spool::list_segments(&self.spool_dir)? {
            if s > mseg {
                continue;
            }
            match std::fs::metadata(spool::seg_path(&self.spool_dir, s)) {
                Ok(m) => segs.push((
                    s,
                    if s == mseg {
                        m.len().min(moff)
                    } else {
                        m.len()
                    },
                )),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.segment_gone(s, rep)?,
                Err(e) => return Err(e.into()),
            }
        }
        let total: u64 = segs.iter().map(|&(_, l)| l).sum();
        let mut done = 0u64;
        for (s, limit) in segs {
            let mut sc = match SegScanner::open(&self.spool_dir, s, SEG_HDR, true) {
                Ok(sc) => sc,
                Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.segment_gone(s, rep)?;
                    done += limit;
                    continue;
                }
                Err(e) => return Err(e),
            };
            sc.limit(limit);
            while let Some(item) = sc.next_item()? {
                match item {
                    ScanItem::Record { .. } => rep.records += 1,
                    ScanItem::Bad { offset, reason, .. } => {
                        rep.bad_records += 1;
                        rep.problem(format!("segment {s} offset {offset}: {reason}"));
                    }
                }
                if rep.records.is_multiple_of(4096) {
                    progress(Progress {
                        phase: "spool",
                        done: done + sc.pos(),
                        total,
                    });
                }
            }
            done += limit;
        }
        progress(Progress {
            phase: "spool",
            done: total,
            total,
        });
        Ok(())
    }

    /// A segment file listed a moment ago is gone: expiry dropped it (its `segments` row is
    /// removed before the file), or it was lost, which is a problem.
    fn segment_gone(&self, s: u32, rep: &mut CheckReport) -> Result<()> {
        let txn = self.db.begin_read()?;
        if txn.open_table(SEGMENTS)?.get(&s)?.is_some() {
            rep.problem(format!("segment {s}: file missing"));
        }
        Ok(())
    }

    /// Phases 2 and 3 on one snapshot: history -> spool and overview, then overview ->
    /// history and the group counters. Returns false when the history log was compacted
    /// since the snapshot (the pass must start over on a new snapshot).
    fn check_indexes(
        &self,
        snap: &CheckSnap,
        rep: &mut CheckReport,
        progress: &mut impl FnMut(Progress),
    ) -> Result<bool> {
        let txn = &snap.txn;
        let open_ov = |gid: u32| -> Result<Option<redb::ReadOnlyTable<u64, &'static [u8]>>> {
            let name = ov_name(gid);
            match txn.open_table(ov_def(&name)) {
                Ok(t) => Ok(Some(t)),
                Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
                Err(e) => Err(e.into()),
            }
        };
        // problems that may come from writes after the snapshot, with their history key
        let mut suspects: Vec<(u64, String)> = Vec::new();

        // 2. history -> spool and overview: the log's records before the snapshot's length
        // that are still their key's latest (so were the latest at the snapshot too; a record
        // replaced since belongs to an article that changed, and is skipped)
        let mut tables: HashMap<u32, Option<redb::ReadOnlyTable<u64, &'static [u8]>>> =
            HashMap::new();
        let (hist_total, ..) = self.history.stats()?;
        let mut n = 0u64;
        let mut from = LOG_HDR;
        while from < snap.hist_len {
            if !self.same_history(snap)? {
                return Ok(false);
            }
            let mut recs = Vec::new();
            let next = self
                .history
                .scan_until(from, snap.hist_len, 4096, |k, v, live| {
                    keep_live(&mut recs, k, v, live)
                })?;
            if !self.same_history(snap)? {
                return Ok(false);
            }
            for (key, entries) in recs {
                for e in entries {
                    n += 1;
                    if n.is_multiple_of(4096) {
                        progress(Progress {
                            phase: "history",
                            done: n,
                            total: hist_total,
                        });
                    }
                    let (id, token, places) = match e {
                        HistEntry::Present {
                            id, token, places, ..
                        } => (id, token, places),
                        HistEntry::Rejected { id, at } => {
                            if at == i64::MIN {
                                suspects.push((key, format!("history: {id}")));
                            }
                            continue;
                        }
                    };
                    rep.articles += 1;
                    let t = Token::from_bytes(&token);
                    if self.is_quarantined(t) {
                        suspects.push((key, format!("{id}: record is quarantined")));
                        continue;
                    }
                    match self.segs.get(t.segment) {
                        Ok(f) => match spool::read_header(&f, t.segment, t.offset()) {
                            Ok((h, _)) => {
                                if h.id_hash != crate::format::id_hash(&id)
                                    || h.len != t.len
                                    || h.head_len != t.head_len
                                    || h.meta_len != t.meta_len
                                {
                                    suspects
                                        .push((key, format!("{id}: spool record does not match")));
                                }
                            }
                            Err(e) => suspects.push((key, format!("{id}: {e}"))),
                        },
                        Err(e) => {
                            suspects.push((key, format!("{id}: segment {}: {e}", t.segment)));
                        }
                    }
                    for (g, num) in places {
                        let table = match tables.entry(g) {
                            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                            std::collections::hash_map::Entry::Vacant(e) => e.insert(open_ov(g)?),
                        };
                        let row = match table {
                            Some(t) => t.get(&num)?,
                            None => None,
                        };
                        match row {
                            Some(ov) => {
                                let o: OverRec<'_> = decode(ov.value(), "overview")?;
                                if o.message_id != id || o.token != token {
                                    suspects
                                        .push((key, format!("{id}: overview {g}:{num} disagrees")));
                                }
                            }
                            None => suspects
                                .push((key, format!("{id}: overview row {g}:{num} missing"))),
                        }
                    }
                }
            }
            if suspects.len() >= SETTLE_BATCH && !self.settle(snap, &mut suspects, rep)? {
                return Ok(false);
            }
            match next {
                Some(c) => from = c,
                None => break,
            }
        }
        drop(tables);

        // 3. overview -> history, group counters (all from the snapshot, except the history
        // look-ups, which see the latest history: settled like the rest)
        let groups = txn.open_table(GROUPS)?;
        let mut per: HashMap<u32, (u64, u64, u64)> = HashMap::new();
        let gids: Vec<u32> = {
            let t = txn.open_table(GROUP_IDS)?;
            let mut v = Vec::new();
            for item in t.iter()? {
                v.push(item?.0.value());
            }
            v
        };
        let mut over_total = 0u64;
        for g in &gids {
            if let Some(t) = open_ov(*g)? {
                over_total += t.len()?;
            }
        }
        for g in gids {
            let Some(over) = open_ov(g)? else { continue };
            for item in over.iter()? {
                let (k, v) = item?;
                let num = k.value();
                rep.overview_rows += 1;
                if rep.overview_rows.is_multiple_of(4096) {
                    progress(Progress {
                        phase: "overview",
                        done: rep.overview_rows,
                        total: over_total,
                    });
                }
                let e = per.entry(g).or_insert((0, u64::MAX, 0));
                e.0 += 1;
                e.1 = e.1.min(num);
                e.2 = e.2.max(num);
                let o: OverRec<'_> = decode(v.value(), "overview")?;
                let key = crate::format::hist_key(&o.message_id);
                let ok = match self.history.get(key)? {
                    Some(hv) => {
                        let hv: HistValue<'_> = decode(&hv, "history")?;
                        hv.entries.iter().any(|e| {
                            matches!(e, HistEntry::Present { id, places, .. }
                            if *id == o.message_id && places.contains(&(g, num)))
                        })
                    }
                    None => false,
                };
                if !ok {
                    suspects.push((
                        key,
                        format!("overview {g}:{num} ({}) not in history", o.message_id),
                    ));
                    if suspects.len() >= SETTLE_BATCH && !self.settle(snap, &mut suspects, rep)? {
                        return Ok(false);
                    }
                }
            }
        }
        if !self.settle(snap, &mut suspects, rep)? {
            return Ok(false);
        }
        for item in groups.iter()? {
            let (k, v) = item?;
            let g: GroupRec = decode(v.value(), "group")?;
            let (count, low, high) = per.remove(&g.id).unwrap_or((0, g.high + 1, 0));
            if g.count != count || (count > 0 && g.low != low) || g.high < high {
                rep.problem(format!(
                    "group {}: counters {}/{}/{} but overview has {count}/{low}/{high}",
                    k.value(),
                    g.count,
                    g.low,
                    g.high
                ));
            }
        }
        for (g, (count, ..)) in per {
            rep.problem(format!("{count} overview rows for unknown group id {g}"));
        }
        Ok(true)
    }

    /// Reports the suspects whose history key has no record after the snapshot's length of
    /// the log: their history is the snapshot's, so the disagreement was there at the
    /// snapshot. Those with a later record changed after the snapshot and are dropped. Returns
    /// false when the log was compacted since the snapshot (nothing can be settled then).
    fn settle(
        &self,
        snap: &CheckSnap,
        suspects: &mut Vec<(u64, String)>,
        rep: &mut CheckReport,
    ) -> Result<bool> {
        if suspects.is_empty() {
            return Ok(true);
        }
        let keys: HashSet<u64> = suspects.iter().map(|&(k, _)| k).collect();
        let mut changed: HashSet<u64> = HashSet::new();
        // Every change that could explain a suspect was published before the suspect was
        // found, so before this length was read.
        let (gen_id, end) = self.history.mark()?;
        if gen_id != snap.gen_id {
            return Ok(false);
        }
        let mut cursor = Some(snap.hist_len);
        while let Some(from) = cursor.filter(|&c| c < end) {
            cursor = self.history.scan(from, 4096, |k, _, _| {
                if keys.contains(&k) {
                    changed.insert(k);
                }
                Ok(())
            })?;
        }
        if !self.same_history(snap)? {
            return Ok(false);
        }
        for (k, p) in suspects.drain(..) {
            if !changed.contains(&k) {
                rep.problem(p);
            }
        }
        Ok(true)
    }

    /// Regenerates history, overview, the active list's counters and the segment statistics
    /// from the spool alone, into a new index file that replaces the old one. Group settings
    /// (status, description, creator, high water mark) are taken from the old index when it
    /// can be read (a group whose record cannot be decoded is reported and loses its
    /// settings); groups only seen in the spool are created with status `y`. Records failing
    /// a check are left out and reported. Remembered rejects are not in the spool and are
    /// lost, except those from cancel tombstones.
    ///
    /// The store must be closed. When its index is open elsewhere (a running server, another
    /// handle or rebuild), this fails with redb's "database already open" error
    /// ([`Error::Db`]) and changes nothing. The old index stays open (its redb lock held)
    /// until the new files have replaced it, so a server cannot open the store in the middle
    /// of a rebuild. (When there is no readable old index there is no lock to hold; a server
    /// then refuses to open anyway while the spool has segments and the index is missing.)
    pub fn rebuild(
        root: impl AsRef<Path>,
        cfg: &Config,
        mut progress: impl FnMut(Progress),
    ) -> Result<RebuildReport> {
        let root = root.as_ref();
        let spool_dir = root.join(SPOOL_DIR);
        let index = root.join(INDEX_FILE);
        let tmp = root.join(format!("{INDEX_FILE}.rebuild"));
        let mut rep = RebuildReport::default();
        let mut old_groups: Vec<(String, GroupRec)> = Vec::new();
        // Held until the new index has replaced it: its redb file lock keeps a server out.
        let mut old_db: Option<redb::Database> = None;
        if index.exists() {
            match open_db(&index, cfg) {
                Ok(db) => {
                    old_groups = read_old_groups(&db, &mut rep);
                    old_db = Some(db);
                }
                // open elsewhere: a running server would go on with the files replaced
                // under it, so refuse before anything is written
                Err(e) if e.is_already_open() => return Err(e),
                Err(e) => rep.problems.push(format!(
                    "old index unreadable: {e}; group settings are lost"
                )),
            }
        }
        match std::fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let hist_path = root.join(HISTORY_FILE);
        let hist_tmp = root.join(format!("{HISTORY_FILE}.rebuild"));
        let db = open_db(&tmp, cfg)?;
        init_tables(&db)?;
        let hist = History::create(&hist_tmp)?;
        {
            let (gen_id, len) = hist.mark()?;
            let txn = db.begin_write()?;
            txn.open_table(META)?.insert(
                "history",
                crate::history::encode_hist_mark(gen_id, len).as_slice(),
            )?;
            txn.commit()?;
        }
        {
            let txn = db.begin_write()?;
            {
                let mut w = Wtx::open(&txn, &hist)?;
                for (name, g) in &old_groups {
                    let id = w.next_group_id()?;
                    w.put_group(
                        name,
                        GroupRec {
                            v: IDX_VERSION,
                            id,
                            low: g.high + 1,
                            high: g.high,
                            count: 0,
                            status: g.status.clone(),
                            created: g.created,
                            creator: g.creator.clone(),
                            description: g.description.clone(),
                        },
                    );
                    rep.groups_kept += 1;
                }
                w.flush()?;
            }
            txn.commit()?;
        }
        let segs = spool::list_segments(&spool_dir)?;
        let mut total = 0;
        for &s in &segs {
            total += std::fs::metadata(spool::seg_path(&spool_dir, s))?.len();
        }
        let mut done = 0;
        let mut end = (segs.last().copied().unwrap_or(1), SEG_HDR);
        for &s in &segs {
            let mut sc = SegScanner::open(&spool_dir, s, SEG_HDR, true)?;
            let seg_len = sc.file_len();
            end = (s, seg_len);
            let mut seg_done = false;
            while !seg_done {
                let t = db.begin_write()?;
                let htx = {
                    let mut w = Wtx::open(&t, &hist)?;
                    for _ in 0..4096 {
                        let Some(item) = sc.next_item()? else {
                            seg_done = true;
                            break;
                        };
                        rebuild_item(&mut w, s, item, &mut rep)?;
                    }
                    w.flush()?;
                    w.finish_history(false)?
                };
                t.commit()?;
                hist.publish(htx)?;
                progress(Progress {
                    phase: "rebuild",
                    done: done + sc.pos(),
                    total,
                });
            }
            done += seg_len;
        }
        {
            hist.sync()?;
            let t = db.begin_write()?;
            {
                let mut w = Wtx::open(&t, &hist)?;
                w.set_mark(end.0, end.1)?;
            }
            t.commit()?;
        }
        drop(db);
        drop(hist);
        // history first: a crash between the renames leaves a new log next to the old index,
        // which open refuses (generations differ) until rebuild runs again
        std::fs::rename(&hist_tmp, &hist_path)?;
        std::fs::rename(&tmp, &index)?;
        spool::sync_dir(root)?;
        drop(old_db);
        progress(Progress {
            phase: "rebuild",
            done: total,
            total,
        });
        Ok(rep)
    }
}

/// The groups of the old index. A record that cannot be decoded loses only its own group's
/// settings; a failure to read the table keeps the groups read before it. Both are reported.
fn read_old_groups(db: &redb::Database, rep: &mut RebuildReport) -> Vec<(String, GroupRec)> {
    let mut groups = Vec::new();
    let res = (|| -> Result<()> {
        let r = db.begin_read()?;
        let t = r.open_table(GROUPS)?;
        for item in t.iter()? {
            let (k, v) = item?;
            match decode::<GroupRec>(v.value(), "group") {
                Ok(g) => groups.push((k.value().to_string(), g)),
                Err(e) if rep.problems.len() < MAX_PROBLEMS => rep.problems.push(format!(
                    "old index: group {}: {e}; its settings are lost",
                    k.value()
                )),
                Err(_) => {}
            }
        }
        Ok(())
    })();
    if let Err(e) = res {
        rep.problems.push(format!(
            "old index unreadable: {e}; the settings of {} groups were read, the rest are lost",
            groups.len()
        ));
    }
    groups
}

fn rebuild_item(w: &mut Wtx<'_>, s: u32, item: ScanItem, rep: &mut RebuildReport) -> Result<()> {
    match item {
        ScanItem::Record {
            offset,
            header,
            meta,
            ..
        } => {
            rep.records += 1;
            let off =
                u32::try_from(offset).map_err(|_| Error::Config("offset past 4 GiB".into()))?;
            if header.kind == KIND_ARTICLE {
                let m = decode_meta(&meta)?;
                for (g, _) in &m.places {
                    if w.group(g)?.is_none() && crate::store::valid_group_name(g) {
                        let id = w.next_group_id()?;
                        w.put_group(
                            g,
                            GroupRec {
                                v: IDX_VERSION,
                                id,
                                low: 1,
                                high: 0,
                                count: 0,
                                status: GroupStatus::Posting.as_flag().into_owned(),
                                created: header.arrival,
                                creator: "rebuild".into(),
                                description: String::new(),
                            },
                        );
                        rep.groups_created += 1;
                    }
                }
            }
            if apply_record(
                w,
                header.token(s, off),
                header.kind,
                header.arrival,
                &meta,
                true,
            )? && header.kind == KIND_ARTICLE
            {
                rep.indexed += 1;
            }
        }
        ScanItem::Bad { offset, reason, .. } => {
            rep.bad_records += 1;
            if rep.problems.len() < MAX_PROBLEMS {
                rep.problems
                    .push(format!("segment {s} offset {offset}: {reason}"));
            }
        }
    }
    Ok(())
}
