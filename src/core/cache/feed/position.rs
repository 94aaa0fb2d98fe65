//! Where a follower stands in a feed whose changes become visible out of order.
//!
//! Sequence numbers are taken when rows are written but become visible when their
//! transactions commit, so a smaller number can appear after a larger one, seconds or hours
//! later. No timer can tell a late commit from a rollback; the database can. On Postgres each
//! row carries its transaction's id, and every transaction below the oldest one still running
//! (`pg_snapshot_xmin(pg_current_snapshot())`) has committed or rolled back for good: its rows
//! are all visible, or never will be. That id is the *horizon*: changes below it are settled,
//! changes at or above it are applied as they appear and remembered, so that none is applied
//! twice, until the horizon passes them. On SQLite writers are serialised (one write
//! transaction at a time, holding the lock from its first write to its commit), so rows
//! become visible in sequence order: a row's "transaction" is its sequence number, and
//! everything read is settled at once.

use std::collections::BTreeSet;

/// See the module documentation.
#[derive(Debug)]
pub(super) struct Position {
    /// Every change of a transaction below this is applied (or was rolled back).
    horizon: i64,
    /// Changes applied at or above the horizon, as (transaction, sequence number).
    unsettled: BTreeSet<(i64, i64)>,
    /// The highest sequence number read.
    high: i64,
}

impl Position {
    /// Changes below `horizon` settled; nothing read above `high` yet.
    pub(super) fn new(horizon: i64, high: i64) -> Self {
        Self {
            horizon,
            unsettled: BTreeSet::new(),
            high,
        }
    }

    /// The highest sequence number read.
    pub(super) fn high(&self) -> i64 {
        self.high
    }

    /// Every change of a transaction below this is applied.
    pub(super) fn horizon(&self) -> i64 {
        self.horizon
    }

    /// Changes applied that the horizon has not passed yet.
    pub(super) fn unsettled(&self) -> usize {
        self.unsettled.len()
    }

    /// Records the change `seq` of transaction `xid`; true if it is new and must be applied.
    pub(super) fn accept(&mut self, xid: i64, seq: i64) -> bool {
        self.high = self.high.max(seq);
        xid >= self.horizon && self.unsettled.insert((xid, seq))
    }

    /// Every transaction below `horizon` is over: forgets the changes it settles.
    pub(super) fn settle(&mut self, horizon: i64) {
        if horizon > self.horizon {
            self.horizon = horizon;
            self.unsettled = self.unsettled.split_off(&(horizon, i64::MIN));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_applied_once_however_often_it_is_read() {
        let mut position = Position::new(100, 4);
        assert!(position.accept(100, 5) && position.accept(101, 6));
        assert!(!position.accept(100, 5), "read again before it settled");
        assert_eq!((position.high(), position.unsettled()), (6, 2));
        position.settle(101);
        assert_eq!(position.unsettled(), 1);
        assert!(!position.accept(100, 5), "read again after it settled");
        assert!(!position.accept(101, 6));
    }

    #[test]
    fn a_late_commit_below_the_highest_number_read_is_still_applied() {
        // Transaction 100 took sequence number 5 and is still open; 101 took 6 and committed.
        let mut position = Position::new(100, 4);
        assert!(position.accept(101, 6));
        // The horizon cannot pass 100 while it runs, however long that is.
        position.settle(100);
        // It commits: its row appears below the highest number read, and is applied.
        assert!(position.accept(100, 5));
        assert_eq!(position.high(), 6);
        position.settle(102);
        assert_eq!((position.horizon(), position.unsettled()), (102, 0));
    }

    #[test]
    fn the_horizon_never_moves_back() {
        let mut position = Position::new(100, 0);
        position.settle(90);
        assert_eq!(position.horizon(), 100);
        assert!(
            !position.accept(95, 1),
            "below the horizon: settled already"
        );
    }
}
