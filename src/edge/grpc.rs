//! The gRPC edge: requests checked and turned into domain calls, answers and errors turned
//! into the wire's. Thin on purpose: the reads themselves are `core::read` and
//! `core::queries`, the conversions `core::convert` and `core::entry`.

mod attention_service;
mod authorize;
mod cache_admin_service;
pub mod call;
mod catalog_service;
mod customer_service;
mod history_service;
mod offer_service;
pub mod status;
pub mod validate;
mod watch;

use std::future::Future;

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tonic::{Response, Status};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub use attention_service::AttentionApi;
pub use cache_admin_service::CacheAdminApi;
pub use catalog_service::CatalogApi;
pub use customer_service::CustomerApi;
pub use history_service::HistoryApi;
pub use offer_service::OfferApi;

use crate::core::logs::{self, LoggedCall};
use call::CallContext;
use status::ApiError;

/// Runs one RPC's handler as a call its log lines name — by method, request id and trace —
/// and turns its answer or error into the wire's. Where spans are exported the call is a
/// span of its own, a child of the caller's; elsewhere no span is made (most calls log
/// nothing) and the log formats write the call as one (`core::logs::LoggedCall`).
async fn rpc<T>(
    method: &'static str,
    call: Option<CallContext>,
    handler: impl Future<Output = Result<T, ApiError>>,
) -> Result<Response<T>, Status> {
    let answer = if logs::spans_exported() {
        handler.instrument(span(method, call.as_ref())).await
    } else {
        let fields = call.as_ref().map(CallContext::fields);
        LoggedCall { method, fields }.scope(handler).await
    };
    match answer {
        Ok(answer) => Ok(Response::new(answer)),
        Err(error) => {
            let status = Status::from(error);
            if status.code() == tonic::Code::PermissionDenied
                && let Some(call) = &call
            {
                call.note_refused(status.message());
            }
            Err(status)
        }
    }
}

/// The span of a call, exported: named after the method and carrying the call's request id
/// and trace, a child of the caller's span.
fn span(method: &'static str, call: Option<&CallContext>) -> tracing::Span {
    let request_id = call.map_or("-", CallContext::request_id);
    match call.and_then(CallContext::trace) {
        None => tracing::info_span!("rpc", method, %request_id),
        Some(trace) => {
            let span = tracing::info_span!(
                "rpc",
                method,
                %request_id,
                trace_id = %trace.trace_id,
                parent_id = %trace.parent_id,
            );
            follow_remote_parent(&span, &trace.trace_id, &trace.parent_id, trace.sampled);
            span
        }
    }
}

/// Makes `span` a child of the caller's span (from its `traceparent`), so that it joins the
/// caller's trace where spans are exported. Ids that do not parse are ignored.
fn follow_remote_parent(span: &tracing::Span, trace_id: &str, parent_id: &str, sampled: bool) {
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
