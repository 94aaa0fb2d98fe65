//! Wiring: settings in, a ready-to-serve [`App`] out — pools, caches, the fan-out, the
//! catalog, and the background tasks that keep them fresh. Tests use the same path, and may
//! wrap the backends (to count, hold or break them) with [`App::new`].

use std::{collections::BTreeMap, sync::Arc};

use futures::future::BoxFuture;
use tokio::task::JoinHandle;

use crate::{
    cache::{
        self, CacheStats, L1Config, L2Config, L2Error, ProfileCache, RedisCache,
        feed::{FeedConfig, FeedSink},
    },
    config::Settings,
    db::{Db, DbError, PoolOptions, redact},
    fanout::{Fanout, error_chain},
    grpc::{CacheAdminApi, CatalogApi, CustomerApi},
    keys::CustomerId,
    profiles::{Profiles, ReadPolicy},
    reference::Catalog,
    sources::{
        BillingSource, CatalogSource, CrmSource, Faulty, FulfilmentSource, OrdersSource,
        SourceKind, Sources,
    },
};

/// Why an app could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A backend URL is unusable.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The Redis settings are unusable.
    #[error(transparent)]
    Redis(#[from] L2Error),
}

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

    /// The four profile backends with the faults `settings` configure.
    pub fn sources_with_faults(&self, settings: &Settings) -> Sources {
        self.sources().map(|source| {
            let faults = &settings.sources.of(source.kind()).faults;
            if faults.is_active() {
                tracing::warn!(source = %source.kind(), ?faults, "fault injection on");
                Arc::new(Faulty::new(source, faults))
            } else {
                source
            }
        })
    }
}

/// Everything a server needs.
#[derive(Debug)]
pub struct App {
    profiles: Profiles,
    catalog: Arc<Catalog>,
    backends: Backends,
    tasks: Vec<JoinHandle<()>>,
}

impl App {
    /// Connects to the backends of `settings`, loads the catalog and starts following the
    /// change feeds.
    pub async fn connect(settings: &Settings) -> Result<Self, AppError> {
        let backends = Backends::connect(settings)?;
        let sources = backends.sources_with_faults(settings);
        Self::new(settings, backends, sources).await
    }

    /// An app over `backends`, fanning out to `sources` (normally `backends.sources()`).
    /// Loads the catalog first; if that fails, starts with an empty one and keeps trying.
    pub async fn new(
        settings: &Settings,
        backends: Backends,
        sources: Sources,
    ) -> Result<Self, AppError> {
        let catalog = Arc::new(Catalog::default());
        reload_catalog(&backends.catalog, &catalog).await;
        let stats = Arc::new(CacheStats::default());
        let l2 = match &settings.redis.url {
            Some(url) => Some(RedisCache::new(
                L2Config {
                    url: url.clone(),
                    prefix: settings.redis.prefix.clone(),
                    ttl: settings.redis.ttl,
                    timeout: settings.redis.timeout,
                },
                stats.clone(),
            )?),
            None => None,
        };
        let cache = ProfileCache::new(
            L1Config {
                max_bytes: settings.cache.max_bytes,
                ttl: settings.cache.ttl,
            },
            stats.clone(),
        );
        let timeouts = SourceKind::ALL.map(|kind| settings.sources.of(kind).timeout);
        let policy = ReadPolicy {
            partial_ttl: settings.cache.partial_ttl,
            refresh_after: settings.cache.refresh_after,
            max_age: settings.cache.ttl,
        };
        let profiles = Profiles::new(
            cache,
            l2,
            Fanout::new(sources, timeouts),
            catalog.clone(),
            policy,
        );

        let mut tasks = vec![tokio::spawn(refresh_catalog(
            backends.catalog.clone(),
            catalog.clone(),
            settings.catalog.refresh_interval,
        ))];
        if profiles.l2().is_some() {
            tasks.push(tokio::spawn(cache::bus::listen(profiles.clone())));
        }
        if settings.feed.enabled {
            let sink: Arc<dyn FeedSink> = Arc::new(Freshener {
                profiles: profiles.clone(),
                catalog: catalog.clone(),
                catalog_source: backends.catalog.clone(),
            });
            let config = FeedConfig {
                poll_interval: settings.feed.poll_interval,
                retention: settings.feed.retention,
                ..FeedConfig::default()
            };
            for url in feed_databases(settings) {
                // Its own small pool: a LISTEN holds a connection for good.
                let db = Db::connect_lazy(
                    &url,
                    PoolOptions {
                        max_connections: 2,
                        ..PoolOptions::default()
                    },
                )?;
                let stats = stats.add_feed(redact(&url));
                tasks.push(tokio::spawn(cache::feed::follow(
                    db,
                    sink.clone(),
                    stats,
                    config,
                )));
            }
        }
        Ok(Self {
            profiles,
            catalog,
            backends,
            tasks,
        })
    }

    /// The profile read path.
    pub fn profiles(&self) -> &Profiles {
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

    /// `CacheAdminService`.
    pub fn cache_admin_api(&self) -> CacheAdminApi {
        CacheAdminApi::new(self.profiles.clone())
    }
}

impl Drop for App {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Each distinct database the backends live in: one feed each.
fn feed_databases(settings: &Settings) -> Vec<String> {
    let sources = &settings.sources;
    let all = [
        &sources.billing,
        &sources.orders,
        &sources.fulfilment,
        &sources.crm,
        &sources.catalog,
    ];
    let urls: BTreeMap<String, ()> = all
        .into_iter()
        .map(|s| (settings.source_url(s), ()))
        .collect();
    urls.into_keys().collect()
}

/// What the change feeds drive: invalidations, catalog reloads, flushes.
struct Freshener {
    profiles: Profiles,
    catalog: Arc<Catalog>,
    catalog_source: CatalogSource,
}

impl FeedSink for Freshener {
    fn customers_changed(&self, customers: Vec<CustomerId>) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.profiles.invalidate(&customers).await })
    }

    fn catalog_changed(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            reload_catalog(&self.catalog_source, &self.catalog).await;
            // Every cached order line was enriched from the old catalog.
            self.profiles.flush_here();
        })
    }

    fn resync(&self) {
        self.profiles.flush_here();
    }
}

async fn reload_catalog(source: &CatalogSource, catalog: &Catalog) {
    match source.load().await {
        Ok(snapshot) => {
            tracing::debug!(products = snapshot.product_count(), "catalog loaded");
            catalog.replace(snapshot);
        }
        Err(error) => tracing::warn!(
            error = %error_chain(&error),
            "catalog unavailable: keeping the previous one (order lines lack names and return windows until one loads)"
        ),
    }
}

/// Reads the catalog every `interval` and swaps it in: a safety net under the feed.
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
        reload_catalog(&source, &catalog).await;
    }
}
