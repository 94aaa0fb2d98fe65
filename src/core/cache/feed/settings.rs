//! The change feeds' settings (`[feed]`): whether they are followed and how changes are
//! captured, how often the feed table is read, and how long its rows are kept.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::settings::{Check, DAY, MINUTE, MS};

/// How a Postgres database's changes reach the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capture {
    /// Logical decoding where the database allows it (`wal_level = logical` and a role that
    /// may replicate), triggers elsewhere, with a warning that names their cost.
    Auto,
    /// Logical decoding: the write-ahead log read from a replication slot, by one replica
    /// (the leader) that publishes what changed to the others. Refuses to start where the
    /// database does not allow it.
    Logical,
    /// Triggers that write each change into the `change_feed` table, which every replica
    /// reads: they cost the database's writers about half their throughput.
    Triggers,
}

/// Following the change feeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedSettings {
    /// Follow the feeds. Off only for backends without the reference schema's feed.
    pub enabled: bool,
    /// How a Postgres database's changes are captured (SQLite's always by triggers).
    pub capture: Capture,
    /// SQLite: how often the feed is read; Postgres: how often without a NOTIFY.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Feed rows older than this are deleted.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            capture: Capture::Auto,
            poll_interval: Duration::from_millis(100),
            retention: Duration::from_secs(3600),
        }
    }
}

impl FeedSettings {
    /// Refuses every value out of its range.
    pub fn check(&self, c: &mut Check) {
        c.duration("poll_interval", self.poll_interval, 10 * MS, MINUTE);
        c.duration("retention", self.retention, MINUTE, 30 * DAY);
    }
}
