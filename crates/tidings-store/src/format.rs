//! On-disk formats: the spool record header, the record metadata and the index records.
//!
//! Stored types are separate from the API types and carry a version byte. See
//! `docs/storage-format.md` for the byte layouts.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Magic at the start of every segment file.
pub(crate) const SEG_MAGIC: [u8; 8] = *b"TIDSEG\0\x01";
/// Size of the segment file header (magic, segment id, reserved).
pub(crate) const SEG_HDR: u64 = 16;
/// Magic at the start of every spool record.
pub(crate) const REC_MAGIC: [u8; 4] = *b"TDSR";
/// Version byte of spool records written by this code.
pub(crate) const REC_VERSION: u8 = 1;
/// Size of the fixed spool record header.
pub(crate) const REC_HDR: usize = 140;
/// Record kind: an article.
pub(crate) const KIND_ARTICLE: u8 = 1;
/// Record kind: a cancel tombstone (no article bytes).
pub(crate) const KIND_CANCEL: u8 = 2;
/// Version byte of the index records (history, overview, groups, segment stats).
pub(crate) const IDX_VERSION: u8 = 1;
/// Largest metadata block accepted when reading a record.
pub(crate) const MAX_META: u32 = 1 << 20;

/// An opaque, fixed-size handle to one article in the spool.
///
/// It names the segment, the record offset and the lengths needed to read the whole article,
/// its head or its body with one positioned read each. Serialise it with [`Token::to_bytes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token {
    pub(crate) segment: u32,
    pub(crate) offset: u32,
    pub(crate) meta_len: u32,
    pub(crate) head_len: u32,
    pub(crate) len: u32,
}

impl Token {
    /// Size of the serialised form.
    pub const SIZE: usize = 20;

    /// Serialises the token (little-endian fields).
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.segment.to_le_bytes());
        b[4..8].copy_from_slice(&self.offset.to_le_bytes());
        b[8..12].copy_from_slice(&self.meta_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.head_len.to_le_bytes());
        b[16..20].copy_from_slice(&self.len.to_le_bytes());
        b
    }

    /// Deserialises a token produced by [`Token::to_bytes`].
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Token {
        let f = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Token {
            segment: f(0),
            offset: f(4),
            meta_len: f(8),
            head_len: f(12),
            len: f(16),
        }
    }

    /// Segment id holding the article.
    pub fn segment(&self) -> u32 {
        self.segment
    }

    /// Offset of the record in its segment.
    pub fn offset(&self) -> u64 {
        u64::from(self.offset)
    }

    /// Length of the stored article (wire form, with the Xref header).
    pub fn article_len(&self) -> u64 {
        u64::from(self.len)
    }

    /// Length of the head (header lines, each with CRLF, without the blank line).
    pub fn head_len(&self) -> u64 {
        u64::from(self.head_len)
    }

    /// Length of the body (after the blank line).
    pub fn body_len(&self) -> u64 {
        u64::from(self.len).saturating_sub(u64::from(self.head_len) + 2)
    }

    /// Total length of the spool record.
    pub(crate) fn record_len(&self) -> u64 {
        REC_HDR as u64 + u64::from(self.meta_len) + u64::from(self.len)
    }

    /// Offset of the article bytes in the segment.
    pub(crate) fn article_offset(&self) -> u64 {
        u64::from(self.offset) + REC_HDR as u64 + u64::from(self.meta_len)
    }

    /// Key of the record (segment, offset) packed into a u64.
    pub(crate) fn rec_key(&self) -> u64 {
        (u64::from(self.segment) << 32) | u64::from(self.offset)
    }
}

/// The blake3 hash of a message-id; the history key is its first 16 bytes.
pub(crate) fn id_hash(id: &str) -> [u8; 32] {
    *blake3::hash(id.as_bytes()).as_bytes()
}

/// History key of a message-id: the first 8 bytes of its blake3 hash (big-endian). Ids whose
/// keys collide share one history value (entries are told apart by their id).
pub(crate) fn hist_key(id: &str) -> u64 {
    key_of(&id_hash(id))
}

/// History key from a message-id's [`id_hash`].
pub(crate) fn key_of(hash: &[u8; 32]) -> u64 {
    let mut k = [0u8; 8];
    k.copy_from_slice(&hash[..8]);
    u64::from_be_bytes(k)
}

/// Record flag: `body_sum` is not stored (zero); a body is verified through `article_sum`,
/// reading the head along with it. Saves hashing every body twice when storing.
pub(crate) const FLAG_BODY_IN_ARTICLE_SUM: u16 = 1;

/// Record flag: `head_sum` is not stored either (zero); the head is verified through
/// `article_sum`, reading the whole article. Set on articles of at most
/// [`SMALL_ARTICLE`] bytes, where that read costs little and hashing the head apart would
/// cost as much as hashing the article.
pub(crate) const FLAG_HEAD_IN_ARTICLE_SUM: u16 = 2;

/// Largest article whose head has no sum of its own (see [`FLAG_HEAD_IN_ARTICLE_SUM`]).
pub(crate) const SMALL_ARTICLE: usize = 32 << 10;

/// Fixed header of a spool record. Layout (little-endian):
/// magic[4] version[1] kind[1] flags[2] meta_len[4] head_len[4] article_len[4] reserved[4]
/// arrival[8] id_hash[32] article_sum[32] head_sum[16] body_sum[16] header_sum[12].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RecHeader {
    pub kind: u8,
    /// `FLAG_*` bits (0 in records written before flags existed).
    pub flags: u16,
    pub meta_len: u32,
    pub head_len: u32,
    pub len: u32,
    pub arrival: i64,
    pub id_hash: [u8; 32],
    pub article_sum: [u8; 32],
    pub head_sum: [u8; 16],
    pub body_sum: [u8; 16],
}

/// The sum over the header's first 128 bytes and the metadata block.
fn header_sum(first: &[u8], meta: &[u8]) -> [u8; 12] {
    let mut h = blake3::Hasher::new();
    h.update(first);
    h.update(meta);
    let mut o = [0u8; 12];
    o.copy_from_slice(&h.finalize().as_bytes()[..12]);
    o
}

impl RecHeader {
    /// Builds the header of an article record given as head pieces (concatenated, they form the
    /// head) and the rest (the blank line and the body), without concatenating them. `id_hash`
    /// is the message-id's [`id_hash`].
    pub fn for_parts(
        id_hash: [u8; 32],
        arrival: i64,
        meta_len: u32,
        head: &[&[u8]],
        rest: &[u8],
    ) -> Self {
        // The body is hashed once, as part of the whole article (FLAG_BODY_IN_ARTICLE_SUM);
        // so is the head of a small article (FLAG_HEAD_IN_ARTICLE_SUM).
        let head_len: usize = head.iter().map(|p| p.len()).sum();
        let small = head_len + rest.len() <= SMALL_ARTICLE;
        let mut whole = blake3::Hasher::new();
        let mut hh = (!small).then(blake3::Hasher::new);
        for p in head {
            whole.update(p);
            if let Some(hh) = hh.as_mut() {
                hh.update(p);
            }
        }
        whole.update(rest);
        let mut head_sum = [0u8; 16];
        if let Some(hh) = hh {
            head_sum.copy_from_slice(&hh.finalize().as_bytes()[..16]);
        }
        let flags = if small {
            FLAG_BODY_IN_ARTICLE_SUM | FLAG_HEAD_IN_ARTICLE_SUM
        } else {
            FLAG_BODY_IN_ARTICLE_SUM
        };
        RecHeader {
            kind: KIND_ARTICLE,
            flags,
            meta_len,
            head_len: head_len as u32,
            len: (head_len + rest.len()) as u32,
            arrival,
            id_hash,
            article_sum: *whole.finalize().as_bytes(),
            head_sum,
            body_sum: [0; 16],
        }
    }

    /// Appends header and metadata to `out`.
    pub fn encode(&self, meta: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&REC_MAGIC);
        out.push(REC_VERSION);
        out.push(self.kind);
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.meta_len.to_le_bytes());
        out.extend_from_slice(&self.head_len.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&self.arrival.to_le_bytes());
        out.extend_from_slice(&self.id_hash);
        out.extend_from_slice(&self.article_sum);
        out.extend_from_slice(&self.head_sum);
        out.extend_from_slice(&self.body_sum);
        let hs = header_sum(&out[start..start + 128], meta);
        out.extend_from_slice(&hs);
        out.extend_from_slice(meta);
    }

    /// Parses the fixed header (without verifying the header sum, which needs the metadata).
    pub fn parse(b: &[u8; REC_HDR]) -> std::result::Result<Self, &'static str> {
        if b[0..4] != REC_MAGIC {
            return Err("bad magic");
        }
        if b[4] != REC_VERSION {
            return Err("unknown record version");
        }
        let u32at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut a8 = [0u8; 8];
        a8.copy_from_slice(&b[24..32]);
        let mut id_hash = [0u8; 32];
        id_hash.copy_from_slice(&b[32..64]);
        let mut article_sum = [0u8; 32];
        article_sum.copy_from_slice(&b[64..96]);
        let mut hs = [0u8; 16];
        hs.copy_from_slice(&b[96..112]);
        let mut bs = [0u8; 16];
        bs.copy_from_slice(&b[112..128]);
        let h = RecHeader {
            kind: b[5],
            flags: u16::from_le_bytes([b[6], b[7]]),
            meta_len: u32at(8),
            head_len: u32at(12),
            len: u32at(16),
            arrival: i64::from_le_bytes(a8),
            id_hash,
            article_sum,
            head_sum: hs,
            body_sum: bs,
        };
        if h.kind != KIND_ARTICLE && h.kind != KIND_CANCEL {
            return Err("unknown record kind");
        }
        if h.meta_len > MAX_META {
            return Err("metadata too long");
        }
        if h.kind == KIND_ARTICLE && u64::from(h.head_len) + 2 > u64::from(h.len) {
            return Err("head length exceeds article length");
        }
        Ok(h)
    }

    /// Verifies the header sum over the raw header bytes and the metadata.
    pub fn verify_sum(raw: &[u8; REC_HDR], meta: &[u8]) -> bool {
        header_sum(&raw[..128], meta) == raw[128..140]
    }

    /// Total record length.
    pub fn record_len(&self) -> u64 {
        REC_HDR as u64 + u64::from(self.meta_len) + u64::from(self.len)
    }

    /// The token of this record at a position.
    pub fn token(&self, segment: u32, offset: u32) -> Token {
        Token {
            segment,
            offset,
            meta_len: self.meta_len,
            head_len: self.head_len,
            len: self.len,
        }
    }
}

/// Metadata block of an article record: enough to rebuild every index from the spool.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct RecordMeta<'a> {
    pub v: u8,
    #[serde(borrow)]
    pub message_id: Cow<'a, str>,
    #[serde(borrow)]
    pub places: Vec<(Cow<'a, str>, u64)>,
    pub expires: Option<i64>,
    #[serde(borrow)]
    pub subject: Cow<'a, [u8]>,
    #[serde(borrow)]
    pub from: Cow<'a, [u8]>,
    #[serde(borrow)]
    pub date: Cow<'a, [u8]>,
    #[serde(borrow)]
    pub references: Cow<'a, [u8]>,
    pub lines: u64,
    /// Xref value as generated (`pathhost group:n ...`).
    #[serde(borrow)]
    pub xref: Cow<'a, str>,
}

/// Metadata block of a cancel tombstone.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct CancelMeta<'a> {
    pub v: u8,
    #[serde(borrow)]
    pub message_id: Cow<'a, str>,
    pub at: i64,
}

/// One history entry (several share a key only on a 128-bit hash collision).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) enum HistEntry<'a> {
    /// The article is stored.
    Present {
        #[serde(borrow)]
        id: Cow<'a, str>,
        token: [u8; Token::SIZE],
        arrival: i64,
        expires: Option<i64>,
        /// (group id, number) pairs still in the overview.
        places: Vec<(u32, u64)>,
    },
    /// The id was refused, cancelled or expired at `at` (unix seconds).
    Rejected {
        #[serde(borrow)]
        id: Cow<'a, str>,
        at: i64,
    },
}

impl HistEntry<'_> {
    pub fn id(&self) -> &str {
        match self {
            HistEntry::Present { id, .. } | HistEntry::Rejected { id, .. } => id,
        }
    }
    pub fn into_owned(self) -> HistEntry<'static> {
        match self {
            HistEntry::Present {
                id,
                token,
                arrival,
                expires,
                places,
            } => HistEntry::Present {
                id: Cow::Owned(id.into_owned()),
                token,
                arrival,
                expires,
                places,
            },
            HistEntry::Rejected { id, at } => HistEntry::Rejected {
                id: Cow::Owned(id.into_owned()),
                at,
            },
        }
    }
}

/// What a history value says about one id, found without decoding the whole value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HistFound {
    Present([u8; Token::SIZE]),
    Rejected,
}

fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Finds the entry of `id` in an encoded [`HistValue`] (postcard layout, walked in place).
pub(crate) fn hist_find(b: &[u8], id: &str) -> Result<Option<HistFound>> {
    let bad = || Error::CorruptIndex("history value".into());
    let mut pos = 1; // version byte
    let n = varint(b, &mut pos).ok_or_else(bad)?;
    for _ in 0..n {
        let variant = varint(b, &mut pos).ok_or_else(bad)?;
        let idlen = usize::try_from(varint(b, &mut pos).ok_or_else(bad)?).map_err(|_| bad())?;
        let this = b.get(pos..pos + idlen).ok_or_else(bad)?;
        pos += idlen;
        let same = this == id.as_bytes();
        match variant {
            0 => {
                let token: [u8; Token::SIZE] = b
                    .get(pos..pos + Token::SIZE)
                    .and_then(|t| t.try_into().ok())
                    .ok_or_else(bad)?;
                if same {
                    return Ok(Some(HistFound::Present(token)));
                }
                pos += Token::SIZE;
                varint(b, &mut pos).ok_or_else(bad)?; // arrival
                match b.get(pos) {
                    Some(0) => pos += 1,
                    Some(1) => {
                        pos += 1;
                        varint(b, &mut pos).ok_or_else(bad)?;
                    }
                    _ => return Err(bad()),
                }
                let places = varint(b, &mut pos).ok_or_else(bad)?;
                for _ in 0..places {
                    varint(b, &mut pos).ok_or_else(bad)?;
                    varint(b, &mut pos).ok_or_else(bad)?;
                }
            }
            1 => {
                if same {
                    return Ok(Some(HistFound::Rejected));
                }
                varint(b, &mut pos).ok_or_else(bad)?; // at
            }
            _ => return Err(bad()),
        }
    }
    Ok(None)
}

/// Value of the history table: version byte and the entries under one key.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct HistValue<'a> {
    pub v: u8,
    #[serde(borrow)]
    pub entries: Vec<HistEntry<'a>>,
}

/// Value of the overview table. Subject, From, Date and References are bytes (8-bit header
/// text is kept as it came); postcard encodes a byte string exactly as it encodes a `str`
/// (length, then the bytes), so records written when these were `str` read unchanged.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct OverRec<'a> {
    pub v: u8,
    pub token: [u8; Token::SIZE],
    pub arrival: i64,
    pub expires: Option<i64>,
    pub bytes: u64,
    pub lines: u64,
    #[serde(borrow)]
    pub subject: Cow<'a, [u8]>,
    #[serde(borrow)]
    pub from: Cow<'a, [u8]>,
    #[serde(borrow)]
    pub date: Cow<'a, [u8]>,
    #[serde(borrow)]
    pub message_id: Cow<'a, str>,
    #[serde(borrow)]
    pub references: Cow<'a, [u8]>,
    /// Xref value without the `Xref: ` prefix.
    #[serde(borrow)]
    pub xref: Cow<'a, str>,
}

/// Value of the groups table.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct GroupRec {
    pub v: u8,
    pub id: u32,
    pub low: u64,
    pub high: u64,
    pub count: u64,
    pub status: String,
    pub created: i64,
    pub creator: String,
    pub description: String,
}

/// Value of the segment statistics table.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct SegStat {
    pub v: u8,
    pub records: u64,
    pub bytes: u64,
    pub live: u64,
    pub live_bytes: u64,
}

/// Decodes a versioned index record.
pub(crate) fn decode<'a, T: Deserialize<'a>>(b: &'a [u8], what: &str) -> Result<T> {
    match b.first() {
        Some(&IDX_VERSION) => postcard::from_bytes(b).map_err(Error::from),
        Some(v) => Err(Error::CorruptIndex(format!("{what}: unknown version {v}"))),
        None => Err(Error::CorruptIndex(format!("{what}: empty record"))),
    }
}

/// Encodes an index record.
pub(crate) fn encode<T: Serialize>(t: &T) -> Result<Vec<u8>> {
    postcard::to_allocvec(t).map_err(Error::from)
}

/// Encodes a stored record at the end of `out` (reusing its allocation).
pub(crate) fn encode_into<T: Serialize>(t: &T, out: &mut Vec<u8>) -> Result<()> {
    let v = std::mem::take(out);
    *out = postcard::to_extend(t, v).map_err(Error::from)?;
    Ok(())
}

/// Decodes the metadata of an article record.
pub(crate) fn decode_meta(b: &[u8]) -> Result<RecordMeta<'_>> {
    decode(b, "record metadata")
}

/// Locates the end of the header block: returns the head length (header lines with their CRLF,
/// without the blank line). `None` when there is no blank line.
pub(crate) fn head_end(bytes: &[u8]) -> Option<usize> {
    if bytes.starts_with(b"\r\n") {
        return Some(0);
    }
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The overview record as it was when its text fields were `str`.
    #[derive(Serialize, Deserialize)]
    struct StrOverRec<'a> {
        v: u8,
        token: [u8; Token::SIZE],
        arrival: i64,
        expires: Option<i64>,
        bytes: u64,
        lines: u64,
        subject: &'a str,
        from: &'a str,
        date: &'a str,
        message_id: &'a str,
        references: &'a str,
        xref: &'a str,
    }

    #[test]
    fn byte_text_fields_keep_the_str_encoding() {
        let old = StrOverRec {
            v: IDX_VERSION,
            token: [3; Token::SIZE],
            arrival: 17,
            expires: Some(-1),
            bytes: 300,
            lines: 4,
            subject: "Re: caf\u{e9} \u{1f600}",
            from: "A <a@example.org>",
            date: "Tue, 01 Dec 2026 00:00:00 +0000",
            message_id: "<a@example.org>",
            references: "<r@example.org>",
            xref: "host misc.test:1",
        };
        let old_bytes = encode(&old).unwrap();
        let rec: OverRec<'_> = decode(&old_bytes, "overview").unwrap();
        assert_eq!(&*rec.subject, old.subject.as_bytes());
        assert_eq!(&*rec.references, old.references.as_bytes());
        assert!(matches!(rec.subject, Cow::Borrowed(_)), "decoding borrows");
        assert_eq!(encode(&rec).unwrap(), old_bytes, "same bytes on disk");
        // and a Latin-1 subject (not UTF-8) round-trips as bytes
        let latin = OverRec {
            subject: Cow::Borrowed(b"caf\xe9"),
            ..rec
        };
        let latin_bytes = encode(&latin).unwrap();
        let back: OverRec<'_> = decode(&latin_bytes, "overview").unwrap();
        assert_eq!(&*back.subject, b"caf\xe9");
    }

    #[test]
    fn hist_find_walks_postcard() {
        let v = HistValue {
            v: IDX_VERSION,
            entries: vec![
                HistEntry::Present {
                    id: "<a@x>".into(),
                    token: [7; Token::SIZE],
                    arrival: -5,
                    expires: Some(1 << 40),
                    places: vec![(1, 2), (300, 1 << 33)],
                },
                HistEntry::Rejected {
                    id: "<b@x>".into(),
                    at: 99,
                },
                HistEntry::Present {
                    id: "<c@x>".into(),
                    token: [9; Token::SIZE],
                    arrival: 5,
                    expires: None,
                    places: vec![],
                },
            ],
        };
        let b = encode(&v).unwrap();
        assert_eq!(
            hist_find(&b, "<a@x>").unwrap(),
            Some(HistFound::Present([7; Token::SIZE]))
        );
        assert_eq!(hist_find(&b, "<b@x>").unwrap(), Some(HistFound::Rejected));
        assert_eq!(
            hist_find(&b, "<c@x>").unwrap(),
            Some(HistFound::Present([9; Token::SIZE]))
        );
        assert_eq!(hist_find(&b, "<d@x>").unwrap(), None);
        assert!(hist_find(&b[..b.len() - 1], "<d@x>").is_err());
    }

    #[test]
    fn token_round_trip() {
        let t = Token {
            segment: 7,
            offset: 123_456,
            meta_len: 99,
            head_len: 500,
            len: 4000,
        };
        assert_eq!(Token::from_bytes(&t.to_bytes()), t);
        assert_eq!(t.body_len(), 4000 - 502);
    }

    #[test]
    fn header_round_trip_and_sum() {
        let h = RecHeader::for_parts(
            id_hash("<a@b>"),
            42,
            3,
            &[b"Subject: x\r\n"],
            b"\r\nbody\r\n",
        );
        assert_eq!((h.head_len, h.len), (12, 20));
        assert_eq!(
            h.article_sum,
            *blake3::hash(b"Subject: x\r\n\r\nbody\r\n").as_bytes()
        );
        let mut out = Vec::new();
        h.encode(b"abc", &mut out);
        assert_eq!(out.len(), REC_HDR + 3);
        let small = FLAG_BODY_IN_ARTICLE_SUM | FLAG_HEAD_IN_ARTICLE_SUM;
        assert_eq!(h.flags, small);
        assert_eq!(out[6..8], small.to_le_bytes());
        assert_eq!((h.head_sum, h.body_sum), ([0; 16], [0; 16]));
        // A large article keeps its head sum.
        let body = vec![b'x'; SMALL_ARTICLE];
        let big = RecHeader::for_parts(id_hash("<a@b>"), 42, 3, &[b"Subject: x\r\n"], &body);
        assert_eq!(big.flags, FLAG_BODY_IN_ARTICLE_SUM);
        assert_eq!(
            big.head_sum[..],
            blake3::hash(b"Subject: x\r\n").as_bytes()[..16]
        );
        let mut raw = [0u8; REC_HDR];
        raw.copy_from_slice(&out[..REC_HDR]);
        assert_eq!(RecHeader::parse(&raw), Ok(h));
        assert!(RecHeader::verify_sum(&raw, b"abc"));
        assert!(!RecHeader::verify_sum(&raw, b"abd"));
        raw[20] ^= 1;
        assert!(!RecHeader::verify_sum(&raw, b"abc"));
    }

    #[test]
    fn head_end_finds_blank_line() {
        assert_eq!(head_end(b"A: b\r\n\r\nbody"), Some(6));
        assert_eq!(head_end(b"\r\nbody"), Some(0));
        assert_eq!(head_end(b"A: b\r\n"), None);
    }
}
