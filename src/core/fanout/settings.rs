//! How each backend is read (`[sources.*]`: its database and pool, its timeout, its injected
//! faults) and what keeps c360 answering when the backends are slow, failing or overloaded
//! (`[resilience]`: admission control, circuit breakers, hedging).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::FaultSettings;
use crate::core::{
    db::{DATABASE_SCHEMES, DatabaseSettings, PoolOptions},
    settings::{Check, MINUTE, MS},
    vocab::SourceKind,
};

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

    /// The same, to change.
    pub fn of_mut(&mut self, kind: SourceKind) -> &mut SourceSettings {
        match kind {
            SourceKind::Billing => &mut self.billing,
            SourceKind::Orders => &mut self.orders,
            SourceKind::Fulfilment => &mut self.fulfilment,
            SourceKind::Crm => &mut self.crm,
        }
    }
}

impl SourceSettings {
    /// Its database's URL: its own, else the shared one.
    pub fn url(&self, database: &DatabaseSettings) -> String {
        self.url.clone().unwrap_or_else(|| database.url.clone())
    }

    /// Its pool: its own bound, else the shared one. On Postgres a statement stops when the
    /// read it serves has timed out (nobody waits for it any more).
    pub fn pool(&self, database: &DatabaseSettings) -> PoolOptions {
        PoolOptions {
            max_connections: self.max_connections.unwrap_or(database.max_connections),
            acquire_timeout: database.acquire_timeout,
            statement_timeout: Some(self.timeout),
        }
    }

    fn check(&self, c: &mut Check) {
        if let Some(url) = &self.url {
            c.url("url", url, DATABASE_SCHEMES);
        }
        if let Some(connections) = self.max_connections {
            c.count("max_connections", u64::from(connections), 1, 1000);
        }
        c.duration("timeout", self.timeout, MS, MINUTE);
        c.section("faults", |c| self.faults.check(c));
    }
}

impl SourcesSettings {
    /// Refuses every value out of its range.
    pub fn check(&self, c: &mut Check) {
        for (name, source) in self.named() {
            c.section(name, |c| source.check(c));
        }
    }

    /// Each backend's settings by name, the catalog's included.
    pub fn named(&self) -> [(&'static str, &SourceSettings); 5] {
        [
            ("billing", &self.billing),
            ("orders", &self.orders),
            ("fulfilment", &self.fulfilment),
            ("crm", &self.crm),
            ("catalog", &self.catalog),
        ]
    }
}

/// What keeps c360 answering when the backends are slow, failing or overloaded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResilienceSettings {
    /// Backend loads admitted at once at start; the limit then adapts to the backends'
    /// latency.
    pub initial_concurrency: usize,
    /// The adaptive limit never goes below this...
    pub min_concurrency: usize,
    /// ...nor above this.
    pub max_concurrency: usize,
    /// Loads are shed only once they take longer than this (loads beyond the limit are let
    /// in within a window while they take no longer)...
    #[serde(with = "humantime_serde")]
    pub latency_target: Duration,
    /// ...and than this share of their callers' remaining time, when that is less...
    pub deadline_share: f64,
    /// ...or than this many times the backends' latency with little queueing, when that is
    /// more.
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
        Self {
            // Room for a burst: a backend that stalls holds every load for its timeout
            // until its circuit opens (100 reads/s at 300 ms is 30 at once).
            initial_concurrency: 64,
            min_concurrency: 4,
            max_concurrency: 1024,
            latency_target: Duration::from_millis(100),
            deadline_share: 0.25,
            latency_tolerance: 2.0,
            bulk_share: 0.5,
            breaker_failures: 5,
            breaker_cooldown: Duration::from_millis(500),
            hedge_budget: 0.04,
            hedge_min_delay: Duration::from_millis(2),
        }
    }
}

impl ResilienceSettings {
    /// Refuses every value out of its range; whether `latency_target` holds (what spans
    /// sections is checked against it only then).
    pub fn check(&self, c: &mut Check) -> bool {
        let (min, max) = (self.min_concurrency as u64, self.max_concurrency as u64);
        c.count("min_concurrency", min, 1, 100_000);
        c.count("max_concurrency", max, min, 100_000);
        c.count(
            "initial_concurrency",
            self.initial_concurrency as u64,
            min,
            max,
        );
        let target = c.duration("latency_target", self.latency_target, MS, MINUTE);
        c.fraction("deadline_share", self.deadline_share, 0.01, 1.0);
        c.fraction("latency_tolerance", self.latency_tolerance, 1.0, 100.0);
        c.fraction("bulk_share", self.bulk_share, 0.0, 1.0);
        c.fraction("hedge_budget", self.hedge_budget, 0.0, 0.5);
        let failures = u64::from(self.breaker_failures);
        c.count("breaker_failures", failures, 0, 1_000_000);
        c.duration("breaker_cooldown", self.breaker_cooldown, MS, 10 * MINUTE);
        c.duration(
            "hedge_min_delay",
            self.hedge_min_delay,
            Duration::ZERO,
            MINUTE,
        );
        target
    }
}
