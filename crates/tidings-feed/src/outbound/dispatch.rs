//! The per-peer dispatcher: hands queue entries to the peer's connections, keeps deferred
//! entries for a retry, and batches removals from the durable queue.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tidings_store::{QueueEntry, Store};

/// Entries fetched from the store per look-up.
const FETCH: usize = 512;

#[derive(Debug, Default)]
struct State {
    /// Highest seq fetched from the store.
    cursor: u64,
    /// Fetched, not handed out, in queue order.
    ready: VecDeque<QueueEntry>,
    /// Deferred entries and when to offer them again.
    retry: VecDeque<(Instant, QueueEntry)>,
    /// Seqs to remove from the store (delivered or finally refused).
    done: Vec<u64>,
}

/// Shared by a peer's connections (see module docs).
pub(crate) struct Dispatch {
    store: Arc<Store>,
    peer: String,
    delay: i64,
    retry_after: Duration,
    state: Mutex<State>,
}

impl Dispatch {
    pub(crate) fn new(
        store: Arc<Store>,
        peer: &str,
        delay_secs: u64,
        retry_after: Duration,
    ) -> Self {
        Dispatch {
            store,
            peer: peer.to_owned(),
            delay: i64::try_from(delay_secs).unwrap_or(i64::MAX),
            retry_after,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Up to `max` entries to offer now: due retries first, then the queue in order, only
    /// entries older than the peer's delay. Reads the store when its buffer runs dry.
    pub(crate) fn take(
        &self,
        max: usize,
        now_unix: i64,
    ) -> Result<Vec<QueueEntry>, tidings_store::Error> {
        let mut st = self.lock();
        let mut out = Vec::new();
        let now = Instant::now();
        while out.len() < max {
            match st.retry.front() {
                Some((due, _)) if *due <= now => {
                    if let Some((_, e)) = st.retry.pop_front() {
                        out.push(e);
                    }
                }
                _ => break,
            }
        }
        while out.len() < max {
            if st.ready.is_empty() {
                let got = self.store.queue_scan(&self.peer, st.cursor, FETCH)?;
                for &seq in &got.undecodable {
                    // it can never be sent: removed with the finished entries
                    tracing::warn!(peer = %self.peer, seq, "dropping an undecodable queue entry");
                    st.done.push(seq);
                }
                let last = got.entries.last().map(|e| e.seq);
                let Some(last) = last.max(got.undecodable.last().copied()) else {
                    break;
                };
                st.cursor = last;
                st.ready.extend(got.entries);
            }
            match st.ready.front() {
                Some(e) if e.queued_at.saturating_add(self.delay) <= now_unix => {
                    if let Some(e) = st.ready.pop_front() {
                        out.push(e);
                    }
                }
                _ => break,
            }
        }
        Ok(out)
    }

    /// Entries handed out but not answered (the connection failed): offered again first.
    pub(crate) fn give_back(&self, entries: Vec<QueueEntry>) {
        let mut st = self.lock();
        for e in entries.into_iter().rev() {
            st.ready.push_front(e);
        }
    }

    /// Entries the peer deferred (431, 436): offered again after the retry interval.
    pub(crate) fn defer(&self, e: QueueEntry) {
        let due = Instant::now() + self.retry_after;
        self.lock().retry.push_back((due, e));
    }

    /// An entry is finished (delivered, refused, or its article is gone).
    pub(crate) fn finish(&self, seq: u64) {
        self.lock().done.push(seq);
    }

    /// Number of finished entries not yet removed from the store.
    pub(crate) fn pending_removals(&self) -> usize {
        self.lock().done.len()
    }

    /// Removes the finished entries from the durable queue (blocking: call off the runtime).
    pub(crate) fn flush(&self) -> Result<usize, tidings_store::Error> {
        let done = std::mem::take(&mut self.lock().done);
        if done.is_empty() {
            return Ok(0);
        }
        match self.store.queue_remove(&self.peer, &done) {
            Ok(n) => Ok(n),
            Err(e) => {
                // keep them for the next try
                self.lock().done.extend(done);
                Err(e)
            }
        }
    }

    /// Entries in the durable queue (delivered ones not yet flushed included).
    pub(crate) fn queue_len(&self) -> Result<u64, tidings_store::Error> {
        self.store.queue_len(&self.peer)
    }

    /// Whether a deferred entry waits, and how long until the first is due.
    pub(crate) fn next_retry_in(&self) -> Option<Duration> {
        self.lock()
            .retry
            .front()
            .map(|(due, _)| due.saturating_duration_since(Instant::now()))
    }
}
