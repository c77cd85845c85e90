//! Who may call what, with a tokens file: every RPC of the server against
//! every kind of caller, and the identity the history records.

use std::{collections::BTreeSet, path::Path};

use claimdesk::{
    auth::{self, Tokens},
    domain::{Role, UserName},
    grpc::{identity::Authentication, served_methods},
    pb::{self, claim, evidence},
};
use tempfile::TempDir;
use tonic::{Code, Request, Status, metadata::MetadataValue};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::{v1, v1alpha};

use crate::helpers::*;

/// The people of the test newsroom and their roles.
const PEOPLE: [(&str, Role); 5] = [
    ("mara", Role::Editor),
    ("noor", Role::Editor),
    ("kofi", Role::Checker),
    ("lena", Role::Checker),
    ("ines", Role::Chief),
];

/// Writes a tokens file giving each of [`PEOPLE`] a fresh token; returns
/// the file's path and the tokens by name.
fn write_tokens(dir: &Path) -> (std::path::PathBuf, Vec<(String, String)>) {
    let mut lines = vec!["[tokens]".to_owned()];
    let mut tokens = Vec::new();
    for (name, role) in PEOPLE {
        let token = auth::new_token().expect("randomness");
        let user = UserName::parse(name).expect("a valid name");
        lines.push(auth::tokens_file_line(&token, &user, role));
        tokens.push((name.to_owned(), token));
    }
    let path = dir.join("tokens.toml");
    std::fs::write(&path, lines.join("\n") + "\n").expect("the tokens file is written");
    (path, tokens)
}

/// A server that authenticates with a tokens file, and the tokens.
struct Newsroom {
    server: TestServer,
    tokens: Vec<(String, String)>,
    tokens_file: std::path::PathBuf,
    handle: Tokens,
    _dir: TempDir,
}

impl Newsroom {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (tokens_file, tokens) = write_tokens(dir.path());
        let handle = Tokens::load(&tokens_file).expect("the tokens file loads");
        let serving = handle.clone();
        let server = TestServer::spawn_configured(|server| {
            server.authentication(Authentication::Tokens(serving))
        })
        .await;
        Self {
            server,
            tokens,
            tokens_file,
            handle,
            _dir: dir,
        }
    }

    fn token(&self, name: &str) -> &str {
        &self
            .tokens
            .iter()
            .find(|(n, _)| n == name)
            .expect("a person of the newsroom")
            .1
    }
}

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    NoToken,
    Malformed,
    Unknown,
    /// An editor: the one who submitted the claims of the test.
    Submitter,
    OtherEditor,
    /// A checker: the one who has the claims of the test in review.
    Assignee,
    OtherChecker,
    Chief,
}

const CALLERS: [Caller; 8] = [
    Caller::NoToken,
    Caller::Malformed,
    Caller::Unknown,
    Caller::Submitter,
    Caller::OtherEditor,
    Caller::Assignee,
    Caller::OtherChecker,
    Caller::Chief,
];

impl Caller {
    fn person(self) -> Option<&'static str> {
        match self {
            Caller::NoToken | Caller::Malformed | Caller::Unknown => None,
            Caller::Submitter => Some("mara"),
            Caller::OtherEditor => Some("noor"),
            Caller::Assignee => Some("kofi"),
            Caller::OtherChecker => Some("lena"),
            Caller::Chief => Some("ines"),
        }
    }

    fn role(self) -> Option<Role> {
        let person = self.person()?;
        PEOPLE.iter().find(|(n, _)| *n == person).map(|(_, r)| *r)
    }
}

/// `message` as `caller` sends it, also claiming to be the chief in
/// `x-claimdesk-user`, which a server with tokens must ignore.
fn signed<T>(newsroom: &Newsroom, caller: Caller, message: T) -> Request<T> {
    let mut request = as_user(message, "ines");
    let authorization = match caller {
        Caller::NoToken => return request,
        Caller::Malformed => "Bearer not a token!".to_owned(),
        Caller::Unknown => format!("Bearer {}", auth::new_token().expect("randomness")),
        _ => format!(
            "Bearer {}",
            newsroom.token(caller.person().expect("a person"))
        ),
    };
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(authorization).expect("ASCII metadata"),
    );
    request
}

/// Every RPC the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    SubmitClaim,
    GetClaim,
    ListClaims,
    StartReview,
    ReleaseClaim,
    AddEvidence,
    VerifyClaim,
    DisputeClaim,
    MarkClaimInconclusive,
    ReopenClaim,
    WithdrawClaim,
    ListClaimEvents,
    TakeNextClaim,
    RenewLease,
    GetQueueStats,
    WatchClaimEvents,
    ReassignClaim,
    LinkClaims,
    ResolveLink,
    ListConflicts,
    BackupDesk,
    HealthCheck,
    HealthWatch,
    ReflectionV1,
    ReflectionV1alpha,
}

const RPCS: [Rpc; 25] = [
    Rpc::SubmitClaim,
    Rpc::GetClaim,
    Rpc::ListClaims,
    Rpc::StartReview,
    Rpc::ReleaseClaim,
    Rpc::AddEvidence,
    Rpc::VerifyClaim,
    Rpc::DisputeClaim,
    Rpc::MarkClaimInconclusive,
    Rpc::ReopenClaim,
    Rpc::WithdrawClaim,
    Rpc::ListClaimEvents,
    Rpc::TakeNextClaim,
    Rpc::RenewLease,
    Rpc::GetQueueStats,
    Rpc::WatchClaimEvents,
    Rpc::ReassignClaim,
    Rpc::LinkClaims,
    Rpc::ResolveLink,
    Rpc::ListConflicts,
    Rpc::BackupDesk,
    Rpc::HealthCheck,
    Rpc::HealthWatch,
    Rpc::ReflectionV1,
    Rpc::ReflectionV1alpha,
];

impl Rpc {
    fn path(self) -> String {
        match self {
            Rpc::HealthCheck => "/grpc.health.v1.Health/Check".to_owned(),
            Rpc::HealthWatch => "/grpc.health.v1.Health/Watch".to_owned(),
            Rpc::ReflectionV1 => {
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo".to_owned()
            }
            Rpc::ReflectionV1alpha => {
                "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo".to_owned()
            }
            rpc => format!("/claimdesk.v1.ClaimService/{rpc:?}"),
        }
    }

    /// The state the claim of the call is put in first: `None` for calls on
    /// no particular claim.
    fn needs(self) -> Option<Setup> {
        match self {
            Rpc::GetClaim
            | Rpc::StartReview
            | Rpc::AddEvidence
            | Rpc::WithdrawClaim
            | Rpc::ListClaimEvents => Some(Setup::Unverified),
            Rpc::ReleaseClaim
            | Rpc::VerifyClaim
            | Rpc::DisputeClaim
            | Rpc::MarkClaimInconclusive
            | Rpc::RenewLease
            | Rpc::ReassignClaim => Some(Setup::InReview),
            Rpc::ReopenClaim => Some(Setup::Verified),
            Rpc::LinkClaims | Rpc::ResolveLink | Rpc::ListConflicts => Some(Setup::Contradicted),
            Rpc::TakeNextClaim => Some(Setup::Waiting),
            Rpc::SubmitClaim
            | Rpc::ListClaims
            | Rpc::GetQueueStats
            | Rpc::WatchClaimEvents
            | Rpc::BackupDesk
            | Rpc::HealthCheck
            | Rpc::HealthWatch
            | Rpc::ReflectionV1
            | Rpc::ReflectionV1alpha => None,
        }
    }

    /// The least role the method needs; `None`: no token needed.
    fn least_role(self) -> Option<Role> {
        match self {
            Rpc::HealthCheck | Rpc::HealthWatch | Rpc::ReflectionV1 | Rpc::ReflectionV1alpha => {
                None
            }
            Rpc::SubmitClaim
            | Rpc::GetClaim
            | Rpc::ListClaims
            | Rpc::AddEvidence
            | Rpc::WithdrawClaim
            | Rpc::ListClaimEvents
            | Rpc::GetQueueStats
            | Rpc::WatchClaimEvents
            | Rpc::ListConflicts => Some(Role::Editor),
            Rpc::StartReview
            | Rpc::ReleaseClaim
            | Rpc::VerifyClaim
            | Rpc::DisputeClaim
            | Rpc::MarkClaimInconclusive
            | Rpc::TakeNextClaim
            | Rpc::RenewLease
            | Rpc::LinkClaims
            | Rpc::ResolveLink => Some(Role::Checker),
            Rpc::ReopenClaim | Rpc::ReassignClaim | Rpc::BackupDesk => Some(Role::Chief),
        }
    }
}

/// What the matrix expects of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    /// Refused before any handler runs.
    Unauthenticated,
    /// Refused before any handler runs: the method needs this role.
    PolicyDenied(Role),
    /// Refused by the rules of the claim: this role would be allowed.
    RuleDenied(Role),
    /// Not the assignee (FAILED_PRECONDITION).
    NotAssignee,
}

fn expected(rpc: Rpc, caller: Caller) -> Outcome {
    let Some(least) = rpc.least_role() else {
        return Outcome::Ok;
    };
    let Some(role) = caller.role() else {
        return Outcome::Unauthenticated;
    };
    if !role.includes(least) {
        return Outcome::PolicyDenied(least);
    }
    match (rpc, caller) {
        // An editor withdraws only what they submitted; a chief anything.
        (Rpc::WithdrawClaim, Caller::Submitter | Caller::Chief) => Outcome::Ok,
        (Rpc::WithdrawClaim, _) => Outcome::RuleDenied(Role::Chief),
        // The assignee releases their claim; a chief anyone's.
        (Rpc::ReleaseClaim, Caller::Assignee | Caller::Chief) => Outcome::Ok,
        (Rpc::ReleaseClaim, _) => Outcome::RuleDenied(Role::Chief),
        // Renewing and ruling are the assignee's alone, even against a chief.
        (
            Rpc::RenewLease | Rpc::VerifyClaim | Rpc::DisputeClaim | Rpc::MarkClaimInconclusive,
            Caller::Assignee,
        ) => Outcome::Ok,
        (
            Rpc::RenewLease | Rpc::VerifyClaim | Rpc::DisputeClaim | Rpc::MarkClaimInconclusive,
            _,
        ) => Outcome::NotAssignee,
        _ => Outcome::Ok,
    }
}

#[derive(Debug, Clone, Copy)]
enum Setup {
    Unverified,
    InReview,
    Verified,
    /// Alone in a story of its own, so that taking from that story takes it.
    Waiting,
    /// Unverified, with a suggested contradiction of an earlier claim of
    /// its story (its first link).
    Contradicted,
}

/// Calls made with the newsroom's own tokens to set claims up.
struct Desk<'a> {
    newsroom: &'a Newsroom,
    client: Client,
}

impl Desk<'_> {
    fn as_person<T>(&self, person: &str, message: T) -> Request<T> {
        let caller = CALLERS
            .into_iter()
            .find(|c| c.person() == Some(person))
            .expect("a person of the newsroom");
        signed(self.newsroom, caller, message)
    }

    async fn submit(&mut self, story: &str) -> pb::Claim {
        let mut claim = harbour_claim();
        claim.story = story.to_owned();
        self.submit_claim(claim).await
    }

    async fn submit_claim(&mut self, claim: pb::Claim) -> pb::Claim {
        let request = self.as_person(
            "mara",
            pb::SubmitClaimRequest {
                claim: Some(claim),
                ..Default::default()
            },
        );
        self.client
            .submit_claim(request)
            .await
            .expect("mara submits")
            .into_inner()
    }

    /// A claim of `story` whose figure contradicts the claim submitted there
    /// first ([`harbour_claim`]'s), with the suggested link.
    async fn contradict(&mut self, story: &str) -> pb::Claim {
        let mut claim = harbour_claim();
        claim.statement = "Only 2,000 dock workers joined the strike".to_owned();
        claim.story = story.to_owned();
        let claim = self.submit_claim(claim).await;
        assert_eq!(claim.links.len(), 1, "a contradiction is suggested");
        claim
    }

    async fn prepare(&mut self, setup: Setup, cell: usize) -> pb::Claim {
        let story = format!("matrix-{cell}");
        let claim = self.submit(&story).await;
        let name = claim.name.clone();
        match setup {
            Setup::Unverified | Setup::Waiting => return claim,
            Setup::Contradicted => return self.contradict(&story).await,
            Setup::InReview | Setup::Verified => {}
        }
        let request = self.as_person(
            "kofi",
            pb::StartReviewRequest {
                name: name.clone(),
                ..Default::default()
            },
        );
        self.client
            .start_review(request)
            .await
            .expect("kofi takes it");
        for (source, stance) in [
            ("Port Authority", evidence::Stance::Supports),
            ("Night shift log", evidence::Stance::Refutes),
        ] {
            let request = self.as_person(
                "kofi",
                pb::AddEvidenceRequest {
                    name: name.clone(),
                    evidence: Some(evidence(source, stance, "Seen at the gate")),
                    ..Default::default()
                },
            );
            self.client
                .add_evidence(request)
                .await
                .expect("kofi adds evidence");
        }
        if let Setup::Verified = setup {
            let request = self.as_person(
                "kofi",
                pb::VerifyClaimRequest {
                    name: name.clone(),
                    ..Default::default()
                },
            );
            self.client.verify_claim(request).await.expect("kofi rules");
        }
        let request = self.as_person("mara", pb::GetClaimRequest { name });
        self.client
            .get_claim(request)
            .await
            .expect("mara reads it")
            .into_inner()
    }
}

/// Makes the call `rpc` as `caller` on `claim`. With `garbled`, the request
/// is invalid: a handler that ran would answer INVALID_ARGUMENT.
async fn invoke(
    newsroom: &Newsroom,
    client: &mut Client,
    rpc: Rpc,
    caller: Caller,
    claim: Option<&pb::Claim>,
    garbled: bool,
) -> Result<(), Status> {
    let name = match (claim, garbled) {
        (_, true) => "claims/not a claim".to_owned(),
        (Some(claim), false) => claim.name.clone(),
        (None, false) => String::new(),
    };
    let story = if garbled {
        "Not A Story!".to_owned()
    } else {
        claim.map(|c| c.story.clone()).unwrap_or_default()
    };
    // One call of the claim service, as `caller`.
    macro_rules! call {
        ($method:ident, $message:expr) => {{
            client.$method(signed(newsroom, caller, $message)).await?;
        }};
    }
    match rpc {
        Rpc::SubmitClaim => call!(
            submit_claim,
            pb::SubmitClaimRequest {
                claim: (!garbled).then(harbour_claim),
                ..Default::default()
            }
        ),
        Rpc::GetClaim => call!(get_claim, pb::GetClaimRequest { name }),
        Rpc::ListClaims => call!(
            list_claims,
            pb::ListClaimsRequest {
                page_size: if garbled { -1 } else { 10 },
                ..Default::default()
            }
        ),
        Rpc::StartReview => call!(
            start_review,
            pb::StartReviewRequest {
                name,
                ..Default::default()
            }
        ),
        Rpc::ReleaseClaim => call!(
            release_claim,
            pb::ReleaseClaimRequest {
                name,
                ..Default::default()
            }
        ),
        Rpc::AddEvidence => call!(
            add_evidence,
            pb::AddEvidenceRequest {
                name,
                evidence: Some(evidence(
                    "Dock registry",
                    evidence::Stance::Context,
                    "Shift rosters",
                )),
                ..Default::default()
            }
        ),
        Rpc::VerifyClaim => call!(
            verify_claim,
            pb::VerifyClaimRequest {
                name,
                ..Default::default()
            }
        ),
        Rpc::DisputeClaim => call!(
            dispute_claim,
            pb::DisputeClaimRequest {
                name,
                ..Default::default()
            }
        ),
        Rpc::MarkClaimInconclusive => call!(
            mark_claim_inconclusive,
            pb::MarkClaimInconclusiveRequest {
                name,
                ..Default::default()
            }
        ),
        Rpc::ReopenClaim => call!(
            reopen_claim,
            pb::ReopenClaimRequest {
                name,
                reason: "A corrected figure came in".to_owned(),
                ..Default::default()
            }
        ),
        Rpc::WithdrawClaim => call!(
            withdraw_claim,
            pb::WithdrawClaimRequest {
                name,
                reason: "Cut from the story".to_owned(),
                ..Default::default()
            }
        ),
        Rpc::ListClaimEvents => call!(
            list_claim_events,
            pb::ListClaimEventsRequest {
                name,
                ..Default::default()
            }
        ),
        Rpc::TakeNextClaim => call!(
            take_next_claim,
            pb::TakeNextClaimRequest {
                story,
                ..Default::default()
            }
        ),
        Rpc::RenewLease => call!(
            renew_lease,
            pb::RenewLeaseRequest {
                name,
                ..Default::default()
            }
        ),
        Rpc::GetQueueStats => {
            client
                .get_queue_stats(signed(newsroom, caller, pb::GetQueueStatsRequest { story }))
                .await?;
        }
        Rpc::WatchClaimEvents => {
            let mut events = client
                .watch_claim_events(signed(
                    newsroom,
                    caller,
                    pb::WatchClaimEventsRequest {
                        story,
                        ..Default::default()
                    },
                ))
                .await?
                .into_inner();
            // The replay starts at once: events of earlier cells exist.
            let first = events.message().await?;
            assert!(first.is_some(), "the watch replays stored events");
        }
        Rpc::ReassignClaim => call!(
            reassign_claim,
            pb::ReassignClaimRequest {
                name,
                assignee: "lena".to_owned(),
                ..Default::default()
            }
        ),
        Rpc::LinkClaims => call!(
            link_claims,
            pb::LinkClaimsRequest {
                other: claim.map(|c| c.links[0].other.clone()).unwrap_or_default(),
                name,
                relation: pb::claim_link::Relation::Corroborates.into(),
                ..Default::default()
            }
        ),
        Rpc::ResolveLink => call!(
            resolve_link,
            pb::ResolveLinkRequest {
                name: match (claim, garbled) {
                    (Some(claim), false) => claim.links[0].name.clone(),
                    _ => name,
                },
                status: pb::claim_link::Status::Rejected.into(),
                ..Default::default()
            }
        ),
        Rpc::ListConflicts => call!(
            list_conflicts,
            pb::ListConflictsRequest {
                story,
                ..Default::default()
            }
        ),
        Rpc::BackupDesk => {
            let mut pieces = client
                .backup_desk(signed(newsroom, caller, pb::BackupDeskRequest {}))
                .await?
                .into_inner();
            let first = pieces.message().await?.expect("a first piece");
            assert!(first.data.starts_with(b"claimdesk backup\n"), "a backup");
        }
        Rpc::HealthCheck => {
            HealthClient::new(newsroom.server.channel().await)
                .check(signed(newsroom, caller, HealthCheckRequest::default()))
                .await?;
        }
        Rpc::HealthWatch => {
            let mut statuses = HealthClient::new(newsroom.server.channel().await)
                .watch(signed(newsroom, caller, HealthCheckRequest::default()))
                .await?
                .into_inner();
            assert!(statuses.message().await?.is_some(), "a first status");
        }
        Rpc::ReflectionV1 => {
            let request = v1::ServerReflectionRequest {
                host: String::new(),
                message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
                    String::new(),
                )),
            };
            let mut answers = v1::server_reflection_client::ServerReflectionClient::new(
                newsroom.server.channel().await,
            )
            .server_reflection_info(signed(newsroom, caller, tokio_stream::iter([request])))
            .await?
            .into_inner();
            assert!(answers.message().await?.is_some(), "an answer");
        }
        Rpc::ReflectionV1alpha => {
            let request = v1alpha::ServerReflectionRequest {
                host: String::new(),
                message_request: Some(
                    v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
                ),
            };
            let mut answers = v1alpha::server_reflection_client::ServerReflectionClient::new(
                newsroom.server.channel().await,
            )
            .server_reflection_info(signed(newsroom, caller, tokio_stream::iter([request])))
            .await?
            .into_inner();
            assert!(answers.message().await?.is_some(), "an answer");
        }
    }
    Ok(())
}

fn check(cell: &str, result: Result<(), Status>, outcome: Outcome) {
    let (code, reason, role) = match outcome {
        Outcome::Ok => {
            if let Err(status) = result {
                panic!("{cell}: expected OK, got {status:?}");
            }
            return;
        }
        Outcome::Unauthenticated => (Code::Unauthenticated, None, None),
        Outcome::PolicyDenied(role) | Outcome::RuleDenied(role) => {
            (Code::PermissionDenied, Some("ROLE_REQUIRED"), Some(role))
        }
        Outcome::NotAssignee => (Code::FailedPrecondition, Some("NOT_ASSIGNEE"), None),
    };
    let status = match result {
        Ok(()) => panic!("{cell}: expected {code:?}, got OK"),
        Err(status) => status,
    };
    assert_eq!(status.code(), code, "{cell}: {status:?}");
    let details = tonic_types::StatusExt::get_error_details(&status);
    let info = details.error_info().expect("an ErrorInfo");
    assert_eq!(info.domain, DOMAIN, "{cell}");
    if let Some(reason) = reason {
        assert_eq!(info.reason, reason, "{cell}: {status:?}");
    }
    if let Some(role) = role {
        assert_eq!(
            error_metadata(&details, "role").as_deref(),
            Some(role.as_str()),
            "{cell}: the refusal names the role needed"
        );
    }
}

#[tokio::test]
async fn the_authorization_matrix_holds_for_every_rpc_and_caller() {
    let newsroom = Newsroom::start().await;
    let mut desk = Desk {
        newsroom: &newsroom,
        client: newsroom.server.client().await,
    };
    let mut client = newsroom.server.client().await;

    // The matrix covers every method the server offers.
    let served: BTreeSet<String> = served_methods().into_iter().map(|m| m.path).collect();
    let covered: BTreeSet<String> = RPCS.iter().map(|r| r.path()).collect();
    assert_eq!(covered, served, "the matrix lists every RPC of the server");

    let mut cell = 0;
    for rpc in RPCS {
        for caller in CALLERS {
            cell += 1;
            let label = format!("{rpc:?} by {caller:?}");
            let claim = match rpc.needs() {
                Some(setup) => Some(desk.prepare(setup, cell).await),
                None => None,
            };
            let outcome = expected(rpc, caller);
            // A call refused before its handler is refused whatever it
            // asks: a garbled request gets the same answer, not the
            // INVALID_ARGUMENT its handler would give.
            if matches!(outcome, Outcome::Unauthenticated | Outcome::PolicyDenied(_)) {
                let garbled =
                    invoke(&newsroom, &mut client, rpc, caller, claim.as_ref(), true).await;
                check(&format!("{label} (garbled)"), garbled, outcome);
            }
            let result = invoke(&newsroom, &mut client, rpc, caller, claim.as_ref(), false).await;
            check(&label, result, outcome);
            // A refused call leaves its claim as it was.
            if let (Some(before), false) = (&claim, outcome == Outcome::Ok) {
                let after = desk.prepare_read(&before.name).await;
                assert_eq!(after.etag, before.etag, "{label}: the claim is unchanged");
            }
        }
    }
    assert_eq!(cell, RPCS.len() * CALLERS.len());
    newsroom.server.stop().await;
}

impl Desk<'_> {
    async fn events(&mut self, name: &str) -> Vec<pb::ClaimEvent> {
        let request = self.as_person(
            "mara",
            pb::ListClaimEventsRequest {
                name: name.to_owned(),
                ..Default::default()
            },
        );
        self.client
            .list_claim_events(request)
            .await
            .expect("mara reads the history")
            .into_inner()
            .events
    }

    async fn prepare_read(&mut self, name: &str) -> pb::Claim {
        let request = self.as_person(
            "mara",
            pb::GetClaimRequest {
                name: name.to_owned(),
            },
        );
        self.client
            .get_claim(request)
            .await
            .expect("mara reads it")
            .into_inner()
    }
}

#[tokio::test]
async fn the_history_names_the_token_holder_whatever_the_metadata_says() {
    let newsroom = Newsroom::start().await;
    let mut desk = Desk {
        newsroom: &newsroom,
        client: newsroom.server.client().await,
    };
    // Each request also says `x-claimdesk-user: ines` (see `signed`).
    let claim = desk.prepare(Setup::Verified, 1).await;
    assert_eq!(claim.submitted_by, "mara");
    assert_eq!(claim.assignee, "kofi");
    let reassigned = desk.prepare(Setup::InReview, 2).await;
    let mut client = newsroom.server.client().await;
    let answer = client
        .reassign_claim(signed(
            &newsroom,
            Caller::Chief,
            pb::ReassignClaimRequest {
                name: reassigned.name.clone(),
                assignee: "lena".to_owned(),
                note: "Lena covers the port".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .expect("the chief reassigns")
        .into_inner();
    assert_eq!(answer.assignee, "lena");
    assert_eq!(answer.state(), claim::State::InReview);

    let events = desk.events(&claim.name).await;
    let actors: Vec<&str> = events.iter().map(|e| e.actor.as_str()).collect();
    assert_eq!(actors, ["mara", "kofi", "kofi", "kofi", "kofi"]);

    let events = desk.events(&reassigned.name).await;
    let last = events.last().expect("the reassignment");
    assert_eq!(last.r#type(), pb::claim_event::Type::Reassigned);
    assert_eq!(last.actor, "ines");
    assert_eq!(last.assignee, "lena");
    assert_eq!(last.note, "Lena covers the port");
    newsroom.server.stop().await;
}

#[tokio::test]
async fn a_claim_is_reassigned_only_to_a_checker_or_chief_holding_a_token() {
    let newsroom = Newsroom::start().await;
    let mut desk = Desk {
        newsroom: &newsroom,
        client: newsroom.server.client().await,
    };
    let claim = desk.prepare(Setup::InReview, 1).await;
    let mut client = newsroom.server.client().await;
    for (assignee, why) in [("noor", "editor"), ("someone-else", "no token"), ("", "")] {
        let result = client
            .reassign_claim(signed(
                &newsroom,
                Caller::Chief,
                pb::ReassignClaimRequest {
                    name: claim.name.clone(),
                    assignee: assignee.to_owned(),
                    ..Default::default()
                },
            ))
            .await;
        let (status, details) = expect_error(
            result.map(|r| r.into_inner()),
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        let violations = &details
            .bad_request()
            .expect("a BadRequest")
            .field_violations;
        assert_eq!(violations.len(), 1, "{status:?}");
        assert_eq!(violations[0].field, "assignee");
        assert!(violations[0].description.contains(why), "{status:?}");
    }
    let after = desk.prepare_read(&claim.name).await;
    assert_eq!(after.etag, claim.etag, "the claim is unchanged");
    newsroom.server.stop().await;
}

#[tokio::test]
async fn a_reloaded_tokens_file_revokes_and_admits_at_once() {
    let newsroom = Newsroom::start().await;
    let mut client = newsroom.server.client().await;
    let stats = |caller| signed(&newsroom, caller, pb::GetQueueStatsRequest::default());
    client
        .get_queue_stats(stats(Caller::OtherEditor))
        .await
        .expect("noor's token works");

    // Revoke noor's token; give the chief a second one.
    let fresh = auth::new_token().expect("randomness");
    let text = std::fs::read_to_string(&newsroom.tokens_file).expect("readable");
    let noor = auth::TokenHash::of(newsroom.token("noor")).to_hex();
    let mut kept: Vec<String> = text
        .lines()
        .filter(|l| !l.contains(&noor))
        .map(str::to_owned)
        .collect();
    kept.push(auth::tokens_file_line(
        &fresh,
        &UserName::parse("ines").expect("valid"),
        Role::Chief,
    ));
    std::fs::write(&newsroom.tokens_file, kept.join("\n")).expect("written");
    assert_eq!(newsroom.handle.reload().expect("reloads"), PEOPLE.len());

    let status = client
        .get_queue_stats(stats(Caller::OtherEditor))
        .await
        .expect_err("a revoked token");
    assert_eq!(status.code(), Code::Unauthenticated);
    let mut request = Request::new(pb::GetQueueStatsRequest::default());
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {fresh}")).expect("ASCII"),
    );
    client
        .get_queue_stats(request)
        .await
        .expect("the new token works without a restart");
    client
        .get_queue_stats(stats(Caller::Submitter))
        .await
        .expect("other tokens keep working");
    newsroom.server.stop().await;
}

#[tokio::test]
async fn refusals_say_what_is_wrong_with_the_token() {
    let newsroom = Newsroom::start().await;
    let mut client = newsroom.server.client().await;
    for (caller, reason) in [
        (Caller::NoToken, "TOKEN_MISSING"),
        (Caller::Malformed, "TOKEN_MALFORMED"),
        (Caller::Unknown, "TOKEN_UNKNOWN"),
    ] {
        let result = client
            .get_queue_stats(signed(
                &newsroom,
                caller,
                pb::GetQueueStatsRequest::default(),
            ))
            .await;
        let (status, _) = expect_error(result, Code::Unauthenticated, reason);
        assert!(!status.message().is_empty(), "{caller:?}");
    }
    newsroom.server.stop().await;
}

#[tokio::test]
async fn a_revoked_token_ends_the_watches_it_opened_and_no_other() {
    let newsroom = Newsroom::start().await;
    let mut desk = Desk {
        newsroom: &newsroom,
        client: newsroom.server.client().await,
    };
    desk.prepare(Setup::Unverified, 1).await;
    let watch = |caller| {
        let mut client = desk.client.clone();
        let request = signed(&newsroom, caller, pb::WatchClaimEventsRequest::default());
        async move {
            client
                .watch_claim_events(request)
                .await
                .expect("the watch starts")
                .into_inner()
        }
    };
    let mut noor = watch(Caller::OtherEditor).await;
    let mut kofi = watch(Caller::Assignee).await;
    for events in [&mut noor, &mut kofi] {
        let first = events.message().await.expect("an event").expect("open");
        assert_eq!(first.r#type(), pb::claim_event::Type::Submitted);
    }

    // Revoke noor's token.
    let noor_hash = auth::TokenHash::of(newsroom.token("noor")).to_hex();
    let text = std::fs::read_to_string(&newsroom.tokens_file).expect("readable");
    let kept: Vec<&str> = text.lines().filter(|l| !l.contains(&noor_hash)).collect();
    std::fs::write(&newsroom.tokens_file, kept.join("\n")).expect("written");
    newsroom.handle.reload().expect("reloads");

    let status = tokio::time::timeout(std::time::Duration::from_secs(30), noor.message())
        .await
        .expect("the revoked watch ends in time")
        .expect_err("the revoked watch ends with an error");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let details = tonic_types::StatusExt::get_error_details(&status);
    assert_eq!(
        details.error_info().map(|i| i.reason.as_str()),
        Some("TOKEN_REVOKED")
    );

    // kofi's watch goes on: it sees the next claim.
    let next = desk.submit("after-revocation").await;
    let event = kofi.message().await.expect("an event").expect("open");
    assert_eq!(event.claim, next.name);
    newsroom.server.stop().await;
}
