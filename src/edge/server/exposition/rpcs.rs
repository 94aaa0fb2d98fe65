//! The gRPC methods' figures under go-grpc-prometheus's names: calls started, calls handled
//! by code, and how long they took.

use prometheus_client::{
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter},
};

use super::histogram;
use crate::edge::rpc_metrics::{GRPC_CODES, MethodSnapshot, RpcMetrics};

/// The codes `c360_grpc_caller_errors_total` counts.
const CALLERS_CODES: [usize; 2] = [
    tonic::Code::ResourceExhausted as usize,
    tonic::Code::DeadlineExceeded as usize,
];

/// One method's figures and its labels.
#[derive(Debug)]
pub(super) struct Method {
    labels: [(&'static str, String); 3],
    snapshot: MethodSnapshot,
}

/// Every served method's figures now.
pub(super) fn snapshot(rpcs: &RpcMetrics) -> Vec<Method> {
    rpcs.methods()
        .iter()
        .map(|m| Method {
            labels: [
                ("grpc_type", m.kind.as_str().to_owned()),
                ("grpc_service", m.service.clone()),
                ("grpc_method", m.method.clone()),
            ],
            snapshot: m.snapshot(),
        })
        .collect()
}

/// The `grpc_server_*` families; none when the methods are not counted.
pub(super) fn encode(rpcs: &[Method], encoder: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
    if rpcs.is_empty() {
        return Ok(());
    }
    let mut started = encoder.encode_descriptor(
        "grpc_server_started",
        "RPCs started on the server.",
        None,
        MetricType::Counter,
    )?;
    for rpc in rpcs {
        ConstCounter::new(rpc.snapshot.started).encode(started.encode_family(&rpc.labels)?)?;
    }
    let mut handled = encoder.encode_descriptor(
        "grpc_server_handled",
        "RPCs completed on the server, whatever their status.",
        None,
        MetricType::Counter,
    )?;
    for rpc in rpcs {
        for (code, &count) in GRPC_CODES.iter().zip(&rpc.snapshot.handled) {
            // Codes never seen are left out, as go-grpc-prometheus does.
            if count > 0 {
                let [a, b, c] = &rpc.labels;
                let labels = [
                    (a.0, a.1.as_str()),
                    (b.0, b.1.as_str()),
                    (c.0, c.1.as_str()),
                    ("grpc_code", code),
                ];
                ConstCounter::new(count).encode(handled.encode_family(&labels)?)?;
            }
        }
    }
    let mut callers = encoder.encode_descriptor(
        "c360_grpc_caller_errors",
        "RPCs that ended in an error their caller caused: over its own rate or share \
         (ResourceExhausted), or out of a deadline it set below the floor (DeadlineExceeded). \
         Counted in grpc_server_handled_total too; the availability objective subtracts them.",
        None,
        MetricType::Counter,
    )?;
    for rpc in rpcs {
        for (i, (code, &count)) in GRPC_CODES.iter().zip(&rpc.snapshot.callers).enumerate() {
            // The two codes a caller can cause are there from the start, at zero, so that a
            // rate over the first one counted is not lost.
            if count > 0 || CALLERS_CODES.contains(&i) {
                let [a, b, c] = &rpc.labels;
                let labels = [
                    (a.0, a.1.as_str()),
                    (b.0, b.1.as_str()),
                    (c.0, c.1.as_str()),
                    ("grpc_code", code),
                ];
                ConstCounter::new(count).encode(callers.encode_family(&labels)?)?;
            }
        }
    }
    let mut seconds = encoder.encode_descriptor(
        "grpc_server_handling_seconds",
        "How long RPCs took until their status was sent.",
        None,
        MetricType::Histogram,
    )?;
    for rpc in rpcs {
        histogram(
            &mut seconds.encode_family(&rpc.labels)?,
            &rpc.snapshot.latency,
        )?;
    }
    Ok(())
}
