//! Compiles the API in `customer360/v1/` without `protoc`: protox parses the files,
//! tonic-prost-build generates the messages and services, and the encoded descriptor set is
//! kept for reflection and for clients that render JSON.

use std::{env, error::Error, fs, path::PathBuf};

use protox::prost::Message;

const PROTOS: &[&str] = &[
    "customer360/v1/customer_service.proto",
    "customer360/v1/catalog_service.proto",
    "customer360/v1/cache_admin_service.proto",
    "customer360/v1/attention_service.proto",
    "customer360/v1/offer_service.proto",
    "customer360/v1/history_service.proto",
    // The error details c360's errors carry, so that reflection serves them.
    "google/rpc/status.proto",
    "google/rpc/error_details.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=customer360");
    println!("cargo:rerun-if-changed=google");
    let descriptors = protox::compile(PROTOS, ["."])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("customer360_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    // Messages and clients.
    tonic_prost_build::configure()
        .build_server(false)
        .compile_fds(descriptors.clone())?;
    // Servers, apart: their profile responses are bytes encoded ahead (`WireProfile`), written
    // as they are instead of re-encoding a struct per request.
    let servers = out_dir.join("server");
    fs::create_dir_all(&servers)?;
    tonic_prost_build::configure()
        .build_client(false)
        .out_dir(servers)
        // A request that does not decode is the caller's error (`codec.rs`).
        .codec_path("crate::ServerCodec")
        .extern_path(".customer360.v1.CustomerProfile", "crate::WireProfile")
        .extern_path(
            ".customer360.v1.BatchGetCustomerProfilesResponse",
            "crate::WireBatch",
        )
        .extern_path(".customer360.v1", "crate")
        .compile_fds(descriptors)?;
    Ok(())
}
