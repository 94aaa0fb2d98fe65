//! What a run records: each request's latency, status and error (ghz's `details`), into a
//! histogram per worker, merged at the end; errors counted by kind, numbers left out.

use std::{collections::HashMap, time::Duration};

use hdrhistogram::Histogram;

/// What one request gave (ghz's `details`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Detail {
    /// When it was sent, RFC 3339 with nanoseconds, as Go writes a `time.Time`.
    pub timestamp: String,
    /// Nanoseconds from the planned (open loop) or actual send to the answer.
    pub latency: u64,
    /// The gRPC status name.
    pub status: String,
    /// The error, if any.
    pub error: String,
}

/// Results of some requests.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Latencies in nanoseconds, successful or not.
    pub latencies: Histogram<u64>,
    /// Requests by status name (`OK`, `Unavailable`, ...).
    pub statuses: HashMap<String, u64>,
    /// Failed requests by error text.
    pub errors: HashMap<String, u64>,
    /// Sum of latencies, nanoseconds.
    pub total_latency: u128,
    /// Every request, when asked for.
    pub details: Option<Vec<Detail>>,
    /// The wall-clock time the run started, for the details' timestamps.
    started: chrono::DateTime<chrono::Utc>,
}

/// gRPC's name of `code`, as Go spells it (ghz's status and error texts): `NotFound`,
/// `Canceled`.
pub fn code_name(code: tonic::Code) -> String {
    match code {
        tonic::Code::Cancelled => "Canceled".into(),
        code => format!("{code:?}"),
    }
}

/// An error's text with its numbers left out, so that the same failure for different
/// customers counts as one: `customer 424242 does not exist` → `customer # does not exist`.
pub fn error_kind(message: &str) -> String {
    let mut kind = String::with_capacity(message.len());
    let mut in_number = false;
    for c in message.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                kind.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            kind.push(c);
        }
    }
    kind
}

impl Recorder {
    pub(crate) fn new(details: bool, started: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            started,
            // 1 ns to 10 minutes, 3 significant digits.
            latencies: Histogram::new_with_bounds(1, 600_000_000_000, 3)
                .unwrap_or_else(|_| unreachable!("valid histogram bounds")),
            statuses: HashMap::new(),
            errors: HashMap::new(),
            total_latency: 0,
            details: details.then(Vec::new),
        }
    }

    pub(crate) fn record(
        &mut self,
        at: Duration,
        latency: Duration,
        outcome: Result<(), tonic::Status>,
    ) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.latencies.saturating_record(nanos);
        self.total_latency += u128::from(nanos);
        let (status, error) = match outcome {
            Ok(()) => ("OK".to_owned(), String::new()),
            Err(status) => {
                let code = code_name(status.code());
                let error = format!("rpc error: code = {code} desc = {}", status.message());
                *self.errors.entry(error_kind(&error)).or_default() += 1;
                (code, error)
            }
        };
        *self.statuses.entry(status.clone()).or_default() += 1;
        if let Some(details) = &mut self.details {
            let sent = self.started + chrono::TimeDelta::from_std(at).unwrap_or_default();
            details.push(Detail {
                timestamp: sent.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                latency: nanos,
                status,
                error,
            });
        }
    }

    pub(crate) fn merge(&mut self, other: Recorder) {
        let _ = self.latencies.add(&other.latencies);
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        for (error, n) in other.errors {
            *self.errors.entry(error).or_default() += n;
        }
        self.total_latency += other.total_latency;
        if let (Some(mine), Some(theirs)) = (&mut self.details, other.details) {
            mine.extend(theirs);
        }
    }

    /// Requests recorded.
    pub fn count(&self) -> u64 {
        self.latencies.len()
    }
}
