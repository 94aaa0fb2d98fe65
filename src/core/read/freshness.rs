//! What keeps profiles fresh besides the caches' own expiry: the change feed's sink
//! (customers invalidated, the catalog reloaded, everything flushed when changes may have been
//! missed), and the catalog read again on a timer (`[catalog]`), a safety net under the feed.

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::Profiles;
use crate::core::{
    cache::{BusMessage, Changes, FeedStats, bus::BusSink, feed::FeedSink},
    logs::error_chain,
    reference::Catalog,
    settings::{Check, DAY, SECOND},
    sources::CatalogSource,
    vocab::CustomerId,
};

/// The in-memory catalog.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogSettings {
    /// How often the catalog and the return policies are read again.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
}

impl Default for CatalogSettings {
    fn default() -> Self {
        Self {
            refresh_interval: Duration::from_secs(60),
        }
    }
}

impl CatalogSettings {
    /// Refuses every value out of its range.
    pub fn check(&self, c: &mut Check) {
        c.duration("refresh_interval", self.refresh_interval, SECOND, DAY);
    }
}

/// What the change feeds drive: invalidations, catalog reloads, flushes.
pub struct Freshener {
    /// The profiles kept fresh.
    pub profiles: Profiles,
    /// The catalog they are enriched from.
    pub catalog: Arc<Catalog>,
    /// Where the catalog is read.
    pub catalog_source: CatalogSource,
}

impl FeedSink for Freshener {
    fn customers_changed(&self, changed: Changes) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.profiles.changed(&changed).await;
        })
    }

    fn catalog_changed(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if reload_catalog(&self.catalog_source, &self.catalog).await {
                // Cached entries are enriched again on their next read, from what their
                // backends answered: no flush, no backend read.
                self.profiles.catalog_changed();
            }
        })
    }

    fn resync(&self) {
        self.profiles.flush_here();
    }

    fn publish(&self, change: BusMessage) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let done_here = match &change {
                BusMessage::Customers(customers) => self.profiles.invalidate(customers).await,
                BusMessage::Catalog => {
                    FeedSink::catalog_changed(self).await;
                    true
                }
                BusMessage::Flush => self.profiles.flush().await,
                BusMessage::CaughtUp { .. } => true,
            };
            // Told even when L2 did not confirm: the others drop their copies meanwhile.
            self.profiles.tell(&change).await && done_here
        })
    }

    fn publish_changed(&self, changed: Changes) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let done_here = self.profiles.changed(&changed).await;
            let customers = changed.customers();
            let told = self.profiles.tell(&BusMessage::Customers(customers)).await;
            told && done_here
        })
    }

    fn stand_by(&self, feed: &Arc<FeedStats>, standing: bool) {
        self.profiles.stats().stand_by(feed, standing);
    }
}

/// What other replicas publish: their admin invalidations, and a logical feed leader's
/// changes, already applied to L2.
impl BusSink for Freshener {
    fn customers_changed(&self, customers: Vec<CustomerId>) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.profiles.invalidate_here(&customers).await })
    }

    fn catalog_changed(&self) -> BoxFuture<'_, ()> {
        FeedSink::catalog_changed(self)
    }

    fn resync(&self) {
        self.profiles.flush_here();
    }
}

/// Loads the catalog into `catalog`; true if its content changed.
pub async fn reload_catalog(source: &CatalogSource, catalog: &Catalog) -> bool {
    match source.load().await {
        Ok(snapshot) => {
            tracing::debug!(products = snapshot.product_count(), "catalog loaded");
            catalog.replace(snapshot)
        }
        Err(error) => {
            tracing::warn!(
                error = %error_chain(&error),
                "catalog unavailable: keeping the previous one (order lines lack names and return windows until one loads)"
            );
            false
        }
    }
}

/// Reads the catalog every `settings.refresh_interval` and swaps it in: a safety net under the feed (and the
/// way out of an empty catalog at start). Profiles follow as after a feed change.
pub async fn refresh_catalog(
    source: CatalogSource,
    catalog: Arc<Catalog>,
    profiles: Profiles,
    settings: CatalogSettings,
) {
    let mut ticks = tokio::time::interval(settings.refresh_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if reload_catalog(&source, &catalog).await {
            profiles.catalog_changed();
        }
    }
}
