//! NOT_FOUND.

use super::*;

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
