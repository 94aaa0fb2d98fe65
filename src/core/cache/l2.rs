//! L2: the encoded profile in Redis, shared by the replicas, under a versioned key with a TTL.
//! Every call has a short timeout, and every failure is a miss: Redis being slow or down costs
//! no RPC, only the backends' time.
//!
//! Fills are guarded ([`fill`]) as in L1, across replicas: an invalidation sets the customer's
//! generation key in Redis to a new random token, and a fill only lands if that key (and the
//! epoch key a flush of L2 changes) still hold what the loader read before it went to the
//! backends. Random tokens, not counters: a Redis that restarts empty would count the same
//! numbers again and let an old fill through.
//!
//! An invalidation Redis does not confirm is remembered ([`unconfirmed`]): this replica keeps
//! off L2 for that customer, and [`RedisCache::repair`] retries until Redis confirms.
//!
//! Entries are sealed ([`seal`]): encrypted and authenticated under the configured keys and
//! bound to their Redis key, to the customer's generation and to the epoch they were filled
//! under, so that an older entry copied back under its own key (by anyone who can write to
//! Redis) does not open once an invalidation or a flush has come between; and one older than
//! `redis.ttl` (and a little clock skew) is refused whatever it is bound to. One that does not
//! open is a counted miss, never served.

mod connection;
mod fill;
mod invalidation;
mod keys;
mod seal;
mod settings;
mod unconfirmed;

pub(crate) use self::invalidation::parse_message;
pub use self::{
    fill::FillGuard,
    invalidation::BusMessage,
    seal::{KeyError, Rejected, SealKeys, parse_key},
    settings::RedisSettings,
};

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use deadpool_redis::redis;

use self::{connection::Connections, keys::Keys, unconfirmed::Unconfirmed};
use super::stats::{CacheStats, bump};
use crate::{
    core::entry::{EncodedProfile, L2Entry},
    core::settings::OutOfRange,
    core::vocab::{CustomerId, Timestamp},
};

/// How far replicas' clocks may disagree on when an entry was loaded: an entry older than
/// `redis.ttl` by more than this was put back, not filled (Redis expired the one filled).
const CLOCK_SKEW: Duration = Duration::from_secs(5);

/// Why L2 could not be set up (an unreachable Redis is not an error).
#[derive(Debug, thiserror::Error)]
pub enum L2Error {
    /// The URL or the pool is unusable.
    #[error("invalid Redis configuration: {0}")]
    Invalid(String),
    /// A setting cannot be used: a CA file that does not read, keys that do not parse.
    #[error(transparent)]
    Settings(#[from] OutOfRange),
}

/// The keys of `settings`, the first to seal with.
fn seal_keys(settings: &RedisSettings) -> Result<SealKeys, OutOfRange> {
    let refused = |value: &str, rule: String| OutOfRange {
        key: "redis.encryption_keys".into(),
        value: value.into(),
        rule,
    };
    let keys = settings.encryption_keys.iter().map(|k| k.expose());
    SealKeys::from_config(keys)
        .map_err(|e| refused("(hidden)", e.to_string()))?
        .ok_or_else(|| refused("[]", "must hold a key when Redis is configured".into()))
}

/// The Redis cache, and this replica's end of the invalidation bus.
#[derive(Clone)]
pub struct RedisCache {
    connections: Arc<Connections>,
    /// Where what is kept.
    layout: Keys,
    settings: Arc<RedisSettings>,
    /// What entries are sealed with.
    keys: Arc<SealKeys>,
    stats: Arc<CacheStats>,
    /// This replica's id on the bus, so that it can tell its own messages from the others'.
    replica: u64,
    unconfirmed: Arc<Unconfirmed>,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("prefix", &self.settings.prefix)
            .finish()
    }
}

impl RedisCache {
    /// The counters it adds to.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// Connections to the Redis (or the cluster) of `settings`, if one is set; they connect
    /// on first use and reconnect by themselves.
    pub fn connect(
        settings: &RedisSettings,
        stats: Arc<CacheStats>,
    ) -> Result<Option<Self>, L2Error> {
        if !settings.configured() {
            return Ok(None);
        }
        let ca = settings.ca_file.as_deref().map(|path| {
            std::fs::read(path).map_err(|e| OutOfRange {
                key: "redis.ca_file".into(),
                value: path.display().to_string(),
                rule: format!("must be readable: {e}"),
            })
        });
        let connections = Connections::new(settings, ca.transpose()?.as_deref())?;
        let keys = seal_keys(settings)?;
        Ok(Some(Self {
            layout: Keys::new(&settings.prefix, connections.cluster_mode()),
            connections: Arc::new(connections),
            settings: Arc::new(settings.clone()),
            keys: Arc::new(keys),
            stats,
            replica: rand::random(),
            unconfirmed: Arc::default(),
        }))
    }

    /// Whether Redis answers a `PING` within the L2 timeout (at least a second: a first
    /// connection takes longer than a command): `Err` says why not.
    pub async fn ping(&self) -> Result<(), String> {
        let wait = self.settings.timeout.max(Duration::from_secs(1));
        let command = redis::cmd("PING");
        let ping = self.connections.query::<redis::Value>(&command);
        tokio::time::timeout(wait, ping)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {wait:?}")))
            .map(drop)
    }

    /// This replica's id on the invalidation bus.
    pub fn replica(&self) -> u64 {
        self.replica
    }

    /// A connection to subscribe on: to the Redis, or to the next node of the cluster.
    pub async fn pubsub(&self) -> redis::RedisResult<redis::aio::PubSub> {
        self.connections.pubsub().await
    }

    /// The pub/sub channel replicas tell each other about invalidations on.
    pub fn channel(&self) -> String {
        self.layout.channel()
    }

    /// The Redis key `customer`'s entry is stored under.
    pub fn profile_key(&self, customer: CustomerId) -> String {
        self.layout.profile(customer)
    }

    /// What `customer`'s entry is sealed to: its Redis key, and the generation and epoch it
    /// is filled under (and must still be current to open).
    fn binding(&self, customer: CustomerId, generation: &str, epoch: &str) -> Vec<u8> {
        let key = self.profile_key(customer);
        [key.as_bytes(), generation.as_bytes(), epoch.as_bytes()].join(&0u8)
    }

    fn generation_key(&self, customer: CustomerId) -> String {
        self.layout.generation(customer)
    }

    fn epoch_key(&self, customer: CustomerId) -> String {
        self.layout.epoch(customer)
    }

    /// Runs `call` within the timeout; `None` (counted) on any failure.
    async fn run<T>(&self, what: &'static str, call: redis::Cmd) -> Option<T>
    where
        T: redis::FromRedisValue,
    {
        let attempt = self.connections.query(&call);
        self.within(what, self.settings.timeout, attempt).await
    }

    /// Runs `pipe` (atomically, as built) within `timeout`; false (counted) on any failure.
    async fn run_pipe(&self, what: &'static str, pipe: redis::Pipeline, timeout: Duration) -> bool {
        let attempt = self.connections.run(&pipe);
        self.within(what, timeout, attempt).await.is_some()
    }

    /// Waits up to `timeout` for `attempt`; a failure or a timeout is counted and logged.
    async fn within<T>(
        &self,
        what: &'static str,
        timeout: Duration,
        attempt: impl std::future::Future<Output = Result<T, String>>,
    ) -> Option<T> {
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(error)) => {
                bump(&self.stats.count.l2_errors);
                tracing::debug!(%error, what, "L2 call failed");
                None
            }
            Err(_) => {
                bump(&self.stats.count.l2_errors);
                tracing::debug!(what, "L2 call timed out");
                None
            }
        }
    }

    /// The cached profile of `customer`, if it was enriched from the catalog whose fingerprint
    /// is `catalog` or can be enriched again.
    pub async fn get(&self, customer: CustomerId, catalog: u64) -> Option<L2Entry> {
        // The entry with the generation and epoch it must have been filled under, in one
        // round trip. (A missing epoch binds to nothing: no fill wrote under it.)
        let mut get = redis::cmd("MGET");
        get.arg(self.profile_key(customer))
            .arg(self.generation_key(customer))
            .arg(self.epoch_key(customer));
        let (found, generation, epoch): (Option<Vec<u8>>, Option<String>, Option<String>) =
            self.run("get", get).await?;
        let Some(sealed) = found else {
            bump(&self.stats.count.l2_misses);
            return None;
        };
        let generation = generation.as_deref().unwrap_or("0");
        let binding = self.binding(customer, generation, epoch.as_deref().unwrap_or(""));
        let rejected = |reason: &dyn std::fmt::Display| {
            // Written by something that does not hold our keys, or moved, or changed, or put
            // back after an invalidation or its TTL: never served.
            bump(&self.stats.count.l2_rejected);
            bump(&self.stats.count.l2_misses);
            tracing::warn!(%customer, %reason, "L2 entry refused");
        };
        let bytes = match self.keys.open(&binding, &sealed) {
            Ok(bytes) => bytes,
            Err(reason) => {
                rejected(&reason);
                return None;
            }
        };
        match EncodedProfile::from_l2(Bytes::from(bytes)) {
            Ok(entry) if self.outlived_its_ttl(entry.loaded_at) => {
                rejected(&"older than redis.ttl");
                None
            }
            Ok(entry) if entry.profile.customer() == customer => {
                if self.unconfirmed.distrusts(customer, entry.loaded_at) {
                    // An invalidation of it was not confirmed: it may be stale.
                    bump(&self.stats.count.l2_misses);
                    return None;
                }
                if entry.catalog != catalog && !entry.can_be_enriched_again() {
                    // Enriched from another catalog, and nothing to enrich it again from.
                    bump(&self.stats.count.l2_misses);
                    return None;
                }
                bump(&self.stats.count.l2_hits);
                Some(entry)
            }
            Ok(_) | Err(_) => {
                bump(&self.stats.count.l2_errors);
                tracing::warn!(%customer, "unreadable L2 entry ignored");
                None
            }
        }
    }

    /// Whether an entry loaded at `loaded_at` is older than any entry Redis still holds
    /// (by `redis.ttl`, give or take the replicas' clock skew).
    fn outlived_its_ttl(&self, loaded_at: Timestamp) -> bool {
        let age = chrono::Utc::now().signed_duration_since(loaded_at);
        age.to_std()
            .is_ok_and(|age| age > self.settings.ttl + CLOCK_SKEW)
    }
}
