//! What a logical feed's leader applied here but Redis has not confirmed yet.

use tokio::time::Instant;

use crate::core::{
    cache::Changes,
    vocab::{CustomerId, SourceKind, SourceSet},
};

/// Changes applied here that Redis has not confirmed (in L2, or on the bus) yet.
#[derive(Debug, Default)]
pub(super) struct Unpublished {
    /// Each customer, and the backends whose tables changed.
    pub(super) customers: Changes,
    pub(super) catalog: bool,
    pub(super) everything: bool,
    /// When they are tried again.
    pub(super) retry_at: Option<Instant>,
}

impl Unpublished {
    /// `customer` changed in `kind`'s tables.
    pub(super) fn customer(&mut self, customer: CustomerId, kind: SourceKind) {
        self.customers.add(customer, SourceSet::of(&[kind]));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.customers.is_empty() && !self.catalog && !self.everything
    }

    pub(super) fn due(&self, now: Instant) -> bool {
        !self.is_empty() && self.retry_at.is_none_or(|at| now >= at)
    }

    pub(super) fn merge(&mut self, other: Unpublished) {
        self.everything |= other.everything;
        self.catalog |= other.catalog;
        if self.everything {
            self.customers.clear();
        } else {
            self.customers.merge(other.customers);
        }
    }
}
