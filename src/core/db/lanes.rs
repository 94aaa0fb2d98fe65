//! The Postgres connections the backends' reads run on, held by c360 itself rather than by
//! sqlx's pool: the pool pings every connection it takes back (a round trip, in a task of its
//! own, that cannot be turned off), which cost each statement of a miss a second round trip
//! and a thread wake-up on both sides of the socket (BENCHMARKS.md, "A miss against the
//! backends' own limit"). A lane is one connection; a statement takes the lowest free lane, so
//! that a quiet replica keeps few connections open, and gives it back without a word to the
//! database.
//!
//! A lane's connection is pinged only when there is a reason to doubt it: it sat idle long
//! enough for a firewall or a restart to have cut it, or the statement before was abandoned
//! half-way (its caller's deadline passed, or a hedge won), which may leave replies unread.
//! A connection that failed is dropped and the next statement on its lane connects afresh; one
//! older than [`MAX_LIFETIME`] is replaced, so that connections follow a failover.

use std::{
    sync::atomic::{AtomicBool, AtomicU32, Ordering},
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use sqlx::{
    ConnectOptions, Connection,
    postgres::{PgConnectOptions, PgConnection},
};
use tokio::sync::{Mutex, MutexGuard, Semaphore};

use super::PoolStatus;

/// A connection idle this long is pinged before its next statement.
pub(super) const PING_IDLE_AFTER: Duration = Duration::from_secs(10);

/// A connection this old is closed and replaced before its next statement.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// Connections to one Postgres database, at most one statement on each at a time.
#[derive(Debug)]
pub struct Lanes {
    connect: PgConnectOptions,
    lanes: Box<[Mutex<Lane>]>,
    /// One permit per lane: a statement holding one is sure to find a lane free.
    free: Semaphore,
    acquire_timeout: Duration,
    open: AtomicU32,
    closed: AtomicBool,
}

#[derive(Debug, Default)]
struct Lane {
    connection: Option<Held>,
}

#[derive(Debug)]
struct Held {
    connection: PgConnection,
    opened: Instant,
    last_used: Instant,
    /// A statement began on it and has not finished: its replies may still be on the wire.
    unfinished: bool,
}

impl Lanes {
    /// `size` lanes to the database of `connect`; none is opened before it is needed.
    pub(super) fn new(connect: PgConnectOptions, size: u32, acquire_timeout: Duration) -> Self {
        let size = size.max(1);
        Self {
            connect,
            lanes: (0..size).map(|_| Mutex::new(Lane::default())).collect(),
            free: Semaphore::new(size as usize),
            acquire_timeout,
            open: AtomicU32::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Runs `statement` on a free lane's connection, waiting at most the acquire timeout for
    /// one (`PoolTimedOut`, as sqlx's pool answers).
    pub(super) async fn run<T>(
        &self,
        statement: impl for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        let _permit = tokio::time::timeout(self.acquire_timeout, self.free.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        if self.closed.load(Ordering::Acquire) {
            return Err(sqlx::Error::PoolClosed);
        }
        let mut lane = self.take_free_lane()?;
        let held = self.ready(&mut lane).await?;
        held.unfinished = true;
        let result = statement(&mut held.connection).await;
        held.unfinished = false;
        held.last_used = Instant::now();
        if result.as_ref().is_err_and(breaks_connection) {
            self.drop_connection(&mut lane);
        }
        result
    }

    /// The lowest lane nobody holds. The permit guarantees one: there are as many permits
    /// as lanes, and a lane is let go before its permit.
    fn take_free_lane(&self) -> Result<MutexGuard<'_, Lane>, sqlx::Error> {
        self.lanes
            .iter()
            .find_map(|lane| lane.try_lock().ok())
            .ok_or(sqlx::Error::PoolTimedOut)
    }

    /// The lane's connection, opened, replaced or checked first if it has to be.
    async fn ready<'l>(&self, lane: &'l mut Lane) -> Result<&'l mut Held, sqlx::Error> {
        let doubtful = lane.connection.as_ref().map(|held| {
            (
                held.opened.elapsed() >= MAX_LIFETIME,
                held.unfinished || held.last_used.elapsed() >= PING_IDLE_AFTER,
            )
        });
        match doubtful {
            Some((true, _)) => {
                if let Some(held) = self.take_connection(lane) {
                    // A graceful goodbye, but not at the cost of the statement waiting.
                    tokio::spawn(held.connection.close());
                }
            }
            Some((false, true)) => {
                let alive = match lane.connection.as_mut() {
                    Some(held) => held.connection.ping().await.is_ok(),
                    None => false,
                };
                if !alive {
                    self.drop_connection(lane);
                }
            }
            _ => {}
        }
        if lane.connection.is_none() {
            let connection = tokio::time::timeout(self.acquire_timeout, self.connect.connect())
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)??;
            let now = Instant::now();
            lane.connection = Some(Held {
                connection,
                opened: now,
                last_used: now,
                unfinished: false,
            });
            self.open.fetch_add(1, Ordering::Relaxed);
        }
        lane.connection.as_mut().ok_or(sqlx::Error::PoolClosed)
    }

    fn take_connection(&self, lane: &mut Lane) -> Option<Held> {
        let held = lane.connection.take();
        if held.is_some() {
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
        held
    }

    /// Forgets a connection that failed: dropping it closes its socket.
    fn drop_connection(&self, lane: &mut Lane) {
        drop(self.take_connection(lane));
    }

    /// Its connections now.
    pub(super) fn status(&self) -> PoolStatus {
        let max = u32::try_from(self.lanes.len()).unwrap_or(u32::MAX);
        let size = self.open.load(Ordering::Relaxed);
        let busy = max.saturating_sub(u32::try_from(self.free.available_permits()).unwrap_or(0));
        PoolStatus {
            size,
            idle: size.saturating_sub(busy),
            max,
        }
    }

    /// Closes every connection, once its statement is done; statements after this fail with
    /// `PoolClosed`.
    pub(super) async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        for lane in &self.lanes {
            let mut lane = lane.lock().await;
            if let Some(held) = self.take_connection(&mut lane) {
                // Closing is a courtesy to the server: a failure leaves nothing to do.
                let _ = held.connection.close().await;
            }
        }
    }
}

/// Whether a statement's error leaves its connection unusable: the socket or the protocol
/// failed, or the server ended the session (class 08, connection exceptions; class 57P, the
/// server shutting down or an administrator terminating it). The database's other refusals,
/// and a row that did not decode, leave it as it was.
fn breaks_connection(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(error) => error
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}
