//! Retrying SubmitClaim with a request id: the same request returns the
//! claim made the first time (also after a restart); anything else that
//! reuses the id is refused with ALREADY_EXISTS.

use claimdesk::pb::{self, Claim, ListClaimsRequest, claim};
use tokio::task::JoinSet;
use tonic::Code;

use crate::helpers::*;

const REQUEST_ID: &str = "2f6c1a0e-harbour-strike-day-one";

/// Submits the harbour claim as `user` with `request_id`, which must
/// succeed for the reason `expectation` gives.
async fn submit_harbour(
    client: &mut Client,
    user: &str,
    request_id: &str,
    expectation: &str,
) -> Claim {
    submit_with_id(client, user, harbour_claim(), request_id)
        .await
        .expect(expectation)
}

/// The first submission of the harbour claim with `REQUEST_ID`, by maria.
async fn first_submission(client: &mut Client) -> Claim {
    submit_harbour(client, "maria", REQUEST_ID, "the first submission succeeds").await
}

async fn all_claims(client: &mut Client) -> Vec<Claim> {
    list_all(client, ListClaimsRequest::default()).await
}

/// Submits the harbour claim twice as maria, with the request ids `ids`,
/// and checks that that makes two claims, and the only ones.
async fn assert_two_submissions_make_two_claims(client: &mut Client, ids: [&str; 2]) {
    let first = submit_harbour(client, "maria", ids[0], "the first submission succeeds").await;
    let second = submit_harbour(client, "maria", ids[1], "the second submission succeeds").await;
    assert_ne!(first.name, second.name);
    assert_eq!(all_claims(client).await.len(), 2);
}

#[tokio::test]
async fn retrying_a_submission_with_its_request_id_returns_the_same_claim() {
    let (_server, mut client) = TestServer::with_client().await;

    let first = first_submission(&mut client).await;
    let retry = submit_harbour(&mut client, "maria", REQUEST_ID, "the retry succeeds").await;

    assert_eq!(
        retry, first,
        "the retry returns the claim made the first time"
    );
    assert_eq!(names(&all_claims(&mut client).await), [first.name.as_str()]);
    assert_eq!(
        events_of(&mut client, &first.name).await.len(),
        1,
        "one submission in the history"
    );
}

#[tokio::test]
async fn a_retry_that_differs_only_in_output_fields_or_white_space_is_the_same_request() {
    let (_server, mut client) = TestServer::with_client().await;
    let first = first_submission(&mut client).await;

    let mut same = harbour_claim();
    same.statement = format!("  {HARBOUR_STATEMENT}  ");
    same.name = first.name.clone();
    same.etag = first.etag.clone();
    same.state = claim::State::Unverified.into();
    same.label = first.label.clone();
    same.create_time = first.create_time;
    let retry = submit_with_id(&mut client, "maria", same, REQUEST_ID)
        .await
        .expect("the retry succeeds");

    assert_eq!(retry.name, first.name);
    assert_eq!(all_claims(&mut client).await.len(), 1);
}

#[tokio::test]
async fn submissions_without_a_request_id_are_not_deduplicated() {
    let (_server, mut client) = TestServer::with_client().await;

    assert_two_submissions_make_two_claims(&mut client, ["", ""]).await;
}

#[tokio::test]
async fn reusing_a_request_id_for_a_different_claim_is_refused() {
    let (_server, mut client) = TestServer::with_client().await;
    let first = first_submission(&mut client).await;

    let different = [
        Claim {
            statement: "About 12,000 dock workers joined the strike".to_owned(),
            ..harbour_claim()
        },
        Claim {
            tags: vec!["labour".to_owned()],
            ..harbour_claim()
        },
        Claim {
            priority: claim::Priority::Breaking.into(),
            ..harbour_claim()
        },
        Claim {
            story: "harbour-strike-day-two".to_owned(),
            ..harbour_claim()
        },
        Claim {
            attribution: Some(pb::Attribution {
                relayed_from: Vec::new(),
                ..harbour_claim().attribution.unwrap()
            }),
            ..harbour_claim()
        },
        Claim {
            deadline: Some(prost_types::Timestamp {
                seconds: 1_900_000_000,
                nanos: 0,
            }),
            ..harbour_claim()
        },
    ];
    for claim in different {
        let result = submit_with_id(&mut client, "maria", claim, REQUEST_ID).await;
        let (status, details) = expect_error(result, Code::AlreadyExists, "REQUEST_ID_REUSED");
        assert_eq!(
            error_metadata(&details, "request_id").as_deref(),
            Some(REQUEST_ID),
            "{status:?}"
        );
    }

    assert_eq!(names(&all_claims(&mut client).await), [first.name]);
}

#[tokio::test]
async fn request_ids_are_scoped_to_their_caller() {
    let (_server, mut client) = TestServer::with_client().await;
    let first = first_submission(&mut client).await;

    let other = submit_harbour(
        &mut client,
        "tomas",
        REQUEST_ID,
        "the same id from another caller is another request",
    )
    .await;
    assert_ne!(other.name, first.name);
    assert_eq!(other.submitted_by, "tomas");
    for (user, expectation, made) in [
        ("tomas", "the other caller's retry succeeds", &other),
        ("maria", "the first caller's retry succeeds", &first),
    ] {
        let retry = submit_harbour(&mut client, user, REQUEST_ID, expectation).await;
        assert_eq!(retry.name, made.name, "{user}'s retry");
    }

    let claims = all_claims(&mut client).await;
    assert_eq!(names(&claims), [first.name, other.name]);
}

#[tokio::test]
async fn a_retry_after_a_restart_returns_the_same_claim() {
    let (server, mut client) = TestServer::with_client().await;
    let first = first_submission(&mut client).await;
    drop(client);

    let server = server.restart().await;
    let mut client = server.client().await;
    let retry = submit_harbour(&mut client, "maria", REQUEST_ID, "the retry succeeds").await;
    let changed = Claim {
        statement: "About 12,000 dock workers joined the strike".to_owned(),
        ..harbour_claim()
    };
    let reuse = submit_with_id(&mut client, "maria", changed, REQUEST_ID).await;

    assert_eq!(retry, first);
    expect_error(reuse, Code::AlreadyExists, "REQUEST_ID_REUSED");
    assert_eq!(names(&all_claims(&mut client).await), [first.name]);
}

#[tokio::test]
async fn concurrent_retries_of_one_submission_make_one_claim() {
    let server = TestServer::spawn().await;
    let client = server.client().await;

    let mut tasks = JoinSet::new();
    for _ in 0..16 {
        let mut client = client.clone();
        tasks.spawn(async move {
            submit_harbour(&mut client, "maria", REQUEST_ID, "every retry succeeds")
                .await
                .name
        });
    }
    let mut got = tasks.join_all().await;
    got.sort();
    got.dedup();

    assert_eq!(got.len(), 1, "every retry returns the same claim: {got:?}");
    let mut client = client;
    assert_eq!(names(&all_claims(&mut client).await), got);
}

#[tokio::test]
async fn request_ids_are_independent_of_each_other() {
    let (_server, mut client) = TestServer::with_client().await;

    assert_two_submissions_make_two_claims(&mut client, ["harbour-1", "harbour-2"]).await;
}
