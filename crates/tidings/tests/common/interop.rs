//! Helpers of the interop and mesh tests: a byte-exact blocking NNTP client that can pipeline,
//! deterministic test articles, the "byte for byte" comparison, free ports, private INN
//! instances (scripts/inn-instance.sh) behind a Drop guard, and the feeders' counters from a
//! daemon's log.
//!
//! "Byte for byte" here means: the header fields other than `Path` and `Xref` (each server
//! prepends its pathhost to Path and writes its own Xref), in order, with their raw bytes
//! (folding included), and the body, exactly. Path is checked separately: it must end with the
//! Path the article was injected with.
#![allow(clippy::unwrap_used, missing_docs, dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Bounded wait for feeds to deliver.
pub const FEED_WAIT: Duration = Duration::from_secs(120);

/// A free loopback port chosen by the kernel (the listener is closed again, so a daemon can
/// bind it a moment later). See [`free_port_on`].
pub fn free_port() -> u16 {
    free_port_on("127.0.0.1:0")
}

/// A free port on `addr` (`127.0.0.1:0` or `[::1]:0`), claimed for this test run.
///
/// Tests run in parallel processes, and a port the kernel hands to one of them, which closes
/// it again until its daemon starts, can be handed to another a moment later: two nodes of
/// different tests then share a port and one test's feeder delivers to the other test's node.
/// So ports are taken outside the kernel's ephemeral range (which the daemons listening on
/// port 0 draw from), checked free by binding them, and claimed with a file created
/// atomically in a shared directory; a port another process has claimed (in the last ten
/// minutes) is skipped.
pub fn free_port_on(addr: &str) -> u16 {
    let dir = std::env::temp_dir().join("tidings-test-ports");
    let _ = std::fs::create_dir_all(&dir);
    let ip: std::net::IpAddr = addr
        .rsplit_once(':')
        .map(|(h, _)| h.trim_matches(['[', ']']))
        .and_then(|h| h.parse().ok())
        .expect("free_port_on wants IP:PORT");
    let (lo, hi) = outside_ephemeral();
    let span = u32::from(hi - lo) + 1;
    let seed = std::process::id().wrapping_mul(2_654_435_761)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
    for i in 0..span.min(5000) {
        let port = lo + u16::try_from((seed.wrapping_add(i.wrapping_mul(7919))) % span).unwrap();
        if TcpListener::bind(SocketAddr::new(ip, port)).is_err() {
            continue;
        }
        let claim = dir.join(port.to_string());
        if std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&claim)
            .is_ok()
        {
            return port;
        }
        let stale = std::fs::metadata(&claim)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(600));
        if stale {
            let _ = std::fs::remove_file(&claim);
        }
    }
    panic!("no unclaimed port on {addr}");
}

/// A port range the kernel does not hand out for port 0: below its ephemeral range (or above
/// it, if the range starts low).
fn outside_ephemeral() -> (u16, u16) {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok();
    let (lo, hi) = range
        .as_deref()
        .and_then(|r| {
            let mut it = r.split_whitespace().map(|v| v.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999));
    if lo >= 12_000 {
        (10_000, lo - 1)
    } else if hi <= 63_000 {
        (hi + 1, 65_000)
    } else {
        (10_000, 11_999)
    }
}

/// A blocking, byte-exact NNTP client. Large pipelined batches are written from a thread so
/// that neither side can block the other.
pub struct Raw {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.set_nodelay(true).unwrap();
        let w = s.try_clone().unwrap();
        Raw {
            r: BufReader::new(s),
            w,
        }
    }

    /// Connects and reads the greeting, which must be 200 or 201.
    pub fn open(addr: SocketAddr) -> Raw {
        let mut c = Raw::connect(addr);
        let g = c.line_str();
        assert!(g.starts_with("200") || g.starts_with("201"), "{addr}: {g}");
        c
    }

    /// One line without its CRLF.
    pub fn line(&mut self) -> Vec<u8> {
        let mut buf = Vec::new();
        self.r.read_until(b'\n', &mut buf).unwrap();
        assert!(!buf.is_empty(), "connection closed");
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        buf
    }

    pub fn line_str(&mut self) -> String {
        String::from_utf8_lossy(&self.line()).into_owned()
    }

    pub fn send(&mut self, data: &[u8]) {
        self.w.write_all(data).unwrap();
    }

    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.line_str()
    }

    /// Writes `data` from a thread; join the handle after reading the replies.
    pub fn send_async(&mut self, data: Vec<u8>) -> std::thread::JoinHandle<()> {
        let mut w = self.w.try_clone().unwrap();
        std::thread::spawn(move || w.write_all(&data).unwrap())
    }

    /// A dot-terminated block, un-stuffed, every line ending in CRLF.
    pub fn block(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let mut buf = Vec::new();
            self.r.read_until(b'\n', &mut buf).unwrap();
            assert!(!buf.is_empty(), "connection closed in a block");
            if buf == b".\r\n" {
                return out;
            }
            let l = if buf.first() == Some(&b'.') {
                &buf[1..]
            } else {
                &buf[..]
            };
            out.extend_from_slice(l);
        }
    }

    /// `GROUP g` count (0 when the group is missing).
    pub fn group_count(&mut self, group: &str) -> u64 {
        let r = self.cmd(&format!("GROUP {group}"));
        if !r.starts_with("211 ") {
            return 0;
        }
        r.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Fetches every id with pipelined ARTICLE; `None` for an id the server does not have.
    pub fn articles(&mut self, ids: &[String]) -> Vec<Option<Vec<u8>>> {
        let mut batch = Vec::new();
        for id in ids {
            batch.extend_from_slice(format!("ARTICLE {id}\r\n").as_bytes());
        }
        let h = self.send_async(batch);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let r = self.line_str();
            if r.starts_with("220") {
                out.push(Some(self.block()));
            } else {
                assert!(r.starts_with("430"), "ARTICLE {id}: {r}");
                out.push(None);
            }
        }
        h.join().unwrap();
        out
    }

    /// Pipelined STAT: how many of `ids` the server has.
    pub fn stat_count(&mut self, ids: &[String]) -> usize {
        let mut batch = Vec::new();
        for id in ids {
            batch.extend_from_slice(format!("STAT {id}\r\n").as_bytes());
        }
        let h = self.send_async(batch);
        let mut n = 0;
        for _ in ids {
            if self.line_str().starts_with("223") {
                n += 1;
            }
        }
        h.join().unwrap();
        n
    }

    /// Streams articles (wire form, not stuffed) with MODE STREAM and TAKETHIS; returns the
    /// number acknowledged with 239.
    pub fn takethis_all(&mut self, arts: &[(String, Vec<u8>)]) -> usize {
        let r = self.cmd("MODE STREAM");
        assert!(r.starts_with("203"), "MODE STREAM: {r}");
        let mut batch = Vec::new();
        for (id, art) in arts {
            batch.extend_from_slice(format!("TAKETHIS {id}\r\n").as_bytes());
            batch.extend_from_slice(&stuff(art));
        }
        let h = self.send_async(batch);
        let mut ok = 0;
        for (id, _) in arts {
            let r = self.line_str();
            if r.starts_with("239") {
                ok += 1;
            } else {
                eprintln!("TAKETHIS {id}: {r}");
            }
        }
        h.join().unwrap();
        ok
    }
}

/// Dot-stuffs an article and appends the terminating line.
pub fn stuff(art: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(art.len() + 16);
    let mut start = true;
    for &b in art {
        if start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        start = b == b'\n';
    }
    out.extend_from_slice(b".\r\n");
    out
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A unique tag for message-ids of one test run.
pub fn run_tag(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{what}.{}.{}.{nanos}", now_secs(), std::process::id())
}

pub fn message_id(tag: &str, i: usize) -> String {
    format!("<{i}.{tag}@interop.example>")
}

/// A deterministic test article in wire form (CRLF, not stuffed): varied sizes (a few hundred
/// bytes to about 70 KB), dot lines, 8-bit bytes, long lines, and now and then a folded header.
pub fn article(tag: &str, i: usize, group: &str, path: &str) -> (String, Vec<u8>) {
    let id = message_id(tag, i);
    let date = tidings_article::format_date(i64::try_from(now_secs()).unwrap());
    let mut a = Vec::new();
    let mut h = |s: String| {
        a.extend_from_slice(s.as_bytes());
        a.extend_from_slice(b"\r\n");
    };
    h(format!("Path: {path}"));
    h("From: Interop Tester <tester@interop.example>".to_owned());
    h(format!("Newsgroups: {group}"));
    h(format!("Subject: interop article {i} of {tag}"));
    h(format!("Date: {date}"));
    h(format!("Message-ID: {id}"));
    if i.is_multiple_of(7) {
        h(format!("X-Folded: first part {i}\r\n\tsecond part"));
    }
    h(format!("X-Interop-Seq: {i}"));
    a.extend_from_slice(b"\r\n");
    let lines = 3 + (i * 37) % 100 + if i.is_multiple_of(97) { 600 } else { 0 };
    for l in 0..lines {
        match l % 11 {
            0 => a.extend_from_slice(b".leading dot"),
            1 => a.extend_from_slice(b"..two dots"),
            2 => a.extend_from_slice(b"caf\xe9 8-bit \xff\xfe bytes"),
            3 => {}
            4 => a.extend_from_slice(&[b'x'; 900]),
            _ => a.extend_from_slice(format!("line {l} of article {i} {tag}").as_bytes()),
        }
        a.extend_from_slice(b"\r\n");
    }
    (id, a)
}

/// Splits an article into its header fields (raw bytes, each with its CRLF and folding) and body.
pub fn fields_and_body(art: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let end = art
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(art.len(), |p| p + 2);
    let (head, body) = art.split_at(end);
    let mut fields: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    while pos < head.len() {
        let eol = head[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(head.len(), |p| pos + p + 1);
        if pos > start && !matches!(head[pos], b' ' | b'\t') {
            fields.push(&head[start..pos]);
            start = pos;
        }
        pos = eol;
    }
    if start < head.len() {
        fields.push(&head[start..]);
    }
    (fields, body)
}

fn field_is(f: &[u8], name: &str) -> bool {
    f.len() > name.len()
        && f[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        && f[name.len()] == b':'
}

/// The Path value of an article.
pub fn path_of(art: &[u8]) -> String {
    let (fields, _) = fields_and_body(art);
    let f = fields.iter().find(|f| field_is(f, "Path")).unwrap();
    String::from_utf8_lossy(&f[5..]).trim().to_owned()
}

/// Checks the "byte for byte" rule (module docs); `Err` says what differs.
pub fn same_article(sent: &[u8], got: &[u8]) -> Result<(), String> {
    let keep = |a: &'_ [u8]| -> (Vec<Vec<u8>>, Vec<u8>) {
        let (fields, body) = fields_and_body(a);
        let f = fields
            .into_iter()
            .filter(|f| !field_is(f, "Path") && !field_is(f, "Xref"))
            .map(<[u8]>::to_vec)
            .collect();
        (f, body.to_vec())
    };
    let (fs, bs) = keep(sent);
    let (fg, bg) = keep(got);
    if fs != fg {
        return Err(format!(
            "headers differ:\nsent {:?}\ngot  {:?}",
            fs.iter()
                .map(|f| String::from_utf8_lossy(f))
                .collect::<Vec<_>>(),
            fg.iter()
                .map(|f| String::from_utf8_lossy(f))
                .collect::<Vec<_>>()
        ));
    }
    if bs != bg {
        let at = bs.iter().zip(&bg).position(|(a, b)| a != b);
        return Err(format!(
            "bodies differ: sent {} bytes, got {} bytes, first difference at {at:?}",
            bs.len(),
            bg.len()
        ));
    }
    let (ps, pg) = (path_of(sent), path_of(got));
    if !pg.ends_with(&ps) {
        return Err(format!("Path {pg:?} does not end with {ps:?}"));
    }
    Ok(())
}

/// Waits (bounded by `FEED_WAIT`) until `f` returns true; panics with `what` and `info()`.
pub fn poll_until(what: &str, mut f: impl FnMut() -> bool, info: impl Fn() -> String) {
    let deadline = Instant::now() + FEED_WAIT;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            info()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The counters of the last "feed stopped" log line of `peer` in a daemon's stderr:
/// (offered, accepted, refused, rejected, queued).
pub fn feed_stopped(stderr: &str, peer: &str) -> Option<[u64; 5]> {
    let want = format!("peer={peer} ");
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains("feed stopped") && l.contains(&want))?;
    let get = |k: &str| -> u64 {
        let key = format!(" {k}=");
        let at = line.find(&key).unwrap() + key.len();
        line[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    Some([
        get("offered"),
        get("accepted"),
        get("refused"),
        get("rejected"),
        get("queued"),
    ])
}

/// INN's binaries (Debian's inn2 package).
pub const INND: &str = "/usr/lib/news/bin/innd";

/// Whether INN is installed. Without it the test fails when `CI` is set, and is skipped (with a
/// note) otherwise.
pub fn inn_available(test: &str) -> bool {
    if Path::new(INND).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: INN 2.7 is not installed ({INND} missing) and CI is set"
    );
    eprintln!("{test}: skipped, INN 2.7 is not installed ({INND} missing)");
    false
}

fn inn_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/inn-instance.sh")
}

/// A private INN instance; stopped on drop.
pub struct Inn {
    pub dir: PathBuf,
    pub port: u16,
}

impl Inn {
    /// `scripts/inn-instance.sh start DIR PORT ARGS`; `dir`'s parents must be traversable by
    /// the news user (see [`news_readable_tempdir`]).
    pub fn start(dir: &Path, port: u16, args: &[&str]) -> Inn {
        let guard = Inn {
            dir: dir.to_owned(),
            port,
        };
        let out = Command::new("bash")
            .arg(inn_script())
            .arg("start")
            .arg(dir)
            .arg(port.to_string())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "inn-instance start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        guard
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// A reader connection (MODE READER done).
    pub fn reader(&self) -> Raw {
        let mut c = Raw::open(self.addr());
        let r = c.cmd("MODE READER");
        assert!(r.starts_with("200") || r.starts_with("201"), "{r}");
        c
    }

    /// innfeed's status file (per-peer offered/accepted/refused...), for failure messages.
    pub fn status(&self) -> String {
        let mut s = String::new();
        for f in [
            "log/innfeed.status",
            "log/errlog",
            "log/innd.out",
            "log/news.notice",
        ] {
            if let Ok(mut file) = std::fs::File::open(self.dir.join(f)) {
                let mut t = String::new();
                let _ = file.read_to_string(&mut t);
                // the end of long logs
                let from = t.len().saturating_sub(8_000);
                let from = (from..t.len())
                    .find(|&i| t.is_char_boundary(i))
                    .unwrap_or(0);
                s.push_str(&format!("--- {f}\n{}\n", &t[from..]));
            }
        }
        s
    }
}

impl Drop for Inn {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(inn_script())
            .arg("stop")
            .arg(&self.dir)
            .output();
    }
}

/// A temporary directory the news user can enter (INN drops root privileges to news).
pub fn news_readable_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    t
}
