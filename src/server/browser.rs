//! gRPC-Web and CORS for browsers only. Agent desktops in a browser need both; backend
//! services and load testers speak plain gRPC and should not pay for them (the CORS layer
//! alone adds headers to every response). A request is a browser's when it carries an
//! `Origin` header or a gRPC-Web content type.

use std::task::{Context, Poll};

use futures::future::Either;
use http::{HeaderName, Method, Request, header};
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, Any, Cors, CorsLayer};

/// Wraps a service so that only browser requests go through gRPC-Web and CORS.
#[derive(Debug, Clone, Default)]
pub(super) struct BrowserLayer;

impl<S: Clone> Layer<S> for BrowserLayer {
    type Service = Browser<S>;

    fn layer(&self, inner: S) -> Browser<S> {
        // Tokens, not cookies, carry identity, so any origin may call.
        let cors = CorsLayer::new()
            .allow_origin(AllowOrigin::mirror_request())
            .allow_headers(Any)
            .allow_methods([Method::POST, Method::OPTIONS])
            .expose_headers([
                HeaderName::from_static("grpc-status"),
                HeaderName::from_static("grpc-message"),
                HeaderName::from_static("grpc-status-details-bin"),
            ]);
        Browser {
            browser: cors.layer(tonic_web::GrpcWebLayer::new().layer(inner.clone())),
            plain: inner,
        }
    }
}

/// See [`BrowserLayer`].
#[derive(Debug, Clone)]
pub(super) struct Browser<S> {
    plain: S,
    browser: Cors<tonic_web::GrpcWebService<S>>,
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
    S: Service<Request<B>> + Clone,
    Cors<tonic_web::GrpcWebService<S>>:
        Service<Request<B>, Response = S::Response, Error = S::Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        Either<S::Future, <Cors<tonic_web::GrpcWebService<S>> as Service<Request<B>>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self.plain.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.browser.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if from_browser(&request) {
            Either::Right(self.browser.call(request))
        } else {
            Either::Left(self.plain.call(request))
        }
    }
}
