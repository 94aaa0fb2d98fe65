//! The request path of a profile read: L1, then the fan-out to the backends the sections
//! need, then the merge, then the fill. Edge-independent: `grpc/` calls it, and so can a
//! test or a benchmark.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use tokio::time::Instant;

use crate::{
    cache::{CachedProfile, Lookup, ProfileCache},
    fanout::Fanout,
    keys::CustomerId,
    profile::{Assembly, SectionSet, assemble},
    reference::Catalog,
    sources::SourceSet,
};

/// How old an answer may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Freshness {
    /// Any cached copy (within the cache's TTL).
    #[default]
    AnyAge,
    /// A cached copy no older than this.
    MaxAge(Duration),
    /// No cached copy: read the backends now, and leave the cache as it is.
    Bypass,
}

/// The tier that answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// In-process memory.
    L1,
    /// The backends, for this request.
    Sources,
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
    /// No backend answered.
    #[error("no backend answered for customer {0}")]
    Unavailable(CustomerId),
    /// The caller's deadline passed before any backend answered.
    #[error("the deadline passed before any backend answered")]
    DeadlineExceeded,
}

/// Serves profiles.
#[derive(Debug)]
pub struct Profiles {
    cache: ProfileCache,
    fanout: Fanout,
    catalog: Arc<Catalog>,
    partial_ttl: Duration,
}

impl Profiles {
    /// Serves from `cache`, filled through `fanout`, enriched from `catalog`. A partial
    /// profile (some backend failed) is reused for at most `partial_ttl`, so that a failing
    /// backend is retried soon but not by every caller at once.
    pub fn new(
        cache: ProfileCache,
        fanout: Fanout,
        catalog: Arc<Catalog>,
        partial_ttl: Duration,
    ) -> Self {
        Self {
            cache,
            fanout,
            catalog,
            partial_ttl,
        }
    }

    /// The L1 cache.
    pub fn cache(&self) -> &ProfileCache {
        &self.cache
    }

    /// The fan-out.
    pub fn fanout(&self) -> &Fanout {
        &self.fanout
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
        let max_age = match freshness {
            Freshness::Bypass => {
                let entry = self.load(customer, needed, deadline).await?;
                return Ok(Served {
                    entry,
                    tier: Tier::Sources,
                });
            }
            Freshness::MaxAge(max_age) => Some(max_age),
            Freshness::AnyAge => None,
        };
        let usable = |entry: &CachedProfile| {
            let age = entry.age();
            entry.covers(needed)
                && max_age.is_none_or(|max| age <= max)
                && (entry.profile.is_complete() || age < self.partial_ttl)
        };
        let lookup = self
            .cache
            .get_or_load(customer, usable, |current| async move {
                // Never narrow an entry: reload what it held as well as what this caller needs.
                let held = current.map_or(SourceSet::EMPTY, |c| c.profile.asked());
                let entry = self.load(customer, needed.union(held), deadline).await?;
                Ok((entry, true))
            })
            .await?;
        Ok(match lookup {
            Lookup::Hit(entry) => Served {
                entry,
                tier: Tier::L1,
            },
            Lookup::Loaded(entry) => Served {
                entry,
                tier: Tier::Sources,
            },
        })
    }

    async fn load(
        &self,
        customer: CustomerId,
        set: SourceSet,
        deadline: Option<Instant>,
    ) -> Result<Arc<CachedProfile>, ProfileError> {
        let started = Instant::now();
        let outcomes = self.fanout.gather(customer, set, deadline).await;
        let catalog = self.catalog.snapshot();
        match assemble(customer, outcomes, &catalog, Utc::now()) {
            Assembly::Profile(profile) => Ok(CachedProfile::new(*profile, started)),
            Assembly::NotFound => Err(ProfileError::NotFound(customer)),
            Assembly::Unavailable if deadline.is_some_and(|d| d <= Instant::now()) => {
                Err(ProfileError::DeadlineExceeded)
            }
            Assembly::Unavailable => Err(ProfileError::Unavailable(customer)),
        }
    }
}

#[cfg(test)]
mod tests;
