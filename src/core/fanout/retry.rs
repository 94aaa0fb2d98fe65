//! Retries of a load no backend answered, within the caller's deadline and a budget: the
//! layer around a whole load, inside admission.
//!
//! A load that got nothing from any backend (a database restarting, a network blip) is tried
//! again after a short, growing, jittered pause while the caller still has time, instead of
//! failing a caller who could have waited. Retries must not become a storm: a retry that would
//! read a backend whose circuit is closed spends from a budget — tower's `TpsBudget`, Finagle's
//! retry budget: a fifth of the loads of the last second, and ten a second however quiet it
//! is; one whose backends' circuits are all open reads nothing (only a circuit's probe reaches
//! the backend), so it costs nothing.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use rand::RngExt;
use tokio::time::Instant;
use tower::retry::budget::{Budget, TpsBudget};

/// How long a load's share of the budget, and a retry's spending, count.
const BUDGET_WINDOW: Duration = Duration::from_secs(1);
/// Retries a second however few the loads.
const RETRIES_A_SECOND: u32 = 10;
/// Retries per load.
const RETRIES_PER_LOAD: f32 = 0.2;
/// The first pause; each next one doubles, up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const MAX_PAUSE: Duration = Duration::from_millis(400);
/// No retry is started with less than this left before the deadline: it could not finish.
const MIN_LEFT: Duration = Duration::from_millis(20);

/// The retries of one fan-out: their budget, and how many were made.
#[derive(Debug)]
pub(super) struct Retries {
    budget: TpsBudget,
    done: AtomicU64,
}

impl Retries {
    pub(super) fn new() -> Self {
        Self {
            budget: TpsBudget::new(BUDGET_WINDOW, RETRIES_A_SECOND, RETRIES_PER_LOAD),
            done: AtomicU64::new(0),
        }
    }

    /// A load started: it earns its share.
    pub(super) fn earn(&self) {
        self.budget.deposit();
    }

    /// Spends one retry if the budget has it.
    pub(super) fn try_spend(&self) -> bool {
        self.budget.withdraw()
    }

    /// A retry is made.
    pub(super) fn count(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    /// Retries made since start.
    pub(super) fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }
}

/// The pause before retry number `attempt` (0 for the first), jittered; `None` when it would
/// leave too little before `deadline`.
pub(super) fn pause(attempt: u32, deadline: Instant) -> Option<Duration> {
    let base = FIRST_PAUSE
        .saturating_mul(1 << attempt.min(8))
        .min(MAX_PAUSE);
    // Between half and all of it, so that loads failed together do not retry together.
    let pause = base.mul_f64(rand::rng().random_range(0.5..=1.0));
    let left = deadline.checked_duration_since(Instant::now())?;
    (left > pause + MIN_LEFT).then_some(pause)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_budget_is_a_fifth_of_loads_and_a_few_a_second() {
        let budget = Retries::new();
        // Ten a second, however quiet.
        assert_eq!((0..100).filter(|_| budget.try_spend()).count(), 10);
        for _ in 0..100 {
            budget.earn();
        }
        // And a fifth of the loads.
        assert_eq!((0..100).filter(|_| budget.try_spend()).count(), 20);
        // A second later, what was spent no longer counts: ten again.
        tokio::time::advance(BUDGET_WINDOW + Duration::from_millis(100)).await;
        assert_eq!((0..100).filter(|_| budget.try_spend()).count(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn pauses_grow_with_jitter_and_stop_short_of_the_deadline() {
        let far = Instant::now() + Duration::from_secs(10);
        for attempt in 0..6 {
            let base = (FIRST_PAUSE * (1 << attempt)).min(MAX_PAUSE);
            let pause = pause(attempt, far).expect("time left");
            assert!(pause >= base / 2 && pause <= base, "{attempt}: {pause:?}");
        }
        let near = Instant::now() + FIRST_PAUSE / 2;
        assert_eq!(pause(0, near), None);
    }
}
