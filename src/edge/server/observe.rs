//! Every gRPC call counted, timed and logged, at the edge of the services: its request id
//! and trace are read (or made) and put on the request for the door and the handlers
//! (`grpc::call`), the request id goes back in the response's `x-request-id`, the method's
//! figures count the call when it starts and its status when it ends (the `grpc-status` of a
//! trailers-only answer, else of the trailers at the end of the body; a body dropped before
//! its trailers is a call the client cancelled), and one access log line tells how it ended
//! — with the caller's name, refused or not. A refused call (by the door or a grant check,
//! noted in its context) is also recorded in the audit.
//!
//! It sits inside the browser layer (gRPC-Web is plain gRPC here) and outside the deadline
//! and the door, so that calls refused there are counted and logged too.

use std::{
    borrow::Cow,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Instant,
};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Request, Response};
use http_body::{Body, Frame};
use tower::{Layer, Service};

use crate::{
    edge::audit::{Audit, Record},
    edge::grpc::call::{CallContext, REQUEST_ID},
    edge::grpc::status::code_name,
    edge::rpc_metrics::{GRPC_CODES, RpcMetrics},
};

/// See the module's documentation. Without figures (`metrics.enabled = false`) calls still
/// get their request id and access log line.
#[derive(Debug, Clone)]
pub(super) struct ObserveLayer {
    rpcs: Option<Arc<RpcMetrics>>,
    audit: Audit,
}

impl ObserveLayer {
    pub(super) fn new(rpcs: Option<Arc<RpcMetrics>>, audit: Audit) -> Self {
        Self { rpcs, audit }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            rpcs: self.rpcs.clone(),
            audit: self.audit.clone(),
        }
    }
}

/// See [`ObserveLayer`].
#[derive(Debug, Clone)]
pub(super) struct Observe<S> {
    inner: S,
    rpcs: Option<Arc<RpcMetrics>>,
    audit: Audit,
}

/// A call under way: what its end needs.
#[derive(Debug)]
struct Call {
    rpcs: Option<Arc<RpcMetrics>>,
    /// Its method in `rpcs`, when the server serves it (else nothing is counted, and the
    /// access line says `unknown`: a path is the caller's text).
    method: Option<usize>,
    context: CallContext,
    started: Instant,
    /// Where a refusal is recorded, if the call is refused.
    audit: Audit,
}

impl Call {
    /// Counts and logs the end of the call, once.
    fn end(self, code: tonic::Code) {
        let elapsed = self.started.elapsed();
        let stats = (self.rpcs.as_deref())
            .zip(self.method)
            .map(|(rpcs, i)| &rpcs.methods()[i]);
        if let Some(stats) = stats {
            stats.handled(code, elapsed);
            if self.context.callers_fault(code) {
                stats.callers_fault(code);
            }
        }
        if let Some(why) = self.context.refused() {
            let rpc = stats.map_or(Cow::Borrowed("unknown"), |s| Cow::Owned(s.path.clone()));
            self.audit.record(&refusal(&self.context, rpc, code, why));
        }
        let code = GRPC_CODES.get(code as usize).copied().unwrap_or("Unknown");
        // Display, not Debug: the request id is checked or ours, the rest are our own words;
        // only the caller's name (a token's subject) is escaped, so that no line break or
        // quote in it can forge a line.
        tracing::info!(
            target: "c360::access",
            request_id = %self.context.request_id(),
            method = %stats.map_or("unknown", |stats| stats.path.as_str()),
            code = %code,
            micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            from = %self.context.served().unwrap_or("-"),
            caller = %self.context.caller().unwrap_or("-").escape_debug(),
            "rpc"
        );
    }
}

/// The audit record of a call refused with `code`, for `why`.
fn refusal(context: &CallContext, rpc: Cow<'static, str>, code: tonic::Code, why: &str) -> Record {
    Record {
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        request_id: context.request_id().to_owned(),
        caller: context.caller().unwrap_or("unknown").to_owned(),
        rpc,
        customers: Vec::new(),
        key: None,
        sections: Vec::new(),
        outcome: code_name(code),
        refused: Some(why.to_owned()),
        attention: None,
        offer: None,
        search: None,
        served_from: None,
    }
}

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// The status a set of headers or trailers carries, if any.
fn status_in(headers: &HeaderMap) -> Option<tonic::Code> {
    headers
        .get(&GRPC_STATUS)
        .map(|status| tonic::Code::from_bytes(status.as_bytes()))
}

/// Whether anything looks at how a call ends: its method's figures, the access log, or the
/// audit (of a refusal).
fn watched(call: &Call) -> bool {
    call.method.is_some()
        || call.audit.is_on()
        || tracing::enabled!(target: "c360::access", tracing::Level::INFO)
}

impl<S, B> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response<tonic::body::Body>>,
{
    type Response = Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let started = Instant::now();
        let context = CallContext::from_headers(request.headers());
        let method = self.rpcs.as_deref().and_then(|rpcs| {
            let i = rpcs.index(request.uri().path())?;
            rpcs.methods()[i].start();
            Some(i)
        });
        request.extensions_mut().insert(context.clone());
        let call = Call {
            rpcs: self.rpcs.clone(),
            method,
            context,
            started,
            audit: self.audit.clone(),
        };
        ObserveFuture {
            inner: self.inner.call(request),
            call: Some(call),
        }
    }
}

pin_project_lite::pin_project! {
    /// See [`Observe`].
    pub(super) struct ObserveFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
    }
}

impl<F, E> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response<tonic::body::Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let Some(call) = this.call.take() else {
            return Poll::Ready(result);
        };
        let mut response = match result {
            Ok(response) => response,
            Err(error) => {
                call.end(tonic::Code::Internal);
                return Poll::Ready(Err(error));
            }
        };
        response
            .headers_mut()
            .insert(REQUEST_ID, call.context.request_id_header());
        if !watched(&call) {
            return Poll::Ready(Ok(response));
        }
        // A trailers-only answer (an error, most often) ends here.
        if let Some(code) = status_in(response.headers()) {
            call.end(code);
            return Poll::Ready(Ok(response));
        }
        Poll::Ready(Ok(response.map(|body| {
            tonic::body::Body::new(ObservedBody {
                inner: body,
                call: Some(call),
            })
        })))
    }
}

pin_project_lite::pin_project! {
    /// A response body that ends its call when its trailers pass, or when it is dropped
    /// before them (the client went away: `Canceled`).
    struct ObservedBody {
        #[pin]
        inner: tonic::body::Body,
        call: Option<Call>,
    }

    impl PinnedDrop for ObservedBody {
        fn drop(this: Pin<&mut Self>) {
            if let Some(call) = this.project().call.take() {
                call.end(tonic::Code::Cancelled);
            }
        }
    }
}

impl Body for ObservedBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(call) = this.call.take()
                {
                    call.end(status_in(trailers).unwrap_or(tonic::Code::Unknown));
                }
            }
            Some(Err(_)) => {
                if let Some(call) = this.call.take() {
                    call.end(tonic::Code::Internal);
                }
            }
            None => {
                if let Some(call) = this.call.take() {
                    call.end(tonic::Code::Unknown);
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
