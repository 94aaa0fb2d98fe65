//! L1: the in-process profile cache, with generation-guarded entries.
//!
//! Two rules keep it honest:
//!
//! - An entry is served only under the generation it was loaded under. An invalidation bumps
//!   the generation and need not wait for a load in flight (which holds moka's per-key lock
//!   for as long as the backends take): whether the load's insert lands before the bump or
//!   after it, the entry is dead from the bump on.
//! - An entry expires `ttl` after its data was read from the backends, not after it was
//!   inserted: a copy from L2 that is already old keeps its age.

use std::{future::Future, sync::Arc, time::Duration};

use moka::{Expiry, future::Cache, notification::RemovalCause, ops::compute::Op};

use super::{
    CacheSettings, CachedProfile,
    generations::{Generation, Generations},
    stats::{CacheStats, bump},
};
use crate::{core::entry::ServedFrom, core::vocab::CustomerId};

/// Unknown customers remembered at once, at most.
const MAX_NOT_FOUND: u64 = 100_000;

/// What a cache lookup found.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A cached entry (possibly one a concurrent caller had just loaded).
    Hit(Arc<CachedProfile>),
    /// Loaded for this call, from L2 or the backends.
    Loaded(Arc<CachedProfile>, ServedFrom),
}

/// An entry as L1 holds it: the profile and the generation it was loaded under.
#[derive(Debug, Clone)]
struct Slot {
    profile: Arc<CachedProfile>,
    generation: Generation,
}

/// Expires an entry `ttl` after its data was read from the backends.
struct ByAge {
    ttl: Duration,
}

impl ByAge {
    fn remaining(&self, slot: &Slot) -> Option<Duration> {
        Some(self.ttl.saturating_sub(slot.profile.age()))
    }
}

impl Expiry<CustomerId, Slot> for ByAge {
    fn expire_after_create(
        &self,
        _: &CustomerId,
        slot: &Slot,
        _: std::time::Instant,
    ) -> Option<Duration> {
        self.remaining(slot)
    }

    fn expire_after_update(
        &self,
        _: &CustomerId,
        slot: &Slot,
        _: std::time::Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.remaining(slot)
    }
}

/// Profiles by customer, bounded by bytes, with a TTL and one load per key.
#[derive(Clone)]
pub struct ProfileCache {
    entries: Cache<CustomerId, Slot>,
    /// Customers the backends did not know, with the generation they were looked up under.
    not_found: Option<Cache<CustomerId, Generation>>,
    generations: Arc<Generations>,
    stats: Arc<CacheStats>,
    /// Runs between a load's generation check and its insert: where a racing invalidation
    /// can fall.
    #[cfg(test)]
    before_insert: tests::Hook,
}

impl std::fmt::Debug for ProfileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileCache")
            .field("entries", &self.entries.entry_count())
            .field("bytes", &self.entries.weighted_size())
            .finish()
    }
}

impl ProfileCache {
    /// An empty cache, bounded and expiring as `settings` say, that counts into `stats`.
    pub fn new(settings: &CacheSettings, stats: Arc<CacheStats>) -> Self {
        let evictions = stats.clone();
        let entries = Cache::builder()
            .max_capacity(settings.max_bytes)
            .weigher(|_, slot: &Slot| slot.profile.weight())
            .expire_after(ByAge { ttl: settings.ttl })
            .eviction_listener(move |_, _, cause| {
                if matches!(cause, RemovalCause::Size | RemovalCause::Expired) {
                    bump(&evictions.count.evictions);
                }
            })
            .build();
        let not_found = (!settings.not_found_ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(MAX_NOT_FOUND)
                .time_to_live(settings.not_found_ttl)
                .build()
        });
        Self {
            entries,
            not_found,
            generations: Arc::default(),
            stats,
            #[cfg(test)]
            before_insert: tests::Hook::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<CacheStats> {
        &self.stats
    }

    /// The entry of `customer`, if cached and not invalidated since it was loaded.
    pub async fn get(&self, customer: CustomerId) -> Option<Arc<CachedProfile>> {
        let slot = self.entries.get(&customer).await?;
        self.live(customer, slot)
    }

    /// The generation of `customer` now, to remember a lookup under.
    pub fn generation(&self, customer: CustomerId) -> Generation {
        self.generations.current(customer)
    }

    /// Whether the backends did not know `customer` a moment ago (and nothing changed it
    /// since).
    pub async fn known_missing(&self, customer: CustomerId) -> bool {
        let Some(missing) = &self.not_found else {
            return false;
        };
        missing.get(&customer).await == Some(self.generations.current(customer))
    }

    /// Remembers that the backends did not know `customer` when asked under `generation`; a
    /// change to the customer since (a bumped generation) makes it forgotten.
    pub async fn remember_missing(&self, customer: CustomerId, generation: Generation) {
        if let Some(missing) = &self.not_found
            && generation == self.generations.current(customer)
        {
            missing.insert(customer, generation).await;
        }
    }

    fn live(&self, customer: CustomerId, slot: Slot) -> Option<Arc<CachedProfile>> {
        (slot.generation == self.generations.current(customer)).then_some(slot.profile)
    }

    /// The entry of `customer` if it is `usable`; otherwise what `load` returns, given the
    /// current (unusable) entry.
    ///
    /// Loads of one key run one at a time: callers that arrive during a load wait for it and
    /// take its entry if it is usable to them, so a thousand concurrent misses cost one load.
    /// A load whose customer was invalidated while it ran is not cached (and would not be
    /// served if it were). (The caller checks [`Self::get`] first: this is the miss path.)
    pub async fn get_or_load<F, Fut, E>(
        &self,
        customer: CustomerId,
        usable: &(dyn Fn(&CachedProfile) -> bool + Sync),
        load: F,
    ) -> Result<Lookup, E>
    where
        F: FnOnce(Option<Arc<CachedProfile>>) -> Fut,
        Fut: Future<Output = Result<(Arc<CachedProfile>, ServedFrom), E>>,
    {
        let mut result = None;
        let out = &mut result;
        self.entries
            .entry(customer)
            .and_compute_with(|current| async move {
                let current = current.and_then(|entry| self.live(customer, entry.into_value()));
                if let Some(entry) = &current
                    && usable(entry)
                {
                    bump(&self.stats.count.coalesced_waits);
                    *out = Some(Ok(Lookup::Hit(entry.clone())));
                    return Op::Nop;
                }
                bump(&self.stats.count.l1_misses);
                let generation = self.generations.current(customer);
                match load(current).await {
                    Ok((entry, from)) => {
                        *out = Some(Ok(Lookup::Loaded(entry.clone(), from)));
                        if self.generations.current(customer) == generation {
                            #[cfg(test)]
                            self.before_insert.run(&self.generations, customer);
                            Op::Put(Slot {
                                profile: entry,
                                generation,
                            })
                        } else {
                            // An invalidation overtook this load: what it read may be old.
                            bump(&self.stats.count.discarded_loads);
                            Op::Nop
                        }
                    }
                    Err(error) => {
                        *out = Some(Err(error));
                        Op::Nop
                    }
                }
            })
            .await;
        result.expect("the compute closure runs to completion before and_compute_with returns")
    }

    /// Drops the entry of `customer`; a load of it in flight will not be served from here.
    /// The bump is what counts, and it comes first: removing the entry only frees its
    /// memory.
    pub async fn invalidate(&self, customer: CustomerId) {
        self.generations.bump(customer);
        if let Some(missing) = &self.not_found {
            missing.invalidate(&customer).await;
        }
        bump(&self.stats.count.invalidations);
        self.entries.invalidate(&customer).await;
    }

    /// Drops every entry; no load in flight will be cached.
    pub fn invalidate_all(&self) {
        self.generations.bump_all();
        if let Some(missing) = &self.not_found {
            missing.invalidate_all();
        }
        bump(&self.stats.count.flushes);
        self.entries.invalidate_all();
    }

    /// Entries held (after pending maintenance).
    pub async fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks().await;
        self.entries.entry_count()
    }

    /// Bytes held (after pending maintenance).
    pub async fn weighted_size(&self) -> u64 {
        self.entries.run_pending_tasks().await;
        self.entries.weighted_size()
    }
}

#[cfg(test)]
mod tests;
