//! Several `claimdesk serve` processes on one PostgreSQL desk: submits
//! through one, watches through others, takes through all at once, and one
//! killed with SIGKILL in the middle of it.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use claimdesk::{pb, storage::postgres::ScratchSchema};
use tokio::task::JoinSet;
use tonic::Code;

use crate::helpers::{
    self, Client, DATABASE_VARIABLE, PROCESS_WAIT, ServeProcess, as_user, claimdesk_command,
    numbered_claim, submit_with_id,
};

/// `claimdesk serve` of the desk in `schema`.
async fn replica(schema: &ScratchSchema) -> ServeProcess {
    let mut command = claimdesk_command();
    command
        .args(["serve", "--log-format", "json", "--listen", "127.0.0.1:0"])
        .args(["--database-url", schema.url()])
        .args(["--database-schema", schema.name()]);
    ServeProcess::serve(command).await
}

/// The events a watcher received, as they arrive.
type Seen = tokio::sync::watch::Sender<Vec<pb::ClaimEvent>>;

/// Watches from `after` until the stream ends or fails (its server is
/// gone), adding the events to `seen`.
async fn watch(mut client: Client, after: u64, seen: Arc<Seen>) {
    let request = pb::WatchClaimEventsRequest {
        after_revision: after,
        ..Default::default()
    };
    let Ok(stream) = client.watch_claim_events(as_user(request, "wes")).await else {
        return;
    };
    let mut stream = stream.into_inner();
    while let Ok(Some(event)) = stream.message().await {
        seen.send_modify(|events| events.push(event));
    }
}

/// Waits until `seen` holds revision `revision`.
async fn reaches(seen: &Seen, revision: u64, whose: &str) {
    let mut events = seen.subscribe();
    let waited = tokio::time::timeout(
        PROCESS_WAIT,
        events.wait_for(|events| events.iter().any(|e| e.revision >= revision)),
    )
    .await;
    assert!(
        matches!(waited, Ok(Ok(_))),
        "{whose} did not see revision {revision}"
    );
}

/// Takes from the queue through `client` until it is empty once
/// `submitted` says the submissions are over (`None`), or the server is
/// gone; the names of the claims taken (acknowledged).
async fn take_all(
    mut client: Client,
    checker: String,
    mut submitted: tokio::sync::watch::Receiver<Option<usize>>,
) -> Vec<String> {
    let mut taken = Vec::new();
    loop {
        let before = *submitted.borrow_and_update();
        let request = as_user(pb::TakeNextClaimRequest::default(), &checker);
        match client.take_next_claim(request).await {
            Ok(claim) => taken.push(claim.into_inner().name),
            Err(e) if e.code() == Code::NotFound => {
                if before.is_none() {
                    return taken;
                }
                // Empty for now: wait for the next submission, or the end.
                if submitted.changed().await.is_err() {
                    return taken;
                }
            }
            Err(_) => return taken,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_serve_one_desk_and_a_killed_one_loses_nothing_acknowledged() {
    let Some(url) = helpers::database_url() else {
        println!("skipped: {DATABASE_VARIABLE} is not set");
        return;
    };
    let schema = tokio::task::spawn_blocking(move || ScratchSchema::create(&url))
        .await
        .unwrap()
        .expect("a scratch schema");
    // Started together: they migrate the fresh schema at once.
    let (a, b, mut c) = tokio::join!(replica(&schema), replica(&schema), replica(&schema));
    let (mut submitter, watcher_b, watcher_c) =
        (a.client().await, b.client().await, c.client().await);

    let on_b = Arc::new(Seen::new(Vec::new()));
    let on_c = Arc::new(Seen::new(Vec::new()));
    let watch_b = tokio::spawn(watch(watcher_b, 0, on_b.clone()));
    let watch_c = tokio::spawn(watch(watcher_c, 0, on_c.clone()));

    // Takers on all three, two each.
    let (submitted, _) = tokio::sync::watch::channel(Some(0usize));
    let mut takers = JoinSet::new();
    for (i, server) in [&a, &b, &c].iter().enumerate() {
        for j in 0..2 {
            let client = server.client().await;
            let submitted = submitted.subscribe();
            takers.spawn(take_all(client, format!("kofi{i}{j}"), submitted));
        }
    }

    // Submissions through A, with request ids; C is killed in the middle.
    let claims = 120usize;
    let mut acknowledged = Vec::new();
    for n in 0..claims {
        let claim = numbered_claim("river-crossing", "Harbour Gazette", n);
        match submit_with_id(&mut submitter, "maria", claim, &format!("load-{n}")).await {
            Ok(claim) => acknowledged.push(claim.name),
            Err(e) => panic!("submission {n} through a live replica failed: {e}"),
        }
        submitted.send_replace(Some(n + 1));
        if n == claims / 2 {
            c.child.start_kill().expect("SIGKILL sent");
            let _ = c.child.wait().await;
        }
    }
    // The submissions are over: takers drain the queue and stop.
    submitted.send_replace(None);
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    while let Some(names) = takers.join_next().await {
        for name in names.expect("a taker ran") {
            *taken.entry(name).or_default() += 1;
        }
    }
    assert!(
        taken.values().all(|&n| n == 1),
        "a claim was taken twice: {taken:?}"
    );

    // Every acknowledged submission is stored, and every claim is taken:
    // the queue is empty and none is unverified.
    let mut reader = b.client().await;
    for name in &acknowledged {
        let claim = reader
            .get_claim(pb::GetClaimRequest { name: name.clone() })
            .await
            .unwrap_or_else(|e| panic!("{name} is lost: {e}"))
            .into_inner();
        assert_eq!(claim.state, pb::claim::State::InReview as i32, "{name}");
    }
    // A request id is the desk's, not a replica's: a retry through B
    // answers with the claim made through A.
    let mut retrier = b.client().await;
    let retried = submit_with_id(
        &mut retrier,
        "maria",
        numbered_claim("river-crossing", "Harbour Gazette", 7),
        "load-7",
    )
    .await
    .expect("the retry is answered");
    assert_eq!(retried.name, acknowledged[7]);
    for name in taken.keys() {
        assert!(
            acknowledged.contains(name),
            "{name} was taken but never submitted"
        );
    }

    // A last change marks the end: both watchers see every revision up to
    // it once, in order; C's watcher resumes on A from its last revision.
    let last = submit_with_id(
        &mut submitter,
        "maria",
        numbered_claim("river-crossing", "Harbour Gazette", claims),
        "load-end",
    )
    .await
    .expect("stored")
    .name;
    let end = reader
        .list_claim_events(pb::ListClaimEventsRequest {
            name: last.clone(),
            ..Default::default()
        })
        .await
        .expect("its history")
        .into_inner()
        .events
        .last()
        .expect("an event")
        .revision;
    reaches(&on_b, end, "the watcher on B").await;
    // C's watcher ended when C was killed; it resumes on A from the last
    // revision it received.
    let _ = watch_c.await;
    let resumed_from = on_c.borrow().last().map_or(0, |e| e.revision);
    let resumed = tokio::spawn(watch(a.client().await, resumed_from, on_c.clone()));
    reaches(&on_c, end, "the watcher resumed on A").await;
    resumed.abort();
    watch_b.abort();
    for (whose, seen) in [("B", &on_b), ("C, then A", &on_c)] {
        let revisions: Vec<u64> = seen
            .borrow()
            .iter()
            .map(|e| e.revision)
            .filter(|&r| r <= end)
            .collect();
        assert_eq!(
            revisions,
            (1..=end).collect::<Vec<_>>(),
            "the watcher on {whose} missed or repeated events"
        );
    }
    // Each claim's review began exactly once in the history, whether or
    // not its take was acknowledged (C may have been killed after a take
    // committed and before it answered).
    let events = on_b.borrow();
    let started: Vec<&str> = events
        .iter()
        .filter(|e| e.r#type == pb::claim_event::Type::ReviewStarted as i32)
        .map(|e| e.claim.as_str())
        .collect();
    let once: BTreeSet<&str> = started.iter().copied().collect();
    assert_eq!(once.len(), started.len(), "a review began twice");
    assert_eq!(started.len(), claims, "a claim was never taken");
    assert!(
        !c.log.text().is_empty() && resumed_from > 0,
        "C served its watcher before it was killed"
    );
    drop(events);
    drop((a, b));
    drop(schema);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_taken_through_one_replica_runs_out_through_another() {
    let Some(url) = helpers::database_url() else {
        println!("skipped: {DATABASE_VARIABLE} is not set");
        return;
    };
    let schema = tokio::task::spawn_blocking(move || ScratchSchema::create(&url))
        .await
        .unwrap()
        .map(Arc::new)
        .expect("a scratch schema");
    let desk = claimdesk::desk::DeskConfig {
        lease: std::time::Duration::from_secs(2),
    };
    let replica = || {
        claimdesk::testing::TestServer::builder()
            .schema(schema.clone())
            .desk(desk)
            .start()
    };
    // B starts first, with no lease anywhere to wait for.
    let b = replica().await.expect("B starts");
    let a = replica().await.expect("A starts");
    let mut watching = b.client().await.unwrap();
    let mut events = watching
        .watch_claim_events(as_user(pb::WatchClaimEventsRequest::default(), "wes"))
        .await
        .expect("a watch on B")
        .into_inner();
    let mut through_a = a.client().await.unwrap();
    let submitted = submit_with_id(
        &mut through_a,
        "maria",
        numbered_claim("river-crossing", "Harbour Gazette", 1),
        "lease-1",
    )
    .await
    .expect("stored");
    through_a
        .take_next_claim(as_user(pb::TakeNextClaimRequest::default(), "kofi"))
        .await
        .expect("taken through A");
    // A goes away: only B can notice that the lease ran out.
    a.stop().await.expect("A stops");
    let expired = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(event) = events.message().await.expect("the watch goes on") {
            if event.r#type == pb::claim_event::Type::LeaseExpired as i32 {
                return event;
            }
        }
        panic!("the watch ended");
    })
    .await
    .expect("B returned the claim to the queue well before its minute's look");
    assert_eq!(expired.claim, submitted.name);
    let claim = watching
        .get_claim(pb::GetClaimRequest {
            name: submitted.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(claim.state, pb::claim::State::Unverified as i32);
    b.stop().await.expect("B stops");
}
