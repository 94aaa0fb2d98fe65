//! History search's settings (`[search]`): whether this replica indexes the customers'
//! conversations, and how often it reads the messages table for new ones.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::settings::{Check, MINUTE, MS};

/// History search.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchSettings {
    /// Index every message of CRM's `interaction_messages` at start, in memory, and serve
    /// `HistoryService`. Off: the service is not served (`UNIMPLEMENTED`).
    pub enabled: bool,
    /// How often the messages table is read for new messages: a message is searchable about
    /// this long after its commit.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_interval: Duration::from_millis(200),
        }
    }
}

impl SearchSettings {
    /// Refuses every value out of its range.
    pub fn check(&self, c: &mut Check) {
        c.duration("poll_interval", self.poll_interval, 10 * MS, MINUTE);
    }
}
