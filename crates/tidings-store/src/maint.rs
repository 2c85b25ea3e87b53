//! `check` (verify every checksum and the agreement of spool and indexes) and `rebuild`
//! (regenerate every index from the spool alone). Both stream.

use std::collections::HashMap;
use std::path::Path;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use crate::error::{Error, Result};
use crate::format::{
    GroupRec, HistEntry, HistValue, IDX_VERSION, KIND_ARTICLE, OverRec, SEG_HDR, Token, decode,
    decode_meta,
};
use crate::history::{HISTORY_FILE, History, LOG_HDR};
use crate::index::{GROUP_IDS, GROUPS, META, Wtx, decode_mark, ov_def, ov_name};
use crate::spool::{self, ScanItem, SegScanner};
use crate::store::{
    Config, GroupStatus, INDEX_FILE, Progress, SPOOL_DIR, Store, apply_record, init_tables, open_db,
};

/// Most problems kept in a report (the count goes on).
const MAX_PROBLEMS: usize = 1000;

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
    /// list agree with each other and with the spool. Works on a snapshot (writes may go on);
    /// spool bytes after the snapshot's "indexed up to" mark are not examined. Streams: memory
    /// use is bounded by the number of groups.
    pub fn check(&self, mut progress: impl FnMut(Progress)) -> Result<CheckReport> {
        let mut rep = CheckReport::default();
        let txn = self.db.begin_read()?;
        let mark = match txn.open_table(META)?.get("mark")? {
            Some(v) => decode_mark(v.value()),
            None => None,
        };
        let Some((mseg, moff)) = mark else {
            return Ok(rep);
        };
        // 1. spool checksums
        let segs: Vec<u32> = spool::list_segments(&self.spool_dir)?
            .into_iter()
            .filter(|&s| s <= mseg)
            .collect();
        let mut sizes = Vec::new();
        for &s in &segs {
            let len = std::fs::metadata(spool::seg_path(&self.spool_dir, s))?.len();
            sizes.push(if s == mseg { len.min(moff) } else { len });
        }
        let total: u64 = sizes.iter().sum();
        let mut done = 0u64;
        for (&s, &limit) in segs.iter().zip(&sizes) {
            let mut sc = SegScanner::open(&self.spool_dir, s, SEG_HDR, true)?;
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
        // 2. history -> spool and overview (the history log's live records)
        let mut tables: HashMap<u32, Option<redb::ReadOnlyTable<u64, &'static [u8]>>> =
            HashMap::new();
        let open_ov = |gid: u32| -> Result<Option<redb::ReadOnlyTable<u64, &'static [u8]>>> {
            let name = ov_name(gid);
            match txn.open_table(ov_def(&name)) {
                Ok(t) => Ok(Some(t)),
                Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
                Err(e) => Err(e.into()),
            }
        };
        let (hist_total, ..) = self.history.stats()?;
        let mut n = 0u64;
        let mut cursor = Some(LOG_HDR);
        while let Some(from) = cursor {
            let mut entries = Vec::new();
            cursor = self.history.scan(from, 4096, |_, v, live| {
                if !live {
                    return Ok(());
                }
                match decode::<HistValue<'_>>(v, "history") {
                    Ok(hv) => {
                        entries.extend(hv.entries.into_iter().map(HistEntry::into_owned));
                    }
                    Err(e) => entries.push(HistEntry::Rejected {
                        id: format!("(undecodable history value: {e})").into(),
                        at: i64::MIN,
                    }),
                }
                Ok(())
            })?;
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
                            rep.problem(format!("history: {id}"));
                        }
                        continue;
                    }
                };
                rep.articles += 1;
                let t = Token::from_bytes(&token);
                if self.is_quarantined(t) {
                    rep.problem(format!("{id}: record is quarantined"));
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
                                rep.problem(format!("{id}: spool record does not match"));
                            }
                        }
                        Err(e) => rep.problem(format!("{id}: {e}")),
                    },
                    Err(e) => rep.problem(format!("{id}: segment {}: {e}", t.segment)),
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
                                rep.problem(format!("{id}: overview {g}:{num} disagrees"));
                            }
                        }
                        None => rep.problem(format!("{id}: overview row {g}:{num} missing")),
                    }
                }
            }
        }
        // 3. overview -> history, group counters
        let groups = txn.open_table(GROUPS)?;
        let mut per: HashMap<u32, (u64, u64, u64)> = HashMap::new();
        drop(tables);
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
                let ok = match self.history.get(crate::format::hist_key(&o.message_id))? {
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
                    rep.problem(format!(
                        "overview {g}:{num} ({}) not in history",
                        o.message_id
                    ));
                }
            }
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
        progress(Progress {
            phase: "done",
            done: 1,
            total: 1,
        });
        Ok(rep)
    }

    /// Regenerates history, overview, the active list's counters and the segment statistics
    /// from the spool alone, into a new index file that replaces the old one. The store must
    /// be closed. Group settings (status, description, creator, high water mark) are taken
    /// from the old index when it can be read; groups only seen in the spool are created with
    /// status `y`. Records failing a check are left out and reported. Remembered rejects are
    /// not in the spool and are lost, except those from cancel tombstones.
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
        if index.exists() {
            let old = (|| -> Result<()> {
                let db = open_db(&index, cfg)?;
                let r = db.begin_read()?;
                let t = r.open_table(GROUPS)?;
                for item in t.iter()? {
                    let (k, v) = item?;
                    old_groups.push((k.value().to_string(), decode(v.value(), "group")?));
                }
                Ok(())
            })();
            if let Err(e) = old {
                rep.problems.push(format!("old index unreadable: {e}"));
                old_groups.clear();
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
        progress(Progress {
            phase: "rebuild",
            done: total,
            total,
        });
        Ok(rep)
    }
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
