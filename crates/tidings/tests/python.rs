//! Python's nntplib (tests/python/reader.py) against the real daemon: plain, STARTTLS with
//! login, and NNTPS.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::Path;
use std::process::Command;

use common::Daemon;

fn python_with_nntplib() -> Option<String> {
    for py in ["python3.11", "python3"] {
        let ok = Command::new(py)
            .args(["-W", "ignore", "-c", "import nntplib"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(py.to_owned());
        }
    }
    None
}

#[test]
fn nntplib_plain_starttls_and_nntps() {
    let Some(py) = python_with_nntplib() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with nntplib is required in CI"
        );
        eprintln!("note: no python3 with nntplib here; skipping");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start(tmp.path(), "");
    let (ok, out, err) = d.admin(&["user", "add", "pyuser", "--password-stdin"], "pypass\n");
    assert!(ok, "{out}{err}");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/reader.py");
    let plain = d.addr("starttls").port().to_string();
    let tls = d.addr("implicit").port().to_string();
    let out = Command::new(&py)
        .arg("-W")
        .arg("ignore")
        .arg(&script)
        .args(["127.0.0.1", &plain, &tls, "pyuser", "pypass"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "nntplib script failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver:\n{}",
        d.stderr()
    );
}
