//! The backends as the request path asks them: a profile's sources all at once, and the
//! lookups; every read under its backend's deadline and the caller's, behind its backend's
//! circuit breaker (`breaker.rs`), hedged when it runs past its backend's usual latency
//! (`hedge.rs`), counted, and logged when it fails. Failures are reported beside the answers
//! instead of failing the request, and carry no text: what went wrong stays in the log. The
//! fan-out also carries the admission control its callers ask before a load
//! ([`crate::core::fanout`]).

mod admission;
mod breaker;
mod hedge;
mod retry;
mod settings;

pub use admission::{Admission, Permit, Priority, Shed};
pub use breaker::CircuitState;
pub use settings::{ResilienceSettings, SourceSettings, SourcesSettings};

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::Utc;
use futures::future::join_all;
use tokio::time::Instant;
use tracing::Instrument;

use self::{breaker::Breaker, hedge::Hedger, retry::RetryBudget};
use crate::{
    core::db::PoolStatus,
    core::histogram::{Histogram, HistogramSnapshot},
    core::logs::{LogGate, error_chain},
    core::records::{Identity, Shipment},
    core::sources::{CustomerKey, Lookups, OrderDetail, SourceData, SourceError, Sources},
    core::vocab::{CustomerId, OrderId, PerSource, SourceKind, SourceSet, Timestamp},
};

/// During an outage a backend's failures are logged once per this, with the number of those
/// left out since the last line: an outage is not a warning per read.
const SOURCE_WARNING_EVERY: Duration = Duration::from_secs(1);

/// Why a backend gave nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Its deadline passed first.
    Timeout,
    /// It failed (the error is logged, never sent to the caller).
    Unavailable,
    /// Not asked: its circuit is open after failures in a row.
    CircuitOpen,
}

/// One backend's answer for a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The backend.
    pub kind: SourceKind,
    /// Its data, or why there is none.
    pub result: Result<SourceData, Failure>,
    /// When the read started.
    pub fetched_at: Timestamp,
    /// How long it took.
    pub latency: Duration,
}

/// Asks the backends; cheap to clone.
#[derive(Clone)]
pub struct Fanout {
    sources: Sources,
    lookups: Arc<dyn Lookups>,
    timeouts: PerSource<Duration>,
    guards: Arc<PerSource<Guards>>,
    admission: Admission,
    retries: Arc<Retries>,
}

#[derive(Debug)]
struct Retries {
    budget: RetryBudget,
    done: AtomicU64,
}

/// What stands between the request path and one backend.
#[derive(Debug)]
struct Guards {
    breaker: Breaker,
    hedger: Hedger,
    /// Reads started, hedges included: what a stampede, a read mask or a lookup really cost.
    reads: AtomicU64,
    /// How long the reads that reached the backend took, to their answer, error or timeout.
    latency: Histogram,
    /// Reads that ended past their deadline.
    timeouts: AtomicU64,
    /// Reads the backend failed.
    failed: AtomicU64,
    /// One warning a second about this backend's failures, not one per read.
    warnings: LogGate,
    /// Reads under way now (waiting for a connection, or running).
    in_flight: AtomicU64,
}

/// Counts a read under way for as long as it lives (a read may be dropped at any await).
struct Flying<'a>(&'a AtomicU64);

impl<'a> Flying<'a> {
    fn enter(count: &'a AtomicU64) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Flying<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a backend's reads came to since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceCounts {
    /// Reads started, hedges included.
    pub reads: u64,
    /// Of those, hedges: second reads of a read that ran past the backend's 95th percentile.
    pub hedges: u64,
    /// Reads refused at once because the circuit was open.
    pub refused: u64,
    /// Times the circuit opened.
    pub opened: u64,
    /// Where the circuit stands now.
    pub circuit: CircuitState,
    /// The backend's recent 95th percentile, once enough reads are known.
    pub p95: Option<Duration>,
    /// Reads that ended past their deadline.
    pub timeouts: u64,
    /// Reads the backend failed.
    pub failed: u64,
    /// How long the reads that reached the backend took.
    pub latency: HistogramSnapshot,
    /// Reads under way now.
    pub in_flight: u64,
    /// The backend's connection pool now, if it has one.
    pub pool: Option<PoolStatus>,
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout")
            .field("sources", &self.sources)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl Fanout {
    /// Reads profiles from `sources` and lookups from `lookups`, each backend's reads ending
    /// after its timeout at the latest; breakers, hedging and admission at their defaults.
    pub fn new(sources: Sources, lookups: Arc<dyn Lookups>, timeouts: PerSource<Duration>) -> Self {
        let mut settings = SourcesSettings::default();
        for kind in SourceKind::ALL {
            settings.of_mut(kind).timeout = timeouts[kind];
        }
        Self::with(sources, lookups, &settings, &ResilienceSettings::default())
    }

    /// Reads profiles from `sources` and lookups from `lookups`, each backend as `settings`
    /// says, guarded as `resilience` says.
    pub fn with(
        sources: Sources,
        lookups: Arc<dyn Lookups>,
        settings: &SourcesSettings,
        resilience: &ResilienceSettings,
    ) -> Self {
        Self {
            sources,
            lookups,
            timeouts: PerSource::from_fn(|kind| settings.of(kind).timeout),
            guards: Arc::new(PerSource::from_fn(|_| Guards {
                breaker: Breaker::new(resilience.breaker_failures, resilience.breaker_cooldown),
                hedger: Hedger::new(resilience.hedge_budget, resilience.hedge_min_delay),
                reads: AtomicU64::new(0),
                latency: Histogram::default(),
                timeouts: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                warnings: LogGate::new(SOURCE_WARNING_EVERY),
                in_flight: AtomicU64::new(0),
            })),
            admission: Admission::new(resilience),
            retries: Arc::new(Retries {
                budget: RetryBudget::new(),
                done: AtomicU64::new(0),
            }),
        }
    }

    /// Loads retried since start because no backend answered.
    pub fn retries(&self) -> u64 {
        self.retries.done.load(Ordering::Relaxed)
    }

    /// Whether a load whose `outcomes` are these should be tried again (attempt `attempt`,
    /// from 0) before `deadline`, and after what pause: only when no backend answered, the
    /// caller has time left, and — if the retry would reach a backend whose circuit is closed —
    /// the retry budget allows it.
    pub fn retry_pause(
        &self,
        outcomes: &[Outcome],
        attempt: u32,
        deadline: Option<Instant>,
    ) -> Option<Duration> {
        if outcomes.iter().any(|o| o.result.is_ok()) {
            return None;
        }
        let pause = retry::pause(attempt, deadline?)?;
        let reaches_a_backend = outcomes
            .iter()
            .any(|o| self.guards[o.kind].breaker.state() == CircuitState::Closed);
        if reaches_a_backend && !self.retries.budget.try_spend() {
            return None;
        }
        self.retries.done.fetch_add(1, Ordering::Relaxed);
        Some(pause)
    }

    /// Reads of `kind` started since this fan-out was built, hedges included.
    pub fn reads(&self, kind: SourceKind) -> u64 {
        self.guards[kind].reads.load(Ordering::Relaxed)
    }

    /// What the reads of `kind` came to since this fan-out was built.
    pub fn counts(&self, kind: SourceKind) -> SourceCounts {
        let guards = &self.guards[kind];
        SourceCounts {
            reads: guards.reads.load(Ordering::Relaxed),
            hedges: guards.hedger.hedged(),
            refused: guards.breaker.refused(),
            opened: guards.breaker.opened(),
            circuit: guards.breaker.state(),
            p95: guards.hedger.p95(),
            timeouts: guards.timeouts.load(Ordering::Relaxed),
            failed: guards.failed.load(Ordering::Relaxed),
            latency: guards.latency.snapshot(),
            in_flight: guards.in_flight.load(Ordering::Relaxed),
            pool: self.sources.get(kind).pool(),
        }
    }

    /// The admission control of the loads through this fan-out.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// A place for one load of `priority`, or [`Shed`] at once when the limit is reached.
    pub fn admit(&self, priority: Priority) -> Result<Permit, Shed> {
        let permit = self.admission.try_admit(priority)?;
        self.retries.budget.earn();
        Ok(permit)
    }

    /// Asks every backend of `set` about `customer` at once. Each read ends at the earlier of
    /// its backend's timeout and `deadline` (the caller's); none starts after `deadline`.
    pub async fn gather(
        &self,
        customer: CustomerId,
        set: SourceSet,
        deadline: Option<Instant>,
    ) -> Vec<Outcome> {
        join_all(set.iter().map(|kind| self.ask(kind, customer, deadline))).await
    }

    async fn ask(
        &self,
        kind: SourceKind,
        customer: CustomerId,
        deadline: Option<Instant>,
    ) -> Outcome {
        let started = Instant::now();
        let fetched_at = Utc::now();
        let span = tracing::debug_span!("source", source = %kind, customer = %customer);
        let fetch = || self.sources.get(kind).fetch(customer);
        let result = match self.read(kind, deadline, span.clone(), fetch).await {
            Ok(data) if data.kind() == kind => Ok(data),
            Ok(data) => {
                span.in_scope(|| tracing::error!(returned = %data.kind(), "source returned another backend's data"));
                Err(Failure::Unavailable)
            }
            Err(failure) => Err(failure),
        };
        Outcome {
            kind,
            result,
            fetched_at,
            latency: started.elapsed(),
        }
    }

    /// CRM: the customers `key` names. The key itself is never logged: it may be an email
    /// or a phone number.
    pub async fn customers(
        &self,
        key: CustomerKey,
        deadline: Option<Instant>,
    ) -> Result<Vec<(CustomerId, Identity)>, Failure> {
        let by = match key {
            CustomerKey::Id(_) => "id",
            CustomerKey::Email(_) => "email",
            CustomerKey::Phone(_) => "phone",
        };
        let kind = SourceKind::Crm;
        let span = tracing::debug_span!("lookup", source = %kind, by);
        self.read(kind, deadline, span, || self.lookups.customers(key.clone()))
            .await
    }

    /// Orders: one order and who placed it.
    pub async fn order(
        &self,
        order: OrderId,
        deadline: Option<Instant>,
    ) -> Result<Option<OrderDetail>, Failure> {
        let kind = SourceKind::Orders;
        let span = tracing::debug_span!("lookup", source = %kind, order = %order);
        self.read(kind, deadline, span, || self.lookups.order(order))
            .await
    }

    /// Fulfilment: the parcels of one order.
    pub async fn shipments_of(
        &self,
        order: OrderId,
        deadline: Option<Instant>,
    ) -> Result<Vec<Shipment>, Failure> {
        let kind = SourceKind::Fulfilment;
        let span = tracing::debug_span!("lookup", source = %kind, order = %order);
        self.read(kind, deadline, span, || self.lookups.shipments_of(order))
            .await
    }

    /// One read of `kind`, ending at the earlier of its timeout and `deadline`; not started
    /// at all once `deadline` has passed, nor while the backend's circuit is open. Hedged once
    /// it runs past the backend's 95th percentile, if the budget allows. Counted when started;
    /// logged in `span` when it fails.
    async fn read<T, F>(
        &self,
        kind: SourceKind,
        deadline: Option<Instant>,
        span: tracing::Span,
        read: impl Fn() -> F,
    ) -> Result<T, Failure>
    where
        F: Future<Output = Result<T, SourceError>>,
    {
        let started = Instant::now();
        let own_deadline = started + self.timeouts[kind];
        // A read cut short by the caller's deadline says nothing about the backend.
        let (deadline, own) = match deadline {
            Some(deadline) if deadline < own_deadline => (deadline, false),
            _ => (own_deadline, true),
        };
        if deadline <= started {
            return Err(Failure::Timeout);
        }
        let guards = &self.guards[kind];
        let Some(attempt) = guards.breaker.attempt() else {
            return Err(Failure::CircuitOpen);
        };
        guards.reads.fetch_add(1, Ordering::Relaxed);
        let _flying = Flying::enter(&guards.in_flight);
        let read = self.hedged(guards, &read).instrument(span.clone());
        let (result, answered) = match tokio::time::timeout_at(deadline, read).await {
            Ok(Ok(answer)) => {
                guards.hedger.observe(started.elapsed());
                (Ok(answer), Some(true))
            }
            Ok(Err(error)) => {
                guards.failed.fetch_add(1, Ordering::Relaxed);
                if let Some(suppressed) = guards.warnings.admit() {
                    span.in_scope(|| tracing::warn!(error = %error_chain(&error), suppressed, "source failed"));
                }
                (Err(Failure::Unavailable), Some(false))
            }
            Err(_) => {
                guards.timeouts.fetch_add(1, Ordering::Relaxed);
                if let Some(suppressed) = guards.warnings.admit() {
                    span.in_scope(|| tracing::warn!(suppressed, "source timed out"));
                }
                (Err(Failure::Timeout), own.then_some(false))
            }
        };
        guards.latency.observe(started.elapsed());
        if let Some(answered) = answered
            && attempt.finish(answered)
        {
            span.in_scope(|| tracing::warn!(source = %kind, "circuit opened: reads refused until a probe answers"));
        }
        result
    }

    /// `read`, and a second `read` if the first runs past the backend's 95th percentile and
    /// the hedge budget allows: the first answer wins, the other is dropped. Never while
    /// loads fill more than half the admission limit: a busy replica's slow reads are
    /// queueing, and a second read would only queue too.
    async fn hedged<T, F>(&self, guards: &Guards, read: &impl Fn() -> F) -> Result<T, SourceError>
    where
        F: Future<Output = Result<T, SourceError>>,
    {
        let first = read();
        let Some(delay) = guards.hedger.delay() else {
            return first.await;
        };
        if self.admission.in_flight() * 2 > self.admission.limit() {
            return first.await;
        }
        let mut first = std::pin::pin!(first);
        tokio::select! {
            // An answer due at the same moment as the hedge makes the hedge needless.
            biased;
            answer = &mut first => return answer,
            () = tokio::time::sleep(delay) => {}
        }
        if !guards.hedger.try_hedge() {
            return first.await;
        }
        guards.reads.fetch_add(1, Ordering::Relaxed);
        let second = std::pin::pin!(read());
        tokio::select! {
            answer = &mut first => answer,
            answer = second => answer,
        }
    }
}

#[cfg(test)]
mod tests;
