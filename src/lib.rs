//! claimdesk: a newsroom's verification queue for claims found in copy, over
//! gRPC, stored in an embedded sled database.
//!
//! # Layout
//! - [`domain`]: claims, validated inputs, the state machine and labels. Pure:
//!   no I/O, no gRPC, no sled.
//! - [`storage`]: the [`storage::Store`] trait and its sled implementation,
//!   stored records, indexes and durable group commit. The only module that
//!   knows sled.
//! - [`auth`]: API tokens: the tokens file, hashing, reloading, new tokens.
//! - [`clock`]: the service's clock (wall clock advancing with tokio's).
//! - [`desk`]: the operations of the desk (submit, read, change), running
//!   storage work off the async workers and waiting for durability.
//! - [`grpc`]: the `claimdesk.v1` service, conversions and error statuses.
//!   The only module that knows protobuf.
//! - [`server`]: wiring: listener, health, reflection, panic guard,
//!   gRPC-Web and CORS, graceful shutdown.
//! - [`telemetry`]: logging set-up.
//! - [`testing`]: a server in process for tests, here and in other
//!   projects.
//! - [`tls`]: TLS and mutual TLS of the server: flags, PEM files checked at
//!   start.
//! - [`cli`]: commands of the binary other than `serve` (`audit verify`,
//!   `token new`, the client commands `claim`, `queue`, `events`, `health`,
//!   and `demo`).
//! - [`error`]: the error type shared by the layers.
//! - `fuzzing` (with the `fuzzing` feature): the bodies of the fuzz targets
//!   of `fuzz/`, which the tests also run over their committed corpora.

pub mod auth;
pub mod cli;
pub mod clock;
pub mod desk;
pub mod domain;
pub mod error;
pub mod fingerprint;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod grpc;
pub mod server;
pub mod storage;
pub mod telemetry;
pub mod testing;
pub mod tls;

pub use grpc::pb;
