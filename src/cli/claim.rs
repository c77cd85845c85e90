//! `claimdesk claim …`: submitting, reading, listing and changing claims.

use tonic::{Response, Status};

use super::{
    connect::{Client, ConnectArgs, Connection},
    error::{ClientError, EXIT_STATUS_HELP, Exit},
    inputs::{
        ListArgs, Paging, Relation, Ruling, Stance, SubmitArgs, Target, Undoing, claim_name,
        link_name,
    },
    output::{OutputArgs, Printer, emit_some},
    run,
};
use crate::pb;

/// `claimdesk claim …`
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_STATUS_HELP)]
pub struct ClaimArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: ClaimCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ClaimCommand {
    /// Submit a claim found in copy (editor); prints it.
    #[command(after_help = EXIT_STATUS_HELP)]
    Submit(SubmitArgs),
    /// Print a claim.
    #[command(after_help = EXIT_STATUS_HELP)]
    Get {
        /// The claim: `claims/{id}`, or just the id.
        name: String,
    },
    /// List claims in submission order, through every page unless --limit.
    #[command(after_help = EXIT_STATUS_HELP)]
    List(ListArgs),
    /// Print a claim's history, oldest event first.
    #[command(after_help = EXIT_STATUS_HELP)]
    History {
        /// The claim: `claims/{id}`, or just the id.
        name: String,
        #[command(flatten)]
        paging: Paging,
    },
    /// Take a waiting claim into review (checker).
    #[command(after_help = EXIT_STATUS_HELP)]
    Start(Target),
    /// Put a claim you review back in the queue.
    #[command(after_help = EXIT_STATUS_HELP)]
    Release(Ruling),
    /// Give a claim in review to another checker (chief).
    #[command(after_help = EXIT_STATUS_HELP)]
    Reassign {
        #[command(flatten)]
        target: Target,
        /// The checker who takes the claim over.
        #[arg(long, value_name = "USER")]
        to: String,
        /// Why.
        #[arg(long)]
        note: Option<String>,
    },
    /// Evidence of a claim in review.
    #[command(after_help = EXIT_STATUS_HELP)]
    Evidence {
        #[command(subcommand)]
        command: EvidenceCommand,
    },
    /// Rule that a claim is verified on independent evidence (checker).
    #[command(after_help = EXIT_STATUS_HELP)]
    Verify {
        #[command(flatten)]
        ruling: Ruling,
        /// Verify even though the claim has open contradictions (the
        /// history records them as acknowledged).
        #[arg(long)]
        acknowledge_contradictions: bool,
    },
    /// Rule that a claim is disputed by the evidence (checker).
    #[command(after_help = EXIT_STATUS_HELP)]
    Dispute(Ruling),
    /// Rule that a claim could not be independently verified (checker).
    #[command(after_help = EXIT_STATUS_HELP)]
    Inconclusive(Ruling),
    /// Undo a ruling: the claim waits in the queue again (chief).
    #[command(after_help = EXIT_STATUS_HELP)]
    Reopen(Undoing),
    /// Withdraw a claim from the queue or undo its ruling for good (editor).
    #[command(after_help = EXIT_STATUS_HELP)]
    Withdraw(Undoing),
    /// Record how a claim relates to another claim of its story (checker):
    /// a confirmed link, shown on both claims; prints the first claim.
    #[command(after_help = EXIT_STATUS_HELP)]
    Link {
        // The claim linked: the one that contradicts, duplicates,
        // supersedes or corroborates the other.
        #[command(flatten)]
        target: Target,
        /// The other claim: `claims/{id}`, or just the id.
        #[arg(long, value_name = "CLAIM")]
        to: String,
        /// How the claim relates to the other.
        #[arg(long, value_enum)]
        relation: Relation,
        /// Why, kept with the link.
        #[arg(long)]
        note: Option<String>,
    },
    /// Confirm or reject a link, such as a contradiction the server
    /// suggested (checker); prints the claim.
    #[command(after_help = EXIT_STATUS_HELP)]
    #[command(group = clap::ArgGroup::new("decision").required(true))]
    ResolveLink {
        /// The link: `claims/ID/links/N`, or `ID/links/N` (`claim get`
        /// shows it as `link N`, `conflicts` by its name).
        link: String,
        /// The link holds (a suggestion only).
        #[arg(long, group = "decision")]
        confirm: bool,
        /// The link does not hold; final.
        #[arg(long, group = "decision")]
        reject: bool,
        /// Why, kept with the link.
        #[arg(long)]
        note: Option<String>,
        /// Change the claim only if its etag is still this; otherwise the
        /// change fails with ABORTED.
        #[arg(long)]
        etag: Option<String>,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum EvidenceCommand {
    /// Attach evidence to a claim you review (checker).
    #[command(after_help = EXIT_STATUS_HELP)]
    Add {
        #[command(flatten)]
        target: Target,
        /// Who or what the evidence comes from.
        #[arg(long)]
        source: String,
        /// What it says of the claim.
        #[arg(long, value_enum)]
        stance: Stance,
        /// Where it can be seen.
        #[arg(long)]
        url: Option<String>,
        /// What it says, briefly.
        #[arg(long)]
        summary: Option<String>,
    },
}

/// Every item of a listing (at most `limit`), asking `fetch` for each page
/// with its size and token; `fetch` answers the items and the next token.
pub(crate) async fn all_pages<T>(
    Paging { limit, page_size }: Paging,
    mut fetch: impl AsyncFnMut(i32, String) -> Result<(Vec<T>, String), ClientError>,
) -> Result<Vec<T>, ClientError> {
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let wanted = limit.map_or(usize::from(page_size), |l| l - items.len());
        let size = wanted.clamp(1, usize::from(page_size)) as i32;
        let (page, next) = fetch(size, token).await?;
        items.extend(page);
        if let Some(limit) = limit {
            items.truncate(limit);
        }
        if next.is_empty() || Some(items.len()) == limit {
            return Ok(items);
        }
        token = next;
    }
}

/// Every claim `request` matches (at most `limit`), page by page.
pub async fn list_claims(
    client: &mut Client,
    server: &str,
    request: pb::ListClaimsRequest,
    paging: Paging,
) -> Result<Vec<pb::Claim>, ClientError> {
    all_pages(paging, async |page_size, page_token| {
        let request = pb::ListClaimsRequest {
            page_size,
            page_token,
            ..request.clone()
        };
        let page = client
            .list_claims(request)
            .await
            .map_err(ClientError::call("ListClaims", server))?
            .into_inner();
        Ok((page.claims, page.next_page_token))
    })
    .await
}

/// A claim's history (at most `limit` events), page by page.
pub async fn history(
    client: &mut Client,
    server: &str,
    name: String,
    paging: Paging,
) -> Result<Vec<pb::ClaimEvent>, ClientError> {
    all_pages(paging, async |page_size, page_token| {
        let request = pb::ListClaimEventsRequest {
            name: name.clone(),
            page_size,
            page_token,
        };
        let page = client
            .list_claim_events(request)
            .await
            .map_err(ClientError::call("ListClaimEvents", server))?
            .into_inner();
        Ok((page.events, page.next_page_token))
    })
    .await
}

/// The claim an RPC answered, or its error.
pub fn answered(
    method: &'static str,
    server: &str,
    result: Result<Response<pb::Claim>, Status>,
) -> Result<pb::Claim, ClientError> {
    result
        .map(Response::into_inner)
        .map_err(ClientError::call(method, server))
}

/// What a `claim` command answers.
#[derive(Debug)]
pub enum Answer {
    Claim(Box<pb::Claim>),
    Claims(Vec<pb::Claim>),
    Events(Vec<pb::ClaimEvent>),
}

impl Answer {
    /// The answer as `printer` prints it (empty for an empty list in JSON).
    pub fn render(&self, printer: &Printer) -> String {
        match self {
            Answer::Claim(claim) => printer.claim(claim),
            Answer::Claims(claims) => printer.claims(claims),
            Answer::Events(events) => printer.events(events),
        }
    }
}

/// Runs `claimdesk claim …`.
pub fn claim(args: ClaimArgs) -> std::process::ExitCode {
    run(async move {
        let connection = args.connect.connect().await?;
        let printer = Printer::new(args.output.output);
        let answer = call(&connection, args.command).await?;
        emit_some(&answer.render(&printer.at_now()))
    })
}

/// Calls the RPC of `command` on `connection`.
pub async fn call(connection: &Connection, command: ClaimCommand) -> Result<Answer, ClientError> {
    let server = connection.server.as_str();
    let mut client = connection.claims();
    let claim = match command {
        ClaimCommand::Submit(submit) => {
            let request = submit.request()?;
            let request_id = request.request_id.clone();
            let result = client.submit_claim(request).await;
            answered("SubmitClaim", server, result).map_err(|error| {
                // Whether the claim was made is unknown: the same id makes
                // a retry safe.
                if error.exit() == Exit::Unavailable {
                    ClientError::Retry {
                        error: Box::new(error),
                        request_id,
                    }
                } else {
                    error
                }
            })?
        }
        ClaimCommand::Get { name } => {
            let request = pb::GetClaimRequest {
                name: claim_name(&name),
            };
            answered("GetClaim", server, client.get_claim(request).await)?
        }
        ClaimCommand::List(list) => {
            let claims = list_claims(&mut client, server, list.request(), list.paging).await?;
            return Ok(Answer::Claims(claims));
        }
        ClaimCommand::History { name, paging } => {
            let events = history(&mut client, server, claim_name(&name), paging).await?;
            return Ok(Answer::Events(events));
        }
        ClaimCommand::Start(t) => {
            let request = pb::StartReviewRequest {
                name: t.name(),
                etag: t.etag(),
            };
            answered("StartReview", server, client.start_review(request).await)?
        }
        ClaimCommand::Release(r) => {
            let request = pb::ReleaseClaimRequest {
                name: r.target.name(),
                etag: r.target.etag(),
                note: r.note.unwrap_or_default(),
            };
            answered("ReleaseClaim", server, client.release_claim(request).await)?
        }
        ClaimCommand::Reassign { target, to, note } => {
            let request = pb::ReassignClaimRequest {
                name: target.name(),
                assignee: to,
                etag: target.etag(),
                note: note.unwrap_or_default(),
            };
            answered(
                "ReassignClaim",
                server,
                client.reassign_claim(request).await,
            )?
        }
        ClaimCommand::Evidence {
            command:
                EvidenceCommand::Add {
                    target,
                    source,
                    stance,
                    url,
                    summary,
                },
        } => {
            let stance: pb::evidence::Stance = stance.into();
            let request = pb::AddEvidenceRequest {
                name: target.name(),
                evidence: Some(pb::Evidence {
                    source,
                    stance: stance.into(),
                    url: url.unwrap_or_default(),
                    summary: summary.unwrap_or_default(),
                    ..Default::default()
                }),
                etag: target.etag(),
            };
            answered("AddEvidence", server, client.add_evidence(request).await)?
        }
        ClaimCommand::Verify {
            ruling: r,
            acknowledge_contradictions,
        } => {
            let request = pb::VerifyClaimRequest {
                name: r.target.name(),
                note: r.note.unwrap_or_default(),
                etag: r.target.etag(),
                acknowledge_contradictions,
            };
            answered("VerifyClaim", server, client.verify_claim(request).await)?
        }
        ClaimCommand::Dispute(r) => {
            let request = pb::DisputeClaimRequest {
                name: r.target.name(),
                note: r.note.unwrap_or_default(),
                etag: r.target.etag(),
            };
            answered("DisputeClaim", server, client.dispute_claim(request).await)?
        }
        ClaimCommand::Inconclusive(r) => {
            let request = pb::MarkClaimInconclusiveRequest {
                name: r.target.name(),
                note: r.note.unwrap_or_default(),
                etag: r.target.etag(),
            };
            let result = client.mark_claim_inconclusive(request).await;
            answered("MarkClaimInconclusive", server, result)?
        }
        ClaimCommand::Reopen(u) => {
            let request = pb::ReopenClaimRequest {
                name: u.target.name(),
                reason: u.reason,
                etag: u.target.etag(),
            };
            answered("ReopenClaim", server, client.reopen_claim(request).await)?
        }
        ClaimCommand::Withdraw(u) => {
            let request = pb::WithdrawClaimRequest {
                name: u.target.name(),
                reason: u.reason,
                etag: u.target.etag(),
            };
            answered(
                "WithdrawClaim",
                server,
                client.withdraw_claim(request).await,
            )?
        }
        ClaimCommand::Link {
            target,
            to,
            relation,
            note,
        } => {
            let relation: pb::claim_link::Relation = relation.into();
            let request = pb::LinkClaimsRequest {
                name: target.name(),
                other: claim_name(&to),
                relation: relation.into(),
                note: note.unwrap_or_default(),
                etag: target.etag(),
            };
            answered("LinkClaims", server, client.link_claims(request).await)?
        }
        ClaimCommand::ResolveLink {
            link,
            confirm,
            reject: _,
            note,
            etag,
        } => {
            let status = if confirm {
                pb::claim_link::Status::Confirmed
            } else {
                pb::claim_link::Status::Rejected
            };
            let request = pb::ResolveLinkRequest {
                name: link_name(&link),
                status: status.into(),
                note: note.unwrap_or_default(),
                etag: etag.unwrap_or_default(),
            };
            answered("ResolveLink", server, client.resolve_link(request).await)?
        }
    };
    Ok(Answer::Claim(Box::new(claim)))
}
