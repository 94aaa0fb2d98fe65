//! The wiring: settings in, a ready-to-serve [`App`] out. It assembles what the subsystems
//! build from their own settings — the backends (`backends.rs`), the caches, the fan-out, the
//! read path, the services — starts the background tasks that keep them fresh, each
//! supervised (`tasks.rs`, `supervise.rs`), follows readiness (`readiness.rs`, `probe.rs`),
//! and hands the server what it serves. Settings are composed and loaded by `config.rs`; logs
//! and traces are set up by `telemetry.rs`.

mod backends;
pub mod config;
mod probe;
mod readiness;
pub mod reload;
mod supervise;
mod tasks;
pub mod telemetry;

use std::{collections::BTreeMap, future::Future, sync::Arc};

use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

pub use backends::Backends;

use self::config::{ConfigError, Settings};
use crate::{
    core::{
        attention::{Rules, Tail},
        cache::{CacheStats, L2Error, ProfileCache, RedisCache},
        db::DbError,
        fanout::Fanout,
        offers::OfferRules,
        queries::Queries,
        read::{Profiles, reload_catalog},
        reference::Catalog,
        vocab::{PerSource, SourceKind},
    },
    edge::{
        audit::{Audit, AuditError},
        auth::{AuthSetupError, LiveAuth},
        grpc::{AttentionApi, CacheAdminApi, CatalogApi, CustomerApi, HistoryApi, OfferApi},
        rpc_metrics::RpcMetrics,
        server::{self, Readiness, ServeError, Served, ServerSettings},
    },
};

/// Why an app could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A setting is out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The audit file cannot be opened.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// Authentication is configured with unusable keys.
    #[error(transparent)]
    Auth(#[from] AuthSetupError),
    /// A backend URL is unusable.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The Redis settings are unusable.
    #[error(transparent)]
    Redis(#[from] L2Error),
    /// The attention queue's tables are not in its database.
    #[error(
        "the attention queue's tables are not in its database ({0}): apply c360's migrations \
         there (`c360 seed` does), name another with attention.database_url, or turn the queue \
         off with attention.enabled = false"
    )]
    Attention(String),
    /// The offers' ledger is not in its database.
    #[error(
        "the offers' ledger is not in its database ({0}): apply c360's migrations there \
         (`c360 seed` does), name another with offers.database_url, or turn offers off with \
         offers.enabled = false"
    )]
    Offers(String),
    /// The history index could not be made.
    #[error("history search: {0}")]
    Search(String),
    /// A database cannot be followed as `feed.capture` asks.
    #[error(transparent)]
    Feed(#[from] crate::core::cache::feed::LogicalRefused),
}

/// Everything a server needs.
#[derive(Debug)]
pub struct App {
    profiles: Profiles,
    queries: Queries,
    server: ServerSettings,
    readiness: watch::Receiver<Readiness>,
    tasks: Vec<JoinHandle<()>>,
    authenticator: Option<Arc<LiveAuth>>,
    audit: Audit,
    rpcs: Option<Arc<RpcMetrics>>,
    attention: Option<Arc<Tail>>,
    lease: std::time::Duration,
    offers: Option<OfferApi>,
    history: Option<HistoryApi>,
}

/// The descriptor sets of every service the server serves: what the gRPC figures count.
const SERVED: [&[u8]; 4] = [
    c360_proto::FILE_DESCRIPTOR_SET,
    tonic_health::pb::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
];

impl App {
    /// Connects to the backends of `settings`, loads the catalog
    /// and starts following the change feeds. Settings out of range are refused first.
    pub async fn connect(settings: &Settings) -> Result<Self, AppError> {
        settings.validate()?;
        // TLS to Postgres and Redis takes the process's rustls provider: ring, as callers'.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let backends = Backends::connect(settings)?;
        Self::new(settings, backends).await
    }

    /// An app over `backends`. Loads the catalog first; if that fails, starts with an empty
    /// one and keeps trying.
    pub async fn new(settings: &Settings, backends: Backends) -> Result<Self, AppError> {
        settings.validate()?;
        let authenticator = settings.auth.authenticator()?;
        let authenticator = authenticator.map(|first| Arc::new(LiveAuth::new(first)));
        let audit = Audit::open(&settings.audit).await?;
        let catalog = Arc::new(Catalog::default());
        reload_catalog(&backends.catalog, &catalog).await;
        let stats = Arc::new(CacheStats::default());
        let l2 = RedisCache::connect(&settings.redis, stats.clone())?;
        if let Some(l2) = &l2
            && let Err(why) = l2.ping().await
        {
            tracing::error!(
                error = %why,
                "Redis unreachable at start: no L2 and no invalidation bus until it answers"
            );
        }
        let (sources, lookups) = (backends.sources.clone(), backends.lookups.clone());
        let fanout = Fanout::with(sources, lookups, &settings.sources, &settings.resilience);
        let answering = Arc::new(probe::Answering::default());
        let timeouts = PerSource::from_fn(|kind| settings.sources.of(kind).timeout);
        let failures = probe::ping_all(&fanout, &timeouts, &answering, PerSource::same(false));
        unreachable_at_start(failures.await);
        let cache = ProfileCache::new(&settings.cache, stats.clone());
        let profiles = Profiles::new(cache, l2.clone(), fanout.clone(), catalog, settings.cache);
        let tasks = tasks::start(tasks::Context {
            settings,
            backends: &backends,
            profiles: &profiles,
            l2,
            stats: &stats,
            answering: answering.clone(),
        })
        .await?;
        let attention = tasks.attention;
        let offers = match tasks.offers.clone() {
            Some(tail) => {
                let problems = Rules::new(&settings.attention).map_err(ConfigError::from)?;
                let rules = OfferRules::new(&settings.offers);
                let api = OfferApi::new(profiles.clone(), tail, rules, problems);
                Some(api.audited(audit.clone()))
            }
            None => None,
        };
        let history =
            (tasks.history).map(|history| HistoryApi::new(history).audited(audit.clone()));
        let (readiness, follower) = readiness::follow(readiness::Inputs {
            feeds: tasks.feeds,
            tasks: tasks.states,
            answering: answering.subscribe(),
        });
        // The descriptors are compiled in: they decode, or no build would pass its tests.
        let rpcs = settings.metrics.enabled.then(|| {
            Arc::new(RpcMetrics::new(&SERVED).expect("the served services' descriptors decode"))
        });
        Ok(Self {
            queries: Queries::new(fanout, profiles.catalog().clone()),
            profiles,
            server: settings.server.clone(),
            readiness,
            tasks: tasks.handles.into_iter().chain([follower]).collect(),
            authenticator,
            audit,
            rpcs,
            attention,
            lease: settings.attention.lease,
            offers,
            history,
        })
    }

    /// Reads `[auth]` again from `source` on SIGHUP and when its files change, as long as the
    /// app serves (see [`reload`]); `settings` are what it was built from. Nothing to reload
    /// with authentication off.
    pub fn reload_auth_from(&mut self, source: reload::ConfigSource, settings: &Settings) {
        if let Some(auth) = &self.authenticator {
            self.tasks
                .push(reload::spawn(auth.clone(), source, settings));
        }
    }

    /// Waits until history search answers (its index made at start), or for `at_most`;
    /// whether it does. At once when search is off.
    pub async fn history_ready(&self, at_most: std::time::Duration) -> bool {
        match &self.history {
            Some(history) => history.ready_within(at_most).await,
            None => true,
        }
    }

    /// The attention queue's figures (derivations, claims…), when the queue is on.
    pub fn attention(&self) -> Option<crate::core::attention::AttentionSnapshot> {
        let tail = self.attention.as_ref()?;
        Some(tail.store().figures().snapshot())
    }

    /// The profile read path.
    pub fn profiles(&self) -> &Profiles {
        &self.profiles
    }

    /// The in-memory catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        self.profiles.catalog()
    }

    /// Serves gRPC on `listener`, and `/metrics` on `metrics` if given, until `shutdown`
    /// resolves (see [`server::run`]); the background tasks stop with it.
    pub async fn serve(
        self,
        listener: TcpListener,
        metrics: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let served = Served {
            customer: CustomerApi::new(
                self.profiles.clone(),
                self.queries.clone(),
                self.server.max_watch_streams,
                self.server.watches_per_caller(),
            )
            .audited(self.audit.clone())
            .with_offers(self.offers.as_ref().map(OfferApi::tail)),
            catalog: CatalogApi::new(self.profiles.catalog().clone(), self.queries.clone()),
            admin: CacheAdminApi::new(self.profiles.clone()).with_rpcs(self.rpcs.clone()),
            attention: self
                .attention
                .clone()
                .map(|tail| AttentionApi::new(tail, self.lease).audited(self.audit.clone())),
            offers: self.offers.clone(),
            history: self.history.clone(),
            profiles: self.profiles.clone(),
            settings: self.server.clone(),
            readiness: self.readiness.clone(),
            authenticator: self.authenticator.clone(),
            rpcs: self.rpcs.clone(),
            audit: self.audit.clone(),
        };
        server::run(listener, metrics, served, shutdown).await
    }
}

impl Drop for App {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
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
