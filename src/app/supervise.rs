//! Background tasks kept running. The change feeds, the bus, the L2 repair and the catalog
//! refresh are what keep the caches honest: one that panics or ends is logged, reported down
//! (health says `NOT_SERVING` meanwhile, see [`super::Readiness`]) and started again after a
//! backoff — 1 s, doubling to 30 s, back to 1 s once a run has lasted a minute.

use std::{future::Future, time::Duration};

use tokio::{sync::watch, task::JoinHandle, time::Instant};

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A run this long was healthy: the next failure starts the backoff over.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// A supervised task's state, for readiness: whether it runs, as it changes.
#[derive(Debug, Clone)]
pub(super) struct TaskState {
    pub(super) name: &'static str,
    pub(super) up: watch::Receiver<bool>,
}

/// Aborts the task it holds when dropped: a supervisor that is aborted takes its task along.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs what `make` returns, again and again, as described in the module documentation;
/// `on_down` runs each time the task stops.
pub(super) fn supervise<F, Fut>(
    name: &'static str,
    mut make: F,
    on_down: impl Fn() + Send + 'static,
) -> (JoinHandle<()>, TaskState)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let up = watch::Sender::new(true);
    let state = TaskState {
        name,
        up: up.subscribe(),
    };
    let supervisor = tokio::spawn(async move {
        let mut backoff = FIRST_BACKOFF;
        loop {
            up.send_replace(true);
            let started = Instant::now();
            let mut task = AbortOnDrop(tokio::spawn(make()));
            let outcome = (&mut task.0).await;
            up.send_replace(false);
            on_down();
            match outcome {
                Err(error) if error.is_panic() => {
                    tracing::error!(task = name, "background task panicked; restarting it")
                }
                Err(_) => return,
                Ok(()) => tracing::warn!(task = name, "background task ended; restarting it"),
            }
            if started.elapsed() >= HEALTHY_RUN {
                backoff = FIRST_BACKOFF;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    });
    (supervisor, state)
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_task_that_panics_is_reported_down_and_started_again_after_a_backoff() {
        let runs = Arc::new(AtomicUsize::new(0));
        let downs = Arc::new(AtomicUsize::new(0));
        // Held by each run while it lives.
        let alive = Arc::new(());
        let (supervisor, state) = supervise(
            "test",
            {
                let (runs, alive) = (runs.clone(), alive.clone());
                move || {
                    let run = runs.fetch_add(1, Ordering::SeqCst);
                    let alive = alive.clone();
                    async move {
                        let _alive = alive;
                        if run == 0 {
                            panic!("the first run fails");
                        }
                        std::future::pending::<()>().await;
                    }
                }
            },
            {
                let downs = downs.clone();
                move || {
                    downs.fetch_add(1, Ordering::SeqCst);
                }
            },
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!*state.up.borrow(), "down during the backoff");
        assert_eq!(downs.load(Ordering::SeqCst), 1);
        tokio::time::sleep(FIRST_BACKOFF).await;
        assert!(*state.up.borrow(), "up again");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(
            Arc::strong_count(&alive),
            3,
            "the test, the factory, the run"
        );
        // Aborting the supervisor stops the task too.
        supervisor.abort();
        let _ = supervisor.await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(Arc::strong_count(&alive), 1, "the run was left running");
    }
}
