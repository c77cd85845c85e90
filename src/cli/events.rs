//! `claimdesk events watch`: events as they happen, resuming by itself
//! after the stream ends (a dropped connection, a server restart, or
//! WATCHER_TOO_SLOW) from the last revision it printed.

use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tonic::{Code, Status};

use super::{
    connect::{ConnectArgs, Connection},
    error::{ClientError, EXIT_STATUS_HELP, code_name},
    inputs::State,
    output::{OutputArgs, Printer, emit},
    run,
};
use crate::pb;

/// `claimdesk events …`
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_STATUS_HELP)]
pub struct EventsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: EventsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum EventsCommand {
    /// Print events as they happen, after replaying the stored ones after
    /// --after; resume by itself when the stream ends. Ends on Ctrl-C or
    /// SIGTERM.
    #[command(after_help = EXIT_STATUS_HELP)]
    Watch {
        /// Start after this revision (0: the whole history first).
        #[arg(long, value_name = "REVISION", default_value_t = 0)]
        after: u64,
        /// Only events of claims of this story.
        #[arg(long)]
        story: Option<String>,
        /// Only events that leave a claim in this state; repeatable.
        #[arg(long = "state", value_enum, value_name = "STATE")]
        states: Vec<State>,
    },
}

/// The first wait before resuming, doubled after each failed attempt.
const FIRST_RETRY: Duration = Duration::from_millis(200);
/// The longest wait before resuming.
const MAX_RETRY: Duration = Duration::from_secs(10);

/// Runs `claimdesk events …`.
pub fn events(args: EventsArgs) -> std::process::ExitCode {
    run(async move {
        let mut terminate = signal(SignalKind::terminate())
            .map_err(|e| ClientError::Usage(format!("cannot handle SIGTERM: {e}")))?;
        let EventsCommand::Watch {
            after,
            story,
            states,
        } = args.command;
        let request = pb::WatchClaimEventsRequest {
            after_revision: after,
            story: story.unwrap_or_default(),
            states: states
                .into_iter()
                .map(|s| pb::claim::State::from(s).into())
                .collect(),
        };
        let printer = Printer::new(args.output.output);
        let watching = async {
            let connection = args.connect.connect().await?;
            watch(&connection, printer, request).await
        };
        tokio::select! {
            result = watching => result,
            _ = tokio::signal::ctrl_c() => Ok(()),
            _ = terminate.recv() => Ok(()),
        }
    })
}

/// Watches from `request.after_revision` on, for good: returns only on an
/// error that resuming cannot cure, or when the output cannot be written.
async fn watch(
    connection: &Connection,
    printer: Printer,
    mut request: pb::WatchClaimEventsRequest,
) -> Result<(), ClientError> {
    let mut client = connection.claims();
    // Printed once the server has taken the watch.
    let mut header = printer.event_header();
    let mut retry = FIRST_RETRY;
    loop {
        let why = match client.watch_claim_events(request.clone()).await {
            Ok(response) => {
                if let Some(header) = header.take() {
                    emit(&header)?;
                }
                let mut stream = response.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(event)) => {
                            emit(&printer.at_now().event_line(&event))?;
                            request.after_revision = event.revision;
                            retry = FIRST_RETRY;
                        }
                        Ok(None) => break "the server ended the stream".to_owned(),
                        Err(status) => break resumable(status, &connection.server)?,
                    }
                }
            }
            Err(status) => resumable(status, &connection.server)?,
        };
        eprintln!(
            "claimdesk: watch interrupted: {why}; resuming after revision {} in {} ms",
            request.after_revision,
            retry.as_millis()
        );
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(MAX_RETRY);
    }
}

/// Why the watch stopped, if resuming may cure it; the error otherwise.
fn resumable(status: Status, server: &str) -> Result<String, ClientError> {
    let cut = std::error::Error::source(&status).is_some();
    let transient = matches!(
        status.code(),
        Code::Unavailable | Code::ResourceExhausted | Code::DeadlineExceeded | Code::Cancelled
    );
    if cut || transient {
        Ok(format!(
            "{}: {}",
            code_name(status.code()),
            status.message()
        ))
    } else {
        Err(ClientError::call("WatchClaimEvents", server)(status))
    }
}

#[cfg(test)]
mod tests {
    use tonic_types::{ErrorDetails, StatusExt};

    use super::*;
    use crate::cli::error::Exit;

    fn status(code: Code, reason: &str) -> Status {
        Status::with_error_details(
            code,
            "ended",
            ErrorDetails::with_error_info(reason, "claimdesk.v1", []),
        )
    }

    #[test]
    fn a_watch_resumes_after_an_ending_that_resuming_cures() {
        for (code, reason) in [
            (Code::ResourceExhausted, "WATCHER_TOO_SLOW"),
            (Code::Unavailable, "SHUTTING_DOWN"),
            (Code::Unavailable, ""),
            (Code::DeadlineExceeded, ""),
            (Code::Cancelled, ""),
        ] {
            let why = resumable(status(code, reason), "http://x").expect("resumes");
            assert!(why.starts_with(code_name(code)), "{why}");
        }
    }

    #[test]
    fn a_watch_ends_on_an_error_resuming_cannot_cure() {
        for (code, reason, exit) in [
            (Code::OutOfRange, "REVISION_AHEAD", Exit::Invalid),
            (Code::InvalidArgument, "INVALID_ARGUMENT", Exit::Invalid),
            (Code::Unauthenticated, "TOKEN_REVOKED", Exit::Permission),
            (Code::PermissionDenied, "ROLE_REQUIRED", Exit::Permission),
            (Code::Internal, "INTERNAL", Exit::Other),
        ] {
            let error = resumable(status(code, reason), "http://x").expect_err("ends");
            assert_eq!(error.exit(), exit, "{code:?}");
            assert!(error.to_string().contains(reason), "{error}");
        }
    }
}
