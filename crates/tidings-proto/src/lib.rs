//! NNTP wire format for Tidings: framing, commands, replies.
//!
//! What this crate does:
//! - [`line`](mod@line): incremental command-line framing with a length limit
//!   (RFC 3977 §3.1), resynchronising after over-long lines.
//! - [`block`]: incremental, non-rescanning decoder for dot-terminated
//!   blocks (un-stuffing, size limit with discard-to-terminator).
//! - [`stuff`]: dot-stuffing writer for stored articles, as borrowed slices
//!   for vectored writes; header/body split of stored articles.
//! - [`command`]: typed commands of RFC 3977, 4642, 4643, 4644, 8054 and the
//!   RFC 2980 commands clients still send; parsing and canonical encoding.
//! - [`table`]: the declarative command table from which dispatch, HELP and
//!   CAPABILITIES are derived.
//! - [`reply`]: reply codes and the reply encoder.
//! - [`client`]: pipelining response decoder for the client (feeder) side.
//! - [`fuzz`]: entry points for the fuzz targets.
//!
//! What it does not do: no I/O, no clock, no TLS or compression, no
//! authentication logic, no article parsing beyond the header/body split,
//! and no decisions about what a server answers (beyond mapping parse errors
//! to 500/501). Articles are handled as bytes and never decoded as text.

pub mod block;
pub mod client;
pub mod command;
pub mod fuzz;
pub mod line;
pub mod reply;
pub mod stuff;
pub mod table;

pub use block::{BlockDecoder, BlockError, BlockStep};
pub use client::{Response, ResponseDecoder, ResponseError, ResponseStep};
pub use command::{
    ArticleRange, ArticleRef, Command, CommandKind, ListKind, MessageId, NewsDateTime, ParseError,
    RangeOrId, parse,
};
pub use line::{Line, LineDecoder, LineError};
pub use reply::ReplyCode;
pub use stuff::{Stuffed, split_header_body, write_stuffed};
pub use table::{CapabilityState, CommandSpec, Role, capability_lines, help_lines};
