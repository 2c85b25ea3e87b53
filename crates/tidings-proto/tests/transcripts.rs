//! Runs the transcript files in `tests/transcripts/` (format in the README there).
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

use tidings_proto::command::parse;

fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            match b.get(i + 1) {
                Some(b't') => out.push(b'\t'),
                Some(b'r') => out.push(b'\r'),
                Some(b'n') => out.push(b'\n'),
                Some(b'\\') => out.push(b'\\'),
                Some(b'x') => {
                    let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                other => panic!("bad escape {other:?} in {s:?}"),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn run_file(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut client: Option<(usize, Vec<u8>)> = None;
    let mut checked = 0;
    for (n, raw) in text.lines().enumerate() {
        let lineno = n + 1;
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        if let Some(c) = raw.strip_prefix("C: ") {
            assert!(
                client.is_none(),
                "{name}:{lineno}: C: without expectation before it"
            );
            client = Some((lineno, unescape(c)));
        } else if let Some(expect) = raw.strip_prefix("P: ") {
            let (cl, line) = client
                .take()
                .unwrap_or_else(|| panic!("{name}:{lineno}: P: without C:"));
            let cmd = parse(&line).unwrap_or_else(|e| {
                panic!(
                    "{name}:{cl}: {:?} should parse, got {e:?}",
                    String::from_utf8_lossy(&line)
                )
            });
            let mut enc = Vec::new();
            cmd.encode(&mut enc);
            let expect = unescape(expect);
            let want = [&expect[..], b"\r\n"].concat();
            assert_eq!(
                String::from_utf8_lossy(&enc),
                String::from_utf8_lossy(&want),
                "{name}:{cl}: canonical encoding"
            );
            assert_eq!(
                parse(&expect),
                Ok(cmd),
                "{name}:{lineno}: canonical form re-parses"
            );
            checked += 1;
        } else if let Some(expect) = raw.strip_prefix("S: ") {
            let (cl, line) = client
                .take()
                .unwrap_or_else(|| panic!("{name}:{lineno}: S: without C:"));
            let code: u16 = expect
                .get(..3)
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("{name}:{lineno}: S: needs a three-digit code"));
            match parse(&line) {
                Ok(cmd) => panic!(
                    "{name}:{cl}: {:?} should fail with {code}, parsed as {cmd:?}",
                    String::from_utf8_lossy(&line)
                ),
                Err(e) => assert_eq!(e.reply_code().get(), code, "{name}:{cl}: {e:?}"),
            }
            checked += 1;
        } else {
            panic!("{name}:{lineno}: unrecognised line {raw:?}");
        }
    }
    assert!(client.is_none(), "{name}: trailing C: without expectation");
    checked
}

#[test]
fn transcripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "transcript files missing");
    let total: usize = files.iter().map(|f| run_file(f)).sum();
    assert!(total >= 200, "only {total} transcript cases");
}
