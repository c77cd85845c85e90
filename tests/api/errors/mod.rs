//! Every expected error: its code, its `ErrorInfo` reason (domain
//! `claimdesk.v1`), its metadata and, for invalid input, the fields named in
//! its `BadRequest`. A refused change leaves the claim as it was.

use claimdesk::pb::{
    self, Attribution, Claim, ListClaimEventsRequest, ListClaimsRequest, claim, evidence,
};
use tokio::task::JoinSet;
use tonic::{Code, Request, Status, metadata::MetadataValue};

use crate::helpers::*;

mod aborted;
mod invalid;
mod not_found;
mod preconditions;

/// Fails the test if anything but the etag-relevant content of the claim
/// changed: the claim is read back and compared whole.
async fn assert_unchanged(client: &mut Client, before: &Claim) {
    assert_reads_back(client, before, "the claim is unchanged").await;
}
