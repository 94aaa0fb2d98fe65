//! Fault injection, the innermost layer of a backend's read stack: its reads answered later,
//! or failed, by configuration (`[sources.*.faults]`) — profile reads, lookups and pings
//! alike. Off by default; used by tests, the demo and load tests to see c360 under slow or
//! failing backends.

use std::{future::Future, sync::Mutex, time::Duration};

use futures::future::BoxFuture;
use rand::{RngExt, SeedableRng, rngs::Xoshiro256PlusPlus};
use rand_distr::{Distribution, LogNormal};
use serde::{Deserialize, Serialize};

use crate::core::{
    settings::{Check, MINUTE},
    sources::SourceError,
    vocab::SourceKind,
};

/// The faults of one backend.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Added to every read: fixed, or the median when `latency_p99` is set.
    #[serde(with = "humantime_serde")]
    pub latency: Option<Duration>,
    /// With `latency`: the added latency is log-normal with this 99th percentile, as real
    /// backends' latencies roughly are.
    #[serde(with = "humantime_serde")]
    pub latency_p99: Option<Duration>,
    /// Share of reads that fail, 0 to 1.
    pub error_rate: f64,
}

impl FaultSettings {
    /// Whether any fault is configured.
    pub fn is_active(&self) -> bool {
        self.latency.is_some() || self.error_rate > 0.0
    }

    /// Refuses every value out of its range.
    pub fn check(&self, c: &mut Check) {
        c.fraction("error_rate", self.error_rate, 0.0, 1.0);
        for (key, latency) in [("latency", self.latency), ("latency_p99", self.latency_p99)] {
            if let Some(latency) = latency {
                c.duration(key, latency, Duration::ZERO, MINUTE);
            }
        }
        if let (Some(median), Some(p99)) = (self.latency, self.latency_p99)
            && p99 < median
        {
            let shown = humantime_serde::re::humantime::format_duration(p99);
            c.refuse("latency_p99", shown, "must not be below latency");
        }
    }
}

/// Draws and applies one backend's faults.
#[derive(Debug)]
pub(super) struct Faults {
    kind: SourceKind,
    latency: Latency,
    error_rate: f64,
    rng: Mutex<Xoshiro256PlusPlus>,
}

#[derive(Debug)]
enum Latency {
    None,
    Fixed(Duration),
    LogNormal(LogNormal<f64>),
}

impl Faults {
    /// The faults of `settings` for the reads of `kind`.
    pub(super) fn new(kind: SourceKind, settings: &FaultSettings) -> Self {
        let latency = match (settings.latency, settings.latency_p99) {
            (None, _) => Latency::None,
            (Some(median), Some(p99)) if p99 > median && !median.is_zero() => {
                // ln X ~ N(mu, sigma): median e^mu, 99th percentile e^(mu + 2.326 sigma).
                let mu = median.as_secs_f64().ln();
                let sigma = (p99.as_secs_f64() / median.as_secs_f64()).ln() / 2.326;
                LogNormal::new(mu, sigma).map_or(Latency::Fixed(median), Latency::LogNormal)
            }
            (Some(fixed), _) => Latency::Fixed(fixed),
        };
        Self {
            kind,
            latency,
            error_rate: settings.error_rate.clamp(0.0, 1.0),
            rng: Mutex::new(Xoshiro256PlusPlus::seed_from_u64(rand::random())),
        }
    }

    /// The delay of the next read, and whether it fails.
    fn draw(&self) -> (Duration, bool) {
        let Ok(mut rng) = self.rng.lock() else {
            return (Duration::ZERO, false);
        };
        let delay = match &self.latency {
            Latency::None => Duration::ZERO,
            Latency::Fixed(d) => *d,
            Latency::LogNormal(distribution) => {
                Duration::from_secs_f64(distribution.sample(&mut *rng).min(60.0))
            }
        };
        (delay, rng.random_bool(self.error_rate))
    }

    /// `read`, started after the drawn delay, unless the draw fails it: then the backend is
    /// not asked at all.
    pub(super) fn apply<'a, T, F>(
        &'a self,
        read: impl FnOnce() -> F + Send + 'a,
    ) -> BoxFuture<'a, Result<T, SourceError>>
    where
        F: Future<Output = Result<T, SourceError>> + Send + 'a,
    {
        if matches!(self.latency, Latency::None) && self.error_rate == 0.0 {
            return Box::pin(read());
        }
        let (delay, fail) = self.draw();
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if fail {
                return Err(SourceError::Injected {
                    backend: self.kind,
                    reason: "fault injected by configuration".into(),
                });
            }
            read().await
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::core::sources::{Source, fake::FakeSource, fixtures};

    fn faulty(settings: FaultSettings) -> (Faults, Arc<FakeSource>) {
        let fake = Arc::new(FakeSource::new(SourceKind::Orders));
        (Faults::new(SourceKind::Orders, &settings), fake)
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_latency_delays_every_read() {
        let settings = FaultSettings {
            latency: Some(Duration::from_millis(20)),
            ..Default::default()
        };
        let (faults, fake) = faulty(settings);
        let started = tokio::time::Instant::now();
        faults
            .apply(|| fake.fetch(fixtures::customer()))
            .await
            .unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(20));
    }

    #[tokio::test]
    async fn an_error_rate_fails_that_share_of_reads_without_asking_the_backend() {
        let settings = FaultSettings {
            error_rate: 0.3,
            ..Default::default()
        };
        let (faults, fake) = faulty(settings);
        let mut failed = 0;
        for _ in 0..2000 {
            if faults
                .apply(|| fake.fetch(fixtures::customer()))
                .await
                .is_err()
            {
                failed += 1;
            }
        }
        assert!((450..750).contains(&failed), "{failed} of 2000 failed");
        assert_eq!(fake.calls(), 2000 - failed);
    }

    #[test]
    fn log_normal_latencies_have_the_configured_median_and_tail() {
        let settings = FaultSettings {
            latency: Some(Duration::from_millis(10)),
            latency_p99: Some(Duration::from_millis(40)),
            ..Default::default()
        };
        let (faults, _) = faulty(settings);
        let mut samples: Vec<Duration> = (0..20_000).map(|_| faults.draw().0).collect();
        samples.sort();
        let median = samples[10_000].as_secs_f64() * 1e3;
        let p99 = samples[19_800].as_secs_f64() * 1e3;
        assert!((9.0..11.0).contains(&median), "median {median} ms");
        assert!((34.0..47.0).contains(&p99), "p99 {p99} ms");
    }
}
