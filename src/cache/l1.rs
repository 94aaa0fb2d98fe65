//! L1: the in-process profile cache, with generation-guarded fills.

use std::{future::Future, sync::Arc, time::Duration};

use moka::{future::Cache, notification::RemovalCause, ops::compute::Op};

use super::{
    CachedProfile,
    generations::Generations,
    stats::{CacheStats, bump},
};
use crate::{entry::ServedFrom, vocab::CustomerId};

/// L1 sizing.
#[derive(Debug, Clone, Copy)]
pub struct L1Config {
    /// Bound on the bytes held.
    pub max_bytes: u64,
    /// Age after which an entry is dropped, whatever else happens.
    pub ttl: Duration,
}

/// What a cache lookup found.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A cached entry (possibly one a concurrent caller had just loaded).
    Hit(Arc<CachedProfile>),
    /// Loaded for this call, from L2 or the backends.
    Loaded(Arc<CachedProfile>, ServedFrom),
}

/// Profiles by customer, bounded by bytes, with a TTL and one load per key.
#[derive(Clone)]
pub struct ProfileCache {
    entries: Cache<CustomerId, Arc<CachedProfile>>,
    generations: Arc<Generations>,
    stats: Arc<CacheStats>,
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
    /// An empty cache that counts into `stats`.
    pub fn new(config: L1Config, stats: Arc<CacheStats>) -> Self {
        let evictions = stats.clone();
        let entries = Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|_, entry: &Arc<CachedProfile>| entry.weight())
            .time_to_live(config.ttl)
            .eviction_listener(move |_, _, cause| {
                if matches!(cause, RemovalCause::Size | RemovalCause::Expired) {
                    bump(&evictions.evictions);
                }
            })
            .build();
        Self {
            entries,
            generations: Arc::default(),
            stats,
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<CacheStats> {
        &self.stats
    }

    /// The entry of `customer`, if cached.
    pub async fn get(&self, customer: CustomerId) -> Option<Arc<CachedProfile>> {
        self.entries.get(&customer).await
    }

    /// The entry of `customer` if it is `usable`; otherwise what `load` returns, given the
    /// current (unusable) entry.
    ///
    /// Loads of one key run one at a time: callers that arrive during a load wait for it and
    /// take its entry if it is usable to them, so a thousand concurrent misses cost one load.
    /// A load is cached only if no invalidation of the customer happened while it ran. (The
    /// caller checks [`Self::get`] first: this is the miss path.)
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
                let current = current.map(|entry| entry.into_value());
                if let Some(entry) = &current
                    && usable(entry)
                {
                    bump(&self.stats.coalesced_waits);
                    *out = Some(Ok(Lookup::Hit(entry.clone())));
                    return Op::Nop;
                }
                bump(&self.stats.l1_misses);
                let generation = self.generations.current(customer);
                match load(current).await {
                    Ok((entry, from)) => {
                        *out = Some(Ok(Lookup::Loaded(entry.clone(), from)));
                        if self.generations.current(customer) == generation {
                            Op::Put(entry)
                        } else {
                            // An invalidation overtook this load: what it read may be old.
                            bump(&self.stats.discarded_loads);
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

    /// Drops the entry of `customer`; a load of it in flight will not be cached.
    pub async fn invalidate(&self, customer: CustomerId) {
        self.generations.bump(customer);
        bump(&self.stats.invalidations);
        self.entries.invalidate(&customer).await;
    }

    /// Drops every entry; no load in flight will be cached.
    pub fn invalidate_all(&self) {
        self.generations.bump_all();
        bump(&self.stats.flushes);
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
