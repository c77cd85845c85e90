//! Every expected error: its code, its `ErrorInfo` reason (domain
//! `claimdesk.v1`), its metadata and, for invalid input, the fields named in
//! its `BadRequest`. A refused change leaves the claim as it was.

use claimdesk::pb::{
    self, Attribution, Claim, ListClaimEventsRequest, ListClaimsRequest, claim, evidence,
};
use tokio::task::JoinSet;
use tonic::{Code, Request, metadata::MetadataValue};

use crate::helpers::*;

mod aborted;
mod invalid;
mod not_found;
mod preconditions;

/// Fails the test if anything but the etag-relevant content of the claim
/// changed: the claim is read back and compared whole.
async fn assert_unchanged(client: &mut Client, before: &Claim) {
    assert_eq!(
        &get(client, &before.name).await,
        before,
        "the claim is unchanged"
    );
}

// Each change as `user`, with whatever the server answers: the tests here
// look at the refusals, so nothing is expected to succeed.

async fn try_start_review(
    client: &mut Client,
    user: &str,
    name: &str,
    etag: &str,
) -> Result<Claim, tonic::Status> {
    client
        .start_review(as_user(
            pb::StartReviewRequest {
                name: name.to_owned(),
                etag: etag.to_owned(),
            },
            user,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn try_add_evidence(
    client: &mut Client,
    user: &str,
    name: &str,
    evidence: Option<pb::Evidence>,
    etag: &str,
) -> Result<Claim, tonic::Status> {
    client
        .add_evidence(as_user(
            pb::AddEvidenceRequest {
                name: name.to_owned(),
                evidence,
                etag: etag.to_owned(),
            },
            user,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn try_verify(
    client: &mut Client,
    user: &str,
    name: &str,
    note: &str,
    etag: &str,
) -> Result<Claim, tonic::Status> {
    client
        .verify_claim(as_user(
            pb::VerifyClaimRequest {
                name: name.to_owned(),
                note: note.to_owned(),
                etag: etag.to_owned(),
            },
            user,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn try_dispute(
    client: &mut Client,
    user: &str,
    name: &str,
    note: &str,
    etag: &str,
) -> Result<Claim, tonic::Status> {
    client
        .dispute_claim(as_user(
            pb::DisputeClaimRequest {
                name: name.to_owned(),
                note: note.to_owned(),
                etag: etag.to_owned(),
            },
            user,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn try_mark_inconclusive(
    client: &mut Client,
    user: &str,
    name: &str,
    note: &str,
    etag: &str,
) -> Result<Claim, tonic::Status> {
    client
        .mark_claim_inconclusive(as_user(
            pb::MarkClaimInconclusiveRequest {
                name: name.to_owned(),
                note: note.to_owned(),
                etag: etag.to_owned(),
            },
            user,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn try_release(
    client: &mut Client,
    user: &str,
    name: &str,
    note: &str,
    etag: &str,
) -> Result<Claim, tonic::Status> {
    client
        .release_claim(as_user(
            pb::ReleaseClaimRequest {
                name: name.to_owned(),
                note: note.to_owned(),
                etag: etag.to_owned(),
            },
            user,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn try_reopen(
    client: &mut Client,
    user: &str,
    name: &str,
    reason: &str,
    etag: &str,
) -> Result<Claim, tonic::Status> {
    client
        .reopen_claim(as_user(
            pb::ReopenClaimRequest {
                name: name.to_owned(),
                reason: reason.to_owned(),
                etag: etag.to_owned(),
            },
            user,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn try_withdraw(
    client: &mut Client,
    user: &str,
    name: &str,
    reason: &str,
    etag: &str,
) -> Result<Claim, tonic::Status> {
    client
        .withdraw_claim(as_user(
            pb::WithdrawClaimRequest {
                name: name.to_owned(),
                reason: reason.to_owned(),
                etag: etag.to_owned(),
            },
            user,
        ))
        .await
        .map(|r| r.into_inner())
}
