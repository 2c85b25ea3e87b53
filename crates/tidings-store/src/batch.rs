//! The group commit of a batch of new articles ([`Store::store_batch`]): deciding and
//! numbering each article, building its spool record, writing the spool (early, on a helper
//! thread, for batches of large articles) and indexing everything in one transaction.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::format::{
    HistEntry, IDX_VERSION, MAX_META, RecHeader, RecordMeta, Token, head_end, id_hash, key_of,
};
use crate::index::{IndexArticle, Wtx};
use crate::store::{GroupStatus, NewArticle, RefuseReason, Store, StoreOutcome, Writer};

/// Pending spool bytes above which a batch of large articles starts writing before it is built.
const EARLY_WRITE: usize = 8 << 20;

/// A group an article is filed in: name (after aliases), group id, article number.
type Place = (String, u32, u64);

/// An article of a batch accepted by the first pass, indexed by the second.
struct Staged<'a> {
    /// Its slot in the outcome list.
    out: usize,
    art: &'a NewArticle<'a>,
    /// History key of its message-id.
    key: u64,
    token: Token,
    xref: String,
    places: Vec<Place>,
    feeds: Vec<&'a str>,
    /// Some history entry (or an earlier article of the batch) uses `key` already.
    key_used: bool,
}

/// Settings of one batch, read from the store once.
struct BatchCfg<'c> {
    dir: &'c Path,
    seg_size: u64,
    pathhost: &'c str,
    max_article: usize,
}

/// The first pass over a batch: decides, numbers and builds the spool record of each article
/// (no index writes yet), collecting the outcomes and what the second pass indexes.
struct Pass1<'a> {
    out: Vec<StoreOutcome>,
    staged: Vec<Staged<'a>>,
    seen: HashSet<&'a str>,
    staged_keys: HashSet<u64>,
    xref_line: Vec<u8>,
    meta: Vec<u8>,
}

impl<'a> Pass1<'a> {
    fn new(n: usize) -> Self {
        Pass1 {
            out: Vec::with_capacity(n),
            staged: Vec::with_capacity(n),
            seen: HashSet::with_capacity(n),
            staged_keys: HashSet::with_capacity(n),
            xref_line: Vec::with_capacity(256),
            meta: Vec::with_capacity(512),
        }
    }

    /// Decides on one article; when it is accepted, numbers it and appends its record to the
    /// writer's pending bytes.
    fn add(
        &mut self,
        cfg: &BatchCfg<'_>,
        w: &mut Writer,
        wtx: &mut Wtx<'_>,
        art: &'a NewArticle<'a>,
    ) -> Result<()> {
        // The message-id is hashed once: the history key and the record's id hash come from it.
        let hash = id_hash(art.message_id);
        let key = key_of(&hash);
        let key_used = match self.refusal(cfg, wtx, art, key)? {
            Ok(key_used) => key_used,
            Err(outcome) => {
                self.out.push(outcome);
                return Ok(());
            }
        };
        let Some(hend) = head_end(art.bytes) else {
            self.out
                .push(StoreOutcome::Refused(RefuseReason::NoHeaderEnd));
            return Ok(());
        };
        let mut places = resolve_groups(wtx, &art.groups)?;
        if places.is_empty() {
            self.out.push(StoreOutcome::Refused(RefuseReason::NoGroups));
            return Ok(());
        }
        // numbers: next after the high water mark (never reused); the mark moves once the
        // record is known to fit, so that the next article of the batch gets the next one
        for p in &mut places {
            if let Some(g) = wtx.group(&p.0)? {
                p.2 = g.high + 1;
            }
        }
        let xref = xref_value(cfg.pathhost, &places);
        self.xref_line.clear();
        self.xref_line.extend_from_slice(b"Xref: ");
        self.xref_line.extend_from_slice(xref.as_bytes());
        self.xref_line.extend_from_slice(b"\r\n");
        let head = art.bytes.get(..hend).unwrap_or_default();
        let rest = art.bytes.get(hend..).unwrap_or_default();
        let meta = RecordMeta {
            v: IDX_VERSION,
            message_id: art.message_id.into(),
            places: places
                .iter()
                .map(|(n, _, num)| (Cow::Borrowed(n.as_str()), *num))
                .collect(),
            expires: art.expires,
            subject: art.overview.subject.into(),
            from: art.overview.from.into(),
            date: art.overview.date.into(),
            references: art.overview.references.into(),
            lines: art.overview.lines,
            xref: xref.as_str().into(),
        };
        self.meta.clear();
        crate::format::encode_into(&meta, &mut self.meta)?;
        let mut feeds: Vec<&str> = Vec::new();
        for f in &art.feeds {
            if crate::queue::valid_peer(f) && !feeds.contains(f) {
                feeds.push(f);
            }
        }
        crate::queue::encode_trailer(&feeds, &mut self.meta)?;
        // The metadata (overview fields, filings, Xref, feeds) must fit the limit readers
        // check, or the article would be acknowledged and then never readable.
        let Some(meta_len) = u32::try_from(self.meta.len())
            .ok()
            .filter(|&n| n <= MAX_META)
        else {
            self.out.push(StoreOutcome::Refused(RefuseReason::TooLarge));
            return Ok(());
        };
        for p in &places {
            if let Some(g) = wtx.group(&p.0)? {
                g.high = g.high.max(p.2);
            }
        }
        let header =
            RecHeader::for_parts(hash, art.arrival, meta_len, &[head, &self.xref_line], rest);
        let (seg, off) = w.place(cfg.dir, header.record_len(), cfg.seg_size)?;
        let buf = w.pending_mut();
        header.encode(&self.meta, buf);
        buf.extend_from_slice(head);
        buf.extend_from_slice(&self.xref_line);
        buf.extend_from_slice(rest);
        // two ids of this batch with the same key: the second must merge
        let key_used = key_used || !self.staged_keys.insert(key);
        self.staged.push(Staged {
            out: self.out.len(),
            art,
            key,
            token: header.token(seg, off),
            xref,
            places,
            feeds,
            key_used,
        });
        self.out.push(StoreOutcome::Duplicate); // replaced in pass 2
        Ok(())
    }

    /// `Err(outcome)` when the article is refused or a duplicate on its id or size; otherwise
    /// whether a history entry of another id uses its key.
    fn refusal(
        &mut self,
        cfg: &BatchCfg<'_>,
        wtx: &Wtx<'_>,
        art: &'a NewArticle<'a>,
        key: u64,
    ) -> Result<std::result::Result<bool, StoreOutcome>> {
        if !crate::store::valid_message_id(art.message_id) {
            return Ok(Err(StoreOutcome::Refused(RefuseReason::BadMessageId)));
        }
        if !self.seen.insert(art.message_id) {
            return Ok(Err(StoreOutcome::Duplicate));
        }
        let (entry, key_used) = wtx.hist_probe(art.message_id, key)?;
        Ok(match entry {
            Some(HistEntry::Present { .. }) => Err(StoreOutcome::Duplicate),
            Some(HistEntry::Rejected { .. }) => Err(StoreOutcome::Refused(RefuseReason::Rejected)),
            None if art.bytes.len() > cfg.max_article => {
                Err(StoreOutcome::Refused(RefuseReason::TooLarge))
            }
            None => Ok(key_used),
        })
    }
}

/// The groups an article is filed in: duplicates dropped, one alias followed (at most four
/// hops), unknown and disabled (`x`) groups skipped. Numbers are 0 until assigned.
fn resolve_groups(wtx: &mut Wtx<'_>, groups: &[&str]) -> Result<Vec<Place>> {
    let mut places: Vec<Place> = Vec::with_capacity(groups.len());
    for &g in groups {
        let mut name = Cow::Borrowed(g);
        let mut hops = 0;
        let target = loop {
            let Some(rec) = wtx.group(&name)? else {
                break None;
            };
            match GroupStatus::from_flag(&rec.status) {
                Some(GroupStatus::Disabled) => break None,
                Some(GroupStatus::Alias(t)) if hops < 4 => {
                    hops += 1;
                    name = Cow::Owned(t);
                }
                Some(GroupStatus::Alias(_)) => break None,
                _ => break Some(rec.id),
            }
        };
        if let Some(id) = target
            && !places.iter().any(|p| p.1 == id)
        {
            places.push((name.into_owned(), id, 0));
        }
    }
    Ok(places)
}

/// The Xref value: the path host, then `group:number` for each place.
fn xref_value(pathhost: &str, places: &[Place]) -> String {
    use std::fmt::Write as _;
    let mut xref = String::with_capacity(pathhost.len() + 32 * places.len());
    xref.push_str(pathhost);
    for (name, _, n) in places {
        let _ = write!(xref, " {name}:{n}");
    }
    xref
}

/// The second pass: indexes each staged article (history, overview, counters, feed queues)
/// and fills in its outcome.
fn index_staged(
    wtx: &mut Wtx<'_>,
    staged: Vec<Staged<'_>>,
    out: &mut [StoreOutcome],
) -> Result<()> {
    for st in staged {
        let art = st.art;
        let ps: Vec<(&str, u32, u64)> = st
            .places
            .iter()
            .map(|(n, g, num)| (n.as_str(), *g, *num))
            .collect();
        wtx.index_article(
            &IndexArticle {
                id: art.message_id,
                key: st.key,
                token: st.token,
                arrival: art.arrival,
                expires: art.expires,
                subject: art.overview.subject,
                from: art.overview.from,
                date: art.overview.date,
                references: art.overview.references,
                lines: art.overview.lines,
                xref: &st.xref,
            },
            &ps,
            !st.key_used,
        )?;
        if !st.feeds.is_empty() {
            let q = wtx.queue()?;
            for f in &st.feeds {
                q.push(f, st.token, art.arrival, art.message_id)?;
            }
        }
        if let Some(o) = out.get_mut(st.out) {
            *o = StoreOutcome::Stored {
                token: st.token,
                numbers: st.places.into_iter().map(|(n, _, num)| (n, num)).collect(),
            };
        }
    }
    Ok(())
}

/// Joins a scoped helper thread, turning a panic into an I/O error.
fn join<T>(h: std::thread::ScopedJoinHandle<'_, Result<T>>, what: &str) -> Result<T> {
    h.join()
        .unwrap_or_else(|_| Err(Error::Io(io::Error::other(format!("{what} panicked")))))
}

impl Store {
    /// Stores a batch of articles as one group commit: every accepted article is appended to
    /// the spool, the spool is fsynced once, the index updates (history, overview, numbering,
    /// active list, "indexed up to" mark) are committed in one durable transaction, and only
    /// then is the result returned. Article numbers are assigned inside that transaction.
    ///
    /// On an error nothing of the batch is reported stored and the writer is disabled until the
    /// store is reopened (recovery then indexes whatever reached the spool).
    pub fn store_batch(&self, batch: &[NewArticle<'_>]) -> Result<Vec<StoreOutcome>> {
        self.store_batch_remembering(batch, &[])
    }

    /// [`Store::store_batch`], and in the same commit remembers `rejects` (message-id, time)
    /// as refused, as [`Store::remember_rejects`] does: the group commit of the writer, which
    /// takes articles and rejections from many sessions at once.
    pub fn store_batch_remembering(
        &self,
        batch: &[NewArticle<'_>],
        rejects: &[(&str, i64)],
    ) -> Result<Vec<StoreOutcome>> {
        let cfg = BatchCfg {
            dir: &self.spool_dir,
            seg_size: self.cfg.segment_size,
            pathhost: &self.cfg.pathhost,
            max_article: self.cfg.max_article,
        };
        let durable = self.cfg.durable;
        self.write_op(|w, wtx| {
            let mut p1 = Pass1::new(batch.len());
            // In a batch of large articles, every EARLY_WRITE bytes of records are written
            // (and fsynced) by a helper thread while the rest is built, so that the disk works
            // during the hashing and copying instead of after it.
            let big = batch.iter().map(|a| a.bytes.len()).sum::<usize>() >= 2 * EARLY_WRITE;
            if big {
                std::thread::scope(|s| -> Result<()> {
                    let mut early = EarlyWriter::spawn(s, durable);
                    for art in batch {
                        p1.add(&cfg, w, wtx, art)?;
                        if w.pending_len() >= EARLY_WRITE {
                            let chunk = w.take_pending(early.spare())?;
                            early.send(chunk)?;
                        }
                    }
                    early.finish()
                })?;
            } else {
                for art in batch {
                    p1.add(&cfg, w, wtx, art)?;
                }
            }
            // Pass 2: write and fsync the spool on a second thread while the index updates
            // are staged in the transaction (the commit still waits for the fsync).
            let Pass1 {
                mut out, staged, ..
            } = p1;
            std::thread::scope(|s| -> Result<()> {
                let spool = s.spawn(|| w.sync(durable));
                let res = index_staged(wtx, staged, &mut out)
                    .and_then(|()| crate::store::put_rejects(wtx, rejects));
                let synced = join(spool, "spool writer");
                res.and(synced)
            })?;
            Ok(out)
        })
    }
}

/// A helper thread of one `store_batch` that writes (and, when durable, fsyncs) chunks of
/// spool records while the rest of the batch is built. Buffers come back for reuse.
struct EarlyWriter<'s> {
    tx: std::sync::mpsc::SyncSender<(File, Vec<u8>, u64)>,
    back: std::sync::mpsc::Receiver<Vec<u8>>,
    handle: Option<std::thread::ScopedJoinHandle<'s, Result<()>>>,
}

impl<'s> EarlyWriter<'s> {
    fn spawn<'e>(s: &'s std::thread::Scope<'s, 'e>, durable: bool) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(File, Vec<u8>, u64)>(1);
        let (back_tx, back) = std::sync::mpsc::channel();
        let handle = s.spawn(move || -> Result<()> {
            for (f, mut buf, at) in rx {
                f.write_all_at(&buf, at)?;
                if durable {
                    f.sync_data()?;
                }
                buf.clear();
                let _ = back_tx.send(buf);
            }
            Ok(())
        });
        EarlyWriter {
            tx,
            back,
            handle: Some(handle),
        }
    }

    /// A returned buffer, or a new one.
    fn spare(&self) -> Vec<u8> {
        self.back.try_recv().unwrap_or_default()
    }

    /// Queues a chunk (waits while the helper is busy with the one before). If the helper has
    /// stopped, returns its error.
    fn send(&mut self, chunk: (File, Vec<u8>, u64)) -> Result<()> {
        if self.tx.send(chunk).is_ok() {
            return Ok(());
        }
        match self.handle.take() {
            Some(h) => join(h, "spool early writer").and(Err(Error::Io(io::Error::other(
                "spool early writer stopped",
            )))),
            None => Err(Error::Io(io::Error::other("spool early writer stopped"))),
        }
    }

    /// Waits for every chunk to be written.
    fn finish(self) -> Result<()> {
        drop(self.tx);
        match self.handle {
            Some(h) => join(h, "spool early writer"),
            None => Err(Error::Io(io::Error::other("spool early writer stopped"))),
        }
    }
}
