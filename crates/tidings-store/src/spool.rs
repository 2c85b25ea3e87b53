//! Spool segment files: naming, creation, positioned reads and sequential scans.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::error::{Error, Result};
use crate::format::{REC_HDR, RecHeader, SEG_HDR, SEG_MAGIC};

/// Path of a segment file.
pub(crate) fn seg_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:08x}.seg"))
}

/// Lists the segment ids present in the spool directory, sorted.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(hex) = name.strip_suffix(".seg") else {
            continue;
        };
        if hex.len() == 8
            && let Ok(id) = u32::from_str_radix(hex, 16)
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Makes directory entries durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Creates a new, empty segment (header only), durable.
pub(crate) fn create_segment(dir: &Path, id: u32) -> Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(seg_path(dir, id))?;
    let mut hdr = [0u8; SEG_HDR as usize];
    hdr[..8].copy_from_slice(&SEG_MAGIC);
    hdr[8..12].copy_from_slice(&id.to_le_bytes());
    f.write_all_at(&hdr, 0)?;
    f.sync_all()?;
    sync_dir(dir)?;
    Ok(f)
}

/// Checks a segment file's header.
pub(crate) fn check_segment_header(f: &File, id: u32) -> Result<bool> {
    let mut hdr = [0u8; SEG_HDR as usize];
    match f.read_exact_at(&mut hdr, 0) {
        Ok(()) => Ok(hdr[..8] == SEG_MAGIC && hdr[8..12] == id.to_le_bytes()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Cache of open segment files for readers.
#[derive(Default)]
pub(crate) struct SegFiles {
    dir: PathBuf,
    files: RwLock<HashMap<u32, Arc<File>>>,
}

impl SegFiles {
    pub fn new(dir: PathBuf) -> Self {
        SegFiles {
            dir,
            files: RwLock::default(),
        }
    }

    /// An open handle on a segment.
    pub fn get(&self, id: u32) -> Result<Arc<File>> {
        if let Ok(m) = self.files.read()
            && let Some(f) = m.get(&id)
        {
            return Ok(f.clone());
        }
        let f = Arc::new(File::open(seg_path(&self.dir, id))?);
        if let Ok(mut m) = self.files.write() {
            m.insert(id, f.clone());
        }
        Ok(f)
    }

    /// Forgets a handle (segment deleted or truncated).
    pub fn forget(&self, id: u32) {
        if let Ok(mut m) = self.files.write() {
            m.remove(&id);
        }
    }
}

/// What a sequential scan found at one position.
pub(crate) enum ScanItem {
    /// A whole, verified record.
    Record {
        offset: u64,
        header: RecHeader,
        meta: Vec<u8>,
        article: Vec<u8>,
    },
    /// A record that failed a check; the scan continues at the next valid record header when
    /// resyncing, else stops.
    Bad { offset: u64, reason: String },
}

/// Sequential reader over the records of one segment, streaming (one record in memory).
pub(crate) struct SegScanner {
    file: BufReader<File>,
    pos: u64,
    len: u64,
    /// Whether to look for the next record magic after a bad record (rebuild, check) or to stop
    /// (recovery, which truncates).
    resync: bool,
    done: bool,
}

impl SegScanner {
    pub fn open(dir: &Path, id: u32, from: u64, resync: bool) -> Result<Self> {
        let f = File::open(seg_path(dir, id))?;
        let len = f.metadata()?.len();
        let mut file = BufReader::with_capacity(256 * 1024, f);
        let pos = from.max(SEG_HDR);
        file.seek(SeekFrom::Start(pos))?;
        Ok(SegScanner {
            file,
            pos,
            len,
            resync,
            done: false,
        })
    }

    /// Scans no further than `limit` bytes into the file.
    pub fn limit(&mut self, limit: u64) {
        self.len = self.len.min(limit);
    }

    /// Length of the file when opened.
    pub fn file_len(&self) -> u64 {
        self.len
    }

    /// Current position.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    fn bad(&mut self, offset: u64, reason: &str) -> Result<Option<ScanItem>> {
        let resync = if self.resync {
            self.find_magic(offset + 1)?
        } else {
            None
        };
        match resync {
            Some(p) => {
                self.pos = p;
                self.file.seek(SeekFrom::Start(p))?;
            }
            None => self.done = true,
        }
        Ok(Some(ScanItem::Bad {
            offset,
            reason: reason.to_string(),
        }))
    }

    /// Finds the next offset >= `from` holding the record magic followed by a header that
    /// parses and whose header sum verifies.
    fn find_magic(&mut self, from: u64) -> Result<Option<u64>> {
        let f = self.file.get_ref();
        let mut p = from;
        let mut buf = vec![0u8; 64 * 1024];
        while p + REC_HDR as u64 <= self.len {
            let n = f.read_at(&mut buf, p)?;
            if n < 4 {
                return Ok(None);
            }
            let chunk = buf.get(..n).unwrap_or_default();
            for (i, w) in chunk.windows(4).enumerate() {
                if w == crate::format::REC_MAGIC && self.header_ok_at(p + i as u64)? {
                    return Ok(Some(p + i as u64));
                }
            }
            p += (n - 3) as u64;
        }
        Ok(None)
    }

    fn header_ok_at(&self, off: u64) -> Result<bool> {
        let f = self.file.get_ref();
        let mut raw = [0u8; REC_HDR];
        if off + REC_HDR as u64 > self.len {
            return Ok(false);
        }
        f.read_exact_at(&mut raw, off)?;
        let Ok(h) = RecHeader::parse(&raw) else {
            return Ok(false);
        };
        if off + h.record_len() > self.len {
            return Ok(false);
        }
        let mut meta = vec![0u8; h.meta_len as usize];
        f.read_exact_at(&mut meta, off + REC_HDR as u64)?;
        Ok(RecHeader::verify_sum(&raw, &meta))
    }

    /// The next record, or `None` at the end.
    pub fn next_item(&mut self) -> Result<Option<ScanItem>> {
        if self.done || self.pos >= self.len {
            return Ok(None);
        }
        let offset = self.pos;
        if offset + REC_HDR as u64 > self.len {
            return self.bad(offset, "truncated record header");
        }
        let mut raw = [0u8; REC_HDR];
        self.file.read_exact(&mut raw)?;
        let header = match RecHeader::parse(&raw) {
            Ok(h) => h,
            Err(why) => return self.bad(offset, why),
        };
        if offset + header.record_len() > self.len {
            return self.bad(offset, "record extends past end of segment");
        }
        if offset + header.record_len() > u64::from(u32::MAX) {
            return self.bad(offset, "record extends past 4 GiB");
        }
        let mut meta = vec![0u8; header.meta_len as usize];
        self.file.read_exact(&mut meta)?;
        if !RecHeader::verify_sum(&raw, &meta) {
            return self.bad(offset, "header checksum mismatch");
        }
        let mut article = vec![0u8; header.len as usize];
        self.file.read_exact(&mut article)?;
        if *blake3::hash(&article).as_bytes() != header.article_sum {
            // the header is sound, so the next record starts right after this one
            self.pos = offset + header.record_len();
            return Ok(Some(ScanItem::Bad {
                offset,
                reason: "article checksum mismatch".into(),
            }));
        }
        self.pos = offset + header.record_len();
        Ok(Some(ScanItem::Record {
            offset,
            header,
            meta,
            article,
        }))
    }
}

/// Reads the fixed header of the record at `offset` and checks it against what the caller
/// expects; returns the parsed header.
pub(crate) fn read_header(
    f: &File,
    segment: u32,
    offset: u64,
) -> Result<(RecHeader, [u8; REC_HDR])> {
    let mut raw = [0u8; REC_HDR];
    f.read_exact_at(&mut raw, offset)
        .map_err(|e| short(e, segment, offset))?;
    let h = RecHeader::parse(&raw).map_err(|why| Error::Corrupt {
        segment,
        offset,
        reason: why.into(),
    })?;
    Ok((h, raw))
}

/// Maps an unexpected EOF to a corruption error (the index points past the end of the file).
pub(crate) fn short(e: io::Error, segment: u32, offset: u64) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        Error::Corrupt {
            segment,
            offset,
            reason: "record missing (segment truncated)".into(),
        }
    } else {
        Error::Io(e)
    }
}
