//! Every [`Error`] as a `google.rpc.Status`: a canonical code, an
//! `ErrorInfo` with an UPPER_SNAKE reason in the `claimdesk.v1` domain, and
//! for invalid input a `BadRequest` naming each field. The match has no
//! catch-all arm, so a new kind of error cannot go out unmapped.
//!
//! Every status is bounded in size whatever the request held: a status
//! travels in HTTP/2 trailers, and clients refuse trailers beyond 8 to 16 KiB
//! in all (tonic's, through hyper, at 16 KiB), losing the whole answer. The
//! `grpc-message` is cut to [`MAX_MESSAGE_BYTES`] (and sent twice: once
//! percent-encoded, once inside the details), field violations to
//! [`FieldViolations::MAX_LISTED`] and [`MAX_VIOLATION_BYTES`] in all, then
//! one saying how many more there were.

use std::{borrow::Cow, collections::HashMap};

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::convert::claim_name;
use crate::{
    domain::DomainError,
    error::{Error, FieldViolations, StorageErrorKind},
};

/// The `ErrorInfo.domain` of every error of the service.
pub const ERROR_DOMAIN: &str = "claimdesk.v1";

/// The longest `grpc-message` sent, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1024;
/// The longest path of a field violation, in bytes (the service's own paths
/// are far shorter).
const MAX_FIELD_BYTES: usize = 128;
/// The longest description of a field violation, in bytes.
const MAX_DESCRIPTION_BYTES: usize = 256;
/// The field violations of one status together, in bytes; those beyond are
/// counted with the unlisted ones.
pub const MAX_VIOLATION_BYTES: usize = 4096;
/// The longest value of `ErrorInfo` metadata, in bytes: room for every
/// validated value (a request id of 128 four-byte characters).
const MAX_METADATA_VALUE_BYTES: usize = 512;

/// `text`, or its beginning cut at a character boundary with an ellipsis so
/// that the whole is at most `max_bytes` long. For client input quoted in
/// errors and logs, and for what the service sends in trailers.
pub fn truncated(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    const ELLIPSIS: char = '…';
    let mut end = max_bytes.saturating_sub(ELLIPSIS.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{ELLIPSIS}", &text[..end]))
}

/// The one place a status leaves: its message bounded.
fn bounded(code: Code, message: &str, details: ErrorDetails) -> Status {
    Status::with_error_details(
        code,
        truncated(message, MAX_MESSAGE_BYTES).into_owned(),
        details,
    )
}

/// The `BadRequest` of `violations`, bounded in count and size.
fn bad_request(violations: FieldViolations) -> ErrorDetails {
    let mut details =
        ErrorDetails::with_error_info("INVALID_ARGUMENT", ERROR_DOMAIN, HashMap::new());
    let (listed, mut unlisted) = violations.into_parts();
    let mut budget = MAX_VIOLATION_BYTES;
    let count = listed.len();
    for (i, v) in listed.into_iter().enumerate() {
        let field = truncated(&v.field, MAX_FIELD_BYTES);
        let description = truncated(&v.description, MAX_DESCRIPTION_BYTES);
        let size = field.len() + description.len();
        if size > budget {
            unlisted += count - i;
            break;
        }
        budget -= size;
        details.add_bad_request_violation(field, description);
    }
    if unlisted > 0 {
        // Not a field of the request: the request as a whole.
        let fields = if unlisted == 1 {
            "field was"
        } else {
            "fields were"
        };
        details.add_bad_request_violation(
            "",
            format!("{unlisted} more invalid {fields} found and not listed"),
        );
    }
    details
}

/// The reason of a call refused because the caller's role does not allow
/// it; the `role` metadata names the role that would.
pub const ROLE_REQUIRED: &str = "ROLE_REQUIRED";

/// The reason of a call refused because the store failed for good (a
/// durable flush failed): retrying does not help until the server is
/// restarted.
pub const STORAGE_FAILED: &str = "STORAGE_FAILED";

/// The reason of a call refused because the database server (of the
/// PostgreSQL backend) cannot be reached: nothing was changed; health says
/// NOT_SERVING until it answers again.
pub const DATABASE_UNAVAILABLE: &str = "DATABASE_UNAVAILABLE";

/// The reason of a change whose outcome is unknown: the connection to the
/// database was lost while it committed.
pub const COMMIT_UNKNOWN: &str = "COMMIT_UNKNOWN";

/// A status with an `ErrorInfo` of the service's domain: every error the
/// service sends is built here.
pub fn status(code: Code, reason: &str, message: String, metadata: &[(&str, String)]) -> Status {
    let metadata: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| {
            (
                (*k).to_owned(),
                truncated(v, MAX_METADATA_VALUE_BYTES).into_owned(),
            )
        })
        .collect();
    bounded(
        code,
        &message,
        ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata),
    )
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match error {
            Error::Invalid(violations) => {
                bounded(Code::InvalidArgument, &message, bad_request(violations))
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
                DomainError::OpenContradictions { links } => status(
                    Code::FailedPrecondition,
                    "OPEN_CONTRADICTIONS",
                    message,
                    &[(
                        "links",
                        links
                            .iter()
                            .map(u64::to_string)
                            .collect::<Vec<_>>()
                            .join(","),
                    )],
                ),
                DomainError::VerifiedNeedsRefuting => status(
                    Code::FailedPrecondition,
                    "VERIFIED_NEEDS_REFUTING",
                    message,
                    &[],
                ),
                DomainError::TooManyLinks => {
                    status(Code::FailedPrecondition, "TOO_MANY_LINKS", message, &[])
                }
                DomainError::NoSuchLink(link) => status(
                    Code::NotFound,
                    "LINK_NOT_FOUND",
                    message,
                    &[("link", link.to_string())],
                ),
                DomainError::AlreadyLinked { id, relation } => status(
                    Code::AlreadyExists,
                    "LINK_EXISTS",
                    message,
                    &[
                        ("link", id.to_string()),
                        ("relation", relation.as_str().to_owned()),
                    ],
                ),
                DomainError::LinkResolved { from, .. } => status(
                    Code::FailedPrecondition,
                    "LINK_RESOLVED",
                    message,
                    &[("status", from.as_str().to_owned())],
                ),
                // The API refuses it before it reaches the rules.
                DomainError::SelfLink => {
                    let mut violations = FieldViolations::default();
                    violations.push("other", message.clone());
                    bounded(Code::InvalidArgument, &message, bad_request(violations))
                }
                DomainError::OtherStory { story } => status(
                    Code::FailedPrecondition,
                    "OTHER_STORY",
                    message,
                    &[("story", story.into_inner())],
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
            Error::TooManyBackups => {
                status(Code::ResourceExhausted, "TOO_MANY_BACKUPS", message, &[])
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
            Error::Storage(cause) if cause.kind() == StorageErrorKind::Unreachable => {
                tracing::warn!(error = %cause, "database unreachable");
                status(
                    Code::Unavailable,
                    DATABASE_UNAVAILABLE,
                    "the database cannot be reached; the change was not made; retry later"
                        .to_owned(),
                    &[],
                )
            }
            Error::Storage(cause) if cause.kind() == StorageErrorKind::CommitUnknown => {
                tracing::error!(error = %cause, "connection lost while a change committed");
                status(
                    Code::Unavailable,
                    COMMIT_UNKNOWN,
                    "the connection to the database was lost while the change was committed: \
                     it may have been made; read before retrying"
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FieldViolations;

    fn invalid(count: usize, description: &str) -> Status {
        let mut violations = FieldViolations::default();
        for i in 0..count {
            violations.push(format!("states[{i}]"), description);
        }
        Error::Invalid(violations).into()
    }

    #[test]
    fn truncation_cuts_at_a_character_boundary_and_marks_the_cut() {
        assert_eq!(truncated("short", 10), "short");
        let long = "é".repeat(100);
        let cut = truncated(&long, 10);
        assert!(cut.len() <= 10, "{cut}");
        assert_eq!(cut, "ééé…");
        assert_eq!(truncated("abcdef", 4), "a…");
    }

    #[test]
    fn at_most_32_violations_are_listed_then_one_counts_the_rest() {
        let status = invalid(400_000, "is not a known value");
        let violations = status
            .get_error_details()
            .bad_request()
            .unwrap()
            .field_violations
            .clone();
        assert_eq!(violations.len(), FieldViolations::MAX_LISTED + 1);
        let last = violations.last().unwrap();
        assert_eq!(last.field, "");
        assert_eq!(
            last.description,
            format!(
                "{} more invalid fields were found and not listed",
                400_000 - FieldViolations::MAX_LISTED
            )
        );
        assert!(status.message().len() <= MAX_MESSAGE_BYTES);
        assert!(status.message().ends_with('…'), "{}", status.message());
    }

    #[test]
    fn long_descriptions_are_cut_and_the_violations_stay_within_their_budget() {
        let status = invalid(FieldViolations::MAX_LISTED, &"ü".repeat(10_000));
        let violations = status
            .get_error_details()
            .bad_request()
            .unwrap()
            .field_violations
            .clone();
        let size: usize = violations
            .iter()
            .map(|v| v.field.len() + v.description.len())
            .sum();
        assert!(size <= MAX_VIOLATION_BYTES + 100, "{size} bytes");
        assert!(
            violations.len() < FieldViolations::MAX_LISTED,
            "the budget ends the list"
        );
        assert!(
            violations
                .last()
                .unwrap()
                .description
                .contains("more invalid fields")
        );
        assert!(
            status.details().len() < 8 * 1024,
            "{}",
            status.details().len()
        );
    }

    #[test]
    fn metadata_and_messages_of_other_errors_are_bounded() {
        let status = Status::from(Error::RequestIdReused("r".repeat(100_000)));
        assert!(status.message().len() <= MAX_MESSAGE_BYTES);
        let info = status.get_error_details().error_info().unwrap().clone();
        assert!(info.metadata["request_id"].len() <= MAX_METADATA_VALUE_BYTES);
    }
}
