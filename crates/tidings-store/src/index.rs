//! The redb tables and the write-side operations on them (one write transaction at a time).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use redb::{ReadableTable, Table, TableDefinition, WriteTransaction};

use crate::error::{Error, Result};
use crate::format::{
    GroupRec, HistEntry, HistValue, IDX_VERSION, OverRec, SegStat, Token, decode, encode, hist_key,
};
use crate::history::{HistTx, History, encode_hist_mark};

/// Name of the overview table of one group: `ov.<group id>`.
pub(crate) fn ov_name(gid: u32) -> String {
    format!("ov.{gid}")
}

/// Overview table of one group (its name from [`ov_name`]): number -> [`OverRec`]. One table
/// per group keeps each group's appends at the right edge of its own B-tree, where redb packs
/// leaves full (interleaved appends into one shared tree would leave half-empty leaves).
pub(crate) fn ov_def(name: &str) -> TableDefinition<'_, u64, &'static [u8]> {
    TableDefinition::new(name)
}
/// The arrival index of index format 2: (arrival, group id, number) -> (). Format 3 has none
/// (NEWNEWS searches each group's overview by arrival); opening a format-2 index drops it.
pub(crate) const LEGACY_ARRIVAL: TableDefinition<'_, (i64, u32, u64), ()> =
    TableDefinition::new("arrival");
/// active list: group name -> [`GroupRec`].
pub(crate) const GROUPS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("groups");
/// group id -> group name.
pub(crate) const GROUP_IDS: TableDefinition<'_, u32, &str> = TableDefinition::new("group_ids");
/// segment id -> [`SegStat`].
pub(crate) const SEGMENTS: TableDefinition<'_, u32, &[u8]> = TableDefinition::new("segments");
/// (segment << 32 | offset) -> reason.
pub(crate) const QUARANTINE: TableDefinition<'_, u64, &str> = TableDefinition::new("quarantine");
/// store-wide values: "format", "mark", "history" (generation and committed length of the
/// history log), "next_group_id".
pub(crate) const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");

/// Version of the index database layout.
pub(crate) const FORMAT: u8 = 3;

/// Encodes the "indexed up to" mark.
pub(crate) fn encode_mark(seg: u32, off: u64) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[..4].copy_from_slice(&seg.to_le_bytes());
    b[4..].copy_from_slice(&off.to_le_bytes());
    b
}

/// Decodes the "indexed up to" mark.
pub(crate) fn decode_mark(b: &[u8]) -> Option<(u32, u64)> {
    let seg = u32::from_le_bytes(b.get(..4)?.try_into().ok()?);
    let off = u64::from_le_bytes(b.get(4..12)?.try_into().ok()?);
    Some((seg, off))
}

/// Fields of an article to index.
pub(crate) struct IndexArticle<'a> {
    pub id: &'a str,
    /// History key of `id` ([`crate::format::hist_key`]).
    pub key: u64,
    pub token: Token,
    pub arrival: i64,
    pub expires: Option<i64>,
    pub subject: &'a [u8],
    pub from: &'a [u8],
    pub date: &'a [u8],
    pub references: &'a [u8],
    pub lines: u64,
    pub xref: &'a str,
}

/// The open tables of one write transaction plus write-back caches.
pub(crate) struct Wtx<'t> {
    pub hist: HistTx,
    pub history: &'t History,
    txn: &'t WriteTransaction,
    over: HashMap<u32, Table<'t, u64, &'static [u8]>>,
    pub groups: Table<'t, &'static str, &'static [u8]>,
    pub gids: Table<'t, u32, &'static str>,
    pub segs: Table<'t, u32, &'static [u8]>,
    pub quar: Table<'t, u64, &'static str>,
    pub meta: Table<'t, &'static str, &'static [u8]>,
    gcache: HashMap<String, GroupRec>,
    gdirty: HashSet<String>,
    gname: HashMap<u32, Option<String>>,
    scache: HashMap<u32, SegStat>,
    queue: Option<crate::queue::QueueTx<'t>>,
}

impl<'t> Wtx<'t> {
    pub fn open(txn: &'t WriteTransaction, history: &'t History) -> Result<Self> {
        Ok(Wtx {
            hist: HistTx::default(),
            history,
            txn,
            over: HashMap::new(),
            groups: txn.open_table(GROUPS)?,
            gids: txn.open_table(GROUP_IDS)?,
            segs: txn.open_table(SEGMENTS)?,
            quar: txn.open_table(QUARANTINE)?,
            meta: txn.open_table(META)?,
            gcache: HashMap::new(),
            gdirty: HashSet::new(),
            gname: HashMap::new(),
            scache: HashMap::new(),
            queue: None,
        })
    }

    /// The outgoing queue tables (opened on first use).
    pub fn queue(&mut self) -> Result<&mut crate::queue::QueueTx<'t>> {
        if self.queue.is_none() {
            self.queue = Some(crate::queue::QueueTx::open(self.txn)?);
        }
        self.queue
            .as_mut()
            .ok_or_else(|| Error::CorruptIndex("queue tables".into()))
    }

    /// The overview table of a group (created on first use).
    pub fn ov(&mut self, gid: u32) -> Result<&mut Table<'t, u64, &'static [u8]>> {
        if !self.over.contains_key(&gid) {
            let name = ov_name(gid);
            let t = self.txn.open_table(ov_def(&name))?;
            self.over.insert(gid, t);
        }
        self.over
            .get_mut(&gid)
            .ok_or_else(|| Error::CorruptIndex("overview table cache".into()))
    }

    /// Deletes the overview table of a group.
    pub fn drop_ov(&mut self, gid: u32) -> Result<()> {
        self.over.remove(&gid);
        let name = ov_name(gid);
        self.txn.delete_table(ov_def(&name))?;
        Ok(())
    }

    /// Loads a group into the cache; `None` when unknown.
    pub fn group(&mut self, name: &str) -> Result<Option<&mut GroupRec>> {
        if !self.gcache.contains_key(name) {
            let rec: GroupRec = match self.groups.get(name)? {
                Some(v) => decode(v.value(), "group")?,
                None => return Ok(None),
            };
            self.gcache.insert(name.to_string(), rec);
        }
        if !self.gdirty.contains(name) {
            self.gdirty.insert(name.to_string());
        }
        Ok(self.gcache.get_mut(name))
    }

    /// Replaces a group in the cache (new or changed).
    pub fn put_group(&mut self, name: &str, rec: GroupRec) {
        self.gname.insert(rec.id, Some(name.to_string()));
        self.gcache.insert(name.to_string(), rec);
        self.gdirty.insert(name.to_string());
    }

    /// Drops a group from the cache and the tables.
    pub fn delete_group(&mut self, name: &str, id: u32) -> Result<()> {
        self.gcache.remove(name);
        self.gdirty.remove(name);
        self.gname.insert(id, None);
        self.groups.remove(name)?;
        self.gids.remove(&id)?;
        Ok(())
    }

    /// Name of a group id.
    pub fn group_name(&mut self, id: u32) -> Result<Option<String>> {
        if let Some(n) = self.gname.get(&id) {
            return Ok(n.clone());
        }
        let n = self.gids.get(&id)?.map(|v| v.value().to_string());
        self.gname.insert(id, n.clone());
        Ok(n)
    }

    /// Allocates a new group id.
    pub fn next_group_id(&mut self) -> Result<u32> {
        let cur = match self.meta.get("next_group_id")? {
            Some(v) => u32::from_le_bytes(
                v.value()
                    .try_into()
                    .map_err(|_| Error::CorruptIndex("next_group_id".into()))?,
            ),
            None => 1,
        };
        let next = cur
            .checked_add(1)
            .ok_or_else(|| Error::CorruptIndex("group ids exhausted".into()))?;
        self.meta
            .insert("next_group_id", next.to_le_bytes().as_slice())?;
        Ok(cur)
    }

    /// Segment statistics, cached.
    pub fn seg(&mut self, id: u32) -> Result<&mut SegStat> {
        if !self.scache.contains_key(&id) {
            let s = match self.segs.get(&id)? {
                Some(v) => decode(v.value(), "segment stats")?,
                None => SegStat {
                    v: IDX_VERSION,
                    ..SegStat::default()
                },
            };
            self.scache.insert(id, s);
        }
        self.scache
            .get_mut(&id)
            .ok_or_else(|| Error::CorruptIndex("segment cache".into()))
    }

    /// Forgets a segment's statistics (segment deleted).
    pub fn drop_seg(&mut self, id: u32) -> Result<()> {
        self.scache.remove(&id);
        self.segs.remove(&id)?;
        Ok(())
    }

    /// Counts a record appended to the spool (live or not).
    pub fn count_record(&mut self, seg: u32, len: u64, live: bool) -> Result<()> {
        let s = self.seg(seg)?;
        s.records += 1;
        s.bytes += len;
        if live {
            s.live += 1;
            s.live_bytes += len;
        }
        Ok(())
    }

    /// Counts a record that stopped being live.
    pub fn uncount_live(&mut self, seg: u32, len: u64) -> Result<()> {
        let s = self.seg(seg)?;
        s.live = s.live.saturating_sub(1);
        s.live_bytes = s.live_bytes.saturating_sub(len);
        Ok(())
    }

    /// The history entry for an id (owned).
    pub fn hist_get(&self, id: &str) -> Result<Option<HistEntry<'static>>> {
        let key = hist_key(id);
        let Some(v) = self.hist.get(self.history, key)? else {
            return Ok(None);
        };
        let hv: HistValue<'_> = decode(&v, "history")?;
        Ok(hv
            .entries
            .into_iter()
            .find(|e| e.id() == id)
            .map(HistEntry::into_owned))
    }

    /// The history entry for an id (whose history key is `key`), and whether its key holds
    /// any entry (of any id).
    pub fn hist_probe(&self, id: &str, key: u64) -> Result<(Option<HistEntry<'static>>, bool)> {
        let Some(v) = self.hist.get(self.history, key)? else {
            return Ok((None, false));
        };
        let hv: HistValue<'_> = decode(&v, "history")?;
        Ok((
            hv.entries
                .into_iter()
                .find(|e| e.id() == id)
                .map(HistEntry::into_owned),
            true,
        ))
    }

    /// Sets (or with `None`, removes) the history entry for an id, keeping colliding entries.
    pub fn hist_put(&mut self, id: &str, entry: Option<HistEntry<'_>>) -> Result<()> {
        self.hist_put_at(hist_key(id), id, entry)
    }

    /// [`Wtx::hist_put`] for an id whose history key is `key`.
    fn hist_put_at(&mut self, key: u64, id: &str, entry: Option<HistEntry<'_>>) -> Result<()> {
        let mut entries: Vec<HistEntry<'static>> = match self.hist.get(self.history, key)? {
            Some(v) => {
                let hv: HistValue<'_> = decode(&v, "history")?;
                hv.entries
                    .into_iter()
                    .filter(|e| e.id() != id)
                    .map(HistEntry::into_owned)
                    .collect()
            }
            None => Vec::new(),
        };
        if let Some(e) = entry {
            entries.push(e.into_owned());
        }
        self.hist_write(key, entries)
    }

    /// Writes the history value of `key` (removes it when `entries` is empty).
    fn hist_write(&mut self, key: u64, entries: Vec<HistEntry<'_>>) -> Result<()> {
        if entries.is_empty() {
            self.hist.remove(key);
        } else {
            let bytes = encode(&HistValue {
                v: IDX_VERSION,
                entries,
            })?;
            self.hist.insert(key, &bytes);
        }
        Ok(())
    }

    /// Remembers `id` as refused at `at`, unless it is stored (one look-up of its key).
    pub fn hist_reject(&mut self, id: &str, at: i64) -> Result<()> {
        let key = hist_key(id);
        let mut entries: Vec<HistEntry<'static>> = Vec::new();
        if let Some(v) = self.hist.get(self.history, key)? {
            let hv: HistValue<'_> = decode(&v, "history")?;
            for e in hv.entries {
                if e.id() == id {
                    if matches!(e, HistEntry::Present { .. }) {
                        return Ok(());
                    }
                } else {
                    entries.push(e.into_owned());
                }
            }
        }
        entries.push(HistEntry::Rejected {
            id: Cow::Owned(id.to_owned()),
            at,
        });
        self.hist_write(key, entries)
    }

    /// Records an article: history, overview rows, group counters and segment
    /// statistics. `places` are (group name, group id, number).
    /// `key_free`: the caller has just seen that no history entry uses the id's key, so the
    /// entry is inserted without reading the key again.
    pub fn index_article(
        &mut self,
        a: &IndexArticle<'_>,
        places: &[(&str, u32, u64)],
        key_free: bool,
    ) -> Result<()> {
        let rec_len = a.token.record_len();
        let over = OverRec {
            v: IDX_VERSION,
            token: a.token.to_bytes(),
            arrival: a.arrival,
            expires: a.expires,
            bytes: a.token.article_len(),
            lines: a.lines,
            subject: Cow::Borrowed(a.subject),
            from: Cow::Borrowed(a.from),
            date: Cow::Borrowed(a.date),
            message_id: Cow::Borrowed(a.id),
            references: Cow::Borrowed(a.references),
            xref: Cow::Borrowed(a.xref),
        };
        let obytes = encode(&over)?;
        for &(name, gid, n) in places {
            self.ov(gid)?.insert(&n, obytes.as_slice())?;
            if let Some(g) = self.group(name)? {
                if g.count == 0 {
                    g.low = n;
                } else {
                    g.low = g.low.min(n);
                }
                g.high = g.high.max(n);
                g.count += 1;
            }
        }
        let entry = HistEntry::Present {
            id: Cow::Borrowed(a.id),
            token: a.token.to_bytes(),
            arrival: a.arrival,
            expires: a.expires,
            places: places.iter().map(|&(_, g, n)| (g, n)).collect(),
        };
        if key_free {
            let bytes = encode(&HistValue {
                v: IDX_VERSION,
                entries: vec![entry],
            })?;
            self.hist.insert(a.key, &bytes);
        } else {
            self.hist_put_at(a.key, a.id, Some(entry))?;
        }
        self.count_record(a.token.segment, rec_len, true)
    }

    /// Removes one overview row and updates the group counters.
    fn remove_row(&mut self, gid: u32, n: u64) -> Result<()> {
        self.ov(gid)?.remove(&n)?;
        let Some(name) = self.group_name(gid)? else {
            return Ok(());
        };
        let new_low = match self.ov(gid)?.range(n..)?.next() {
            Some(r) => Some(r?.0.value()),
            None => None,
        };
        if let Some(g) = self.group(&name)? {
            g.count = g.count.saturating_sub(1);
            if g.count == 0 {
                g.low = g.high + 1;
            } else if n <= g.low
                && let Some(l) = new_low
            {
                g.low = l;
            }
        }
        Ok(())
    }

    /// Removes an article from the index, remembering its id as rejected at `now`. Returns
    /// false when the id is not present.
    pub fn remove_article(&mut self, id: &str, now: i64) -> Result<bool> {
        let Some(HistEntry::Present { token, places, .. }) = self.hist_get(id)? else {
            return Ok(false);
        };
        for (gid, n) in places {
            self.remove_row(gid, n)?;
        }
        let t = Token::from_bytes(&token);
        self.uncount_live(t.segment, t.record_len())?;
        self.hist_put(
            id,
            Some(HistEntry::Rejected {
                id: Cow::Borrowed(id),
                at: now,
            }),
        )?;
        Ok(true)
    }

    /// Removes one (group, number) filing of an article; when it was the last, the article is
    /// removed and its id remembered as rejected. Returns true when the article went away.
    pub fn remove_place(&mut self, id: &str, gid: u32, n: u64, now: i64) -> Result<bool> {
        let entry = self.hist_get(id)?;
        let Some(HistEntry::Present {
            token,
            arrival,
            expires,
            mut places,
            ..
        }) = entry
        else {
            // no history entry: drop the stray row
            if self.ov(gid)?.get(&n)?.is_none() {
                return Ok(false);
            }
            self.remove_row(gid, n)?;
            return Ok(false);
        };
        places.retain(|&(g, m)| !(g == gid && m == n));
        self.remove_row(gid, n)?;
        if places.is_empty() {
            let t = Token::from_bytes(&token);
            self.uncount_live(t.segment, t.record_len())?;
            self.hist_put(
                id,
                Some(HistEntry::Rejected {
                    id: Cow::Borrowed(id),
                    at: now,
                }),
            )?;
            Ok(true)
        } else {
            self.hist_put(
                id,
                Some(HistEntry::Present {
                    id: Cow::Borrowed(id),
                    token,
                    arrival,
                    expires,
                    places,
                }),
            )?;
            Ok(false)
        }
    }

    /// Sets the "indexed up to" mark.
    pub fn set_mark(&mut self, seg: u32, off: u64) -> Result<()> {
        self.meta.insert("mark", encode_mark(seg, off).as_slice())?;
        Ok(())
    }

    /// Appends the staged history records to the log (fsynced when `durable`) and stores the
    /// new committed length in this transaction. The returned changes are published with
    /// [`History::publish`] once the transaction has committed.
    pub fn finish_history(&mut self, durable: bool) -> Result<HistTx> {
        let tx = std::mem::take(&mut self.hist);
        if let Some((gen_id, len)) = tx.compacted_mark() {
            self.meta
                .insert("history", encode_hist_mark(gen_id, len).as_slice())?;
        } else if !tx.is_empty() {
            let len = self.history.append(&tx, durable)?;
            let (gen_id, _) = self.history.mark()?;
            self.meta
                .insert("history", encode_hist_mark(gen_id, len).as_slice())?;
        }
        Ok(tx)
    }

    /// Writes the caches back.
    pub fn flush(&mut self) -> Result<()> {
        for name in std::mem::take(&mut self.gdirty) {
            if let Some(g) = self.gcache.get(&name) {
                let b = encode(g)?;
                self.groups.insert(name.as_str(), b.as_slice())?;
                self.gids.insert(&g.id, name.as_str())?;
            }
        }
        for (id, s) in self.scache.drain() {
            let b = encode(&s)?;
            self.segs.insert(&id, b.as_slice())?;
        }
        if let Some(q) = self.queue.as_mut() {
            q.flush()?;
        }
        Ok(())
    }
}
