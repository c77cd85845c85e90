//! FAILED_PRECONDITION.

use super::*;

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
    let (_server, mut client, unverified) = TestServer::with_harbour_claim().await;
    let name = unverified.name.clone();

    // Unverified: no ruling, no release, no reopening.
    let result = try_verify(&mut client, "tomas", &name, "", "").await;
    expect_invalid_transition(result, "STATE_UNVERIFIED", "verify");
    let result = try_dispute(&mut client, "tomas", &name, "", "").await;
    expect_invalid_transition(result, "STATE_UNVERIFIED", "dispute");
    let result = try_mark_inconclusive(&mut client, "tomas", &name, "", "").await;
    expect_invalid_transition(result, "STATE_UNVERIFIED", "mark inconclusive");
    let result = try_release(&mut client, "tomas", &name, "", "").await;
    expect_invalid_transition(result, "STATE_UNVERIFIED", "release");
    let result = try_reopen(&mut client, "tomas", &name, "Second look", "").await;
    expect_invalid_transition(result, "STATE_UNVERIFIED", "reopen");
    assert_unchanged(&mut client, &unverified).await;

    // In review: not taken twice.
    let in_review = start_review(&mut client, "tomas", &name).await;
    let result = try_start_review(&mut client, "ana", &name, "").await;
    expect_invalid_transition(result, "STATE_IN_REVIEW", "start review");
    assert_unchanged(&mut client, &in_review).await;

    // Verified: no new review, no evidence but refuting evidence (which
    // reopens it: see `links.rs`).
    let gate_logs = supports("Port Authority", "Gate logs");
    add_evidence(&mut client, "tomas", &name, gate_logs.clone()).await;
    let verified = verify(&mut client, "tomas", &name, "").await;
    let result = try_add_evidence(&mut client, "ana", &name, Some(gate_logs), "").await;
    expect_error(result, Code::FailedPrecondition, "VERIFIED_NEEDS_REFUTING");
    let result = try_start_review(&mut client, "ana", &name, "").await;
    expect_invalid_transition(result, "STATE_VERIFIED", "start review");
    let result = try_verify(&mut client, "tomas", &name, "", "").await;
    expect_invalid_transition(result, "STATE_VERIFIED", "verify");
    assert_unchanged(&mut client, &verified).await;

    // Withdrawn: nothing more happens to it.
    let withdrawn = withdraw(&mut client, "desk-editor", &name, "Cut").await;
    let result = try_withdraw(&mut client, "desk-editor", &name, "Cut again", "").await;
    expect_invalid_transition(result, "STATE_WITHDRAWN", "withdraw");
    let result = try_reopen(&mut client, "desk-editor", &name, "Back in", "").await;
    expect_invalid_transition(result, "STATE_WITHDRAWN", "reopen");
    let result = try_start_review(&mut client, "tomas", &name, "").await;
    expect_invalid_transition(result, "STATE_WITHDRAWN", "start review");
    assert_unchanged(&mut client, &withdrawn).await;
}

#[tokio::test]
async fn only_the_assignee_may_rule_on_a_claim() {
    // Releasing another's claim is a chief's right, and in open mode every
    // caller acts as a chief: the access tests cover who may release.
    let (_server, mut client, submitted) = TestServer::with_harbour_claim().await;
    let name = submitted.name.clone();
    start_review(&mut client, "tomas", &name).await;
    let gate_logs = supports("Port Authority", "Gate logs");
    add_evidence(&mut client, "tomas", &name, gate_logs).await;
    let night_shift = refutes("Port Authority", "Night shift");
    let ready = add_evidence(&mut client, "tomas", &name, night_shift).await;

    let check = |result: Result<pb::Claim, tonic::Status>| {
        let (status, details) = expect_error(result, Code::FailedPrecondition, "NOT_ASSIGNEE");
        assert_eq!(
            error_metadata(&details, "assignee").as_deref(),
            Some("tomas"),
            "{status:?}"
        );
    };
    for user in ["ana", "maria", "Tomas"] {
        check(try_verify(&mut client, user, &name, "", "").await);
        check(try_dispute(&mut client, user, &name, "", "").await);
        check(try_mark_inconclusive(&mut client, user, &name, "", "").await);
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

/// Checks that tomas cannot verify `claim` for want of independent support,
/// and that the claim is left as it was.
async fn expect_not_verified_without_independent_support(client: &mut Client, claim: &Claim) {
    expect_error(
        verify_result(client, &claim.name).await,
        Code::FailedPrecondition,
        "NO_INDEPENDENT_EVIDENCE",
    );
    assert_unchanged(client, claim).await;
}

/// Checks that tomas cannot verify the harbour claim in review with only
/// `evidence`: the server, a client and the claim, left as it was.
async fn not_verified_with(evidence: Vec<pb::Evidence>) -> (TestServer, Client, Claim) {
    let (server, mut client) = TestServer::with_client().await;
    let claim = reviewed_with(&mut client, evidence).await;
    expect_not_verified_without_independent_support(&mut client, &claim).await;
    (server, client, claim)
}

#[tokio::test]
async fn support_from_the_claims_own_source_does_not_verify_it() {
    let reporter = supports(HARBOUR_SOURCE, "Our reporter saw it");
    let editor = supports("  harbour   GAZETTE ", "Our editor confirms");
    not_verified_with(vec![reporter, editor]).await;
}

#[tokio::test]
async fn support_from_whoever_relayed_the_claim_does_not_verify_it() {
    let union = supports("Union Officials", "The union repeats its figure");
    not_verified_with(vec![union]).await;
}

#[tokio::test]
async fn only_supporting_evidence_from_an_independent_source_verifies_a_claim() {
    let differ = refutes("Port Authority", "Gate logs differ");
    let shifts = gives_context("Port Authority", "Shift pattern");
    let (_server, mut client, claim) = not_verified_with(vec![differ, shifts]).await;

    let roster = supports("Shipping agents' association", "Roster");
    add_evidence(&mut client, "tomas", &claim.name, roster).await;
    let verified = verify_result(&mut client, &claim.name)
        .await
        .expect("independent support verifies the claim");
    assert_eq!(verified.state(), claim::State::Verified);
}

#[tokio::test]
async fn disputing_needs_refuting_evidence() {
    let (_server, mut client) = TestServer::with_client().await;
    let agree = supports("Port Authority", "Gate logs agree");
    let shifts = gives_context("Port Authority", "Shift pattern");
    let claim = reviewed_with(&mut client, vec![agree, shifts]).await;

    let result = try_dispute(&mut client, "tomas", &claim.name, "Feels high", "").await;

    expect_error(result, Code::FailedPrecondition, "NO_REFUTING_EVIDENCE");
    assert_unchanged(&mut client, &claim).await;
}

#[tokio::test]
async fn the_state_is_checked_before_the_assignee_and_the_assignee_before_the_evidence() {
    let (_server, mut client, submitted) = TestServer::with_harbour_claim().await;

    // Unverified, wrong user, no evidence: the state is named.
    let result = try_verify(&mut client, "ana", &submitted.name, "", "").await;
    expect_invalid_transition(result, "STATE_UNVERIFIED", "verify");

    // In review, wrong user, no evidence: the assignee is named.
    start_review(&mut client, "tomas", &submitted.name).await;
    let result = try_verify(&mut client, "ana", &submitted.name, "", "").await;
    expect_error(result, Code::FailedPrecondition, "NOT_ASSIGNEE");
}

#[tokio::test]
async fn a_claim_holds_at_most_100_pieces_of_evidence() {
    let (_server, mut client, claim) = TestServer::with_harbour_claim().await;
    add_context_at_once(&client, &claim.name, 100, "Count at gate").await;
    let full = get(&mut client, &claim.name).await;
    assert_eq!(full.evidence.len(), 100);

    let one_more = supports("Port Authority", "One more");
    let result = try_add_evidence(&mut client, "ana", &claim.name, Some(one_more), "").await;

    expect_error(result, Code::FailedPrecondition, "TOO_MUCH_EVIDENCE");
    assert_unchanged(&mut client, &full).await;
}
