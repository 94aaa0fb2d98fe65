//! When customers are derived again: at the instants their derivations said time alone
//! changes their items, and soon after a derivation that was not whole, later each time in a
//! row.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use super::Live;
use crate::core::vocab::{CustomerId, Timestamp};

/// How soon a customer whose derivation was not whole (a backend did not answer, or the
/// queue's tables) is derived again; doubled each time in a row, up to [`RETRY_MOST`].
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MOST: Duration = Duration::from_secs(300);

impl Live {
    /// Notes whether `customer`'s derivation at `now` was whole; one that was not is derived
    /// again soon, later each time in a row, rather than left until the customer changes.
    pub(super) fn retry_unless_whole(&self, customer: CustomerId, whole: bool, now: Timestamp) {
        let mut retrying = self.retrying.lock().expect("not poisoned");
        if whole {
            retrying.remove(&customer);
            return;
        }
        let tries = retrying.entry(customer).or_insert(0);
        let wait = RETRY_FIRST
            .saturating_mul(1 << (*tries).min(16))
            .min(RETRY_MOST);
        *tries += 1;
        drop(retrying);
        self.again_at(
            customer,
            now + chrono::Duration::milliseconds(wait.as_millis() as i64),
        );
    }

    /// Derives `customer` again at `at`.
    pub(super) fn again_at(&self, customer: CustomerId, at: Timestamp) {
        let mut due = self.due.lock().expect("not poisoned");
        let earliest = due.keys().next().copied();
        due.entry(at).or_default().insert(customer);
        if earliest.is_none_or(|earliest| at < earliest) {
            self.sooner.notify_one();
        }
    }

    /// The customers due by `now`, taken off the schedule.
    pub(super) fn take_due(&self, now: Timestamp) -> BTreeSet<CustomerId> {
        take_from(&mut self.due.lock().expect("not poisoned"), now)
    }

    /// The earliest instant scheduled.
    pub(super) fn next_due(&self) -> Option<Timestamp> {
        self.due
            .lock()
            .expect("not poisoned")
            .keys()
            .next()
            .copied()
    }
}

/// The customers of `due` due by `now` (every one at the end of time), taken off it.
pub(super) fn take_from(
    due: &mut BTreeMap<Timestamp, BTreeSet<CustomerId>>,
    now: Timestamp,
) -> BTreeSet<CustomerId> {
    let later = match now.checked_add_signed(chrono::Duration::microseconds(1)) {
        Some(after) => due.split_off(&after),
        None => BTreeMap::new(),
    };
    let ready = std::mem::replace(due, later);
    ready.into_values().flatten().collect()
}
