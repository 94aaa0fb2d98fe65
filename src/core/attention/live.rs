//! The queue kept live: a customer's items derived again when a change to the customer is
//! applied (the change feed's invalidations, as the read path announces them) and when time
//! alone changes them (a parcel's promise passing with no row changing). The second is a sweep
//! that sleeps until the earliest instant any derivation said its answer changes, and derives
//! only the customers due then — never a scan of every customer.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
};

use c360_proto as pb;
use tokio::sync::{Notify, broadcast::error::RecvError};

use super::{
    items::{Inputs, Rules, derive},
    store::{Store, Synced},
};
use crate::core::{
    cache::Change,
    convert::back,
    read::{Freshness, ProfileError, Profiles},
    vocab::{CustomerId, SectionSet, SourceKind, SourceStatus, Timestamp},
};

/// Most open items whose customers a resync derives again.
const RESYNC_MOST: i64 = 100_000;

/// How often lapsed leases are given back, at least.
const EXPIRE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Why a customer's items could not be derived again.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The profile could not be read.
    #[error("the profile could not be read: {0}")]
    Profile(#[from] ProfileError),
    /// The store did not answer.
    #[error("the attention tables did not answer: {0}")]
    Store(#[from] sqlx::Error),
}

/// Derives items as changes and time demand, into a [`Store`].
pub struct Live {
    profiles: Profiles,
    store: Store,
    rules: Rules,
    /// Customers to derive again, by when.
    due: Mutex<BTreeMap<Timestamp, BTreeSet<CustomerId>>>,
    /// Woken when an earlier instant is added.
    sooner: Notify,
}

impl Live {
    /// An engine reading profiles from `profiles` and keeping items in `store`.
    pub fn new(profiles: Profiles, store: Store, rules: Rules) -> Arc<Self> {
        Arc::new(Self {
            profiles,
            store,
            rules,
            due: Mutex::default(),
            sooner: Notify::new(),
        })
    }

    /// Derives `customer`'s items at `now` from its profile and keeps them; remembers when
    /// time alone changes them.
    pub async fn refresh(&self, customer: CustomerId, now: Timestamp) -> Result<Synced, LiveError> {
        let served = match self
            .profiles
            .get(customer, SectionSet::ALL, Freshness::AnyAge, None)
            .await
        {
            Ok(served) => served,
            // A customer CRM no longer knows has nothing to contact about; keep what is kept.
            Err(ProfileError::NotFound(_)) => return Ok(Synced::default()),
            Err(other) => return Err(other.into()),
        };
        let encoded = &served.entry.encoded;
        let shown = encoded.shown().unwrap_or_default();
        // Only what a backend answered now: a stale stand-in says nothing of the present.
        let answered = |kind| encoded.sources()[kind].status == SourceStatus::Ok;
        let shipments = shown
            .shipments
            .as_ref()
            .filter(|_| answered(SourceKind::Fulfilment))
            .and_then(back::shipments);
        let billing = shown
            .billing
            .as_ref()
            .filter(|_| answered(SourceKind::Billing))
            .and_then(back::billing);
        let interactions = shown
            .interactions
            .as_ref()
            .filter(|_| answered(SourceKind::Crm))
            .and_then(|i: &pb::Interactions| back::interactions(i));
        let tier = shown
            .identity
            .as_ref()
            .filter(|_| answered(SourceKind::Crm))
            .and_then(back::identity)
            .map(|identity| identity.tier);
        let inputs = Inputs {
            shipments: shipments.as_deref(),
            billing: billing.as_ref(),
            interactions: interactions.as_deref(),
            tier,
        };
        let derived = derive(customer, inputs, &self.rules, now);
        let synced = self.store.sync(customer, &derived, now).await?;
        if let Some(at) = derived.next_change {
            self.again_at(customer, at);
        }
        Ok(synced)
    }

    /// Derives `customer` again at `at`.
    fn again_at(&self, customer: CustomerId, at: Timestamp) {
        let mut due = self.due.lock().expect("not poisoned");
        let earliest = due.keys().next().copied();
        due.entry(at).or_default().insert(customer);
        if earliest.is_none_or(|earliest| at < earliest) {
            self.sooner.notify_one();
        }
    }

    /// The customers due by `now`, taken off the schedule.
    fn take_due(&self, now: Timestamp) -> BTreeSet<CustomerId> {
        take_from(&mut self.due.lock().expect("not poisoned"), now)
    }

    /// The earliest instant scheduled.
    fn next_due(&self) -> Option<Timestamp> {
        self.due
            .lock()
            .expect("not poisoned")
            .keys()
            .next()
            .copied()
    }

    /// Follows changes and time until the task is dropped; at start, derives again every
    /// customer with an open item.
    pub async fn run(self: Arc<Self>) {
        let mut changes = self.profiles.subscribe();
        self.resync().await;
        let mut expiry = tokio::time::interval(EXPIRE_EVERY);
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let wait = self.next_due().map(|at| {
                (at - chrono::Utc::now())
                    .to_std()
                    .unwrap_or(std::time::Duration::ZERO)
            });
            let sleep = async {
                match wait {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(Change::Customer(customer)) => self.logged(customer).await,
                    // The read path's watches end at shutdown; the queue goes on until the
                    // task is dropped with the app.
                    Ok(Change::Closing) => {}
                    Err(RecvError::Closed) => return,
                    // Changes may have been missed: every customer in the queue or on the
                    // schedule is derived again now.
                    Ok(Change::Everything) | Err(RecvError::Lagged(_)) => self.resync().await,
                },
                () = sleep => {
                    let now = chrono::Utc::now();
                    if let Some(due) = self.next_due() {
                        self.store.figures().swept(due, now);
                    }
                    for customer in self.take_due(now) {
                        self.logged(customer).await;
                    }
                }
                () = self.sooner.notified() => {}
                _ = expiry.tick() => {
                    if let Err(error) = self.store.expire(chrono::Utc::now()).await {
                        tracing::warn!(%error, "attention: lapsed leases could not be given back");
                    }
                }
            }
        }
    }

    /// Derives again every customer with an open item or a scheduled change.
    async fn resync(&self) {
        let mut customers = self.take_due(Timestamp::MAX_UTC);
        match self.store.open(RESYNC_MOST).await {
            Ok(open) => customers.extend(
                open.iter()
                    .filter_map(|kept| CustomerId::new(kept.customer_id)),
            ),
            Err(error) => {
                tracing::warn!(%error, "attention: the queue could not be read to resync")
            }
        }
        for customer in customers {
            self.logged(customer).await;
        }
    }

    async fn logged(&self, customer: CustomerId) {
        let figures = self.store.figures();
        figures
            .derivations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Err(error) = self.refresh(customer, chrono::Utc::now()).await {
            figures
                .derive_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(%customer, %error, "attention: a customer's items could not be derived again");
        }
    }
}

/// The customers of `due` due by `now` (every one at the end of time), taken off it.
fn take_from(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_gives_what_is_due_and_everything_at_the_end_of_time() {
        let due: Mutex<BTreeMap<Timestamp, BTreeSet<CustomerId>>> = Mutex::default();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let id = |n| CustomerId::new(n).unwrap();
        {
            let mut due = due.lock().unwrap();
            due.entry(at("2026-12-07T10:00:00Z"))
                .or_default()
                .insert(id(1));
            due.entry(at("2026-12-08T10:00:00Z"))
                .or_default()
                .insert(id(2));
        }
        let take = |now| {
            let mut due = due.lock().unwrap();
            take_from(&mut due, now)
        };
        assert_eq!(take(at("2026-12-07T10:00:00Z")), BTreeSet::from([id(1)]));
        assert!(take(at("2026-12-07T11:00:00Z")).is_empty());
        assert_eq!(take(Timestamp::MAX_UTC), BTreeSet::from([id(2)]));
    }
}
