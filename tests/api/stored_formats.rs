//! Stores written by earlier releases, whose records are JSON (format 1) or
//! binary of format 2, open with today's code: every claim, history and
//! request id reads back, new writes take the current format (3) beside the
//! old records, the audit chain runs across both, and the store reopens.
//!
//! The stores are `tests/fixtures/format1-store.tar.gz` and
//! `tests/fixtures/format2-store.tar.gz`, each written by a release of its
//! format through its own client commands; how to write them again is in
//! `tests/fixtures/make-format1-store.sh` and
//! `tests/fixtures/make-format2-store.sh`, which also list their claims.
//!
//! `tests/fixtures/format3-store.tar.gz` holds today's format, figures and
//! links included (`tests/fixtures/make-format3-store.sh`): every later
//! release must open it and read it as it was written. It is never
//! rewritten; a change of format adds a fixture of the new one. So is
//! `tests/fixtures/backup-v1.bin`, a backup of that store in version 1 of
//! the backup format (`tests/fixtures/make-backup-v1.sh`), which every
//! later release must restore as the store it was taken of; and a store of
//! every format backs up and restores with its records as they were.

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

/// The story of the format-1 fixture.
const STORY: &str = "fixture-harbour";

/// The events in the format-1 fixture: revisions 1 to 26, all of format 1.
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

/// The story of the format-2 fixture.
const DOCKS: &str = "fixture-docks";

/// The events in the format-2 fixture: revisions 1 to 26, all of format 2.
const FORMAT_2_EVENTS: u64 = 26;

/// Two counts of the same strikers from different sources, which today's
/// release links as contradicting each other as it stores the second. The
/// release that wrote the fixture read no figures: it stored neither count.
const ONLY_2000: &str = "Only 2,000 dock workers joined the strike";
const ABOUT_9000: &str = "About 9,000 dock workers joined the strike";

/// A claim of the format-2 fixture, and what it reads as once the server
/// has expired the one lease (long run out) that the fixture holds.
struct Stored {
    statement: &'static str,
    request_id: &'static str,
    source: &'static str,
    state: State,
    label: &'static str,
    history: &'static [Type],
}

const FORMAT_2_CLAIMS: [Stored; 7] = {
    use Type::*;
    [
        Stored {
            statement: "Crane drivers walked out at the container terminal",
            request_id: "fixture-unverified",
            source: "Docks Daily",
            state: State::Unverified,
            label: "unverified (per Docks Daily)",
            history: &[Submitted, ReviewStarted, EvidenceAdded, Released],
        },
        Stored {
            statement: "The coast road to the terminal closed at noon",
            request_id: "fixture-in_review",
            source: "Docks Daily",
            state: State::Unverified,
            label: "unverified (per Docks Daily)",
            history: &[
                Submitted,
                ReviewStarted,
                LeaseRenewed,
                Reassigned,
                LeaseExpired,
            ],
        },
        Stored {
            statement: ONLY_2000,
            request_id: "fixture-verified",
            source: "Port Authority",
            state: State::Verified,
            label: "verified",
            history: &[Submitted, ReviewStarted, EvidenceAdded, Verified],
        },
        Stored {
            statement: ABOUT_9000,
            request_id: "fixture-disputed",
            source: "Docks Daily",
            state: State::Disputed,
            label: "disputed",
            history: &[Submitted, ReviewStarted, EvidenceAdded, Disputed],
        },
        Stored {
            statement: "Forty ships waited at anchor during the strike",
            request_id: "fixture-inconclusive",
            source: "Docks Daily",
            state: State::Inconclusive,
            label: "could not be independently verified (per Docks Daily)",
            history: &[Submitted, ReviewStarted, MarkedInconclusive],
        },
        Stored {
            statement: "Riot police cleared the terminal gates",
            request_id: "fixture-withdrawn",
            source: "Docks Daily",
            state: State::Withdrawn,
            label: "withdrawn",
            history: &[Submitted, Withdrawn],
        },
        Stored {
            statement: "The dockers' union ended the strike on Friday",
            request_id: "fixture-reopened",
            source: "Docks Daily",
            state: State::Unverified,
            label: "unverified (per Docks Daily)",
            history: &[Submitted, ReviewStarted, EvidenceAdded, Verified, Reopened],
        },
    ]
};

/// A count of the same strikers that contradicts both of the fixture's,
/// submitted after the upgrade.
fn some_5000() -> Claim {
    docks_claim("Some 5,000 dock workers joined the strike", "Harbour Radio")
}

/// A claim of the format-2 fixture's story, as a client submits it.
fn docks_claim(statement: &str, source: &str) -> Claim {
    Claim {
        statement: statement.to_owned(),
        attribution: Some(Attribution {
            source: source.to_owned(),
            ..Default::default()
        }),
        story: DOCKS.to_owned(),
        ..Default::default()
    }
}

/// A fresh copy of the data directory in `tests/fixtures/{tarball}`.
fn unpack_fixture(tarball: &str) -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(tarball);
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

/// The claims of `story` by statement, with their histories.
async fn read_all(client: &mut Client, story: &str) -> BTreeMap<String, (Claim, Vec<ClaimEvent>)> {
    let request = claimdesk::pb::ListClaimsRequest {
        story: story.to_owned(),
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
/// `{` for JSON (format 1), 2 or 3 for binary (formats 2 and 3).
fn stored_formats(db: &sled::Db, tree: &str, skip: usize) -> Vec<u8> {
    let tree = db.open_tree(tree).expect("the tree exists");
    tree.iter()
        .map(|entry| entry.expect("the record reads").1[skip])
        .collect()
}

/// The records of `tree` as stored, in key order.
fn stored_records(db: &sled::Db, tree: &str) -> Vec<sled::IVec> {
    let tree = db.open_tree(tree).expect("the tree exists");
    tree.iter()
        .map(|entry| entry.expect("the record reads").1)
        .collect()
}

/// Waits for the event that returns to the queue, as the server starts, the
/// one claim of a fixture left in review: its lease ran out long ago.
async fn expiry_at_start(client: &mut Client, after_revision: u64) -> ClaimEvent {
    let mut events = client
        .watch_claim_events(WatchClaimEventsRequest {
            after_revision,
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
    expired
}

/// The store format `meta` names.
fn store_format(db: &sled::Db) -> Option<sled::IVec> {
    let meta = db.open_tree("meta").expect("the meta tree exists");
    meta.get("format").expect("the format reads")
}

#[tokio::test]
async fn a_store_of_json_records_opens_takes_binary_records_and_reopens() {
    let dir = unpack_fixture("format1-store.tar.gz");
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
    expiry_at_start(&mut client, FIXTURE_EVENTS).await;

    let read = read_all(&mut client, STORY).await;
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
    let after = read_all(&mut client, STORY).await;
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
        read_all(&mut client, STORY).await,
        after,
        "the same after a restart"
    );
}

#[tokio::test]
async fn a_store_of_format_2_records_opens_takes_format_3_records_and_reopens() {
    let dir = unpack_fixture("format2-store.tar.gz");
    // Auditing opens the store but writes no record: the release that wrote
    // it can still open it.
    assert_verdict(dir.path(), 0, "all 26 events check out");
    let db = sled::open(dir.path()).expect("the store opens");
    assert_eq!(
        store_format(&db).as_deref(),
        Some(&2u32.to_be_bytes()[..]),
        "the store format after an audit"
    );
    let old_events = stored_records(&db, "events");
    assert_eq!(stored_formats(&db, "events", 32), [2; 26]);
    assert_eq!(stored_formats(&db, "claims", 0), [2; 7]);
    assert_eq!(stored_formats(&db, "requests", 0), [2; 7]);
    drop(db);

    // The first write, the expiry of the one lease as the server starts,
    // marks the store as of format 3 and is the first record of format 3.
    let server = TestServer::spawn_in(dir).await;
    let mut client = server.client().await;
    let expired = expiry_at_start(&mut client, FORMAT_2_EVENTS).await;
    assert_eq!(expired.revision, FORMAT_2_EVENTS + 1);
    drop(client);
    let dir = server.stop().await.expect("the server owns its directory");
    let db = sled::open(dir.path()).expect("the stopped server's store opens");
    assert_eq!(
        store_format(&db).as_deref(),
        Some(&3u32.to_be_bytes()[..]),
        "the store format after the first write"
    );
    let events = stored_formats(&db, "events", 32);
    assert_eq!(events[..26], [2; 26]);
    assert_eq!(events[26..], [3]);
    drop(db);

    let server = TestServer::spawn_in(dir).await;
    let mut client = server.client().await;
    let read = read_all(&mut client, DOCKS).await;
    assert_eq!(read.len(), FORMAT_2_CLAIMS.len(), "{:?}", read.keys());
    let mut revisions = Vec::new();
    for stored in &FORMAT_2_CLAIMS {
        let (claim, history) = &read[stored.statement];
        let statement = stored.statement;
        assert_eq!(claim.state(), stored.state, "{statement}");
        assert_eq!(claim.label, stored.label, "{statement}");
        assert_eq!(claim.story, DOCKS);
        assert_eq!(claim.submitted_by, "ed.morgan");
        let attribution = claim.attribution.as_ref().unwrap();
        assert_eq!(attribution.source, stored.source, "{statement}");
        let read_types: Vec<Type> = history.iter().map(ClaimEvent::r#type).collect();
        assert_eq!(read_types, stored.history, "{statement}");
        assert!(history.iter().all(|e| e.claim == claim.name));
        assert!(history.iter().all(|e| e.story == DOCKS));
        assert_eq!(history[0].actor, "ed.morgan");
        revisions.extend(history.iter().map(|e| e.revision));
        // Stored before figures were read: no figures, no links, no link
        // events nor acknowledged links.
        assert!(claim.figures.is_empty(), "{statement}: {:?}", claim.figures);
        assert!(claim.links.is_empty(), "{statement}: {:?}", claim.links);
        assert!(history.iter().all(|e| e.link.is_none()), "{statement}");
        assert!(history.iter().all(|e| e.acknowledged_links.is_empty()));
    }
    revisions.sort_unstable();
    assert_eq!(revisions, (1..=FORMAT_2_EVENTS + 1).collect::<Vec<_>>());

    // What the old records held, field by field.
    use claimdesk::pb::{claim::Priority, evidence::Stance};
    let (cranes, history) = &read[FORMAT_2_CLAIMS[0].statement];
    let attribution = cranes.attribution.as_ref().unwrap();
    assert_eq!(attribution.relayed_from, ["the dockers' union"]);
    assert_eq!(attribution.url, "https://docks-daily.example/cranes");
    assert_eq!(cranes.tags, ["labour", "docks"]);
    assert_eq!(cranes.priority(), Priority::Urgent);
    let (deadline, created) = (cranes.deadline.unwrap(), cranes.create_time.unwrap());
    assert!(
        (47 * 3600..=48 * 3600).contains(&(deadline.seconds - created.seconds)),
        "submitted with --deadline +48h: {deadline:?} after {created:?}"
    );
    assert_eq!(cranes.assignee, "");
    assert_eq!(cranes.evidence.len(), 1);
    assert_eq!(cranes.evidence[0].source, "Terminal Operator");
    assert_eq!(cranes.evidence[0].stance(), Stance::Context);
    assert_eq!(cranes.evidence[0].url, "https://terminal.example/shifts");
    assert_eq!(history[1].actor, "kim.checker");
    assert_eq!(history[2].evidence, Some(cranes.evidence[0].clone()));
    assert_eq!(history[3].note, "End of shift");
    let (road, history) = &read[FORMAT_2_CLAIMS[1].statement];
    assert_eq!(road.priority(), Priority::Breaking);
    assert_eq!(road.assignee, "", "back in the queue");
    assert_eq!(road.lease_expire_time, None);
    assert_eq!(history[3].assignee, "lee.checker");
    assert_eq!(history[3].actor, "chief.ana");
    assert_eq!(history[3].note, "Handover");
    assert_eq!(history[4], expired);
    let (only_2000, history) = &read[ONLY_2000];
    assert_eq!(only_2000.verdict_note, "Pay ledger seen");
    assert_eq!(only_2000.assignee, "kim.checker");
    assert_eq!(only_2000.evidence.len(), 1);
    assert_eq!(only_2000.evidence[0].source, "Dockers' Pay Office");
    assert_eq!(only_2000.evidence[0].stance(), Stance::Supports);
    assert_eq!(
        only_2000.evidence[0].summary,
        "Strike pay paid to 2,000 members"
    );
    assert_eq!(history[3].from_state(), State::InReview);
    assert_eq!(history[3].to_state(), State::Verified);
    let (about_9000, _) = &read[ABOUT_9000];
    assert_eq!(about_9000.verdict_note, "Gate logs differ");
    assert_eq!(about_9000.evidence[0].source, "Terminal Operator");
    assert_eq!(about_9000.evidence[0].stance(), Stance::Refutes);
    assert_eq!(
        about_9000.evidence[0].summary,
        "Gate logs count far fewer absent"
    );
    let (ships, _) = &read[FORMAT_2_CLAIMS[4].statement];
    assert_eq!(ships.verdict_note, "No anchorage log released");
    assert!(ships.evidence.is_empty());
    let (gates, history) = &read[FORMAT_2_CLAIMS[5].statement];
    assert_eq!(gates.assignee, "");
    assert_eq!(history[1].note, "Cut from the story");
    assert_eq!(history[1].actor, "ed.morgan");
    let (union, history) = &read[FORMAT_2_CLAIMS[6].statement];
    assert_eq!(union.verdict_note, "");
    assert_eq!(union.evidence[0].source, "Harbour Radio");
    assert_eq!(history[3].note, "Broadcast heard");
    assert_eq!(history[4].note, "The union denies it");
    assert_eq!(history[4].actor, "chief.ana");

    // Every request id stored by the earlier release replays its claim, and
    // refuses another claim.
    for stored in &FORMAT_2_CLAIMS {
        let (claim, _) = &read[stored.statement];
        let retry = submit_with_id(
            &mut client,
            "ed.morgan",
            submission_of(claim),
            stored.request_id,
        );
        assert_eq!(&retry.await.expect("the retry replays"), claim);
        let mut other = submission_of(claim);
        other.statement.push_str(" again");
        let reuse = submit_with_id(&mut client, "ed.morgan", other, stored.request_id).await;
        expect_error(reuse, Code::AlreadyExists, "REQUEST_ID_REUSED");
    }

    // A new claim of the story with a figure. Today's release would suggest
    // it contradicts both counts of the fixture, but they were stored before
    // figures were read: they are not in the figure index, and a new claim
    // is not compared with them. Nothing stored contradicts it: no link.
    let new = submit_with_id(&mut client, "ed.morgan", some_5000(), "after-the-upgrade")
        .await
        .expect("a new claim");
    assert_eq!(new.figures.len(), 1, "{:?}", new.figures);
    assert_eq!(new.figures[0].low, 5_000.0);
    assert!(new.links.is_empty(), "{:?}", new.links);
    for old in [ONLY_2000, ABOUT_9000] {
        let old = get(&mut client, &read[old].0.name).await;
        assert!(old.links.is_empty(), "{old:?}");
    }

    // New writes: the new claim through review, and changes to old claims.
    start_review(&mut client, "kim.checker", &new.name).await;
    add_evidence(
        &mut client,
        "kim.checker",
        &new.name,
        supports("Dockers' Pay Office", "Strike pay ledger"),
    )
    .await;
    let new = verify(&mut client, "kim.checker", &new.name, "Seen").await;
    assert!(new.links.is_empty(), "{:?}", new.links);
    let cranes = &read[FORMAT_2_CLAIMS[0].statement].0.name;
    start_review(&mut client, "lee.checker", cranes).await;
    let only_2000 = &read[ONLY_2000].0.name;
    let reopened = reopen(&mut client, "chief.ana", only_2000, "Second look").await;
    // Rewritten in format 3, an old claim still has no figures: they are
    // read as a claim is submitted.
    assert!(reopened.figures.is_empty(), "{:?}", reopened.figures);
    assert!(reopened.links.is_empty(), "{:?}", reopened.links);
    let after = read_all(&mut client, DOCKS).await;
    assert_eq!(after.len(), FORMAT_2_CLAIMS.len() + 1);
    let retry = submit_with_id(&mut client, "ed.morgan", some_5000(), "after-the-upgrade");
    assert_eq!(
        retry.await.expect("the new request id replays").name,
        new.name
    );
    drop(client);

    let dir = server.stop().await.expect("the server owns its directory");
    // Events keep the bytes they were stored with: format 2 up to the
    // fixture's last, format 3 after. Claims are of format 3 once they have
    // changed.
    let db = sled::open(dir.path()).expect("the stopped server's store opens");
    let events = stored_records(&db, "events");
    let (old, new_events) = events.split_at(usize::try_from(FORMAT_2_EVENTS).unwrap());
    assert_eq!(old, old_events, "the old events, byte for byte");
    let formats: Vec<u8> = new_events.iter().map(|e| e[32]).collect();
    assert_eq!(
        formats, [3; 7],
        "the expiry, four for the new claim, two changes"
    );
    let claims = stored_formats(&db, "claims", 0);
    assert_eq!(claims.iter().filter(|b| **b == 3).count(), 4, "{claims:?}");
    assert_eq!(claims.iter().filter(|b| **b == 2).count(), 4, "{claims:?}");
    let requests = stored_formats(&db, "requests", 0);
    assert_eq!(
        requests.iter().filter(|b| **b == 3).count(),
        1,
        "{requests:?}"
    );
    assert_eq!(
        requests.iter().filter(|b| **b == 2).count(),
        7,
        "{requests:?}"
    );
    assert_eq!(
        store_format(&db).as_deref(),
        Some(&3u32.to_be_bytes()[..]),
        "store format"
    );
    drop(db);

    assert_verdict(dir.path(), 0, "all 33 events check out");

    let server = TestServer::spawn_in(dir).await;
    let mut client = server.client().await;
    assert_eq!(
        read_all(&mut client, DOCKS).await,
        after,
        "the same after a restart"
    );
}

/// The two counts of dock workers in the format-2 fixture contradict each
/// other, and the count submitted after the upgrade contradicts both:
/// submitted today, they are linked. Only the fixture's format (no figures
/// stored) keeps them apart there.
#[tokio::test]
async fn the_format_2_fixtures_counts_are_linked_when_submitted_today() {
    use claimdesk::pb::claim_link::{Relation, Status};
    let links_of = |claim: &Claim| -> Vec<(Relation, String, Status)> {
        claim
            .links
            .iter()
            .map(|l| (l.relation(), l.other.clone(), l.status()))
            .collect()
    };
    let suggested = |other: &Claim| (Relation::Contradicts, other.name.clone(), Status::Suggested);
    let (_server, mut client) = TestServer::with_client().await;
    let only_2000 = submit(
        &mut client,
        "ed.morgan",
        docks_claim(ONLY_2000, "Port Authority"),
    )
    .await;
    let about_9000 = submit(
        &mut client,
        "ed.morgan",
        docks_claim(ABOUT_9000, "Docks Daily"),
    )
    .await;
    assert_eq!(only_2000.figures.len(), 1, "{:?}", only_2000.figures);
    assert_eq!(about_9000.figures.len(), 1, "{:?}", about_9000.figures);
    assert_eq!(links_of(&about_9000), [suggested(&only_2000)]);

    let some_5000 = submit(&mut client, "ed.morgan", some_5000()).await;
    let mut links = links_of(&some_5000);
    links.sort();
    let mut expected = [suggested(&only_2000), suggested(&about_9000)];
    expected.sort();
    assert_eq!(links, expected);
}

/// The story of the format-3 fixture.
const QUAY: &str = "fixture-quay";

/// The statements of the format-3 fixture, by the letter of their request
/// id (`quay-a`...).
const QUAY_CLAIMS: [(&str, &str); 5] = [
    ("a", "Some 3,000 dock workers joined the strike"),
    ("b", "About 9,000 dock workers joined the strike"),
    ("c", "Close to 9,000 dockers stayed away from the quay"),
    ("d", "The strike shut the container terminal for 3 days"),
    ("e", "Pickets blocked the north gate at dawn"),
];

#[tokio::test]
async fn a_store_of_format_3_records_opens_and_reads_as_it_was_written() {
    use claimdesk::pb::{
        claim::Priority,
        claim_link::{Relation, Status},
        evidence::Stance,
        figure::{Qualifier, Unit},
    };
    let dir = unpack_fixture("format3-store.tar.gz");
    assert_verdict(dir.path(), 0, "all 20 events check out");
    let db = sled::open(dir.path()).expect("the store opens");
    assert_eq!(
        store_format(&db).as_deref(),
        Some(&3u32.to_be_bytes()[..]),
        "the store format"
    );
    let old_events = stored_records(&db, "events");
    assert_eq!(stored_formats(&db, "events", 32), [3; 20]);
    assert_eq!(stored_formats(&db, "claims", 0), [3; 5]);
    assert_eq!(stored_formats(&db, "requests", 0), [3; 5]);
    drop(db);

    let server = TestServer::spawn_in(dir).await;
    let mut client = server.client().await;
    let read = read_all(&mut client, QUAY).await;
    assert_eq!(read.len(), 5, "{:?}", read.keys());
    let claim = |letter: &str| {
        let (_, statement) = QUAY_CLAIMS.iter().find(|(l, _)| *l == letter).unwrap();
        &read[*statement]
    };
    let ((a, a_history), (b, b_history), (c, c_history)) = (claim("a"), claim("b"), claim("c"));
    let ((d, d_history), (e, e_history)) = (claim("d"), claim("e"));
    let types = |history: &[ClaimEvent]| history.iter().map(ClaimEvent::r#type).collect::<Vec<_>>();
    let actors =
        |history: &[ClaimEvent]| history.iter().map(|e| e.actor.clone()).collect::<Vec<_>>();
    let mut revisions: Vec<u64> = read
        .values()
        .flat_map(|(_, history)| history.iter().map(|e| e.revision))
        .collect();
    revisions.sort_unstable();
    assert_eq!(revisions, (1..=20).collect::<Vec<_>>());
    for (letter, statement) in QUAY_CLAIMS {
        let (claim, history) = &read[statement];
        assert_eq!(claim.story, QUAY, "{letter}");
        assert_eq!(claim.submitted_by, "ed.morgan", "{letter}");
        assert!(
            history
                .iter()
                .all(|e| e.claim == claim.name && e.story == QUAY)
        );
    }

    // The states, labels and rulings.
    use Type::*;
    assert_eq!((a.state(), a.label.as_str()), (State::Verified, "verified"));
    assert_eq!(a.verdict_note, "Pay ledger seen");
    assert_eq!(a.tags, ["labour"]);
    assert_eq!(a.assignee, "kim.checker");
    assert_eq!(
        (a.evidence[0].source.as_str(), a.evidence[0].stance()),
        ("Dockers' Pay Office", Stance::Supports)
    );
    assert_eq!(a.evidence[0].summary, "Strike pay paid to 3,000 members");
    assert_eq!(
        types(a_history),
        [
            Submitted,
            Linked,
            LinkResolved,
            ReviewStarted,
            EvidenceAdded,
            Verified
        ]
    );
    assert_eq!((b.state(), b.label.as_str()), (State::Disputed, "disputed"));
    assert_eq!(b.verdict_note, "Gate logs differ");
    assert_eq!(
        (b.evidence[0].source.as_str(), b.evidence[0].stance()),
        ("Terminal Operator", Stance::Refutes)
    );
    assert_eq!(
        types(b_history),
        [
            Submitted,
            Linked,
            LinkResolved,
            Linked,
            LinkResolved,
            ReviewStarted,
            EvidenceAdded,
            Disputed
        ]
    );
    assert_eq!(
        actors(b_history),
        [
            "ed.morgan",
            "system",
            "kim.checker",
            "kim.checker",
            "lee.checker",
            "kim.checker",
            "kim.checker",
            "kim.checker"
        ]
    );
    assert_eq!(
        (c.state(), c.label.as_str()),
        (State::Unverified, "unverified (per Harbour Radio)")
    );
    assert_eq!(types(c_history), [Submitted, Linked, LinkResolved]);
    assert_eq!(
        (d.state(), d.label.as_str(), d.priority()),
        (
            State::Unverified,
            "unverified (per Docks Daily)",
            Priority::Urgent
        )
    );
    assert_eq!(types(d_history), [Submitted]);
    assert_eq!(
        (e.state(), e.label.as_str()),
        (State::Withdrawn, "withdrawn")
    );
    assert_eq!(types(e_history), [Submitted, Withdrawn]);
    assert_eq!(e_history[1].note, "Cut from the story");

    // The figures, as read when each claim was submitted.
    let figure = |claim: &Claim| {
        assert_eq!(claim.figures.len(), 1, "{:?}", claim.figures);
        let f = &claim.figures[0];
        (
            f.text.clone(),
            f.low,
            f.high,
            f.qualifier(),
            f.unit(),
            f.counted.clone(),
            f.family.clone(),
        )
    };
    let count = |text: &str, value: f64, qualifier, counted: &str, family: &str| {
        (
            text.to_owned(),
            value,
            value,
            qualifier,
            Unit::Count,
            counted.to_owned(),
            family.to_owned(),
        )
    };
    assert_eq!(
        figure(a),
        count(
            "Some 3,000 dock workers",
            3000.0,
            Qualifier::About,
            "dock workers",
            "workers"
        )
    );
    assert_eq!(
        figure(b),
        count(
            "About 9,000 dock workers",
            9000.0,
            Qualifier::About,
            "dock workers",
            "workers"
        )
    );
    assert_eq!(
        figure(c),
        count(
            "Close to 9,000 dockers",
            9000.0,
            Qualifier::Nearly,
            "dockers",
            "docker"
        )
    );
    let days = &d.figures[0];
    assert_eq!(
        (
            days.text.as_str(),
            days.low,
            days.unit(),
            days.unit_name.as_str()
        ),
        ("3 days", 3.0, Unit::Measure, "day")
    );
    assert!(e.figures.is_empty());

    // The links: a contradiction the server suggested, then confirmed; a
    // corroboration the desk made, then rejected.
    assert_eq!(a.links.len(), 1, "{:?}", a.links);
    assert_eq!(b.links.len(), 2, "{:?}", b.links);
    assert_eq!(c.links.len(), 1, "{:?}", c.links);
    let (contradiction, other_end) = (&b.links[0], &a.links[0]);
    assert_eq!(contradiction.name, format!("{}/links/3", b.name));
    assert_eq!(other_end.name, format!("{}/links/3", a.name));
    assert_eq!(
        (
            contradiction.relation(),
            contradiction.status(),
            contradiction.other.as_str()
        ),
        (Relation::Contradicts, Status::Confirmed, a.name.as_str())
    );
    assert!(contradiction.subject);
    assert!(!other_end.subject);
    assert_eq!(other_end.other, b.name);
    assert!(
        contradiction
            .note
            .starts_with("suggested: figures cannot both be true"),
        "{}",
        contradiction.note
    );
    assert_eq!(contradiction.created_by, "system");
    assert_eq!(contradiction.resolved_by, "kim.checker");
    assert_eq!(
        contradiction.resolution_note,
        "Pay ledger and gate logs disagree"
    );
    let basis: Vec<(f64, f64)> = contradiction
        .basis
        .iter()
        .map(|pair| {
            (
                pair.this_figure.as_ref().unwrap().low,
                pair.other_figure.as_ref().unwrap().low,
            )
        })
        .collect();
    assert_eq!(basis, [(9000.0, 3000.0)], "the figures compared");
    let corroboration = &c.links[0];
    assert_eq!(corroboration.name, format!("{}/links/10", c.name));
    assert_eq!(
        (
            corroboration.relation(),
            corroboration.status(),
            corroboration.other.as_str()
        ),
        (Relation::Corroborates, Status::Rejected, b.name.as_str())
    );
    assert_eq!(
        (
            corroboration.note.as_str(),
            corroboration.created_by.as_str(),
            corroboration.resolved_by.as_str(),
            corroboration.resolution_note.as_str()
        ),
        (
            "Same count, other outlet",
            "kim.checker",
            "lee.checker",
            "Radio repeated the paper"
        )
    );
    assert_eq!(b.links[1].name, format!("{}/links/10", b.name));
    // The link events name their link, and the verification the
    // contradiction it acknowledged.
    assert_eq!(b_history[1].link.as_ref().unwrap().name, contradiction.name);
    assert_eq!(
        b_history[2].link.as_ref().unwrap().status(),
        Status::Confirmed
    );
    assert_eq!(
        c_history[2].link.as_ref().unwrap().status(),
        Status::Rejected
    );
    assert_eq!(
        a_history[5].acknowledged_links,
        std::slice::from_ref(&other_end.name)
    );
    assert!(b_history.iter().all(|e| e.acknowledged_links.is_empty()));

    // Every request id replays its claim.
    for (letter, statement) in QUAY_CLAIMS {
        let (claim, _) = &read[statement];
        let request_id = format!("quay-{letter}");
        let retry = submit_with_id(&mut client, "ed.morgan", submission_of(claim), &request_id);
        assert_eq!(&retry.await.expect("the retry replays"), claim, "{letter}");
    }

    // The stored figure index is read as written: a new count of the same
    // strikers is suggested as contradicting the stored ones.
    let new = submit_with_id(
        &mut client,
        "ed.morgan",
        Claim {
            story: QUAY.to_owned(),
            ..docks_claim("Only 1,000 dock workers joined the strike", "Union Office")
        },
        "after-format-3",
    )
    .await
    .expect("a new claim");
    let mut linked: Vec<_> = new
        .links
        .iter()
        .map(|l| (l.relation(), l.status(), l.other.clone()))
        .collect();
    linked.sort();
    let mut expected = vec![
        (Relation::Contradicts, Status::Suggested, a.name.clone()),
        (Relation::Contradicts, Status::Suggested, b.name.clone()),
    ];
    expected.sort();
    assert_eq!(linked, expected);
    let after = read_all(&mut client, QUAY).await;
    drop(client);
    let dir = server.stop().await.expect("the server owns its directory");
    let db = sled::open(dir.path()).expect("the stopped server's store opens");
    let events = stored_records(&db, "events");
    assert_eq!(
        events[..20],
        old_events[..],
        "the fixture's events, byte for byte"
    );
    drop(db);
    // The submission and both ends of its two suggestions.
    assert_verdict(dir.path(), 0, "all 25 events check out");
    let server = TestServer::spawn_in(dir).await;
    let mut client = server.client().await;
    assert_eq!(
        read_all(&mut client, QUAY).await,
        after,
        "the same after a restart"
    );
}

#[tokio::test]
async fn a_store_of_an_unknown_format_is_refused_at_open() {
    if sled_only("the formats of the embedded store's records") {
        return;
    }
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

/// A backup of the store in `dir`, taken with the store opened as a server
/// opens it, written to a file beside the returned directory; the store is
/// closed again when it returns.
fn backup_of_store(dir: &Path) -> (TempDir, std::path::PathBuf) {
    use claimdesk::storage::{SledStore, Store, StoreConfig};
    let store = SledStore::open(&StoreConfig::new(dir)).expect("the store opens");
    let mut bytes = Vec::new();
    store.backup(&mut bytes).expect("a backup");
    let closed = store.on_close().expect("the first call");
    drop(store);
    closed.blocking_recv().expect("closed");
    let files = tempfile::tempdir().expect("a directory");
    let file = files.path().join("store.backup");
    std::fs::write(&file, bytes).expect("written");
    (files, file)
}

/// Restores `file` into a new directory.
fn restore(file: &Path) -> TempDir {
    use claimdesk::storage::{SledStore, StoreConfig};
    let dir = tempfile::tempdir().expect("a directory");
    SledStore::restore(&StoreConfig::new(dir.path()), file).expect("restored");
    dir
}

/// The claims, events and request ids of the store in `dir`, as stored.
fn records(dir: &Path) -> [Vec<sled::IVec>; 3] {
    let db = sled::open(dir).expect("the store opens");
    ["claims", "events", "requests"].map(|tree| stored_records(&db, tree))
}

#[test]
fn a_store_of_every_format_backs_up_and_restores_with_its_records_as_they_were_stored() {
    for (tarball, events) in [
        ("format1-store.tar.gz", 26),
        ("format2-store.tar.gz", 26),
        ("format3-store.tar.gz", 20),
    ] {
        let dir = unpack_fixture(tarball);
        let (_files, file) = backup_of_store(dir.path());
        let restored = restore(&file);
        // Records are copied, never encoded again: JSON stays JSON, and the
        // audit chain, which hashes the stored bytes, holds.
        assert_eq!(records(restored.path()), records(dir.path()), "{tarball}");
        assert_verdict(
            restored.path(),
            0,
            &format!("all {events} events check out"),
        );
    }
}

/// `tests/fixtures/backup-v1.bin`, taken of the format-3 fixture store by
/// `claimdesk backup` (`tests/fixtures/make-backup-v1.sh`): every later
/// release must restore it as the store it was taken of.
#[tokio::test]
async fn a_backup_of_format_version_1_restores_as_the_store_it_was_taken_of() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/backup-v1.bin");
    let restored = tokio::task::spawn_blocking(move || restore(&file))
        .await
        .expect("restored");
    let original = unpack_fixture("format3-store.tar.gz");
    assert_eq!(records(restored.path()), records(original.path()));
    assert_verdict(restored.path(), 0, "all 20 events check out");

    let mut read = Vec::new();
    for dir in [original, restored] {
        let server = TestServer::spawn_in(dir).await;
        let mut client = server.client().await;
        let claims = read_all(&mut client, QUAY).await;
        let stats = client
            .get_queue_stats(claimdesk::pb::GetQueueStatsRequest {
                story: QUAY.to_owned(),
            })
            .await
            .expect("stats")
            .into_inner();
        read.push((claims, stats.state_counts, stats.waiting_counts));
        server.stop().await;
    }
    assert_eq!(read[0].0.len(), 5);
    assert_eq!(
        read[0], read[1],
        "the claims, their histories, the queue's counts"
    );
}
