//! Every call under a deadline: a call without `grpc-timeout` gets `server.max_deadline`, and
//! one asking for longer is held to it. One asking for less than [`DEADLINE_FLOOR`] is noted
//! on the call: if it then runs out, that is the caller's doing, not the service's. Handlers
//! read the header as the caller's deadline, so every backend read of every RPC ends by it.
//! Watches are exempt: they are meant to stay open.

use std::{
    task::{Context, Poll},
    time::Duration,
};

use http::{HeaderName, HeaderValue, Request};
use tower::{Layer, Service};

use crate::edge::grpc::{call::CallContext, validate::parse_grpc_timeout};

const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// A deadline shorter than this is the caller's to keep: a call that runs out of it is not
/// counted against the availability objective (a miss takes a few milliseconds of backend
/// reads; asking for less than this is asking for a `DEADLINE_EXCEEDED`).
pub(super) const DEADLINE_FLOOR: Duration = Duration::from_millis(50);

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
            if below_the_floor(request.headers())
                && let Some(call) = request.extensions().get::<CallContext>()
            {
                call.note_short_deadline();
            }
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

/// Whether the caller asked for a deadline under [`DEADLINE_FLOOR`].
fn below_the_floor(headers: &http::HeaderMap) -> bool {
    let asked = headers.get(&GRPC_TIMEOUT).and_then(|v| v.to_str().ok());
    asked
        .and_then(parse_grpc_timeout)
        .is_some_and(|asked| asked < DEADLINE_FLOOR)
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

    #[test]
    fn only_a_deadline_the_caller_set_under_the_floor_is_its_own() {
        let below = |asked: Option<&'static str>| {
            let mut headers = http::HeaderMap::new();
            if let Some(asked) = asked {
                headers.insert(GRPC_TIMEOUT, HeaderValue::from_static(asked));
            }
            below_the_floor(&headers)
        };
        assert!(below(Some("1u")));
        assert!(below(Some("49m")));
        assert!(!below(Some("50m")));
        assert!(!below(Some("2S")));
        assert!(!below(None));
        assert!(!below(Some("soon")));
    }
}
