//! How a client command fails: [`ClientError`], its one-line description
//! and its exit status ([`Exit`]), the same for every command.

use std::process::ExitCode;

use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::tls::{TlsError, error_chain};

/// The exit statuses of the client commands, by kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    /// Any other error of the server (INTERNAL, RESOURCE_EXHAUSTED, …) or
    /// of the command (its output could not be written).
    Other = 1,
    /// Bad options, arguments or files (clap's own errors exit 2 too).
    Usage = 2,
    /// NOT_FOUND: no such claim, or nothing waiting in the queue.
    NotFound = 3,
    /// INVALID_ARGUMENT or OUT_OF_RANGE: the server refused the input.
    Invalid = 4,
    /// FAILED_PRECONDITION, ABORTED or ALREADY_EXISTS: the claim's state,
    /// its etag or a reused request id stood in the way.
    Conflict = 5,
    /// PERMISSION_DENIED or UNAUTHENTICATED.
    Permission = 6,
    /// UNAVAILABLE, DEADLINE_EXCEEDED, no connection, no answer, or a
    /// server that is not serving.
    Unavailable = 7,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

impl Exit {
    /// The exit status of a call that failed with `code`.
    pub fn of(code: Code) -> Self {
        match code {
            Code::Ok => Exit::Success,
            Code::NotFound => Exit::NotFound,
            Code::InvalidArgument | Code::OutOfRange => Exit::Invalid,
            Code::FailedPrecondition | Code::Aborted | Code::AlreadyExists => Exit::Conflict,
            Code::PermissionDenied | Code::Unauthenticated => Exit::Permission,
            Code::Unavailable | Code::DeadlineExceeded => Exit::Unavailable,
            Code::Cancelled
            | Code::Unknown
            | Code::ResourceExhausted
            | Code::Unimplemented
            | Code::Internal
            | Code::DataLoss => Exit::Other,
        }
    }
}

/// The exit statuses, as `--help` and the README show them.
pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success
  1  another error (INTERNAL, RESOURCE_EXHAUSTED, ...; output not written)
  2  usage: bad options, arguments or files
  3  not found (NOT_FOUND: no such claim, empty queue)
  4  invalid input (INVALID_ARGUMENT, OUT_OF_RANGE)
  5  conflict (FAILED_PRECONDITION, ABORTED, ALREADY_EXISTS)
  6  permission (PERMISSION_DENIED, UNAUTHENTICATED)
  7  unavailable (UNAVAILABLE, DEADLINE_EXCEEDED, cannot connect, not serving)";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot connect to {server}: {reason}")]
    Connect { server: String, reason: String },
    /// The connection failed during the call (refused at the TLS
    /// handshake, reset): whether the server acted on it is unknown.
    #[error("{method}: no answer from {server}: {reason}")]
    NoAnswer {
        method: &'static str,
        server: String,
        reason: String,
    },
    #[error("{method} failed: {}", describe_status(.status))]
    Call {
        method: &'static str,
        status: Box<Status>,
    },
    #[error("the server is {status}")]
    NotServing { status: String },
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    /// The command itself failed (the demo's own server, say).
    #[error("{0}")]
    Failed(String),
    /// A submission that may or may not have been made.
    #[error("{error}; to retry it safely, give the same --request-id {request_id}")]
    Retry {
        error: Box<ClientError>,
        request_id: String,
    },
}

impl ClientError {
    /// The error of `method` on `server` failing with `status`.
    pub fn call(method: &'static str, server: &str) -> impl FnOnce(Status) -> Self {
        move |status| match std::error::Error::source(&status) {
            // Not an answer of the server but of the connection under the
            // call.
            Some(source) if source.is::<tonic::transport::Error>() => Self::NoAnswer {
                method,
                server: server.to_owned(),
                reason: error_chain(source),
            },
            _ => Self::Call {
                method,
                status: Box::new(status),
            },
        }
    }

    /// The kind of failure, as the exit status says it.
    pub fn exit(&self) -> Exit {
        match self {
            Self::Call { status, .. } => Exit::of(status.code()),
            Self::Usage(_) | Self::Tls(_) => Exit::Usage,
            Self::Connect { .. } | Self::NoAnswer { .. } | Self::NotServing { .. } => {
                Exit::Unavailable
            }
            Self::Output(_) | Self::Failed(_) => Exit::Other,
            Self::Retry { error, .. } => error.exit(),
        }
    }

    /// The status of a failed call, if the server answered.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Self::Call { status, .. } => Some(status),
            _ => None,
        }
    }
}

/// One line: `CODE [REASON]: message`, then the `ErrorInfo` metadata, every
/// field violation, and the causes of a transport failure.
fn describe_status(status: &Status) -> String {
    let details = status.get_error_details();
    let mut text = code_name(status.code()).to_owned();
    if let Some(info) = details.error_info() {
        text.push_str(&format!(" [{}]", info.reason));
    }
    text.push_str(&format!(": {}", status.message()));
    if let Some(info) = details.error_info() {
        let mut metadata: Vec<_> = info.metadata.iter().collect();
        metadata.sort();
        for (key, value) in metadata {
            text.push_str(&format!("; {key}: {value}"));
        }
    }
    if let Some(bad_request) = details.bad_request() {
        for violation in &bad_request.field_violations {
            text.push_str(&format!("; {}: {}", violation.field, violation.description));
        }
    }
    if let Some(source) = std::error::Error::source(status) {
        text.push_str(&format!("; cause: {}", error_chain(source)));
    }
    text.replace(['\n', '\r'], " ")
}

/// The canonical name of a gRPC code, as in the gRPC docs and grpcurl.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use tonic_types::{ErrorDetails, FieldViolation};

    use super::*;

    #[test]
    fn a_failed_call_names_the_code_reason_message_and_metadata_on_one_line() {
        let status = Status::with_error_details(
            Code::NotFound,
            "no claim claims/01ARZ3NDEKTSV4RRFFQ69G5FAV",
            ErrorDetails::with_error_info(
                "CLAIM_NOT_FOUND",
                "claimdesk.v1",
                [(
                    "name".to_owned(),
                    "claims/01ARZ3NDEKTSV4RRFFQ69G5FAV".to_owned(),
                )],
            ),
        );
        let error = ClientError::call("GetClaim", "http://127.0.0.1:50051")(status);
        let text = error.to_string();
        assert_eq!(
            text,
            "GetClaim failed: NOT_FOUND [CLAIM_NOT_FOUND]: no claim \
             claims/01ARZ3NDEKTSV4RRFFQ69G5FAV; name: claims/01ARZ3NDEKTSV4RRFFQ69G5FAV"
        );
        assert_eq!(error.exit(), Exit::NotFound);
        assert_eq!(ClientError::Usage(String::new()).exit(), Exit::Usage);
    }

    #[test]
    fn a_submission_without_an_answer_names_the_request_id_to_retry_with() {
        let error = ClientError::Retry {
            error: Box::new(ClientError::call("SubmitClaim", "http://x")(
                Status::unavailable("connection reset"),
            )),
            request_id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
        };
        assert_eq!(error.exit(), Exit::Unavailable);
        assert_eq!(
            error.to_string(),
            "SubmitClaim failed: UNAVAILABLE: connection reset; to retry it safely, give the \
             same --request-id 01ARZ3NDEKTSV4RRFFQ69G5FAV"
        );
    }

    #[test]
    fn every_field_violation_is_named() {
        let mut details = ErrorDetails::with_error_info(
            "INVALID_ARGUMENT",
            "claimdesk.v1",
            std::collections::HashMap::new(),
        );
        details.set_bad_request(vec![
            FieldViolation::new("claim.statement", "must not be empty"),
            FieldViolation::new("claim.attribution.source", "must not be\nempty"),
        ]);
        let status = Status::with_error_details(Code::InvalidArgument, "2 invalid", details);
        let text = ClientError::call("SubmitClaim", "x")(status).to_string();
        assert_eq!(
            text,
            "SubmitClaim failed: INVALID_ARGUMENT [INVALID_ARGUMENT]: 2 invalid; \
             claim.statement: must not be empty; claim.attribution.source: must not be empty"
        );
    }

    #[test]
    fn each_class_of_code_has_its_own_exit_status() {
        let cases = [
            (Code::NotFound, Exit::NotFound),
            (Code::InvalidArgument, Exit::Invalid),
            (Code::OutOfRange, Exit::Invalid),
            (Code::FailedPrecondition, Exit::Conflict),
            (Code::Aborted, Exit::Conflict),
            (Code::AlreadyExists, Exit::Conflict),
            (Code::PermissionDenied, Exit::Permission),
            (Code::Unauthenticated, Exit::Permission),
            (Code::Unavailable, Exit::Unavailable),
            (Code::DeadlineExceeded, Exit::Unavailable),
            (Code::Internal, Exit::Other),
            (Code::ResourceExhausted, Exit::Other),
        ];
        for (code, exit) in cases {
            assert_eq!(Exit::of(code), exit, "{code:?}");
        }
        let statuses: std::collections::BTreeSet<u8> = [
            Exit::Success,
            Exit::Other,
            Exit::Usage,
            Exit::NotFound,
            Exit::Invalid,
            Exit::Conflict,
            Exit::Permission,
            Exit::Unavailable,
        ]
        .into_iter()
        .map(|e| e as u8)
        .collect();
        assert_eq!(statuses.len(), 8, "distinct statuses");
        let not_serving = ClientError::NotServing {
            status: "NOT_SERVING".into(),
        };
        assert_eq!(not_serving.exit(), Exit::Unavailable);
        let connect = ClientError::Connect {
            server: "http://x".into(),
            reason: "refused".into(),
        };
        assert_eq!(connect.exit(), Exit::Unavailable);
        for status in statuses {
            assert!(
                EXIT_STATUS_HELP.contains(&format!("\n  {status}  ")),
                "{status} documented"
            );
        }
    }
}
