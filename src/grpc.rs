//! The gRPC edge: requests checked and turned into domain calls, answers and errors turned
//! into the wire's. Thin on purpose: the reads themselves are `profiles` and `queries`, the
//! conversions `convert` and `entry`.

mod admin;
mod authorize;
pub mod call;
mod catalog;
mod customer;
pub mod status;
pub mod validate;
mod watch;

use std::future::Future;

use tonic::{Response, Status};
use tracing::Instrument;

pub use admin::CacheAdminApi;
pub use catalog::CatalogApi;
pub use customer::CustomerApi;

use call::CallContext;
use status::ApiError;

/// Runs one RPC's handler in a span of its own, named after the method and carrying the
/// call's request id and trace (so every log line of the call does), and turns its answer
/// or error into the wire's.
async fn rpc<T>(
    method: &'static str,
    call: Option<CallContext>,
    handler: impl Future<Output = Result<T, ApiError>>,
) -> Result<Response<T>, Status> {
    let request_id = call.as_ref().map_or("-", CallContext::request_id);
    let span = match call.as_ref().and_then(CallContext::trace) {
        None => tracing::info_span!("rpc", method, %request_id),
        Some(trace) => {
            let span = tracing::info_span!(
                "rpc",
                method,
                %request_id,
                trace_id = %trace.trace_id,
                parent_id = %trace.parent_id,
            );
            crate::telemetry::follow_remote_parent(
                &span,
                &trace.trace_id,
                &trace.parent_id,
                trace.sampled,
            );
            span
        }
    };
    match handler.instrument(span).await {
        Ok(answer) => Ok(Response::new(answer)),
        Err(error) => Err(error.into()),
    }
}
