//! Invalidations: what keeps cached profiles fresh. The change feed and admin calls drop
//! customers here and in L2; the bus brings other replicas' admin invalidations; a flush drops
//! everything when changes may have been missed. Watchers hear of each.

use futures::future::BoxFuture;

use super::Profiles;
use crate::{
    cache::{Change, bus::BusSink},
    vocab::CustomerId,
};

impl Profiles {
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
            Some(l2) => l2.publish(customers).await,
            None => true,
        }
    }

    /// Drops every entry of L1: a feed or the bus may have lost changes.
    pub fn flush_here(&self) {
        self.inner.cache.invalidate_all();
        let _no_watchers = self.inner.changes.send(Change::Everything);
    }
}

/// What other replicas publish: their admin invalidations, already applied to L2.
impl BusSink for Profiles {
    fn customers_changed(&self, customers: Vec<CustomerId>) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.invalidate_here(&customers).await })
    }

    fn resync(&self) {
        self.flush_here();
    }
}
