//! Logs through tracing: text for people or JSON for collectors; `RUST_LOG` overrides the
//! configured filter. A leaf, like the vocabulary: every layer logs.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tracing_subscriber::{EnvFilter, fmt};

/// Log output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` for people, `json` for collectors.
    pub format: LogFormat,
    /// Default filter when `RUST_LOG` is unset, e.g. `info` or `c360=debug,info`.
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".into(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber. Later calls (tests start many servers) are no-ops.
pub fn init(settings: &LogSettings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _already_set = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Lets one log line through per interval and counts the ones it holds back: what a warning
/// repeated by every request of an outage becomes. Lock-free; a race lets at most one extra
/// line through.
#[derive(Debug)]
pub struct LogGate {
    origin: std::time::Instant,
    every_micros: u64,
    /// Microseconds since `origin` before which nothing passes.
    closed_until: AtomicU64,
    held_back: AtomicU64,
}

impl LogGate {
    /// One line per `every`.
    pub fn new(every: std::time::Duration) -> Self {
        Self {
            origin: std::time::Instant::now(),
            every_micros: u64::try_from(every.as_micros()).unwrap_or(u64::MAX),
            closed_until: AtomicU64::new(0),
            held_back: AtomicU64::new(0),
        }
    }

    /// `Some(lines held back since the last one let through)` if this line may be logged.
    pub fn admit(&self) -> Option<u64> {
        let now = u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX);
        let until = self.closed_until.load(Ordering::Relaxed);
        if now < until
            || self
                .closed_until
                .compare_exchange(
                    until,
                    now.saturating_add(self.every_micros),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            self.held_back.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.held_back.swap(0, Ordering::Relaxed))
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
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_gate_lets_one_line_through_per_interval_and_counts_the_rest() {
        let gate = LogGate::new(std::time::Duration::from_secs(3600));
        assert_eq!(gate.admit(), Some(0));
        for _ in 0..5 {
            assert_eq!(gate.admit(), None);
        }
        let open = LogGate::new(std::time::Duration::ZERO);
        assert_eq!((open.admit(), open.admit()), (Some(0), Some(0)));
    }

    #[test]
    fn an_error_chain_reads_outermost_first_on_one_line() {
        let error = Outer(std::io::Error::other("inner"));
        assert_eq!(error_chain(&error), "outer: inner");
    }
}
