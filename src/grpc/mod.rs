//! The gRPC transport: the only part of the service that knows protobuf.
//! Handlers are thin: read the caller, validate and convert, call the
//! [`crate::desk::Desk`], convert back, map errors to statuses.

pub mod convert;
pub mod identity;
mod service;
pub mod status;

pub use service::ClaimServiceImpl;

/// Messages, client and server generated from `proto/claimdesk/v1`.
pub mod pb {
    tonic::include_proto!("claimdesk.v1");
}

/// The encoded descriptors of the API and of `google.rpc` error details,
/// served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/claimdesk_descriptor.bin"));
