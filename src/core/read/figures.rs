//! The read path's figures at one moment, read once for everyone who shows them: `/metrics`
//! (`edge/server/exposition.rs`) and `GetCacheStats` (`edge/grpc/cache_admin_service.rs`)
//! each turn this one snapshot into their format, and every sum is made here once.

use super::Profiles;
use crate::core::{
    cache::{CacheCounts, FeedSnapshot},
    fanout::SourceCounts,
    vocab::PerSource,
};

/// Everything the read path knows about itself at one moment.
#[derive(Debug, Clone)]
pub struct Figures {
    /// The caches' event counts (sums: [`CacheCounts::l1_answered`],
    /// [`CacheCounts::l2_unanswered`]).
    pub cache: CacheCounts,
    /// Entries in L1.
    pub entries: u64,
    /// Bytes L1 holds.
    pub bytes: u64,
    /// With L2: customers whose invalidation Redis has not confirmed yet (read from the
    /// backends until it does).
    pub l2_unconfirmed_pending: Option<usize>,
    /// Whether the invalidation bus is subscribed now.
    pub bus_connected: bool,
    /// What each backend's reads came to.
    pub sources: PerSource<SourceCounts>,
    /// Admission control now.
    pub admission: AdmissionFigures,
    /// Loads tried again because no backend answered.
    pub retries: u64,
    /// Watch streams open.
    pub watchers: usize,
    /// Where each change feed stands.
    pub feeds: Vec<FeedSnapshot>,
}

/// Admission control at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionFigures {
    /// Backend loads admitted at once now (the adaptive limit).
    pub limit: usize,
    /// Backend loads running now.
    pub in_flight: usize,
    /// Loads refused since start.
    pub shed: u64,
}

impl Profiles {
    /// The figures now.
    pub async fn figures(&self) -> Figures {
        let cache = self.cache();
        let stats = self.stats();
        let fanout = self.fanout();
        let admission = fanout.admission();
        Figures {
            cache: stats.count.snapshot(),
            entries: cache.entry_count().await,
            bytes: cache.weighted_size().await,
            l2_unconfirmed_pending: self.l2().map(|l2| l2.unconfirmed()),
            bus_connected: stats
                .bus_connected
                .load(std::sync::atomic::Ordering::Relaxed),
            sources: PerSource::from_fn(|kind| fanout.counts(kind)),
            admission: AdmissionFigures {
                limit: admission.limit(),
                in_flight: admission.in_flight(),
                shed: admission.shed(),
            },
            retries: fanout.retries(),
            watchers: self.watchers(),
            feeds: stats.feeds(),
        }
    }
}
