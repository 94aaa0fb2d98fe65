//! Admission control: how many backend loads may run at once, and the shedding of what is
//! beyond it.
//!
//! Shedding spares callers a queue, so it starts only when there is one they would notice.
//! Each load has an allowance: the lesser of `latency_target` and `deadline_share` of its
//! caller's remaining time. While a window's loads take no longer than their allowance (or
//! than `latency_tolerance` times the backends' latency with little queueing, the lowest
//! window average of the last half minute, when that is longer), the limit follows the
//! demand: it takes in the next window every load refused in this one (at most doubling), and
//! grows by its square root while loads fill half of it. However many loads it takes, none is
//! refused for longer than a window while the backends keep answering within the callers'
//! allowances. Once loads take longer, they are queueing: the limit shrinks at once to what
//! would bring them back within it (at most halving each window), as a gradient does (Netflix's
//! concurrency-limits, Envoy's adaptive concurrency filter). Work beyond the limit is refused
//! at once (`RESOURCE_EXHAUSTED` at the edge) instead of queueing until every read in the queue
//! times out: goodput stays near the maximum under any offered load.
//!
//! Cache hits never come here: only loads do. Bulk work (batches, warming, refresh ahead, the
//! attention queue's build) may use only a share of the limit, so that it is shed before
//! interactive reads are; work that can wait asks for [`Admission::room`] first.

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
    /// Batches, warming, refresh ahead, the attention queue's build: shed first.
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
    /// Loads refused since start, when the window before the current one started.
    shed_before_last_window: AtomicU64,
    window: Mutex<Window>,
}

/// A window closes after this long and this many loads, whichever comes later.
const WINDOW_TIME: Duration = Duration::from_millis(100);
const WINDOW_LOADS: u32 = 10;
/// The baseline is the lowest window average over this many buckets of this long each.
const BASELINE_BUCKETS: usize = 6;
const BUCKET_TIME: Duration = Duration::from_secs(5);
/// How much of its square root the limit grows by in a window its loads fill half of.
const GROWTH: f64 = 0.2;

#[derive(Debug)]
struct Window {
    limit: f64,
    started: Instant,
    loads: u32,
    /// What the window's loads took, and were allowed, in all.
    total: Duration,
    allowed: Duration,
    most_in_flight: usize,
    /// Loads refused since start, when the window started.
    shed_before: u64,
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
    /// How long it may take before its caller would notice a queue.
    allowance: Duration,
    sampled: bool,
    /// What the load's backends took, when the caller knows better than the load's length.
    latency: Option<Duration>,
}

impl Admission {
    /// Admits loads under a limit adapted as `settings` say (its `*_concurrency`,
    /// `latency_target`, `deadline_share`, `latency_tolerance` and `bulk_share`).
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
                shed_before_last_window: AtomicU64::new(0),
                window: Mutex::new(Window {
                    limit: initial as f64,
                    started: now,
                    loads: 0,
                    total: Duration::ZERO,
                    allowed: Duration::ZERO,
                    most_in_flight: 0,
                    shed_before: 0,
                    buckets: [None; BASELINE_BUCKETS],
                    bucket_started: now,
                }),
            }),
        }
    }

    /// A place for one load of `priority` whose caller waits until `deadline`, at once, or
    /// [`Shed`].
    pub fn try_admit(&self, priority: Priority, deadline: Option<Instant>) -> Result<Permit, Shed> {
        let limit = self.limit();
        let allowed = self.allowed(priority, limit);
        let admitted =
            self.inner
                .in_flight
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < allowed).then_some(n + 1)
                });
        match admitted {
            Ok(_) => {
                let started = Instant::now();
                Ok(Permit {
                    inner: self.inner.clone(),
                    started,
                    allowance: self.allowance(started, deadline),
                    sampled: true,
                    latency: None,
                })
            }
            Err(_) => {
                self.inner.shed.fetch_add(1, Ordering::Relaxed);
                Err(Shed { limit })
            }
        }
    }

    /// How long a load started at `now` may take before its caller, waiting until
    /// `deadline`, would notice a queue.
    fn allowance(&self, now: Instant, deadline: Option<Instant>) -> Duration {
        let settings = &self.inner.settings;
        let share = deadline.map(|d| {
            d.saturating_duration_since(now)
                .mul_f64(settings.deadline_share)
        });
        share.map_or(settings.latency_target, |share| {
            share.min(settings.latency_target)
        })
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

    /// How many more loads of `priority` would be admitted now; nothing is counted. For
    /// work that can wait for a place rather than be refused one.
    pub fn room(&self, priority: Priority) -> usize {
        self.allowed(priority, self.limit())
            .saturating_sub(self.in_flight())
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

    /// Whether loads queue here now: they fill more than half the limit, or some were refused
    /// in this window or the last. A busy replica's slow reads are queueing, and no hedge
    /// would help them.
    pub fn busy(&self) -> bool {
        self.in_flight() * 2 > self.limit()
            || self.shed() > self.inner.shed_before_last_window.load(Ordering::Relaxed)
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
        window.allowed += self.allowance;
        window.most_in_flight = window.most_in_flight.max(in_flight);
        if window.loads < WINDOW_LOADS || now - window.started < WINDOW_TIME {
            return;
        }
        let shed = self.inner.shed.load(Ordering::Relaxed);
        let last = window.shed_before;
        let limit = window.close(now, shed, &self.inner.settings);
        self.inner.limit.store(limit, Ordering::Relaxed);
        self.inner
            .shed_before_last_window
            .store(last, Ordering::Relaxed);
    }
}

impl Window {
    /// Ends this window at `now`, when `shed` loads have been refused since start: the
    /// baseline and the limit are estimated again from it. Returns the new limit.
    fn close(&mut self, now: Instant, shed: u64, settings: &ResilienceSettings) -> usize {
        let average = self.total / self.loads;
        let allowed = self.allowed / self.loads;
        let refused = shed.saturating_sub(self.shed_before);
        let (most_in_flight, limit) = (self.most_in_flight, self.limit);
        (self.started, self.loads, self.total, self.allowed) =
            (now, 0, Duration::ZERO, Duration::ZERO);
        (self.most_in_flight, self.shed_before) = (0, shed);
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
        let within = allowed.max(baseline.mul_f64(settings.latency_tolerance));
        let gradient = (within.as_secs_f64() / average.as_secs_f64().max(1e-9)).clamp(0.5, 1.0);
        let next = if gradient < 1.0 {
            // Queueing the callers would notice: back to what would end it.
            limit * gradient
        } else if refused > 0 && average * 2 <= within {
            // Loads well within their allowance, and more wanted: let them in. (Taking more
            // near the allowance would only swing the limit around it under an overload.)
            limit + (refused as f64).min(limit)
        } else if (most_in_flight as f64) >= limit / 2.0 {
            limit + GROWTH * limit.sqrt()
        } else {
            // Loads too few to fill half the limit say nothing about a higher one.
            return limit.round() as usize;
        };
        let min = settings.min_concurrency as f64;
        let max = settings.max_concurrency.max(settings.min_concurrency) as f64;
        self.limit = next.clamp(min, max);
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
                    .try_admit(Priority::Interactive, None)
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
                    .try_admit(Priority::Interactive, None)
                    .expect("admitted")
            })
            .collect();
        assert_eq!(
            admission.try_admit(Priority::Interactive, None).err(),
            Some(Shed { limit: 4 })
        );
        assert_eq!(admission.shed(), 1);
        assert_eq!(admission.in_flight(), 4);
        drop(held);
        assert_eq!(admission.in_flight(), 0);
        assert!(admission.try_admit(Priority::Interactive, None).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn bulk_work_gets_only_its_share() {
        let admission = admission(8);
        let bulk: Vec<_> = (0..4)
            .map(|_| {
                admission
                    .try_admit(Priority::Bulk, None)
                    .expect("within the share")
            })
            .collect();
        assert_eq!(admission.room(Priority::Bulk), 0);
        assert_eq!(admission.room(Priority::Interactive), 4);
        let shed = admission.shed();
        assert!(admission.try_admit(Priority::Bulk, None).is_err());
        assert_eq!(
            admission.shed(),
            shed + 1,
            "a refusal counts, a look does not"
        );
        // Interactive reads still have the rest.
        let interactive: Vec<_> = (0..4)
            .map(|_| {
                admission
                    .try_admit(Priority::Interactive, None)
                    .expect("admitted")
            })
            .collect();
        assert_eq!(admission.room(Priority::Interactive), 0);
        assert!(admission.try_admit(Priority::Interactive, None).is_err());
        drop((bulk, interactive));
        assert_eq!(admission.room(Priority::Bulk), 4);
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
                        .try_admit(Priority::Interactive, None)
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

    /// `n` loads at once for callers with `budget` left, each taking `took`; returns the
    /// limit after, and how many of the `n` were refused.
    async fn loads_of_callers(
        admission: &Admission,
        n: usize,
        budget: Duration,
        took: Duration,
    ) -> (usize, usize) {
        let deadline = Instant::now() + budget;
        let tried: Vec<_> = (0..n)
            .map(|_| admission.try_admit(Priority::Interactive, Some(deadline)))
            .collect();
        let refused = tried.iter().filter(|t| t.is_err()).count();
        tokio::time::advance(took).await;
        drop(tried);
        (admission.limit(), refused)
    }

    #[tokio::test(start_paused = true)]
    async fn loads_within_their_callers_allowance_are_never_shed_however_slower_they_get() {
        let admission = admission(16);
        // A baseline of 1 ms, then every window 40 times as slow: queueing, but 40 ms is
        // within the 100 ms a caller with 2 s left allows.
        for _ in 0..5 {
            loads_of_callers(
                &admission,
                12,
                Duration::from_secs(2),
                Duration::from_millis(1),
            )
            .await;
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        for _ in 0..50 {
            let (limit, refused) = loads_of_callers(
                &admission,
                16,
                Duration::from_secs(2),
                Duration::from_millis(40),
            )
            .await;
            assert_eq!(refused, 0);
            assert!(limit >= 16, "shrank to {limit}");
            tokio::time::advance(Duration::from_millis(60)).await;
        }
        assert_eq!(admission.shed(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_beyond_the_limit_is_let_in_within_windows_while_loads_keep_up() {
        let admission = admission(10);
        let budget = Duration::from_secs(1);
        let (limit, refused) =
            loads_of_callers(&admission, 40, budget, Duration::from_millis(100)).await;
        assert_eq!(refused, 30, "beyond the limit at first");
        assert_eq!(limit, 20, "doubled, at most");
        let (limit, refused) =
            loads_of_callers(&admission, 40, budget, Duration::from_millis(100)).await;
        assert_eq!((limit, refused), (40, 20));
        let (_, refused) =
            loads_of_callers(&admission, 40, budget, Duration::from_millis(100)).await;
        assert_eq!(refused, 0, "every load of the burst let in");
    }

    #[tokio::test(start_paused = true)]
    async fn loads_past_their_callers_allowance_shrink_the_limit() {
        let admission = admission(40);
        // Callers with 100 ms left allow 25 ms; loads take 20 ms, then 80 ms.
        let budget = Duration::from_millis(100);
        for _ in 0..5 {
            let (limit, _) =
                loads_of_callers(&admission, 30, budget, Duration::from_millis(20)).await;
            assert!(limit >= 40, "{limit}");
            tokio::time::advance(Duration::from_millis(80)).await;
        }
        // The window that closes first still holds loads of 20 ms; the next is all of 80.
        let before = admission.limit();
        for _ in 0..2 {
            loads_of_callers(&admission, 30, budget, Duration::from_millis(80)).await;
            tokio::time::advance(Duration::from_millis(20)).await;
        }
        let limit = admission.limit();
        assert!(
            limit * 100 <= before * 55 && limit * 4 >= before,
            "{before} -> {limit}: shrinks at once, by half at most in a window"
        );
    }
}
