//! Reader accounts: the users file and the [`Authenticator`] that reads it.
//!
//! The file is `<data_dir>/users`, one account per line: `NAME:PHC`, where PHC is an argon2id
//! hash in PHC string form (`$argon2id$v=19$m=...`). Lines starting with `#` are comments.
//! Changes are written atomically (temporary file, fsync, rename, directory fsync) under an
//! exclusive lock on `<data_dir>/users.lock`, so that two admin commands cannot lose each
//! other's change. The server's [`FileUsers`] re-reads the file whenever its identity (inode,
//! size or modification time) changes, so a change is seen by the next AUTHINFO.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tidings_reader::Authenticator;

/// The users file in a data directory.
pub fn users_path(data_dir: &Path) -> PathBuf {
    data_dir.join("users")
}

/// True if `name` can be a user name (no `:`, no whitespace or control characters, 1..=64
/// bytes).
pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name
            .chars()
            .any(|c| c == ':' || c.is_whitespace() || c.is_control())
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String> {
    let mut bytes = [0u8; 16];
    {
        use std::io::Read;
        fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .context("reading /dev/urandom for a salt")?;
    }
    let salt = SaltString::encode_b64(&bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// Checks a password against a PHC string.
pub fn verify_password(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(n, h)| (n.to_owned(), h.to_owned()))
        .collect()
}

/// Reads the accounts (an absent file is no accounts).
pub fn read(path: &Path) -> Result<BTreeMap<String, String>> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(parse(&t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_atomically(path: &Path, users: &BTreeMap<String, String>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut text =
        String::from("# tidings users: NAME:argon2 PHC hash (managed by `tidings user`)\n");
    for (n, h) in users {
        text.push_str(n);
        text.push(':');
        text.push_str(h);
        text.push('\n');
    }
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let result = (|| -> std::io::Result<()> {
        let mut f = opts.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

/// Runs `change` on the accounts under the file lock and writes the result.
fn modify<T>(
    path: &Path,
    change: impl FnOnce(&mut BTreeMap<String, String>) -> Result<T>,
) -> Result<T> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let lock_path = path.with_extension("lock");
    let lock = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;
    let mut users = read(path)?;
    let out = change(&mut users)?;
    write_atomically(path, &users)?;
    Ok(out)
}

/// Adds or replaces an account with an already hashed password. Returns true if it replaced
/// one.
pub fn add_hashed(path: &Path, name: &str, phc: &str) -> Result<bool> {
    if !valid_user_name(name) {
        bail!("bad user name {name:?} (no ':', spaces or control characters, at most 64 bytes)");
    }
    PasswordHash::new(phc).map_err(|e| anyhow::anyhow!("bad password hash: {e}"))?;
    modify(path, |u| {
        Ok(u.insert(name.to_owned(), phc.to_owned()).is_some())
    })
}

/// Removes an account.
pub fn remove(path: &Path, name: &str) -> Result<()> {
    modify(path, |u| match u.remove(name) {
        Some(_) => Ok(()),
        None => bail!("no user {name:?}"),
    })
}

/// The account names.
pub fn list(path: &Path) -> Result<Vec<String>> {
    Ok(read(path)?.into_keys().collect())
}

type Stamp = Option<(u64, u64, SystemTime)>;

fn stamp(path: &Path) -> Stamp {
    let m = fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some((ino, m.len(), m.modified().ok()?))
}

/// The server's [`Authenticator`]: the users file, re-read when it changes.
#[derive(Debug)]
pub struct FileUsers {
    path: PathBuf,
    cache: Mutex<(Stamp, BTreeMap<String, String>)>,
}

impl FileUsers {
    /// Reads `path` (absent: no accounts).
    pub fn new(path: PathBuf) -> Result<Self> {
        let s = stamp(&path);
        let users = read(&path)?;
        Ok(Self {
            path,
            cache: Mutex::new((s, users)),
        })
    }

    fn hash_of(&self, user: &str) -> Option<String> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let now = stamp(&self.path);
        if now != cache.0 {
            match read(&self.path) {
                Ok(u) => *cache = (now, u),
                Err(e) => {
                    tracing::warn!(error = %e, "users file unreadable; keeping the old accounts")
                }
            }
        }
        cache.1.get(user).cloned()
    }
}

impl Authenticator for FileUsers {
    fn verify(&self, user: &str, password: &str) -> bool {
        match self.hash_of(user) {
            Some(phc) => verify_password(&phc, password),
            None => {
                // Spend about the same time as a real check, so that timing does not tell
                // which names exist.
                let _ = verify_password(dummy_hash(), password);
                false
            }
        }
    }
}

fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("tidings-dummy").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn add_verify_remove() {
        let dir = tempfile::tempdir().unwrap();
        let path = users_path(dir.path());
        let auth = FileUsers::new(path.clone()).unwrap();
        assert!(!auth.verify("alice", "pw"));
        add_hashed(&path, "alice", &hash_password("pw").unwrap()).unwrap();
        assert!(auth.verify("alice", "pw"));
        assert!(!auth.verify("alice", "wrong"));
        assert_eq!(list(&path).unwrap(), vec!["alice".to_owned()]);
        remove(&path, "alice").unwrap();
        assert!(!auth.verify("alice", "pw"));
        assert!(remove(&path, "alice").is_err());
        assert!(add_hashed(&path, "a:b", "x").is_err());
    }
}
