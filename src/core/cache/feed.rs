//! Following one backend database's changes.
//!
//! On Postgres, by logical decoding where the database allows it (`feed.capture`):
//! `logical.rs`, with `slot.rs` for the slot and its leader, `pgoutput.rs` for what the
//! stream says, `visible.rs` for when what it says can be read and `unpublished.rs` for what
//! Redis has not confirmed yet. Otherwise, and on SQLite, by triggers into the `change_feed`
//! table: `triggers.rs`, woken on Postgres by `wake.rs`. A deployment moves between the two without losing a change: a new
//! slot holds every commit from its creation on, and the triggers are switched off only after
//! it is made; switched back on, they are before the slot is dropped; either way every cache
//! is flushed once, since what committed in between reached no replica.

mod logical;
mod pgoutput;
mod position;
mod replication;
mod settings;
mod slot;
mod statements;
mod triggers;
mod unpublished;
mod visible;
mod wake;

pub use settings::{Capture, FeedSettings};

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;

use super::{BusMessage, Changes, stats::FeedStats};
use crate::core::{db::Db, logs::error_chain};

const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What a follower does with what it reads.
pub trait FeedSink: Send + Sync + 'static {
    /// These customers changed, each in the tables of these backends.
    fn customers_changed(&self, changed: Changes) -> BoxFuture<'_, ()>;
    /// The catalog or the return policies changed.
    fn catalog_changed(&self) -> BoxFuture<'_, ()>;
    /// Changes may have been missed: drop everything cached.
    fn resync(&self);
    /// A logical feed's leader: applies `change` here (and to L2) and tells every other
    /// replica; true when all of that was confirmed.
    fn publish(&self, change: BusMessage) -> BoxFuture<'_, bool>;
    /// A logical feed's leader: applies these customers' changes (each in the tables of
    /// these backends) here and to L2, and tells every other replica which customers
    /// changed; true when all of that was confirmed.
    fn publish_changed(&self, changed: Changes) -> BoxFuture<'_, bool>;
    /// This replica stands by for the logical feed `feed` (hears it from its leader), or no
    /// longer does.
    fn stand_by(&self, feed: &Arc<FeedStats>, standing: bool);
}

/// `feed.capture = "logical"` where the database does not allow it.
#[derive(Debug, thiserror::Error)]
#[error(
    "feed.capture = \"logical\", but the database of {backends} cannot be followed so: {missing}"
)]
pub struct LogicalRefused {
    /// The backends whose database it is.
    pub backends: String,
    /// What a DBA must set.
    pub missing: String,
}

/// Refuses `feed.capture = "logical"` for a database that answers and does not allow it
/// (one that does not answer is tried again by its follower).
pub async fn check_capture(
    db: &Db,
    settings: &FeedSettings,
    backends: &[&str],
) -> Result<(), LogicalRefused> {
    if !matches!(db, Db::Postgres { .. }) || settings.capture != Capture::Logical {
        return Ok(());
    }
    let asked = tokio::time::timeout(Duration::from_secs(5), slot::Capability::of(db)).await;
    match asked {
        Ok(Ok(capability)) => match capability.missing() {
            None => Ok(()),
            Some(missing) => Err(LogicalRefused {
                backends: backends.join(", "),
                missing,
            }),
        },
        _ => Ok(()),
    }
}

/// How a Postgres database is followed: by logical decoding if `capture` asks for it and
/// the database allows it. Asks until the database answers.
async fn logical_capture(db: &Db, capture: Capture, stats: &FeedStats) -> bool {
    let mut backoff = RETRY_AFTER;
    let mut said = false;
    loop {
        let missing = match slot::Capability::of(db).await {
            Ok(capability) => capability.missing(),
            Err(error) => {
                if !said {
                    tracing::warn!(database = %stats.database(), error = %error_chain(&error), "change feed unreadable; retrying");
                    said = true;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        match (missing, capture) {
            (None, _) => return true,
            (Some(missing), Capture::Auto) => {
                tracing::warn!(database = %stats.database(), "following changes by triggers, which cost the database's writers about half their write throughput; for logical decoding (feed.capture): {missing}");
                return false;
            }
            (Some(missing), _) => {
                tracing::error!(database = %stats.database(), "feed.capture = \"logical\", but the database cannot be followed so: {missing}; retrying");
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        }
    }
}

/// Follows the changes of `db` until the task is dropped.
pub async fn follow(
    db: Db,
    sink: Arc<dyn FeedSink>,
    stats: Arc<FeedStats>,
    settings: FeedSettings,
) {
    if let Db::Postgres { pool, .. } = &db
        && settings.capture != Capture::Triggers
        && logical_capture(&db, settings.capture, &stats).await
    {
        return logical::follow(pool.clone(), sink, stats, settings).await;
    }
    triggers::follow(db, sink, stats, settings).await;
}
