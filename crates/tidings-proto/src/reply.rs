//! Reply codes and the server-side reply encoder.
//!
//! [`ReplyCode`] names every code defined by RFC 3977, 4642, 4643, 4644,
//! 8054 and the RFC 2980 commands this crate parses. [`ReplyCode::is_multiline`]
//! says whether a code introduces a dot-terminated block *for the command
//! that was sent* (211 is multi-line after LISTGROUP but not after GROUP).

use std::fmt;

use crate::command::CommandKind;
use crate::stuff::write_stuffed;

/// An NNTP reply code (three digits, 100–599).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplyCode(pub u16);

/// The class of a reply code (its first digit, RFC 3977 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyClass {
    /// 1xx: informative message.
    Informative,
    /// 2xx: command completed OK.
    Ok,
    /// 3xx: command OK so far; send the rest of it.
    Continue,
    /// 4xx: command was syntactically correct but failed for some reason.
    TransientFailure,
    /// 5xx: command unknown, unsupported, unavailable, or syntax error.
    PermanentFailure,
}

macro_rules! reply_codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $desc:literal;)*) => {
        impl ReplyCode {
            $($(#[$doc])* pub const $name: ReplyCode = ReplyCode($value);)*

            /// Every named code, in ascending order.
            pub const ALL: &'static [ReplyCode] = &[$(ReplyCode::$name),*];

            /// The constant's name (e.g. `"ARTICLE_FOLLOWS"`), if the code is named.
            #[must_use]
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }

            /// A short description of the code's meaning, if the code is named.
            #[must_use]
            pub fn description(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some($desc),)*
                    _ => None,
                }
            }
        }
    };
}

reply_codes! {
    /// 100 help text follows (RFC 3977 §7.2). Multi-line.
    HELP_FOLLOWS = 100, "help text follows";
    /// 101 capability list follows (RFC 3977 §5.2). Multi-line.
    CAPABILITIES_FOLLOW = 101, "capability list follows";
    /// 111 server date and time (RFC 3977 §7.1).
    SERVER_DATE = 111, "server date and time";
    /// 200 service available, posting allowed (RFC 3977 §5.1).
    POSTING_ALLOWED = 200, "service available, posting allowed";
    /// 201 service available, posting prohibited (RFC 3977 §5.1).
    POSTING_PROHIBITED = 201, "service available, posting prohibited";
    /// 203 streaming permitted (RFC 4644 §2.3).
    STREAMING_OK = 203, "streaming permitted";
    /// 205 connection closing (RFC 3977 §5.4).
    CLOSING = 205, "connection closing";
    /// 206 compression active (RFC 8054 §2.2).
    COMPRESSION_ACTIVE = 206, "compression active";
    /// 211 group selected (RFC 3977 §6.1.1); multi-line only after LISTGROUP.
    GROUP_SELECTED = 211, "group successfully selected";
    /// 215 information follows (LIST, RFC 3977 §7.6). Multi-line.
    LIST_FOLLOWS = 215, "information follows";
    /// 220 article follows (RFC 3977 §6.2.1). Multi-line.
    ARTICLE_FOLLOWS = 220, "article follows";
    /// 221 headers follow (HEAD, XHDR, XPAT). Multi-line.
    HEAD_FOLLOWS = 221, "article headers follow";
    /// 222 body follows (RFC 3977 §6.2.3). Multi-line.
    BODY_FOLLOWS = 222, "article body follows";
    /// 223 article exists / selected (STAT, LAST, NEXT).
    ARTICLE_EXISTS = 223, "article exists and selected";
    /// 224 overview information follows (OVER, XOVER). Multi-line.
    OVERVIEW_FOLLOWS = 224, "overview information follows";
    /// 225 headers follow (HDR, RFC 3977 §8.5). Multi-line.
    HDR_FOLLOWS = 225, "headers follow";
    /// 230 list of new articles follows (NEWNEWS). Multi-line.
    NEW_ARTICLES_FOLLOW = 230, "list of new articles follows";
    /// 231 list of new newsgroups follows (NEWGROUPS). Multi-line.
    NEW_GROUPS_FOLLOW = 231, "list of new newsgroups follows";
    /// 235 article transferred OK (IHAVE).
    TRANSFER_OK = 235, "article transferred OK";
    /// 238 send article (CHECK, RFC 4644).
    CHECK_SEND = 238, "send article to be transferred";
    /// 239 article transferred OK (TAKETHIS, RFC 4644).
    TAKETHIS_OK = 239, "article transferred OK";
    /// 240 article received OK (POST).
    POST_OK = 240, "article received OK";
    /// 281 authentication accepted (RFC 4643).
    AUTH_ACCEPTED = 281, "authentication accepted";
    /// 282 list of groups and descriptions follows (XGTITLE, RFC 2980). Multi-line.
    GROUP_TITLES_FOLLOW = 282, "list of groups and descriptions follows";
    /// 283 authentication accepted with additional data (RFC 4643 SASL).
    AUTH_ACCEPTED_WITH_DATA = 283, "authentication accepted (with success data)";
    /// 335 send article to be transferred (IHAVE).
    SEND_ARTICLE = 335, "send article to be transferred";
    /// 340 send article to be posted (POST).
    SEND_POST = 340, "send article to be posted";
    /// 381 password required (AUTHINFO USER, RFC 4643).
    PASSWORD_REQUIRED = 381, "password required";
    /// 382 continue with TLS negotiation (STARTTLS, RFC 4642).
    CONTINUE_TLS = 382, "continue with TLS negotiation";
    /// 383 continue with SASL exchange (RFC 4643).
    SASL_CONTINUE = 383, "continue with SASL exchange";
    /// 400 service not available or no longer available.
    SERVICE_UNAVAILABLE = 400, "service not available";
    /// 401 the server is in the wrong mode (RFC 3977 §3.2.1).
    WRONG_MODE = 401, "wrong mode";
    /// 403 internal fault or problem preventing action (also RFC 8054 COMPRESS failure).
    INTERNAL_FAULT = 403, "internal fault";
    /// 411 no such newsgroup.
    NO_SUCH_GROUP = 411, "no such newsgroup";
    /// 412 no newsgroup selected.
    NO_GROUP_SELECTED = 412, "no newsgroup selected";
    /// 420 current article number is invalid.
    NO_CURRENT_ARTICLE = 420, "current article number is invalid";
    /// 421 no next article in this group.
    NO_NEXT_ARTICLE = 421, "no next article in this group";
    /// 422 no previous article in this group.
    NO_PREVIOUS_ARTICLE = 422, "no previous article in this group";
    /// 423 no article with that number or in that range.
    NO_SUCH_ARTICLE_NUMBER = 423, "no article with that number";
    /// 430 no article with that message-id.
    NO_SUCH_ARTICLE_ID = 430, "no article with that message-id";
    /// 431 try sending the article later (CHECK, RFC 4644).
    CHECK_LATER = 431, "try sending it again later";
    /// 435 article not wanted (IHAVE).
    ARTICLE_NOT_WANTED = 435, "article not wanted";
    /// 436 transfer not possible; try again later (IHAVE).
    TRANSFER_NOT_POSSIBLE = 436, "transfer not possible; try again later";
    /// 437 transfer rejected; do not retry (IHAVE).
    TRANSFER_REJECTED = 437, "transfer rejected; do not retry";
    /// 438 article not wanted (CHECK, RFC 4644).
    CHECK_NOT_WANTED = 438, "article not wanted";
    /// 439 transfer rejected; do not retry (TAKETHIS, RFC 4644).
    TAKETHIS_REJECTED = 439, "transfer rejected; do not retry";
    /// 440 posting not permitted.
    POSTING_NOT_PERMITTED = 440, "posting not permitted";
    /// 441 posting failed.
    POSTING_FAILED = 441, "posting failed";
    /// 480 authentication required (RFC 4643).
    AUTH_REQUIRED = 480, "authentication required";
    /// 481 authentication failed or rejected (RFC 4643).
    AUTH_FAILED = 481, "authentication failed/rejected";
    /// 482 authentication commands issued out of sequence (RFC 4643).
    AUTH_OUT_OF_SEQUENCE = 482, "authentication commands issued out of sequence";
    /// 483 command unavailable until suitable privacy has been arranged.
    ENCRYPTION_REQUIRED = 483, "encryption or stronger authentication required";
    /// 500 unknown command.
    UNKNOWN_COMMAND = 500, "unknown command";
    /// 501 syntax error in command.
    SYNTAX_ERROR = 501, "syntax error";
    /// 502 command unavailable / permission denied / service permanently unavailable.
    COMMAND_UNAVAILABLE = 502, "command unavailable";
    /// 503 feature not supported.
    FEATURE_NOT_SUPPORTED = 503, "feature not supported";
    /// 504 error in base64-encoding of an argument (RFC 4643).
    BASE64_ERROR = 504, "error in base64-encoding of an argument";
    /// 580 can not initiate TLS negotiation (RFC 4642).
    TLS_FAILED = 580, "can not initiate TLS negotiation";
}

impl ReplyCode {
    /// A reply code from its numeric value, if it is in 100–599.
    #[must_use]
    pub fn new(value: u16) -> Option<Self> {
        (100..600).contains(&value).then_some(Self(value))
    }

    /// The numeric value.
    #[must_use]
    pub fn get(self) -> u16 {
        self.0
    }

    /// The class of the code (its first digit); `None` outside 100–599.
    #[must_use]
    pub fn class(self) -> Option<ReplyClass> {
        Some(match self.0 / 100 {
            1 => ReplyClass::Informative,
            2 => ReplyClass::Ok,
            3 => ReplyClass::Continue,
            4 => ReplyClass::TransientFailure,
            5 => ReplyClass::PermanentFailure,
            _ => return None,
        })
    }

    /// Whether this code, sent in reply to a command of kind `cmd`, is
    /// followed by a dot-terminated block. `None` means "no command" (the
    /// greeting or an unsolicited reply), which is always single-line.
    #[must_use]
    pub fn is_multiline(self, cmd: Option<CommandKind>) -> bool {
        let Some(cmd) = cmd else { return false };
        match self.0 {
            100 | 101 | 215 | 220 | 221 | 222 | 224 | 225 | 230 | 231 => true,
            211 => cmd == CommandKind::ListGroup,
            282 => cmd == CommandKind::XGTitle,
            _ => false,
        }
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

fn push_code(out: &mut Vec<u8>, code: ReplyCode) {
    let v = code.0.min(999);
    out.extend_from_slice(&[
        b'0' + (v / 100) as u8,
        b'0' + (v / 10 % 10) as u8,
        b'0' + (v % 10) as u8,
    ]);
}

/// Append a single-line reply `code SP text CRLF` to `out`.
///
/// CR, LF and NUL in `text` are replaced by spaces so that the reply is
/// always exactly one line. An empty `text` gives `code CRLF`.
pub fn write_status(out: &mut Vec<u8>, code: ReplyCode, text: &str) {
    push_code(out, code);
    if !text.is_empty() {
        out.push(b' ');
        out.extend(text.bytes().map(|b| {
            if matches!(b, b'\r' | b'\n' | 0) {
                b' '
            } else {
                b
            }
        }));
    }
    out.extend_from_slice(b"\r\n");
}

/// Append a multi-line reply: the status line, then `data` (stored form:
/// CRLF line ends, not dot-stuffed) dot-stuffed and terminated.
///
/// For large articles prefer writing the status line with [`write_status`]
/// and then the slices of [`crate::stuff::Stuffed`] with vectored I/O.
pub fn write_multiline(out: &mut Vec<u8>, code: ReplyCode, text: &str, data: &[u8]) {
    write_status(out, code, text);
    write_stuffed(data, out);
}

/// Append a multi-line reply made of individual lines (without line ends).
/// Each line gets CRLF appended and a leading `.` doubled; CR and LF inside
/// a line are replaced by spaces.
pub fn write_lines<I>(out: &mut Vec<u8>, code: ReplyCode, text: &str, lines: I)
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    write_status(out, code, text);
    for line in lines {
        let line = line.as_ref();
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend(
            line.iter()
                .map(|&b| if matches!(b, b'\r' | b'\n') { b' ' } else { b }),
        );
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_sanitised() {
        let mut v = Vec::new();
        write_status(&mut v, ReplyCode::SYNTAX_ERROR, "bad\r\nthing");
        assert_eq!(v, b"501 bad  thing\r\n");
        v.clear();
        write_status(&mut v, ReplyCode::CLOSING, "");
        assert_eq!(v, b"205\r\n");
    }

    #[test]
    fn lines_are_stuffed() {
        let mut v = Vec::new();
        write_lines(&mut v, ReplyCode::LIST_FOLLOWS, "list", [".a", "b"]);
        assert_eq!(v, b"215 list\r\n..a\r\nb\r\n.\r\n");
    }

    #[test]
    fn multiline_article() {
        let mut v = Vec::new();
        write_multiline(
            &mut v,
            ReplyCode::ARTICLE_FOLLOWS,
            "1 <a@b>",
            b"A: b\r\n\r\n.x",
        );
        assert_eq!(v, b"220 1 <a@b>\r\nA: b\r\n\r\n..x\r\n.\r\n");
    }
}
