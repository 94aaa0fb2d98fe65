//! What wakes the triggers' follower on Postgres: `NOTIFY c360_feed`, heard on a connection
//! of its own that reconnects for ever and says when it did (notifications may have been
//! lost meanwhile).

use sqlx::postgres::PgListener;
use tokio::sync::mpsc;

use crate::core::logs::error_chain;

use super::RETRY_AFTER;

/// What the notification listener reports.
pub(super) enum Wake {
    /// Something was committed.
    Changed,
    /// The connection dropped and came back: notifications may have been lost.
    Reconnected,
}

/// Listens for `c360_feed` notifications, reconnecting for ever; reports wake-ups and
/// reconnections. Runs in its own task, so that the follower never cancels a receive.
pub(super) async fn listen(pool: sqlx::PgPool, wake: mpsc::Sender<Wake>) {
    let mut first = true;
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "cannot listen for changes; retrying");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        if let Err(error) = listener.listen("c360_feed").await {
            tracing::warn!(error = %error_chain(&error), "cannot listen for changes; retrying");
            tokio::time::sleep(RETRY_AFTER).await;
            continue;
        }
        if !first && wake.send(Wake::Reconnected).await.is_err() {
            return;
        }
        first = false;
        loop {
            let event = match listener.try_recv().await {
                Ok(Some(_)) => Wake::Changed,
                Ok(None) => Wake::Reconnected,
                Err(error) => {
                    tracing::warn!(error = %error_chain(&error), "change notifications lost; reconnecting");
                    break;
                }
            };
            // A full channel already holds a wake-up: one read covers both.
            match wake.try_send(event) {
                Ok(()) | Err(mpsc::error::TrySendError::Full(Wake::Changed)) => {}
                Err(mpsc::error::TrySendError::Full(Wake::Reconnected)) => {
                    if wake.send(Wake::Reconnected).await.is_err() {
                        return;
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
        tokio::time::sleep(RETRY_AFTER).await;
    }
}
