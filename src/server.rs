//! The gRPC server: `CustomerService`, `CatalogService`, health, reflection (v1 and v1alpha)
//! and gRPC-Web with CORS, on a listener the caller has bound, until `shutdown` resolves.

mod browser;

use std::future::Future;

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
}

/// The full names of the services c360 reports health for.
pub const SERVICES: [&str; 2] = [
    "customer360.v1.CustomerService",
    "customer360.v1.CatalogService",
];

/// Connections from `listener`, with Nagle's algorithm off: a small response must not wait
/// for the client's delayed ACK (40 ms on Linux).
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Serves `app` on `listener` until `shutdown` resolves. Health turns `NOT_SERVING` first;
/// calls in flight then finish before this returns.
pub async fn run(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    for service in SERVICES {
        health
            .set_service_status(service, ServingStatus::Serving)
            .await;
    }
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let draining = async move {
        shutdown.await;
        tracing::info!("shutting down: health NOT_SERVING, finishing calls in flight");
        health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        for service in SERVICES {
            health
                .set_service_status(service, ServingStatus::NotServing)
                .await;
        }
    };
    Server::builder()
        .accept_http1(true)
        .layer(browser::BrowserLayer)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(CustomerServiceServer::new(app.customer_api()))
        .add_service(CatalogServiceServer::new(app.catalog_api()))
        .add_service(CacheAdminServiceServer::new(app.cache_admin_api()))
        .serve_with_incoming_shutdown(incoming(listener), draining)
        .await?;
    Ok(())
}
