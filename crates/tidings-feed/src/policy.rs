//! What to do with an offered or received article: pure functions, no I/O, no clock.
//!
//! [`decide`] maps (command, history, in flight elsewhere, check result) to a reply code and
//! an [`Outcome`]; [`examine`] runs the acceptance checks on a received article and prepares
//! it for the store (our pathhost prepended to Path, Xref removed, groups chosen).

use serde::Deserialize;
use tidings_article::{Headers, Overview, ValidationError, parse_date, parse_newsgroups};
use tidings_proto::ReplyCode;
use tidings_store::writer::OwnedArticle;

/// What to do with articles none of whose newsgroups we carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownGroups {
    /// Reject them (437/439), as INN does without `wanttrash`.
    #[default]
    Refuse,
    /// File them in `junk`.
    Junk,
}

/// Largest `max_article` (here and in `[limits]`): the store's own default limit, 64 MiB. The
/// store's records could be larger (their lengths are u32), but an article is held whole in
/// memory while it is received, stored and sent, and a store batch is about 64 MiB.
pub const MAX_ARTICLE_LIMIT: usize = 64 << 20;

/// `[transit]`: settings of inbound transit sessions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransitConfig {
    /// Articles none of whose groups we carry: `refuse` (default) or `junk`.
    pub unknown_groups: UnknownGroups,
    /// Largest article accepted (bytes, as received, un-stuffed). Default 1000000.
    pub max_article: usize,
    /// Articles whose Date is older than this many days are rejected; 0 turns the check off.
    /// Default 10 (the same as how long rejected message-ids are remembered); the binary
    /// checks that it is at most `[store] reject_retention_days` unless it is 0.
    pub max_age_days: u64,
    /// Articles dated more than this many seconds in the future are rejected. Default 86400.
    pub max_future_secs: u64,
    /// How long an offered message-id is held for the connection that offered it, when the
    /// article does not arrive (seconds). Default 30.
    pub in_flight_timeout_secs: u64,
    /// Most bytes of articles one session has handed to the store and that are not stored
    /// yet; at the limit the session stops reading from the peer until some are stored (so
    /// a disk slower than the network does not fill memory). At least `max_article`.
    /// Default 67108864 (64 MiB).
    pub max_pending_bytes: usize,
}

impl Default for TransitConfig {
    fn default() -> Self {
        Self {
            unknown_groups: UnknownGroups::Refuse,
            max_article: 1_000_000,
            max_age_days: 10,
            max_future_secs: 86_400,
            in_flight_timeout_secs: 30,
            max_pending_bytes: 64 << 20,
        }
    }
}

impl TransitConfig {
    /// Checks the values: `(key, message)` for each problem.
    #[must_use]
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.max_article < 1024 {
            out.push(("max_article".into(), "must be at least 1024".into()));
        }
        if self.max_article > MAX_ARTICLE_LIMIT {
            out.push((
                "max_article".into(),
                format!(
                    "must be at most {MAX_ARTICLE_LIMIT} (64 MiB, the largest article the store \
                     is set up for)"
                ),
            ));
        }
        if self.in_flight_timeout_secs == 0 {
            out.push(("in_flight_timeout_secs".into(), "must be at least 1".into()));
        }
        if self.max_pending_bytes < self.max_article {
            out.push((
                "max_pending_bytes".into(),
                format!(
                    "must be at least max_article ({}): one article must fit",
                    self.max_article
                ),
            ));
        }
        out
    }
}

/// The transit command an article came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// IHAVE (RFC 3977 §6.3.2).
    Ihave,
    /// CHECK (RFC 4644 §2.4).
    Check,
    /// TAKETHIS (RFC 4644 §2.5).
    TakeThis,
}

/// What history says about a message-id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// Never seen.
    Unknown,
    /// Stored.
    Present,
    /// Remembered as rejected, cancelled or expired.
    Rejected,
}

impl From<tidings_store::Lookup> for History {
    fn from(l: tidings_store::Lookup) -> Self {
        match l {
            tidings_store::Lookup::Unknown => Self::Unknown,
            tidings_store::Lookup::Present(_) => Self::Present,
            tidings_store::Lookup::Rejected => Self::Rejected,
        }
    }
}

/// What the session does after a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Ask for the article (335, 238).
    Send,
    /// Store it; the reply (235, 239) goes out once it is durable.
    Accept,
    /// We have it or had it (435, 438; 437/439 once the article was sent anyway).
    Refuse,
    /// Its content is unacceptable (437, 439); `remember`: record the id as rejected so that
    /// a re-offer is refused at once.
    Reject {
        /// Whether to remember the rejection.
        remember: bool,
    },
    /// Try again later (436, 431): another connection is receiving it.
    Defer,
}

/// A reply code and what it means for the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The reply code.
    pub code: ReplyCode,
    /// What to do.
    pub outcome: Outcome,
}

/// Why a received article is refused. Display is the reason sent in the reply text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Larger than `[transit] max_article`.
    #[error("Article too large ({size} octets; the limit is {limit})")]
    TooLarge {
        /// Wire octets received.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A NUL octet (INN refuses these too).
    #[error("Nul character in article")]
    Nul,
    /// A bare LF (without CR) followed by `.`: served as it is, the `.` would end the
    /// response early for clients that split lines on LF (see
    /// [`tidings_article::bare_lf_dot`]).
    #[error("Bare LF followed by '.' in article (at octet {0}); lines must end with CRLF")]
    BareLfDot(usize),
    /// Required headers missing or malformed.
    #[error("{0}")]
    Invalid(ValidationError),
    /// The message-id on the command line differs from the Message-ID header.
    #[error("Message-ID {header} does not match the offered {command}")]
    IdMismatch {
        /// The id from the command line.
        command: String,
        /// The id from the header.
        header: String,
    },
    /// Our own pathhost is already in Path.
    #[error("Loop: {0} is already in Path")]
    Loop(String),
    /// The Date is older than the cutoff.
    #[error("Article too old ({days} days; the limit is {limit} days)")]
    TooOld {
        /// Age in whole days.
        days: i64,
        /// The limit in days.
        limit: u64,
    },
    /// The Date is too far in the future.
    #[error("Article dated {secs} seconds in the future (the limit is {limit})")]
    TooNew {
        /// Seconds ahead of our clock.
        secs: i64,
        /// The limit.
        limit: u64,
    },
    /// None of the newsgroups is carried here.
    #[error("Unwanted newsgroups: {0} (none carried here)")]
    UnwantedGroups(String),
    /// Posted to a group moderated here without an Approved header (INN: "Unapproved for").
    #[error("Unapproved for \"{0}\" (a moderated group; no Approved header)")]
    Unapproved(String),
    /// The message-id argument of TAKETHIS is not valid.
    #[error("Bad message-id {0}")]
    BadCommandId(String),
    /// The article could not be edited (Path prepended).
    #[error("Malformed headers: {0}")]
    Malformed(String),
}

impl Refusal {
    /// Whether the id should be remembered as rejected: yes for content reasons, no when the
    /// same id could be fine later (dated in the future) or the bytes are not that id's
    /// article (id mismatch, bad command id).
    #[must_use]
    pub fn remember(&self) -> bool {
        !matches!(
            self,
            Self::IdMismatch { .. } | Self::TooNew { .. } | Self::BadCommandId(_)
        )
    }
}

/// The decision table.
///
/// `checks` is `None` at the offer stage (IHAVE before the article, CHECK) and the result of
/// [`examine`] once the article was received (IHAVE after 335, TAKETHIS). CHECK ignores
/// `checks`; TAKETHIS with `None` is treated as received with no refusal.
///
/// | verb | history | in flight elsewhere | checks | reply |
/// |---|---|---|---|---|
/// | IHAVE | present or rejected | - | offer | 435 refuse |
/// | IHAVE | unknown | yes | offer | 436 defer |
/// | IHAVE | unknown | no | offer | 335 send |
/// | IHAVE | present or rejected | - | received | 437 refuse |
/// | IHAVE | unknown | - | refusal | 437 reject |
/// | IHAVE | unknown | - | ok | 235 accept (after durability) |
/// | CHECK | present or rejected | - | - | 438 refuse |
/// | CHECK | unknown | yes | - | 431 defer |
/// | CHECK | unknown | no | - | 238 send |
/// | TAKETHIS | present or rejected | - | - | 439 refuse |
/// | TAKETHIS | unknown | yes | - | 439 refuse (the other connection stores it) |
/// | TAKETHIS | unknown | no | refusal | 439 reject |
/// | TAKETHIS | unknown | no | ok | 239 accept (after durability) |
#[must_use]
pub fn decide(
    verb: Verb,
    history: History,
    in_flight_elsewhere: bool,
    checks: Option<&Result<(), Refusal>>,
) -> Verdict {
    let v = |code, outcome| Verdict { code, outcome };
    let known = history != History::Unknown;
    match (verb, checks) {
        (Verb::Check, _) => {
            if known {
                v(ReplyCode::CHECK_NOT_WANTED, Outcome::Refuse)
            } else if in_flight_elsewhere {
                v(ReplyCode::CHECK_LATER, Outcome::Defer)
            } else {
                v(ReplyCode::CHECK_SEND, Outcome::Send)
            }
        }
        (Verb::Ihave, None) => {
            if known {
                v(ReplyCode::ARTICLE_NOT_WANTED, Outcome::Refuse)
            } else if in_flight_elsewhere {
                v(ReplyCode::TRANSFER_NOT_POSSIBLE, Outcome::Defer)
            } else {
                v(ReplyCode::SEND_ARTICLE, Outcome::Send)
            }
        }
        (Verb::Ihave, Some(checks)) => {
            if known {
                v(ReplyCode::TRANSFER_REJECTED, Outcome::Refuse)
            } else {
                match checks {
                    Err(r) => v(
                        ReplyCode::TRANSFER_REJECTED,
                        Outcome::Reject {
                            remember: r.remember(),
                        },
                    ),
                    Ok(()) => v(ReplyCode::TRANSFER_OK, Outcome::Accept),
                }
            }
        }
        (Verb::TakeThis, checks) => {
            if known || in_flight_elsewhere {
                v(ReplyCode::TAKETHIS_REJECTED, Outcome::Refuse)
            } else {
                match checks {
                    Some(Err(r)) => v(
                        ReplyCode::TAKETHIS_REJECTED,
                        Outcome::Reject {
                            remember: r.remember(),
                        },
                    ),
                    Some(Ok(())) | None => v(ReplyCode::TAKETHIS_OK, Outcome::Accept),
                }
            }
        }
    }
}

/// What [`examine`] needs besides the article.
pub struct Context<'a> {
    /// Our Path identity.
    pub pathhost: &'a str,
    /// Now, unix seconds.
    pub now: i64,
    /// The transit settings.
    pub config: &'a TransitConfig,
    /// Whether and how a group is carried here.
    pub carried: &'a dyn Fn(&str) -> Carried,
}

/// How a group is carried here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carried {
    /// Unknown here, or `x` (no articles filed).
    No,
    /// Carried.
    Yes,
    /// Carried and moderated (`m`): articles need an Approved header.
    Moderated,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("pathhost", &self.pathhost)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// Checks a received article (un-stuffed, as the block decoder returns it) offered as
/// `command_id`, and prepares it for the store: our pathhost prepended to Path, any Xref
/// removed, the groups to file it in (the carried ones among Newsgroups, or `junk`), the
/// overview fields. Every other byte is kept as received.
///
/// # Errors
/// The first [`Refusal`] found, checked in this order: header block syntax, message-id
/// mismatch, NUL, bare LF followed by `.`, headers (the transit validator), loop, age,
/// future date, newsgroups.
/// The mismatch comes before every refusal that is remembered (except a header block that
/// cannot be parsed, where there is no Message-ID to compare): bytes that are not the
/// offered id's article must never get that id remembered as rejected.
pub fn examine(
    article: Vec<u8>,
    command_id: &str,
    cx: &Context<'_>,
) -> Result<OwnedArticle, Refusal> {
    let h = Headers::parse(&article).map_err(|e| Refusal::Invalid(e.into()))?;
    let header_id = lossy(tidings_article::headers::trim_ws(
        &h.get_unfolded("Message-ID").unwrap_or_default(),
    ));
    if header_id != command_id {
        let header = if header_id.is_empty() {
            "(none)".to_owned()
        } else {
            header_id
        };
        return Err(Refusal::IdMismatch {
            command: command_id.to_owned(),
            header,
        });
    }
    if memchr::memchr(0, &article).is_some() {
        return Err(Refusal::Nul);
    }
    if let Some(at) = tidings_article::bare_lf_dot(&article) {
        return Err(Refusal::BareLfDot(at));
    }
    tidings_article::validate_transit(&h).map_err(Refusal::Invalid)?;
    let path_value = h.get_unfolded("Path").unwrap_or_default().into_owned();
    let path = tidings_article::Path::parse(&path_value)
        .map_err(|e| Refusal::Malformed(format!("Bad Path: {e}")))?;
    if path.contains(cx.pathhost) {
        return Err(Refusal::Loop(cx.pathhost.to_owned()));
    }
    let date = h
        .get("Date")
        .and_then(|d| parse_date(d).ok())
        .unwrap_or(cx.now);
    let age = cx.now.saturating_sub(date);
    let max_age = i64::try_from(cx.config.max_age_days.saturating_mul(86_400)).unwrap_or(i64::MAX);
    if cx.config.max_age_days > 0 && age > max_age {
        return Err(Refusal::TooOld {
            days: age / 86_400,
            limit: cx.config.max_age_days,
        });
    }
    let ahead = date.saturating_sub(cx.now);
    if ahead > i64::try_from(cx.config.max_future_secs).unwrap_or(i64::MAX) {
        return Err(Refusal::TooNew {
            secs: ahead,
            limit: cx.config.max_future_secs,
        });
    }
    let ng = h.get_unfolded("Newsgroups").unwrap_or_default();
    let groups = parse_newsgroups(&ng).map_err(|e| Refusal::Malformed(e.to_string()))?;
    let approved = h.contains("Approved");
    let mut file_in: Vec<String> = Vec::with_capacity(groups.len());
    for g in groups.iter().map(|g| g.as_str()) {
        match (cx.carried)(g) {
            Carried::No => {}
            Carried::Yes => file_in.push(g.to_owned()),
            Carried::Moderated if approved => file_in.push(g.to_owned()),
            Carried::Moderated => return Err(Refusal::Unapproved(g.to_owned())),
        }
    }
    if file_in.is_empty() {
        match cx.config.unknown_groups {
            UnknownGroups::Junk => file_in.push("junk".to_owned()),
            UnknownGroups::Refuse => {
                return Err(Refusal::UnwantedGroups(lossy(
                    tidings_article::headers::trim_ws(&ng),
                )));
            }
        }
    }
    let expires = h.get("Expires").and_then(|v| parse_date(v).ok());
    // The overview fields are the same before and after the Path and Xref edits (so is the
    // body, whose lines it counts): take them from this parse.
    let ov = Overview::from_headers(&h);
    let new_path = tidings_article::path::prepend_path(&path_value, cx.pathhost);
    let edits = store_edits(&h, &new_path);
    drop(h);
    let mut bytes = article;
    match edits {
        Some((edits, field)) => apply_edits(&mut bytes, &edits, &field),
        None => {
            // Corner cases (no Path field, a field without a line end, a value with a line
            // break): the general editors, which re-parse.
            let edit = |e: tidings_article::EditError| Refusal::Malformed(e.to_string());
            bytes = tidings_article::set_header(&bytes, "Path", &new_path).map_err(edit)?;
            bytes = tidings_article::remove_header(&bytes, "Xref").map_err(edit)?;
        }
    }
    Ok(OwnedArticle {
        message_id: header_id,
        groups: file_in,
        arrival: cx.now,
        expires,
        // Overview text as it came: 8-bit (Latin-1, raw UTF-8, broken) bytes are kept.
        subject: ov.subject,
        from: ov.from,
        date: ov.date,
        references: ov.references,
        lines: ov.lines,
        bytes,
        ..OwnedArticle::default()
    })
}

/// One edit of the stored form: a field's raw range (name to line end) and whether it is
/// replaced by the new Path field (else removed).
type Edit = (std::ops::Range<usize>, bool);

/// The edits that turn a received article into its stored form, in article order: the first
/// Path field replaced by `Path: <new_path>`, any other Path field and every Xref field
/// removed, as [`tidings_article::set_header`] then [`tidings_article::remove_header`] would;
/// and the new field, with the line end those editors would use (the first field's).
/// `None` for the cases they handle specially (no Path field, an edited field without a
/// line end, a value with a line break).
fn store_edits(h: &Headers<'_>, new_path: &[u8]) -> Option<(Vec<Edit>, Vec<u8>)> {
    if new_path.iter().any(|&b| b == b'\r' || b == b'\n') {
        return None;
    }
    let mut edits: Vec<Edit> = Vec::with_capacity(2);
    let mut path_seen = false;
    for (i, f) in h.iter().enumerate() {
        let is_path = f.name_is("Path");
        if !is_path && !f.name_is("Xref") {
            continue;
        }
        if !f.raw().ends_with(b"\n") {
            return None;
        }
        let replace = is_path && !path_seen;
        path_seen |= is_path;
        edits.push((h.raw_range(i)?, replace));
    }
    if !path_seen {
        return None;
    }
    let eol: &[u8] = match h.field_at(0).map(|f| f.raw()) {
        Some(raw) if raw.ends_with(b"\n") && !raw.ends_with(b"\r\n") => b"\n",
        _ => b"\r\n",
    };
    let mut field = Vec::with_capacity(new_path.len() + 8);
    field.extend_from_slice(b"Path: ");
    field.extend_from_slice(new_path);
    field.extend_from_slice(eol);
    Some((edits, field))
}

/// Applies [`store_edits`] in place, last first (so earlier ranges stay valid): no copy of
/// the article beyond moving its tail.
fn apply_edits(bytes: &mut Vec<u8>, edits: &[Edit], field: &[u8]) {
    for (range, replace) in edits.iter().rev() {
        if *replace {
            bytes.splice(range.clone(), field.iter().copied());
        } else {
            bytes.drain(range.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn art(path: &str, id: &str, groups: &str, date: &str) -> Vec<u8> {
        format!(
            "Path: {path}\r\nFrom: a@example.org\r\nNewsgroups: {groups}\r\nSubject: s\r\n\
             Date: {date}\r\nMessage-ID: {id}\r\nXref: peer misc.test:5\r\n\r\nbody\r\n"
        )
        .into_bytes()
    }

    fn run(a: Vec<u8>, id: &str, cfg: &TransitConfig) -> Result<OwnedArticle, Refusal> {
        let carried = |g: &str| match g {
            "misc.test" | "junk" => Carried::Yes,
            "mod.test" => Carried::Moderated,
            _ => Carried::No,
        };
        let cx = Context {
            pathhost: "me.example",
            now: NOW,
            config: cfg,
            carried: &carried,
        };
        examine(a, id, &cx)
    }

    fn now_date() -> String {
        tidings_article::format_date(NOW)
    }

    #[test]
    fn the_table() {
        use History::{Present, Rejected, Unknown};
        use Outcome::{Accept, Defer, Refuse, Reject, Send};
        use Verb::{Check, Ihave, TakeThis};
        let ok: Result<(), Refusal> = Ok(());
        let bad: Result<(), Refusal> = Err(Refusal::Nul);
        let later: Result<(), Refusal> = Err(Refusal::TooNew { secs: 1, limit: 0 });
        type Row<'a> = (
            Verb,
            History,
            bool,
            Option<&'a Result<(), Refusal>>,
            u16,
            Outcome,
        );
        let rows: &[Row<'_>] = &[
            (Ihave, Unknown, false, None, 335, Send),
            (Ihave, Unknown, true, None, 436, Defer),
            (Ihave, Present, false, None, 435, Refuse),
            (Ihave, Rejected, false, None, 435, Refuse),
            (Ihave, Present, true, None, 435, Refuse),
            (Ihave, Unknown, false, Some(&ok), 235, Accept),
            (
                Ihave,
                Unknown,
                false,
                Some(&bad),
                437,
                Reject { remember: true },
            ),
            (
                Ihave,
                Unknown,
                false,
                Some(&later),
                437,
                Reject { remember: false },
            ),
            (Ihave, Present, false, Some(&ok), 437, Refuse),
            (Check, Unknown, false, None, 238, Send),
            (Check, Unknown, true, None, 431, Defer),
            (Check, Present, false, None, 438, Refuse),
            (Check, Rejected, true, None, 438, Refuse),
            (TakeThis, Unknown, false, Some(&ok), 239, Accept),
            (TakeThis, Unknown, false, None, 239, Accept),
            (
                TakeThis,
                Unknown,
                false,
                Some(&bad),
                439,
                Reject { remember: true },
            ),
            (TakeThis, Unknown, true, Some(&ok), 439, Refuse),
            (TakeThis, Present, false, Some(&ok), 439, Refuse),
            (TakeThis, Rejected, false, Some(&ok), 439, Refuse),
        ];
        for (i, &(verb, hist, wip, checks, code, outcome)) in rows.iter().enumerate() {
            let v = decide(verb, hist, wip, checks);
            assert_eq!((v.code.get(), v.outcome), (code, outcome), "row {i}");
        }
    }

    #[test]
    fn accepted_article_is_prepared() {
        let cfg = TransitConfig::default();
        let a = art("peer.example!x", "<1@x>", "misc.test,alt.nope", &now_date());
        let o = run(a.clone(), "<1@x>", &cfg).unwrap();
        assert_eq!(o.groups, ["misc.test"]);
        assert_eq!(o.message_id, "<1@x>");
        let expected = String::from_utf8(a)
            .unwrap()
            .replace("Path: peer.example!x", "Path: me.example!peer.example!x")
            .replace("Xref: peer misc.test:5\r\n", "");
        assert_eq!(String::from_utf8(o.bytes).unwrap(), expected);
    }

    #[test]
    fn refusals() {
        let cfg = TransitConfig::default();
        let d = now_date();
        let mut nul = art("p!x", "<1@x>", "misc.test", &d);
        nul.extend_from_slice(b"a\0b\r\n");
        assert_eq!(run(nul, "<1@x>", &cfg), Err(Refusal::Nul));
        let mut lf_dot = art("p!x", "<1@x>", "misc.test", &d);
        let at = lf_dot.len() + 1;
        lf_dot.extend_from_slice(b"a\n.\r\nmore\r\n");
        let e = run(lf_dot, "<1@x>", &cfg).unwrap_err();
        assert_eq!(e, Refusal::BareLfDot(at));
        assert!(e.remember());
        assert_eq!(
            decide(
                Verb::TakeThis,
                History::Unknown,
                false,
                Some(&Err(e.clone()))
            ),
            Verdict {
                code: ReplyCode::TAKETHIS_REJECTED,
                outcome: Outcome::Reject { remember: true }
            }
        );
        assert_eq!(
            decide(Verb::Ihave, History::Unknown, false, Some(&Err(e))).code,
            ReplyCode::TRANSFER_REJECTED
        );
        // A moderated group carried here needs Approved (INN: "Unapproved for").
        let e = run(art("p!x", "<1@x>", "misc.test,mod.test", &d), "<1@x>", &cfg).unwrap_err();
        assert_eq!(e, Refusal::Unapproved("mod.test".into()));
        assert!(e.remember());
        let mut approved = b"Approved: mod@example.org\r\n".to_vec();
        approved.extend_from_slice(&art("p!x", "<1@x>", "misc.test,mod.test", &d));
        assert_eq!(
            run(approved, "<1@x>", &cfg).unwrap().groups,
            ["misc.test", "mod.test"]
        );
        // A bare LF elsewhere and a dot line after CRLF are fine.
        let mut fine = art("p!x", "<1@x>", "misc.test", &d);
        fine.extend_from_slice(b"bare\nlf\r\n.dot\r\n..\r\n");
        assert!(run(fine, "<1@x>", &cfg).is_ok());
        let e = run(
            art("p!me.example!x", "<1@x>", "misc.test", &d),
            "<1@x>",
            &cfg,
        );
        assert_eq!(e, Err(Refusal::Loop("me.example".into())));
        let e = run(art("p!x", "<1@x>", "misc.test", &d), "<2@x>", &cfg).unwrap_err();
        assert!(matches!(e, Refusal::IdMismatch { .. }) && !e.remember());
        let old = tidings_article::format_date(NOW - 11 * 86_400);
        let e = run(art("p!x", "<1@x>", "misc.test", &old), "<1@x>", &cfg).unwrap_err();
        assert_eq!(
            e,
            Refusal::TooOld {
                days: 11,
                limit: 10
            }
        );
        let new = tidings_article::format_date(NOW + 2 * 86_400);
        let e = run(art("p!x", "<1@x>", "misc.test", &new), "<1@x>", &cfg).unwrap_err();
        assert!(matches!(e, Refusal::TooNew { .. }) && !e.remember());
        let e = run(art("p!x", "<1@x>", "alt.nope", &d), "<1@x>", &cfg).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Unwanted newsgroups: alt.nope (none carried here)"
        );
        let e = run(
            b"Subject: x\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n".to_vec(),
            "<1@x>",
            &cfg,
        )
        .unwrap_err();
        assert!(e.to_string().contains("Missing required header"), "{e}");
        // Not the offered id's article: the mismatch wins over the content refusals, so
        // the offered id is not remembered.
        let mut nul = art("p!x", "<1@x>", "misc.test", &d);
        nul.extend_from_slice(b"a\0b\r\n");
        let e = run(nul, "<2@x>", &cfg).unwrap_err();
        assert!(
            matches!(e, Refusal::IdMismatch { .. }) && !e.remember(),
            "{e}"
        );
        let e = run(b"Subject: x\r\n\r\nbody\r\n".to_vec(), "<1@x>", &cfg).unwrap_err();
        assert!(
            matches!(e, Refusal::IdMismatch { .. }) && !e.remember(),
            "{e}"
        );
        // Unknown groups filed in junk when configured; the age check can be turned off.
        let cfg = TransitConfig {
            unknown_groups: UnknownGroups::Junk,
            max_age_days: 0,
            ..TransitConfig::default()
        };
        let o = run(art("p!x", "<1@x>", "alt.nope", &old), "<1@x>", &cfg).unwrap();
        assert_eq!(o.groups, ["junk"]);
    }

    #[test]
    fn transit_config_bounds() {
        let d = TransitConfig::default();
        assert_eq!(d.max_pending_bytes, 64 << 20);
        assert!(d.problems().is_empty(), "{:?}", d.problems());
        let small = TransitConfig {
            max_pending_bytes: 999_999,
            ..TransitConfig::default()
        };
        let keys: Vec<String> = small.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["max_pending_bytes"]);
        let equal = TransitConfig {
            max_pending_bytes: 1_000_000,
            ..TransitConfig::default()
        };
        assert!(equal.problems().is_empty());
        // The upper bound is the store's own limit.
        assert_eq!(
            MAX_ARTICLE_LIMIT,
            tidings_store::Config::default().max_article
        );
        let big = TransitConfig {
            max_article: MAX_ARTICLE_LIMIT + 1,
            max_pending_bytes: usize::MAX,
            ..TransitConfig::default()
        };
        let keys: Vec<String> = big.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["max_article"]);
    }

    /// The in-place edits give what the general editors give.
    #[test]
    fn store_form_matches_the_editors() {
        let cfg = TransitConfig::default();
        let d = now_date();
        let cases = [
            format!(
                "Path: a!b\r\nXref: p misc.test:1\r\nNewsgroups: misc.test\r\nFrom: f@x\r\nSubject: s\r\nDate: {d}\r\nMessage-ID: <1@x>\r\nxref: q misc.test:2\r\n\r\nXref: body\r\n"
            ),
            format!(
                "From: f@x\r\nPath:  a!b \r\nNewsgroups: misc.test\r\nSubject: s\r\nDate: {d}\r\nMessage-ID: <1@x>\r\nPATH: c!d\r\n\r\n"
            ),
            format!(
                "Path: a!b\nNewsgroups: misc.test\nFrom: f@x\nSubject: s\nDate: {d}\nMessage-ID: <1@x>\n\nbody\n"
            ),
            format!(
                "Path: a\r\n !b\r\nNewsgroups: misc.test\r\nFrom: f@x\r\nSubject: s\r\nDate: {d}\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n"
            ),
        ];
        let mut ran = 0;
        for a in cases {
            let a = a.into_bytes();
            let Ok(o) = run(a.clone(), "<1@x>", &cfg) else {
                continue;
            };
            let h = Headers::parse(&a).unwrap();
            let path =
                tidings_article::path::prepend_path(&h.get_unfolded("Path").unwrap(), "me.example");
            let want = tidings_article::set_header(&a, "Path", &path).unwrap();
            let want = tidings_article::remove_header(&want, "Xref").unwrap();
            assert_eq!(
                String::from_utf8_lossy(&o.bytes),
                String::from_utf8_lossy(&want)
            );
            let ov = Overview::from_article(&want).unwrap();
            assert_eq!(
                (o.subject.as_slice(), o.lines),
                (ov.subject.as_slice(), ov.lines)
            );
            ran += 1;
        }
        assert!(ran >= 2, "only {ran} cases were accepted");
    }
}
