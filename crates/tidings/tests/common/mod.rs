//! Shared harness of the end-to-end tests: the real `tidings` binary on a temporary data
//! directory with ephemeral loopback ports, and a small NNTP client (plain, STARTTLS, NNTPS).
#![allow(clippy::unwrap_used, missing_docs, dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tidings_net::Stream;
use tidings_net::tls::{self, ServerTrust};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader as TokioBufReader};

/// Bounded wait for everything in these tests.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tidings")
}

/// A running daemon.
pub struct Daemon {
    pub child: Option<Child>,
    pub dir: PathBuf,
    pub data_dir: PathBuf,
    pub config: PathBuf,
    /// (mode, address) as printed at start.
    pub listeners: Vec<(String, SocketAddr)>,
    pub stdout: Vec<String>,
}

/// The default test configuration: a STARTTLS port, an NNTPS port and a plain IPv6 port, all
/// on ephemeral loopback ports, plus `extra` TOML.
pub fn test_config(data_dir: &Path, extra: &str) -> String {
    format!(
        r#"
[node]
data_dir = "{}"
pathhost = "test.tidings.invalid"

[store]
durable = false

[[listen]]
addr = "127.0.0.1:0"
tls = "starttls"

[[listen]]
addr = "127.0.0.1:0"
tls = "implicit"

[[listen]]
addr = "[::1]:0"
tls = "none"
auth_requires_tls = false

{extra}
"#,
        data_dir.display()
    )
}

impl Daemon {
    /// Writes the test configuration into `dir` and starts the daemon.
    pub fn start(dir: &Path, extra: &str) -> Daemon {
        let data_dir = dir.join("data");
        let config = dir.join("tidings.toml");
        std::fs::write(&config, test_config(&data_dir, extra)).unwrap();
        Self::spawn(
            dir,
            data_dir,
            config.clone(),
            &["serve", "--config", config.to_str().unwrap()],
        )
    }

    /// Starts `tidings ARGS` in `dir` and waits for its `ready` line.
    pub fn spawn(dir: &Path, data_dir: PathBuf, config: PathBuf, args: &[&str]) -> Daemon {
        let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let mut child = Command::new(bin())
            .args(args)
            .current_dir(dir)
            .env("RUST_LOG", "info,tidings=debug,tidings_reader=debug")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut d = Daemon {
            child: Some(child),
            dir: dir.to_owned(),
            data_dir,
            config,
            listeners: Vec::new(),
            stdout: Vec::new(),
        };
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => panic!(
                    "daemon did not print ready; stdout {:?}; stderr:\n{}",
                    d.stdout,
                    d.stderr()
                ),
            };
            if let Some(rest) = line.strip_prefix("listening on ") {
                let mut parts = rest.split_whitespace();
                let addr: SocketAddr = parts.next().unwrap().parse().unwrap();
                let mode = parts.next().unwrap().trim_matches(['(', ')']).to_owned();
                d.listeners.push((mode, addr));
            }
            let ready = line == "ready";
            d.stdout.push(line);
            if ready {
                break;
            }
        }
        d
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// The address of the first listener with this mode (`none`, `starttls`, `implicit`).
    pub fn addr(&self, mode: &str) -> SocketAddr {
        self.listeners
            .iter()
            .find(|(m, _)| m == mode)
            .unwrap_or_else(|| panic!("no {mode} listener in {:?}", self.listeners))
            .1
    }

    /// Runs `tidings --config CONFIG ARGS` with `stdin`; returns (success, stdout, stderr).
    pub fn admin(&self, args: &[&str], stdin: &str) -> (bool, String, String) {
        admin(&self.config, args, stdin)
    }

    /// SIGTERM, then waits (bounded) for the exit; returns whether it exited successfully.
    pub fn stop(&mut self) -> bool {
        if self.child.is_none() {
            return true;
        }
        self.signal("TERM");
        match self.wait_exit(WAIT) {
            Some(status) => status.success(),
            None => {
                if let Some(mut child) = self.child.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                false
            }
        }
    }

    /// Waits (bounded by `limit`) for the process to exit; its exit status, `None` if it is
    /// still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Sends a signal by name (`HUP`, ...).
    pub fn signal(&self, sig: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args([&format!("-{sig}"), &child.id().to_string()])
                .status();
        }
    }

    /// The server certificate's pin.
    pub fn trust(&self) -> ServerTrust {
        let certs = tls::load_certs(&self.data_dir.join("cert.pem")).unwrap();
        ServerTrust::Pinned(vec![tidings_net::Fingerprint::of_der(&certs[0])])
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `tidings --config CONFIG ARGS` with `stdin`; returns (success, stdout, stderr).
pub fn admin(config: &Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A line-based NNTP client over any [`Stream`].
pub struct Client {
    io: TokioBufReader<Stream>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let s = Stream::connect(addr, WAIT).await.unwrap();
        Client {
            io: TokioBufReader::new(s),
        }
    }

    pub async fn connect_tls(addr: SocketAddr, trust: &ServerTrust) -> Client {
        let tcp = tokio::time::timeout(WAIT, tokio::net::TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        let connector = tls::connector(trust, None).unwrap();
        let s = Stream::connect_tls(
            tcp,
            &connector,
            tls::server_name("localhost").unwrap(),
            WAIT,
        )
        .await
        .unwrap();
        Client {
            io: TokioBufReader::new(s),
        }
    }

    /// STARTTLS (the caller has read the greeting): sends it, expects 382, upgrades.
    pub async fn starttls(self, trust: &ServerTrust) -> Client {
        let mut me = self;
        let r = me.cmd("STARTTLS").await;
        assert!(r.starts_with("382"), "{r}");
        assert!(me.io.buffer().is_empty());
        let stream = me.io.into_inner();
        let connector = tls::connector(trust, None).unwrap();
        let up = stream
            .starttls_client(
                Vec::new(),
                &connector,
                tls::server_name("localhost").unwrap(),
                WAIT,
            )
            .await
            .unwrap();
        Client {
            io: TokioBufReader::new(up.stream),
        }
    }

    pub fn is_tls(&self) -> bool {
        self.io.get_ref().is_tls()
    }

    /// One line without its CRLF (empty at end of file).
    pub async fn line(&mut self) -> String {
        let mut buf = Vec::new();
        tokio::time::timeout(WAIT, self.io.read_until(b'\n', &mut buf))
            .await
            .expect("server reply timed out")
            .unwrap();
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    pub async fn send(&mut self, data: &str) {
        let s = self.io.get_mut();
        s.write_all(data.as_bytes()).await.unwrap();
        s.flush().await.unwrap();
    }

    /// Sends a command line, returns the status line.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n")).await;
        self.line().await
    }

    /// Reads a dot-terminated block (un-stuffed).
    pub async fn block(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.line().await;
            if l == "." {
                return out;
            }
            out.push(l.strip_prefix('.').map(str::to_owned).unwrap_or(l));
        }
    }

    /// POSTs an article (lines without CRLF); returns the final status line.
    pub async fn post(&mut self, article: &[&str]) -> String {
        let r = self.cmd("POST").await;
        assert!(r.starts_with("340"), "POST: {r}");
        let mut text = String::new();
        for l in article {
            if l.starts_with('.') {
                text.push('.');
            }
            text.push_str(l);
            text.push_str("\r\n");
        }
        text.push_str(".\r\n");
        self.send(&text).await;
        self.line().await
    }
}

/// Waits (bounded) until `f` is true.
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
