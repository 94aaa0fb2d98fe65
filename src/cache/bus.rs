//! The invalidation bus: admin invalidations reach the other replicas over Redis pub/sub.
//! Pub/sub delivers at most once, so a replica whose subscription comes back after a drop
//! flushes L1: it cannot know what it missed.

use std::time::Duration;

use deadpool_redis::redis;
use futures::StreamExt;

use super::l2::parse_message;
use crate::profiles::Profiles;

const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Listens on the bus of `profiles`' L2 and applies what other replicas publish, until the
/// task is dropped. Does nothing without L2.
pub async fn listen(profiles: Profiles) {
    let Some(l2) = profiles.l2().cloned() else {
        return;
    };
    let client = match redis::Client::open(l2.url()) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "invalid Redis URL: no invalidation bus");
            return;
        }
    };
    let channel = l2.channel();
    let mut connected_before = false;
    loop {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
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
            profiles.flush_here();
        }
        connected_before = true;
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            let Ok(text) = message.get_payload::<String>() else {
                continue;
            };
            match parse_message(&text) {
                Some((sender, _)) if sender == profiles.replica() => {}
                Some((_, customers)) => profiles.invalidate_here(&customers).await,
                None => tracing::warn!(message = %text, "malformed invalidation ignored"),
            }
        }
        tracing::warn!("invalidation bus dropped; reconnecting");
        tokio::time::sleep(RETRY_AFTER).await;
    }
}
