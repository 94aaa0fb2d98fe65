//! The invalidation bus: admin invalidations, and a logical feed's leader's changes, reach
//! the other replicas over Redis pub/sub.
//! Pub/sub delivers at most once, so a replica whose subscription comes back after a drop
//! resyncs (flushes L1): it cannot know what it missed. On a Redis Cluster the subscription
//! is to one node (a `PUBLISH` reaches every node's subscribers), and after a drop it is made
//! again on the next configured node, so that a node down costs the bus one resync.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use deadpool_redis::redis;
use futures::{StreamExt, future::BoxFuture};

use super::{
    CacheStats, RedisCache,
    l2::{BusMessage, parse_message},
};
use crate::core::vocab::CustomerId;

const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What a replica does with what the others publish.
pub trait BusSink: Send + Sync + 'static {
    /// Another replica invalidated these customers: drop them here (L2 is done already).
    fn customers_changed(&self, customers: Vec<CustomerId>) -> BoxFuture<'_, ()>;
    /// The catalog or the return policies changed.
    fn catalog_changed(&self) -> BoxFuture<'_, ()>;
    /// Messages may have been missed: drop everything cached here.
    fn resync(&self);
}

/// Marks the bus connected while it lives (the listening task may be dropped at any await).
struct Connected<'a>(&'a CacheStats);

impl<'a> Connected<'a> {
    fn on(stats: &'a CacheStats) -> Self {
        stats.bus_connected.store(true, Ordering::Relaxed);
        Self(stats)
    }
}

impl Drop for Connected<'_> {
    fn drop(&mut self) {
        self.0.bus_connected.store(false, Ordering::Relaxed);
    }
}

/// Listens on the bus of `l2` and hands `sink` what other replicas publish, until the task
/// is dropped.
pub async fn listen(l2: RedisCache, sink: Arc<dyn BusSink>) {
    let channel = l2.channel();
    let mut connected_before = false;
    loop {
        let subscribed = async {
            let mut pubsub = l2.pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let mut pubsub = match subscribed.await {
            Ok(pubsub) => pubsub,
            Err(error) => {
                tracing::debug!(%error, "invalidation bus unreachable; retrying");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        if connected_before {
            tracing::warn!("invalidation bus reconnected: flushing L1");
            l2.stats()
                .count
                .bus_reconnects
                .fetch_add(1, Ordering::Relaxed);
            sink.resync();
        }
        connected_before = true;
        let connected = Connected::on(l2.stats());
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            let Ok(text) = message.get_payload::<String>() else {
                continue;
            };
            match parse_message(&text) {
                Some((sender, _)) if sender == l2.replica() => {}
                Some((_, BusMessage::Customers(customers))) => {
                    sink.customers_changed(customers).await
                }
                Some((_, BusMessage::Catalog)) => sink.catalog_changed().await,
                Some((_, BusMessage::Flush)) => sink.resync(),
                Some((_, BusMessage::CaughtUp { feed, micros })) => l2.stats().heard(&feed, micros),
                None => tracing::warn!(bytes = text.len(), "malformed invalidation ignored"),
            }
        }
        drop(connected);
        tracing::warn!("invalidation bus dropped; reconnecting");
        tokio::time::sleep(RETRY_AFTER).await;
    }
}
