//! Invalidations: what keeps cached profiles fresh. The change feed and admin calls drop
//! customers here and in L2; the bus brings other replicas' admin invalidations; a flush drops
//! everything when changes may have been missed. Watchers hear of each.

use super::Profiles;

/// How far an admin's invalidation reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Here, in L2 (Redis confirmed), and to the other replicas (the bus took the message).
    Everywhere,
    /// Here only: without Redis there is no L2 and no bus; other replicas drop the customers
    /// when their own change feeds bring a change, or when their entries expire.
    NoRedis,
    /// Here; Redis did not confirm, so this replica keeps off L2 for these customers until
    /// it does, and other replicas may serve them until their feeds or TTLs catch up.
    Unconfirmed,
}
use crate::{
    core::cache::{BusMessage, Change, Changes},
    core::vocab::{CustomerId, SourceSet},
};

impl Profiles {
    /// Drops `customers` from L1 and tells this replica's watchers (another replica's word:
    /// which backends changed is not known).
    pub async fn invalidate_here(&self, customers: &[CustomerId]) {
        for customer in customers {
            self.inner.cache.invalidate(*customer).await;
        }
        self.announce(customers.iter().map(|customer| (*customer, SourceSet::ALL)));
    }

    /// Drops `customers` from L2 and L1 (a change this replica learned of itself, in every
    /// backend for all it knows); false when L2 did not confirm (this replica then keeps off
    /// L2 for them until it does).
    pub async fn invalidate(&self, customers: &[CustomerId]) -> bool {
        self.changed(&Changes::every_backend(customers)).await
    }

    /// Drops the customers of `changed` from L2 and L1: each changed in the tables of its
    /// backends, as this replica's change feed read. False when L2 did not confirm (this
    /// replica then keeps off L2 for them until it does).
    ///
    /// L2 first: a miss that lands between the two then finds L2 empty, or read L1's
    /// generation before the bump and is not kept. (L1 first would let such a miss read
    /// L2's old copy under the new generation and keep it.)
    pub async fn changed(&self, changed: &Changes) -> bool {
        let customers = changed.customers();
        let confirmed = match &self.inner.l2 {
            Some(l2) => l2.invalidate(&customers).await,
            None => true,
        };
        for customer in &customers {
            self.inner.cache.invalidate(*customer).await;
        }
        self.announce(changed.iter());
        confirmed
    }

    /// Tells this replica's watchers that what they show of `customer` changed apart from the
    /// backends (the offers made to it): nothing cached is dropped, and no backend is named,
    /// so nothing derived from the backends is read again.
    pub fn announce_elsewhere(&self, customer: CustomerId) {
        self.announce(std::iter::once((customer, SourceSet::EMPTY)));
    }

    /// Tells this replica's watchers of each change.
    fn announce(&self, changed: impl Iterator<Item = (CustomerId, SourceSet)>) {
        for (customer, sources) in changed {
            let _no_watchers = self.inner.changes.send(Change::Customer(customer, sources));
        }
    }

    /// Drops `customers` here, in L2 and, over the bus, on every other replica; how far that
    /// reached.
    pub async fn invalidate_everywhere(&self, customers: &[CustomerId]) -> Reach {
        let confirmed = self.invalidate(customers).await;
        match &self.inner.l2 {
            Some(l2) if l2.publish(customers).await && confirmed => Reach::Everywhere,
            Some(_) => Reach::Unconfirmed,
            None => Reach::NoRedis,
        }
    }

    /// The catalog changed: nothing is dropped (each entry is enriched again on its next
    /// read), but watchers hear that any profile may read differently.
    pub fn catalog_changed(&self) {
        let _no_watchers = self.inner.changes.send(Change::Everything);
    }

    /// The replica is shutting down: every watch ends (`UNAVAILABLE`, so that its caller
    /// reconnects to another replica).
    pub fn close_watches(&self) {
        let _no_watchers = self.inner.changes.send(Change::Closing);
    }

    /// Drops every entry here and in L2 (a feed lost changes); false when L2 did not
    /// confirm it.
    pub async fn flush(&self) -> bool {
        let confirmed = match &self.inner.l2 {
            Some(l2) => l2.flush().await,
            None => true,
        };
        self.flush_here();
        confirmed
    }

    /// Tells the other replicas `message`, done here already; false when the bus did not
    /// take it (without Redis there is no bus, and nothing to tell).
    pub async fn tell(&self, message: &BusMessage) -> bool {
        match &self.inner.l2 {
            Some(l2) => l2.tell(message).await,
            None => true,
        }
    }

    /// Drops every entry of L1: a feed or the bus may have lost changes.
    pub fn flush_here(&self) {
        self.inner.cache.invalidate_all();
        let _no_watchers = self.inner.changes.send(Change::Everything);
    }
}
