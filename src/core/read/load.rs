//! The miss path: the cached entry enriched again if only the catalog changed, else L2 if it
//! has a usable copy, else the backends the sections need, merged and encoded, with the last
//! good copy standing in for a backend that fails.

use std::sync::Arc;

use chrono::Utc;
use tokio::time::Instant;

use super::{ProfileError, Profiles};
use crate::{
    core::cache::CachedProfile,
    core::entry::{EncodedProfile, ServedFrom},
    core::fanout::{Gathered, Priority},
    core::profile::{Collected, collect},
    core::reference::CatalogSnapshot,
    core::vocab::{CustomerId, SourceSet},
};

impl Profiles {
    /// An L1 miss: L2 if it has a usable copy, else the backends (then L2 is filled).
    pub(super) async fn fill(
        &self,
        customer: CustomerId,
        needed: SourceSet,
        deadline: Option<Instant>,
        priority: Priority,
        current: Option<Arc<CachedProfile>>,
        usable: &(dyn Fn(&CachedProfile) -> bool + Sync),
    ) -> Result<(Arc<CachedProfile>, ServedFrom), ProfileError> {
        let catalog = self.inner.catalog.snapshot();
        let fingerprint = catalog.fingerprint();
        // The catalog changed since the entry was enriched: enrich what the backends answered
        // again, without asking them.
        if let Some(current) = &current
            && current.catalog() != fingerprint
            && let Some(entry) = self.reenrich(current, &catalog)
            && usable(&entry)
        {
            return Ok((entry, ServedFrom::L1));
        }
        if let Some(l2) = &self.inner.l2
            && let Some(found) = l2.get(customer, fingerprint).await
        {
            let entry = CachedProfile::from_l2(found);
            let entry = match entry.catalog() == fingerprint {
                true => Some(entry),
                // Filled before the catalog changed: enriched again here, not reloaded.
                false => self.reenrich(&entry, &catalog),
            };
            if let Some(entry) = entry
                && usable(&entry)
            {
                return Ok((entry, ServedFrom::L2));
            }
        }
        let l2_guard = match &self.inner.l2 {
            Some(l2) => l2.fill_guard(customer).await,
            None => None,
        };
        // Never narrow an entry: reload what it held as well as what this caller needs.
        let held = current.as_ref().map_or(SourceSet::EMPTY, |c| c.asked());
        let entry = self
            .load(
                customer,
                needed.union(held),
                deadline,
                priority,
                current.as_deref(),
                &catalog,
            )
            .await?;
        if let (Some(l2), Some(guard)) = (&self.inner.l2, l2_guard)
            && entry.is_complete()
        {
            // Other replicas may use it; this caller need not wait for it.
            let (l2, shared) = (l2.clone(), entry.clone());
            tokio::spawn(async move { l2.fill(customer, &shared, &guard).await });
        }
        Ok((entry, ServedFrom::Sources))
    }

    /// `current` enriched from `catalog` again, from the answers it shows; `None` when they
    /// cannot be read back from it ([`CachedProfile::answers`]).
    fn reenrich(
        &self,
        current: &CachedProfile,
        catalog: &CatalogSnapshot,
    ) -> Option<Arc<CachedProfile>> {
        let answers = current.answers()?;
        let now = Utc::now();
        let encoded = EncodedProfile::encode(&answers.into_profile(catalog, now), now);
        crate::core::cache::bump_counter(&self.stats().count.reenrichments);
        Some(CachedProfile::new(
            encoded,
            current.loaded_at,
            current.loaded_wall,
            catalog.fingerprint(),
            current.unshown(),
        ))
    }

    /// Reads `set` from the backends and merges it, enriching from `catalog`, if admission
    /// control admits a load of `priority` now. A backend that fails now is stood in for by
    /// its last good copy in `previous`, marked stale.
    pub(super) async fn load(
        &self,
        customer: CustomerId,
        set: SourceSet,
        deadline: Option<Instant>,
        priority: Priority,
        previous: Option<&CachedProfile>,
        catalog: &CatalogSnapshot,
    ) -> Result<Arc<CachedProfile>, ProfileError> {
        crate::core::cache::bump_counter(&self.stats().count.loads);
        // With no older copy to serve, a load no backend answered is tried again while the
        // caller has time (a database restarting, a network blip).
        let retry = previous.is_none();
        let Gathered {
            outcomes,
            started,
            wall,
        } = (self.inner.fanout)
            .load(customer, set, deadline, priority, retry)
            .await?;
        let oldest = wall - self.inner.settings.ttl;
        match collect(customer, outcomes) {
            Collected::Answers(answers) => {
                let unshown = answers.unshown();
                let mut encoded =
                    EncodedProfile::encode(&answers.into_profile(catalog, wall), wall);
                if let Some(previous) = previous {
                    encoded.carry_stale(&previous.encoded, oldest);
                }
                Ok(CachedProfile::new(
                    encoded,
                    started,
                    wall,
                    catalog.fingerprint(),
                    unshown,
                ))
            }
            Collected::NotFound => Err(ProfileError::NotFound(customer)),
            Collected::Unavailable => match previous.filter(|p| p.loaded_wall >= oldest) {
                Some(previous) => Ok(CachedProfile::new(
                    previous.encoded.all_stale(),
                    previous.loaded_at,
                    previous.loaded_wall,
                    previous.catalog(),
                    None,
                )),
                None if deadline.is_some_and(|d| d <= Instant::now()) => {
                    Err(ProfileError::DeadlineExceeded)
                }
                None => Err(ProfileError::Unavailable(customer)),
            },
        }
    }
}
