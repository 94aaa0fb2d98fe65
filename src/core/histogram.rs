//! Latency histograms with fixed buckets from 50 µs to 5 s: observing is two relaxed atomic
//! adds on the request path (and a third when a new largest value is seen), no lock;
//! quantiles interpolate within a bucket as Prometheus's `histogram_quantile` does, but never
//! past the largest value observed. The backends' read latencies and every gRPC method's are
//! kept in them; their exposition is the edge's.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

/// The upper bounds of the latency buckets, in nanoseconds: 50 µs to 5 s, then `+Inf`.
pub const BOUNDS_NANOS: [u64; 16] = [
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
];

/// Buckets, `+Inf` included.
pub const BUCKETS: usize = BOUNDS_NANOS.len() + 1;

/// A latency histogram: a count per bucket, the sum and the largest value. Observing is two
/// relaxed atomic adds, and a third write only when the value is the largest yet.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    sum_nanos: AtomicU64,
    max_nanos: AtomicU64,
}

impl Histogram {
    /// Counts one observation.
    pub fn observe(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_NANOS.partition_point(|&bound| bound < nanos);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        // Almost always a plain load: the largest value is rarely beaten.
        if nanos > self.max_nanos.load(Ordering::Relaxed) {
            self.max_nanos.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    /// The counts now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            counts: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            sum_nanos: self.sum_nanos.load(Ordering::Relaxed),
            max_nanos: self.max_nanos.load(Ordering::Relaxed),
        }
    }
}

/// A histogram's counts at one moment: per bucket (not cumulative), and the sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HistogramSnapshot {
    /// Observations per bucket; the last is `+Inf`.
    pub counts: [u64; BUCKETS],
    /// The sum of the observations, in nanoseconds.
    pub sum_nanos: u64,
    /// The largest observation since the histogram began (not only since an earlier
    /// snapshot: [`Self::since`] keeps it as the bound it still is).
    pub max_nanos: u64,
}

impl HistogramSnapshot {
    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// What was observed between `earlier` and this one.
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            counts: std::array::from_fn(|i| self.counts[i].saturating_sub(earlier.counts[i])),
            sum_nanos: self.sum_nanos.saturating_sub(earlier.sum_nanos),
            max_nanos: self.max_nanos,
        }
    }

    /// The `q` quantile (0 to 1), interpolated within its bucket as Prometheus's
    /// `histogram_quantile` does but never past the largest value observed; `None` without
    /// observations.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        quantile_of(
            &bounds_seconds(),
            &self.counts,
            q,
            Some(self.max_nanos as f64 / 1e9),
        )
    }
}

/// The upper bounds of the latency buckets, in seconds (what Prometheus's `le` says).
pub fn bounds_seconds() -> [f64; BOUNDS_NANOS.len()] {
    BOUNDS_NANOS.map(|nanos| nanos as f64 / 1e9)
}

/// The `q` quantile (0 to 1) of a histogram with these upper bounds (seconds, ascending) and
/// counts per bucket (one more than the bounds: the last is unbounded), interpolated within
/// its bucket as Prometheus's `histogram_quantile` does, and never past `max` (seconds), the
/// largest value observed, when it is known: reads that all time out at 500 ms fall in the
/// 0.5–1 s bucket, and interpolation alone would call their median 750 ms. `None` without
/// observations or when the shapes do not fit; past the last bound it is the last bound (or
/// `max`).
pub fn quantile_of(bounds: &[f64], counts: &[u64], q: f64, max: Option<f64>) -> Option<Duration> {
    let total: u64 = counts.iter().sum();
    if total == 0 || counts.len() != bounds.len() + 1 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut below = 0u64;
    for (i, &count) in counts.iter().enumerate() {
        if count > 0 && (below + count) as f64 >= rank {
            let lower = if i == 0 { 0.0 } else { bounds[i - 1] };
            let Some(&upper) = bounds.get(i) else {
                return Some(nanos(max.filter(|&max| max > lower).unwrap_or(lower)));
            };
            let within = ((rank - below as f64) / count as f64).clamp(0.0, 1.0);
            let value = lower + (upper - lower) * within;
            return Some(nanos(max.map_or(value, |max| value.min(max))));
        }
        below += count;
    }
    None
}

/// Seconds, to the nearest nanosecond (bounds like 0.00025 are not exact in binary).
fn nanos(seconds: f64) -> Duration {
    Duration::from_nanos((seconds.max(0.0) * 1e9).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn an_observation_lands_in_the_first_bucket_whose_bound_holds_it() {
        let histogram = Histogram::default();
        for elapsed in [
            micros(10),
            micros(50),
            micros(51),
            micros(5_000_000),
            micros(6_000_000),
        ] {
            histogram.observe(elapsed);
        }
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.counts[0], 2, "≤ 50 µs, the bound included");
        assert_eq!(snapshot.counts[1], 1, "51 µs: ≤ 100 µs");
        assert_eq!(snapshot.counts[15], 1, "5 s exactly: ≤ 5 s");
        assert_eq!(snapshot.counts[16], 1, "6 s: +Inf");
        assert_eq!(snapshot.count(), 5);
        assert_eq!(snapshot.sum_nanos, 11_000_111_000);
    }

    #[test]
    fn quantiles_interpolate_within_the_bucket_as_prometheus_does() {
        let histogram = Histogram::default();
        assert_eq!(histogram.snapshot().quantile(0.5), None);
        // 100 observations between 100 and 250 µs: the median is halfway through the bucket.
        for _ in 0..100 {
            histogram.observe(micros(240));
        }
        assert_eq!(histogram.snapshot().quantile(0.5), Some(micros(175)));
        assert_eq!(
            histogram.snapshot().quantile(1.0),
            Some(micros(240)),
            "never past the largest value seen"
        );
        histogram.observe(micros(60_000_000));
        assert_eq!(
            histogram.snapshot().quantile(1.0),
            Some(micros(60_000_000)),
            "past the last bound: the largest value seen"
        );
        assert_eq!(
            quantile_of(&bounds_seconds(), &histogram.snapshot().counts, 1.0, None),
            Some(micros(5_000_000)),
            "without it, the last bound"
        );
    }

    #[test]
    fn reads_that_all_time_out_have_their_timeout_as_median_not_the_buckets_middle() {
        let histogram = Histogram::default();
        for extra in 0..100 {
            histogram.observe(micros(500_100 + extra));
        }
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.counts[13], 100, "all in the 0.5–1 s bucket");
        assert_eq!(snapshot.max_nanos, 500_199_000);
        assert_eq!(snapshot.quantile(0.5), Some(micros(500_199)));
        assert_eq!(
            quantile_of(&bounds_seconds(), &snapshot.counts, 0.5, None),
            Some(micros(750_000)),
            "what interpolation alone says"
        );
    }

    #[test]
    fn a_difference_of_snapshots_is_what_happened_between_them() {
        let histogram = Histogram::default();
        histogram.observe(micros(70));
        let before = histogram.snapshot();
        histogram.observe(micros(700));
        histogram.observe(micros(700));
        let between = histogram.snapshot().since(&before);
        assert_eq!(between.count(), 2);
        assert_eq!(between.counts[4], 2);
        assert_eq!(between.sum_nanos, 1_400_000);
        assert_eq!(
            between.max_nanos, 700_000,
            "the largest value stays a bound"
        );
    }
}
