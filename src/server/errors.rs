//! How starting and serving fail.

use std::{net::SocketAddr, path::PathBuf};

use super::announce::AnnounceError;
use crate::{auth::TokensFileError, error::Error};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the data directory {dir}: {source}")]
    Store { dir: PathBuf, source: Error },
    /// The PostgreSQL store cannot be opened (`database` is its URL with
    /// any password left out).
    #[error("cannot open the store in the database {database}: {source}")]
    Database {
        database: String,
        source: crate::storage::postgres::OpenError,
    },
    #[error(
        "refusing to listen on {addr}: no tokens file is given, so callers are not \
         authenticated and anyone who can reach this address could act as any user; give \
         --tokens-file (CLAIMDESK_TOKENS_FILE), listen on a loopback address (127.0.0.1 or \
         ::1), or pass --allow-anonymous (CLAIMDESK_ALLOW_ANONYMOUS=true) to serve \
         unauthenticated callers on the network anyway"
    )]
    AnonymousOnNetwork { addr: SocketAddr },
    #[error(transparent)]
    Tokens(#[from] TokensFileError),
    /// The SIGHUP handler that reloads the tokens file cannot be installed.
    #[error(transparent)]
    Hangup(std::io::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("transport failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("final flush failed: {0}")]
    FinalFlush(Error),
    /// The runtime or thread the server runs on cannot be started or
    /// failed (servers that tests run in process).
    #[error("cannot run the server: {0}")]
    Runtime(std::io::Error),
    /// The server stopped without taking a call: it could not say that it
    /// accepts them.
    #[error(transparent)]
    Announce(#[from] AnnounceError),
}
