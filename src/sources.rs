//! The backends. [`Source`] is the seam of the fan-out: one implementation per backend over
//! sqlx in production (`billing`, `orders`, `fulfilment`, `crm`), scripted fakes in unit
//! tests. Reads that are not about one customer (lookups, the catalog, one order) are inherent
//! methods of the sqlx sources.

mod billing;
mod catalog;
mod crm;
mod faults;
mod fulfilment;
mod orders;

#[cfg(test)]
pub(crate) mod fake;

use std::{fmt, sync::Arc};

use futures::future::BoxFuture;

pub use billing::BillingSource;
pub use catalog::{CatalogError, CatalogSource};
pub use crm::{CrmSource, MAX_LOOKUP_MATCHES};
pub use faults::{FaultSettings, Faulty};
pub use fulfilment::FulfilmentSource;
pub use orders::{OrderDetail, OrdersSource};

use crate::{
    keys::CustomerId,
    profile::{Billing, CrmRecord, InvalidValue, OrderHistory, Shipment},
};

/// One of the four backends a profile is merged from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    /// Balance, cards, invoices.
    Billing,
    /// Orders and their lines.
    Orders,
    /// Shipments.
    Fulfilment,
    /// Identity and interactions.
    Crm,
}

impl SourceKind {
    /// All four, in a fixed order (the order of `sources` in a profile).
    pub const ALL: [Self; 4] = [Self::Billing, Self::Orders, Self::Fulfilment, Self::Crm];

    /// Position in [`Self::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Lower-case name, as in configuration and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Billing => "billing",
            Self::Orders => "orders",
            Self::Fulfilment => "fulfilment",
            Self::Crm => "crm",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SourceSet(u8);

impl SourceSet {
    /// No backend.
    pub const EMPTY: Self = Self(0);
    /// Every backend.
    pub const ALL: Self = Self(0b1111);

    /// The set of these backends.
    pub const fn of(kinds: &[SourceKind]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < kinds.len() {
            bits |= 1 << kinds[i] as u8;
            i += 1;
        }
        Self(bits)
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: SourceKind) -> bool {
        self.0 & (1 << kind as u8) != 0
    }

    /// Both sets together.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether every backend of `other` is in this set.
    pub fn covers(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The backends in the set, in [`SourceKind::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = SourceKind> {
        SourceKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }
}

/// What a backend returned for one customer.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceData {
    /// Billing; `None` when it has no account for the customer.
    Billing(Option<Billing>),
    /// Orders (possibly none).
    Orders(OrderHistory),
    /// Shipments (possibly none), newest first.
    Fulfilment(Vec<Shipment>),
    /// CRM; `None` when the customer does not exist.
    Crm(Option<CrmRecord>),
}

impl SourceData {
    /// The backend that returns this kind of data.
    pub fn kind(&self) -> SourceKind {
        match self {
            Self::Billing(_) => SourceKind::Billing,
            Self::Orders(_) => SourceKind::Orders,
            Self::Fulfilment(_) => SourceKind::Fulfilment,
            Self::Crm(_) => SourceKind::Crm,
        }
    }
}

/// A backend read that failed. Every variant names the backend.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The database refused, failed or could not be reached.
    #[error("{backend} query failed")]
    Query {
        /// Which backend.
        backend: SourceKind,
        /// What the driver said.
        #[source]
        error: sqlx::Error,
    },
    /// The database answered with a value the reference schema does not allow.
    #[error("{backend} returned invalid data")]
    Invalid {
        /// Which backend.
        backend: SourceKind,
        /// What was wrong.
        #[source]
        error: InvalidValue,
    },
    /// A failure injected by configuration or a test.
    #[error("{backend} failed: {reason}")]
    Injected {
        /// Which backend.
        backend: SourceKind,
        /// Why.
        reason: String,
    },
}

impl SourceError {
    /// The backend that failed.
    pub fn backend(&self) -> SourceKind {
        match self {
            Self::Query { backend, .. }
            | Self::Invalid { backend, .. }
            | Self::Injected { backend, .. } => *backend,
        }
    }

    pub(crate) fn query(backend: SourceKind) -> impl Fn(sqlx::Error) -> Self {
        move |error| Self::Query { backend, error }
    }

    pub(crate) fn invalid(backend: SourceKind) -> impl Fn(InvalidValue) -> Self {
        move |error| Self::Invalid { backend, error }
    }
}

/// A backend that can be asked about one customer.
pub trait Source: Send + Sync + 'static {
    /// Which backend this is.
    fn kind(&self) -> SourceKind;

    /// Everything this backend knows about `customer` that a profile needs.
    fn fetch(&self, customer: CustomerId) -> BoxFuture<'_, Result<SourceData, SourceError>>;
}

/// One [`Source`] per backend.
#[derive(Clone)]
pub struct Sources([Arc<dyn Source>; 4]);

impl Sources {
    /// The four backends. Panics if a source sits in the wrong slot: that is a wiring bug.
    pub fn new(
        billing: Arc<dyn Source>,
        orders: Arc<dyn Source>,
        fulfilment: Arc<dyn Source>,
        crm: Arc<dyn Source>,
    ) -> Self {
        let sources = [billing, orders, fulfilment, crm];
        for (source, kind) in sources.iter().zip(SourceKind::ALL) {
            assert_eq!(source.kind(), kind, "source wired to the wrong slot");
        }
        Self(sources)
    }

    /// The source of `kind`.
    pub fn get(&self, kind: SourceKind) -> &Arc<dyn Source> {
        &self.0[kind.index()]
    }

    /// The same backends, each wrapped by `wrap` (for fault injection and counting).
    pub fn map(&self, mut wrap: impl FnMut(Arc<dyn Source>) -> Arc<dyn Source>) -> Self {
        let [b, o, f, c] = self.0.clone();
        Self::new(wrap(b), wrap(o), wrap(f), wrap(c))
    }
}

impl fmt::Debug for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|s| s.kind()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_sets_hold_what_was_put_in() {
        let set = SourceSet::of(&[SourceKind::Crm, SourceKind::Billing]);
        assert!(set.contains(SourceKind::Crm) && set.contains(SourceKind::Billing));
        assert!(!set.contains(SourceKind::Orders));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [SourceKind::Billing, SourceKind::Crm]
        );
        assert!(SourceSet::ALL.covers(set) && !set.covers(SourceSet::ALL));
        assert_eq!(set.union(SourceSet::ALL), SourceSet::ALL);
        assert_eq!(SourceSet::of(&SourceKind::ALL), SourceSet::ALL);
    }
}
