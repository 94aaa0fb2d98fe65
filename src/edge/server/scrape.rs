//! `/metrics` over HTTP/1.1 on a listener of its own (`metrics.listen`), for Prometheus; over
//! TLS when `[server.tls]` is set.
//! `GET /metrics` answers the figures; anything else `404` or `405`. With authentication on,
//! a scrape needs credentials the door accepts (a bearer token or an API key, any role), as
//! reflection does. Connections are few and bounded; a client that sends nothing is cut off.

use std::{convert::Infallible, sync::Arc, time::Duration};

use http::{Method, Request, Response, StatusCode, header};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;
use tokio_stream::{Stream, StreamExt};

use super::{accept::Connection, exposition};
use crate::{
    core::logs::error_chain,
    edge::auth::{Authenticator, LiveAuth},
};

/// Connections served at once; more wait in the accept queue. Prometheus keeps one open.
const MAX_CONNECTIONS: usize = 16;

/// A connection whose request headers do not arrive within this is closed.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `/metrics` on the `connections` the door lets in, until the task is dropped.
pub(super) async fn serve(
    connections: impl Stream<Item = std::io::Result<Connection>> + Send,
    exposition: exposition::Exposition,
    auth: Option<Arc<LiveAuth>>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = std::pin::pin!(connections);
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(Ok(stream)) = connections.next().await else {
            return;
        };
        let (exposition, auth) = (exposition.clone(), auth.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let (exposition, auth) = (exposition.clone(), auth.clone());
                async move {
                    Ok::<_, Infallible>(
                        answer(request, &exposition, auth.map(|a| a.current()).as_deref()).await,
                    )
                }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(error = %error_chain(&error), "metrics: connection ended");
            }
            drop(slot);
        });
    }
}

fn status(code: StatusCode, text: &'static str) -> Response<String> {
    let mut response = Response::new(text.to_owned());
    *response.status_mut() = code;
    response
}

async fn answer(
    request: Request<Incoming>,
    exposition: &exposition::Exposition,
    auth: Option<&Authenticator>,
) -> Response<String> {
    if request.uri().path() != "/metrics" {
        return status(StatusCode::NOT_FOUND, "not found: try /metrics\n");
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = status(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
        response
            .headers_mut()
            .insert(header::ALLOW, http::HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if let Some(auth) = auth {
        match auth.authenticate(request.headers()) {
            Err(error) => {
                tracing::debug!(%error, "metrics: scrape refused");
                let mut response = status(StatusCode::UNAUTHORIZED, "credentials needed\n");
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer"),
                );
                return response;
            }
            Ok(caller) if !auth.knows_a_role(&caller) => {
                tracing::debug!(caller = %caller.name, "metrics: scrape refused, no known role");
                return status(StatusCode::FORBIDDEN, "a role is needed\n");
            }
            Ok(_) => {}
        }
    }
    let mut response = Response::new(exposition.render().await);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(exposition::CONTENT_TYPE),
    );
    response
}
