//! The offers' ledger, followed once per replica: the offers made to each customer, ready to
//! go out with its profile's insights (encoded once, when they change), and every entry as it
//! is appended, for the watches of the systems that carry offers out. Entries are read by
//! position, which commits in order (`store.rs`), so following from the last position read
//! misses none. At start the offers of the last [`KEPT_DAYS`] days are read; older ones are
//! not shown on profiles (the envelope, which reads the ledger itself, weighs them all).

use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        Arc, RwLock,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use tokio::sync::broadcast;

use super::{Offer, OfferStore, store::Entry, wire::insights_chunk};
use crate::core::{read::Profiles, vocab::CustomerId};

/// How often the ledger is read for new entries.
const POLL_EVERY: Duration = Duration::from_millis(200);

/// Most entries read at once.
const BATCH: i64 = 1000;

/// How far back a profile's insights show the offers made.
pub const KEPT_DAYS: i64 = 90;

/// Entries held for watchers that have not taken them yet; one further behind reads the
/// ledger itself.
const BACKLOG: usize = 4096;

/// The ledger, followed.
#[derive(Debug)]
pub struct OfferTail {
    store: OfferStore,
    /// Each customer's offers made, as the insights field that carries them.
    made: RwLock<HashMap<CustomerId, Bytes>>,
    entries: broadcast::Sender<Arc<Entry>>,
    /// The last position read; negative until the ledger has been read once.
    position: AtomicI64,
}

impl OfferTail {
    /// A tail of `store`'s ledger; it follows once [`Self::run`] runs.
    pub fn new(store: OfferStore) -> Arc<Self> {
        Arc::new(Self {
            store,
            made: RwLock::default(),
            entries: broadcast::channel(BACKLOG).0,
            position: AtomicI64::new(-1),
        })
    }

    /// The ledger followed.
    pub fn store(&self) -> &OfferStore {
        &self.store
    }

    /// The offers made to `customer`, as a profile's second `insights` field; `None` for a
    /// customer with none.
    pub fn made(&self, customer: CustomerId) -> Option<Bytes> {
        let made = self
            .made
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        made.get(&customer).cloned()
    }

    /// The last position read (every entry up to it has been sent); negative before the
    /// first read.
    pub fn position(&self) -> i64 {
        self.position.load(Ordering::Acquire)
    }

    /// Every entry appended from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Entry>> {
        self.entries.subscribe()
    }

    /// Follows the ledger until dropped, telling `profiles`' watchers of each customer whose
    /// offers changed.
    pub async fn run(self: Arc<Self>, profiles: Profiles) {
        while let Err(error) = self.load().await {
            tracing::warn!(%error, "offers: the ledger did not answer; trying again");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let mut every = tokio::time::interval(POLL_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Said once when the ledger stops answering, and once when it answers again.
        let mut failing = false;
        loop {
            every.tick().await;
            match self.read_on(&profiles).await {
                Err(error) if !failing => {
                    tracing::warn!(%error, "offers: the ledger does not answer; following it again once it does");
                    failing = true;
                }
                Err(_) => {}
                Ok(()) if failing => {
                    tracing::info!("offers: the ledger answers again");
                    failing = false;
                }
                Ok(()) => {}
            }
        }
    }

    /// The offers of the last [`KEPT_DAYS`] days, and where the ledger ends.
    async fn load(&self) -> Result<(), sqlx::Error> {
        let position = self.store.last_position().await?;
        let since = chrono::Utc::now() - chrono::Duration::days(KEPT_DAYS);
        let mut by_customer: HashMap<CustomerId, Vec<Offer>> = HashMap::new();
        for offer in self.store.counting_since(since).await? {
            by_customer.entry(offer.customer).or_default().push(offer);
        }
        let made = by_customer
            .into_iter()
            .map(|(customer, offers)| (customer, insights_chunk(&offers)))
            .collect();
        *self
            .made
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = made;
        self.position.store(position, Ordering::Release);
        Ok(())
    }

    /// Reads the entries appended since the last read, sends them, and keeps the offers of
    /// the customers they name.
    async fn read_on(&self, profiles: &Profiles) -> Result<(), sqlx::Error> {
        let mut touched = BTreeSet::new();
        loop {
            let after = self.position();
            let entries = self.store.entries(after, None, false, BATCH).await?;
            let Some(last) = entries.last().map(|e| e.position) else {
                break;
            };
            for entry in entries {
                touched.insert(entry.offer.customer);
                let _no_watchers = self.entries.send(Arc::new(entry));
            }
            self.position.store(last, Ordering::Release);
        }
        let since = chrono::Utc::now() - chrono::Duration::days(KEPT_DAYS);
        for customer in touched {
            let mut made = self.store.made(customer).await?;
            made.retain(|offer| offer.recorded_at >= since);
            let mut kept = self
                .made
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match made.is_empty() {
                true => kept.remove(&customer),
                false => kept.insert(customer, insights_chunk(&made)),
            };
            drop(kept);
            profiles.announce_elsewhere(customer);
        }
        Ok(())
    }
}
