//! What every layer logs with: a gate that turns a warning repeated by every request into one
//! a second, and the one-line error chain. A leaf, like the vocabulary: every layer logs.

use std::sync::atomic::{AtomicU64, Ordering};

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
