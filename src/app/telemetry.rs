//! Logs through tracing: text for people or JSON for collectors; `RUST_LOG` overrides the
//! configured filter. Spans, when `trace.otlp_endpoint` is set, also go to an OpenTelemetry
//! collector over OTLP/gRPC, each call's span a child of the caller's `traceparent`
//! (`edge/grpc/call.rs`). Where spans are not exported a call makes none: its lines name it
//! all the same (`telemetry/lines.rs`).

mod lines;

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use serde::{Deserialize, Serialize};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use crate::core::settings::Check;

/// Log output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` for people, `json` for collectors.
    pub format: LogFormat,
    /// Default filter when `RUST_LOG` is unset, e.g. `info` or `c360=debug,info`.
    pub filter: String,
    /// One line per call (target `c360::access`, at `info`). Off by default in `serve`: at
    /// tens of thousands of calls a second the lines cost the hit path about a twelfth of its
    /// instructions (BENCHMARKS.md); on in the demo.
    pub access: bool,
}

impl LogSettings {
    /// Refuses a filter `tracing` cannot read (it would otherwise drop the directive and log
    /// at a level nobody asked for).
    pub fn check(&self, c: &mut Check) {
        if let Err(error) = EnvFilter::try_new(&self.filter) {
            c.refuse(
                "filter",
                format!("{:?}", self.filter),
                format!("must be a tracing filter, e.g. info or c360=debug,info ({error})"),
            );
        }
    }
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

impl TraceSettings {
    /// Refuses an endpoint that is not an http:// or https:// URL.
    pub fn check(&self, c: &mut Check) {
        if let Some(endpoint) = &self.otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            let rule = "must be an http:// or https:// URL, e.g. http://127.0.0.1:4317";
            c.refuse("otlp_endpoint", endpoint, rule);
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

/// Whether text lines are coloured: only on a terminal, and not when `NO_COLOR` is set to
/// anything (<https://no-color.org>). A file or a pipe gets plain text.
fn colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|value| value.is_empty())
}

/// Lines queued for stderr; beyond, lines are dropped rather than waited for: a logging burst
/// must never stall calls.
const QUEUED_LINES: usize = 64 * 1024;

/// Bytes of lines the writing thread gathers before one write to stderr. It takes every line
/// queued at once and flushes whenever the queue is empty, so a line waits for no other: under
/// load, many lines go out in one system call instead of one call each.
const LINES_BUFFER: usize = 64 * 1024;

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
        .finish(std::io::BufWriter::with_capacity(
            LINES_BUFFER,
            std::io::stderr(),
        ));
    let logs = match settings.format {
        LogFormat::Text => {
            let colour = colour(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR"),
            );
            let text = tracing_subscriber::fmt::layer().with_ansi(colour);
            let text = text.event_format(lines::TextLines);
            text.with_writer(writer).boxed()
        }
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .event_format(lines::JsonLines::new())
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
    let exported = spans.is_some();
    let otel = spans
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("c360")));
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(otel)
        .try_init()
        .is_ok();
    if installed && exported {
        crate::core::logs::export_spans();
    }
    Ok(Telemetry {
        spans,
        _lines: installed.then_some(lines),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_coloured_only_on_a_terminal_and_never_under_no_color() {
        assert!(colour(true, None));
        assert!(!colour(false, None), "a file or a pipe");
        assert!(!colour(true, Some("1".into())), "NO_COLOR=1");
        assert!(
            colour(true, Some("".into())),
            "an empty NO_COLOR does not count"
        );
        assert!(!colour(false, Some("1".into())));
    }
}
