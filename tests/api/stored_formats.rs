//! Stores written by earlier releases, whose records are JSON (format 1),
//! open with today's code: every claim, history and request id reads back,
//! new writes take the binary format (3) beside the old records, the audit
//! chain runs across both, and the store reopens.
//!
//! The store is `tests/fixtures/format1-store.tar.gz`, written by a release
//! of format 1 through its own client commands; how to write it again is in
//! `tests/fixtures/make-format1-store.sh`, which also lists its claims.

use std::{collections::BTreeMap, path::Path, process::Command, time::Duration};

use claimdesk::{
    pb::{
        Attribution, Claim, ClaimEvent, WatchClaimEventsRequest, claim::State, claim_event::Type,
    },
    storage::{SledStore, StoreConfig},
};
use tempfile::TempDir;
use tokio::time::timeout;
use tonic::Code;

use crate::{audit::assert_verdict, helpers::*};

const STORY: &str = "fixture-harbour";

/// The events in the fixture: revisions 1 to 26, all of format 1.
const FIXTURE_EVENTS: u64 = 26;

/// Each claim of the fixture by its statement: the request id it was
/// submitted with, and its state and history once the server has expired the
/// one lease (long run out) that the fixture holds.
const CLAIMS: [(&str, &str, State, &[Type]); 7] = {
    use Type::*;
    [
        (
            "Ferry crews stayed away from work on Monday",
            "fixture-unverified",
            State::Unverified,
            &[Submitted, ReviewStarted, EvidenceAdded, Released],
        ),
        (
            "The terminal road closed at noon",
            "fixture-in_review",
            State::Unverified,
            &[
                Submitted,
                ReviewStarted,
                LeaseRenewed,
                Reassigned,
                LeaseExpired,
            ],
        ),
        (
            "Two ships were diverted to Kelmar",
            "fixture-verified",
            State::Verified,
            &[Submitted, ReviewStarted, EvidenceAdded, Verified],
        ),
        (
            "All berths were empty by evening",
            "fixture-disputed",
            State::Disputed,
            &[Submitted, ReviewStarted, EvidenceAdded, Disputed],
        ),
        (
            "The strike cost the port a million a day",
            "fixture-inconclusive",
            State::Inconclusive,
            &[Submitted, ReviewStarted, MarkedInconclusive],
        ),
        (
            "Police closed the harbour gates",
            "fixture-withdrawn",
            State::Withdrawn,
            &[Submitted, Withdrawn],
        ),
        (
            "The union called off the strike",
            "fixture-reopened",
            State::Unverified,
            &[Submitted, ReviewStarted, EvidenceAdded, Verified, Reopened],
        ),
    ]
};

/// A fresh copy of the fixture's data directory.
fn unpack_fixture() -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format1-store.tar.gz");
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&fixture)
        .arg("-C")
        .arg(dir.path())
        .arg("--strip-components=1")
        .status()
        .expect("tar runs");
    assert!(status.success(), "tar unpacks {}", fixture.display());
    dir
}

/// The claims of the fixture's story by statement, with their histories.
async fn read_all(client: &mut Client) -> BTreeMap<String, (Claim, Vec<ClaimEvent>)> {
    let request = claimdesk::pb::ListClaimsRequest {
        story: STORY.to_owned(),
        ..Default::default()
    };
    let mut all = BTreeMap::new();
    for claim in list_all(client, request).await {
        assert_eq!(get(client, &claim.name).await, claim, "GetClaim as listed");
        let history = events_of(client, &claim.name).await;
        all.insert(claim.statement.clone(), (claim, history));
    }
    all
}

/// The submission that made `claim`, as its client sent it.
fn submission_of(claim: &Claim) -> Claim {
    let attribution = claim.attribution.as_ref().expect("an attribution");
    Claim {
        statement: claim.statement.clone(),
        attribution: Some(Attribution {
            source: attribution.source.clone(),
            relayed_from: attribution.relayed_from.clone(),
            url: attribution.url.clone(),
        }),
        story: claim.story.clone(),
        tags: claim.tags.clone(),
        priority: claim.priority,
        deadline: claim.deadline,
        ..Default::default()
    }
}

/// The first byte of each record of `tree` after `skip` bytes, in key order:
/// `{` for JSON (format 1), 3 for binary (format 3).
fn stored_formats(db: &sled::Db, tree: &str, skip: usize) -> Vec<u8> {
    let tree = db.open_tree(tree).expect("the tree exists");
    tree.iter()
        .map(|entry| entry.expect("the record reads").1[skip])
        .collect()
}

/// The store format `meta` names.
fn store_format(db: &sled::Db) -> Option<sled::IVec> {
    let meta = db.open_tree("meta").expect("the meta tree exists");
    meta.get("format").expect("the format reads")
}

#[tokio::test]
async fn a_store_of_json_records_opens_takes_binary_records_and_reopens() {
    let dir = unpack_fixture();
    // Auditing opens the store but writes no record: the release that wrote
    // it can still open it.
    assert_verdict(dir.path(), 0, "all 26 events check out");
    let db = sled::open(dir.path()).expect("the store opens");
    assert_eq!(store_format(&db).as_deref(), Some(&1u32.to_be_bytes()[..]));
    drop(db);

    let server = TestServer::spawn_in(dir).await;
    let mut client = server.client().await;

    // The one claim left in review holds a lease that ran out long ago: the
    // server returns it to the queue as it starts, the first write of the
    // new format. Wait for that event before reading.
    let mut events = client
        .watch_claim_events(WatchClaimEventsRequest {
            after_revision: FIXTURE_EVENTS,
            ..Default::default()
        })
        .await
        .expect("WatchClaimEvents succeeds")
        .into_inner();
    let expired = timeout(Duration::from_secs(10), events.message())
        .await
        .expect("the lease runs out at start")
        .expect("the watch goes on")
        .expect("an event");
    assert_eq!(expired.r#type(), Type::LeaseExpired);
    assert_eq!(expired.actor, "system");
    drop(events);

    let read = read_all(&mut client).await;
    assert_eq!(read.len(), CLAIMS.len(), "{:?}", read.keys());
    let mut revisions = Vec::new();
    for (statement, _, state, types) in CLAIMS {
        let (claim, history) = &read[statement];
        assert_eq!(claim.state(), state, "{statement}");
        let read_types: Vec<Type> = history.iter().map(ClaimEvent::r#type).collect();
        assert_eq!(read_types, types, "{statement}");
        assert!(history.iter().all(|e| e.claim == claim.name));
        revisions.extend(history.iter().map(|e| e.revision));
    }
    revisions.sort_unstable();
    assert_eq!(revisions, (1..=FIXTURE_EVENTS + 1).collect::<Vec<_>>());

    // What the old records held, field by field.
    let (ferries, history) = &read[CLAIMS[0].0];
    let attribution = ferries.attribution.as_ref().unwrap();
    assert_eq!(attribution.source, "Harbour Gazette");
    assert_eq!(attribution.relayed_from, ["the seafarers' union"]);
    assert_eq!(attribution.url, "https://harbour-gazette.example/ferries");
    assert_eq!(ferries.tags, ["labour", "ports"]);
    assert_eq!(ferries.priority(), claimdesk::pb::claim::Priority::Urgent);
    assert!(ferries.deadline.is_some());
    assert_eq!(ferries.submitted_by, "ed.morgan");
    assert_eq!(ferries.evidence.len(), 1);
    assert_eq!(ferries.evidence[0].url, "https://port.example/rosters");
    assert_eq!(history[3].note, "Off shift");
    let (road, history) = &read[CLAIMS[1].0];
    assert_eq!(road.assignee, "", "back in the queue");
    assert_eq!(history[3].assignee, "lee.checker");
    assert_eq!(history[3].actor, "chief.ana");
    let (ships, _) = &read[CLAIMS[2].0];
    assert_eq!(ships.verdict_note, "Register seen");
    assert_eq!(ships.assignee, "kim.checker");
    assert_eq!(ships.label, "verified");
    assert_eq!(ships.evidence[0].summary, "Both ships logged at Kelmar");
    let (reopened, history) = &read[CLAIMS[6].0];
    assert_eq!(reopened.verdict_note, "");
    assert_eq!(history[4].note, "The union denies it");

    // Every request id stored by the earlier release replays its claim, and
    // refuses another claim.
    for (statement, request_id, ..) in CLAIMS {
        let (claim, _) = &read[statement];
        let retry = submit_with_id(&mut client, "ed.morgan", submission_of(claim), request_id);
        assert_eq!(&retry.await.expect("the retry replays"), claim);
        let mut other = submission_of(claim);
        other.statement.push_str(" again");
        let reuse = submit_with_id(&mut client, "ed.morgan", other, request_id).await;
        expect_error(reuse, Code::AlreadyExists, "REQUEST_ID_REUSED");
    }

    // New writes: a new claim through review, and changes to old claims.
    let new = submit_with_id(
        &mut client,
        "ed.morgan",
        harbour_claim(),
        "after-the-upgrade",
    )
    .await
    .expect("a new claim");
    start_review(&mut client, "kim.checker", &new.name).await;
    add_evidence(
        &mut client,
        "kim.checker",
        &new.name,
        supports("Port Lindell Authority", "Berths closed."),
    )
    .await;
    verify(&mut client, "kim.checker", &new.name, "Seen").await;
    let ferries = &read[CLAIMS[0].0].0.name;
    start_review(&mut client, "lee.checker", ferries).await;
    let ships = &read[CLAIMS[2].0].0.name;
    reopen(&mut client, "chief.ana", ships, "Second look").await;
    let after = read_all(&mut client).await;
    let retry = submit_with_id(
        &mut client,
        "ed.morgan",
        harbour_claim(),
        "after-the-upgrade",
    );
    assert_eq!(
        retry.await.expect("the new request id replays").name,
        new.name
    );
    drop(client);

    let dir = server.stop().await.expect("the server owns its directory");
    // Events keep the bytes they were stored with: JSON up to the fixture's
    // last, binary after. Claims are binary once they have changed.
    let db = sled::open(dir.path()).expect("the stopped server's store opens");
    let events = stored_formats(&db, "events", 32);
    let (old, new_events) = events.split_at(usize::try_from(FIXTURE_EVENTS).unwrap());
    assert!(old.iter().all(|b| *b == b'{'), "{old:?}");
    assert_eq!(
        new_events, [3; 7],
        "the expiry, four for the new claim, two changes"
    );
    let claims = stored_formats(&db, "claims", 0);
    assert_eq!(claims.iter().filter(|b| **b == 3).count(), 4, "{claims:?}");
    assert_eq!(
        claims.iter().filter(|b| **b == b'{').count(),
        4,
        "{claims:?}"
    );
    let requests = stored_formats(&db, "requests", 0);
    assert_eq!(
        requests.iter().filter(|b| **b == 3).count(),
        1,
        "{requests:?}"
    );
    assert_eq!(
        requests.iter().filter(|b| **b == b'{').count(),
        7,
        "{requests:?}"
    );
    let format = db.open_tree("meta").unwrap().get("format").unwrap();
    assert_eq!(
        format.as_deref(),
        Some(&3u32.to_be_bytes()[..]),
        "store format"
    );
    drop(db);

    assert_verdict(dir.path(), 0, "all 33 events check out");

    let server = TestServer::spawn_in(dir).await;
    let mut client = server.client().await;
    assert_eq!(
        read_all(&mut client).await,
        after,
        "the same after a restart"
    );
}

#[tokio::test]
async fn a_store_of_an_unknown_format_is_refused_at_open() {
    let dir = TestServer::spawn()
        .await
        .stop()
        .await
        .expect("the server owns its directory");
    let db = sled::open(dir.path()).expect("the stopped server's store opens");
    let meta = db.open_tree("meta").expect("the meta tree exists");
    meta.insert("format", &4u32.to_be_bytes())
        .expect("the format is rewritten");
    db.flush().expect("the change is flushed");
    drop((meta, db));

    let config = StoreConfig::new(dir.path());
    let opened = tokio::task::spawn_blocking(move || SledStore::open(&config))
        .await
        .expect("opening does not panic");
    let error = opened.err().expect("the store is refused").to_string();
    assert!(
        error.contains("store format [0, 0, 0, 4] is not supported"),
        "{error}"
    );
}
