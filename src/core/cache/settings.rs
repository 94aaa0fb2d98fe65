//! The caches' settings (`[cache]`): what bounds L1, how long an entry lives, and how the read
//! path reuses what it holds (partial profiles, refresh ahead, unknown customers).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::settings::{Check, DAY, MS, SECOND};

/// The caches (`[cache]`): L1's bound and lifetimes, and how the read path uses what they
/// hold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// Bound on the memory held by cached profiles, in bytes (`"256MiB"` reads too).
    #[serde(with = "crate::core::settings::byte_size")]
    pub max_bytes: u64,
    /// Age after which a cached profile is dropped.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// How long a partial profile (a backend failed) is reused before the backends are asked
    /// again.
    #[serde(with = "humantime_serde")]
    pub partial_ttl: Duration,
    /// A cached profile older than this is served while one background reload replaces it.
    #[serde(with = "humantime_serde")]
    pub refresh_after: Duration,
    /// How long a customer CRM does not know is answered `NOT_FOUND` from memory (zero: never),
    /// unless the change feed reports the customer first.
    #[serde(with = "humantime_serde")]
    pub not_found_ttl: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            max_bytes: 256 << 20,
            ttl: Duration::from_secs(300),
            partial_ttl: Duration::from_secs(1),
            refresh_after: Duration::from_secs(60),
            not_found_ttl: Duration::from_secs(10),
        }
    }
}

impl CacheSettings {
    /// Refuses every value out of its range; those bounded by `ttl` only when it holds.
    pub fn check(&self, c: &mut Check) {
        c.count("max_bytes", self.max_bytes, 1 << 20, 1 << 40);
        let ttl = c.duration("ttl", self.ttl, SECOND, 7 * DAY);
        c.duration("refresh_after", self.refresh_after, MS, 7 * DAY);
        if ttl {
            c.duration("partial_ttl", self.partial_ttl, Duration::ZERO, self.ttl);
            let not_found = self.not_found_ttl;
            c.duration("not_found_ttl", not_found, Duration::ZERO, self.ttl);
        }
    }
}
