//! The figures of a running app in the Prometheus text format (version 0.0.4), as `/metrics`
//! serves them. Everything is read when scraped: the read path's figures from one snapshot
//! (`core::read::Figures`, the one `GetCacheStats` answers from too), the gRPC methods' from
//! their histograms (`rpcs.rs`), each backend's under its label (`per_source.rs`).
//!
//! Names: the gRPC server's are go-grpc-prometheus's (`grpc_server_*`), so that its
//! dashboards and alerts work as they are; c360's own start with `c360_`. Sources are
//! labelled `source` (billing, orders, fulfilment, crm), feeds `feed` (the first backend its
//! database serves, never its URL; `c360_feed_info` maps feeds to backends). No label holds
//! anything a caller sent.

mod attention;
mod per_source;
mod process;
mod rpcs;

use std::{fmt::Write as _, sync::Arc};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};
use tokio::sync::watch;

use super::{Readiness, health::Stage};
use crate::{
    core::{
        attention::{AttentionFigures, AttentionSnapshot},
        cache::{FeedSnapshot, Following},
        histogram::{BOUNDS_NANOS, HistogramSnapshot},
        read::{Figures, Profiles},
    },
    edge::{
        replica::{REVISION, VERSION},
        rpc_metrics::RpcMetrics,
    },
};

/// The `Content-Type` of what `/metrics` answers.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders an app's figures; cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct Exposition {
    pub(super) profiles: Profiles,
    pub(super) rpcs: Option<Arc<RpcMetrics>>,
    pub(super) readiness: watch::Receiver<Readiness>,
    /// Ready only while open: 0 from the drain on, as health says `NOT_SERVING`.
    pub(super) stage: watch::Receiver<Stage>,
    /// The attention queue's figures, when the queue is on.
    pub(super) attention: Option<Arc<AttentionFigures>>,
}

impl Exposition {
    /// Every figure now, in the Prometheus text format.
    pub(super) async fn render(&self) -> String {
        let scrape = Scrape {
            figures: self.profiles.figures().await,
            rpcs: self.rpcs.as_deref().map(rpcs::snapshot).unwrap_or_default(),
            ready: self.readiness.borrow().ready && *self.stage.borrow() == Stage::Open,
            process: process::Process::read(),
            attention: self.attention.as_ref().map(|figures| figures.snapshot()),
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(scrape));
        let mut text = String::new();
        // Writing to a String fails only if a collector does, and ours do not.
        if prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).is_err() {
            let _ = writeln!(text, "# encoding failed");
        }
        text
    }
}

/// Everything one scrape shows, read at one moment.
#[derive(Debug)]
struct Scrape {
    figures: Figures,
    rpcs: Vec<rpcs::Method>,
    ready: bool,
    process: process::Process,
    attention: Option<AttentionSnapshot>,
}

/// A figure read off `T`: its name, its help, and how to read it.
type Figure<T, V> = (&'static str, &'static str, fn(&T) -> V);

/// The read path's counters.
const COUNTERS: [Figure<Figures, u64>; 19] = [
    (
        "c360_cache_l1_hits",
        "Profile reads L1 answered (waits on another caller's load included).",
        |f| f.cache.l1_answered(),
    ),
    (
        "c360_cache_l1_misses",
        "Profile reads L1 did not answer.",
        |f| f.cache.l1_misses,
    ),
    ("c360_cache_l2_hits", "L1 misses L2 answered.", |f| {
        f.cache.l2_hits
    }),
    (
        "c360_cache_l2_misses",
        "L1 misses L2 did not answer (errors included).",
        |f| f.cache.l2_unanswered(),
    ),
    (
        "c360_cache_l2_errors",
        "L2 reads and writes that failed, timed out or found Redis unreachable.",
        |f| f.cache.l2_errors,
    ),
    (
        "c360_cache_l2_rejected",
        "L2 entries that did not open under this replica's keys.",
        |f| f.cache.l2_rejected,
    ),
    (
        "c360_cache_l2_unconfirmed",
        "L2 invalidations Redis did not confirm (each retried).",
        |f| f.cache.l2_unconfirmed,
    ),
    (
        "c360_cache_loads",
        "Profile loads from the backends.",
        |f| f.cache.loads,
    ),
    (
        "c360_cache_coalesced_waits",
        "Callers that waited for another caller's load.",
        |f| f.cache.coalesced_waits,
    ),
    (
        "c360_cache_refreshes",
        "Background reloads of entries past their refresh age.",
        |f| f.cache.refreshes,
    ),
    (
        "c360_cache_stale_serves",
        "Answers with some backend's data served stale.",
        |f| f.cache.stale_serves,
    ),
    (
        "c360_cache_evictions",
        "Entries L1 dropped for size or age.",
        |f| f.cache.evictions,
    ),
    ("c360_cache_invalidations", "Customers invalidated.", |f| {
        f.cache.invalidations
    }),
    (
        "c360_cache_discarded_loads",
        "Loads not cached because an invalidation overtook them.",
        |f| f.cache.discarded_loads,
    ),
    ("c360_cache_flushes", "Whole-L1 flushes.", |f| {
        f.cache.flushes
    }),
    (
        "c360_cache_not_found_hits",
        "Unknown customers answered from memory.",
        |f| f.cache.not_found_hits,
    ),
    (
        "c360_admission_shed",
        "Loads refused at once because the concurrency limit was reached.",
        |f| f.admission.shed,
    ),
    (
        "c360_load_retries",
        "Loads tried again because no backend answered.",
        |f| f.retries,
    ),
    (
        "c360_bus_reconnects",
        "Times the invalidation bus was subscribed again after a drop.",
        |f| f.cache.bus_reconnects,
    ),
];

/// The read path's gauges.
const GAUGES: [Figure<Figures, f64>; 8] = [
    ("c360_cache_entries", "Entries in L1.", |f| f.entries as f64),
    ("c360_cache_bytes", "Bytes held by L1.", |f| f.bytes as f64),
    (
        "c360_cache_l2_enabled",
        "1 when L2 (Redis) is configured.",
        |f| f64::from(u8::from(f.l2_unconfirmed_pending.is_some())),
    ),
    (
        "c360_cache_l2_unconfirmed_pending",
        "Customers whose L2 invalidation is unconfirmed (read from the backends until it is).",
        |f| f.l2_unconfirmed_pending.unwrap_or(0) as f64,
    ),
    (
        "c360_bus_connected",
        "1 while the invalidation bus is subscribed (0 without L2).",
        |f| f64::from(u8::from(f.bus_connected)),
    ),
    (
        "c360_admission_limit",
        "Backend loads admitted at once now (the adaptive limit).",
        |f| f.admission.limit as f64,
    ),
    (
        "c360_admission_in_flight",
        "Backend loads running now.",
        |f| f.admission.in_flight as f64,
    ),
    ("c360_watch_streams", "Watch streams open.", |f| {
        f.watchers as f64
    }),
];

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

fn histogram(encoder: &mut MetricEncoder<'_>, snapshot: &HistogramSnapshot) -> std::fmt::Result {
    encoder.encode_histogram::<NoLabelSet>(
        snapshot.sum_nanos as f64 / 1e9,
        snapshot.count(),
        &buckets(snapshot),
        None,
    )
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let info = [("version", VERSION), ("revision", REVISION)];
        let mut build = encoder.encode_descriptor(
            "c360_build",
            "The version and git revision of this build.",
            None,
            MetricType::Info,
        )?;
        build.encode_info(&info)?;
        rpcs::encode(&self.rpcs, &mut encoder)?;
        per_source::encode(&self.figures.sources, &mut encoder)?;
        for (name, help, value) in COUNTERS {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(value(&self.figures)).encode(metric)?;
        }
        for (name, help, value) in GAUGES {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value(&self.figures)).encode(metric)?;
        }
        let ready = encoder.encode_descriptor(
            "c360_ready",
            "1 while the replica is ready (health SERVING).",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(f64::from(u8::from(self.ready))).encode(ready)?;
        self.process.encode(&mut encoder)?;
        if let Some(figures) = &self.attention {
            attention::encode(figures, chrono::Utc::now(), &mut encoder)?;
        }
        encode_feeds(&self.figures.feeds, &mut encoder)
    }
}

/// Where each change feed stands, labelled `feed` with one word: the first backend its
/// database serves. `c360_feed_info` says which backends each feed stands for, one series
/// each, so that a label never holds a list.
fn encode_feeds(feeds: &[FeedSnapshot], encoder: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
    let feed_name = |feed: &FeedSnapshot| feed.backends.first().copied().unwrap_or("unknown");
    let mut info = encoder.encode_descriptor(
        "c360_feed_info",
        "1 for each backend whose database the feed follows: `feed` is the feed's name \
         elsewhere, `source` the backend.",
        None,
        MetricType::Gauge,
    )?;
    for feed in feeds {
        for source in &feed.backends {
            ConstGauge::new(1.0)
                .encode(info.encode_family(&[("feed", feed_name(feed)), ("source", source)])?)?;
        }
    }
    let feed_gauges: [Figure<FeedSnapshot, f64>; 4] = [
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
        (
            "c360_feed_leading",
            "1 while this replica leads the feed's logical decoding (reads its slot and \
             publishes to the others).",
            |f| f64::from(u8::from(f.following == Following::Leading)),
        ),
    ];
    for (name, help, value) in feed_gauges {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for feed in feeds {
            ConstGauge::new(value(feed))
                .encode(family.encode_family(&[("feed", feed_name(feed))])?)?;
        }
    }
    let feed_counters: [Figure<FeedSnapshot, u64>; 3] = [
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
        (
            "c360_feed_commits_awaited",
            "Batches of commits a logical feed's leader read before Postgres made them visible \
             to other sessions, and waited for before applying them.",
            |f| f.awaited,
        ),
    ];
    for (name, help, value) in feed_counters {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for feed in feeds {
            ConstCounter::new(value(feed))
                .encode(family.encode_family(&[("feed", feed_name(feed))])?)?;
        }
    }
    Ok(())
}
