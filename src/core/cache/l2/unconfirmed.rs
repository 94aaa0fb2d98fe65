//! Invalidations Redis did not confirm.
//!
//! When L2 cannot be told that a customer changed (Redis down, slow, paused), its copy of the
//! customer may be stale and an in-flight fill may still land one. Until a later invalidation
//! of the customer is confirmed, this replica neither reads the customer from L2 nor fills it;
//! a repair loop retries the invalidation until Redis confirms it, which cleans L2 for every
//! replica. Past [`MAX_CUSTOMERS`] the set gives way to a moment: every L2 entry read from the
//! backends before it is distrusted until the repair has flushed L2.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use chrono::Utc;

use crate::core::vocab::{CustomerId, Timestamp};

/// Customers held one by one; beyond this a flush of L2 is cheaper than the bookkeeping.
const MAX_CUSTOMERS: usize = 100_000;

/// What L2 may still hold stale, as far as this replica knows.
#[derive(Debug, Default)]
pub(super) struct Unconfirmed {
    /// Whether anything is held: the common case reads this and nothing else.
    any: AtomicBool,
    attempts: AtomicU64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Each customer with the number of its last invalidation that failed.
    customers: HashMap<CustomerId, u64>,
    /// Set when too many failed: entries read before it are all suspect.
    since: Option<Timestamp>,
}

/// The customers and the moment to repair.
#[derive(Debug, Default)]
pub(super) struct Pending {
    pub(super) customers: Vec<CustomerId>,
    pub(super) since: Option<Timestamp>,
}

impl Unconfirmed {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn update_any(&self, state: &State) {
        let any = !state.customers.is_empty() || state.since.is_some();
        self.any.store(any, Ordering::Release);
    }

    /// Numbers an invalidation about to be sent.
    pub(super) fn begin(&self) -> u64 {
        self.attempts.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Invalidation `attempt` of `customers` failed.
    pub(super) fn failed(&self, customers: &[CustomerId], attempt: u64) {
        let mut state = self.state();
        if state.customers.len() + customers.len() > MAX_CUSTOMERS {
            state.since.get_or_insert_with(Utc::now);
            state.customers.clear();
        } else {
            for customer in customers {
                let last = state.customers.entry(*customer).or_default();
                *last = (*last).max(attempt);
            }
        }
        self.update_any(&state);
    }

    /// Invalidation `attempt` of `customers` was confirmed: it covers every failed one that
    /// began before it.
    pub(super) fn confirmed(&self, customers: &[CustomerId], attempt: u64) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let mut state = self.state();
        for customer in customers {
            if state
                .customers
                .get(customer)
                .is_some_and(|last| *last < attempt)
            {
                state.customers.remove(customer);
            }
        }
        self.update_any(&state);
    }

    /// L2 was flushed after `since` was set: nothing read before it is left.
    pub(super) fn flushed(&self, since: Timestamp) {
        let mut state = self.state();
        if state.since.is_some_and(|s| s <= since) {
            state.since = None;
        }
        self.update_any(&state);
    }

    /// Whether L2's copy of `customer`, read from the backends at `loaded_at`, may be stale.
    pub(super) fn distrusts(&self, customer: CustomerId, loaded_at: Timestamp) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let state = self.state();
        state.customers.contains_key(&customer) || state.since.is_some_and(|s| loaded_at < s)
    }

    /// What the repair loop has to do.
    pub(super) fn pending(&self) -> Pending {
        if !self.any.load(Ordering::Acquire) {
            return Pending::default();
        }
        let state = self.state();
        Pending {
            customers: state.customers.keys().copied().collect(),
            since: state.since,
        }
    }

    /// Customers held one by one.
    pub(super) fn len(&self) -> usize {
        self.state().customers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(ids: &[i64]) -> Vec<CustomerId> {
        ids.iter().map(|n| CustomerId::new(*n).unwrap()).collect()
    }

    #[test]
    fn a_failed_invalidation_is_distrusted_until_a_later_one_is_confirmed() {
        let unconfirmed = Unconfirmed::default();
        let now = Utc::now();
        let first = unconfirmed.begin();
        unconfirmed.failed(&ids(&[1, 2]), first);
        assert!(unconfirmed.distrusts(ids(&[1])[0], now));
        assert!(!unconfirmed.distrusts(ids(&[3])[0], now));
        // One that began before the failure confirms nothing about it.
        unconfirmed.confirmed(&ids(&[1]), first - 1);
        assert!(unconfirmed.distrusts(ids(&[1])[0], now));
        let retry = unconfirmed.begin();
        unconfirmed.confirmed(&ids(&[1]), retry);
        assert!(!unconfirmed.distrusts(ids(&[1])[0], now));
        assert!(unconfirmed.distrusts(ids(&[2])[0], now));
        assert_eq!(unconfirmed.pending().customers, ids(&[2]));
    }

    #[test]
    fn too_many_failures_distrust_everything_read_before_them_until_a_flush() {
        let unconfirmed = Unconfirmed::default();
        let before = Utc::now();
        let many: Vec<CustomerId> = (1..=MAX_CUSTOMERS as i64 + 1)
            .map(|n| CustomerId::new(n).unwrap())
            .collect();
        unconfirmed.failed(&many, unconfirmed.begin());
        assert_eq!(unconfirmed.len(), 0);
        let since = unconfirmed.pending().since.expect("a moment");
        assert!(unconfirmed.distrusts(many[0], before));
        assert!(!unconfirmed.distrusts(many[0], since + chrono::Duration::seconds(1)));
        unconfirmed.flushed(since);
        assert!(!unconfirmed.distrusts(many[0], before));
    }
}
