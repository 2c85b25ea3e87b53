//! Property tests: command round trips, stuffing round trips, chunked decoding.
#![allow(clippy::unwrap_used, missing_docs)]

use proptest::prelude::*;
use tidings_proto::block::{BlockDecoder, BlockError, BlockStep};
use tidings_proto::client::Response;
use tidings_proto::command::{
    ArticleRange, ArticleRef, Command, CommandKind, HeadersForm, ListKind, MAX_ARTICLE_NUMBER,
    MessageId, NewsDateTime, RangeOrId, parse,
};
use tidings_proto::fuzz::{BlockEvent, drive_blocks, drive_lines, drive_responses};
use tidings_proto::reply::{ReplyCode, write_multiline, write_status};
use tidings_proto::stuff::write_stuffed;

fn number() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..1000, 0..=MAX_ARTICLE_NUMBER]
}

fn msgid() -> impl Strategy<Value = MessageId> {
    "<[!-=?-~]{1,60}>".prop_map(|s| MessageId::new(&s).unwrap())
}

fn range() -> impl Strategy<Value = ArticleRange> {
    prop_oneof![
        number().prop_map(ArticleRange::Single),
        number().prop_map(ArticleRange::From),
        (number(), number()).prop_map(|(a, b)| ArticleRange::Between(a, b)),
    ]
}

fn art_ref() -> impl Strategy<Value = Option<ArticleRef>> {
    prop::option::of(prop_oneof![
        number().prop_map(ArticleRef::Number),
        msgid().prop_map(ArticleRef::MessageId),
    ])
}

fn roi() -> impl Strategy<Value = RangeOrId> {
    prop_oneof![
        range().prop_map(RangeOrId::Range),
        msgid().prop_map(RangeOrId::MessageId)
    ]
}

fn group() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.+_-]{0,30}(\u{e9}|\u{4e2d})?"
}

fn wildmat() -> impl Strategy<Value = String> {
    "[!-~]{1,30}"
}

fn keyword() -> impl Strategy<Value = String> {
    "[A-Z][A-Z0-9.-]{0,12}"
}

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z][A-Za-z0-9-]{0,20}",
        Just(":bytes".to_owned()),
        Just(":lines".to_owned())
    ]
}

fn datetime() -> impl Strategy<Value = NewsDateTime> {
    (
        any::<bool>(),
        0u32..10000,
        1u32..=12,
        1u32..=31,
        0u32..24,
        0u32..60,
        0u32..61,
        any::<bool>(),
    )
        .prop_map(|(long, y, mo, d, h, mi, s, gmt)| {
            let date = if long {
                format!("{y:04}{mo:02}{d:02}")
            } else {
                format!("{:02}{mo:02}{d:02}", y % 100)
            };
            NewsDateTime::new(&date, &format!("{h:02}{mi:02}{s:02}"), gmt).unwrap()
        })
}

fn list_kind() -> impl Strategy<Value = ListKind> {
    let w = || prop::option::of(wildmat());
    prop_oneof![
        w().prop_map(ListKind::Active),
        w().prop_map(ListKind::ActiveTimes),
        w().prop_map(ListKind::Newsgroups),
        Just(ListKind::OverviewFmt),
        prop::option::of(prop_oneof![
            Just(HeadersForm::MsgId),
            Just(HeadersForm::Range)
        ])
        .prop_map(ListKind::Headers),
        Just(ListKind::DistribPats),
        Just(ListKind::Distributions),
        w().prop_map(ListKind::Subscriptions),
        w().prop_map(ListKind::Counts),
        Just(ListKind::Moderators),
        Just(ListKind::Motd),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    let simple = prop_oneof![
        prop::option::of(keyword()).prop_map(Command::Capabilities),
        Just(Command::ModeReader),
        Just(Command::ModeStream),
        Just(Command::Quit),
        Just(Command::Last),
        Just(Command::Next),
        Just(Command::Post),
        Just(Command::Date),
        Just(Command::Help),
        Just(Command::StartTls),
    ];
    let reader = prop_oneof![
        group().prop_map(Command::Group),
        prop::option::of((group(), prop::option::of(range()))).prop_map(Command::ListGroup),
        art_ref().prop_map(Command::Article),
        art_ref().prop_map(Command::Head),
        art_ref().prop_map(Command::Body),
        art_ref().prop_map(Command::Stat),
        datetime().prop_map(Command::NewGroups),
        (wildmat(), datetime()).prop_map(|(wildmat, since)| Command::NewNews { wildmat, since }),
        list_kind().prop_map(Command::List),
        prop::option::of(roi()).prop_map(Command::Over),
        (field(), prop::option::of(roi()))
            .prop_map(|(field, target)| Command::Hdr { field, target }),
    ];
    let other = prop_oneof![
        msgid().prop_map(Command::Ihave),
        msgid().prop_map(Command::Check),
        msgid().prop_map(Command::TakeThis),
        // a user name has no trailing blanks (they are not part of it)
        "[!-~]([ -~]{0,29}[!-~])?".prop_map(Command::AuthinfoUser),
        "[!-~][ -~]{0,30}".prop_map(Command::AuthinfoPass),
        (keyword(), prop::option::of("[A-Za-z0-9+/=]{1,40}"))
            .prop_map(|(mechanism, initial)| Command::AuthinfoSasl { mechanism, initial }),
        keyword().prop_map(Command::Compress),
        prop::option::of(range()).prop_map(Command::XOver),
        (field(), prop::option::of(roi()))
            .prop_map(|(field, target)| Command::XHdr { field, target }),
        (field(), roi(), prop::collection::vec(wildmat(), 1..4)).prop_map(
            |(field, target, patterns)| Command::XPat {
                field,
                target,
                patterns
            }
        ),
        prop::option::of(wildmat()).prop_map(Command::XGTitle),
    ];
    prop_oneof![simple, reader, other]
}

/// Bytes biased towards the interesting ones for dot-stuffing.
fn stuffy_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            3 => any::<u8>(),
            2 => Just(b'.'),
            2 => Just(b'\r'),
            2 => Just(b'\n'),
        ],
        0..max,
    )
}

fn chunks() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..40, 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn command_round_trip(cmd in command()) {
        let mut enc = Vec::new();
        cmd.encode(&mut enc);
        prop_assert!(enc.ends_with(b"\r\n"));
        prop_assert_eq!(parse(&enc[..enc.len() - 2]), Ok(cmd.clone()));
        prop_assert_eq!(cmd.kind(), parse(&enc[..enc.len() - 2]).unwrap().kind());
    }

    #[test]
    fn command_round_trip_through_line_decoder(cmds in prop::collection::vec(command(), 1..6), ch in chunks()) {
        let mut wire = Vec::new();
        for c in &cmds {
            c.encode(&mut wire);
        }
        let (events, left) = drive_lines(&wire, 4096, &ch);
        prop_assert_eq!(left, 0);
        prop_assert_eq!(events.len(), cmds.len());
        for (ev, c) in events.iter().zip(&cmds) {
            match ev {
                tidings_proto::fuzz::LineEvent::Line(l) => prop_assert_eq!(&parse(l).unwrap(), c),
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }

    #[test]
    fn unstuff_stuff_is_identity(body in stuffy_bytes(600), ch in chunks()) {
        let mut wire = Vec::new();
        write_stuffed(&body, &mut wire);
        let mut expected = body.clone();
        if !expected.is_empty() && !expected.ends_with(b"\r\n") {
            expected.extend_from_slice(b"\r\n");
        }
        // One piece.
        let step = BlockDecoder::new(usize::MAX).decode(&wire).unwrap();
        prop_assert_eq!(step, BlockStep::Done { consumed: wire.len(), block: expected.clone() });
        // Random chunks.
        let (events, left) = drive_blocks(&wire, usize::MAX, &ch);
        prop_assert_eq!(left, 0);
        prop_assert_eq!(events, vec![BlockEvent::Block(expected)]);
    }

    #[test]
    fn block_chunked_equals_whole(wire in stuffy_bytes(800), ch in chunks(), limit in prop_oneof![Just(usize::MAX), 0usize..200]) {
        let whole = drive_blocks(&wire, limit, &[wire.len().max(1)]);
        let chunked = drive_blocks(&wire, limit, &ch);
        prop_assert_eq!(whole, chunked);
    }

    #[test]
    fn block_limit_holds(body in stuffy_bytes(400), limit in 0usize..300, trailer in stuffy_bytes(20)) {
        let mut wire = Vec::new();
        write_stuffed(&body, &mut wire);
        let content_len = if body.is_empty() || body.ends_with(b"\r\n") { body.len() } else { body.len() + 2 };
        let wire_len = wire.len();
        wire.extend_from_slice(&trailer);
        match BlockDecoder::new(limit).decode(&wire) {
            Ok(BlockStep::Done { consumed, block }) => {
                prop_assert!(content_len <= limit);
                prop_assert_eq!(consumed, wire_len);
                prop_assert_eq!(block.len(), content_len);
            }
            Err(BlockError::TooLarge { consumed, discarded, .. }) => {
                prop_assert!(content_len > limit);
                prop_assert_eq!(consumed, wire_len);
                prop_assert_eq!(discarded, wire_len);
            }
            Ok(BlockStep::NeedMore { .. }) => prop_assert!(false, "terminator not found"),
        }
    }

    #[test]
    fn lines_chunked_equals_whole(data in stuffy_bytes(800), ch in chunks(), limit in 3usize..100) {
        let whole = drive_lines(&data, limit, &[data.len().max(1)]);
        let chunked = drive_lines(&data, limit, &ch);
        prop_assert_eq!(whole, chunked);
    }

    #[test]
    fn responses_pipelined(
        replies in prop::collection::vec((0usize..6, stuffy_bytes(200), "[ -~]{0,20}"), 1..8),
        ch in chunks(),
    ) {
        // (kind, code) pairs, multi-line where the kind makes it so.
        let table = [
            (CommandKind::Group, ReplyCode::GROUP_SELECTED, false),
            (CommandKind::ListGroup, ReplyCode::GROUP_SELECTED, true),
            (CommandKind::Article, ReplyCode::ARTICLE_FOLLOWS, true),
            (CommandKind::Stat, ReplyCode::ARTICLE_EXISTS, false),
            (CommandKind::List, ReplyCode::LIST_FOLLOWS, true),
            (CommandKind::XGTitle, ReplyCode::GROUP_TITLES_FOLLOW, true),
        ];
        let mut wire = Vec::new();
        let mut kinds = Vec::new();
        let mut expected = Vec::new();
        for (i, body, text) in &replies {
            let (kind, code, multi) = table[*i];
            kinds.push(kind);
            if multi {
                write_multiline(&mut wire, code, text, body);
                let mut b = body.clone();
                if !b.is_empty() && !b.ends_with(b"\r\n") {
                    b.extend_from_slice(b"\r\n");
                }
                let fits = b.len() <= 4096;
                expected.push(if fits {
                    Ok(Response { code, text: text.clone(), block: Some(b) })
                } else {
                    Err("too large")
                });
            } else {
                write_status(&mut wire, code, text);
                expected.push(Ok(Response { code, text: text.clone(), block: None }));
            }
        }
        let got = drive_responses(&wire, &kinds, &ch);
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn parser_never_panics(line in prop::collection::vec(any::<u8>(), 0..100)) {
        match parse(&line) {
            Ok(cmd) => {
                let mut enc = Vec::new();
                cmd.encode(&mut enc);
                prop_assert_eq!(parse(&enc[..enc.len() - 2]), Ok(cmd));
            }
            Err(e) => prop_assert!(matches!(e.reply_code().get(), 500 | 501)),
        }
    }

    #[test]
    fn fuzz_entry_points_hold(data in stuffy_bytes(300)) {
        tidings_proto::fuzz::command_decoder(&data);
        tidings_proto::fuzz::block_decoder(&data);
    }
}
