//! Settings: defaults, then a TOML file, then `C360_*` environment variables, then flags;
//! each overrides the one before. Nested keys are separated by `__` in variable names:
//! `C360_SOURCES__BILLING__TIMEOUT=150ms` sets `[sources.billing] timeout`. Durations are
//! written as `250ms`, `2s`, `5m`.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
    value::Value,
};
use serde::{Deserialize, Serialize};

mod validate;

use crate::{
    app::telemetry::{LogSettings, TraceSettings},
    core::cache::feed::FeedConfig,
    core::db::PoolOptions,
    core::fanout::AdmissionSettings,
    core::fanout::{BreakerSettings, HedgeSettings, Resilience},
    core::sources::FaultSettings,
    core::vocab::{PerSource, SourceKind},
    edge::auth::{
        ApiKeySettings, AuthSetupError, Authenticator, JwtSettings, RateLimit, RoleSettings,
    },
};

/// Why the settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The named file does not exist.
    #[error("configuration file {0} does not exist")]
    MissingFile(String),
    /// A value is missing, malformed or unknown.
    #[error(transparent)]
    Invalid(#[from] Box<figment::Error>),
    /// The server would listen beyond loopback with nothing authenticating its callers.
    #[error(
        "`{key}` = {addr} is beyond loopback, and authentication is off: anyone who \
         reaches that port could read every profile. Turn it on ([auth] enabled = true, with \
         [auth.jwt] or [[auth.api_keys]]), or listen on 127.0.0.1 (or [::1]); or, if a proxy in \
         front of c360 authenticates every caller, say so with \
         --unauthenticated-beyond-loopback (`server.unauthenticated_beyond_loopback = true`, \
         C360_SERVER__UNAUTHENTICATED_BEYOND_LOOPBACK=true)"
    )]
    Unprotected {
        /// `server.listen` or `metrics.listen`.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
    },
    /// A value is out of its range.
    #[error("`{key}` = {value} is out of range: it {rule}")]
    OutOfRange {
        /// The dotted key, as in the file.
        key: String,
        /// The value, as given (a URL only by its scheme).
        value: String,
        /// What it must be.
        rule: String,
    },
}

/// Everything c360 can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The gRPC server.
    pub server: ServerSettings,
    /// The database every backend uses unless its own URL is set.
    pub database: DatabaseSettings,
    /// Per-backend overrides.
    pub sources: SourcesSettings,
    /// The L1 cache.
    pub cache: CacheSettings,
    /// The in-memory catalog.
    pub catalog: CatalogSettings,
    /// L2 and the invalidation bus.
    pub redis: RedisSettings,
    /// Following the backends' change feeds.
    pub feed: FeedSettings,
    /// Admission control, circuit breakers and hedging.
    pub resilience: ResilienceSettings,
    /// Who may call, and what.
    pub auth: AuthSettings,
    /// The audit trail of profile reads and lookups.
    pub audit: AuditSettings,
    /// Logs.
    pub log: LogSettings,
    /// The figures c360 keeps about itself, and the Prometheus endpoint that serves them.
    pub metrics: MetricsSettings,
    /// Spans to an OpenTelemetry collector.
    pub trace: TraceSettings,
}

/// The figures c360 keeps about itself (what `/metrics`, `c360 stats` and `c360 top` show).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Count and time every gRPC call per method (the `grpc_server_*` series and the
    /// percentiles of `c360 stats`). The other figures are kept anyway.
    pub enabled: bool,
    /// Where to serve `/metrics` (Prometheus text format); not served when unset. Beyond
    /// loopback under the gRPC port's rule; with authentication on, a scrape needs
    /// credentials as a call does (any role).
    pub listen: Option<SocketAddr>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
        }
    }
}

/// The gRPC server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// After a shutdown signal, health says `NOT_SERVING` and new calls are still served
    /// this long, so that load balancers take the replica out before its listener closes.
    #[serde(with = "humantime_serde")]
    pub drain: Duration,
    /// How long in-flight calls may take to finish once the listener has closed.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// HTTP/2 streams (calls) one connection may have open at once.
    pub max_concurrent_streams: u32,
    /// An HTTP/2 ping is sent on a connection idle this long...
    #[serde(with = "humantime_serde")]
    pub keepalive_interval: Duration,
    /// ...and the connection is closed if it is not answered within this.
    #[serde(with = "humantime_serde")]
    pub keepalive_timeout: Duration,
    /// A connection is asked to go away after this long, so that clients spread over new
    /// replicas...
    #[serde(with = "humantime_serde")]
    pub max_connection_age: Duration,
    /// ...and closed this long after, whatever is still open on it.
    #[serde(with = "humantime_serde")]
    pub max_connection_age_grace: Duration,
    /// `WatchCustomerProfile` streams this replica keeps open at most; beyond it a watch is
    /// refused `RESOURCE_EXHAUSTED`.
    pub max_watch_streams: usize,
    /// The deadline of a call that sends no `grpc-timeout`, and the longest one a call may
    /// ask for (watches excepted).
    #[serde(with = "humantime_serde")]
    pub max_deadline: Duration,
    /// Listen beyond loopback although c360 authenticates no caller: only behind a proxy
    /// that does. Without it, a `listen` address beyond loopback is refused.
    pub unauthenticated_beyond_loopback: bool,
    /// Browser origins allowed to call over gRPC-Web (`https://desk.example.com`); a
    /// browser request from any other origin is refused `403`. Empty: none.
    pub cors_origins: Vec<String>,
    /// TLS for callers; unset: plaintext.
    pub tls: Option<TlsSettings>,
}

/// TLS for callers, from PEM files that are read again when they change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The server's certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// With it, callers must present a certificate this CA issued (mutual TLS).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// How often the files are checked for a change (a renewed certificate).
    #[serde(default = "default_tls_reload", with = "humantime_serde")]
    pub reload_interval: Duration,
}

fn default_tls_reload() -> Duration {
    Duration::from_secs(10)
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            drain: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(10),
            max_concurrent_streams: 256,
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            max_connection_age: Duration::from_secs(30 * 60),
            max_connection_age_grace: Duration::from_secs(30),
            max_watch_streams: 10_000,
            max_deadline: Duration::from_secs(5),
            unauthenticated_beyond_loopback: false,
            cors_origins: Vec::new(),
            tls: None,
        }
    }
}

/// The shared database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://…` or `sqlite://…`.
    pub url: String,
    /// Connections per backend pool.
    pub max_connections: u32,
    /// How long a query may wait for a free connection.
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        let pool = PoolOptions::default();
        Self {
            url: "sqlite://c360-demo.db".into(),
            // A database runs a few queries per core at once; more connections only queue
            // inside it, where queueing costs context switches (BENCHMARKS.md, overload: 8
            // per backend served 11 % more uncached reads than 16). Admission control queues
            // the rest in c360, where it is cheap and sheddable.
            max_connections: 8,
            acquire_timeout: pool.acquire_timeout,
        }
    }
}

/// One backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceSettings {
    /// Its own database; unset: `database.url`.
    pub url: Option<String>,
    /// Connections of its pool; unset: `database.max_connections`.
    pub max_connections: Option<u32>,
    /// Longest a read may take before the backend is reported `TIMEOUT`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Injected latency and errors, for tests and load tests; none by default.
    pub faults: FaultSettings,
}

impl Default for SourceSettings {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: None,
            timeout: Duration::from_millis(500),
            faults: FaultSettings::default(),
        }
    }
}

/// Per-backend settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct SourcesSettings {
    /// Billing.
    pub billing: SourceSettings,
    /// Orders.
    pub orders: SourceSettings,
    /// Fulfilment.
    pub fulfilment: SourceSettings,
    /// CRM.
    pub crm: SourceSettings,
    /// The catalog (its timeout is unused: it is read in the background).
    pub catalog: SourceSettings,
}

impl SourcesSettings {
    /// The settings of one of the four profile backends.
    pub fn of(&self, kind: SourceKind) -> &SourceSettings {
        match kind {
            SourceKind::Billing => &self.billing,
            SourceKind::Orders => &self.orders,
            SourceKind::Fulfilment => &self.fulfilment,
            SourceKind::Crm => &self.crm,
        }
    }
}

/// The L1 cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// Bound on the memory held by cached profiles, in bytes.
    pub max_bytes: u64,
    /// Age after which a cached profile is dropped.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// How long a partial profile (a backend failed) is reused before the backends are asked
    /// again.
    #[serde(with = "humantime_serde")]
    pub partial_ttl: Duration,
    /// A cached profile older than this is served while one background reload replaces it.
    #[serde(with = "humantime_serde")]
    pub refresh_after: Duration,
    /// How long a customer CRM does not know is answered `NOT_FOUND` from memory (zero: never),
    /// unless the change feed reports the customer first.
    #[serde(with = "humantime_serde")]
    pub not_found_ttl: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            max_bytes: 256 << 20,
            ttl: Duration::from_secs(300),
            partial_ttl: Duration::from_secs(1),
            refresh_after: Duration::from_secs(60),
            not_found_ttl: Duration::from_secs(10),
        }
    }
}

/// Where the audit trail goes: one JSON line per profile read and lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// A file the records are appended to.
    pub path: Option<String>,
    /// Or standard output.
    pub stdout: bool,
}

/// Authentication and the roles it grants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Every call but health's must carry credentials whose roles grant its RPC.
    pub enabled: bool,
    /// Bearer tokens, for agent UIs.
    pub jwt: Option<JwtConfig>,
    /// API keys, for services.
    pub api_keys: Vec<ApiKeyConfig>,
    /// Role name → the RPCs it grants: `CustomerService/GetCustomerProfile`,
    /// `CustomerService/*`, or `*`.
    pub roles: BTreeMap<String, RoleConfig>,
    /// Calls a second each caller may make, sustained (0: no limit); beyond it calls are
    /// refused `RESOURCE_EXHAUSTED` with the wait in a `RetryInfo`.
    pub rate_limit: u32,
    /// Calls a caller may make at once above the rate.
    pub rate_burst: u32,
}

impl Default for AuthSettings {
    fn default() -> Self {
        let strings = |items: &[&str]| items.iter().map(|r| (*r).to_owned()).collect();
        let role = |rpcs: &[&str]| RoleConfig {
            rpcs: strings(rpcs),
            sections: vec!["*".into()],
            hide: Vec::new(),
            bypass_cache: false,
        };
        Self {
            enabled: false,
            jwt: None,
            api_keys: Vec::new(),
            rate_limit: 500,
            rate_burst: 1000,
            roles: BTreeMap::from([
                (
                    // Agents see that a card is on file and expiring (the insights say
                    // so), not the cards themselves.
                    "agent".to_owned(),
                    RoleConfig {
                        hide: strings(&["billing.payment_methods"]),
                        ..role(&["CustomerService/*", "CatalogService/*"])
                    },
                ),
                (
                    "chatbot".to_owned(),
                    RoleConfig {
                        sections: strings(&["identity", "shipments"]),
                        ..role(&[
                            "CustomerService/GetCustomerProfile",
                            "CatalogService/CheckReturnEligibility",
                        ])
                    },
                ),
                (
                    "service".to_owned(),
                    role(&["CustomerService/*", "CatalogService/*"]),
                ),
                (
                    "admin".to_owned(),
                    RoleConfig {
                        bypass_cache: true,
                        ..role(&["*"])
                    },
                ),
            ]),
        }
    }
}

/// How bearer tokens are checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Accepted algorithms, all of one family: `["RS256"]`, `["ES256"]`, `["HS256"]`.
    pub algorithms: Vec<String>,
    /// The issuer (`iss`) tokens must name.
    pub issuer: String,
    /// The audience (`aud`) tokens must name.
    pub audience: String,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(with = "humantime_serde", default = "default_leeway")]
    pub leeway: Duration,
    /// An HMAC secret, for `HS*` (development; at least 32 bytes).
    #[serde(default)]
    pub secret: Option<Secret>,
    /// The issuer's public keys: a PEM file or a JWKS (JSON) file.
    #[serde(default)]
    pub keys_file: Option<String>,
    /// The claim that lists the caller's roles.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
}

impl JwtConfig {
    /// What [`Authenticator`] and [`crate::edge::auth::mint`] take.
    pub fn settings(&self) -> JwtSettings {
        JwtSettings {
            algorithms: self.algorithms.clone(),
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            leeway: self.leeway,
            secret: self.secret.as_ref().map(|s| s.expose().to_owned()),
            keys_file: self.keys_file.clone(),
            roles_claim: self.roles_claim.clone(),
        }
    }
}

fn default_leeway() -> Duration {
    Duration::from_secs(30)
}

fn default_roles_claim() -> String {
    "roles".into()
}

/// A service's API key: only its hash is configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Who holds it (logs and audit name it so).
    pub name: String,
    /// SHA-256 of the key, 64 hex digits (`c360 key-hash`, or `printf %s KEY | sha256sum`).
    pub sha256: String,
    /// Its roles.
    pub roles: Vec<String>,
}

/// What a role grants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// RPCs: `Service/Method`, `Service/*` or `*`.
    pub rpcs: Vec<String>,
    /// Profile sections it reads, as read-mask paths (`identity`, `billing`, …); `*`: all.
    #[serde(default = "every_section")]
    pub sections: Vec<String>,
    /// Fields of those sections it may not read: `billing.payment_methods`.
    #[serde(default)]
    pub hide: Vec<String>,
    /// Whether it may read past the caches (`bypass_cache`).
    #[serde(default)]
    pub bypass_cache: bool,
}

fn every_section() -> Vec<String> {
    vec!["*".into()]
}

impl AuthSettings {
    /// The authenticator these settings describe; `None` when authentication is off.
    pub fn authenticator(&self) -> Result<Option<Authenticator>, AuthSetupError> {
        if !self.enabled {
            return Ok(None);
        }
        let jwt = self.jwt.as_ref().map(JwtConfig::settings);
        let keys: Vec<ApiKeySettings> = self
            .api_keys
            .iter()
            .map(|k| ApiKeySettings {
                name: k.name.clone(),
                sha256: k.sha256.clone(),
                roles: k.roles.clone(),
            })
            .collect();
        let roles = self
            .roles
            .iter()
            .map(|(name, role)| {
                let role = RoleSettings {
                    rpcs: role.rpcs.clone(),
                    sections: role.sections.clone(),
                    hide: role.hide.clone(),
                    bypass_cache: role.bypass_cache,
                };
                (name.clone(), role)
            })
            .collect();
        let limit = RateLimit {
            per_second: self.rate_limit,
            burst: self.rate_burst,
        };
        Authenticator::new(jwt.as_ref(), &keys, &roles)
            .map(|auth| Some(auth.with_rate_limit(limit)))
    }
}

/// What keeps c360 answering when the backends are slow, failing or overloaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResilienceSettings {
    /// Backend loads admitted at once at start; the limit then adapts to the backends'
    /// latency.
    pub initial_concurrency: usize,
    /// The adaptive limit never goes below this...
    pub min_concurrency: usize,
    /// ...nor above this.
    pub max_concurrency: usize,
    /// How much slower than with no queueing loads may get before the limit shrinks.
    pub latency_tolerance: f64,
    /// The share of the limit batches, warming and refresh ahead may use.
    pub bulk_share: f64,
    /// Reads of a backend that must fail in a row for its circuit to open (0: never).
    pub breaker_failures: u32,
    /// How long an open circuit refuses reads before it lets a probe through.
    #[serde(with = "humantime_serde")]
    pub breaker_cooldown: Duration,
    /// Hedged reads allowed per read, at most (0: no hedging).
    pub hedge_budget: f64,
    /// No read is hedged sooner than this.
    #[serde(with = "humantime_serde")]
    pub hedge_min_delay: Duration,
}

impl Default for ResilienceSettings {
    fn default() -> Self {
        let (admission, breaker, hedge) = (
            AdmissionSettings::default(),
            BreakerSettings::default(),
            HedgeSettings::default(),
        );
        Self {
            initial_concurrency: admission.initial_limit,
            min_concurrency: admission.min_limit,
            max_concurrency: admission.max_limit,
            latency_tolerance: admission.tolerance,
            bulk_share: admission.bulk_share,
            breaker_failures: breaker.failures,
            breaker_cooldown: breaker.cooldown,
            hedge_budget: hedge.budget,
            hedge_min_delay: hedge.min_delay,
        }
    }
}

impl ResilienceSettings {
    /// The fan-out's settings, with each backend's `timeouts`.
    pub fn with_timeouts(&self, timeouts: PerSource<Duration>) -> Resilience {
        Resilience {
            timeouts,
            breaker: BreakerSettings {
                failures: self.breaker_failures,
                cooldown: self.breaker_cooldown,
            },
            hedge: HedgeSettings {
                budget: self.hedge_budget,
                min_delay: self.hedge_min_delay,
            },
            admission: AdmissionSettings {
                initial_limit: self.initial_concurrency,
                min_limit: self.min_concurrency,
                max_limit: self.max_concurrency,
                tolerance: self.latency_tolerance,
                bulk_share: self.bulk_share,
            },
        }
    }
}

/// The in-memory catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogSettings {
    /// How often the catalog and the return policies are read again.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
}

impl Default for CatalogSettings {
    fn default() -> Self {
        Self {
            refresh_interval: Duration::from_secs(60),
        }
    }
}

/// L2 and the invalidation bus, in Redis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://127.0.0.1:6379`, or `rediss://…` for TLS; unset: no L2, and admin
    /// invalidations stay on this replica.
    pub url: Option<String>,
    /// With a `rediss://` URL: the CA (PEM) that issued Redis's certificate, when it is not
    /// one of the system's.
    pub ca_file: Option<PathBuf>,
    /// Key and channel prefix, so that deployments sharing a Redis never meet.
    pub prefix: String,
    /// Lifetime of an L2 entry.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// Longest a Redis call may take before it counts as a miss.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Keys that seal L2 entries (ChaCha20-Poly1305), each `id:base64-of-32-bytes`; the
    /// first seals, all open (rotation: put the new key first, drop the old one after
    /// `redis.ttl`). Required with `redis.url`.
    pub encryption_keys: Vec<Secret>,
}

/// A value never shown: `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret of `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: None,
            ca_file: None,
            prefix: "c360".into(),
            ttl: Duration::from_secs(300),
            timeout: Duration::from_millis(50),
            encryption_keys: Vec::new(),
        }
    }
}

/// Following the change feeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedSettings {
    /// Follow the feeds. Off only for backends without the reference schema's feed.
    pub enabled: bool,
    /// SQLite: how often the feed is read; Postgres: how often without a NOTIFY.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Feed rows older than this are deleted.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
}

impl Default for FeedSettings {
    fn default() -> Self {
        let feed = FeedConfig::default();
        Self {
            enabled: true,
            poll_interval: feed.poll_interval,
            retention: feed.retention,
        }
    }
}

/// `C360_` variables the client commands read (credentials, TLS files, the address): not
/// configuration, so a shell that has them set can still start the server.
const CLIENT_VARIABLES: [&str; 6] = [
    "TOKEN",
    "API_KEY",
    "CA_CERT",
    "CLIENT_CERT",
    "CLIENT_KEY",
    "ADDR",
];

impl Settings {
    /// Reads the defaults, then `file` (which must exist when named), then `C360_*`
    /// variables, then `flags` (dotted keys, e.g. `server.listen`).
    pub fn load(
        file: Option<&Path>,
        flags: impl IntoIterator<Item = (&'static str, Value)>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Self::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::MissingFile(file.display().to_string()));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(
            Env::prefixed("C360_")
                .filter(|key| {
                    !CLIENT_VARIABLES
                        .iter()
                        .any(|client| key.as_str().eq_ignore_ascii_case(client))
                })
                .split("__"),
        );
        for (key, value) in flags {
            figment = figment.merge(Serialized::default(key, value));
        }
        Self::extract(figment)
    }

    /// The defaults, then the TOML `text` (nothing from the environment): what a
    /// configuration file alone says.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::extract(
            Figment::from(Serialized::defaults(Self::default())).merge(Toml::string(text)),
        )
    }

    fn extract(figment: Figment) -> Result<Self, ConfigError> {
        let settings: Self = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The URL of one backend.
    pub fn source_url(&self, settings: &SourceSettings) -> String {
        settings
            .url
            .clone()
            .unwrap_or_else(|| self.database.url.clone())
    }

    /// The pool options of one backend: on Postgres a statement stops when the read it
    /// serves has timed out (nobody waits for it any more).
    pub fn pool(&self, settings: &SourceSettings) -> PoolOptions {
        PoolOptions {
            max_connections: settings
                .max_connections
                .unwrap_or(self.database.max_connections),
            acquire_timeout: self.database.acquire_timeout,
            statement_timeout: Some(settings.timeout),
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error.
mod tests {
    use figment::Jail;

    use super::*;

    fn flag(key: &'static str, value: &str) -> (&'static str, Value) {
        (key, Value::from(value.to_owned()))
    }

    #[test]
    fn flags_beat_variables_which_beat_the_file_which_beats_the_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "c360.toml",
                r#"
                [server]
                listen = "127.0.0.1:7000"
                [database]
                url = "postgres://file"
                [sources.billing]
                timeout = "150ms"
                [cache]
                ttl = "1m"
                "#,
            )?;
            jail.set_env("C360_DATABASE__URL", "postgres://env");
            jail.set_env("C360_CACHE__TTL", "2m");
            let settings = Settings::load(Some(Path::new("c360.toml")), [flag("cache.ttl", "3m")])
                .map_err(|e| e.to_string())?;
            assert_eq!(settings.server.listen, "127.0.0.1:7000".parse().unwrap());
            assert_eq!(settings.database.url, "postgres://env");
            assert_eq!(settings.cache.ttl, Duration::from_secs(180));
            assert_eq!(settings.sources.billing.timeout, Duration::from_millis(150));
            assert_eq!(settings.sources.orders.timeout, Duration::from_millis(500));
            assert_eq!(settings.source_url(&settings.sources.crm), "postgres://env");
            Ok(())
        });
    }

    #[test]
    fn the_client_commands_variables_are_not_configuration() {
        Jail::expect_with(|jail| {
            for name in CLIENT_VARIABLES {
                jail.set_env(format!("C360_{name}"), "client's");
            }
            assert_eq!(Settings::load(None, []).unwrap(), Settings::default());
            jail.set_env("C360_TOKENS", "a typo");
            assert!(Settings::load(None, []).is_err());
            Ok(())
        });
    }

    #[test]
    fn a_named_file_must_exist_and_unknown_keys_are_refused() {
        Jail::expect_with(|jail| {
            let missing = Settings::load(Some(Path::new("nope.toml")), []);
            assert!(matches!(missing, Err(ConfigError::MissingFile(_))));
            jail.create_file("typo.toml", "[cache]\nttl_seconds = 5\n")?;
            let typo = Settings::load(Some(Path::new("typo.toml")), []);
            assert!(typo.is_err());
            jail.create_file("bad.toml", "[cache]\nttl = \"soon\"\n")?;
            assert!(Settings::load(Some(Path::new("bad.toml")), []).is_err());
            jail.set_env("C360_FEED__POLL_INTERVAL", "0s");
            let zero = Settings::load(None, []).expect_err("a zero interval");
            assert_eq!(
                zero.to_string(),
                "`feed.poll_interval` = 0s is out of range: it must be from 10ms to 1m"
            );
            Ok(())
        });
    }

    #[test]
    fn the_example_configuration_is_valid() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("c360.example.toml");
        Jail::expect_with(|_| {
            let settings = Settings::load(Some(&example), []).map_err(|e| e.to_string())?;
            assert_eq!(settings.server.listen, ServerSettings::default().listen);
            // The file's text alone says the same.
            let text = std::fs::read_to_string(&example).map_err(|e| e.to_string())?;
            assert_eq!(Settings::from_toml(&text).ok(), Some(settings));
            Ok(())
        });
    }

    #[test]
    fn text_that_is_not_a_valid_configuration_is_refused_with_its_key() {
        let refused = Settings::from_toml("[server]\nmax_deadline = \"0s\"\n").unwrap_err();
        assert!(
            refused.to_string().contains("server.max_deadline"),
            "{refused}"
        );
        assert!(Settings::from_toml("[server]\nlisten = 5\n").is_err());
        assert!(Settings::from_toml("[nonsense]\n").is_err());
    }
}
