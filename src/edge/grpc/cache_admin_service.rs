//! `customer360.v1.CacheAdminService`.

use std::sync::Arc;

use c360_proto as pb;
use futures::{StreamExt, stream};
use tonic::{Request, Response, Status};

use super::{
    call, rpc,
    status::ApiError,
    validate::{self, MAX_ADMIN_BATCH, both},
};
use crate::{
    core::{
        cache::Following,
        convert::{duration, source},
        fanout::{CircuitState, Priority, SourceCounts},
        histogram::{HistogramSnapshot, bounds_seconds},
        read::{Figures, Freshness, ProfileError, Profiles, Reach},
        vocab::{CustomerId, SourceKind},
    },
    edge::{
        replica,
        rpc_metrics::{GRPC_CODES, RpcMetrics},
    },
};

/// Loads run at once while warming: enough to overlap the backends' latency, few enough to
/// leave room for callers.
const WARM_CONCURRENCY: usize = 8;

/// Operates the caches.
#[derive(Debug, Clone)]
pub struct CacheAdminApi {
    profiles: Profiles,
    rpcs: Option<Arc<RpcMetrics>>,
}

impl CacheAdminApi {
    /// Operates the caches of `profiles`.
    pub fn new(profiles: Profiles) -> Self {
        Self {
            profiles,
            rpcs: None,
        }
    }

    /// The same, its stats with every method's calls from `rpcs`.
    pub fn with_rpcs(mut self, rpcs: Option<Arc<RpcMetrics>>) -> Self {
        self.rpcs = rpcs;
        self
    }

    /// Loads the customers asked for, as bulk work: a load that admission control refuses,
    /// or that does not end by the caller's deadline, is reported failed.
    async fn warm(
        &self,
        request: Request<pb::WarmCustomersRequest>,
    ) -> Result<pb::WarmCustomersResponse, ApiError> {
        let deadline = validate::deadline(request.metadata());
        let request = request.into_inner();
        let ((customers, sections), deadline) = both(
            both(
                validate::keys::<CustomerId>(
                    "customer_ids",
                    &request.customer_ids,
                    MAX_ADMIN_BATCH,
                ),
                validate::read_mask(request.read_mask.as_ref()),
            ),
            deadline,
        )?;
        let mut response = pb::WarmCustomersResponse::default();
        let mut loads = stream::iter(customers)
            .map(|customer| async move {
                let result = self
                    .profiles
                    .get_as(
                        customer,
                        sections,
                        Freshness::AnyAge,
                        deadline,
                        Priority::Bulk,
                    )
                    .await;
                (customer, result)
            })
            .buffer_unordered(WARM_CONCURRENCY);
        while let Some((customer, result)) = loads.next().await {
            match result {
                Ok(_) => response.warmed += 1,
                Err(ProfileError::NotFound(_)) => response.not_found.push(customer.to_string()),
                Err(_) => response.failed.push(customer.to_string()),
            }
        }
        Ok(response)
    }
}

fn circuit(state: CircuitState) -> pb::CircuitState {
    match state {
        CircuitState::Closed => pb::CircuitState::Closed,
        CircuitState::Open => pb::CircuitState::Open,
        CircuitState::HalfOpen => pb::CircuitState::HalfOpen,
    }
}

/// A count as the API carries it.
fn int(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// What one backend's reads came to, as `GetCacheStats` carries it.
fn source_reads(kind: SourceKind, counts: &SourceCounts) -> pb::SourceReads {
    pb::SourceReads {
        source: source(kind) as i32,
        reads: int(counts.reads),
        hedges: int(counts.hedges),
        circuit_refusals: int(counts.refused),
        circuit_opened: int(counts.opened),
        circuit: circuit(counts.circuit) as i32,
        p95: counts.p95.map(duration),
        timeouts: int(counts.timeouts),
        failures: int(counts.failed),
        latency: Some(histogram(&counts.latency)),
    }
}

/// The read path's figures as `GetCacheStats` answers them (the gRPC methods' are added by
/// the caller).
fn cache_stats(figures: &Figures) -> pb::CacheStats {
    let (cache, admission) = (&figures.cache, &figures.admission);
    pb::CacheStats {
        source_reads: SourceKind::ALL
            .map(|kind| source_reads(kind, &figures.sources[kind]))
            .to_vec(),
        shed: int(admission.shed),
        concurrency_limit: int(admission.limit),
        loads_in_flight: int(admission.in_flight),
        retries: int(figures.retries),
        l2_rejected: int(cache.l2_rejected),
        l1: Some(pb::TierStats {
            hits: int(cache.l1_answered()),
            misses: int(cache.l1_misses),
            errors: 0,
        }),
        l2: Some(pb::TierStats {
            hits: int(cache.l2_hits),
            misses: int(cache.l2_unanswered()),
            errors: int(cache.l2_errors),
        }),
        l2_enabled: figures.l2_unconfirmed_pending.is_some(),
        l2_unconfirmed: int(cache.l2_unconfirmed),
        l2_unconfirmed_pending: int(figures.l2_unconfirmed_pending.unwrap_or(0)),
        loads: int(cache.loads),
        coalesced_waits: int(cache.coalesced_waits),
        refreshes: int(cache.refreshes),
        stale_serves: int(cache.stale_serves),
        evictions: int(cache.evictions),
        entries: int(figures.entries),
        bytes: int(figures.bytes),
        invalidations: int(cache.invalidations),
        discarded_loads: int(cache.discarded_loads),
        flushes: int(cache.flushes),
        reenrichments: int(cache.reenrichments),
        not_found_hits: int(cache.not_found_hits),
        feeds: figures
            .feeds
            .iter()
            .map(|feed| pb::FeedPosition {
                database: feed.database(),
                position: feed.position,
                applied: int(feed.applied),
                lag: Some(duration(std::time::Duration::from_micros(
                    feed.last_lag_micros,
                ))),
                staleness: feed.staleness.map(duration),
                reconnects: int(feed.reconnects),
                capture: match feed.following {
                    Following::Unknown => pb::FeedCapture::Unspecified,
                    Following::Triggers => pb::FeedCapture::Triggers,
                    Following::Leading => pb::FeedCapture::LogicalLeader,
                    Following::StandingBy => pb::FeedCapture::LogicalStandby,
                }
                .into(),
            })
            .collect(),
        rpcs: Vec::new(),
        watch_streams: int(figures.watchers),
        ..pb::CacheStats::default()
    }
}

/// A histogram as the API carries it.
fn histogram(snapshot: &HistogramSnapshot) -> pb::LatencyHistogram {
    pb::LatencyHistogram {
        upper_bounds_seconds: bounds_seconds().to_vec(),
        counts: snapshot.counts.iter().map(|&n| int(n)).collect(),
        sum_seconds: snapshot.sum_nanos as f64 / 1e9,
        max_seconds: snapshot.max_nanos as f64 / 1e9,
    }
}

/// Counts by code name, the codes never seen left out.
fn by_code(counts: [u64; GRPC_CODES.len()]) -> std::collections::HashMap<String, i64> {
    GRPC_CODES
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .map(|(code, n)| ((*code).to_owned(), int(n)))
        .collect()
}

/// Every served method's calls.
fn rpc_stats(rpcs: &RpcMetrics) -> Vec<pb::RpcStats> {
    rpcs.methods()
        .iter()
        .map(|method| {
            let snapshot = method.snapshot();
            pb::RpcStats {
                method: method.path.clone(),
                started: int(snapshot.started),
                handled: by_code(snapshot.handled),
                callers_fault: by_code(snapshot.callers),
                latency: Some(histogram(&snapshot.latency)),
            }
        })
        .collect()
}

impl CacheAdminApi {
    async fn invalidate(
        &self,
        request: pb::InvalidateCustomersRequest,
    ) -> Result<pb::InvalidateCustomersResponse, ApiError> {
        let customers =
            validate::keys::<CustomerId>("customer_ids", &request.customer_ids, MAX_ADMIN_BATCH)?;
        let reach = self.profiles.invalidate_everywhere(&customers).await;
        let reached = reach == Reach::Everywhere;
        tracing::info!(
            count = customers.len(),
            reached,
            "customers invalidated by an admin"
        );
        Ok(pb::InvalidateCustomersResponse {
            invalidated: i32::try_from(customers.len()).unwrap_or(i32::MAX),
            reached_other_replicas: reached,
            redis_configured: reach != Reach::NoRedis,
        })
    }

    async fn stats(&self) -> Result<pb::CacheStats, ApiError> {
        let mut stats = cache_stats(&self.profiles.figures().await);
        stats.rpcs = self.rpcs.as_deref().map(rpc_stats).unwrap_or_default();
        stats.version = replica::VERSION.to_owned();
        stats.revision = replica::REVISION.to_owned();
        stats.started_at = Some(replica::started().into());
        stats.uptime = Some(duration(replica::uptime()));
        Ok(stats)
    }
}

#[tonic::async_trait]
impl pb::server::cache_admin_service_server::CacheAdminService for CacheAdminApi {
    async fn invalidate_customers(
        &self,
        request: Request<pb::InvalidateCustomersRequest>,
    ) -> Result<Response<pb::InvalidateCustomersResponse>, Status> {
        rpc(
            "InvalidateCustomers",
            call::context(&request).cloned(),
            self.invalidate(request.into_inner()),
        )
        .await
    }

    async fn warm_customers(
        &self,
        request: Request<pb::WarmCustomersRequest>,
    ) -> Result<Response<pb::WarmCustomersResponse>, Status> {
        rpc(
            "WarmCustomers",
            call::context(&request).cloned(),
            self.warm(request),
        )
        .await
    }

    async fn get_cache_stats(
        &self,
        request: Request<pb::GetCacheStatsRequest>,
    ) -> Result<Response<pb::CacheStats>, Status> {
        rpc(
            "GetCacheStats",
            call::context(&request).cloned(),
            self.stats(),
        )
        .await
    }
}
