//! One backend's read stack, built in one place: every read of that backend — a profile's
//! section, a lookup, a health ping — passes through the same layers, outermost first:
//!
//! 1. deadline (`read_deadline.rs`): the earlier of the backend's timeout and the caller's
//!    deadline; no read starts once it has passed.
//! 2. breaker (`breaker.rs`): refused at once while the backend's circuit is open; told how
//!    each read it let through went.
//! 3. counted (`counted.rs`): counted while under way, timed, its failures logged once a
//!    second.
//! 4. hedge (`hedge.rs`): read a second time past the backend's 95th percentile, within a
//!    budget, and never while loads fill half the admission limit.
//! 5. faults (`faults.rs`): injected latency and errors, when configured.
//! 6. the backend itself.
//!
//! Around a whole load, in `fanout.rs`: admission (`admission.rs`), then the retries of a
//! load no backend answered, with their budget (`retry.rs`).

use std::{future::Future, time::Duration};

use tokio::time::Instant;
use tracing::Instrument;

use super::{
    Failure, ResilienceSettings, SourceCounts, SourceSettings, breaker::Breaker, counted::Counted,
    faults::Faults, hedge::Hedger, read_deadline::ReadDeadline,
};
use crate::core::{db::PoolStatus, sources::SourceError, vocab::SourceKind};

/// The layers between the request path and one backend.
#[derive(Debug)]
pub(super) struct Stack {
    kind: SourceKind,
    timeout: Duration,
    breaker: Breaker,
    counted: Counted,
    hedger: Hedger,
    faults: Faults,
}

impl Stack {
    /// The stack of the backend `kind`, as its `settings` and `resilience` say.
    pub(super) fn new(
        kind: SourceKind,
        settings: &SourceSettings,
        resilience: &ResilienceSettings,
    ) -> Self {
        if settings.faults.is_active() {
            let faults = &settings.faults;
            let shown = |d: Option<Duration>| {
                d.map_or_else(
                    || "none".to_owned(),
                    |d| humantime_serde::re::humantime::format_duration(d).to_string(),
                )
            };
            tracing::warn!(
                source = %kind,
                latency = %shown(faults.latency),
                latency_p99 = %shown(faults.latency_p99),
                error_rate = faults.error_rate,
                "fault injection on"
            );
        }
        Self {
            kind,
            timeout: settings.timeout,
            breaker: Breaker::new(resilience.breaker_failures, resilience.breaker_cooldown),
            counted: Counted::new(),
            hedger: Hedger::new(resilience.hedge_budget, resilience.hedge_min_delay),
            faults: Faults::new(kind, &settings.faults),
        }
    }

    /// One read through every layer, before `deadline` (the caller's); `busy` when loads queue
    /// ([`super::Admission::busy`]). Logged in `span` when it fails.
    pub(super) async fn read<T, F>(
        &self,
        deadline: Option<Instant>,
        busy: bool,
        span: tracing::Span,
        read: impl Fn() -> F + Sync,
    ) -> Result<T, Failure>
    where
        F: Future<Output = Result<T, SourceError>> + Send,
        T: Send,
    {
        // 1. The deadline.
        let deadline = ReadDeadline::start(self.timeout, deadline)?;
        // 2. The breaker.
        let attempt = self.breaker.attempt().ok_or(Failure::CircuitOpen)?;
        // 3. Counted from here.
        let counting = self.counted.start();
        // 4. Hedged, over 5. the faults, over 6. the backend.
        let faulty = || self.faults.apply(&read);
        let hedged = self.hedger.read(&faulty, busy, || self.counted.hedge());
        let ended = deadline.bound(hedged.instrument(span.clone())).await;
        let latency = counting.elapsed();
        let result = counting.end(ended, &span, self.kind.as_str());
        // What the hedge and the breaker learn. A read cut short by the caller's deadline says
        // nothing about the backend.
        let answered = match &result {
            Ok(_) => {
                self.hedger.observe(latency);
                Some(true)
            }
            Err(Failure::Timeout) => deadline.is_own().then_some(false),
            Err(_) => Some(false),
        };
        if let Some(answered) = answered
            && attempt.finish(answered)
        {
            let kind = self.kind;
            span.in_scope(|| tracing::warn!(source = %kind, "circuit opened: reads refused until a probe answers"));
        }
        result
    }

    /// `ping`, with the backend's faults: whether it answers, for health.
    pub(super) async fn ping<F>(&self, ping: impl FnOnce() -> F + Send) -> Result<(), SourceError>
    where
        F: Future<Output = Result<(), SourceError>> + Send,
    {
        self.faults.apply(ping).await
    }

    /// Where the backend's circuit stands now.
    pub(super) fn circuit(&self) -> super::CircuitState {
        self.breaker.state()
    }

    /// Reads started since start, hedges included.
    pub(super) fn reads(&self) -> u64 {
        self.counted.reads()
    }

    /// What the reads came to since start; `pool`, the backend's pool now.
    pub(super) fn counts(&self, pool: Option<PoolStatus>) -> SourceCounts {
        let counted = self.counted.snapshot();
        SourceCounts {
            reads: counted.reads,
            hedges: self.hedger.hedged(),
            refused: self.breaker.refused(),
            opened: self.breaker.opened(),
            circuit: self.breaker.state(),
            p95: self.hedger.p95(),
            timeouts: counted.timeouts,
            failed: counted.failed,
            latency: counted.latency,
            in_flight: counted.in_flight,
            pool,
        }
    }
}
