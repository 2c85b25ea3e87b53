//! History: an append-only log file (`history.log`) of history values, and an in-memory hash
//! index (key -> offset of the key's latest record) rebuilt from the log at open.
//!
//! Each write transaction stages its history changes in a [`HistTx`]; before the redb commit
//! the staged records are appended to the log and fsynced, and the new log length ("committed
//! length") is stored in the index database in the same transaction. After the commit the
//! staged offsets are published to the in-memory index. On open, bytes after the committed
//! length (appended for a transaction whose commit did not happen) are cut off, then the log is
//! replayed. So the log and the index database always agree on which history changes happened.
//!
//! This replaces a B-tree keyed by a random hash, where every insert copied a whole leaf page.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::error::{Error, Result};
use crate::slots::SlotTable;

/// Name of the history log file.
pub(crate) const HISTORY_FILE: &str = "history.log";
/// Magic and version of the history log (8 bytes).
const LOG_MAGIC: [u8; 8] = *b"TIDHIST\x01";
/// Size of the log file header: magic, generation (u64), reserved.
pub(crate) const LOG_HDR: u64 = 32;
/// Size of a record header: value length (u32), key (u64), sum (8 bytes).
const REC_HDR: usize = 20;
/// Largest history value accepted (a value holds the entries of one key).
const MAX_VALUE: u32 = 1 << 20;

/// Hasher for keys that already are hashes.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);
impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;

/// An in-memory index entry: record offset (40 bits) and record size (24 bits), so replay and
/// publish know the size of the record a key's new record makes dead without reading it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot(u64);
impl Slot {
    fn new(off: u64, size: u64) -> Slot {
        Slot((off << 24) | (size & 0xff_ffff))
    }
    fn off(self) -> u64 {
        self.0 >> 24
    }
    fn size(self) -> u64 {
        self.0 & 0xff_ffff
    }
}
/// The in-memory index: key -> [`Slot`] (a [`SlotTable`]: key and slot side by side, one
/// memory access per look-up).
#[derive(Clone, Default)]
pub(crate) struct SlotIndex(SlotTable);
impl SlotIndex {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn reserve(&mut self, n: usize) {
        self.0.reserve(n);
    }
    fn get(&self, key: &u64) -> Option<Slot> {
        self.0.get(*key).map(Slot)
    }
    fn insert(&mut self, key: u64, slot: Slot) -> Option<Slot> {
        self.0.insert(key, slot.0).map(Slot)
    }
    fn remove(&mut self, key: &u64) -> Option<Slot> {
        self.0.remove(*key).map(Slot)
    }
    fn iter(&self) -> impl Iterator<Item = (u64, Slot)> + '_ {
        self.0.iter().map(|(k, v)| (k, Slot(v)))
    }
}

/// Largest log the slot encoding can address (1 TiB).
const MAX_LOG: u64 = 1 << 40;

fn rec_sum(len: u32, key: u64, value: &[u8]) -> [u8; 8] {
    let mut h = blake3::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(&key.to_le_bytes());
    h.update(value);
    let mut o = [0u8; 8];
    o.copy_from_slice(&h.finalize().as_bytes()[..8]);
    o
}

/// Appends one record (`None`: the key is removed) to `out`.
fn encode_rec(key: u64, value: Option<&[u8]>, out: &mut Vec<u8>) {
    let v = value.unwrap_or_default();
    let len = v.len() as u32;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&key.to_le_bytes());
    out.extend_from_slice(&rec_sum(len, key, v));
    out.extend_from_slice(v);
}

fn parse_rec_hdr(b: &[u8]) -> Option<(u32, u64, [u8; 8])> {
    let len = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?);
    let key = u64::from_le_bytes(b.get(4..12)?.try_into().ok()?);
    let sum: [u8; 8] = b.get(12..20)?.try_into().ok()?;
    Some((len, key, sum))
}

/// A compacted log written next to the current one, not yet installed.
pub(crate) struct Compacted {
    tmp: PathBuf,
    gen_id: u64,
    len: u64,
    index: SlotIndex,
}

struct Inner {
    file: Arc<File>,
    gen_id: u64,
    /// Committed length.
    len: u64,
    /// Bytes of records that are the latest of their key (for compaction decisions).
    live_bytes: u64,
    index: SlotIndex,
}

/// The shared history: log file and in-memory index.
pub(crate) struct History {
    path: PathBuf,
    inner: RwLock<Inner>,
}

fn lock_err() -> Error {
    Error::CorruptIndex("history lock poisoned".into())
}

/// Creates an empty log file with a new generation at `path` (replacing any), durable.
pub(crate) fn create_log(path: &Path) -> Result<(File, u64)> {
    let gen_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ u64::from(std::process::id()).rotate_left(48);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    let mut hdr = [0u8; LOG_HDR as usize];
    hdr[..8].copy_from_slice(&LOG_MAGIC);
    hdr[8..16].copy_from_slice(&gen_id.to_le_bytes());
    f.write_all_at(&hdr, 0)?;
    f.sync_all()?;
    if let Some(dir) = path.parent() {
        crate::spool::sync_dir(dir)?;
    }
    Ok((f, gen_id))
}

/// Encodes the history mark stored in the index database: generation and committed length.
pub(crate) fn encode_hist_mark(gen_id: u64, len: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&gen_id.to_le_bytes());
    b[8..].copy_from_slice(&len.to_le_bytes());
    b
}

/// Decodes the history mark.
pub(crate) fn decode_hist_mark(b: &[u8]) -> Option<(u64, u64)> {
    let g = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
    let l = u64::from_le_bytes(b.get(8..16)?.try_into().ok()?);
    Some((g, l))
}

impl History {
    /// A new, empty history at `path`.
    pub fn create(path: &Path) -> Result<History> {
        let (f, gen_id) = create_log(path)?;
        Ok(History {
            path: path.to_path_buf(),
            inner: RwLock::new(Inner {
                file: Arc::new(f),
                gen_id,
                len: LOG_HDR,
                live_bytes: 0,
                index: SlotIndex::default(),
            }),
        })
    }

    /// Opens the log at `path`, which the index says is generation `gen_id` with `len` committed
    /// bytes: cuts off an uncommitted tail, then replays the log into the in-memory index.
    /// Returns the history and the number of bytes cut off.
    pub fn open(path: &Path, gen_id: u64, len: u64) -> Result<(History, u64)> {
        // A compacted log whose mark was committed but which was not renamed into place (crash
        // between the two) is installed now; one whose mark was not committed is dropped.
        let tmp = path.with_extension("log.new");
        if let Ok(t) = File::open(&tmp) {
            let mut hdr = [0u8; 16];
            let ours = t.read_exact_at(&mut hdr, 0).is_ok()
                && hdr[..8] == LOG_MAGIC
                && hdr[8..16] == gen_id.to_le_bytes();
            drop(t);
            if ours {
                std::fs::rename(&tmp, path)?;
            } else {
                std::fs::remove_file(&tmp)?;
            }
            if let Some(dir) = path.parent() {
                crate::spool::sync_dir(dir)?;
            }
        }
        let f = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::IndexMissing(path.to_path_buf()));
            }
            Err(e) => return Err(e.into()),
        };
        let mut hdr = [0u8; LOG_HDR as usize];
        f.read_exact_at(&mut hdr, 0)
            .map_err(|_| Error::CorruptIndex("history log header unreadable".into()))?;
        if hdr[..8] != LOG_MAGIC {
            return Err(Error::CorruptIndex("history log: bad magic".into()));
        }
        if hdr[8..16] != gen_id.to_le_bytes() {
            return Err(Error::CorruptIndex(
                "history log does not belong to this index (generation differs); run rebuild"
                    .into(),
            ));
        }
        let flen = f.metadata()?.len();
        if flen < len {
            return Err(Error::CorruptIndex(format!(
                "history log shorter ({flen}) than committed ({len}); run rebuild"
            )));
        }
        let cut = flen - len;
        if cut > 0 {
            f.set_len(len)?;
            f.sync_all()?;
        }
        let mut index = SlotIndex::default();
        // about 90 bytes per record: reserve once instead of rehashing while growing
        index.reserve(usize::try_from(len.saturating_sub(LOG_HDR) / 96).unwrap_or(0));
        let mut live_bytes = 0u64;
        {
            let mut r = BufReader::with_capacity(1 << 20, &f);
            let mut skip = [0u8; LOG_HDR as usize];
            r.read_exact(&mut skip)?;
            let mut off = LOG_HDR;
            let mut h = [0u8; REC_HDR];
            let mut v = Vec::new();
            while off < len {
                r.read_exact(&mut h).map_err(|_| bad_log(off))?;
                let (vlen, key, sum) = parse_rec_hdr(&h).ok_or_else(|| bad_log(off))?;
                if vlen > MAX_VALUE {
                    return Err(bad_log(off));
                }
                v.resize(vlen as usize, 0);
                r.read_exact(&mut v).map_err(|_| bad_log(off))?;
                if rec_sum(vlen, key, &v) != sum {
                    return Err(bad_log(off));
                }
                let size = REC_HDR as u64 + u64::from(vlen);
                let old = if vlen == 0 {
                    index.remove(&key)
                } else {
                    live_bytes += size;
                    index.insert(key, Slot::new(off, size))
                };
                if let Some(old) = old {
                    live_bytes = live_bytes.saturating_sub(old.size());
                }
                off += size;
            }
            if off != len {
                return Err(bad_log(off));
            }
        }
        Ok((
            History {
                path: path.to_path_buf(),
                inner: RwLock::new(Inner {
                    file: Arc::new(f),
                    gen_id,
                    len,
                    live_bytes,
                    index,
                }),
            },
            cut,
        ))
    }

    /// Fsyncs the log (for `durable: false` stores, on flush).
    pub fn sync(&self) -> Result<()> {
        let file = {
            let i = self.inner.read().map_err(|_| lock_err())?;
            i.file.clone()
        };
        file.sync_data()?;
        Ok(())
    }

    /// Generation and committed length.
    pub fn mark(&self) -> Result<(u64, u64)> {
        let i = self.inner.read().map_err(|_| lock_err())?;
        Ok((i.gen_id, i.len))
    }

    /// Number of keys, committed length and bytes of live records.
    pub fn stats(&self) -> Result<(u64, u64, u64)> {
        let i = self.inner.read().map_err(|_| lock_err())?;
        Ok((i.index.len() as u64, i.len, i.live_bytes))
    }

    /// The committed value of a key.
    pub fn get(&self, key: u64) -> Result<Option<Vec<u8>>> {
        let (file, off) = {
            let i = self.inner.read().map_err(|_| lock_err())?;
            match i.index.get(&key) {
                Some(slot) => (i.file.clone(), slot.off()),
                None => return Ok(None),
            }
        };
        read_value(&file, off, key).map(Some)
    }

    /// Calls `f` with the committed value of a key (without allocating for values up to a few
    /// hundred bytes); `None` when the key is absent.
    pub fn with_value<T>(&self, key: u64, f: impl FnOnce(&[u8]) -> Result<T>) -> Result<Option<T>> {
        // The read lock is held across the positioned read (no Arc traffic); writers take the
        // write lock only to publish a commit's offsets.
        let i = self.inner.read().map_err(|_| lock_err())?;
        let Some(off) = i.index.get(&key).map(|s| s.off()) else {
            return Ok(None);
        };
        let mut b = [0u8; 160];
        let n = i.file.read_at(&mut b, off)?;
        let got = b.get(..n).unwrap_or_default();
        // The record sum is verified when the log is replayed at open and by `check`; here the
        // key and the value's structure are checked (a wrong token is caught by the read, which
        // compares the record header with the token and verifies the article checksum).
        let (vlen, k, _) = parse_rec_hdr(got).ok_or_else(|| bad_log(off))?;
        if k != key || vlen == 0 || vlen > MAX_VALUE {
            return Err(bad_log(off));
        }
        match got.get(REC_HDR..REC_HDR + vlen as usize) {
            Some(v) => f(v).map(Some),
            None => {
                let v = read_value(&i.file, off, key)?;
                drop(i);
                f(&v).map(Some)
            }
        }
    }

    /// Visits committed records from `from` (a log offset, [`LOG_HDR`] to start), at most
    /// `max`, with their key, offset and value, and whether each is the key's latest (live)
    /// record. Returns the offset after the last record visited (`None` at the end).
    pub fn scan(
        &self,
        from: u64,
        max: usize,
        visit: impl FnMut(u64, &[u8], bool) -> Result<()>,
    ) -> Result<Option<u64>> {
        self.scan_until(from, u64::MAX, max, visit)
    }

    /// [`History::scan`] that also stops at the log offset `until` (records starting before
    /// it are visited; `None` once it is reached).
    pub fn scan_until(
        &self,
        from: u64,
        until: u64,
        max: usize,
        mut visit: impl FnMut(u64, &[u8], bool) -> Result<()>,
    ) -> Result<Option<u64>> {
        let (file, len) = {
            let i = self.inner.read().map_err(|_| lock_err())?;
            (i.file.clone(), i.len.min(until))
        };
        let mut off = from.max(LOG_HDR);
        let mut n = 0;
        let mut h = [0u8; REC_HDR];
        let mut v = Vec::new();
        while off < len {
            if n >= max {
                return Ok(Some(off));
            }
            file.read_exact_at(&mut h, off).map_err(|_| bad_log(off))?;
            let (vlen, key, sum) = parse_rec_hdr(&h).ok_or_else(|| bad_log(off))?;
            if vlen > MAX_VALUE {
                return Err(bad_log(off));
            }
            v.resize(vlen as usize, 0);
            file.read_exact_at(&mut v, off + REC_HDR as u64)
                .map_err(|_| bad_log(off))?;
            if rec_sum(vlen, key, &v) != sum {
                return Err(bad_log(off));
            }
            let live = vlen > 0 && {
                let i = self.inner.read().map_err(|_| lock_err())?;
                i.index.get(&key).map(|s| s.off()) == Some(off)
            };
            visit(key, &v, live)?;
            off += REC_HDR as u64 + u64::from(vlen);
            n += 1;
        }
        Ok(None)
    }

    /// Appends the staged records, fsyncs when `durable`, and returns the new committed length
    /// (to be stored in the index transaction). Not visible to readers until [`History::publish`].
    pub fn append(&self, tx: &HistTx, durable: bool) -> Result<u64> {
        let (file, len) = {
            let i = self.inner.read().map_err(|_| lock_err())?;
            (i.file.clone(), i.len)
        };
        if tx.buf.is_empty() {
            return Ok(len);
        }
        if len + tx.buf.len() as u64 > MAX_LOG {
            return Err(Error::Config("history log would pass 1 TiB".into()));
        }
        file.write_all_at(&tx.buf, len)?;
        if durable {
            file.sync_data()?;
        }
        Ok(len + tx.buf.len() as u64)
    }

    /// Makes the staged records visible after their index transaction committed.
    pub fn publish(&self, tx: HistTx) -> Result<()> {
        if let Some(c) = tx.compacted {
            return self.install(c);
        }
        if tx.buf.is_empty() {
            return Ok(());
        }
        let mut i = self.inner.write().map_err(|_| lock_err())?;
        let base = i.len;
        for (key, rel, size) in tx.offs {
            if let Some(old) = i.index.get(&key) {
                // the record being replaced is dead now
                i.live_bytes = i.live_bytes.saturating_sub(old.size());
            }
            if size == 0 {
                i.index.remove(&key);
            } else {
                i.index.insert(key, Slot::new(base + rel, size));
                i.live_bytes += size;
            }
        }
        i.len = base + tx.buf.len() as u64;
        Ok(())
    }

    /// Writes the live records to a new log (new generation) next to the current one, fsynced.
    /// Returns its path, generation and length; the caller commits the new mark, then calls
    /// [`History::install`].
    pub fn write_compacted(&self) -> Result<Compacted> {
        let tmp = self.path.with_extension("log.new");
        let (f, gen_id) = create_log(&tmp)?;
        let (file, live): (Arc<File>, Vec<(u64, u64)>) = {
            let i = self.inner.read().map_err(|_| lock_err())?;
            let mut v: Vec<(u64, u64)> = i.index.iter().map(|(k, s)| (k, s.off())).collect();
            v.sort_unstable_by_key(|&(_, o)| o);
            (i.file.clone(), v)
        };
        let mut index = SlotIndex::default();
        index.reserve(live.len());
        let mut buf = Vec::with_capacity(1 << 20);
        let mut off = LOG_HDR;
        for (key, old) in live {
            let v = read_value(&file, old, key)?;
            index.insert(
                key,
                Slot::new(off + buf.len() as u64, (REC_HDR + v.len()) as u64),
            );
            encode_rec(key, Some(&v), &mut buf);
            if buf.len() >= 1 << 20 {
                f.write_all_at(&buf, off)?;
                off += buf.len() as u64;
                buf.clear();
            }
        }
        f.write_all_at(&buf, off)?;
        off += buf.len() as u64;
        f.sync_all()?;
        Ok(Compacted {
            tmp,
            gen_id,
            len: off,
            index,
        })
    }

    /// Replaces the log by a compacted one whose mark has been committed.
    fn install(&self, c: Compacted) -> Result<()> {
        let Compacted {
            tmp,
            gen_id,
            len,
            index,
        } = c;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            crate::spool::sync_dir(dir)?;
        }
        let f = OpenOptions::new().read(true).write(true).open(&self.path)?;
        let mut i = self.inner.write().map_err(|_| lock_err())?;
        i.file = Arc::new(f);
        i.gen_id = gen_id;
        i.len = len;
        i.live_bytes = len - LOG_HDR;
        i.index = index;
        Ok(())
    }
}

fn bad_log(off: u64) -> Error {
    Error::CorruptIndex(format!(
        "history log: bad record at offset {off}; run rebuild"
    ))
}

/// Reads the value of the record at `off` (one positioned read for small values).
fn read_value(file: &File, off: u64, key: u64) -> Result<Vec<u8>> {
    let mut b = [0u8; 256];
    let n = file.read_at(&mut b, off)?;
    let got = b.get(..n).unwrap_or_default();
    let (vlen, k, sum) = parse_rec_hdr(got).ok_or_else(|| bad_log(off))?;
    if k != key || vlen > MAX_VALUE || vlen == 0 {
        return Err(bad_log(off));
    }
    let end = REC_HDR + vlen as usize;
    let v = if let Some(v) = got.get(REC_HDR..end) {
        v.to_vec()
    } else {
        let mut v = vec![0u8; vlen as usize];
        file.read_exact_at(&mut v, off + REC_HDR as u64)
            .map_err(|_| bad_log(off))?;
        v
    };
    if rec_sum(vlen, key, &v) != sum {
        return Err(bad_log(off));
    }
    Ok(v)
}

/// History changes staged by one write transaction (read-your-writes overlay).
#[derive(Default)]
pub(crate) struct HistTx {
    /// A compacted log to install instead (then nothing else is staged).
    compacted: Option<Compacted>,
    overlay: KeyMap<Option<Vec<u8>>>,
    buf: Vec<u8>,
    /// (key, offset in `buf`, record size or 0 for a removal)
    offs: Vec<(u64, u64, u64)>,
}

impl HistTx {
    /// The value of a key as this transaction sees it.
    pub fn get<'a>(&'a self, h: &History, key: u64) -> Result<Option<Cow<'a, [u8]>>> {
        match self.overlay.get(&key) {
            Some(Some(v)) => Ok(Some(Cow::Borrowed(v.as_slice()))),
            Some(None) => Ok(None),
            None => Ok(h.get(key)?.map(Cow::Owned)),
        }
    }

    /// Sets a key's value.
    pub fn insert(&mut self, key: u64, value: &[u8]) {
        let at = self.buf.len() as u64;
        encode_rec(key, Some(value), &mut self.buf);
        self.offs.push((key, at, (REC_HDR + value.len()) as u64));
        self.overlay.insert(key, Some(value.to_vec()));
    }

    /// Removes a key.
    pub fn remove(&mut self, key: u64) {
        let at = self.buf.len() as u64;
        encode_rec(key, None, &mut self.buf);
        self.offs.push((key, at, 0));
        self.overlay.insert(key, None);
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty() && self.compacted.is_none()
    }

    /// Stages a compaction of the log (see [`History::write_compacted`]): the new log's mark is
    /// committed by this transaction and the file installed after the commit. Nothing else may be
    /// staged in the same transaction.
    pub fn compact(&mut self, h: &History) -> Result<bool> {
        if !self.buf.is_empty() || self.compacted.is_some() {
            return Ok(false);
        }
        self.compacted = Some(h.write_compacted()?);
        Ok(true)
    }

    /// The mark to commit when a compaction is staged.
    pub fn compacted_mark(&self) -> Option<(u64, u64)> {
        self.compacted.as_ref().map(|c| (c.gen_id, c.len))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::format::{HistEntry, HistValue, IDX_VERSION, encode, hist_find, hist_key};

    fn id(i: u64) -> String {
        format!(
            "<{i:x}.{}@bench.example.org>",
            i.wrapping_mul(2_654_435_761) % 1_000_003
        )
    }

    fn value(i: u64) -> Vec<u8> {
        encode(&HistValue {
            v: IDX_VERSION,
            entries: vec![HistEntry::Present {
                id: id(i).into(),
                token: [1; 20],
                arrival: 1_700_000_000 + i as i64,
                expires: None,
                places: vec![(1 + (i % 100) as u32, i)],
            }],
        })
        .unwrap()
    }

    #[test]
    fn log_round_trip_and_tail_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HISTORY_FILE);
        let h = History::create(&path).unwrap();
        let mut tx = HistTx::default();
        for i in 0..100 {
            tx.insert(hist_key(&id(i)), &value(i));
        }
        tx.remove(hist_key(&id(7)));
        let len = h.append(&tx, true).unwrap();
        h.publish(tx).unwrap();
        let (gen_id, l2) = h.mark().unwrap();
        assert_eq!(len, l2);
        // an uncommitted transaction's records
        let mut tx = HistTx::default();
        tx.remove(hist_key(&id(8)));
        h.append(&tx, true).unwrap();
        drop(h);
        let (h, cut) = History::open(&path, gen_id, len).unwrap();
        assert!(cut > 0);
        for i in 0..100 {
            let got = h.get(hist_key(&id(i))).unwrap();
            assert_eq!(got.is_some(), i != 7, "{i}");
        }
        let (rows, _, live) = h.stats().unwrap();
        assert_eq!(rows, 99);
        assert!(live > 0);
        assert!(matches!(
            History::open(&path, gen_id ^ 1, len),
            Err(Error::CorruptIndex(_))
        ));
    }

    /// Lookup rate of the history log at 1M and 10M keys (the rest of the store is not
    /// involved in a lookup). Run with
    /// `cargo test --release -p tidings-store --lib history_lookup_scaling -- --ignored --nocapture`.
    #[test]
    #[ignore = "benchmark: writes about 1 GB"]
    fn history_lookup_scaling() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HISTORY_FILE);
        let h = History::create(&path).unwrap();
        let cpu = || {
            let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
            let after = stat.rsplit(')').next().unwrap_or_default().to_string();
            let f: Vec<&str> = after.split_whitespace().collect();
            let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            (t(11) + t(12)) / 100.0
        };
        let mut n = 0u64;
        for target in [1_000_000u64, 10_000_000] {
            while n < target {
                let mut tx = HistTx::default();
                for i in n..n + 4096 {
                    tx.insert(hist_key(&id(i)), &value(i));
                }
                h.append(&tx, false).unwrap();
                h.publish(tx).unwrap();
                n += 4096;
            }
            h.sync().unwrap();
            let ids: Vec<String> = {
                let mut x = 99u64;
                (0..1_000_000)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        id(x % n)
                    })
                    .collect()
            };
            let c0 = cpu();
            let t = std::time::Instant::now();
            let mut found = 0;
            for s in &ids {
                let r = h
                    .with_value(hist_key(s), |v| hist_find(v, s))
                    .unwrap()
                    .flatten();
                if r.is_some() {
                    found += 1;
                }
            }
            let el = t.elapsed().as_secs_f64();
            let c = cpu() - c0;
            assert_eq!(found, ids.len());
            let t = std::time::Instant::now();
            let (g, l) = h.mark().unwrap();
            let (h2, _) = History::open(&path, g, l).unwrap();
            let reopen = t.elapsed().as_secs_f64();
            drop(h2);
            println!(
                "history keys {n}: {:.0} lookups/s wall, {:.0}/CPU-s; replay at open {reopen:.2}s; log {} MB",
                ids.len() as f64 / el,
                ids.len() as f64 / c.max(0.01),
                l >> 20
            );
        }
    }
}
