//! POST: checks, injection (RFC 5537 §3.5), cancels with Cancel-Lock, moderation queue.

use std::hash::{BuildHasher, Hasher};
use std::io::Write as _;
use std::path::Path;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tidings_article::edit::{append_header, prepend_header, remove_header, set_header};
use tidings_article::{Headers, Overview, cancel_lock, format_date, parse_newsgroups};
use tidings_store::writer::OwnedArticle;
use tidings_store::{GroupStatus, Lookup, Part, RefuseReason, StoreOutcome};

use crate::session::{Session, blocking};

static SALT: LazyLock<u64> = LazyLock::new(|| {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
});
static COUNTER: AtomicU64 = AtomicU64::new(0);

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// A fresh message-id `<unique@pathhost>`.
pub(crate) fn unique_id(pathhost: &str, now: i64) -> String {
    let c = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "<{}.{}.{}@{}>",
        base36(u64::try_from(now).unwrap_or(0)),
        base36(c),
        base36(*SALT & 0xffff_ffff_ffff),
        pathhost
    )
}

/// How far ahead of the server's clock a posted article's Date may be (RFC 5537 §3.5).
const MAX_FUTURE_SECS: i64 = 24 * 3600;

fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// What kind of control message an article is.
enum Control {
    None,
    Cancel(String),
    Other(String),
}

fn control_of(h: &Headers<'_>) -> Control {
    let Some(v) = h.get_unfolded("Control") else {
        return Control::None;
    };
    let v = lossy(&v);
    let mut words = v.split_whitespace();
    match (words.next(), words.next()) {
        (Some(verb), Some(id)) if verb.eq_ignore_ascii_case("cancel") => {
            Control::Cancel(id.to_owned())
        }
        (Some(verb), _) => Control::Other(verb.to_ascii_lowercase()),
        (None, _) => Control::None,
    }
}

fn edit<E: std::fmt::Display>(r: Result<Vec<u8>, E>) -> Result<Vec<u8>, String> {
    r.map_err(|e| format!("Malformed headers: {e}"))
}

/// Handles a received article; `Ok(text)` for `240`, `Err(text)` for `441`.
pub(crate) async fn process(s: &mut Session, mut article: Vec<u8>) -> Result<String, String> {
    let svc = std::sync::Arc::clone(&s.svc);
    let now = (svc.clock)();
    let suggested = s.suggested_id.take();
    let Some(grant) = s.grant.clone() else {
        return Err("Posting not permitted".to_owned());
    };

    // A bare LF followed by '.' would be served as a line "." to clients that split lines
    // on LF, ending the response early (see `tidings_article::bare_lf_dot`).
    if let Some(at) = tidings_article::bare_lf_dot(&article) {
        return Err(format!(
            "Bare LF followed by '.' in article (at octet {at}); lines must end with CRLF"
        ));
    }
    let (has_sep, empty) = {
        let h = Headers::parse(&article).map_err(|e| format!("Malformed headers: {e}"))?;
        (h.has_separator(), h.is_empty())
    };
    if empty {
        return Err("Article has no headers".to_owned());
    }
    if !has_sep {
        if !article.ends_with(b"\r\n") {
            article.extend_from_slice(b"\r\n");
        }
        article.extend_from_slice(b"\r\n");
    }
    let h = Headers::parse(&article).map_err(|e| format!("Malformed headers: {e}"))?;
    // Refuses headers only servers add (Xref, Injection-Info), as INN does.
    tidings_article::validate_injection(&h).map_err(|e| e.to_string())?;

    // Newsgroups: groups not carried here (or not readable by this client) are skipped, as
    // INN does, so that a crosspost to a group carried elsewhere goes through; every carried
    // group must be postable by this client.
    let ng = h.get_unfolded("Newsgroups").unwrap_or_default();
    let groups = parse_newsgroups(&ng).map_err(|e| format!("Bad Newsgroups: {e}"))?;
    let mut here = Vec::new();
    let mut moderated = Vec::new();
    for g in &groups {
        let name = g.as_str();
        let info = if grant.can_read(name) {
            svc.store
                .group(name)
                .map_err(|_| "Storage error; try again later".to_owned())?
        } else {
            None
        };
        let Some(info) = info else {
            continue;
        };
        match info.status {
            GroupStatus::NoPosting | GroupStatus::Disabled => {
                return Err(format!(
                    "Posting to {name} is not allowed (the group is read-only)"
                ));
            }
            GroupStatus::Moderated => moderated.push(name.to_owned()),
            GroupStatus::Posting | GroupStatus::Alias(_) => {}
        }
        if !grant.can_post(name) {
            return Err(format!("You are not allowed to post to {name}"));
        }
        here.push(name.to_owned());
    }
    if here.is_empty() {
        return Err(match groups.as_slice() {
            [one] => format!("Unknown newsgroup {}: it is not carried here", one.as_str()),
            _ => "No valid newsgroups: none of them is carried here".to_owned(),
        });
    }

    // Message-ID: the poster's, when unique and valid, else ours.
    let message_id = match h.get_unfolded("Message-ID") {
        Some(v) => {
            let id = lossy(tidings_article::headers::trim_ws(&v));
            tidings_article::MessageId::parse_strict(&id)
                .map_err(|e| format!("Bad Message-ID {id}: {e}"))?;
            match svc.store.lookup(&id) {
                Ok(Lookup::Unknown) => {}
                Ok(Lookup::Present(_)) => {
                    return Err(format!("Duplicate article: {id} is already here"));
                }
                Ok(Lookup::Rejected) => {
                    return Err(format!(
                        "Message-ID {id} was refused or cancelled before; use a new one"
                    ));
                }
                Err(_) => return Err("Storage error; try again later".to_owned()),
            }
            Some(id)
        }
        None => None,
    };
    // RFC 5537 §3.5: a Date more than 24 hours ahead is refused.
    if let Some(d) = h
        .get("Date")
        .and_then(|v| tidings_article::parse_date(v).ok())
        && d > now.saturating_add(MAX_FUTURE_SECS)
    {
        return Err(
            "Article posted in the future: its Date is more than 24 hours ahead".to_owned(),
        );
    }
    let control = control_of(&h);
    let approved = h.contains("Approved");
    if approved && !grant.approve {
        return Err("You are not allowed to approve postings".to_owned());
    }
    let cancel_key: Vec<Vec<u8>> = h
        .get_all("Cancel-Key")
        .map(|f| f.value().to_vec())
        .collect();
    let expires = h
        .get("Expires")
        .and_then(|v| tidings_article::parse_date(v).ok());
    drop(h);

    // Message-ID and Date are added before the article may go to a moderator; Path and the
    // Injection-* fields after (RFC 5537 §3.5), so that the moderator's approved copy can be
    // injected in its turn.
    let message_id = match message_id {
        Some(id) => id,
        None => {
            let id = suggested
                .filter(|id| matches!(svc.store.lookup(id), Ok(Lookup::Unknown)))
                .unwrap_or_else(|| unique_id(&svc.pathhost, now));
            article = edit(append_header(&article, "Message-ID", id.as_bytes()))?;
            id
        }
    };
    let date = format_date(now);
    if !Headers::parse(&article).is_ok_and(|h| h.contains("Date")) {
        article = edit(append_header(&article, "Date", date.as_bytes()))?;
    }

    // Rate limit (per user, or per address for unauthenticated clients).
    let ip = s.peer.ip().to_canonical();
    let key = s.user.clone().unwrap_or_else(|| format!("ip:{ip}"));
    if !svc.limits.allow_post(&key, grant.posts_per_minute, now) {
        return Err(format!(
            "Posting rate limit exceeded (at most {} articles per minute); try again later",
            grant.posts_per_minute.unwrap_or(0)
        ));
    }

    let cancel_target = match control {
        Control::None => None,
        Control::Other(verb) => {
            return Err(format!(
                "Control messages of type \"{verb}\" are not accepted from readers here"
            ));
        }
        Control::Cancel(target) => Some(target),
    };

    // Moderated groups without Approved: to the moderation queue, not injected (a cancel is
    // never moderated).
    if !moderated.is_empty() && !approved && cancel_target.is_none() {
        let dir = svc.moderation_dir.clone();
        let name = unique_id("q", now)
            .trim_matches(['<', '>'])
            .replace('@', ".");
        let bytes = article;
        let r = tokio::task::spawn_blocking(move || write_atomically(&dir, &name, &bytes)).await;
        return match r {
            Ok(Ok(())) => Ok(format!(
                "Article {message_id} received; it awaits moderation in {}",
                moderated.join(",")
            )),
            _ => Err("Could not queue the article for moderation; try again later".to_owned()),
        };
    }

    // Injection (RFC 5537 §3.5): Path, Injection-Date, Injection-Info.
    let mut prefix = format!("{}!.POSTED.{ip}!", svc.pathhost);
    if tidings_article::path::check_path(format!("{prefix}not-for-mail").as_bytes()).is_err() {
        prefix = format!("{}!.POSTED!", svc.pathhost);
    }
    let path = match Headers::parse(&article)
        .ok()
        .and_then(|h| h.get_unfolded("Path"))
    {
        Some(old) => {
            let mut p = prefix.into_bytes();
            p.extend_from_slice(tidings_article::headers::trim_ws(&old));
            p
        }
        None => format!("{prefix}not-for-mail").into_bytes(),
    };
    article = edit(remove_header(&article, "Path"))?;
    article = edit(prepend_header(&article, "Path", &path))?;
    article = edit(set_header(&article, "Injection-Date", date.as_bytes()))?;
    let mut info = format!(
        "{}; posting-host=\"{ip}\"; logging-data=\"{}\"",
        svc.pathhost, s.conn_id
    );
    if let Some(u) = &s.user {
        let u: String = u
            .chars()
            .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
            .collect();
        info.push_str(&format!("; posting-account=\"{u}\""));
    }
    if let Some(c) = &svc.config.complaints_to {
        info.push_str(&format!("; mail-complaints-to=\"{c}\""));
    }
    article = edit(set_header(&article, "Injection-Info", info.as_bytes()))?;
    tidings_article::validate::validate_transit_bytes(&article)
        .map_err(|e| format!("Article invalid after injection: {e}"))?;

    // A cancel: checked against the target's Cancel-Lock and carried out; the cancel message
    // itself is filed in control.cancel when that group exists.
    let mut file_in = here;
    if let Some(target) = cancel_target {
        let token = match svc.store.lookup(&target) {
            Ok(Lookup::Present(t)) => t,
            Ok(_) => return Err(format!("Cancel target {target} is not here")),
            Err(_) => return Err("Storage error; try again later".to_owned()),
        };
        let t1 = target.clone();
        let head = blocking(&svc.store, move |st| {
            let mut head = Vec::new();
            st.read_current_into(&t1, token, Part::Head, &mut head)
                .map(|()| head)
        })
        .await
        .map_err(|_| "Storage error; try again later".to_owned())?;
        let th = Headers::parse(&head).map_err(|_| "cancel not authorised".to_owned())?;
        let locks: Vec<&[u8]> = th.get_all("Cancel-Lock").map(|f| f.value()).collect();
        let ok = locks
            .iter()
            .any(|l| cancel_key.iter().any(|k| cancel_lock::verify(l, k)));
        if !ok {
            return Err(format!(
                "cancel not authorised: no Cancel-Key matching a Cancel-Lock of {target}"
            ));
        }
        let t2 = target.clone();
        blocking(&svc.store, move |st| st.cancel(&t2, now))
            .await
            .map_err(|_| "Storage error; try again later".to_owned())?;
        tracing::info!(conn = s.conn_id, target = %target, "article cancelled");
        let has_cc = matches!(svc.store.group("control.cancel"), Ok(Some(_)));
        if !has_cc {
            return Ok(format!("Article {target} cancelled"));
        }
        file_in = vec!["control.cancel".to_owned()];
    }

    let ov = Overview::from_article(&article).map_err(|e| format!("Malformed headers: {e}"))?;
    let owned = OwnedArticle {
        message_id: message_id.clone(),
        groups: file_in,
        arrival: now,
        expires,
        subject: ov.subject,
        from: ov.from,
        date: ov.date,
        references: ov.references,
        lines: ov.lines,
        bytes: article,
        // Routed by the writer's router (installed by the daemon), not here.
        feeds: Vec::new(),
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    svc.writer
        .submit(
            owned,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )
        .map_err(|_| "The server is shutting down; try again later".to_owned())?;
    match rx.await {
        Ok(Ok(StoreOutcome::Stored { .. })) => Ok(format!("Article received {message_id}")),
        Ok(Ok(StoreOutcome::Duplicate)) => {
            Err(format!("Duplicate article: {message_id} is already here"))
        }
        Ok(Ok(StoreOutcome::Refused(r))) => Err(match r {
            RefuseReason::Rejected => format!("Message-ID {message_id} was refused before"),
            RefuseReason::NoGroups => "None of the newsgroups is carried here".to_owned(),
            RefuseReason::NoHeaderEnd => "Article has no blank line after the headers".to_owned(),
            RefuseReason::TooLarge => "Article too large".to_owned(),
            RefuseReason::BadMessageId => format!("Bad Message-ID {message_id}"),
        }),
        _ => Err("Storage error; the article was not posted, try again later".to_owned()),
    }
}

/// Writes `dir/name.msg` atomically: temporary file, fsync, rename, directory fsync.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let dst = dir.join(format!("{name}.msg"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &dst)?;
    std::fs::File::open(dir)?.sync_all()
}
