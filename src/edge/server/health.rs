//! Health, as load balancers read it: each service's entry follows readiness, the overall
//! entry (`""`) also whether any backend answers. Readiness comes as a watch from the wiring;
//! health changes when it does.

use tokio::sync::watch;
use tonic_health::{ServingStatus, server::HealthReporter};

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
                tracing::warn!(down = ?now.down, "not ready: health NOT_SERVING");
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
