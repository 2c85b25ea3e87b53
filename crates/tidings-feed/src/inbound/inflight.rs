//! The in-flight set: message-ids some connection is receiving right now.
//!
//! A connection claims an id when it asks for the article (335 to IHAVE, 238 to CHECK) or
//! starts storing it (TAKETHIS). Other connections offering the same id meanwhile are deferred
//! (436 / 431). The claim is released when its [`InFlightGuard`] is dropped (the article was
//! stored or refused) or, if the article never arrives, once the timeout has passed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Entry {
    since: Instant,
    generation: u64,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, Entry>,
    next: u64,
}

/// Message-ids being received, with a timeout. Shared by all transit sessions of a server.
#[derive(Debug)]
pub struct InFlight {
    inner: Mutex<Inner>,
    timeout: Duration,
}

/// A claim on a message-id; dropping it releases the id.
#[derive(Debug)]
pub struct InFlightGuard {
    set: Arc<InFlight>,
    id: String,
    generation: u64,
}

impl InFlightGuard {
    /// The claimed message-id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut inner = self.set.lock();
        // Only our own claim: after a timeout someone else may hold the id now.
        if inner
            .map
            .get(&self.id)
            .is_some_and(|e| e.generation == self.generation)
        {
            inner.map.remove(&self.id);
        }
    }
}

impl InFlight {
    /// An empty set whose claims expire after `timeout`.
    #[must_use]
    pub fn new(timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner::default()),
            timeout,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Claims `id` at `now`; `None` if another live claim holds it.
    #[must_use]
    pub fn claim(self: &Arc<Self>, id: &str, now: Instant) -> Option<InFlightGuard> {
        let mut inner = self.lock();
        if let Some(e) = inner.map.get(id)
            && now.saturating_duration_since(e.since) < self.timeout
        {
            return None;
        }
        inner.next += 1;
        let generation = inner.next;
        inner.map.insert(
            id.to_owned(),
            Entry {
                since: now,
                generation,
            },
        );
        // Forget expired claims now and then, so abandoned ids do not pile up.
        if inner.map.len() > 1024 && generation.is_multiple_of(256) {
            let timeout = self.timeout;
            inner
                .map
                .retain(|_, e| now.saturating_duration_since(e.since) < timeout);
        }
        Some(InFlightGuard {
            set: Arc::clone(self),
            id: id.to_owned(),
            generation,
        })
    }

    /// Whether `id` is claimed (and the claim has not timed out) at `now`.
    #[must_use]
    pub fn contains(&self, id: &str, now: Instant) -> bool {
        self.lock()
            .map
            .get(id)
            .is_some_and(|e| now.saturating_duration_since(e.since) < self.timeout)
    }

    /// Number of entries (live or expired but not yet forgotten).
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether there are no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn claim_release_and_timeout() {
        let set = InFlight::new(Duration::from_secs(5));
        let t0 = Instant::now();
        let g = set.claim("<a@x>", t0).unwrap();
        assert_eq!(g.id(), "<a@x>");
        assert!(set.contains("<a@x>", t0));
        assert!(set.claim("<a@x>", t0 + Duration::from_secs(4)).is_none());
        assert!(set.claim("<b@x>", t0).is_some(), "other ids are free");
        drop(g);
        assert!(!set.contains("<a@x>", t0));
        let g1 = set.claim("<a@x>", t0).unwrap();
        // After the timeout another connection may claim it ...
        assert!(!set.contains("<a@x>", t0 + Duration::from_secs(5)));
        let g2 = set.claim("<a@x>", t0 + Duration::from_secs(6)).unwrap();
        // ... and the stale guard does not release the new claim.
        drop(g1);
        assert!(set.contains("<a@x>", t0 + Duration::from_secs(7)));
        drop(g2);
        assert!(set.is_empty());
    }
}
