//! The backends, behind two ports: [`Source`], one per backend, reads what a profile needs
//! about one customer; [`Lookups`] finds customers and orders by key. Every read an RPC makes
//! goes through one of them, so the fan-out's read stack (faults, deadlines, breakers, hedges,
//! counters) covers them all. Production implements both over sqlx (one
//! file per backend, and the catalog); unit tests use scripted fakes; a deployment whose
//! systems have other schemas implements the two traits for them.

mod billing;
mod crm;
mod fulfilment;
mod orders;
mod reference_loader;
mod sql_lookups;

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
pub(crate) mod fixtures;

use std::{fmt, sync::Arc};

use futures::future::BoxFuture;

pub use billing::{BillingSource, FAILED_PAYMENTS_WINDOW};
pub use crm::CrmSource;
pub use fulfilment::FulfilmentSource;
pub use orders::OrdersSource;
pub use reference_loader::{CatalogError, CatalogSource};
pub use sql_lookups::SqlLookups;

use crate::{
    core::db::PoolStatus,
    core::records::{Billing, CrmRecord, Identity, OrderHistory, OrderRecord, Shipment},
    core::vocab::{CustomerId, Email, InvalidValue, OrderId, PerSource, Phone, SourceKind},
};

/// Most customers a lookup returns.
pub const MAX_LOOKUP_MATCHES: usize = 20;

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

    /// Its connection pool now, if it has one.
    fn pool(&self) -> Option<PoolStatus> {
        None
    }

    /// Whether it answers now: the cheapest read it has (for health). A source without a
    /// connection of its own answers as long as it exists.
    fn ping(&self) -> BoxFuture<'_, Result<(), SourceError>> {
        Box::pin(async { Ok(()) })
    }
}

/// [`Source::ping`] of a backend read over `db`: the cheapest query it answers.
fn ping(db: &crate::core::db::Db, kind: SourceKind) -> BoxFuture<'_, Result<(), SourceError>> {
    Box::pin(async move { db.ping().await.map_err(SourceError::query(kind)) })
}

/// What CRM finds customers by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerKey {
    /// Their id.
    Id(CustomerId),
    /// Their email (unique).
    Email(Email),
    /// Their phone number (households share one).
    Phone(Phone),
}

/// One order with the customer who placed it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderDetail {
    /// Who placed it.
    pub customer: CustomerId,
    /// The order and its lines.
    pub order: OrderRecord,
}

/// The lookup port: reads that find customers and orders by key instead of reading one
/// customer's data. Each method reads one backend, named first in its doc: that backend's
/// deadline, read counter and faults apply to it.
pub trait Lookups: Send + Sync + 'static {
    /// CRM: the customers `key` names, by id, at most [`MAX_LOOKUP_MATCHES`].
    fn customers(
        &self,
        key: CustomerKey,
    ) -> BoxFuture<'_, Result<Vec<(CustomerId, Identity)>, SourceError>>;

    /// Orders: one order and who placed it, if it exists.
    fn order(&self, order: OrderId) -> BoxFuture<'_, Result<Option<OrderDetail>, SourceError>>;

    /// Fulfilment: the parcels of one order.
    fn shipments_of(&self, order: OrderId) -> BoxFuture<'_, Result<Vec<Shipment>, SourceError>>;
}

/// One [`Source`] per backend.
#[derive(Clone)]
pub struct Sources(PerSource<Arc<dyn Source>>);

impl Sources {
    /// The four backends. Panics if a source sits in another's slot: that is a wiring bug.
    pub fn new(sources: PerSource<Arc<dyn Source>>) -> Self {
        for (kind, source) in sources.iter() {
            assert_eq!(source.kind(), kind, "source wired to the wrong slot");
        }
        Self(sources)
    }

    /// The source of `kind`.
    pub fn get(&self, kind: SourceKind) -> &Arc<dyn Source> {
        &self.0[kind]
    }

    /// The same backends, each wrapped by `wrap` (tests count, hold or break them so).
    pub fn map(&self, wrap: impl FnMut(Arc<dyn Source>) -> Arc<dyn Source>) -> Self {
        Self::new(self.0.clone().map(wrap))
    }
}

impl fmt::Debug for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(kind, _)| kind))
            .finish()
    }
}
