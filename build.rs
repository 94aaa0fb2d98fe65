//! Compiles the API in `proto/` without `protoc`: protox parses the files, tonic-prost-build
//! generates the messages and services, and the encoded descriptor set is kept for reflection
//! and for the client's JSON output.

use std::{env, error::Error, fs, path::PathBuf};

use protox::prost::Message;

const PROTOS: &[&str] = &[
    "customer360/v1/customer_service.proto",
    "customer360/v1/catalog_service.proto",
    "customer360/v1/cache_admin_service.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("customer360_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
