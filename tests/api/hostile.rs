//! The worst request of every RPC that fits the message limit: the most
//! elements a repeated field can hold, the longest strings. Each is refused
//! with a bounded status (or answered, where it is legal) while other
//! clients go on being served. What they cost is measured by
//! `benches/hostile.rs`.

use std::{collections::BTreeSet, time::Duration};

use claimdesk::{
    error::FieldViolations,
    grpc::status::MAX_MESSAGE_BYTES,
    pb::{self, Attribution, Claim, claim, evidence},
    server::Limits,
};
use prost::Message;
use tonic::{Code, Status};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::helpers::*;

/// Connections sending hostile requests at once.
const HOSTILE_CONNECTIONS: usize = 2;
/// Calls the bystander makes at least, each a GetClaim and a health check.
const BYSTANDER_ROUNDS: usize = 10;
/// The most a refusal's details (`grpc-status-details-bin`) may weigh:
/// with the message, well within the 16 KiB of trailers clients accept.
const MAX_DETAILS_BYTES: usize = 8 * 1024;

/// Room left for the one large field of a request, under the limit.
const FILL: usize = Limits::DEFAULT_MAX_REQUEST_BYTES - 1024;

/// Every RPC of `claimdesk.v1.ClaimService`, with its worst request. The
/// extra `SubmitClaim` case is the only deeper nesting the API has: a claim
/// full of evidence, an output-only field the service ignores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    SubmitClaim,
    SubmitClaimWithEvidence,
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
}

const ALL: [Rpc; 22] = [
    Rpc::SubmitClaim,
    Rpc::SubmitClaimWithEvidence,
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
];

/// What the server must answer.
enum Expect {
    /// INVALID_ARGUMENT naming exactly these fields.
    Invalid(&'static [&'static str]),
    /// Another refusal, with its reason.
    Refused(Code, &'static str),
    /// Answered: a request without fields has nothing to refuse.
    Answered,
}

impl Rpc {
    /// The method's name in the API.
    fn method(self) -> &'static str {
        match self {
            Rpc::SubmitClaim | Rpc::SubmitClaimWithEvidence => "SubmitClaim",
            Rpc::GetClaim => "GetClaim",
            Rpc::ListClaims => "ListClaims",
            Rpc::StartReview => "StartReview",
            Rpc::ReleaseClaim => "ReleaseClaim",
            Rpc::AddEvidence => "AddEvidence",
            Rpc::VerifyClaim => "VerifyClaim",
            Rpc::DisputeClaim => "DisputeClaim",
            Rpc::MarkClaimInconclusive => "MarkClaimInconclusive",
            Rpc::ReopenClaim => "ReopenClaim",
            Rpc::WithdrawClaim => "WithdrawClaim",
            Rpc::ListClaimEvents => "ListClaimEvents",
            Rpc::TakeNextClaim => "TakeNextClaim",
            Rpc::RenewLease => "RenewLease",
            Rpc::GetQueueStats => "GetQueueStats",
            Rpc::WatchClaimEvents => "WatchClaimEvents",
            Rpc::ReassignClaim => "ReassignClaim",
            Rpc::LinkClaims => "LinkClaims",
            Rpc::ResolveLink => "ResolveLink",
            Rpc::ListConflicts => "ListConflicts",
            Rpc::BackupDesk => "BackupDesk",
        }
    }

    fn expect(self) -> Expect {
        use Expect::*;
        match self {
            Rpc::SubmitClaim => Invalid(&["claim.tags"]),
            Rpc::SubmitClaimWithEvidence => Invalid(&["claim.evidence"]),
            Rpc::GetClaim => Invalid(&["name"]),
            Rpc::ListClaims => Invalid(&["story", "state", "source", "assignee"]),
            Rpc::StartReview | Rpc::RenewLease => Refused(Code::Aborted, "ETAG_MISMATCH"),
            Rpc::ReleaseClaim | Rpc::VerifyClaim | Rpc::DisputeClaim => Invalid(&["note"]),
            Rpc::MarkClaimInconclusive => Invalid(&["note"]),
            Rpc::AddEvidence => Invalid(&["evidence.url", "evidence.summary", "evidence.source"]),
            Rpc::ReopenClaim | Rpc::WithdrawClaim => Invalid(&["reason"]),
            Rpc::ListClaimEvents => Invalid(&["page_token"]),
            Rpc::TakeNextClaim => Invalid(&["tags"]),
            Rpc::GetQueueStats => Invalid(&["story"]),
            Rpc::WatchClaimEvents => Invalid(&["states"]),
            Rpc::ReassignClaim => Invalid(&["assignee"]),
            Rpc::LinkClaims => Invalid(&["other", "note"]),
            Rpc::ResolveLink => Invalid(&["name", "note"]),
            Rpc::ListConflicts => Invalid(&["story"]),
            Rpc::BackupDesk => Answered,
        }
    }
}

/// `n` characters of text (ASCII: the most characters per byte).
fn long(n: usize) -> String {
    "x".repeat(n)
}

/// `n` distinct tags of four letters: the most slugs a message holds.
fn four_letter_tags(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            (0..4)
                .map(|d| char::from(b'a' + (i / 26usize.pow(d) % 26) as u8))
                .collect()
        })
        .collect()
}

/// Checks that `request` is as large as the limit allows, short of it.
#[track_caller]
fn fits<M: Message>(request: M) -> M {
    let len = request.encoded_len();
    assert!(
        len <= Limits::DEFAULT_MAX_REQUEST_BYTES
            && len > Limits::DEFAULT_MAX_REQUEST_BYTES * 9 / 10,
        "a worst request fills the message limit: {len} bytes"
    );
    request
}

/// Sends the worst request of `rpc`; `claim` names a stored claim.
async fn send(client: &mut Client, rpc: Rpc, claim: &str) -> Result<(), Status> {
    let name = claim.to_owned();
    match rpc {
        Rpc::SubmitClaim => {
            // Six bytes a tag: 170,000 of them.
            let request = fits(pb::SubmitClaimRequest {
                claim: Some(Claim {
                    tags: four_letter_tags(FILL / 6),
                    ..harbour_claim()
                }),
                request_id: String::new(),
            });
            client.submit_claim(request).await.map(drop)
        }
        Rpc::SubmitClaimWithEvidence => {
            // An empty evidence entry takes two bytes: half a million.
            let request = fits(pb::SubmitClaimRequest {
                claim: Some(Claim {
                    evidence: vec![pb::Evidence::default(); FILL / 2],
                    ..harbour_claim()
                }),
                request_id: String::new(),
            });
            // Refused before it is decoded (the count of elements is read
            // on the wire); a claim's evidence is output only anyway.
            client.submit_claim(request).await?;
            Ok(())
        }
        Rpc::GetClaim => {
            let request = fits(pb::GetClaimRequest {
                name: format!("claims/{}", long(FILL)),
            });
            client.get_claim(request).await.map(drop)
        }
        Rpc::ListClaims => {
            let request = fits(pb::ListClaimsRequest {
                story: long(FILL / 4),
                state: 42,
                source: long(FILL / 4),
                assignee: long(FILL / 4),
                page_size: i32::MAX,
                page_token: long(FILL / 4),
            });
            client.list_claims(request).await.map(drop)
        }
        Rpc::StartReview => {
            let request = fits(pb::StartReviewRequest {
                name,
                etag: long(FILL),
            });
            client.start_review(request).await.map(drop)
        }
        Rpc::ReleaseClaim => {
            let request = fits(pb::ReleaseClaimRequest {
                name,
                etag: String::new(),
                note: long(FILL),
            });
            client.release_claim(request).await.map(drop)
        }
        Rpc::AddEvidence => {
            let request = fits(pb::AddEvidenceRequest {
                name,
                evidence: Some(pb::Evidence {
                    url: format!("https://example.org/{}", long(FILL / 3)),
                    summary: long(FILL / 3),
                    source: long(FILL / 3),
                    stance: evidence::Stance::Supports.into(),
                    ..Default::default()
                }),
                etag: String::new(),
            });
            client.add_evidence(request).await.map(drop)
        }
        Rpc::VerifyClaim => {
            let request = fits(pb::VerifyClaimRequest {
                name,
                note: long(FILL),
                etag: String::new(),
                acknowledge_contradictions: true,
            });
            client.verify_claim(request).await.map(drop)
        }
        Rpc::DisputeClaim => {
            let request = fits(pb::DisputeClaimRequest {
                name,
                note: long(FILL),
                etag: String::new(),
            });
            client.dispute_claim(request).await.map(drop)
        }
        Rpc::MarkClaimInconclusive => {
            let request = fits(pb::MarkClaimInconclusiveRequest {
                name,
                note: long(FILL),
                etag: String::new(),
            });
            client.mark_claim_inconclusive(request).await.map(drop)
        }
        Rpc::ReopenClaim => {
            let request = fits(pb::ReopenClaimRequest {
                name,
                reason: long(FILL),
                etag: String::new(),
            });
            client.reopen_claim(request).await.map(drop)
        }
        Rpc::WithdrawClaim => {
            let request = fits(pb::WithdrawClaimRequest {
                name,
                reason: long(FILL),
                etag: String::new(),
            });
            client.withdraw_claim(request).await.map(drop)
        }
        Rpc::ListClaimEvents => {
            let request = fits(pb::ListClaimEventsRequest {
                name,
                page_size: i32::MAX,
                page_token: long(FILL),
            });
            client.list_claim_events(request).await.map(drop)
        }
        Rpc::TakeNextClaim => {
            let request = fits(pb::TakeNextClaimRequest {
                story: String::new(),
                tags: four_letter_tags(FILL / 6),
            });
            client.take_next_claim(request).await.map(drop)
        }
        Rpc::RenewLease => {
            let request = fits(pb::RenewLeaseRequest {
                name,
                etag: long(FILL),
            });
            client.renew_lease(request).await.map(drop)
        }
        Rpc::GetQueueStats => {
            let request = fits(pb::GetQueueStatsRequest { story: long(FILL) });
            client.get_queue_stats(request).await.map(drop)
        }
        Rpc::WatchClaimEvents => {
            // Packed, an unknown state takes one byte: a million of them.
            let request = fits(pb::WatchClaimEventsRequest {
                after_revision: 0,
                story: String::new(),
                states: vec![42; FILL],
            });
            client.watch_claim_events(request).await.map(drop)
        }
        Rpc::ReassignClaim => {
            let request = fits(pb::ReassignClaimRequest {
                name,
                assignee: long(FILL),
                etag: String::new(),
                note: String::new(),
            });
            client.reassign_claim(request).await.map(drop)
        }
        Rpc::LinkClaims => {
            let request = fits(pb::LinkClaimsRequest {
                name,
                other: long(FILL / 2),
                relation: pb::claim_link::Relation::Contradicts.into(),
                note: long(FILL / 2),
                etag: String::new(),
            });
            client.link_claims(request).await.map(drop)
        }
        Rpc::ResolveLink => {
            let request = fits(pb::ResolveLinkRequest {
                name: format!("{name}/links/{}", long(FILL / 2)),
                status: pb::claim_link::Status::Confirmed.into(),
                note: long(FILL / 2),
                etag: String::new(),
            });
            client.resolve_link(request).await.map(drop)
        }
        Rpc::ListConflicts => {
            let request = fits(pb::ListConflictsRequest {
                story: long(FILL),
                page_size: 0,
                page_token: String::new(),
            });
            client.list_conflicts(request).await.map(drop)
        }
        Rpc::BackupDesk => {
            // No field to fill: the work is the whole store, copied at the
            // pace the caller reads it.
            let mut pieces = client
                .backup_desk(pb::BackupDeskRequest {})
                .await?
                .into_inner();
            let mut backup = Vec::new();
            while let Some(piece) = pieces.message().await? {
                backup.extend_from_slice(&piece.data);
            }
            let summary = claimdesk::storage::backup::check(&backup[..]).expect("a whole backup");
            assert!(summary.claims >= 1, "{summary:?}");
            Ok(())
        }
    }
}

/// Checks that a refusal is bounded: its message, its details and the
/// number of field violations; returns the fields named.
#[track_caller]
fn bounded_refusal(rpc: Rpc, status: &Status) -> Vec<String> {
    assert!(
        status.message().len() <= MAX_MESSAGE_BYTES,
        "{rpc:?}: a message of {} bytes",
        status.message().len()
    );
    assert!(
        status.details().len() <= MAX_DETAILS_BYTES,
        "{rpc:?}: details of {} bytes",
        status.details().len()
    );
    let fields: Vec<String> = tonic_types::StatusExt::get_error_details(status)
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default();
    assert!(
        fields.len() <= FieldViolations::MAX_LISTED + 1,
        "{rpc:?}: {} field violations",
        fields.len()
    );
    fields
}

/// Sends the worst request of `rpc` and checks the answer.
async fn send_and_check(client: &mut Client, rpc: Rpc, claim: &str) {
    let result = send(client, rpc, claim).await;
    match (rpc.expect(), result) {
        (Expect::Invalid(fields), result) => {
            let status = result.as_ref().expect_err("refused").clone();
            assert_eq!(bounded_refusal(rpc, &status), fields, "{rpc:?}");
            expect_invalid_fields(result, fields);
        }
        (Expect::Refused(code, reason), result) => {
            let status = result.as_ref().expect_err("refused").clone();
            bounded_refusal(rpc, &status);
            expect_error(result, code, reason);
        }
        (Expect::Answered, result) => result.unwrap_or_else(|e| panic!("{rpc:?}: {e:?}")),
    }
}

#[test]
fn every_method_of_the_claim_service_has_a_worst_request() {
    let served: BTreeSet<String> = claimdesk::grpc::served_methods()
        .into_iter()
        .filter_map(|m| {
            m.path
                .strip_prefix("/claimdesk.v1.ClaimService/")
                .map(str::to_owned)
        })
        .collect();
    let covered: BTreeSet<String> = ALL.iter().map(|r| r.method().to_owned()).collect();
    assert_eq!(covered, served);
    assert_eq!(served.len(), 21);
}

#[tokio::test]
async fn the_worst_request_of_every_rpc_is_refused_briefly_while_others_are_served() {
    let server = TestServer::spawn().await;
    let mut bystander = server.client().await;
    let claim = submit(&mut bystander, "ed.harbour", harbour_claim()).await;
    let mut health = HealthClient::new(server.channel().await);

    let run = async {
        let mut hostile = tokio::task::JoinSet::new();
        for _ in 0..HOSTILE_CONNECTIONS {
            let mut client = server.client().await;
            let name = claim.name.clone();
            hostile.spawn(async move {
                for rpc in ALL {
                    send_and_check(&mut client, rpc, &name).await;
                }
            });
        }
        // The bystander, on its own connection, is answered all along.
        let mut rounds = 0;
        while rounds < BYSTANDER_ROUNDS || !hostile.is_empty() {
            assert_eq!(get(&mut bystander, &claim.name).await.name, claim.name);
            health
                .check(HealthCheckRequest::default())
                .await
                .expect("the health check is answered");
            rounds += 1;
            if let Some(done) = hostile.try_join_next() {
                done.expect("a hostile connection's checks pass");
            }
        }
        rounds
    };
    let rounds = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the hostile requests and the bystander finish");
    assert!(rounds >= BYSTANDER_ROUNDS);

    let stored = get(&mut bystander, &claim.name).await;
    assert_eq!(stored.state, i32::from(claim::State::Unverified));
}

#[tokio::test]
async fn violations_beyond_the_cap_are_summed_up_in_one() {
    let (_server, mut client) = TestServer::with_client().await;
    // Every field of the claim invalid, its lists full of invalid entries
    // but within their count limits: 46 violations.
    const FOUND: usize = 1 + 1 + 20 + 1 + 1 + 20 + 1 + 1;
    let request = pb::SubmitClaimRequest {
        claim: Some(Claim {
            statement: String::new(),
            attribution: Some(Attribution {
                source: String::new(),
                relayed_from: vec!["\u{7}".to_owned(); 20],
                url: "gopher://harbour".to_owned(),
            }),
            story: "Harbour Strike".to_owned(),
            tags: vec!["Not A Slug".to_owned(); 20],
            priority: 42,
            deadline: Some(prost_types::Timestamp {
                seconds: -1,
                nanos: 0,
            }),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let result = client.submit_claim(request).await;
    let status = result.as_ref().expect_err("refused").clone();
    let (_, details) = expect_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    let violations = &details
        .bad_request()
        .expect("a BadRequest")
        .field_violations;
    assert_eq!(violations.len(), FieldViolations::MAX_LISTED + 1);
    let listed = &violations[..FieldViolations::MAX_LISTED];
    assert!(listed.iter().all(|v| !v.field.is_empty()), "{listed:?}");
    let summary = violations.last().expect("a summary");
    assert_eq!(summary.field, "");
    assert_eq!(
        summary.description,
        format!(
            "{} more invalid fields were found and not listed",
            FOUND - FieldViolations::MAX_LISTED
        )
    );
    assert!(status.message().len() <= MAX_MESSAGE_BYTES);
}

#[tokio::test]
async fn the_log_records_only_the_beginning_of_what_a_client_made_up() {
    let dir = tempfile::tempdir().expect("a data directory");
    let process = ServeProcess::start(dir.path()).await;
    let channel = process.channel().await;
    let mut client = pb::claim_service_client::ClaimServiceClient::new(channel.clone());

    let name = format!("claims/{}", "x\n".repeat(FILL / 2));
    let result = client
        .get_claim(pb::GetClaimRequest { name: name.clone() })
        .await;
    expect_invalid_fields(result, &["name"]);
    let result = client
        .release_claim(pb::ReleaseClaimRequest {
            name,
            ..Default::default()
        })
        .await;
    expect_invalid_fields(result, &["name"]);

    // A method of its own making, as long as the headers allow.
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let path = format!("/claimdesk.v1.ClaimService/{}", "Z".repeat(8_000));
    let result = grpc
        .unary::<_, pb::Claim, _>(
            tonic::Request::new(pb::GetClaimRequest::default()),
            path.parse().expect("a path"),
            tonic_prost::ProstCodec::default(),
        )
        .await;
    let (status, _) = expect_error(result, Code::PermissionDenied, "NO_POLICY");
    assert!(status.message().len() < 256, "{}", status.message());

    process.wait_for_lines("\"message\":\"done\"", 2).await;
    process.wait_for_lines("has no access policy", 1).await;
    let lines = process.text();
    for line in lines.lines() {
        assert!(line.len() < 1024, "a log line of {} bytes", line.len());
    }
    let claims: Vec<String> = process
        .json_lines()
        .iter()
        .filter(|v| v["fields"]["message"] == "done")
        .map(|v| {
            v["span"]["claim"]
                .as_str()
                .expect("a claim field")
                .to_owned()
        })
        .collect();
    assert_eq!(claims.len(), 2, "{lines}");
    for claim in claims {
        assert!(claim.starts_with("\"claims/x\\nx\\n"), "quoted: {claim}");
        assert!(claim.ends_with("…\""), "cut: {claim}");
    }
}
