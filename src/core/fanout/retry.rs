//! Retries of a load no backend answered, within the caller's deadline and a budget.
//!
//! A load that got nothing from any backend (a database restarting, a network blip) is tried
//! again after a short, growing, jittered pause while the caller still has time, instead of
//! failing a caller who could have waited. Retries must not become a storm: a retry that would
//! read a backend whose circuit is closed spends from a budget (a fifth of loads, and a few per
//! second however quiet it is, as Finagle's retry budget does); one whose backends' circuits
//! are all open reads nothing (only a circuit's probe reaches the backend), so it costs
//! nothing.

use std::{sync::Mutex, time::Duration};

use rand::RngExt;
use tokio::time::Instant;

/// In thousandths of a retry: earned per load...
const PER_LOAD: u64 = 200;
/// ...earned per second, however few the loads...
const PER_SECOND: u64 = 10_000;
/// ...at most saved up, and the cost of one.
const MAX_SAVED: u64 = 100_000;
const ONE: u64 = 1000;
/// The first pause; each next one doubles, up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const MAX_PAUSE: Duration = Duration::from_millis(400);
/// No retry is started with less than this left before the deadline: it could not finish.
const MIN_LEFT: Duration = Duration::from_millis(20);

/// The budget of retries that reach a backend.
#[derive(Debug)]
pub(super) struct RetryBudget {
    /// Thousandths of a retry saved, and when time last added to them.
    state: Mutex<(u64, Instant)>,
}

impl RetryBudget {
    pub(super) fn new() -> Self {
        Self {
            state: Mutex::new((PER_SECOND, Instant::now())),
        }
    }

    /// A load started: it earns its share.
    pub(super) fn earn(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0 = (state.0 + PER_LOAD).min(MAX_SAVED);
    }

    /// Spends one retry if the budget has it.
    pub(super) fn try_spend(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let (tokens, since) = *state;
        let earned = u64::try_from((now - since).as_micros() * u128::from(PER_SECOND) / 1_000_000)
            .unwrap_or(MAX_SAVED);
        let tokens = tokens.saturating_add(earned).min(MAX_SAVED);
        let spent = tokens >= ONE;
        *state = (if spent { tokens - ONE } else { tokens }, now);
        spent
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
        let budget = RetryBudget::new();
        // Ten saved at start.
        assert_eq!((0..100).filter(|_| budget.try_spend()).count(), 10);
        for _ in 0..100 {
            budget.earn();
        }
        assert_eq!((0..100).filter(|_| budget.try_spend()).count(), 20);
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!((0..100).filter(|_| budget.try_spend()).count(), 5);
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
