//! Every gRPC method's figures — calls started, calls ended by status code, latency — under
//! go-grpc-prometheus's names, for the methods the server serves. The server counts them
//! (`server/observe.rs`); `/metrics` and `GetCacheStats` read them.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use prost_reflect::DescriptorPool;

use crate::core::histogram::{Histogram, HistogramSnapshot};

/// The gRPC status codes as go-grpc-prometheus names them in `grpc_code`, by number.
pub const GRPC_CODES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

/// The codes that are the server's fault, not the caller's: what the availability SLO in
/// `deploy/prometheus/c360.rules.yml` spends its error budget on. `NotFound`,
/// `InvalidArgument`, `Unauthenticated`, `Canceled` and the rest are the caller's.
pub const FAULT_CODES: [&str; 6] = [
    "Unknown",
    "DeadlineExceeded",
    "ResourceExhausted",
    "Internal",
    "Unavailable",
    "DataLoss",
];

/// A method's shape, as `grpc_type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// One message each way.
    Unary,
    /// One request, a stream of responses.
    ServerStream,
    /// A stream of requests, one response.
    ClientStream,
    /// Streams both ways.
    BidiStream,
}

impl CallKind {
    /// The `grpc_type` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unary => "unary",
            Self::ServerStream => "server_stream",
            Self::ClientStream => "client_stream",
            Self::BidiStream => "bidi_stream",
        }
    }
}

/// One gRPC method's figures.
#[derive(Debug)]
pub struct MethodStats {
    /// `/package.Service/Method`, as in the request path.
    pub path: String,
    /// `package.Service`.
    pub service: String,
    /// `Method`.
    pub method: String,
    /// Its shape.
    pub kind: CallKind,
    started: AtomicU64,
    handled: [AtomicU64; GRPC_CODES.len()],
    callers: [AtomicU64; GRPC_CODES.len()],
    latency: Histogram,
}

/// One method's figures at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodSnapshot {
    /// Calls started.
    pub started: u64,
    /// Calls ended, by status code number.
    pub handled: [u64; GRPC_CODES.len()],
    /// Of those, the calls whose error the caller caused (over its own limits, or out of a
    /// deadline it set below the floor), by status code number.
    pub callers: [u64; GRPC_CODES.len()],
    /// How long ended calls took, until their status was sent.
    pub latency: HistogramSnapshot,
}

impl MethodStats {
    /// Counts a call started.
    pub fn start(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a call ended with `code` after `elapsed`.
    pub fn handled(&self, code: tonic::Code, elapsed: Duration) {
        let code = (code as usize).min(GRPC_CODES.len() - 1);
        self.handled[code].fetch_add(1, Ordering::Relaxed);
        self.latency.observe(elapsed);
    }

    /// Counts the call just ended with `code` as one whose error its caller caused.
    pub fn callers_fault(&self, code: tonic::Code) {
        let code = (code as usize).min(GRPC_CODES.len() - 1);
        self.callers[code].fetch_add(1, Ordering::Relaxed);
    }

    /// The figures now.
    pub fn snapshot(&self) -> MethodSnapshot {
        MethodSnapshot {
            started: self.started.load(Ordering::Relaxed),
            handled: std::array::from_fn(|i| self.handled[i].load(Ordering::Relaxed)),
            callers: std::array::from_fn(|i| self.callers[i].load(Ordering::Relaxed)),
            latency: self.latency.snapshot(),
        }
    }
}

/// Every served method's figures, found by request path. Only methods the server serves are
/// counted: a path that names none (a scan, a typo) adds no series.
#[derive(Debug, Default)]
pub struct RpcMetrics {
    methods: Vec<MethodStats>,
    by_path: HashMap<String, usize>,
}

impl RpcMetrics {
    /// The methods of every service in the encoded descriptor sets.
    pub fn new(descriptor_sets: &[&[u8]]) -> Result<Self, prost_reflect::DescriptorError> {
        let mut methods = Vec::new();
        for set in descriptor_sets {
            let pool = DescriptorPool::decode(*set)?;
            for service in pool.services() {
                for method in service.methods() {
                    let kind = match (method.is_client_streaming(), method.is_server_streaming()) {
                        (false, false) => CallKind::Unary,
                        (false, true) => CallKind::ServerStream,
                        (true, false) => CallKind::ClientStream,
                        (true, true) => CallKind::BidiStream,
                    };
                    methods.push(MethodStats {
                        path: format!("/{}/{}", service.full_name(), method.name()),
                        service: service.full_name().to_owned(),
                        method: method.name().to_owned(),
                        kind,
                        started: AtomicU64::new(0),
                        handled: Default::default(),
                        callers: Default::default(),
                        latency: Histogram::default(),
                    });
                }
            }
        }
        methods.sort_by(|a, b| a.path.cmp(&b.path));
        methods.dedup_by(|a, b| a.path == b.path);
        let by_path = methods
            .iter()
            .enumerate()
            .map(|(i, m)| (m.path.clone(), i))
            .collect();
        Ok(Self { methods, by_path })
    }

    /// The method a request path names, if served.
    pub fn get(&self, path: &str) -> Option<&MethodStats> {
        self.index(path).map(|i| &self.methods[i])
    }

    /// Where in [`Self::methods`] the method a request path names is, if served.
    pub fn index(&self, path: &str) -> Option<usize> {
        self.by_path.get(path).copied()
    }

    /// Every method, by path.
    pub fn methods(&self) -> &[MethodStats] {
        &self.methods
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn micros(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn methods_are_found_by_path_with_their_shape_and_unknown_paths_are_not() {
        let rpcs = RpcMetrics::new(&[c360_proto::FILE_DESCRIPTOR_SET]).expect("descriptors");
        let get = rpcs
            .get("/customer360.v1.CustomerService/GetCustomerProfile")
            .expect("served");
        assert_eq!(
            (get.service.as_str(), get.method.as_str(), get.kind),
            (
                "customer360.v1.CustomerService",
                "GetCustomerProfile",
                CallKind::Unary
            )
        );
        let watch = rpcs
            .get("/customer360.v1.CustomerService/WatchCustomerProfile")
            .expect("served");
        assert_eq!(watch.kind, CallKind::ServerStream);
        assert!(rpcs.get("/customer360.v1.CustomerService/Nope").is_none());
        get.start();
        get.handled(tonic::Code::NotFound, micros(80));
        let snapshot = get.snapshot();
        assert_eq!((snapshot.started, snapshot.handled[5]), (1, 1));
        assert_eq!(GRPC_CODES[tonic::Code::NotFound as usize], "NotFound");
        assert_eq!(
            GRPC_CODES[tonic::Code::Unauthenticated as usize],
            "Unauthenticated"
        );
    }
}
