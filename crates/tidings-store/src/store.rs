//! The store: opening and recovery, group commit, reads, the active list and the overview.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::ops::RangeInclusive;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock};

use redb::{
    Database, Durability, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable,
    WriteTransaction,
};

use crate::error::{Error, Result};
use crate::expire::ExpireState;
use crate::format::{
    CancelMeta, FLAG_BODY_IN_ARTICLE_SUM, FLAG_HEAD_IN_ARTICLE_SUM, GroupRec, HistEntry, HistValue,
    IDX_VERSION, KIND_ARTICLE, KIND_CANCEL, OverRec, REC_HDR, RecHeader, SEG_HDR, Token, decode,
    decode_meta, encode, hist_key,
};
use crate::history::{HISTORY_FILE, History, decode_hist_mark, encode_hist_mark};
use crate::index::{
    FORMAT, GROUP_IDS, GROUPS, IndexArticle, LEGACY_ARRIVAL, META, QUARANTINE, SEGMENTS, Wtx,
    decode_mark, ov_def, ov_name,
};
use crate::spool::{self, ScanItem, SegFiles, SegScanner};

/// Store settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Size at which a spool segment is closed and a new one started (bytes, 4 KiB ..= 4 GiB-1).
    /// Default 1 GiB.
    pub segment_size: u64,
    /// Host name written first in generated Xref headers.
    pub pathhost: String,
    /// `true` (default): every batch is fsynced (spool) and committed durably (index) before it
    /// is reported stored. `false`: no fsync; a crash may lose recent batches.
    pub durable: bool,
    /// How long refused, cancelled and expired message-ids are remembered (seconds).
    /// Default 10 days.
    pub reject_keep: i64,
    /// redb page cache size in bytes. Default 64 MiB.
    pub cache_size: usize,
    /// Use redb's quick-repair (allocator state saved at each commit) so that reopening after
    /// a crash does not walk the whole database. Default true.
    pub quick_repair: bool,
    /// A segment whose live bytes fall below this fraction is compacted by expiry. Default 0.5.
    pub compact_below: f64,
    /// Largest article accepted (bytes). Default 64 MiB.
    pub max_article: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            segment_size: 1 << 30,
            pathhost: "localhost".into(),
            durable: true,
            reject_keep: 10 * 86_400,
            cache_size: 64 << 20,
            quick_repair: true,
            compact_below: 0.5,
            max_article: 64 << 20,
        }
    }
}

/// Overview fields supplied by the caller (already parsed and tab-sanitised).
#[derive(Clone, Debug, Default)]
pub struct OverviewInput<'a> {
    /// Subject header value.
    pub subject: &'a [u8],
    /// From header value.
    pub from: &'a [u8],
    /// Date header value.
    pub date: &'a [u8],
    /// References header value.
    pub references: &'a [u8],
    /// Number of body lines.
    pub lines: u64,
}

/// An article to store, pre-parsed by the caller.
#[derive(Clone, Debug)]
pub struct NewArticle<'a> {
    /// Wire form: CRLF line ends, not dot-stuffed, without an Xref header.
    pub bytes: &'a [u8],
    /// Message-id, e.g. `<abc@example>`.
    pub message_id: &'a str,
    /// Groups to file it in (duplicates are ignored; unknown and `x` groups are skipped).
    pub groups: Vec<&'a str>,
    /// Arrival time, unix seconds.
    pub arrival: i64,
    /// Expires header as unix seconds, if the caller honours it.
    pub expires: Option<i64>,
    /// Overview fields.
    pub overview: OverviewInput<'a>,
    /// Peers to queue the article for (names chosen by the caller's routing; duplicates are
    /// ignored). Queued in the same transaction that stores it; see [`Store::queue_peek`].
    pub feeds: Vec<&'a str>,
}

/// Why an article was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefuseReason {
    /// The message-id is remembered as refused, cancelled or expired.
    Rejected,
    /// None of its groups is carried (or all are `x`).
    NoGroups,
    /// The article bytes have no blank line ending the header block.
    NoHeaderEnd,
    /// The article exceeds [`Config::max_article`], or its overview fields, filings and Xref
    /// together exceed the record metadata limit (1 MiB: e.g. a huge References header or a
    /// crosspost to thousands of groups).
    TooLarge,
    /// The message-id is empty or contains whitespace.
    BadMessageId,
}

/// Result of storing one article of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Stored durably (per [`Config::durable`]); its token and its (group, number) filings.
    Stored {
        /// Spool token.
        token: Token,
        /// Groups and article numbers assigned.
        numbers: Vec<(String, u64)>,
    },
    /// Already in history, or earlier in the same batch.
    Duplicate,
    /// Not stored.
    Refused(RefuseReason),
}

/// Result of a history lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The article is stored.
    Present(Token),
    /// The id is remembered as refused, cancelled or expired: do not accept it.
    Rejected,
    /// Never seen (or forgotten).
    Unknown,
}

/// Which part of an article to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Head, blank line and body.
    Article,
    /// Header lines (each with CRLF), without the blank line.
    Head,
    /// Everything after the blank line.
    Body,
}

/// Status of a newsgroup in the active list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupStatus {
    /// `y`: posting allowed.
    Posting,
    /// `n`: no local posting (articles from peers are filed).
    NoPosting,
    /// `m`: moderated.
    Moderated,
    /// `x`: no articles are filed.
    Disabled,
    /// `=group`: articles are filed in the named group instead.
    Alias(String),
}

impl GroupStatus {
    /// The active-file flag form (`y`, `n`, `m`, `x`, `=name`).
    pub fn as_flag(&self) -> Cow<'_, str> {
        match self {
            GroupStatus::Posting => "y".into(),
            GroupStatus::NoPosting => "n".into(),
            GroupStatus::Moderated => "m".into(),
            GroupStatus::Disabled => "x".into(),
            GroupStatus::Alias(g) => format!("={g}").into(),
        }
    }

    /// Parses the active-file flag form; unknown flags are `None`.
    pub fn from_flag(s: &str) -> Option<GroupStatus> {
        match s {
            "y" => Some(GroupStatus::Posting),
            "n" => Some(GroupStatus::NoPosting),
            "m" => Some(GroupStatus::Moderated),
            "x" => Some(GroupStatus::Disabled),
            _ => s
                .strip_prefix('=')
                .filter(|g| valid_group_name(g))
                .map(|g| GroupStatus::Alias(g.to_string())),
        }
    }
}

/// A group of the active list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    /// Group name.
    pub name: String,
    /// Internal id (stable for the group's life; not reused).
    pub id: u32,
    /// Lowest article number present (high + 1 when empty).
    pub low: u64,
    /// Highest article number ever assigned.
    pub high: u64,
    /// Number of articles present.
    pub count: u64,
    /// Status flag.
    pub status: GroupStatus,
    /// Creation time, unix seconds.
    pub created: i64,
    /// Creator (e.g. an e-mail address).
    pub creator: String,
    /// Description (for LIST NEWSGROUPS).
    pub description: String,
}

/// An overview record as read from the index (borrowed from the database page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverviewRef<'a> {
    /// Article number in the group scanned.
    pub number: u64,
    /// Subject.
    pub subject: &'a [u8],
    /// From.
    pub from: &'a [u8],
    /// Date.
    pub date: &'a [u8],
    /// Message-ID.
    pub message_id: &'a str,
    /// References.
    pub references: &'a [u8],
    /// `:bytes`: size of the stored article (with Xref).
    pub bytes: u64,
    /// `:lines`: body lines.
    pub lines: u64,
    /// Xref value (without `Xref: `): `pathhost group:n ...`.
    pub xref: &'a str,
    /// Spool token.
    pub token: Token,
    /// Arrival time, unix seconds.
    pub arrival: i64,
}

/// An overview field, for HDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverviewField {
    /// Subject.
    Subject,
    /// From.
    From,
    /// Date.
    Date,
    /// Message-ID.
    MessageId,
    /// References.
    References,
    /// `:bytes`.
    Bytes,
    /// `:lines`.
    Lines,
    /// Xref.
    Xref,
}

impl OverviewRef<'_> {
    /// The value of one field, for HDR: the bytes as stored (8-bit header text is kept as it
    /// came, as INN's overview keeps it).
    pub fn field(&self, f: OverviewField) -> Cow<'_, [u8]> {
        match f {
            OverviewField::Subject => self.subject.into(),
            OverviewField::From => self.from.into(),
            OverviewField::Date => self.date.into(),
            OverviewField::MessageId => self.message_id.as_bytes().into(),
            OverviewField::References => self.references.into(),
            OverviewField::Bytes => self.bytes.to_string().into_bytes().into(),
            OverviewField::Lines => self.lines.to_string().into_bytes().into(),
            OverviewField::Xref => self.xref.as_bytes().into(),
        }
    }
}

/// Progress of a long operation (check, rebuild).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Phase name.
    pub phase: &'static str,
    /// Units done in this phase.
    pub done: u64,
    /// Units in this phase (bytes or records, depending on the phase).
    pub total: u64,
}

/// What opening the store found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Spool records found after the durable index mark and indexed again.
    pub reindexed: u64,
    /// Records after the mark that were not indexed (duplicates, groups gone, compaction copies).
    pub skipped: u64,
    /// Bytes cut off torn segment tails.
    pub truncated_bytes: u64,
    /// Problems found (human-readable).
    pub problems: Vec<String>,
}

/// The writer side: active segment and pending spool bytes. Guarded by a mutex.
pub(crate) struct Writer {
    pub seg: u32,
    pub file: File,
    /// Logical end of the active segment (including pending bytes).
    pub len: u64,
    pending: Vec<u8>,
    pending_at: u64,
    /// Segments closed since the last durable sync (fsynced by the next one).
    retired: Vec<File>,
    /// Bytes were written to the active segment since its last fsync.
    unsynced: bool,
    pub poisoned: bool,
    pub expire: ExpireState,
}

impl Writer {
    /// Reserves room for a record, rolling to a new segment when the active one is full.
    pub fn place(&mut self, dir: &Path, rec_len: u64, seg_size: u64) -> Result<(u32, u32)> {
        if self.len + rec_len > seg_size && self.len > SEG_HDR {
            self.roll(dir)?;
        }
        let at = u32::try_from(self.len)
            .map_err(|_| Error::Config("record offset past 4 GiB".into()))?;
        if self.len + rec_len > u64::from(u32::MAX) {
            return Err(Error::Config("segment would pass 4 GiB".into()));
        }
        self.len += rec_len;
        Ok((self.seg, at))
    }

    /// Starts a new segment.
    pub fn roll(&mut self, dir: &Path) -> Result<()> {
        self.write_pending()?;
        let next = self
            .seg
            .checked_add(1)
            .ok_or_else(|| Error::Config("segment ids exhausted".into()))?;
        let f = spool::create_segment(dir, next)?;
        let old = std::mem::replace(&mut self.file, f);
        self.retired.push(old);
        self.unsynced = false;
        self.seg = next;
        self.len = SEG_HDR;
        self.pending_at = SEG_HDR;
        Ok(())
    }

    /// The pending buffer, to append the record placed by the last [`Writer::place`].
    pub fn pending_mut(&mut self) -> &mut Vec<u8> {
        &mut self.pending
    }

    /// Queues record bytes at the position returned by the last [`Writer::place`].
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// Bytes waiting in the pending buffer.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Hands the pending bytes (and where they go) to an [`EarlyWriter`], replacing the buffer
    /// by `spare`. The next [`Writer::sync`] fsyncs the segment as usual.
    pub(crate) fn take_pending(&mut self, spare: Vec<u8>) -> Result<(File, Vec<u8>, u64)> {
        let f = self.file.try_clone()?;
        let buf = std::mem::replace(&mut self.pending, spare);
        let at = self.pending_at;
        self.pending_at += buf.len() as u64;
        self.unsynced = true;
        Ok((f, buf, at))
    }

    fn write_pending(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            self.file.write_all_at(&self.pending, self.pending_at)?;
            self.pending_at += self.pending.len() as u64;
            self.pending.clear();
            self.unsynced = true;
        }
        Ok(())
    }

    /// Whether [`Writer::sync`] has anything to do.
    pub fn needs_sync(&self, durable: bool) -> bool {
        !self.pending.is_empty() || (durable && (self.unsynced || !self.retired.is_empty()))
    }

    /// Writes the pending bytes and, when durable, fsyncs every segment touched since the last
    /// durable sync (nothing when nothing was written: no syscall).
    pub fn sync(&mut self, durable: bool) -> Result<()> {
        self.write_pending()?;
        if durable {
            for f in &self.retired {
                f.sync_data()?;
            }
            self.retired.clear();
            if self.unsynced {
                self.file.sync_data()?;
                self.unsynced = false;
            }
        }
        Ok(())
    }
}

/// The article store. `Send + Sync`: share it (e.g. in an `Arc`) between reader threads and
/// one writer thread. Reads take `&self` and never wait for the writer (redb MVCC snapshots and
/// positioned reads). Write operations also take `&self` and are serialised by an internal
/// mutex; the daemon is expected to call them from one writer thread fed by a channel.
pub struct Store {
    pub(crate) root: PathBuf,
    pub(crate) spool_dir: PathBuf,
    pub(crate) cfg: Config,
    pub(crate) db: Database,
    pub(crate) history: History,
    pub(crate) segs: SegFiles,
    pub(crate) writer: Mutex<Writer>,
    quarantined: RwLock<HashSet<u64>>,
    pending_quarantine: Mutex<Vec<(u64, String)>>,
    report: RecoveryReport,
}

/// Name of the index database file.
pub(crate) const INDEX_FILE: &str = "index.redb";
/// Name of the spool directory.
pub(crate) const SPOOL_DIR: &str = "spool";

pub(crate) fn valid_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 500
        && !name
            .bytes()
            .any(|b| b <= b' ' || b == b':' || b == b',' || b == 0x7f)
}

pub(crate) fn valid_message_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 1000 && !id.bytes().any(|b| b <= b' ' || b == 0x7f)
}

pub(crate) fn group_info(name: &str, g: &GroupRec) -> GroupInfo {
    GroupInfo {
        name: name.to_string(),
        id: g.id,
        low: g.low,
        high: g.high,
        count: g.count,
        status: GroupStatus::from_flag(&g.status).unwrap_or(GroupStatus::Posting),
        created: g.created,
        creator: g.creator.clone(),
        description: g.description.clone(),
    }
}

pub(crate) fn over_ref<'a>(number: u64, o: &'a OverRec<'a>) -> OverviewRef<'a> {
    OverviewRef {
        number,
        subject: &o.subject,
        from: &o.from,
        date: &o.date,
        message_id: &o.message_id,
        references: &o.references,
        bytes: o.bytes,
        lines: o.lines,
        xref: &o.xref,
        token: Token::from_bytes(&o.token),
        arrival: o.arrival,
    }
}

/// Opens the redb database with the store's settings.
pub(crate) fn open_db(path: &Path, cfg: &Config) -> Result<Database> {
    let mut b = Database::builder();
    b.set_cache_size(cfg.cache_size);
    let db = b.create(path)?;
    Ok(db)
}

/// Opens the history log named by the index's history mark (creating both for a new index).
pub(crate) fn open_history(
    db: &Database,
    path: &Path,
    report: &mut RecoveryReport,
) -> Result<History> {
    let mark = {
        let r = db.begin_read()?;
        let meta = r.open_table(META)?;
        let v = meta.get("history")?;
        match v {
            Some(v) => Some(
                decode_hist_mark(v.value())
                    .ok_or_else(|| Error::CorruptIndex("history mark".into()))?,
            ),
            None => None,
        }
    };
    match mark {
        Some((gen_id, len)) => {
            let (h, cut) = History::open(path, gen_id, len)?;
            if cut > 0 {
                report.problems.push(format!(
                    "history log: {cut} bytes after the committed length cut off"
                ));
            }
            Ok(h)
        }
        None => {
            let h = History::create(path)?;
            let (gen_id, len) = h.mark()?;
            let txn = db.begin_write()?;
            txn.open_table(META)?
                .insert("history", encode_hist_mark(gen_id, len).as_slice())?;
            txn.commit()?;
            Ok(h)
        }
    }
}

/// Creates every table and checks the format version.
pub(crate) fn init_tables(db: &Database) -> Result<()> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        let got = meta
            .get("format")?
            .map(|v| v.value().first().copied().unwrap_or(0));
        match got {
            // Format 2 had an arrival index; format 3 is format 2 without it.
            Some(2) => {
                meta.insert("format", [FORMAT].as_slice())?;
            }
            Some(got) if got != FORMAT => {
                return Err(Error::CorruptIndex(format!(
                    "index format {got}, expected {FORMAT}"
                )));
            }
            Some(_) => {}
            None => {
                meta.insert("format", [FORMAT].as_slice())?;
            }
        }
        txn.open_table(GROUPS)?;
        txn.open_table(GROUP_IDS)?;
        txn.open_table(SEGMENTS)?;
        txn.open_table(QUARANTINE)?;
    }
    txn.delete_table(LEGACY_ARRIVAL)?;
    txn.commit()?;
    Ok(())
}

impl Store {
    /// Opens (or creates) the store in directory `root`, running crash recovery: spool records
    /// written after the last index commit are indexed again, and a torn record at the end of a
    /// segment is cut off. See [`Store::recovery_report`].
    ///
    /// Fails with [`Error::IndexMissing`] when the index file is gone but the spool is not
    /// empty (run [`Store::rebuild`]).
    pub fn open(root: impl AsRef<Path>, cfg: Config) -> Result<Store> {
        if !(4096..=u64::from(u32::MAX)).contains(&cfg.segment_size) {
            return Err(Error::Config(
                "segment_size must be 4 KiB ..= 4 GiB-1".into(),
            ));
        }
        if !valid_group_name(&cfg.pathhost) {
            return Err(Error::Config("pathhost must be a non-empty token".into()));
        }
        let root = root.as_ref().to_path_buf();
        let spool_dir = root.join(SPOOL_DIR);
        std::fs::create_dir_all(&spool_dir)?;
        let index_path = root.join(INDEX_FILE);
        let mut seg_ids = spool::list_segments(&spool_dir)?;
        if !index_path.exists() && !seg_ids.is_empty() {
            return Err(Error::IndexMissing(index_path));
        }
        let db = open_db(&index_path, &cfg)?;
        init_tables(&db)?;
        let mut report = RecoveryReport::default();
        let history = open_history(&db, &root.join(HISTORY_FILE), &mut report)?;

        let (mark, quarantined) = {
            let r = db.begin_read()?;
            let meta = r.open_table(META)?;
            let mark = match meta.get("mark")? {
                Some(v) => decode_mark(v.value()),
                None => None,
            };
            let q = r.open_table(QUARANTINE)?;
            let mut set = HashSet::new();
            for item in q.iter()? {
                set.insert(item?.0.value());
            }
            (mark, set)
        };
        if seg_ids.is_empty() {
            spool::create_segment(&spool_dir, 1)?;
            seg_ids.push(1);
        }
        let first = seg_ids.first().copied().unwrap_or(1);
        let (mark_seg, mark_off) = mark.unwrap_or((first, SEG_HDR));

        // Recovery: scan every segment at or after the mark.
        let mut fresh_segment = false;
        let mut pending = Vec::new();
        for &id in seg_ids.iter().filter(|&&id| id >= mark_seg) {
            let from = if id == mark_seg { mark_off } else { SEG_HDR };
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(spool::seg_path(&spool_dir, id))?;
            let flen = file.metadata()?.len();
            if !spool::check_segment_header(&file, id)? {
                report
                    .problems
                    .push(format!("segment {id}: bad or missing segment header"));
                fresh_segment = true;
                continue;
            }
            if flen < from {
                report.problems.push(format!(
                    "segment {id}: shorter ({flen}) than the index mark ({from}); \
                     indexed records are missing, run check/rebuild"
                ));
                fresh_segment = true;
                continue;
            }
            let mut sc = SegScanner::open(&spool_dir, id, from, false)?;
            let mut cut = None;
            while let Some(item) = sc.next_item()? {
                match item {
                    ScanItem::Record {
                        offset,
                        header,
                        meta,
                        ..
                    } => {
                        let off = u32::try_from(offset)
                            .map_err(|_| Error::Config("offset past 4 GiB".into()))?;
                        pending.push((header.token(id, off), header.kind, header.arrival, meta));
                    }
                    ScanItem::Bad { offset, reason, .. } => {
                        report.problems.push(format!(
                            "segment {id} offset {offset}: {reason}; tail cut off"
                        ));
                        cut = Some(offset);
                        break;
                    }
                }
                if pending.len() >= 1024 {
                    Self::reindex(&db, &history, &cfg, &mut pending, &mut report, None)?;
                }
            }
            if let Some(at) = cut {
                report.truncated_bytes += flen - at;
                file.set_len(at)?;
                file.sync_all()?;
            }
        }
        let last = seg_ids.last().copied().unwrap_or(1);
        let (seg, file, len) = if fresh_segment {
            let max = seg_ids.iter().copied().max().unwrap_or(0);
            let id = max
                .checked_add(1)
                .ok_or_else(|| Error::Config("segment ids exhausted".into()))?;
            (id, spool::create_segment(&spool_dir, id)?, SEG_HDR)
        } else {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(spool::seg_path(&spool_dir, last))?;
            let len = f.metadata()?.len();
            (last, f, len)
        };
        Self::reindex(
            &db,
            &history,
            &cfg,
            &mut pending,
            &mut report,
            Some((seg, len)),
        )?;
        Ok(Store {
            history,
            segs: SegFiles::new(spool_dir.clone()),
            root,
            spool_dir,
            cfg,
            db,
            writer: Mutex::new(Writer {
                seg,
                file,
                len,
                pending: Vec::new(),
                pending_at: len,
                retired: Vec::new(),
                unsynced: false,
                poisoned: false,
                expire: ExpireState::default(),
            }),
            quarantined: RwLock::new(quarantined),
            pending_quarantine: Mutex::new(Vec::new()),
            report,
        })
    }

    /// Indexes records found after the mark (recovery), in one transaction.
    fn reindex(
        db: &Database,
        history: &History,
        cfg: &Config,
        pending: &mut Vec<(Token, u8, i64, Vec<u8>)>,
        report: &mut RecoveryReport,
        final_mark: Option<(u32, u64)>,
    ) -> Result<()> {
        if pending.is_empty() && final_mark.is_none() {
            return Ok(());
        }
        let txn = db.begin_write()?;
        let mut last_end = None;
        let htx = {
            let mut w = Wtx::open(&txn, history)?;
            for (token, kind, arrival, meta) in pending.drain(..) {
                last_end = Some((token.segment, token.offset() + token.record_len()));
                if apply_record(&mut w, token, kind, arrival, &meta, false)? {
                    report.reindexed += 1;
                } else {
                    report.skipped += 1;
                }
            }
            if let Some((s, o)) = final_mark.or(last_end) {
                w.set_mark(s, o)?;
            }
            w.flush()?;
            w.finish_history(true)?
        };
        let mut txn = txn;
        txn.set_quick_repair(cfg.quick_repair);
        txn.commit()?;
        history.publish(htx)
    }

    /// What the last open found and repaired.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// The store's settings.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn lock_writer(&self) -> Result<MutexGuard<'_, Writer>> {
        let w = self.writer.lock().map_err(|_| Error::Poisoned)?;
        if w.poisoned {
            return Err(Error::Poisoned);
        }
        Ok(w)
    }

    pub(crate) fn begin_write(&self) -> Result<WriteTransaction> {
        let mut t = self.db.begin_write()?;
        if !self.cfg.durable {
            t.set_durability(Durability::None)?;
        }
        t.set_quick_repair(self.cfg.quick_repair);
        Ok(t)
    }

    /// Writes the quarantine entries found by readers.
    pub(crate) fn flush_quarantine_into(&self, w: &mut Wtx<'_>) -> Result<()> {
        let items = match self.pending_quarantine.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => return Ok(()),
        };
        for (k, why) in items {
            w.quar.insert(&k, why.as_str())?;
        }
        Ok(())
    }

    /// Runs `f` in one write transaction with the spool writer, syncing the spool before the
    /// commit. Any failure disables the writer until reopen.
    pub(crate) fn write_op<T>(
        &self,
        f: impl FnOnce(&mut Writer, &mut Wtx<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut w = self.lock_writer()?;
        let before = (w.seg, w.len);
        let durable = self.cfg.durable;
        let res = (|| {
            let mut txn = self.begin_write()?;
            let (out, htx) = {
                let mut wtx = Wtx::open(&txn, &self.history)?;
                let out = f(&mut w, &mut wtx)?;
                self.flush_quarantine_into(&mut wtx)?;
                let (s, l) = (w.seg, w.len);
                // spool and history log are written and fsynced concurrently; both before
                // the commit that records their new lengths
                let wr: &mut Writer = &mut w;
                let htx = if wr.needs_sync(durable) && !wtx.hist.is_empty() {
                    std::thread::scope(|sc| -> Result<_> {
                        let spool = sc.spawn(move || wr.sync(durable));
                        let h = wtx.finish_history(durable);
                        let synced = spool.join().unwrap_or_else(|_| {
                            Err(Error::Io(io::Error::other("spool writer panicked")))
                        });
                        synced?;
                        h
                    })?
                } else {
                    wr.sync(durable)?;
                    wtx.finish_history(durable)?
                };
                wtx.set_mark(s, l)?;
                wtx.flush()?;
                (out, htx)
            };
            if !durable && htx.compacted_mark().is_some() {
                // The compacted history log replaces the old one right after this commit;
                // a commit that a crash could undo would leave the index pointing at the
                // other generation (open refuses it). So this one is durable, with the
                // spool behind it, whatever `Config::durable` says.
                w.sync(true)?;
                txn.set_durability(Durability::Immediate)?;
            }
            txn.commit()?;
            self.history.publish(htx)?;
            Ok(out)
        })();
        if let Err(e) = &res {
            let harmless = matches!(
                e,
                Error::GroupExists(_) | Error::UnknownGroup(_) | Error::InvalidGroupName(_)
            ) && (w.seg, w.len) == before;
            if !harmless {
                w.poisoned = true;
            }
        }
        res
    }

    /// Cancels an article: removes it from history and overview, remembers its id as rejected
    /// (so it is not accepted again) and writes a cancel tombstone to the spool (so `rebuild`
    /// does not bring it back). Returns false when the id was not stored; the id is remembered
    /// as rejected in either case.
    pub fn cancel(&self, message_id: &str, now: i64) -> Result<bool> {
        let dir = self.spool_dir.clone();
        let seg_size = self.cfg.segment_size;
        self.write_op(|w, wtx| {
            let removed = wtx.remove_article(message_id, now)?;
            if !removed {
                if wtx.hist_get(message_id)?.is_none() {
                    wtx.hist_put(
                        message_id,
                        Some(HistEntry::Rejected {
                            id: message_id.into(),
                            at: now,
                        }),
                    )?;
                }
                return Ok(false);
            }
            let meta = encode(&CancelMeta {
                v: IDX_VERSION,
                message_id: message_id.into(),
                at: now,
            })?;
            let h = RecHeader {
                kind: KIND_CANCEL,
                flags: 0,
                meta_len: meta.len() as u32,
                head_len: 0,
                len: 0,
                arrival: now,
                id_hash: crate::format::id_hash(message_id),
                article_sum: *blake3::hash(b"").as_bytes(),
                head_sum: [0; 16],
                body_sum: [0; 16],
            };
            let mut rec = Vec::with_capacity(REC_HDR + meta.len());
            h.encode(&meta, &mut rec);
            let (seg, _) = w.place(&dir, rec.len() as u64, seg_size)?;
            w.push(&rec);
            wtx.count_record(seg, rec.len() as u64, false)?;
            Ok(true)
        })
    }

    /// Remembers a refused message-id at `now` (kept for [`Config::reject_keep`]), so that
    /// [`Store::lookup`] answers [`Lookup::Rejected`]. No effect when the article is stored.
    pub fn remember_reject(&self, message_id: &str, now: i64) -> Result<()> {
        self.remember_rejects(&[message_id], now)
    }

    /// Remembers several refused message-ids in one commit.
    pub fn remember_rejects(&self, ids: &[&str], now: i64) -> Result<()> {
        let rejects: Vec<(&str, i64)> = ids.iter().map(|id| (*id, now)).collect();
        self.write_op(|_, wtx| put_rejects(wtx, &rejects))
    }

    /// Makes everything written so far durable (useful with `durable: false`).
    pub fn flush(&self) -> Result<()> {
        let mut w = self.lock_writer()?;
        w.sync(true)?;
        self.history.sync()?;
        let mut txn = self.db.begin_write()?;
        txn.set_quick_repair(self.cfg.quick_repair);
        {
            let mut wtx = Wtx::open(&txn, &self.history)?;
            let (s, l) = (w.seg, w.len);
            wtx.set_mark(s, l)?;
            self.flush_quarantine_into(&mut wtx)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Flushes and closes the store.
    pub fn close(self) -> Result<()> {
        self.flush()
    }

    /// A read snapshot: consistent view for many lookups/scans without a transaction each.
    pub fn snapshot(&self) -> Result<Snapshot<'_>> {
        let txn = self.db.begin_read()?;
        Snapshot::new(self, txn)
    }

    /// History lookup of a message-id (the in-memory history index and one positioned read of
    /// the history log; no index transaction).
    pub fn lookup(&self, message_id: &str) -> Result<Lookup> {
        let found = self
            .history
            .with_value(hist_key(message_id), |v| {
                crate::format::hist_find(v, message_id)
            })?
            .flatten();
        Ok(match found {
            Some(crate::format::HistFound::Present(token)) => {
                Lookup::Present(Token::from_bytes(&token))
            }
            Some(crate::format::HistFound::Rejected) => Lookup::Rejected,
            None => Lookup::Unknown,
        })
    }

    /// Whether a record is quarantined.
    pub fn is_quarantined(&self, token: Token) -> bool {
        self.quarantined
            .read()
            .map(|q| q.contains(&token.rec_key()))
            .unwrap_or(false)
    }

    /// Marks a record as never to be served again; persisted with the next write.
    pub(crate) fn quarantine(&self, token: Token, why: &str) {
        if let Ok(mut q) = self.quarantined.write() {
            q.insert(token.rec_key());
        }
        if let Ok(mut p) = self.pending_quarantine.lock() {
            p.push((token.rec_key(), why.to_string()));
        }
        // persist now unless the writer is busy (then the next write persists it)
        if let Ok(mut w) = self.writer.try_lock()
            && !w.poisoned
        {
            let r = (|| -> Result<()> {
                let txn = self.begin_write()?;
                {
                    let mut wtx = Wtx::open(&txn, &self.history)?;
                    self.flush_quarantine_into(&mut wtx)?;
                }
                txn.commit()?;
                Ok(())
            })();
            if r.is_err() {
                w.poisoned = true;
            }
        }
    }

    fn corrupt(&self, token: Token, reason: &str) -> Error {
        self.quarantine(token, reason);
        Error::Corrupt {
            segment: token.segment,
            offset: token.offset(),
            reason: reason.into(),
        }
    }

    /// The segment file of a token that is not quarantined.
    fn token_file(&self, token: Token) -> Result<std::sync::Arc<File>> {
        if self.is_quarantined(token) {
            return Err(Error::Quarantined {
                segment: token.segment,
                offset: token.offset(),
            });
        }
        // A missing segment file is not quarantined: expiry may have moved the record and
        // deleted the segment between the caller's look-up and this read (the caller's next
        // look-up finds the new location). A segment lost for another reason is reported by
        // `check`.
        self.segs.get(token.segment)
    }

    /// Checks a record header against the token; returns where the part lies relative to the
    /// article's first byte and how it is verified (`file` and `off` filled in by the caller).
    fn part_in_record(&self, token: Token, h: &RecHeader, part: Part) -> Result<Verify> {
        if h.kind != KIND_ARTICLE
            || h.meta_len != token.meta_len
            || h.head_len != token.head_len
            || h.len != token.len
        {
            return Err(self.corrupt(token, "record header does not match the token"));
        }
        let (alen, hlen, blen) = (token.article_len(), token.head_len(), token.body_len());
        let v = |start, len, sum: &[u8], skip, keep| Verify {
            start,
            len,
            sum: sum.to_vec(),
            skip,
            keep,
        };
        Ok(match part {
            Part::Article => v(0, alen, &h.article_sum, 0, alen),
            // A part without a sum of its own is verified through the article's: the whole
            // article is read and hashed, the part returned.
            Part::Head if h.flags & FLAG_HEAD_IN_ARTICLE_SUM != 0 => {
                v(0, alen, &h.article_sum, 0, hlen)
            }
            Part::Head => v(0, hlen, &h.head_sum, 0, hlen),
            Part::Body if h.flags & FLAG_BODY_IN_ARTICLE_SUM != 0 => {
                v(0, alen, &h.article_sum, hlen + 2, blen)
            }
            Part::Body => v(hlen + 2, blen, &h.body_sum, 0, blen),
        })
    }

    /// Checks the record header at the token against the token; returns where the part lies
    /// and how it is verified.
    fn part_range(&self, token: Token, part: Part) -> Result<PartRange> {
        let f = self.token_file(token)?;
        let h = match spool::read_header(&f, token.segment, token.offset()) {
            Ok((h, _)) => h,
            Err(Error::Corrupt { reason, .. }) => return Err(self.corrupt(token, &reason)),
            Err(e) => return Err(e),
        };
        let v = self.part_in_record(token, &h, part)?;
        Ok(PartRange {
            file: f,
            off: token.article_offset() + v.start,
            v,
        })
    }

    /// Reads a part of an article into `buf` (replacing its contents), verifying its checksum
    /// first: a record that fails is quarantined and never returned. The record header, the
    /// metadata and the article come in one positioned read for records up to 64 KiB (a head of
    /// a large article is not worth reading its body for; larger records read the header first).
    pub fn read_into(&self, token: Token, part: Part, buf: &mut Vec<u8>) -> Result<()> {
        let res = self.read_into_inner(token, part, buf);
        if res.is_err() {
            buf.clear();
        }
        res
    }

    fn read_into_inner(&self, token: Token, part: Part, buf: &mut Vec<u8>) -> Result<()> {
        let short = |e: io::Error| match spool::short(e, token.segment, token.offset()) {
            Error::Corrupt { reason, .. } => self.corrupt(token, &reason),
            other => other,
        };
        let record = token.record_len();
        if record <= 64 << 10 {
            let f = self.token_file(token)?;
            buf.clear();
            buf.resize(record as usize, 0);
            f.read_exact_at(buf, token.offset()).map_err(short)?;
            let mut raw = [0u8; REC_HDR];
            raw.copy_from_slice(buf.get(..REC_HDR).unwrap_or(&[0; REC_HDR]));
            let h = RecHeader::parse(&raw).map_err(|why| self.corrupt(token, why))?;
            let v = self.part_in_record(token, &h, part)?;
            let at = REC_HDR + token.meta_len as usize + v.start as usize;
            let end = at + v.len as usize;
            let verified = buf
                .get(at..end)
                .ok_or_else(|| self.corrupt(token, "short record"))?;
            if !v.matches(verified) {
                return Err(self.corrupt(token, "checksum mismatch"));
            }
            let from = at + v.skip as usize;
            buf.copy_within(from..from + v.keep as usize, 0);
            buf.truncate(v.keep as usize);
            return Ok(());
        }
        let PartRange { file: f, off, v } = self.part_range(token, part)?;
        buf.clear();
        buf.resize(v.len as usize, 0);
        f.read_exact_at(buf, off).map_err(short)?;
        if !v.matches(buf) {
            return Err(self.corrupt(token, "checksum mismatch"));
        }
        buf.truncate((v.skip + v.keep) as usize);
        buf.drain(..v.skip as usize);
        Ok(())
    }

    /// Reads a part of an article, verified (see [`Store::read_into`]).
    pub fn read(&self, token: Token, part: Part) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.read_into(token, part, &mut v)?;
        Ok(v)
    }

    /// [`Store::read_into`] for the article `message_id`, looked up at `token`: if its segment
    /// file is gone because expiry moved the record after the caller's look-up (and deleted
    /// the old segment), the id is looked up again and the part read from its new place, once.
    /// A segment that is really lost still gives the I/O `NotFound` error.
    pub fn read_current_into(
        &self,
        message_id: &str,
        token: Token,
        part: Part,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        match self.read_into(token, part, buf) {
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
                match self.lookup(message_id)? {
                    Lookup::Present(moved) if moved != token => self.read_into(moved, part, buf),
                    _ => Err(Error::Io(e)),
                }
            }
            other => other,
        }
    }

    /// A streaming reader over a part, for large articles: positioned reads of 64 KiB, hashed
    /// as they go. The checksum can only be checked at the end: if it fails, the final `read`
    /// returns an `InvalidData` error instead of end-of-file and the record is quarantined, so
    /// the caller must abort the response (close the connection) rather than send the
    /// terminating dot.
    pub fn reader(&self, token: Token, part: Part) -> Result<ArticleReader<'_>> {
        let r = self.part_range(token, part)?;
        Ok(ArticleReader {
            store: self,
            token,
            file: r.file,
            pos: r.off,
            end: r.off + r.v.len,
            skip_to: r.off + r.v.skip,
            keep_to: r.off + r.v.skip + r.v.keep,
            hasher: blake3::Hasher::new(),
            sum: r.v.sum,
            failed: false,
        })
    }
}

/// How a part of an article is verified: `len` bytes from `start` (relative to the article's
/// first byte) hash to `sum` (a prefix of the blake3 hash); of them, `keep` bytes after the
/// first `skip` are the part. A part with its own sum is the whole range; a part verified
/// through the article's sum is a piece of it.
struct Verify {
    start: u64,
    len: u64,
    sum: Vec<u8>,
    skip: u64,
    keep: u64,
}

impl Verify {
    fn matches(&self, bytes: &[u8]) -> bool {
        blake3::hash(bytes).as_bytes().get(..self.sum.len()) == Some(self.sum.as_slice())
    }
}

/// Where a part lies in its segment file: the verified range starts at `off`.
struct PartRange {
    file: std::sync::Arc<File>,
    off: u64,
    v: Verify,
}

/// Streaming reader over a part of an article (see [`Store::reader`]).
pub struct ArticleReader<'s> {
    store: &'s Store,
    token: Token,
    file: std::sync::Arc<File>,
    pos: u64,
    end: u64,
    /// Bytes before this are hashed but not returned.
    skip_to: u64,
    /// Bytes from this one to `end` are hashed but not returned.
    keep_to: u64,
    hasher: blake3::Hasher,
    sum: Vec<u8>,
    failed: bool,
}

impl ArticleReader<'_> {
    /// Bytes left to read.
    pub fn remaining(&self) -> u64 {
        self.keep_to.saturating_sub(self.pos.max(self.skip_to))
    }

    /// Reads `buf.len()` or fewer bytes at the current position into `buf` and hashes them;
    /// 0 at the end of the range.
    fn read_hashed(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (self.end - self.pos).min(buf.len() as u64).min(64 * 1024) as usize;
        let Some(dst) = buf.get_mut(..want) else {
            return Ok(0);
        };
        let n = self.file.read_at(dst, self.pos)?;
        if n == 0 {
            self.failed = true;
            self.store.quarantine(self.token, "record truncated");
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "record truncated",
            ));
        }
        self.hasher.update(dst.get(..n).unwrap_or_default());
        self.pos += n as u64;
        Ok(n)
    }
}

impl Read for ArticleReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "corrupt article",
            ));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos >= self.end {
            let h = self.hasher.finalize();
            if h.as_bytes().get(..self.sum.len()) != Some(self.sum.as_slice()) {
                self.failed = true;
                self.store.quarantine(self.token, "checksum mismatch");
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "checksum mismatch",
                ));
            }
            return Ok(0);
        }
        // Bytes verified but not returned (the head before a body, the body after a head,
        // when the part is verified through the article's sum): hash them, using the caller's
        // buffer (overwritten below) or a small one.
        while self.pos < self.skip_to || (self.pos >= self.keep_to && self.pos < self.end) {
            let stop = if self.pos < self.skip_to {
                self.skip_to
            } else {
                self.end
            };
            let mut small = [0u8; 4096];
            let scratch: &mut [u8] = if buf.len() >= 4096 {
                &mut *buf
            } else {
                &mut small
            };
            let room = (stop - self.pos).min(scratch.len() as u64) as usize;
            let Some(dst) = scratch.get_mut(..room) else {
                break;
            };
            self.read_hashed(dst)?;
        }
        if self.pos >= self.end {
            return self.read(buf);
        }
        let room = (self.keep_to - self.pos).min(buf.len() as u64) as usize;
        let Some(dst) = buf.get_mut(..room) else {
            return Ok(0);
        };
        self.read_hashed(dst)
    }
}

/// Applies one spool record to the index (recovery and rebuild). Returns true when something
/// was indexed or cancelled. With `replace` (rebuild), a record for an id already indexed
/// replaces the earlier one; without (recovery), it is skipped.
pub(crate) fn apply_record(
    w: &mut Wtx<'_>,
    token: Token,
    kind: u8,
    arrival: i64,
    meta: &[u8],
    replace: bool,
) -> Result<bool> {
    if kind == KIND_CANCEL {
        w.count_record(token.segment, token.record_len(), false)?;
        let m: CancelMeta<'_> = decode(meta, "cancel metadata")?;
        return w.remove_article(&m.message_id, m.at);
    }
    let m = decode_meta(meta)?;
    match w.hist_get(&m.message_id)? {
        None => {}
        // rebuild: the later record of an id wins (re-stored after its reject was forgotten,
        // or a compaction copy)
        Some(HistEntry::Present { .. }) if replace => {
            w.remove_article(&m.message_id, arrival)?;
        }
        Some(HistEntry::Rejected { .. }) if replace => {}
        Some(_) => {
            w.count_record(token.segment, token.record_len(), false)?;
            return Ok(false);
        }
    }
    let mut places = Vec::new();
    for (name, n) in &m.places {
        if let Some(g) = w.group(name)? {
            places.push((name.as_ref(), g.id, *n));
        }
    }
    if places.is_empty() {
        w.count_record(token.segment, token.record_len(), false)?;
        return Ok(false);
    }
    w.index_article(
        &IndexArticle {
            id: &m.message_id,
            key: hist_key(&m.message_id),
            token,
            arrival,
            expires: m.expires,
            subject: &m.subject,
            from: &m.from,
            date: &m.date,
            references: &m.references,
            lines: m.lines,
            xref: &m.xref,
        },
        &places,
        false,
    )?;
    if !replace {
        // Recovery: the record's index commit was lost, so its queue entries were too.
        // (Rebuild cannot know what was already delivered and queues nothing.)
        let feeds = crate::queue::decode_trailer(meta)?;
        if !feeds.is_empty() {
            let q = w.queue()?;
            for f in &feeds {
                q.push(f, token, arrival, &m.message_id)?;
            }
        }
    }
    Ok(true)
}

/// Remembers each (message-id, time) as refused, unless the id is stored (a refused copy of
/// an article that is here changes nothing).
pub(crate) fn put_rejects(wtx: &mut Wtx<'_>, rejects: &[(&str, i64)]) -> Result<()> {
    for &(id, at) in rejects {
        if !valid_message_id(id) {
            continue;
        }
        wtx.hist_reject(id, at)?;
    }
    Ok(())
}

/// How far before a NEWNEWS date the search for the first new row in a group starts (see
/// [`Snapshot::newnews`]): articles whose arrival time is this much behind an article numbered
/// before them are still found.
pub const NEWNEWS_SLACK_SECS: i64 = 3600;

/// A consistent read view of the index.
pub struct Snapshot<'s> {
    store: &'s Store,
    groups: ReadOnlyTable<&'static str, &'static [u8]>,
    gids: ReadOnlyTable<u32, &'static str>,
    txn: ReadTransaction,
}

impl<'s> Snapshot<'s> {
    fn new(store: &'s Store, txn: ReadTransaction) -> Result<Self> {
        Ok(Snapshot {
            store,
            groups: txn.open_table(GROUPS)?,
            gids: txn.open_table(GROUP_IDS)?,
            txn,
        })
    }

    /// History lookup.
    pub fn lookup(&self, message_id: &str) -> Result<Lookup> {
        self.store.lookup(message_id)
    }

    /// Arrival time, Expires and (group, number) filings of a stored article.
    pub fn article_info(&self, message_id: &str) -> Result<Option<ArticleInfo>> {
        let Some(v) = self.store.history.get(hist_key(message_id))? else {
            return Ok(None);
        };
        let hv: HistValue<'_> = decode(&v, "history")?;
        for e in hv.entries {
            if let HistEntry::Present {
                id,
                token,
                arrival,
                expires,
                places,
            } = e
                && id == message_id
            {
                let mut numbers = Vec::new();
                for (g, n) in places {
                    if let Some(name) = self.gids.get(&g)? {
                        numbers.push((name.value().to_string(), n));
                    }
                }
                return Ok(Some(ArticleInfo {
                    token: Token::from_bytes(&token),
                    arrival,
                    expires,
                    numbers,
                }));
            }
        }
        Ok(None)
    }

    /// One group of the active list.
    pub fn group(&self, name: &str) -> Result<Option<GroupInfo>> {
        match self.groups.get(name)? {
            Some(v) => Ok(Some(group_info(name, &decode(v.value(), "group")?))),
            None => Ok(None),
        }
    }

    /// Groups of the active list for which `filter` is true, in name order.
    pub fn list_groups(
        &self,
        mut filter: impl FnMut(&GroupInfo) -> bool,
    ) -> Result<Vec<GroupInfo>> {
        let mut out = Vec::new();
        for item in self.groups.iter()? {
            let (k, v) = item?;
            let g = group_info(k.value(), &decode(v.value(), "group")?);
            if filter(&g) {
                out.push(g);
            }
        }
        Ok(out)
    }

    fn gid(&self, group: &str) -> Result<u32> {
        match self.groups.get(group)? {
            Some(v) => Ok(decode::<GroupRec>(v.value(), "group")?.id),
            None => Err(Error::UnknownGroup(group.to_string())),
        }
    }

    /// The overview table of a group id (`None` when the group never had an article).
    fn ov(&self, gid: u32) -> Result<Option<ReadOnlyTable<u64, &'static [u8]>>> {
        let name = ov_name(gid);
        match self.txn.open_table(ov_def(&name)) {
            Ok(t) => Ok(Some(t)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Visits the overview records of `group` with numbers in `range`, in order, until `visit`
    /// returns false (OVER/XOVER, HDR).
    pub fn overview(
        &self,
        group: &str,
        range: RangeInclusive<u64>,
        mut visit: impl FnMut(&OverviewRef<'_>) -> bool,
    ) -> Result<()> {
        let gid = self.gid(group)?;
        let Some(ov) = self.ov(gid)? else {
            return Ok(());
        };
        for item in ov.range(range)? {
            let (k, v) = item?;
            let o: OverRec<'_> = decode(v.value(), "overview")?;
            if !visit(&over_ref(k.value(), &o)) {
                break;
            }
        }
        Ok(())
    }

    /// Article numbers present in `group` within `range` (LISTGROUP).
    pub fn numbers(&self, group: &str, range: RangeInclusive<u64>) -> Result<Vec<u64>> {
        let gid = self.gid(group)?;
        let mut out = Vec::new();
        let Some(ov) = self.ov(gid)? else {
            return Ok(out);
        };
        for item in ov.range(range)? {
            out.push(item?.0.value());
        }
        Ok(out)
    }

    /// The token of article `number` in `group`.
    pub fn token_of(&self, group: &str, number: u64) -> Result<Option<Token>> {
        let gid = self.gid(group)?;
        let Some(ov) = self.ov(gid)? else {
            return Ok(None);
        };
        match ov.get(&number)? {
            Some(v) => {
                let o: OverRec<'_> = decode(v.value(), "overview")?;
                Ok(Some(Token::from_bytes(&o.token)))
            }
            None => Ok(None),
        }
    }

    /// Visits the message-ids of articles that arrived at or after `since` in groups accepted
    /// by `group_filter`, in arrival order, each once, until `visit` returns false (NEWNEWS).
    ///
    /// There is no arrival index (it cost about 44 bytes per article): like INN, each accepted
    /// group's overview is searched. Article numbers follow arrival within a group, so a binary
    /// search finds the first row that arrived at or after `since` less
    /// [`NEWNEWS_SLACK_SECS`] (arrival times are taken before numbering, and a clock may step
    /// back a little), and the rows from there on are filtered by arrival. A group whose newest
    /// row is older than that is skipped after one read. Memory grows with the ids found.
    pub fn newnews(
        &self,
        since: i64,
        mut group_filter: impl FnMut(&str) -> bool,
        mut visit: impl FnMut(&str) -> bool,
    ) -> Result<()> {
        let from = since.saturating_sub(NEWNEWS_SLACK_SECS);
        let arrival =
            |v: &[u8]| -> Result<i64> { Ok(decode::<OverRec<'_>>(v, "overview")?.arrival) };
        let mut found: Vec<(i64, u32, u64, String)> = Vec::new();
        for item in self.gids.iter()? {
            let (gid, name) = item?;
            let gid = gid.value();
            if !group_filter(name.value()) {
                continue;
            }
            let Some(ov) = self.ov(gid)? else {
                continue;
            };
            let (Some(first), Some(last)) = (ov.first()?, ov.last()?) else {
                continue;
            };
            if arrival(last.1.value())? < from {
                continue;
            }
            // The smallest existing number whose row arrived at or after `from`: `best` is
            // such a row; the answer lies in [lo, hi) or is `best`.
            let (mut lo, mut hi, mut best) = (first.0.value(), last.0.value(), last.0.value());
            for _ in 0..128 {
                if lo >= hi {
                    break;
                }
                let mid = lo + (hi - lo) / 2;
                let Some(row) = ov.range(mid..hi)?.next() else {
                    hi = mid;
                    continue;
                };
                let (k, v) = row?;
                let k = k.value();
                if arrival(v.value())? >= from {
                    best = k;
                    hi = mid;
                } else {
                    lo = k + 1;
                }
            }
            for row in ov.range(best..)? {
                let (k, v) = row?;
                let o: OverRec<'_> = decode(v.value(), "overview")?;
                if o.arrival >= since {
                    found.push((o.arrival, gid, k.value(), o.message_id.into_owned()));
                }
            }
        }
        found.sort_unstable_by_key(|a| (a.0, a.1, a.2));
        let mut seen: HashSet<&str> = HashSet::with_capacity(found.len());
        for (.., id) in &found {
            if seen.insert(id.as_str()) && !visit(id) {
                break;
            }
        }
        Ok(())
    }

    /// Reads a part of an article (see [`Store::read`]).
    pub fn read(&self, token: Token, part: Part) -> Result<Vec<u8>> {
        self.store.read(token, part)
    }
}

/// Details of a stored article.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArticleInfo {
    /// Spool token.
    pub token: Token,
    /// Arrival time, unix seconds.
    pub arrival: i64,
    /// Expires, if given.
    pub expires: Option<i64>,
    /// Groups and numbers it is still filed under.
    pub numbers: Vec<(String, u64)>,
}

impl Store {
    /// One group of the active list.
    pub fn group(&self, name: &str) -> Result<Option<GroupInfo>> {
        self.snapshot()?.group(name)
    }

    /// Groups for which `filter` is true.
    pub fn list_groups(&self, filter: impl FnMut(&GroupInfo) -> bool) -> Result<Vec<GroupInfo>> {
        self.snapshot()?.list_groups(filter)
    }

    /// Adds a group (numbers start at 1).
    pub fn add_group(
        &self,
        name: &str,
        status: GroupStatus,
        created: i64,
        creator: &str,
        description: &str,
    ) -> Result<GroupInfo> {
        if !valid_group_name(name) {
            return Err(Error::InvalidGroupName(name.to_string()));
        }
        self.write_op(|_, wtx| {
            if wtx.group(name)?.is_some() {
                return Err(Error::GroupExists(name.to_string()));
            }
            let id = wtx.next_group_id()?;
            let rec = GroupRec {
                v: IDX_VERSION,
                id,
                low: 1,
                high: 0,
                count: 0,
                status: status.as_flag().into_owned(),
                created,
                creator: creator.to_string(),
                description: description.to_string(),
            };
            let info = group_info(name, &rec);
            wtx.put_group(name, rec);
            Ok(info)
        })
    }

    /// Changes a group's status and/or description.
    pub fn change_group(
        &self,
        name: &str,
        status: Option<GroupStatus>,
        description: Option<&str>,
    ) -> Result<GroupInfo> {
        self.write_op(|_, wtx| {
            let Some(g) = wtx.group(name)? else {
                return Err(Error::UnknownGroup(name.to_string()));
            };
            if let Some(s) = status {
                g.status = s.as_flag().into_owned();
            }
            if let Some(d) = description {
                g.description = d.to_string();
            }
            Ok(group_info(name, g))
        })
    }

    /// Removes a group and its overview rows (one transaction, proportional to the group's
    /// size). Articles filed only there are removed and their ids remembered as rejected.
    pub fn remove_group(&self, name: &str, now: i64) -> Result<()> {
        self.write_op(|_, wtx| {
            let Some(g) = wtx.group(name)? else {
                return Err(Error::UnknownGroup(name.to_string()));
            };
            let id = g.id;
            loop {
                let mut rows = Vec::new();
                for item in wtx.ov(id)?.iter()?.take(4096) {
                    let (k, v) = item?;
                    let o: OverRec<'_> = decode(v.value(), "overview")?;
                    rows.push((k.value(), o.message_id.into_owned()));
                }
                if rows.is_empty() {
                    break;
                }
                for (n, mid) in rows {
                    wtx.remove_place(&mid, id, n, now)?;
                }
            }
            wtx.drop_ov(id)?;
            wtx.delete_group(name, id)
        })
    }

    /// Overview scan (see [`Snapshot::overview`]).
    pub fn overview(
        &self,
        group: &str,
        range: RangeInclusive<u64>,
        visit: impl FnMut(&OverviewRef<'_>) -> bool,
    ) -> Result<()> {
        self.snapshot()?.overview(group, range, visit)
    }
}

/// Size of one index table (from redb's statistics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableSize {
    /// Rows.
    pub rows: u64,
    /// Bytes of keys and values stored in leaf pages.
    pub stored_bytes: u64,
    /// Bytes of B-tree metadata (per-entry offsets, branch pages).
    pub metadata_bytes: u64,
    /// Bytes unused inside allocated pages.
    pub fragmented_bytes: u64,
}

/// Sizes of the index tables and of the index file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexStats {
    /// history table.
    pub history: TableSize,
    /// overview tables (all groups).
    pub overview: TableSize,
    /// active list (groups and group ids).
    pub groups: TableSize,
    /// Size of the index file (includes free pages kept for copy-on-write).
    pub file_bytes: u64,
}

impl Store {
    /// Sizes of the index tables (for capacity planning and the overhead benchmark).
    pub fn index_stats(&self) -> Result<IndexStats> {
        use redb::ReadableTableMetadata;
        fn size<T: ReadableTableMetadata>(t: &T) -> Result<TableSize> {
            let s = t.stats()?;
            Ok(TableSize {
                rows: t.len()?,
                stored_bytes: s.stored_bytes(),
                metadata_bytes: s.metadata_bytes(),
                fragmented_bytes: s.fragmented_bytes(),
            })
        }
        let txn = self.db.begin_read()?;
        let g = size(&txn.open_table(GROUPS)?)?;
        let gi = size(&txn.open_table(GROUP_IDS)?)?;
        Ok(IndexStats {
            history: {
                let (rows, len, live) = self.history.stats()?;
                TableSize {
                    rows,
                    stored_bytes: live,
                    metadata_bytes: 0,
                    fragmented_bytes: len.saturating_sub(live + crate::history::LOG_HDR),
                }
            },
            overview: {
                let mut tot = TableSize::default();
                for item in txn.open_table(GROUP_IDS)?.iter()? {
                    let name = ov_name(item?.0.value());
                    match txn.open_table(ov_def(&name)) {
                        Ok(t) => {
                            let s = size(&t)?;
                            tot.rows += s.rows;
                            tot.stored_bytes += s.stored_bytes;
                            tot.metadata_bytes += s.metadata_bytes;
                            tot.fragmented_bytes += s.fragmented_bytes;
                        }
                        Err(redb::TableError::TableDoesNotExist(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                tot
            },
            groups: TableSize {
                rows: g.rows,
                stored_bytes: g.stored_bytes + gi.stored_bytes,
                metadata_bytes: g.metadata_bytes + gi.metadata_bytes,
                fragmented_bytes: g.fragmented_bytes + gi.fragmented_bytes,
            },
            file_bytes: std::fs::metadata(self.root.join(INDEX_FILE))?.len(),
        })
    }
}
