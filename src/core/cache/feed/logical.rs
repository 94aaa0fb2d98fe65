//! Following a Postgres database by logical decoding: the changes read from the write-ahead
//! log the database writes anyway, through a replication slot (`slot.rs`), by one replica —
//! the leader — which applies them here and in L2 and tells every other replica on the bus.
//!
//! Transactions arrive whole, in commit order. The commits read while more are waiting are
//! applied together (one L2 round trip and one message for many), and the slot's position is
//! acknowledged only once what they changed has been applied and published: a leader that
//! dies before leaves them to the next, which reads them again. Applying a change twice is
//! harmless: it is an invalidation. Every `poll_interval` the leader writes a heartbeat into
//! the log; when the stream brings it back, every commit before it has been applied, which
//! is what the feed's staleness measures (and the other replicas hear it on the bus).

use std::{collections::BTreeSet, sync::Arc, sync::atomic::Ordering, time::Duration};

use tokio::time::Instant;

use futures::FutureExt;
use pgwire_replication::{Lsn, ReplicationClient, ReplicationEvent};
use sqlx::PgPool;

use super::{
    FeedSettings, FeedSink,
    pgoutput::{Changed, DecodeError, Decoder},
    replication::replication_config,
    slot::Leadership,
    unpublished::Unpublished,
    visible::visible,
};
use crate::core::{
    cache::{BusMessage, FeedStats, Following},
    logs::error_chain,
    vocab::{CustomerId, SourceKind},
};

/// The prefix of the leader's heartbeats in the log.
pub(super) const HEARTBEAT: &str = "c360.heartbeat";
/// The prefix of a message a writer puts in its transaction so that it is not followed
/// (`c360 seed`).
const PAUSED: &str = "c360.feed_paused";
/// How often the leader writes a heartbeat at most: standbys that do not hear one for 500 ms
/// trust only what they read that recently (`core::read`).
const HEARTBEAT_EVERY: Duration = Duration::from_millis(200);
/// How often a standby tries to take the lead.
const TAKE_OVER_EVERY: Duration = Duration::from_secs(1);
/// Commits applied together at most.
const BATCH_COMMITS: usize = 1000;
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How soon changes Redis did not confirm are published again.
const RETRY_PUBLISH: Duration = Duration::from_millis(500);

/// Why a leader stopped leading.
#[derive(Debug, thiserror::Error)]
enum Lost {
    #[error("the database refused or went away")]
    Database(#[from] sqlx::Error),
    #[error("the replication stream failed")]
    Stream(#[from] pgwire_replication::PgWireError),
    #[error("the replication stream ended")]
    Ended,
    #[error("the replication stream held a message c360 cannot read")]
    Decode(#[from] DecodeError),
}

/// Follows the database of `pool` by logical decoding, leading or standing by, until the task
/// is dropped.
pub(super) async fn follow(
    pool: PgPool,
    sink: Arc<dyn FeedSink>,
    stats: Arc<FeedStats>,
    settings: FeedSettings,
) {
    // Whether it hears the feed from another replica (or from nobody) rather than leading is
    // the feed's own figure; this makes it so, once.
    let listen = || {
        if stats.following() != Following::StandingBy {
            sink.stand_by(&stats, true);
        }
    };
    let mut said_standing_by = false;
    let mut failing = false;
    loop {
        match Leadership::claim(&pool).await {
            Ok(Some(leadership)) => {
                if stats.following() == Following::StandingBy {
                    sink.stand_by(&stats, false);
                }
                stats.follow_as(Following::Leading);
                failing = false;
                said_standing_by = false;
                let slot = leadership.slot.clone();
                tracing::info!(database = %stats.database(), %slot, "leading the change feed (logical decoding)");
                let mut leader = Leader {
                    pool: &pool,
                    sink: &*sink,
                    stats: &stats,
                    settings,
                    decoder: Decoder::default(),
                    batch: Batch::default(),
                    read_end: None,
                    unpublished: Unpublished::default(),
                };
                let lost = leader.lead(leadership).await;
                // Until it leads again, it hears the feed as a standby does, if at all.
                listen();
                stats.reconnects.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(database = %stats.database(), %slot, error = %error_chain(&lost), "no longer leading the change feed; retrying");
                tokio::time::sleep(RETRY_AFTER).await;
            }
            Ok(None) => {
                listen();
                if !said_standing_by {
                    tracing::info!(database = %stats.database(), "standing by: another replica leads the change feed and publishes it on the bus");
                    said_standing_by = true;
                }
                stats.started.send_replace(true);
                tokio::time::sleep(TAKE_OVER_EVERY).await;
            }
            Err(error) => {
                listen();
                if !failing {
                    tracing::warn!(database = %stats.database(), error = %error_chain(&error), "cannot reach the database to follow its changes; retrying");
                    failing = true;
                }
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

/// The commits read and not yet applied.
#[derive(Debug, Default)]
struct Batch {
    changed: BTreeSet<Changed>,
    /// Whether the transaction being read is one not to follow.
    paused: bool,
    /// Changes of the transaction being read, until its commit.
    open: Vec<Changed>,
    /// The id of the transaction being read.
    xid: u32,
    /// The transactions read that changed something followed.
    xids: Vec<u32>,
    /// Where the last commit read ends.
    end: Option<Lsn>,
    /// When the newest commit read was made (Unix microseconds).
    committed_micros: i64,
    commits: usize,
    /// The newest heartbeat read (Unix microseconds): every commit before it is read.
    caught_up: Option<i64>,
}

struct Leader<'a> {
    pool: &'a PgPool,
    sink: &'a dyn FeedSink,
    stats: &'a FeedStats,
    settings: FeedSettings,
    decoder: Decoder,
    batch: Batch,
    /// Where the last commit applied here ends: acknowledged once it is published.
    read_end: Option<Lsn>,
    unpublished: Unpublished,
}

impl Leader<'_> {
    async fn lead(&mut self, mut leadership: Leadership) -> Lost {
        match self.stream(&mut leadership).await {
            Ok(()) => Lost::Ended,
            Err(lost) => lost,
        }
    }

    async fn stream(&mut self, leadership: &mut Leadership) -> Result<(), Lost> {
        let created = leadership.prepare_slot().await?;
        match leadership.switch_triggers_off().await {
            Ok(0) => {}
            Ok(count) => {
                tracing::info!(
                    count,
                    "change-feed triggers switched off: the slot captures every change"
                )
            }
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "cannot switch the change-feed triggers off (they still cost every write; is migration 0004 applied, and does c360's role own the tables?)")
            }
        }
        if created && !self.sink.publish(BusMessage::Flush).await {
            // Flushed here; the others flush when their bus comes back.
            tracing::warn!("the flush of a new slot was not confirmed everywhere");
        }
        let config = replication_config(&self.pool.connect_options(), &leadership.slot);
        let mut client = ReplicationClient::connect(config).await?;
        client.wait_started().await?;
        self.stats.started.send_replace(true);
        let mut next_beat = Instant::now();
        loop {
            if Instant::now() >= next_beat {
                leadership.heartbeat().await?;
                next_beat = Instant::now() + self.settings.poll_interval.min(HEARTBEAT_EVERY);
            }
            // Whatever is waiting is read before anything is applied.
            let event = match client.recv().now_or_never() {
                Some(event) => event,
                None => {
                    self.apply(&client).await?;
                    match tokio::time::timeout_at(next_beat, client.recv()).await {
                        Ok(event) => event,
                        Err(_beat_due) => continue,
                    }
                }
            };
            let Some(event) = event? else {
                return Ok(());
            };
            self.read(event)?;
            if self.batch.commits >= BATCH_COMMITS {
                self.apply(&client).await?;
            }
        }
    }

    /// Takes in one event of the stream.
    fn read(&mut self, event: ReplicationEvent) -> Result<(), Lost> {
        let batch = &mut self.batch;
        match event {
            ReplicationEvent::Begin { xid, .. } => {
                batch.xid = xid;
                batch.open.clear();
                batch.paused = false;
            }
            ReplicationEvent::XLogData { data, .. } => {
                let changed = self.decoder.decode(&data)?;
                batch.open.extend(changed);
            }
            ReplicationEvent::Message {
                transactional: true,
                prefix,
                ..
            } if prefix == PAUSED => batch.paused = true,
            ReplicationEvent::Message {
                transactional: false,
                prefix,
                content,
                ..
            } if prefix == HEARTBEAT => {
                // Every commit before it is read: once the batch is applied, it is applied.
                let micros = std::str::from_utf8(&content)
                    .ok()
                    .and_then(|text| text.parse::<i64>().ok());
                batch.caught_up = batch.caught_up.max(micros);
            }
            ReplicationEvent::Commit {
                end_lsn,
                commit_time_micros,
                ..
            } => {
                if !batch.paused && !batch.open.is_empty() {
                    batch.changed.extend(batch.open.drain(..));
                    batch.xids.push(batch.xid);
                }
                batch.open.clear();
                batch.end = Some(end_lsn);
                batch.committed_micros = commit_time_micros + POSTGRES_EPOCH_MICROS;
                batch.commits += 1;
            }
            _ => {}
        }
        Ok(())
    }

    /// Applies and publishes the commits read, then acknowledges them; then tells every
    /// replica how far that reaches.
    async fn apply(&mut self, client: &ReplicationClient) -> Result<(), Lost> {
        match self.batch.end {
            Some(end) => self.apply_commits(client, end).await?,
            None => self.publish(client, Unpublished::default()).await,
        }
        if let Some(micros) = self.batch.caught_up.take() {
            self.stats
                .caught_up_micros
                .fetch_max(micros, Ordering::Relaxed);
            let feed = self.stats.backends.first().copied().unwrap_or_default();
            let told = BusMessage::CaughtUp {
                feed: feed.to_owned(),
                micros,
            };
            // The others are caught up as far only once they have heard everything before.
            // (Lost, it costs only a moment of their staleness figure.)
            if self.unpublished.is_empty() {
                self.sink.publish(told).await;
            }
        }
        Ok(())
    }

    async fn apply_commits(&mut self, client: &ReplicationClient, end: Lsn) -> Result<(), Lost> {
        let changed = std::mem::take(&mut self.batch.changed);
        // What the changes name is read (here, and by whoever the invalidation prompts) only
        // once it can be.
        let xids = std::mem::take(&mut self.batch.xids);
        if visible(self.pool, &xids).await? {
            self.stats.awaited.fetch_add(1, Ordering::Relaxed);
        }
        let mut these = Unpublished::default();
        let mut orders = Vec::new();
        for change in changed {
            match change {
                Changed::Customer(id, kind) => {
                    if let Some(customer) = CustomerId::new(id) {
                        these.customer(customer, kind);
                    }
                }
                Changed::Order(id) => orders.push(id),
                Changed::Catalog => these.catalog = true,
                Changed::Everything => these.everything = true,
            }
        }
        if !orders.is_empty() {
            let owners: Vec<(i64,)> = sqlx::query_as(
                "SELECT DISTINCT customer_id FROM orders WHERE id = ANY($1) AND customer_id IS NOT NULL",
            )
            .bind(&orders)
            .fetch_all(self.pool)
            .await?;
            for customer in owners.into_iter().filter_map(|(id,)| CustomerId::new(id)) {
                these.customer(customer, SourceKind::Orders);
            }
        }
        let applied = these.customers.len() + usize::from(these.catalog);
        self.read_end = Some(end);
        self.publish(client, these).await;
        let lag = chrono::Utc::now().timestamp_micros() - self.batch.committed_micros;
        let stats = self.stats;
        stats.applied.fetch_add(applied as u64, Ordering::Relaxed);
        stats
            .last_lag_micros
            .store(u64::try_from(lag).unwrap_or(0), Ordering::Relaxed);
        self.batch.end = None;
        self.batch.commits = 0;
        Ok(())
    }

    /// Applies `these` here and in L2 and tells every replica, with whatever earlier
    /// changes are still unconfirmed when their retry is due; acknowledges the slot up to the
    /// last commit read once nothing is left unconfirmed.
    async fn publish(&mut self, client: &ReplicationClient, mut these: Unpublished) {
        let now = Instant::now();
        if self.unpublished.due(now) {
            these.merge(std::mem::take(&mut self.unpublished));
        }
        if these.is_empty() && !self.unpublished.is_empty() {
            return;
        }
        let mut published = true;
        if these.everything {
            published &= self.sink.publish(BusMessage::Flush).await;
        } else if !these.customers.is_empty() {
            published &= self.sink.publish_changed(these.customers.clone()).await;
        }
        if these.catalog {
            published &= self.sink.publish(BusMessage::Catalog).await;
        }
        if !published {
            if self.unpublished.is_empty() {
                tracing::warn!(database = %self.stats.database(), "changes applied here but not confirmed by Redis (L2 or the bus): retrying; the slot keeps them until they are");
            }
            self.unpublished.merge(these);
            self.unpublished.retry_at = Some(now + RETRY_PUBLISH);
            return;
        }
        if !self.unpublished.is_empty() {
            return;
        }
        if let Some(end) = self.read_end.take() {
            client.update_applied_lsn(end);
            self.stats.position.store(
                i64::try_from(end.as_u64()).unwrap_or(i64::MAX),
                Ordering::Relaxed,
            );
        }
    }
}

/// Postgres counts time from 2000-01-01; Unix from 1970-01-01.
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;
