//! Expiry by age, in slices: overview rows, remembered rejects, then spool segments.

use std::collections::HashMap;
use std::ops::Bound;

use redb::ReadableTable;

use crate::error::{Error, Result};
use crate::format::{
    HistEntry, HistValue, KIND_ARTICLE, OverRec, SegStat, Token, decode, decode_meta, encode,
};
use crate::spool::{self, ScanItem, SegScanner};
use crate::store::Store;

/// One expiry rule: groups matching `pattern` keep articles `max_age` seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpireRule {
    /// Simple glob on the group name: `*` matches any run of characters, `?` one character.
    pub pattern: String,
    /// Maximum age in seconds; `None` keeps articles forever (unless Expires applies).
    pub max_age: Option<i64>,
}

/// What to expire. The first rule whose pattern matches a group applies, else `default_max_age`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpirePolicy {
    /// Rules, first match wins.
    pub rules: Vec<ExpireRule>,
    /// Maximum age for groups no rule matches; `None` keeps them forever.
    pub default_max_age: Option<i64>,
    /// Also expire an article once its Expires time has passed.
    pub honour_expires: bool,
}

impl ExpirePolicy {
    /// Maximum age for a group.
    pub fn max_age(&self, group: &str) -> Option<i64> {
        self.rules
            .iter()
            .find(|r| glob_match(r.pattern.as_bytes(), group.as_bytes()))
            .map_or(self.default_max_age, |r| r.max_age)
    }
}

/// Matches a simple glob (`*`, `?`), iteratively (no recursion, linear backtracking).
pub fn glob_match(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match pat.get(p) {
            Some(b'*') => {
                star = Some((p, i));
                p += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == s.get(i) => {
                p += 1;
                i += 1;
            }
            _ => match star {
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            },
        }
    }
    while pat.get(p) == Some(&b'*') {
        p += 1;
    }
    p == pat.len()
}

/// Progress of the current expiry pass (cumulative over its steps).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpireProgress {
    /// Current phase: "overview", "history", "segments" or "done".
    pub phase: &'static str,
    /// Overview rows and history entries examined.
    pub examined: u64,
    /// Overview rows removed.
    pub removed_rows: u64,
    /// Articles removed (all their rows gone; id remembered as rejected).
    pub removed_articles: u64,
    /// Remembered rejects forgotten (older than the keep time).
    pub forgotten_rejects: u64,
    /// Segments deleted.
    pub segments_dropped: u64,
    /// Segments compacted (live records copied, then deleted).
    pub segments_compacted: u64,
    /// Records copied by compaction.
    pub records_moved: u64,
    /// The history log was rewritten without its dead records.
    pub history_compacted: bool,
    /// Problems found (unreadable live records left in place, ...).
    pub problems: Vec<String>,
    /// The pass is finished; the next step starts a new pass.
    pub done: bool,
}

#[derive(Default)]
enum Phase {
    #[default]
    Start,
    Overview((u32, Option<u64>)),
    History(Option<u64>),
    HistoryCompact,
    Segments {
        list: Vec<u32>,
        idx: usize,
        from: Option<u64>,
    },
}

/// Expiry cursor, kept by the writer between steps (not persisted: a restart starts a new pass).
#[derive(Default)]
pub(crate) struct ExpireState {
    phase: Phase,
    progress: ExpireProgress,
    ages: HashMap<u32, Option<i64>>,
}

enum SegAction {
    Nothing,
    Delete(u32),
}

impl Store {
    /// Runs one slice of expiry: at most `budget` overview rows, history entries or spool
    /// records, in one write transaction (so the writer is held only for that slice).
    ///
    /// A pass goes: overview rows (an article's row goes when its group's age limit or, when
    /// honoured, its Expires time has passed; the article goes, with its id remembered as
    /// rejected, when its last row goes), then history (remembered rejects older than
    /// [`crate::Config::reject_keep`] are forgotten), then segments (a segment with no live
    /// article is deleted; one whose live bytes are below [`crate::Config::compact_below`] is
    /// compacted: live records are copied to the active segment and the index repointed, in
    /// slices; the old file is deleted only after the commit that stops referencing it).
    ///
    /// Call repeatedly until the returned progress has `done` set.
    pub fn expire_step(
        &self,
        policy: &ExpirePolicy,
        now: i64,
        budget: usize,
    ) -> Result<ExpireProgress> {
        let budget = budget.max(1);
        let dir = self.spool_dir.clone();
        let seg_size = self.cfg.segment_size;
        let keep = self.cfg.reject_keep;
        let compact_below = self.cfg.compact_below;
        let mut action = SegAction::Nothing;
        let mut guard = self.lock_writer()?;
        if matches!(guard.expire.phase, Phase::Start) {
            guard.expire.progress = ExpireProgress {
                phase: "overview",
                ..ExpireProgress::default()
            };
            guard.expire.ages.clear();
            guard.expire.phase = Phase::Overview((0, None));
        }
        drop(guard);
        let progress = self.write_op(|w, wtx| {
            let active = w.seg;
            let mut st = std::mem::take(&mut w.expire);
            let res = (|| -> Result<()> {
                match &mut st.phase {
                    Phase::Start => {}
                    Phase::Overview(cursor) => {
                        // walk group by group (ids in order), at most `budget` rows per step
                        let mut rows = Vec::with_capacity(budget);
                        let mut finished = false;
                        while rows.len() < budget {
                            let (gid0, after) = *cursor;
                            let next_gid = match wtx.gids.range(gid0..)?.next() {
                                Some(r) => Some(r?.0.value()),
                                None => None,
                            };
                            let Some(gid) = next_gid else {
                                finished = true;
                                break;
                            };
                            let lower = match after {
                                Some(k) if gid == gid0 => Bound::Excluded(k),
                                _ => Bound::Unbounded,
                            };
                            let want = budget - rows.len();
                            let mut got = 0;
                            for item in wtx
                                .ov(gid)?
                                .range::<u64>((lower, Bound::Unbounded))?
                                .take(want)
                            {
                                let (k, v) = item?;
                                let o: OverRec<'_> = decode(v.value(), "overview")?;
                                rows.push((
                                    (gid, k.value()),
                                    o.arrival,
                                    o.expires,
                                    o.message_id.into_owned(),
                                ));
                                got += 1;
                            }
                            if got < want {
                                *cursor = (gid.saturating_add(1), None);
                                if gid == u32::MAX {
                                    finished = true;
                                    break;
                                }
                            } else if let Some(last) = rows.last() {
                                *cursor = (gid, Some(last.0.1));
                            }
                        }
                        if finished {
                            st.progress.phase = "history";
                            st.phase = Phase::History(None);
                        }
                        for ((gid, n), arrival, expires, mid) in rows {
                            st.progress.examined += 1;
                            let age = match st.ages.get(&gid) {
                                Some(a) => *a,
                                None => {
                                    let a = match wtx.group_name(gid)? {
                                        Some(name) => policy.max_age(&name),
                                        None => Some(0),
                                    };
                                    st.ages.insert(gid, a);
                                    a
                                }
                            };
                            let by_expires =
                                policy.honour_expires && expires.is_some_and(|e| e <= now);
                            let by_age = age.is_some_and(|a| arrival <= now.saturating_sub(a));
                            if by_expires || by_age {
                                st.progress.removed_rows += 1;
                                if wtx.remove_place(&mid, gid, n, now)? {
                                    st.progress.removed_articles += 1;
                                }
                            }
                        }
                    }
                    Phase::History(after) => {
                        // walk the history log from the cursor; only a key's latest record is
                        // live
                        let from = after.unwrap_or(crate::history::LOG_HDR);
                        let mut drop_ids = Vec::new();
                        let mut n = 0u64;
                        let next = wtx.history.scan(from, budget, |_, v, live| {
                            n += 1;
                            if live {
                                let hv: HistValue<'_> = decode(v, "history")?;
                                for e in hv.entries {
                                    if let HistEntry::Rejected { id, at } = e
                                        && at.saturating_add(keep) <= now
                                    {
                                        drop_ids.push(id.into_owned());
                                    }
                                }
                            }
                            Ok(())
                        })?;
                        st.progress.examined += n;
                        for id in drop_ids {
                            wtx.hist_put(&id, None)?;
                            st.progress.forgotten_rejects += 1;
                        }
                        match next {
                            Some(off) => *after = Some(off),
                            None => st.phase = Phase::HistoryCompact,
                        }
                    }
                    Phase::HistoryCompact => {
                        // rewrite the log without dead records when they outweigh live ones
                        let (_, len, live) = wtx.history.stats()?;
                        let dead = len.saturating_sub(live + crate::history::LOG_HDR);
                        if dead > live && dead >= 4096 {
                            let h = wtx.history;
                            if wtx.hist.compact(h)? {
                                st.progress.history_compacted = true;
                            }
                        }
                        st.progress.phase = "segments";
                        let mut list = spool::list_segments(&dir)?;
                        list.retain(|&s| s < active);
                        st.phase = Phase::Segments {
                            list,
                            idx: 0,
                            from: None,
                        };
                    }
                    Phase::Segments { list, idx, from } => {
                        let Some(&seg) = list.get(*idx) else {
                            st.progress.phase = "done";
                            st.progress.done = true;
                            st.phase = Phase::Start;
                            return Ok(());
                        };
                        let stat: Option<SegStat> = match wtx.segs.get(&seg)? {
                            Some(v) => Some(decode(v.value(), "segment stats")?),
                            None => None,
                        };
                        let live = stat.map_or(0, |s| s.live);
                        let sparse = stat.is_some_and(|s| {
                            (s.live_bytes as f64) < compact_below * (s.bytes as f64)
                        });
                        if live == 0 {
                            wtx.drop_seg(seg)?;
                            action = SegAction::Delete(seg);
                            st.progress.segments_dropped += 1;
                            *idx += 1;
                            *from = None;
                        } else if !sparse {
                            *idx += 1;
                            *from = None;
                        } else {
                            let start = from.unwrap_or(0);
                            let mut sc = SegScanner::open(&dir, seg, start, true)?;
                            let mut count = 0;
                            let mut finished = true;
                            while let Some(item) = sc.next_item()? {
                                match item {
                                    ScanItem::Record {
                                        offset,
                                        header,
                                        meta,
                                        article,
                                    } if header.kind == KIND_ARTICLE => {
                                        let off = u32::try_from(offset).map_err(|_| {
                                            Error::Config("offset past 4 GiB".into())
                                        })?;
                                        let old = header.token(seg, off);
                                        let m = decode_meta(&meta)?;
                                        let Some(HistEntry::Present {
                                            id,
                                            token,
                                            arrival,
                                            expires,
                                            places,
                                        }) = wtx.hist_get(&m.message_id)?
                                        else {
                                            continue;
                                        };
                                        if Token::from_bytes(&token) != old {
                                            continue;
                                        }
                                        let mut rec = Vec::with_capacity(old.record_len() as usize);
                                        header.encode(&meta, &mut rec);
                                        rec.extend_from_slice(&article);
                                        let (ns, no) = w.place(&dir, rec.len() as u64, seg_size)?;
                                        w.push(&rec);
                                        let new = header.token(ns, no);
                                        for &(gid, n) in &places {
                                            let updated = match wtx.ov(gid)?.get(&n)? {
                                                Some(v) => {
                                                    let mut o: OverRec<'_> =
                                                        decode(v.value(), "overview")?;
                                                    o.token = new.to_bytes();
                                                    Some(encode(&o)?)
                                                }
                                                None => None,
                                            };
                                            if let Some(b) = updated {
                                                wtx.ov(gid)?.insert(&n, b.as_slice())?;
                                            }
                                        }
                                        wtx.hist_put(
                                            &id,
                                            Some(HistEntry::Present {
                                                id: id.clone(),
                                                token: new.to_bytes(),
                                                arrival,
                                                expires,
                                                places,
                                            }),
                                        )?;
                                        wtx.uncount_live(seg, old.record_len())?;
                                        wtx.count_record(ns, old.record_len(), true)?;
                                        st.progress.records_moved += 1;
                                    }
                                    ScanItem::Record { .. } => {}
                                    ScanItem::Bad { offset, reason, .. } => {
                                        st.progress.problems.push(format!(
                                            "segment {seg} offset {offset}: {reason}"
                                        ));
                                    }
                                }
                                count += 1;
                                if count >= budget {
                                    finished = false;
                                    break;
                                }
                            }
                            if finished {
                                let live_now = wtx.seg(seg)?.live;
                                if live_now == 0 {
                                    wtx.drop_seg(seg)?;
                                    action = SegAction::Delete(seg);
                                    st.progress.segments_compacted += 1;
                                } else {
                                    st.progress.problems.push(format!(
                                        "segment {seg}: {live_now} live records could not be \
                                         moved; kept"
                                    ));
                                }
                                *idx += 1;
                                *from = None;
                            } else {
                                *from = Some(sc.pos());
                            }
                        }
                    }
                }
                Ok(())
            })();
            let progress = st.progress.clone();
            if res.is_err() {
                st = ExpireState::default();
            }
            w.expire = st;
            res.map(|()| progress)
        })?;
        if let SegAction::Delete(seg) = action {
            if !self.cfg.durable {
                // The commit that stopped using the segment (or moved its records away) must
                // survive a crash before the file goes.
                self.flush()?;
            }
            self.segs.forget(seg);
            match std::fs::remove_file(spool::seg_path(&dir, seg)) {
                Ok(()) => spool::sync_dir(&dir)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(progress)
    }

    /// Runs a whole expiry pass (steps of `budget` until done). Bounded: gives up after
    /// `max_steps` steps and returns the progress so far.
    pub fn expire_all(
        &self,
        policy: &ExpirePolicy,
        now: i64,
        budget: usize,
        max_steps: usize,
    ) -> Result<ExpireProgress> {
        let mut last = ExpireProgress::default();
        for _ in 0..max_steps {
            last = self.expire_step(policy, now, budget)?;
            if last.done {
                break;
            }
        }
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(b"*", b"comp.lang.rust"));
        assert!(glob_match(b"comp.*", b"comp.lang.rust"));
        assert!(!glob_match(b"comp.*", b"alt.comp"));
        assert!(glob_match(b"*.rust", b"comp.lang.rust"));
        assert!(glob_match(b"c?mp.*.r*t", b"comp.lang.rust"));
        assert!(!glob_match(b"comp", b"comp.lang"));
        assert!(glob_match(b"", b""));
    }

    #[test]
    fn policy_first_match() {
        let p = ExpirePolicy {
            rules: vec![
                ExpireRule {
                    pattern: "alt.binaries.*".into(),
                    max_age: Some(10),
                },
                ExpireRule {
                    pattern: "alt.*".into(),
                    max_age: None,
                },
            ],
            default_max_age: Some(100),
            honour_expires: false,
        };
        assert_eq!(p.max_age("alt.binaries.x"), Some(10));
        assert_eq!(p.max_age("alt.test"), None);
        assert_eq!(p.max_age("comp.x"), Some(100));
    }
}
