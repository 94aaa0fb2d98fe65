//! Reads that bypass the caches, coalesced without serving anyone an answer read before they
//! asked.
//!
//! A bypass read promises data read after the call arrived, so it cannot simply join a load
//! already running: that load may have read before the caller's own write committed. Instead
//! callers of one customer (and set of backends) take turns: each arrival takes a ticket, a
//! load covers every ticket issued before it started, and a caller whose ticket a finished load
//! covers takes its answer. However many callers arrive, at most one load per customer runs,
//! and one more follows it for everyone who arrived meanwhile.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::time::Instant;

use super::{ProfileError, Profiles, Served};
use crate::{
    core::cache::CachedProfile,
    core::entry::ServedFrom,
    core::fanout::Priority,
    core::vocab::{CustomerId, SourceSet},
};

type Key = (CustomerId, SourceSet);

/// The bypass reads in progress, per customer and set of backends.
#[derive(Debug, Default)]
pub(super) struct Bypasses {
    turns: Mutex<HashMap<Key, Arc<Turns>>>,
}

#[derive(Debug, Default)]
struct Turns {
    /// Tickets issued: one per caller.
    issued: Mutex<u64>,
    /// The last load: the tickets it covers and its answer. Held while a load runs.
    last: tokio::sync::Mutex<Option<Covered>>,
}

/// A load's answer, and the last ticket issued before it started.
type Covered = (u64, Result<Arc<CachedProfile>, ProfileError>);

impl Profiles {
    /// `customer` read from the backends `needed` after this call arrived, sharing the load
    /// with the other bypass reads that arrived before it started; the caches are left as
    /// they are.
    pub(super) async fn bypass(
        &self,
        customer: CustomerId,
        needed: SourceSet,
        deadline: Option<Instant>,
        priority: Priority,
    ) -> Result<Served, ProfileError> {
        // Refused before it queues for its turn, if it would be refused then.
        self.inner.fanout.admission().check(priority)?;
        let turns = self.inner.bypasses.join((customer, needed));
        let ticket = {
            let mut issued = turns.issued.lock().unwrap_or_else(|e| e.into_inner());
            *issued += 1;
            *issued
        };
        let answer = async {
            let mut last = turns.last.lock().await;
            if let Some((covers, answer)) = &*last
                && *covers >= ticket
                // Another caller's deadline is not this one's.
                && !matches!(answer, Err(ProfileError::DeadlineExceeded))
            {
                crate::core::cache::bump_counter(&self.stats().count.coalesced_waits);
                return answer.clone();
            }
            let covers = *turns.issued.lock().unwrap_or_else(|e| e.into_inner());
            let previous = self.inner.cache.get(customer).await;
            let catalog = self.inner.catalog.snapshot();
            let answer = self
                .load(
                    customer,
                    needed,
                    deadline,
                    priority,
                    previous.as_deref(),
                    &catalog,
                )
                .await;
            *last = Some((covers, answer.clone()));
            answer
        }
        .await;
        drop(turns);
        Ok(self.served(answer?, ServedFrom::Sources))
    }
}

/// A caller's place in the turns of its key; the turns are forgotten when the last caller
/// leaves, answered or not (a caller whose deadline passed is dropped mid-turn).
struct Joined<'a> {
    bypasses: &'a Bypasses,
    key: Key,
    turns: Arc<Turns>,
}

impl std::ops::Deref for Joined<'_> {
    type Target = Turns;

    fn deref(&self) -> &Turns {
        &self.turns
    }
}

impl Drop for Joined<'_> {
    fn drop(&mut self) {
        let mut turns = self
            .bypasses
            .turns
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Ours and the map's: no other caller holds them.
        if turns
            .get(&self.key)
            .is_some_and(|t| Arc::strong_count(t) == 2)
        {
            turns.remove(&self.key);
        }
    }
}

impl Bypasses {
    fn join(&self, key: Key) -> Joined<'_> {
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        Joined {
            bypasses: self,
            key,
            turns: turns.entry(key).or_default().clone(),
        }
    }

    /// Callers of `key` that took a ticket so far, while any is in progress.
    #[cfg(test)]
    pub(super) fn tickets(&self, key: Key) -> u64 {
        let turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        turns
            .get(&key)
            .map_or(0, |t| *t.issued.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Customers with bypass reads in progress.
    #[cfg(test)]
    pub(super) fn in_progress(&self) -> usize {
        self.turns.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
