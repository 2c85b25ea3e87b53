//! The declarative command table, and what is derived from it: parse
//! dispatch ([`lookup`]), HELP text ([`help_lines`]) and the CAPABILITIES
//! list ([`capability_lines`]).

use crate::command::{
    self, Args, Command, CommandKind, HeadersForm, ListKind, ParseError, article_ref, date_time,
    message_id, range_or_id, required_range_or_id,
};

/// Which kind of peer a command is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Newsreader commands (RFC 3977 READER capability and friends).
    Reader,
    /// Transit (peering) commands: IHAVE, streaming.
    Transit,
    /// Commands available in either mode (session management).
    Both,
}

/// One row of the command table.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    /// Canonical name, one or two words (`"GROUP"`, `"MODE READER"`, `"LIST ACTIVE"`).
    pub name: &'static str,
    /// The kind of command this row builds.
    pub kind: CommandKind,
    /// Minimum number of arguments after the name.
    pub min_args: usize,
    /// Maximum number of arguments after the name (`usize::MAX`: unbounded).
    pub max_args: usize,
    /// Reader, transit or both.
    pub role: Role,
    /// Whether the command needs authentication by default.
    pub auth_required: bool,
    /// The capability label that advertises the command (`None`: always
    /// available, or a legacy RFC 2980 command without a capability).
    pub capability: Option<&'static str>,
    /// Usage synopsis for HELP.
    pub synopsis: &'static str,
    /// One-line description for HELP.
    pub help: &'static str,
    /// Builds the command from its (already counted) arguments.
    pub build: fn(&Args<'_>) -> Result<Command, ParseError>,
}

const MANY: usize = usize::MAX;

macro_rules! spec {
    ($name:literal, $kind:ident, $min:expr, $max:expr, $role:ident, $auth:literal, $cap:expr,
     $syn:literal, $help:literal, $build:expr) => {
        CommandSpec {
            name: $name,
            kind: CommandKind::$kind,
            min_args: $min,
            max_args: $max,
            role: Role::$role,
            auth_required: $auth,
            capability: $cap,
            synopsis: $syn,
            help: $help,
            build: $build,
        }
    };
}

fn list_wildmat(a: &Args<'_>) -> Result<Option<String>, ParseError> {
    a.get(0).map(command::wildmat).transpose()
}

/// The command table. Order matters only for HELP output.
pub static COMMANDS: &[CommandSpec] = &[
    spec!(
        "CAPABILITIES",
        Capabilities,
        0,
        1,
        Both,
        false,
        None,
        "CAPABILITIES [keyword]",
        "list the server's capabilities",
        |a| Ok(Command::Capabilities(
            a.get(0)
                .map(|k| command::keyword(k, "capability keyword"))
                .transpose()?
        ))
    ),
    spec!(
        "MODE READER",
        ModeReader,
        0,
        0,
        Both,
        false,
        Some("MODE-READER"),
        "MODE READER",
        "switch to reader mode",
        |_| Ok(Command::ModeReader)
    ),
    spec!(
        "MODE STREAM",
        ModeStream,
        0,
        0,
        Transit,
        false,
        Some("STREAMING"),
        "MODE STREAM",
        "switch to streaming transit mode",
        |_| Ok(Command::ModeStream)
    ),
    spec!(
        "QUIT",
        Quit,
        0,
        0,
        Both,
        false,
        None,
        "QUIT",
        "close the connection",
        |_| Ok(Command::Quit)
    ),
    spec!(
        "GROUP",
        Group,
        1,
        1,
        Reader,
        true,
        Some("READER"),
        "GROUP group",
        "select a newsgroup",
        |a| Ok(Command::Group(command::newsgroup(
            a.get(0).unwrap_or_default()
        )?))
    ),
    spec!(
        "LISTGROUP",
        ListGroup,
        0,
        2,
        Reader,
        true,
        Some("READER"),
        "LISTGROUP [group [range]]",
        "select a newsgroup and list its article numbers",
        |a| Ok(Command::ListGroup(match a.get(0) {
            None => None,
            Some(g) => Some((
                command::newsgroup(g)?,
                a.get(1).map(command::ArticleRange::parse).transpose()?
            )),
        }))
    ),
    spec!(
        "LAST",
        Last,
        0,
        0,
        Reader,
        true,
        Some("READER"),
        "LAST",
        "select the previous article",
        |_| Ok(Command::Last)
    ),
    spec!(
        "NEXT",
        Next,
        0,
        0,
        Reader,
        true,
        Some("READER"),
        "NEXT",
        "select the next article",
        |_| Ok(Command::Next)
    ),
    spec!(
        "ARTICLE",
        Article,
        0,
        1,
        Reader,
        true,
        Some("READER"),
        "ARTICLE [message-id|number]",
        "retrieve an article",
        |a| Ok(Command::Article(article_ref(a.get(0))?))
    ),
    spec!(
        "HEAD",
        Head,
        0,
        1,
        Reader,
        true,
        Some("READER"),
        "HEAD [message-id|number]",
        "retrieve an article's headers",
        |a| Ok(Command::Head(article_ref(a.get(0))?))
    ),
    spec!(
        "BODY",
        Body,
        0,
        1,
        Reader,
        true,
        Some("READER"),
        "BODY [message-id|number]",
        "retrieve an article's body",
        |a| Ok(Command::Body(article_ref(a.get(0))?))
    ),
    spec!(
        "STAT",
        Stat,
        0,
        1,
        Reader,
        true,
        Some("READER"),
        "STAT [message-id|number]",
        "check that an article exists",
        |a| Ok(Command::Stat(article_ref(a.get(0))?))
    ),
    spec!(
        "POST",
        Post,
        0,
        0,
        Reader,
        true,
        Some("POST"),
        "POST",
        "post an article",
        |_| Ok(Command::Post)
    ),
    spec!(
        "IHAVE",
        Ihave,
        1,
        1,
        Transit,
        true,
        Some("IHAVE"),
        "IHAVE message-id",
        "offer an article for transfer",
        |a| Ok(Command::Ihave(message_id(a.get(0))?))
    ),
    spec!(
        "DATE",
        Date,
        0,
        0,
        Reader,
        false,
        Some("READER"),
        "DATE",
        "show the server's date and time (UTC)",
        |_| Ok(Command::Date)
    ),
    spec!(
        "HELP",
        Help,
        0,
        0,
        Both,
        false,
        None,
        "HELP",
        "show this help",
        |_| Ok(Command::Help)
    ),
    spec!(
        "NEWGROUPS",
        NewGroups,
        2,
        3,
        Reader,
        true,
        Some("READER"),
        "NEWGROUPS [yy]yymmdd hhmmss [GMT]",
        "list newsgroups created since a date",
        |a| Ok(Command::NewGroups(date_time(a, 0)?))
    ),
    spec!(
        "NEWNEWS",
        NewNews,
        3,
        4,
        Reader,
        true,
        Some("NEWNEWS"),
        "NEWNEWS wildmat [yy]yymmdd hhmmss [GMT]",
        "list message-ids of articles received since a date",
        |a| Ok(Command::NewNews {
            wildmat: command::wildmat(a.get(0).unwrap_or_default())?,
            since: date_time(a, 1)?,
        })
    ),
    spec!(
        "LIST ACTIVE",
        List,
        0,
        1,
        Reader,
        true,
        Some("LIST"),
        "LIST [ACTIVE [wildmat]]",
        "list newsgroups with their high and low water marks",
        |a| Ok(Command::List(ListKind::Active(list_wildmat(a)?)))
    ),
    spec!(
        "LIST ACTIVE.TIMES",
        List,
        0,
        1,
        Reader,
        true,
        Some("LIST"),
        "LIST ACTIVE.TIMES [wildmat]",
        "list newsgroup creation times",
        |a| Ok(Command::List(ListKind::ActiveTimes(list_wildmat(a)?)))
    ),
    spec!(
        "LIST COUNTS",
        List,
        0,
        1,
        Reader,
        true,
        Some("LIST"),
        "LIST COUNTS [wildmat]",
        "list newsgroups with article counts",
        |a| Ok(Command::List(ListKind::Counts(list_wildmat(a)?)))
    ),
    spec!(
        "LIST DISTRIB.PATS",
        List,
        0,
        0,
        Reader,
        true,
        Some("LIST"),
        "LIST DISTRIB.PATS",
        "list default distributions by newsgroup pattern",
        |_| Ok(Command::List(ListKind::DistribPats))
    ),
    spec!(
        "LIST DISTRIBUTIONS",
        List,
        0,
        0,
        Reader,
        true,
        Some("LIST"),
        "LIST DISTRIBUTIONS",
        "list known distributions",
        |_| Ok(Command::List(ListKind::Distributions))
    ),
    spec!(
        "LIST HEADERS",
        List,
        0,
        1,
        Reader,
        true,
        Some("LIST"),
        "LIST HEADERS [MSGID|RANGE]",
        "list fields usable with HDR",
        |a| Ok(Command::List(ListKind::Headers(match a.get(0) {
            None => None,
            Some(s) if s.eq_ignore_ascii_case("MSGID") => Some(HeadersForm::MsgId),
            Some(s) if s.eq_ignore_ascii_case("RANGE") => Some(HeadersForm::Range),
            Some(_) => return Err(ParseError::BadArgument("LIST HEADERS argument")),
        })))
    ),
    spec!(
        "LIST MODERATORS",
        List,
        0,
        0,
        Reader,
        true,
        Some("LIST"),
        "LIST MODERATORS",
        "list submission addresses of moderated groups",
        |_| Ok(Command::List(ListKind::Moderators))
    ),
    spec!(
        "LIST MOTD",
        List,
        0,
        0,
        Reader,
        true,
        Some("LIST"),
        "LIST MOTD",
        "show the message of the day",
        |_| Ok(Command::List(ListKind::Motd))
    ),
    spec!(
        "LIST NEWSGROUPS",
        List,
        0,
        1,
        Reader,
        true,
        Some("LIST"),
        "LIST NEWSGROUPS [wildmat]",
        "list newsgroup descriptions",
        |a| Ok(Command::List(ListKind::Newsgroups(list_wildmat(a)?)))
    ),
    spec!(
        "LIST OVERVIEW.FMT",
        List,
        0,
        0,
        Reader,
        true,
        Some("LIST"),
        "LIST OVERVIEW.FMT",
        "list the overview fields",
        |_| Ok(Command::List(ListKind::OverviewFmt))
    ),
    spec!(
        "LIST SUBSCRIPTIONS",
        List,
        0,
        1,
        Reader,
        true,
        Some("LIST"),
        "LIST SUBSCRIPTIONS [wildmat]",
        "list recommended subscriptions",
        |a| Ok(Command::List(ListKind::Subscriptions(list_wildmat(a)?)))
    ),
    spec!(
        "OVER",
        Over,
        0,
        1,
        Reader,
        true,
        Some("OVER"),
        "OVER [range|message-id]",
        "retrieve overview data",
        |a| Ok(Command::Over(range_or_id(a.get(0))?))
    ),
    spec!(
        "HDR",
        Hdr,
        1,
        2,
        Reader,
        true,
        Some("HDR"),
        "HDR field [range|message-id]",
        "retrieve a header field from articles",
        |a| Ok(Command::Hdr {
            field: command::header_field(a.get(0).unwrap_or_default())?,
            target: range_or_id(a.get(1))?,
        })
    ),
    spec!(
        "STARTTLS",
        StartTls,
        0,
        0,
        Both,
        false,
        Some("STARTTLS"),
        "STARTTLS",
        "begin TLS negotiation",
        |_| Ok(Command::StartTls)
    ),
    spec!(
        "AUTHINFO USER",
        AuthinfoUser,
        1,
        MANY,
        Both,
        false,
        Some("AUTHINFO"),
        "AUTHINFO USER username",
        "send the user name",
        // Trailing blanks are not part of the name (nnrpd splits the line into words); a
        // password keeps them (AUTHINFO PASS takes the rest of the line as it is).
        |a| Ok(Command::AuthinfoUser(command::credential(
            a.rest().trim_end_matches([' ', '\t']),
            "user name"
        )?))
    ),
    spec!(
        "AUTHINFO PASS",
        AuthinfoPass,
        1,
        MANY,
        Both,
        false,
        Some("AUTHINFO"),
        "AUTHINFO PASS password",
        "send the password",
        |a| Ok(Command::AuthinfoPass(command::credential(
            a.rest(),
            "password"
        )?))
    ),
    spec!(
        "AUTHINFO SASL",
        AuthinfoSasl,
        1,
        2,
        Both,
        false,
        Some("SASL"),
        "AUTHINFO SASL mechanism [initial-response]",
        "begin SASL authentication",
        |a| Ok(Command::AuthinfoSasl {
            mechanism: command::keyword(a.get(0).unwrap_or_default(), "SASL mechanism")?,
            initial: a.get(1).map(command::base64_arg).transpose()?,
        })
    ),
    spec!(
        "CHECK",
        Check,
        1,
        1,
        Transit,
        true,
        Some("STREAMING"),
        "CHECK message-id",
        "ask whether an article is wanted (streaming)",
        |a| Ok(Command::Check(message_id(a.get(0))?))
    ),
    spec!(
        "TAKETHIS",
        TakeThis,
        1,
        1,
        Transit,
        true,
        Some("STREAMING"),
        "TAKETHIS message-id",
        "send an article (streaming)",
        |a| Ok(Command::TakeThis(message_id(a.get(0))?))
    ),
    spec!(
        "COMPRESS",
        Compress,
        1,
        1,
        Both,
        false,
        Some("COMPRESS"),
        "COMPRESS DEFLATE",
        "compress the rest of the connection",
        |a| Ok(Command::Compress(command::keyword(
            a.get(0).unwrap_or_default(),
            "compression algorithm"
        )?))
    ),
    spec!(
        "XOVER",
        XOver,
        0,
        1,
        Reader,
        true,
        None,
        "XOVER [range]",
        "retrieve overview data (RFC 2980)",
        |a| Ok(Command::XOver(
            a.get(0).map(command::ArticleRange::parse).transpose()?
        ))
    ),
    spec!(
        "XHDR",
        XHdr,
        1,
        2,
        Reader,
        true,
        None,
        "XHDR header [range|message-id]",
        "retrieve a header field (RFC 2980)",
        |a| Ok(Command::XHdr {
            field: command::header_field(a.get(0).unwrap_or_default())?,
            target: range_or_id(a.get(1))?,
        })
    ),
    spec!(
        "XPAT",
        XPat,
        3,
        MANY,
        Reader,
        true,
        None,
        "XPAT header range|message-id pattern [pattern ...]",
        "find articles whose header matches (RFC 2980)",
        |a| Ok(Command::XPat {
            field: command::header_field(a.get(0).unwrap_or_default())?,
            target: required_range_or_id(a.get(1))?,
            patterns: a
                .all()
                .get(2..)
                .unwrap_or_default()
                .iter()
                .map(|p| command::wildmat(p))
                .collect::<Result<_, _>>()?,
        })
    ),
    spec!(
        "XGTITLE",
        XGTitle,
        0,
        1,
        Reader,
        true,
        None,
        "XGTITLE [wildmat]",
        "list newsgroup descriptions (RFC 2980)",
        |a| Ok(Command::XGTitle(list_wildmat(a)?))
    ),
];

fn first_word(name: &str) -> &str {
    name.split_once(' ').map_or(name, |(a, _)| a)
}

/// Find the table row for a keyword and optional second token. Returns the
/// row and how many tokens its name used (1 or 2).
///
/// # Errors
/// [`ParseError::UnknownCommand`] if no row starts with `keyword`;
/// [`ParseError::UnknownKeyword`] / [`ParseError::ArgumentCount`] for a bad
/// or missing sub-keyword.
pub fn lookup(
    keyword: &[u8],
    sub: Option<&[u8]>,
) -> Result<(&'static CommandSpec, usize), ParseError> {
    let mut rows = COMMANDS
        .iter()
        .filter(|s| first_word(s.name).as_bytes().eq_ignore_ascii_case(keyword))
        .peekable();
    let first = rows.peek().copied().ok_or(ParseError::UnknownCommand)?;
    if !first.name.contains(' ') {
        return Ok((first, 1));
    }
    let word = first_word(first.name);
    let Some(sub) = sub else {
        // Plain LIST means LIST ACTIVE (RFC 3977 §7.6.1).
        if word == "LIST" {
            return rows
                .find(|s| s.name == "LIST ACTIVE")
                .map(|s| (s, 1))
                .ok_or(ParseError::UnknownCommand);
        }
        return Err(ParseError::ArgumentCount(word));
    };
    rows.find(|s| {
        s.name
            .split_once(' ')
            .is_some_and(|(_, second)| second.as_bytes().eq_ignore_ascii_case(sub))
    })
    .map(|s| (s, 2))
    .ok_or(ParseError::UnknownKeyword(word))
}

/// The table row of a command kind (the first, for LIST).
#[must_use]
pub fn spec_for(kind: CommandKind) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|s| s.kind == kind)
}

/// The state of a connection that decides which capabilities are listed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapabilityState<'a> {
    /// TLS is active on the connection.
    pub tls_active: bool,
    /// The server offers STARTTLS (has a certificate) on this listener.
    pub starttls_offered: bool,
    /// The client has authenticated.
    pub authenticated: bool,
    /// AUTHINFO USER/PASS may be used now (e.g. only under TLS).
    pub authinfo_user: bool,
    /// SASL mechanisms usable now (upper-case names).
    pub sasl_mechanisms: &'a [&'a str],
    /// COMPRESS DEFLATE is offered.
    pub compress_offered: bool,
    /// Compression is already active.
    pub compress_active: bool,
    /// Reader commands are available now.
    pub reader: bool,
    /// Transit commands (IHAVE, streaming) are available now.
    pub transit: bool,
    /// Reader commands need MODE READER first (advertise MODE-READER, not READER).
    pub mode_reader_needed: bool,
    /// Posting is allowed (advertise POST).
    pub posting: bool,
    /// Optional IMPLEMENTATION text.
    pub implementation: Option<&'a str>,
}

fn role_active(role: Role, st: &CapabilityState<'_>) -> bool {
    match role {
        Role::Reader => st.reader,
        Role::Transit => st.transit,
        Role::Both => true,
    }
}

fn advertised(cap: &str, st: &CapabilityState<'_>) -> bool {
    COMMANDS
        .iter()
        .any(|s| s.capability == Some(cap) && role_active(s.role, st))
}

/// The CAPABILITIES list (without the 101 line and terminator) for a
/// connection in state `st`, following RFC 3977 §5.2, RFC 4642 (STARTTLS
/// only before TLS, authentication and compression), RFC 4643 (AUTHINFO and
/// SASL only before authentication), RFC 4644 (STREAMING for transit) and
/// RFC 8054 (COMPRESS only while not compressed).
#[must_use]
pub fn capability_lines(st: &CapabilityState<'_>) -> Vec<String> {
    let mut out = vec!["VERSION 2".to_owned()];
    if let Some(imp) = st.implementation {
        let clean: String = imp
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        out.push(format!("IMPLEMENTATION {clean}"));
    }
    if st.mode_reader_needed {
        out.push("MODE-READER".to_owned());
    } else if advertised("READER", st) {
        out.push("READER".to_owned());
    }
    if advertised("IHAVE", st) {
        out.push("IHAVE".to_owned());
    }
    if st.posting && advertised("POST", st) && !st.mode_reader_needed {
        out.push("POST".to_owned());
    }
    if advertised("NEWNEWS", st) {
        out.push("NEWNEWS".to_owned());
    }
    if advertised("HDR", st) {
        out.push("HDR".to_owned());
    }
    if advertised("OVER", st) {
        out.push("OVER MSGID".to_owned());
    }
    let list: Vec<&str> = COMMANDS
        .iter()
        .filter(|s| s.capability == Some("LIST") && role_active(s.role, st))
        .filter_map(|s| s.name.split_once(' ').map(|(_, k)| k))
        .collect();
    if !list.is_empty() {
        out.push(format!("LIST {}", list.join(" ")));
    }
    if advertised("STREAMING", st) {
        out.push("STREAMING".to_owned());
    }
    if st.starttls_offered && !st.tls_active && !st.authenticated && !st.compress_active {
        out.push("STARTTLS".to_owned());
    }
    if !st.authenticated && (st.authinfo_user || !st.sasl_mechanisms.is_empty()) {
        let mut line = "AUTHINFO".to_owned();
        if st.authinfo_user {
            line.push_str(" USER");
        }
        if !st.sasl_mechanisms.is_empty() {
            line.push_str(" SASL");
        }
        out.push(line);
        if !st.sasl_mechanisms.is_empty() {
            out.push(format!("SASL {}", st.sasl_mechanisms.join(" ")));
        }
    }
    if st.compress_offered && !st.compress_active {
        out.push("COMPRESS DEFLATE".to_owned());
    }
    out
}

/// HELP text lines (without the 100 line and terminator): the synopsis and
/// description of each command whose role is active in `st` and that
/// [`capability_lines`] advertises for `st`.
#[must_use]
pub fn help_lines(st: &CapabilityState<'_>) -> Vec<String> {
    help_lines_for(&capability_lines(st), st)
}

/// HELP text lines for the commands a client can use now: a command is listed
/// when its role is active in `st` and the capability that advertises it is
/// among `advertised` (the CAPABILITIES lines the server sends, after any
/// filtering of its own); commands without a capability are always listed.
#[must_use]
pub fn help_lines_for(advertised: &[String], st: &CapabilityState<'_>) -> Vec<String> {
    COMMANDS
        .iter()
        .filter(|s| role_active(s.role, st) && listed(s, advertised))
        .map(|s| format!("  {:<44} {}", s.synopsis, s.help))
        .collect()
}

/// Whether `advertised` (capability lines) covers the command of `s`.
fn listed(s: &CommandSpec, advertised: &[String]) -> bool {
    let line = |label: &str| {
        advertised
            .iter()
            .find(|l| l.split(' ').next() == Some(label))
    };
    let has_word =
        |label: &str, word: &str| line(label).is_some_and(|l| l.split(' ').any(|w| w == word));
    match s.capability {
        None => true,
        Some("LIST") => s
            .name
            .split_once(' ')
            .is_some_and(|(_, keyword)| has_word("LIST", keyword)),
        Some("MODE-READER") => line("MODE-READER").is_some() || line("READER").is_some(),
        Some("AUTHINFO") => has_word("AUTHINFO", "USER"),
        Some("SASL") => has_word("AUTHINFO", "SASL"),
        Some(label) => line(label).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        for s in COMMANDS {
            assert!(s.min_args <= s.max_args, "{}", s.name);
            assert!(s.synopsis.starts_with(first_word(s.name)), "{}", s.name);
            let n = COMMANDS.iter().filter(|t| t.name == s.name).count();
            assert_eq!(n, 1, "duplicate {}", s.name);
        }
    }

    #[test]
    fn every_kind_has_a_row() {
        use CommandKind as K;
        for k in [
            K::Capabilities,
            K::ModeReader,
            K::ModeStream,
            K::Quit,
            K::Group,
            K::ListGroup,
            K::Last,
            K::Next,
            K::Article,
            K::Head,
            K::Body,
            K::Stat,
            K::Post,
            K::Ihave,
            K::Date,
            K::Help,
            K::NewGroups,
            K::NewNews,
            K::List,
            K::Over,
            K::Hdr,
            K::StartTls,
            K::AuthinfoUser,
            K::AuthinfoPass,
            K::AuthinfoSasl,
            K::Check,
            K::TakeThis,
            K::Compress,
            K::XOver,
            K::XHdr,
            K::XPat,
            K::XGTitle,
        ] {
            assert!(spec_for(k).is_some(), "{k:?}");
        }
    }
}
