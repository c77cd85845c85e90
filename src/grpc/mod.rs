//! The gRPC transport: the only part of the service that knows protobuf.
//! Handlers are thin: read the caller, validate and convert, call the
//! [`crate::desk::Desk`], convert back, map errors to statuses.

pub mod codec;
pub mod convert;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod identity;
pub mod links;
mod page_token;
pub mod policy;
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

/// The encoded descriptors of every service the server offers: the API,
/// health and reflection (v1 and v1alpha).
pub const SERVED_DESCRIPTOR_SETS: [&[u8]; 4] = [
    FILE_DESCRIPTOR_SET,
    tonic_health::pb::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
];

/// A method the server offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    /// `/package.Service/Method`, the HTTP/2 path of its calls.
    pub path: String,
    /// Whether requests or responses stream.
    pub streaming: bool,
    /// `unary`, `client_stream`, `server_stream` or `bidi_stream`.
    pub kind: &'static str,
}

/// Every method of [`SERVED_DESCRIPTOR_SETS`].
pub fn served_methods() -> Vec<Method> {
    use prost::Message as _;
    let mut methods = Vec::new();
    for encoded in SERVED_DESCRIPTOR_SETS {
        let set = prost_types::FileDescriptorSet::decode(encoded)
            .expect("the built-in descriptor sets decode");
        for file in &set.file {
            for service in &file.service {
                for method in &service.method {
                    let kind = match (method.client_streaming(), method.server_streaming()) {
                        (false, false) => "unary",
                        (true, false) => "client_stream",
                        (false, true) => "server_stream",
                        (true, true) => "bidi_stream",
                    };
                    methods.push(Method {
                        path: format!("/{}.{}/{}", file.package(), service.name(), method.name()),
                        streaming: kind != "unary",
                        kind,
                    });
                }
            }
        }
    }
    methods
}
