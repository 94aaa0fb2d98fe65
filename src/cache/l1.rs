//! L1: the in-process profile cache.

use std::{future::Future, mem::size_of, sync::Arc, time::Duration};

use moka::{future::Cache, ops::compute::Op};

use super::CachedProfile;
use crate::{keys::CustomerId, profile::*};

/// L1 sizing.
#[derive(Debug, Clone, Copy)]
pub struct L1Config {
    /// Bound on the bytes held (approximate, see [`CachedProfile::weight`]).
    pub max_bytes: u64,
    /// Age after which an entry is dropped, whatever else happens.
    pub ttl: Duration,
}

/// Where an answer came from.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A cached entry (possibly one a concurrent caller had just loaded).
    Hit(Arc<CachedProfile>),
    /// Loaded for this call.
    Loaded(Arc<CachedProfile>),
}

/// Profiles by customer, bounded by bytes, with a TTL and one load per key.
#[derive(Clone)]
pub struct ProfileCache {
    entries: Cache<CustomerId, Arc<CachedProfile>>,
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
    /// An empty cache.
    pub fn new(config: L1Config) -> Self {
        let entries = Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|_, entry: &Arc<CachedProfile>| entry.weight())
            .time_to_live(config.ttl)
            .build();
        Self { entries }
    }

    /// The entry of `customer`, if cached.
    pub async fn get(&self, customer: CustomerId) -> Option<Arc<CachedProfile>> {
        self.entries.get(&customer).await
    }

    /// The entry of `customer` if it is `usable`; otherwise the result of `load`, which is
    /// given the current (unusable) entry and decides whether its result is kept.
    ///
    /// Loads of one key run one at a time: callers that arrive during a load wait for it and
    /// then take its entry if that is usable to them. A thousand concurrent misses cost one
    /// load.
    pub async fn get_or_load<F, Fut, E>(
        &self,
        customer: CustomerId,
        usable: impl Fn(&CachedProfile) -> bool,
        load: F,
    ) -> Result<Lookup, E>
    where
        F: FnOnce(Option<Arc<CachedProfile>>) -> Fut,
        Fut: Future<Output = Result<(Arc<CachedProfile>, bool), E>>,
    {
        if let Some(hit) = self.entries.get(&customer).await
            && usable(&hit)
        {
            return Ok(Lookup::Hit(hit));
        }
        let mut result = None;
        let out = &mut result;
        self.entries
            .entry(customer)
            .and_compute_with(|current| async move {
                let current = current.map(|entry| entry.into_value());
                if let Some(entry) = &current
                    && usable(entry)
                {
                    *out = Some(Ok(Lookup::Hit(entry.clone())));
                    return Op::Nop;
                }
                match load(current).await {
                    Ok((entry, keep)) => {
                        *out = Some(Ok(Lookup::Loaded(entry.clone())));
                        if keep { Op::Put(entry) } else { Op::Nop }
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

    /// Drops the entry of `customer`.
    pub async fn invalidate(&self, customer: CustomerId) {
        self.entries.invalidate(&customer).await;
    }

    /// Entries held (after pending maintenance).
    pub async fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks().await;
        self.entries.entry_count()
    }

    /// Approximate bytes held (after pending maintenance).
    pub async fn weighted_size(&self) -> u64 {
        self.entries.run_pending_tasks().await;
        self.entries.weighted_size()
    }
}

/// Approximate heap and inline bytes of a cached profile: what bounds L1.
pub(super) fn weigh(profile: &Profile) -> u32 {
    let text = |s: &String| s.capacity();
    let mut bytes = size_of::<CachedProfile>();
    if let Some(identity) = &profile.identity {
        bytes += [
            &identity.first_name,
            &identity.last_name,
            &identity.email,
            &identity.phone,
        ]
        .into_iter()
        .map(text)
        .sum::<usize>();
    }
    if let Some(billing) = &profile.billing {
        bytes += size_of::<Billing>()
            + billing
                .payment_methods
                .iter()
                .map(|m| size_of::<PaymentMethod>() + text(&m.brand) + text(&m.last4))
                .sum::<usize>()
            + billing.recent_invoices.len() * size_of::<Invoice>()
            + billing
                .failed_payments
                .iter()
                .map(|f| size_of::<FailedPayment>() + text(&f.reason))
                .sum::<usize>();
    }
    for order in profile.orders.iter().flatten() {
        bytes += size_of::<Order>()
            + order
                .lines
                .iter()
                .map(|l| {
                    size_of::<OrderLine>()
                        + l.record.sku.as_str().len()
                        + text(&l.product_name)
                        + text(&l.category)
                })
                .sum::<usize>();
    }
    for shipment in profile.shipments.iter().flatten() {
        bytes += size_of::<Shipment>() + text(&shipment.carrier) + text(&shipment.tracking_number);
    }
    for interaction in profile.interactions.iter().flatten() {
        bytes += size_of::<Interaction>() + text(&interaction.subject);
    }
    if let Some(insights) = &profile.insights {
        bytes += size_of::<Insights>()
            + insights
                .open_issues
                .iter()
                .map(|i| size_of::<OpenIssue>() + text(&i.reference) + text(&i.summary))
                .sum::<usize>()
            + insights
                .next_best_actions
                .iter()
                .map(|a| size_of::<NextBestAction>() + text(&a.message) + text(&a.reference))
                .sum::<usize>();
    }
    u32::try_from(bytes).unwrap_or(u32::MAX)
}
