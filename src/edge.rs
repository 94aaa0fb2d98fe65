//! The edge: what callers meet — the server and its layers, the gRPC services, who may call
//! and what, the audit trail. The `# Layout` map of `lib.rs` says what each module does.

pub mod audit;
pub mod auth;
pub mod grpc;
pub mod replica;
pub mod rpc_metrics;
pub mod server;
