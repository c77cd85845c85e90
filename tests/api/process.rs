//! Tests of the `claimdesk` process itself: crash durability and shutdown.
//!
//! Each test runs the real binary on `127.0.0.1:0` with a fresh data
//! directory. The server is ready when it logs `serving
//! claimdesk.v1.ClaimService` (it does so after binding), and that line
//! names the port. Nothing here sleeps: every wait is for an event (a log
//! line, an answer, the process ending) and is bounded by a timeout. A
//! started process is killed when its handle is dropped, so a failing test
//! leaves none behind.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    process::ExitStatus,
    time::Duration,
};

use claimdesk::pb::{
    self, Attribution, Claim, ClaimEvent, Evidence, ListClaimsRequest, SubmitClaimRequest,
    claim::{Priority, State},
    claim_event::Type,
    evidence::Stance,
};
use tokio::{sync::watch, task::JoinHandle};
use tonic::{Code, Status, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::helpers::{
    self, Client, PROCESS_WAIT, READY_MESSAGE, ServeProcess, as_user, claimdesk_command,
    events_in_pages_of, exit_error, get, in_parallel, next_health_status, serving_health_watch,
};

/// Start-up on a busy two-core machine can be slow; these bound waits for
/// events, they are not delays.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
const WORK_TIMEOUT: Duration = Duration::from_secs(300);

const CLAIM_SERVICE: &str = "claimdesk.v1.ClaimService";

// ---------------------------------------------------------------------------
// The server process.

/// The `fields.message` of a JSON log line.
fn json_message(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    v["fields"]["message"].as_str().map(str::to_owned)
}

/// The index of the first JSON log line whose message is `message`.
fn position_of(lines: &[String], message: &str) -> Option<usize> {
    lines
        .iter()
        .position(|l| json_message(l).as_deref() == Some(message))
}

/// Removes terminal colour sequences (`ESC [ ... letter`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Starts `claimdesk serve` on `127.0.0.1:0` with JSON logs, configured
/// through the environment rather than flags, and waits until it says it
/// is serving.
async fn start_from_environment(data_dir: &Path) -> ServeProcess {
    let mut command = claimdesk_command();
    command
        .arg("serve")
        .env("CLAIMDESK_LISTEN", "127.0.0.1:0")
        .env("CLAIMDESK_DATA_DIR", data_dir)
        .env("CLAIMDESK_LOG_FORMAT", "json");
    ServeProcess::serve(command).await
}

// ---------------------------------------------------------------------------
// Requests.

/// Every claim `filter` selects, page by page (small pages, to cross many
/// page boundaries).
async fn list_all(client: &mut Client, filter: ListClaimsRequest) -> Vec<Claim> {
    helpers::list_all(
        client,
        ListClaimsRequest {
            page_size: 17,
            ..filter
        },
    )
    .await
}

async fn list_names(client: &mut Client, filter: ListClaimsRequest) -> BTreeSet<String> {
    list_all(client, filter)
        .await
        .into_iter()
        .map(|c| c.name)
        .collect()
}

/// The whole history of a claim, in small pages (to cross page boundaries).
async fn history(client: &mut Client, name: &str) -> Vec<ClaimEvent> {
    events_in_pages_of(client, name, 3).await
}

fn health(channel: Channel, service: &str) -> (HealthClient<Channel>, HealthCheckRequest) {
    (
        HealthClient::new(channel),
        HealthCheckRequest {
            service: service.to_owned(),
        },
    )
}

// ---------------------------------------------------------------------------
// Test data: a fictional harbour strike in Kelmar and a fictional border
// deployment in Vessa province.

const STORIES: [&str; 3] = [
    "harbour-strike",
    "border-deployment",
    "harbour-strike-talks",
];

const STATEMENTS: [[&str; 3]; 3] = [
    [
        "Dock crews at the north quay stopped work at dawn and no container has moved since.",
        "Two grain carriers have been sent on to another harbour because no berth is staffed.",
        "More than four hundred dockers joined the picket on its first night.",
    ],
    [
        "A second battalion reached the Tarn crossing before midnight.",
        "No civilian car has been turned back at the Tarn checkpoint this week.",
        "Eleven armoured vehicles were seen on the river road north of Vessa.",
    ],
    [
        "Union and port negotiators will meet on neutral ground on Thursday.",
        "The port offered a four percent rise, which the union turned down.",
        "A mediator from the capital has been asked to chair the talks.",
    ],
];

const SOURCES: [&str; 5] = [
    "Kelmar Dockers' Union",
    "Port Authority of Kelmar",
    "Ministry of the Interior",
    "Governor of Vessa Province",
    "Kelmar Evening Courier",
];

/// The same source as a desk might type it: as written, lower case, or
/// upper case with a doubled space. All three name one source.
fn spelling(source: &str, variant: usize) -> String {
    match variant % 3 {
        0 => source.to_owned(),
        1 => source.to_lowercase(),
        _ => source.to_uppercase().replacen(' ', "  ", 1),
    }
}

const EDITORS: [&str; 3] = ["editor-ana", "editor-bo", "editor-cy"];
const CHECKERS: [&str; 2] = ["checker-dee", "checker-eli"];

/// Claim `i` of the crash test and who submits it.
fn crash_claim(i: usize) -> (String, SubmitClaimRequest) {
    let story = i % 3;
    let source = (i / 3) % 5;
    let user = EDITORS[(i / 2) % 3].to_owned();
    let claim = Claim {
        statement: format!("{} (item {i})", STATEMENTS[story][(i / 7) % 3]),
        attribution: Some(Attribution {
            source: spelling(SOURCES[source], i / 15),
            relayed_from: match i % 4 {
                1 => vec!["Harbour Pilots' Association".to_owned()],
                3 => vec![
                    "Tarn Village Council".to_owned(),
                    "unnamed customs officers".to_owned(),
                ],
                _ => vec![],
            },
            url: if i.is_multiple_of(2) {
                format!("https://wire.example/kelmar/{i}")
            } else {
                String::new()
            },
        }),
        story: STORIES[story].to_owned(),
        tags: match i % 3 {
            0 => vec!["strike".to_owned(), "shipping".to_owned()],
            1 => vec!["deployment".to_owned()],
            _ => vec![],
        },
        priority: [
            Priority::Unspecified,
            Priority::Routine,
            Priority::Urgent,
            Priority::Breaking,
        ][i % 4]
            .into(),
        deadline: (i % 5 == 2).then(|| prost_types::Timestamp {
            seconds: 1_900_000_000 + i as i64,
            nanos: 1_000 * i as i32 + 7,
        }),
        ..Claim::default()
    };
    (
        user,
        SubmitClaimRequest {
            claim: Some(claim),
            request_id: format!("crash-{i:03}-4f1c9a"),
        },
    )
}

// ---------------------------------------------------------------------------
// What a client knows: every acknowledged answer.

/// One acknowledged change, as the history must show it.
#[derive(Debug, Clone)]
struct Step {
    kind: Type,
    actor: String,
    from: State,
    to: State,
    note: String,
    evidence: Option<Evidence>,
    /// Position among the changes of one writer task, which sent each
    /// change only after the previous one was acknowledged.
    seq: usize,
}

/// A claim as its writer saw it.
#[derive(Debug, Clone)]
struct Tracked {
    writer: usize,
    submitter: String,
    request: SubmitClaimRequest,
    steps: Vec<Step>,
    /// The last acknowledged answer.
    last: Claim,
}

enum Act {
    StartReview,
    Release(&'static str),
    AddEvidence(Stance, &'static str),
    Verify(&'static str),
    Dispute(&'static str),
    Inconclusive(&'static str),
    Reopen(&'static str),
    Withdraw(&'static str),
}

/// A writer: submits and changes claims one after another.
struct Writer {
    id: usize,
    client: Client,
    seq: usize,
}

impl Writer {
    fn next_seq(&mut self) -> usize {
        self.seq += 1;
        self.seq
    }

    async fn submit(&mut self, user: String, request: SubmitClaimRequest) -> Tracked {
        let claim = self
            .client
            .submit_claim(as_user(request.clone(), &user))
            .await
            .unwrap_or_else(|s| panic!("SubmitClaim {}: {s:?}", request.request_id))
            .into_inner();
        assert_eq!(claim.state(), State::Unverified);
        let seq = self.next_seq();
        Tracked {
            writer: self.id,
            submitter: user.clone(),
            request,
            steps: vec![Step {
                kind: Type::Submitted,
                actor: user,
                from: State::Unspecified,
                to: State::Unverified,
                note: String::new(),
                evidence: None,
                seq,
            }],
            last: claim,
        }
    }

    /// Applies `act` as `actor`, conditional on the last acknowledged etag.
    async fn act(&mut self, claim: &mut Tracked, actor: &str, act: Act) {
        let name = claim.last.name.clone();
        let etag = claim.last.etag.clone();
        let c = &mut self.client;
        let (kind, note, answer) = match act {
            Act::StartReview => {
                let r = pb::StartReviewRequest { name, etag };
                (
                    Type::ReviewStarted,
                    "",
                    c.start_review(as_user(r, actor)).await,
                )
            }
            Act::Release(note) => {
                let r = pb::ReleaseClaimRequest {
                    name,
                    etag,
                    note: note.into(),
                };
                (
                    Type::Released,
                    note,
                    c.release_claim(as_user(r, actor)).await,
                )
            }
            Act::AddEvidence(stance, source) => {
                let r = pb::AddEvidenceRequest {
                    name,
                    etag,
                    evidence: Some(Evidence {
                        url: format!("https://records.example/{}", claim.request.request_id),
                        summary: format!("What {source} told the desk by phone."),
                        source: source.into(),
                        stance: stance.into(),
                        ..Evidence::default()
                    }),
                };
                (
                    Type::EvidenceAdded,
                    "",
                    c.add_evidence(as_user(r, actor)).await,
                )
            }
            Act::Verify(note) => {
                let r = pb::VerifyClaimRequest {
                    name,
                    etag,
                    note: note.into(),
                    acknowledge_contradictions: false,
                };
                (
                    Type::Verified,
                    note,
                    c.verify_claim(as_user(r, actor)).await,
                )
            }
            Act::Dispute(note) => {
                let r = pb::DisputeClaimRequest {
                    name,
                    etag,
                    note: note.into(),
                };
                (
                    Type::Disputed,
                    note,
                    c.dispute_claim(as_user(r, actor)).await,
                )
            }
            Act::Inconclusive(note) => {
                let r = pb::MarkClaimInconclusiveRequest {
                    name,
                    etag,
                    note: note.into(),
                };
                let answer = c.mark_claim_inconclusive(as_user(r, actor)).await;
                (Type::MarkedInconclusive, note, answer)
            }
            Act::Reopen(reason) => {
                let r = pb::ReopenClaimRequest {
                    name,
                    etag,
                    reason: reason.into(),
                };
                (
                    Type::Reopened,
                    reason,
                    c.reopen_claim(as_user(r, actor)).await,
                )
            }
            Act::Withdraw(reason) => {
                let r = pb::WithdrawClaimRequest {
                    name,
                    etag,
                    reason: reason.into(),
                };
                (
                    Type::Withdrawn,
                    reason,
                    c.withdraw_claim(as_user(r, actor)).await,
                )
            }
        };
        let answer = answer
            .unwrap_or_else(|s| panic!("{kind:?} on {}: {s:?}", claim.last.name))
            .into_inner();
        let evidence = if kind == Type::EvidenceAdded {
            assert_eq!(answer.evidence.len(), claim.last.evidence.len() + 1);
            answer.evidence.last().cloned()
        } else {
            None
        };
        let seq = self.next_seq();
        claim.steps.push(Step {
            kind,
            actor: actor.to_owned(),
            from: claim.last.state(),
            to: answer.state(),
            note: note.to_owned(),
            evidence,
            seq,
        });
        claim.last = answer;
    }

    /// Moves claim `i` through one of seven workflows (every fifth claim).
    async fn work_on(&mut self, i: usize, claim: &mut Tracked) {
        if !i.is_multiple_of(5) {
            return;
        }
        let checker = CHECKERS[(i / 5) % 2];
        // Independent of every source the claims are attributed to.
        let witness = "Harbour master's logbook";
        match (i / 5) % 7 {
            0 => self.act(claim, checker, Act::StartReview).await,
            1 => {
                self.act(claim, checker, Act::StartReview).await;
                self.act(claim, checker, Act::AddEvidence(Stance::Supports, witness))
                    .await;
                self.act(claim, checker, Act::Verify("Logbook matches the account."))
                    .await;
            }
            2 => {
                self.act(claim, checker, Act::StartReview).await;
                let refuter = "Coast guard radio log";
                self.act(claim, checker, Act::AddEvidence(Stance::Refutes, refuter))
                    .await;
                self.act(claim, checker, Act::Dispute("Radio log contradicts it."))
                    .await;
            }
            3 => {
                self.act(claim, checker, Act::StartReview).await;
                self.act(
                    claim,
                    checker,
                    Act::Inconclusive("No second source answered."),
                )
                .await;
            }
            4 => {
                let editor = claim.submitter.clone();
                self.act(claim, &editor, Act::Withdraw("Cut from the late edition."))
                    .await;
            }
            5 => {
                self.act(claim, checker, Act::StartReview).await;
                self.act(claim, checker, Act::Release("Going off shift."))
                    .await;
                let editor = claim.submitter.clone();
                let context = "Shipping schedule";
                self.act(claim, &editor, Act::AddEvidence(Stance::Context, context))
                    .await;
            }
            _ => {
                self.act(claim, checker, Act::StartReview).await;
                self.act(claim, checker, Act::AddEvidence(Stance::Supports, witness))
                    .await;
                self.act(claim, checker, Act::Verify("Logbook matches."))
                    .await;
                self.act(
                    claim,
                    "desk-chief",
                    Act::Reopen("Logbook page was misread."),
                )
                .await;
            }
        }
    }
}

/// Claims of a writer that submits until the server stops answering; the
/// last one may still be in flight when the server dies.
#[derive(Default)]
struct Background {
    sent: Vec<SubmitClaimRequest>,
    acknowledged: Vec<Claim>,
    stopped_by: Option<Status>,
}

const BACKGROUND_STORY: &str = "night-wire-backlog";
const BACKGROUND_USER: &str = "night-editor";
const BACKGROUND_SOURCE: &str = "Overnight Wire Relay";

fn background_claim(writer: usize, j: usize) -> SubmitClaimRequest {
    SubmitClaimRequest {
        claim: Some(Claim {
            statement: format!("Wire item {writer}-{j}: ferries to Kelmar resume at noon."),
            attribution: Some(Attribution {
                source: BACKGROUND_SOURCE.to_owned(),
                ..Attribution::default()
            }),
            story: BACKGROUND_STORY.to_owned(),
            ..Claim::default()
        }),
        request_id: format!("wire-{writer}-{j}"),
    }
}

/// Submits background claims until an RPC fails (or `limit` is reached),
/// counting acknowledgements in `progress`.
fn background_writer(
    writer: usize,
    mut client: Client,
    limit: usize,
    progress: watch::Sender<usize>,
) -> JoinHandle<Background> {
    tokio::spawn(async move {
        let mut out = Background::default();
        for j in 0..limit {
            let request = background_claim(writer, j);
            out.sent.push(request.clone());
            match client.submit_claim(as_user(request, BACKGROUND_USER)).await {
                Ok(answer) => {
                    out.acknowledged.push(answer.into_inner());
                    progress.send_modify(|n| *n += 1);
                }
                Err(status) => {
                    out.stopped_by = Some(status);
                    break;
                }
            }
        }
        out
    })
}

// ---------------------------------------------------------------------------
// 1. kill -9

/// Claims submitted over all rounds.
const CRASH_CLAIMS: usize = 210;
/// Write, kill, restart: a lost acknowledged write shows up only if the
/// kill finds it still in the process's buffers, so the test kills more
/// than once (and recovers a store that was already recovered).
const CRASH_ROUNDS: usize = 3;
const CRASH_WRITERS: usize = 8;
const BACKGROUND_WRITERS: usize = 2;

/// Checks every acknowledged claim against the server: it reads back as
/// last acknowledged and its history holds every acknowledged change, in
/// order. Returns the revision of each change, by (writer, seq).
async fn check_acknowledged(client: &Client, tracked: &[Tracked]) -> BTreeMap<(usize, usize), u64> {
    let revisions = in_parallel(client, tracked.to_vec(), |mut client, t| async move {
        let now = get(&mut client, &t.last.name).await;
        assert_eq!(now, t.last, "{} reads back as acknowledged", t.last.name);
        let events = history(&mut client, &t.last.name).await;
        assert_eq!(
            events.len(),
            t.steps.len(),
            "history of {}: {events:#?}",
            t.last.name
        );
        let mut revisions = Vec::new();
        for (event, step) in events.iter().zip(&t.steps) {
            let context = format!("{} event {}", t.last.name, event.revision);
            assert_eq!(event.claim, t.last.name, "{context}");
            assert_eq!(event.r#type(), step.kind, "{context}");
            assert_eq!(event.actor, step.actor, "{context}");
            assert_eq!(event.from_state(), step.from, "{context}");
            assert_eq!(event.to_state(), step.to, "{context}");
            assert_eq!(event.note, step.note, "{context}");
            assert_eq!(event.evidence, step.evidence, "{context}");
            revisions.push(((t.writer, step.seq), event.revision));
        }
        revisions
    })
    .await;
    let revision_of: BTreeMap<_, _> = revisions.into_iter().flatten().collect();
    // A writer sent each change after the previous one was acknowledged,
    // and every round's writes were acknowledged before the next round's
    // were sent: revisions must follow that order.
    let mut last_of_round = 0;
    for round in 0..CRASH_ROUNDS {
        let mut first_of_round = u64::MAX;
        let mut max_of_round = 0;
        for w in round * CRASH_WRITERS..(round + 1) * CRASH_WRITERS {
            let revisions: Vec<u64> = revision_of
                .range((w, 0)..(w + 1, 0))
                .map(|(_, r)| *r)
                .collect();
            assert!(
                revisions.windows(2).all(|p| p[0] < p[1]),
                "writer {w} revisions out of order: {revisions:?}"
            );
            first_of_round = first_of_round.min(revisions.first().copied().unwrap_or(u64::MAX));
            max_of_round = max_of_round.max(revisions.last().copied().unwrap_or(0));
        }
        if max_of_round > 0 {
            assert!(
                last_of_round < first_of_round,
                "round {round} starts at revision {first_of_round}, before {last_of_round}"
            );
            last_of_round = max_of_round;
        }
    }
    revision_of
}

/// Checks the background claims: every acknowledged one is there as
/// acknowledged; of those in flight at a kill, at most one per writer and
/// kill, whole. Returns the number of background claims stored.
async fn check_background(client: &mut Client, writers: &[Background]) -> usize {
    let listed = list_all(
        client,
        ListClaimsRequest {
            story: BACKGROUND_STORY.into(),
            ..Default::default()
        },
    )
    .await;
    let listed: BTreeMap<_, _> = listed.into_iter().map(|c| (c.name.clone(), c)).collect();
    let sent: BTreeSet<_> = writers
        .iter()
        .flat_map(|b| &b.sent)
        .map(|r| r.claim.as_ref().expect("claim").statement.clone())
        .collect();
    let acknowledged: BTreeMap<_, _> = writers
        .iter()
        .flat_map(|b| &b.acknowledged)
        .map(|c| (c.name.clone(), c))
        .collect();
    assert!(
        !acknowledged.is_empty(),
        "no background write was acknowledged"
    );
    for (name, claim) in &acknowledged {
        assert_eq!(listed.get(name), Some(*claim), "acknowledged {name}");
    }
    let mut unacknowledged = 0;
    for (name, claim) in &listed {
        if !acknowledged.contains_key(name) {
            unacknowledged += 1;
            assert!(sent.contains(&claim.statement), "unknown claim {claim:?}");
            assert_eq!(claim.submitted_by, BACKGROUND_USER);
            assert_eq!(history(client, name).await.len(), 1);
        }
    }
    assert!(
        unacknowledged <= writers.len(),
        "{unacknowledged} unacknowledged claims"
    );
    listed.len()
}

/// One round: writers submit claims `claims` and move some of them through
/// the workflow while background writers submit until the process dies;
/// SIGKILL right after the writers' last acknowledgement.
async fn write_and_kill(
    server: &mut ServeProcess,
    round: usize,
    claims: std::ops::Range<usize>,
) -> (Vec<Tracked>, Vec<Background>) {
    let client = server.client().await;
    let (progress, _) = watch::channel(0);
    let background: Vec<_> = (0..BACKGROUND_WRITERS)
        .map(|w| background_writer(round * 10 + w, client.clone(), 100_000, progress.clone()))
        .collect();
    let writers: Vec<JoinHandle<Vec<Tracked>>> = (0..CRASH_WRITERS)
        .map(|w| {
            let mut writer = Writer {
                id: round * CRASH_WRITERS + w,
                client: client.clone(),
                seq: 0,
            };
            let mine = claims.clone().skip(w).step_by(CRASH_WRITERS);
            tokio::spawn(async move {
                let mut done = Vec::new();
                for i in mine {
                    let (user, request) = crash_claim(i);
                    let mut claim = writer.submit(user, request).await;
                    writer.work_on(i, &mut claim).await;
                    done.push(claim);
                }
                done
            })
        })
        .collect();
    let mut tracked = Vec::new();
    for writer in writers {
        let done = tokio::time::timeout(WORK_TIMEOUT, writer)
            .await
            .expect("writers finish in time")
            .expect("a writer panicked");
        tracked.extend(done);
    }
    server.kill_9().await;

    let mut background_done = Vec::new();
    for writer in background {
        let done = tokio::time::timeout(EXIT_TIMEOUT, writer)
            .await
            .expect("background writers notice the kill")
            .expect("a background writer panicked");
        assert!(
            done.stopped_by.is_some(),
            "a background writer ran out of work before the kill; raise its limit"
        );
        background_done.push(done);
    }
    (tracked, background_done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_write_survives_kill_9_with_its_indexes_history_and_request_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut tracked = Vec::new();
    let mut background = Vec::new();
    let per_round = CRASH_CLAIMS / CRASH_ROUNDS;
    for round in 0..CRASH_ROUNDS {
        let mut server = ServeProcess::start(dir.path()).await;
        if round > 0 {
            // What the earlier kills left is intact before more is written.
            check_acknowledged(&server.client().await, &tracked).await;
            check_background(&mut server.client().await, &background).await;
        }
        let claims = round * per_round..(round + 1) * per_round;
        let (done, noise) = write_and_kill(&mut server, round, claims).await;
        tracked.extend(done);
        background.extend(noise);
    }
    assert_eq!(tracked.len(), CRASH_CLAIMS);
    let changes: usize = tracked.iter().map(|t| t.steps.len() - 1).sum();
    assert!(changes >= 80, "only {changes} changes were made");

    let server = ServeProcess::start(dir.path()).await;
    let mut client = server.client().await;
    check_acknowledged(&client, &tracked).await;
    let background_stored = check_background(&mut client, &background).await;

    // Revisions of all claims together run 1, 2, 3, ... without a gap: no
    // write was half kept.
    let everything = list_all(&mut client, ListClaimsRequest::default()).await;
    assert_eq!(everything.len(), tracked.len() + background_stored);
    let names = everything.iter().map(|c| c.name.clone()).collect();
    let histories = in_parallel(&client, names, |mut client, name: String| async move {
        history(&mut client, &name).await
    })
    .await;
    let mut revisions: Vec<u64> = histories.iter().flatten().map(|e| e.revision).collect();
    revisions.sort_unstable();
    let last_revision = revisions.len() as u64;
    assert!(
        revisions.iter().copied().eq(1..=last_revision),
        "revisions are not 1..={last_revision}: {revisions:?}"
    );

    check_indexes(&mut client, &tracked).await;

    // The request ids survived: the same request answers the claim as it is
    // now, and creates nothing.
    in_parallel(&client, tracked.clone(), |mut client, t| async move {
        let replay = client
            .submit_claim(as_user(t.request.clone(), &t.submitter))
            .await
            .unwrap_or_else(|s| panic!("replay {}: {s:?}", t.request.request_id))
            .into_inner();
        assert_eq!(replay, t.last, "replay of {}", t.request.request_id);
    })
    .await;
    let reused = {
        let (user, mut request) = crash_claim(1);
        request.claim.as_mut().expect("claim").statement =
            "A different sentence under a used request id.".into();
        client.submit_claim(as_user(request, &user)).await
    };
    assert_eq!(
        reused
            .expect_err("a used request id with another claim")
            .code(),
        Code::AlreadyExists
    );
    assert_eq!(
        list_all(&mut client, ListClaimsRequest::default())
            .await
            .len(),
        everything.len(),
        "replays created claims"
    );

    // The revision counter and etags carry on from before the crash.
    let untouched = tracked
        .iter()
        .find(|t| t.steps.len() == 1)
        .expect("an untouched claim");
    let resumed = client
        .start_review(as_user(
            pb::StartReviewRequest {
                name: untouched.last.name.clone(),
                etag: untouched.last.etag.clone(),
            },
            CHECKERS[0],
        ))
        .await
        .expect("an etag from before the crash is still current")
        .into_inner();
    assert_eq!(resumed.state(), State::InReview);
    let after = history(&mut client, &resumed.name).await;
    assert_eq!(
        after.last().map(|e| e.revision),
        Some(last_revision + 1),
        "the first write after the restart takes the next revision"
    );
}

/// The indexes find exactly the acknowledged claims, by story, source,
/// state and assignee, alone and combined.
async fn check_indexes(client: &mut Client, tracked: &[Tracked]) {
    let expect = |keep: &dyn Fn(&Claim) -> bool| -> BTreeSet<String> {
        tracked
            .iter()
            .map(|t| &t.last)
            .filter(|c| keep(c))
            .map(|c| c.name.clone())
            .collect()
    };
    let ours = expect(&|_| true);

    for story in STORIES {
        let found = list_names(
            client,
            ListClaimsRequest {
                story: story.into(),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(found, expect(&|c| c.story == story), "story {story}");
    }

    for source in SOURCES {
        // Any spelling of the source finds every spelling.
        let query = spelling(source, 2);
        let found = list_names(
            client,
            ListClaimsRequest {
                source: query.clone(),
                ..Default::default()
            },
        )
        .await;
        let same = |c: &Claim| {
            let stored = &c.attribution.as_ref().expect("attribution").source;
            stored
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
                == source.to_lowercase()
        };
        let expected = expect(&same);
        assert!(expected.len() >= CRASH_CLAIMS / 6, "source {source}");
        assert_eq!(found, expected, "source {query:?}");
    }

    let mut states_seen = 0;
    for state in [
        State::Unverified,
        State::InReview,
        State::Verified,
        State::Disputed,
        State::Inconclusive,
        State::Withdrawn,
    ] {
        let found = list_all(
            client,
            ListClaimsRequest {
                state: state.into(),
                ..Default::default()
            },
        )
        .await;
        assert!(found.iter().all(|c| c.state() == state), "state {state:?}");
        let found: BTreeSet<_> = found.into_iter().map(|c| c.name).collect();
        let expected = expect(&|c| c.state() == state);
        states_seen += usize::from(!expected.is_empty());
        // Background claims are unverified; compare ours only.
        let found_ours: BTreeSet<_> = found.intersection(&ours).cloned().collect();
        assert_eq!(found_ours, expected, "state {state:?}");
    }
    assert_eq!(states_seen, 6, "the test data covers every state");

    for checker in CHECKERS {
        let found = list_names(
            client,
            ListClaimsRequest {
                assignee: checker.into(),
                ..Default::default()
            },
        )
        .await;
        let expected = expect(&|c| c.assignee == checker);
        assert!(!expected.is_empty(), "{checker} has claims");
        assert_eq!(found, expected, "assignee {checker}");
    }

    for story in STORIES {
        for checker in CHECKERS {
            let found = list_names(
                client,
                ListClaimsRequest {
                    story: story.into(),
                    state: State::InReview.into(),
                    assignee: checker.into(),
                    ..Default::default()
                },
            )
            .await;
            let expected = expect(&|c| {
                c.story == story && c.state() == State::InReview && c.assignee == checker
            });
            assert_eq!(found, expected, "{story} in review with {checker}");
        }
    }
}

// ---------------------------------------------------------------------------
// 2. Graceful shutdown

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_in_flight_writes_finish_exits_zero_and_keeps_every_acknowledged_claim() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Configured through the environment here, through flags on restart:
    // both must mean the same directory.
    let mut server = start_from_environment(dir.path()).await;
    let client = server.client().await;
    let addr = server.addr();

    let (progress, mut acknowledged) = watch::channel(0);
    let writers: Vec<_> = (0..4)
        .map(|w| background_writer(w, client.clone(), 100_000, progress.clone()))
        .collect();
    drop(progress);
    // Terminate while the writers are busy.
    tokio::time::timeout(WORK_TIMEOUT, acknowledged.wait_for(|n| *n >= 40))
        .await
        .expect("writes are acknowledged in time")
        .expect("writers are running");
    server.terminate();
    let acknowledged_before_sigterm = *acknowledged.borrow();

    let status = server.exit_status_within(EXIT_TIMEOUT).await;
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status}; log:\n{}",
        server.text()
    );
    let lines = server.log.lines();
    let term = position_of(&lines, "SIGTERM received").expect("SIGTERM is logged");
    let stopped = position_of(&lines, "stopped").expect("the end of the shutdown is logged");
    assert!(term < stopped);
    assert_eq!(stopped, lines.len() - 1, "nothing is logged after stopping");
    assert!(
        lines.iter().all(|l| !l.contains("\"level\":\"ERROR\"")),
        "errors logged:\n{}",
        lines.join("\n")
    );

    let mut done = Vec::new();
    for writer in writers {
        let d = tokio::time::timeout(EXIT_TIMEOUT, writer)
            .await
            .expect("writers notice the shutdown")
            .expect("a writer panicked");
        let status = d.stopped_by.as_ref().expect("the writer ran until refused");
        // Refused by the server (GOAWAY, listener closed) or dropped by the
        // client before sending (connection closed); whether a refused
        // request was stored anyway is checked after the restart. A stream
        // that raced the GOAWAY is reported by the client's HTTP/2 layer,
        // which tonic maps to INTERNAL naming the GoAway.
        // The GoAway is named in the message or only in the error's source
        // (`h2 protocol error: http2 error`, caused by `GoAway(NO_ERROR)`).
        let cut_by_goaway = status.code() == Code::Internal
            && (status.message().contains("GoAway")
                || format!("{:?}", std::error::Error::source(status)).contains("GoAway"));
        assert!(
            matches!(status.code(), Code::Unavailable | Code::Cancelled) || cut_by_goaway,
            "{status:?}"
        );
        done.push(d);
    }
    let connect = tokio::net::TcpStream::connect(addr).await;
    assert_eq!(
        connect.expect_err("nothing listens after exit").kind(),
        std::io::ErrorKind::ConnectionRefused
    );

    let server = ServeProcess::start(dir.path()).await;
    let mut client = server.client().await;
    let mut acknowledged = BTreeSet::new();
    for claim in done.iter().flat_map(|d| &d.acknowledged) {
        assert_eq!(&get(&mut client, &claim.name).await, claim);
        acknowledged.insert(claim.name.clone());
    }
    // The writers always have requests in flight: those the server had
    // taken when the signal came were answered.
    assert!(
        acknowledged.len() > acknowledged_before_sigterm,
        "no request in flight at SIGTERM was answered ({} acknowledged in all)",
        acknowledged.len()
    );
    // Every request the server took was answered: nothing was stored
    // without its acknowledgement reaching the client.
    let stored = list_names(
        &mut client,
        ListClaimsRequest {
            story: BACKGROUND_STORY.into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(stored, acknowledged);
    let name = acknowledged.first().expect("a claim");
    let events = history(&mut client, name).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].r#type(), Type::Submitted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_health_watcher_sees_not_serving_on_sigterm_and_does_not_keep_the_process_alive() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = ServeProcess::start(dir.path()).await;
    let mut client = server.client().await;
    let (user, request) = crash_claim(4);
    let claim = client
        .submit_claim(as_user(request, &user))
        .await
        .expect("submit")
        .into_inner();

    let mut watching = serving_health_watch(server.channel().await, EXIT_TIMEOUT).await;

    server.terminate();
    assert_eq!(
        next_health_status(
            &mut watching,
            EXIT_TIMEOUT,
            "the watcher hears of the shutdown"
        )
        .await,
        ServingStatus::NotServing
    );

    // A load balancer that keeps watching must not keep the process alive.
    let status = server.exit_status_within(EXIT_TIMEOUT).await;
    assert_eq!(status.code(), Some(0), "exit status {status}");

    let server = ServeProcess::start(dir.path()).await;
    let mut client = server.client().await;
    assert_eq!(get(&mut client, &claim.name).await, claim);
}

// ---------------------------------------------------------------------------
// 3. Start-up

/// Runs `claimdesk serve` that is expected to fail at start-up; its exit
/// status and stderr with colours removed.
async fn failed_start(args: &[&str], data_dir: &Path) -> (ExitStatus, String) {
    let mut command = claimdesk_command();
    command
        .arg("serve")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir);
    let output = tokio::time::timeout(EXIT_TIMEOUT, command.output())
        .await
        .expect("claimdesk gives up in time")
        .expect("claimdesk runs");
    let stderr = strip_ansi(&String::from_utf8_lossy(&output.stderr));
    (output.status, stderr)
}

#[tokio::test]
async fn serve_on_an_address_in_use_exits_non_zero_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("address").to_string();
    let dir = tempfile::tempdir().expect("temp dir");

    let (status, stderr) = failed_start(&["--listen", &addr], dir.path()).await;

    assert!(!status.success(), "exit status {status}; stderr:\n{stderr}");
    let error = exit_error(status, &stderr, "an exit, not a crash: ");
    assert!(error.contains(&addr), "the error names {addr}: {error}");
    assert!(
        error.to_lowercase().contains("in use"),
        "the error says why: {error}"
    );
    assert!(!stderr.contains(READY_MESSAGE), "{stderr}");
}

#[tokio::test]
async fn serve_on_a_data_dir_another_server_holds_exits_non_zero_saying_why() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServeProcess::start(dir.path()).await;
    let mut client = server.client().await;
    let (user, request) = crash_claim(9);
    let claim = client
        .submit_claim(as_user(request, &user))
        .await
        .expect("submit")
        .into_inner();

    let (status, stderr) = failed_start(&["--listen", "127.0.0.1:0"], dir.path()).await;

    let error = exit_error(status, &stderr, "");
    let dir_name = dir.path().display().to_string();
    assert!(
        error.contains(&dir_name),
        "the error names {dir_name}: {error}"
    );
    assert!(
        error.to_lowercase().contains("lock"),
        "the error says the directory is locked by another process: {error}"
    );
    // The first server is unharmed.
    assert_eq!(get(&mut client, &claim.name).await, claim);
}

#[tokio::test]
async fn text_logs_to_a_pipe_are_plain_and_name_the_bound_address() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = claimdesk_command();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path());
    let mut server = ServeProcess::spawn(command);
    let line = server
        .log
        .wait_for("saying it is serving", PROCESS_WAIT, |l| {
            strip_ansi(l).contains(READY_MESSAGE).then(|| l.to_owned())
        })
        .await;
    let plain = strip_ansi(&line);
    let addr = plain
        .split_whitespace()
        .find_map(|w| w.strip_prefix("addr="))
        .unwrap_or_else(|| panic!("no addr= in {plain:?}"));
    server.serves_at(addr.parse().expect("a socket address"));
    let (mut health, check) = health(server.channel().await, CLAIM_SERVICE);
    let answer = health
        .check(check)
        .await
        .expect("health check")
        .into_inner();
    assert_eq!(answer.status(), ServingStatus::Serving);

    assert_eq!(
        line, plain,
        "stderr is not a terminal, yet the log has colour codes"
    );
}
