//! Logs through tracing: text for people or JSON for collectors; `RUST_LOG` overrides the
//! configured filter. Spans, when `trace.otlp_endpoint` is set, also go to an OpenTelemetry
//! collector over OTLP/gRPC, each call's span a child of the caller's `traceparent`. A leaf,
//! like the vocabulary: every layer logs.

use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_otlp::WithExportConfig;
use serde::{Deserialize, Serialize};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// Log output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` for people, `json` for collectors.
    pub format: LogFormat,
    /// Default filter when `RUST_LOG` is unset, e.g. `info` or `c360=debug,info`.
    pub filter: String,
    /// One line per call (target `c360::access`, at `info`). Off by default in `serve`: at
    /// tens of thousands of calls a second the lines cost the hit path about a fifth of its
    /// instructions (BENCHMARKS.md); on in the demo.
    pub access: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".into(),
            access: false,
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

/// Exporting spans to an OpenTelemetry collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceSettings {
    /// The collector's OTLP/gRPC endpoint, e.g. `http://127.0.0.1:4317`; unset: no export.
    pub otlp_endpoint: Option<String>,
    /// `service.name` on every span.
    pub service_name: String,
}

impl Default for TraceSettings {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "c360".into(),
        }
    }
}

/// Why spans cannot be exported.
#[derive(Debug, thiserror::Error)]
#[error("cannot export spans to {endpoint}: {why}")]
pub struct TraceSetupError {
    endpoint: String,
    why: String,
}

/// Flushes the spans not yet exported when the process is done with them ([`Self::shutdown`]).
#[derive(Debug)]
pub struct Telemetry {
    spans: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
    /// Writes the lines still queued when dropped.
    _lines: Option<tracing_appender::non_blocking::WorkerGuard>,
}

impl Telemetry {
    /// Exports the spans still buffered and stops exporting (at exit). The exporter blocks
    /// its thread while it flushes: not one of the runtime's.
    pub async fn shutdown(self) {
        let Some(spans) = self.spans else {
            return;
        };
        match tokio::task::spawn_blocking(move || spans.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "spans not exported at exit"),
            Err(error) => tracing::warn!(%error, "spans not exported at exit"),
        }
    }
}

/// Lines queued for stderr; beyond, lines are dropped rather than waited for: a logging burst
/// must never stall calls.
const QUEUED_LINES: usize = 64 * 1024;

/// Installs the global subscriber: logs, and spans to OTLP when `trace` says so (which needs
/// a Tokio runtime). Lines are written to stderr by a thread of their own, so that no call
/// waits for the terminal or the pipe: keep the returned [`Telemetry`] until exit, it writes
/// what is still queued when dropped. Later calls (tests start many servers) are no-ops.
pub fn init(settings: &LogSettings, trace: &TraceSettings) -> Result<Telemetry, TraceSetupError> {
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    if !settings.access
        && let Ok(off) = "c360::access=off".parse()
    {
        filter = filter.add_directive(off);
    }
    let (writer, lines) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUED_LINES)
        .lossy(true)
        .finish(std::io::stderr());
    let logs = match settings.format {
        LogFormat::Text => tracing_subscriber::fmt::layer().with_writer(writer).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(writer)
            .boxed(),
    };
    let spans = trace
        .otlp_endpoint
        .as_deref()
        .map(|endpoint| {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
                .map_err(|error| TraceSetupError {
                    endpoint: endpoint.to_owned(),
                    why: error.to_string(),
                })?;
            Ok(opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    opentelemetry_sdk::Resource::builder()
                        .with_service_name(trace.service_name.clone())
                        .build(),
                )
                .build())
        })
        .transpose()?;
    let otel = spans
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("c360")));
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(otel)
        .try_init()
        .is_ok();
    Ok(Telemetry {
        spans,
        _lines: installed.then_some(lines),
    })
}

/// Makes `span` a child of the caller's span (from its `traceparent`), so that it joins the
/// caller's trace where spans are exported. Ids that do not parse are ignored.
pub fn follow_remote_parent(span: &tracing::Span, trace_id: &str, parent_id: &str, sampled: bool) {
    let (Ok(trace_id), Ok(span_id)) = (TraceId::from_hex(trace_id), SpanId::from_hex(parent_id))
    else {
        return;
    };
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let parent = SpanContext::new(trace_id, span_id, flags, true, TraceState::default());
    // Without the OpenTelemetry layer (no export) there is nothing to attach to.
    let _exported = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
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
