//! `claimdesk::testing::TestServer`, the server other projects' tests spin
//! up: tokens per user, and a drop that stops the server whatever the test
//! left open.

use std::time::Duration;

use claimdesk::{domain::Role, pb, testing};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn users_call_with_their_tokens_and_their_roles_hold() {
    let server = testing::TestServer::builder()
        .user("maria", Role::Editor)
        .user("kofi", Role::Checker)
        .start()
        .await
        .expect("the server starts");
    let mut maria = server.client_as("maria").await.expect("maria connects");
    let submitted = maria
        .submit_claim(pb::SubmitClaimRequest {
            claim: Some(harbour_claim()),
            request_id: String::new(),
        })
        .await
        .expect("an editor submits")
        .into_inner();
    let mut kofi = server.client_as("kofi").await.expect("kofi connects");
    let taken = kofi
        .take_next_claim(pb::TakeNextClaimRequest::default())
        .await
        .expect("a checker takes")
        .into_inner();
    assert_eq!(taken.name, submitted.name);
    assert_eq!(taken.assignee, "kofi", "the token named the checker");

    let refused = maria
        .take_next_claim(pb::TakeNextClaimRequest::default())
        .await
        .expect_err("an editor may not take claims");
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(matches!(
        server.client_as("nobody").await,
        Err(testing::ClientError::NoToken(name)) if name == "nobody"
    ));
}

#[tokio::test]
async fn dropping_the_server_does_not_wait_for_streams_the_test_left_open() {
    let server = testing::TestServer::builder()
        // A drop that waited for the open stream would wait this long.
        .shutdown_grace(Duration::from_secs(3600))
        .start()
        .await
        .expect("the server starts");
    let mut client = server.client_as("maria").await.expect("connects");
    let mut events = client
        .watch_claim_events(pb::WatchClaimEventsRequest::default())
        .await
        .expect("a watch")
        .into_inner();
    client
        .submit_claim(pb::SubmitClaimRequest {
            claim: Some(harbour_claim()),
            request_id: String::new(),
        })
        .await
        .expect("submitted");
    let first = events.message().await.expect("an event").expect("open");
    assert_eq!(first.revision, 1);

    // The stream and its connection stay open while the server drops.
    let dropped = tokio::task::spawn_blocking(move || drop(server));
    tokio::time::timeout(Duration::from_secs(60), dropped)
        .await
        .expect("the drop does not wait for the open stream")
        .expect("the drop does not panic: the server stopped cleanly");
    drop(events);
}
