//! Compiles the API protos with the pure-Rust `protox` compiler, so building
//! needs no system `protoc`.
//!
//! Two descriptor sets come out of it:
//! - the `claimdesk.v1` files, from which `tonic-prost-build` generates the
//!   message types, client and server;
//! - the same files plus `google.rpc` (status and error details), encoded to
//!   `$OUT_DIR/claimdesk_descriptor.bin` for server reflection, so grpcurl can
//!   describe the API and decode error details with no proto files at hand.
//!   `file_descriptor_set_path` would do nothing on the `compile_fds` path,
//!   hence the file is written here.

use std::{env, fs, path::PathBuf};

use prost::Message as _;

const API_FILES: &[&str] = &[
    "claimdesk/v1/claim.proto",
    "claimdesk/v1/claim_service.proto",
];
const ERROR_FILES: &[&str] = &["google/rpc/status.proto", "google/rpc/error_details.proto"];
const INCLUDES: &[&str] = &["proto", "third_party/googleapis"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=third_party/googleapis");

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    let reflection = protox::compile(API_FILES.iter().chain(ERROR_FILES), INCLUDES)?;
    fs::write(
        out_dir.join("claimdesk_descriptor.bin"),
        reflection.encode_to_vec(),
    )?;

    let api = protox::compile(API_FILES, INCLUDES)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // prost's codec, counting repeated fields before decoding.
        .codec_path("crate::grpc::codec::BoundedCodec")
        .compile_fds(api)?;
    Ok(())
}
