//! Admin commands (`tidings group ...`, `tidings user ...`) and the control socket.
//!
//! The store's index (redb) can be open in one process only. So an admin command first tries
//! the running server's control socket, `<data_dir>/control.sock` (a Unix socket, mode 0600);
//! when no server answers there, it opens the store itself.
//!
//! The control protocol is line based. The client sends one request line: fields separated by
//! TAB, the first being the operation (`group-add NAME FLAG DESCRIPTION`, `group-rm NAME`,
//! `group-set NAME FLAG|- +DESCRIPTION|-`, `group-list`, `user-add NAME PHC`, `user-rm NAME`,
//! `user-list`, `feed-status`, `cancel ID`, `check`, `expire`, `ping`). The server answers
//! with zero or more data lines, each starting with `+ `, then one final line: `ok`, or
//! `error ` and a message. Passwords never cross the socket: `user add` hashes on the client
//! side and sends the PHC string.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use tidings_feed::outbound::FeedStatus;
use tidings_store::{GroupStatus, Store};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use crate::users;

/// The control socket of a data directory.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control.sock")
}

/// One admin operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Add a group.
    GroupAdd {
        /// Name.
        name: String,
        /// `y`, `n` or `m`.
        flag: String,
        /// Description (for LIST NEWSGROUPS).
        description: String,
    },
    /// Remove a group and its articles' filings.
    GroupRm {
        /// Name.
        name: String,
    },
    /// List the groups.
    GroupList,
    /// Add or replace a user.
    UserAdd {
        /// Name.
        name: String,
        /// argon2 PHC string.
        phc: String,
    },
    /// Remove a user.
    UserRm {
        /// Name.
        name: String,
    },
    /// List the users.
    UserList,
    /// Change a group's status and/or description.
    GroupSet {
        /// Name.
        name: String,
        /// New status flag (`y`, `n`, `m`, `x` or `=other.group`), if changed.
        flag: Option<String>,
        /// New description, if changed.
        description: Option<String>,
    },
    /// Cancel an article (as `ctlinnd cancel`): removed, its id remembered as rejected.
    Cancel {
        /// Message-ID.
        id: String,
    },
    /// Verify the store: every spool record's checksums, history against overview.
    Check,
    /// Run an expiry pass now with the configured policy.
    Expire,
    /// The outbound feeds: counters and queue depth per peer.
    FeedStatus,
    /// Is the server there?
    Ping,
}

/// The last line of a `check` whose store has problems (the CLI exits 1 on it).
pub const CHECK_FAILED: &str = "FAILED";

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl Request {
    /// The request line (without its newline).
    pub fn encode(&self) -> String {
        match self {
            Request::GroupAdd {
                name,
                flag,
                description,
            } => format!(
                "group-add\t{}\t{}\t{}",
                clean(name),
                clean(flag),
                clean(description)
            ),
            Request::GroupRm { name } => format!("group-rm\t{}", clean(name)),
            Request::GroupList => "group-list".into(),
            Request::UserAdd { name, phc } => format!("user-add\t{}\t{}", clean(name), clean(phc)),
            Request::UserRm { name } => format!("user-rm\t{}", clean(name)),
            Request::UserList => "user-list".into(),
            Request::GroupSet {
                name,
                flag,
                description,
            } => format!(
                "group-set\t{}\t{}\t{}",
                clean(name),
                flag.as_deref().map_or_else(|| "-".to_owned(), clean),
                description
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), |d| format!("+{}", clean(d)))
            ),
            Request::Cancel { id } => format!("cancel\t{}", clean(id)),
            Request::Check => "check".into(),
            Request::Expire => "expire".into(),
            Request::FeedStatus => "feed-status".into(),
            Request::Ping => "ping".into(),
        }
    }

    /// Parses a request line.
    pub fn decode(line: &str) -> Result<Request> {
        let f: Vec<&str> = line.trim_end_matches(['\r', '\n']).split('\t').collect();
        let s = |i: usize| f.get(i).map(|s| (*s).to_owned()).unwrap_or_default();
        Ok(match (f[0], f.len()) {
            ("group-add", 4) => Request::GroupAdd {
                name: s(1),
                flag: s(2),
                description: s(3),
            },
            ("group-rm", 2) => Request::GroupRm { name: s(1) },
            ("group-list", 1) => Request::GroupList,
            ("user-add", 3) => Request::UserAdd {
                name: s(1),
                phc: s(2),
            },
            ("user-rm", 2) => Request::UserRm { name: s(1) },
            ("user-list", 1) => Request::UserList,
            ("group-set", 4) => Request::GroupSet {
                name: s(1),
                flag: Some(s(2)).filter(|f| f != "-"),
                description: s(3).strip_prefix('+').map(str::to_owned),
            },
            ("cancel", 2) => Request::Cancel { id: s(1) },
            ("check", 1) => Request::Check,
            ("expire", 1) => Request::Expire,
            ("feed-status", 1) => Request::FeedStatus,
            ("ping", 1) => Request::Ping,
            _ => bail!("unknown request {:?}", f[0]),
        })
    }
}

fn now() -> i64 {
    crate::unix_now()
}

/// True if the request needs the store (all but the user requests and ping).
pub fn needs_store(req: &Request) -> bool {
    !matches!(
        req,
        Request::UserAdd { .. } | Request::UserRm { .. } | Request::UserList | Request::Ping
    )
}

fn parse_status(flag: &str) -> Result<GroupStatus> {
    let status = GroupStatus::from_flag(flag)
        .ok_or_else(|| anyhow!("bad status {flag:?} (expected y, n, m, x or =other.group)"))?;
    if let GroupStatus::Alias(target) = &status
        && tidings_article::group::check_group_name(target.as_bytes()).is_err()
    {
        bail!("bad alias target {target:?}");
    }
    Ok(status)
}

fn check_lines(r: &tidings_store::CheckReport) -> Vec<String> {
    let mut lines = vec![format!(
        "records={} bad_records={} articles={} overview_rows={} problems={}",
        r.records, r.bad_records, r.articles, r.overview_rows, r.problem_count
    )];
    lines.extend(r.problems.iter().map(|p| format!("problem: {p}")));
    if r.problem_count > r.problems.len() as u64 {
        lines.push(format!(
            "({} more problems not listed)",
            r.problem_count - r.problems.len() as u64
        ));
    }
    lines.push(if r.problem_count == 0 && r.bad_records == 0 {
        "ok".to_owned()
    } else {
        CHECK_FAILED.to_owned()
    });
    lines
}

fn expire_lines(p: &tidings_store::ExpireProgress) -> Vec<String> {
    let mut lines = vec![format!(
        "examined={} removed_rows={} removed_articles={} forgotten_rejects={} segments_dropped={} segments_compacted={} records_moved={} history_compacted={}",
        p.examined,
        p.removed_rows,
        p.removed_articles,
        p.forgotten_rejects,
        p.segments_dropped,
        p.segments_compacted,
        p.records_moved,
        p.history_compacted
    )];
    lines.extend(p.problems.iter().map(|x| format!("problem: {x}")));
    lines
}

/// What a request runs against: the store (group requests; queue depths when the server is
/// stopped), the running feeders (feed status) and the users file.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    /// The open store.
    pub store: Option<&'a Store>,
    /// The expiry policy (from the configuration).
    pub expire: &'a tidings_store::ExpirePolicy,
    /// The running server's feeders; `None` when the server is stopped.
    pub feeds: Option<&'a FeedStatus>,
    /// The users file.
    pub users_file: &'a Path,
}

/// One line of `feed status`: the counters, the queue depth, the connections up (of those
/// configured) and the last connection failure with its age.
fn feed_line(r: &tidings_feed::outbound::FeedReport, now: i64) -> String {
    let (s, c) = (&r.counters, &r.counters.counts);
    let mut line = format!(
        "{} offered={} accepted={} refused={} rejected={} deferred={} missing={} bytes={} queued={} up={}/{}",
        r.peer,
        c.offered,
        c.accepted,
        c.refused,
        c.rejected,
        c.deferred,
        s.missing,
        c.bytes,
        s.queued,
        s.up,
        r.connections
    );
    if let Some((at, what)) = &r.last_error {
        line.push_str(&format!(
            " last_error=\"{}\" ({}s ago)",
            what.replace('"', "'"),
            now.saturating_sub(*at)
        ));
    }
    line
}

/// Runs a request; returns the data lines.
pub fn execute(req: &Request, target: Target<'_>) -> Result<Vec<String>> {
    let store = || {
        target
            .store
            .ok_or_else(|| anyhow!("internal: no store for a group request"))
    };
    let users_file = target.users_file;
    match req {
        Request::GroupAdd {
            name,
            flag,
            description,
        } => {
            let status = match flag.as_str() {
                "y" => GroupStatus::Posting,
                "n" => GroupStatus::NoPosting,
                "m" => GroupStatus::Moderated,
                _ => bail!("bad status {flag:?} (expected y, n or m)"),
            };
            store()?
                .add_group(name, status, now(), "tidings-admin", description)
                .with_context(|| format!("adding group {name}"))?;
            Ok(vec![format!("added group {name}")])
        }
        Request::GroupRm { name } => {
            store()?
                .remove_group(name, now())
                .with_context(|| format!("removing group {name}"))?;
            Ok(vec![format!("removed group {name}")])
        }
        Request::GroupSet {
            name,
            flag,
            description,
        } => {
            let status = flag.as_deref().map(parse_status).transpose()?;
            if status.is_none() && description.is_none() {
                bail!("nothing to change (give --status and/or --description)");
            }
            let g = store()?
                .change_group(name, status, description.as_deref())
                .with_context(|| format!("changing group {name}"))?;
            Ok(vec![
                format!(
                    "changed group {name}: {} {}",
                    g.status.as_flag(),
                    g.description
                )
                .trim_end()
                .to_owned(),
            ])
        }
        Request::Cancel { id } => {
            if tidings_article::MessageId::parse(id).is_err() {
                bail!("bad message-id {id:?}");
            }
            let was_here = store()?
                .cancel(id, now())
                .with_context(|| format!("cancelling {id}"))?;
            Ok(vec![if was_here {
                format!("cancelled {id}")
            } else {
                format!("{id} is not stored here; remembered as rejected")
            }])
        }
        Request::Check => Ok(check_lines(
            &store()?.check(|_| {}).context("checking the store")?,
        )),
        Request::Expire => {
            // Slices of 1,000 entries: the writer (articles arriving meanwhile) gets the
            // store between them.
            let p = store()?
                .expire_all(target.expire, now(), crate::serve::EXPIRE_SLICE, usize::MAX)
                .context("expiring")?;
            Ok(expire_lines(&p))
        }
        Request::GroupList => {
            let groups = store()?.list_groups(|_| true).context("listing groups")?;
            Ok(groups
                .iter()
                .map(|g| {
                    format!(
                        "{} {} {} {} {}",
                        g.name,
                        g.status.as_flag(),
                        g.low,
                        g.high,
                        g.description
                    )
                    .trim_end()
                    .to_owned()
                })
                .collect())
        }
        Request::UserAdd { name, phc } => {
            let replaced = users::add_hashed(users_file, name, phc)?;
            Ok(vec![if replaced {
                format!("changed user {name}")
            } else {
                format!("added user {name}")
            }])
        }
        Request::UserRm { name } => {
            users::remove(users_file, name)?;
            Ok(vec![format!("removed user {name}")])
        }
        Request::UserList => users::list(users_file),
        Request::FeedStatus => match target.feeds {
            Some(feeds) => Ok(feeds
                .snapshot()
                .context("reading the feed queues")?
                .iter()
                .map(|r| feed_line(r, now()))
                .collect()),
            None => {
                let mut lines = vec!["server not running: queue depths only".to_owned()];
                for (name, n) in store()?.queue_peers().context("reading the feed queues")? {
                    lines.push(format!("{name} queued={n}"));
                }
                Ok(lines)
            }
        },
        Request::Ping => Ok(vec!["pong".into()]),
    }
}

/// Sends a request to a running server. `Ok(None)`: no server listens on the socket.
pub fn send(socket: &Path, req: &Request) -> Result<Option<Vec<String>>> {
    let mut conn = match UnixStream::connect(socket) {
        Ok(c) => c,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e).with_context(|| format!("connecting to {}", socket.display())),
    };
    // A check reads the whole spool and an expiry pass may take long on a big store: the
    // server answers when done, so those wait as long as it takes.
    let patience = match req {
        Request::Check | Request::Expire => None,
        _ => Some(Duration::from_secs(300)),
    };
    conn.set_read_timeout(patience)?;
    conn.write_all(format!("{}\n", req.encode()).as_bytes())
        .context("writing to the control socket")?;
    let mut lines = Vec::new();
    for line in BufReader::new(conn).lines() {
        let line = line.context("reading from the control socket")?;
        if let Some(data) = line.strip_prefix("+ ") {
            lines.push(data.to_owned());
        } else if line == "ok" {
            return Ok(Some(lines));
        } else if let Some(msg) = line.strip_prefix("error ") {
            bail!("{msg}");
        } else {
            bail!("unexpected reply from the server: {line:?}");
        }
    }
    Err(anyhow!("the server closed the control connection early"))
}

/// Runs a request on the server if it runs, else directly on the data directory.
pub fn run(cfg: &crate::config::Config, req: &Request) -> Result<Vec<String>> {
    let data_dir = &cfg.node.data_dir;
    if let Some(lines) = send(&socket_path(data_dir), req)? {
        return Ok(lines);
    }
    let users_file = users::users_path(data_dir);
    let policy = cfg.expire.policy();
    let mut target = Target {
        store: None,
        expire: &policy,
        feeds: None,
        users_file: &users_file,
    };
    if !needs_store(req) {
        return execute(req, target);
    }
    let store = crate::serve::open_existing_store(cfg)?;
    target.store = Some(&store);
    let out = execute(req, target);
    store.close().context("closing the store")?;
    out
}

/// `tidings rebuild`: rebuilds the index from the spool; refuses while a server runs.
pub fn rebuild(cfg: &crate::config::Config) -> Result<Vec<String>> {
    let data_dir = &cfg.node.data_dir;
    if send(&socket_path(data_dir), &Request::Ping)?.is_some() {
        bail!(
            "the server is running on {}: stop it first",
            data_dir.display()
        );
    }
    let dir = crate::serve::store_dir(data_dir);
    if !dir.join("spool").is_dir() {
        bail!("no spool in {}: nothing to rebuild", dir.display());
    }
    let store_cfg = crate::serve::store_config(cfg);
    let mut last = std::time::Instant::now();
    let r = Store::rebuild(&dir, &store_cfg, |p| {
        if last.elapsed() >= Duration::from_secs(5) {
            last = std::time::Instant::now();
            tracing::info!(progress = ?p, "rebuilding");
        }
    })
    .map_err(|e| crate::serve::store_error(e, "rebuilding", &dir))?;
    let mut lines = vec![format!(
        "records={} indexed={} bad_records={} groups_kept={} groups_created={}",
        r.records, r.indexed, r.bad_records, r.groups_kept, r.groups_created
    )];
    lines.extend(r.problems.iter().map(|p| format!("problem: {p}")));
    Ok(lines)
}

/// Serves the control socket until `shutdown` fires. The socket file is removed at the end.
pub async fn serve_control(
    listener: tokio::net::UnixListener,
    path: PathBuf,
    store: Arc<Store>,
    feeds: Option<FeedStatus>,
    expire: Arc<tidings_store::ExpirePolicy>,
    users_file: PathBuf,
    mut shutdown: tidings_net::ShutdownSignal,
) {
    loop {
        let conn = tokio::select! {
            () = shutdown.wait() => break,
            c = listener.accept() => c,
        };
        let (conn, _) = match conn {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "control socket accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let store = Arc::clone(&store);
        let feeds = feeds.clone();
        let expire = Arc::clone(&expire);
        let users_file = users_file.clone();
        tokio::spawn(async move {
            let (read, mut write) = conn.into_split();
            let mut reader =
                tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(read, 64 * 1024));
            let mut line = String::new();
            let read =
                tokio::time::timeout(Duration::from_secs(30), reader.read_line(&mut line)).await;
            let reply = match read {
                Ok(Ok(n)) if n > 0 => match Request::decode(&line) {
                    Ok(req) => {
                        tracing::info!(request = %req.encode().split('\t').next().unwrap_or(""), "control request");
                        tokio::task::spawn_blocking(move || {
                            execute(
                                &req,
                                Target {
                                    store: Some(&store),
                                    expire: &expire,
                                    feeds: feeds.as_ref(),
                                    users_file: &users_file,
                                },
                            )
                        })
                        .await
                        .unwrap_or_else(|e| Err(anyhow!("control task failed: {e}")))
                    }
                    Err(e) => Err(e),
                },
                _ => return,
            };
            let mut out = String::new();
            match reply {
                Ok(lines) => {
                    for l in lines {
                        out.push_str("+ ");
                        out.push_str(&clean(&l));
                        out.push('\n');
                    }
                    out.push_str("ok\n");
                }
                Err(e) => {
                    out.push_str("error ");
                    out.push_str(&clean(&format!("{e:#}")));
                    out.push('\n');
                }
            }
            let _ = write.write_all(out.as_bytes()).await;
            let _ = write.shutdown().await;
        });
    }
    let _ = std::fs::remove_file(&path);
}
