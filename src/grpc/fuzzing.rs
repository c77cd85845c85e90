//! Arbitrary bytes as a request of `claimdesk.v1.ClaimService`, in process:
//! decoded by the service's own codec ([`super::codec`]), then handed to the
//! handler of [`ClaimServiceImpl`] over a [`Desk`] over a [`SledStore`], as
//! a call that passed the gate would be. The fuzz target `requests` and the
//! corpus test of [`crate::fuzzing`] run it.
//!
//! The first byte picks the RPC (its remainder by [`RPCS`]`.len()`, in the
//! order of the proto) and the caller's role (the quotient, modulo 3:
//! editor, checker, chief); the rest is the request message. What must hold
//! for every input: no panic, and every error a status with an `ErrorInfo`
//! of the service's domain, never INTERNAL nor UNKNOWN (those are for a
//! failing disk or a bug, and neither happens here).
//!
//! One runtime and one store serve the whole process (building them costs
//! far more than a call). The store starts with [`CLAIMS`], whose names the
//! seeds use; every call may change it, so an input's answer depends on the
//! ones before it (a crash found is replayed with the corpus that led to it
//! if it does not show alone).

use std::{
    path::Path,
    sync::{Arc, LazyLock},
    time::{Duration, SystemTime},
};

use tempfile::TempDir;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt as _;

use super::{
    ClaimServiceImpl, codec, convert,
    identity::Authentication,
    pb::{self, claim_service_server::ClaimService as _},
    status::ERROR_DOMAIN,
};
use crate::{
    desk::{Desk, DeskConfig},
    domain::{
        Actor, Attribution, Claim, ClaimId, NewClaim, Priority, Role, Slug, SourceName, Statement,
        UserName,
    },
    storage::{SledStore, Store as _, StoreConfig},
    testing::TEST_CACHE_BYTES,
};

/// The RPCs of `claimdesk.v1.ClaimService`, in the order of the proto: the
/// first byte of an input picks one.
pub const RPCS: [&str; 21] = [
    "SubmitClaim",
    "GetClaim",
    "ListClaims",
    "StartReview",
    "ReleaseClaim",
    "AddEvidence",
    "VerifyClaim",
    "DisputeClaim",
    "MarkClaimInconclusive",
    "ReopenClaim",
    "WithdrawClaim",
    "ListClaimEvents",
    "TakeNextClaim",
    "RenewLease",
    "GetQueueStats",
    "WatchClaimEvents",
    "ReassignClaim",
    "LinkClaims",
    "ResolveLink",
    "ListConflicts",
    "BackupDesk",
];

/// The roles a caller may have, picked by the first byte's quotient.
const ROLES: [Role; 3] = [Role::Editor, Role::Checker, Role::Chief];

/// The largest request message tried, in bytes: larger inputs are cut. A
/// request's work is bounded by its size; the fuzzer looks for what breaks,
/// not for what is slow.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The story of the claims the store starts with.
pub const STORY: &str = "harbour-strike";

/// The claims the store starts with: statement, source, tag.
pub const CLAIMS: [(&str, &str, &str); 4] = [
    (
        "About 2,000 ferry crew stayed away from work on Monday",
        "Coastal Times",
        "transport",
    ),
    (
        "Fewer than 500 ferry crew stayed away from work on Monday",
        "Port Authority",
        "transport",
    ),
    (
        "The terminal road closed at noon",
        "Harbour Gazette",
        "roads",
    ),
    (
        "Two ships were diverted to Kelmar",
        "Kelmar Ferries",
        "transport",
    ),
];

/// When the claims of [`CLAIMS`] were submitted (2026-01-01), which also
/// dates their ids.
const SUBMITTED_SECS: u64 = 1_767_225_600;

/// The name of claim `n` of [`CLAIMS`] (`claims/…`).
pub fn claim_name(n: usize) -> String {
    convert::claim_name(claim_id(n))
}

fn claim_id(n: usize) -> ClaimId {
    ClaimId::from_ulid(ulid::Ulid::from_parts(
        SUBMITTED_SECS * 1000,
        u128::try_from(n).unwrap_or(0) + 1,
    ))
}

/// The caller every input's first byte names.
const CALLER: &str = "fuzz.caller";

/// The runtime, store and service every input goes through.
struct Harness {
    runtime: tokio::runtime::Runtime,
    service: ClaimServiceImpl,
    /// The store's directory, kept as long as the process.
    _dir: TempDir,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(Harness::start);

impl Harness {
    fn start() -> Self {
        // On tmpfs where there is one: its fsync costs nothing, and every
        // change waits for one.
        let shm = Path::new("/dev/shm");
        let parent = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        remove_stores_of_ended_processes(&parent);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{STORE_PREFIX}{}.", std::process::id()))
            .tempdir_in(&parent)
            .expect("a temporary directory for the store");
        let store = SledStore::open(&StoreConfig {
            cache_capacity: TEST_CACHE_BYTES,
            ..StoreConfig::new(dir.path().join("data"))
        })
        .expect("a new store opens");
        store
            .import(initial_claims())
            .expect("the initial claims are imported");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let service = {
            let _entered = runtime.enter();
            let desk = Desk::new(Arc::new(store), DeskConfig::default());
            ClaimServiceImpl::new(desk, Authentication::Open)
        };
        Self {
            runtime,
            service,
            _dir: dir,
        }
    }
}

/// The start of the names of the stores' directories, followed by the
/// process id and a dot.
const STORE_PREFIX: &str = "claimdesk-fuzz.";

/// Removes the stores left in `parent` by processes that have ended: the
/// store lives as long as its process, whose end (a fuzzer's exit, a
/// finished test binary) drops no static.
fn remove_stores_of_ended_processes(parent: &Path) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        // No way to tell which processes run.
        return;
    }
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(STORE_PREFIX))
            .and_then(|rest| rest.split_once('.'))
            .map(|(pid, _)| pid)
            .filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if !proc.join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn initial_claims() -> Vec<Claim> {
    let submitted = SystemTime::UNIX_EPOCH + Duration::from_secs(SUBMITTED_SECS);
    let by = UserName::parse("ed.morgan").expect("a valid name");
    CLAIMS
        .iter()
        .enumerate()
        .map(|(n, (statement, source, tag))| {
            let new = NewClaim {
                statement: Statement::parse(statement).expect("a valid statement"),
                attribution: Attribution {
                    source: SourceName::parse(source).expect("a valid source"),
                    relayed_from: Vec::new(),
                    url: None,
                },
                story: Slug::parse(STORY).expect("a valid story"),
                tags: vec![Slug::parse(tag).expect("a valid tag")],
                priority: Priority::Urgent,
                deadline: None,
            };
            Claim::submitted(claim_id(n), new, by.clone(), submitted)
        })
        .collect()
}

/// Decodes `bytes` as a `$request` with the service's codec and calls
/// `$method` as `$actor`; the answer itself is dropped (a watch's stream
/// too).
macro_rules! call {
    ($service:expr, $bytes:expr, $actor:expr, $method:ident, $request:ty) => {
        match codec::decode_request::<$request>($bytes) {
            Err(e) => Err(Status::from(e)),
            Ok(message) => {
                let mut request = Request::new(message);
                request.extensions_mut().insert($actor);
                $service.$method(request).await.map(drop)
            }
        }
    };
}

/// Runs one input (see the [module documentation](self)). Panics if what
/// must hold does not.
pub fn request(input: &[u8]) {
    let Some((&pick, message)) = input.split_first() else {
        return;
    };
    let message = &message[..message.len().min(MAX_REQUEST_BYTES)];
    let rpc = usize::from(pick) % RPCS.len();
    let role = ROLES[usize::from(pick) / RPCS.len() % ROLES.len()];
    let actor = Actor::new(UserName::parse(CALLER).expect("a valid name"), role);
    let harness = &*HARNESS;
    let result = harness
        .runtime
        .block_on(call(&harness.service, rpc, message, actor));
    if let Err(status) = result {
        check_status(RPCS[rpc], &status);
    }
}

async fn call(
    service: &ClaimServiceImpl,
    rpc: usize,
    message: &[u8],
    actor: Actor,
) -> Result<(), Status> {
    match rpc {
        0 => call!(
            service,
            message,
            actor,
            submit_claim,
            pb::SubmitClaimRequest
        ),
        1 => call!(service, message, actor, get_claim, pb::GetClaimRequest),
        2 => call!(service, message, actor, list_claims, pb::ListClaimsRequest),
        3 => call!(
            service,
            message,
            actor,
            start_review,
            pb::StartReviewRequest
        ),
        4 => call!(
            service,
            message,
            actor,
            release_claim,
            pb::ReleaseClaimRequest
        ),
        5 => call!(
            service,
            message,
            actor,
            add_evidence,
            pb::AddEvidenceRequest
        ),
        6 => call!(
            service,
            message,
            actor,
            verify_claim,
            pb::VerifyClaimRequest
        ),
        7 => call!(
            service,
            message,
            actor,
            dispute_claim,
            pb::DisputeClaimRequest
        ),
        8 => call!(
            service,
            message,
            actor,
            mark_claim_inconclusive,
            pb::MarkClaimInconclusiveRequest
        ),
        9 => call!(
            service,
            message,
            actor,
            reopen_claim,
            pb::ReopenClaimRequest
        ),
        10 => call!(
            service,
            message,
            actor,
            withdraw_claim,
            pb::WithdrawClaimRequest
        ),
        11 => call!(
            service,
            message,
            actor,
            list_claim_events,
            pb::ListClaimEventsRequest
        ),
        12 => call!(
            service,
            message,
            actor,
            take_next_claim,
            pb::TakeNextClaimRequest
        ),
        13 => call!(service, message, actor, renew_lease, pb::RenewLeaseRequest),
        14 => call!(
            service,
            message,
            actor,
            get_queue_stats,
            pb::GetQueueStatsRequest
        ),
        15 => call!(
            service,
            message,
            actor,
            watch_claim_events,
            pb::WatchClaimEventsRequest
        ),
        16 => call!(
            service,
            message,
            actor,
            reassign_claim,
            pb::ReassignClaimRequest
        ),
        17 => call!(service, message, actor, link_claims, pb::LinkClaimsRequest),
        18 => call!(
            service,
            message,
            actor,
            resolve_link,
            pb::ResolveLinkRequest
        ),
        19 => call!(
            service,
            message,
            actor,
            list_conflicts,
            pb::ListConflictsRequest
        ),
        20 => call!(service, message, actor, backup_desk, pb::BackupDeskRequest),
        _ => unreachable!("a remainder by RPCS.len()"),
    }
}

/// Panics unless `status` is an error of the service: a code other than
/// INTERNAL or UNKNOWN, and an `ErrorInfo` of its domain with an
/// UPPER_SNAKE reason.
fn check_status(rpc: &str, status: &Status) {
    assert!(
        !matches!(status.code(), Code::Ok | Code::Internal | Code::Unknown),
        "{rpc} answered {:?}: {}",
        status.code(),
        status.message()
    );
    let details = status.get_error_details();
    let info = details.error_info().unwrap_or_else(|| {
        panic!(
            "{rpc} answered {:?} without an ErrorInfo: {}",
            status.code(),
            status.message()
        )
    });
    assert_eq!(info.domain, ERROR_DOMAIN, "{rpc}: {info:?}");
    assert!(
        !info.reason.is_empty()
            && info
                .reason
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
        "{rpc}: the reason {:?} is not UPPER_SNAKE",
        info.reason
    );
}

/// A valid request of every RPC, in the order of [`RPCS`], each with the
/// first byte that picks it for a chief: the seeds of the `requests`
/// corpus.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    use prost::Message as _;
    use prost_types::Timestamp;

    let claim = |n: usize| claim_name(n);
    let story = || STORY.to_owned();
    let messages: [Vec<u8>; 21] = [
        pb::SubmitClaimRequest {
            claim: Some(pb::Claim {
                statement: "Nearly 1,900 ferry crew stayed away from work on Monday".into(),
                attribution: Some(pb::Attribution {
                    source: "Harbour Gazette".into(),
                    relayed_from: vec!["the seafarers' union".into()],
                    url: "https://gazette.example/ferry".into(),
                }),
                story: story(),
                tags: vec!["transport".into()],
                priority: pb::claim::Priority::Breaking.into(),
                deadline: Some(Timestamp {
                    seconds: 4_102_444_800,
                    nanos: 0,
                }),
                ..Default::default()
            }),
            request_id: "fuzz-seed-1".into(),
        }
        .encode_to_vec(),
        pb::GetClaimRequest { name: claim(0) }.encode_to_vec(),
        pb::ListClaimsRequest {
            story: story(),
            state: pb::claim::State::Unverified.into(),
            source: "Coastal Times".into(),
            page_size: 2,
            ..Default::default()
        }
        .encode_to_vec(),
        pb::StartReviewRequest {
            name: claim(2),
            etag: "1".into(),
        }
        .encode_to_vec(),
        pb::ReleaseClaimRequest {
            name: claim(2),
            etag: String::new(),
            note: "Back to the queue".into(),
        }
        .encode_to_vec(),
        pb::AddEvidenceRequest {
            name: claim(0),
            evidence: Some(pb::Evidence {
                url: "https://port.example/rosters".into(),
                summary: "Shift rosters show 2,050 crew absent on Monday".into(),
                source: "Port Authority".into(),
                stance: pb::evidence::Stance::Supports.into(),
                ..Default::default()
            }),
            etag: String::new(),
        }
        .encode_to_vec(),
        pb::VerifyClaimRequest {
            name: claim(0),
            note: "Rosters seen by our reporter".into(),
            etag: String::new(),
            acknowledge_contradictions: true,
        }
        .encode_to_vec(),
        pb::DisputeClaimRequest {
            name: claim(1),
            note: "The rosters say otherwise".into(),
            etag: String::new(),
        }
        .encode_to_vec(),
        pb::MarkClaimInconclusiveRequest {
            name: claim(2),
            note: "No one would confirm it".into(),
            etag: String::new(),
        }
        .encode_to_vec(),
        pb::ReopenClaimRequest {
            name: claim(0),
            reason: "New rosters came in".into(),
            etag: String::new(),
        }
        .encode_to_vec(),
        pb::WithdrawClaimRequest {
            name: claim(3),
            reason: "Cut from the story".into(),
            etag: String::new(),
        }
        .encode_to_vec(),
        pb::ListClaimEventsRequest {
            name: claim(0),
            page_size: 10,
            page_token: String::new(),
        }
        .encode_to_vec(),
        pb::TakeNextClaimRequest {
            story: story(),
            tags: vec!["transport".into()],
        }
        .encode_to_vec(),
        pb::RenewLeaseRequest {
            name: claim(0),
            etag: String::new(),
        }
        .encode_to_vec(),
        pb::GetQueueStatsRequest { story: story() }.encode_to_vec(),
        pb::WatchClaimEventsRequest {
            after_revision: 0,
            story: story(),
            states: vec![pb::claim::State::Verified.into()],
        }
        .encode_to_vec(),
        pb::ReassignClaimRequest {
            name: claim(0),
            assignee: "kim.checker".into(),
            etag: String::new(),
            note: "Kim knows the port".into(),
        }
        .encode_to_vec(),
        pb::LinkClaimsRequest {
            name: claim(0),
            other: claim(1),
            relation: pb::claim_link::Relation::Contradicts.into(),
            note: "Two counts of the same crews".into(),
            etag: String::new(),
        }
        .encode_to_vec(),
        pb::ResolveLinkRequest {
            name: format!("{}{}1", claim(0), super::links::LINK_COLLECTION),
            status: pb::claim_link::Status::Confirmed.into(),
            note: "Checked both counts".into(),
            etag: String::new(),
        }
        .encode_to_vec(),
        pb::ListConflictsRequest {
            story: story(),
            page_size: 10,
            page_token: String::new(),
        }
        .encode_to_vec(),
        pb::BackupDeskRequest {}.encode_to_vec(),
    ];
    let chief = ROLES
        .iter()
        .position(|r| *r == Role::Chief)
        .expect("listed");
    RPCS.iter()
        .zip(messages)
        .enumerate()
        .map(|(n, (rpc, message))| {
            let pick = u8::try_from(chief * RPCS.len() + n).expect("below 256");
            let mut input = vec![pick];
            input.extend(message);
            (*rpc, input)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order of [`RPCS`] is the proto's, which the served descriptors
    /// keep.
    #[test]
    fn the_rpcs_are_those_of_the_service_in_the_order_of_the_proto() {
        let served: Vec<String> = super::super::served_methods()
            .into_iter()
            .filter_map(|m| {
                m.path
                    .strip_prefix("/claimdesk.v1.ClaimService/")
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(served, RPCS);
    }
}
