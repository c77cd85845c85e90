//! ABORTED.

use super::*;

#[tokio::test]
async fn a_change_with_a_stale_etag_is_aborted() {
    let (_server, mut client, submitted) = TestServer::with_harbour_claim().await;
    let in_review = start_review(&mut client, "tomas", &submitted.name).await;

    let stale = submitted.etag.clone();
    let name = &submitted.name;
    let gate_logs = supports("Port Authority", "Gate logs");
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

/// A change the etag tests send.
#[derive(Debug, Clone, Copy)]
enum Change {
    StartReview,
    Release,
    AddEvidence(evidence::Stance),
    Verify,
    Dispute,
    MarkInconclusive,
    Reopen,
    Withdraw,
}

/// Sends `change` to `name` with `etag`, as the checker (tomas) or, for a
/// reopening or withdrawal, the desk editor.
async fn send(
    client: &mut Client,
    name: &str,
    change: Change,
    etag: &str,
) -> Result<Claim, Status> {
    match change {
        Change::StartReview => try_start_review(client, "tomas", name, etag).await,
        Change::Release => try_release(client, "tomas", name, "", etag).await,
        Change::AddEvidence(stance) => {
            let e = evidence("Port Authority", stance, "Gate logs");
            try_add_evidence(client, "tomas", name, Some(e), etag).await
        }
        Change::Verify => try_verify(client, "tomas", name, "", etag).await,
        Change::Dispute => try_dispute(client, "tomas", name, "", etag).await,
        Change::MarkInconclusive => try_mark_inconclusive(client, "tomas", name, "", etag).await,
        Change::Reopen => try_reopen(client, "desk-editor", name, "Recheck", etag).await,
        Change::Withdraw => try_withdraw(client, "desk-editor", name, "Cut", etag).await,
    }
}

#[tokio::test]
async fn the_current_etag_lets_every_kind_of_change_through() {
    use claim::State::*;
    use evidence::Stance::*;
    let (_server, mut client, submitted) = TestServer::with_harbour_claim().await;
    let name = submitted.name.clone();

    let changes = [
        (Change::StartReview, InReview),
        (Change::Release, Unverified),
        (Change::AddEvidence(Supports), Unverified),
        (Change::StartReview, InReview),
        (Change::Verify, Verified),
        (Change::Reopen, Unverified),
        (Change::StartReview, InReview),
        (Change::AddEvidence(Refutes), InReview),
        (Change::Dispute, Disputed),
        (Change::Reopen, Unverified),
        (Change::StartReview, InReview),
        (Change::MarkInconclusive, Inconclusive),
        (Change::Withdraw, Withdrawn),
    ];
    let mut etag = submitted.etag;
    for (change, state) in changes {
        let claim = send(&mut client, &name, change, &etag)
            .await
            .unwrap_or_else(|e| panic!("{change:?} with the current etag succeeds: {e:?}"));
        assert_eq!(claim.state(), state, "the state after {change:?}");
        etag = claim.etag;
    }
}

#[tokio::test]
async fn an_empty_etag_makes_a_change_unconditional() {
    let (_server, mut client, submitted) = TestServer::with_harbour_claim().await;
    // Somebody else changes the claim in between.
    let shift_pattern = gives_context("Port Authority", "Shift pattern");
    add_evidence(&mut client, "ana", &submitted.name, shift_pattern).await;

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
        let (name, etag) = (submitted.name.clone(), submitted.etag.clone());
        tasks.spawn(async move {
            let result = try_start_review(&mut client, checker, &name, &etag).await;
            (checker, result)
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
