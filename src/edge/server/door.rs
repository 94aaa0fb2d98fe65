//! Authentication and RPC authorization at the door, once on: every call but health's must
//! carry credentials ([`crate::edge::auth`]) whose roles grant its RPC, or it is answered
//! `UNAUTHENTICATED` / `PERMISSION_DENIED` before any service sees it. Reflection needs an
//! authenticated caller holding a role the configuration names; health stays open for load balancers. The caller and
//! what its roles let it read ([`crate::edge::auth::Admitted`]) go on in the call's context
//! (the request's extensions where it has none), for the services.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::{Either, Ready, ready};
use http::{Request, Response};
use tonic::Status;
use tower::{Layer, Service};

use crate::{
    edge::auth::{Admitted, AuthError, Authenticator, LiveAuth},
    edge::grpc::call::CallContext,
};

/// Checks every call against `auth`; lets everything through when `None` (authentication off).
#[derive(Debug, Clone)]
pub(super) struct AuthLayer {
    auth: Option<Arc<LiveAuth>>,
}

impl AuthLayer {
    pub(super) fn new(auth: Option<Arc<LiveAuth>>) -> Self {
        Self { auth }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Authenticated<S> {
        Authenticated {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// See [`AuthLayer`].
#[derive(Debug, Clone)]
pub(super) struct Authenticated<S> {
    inner: S,
    auth: Option<Arc<LiveAuth>>,
}

const HEALTH: &str = "/grpc.health.v1.Health/";
const API: &str = "/customer360.v1.";
/// The streams, which outlive the check at their start.
const WATCHES: [&str; 2] = ["/WatchCustomerProfile", "/WatchAttention"];

/// Whether the call may go on; the caller, when known, goes into its extensions and (let in
/// or not) into its context, for the access log and the audit.
fn admit<B>(auth: &Authenticator, request: &mut Request<B>) -> Result<(), Status> {
    let path = request.uri().path();
    if path.starts_with(HEALTH) {
        return Ok(());
    }
    let checked = auth
        .admit(request.headers())
        .map_err(|error| Status::unauthenticated(error.to_string()))?;
    let call = request.extensions().get::<CallContext>();
    if let Err(refused) = let_in(auth, &checked.admitted, path) {
        // Refused, but known: the access log and the audit name the caller.
        if let Some(call) = call {
            call.note_caller(checked.admitted.caller.clone());
        }
        return Err(refused);
    }
    let admitted = auth.keep(checked);
    match call {
        Some(call) => call.note_admitted(admitted),
        None => {
            request.extensions_mut().insert(admitted);
        }
    }
    Ok(())
}

/// Whether the roles of the caller `admitted` names grant the RPC at `path` and its rate
/// allows one more call.
fn let_in(auth: &Authenticator, admitted: &Admitted, path: &str) -> Result<(), Status> {
    let caller = &admitted.caller;
    if let Some(rpc) = path.strip_prefix(API) {
        auth.authorize_admitted(admitted, rpc)
            .map_err(|error| match error {
                AuthError::Denied { .. } => Status::permission_denied(error.to_string()),
                other => Status::unauthenticated(other.to_string()),
            })?;
    } else if !auth.knows_a_role(caller) {
        return Err(Status::permission_denied(format!(
            "{} holds no role this service knows",
            caller.name
        )));
    }
    if let Err(wait) = auth.check_rate(caller) {
        return Err(<Status as tonic_types::StatusExt>::with_error_details(
            tonic::Code::ResourceExhausted,
            format!(
                "{} is over its rate limit; retry after the delay given",
                caller.name
            ),
            tonic_types::ErrorDetails::with_retry_info(Some(wait)),
        ));
    }
    Ok(())
}

impl<S, B> Service<Request<B>> for Authenticated<S>
where
    S: Service<Request<B>, Response = Response<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<S::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if let Some(live) = &self.auth
            && let Err(status) = admit(&live.for_call(), &mut request)
        {
            tracing::debug!(code = ?status.code(), "call refused at the door");
            if let Some(call) = request.extensions().get::<CallContext>() {
                call.note_refused(status.message());
            }
            return Either::Right(ready(Ok(status.into_http())));
        }
        if let Some(live) = &self.auth
            && let Some(rpc) = request.uri().path().strip_prefix(API)
            && WATCHES.iter().any(|watch| rpc.ends_with(watch))
        {
            // A stream is checked again each time `[auth]` is reloaded.
            let presented = live.presented(request.headers(), rpc);
            request.extensions_mut().insert(presented);
        }
        Either::Left(self.inner.call(request))
    }
}
