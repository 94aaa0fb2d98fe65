//! What a watch of the queue streams: the history of transitions, tailed once per replica and
//! shared by every watcher; each watcher catches up from the history itself when it resumes
//! or falls behind, so none loses a transition.
//!
//! Ids in the history are given when a transition is written but seen when it commits, and
//! two replicas' writes may commit out of order: a transition with a lower id can appear after
//! a higher one was read. The tail therefore keeps a *settled* point — every id at or below it
//! has been read, or its gap waited out ([`GAP_WAIT`]: an id whose write rolled back never
//! appears) — and resuming after a settled point reads everything above it again. A watcher
//! may thus see a transition twice, never miss one; each carries its item as it is now, so
//! applying one twice is harmless.

use std::{
    collections::BTreeSet,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::broadcast;

use super::store::{Store, queue::Recorded};

/// How often the history is read for new transitions.
const POLL_EVERY: Duration = Duration::from_millis(200);

/// How long a missing id is waited for before it is taken for one that never commits.
const GAP_WAIT: Duration = Duration::from_secs(5);

/// Most transitions read at once.
pub const BATCH: i64 = 1000;

/// Transitions held for watchers that have not taken them yet; one further behind catches
/// up from the history.
const BACKLOG: usize = 4096;

/// The settled point before the history has been read.
const UNREAD: i64 = -1;

/// A transition, and the settled point a watch resumes after to miss nothing up to it.
#[derive(Debug, Clone)]
pub struct Tailed {
    /// The transition, with its item now.
    pub recorded: Recorded,
    /// Resume after this to see everything after this transition.
    pub resume_after: i64,
}

/// The history, tailed.
#[derive(Debug)]
pub struct Tail {
    store: Store,
    settled: AtomicI64,
    events: broadcast::Sender<Arc<Tailed>>,
}

impl Tail {
    /// A tail of `store`'s history; it begins at the last transition once [`Self::run`]
    /// has read it.
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(Self {
            store,
            settled: AtomicI64::new(UNREAD),
            events: broadcast::channel(BACKLOG).0,
        })
    }

    /// The store tailed.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Every id at or below it has been sent to subscribers; negative until the history
    /// has been read once.
    pub fn settled(&self) -> i64 {
        self.settled.load(Ordering::Acquire)
    }

    /// Transitions from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Tailed>> {
        self.events.subscribe()
    }

    /// Tails the history until the task is dropped.
    pub async fn run(self: Arc<Self>) {
        let mut gaps = Gaps::default();
        let mut ticks = tokio::time::interval(POLL_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if self.settled() == UNREAD {
                match self.store.last_recorded().await {
                    Ok(last) => self.settled.store(last, Ordering::Release),
                    Err(error) => {
                        tracing::warn!(%error, "attention: the queue's history could not be read");
                    }
                }
                continue;
            }
            if let Err(error) = self.poll(&mut gaps, Instant::now()).await {
                tracing::warn!(%error, "attention: the queue's history could not be read");
            }
        }
    }

    /// Reads what was recorded since the settled point, sends what is new, and settles as far
    /// as it can.
    async fn poll(&self, gaps: &mut Gaps, now: Instant) -> Result<(), sqlx::Error> {
        loop {
            let read = self.store.recorded_after(self.settled(), BATCH).await?;
            let full = read.len() as i64 == BATCH;
            let mut settled = self.settled();
            for recorded in read {
                if !gaps.seen.insert(recorded.id) {
                    continue;
                }
                settled = gaps.settle(settled);
                let tailed = Tailed {
                    recorded,
                    resume_after: settled,
                };
                // No watcher is no error.
                let _watchers = self.events.send(Arc::new(tailed));
            }
            settled = gaps.wait_out(settled, now);
            self.settled.store(settled, Ordering::Release);
            if !full || gaps.waiting.is_some() {
                return Ok(());
            }
        }
    }
}

/// Ids read above the settled point, and the gap waited on.
#[derive(Debug, Default)]
struct Gaps {
    seen: BTreeSet<i64>,
    waiting: Option<(i64, Instant)>,
}

impl Gaps {
    /// The settled point moved past every id read in a row after `settled`.
    fn settle(&mut self, mut settled: i64) -> i64 {
        while self.seen.remove(&(settled + 1)) {
            settled += 1;
        }
        settled
    }

    /// The settled point moved past a gap waited on for [`GAP_WAIT`] by `now`.
    fn wait_out(&mut self, settled: i64, now: Instant) -> i64 {
        let Some(&next) = self.seen.first() else {
            self.waiting = None;
            return settled;
        };
        match self.waiting {
            Some((gap, since)) if gap == settled + 1 && now.duration_since(since) >= GAP_WAIT => {
                self.waiting = None;
                let settled = self.settle(next - 1);
                self.wait_out(settled, now)
            }
            Some((gap, _)) if gap == settled + 1 => settled,
            _ => {
                self.waiting = Some((settled + 1, now));
                settled
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settled_point_waits_for_a_gap_then_passes_it() {
        let mut gaps = Gaps::default();
        let t0 = Instant::now();
        // 1 and 2 read: settled at 2.
        gaps.seen.extend([1, 2]);
        let settled = gaps.settle(0);
        assert_eq!(gaps.wait_out(settled, t0), 2);
        // 4 and 5 read, 3 not yet: settled stays at 2 while 3 may still commit.
        gaps.seen.extend([4, 5]);
        let settled = gaps.settle(2);
        assert_eq!(settled, 2);
        assert_eq!(gaps.wait_out(settled, t0), 2);
        assert_eq!(gaps.wait_out(2, t0 + GAP_WAIT / 2), 2);
        // 3 commits late: everything settles.
        gaps.seen.insert(3);
        assert_eq!(gaps.settle(2), 5);
        assert!(gaps.seen.is_empty());
        // 7 read, 6 never commits: passed once waited out, and not before.
        gaps.seen.insert(7);
        assert_eq!(gaps.wait_out(5, t0), 5);
        assert_eq!(
            gaps.wait_out(5, t0 + GAP_WAIT - Duration::from_millis(1)),
            5
        );
        assert_eq!(gaps.wait_out(5, t0 + GAP_WAIT), 7);
        assert!(gaps.seen.is_empty() && gaps.waiting.is_none());
    }
}
