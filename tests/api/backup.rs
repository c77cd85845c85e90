//! `claimdesk backup` against a server under load, `claimdesk restore` into
//! a new directory, and a server on the restored directory compared with
//! what every acknowledged write answered: the claims, their histories,
//! the indexes (listings by every filter, queue counts), the audit chain.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use claimdesk::pb::{self, Claim, claim::State, evidence::Stance};
use serde_json::Value;
use tokio::task::JoinSet;

use crate::{
    cli::{Finished, finish},
    helpers::{
        Client, TestServer, as_user, claimdesk_command, events_of, evidence, list_all,
        submit_with_id,
    },
};

const STORY: &str = "harbour-strike";
const EDITOR: &str = "ed.morgan";
const CHECKER: &str = "kim.checker";
const WRITERS: usize = 4;

/// A statement of its own for `n`, without figures and worded unlike any
/// other's, so that no claim is suggested as another's duplicate (which
/// would change a claim other than the one a call answers with).
fn statement(n: usize) -> String {
    let word = |i: usize| -> String {
        let v = n * 3 + i;
        [v / 26 / 26 % 26, v / 26 % 26, v % 26]
            .iter()
            .map(|&d| char::from(b'a' + d as u8))
            .collect()
    };
    format!(
        "Ferries of the {} {} {} line resume",
        word(0),
        word(1),
        word(2)
    )
}

fn new_claim(n: usize) -> Claim {
    Claim {
        statement: statement(n),
        attribution: Some(pb::Attribution {
            source: ["Reuters", "Harbour Gazette", "Port Authority"][n % 3].to_owned(),
            ..Default::default()
        }),
        story: [STORY, "ferry-lines"][n % 2].to_owned(),
        tags: vec![["ports", "ferries"][n % 2].to_owned()],
        priority: (n % 3) as i32 + 1,
        ..Default::default()
    }
}

/// Every claim any call answered with, by name and etag (the revision).
type Answers = Arc<Mutex<BTreeMap<(String, String), Claim>>>;

fn keep(answers: &Answers, claim: &Claim) {
    answers
        .lock()
        .unwrap()
        .insert((claim.name.clone(), claim.etag.clone()), claim.clone());
}

/// One writer: submits (with a request id, retried once), takes from the
/// queue, adds evidence and rules, withdraws, until told to stop.
async fn write(mut client: Client, writer: usize, stop: Arc<AtomicBool>, answers: Answers) {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) || n < 3 {
        let id = 1000 * (writer + 1) + n;
        let request_id = format!("writer-{writer}-{n}");
        let claim = submit_with_id(&mut client, EDITOR, new_claim(id), &request_id)
            .await
            .expect("submitted");
        keep(&answers, &claim);
        let again = submit_with_id(&mut client, EDITOR, new_claim(id), &request_id)
            .await
            .expect("replayed");
        assert_eq!(again, claim, "a retry answers the claim it made");
        n += 1;

        let taken = client
            .take_next_claim(as_user(pb::TakeNextClaimRequest::default(), CHECKER))
            .await;
        let Ok(taken) = taken.map(tonic::Response::into_inner) else {
            continue;
        };
        keep(&answers, &taken);
        let stance = [Stance::Supports, Stance::Refutes, Stance::Context][n % 3];
        let with_evidence = client
            .add_evidence(as_user(
                pb::AddEvidenceRequest {
                    name: taken.name.clone(),
                    evidence: Some(evidence("Harbour Registry", stance, "The notice of Monday")),
                    ..Default::default()
                },
                CHECKER,
            ))
            .await
            .expect("evidence added")
            .into_inner();
        keep(&answers, &with_evidence);
        let ruled = match stance {
            Stance::Supports => client
                .verify_claim(as_user(
                    pb::VerifyClaimRequest {
                        name: taken.name.clone(),
                        note: "Matches the notice".into(),
                        ..Default::default()
                    },
                    CHECKER,
                ))
                .await
                .map(tonic::Response::into_inner),
            Stance::Refutes => client
                .dispute_claim(as_user(
                    pb::DisputeClaimRequest {
                        name: taken.name.clone(),
                        note: "The notice says otherwise".into(),
                        ..Default::default()
                    },
                    CHECKER,
                ))
                .await
                .map(tonic::Response::into_inner),
            _ => client
                .withdraw_claim(as_user(
                    pb::WithdrawClaimRequest {
                        name: taken.name.clone(),
                        reason: "Cut from the story".into(),
                        ..Default::default()
                    },
                    EDITOR,
                ))
                .await
                .map(tonic::Response::into_inner),
        };
        keep(&answers, &ruled.expect("ruled"));
    }
}

/// `claimdesk <args>` to its end.
async fn run(args: &[&str]) -> Finished {
    let mut command = claimdesk_command();
    command.args(args).stdout(std::process::Stdio::piped());
    finish(command).await
}

/// The claims a backup of revision `revision` must hold: of every claim
/// answered, the last answer at or before the revision.
fn as_of(answers: &BTreeMap<(String, String), Claim>, revision: u64) -> BTreeMap<String, Claim> {
    let mut claims: BTreeMap<String, Claim> = BTreeMap::new();
    for claim in answers.values() {
        let etag: u64 = claim.etag.parse().expect("an etag is a revision");
        if etag > revision {
            continue;
        }
        let newer = claims
            .get(&claim.name)
            .is_none_or(|known| known.etag.parse::<u64>().unwrap() < etag);
        if newer {
            claims.insert(claim.name.clone(), claim.clone());
        }
    }
    claims
}

/// What `claimdesk backup --output json` printed of the backup.
fn summary(finished: &Finished) -> Value {
    finished.json()["backup"].clone()
}

#[tokio::test]
async fn a_backup_taken_under_load_restores_the_desk_as_it_was_at_its_revision() {
    let server = TestServer::spawn().await;
    let answers: Answers = Arc::default();
    let mut client = server.client().await;
    for n in 0..40 {
        let claim = submit_with_id(&mut client, EDITOR, new_claim(n), &format!("seed-{n}"))
            .await
            .expect("submitted");
        keep(&answers, &claim);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = JoinSet::new();
    for writer in 0..WRITERS {
        writers.spawn(write(
            server.client().await,
            writer,
            stop.clone(),
            answers.clone(),
        ));
    }
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("desk.backup");
    let file_arg = file.to_str().unwrap();
    let url = server.url();
    let last_answered = || {
        answers
            .lock()
            .unwrap()
            .keys()
            .map(|(_, etag)| etag.parse::<u64>().unwrap())
            .max()
            .unwrap_or(0)
    };
    let before = last_answered();
    let backup = run(&[
        "backup",
        "--server",
        &url,
        "--user",
        "ana.chief",
        "--file",
        file_arg,
        "-o",
        "json",
    ])
    .await;
    let after = last_answered();
    stop.store(true, Ordering::SeqCst);
    while let Some(done) = writers.join_next().await {
        done.expect("a writer's calls succeed");
    }
    let taken = summary(&backup);
    let revision = taken["revision"].as_u64().expect("a revision");
    // Of a moment between the call and its answer.
    assert!(
        before <= revision && revision <= after,
        "{before} {taken} {after}"
    );
    println!("backup of revision {revision}, taken while the desk went from {before} to {after}");

    // A second backup to the same file is refused; the first is intact.
    let again = run(&[
        "backup",
        "--server",
        &url,
        "--user",
        "ana.chief",
        "--file",
        file_arg,
    ])
    .await;
    again.failed(2, &["exists"]);

    let restored_dir = tempfile::tempdir().unwrap();
    let target = restored_dir.path().to_str().unwrap().to_owned();
    let restore = run(&[
        "restore",
        "--data-dir",
        &target,
        "--file",
        file_arg,
        "-o",
        "json",
    ])
    .await;
    assert_eq!(summary(&restore), taken, "restored what was backed up");
    let refused = run(&["restore", "--data-dir", &target, "--file", file_arg]).await;
    refused.failed(2, &["not empty"]);

    let expected = as_of(&answers.lock().unwrap(), revision);
    let mut original = client;
    let copy = TestServer::spawn_in(restored_dir).await;
    let mut restored = copy.client().await;

    // Every claim as the last call before the revision answered it, and no
    // other.
    let listed = list_all(&mut restored, pb::ListClaimsRequest::default()).await;
    let listed: BTreeMap<String, Claim> = listed.into_iter().map(|c| (c.name.clone(), c)).collect();
    assert_eq!(listed.len(), expected.len());
    for (name, claim) in &expected {
        assert_eq!(listed.get(name), Some(claim), "{name}");
    }
    assert!(
        answers
            .lock()
            .unwrap()
            .keys()
            .any(|(_, etag)| etag.parse::<u64>().unwrap() > revision),
        "the desk went on after the backup's revision"
    );

    // Each history, up to the revision, as the desk has it.
    let mut events = BTreeSet::new();
    for name in expected.keys() {
        let now: Vec<pb::ClaimEvent> = events_of(&mut original, name)
            .await
            .into_iter()
            .filter(|e| e.revision <= revision)
            .collect();
        let copied = events_of(&mut restored, name).await;
        assert_eq!(copied, now, "{name}");
        events.extend(copied.iter().map(|e| e.revision));
    }
    assert_eq!(events, (1..=revision).collect(), "every event, once");

    // The indexes: listings by each filter, and the queue's counts.
    let states = [
        State::Unverified,
        State::InReview,
        State::Verified,
        State::Disputed,
        State::Withdrawn,
    ];
    for state in states {
        let request = pb::ListClaimsRequest {
            state: state.into(),
            ..Default::default()
        };
        let listed = list_all(&mut restored, request).await;
        let names: Vec<&String> = listed.iter().map(|c| &c.name).collect();
        let wanted: Vec<&String> = expected
            .values()
            .filter(|c| c.state == i32::from(state))
            .map(|c| &c.name)
            .collect();
        assert_eq!(names, wanted, "{state:?}");
    }
    for source in ["Reuters", "harbour gazette"] {
        let request = pb::ListClaimsRequest {
            source: source.into(),
            ..Default::default()
        };
        let listed = list_all(&mut restored, request).await;
        let wanted = expected
            .values()
            .filter(|c| {
                c.attribution.as_ref().unwrap().source.to_lowercase() == source.to_lowercase()
            })
            .count();
        assert_eq!(listed.len(), wanted, "{source}");
    }
    for story in [STORY, "ferry-lines"] {
        let stats = restored
            .get_queue_stats(pb::GetQueueStatsRequest {
                story: story.into(),
            })
            .await
            .unwrap()
            .into_inner();
        for count in &stats.state_counts {
            let wanted = expected
                .values()
                .filter(|c| c.story == story && c.state == count.state)
                .count() as i64;
            assert_eq!(count.count, wanted, "{story} {:?}", count.state);
        }
    }
    // The queue hands out the oldest waiting claim of the first priority.
    let next = restored
        .take_next_claim(as_user(pb::TakeNextClaimRequest::default(), CHECKER))
        .await
        .map(tonic::Response::into_inner);
    let waiting: Vec<&Claim> = expected
        .values()
        .filter(|c| c.state == i32::from(State::Unverified))
        .collect();
    match (
        next,
        waiting.iter().min_by_key(|c| (-c.priority, c.name.clone())),
    ) {
        (Ok(next), Some(first)) => assert_eq!(next.name, first.name),
        (Err(status), None) => assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}"),
        (next, first) => panic!("took {next:?}, expected {first:?}"),
    }

    // The copy goes on from the revision, and its audit chain holds.
    let data = copy.stop().await.expect("the restored directory");
    audit_intact(data.path()).await;
    // On PostgreSQL the original has no directory: its chain is the
    // store's to check (its own tests do).
    if let Some(dir) = server.stop().await {
        audit_intact(dir.path()).await;
    }
}

async fn audit_intact(dir: &Path) {
    let audit = run(&["audit", "verify", "--data-dir", dir.to_str().unwrap()]).await;
    assert!(
        audit.ok().contains("audit chain intact"),
        "{}",
        audit.stdout
    );
}

#[tokio::test]
async fn a_damaged_backup_is_refused_whole_and_nothing_is_written() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    for n in 0..5 {
        submit_with_id(&mut client, EDITOR, new_claim(n), &format!("seed-{n}"))
            .await
            .expect("submitted");
    }
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("desk.backup");
    let file_arg = file.to_str().unwrap();
    let url = server.url();
    let taken = run(&[
        "backup",
        "--server",
        &url,
        "--user",
        "ana.chief",
        "--file",
        file_arg,
    ])
    .await;
    let said = taken.ok();
    assert!(
        said.contains("revision 5: 5 claims, 5 events, 5 request ids"),
        "{said}"
    );

    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&file, &bytes).unwrap();
    let target = files.path().join("restored");
    let refused = run(&[
        "restore",
        "--data-dir",
        target.to_str().unwrap(),
        "--file",
        file_arg,
    ])
    .await;
    refused.failed(1, &["nothing was written"]);
    assert!(!target.exists());
}

/// A store of `count` claims, imported (as `claimdesk bench --preload`
/// fills one), for a backup larger than what the transport buffers.
async fn store_of(count: u32) -> (tempfile::TempDir, Arc<dyn claimdesk::storage::Store>) {
    use claimdesk::domain::{
        Attribution, ClaimId, NewClaim, Priority, Slug, SourceName, Statement, UserName,
    };
    use claimdesk::storage::Store as _;
    let dir = tempfile::tempdir().unwrap();
    let store = crate::helpers::open_sled_store(dir.path()).await;
    let claims = (0..count)
        .map(|n| {
            let new = NewClaim {
                statement: Statement::parse(&statement(n as usize)).unwrap(),
                attribution: Attribution {
                    source: SourceName::parse("Harbour Gazette").unwrap(),
                    relayed_from: Vec::new(),
                    url: None,
                },
                story: Slug::parse(STORY).unwrap(),
                tags: Vec::new(),
                priority: Priority::Routine,
                deadline: None,
            };
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&n.to_be_bytes());
            claimdesk::domain::Claim::submitted(
                ClaimId::from_bytes(id),
                new,
                UserName::parse(EDITOR).unwrap(),
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_796_121_000),
            )
        })
        .collect();
    let store = tokio::task::spawn_blocking(move || {
        store.import(claims).expect("imported");
        store
    })
    .await
    .unwrap();
    (dir, Arc::new(store))
}

#[tokio::test]
async fn backups_taken_at_once_are_bounded_and_a_caller_that_does_not_read_holds_no_more() {
    let (_dir, store) = store_of(10_000).await;
    let server = TestServer::spawn_with_store(store).await;
    let mut client = server.client().await;
    let chief = || as_user(pb::BackupDeskRequest {}, "ana.chief");
    // Callers that take the first piece and read no further: each backup
    // waits for them, holding its place.
    let mut unread = Vec::new();
    for _ in 0..claimdesk::desk::MAX_BACKUPS {
        let mut pieces = client.backup_desk(chief()).await.unwrap().into_inner();
        let first = pieces.message().await.unwrap().expect("a first piece");
        assert!(first.data.starts_with(b"claimdesk backup\n"));
        unread.push(pieces);
    }
    let refused = client.backup_desk(chief()).await.map(drop);
    crate::helpers::expect_error(refused, tonic::Code::ResourceExhausted, "TOO_MANY_BACKUPS");
    // The desk is served meanwhile.
    let claim = submit_with_id(&mut client, EDITOR, new_claim(99_999), "during")
        .await
        .expect("a change while backups wait");
    assert_eq!(crate::helpers::get(&mut client, &claim.name).await, claim);
}
