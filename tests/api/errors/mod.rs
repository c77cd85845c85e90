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

/// Defines `$name(client, user, claim name, $text, etag)`, which sends one
/// change that carries a free text (a note or a reason) besides the etag.
macro_rules! try_change_with_text {
    ($name:ident, $method:ident, $request:ident, $text:ident) => {
        async fn $name(
            client: &mut Client,
            user: &str,
            name: &str,
            $text: &str,
            etag: &str,
        ) -> Result<Claim, tonic::Status> {
            client
                .$method(as_user(
                    pb::$request {
                        name: name.to_owned(),
                        $text: $text.to_owned(),
                        etag: etag.to_owned(),
                    },
                    user,
                ))
                .await
                .map(|r| r.into_inner())
        }
    };
}

try_change_with_text!(try_verify, verify_claim, VerifyClaimRequest, note);
try_change_with_text!(try_dispute, dispute_claim, DisputeClaimRequest, note);
try_change_with_text!(
    try_mark_inconclusive,
    mark_claim_inconclusive,
    MarkClaimInconclusiveRequest,
    note
);
try_change_with_text!(try_release, release_claim, ReleaseClaimRequest, note);
try_change_with_text!(try_reopen, reopen_claim, ReopenClaimRequest, reason);
try_change_with_text!(try_withdraw, withdraw_claim, WithdrawClaimRequest, reason);
