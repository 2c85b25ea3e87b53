//! Error type of the store.

use std::path::PathBuf;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system I/O error (spool files, directories).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// An error reported by the redb index database.
    #[error("index database error: {0}")]
    Db(#[from] redb::Error),
    /// A stored index record could not be encoded or decoded.
    #[error("record encoding error: {0}")]
    Encoding(#[from] postcard::Error),
    /// A spool record failed its checks (bad magic, length or checksum). It is not served.
    #[error("corrupt spool record at segment {segment} offset {offset}: {reason}")]
    Corrupt {
        /// Segment id.
        segment: u32,
        /// Byte offset of the record in the segment.
        offset: u64,
        /// What failed.
        reason: String,
    },
    /// The record was found corrupt earlier and is quarantined: it is never served again.
    #[error("article at segment {segment} offset {offset} is quarantined")]
    Quarantined {
        /// Segment id.
        segment: u32,
        /// Byte offset of the record in the segment.
        offset: u64,
    },
    /// The index database is missing while the spool holds segments: run `rebuild`.
    #[error("index database {0} is missing but the spool is not empty; run rebuild")]
    IndexMissing(PathBuf),
    /// An index record is malformed (wrong version byte, impossible value).
    #[error("corrupt index record: {0}")]
    CorruptIndex(String),
    /// The named group does not exist.
    #[error("unknown group {0}")]
    UnknownGroup(String),
    /// The named group already exists.
    #[error("group {0} already exists")]
    GroupExists(String),
    /// A group name is empty or contains whitespace, `:` or control characters.
    #[error("invalid group name {0:?}")]
    InvalidGroupName(String),
    /// An earlier write failed half-way; the writer refuses work until the store is reopened
    /// (reopening runs recovery).
    #[error("writer disabled by an earlier failure; reopen the store")]
    Poisoned,
    /// An invalid configuration value.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    /// The store is open in another process (or by another handle of this one): its index
    /// database is locked.
    #[must_use]
    pub fn is_already_open(&self) -> bool {
        matches!(
            self,
            Error::Db(redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch)
        )
    }
}

macro_rules! redb_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Db(e.into())
            }
        }
    )*};
}
redb_from!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// Result alias of the store.
pub type Result<T, E = Error> = std::result::Result<T, E>;
