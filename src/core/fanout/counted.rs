//! The counting layer of a backend's read stack: every read counted while under way (hedges
//! included), timed to its answer, error or deadline, each ending sorted (answered, failed,
//! timed out), and failures logged — once a second during an outage, with the number left
//! out, not once per read.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use tokio::time::{Instant, error::Elapsed};

use super::Failure;
use crate::core::{
    histogram::{Histogram, HistogramSnapshot},
    logs::{LogGate, error_chain},
    sources::SourceError,
};

/// A backend's failures are logged once per this at most.
const WARNING_EVERY: Duration = Duration::from_secs(1);

/// One backend's read figures.
#[derive(Debug)]
pub(super) struct Counted {
    /// Reads started, hedges included: what a stampede, a read mask or a lookup really cost.
    reads: AtomicU64,
    /// How long the reads that reached the backend took, to their answer, error or timeout.
    latency: Histogram,
    /// Reads that ended past their deadline.
    timeouts: AtomicU64,
    /// Reads the backend failed.
    failed: AtomicU64,
    /// Reads under way now (waiting for a connection, or running).
    in_flight: AtomicU64,
    /// One warning a second about this backend's failures, not one per read.
    warnings: LogGate,
}

/// The figures of [`Counted`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ReadCounts {
    pub(super) reads: u64,
    pub(super) timeouts: u64,
    pub(super) failed: u64,
    pub(super) latency: HistogramSnapshot,
    pub(super) in_flight: u64,
}

/// A read under way: counted in flight for as long as it lives (a read may be dropped at any
/// await), ended by [`Counting::end`].
pub(super) struct Counting<'a> {
    counted: &'a Counted,
    started: Instant,
}

impl Counted {
    pub(super) fn new() -> Self {
        Self {
            reads: AtomicU64::new(0),
            latency: Histogram::default(),
            timeouts: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            warnings: LogGate::new(WARNING_EVERY),
        }
    }

    /// A read starts.
    pub(super) fn start(&self) -> Counting<'_> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Counting {
            counted: self,
            started: Instant::now(),
        }
    }

    /// A read started a second time (a hedge), within one already counted in flight.
    pub(super) fn hedge(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads started since start, hedges included.
    pub(super) fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The figures now.
    pub(super) fn snapshot(&self) -> ReadCounts {
        ReadCounts {
            reads: self.reads(),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            latency: self.latency.snapshot(),
            in_flight: self.in_flight.load(Ordering::Relaxed),
        }
    }
}

impl Counting<'_> {
    /// How long the read has run.
    pub(super) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Ends the read with what came of it (its answer or error, or its deadline passing):
    /// timed, a failure counted and logged in the read's span.
    pub(super) fn end<T>(
        self,
        ended: Result<Result<T, SourceError>, Elapsed>,
        span: &tracing::Span,
        source: &'static str,
    ) -> Result<T, Failure> {
        let counted = self.counted;
        let result = match ended {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => {
                counted.failed.fetch_add(1, Ordering::Relaxed);
                if let Some(suppressed) = counted.warnings.admit() {
                    span.in_scope(|| tracing::warn!(source, error = %error_chain(&error), suppressed, "source failed"));
                }
                Err(Failure::Unavailable)
            }
            Err(_) => {
                counted.timeouts.fetch_add(1, Ordering::Relaxed);
                if let Some(suppressed) = counted.warnings.admit() {
                    span.in_scope(|| tracing::warn!(source, suppressed, "source timed out"));
                }
                Err(Failure::Timeout)
            }
        };
        counted.latency.observe(self.started.elapsed());
        result
    }
}

impl Drop for Counting<'_> {
    fn drop(&mut self) {
        self.counted.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
