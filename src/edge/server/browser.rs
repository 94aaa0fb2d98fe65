//! gRPC-Web and CORS for browsers only. Agent desktops in a browser need both; backend
//! services and load testers speak plain gRPC and should not pay for them (the CORS layer
//! alone adds headers to every response). A request is a browser's when it carries an
//! `Origin` header or a gRPC-Web content type.
//!
//! Browsers are let in from the configured origins only (`server.cors_origins`, none by
//! default): a request whose `Origin` is not one of them is refused `403` before it reaches
//! a service, so that no web page an agent happens to open can read profiles through the
//! agent's browser. gRPC-Web without an `Origin` (curl, a proxy) is not a browser's and is
//! served.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::{Either, Ready, ready};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};

/// Wraps a service so that only browser requests go through gRPC-Web and CORS, and only
/// from the allowed origins.
#[derive(Debug, Clone, Default)]
pub(super) struct BrowserLayer {
    origins: Arc<[HeaderValue]>,
}

impl BrowserLayer {
    /// Browsers from `origins` (checked by the settings' validation) may call.
    pub(super) fn new(origins: &[String]) -> Self {
        let origins = origins
            .iter()
            .filter_map(|origin| HeaderValue::from_str(origin).ok())
            .collect();
        Self { origins }
    }
}

/// The request headers a browser may send: those the API reads. Listed, not `*`: the Fetch
/// standard's wildcard does not cover `authorization`.
const ALLOWED_HEADERS: [&str; 10] = [
    "authorization",
    "x-api-key",
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "x-request-id",
    "traceparent",
    "tracestate",
    "grpc-accept-encoding",
];

impl<S: Clone> Layer<S> for BrowserLayer {
    type Service = Browser<S>;

    fn layer(&self, inner: S) -> Browser<S> {
        // A predicate over the shared list, not `AllowOrigin::list`: the service is cloned for
        // every call, and a list is a `Vec` of header values cloned with it (about 600
        // instructions a call with three origins, counted by scripts/hit-instructions).
        let origins = self.origins.clone();
        let cors = CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin, _| {
                origins.contains(origin)
            }))
            .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
            .allow_methods([Method::POST, Method::OPTIONS])
            .expose_headers([
                HeaderName::from_static("grpc-status"),
                HeaderName::from_static("grpc-message"),
                HeaderName::from_static("grpc-status-details-bin"),
            ]);
        Browser {
            browser: cors.layer(tonic_web::GrpcWebLayer::new().layer(inner.clone())),
            plain: inner,
            origins: self.origins.clone(),
        }
    }
}

/// See [`BrowserLayer`].
#[derive(Debug, Clone)]
pub(super) struct Browser<S> {
    plain: S,
    browser: Cors<tonic_web::GrpcWebService<S>>,
    origins: Arc<[HeaderValue]>,
}

/// The answer to a browser from an origin not allowed.
fn forbidden() -> Response<tonic::body::Body> {
    let mut response = Response::new(tonic::body::Body::empty());
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

fn from_browser<B>(request: &Request<B>) -> bool {
    request.headers().contains_key(header::ORIGIN)
        || request
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|t| t.as_bytes().starts_with(b"application/grpc-web"))
}

impl<S, B> Service<Request<B>> for Browser<S>
where
    S: Service<Request<B>, Response = Response<tonic::body::Body>> + Clone,
    Cors<tonic_web::GrpcWebService<S>>:
        Service<Request<B>, Response = S::Response, Error = S::Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<
        Either<S::Future, <Cors<tonic_web::GrpcWebService<S>> as Service<Request<B>>>::Future>,
        Ready<Result<S::Response, S::Error>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self.plain.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.browser.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if let Some(origin) = request.headers().get(header::ORIGIN)
            && !self.origins.contains(origin)
        {
            tracing::debug!("a browser request from an origin not allowed: refused");
            return Either::Right(ready(Ok(forbidden())));
        }
        Either::Left(if from_browser(&request) {
            Either::Right(self.browser.call(request))
        } else {
            Either::Left(self.plain.call(request))
        })
    }
}
