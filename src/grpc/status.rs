//! Every [`Error`] as a `google.rpc.Status`: a canonical code, an
//! `ErrorInfo` with an UPPER_SNAKE reason in the `claimdesk.v1` domain, and
//! for invalid input a `BadRequest` naming each field. The match has no
//! catch-all arm, so a new kind of error cannot go out unmapped.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::convert::claim_name;
use crate::{domain::DomainError, error::Error};

/// The `ErrorInfo.domain` of every error of the service.
pub const ERROR_DOMAIN: &str = "claimdesk.v1";

/// The reason of a call refused because the caller's role does not allow
/// it; the `role` metadata names the role that would.
pub const ROLE_REQUIRED: &str = "ROLE_REQUIRED";

/// The reason of a call refused because the store failed for good (a
/// durable flush failed): retrying does not help until the server is
/// restarted.
pub const STORAGE_FAILED: &str = "STORAGE_FAILED";

/// A status with an `ErrorInfo` of the service's domain: every error the
/// service sends is built here.
pub fn status(code: Code, reason: &str, message: String, metadata: &[(&str, String)]) -> Status {
    let metadata: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    Status::with_error_details(
        code,
        message,
        ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata),
    )
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match error {
            Error::Invalid(violations) => {
                let mut details =
                    ErrorDetails::with_error_info("INVALID_ARGUMENT", ERROR_DOMAIN, HashMap::new());
                for v in violations {
                    details.add_bad_request_violation(v.field, v.description);
                }
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            Error::Rule(rule) => match rule {
                DomainError::InvalidTransition { action, state } => status(
                    Code::FailedPrecondition,
                    "INVALID_TRANSITION",
                    message,
                    &[
                        ("action", action.as_str().to_owned()),
                        ("state", super::convert::state_enum_name(state).to_owned()),
                    ],
                ),
                DomainError::NotAssignee { assignee, .. } => status(
                    Code::FailedPrecondition,
                    "NOT_ASSIGNEE",
                    message,
                    &[(
                        "assignee",
                        assignee.map(|a| a.into_inner()).unwrap_or_default(),
                    )],
                ),
                DomainError::NoIndependentEvidence => status(
                    Code::FailedPrecondition,
                    "NO_INDEPENDENT_EVIDENCE",
                    message,
                    &[],
                ),
                DomainError::NoRefutingEvidence => status(
                    Code::FailedPrecondition,
                    "NO_REFUTING_EVIDENCE",
                    message,
                    &[],
                ),
                DomainError::TooMuchEvidence => {
                    status(Code::FailedPrecondition, "TOO_MUCH_EVIDENCE", message, &[])
                }
                DomainError::LeaseExpired { holder } => status(
                    Code::FailedPrecondition,
                    "LEASE_EXPIRED",
                    message,
                    &[("holder", holder.into_inner())],
                ),
                // Only the lease sweeper expires leases, and it looks first.
                DomainError::LeaseNotExpired => {
                    status(Code::FailedPrecondition, "LEASE_NOT_EXPIRED", message, &[])
                }
                DomainError::SystemOnly { .. } => {
                    status(Code::FailedPrecondition, "SYSTEM_ONLY", message, &[])
                }
                DomainError::RoleRequired { action, role } => status(
                    Code::PermissionDenied,
                    ROLE_REQUIRED,
                    message,
                    &[
                        ("role", role.as_str().to_owned()),
                        ("action", action.as_str().to_owned()),
                    ],
                ),
                DomainError::StaleEtag { current } => status(
                    Code::Aborted,
                    "ETAG_MISMATCH",
                    message,
                    &[("etag", current)],
                ),
            },
            Error::NotFound(id) => status(
                Code::NotFound,
                "CLAIM_NOT_FOUND",
                format!("{} not found", claim_name(id)),
                &[("name", claim_name(id))],
            ),
            Error::RequestIdReused(request_id) => status(
                Code::AlreadyExists,
                "REQUEST_ID_REUSED",
                message,
                &[("request_id", request_id)],
            ),
            Error::QueueEmpty => status(Code::NotFound, "QUEUE_EMPTY", message, &[]),
            Error::WatcherTooSlow => {
                status(Code::ResourceExhausted, "WATCHER_TOO_SLOW", message, &[])
            }
            Error::RevisionAhead { latest, .. } => status(
                Code::OutOfRange,
                "REVISION_AHEAD",
                message,
                &[("latest_revision", latest.to_string())],
            ),
            Error::ShuttingDown => status(Code::Unavailable, "SHUTTING_DOWN", message, &[]),
            Error::CredentialRevoked => {
                status(Code::Unauthenticated, "TOKEN_REVOKED", message, &[])
            }
            Error::Storage(cause) if cause.is_failed() => {
                tracing::error!(error = %cause, "storage failed; refusing writes until restarted");
                status(
                    Code::Unavailable,
                    STORAGE_FAILED,
                    "storage failed and cannot make changes durable; the server must be \
                     restarted"
                        .to_owned(),
                    &[],
                )
            }
            Error::Storage(cause) => {
                tracing::error!(error = %cause, "storage failure");
                status(
                    Code::Unavailable,
                    "STORAGE_UNAVAILABLE",
                    "storage is unavailable; retry later".to_owned(),
                    &[],
                )
            }
            Error::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                internal()
            }
        }
    }
}

/// The status of a failure the client cannot do anything about; details go
/// to the log only.
pub fn internal() -> Status {
    status(Code::Internal, "INTERNAL", "internal error".to_owned(), &[])
}
