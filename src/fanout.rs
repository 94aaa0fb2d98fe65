//! The backends as the request path asks them: a profile's sources all at once, and the
//! lookups; every read under its backend's deadline and the caller's, counted, and logged when
//! it fails. Failures are reported beside the answers instead of failing the request, and
//! carry no text: what went wrong stays in the log.

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

use crate::{
    records::{Identity, Shipment},
    sources::{CustomerKey, Lookups, OrderDetail, SourceData, SourceError, Sources},
    telemetry::error_chain,
    vocab::{CustomerId, OrderId, PerSource, SourceKind, SourceSet, Timestamp},
};

/// Why a backend gave nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Its deadline passed first.
    Timeout,
    /// It failed (the error is logged, never sent to the caller).
    Unavailable,
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
    /// Reads started, per backend: what a stampede, a read mask or a lookup really cost.
    reads: Arc<PerSource<AtomicU64>>,
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
    /// after its timeout at the latest.
    pub fn new(sources: Sources, lookups: Arc<dyn Lookups>, timeouts: PerSource<Duration>) -> Self {
        Self {
            sources,
            lookups,
            timeouts,
            reads: Arc::default(),
        }
    }

    /// Reads of `kind` started since this fan-out was built.
    pub fn reads(&self, kind: SourceKind) -> u64 {
        self.reads[kind].load(Ordering::Relaxed)
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
        self.read(kind, deadline, span, || self.lookups.customers(key))
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
    /// at all once `deadline` has passed. Counted when started; logged in `span` when it fails.
    async fn read<T, F>(
        &self,
        kind: SourceKind,
        deadline: Option<Instant>,
        span: tracing::Span,
        read: impl FnOnce() -> F,
    ) -> Result<T, Failure>
    where
        F: Future<Output = Result<T, SourceError>>,
    {
        let started = Instant::now();
        let own_deadline = started + self.timeouts[kind];
        let deadline = deadline.map_or(own_deadline, |d| d.min(own_deadline));
        if deadline <= started {
            return Err(Failure::Timeout);
        }
        self.reads[kind].fetch_add(1, Ordering::Relaxed);
        let read = read().instrument(span.clone());
        match tokio::time::timeout_at(deadline, read).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => {
                span.in_scope(|| tracing::warn!(error = %error_chain(&error), "source failed"));
                Err(Failure::Unavailable)
            }
            Err(_) => {
                span.in_scope(|| tracing::warn!("source timed out"));
                Err(Failure::Timeout)
            }
        }
    }
}

#[cfg(test)]
mod tests;
