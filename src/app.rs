//! Wiring: settings in, a ready-to-serve [`App`] out. Tests use the same path, and may wrap
//! the backends (to count or break them) with [`App::new`].

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::{
    cache::{L1Config, ProfileCache},
    config::Settings,
    db::{Db, DbError},
    fanout::{Fanout, error_chain},
    grpc::{CatalogApi, CustomerApi},
    profiles::Profiles,
    reference::{Catalog, CatalogSnapshot},
    sources::{
        BillingSource, CatalogSource, CrmSource, FulfilmentSource, OrdersSource, SourceKind,
        Sources,
    },
};

/// The sqlx backends, one pool each.
#[derive(Debug, Clone)]
pub struct Backends {
    /// Billing.
    pub billing: BillingSource,
    /// Orders.
    pub orders: OrdersSource,
    /// Fulfilment.
    pub fulfilment: FulfilmentSource,
    /// CRM.
    pub crm: CrmSource,
    /// The catalog.
    pub catalog: CatalogSource,
}

impl Backends {
    /// Pools to every backend of `settings`. They connect on first use, so c360 starts (and
    /// degrades) while a backend is down.
    pub fn connect(settings: &Settings) -> Result<Self, DbError> {
        let pool = |source| Db::connect_lazy(&settings.source_url(source), settings.pool(source));
        let sources = &settings.sources;
        Ok(Self {
            billing: BillingSource::new(pool(&sources.billing)?),
            orders: OrdersSource::new(pool(&sources.orders)?),
            fulfilment: FulfilmentSource::new(pool(&sources.fulfilment)?),
            crm: CrmSource::new(pool(&sources.crm)?),
            catalog: CatalogSource::new(pool(&sources.catalog)?),
        })
    }

    /// The four profile backends, for the fan-out.
    pub fn sources(&self) -> Sources {
        Sources::new(
            Arc::new(self.billing.clone()),
            Arc::new(self.orders.clone()),
            Arc::new(self.fulfilment.clone()),
            Arc::new(self.crm.clone()),
        )
    }
}

/// Everything a server needs.
#[derive(Debug)]
pub struct App {
    profiles: Arc<Profiles>,
    catalog: Arc<Catalog>,
    backends: Backends,
    refresher: JoinHandle<()>,
}

impl App {
    /// Connects to the backends of `settings` and loads the catalog.
    pub async fn connect(settings: &Settings) -> Result<Self, DbError> {
        let backends = Backends::connect(settings)?;
        let sources = backends.sources();
        Ok(Self::new(settings, backends, sources).await)
    }

    /// An app over `backends`, fanning out to `sources` (normally `backends.sources()`).
    /// Loads the catalog first; if that fails, starts with an empty one and keeps trying.
    pub async fn new(settings: &Settings, backends: Backends, sources: Sources) -> Self {
        let catalog = Arc::new(Catalog::default());
        match backends.catalog.load().await {
            Ok(snapshot) => catalog.replace(snapshot),
            Err(error) => tracing::error!(
                error = %error_chain(&error),
                "catalog unavailable at start: order lines lack names and return windows until it loads"
            ),
        }
        let refresher = tokio::spawn(refresh_catalog(
            backends.catalog.clone(),
            catalog.clone(),
            settings.catalog.refresh_interval,
        ));
        let timeouts = SourceKind::ALL.map(|kind| settings.sources.of(kind).timeout);
        let cache = ProfileCache::new(L1Config {
            max_bytes: settings.cache.max_bytes,
            ttl: settings.cache.ttl,
        });
        let profiles = Profiles::new(
            cache,
            Fanout::new(sources, timeouts),
            catalog.clone(),
            settings.cache.partial_ttl,
        );
        Self {
            profiles: Arc::new(profiles),
            catalog,
            backends,
            refresher,
        }
    }

    /// The profile read path.
    pub fn profiles(&self) -> &Arc<Profiles> {
        &self.profiles
    }

    /// The in-memory catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// `CustomerService`.
    pub fn customer_api(&self) -> CustomerApi {
        CustomerApi::new(
            self.profiles.clone(),
            self.backends.crm.clone(),
            self.backends.orders.clone(),
        )
    }

    /// `CatalogService`.
    pub fn catalog_api(&self) -> CatalogApi {
        CatalogApi::new(
            self.catalog.clone(),
            self.backends.orders.clone(),
            self.backends.fulfilment.clone(),
        )
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

/// Reads the catalog every `interval` and swaps it in; a failed read keeps the old one.
async fn refresh_catalog(
    source: CatalogSource,
    catalog: Arc<Catalog>,
    interval: std::time::Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        match source.load().await {
            Ok(snapshot) => swap(&catalog, snapshot),
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "catalog refresh failed; keeping the previous one")
            }
        }
    }
}

fn swap(catalog: &Catalog, snapshot: CatalogSnapshot) {
    tracing::debug!(products = snapshot.product_count(), "catalog refreshed");
    catalog.replace(snapshot);
}
