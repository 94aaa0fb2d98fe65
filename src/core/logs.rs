//! What every layer logs with: a gate that turns a warning repeated by every request into one
//! a second, the one-line error chain, and the call a line is logged in. A leaf, like the
//! vocabulary: every layer logs.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

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
/// A cause whose words the line already holds is left out (sqlx writes its source into its
/// own message: `error returned from database: X` caused by `X`).
/// A database's refusal reads as its message and SQLSTATE, as Postgres's own tools print it
/// (sqlx adds the line of Postgres's C source that raised it), and ends the chain.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let (mut text, mut last) = said(error);
    let mut cause = error.source();
    while let (false, Some(inner)) = (last, cause) {
        let (words, refusal) = said(inner);
        if !words.is_empty() && !text.contains(&words) {
            text.push_str(": ");
            text.push_str(&words);
        }
        (last, cause) = (refusal, inner.source());
    }
    text
}

/// What `error` itself says, and whether it is a database's refusal (whose source is the
/// refusal again, in the driver's words).
fn said(error: &(dyn std::error::Error + 'static)) -> (String, bool) {
    let Some(sqlx::Error::Database(refusal)) = error.downcast_ref::<sqlx::Error>() else {
        return (error.to_string(), false);
    };
    let words = match refusal.code() {
        Some(code) if !refusal.message().contains("SQLSTATE") => format!(
            "error returned from database: {} (SQLSTATE {code})",
            refusal.message()
        ),
        _ => format!("error returned from database: {}", refusal.message()),
    };
    (words, true)
}

/// What a line logged during a call tells of the call beyond its method (the edge's call
/// context implements it).
pub trait CallFields: Send + Sync + 'static {
    /// The call's request id.
    fn request_id(&self) -> &str;
    /// The caller's trace id and span id (lower-case hex), when it sent a `traceparent`.
    fn trace(&self) -> Option<(&str, &str)>;
}

/// The call a line is logged in: what the call's `rpc` span would carry, kept instead of a
/// span when no span is exported. Making a span costs a hit about a twelfth of its
/// instructions (the registry's slot, the fields formatted into a string, BENCHMARKS.md),
/// paid by every call though most log nothing: this costs a pointer swap per poll, and the
/// log formats write it as the span (`app/telemetry/lines.rs`).
#[derive(Clone)]
pub struct LoggedCall {
    /// The RPC's method, e.g. `GetCustomerProfile`.
    pub method: &'static str,
    /// The rest, if the call has a context.
    pub fields: Option<Arc<dyn CallFields>>,
}

impl std::fmt::Debug for LoggedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggedCall")
            .field("method", &self.method)
            .field("request_id", &self.request_id())
            .finish_non_exhaustive()
    }
}

impl LoggedCall {
    /// The call's request id, `-` if it has none.
    pub fn request_id(&self) -> &str {
        self.fields.as_deref().map_or("-", CallFields::request_id)
    }

    /// The caller's trace id and span id, if it sent them.
    pub fn trace(&self) -> Option<(&str, &str)> {
        self.fields.as_deref().and_then(CallFields::trace)
    }

    /// Runs `work` as this call: lines it logs (in its own task) carry the call.
    pub fn scope<F: Future>(self, work: F) -> impl Future<Output = F::Output> {
        CALL.scope(self, work)
    }

    /// The call whose work is running now on this thread, if any, and not one with a span
    /// of its own.
    pub fn current() -> Option<Self> {
        CALL.try_with(Self::clone).ok()
    }
}

tokio::task_local! {
    static CALL: LoggedCall;
}

/// Whether spans go somewhere beyond the log lines (an OpenTelemetry exporter): then each
/// call gets a real span, a child of its caller's.
static SPANS_EXPORTED: AtomicBool = AtomicBool::new(false);

/// Notes that spans are exported from now on (set once, when telemetry is installed).
pub fn export_spans() {
    SPANS_EXPORTED.store(true, Ordering::Relaxed);
}

/// Whether spans are exported.
pub fn spans_exported() -> bool {
    SPANS_EXPORTED.load(Ordering::Relaxed)
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

    #[test]
    fn a_cause_already_in_the_message_is_not_said_twice() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let error = sqlx::Error::Io(io);
        assert_eq!(
            error_chain(&error),
            "error communicating with database: refused"
        );
    }
}
