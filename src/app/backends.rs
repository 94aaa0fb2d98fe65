//! The backends as the service reads them, connected from the settings: a profile source for
//! each, the lookups, and the catalog. Tests may wrap them (to count, hold or break them)
//! between [`Backends::connect`] and [`super::App::new`].

use std::{collections::BTreeMap, sync::Arc};

use super::config::Settings;
use crate::core::{
    db::{Db, DbError, PoolOptions},
    sources::{
        BillingSource, CatalogSource, CrmSource, FulfilmentSource, Lookups, OrdersSource, Source,
        Sources, SqlLookups,
    },
    vocab::PerSource,
};

/// The backends as the service reads them: a profile source for each, the lookups, and the
/// catalog.
#[derive(Clone)]
pub struct Backends {
    /// What each backend holds about one customer.
    pub sources: Sources,
    /// Customers and orders by key.
    pub lookups: Arc<dyn Lookups>,
    /// Products and return policies.
    pub catalog: CatalogSource,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends")
            .field("sources", &self.sources)
            .field("catalog", &self.catalog)
            .finish_non_exhaustive()
    }
}

impl Backends {
    /// The reference schema's backends over sqlx, one pool each, to the databases of
    /// `settings`. The pools connect on first use, so c360 starts (and degrades) while a
    /// backend is down.
    pub fn connect(settings: &Settings) -> Result<Self, DbError> {
        let database = &settings.database;
        let pool = |source: &crate::core::fanout::SourceSettings| {
            Db::connect_lazy(&source.url(database), source.pool(database))
        };
        let sources = &settings.sources;
        let orders = OrdersSource::new(pool(&sources.orders)?);
        let fulfilment = FulfilmentSource::new(pool(&sources.fulfilment)?);
        let crm = CrmSource::new(pool(&sources.crm)?);
        let profile_sources: PerSource<Arc<dyn Source>> = PerSource {
            billing: Arc::new(BillingSource::new(pool(&sources.billing)?)),
            orders: Arc::new(orders.clone()),
            fulfilment: Arc::new(fulfilment.clone()),
            crm: Arc::new(crm.clone()),
        };
        // The whole catalog is read in the background: no statement limit.
        let catalog = PoolOptions {
            statement_timeout: None,
            ..sources.catalog.pool(database)
        };
        Ok(Self {
            sources: Sources::new(profile_sources),
            lookups: Arc::new(SqlLookups::new(crm, orders, fulfilment)),
            catalog: CatalogSource::new(Db::connect_lazy(&sources.catalog.url(database), catalog)?),
        })
    }
}

/// Each backend database once: its URL, and the backends it serves (billing, orders), what it
/// goes by where a URL must not appear (the figures).
pub(super) fn databases(settings: &Settings) -> Vec<(String, Vec<&'static str>)> {
    let mut databases: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, source) in settings.sources.named() {
        let url = source.url(&settings.database);
        databases.entry(url).or_default().push(name);
    }
    databases.into_iter().collect()
}
