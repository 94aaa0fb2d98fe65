//! A circuit breaker per backend: after `failures` reads in a row fail, reads of that backend
//! are refused at once for `cooldown`; then one read at a time goes through as a probe, and the
//! first that answers closes the circuit again. A dead backend then costs microseconds per
//! miss instead of its whole timeout, and is not hammered while it recovers.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

/// Where a circuit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Reads go through.
    Closed,
    /// Reads are refused.
    Open,
    /// One probe is (or may be) on its way; the others are refused.
    HalfOpen,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { failed_in_a_row: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// One backend's circuit.
#[derive(Debug)]
pub(super) struct Breaker {
    /// Reads in a row that must fail for the circuit to open; 0 never opens it.
    failures: u32,
    /// How long an open circuit refuses reads before it lets a probe through.
    cooldown: Duration,
    state: Mutex<State>,
    /// Reads refused because the circuit was open.
    refused: AtomicU64,
    /// Times the circuit opened.
    opened: AtomicU64,
}

/// A read the breaker let through; tell it how the read went with [`Attempt::finish`]. Dropped
/// unfinished (its caller went away), it counts for nothing, and a probe lets the next read
/// probe instead.
#[derive(Debug)]
#[must_use = "an attempt reports how the read went"]
pub(super) struct Attempt<'a> {
    breaker: &'a Breaker,
    probe: bool,
    finished: bool,
}

impl Breaker {
    /// A circuit that opens after `failures` reads in a row fail (0: never) and refuses
    /// reads for `cooldown` before it lets a probe through.
    pub(super) fn new(failures: u32, cooldown: Duration) -> Self {
        Self {
            failures,
            cooldown,
            state: Mutex::new(State::Closed { failed_in_a_row: 0 }),
            refused: AtomicU64::new(0),
            opened: AtomicU64::new(0),
        }
    }

    /// Whether a read may go now: `None` while the circuit is open (the refusal is counted).
    pub(super) fn attempt(&self) -> Option<Attempt<'_>> {
        let mut state = self.lock();
        let probe = match *state {
            State::Closed { .. } => false,
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen { probing: true };
                true
            }
            State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
                true
            }
            State::Open { .. } | State::HalfOpen { probing: true } => {
                drop(state);
                self.refused.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        Some(Attempt {
            breaker: self,
            probe,
            finished: false,
        })
    }

    /// Where the circuit stands now.
    pub(super) fn state(&self) -> CircuitState {
        match *self.lock() {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { until } if Instant::now() < until => CircuitState::Open,
            State::Open { .. } | State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Reads refused since start.
    pub(super) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Times the circuit opened since start.
    pub(super) fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value, whole after any panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Returns whether the circuit opened (from closed) just now.
    fn record(&self, probe: bool, answered: bool) -> bool {
        let mut state = self.lock();
        let open = |state: &mut State| {
            *state = State::Open {
                until: Instant::now() + self.cooldown,
            };
            self.opened.fetch_add(1, Ordering::Relaxed);
        };
        match (*state, answered) {
            (_, true) => *state = State::Closed { failed_in_a_row: 0 },
            // A failed probe: open again for another cooldown.
            (State::HalfOpen { .. }, false) if probe => open(&mut state),
            (State::Closed { failed_in_a_row }, false) => {
                let failed_in_a_row = failed_in_a_row.saturating_add(1);
                match self.failures {
                    limit if limit > 0 && failed_in_a_row >= limit => {
                        open(&mut state);
                        return true;
                    }
                    _ => *state = State::Closed { failed_in_a_row },
                }
            }
            // A read started before the circuit opened, failing late: already counted.
            (State::Open { .. } | State::HalfOpen { .. }, false) => {}
        }
        false
    }
}

impl Attempt<'_> {
    /// The read answered (`true`) or failed for the backend's own sake (`false`). Returns
    /// whether that opened the circuit.
    pub(super) fn finish(mut self, answered: bool) -> bool {
        self.finished = true;
        self.breaker.record(self.probe, answered)
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if self.probe && !self.finished {
            let mut state = self.breaker.lock();
            if let State::HalfOpen { .. } = *state {
                *state = State::HalfOpen { probing: false };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_millis(500);

    fn breaker() -> Breaker {
        Breaker::new(3, COOLDOWN)
    }

    fn fail(breaker: &Breaker) {
        let _opened = breaker.attempt().expect("let through").finish(false);
    }

    fn answer(breaker: &Breaker) {
        assert!(!breaker.attempt().expect("let through").finish(true));
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_the_failures_in_a_row_and_refuses_until_the_cooldown() {
        let breaker = breaker();
        fail(&breaker);
        fail(&breaker);
        // An answer in between starts the count again.
        answer(&breaker);
        fail(&breaker);
        fail(&breaker);
        assert_eq!(breaker.state(), CircuitState::Closed);
        assert!(breaker.attempt().expect("closed").finish(false), "opened");
        assert_eq!(breaker.state(), CircuitState::Open);
        assert_eq!(breaker.opened(), 1);
        assert!(breaker.attempt().is_none());
        assert!(breaker.attempt().is_none());
        assert_eq!(breaker.refused(), 2);
        tokio::time::advance(COOLDOWN - Duration::from_millis(1)).await;
        assert!(breaker.attempt().is_none());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
    }

    #[tokio::test(start_paused = true)]
    async fn lets_one_probe_at_a_time_and_closes_when_it_answers() {
        let breaker = breaker();
        (0..3).for_each(|_| fail(&breaker));
        tokio::time::advance(COOLDOWN).await;
        let probe = breaker.attempt().expect("a probe");
        assert!(breaker.attempt().is_none(), "one probe at a time");
        assert!(!probe.finish(true));
        assert_eq!(breaker.state(), CircuitState::Closed);
        assert!(breaker.attempt().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_opens_it_for_another_cooldown() {
        let breaker = breaker();
        (0..3).for_each(|_| fail(&breaker));
        tokio::time::advance(COOLDOWN).await;
        fail(&breaker);
        assert_eq!(breaker.state(), CircuitState::Open);
        assert_eq!(breaker.opened(), 2);
        tokio::time::advance(COOLDOWN).await;
        assert!(breaker.attempt().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_probe_lets_the_next_read_probe() {
        let breaker = breaker();
        (0..3).for_each(|_| fail(&breaker));
        tokio::time::advance(COOLDOWN).await;
        drop(breaker.attempt().expect("a probe"));
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        answer(&breaker);
        assert_eq!(breaker.state(), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn late_failures_of_reads_started_before_it_opened_do_not_reopen_it() {
        let breaker = breaker();
        let late: Vec<_> = (0..5).map(|_| breaker.attempt().expect("closed")).collect();
        let opened: Vec<_> = late.into_iter().map(|a| a.finish(false)).collect();
        assert_eq!(opened, [false, false, true, false, false]);
        assert_eq!(breaker.opened(), 1);
    }

    #[test]
    fn zero_failures_never_opens_it() {
        let breaker = Breaker::new(0, COOLDOWN);
        (0..100).for_each(|_| fail(&breaker));
        assert_eq!(breaker.state(), CircuitState::Closed);
    }
}
