//! `claimdesk conflicts`: the open contradictions of a story, each with
//! both claims side by side and the figures that disagree.

use super::{
    claim::all_pages,
    connect::{Client, ConnectArgs},
    error::{ClientError, EXIT_STATUS_HELP},
    inputs::Paging,
    output::{OutputArgs, Printer, emit_some},
    run,
};
use crate::pb;

/// `claimdesk conflicts`
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_STATUS_HELP)]
pub struct ConflictsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// The story.
    #[arg(long)]
    pub story: String,
    #[command(flatten)]
    pub paging: Paging,
}

/// Every open contradiction of `story` (at most `limit`), page by page.
pub async fn list_conflicts(
    client: &mut Client,
    server: &str,
    story: &str,
    paging: Paging,
) -> Result<Vec<pb::Conflict>, ClientError> {
    all_pages(paging, async |page_size, page_token| {
        let request = pb::ListConflictsRequest {
            story: story.to_owned(),
            page_size,
            page_token,
        };
        let page = client
            .list_conflicts(request)
            .await
            .map_err(ClientError::call("ListConflicts", server))?
            .into_inner();
        Ok((page.conflicts, page.next_page_token))
    })
    .await
}

/// Runs `claimdesk conflicts`.
pub fn conflicts(args: ConflictsArgs) -> std::process::ExitCode {
    run(async move {
        let connection = args.connect.connect().await?;
        let printer = Printer::new(args.output.output);
        let server = connection.server.as_str();
        let mut client = connection.claims();
        let conflicts = list_conflicts(&mut client, server, &args.story, args.paging).await?;
        emit_some(&printer.at_now().conflicts(&conflicts))
    })
}
