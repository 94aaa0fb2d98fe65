//! Where L2 keeps what, in Redis: a customer's sealed entry, its generation, and the epoch a
//! flush moves on.
//!
//! On one Redis the epoch is one key. On a cluster, commands that touch several keys (the
//! `MGET` of a read, the fill's script, an invalidation's transaction) need them in one hash
//! slot, so every key is hash-tagged with its customer's bucket (`{b<id mod 1024>}`) and each
//! bucket has an epoch of its own: a customer's entry, generation and epoch share a slot,
//! and a flush moves all 1,024 epochs on. Buckets rather than the customer id itself, so that
//! the epochs stay few; 1,024 of them still spread evenly over any number of masters.

use crate::core::vocab::CustomerId;

/// How many epochs a cluster's keys are spread over.
pub(super) const BUCKETS: u64 = 1024;

/// The key layout of one Redis or of a cluster, under a prefix.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: String,
    cluster: bool,
}

impl Keys {
    pub(super) fn new(prefix: &str, cluster: bool) -> Self {
        Self {
            prefix: prefix.to_owned(),
            cluster,
        }
    }

    /// What a key of `customer` starts with: the prefix, and on a cluster its bucket's tag.
    fn of(&self, customer: CustomerId) -> String {
        match self.cluster {
            false => self.prefix.clone(),
            true => self.bucket(customer.get().unsigned_abs() % BUCKETS),
        }
    }

    fn bucket(&self, bucket: u64) -> String {
        format!("{}:{{b{bucket}}}", self.prefix)
    }

    /// The key `customer`'s entry is stored under. (v3: sealed to the generation too, which
    /// replicas of v2 could not open.)
    pub(super) fn profile(&self, customer: CustomerId) -> String {
        format!("{}:v3:profile:{customer}", self.of(customer))
    }

    /// What every entry's key matches, for a flush's `SCAN`.
    pub(super) fn profiles(&self) -> String {
        match self.cluster {
            false => format!("{}:v3:profile:*", self.prefix),
            true => format!("{}:{{b*}}:v3:profile:*", self.prefix),
        }
    }

    /// The key holding `customer`'s generation.
    pub(super) fn generation(&self, customer: CustomerId) -> String {
        format!("{}:v2:gen:{customer}", self.of(customer))
    }

    /// The key holding the epoch `customer`'s entries are filled under.
    pub(super) fn epoch(&self, customer: CustomerId) -> String {
        format!("{}:v2:epoch", self.of(customer))
    }

    /// Every epoch key: the one of one Redis, or each bucket's.
    pub(super) fn epochs(&self) -> Vec<String> {
        match self.cluster {
            false => vec![format!("{}:v2:epoch", self.prefix)],
            true => (0..BUCKETS)
                .map(|b| format!("{}:v2:epoch", self.bucket(b)))
                .collect(),
        }
    }

    /// `customers` in groups whose keys share a slot (one group on one Redis), so that each
    /// group can be changed in one transaction.
    pub(super) fn by_slot(&self, customers: &[CustomerId]) -> Vec<Vec<CustomerId>> {
        if !self.cluster {
            return vec![customers.to_vec()];
        }
        let mut groups = std::collections::BTreeMap::<u64, Vec<CustomerId>>::new();
        for customer in customers {
            let bucket = customer.get().unsigned_abs() % BUCKETS;
            groups.entry(bucket).or_default().push(*customer);
        }
        groups.into_values().collect()
    }

    /// The pub/sub channel replicas tell each other about invalidations on.
    pub(super) fn channel(&self) -> String {
        format!("{}:v1:invalidations", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The part of a key Redis Cluster hashes: what the first `{…}` holds, if anything.
    fn hashed(key: &str) -> &str {
        key.split_once('{')
            .and_then(|(_, rest)| rest.split_once('}'))
            .map_or(key, |(tag, _)| tag)
    }

    fn id(n: i64) -> CustomerId {
        CustomerId::new(n).unwrap()
    }

    #[test]
    fn one_redis_keeps_the_keys_it_always_had() {
        let keys = Keys::new("c360", false);
        assert_eq!(keys.profile(id(42)), "c360:v3:profile:42");
        assert_eq!(keys.generation(id(42)), "c360:v2:gen:42");
        assert_eq!(keys.epoch(id(42)), "c360:v2:epoch");
        assert_eq!(keys.epochs(), ["c360:v2:epoch"]);
        assert_eq!(keys.profiles(), "c360:v3:profile:*");
        assert_eq!(keys.by_slot(&[id(1), id(2)]), [vec![id(1), id(2)]]);
    }

    #[test]
    fn on_a_cluster_a_customers_keys_share_its_buckets_slot() {
        let keys = Keys::new("c360", true);
        for n in [1, 42, 1024, 1066, 9_999_999] {
            let tag = hashed(&keys.profile(id(n))).to_owned();
            assert_eq!(tag, format!("b{}", n % 1024));
            assert_eq!(hashed(&keys.generation(id(n))), tag);
            assert_eq!(hashed(&keys.epoch(id(n))), tag);
        }
        assert_eq!(keys.profile(id(1066)), "c360:{b42}:v3:profile:1066");
        // Every bucket's epoch, each in its bucket's slot.
        let epochs = keys.epochs();
        assert_eq!(epochs.len(), 1024);
        assert!(epochs.contains(&keys.epoch(id(1066))));
        let tags: std::collections::HashSet<_> = epochs.iter().map(|k| hashed(k)).collect();
        assert_eq!(tags.len(), 1024);
        // Customers of one bucket go together.
        let groups = keys.by_slot(&[id(1), id(1025), id(2)]);
        assert_eq!(groups, [vec![id(1), id(1025)], vec![id(2)]]);
    }
}
