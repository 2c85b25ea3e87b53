//! Fuzzing entry points (used by `fuzz/fuzz_targets/header_parser.rs`).

use crate::cancel_lock;
use crate::date::{format_date, parse_date, parse_nntp_date};
use crate::edit;
use crate::group::parse_newsgroups;
use crate::headers::Headers;
use crate::msgid::MessageId;
use crate::overview::Overview;
use crate::path::Path;
use crate::validate::{validate_injection, validate_transit};
use crate::wildmat::Wildmat;
use crate::xref::Xref;

/// Runs every parser of the crate over `data` (and over each header value in it).
/// Must never panic, whatever the input.
pub fn header_parser(data: &[u8]) {
    if let Ok(h) = Headers::parse(data) {
        let _ = validate_transit(&h);
        let _ = validate_injection(&h);
        let o = Overview::from_headers(&h);
        let _ = Overview::parse_line(&o.to_line());
        for f in h.iter() {
            let v = f.unfolded();
            let _ = parse_date(&v);
            let _ = MessageId::parse_bytes(&v);
            let _ = Path::parse(&v).map(|p| p.prepend("fuzz"));
            let _ = Xref::parse(&v);
            let _ = parse_newsgroups(&v);
            let _ = cancel_lock::parse_elements(&v);
            let _ = cancel_lock::verify(&v, &v);
        }
        let _ = edit::set_header(data, "Path", b"fuzz!x");
        let _ = edit::remove_header(data, "Subject");
        let _ = edit::append_header(data, "Xref", b"fuzz a:1");
    }
    let _ = Overview::parse_line(data);
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(w) = Wildmat::parse(s) {
            let _ = w.matches(s);
            let _ = w.matches_groups(&[s, "misc.test"]);
        }
        let mut parts = s.split(' ');
        if let (Some(d), Some(t)) = (parts.next(), parts.next()) {
            let _ = parse_nntp_date(d, t, 1_800_000_000);
        }
    }
    if data.len() >= 8 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&data[..8]);
        let _ = format_date(i64::from_le_bytes(b) % 300_000_000_000);
    }
}
