//! The real desk under the run: a `Desk` over a fresh sled store, on a
//! runtime whose clock is paused. Each operation goes first through the
//! served access policy (`grpc::policy::POLICY`), as the server's gate
//! would, so a refused call never reaches the desk; then through what the
//! handler does before the desk (a reason is required), then to the desk.
//! Errors become what a client gets: `tonic::Status` by the service's own
//! mapping.

use std::{sync::Arc, time::SystemTime};

use claimdesk::{
    desk::{Desk, DeskConfig},
    domain::{
        self, Actor, ClaimId, Command, LinkStatus, Note, Relation, Role, Slug, SourceName,
        Statement, UserName,
    },
    error::Error,
    grpc::{
        convert,
        policy::{POLICY, Requirement},
    },
    storage::QueueQuery,
};
use tempfile::TempDir;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use super::{
    ops::{self, Etag, Op, Priority, Stance, Submission},
    reference::LEASE,
};
use crate::helpers::open_sled_store;

/// A claim the run has made, as the desk keeps it.
pub struct Seen {
    pub id: ClaimId,
    /// Every etag the claim has had, oldest first.
    pub etags: Vec<String>,
}

/// What the desk answered.
#[derive(Debug)]
pub enum Answered {
    Claim(Box<domain::Claim>),
    Expired(usize),
    Nothing,
}

impl Answered {
    fn claim(claim: domain::Claim) -> Self {
        Self::Claim(Box::new(claim))
    }
}

pub struct Harness {
    pub desk: Desk,
    /// The desk's time when the run started.
    pub start: SystemTime,
    /// The claims made so far, in the order of the run.
    pub claims: Vec<Seen>,
    _dir: TempDir,
}

/// A claim id that no claim of the run has.
fn unknown_claim() -> ClaimId {
    ClaimId::from_ulid(ulid::Ulid::from_parts(1, 1))
}

fn user(name: &str) -> UserName {
    UserName::parse(name).expect("a valid user name")
}

fn actor(name: &str) -> Actor {
    let role = match ops::role_of(name) {
        ops::Role::Editor => Role::Editor,
        ops::Role::Checker => Role::Checker,
        ops::Role::Chief => Role::Chief,
    };
    Actor::new(user(name), role)
}

fn source(name: &str) -> SourceName {
    SourceName::parse(name).expect("a valid source")
}

fn note(text: &str) -> Note {
    Note::parse(text).expect("a valid note")
}

fn relation(r: ops::Relation) -> Relation {
    match r {
        ops::Relation::Contradicts => Relation::Contradicts,
        ops::Relation::Corroborates => Relation::Corroborates,
        ops::Relation::Duplicates => Relation::Duplicates,
        ops::Relation::Supersedes => Relation::Supersedes,
    }
}

fn new_claim(s: &Submission, start: SystemTime) -> domain::NewClaim {
    domain::NewClaim {
        statement: Statement::parse(s.statement).expect("a valid statement"),
        attribution: domain::Attribution {
            source: source(s.source),
            relayed_from: s.relayed_from.into_iter().map(source).collect(),
            url: None,
        },
        story: Slug::parse(s.story).expect("a valid story"),
        tags: Vec::new(),
        priority: match s.priority {
            Priority::Routine => domain::Priority::Routine,
            Priority::Urgent => domain::Priority::Urgent,
            Priority::Breaking => domain::Priority::Breaking,
        },
        deadline: s
            .deadline
            .map(|minutes| start + std::time::Duration::from_secs(minutes * 60)),
    }
}

/// What the gate says of `by` calling `method`: the served policy's
/// entry, and whether the caller's role includes it.
fn gate(method: &str, by: &str) -> Result<(), Status> {
    let path = format!("/claimdesk.v1.ClaimService/{method}");
    let needed = POLICY
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, requirement)| *requirement);
    match needed {
        Some(Requirement::Role(role)) if actor(by).role.includes(role) => Ok(()),
        Some(Requirement::Role(role)) => Err(Status::permission_denied(format!(
            "{method} needs the role {role}"
        ))
        .with_reason("ROLE_REQUIRED")),
        other => panic!("{path} has no role in the policy: {other:?}"),
    }
}

/// A status with an `ErrorInfo` of `reason`, like the gate's.
trait WithReason {
    fn with_reason(self, reason: &str) -> Status;
}

impl WithReason for Status {
    fn with_reason(self, reason: &str) -> Status {
        Status::with_error_details(
            self.code(),
            self.message(),
            tonic_types::ErrorDetails::with_error_info(
                reason,
                "claimdesk.v1",
                std::collections::HashMap::new(),
            ),
        )
    }
}

/// The code and `ErrorInfo` reason of `status`.
pub fn code_and_reason(status: &Status) -> (Code, String) {
    let reason = status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default();
    (status.code(), reason)
}

impl Harness {
    pub async fn start() -> Self {
        let dir = scratch_dir();
        let store = open_sled_store(dir.path()).await;
        let desk = Desk::new(Arc::new(store), DeskConfig { lease: LEASE });
        Self {
            start: desk.now(),
            desk,
            claims: Vec::new(),
            _dir: dir,
        }
    }

    /// The id of the claim at place `c` of the run (an unknown one past
    /// the claims made).
    fn id(&self, c: usize) -> ClaimId {
        self.claims
            .get(c)
            .map_or_else(unknown_claim, |seen| seen.id)
    }

    /// The etag sent for claim `c`.
    fn etag(&self, c: usize, etag: Etag) -> String {
        let Some(seen) = self.claims.get(c) else {
            return String::new();
        };
        let last = seen.etags.len() - 1;
        match etag {
            Etag::Unconditional => String::new(),
            Etag::Current => seen.etags[last].clone(),
            Etag::Stale(back) => seen.etags[last.saturating_sub(back)].clone(),
        }
    }

    /// Runs `op` as a client's call would reach the desk.
    pub async fn run(&mut self, op: &Op) -> Result<Answered, Status> {
        if let (Some(method), Some(by)) = (op.method(), op.caller()) {
            gate(method, by)?;
        }
        let answered = match *op {
            Op::Submit {
                by,
                ref claim,
                request_id,
            } => {
                let made = self
                    .desk
                    .submit(
                        new_claim(claim, self.start),
                        user(by),
                        request_id.map(str::to_owned),
                    )
                    .await?;
                Answered::claim(made)
            }
            Op::Take { by, story } => {
                let query = QueueQuery {
                    story: story.map(|s| Slug::parse(s).expect("a valid story")),
                    tags: Vec::new(),
                };
                Answered::claim(self.desk.take_next(query, actor(by)).await?)
            }
            Op::StartReview { by, claim, etag } => {
                let command = self.desk.start_review_command();
                self.change(claim, command, by, etag).await?
            }
            Op::RenewLease { by, claim, etag } => {
                self.change(claim, Command::RenewLease, by, etag).await?
            }
            Op::Release { by, claim, etag } => {
                let command = Command::Release { note: note("") };
                self.change(claim, command, by, etag).await?
            }
            Op::Reassign {
                by,
                claim,
                to,
                etag,
            } => {
                let command = self.desk.reassign_command(user(to), note("over to you"));
                self.change(claim, command, by, etag).await?
            }
            Op::AddEvidence {
                by,
                claim,
                source: from,
                stance,
                etag,
            } => {
                let command = Command::AddEvidence {
                    id: self.desk.new_evidence_id(),
                    evidence: domain::NewEvidence {
                        url: None,
                        summary: note("what the party said"),
                        source: source(from),
                        stance: match stance {
                            Stance::Supports => domain::Stance::Supports,
                            Stance::Refutes => domain::Stance::Refutes,
                            Stance::Context => domain::Stance::Context,
                        },
                    },
                };
                self.change(claim, command, by, etag).await?
            }
            Op::Verify {
                by,
                claim,
                acknowledge_contradictions,
                etag,
            } => {
                let command = Command::Verify {
                    note: note("checked"),
                    acknowledge_contradictions,
                };
                self.change(claim, command, by, etag).await?
            }
            Op::Dispute { by, claim, etag } => {
                let command = Command::Dispute {
                    note: note("refuted"),
                };
                self.change(claim, command, by, etag).await?
            }
            Op::MarkInconclusive { by, claim, etag } => {
                let command = Command::MarkInconclusive {
                    note: note("nobody would say"),
                };
                self.change(claim, command, by, etag).await?
            }
            Op::Reopen {
                by,
                claim,
                reason,
                etag,
            } => {
                let command = Command::Reopen {
                    reason: convert::required_note("reason", reason)?,
                };
                self.change(claim, command, by, etag).await?
            }
            Op::Withdraw {
                by,
                claim,
                reason,
                etag,
            } => {
                let command = Command::Withdraw {
                    reason: convert::required_note("reason", reason)?,
                };
                self.change(claim, command, by, etag).await?
            }
            Op::Link {
                by,
                claim,
                other,
                relation: r,
                etag,
            } => {
                let linked = self
                    .desk
                    .link(
                        self.id(claim),
                        self.id(other),
                        relation(r),
                        note("seen together"),
                        actor(by),
                        self.etag(claim, etag),
                    )
                    .await?;
                Answered::claim(linked)
            }
            Op::ResolveLink {
                by,
                claim,
                link,
                confirm,
                etag,
            } => {
                let id = self.id(claim);
                // The link's id as the claim holds it, or one it does not hold.
                let link = match self.desk.get(id).await {
                    Ok(held) => held.links.get(link).map_or(u64::MAX, |l| l.id),
                    Err(_) => u64::MAX,
                };
                let status = if confirm {
                    LinkStatus::Confirmed
                } else {
                    LinkStatus::Rejected
                };
                let resolved = self
                    .desk
                    .resolve_link(
                        id,
                        link,
                        status,
                        note("looked at both"),
                        actor(by),
                        self.etag(claim, etag),
                    )
                    .await?;
                Answered::claim(resolved)
            }
            Op::Wait { minutes } => {
                tokio::time::advance(std::time::Duration::from_secs(minutes * 60)).await;
                Answered::Nothing
            }
            Op::ExpireLeases => Answered::Expired(self.desk.expire_due_leases().await?),
        };
        Ok(answered)
    }

    async fn change(
        &self,
        c: usize,
        command: Command,
        by: &str,
        etag: Etag,
    ) -> Result<Answered, Error> {
        let changed = self
            .desk
            .change(self.id(c), command, actor(by), self.etag(c, etag))
            .await?;
        Ok(Answered::claim(changed))
    }

    /// The claim at place `c` as the desk has it now.
    pub async fn read(&self, c: usize) -> domain::Claim {
        self.desk
            .get(self.claims[c].id)
            .await
            .expect("a claim the run made can be read")
    }

    /// What the desk answered, in the run's terms.
    pub fn describe(&self, answered: &Answered) -> String {
        match answered {
            Answered::Claim(claim) => match self.place(claim.id) {
                Some(c) => format!("claim {c}, {:?}", claim.state),
                None => format!("a new claim, {:?}", claim.state),
            },
            Answered::Expired(n) => format!("{n} leases expired"),
            Answered::Nothing => "nothing".to_owned(),
        }
    }

    /// The place in the run of the claim `id`.
    pub fn place(&self, id: ClaimId) -> Option<usize> {
        self.claims.iter().position(|seen| seen.id == id)
    }
}

/// A data directory that costs no disk flush where the system offers a
/// memory file system: the run checks the rules, not the disk, and a
/// thousand fsyncs would take most of its time.
fn scratch_dir() -> TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("a temporary data directory")
}
