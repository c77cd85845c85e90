//! `claimdesk claim …`: submitting, reading, listing and changing claims.

use std::{io::Read, time::Duration};

use tonic::{Response, Status};

use super::{
    connect::{Client, ConnectArgs, Connection},
    error::{ClientError, EXIT_STATUS_HELP, Exit},
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
    Verify(Ruling),
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

/// The claim a change is for.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// The claim: `claims/{id}`, or just the id.
    pub name: String,
    /// Change the claim only if its etag is still this (as `claim get`
    /// printed it); otherwise the change fails with ABORTED.
    #[arg(long)]
    pub etag: Option<String>,
}

impl Target {
    fn name(&self) -> String {
        claim_name(&self.name)
    }

    fn etag(&self) -> String {
        self.etag.clone().unwrap_or_default()
    }
}

/// A ruling, or a release, with its note.
#[derive(Debug, clap::Args)]
pub struct Ruling {
    #[command(flatten)]
    pub target: Target,
    /// The explanation, kept in the history.
    #[arg(long)]
    pub note: Option<String>,
}

/// A reopening or withdrawal, with its reason.
#[derive(Debug, clap::Args)]
pub struct Undoing {
    #[command(flatten)]
    pub target: Target,
    /// Why (required).
    #[arg(long)]
    pub reason: String,
}

/// `claim submit`.
#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// The claim as copy states it; `-` or nothing reads it from stdin.
    pub statement: Option<String>,
    /// Who makes the claim (a person, office or outlet).
    #[arg(long)]
    pub source: String,
    /// Who the source says they have it from, nearest first; repeatable.
    #[arg(long, value_name = "PARTY")]
    pub relayed_from: Vec<String>,
    /// Where the source makes the claim.
    #[arg(long)]
    pub url: Option<String>,
    /// The story the claim belongs to.
    #[arg(long)]
    pub story: String,
    /// A tag for taking claims by topic; repeatable.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// How soon it must be checked.
    #[arg(long, value_enum, default_value = "routine")]
    pub priority: Priority,
    /// When the ruling is needed: RFC 3339 (`2026-11-30T18:00:00Z`) or from
    /// now (`+2h`, `+40m`, `+90s`).
    #[arg(long, value_parser = parse_deadline, value_name = "TIME")]
    pub deadline: Option<prost_types::Timestamp>,
    /// Makes a retry safe: the same id and claim return the claim made the
    /// first time. A fresh id is made for each run without it.
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,
}

/// `claim list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only claims of this story.
    #[arg(long)]
    pub story: Option<String>,
    /// Only claims in this state.
    #[arg(long, value_enum)]
    pub state: Option<State>,
    /// Only claims attributed to this source (compared as the desk compares
    /// names of parties).
    #[arg(long)]
    pub source: Option<String>,
    /// Only claims assigned to this user.
    #[arg(long, value_name = "USER")]
    pub assignee: Option<String>,
    #[command(flatten)]
    pub paging: Paging,
}

/// How much of a listing to read, and in pages of what size.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Paging {
    /// Print at most this many; all of them without it.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// How many to ask for per call (the server may send fewer).
    #[arg(long, value_name = "N", default_value_t = MAX_PAGE,
          value_parser = clap::value_parser!(u16).range(1..=MAX_PAGE as i64))]
    pub page_size: u16,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Priority {
    Routine,
    Urgent,
    Breaking,
}

impl From<Priority> for pb::claim::Priority {
    fn from(p: Priority) -> Self {
        match p {
            Priority::Routine => pb::claim::Priority::Routine,
            Priority::Urgent => pb::claim::Priority::Urgent,
            Priority::Breaking => pb::claim::Priority::Breaking,
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum State {
    Unverified,
    InReview,
    Verified,
    Disputed,
    Inconclusive,
    Withdrawn,
}

impl From<State> for pb::claim::State {
    fn from(s: State) -> Self {
        match s {
            State::Unverified => pb::claim::State::Unverified,
            State::InReview => pb::claim::State::InReview,
            State::Verified => pb::claim::State::Verified,
            State::Disputed => pb::claim::State::Disputed,
            State::Inconclusive => pb::claim::State::Inconclusive,
            State::Withdrawn => pb::claim::State::Withdrawn,
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Stance {
    Supports,
    Refutes,
    Context,
}

impl From<Stance> for pb::evidence::Stance {
    fn from(s: Stance) -> Self {
        match s {
            Stance::Supports => pb::evidence::Stance::Supports,
            Stance::Refutes => pb::evidence::Stance::Refutes,
            Stance::Context => pb::evidence::Stance::Context,
        }
    }
}

/// `claims/{id}` for an id or a name.
pub fn claim_name(name: &str) -> String {
    if name.contains('/') {
        name.to_owned()
    } else {
        format!("claims/{name}")
    }
}

/// A deadline: RFC 3339, or `+N` with `s`, `m`, `h` or `d` from now.
pub fn parse_deadline(raw: &str) -> Result<prost_types::Timestamp, String> {
    let Some(relative) = raw.strip_prefix('+') else {
        return raw.parse().map_err(|_| {
            format!("{raw:?} is neither an RFC 3339 time (2026-11-30T18:00:00Z) nor +2h or +40m")
        });
    };
    let (number, unit) = relative.split_at(relative.len().saturating_sub(1));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{raw:?}: expected +N followed by s, m, h or d, e.g. +40m"))?;
    let seconds = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3_600),
        "d" => n.checked_mul(86_400),
        _ => return Err(format!("{raw:?}: the unit must be s, m, h or d")),
    }
    .filter(|s| *s <= 366 * 86_400)
    .ok_or_else(|| format!("{raw:?}: at most a year from now"))?;
    Ok((std::time::SystemTime::now() + Duration::from_secs(seconds)).into())
}

/// The statement given, or read from stdin for `-` or none.
fn statement(given: Option<String>) -> Result<String, ClientError> {
    match given {
        Some(statement) if statement != "-" => Ok(statement),
        _ => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!("claimdesk: reading the statement from stdin (end it with Ctrl-D)");
            }
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| {
                ClientError::Usage(format!("cannot read the statement from stdin: {e}"))
            })?;
            Ok(text.trim_end_matches(['\n', '\r']).to_owned())
        }
    }
}

impl SubmitArgs {
    /// The request, with the statement read if need be and a request id
    /// made if none was given.
    pub fn request(self) -> Result<pb::SubmitClaimRequest, ClientError> {
        let priority: pb::claim::Priority = self.priority.into();
        Ok(pb::SubmitClaimRequest {
            claim: Some(pb::Claim {
                statement: statement(self.statement)?,
                attribution: Some(pb::Attribution {
                    source: self.source,
                    relayed_from: self.relayed_from,
                    url: self.url.unwrap_or_default(),
                }),
                story: self.story,
                tags: self.tags,
                priority: priority.into(),
                deadline: self.deadline,
                ..Default::default()
            }),
            request_id: self
                .request_id
                .unwrap_or_else(|| ulid::Ulid::generate().to_string()),
        })
    }
}

impl ListArgs {
    fn request(&self) -> pb::ListClaimsRequest {
        pb::ListClaimsRequest {
            story: self.story.clone().unwrap_or_default(),
            state: self.state.map_or(0, |s| pb::claim::State::from(s).into()),
            source: self.source.clone().unwrap_or_default(),
            assignee: self.assignee.clone().unwrap_or_default(),
            page_size: 0,
            page_token: String::new(),
        }
    }
}

/// The largest page a server sends.
const MAX_PAGE: u16 = 500;

/// Every item of a listing (at most `limit`), asking `fetch` for each page
/// with its size and token; `fetch` answers the items and the next token.
async fn all_pages<T>(
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
        ClaimCommand::Verify(r) => {
            let request = pb::VerifyClaimRequest {
                name: r.target.name(),
                note: r.note.unwrap_or_default(),
                etag: r.target.etag(),
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
    };
    Ok(Answer::Claim(Box::new(claim)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_is_rfc_3339_or_relative_to_now() {
        let at = parse_deadline("2026-11-30T18:00:00Z").expect("RFC 3339");
        assert_eq!(at.to_string(), "2026-11-30T18:00:00Z");
        let before = std::time::SystemTime::now();
        let soon = parse_deadline("+40m").expect("relative");
        let soon = std::time::SystemTime::try_from(soon).expect("a time");
        let ahead = soon.duration_since(before).expect("in the future");
        assert!(ahead >= Duration::from_secs(40 * 60), "{ahead:?}");
        assert!(ahead < Duration::from_secs(41 * 60), "{ahead:?}");
        for bad in [
            "tomorrow",
            "+",
            "+2",
            "+2w",
            "+-2h",
            "+99999d",
            "2026-13-01T00:00:00Z",
        ] {
            assert!(parse_deadline(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn an_id_is_a_claim_name() {
        assert_eq!(
            claim_name("01ARZ3NDEKTSV4RRFFQ69G5FAV"),
            "claims/01ARZ3NDEKTSV4RRFFQ69G5FAV"
        );
        assert_eq!(claim_name("claims/01ARZ"), "claims/01ARZ");
    }
}
