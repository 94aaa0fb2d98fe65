//! Admission control: how many backend loads may run at once, adapted to what the backends
//! can take, and the shedding of what is beyond it.
//!
//! The limit follows a gradient, as Netflix's concurrency-limits and Envoy's adaptive
//! concurrency filter do: the backends' latency with little queueing (the lowest window
//! average of the last half minute) against their latency now. While loads take no longer
//! than `tolerance` times that baseline, the limit grows by its square root each window; when
//! they take longer, queueing has begun and the limit shrinks in proportion.
//!
//! An interactive load beyond the limit waits for a place, in order, for at most a quarter of
//! its caller's remaining time (and 100 ms), if the wait it can expect — the loads waiting
//! ahead of it, `limit` at a time, each holding its place for the recent average (Little's
//! law) — is at most half of that. Otherwise it is refused at once (`RESOURCE_EXHAUSTED` at
//! the edge), and then for a second no load waits: more is offered than the backends serve,
//! the excess is refused on arrival, in microseconds, and a freed place goes to whoever asks
//! first. So a burst of misses against backends that answer in milliseconds waits
//! milliseconds and nobody is refused, while under overload goodput stays near what the
//! backends serve and no read waits in a queue until its caller has given up.
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

use tokio::{sync::Notify, time::Instant};

use super::ResilienceSettings;

mod gradient;

use gradient::Window;

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
    /// Interactive loads waiting for a place now.
    waiting: AtomicUsize,
    /// Told when a place frees while loads wait.
    freed: Notify,
    /// How long a load holds its place, in microseconds (a moving average): how fast the
    /// queue moves.
    hold_us: AtomicU64,
    /// Until when (microseconds from `epoch`) loads beyond the limit are refused at once:
    /// set when one could not be placed in time, the sign of more offered than the backends
    /// can serve.
    overloaded_until_us: AtomicU64,
    epoch: Instant,
}

/// After a load could not be placed in time, how long no load waits for a place: under
/// overload the excess is refused on arrival, and places go to whoever asks first, so that
/// none stays empty while a waiting load is woken.
const OVERLOAD_HOLD: Duration = Duration::from_secs(1);

/// The longest a load waits for a place, whatever its caller's deadline.
const MAX_WAIT: Duration = Duration::from_millis(100);
/// A load waits for a place at most this fraction (1/n) of its caller's remaining time.
const WAIT_SHARE: u32 = 4;
/// Loads waiting at once, at most: a bound on memory, far above what the wait's judgment
/// lets in.
const MAX_WAITING: usize = 10_000;

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
                window: Mutex::new(Window::new(initial, now)),
                waiting: AtomicUsize::new(0),
                freed: Notify::new(),
                hold_us: AtomicU64::new(0),
                overloaded_until_us: AtomicU64::new(0),
                epoch: now,
            }),
        }
    }

    /// A place for one load of `priority`, at once, or [`Shed`].
    pub fn try_admit(&self, priority: Priority) -> Result<Permit, Shed> {
        self.place(priority).ok_or_else(|| self.refuse())
    }

    /// A place for one load of `priority` whose caller waits until `deadline`: at once if
    /// there is one, else (interactive loads only) after waiting in order while the expected
    /// wait fits the caller's time; [`Shed`] otherwise.
    pub async fn admit(
        &self,
        priority: Priority,
        deadline: Option<Instant>,
    ) -> Result<Permit, Shed> {
        // First come, first placed: while loads wait, a newcomer waits behind them (unless
        // overloaded, when nobody waits long and a place must not stay empty).
        if (self.waiting() == 0 || self.overloaded())
            && let Some(permit) = self.place(priority)
        {
            return Ok(permit);
        }
        let Some(patience) = self.patience(priority, deadline) else {
            return Err(self.refuse());
        };
        let until = Instant::now() + patience;
        let (_waiting, ahead) = Waiting::new(&self.inner);
        // Alone in line, it may look for a place at once; behind others, only once told of
        // one: a freed place goes to the load waiting longest (tokio's `Notify` wakes in
        // order, and passes a wake-up on when its waiter has gone).
        let mut may_look = ahead == 0;
        loop {
            let freed = self.inner.freed.notified();
            tokio::pin!(freed);
            // Told of any place freed from here on, before looking for one.
            freed.as_mut().enable();
            if may_look && let Some(permit) = self.place(priority) {
                return Ok(permit);
            }
            if tokio::time::timeout_at(until, freed).await.is_err() {
                // A last look: a place freed while no wake-up reached this load.
                return self.place(priority).ok_or_else(|| {
                    self.overload();
                    self.refuse()
                });
            }
            may_look = true;
        }
    }

    /// How long a load of `priority` beyond the limit may wait for a place; `None` when it is
    /// refused at once: bulk work, a queue of [`MAX_WAITING`], or a wait expected
    /// beyond its share of the caller's time.
    fn patience(&self, priority: Priority, deadline: Option<Instant>) -> Option<Duration> {
        if priority == Priority::Bulk || self.overloaded() {
            return None;
        }
        let waiting = self.inner.waiting.load(Ordering::SeqCst);
        if waiting >= MAX_WAITING {
            return None;
        }
        let allowed = deadline
            .map_or(MAX_WAIT, |d| {
                d.saturating_duration_since(Instant::now()) / WAIT_SHARE
            })
            .min(MAX_WAIT);
        // Little's law: the loads ahead leave `limit` at a time, each after holding its place
        // for the recent average.
        let hold = Duration::from_micros(self.inner.hold_us.load(Ordering::Relaxed));
        let ahead = u32::try_from(waiting + 1).unwrap_or(u32::MAX);
        let limit = u32::try_from(self.limit().max(1)).unwrap_or(u32::MAX);
        let expected = hold.saturating_mul(ahead) / limit;
        // Only a wait expected to take half the time allowed is begun, so that a load that
        // waits is rarely refused at the end of it: under overload the queue stays short and
        // the excess is refused on arrival, in microseconds.
        let fits = !allowed.is_zero() && expected.saturating_mul(2) <= allowed;
        if !fits {
            self.overload();
        }
        fits.then_some(allowed)
    }

    /// Whether loads beyond the limit are refused at once now.
    fn overloaded(&self) -> bool {
        let until = self.inner.overloaded_until_us.load(Ordering::Relaxed);
        until > 0 && micros(self.inner.epoch.elapsed()) < until
    }

    /// A load could not be placed in time: for [`OVERLOAD_HOLD`], none waits.
    fn overload(&self) {
        let until = micros(self.inner.epoch.elapsed() + OVERLOAD_HOLD);
        self.inner
            .overloaded_until_us
            .store(until, Ordering::Relaxed);
    }

    /// A place for one load of `priority` if one is free now.
    fn place(&self, priority: Priority) -> Option<Permit> {
        let allowed = self.allowed(priority, self.limit());
        let admitted = self
            .inner
            .in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < allowed).then_some(n + 1)
            });
        admitted.ok().map(|_| Permit {
            inner: self.inner.clone(),
            started: Instant::now(),
            sampled: true,
            latency: None,
        })
    }

    /// Counts a refusal.
    fn refuse(&self) -> Shed {
        self.inner.shed.fetch_add(1, Ordering::Relaxed);
        Shed {
            limit: self.limit(),
        }
    }

    /// Loads admitted at once now.
    pub fn limit(&self) -> usize {
        self.inner.limit.load(Ordering::Relaxed)
    }

    /// [`Shed`] (counted) if a load of `priority` for a caller waiting until `deadline` would
    /// be refused now: a cheap look before the work of setting one up. The load itself still
    /// takes its permit.
    pub fn check(&self, priority: Priority, deadline: Option<Instant>) -> Result<(), Shed> {
        let free = self.in_flight() < self.allowed(priority, self.limit());
        if free || self.patience(priority, deadline).is_some() {
            return Ok(());
        }
        Err(self.refuse())
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

    /// Loads waiting for a place now.
    pub fn waiting(&self) -> usize {
        self.inner.waiting.load(Ordering::Relaxed)
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// One load counted as waiting while this lives.
struct Waiting<'a>(&'a Inner);

impl<'a> Waiting<'a> {
    /// Counted as waiting; with the number of loads waiting ahead of it.
    fn new(inner: &'a Inner) -> (Self, usize) {
        let ahead = inner.waiting.fetch_add(1, Ordering::SeqCst);
        (Self(inner), ahead)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
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
        let in_flight = self.inner.in_flight.fetch_sub(1, Ordering::SeqCst);
        // A load that starts waiting after this look finds the place free itself.
        if self.inner.waiting.load(Ordering::SeqCst) > 0 {
            self.inner.freed.notify_one();
        }
        let now = Instant::now();
        let held = micros(now - self.started);
        let _ = self
            .inner
            .hold_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |average| {
                // An eighth of each new sample: a moving average over the last few dozen.
                Some(if average == 0 {
                    held
                } else {
                    average - average / 8 + held / 8
                })
            });
        if !self.sampled {
            return;
        }
        let latency = self.latency.unwrap_or(now - self.started);
        let mut window = self.inner.window.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(limit) = window.record(latency, in_flight, now, &self.inner.settings) {
            self.inner.limit.store(limit, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

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
    async fn beyond_the_limit_a_load_waits_for_a_place_while_the_wait_fits_its_callers_time() {
        let admission = admission(2);
        let mut held: Vec<_> = (0..2)
            .map(|_| {
                admission
                    .try_admit(Priority::Interactive)
                    .expect("admitted")
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(1);
        let waiter = tokio::spawn({
            let admission = admission.clone();
            async move { admission.admit(Priority::Interactive, Some(deadline)).await }
        });
        tokio::time::advance(Duration::from_millis(10)).await;
        assert_eq!(admission.waiting(), 1);
        assert!(!waiter.is_finished());
        held.pop();
        let placed = waiter.await.unwrap().expect("placed once a load ended");
        assert_eq!((admission.shed(), admission.waiting()), (0, 0));
        assert_eq!(admission.in_flight(), 2);
        drop((held, placed));
        assert_eq!(admission.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_newcomer_waits_behind_the_loads_already_waiting() {
        let admission = admission(2);
        let mut held: Vec<_> = (0..2)
            .map(|_| {
                admission
                    .try_admit(Priority::Interactive)
                    .expect("admitted")
            })
            .collect();
        let deadline = Some(Instant::now() + Duration::from_secs(1));
        let first = tokio::spawn({
            let admission = admission.clone();
            async move { admission.admit(Priority::Interactive, deadline).await }
        });
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(admission.waiting(), 1);
        // A place frees; before the one waiting takes it, another load arrives: it does not
        // take the place, it waits.
        held.pop();
        let newcomer = admission
            .admit(Priority::Interactive, deadline)
            .now_or_never();
        assert!(
            newcomer.is_none(),
            "the newcomer was placed ahead of the load waiting"
        );
        let placed = first.await.unwrap().expect("the first in line is placed");
        assert_eq!(admission.in_flight(), 2);
        drop((held, placed));
    }

    /// Two loads at a time, each taking 100 ms: a place comes free every 50 ms or so.
    async fn busy() -> (Admission, Vec<Permit>) {
        let admission = admission(2);
        for _ in 0..5 {
            loads(&admission, 2, Duration::from_millis(100)).await;
        }
        assert_eq!(admission.limit(), 2);
        let held = (0..2)
            .map(|_| {
                admission
                    .try_admit(Priority::Interactive)
                    .expect("admitted")
            })
            .collect();
        (admission, held)
    }

    #[tokio::test(start_paused = true)]
    async fn a_load_that_cannot_be_placed_in_time_is_refused_and_then_none_waits_for_a_while() {
        let (admission, mut held) = busy().await;
        let now = Instant::now();
        // Bulk work never waits.
        let bulk = admission.admit(Priority::Bulk, Some(now + Duration::from_secs(10)));
        assert!(matches!(bulk.now_or_never(), Some(Err(Shed { .. }))));
        assert!(!admission.overloaded());
        // An eighth of 200 ms is less than the 50 ms expected: refused at once.
        let short = admission.admit(
            Priority::Interactive,
            Some(now + Duration::from_millis(200)),
        );
        assert!(matches!(short.now_or_never(), Some(Err(Shed { .. }))));
        // More is asked than can be served: for a second, no load waits, however patient.
        let patient = admission.admit(Priority::Interactive, Some(now + Duration::from_secs(10)));
        assert!(matches!(patient.now_or_never(), Some(Err(Shed { .. }))));
        tokio::time::advance(OVERLOAD_HOLD).await;
        let deadline = Some(Instant::now() + Duration::from_secs(10));
        let waiter = tokio::spawn({
            let admission = admission.clone();
            async move { admission.admit(Priority::Interactive, deadline).await }
        });
        tokio::time::advance(Duration::from_millis(10)).await;
        assert_eq!(admission.waiting(), 1);
        held.pop();
        let placed = waiter.await.unwrap().expect("placed once a load ended");
        assert_eq!((admission.shed(), admission.waiting()), (3, 0));
        drop((held, placed));
    }

    #[tokio::test(start_paused = true)]
    async fn a_load_waits_no_longer_than_its_share_and_then_is_refused() {
        let (admission, held) = busy().await;
        let patient = admission.admit(
            Priority::Interactive,
            Some(Instant::now() + Duration::from_secs(10)),
        );
        let waited = Instant::now();
        assert!(patient.await.is_err());
        assert_eq!(waited.elapsed(), MAX_WAIT);
        assert_eq!((admission.shed(), admission.waiting()), (1, 0));
        assert!(admission.overloaded());
        drop(held);
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
