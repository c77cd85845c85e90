//! NOT_FOUND.

use super::*;

#[tokio::test]
async fn an_unknown_claim_is_not_found_for_reads_changes_and_history() {
    let (_server, mut client) = TestServer::with_client().await;
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
    check(try_start_review(&mut client, "tomas", &name, "").await);
    let gate_logs = supports("Port Authority", "Gate logs");
    check(try_add_evidence(&mut client, "tomas", &name, Some(gate_logs), "").await);
    check(try_withdraw(&mut client, "desk-editor", &name, "Cut", "").await);
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
}
