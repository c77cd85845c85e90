//! `claimdesk.v1.ClaimService`: each handler reads the caller, validates and
//! converts the request, calls the [`Desk`] and converts the answer. No rule
//! of the desk lives here.

use std::{future::Future, pin::Pin, time::Instant};

use tokio_stream::{Stream, StreamExt};

use tonic::{Request, Response, Status};
use tracing::{Instrument, field};

use super::{
    convert,
    identity::{self, Authentication},
    links,
    pb::{self, claim_service_server::ClaimService},
    status,
};
use crate::{
    desk::Desk,
    domain::{Actor, Command, Invalid, UserName},
    error::Error,
};

pub struct ClaimServiceImpl {
    desk: Desk,
    /// How callers are known; asked whom a claim may be reassigned to.
    authentication: Authentication,
    /// The largest answer sent, in bytes: a page of a listing ends before
    /// its encoded answer would pass it.
    max_response_bytes: usize,
}

impl ClaimServiceImpl {
    pub fn new(desk: Desk, authentication: Authentication) -> Self {
        Self {
            desk,
            authentication,
            max_response_bytes: usize::MAX,
        }
    }

    /// Pages of listings end before their answer passes `bytes`.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Applies a command to the claim named `name` and answers the claim.
    async fn change(
        &self,
        name: &str,
        etag: String,
        actor: Result<Actor, Error>,
        command: impl FnOnce() -> Result<Command, Error>,
    ) -> Result<pb::Claim, Error> {
        let id = convert::claim_id(name)?;
        let command = command()?;
        let claim = self.desk.change(id, command, actor?, etag).await?;
        Ok(convert::claim_to_pb(claim))
    }
}

/// Most bytes of an invalid claim name recorded in the log.
const MAX_LOGGED_NAME_BYTES: usize = 64;

/// Room an answer keeps beside its page of entries: the next page token
/// and the framing of its fields.
const PAGE_TOKEN_ROOM: usize = 1024;

/// The first entries of `items` whose answer stays within `max_bytes`
/// (always at least one: an entry larger than the limit alone fails as
/// tonic refuses to send it), and whether any were cut. The store ends
/// pages by the bytes it read, which only approximates the answer: a
/// claim's label repeats its source, so its answer can be twice its record.
fn fit_page<T: prost::Message>(mut items: Vec<T>, max_bytes: usize) -> (Vec<T>, bool) {
    let budget = max_bytes.saturating_sub(PAGE_TOKEN_ROOM);
    let mut used = 0;
    let fitting = items
        .iter()
        .position(|item| {
            // A repeated field's entry: its tag, its length, its bytes.
            let len = item.encoded_len();
            used += 1 + prost::encoding::encoded_len_varint(len as u64) + len;
            used > budget
        })
        .unwrap_or(items.len())
        .max(1)
        .min(items.len());
    let cut = fitting < items.len();
    items.truncate(fitting);
    (items, cut)
}

/// Whether `method` only reads (`Get…`, `List…`).
fn is_read(method: &str) -> bool {
    method.starts_with("Get") || method.starts_with("List")
}

/// Runs one RPC in its own span (method, claim, result code) and turns its
/// error into a status.
async fn rpc<T>(
    method: &'static str,
    claim: &str,
    handler: impl Future<Output = Result<T, Error>>,
) -> Result<Response<T>, Status> {
    let span = tracing::info_span!("rpc", method, claim = field::Empty, code = field::Empty);
    if !claim.is_empty() {
        // The name as the service writes it once it is valid; else only its
        // beginning, quoted: it may be as long as the request and hold
        // anything.
        match convert::parse_claim_name(claim) {
            Ok(id) => span.record("claim", convert::claim_name(id)),
            Err(_) => span.record(
                "claim",
                field::debug(status::truncated(claim, MAX_LOGGED_NAME_BYTES)),
            ),
        };
    }
    async move {
        let started = Instant::now();
        let result = handler.await.map_err(Status::from);
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(status) => status.code(),
        };
        tracing::Span::current().record("code", field::debug(code));
        let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        // Every change and every failure at info; reads that succeeded at
        // debug: a line costs a fifth of a cached read's work.
        if code == tonic::Code::Ok && is_read(method) {
            tracing::debug!(elapsed_ms, "done");
        } else {
            tracing::info!(elapsed_ms, "done");
        }
        result.map(Response::new)
    }
    .instrument(span)
    .await
}

#[tonic::async_trait]
impl ClaimService for ClaimServiceImpl {
    async fn submit_claim(
        &self,
        request: Request<pb::SubmitClaimRequest>,
    ) -> Result<Response<pb::Claim>, Status> {
        let actor = identity::caller(&request);
        let r = request.into_inner();
        rpc("SubmitClaim", "", async {
            let new = convert::new_claim(r.claim.as_ref())?;
            let request_id = convert::request_id(&r.request_id)?;
            let claim = self.desk.submit(new, actor?.name, request_id).await?;
            let claim = convert::claim_to_pb(claim);
            tracing::Span::current().record("claim", claim.name.as_str());
            Ok(claim)
        })
        .await
    }

    async fn get_claim(
        &self,
        request: Request<pb::GetClaimRequest>,
    ) -> Result<Response<pb::Claim>, Status> {
        let r = request.into_inner();
        rpc("GetClaim", &r.name, async {
            let id = convert::claim_id(&r.name)?;
            Ok(convert::claim_to_pb(self.desk.get(id).await?))
        })
        .await
    }

    async fn list_claims(
        &self,
        request: Request<pb::ListClaimsRequest>,
    ) -> Result<Response<pb::ListClaimsResponse>, Status> {
        let r = request.into_inner();
        rpc("ListClaims", "", async {
            let filter = convert::claim_filter(&r)?;
            let limit = convert::page_size(r.page_size)?;
            let after = convert::claims_after(&filter, &r.page_token)?;
            let page = self.desk.list(filter.clone(), after, limit).await?;
            let ids: Vec<_> = page.items.iter().map(|claim| claim.id).collect();
            let claims: Vec<_> = page.items.into_iter().map(convert::claim_to_pb).collect();
            let (claims, cut) = fit_page(claims, self.max_response_bytes);
            let next_page_token = match (page.more || cut, claims.len()) {
                (true, sent @ 1..) => convert::claims_page_token(&filter, ids[sent - 1]),
                _ => String::new(),
            };
            Ok(pb::ListClaimsResponse {
                claims,
                next_page_token,
            })
        })
        .await
    }

    async fn start_review(
        &self,
        request: Request<pb::StartReviewRequest>,
    ) -> Result<Response<pb::Claim>, Status> {
        let actor = identity::caller(&request);
        let r = request.into_inner();
        rpc("StartReview", &r.name, async {
            self.change(&r.name, r.etag.clone(), actor, || {
                Ok(self.desk.start_review_command())
            })
            .await
        })
        .await
    }

    async fn release_claim(
        &self,
        request: Request<pb::ReleaseClaimRequest>,
    ) -> Result<Response<pb::Claim>, Status> {
        let actor = identity::caller(&request);
        let r = request.into_inner();
        rpc("ReleaseClaim", &r.name, async {
            self.change(&r.name, r.etag.clone(), actor, || {
                Ok(Command::Release {
                    note: convert::note("note", &r.note)?,
                })
            })
            .await
        })
        .await
    }

    async fn add_evidence(
        &self,
        request: Request<pb::AddEvidenceRequest>,
    ) -> Result<Response<pb::Claim>, Status> {
        let actor = identity::caller(&request);
        let r = request.into_inner();
        rpc("AddEvidence", &r.name, async {
            self.change(&r.name, r.etag.clone(), actor, || {
                Ok(Command::AddEvidence {
                    evidence: convert::new_evidence(r.evidence.as_ref())?,
                    id: self.desk.new_evidence_id(),
                })
            })
            .await
        })
        .await
    }

    async fn verify_claim(
        &self,
        request: Request<pb::VerifyClaimRequest>,
    ) -> Result<Response<pb::Claim>, Status> {
        let actor = identity::caller(&request);
        let r = request.into_inner();
        rpc("VerifyClaim", &r.name, async {
            self.change(&r.name, r.etag.clone(), actor, || {
                Ok(Command::Verify {
                    note: convert::note("note", &r.note)?,
                    acknowledge_contradictions: r.acknowledge_contradictions,
                })
            })
            .await
        })
        .await
    }

    async fn dispute_claim(
        &self,
        request: Request<pb::DisputeClaimRequest>,
    ) -> Result<Response<pb::Claim>, Status> {
        let actor = identity::caller(&request);
        let r = request.into_inner();
        rpc("DisputeClaim", &r.name, async {
            self.change(&r.name, r.etag.clone(), actor, || {
                Ok(Command::Dispute {
                    note: convert::note("note", &r.note)?,
                })
            })
            .await
        })
        .await
    }

    async fn mark_claim_inconclusive(
        &self,
        request: Request<pb::MarkClaimInconclusiveRequest>,
    ) -> Result<Response<pb::Claim>, Status> {
        let actor = identity::caller(&request);
        let r = request.into_inner();
        rpc("MarkClaimInconclusive", &r.name, async {
            self.change(&r.name, r.etag.clone(), actor, || {
                Ok(Command::MarkInconclusive {
                    note: convert::note("note", &r.note)?,
                })
            })
            .await
        })
        .await
    }

    async fn reopen_claim(
        &self,
        request: Request<pb::ReopenClaimRequest>,
    ) -> Result<Response<pb::Claim>, Status> {
        let actor = identity::caller(&request);
        let r = request.into_inner();
        rpc("ReopenClaim", &r.name, async {
            self.change(&r.name, r.etag.clone(), actor, || {
                Ok(Command::Reopen {
                    reason: convert::required_note("reason", &r.reason)?,
                })
            })
            .await
        })
        .await
    }

    async fn withdraw_claim(
        &self,
        request: Request<pb::WithdrawClaimRequest>,
    ) -> Result<Response<pb::Claim>, Status> {
        let actor = identity::caller(&request);
        let r = request.into_inner();
        rpc("WithdrawClaim", &r.name, async {
            self.change(&r.name, r.etag.clone(), actor, || {
                Ok(Command::Withdraw {
                    reason: convert::required_note("reason", &r.reason)?,
                })
            })
            .await
        })
        .await
    }

    async fn list_claim_events(
        &self,
        request: Request<pb::ListClaimEventsRequest>,
    ) -> Result<Response<pb::ListClaimEventsResponse>, Status> {
        let r = request.into_inner();
        rpc("ListClaimEvents", &r.name, async {
            let id = convert::claim_id(&r.name)?;
            let limit = convert::page_size(r.page_size)?;
            let after = convert::events_after(id, &r.page_token)?;
            let page = self.desk.events(id, after, limit).await?;
            let events: Vec<_> = page.items.into_iter().map(convert::event_to_pb).collect();
            let (events, cut) = fit_page(events, self.max_response_bytes);
            let next_page_token = match (page.more || cut, events.last()) {
                (true, Some(last)) => convert::events_page_token(id, last.revision),
                _ => String::new(),
            };
            Ok(pb::ListClaimEventsResponse {
                events,
                next_page_token,
            })
        })
        .await
    }

    async fn take_next_claim(
        &self,
        request: Request<pb::TakeNextClaimRequest>,
    ) -> Result<Response<pb::Claim>, Status> {
        let actor = identity::caller(&request);
        let r = request.into_inner();
        rpc("TakeNextClaim", "", async {
            let query = convert::queue_query(&r)?;
            let claim = convert::claim_to_pb(self.desk.take_next(query, actor?).await?);
            tracing::Span::current().record("claim", claim.name.as_str());
            Ok(claim)
        })
        .await
    }

    async fn renew_lease(
        &self,
        request: Request<pb::RenewLeaseRequest>,
    ) -> Result<Response<pb::Claim>, Status> {
        let actor = identity::caller(&request);
        let r = request.into_inner();
        rpc("RenewLease", &r.name, async {
            self.change(&r.name, r.etag.clone(), actor, || Ok(Command::RenewLease))
                .await
        })
        .await
    }

    async fn get_queue_stats(
        &self,
        request: Request<pb::GetQueueStatsRequest>,
    ) -> Result<Response<pb::QueueStats>, Status> {
        let r = request.into_inner();
        rpc("GetQueueStats", "", async {
            let story = convert::stats_story(&r)?;
            let counts = self.desk.queue_stats(story.clone()).await?;
            Ok(convert::queue_stats_to_pb(story, counts, self.desk.now()))
        })
        .await
    }

    type WatchClaimEventsStream =
        Pin<Box<dyn Stream<Item = Result<pb::ClaimEvent, Status>> + Send + 'static>>;

    async fn watch_claim_events(
        &self,
        request: Request<pb::WatchClaimEventsRequest>,
    ) -> Result<Response<Self::WatchClaimEventsStream>, Status> {
        // A watch outlives the check of its token: it ends when the token
        // is revoked.
        let revoked = identity::revoked(&request);
        let r = request.into_inner();
        rpc("WatchClaimEvents", "", async {
            let filter = convert::event_filter(&r)?;
            let events = self.desk.watch_until(r.after_revision, filter, revoked)?;
            let stream = events.map(|item| {
                item.map(convert::event_to_pb).map_err(|e| {
                    tracing::info!(error = %e, "watch ended");
                    Status::from(e)
                })
            });
            Ok(Box::pin(stream) as Self::WatchClaimEventsStream)
        })
        .await
    }

    type BackupDeskStream =
        Pin<Box<dyn Stream<Item = Result<pb::BackupDeskResponse, Status>> + Send + 'static>>;

    async fn backup_desk(
        &self,
        _request: Request<pb::BackupDeskRequest>,
    ) -> Result<Response<Self::BackupDeskStream>, Status> {
        rpc("BackupDesk", "", async {
            let stream = self.desk.backup()?.map(|piece| {
                piece
                    .map(|data| pb::BackupDeskResponse { data })
                    .map_err(Status::from)
            });
            Ok(Box::pin(stream) as Self::BackupDeskStream)
        })
        .await
    }

    async fn reassign_claim(
        &self,
        request: Request<pb::ReassignClaimRequest>,
    ) -> Result<Response<pb::Claim>, Status> {
        let actor = identity::caller(&request);
        let r = request.into_inner();
        rpc("ReassignClaim", &r.name, async {
            self.change(&r.name, r.etag.clone(), actor, || {
                let to = UserName::parse(&r.assignee)
                    .and_then(|to| self.authentication.check_reviewer(&to).map(|()| to))
                    .map_err(|Invalid(d)| Error::invalid("assignee", d))?;
                Ok(self
                    .desk
                    .reassign_command(to, convert::note("note", &r.note)?))
            })
            .await
        })
        .await
    }

    async fn link_claims(
        &self,
        request: Request<pb::LinkClaimsRequest>,
    ) -> Result<Response<pb::Claim>, Status> {
        let actor = identity::caller(&request);
        let r = request.into_inner();
        rpc("LinkClaims", &r.name, async {
            let link = links::link_request(&r)?;
            let claim = self
                .desk
                .link(
                    link.id,
                    link.other,
                    link.relation,
                    link.note,
                    actor?,
                    r.etag.clone(),
                )
                .await?;
            Ok(convert::claim_to_pb(claim))
        })
        .await
    }

    async fn resolve_link(
        &self,
        request: Request<pb::ResolveLinkRequest>,
    ) -> Result<Response<pb::Claim>, Status> {
        let actor = identity::caller(&request);
        let r = request.into_inner();
        // The span names the claim (the link name starts with it).
        let claim = r.name.split(links::LINK_COLLECTION).next().unwrap_or("");
        rpc("ResolveLink", claim, async {
            let resolve = links::resolve_request(&r)?;
            let claim = self
                .desk
                .resolve_link(
                    resolve.id,
                    resolve.link,
                    resolve.status,
                    resolve.note,
                    actor?,
                    r.etag.clone(),
                )
                .await?;
            Ok(convert::claim_to_pb(claim))
        })
        .await
    }

    async fn list_conflicts(
        &self,
        request: Request<pb::ListConflictsRequest>,
    ) -> Result<Response<pb::ListConflictsResponse>, Status> {
        let r = request.into_inner();
        rpc("ListConflicts", "", async {
            let story = links::conflicts_story(&r)?;
            let limit = convert::page_size(r.page_size)?.min(links::MAX_CONFLICTS_PAGE);
            let after = convert::conflicts_after(&story, &r.page_token)?;
            let page = self.desk.conflicts(story.clone(), after, limit).await?;
            let ids: Vec<_> = page.items.iter().map(|c| c.link.id).collect();
            let conflicts: Vec<_> = page.items.into_iter().map(links::conflict_to_pb).collect();
            let (conflicts, cut) = fit_page(conflicts, self.max_response_bytes);
            let next_page_token = match (page.more || cut, conflicts.len()) {
                (true, sent @ 1..) => convert::conflicts_page_token(&story, ids[sent - 1]),
                _ => String::new(),
            };
            Ok(pb::ListConflictsResponse {
                conflicts,
                next_page_token,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(n: usize, statement_bytes: usize) -> Vec<pb::Claim> {
        (0..n)
            .map(|_| pb::Claim {
                statement: "x".repeat(statement_bytes),
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn a_page_within_the_limit_is_kept_whole() {
        let (page, cut) = fit_page(claims(10, 100), 16 * 1024);
        assert_eq!((page.len(), cut), (10, false));
    }

    #[test]
    fn a_page_is_cut_before_its_answer_passes_the_limit() {
        // Each entry: 1 tag + 2 length + (1 tag + 2 length + 1,000) bytes.
        let (page, cut) = fit_page(claims(10, 1_000), 1024 + 3 * 1_006);
        assert_eq!((page.len(), cut), (3, true));
        let (page, cut) = fit_page(claims(10, 1_000), 1024 + 3 * 1_006 - 1);
        assert_eq!((page.len(), cut), (2, true));
    }

    #[test]
    fn an_entry_larger_than_the_limit_is_still_sent_alone() {
        let (page, cut) = fit_page(claims(3, 5_000), 2_048);
        assert_eq!((page.len(), cut), (1, true));
        let (page, cut) = fit_page(Vec::<pb::Claim>::new(), 2_048);
        assert_eq!((page.len(), cut), (0, false));
    }
}
