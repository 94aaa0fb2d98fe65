//! Wiring: settings in, a ready-to-serve [`App`] out — pools, caches, the fan-out, the
//! catalog, and the background tasks that keep them fresh, supervised (`supervise.rs`). Tests use the same path, and may
//! wrap the backends (to count, hold or break them) between [`Backends::connect`] and
//! [`App::new`].

pub mod config;
pub mod metrics;
mod probe;
mod supervise;
pub mod telemetry;

use std::{collections::BTreeMap, sync::Arc};

use futures::future::BoxFuture;
use tokio::task::JoinHandle;

use self::supervise::{TaskState, supervise};

use crate::{
    app::config::{ConfigError, MetricsSettings, ServerSettings, Settings},
    core::cache::{
        self, CacheStats, FeedStats, L1Config, L2Config, L2Error, ProfileCache, RedisCache,
        SealKeys,
        bus::BusSink,
        feed::{FeedConfig, FeedSink},
    },
    core::db::{Db, DbError, PoolOptions},
    core::fanout::Fanout,
    core::logs::error_chain,
    core::queries::Queries,
    core::read::{Profiles, ReadPolicy},
    core::reference::Catalog,
    core::sources::{
        BillingSource, CatalogSource, CrmSource, Faulty, FaultyLookups, FulfilmentSource, Lookups,
        OrdersSource, Source, Sources, SqlLookups,
    },
    core::vocab::{CustomerId, PerSource, SourceKind},
    edge::audit::Audit,
    edge::auth::{AuthSetupError, Authenticator},
    edge::grpc::{CacheAdminApi, CatalogApi, CustomerApi},
    edge::rpc_metrics::RpcMetrics,
};

/// Why an app could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A setting is out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The audit file cannot be opened.
    #[error("cannot open the audit file {path}")]
    Audit {
        /// The file.
        path: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// Authentication is configured with unusable keys.
    #[error(transparent)]
    Auth(#[from] AuthSetupError),
    /// A backend URL is unusable.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The Redis settings are unusable.
    #[error(transparent)]
    Redis(#[from] L2Error),
}

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
        let pool = |source| Db::connect_lazy(&settings.source_url(source), settings.pool(source));
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
        Ok(Self {
            sources: Sources::new(profile_sources),
            lookups: Arc::new(SqlLookups::new(crm, orders, fulfilment)),
            // The whole catalog is read in the background: no statement limit.
            catalog: CatalogSource::new(Db::connect_lazy(
                &settings.source_url(&sources.catalog),
                PoolOptions {
                    statement_timeout: None,
                    ..settings.pool(&sources.catalog)
                },
            )?),
        })
    }

    /// The same backends with the faults `settings` configure, profile reads and lookups
    /// alike.
    pub fn with_faults(self, settings: &Settings) -> Self {
        let faults = PerSource::from_fn(|kind| settings.sources.of(kind).faults.clone());
        let mut active = faults.iter().filter(|(_, f)| f.is_active()).peekable();
        if active.peek().is_none() {
            return self;
        }
        for (kind, faults) in active {
            tracing::warn!(source = %kind, ?faults, "fault injection on");
        }
        let sources = self.sources.map(|source| {
            let faults = &faults[source.kind()];
            if faults.is_active() {
                Arc::new(Faulty::new(source, faults)) as Arc<dyn Source>
            } else {
                source
            }
        });
        Self {
            sources,
            lookups: Arc::new(FaultyLookups::new(self.lookups, &faults)),
            catalog: self.catalog,
        }
    }
}

/// Longest a change-feed query may run (they read a few rows; a stuck one is retried).
const FEED_STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How often invalidations L2 did not confirm are retried.
const L2_REPAIR_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Whether a replica is ready to serve: every change feed it follows has taken its starting
/// position (a replica without feeds is ready at once), and every background task is running.
#[derive(Debug, Clone)]
pub struct Readiness {
    feeds: Vec<Arc<FeedStats>>,
    tasks: Vec<TaskState>,
    answering: Arc<probe::Answering>,
}

impl Readiness {
    /// Ready now.
    pub fn is_ready(&self) -> bool {
        use std::sync::atomic::Ordering::Acquire;
        self.feeds.iter().all(|feed| feed.started.load(Acquire))
            && self.tasks.iter().all(|task| task.up.load(Acquire))
    }

    /// At least one backend answered its last ping (see `app/probe.rs`): without any, the
    /// overall health entry is `NOT_SERVING`.
    pub fn any_backend_answers(&self) -> bool {
        self.answering.any()
    }

    /// The background tasks not running now, by name.
    pub fn down(&self) -> Vec<&'static str> {
        use std::sync::atomic::Ordering::Acquire;
        let tasks = self.tasks.iter().filter(|task| !task.up.load(Acquire));
        tasks.map(|task| task.name).collect()
    }
}

/// One error line per reason the backends did not answer at start, naming them.
fn unreachable_at_start(failures: Vec<(SourceKind, String)>) {
    let mut by_reason: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    for (kind, why) in failures {
        by_reason.entry(why).or_default().push(kind.as_str());
    }
    for (why, backends) in by_reason {
        tracing::error!(
            backends = %backends.join(", "),
            error = %why,
            "backend unreachable at start: its sections are missing until it answers"
        );
    }
}

/// Everything a server needs.
#[derive(Debug)]
pub struct App {
    profiles: Profiles,
    server: ServerSettings,
    readiness: Readiness,
    queries: Queries,
    catalog: Arc<Catalog>,
    tasks: Vec<JoinHandle<()>>,
    authenticator: Option<Arc<Authenticator>>,
    audit: Audit,
    rpcs: Option<Arc<RpcMetrics>>,
    metrics: MetricsSettings,
}

/// The descriptor sets of every service the server serves: what the gRPC figures count.
const SERVED: [&[u8]; 4] = [
    c360_proto::FILE_DESCRIPTOR_SET,
    tonic_health::pb::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
];

impl App {
    /// Connects to the backends of `settings` (with their faults, if any), loads the catalog
    /// and starts following the change feeds. Settings out of range are refused first.
    pub async fn connect(settings: &Settings) -> Result<Self, AppError> {
        settings.validate()?;
        // TLS to Postgres and Redis takes the process's rustls provider: ring, as callers'.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let backends = Backends::connect(settings)?.with_faults(settings);
        Self::new(settings, backends).await
    }

    /// An app over `backends`. Loads the catalog first; if that fails, starts with an empty
    /// one and keeps trying.
    pub async fn new(settings: &Settings, backends: Backends) -> Result<Self, AppError> {
        settings.validate()?;
        let authenticator = settings.auth.authenticator()?.map(Arc::new);
        let audit = match (&settings.audit.path, settings.audit.stdout) {
            (Some(path), _) => Audit::file(std::path::Path::new(path))
                .await
                .map_err(|error| AppError::Audit {
                    path: path.clone(),
                    error,
                })?,
            (None, true) => Audit::stdout(),
            (None, false) => Audit::off(),
        };
        let catalog = Arc::new(Catalog::default());
        reload_catalog(&backends.catalog, &catalog).await;
        let stats = Arc::new(CacheStats::default());
        let l2 = match &settings.redis.url {
            Some(url) => Some(RedisCache::new(
                L2Config {
                    url: url.clone(),
                    ca: settings
                        .redis
                        .ca_file
                        .as_deref()
                        .map(|path| {
                            std::fs::read(path).map_err(|e| ConfigError::OutOfRange {
                                key: "redis.ca_file".into(),
                                value: path.display().to_string(),
                                rule: format!("must be readable: {e}"),
                            })
                        })
                        .transpose()?,
                    prefix: settings.redis.prefix.clone(),
                    ttl: settings.redis.ttl,
                    timeout: settings.redis.timeout,
                    keys: SealKeys::from_config(
                        settings.redis.encryption_keys.iter().map(|k| k.expose()),
                    )
                    .map_err(|e| ConfigError::OutOfRange {
                        key: "redis.encryption_keys".into(),
                        value: "(hidden)".into(),
                        rule: e.to_string(),
                    })?
                    .ok_or_else(|| ConfigError::OutOfRange {
                        key: "redis.encryption_keys".into(),
                        value: "[]".into(),
                        rule: "must hold a key when redis.url is set".into(),
                    })?,
                },
                stats.clone(),
            )?),
            None => None,
        };
        if let Some(l2) = &l2
            && let Err(why) = l2.ping().await
        {
            tracing::error!(
                error = %why,
                "Redis unreachable at start: no L2 and no invalidation bus until it answers"
            );
        }
        let cache = ProfileCache::new(
            L1Config {
                max_bytes: settings.cache.max_bytes,
                ttl: settings.cache.ttl,
                not_found_ttl: settings.cache.not_found_ttl,
            },
            stats.clone(),
        );
        let timeouts = PerSource::from_fn(|kind| settings.sources.of(kind).timeout);
        let probed = backends.sources.clone();
        let answering = Arc::new(probe::Answering::default());
        unreachable_at_start(
            probe::ping_all(&probed, &timeouts, &answering, PerSource::same(false)).await,
        );
        let fanout = Fanout::with(
            backends.sources,
            backends.lookups,
            settings.resilience.with_timeouts(timeouts),
        );
        let policy = ReadPolicy {
            partial_ttl: settings.cache.partial_ttl,
            refresh_after: settings.cache.refresh_after,
            max_age: settings.cache.ttl,
        };
        let profiles = Profiles::new(cache, l2.clone(), fanout.clone(), catalog.clone(), policy);
        let queries = Queries::new(fanout.clone(), catalog.clone());

        let mut feeds = Vec::new();
        let mut supervised = Vec::new();
        supervised.push(supervise(
            "catalog refresh",
            {
                let (source, catalog, profiles) =
                    (backends.catalog.clone(), catalog.clone(), profiles.clone());
                let interval = settings.catalog.refresh_interval;
                move || refresh_catalog(source.clone(), catalog.clone(), profiles.clone(), interval)
            },
            || {},
        ));
        supervised.push(supervise(
            "backend probe",
            {
                let (answering, fanout) = (answering.clone(), fanout.clone());
                move || {
                    probe::keep_probing(probed.clone(), fanout.clone(), timeouts, answering.clone())
                }
            },
            || {},
        ));
        if let Some(l2) = l2 {
            supervised.push(supervise(
                "L2 repair",
                {
                    let l2 = l2.clone();
                    move || l2.clone().keep_repairing(L2_REPAIR_EVERY)
                },
                || {},
            ));
            let sink: Arc<dyn BusSink> = Arc::new(profiles.clone());
            supervised.push(supervise(
                "invalidation bus",
                move || cache::bus::listen(l2.clone(), sink.clone()),
                || {},
            ));
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
            };
            for (url, backends) in feed_databases(settings) {
                // Its own small pool: a LISTEN holds a connection for good.
                let db = Db::connect_lazy(
                    &url,
                    PoolOptions {
                        max_connections: 2,
                        statement_timeout: Some(FEED_STATEMENT_TIMEOUT),
                        ..PoolOptions::default()
                    },
                )?;
                let stats = stats.add_feed(backends);
                feeds.push(stats.clone());
                let sink = sink.clone();
                // A follower that stops is not following: the replica is not ready until a
                // new one has taken its position again.
                let stopped = stats.clone();
                supervised.push(supervise(
                    "change feed",
                    move || cache::feed::follow(db.clone(), sink.clone(), stats.clone(), config),
                    move || {
                        stopped
                            .started
                            .store(false, std::sync::atomic::Ordering::Release)
                    },
                ));
            }
        }
        let (tasks, states): (Vec<_>, Vec<_>) = supervised.into_iter().unzip();
        let rpcs = match settings.metrics.enabled {
            // The descriptors are compiled in: they decode, or no build would pass its tests.
            true => Some(Arc::new(
                RpcMetrics::new(&SERVED).expect("the served services' descriptors decode"),
            )),
            false => None,
        };
        Ok(Self {
            rpcs,
            metrics: settings.metrics.clone(),
            profiles,
            server: settings.server.clone(),
            readiness: Readiness {
                feeds,
                tasks: states,
                answering,
            },
            queries,
            catalog,
            tasks,
            authenticator,
            audit,
        })
    }

    /// The gRPC figures per method, when `metrics.enabled`.
    pub fn rpc_metrics(&self) -> Option<Arc<RpcMetrics>> {
        self.rpcs.clone()
    }

    /// Where `/metrics` is to be served, if anywhere.
    pub fn metrics_settings(&self) -> &MetricsSettings {
        &self.metrics
    }

    /// What `/metrics` serves.
    pub fn exposition(&self) -> metrics::Exposition {
        metrics::Exposition {
            profiles: self.profiles.clone(),
            rpcs: self.rpcs.clone(),
            readiness: self.readiness.clone(),
        }
    }

    /// Who may call, when authentication is on.
    pub fn authenticator(&self) -> Option<Arc<Authenticator>> {
        self.authenticator.clone()
    }

    /// Whether it is ready to serve.
    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    /// The profile read path.
    pub fn profiles(&self) -> &Profiles {
        &self.profiles
    }

    /// The in-memory catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The server's own settings: limits, keepalive, connection age.
    pub fn server_settings(&self) -> &ServerSettings {
        &self.server
    }

    /// `CustomerService`.
    pub fn customer_api(&self) -> CustomerApi {
        CustomerApi::new(
            self.profiles.clone(),
            self.queries.clone(),
            self.server.max_watch_streams,
        )
        .audited(self.audit.clone())
    }

    /// `CatalogService`.
    pub fn catalog_api(&self) -> CatalogApi {
        CatalogApi::new(self.catalog.clone(), self.queries.clone())
    }

    /// `CacheAdminService`.
    pub fn cache_admin_api(&self) -> CacheAdminApi {
        CacheAdminApi::new(self.profiles.clone()).with_rpcs(self.rpcs.clone())
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
/// Each backend database once: its URL, and the backends it serves (`billing, orders`), the
/// name it goes by where a URL must not appear (the admin stats).
fn feed_databases(settings: &Settings) -> Vec<(String, String)> {
    let sources = &settings.sources;
    let named = SourceKind::ALL
        .map(|kind| (kind.as_str(), sources.of(kind)))
        .into_iter()
        .chain([("catalog", &sources.catalog)]);
    let mut databases: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, source) in named {
        databases
            .entry(settings.source_url(source))
            .or_default()
            .push(name);
    }
    databases
        .into_iter()
        .map(|(url, names)| (url, names.join(", ")))
        .collect()
}

/// What the change feeds drive: invalidations, catalog reloads, flushes.
struct Freshener {
    profiles: Profiles,
    catalog: Arc<Catalog>,
    catalog_source: CatalogSource,
}

impl FeedSink for Freshener {
    fn customers_changed(&self, customers: Vec<CustomerId>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.profiles.invalidate(&customers).await;
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
}

/// Loads the catalog into `catalog`; true if its content changed.
async fn reload_catalog(source: &CatalogSource, catalog: &Catalog) -> bool {
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

/// Reads the catalog every `interval` and swaps it in: a safety net under the feed (and the
/// way out of an empty catalog at start). Profiles follow as after a feed change.
async fn refresh_catalog(
    source: CatalogSource,
    catalog: Arc<Catalog>,
    profiles: Profiles,
    interval: std::time::Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if reload_catalog(&source, &catalog).await {
            profiles.catalog_changed();
        }
    }
}
