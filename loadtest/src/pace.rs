//! Open-loop pacing: request `i` falls due at `start + i / rps`.
//!
//! tokio's timers tick in whole milliseconds and round up, so workers sleeping on them would
//! send each millisecond's requests up to a millisecond late and all at once: a delay and a
//! burst made by the generator, counted as the server's latency. The pacer is a thread that
//! sleeps on the operating system's microsecond timers instead and releases each request as
//! it falls due; workers wait for a release, then take the next request number.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use tokio::sync::Semaphore;

/// The longest the pacer sleeps before it looks at `stop` again.
const LOOK_AGAIN: Duration = Duration::from_millis(10);
/// The shortest sleep: at high rates requests are released in small groups, as each wake-up
/// costs CPU the server may be sharing (a request waits at most this long past its time).
const QUANTUM: Duration = Duration::from_micros(200);

/// Releases requests at their planned times until it is dropped.
#[derive(Debug)]
pub(crate) struct Pacer {
    released: Arc<Semaphore>,
    done: Arc<AtomicBool>,
}

/// When the pacer stops releasing requests on time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    /// Requests per second.
    pub(crate) rps: f64,
    /// Request numbers at or past this are never due.
    pub(crate) total: Option<u64>,
    /// Requests planned at or after this are never due.
    pub(crate) end: Option<Instant>,
    /// Workers waiting for releases: at the end each is released once more, to see it is over.
    pub(crate) workers: usize,
}

impl Pacer {
    /// Starts releasing: request 0 is due at `started`. `stop` ends the schedule early.
    pub(crate) fn start(started: Instant, schedule: Schedule, stop: Arc<AtomicBool>) -> Self {
        let released = Arc::new(Semaphore::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let (permits, finished) = (released.clone(), done.clone());
        let pace = move || {
            let Schedule {
                rps,
                total,
                end,
                workers,
            } = schedule;
            let mut given = 0u64;
            loop {
                if stop.load(Ordering::Relaxed) || finished.load(Ordering::Relaxed) {
                    break;
                }
                // Requests 0..=n are due once n / rps has passed.
                let now = Instant::now();
                let due = (now.duration_since(started).as_secs_f64() * rps) as u64 + 1;
                let due = total.map_or(due, |total| due.min(total));
                if due > given {
                    permits.add_permits(usize::try_from(due - given).unwrap_or(usize::MAX));
                    given = due;
                }
                let next = started + Duration::from_secs_f64(given as f64 / rps);
                if total.is_some_and(|total| given >= total) || end.is_some_and(|end| next >= end) {
                    break;
                }
                let wait = next.saturating_duration_since(now);
                thread::sleep(wait.max(QUANTUM).min(LOOK_AGAIN));
            }
            // Each worker takes one more number, finds it past the end, and stops.
            permits.add_permits(workers);
        };
        if thread::Builder::new()
            .name("pacer".into())
            .spawn(pace)
            .is_err()
        {
            // No thread: release everyone, and the workers find out from their numbers.
            released.add_permits(schedule.workers);
            done.store(true, Ordering::Relaxed);
        }
        Self { released, done }
    }

    /// Waits until the next request falls due (or the schedule is over).
    pub(crate) async fn due(&self) {
        if let Ok(permit) = self.released.acquire().await {
            permit.forget();
        }
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(rps: f64, total: Option<u64>, end: Option<Instant>) -> Schedule {
        Schedule {
            rps,
            total,
            end,
            workers: 1,
        }
    }

    #[tokio::test]
    async fn no_request_is_released_before_it_is_due() {
        let started = Instant::now();
        let pacer = Pacer::start(
            started,
            schedule(2_000.0, Some(100), None),
            Arc::new(AtomicBool::new(false)),
        );
        for i in 0..100u32 {
            pacer.due().await;
            let planned = started + Duration::from_secs_f64(f64::from(i) / 2_000.0);
            assert!(Instant::now() >= planned, "request {i} released early");
        }
    }

    #[tokio::test]
    async fn after_the_total_each_worker_is_released_once_to_see_the_end() {
        let pacer = Pacer::start(
            Instant::now(),
            Schedule {
                workers: 3,
                ..schedule(1e6, Some(5), None)
            },
            Arc::new(AtomicBool::new(false)),
        );
        for _ in 0..8 {
            pacer.due().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(pacer.released.available_permits(), 0, "5 requests + 3 ends");
    }

    #[tokio::test]
    async fn a_stop_releases_the_waiting_workers() {
        let stop = Arc::new(AtomicBool::new(false));
        // One request an hour: without the stop, the second would wait that long.
        let pacer = Pacer::start(
            Instant::now(),
            Schedule {
                workers: 2,
                ..schedule(1.0 / 3600.0, None, None)
            },
            stop.clone(),
        );
        pacer.due().await;
        stop.store(true, Ordering::Relaxed);
        tokio::time::timeout(Duration::from_secs(10), async {
            pacer.due().await;
            pacer.due().await;
        })
        .await
        .expect("released by the stop");
    }
}
