//! `customer360.v1.CacheAdminService`.

use std::sync::{Arc, atomic::Ordering};

use c360_proto as pb;
use futures::{StreamExt, stream};
use tonic::{Request, Response, Status};

use super::{
    call, rpc,
    status::ApiError,
    validate::{self, MAX_ADMIN_BATCH, both},
};
use crate::{
    core::cache::CacheStats,
    core::convert::{duration, source},
    core::fanout::Priority,
    core::fanout::{CircuitState, Fanout},
    core::histogram::{HistogramSnapshot, bounds_seconds},
    core::read::{Freshness, ProfileError, Profiles},
    core::vocab::{CustomerId, SourceKind},
    edge::rpc_metrics::{GRPC_CODES, RpcMetrics},
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

fn count(counter: &std::sync::atomic::AtomicU64) -> i64 {
    i64::try_from(counter.load(Ordering::Relaxed)).unwrap_or(i64::MAX)
}

/// The figures `GetCacheStats` answers.
fn figures(
    stats: &CacheStats,
    entries: u64,
    bytes: u64,
    l2_unconfirmed_pending: Option<usize>,
    fanout: &Fanout,
) -> pb::CacheStats {
    let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let admission = fanout.admission();
    pb::CacheStats {
        source_reads: SourceKind::ALL
            .into_iter()
            .map(|kind| {
                let counts = fanout.counts(kind);
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
            })
            .collect(),
        shed: int(admission.shed()),
        concurrency_limit: int(admission.limit() as u64),
        loads_in_flight: int(admission.in_flight() as u64),
        retries: int(fanout.retries()),
        l2_rejected: count(&stats.l2_rejected),
        l1: Some(pb::TierStats {
            hits: count(&stats.l1_hits) + count(&stats.coalesced_waits),
            misses: count(&stats.l1_misses),
            errors: 0,
        }),
        l2: Some(pb::TierStats {
            hits: count(&stats.l2_hits),
            misses: count(&stats.l2_misses) + count(&stats.l2_errors),
            errors: count(&stats.l2_errors),
        }),
        l2_enabled: l2_unconfirmed_pending.is_some(),
        l2_unconfirmed: count(&stats.l2_unconfirmed),
        l2_unconfirmed_pending: l2_unconfirmed_pending
            .map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX)),
        loads: count(&stats.loads),
        coalesced_waits: count(&stats.coalesced_waits),
        refreshes: count(&stats.refreshes),
        stale_serves: count(&stats.stale_serves),
        evictions: count(&stats.evictions),
        entries: i64::try_from(entries).unwrap_or(i64::MAX),
        bytes: i64::try_from(bytes).unwrap_or(i64::MAX),
        invalidations: count(&stats.invalidations),
        discarded_loads: count(&stats.discarded_loads),
        flushes: count(&stats.flushes),
        reenrichments: count(&stats.reenrichments),
        not_found_hits: count(&stats.not_found_hits),
        feeds: stats
            .feeds()
            .into_iter()
            .map(|feed| pb::FeedPosition {
                database: feed.database,
                position: feed.position,
                applied: i64::try_from(feed.applied).unwrap_or(i64::MAX),
                lag: Some(duration(std::time::Duration::from_micros(
                    feed.last_lag_micros,
                ))),
                staleness: feed.staleness.map(duration),
                reconnects: int(feed.reconnects),
            })
            .collect(),
        rpcs: Vec::new(),
        watch_streams: 0,
    }
}

/// A histogram as the API carries it.
fn histogram(snapshot: &HistogramSnapshot) -> pb::LatencyHistogram {
    pb::LatencyHistogram {
        upper_bounds_seconds: bounds_seconds().to_vec(),
        counts: snapshot
            .counts
            .iter()
            .map(|&n| i64::try_from(n).unwrap_or(i64::MAX))
            .collect(),
        sum_seconds: snapshot.sum_nanos as f64 / 1e9,
    }
}

/// Every served method's calls.
fn rpc_stats(rpcs: &RpcMetrics) -> Vec<pb::RpcStats> {
    rpcs.methods()
        .iter()
        .map(|method| {
            let snapshot = method.snapshot();
            pb::RpcStats {
                method: method.path.clone(),
                started: i64::try_from(snapshot.started).unwrap_or(i64::MAX),
                handled: GRPC_CODES
                    .iter()
                    .zip(snapshot.handled)
                    .filter(|(_, n)| *n > 0)
                    .map(|(code, n)| ((*code).to_owned(), i64::try_from(n).unwrap_or(i64::MAX)))
                    .collect(),
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
        let reached = self.profiles.invalidate_everywhere(&customers).await;
        tracing::info!(
            count = customers.len(),
            reached,
            "customers invalidated by an admin"
        );
        Ok(pb::InvalidateCustomersResponse {
            invalidated: i32::try_from(customers.len()).unwrap_or(i32::MAX),
            reached_other_replicas: reached,
        })
    }

    async fn stats(&self) -> Result<pb::CacheStats, ApiError> {
        let cache = self.profiles.cache();
        let (entries, bytes) = (cache.entry_count().await, cache.weighted_size().await);
        let l2_unconfirmed_pending = self.profiles.l2().map(|l2| l2.unconfirmed());
        let mut figures = figures(
            self.profiles.stats(),
            entries,
            bytes,
            l2_unconfirmed_pending,
            self.profiles.fanout(),
        );
        figures.rpcs = self.rpcs.as_deref().map(rpc_stats).unwrap_or_default();
        figures.watch_streams = i64::try_from(self.profiles.watchers()).unwrap_or(i64::MAX);
        Ok(figures)
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
