//! Typed NNTP commands: parsing a command line and encoding it back.
//!
//! Parsing is driven by the declarative table in [`crate::table`]: the table
//! entry found from the keyword(s) gives the argument counts and the builder
//! that turns the arguments into a [`Command`]. Keywords are
//! case-insensitive; arguments keep their case. [`Command::encode`] writes
//! the canonical line, and `parse(encode(cmd)) == cmd` for every valid
//! command.

use std::fmt::Write as _;

use thiserror::Error;

use crate::line::LineError;
use crate::reply::ReplyCode;
use crate::table::{self, CommandSpec};

/// Largest article number accepted (2^63 − 1, so it also fits an `i64`).
pub const MAX_ARTICLE_NUMBER: u64 = i64::MAX as u64;

/// Longest message-id accepted on a command line, brackets included
/// (RFC 3977 §3.6).
pub const MAX_MESSAGE_ID_LEN: usize = 250;

/// Why a command line could not be turned into a [`Command`].
///
/// [`ParseError::reply_code`] is the single place mapping each error to the
/// reply the server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The line is empty or blank.
    #[error("empty command line")]
    Empty,
    /// The keyword is not a known command.
    #[error("unknown command")]
    UnknownCommand,
    /// A known command with a wrong number of arguments.
    #[error("wrong number of arguments for {0}")]
    ArgumentCount(&'static str),
    /// A known command with a malformed argument.
    #[error("invalid {0}")]
    BadArgument(&'static str),
    /// A sub-keyword (of LIST, MODE, AUTHINFO) that is not recognised.
    #[error("unknown keyword for {0}")]
    UnknownKeyword(&'static str),
    /// Arguments that are not valid UTF-8.
    #[error("arguments are not valid UTF-8")]
    NotUtf8,
    /// The line was longer than the command-line limit.
    #[error("command line too long")]
    LineTooLong,
    /// The line contained a NUL octet.
    #[error("NUL octet in command line")]
    Nul,
}

impl ParseError {
    /// The reply code the server answers this error with.
    #[must_use]
    pub fn reply_code(&self) -> ReplyCode {
        match self {
            Self::Empty | Self::UnknownCommand => ReplyCode::UNKNOWN_COMMAND,
            Self::ArgumentCount(_)
            | Self::BadArgument(_)
            | Self::UnknownKeyword(_)
            | Self::NotUtf8
            | Self::LineTooLong
            | Self::Nul => ReplyCode::SYNTAX_ERROR,
        }
    }
}

impl From<LineError> for ParseError {
    fn from(e: LineError) -> Self {
        match e {
            LineError::Nul { .. } => Self::Nul,
            LineError::TooLong { .. } | LineError::Discarding { .. } => Self::LineTooLong,
        }
    }
}

/// A message-id as allowed on a command line (RFC 3977 §3.6): `<`, one or
/// more printable US-ASCII characters other than `>`, `>`; at most 250
/// octets in all. Case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    /// Validate a message-id.
    ///
    /// # Errors
    /// [`ParseError::BadArgument`] if it does not follow RFC 3977 §3.6.
    pub fn new(s: &str) -> Result<Self, ParseError> {
        let bytes = s.as_bytes();
        let ok = bytes.len() >= 3
            && bytes.len() <= MAX_MESSAGE_ID_LEN
            && bytes.first() == Some(&b'<')
            && bytes.last() == Some(&b'>')
            && bytes.get(1..bytes.len() - 1).is_some_and(|inner| {
                inner
                    .iter()
                    .all(|&b| (0x21..=0x7e).contains(&b) && b != b'>')
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError::BadArgument("message-id"))
        }
    }

    /// The message-id, brackets included.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An article-number range argument (RFC 3977 §3.2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArticleRange {
    /// `n`: just that article.
    Single(u64),
    /// `n-`: article `n` and all later ones.
    From(u64),
    /// `n-m`: articles `n` to `m` inclusive (empty if `m < n`).
    Between(u64, u64),
}

impl ArticleRange {
    /// Parse `n`, `n-` or `n-m`.
    ///
    /// # Errors
    /// [`ParseError::BadArgument`] for anything else or numbers above
    /// [`MAX_ARTICLE_NUMBER`].
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s.split_once('-') {
            None => Ok(Self::Single(parse_number(s)?)),
            Some((a, "")) => Ok(Self::From(parse_number(a)?)),
            Some((a, b)) => Ok(Self::Between(parse_number(a)?, parse_number(b)?)),
        }
    }

    /// Whether article number `n` is in the range.
    #[must_use]
    pub fn contains(&self, n: u64) -> bool {
        match *self {
            Self::Single(a) => n == a,
            Self::From(a) => n >= a,
            Self::Between(a, b) => a <= n && n <= b,
        }
    }

    fn write(&self, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = match *self {
            Self::Single(a) => write!(out, "{a}"),
            Self::From(a) => write!(out, "{a}-"),
            Self::Between(a, b) => write!(out, "{a}-{b}"),
        };
    }
}

/// Parse an article number: ASCII digits, at most [`MAX_ARTICLE_NUMBER`].
///
/// # Errors
/// [`ParseError::BadArgument`] otherwise.
pub fn parse_number(s: &str) -> Result<u64, ParseError> {
    const BAD: ParseError = ParseError::BadArgument("article number");
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BAD);
    }
    let mut n: u64 = 0;
    for b in s.bytes() {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(BAD)?;
    }
    if n > MAX_ARTICLE_NUMBER {
        return Err(BAD);
    }
    Ok(n)
}

/// An article designated by number or by message-id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ArticleRef {
    /// An article number in the selected group.
    Number(u64),
    /// A message-id.
    MessageId(MessageId),
}

impl ArticleRef {
    fn parse(s: &str) -> Result<Self, ParseError> {
        if s.starts_with('<') {
            Ok(Self::MessageId(MessageId::new(s)?))
        } else {
            Ok(Self::Number(parse_number(s)?))
        }
    }
}

/// A range or a message-id (OVER, HDR, XHDR, XPAT).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RangeOrId {
    /// An article-number range.
    Range(ArticleRange),
    /// A message-id.
    MessageId(MessageId),
}

impl RangeOrId {
    fn parse(s: &str) -> Result<Self, ParseError> {
        if s.starts_with('<') {
            Ok(Self::MessageId(MessageId::new(s)?))
        } else {
            Ok(Self::Range(ArticleRange::parse(s)?))
        }
    }

    fn write(&self, out: &mut String) {
        match self {
            Self::Range(r) => r.write(out),
            Self::MessageId(m) => out.push_str(m.as_str()),
        }
    }
}

/// The date and time arguments of NEWGROUPS and NEWNEWS (RFC 3977 §7.3):
/// `yymmdd` or `yyyymmdd`, `hhmmss`, optional `GMT`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewsDateTime {
    date: String,
    time: String,
    /// Whether `GMT` was given (otherwise the time is server-local).
    pub gmt: bool,
}

fn two(d: &[u8], i: usize) -> u32 {
    let hi = d.get(i).map_or(0, |b| u32::from(b - b'0'));
    let lo = d.get(i + 1).map_or(0, |b| u32::from(b - b'0'));
    hi * 10 + lo
}

impl NewsDateTime {
    /// Validate the date (6 or 8 digits) and time (6 digits) arguments.
    ///
    /// # Errors
    /// [`ParseError::BadArgument`] if malformed or out of range.
    pub fn new(date: &str, time: &str, gmt: bool) -> Result<Self, ParseError> {
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if !(date.len() == 6 || date.len() == 8) || !digits(date) {
            return Err(ParseError::BadArgument("date"));
        }
        if time.len() != 6 || !digits(time) {
            return Err(ParseError::BadArgument("time"));
        }
        let d = date.as_bytes();
        let md = date.len() - 4;
        let (month, day) = (two(d, md), two(d, md + 2));
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return Err(ParseError::BadArgument("date"));
        }
        let t = time.as_bytes();
        if two(t, 0) > 23 || two(t, 2) > 59 || two(t, 4) > 60 {
            return Err(ParseError::BadArgument("time"));
        }
        Ok(Self {
            date: date.to_owned(),
            time: time.to_owned(),
            gmt,
        })
    }

    /// The date argument as given (6 or 8 digits).
    #[must_use]
    pub fn date(&self) -> &str {
        &self.date
    }

    /// The time argument as given (6 digits).
    #[must_use]
    pub fn time(&self) -> &str {
        &self.time
    }

    /// `(year, month, day, hour, minute, second)`. A two-digit year `yy` is
    /// in the current century if it is not greater than the last two digits of
    /// `current_year`, else in the previous one (RFC 3977 §7.3.2); the caller
    /// supplies the year since this crate has no clock.
    #[must_use]
    pub fn fields(&self, current_year: u32) -> (u32, u32, u32, u32, u32, u32) {
        let d = self.date.as_bytes();
        let year = if d.len() == 8 {
            two(d, 0) * 100 + two(d, 2)
        } else {
            let yy = two(d, 0);
            let century = current_year / 100 * 100;
            if yy <= current_year % 100 {
                century + yy
            } else {
                century.saturating_sub(100) + yy
            }
        };
        let md = d.len() - 4;
        let t = self.time.as_bytes();
        (
            year,
            two(d, md),
            two(d, md + 2),
            two(t, 0),
            two(t, 2),
            two(t, 4),
        )
    }

    fn write(&self, out: &mut String) {
        out.push_str(&self.date);
        out.push(' ');
        out.push_str(&self.time);
        if self.gmt {
            out.push_str(" GMT");
        }
    }
}

/// Argument form of LIST HEADERS (RFC 3977 §8.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeadersForm {
    /// `LIST HEADERS MSGID`: fields usable with HDR and a message-id.
    MsgId,
    /// `LIST HEADERS RANGE`: fields usable with HDR and a range.
    Range,
}

/// The LIST variants (RFC 3977 §7.6, RFC 6048).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListKind {
    /// `LIST ACTIVE [wildmat]` (also plain `LIST`).
    Active(Option<String>),
    /// `LIST ACTIVE.TIMES [wildmat]`.
    ActiveTimes(Option<String>),
    /// `LIST NEWSGROUPS [wildmat]`.
    Newsgroups(Option<String>),
    /// `LIST OVERVIEW.FMT`.
    OverviewFmt,
    /// `LIST HEADERS [MSGID|RANGE]`.
    Headers(Option<HeadersForm>),
    /// `LIST DISTRIB.PATS`.
    DistribPats,
    /// `LIST DISTRIBUTIONS` (RFC 6048).
    Distributions,
    /// `LIST SUBSCRIPTIONS [wildmat]` (RFC 6048).
    Subscriptions(Option<String>),
    /// `LIST COUNTS [wildmat]` (RFC 6048).
    Counts(Option<String>),
    /// `LIST MODERATORS` (RFC 6048).
    Moderators,
    /// `LIST MOTD` (RFC 6048).
    Motd,
}

impl ListKind {
    /// The LIST keyword in canonical (upper) case.
    #[must_use]
    pub fn keyword(&self) -> &'static str {
        match self {
            Self::Active(_) => "ACTIVE",
            Self::ActiveTimes(_) => "ACTIVE.TIMES",
            Self::Newsgroups(_) => "NEWSGROUPS",
            Self::OverviewFmt => "OVERVIEW.FMT",
            Self::Headers(_) => "HEADERS",
            Self::DistribPats => "DISTRIB.PATS",
            Self::Distributions => "DISTRIBUTIONS",
            Self::Subscriptions(_) => "SUBSCRIPTIONS",
            Self::Counts(_) => "COUNTS",
            Self::Moderators => "MODERATORS",
            Self::Motd => "MOTD",
        }
    }
}

/// A parsed NNTP command.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    /// `CAPABILITIES [keyword]` (RFC 3977 §5.2); keyword upper-cased.
    Capabilities(Option<String>),
    /// `MODE READER` (RFC 3977 §5.3).
    ModeReader,
    /// `MODE STREAM` (RFC 4644 §2.3).
    ModeStream,
    /// `QUIT`.
    Quit,
    /// `GROUP group`.
    Group(String),
    /// `LISTGROUP [group [range]]`.
    ListGroup(Option<(String, Option<ArticleRange>)>),
    /// `LAST`.
    Last,
    /// `NEXT`.
    Next,
    /// `ARTICLE [msgid|number]`.
    Article(Option<ArticleRef>),
    /// `HEAD [msgid|number]`.
    Head(Option<ArticleRef>),
    /// `BODY [msgid|number]`.
    Body(Option<ArticleRef>),
    /// `STAT [msgid|number]`.
    Stat(Option<ArticleRef>),
    /// `POST`.
    Post,
    /// `IHAVE msgid`.
    Ihave(MessageId),
    /// `DATE`.
    Date,
    /// `HELP`.
    Help,
    /// `NEWGROUPS date time [GMT]`.
    NewGroups(NewsDateTime),
    /// `NEWNEWS wildmat date time [GMT]`.
    NewNews {
        /// Newsgroups to look in.
        wildmat: String,
        /// Articles received since then.
        since: NewsDateTime,
    },
    /// `LIST [keyword [argument]]`.
    List(ListKind),
    /// `OVER [range|msgid]`.
    Over(Option<RangeOrId>),
    /// `HDR field [range|msgid]`.
    Hdr {
        /// Header name or `:metadata` item, case kept.
        field: String,
        /// The articles; `None` means the current article.
        target: Option<RangeOrId>,
    },
    /// `STARTTLS` (RFC 4642).
    StartTls,
    /// `AUTHINFO USER username` (RFC 4643); the rest of the line.
    AuthinfoUser(String),
    /// `AUTHINFO PASS password` (RFC 4643); the rest of the line.
    AuthinfoPass(String),
    /// `AUTHINFO SASL mechanism [initial-response]` (RFC 4643).
    AuthinfoSasl {
        /// SASL mechanism name, upper-cased.
        mechanism: String,
        /// Base64 initial response (or `=` for an empty one), as given.
        initial: Option<String>,
    },
    /// `CHECK msgid` (RFC 4644).
    Check(MessageId),
    /// `TAKETHIS msgid` (RFC 4644).
    TakeThis(MessageId),
    /// `COMPRESS algorithm` (RFC 8054); algorithm upper-cased. Only
    /// `DEFLATE` is defined; the server answers others with 503.
    Compress(String),
    /// `XOVER [range]` (RFC 2980).
    XOver(Option<ArticleRange>),
    /// `XHDR header [range|msgid]` (RFC 2980).
    XHdr {
        /// Header name, case kept.
        field: String,
        /// The articles; `None` means the current article.
        target: Option<RangeOrId>,
    },
    /// `XPAT header range|msgid pattern...` (RFC 2980).
    XPat {
        /// Header name, case kept.
        field: String,
        /// The articles.
        target: RangeOrId,
        /// One or more wildmat patterns.
        patterns: Vec<String>,
    },
    /// `XGTITLE [wildmat]` (RFC 2980).
    XGTitle(Option<String>),
}

/// The kind of a command, without its arguments. The client side records
/// these to know how to read each pending reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum CommandKind {
    Capabilities,
    ModeReader,
    ModeStream,
    Quit,
    Group,
    ListGroup,
    Last,
    Next,
    Article,
    Head,
    Body,
    Stat,
    Post,
    Ihave,
    Date,
    Help,
    NewGroups,
    NewNews,
    List,
    Over,
    Hdr,
    StartTls,
    AuthinfoUser,
    AuthinfoPass,
    AuthinfoSasl,
    Check,
    TakeThis,
    Compress,
    XOver,
    XHdr,
    XPat,
    XGTitle,
}

/// The arguments of a command line after its keyword(s), handed to the
/// table's builders.
#[derive(Debug, Clone, Copy)]
pub struct Args<'a> {
    tokens: &'a [&'a str],
    rest: &'a str,
}

impl<'a> Args<'a> {
    /// Number of whitespace-separated arguments.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether there are no arguments.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Argument `i`, if present.
    #[must_use]
    pub fn get(&self, i: usize) -> Option<&'a str> {
        self.tokens.get(i).copied()
    }

    /// All arguments.
    #[must_use]
    pub fn all(&self) -> &'a [&'a str] {
        self.tokens
    }

    /// The raw text from the first argument to the end of the line.
    #[must_use]
    pub fn rest(&self) -> &'a str {
        self.rest
    }
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Split into whitespace-separated tokens, with their start offsets.
fn tokenize(line: &[u8]) -> Vec<(usize, &[u8])> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        while line.get(i).is_some_and(|&b| is_ws(b)) {
            i += 1;
        }
        let start = i;
        while line.get(i).is_some_and(|&b| !is_ws(b)) {
            i += 1;
        }
        if let Some(tok) = line.get(start..i).filter(|t| !t.is_empty()) {
            out.push((start, tok));
        }
    }
    out
}

/// Parse one command line (without its CRLF).
///
/// # Errors
/// [`ParseError`]: [`ParseError::UnknownCommand`] / [`ParseError::Empty`]
/// map to 500, everything else to 501 (see [`ParseError::reply_code`]).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    if memchr::memchr(0, line).is_some() {
        return Err(ParseError::Nul);
    }
    let toks = tokenize(line);
    let Some(&(_, keyword)) = toks.first() else {
        return Err(ParseError::Empty);
    };
    let sub = toks.get(1).map(|&(_, t)| t);
    let (spec, used) = table::lookup(keyword, sub)?;
    let arg_toks = toks.get(used..).unwrap_or_default();
    let rest_start = arg_toks.first().map_or(line.len(), |&(s, _)| s);
    let rest = std::str::from_utf8(line.get(rest_start..).unwrap_or_default())
        .map_err(|_| ParseError::NotUtf8)?;
    let mut strs = Vec::with_capacity(arg_toks.len());
    for &(_, t) in arg_toks {
        strs.push(std::str::from_utf8(t).map_err(|_| ParseError::NotUtf8)?);
    }
    check_counts(spec, strs.len())?;
    (spec.build)(&Args {
        tokens: &strs,
        rest,
    })
}

fn check_counts(spec: &CommandSpec, n: usize) -> Result<(), ParseError> {
    if n < spec.min_args || n > spec.max_args {
        Err(ParseError::ArgumentCount(spec.name))
    } else {
        Ok(())
    }
}

// ---- argument validators, used by the table's builders ----

/// Validate a newsgroup name (RFC 3977 §4.1, `wildmat-exact` characters).
///
/// # Errors
/// [`ParseError::BadArgument`] if empty or containing a forbidden character.
pub fn newsgroup(s: &str) -> Result<String, ParseError> {
    let ok = !s.is_empty()
        && s.bytes().all(|b| {
            !b.is_ascii()
                || matches!(b, 0x22..=0x29 | 0x2b | 0x2d..=0x3e | 0x40..=0x5a | 0x5e..=0x7e)
        });
    if ok {
        Ok(s.to_owned())
    } else {
        Err(ParseError::BadArgument("newsgroup name"))
    }
}

/// Validate a wildmat argument: non-empty, no control characters.
///
/// # Errors
/// [`ParseError::BadArgument`] otherwise.
pub fn wildmat(s: &str) -> Result<String, ParseError> {
    if !s.is_empty() && s.bytes().all(|b| b > 0x20 && b != 0x7f) {
        Ok(s.to_owned())
    } else {
        Err(ParseError::BadArgument("wildmat"))
    }
}

/// Validate a keyword-like argument (RFC 3977 §3.1: a letter, then letters,
/// digits, `.`, `-`, `_`) and upper-case it.
///
/// # Errors
/// [`ParseError::BadArgument`] otherwise.
pub fn keyword(s: &str, what: &'static str) -> Result<String, ParseError> {
    let ok = s.len() <= 64
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(s.to_ascii_uppercase())
    } else {
        Err(ParseError::BadArgument(what))
    }
}

/// Validate a header-name argument (printable ASCII; a `:` only as the
/// first character, for metadata items such as `:bytes`).
///
/// # Errors
/// [`ParseError::BadArgument`] otherwise.
pub fn header_field(s: &str) -> Result<String, ParseError> {
    let ok = !s.is_empty()
        && s.bytes().all(|b| (0x21..=0x7e).contains(&b))
        && s.bytes().skip(1).all(|b| b != b':')
        && s != ":";
    if ok {
        Ok(s.to_owned())
    } else {
        Err(ParseError::BadArgument("header name"))
    }
}

/// Validate a base64 SASL response (or `=`).
///
/// # Errors
/// [`ParseError::BadArgument`] otherwise.
pub fn base64_arg(s: &str) -> Result<String, ParseError> {
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(ParseError::BadArgument("base64 argument"))
    }
}

/// Validate the free-text argument of AUTHINFO USER / PASS: the rest of the
/// line, non-empty, no control characters other than TAB.
///
/// # Errors
/// [`ParseError::BadArgument`] otherwise.
pub fn credential(s: &str, what: &'static str) -> Result<String, ParseError> {
    let ok = !s.is_empty()
        && !s.starts_with([' ', '\t'])
        && s.bytes().all(|b| (b >= 0x20 || b == b'\t') && b != 0x7f);
    if ok {
        Ok(s.to_owned())
    } else {
        Err(ParseError::BadArgument(what))
    }
}

pub(crate) fn article_ref(s: Option<&str>) -> Result<Option<ArticleRef>, ParseError> {
    s.map(ArticleRef::parse).transpose()
}

pub(crate) fn range_or_id(s: Option<&str>) -> Result<Option<RangeOrId>, ParseError> {
    s.map(RangeOrId::parse).transpose()
}

pub(crate) fn required_range_or_id(s: Option<&str>) -> Result<RangeOrId, ParseError> {
    RangeOrId::parse(s.ok_or(ParseError::BadArgument("range or message-id"))?)
}

pub(crate) fn message_id(s: Option<&str>) -> Result<MessageId, ParseError> {
    MessageId::new(s.ok_or(ParseError::BadArgument("message-id"))?)
}

pub(crate) fn date_time(a: &Args<'_>, from: usize) -> Result<NewsDateTime, ParseError> {
    let date = a.get(from).ok_or(ParseError::BadArgument("date"))?;
    let time = a.get(from + 1).ok_or(ParseError::BadArgument("time"))?;
    let gmt = match a.get(from + 2) {
        None => false,
        Some(g) if g.eq_ignore_ascii_case("GMT") => true,
        Some(_) => return Err(ParseError::BadArgument("GMT")),
    };
    NewsDateTime::new(date, time, gmt)
}

impl Command {
    /// Parse a command line (without its CRLF). Same as [`parse`].
    ///
    /// # Errors
    /// See [`parse`].
    pub fn parse(line: &[u8]) -> Result<Self, ParseError> {
        parse(line)
    }

    /// The command's kind.
    #[must_use]
    pub fn kind(&self) -> CommandKind {
        use CommandKind as K;
        match self {
            Self::Capabilities(_) => K::Capabilities,
            Self::ModeReader => K::ModeReader,
            Self::ModeStream => K::ModeStream,
            Self::Quit => K::Quit,
            Self::Group(_) => K::Group,
            Self::ListGroup(_) => K::ListGroup,
            Self::Last => K::Last,
            Self::Next => K::Next,
            Self::Article(_) => K::Article,
            Self::Head(_) => K::Head,
            Self::Body(_) => K::Body,
            Self::Stat(_) => K::Stat,
            Self::Post => K::Post,
            Self::Ihave(_) => K::Ihave,
            Self::Date => K::Date,
            Self::Help => K::Help,
            Self::NewGroups(_) => K::NewGroups,
            Self::NewNews { .. } => K::NewNews,
            Self::List(_) => K::List,
            Self::Over(_) => K::Over,
            Self::Hdr { .. } => K::Hdr,
            Self::StartTls => K::StartTls,
            Self::AuthinfoUser(_) => K::AuthinfoUser,
            Self::AuthinfoPass(_) => K::AuthinfoPass,
            Self::AuthinfoSasl { .. } => K::AuthinfoSasl,
            Self::Check(_) => K::Check,
            Self::TakeThis(_) => K::TakeThis,
            Self::Compress(_) => K::Compress,
            Self::XOver(_) => K::XOver,
            Self::XHdr { .. } => K::XHdr,
            Self::XPat { .. } => K::XPat,
            Self::XGTitle(_) => K::XGTitle,
        }
    }

    /// The canonical line without CRLF.
    #[must_use]
    pub fn to_line(&self) -> String {
        let mut s = String::new();
        let arg = |s: &mut String, a: &str| {
            s.push(' ');
            s.push_str(a);
        };
        let art = |s: &mut String, r: &Option<ArticleRef>| match r {
            Some(ArticleRef::Number(n)) => {
                let _ = write!(s, " {n}");
            }
            Some(ArticleRef::MessageId(m)) => {
                s.push(' ');
                s.push_str(m.as_str());
            }
            None => {}
        };
        let opt_roi = |s: &mut String, r: &Option<RangeOrId>| {
            if let Some(r) = r {
                s.push(' ');
                r.write(s);
            }
        };
        match self {
            Self::Capabilities(k) => {
                s.push_str("CAPABILITIES");
                if let Some(k) = k {
                    arg(&mut s, k);
                }
            }
            Self::ModeReader => s.push_str("MODE READER"),
            Self::ModeStream => s.push_str("MODE STREAM"),
            Self::Quit => s.push_str("QUIT"),
            Self::Group(g) => {
                s.push_str("GROUP");
                arg(&mut s, g);
            }
            Self::ListGroup(g) => {
                s.push_str("LISTGROUP");
                if let Some((g, r)) = g {
                    arg(&mut s, g);
                    if let Some(r) = r {
                        s.push(' ');
                        r.write(&mut s);
                    }
                }
            }
            Self::Last => s.push_str("LAST"),
            Self::Next => s.push_str("NEXT"),
            Self::Article(r) => {
                s.push_str("ARTICLE");
                art(&mut s, r);
            }
            Self::Head(r) => {
                s.push_str("HEAD");
                art(&mut s, r);
            }
            Self::Body(r) => {
                s.push_str("BODY");
                art(&mut s, r);
            }
            Self::Stat(r) => {
                s.push_str("STAT");
                art(&mut s, r);
            }
            Self::Post => s.push_str("POST"),
            Self::Ihave(m) => {
                s.push_str("IHAVE");
                arg(&mut s, m.as_str());
            }
            Self::Date => s.push_str("DATE"),
            Self::Help => s.push_str("HELP"),
            Self::NewGroups(dt) => {
                s.push_str("NEWGROUPS ");
                dt.write(&mut s);
            }
            Self::NewNews { wildmat, since } => {
                s.push_str("NEWNEWS");
                arg(&mut s, wildmat);
                s.push(' ');
                since.write(&mut s);
            }
            Self::List(kind) => {
                s.push_str("LIST ");
                s.push_str(kind.keyword());
                match kind {
                    ListKind::Active(w)
                    | ListKind::ActiveTimes(w)
                    | ListKind::Newsgroups(w)
                    | ListKind::Subscriptions(w)
                    | ListKind::Counts(w) => {
                        if let Some(w) = w {
                            arg(&mut s, w);
                        }
                    }
                    ListKind::Headers(Some(HeadersForm::MsgId)) => s.push_str(" MSGID"),
                    ListKind::Headers(Some(HeadersForm::Range)) => s.push_str(" RANGE"),
                    ListKind::Headers(None)
                    | ListKind::OverviewFmt
                    | ListKind::DistribPats
                    | ListKind::Distributions
                    | ListKind::Moderators
                    | ListKind::Motd => {}
                }
            }
            Self::Over(r) => {
                s.push_str("OVER");
                opt_roi(&mut s, r);
            }
            Self::Hdr { field, target } => {
                s.push_str("HDR");
                arg(&mut s, field);
                opt_roi(&mut s, target);
            }
            Self::StartTls => s.push_str("STARTTLS"),
            Self::AuthinfoUser(u) => {
                s.push_str("AUTHINFO USER");
                arg(&mut s, u);
            }
            Self::AuthinfoPass(p) => {
                s.push_str("AUTHINFO PASS");
                arg(&mut s, p);
            }
            Self::AuthinfoSasl { mechanism, initial } => {
                s.push_str("AUTHINFO SASL");
                arg(&mut s, mechanism);
                if let Some(i) = initial {
                    arg(&mut s, i);
                }
            }
            Self::Check(m) => {
                s.push_str("CHECK");
                arg(&mut s, m.as_str());
            }
            Self::TakeThis(m) => {
                s.push_str("TAKETHIS");
                arg(&mut s, m.as_str());
            }
            Self::Compress(a) => {
                s.push_str("COMPRESS");
                arg(&mut s, a);
            }
            Self::XOver(r) => {
                s.push_str("XOVER");
                if let Some(r) = r {
                    s.push(' ');
                    r.write(&mut s);
                }
            }
            Self::XHdr { field, target } => {
                s.push_str("XHDR");
                arg(&mut s, field);
                opt_roi(&mut s, target);
            }
            Self::XPat {
                field,
                target,
                patterns,
            } => {
                s.push_str("XPAT");
                arg(&mut s, field);
                s.push(' ');
                target.write(&mut s);
                for p in patterns {
                    arg(&mut s, p);
                }
            }
            Self::XGTitle(w) => {
                s.push_str("XGTITLE");
                if let Some(w) = w {
                    arg(&mut s, w);
                }
            }
        }
        s
    }

    /// Append the canonical command line, CRLF included, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.to_line().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_line())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids() {
        assert!(MessageId::new("<foo>").is_ok());
        assert!(MessageId::new("<a@b.c>").is_ok());
        assert!(MessageId::new("<>").is_err());
        assert!(MessageId::new("<a>b>").is_err());
        assert!(MessageId::new("<a b>").is_err());
        assert!(MessageId::new("a@b").is_err());
        assert!(MessageId::new("<a\u{e9}>").is_err());
        let long = format!("<{}>", "x".repeat(248));
        assert!(MessageId::new(&long).is_ok());
        let too_long = format!("<{}>", "x".repeat(249));
        assert!(MessageId::new(&too_long).is_err());
    }

    #[test]
    fn numbers_and_ranges() {
        assert_eq!(parse_number("0042"), Ok(42));
        assert_eq!(parse_number("9223372036854775807"), Ok(MAX_ARTICLE_NUMBER));
        assert!(parse_number("9223372036854775808").is_err());
        assert!(parse_number("99999999999999999999999").is_err());
        assert!(parse_number("-1").is_err());
        assert!(parse_number("+1").is_err());
        assert_eq!(ArticleRange::parse("5-"), Ok(ArticleRange::From(5)));
        assert_eq!(ArticleRange::parse("5-3"), Ok(ArticleRange::Between(5, 3)));
        assert!(ArticleRange::parse("-3").is_err());
        assert!(ArticleRange::parse("1-2-3").is_err());
        assert!(ArticleRange::Between(2, 4).contains(3));
        assert!(!ArticleRange::Between(4, 2).contains(3));
    }

    #[test]
    fn dates() {
        let d = NewsDateTime::new("991231", "235959", true).unwrap();
        assert_eq!(d.fields(2025), (1999, 12, 31, 23, 59, 59));
        let year = |yymmdd: &str, current: u32| {
            NewsDateTime::new(yymmdd, "000000", false)
                .unwrap()
                .fields(current)
                .0
        };
        // RFC 3977 §7.3.2: the current century if yy <= the current year's last two
        // digits, else the previous one (not the closest century).
        assert_eq!(year("700101", 2025), 1970);
        assert_eq!(year("250101", 2025), 2025);
        assert_eq!(year("260101", 2025), 1926);
        assert_eq!(year("000101", 2025), 2000);
        assert_eq!(year("990101", 2025), 1999);
        assert_eq!(year("990101", 2099), 2099);
        assert_eq!(year("000101", 2100), 2100);
        assert_eq!(year("010101", 2100), 2001);
        let d = NewsDateTime::new("20250101", "000000", false).unwrap();
        assert_eq!(d.fields(1990).0, 2025);
        assert!(NewsDateTime::new("20251301", "000000", false).is_err());
        assert!(NewsDateTime::new("2025011", "000000", false).is_err());
        assert!(NewsDateTime::new("20250101", "240000", false).is_err());
    }

    #[test]
    fn error_codes() {
        assert_eq!(parse(b"FROB").unwrap_err().reply_code().get(), 500);
        assert_eq!(parse(b"").unwrap_err().reply_code().get(), 500);
        assert_eq!(parse(b"GROUP").unwrap_err().reply_code().get(), 501);
        assert_eq!(parse(b"GROUP \xff").unwrap_err(), ParseError::NotUtf8);
    }

    #[test]
    fn authinfo_pass_keeps_spaces() {
        assert_eq!(
            parse(b"authinfo pass  my secret pw").unwrap(),
            Command::AuthinfoPass("my secret pw".into())
        );
    }
}
