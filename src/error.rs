//! The one error type of the service's operations. Expected failures (bad
//! input, rules, missing claims) are kept apart from unexpected ones (the
//! storage failing, a bug); the transport maps each variant to a status code.

use crate::domain::{ClaimId, DomainError};

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request, e.g. `claim.attribution.source`.
    pub field: String,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {}", describe(.0))]
    Invalid(Vec<FieldViolation>),
    #[error(transparent)]
    Rule(#[from] DomainError),
    #[error("claim {0} not found")]
    NotFound(ClaimId),
    #[error("request id {0:?} was already used for a different claim")]
    RequestIdReused(String),
    #[error("no claim is waiting in the queue")]
    QueueEmpty,
    #[error("the watcher fell too far behind; resume from the last revision received")]
    WatcherTooSlow,
    #[error("the server is shutting down; reconnect and resume")]
    ShuttingDown,
    #[error("the caller's token was revoked or changed")]
    CredentialRevoked,
    #[error("revision {after} is beyond the last stored revision {latest}")]
    RevisionAhead { after: u64, latest: u64 },
    #[error("storage failure: {0}")]
    Storage(#[from] StorageError),
    #[error("internal error: {0}")]
    Internal(String),
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{} {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }
}

/// A failure of the storage engine or the disk. Its cause is for the log,
/// never for clients. Cheap to clone, so one failed group flush can be
/// reported to every writer waiting on it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{context}: {source}")]
pub struct StorageError {
    context: &'static str,
    source: std::sync::Arc<dyn std::error::Error + Send + Sync>,
    /// The store can no longer make writes durable (a durable flush
    /// failed): it refuses writes until the server is restarted.
    failed: bool,
}

impl StorageError {
    pub fn new(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            context,
            source: std::sync::Arc::from(source.into()),
            failed: false,
        }
    }

    /// A failure that leaves the store unable to make writes durable until
    /// it is reopened: after a failed fsync the kernel may have dropped the
    /// dirty pages, so no later success proves anything.
    pub fn failed(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            failed: true,
            ..Self::new(context, source)
        }
    }

    /// Whether the store has failed for good (see [`StorageError::failed`]),
    /// rather than for this one call.
    pub fn is_failed(&self) -> bool {
        self.failed
    }
}

impl Error {
    /// Whether this error says the store has failed for good and the
    /// server must be restarted.
    pub fn is_store_failure(&self) -> bool {
        matches!(self, Error::Storage(e) if e.is_failed())
    }
}
