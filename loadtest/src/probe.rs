//! The miss path, taken apart: each answer says how long each backend took, so the time a
//! miss costs beyond its slowest backend can be measured per request rather than guessed.

use std::time::Duration;

use c360_proto::{self as pb, customer_service_client::CustomerServiceClient};
use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::calls::IdRange;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000_000, 3)
        .unwrap_or_else(|_| unreachable!("valid bounds"))
}

fn ms(h: &Histogram<u64>, percentile: f64) -> f64 {
    h.value_at_percentile(percentile) as f64 / 1e6
}

/// Reads `samples` profiles one after the other, bypassing the caches, and reports the total
/// latency, the slowest backend's, and their difference.
pub async fn probe(target: &str, samples: u64, ids: IdRange) -> Result<String, String> {
    let mut client = CustomerServiceClient::connect(target.to_owned())
        .await
        .map_err(|e| format!("cannot connect to {target}: {e}"))?;
    let (mut total, mut slowest, mut beyond) = (histogram(), histogram(), histogram());
    let span = ids.last - ids.first + 1;
    for n in 0..samples {
        let request = pb::GetCustomerProfileRequest {
            customer_id: (ids.first + n % span).to_string(),
            bypass_cache: true,
            ..Default::default()
        };
        let started = Instant::now();
        let profile = client
            .get_customer_profile(request)
            .await
            .map_err(|status| format!("{:?}: {}", status.code(), status.message()))?
            .into_inner();
        let elapsed = started.elapsed();
        let slowest_source = profile
            .sources
            .iter()
            .filter_map(|s| s.latency.and_then(|d| Duration::try_from(d).ok()))
            .max()
            .unwrap_or_default();
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
        total.saturating_record(nanos(elapsed));
        slowest.saturating_record(nanos(slowest_source));
        beyond.saturating_record(nanos(elapsed.saturating_sub(slowest_source)));
    }
    Ok(format!(
        "miss path over {samples} reads: total p50 {:.2} ms, p99 {:.2} ms; slowest backend p50 {:.2} ms, \
         p99 {:.2} ms; total minus slowest backend p50 {:.3} ms, p99 {:.3} ms",
        ms(&total, 50.0),
        ms(&total, 99.0),
        ms(&slowest, 50.0),
        ms(&slowest, 99.0),
        ms(&beyond, 50.0),
        ms(&beyond, 99.0),
    ))
}
