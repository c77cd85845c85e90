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

/// The invalid fields of a request: the first [`FieldViolations::MAX_LISTED`]
/// found, and how many more there were. A hostile request can hold hundreds
/// of thousands of bad values; listing them all would make the error larger
/// than the request (and than what clients accept as trailers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldViolations {
    listed: Vec<FieldViolation>,
    unlisted: usize,
}

impl FieldViolations {
    /// Violations listed one by one; the rest are only counted.
    pub const MAX_LISTED: usize = 32;

    pub fn push(&mut self, field: impl Into<String>, description: impl Into<String>) {
        if self.listed.len() < Self::MAX_LISTED {
            self.listed.push(FieldViolation {
                field: field.into(),
                description: description.into(),
            });
        } else {
            self.unlisted += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.listed.is_empty() && self.unlisted == 0
    }

    pub fn listed(&self) -> &[FieldViolation] {
        &self.listed
    }

    /// How many were found beyond those listed.
    pub fn unlisted(&self) -> usize {
        self.unlisted
    }

    pub fn into_parts(self) -> (Vec<FieldViolation>, usize) {
        (self.listed, self.unlisted)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {}", describe(.0))]
    Invalid(FieldViolations),
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
    #[error(
        "as many backups as the server takes at once are being taken; try again once one has ended"
    )]
    TooManyBackups,
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

fn describe(violations: &FieldViolations) -> String {
    let mut parts: Vec<String> = violations
        .listed
        .iter()
        .map(|v| format!("{} {}", v.field, v.description))
        .collect();
    if violations.unlisted > 0 {
        parts.push(format!("and {} more", violations.unlisted));
    }
    parts.join("; ")
}

impl Error {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut violations = FieldViolations::default();
        violations.push(field, description);
        Error::Invalid(violations)
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
    kind: StorageErrorKind,
}

/// What a [`StorageError`] means for the caller and for the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// This call failed; a change refused with it was not made.
    Call,
    /// The store can no longer make writes durable (a durable flush
    /// failed): it refuses writes until the server is restarted.
    Failed,
    /// The database server could not be reached; a change refused with it
    /// was not made. The store reconnects by itself.
    Unreachable,
    /// The connection to the database was lost while a change committed:
    /// it may or may not have been made.
    CommitUnknown,
}

impl StorageError {
    pub fn new(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            context,
            source: std::sync::Arc::from(source.into()),
            kind: StorageErrorKind::Call,
        }
    }

    /// A failure that leaves the store unable to make writes durable until
    /// it is reopened: after a failed fsync the kernel may have dropped the
    /// dirty pages, so no later success proves anything.
    pub fn failed(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::new(context, source).with_kind(StorageErrorKind::Failed)
    }

    /// The same failure, of another kind.
    pub fn with_kind(mut self, kind: StorageErrorKind) -> Self {
        self.kind = kind;
        self
    }

    pub fn kind(&self) -> StorageErrorKind {
        self.kind
    }

    /// Whether the store has failed for good (see [`StorageError::failed`]),
    /// rather than for this one call.
    pub fn is_failed(&self) -> bool {
        self.kind == StorageErrorKind::Failed
    }
}

impl Error {
    /// Whether this error says the store has failed for good and the
    /// server must be restarted.
    pub fn is_store_failure(&self) -> bool {
        matches!(self, Error::Storage(e) if e.is_failed())
    }
}
