//! ABORTED.

use super::*;

#[tokio::test]
async fn a_change_with_a_stale_etag_is_aborted() {
    let (_server, mut client) = TestServer::with_client().await;
    let submitted = submit(&mut client, "maria", harbour_claim()).await;
    let in_review = start_review(&mut client, "tomas", &submitted.name).await;

    let stale = submitted.etag.clone();
    let name = &submitted.name;
    let gate_logs = evidence("Port Authority", evidence::Stance::Supports, "Gate logs");
    let results = vec![
        try_release(&mut client, "tomas", name, "", &stale).await,
        try_add_evidence(&mut client, "tomas", name, Some(gate_logs), &stale).await,
        try_withdraw(&mut client, "desk-editor", name, "Cut", &stale).await,
        try_mark_inconclusive(&mut client, "tomas", name, "", "not-an-etag-at-all").await,
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
}

async fn start_review_if(client: &mut Client, name: &str, etag: &str) -> pb::Claim {
    try_start_review(client, "tomas", name, etag)
        .await
        .expect("StartReview with the current etag succeeds")
}

async fn add_evidence_if(
    client: &mut Client,
    name: &str,
    stance: evidence::Stance,
    etag: &str,
) -> pb::Claim {
    let e = evidence("Port Authority", stance, "Gate logs");
    try_add_evidence(client, "tomas", name, Some(e), etag)
        .await
        .expect("AddEvidence with the current etag succeeds")
}

async fn reopen_if(client: &mut Client, name: &str, etag: &str) -> pb::Claim {
    try_reopen(client, "desk-editor", name, "Recheck", etag)
        .await
        .expect("ReopenClaim with the current etag succeeds")
}

#[tokio::test]
async fn the_current_etag_lets_every_kind_of_change_through() {
    let (_server, mut client) = TestServer::with_client().await;
    let submitted = submit(&mut client, "maria", harbour_claim()).await;
    let name = submitted.name.clone();

    let claim = start_review_if(&mut client, &name, &submitted.etag).await;
    let claim = try_release(&mut client, "tomas", &name, "", &claim.etag)
        .await
        .expect("ReleaseClaim with the current etag succeeds");
    let claim = add_evidence_if(&mut client, &name, evidence::Stance::Supports, &claim.etag).await;
    let claim = start_review_if(&mut client, &name, &claim.etag).await;
    let claim = try_verify(&mut client, "tomas", &name, "", &claim.etag)
        .await
        .expect("VerifyClaim with the current etag succeeds");
    assert_eq!(claim.state(), claim::State::Verified);
    let claim = reopen_if(&mut client, &name, &claim.etag).await;
    let claim = start_review_if(&mut client, &name, &claim.etag).await;
    let claim = add_evidence_if(&mut client, &name, evidence::Stance::Refutes, &claim.etag).await;
    let claim = try_dispute(&mut client, "tomas", &name, "", &claim.etag)
        .await
        .expect("DisputeClaim with the current etag succeeds");
    assert_eq!(claim.state(), claim::State::Disputed);
    let claim = reopen_if(&mut client, &name, &claim.etag).await;
    let claim = start_review_if(&mut client, &name, &claim.etag).await;
    let claim = try_mark_inconclusive(&mut client, "tomas", &name, "", &claim.etag)
        .await
        .expect("MarkClaimInconclusive with the current etag succeeds");
    assert_eq!(claim.state(), claim::State::Inconclusive);
    let claim = try_withdraw(&mut client, "desk-editor", &name, "Cut", &claim.etag)
        .await
        .expect("WithdrawClaim with the current etag succeeds");
    assert_eq!(claim.state(), claim::State::Withdrawn);
}

#[tokio::test]
async fn an_empty_etag_makes_a_change_unconditional() {
    let (_server, mut client) = TestServer::with_client().await;
    let submitted = submit(&mut client, "maria", harbour_claim()).await;
    // Somebody else changes the claim in between.
    add_evidence(
        &mut client,
        "ana",
        &submitted.name,
        evidence("Port Authority", evidence::Stance::Context, "Shift pattern"),
    )
    .await;

    let claim = try_start_review(&mut client, "tomas", &submitted.name, "")
        .await
        .expect("a change without etag succeeds");

    assert_eq!(claim.state(), claim::State::InReview);
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
}
