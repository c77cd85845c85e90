//! `claimdesk queue …` and `claimdesk health`, for people and as JSON.

use super::{CHECKER, EDITOR, OTHER_CHECKER, human, json, number, text};
use crate::helpers::{TestServer, harbour_claim, numbered_claim, submit};

#[tokio::test]
async fn take_hands_out_the_most_pressing_claim_then_says_the_queue_is_empty() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let routine = submit(
        &mut client,
        EDITOR,
        numbered_claim("harbour-strike", "Dock Radio", 1),
    )
    .await;
    let urgent = submit(&mut client, EDITOR, harbour_claim()).await;

    let taken = json(&server, CHECKER, &["queue", "take", "--tag", "ports"])
        .await
        .json();
    assert_eq!(taken["name"], urgent.name);
    assert_eq!(taken["state"], "STATE_IN_REVIEW");
    assert_eq!(taken["assignee"], CHECKER);
    assert!(taken["leaseExpireTime"].is_string(), "{taken}");
    human(&server, CHECKER, &["queue", "take", "--tag", "ports"])
        .await
        .failed(3, &["TakeNextClaim failed: NOT_FOUND [QUEUE_EMPTY]"]);

    let finished = human(
        &server,
        OTHER_CHECKER,
        &["queue", "take", "--story", "harbour-strike"],
    )
    .await;
    assert_eq!(finished.field("claim"), routine.name);
    assert_eq!(finished.field("state"), "in review");
    let assignee = finished.field("assignee");
    assert!(
        assignee.starts_with(&format!("{OTHER_CHECKER}, lease ends in 1")),
        "{assignee}"
    );
    json(&server, CHECKER, &["queue", "take"])
        .await
        .failed(3, &["QUEUE_EMPTY"]);
}

#[tokio::test]
async fn renew_extends_the_lease_only_for_the_assignee() {
    let server = TestServer::spawn().await;
    let claim = submit(&mut server.client().await, EDITOR, harbour_claim()).await;
    let taken = json(&server, CHECKER, &["queue", "take"]).await.json();
    let renewed = json(&server, CHECKER, &["queue", "renew", &claim.name])
        .await
        .json();
    assert_eq!(renewed["assignee"], CHECKER);
    assert!(
        text(&renewed, "leaseExpireTime") > text(&taken, "leaseExpireTime"),
        "{renewed} after {taken}"
    );
    let finished = human(
        &server,
        CHECKER,
        &[
            "queue",
            "renew",
            &claim.name,
            "--etag",
            &text(&renewed, "etag"),
        ],
    )
    .await;
    assert!(
        finished.field("assignee").contains("lease ends in"),
        "{}",
        finished.stdout
    );
    human(&server, OTHER_CHECKER, &["queue", "renew", &claim.name])
        .await
        .failed(
            5,
            &[
                "RenewLease failed: FAILED_PRECONDITION [NOT_ASSIGNEE]",
                "assignee: kim.checker",
            ],
        );
}

#[tokio::test]
async fn stats_count_claims_by_state_and_waiting_priority() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    submit(&mut client, EDITOR, harbour_claim()).await;
    submit(
        &mut client,
        EDITOR,
        numbered_claim("harbour-strike", "Dock Radio", 1),
    )
    .await;
    submit(
        &mut client,
        EDITOR,
        numbered_claim("border", "Valley Herald", 2),
    )
    .await;
    json(&server, CHECKER, &["queue", "take"]).await.ok();

    let stats = json(
        &server,
        EDITOR,
        &["queue", "stats", "--story", "harbour-strike"],
    )
    .await
    .json();
    assert_eq!(stats["story"], "harbour-strike");
    let count = |state: &str| {
        stats["stateCounts"]
            .as_array()
            .expect("stateCounts")
            .iter()
            .find(|c| c["state"] == state)
            .map(|c| number(c, "count"))
            .unwrap_or_else(|| panic!("{state} in {stats}"))
    };
    assert_eq!(count("STATE_UNVERIFIED"), 1);
    assert_eq!(count("STATE_IN_REVIEW"), 1);
    assert_eq!(count("STATE_VERIFIED"), 0);
    assert!(stats["oldestWaitingSubmitTime"].is_string(), "{stats}");

    let finished = human(&server, EDITOR, &["queue", "stats"]).await;
    assert_eq!(finished.field("story"), "all stories");
    assert_eq!(finished.field("unverified"), "2");
    assert_eq!(finished.field("in review"), "1");
    assert_eq!(finished.field("waiting, routine"), "2");
    assert_eq!(finished.field("overdue"), "0");
    assert!(finished.field("oldest waiting").starts_with("submitted "));
}

#[tokio::test]
async fn health_says_serving_and_exits_0_then_unavailable_once_the_server_is_gone() {
    let server = TestServer::spawn().await;
    let url = server.url();
    assert_eq!(human(&server, EDITOR, &["health"]).await.ok(), "SERVING\n");
    assert_eq!(
        json(&server, EDITOR, &["health"]).await.json(),
        serde_json::json!({"status": "SERVING"})
    );
    let finished = json(
        &server,
        EDITOR,
        &["health", "--service", "claimdesk.v1.ClaimService"],
    )
    .await;
    assert_eq!(finished.json()["status"], "SERVING");
    server.stop().await;
    super::finish(super::command(&url, EDITOR, &["health"]))
        .await
        .failed(7, &["cannot connect to", &url]);
}
