//! WatchClaimEvents: the stored history after a revision, then live events,
//! without a gap or a duplicate; resuming after a disconnect or a restart;
//! filters; watchers that stop reading; shutdown.
//!
//! No test sleeps to synchronise: the stream itself says when the server has
//! caught up (an event arrives), and every wait is bounded by a timeout so a
//! failure cannot hang the suite.

use std::{ops::RangeInclusive, time::Duration};

use claimdesk::{
    desk::WATCH_BUFFER,
    pb::{
        Attribution, Claim, ClaimEvent, WatchClaimEventsRequest, claim::State, claim_event::Type,
        claim_service_client::ClaimServiceClient, evidence,
    },
    server,
};
use tokio::{sync::oneshot, time::timeout};
use tonic::{Code, Status, Streaming, transport::Endpoint};

use crate::helpers::*;

/// How long any single wait (a call, the next event, a task) may take before
/// the test fails instead of hanging.
const WAIT: Duration = Duration::from_secs(10);

type Events = Streaming<ClaimEvent>;

// ---------------------------------------------------------------------------
// Watching.

fn watch_request(after_revision: u64, story: &str, states: &[State]) -> WatchClaimEventsRequest {
    WatchClaimEventsRequest {
        after_revision,
        story: story.to_owned(),
        states: states.iter().map(|s| (*s).into()).collect(),
    }
}

/// Opens a watch; panics if the call fails or does not answer.
async fn open(client: &mut Client, request: WatchClaimEventsRequest) -> Events {
    timeout(WAIT, client.watch_claim_events(request))
        .await
        .expect("WatchClaimEvents answers in time")
        .expect("WatchClaimEvents succeeds")
        .into_inner()
}

/// Opens an unfiltered watch of every event after `after_revision`.
async fn watch_after(client: &mut Client, after_revision: u64) -> Events {
    open(client, watch_request(after_revision, "", &[])).await
}

/// The next event; panics if the stream fails, ends or stays silent.
async fn next_event(events: &mut Events) -> ClaimEvent {
    match timeout(WAIT, events.message()).await {
        Err(_) => panic!("no event within {WAIT:?}"),
        Ok(Err(status)) => panic!("the watch failed: {status:?}"),
        Ok(Ok(None)) => panic!("the watch ended"),
        Ok(Ok(Some(event))) => event,
    }
}

/// The next `n` events.
async fn take(events: &mut Events, n: usize) -> Vec<ClaimEvent> {
    let mut taken = Vec::with_capacity(n);
    for _ in 0..n {
        taken.push(next_event(events).await);
    }
    taken
}

/// Events up to and including the one at `revision`, which must come.
async fn read_through(events: &mut Events, revision: u64) -> Vec<ClaimEvent> {
    let mut read = Vec::new();
    loop {
        let event = next_event(events).await;
        assert!(
            event.revision <= revision,
            "revision {} came while waiting for {revision}",
            event.revision
        );
        let done = event.revision == revision;
        read.push(event);
        if done {
            return read;
        }
    }
}

/// Every event until the stream fails, and the status it fails with; panics
/// if it ends without a status or stays silent.
async fn read_to_failure(events: &mut Events) -> (Vec<ClaimEvent>, Status) {
    let mut read = Vec::new();
    loop {
        match timeout(WAIT, events.message()).await {
            Err(_) => panic!("neither an event nor an error within {WAIT:?}"),
            Ok(Ok(None)) => panic!("the watch ended without an error"),
            Ok(Ok(Some(event))) => read.push(event),
            Ok(Err(status)) => return (read, status),
        }
    }
}

fn revisions(events: &[ClaimEvent]) -> Vec<u64> {
    events.iter().map(|e| e.revision).collect()
}

/// `events` are exactly the revisions `expected`, each once, in order.
#[track_caller]
fn assert_revisions(events: &[ClaimEvent], expected: RangeInclusive<u64>) {
    assert_eq!(
        revisions(events),
        expected.collect::<Vec<_>>(),
        "revisions of the events"
    );
}

fn types(events: &[ClaimEvent]) -> Vec<Type> {
    events.iter().map(ClaimEvent::r#type).collect()
}

/// The stored histories of `claims`, merged in revision order.
async fn histories(client: &mut Client, claims: &[&str]) -> Vec<ClaimEvent> {
    let mut all = Vec::new();
    for name in claims {
        all.extend(events_of(client, name).await);
    }
    all.sort_by_key(|e| e.revision);
    all
}

// ---------------------------------------------------------------------------
// Changes the shared helpers do not cover; each panics on failure.

/// Takes `name` for review as `checker`, attaches independent supporting
/// evidence and rules it verified: four events.
async fn review_and_verify(client: &mut Client, checker: &str, name: &str) -> Claim {
    start_review(client, checker, name).await;
    let coastguard_log = supports("Coastguard log", "The log matches the reported figure");
    add_evidence(client, checker, name, coastguard_log).await;
    verify(client, checker, name, "Matches the coastguard log").await
}

/// Submits a harbour claim and a border claim, verifies the first and
/// withdraws the second: six events. Returns the two claims' names.
async fn verified_harbour_and_withdrawn_border(client: &mut Client) -> (String, String) {
    let harbour = submit(client, "maria", harbour_claim()).await.name;
    let border = submit(
        client,
        "olek",
        border_claim(
            "Two brigades reached the river crossing",
            "Defence Ministry",
        ),
    )
    .await
    .name;
    review_and_verify(client, "tomas", &harbour).await;
    withdraw(client, "olek", &border, "Cut from the late edition").await;
    (harbour, border)
}

/// A server holding the six events of
/// [`verified_harbour_and_withdrawn_border`], the editor's client that made
/// them, and a watcher's client with an unfiltered watch from revision 0.
struct Watching {
    server: TestServer,
    editor: Client,
    watcher: Client,
    events: Events,
    harbour: String,
    border: String,
}

async fn watching_six_events() -> Watching {
    let server = TestServer::spawn().await;
    let mut editor = server.client().await;
    let (harbour, border) = verified_harbour_and_withdrawn_border(&mut editor).await;
    let mut watcher = server.client().await;
    let events = watch_after(&mut watcher, 0).await;
    Watching {
        server,
        editor,
        watcher,
        events,
        harbour,
        border,
    }
}

/// A short claim for volume tests: `writer`'s `n`-th sighting.
fn sighting(writer: u64, n: u64) -> Claim {
    Claim {
        statement: format!("Ferry {writer}-{n} left port late"),
        attribution: Some(Attribution {
            source: "Pier Radio".to_owned(),
            ..Default::default()
        }),
        story: "ferry-delays".to_owned(),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------
// 1. Replay, then live.

#[tokio::test]
async fn a_watch_from_zero_replays_the_history_in_order_then_streams_new_changes_live() {
    let Watching {
        server,
        mut editor,
        watcher: _watcher,
        mut events,
        harbour,
        border,
    } = watching_six_events().await;
    let replayed = take(&mut events, 6).await;
    assert_revisions(&replayed, 1..=6);
    assert_eq!(
        types(&replayed),
        [
            Type::Submitted,
            Type::Submitted,
            Type::ReviewStarted,
            Type::EvidenceAdded,
            Type::Verified,
            Type::Withdrawn,
        ]
    );
    assert_eq!(
        replayed,
        histories(&mut editor, &[&harbour, &border]).await,
        "the replay is the stored history"
    );

    // Changes from another client, made after the replay was read, arrive
    // on the same stream.
    let mut desk = server.client().await;
    let ferry = submit(
        &mut desk,
        "maria",
        numbered_claim(HARBOUR_STORY, HARBOUR_SOURCE, 7),
    )
    .await
    .name;
    reopen(
        &mut desk,
        "desk-editor",
        &harbour,
        "The coastguard log was misdated",
    )
    .await;
    start_review(&mut desk, "li", &ferry).await;
    let live = take(&mut events, 3).await;
    assert_revisions(&live, 7..=9);
    assert_eq!(
        types(&live),
        [Type::Submitted, Type::Reopened, Type::ReviewStarted]
    );
    assert_eq!(
        [live[0].claim.as_str(), &live[1].claim, &live[2].claim],
        [ferry.as_str(), &harbour, &ferry]
    );

    // Nothing is repeated or held back: the next change is the next event.
    withdraw(&mut desk, "maria", &ferry, "Duplicate of an earlier claim").await;
    let next = next_event(&mut events).await;
    assert_eq!((next.revision, next.r#type()), (10, Type::Withdrawn));

    let all: Vec<_> = replayed.into_iter().chain(live).chain([next]).collect();
    assert_eq!(
        all,
        histories(&mut desk, &[&harbour, &border, &ferry]).await,
        "live events are the stored ones"
    );
}

// ---------------------------------------------------------------------------
// 2. Disconnect and resume.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watcher_that_disconnects_resumes_from_its_last_revision_without_gaps_or_duplicates() {
    const HISTORY: u64 = 30;
    const WRITES: u64 = 300;
    const FINAL: u64 = HISTORY + WRITES;
    /// The writer waits here until the watcher has dropped its stream, so
    /// that the rest of the writes race with the reconnection.
    const PAUSE_AT: u64 = 150;
    const READ_BEFORE_DROP: usize = 100;

    let server = TestServer::spawn().await;
    let mut setup = server.client().await;
    let border = (BORDER_STORY, "River Watch");
    submit_numbered(&mut setup, "olek", border, 0..HISTORY as usize).await;

    let mut watcher = server.client().await;
    let mut first = watch_after(&mut watcher, 0).await;

    let (dropped_tx, dropped_rx) = oneshot::channel::<()>();
    let mut writer_client = server.client().await;
    let writer = tokio::spawn(async move {
        let mut dropped = Some(dropped_rx);
        let mut current = String::new();
        for i in 0..WRITES {
            if i == PAUSE_AT {
                let signal = dropped.take().expect("one pause");
                timeout(WAIT, signal)
                    .await
                    .expect("the watcher disconnects in time")
                    .expect("the watcher signals its disconnect");
            }
            match i % 3 {
                0 => {
                    let claim = numbered_claim(HARBOUR_STORY, HARBOUR_SOURCE, i as usize);
                    current = submit(&mut writer_client, "maria", claim).await.name;
                }
                1 => {
                    start_review(&mut writer_client, "tomas", &current).await;
                }
                _ => {
                    withdraw(&mut writer_client, "maria", &current, "Superseded").await;
                }
            }
        }
    });

    // Part of the history from storage, then live events; then the watcher
    // goes away while the writer is still at work.
    let before_drop = take(&mut first, READ_BEFORE_DROP).await;
    assert_revisions(&before_drop, 1..=READ_BEFORE_DROP as u64);
    drop(first);
    dropped_tx
        .send(())
        .expect("the writer waits for the disconnect");

    let last_seen = before_drop.last().expect("events were read").revision;
    let mut reconnected = server.client().await;
    let mut second = watch_after(&mut reconnected, last_seen).await;
    let after_resume = read_through(&mut second, FINAL).await;

    timeout(WAIT, writer)
        .await
        .expect("the writer finishes")
        .expect("the writer does not panic");

    let seen: Vec<ClaimEvent> = before_drop.into_iter().chain(after_resume).collect();
    assert_revisions(&seen, 1..=FINAL);

    // The events seen across both streams are the stored ones, field for
    // field: the same as a fresh replay of the whole history.
    let mut check = server.client().await;
    let mut fresh = watch_after(&mut check, 0).await;
    assert_eq!(seen, take(&mut fresh, FINAL as usize).await);

    // The resumed stream is live and holds nothing back or twice.
    submit(
        &mut setup,
        "olek",
        border_claim("A bridge was closed", "River Watch"),
    )
    .await;
    assert_eq!(next_event(&mut second).await.revision, FINAL + 1);
}

// ---------------------------------------------------------------------------
// 3. Restart and shutdown.

#[tokio::test]
async fn a_watcher_resumes_after_a_server_restart_with_every_event_it_missed_before_and_after_it() {
    let server = TestServer::spawn().await;
    let mut editor = server.client().await;
    let harbour = (HARBOUR_STORY, HARBOUR_SOURCE);
    let names = submit_numbered(&mut editor, "maria", harbour, 0..5).await;

    // The watcher gets as far as revision 3 and goes away.
    let mut watcher = server.client().await;
    let mut events = watch_after(&mut watcher, 0).await;
    let seen = take(&mut events, 3).await;
    assert_revisions(&seen, 1..=3);
    let last_seen = seen[2].revision;
    drop(events);

    // More changes before the stop (revisions 6 to 8) ...
    for name in &names[..3] {
        start_review(&mut editor, "tomas", name).await;
    }
    let server = timeout(WAIT * 2, server.restart())
        .await
        .expect("the server restarts in time");

    // ... and after the restart (revisions 9 to 11).
    let mut editor = server.client().await;
    for name in &names[3..] {
        withdraw(&mut editor, "maria", name, "Figures withdrawn by the port").await;
    }
    let border = submit(
        &mut editor,
        "olek",
        border_claim("The crossing reopened at noon", "River Watch"),
    )
    .await
    .name;

    let mut watcher = server.client().await;
    let mut resumed = watch_after(&mut watcher, last_seen).await;
    let missed = take(&mut resumed, 8).await;
    assert_revisions(&missed, 4..=11);
    assert_eq!(
        types(&missed),
        [
            Type::Submitted,
            Type::Submitted,
            Type::ReviewStarted,
            Type::ReviewStarted,
            Type::ReviewStarted,
            Type::Withdrawn,
            Type::Withdrawn,
            Type::Submitted,
        ]
    );
    let mut all_names: Vec<&str> = names.iter().map(String::as_str).collect();
    all_names.push(&border);
    let stored = histories(&mut editor, &all_names).await;
    assert_eq!(missed, stored[3..], "the missed events are the stored ones");

    // The resumed watch goes on live after the restart.
    start_review(&mut editor, "li", &border).await;
    let live = next_event(&mut resumed).await;
    assert_eq!(
        (live.revision, live.r#type(), live.claim.as_str()),
        (12, Type::ReviewStarted, border.as_str())
    );
}

#[tokio::test]
async fn a_graceful_shutdown_ends_open_watches_with_unavailable_instead_of_waiting() {
    let server = TestServer::spawn().await;
    let mut editor = server.client().await;
    submit(&mut editor, "maria", harbour_claim()).await;
    submit(&mut editor, "maria", other_harbour_claim(0)).await;

    // One watcher caught up and live; another whose filter matches nothing,
    // so it has never had anything to send.
    let mut watcher = server.client().await;
    let mut busy = watch_after(&mut watcher, 0).await;
    assert_revisions(&take(&mut busy, 2).await, 1..=2);
    let mut idle = open(&mut watcher, watch_request(0, "quiet-story", &[])).await;

    // The shutdown ends both streams, so it does not wait out its grace
    // period for them.
    let stop = timeout(server::Config::DEFAULT_SHUTDOWN_GRACE / 2, server.stop());
    let (stopped, (busy_rest, busy_end), (idle_rest, idle_end)) =
        tokio::join!(stop, read_to_failure(&mut busy), read_to_failure(&mut idle));
    stopped.expect("the server stops before its shutdown grace period is over");
    assert!(busy_rest.is_empty(), "no more events: {busy_rest:?}");
    assert!(idle_rest.is_empty(), "no events: {idle_rest:?}");
    expect_error(Err::<(), _>(busy_end), Code::Unavailable, "SHUTTING_DOWN");
    expect_error(Err::<(), _>(idle_end), Code::Unavailable, "SHUTTING_DOWN");
}

// ---------------------------------------------------------------------------
// 4. Filters.

/// What a `story`/`states` filter lets through, computed here from the
/// unfiltered stream.
fn expected(all: &[ClaimEvent], story: &str, states: &[State]) -> Vec<ClaimEvent> {
    all.iter()
        .filter(|e| story.is_empty() || e.story == story)
        .filter(|e| states.is_empty() || states.contains(&e.to_state()))
        .cloned()
        .collect()
}

#[tokio::test]
async fn watch_filters_select_events_by_story_by_resulting_state_and_by_both() {
    // Stored before the watches open: replayed.
    let Watching {
        server: _server,
        mut editor,
        mut watcher,
        events: mut all,
        harbour,
        border,
    } = watching_six_events().await;
    let by_story = open(&mut watcher, watch_request(0, HARBOUR_STORY, &[])).await;
    let by_state = open(&mut watcher, watch_request(0, "", &[State::Verified])).await;
    let verified_or_withdrawn = [State::Verified, State::Withdrawn];
    let by_both = open(
        &mut watcher,
        watch_request(0, BORDER_STORY, &verified_or_withdrawn),
    )
    .await;
    // Once the unfiltered watch has replayed everything stored, the filtered
    // ones (opened before the changes below) are well under way too; the
    // changes below may reach them from storage or live.
    assert_revisions(&take(&mut all, 6).await, 1..=6);

    let second_border = submit(
        &mut editor,
        "olek",
        border_claim("Ferries to the island were suspended", "Coast Radio"),
    )
    .await
    .name;
    let second_harbour = submit(
        &mut editor,
        "maria",
        numbered_claim(HARBOUR_STORY, HARBOUR_SOURCE, 2),
    )
    .await
    .name;
    review_and_verify(&mut editor, "li", &second_border).await;
    withdraw(&mut editor, "maria", &second_harbour, "Not in the copy").await;
    reopen(
        &mut editor,
        "desk-editor",
        &harbour,
        "Second look requested",
    )
    .await;
    start_review(&mut editor, "ana", &harbour).await;
    let shifts_worked = refutes("Port Authority", "Gate logs show most shifts worked");
    add_evidence(&mut editor, "ana", &harbour, shifts_worked).await;
    // The last harbour event.
    dispute(&mut editor, "ana", &harbour, "Gate logs contradict it").await;
    // The last event, a border withdrawal.
    let third_border = submit(
        &mut editor,
        "olek",
        border_claim("The curfew was lifted", "River Watch"),
    )
    .await
    .name;
    withdraw(&mut editor, "olek", &third_border, "Story spiked").await;

    let everything = histories(
        &mut editor,
        &[
            &harbour,
            &border,
            &second_border,
            &second_harbour,
            &third_border,
        ],
    )
    .await;
    assert_revisions(&everything, 1..=18);
    assert_eq!(
        read_through(&mut all, 18).await,
        everything[6..],
        "the unfiltered stream goes on with every new event"
    );

    let cases = [
        (by_story, HARBOUR_STORY, &[][..]),
        (by_state, "", &[State::Verified][..]),
        (by_both, BORDER_STORY, &verified_or_withdrawn[..]),
    ];
    for (mut stream, story, states) in cases {
        let want = expected(&everything, story, states);
        assert!(
            !want.is_empty() && want.len() < everything.len(),
            "the filter {story:?} {states:?} selects some events but not all"
        );
        assert!(
            want.first().is_some_and(|e| e.revision <= 6)
                && want.last().is_some_and(|e| e.revision > 6),
            "the filter {story:?} {states:?} selects stored and new events"
        );
        let last = want.last().expect("not empty").revision;
        let got = read_through(&mut stream, last).await;
        assert_eq!(
            revisions(&got),
            revisions(&want),
            "events passing story {story:?} and states {states:?}"
        );
        assert_eq!(got, want);
    }
}

#[tokio::test]
async fn a_watch_with_an_invalid_story_or_state_filter_is_rejected_with_the_field_named() {
    let (_server, mut client) = TestServer::with_client().await;

    let result = client
        .watch_claim_events(watch_request(0, "Harbour Strike!", &[]))
        .await;
    expect_invalid_fields(result, &["story"]);

    let result = client
        .watch_claim_events(watch_request(0, "", &[State::Verified, State::Unspecified]))
        .await;
    expect_invalid_fields(result, &["states[1]"]);

    let mut unknown = watch_request(0, HARBOUR_STORY, &[]);
    unknown.states = vec![State::Disputed.into(), 42];
    let result = client.watch_claim_events(unknown).await;
    expect_invalid_fields(result, &["states[1]"]);

    // Both at once: every offending field is named.
    let result = client
        .watch_claim_events(watch_request(0, "Border News", &[State::Unspecified]))
        .await;
    expect_invalid_fields(result, &["story", "states[0]"]);
}

#[tokio::test]
async fn resuming_beyond_the_last_stored_revision_is_out_of_range() {
    let (_server, mut client) = TestServer::with_client().await;
    submit(&mut client, "ed.morgan", harbour_claim()).await;

    // Revision 1 exists; 2 does not yet.
    let result = client.watch_claim_events(watch_request(2, "", &[])).await;
    let (_, details) = expect_error(result, Code::OutOfRange, "REVISION_AHEAD");
    assert_eq!(
        error_metadata(&details, "latest_revision").as_deref(),
        Some("1")
    );
    // Resuming at the last stored revision itself is fine.
    let mut stream = watch_after(&mut client, 1).await;
    submit(&mut client, "ed.morgan", harbour_claim()).await;
    assert_eq!(next_event(&mut stream).await.revision, 2);
    drop(stream);
}

/// A client for a watcher that stops reading. Its connection lets the
/// server have at most 64 KiB in flight on the stream (the HTTP/2 default,
/// instead of tonic's 2 MiB), so what the transport can hold for it is small
/// next to the volume written and the server's buffer for it must fill up.
/// Its connection window stays large: h2 (0.4.20 and later) allows a
/// connection half its connection window of framing overhead in unread small
/// DATA frames, and the server sends one small frame per event; with a
/// 64 KiB connection window that budget (about 190 unread events) runs out
/// first and the client's own h2 closes the connection with
/// ENHANCE_YOUR_CALM before the server's verdict can arrive.
async fn slow_watcher_client(server: &TestServer) -> Client {
    let channel = Endpoint::from_shared(server.url())
        .expect("a valid URL")
        .initial_stream_window_size(64 * 1024 - 1)
        .initial_connection_window_size(1024 * 1024)
        .connect()
        .await
        .expect("the slow watcher connects");
    ClaimServiceClient::new(channel)
}

/// Waits for every writer task, each within `within` (only a guard against
/// a hang); panics if one does not finish or panics.
async fn join_writers(writers: Vec<tokio::task::JoinHandle<()>>, within: Duration) {
    for writer in writers {
        timeout(within, writer)
            .await
            .expect("the writers finish")
            .expect("a writer does not panic");
    }
}

/// Reads a slow watcher (which had read revision 1) until the server ends
/// it as too slow; checks that what was buffered for it came in order and
/// without a gap. Returns those events and the last revision among them.
async fn read_until_too_slow(slow: &mut Events) -> (Vec<ClaimEvent>, u64) {
    let (caught_up, end) = read_to_failure(slow).await;
    expect_error(
        Err::<(), _>(end),
        Code::ResourceExhausted,
        "WATCHER_TOO_SLOW",
    );
    let last = 1 + caught_up.len() as u64;
    assert_revisions(&caught_up, 2..=last);
    (caught_up, last)
}

// ---------------------------------------------------------------------------
// 5. A watcher that stops reading.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watcher_that_stops_reading_is_ended_as_too_slow_without_holding_back_others() {
    const WRITERS: u64 = 16;
    const PER_WRITER: u64 = 400;
    /// The first claim, then the writers' claims.
    const FINAL: u64 = 1 + WRITERS * PER_WRITER;

    let server = TestServer::spawn().await;

    let mut slow_client = slow_watcher_client(&server).await;
    let mut slow = watch_after(&mut slow_client, 0).await;
    let mut reader_client = server.client().await;
    let mut reading = watch_after(&mut reader_client, 0).await;

    // Both watchers see the first change: they are live. From here on the
    // slow one reads nothing until the writers are done.
    let mut editor = server.client().await;
    submit(&mut editor, "maria", sighting(0, 0)).await;
    assert_eq!(next_event(&mut slow).await.revision, 1);
    assert_eq!(next_event(&mut reading).await.revision, 1);

    let reader = tokio::spawn(async move {
        let events = read_through(&mut reading, FINAL).await;
        (revisions(&events), reading)
    });
    let mut writers = Vec::new();
    for w in 1..=WRITERS {
        let mut client = server.client().await;
        writers.push(tokio::spawn(async move {
            for n in 0..PER_WRITER {
                submit(&mut client, "wire-desk", sighting(w, n)).await;
            }
        }));
    }
    // Only a guard against a hang: 6,400 durable writes on a loaded
    // two-core machine can take a while (longer on PostgreSQL, where
    // sixteen writers linking claims of one story queue for each other's
    // locks).
    let guard = if *backend() == Backend::Sled { 12 } else { 48 };
    join_writers(writers, WAIT * guard).await;
    let (seen, mut reading) = timeout(WAIT, reader)
        .await
        .expect("the reading watcher gets everything")
        .expect("the reading watcher does not panic");
    assert_eq!(seen, (2..=FINAL).collect::<Vec<_>>());

    // The slow watcher now reads what was buffered for it, in order and
    // without a gap, and then learns that it was too slow.
    let (caught_up, last) = read_until_too_slow(&mut slow).await;
    assert!(
        caught_up.len() >= WATCH_BUFFER,
        "the {WATCH_BUFFER} buffered events are delivered before the error, got {}",
        caught_up.len()
    );
    assert!(last < FINAL, "the slow watcher was cut off before the end");
    assert!(
        matches!(timeout(WAIT, slow.message()).await, Ok(Ok(None))),
        "the stream is over after the error"
    );

    // It resumes from its last revision and gets the rest; the other
    // watcher is still live.
    let mut resumed = watch_after(&mut slow_client, last).await;
    assert_revisions(&read_through(&mut resumed, FINAL).await, last + 1..=FINAL);
    submit(&mut editor, "maria", sighting(0, 1)).await;
    assert_eq!(next_event(&mut resumed).await.revision, FINAL + 1);
    assert_eq!(next_event(&mut reading).await.revision, FINAL + 1);
}

// ---------------------------------------------------------------------------
// 6. What an event says.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watcher_that_stops_reading_large_events_is_ended_once_its_buffer_holds_a_megabyte() {
    const CLAIMS: usize = 12;
    const PER_CLAIM: usize = 100;
    let metrics = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let metrics_addr = metrics.local_addr().expect("an address");
    let server = TestServer::spawn_configured(move |server| server.metrics_listener(metrics)).await;
    let mut slow_client = slow_watcher_client(&server).await;
    let mut slow = watch_after(&mut slow_client, 0).await;
    let mut editor = server.client().await;
    let first = submit(&mut editor, "maria", sighting(0, 0)).await;
    assert_eq!(next_event(&mut slow).await.revision, 1);

    // Each event carries about 4 KB of evidence: far fewer than the
    // buffer's count of events fill its megabyte.
    let summary = "A long account of the convoy's route. ".repeat(100);
    let mut writers = Vec::new();
    for c in 0..CLAIMS {
        let mut client = server.client().await;
        let summary = summary.clone();
        let name = if c == 0 {
            first.name.clone()
        } else {
            submit(&mut client, "maria", sighting(0, c as u64))
                .await
                .name
        };
        writers.push(tokio::spawn(async move {
            for n in 0..PER_CLAIM {
                let e = evidence(
                    &format!("Port Authority {n}"),
                    evidence::Stance::Context,
                    &summary,
                );
                add_evidence(&mut client, "kim", &name, e).await;
            }
        }));
    }
    join_writers(writers, WAIT * 6).await;

    let (caught_up, _) = read_until_too_slow(&mut slow).await;
    assert!(
        caught_up.len() < WATCH_BUFFER / 2,
        "about a megabyte of events, not {WATCH_BUFFER}, wait for a slow watcher; got {}",
        caught_up.len()
    );
    let scrape = crate::metrics::Scrape::of(metrics_addr).await;
    assert_eq!(scrape.value("claimdesk_watchers_too_slow_total"), 1.0);
}

/// Checks the revision, type and actor, and the states (from, to) of `e`.
#[track_caller]
fn assert_change(
    e: &ClaimEvent,
    (revision, r#type, actor): (u64, Type, &str),
    states: (State, State),
) {
    assert_eq!(
        (e.revision, e.r#type(), e.actor.as_str()),
        (revision, r#type, actor)
    );
    assert_eq!((e.from_state(), e.to_state()), states);
}

#[tokio::test]
async fn watched_events_carry_the_claim_story_type_actor_states_and_note_of_each_change() {
    use State::*;
    let server = TestServer::spawn().await;
    let mut watcher = server.client().await;
    let mut events = watch_after(&mut watcher, 0).await;
    let mut client = server.client().await;

    let claim = submit(&mut client, "maria", harbour_claim()).await;
    let name = claim.name.clone();
    let e = next_event(&mut events).await;
    assert_eq!(e.revision, 1);
    assert_eq!(e.claim, name);
    assert_eq!(e.story, HARBOUR_STORY);
    assert_eq!(e.r#type(), Type::Submitted);
    assert_eq!(e.actor, "maria", "the submitter");
    assert_eq!(e.from_state(), State::Unspecified);
    assert_eq!(e.to_state(), State::Unverified);
    assert_eq!(e.note, "");
    assert_eq!(e.evidence, None);
    assert_eq!(e.event_time, claim.create_time);

    let reviewing = start_review(&mut client, "tomas", &name).await;
    let e = next_event(&mut events).await;
    assert_change(
        &e,
        (2, Type::ReviewStarted, "tomas"),
        (Unverified, InReview),
    );
    assert_eq!(
        (e.claim.as_str(), e.story.as_str()),
        (name.as_str(), HARBOUR_STORY)
    );
    assert_eq!(e.event_time, reviewing.update_time);

    let with_evidence = add_evidence(&mut client, "tomas", &name, gate_logs()).await;
    let e = next_event(&mut events).await;
    assert_change(&e, (3, Type::EvidenceAdded, "tomas"), (InReview, InReview));
    assert_eq!(e.evidence.as_ref(), with_evidence.evidence.first());
    assert!(
        e.evidence.is_some(),
        "the evidence is attached to the event"
    );

    verify(&mut client, "tomas", &name, "Gate logs agree").await;
    let e = next_event(&mut events).await;
    assert_change(&e, (4, Type::Verified, "tomas"), (InReview, Verified));
    assert_eq!(e.note, "Gate logs agree");

    let misdated = "The logs were from the day before";
    reopen(&mut client, "desk-editor", &name, misdated).await;
    let e = next_event(&mut events).await;
    assert_change(
        &e,
        (5, Type::Reopened, "desk-editor"),
        (Verified, Unverified),
    );
    assert_eq!(e.note, misdated);

    withdraw(&mut client, "maria", &name, "Dropped from the story").await;
    let e = next_event(&mut events).await;
    assert_change(&e, (6, Type::Withdrawn, "maria"), (Unverified, Withdrawn));
    assert_eq!(e.note, "Dropped from the story");

    // Another story, another submitter.
    let crossing = border_claim("The crossing reopened at noon", "River Watch");
    let other = submit(&mut client, "olek", crossing).await;
    let e = next_event(&mut events).await;
    assert_eq!(
        (e.revision, e.r#type(), e.actor.as_str()),
        (7, Type::Submitted, "olek")
    );
    assert_eq!(
        (e.claim.as_str(), e.story.as_str()),
        (other.name.as_str(), BORDER_STORY)
    );

    // The watched events are the stored history, field for field.
    let mut replay = watch_after(&mut watcher, 0).await;
    let replayed = take(&mut replay, 7).await;
    assert_eq!(
        replayed,
        histories(&mut client, &[&name, &other.name]).await
    );
}
