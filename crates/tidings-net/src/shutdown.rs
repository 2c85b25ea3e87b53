//! A small shutdown signal over `tokio::sync::watch`.

use tokio::sync::watch;

/// The sending half: [`trigger`](Self::trigger) tells every [`ShutdownSignal`] to stop.
#[derive(Debug)]
pub struct Shutdown {
    tx: watch::Sender<bool>,
}

/// The receiving half; cheap to clone, one per task that must stop.
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// A new, untriggered shutdown.
    pub fn new() -> Self {
        let (tx, _rx) = watch::channel(false);
        Self { tx }
    }

    /// A signal that fires when [`trigger`](Self::trigger) is called or this `Shutdown` is
    /// dropped.
    pub fn signal(&self) -> ShutdownSignal {
        ShutdownSignal {
            rx: self.tx.subscribe(),
        }
    }

    /// Fires every signal. Idempotent.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl ShutdownSignal {
    /// True once shutdown was triggered (or the [`Shutdown`] dropped).
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow() || self.rx.has_changed().is_err()
    }

    /// Waits until shutdown is triggered or the [`Shutdown`] is dropped.
    pub async fn wait(&mut self) {
        // An error means the sender is gone: treat it as a shutdown.
        let _ = self.rx.wait_for(|&stop| stop).await;
    }
}
