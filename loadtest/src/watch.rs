//! Many watchers at once: `WatchCustomerProfile` streams opened together, one per customer,
//! and the delay with which each change reaches them.
//!
//! The watchers open all at once over `connections` HTTP/2 connections; a watch counts as
//! opened when its first profile arrives. Changes are made by someone else (`scripts/bench`
//! runs pgbench) and carry their own time: a writer sets a customer's loyalty points to
//! [`STAMPED`] plus its clock in milliseconds (modulo 10^9) at the UPDATE, so that a watcher
//! that receives a profile so stamped knows how long the change took to reach it: from
//! the statement (a hair before its commit) to the message (writer and watchers share this
//! machine's clock).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use c360_proto::{self as pb, customer_service_client::CustomerServiceClient};
use hdrhistogram::Histogram;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

use crate::calls::IdRange;

/// Loyalty points at or above this carry a change's time: this plus its milliseconds
/// modulo [`STAMP_MODULO`].
pub const STAMPED: i64 = 1_000_000_000;
/// The stamp's period, in milliseconds (11.6 days).
pub const STAMP_MODULO: i64 = 1_000_000_000;

/// What the watchers saw.
#[derive(Debug, Default)]
struct Seen {
    opened: u64,
    refused: Vec<String>,
    ended_early: u64,
    lags: Option<Histogram<u64>>,
}

fn now_stamp() -> i64 {
    chrono::Utc::now().timestamp_millis() % STAMP_MODULO
}

/// How long ago (ms) a change stamped `points` was made, if it is stamped.
fn lag_ms(points: i64, now: i64) -> Option<u64> {
    if points < STAMPED {
        return None;
    }
    let made = points - STAMPED;
    let lag = (now - made).rem_euclid(STAMP_MODULO);
    u64::try_from(lag).ok()
}

/// Opens `watchers` watches on the customers of `ids` (one each, round) over `connections`
/// connections to `target`, keeps them for `seconds` after they have all opened (or failed),
/// and reports: an error (with the report) if any did not open or ended early.
pub async fn watch(
    target: &str,
    watchers: u64,
    connections: usize,
    ids: IdRange,
    seconds: u64,
) -> Result<String, String> {
    let mut channels = Vec::with_capacity(connections.max(1));
    for _ in 0..connections.max(1) {
        let endpoint = Endpoint::from_shared(target.to_owned())
            .map_err(|e| format!("{target}: {e}"))?
            .http2_adaptive_window(true);
        channels.push(
            endpoint
                .connect()
                .await
                .map_err(|e| format!("cannot connect to {target}: {e}"))?,
        );
    }
    let seen = Arc::new(Mutex::new(Seen {
        lags: Some(
            Histogram::new_with_bounds(1, 3_600_000, 3).map_err(|e| format!("histogram: {e}"))?,
        ),
        ..Seen::default()
    }));
    let span = ids.last - ids.first + 1;
    let began = Instant::now();
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut tasks = Vec::with_capacity(watchers as usize);
    for n in 0..watchers {
        let channel = channels[n as usize % channels.len()].clone();
        let customer = ids.first + n % span;
        let (seen, opened) = (seen.clone(), opened_tx.clone());
        tasks.push(tokio::spawn(one_watcher(channel, customer, seen, opened)));
    }
    drop(opened_tx);
    // Every watch opens or fails: both report on the channel (or end).
    let mut answered = 0;
    while answered < watchers {
        match tokio::time::timeout(Duration::from_secs(60), opened_rx.recv()).await {
            Ok(Some(())) => answered += 1,
            _ => break,
        }
    }
    let open_time = began.elapsed();
    {
        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lags) = seen.lags.as_mut() {
            lags.reset();
        }
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    for task in &tasks {
        task.abort();
    }
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    let lags = seen.lags.as_ref().ok_or("no histogram")?;
    let refused = match seen.refused.first() {
        Some(first) => format!(" ({} refused; the first: {first})", seen.refused.len()),
        None => String::new(),
    };
    let said = format!(
        "watch: {watchers} watchers over {connections} connections: {} opened in {:.2} s{refused}; \
         then {seconds} s: {} changes delivered, lag median {} ms, p99 {} ms, max {} ms; {} streams ended early",
        seen.opened,
        open_time.as_secs_f64(),
        lags.len(),
        lags.value_at_quantile(0.5),
        lags.value_at_quantile(0.99),
        lags.max(),
        seen.ended_early,
    );
    // Every watch must open and stay open: anything else fails the run, after its report.
    match seen.opened == watchers && seen.ended_early == 0 {
        true => Ok(said),
        false => Err(said),
    }
}

async fn one_watcher(
    channel: Channel,
    customer: u64,
    seen: Arc<Mutex<Seen>>,
    opened: tokio::sync::mpsc::UnboundedSender<()>,
) {
    let mut client = CustomerServiceClient::new(channel);
    let request = pb::WatchCustomerProfileRequest {
        customer_id: customer.to_string(),
        read_mask: Some(prost_types::FieldMask {
            paths: vec!["identity".into()],
        }),
    };
    let mut stream = match client.watch_customer_profile(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => {
            let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.refused
                .push(format!("{:?}: {}", status.code(), status.message()));
            let _ = opened.send(());
            return;
        }
    };
    let mut first = true;
    loop {
        match stream.message().await {
            Ok(Some(profile)) => {
                let now = now_stamp();
                let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                if first {
                    seen.opened += 1;
                    first = false;
                    let _ = opened.send(());
                    continue;
                }
                let points = profile.identity.map_or(0, |i| i.loyalty_points);
                if let (Some(lag), Some(lags)) = (lag_ms(points, now), seen.lags.as_mut()) {
                    lags.saturating_record(lag.max(1));
                }
            }
            Ok(None) | Err(_) => {
                let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                if first {
                    seen.refused.push("ended before its first profile".into());
                    let _ = opened.send(());
                } else {
                    seen.ended_early += 1;
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_gives_the_lag_across_the_modulo_and_nothing_else_does() {
        assert_eq!(lag_ms(STAMPED + 1_000, 1_250), Some(250));
        assert_eq!(lag_ms(STAMPED + STAMP_MODULO - 10, 5), Some(15));
        assert_eq!(lag_ms(4_200, 5), None, "seeded points carry no time");
    }
}
