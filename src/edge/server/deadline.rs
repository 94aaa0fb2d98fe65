//! Every call under a deadline: a call without `grpc-timeout` gets `server.max_deadline`, and
//! one asking for longer is held to it. Handlers read the header as the caller's deadline, so
//! every backend read of every RPC ends by it. Watches are exempt: they are meant to stay
//! open.

use std::{
    task::{Context, Poll},
    time::Duration,
};

use http::{HeaderName, HeaderValue, Request};
use tower::{Layer, Service};

use crate::edge::grpc::validate::parse_grpc_timeout;

const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// Caps the deadline of every call but watches at `max`.
#[derive(Debug, Clone)]
pub(super) struct DeadlineLayer {
    max: Duration,
    header: HeaderValue,
}

impl DeadlineLayer {
    pub(super) fn new(max: Duration) -> Self {
        // Milliseconds: eight digits hold more than a day, and the settings allow an hour.
        let millis = max.as_millis().clamp(1, 99_999_999);
        let header = HeaderValue::try_from(format!("{millis}m")).expect("digits and a unit");
        Self { max, header }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            layer: self.clone(),
        }
    }
}

/// See [`DeadlineLayer`].
#[derive(Debug, Clone)]
pub(super) struct Deadline<S> {
    inner: S,
    layer: DeadlineLayer,
}

impl<S, B> Service<Request<B>> for Deadline<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if !request.uri().path().ends_with("/WatchCustomerProfile") {
            cap(request.headers_mut(), &self.layer);
        }
        self.inner.call(request)
    }
}

fn cap(headers: &mut http::HeaderMap, layer: &DeadlineLayer) {
    let within = match headers.get(&GRPC_TIMEOUT) {
        None => false,
        Some(asked) => match asked.to_str().ok().and_then(parse_grpc_timeout) {
            Some(asked) => asked <= layer.max,
            // Malformed: left for the handler to refuse as the caller's error.
            None => true,
        },
    };
    if !within {
        headers.insert(GRPC_TIMEOUT, layer.header.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capped(asked: Option<&'static str>) -> Option<String> {
        let layer = DeadlineLayer::new(Duration::from_secs(5));
        let mut headers = http::HeaderMap::new();
        if let Some(asked) = asked {
            headers.insert(GRPC_TIMEOUT, HeaderValue::from_static(asked));
        }
        cap(&mut headers, &layer);
        let header = headers.get(&GRPC_TIMEOUT)?;
        Some(header.to_str().ok()?.to_owned())
    }

    #[test]
    fn a_call_without_a_deadline_gets_the_maximum() {
        assert_eq!(capped(None).as_deref(), Some("5000m"));
    }

    #[test]
    fn a_longer_deadline_is_held_to_the_maximum_and_a_shorter_one_kept() {
        assert_eq!(capped(Some("1H")).as_deref(), Some("5000m"));
        assert_eq!(capped(Some("6S")).as_deref(), Some("5000m"));
        assert_eq!(capped(Some("5S")).as_deref(), Some("5S"));
        assert_eq!(capped(Some("250m")).as_deref(), Some("250m"));
    }

    #[test]
    fn a_malformed_deadline_is_left_for_the_handler_to_refuse() {
        assert_eq!(capped(Some("soon")).as_deref(), Some("soon"));
    }
}
