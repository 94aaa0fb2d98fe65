//! Admission control: how many backend loads may run at once, adapted to what the backends
//! can take, and the shedding of what is beyond it.
//!
//! The limit follows a gradient, as Netflix's concurrency-limits and Envoy's adaptive
//! concurrency filter do: the backends' latency with little queueing (the lowest window
//! average of the last half minute) against their latency now. While loads take no longer
//! than `tolerance` times that baseline, the limit grows by its square root each window; when
//! they take longer, queueing has begun and the limit shrinks in proportion. Work beyond the
//! limit is refused at once (`RESOURCE_EXHAUSTED` at the edge) instead of queueing until every
//! read in the queue times out: goodput stays near the maximum under any offered load.
//!
//! Cache hits never come here: only loads do. Bulk work (batches, warming, refresh ahead) may
//! use only a share of the limit, so that it is shed before interactive reads are.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

use super::ResilienceSettings;

/// Whose work a load is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A caller waits for this one profile or lookup.
    Interactive,
    /// Batches, warming, refresh ahead: shed first.
    Bulk,
}

/// The load was refused: the limit is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{limit} backend loads are running, the limit of this replica")]
pub struct Shed {
    /// The limit at the time.
    pub limit: usize,
}

/// Admits loads; cheap to clone.
#[derive(Debug, Clone)]
pub struct Admission {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: ResilienceSettings,
    in_flight: AtomicUsize,
    limit: AtomicUsize,
    shed: AtomicU64,
    window: Mutex<Window>,
}

/// A window closes after this long and this many loads, whichever comes later.
const WINDOW_TIME: Duration = Duration::from_millis(100);
const WINDOW_LOADS: u32 = 10;
/// The baseline is the lowest window average over this many buckets of this long each.
const BASELINE_BUCKETS: usize = 6;
const BUCKET_TIME: Duration = Duration::from_secs(5);
/// How much of each new limit estimate is taken: smooths the noise of single windows.
const SMOOTHING: f64 = 0.2;

#[derive(Debug)]
struct Window {
    limit: f64,
    started: Instant,
    loads: u32,
    total: Duration,
    most_in_flight: usize,
    /// The lowest window average in each recent bucket; the current bucket last.
    buckets: [Option<Duration>; BASELINE_BUCKETS],
    bucket_started: Instant,
}

/// A load admitted; dropping it frees its place and tells the limit how long it took.
#[derive(Debug)]
#[must_use = "the load is admitted while the permit is held"]
pub struct Permit {
    inner: Arc<Inner>,
    started: Instant,
    sampled: bool,
    /// What the load's backends took, when the caller knows better than the load's length.
    latency: Option<Duration>,
}

impl Admission {
    /// Admits loads under a limit adapted as `settings` say (its `*_concurrency`,
    /// `latency_tolerance` and `bulk_share`).
    pub fn new(settings: &ResilienceSettings) -> Self {
        let initial = settings
            .initial_concurrency
            .clamp(settings.min_concurrency, settings.max_concurrency);
        let now = Instant::now();
        Self {
            inner: Arc::new(Inner {
                settings: *settings,
                in_flight: AtomicUsize::new(0),
                limit: AtomicUsize::new(initial),
                shed: AtomicU64::new(0),
                window: Mutex::new(Window {
                    limit: initial as f64,
                    started: now,
                    loads: 0,
                    total: Duration::ZERO,
                    most_in_flight: 0,
                    buckets: [None; BASELINE_BUCKETS],
                    bucket_started: now,
                }),
            }),
        }
    }

    /// A place for one load of `priority`, at once, or [`Shed`].
    pub fn try_admit(&self, priority: Priority) -> Result<Permit, Shed> {
        let limit = self.limit();
        let allowed = self.allowed(priority, limit);
        let admitted =
            self.inner
                .in_flight
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < allowed).then_some(n + 1)
                });
        match admitted {
            Ok(_) => Ok(Permit {
                inner: self.inner.clone(),
                started: Instant::now(),
                sampled: true,
                latency: None,
            }),
            Err(_) => {
                self.inner.shed.fetch_add(1, Ordering::Relaxed);
                Err(Shed { limit })
            }
        }
    }

    /// Loads admitted at once now.
    pub fn limit(&self) -> usize {
        self.inner.limit.load(Ordering::Relaxed)
    }

    /// [`Shed`] (counted) if a load of `priority` would be refused now: a cheap look before
    /// the work of setting one up. The load itself still takes its permit.
    pub fn check(&self, priority: Priority) -> Result<(), Shed> {
        let limit = self.limit();
        if self.in_flight() < self.allowed(priority, limit) {
            return Ok(());
        }
        self.inner.shed.fetch_add(1, Ordering::Relaxed);
        Err(Shed { limit })
    }

    fn allowed(&self, priority: Priority, limit: usize) -> usize {
        match priority {
            Priority::Interactive => limit,
            Priority::Bulk => ((limit as f64 * self.inner.settings.bulk_share) as usize).max(1),
        }
    }

    /// Loads running now.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::Relaxed)
    }

    /// Loads refused since start.
    pub fn shed(&self) -> u64 {
        self.inner.shed.load(Ordering::Relaxed)
    }
}

impl Permit {
    /// No backend answered the load (every circuit it needed was open, or every read
    /// failed): its time says nothing about the backends' latency and is left out of the
    /// limit's estimate.
    pub fn read_nothing(&mut self) {
        self.sampled = false;
    }

    /// The backends that answered took `latency`: the sample, instead of the load's whole
    /// length. A backend that timed out says nothing about queueing here (it is stalled, or
    /// cut off by its circuit soon); the others answering slowly do.
    pub fn answered_in(&mut self, latency: Duration) {
        self.latency = Some(latency);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let in_flight = self.inner.in_flight.fetch_sub(1, Ordering::AcqRel);
        if !self.sampled {
            return;
        }
        let now = Instant::now();
        let mut window = self.inner.window.lock().unwrap_or_else(|e| e.into_inner());
        window.loads += 1;
        window.total += self.latency.unwrap_or(now - self.started);
        window.most_in_flight = window.most_in_flight.max(in_flight);
        if window.loads < WINDOW_LOADS || now - window.started < WINDOW_TIME {
            return;
        }
        let limit = window.close(now, &self.inner.settings);
        self.inner.limit.store(limit, Ordering::Relaxed);
    }
}

impl Window {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(initial: usize) -> Admission {
        Admission::new(&ResilienceSettings {
            initial_concurrency: initial,
            min_concurrency: 2,
            max_concurrency: 100,
            ..ResilienceSettings::default()
        })
    }

    /// `n` loads at once, each taking `took`; returns the limit after.
    async fn loads(admission: &Admission, n: usize, took: Duration) -> usize {
        let permits: Vec<_> = (0..n)
            .map(|_| {
                admission
                    .try_admit(Priority::Interactive)
                    .expect("admitted")
            })
            .collect();
        tokio::time::advance(took).await;
        drop(permits);
        admission.limit()
    }

    #[tokio::test(start_paused = true)]
    async fn beyond_the_limit_loads_are_shed_at_once_and_counted() {
        let admission = admission(4);
        let held: Vec<_> = (0..4)
            .map(|_| {
                admission
                    .try_admit(Priority::Interactive)
                    .expect("admitted")
            })
            .collect();
        assert_eq!(
            admission.try_admit(Priority::Interactive).err(),
            Some(Shed { limit: 4 })
        );
        assert_eq!(admission.shed(), 1);
        assert_eq!(admission.in_flight(), 4);
        drop(held);
        assert_eq!(admission.in_flight(), 0);
        assert!(admission.try_admit(Priority::Interactive).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn bulk_work_gets_only_its_share() {
        let admission = admission(8);
        let bulk: Vec<_> = (0..4)
            .map(|_| {
                admission
                    .try_admit(Priority::Bulk)
                    .expect("within the share")
            })
            .collect();
        assert!(admission.try_admit(Priority::Bulk).is_err());
        // Interactive reads still have the rest.
        let interactive: Vec<_> = (0..4)
            .map(|_| {
                admission
                    .try_admit(Priority::Interactive)
                    .expect("admitted")
            })
            .collect();
        assert!(admission.try_admit(Priority::Interactive).is_err());
        drop((bulk, interactive));
    }

    #[tokio::test(start_paused = true)]
    async fn the_limit_grows_while_latency_holds_and_shrinks_when_it_climbs() {
        let admission = admission(10);
        let mut limit = admission.limit();
        // Full windows at the baseline latency: the limit grows.
        for _ in 0..10 {
            let grown = loads(&admission, limit, Duration::from_millis(100)).await;
            assert!(grown >= limit, "{grown} < {limit}");
            limit = grown;
        }
        assert!(limit > 10, "grew to {limit}");
        let peak = limit;
        // Queueing: loads take 5x as long. The limit shrinks, window after window.
        // (The first window still holds loads of the last one.)
        limit = loads(&admission, limit, Duration::from_millis(500)).await;
        for _ in 0..10 {
            let shrunk = loads(&admission, limit, Duration::from_millis(500)).await;
            assert!(shrunk <= limit, "{shrunk} > {limit}");
            limit = shrunk;
        }
        assert!(limit * 4 < peak * 3, "shrank from {peak} to {limit}");
    }

    #[tokio::test(start_paused = true)]
    async fn loads_that_read_nothing_do_not_move_the_limit() {
        let admission = admission(10);
        loads(&admission, 10, Duration::from_millis(100)).await;
        let limit = admission.limit();
        // Refused by open circuits in microseconds: not a sign the backends got faster.
        for _ in 0..100 {
            let mut permits: Vec<_> = (0..limit)
                .map(|_| {
                    admission
                        .try_admit(Priority::Interactive)
                        .expect("admitted")
                })
                .collect();
            permits.iter_mut().for_each(Permit::read_nothing);
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        assert_eq!(admission.limit(), limit);
        assert_eq!(admission.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_light_load_does_not_raise_the_limit() {
        let admission = admission(40);
        for _ in 0..20 {
            assert_eq!(loads(&admission, 10, Duration::from_millis(100)).await, 40);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_limit_stays_within_its_bounds() {
        let admission = admission(10);
        for _ in 0..100 {
            let limit = admission.limit();
            loads(&admission, limit, Duration::from_millis(100)).await;
        }
        assert_eq!(admission.limit(), 100);
        // Overloaded for 20 s (within the baseline's memory): down to a few loads at once,
        // never below the minimum.
        for _ in 0..40 {
            let limit = admission.limit();
            loads(&admission, limit, Duration::from_millis(500)).await;
        }
        let limit = admission.limit();
        assert!((2..=10).contains(&limit), "{limit}");
    }
}
