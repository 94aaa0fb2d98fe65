//! The hedging layer of a backend's read stack: a read still running after its backend's
//! recent 95th percentile is asked a second time, and the first answer wins. The tail of one slow connection or one slow query
//! stops being the caller's tail. A budget keeps hedges to a small share of reads, so that a
//! backend that is slow for everyone is not asked twice for everything.

use std::{
    future::Future,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

/// Latencies kept per backend to estimate its 95th percentile.
const WINDOW: usize = 512;
/// The percentile is estimated again after this many new latencies.
const REESTIMATE_EVERY: usize = 64;
/// No hedging until this many latencies are known.
const MIN_SAMPLES: usize = 128;
/// Budget, in thousandths of a hedge: what a read earns is `budget × SCALE`, a hedge costs
/// `SCALE`, and at most `BURST` hedges can be saved up.
const SCALE: u64 = 1000;
const BURST: u64 = 10 * SCALE;

/// One backend's hedging: its recent latencies and its budget.
#[derive(Debug)]
pub(super) struct Hedger {
    /// No read is hedged sooner than this after it started, however fast its backend.
    min_delay: Duration,
    /// What a read earns of the budget, in thousandths of a hedge.
    earn: u64,
    tokens: AtomicU64,
    /// The current estimate of the 95th percentile, in microseconds; 0: not known yet.
    p95_micros: AtomicU64,
    recent: Mutex<Recent>,
    hedged: AtomicU64,
}

#[derive(Debug, Default)]
struct Recent {
    micros: Vec<u64>,
    next: usize,
    since_estimate: usize,
}

impl Hedger {
    /// Hedges at most `budget` per read (`0.05`: under 5 % of reads; 0: none), none sooner
    /// than `min_delay` after its read started.
    pub(super) fn new(budget: f64, min_delay: Duration) -> Self {
        Self {
            earn: (budget.clamp(0.0, 1.0) * SCALE as f64).round() as u64,
            min_delay,
            tokens: AtomicU64::new(0),
            p95_micros: AtomicU64::new(0),
            recent: Mutex::new(Recent::default()),
            hedged: AtomicU64::new(0),
        }
    }

    /// `read`, and a second `read` if the first runs past the backend's 95th percentile and
    /// the budget allows: the first answer wins, the other is dropped. Never when `busy`
    /// (loads queue: they fill more than half the admission limit, or some were just
    /// refused): a busy replica's slow reads are
    /// queueing, and a second read would only queue too. `on_hedge` counts the second read.
    pub(super) async fn read<O, F>(
        &self,
        read: &impl Fn() -> F,
        busy: bool,
        on_hedge: impl FnOnce(),
    ) -> O
    where
        F: Future<Output = O>,
    {
        let first = read();
        let Some(delay) = self.delay() else {
            return first.await;
        };
        if busy {
            return first.await;
        }
        let mut first = std::pin::pin!(first);
        tokio::select! {
            // An answer due at the same moment as the hedge makes the hedge needless.
            biased;
            answer = &mut first => return answer,
            () = tokio::time::sleep(delay) => {}
        }
        if !self.try_hedge() {
            return first.await;
        }
        on_hedge();
        let second = std::pin::pin!(read());
        tokio::select! {
            answer = &mut first => answer,
            answer = second => answer,
        }
    }

    /// A read is starting: it earns its share of the budget. Returns how long to wait before
    /// hedging it; `None` when it is not to be hedged (off, or too little known yet).
    fn delay(&self) -> Option<Duration> {
        if self.earn == 0 {
            return None;
        }
        let _ = self
            .tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some((t + self.earn).min(BURST))
            });
        match self.p95_micros.load(Ordering::Relaxed) {
            0 => None,
            p95 => Some(Duration::from_micros(p95).max(self.min_delay)),
        }
    }

    /// Whether the budget allows a hedge now; spends it if so, and counts the hedge.
    fn try_hedge(&self) -> bool {
        let spent = self
            .tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                t.checked_sub(SCALE)
            })
            .is_ok();
        if spent {
            self.hedged.fetch_add(1, Ordering::Relaxed);
        }
        spent
    }

    /// A read answered after `latency`.
    pub(super) fn observe(&self, latency: Duration) {
        if self.earn == 0 {
            return;
        }
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.micros.len() < WINDOW {
            recent.micros.push(micros);
        } else {
            let next = recent.next;
            recent.micros[next] = micros;
        }
        recent.next = (recent.next + 1) % WINDOW;
        recent.since_estimate += 1;
        if recent.since_estimate >= REESTIMATE_EVERY && recent.micros.len() >= MIN_SAMPLES {
            recent.since_estimate = 0;
            let mut sorted = recent.micros.clone();
            drop(recent);
            let at = sorted.len() * 95 / 100;
            let (_, p95, _) = sorted.select_nth_unstable(at);
            self.p95_micros.store((*p95).max(1), Ordering::Relaxed);
        }
    }

    /// Hedges sent since start.
    pub(super) fn hedged(&self) -> u64 {
        self.hedged.load(Ordering::Relaxed)
    }

    /// The recent 95th percentile; `None` until enough reads are known.
    pub(super) fn p95(&self) -> Option<Duration> {
        match self.p95_micros.load(Ordering::Relaxed) {
            0 => None,
            p95 => Some(Duration::from_micros(p95)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hedger(budget: f64) -> Hedger {
        Hedger::new(budget, Duration::from_micros(1))
    }

    #[test]
    fn waits_for_the_95th_percentile_once_enough_is_known() {
        let hedger = hedger(0.05);
        for ms in 1..=(MIN_SAMPLES as u64 - 1) {
            hedger.observe(Duration::from_millis(ms % 100 + 1));
        }
        assert_eq!(hedger.delay(), None, "too little known");
        // 1..=100 ms, evenly: the 95th percentile is 95 or 96 ms.
        for ms in 0..(WINDOW as u64) {
            hedger.observe(Duration::from_millis(ms % 100 + 1));
        }
        let p95 = hedger.p95().expect("known");
        assert!((95..=96).contains(&p95.as_millis()), "{p95:?}");
        assert_eq!(hedger.delay(), Some(p95));
    }

    #[test]
    fn the_budget_keeps_hedges_to_its_share_of_reads() {
        let hedger = hedger(0.05);
        let mut hedges = 0;
        // Every read wants a hedge (a backend slow for everyone): 5 % get one.
        for _ in 0..10_000 {
            let _ = hedger.delay();
            hedges += usize::from(hedger.try_hedge());
        }
        assert_eq!(hedges, 500);
        assert_eq!(hedger.hedged(), 500);
    }

    #[test]
    fn savings_are_capped_so_a_quiet_spell_cannot_buy_a_storm() {
        let hedger = hedger(0.05);
        for _ in 0..1_000_000 {
            let _ = hedger.delay();
        }
        let burst = (0..1000).filter(|_| hedger.try_hedge()).count();
        assert_eq!(burst as u64, BURST / SCALE);
    }

    #[test]
    fn a_zero_budget_never_hedges() {
        let hedger = hedger(0.0);
        for _ in 0..1000 {
            hedger.observe(Duration::from_millis(5));
            assert_eq!(hedger.delay(), None);
        }
        assert!(!hedger.try_hedge());
    }
}
