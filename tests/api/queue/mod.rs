//! The leased queue: TakeNextClaim (order, filters, no claim handed out
//! twice), review leases (StartReview, RenewLease, renewal by acting, expiry
//! under paused time and through the real sweeper) and GetQueueStats.
//!
//! Every story, source and statement here is made up.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use claimdesk::{
    desk::{Desk, DeskConfig, EventFilter},
    domain::{
        self, Actor, ClaimId, Command, DomainError, Note, Role, Slug, SourceName, Statement,
        UserName,
    },
    error::{Error, StorageError},
    pb::{self, Attribution, Claim, claim, claim_event, evidence},
    storage::{QueueCounts, QueueQuery},
};
use tempfile::TempDir;
use tokio::{sync::Notify, task::JoinSet};
use tonic::{Code, Status};

use crate::helpers::*;
use crate::intercept::{Call, Intercept, Intercepted};

mod desk;
mod leases;
mod stats;
mod taking;

/// The lease of a server started with the default desk configuration.
const LEASE: Duration = DeskConfig::DEFAULT_LEASE;
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(60 * 60);

const FERRY_STORY: &str = "lakeside-ferry";
const FERRY_SOURCE: &str = "Lakeside Herald";
/// A story whose slug starts with another story's slug (`harbour-strike`,
/// see the helpers): filters must not mix the two.
const HARBOUR_ONLY_STORY: &str = "harbour";

/// States in the order [`state_counts`] reports them.
const STATES: [claim::State; 6] = [
    claim::State::Unverified,
    claim::State::InReview,
    claim::State::Verified,
    claim::State::Disputed,
    claim::State::Inconclusive,
    claim::State::Withdrawn,
];

/// Priorities in the order [`waiting_counts`] reports them.
const PRIORITIES: [claim::Priority; 3] = [
    claim::Priority::Breaking,
    claim::Priority::Urgent,
    claim::Priority::Routine,
];

// ---------------------------------------------------------------------------
// Helpers of this module.

/// A timestamp of the API as a `SystemTime`.
#[track_caller]
fn time(ts: &Option<prost_types::Timestamp>) -> SystemTime {
    let ts = ts.expect("the timestamp is set");
    SystemTime::try_from(ts).expect("a representable timestamp")
}

/// When the claim's lease runs out.
#[track_caller]
fn lease_of(claim: &Claim) -> SystemTime {
    assert!(
        claim.lease_expire_time.is_some(),
        "{} has a lease_expire_time: {claim:?}",
        claim.name
    );
    time(&claim.lease_expire_time)
}

/// A claim of `story` with the given priority, deadline and tags.
fn queue_claim(
    story: &str,
    statement: &str,
    priority: claim::Priority,
    deadline: Option<SystemTime>,
    tags: &[&str],
) -> Claim {
    Claim {
        statement: statement.to_owned(),
        attribution: Some(Attribution {
            source: FERRY_SOURCE.to_owned(),
            relayed_from: Vec::new(),
            url: String::new(),
        }),
        story: story.to_owned(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        priority: priority.into(),
        deadline: deadline.map(prost_types::Timestamp::from),
        ..Default::default()
    }
}

/// A routine claim of `story` without deadline or tags.
fn plain_claim(story: &str, statement: &str) -> Claim {
    queue_claim(story, statement, claim::Priority::Routine, None, &[])
}

/// Submits, as an editor, a routine claim of the ferry story without
/// deadline or tags.
async fn submit_ferry(client: &mut Client, statement: &str) -> Claim {
    submit(client, "editor-ines", plain_claim(FERRY_STORY, statement)).await
}

/// Submits, as an editor, a claim of `story` without tags.
async fn submit_queued(
    client: &mut Client,
    story: &str,
    statement: &str,
    priority: claim::Priority,
    deadline: Option<SystemTime>,
) -> Claim {
    submit(
        client,
        "editor-ines",
        queue_claim(story, statement, priority, deadline, &[]),
    )
    .await
}

/// Submits, as an editor, a claim of `story` with `tags` and no deadline.
async fn submit_tagged(
    client: &mut Client,
    story: &str,
    statement: &str,
    priority: claim::Priority,
    tags: &[&str],
) -> Claim {
    submit(
        client,
        "editor-ines",
        queue_claim(story, statement, priority, None, tags),
    )
    .await
}

/// TakeNextClaim as `user`, with an optional story ("" for none) and tags.
async fn take_next(
    client: &mut Client,
    user: &str,
    story: &str,
    tags: &[&str],
) -> Result<Claim, Status> {
    client
        .take_next_claim(as_user(
            pb::TakeNextClaimRequest {
                story: story.to_owned(),
                tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            },
            user,
        ))
        .await
        .map(tonic::Response::into_inner)
}

/// TakeNextClaim without filters, expected to hand out a claim.
async fn take(client: &mut Client, user: &str) -> Claim {
    take_next(client, user, "", &[])
        .await
        .expect("TakeNextClaim hands out a claim")
}

/// Checks that `result` is NOT_FOUND with reason QUEUE_EMPTY.
#[track_caller]
fn expect_queue_empty(result: Result<Claim, Status>) {
    let (status, _) = expect_error(result, Code::NotFound, "QUEUE_EMPTY");
    assert!(
        !status.message().is_empty(),
        "{status:?} says that nothing waits"
    );
}

async fn renew_lease(
    client: &mut Client,
    user: &str,
    name: &str,
    etag: &str,
) -> Result<Claim, Status> {
    client
        .renew_lease(as_user(
            pb::RenewLeaseRequest {
                name: name.to_owned(),
                etag: etag.to_owned(),
            },
            user,
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn release(client: &mut Client, user: &str, name: &str) -> Claim {
    client
        .release_claim(as_user(
            pb::ReleaseClaimRequest {
                name: name.to_owned(),
                note: "handing this back".to_owned(),
                etag: String::new(),
            },
            user,
        ))
        .await
        .expect("ReleaseClaim succeeds")
        .into_inner()
}

async fn mark_inconclusive(client: &mut Client, user: &str, name: &str) -> Claim {
    client
        .mark_claim_inconclusive(as_user(
            pb::MarkClaimInconclusiveRequest {
                name: name.to_owned(),
                note: "nobody else was on the pier".to_owned(),
                etag: String::new(),
            },
            user,
        ))
        .await
        .expect("MarkClaimInconclusive succeeds")
        .into_inner()
}

/// The note of the claims these tests dispute.
const DISPUTE_NOTE: &str = "the harbour master's log contradicts it";

/// The reason the claims these tests reopen are reopened for.
const REOPEN_REASON: &str = "a second log book turned up";

/// Evidence that independently supports a claim attributed to the
/// Lakeside Herald.
fn supporting() -> pb::Evidence {
    evidence(
        "Lake Transport Authority",
        evidence::Stance::Supports,
        "The authority's passenger count matches.",
    )
}

fn refuting() -> pb::Evidence {
    evidence(
        "Harbour Master's Office",
        evidence::Stance::Refutes,
        "The harbour log shows no sailing that day.",
    )
}

async fn queue_stats(client: &mut Client, story: &str) -> pb::QueueStats {
    client
        .get_queue_stats(pb::GetQueueStatsRequest {
            story: story.to_owned(),
        })
        .await
        .expect("GetQueueStats succeeds")
        .into_inner()
}

/// The counts per state, in the order of [`STATES`]; checks that every
/// state is counted exactly once.
#[track_caller]
fn state_counts(stats: &pb::QueueStats) -> [i64; 6] {
    ordered_counts(stats, &stats.state_counts, &STATES, "state", |e| {
        (e.state, e.count)
    })
}

/// The waiting counts per priority, in the order of [`PRIORITIES`]; checks
/// that every priority is counted exactly once.
#[track_caller]
fn waiting_counts(stats: &pb::QueueStats) -> [i64; 3] {
    ordered_counts(stats, &stats.waiting_counts, &PRIORITIES, "priority", |e| {
        (e.priority, e.count)
    })
}

/// The counts of `entries` (each a key of `order` and a count, as `split`
/// tells), in the order of `order`; checks that every key of `order` is
/// counted exactly once. `kind` names a key in messages.
#[track_caller]
fn ordered_counts<E: std::fmt::Debug, K: Copy + std::fmt::Debug + Into<i32>, const N: usize>(
    stats: &pb::QueueStats,
    entries: &[E],
    order: &[K; N],
    kind: &str,
    split: impl Fn(&E) -> (i32, i64),
) -> [i64; N] {
    let mut counts = [None; N];
    for entry in entries {
        let (key, count) = split(entry);
        let i = order
            .iter()
            .position(|k| (*k).into() == key)
            .unwrap_or_else(|| panic!("{entry:?} of {stats:?} names a {kind}"));
        assert!(
            counts[i].is_none(),
            "{:?} is counted once in {stats:?}",
            order[i]
        );
        counts[i] = Some(count);
    }
    for (i, count) in counts.iter().enumerate() {
        assert!(count.is_some(), "{:?} is counted in {stats:?}", order[i]);
    }
    counts.map(Option::unwrap_or_default)
}

/// Checks every field of `stats`: the story it is for, the counts per
/// state (see [`STATES`]) and per waiting priority (see [`PRIORITIES`]),
/// the oldest waiting claim (its submission time, and an age exactly when
/// one waits) and the overdue count.
#[track_caller]
fn assert_stats(
    stats: &pb::QueueStats,
    story: &str,
    states: [i64; 6],
    waiting: [i64; 3],
    oldest_waiting: Option<&Claim>,
    overdue: i64,
) {
    assert_eq!(stats.story, story, "story of {stats:?}");
    assert_eq!(state_counts(stats), states, "claims per state of {stats:?}");
    assert_eq!(
        waiting_counts(stats),
        waiting,
        "waiting claims per priority (breaking, urgent, routine) of {stats:?}"
    );
    match oldest_waiting {
        Some(oldest) => {
            assert_eq!(
                stats.oldest_waiting_submit_time, oldest.create_time,
                "the oldest waiting claim is {} in {stats:?}",
                oldest.name
            );
            let age = stats
                .oldest_waiting_age
                .unwrap_or_else(|| panic!("{stats:?} has an oldest_waiting_age"));
            assert!(
                age.seconds >= 0 && age.nanos >= 0 && (age.seconds > 0 || age.nanos > 0),
                "the oldest waiting claim has waited a while: {age:?}"
            );
        }
        None => {
            assert_eq!(
                stats.oldest_waiting_submit_time, None,
                "nothing waits in {stats:?}"
            );
            assert_eq!(stats.oldest_waiting_age, None, "nothing waits in {stats:?}");
        }
    }
    assert_eq!(stats.overdue_count, overdue, "overdue claims of {stats:?}");
}

/// The waiting age as a `Duration`.
#[track_caller]
fn age(stats: &pb::QueueStats) -> Duration {
    let age = stats.oldest_waiting_age.expect("an oldest_waiting_age");
    Duration::try_from(age).expect("a non-negative age")
}

/// An unfiltered WatchClaimEvents from the first revision on.
async fn watch_from_start(client: &mut Client) -> tonic::Streaming<pb::ClaimEvent> {
    client
        .watch_claim_events(pb::WatchClaimEventsRequest {
            after_revision: 0,
            ..Default::default()
        })
        .await
        .expect("WatchClaimEvents starts")
        .into_inner()
}

/// Reads `stream` until an event of `type` arrives (at most 20 s); returns
/// it with every event read before it.
async fn wait_for_event(
    stream: &mut tonic::Streaming<pb::ClaimEvent>,
    r#type: claim_event::Type,
) -> (pb::ClaimEvent, Vec<pb::ClaimEvent>) {
    let read = async {
        let mut before = Vec::new();
        loop {
            let event = stream
                .message()
                .await
                .expect("the event stream does not fail")
                .expect("the event stream stays open");
            if event.r#type() == r#type {
                return (event, before);
            }
            before.push(event);
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .unwrap_or_else(|_| panic!("an event of type {type:?} arrives within 20 s"))
}
