//! Refresh ahead: an entry past its refresh age is served as it is while one background
//! reload replaces it, spread so that entries loaded together do not come due together.

use std::{sync::Arc, time::Duration};

use super::Profiles;
use crate::{core::cache::CachedProfile, core::fanout::Priority, core::vocab::CustomerId};

/// Background refreshes at once: enough to keep up, few enough never to crowd out callers.
pub(super) const CONCURRENT_REFRESHES: usize = 2;

/// `age` less up to a quarter, by customer: a stable spread, so that entries loaded in the
/// same second come due over a quarter of the refresh age.
fn spread(age: Duration, customer: CustomerId) -> Duration {
    let fraction =
        ((customer.get() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as f64 / 1024.0;
    age.mul_f64(1.0 - 0.25 * fraction)
}

impl Profiles {
    /// Refresh ahead: a hit past its refresh age is served as it is, and one background
    /// reload replaces it.
    ///
    /// Entries loaded together must not all come due together: each customer's refresh age is
    /// spread over the last quarter of `refresh_after`, and at most a few reloads run at once
    /// (a hit that finds none free is served as it is, and a later one refreshes).
    pub(super) fn refresh_if_old(&self, customer: CustomerId, entry: &Arc<CachedProfile>) {
        let due = spread(self.inner.settings.refresh_after, customer);
        if entry.age() < due || !entry.claim_refresh() {
            return;
        }
        self.refresh(customer, entry, due);
    }

    /// Starts the background reload of `entry`, which this caller claimed. Rare (once per
    /// entry and refresh age), and kept out of line, so that a hit's frame does not carry the
    /// spawned reload's state.
    #[cold]
    #[inline(never)]
    fn refresh(&self, customer: CustomerId, entry: &Arc<CachedProfile>, due: Duration) {
        let Ok(permit) = self.inner.refreshing.clone().try_acquire_owned() else {
            entry.release_refresh();
            return;
        };
        crate::core::cache::bump_counter(&self.stats().count.refreshes);
        let (this, set) = (self.clone(), entry.asked());
        tokio::spawn(async move {
            let _permit = permit;
            let fresh = |e: &CachedProfile| e.age() < due && e.covers(set);
            let refreshed = this
                .inner
                .cache
                .get_or_load(customer, &fresh, |current| {
                    this.fill(customer, set, None, Priority::Bulk, current, &fresh)
                })
                .await;
            if let Err(error) = refreshed {
                tracing::debug!(%customer, %error, "background refresh failed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_ages_spread_over_the_last_quarter() {
        let age = Duration::from_secs(60);
        let spread: Vec<Duration> = (1..=1000)
            .map(|n| spread(age, CustomerId::new(n).unwrap()))
            .collect();
        assert!(spread.iter().all(|d| *d <= age && *d >= age.mul_f64(0.75)));
        let early = spread.iter().filter(|d| **d < age.mul_f64(0.875)).count();
        assert!((400..600).contains(&early), "{early}");
    }
}
