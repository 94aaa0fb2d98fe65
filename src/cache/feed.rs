//! Following one backend database's change feed.
//!
//! The `change_feed` table is the truth; on Postgres, `NOTIFY c360_feed` only wakes the
//! follower (and a slow timer covers lost notifications), on SQLite a timer polls. Sequence
//! numbers are handed out when rows are written but become visible when transactions commit,
//! so a smaller number can appear after a larger one: the follower remembers the holes below
//! its highest number and reads them again until they fill or time out (rolled back).
//! Applying a change twice is harmless: it is an invalidation.

mod position;

use std::{collections::BTreeSet, sync::Arc, sync::atomic::Ordering, time::Duration};

use futures::future::BoxFuture;
use sqlx::postgres::PgListener;
use tokio::{sync::mpsc, time::Instant};

use self::position::Position;
use super::stats::FeedStats;
use crate::{
    db::{Bind, Db},
    telemetry::error_chain,
    vocab::CustomerId,
};

/// What a follower does with what it reads.
pub trait FeedSink: Send + Sync + 'static {
    /// These customers changed.
    fn customers_changed(&self, customers: Vec<CustomerId>) -> BoxFuture<'_, ()>;
    /// The catalog or the return policies changed.
    fn catalog_changed(&self) -> BoxFuture<'_, ()>;
    /// Changes may have been missed: drop everything cached.
    fn resync(&self);
}

/// How a follower follows.
#[derive(Debug, Clone, Copy)]
pub struct FeedConfig {
    /// SQLite: how often to read the feed. Postgres: how often to read it without a wake-up.
    pub poll_interval: Duration,
    /// Rows older than this are deleted.
    pub retention: Duration,
    /// How long a hole in the sequence may stay open before it counts as a rollback.
    pub gap_timeout: Duration,
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(100),
            retention: Duration::from_secs(3600),
            gap_timeout: Duration::from_secs(10),
        }
    }
}

/// Rows read per query.
const BATCH: i64 = 1000;
const PRUNE_EVERY: Duration = Duration::from_secs(60);
const RETRY_AFTER: Duration = Duration::from_secs(1);

const START_PG: &str = "SELECT COALESCE(MAX(seq), 0) FROM change_feed";
const START_SQLITE: &str = "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM change_feed";
const OLDEST: &str = "SELECT COALESCE(MIN(seq), 0) FROM change_feed";
const READ_PG: &str = "SELECT seq, source, customer_id, item, \
     CAST(EXTRACT(EPOCH FROM (clock_timestamp() - changed_at)) * 1000000 AS BIGINT) AS age_micros \
     FROM change_feed WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT 1000";
const READ_SQLITE: &str = "SELECT seq, source, customer_id, item, \
     (unixepoch() - changed_at) * 1000000 AS age_micros \
     FROM change_feed WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT 1000";
const PRUNE_PG: &str = "DELETE FROM change_feed WHERE changed_at < $1";
const PRUNE_SQLITE: &str = "DELETE FROM change_feed WHERE changed_at < $1";

#[derive(Debug, sqlx::FromRow)]
struct FeedRow {
    seq: i64,
    source: String,
    customer_id: Option<i64>,
    item: Option<String>,
    age_micros: i64,
}

/// Follows the feed of `db` until the task is dropped.
pub async fn follow(db: Db, sink: Arc<dyn FeedSink>, stats: Arc<FeedStats>, config: FeedConfig) {
    let mut follower = Follower {
        position: Position::new(0),
        db,
        sink,
        stats,
        config,
        failing: false,
    };
    let mut backoff = RETRY_AFTER;
    while let Err(error) = follower.start().await {
        tracing::warn!(database = %follower.stats.database, error = %error_chain(&error), ?backoff, "change feed unreadable (is migration 0002 applied?); retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
    tracing::info!(database = %follower.stats.database, position = follower.position.applied(), "following the change feed");
    match follower.db.clone() {
        Db::Postgres(pool) => follower.follow_notifications(pool).await,
        Db::Sqlite(_) => follower.follow_by_polling().await,
    }
}

struct Follower {
    db: Db,
    sink: Arc<dyn FeedSink>,
    stats: Arc<FeedStats>,
    config: FeedConfig,
    position: Position,
    failing: bool,
}

/// What the notification listener reports.
enum Wake {
    /// Something was committed.
    Changed,
    /// The connection dropped and came back: notifications may have been lost.
    Reconnected,
}

impl Follower {
    /// Starts from the feed's end: nothing is cached yet that could be out of date.
    async fn start(&mut self) -> Result<(), sqlx::Error> {
        let sql = match self.db {
            Db::Postgres(_) => START_PG,
            Db::Sqlite(_) => START_SQLITE,
        };
        let (end,): (i64,) = self.db.fetch_optional(sql, &[]).await?.unwrap_or((0,));
        self.position = Position::new(end);
        self.stats.position.store(end, Ordering::Relaxed);
        Ok(())
    }

    async fn follow_by_polling(mut self) {
        let mut poll = tokio::time::interval(self.config.poll_interval);
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        loop {
            tokio::select! {
                _ = poll.tick() => self.read().await,
                _ = prune.tick() => self.prune().await,
            }
        }
    }

    async fn follow_notifications(mut self, pool: sqlx::PgPool) {
        let (wake, mut woken) = mpsc::channel(1);
        let listener = tokio::spawn(listen(pool, wake));
        let mut poll =
            tokio::time::interval(self.config.poll_interval.max(Duration::from_millis(500)));
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        loop {
            tokio::select! {
                event = woken.recv() => match event {
                    Some(Wake::Changed) => self.read().await,
                    Some(Wake::Reconnected) => {
                        self.resync().await;
                        self.read().await;
                    }
                    None => break,
                },
                _ = poll.tick() => self.read().await,
                _ = prune.tick() => self.prune().await,
            }
        }
        listener.abort();
    }

    /// After a drop: whatever was missed is still in the table, unless it was pruned; flush
    /// L1 either way, as the bus and the feed may both have lost messages.
    async fn resync(&mut self) {
        tracing::warn!(database = %self.stats.database, "change feed reconnected: flushing L1");
        self.sink.resync();
        if let Ok(Some((oldest,))) = self.db.fetch_optional::<(i64,)>(OLDEST, &[]).await
            && oldest > self.position.applied() + 1
        {
            tracing::warn!(
                oldest,
                position = self.position.applied(),
                "change feed pruned past our position"
            );
        }
    }

    /// Applies every row not applied yet: the holes first, then what is new.
    async fn read(&mut self) {
        let read = async {
            if self.position.has_holes() {
                self.read_range(self.position.applied(), self.position.high())
                    .await?;
            }
            while self.read_range(self.position.high(), i64::MAX).await? {}
            Ok::<_, sqlx::Error>(())
        };
        match read.await {
            Ok(()) if self.failing => {
                self.failing = false;
                self.resync().await;
            }
            Ok(()) => {}
            Err(error) => {
                if !self.failing {
                    tracing::warn!(database = %self.stats.database, error = %error_chain(&error), "cannot read the change feed");
                }
                self.failing = true;
            }
        }
    }

    /// Applies rows with `after < seq <= upto`, a batch at most; true when there may be more.
    async fn read_range(&mut self, after: i64, upto: i64) -> Result<bool, sqlx::Error> {
        let sql = match self.db {
            Db::Postgres(_) => READ_PG,
            Db::Sqlite(_) => READ_SQLITE,
        };
        let rows: Vec<FeedRow> = self
            .db
            .fetch_all(sql, &[Bind::Int(after), Bind::Int(upto)])
            .await?;
        let full = rows.len() as i64 == BATCH;
        let mut customers = BTreeSet::new();
        let mut catalog = false;
        let mut newest_age = None;
        for row in &rows {
            if !self.position.accept(row.seq) {
                continue;
            }
            newest_age = Some(row.age_micros);
            match (row.source.as_str(), row.customer_id) {
                ("catalog", _) => catalog = true,
                (_, Some(id)) => customers.extend(CustomerId::new(id)),
                (source, None) => {
                    tracing::debug!(source, item = ?row.item, "change without a customer")
                }
            }
        }
        self.position
            .advance(Instant::now(), self.config.gap_timeout);
        let applied = customers.len() + usize::from(catalog);
        if !customers.is_empty() {
            self.sink
                .customers_changed(customers.into_iter().collect())
                .await;
        }
        if catalog {
            self.sink.catalog_changed().await;
        }
        self.stats
            .position
            .store(self.position.applied(), Ordering::Relaxed);
        self.stats
            .applied
            .fetch_add(applied as u64, Ordering::Relaxed);
        if let Some(age) = newest_age {
            self.stats
                .last_lag_micros
                .store(u64::try_from(age).unwrap_or(0), Ordering::Relaxed);
        }
        Ok(full)
    }

    async fn prune(&self) {
        let cutoff = chrono::Utc::now() - self.config.retention;
        let deleted = match self.db {
            Db::Postgres(_) => self.db.execute(PRUNE_PG, &[Bind::Time(cutoff)]).await,
            Db::Sqlite(_) => {
                self.db
                    .execute(PRUNE_SQLITE, &[Bind::Int(cutoff.timestamp())])
                    .await
            }
        };
        match deleted {
            Ok(0) => {}
            Ok(rows) => tracing::debug!(rows, "change feed pruned"),
            Err(error) => tracing::debug!(error = %error_chain(&error), "change feed prune failed"),
        }
    }
}

/// Listens for `c360_feed` notifications, reconnecting for ever; reports wake-ups and
/// reconnections. Runs in its own task, so that the follower never cancels a receive.
async fn listen(pool: sqlx::PgPool, wake: mpsc::Sender<Wake>) {
    let mut first = true;
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "cannot listen for changes; retrying");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        if let Err(error) = listener.listen("c360_feed").await {
            tracing::warn!(error = %error_chain(&error), "cannot listen for changes; retrying");
            tokio::time::sleep(RETRY_AFTER).await;
            continue;
        }
        if !first && wake.send(Wake::Reconnected).await.is_err() {
            return;
        }
        first = false;
        loop {
            let event = match listener.try_recv().await {
                Ok(Some(_)) => Wake::Changed,
                Ok(None) => Wake::Reconnected,
                Err(error) => {
                    tracing::warn!(error = %error_chain(&error), "change notifications lost; reconnecting");
                    break;
                }
            };
            // A full channel already holds a wake-up: one read covers both.
            match wake.try_send(event) {
                Ok(()) | Err(mpsc::error::TrySendError::Full(Wake::Changed)) => {}
                Err(mpsc::error::TrySendError::Full(Wake::Reconnected)) => {
                    if wake.send(Wake::Reconnected).await.is_err() {
                        return;
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
        tokio::time::sleep(RETRY_AFTER).await;
    }
}
