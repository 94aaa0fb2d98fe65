//! Counters of the caches, the change feeds and the bus; what `GetCacheStats` and `/metrics`
//! show of them is read once, in `core/read/figures.rs`.

use std::sync::{
    Mutex,
    atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, Ordering},
};

use std::sync::Arc;

/// Defines [`CacheCounts`] from one list of counters: the live counts (relaxed atomics,
/// bumped on the request path) and their values at one moment are the same struct over
/// another cell, so that no counter is written twice.
macro_rules! cache_counts {
    ($($(#[doc = $doc:literal])+ $name:ident,)+) => {
        /// The caches' event counts: live (`CacheCounts<AtomicU64>`, in [`CacheStats`]) or
        /// read at one moment (`CacheCounts`, from [`CacheCounts::snapshot`]).
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
        pub struct CacheCounts<C = u64> {
            $($(#[doc = $doc])+ pub $name: C,)+
        }

        impl CacheCounts<AtomicU64> {
            /// The counts now.
            pub fn snapshot(&self) -> CacheCounts {
                CacheCounts {
                    $($name: self.$name.load(Ordering::Relaxed),)+
                }
            }
        }
    };
}

cache_counts! {
    /// L1 answered.
    l1_hits,
    /// L1 did not.
    l1_misses,
    /// L2 answered an L1 miss.
    l2_hits,
    /// L2 did not.
    l2_misses,
    /// L2 failed, timed out or was unreachable.
    l2_errors,
    /// L2 entries that did not open under this replica's keys (forged, changed, moved, or
    /// sealed under a key it does not have): misses, never served.
    l2_rejected,
    /// Invalidations L2 did not confirm (retried until it does).
    l2_unconfirmed,
    /// Loads from the backends.
    loads,
    /// Callers that waited for another caller's load instead of loading.
    coalesced_waits,
    /// Background reloads of entries past their refresh age.
    refreshes,
    /// Answers with at least one backend's data served stale.
    stale_serves,
    /// Entries L1 dropped for size or age.
    evictions,
    /// Customers invalidated (by the feed, an admin, or another replica).
    invalidations,
    /// Loads not cached because an invalidation overtook them.
    discarded_loads,
    /// Whole-L1 flushes (a feed or bus connection came back).
    flushes,
    /// Entries enriched again from a new catalog, without a backend read.
    reenrichments,
    /// Unknown customers answered from memory.
    not_found_hits,
    /// Times the invalidation bus was subscribed again after a drop.
    bus_reconnects,
}

impl CacheCounts {
    /// Reads L1 answered, waits on another caller's load included: what a caller sees as a
    /// hit.
    pub fn l1_answered(&self) -> u64 {
        self.l1_hits + self.coalesced_waits
    }

    /// L1 misses L2 did not answer, its errors included.
    pub fn l2_unanswered(&self) -> u64 {
        self.l2_misses + self.l2_errors
    }
}

/// The caches', the change feeds' and the bus's figures, kept as they happen.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Event counts, bumped on the request path with relaxed atomics.
    pub count: CacheCounts<AtomicU64>,
    /// Whether the invalidation bus is subscribed now.
    pub bus_connected: AtomicBool,
    feeds: Mutex<Vec<Arc<FeedStats>>>,
    /// The logical feeds this replica stands by for: it hears their changes from their
    /// leaders, on the bus.
    standing_by: arc_swap::ArcSwap<Vec<Arc<FeedStats>>>,
}

/// Counts one event.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// How this replica follows a change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Following {
    /// Not yet known (the follower has not started).
    Unknown,
    /// It reads the table the triggers write.
    Triggers,
    /// It leads the feed's logical decoding.
    Leading,
    /// It hears the leader of the feed's logical decoding on the bus.
    StandingBy,
}

impl Following {
    fn from_u8(value: u8) -> Self {
        match value {
            1 => Self::Triggers,
            2 => Self::Leading,
            3 => Self::StandingBy,
            _ => Self::Unknown,
        }
    }
}

/// Where one change feed stands.
#[derive(Debug)]
pub struct FeedStats {
    /// The backends whose database it follows: never its URL. The first names the feed
    /// where one word must (a metric's label).
    pub backends: Vec<&'static str>,
    /// The highest sequence number applied.
    pub position: AtomicI64,
    /// Changes applied whose transactions the horizon has not passed yet (see the feed).
    pub unsettled: AtomicU64,
    /// Whether the follower has taken its starting position (the replica is ready), as a
    /// watch: readiness follows it as it changes.
    pub started: tokio::sync::watch::Sender<bool>,
    /// Changes applied.
    pub applied: AtomicU64,
    /// Microseconds from the last applied change's commit to its application.
    pub last_lag_micros: AtomicU64,
    /// When the last read that saw every change committed before it began, began (Unix
    /// microseconds; 0 before the first): every change older than this is applied.
    pub caught_up_micros: AtomicI64,
    /// Times the follower resynchronised after losing the feed or its notifications.
    pub reconnects: AtomicU64,
    /// Batches of commits a logical feed's leader read before Postgres showed them to other
    /// sessions, and waited for (see `feed/visible.rs`).
    pub awaited: AtomicU64,
    /// A logical feed's standby: when (Unix microseconds, this replica's clock) it last heard
    /// its leader say how far it had published.
    pub heard_micros: AtomicI64,
    /// How this replica follows it ([`Following`]).
    following: AtomicU8,
}

impl FeedStats {
    /// How this replica follows it.
    pub fn following(&self) -> Following {
        Following::from_u8(self.following.load(Ordering::Relaxed))
    }

    /// Notes how this replica follows it.
    pub fn follow_as(&self, following: Following) {
        self.following.store(following as u8, Ordering::Relaxed);
    }

    /// The backends whose database it follows, for people: `billing, orders`.
    pub fn database(&self) -> String {
        self.backends.join(", ")
    }

    /// Notes that every change committed before `began` is applied.
    pub fn caught_up(&self, began: chrono::DateTime<chrono::Utc>) {
        self.caught_up_micros
            .fetch_max(began.timestamp_micros(), Ordering::Relaxed);
    }
}

/// A feed's figures at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSnapshot {
    /// The backends whose database it follows; the first names the feed.
    pub backends: Vec<&'static str>,
    /// Position.
    pub position: i64,
    /// Changes applied.
    pub applied: u64,
    /// Lag of the last change applied, in microseconds.
    pub last_lag_micros: u64,
    /// How old the oldest change not applied yet may be: the time since the follower last
    /// saw every change committed (`None` before it first has). A follower that stalls
    /// shows here at once, however old its last change.
    pub staleness: Option<std::time::Duration>,
    /// Resynchronisations.
    pub reconnects: u64,
    /// Batches of commits read before they were visible, and waited for.
    pub awaited: u64,
    /// Whether the follower holds a position.
    pub started: bool,
    /// How this replica follows it.
    pub following: Following,
}

impl FeedSnapshot {
    /// The backends whose database it follows, for people: `billing, orders`.
    pub fn database(&self) -> String {
        self.backends.join(", ")
    }
}

impl CacheStats {
    /// Registers a feed following the database of `backends`.
    pub fn add_feed(&self, backends: Vec<&'static str>) -> Arc<FeedStats> {
        let feed = Arc::new(FeedStats {
            backends,
            position: AtomicI64::new(0),
            unsettled: AtomicU64::new(0),
            started: tokio::sync::watch::Sender::new(false),
            applied: AtomicU64::new(0),
            last_lag_micros: AtomicU64::new(0),
            caught_up_micros: AtomicI64::new(0),
            reconnects: AtomicU64::new(0),
            awaited: AtomicU64::new(0),
            heard_micros: AtomicI64::new(0),
            following: AtomicU8::new(Following::Unknown as u8),
        });
        if let Ok(mut feeds) = self.feeds.lock() {
            feeds.push(feed.clone());
        }
        feed
    }

    /// Notes that this replica stands by for `feed` (hears it from its leader) or no longer
    /// does.
    pub fn stand_by(&self, feed: &Arc<FeedStats>, standing: bool) {
        feed.follow_as(match standing {
            true => Following::StandingBy,
            false => Following::Leading,
        });
        if standing {
            // Heard nothing yet: as if just before.
            feed.heard_micros
                .store(chrono::Utc::now().timestamp_micros(), Ordering::Relaxed);
        }
        self.standing_by.rcu(|feeds| {
            let mut feeds: Vec<_> = feeds
                .iter()
                .filter(|f| !Arc::ptr_eq(f, feed))
                .cloned()
                .collect();
            if standing {
                feeds.push(feed.clone());
            }
            feeds
        });
    }

    /// Notes that the leader of the feed named `name` says it has published every change
    /// committed before `micros`.
    pub fn heard(&self, name: &str, micros: i64) {
        if let Some(feed) = self.feed_named(name) {
            feed.caught_up_micros.fetch_max(micros, Ordering::Relaxed);
            feed.heard_micros
                .store(chrono::Utc::now().timestamp_micros(), Ordering::Relaxed);
        }
    }

    /// Whether this replica stands by for a feed whose leader it has not heard from within
    /// `within`: changes may have been committed that it has not heard of.
    pub fn deaf(&self, within: std::time::Duration) -> bool {
        let feeds = self.standing_by.load();
        if feeds.is_empty() {
            return false;
        }
        let since = chrono::Utc::now().timestamp_micros()
            - i64::try_from(within.as_micros()).unwrap_or(i64::MAX);
        feeds
            .iter()
            .any(|feed| feed.heard_micros.load(Ordering::Relaxed) < since)
    }

    /// The feed named `name` (its first backend's name).
    pub fn feed_named(&self, name: &str) -> Option<Arc<FeedStats>> {
        let feeds = self.feeds.lock().ok()?;
        feeds
            .iter()
            .find(|feed| feed.backends.first().is_some_and(|first| *first == name))
            .cloned()
    }

    /// Every feed's figures.
    pub fn feeds(&self) -> Vec<FeedSnapshot> {
        let Ok(feeds) = self.feeds.lock() else {
            return Vec::new();
        };
        let now = chrono::Utc::now().timestamp_micros();
        feeds
            .iter()
            .map(|f| FeedSnapshot {
                staleness: match f.caught_up_micros.load(Ordering::Relaxed) {
                    0 => None,
                    since => Some(std::time::Duration::from_micros(
                        u64::try_from(now - since).unwrap_or(0),
                    )),
                },
                reconnects: f.reconnects.load(Ordering::Relaxed),
                awaited: f.awaited.load(Ordering::Relaxed),
                started: *f.started.borrow(),
                following: f.following(),
                backends: f.backends.clone(),
                position: f.position.load(Ordering::Relaxed),
                applied: f.applied.load(Ordering::Relaxed),
                last_lag_micros: f.last_lag_micros.load(Ordering::Relaxed),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_standby_is_deaf_once_its_leader_is_silent_too_long_and_never_otherwise() {
        let stats = CacheStats::default();
        let billing = stats.add_feed(vec!["billing"]);
        let crm = stats.add_feed(vec!["crm"]);
        let within = Duration::from_millis(500);
        assert!(!stats.deaf(within), "standing by for nothing");
        stats.stand_by(&billing, true);
        stats.stand_by(&crm, true);
        assert!(!stats.deaf(within), "just began standing by");
        let long_ago = chrono::Utc::now().timestamp_micros() - 2_000_000;
        billing.heard_micros.store(long_ago, Ordering::Relaxed);
        assert!(stats.deaf(within), "billing's leader silent for 2 s");
        stats.heard("billing", 42);
        assert!(!stats.deaf(within), "heard again");
        assert_eq!(billing.caught_up_micros.load(Ordering::Relaxed), 42);
        crm.heard_micros.store(long_ago, Ordering::Relaxed);
        assert!(stats.deaf(within), "crm's leader silent");
        stats.stand_by(&crm, false);
        assert!(!stats.deaf(within), "crm leads here now");
    }
}
