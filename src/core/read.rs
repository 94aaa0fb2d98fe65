//! The request path of a profile read — L1, then L2, then a load through the fan-out to the
//! backends the sections need, then the merge (`load.rs`) — with refresh ahead
//! (`refresh.rs`), reads that bypass the caches (`bypass.rs`), the invalidations and the
//! catalog refresh that keep it fresh (`invalidate.rs`, `freshness.rs`), and its figures at
//! one moment (`figures.rs`). Edge-independent: `edge::grpc` calls it, and so can a test or a
//! benchmark.

mod bypass;
mod figures;
mod freshness;
mod invalidate;
mod load;
mod refresh;

pub use figures::{AdmissionFigures, Figures};
pub use freshness::{CatalogSettings, Freshener, refresh_catalog, reload_catalog};
pub use invalidate::Reach;

use std::{sync::Arc, time::Duration};

use tokio::{
    sync::{Semaphore, broadcast},
    time::Instant,
};

use crate::{
    core::cache::{
        CacheSettings, CacheStats, CachedProfile, Change, Lookup, ProfileCache, RedisCache,
    },
    core::entry::ServedFrom,
    core::fanout::Fanout,
    core::fanout::{Priority, Shed},
    core::reference::Catalog,
    core::vocab::{CustomerId, SectionSet, SourceSet},
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
    pub from: ServedFrom,
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
    /// The backends are as busy as this replica lets them be: the load was not started.
    #[error(transparent)]
    Overloaded(#[from] Shed),
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
    /// How long partial and old entries are reused.
    settings: CacheSettings,
    changes: broadcast::Sender<Change>,
    /// Background refreshes that may run at once.
    refreshing: Arc<Semaphore>,
    /// Reads that bypass the caches, coalesced.
    bypasses: bypass::Bypasses,
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
        settings: CacheSettings,
    ) -> Self {
        let (changes, _) = broadcast::channel(CHANGE_BACKLOG);
        Self {
            inner: Arc::new(Inner {
                cache,
                l2,
                fanout,
                catalog,
                settings,
                changes,
                refreshing: Arc::new(Semaphore::new(refresh::CONCURRENT_REFRESHES)),
                bypasses: bypass::Bypasses::default(),
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

    /// Changes to profiles from now on, as they are invalidated here.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.inner.changes.subscribe()
    }

    /// The profile of `customer` with at least `sections`, as fresh as `freshness` asks,
    /// read from the backends before `deadline` when it must be: an interactive read.
    pub async fn get(
        &self,
        customer: CustomerId,
        sections: SectionSet,
        freshness: Freshness,
        deadline: Option<Instant>,
    ) -> Result<Served, ProfileError> {
        self.get_as(
            customer,
            sections,
            freshness,
            deadline,
            Priority::Interactive,
        )
        .await
    }

    /// [`Profiles::get`] for work of `priority`: a load it needs is admitted as such, or
    /// refused ([`ProfileError::Overloaded`]) at once. Hits are never refused.
    pub async fn get_as(
        &self,
        customer: CustomerId,
        sections: SectionSet,
        freshness: Freshness,
        deadline: Option<Instant>,
        priority: Priority,
    ) -> Result<Served, ProfileError> {
        let needed = sections.sources();
        let partial_ttl = self.inner.settings.partial_ttl;
        let max_age = match freshness {
            Freshness::Bypass => {
                let bypass = Box::pin(self.bypass(customer, needed, deadline, priority));
                return within(deadline, bypass).await;
            }
            Freshness::MaxAge(max_age) => Some(max_age),
            Freshness::AnyAge => None,
        };
        // A standby that has not heard its feed's leader lately may have missed changes: it
        // serves only what was read within half the promised lag.
        let max_age = match self.stats().deaf(UNHEARD) {
            true => Some(max_age.map_or(UNHEARD, |max| max.min(UNHEARD))),
            false => max_age,
        };
        let catalog = self.inner.catalog.fingerprint();
        let usable = move |entry: &CachedProfile| {
            let age = entry.age();
            entry.catalog() == catalog
                && entry.covers(needed)
                && max_age.is_none_or(|max| age <= max)
                && (entry.is_complete() || age < partial_ttl)
        };
        // The hit path stays small; the miss path (L2, the fan-out, the merge) is a future of
        // its own, boxed, so that a hit neither builds nor moves it.
        if let Some(entry) = self.inner.cache.get(customer).await
            && usable(&entry)
        {
            crate::core::cache::bump_counter(&self.stats().count.l1_hits);
            self.refresh_if_old(customer, &entry);
            return Ok(self.served(entry, ServedFrom::L1));
        }
        if self.inner.cache.known_missing(customer).await {
            crate::core::cache::bump_counter(&self.stats().count.not_found_hits);
            return Err(ProfileError::NotFound(customer));
        }
        let miss = Box::pin(self.get_or_load(customer, needed, deadline, priority, usable));
        // A caller that waits for another caller's load answers at its own deadline.
        within(deadline, miss).await
    }

    async fn get_or_load(
        &self,
        customer: CustomerId,
        needed: SourceSet,
        deadline: Option<Instant>,
        priority: Priority,
        usable: impl Fn(&CachedProfile) -> bool + Sync,
    ) -> Result<Served, ProfileError> {
        let generation = self.inner.cache.generation(customer);
        let lookup = self
            .inner
            .cache
            .get_or_load(customer, &usable, |current| {
                self.fill(customer, needed, deadline, priority, current, &usable)
            })
            .await;
        if let Err(ProfileError::NotFound(_)) = lookup {
            self.inner
                .cache
                .remember_missing(customer, generation)
                .await;
        }
        let lookup = lookup?;
        Ok(match lookup {
            Lookup::Hit(entry) => self.served(entry, ServedFrom::L1),
            Lookup::Loaded(entry, from) => self.served(entry, from),
        })
    }

    fn served(&self, entry: Arc<CachedProfile>, from: ServedFrom) -> Served {
        if entry.is_stale() {
            crate::core::cache::bump_counter(&self.stats().count.stale_serves);
        }
        Served { entry, from }
    }
}

/// How long a standby may go without hearing its logical feed's leader (who speaks every
/// 200 ms at most) before it trusts only what it read this recently: half the promised lag.
const UNHEARD: std::time::Duration = std::time::Duration::from_millis(500);

/// `answer`, or [`ProfileError::DeadlineExceeded`] once `deadline` passes.
async fn within(
    deadline: Option<Instant>,
    answer: impl Future<Output = Result<Served, ProfileError>>,
) -> Result<Served, ProfileError> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, answer)
            .await
            .unwrap_or(Err(ProfileError::DeadlineExceeded)),
        None => answer.await,
    }
}

#[cfg(test)]
pub(crate) mod tests;
