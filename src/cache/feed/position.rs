//! Where a follower stands in a feed whose sequence numbers can become visible out of order.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use tokio::time::Instant;

/// Every change up to `applied` is applied (or was a rollback); above it, `seen` are applied
/// and the numbers in between are holes that may still fill.
#[derive(Debug)]
pub(super) struct Position {
    applied: i64,
    seen: BTreeSet<i64>,
    holes: BTreeMap<i64, Instant>,
}

impl Position {
    /// At `applied`, nothing seen above it.
    pub(super) fn new(applied: i64) -> Self {
        Self {
            applied,
            seen: BTreeSet::new(),
            holes: BTreeMap::new(),
        }
    }

    /// Every change up to here is applied.
    pub(super) fn applied(&self) -> i64 {
        self.applied
    }

    /// The highest change applied.
    pub(super) fn high(&self) -> i64 {
        self.seen
            .last()
            .copied()
            .unwrap_or(self.applied)
            .max(self.applied)
    }

    /// Whether some number below [`Self::high`] has not been seen.
    pub(super) fn has_holes(&self) -> bool {
        self.high() > self.applied
    }

    /// Records `seq`; true if it is new and must be applied.
    pub(super) fn accept(&mut self, seq: i64) -> bool {
        seq > self.applied && self.seen.insert(seq)
    }

    /// Moves `applied` past everything seen, and past holes open longer than `timeout`.
    pub(super) fn advance(&mut self, now: Instant, timeout: Duration) {
        let high = self.high();
        for seq in self.applied + 1..high {
            if !self.seen.contains(&seq) {
                self.holes.entry(seq).or_insert(now);
            }
        }
        loop {
            let next = self.applied + 1;
            let timed_out = self
                .holes
                .get(&next)
                .is_some_and(|since| now.duration_since(*since) >= timeout);
            if !(self.seen.remove(&next) || timed_out) {
                break;
            }
            self.holes.remove(&next);
            self.applied = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(10);

    #[test]
    fn in_order_changes_move_the_position_along() {
        let mut position = Position::new(4);
        let now = Instant::now();
        assert!(position.accept(5) && position.accept(6));
        position.advance(now, TIMEOUT);
        assert_eq!((position.applied(), position.high()), (6, 6));
        assert!(!position.accept(6), "a change is applied once");
        assert!(!position.accept(3), "nothing below the position");
    }

    #[test]
    fn a_late_commit_below_a_seen_change_is_still_applied() {
        let mut position = Position::new(0);
        let now = Instant::now();
        // 2 committed before 1: the follower sees 2 and a hole at 1.
        assert!(position.accept(2));
        position.advance(now, TIMEOUT);
        assert_eq!(position.applied(), 0);
        assert!(position.has_holes());
        // 1 commits later and is read from the hole.
        assert!(position.accept(1));
        position.advance(now, TIMEOUT);
        assert_eq!(position.applied(), 2);
        assert!(!position.has_holes());
    }

    #[test]
    fn a_hole_that_never_fills_was_a_rollback_and_is_passed_after_the_timeout() {
        let mut position = Position::new(0);
        let start = Instant::now();
        assert!(position.accept(2));
        position.advance(start, TIMEOUT);
        position.advance(start + Duration::from_secs(9), TIMEOUT);
        assert_eq!(position.applied(), 0);
        position.advance(start + TIMEOUT, TIMEOUT);
        assert_eq!(position.applied(), 2);
    }
}
