//! The queue kept live: a customer's items derived again when a change to the customer is
//! applied (the change feed's invalidations, as the read path announces them) and when time
//! alone changes them (a parcel's promise passing with no row changing). The second is a sweep
//! that sleeps until the earliest instant any derivation said its answer changes, and derives
//! only the customers due then — never a scan of every customer.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::{Notify, broadcast::error::RecvError};

use self::waiting::Waiting;
use super::{
    answered::Answered,
    build::Backlog,
    items::{Rules, derive},
    store::Store,
};
use crate::core::{
    cache::Change,
    fanout::Priority,
    read::{Freshness, ProfileError, Profiles},
    vocab::{CustomerId, Section, SectionSet, SourceKind, SourceSet, SourceStatus, Timestamp},
};

/// Most open items whose customers a rebuild derives again.
const RESYNC_MOST: i64 = 100_000;

/// What items are derived from: read from the backends each time (what was invalidated is
/// read anew anyway), past the caches, which it leaves alone — a build over many customers
/// does not fill them — and without the orders, which no reason needs.
fn derived_from() -> SectionSet {
    SectionSet::of(&[
        Section::Shipments,
        Section::Billing,
        Section::Interactions,
        Section::Identity,
    ])
}

/// What a derivation after a change to `changed`'s tables reads: the sections of the
/// backends that changed, with CRM's always (it says whether the customer is known, and the
/// tier every item shows); none when no reason reads what changed (orders alone). The items
/// of the reasons of the backends not read are kept as they are.
fn read_after(changed: SourceSet) -> Option<SectionSet> {
    let reading = changed.union(SourceSet::of(&[SourceKind::Crm]));
    let sections = derived_from()
        .iter()
        .filter(|section| reading.covers(section.needs()))
        .fold(SectionSet::NONE, |set, section| {
            set.union(SectionSet::of(&[section]))
        });
    let fed = derived_from().sources();
    (!changed.intersection(fed).is_empty()).then_some(sections)
}

/// Derivations at once, at most: a feed at its writers' full rate is followed by several
/// profile reads and queue writes in flight, not one after another.
pub const AT_ONCE: usize = 16;

/// How often a build held back for want of a place looks for one again: callers' reads
/// that end do not say so.
const BUILD_PAUSE: Duration = Duration::from_millis(10);

/// How often lapsed leases are given back, at least.
const EXPIRE_EVERY: Duration = Duration::from_secs(1);

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
    /// Where the customers to derive are found when nothing was derived yet.
    backlog: Option<Backlog>,
    /// Customers to derive again, by when.
    due: Mutex<BTreeMap<Timestamp, BTreeSet<CustomerId>>>,
    /// Customers whose last derivations were not whole, and how many in a row.
    retrying: Mutex<HashMap<CustomerId, u32>>,
    /// Woken when an earlier instant is added.
    sooner: Notify,
}

impl Live {
    /// An engine reading profiles from `profiles` and keeping items in `store`.
    /// With a `backlog`, the customers the backends hold something pending for are derived
    /// at start (and when changes were missed) too, not only those already in the queue.
    pub fn new(
        profiles: Profiles,
        store: Store,
        rules: Rules,
        backlog: Option<Backlog>,
    ) -> Arc<Self> {
        Arc::new(Self {
            profiles,
            store,
            rules,
            backlog,
            due: Mutex::default(),
            retrying: Mutex::default(),
            sooner: Notify::new(),
        })
    }

    /// Derives `customer`'s items at `now` after a change to `changed`'s tables, from its
    /// profile read as `priority` work, and keeps them; remembers when time alone changes
    /// them. Whether every backend it read answered: the items of one that did not (or that
    /// it did not need to read) are kept as they were.
    pub async fn refresh(
        &self,
        customer: CustomerId,
        now: Timestamp,
        priority: Priority,
        changed: SourceSet,
    ) -> Result<bool, LiveError> {
        let Some(sections) = read_after(changed) else {
            return Ok(true);
        };
        let served = match self
            .profiles
            .get_as(customer, sections, Freshness::Bypass, None, priority)
            .await
        {
            Ok(served) => served,
            // A customer CRM no longer knows has nothing to contact about; keep what is kept.
            Err(ProfileError::NotFound(_)) => return Ok(true),
            Err(other) => return Err(other.into()),
        };
        let encoded = &served.entry.encoded;
        let answered = |kind| encoded.sources()[kind].status == SourceStatus::Ok;
        let shown = encoded.shown().unwrap_or_default();
        let records = Answered::read_back(encoded, &shown);
        let inputs = records.inputs();
        let derived = derive(customer, inputs, &self.rules, now);
        self.store.sync(customer, &derived, now).await?;
        if let Some(at) = derived.next_change {
            self.again_at(customer, at);
        }
        Ok(sections.sources().iter().all(answered))
    }

    /// Follows changes and time until the task is dropped. At start, and whenever changes
    /// may have been missed, derives again every customer with an open item or a scheduled
    /// change, and those the backlog finds; changes and deadlines go first, the build's
    /// customers when nothing more urgent waits, [`AT_ONCE`] derivations at a time, a
    /// customer never twice at once. A build is bulk work: it takes only the places the
    /// replica's admission leaves to bulk work, and waits for them rather than be refused,
    /// so that it never sheds a caller's read.
    pub async fn run(self: Arc<Self>) {
        tokio::join!(self.clone().follow(), self.give_back_lapsed());
    }

    /// Derives as changes, deadlines and builds demand. Every derivation and build is a task
    /// of its own, so that each goes on (and gives its connection back) whatever this loop
    /// waits on; they end with it.
    async fn follow(self: Arc<Self>) {
        let mut changes = self.profiles.subscribe();
        let mut waiting = Waiting::default();
        let mut deriving = tokio::task::JoinSet::new();
        let mut building = tokio::task::JoinSet::new();
        building.spawn(self.clone().rebuild());
        // When the build began and how many customers it found, until they are all derived.
        let mut built: Option<(std::time::Instant, usize)> = None;
        let admission = self.profiles.fanout().admission().clone();
        loop {
            let mut places = admission.room(Priority::Bulk);
            while deriving.len() < AT_ONCE {
                let Some(taken) = waiting.next(places > 0) else {
                    break;
                };
                let priority = if taken.only_built {
                    places -= 1;
                    Priority::Bulk
                } else {
                    Priority::Interactive
                };
                let this = self.clone();
                let customer = taken.customer;
                deriving.spawn(async move {
                    let derived = this.logged(customer, priority, taken.changed).await;
                    (customer, derived)
                });
            }
            let held = places == 0 && waiting.builds() && deriving.len() < AT_ONCE;
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
                    // A change in no backend's tables (the offers made to a customer)
                    // changes none of its items.
                    Ok(Change::Customer(_, changed)) if changed.is_empty() => {}
                    Ok(Change::Customer(customer, changed)) => waiting.urgent(customer, changed),
                    // The read path's watches end at shutdown; the queue goes on until the
                    // task is dropped with the app.
                    Ok(Change::Closing) => {}
                    Err(RecvError::Closed) => return,
                    // Changes may have been missed: built again.
                    Ok(Change::Everything) | Err(RecvError::Lagged(_)) => {
                        if building.is_empty() {
                            building.spawn(self.clone().rebuild());
                        }
                    }
                },
                Some(done) = deriving.join_next() => {
                    let Ok((customer, derived)) = done else { continue };
                    if !derived {
                        waiting.put_back(customer);
                    } else if waiting.done(customer) && let Some((began, customers)) = built.take() {
                        tracing::info!(
                            customers,
                            took_ms = began.elapsed().as_millis() as u64,
                            "attention: the queue is built"
                        );
                    }
                }
                Some(found) = building.join_next() => {
                    let Ok((began, customers)) = found else { continue };
                    if customers.is_empty() {
                        tracing::info!(customers = 0, "attention: the queue is built");
                    } else {
                        built = Some((began, customers.len()));
                    }
                    waiting.later(customers);
                }
                () = sleep => {
                    let now = chrono::Utc::now();
                    if let Some(due) = self.next_due() {
                        self.store.figures().swept(due, now);
                    }
                    for customer in self.take_due(now) {
                        waiting.urgent(customer, SourceSet::ALL);
                    }
                }
                () = self.sooner.notified() => {}
                () = tokio::time::sleep(BUILD_PAUSE), if held => {}
            }
        }
    }

    /// Gives back the items whose leases lapsed, and keeps the table's statistics, every
    /// [`EXPIRE_EVERY`].
    async fn give_back_lapsed(&self) {
        let mut expiry = tokio::time::interval(EXPIRE_EVERY);
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            expiry.tick().await;
            if let Err(error) = self.store.expire(chrono::Utc::now()).await {
                tracing::warn!(%error, "attention: lapsed leases could not be given back");
            }
            if let Err(error) = self.store.keep_statistics().await {
                tracing::debug!(%error, "attention: the queue's table could not be analyzed");
            }
        }
    }

    /// Every customer with an open item or a scheduled change, and those the backlog finds.
    /// With when it began.
    async fn rebuild(self: Arc<Self>) -> (std::time::Instant, BTreeSet<CustomerId>) {
        let began = std::time::Instant::now();
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
        if let Some(backlog) = &self.backlog {
            match backlog.customers(&self.rules, chrono::Utc::now()).await {
                Ok(found) => customers.extend(found),
                Err(error) => tracing::warn!(
                    %error,
                    "attention: the backends could not be asked whom the queue may hold"
                ),
            }
        }
        tracing::info!(
            customers = customers.len(),
            took_ms = began.elapsed().as_millis() as u64,
            "attention: customers to derive again found"
        );
        (began, customers)
    }

    /// Derives `customer` after a change to `changed`'s tables, as `priority` work, counted
    /// and logged; false if it was bulk work the replica's admission had no place for, which
    /// waits for one.
    async fn logged(&self, customer: CustomerId, priority: Priority, changed: SourceSet) -> bool {
        let figures = self.store.figures();
        let now = chrono::Utc::now();
        let refreshed = self.refresh(customer, now, priority, changed).await;
        if priority == Priority::Bulk
            && matches!(
                refreshed,
                Err(LiveError::Profile(ProfileError::Overloaded(_)))
            )
        {
            return false;
        }
        figures
            .derivations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let whole = match refreshed {
            Ok(whole) => whole,
            Err(error) => {
                figures
                    .derive_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(%customer, %error, "attention: a customer's items could not be derived again");
                false
            }
        };
        self.retry_unless_whole(customer, whole, now);
        true
    }
}

mod schedule;
#[cfg(test)]
mod tests;
mod waiting;
