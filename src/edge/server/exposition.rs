//! The figures of a running app in the Prometheus text format (version 0.0.4), as `/metrics`
//! serves them. Everything is read when scraped from the counters the request path keeps
//! anyway; only the gRPC histograms cost the request path anything (`crate::core::histogram`).
//!
//! Names: the gRPC server's are go-grpc-prometheus's (`grpc_server_*`), so that its
//! dashboards and alerts work as they are; c360's own start with `c360_`. Sources are
//! labelled `source` (billing, orders, fulfilment, crm), feeds `database` (the backends a
//! database serves, never its URL). No label holds anything a caller sent.

use std::{fmt::Write as _, sync::Arc};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};

use tokio::sync::watch;

use super::Readiness;
use crate::{
    core::cache::FeedSnapshot,
    core::fanout::{CircuitState, SourceCounts},
    core::histogram::{BOUNDS_NANOS, HistogramSnapshot},
    core::read::Profiles,
    core::vocab::SourceKind,
    edge::rpc_metrics::{GRPC_CODES, MethodSnapshot, RpcMetrics},
};

/// The `Content-Type` of what [`Exposition::render`] writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The version and the git revision it was built from (`unknown` outside a checkout).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git revision of the build, from `build.rs`.
pub const REVISION: &str = env!("GIT_REVISION");

/// Renders an app's figures; cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct Exposition {
    pub(super) profiles: Profiles,
    pub(super) rpcs: Option<Arc<RpcMetrics>>,
    pub(super) readiness: watch::Receiver<Readiness>,
}

impl Exposition {
    /// Every figure now, in the Prometheus text format.
    pub(super) async fn render(&self) -> String {
        let figures = self.figures().await;
        let mut registry = Registry::default();
        registry.register_collector(Box::new(figures));
        let mut text = String::new();
        // Writing to a String fails only if a collector does, and ours do not.
        if prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).is_err() {
            let _ = writeln!(text, "# encoding failed");
        }
        text
    }

    async fn figures(&self) -> Figures {
        let cache = self.profiles.cache();
        let (entries, bytes) = (cache.entry_count().await, cache.weighted_size().await);
        let stats = self.profiles.stats();
        let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        let fanout = self.profiles.fanout();
        let admission = fanout.admission();
        let l2 = self.profiles.l2();
        let rpcs = self.rpcs.as_deref().map_or_else(Vec::new, |rpcs| {
            rpcs.methods()
                .iter()
                .map(|m| RpcFigures {
                    labels: [
                        ("grpc_type", m.kind.as_str().to_owned()),
                        ("grpc_service", m.service.clone()),
                        ("grpc_method", m.method.clone()),
                    ],
                    snapshot: m.snapshot(),
                })
                .collect()
        });
        Figures {
            rpcs,
            sources: SourceKind::ALL.map(|kind| (kind, fanout.counts(kind))),
            counters: vec![
                (
                    "c360_cache_l1_hits",
                    "Profile reads L1 answered (waits on another caller's load included).",
                    load(&stats.l1_hits) + load(&stats.coalesced_waits),
                ),
                (
                    "c360_cache_l1_misses",
                    "Profile reads L1 did not answer.",
                    load(&stats.l1_misses),
                ),
                (
                    "c360_cache_l2_hits",
                    "L1 misses L2 answered.",
                    load(&stats.l2_hits),
                ),
                (
                    "c360_cache_l2_misses",
                    "L1 misses L2 did not answer (errors included).",
                    load(&stats.l2_misses) + load(&stats.l2_errors),
                ),
                (
                    "c360_cache_l2_errors",
                    "L2 reads and writes that failed, timed out or found Redis unreachable.",
                    load(&stats.l2_errors),
                ),
                (
                    "c360_cache_l2_rejected",
                    "L2 entries that did not open under this replica's keys.",
                    load(&stats.l2_rejected),
                ),
                (
                    "c360_cache_l2_unconfirmed",
                    "L2 invalidations Redis did not confirm (each retried).",
                    load(&stats.l2_unconfirmed),
                ),
                (
                    "c360_cache_loads",
                    "Profile loads from the backends.",
                    load(&stats.loads),
                ),
                (
                    "c360_cache_coalesced_waits",
                    "Callers that waited for another caller's load.",
                    load(&stats.coalesced_waits),
                ),
                (
                    "c360_cache_refreshes",
                    "Background reloads of entries past their refresh age.",
                    load(&stats.refreshes),
                ),
                (
                    "c360_cache_stale_serves",
                    "Answers with some backend's data served stale.",
                    load(&stats.stale_serves),
                ),
                (
                    "c360_cache_evictions",
                    "Entries L1 dropped for size or age.",
                    load(&stats.evictions),
                ),
                (
                    "c360_cache_invalidations",
                    "Customers invalidated.",
                    load(&stats.invalidations),
                ),
                (
                    "c360_cache_discarded_loads",
                    "Loads not cached because an invalidation overtook them.",
                    load(&stats.discarded_loads),
                ),
                (
                    "c360_cache_flushes",
                    "Whole-L1 flushes.",
                    load(&stats.flushes),
                ),
                (
                    "c360_cache_not_found_hits",
                    "Unknown customers answered from memory.",
                    load(&stats.not_found_hits),
                ),
                (
                    "c360_admission_shed",
                    "Loads refused at once because the concurrency limit was reached.",
                    admission.shed(),
                ),
                (
                    "c360_load_retries",
                    "Loads tried again because no backend answered.",
                    fanout.retries(),
                ),
                (
                    "c360_bus_reconnects",
                    "Times the invalidation bus was subscribed again after a drop.",
                    load(&stats.bus_reconnects),
                ),
            ],
            gauges: vec![
                ("c360_cache_entries", "Entries in L1.", entries as f64),
                ("c360_cache_bytes", "Bytes held by L1.", bytes as f64),
                (
                    "c360_cache_l2_enabled",
                    "1 when L2 (Redis) is configured.",
                    f64::from(u8::from(l2.is_some())),
                ),
                (
                    "c360_cache_l2_unconfirmed_pending",
                    "Customers whose L2 invalidation is unconfirmed (read from the backends until it is).",
                    l2.map_or(0, |l2| l2.unconfirmed()) as f64,
                ),
                (
                    "c360_bus_connected",
                    "1 while the invalidation bus is subscribed (0 without L2).",
                    f64::from(u8::from(
                        stats
                            .bus_connected
                            .load(std::sync::atomic::Ordering::Relaxed),
                    )),
                ),
                (
                    "c360_admission_limit",
                    "Backend loads admitted at once now (the adaptive limit).",
                    admission.limit() as f64,
                ),
                (
                    "c360_admission_in_flight",
                    "Backend loads running now.",
                    admission.in_flight() as f64,
                ),
                (
                    "c360_watch_streams",
                    "Watch streams open.",
                    self.profiles.watchers() as f64,
                ),
                (
                    "c360_ready",
                    "1 while the replica is ready (health SERVING).",
                    f64::from(u8::from(self.readiness.borrow().ready)),
                ),
            ],
            feeds: stats.feeds(),
        }
    }
}

/// A figure read off `T`: its name, its help, and how to read it.
type Figure<T, V> = (&'static str, &'static str, fn(&T) -> V);

/// One method's figures and its labels.
#[derive(Debug)]
struct RpcFigures {
    labels: [(&'static str, String); 3],
    snapshot: MethodSnapshot,
}

/// Every figure at one moment.
#[derive(Debug)]
struct Figures {
    rpcs: Vec<RpcFigures>,
    sources: [(SourceKind, SourceCounts); 4],
    counters: Vec<(&'static str, &'static str, u64)>,
    gauges: Vec<(&'static str, &'static str, f64)>,
    feeds: Vec<FeedSnapshot>,
}

/// A histogram's buckets as the encoder takes them: upper bounds in seconds, counts per
/// bucket.
fn buckets(snapshot: &HistogramSnapshot) -> Vec<(f64, u64)> {
    BOUNDS_NANOS
        .iter()
        .map(|&nanos| nanos as f64 / 1e9)
        .chain([f64::INFINITY])
        .zip(snapshot.counts)
        .collect()
}

fn histogram(
    encoder: &mut prometheus_client::encoding::MetricEncoder<'_>,
    snapshot: &HistogramSnapshot,
) -> std::fmt::Result {
    encoder.encode_histogram::<NoLabelSet>(
        snapshot.sum_nanos as f64 / 1e9,
        snapshot.count(),
        &buckets(snapshot),
        None,
    )
}

fn circuit(state: CircuitState) -> &'static str {
    match state {
        CircuitState::Closed => "closed",
        CircuitState::Open => "open",
        CircuitState::HalfOpen => "half_open",
    }
}

impl Collector for Figures {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let info = [("version", VERSION), ("revision", REVISION)];
        let mut build = encoder.encode_descriptor(
            "c360_build",
            "The version and git revision of this build.",
            None,
            MetricType::Info,
        )?;
        build.encode_info(&info)?;

        if !self.rpcs.is_empty() {
            let mut started = encoder.encode_descriptor(
                "grpc_server_started",
                "RPCs started on the server.",
                None,
                MetricType::Counter,
            )?;
            for rpc in &self.rpcs {
                ConstCounter::new(rpc.snapshot.started)
                    .encode(started.encode_family(&rpc.labels)?)?;
            }
            let mut handled = encoder.encode_descriptor(
                "grpc_server_handled",
                "RPCs completed on the server, whatever their status.",
                None,
                MetricType::Counter,
            )?;
            for rpc in &self.rpcs {
                for (code, &count) in GRPC_CODES.iter().zip(&rpc.snapshot.handled) {
                    // Codes never seen are left out, as go-grpc-prometheus does.
                    if count > 0 {
                        let [a, b, c] = &rpc.labels;
                        let labels = [
                            (a.0, a.1.as_str()),
                            (b.0, b.1.as_str()),
                            (c.0, c.1.as_str()),
                            ("grpc_code", code),
                        ];
                        ConstCounter::new(count).encode(handled.encode_family(&labels)?)?;
                    }
                }
            }
            let mut seconds = encoder.encode_descriptor(
                "grpc_server_handling_seconds",
                "How long RPCs took until their status was sent.",
                None,
                MetricType::Histogram,
            )?;
            for rpc in &self.rpcs {
                histogram(
                    &mut seconds.encode_family(&rpc.labels)?,
                    &rpc.snapshot.latency,
                )?;
            }
        }

        let per_source = |f: fn(&SourceCounts) -> u64| {
            self.sources
                .iter()
                .map(move |(kind, counts)| ([("source", kind.as_str())], f(counts)))
        };
        for (name, help, value) in [
            (
                "c360_source_reads",
                "Backend reads started, hedges included.",
                (|c: &SourceCounts| c.reads) as fn(&SourceCounts) -> u64,
            ),
            (
                "c360_source_hedges",
                "Second reads of a read that ran past the backend's 95th percentile.",
                |c| c.hedges,
            ),
            (
                "c360_source_circuit_opened",
                "Times the backend's circuit opened.",
                |c| c.opened,
            ),
        ] {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (labels, count) in per_source(value) {
                ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut errors = encoder.encode_descriptor(
            "c360_source_errors",
            "Backend reads that gave nothing, by why: timeout, unavailable (the backend \
             failed), circuit_open (not asked).",
            None,
            MetricType::Counter,
        )?;
        for (kind, counts) in &self.sources {
            for (reason, count) in [
                ("timeout", counts.timeouts),
                ("unavailable", counts.failed),
                ("circuit_open", counts.refused),
            ] {
                let labels = [("source", kind.as_str()), ("reason", reason)];
                ConstCounter::new(count).encode(errors.encode_family(&labels)?)?;
            }
        }
        let mut latency = encoder.encode_descriptor(
            "c360_source_read_seconds",
            "How long backend reads took, to their answer, error or deadline.",
            None,
            MetricType::Histogram,
        )?;
        for (kind, counts) in &self.sources {
            histogram(
                &mut latency.encode_family(&[("source", kind.as_str())])?,
                &counts.latency,
            )?;
        }
        let mut flying = encoder.encode_descriptor(
            "c360_source_reads_in_flight",
            "Backend reads under way now (waiting for a connection, or running).",
            None,
            MetricType::Gauge,
        )?;
        for (kind, counts) in &self.sources {
            let in_flight = i64::try_from(counts.in_flight).unwrap_or(i64::MAX);
            ConstGauge::new(in_flight)
                .encode(flying.encode_family(&[("source", kind.as_str())])?)?;
        }
        let pools: Vec<_> = self
            .sources
            .iter()
            .filter_map(|(kind, counts)| Some((kind.as_str(), counts.pool?, counts.in_flight)))
            .collect();
        let mut connections = encoder.encode_descriptor(
            "c360_source_pool_connections",
            "Connections of each backend's pool, by state (idle, busy).",
            None,
            MetricType::Gauge,
        )?;
        for (source, pool, _) in &pools {
            let busy = pool.size.saturating_sub(pool.idle);
            for (state, count) in [("idle", pool.idle), ("busy", busy)] {
                ConstGauge::new(i64::from(count))
                    .encode(connections.encode_family(&[("source", *source), ("state", state)])?)?;
            }
        }
        let mut max = encoder.encode_descriptor(
            "c360_source_pool_max_connections",
            "The most connections each backend's pool opens.",
            None,
            MetricType::Gauge,
        )?;
        for (source, pool, _) in &pools {
            ConstGauge::new(i64::from(pool.max))
                .encode(max.encode_family(&[("source", *source)])?)?;
        }
        let mut waiters = encoder.encode_descriptor(
            "c360_source_pool_waiting",
            "Backend reads waiting for a connection, at least: reads under way beyond the busy \
             connections.",
            None,
            MetricType::Gauge,
        )?;
        for (source, pool, in_flight) in &pools {
            let busy = u64::from(pool.size.saturating_sub(pool.idle));
            let waiting = i64::try_from(in_flight.saturating_sub(busy)).unwrap_or(i64::MAX);
            ConstGauge::new(waiting).encode(waiters.encode_family(&[("source", *source)])?)?;
        }
        let mut circuits = encoder.encode_descriptor(
            "c360_source_circuit_state",
            "1 for the state each backend's circuit is in (closed, half_open, open).",
            None,
            MetricType::Gauge,
        )?;
        for (kind, counts) in &self.sources {
            for state in [
                CircuitState::Closed,
                CircuitState::HalfOpen,
                CircuitState::Open,
            ] {
                let labels = [("source", kind.as_str()), ("state", circuit(state))];
                ConstGauge::new(i64::from(counts.circuit == state))
                    .encode(circuits.encode_family(&labels)?)?;
            }
        }

        for &(name, help, value) in &self.counters {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(value).encode(metric)?;
        }
        for &(name, help, value) in &self.gauges {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value).encode(metric)?;
        }

        let feed_gauges: [Figure<FeedSnapshot, f64>; 3] = [
            (
                "c360_feed_staleness_seconds",
                "How old the oldest change not applied yet may be: the time since the \
                 follower last saw every committed change (grows while it stalls).",
                |f| f.staleness.map_or(f64::INFINITY, |s| s.as_secs_f64()),
            ),
            (
                "c360_feed_position",
                "The highest change sequence number applied.",
                |f| f.position as f64,
            ),
            (
                "c360_feed_following",
                "1 while the follower holds a position.",
                |f| f64::from(u8::from(f.started)),
            ),
        ];
        for (name, help, value) in feed_gauges {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for feed in &self.feeds {
                ConstGauge::new(value(feed))
                    .encode(family.encode_family(&[("database", feed.database.as_str())])?)?;
            }
        }
        let feed_counters: [Figure<FeedSnapshot, u64>; 2] = [
            (
                "c360_feed_applied",
                "Changes applied (customers invalidated, catalog reloads).",
                |f| f.applied,
            ),
            (
                "c360_feed_reconnects",
                "Times the follower resynchronised after losing the feed or its notifications.",
                |f| f.reconnects,
            ),
        ];
        for (name, help, value) in feed_counters {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for feed in &self.feeds {
                ConstCounter::new(value(feed))
                    .encode(family.encode_family(&[("database", feed.database.as_str())])?)?;
            }
        }
        Ok(())
    }
}
