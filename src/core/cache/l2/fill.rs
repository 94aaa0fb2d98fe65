//! Filling L2 after a load: only if nothing invalidated the customer (nor flushed L2) since
//! the loader read its guard, checked and written in one Redis script, the entry sealed to
//! the generation and epoch the guard holds.

use deadpool_redis::redis;

use super::RedisCache;
use crate::core::{
    cache::{CachedProfile, stats::bump},
    vocab::CustomerId,
};

/// Writes `ARGV[1]` to `KEYS[1]` for `ARGV[3]` ms if the generation in `KEYS[2]` is still
/// `ARGV[2]` (a missing generation reads `0`) and the epoch in `KEYS[3]` still `ARGV[4]` (a
/// missing epoch matches nothing: Redis restarted empty since the guard was read, and with it
/// went every generation the guard could be checked against).
const FILL_IF_CURRENT: &str = r"
local generation = redis.call('GET', KEYS[2]) or '0'
local epoch = redis.call('GET', KEYS[3])
if generation == ARGV[2] and epoch == ARGV[4] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  return 1
end
return 0
";

/// What a loader read before it went to the backends, to fill against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillGuard {
    pub(super) generation: String,
    pub(super) epoch: String,
}

impl RedisCache {
    /// What a fill of `customer` must find unchanged in L2 to land. The epoch is created if
    /// Redis has none (it started empty).
    pub async fn fill_guard(&self, customer: CustomerId) -> Option<FillGuard> {
        let mut get = redis::cmd("MGET");
        get.arg(self.generation_key(customer))
            .arg(self.epoch_key(customer));
        let (generation, epoch): (Option<String>, Option<String>) =
            self.run("generation", get).await?;
        let epoch = match epoch {
            Some(epoch) => epoch,
            None => {
                let mut create = redis::cmd("SET");
                create
                    .arg(self.epoch_key(customer))
                    .arg(rand::random::<u64>().to_string())
                    .arg("NX");
                self.run::<Option<String>>("epoch", create).await?;
                let mut get = redis::cmd("GET");
                get.arg(self.epoch_key(customer));
                self.run::<Option<String>>("epoch", get).await??
            }
        };
        Some(FillGuard {
            generation: generation.unwrap_or_else(|| "0".into()),
            epoch,
        })
    }

    /// Stores `entry` (with its answers, if it has them) if nothing invalidated `customer`
    /// since `guard` was read.
    pub async fn fill(&self, customer: CustomerId, entry: &CachedProfile, guard: &FillGuard) {
        let loaded_at = entry.loaded_wall;
        if self.unconfirmed.distrusts(customer, loaded_at) {
            bump(&self.stats.count.discarded_loads);
            return;
        }
        let mut eval = redis::cmd("EVAL");
        eval.arg(FILL_IF_CURRENT)
            .arg(3)
            .arg(self.profile_key(customer))
            .arg(self.generation_key(customer))
            .arg(self.epoch_key(customer))
            .arg(
                self.keys.seal(
                    &self.binding(customer, &guard.generation, &guard.epoch),
                    &entry
                        .encoded
                        .to_l2(loaded_at, entry.catalog(), entry.unshown()),
                ),
            )
            .arg(&guard.generation)
            .arg(u64::try_from(self.settings.ttl.as_millis()).unwrap_or(u64::MAX))
            .arg(&guard.epoch);
        let stored: Option<i64> = self.run("fill", eval).await;
        if stored == Some(0) {
            bump(&self.stats.count.discarded_loads);
        }
    }
}
