//! The generated protobuf types and services of `customer360.v1`. They stay at the edge
//! (`grpc/`, `client/`); the rest of the crate works with domain types.

#![allow(missing_docs, unreachable_pub, clippy::all)]

tonic::include_proto!("customer360.v1");

/// The services' server side, answering profiles with pre-encoded bytes.
pub mod server {
    include!(concat!(env!("OUT_DIR"), "/server/customer360.v1.rs"));
}

/// The encoded `FileDescriptorSet` of the API, imports included: for reflection and JSON.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("customer360_descriptor");
