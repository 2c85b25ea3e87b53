//! Every configuration file in `config/` parses, both as written and with its commented-out
//! example keys enabled, so that the examples cannot drift from the code.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

fn check(path: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["config", "check"])
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Turns `# key = value` and `# [table]` lines into live ones (prose comments stay).
fn uncomment(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let live = line.strip_prefix("# ").filter(|rest| {
            rest.starts_with('[')
                || rest.split_once('=').is_some_and(|(k, _)| {
                    let k = k.trim();
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                })
        });
        out.push_str(live.unwrap_or(line));
        out.push('\n');
    }
    out
}

#[test]
fn every_example_parses() {
    let mut seen = 0;
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(config_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        seen += 1;
        let (ok, out) = check(&path);
        assert!(ok, "{}: {out}", path.display());
        let text = std::fs::read_to_string(&path).unwrap();
        let live = uncomment(&text);
        if live != text {
            let copy = tmp.path().join(path.file_name().unwrap());
            std::fs::write(&copy, &live).unwrap();
            let (ok, out) = check(&copy);
            assert!(
                ok,
                "{} with its examples enabled: {out}\n{live}",
                path.display()
            );
        }
    }
    assert!(seen >= 2, "no example files found in config/");
}

#[test]
fn check_reports_every_error_with_its_path() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.toml");
    std::fs::write(
        &path,
        r#"
[node]
data_dir = "d"
colour = "blue"

[[listen]]
addr = "127.0.0.1:1119"

[[listen]]
addr = "127.0.0.1:1563"
tls = "tls"

[limits]
max_connections = "many"
"#,
    )
    .unwrap();
    let (ok, out) = check(&path);
    assert!(!ok, "{out}");
    assert!(out.contains("node.colour: unknown field"), "{out}");
    assert!(
        out.contains(
            "listen[1].tls: unknown variant \"tls\", expected one of none, starttls, implicit"
        ),
        "{out}"
    );
    assert!(
        out.contains("limits.max_connections: invalid type"),
        "{out}"
    );
    assert!(out.contains("3 error(s)"), "{out}");
}

#[test]
fn serve_refuses_a_bad_file_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.toml");
    std::fs::write(&path, "[[listen]]\naddr = \"nowhere\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["serve", "--config"])
        .arg(&path)
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen[0].addr"), "{err}");
}
