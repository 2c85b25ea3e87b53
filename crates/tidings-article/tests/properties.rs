#![allow(clippy::unwrap_used, missing_docs)]
//! Cross-module properties: arbitrary input never panics, generated articles validate,
//! raw bytes are preserved.

use proptest::prelude::*;
use tidings_article::{
    GroupName, Headers, MessageId, Overview, Path, ValidationError, Xref, format_date, format_xref,
    fuzz, parse_date, prepend_header, remove_header, set_header, validate_injection,
    validate_transit,
};

fn build_article(
    subject: &[u8],
    hosts: &[String],
    groups: &[String],
    t: i64,
    id: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut a = Vec::new();
    a.extend_from_slice(format!("Path: {}!not-for-mail\r\n", hosts.join("!")).as_bytes());
    a.extend_from_slice(b"From: Someone <someone@example.org>\r\n");
    a.extend_from_slice(format!("Newsgroups: {}\r\n", groups.join(",")).as_bytes());
    a.extend_from_slice(b"Subject: ");
    a.extend_from_slice(subject);
    a.extend_from_slice(b"\r\n");
    a.extend_from_slice(format!("Date: {}\r\n", format_date(t)).as_bytes());
    a.extend_from_slice(format!("Message-ID: {id}\r\n").as_bytes());
    let locs: Vec<(&str, u64)> = groups.iter().map(|g| (g.as_str(), 7)).collect();
    a.extend_from_slice(format!("Xref: {}\r\n", format_xref("me.example", &locs)).as_bytes());
    a.extend_from_slice(b"\r\n");
    a.extend_from_slice(body);
    a
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        fuzz::header_parser(&data);
    }

    #[test]
    fn header_like_bytes_never_panic(
        lines in proptest::collection::vec("[ \tA-Za-z:<>@!.,0-9-]{0,30}", 0..12),
        eol in prop_oneof![Just("\r\n"), Just("\n"), Just("\r")],
    ) {
        let data = lines.join(eol);
        fuzz::header_parser(data.as_bytes());
        if let Ok(h) = Headers::parse(data.as_bytes()) {
            // Raw fields + separator + body always reassemble the input.
            let mut again: Vec<u8> = h.iter().flat_map(|f| f.raw().to_vec()).collect();
            again.extend_from_slice(&data.as_bytes()[again.len()..h.body_offset()]);
            again.extend_from_slice(h.body());
            prop_assert_eq!(again, data.as_bytes().to_vec());
        }
    }

    #[test]
    fn generated_articles_validate(
        subject in proptest::collection::vec(32u8..=255, 0..60),
        hosts in proptest::collection::vec("[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}", 1..16),
        groups in proptest::collection::vec("[a-z]{1,8}(\\.[a-z0-9]{1,8}){0,3}", 1..5),
        t in 0i64..7_258_118_400,
        left in "[a-z0-9]{1,12}", right in "[a-z]{1,10}\\.[a-z]{2,4}",
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let id = format!("<{left}@{right}>");
        let art = build_article(&subject, &hosts, &groups, t, &id, &body);
        let h = Headers::parse(&art).unwrap();
        prop_assert_eq!(validate_transit(&h), Ok(()));
        prop_assert_eq!(validate_injection(&h), Err(ValidationError::NotAllowedInPost("Xref")));
        let posted = remove_header(&art, "Xref").unwrap();
        prop_assert_eq!(validate_injection(&Headers::parse(&posted).unwrap()), Ok(()));
        prop_assert_eq!(h.body(), &body[..]);
        prop_assert_eq!(parse_date(h.get("date").unwrap()), Ok(t));
        let parsed_id = MessageId::parse_bytes(h.get("message-id").unwrap()).unwrap();
        prop_assert_eq!(parsed_id.as_str(), id.as_str());
        let path = Path::parse(h.get("path").unwrap()).unwrap();
        prop_assert!(path.contains(&hosts[0]));
        let x = Xref::parse(h.get("xref").unwrap()).unwrap();
        prop_assert_eq!(x.locations.len(), groups.len());
        let o = Overview::from_headers(&h);
        prop_assert_eq!(o.bytes, art.len() as u64);
        prop_assert_eq!(Overview::parse_line(&o.to_line()).unwrap(), o);

        // Relay: prepend our pathhost, keep everything else byte-exact.
        let new_path = path.prepend("relay.example");
        let relayed = set_header(&art, "Path", new_path.as_bytes()).unwrap();
        let h2 = Headers::parse(&relayed).unwrap();
        prop_assert_eq!(h2.get("Path").unwrap(), new_path.as_bytes());
        let after_first_line = |a: &[u8]| a[a.iter().position(|&b| b == b'\n').unwrap() + 1..].to_vec();
        prop_assert_eq!(after_first_line(&relayed), after_first_line(&art));
        let injected = prepend_header(&art, "Injection-Info", b"me.example").unwrap();
        prop_assert_eq!(validate_injection(&Headers::parse(&injected).unwrap()), Err(ValidationError::AlreadyInjected));
        for g in &groups {
            prop_assert!(GroupName::parse(g).is_ok());
        }
    }
}

#[test]
fn realistic_usenet_article() {
    let art: &[u8] = b"Path: news.tidings.example!news.hub1.example!!feeder.a.example!.POSTED.198.51.100.7!not-for-mail\r\n\
From: =?ISO-8859-1?Q?J=F6rg?= <joerg@example.de>\r\n\
Newsgroups: de.test\r\n\
Subject: Gr\xfc\xdfe (Latin-1, raw)\r\n\
Date: Mon, 3 Jan 00 12:00 EST\r\n\
Message-ID: <3.1.32.20000103120000.00a1b2c0@example.de>\r\n\
X-No-Archive: yes\r\n\
\r\n\
=ybegin line=128 size=3 name=x.bin\r\n\x00\xff\xfe\r\n=yend size=3\r\n";
    let h = Headers::parse(art).unwrap();
    assert_eq!(validate_transit(&h), Ok(()));
    assert_eq!(
        parse_date(h.get("Date").unwrap()),
        parse_date(b"3 Jan 2000 17:00:00 +0000")
    );
    let o = Overview::from_headers(&h);
    assert_eq!(o.lines, 3);
    assert_eq!(o.subject, b"Gr\xfc\xdfe (Latin-1, raw)");
}
