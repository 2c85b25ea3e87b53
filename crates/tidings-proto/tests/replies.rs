//! Reply-code constants against the RFCs, multi-line rules, capabilities, HELP.
#![allow(clippy::unwrap_used, missing_docs)]

use tidings_proto::command::CommandKind;
use tidings_proto::reply::{ReplyClass, ReplyCode};
use tidings_proto::table::{COMMANDS, CapabilityState, Role, capability_lines, help_lines};

#[test]
fn reply_code_values() {
    let expected: &[(ReplyCode, u16)] = &[
        // RFC 3977
        (ReplyCode::HELP_FOLLOWS, 100),
        (ReplyCode::CAPABILITIES_FOLLOW, 101),
        (ReplyCode::SERVER_DATE, 111),
        (ReplyCode::POSTING_ALLOWED, 200),
        (ReplyCode::POSTING_PROHIBITED, 201),
        (ReplyCode::CLOSING, 205),
        (ReplyCode::GROUP_SELECTED, 211),
        (ReplyCode::LIST_FOLLOWS, 215),
        (ReplyCode::ARTICLE_FOLLOWS, 220),
        (ReplyCode::HEAD_FOLLOWS, 221),
        (ReplyCode::BODY_FOLLOWS, 222),
        (ReplyCode::ARTICLE_EXISTS, 223),
        (ReplyCode::OVERVIEW_FOLLOWS, 224),
        (ReplyCode::HDR_FOLLOWS, 225),
        (ReplyCode::NEW_ARTICLES_FOLLOW, 230),
        (ReplyCode::NEW_GROUPS_FOLLOW, 231),
        (ReplyCode::TRANSFER_OK, 235),
        (ReplyCode::POST_OK, 240),
        (ReplyCode::SEND_ARTICLE, 335),
        (ReplyCode::SEND_POST, 340),
        (ReplyCode::SERVICE_UNAVAILABLE, 400),
        (ReplyCode::WRONG_MODE, 401),
        (ReplyCode::INTERNAL_FAULT, 403),
        (ReplyCode::NO_SUCH_GROUP, 411),
        (ReplyCode::NO_GROUP_SELECTED, 412),
        (ReplyCode::NO_CURRENT_ARTICLE, 420),
        (ReplyCode::NO_NEXT_ARTICLE, 421),
        (ReplyCode::NO_PREVIOUS_ARTICLE, 422),
        (ReplyCode::NO_SUCH_ARTICLE_NUMBER, 423),
        (ReplyCode::NO_SUCH_ARTICLE_ID, 430),
        (ReplyCode::ARTICLE_NOT_WANTED, 435),
        (ReplyCode::TRANSFER_NOT_POSSIBLE, 436),
        (ReplyCode::TRANSFER_REJECTED, 437),
        (ReplyCode::POSTING_NOT_PERMITTED, 440),
        (ReplyCode::POSTING_FAILED, 441),
        (ReplyCode::ENCRYPTION_REQUIRED, 483),
        (ReplyCode::UNKNOWN_COMMAND, 500),
        (ReplyCode::SYNTAX_ERROR, 501),
        (ReplyCode::COMMAND_UNAVAILABLE, 502),
        (ReplyCode::FEATURE_NOT_SUPPORTED, 503),
        // RFC 4642
        (ReplyCode::CONTINUE_TLS, 382),
        (ReplyCode::TLS_FAILED, 580),
        // RFC 4643
        (ReplyCode::AUTH_ACCEPTED, 281),
        (ReplyCode::AUTH_ACCEPTED_WITH_DATA, 283),
        (ReplyCode::PASSWORD_REQUIRED, 381),
        (ReplyCode::SASL_CONTINUE, 383),
        (ReplyCode::AUTH_REQUIRED, 480),
        (ReplyCode::AUTH_FAILED, 481),
        (ReplyCode::AUTH_OUT_OF_SEQUENCE, 482),
        (ReplyCode::BASE64_ERROR, 504),
        // RFC 4644
        (ReplyCode::STREAMING_OK, 203),
        (ReplyCode::CHECK_SEND, 238),
        (ReplyCode::TAKETHIS_OK, 239),
        (ReplyCode::CHECK_LATER, 431),
        (ReplyCode::CHECK_NOT_WANTED, 438),
        (ReplyCode::TAKETHIS_REJECTED, 439),
        // RFC 8054
        (ReplyCode::COMPRESSION_ACTIVE, 206),
        // RFC 2980 XGTITLE
        (ReplyCode::GROUP_TITLES_FOLLOW, 282),
    ];
    for &(code, value) in expected {
        assert_eq!(code.get(), value, "{:?}", code.name());
        assert!(code.name().is_some() && code.description().is_some());
    }
    // Every named constant is checked above, and ALL is sorted and unique.
    assert_eq!(ReplyCode::ALL.len(), expected.len());
    assert!(ReplyCode::ALL.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(ReplyCode::ARTICLE_FOLLOWS.name(), Some("ARTICLE_FOLLOWS"));
    assert_eq!(ReplyCode(299).name(), None);
    assert_eq!(ReplyCode::SEND_ARTICLE.to_string(), "335");
}

#[test]
fn reply_classes() {
    assert_eq!(
        ReplyCode::HELP_FOLLOWS.class(),
        Some(ReplyClass::Informative)
    );
    assert_eq!(ReplyCode::TRANSFER_OK.class(), Some(ReplyClass::Ok));
    assert_eq!(ReplyCode::SEND_POST.class(), Some(ReplyClass::Continue));
    assert_eq!(
        ReplyCode::AUTH_REQUIRED.class(),
        Some(ReplyClass::TransientFailure)
    );
    assert_eq!(
        ReplyCode::TLS_FAILED.class(),
        Some(ReplyClass::PermanentFailure)
    );
    assert_eq!(ReplyCode::new(99), None);
    assert_eq!(ReplyCode::new(600), None);
}

#[test]
fn multiline_depends_on_command() {
    use CommandKind as K;
    let ml = |c: ReplyCode, k: K| c.is_multiline(Some(k));
    assert!(ml(ReplyCode::GROUP_SELECTED, K::ListGroup));
    assert!(!ml(ReplyCode::GROUP_SELECTED, K::Group));
    assert!(ml(ReplyCode::HELP_FOLLOWS, K::Help));
    assert!(ml(ReplyCode::CAPABILITIES_FOLLOW, K::Capabilities));
    assert!(ml(ReplyCode::LIST_FOLLOWS, K::List));
    assert!(ml(ReplyCode::ARTICLE_FOLLOWS, K::Article));
    assert!(ml(ReplyCode::HEAD_FOLLOWS, K::Head));
    assert!(ml(ReplyCode::HEAD_FOLLOWS, K::XHdr));
    assert!(ml(ReplyCode::HEAD_FOLLOWS, K::XPat));
    assert!(ml(ReplyCode::BODY_FOLLOWS, K::Body));
    assert!(ml(ReplyCode::OVERVIEW_FOLLOWS, K::Over));
    assert!(ml(ReplyCode::OVERVIEW_FOLLOWS, K::XOver));
    assert!(ml(ReplyCode::HDR_FOLLOWS, K::Hdr));
    assert!(ml(ReplyCode::NEW_ARTICLES_FOLLOW, K::NewNews));
    assert!(ml(ReplyCode::NEW_GROUPS_FOLLOW, K::NewGroups));
    assert!(ml(ReplyCode::GROUP_TITLES_FOLLOW, K::XGTitle));
    for c in [
        ReplyCode::ARTICLE_EXISTS,
        ReplyCode::SERVER_DATE,
        ReplyCode::TRANSFER_OK,
        ReplyCode::SEND_ARTICLE,
        ReplyCode::CHECK_SEND,
        ReplyCode::TAKETHIS_OK,
        ReplyCode::NO_SUCH_ARTICLE_ID,
        ReplyCode::SYNTAX_ERROR,
    ] {
        assert!(!ml(c, K::Article), "{c}");
    }
    // The greeting (no command) is single-line.
    assert!(!ReplyCode::LIST_FOLLOWS.is_multiline(None));
}

fn reader_state() -> CapabilityState<'static> {
    CapabilityState {
        reader: true,
        posting: true,
        starttls_offered: true,
        authinfo_user: true,
        sasl_mechanisms: &["PLAIN"],
        compress_offered: true,
        implementation: Some("Tidings 0.1"),
        ..CapabilityState::default()
    }
}

#[test]
fn capabilities_plain_reader() {
    let lines = capability_lines(&reader_state());
    assert_eq!(
        lines,
        vec![
            "VERSION 2",
            "IMPLEMENTATION Tidings 0.1",
            "READER",
            "POST",
            "NEWNEWS",
            "HDR",
            "OVER MSGID",
            "LIST ACTIVE ACTIVE.TIMES COUNTS DISTRIB.PATS DISTRIBUTIONS HEADERS MODERATORS MOTD \
             NEWSGROUPS OVERVIEW.FMT SUBSCRIPTIONS",
            "STARTTLS",
            "AUTHINFO USER SASL",
            "SASL PLAIN",
            "COMPRESS DEFLATE",
        ]
    );
}

#[test]
fn capabilities_after_tls_and_auth() {
    let mut st = reader_state();
    st.tls_active = true;
    let lines = capability_lines(&st);
    assert!(!lines.iter().any(|l| l == "STARTTLS"));
    assert!(lines.iter().any(|l| l == "AUTHINFO USER SASL"));
    st.authenticated = true;
    let lines = capability_lines(&st);
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("AUTHINFO") || l.starts_with("SASL"))
    );
    assert!(!lines.iter().any(|l| l == "STARTTLS"));
}

#[test]
fn capabilities_authinfo_without_user_before_tls() {
    let mut st = reader_state();
    st.authinfo_user = false;
    st.sasl_mechanisms = &[];
    let lines = capability_lines(&st);
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("AUTHINFO") || l.starts_with("SASL"))
    );
    st.sasl_mechanisms = &["EXTERNAL", "SCRAM-SHA-256"];
    let lines = capability_lines(&st);
    assert!(lines.iter().any(|l| l == "AUTHINFO SASL"));
    assert!(lines.iter().any(|l| l == "SASL EXTERNAL SCRAM-SHA-256"));
}

#[test]
fn capabilities_compression() {
    let mut st = reader_state();
    st.compress_active = true;
    let lines = capability_lines(&st);
    assert!(!lines.iter().any(|l| l.starts_with("COMPRESS")));
    // No TLS after compression (RFC 8054).
    assert!(!lines.iter().any(|l| l == "STARTTLS"));
    st.compress_active = false;
    st.compress_offered = false;
    assert!(
        !capability_lines(&st)
            .iter()
            .any(|l| l.starts_with("COMPRESS"))
    );
}

#[test]
fn capabilities_transit_and_mode_reader() {
    let st = CapabilityState {
        transit: true,
        mode_reader_needed: true,
        posting: true,
        ..CapabilityState::default()
    };
    let lines = capability_lines(&st);
    assert_eq!(
        lines,
        vec!["VERSION 2", "MODE-READER", "IHAVE", "STREAMING"]
    );
    let st = CapabilityState {
        transit: true,
        ..CapabilityState::default()
    };
    assert_eq!(
        capability_lines(&st),
        vec!["VERSION 2", "IHAVE", "STREAMING"]
    );
    let st = CapabilityState {
        reader: true,
        posting: false,
        ..CapabilityState::default()
    };
    let lines = capability_lines(&st);
    assert!(lines.iter().any(|l| l == "READER"));
    assert!(
        !lines
            .iter()
            .any(|l| l == "POST" || l == "IHAVE" || l == "STREAMING")
    );
}

#[test]
fn help_follows_roles() {
    let reader = help_lines(&CapabilityState {
        reader: true,
        ..CapabilityState::default()
    });
    let transit = help_lines(&CapabilityState {
        transit: true,
        ..CapabilityState::default()
    });
    assert!(reader.iter().any(|l| l.contains("GROUP group")));
    assert!(!reader.iter().any(|l| l.contains("TAKETHIS")));
    assert!(transit.iter().any(|l| l.contains("TAKETHIS message-id")));
    assert!(!transit.iter().any(|l| l.contains("GROUP group")));
    assert!(transit.iter().any(|l| l.contains("QUIT")));
    let both = COMMANDS.iter().filter(|s| s.role == Role::Both).count();
    assert!(both >= 5);
}

#[test]
fn table_rows_have_docs() {
    for s in COMMANDS {
        assert!(!s.help.is_empty() && !s.synopsis.is_empty(), "{}", s.name);
        assert_eq!(s.name, s.name.to_ascii_uppercase());
    }
}
