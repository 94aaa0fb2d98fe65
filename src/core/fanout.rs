//! The backends as the request path asks them: a profile's sources all at once, and the
//! lookups. Every read of a backend passes through that backend's read stack, built in one
//! place (`stack.rs`: deadline, breaker, counters, hedge, faults); a whole load is admitted
//! first (`admission.rs`) and, when no backend answered, retried within a budget
//! (`retry.rs`). What each backend may take, and how much is guarded, is `settings.rs`'.
//! Failures are reported beside the answers instead of failing the request, and carry no
//! text: what went wrong stays in the log.

mod admission;
mod breaker;
mod counted;
mod faults;
mod hedge;
mod lookups;
mod read_deadline;
mod retry;
mod settings;
mod stack;

pub use admission::{Admission, Permit, Priority, Shed};
pub use breaker::CircuitState;
pub use faults::FaultSettings;
pub use settings::{ResilienceSettings, SourceSettings, SourcesSettings};

use std::{future::Future, sync::Arc, time::Duration};

use chrono::Utc;
use futures::future::join_all;
use tokio::time::Instant;

use self::{retry::Retries, stack::Stack};
use crate::core::{
    db::PoolStatus,
    histogram::HistogramSnapshot,
    sources::{Lookups, SourceData, SourceError, Sources},
    vocab::{CustomerId, PerSource, SourceKind, SourceSet, Timestamp},
};

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

/// One load's reads, as the fan-out made them.
#[derive(Debug, Clone)]
pub struct Gathered {
    /// Each backend's answer, or why there is none.
    pub outcomes: Vec<Outcome>,
    /// When the reads that gave these began (monotonic, for ages).
    pub started: Instant,
    /// The same moment on the wall clock.
    pub wall: Timestamp,
}

/// Asks the backends; cheap to clone.
#[derive(Clone)]
pub struct Fanout {
    sources: Sources,
    lookups: Arc<dyn Lookups>,
    stacks: Arc<PerSource<Stack>>,
    admission: Admission,
    retries: Arc<Retries>,
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

    /// Reads profiles from `sources` and lookups from `lookups`, each backend through the
    /// stack its `settings` and `resilience` describe.
    pub fn with(
        sources: Sources,
        lookups: Arc<dyn Lookups>,
        settings: &SourcesSettings,
        resilience: &ResilienceSettings,
    ) -> Self {
        let stacks = PerSource::from_fn(|kind| Stack::new(kind, settings.of(kind), resilience));
        Self {
            sources,
            lookups,
            stacks: Arc::new(stacks),
            admission: Admission::new(resilience),
            retries: Arc::new(Retries::new()),
        }
    }

    /// Reads of `kind` started since this fan-out was built, hedges included.
    pub fn reads(&self, kind: SourceKind) -> u64 {
        self.stacks[kind].reads()
    }

    /// What the reads of `kind` came to since this fan-out was built.
    pub fn counts(&self, kind: SourceKind) -> SourceCounts {
        self.stacks[kind].counts(self.sources.get(kind).pool())
    }

    /// Loads retried since start because no backend answered.
    pub fn retries(&self) -> u64 {
        self.retries.done()
    }

    /// The admission control of the loads through this fan-out.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// A place for one load of `priority` whose caller waits until `deadline`, or [`Shed`]
    /// at once when the limit is reached; each load earns the retry budget its share.
    pub fn admit(&self, priority: Priority, deadline: Option<Instant>) -> Result<Permit, Shed> {
        let permit = self.admission.try_admit(priority, deadline)?;
        self.retries.earn();
        Ok(permit)
    }

    /// One load of `set` for `customer`: admitted as `priority`, or refused at once
    /// ([`Shed`]); every backend of `set` read at once, each read ending by `deadline` (the
    /// caller's) at the latest; the admission limit taught by the backends that answered.
    /// When none answered and `retry` (no older copy can stand in), read again after a
    /// pause, while the caller has time and the retry budget allows.
    pub async fn load(
        &self,
        customer: CustomerId,
        set: SourceSet,
        deadline: Option<Instant>,
        priority: Priority,
        retry: bool,
    ) -> Result<Gathered, Shed> {
        let mut attempt = 0;
        loop {
            let mut admitted = self.admit(priority, deadline)?;
            let (started, wall) = (Instant::now(), Utc::now());
            let outcomes = self.gather(customer, set, deadline).await;
            // The limit learns from the backends that answered: a load none answered (a
            // database restarting, every circuit open) says the backends are down, not how
            // long they take.
            let answered = outcomes.iter().filter(|o| o.result.is_ok());
            match answered.map(|o| o.latency).max() {
                Some(latency) => admitted.answered_in(latency),
                None => admitted.read_nothing(),
            }
            drop(admitted);
            let pause = match retry {
                true => self.retry_pause(&outcomes, attempt, deadline),
                false => None,
            };
            let Some(pause) = pause else {
                return Ok(Gathered {
                    outcomes,
                    started,
                    wall,
                });
            };
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    /// Whether a load whose `outcomes` are these should be tried again (attempt `attempt`,
    /// from 0) before `deadline`, and after what pause: only when no backend answered, the
    /// caller has time left, and — if the retry would reach a backend whose circuit is closed —
    /// the retry budget allows it.
    fn retry_pause(
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
            .any(|o| self.stacks[o.kind].circuit() == CircuitState::Closed);
        if reaches_a_backend && !self.retries.try_spend() {
            return None;
        }
        self.retries.count();
        Some(pause)
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

    /// Whether `kind` answers its cheapest read now (with its faults), for health.
    pub async fn ping(&self, kind: SourceKind) -> Result<(), SourceError> {
        self.stacks[kind]
            .ping(|| self.sources.get(kind).ping())
            .await
    }

    /// One read of `kind` through its stack, logged in `span` when it fails.
    async fn read<T, F>(
        &self,
        kind: SourceKind,
        deadline: Option<Instant>,
        span: tracing::Span,
        read: impl Fn() -> F + Sync,
    ) -> Result<T, Failure>
    where
        F: Future<Output = Result<T, SourceError>> + Send,
        T: Send,
    {
        let busy = self.admission.busy();
        self.stacks[kind].read(deadline, busy, span, read).await
    }
}

#[cfg(test)]
mod tests;
