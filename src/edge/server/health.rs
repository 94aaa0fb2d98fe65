//! Health, as load balancers read it: each service's entry follows readiness, the overall
//! entry (`""`) also whether any backend answers. Readiness comes as a watch from the wiring;
//! health changes when it does. A `Watch` (Envoy's and gRPC's own health checking keep one
//! open) ends `UNAVAILABLE` when the server closes, after it has said `NOT_SERVING`, as the
//! profile watches do: otherwise the server would wait for it until its grace ran out.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tokio::sync::watch;
use tonic::{Request, Response, Status};
use tonic_health::{
    ServingStatus,
    pb::{HealthCheckRequest, HealthCheckResponse, health_server},
    server::{HealthReporter, HealthService},
};

/// The full names of the services c360 reports health for.
pub const SERVICES: [&str; 3] = [
    "customer360.v1.CustomerService",
    "customer360.v1.CatalogService",
    "customer360.v1.CacheAdminService",
];

/// Whether the replica is ready, as health reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Every change feed is followed from a known position and every background task runs:
    /// the services' entries are `SERVING`.
    pub ready: bool,
    /// At least one backend answers: with `ready`, the overall entry is `SERVING` too.
    pub backends_answer: bool,
    /// The background tasks not running now, by name (for the log).
    pub down: Vec<&'static str>,
}

/// Sets every service's entry to `services` and the overall entry to `overall` (`SERVING`
/// when true).
pub(super) async fn set(health: &HealthReporter, (services, overall): (bool, bool)) {
    let status = |serving| match serving {
        true => ServingStatus::Serving,
        false => ServingStatus::NotServing,
    };
    health.set_service_status("", status(overall)).await;
    for service in SERVICES {
        health.set_service_status(service, status(services)).await;
    }
}

/// Keeps `health` following `readiness` until the wiring stops publishing it, logging each
/// change of the services' entries.
pub(super) async fn follow(health: HealthReporter, mut readiness: watch::Receiver<Readiness>) {
    // (the services' entries, the overall entry)
    let mut serving = (false, false);
    loop {
        let now = readiness.borrow_and_update().clone();
        let entries = (now.ready, now.ready && now.backends_answer);
        if entries.0 != serving.0 {
            if entries.1 {
                tracing::info!("ready: health SERVING");
            } else if now.ready {
                tracing::warn!(
                    "ready: the services' health SERVING, the overall entry NOT_SERVING until a backend answers"
                );
            } else {
                tracing::warn!(down = %now.down.join(", "), "not ready: health NOT_SERVING");
            }
        }
        if entries != serving {
            set(&health, entries).await;
            serving = entries;
        }
        if readiness.changed().await.is_err() {
            return;
        }
    }
}

/// Where the server is in its life: what ends health's watches, and what `c360_ready` says
/// besides readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Stage {
    /// Serving.
    Open,
    /// Shutting down: health `NOT_SERVING`, new calls still served while load balancers
    /// notice.
    Draining,
    /// The listener closed: watches end, calls in flight finish.
    Closed,
}

/// The health service, its watches ended once `stage` is [`Stage::Closed`].
pub(super) struct Health {
    inner: HealthService,
    stage: watch::Receiver<Stage>,
}

impl Health {
    /// The service reporting what `health` sets.
    pub(super) fn new(health: HealthReporter, stage: watch::Receiver<Stage>) -> Self {
        Self {
            inner: HealthService::from_health_reporter(health),
            stage,
        }
    }
}

type HealthStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl health_server::Health for Health {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.inner.check(request).await
    }

    type WatchStream = HealthStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthStream>, Status> {
        let statuses = self.inner.watch(request).await?.into_inner();
        let mut stage = self.stage.clone();
        let closing = async move {
            // The server gone (the sender dropped) closes the watch too.
            let _either = stage.wait_for(|stage| *stage == Stage::Closed).await;
        };
        let ended = futures::stream::once(async {
            Err(Status::unavailable(
                "this replica is shutting down; watch another",
            ))
        });
        Ok(Response::new(Box::pin(
            statuses.take_until(Box::pin(closing)).chain(ended),
        )))
    }
}
