//! Article storage for the Tidings news server.
//!
//! What it does:
//! - **Spool**: articles are appended, in wire form (CRLF, not dot-stuffed), to segment files
//!   (`spool/XXXXXXXX.seg`). Every record carries a version byte, its lengths, the arrival
//!   time, the blake3 hash of the message-id, blake3 checksums of the article, its head and its
//!   body, and a metadata block (message-id, group:number filings, overview fields, Xref) that
//!   is enough to rebuild every index. An article is addressed by a fixed-size [`Token`].
//! - **History** (message-id → token, arrival, expiry, filings; remembered rejects): an
//!   append-only log (`history.log`) with an in-memory hash index rebuilt at open; the index
//!   database records how much of the log is committed.
//! - **Indexes** in one redb database (`index.redb`): the active list and article numbering,
//!   overview records per (group, number) (NEWNEWS searches them by arrival: there is no
//!   arrival index), segment statistics, quarantine, outgoing queues.
//! - **Group commit**: [`Store::store_batch`] appends a batch, fsyncs the spool and the history
//!   log once (concurrently, on a scoped helper thread), commits the index updates (including
//!   article numbers, the "indexed up to" mark and the history log length) in one durable
//!   transaction, and only then reports the outcome of each article.
//! - **Expiry** in slices ([`Store::expire_step`]), **cancel**, **crash recovery** on open,
//!   [`Store::check`] and [`Store::rebuild`].
//!
//! What it does not do: parse headers or speak NNTP (the caller supplies message-id, groups,
//! overview fields; the store only locates the blank line ending the header block to insert
//! the Xref header), read a clock (times are arguments), run background threads (a commit uses
//! scoped threads for the spool writes and fsync and joins them), or use async I/O. Writes are serialised
//! by an internal mutex; reads go on concurrently.
//!
//! Checksum policy: every read is verified before it is served. A whole-article read verifies
//! the blake3 sum of the article; so does a body read (the body has no sum of its own, so it
//! is hashed once when stored), reading the head along; a head read verifies the head's own
//! sum, so it never touches the body of a large article (articles of at most 32 KiB have no
//! head sum and are read whole). A failing record is quarantined and never served again. See
//! `docs/storage-format.md`.

mod batch;
mod error;
mod expire;
mod format;
mod history;
mod index;
mod maint;
mod queue;
mod slots;
mod spool;
mod store;
pub mod writer;

pub use error::{Error, Result};
pub use expire::{ExpirePolicy, ExpireProgress, ExpireRule, glob_match};
pub use format::Token;
pub use maint::{CheckReport, RebuildReport};
pub use queue::{MAX_PEER_NAME, QueueEntry, QueueScan};
pub use store::{
    ArticleInfo, ArticleReader, Config, GroupInfo, GroupStatus, Lookup, NEWNEWS_SLACK_SECS,
    NewArticle, OverviewField, OverviewInput, OverviewRef, Part, Progress, RecoveryReport,
    RefuseReason, Snapshot, Store, StoreOutcome,
};
