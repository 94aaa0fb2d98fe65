//! The request path of a profile read — L1, then L2, then the fan-out to the backends the
//! sections need, then the merge — and the invalidations that keep it fresh. Edge-independent:
//! `grpc/` calls it, and so can a test or a benchmark.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use tokio::{
    sync::{Semaphore, broadcast},
    time::Instant,
};

use crate::{
    cache::{CacheStats, CachedProfile, Change, Lookup, ProfileCache, RedisCache},
    fanout::Fanout,
    keys::CustomerId,
    profile::{Assembly, SectionSet, assemble},
    reference::{Catalog, CatalogSnapshot},
    sources::SourceSet,
    wire::{EncodedProfile, Tier},
};

/// How old an answer may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Freshness {
    /// Any cached copy (within the cache's TTL).
    #[default]
    AnyAge,
    /// A cached copy no older than this.
    MaxAge(Duration),
    /// No cached copy: read the backends now, and leave the caches as they are.
    Bypass,
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Served {
    /// The profile and its age.
    pub entry: Arc<CachedProfile>,
    /// Where it came from.
    pub tier: Tier,
}

/// Why there is no profile to serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// CRM does not know the customer.
    #[error("customer {0} does not exist")]
    NotFound(CustomerId),
    /// No backend answered, and nothing older may stand in.
    #[error("no backend answered for customer {0}")]
    Unavailable(CustomerId),
    /// The caller's deadline passed before any backend answered.
    #[error("the deadline passed before any backend answered")]
    DeadlineExceeded,
}

/// Timings of the read path.
#[derive(Debug, Clone, Copy)]
pub struct ReadPolicy {
    /// A partial profile (some backend failed) is reused this long, no longer.
    pub partial_ttl: Duration,
    /// A hit older than this is served while one background reload runs.
    pub refresh_after: Duration,
    /// Nothing older than this is served, stale or not.
    pub max_age: Duration,
}

/// Serves profiles; cheap to clone.
#[derive(Debug, Clone)]
pub struct Profiles {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cache: ProfileCache,
    l2: Option<RedisCache>,
    fanout: Fanout,
    catalog: Arc<Catalog>,
    policy: ReadPolicy,
    changes: broadcast::Sender<Change>,
    replica: u64,
    /// Background refreshes that may run at once.
    refreshing: Arc<Semaphore>,
}

/// Background refreshes at once: enough to keep up, few enough never to crowd out callers.
const CONCURRENT_REFRESHES: usize = 2;

/// `age` less up to a quarter, by customer: a stable spread, so that entries loaded in the
/// same second come due over a quarter of the refresh age.
fn spread(age: Duration, customer: CustomerId) -> Duration {
    let fraction =
        ((customer.get() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as f64 / 1024.0;
    age.mul_f64(1.0 - 0.25 * fraction)
}

/// How many changes a slow watcher may fall behind before it only hears "something changed".
const CHANGE_BACKLOG: usize = 4096;

impl Profiles {
    /// Serves from `cache` and `l2`, filled through `fanout`, enriched from `catalog`.
    pub fn new(
        cache: ProfileCache,
        l2: Option<RedisCache>,
        fanout: Fanout,
        catalog: Arc<Catalog>,
        policy: ReadPolicy,
    ) -> Self {
        let (changes, _) = broadcast::channel(CHANGE_BACKLOG);
        Self {
            inner: Arc::new(Inner {
                cache,
                l2,
                fanout,
                catalog,
                policy,
                changes,
                replica: rand::random(),
                refreshing: Arc::new(Semaphore::new(CONCURRENT_REFRESHES)),
            }),
        }
    }

    /// L1.
    pub fn cache(&self) -> &ProfileCache {
        &self.inner.cache
    }

    /// L2, when configured.
    pub fn l2(&self) -> Option<&RedisCache> {
        self.inner.l2.as_ref()
    }

    /// The fan-out.
    pub fn fanout(&self) -> &Fanout {
        &self.inner.fanout
    }

    /// The catalog profiles are enriched from.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.inner.catalog
    }

    /// Open watches of this replica's changes.
    pub fn watchers(&self) -> usize {
        self.inner.changes.receiver_count()
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<CacheStats> {
        self.inner.cache.stats()
    }

    /// This replica's id on the invalidation bus.
    pub fn replica(&self) -> u64 {
        self.inner.replica
    }

    /// Changes to profiles from now on, as they are invalidated here.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.inner.changes.subscribe()
    }

    /// The profile of `customer` with at least `sections`, as fresh as `freshness` asks,
    /// read from the backends before `deadline` when it must be.
    pub async fn get(
        &self,
        customer: CustomerId,
        sections: SectionSet,
        freshness: Freshness,
        deadline: Option<Instant>,
    ) -> Result<Served, ProfileError> {
        let needed = sections.sources();
        let policy = self.inner.policy;
        let max_age = match freshness {
            Freshness::Bypass => {
                let previous = self.inner.cache.get(customer).await;
                let catalog = self.inner.catalog.snapshot();
                let entry = self
                    .load(customer, needed, deadline, previous.as_deref(), &catalog)
                    .await?;
                return Ok(self.served(entry, Tier::Sources));
            }
            Freshness::MaxAge(max_age) => Some(max_age),
            Freshness::AnyAge => None,
        };
        let usable = move |entry: &CachedProfile| {
            let age = entry.age();
            entry.covers(needed)
                && max_age.is_none_or(|max| age <= max)
                && (entry.is_complete() || age < policy.partial_ttl)
        };
        // The hit path stays small; the miss path (L2, the fan-out, the merge) is a future of
        // its own, boxed, so that a hit neither builds nor moves it.
        if let Some(entry) = self.inner.cache.get(customer).await
            && usable(&entry)
        {
            crate::cache::bump_counter(&self.stats().l1_hits);
            self.refresh_if_old(customer, &entry);
            return Ok(self.served(entry, Tier::L1));
        }
        Box::pin(self.get_or_load(customer, needed, deadline, usable)).await
    }

    async fn get_or_load(
        &self,
        customer: CustomerId,
        needed: SourceSet,
        deadline: Option<Instant>,
        usable: impl Fn(&CachedProfile) -> bool + Sync,
    ) -> Result<Served, ProfileError> {
        let lookup = self
            .inner
            .cache
            .get_or_load(customer, &usable, |current| {
                self.fill(customer, needed, deadline, current, &usable)
            })
            .await?;
        Ok(match lookup {
            Lookup::Hit(entry) => self.served(entry, Tier::L1),
            Lookup::Loaded(entry, tier) => self.served(entry, tier),
        })
    }

    fn served(&self, entry: Arc<CachedProfile>, tier: Tier) -> Served {
        if entry.is_stale() {
            crate::cache::bump_counter(&self.stats().stale_serves);
        }
        Served { entry, tier }
    }

    /// An L1 miss: L2 if it has a usable copy, else the backends (then L2 is filled).
    async fn fill(
        &self,
        customer: CustomerId,
        needed: SourceSet,
        deadline: Option<Instant>,
        current: Option<Arc<CachedProfile>>,
        usable: &(dyn Fn(&CachedProfile) -> bool + Sync),
    ) -> Result<(Arc<CachedProfile>, Tier), ProfileError> {
        let catalog = self.inner.catalog.snapshot();
        let fingerprint = catalog.fingerprint();
        if let Some(l2) = &self.inner.l2
            && let Some((encoded, loaded_wall)) = l2.get(customer, fingerprint).await
        {
            let entry = CachedProfile::from_l2(encoded, loaded_wall);
            if usable(&entry) {
                return Ok((entry, Tier::L2));
            }
        }
        let l2_generation = match &self.inner.l2 {
            Some(l2) => l2.generation(customer).await,
            None => None,
        };
        // Never narrow an entry: reload what it held as well as what this caller needs.
        let held = current.as_ref().map_or(SourceSet::EMPTY, |c| c.asked());
        let entry = self
            .load(
                customer,
                needed.union(held),
                deadline,
                current.as_deref(),
                &catalog,
            )
            .await?;
        if let (Some(l2), Some(generation)) = (&self.inner.l2, l2_generation)
            && entry.is_complete()
        {
            // Other replicas may use it; this caller need not wait for it.
            let (l2, shared) = (l2.clone(), entry.clone());
            tokio::spawn(async move {
                l2.fill(
                    customer,
                    &shared.encoded,
                    shared.loaded_wall,
                    fingerprint,
                    generation,
                )
                .await;
            });
        }
        Ok((entry, Tier::Sources))
    }

    /// Reads `set` from the backends and merges it, enriching from `catalog`. A backend that
    /// fails now is stood in for by its last good copy in `previous`, marked stale.
    async fn load(
        &self,
        customer: CustomerId,
        set: SourceSet,
        deadline: Option<Instant>,
        previous: Option<&CachedProfile>,
        catalog: &CatalogSnapshot,
    ) -> Result<Arc<CachedProfile>, ProfileError> {
        crate::cache::bump_counter(&self.stats().loads);
        let started = Instant::now();
        let wall = Utc::now();
        let oldest = wall - self.inner.policy.max_age;
        let outcomes = self.inner.fanout.gather(customer, set, deadline).await;
        match assemble(customer, outcomes, catalog, wall) {
            Assembly::Profile(profile) => {
                let mut encoded = EncodedProfile::encode(&profile, wall);
                if let Some(previous) = previous {
                    encoded.carry_stale(&previous.encoded, oldest);
                }
                Ok(CachedProfile::new(encoded, started, wall))
            }
            Assembly::NotFound => Err(ProfileError::NotFound(customer)),
            Assembly::Unavailable => match previous.filter(|p| p.loaded_wall >= oldest) {
                Some(previous) => Ok(CachedProfile::new(
                    previous.encoded.all_stale(),
                    previous.loaded_at,
                    previous.loaded_wall,
                )),
                None if deadline.is_some_and(|d| d <= Instant::now()) => {
                    Err(ProfileError::DeadlineExceeded)
                }
                None => Err(ProfileError::Unavailable(customer)),
            },
        }
    }

    /// Refresh ahead: a hit past its refresh age is served as it is, and one background
    /// reload replaces it.
    ///
    /// Entries loaded together must not all come due together: each customer's refresh age is
    /// spread over the last quarter of `refresh_after`, and at most a few reloads run at once
    /// (a hit that finds none free is served as it is, and a later one refreshes).
    fn refresh_if_old(&self, customer: CustomerId, entry: &Arc<CachedProfile>) {
        let refresh_after = self.inner.policy.refresh_after;
        let due = spread(refresh_after, customer);
        if entry.age() < due || !entry.claim_refresh() {
            return;
        }
        let Ok(permit) = self.inner.refreshing.clone().try_acquire_owned() else {
            entry.release_refresh();
            return;
        };
        crate::cache::bump_counter(&self.stats().refreshes);
        let (this, set) = (self.clone(), entry.asked());
        tokio::spawn(async move {
            let _permit = permit;
            let fresh = |e: &CachedProfile| e.age() < due && e.covers(set);
            let refreshed = this
                .inner
                .cache
                .get_or_load(customer, &fresh, |current| {
                    this.fill(customer, set, None, current, &fresh)
                })
                .await;
            if let Err(error) = refreshed {
                tracing::debug!(%customer, %error, "background refresh failed");
            }
        });
    }

    /// Drops `customers` from L1 and tells this replica's watchers.
    pub async fn invalidate_here(&self, customers: &[CustomerId]) {
        for customer in customers {
            self.inner.cache.invalidate(*customer).await;
        }
        for customer in customers {
            let _no_watchers = self.inner.changes.send(Change::Customer(*customer));
        }
    }

    /// Drops `customers` from L1 and L2 (a change this replica learned of itself).
    pub async fn invalidate(&self, customers: &[CustomerId]) {
        for customer in customers {
            self.inner.cache.invalidate(*customer).await;
        }
        if let Some(l2) = &self.inner.l2 {
            l2.invalidate(customers).await;
        }
        for customer in customers {
            let _no_watchers = self.inner.changes.send(Change::Customer(*customer));
        }
    }

    /// Drops `customers` here, in L2 and, over the bus, on every other replica. False when
    /// the bus could not be reached: the others then only learn of it through their TTL.
    pub async fn invalidate_everywhere(&self, customers: &[CustomerId]) -> bool {
        self.invalidate(customers).await;
        match &self.inner.l2 {
            Some(l2) => l2.publish(self.inner.replica, customers).await,
            None => true,
        }
    }

    /// Drops every entry of L1: a feed or the bus may have lost changes.
    pub fn flush_here(&self) {
        self.inner.cache.invalidate_all();
        let _no_watchers = self.inner.changes.send(Change::Everything);
    }
}

#[cfg(test)]
pub(crate) mod tests;
