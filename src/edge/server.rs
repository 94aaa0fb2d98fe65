//! The gRPC server: `CustomerService`, `CatalogService`, `CacheAdminService`, health
//! (`health.rs`), reflection (v1 and v1alpha) and gRPC-Web with CORS, on a listener the caller
//! has bound, in plaintext or TLS (`tls.rs`), until `shutdown` resolves; `/metrics` on a
//! listener of its own (`scrape.rs`, `exposition.rs`), over TLS too when it is on. Both let
//! connections in through one door (`accept.rs`). Its layers, in the order a call meets
//! them: the console's page (`console.rs`), browsers (`browser.rs`), counting and logging
//! (`observe.rs`), deadlines (`deadline.rs`), the door (`door.rs`). Its settings are
//! `settings.rs`'.

mod accept;
mod browser;
mod console;
mod deadline;
mod door;
mod exposition;
mod health;
mod observe;
mod scrape;
mod settings;
pub mod tls;

use std::{future::Future, sync::Arc};

use tokio::{net::TcpListener, sync::watch};
use tonic::transport::Server;
use tonic_health::{pb::health_server::HealthServer, server::HealthReporter};

pub use exposition::CONTENT_TYPE;
use health::Stage;
pub use health::{Readiness, SERVICES};
pub use settings::{MetricsSettings, ServerSettings, TlsSettings};

use c360_proto::{
    self as pb,
    server::{
        attention_service_server::AttentionServiceServer,
        cache_admin_service_server::CacheAdminServiceServer,
        catalog_service_server::CatalogServiceServer,
        customer_service_server::CustomerServiceServer,
        history_service_server::HistoryServiceServer, offer_service_server::OfferServiceServer,
    },
};

use crate::{
    core::read::Profiles,
    edge::{
        audit::Audit,
        auth::LiveAuth,
        grpc::{AttentionApi, CacheAdminApi, CatalogApi, CustomerApi, HistoryApi, OfferApi},
        rpc_metrics::RpcMetrics,
    },
};

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The reflection service could not read the descriptors.
    #[error("cannot build the reflection service")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("the gRPC transport failed")]
    Transport(#[from] tonic::transport::Error),
    /// The listener's own address could not be read.
    #[error("cannot read the listener's address")]
    Listener(#[source] std::io::Error),
    /// TLS could not be set up.
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
}

/// What the server serves, as the wiring assembles it.
#[derive(Debug)]
pub struct Served {
    /// `CustomerService`.
    pub customer: CustomerApi,
    /// `CatalogService`.
    pub catalog: CatalogApi,
    /// `CacheAdminService`.
    pub admin: CacheAdminApi,
    /// `AttentionService`, when the queue is on.
    pub attention: Option<AttentionApi>,
    /// `OfferService`, when offers are on.
    pub offers: Option<OfferApi>,
    /// `HistoryService`, when history search is on.
    pub history: Option<HistoryApi>,
    /// The read path: its watches end at shutdown, its figures are `/metrics`'.
    pub profiles: Profiles,
    /// Limits, keepalive, connection age, the drain, TLS.
    pub settings: ServerSettings,
    /// What health reports, as it changes.
    pub readiness: watch::Receiver<Readiness>,
    /// Who may call, when authentication is on.
    pub authenticator: Option<Arc<LiveAuth>>,
    /// The gRPC figures per method, when counted.
    pub rpcs: Option<Arc<RpcMetrics>>,
    /// Where refused calls are recorded (and, by the services, reads).
    pub audit: Audit,
}

/// Serves `served` on `listener`, and `/metrics` on `metrics` if given (see `scrape.rs`),
/// until `shutdown` resolves. Health follows readiness (every change feed followed from a
/// known position, every background task running), the overall entry (`""`) also whether any
/// backend answers. On shutdown it turns `NOT_SERVING` first, new calls are served for
/// `server.drain` more, then the listener closes, watches end with `UNAVAILABLE`, and calls in
/// flight finish before this returns.
pub async fn run(
    listener: TcpListener,
    metrics: Option<TcpListener>,
    served: Served,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let limits = &served.settings;
    crate::edge::replica::started();
    // A certificate that does not load stops the start, before anything is served.
    let tls = limits.tls.as_ref().map(tls::Acceptor::new).transpose()?;
    let door = accept::Door {
        tls: tls.as_ref().map(tls::Acceptor::acceptor),
        handshake_timeout: limits.handshake_timeout,
        per_peer: limits.max_connections_per_peer,
    };
    // The console's page calls from its own origin: let it in.
    let mut origins = limits.cors_origins.clone();
    if limits.console {
        let local = listener.local_addr().map_err(ServeError::Listener)?;
        origins.extend(console::own_origins(local, tls.is_some()));
    }
    let stage = tokio::sync::watch::Sender::new(Stage::Open);
    let scraped = metrics.map(|metrics| {
        let exposition = exposition::Exposition {
            profiles: served.profiles.clone(),
            rpcs: served.rpcs.clone(),
            readiness: served.readiness.clone(),
            stage: stage.subscribe(),
            attention: served.attention.as_ref().map(AttentionApi::figures),
        };
        let connections = accept::incoming(metrics, door.clone());
        let auth = served.authenticator.clone();
        tokio::spawn(scrape::serve(connections, exposition, auth))
    });
    let connections = accept::incoming(listener, door);
    let result = serve(connections, served, &origins, stage, shutdown).await;
    drop(tls);
    if let Some(scraped) = scraped {
        scraped.abort();
    }
    result
}

async fn serve(
    connections: impl tokio_stream::Stream<Item = std::io::Result<accept::Connection>> + Send,
    served: Served,
    origins: &[String],
    stage: tokio::sync::watch::Sender<Stage>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let limits = served.settings;
    let health = HealthReporter::new();
    let health_service = HealthServer::new(health::Health::new(health.clone(), stage.subscribe()));
    health::set(&health, (false, false)).await;
    let following = tokio::spawn(health::follow(health.clone(), served.readiness));
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let (profiles, drain) = (served.profiles, limits.drain);
    let attention = served.attention.clone();
    let offers = served.offers.clone();
    let draining = async move {
        shutdown.await;
        tracing::info!(
            ?drain,
            "shutting down: health NOT_SERVING, still serving new calls while load balancers notice"
        );
        following.abort();
        stage.send_replace(Stage::Draining);
        health::set(&health, (false, false)).await;
        tokio::time::sleep(drain).await;
        tracing::info!("listener closed: ending watches, finishing calls in flight");
        profiles.close_watches();
        if let Some(attention) = &attention {
            attention.close_watches();
        }
        if let Some(offers) = &offers {
            offers.close_watches();
        }
        stage.send_replace(Stage::Closed);
    };
    let router = Server::builder()
        .accept_http1(true)
        .max_concurrent_streams(limits.max_concurrent_streams)
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .max_connection_age(limits.max_connection_age)
        .max_connection_age_grace(limits.max_connection_age_grace)
        .layer(console::ConsoleLayer::new(limits.console))
        .layer(browser::BrowserLayer::new(origins))
        .layer(observe::ObserveLayer::new(served.rpcs, served.audit))
        .layer(deadline::DeadlineLayer::new(limits.max_deadline))
        .layer(door::AuthLayer::new(served.authenticator))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(CustomerServiceServer::new(served.customer))
        .add_service(CatalogServiceServer::new(served.catalog))
        .add_service(CacheAdminServiceServer::new(served.admin))
        .add_optional_service(served.attention.map(AttentionServiceServer::new))
        .add_optional_service(served.offers.map(OfferServiceServer::new))
        .add_optional_service(served.history.map(HistoryServiceServer::new));
    router
        .serve_with_incoming_shutdown(connections, draining)
        .await?;
    Ok(())
}
