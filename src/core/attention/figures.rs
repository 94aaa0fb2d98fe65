//! The queue's figures, as operators follow them: how many items are open for each reason and
//! how long the oldest unclaimed one has waited (the queue's, read from its tables every few
//! seconds: every replica reports the same), and what this replica did (claims, resolutions,
//! derivations, and how late its last sweep woke past the instant it was due).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use super::Store;
use crate::core::vocab::Timestamp;

/// How often the queue's figures are read from its tables.
const READ_EVERY: Duration = Duration::from_secs(5);

/// The queue as last read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueNow {
    /// Open items, by [`Reason::ALL`]'s order.
    pub open: [u64; 5],
    /// Open items nobody holds.
    pub unclaimed: u64,
    /// When the oldest unclaimed item fell due.
    pub oldest_unclaimed_due: Option<Timestamp>,
}

/// Everything one scrape shows of the queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttentionSnapshot {
    /// The queue as last read; `None` before the first read.
    pub queue: Option<QueueNow>,
    /// Claims this replica made (re-claims of one's own item not counted).
    pub claims: u64,
    /// Resolutions this replica recorded.
    pub resolutions: u64,
    /// Customers whose items this replica derived.
    pub derivations: u64,
    /// Derivations that failed (the profile or the tables did not answer).
    pub derive_failures: u64,
    /// How late this replica's last sweep ran past the instant it was due.
    pub sweep_lag: Duration,
}

/// What a replica counts of the queue; shared by its store, its engine and `/metrics`.
#[derive(Debug, Default)]
pub struct AttentionFigures {
    queue: Mutex<Option<QueueNow>>,
    pub(super) claims: AtomicU64,
    pub(super) resolutions: AtomicU64,
    pub(super) derivations: AtomicU64,
    pub(super) derive_failures: AtomicU64,
    sweep_lag_micros: AtomicI64,
}

impl AttentionFigures {
    /// Every figure now.
    pub fn snapshot(&self) -> AttentionSnapshot {
        let count = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let lag = self.sweep_lag_micros.load(Ordering::Relaxed);
        AttentionSnapshot {
            queue: *self.queue.lock().expect("not poisoned"),
            claims: count(&self.claims),
            resolutions: count(&self.resolutions),
            derivations: count(&self.derivations),
            derive_failures: count(&self.derive_failures),
            sweep_lag: Duration::from_micros(lag.max(0).unsigned_abs()),
        }
    }

    pub(super) fn swept(&self, due: Timestamp, now: Timestamp) {
        let lag = (now - due).num_microseconds().unwrap_or(i64::MAX);
        self.sweep_lag_micros.store(lag.max(0), Ordering::Relaxed);
    }

    /// Reads the queue's figures from `store` every few seconds, until the task is dropped.
    pub async fn keep_reading(self: Arc<Self>, store: Store) {
        let mut ticks = tokio::time::interval(READ_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match store.queue_now().await {
                Ok(now) => *self.queue.lock().expect("not poisoned") = Some(now),
                Err(error) => {
                    tracing::warn!(%error, "attention: the queue's figures could not be read")
                }
            }
        }
    }
}
