//! Each backend's figures, labelled `source`: reads, hedges, errors by why, latency, reads
//! under way, its pool, its circuit.

use prometheus_client::{
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
};

use super::histogram;
use crate::core::{
    fanout::{CircuitState, SourceCounts},
    vocab::{PerSource, SourceKind},
};

fn circuit(state: CircuitState) -> &'static str {
    match state {
        CircuitState::Closed => "closed",
        CircuitState::Open => "open",
        CircuitState::HalfOpen => "half_open",
    }
}

/// Every backend's families.
pub(super) fn encode(
    sources: &PerSource<SourceCounts>,
    encoder: &mut DescriptorEncoder<'_>,
) -> std::fmt::Result {
    let sources: Vec<(SourceKind, &SourceCounts)> = sources.iter().collect();
    let per_source = |f: fn(&SourceCounts) -> u64| {
        sources
            .iter()
            .map(move |(kind, counts)| ([("source", kind.as_str())], f(counts)))
    };
    for (name, help, value) in [
        (
            "c360_source_reads",
            "Backend reads started, hedges included.",
            (|c: &SourceCounts| c.reads) as fn(&SourceCounts) -> u64,
        ),
        (
            "c360_source_hedges",
            "Second reads of a read that ran past the backend's 95th percentile.",
            |c| c.hedges,
        ),
        (
            "c360_source_circuit_opened",
            "Times the backend's circuit opened.",
            |c| c.opened,
        ),
    ] {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (labels, count) in per_source(value) {
            ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
        }
    }
    let mut errors = encoder.encode_descriptor(
        "c360_source_errors",
        "Backend reads that gave nothing, by why: timeout, unavailable (the backend \
         failed), circuit_open (not asked).",
        None,
        MetricType::Counter,
    )?;
    for (kind, counts) in &sources {
        for (reason, count) in [
            ("timeout", counts.timeouts),
            ("unavailable", counts.failed),
            ("circuit_open", counts.refused),
        ] {
            let labels = [("source", kind.as_str()), ("reason", reason)];
            ConstCounter::new(count).encode(errors.encode_family(&labels)?)?;
        }
    }
    let mut latency = encoder.encode_descriptor(
        "c360_source_read_seconds",
        "How long backend reads took, to their answer, error or deadline.",
        None,
        MetricType::Histogram,
    )?;
    for (kind, counts) in &sources {
        histogram(
            &mut latency.encode_family(&[("source", kind.as_str())])?,
            &counts.latency,
        )?;
    }
    let mut flying = encoder.encode_descriptor(
        "c360_source_reads_in_flight",
        "Backend reads under way now (waiting for a connection, or running).",
        None,
        MetricType::Gauge,
    )?;
    for (kind, counts) in &sources {
        let in_flight = i64::try_from(counts.in_flight).unwrap_or(i64::MAX);
        ConstGauge::new(in_flight).encode(flying.encode_family(&[("source", kind.as_str())])?)?;
    }
    let pools: Vec<_> = sources
        .iter()
        .filter_map(|(kind, counts)| Some((kind.as_str(), counts.pool?, counts.in_flight)))
        .collect();
    let mut connections = encoder.encode_descriptor(
        "c360_source_pool_connections",
        "Connections of each backend's pool, by state (idle, busy).",
        None,
        MetricType::Gauge,
    )?;
    for (source, pool, _) in &pools {
        let busy = pool.size.saturating_sub(pool.idle);
        for (state, count) in [("idle", pool.idle), ("busy", busy)] {
            ConstGauge::new(i64::from(count))
                .encode(connections.encode_family(&[("source", *source), ("state", state)])?)?;
        }
    }
    let mut max = encoder.encode_descriptor(
        "c360_source_pool_max_connections",
        "The most connections each backend's pool opens.",
        None,
        MetricType::Gauge,
    )?;
    for (source, pool, _) in &pools {
        ConstGauge::new(i64::from(pool.max)).encode(max.encode_family(&[("source", *source)])?)?;
    }
    let mut waiters = encoder.encode_descriptor(
        "c360_source_pool_waiting",
        "Backend reads waiting for a connection, at least: reads under way beyond the busy \
         connections.",
        None,
        MetricType::Gauge,
    )?;
    for (source, pool, in_flight) in &pools {
        let busy = u64::from(pool.size.saturating_sub(pool.idle));
        let waiting = i64::try_from(in_flight.saturating_sub(busy)).unwrap_or(i64::MAX);
        ConstGauge::new(waiting).encode(waiters.encode_family(&[("source", *source)])?)?;
    }
    let mut circuits = encoder.encode_descriptor(
        "c360_source_circuit_state",
        "1 for the state each backend's circuit is in (closed, half_open, open).",
        None,
        MetricType::Gauge,
    )?;
    for (kind, counts) in &sources {
        for state in [
            CircuitState::Closed,
            CircuitState::HalfOpen,
            CircuitState::Open,
        ] {
            let labels = [("source", kind.as_str()), ("state", circuit(state))];
            ConstGauge::new(i64::from(counts.circuit == state))
                .encode(circuits.encode_family(&labels)?)?;
        }
    }
    Ok(())
}
