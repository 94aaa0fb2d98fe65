//! Following a database by the triggers of migration 0002: the `change_feed` table is the
//! truth; on Postgres, `NOTIFY c360_feed` only wakes the follower, on SQLite a timer polls.
//! Changes can become visible out of sequence order (see `position.rs`): on Postgres the
//! follower reads what is new on each wake-up, and on a short timer re-reads every change not
//! yet below the transaction horizon, so that a transaction that commits late — after a
//! second or after an hour — is applied when it commits. Applying a change twice is harmless:
//! it is an invalidation.

use std::{sync::Arc, sync::atomic::Ordering, time::Duration};

use tokio::sync::mpsc;

use super::{
    FeedSettings, FeedSink,
    position::Position,
    slot,
    statements::*,
    wake::{Wake, listen},
};
use crate::{
    core::cache::{BusMessage, Changes, FeedStats, Following},
    core::db::{Bind, Db, Statistics},
    core::logs::error_chain,
    core::vocab::{CustomerId, SourceKind, SourceSet},
};

/// Rows read per query.
const BATCH: usize = 1000;
const PRUNE_EVERY: Duration = Duration::from_secs(60);
const RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, sqlx::FromRow)]
struct FeedRow {
    seq: i64,
    xid: i64,
    source: String,
    customer_id: Option<i64>,
    item: Option<String>,
    age_micros: i64,
}

/// Whether `error` says a table is missing (the feed's migration not applied), rather than
/// the database being unreachable or refusing.
fn is_missing_table(error: &sqlx::Error) -> bool {
    match error {
        // Postgres's undefined_table; SQLite's own words.
        sqlx::Error::Database(refusal) => {
            refusal.code().as_deref() == Some("42P01")
                || refusal.message().starts_with("no such table")
        }
        _ => false,
    }
}

/// Follows the `change_feed` table of `db` until the task is dropped.
pub(super) async fn follow(
    db: Db,
    sink: Arc<dyn FeedSink>,
    stats: Arc<FeedStats>,
    settings: FeedSettings,
) {
    stats.follow_as(Following::Triggers);
    let mut follower = Follower {
        position: Position::new(0, 0),
        db,
        sink,
        stats,
        settings,
        failing: false,
        statistics: Statistics::new("ANALYZE change_feed"),
    };
    let mut backoff = RETRY_AFTER;
    while let Err(error) = follower.start().await {
        let retry = humantime_serde::re::humantime::format_duration(backoff).to_string();
        if is_missing_table(&error) {
            tracing::warn!(database = %follower.stats.database(), error = %error_chain(&error), retry, "change feed table missing (is migration 0002 applied?); retrying");
        } else {
            tracing::warn!(database = %follower.stats.database(), error = %error_chain(&error), retry, "change feed unreadable; retrying");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
    tracing::info!(database = %follower.stats.database(), position = follower.position.high(), "following the change feed");
    match follower.db.clone() {
        Db::Postgres { pool, .. } => follower.follow_notifications(pool).await,
        Db::Sqlite(_) => follower.follow_by_polling().await,
    }
}

struct Follower {
    db: Db,
    sink: Arc<dyn FeedSink>,
    stats: Arc<FeedStats>,
    settings: FeedSettings,
    position: Position,
    failing: bool,
    /// The rows read in and pruned, for the table's statistics: its reads use its indexes
    /// only once the planner knows it is not tiny.
    statistics: Statistics,
}

/// Which rows to read.
#[derive(Debug, Clone, Copy)]
enum Read {
    /// Those above the highest sequence number read.
    New,
    /// Postgres: every one the horizon has not passed (SQLite: as `New`).
    Unsettled,
}

impl Follower {
    /// Starts from the horizon: every change of a transaction still open (or not begun) will
    /// be applied when it commits. What L1 holds from before now may have missed changes, so
    /// it goes; the replica is ready from here.
    async fn start(&mut self) -> Result<(), sqlx::Error> {
        let sql = match self.db {
            Db::Postgres { .. } => START_PG,
            Db::Sqlite(_) => START_SQLITE,
        };
        let restored = match &self.db {
            Db::Postgres { pool, .. } => slot::restore_triggers(pool)
                .await
                .unwrap_or_else(|error| {
                    tracing::warn!(database = %self.stats.database(), error = %error_chain(&error), "cannot switch the change-feed triggers back on or drop the unused slot");
                    false
                }),
            Db::Sqlite(_) => false,
        };
        let began = chrono::Utc::now();
        let (horizon, high): (i64, i64) = self.db.fetch_optional(sql, &[]).await?.unwrap_or((0, 0));
        self.position = Position::new(horizon, high);
        if restored {
            tracing::warn!(database = %self.stats.database(), "change-feed triggers switched back on: flushing every cache once");
            self.sink.publish(BusMessage::Flush).await;
        } else {
            self.sink.resync();
        }
        self.publish_position();
        // Everything committed before the start is in no cached entry (L1 was just flushed).
        self.stats.caught_up(began);
        self.stats.started.send_replace(true);
        Ok(())
    }

    fn publish_position(&self) {
        self.stats
            .position
            .store(self.position.high(), Ordering::Relaxed);
        self.stats
            .unsettled
            .store(self.position.unsettled() as u64, Ordering::Relaxed);
    }

    async fn follow_by_polling(mut self) {
        let mut poll = tokio::time::interval(self.settings.poll_interval);
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        loop {
            tokio::select! {
                _ = poll.tick() => self.read(Read::New).await,
                _ = prune.tick() => self.prune().await,
            }
        }
    }

    async fn follow_notifications(mut self, pool: sqlx::PgPool) {
        let (wake, mut woken) = mpsc::channel(1);
        let listener = tokio::spawn(listen(pool, wake));
        let mut settle = tokio::time::interval(self.settings.poll_interval);
        settle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        loop {
            tokio::select! {
                event = woken.recv() => match event {
                    Some(Wake::Changed) => self.read(Read::New).await,
                    Some(Wake::Reconnected) => {
                        self.resync().await;
                        self.read(Read::Unsettled).await;
                    }
                    None => break,
                },
                _ = settle.tick() => self.read(Read::Unsettled).await,
                _ = prune.tick() => self.prune().await,
            }
        }
        listener.abort();
    }

    /// After a drop: whatever was missed is still in the table, unless it was pruned; flush
    /// L1 either way, as the bus and the feed may both have lost messages.
    async fn resync(&mut self) {
        tracing::warn!(database = %self.stats.database(), "change feed reconnected: flushing L1");
        self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
        self.sink.resync();
        if let Ok(Some((oldest,))) = self.db.fetch_optional::<(i64,)>(OLDEST, &[]).await
            && oldest > self.position.high() + 1
        {
            tracing::warn!(
                oldest,
                position = self.position.high(),
                "change feed pruned past our position"
            );
        }
    }

    /// Applies the rows `what` asks for that are not applied yet.
    async fn read(&mut self, what: Read) {
        let read = async {
            match (what, &self.db) {
                (Read::Unsettled, Db::Postgres { .. }) => self.read_unsettled().await,
                _ => self.read_new().await,
            }
        };
        match read.await {
            Ok(()) if self.failing => {
                self.failing = false;
                self.resync().await;
            }
            Ok(()) => {}
            Err(error) => {
                if !self.failing {
                    tracing::warn!(database = %self.stats.database(), error = %error_chain(&error), "cannot read the change feed");
                }
                self.failing = true;
            }
        }
    }

    /// Applies what is new since the highest number read.
    async fn read_new(&mut self) -> Result<(), sqlx::Error> {
        let began = chrono::Utc::now();
        loop {
            let sql = match self.db {
                Db::Postgres { .. } => READ_NEW_PG,
                Db::Sqlite(_) => READ_NEW_SQLITE,
            };
            let rows: Vec<FeedRow> = self
                .db
                .fetch_all(sql, &[Bind::Int(self.position.high())])
                .await?;
            let full = rows.len() == BATCH;
            self.apply(&rows).await;
            if let Db::Sqlite(_) = self.db {
                // Serialised writers: what is visible now is all that ever will be, below.
                self.position.settle(self.position.high() + 1);
            }
            self.publish_position();
            if !full {
                if let Db::Sqlite(_) = self.db {
                    // Serialised writers: nothing committed before `began` is left unread.
                    self.stats.caught_up(began);
                }
                return Ok(());
            }
        }
    }

    /// Postgres: re-reads every change of a transaction at or above the horizon (what
    /// committed late is among them), then moves the horizon to where it stood before the
    /// reads began: every transaction below that had ended, so the reads saw all its rows.
    async fn read_unsettled(&mut self) -> Result<(), sqlx::Error> {
        let began = chrono::Utc::now();
        let (horizon,): (i64,) = self
            .db
            .fetch_optional(HORIZON_PG, &[])
            .await?
            .unwrap_or((0,));
        let mut after = 0;
        loop {
            let rows: Vec<FeedRow> = self
                .db
                .fetch_all(
                    READ_UNSETTLED_PG,
                    &[Bind::Int(self.position.horizon()), Bind::Int(after)],
                )
                .await?;
            let full = rows.len() == BATCH;
            after = rows.last().map_or(after, |row| row.seq);
            self.apply(&rows).await;
            if !full {
                break;
            }
        }
        self.position.settle(horizon);
        self.publish_position();
        // Every transaction that committed before `began` is below the horizon read after
        // it, or was among the rows just read.
        self.stats.caught_up(began);
        Ok(())
    }

    /// Applies the rows not applied before.
    async fn apply(&mut self, rows: &[FeedRow]) {
        let mut customers = Changes::default();
        let mut catalog = false;
        let mut newest_age = None;
        for row in rows {
            if !self.position.accept(row.xid, row.seq) {
                continue;
            }
            newest_age = Some(row.age_micros);
            self.statistics.add(1);
            match (row.source.as_str(), row.customer_id) {
                ("catalog", _) => catalog = true,
                (source, Some(id)) => {
                    if let Some(customer) = CustomerId::new(id) {
                        // A source this version does not know of: every backend, for all
                        // it knows.
                        let sources = SourceKind::named(source)
                            .map_or(SourceSet::ALL, |kind| SourceSet::of(&[kind]));
                        customers.add(customer, sources);
                    }
                }
                (source, None) => {
                    tracing::debug!(source, item = ?row.item, "change without a customer")
                }
            }
        }
        let applied = customers.len() + usize::from(catalog);
        if !customers.is_empty() {
            self.sink.customers_changed(customers).await;
        }
        if catalog {
            self.sink.catalog_changed().await;
        }
        self.stats
            .applied
            .fetch_add(applied as u64, Ordering::Relaxed);
        if let Some(age) = newest_age {
            self.stats
                .last_lag_micros
                .store(u64::try_from(age).unwrap_or(0), Ordering::Relaxed);
        }
        self.keep_statistics().await;
    }

    async fn prune(&self) {
        let cutoff = chrono::Utc::now() - self.settings.retention;
        let deleted = match self.db {
            Db::Postgres { .. } => self.db.execute(PRUNE_PG, &[Bind::Time(cutoff)]).await,
            Db::Sqlite(_) => {
                self.db
                    .execute(PRUNE_SQLITE, &[Bind::Int(cutoff.timestamp())])
                    .await
            }
        };
        match deleted {
            Ok(0) => {}
            Ok(rows) => {
                tracing::debug!(rows, "change feed pruned");
                self.statistics.add(rows);
            }
            Err(error) => tracing::debug!(error = %error_chain(&error), "change feed prune failed"),
        }
        self.keep_statistics().await;
    }

    /// Analyzes the table if enough rows came and went since it was last analyzed.
    async fn keep_statistics(&self) {
        if let Err(error) = self.statistics.keep(&self.db).await {
            tracing::debug!(error = %error_chain(&error), "change feed could not be analyzed");
        }
    }
}
