//! What is measured: the workloads, the rows each makes ([`Case`]), and the
//! [`Worker`] that makes their calls one after the other.

use std::sync::Arc;

use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

use crate::{
    cli::{
        connect::{Client, Connection, Health},
        error::ClientError,
    },
    pb,
};

/// The workloads of `--workloads`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// GetClaim of claims seeded first.
    Get,
    /// Durable SubmitClaim of distinct statements.
    Submit,
    /// ListClaims, a page of 50: by state, and by story (two rows).
    List,
    /// TakeNextClaim, AddEvidence and VerifyClaim on seeded claims; each
    /// step is a call.
    Review,
    /// 70% GetClaim, 20% SubmitClaim, 10% review steps.
    Mixed,
    /// SubmitClaim with 0, 10 and 100 watchers of every event, and with 100
    /// idle watchers (of a story nothing is written to): four rows.
    Watch,
    /// TakeNextClaim from the run's story, then ReleaseClaim of the claim
    /// taken; each is a call. Not among the workloads run by default
    /// unless a store is preloaded.
    Take,
}

impl Workload {
    pub const ALL: [Workload; 6] = [
        Workload::Get,
        Workload::Submit,
        Workload::List,
        Workload::Review,
        Workload::Mixed,
        Workload::Watch,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Get => "get",
            Workload::Submit => "submit",
            Workload::List => "list",
            Workload::Review => "review",
            Workload::Mixed => "mixed",
            Workload::Watch => "watch",
            Workload::Take => "take",
        }
    }

    /// The rows of this workload.
    pub fn cases(self) -> Vec<Case> {
        let case = |job, detail| Case {
            workload: self,
            detail,
            job,
            watchers: 0,
            idle_watchers: false,
        };
        match self {
            Workload::Get => vec![case(Job::Get, None)],
            Workload::Submit => vec![case(Job::Submit, None)],
            Workload::List => vec![
                case(Job::ListByState, Some("by state".to_owned())),
                case(Job::ListByStory, Some("by story".to_owned())),
            ],
            Workload::Review => vec![case(Job::Review, None)],
            Workload::Mixed => vec![case(Job::Mixed, None)],
            Workload::Watch => [0, 10, 100]
                .into_iter()
                .map(|watchers| Case {
                    watchers,
                    ..case(Job::Submit, Some(format!("{watchers} watchers")))
                })
                .chain([Case {
                    watchers: 100,
                    idle_watchers: true,
                    ..case(Job::Submit, Some("100 idle watchers".to_owned()))
                }])
                .collect(),
            Workload::Take => vec![case(Job::TakeRelease, None)],
        }
    }
}

/// One row of the report: a workload, maybe one variant of it.
#[derive(Debug, Clone)]
pub struct Case {
    pub workload: Workload,
    /// Which variant (`by state`, `10 watchers`), if the workload has more
    /// than one.
    pub detail: Option<String>,
    pub job: Job,
    /// Watchers open while it is measured: of every event, or idle.
    pub watchers: usize,
    /// Whether the watchers are idle: they watch a story nothing is written
    /// to, so they cost the writers only their filtering.
    pub idle_watchers: bool,
}

impl Case {
    /// Whether its calls take claims from the queue, which must then hold
    /// enough of them.
    pub fn takes_claims(&self) -> bool {
        matches!(self.job, Job::Review | Job::Mixed)
    }
}

/// The calls a worker makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// `grpc.health.v1.Health/Check`: the baseline.
    Health,
    Get,
    Submit,
    ListByState,
    ListByStory,
    Review,
    Mixed,
    TakeRelease,
}

/// What the workers of a run share.
#[derive(Debug)]
pub struct Shared {
    /// The run's story: every claim the run submits is in it.
    pub story: String,
    /// Claims for GetClaim.
    pub seeded: Vec<String>,
}

/// How a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Called,
    /// Nothing left to call on (the queue is empty): the worker stops.
    NothingLeft,
}

/// Where a worker is in a review.
#[derive(Debug, Clone)]
enum Review {
    Take,
    AddEvidence { name: String, etag: String },
    Verify { name: String, etag: String },
}

/// Makes the calls of a [`Job`], one after the other.
pub struct Worker {
    job: Job,
    /// Which worker of the measurement it is (spreads the reads).
    index: usize,
    /// Calls made so far.
    seq: u64,
    client: Client,
    health: Health,
    server: String,
    shared: Arc<Shared>,
    review: Review,
    /// The claim taken and not released yet (name and etag).
    held: Option<(String, String)>,
    /// Claims taken from the queue.
    pub taken: u64,
    /// Names of the claims it submitted, if asked to keep them.
    pub submitted: Option<Vec<String>>,
}

impl Worker {
    pub fn new(job: Job, index: usize, connection: &Connection, shared: Arc<Shared>) -> Self {
        Self {
            job,
            index,
            seq: 0,
            client: connection.claims(),
            health: connection.health(),
            server: connection.server.clone(),
            shared,
            review: Review::Take,
            held: None,
            taken: 0,
            submitted: None,
        }
    }

    /// Makes the next call.
    pub async fn call(&mut self) -> Result<Outcome, ClientError> {
        let seq = self.seq;
        self.seq += 1;
        match self.job {
            Job::Health => self.check_health().await,
            Job::Get => self.get().await,
            Job::Submit => self.submit().await,
            Job::ListByState => {
                self.list(pb::ListClaimsRequest {
                    state: pb::claim::State::Unverified.into(),
                    page_size: LIST_PAGE,
                    ..Default::default()
                })
                .await
            }
            Job::ListByStory => {
                self.list(pb::ListClaimsRequest {
                    story: self.shared.story.clone(),
                    page_size: LIST_PAGE,
                    ..Default::default()
                })
                .await
            }
            Job::Review => self.review_step().await,
            // Of every ten calls: seven reads, two submissions, one review
            // step.
            Job::Mixed => match seq % 10 {
                0..7 => self.get().await,
                7 | 8 => self.submit().await,
                _ => self.review_step().await,
            },
            Job::TakeRelease => self.take_or_release().await,
        }
    }

    /// Takes the next claim of the run's story, or releases the claim taken
    /// by the call before.
    async fn take_or_release(&mut self) -> Result<Outcome, ClientError> {
        match self.held.take() {
            None => match self.take().await? {
                Some(claim) => {
                    self.held = Some((claim.name, claim.etag));
                    Ok(Outcome::Called)
                }
                None => Ok(Outcome::NothingLeft),
            },
            Some((name, etag)) => {
                let request = pb::ReleaseClaimRequest {
                    name,
                    etag,
                    note: "Back to the queue".into(),
                };
                self.client
                    .release_claim(request)
                    .await
                    .map_err(ClientError::call("ReleaseClaim", &self.server))?;
                Ok(Outcome::Called)
            }
        }
    }

    /// TakeNextClaim from the run's story; `None` if no claim waits.
    async fn take(&mut self) -> Result<Option<pb::Claim>, ClientError> {
        let request = pb::TakeNextClaimRequest {
            story: self.shared.story.clone(),
            tags: vec![],
        };
        match self.client.take_next_claim(request).await {
            Ok(claim) => {
                self.taken += 1;
                Ok(Some(claim.into_inner()))
            }
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(ClientError::call("TakeNextClaim", &self.server)(status)),
        }
    }

    async fn check_health(&mut self) -> Result<Outcome, ClientError> {
        let answer = self
            .health
            .check(HealthCheckRequest::default())
            .await
            .map_err(ClientError::call("Check", &self.server))?
            .into_inner();
        match answer.status() {
            ServingStatus::Serving => Ok(Outcome::Called),
            status => Err(ClientError::NotServing {
                status: status.as_str_name().to_owned(),
            }),
        }
    }

    async fn get(&mut self) -> Result<Outcome, ClientError> {
        let seeded = &self.shared.seeded;
        if seeded.is_empty() {
            return Err(ClientError::Failed("no claims were seeded to read".into()));
        }
        // Workers start at different places and stride through the claims.
        let at = (self.index as u64 * 7919 + self.seq * 31) % seeded.len() as u64;
        let name = seeded[at as usize].clone();
        self.client
            .get_claim(pb::GetClaimRequest { name })
            .await
            .map_err(ClientError::call("GetClaim", &self.server))?;
        Ok(Outcome::Called)
    }

    async fn submit(&mut self) -> Result<Outcome, ClientError> {
        let request = submission(&self.shared.story, self.index, self.seq);
        let claim = self
            .client
            .submit_claim(request)
            .await
            .map_err(ClientError::call("SubmitClaim", &self.server))?
            .into_inner();
        if let Some(submitted) = &mut self.submitted {
            submitted.push(claim.name);
        }
        Ok(Outcome::Called)
    }

    async fn list(&mut self, request: pb::ListClaimsRequest) -> Result<Outcome, ClientError> {
        self.client
            .list_claims(request)
            .await
            .map_err(ClientError::call("ListClaims", &self.server))?;
        Ok(Outcome::Called)
    }

    /// The next step of a review: take a claim, add supporting evidence,
    /// verify it.
    async fn review_step(&mut self) -> Result<Outcome, ClientError> {
        let server = self.server.clone();
        match std::mem::replace(&mut self.review, Review::Take) {
            Review::Take => match self.take().await? {
                Some(claim) => {
                    self.review = Review::AddEvidence {
                        name: claim.name,
                        etag: claim.etag,
                    };
                    Ok(Outcome::Called)
                }
                None => Ok(Outcome::NothingLeft),
            },
            Review::AddEvidence { name, etag } => {
                let request = pb::AddEvidenceRequest {
                    name: name.clone(),
                    evidence: Some(pb::Evidence {
                        summary: "The records office's register agrees".into(),
                        source: "Bench Records Office".into(),
                        stance: pb::evidence::Stance::Supports.into(),
                        ..Default::default()
                    }),
                    etag,
                };
                let claim = self
                    .client
                    .add_evidence(request)
                    .await
                    .map_err(ClientError::call("AddEvidence", &server))?
                    .into_inner();
                self.review = Review::Verify {
                    name,
                    etag: claim.etag,
                };
                Ok(Outcome::Called)
            }
            Review::Verify { name, etag } => {
                let request = pb::VerifyClaimRequest {
                    name,
                    note: "Matches the register".into(),
                    etag,
                    acknowledge_contradictions: false,
                };
                self.client
                    .verify_claim(request)
                    .await
                    .map_err(ClientError::call("VerifyClaim", &server))?;
                Ok(Outcome::Called)
            }
        }
    }
}

/// Claims listed per call.
const LIST_PAGE: i32 = 50;

/// A submission to `story`, its statement distinct for each worker and call
/// (so no two are duplicates) and without figures: the durable write path
/// itself. What comparing figures with a story's claims adds is measured by
/// `cargo bench --bench conflicts`.
pub fn submission(story: &str, worker: usize, seq: u64) -> pb::SubmitClaimRequest {
    pb::SubmitClaimRequest {
        claim: Some(pb::Claim {
            statement: format!("Bench claim w{worker} s{seq}: dock workers joined the strike"),
            attribution: Some(pb::Attribution {
                source: "Bench Gazette".into(),
                ..Default::default()
            }),
            story: story.to_owned(),
            ..Default::default()
        }),
        request_id: ulid::Ulid::generate().to_string(),
    }
}
