//! INVALID_ARGUMENT.

use super::*;

/// Submits `claim` as maria and checks it is refused naming exactly `fields`.
async fn expect_submission_invalid(client: &mut Client, claim: Claim, fields: &[&str]) {
    let result = client.submit_claim(submit_request("maria", claim)).await;
    expect_invalid_fields(result, fields);
}

/// One page of `name`'s history, with whatever the server answers.
async fn try_list_events(
    client: &mut Client,
    name: &str,
    page_size: i32,
    page_token: &str,
) -> Result<pb::ListClaimEventsResponse, tonic::Status> {
    client
        .list_claim_events(ListClaimEventsRequest {
            name: name.to_owned(),
            page_size,
            page_token: page_token.to_owned(),
        })
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn a_claim_without_statement_source_or_story_names_each_missing_field() {
    let (_server, mut client) = TestServer::with_client().await;

    expect_submission_invalid(
        &mut client,
        Claim {
            statement: "   ".to_owned(),
            attribution: Some(Attribution::default()),
            story: String::new(),
            ..Default::default()
        },
        &["claim.statement", "claim.attribution.source", "claim.story"],
    )
    .await;
    assert_nothing_stored(&mut client).await;
}

#[tokio::test]
async fn a_submission_needs_a_claim_and_an_attribution() {
    let (_server, mut client) = TestServer::with_client().await;

    let no_claim = client
        .submit_claim(as_user(pb::SubmitClaimRequest::default(), "maria"))
        .await;
    expect_invalid_fields(no_claim, &["claim"]);

    let no_attribution = Claim {
        attribution: None,
        ..harbour_claim()
    };
    expect_submission_invalid(&mut client, no_attribution, &["claim.attribution"]).await;
}

#[tokio::test]
async fn bad_tags_are_named_by_their_position() {
    let (_server, mut client) = TestServer::with_client().await;

    let bad_tags = Claim {
        tags: vec![
            "Labour".to_owned(),
            "ports".to_owned(),
            "dock strike".to_owned(),
            String::new(),
        ],
        ..harbour_claim()
    };
    let fields = ["claim.tags[0]", "claim.tags[2]", "claim.tags[3]"];
    expect_submission_invalid(&mut client, bad_tags, &fields).await;

    let too_many = Claim {
        tags: (0..21).map(|i| format!("tag-{i}")).collect(),
        ..harbour_claim()
    };
    expect_submission_invalid(&mut client, too_many, &["claim.tags"]).await;
}

#[tokio::test]
async fn bad_story_statement_relay_url_priority_and_deadline_are_each_named() {
    let (_server, mut client) = TestServer::with_client().await;

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
        expect_submission_invalid(&mut client, claim, &[field]).await;
    }
    assert_nothing_stored(&mut client).await;
}

#[tokio::test]
async fn evidence_must_take_a_stance_and_name_its_source_and_content() {
    let (_server, mut client, claim) = TestServer::with_harbour_claim().await;

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
                ..supports("Port Authority", "Gate logs")
            }),
            vec!["evidence.stance"],
        ),
        (Some(supports(" ", "Gate logs")), vec!["evidence.source"]),
        (Some(supports("Port Authority", "")), vec!["evidence.url"]),
        (
            Some(pb::Evidence {
                url: "not a link".to_owned(),
                ..supports("Port Authority", "Gate logs")
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
        let result = try_add_evidence(&mut client, "tomas", &claim.name, e, "").await;
        expect_invalid_fields(result, &fields);
    }
    assert_unchanged(&mut client, &claim).await;
}

#[tokio::test]
async fn a_malformed_claim_name_is_invalid_for_reads_and_changes() {
    let (_server, mut client, claim) = TestServer::with_harbour_claim().await;
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

        let result = try_start_review(&mut client, "tomas", &name, "").await;
        expect_invalid_fields(result, &["name"]);

        let result = try_list_events(&mut client, &name, 0, "").await;
        expect_invalid_fields(result, &["name"]);
    }
    assert_unchanged(&mut client, &claim).await;
}

#[tokio::test]
async fn a_negative_page_size_is_invalid() {
    let (_server, mut client, claim) = TestServer::with_harbour_claim().await;

    let result = client
        .list_claims(ListClaimsRequest {
            page_size: -1,
            ..Default::default()
        })
        .await;
    expect_invalid_fields(result, &["page_size"]);

    let result = try_list_events(&mut client, &claim.name, -5, "").await;
    expect_invalid_fields(result, &["page_size"]);
}

#[tokio::test]
async fn a_page_token_the_server_did_not_issue_is_invalid() {
    let (_server, mut client, claim) = TestServer::with_harbour_claim().await;

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

        let result = try_list_events(&mut client, &claim.name, 0, token).await;
        expect_invalid_fields(result, &["page_token"]);
    }
}

#[tokio::test]
async fn a_page_token_cannot_be_reused_with_other_filters() {
    let (_server, mut client) = TestServer::with_client().await;
    submit_numbered(&mut client, "maria", (HARBOUR_STORY, "Kestrel Radio"), 0..3).await;
    let harbour = ListClaimsRequest {
        story: HARBOUR_STORY.to_owned(),
        page_size: 1,
        ..Default::default()
    };
    let token = list_page(&mut client, harbour.clone())
        .await
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
    let events_token = try_list_events(&mut client, &first, 1, "")
        .await
        .expect("ListClaimEvents succeeds")
        .next_page_token;
    assert!(!events_token.is_empty());
    for (name, token) in [(&second, &events_token), (&first, &token)] {
        let result = try_list_events(&mut client, name, 1, token).await;
        expect_invalid_fields(result, &["page_token"]);
    }
    let result = client
        .list_claims(ListClaimsRequest {
            page_token: events_token,
            ..Default::default()
        })
        .await;
    expect_invalid_fields(result, &["page_token"]);
}

#[tokio::test]
async fn bad_list_filters_are_invalid() {
    let (_server, mut client) = TestServer::with_client().await;

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
}

#[tokio::test]
async fn reopening_and_withdrawing_need_a_reason() {
    let (_server, mut client, submitted) = TestServer::with_harbour_claim().await;
    start_review(&mut client, "tomas", &submitted.name).await;
    let inconclusive = try_mark_inconclusive(&mut client, "tomas", &submitted.name, "", "")
        .await
        .expect("MarkClaimInconclusive succeeds");

    for reason in ["", "  \n "] {
        let result = try_reopen(&mut client, "desk-editor", &inconclusive.name, reason, "").await;
        expect_invalid_fields(result, &["reason"]);

        let result = try_withdraw(&mut client, "desk-editor", &inconclusive.name, reason, "").await;
        expect_invalid_fields(result, &["reason"]);
    }
    assert_unchanged(&mut client, &inconclusive).await;
}

#[tokio::test]
async fn notes_longer_than_4000_characters_are_invalid() {
    let (_server, mut client, submitted) = TestServer::with_harbour_claim().await;
    let in_review = start_review(&mut client, "tomas", &submitted.name).await;
    let long = "n".repeat(4_001);

    let result = try_release(&mut client, "tomas", &in_review.name, &long, "").await;
    expect_invalid_fields(result, &["note"]);
    let result = try_mark_inconclusive(&mut client, "tomas", &in_review.name, &long, "").await;
    expect_invalid_fields(result, &["note"]);
    let result = try_withdraw(&mut client, "tomas", &in_review.name, &long, "").await;
    expect_invalid_fields(result, &["reason"]);
    assert_unchanged(&mut client, &in_review).await;
}

#[tokio::test]
async fn the_reserved_or_an_empty_user_name_cannot_act() {
    let (_server, mut client, claim) = TestServer::with_harbour_claim().await;

    for user in ["system", "SYSTEM", " System ", "", "   "] {
        let result = client
            .submit_claim(submit_request(user, harbour_claim()))
            .await;
        expect_invalid_fields(result, &["x-claimdesk-user"]);

        let result = try_start_review(&mut client, user, &claim.name, "").await;
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
}

#[tokio::test]
async fn a_request_id_with_white_space_or_over_128_characters_is_invalid() {
    let (_server, mut client) = TestServer::with_client().await;

    for request_id in ["harbour strike 1".to_owned(), "r".repeat(129)] {
        let result = submit_with_id(&mut client, "maria", harbour_claim(), &request_id).await;
        expect_invalid_fields(result, &["request_id"]);
    }
    assert_nothing_stored(&mut client).await;
}
