//! The adaptive limit's estimate: loads' latency window by window against the lowest of the
//! last half minute (the baseline), a gradient between them, the limit moved by it.

use std::time::Duration;

use tokio::time::Instant;

use super::super::ResilienceSettings;

/// A window closes after this long and this many loads, whichever comes later.
const WINDOW_TIME: Duration = Duration::from_millis(100);
const WINDOW_LOADS: u32 = 10;
/// The baseline is the lowest window average over this many buckets of this long each.
const BASELINE_BUCKETS: usize = 6;
const BUCKET_TIME: Duration = Duration::from_secs(5);
/// How much of each new limit estimate is taken: smooths the noise of single windows.
const SMOOTHING: f64 = 0.2;

/// The loads of the current window, and the limit estimated from the ones before.
#[derive(Debug)]
pub(super) struct Window {
    limit: f64,
    started: Instant,
    loads: u32,
    total: Duration,
    most_in_flight: usize,
    /// The lowest window average in each recent bucket; the current bucket last.
    buckets: [Option<Duration>; BASELINE_BUCKETS],
    bucket_started: Instant,
}

impl Window {
    /// The first window, at the limit `initial`, from `now`.
    pub(super) fn new(initial: usize, now: Instant) -> Self {
        Self {
            limit: initial as f64,
            started: now,
            loads: 0,
            total: Duration::ZERO,
            most_in_flight: 0,
            buckets: [None; BASELINE_BUCKETS],
            bucket_started: now,
        }
    }

    /// One load ended at `now` after its backends took `latency`, `in_flight` loads running
    /// with it; the new limit when that closes the window.
    pub(super) fn record(
        &mut self,
        latency: Duration,
        in_flight: usize,
        now: Instant,
        settings: &ResilienceSettings,
    ) -> Option<usize> {
        self.loads += 1;
        self.total += latency;
        self.most_in_flight = self.most_in_flight.max(in_flight);
        if self.loads < WINDOW_LOADS || now - self.started < WINDOW_TIME {
            return None;
        }
        Some(self.close(now, settings))
    }

    /// Ends this window at `now`: the baseline and the limit are estimated again from it.
    /// Returns the new limit.
    fn close(&mut self, now: Instant, settings: &ResilienceSettings) -> usize {
        let average = self.total / self.loads;
        let (most_in_flight, limit) = (self.most_in_flight, self.limit);
        (self.started, self.loads, self.total, self.most_in_flight) = (now, 0, Duration::ZERO, 0);
        if now - self.bucket_started >= BUCKET_TIME {
            self.buckets.rotate_left(1);
            self.buckets[BASELINE_BUCKETS - 1] = None;
            self.bucket_started = now;
        }
        let current = &mut self.buckets[BASELINE_BUCKETS - 1];
        *current = Some(current.map_or(average, |lowest| lowest.min(average)));
        let baseline = self
            .buckets
            .iter()
            .flatten()
            .min()
            .copied()
            .unwrap_or(average);
        // Loads too few to fill half the limit say nothing about a higher one.
        let gradient = (settings.latency_tolerance * baseline.as_secs_f64()
            / average.as_secs_f64().max(1e-9))
        .clamp(0.5, 1.0);
        if gradient >= 1.0 && (most_in_flight as f64) < limit / 2.0 {
            return limit.round() as usize;
        }
        let estimate = limit * gradient + limit.sqrt();
        let min = settings.min_concurrency as f64;
        let max = settings.max_concurrency.max(settings.min_concurrency) as f64;
        self.limit = (limit * (1.0 - SMOOTHING) + estimate * SMOOTHING).clamp(min, max);
        self.limit.round() as usize
    }
}
