//! The caches in front of the fan-out, and what keeps them fresh.
//!
//! - L1 ([`ProfileCache`]): moka, in process, bounded by bytes, one load per key, entries
//!   served only under the per-customer [`generations`] they were loaded under, and expired a
//!   TTL after their data was read.
//! - L2 ([`RedisCache`]): the encoded profile in Redis, shared by replicas, fills guarded by a
//!   generation token and an epoch in Redis; invalidations Redis did not confirm are kept off
//!   and retried.
//! - The change feed ([`feed`]): each replica follows each backend database's feed table and
//!   invalidates what changed, late commits included.
//! - The bus ([`bus`]): admin invalidations reach the other replicas over Redis pub/sub.
//!
//! The feed and the bus drop what changed through small sink traits ([`feed::FeedSink`],
//! [`bus::BusSink`]): the read path above implements them, so nothing here calls up.

pub mod bus;
mod changes;
pub mod feed;
pub mod generations;
mod l1;
mod l2;
mod settings;
mod stats;

use std::{
    sync::Arc,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use tokio::time::Instant;

pub use changes::Changes;
pub use l1::{Lookup, ProfileCache};
pub use l2::{
    BusMessage, FillGuard, KeyError, L2Error, RedisCache, RedisSettings, Rejected, SealKeys,
    parse_key,
};
pub use settings::CacheSettings;
pub(crate) use stats::bump as bump_counter;
pub use stats::{CacheCounts, CacheStats, FeedSnapshot, FeedStats, Following};

use crate::{
    core::entry::{EncodedProfile, L2Entry},
    core::profile::{Answers, Unshown},
    core::vocab::{CustomerId, SourceSet, Timestamp},
};

/// What changed, as watchers hear it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// This customer's profile, in the tables of these backends (every backend when not
    /// known: an admin's invalidation, another replica's word).
    Customer(CustomerId, SourceSet),
    /// Possibly anything: L1 was flushed, or the catalog changed.
    Everything,
    /// The replica is shutting down: watches end, and their callers reconnect elsewhere.
    Closing,
}

/// A profile as the caches hold it.
#[derive(Debug)]
pub struct CachedProfile {
    /// The encoded sections and the backends' reports.
    pub encoded: EncodedProfile,
    /// When its backends were read (monotonic, for ages).
    pub loaded_at: Instant,
    /// The same moment on the wall clock, for L2 and other replicas.
    pub loaded_wall: Timestamp,
    /// The fingerprint of the catalog it was enriched from.
    catalog: u64,
    /// What the backends answered that the profile does not show, when its filler knew:
    /// with the profile, enough to enrich the entry again from a new catalog without asking
    /// them.
    unshown: Option<Unshown>,
    /// The backends it holds the answers of.
    asked: SourceSet,
    /// Every backend it asked answered.
    complete: bool,
    /// Some backend's data in it is a stale copy.
    stale: bool,
    weight: u32,
    refreshing: AtomicBool,
}

/// Bytes an entry costs beyond its encoded sections: the struct, the key, moka's own
/// bookkeeping and the allocator's rounding (jemalloc's, the binary's allocator), measured
/// rather than guessed (`cargo bench --bench cache_model`, BENCHMARKS.md "Memory").
const ENTRY_OVERHEAD: usize = 800;

impl CachedProfile {
    /// Wraps a profile read from the backends at `loaded_at` (`loaded_wall` on the wall
    /// clock), enriched from the catalog whose fingerprint is `catalog`, with what its
    /// backends answered that it does not show, when known.
    pub fn new(
        encoded: EncodedProfile,
        loaded_at: Instant,
        loaded_wall: Timestamp,
        catalog: u64,
        unshown: Option<Unshown>,
    ) -> Arc<Self> {
        let weight = u32::try_from(encoded.encoded_len() + ENTRY_OVERHEAD).unwrap_or(u32::MAX);
        let sources = encoded.sources();
        let (asked, complete) = (sources.asked(), sources.is_complete());
        let stale = sources.has_stale();
        Arc::new(Self {
            asked,
            complete,
            stale,
            encoded,
            loaded_at,
            loaded_wall,
            catalog,
            unshown,
            weight,
            refreshing: AtomicBool::new(false),
        })
    }

    /// Wraps a profile from L2, keeping the age it had there.
    pub fn from_l2(entry: L2Entry) -> Arc<Self> {
        let age = (chrono::Utc::now() - entry.loaded_at)
            .to_std()
            .unwrap_or_default();
        let now = Instant::now();
        Self::new(
            entry.profile,
            now.checked_sub(age).unwrap_or(now),
            entry.loaded_at,
            entry.catalog,
            entry.unshown,
        )
    }

    /// The fingerprint of the catalog it was enriched from.
    pub fn catalog(&self) -> u64 {
        self.catalog
    }

    /// What the backends answered that the profile does not show, if known.
    pub fn unshown(&self) -> Option<Unshown> {
        self.unshown
    }

    /// What the backends answered, read back from the profile ([`EncodedProfile::answers`]).
    pub fn answers(&self) -> Option<Answers> {
        self.encoded.answers(self.unshown)
    }

    /// How old the data is.
    pub fn age(&self) -> Duration {
        self.loaded_at.elapsed()
    }

    /// Whether it holds what the backends of `set` say.
    pub fn covers(&self, set: SourceSet) -> bool {
        self.asked.covers(set)
    }

    /// The backends it holds the answers of.
    pub fn asked(&self) -> SourceSet {
        self.asked
    }

    /// Whether every backend it asked answered.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Whether some backend's data in it is a stale copy.
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// Bytes it is counted for in L1.
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// True for the one caller that gets to refresh this entry in the background.
    pub fn claim_refresh(&self) -> bool {
        !self.refreshing.swap(true, Ordering::AcqRel)
    }

    /// Gives the refresh claim back, for a later caller.
    pub fn release_refresh(&self) {
        self.refreshing.store(false, Ordering::Release);
    }
}
