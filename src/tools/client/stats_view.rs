//! `c360 stats` as text: which build, calls and latency percentiles per RPC and per backend
//! beside the caches' and feeds' counters; the pieces `top` (`top_view.rs`) shares.

use std::{fmt::Write, time::Duration};

use c360_proto as pb;

use super::render::short;
use crate::{core::histogram::quantile_of, edge::rpc_metrics::FAULT_CODES};

/// A duration for a person: `12.5 ms`, or `-` when unset.
pub(super) fn millis(duration: Option<&prost_types::Duration>) -> String {
    duration.map_or("-".to_owned(), |d| {
        format!(
            "{:.1} ms",
            d.seconds as f64 * 1e3 + f64::from(d.nanos) / 1e6
        )
    })
}

/// A percentile of `histogram` for a person: `0.21 ms`, or `-` without calls.
pub(super) fn percentile(histogram: Option<&pb::LatencyHistogram>, q: f64) -> String {
    histogram
        .and_then(|h| quantile(h, q))
        .map_or("-".to_owned(), |d| {
            format!("{:.2} ms", d.as_secs_f64() * 1e3)
        })
}

fn quantile(histogram: &pb::LatencyHistogram, q: f64) -> Option<Duration> {
    let counts: Vec<u64> = histogram
        .counts
        .iter()
        .map(|&n| u64::try_from(n).unwrap_or(0))
        .collect();
    let max = Some(histogram.max_seconds).filter(|&max| max > 0.0);
    quantile_of(&histogram.upper_bounds_seconds, &counts, q, max)
}

/// `later` less `earlier`, bucket by bucket: the calls in between.
pub(super) fn difference(
    later: &pb::LatencyHistogram,
    earlier: Option<&pb::LatencyHistogram>,
) -> pb::LatencyHistogram {
    let Some(earlier) = earlier.filter(|e| e.counts.len() == later.counts.len()) else {
        return later.clone();
    };
    pb::LatencyHistogram {
        upper_bounds_seconds: later.upper_bounds_seconds.clone(),
        counts: later
            .counts
            .iter()
            .zip(&earlier.counts)
            .map(|(l, e)| (l - e).max(0))
            .collect(),
        sum_seconds: (later.sum_seconds - earlier.sum_seconds).max(0.0),
        // Since start, not since `earlier`: still a bound on the calls in between.
        max_seconds: later.max_seconds,
    }
}

/// One line of the RPC table.
pub(super) struct RpcRow {
    method: String,
    calls: f64,
    /// Ended in a code that is the server's fault ([`FAULT_CODES`]).
    faults: f64,
    /// Ended in another code that is not `OK`: the caller's (`NotFound`, `InvalidArgument`…).
    rejected: f64,
    latency: pb::LatencyHistogram,
}

impl RpcRow {
    /// Since start.
    pub(super) fn since_start(rpc: &pb::RpcStats) -> Self {
        let (faults, rejected) = errors(rpc);
        Self {
            method: rpc.method.clone(),
            calls: rpc.started as f64,
            faults: faults as f64,
            rejected: rejected as f64,
            latency: rpc.latency.clone().unwrap_or_default(),
        }
    }

    /// Per second, between two readings `seconds` apart.
    pub(super) fn between(
        later: &pb::RpcStats,
        earlier: Option<&pb::RpcStats>,
        seconds: f64,
    ) -> Self {
        let (started, (faults, rejected)) = earlier.map_or((0, (0, 0)), |e| (e.started, errors(e)));
        let (faults_now, rejected_now) = errors(later);
        let rate = |now: i64, before: i64| (now - before).max(0) as f64 / seconds;
        Self {
            method: later.method.clone(),
            calls: rate(later.started, started),
            faults: rate(faults_now, faults),
            rejected: rate(rejected_now, rejected),
            latency: difference(
                &later.latency.clone().unwrap_or_default(),
                earlier.and_then(|e| e.latency.as_ref()),
            ),
        }
    }
}

/// Calls that ended in a fault of the server's, and in another code but `OK` (the caller's),
/// as the availability objective splits them: a fault code the caller caused (its rate
/// limit, a deadline too short to meet) is the caller's.
fn errors(rpc: &pb::RpcStats) -> (i64, i64) {
    let failed: i64 = rpc
        .handled
        .iter()
        .filter(|(code, _)| code.as_str() != "OK")
        .map(|(_, n)| n)
        .sum();
    let faults: i64 = FAULT_CODES
        .iter()
        .map(|code| {
            let ended = rpc.handled.get(*code).copied().unwrap_or(0);
            let callers = rpc.callers_fault.get(*code).copied().unwrap_or(0);
            (ended - callers).max(0)
        })
        .sum();
    (faults, failed - faults)
}

/// `/customer360.v1.CustomerService/GetCustomerProfile` → `CustomerService/GetCustomerProfile`.
fn method_name(path: &str) -> &str {
    let path = path.trim_start_matches('/');
    match path.split_once('/') {
        Some((service, method)) => {
            let service = service.rsplit('.').next().unwrap_or(service);
            &path[path.len() - method.len() - service.len() - 1..]
        }
        None => path,
    }
}

/// The methods that had calls, busiest first, as aligned columns; empty if none had. The
/// headings say whether the figures are counts or rates.
pub(super) fn rpc_table(rows: impl Iterator<Item = RpcRow>, per_second: bool) -> String {
    let unit = if per_second { "/s" } else { "" };
    let (calls, faults, rejected) = (
        format!("calls{unit}"),
        format!("faults{unit}"),
        format!("rejected{unit}"),
    );
    let mut rows: Vec<RpcRow> = rows.filter(|row| row.calls > 0.0).collect();
    if rows.is_empty() {
        return String::new();
    }
    rows.sort_by(|a, b| {
        b.calls
            .total_cmp(&a.calls)
            .then_with(|| a.method.cmp(&b.method))
    });
    let width = rows
        .iter()
        .map(|row| method_name(&row.method).len())
        .max()
        .unwrap_or(0)
        .max(3);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {calls:>10}  {faults:>8}  {rejected:>10}  {:>9}  {:>9}  {:>9}",
        "RPC", "p50", "p90", "p99"
    );
    for row in rows {
        let latency = Some(&row.latency);
        let _ = writeln!(
            out,
            "{:<width$}  {:>10}  {:>8}  {:>10}  {:>9}  {:>9}  {:>9}",
            method_name(&row.method),
            figure(row.calls),
            figure(row.faults),
            figure(row.rejected),
            percentile(latency, 0.5),
            percentile(latency, 0.9),
            percentile(latency, 0.99),
        );
    }
    out
}

/// A count or a rate: whole when it is whole.
pub(super) fn figure(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// Which build, up how long, since when: `c360 0.1.0 (4ab8ddc) · up 2h 03m 04s · since
/// 2026-12-06 01:13:39 UTC`; empty from a server too old to say.
fn replica_line(s: &pb::CacheStats) -> String {
    if s.version.is_empty() {
        return String::new();
    }
    let mut line = format!("c360 {} ({})", s.version, s.revision);
    if let Some(uptime) = &s.uptime {
        let seconds = uptime.seconds.max(0);
        let (days, hours) = (seconds / 86_400, seconds / 3600 % 24);
        let (minutes, seconds) = (seconds / 60 % 60, seconds % 60);
        let _ = match days {
            0 => write!(line, " · up {hours}h {minutes:02}m {seconds:02}s"),
            days => write!(line, " · up {days}d {hours:02}h {minutes:02}m"),
        };
    }
    let since = s.started_at.as_ref().and_then(|at| {
        chrono::DateTime::from_timestamp(at.seconds, 0).map(|at| at.format("%Y-%m-%d %H:%M:%S UTC"))
    });
    if let Some(since) = since {
        let _ = write!(line, " · since {since}");
    }
    line.push_str("\n\n");
    line
}

/// Every figure since start: which build and since when, calls and latency per RPC and per
/// backend, the caches, the feeds.
pub(super) fn render(s: &pb::CacheStats) -> String {
    let tier = |t: Option<&pb::TierStats>| t.cloned().unwrap_or_default();
    let (l1, l2) = (tier(s.l1.as_ref()), tier(s.l2.as_ref()));
    let ratio = |hits: i64, misses: i64| match hits + misses {
        0 => "-".to_owned(),
        all => format!("{:.1}%", hits as f64 * 100.0 / all as f64),
    };
    let mut out = replica_line(s);
    let rpcs = rpc_table(s.rpcs.iter().map(RpcRow::since_start), false);
    if !rpcs.is_empty() {
        out.push_str(&rpcs);
        out.push('\n');
    }
    let o = &mut out;
    let _ = writeln!(
        o,
        "L1       {} entries, {:.1} MiB",
        s.entries,
        s.bytes as f64 / (1 << 20) as f64
    );
    let _ = writeln!(
        o,
        "         hits {} · misses {} · hit ratio {}",
        l1.hits,
        l1.misses,
        ratio(l1.hits, l1.misses)
    );
    if s.l2_enabled {
        let _ = writeln!(
            o,
            "L2       hits {} · misses {} · errors {} · hit ratio {}",
            l2.hits,
            l2.misses,
            l2.errors,
            ratio(l2.hits, l2.misses)
        );
        let _ = writeln!(
            o,
            "         invalidations unconfirmed {} · customers kept off L2 {} · entries refused (did not open) {}",
            s.l2_unconfirmed, s.l2_unconfirmed_pending, s.l2_rejected
        );
    } else {
        let _ = writeln!(o, "L2       off (no redis.url nor redis.cluster_urls)");
    }
    let _ = writeln!(
        o,
        "Loads    {} · coalesced waits {} · refreshes {} · stale serves {}",
        s.loads, s.coalesced_waits, s.refreshes, s.stale_serves
    );
    let _ = writeln!(
        o,
        "Memory   re-enriched after a catalog change {} · unknown customers answered {}",
        s.reenrichments, s.not_found_hits
    );
    let _ = writeln!(
        o,
        "Dropped  evictions {} · invalidations {} · discarded loads {} · flushes {}",
        s.evictions, s.invalidations, s.discarded_loads, s.flushes
    );
    for r in &s.source_reads {
        let latency = r.latency.as_ref();
        let _ = writeln!(
            o,
            "Reads    {:<11} {} · timeouts {} · failures {} · p50 {} · p99 {}",
            short(r.source().as_str_name(), "SOURCE_"),
            r.reads,
            r.timeouts,
            r.failures,
            percentile(latency, 0.5),
            percentile(latency, 0.99),
        );
    }
    let guards: Vec<String> = s
        .source_reads
        .iter()
        .map(|r| {
            let p95 = format!("p95 {}", millis(r.p95.as_ref()));
            format!(
                "{} {} ({} opened, {} refused), {} hedges, {p95}",
                short(r.source().as_str_name(), "SOURCE_"),
                short(r.circuit().as_str_name(), "CIRCUIT_STATE_"),
                r.circuit_opened,
                r.circuit_refusals,
                r.hedges,
            )
        })
        .collect();
    for line in guards {
        let _ = writeln!(o, "Circuit  {line}");
    }
    let _ = writeln!(
        o,
        "Admitted limit {} loads at once · {} running · {} shed · {} retried",
        s.concurrency_limit, s.loads_in_flight, s.shed, s.retries
    );
    let _ = writeln!(o, "Watches  {} streams open", s.watch_streams);
    for feed in &s.feeds {
        let lag = millis(feed.lag.as_ref());
        let staleness = millis(feed.staleness.as_ref());
        let capture = match feed.capture() {
            pb::FeedCapture::Triggers => "by triggers, ",
            pb::FeedCapture::LogicalLeader => "logical decoding, leading, ",
            pb::FeedCapture::LogicalStandby => "logical decoding, standing by, ",
            pb::FeedCapture::Unspecified => "",
        };
        let _ = writeln!(
            o,
            "Feed     {}: {capture}position {}, {} changes applied, last lag {lag}, staleness {staleness}, {} reconnects",
            feed.database, feed.position, feed.applied, feed.reconnects
        );
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::tools::client) fn histogram(counts: &[i64]) -> pb::LatencyHistogram {
        pb::LatencyHistogram {
            upper_bounds_seconds: crate::core::histogram::bounds_seconds().to_vec(),
            counts: counts.to_vec(),
            sum_seconds: 0.0,
            max_seconds: 0.0,
        }
    }

    pub(in crate::tools::client) fn rpc(
        method: &str,
        started: i64,
        ended: &[(&str, i64)],
        counts: &[i64],
    ) -> pb::RpcStats {
        let handled = ended
            .iter()
            .map(|&(code, n)| (code.to_owned(), n))
            .collect();
        pb::RpcStats {
            method: method.into(),
            started,
            handled,
            callers_fault: Default::default(),
            latency: Some(histogram(counts)),
        }
    }

    pub(in crate::tools::client) const GET: &str =
        "/customer360.v1.CustomerService/GetCustomerProfile";

    #[test]
    fn each_feed_says_how_this_replica_follows_it() {
        let feed = |database: &str, capture: pb::FeedCapture| pb::FeedPosition {
            database: database.into(),
            capture: capture.into(),
            ..Default::default()
        };
        let stats = pb::CacheStats {
            feeds: vec![
                feed("billing, orders", pb::FeedCapture::LogicalLeader),
                feed("crm", pb::FeedCapture::LogicalStandby),
                feed("fulfilment", pb::FeedCapture::Triggers),
            ],
            ..Default::default()
        };
        let text = render(&stats);
        for said in [
            "Feed     billing, orders: logical decoding, leading, position 0",
            "Feed     crm: logical decoding, standing by, position 0",
            "Feed     fulfilment: by triggers, position 0",
        ] {
            assert!(text.contains(said), "{said:?} not in\n{text}");
        }
    }

    #[test]
    fn stats_show_each_busy_rpc_with_its_faults_apart_from_callers_errors() {
        let mut counts = [0i64; 17];
        counts[2] = 90; // 100 to 250 µs
        counts[6] = 10; // 2.5 to 5 ms
        let ended = [
            ("OK", 94),
            ("NotFound", 3),
            ("InvalidArgument", 1),
            ("Unavailable", 2),
        ];
        let stats = pb::CacheStats {
            rpcs: vec![
                rpc(GET, 100, &ended, &counts),
                rpc(
                    "/customer360.v1.CatalogService/GetProduct",
                    0,
                    &[],
                    &[0; 17],
                ),
            ],
            ..Default::default()
        };
        let text = render(&stats);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("RPC"), "{text}");
        assert!(
            lines[1].starts_with("CustomerService/GetCustomerProfile"),
            "{text}"
        );
        let columns: Vec<&str> = lines[1].split_whitespace().collect();
        assert!(lines[0].contains("faults") && lines[0].contains("rejected"));
        assert_eq!(&columns[1..4], ["100", "2", "4"], "{text}");
        // p50 inside the first busy bucket, p99 inside the slow one.
        assert_eq!(columns[4..6], ["0.18", "ms"], "{text}");
        assert_eq!(columns[8..10], ["4.75", "ms"], "{text}");
        assert!(
            !text.contains("GetProduct"),
            "idle methods are left out: {text}"
        );
        assert_eq!(
            lines[0].find("calls").map(|i| i + 5),
            lines[1].find(" 100").map(|i| i + 4),
            "right-aligned: {text}"
        );
    }

    #[test]
    fn a_fault_code_the_caller_caused_counts_as_the_callers() {
        let mut limited = rpc(
            GET,
            10,
            &[("OK", 6), ("ResourceExhausted", 3), ("Unavailable", 1)],
            &[0; 17],
        );
        limited
            .callers_fault
            .insert("ResourceExhausted".to_owned(), 2);
        assert_eq!(
            errors(&limited),
            (2, 2),
            "one shed and one unavailable; two rate-limited"
        );
    }

    #[test]
    fn stats_begin_with_the_build_its_uptime_and_its_start() {
        let stats = pb::CacheStats {
            version: "0.1.0".into(),
            revision: "4ab8ddc".into(),
            started_at: Some(prost_types::Timestamp {
                seconds: 1_796_519_619,
                nanos: 5,
            }),
            uptime: Some(prost_types::Duration {
                seconds: 7384,
                nanos: 0,
            }),
            ..Default::default()
        };
        let text = render(&stats);
        assert_eq!(
            text.lines().next(),
            Some("c360 0.1.0 (4ab8ddc) · up 2h 03m 04s · since 2026-12-06 01:13:39 UTC"),
            "{text}"
        );
        let days = pb::CacheStats {
            uptime: Some(prost_types::Duration {
                seconds: 3 * 86_400 + 3600 + 120,
                nanos: 0,
            }),
            ..stats
        };
        assert!(render(&days).starts_with("c360 0.1.0 (4ab8ddc) · up 3d 01h 02m · since"));
        assert!(
            render(&pb::CacheStats::default()).starts_with("L1"),
            "a server too old to say"
        );
    }

    #[test]
    fn a_backend_that_always_times_out_shows_its_timeout_not_its_buckets_middle() {
        let mut counts = [0i64; 17];
        counts[13] = 40; // 0.5 to 1 s
        let latency = pb::LatencyHistogram {
            max_seconds: 0.5012,
            ..histogram(&counts)
        };
        let stats = pb::CacheStats {
            source_reads: vec![pb::SourceReads {
                source: pb::Source::Crm.into(),
                reads: 40,
                timeouts: 40,
                latency: Some(latency),
                ..Default::default()
            }],
            ..Default::default()
        };
        let text = render(&stats);
        let line = text.lines().find(|l| l.starts_with("Reads")).expect(&text);
        assert!(line.ends_with("p50 501.20 ms · p99 501.20 ms"), "{line}");
    }

    #[test]
    fn method_names_drop_the_package() {
        assert_eq!(method_name(GET), "CustomerService/GetCustomerProfile");
        assert_eq!(method_name("/grpc.health.v1.Health/Check"), "Health/Check");
        assert_eq!(method_name("odd"), "odd");
    }
}
