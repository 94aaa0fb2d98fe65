//! The caches in front of the fan-out. L1 is moka, in process, bounded by bytes, with one
//! load per key.

mod l1;

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;

pub use l1::{L1Config, Lookup, ProfileCache};

use crate::{profile::Profile, sources::SourceSet};

/// A merged profile as the caches hold it.
#[derive(Debug)]
pub struct CachedProfile {
    /// The profile, with every section its backends allow.
    pub profile: Profile,
    /// When its backends were read (monotonic, for ages).
    pub loaded_at: Instant,
    weight: u32,
}

impl CachedProfile {
    /// Wraps a profile read from the backends at `loaded_at`.
    pub fn new(profile: Profile, loaded_at: Instant) -> Arc<Self> {
        let weight = l1::weigh(&profile);
        Arc::new(Self {
            profile,
            loaded_at,
            weight,
        })
    }

    /// How old the data is.
    pub fn age(&self) -> Duration {
        self.loaded_at.elapsed()
    }

    /// Whether it holds what the backends of `set` say.
    pub fn covers(&self, set: SourceSet) -> bool {
        self.profile.asked().covers(set)
    }

    /// Approximate bytes it takes in memory.
    pub fn weight(&self) -> u32 {
        self.weight
    }
}
