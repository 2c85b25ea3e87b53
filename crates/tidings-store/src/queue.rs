//! Durable per-peer outgoing queues (the feeders' backlog).
//!
//! [`Store::store_batch`] appends one entry per peer named in [`NewArticle::feeds`] in the same
//! write transaction that indexes the article, so "stored" implies "queued" after any crash.
//! The store makes no routing decision: the caller says which peers get an article.
//!
//! Entries are keyed `(peer, seq)`; `seq` is per peer, starts at 1 and only grows (it is kept
//! in its own table, so emptying a queue never reuses numbers). A feeder peeks entries in
//! order, sends them, and removes them once they are delivered or finally refused; to retry an
//! entry later it either leaves it in place or moves it to the end with
//! [`Store::queue_requeue`].
//!
//! [`NewArticle::feeds`]: crate::NewArticle::feeds

use std::borrow::Cow;
use std::collections::HashMap;

use redb::{ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::format::{IDX_VERSION, Token, decode, encode};
use crate::store::Store;

/// queue: (peer, seq) -> [`QueueRec`].
pub(crate) const QUEUE: TableDefinition<'_, (&str, u64), &[u8]> = TableDefinition::new("queue");
/// queue_state: peer -> (next seq, entries queued).
pub(crate) const QUEUE_STATE: TableDefinition<'_, &str, (u64, u64)> =
    TableDefinition::new("queue_state");

/// Stored form of a queue entry (postcard, version byte first).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct QueueRec<'a> {
    pub v: u8,
    pub token: [u8; 20],
    pub queued_at: i64,
    #[serde(borrow)]
    pub message_id: Cow<'a, str>,
}

/// Trailer after the metadata block of an article record: the peers it was queued for, so
/// that recovery (which indexes records whose index commit was lost) queues them too.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct FeedsTrailer<'a> {
    pub v: u8,
    #[serde(borrow)]
    pub feeds: Vec<Cow<'a, str>>,
}

/// Encodes the feeds trailer (nothing when there are no feeds, so such records are
/// byte-identical to the original version 1 layout).
pub(crate) fn encode_trailer(feeds: &[&str], out: &mut Vec<u8>) -> Result<()> {
    if feeds.is_empty() {
        return Ok(());
    }
    let t = FeedsTrailer {
        v: IDX_VERSION,
        feeds: feeds.iter().map(|f| Cow::Borrowed(*f)).collect(),
    };
    out.extend_from_slice(&encode(&t)?);
    Ok(())
}

/// The peers in the feeds trailer of a metadata block (empty when there is none).
pub(crate) fn decode_trailer(meta: &[u8]) -> Result<Vec<String>> {
    let (_, rest) = postcard::take_from_bytes::<crate::format::RecordMeta<'_>>(meta)?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let t: FeedsTrailer<'_> = decode(rest, "feeds trailer")?;
    Ok(t.feeds.into_iter().map(Cow::into_owned).collect())
}

/// One queued article.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    /// Position in the peer's queue (1, 2, ...; increasing in the order of queuing).
    pub seq: u64,
    /// Spool token of the article.
    pub token: Token,
    /// When it was queued (the article's arrival time, unix seconds).
    pub queued_at: i64,
    /// Its message-id (for CHECK/IHAVE and to see whether it was cancelled or expired).
    pub message_id: String,
}

/// What [`Store::queue_scan`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueScan {
    /// The entries, in order.
    pub entries: Vec<QueueEntry>,
    /// Seqs of entries among them that could not be decoded (skipped; the caller removes
    /// them with [`Store::queue_remove`] and reports them).
    pub undecodable: Vec<u64>,
}

/// What removing an entry found.
pub(crate) enum Removed {
    /// No entry with that seq.
    Absent,
    /// The entry, decoded.
    Entry(QueueEntry),
    /// An entry that could not be decoded (removed all the same).
    Undecodable,
}

/// The queue tables of one write transaction, with the per-peer state cached.
pub(crate) struct QueueTx<'t> {
    q: Table<'t, (&'static str, u64), &'static [u8]>,
    state: Table<'t, &'static str, (u64, u64)>,
    cache: HashMap<String, (u64, u64)>,
}

/// Longest peer name (bytes) a queue can have; entries for a longer one are not queued.
pub const MAX_PEER_NAME: usize = 255;

pub(crate) fn valid_peer(peer: &str) -> bool {
    !peer.is_empty() && peer.len() <= MAX_PEER_NAME && !peer.bytes().any(|b| b <= b' ' || b == 0x7f)
}

impl<'t> QueueTx<'t> {
    pub(crate) fn open(txn: &'t WriteTransaction) -> Result<Self> {
        Ok(QueueTx {
            q: txn.open_table(QUEUE)?,
            state: txn.open_table(QUEUE_STATE)?,
            cache: HashMap::new(),
        })
    }

    fn st(&mut self, peer: &str) -> Result<&mut (u64, u64)> {
        if !self.cache.contains_key(peer) {
            let v = self.state.get(peer)?.map_or((1, 0), |g| g.value());
            self.cache.insert(peer.to_string(), v);
        }
        self.cache
            .get_mut(peer)
            .ok_or_else(|| Error::CorruptIndex("queue state cache".into()))
    }

    /// Appends an entry; returns its seq.
    pub(crate) fn push(
        &mut self,
        peer: &str,
        token: Token,
        queued_at: i64,
        message_id: &str,
    ) -> Result<u64> {
        if !valid_peer(peer) {
            return Err(Error::Config(format!("invalid peer name {peer:?}")));
        }
        let st = self.st(peer)?;
        let seq = st.0;
        st.0 += 1;
        st.1 += 1;
        let rec = encode(&QueueRec {
            v: IDX_VERSION,
            token: token.to_bytes(),
            queued_at,
            message_id: Cow::Borrowed(message_id),
        })?;
        self.q.insert((peer, seq), rec.as_slice())?;
        Ok(seq)
    }

    /// Removes an entry; returns it when it was there. An entry that cannot be decoded is
    /// removed too (else it could never leave the queue).
    pub(crate) fn remove(&mut self, peer: &str, seq: u64) -> Result<Removed> {
        let Some(old) = self.q.remove((peer, seq))? else {
            return Ok(Removed::Absent);
        };
        let e = entry(seq, old.value()).ok();
        drop(old);
        let st = self.st(peer)?;
        st.1 = st.1.saturating_sub(1);
        Ok(e.map_or(Removed::Undecodable, Removed::Entry))
    }

    /// Writes the cached per-peer state back.
    pub(crate) fn flush(&mut self) -> Result<()> {
        for (peer, st) in self.cache.drain() {
            self.state.insert(peer.as_str(), st)?;
        }
        Ok(())
    }
}

fn entry(seq: u64, b: &[u8]) -> Result<QueueEntry> {
    let r: QueueRec<'_> = decode(b, "queue entry")?;
    Ok(QueueEntry {
        seq,
        token: Token::from_bytes(&r.token),
        queued_at: r.queued_at,
        message_id: r.message_id.into_owned(),
    })
}

impl Store {
    /// Runs `f` on the queue tables in one write transaction (durable per
    /// [`Config::durable`](crate::Config::durable)). Queue writes do not touch the spool and do
    /// not take the spool writer's lock.
    fn queue_write<T>(&self, f: impl FnOnce(&mut QueueTx<'_>) -> Result<T>) -> Result<T> {
        let txn = self.begin_write()?;
        let out = {
            let mut q = QueueTx::open(&txn)?;
            let out = f(&mut q)?;
            q.flush()?;
            out
        };
        txn.commit()?;
        Ok(out)
    }

    /// Up to `max` entries of `peer`'s queue with `seq > after_seq`, in order. Entries that
    /// cannot be decoded are skipped (see [`Store::queue_scan`] to learn about them).
    pub fn queue_peek(&self, peer: &str, after_seq: u64, max: usize) -> Result<Vec<QueueEntry>> {
        Ok(self.queue_scan(peer, after_seq, max)?.entries)
    }

    /// Up to `max` decodable entries of `peer`'s queue with `seq > after_seq`, in order, and
    /// the seqs of the undecodable entries met on the way. An undecodable entry must not
    /// stop the queue: failing the whole read would fail it at the same place every time.
    pub fn queue_scan(&self, peer: &str, after_seq: u64, max: usize) -> Result<QueueScan> {
        let txn = self.db.begin_read()?;
        let t = match txn.open_table(QUEUE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(QueueScan::default()),
            Err(e) => return Err(e.into()),
        };
        let mut out = QueueScan::default();
        let Some(start) = after_seq.checked_add(1) else {
            return Ok(out);
        };
        for item in t.range((peer, start)..=(peer, u64::MAX))? {
            if out.entries.len() >= max {
                break;
            }
            let (k, v) = item?;
            let seq = k.value().1;
            match entry(seq, v.value()) {
                Ok(e) => out.entries.push(e),
                Err(_) => out.undecodable.push(seq),
            }
        }
        Ok(out)
    }

    /// Removes entries (delivered, or finally refused by the peer); unknown seqs are ignored.
    /// Returns how many were removed.
    pub fn queue_remove(&self, peer: &str, seqs: &[u64]) -> Result<usize> {
        if seqs.is_empty() {
            return Ok(0);
        }
        self.queue_write(|q| {
            let mut n = 0;
            for &s in seqs {
                if !matches!(q.remove(peer, s)?, Removed::Absent) {
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    /// Moves entries to the end of the queue (retry later, after what is queued now), keeping
    /// their relative order. Returns the new seqs of the entries that were still there (an
    /// undecodable entry is removed, not moved).
    pub fn queue_requeue(&self, peer: &str, seqs: &[u64]) -> Result<Vec<u64>> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        self.queue_write(|q| {
            let mut out = Vec::new();
            for &s in seqs {
                if let Removed::Entry(e) = q.remove(peer, s)? {
                    out.push(q.push(peer, e.token, e.queued_at, &e.message_id)?);
                }
            }
            Ok(out)
        })
    }

    /// Appends entries for already stored articles (`(token, queued_at, message_id)`), e.g. to
    /// re-feed articles to a peer by hand. Returns their seqs.
    pub fn queue_append(&self, peer: &str, items: &[(Token, i64, &str)]) -> Result<Vec<u64>> {
        self.queue_write(|q| {
            items
                .iter()
                .map(|&(t, at, id)| q.push(peer, t, at, id))
                .collect()
        })
    }

    /// Number of entries queued for `peer`.
    pub fn queue_len(&self, peer: &str) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let t = match txn.open_table(QUEUE_STATE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        Ok(t.get(peer)?.map_or(0, |g| g.value().1))
    }

    /// Every peer that ever had a queue, with its current length.
    pub fn queue_peers(&self) -> Result<Vec<(String, u64)>> {
        let txn = self.db.begin_read()?;
        let t = match txn.open_table(QUEUE_STATE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for item in t.iter()? {
            let (k, v) = item?;
            out.push((k.value().to_string(), v.value().1));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Config;

    /// An entry that cannot be decoded is skipped and reported by the scan (not an error at
    /// the same cursor every time), and removing it works and keeps the count right.
    #[test]
    fn undecodable_entries_are_skipped_reported_and_removable() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), Config::default()).unwrap();
        let tok = Token::from_bytes(&[0; 20]);
        let items: Vec<(Token, i64, &str)> = vec![(tok, 1, "<a@x>"), (tok, 2, "<b@x>")];
        assert_eq!(s.queue_append("p", &items).unwrap(), [1, 2]);
        // Corrupt entry 1 in place.
        let txn = s.db.begin_write().unwrap();
        {
            let mut q = txn.open_table(QUEUE).unwrap();
            q.insert(("p", 1), &[IDX_VERSION, 0xff, 0xff][..]).unwrap();
        }
        txn.commit().unwrap();
        let scan = s.queue_scan("p", 0, 1).unwrap();
        assert_eq!(scan.undecodable, [1]);
        let ids: Vec<&str> = scan.entries.iter().map(|e| e.message_id.as_str()).collect();
        assert_eq!(ids, ["<b@x>"]);
        assert_eq!(s.queue_peek("p", 0, 10).unwrap().len(), 1);
        assert_eq!(s.queue_len("p").unwrap(), 2);
        assert_eq!(s.queue_remove("p", &[1]).unwrap(), 1);
        assert_eq!(s.queue_len("p").unwrap(), 1);
        assert_eq!(
            s.queue_scan("p", 0, 10).unwrap().undecodable,
            Vec::<u64>::new()
        );
        // Requeueing an undecodable entry drops it.
        let txn = s.db.begin_write().unwrap();
        {
            let mut q = txn.open_table(QUEUE).unwrap();
            q.insert(("p", 2), &[][..]).unwrap();
        }
        txn.commit().unwrap();
        assert_eq!(s.queue_requeue("p", &[2]).unwrap(), Vec::<u64>::new());
        assert_eq!(s.queue_len("p").unwrap(), 0);
    }
}
