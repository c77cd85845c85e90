//! `claimdesk queue …`: taking the next claim, renewing a lease, and the
//! queue's statistics.

use super::{
    claim::answered,
    connect::ConnectArgs,
    error::{ClientError, EXIT_STATUS_HELP},
    inputs::Target,
    output::{OutputArgs, Printer, emit},
    run,
};
use crate::pb;

/// `claimdesk queue …`
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_STATUS_HELP)]
pub struct QueueArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: QueueCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum QueueCommand {
    /// Take the most pressing waiting claim into review (checker); prints
    /// it. Fails with NOT_FOUND (exit 3) when nothing waits.
    #[command(after_help = EXIT_STATUS_HELP)]
    Take {
        /// Only claims of this story.
        #[arg(long)]
        story: Option<String>,
        /// Only claims carrying this tag (or another one given); repeatable.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
    },
    /// Extend the lease on a claim you review (its assignee only).
    #[command(after_help = EXIT_STATUS_HELP)]
    Renew(Target),
    /// Print the queue's statistics (GetQueueStats).
    #[command(after_help = EXIT_STATUS_HELP)]
    Stats {
        /// Only claims of this story.
        #[arg(long)]
        story: Option<String>,
    },
}

/// Runs `claimdesk queue …`.
pub fn queue(args: QueueArgs) -> std::process::ExitCode {
    run(async move {
        let connection = args.connect.connect().await?;
        let printer = Printer::new(args.output.output);
        let server = connection.server.as_str();
        let mut client = connection.claims();
        let text = match args.command {
            QueueCommand::Take { story, tags } => {
                let request = pb::TakeNextClaimRequest {
                    story: story.unwrap_or_default(),
                    tags,
                };
                let result = client.take_next_claim(request).await;
                printer
                    .at_now()
                    .claim(&answered("TakeNextClaim", server, result)?)
            }
            QueueCommand::Renew(target) => {
                let request = pb::RenewLeaseRequest {
                    name: target.name(),
                    etag: target.etag(),
                };
                let result = client.renew_lease(request).await;
                printer
                    .at_now()
                    .claim(&answered("RenewLease", server, result)?)
            }
            QueueCommand::Stats { story } => {
                let stats = client
                    .get_queue_stats(pb::GetQueueStatsRequest {
                        story: story.unwrap_or_default(),
                    })
                    .await
                    .map_err(ClientError::call("GetQueueStats", server))?
                    .into_inner();
                printer.at_now().stats(&stats)
            }
        };
        emit(&text)
    })
}
