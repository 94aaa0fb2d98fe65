//! What an invalidation does to L2 and tells the other replicas: the customers' entries
//! dropped and their generations moved on (so that no fill begun before lands), the ones Redis
//! did not confirm retried until it does (`unconfirmed.rs`), the whole of L2 flushed when too
//! many went unconfirmed, and the message on the bus.

use std::time::Duration;

use deadpool_redis::redis;

use super::RedisCache;
use crate::core::{cache::stats::bump, vocab::CustomerId};

/// Profile keys deleted per round trip when L2 is flushed.
const FLUSH_BATCH: usize = 500;

/// The least each step of a flush may take. A flush is rare, reaches every bucket and every
/// master, and answers no caller's read, so it is not held to a read's timeout: on a cluster
/// its epochs alone are a command per slot, and just after a reshard the client is still
/// learning where the slots went (`MOVED`, a refresh, a retry).
const FLUSH_STEP: Duration = Duration::from_secs(2);

impl RedisCache {
    /// Drops the entries of `customers` and gives them new generations, so that no fill
    /// begun before now lands. False when Redis did not confirm it: this replica then keeps
    /// off L2 for them until [`Self::repair`] gets the invalidation through.
    pub async fn invalidate(&self, customers: &[CustomerId]) -> bool {
        if customers.is_empty() {
            return true;
        }
        let attempt = self.unconfirmed.begin();
        // A generation key outlives any fill that could have read it.
        let keep = (self.settings.ttl * 2).as_secs().max(60);
        // One transaction per slot (one in all on one Redis), all at once.
        let groups = self.layout.by_slot(customers).into_iter().map(|group| {
            let mut pipe = redis::pipe();
            pipe.atomic();
            for customer in group {
                pipe.cmd("SET")
                    .arg(self.generation_key(customer))
                    .arg(rand::random::<u64>().to_string())
                    .arg("EX")
                    .arg(keep)
                    .ignore();
                pipe.cmd("DEL").arg(self.profile_key(customer)).ignore();
            }
            self.run_pipe("invalidate", pipe, self.settings.timeout * 4)
        });
        if futures::future::join_all(groups)
            .await
            .into_iter()
            .all(|done| done)
        {
            self.unconfirmed.confirmed(customers, attempt);
            true
        } else {
            self.unconfirmed.failed(customers, attempt);
            bump(&self.stats.count.l2_unconfirmed);
            tracing::warn!(
                count = customers.len(),
                "L2 did not confirm an invalidation: this replica keeps off L2 for these customers until it does"
            );
            false
        }
    }

    /// Customers whose invalidation L2 has not confirmed yet.
    pub fn unconfirmed(&self) -> usize {
        self.unconfirmed.len()
    }

    /// Retries the invalidations L2 did not confirm (flushing L2 if there were too many to
    /// hold); true when nothing is left to repair.
    pub async fn repair(&self) -> bool {
        let pending = self.unconfirmed.pending();
        let mut repaired = true;
        if let Some(since) = pending.since {
            if self.flush().await {
                tracing::warn!("L2 flushed: too many invalidations had gone unconfirmed");
                self.unconfirmed.flushed(since);
            } else {
                repaired = false;
            }
        }
        for customers in pending.customers.chunks(1000) {
            repaired &= self.invalidate(customers).await;
        }
        if repaired && !pending.customers.is_empty() {
            tracing::info!(
                count = pending.customers.len(),
                "L2 confirmed the invalidations it had missed"
            );
        }
        repaired
    }

    /// Retries unconfirmed invalidations every `every`, until the task is dropped.
    pub async fn keep_repairing(self, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.repair().await;
        }
    }

    /// Drops every profile of this prefix and moves the epoch (every bucket's, on a cluster)
    /// on, so that no fill begun before now lands; false when Redis did not confirm it.
    pub async fn flush(&self) -> bool {
        let epoch = rand::random::<u64>().to_string();
        let mut epochs = redis::cmd("MSET");
        for key in self.layout.epochs() {
            epochs.arg(key).arg(&epoch);
        }
        let step = self.flush_step();
        let moved = self.connections.query::<()>(&epochs);
        if self.within("flush epoch", step, moved).await.is_none() {
            return false;
        }
        // One Redis, or each master of the cluster in turn.
        let masters = self.connections.masters();
        let Some(masters) = self.within("flush nodes", step, masters).await else {
            return false;
        };
        let nodes: Vec<_> = match masters.is_empty() {
            true => vec![None],
            false => masters.iter().map(Some).collect(),
        };
        for node in nodes {
            if !self.unlink_profiles(node).await {
                return false;
            }
        }
        true
    }

    fn flush_step(&self) -> Duration {
        self.settings.timeout.max(FLUSH_STEP)
    }

    /// Unlinks every profile of this prefix on `node` (or the one Redis).
    async fn unlink_profiles(&self, node: Option<&(String, u16)>) -> bool {
        let pattern = self.layout.profiles();
        let mut cursor = 0u64;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(FLUSH_BATCH);
            let scanned = self.connections.query_on::<(u64, Vec<String>)>(node, scan);
            let step = self.flush_step();
            let Some((next, keys)) = self.within("flush scan", step, scanned).await else {
                return false;
            };
            if !keys.is_empty() {
                let mut unlink = redis::cmd("UNLINK");
                unlink.arg(keys);
                let unlinked = self.connections.query::<i64>(&unlink);
                if self.within("flush unlink", step, unlinked).await.is_none() {
                    return false;
                }
            }
            if next == 0 {
                return true;
            }
            cursor = next;
        }
    }

    /// Tells the other replicas, through pub/sub, to drop `customers` from their L1.
    pub async fn publish(&self, customers: &[CustomerId]) -> bool {
        self.tell(&BusMessage::Customers(customers.to_vec())).await
    }

    /// Tells the other replicas `message`; false when Redis did not take it.
    pub async fn tell(&self, message: &BusMessage) -> bool {
        let text = match message {
            BusMessage::Customers(customers) => {
                let ids: Vec<String> = customers.iter().map(ToString::to_string).collect();
                ids.join(",")
            }
            BusMessage::Catalog => CATALOG.into(),
            BusMessage::Flush => FLUSH.into(),
            BusMessage::CaughtUp { feed, micros } => format!("{CAUGHT_UP}{feed}:{micros}"),
        };
        let mut publish = redis::cmd("PUBLISH");
        publish
            .arg(self.channel())
            .arg(format!("{}:{text}", self.replica));
        self.run::<i64>("publish", publish).await.is_some()
    }
}

/// What one replica tells the others on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusMessage {
    /// Drop these customers (L2 is done already).
    Customers(Vec<CustomerId>),
    /// The catalog or the return policies changed: read them again.
    Catalog,
    /// Changes may have been missed: drop everything (L2 is flushed already).
    Flush,
    /// The leader of the feed named `feed` has applied and published every change
    /// committed before `micros` (Unix microseconds).
    CaughtUp {
        /// The feed's name: its first backend's.
        feed: String,
        /// When.
        micros: i64,
    },
}

const CATALOG: &str = "!catalog";
const FLUSH: &str = "!flush";
const CAUGHT_UP: &str = "!caught_up:";

/// Parses a bus message: the sending replica and what it says.
pub(crate) fn parse_message(message: &str) -> Option<(u64, BusMessage)> {
    let (replica, body) = message.split_once(':')?;
    let said = match body {
        CATALOG => BusMessage::Catalog,
        FLUSH => BusMessage::Flush,
        caught_up if caught_up.starts_with(CAUGHT_UP) => {
            let (feed, micros) = caught_up[CAUGHT_UP.len()..].split_once(':')?;
            BusMessage::CaughtUp {
                feed: feed.to_owned(),
                micros: micros.parse().ok()?,
            }
        }
        ids => BusMessage::Customers(
            ids.split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().ok())
                .collect::<Option<_>>()?,
        ),
    };
    Some((replica.parse().ok()?, said))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_messages_name_the_sender_and_the_customers() {
        let (replica, said) = parse_message("7:1,22,333").expect("valid");
        assert_eq!(replica, 7);
        let BusMessage::Customers(ids) = said else {
            panic!("customers expected, got {said:?}")
        };
        assert_eq!(
            ids.iter().map(|c| c.get()).collect::<Vec<_>>(),
            [1, 22, 333]
        );
        assert_eq!(parse_message("7:!catalog"), Some((7, BusMessage::Catalog)));
        assert_eq!(parse_message("7:!flush"), Some((7, BusMessage::Flush)));
        assert!(parse_message("7:!other").is_none());
        let caught_up = BusMessage::CaughtUp {
            feed: "billing".into(),
            micros: 1_700_000_000_000_000,
        };
        assert_eq!(
            parse_message("7:!caught_up:billing:1700000000000000"),
            Some((7, caught_up))
        );
        assert!(parse_message("7:!caught_up:billing:soon").is_none());
        assert!(parse_message("7:1,x").is_none());
        assert!(parse_message("nope").is_none());
    }
}
