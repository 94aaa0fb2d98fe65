//! c360's API, package `customer360.v1`: the messages, clients and servers generated from
//! `customer360/v1/*.proto`, the descriptor set for reflection and JSON, and the two responses
//! that servers send as bytes encoded ahead ([`WireProfile`], [`WireBatch`]).
//!
//! A crate of its own so that clients (the load generator, other services) build the API
//! without the server's database, cache and Redis dependencies.

mod codec;
mod wire;

pub use codec::ServerCodec;

pub use v1::*;
pub use wire::{WireBatch, WireProfile};

/// The generated messages and clients (re-exported at the crate root).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::unwrap_used)]
pub mod v1 {
    tonic::include_proto!("customer360.v1");
}

/// The services' server side, answering profiles with [`WireProfile`] and [`WireBatch`].
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::unwrap_used)]
pub mod server {
    include!(concat!(env!("OUT_DIR"), "/server/customer360.v1.rs"));
}

/// The encoded `FileDescriptorSet` of the API, imports included: for reflection and JSON.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("customer360_descriptor");
