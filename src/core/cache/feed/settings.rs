//! The change feeds' settings (`[feed]`): whether they are followed, how often they are read,
//! and how long their rows are kept.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::settings::{Check, DAY, MINUTE, MS};

/// Following the change feeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedSettings {
    /// Follow the feeds. Off only for backends without the reference schema's feed.
    pub enabled: bool,
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
