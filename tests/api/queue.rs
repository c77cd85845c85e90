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
    storage::{Change, QueueCounts, QueueQuery, Store},
};
use tempfile::TempDir;
use tokio::{sync::Notify, task::JoinSet};
use tonic::{Code, Status};

use crate::helpers::*;
use crate::intercept::{Intercept, Intercepted};

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
    let mut counts = [None; 6];
    for entry in &stats.state_counts {
        let i = STATES
            .iter()
            .position(|s| *s as i32 == entry.state)
            .unwrap_or_else(|| panic!("{entry:?} of {stats:?} names a state"));
        assert!(
            counts[i].is_none(),
            "{:?} is counted once in {stats:?}",
            STATES[i]
        );
        counts[i] = Some(entry.count);
    }
    for (i, count) in counts.iter().enumerate() {
        assert!(count.is_some(), "{:?} is counted in {stats:?}", STATES[i]);
    }
    counts.map(Option::unwrap_or_default)
}

/// The waiting counts per priority, in the order of [`PRIORITIES`]; checks
/// that every priority is counted exactly once.
#[track_caller]
fn waiting_counts(stats: &pb::QueueStats) -> [i64; 3] {
    let mut counts = [None; 3];
    for entry in &stats.waiting_counts {
        let i = PRIORITIES
            .iter()
            .position(|p| *p as i32 == entry.priority)
            .unwrap_or_else(|| panic!("{entry:?} of {stats:?} names a priority"));
        assert!(
            counts[i].is_none(),
            "{:?} is counted once in {stats:?}",
            PRIORITIES[i]
        );
        counts[i] = Some(entry.count);
    }
    for (i, count) in counts.iter().enumerate() {
        assert!(
            count.is_some(),
            "{:?} is counted in {stats:?}",
            PRIORITIES[i]
        );
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

// ---------------------------------------------------------------------------
// 1. No claim is handed out twice.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_checkers_taking_from_a_thousand_claims_get_every_claim_exactly_once() {
    const CLAIMS: usize = 1_000;
    const SUBMITTERS: usize = 50;
    const CHECKERS: usize = 8;
    let server = TestServer::spawn().await;
    let started = Instant::now();

    // Submitted concurrently; a fifth of them carry (distinct) deadlines.
    let deadline_base = SystemTime::now() + 24 * HOUR;
    let client = server.client().await;
    let mut submitters = JoinSet::new();
    for first in 0..SUBMITTERS {
        let mut client = client.clone();
        submitters.spawn(async move {
            let mut names = Vec::new();
            for n in (first..CLAIMS).step_by(SUBMITTERS) {
                let priority = PRIORITIES[n % 3];
                let deadline = (n % 5 == 0).then(|| deadline_base + (n as u32) * MINUTE);
                let claim = queue_claim(
                    "river-flood",
                    &format!("Sandbag wall number {n} held overnight at the mill bridge"),
                    priority,
                    deadline,
                    &[],
                );
                names.push(submit(&mut client, "editor-ines", claim).await.name);
            }
            names
        });
    }
    let mut submitted = HashSet::new();
    while let Some(names) = submitters.join_next().await {
        submitted.extend(names.expect("a submitter does not panic"));
    }
    assert_eq!(submitted.len(), CLAIMS, "every submission made a new claim");
    let submitted_after = started.elapsed();

    // Each checker on a connection of its own, until the queue is empty.
    let mut checkers = JoinSet::new();
    for c in 0..CHECKERS {
        let user = format!("checker-{c}");
        let mut client = server.client().await;
        checkers.spawn(async move {
            let mut taken = Vec::new();
            loop {
                match take_next(&mut client, &user, "", &[]).await {
                    Ok(claim) => taken.push(claim),
                    Err(status) => {
                        expect_queue_empty(Err(status));
                        return (user, taken);
                    }
                }
            }
        });
    }
    let mut by_checker = Vec::new();
    while let Some(result) = checkers.join_next().await {
        by_checker.push(result.expect("a checker does not panic"));
    }
    let taken_after = started.elapsed();

    let mut times_taken: HashMap<String, usize> = HashMap::new();
    for (user, taken) in &by_checker {
        for claim in taken {
            *times_taken.entry(claim.name.clone()).or_default() += 1;
            assert_eq!(claim.state(), claim::State::InReview, "{claim:?}");
            assert_eq!(&claim.assignee, user, "{} went to its taker", claim.name);
            assert_eq!(
                lease_of(claim),
                time(&claim.update_time) + LEASE,
                "{} is leased for the desk's lease from when it was taken",
                claim.name
            );
        }
        // The queue only shrank while they took: each checker's claims come
        // in queue order (priority, deadline with none last, submission).
        let order: Vec<_> = taken
            .iter()
            .map(|c| {
                let rank = PRIORITIES.iter().position(|p| *p == c.priority());
                let deadline = c.deadline.map(|d| time(&Some(d)));
                // No deadline sorts after every deadline.
                (rank, deadline.is_none(), deadline, c.name.clone())
            })
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert!(order == sorted, "{user} took claims in queue order");
    }
    let duplicates: Vec<_> = times_taken.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicates.is_empty(),
        "claims handed out twice: {duplicates:?}"
    );
    let handed_out: HashSet<String> = times_taken.into_keys().collect();
    assert_eq!(handed_out, submitted, "every claim was handed out");

    // The store agrees on who holds what.
    let mut client = server.client().await;
    for (user, taken) in &by_checker {
        let listed = list_all(
            &mut client,
            pb::ListClaimsRequest {
                assignee: user.clone(),
                page_size: 500,
                ..Default::default()
            },
        )
        .await;
        let listed: HashSet<String> = names(&listed).into_iter().collect();
        let taken: HashSet<String> = names(taken).into_iter().collect();
        assert_eq!(listed, taken, "the claims assigned to {user}");
    }
    let stats = queue_stats(&mut client, "").await;
    assert_stats(&stats, "", [0, 1_000, 0, 0, 0, 0], [0, 0, 0], None, 0);
    eprintln!(
        "1,000 claims submitted in {submitted_after:?}, all taken after {taken_after:?}; per checker: {:?}",
        by_checker
            .iter()
            .map(|(u, t)| (u.as_str(), t.len()))
            .collect::<Vec<_>>()
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------
// 2. Order, filters, empty queue, invalid requests.

#[tokio::test]
async fn the_queue_serves_breaking_then_urgent_then_routine_then_earliest_deadline_then_oldest() {
    use claim::Priority::{Breaking, Routine, Unspecified, Urgent};
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let base = SystemTime::now() + 24 * HOUR;
    // Submission order, deliberately scrambled.
    let plan: [(&str, claim::Priority, Option<u32>); 13] = [
        ("routine, no deadline, first", Routine, None),
        ("urgent, due in 3 h", Urgent, Some(180)),
        ("routine, due in 1 h", Routine, Some(60)),
        ("breaking, no deadline", Breaking, None),
        ("urgent, no deadline, first", Urgent, None),
        ("urgent, due in 2 h", Urgent, Some(120)),
        ("routine, no deadline, second", Routine, None),
        ("breaking, due in 5 h", Breaking, Some(300)),
        ("urgent, no deadline, second", Urgent, None),
        ("breaking, due in 4 h", Breaking, Some(240)),
        ("urgent, due in 2.5 h, first", Urgent, Some(150)),
        ("unspecified priority, no deadline", Unspecified, None),
        ("urgent, due in 2.5 h, second", Urgent, Some(150)),
    ];
    let mut label_of = HashMap::new();
    for (label, priority, minutes) in plan {
        let deadline = minutes.map(|m| base + m * MINUTE);
        let statement = format!("The Gull Island ferry sailed on time ({label})");
        let claim = submit(
            &mut client,
            "editor-ines",
            queue_claim(FERRY_STORY, &statement, priority, deadline, &[]),
        )
        .await;
        label_of.insert(claim.name, label);
    }

    let mut order = Vec::new();
    let mut first_taken = None;
    for _ in 0..plan.len() {
        let claim = take(&mut client, "checker-kofi").await;
        order.push(label_of[&claim.name]);
        first_taken.get_or_insert(claim);
    }
    expect_queue_empty(take_next(&mut client, "checker-kofi", "", &[]).await);

    assert_eq!(
        order,
        [
            "breaking, due in 4 h",
            "breaking, due in 5 h",
            "breaking, no deadline",
            "urgent, due in 2 h",
            "urgent, due in 2.5 h, first",
            "urgent, due in 2.5 h, second",
            "urgent, due in 3 h",
            "urgent, no deadline, first",
            "urgent, no deadline, second",
            "routine, due in 1 h",
            "routine, no deadline, first",
            "routine, no deadline, second",
            "unspecified priority, no deadline",
        ]
    );
    // Taking is a review start by the taker, in the history like any other.
    let first = first_taken.expect("a claim was taken");
    let history = events_of(&mut client, &first.name).await;
    let last = history.last().expect("the claim has a history");
    assert_eq!(last.r#type(), claim_event::Type::ReviewStarted);
    assert_eq!(last.actor, "checker-kofi");
    assert_eq!(last.from_state(), claim::State::Unverified);
    assert_eq!(last.to_state(), claim::State::InReview);
    assert_eq!(last.story, FERRY_STORY);
    assert_eq!(history.len(), 2, "submitted, then taken: {history:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_released_claim_goes_back_to_its_place_in_the_queue() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let older = submit(
        &mut client,
        "editor-ines",
        plain_claim(FERRY_STORY, "The pier lights failed at nine"),
    )
    .await;
    let newer = submit(
        &mut client,
        "editor-ines",
        plain_claim(FERRY_STORY, "The pier lights came back at ten"),
    )
    .await;

    let taken = take(&mut client, "checker-kofi").await;
    assert_eq!(taken.name, older.name);
    let released = release(&mut client, "checker-kofi", &older.name).await;
    assert_eq!(released.state(), claim::State::Unverified);

    let again = take(&mut client, "checker-lena").await;
    assert_eq!(
        again.name, older.name,
        "the older claim is at the head again"
    );
    assert_eq!(again.assignee, "checker-lena");
    assert_eq!(take(&mut client, "checker-lena").await.name, newer.name);
    expect_queue_empty(take_next(&mut client, "checker-lena", "", &[]).await);
    server.stop().await;
}

#[tokio::test]
async fn a_story_filter_takes_only_claims_of_that_story() {
    use claim::Priority::{Breaking, Routine, Urgent};
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let mut submit_one = async |story: &str, statement: &str, priority| {
        submit(
            &mut client,
            "editor-ines",
            queue_claim(story, statement, priority, None, &[]),
        )
        .await
        .name
    };
    let ferry_routine = submit_one(FERRY_STORY, "The night ferry was cancelled", Routine).await;
    let harbour_routine = submit_one(HARBOUR_ONLY_STORY, "Two cranes stood idle", Routine).await;
    let strike_breaking = submit_one(HARBOUR_STORY, "Pickets blocked gate four", Breaking).await;
    let harbour_urgent = submit_one(HARBOUR_ONLY_STORY, "A tanker waited offshore", Urgent).await;
    let ferry_breaking = submit_one(FERRY_STORY, "The car deck flooded", Breaking).await;

    let mut take_story =
        async |story: &str| take_next(&mut client, "checker-kofi", story, &[]).await;
    let first = take_story(HARBOUR_ONLY_STORY)
        .await
        .expect("a harbour claim waits");
    let second = take_story(HARBOUR_ONLY_STORY)
        .await
        .expect("a harbour claim waits");
    assert_eq!(
        [first.name.as_str(), second.name.as_str()],
        [harbour_urgent.as_str(), harbour_routine.as_str()],
        "the harbour claims in queue order, not those of harbour-strike"
    );
    assert!(first.story == HARBOUR_ONLY_STORY && second.story == HARBOUR_ONLY_STORY);
    expect_queue_empty(take_story(HARBOUR_ONLY_STORY).await);

    // The other stories are untouched and still in queue order.
    let mut rest = Vec::new();
    for _ in 0..3 {
        rest.push(take(&mut client, "checker-lena").await.name);
    }
    assert_eq!(rest, [strike_breaking, ferry_breaking, ferry_routine]);
    server.stop().await;
}

#[tokio::test]
async fn a_tags_filter_takes_claims_carrying_any_of_the_tags_in_queue_order() {
    use claim::Priority::{Breaking, Routine, Urgent};
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let mut submit_one = async |statement: &str, priority, tags: &[&str]| {
        submit(
            &mut client,
            "editor-ines",
            queue_claim(FERRY_STORY, statement, priority, None, tags),
        )
        .await
        .name
    };
    let weather = submit_one("Fog closed the crossing", Routine, &["weather"]).await;
    let labour_ports = submit_one("Deckhands walked out", Routine, &["labour", "ports"]).await;
    let casualties = submit_one("Two passengers were hurt", Breaking, &["casualties"]).await;
    let untagged = submit_one("The timetable changed", Urgent, &[]).await;
    let weather_labour = submit_one(
        "Crews refused to sail in the gale",
        Urgent,
        &["weather", "labour"],
    )
    .await;
    let ports = submit_one("The east pier closed", Breaking, &["ports"]).await;

    let mut taken = Vec::new();
    for _ in 0..3 {
        let claim = take_next(&mut client, "checker-kofi", "", &["labour", "weather"])
            .await
            .expect("a claim with one of the tags waits");
        taken.push(claim.name);
    }
    assert_eq!(
        taken,
        [
            weather_labour.clone(),
            weather.clone(),
            labour_ports.clone()
        ],
        "urgent first, then the routine ones in submission order; a claim with both tags once"
    );
    expect_queue_empty(take_next(&mut client, "checker-kofi", "", &["labour", "weather"]).await);
    expect_queue_empty(take_next(&mut client, "checker-kofi", "", &["weather"]).await);

    // `ports` is left only on the claim that carries nothing else.
    let port = take_next(&mut client, "checker-kofi", "", &["ports"])
        .await
        .expect("a ports claim");
    assert_eq!(port.name, ports);
    expect_queue_empty(take_next(&mut client, "checker-kofi", "", &["ports"]).await);

    // The rest is untouched.
    assert_eq!(take(&mut client, "checker-lena").await.name, casualties);
    assert_eq!(take(&mut client, "checker-lena").await.name, untagged);
    expect_queue_empty(take_next(&mut client, "checker-lena", "", &[]).await);
    server.stop().await;
}

#[tokio::test]
async fn story_and_tags_together_take_only_claims_of_that_story_with_one_of_the_tags() {
    use claim::Priority::{Breaking, Routine, Urgent};
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let mut submit_one = async |story: &str, statement: &str, priority, tags: &[&str]| {
        submit(
            &mut client,
            "editor-ines",
            queue_claim(story, statement, priority, None, tags),
        )
        .await
        .name
    };
    let harbour_ports = submit_one(
        HARBOUR_ONLY_STORY,
        "Berth six reopened",
        Routine,
        &["ports"],
    )
    .await;
    let strike_ports =
        submit_one(HARBOUR_STORY, "Berth two stayed shut", Breaking, &["ports"]).await;
    let harbour_labour = submit_one(
        HARBOUR_ONLY_STORY,
        "Pilots joined the union",
        Breaking,
        &["labour"],
    )
    .await;
    let harbour_both = submit_one(
        HARBOUR_ONLY_STORY,
        "Pilots blocked berth six",
        Urgent,
        &["ports", "labour"],
    )
    .await;
    let harbour_untagged =
        submit_one(HARBOUR_ONLY_STORY, "The harbour fee rose", Breaking, &[]).await;

    let mut take_from = async |story: &str, tags: &[&str]| {
        take_next(&mut client, "checker-kofi", story, tags).await
    };
    let first = take_from(HARBOUR_ONLY_STORY, &["ports"])
        .await
        .expect("a claim waits");
    let second = take_from(HARBOUR_ONLY_STORY, &["ports"])
        .await
        .expect("a claim waits");
    assert_eq!([first.name, second.name], [harbour_both, harbour_ports]);
    expect_queue_empty(take_from(HARBOUR_ONLY_STORY, &["ports"]).await);
    expect_queue_empty(take_from(FERRY_STORY, &["labour"]).await);

    let labour = take_from(HARBOUR_ONLY_STORY, &["ports", "labour"])
        .await
        .expect("a claim waits");
    assert_eq!(labour.name, harbour_labour);
    expect_queue_empty(take_from(HARBOUR_ONLY_STORY, &["ports", "labour"]).await);

    assert_eq!(
        take_from(HARBOUR_ONLY_STORY, &[])
            .await
            .expect("a claim waits")
            .name,
        harbour_untagged
    );
    assert_eq!(
        take_from("", &["ports"]).await.expect("a claim waits").name,
        strike_ports
    );
    expect_queue_empty(take_from("", &[]).await);
    server.stop().await;
}

#[tokio::test]
async fn taking_from_an_empty_queue_fails_with_queue_empty() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    expect_queue_empty(take_next(&mut client, "checker-kofi", "", &[]).await);
    expect_queue_empty(take_next(&mut client, "checker-kofi", FERRY_STORY, &["weather"]).await);

    // Claims that do not wait are not in the queue: in review, ruled on,
    // withdrawn.
    let reviewed = submit(
        &mut client,
        "editor-ines",
        plain_claim(FERRY_STORY, "The ferry ran aground"),
    )
    .await;
    let withdrawn = submit(
        &mut client,
        "editor-ines",
        plain_claim(FERRY_STORY, "The ferry was sold"),
    )
    .await;
    withdraw(
        &mut client,
        "editor-ines",
        &withdrawn.name,
        "the sale was a rumour",
    )
    .await;
    take(&mut client, "checker-kofi").await;
    expect_queue_empty(take_next(&mut client, "checker-lena", "", &[]).await);
    add_evidence(&mut client, "checker-kofi", &reviewed.name, supporting()).await;
    verify(
        &mut client,
        "checker-kofi",
        &reviewed.name,
        "confirmed by the authority",
    )
    .await;
    expect_queue_empty(take_next(&mut client, "checker-lena", "", &[]).await);
    server.stop().await;
}

#[tokio::test]
async fn a_filter_that_matches_nothing_fails_with_queue_empty_and_takes_nothing() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let waiting = submit(
        &mut client,
        "editor-ines",
        queue_claim(
            FERRY_STORY,
            "The fares doubled overnight",
            claim::Priority::Urgent,
            None,
            &["fares"],
        ),
    )
    .await;

    expect_queue_empty(take_next(&mut client, "checker-kofi", "no-such-story", &[]).await);
    expect_queue_empty(take_next(&mut client, "checker-kofi", "", &["no-such-tag"]).await);
    expect_queue_empty(take_next(&mut client, "checker-kofi", HARBOUR_STORY, &["fares"]).await);
    expect_queue_empty(take_next(&mut client, "checker-kofi", FERRY_STORY, &["weather"]).await);
    // A story whose slug begins with the claim's is another story.
    expect_queue_empty(take_next(&mut client, "checker-kofi", "lakeside", &[]).await);

    assert_eq!(
        get(&mut client, &waiting.name).await,
        waiting,
        "nothing was taken"
    );
    server.stop().await;
}

#[tokio::test]
async fn taking_with_an_invalid_story_tag_or_caller_is_rejected_naming_each_field() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let waiting = submit(
        &mut client,
        "editor-ines",
        plain_claim(FERRY_STORY, "The ferry skipped Heron Point"),
    )
    .await;

    let mut try_take = async |user: &str, story: &str, tags: &[&str]| {
        take_next(&mut client, user, story, tags).await
    };
    expect_invalid_fields(
        try_take("checker-kofi", "Lakeside Ferry", &[]).await,
        &["story"],
    );
    expect_invalid_fields(
        try_take("checker-kofi", "", &["Weather"]).await,
        &["tags[0]"],
    );
    expect_invalid_fields(
        try_take("checker-kofi", "", &["weather", "high winds", ""]).await,
        &["tags[1]", "tags[2]"],
    );
    expect_invalid_fields(
        try_take("checker-kofi", "lakeside_ferry", &["WEATHER"]).await,
        &["story", "tags[0]"],
    );
    let too_many: Vec<String> = (0..21).map(|i| format!("tag-{i}")).collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    expect_invalid_fields(try_take("checker-kofi", "", &too_many).await, &["tags"]);
    // Nobody takes claims as the system.
    expect_invalid_fields(try_take("system", "", &[]).await, &["x-claimdesk-user"]);

    assert_eq!(
        get(&mut client, &waiting.name).await,
        waiting,
        "nothing was taken"
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------
// 3. Leases through the API.

#[tokio::test]
async fn start_review_leases_the_claim_to_the_checker_for_the_desk_lease() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let submitted = submit(
        &mut client,
        "editor-ines",
        plain_claim(FERRY_STORY, "The new ferry holds 600"),
    )
    .await;
    assert_eq!(
        submitted.lease_expire_time, None,
        "a waiting claim has no lease"
    );

    let before = SystemTime::now();
    let taken = start_review(&mut client, "checker-kofi", &submitted.name).await;
    let after = SystemTime::now();

    assert_eq!(taken.state(), claim::State::InReview);
    assert_eq!(taken.assignee, "checker-kofi");
    let expires = lease_of(&taken);
    assert_eq!(expires, time(&taken.update_time) + LEASE);
    assert!(
        before + LEASE <= expires && expires <= after + LEASE,
        "{expires:?} is the desk lease from now"
    );
    assert_eq!(
        get(&mut client, &submitted.name).await.lease_expire_time,
        taken.lease_expire_time
    );
    server.stop().await;
}

#[tokio::test]
async fn renew_lease_by_the_assignee_moves_the_expiry_forward_and_records_a_lease_renewed_event() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let submitted = submit(
        &mut client,
        "editor-ines",
        plain_claim(FERRY_STORY, "The ferry crew numbers twelve"),
    )
    .await;
    let taken = take(&mut client, "checker-kofi").await;

    let renewed = renew_lease(&mut client, "checker-kofi", &submitted.name, "")
        .await
        .expect("the assignee renews the lease");

    assert_eq!(renewed.state(), claim::State::InReview);
    assert_eq!(renewed.assignee, "checker-kofi");
    assert!(
        lease_of(&renewed) > lease_of(&taken),
        "the lease moved forward"
    );
    assert_eq!(lease_of(&renewed), time(&renewed.update_time) + LEASE);
    assert_ne!(renewed.etag, taken.etag, "a renewal is a change");
    assert_eq!(get(&mut client, &submitted.name).await, renewed);

    let history = events_of(&mut client, &submitted.name).await;
    let types: Vec<_> = history.iter().map(|e| e.r#type()).collect();
    assert_eq!(
        types,
        [
            claim_event::Type::Submitted,
            claim_event::Type::ReviewStarted,
            claim_event::Type::LeaseRenewed
        ]
    );
    let event = &history[2];
    assert_eq!(event.actor, "checker-kofi");
    assert_eq!(event.from_state(), claim::State::InReview);
    assert_eq!(event.to_state(), claim::State::InReview);
    assert_eq!(event.event_time, renewed.update_time);
    assert_eq!(event.story, FERRY_STORY);

    // A renewal is conditional on the etag like any other change.
    let (_, details) = expect_error(
        renew_lease(&mut client, "checker-kofi", &submitted.name, &taken.etag).await,
        Code::Aborted,
        "ETAG_MISMATCH",
    );
    assert_eq!(error_metadata(&details, "etag"), Some(renewed.etag.clone()));
    let again = renew_lease(&mut client, "checker-kofi", &submitted.name, &renewed.etag)
        .await
        .expect("a renewal with the current etag succeeds");
    assert!(lease_of(&again) > lease_of(&renewed));
    server.stop().await;
}

#[tokio::test]
async fn renew_lease_by_anyone_but_the_assignee_is_refused() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let submitted = submit(
        &mut client,
        "editor-ines",
        plain_claim(FERRY_STORY, "The ferry burns diesel"),
    )
    .await;
    let waiting = submit(
        &mut client,
        "editor-ines",
        plain_claim(FERRY_STORY, "The ferry has a bar"),
    )
    .await;
    let taken = start_review(&mut client, "checker-kofi", &submitted.name).await;

    let (_, details) = expect_error(
        renew_lease(&mut client, "checker-lena", &submitted.name, "").await,
        Code::FailedPrecondition,
        "NOT_ASSIGNEE",
    );
    assert_eq!(
        error_metadata(&details, "assignee").as_deref(),
        Some("checker-kofi")
    );
    assert_eq!(
        get(&mut client, &submitted.name).await,
        taken,
        "the refused renewal changed nothing"
    );

    // Nobody holds a waiting claim: there is no lease to renew.
    expect_error(
        renew_lease(&mut client, "checker-kofi", &waiting.name, "").await,
        Code::FailedPrecondition,
        "INVALID_TRANSITION",
    );
    expect_error(
        renew_lease(&mut client, "checker-kofi", UNKNOWN_CLAIM, "").await,
        Code::NotFound,
        "CLAIM_NOT_FOUND",
    );
    expect_invalid_fields(
        renew_lease(&mut client, "checker-kofi", "ferry/1", "").await,
        &["name"],
    );
    server.stop().await;
}

#[tokio::test]
async fn adding_evidence_renews_the_lease_of_the_assignee_only() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let submitted = submit(
        &mut client,
        "editor-ines",
        plain_claim(FERRY_STORY, "The ferry crossed in 40 minutes"),
    )
    .await;
    let taken = take(&mut client, "checker-kofi").await;

    let by_assignee =
        add_evidence(&mut client, "checker-kofi", &submitted.name, supporting()).await;
    assert!(
        lease_of(&by_assignee) > lease_of(&taken),
        "the assignee's action renews"
    );
    assert_eq!(
        lease_of(&by_assignee),
        time(&by_assignee.update_time) + LEASE
    );

    let by_other = add_evidence(&mut client, "checker-lena", &submitted.name, refuting()).await;
    assert!(
        time(&by_other.update_time) > time(&by_assignee.update_time),
        "the claim changed"
    );
    assert_eq!(
        by_other.lease_expire_time, by_assignee.lease_expire_time,
        "someone else's evidence does not renew the assignee's lease"
    );
    assert_eq!(by_other.assignee, "checker-kofi");
    server.stop().await;
}

#[tokio::test]
async fn releasing_ruling_on_or_withdrawing_a_claim_ends_its_lease() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let mut names = Vec::new();
    for statement in [
        "The ferry's radar failed",
        "The ferry's horn was heard in town",
        "The ferry left without its captain",
        "The ferry docked at the wrong pier",
    ] {
        names.push(
            submit(
                &mut client,
                "editor-ines",
                plain_claim(FERRY_STORY, statement),
            )
            .await
            .name,
        );
    }
    let [to_release, to_rule, to_dispute, to_withdraw] = names.as_slice() else {
        unreachable!()
    };

    let taken = start_review(&mut client, "checker-kofi", to_release).await;
    lease_of(&taken);
    let released = release(&mut client, "checker-kofi", to_release).await;
    assert_eq!(released.lease_expire_time, None, "release ends the lease");

    start_review(&mut client, "checker-kofi", to_rule).await;
    add_evidence(&mut client, "checker-kofi", to_rule, supporting()).await;
    let verified = verify(
        &mut client,
        "checker-kofi",
        to_rule,
        "the authority confirms",
    )
    .await;
    assert_eq!(verified.state(), claim::State::Verified);
    assert_eq!(verified.lease_expire_time, None, "a ruling ends the lease");
    let reopened = reopen(&mut client, "editor-ines", to_rule, REOPEN_REASON).await;
    assert_eq!(reopened.lease_expire_time, None);
    start_review(&mut client, "checker-lena", to_rule).await;
    let inconclusive = mark_inconclusive(&mut client, "checker-lena", to_rule).await;
    assert_eq!(
        inconclusive.lease_expire_time, None,
        "a ruling ends the lease"
    );

    start_review(&mut client, "checker-kofi", to_dispute).await;
    add_evidence(&mut client, "checker-kofi", to_dispute, refuting()).await;
    let disputed = dispute(&mut client, "checker-kofi", to_dispute, DISPUTE_NOTE).await;
    assert_eq!(disputed.lease_expire_time, None, "a ruling ends the lease");

    start_review(&mut client, "checker-kofi", to_withdraw).await;
    let withdrawn = withdraw(&mut client, "editor-ines", to_withdraw, "cut from the copy").await;
    assert_eq!(
        withdrawn.lease_expire_time, None,
        "withdrawing ends the lease"
    );

    for name in [to_release, to_rule, to_dispute, to_withdraw] {
        assert_eq!(
            get(&mut client, name).await.lease_expire_time,
            None,
            "{name} is stored without a lease"
        );
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------
// 4. Lease expiry at the desk, with tokio's clock paused (no sleeping).

/// A desk over a fresh store with the default 15-minute lease. Fields drop
/// in order: the desk (and its store) before the directory.
struct PausedDesk {
    desk: Desk,
    _dir: TempDir,
}

async fn paused_desk() -> PausedDesk {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let store = open_sled_store(dir.path()).await;
    let desk = Desk::new(Arc::new(store), DeskConfig { lease: LEASE });
    PausedDesk { desk, _dir: dir }
}

fn user(name: &str) -> UserName {
    UserName::parse(name).expect("a valid user name")
}

/// `name` acting as a checker.
fn checker(name: &UserName) -> Actor {
    Actor::new(name.clone(), Role::Checker)
}

/// A claim about a fictional dam, built with the domain's parse functions.
fn dam_claim(statement: &str) -> domain::NewClaim {
    domain::NewClaim {
        statement: Statement::parse(statement).expect("a valid statement"),
        attribution: domain::Attribution {
            source: SourceName::parse("Valley Courier").expect("a valid source"),
            relayed_from: Vec::new(),
            url: None,
        },
        story: Slug::parse("valley-dam").expect("a valid slug"),
        tags: vec![Slug::parse("water").expect("a valid slug")],
        priority: domain::Priority::Urgent,
        deadline: None,
    }
}

fn verify_command() -> Command {
    Command::Verify {
        note: Note::parse("the water board's gauge agrees").expect("a valid note"),
    }
}

fn supporting_evidence(desk: &Desk) -> Command {
    Command::AddEvidence {
        id: desk.new_evidence_id(),
        evidence: domain::NewEvidence {
            url: None,
            summary: Note::parse("Gauge readings for the week").expect("a valid note"),
            source: SourceName::parse("Regional Water Board").expect("a valid source"),
            stance: domain::Stance::Supports,
        },
    }
}

#[track_caller]
fn expect_lease_expired(result: Result<domain::Claim, Error>, holder: &str) {
    match result {
        Err(Error::Rule(DomainError::LeaseExpired { holder: h })) if h.as_str() == holder => {}
        other => panic!("expected LeaseExpired for {holder}, got {other:?}"),
    }
}

#[track_caller]
fn count(counts: &QueueCounts, state: domain::State) -> u64 {
    let matching: Vec<_> = counts.states.iter().filter(|(s, _)| *s == state).collect();
    assert_eq!(matching.len(), 1, "{state:?} is counted once in {counts:?}");
    matching[0].1
}

#[tokio::test(start_paused = true)]
async fn a_lease_that_ran_out_stops_its_holder_and_expiring_it_returns_the_claim_to_the_queue() {
    let fixture = paused_desk().await;
    let desk = &fixture.desk;
    let kofi = user("checker-kofi");
    let submitted = desk
        .submit(
            dam_claim("The spillway gates opened twice in one night"),
            user("editor-ines"),
            None,
        )
        .await
        .expect("the claim is submitted");
    let taken = desk
        .take_next(QueueQuery::default(), checker(&kofi))
        .await
        .expect("the claim is taken");
    assert_eq!(taken.id, submitted.id);
    let lease = taken.lease.expect("a taken claim is leased");
    assert_eq!(lease.expires, taken.update_time + LEASE);
    // Enough evidence that only the lease can stop a ruling.
    let ready = desk
        .change(
            submitted.id,
            supporting_evidence(desk),
            checker(&kofi),
            String::new(),
        )
        .await
        .expect("the holder adds evidence");

    tokio::time::advance(16 * MINUTE).await;

    // Refused at once, before anything has returned the claim to the queue.
    expect_lease_expired(
        desk.change(
            submitted.id,
            verify_command(),
            checker(&kofi),
            String::new(),
        )
        .await,
        "checker-kofi",
    );
    assert_eq!(
        desk.get(submitted.id).await.expect("the claim exists"),
        ready,
        "the refused ruling changed nothing, and nothing expired the lease yet"
    );

    assert_eq!(desk.expire_due_leases().await.expect("expiry runs"), 1);
    let back = desk.get(submitted.id).await.expect("the claim exists");
    assert_eq!(back.state, domain::State::Unverified);
    assert_eq!(back.assignee, None);
    assert_eq!(back.lease, None);
    assert_eq!(
        back.update_time,
        ready.update_time + 16 * MINUTE,
        "expired at the desk's now"
    );
    let history = desk
        .events(submitted.id, 0, 100)
        .await
        .expect("the history")
        .items;
    let last = history.last().expect("a history");
    assert_eq!(last.action, domain::Action::ExpireLease);
    assert_eq!(last.actor.as_str(), "system");
    assert_eq!(last.from, Some(domain::State::InReview));
    assert_eq!(last.to, domain::State::Unverified);
    assert_eq!(last.time, back.update_time);
    assert_eq!(
        history.len(),
        4,
        "submit, take, evidence, expiry: {history:?}"
    );
    assert_eq!(
        desk.expire_due_leases().await.expect("expiry runs"),
        0,
        "nothing is left to expire"
    );

    let counts = desk.queue_stats(None).await.expect("queue stats");
    assert_eq!(count(&counts, domain::State::Unverified), 1);
    assert_eq!(count(&counts, domain::State::InReview), 0);

    // The old holder is told why, whatever they try.
    expect_lease_expired(
        desk.change(
            submitted.id,
            verify_command(),
            checker(&kofi),
            String::new(),
        )
        .await,
        "checker-kofi",
    );
    expect_lease_expired(
        desk.change(
            submitted.id,
            Command::RenewLease,
            checker(&kofi),
            String::new(),
        )
        .await,
        "checker-kofi",
    );

    // Another checker takes it again, and may rule on it.
    let lena = user("checker-lena");
    let retaken = desk
        .take_next(QueueQuery::default(), checker(&lena))
        .await
        .expect("the claim waits again");
    assert_eq!(retaken.id, submitted.id);
    assert_eq!(retaken.assignee, Some(lena.clone()));
    assert_eq!(
        retaken.lease.map(|l| l.expires),
        Some(back.update_time + LEASE),
        "a fresh lease from now"
    );
    expect_lease_expired(
        desk.change(
            submitted.id,
            verify_command(),
            checker(&kofi),
            String::new(),
        )
        .await,
        "checker-kofi",
    );
    let verified = desk
        .change(
            submitted.id,
            verify_command(),
            checker(&lena),
            String::new(),
        )
        .await
        .expect("the new holder rules");
    assert_eq!(verified.state, domain::State::Verified);
}

#[tokio::test(start_paused = true)]
async fn a_lease_has_not_run_out_after_fourteen_minutes() {
    let fixture = paused_desk().await;
    let desk = &fixture.desk;
    let kofi = user("checker-kofi");
    let submitted = desk
        .submit(
            dam_claim("The reservoir rose a metre in a day"),
            user("editor-ines"),
            None,
        )
        .await
        .expect("the claim is submitted");
    let taken = desk
        .take_next(QueueQuery::default(), checker(&kofi))
        .await
        .expect("the claim is taken");

    tokio::time::advance(14 * MINUTE).await;

    assert_eq!(desk.expire_due_leases().await.expect("expiry runs"), 0);
    assert_eq!(
        desk.get(submitted.id).await.expect("the claim exists"),
        taken
    );
    let counts = desk.queue_stats(None).await.expect("queue stats");
    assert_eq!(count(&counts, domain::State::InReview), 1);
    // The holder still holds it: acting works, and renews.
    let renewed = desk
        .change(
            submitted.id,
            Command::RenewLease,
            checker(&kofi),
            String::new(),
        )
        .await
        .expect("the holder still holds the lease");
    assert_eq!(
        renewed.lease.map(|l| l.expires),
        Some(taken.update_time + 29 * MINUTE)
    );
}

#[tokio::test(start_paused = true)]
async fn a_renewal_at_minute_ten_moves_the_expiry_to_minute_twenty_five() {
    let fixture = paused_desk().await;
    let desk = &fixture.desk;
    let kofi = user("checker-kofi");
    let submitted = desk
        .submit(
            dam_claim("Cracks appeared in the north wall"),
            user("editor-ines"),
            None,
        )
        .await
        .expect("the claim is submitted");
    let taken = desk
        .take_next(QueueQuery::default(), checker(&kofi))
        .await
        .expect("the claim is taken");
    let start = taken.update_time;

    tokio::time::advance(10 * MINUTE).await;
    let renewed = desk
        .change(
            submitted.id,
            Command::RenewLease,
            checker(&kofi),
            String::new(),
        )
        .await
        .expect("the holder renews");
    assert_eq!(renewed.update_time, start + 10 * MINUTE);
    assert_eq!(renewed.lease.map(|l| l.expires), Some(start + 25 * MINUTE));
    let history = desk
        .events(submitted.id, 0, 100)
        .await
        .expect("the history")
        .items;
    let last = history.last().expect("a history");
    assert_eq!(last.action, domain::Action::RenewLease);
    assert_eq!(last.actor, kofi);
    assert_eq!(
        (last.from, last.to),
        (Some(domain::State::InReview), domain::State::InReview)
    );

    // Past the first expiry (minute 15), not yet the second.
    tokio::time::advance(6 * MINUTE).await;
    assert_eq!(
        desk.expire_due_leases().await.expect("expiry runs"),
        0,
        "minute 16"
    );
    tokio::time::advance(8 * MINUTE).await;
    assert_eq!(
        desk.expire_due_leases().await.expect("expiry runs"),
        0,
        "minute 24"
    );
    assert_eq!(
        desk.get(submitted.id).await.expect("the claim exists"),
        renewed
    );

    tokio::time::advance(MINUTE).await;
    assert_eq!(
        desk.expire_due_leases().await.expect("expiry runs"),
        1,
        "minute 25"
    );
    let back = desk.get(submitted.id).await.expect("the claim exists");
    assert_eq!(
        (back.state, back.assignee, back.lease),
        (domain::State::Unverified, None, None)
    );
}

#[tokio::test(start_paused = true)]
async fn acting_on_a_lease_that_ran_out_does_not_revive_it() {
    let fixture = paused_desk().await;
    let desk = &fixture.desk;
    let kofi = user("checker-kofi");
    let submitted = desk
        .submit(
            dam_claim("The dam keeper left his post"),
            user("editor-ines"),
            None,
        )
        .await
        .expect("the claim is submitted");
    let taken = desk
        .take_next(QueueQuery::default(), checker(&kofi))
        .await
        .expect("the claim is taken");
    let expired_at = taken.lease.expect("a lease").expires;

    tokio::time::advance(16 * MINUTE).await;

    // The old holder's evidence is refused, or at least does not extend a
    // lease that has run out.
    match desk
        .change(
            submitted.id,
            supporting_evidence(desk),
            checker(&kofi),
            String::new(),
        )
        .await
    {
        Err(Error::Rule(DomainError::LeaseExpired { .. })) => {}
        Ok(claim) => assert_eq!(
            claim.lease.map(|l| l.expires),
            Some(expired_at),
            "evidence from the holder of a lease that ran out renewed it"
        ),
        Err(e) => panic!("unexpected error: {e:?}"),
    }
    // Someone else's evidence is welcome, and renews nothing either.
    let by_other = desk
        .change(
            submitted.id,
            supporting_evidence(desk),
            checker(&user("checker-lena")),
            String::new(),
        )
        .await
        .expect("anyone may add evidence");
    assert_eq!(by_other.lease.map(|l| l.expires), Some(expired_at));

    assert_eq!(desk.expire_due_leases().await.expect("expiry runs"), 1);
    let back = desk.get(submitted.id).await.expect("the claim exists");
    assert_eq!(
        (back.state, back.assignee, back.lease),
        (domain::State::Unverified, None, None)
    );
}

/// The real store, counting the sweeper's passes (each begins by looking
/// for due leases) and failing every update while `fail_updates` is on.
struct SweptStore {
    fail_updates: AtomicBool,
    passes: AtomicUsize,
    pass_started: Notify,
}

impl SweptStore {
    async fn open(dir: &std::path::Path) -> Arc<Intercepted<Self>> {
        Arc::new(Intercepted {
            inner: open_sled_store(dir).await,
            hooks: Self {
                fail_updates: AtomicBool::new(false),
                passes: AtomicUsize::new(0),
                pass_started: Notify::new(),
            },
        })
    }

    /// Waits until the sweeper has begun `n` passes in all.
    async fn wait_for_passes(&self, n: usize) {
        while self.passes.load(Ordering::SeqCst) < n {
            self.pass_started.notified().await;
        }
    }
}

impl Intercept for SweptStore {
    fn update(
        &self,
        inner: &dyn Store,
        id: ClaimId,
        change: Change<'_>,
    ) -> Result<(domain::Claim, domain::Event), Error> {
        if self.fail_updates.load(Ordering::SeqCst) {
            return Err(Error::Storage(StorageError::new(
                "injected",
                "the disk is read-only",
            )));
        }
        inner.update(id, change)
    }

    fn leases_due(
        &self,
        inner: &dyn Store,
        now: SystemTime,
        limit: usize,
    ) -> Result<Vec<ClaimId>, Error> {
        self.passes.fetch_add(1, Ordering::SeqCst);
        self.pass_started.notify_one();
        inner.leases_due(now, limit)
    }
}

/// The next event of `events` (a desk watcher); under paused time the
/// runtime moves the clock on to the sweeper's next wake-up while waiting.
async fn next_desk_event(events: &mut claimdesk::desk::EventStream) -> domain::Event {
    events
        .recv()
        .await
        .expect("the watch goes on")
        .expect("the watch does not fail")
}

#[tokio::test(start_paused = true)]
async fn the_sweeper_returns_a_claim_to_the_queue_as_soon_as_its_lease_runs_out() {
    let fixture = paused_desk().await;
    let desk = &fixture.desk;
    let submitted = desk
        .submit(
            dam_claim("The turbines stopped at dawn"),
            user("editor-ines"),
            None,
        )
        .await
        .expect("the claim is submitted");
    let mut events = desk
        .watch(0, EventFilter::default())
        .expect("revision 0 is never ahead");
    assert_eq!(
        next_desk_event(&mut events).await.action,
        domain::Action::Submit
    );
    let taken = desk
        .take_next(QueueQuery::default(), checker(&user("checker-kofi")))
        .await
        .expect("the claim is taken");
    let expires = taken.lease.expect("a lease").expires;
    assert_eq!(
        next_desk_event(&mut events).await.action,
        domain::Action::StartReview
    );
    // Started only now: under paused time, a sweeper already asleep would let
    // the runtime jump the clock to its wake-up while a write waits for the
    // disk (the real server's test covers a sweeper woken by a take).
    let sweeper = tokio::spawn(desk.clone().run_lease_sweeper());

    // Nobody advances the clock: the paused runtime jumps to the sweeper's
    // wake-up as soon as everything else waits.
    let expired = next_desk_event(&mut events).await;
    assert_eq!(expired.action, domain::Action::ExpireLease);
    assert_eq!(expired.claim_id, submitted.id);
    assert_eq!(expired.actor.as_str(), "system");
    assert!(
        expires <= expired.time && expired.time < expires + Duration::from_secs(1),
        "expired at {:?}, the lease ran out at {expires:?}",
        expired.time
    );
    let back = desk.get(submitted.id).await.expect("the claim exists");
    assert_eq!(
        (back.state, back.assignee, back.lease),
        (domain::State::Unverified, None, None)
    );
    desk.begin_shutdown();
    sweeper.await.expect("the sweeper ends without panicking");
}

#[tokio::test(start_paused = true)]
async fn the_sweeper_waits_for_a_renewed_lease_to_run_out() {
    let fixture = paused_desk().await;
    let desk = &fixture.desk;
    let kofi = user("checker-kofi");
    let submitted = desk
        .submit(
            dam_claim("The fish ladder was blocked"),
            user("editor-ines"),
            None,
        )
        .await
        .expect("the claim is submitted");
    let taken = desk
        .take_next(QueueQuery::default(), checker(&kofi))
        .await
        .expect("the claim is taken");
    let first_expiry = taken.lease.expect("a lease").expires;
    // Asleep until the first expiry (see the test above for why only now).
    let sweeper = tokio::spawn(desk.clone().run_lease_sweeper());

    tokio::time::advance(10 * MINUTE).await;
    let renewed = desk
        .change(
            submitted.id,
            Command::RenewLease,
            checker(&kofi),
            String::new(),
        )
        .await
        .expect("the holder renews");
    let expires = renewed.lease.expect("a lease").expires;
    assert!(
        expires >= first_expiry + 10 * MINUTE,
        "the renewal moved the expiry"
    );

    let mut events = desk
        .watch(renewed.revision, EventFilter::default())
        .expect("the renewal is stored");
    let expired = next_desk_event(&mut events).await;
    assert_eq!(expired.action, domain::Action::ExpireLease, "{expired:?}");
    assert!(
        expires <= expired.time && expired.time < expires + Duration::from_secs(1),
        "expired at {:?}, the renewed lease ran out at {expires:?} (the first at {first_expiry:?})",
        expired.time
    );
    desk.begin_shutdown();
    sweeper.await.expect("the sweeper ends without panicking");
}

#[tokio::test(start_paused = true)]
async fn the_sweeper_does_not_spin_while_storage_refuses_to_expire_leases() {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let store = SweptStore::open(dir.path()).await;
    let desk = Desk::new(store.clone(), DeskConfig { lease: LEASE });
    desk.submit(
        dam_claim("The sluice gate jammed open"),
        user("editor-ines"),
        None,
    )
    .await
    .expect("the claim is submitted");
    let taken = desk
        .take_next(QueueQuery::default(), checker(&user("checker-kofi")))
        .await
        .expect("the claim is taken");
    let expires = taken.lease.expect("a lease").expires;

    store.hooks.fail_updates.store(true, Ordering::SeqCst);
    let sweeper = tokio::spawn(desk.clone().run_lease_sweeper());
    // One pass at start, one when the lease runs out (it fails), then
    // retries: 18 of them must not all happen in the same instant.
    store.hooks.wait_for_passes(20).await;
    let retried_for = desk.now().duration_since(expires).unwrap_or_default();
    assert!(
        retried_for >= Duration::from_secs(5),
        "the sweeper retried 18 times within {retried_for:?} of the failure: it spins"
    );
    desk.begin_shutdown();
    sweeper.await.expect("the sweeper ends without panicking");
    drop(desk);
    drop(store);
}

// ---------------------------------------------------------------------------
// 5. The lease sweeper of a running server.

#[tokio::test]
async fn the_server_returns_a_claim_whose_lease_ran_out_to_the_queue() {
    let lease = Duration::from_secs(1);
    let server = TestServer::spawn_with_desk(DeskConfig { lease }).await;
    let mut client = server.client().await;
    let submitted = submit(
        &mut client,
        "editor-ines",
        plain_claim(FERRY_STORY, "The ferry's engine was replaced"),
    )
    .await;
    let mut events = client
        .watch_claim_events(pb::WatchClaimEventsRequest {
            after_revision: 0,
            ..Default::default()
        })
        .await
        .expect("WatchClaimEvents starts")
        .into_inner();

    let taken = take(&mut client, "checker-kofi").await;
    assert_eq!(taken.name, submitted.name);
    assert_eq!(lease_of(&taken), time(&taken.update_time) + lease);

    let (expired, before) = wait_for_event(&mut events, claim_event::Type::LeaseExpired).await;
    assert_eq!(
        before.iter().map(|e| e.r#type()).collect::<Vec<_>>(),
        [
            claim_event::Type::Submitted,
            claim_event::Type::ReviewStarted
        ]
    );
    assert_eq!(expired.claim, submitted.name);
    assert_eq!(expired.actor, "system");
    assert_eq!(expired.from_state(), claim::State::InReview);
    assert_eq!(expired.to_state(), claim::State::Unverified);
    assert_eq!(expired.story, FERRY_STORY);
    assert!(
        time(&expired.event_time) >= lease_of(&taken),
        "not before the lease ran out"
    );

    let back = get(&mut client, &submitted.name).await;
    assert_eq!(back.state(), claim::State::Unverified);
    assert_eq!(back.assignee, "");
    assert_eq!(back.lease_expire_time, None);
    assert_eq!(back.label, format!("unverified (per {FERRY_SOURCE})"));

    let (_, details) = expect_error(
        client
            .verify_claim(as_user(
                pb::VerifyClaimRequest {
                    name: submitted.name.clone(),
                    note: "too late".to_owned(),
                    etag: String::new(),
                },
                "checker-kofi",
            ))
            .await,
        Code::FailedPrecondition,
        "LEASE_EXPIRED",
    );
    assert_eq!(
        error_metadata(&details, "holder").as_deref(),
        Some("checker-kofi")
    );
    expect_error(
        renew_lease(&mut client, "checker-kofi", &submitted.name, "").await,
        Code::FailedPrecondition,
        "LEASE_EXPIRED",
    );

    let stats = queue_stats(&mut client, "").await;
    assert_eq!(state_counts(&stats), [1, 0, 0, 0, 0, 0]);
    let retaken = take(&mut client, "checker-lena").await;
    assert_eq!(retaken.name, submitted.name);
    assert_eq!(retaken.assignee, "checker-lena");
    server.stop().await;
}

#[tokio::test]
async fn a_lease_taken_before_a_restart_runs_out_after_it() {
    let desk = DeskConfig {
        lease: Duration::from_secs(5),
    };
    let server = TestServer::spawn_with_desk(desk).await;
    let mut client = server.client().await;
    let submitted = submit(
        &mut client,
        "editor-ines",
        plain_claim(FERRY_STORY, "The ferry changed its flag"),
    )
    .await;
    let taken = take(&mut client, "checker-kofi").await;
    drop(client);
    let dir = server.stop().await.expect("a data directory");

    let restarted_at = SystemTime::now();
    let server = TestServer::spawn_in_with_desk(dir, desk).await;
    let mut client = server.client().await;
    assert_eq!(
        get(&mut client, &submitted.name).await.lease_expire_time,
        taken.lease_expire_time,
        "the lease is stored"
    );
    let mut events = client
        .watch_claim_events(pb::WatchClaimEventsRequest {
            after_revision: 0,
            ..Default::default()
        })
        .await
        .expect("WatchClaimEvents starts")
        .into_inner();
    let (expired, _) = wait_for_event(&mut events, claim_event::Type::LeaseExpired).await;
    assert_eq!(expired.claim, submitted.name);
    assert_eq!(expired.actor, "system");
    assert!(
        time(&expired.event_time) >= restarted_at,
        "the restarted server expired the lease (the first one stopped within 5 s)"
    );
    assert_eq!(
        get(&mut client, &submitted.name).await.state(),
        claim::State::Unverified
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------
// 6. GetQueueStats.

#[tokio::test]
async fn queue_stats_of_an_empty_desk_count_zero_for_every_state_and_priority() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let stats = queue_stats(&mut client, "").await;
    assert_stats(&stats, "", [0; 6], [0; 3], None, 0);
    let stats = queue_stats(&mut client, FERRY_STORY).await;
    assert_stats(&stats, FERRY_STORY, [0; 6], [0; 3], None, 0);

    expect_invalid_fields(
        client
            .get_queue_stats(pb::GetQueueStatsRequest {
                story: "Lakeside Ferry".to_owned(),
            })
            .await,
        &["story"],
    );
    server.stop().await;
}

#[tokio::test]
async fn queue_stats_count_waiting_claims_the_oldest_and_the_overdue_overall_and_per_story() {
    use claim::Priority::{Breaking, Routine, Urgent};
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let now = SystemTime::now();
    let (past, future) = (|h: u32| now - h * HOUR, now + 24 * HOUR);
    let started = Instant::now();
    let mut submit_one = async |story: &str, statement: &str, priority, deadline| {
        submit(
            &mut client,
            "editor-ines",
            queue_claim(story, statement, priority, deadline, &[]),
        )
        .await
    };
    let h1 = submit_one(HARBOUR_ONLY_STORY, "A crane toppled", Routine, None).await;
    let s1 = submit_one(
        HARBOUR_STORY,
        "Strikers numbered 900",
        Urgent,
        Some(past(2)),
    )
    .await;
    let h2 = submit_one(
        HARBOUR_ONLY_STORY,
        "Berth nine flooded",
        Breaking,
        Some(future),
    )
    .await;
    let _s2 = submit_one(
        HARBOUR_STORY,
        "The strike fund ran dry",
        Routine,
        Some(past(1)),
    )
    .await;
    let _h3 = submit_one(
        HARBOUR_ONLY_STORY,
        "Night shifts were cut",
        Urgent,
        Some(past(1)),
    )
    .await;
    let _s3 = submit_one(HARBOUR_STORY, "Police cleared gate four", Breaking, None).await;
    let _h4 = submit_one(
        HARBOUR_ONLY_STORY,
        "The harbour dredger broke down",
        Routine,
        None,
    )
    .await;

    let all = queue_stats(&mut client, "").await;
    let elapsed = started.elapsed();
    assert_stats(&all, "", [7, 0, 0, 0, 0, 0], [2, 2, 3], Some(&h1), 3);
    assert!(
        age(&all) <= elapsed,
        "{:?} is at most the {elapsed:?} since the first submission",
        age(&all)
    );

    let harbour = queue_stats(&mut client, HARBOUR_ONLY_STORY).await;
    assert_stats(
        &harbour,
        HARBOUR_ONLY_STORY,
        [4, 0, 0, 0, 0, 0],
        [1, 1, 2],
        Some(&h1),
        1,
    );
    let strike = queue_stats(&mut client, HARBOUR_STORY).await;
    assert_stats(
        &strike,
        HARBOUR_STORY,
        [3, 0, 0, 0, 0, 0],
        [1, 1, 1],
        Some(&s1),
        2,
    );
    let other = queue_stats(&mut client, FERRY_STORY).await;
    assert_stats(&other, FERRY_STORY, [0; 6], [0; 3], None, 0);

    // Taking the breaking harbour claim: it no longer waits; its deadline
    // is ahead, so nothing changes for overdue.
    let taken = take_next(&mut client, "checker-kofi", HARBOUR_ONLY_STORY, &[])
        .await
        .expect("a claim");
    assert_eq!(taken.name, h2.name);
    let harbour = queue_stats(&mut client, HARBOUR_ONLY_STORY).await;
    assert_stats(
        &harbour,
        HARBOUR_ONLY_STORY,
        [3, 1, 0, 0, 0, 0],
        [0, 1, 2],
        Some(&h1),
        1,
    );
    let strike = queue_stats(&mut client, HARBOUR_STORY).await;
    assert_stats(
        &strike,
        HARBOUR_STORY,
        [3, 0, 0, 0, 0, 0],
        [1, 1, 1],
        Some(&s1),
        2,
    );
    server.stop().await;
}

#[tokio::test]
async fn overdue_counts_only_unverified_and_in_review_claims_past_their_deadline() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let past = SystemTime::now() - 3 * HOUR;
    let future = SystemTime::now() + 3 * HOUR;
    let mut submit_one = async |statement: &str, deadline| {
        submit(
            &mut client,
            "editor-ines",
            queue_claim(
                FERRY_STORY,
                statement,
                claim::Priority::Routine,
                deadline,
                &[],
            ),
        )
        .await
        .name
    };
    let late_waiting = submit_one("The morning ferry was late", Some(past)).await;
    let late_in_review = submit_one("The ferry skipped a stop", Some(past)).await;
    let late_verified = submit_one("The ferry carried a horse", Some(past)).await;
    let late_withdrawn = submit_one("The ferry changed captains", Some(past)).await;
    let _on_time = submit_one("The ferry will get a new ramp", Some(future)).await;
    let _no_deadline = submit_one("The ferry was repainted", None).await;

    start_review(&mut client, "checker-kofi", &late_in_review).await;
    start_review(&mut client, "checker-kofi", &late_verified).await;
    add_evidence(&mut client, "checker-kofi", &late_verified, supporting()).await;
    verify(
        &mut client,
        "checker-kofi",
        &late_verified,
        "the stable confirms",
    )
    .await;
    withdraw(
        &mut client,
        "editor-ines",
        &late_withdrawn,
        "cut from the copy",
    )
    .await;

    let stats = queue_stats(&mut client, "").await;
    assert_eq!(
        stats.overdue_count, 2,
        "the waiting and the in-review late claims: {stats:?}"
    );
    let stats = queue_stats(&mut client, FERRY_STORY).await;
    assert_eq!(stats.overdue_count, 2, "{stats:?}");

    reopen(&mut client, "editor-ines", &late_verified, REOPEN_REASON).await;
    assert_eq!(
        queue_stats(&mut client, "").await.overdue_count,
        3,
        "a reopened late claim is overdue again"
    );
    withdraw(&mut client, "editor-ines", &late_in_review, "cut").await;
    withdraw(&mut client, "editor-ines", &late_waiting, "cut").await;
    assert_eq!(queue_stats(&mut client, "").await.overdue_count, 1);
    server.stop().await;
}

/// Checks the stats of the ferry story, and of all stories (the same: the
/// ferry story is the only one), after `step`.
async fn check(
    client: &mut Client,
    states: [i64; 6],
    waiting: [i64; 3],
    oldest: Option<&Claim>,
    step: &str,
) {
    /// Names the step of a failing check.
    struct Step<'a>(&'a str);
    impl Drop for Step<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!("the stats were wrong after {}", self.0);
            }
        }
    }
    let _step = Step(step);
    for story in [FERRY_STORY, ""] {
        let stats = queue_stats(client, story).await;
        assert_stats(&stats, story, states, waiting, oldest, 0);
    }
}

#[tokio::test]
async fn queue_stats_follow_every_transition() {
    use claim::Priority::{Breaking, Routine, Urgent};
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let mut submit_one = async |statement: &str, priority| {
        submit(
            &mut client,
            "editor-ines",
            queue_claim(FERRY_STORY, statement, priority, None, &[]),
        )
        .await
    };
    let a = submit_one("The ferry ran on biodiesel", Routine).await;
    let b = submit_one("The ferry's bell was stolen", Urgent).await;
    let c = submit_one("The ferry hit a swan", Breaking).await;
    let d = submit_one("The ferry's cafe closed", Routine).await;
    let e = submit_one("The ferry carried the mayor", Urgent).await;
    let client = &mut client;
    check(
        client,
        [5, 0, 0, 0, 0, 0],
        [1, 2, 2],
        Some(&a),
        "submitting",
    )
    .await;

    assert_eq!(take(client, "checker-kofi").await.name, c.name);
    check(client, [4, 1, 0, 0, 0, 0], [0, 2, 2], Some(&a), "taking c").await;
    assert_eq!(take(client, "checker-kofi").await.name, b.name);
    check(client, [3, 2, 0, 0, 0, 0], [0, 1, 2], Some(&a), "taking b").await;
    release(client, "checker-kofi", &b.name).await;
    check(
        client,
        [4, 1, 0, 0, 0, 0],
        [0, 2, 2],
        Some(&a),
        "releasing b",
    )
    .await;
    start_review(client, "checker-lena", &a.name).await;
    check(
        client,
        [3, 2, 0, 0, 0, 0],
        [0, 2, 1],
        Some(&b),
        "starting review of a",
    )
    .await;

    add_evidence(client, "checker-kofi", &c.name, supporting()).await;
    check(
        client,
        [3, 2, 0, 0, 0, 0],
        [0, 2, 1],
        Some(&b),
        "adding evidence to c",
    )
    .await;
    verify(client, "checker-kofi", &c.name, "the warden saw it").await;
    check(
        client,
        [3, 1, 1, 0, 0, 0],
        [0, 2, 1],
        Some(&b),
        "verifying c",
    )
    .await;
    reopen(client, "editor-ines", &c.name, REOPEN_REASON).await;
    check(
        client,
        [4, 1, 0, 0, 0, 0],
        [1, 2, 1],
        Some(&b),
        "reopening c",
    )
    .await;
    withdraw(client, "editor-ines", &d.name, "cut from the copy").await;
    check(
        client,
        [3, 1, 0, 0, 0, 1],
        [1, 2, 0],
        Some(&b),
        "withdrawing d (waiting)",
    )
    .await;
    withdraw(client, "editor-ines", &a.name, "cut from the copy").await;
    check(
        client,
        [3, 0, 0, 0, 0, 2],
        [1, 2, 0],
        Some(&b),
        "withdrawing a (in review)",
    )
    .await;

    assert_eq!(take(client, "checker-kofi").await.name, c.name);
    add_evidence(client, "checker-kofi", &c.name, refuting()).await;
    dispute(client, "checker-kofi", &c.name, DISPUTE_NOTE).await;
    check(
        client,
        [2, 0, 0, 1, 0, 2],
        [0, 2, 0],
        Some(&b),
        "disputing c",
    )
    .await;
    assert_eq!(take(client, "checker-kofi").await.name, b.name);
    check(
        client,
        [1, 1, 0, 1, 0, 2],
        [0, 1, 0],
        Some(&e),
        "taking b again",
    )
    .await;
    mark_inconclusive(client, "checker-kofi", &b.name).await;
    check(
        client,
        [1, 0, 0, 1, 1, 2],
        [0, 1, 0],
        Some(&e),
        "marking b inconclusive",
    )
    .await;
    assert_eq!(take(client, "checker-kofi").await.name, e.name);
    check(
        client,
        [0, 1, 0, 1, 1, 2],
        [0, 0, 0],
        None,
        "taking e, the last waiting claim",
    )
    .await;
    add_evidence(client, "checker-kofi", &e.name, supporting()).await;
    verify(
        client,
        "checker-kofi",
        &e.name,
        "the mayor's office confirms",
    )
    .await;
    check(client, [0, 0, 1, 1, 1, 2], [0, 0, 0], None, "verifying e").await;
    server.stop().await;
}

#[tokio::test]
async fn queue_stats_survive_a_restart() {
    use claim::Priority::{Breaking, Routine, Urgent};
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let past = SystemTime::now() - HOUR;
    let mut submit_one = async |story: &str, statement: &str, priority, deadline| {
        submit(
            &mut client,
            "editor-ines",
            queue_claim(story, statement, priority, deadline, &[]),
        )
        .await
    };
    let oldest = submit_one(FERRY_STORY, "The ferry's ramp jammed", Routine, Some(past)).await;
    submit_one(FERRY_STORY, "The ferry lost a lifeboat", Breaking, None).await;
    submit_one(HARBOUR_STORY, "Dockers voted to return", Urgent, Some(past)).await;
    let ruled = submit_one(HARBOUR_STORY, "The vote was unanimous", Routine, None).await;
    submit_one(FERRY_STORY, "The ferry's captain retired", Urgent, None).await;
    take(&mut client, "checker-kofi").await;
    start_review(&mut client, "checker-kofi", &ruled.name).await;
    mark_inconclusive(&mut client, "checker-kofi", &ruled.name).await;
    let stories = ["", FERRY_STORY, HARBOUR_STORY];
    let mut before = Vec::new();
    for story in stories {
        before.push(queue_stats(&mut client, story).await);
    }
    assert_stats(
        &before[0],
        "",
        [3, 1, 0, 0, 1, 0],
        [0, 2, 1],
        Some(&oldest),
        2,
    );
    drop(client);

    let server = server.restart().await;
    let mut client = server.client().await;
    for (story, before) in stories.into_iter().zip(&before) {
        let after = queue_stats(&mut client, story).await;
        assert_eq!(after.story, before.story);
        assert_eq!(state_counts(&after), state_counts(before), "{story:?}");
        assert_eq!(waiting_counts(&after), waiting_counts(before), "{story:?}");
        assert_eq!(
            after.oldest_waiting_submit_time, before.oldest_waiting_submit_time,
            "{story:?}"
        );
        assert!(
            after.oldest_waiting_age.is_some(),
            "{story:?}: a claim still waits"
        );
        assert_eq!(after.overdue_count, before.overdue_count, "{story:?}");
    }
    server.stop().await;
}
