//! Netnews article model for Tidings: pure parsing, validation and formatting of
//! Usenet articles and the NNTP data derived from them.
//!
//! What it does:
//! * [`headers`]: zero-copy header parsing (RFC 5322/5536) over raw article bytes,
//!   with folding, case-insensitive names, order and duplicates kept, and the body
//!   offset;
//! * [`validate`]: required-header and syntax checks for transit and for injection
//!   (RFC 5536/5537), with errors a person can read;
//! * [`msgid`], [`group`], [`path`], [`xref`], [`date`]: the Message-ID, newsgroup name
//!   and lists, Path, Xref and date syntaxes;
//! * [`wildmat`]: RFC 3977 wildmats with INN's `[...]`, `\` and `@` poison extensions;
//! * [`overview`]: RFC 3977 overview fields and lines;
//! * [`cancel_lock`]: RFC 8315 Cancel-Lock / Cancel-Key;
//! * [`edit`]: byte-exact header edits (prepend, append, replace, remove);
//! * [`fuzz`]: the entry point for the fuzz target.
//!
//! ```
//! use tidings_article::{Headers, Overview, Path, Wildmat, validate_transit};
//!
//! let article = b"Path: a.example!not-for-mail\r\nFrom: Joe <joe@example.org>\r\n\
//! Newsgroups: misc.test\r\nSubject: hi\r\nDate: Tue, 01 Dec 2026 03:57:09 +0000\r\n\
//! Message-ID: <1@example.org>\r\n\r\nhello\r\n";
//! let h = Headers::parse(article)?;
//! validate_transit(&h)?;
//! assert_eq!(h.body(), b"hello\r\n");
//! let path = Path::parse(h.get("Path").unwrap_or_default())?;
//! assert!(!path.contains("me.example"));
//! assert_eq!(path.prepend("me.example"), "me.example!a.example!not-for-mail");
//! let over = Overview::from_headers(&h);
//! assert_eq!(over.lines, 1);
//! assert!(Wildmat::parse("misc.*,!misc.jobs.*")?.matches("misc.test"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What it does not do: no I/O, no clock (times are unix seconds passed in by the
//! caller), no networking, no storage; it never requires an article or its body to be
//! UTF-8 and does not decode MIME, encoded-words, charsets or yEnc; it does not apply
//! site policy (which groups are carried, size limits, how old a Date may be) and does
//! not check signatures of control messages (PGP).

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod ascii;
pub mod cancel_lock;
pub mod date;
pub mod edit;
pub mod fuzz;
pub mod group;
pub mod headers;
pub mod msgid;
pub mod overview;
pub mod path;
pub mod validate;
pub mod wildmat;
pub mod xref;

pub use cancel_lock::Scheme;
pub use date::{DateError, format_date, format_nntp_date, parse_date, parse_nntp_date};
pub use edit::{EditError, append_header, prepend_header, remove_header, set_header};
pub use group::{GroupName, GroupNameError, parse_newsgroups};
pub use headers::{HeaderError, HeaderField, Headers};
pub use msgid::{MessageId, MessageIdError};
pub use overview::{Overview, OverviewError};
pub use path::{Path, PathEntry, PathError};
pub use validate::{ValidationError, bare_lf_dot, validate_injection, validate_transit};
pub use wildmat::{Wildmat, WildmatError};
pub use xref::{Xref, XrefError, format_xref};
