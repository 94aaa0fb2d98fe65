//! The index kept by following the messages table: every message at start, in pages by id,
//! then each new one as it commits.
//!
//! Ids are given when a message is written but seen when it commits, and two writers may
//! commit out of order: a message with a lower id can appear after a higher one was read. The
//! follower keeps a *settled* id — every message at or below it is in the index, or its id
//! was waited for in vain ([`GAP_WAIT`]: the id of a write that rolled back never appears) —
//! and reads again above it on every poll, adding only what it has not added. Below the
//! highest id at start, a missing id is taken at once for one that never commits: waiting
//! for each would stall the start on every rolled-back write of the table's past.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
    time::{Duration, Instant},
};

use super::{History, Message};
use crate::core::{db::Db, vocab::CustomerId};

/// How long a missing id is waited for before it is taken for one that never commits.
const GAP_WAIT: Duration = Duration::from_secs(5);

/// Messages read at once.
const PAGE: i64 = 5_000;

const SELECT: &str = "SELECT m.id, m.interaction_id, m.customer_id, i.channel, m.kind, \
     m.author, m.sent_at, m.body FROM interaction_messages m \
     JOIN interactions i ON i.id = m.interaction_id \
     WHERE m.id > $1 ORDER BY m.id LIMIT $2";

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    interaction_id: i64,
    customer_id: i64,
    channel: String,
    kind: String,
    author: String,
    sent_at: chrono::DateTime<chrono::Utc>,
    body: String,
}

impl Row {
    fn message(self) -> Option<Message> {
        Some(Message {
            id: self.id,
            interaction_id: self.interaction_id,
            customer_id: CustomerId::new(self.customer_id)?,
            channel: self.channel.parse().ok()?,
            kind: self.kind.parse().ok()?,
            author: self.author.parse().ok()?,
            sent_at: self.sent_at,
            body: self.body,
        })
    }
}

async fn read(db: &Db, after: i64, limit: i64) -> Result<Vec<Row>, sqlx::Error> {
    match db {
        Db::Postgres { pool, .. } => {
            let query = sqlx::query_as(SELECT).bind(after).bind(limit);
            query.fetch_all(pool).await
        }
        Db::Sqlite(pool) => {
            let query = sqlx::query_as(SELECT).bind(after).bind(limit);
            query.fetch_all(pool).await
        }
    }
}

async fn highest(db: &Db) -> Result<i64, sqlx::Error> {
    const SQL: &str = "SELECT COALESCE(MAX(id), 0) FROM interaction_messages";
    match db {
        Db::Postgres { pool, .. } => sqlx::query_scalar(SQL).fetch_one(pool).await,
        Db::Sqlite(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await,
    }
}

/// Where the follower stands.
#[derive(Debug, Default)]
pub struct Cursor {
    /// Every id at or below it is settled.
    settled: i64,
    /// The highest id at start: gaps below it are not waited for.
    start: Option<i64>,
    /// Ids above `settled` already added.
    added: BTreeSet<i64>,
    /// When each missing id above the start was first found missing.
    missing_since: HashMap<i64, Instant>,
}

impl Cursor {
    /// Moves the settled id over what was added and over gaps that are past waiting for.
    fn settle(&mut self, now: Instant) {
        let start = self.start.unwrap_or(0);
        while let Some(&next) = self.added.first() {
            let gap = self.settled + 1;
            if next > gap && gap > start {
                let since = *self.missing_since.entry(gap).or_insert(now);
                if now.duration_since(since) < GAP_WAIT {
                    break;
                }
            }
            self.missing_since.retain(|&id, _| id > next);
            self.added.pop_first();
            self.settled = next;
        }
    }
}

/// How long a failed read of the messages table is waited out at most before the next.
const MOST_BACKOFF: Duration = Duration::from_secs(5);

/// Follows `db`'s messages into `history`, from where `cursor` stands, reading the table
/// `every` so often. Never returns: a database that does not answer is read again, the wait
/// doubling up to [`MOST_BACKOFF`], and said once per outage — the index is behind, the
/// replica serves on.
pub async fn follow(
    history: Arc<History>,
    db: Db,
    cursor: Arc<tokio::sync::Mutex<Cursor>>,
    every: Duration,
) {
    let mut cursor = cursor.lock().await;
    let mut backoff = every;
    let mut failing = false;
    loop {
        match step(&history, &db, &mut cursor).await {
            Ok(full) => {
                if failing {
                    tracing::info!("history search: the messages table answers again");
                }
                (failing, backoff) = (false, every);
                if !full {
                    tokio::time::sleep(every).await;
                }
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(%error, "history search: reading the messages table failed; the index is behind until it answers");
                }
                failing = true;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MOST_BACKOFF);
            }
        }
    }
}

/// One read of the table and what it brings into the index; whether the read was a full page
/// (more is waiting).
async fn step(history: &Arc<History>, db: &Db, cursor: &mut Cursor) -> Result<bool, sqlx::Error> {
    if cursor.start.is_none() {
        cursor.start = Some(highest(db).await?);
    }
    let rows = read(db, cursor.settled, PAGE).await?;
    let full = rows.len() as i64 == PAGE;
    let mut fresh = Vec::new();
    for row in rows {
        let id = row.id;
        if !cursor.added.insert(id) {
            continue;
        }
        match row.message() {
            Some(message) => fresh.push(message),
            None => tracing::warn!(
                message_id = id,
                "history search: a message that cannot be read is left out"
            ),
        }
    }
    let start = cursor.start.unwrap_or(0);
    let building = !history.is_ready();
    let caught_up = !full && cursor.settled >= start;
    if !fresh.is_empty() || (building && caught_up) {
        // While the start's messages are read, the index is published once, at the end.
        let publish = !building || !full;
        let index = history.clone();
        let added = tokio::task::spawn_blocking(move || index.add(&fresh, publish)).await;
        match added {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "history search: the index failed"),
            Err(error) => tracing::error!(%error, "history search: indexing panicked"),
        }
    }
    cursor.settle(Instant::now());
    if !full && cursor.added.is_empty() {
        // Nothing is left to read up to the start: what is missing below it never was.
        cursor.settled = cursor.settled.max(start);
    }
    if building && !full && cursor.settled >= start {
        history.set_ready();
        let bytes = history.bytes().unwrap_or_default();
        tracing::info!(
            messages = history.messages(),
            bytes,
            "history search: the index is ready"
        );
    }
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(start: i64, settled: i64, added: &[i64]) -> Cursor {
        Cursor {
            settled,
            start: Some(start),
            added: added.iter().copied().collect(),
            missing_since: HashMap::new(),
        }
    }

    #[test]
    fn the_settled_id_moves_over_what_was_added_and_gaps_below_the_start_at_once() {
        let now = Instant::now();
        let mut c = cursor(10, 0, &[1, 2, 4, 7, 10]);
        c.settle(now);
        assert_eq!(
            (c.settled, c.added.len()),
            (10, 0),
            "3, 5, 6, 8, 9 never were"
        );
    }

    #[test]
    fn a_gap_above_the_start_is_waited_for_then_passed() {
        let now = Instant::now();
        let mut c = cursor(10, 10, &[11, 13]);
        c.settle(now);
        assert_eq!(c.settled, 11, "12 may still commit");
        c.settle(now + GAP_WAIT / 2);
        assert_eq!(c.settled, 11);
        // 12 commits meanwhile.
        c.added.insert(12);
        c.settle(now + GAP_WAIT / 2);
        assert_eq!((c.settled, c.added.len()), (13, 0));
        // A gap that never fills is passed once waited out.
        c.added.insert(15);
        c.settle(now + GAP_WAIT);
        assert_eq!(c.settled, 13);
        c.settle(now + GAP_WAIT * 3);
        assert_eq!((c.settled, c.missing_since.len()), (15, 0));
    }
}
