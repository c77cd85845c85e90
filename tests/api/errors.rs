//! Every expected error: its code, its `ErrorInfo` reason (domain
//! `claimdesk.v1`), its metadata and, for invalid input, the fields named in
//! its `BadRequest`. A refused change leaves the claim as it was.

use claimdesk::pb::{
    self, Attribution, Claim, ListClaimEventsRequest, ListClaimsRequest, claim, evidence,
};
use tokio::task::JoinSet;
use tonic::{Code, Request, metadata::MetadataValue};

use crate::helpers::*;

/// Fails the test if anything but the etag-relevant content of the claim
/// changed: the claim is read back and compared whole.
async fn assert_unchanged(client: &mut Client, before: &Claim) {
    assert_eq!(
        &get(client, &before.name).await,
        before,
        "the claim is unchanged"
    );
}

// ---------------------------------------------------------------------------
// INVALID_ARGUMENT

#[tokio::test]
async fn a_claim_without_statement_source_or_story_names_each_missing_field() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;

    let result = client
        .submit_claim(submit_request(
            "maria",
            Claim {
                statement: "   ".to_owned(),
                attribution: Some(Attribution::default()),
                story: String::new(),
                ..Default::default()
            },
        ))
        .await;

    expect_invalid_fields(
        result,
        &["claim.statement", "claim.attribution.source", "claim.story"],
    );
    assert!(
        list_all(&mut client, ListClaimsRequest::default())
            .await
            .is_empty(),
        "nothing was stored"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_submission_needs_a_claim_and_an_attribution() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;

    let no_claim = client
        .submit_claim(as_user(pb::SubmitClaimRequest::default(), "maria"))
        .await;
    expect_invalid_fields(no_claim, &["claim"]);

    let no_attribution = client
        .submit_claim(submit_request(
            "maria",
            Claim {
                attribution: None,
                ..harbour_claim()
            },
        ))
        .await;
    expect_invalid_fields(no_attribution, &["claim.attribution"]);

    server.stop().await;
}

#[tokio::test]
async fn bad_tags_are_named_by_their_position() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;

    let result = client
        .submit_claim(submit_request(
            "maria",
            Claim {
                tags: vec![
                    "Labour".to_owned(),
                    "ports".to_owned(),
                    "dock strike".to_owned(),
                    String::new(),
                ],
                ..harbour_claim()
            },
        ))
        .await;
    expect_invalid_fields(result, &["claim.tags[0]", "claim.tags[2]", "claim.tags[3]"]);

    let too_many = client
        .submit_claim(submit_request(
            "maria",
            Claim {
                tags: (0..21).map(|i| format!("tag-{i}")).collect(),
                ..harbour_claim()
            },
        ))
        .await;
    expect_invalid_fields(too_many, &["claim.tags"]);

    server.stop().await;
}

#[tokio::test]
async fn bad_story_statement_relay_url_priority_and_deadline_are_each_named() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;

    let cases: Vec<(Claim, &str)> = vec![
        (
            Claim {
                story: "Harbour Strike".to_owned(),
                ..harbour_claim()
            },
            "claim.story",
        ),
        (
            Claim {
                story: "h".repeat(65),
                ..harbour_claim()
            },
            "claim.story",
        ),
        (
            Claim {
                statement: "x".repeat(2_001),
                ..harbour_claim()
            },
            "claim.statement",
        ),
        (
            Claim {
                statement: "About 9,000\u{7}dock workers".to_owned(),
                ..harbour_claim()
            },
            "claim.statement",
        ),
        (
            Claim {
                attribution: Some(Attribution {
                    source: "s".repeat(201),
                    ..harbour_claim().attribution.unwrap()
                }),
                ..harbour_claim()
            },
            "claim.attribution.source",
        ),
        (
            Claim {
                attribution: Some(Attribution {
                    relayed_from: vec![HARBOUR_RELAY.to_owned(), "  ".to_owned()],
                    ..harbour_claim().attribution.unwrap()
                }),
                ..harbour_claim()
            },
            "claim.attribution.relayed_from[1]",
        ),
        (
            Claim {
                attribution: Some(Attribution {
                    relayed_from: (0..21).map(|i| format!("dock steward {i}")).collect(),
                    ..harbour_claim().attribution.unwrap()
                }),
                ..harbour_claim()
            },
            "claim.attribution.relayed_from",
        ),
        (
            Claim {
                attribution: Some(Attribution {
                    url: "ftp://harbour-gazette.example/strike".to_owned(),
                    ..harbour_claim().attribution.unwrap()
                }),
                ..harbour_claim()
            },
            "claim.attribution.url",
        ),
        (
            Claim {
                priority: 42,
                ..harbour_claim()
            },
            "claim.priority",
        ),
        (
            Claim {
                deadline: Some(prost_types::Timestamp {
                    seconds: -86_400,
                    nanos: 0,
                }),
                ..harbour_claim()
            },
            "claim.deadline",
        ),
    ];
    for (claim, field) in cases {
        let result = client.submit_claim(submit_request("maria", claim)).await;
        expect_invalid_fields(result, &[field]);
    }
    assert!(
        list_all(&mut client, ListClaimsRequest::default())
            .await
            .is_empty()
    );

    server.stop().await;
}

#[tokio::test]
async fn evidence_must_take_a_stance_and_name_its_source_and_content() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let claim = submit(&mut client, "maria", harbour_claim()).await;

    let cases: Vec<(Option<pb::Evidence>, Vec<&str>)> = vec![
        (None, vec!["evidence"]),
        (
            Some(evidence(
                "Port Authority",
                evidence::Stance::Unspecified,
                "Gate logs",
            )),
            vec!["evidence.stance"],
        ),
        (
            Some(pb::Evidence {
                stance: 9,
                ..evidence("Port Authority", evidence::Stance::Supports, "Gate logs")
            }),
            vec!["evidence.stance"],
        ),
        (
            Some(evidence(" ", evidence::Stance::Supports, "Gate logs")),
            vec!["evidence.source"],
        ),
        (
            Some(evidence("Port Authority", evidence::Stance::Supports, "")),
            vec!["evidence.url"],
        ),
        (
            Some(pb::Evidence {
                url: "not a link".to_owned(),
                ..evidence("Port Authority", evidence::Stance::Supports, "Gate logs")
            }),
            vec!["evidence.url"],
        ),
        (
            Some(evidence(
                "Port Authority",
                evidence::Stance::Supports,
                &"g".repeat(4_001),
            )),
            vec!["evidence.summary"],
        ),
        (
            Some(pb::Evidence::default()),
            vec!["evidence.url", "evidence.source", "evidence.stance"],
        ),
    ];
    for (e, fields) in cases {
        let result = client
            .add_evidence(as_user(
                pb::AddEvidenceRequest {
                    name: claim.name.clone(),
                    evidence: e,
                    etag: String::new(),
                },
                "tomas",
            ))
            .await;
        expect_invalid_fields(result, &fields);
    }
    assert_unchanged(&mut client, &claim).await;

    server.stop().await;
}

#[tokio::test]
async fn a_malformed_claim_name_is_invalid_for_reads_and_changes() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let claim = submit(&mut client, "maria", harbour_claim()).await;
    let id = claim_id(&claim.name).to_owned();

    for name in [
        String::new(),
        "claims/".to_owned(),
        "claims/not-a-claim-id".to_owned(),
        format!("stories/{id}"),
        id.clone(),
        format!("claims/{id}/events"),
    ] {
        let result = client
            .get_claim(pb::GetClaimRequest { name: name.clone() })
            .await;
        expect_invalid_fields(result, &["name"]);

        let result = client
            .start_review(as_user(
                pb::StartReviewRequest {
                    name: name.clone(),
                    etag: String::new(),
                },
                "tomas",
            ))
            .await;
        expect_invalid_fields(result, &["name"]);

        let result = client
            .list_claim_events(ListClaimEventsRequest {
                name: name.clone(),
                ..Default::default()
            })
            .await;
        expect_invalid_fields(result, &["name"]);
    }
    assert_unchanged(&mut client, &claim).await;

    server.stop().await;
}

#[tokio::test]
async fn a_negative_page_size_is_invalid() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let claim = submit(&mut client, "maria", harbour_claim()).await;

    let result = client
        .list_claims(ListClaimsRequest {
            page_size: -1,
            ..Default::default()
        })
        .await;
    expect_invalid_fields(result, &["page_size"]);

    let result = client
        .list_claim_events(ListClaimEventsRequest {
            name: claim.name.clone(),
            page_size: -5,
            page_token: String::new(),
        })
        .await;
    expect_invalid_fields(result, &["page_size"]);

    server.stop().await;
}

#[tokio::test]
async fn a_page_token_the_server_did_not_issue_is_invalid() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let claim = submit(&mut client, "maria", harbour_claim()).await;

    for token in [
        "not a token!",
        "AAAA",
        "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRo",
    ] {
        let result = client
            .list_claims(ListClaimsRequest {
                page_token: token.to_owned(),
                ..Default::default()
            })
            .await;
        expect_invalid_fields(result, &["page_token"]);

        let result = client
            .list_claim_events(ListClaimEventsRequest {
                name: claim.name.clone(),
                page_size: 0,
                page_token: token.to_owned(),
            })
            .await;
        expect_invalid_fields(result, &["page_token"]);
    }

    server.stop().await;
}

#[tokio::test]
async fn a_page_token_cannot_be_reused_with_other_filters() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    for n in 0..3 {
        submit(
            &mut client,
            "maria",
            numbered_claim(HARBOUR_STORY, "Kestrel Radio", n),
        )
        .await;
    }
    let harbour = ListClaimsRequest {
        story: HARBOUR_STORY.to_owned(),
        page_size: 1,
        ..Default::default()
    };
    let token = client
        .list_claims(harbour.clone())
        .await
        .expect("ListClaims succeeds")
        .into_inner()
        .next_page_token;
    assert!(!token.is_empty());

    let other_filters = [
        ListClaimsRequest {
            story: BORDER_STORY.to_owned(),
            ..harbour.clone()
        },
        ListClaimsRequest {
            story: String::new(),
            ..harbour.clone()
        },
        ListClaimsRequest {
            state: claim::State::Unverified.into(),
            ..harbour.clone()
        },
        ListClaimsRequest {
            source: "Kestrel Radio".to_owned(),
            ..harbour.clone()
        },
        ListClaimsRequest {
            assignee: "tomas".to_owned(),
            ..harbour.clone()
        },
    ];
    for request in other_filters {
        let result = client
            .list_claims(ListClaimsRequest {
                page_token: token.clone(),
                ..request
            })
            .await;
        expect_invalid_fields(result, &["page_token"]);
    }

    // Nor can a claims token page through a history, or one claim's
    // history token through another's.
    let first = submit(&mut client, "maria", harbour_claim()).await.name;
    let second = submit(&mut client, "maria", harbour_claim()).await.name;
    start_review(&mut client, "tomas", &first).await;
    let events_token = client
        .list_claim_events(ListClaimEventsRequest {
            name: first.clone(),
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .expect("ListClaimEvents succeeds")
        .into_inner()
        .next_page_token;
    assert!(!events_token.is_empty());
    for (name, token) in [(&second, &events_token), (&first, &token)] {
        let result = client
            .list_claim_events(ListClaimEventsRequest {
                name: name.clone(),
                page_size: 1,
                page_token: token.clone(),
            })
            .await;
        expect_invalid_fields(result, &["page_token"]);
    }
    let result = client
        .list_claims(ListClaimsRequest {
            page_token: events_token,
            ..Default::default()
        })
        .await;
    expect_invalid_fields(result, &["page_token"]);

    server.stop().await;
}

#[tokio::test]
async fn bad_list_filters_are_invalid() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;

    let result = client
        .list_claims(ListClaimsRequest {
            story: "Harbour Strike".to_owned(),
            ..Default::default()
        })
        .await;
    expect_invalid_fields(result, &["story"]);

    let result = client
        .list_claims(ListClaimsRequest {
            state: 99,
            ..Default::default()
        })
        .await;
    expect_invalid_fields(result, &["state"]);

    server.stop().await;
}

#[tokio::test]
async fn reopening_and_withdrawing_need_a_reason() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let submitted = submit(&mut client, "maria", harbour_claim()).await;
    start_review(&mut client, "tomas", &submitted.name).await;
    let inconclusive = client
        .mark_claim_inconclusive(as_user(
            pb::MarkClaimInconclusiveRequest {
                name: submitted.name.clone(),
                ..Default::default()
            },
            "tomas",
        ))
        .await
        .expect("MarkClaimInconclusive succeeds")
        .into_inner();

    for reason in ["", "  \n "] {
        let result = client
            .reopen_claim(as_user(
                pb::ReopenClaimRequest {
                    name: inconclusive.name.clone(),
                    reason: reason.to_owned(),
                    etag: String::new(),
                },
                "desk-editor",
            ))
            .await;
        expect_invalid_fields(result, &["reason"]);

        let result = client
            .withdraw_claim(as_user(
                pb::WithdrawClaimRequest {
                    name: inconclusive.name.clone(),
                    reason: reason.to_owned(),
                    etag: String::new(),
                },
                "desk-editor",
            ))
            .await;
        expect_invalid_fields(result, &["reason"]);
    }
    assert_unchanged(&mut client, &inconclusive).await;

    server.stop().await;
}

#[tokio::test]
async fn notes_longer_than_4000_characters_are_invalid() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let submitted = submit(&mut client, "maria", harbour_claim()).await;
    let in_review = start_review(&mut client, "tomas", &submitted.name).await;
    let long = "n".repeat(4_001);

    let result = client
        .release_claim(as_user(
            pb::ReleaseClaimRequest {
                name: in_review.name.clone(),
                etag: String::new(),
                note: long.clone(),
            },
            "tomas",
        ))
        .await;
    expect_invalid_fields(result, &["note"]);
    let result = client
        .mark_claim_inconclusive(as_user(
            pb::MarkClaimInconclusiveRequest {
                name: in_review.name.clone(),
                note: long.clone(),
                etag: String::new(),
            },
            "tomas",
        ))
        .await;
    expect_invalid_fields(result, &["note"]);
    let result = client
        .withdraw_claim(as_user(
            pb::WithdrawClaimRequest {
                name: in_review.name.clone(),
                reason: long.clone(),
                etag: String::new(),
            },
            "tomas",
        ))
        .await;
    expect_invalid_fields(result, &["reason"]);
    assert_unchanged(&mut client, &in_review).await;

    server.stop().await;
}

#[tokio::test]
async fn the_reserved_or_an_empty_user_name_cannot_act() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let claim = submit(&mut client, "maria", harbour_claim()).await;

    for user in ["system", "SYSTEM", " System ", "", "   "] {
        let result = client
            .submit_claim(as_user(
                pb::SubmitClaimRequest {
                    claim: Some(harbour_claim()),
                    request_id: String::new(),
                },
                user,
            ))
            .await;
        expect_invalid_fields(result, &["x-claimdesk-user"]);

        let result = client
            .start_review(as_user(
                pb::StartReviewRequest {
                    name: claim.name.clone(),
                    etag: String::new(),
                },
                user,
            ))
            .await;
        expect_invalid_fields(result, &["x-claimdesk-user"]);
    }

    // A name that is not printable ASCII cannot be read.
    let mut request = Request::new(pb::StartReviewRequest {
        name: claim.name.clone(),
        etag: String::new(),
    });
    request.metadata_mut().insert(
        "x-claimdesk-user",
        MetadataValue::try_from("Mar\u{ed}a".as_bytes()).expect("opaque header bytes"),
    );
    expect_invalid_fields(client.start_review(request).await, &["x-claimdesk-user"]);

    assert_unchanged(&mut client, &claim).await;
    assert_eq!(
        list_all(&mut client, ListClaimsRequest::default())
            .await
            .len(),
        1
    );

    server.stop().await;
}

#[tokio::test]
async fn a_request_id_with_white_space_or_over_128_characters_is_invalid() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;

    for request_id in ["harbour strike 1".to_owned(), "r".repeat(129)] {
        let result = client
            .submit_claim(as_user(
                pb::SubmitClaimRequest {
                    claim: Some(harbour_claim()),
                    request_id,
                },
                "maria",
            ))
            .await;
        expect_invalid_fields(result, &["request_id"]);
    }
    assert!(
        list_all(&mut client, ListClaimsRequest::default())
            .await
            .is_empty()
    );

    server.stop().await;
}

// ---------------------------------------------------------------------------
// NOT_FOUND

#[tokio::test]
async fn an_unknown_claim_is_not_found_for_reads_changes_and_history() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    // Another claim exists; the unknown one is still unknown.
    submit(&mut client, "maria", harbour_claim()).await;

    let check = |result: Result<_, tonic::Status>| {
        let (status, details) = expect_error(result, Code::NotFound, "CLAIM_NOT_FOUND");
        assert_eq!(
            error_metadata(&details, "name").as_deref(),
            Some(UNKNOWN_CLAIM)
        );
        assert!(status.message().contains(UNKNOWN_CLAIM), "{status:?}");
    };
    let name = UNKNOWN_CLAIM.to_owned();

    check(
        client
            .get_claim(pb::GetClaimRequest { name: name.clone() })
            .await
            .map(|r| r.into_inner()),
    );
    check(
        client
            .start_review(as_user(
                pb::StartReviewRequest {
                    name: name.clone(),
                    etag: String::new(),
                },
                "tomas",
            ))
            .await
            .map(|r| r.into_inner()),
    );
    check(
        client
            .add_evidence(as_user(
                pb::AddEvidenceRequest {
                    name: name.clone(),
                    evidence: Some(evidence(
                        "Port Authority",
                        evidence::Stance::Supports,
                        "Gate logs",
                    )),
                    etag: String::new(),
                },
                "tomas",
            ))
            .await
            .map(|r| r.into_inner()),
    );
    check(
        client
            .withdraw_claim(as_user(
                pb::WithdrawClaimRequest {
                    name: name.clone(),
                    reason: "Cut".to_owned(),
                    etag: String::new(),
                },
                "desk-editor",
            ))
            .await
            .map(|r| r.into_inner()),
    );
    let result = client
        .list_claim_events(ListClaimEventsRequest {
            name: name.clone(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner());
    let (_, details) = expect_error(result, Code::NotFound, "CLAIM_NOT_FOUND");
    assert_eq!(
        error_metadata(&details, "name").as_deref(),
        Some(UNKNOWN_CLAIM)
    );

    server.stop().await;
}

// ---------------------------------------------------------------------------
// FAILED_PRECONDITION

/// Checks a refusal for the claim's state, which the metadata names.
#[track_caller]
fn expect_invalid_transition<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    state: &str,
    action: &str,
) {
    let (status, details) = expect_error(result, Code::FailedPrecondition, "INVALID_TRANSITION");
    assert_eq!(
        error_metadata(&details, "state").as_deref(),
        Some(state),
        "{status:?}"
    );
    assert_eq!(
        error_metadata(&details, "action").as_deref(),
        Some(action),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_change_the_current_state_does_not_allow_names_that_state() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let unverified = submit(&mut client, "maria", harbour_claim()).await;
    let name = unverified.name.clone();

    // Unverified: no ruling, no release, no reopening.
    let result = client
        .verify_claim(as_user(
            pb::VerifyClaimRequest {
                name: name.clone(),
                ..Default::default()
            },
            "tomas",
        ))
        .await;
    expect_invalid_transition(result, "STATE_UNVERIFIED", "verify");
    let result = client
        .dispute_claim(as_user(
            pb::DisputeClaimRequest {
                name: name.clone(),
                ..Default::default()
            },
            "tomas",
        ))
        .await;
    expect_invalid_transition(result, "STATE_UNVERIFIED", "dispute");
    let result = client
        .mark_claim_inconclusive(as_user(
            pb::MarkClaimInconclusiveRequest {
                name: name.clone(),
                ..Default::default()
            },
            "tomas",
        ))
        .await;
    expect_invalid_transition(result, "STATE_UNVERIFIED", "mark inconclusive");
    let result = client
        .release_claim(as_user(
            pb::ReleaseClaimRequest {
                name: name.clone(),
                ..Default::default()
            },
            "tomas",
        ))
        .await;
    expect_invalid_transition(result, "STATE_UNVERIFIED", "release");
    let result = client
        .reopen_claim(as_user(
            pb::ReopenClaimRequest {
                name: name.clone(),
                reason: "Second look".to_owned(),
                etag: String::new(),
            },
            "tomas",
        ))
        .await;
    expect_invalid_transition(result, "STATE_UNVERIFIED", "reopen");
    assert_unchanged(&mut client, &unverified).await;

    // In review: not taken twice.
    let in_review = start_review(&mut client, "tomas", &name).await;
    let result = client
        .start_review(as_user(
            pb::StartReviewRequest {
                name: name.clone(),
                etag: String::new(),
            },
            "ana",
        ))
        .await;
    expect_invalid_transition(result, "STATE_IN_REVIEW", "start review");
    assert_unchanged(&mut client, &in_review).await;

    // Verified: no new evidence, no new review.
    add_evidence(
        &mut client,
        "tomas",
        &name,
        evidence("Port Authority", evidence::Stance::Supports, "Gate logs"),
    )
    .await;
    let verified = verify(&mut client, "tomas", &name, "").await;
    let result = client
        .add_evidence(as_user(
            pb::AddEvidenceRequest {
                name: name.clone(),
                evidence: Some(evidence(
                    "Port Authority",
                    evidence::Stance::Refutes,
                    "Revised logs",
                )),
                etag: String::new(),
            },
            "ana",
        ))
        .await;
    expect_invalid_transition(result, "STATE_VERIFIED", "add evidence");
    let result = client
        .start_review(as_user(
            pb::StartReviewRequest {
                name: name.clone(),
                etag: String::new(),
            },
            "ana",
        ))
        .await;
    expect_invalid_transition(result, "STATE_VERIFIED", "start review");
    let result = client
        .verify_claim(as_user(
            pb::VerifyClaimRequest {
                name: name.clone(),
                ..Default::default()
            },
            "tomas",
        ))
        .await;
    expect_invalid_transition(result, "STATE_VERIFIED", "verify");
    assert_unchanged(&mut client, &verified).await;

    // Withdrawn: nothing more happens to it.
    let withdrawn = withdraw(&mut client, "desk-editor", &name, "Cut").await;
    let result = client
        .withdraw_claim(as_user(
            pb::WithdrawClaimRequest {
                name: name.clone(),
                reason: "Cut again".to_owned(),
                etag: String::new(),
            },
            "desk-editor",
        ))
        .await;
    expect_invalid_transition(result, "STATE_WITHDRAWN", "withdraw");
    let result = client
        .reopen_claim(as_user(
            pb::ReopenClaimRequest {
                name: name.clone(),
                reason: "Back in".to_owned(),
                etag: String::new(),
            },
            "desk-editor",
        ))
        .await;
    expect_invalid_transition(result, "STATE_WITHDRAWN", "reopen");
    let result = client
        .start_review(as_user(
            pb::StartReviewRequest {
                name: name.clone(),
                etag: String::new(),
            },
            "tomas",
        ))
        .await;
    expect_invalid_transition(result, "STATE_WITHDRAWN", "start review");
    assert_unchanged(&mut client, &withdrawn).await;

    server.stop().await;
}

#[tokio::test]
async fn only_the_assignee_may_rule_on_a_claim() {
    // Releasing another's claim is a chief's right, and in open mode every
    // caller acts as a chief: the access tests cover who may release.
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let submitted = submit(&mut client, "maria", harbour_claim()).await;
    let name = submitted.name.clone();
    start_review(&mut client, "tomas", &name).await;
    add_evidence(
        &mut client,
        "tomas",
        &name,
        evidence("Port Authority", evidence::Stance::Supports, "Gate logs"),
    )
    .await;
    let ready = add_evidence(
        &mut client,
        "tomas",
        &name,
        evidence("Port Authority", evidence::Stance::Refutes, "Night shift"),
    )
    .await;

    let check = |result: Result<pb::Claim, tonic::Status>| {
        let (status, details) = expect_error(result, Code::FailedPrecondition, "NOT_ASSIGNEE");
        assert_eq!(
            error_metadata(&details, "assignee").as_deref(),
            Some("tomas"),
            "{status:?}"
        );
    };
    for user in ["ana", "maria", "Tomas"] {
        check(
            client
                .verify_claim(as_user(
                    pb::VerifyClaimRequest {
                        name: name.clone(),
                        ..Default::default()
                    },
                    user,
                ))
                .await
                .map(|r| r.into_inner()),
        );
        check(
            client
                .dispute_claim(as_user(
                    pb::DisputeClaimRequest {
                        name: name.clone(),
                        ..Default::default()
                    },
                    user,
                ))
                .await
                .map(|r| r.into_inner()),
        );
        check(
            client
                .mark_claim_inconclusive(as_user(
                    pb::MarkClaimInconclusiveRequest {
                        name: name.clone(),
                        ..Default::default()
                    },
                    user,
                ))
                .await
                .map(|r| r.into_inner()),
        );
    }
    // Anonymous callers are not the assignee either.
    check(
        client
            .verify_claim(pb::VerifyClaimRequest {
                name: name.clone(),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner()),
    );
    assert_unchanged(&mut client, &ready).await;

    // The assignee may.
    let verified = verify(&mut client, "tomas", &name, "").await;
    assert_eq!(verified.state(), claim::State::Verified);

    server.stop().await;
}

/// A harbour claim in review by tomas with `evidence` attached.
async fn reviewed_with(client: &mut Client, evidence: Vec<pb::Evidence>) -> Claim {
    let submitted = submit(client, "maria", harbour_claim()).await;
    let mut claim = start_review(client, "tomas", &submitted.name).await;
    for e in evidence {
        claim = add_evidence(client, "tomas", &submitted.name, e).await;
    }
    claim
}

#[tokio::test]
async fn support_from_the_claims_own_source_does_not_verify_it() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let claim = reviewed_with(
        &mut client,
        vec![
            evidence(
                HARBOUR_SOURCE,
                evidence::Stance::Supports,
                "Our reporter saw it",
            ),
            evidence(
                "  harbour   GAZETTE ",
                evidence::Stance::Supports,
                "Our editor confirms",
            ),
        ],
    )
    .await;

    expect_error(
        verify_result(&mut client, &claim.name).await,
        Code::FailedPrecondition,
        "NO_INDEPENDENT_EVIDENCE",
    );
    assert_unchanged(&mut client, &claim).await;
    server.stop().await;
}

#[tokio::test]
async fn support_from_whoever_relayed_the_claim_does_not_verify_it() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let claim = reviewed_with(
        &mut client,
        vec![evidence(
            "Union Officials",
            evidence::Stance::Supports,
            "The union repeats its figure",
        )],
    )
    .await;

    expect_error(
        verify_result(&mut client, &claim.name).await,
        Code::FailedPrecondition,
        "NO_INDEPENDENT_EVIDENCE",
    );
    assert_unchanged(&mut client, &claim).await;
    server.stop().await;
}

#[tokio::test]
async fn only_supporting_evidence_from_an_independent_source_verifies_a_claim() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let claim = reviewed_with(
        &mut client,
        vec![
            evidence(
                "Port Authority",
                evidence::Stance::Refutes,
                "Gate logs differ",
            ),
            evidence("Port Authority", evidence::Stance::Context, "Shift pattern"),
        ],
    )
    .await;

    expect_error(
        verify_result(&mut client, &claim.name).await,
        Code::FailedPrecondition,
        "NO_INDEPENDENT_EVIDENCE",
    );
    assert_unchanged(&mut client, &claim).await;

    add_evidence(
        &mut client,
        "tomas",
        &claim.name,
        evidence(
            "Shipping agents' association",
            evidence::Stance::Supports,
            "Roster",
        ),
    )
    .await;
    let verified = verify_result(&mut client, &claim.name)
        .await
        .expect("independent support verifies the claim");
    assert_eq!(verified.state(), claim::State::Verified);
    server.stop().await;
}

#[tokio::test]
async fn disputing_needs_refuting_evidence() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let claim = reviewed_with(
        &mut client,
        vec![
            evidence(
                "Port Authority",
                evidence::Stance::Supports,
                "Gate logs agree",
            ),
            evidence("Port Authority", evidence::Stance::Context, "Shift pattern"),
        ],
    )
    .await;

    let result = client
        .dispute_claim(as_user(
            pb::DisputeClaimRequest {
                name: claim.name.clone(),
                note: "Feels high".to_owned(),
                etag: String::new(),
            },
            "tomas",
        ))
        .await;

    expect_error(result, Code::FailedPrecondition, "NO_REFUTING_EVIDENCE");
    assert_unchanged(&mut client, &claim).await;
    server.stop().await;
}

#[tokio::test]
async fn the_state_is_checked_before_the_assignee_and_the_assignee_before_the_evidence() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let submitted = submit(&mut client, "maria", harbour_claim()).await;

    // Unverified, wrong user, no evidence: the state is named.
    let result = client
        .verify_claim(as_user(
            pb::VerifyClaimRequest {
                name: submitted.name.clone(),
                ..Default::default()
            },
            "ana",
        ))
        .await;
    expect_invalid_transition(result, "STATE_UNVERIFIED", "verify");

    // In review, wrong user, no evidence: the assignee is named.
    start_review(&mut client, "tomas", &submitted.name).await;
    let result = client
        .verify_claim(as_user(
            pb::VerifyClaimRequest {
                name: submitted.name.clone(),
                ..Default::default()
            },
            "ana",
        ))
        .await;
    expect_error(result, Code::FailedPrecondition, "NOT_ASSIGNEE");

    server.stop().await;
}

// ---------------------------------------------------------------------------
// ABORTED

#[tokio::test]
async fn a_change_with_a_stale_etag_is_aborted() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let submitted = submit(&mut client, "maria", harbour_claim()).await;
    let in_review = start_review(&mut client, "tomas", &submitted.name).await;

    let stale = submitted.etag.clone();
    let results = vec![
        client
            .release_claim(as_user(
                pb::ReleaseClaimRequest {
                    name: submitted.name.clone(),
                    etag: stale.clone(),
                    note: String::new(),
                },
                "tomas",
            ))
            .await
            .map(|r| r.into_inner()),
        client
            .add_evidence(as_user(
                pb::AddEvidenceRequest {
                    name: submitted.name.clone(),
                    evidence: Some(evidence(
                        "Port Authority",
                        evidence::Stance::Supports,
                        "Gate logs",
                    )),
                    etag: stale.clone(),
                },
                "tomas",
            ))
            .await
            .map(|r| r.into_inner()),
        client
            .withdraw_claim(as_user(
                pb::WithdrawClaimRequest {
                    name: submitted.name.clone(),
                    reason: "Cut".to_owned(),
                    etag: stale.clone(),
                },
                "desk-editor",
            ))
            .await
            .map(|r| r.into_inner()),
        client
            .mark_claim_inconclusive(as_user(
                pb::MarkClaimInconclusiveRequest {
                    name: submitted.name.clone(),
                    note: String::new(),
                    etag: "not-an-etag-at-all".to_owned(),
                },
                "tomas",
            ))
            .await
            .map(|r| r.into_inner()),
    ];
    for result in results {
        let (_, details) = expect_error(result, Code::Aborted, "ETAG_MISMATCH");
        assert_eq!(
            error_metadata(&details, "etag").as_deref(),
            Some(in_review.etag.as_str()),
            "the metadata gives the current etag"
        );
    }
    assert_unchanged(&mut client, &in_review).await;

    server.stop().await;
}

async fn start_review_if(client: &mut Client, name: &str, etag: &str) -> pb::Claim {
    client
        .start_review(as_user(
            pb::StartReviewRequest {
                name: name.to_owned(),
                etag: etag.to_owned(),
            },
            "tomas",
        ))
        .await
        .expect("StartReview with the current etag succeeds")
        .into_inner()
}

async fn add_evidence_if(
    client: &mut Client,
    name: &str,
    stance: evidence::Stance,
    etag: &str,
) -> pb::Claim {
    client
        .add_evidence(as_user(
            pb::AddEvidenceRequest {
                name: name.to_owned(),
                evidence: Some(evidence("Port Authority", stance, "Gate logs")),
                etag: etag.to_owned(),
            },
            "tomas",
        ))
        .await
        .expect("AddEvidence with the current etag succeeds")
        .into_inner()
}

async fn reopen_if(client: &mut Client, name: &str, etag: &str) -> pb::Claim {
    client
        .reopen_claim(as_user(
            pb::ReopenClaimRequest {
                name: name.to_owned(),
                reason: "Recheck".to_owned(),
                etag: etag.to_owned(),
            },
            "desk-editor",
        ))
        .await
        .expect("ReopenClaim with the current etag succeeds")
        .into_inner()
}

#[tokio::test]
async fn the_current_etag_lets_every_kind_of_change_through() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let submitted = submit(&mut client, "maria", harbour_claim()).await;
    let name = submitted.name.clone();

    let claim = start_review_if(&mut client, &name, &submitted.etag).await;
    let claim = client
        .release_claim(as_user(
            pb::ReleaseClaimRequest {
                name: name.clone(),
                etag: claim.etag.clone(),
                note: String::new(),
            },
            "tomas",
        ))
        .await
        .expect("ReleaseClaim with the current etag succeeds")
        .into_inner();
    let claim = add_evidence_if(&mut client, &name, evidence::Stance::Supports, &claim.etag).await;
    let claim = start_review_if(&mut client, &name, &claim.etag).await;
    let claim = client
        .verify_claim(as_user(
            pb::VerifyClaimRequest {
                name: name.clone(),
                note: String::new(),
                etag: claim.etag.clone(),
            },
            "tomas",
        ))
        .await
        .expect("VerifyClaim with the current etag succeeds")
        .into_inner();
    assert_eq!(claim.state(), claim::State::Verified);
    let claim = reopen_if(&mut client, &name, &claim.etag).await;
    let claim = start_review_if(&mut client, &name, &claim.etag).await;
    let claim = add_evidence_if(&mut client, &name, evidence::Stance::Refutes, &claim.etag).await;
    let claim = client
        .dispute_claim(as_user(
            pb::DisputeClaimRequest {
                name: name.clone(),
                note: String::new(),
                etag: claim.etag.clone(),
            },
            "tomas",
        ))
        .await
        .expect("DisputeClaim with the current etag succeeds")
        .into_inner();
    assert_eq!(claim.state(), claim::State::Disputed);
    let claim = reopen_if(&mut client, &name, &claim.etag).await;
    let claim = start_review_if(&mut client, &name, &claim.etag).await;
    let claim = client
        .mark_claim_inconclusive(as_user(
            pb::MarkClaimInconclusiveRequest {
                name: name.clone(),
                note: String::new(),
                etag: claim.etag.clone(),
            },
            "tomas",
        ))
        .await
        .expect("MarkClaimInconclusive with the current etag succeeds")
        .into_inner();
    assert_eq!(claim.state(), claim::State::Inconclusive);
    let claim = client
        .withdraw_claim(as_user(
            pb::WithdrawClaimRequest {
                name: name.clone(),
                reason: "Cut".to_owned(),
                etag: claim.etag.clone(),
            },
            "desk-editor",
        ))
        .await
        .expect("WithdrawClaim with the current etag succeeds")
        .into_inner();
    assert_eq!(claim.state(), claim::State::Withdrawn);

    server.stop().await;
}

#[tokio::test]
async fn an_empty_etag_makes_a_change_unconditional() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let submitted = submit(&mut client, "maria", harbour_claim()).await;
    // Somebody else changes the claim in between.
    add_evidence(
        &mut client,
        "ana",
        &submitted.name,
        evidence("Port Authority", evidence::Stance::Context, "Shift pattern"),
    )
    .await;

    let claim = client
        .start_review(as_user(
            pb::StartReviewRequest {
                name: submitted.name.clone(),
                etag: String::new(),
            },
            "tomas",
        ))
        .await
        .expect("a change without etag succeeds")
        .into_inner();

    assert_eq!(claim.state(), claim::State::InReview);
    server.stop().await;
}

#[tokio::test]
async fn concurrent_changes_with_the_same_etag_let_exactly_one_through() {
    let server = TestServer::spawn().await;
    let client = server.client().await;
    let submitted = submit(&mut client.clone(), "maria", harbour_claim()).await;

    let checkers = ["ana", "li", "tomas", "noor", "petra", "sami", "ivo", "jun"];
    let mut tasks = JoinSet::new();
    for checker in checkers {
        let mut client = client.clone();
        let request = pb::StartReviewRequest {
            name: submitted.name.clone(),
            etag: submitted.etag.clone(),
        };
        tasks.spawn(async move {
            (
                checker,
                client
                    .start_review(as_user(request, checker))
                    .await
                    .map(|r| r.into_inner()),
            )
        });
    }
    let results = tasks.join_all().await;

    let winners: Vec<_> = results
        .iter()
        .filter_map(|(checker, r)| r.as_ref().ok().map(|c| (*checker, c.clone())))
        .collect();
    assert_eq!(winners.len(), 1, "exactly one checker takes the claim");
    let (winner, claim) = &winners[0];
    assert_eq!(claim.assignee, *winner);
    for (_, result) in results.into_iter().filter(|(c, _)| c != winner) {
        expect_error(result, Code::Aborted, "ETAG_MISMATCH");
    }
    let mut client = client;
    assert_eq!(&get(&mut client, &submitted.name).await, claim);
    assert_eq!(events_of(&mut client, &submitted.name).await.len(), 2);

    server.stop().await;
}

#[tokio::test]
async fn a_claim_holds_at_most_100_pieces_of_evidence() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let claim = submit(&mut client, "maria", harbour_claim()).await;
    let mut tasks = JoinSet::new();
    for i in 0..100 {
        let mut client = client.clone();
        let name = claim.name.clone();
        tasks.spawn(async move {
            let summary = format!("Count at gate {i}");
            add_evidence(
                &mut client,
                "ana",
                &name,
                evidence("Port Authority", evidence::Stance::Context, &summary),
            )
            .await
        });
    }
    tasks.join_all().await;
    let full = get(&mut client, &claim.name).await;
    assert_eq!(full.evidence.len(), 100);

    let result = client
        .add_evidence(as_user(
            pb::AddEvidenceRequest {
                name: claim.name.clone(),
                evidence: Some(evidence(
                    "Port Authority",
                    evidence::Stance::Supports,
                    "One more",
                )),
                etag: String::new(),
            },
            "ana",
        ))
        .await;

    expect_error(result, Code::FailedPrecondition, "TOO_MUCH_EVIDENCE");
    assert_unchanged(&mut client, &full).await;
    server.stop().await;
}
