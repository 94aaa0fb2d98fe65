//! The gRPC server: `CustomerService`, `CatalogService`, health, reflection (v1 and v1alpha)
//! and gRPC-Web with CORS, on a listener the caller has bound, in plaintext or TLS (`tls`),
//! until `shutdown` resolves.

mod auth;
mod browser;
mod deadline;
mod observe;
mod scrape;
pub mod tls;

use std::{future::Future, time::Duration};

use tokio::net::TcpListener;
use tonic::transport::{Server, server::TcpIncoming};
use tonic_health::ServingStatus;

use c360_proto::{
    self as pb,
    server::{
        cache_admin_service_server::CacheAdminServiceServer,
        catalog_service_server::CatalogServiceServer,
        customer_service_server::CustomerServiceServer,
    },
};

use crate::app::App;

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The reflection service could not read the descriptors.
    #[error("cannot build the reflection service")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("the gRPC transport failed")]
    Transport(#[from] tonic::transport::Error),
    /// TLS could not be set up.
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
}

/// The full names of the services c360 reports health for.
pub const SERVICES: [&str; 3] = [
    "customer360.v1.CustomerService",
    "customer360.v1.CatalogService",
    "customer360.v1.CacheAdminService",
];

/// Sets every service's entry to `services` and the overall entry to `overall` (`SERVING`
/// when true).
async fn set_health(
    health: &tonic_health::server::HealthReporter,
    (services, overall): (bool, bool),
) {
    let status = |serving| match serving {
        true => ServingStatus::Serving,
        false => ServingStatus::NotServing,
    };
    health.set_service_status("", status(overall)).await;
    for service in SERVICES {
        health.set_service_status(service, status(services)).await;
    }
}

/// Connections from `listener`, with Nagle's algorithm off: a small response must not wait
/// for the client's delayed ACK (40 ms on Linux).
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// How often readiness is checked: health follows it (a change feed that stops, a background
/// task that died and waits to restart, make the replica `NOT_SERVING` until they are back).
const READY_POLL: Duration = Duration::from_millis(20);

/// Serves `app` on `listener` until `shutdown` resolves. Health says `SERVING` while the app
/// is ready (every change feed followed from a known position, every background task
/// running), `NOT_SERVING` otherwise; the overall entry (`""`) also while no backend answers
/// (`app/probe.rs`). On
/// shutdown it turns `NOT_SERVING` first, new calls are served for `server.drain` more, then
/// the listener closes, watches end with `UNAVAILABLE`, and calls in flight finish before
/// this returns.
pub async fn run(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    run_with_metrics(listener, None, app, shutdown).await
}

/// [`run`], and `/metrics` on `metrics` (see `scrape.rs`) for as long as gRPC is served.
pub async fn run_with_metrics(
    listener: TcpListener,
    metrics: Option<TcpListener>,
    app: App,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let scraped = metrics.map(|metrics| {
        tokio::spawn(scrape::serve(
            metrics,
            app.exposition(),
            app.authenticator(),
        ))
    });
    let served = serve(listener, app, shutdown).await;
    if let Some(scraped) = scraped {
        scraped.abort();
    }
    served
}

async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    // A certificate that does not load stops the start, before anything is served.
    let tls = app
        .server_settings()
        .tls
        .as_ref()
        .map(tls::Acceptor::new)
        .transpose()?;
    let (health, health_service) = tonic_health::server::health_reporter();
    set_health(&health, (false, false)).await;
    let readiness = app.readiness();
    let following_readiness = tokio::spawn({
        let health = health.clone();
        async move {
            // (the services' entries, the overall entry)
            let mut serving = (false, false);
            loop {
                let ready = readiness.is_ready();
                let now = (ready, ready && readiness.any_backend_answers());
                if now.0 != serving.0 {
                    if now.1 {
                        tracing::info!("ready: health SERVING");
                    } else if ready {
                        tracing::warn!(
                            "ready: the services' health SERVING, the overall entry NOT_SERVING until a backend answers"
                        );
                    } else {
                        let down = readiness.down();
                        tracing::warn!(?down, "not ready: health NOT_SERVING");
                    }
                }
                if now != serving {
                    set_health(&health, now).await;
                    serving = now;
                }
                tokio::time::sleep(READY_POLL).await;
            }
        }
    });
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let (profiles, drain) = (app.profiles().clone(), app.server_settings().drain);
    let draining = async move {
        shutdown.await;
        tracing::info!(
            ?drain,
            "shutting down: health NOT_SERVING, still serving new calls while load balancers notice"
        );
        following_readiness.abort();
        set_health(&health, (false, false)).await;
        tokio::time::sleep(drain).await;
        tracing::info!("listener closed: ending watches, finishing calls in flight");
        profiles.close_watches();
    };
    let limits = app.server_settings().clone();
    let router = Server::builder()
        .accept_http1(true)
        .max_concurrent_streams(limits.max_concurrent_streams)
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .max_connection_age(limits.max_connection_age)
        .max_connection_age_grace(limits.max_connection_age_grace)
        .layer(browser::BrowserLayer::new(&limits.cors_origins))
        .layer(observe::ObserveLayer::new(app.rpc_metrics()))
        .layer(deadline::DeadlineLayer::new(limits.max_deadline))
        .layer(auth::AuthLayer::new(app.authenticator()))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(CustomerServiceServer::new(app.customer_api()))
        .add_service(CatalogServiceServer::new(app.catalog_api()))
        .add_service(CacheAdminServiceServer::new(app.cache_admin_api()));
    match tls {
        None => {
            router
                .serve_with_incoming_shutdown(incoming(listener), draining)
                .await?
        }
        Some(tls) => {
            router
                .serve_with_incoming_shutdown(tls.incoming(listener), draining)
                .await?
        }
    }
    Ok(())
}
