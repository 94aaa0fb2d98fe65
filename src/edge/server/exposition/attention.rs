//! The attention queue's figures: the queue's own (open items by reason, unclaimed items, the
//! oldest unclaimed item's wait), which every replica reports alike from the shared tables,
//! and this replica's (claims, resolutions, derivations, the sweep's lag).

use prometheus_client::{
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
};

use crate::core::attention::{AttentionSnapshot, Reason};

/// Encodes `figures` as read at `now`.
pub(super) fn encode(
    figures: &AttentionSnapshot,
    now: chrono::DateTime<chrono::Utc>,
    encoder: &mut DescriptorEncoder<'_>,
) -> std::fmt::Result {
    if let Some(queue) = &figures.queue {
        let mut open = encoder.encode_descriptor(
            "c360_attention_open_items",
            "Items in the attention queue (shared by every replica), by reason.",
            None,
            MetricType::Gauge,
        )?;
        for (reason, count) in Reason::ALL.iter().zip(queue.open) {
            ConstGauge::new(count as f64)
                .encode(open.encode_family(&[("reason", reason.as_str())])?)?;
        }
        let gauges = [
            (
                "c360_attention_unclaimed_items",
                "Open attention items no agent holds.",
                queue.unclaimed as f64,
            ),
            (
                "c360_attention_oldest_unclaimed_seconds",
                "How long the oldest unclaimed attention item has been due (0 when none).",
                queue.oldest_unclaimed_due.map_or(0.0, |due| {
                    (now - due).num_milliseconds().max(0) as f64 / 1e3
                }),
            ),
        ];
        for (name, help, value) in gauges {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value).encode(metric)?;
        }
    }
    let counters = [
        (
            "c360_attention_claims",
            "Attention items this replica's callers claimed.",
            figures.claims,
        ),
        (
            "c360_attention_resolutions",
            "Attention items this replica's callers resolved.",
            figures.resolutions,
        ),
        (
            "c360_attention_derivations",
            "Customers whose attention items this replica derived again.",
            figures.derivations,
        ),
        (
            "c360_attention_derive_failures",
            "Derivations that failed (the profile or the queue's tables did not answer).",
            figures.derive_failures,
        ),
    ];
    for (name, help, value) in counters {
        let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        ConstCounter::new(value).encode(metric)?;
    }
    let lag = encoder.encode_descriptor(
        "c360_attention_sweep_lag_seconds",
        "How late this replica's last sweep ran past the instant it was due.",
        None,
        MetricType::Gauge,
    )?;
    ConstGauge::new(figures.sweep_lag.as_secs_f64()).encode(lag)
}
