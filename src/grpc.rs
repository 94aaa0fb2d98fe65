//! The gRPC edge: requests checked and turned into domain calls, answers and errors turned
//! into the wire's. Thin on purpose: the reads themselves are `profiles` and `queries`, the
//! conversions `convert` and `entry`.

mod admin;
mod authorize;
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

use status::ApiError;

/// Runs one RPC's handler in a span of its own, named after the method, and turns its answer
/// or error into the wire's.
async fn rpc<T>(
    method: &'static str,
    handler: impl Future<Output = Result<T, ApiError>>,
) -> Result<Response<T>, Status> {
    let span = tracing::debug_span!("rpc", method);
    match handler.instrument(span).await {
        Ok(answer) => Ok(Response::new(answer)),
        Err(error) => Err(error.into()),
    }
}
