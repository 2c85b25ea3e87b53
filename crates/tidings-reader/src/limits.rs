//! Per-user connection counts and post rates, shared by all sessions of a server.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Shared counters for [`AccessRule`](crate::AccessRule) limits. One per server; create it
/// with `Default::default()` and share it through [`Services`](crate::Services). Its lock is
/// never held across an await.
#[derive(Debug, Default)]
pub struct Limits {
    connections: Mutex<HashMap<String, u32>>,
    posts: Mutex<HashMap<String, VecDeque<i64>>>,
}

/// A counted connection slot; the count drops when this is dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    limits: Arc<Limits>,
    key: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.limits.connections.lock()
            && let Some(n) = m.get_mut(&self.key)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}

impl Limits {
    /// Connections currently counted for `key` (a user name, or `ip:<address>`).
    #[must_use]
    pub fn connections(&self, key: &str) -> u32 {
        self.connections
            .lock()
            .map(|m| m.get(key).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Takes a slot for `key` unless `max` are already taken.
    pub(crate) fn acquire(self: &Arc<Self>, key: &str, max: Option<u32>) -> Option<Slot> {
        let mut m = self.connections.lock().ok()?;
        let n = m.entry(key.to_owned()).or_insert(0);
        if max.is_some_and(|max| *n >= max) {
            return None;
        }
        *n += 1;
        Some(Slot {
            limits: Arc::clone(self),
            key: key.to_owned(),
        })
    }

    /// Records a post at `now` for `key` unless `max` posts were made in the last minute.
    pub(crate) fn allow_post(&self, key: &str, max: Option<u32>, now: i64) -> bool {
        let Some(max) = max else { return true };
        let Ok(mut m) = self.posts.lock() else {
            return false;
        };
        let q = m.entry(key.to_owned()).or_default();
        while q.front().is_some_and(|&t| t <= now - 60) {
            q.pop_front();
        }
        if q.len() >= max as usize {
            return false;
        }
        q.push_back(now);
        true
    }
}
