//! Validation of an article's headers for transit (IHAVE/TAKETHIS) and for injection
//! (POST), after RFC 5536 and RFC 5537.
//!
//! Injection (a new article from a reader) rejects duplicates of every single-instance header
//! and checks the syntax of every known header that is present. Transit (an article relayed
//! by a peer) is as lenient as INN 2.7's innd, so that Tidings relays what the rest of Usenet
//! relays: only the headers the server acts on are checked (From present, Date,
//! Injection-Date, Message-ID, Newsgroups, Path, Control), and only duplicates of the
//! required ones are refused; a malformed References, Reply-To, Distribution, Expires, ... is
//! carried as it is (INN's `ARTclean` checks the same set). The modes also differ in what is
//! required and how strict the Message-ID check is:
//!
//! * transit: From, Date, Message-ID, Newsgroups, Path and Subject are required, and the
//!   Message-ID must be in the RFC 3977 form (the form the server can look up);
//! * injection: From, Newsgroups and Subject are required (Message-ID, Date and Path are
//!   added by the injecting agent when missing, RFC 5537 §3.5); a Message-ID that is
//!   present must follow the strict RFC 5536 form; an article that already has an
//!   Injection-Info header or a `.POSTED` Path entry is refused (it was injected
//!   before), and so is one with an Xref header (RFC 5537 §3.5).
//!
//! Error messages are meant for a person: the server puts them after 437/439/441.
//! Offending values are quoted, truncated and stripped of control characters.

use crate::ascii::{ALNUM, PMU, find_vchar_stop, has_class};
use crate::cancel_lock::{CancelLockError, check_elements};
use crate::date::{DateError, parse_date};
use crate::group::{GroupNameError, check_newsgroups, split_list};
#[cfg(test)]
use crate::headers::classify;
use crate::headers::{HeaderError, Headers, trim_ws};
use crate::msgid::{MessageIdError, check_lookup, check_strict, split_msgids};
use crate::path::{PathEntry, PathError, check_path, path_entries};
use crate::xref::{XrefError, check_xref};

/// Why an article's headers were refused. Display is a reason a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The header block itself could not be parsed.
    #[error("Malformed headers: {0}")]
    Malformed(#[from] HeaderError),
    /// A required header is absent.
    #[error("Missing required header: {0}")]
    MissingHeader(&'static str),
    /// A header that may occur once occurs more than once.
    #[error("Duplicate header: {0}")]
    DuplicateHeader(&'static str),
    /// A header that must have content is empty.
    #[error("Empty header: {0}")]
    EmptyHeader(&'static str),
    /// A message-id (Message-ID, Supersedes, References) is malformed.
    #[error("Bad {header}: {value} ({reason})")]
    BadMessageId {
        /// The header name.
        header: &'static str,
        /// The offending value (sanitised, truncated).
        value: String,
        /// What is wrong.
        reason: MessageIdError,
    },
    /// A date (Date, Injection-Date, Expires) is malformed.
    #[error("Bad {header}: {value} ({reason})")]
    BadDate {
        /// The header name.
        header: &'static str,
        /// The offending value (sanitised, truncated).
        value: String,
        /// What is wrong.
        reason: DateError,
    },
    /// A newsgroup list (Newsgroups, Followup-To) is malformed.
    #[error("Bad {header}: {value} ({reason})")]
    BadNewsgroups {
        /// The header name.
        header: &'static str,
        /// The offending value (sanitised, truncated).
        value: String,
        /// What is wrong.
        reason: GroupNameError,
    },
    /// The Path is malformed.
    #[error("Bad Path: {value} ({reason})")]
    BadPath {
        /// The offending value (sanitised, truncated).
        value: String,
        /// What is wrong.
        reason: PathError,
    },
    /// The Xref is malformed.
    #[error("Bad Xref: {value} ({reason})")]
    BadXref {
        /// The offending value (sanitised, truncated).
        value: String,
        /// What is wrong.
        reason: XrefError,
    },
    /// Cancel-Lock or Cancel-Key is malformed.
    #[error("Bad {header}: {value} ({reason})")]
    BadCancelLock {
        /// The header name.
        header: &'static str,
        /// The offending value (sanitised, truncated).
        value: String,
        /// What is wrong.
        reason: CancelLockError,
    },
    /// Any other header with bad syntax (From, Approved, Distribution, Control,
    /// Injection-Info).
    #[error("Bad {header}: {value} ({reason})")]
    BadHeader {
        /// The header name.
        header: &'static str,
        /// The offending value (sanitised, truncated).
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A POSTed article already carries Injection-Info, or a Path with the `POSTED`
    /// diagnostic: it was injected before (RFC 5537 §3.5).
    #[error("Article already injected (has Injection-Info or a .POSTED Path entry)")]
    AlreadyInjected,
    /// A POSTed article carries a header only servers may add (Xref; RFC 5537 §3.5).
    #[error("Header not allowed in a posted article: {0}")]
    NotAllowedInPost(&'static str),
}

/// Renders a header value for an error message: lossy UTF-8, control characters as
/// spaces, at most 80 characters.
pub fn show_value(v: &[u8]) -> String {
    let v = trim_ws(v);
    let s = String::from_utf8_lossy(v);
    let mut out: String = s
        .chars()
        .take(80)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(80).is_some() {
        out.push_str("...");
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum H {
    From,
    Date,
    MessageId,
    Newsgroups,
    Path,
    Subject,
    InjectionDate,
    InjectionInfo,
    Xref,
    References,
    FollowupTo,
    Distribution,
    Expires,
    Control,
    Approved,
    Supersedes,
    CancelLock,
    CancelKey,
    Sender,
    ReplyTo,
    Organization,
    Summary,
    UserAgent,
    InReplyTo,
}

/// (name, id, single-instance), in the order of [`crate::headers::KNOWN_NAMES`] (the
/// index the parser records for each field).
const KNOWN: [(&str, H, bool); 24] = [
    ("From", H::From, true),
    ("Date", H::Date, true),
    ("Message-ID", H::MessageId, true),
    ("Newsgroups", H::Newsgroups, true),
    ("Path", H::Path, true),
    ("Subject", H::Subject, true),
    ("Injection-Date", H::InjectionDate, true),
    ("Injection-Info", H::InjectionInfo, true),
    ("Xref", H::Xref, true),
    ("References", H::References, true),
    ("Followup-To", H::FollowupTo, true),
    ("Distribution", H::Distribution, true),
    ("Expires", H::Expires, true),
    ("Control", H::Control, true),
    ("Approved", H::Approved, true),
    ("Supersedes", H::Supersedes, true),
    ("Cancel-Lock", H::CancelLock, false),
    ("Cancel-Key", H::CancelKey, false),
    ("Sender", H::Sender, true),
    ("Reply-To", H::ReplyTo, true),
    ("Organization", H::Organization, true),
    ("Summary", H::Summary, true),
    ("User-Agent", H::UserAgent, true),
    ("In-Reply-To", H::InReplyTo, true),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Transit,
    Injection,
}

/// Validates headers of an article received from a peer (IHAVE, TAKETHIS).
pub fn validate_transit(h: &Headers<'_>) -> Result<(), ValidationError> {
    validate(h, Mode::Transit)
}

/// Validates headers of an article posted by a client (POST), before the server adds
/// Message-ID, Date, Path and Injection-* headers.
pub fn validate_injection(h: &Headers<'_>) -> Result<(), ValidationError> {
    validate(h, Mode::Injection)
}

/// Parses `article` and validates it for transit.
pub fn validate_transit_bytes(article: &[u8]) -> Result<(), ValidationError> {
    validate_transit(&Headers::parse(article)?)
}

/// Parses `article` and validates it for injection.
pub fn validate_injection_bytes(article: &[u8]) -> Result<(), ValidationError> {
    validate_injection(&Headers::parse(article)?)
}

/// The offset of the first bare LF (an LF not preceded by CR) that is immediately followed
/// by `.`, in an article as received (un-stuffed).
///
/// The NNTP block decoder (RFC 3977 §3.1.1) rightly keeps `a\n.\r\n` as data, and
/// dot-stuffing only applies after CRLF, so such an article is sent on as `a\n.\r\n...`
/// and a client that splits lines on LF alone (Python's nntplib, for one) takes the `.`
/// line for the end of the response and loses sync. Servers refuse these articles at
/// ingest (POST, IHAVE, TAKETHIS) rather than serve them.
#[must_use]
pub fn bare_lf_dot(article: &[u8]) -> Option<usize> {
    memchr::memmem::find_iter(article, b"\n.").find(|&i| i == 0 || article[i - 1] != b'\r')
}

fn has_address(v: &[u8]) -> bool {
    v.contains(&b'@')
}

/// One-pass check of a References value: at least one `<...>` id, each in the RFC 3977
/// form; bytes outside ids are skipped (as by `split_msgids`).
fn references_ok(v: &[u8]) -> bool {
    let mut n = 0;
    let mut i = 0;
    // Ids are usually a byte or three apart: a plain loop beats a memchr call.
    while let Some(lt) = v.get(i..).and_then(|r| r.iter().position(|&b| b == b'<')) {
        let start = i + lt;
        // The id runs to the first '>'; every byte up to it must be printable.
        let Some(end) = find_vchar_stop(v, start + 1, b'>') else {
            return false;
        };
        if v.get(end) != Some(&b'>')
            || !(3..=crate::msgid::MAX_MESSAGE_ID_LEN).contains(&(end - start + 1))
        {
            return false;
        }
        n += 1;
        i = end + 1;
    }
    n > 0
}

fn is_dist_char(b: u8) -> bool {
    has_class(b, ALNUM | PMU)
}

fn validate(h: &Headers<'_>, mode: Mode) -> Result<(), ValidationError> {
    let mut seen = [false; KNOWN.len()];
    for (idx, value) in h.known_values() {
        let Some(&(name, id, single)) = KNOWN.get(idx) else {
            continue;
        };
        if seen[idx] && single && (mode == Mode::Injection || idx < REQUIRED_IN_TRANSIT.len()) {
            return Err(ValidationError::DuplicateHeader(name));
        }
        seen[idx] = true;
        if mode == Mode::Transit && !checked_in_transit(id) {
            continue;
        }
        let v = trim_ws(value);
        check_field(name, id, v, mode)?;
    }
    let required: &[usize] = match mode {
        Mode::Transit => &REQUIRED_IN_TRANSIT,
        Mode::Injection => &[0, 3, 5],
    };
    for &r in required {
        if !seen[r] {
            return Err(ValidationError::MissingHeader(KNOWN[r].0));
        }
    }
    Ok(())
}

/// The entries of [`KNOWN`] that transit requires (From, Date, Message-ID, Newsgroups, Path,
/// Subject: the first six); only their duplicates are refused in transit.
const REQUIRED_IN_TRANSIT: [usize; 6] = [0, 1, 2, 3, 4, 5];

/// Headers whose syntax transit checks: those the server acts on (age, look-up, routing, loop
/// detection, control processing). INN's innd does not check the others either.
fn checked_in_transit(id: H) -> bool {
    matches!(
        id,
        H::From
            | H::Date
            | H::InjectionDate
            | H::MessageId
            | H::Newsgroups
            | H::Path
            | H::Control
            | H::Subject
    )
}

fn check_field(name: &'static str, id: H, v: &[u8], mode: Mode) -> Result<(), ValidationError> {
    let bad = |reason: &'static str| ValidationError::BadHeader {
        header: name,
        value: show_value(v),
        reason,
    };
    let date = |v: &[u8]| {
        parse_date(v)
            .map(|_| ())
            .map_err(|reason| ValidationError::BadDate {
                header: name,
                value: show_value(v),
                reason,
            })
    };
    let msgid = |v: &[u8], strict: bool| {
        let r = if strict {
            check_strict(v)
        } else {
            check_lookup(v)
        };
        r.map_err(|reason| ValidationError::BadMessageId {
            header: name,
            value: show_value(v),
            reason,
        })
    };
    let groups = |v: &[u8]| {
        check_newsgroups(v)
            .map(|_| ())
            .map_err(|reason| ValidationError::BadNewsgroups {
                header: name,
                value: show_value(v),
                reason,
            })
    };
    let cancel = |v: &[u8]| {
        check_elements(v)
            .map(|_| ())
            .map_err(|reason| ValidationError::BadCancelLock {
                header: name,
                value: show_value(v),
                reason,
            })
    };
    match id {
        H::From | H::Approved | H::Sender | H::ReplyTo => {
            if v.is_empty() {
                return Err(ValidationError::EmptyHeader(name));
            }
            if mode == Mode::Injection && !has_address(v) {
                return Err(bad("no e-mail address"));
            }
        }
        H::Date | H::InjectionDate | H::Expires => date(v)?,
        H::MessageId => msgid(v, mode == Mode::Injection)?,
        H::Supersedes => msgid(v, false)?,
        H::Newsgroups => groups(v)?,
        H::FollowupTo => {
            if v != b"poster" {
                groups(v)?;
            }
        }
        H::Path => {
            check_path(v).map_err(|reason| ValidationError::BadPath {
                value: show_value(v),
                reason,
            })?;
            if mode == Mode::Injection
                && path_entries(v).any(|e| {
                    matches!(e, Ok(PathEntry::Diagnostic { keyword, .. })
                        if keyword.eq_ignore_ascii_case("POSTED"))
                })
            {
                return Err(ValidationError::AlreadyInjected);
            }
        }
        H::Xref => {
            if mode == Mode::Injection {
                return Err(ValidationError::NotAllowedInPost(name));
            }
            check_xref(v).map_err(|reason| ValidationError::BadXref {
                value: show_value(v),
                reason,
            })?;
        }
        H::References => {
            if references_ok(v) {
                return Ok(());
            }
            // Slow path: find the offending id for the message.
            let mut n = 0;
            for tok in split_msgids(v) {
                let Some(tok) = tok else {
                    return Err(bad("unclosed '<'"));
                };
                msgid(tok, false)?;
                n += 1;
            }
            if n == 0 {
                return Err(bad("no message-id"));
            }
        }
        H::Distribution => {
            for d in split_list(v) {
                if d.is_empty() || !d.iter().all(|&b| is_dist_char(b)) {
                    return Err(bad("distribution names are letters, digits, '+', '-', '_'"));
                }
            }
        }
        H::Control => {
            let verb = v
                .split(|b| b.is_ascii_whitespace())
                .next()
                .unwrap_or_default();
            if verb.is_empty() || !verb.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-') {
                return Err(bad("no control verb"));
            }
        }
        H::InjectionInfo => {
            if mode == Mode::Injection {
                return Err(ValidationError::AlreadyInjected);
            }
            let end = v
                .iter()
                .position(|b| *b == b';' || b.is_ascii_whitespace())
                .unwrap_or(v.len());
            let host = &v[..end];
            if host.is_empty()
                || !host
                    .iter()
                    .all(|&b| (0x21..=0x7e).contains(&b) && b != b'!')
            {
                return Err(bad("no path-identity"));
            }
        }
        H::CancelLock | H::CancelKey => cancel(v)?,
        H::Subject | H::Organization | H::Summary | H::UserAgent | H::InReplyTo => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "Path: news.a.example!.POSTED.client!not-for-mail\r\n\
From: Joe <joe@example.com>\r\n\
Newsgroups: misc.test, alt.test\r\n\
Subject: test\r\n\
Date: Tue, 01 Dec 2026 03:57:09 +0000\r\n\
Message-ID: <abc.123@example.com>\r\n\
References: <a@b> <c@d>\r\n\
Xref: news.a.example misc.test:3 alt.test:17\r\n\
Injection-Info: news.a.example; posting-host=\"x\"\r\n\
Injection-Date: Tue, 01 Dec 2026 03:57:10 +0000\r\n\
Distribution: local\r\n\
Followup-To: poster\r\n\
Cancel-Lock: sha256:s/pmK/3grrz++29ce2/mQydzJuc7iqHn1nqcJiQTPMc=\r\n\
\r\nbody\r\n";

    fn with(extra: &str) -> String {
        format!("{extra}\r\n{GOOD}")
    }

    fn without(name: &str) -> String {
        GOOD.split("\r\n")
            .filter(|l| !l.starts_with(&format!("{name}:")))
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    fn transit(s: &str) -> Result<(), ValidationError> {
        validate_transit_bytes(s.as_bytes())
    }

    #[test]
    fn good_article_passes_transit() {
        assert_eq!(transit(GOOD), Ok(()));
    }

    #[test]
    fn missing_required() {
        for name in [
            "From",
            "Date",
            "Message-ID",
            "Newsgroups",
            "Path",
            "Subject",
        ] {
            let e = transit(&without(name)).unwrap_err();
            assert_eq!(e, ValidationError::MissingHeader(name));
            assert_eq!(e.to_string(), format!("Missing required header: {name}"));
        }
    }

    #[test]
    fn injection_mode() {
        let posted = "From: a@b.example\r\nNewsgroups: misc.test\r\nSubject: hi\r\n\r\nbody\r\n";
        assert_eq!(validate_injection_bytes(posted.as_bytes()), Ok(()));
        assert_eq!(
            validate_transit_bytes(posted.as_bytes()),
            Err(ValidationError::MissingHeader("Date"))
        );
        let no_subject = "From: a@b.example\r\nNewsgroups: misc.test\r\n\r\n";
        assert_eq!(
            validate_injection_bytes(no_subject.as_bytes()),
            Err(ValidationError::MissingHeader("Subject"))
        );
        let lax_id =
            "From: a@b.example\r\nNewsgroups: misc.test\r\nSubject: x\r\nMessage-ID: <foo>\r\n\r\n";
        assert!(matches!(
            validate_injection_bytes(lax_id.as_bytes()),
            Err(ValidationError::BadMessageId {
                reason: MessageIdError::NoAt,
                ..
            })
        ));
        assert_eq!(
            validate_injection_bytes(GOOD.as_bytes()),
            Err(ValidationError::AlreadyInjected)
        );
        let with_posted = format!("Path: a!.POSTED.1.2.3.4!not-for-mail\r\n{posted}");
        assert_eq!(
            validate_injection_bytes(with_posted.as_bytes()),
            Err(ValidationError::AlreadyInjected)
        );
        let with_path = format!("Path: a!not-for-mail\r\n{posted}");
        assert_eq!(validate_injection_bytes(with_path.as_bytes()), Ok(()));
        let with_xref = format!("Xref: h misc.test:1\r\n{posted}");
        let e = validate_injection_bytes(with_xref.as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Header not allowed in a posted article: Xref"
        );
    }

    #[test]
    fn duplicates() {
        let e = transit(&with("subject: again")).unwrap_err();
        assert_eq!(e.to_string(), "Duplicate header: Subject");
        assert_eq!(
            transit(&with("Cancel-Lock: sha1:bNXHc6ohSmeHaRHHW56BIWZJt+4=")),
            Ok(())
        );
        assert_eq!(transit(&with("X-Foo: 1\r\nX-Foo: 2")), Ok(()));
    }

    #[test]
    fn bad_values_have_readable_messages() {
        // Checked in transit (the headers the server acts on) and in injection.
        let transit_cases = [
            ("Message-ID: <a b@c>", "Bad Message-ID: <a b@c> ("),
            (
                "Date: yesterday",
                "Bad Date: yesterday (unrecognised token in date)",
            ),
            (
                "Newsgroups: a..b",
                "Bad Newsgroups: a..b (empty component in newsgroup name)",
            ),
            (
                "Path: a b",
                "Bad Path: a b (invalid character in Path entry)",
            ),
            ("Control: ", "Bad Control:  (no control verb)"),
            ("Injection-Date: x", "Bad Injection-Date: x ("),
        ];
        for (line, msg) in transit_cases {
            // Replace an existing header of that name, or add it.
            let name = line.split(':').next().unwrap();
            let art = format!("{line}\r\n{}", without(name));
            let e = transit(&art).unwrap_err().to_string();
            assert!(e.starts_with(msg), "{line}: got {e:?}");
        }
        // Checked when a reader posts; carried as they are in transit, as INN's innd does.
        let injection_cases = [
            ("From: nobody", "Bad From: nobody (no e-mail address)"),
            (
                "References: <a@b> <c",
                "Bad References: <a@b> <c (unclosed '<')",
            ),
            (
                "Supersedes: foo",
                "Bad Supersedes: foo (must be of the form <...>)",
            ),
            (
                "Followup-To: a,,b",
                "Bad Followup-To: a,,b (empty element in newsgroup list)",
            ),
            (
                "Distribution: wo rld",
                "Bad Distribution: wo rld (distribution names",
            ),
            (
                "Expires: 32 Jan 2020 00:00:00 +0000",
                "Bad Expires: 32 Jan 2020 00:00:00 +0000 (date field out of range)",
            ),
            (
                "Approved: moderator",
                "Bad Approved: moderator (no e-mail address)",
            ),
            (
                "Cancel-Key: sha256",
                "Bad Cancel-Key: sha256 (element is not scheme:base64)",
            ),
        ];
        for (line, msg) in injection_cases {
            let name = line.split(':').next().unwrap();
            let mut posted = String::new();
            for (h, v) in [
                ("From", "a@b.example"),
                ("Newsgroups", "misc.test"),
                ("Subject", "hi"),
            ] {
                if h != name {
                    posted.push_str(&format!("{h}: {v}\r\n"));
                }
            }
            posted.push_str(&format!("{line}\r\n\r\nbody\r\n"));
            let e = validate_injection_bytes(posted.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(msg), "{line}: got {e:?}");
            let relayed = format!("{line}\r\n{}", without(name));
            assert_eq!(transit(&relayed), Ok(()), "{line} in transit");
        }
    }

    #[test]
    fn transit_refuses_only_duplicates_of_required_headers() {
        for dup in [
            "Organization: b",
            "User-Agent: b",
            "References: <r@x>",
            "Reply-To: c@d",
        ] {
            assert_eq!(transit(&with(dup)), Ok(()), "{dup}");
            assert_eq!(
                transit(&with(&format!("{dup}\r\n{dup}"))),
                Ok(()),
                "{dup} twice"
            );
        }
        let posted = "From: a@b.example\r\nNewsgroups: misc.test\r\nSubject: hi\r\n\
                      Organization: a\r\nOrganization: b\r\n\r\nbody\r\n";
        assert_eq!(
            validate_injection_bytes(posted.as_bytes()),
            Err(ValidationError::DuplicateHeader("Organization"))
        );
    }

    #[test]
    fn dates_with_zone_names_and_trailing_zones_pass() {
        for date in [
            "Mon, 01 Jan 2024 10:00:00 CET",
            "Mon, 01 Jan 2024 10:00:00 MET",
            "Mon, 01 Jan 2024 10:00:00 CEST",
            "Mon, 01 Jan 2024 10:00:00 BST",
            "Mon, 01 Jan 2024 10:00:00 JST",
            "Mon, 01 Jan 2024 10:00:00 XYZT",
            "Mon, 01 Jan 2024 10:00:00 +0000 GMT",
            "Mon, 01 Jan 2024 10:00:00 +0100 (CET)",
            "Mon, 01 Jan 2024 10:00:00 +0100 CET",
        ] {
            for name in ["Date", "Injection-Date", "Expires"] {
                let art = format!("{name}: {date}\r\n{}", without(name));
                assert_eq!(transit(&art), Ok(()), "{name}: {date}");
            }
            for name in ["Date", "Expires"] {
                let posted = format!(
                    "From: a@b.example\r\nNewsgroups: misc.test\r\nSubject: hi\r\n\
                     {name}: {date}\r\n\r\nbody\r\n"
                );
                assert_eq!(
                    validate_injection_bytes(posted.as_bytes()),
                    Ok(()),
                    "{name}: {date}"
                );
            }
        }
        // Genuinely malformed dates are still refused.
        let e = transit(&format!(
            "Date: Mon, 01 Jan 2024 10:00:00 +0000 +0100\r\n{}",
            without("Date")
        ));
        assert!(matches!(e, Err(ValidationError::BadDate { .. })), "{e:?}");
    }

    #[test]
    fn xref_is_not_checked_in_transit() {
        // The server replaces a relayed article's Xref; like innd it does not judge it.
        for xref in [
            "news.example misc.test:a1b2 alt.test:x:y",
            "news.example misc.test:",
            "h",
        ] {
            let art = format!("Xref: {xref}\r\n{}", without("Xref"));
            assert_eq!(transit(&art), Ok(()), "{xref}");
        }
    }

    #[test]
    fn bare_lf_then_dot() {
        assert_eq!(bare_lf_dot(b"a\n.\r\n"), Some(1));
        assert_eq!(bare_lf_dot(b"\n."), Some(0));
        assert_eq!(bare_lf_dot(b"x\r\n.a\r\nb\n.c"), Some(8));
        assert_eq!(bare_lf_dot(b"H: v\r\n\r\n.\r\n..\r\n.x\r\n"), None);
        assert_eq!(bare_lf_dot(b"bare\rcr and bare\nlf\r\n."), None);
        assert_eq!(bare_lf_dot(b"a\n\r.\n"), None);
        assert_eq!(bare_lf_dot(b""), None);
        assert_eq!(bare_lf_dot(b"."), None);
    }

    #[test]
    fn eight_bit_subject_and_from_are_fine() {
        let art = without("Subject").replace("From: Joe", "From: J\u{f6}rg");
        let mut bytes = b"Subject: caf\xe9 \xff\r\n".to_vec();
        bytes.extend_from_slice(art.as_bytes());
        assert_eq!(validate_transit_bytes(&bytes), Ok(()));
    }

    #[test]
    fn classify_finds_every_known_name() {
        for (i, (name, _, _)) in KNOWN.iter().enumerate() {
            assert_eq!(classify(name.as_bytes()), Some(i), "{name}");
            assert_eq!(
                classify(name.to_ascii_lowercase().as_bytes()),
                Some(i),
                "{name}"
            );
            assert_eq!(
                classify(name.to_ascii_uppercase().as_bytes()),
                Some(i),
                "{name}"
            );
        }
        for (k, n) in KNOWN.iter().zip(crate::headers::KNOWN_NAMES) {
            assert_eq!(k.0, n);
        }
        assert_eq!(classify(b"Mime-Version"), None);
        assert_eq!(classify(b"Message_ID"), None);
        assert_eq!(classify(b"Message\rID"), None);
        assert_eq!(classify(b"F\x12\x0f\x12"), None);
        assert_eq!(classify(b"Froms"), None);
        assert_eq!(classify(b""), None);
    }

    /// The byte-at-a-time state machine `references_ok` replaced.
    fn references_ok_bytewise(v: &[u8]) -> bool {
        let mut n = 0;
        let mut start: Option<usize> = None;
        for (i, &b) in v.iter().enumerate() {
            match start {
                None if b == b'<' => start = Some(i),
                None => {}
                Some(s) if b == b'>' => {
                    let len = i - s + 1;
                    if !(3..=crate::msgid::MAX_MESSAGE_ID_LEN).contains(&len) {
                        return false;
                    }
                    n += 1;
                    start = None;
                }
                Some(_) if !(0x21..=0x7e).contains(&b) => return false,
                Some(_) => {}
            }
        }
        start.is_none() && n > 0
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn references_agrees_with_bytewise(v in "[<>a@ \t\r\n\x7f\u{e9}]{0,40}") {
            proptest::prop_assert_eq!(references_ok(v.as_bytes()), references_ok_bytewise(v.as_bytes()), "{:?}", v);
        }
    }

    #[test]
    fn references_fast_path_agrees() {
        for (v, ok) in [
            (&b"<a@b>"[..], true),
            (b"<a@b> <c@d>\r\n <e>", true),
            (b"junk <a@b> (c)", true),
            (b"<>", false),
            (b"<a b>", false),
            (b"<a@b> <c", false),
            (b"", false),
            (b"no ids", false),
        ] {
            assert_eq!(references_ok(v), ok, "{v:?}");
            let slow = check_field("References", H::References, v, Mode::Transit);
            assert_eq!(slow.is_ok(), ok, "{v:?}");
        }
        let long = format!("<{}>", "x".repeat(249));
        assert!(!references_ok(long.as_bytes()));
        let max = format!("<{}>", "x".repeat(248));
        assert!(references_ok(max.as_bytes()));
        assert!(references_ok_bytewise(max.as_bytes()));
    }

    #[test]
    fn show_value_sanitises() {
        assert_eq!(show_value(b" a\r\n\tb\x00 "), "a   b ");
        assert_eq!(show_value(&[b'x'; 100]).len(), 83);
    }
}
