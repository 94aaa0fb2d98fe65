//! `c360 top` as text: what changed between two readings (rates, and percentiles of the calls
//! in between), as `redis-cli --stat` does.

use std::{fmt::Write, time::Duration};

use c360_proto as pb;

use super::{
    render::short,
    stats_view::{RpcRow, difference, figure, millis, percentile, rpc_table},
};

/// What changed between two readings `elapsed` apart: calls per second and the percentiles
/// of the calls in between, per RPC and per backend; the caches' rates; the feeds now.
pub(super) fn top(earlier: &pb::CacheStats, later: &pb::CacheStats, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64().max(1e-3);
    let rows = later.rpcs.iter().map(|rpc| {
        let before = earlier.rpcs.iter().find(|e| e.method == rpc.method);
        RpcRow::between(rpc, before, seconds)
    });
    let mut out = rpc_table(rows, true);
    if out.is_empty() {
        out.push_str("no calls\n");
    }
    out.push('\n');
    let o = &mut out;
    let rate =
        |later: i64, earlier: i64| figure(((later - earlier).max(0) as f64 / seconds).round());
    let tier = |s: &pb::CacheStats| (s.l1.unwrap_or_default(), s.l2.unwrap_or_default());
    let ((l1, l2), (l1_before, l2_before)) = (tier(later), tier(earlier));
    let hits = l1.hits - l1_before.hits;
    let misses = l1.misses - l1_before.misses;
    let ratio = match hits + misses {
        0 => "-".to_owned(),
        all => format!("{:.1}%", hits as f64 * 100.0 / all as f64),
    };
    let _ = writeln!(
        o,
        "L1       {} hits/s · {} misses/s · hit ratio {ratio} · {} entries",
        rate(l1.hits, l1_before.hits),
        rate(l1.misses, l1_before.misses),
        later.entries
    );
    if later.l2_enabled {
        let _ = writeln!(
            o,
            "L2       {} hits/s · {} misses/s · {} errors/s",
            rate(l2.hits, l2_before.hits),
            rate(l2.misses, l2_before.misses),
            rate(l2.errors, l2_before.errors)
        );
    }
    let _ = writeln!(
        o,
        "Loads    {}/s · coalesced {}/s · stale serves {}/s · shed {}/s · {} running",
        rate(later.loads, earlier.loads),
        rate(later.coalesced_waits, earlier.coalesced_waits),
        rate(later.stale_serves, earlier.stale_serves),
        rate(later.shed, earlier.shed),
        later.loads_in_flight
    );
    for r in &later.source_reads {
        let before = earlier.source_reads.iter().find(|e| e.source == r.source);
        let latency = difference(
            &r.latency.clone().unwrap_or_default(),
            before.and_then(|e| e.latency.as_ref()),
        );
        let (reads, failed) = before.map_or((0, 0), |e| (e.reads, e.timeouts + e.failures));
        let _ = writeln!(
            o,
            "Reads    {:<11} {}/s · failed {}/s · p50 {} · p99 {} · circuit {}",
            short(r.source().as_str_name(), "SOURCE_"),
            rate(r.reads, reads),
            rate(r.timeouts + r.failures, failed),
            percentile(Some(&latency), 0.5),
            percentile(Some(&latency), 0.99),
            short(r.circuit().as_str_name(), "CIRCUIT_STATE_"),
        );
    }
    for feed in &later.feeds {
        let before = earlier.feeds.iter().find(|e| e.database == feed.database);
        let staleness = millis(feed.staleness.as_ref());
        let _ = writeln!(
            o,
            "Feed     {}: {} changes/s · staleness {staleness}",
            feed.database,
            rate(feed.applied, before.map_or(0, |e| e.applied)),
        );
    }
    let _ = writeln!(o, "Watches  {} streams open", later.watch_streams);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::client::stats_view::tests::{GET, rpc};

    #[test]
    fn top_shows_the_rates_and_percentiles_of_the_calls_between_two_readings() {
        let mut before = [0i64; 17];
        before[0] = 1000; // fast calls before
        let mut after = before;
        after[8] = 20; // then 20 calls of 10 to 25 ms
        let earlier = pb::CacheStats {
            rpcs: vec![rpc(GET, 1000, &[("OK", 1000)], &before)],
            ..Default::default()
        };
        let later = pb::CacheStats {
            rpcs: vec![rpc(
                GET,
                1020,
                &[("OK", 1018), ("DeadlineExceeded", 2)],
                &after,
            )],
            ..Default::default()
        };
        let text = top(&earlier, &later, Duration::from_secs(2));
        let line = text
            .lines()
            .find(|l| l.starts_with("CustomerService/GetCustomerProfile"))
            .expect(&text);
        let columns: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&columns[1..4], ["10", "1", "0"], "per second: {text}");
        assert_eq!(
            columns[4..6],
            ["17.50", "ms"],
            "only the calls in between: {text}"
        );
        assert_eq!(
            top(&later, &later, Duration::from_secs(1)).lines().next(),
            Some("no calls")
        );
    }
}
