//! The outermost layer of a backend's read stack: when a read must end — the earlier of the
//! backend's own timeout and the caller's deadline — and no read started once that has passed.

use std::{future::Future, time::Duration};

use tokio::time::{Instant, error::Elapsed};

use super::Failure;

/// When one read must end.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReadDeadline {
    at: Instant,
    /// The backend's own timeout, not the caller's deadline: only then does a read cut short
    /// say something about the backend.
    own: bool,
}

impl ReadDeadline {
    /// The deadline of a read starting now, of a backend whose reads may take `timeout`, for
    /// a caller whose deadline is `caller`; [`Failure::Timeout`] when that has passed already.
    pub(super) fn start(timeout: Duration, caller: Option<Instant>) -> Result<Self, Failure> {
        let now = Instant::now();
        let own = now + timeout;
        let deadline = match caller {
            Some(caller) if caller < own => Self {
                at: caller,
                own: false,
            },
            _ => Self { at: own, own: true },
        };
        match deadline.at > now {
            true => Ok(deadline),
            false => Err(Failure::Timeout),
        }
    }

    /// `read`, or [`Elapsed`] once the deadline passes.
    pub(super) async fn bound<T>(&self, read: impl Future<Output = T>) -> Result<T, Elapsed> {
        tokio::time::timeout_at(self.at, read).await
    }

    /// Whether it is the backend's own timeout rather than the caller's deadline.
    pub(super) fn is_own(&self) -> bool {
        self.own
    }
}
