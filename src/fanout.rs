//! The fan-out: asks the backends a request needs, all at once, each under its own deadline,
//! and reports every answer or failure beside the others instead of failing the request.

use std::{
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
    keys::CustomerId,
    profile::Timestamp,
    sources::{SourceData, SourceKind, SourceSet, Sources},
};

/// Why a backend gave nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Its deadline passed first.
    Timeout,
    /// It failed (the error is logged, never sent to the caller).
    Unavailable,
}

/// One backend's answer.
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

/// Asks backends concurrently.
#[derive(Debug, Clone)]
pub struct Fanout {
    sources: Sources,
    timeouts: [Duration; 4],
    /// Reads started, per backend: what a stampede or a read mask really cost.
    reads: Arc<[AtomicU64; 4]>,
}

impl Fanout {
    /// Fans out to `sources`, giving each backend the timeout at its index in `timeouts`
    /// ([`SourceKind::ALL`] order).
    pub fn new(sources: Sources, timeouts: [Duration; 4]) -> Self {
        Self {
            sources,
            timeouts,
            reads: Arc::default(),
        }
    }

    /// Reads of `kind` started since this fan-out was built.
    pub fn reads(&self, kind: SourceKind) -> u64 {
        self.reads[kind.index()].load(Ordering::Relaxed)
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
        let own_deadline = started + self.timeouts[kind.index()];
        let deadline = deadline.map_or(own_deadline, |d| d.min(own_deadline));
        let span = tracing::debug_span!("source", source = %kind, customer = %customer);
        let result = if deadline <= started {
            Err(Failure::Timeout)
        } else {
            self.reads[kind.index()].fetch_add(1, Ordering::Relaxed);
            let fetch = self
                .sources
                .get(kind)
                .fetch(customer)
                .instrument(span.clone());
            match tokio::time::timeout_at(deadline, fetch).await {
                Ok(Ok(data)) if data.kind() == kind => Ok(data),
                Ok(Ok(data)) => {
                    span.in_scope(|| tracing::error!(returned = %data.kind(), "source returned another backend's data"));
                    Err(Failure::Unavailable)
                }
                Ok(Err(error)) => {
                    span.in_scope(|| tracing::warn!(error = %error_chain(&error), "source failed"));
                    Err(Failure::Unavailable)
                }
                Err(_) => {
                    span.in_scope(|| tracing::warn!("source timed out"));
                    Err(Failure::Timeout)
                }
            }
        };
        Outcome {
            kind,
            result,
            fetched_at,
            latency: started.elapsed(),
        }
    }
}

/// An error and its causes on one line, for logs.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests;
