//! A crash loop: the real binary under concurrent load (submissions,
//! takes, evidence, rulings, reopenings, withdrawals, retries with the same
//! request id, calls refused on purpose, and a watcher of every event),
//! killed with SIGKILL at random moments, start-up and recovery included,
//! and restarted on the same data directory.
//!
//! Each writer keeps a ledger of what the server told it: every claim as
//! last acknowledged, with the revision and kind of each acknowledged
//! change. After every kill `claimdesk audit verify` checks the stopped
//! directory, and after every restart the server must agree with the
//! ledgers exactly: each claim, its history, every index, the queue
//! counters and what the watcher saw. A call cut by the kill (a transport
//! error, no answer from the server) took effect whole or not at all: a
//! submission is retried with its request id and must answer the claim a
//! first attempt made, a change must have made exactly one event or none.
//!
//! Every choice comes from a seeded RNG; the seed is printed, and
//! `CRASH_LOOP_SEED` replays its choices (not the timing of the kills).
//! Waits are for events (the readiness line, acknowledgements, the watcher
//! reaching a revision); the only delays are the random moments of the
//! kills, which are the experiment, not a synchronisation.
//!
//! `cargo test --test api crash_loop` runs 22 kills of the debug build; the
//! ignored `crash_loop_long` runs `CRASH_LOOP_KILLS` (200 by default) of
//! `CRASH_LOOP_BIN` (by default the debug build), e.g. of the release
//! binary (see README.md, Durability).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use claimdesk::pb::{
    self, Attribution, Claim, ClaimEvent, Evidence, ListClaimsRequest, SubmitClaimRequest,
    claim::{Priority, State},
    claim_event::Type,
    evidence::Stance,
};
use tokio::{sync::watch, task::JoinHandle};
use tonic::{Code, Status, transport::Channel};
use tonic_types::StatusExt;

use crate::helpers::{
    Client, DOMAIN, ServeProcess, as_user, claimdesk_command_of, error_metadata, events_of, get,
    in_parallel, list_all,
};

/// Kills in `cargo test` (start-up kills included).
const KILLS: usize = 22;
/// Concurrent writers, each with claims of its own.
const WRITERS: usize = 4;
/// Bounds waits for events on a busy two-core machine; not delays.
const WAIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_calls_survive_sigkill_at_random_moments_with_indexes_counters_and_history() {
    let figures = crash_loop(Settings::from_env(KILLS, false)).await;
    assert_eq!(figures.kills, KILLS, "{figures:?}");
    assert!(figures.startup_kills >= 2, "{figures:?}");
    assert!(figures.acknowledged >= 100, "{figures:?}");
    assert!(figures.refused >= 5, "{figures:?}");
    assert!(figures.cut >= 10, "{figures:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "long: CRASH_LOOP_KILLS (200) kills of CRASH_LOOP_BIN, e.g. target/release/claimdesk"]
async fn crash_loop_long() {
    let settings = Settings::from_env(200, true);
    let kills = settings.kills;
    let figures = crash_loop(settings).await;
    assert_eq!(figures.kills, kills, "{figures:?}");
}

// ---------------------------------------------------------------------------
// Settings and figures.

struct Settings {
    kills: usize,
    seed: u64,
    binary: PathBuf,
}

impl Settings {
    /// `kills` unless `CRASH_LOOP_KILLS` says otherwise (if `long`), the
    /// seed of `CRASH_LOOP_SEED` or a fresh one, the binary of
    /// `CRASH_LOOP_BIN` (if `long`) or the one cargo built.
    fn from_env(kills: usize, long: bool) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let kills = match var("CRASH_LOOP_KILLS").filter(|_| long) {
            Some(n) => n.parse().expect("CRASH_LOOP_KILLS is a number"),
            None => kills,
        };
        let seed = match var("CRASH_LOOP_SEED") {
            Some(s) => s.parse().expect("CRASH_LOOP_SEED is a number"),
            None => fastrand::u64(..),
        };
        let binary = match var("CRASH_LOOP_BIN").filter(|_| long) {
            Some(path) => PathBuf::from(path),
            None => PathBuf::from(env!("CARGO_BIN_EXE_claimdesk")),
        };
        Self {
            kills,
            seed,
            binary,
        }
    }
}

/// What a run did, printed at its end.
#[derive(Debug, Default)]
struct Figures {
    kills: usize,
    /// Kills before the server said it was serving, or just after.
    startup_kills: usize,
    /// Calls answered with success, each checked after every later restart.
    acknowledged: usize,
    /// Calls refused on purpose (stale etag, wrong state, reused request
    /// id), each checked to have changed nothing.
    refused: usize,
    /// Calls cut by a kill: those found to have taken effect, and the rest.
    cut: usize,
    cut_applied: usize,
    /// Events the watcher saw, each exactly once.
    watched: u64,
    /// Claims at the end.
    claims: usize,
}

// ---------------------------------------------------------------------------
// The loop.

async fn crash_loop(settings: Settings) -> Figures {
    let seed = settings.seed;
    println!(
        "crash loop: seed {seed} (CRASH_LOOP_SEED={seed} replays its choices), {} kills of {}",
        settings.kills,
        settings.binary.display()
    );
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut figures = Figures::default();
    let mut writers: Vec<Writer> = (0..WRITERS).map(|w| Writer::new(w, seed)).collect();
    let watched = Arc::new(Mutex::new(Watched::default()));
    // The last revision the store holds, as of the last check.
    let mut last_revision = 0;

    while figures.kills < settings.kills {
        let mut server = serve(&settings.binary, dir.path()).await;
        if figures.kills > 0 {
            assert_last_revision(&server, last_revision).await;
        }
        let client = server.client().await;
        let killed = Arc::new(AtomicBool::new(false));
        let (watcher, watcher_at) =
            spawn_watcher(server.channel().await, watched.clone(), killed.clone());
        for writer in &mut writers {
            figures.cut_applied += usize::from(writer.settle(&mut client.clone()).await);
        }
        last_revision = check(&client, &writers, &watched, watcher_at).await;

        // Load, then a kill at a random moment.
        let (acked, acks) = watch::channel(0usize);
        let running: Vec<JoinHandle<Writer>> = writers
            .drain(..)
            .map(|w| w.spawn(client.clone(), last_revision, killed.clone(), acked.clone()))
            .collect();
        drop(acked);
        wait_for_a_random_moment(&mut rng, acks).await;
        killed.store(true, Ordering::SeqCst);
        server.kill_9().await;
        figures.kills += 1;
        for handle in running {
            let writer = tokio::time::timeout(WAIT, handle)
                .await
                .expect("writers notice the kill")
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            writers.push(writer);
        }
        tokio::time::timeout(WAIT, watcher)
            .await
            .expect("the watcher notices the kill")
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        let audited = audit_verify(&settings.binary, dir.path()).await;
        assert!(audited >= last_revision, "{audited} events after the kill");
        last_revision = audited;

        // After every third kill under load, a kill during start-up and
        // recovery, at a random moment from right after the spawn to about
        // when the server is ready.
        let under_load = figures.kills - figures.startup_kills;
        if figures.kills < settings.kills && under_load % 3 == 0 {
            let mut starting = ServeProcess::spawn(serve_command(&settings.binary, dir.path()));
            let delay = if rng.bool() { 0 } else { rng.u64(..800) };
            // The experiment: a random moment, not a wait for anything.
            tokio::time::sleep(Duration::from_millis(delay)).await;
            starting.kill_9().await;
            figures.kills += 1;
            figures.startup_kills += 1;
            assert_eq!(
                audit_verify(&settings.binary, dir.path()).await,
                last_revision,
                "a start-up killed after {delay} ms changed the history"
            );
        }
    }

    // The last restart, and every check once more.
    let server = serve(&settings.binary, dir.path()).await;
    assert_last_revision(&server, last_revision).await;
    let client = server.client().await;
    let never = Arc::new(AtomicBool::new(false));
    let (watcher, watcher_at) = spawn_watcher(server.channel().await, watched.clone(), never);
    for writer in &mut writers {
        figures.cut_applied += usize::from(writer.settle(&mut client.clone()).await);
    }
    check(&client, &writers, &watched, watcher_at).await;
    watcher.abort();

    for w in &writers {
        figures.acknowledged += w.acknowledged;
        figures.refused += w.refused;
        figures.cut += w.cut;
        figures.claims += w.claims.len();
    }
    figures.watched = watched.lock().expect("watched").last;
    println!(
        "crash loop: {} kills ({} during start-up), {} acknowledged calls checked after every \
         later restart, {} refusals checked to change nothing, {} calls cut by a kill ({} of them \
         had taken effect, whole), {} events watched exactly once, {} claims, lost: 0, in {:.0?}",
        figures.kills,
        figures.startup_kills,
        figures.acknowledged,
        figures.refused,
        figures.cut,
        figures.cut_applied,
        figures.watched,
        figures.claims,
        started.elapsed()
    );
    figures
}

/// Waits for a random number of acknowledgements, or a random time: the
/// moment of the kill, which is the experiment (a delay here is not a
/// synchronisation).
async fn wait_for_a_random_moment(rng: &mut fastrand::Rng, mut acks: watch::Receiver<usize>) {
    if rng.bool() {
        let n = rng.usize(..60);
        tokio::time::timeout(WAIT, acks.wait_for(|a| *a >= n))
            .await
            .expect("the writers make progress")
            .expect("the writers run");
    } else {
        tokio::time::sleep(Duration::from_millis(rng.u64(..400))).await;
    }
}

fn serve_command(binary: &Path, dir: &Path) -> tokio::process::Command {
    let mut command = claimdesk_command_of(binary);
    command
        .args(["serve", "--log-format", "json", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir);
    command
}

async fn serve(binary: &Path, dir: &Path) -> ServeProcess {
    ServeProcess::serve(serve_command(binary, dir)).await
}

/// `claimdesk audit verify` of the stopped data directory: it must pass;
/// the number of events it checked.
async fn audit_verify(binary: &Path, dir: &Path) -> u64 {
    let output = claimdesk_command_of(binary)
        .args(["audit", "verify", "--data-dir"])
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .output();
    let output = tokio::time::timeout(WAIT, output)
        .await
        .expect("audit verify ends in time")
        .expect("audit verify runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "audit verify: {stdout}{stderr}"
    );
    stdout
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("audit verify names the events it checked: {stdout}"))
}

/// The store's last revision is `last`: a watch may start there, not
/// after it.
async fn assert_last_revision(server: &ServeProcess, last: u64) {
    let mut client = server.client().await;
    let from = |after_revision| pb::WatchClaimEventsRequest {
        after_revision,
        ..Default::default()
    };
    client
        .watch_claim_events(from(last))
        .await
        .unwrap_or_else(|s| panic!("a watch from revision {last}: {s:?}"));
    let ahead = client.watch_claim_events(from(last + 1)).await;
    let status = ahead.expect_err("the last revision is the one audit verify checked last");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
}

// ---------------------------------------------------------------------------
// Answers.

/// What became of a call.
enum Answer<T> {
    Done(T),
    /// The server answered with one of its errors.
    Refused(Status),
    /// No answer from the server: the connection was cut.
    Cut(Status),
}

fn answer<T>(result: Result<tonic::Response<T>, Status>) -> Answer<T> {
    match result {
        Ok(response) => Answer::Done(response.into_inner()),
        Err(status) => {
            let ours = status
                .get_error_details()
                .error_info()
                .is_some_and(|info| info.domain == DOMAIN);
            if ours {
                Answer::Refused(status)
            } else {
                Answer::Cut(status)
            }
        }
    }
}

fn reason(status: &Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// A writer and its ledger.

const SOURCES: [&str; 3] = [
    "Kelmar Dockers' Union",
    "Port Authority of Kelmar",
    "Kelmar Evening Courier",
];
/// Evidence from sources independent of every claim's attribution.
const SUPPORTER: &str = "Harbour master's logbook";
const REFUTER: &str = "Coast guard radio log";
const PRIORITIES: [Priority; 3] = [Priority::Routine, Priority::Urgent, Priority::Breaking];

/// One acknowledged change, as the claim's history must show it.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    revision: u64,
    kind: Type,
    actor: String,
    from: State,
    to: State,
}

/// A claim as its writer knows it.
#[derive(Debug, Clone)]
struct Known {
    /// The last answer about it (or what was read back after a cut call).
    claim: Claim,
    steps: Vec<Step>,
    request: SubmitClaimRequest,
}

/// A change to a claim.
#[derive(Debug, Clone)]
struct Change {
    name: String,
    etag: String,
    actor: String,
    kind: Type,
    to: State,
    stance: Stance,
}

/// A call cut by a kill, settled after the restart.
#[derive(Debug, Clone)]
enum Pending {
    Submit(Box<SubmitClaimRequest>),
    Change(Change),
    Take,
}

struct Writer {
    id: usize,
    rng: fastrand::Rng,
    editor: String,
    checker: String,
    chief: String,
    /// The tag of its claims: the queue it takes from is its own.
    tag: String,
    claims: BTreeMap<String, Known>,
    submitted: usize,
    pending: Option<Pending>,
    /// The revision of its last acknowledged change.
    last_revision: u64,
    acknowledged: usize,
    refused: usize,
    cut: usize,
}

/// How a step of a writer ended.
enum Flow {
    Acknowledged,
    Refused,
    Cut,
}

impl Writer {
    fn new(id: usize, seed: u64) -> Self {
        Self {
            id,
            rng: fastrand::Rng::with_seed(
                seed ^ 0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(id as u64 + 1),
            ),
            editor: format!("editor-{id}"),
            checker: format!("checker-{id}"),
            chief: format!("chief-{id}"),
            tag: format!("desk-{id}"),
            claims: BTreeMap::new(),
            submitted: 0,
            pending: None,
            last_revision: 0,
            acknowledged: 0,
            refused: 0,
            cut: 0,
        }
    }

    /// Runs until a call is cut by the kill; `floor` is the last revision
    /// of the store at the start, which every new revision must pass.
    fn spawn(
        mut self,
        mut client: Client,
        floor: u64,
        killed: Arc<AtomicBool>,
        acked: watch::Sender<usize>,
    ) -> JoinHandle<Self> {
        self.last_revision = self.last_revision.max(floor);
        tokio::spawn(async move {
            loop {
                match self.step(&mut client).await {
                    Flow::Acknowledged => {
                        self.acknowledged += 1;
                        acked.send_modify(|n| *n += 1);
                    }
                    Flow::Refused => self.refused += 1,
                    Flow::Cut => {
                        assert!(
                            killed.load(Ordering::SeqCst),
                            "writer {}: a call was cut while the server ran",
                            self.id
                        );
                        self.cut += 1;
                        return self;
                    }
                }
            }
        })
    }

    fn submit_request(&mut self) -> SubmitClaimRequest {
        let (w, n) = (self.id, self.submitted);
        self.submitted += 1;
        let r = &mut self.rng;
        SubmitClaimRequest {
            claim: Some(Claim {
                statement: format!("Ferry crossing {n} of desk {w} left Kelmar on time."),
                attribution: Some(Attribution {
                    source: SOURCES[r.usize(..SOURCES.len())].to_owned(),
                    relayed_from: if r.bool() {
                        vec!["Harbour Pilots' Association".to_owned()]
                    } else {
                        Vec::new()
                    },
                    url: String::new(),
                }),
                // A story of its own: no other claim is compared with it,
                // so no change links it to another.
                story: format!("crossing-{w}-{n}"),
                tags: vec![self.tag.clone()],
                priority: PRIORITIES[r.usize(..PRIORITIES.len())].into(),
                ..Claim::default()
            }),
            request_id: format!("crossing-{w}-{n}"),
        }
    }

    /// A random claim of this writer, if it has one.
    fn any_claim(&mut self) -> Option<Known> {
        if self.claims.is_empty() {
            return None;
        }
        let i = self.rng.usize(..self.claims.len());
        self.claims.values().nth(i).cloned()
    }

    /// The claim a take gets: the most urgent unverified one, the oldest
    /// first (no claim has a deadline).
    fn head_of_queue(&self) -> Option<&Known> {
        self.claims
            .values()
            .filter(|k| k.claim.state() == State::Unverified)
            .min_by_key(|k| (std::cmp::Reverse(k.claim.priority), k.claim.name.clone()))
    }

    async fn step(&mut self, client: &mut Client) -> Flow {
        let roll = self.rng.u8(..100);
        let Some(known) = self.any_claim().filter(|_| roll >= 20) else {
            return self.submit(client).await;
        };
        match roll {
            20..26 => self.retry_submission(client, &known).await,
            26..28 => self.reuse_request_id(client, &known).await,
            28..38 => self.take(client).await,
            38..41 => self.stale_etag(client, &known).await,
            41..44 => self.wrong_state(client, &known).await,
            _ => match self.change_for(&known) {
                Some(change) => self.change(client, change).await,
                None => self.submit(client).await,
            },
        }
    }

    async fn submit(&mut self, client: &mut Client) -> Flow {
        let request = self.submit_request();
        let sent = client
            .submit_claim(as_user(request.clone(), &self.editor))
            .await;
        match answer(sent) {
            Answer::Done(claim) => {
                self.record_submission(request, claim);
                Flow::Acknowledged
            }
            Answer::Refused(s) => panic!("SubmitClaim {}: {s:?}", request.request_id),
            Answer::Cut(_) => {
                self.pending = Some(Pending::Submit(Box::new(request)));
                Flow::Cut
            }
        }
    }

    fn record_submission(&mut self, request: SubmitClaimRequest, claim: Claim) {
        assert_eq!(claim.state(), State::Unverified, "{claim:?}");
        let revision = self.new_revision(&claim);
        let step = Step {
            revision,
            kind: Type::Submitted,
            actor: self.editor.clone(),
            from: State::Unspecified,
            to: State::Unverified,
        };
        let known = Known {
            claim: claim.clone(),
            steps: vec![step],
            request,
        };
        let earlier = self.claims.insert(claim.name.clone(), known);
        assert!(earlier.is_none(), "a new submission made {}", claim.name);
    }

    /// The revision of an answer's etag, checked to be later than every
    /// revision this writer saw before.
    fn new_revision(&mut self, claim: &Claim) -> u64 {
        let revision: u64 = claim.etag.parse().expect("an etag is a revision");
        assert!(
            revision > self.last_revision,
            "writer {}: {} has revision {revision}, not after {}",
            self.id,
            claim.name,
            self.last_revision
        );
        self.last_revision = revision;
        revision
    }

    /// The same request id and claim: the claim as it is now, nothing new.
    async fn retry_submission(&mut self, client: &mut Client, known: &Known) -> Flow {
        let sent = client
            .submit_claim(as_user(known.request.clone(), &self.editor))
            .await;
        match answer(sent) {
            Answer::Done(claim) => {
                assert_eq!(claim, known.claim, "a retry answers the claim as it is");
                Flow::Acknowledged
            }
            Answer::Refused(s) => panic!("retry of {}: {s:?}", known.request.request_id),
            // Made nothing either way; the checks after the restart see it.
            Answer::Cut(_) => Flow::Cut,
        }
    }

    /// A used request id with another claim is refused.
    async fn reuse_request_id(&mut self, client: &mut Client, known: &Known) -> Flow {
        let mut request = known.request.clone();
        if let Some(claim) = request.claim.as_mut() {
            claim.statement = "Another statement under a used request id.".to_owned();
        }
        let sent = client.submit_claim(as_user(request, &self.editor)).await;
        match answer(sent) {
            Answer::Done(claim) => panic!("a reused request id made {claim:?}"),
            Answer::Refused(s) => {
                assert_eq!(
                    (s.code(), reason(&s).as_str()),
                    (Code::AlreadyExists, "REQUEST_ID_REUSED"),
                    "{s:?}"
                );
                Flow::Refused
            }
            Answer::Cut(_) => Flow::Cut,
        }
    }

    async fn take(&mut self, client: &mut Client) -> Flow {
        let head = self.head_of_queue().map(|k| k.claim.name.clone());
        let request = pb::TakeNextClaimRequest {
            story: String::new(),
            tags: vec![self.tag.clone()],
        };
        let sent = client
            .take_next_claim(as_user(request, &self.checker))
            .await;
        match answer(sent) {
            Answer::Done(claim) => {
                assert_eq!(Some(&claim.name), head.as_ref(), "the head of the queue");
                let change = Change {
                    name: claim.name.clone(),
                    etag: String::new(),
                    actor: self.checker.clone(),
                    kind: Type::ReviewStarted,
                    to: State::InReview,
                    stance: Stance::Unspecified,
                };
                self.record_change(&change, claim);
                Flow::Acknowledged
            }
            Answer::Refused(s) => {
                assert_eq!(reason(&s), "QUEUE_EMPTY", "{s:?}");
                assert_eq!(head, None, "the queue holds {head:?}");
                Flow::Refused
            }
            Answer::Cut(_) => {
                self.pending = Some(Pending::Take);
                Flow::Cut
            }
        }
    }

    /// A change conditional on an etag the claim no longer has.
    async fn stale_etag(&mut self, client: &mut Client, known: &Known) -> Flow {
        let Some(first) = known.steps.first().filter(|_| known.steps.len() > 1) else {
            return self.submit(client).await;
        };
        let request = pb::WithdrawClaimRequest {
            name: known.claim.name.clone(),
            reason: "Cut from the late edition.".to_owned(),
            etag: first.revision.to_string(),
        };
        let sent = client.withdraw_claim(as_user(request, &self.editor)).await;
        match answer(sent) {
            Answer::Done(claim) => panic!("a stale etag changed {claim:?}"),
            Answer::Refused(s) => {
                assert_eq!(
                    (s.code(), reason(&s).as_str()),
                    (Code::Aborted, "ETAG_MISMATCH"),
                    "{s:?}"
                );
                let current = error_metadata(&s.get_error_details(), "etag");
                assert_eq!(current.as_ref(), Some(&known.claim.etag), "{s:?}");
                Flow::Refused
            }
            Answer::Cut(_) => Flow::Cut,
        }
    }

    /// A change the claim's state does not allow: reopening a claim without
    /// a ruling.
    async fn wrong_state(&mut self, client: &mut Client, known: &Known) -> Flow {
        if !matches!(
            known.claim.state(),
            State::Unverified | State::InReview | State::Withdrawn
        ) {
            return self.submit(client).await;
        }
        let request = pb::ReopenClaimRequest {
            name: known.claim.name.clone(),
            reason: "A second look.".to_owned(),
            etag: String::new(),
        };
        let sent = client.reopen_claim(as_user(request, &self.chief)).await;
        match answer(sent) {
            Answer::Done(claim) => panic!("reopened without a ruling: {claim:?}"),
            Answer::Refused(s) => {
                assert_eq!(
                    (s.code(), reason(&s).as_str()),
                    (Code::FailedPrecondition, "INVALID_TRANSITION"),
                    "{s:?}"
                );
                Flow::Refused
            }
            Answer::Cut(_) => Flow::Cut,
        }
    }

    /// A change the rules allow in the claim's state, at random.
    fn change_for(&mut self, known: &Known) -> Option<Change> {
        let claim = &known.claim;
        let has = |stance: Stance| claim.evidence.iter().any(|e| e.stance() == stance);
        let room = claim.evidence.len() < 20;
        let (editor, checker, chief) = (
            self.editor.clone(),
            self.checker.clone(),
            self.chief.clone(),
        );
        let mut options: Vec<(Type, String, State, Stance)> = Vec::new();
        let state = claim.state();
        match state {
            State::Unverified => {
                options.push((
                    Type::ReviewStarted,
                    checker.clone(),
                    State::InReview,
                    Stance::Unspecified,
                ));
                options.push((
                    Type::Withdrawn,
                    editor.clone(),
                    State::Withdrawn,
                    Stance::Unspecified,
                ));
            }
            State::InReview => {
                options.push((
                    Type::Released,
                    checker.clone(),
                    State::Unverified,
                    Stance::Unspecified,
                ));
                options.push((
                    Type::MarkedInconclusive,
                    checker.clone(),
                    State::Inconclusive,
                    Stance::Unspecified,
                ));
                if has(Stance::Supports) {
                    options.push((
                        Type::Verified,
                        checker.clone(),
                        State::Verified,
                        Stance::Unspecified,
                    ));
                }
                if has(Stance::Refutes) {
                    options.push((
                        Type::Disputed,
                        checker.clone(),
                        State::Disputed,
                        Stance::Unspecified,
                    ));
                }
            }
            State::Verified | State::Disputed | State::Inconclusive => {
                options.push((
                    Type::Reopened,
                    chief.clone(),
                    State::Unverified,
                    Stance::Unspecified,
                ));
                options.push((
                    Type::Withdrawn,
                    chief.clone(),
                    State::Withdrawn,
                    Stance::Unspecified,
                ));
            }
            _ => {}
        }
        if room && matches!(state, State::Unverified | State::InReview) {
            for stance in [Stance::Supports, Stance::Refutes, Stance::Supports] {
                options.push((Type::EvidenceAdded, editor.clone(), state, stance));
            }
        }
        if options.is_empty() {
            return None;
        }
        let (kind, actor, to, stance) = options.swap_remove(self.rng.usize(..options.len()));
        Some(Change {
            name: claim.name.clone(),
            // Half of the changes are conditional on the etag last seen.
            etag: if self.rng.bool() {
                claim.etag.clone()
            } else {
                String::new()
            },
            actor,
            kind,
            to,
            stance,
        })
    }

    async fn change(&mut self, client: &mut Client, change: Change) -> Flow {
        match answer(send(client, &change).await) {
            Answer::Done(claim) => {
                self.record_change(&change, claim);
                Flow::Acknowledged
            }
            Answer::Refused(s) => panic!("{change:?}: {s:?}"),
            Answer::Cut(_) => {
                self.pending = Some(Pending::Change(change));
                Flow::Cut
            }
        }
    }

    /// Checks an answer to `change` against what the writer knew, and
    /// records it.
    fn record_change(&mut self, change: &Change, claim: Claim) {
        let revision = self.new_revision(&claim);
        let known = self.claims.get_mut(&change.name).expect("a known claim");
        let before = &known.claim;
        assert_eq!(claim.name, before.name);
        assert_eq!(claim.state(), change.to, "{change:?}: {claim:?}");
        assert_eq!(claim.create_time, before.create_time, "{change:?}");
        let added = usize::from(change.kind == Type::EvidenceAdded);
        assert_eq!(
            claim.evidence.len(),
            before.evidence.len() + added,
            "{change:?}"
        );
        assert_eq!(claim.evidence[..before.evidence.len()], before.evidence[..]);
        if let Some(new) = claim.evidence.last().filter(|_| added == 1) {
            assert_eq!(new.stance(), change.stance);
            assert!(
                !new.id.is_empty() && before.evidence.iter().all(|e| e.id != new.id),
                "a fresh evidence id: {new:?}"
            );
        }
        if change.kind == Type::ReviewStarted {
            assert_eq!(claim.assignee, change.actor);
        }
        known.steps.push(Step {
            revision,
            kind: change.kind,
            actor: change.actor.clone(),
            from: before.state(),
            to: change.to,
        });
        known.claim = claim;
    }

    /// Settles the call a kill cut, if any, against the restarted server:
    /// true if it had taken effect (whole).
    async fn settle(&mut self, client: &mut Client) -> bool {
        match self.pending.take() {
            None => false,
            Some(Pending::Submit(request)) => {
                let request = *request;
                let story = request.claim.as_ref().expect("claim").story.clone();
                let filter = ListClaimsRequest {
                    story,
                    ..Default::default()
                };
                let stored = list_all(client, filter).await;
                assert!(stored.len() <= 1, "one submission made {stored:?}");
                let retried = client
                    .submit_claim(as_user(request.clone(), &self.editor))
                    .await
                    .unwrap_or_else(|s| panic!("retry of {}: {s:?}", request.request_id))
                    .into_inner();
                if let Some(first) = stored.first() {
                    assert_eq!(
                        &retried, first,
                        "the retry answers the claim the cut call made"
                    );
                }
                self.record_submission(request, retried);
                !stored.is_empty()
            }
            Some(Pending::Change(change)) => self.settle_change(client, &change).await,
            Some(Pending::Take) => match self.head_of_queue() {
                // A cut take may only have taken the head of the queue.
                Some(head) => {
                    let change = Change {
                        name: head.claim.name.clone(),
                        etag: String::new(),
                        actor: self.checker.clone(),
                        kind: Type::ReviewStarted,
                        to: State::InReview,
                        stance: Stance::Unspecified,
                    };
                    self.settle_change(client, &change).await
                }
                None => false,
            },
        }
    }

    /// A cut change made exactly one event or none.
    async fn settle_change(&mut self, client: &mut Client, change: &Change) -> bool {
        let now = get(client, &change.name).await;
        let known = &self.claims[&change.name];
        if now.etag == known.claim.etag {
            assert_eq!(now, known.claim, "a cut change took effect in part");
            return false;
        }
        let events = events_of(client, &change.name).await;
        assert_eq!(
            events.len(),
            known.steps.len() + 1,
            "one cut change made one event: {events:#?}"
        );
        let last = events.last().expect("an event");
        assert_eq!(
            (last.r#type(), last.actor.as_str()),
            (change.kind, change.actor.as_str())
        );
        self.record_change(change, now);
        true
    }
}

/// Sends `change`.
async fn send(client: &mut Client, c: &Change) -> Result<tonic::Response<Claim>, Status> {
    let (name, etag) = (c.name.clone(), c.etag.clone());
    let note = format!("{:?} by {}", c.kind, c.actor);
    let user = c.actor.as_str();
    match c.kind {
        Type::ReviewStarted => {
            let r = pb::StartReviewRequest { name, etag };
            client.start_review(as_user(r, user)).await
        }
        Type::Released => {
            let r = pb::ReleaseClaimRequest { name, etag, note };
            client.release_claim(as_user(r, user)).await
        }
        Type::EvidenceAdded => {
            let source = if c.stance == Stance::Refutes {
                REFUTER
            } else {
                SUPPORTER
            };
            let evidence = Evidence {
                summary: format!("What the {source} shows."),
                source: source.to_owned(),
                stance: c.stance.into(),
                ..Evidence::default()
            };
            let r = pb::AddEvidenceRequest {
                name,
                evidence: Some(evidence),
                etag,
            };
            client.add_evidence(as_user(r, user)).await
        }
        Type::Verified => {
            let r = pb::VerifyClaimRequest {
                name,
                note,
                etag,
                acknowledge_contradictions: false,
            };
            client.verify_claim(as_user(r, user)).await
        }
        Type::Disputed => {
            let r = pb::DisputeClaimRequest { name, note, etag };
            client.dispute_claim(as_user(r, user)).await
        }
        Type::MarkedInconclusive => {
            let r = pb::MarkClaimInconclusiveRequest { name, note, etag };
            client.mark_claim_inconclusive(as_user(r, user)).await
        }
        Type::Reopened => {
            let r = pb::ReopenClaimRequest {
                name,
                reason: note,
                etag,
            };
            client.reopen_claim(as_user(r, user)).await
        }
        Type::Withdrawn => {
            let r = pb::WithdrawClaimRequest {
                name,
                reason: note,
                etag,
            };
            client.withdraw_claim(as_user(r, user)).await
        }
        other => unreachable!("no change of kind {other:?} is made"),
    }
}

// ---------------------------------------------------------------------------
// The watcher.

/// Every event the watcher received, over all restarts.
#[derive(Default)]
struct Watched {
    events: Vec<ClaimEvent>,
    last: u64,
}

/// Watches every event from the last one received until the server dies;
/// each must be the one after the last (so none is seen twice or missed).
/// The receiver follows the last revision received.
fn spawn_watcher(
    channel: Channel,
    watched: Arc<Mutex<Watched>>,
    killed: Arc<AtomicBool>,
) -> (JoinHandle<()>, watch::Receiver<u64>) {
    let (at, at_rx) = watch::channel(watched.lock().expect("watched").last);
    let handle = tokio::spawn(async move {
        let mut client = pb::claim_service_client::ClaimServiceClient::new(channel);
        loop {
            let after_revision = watched.lock().expect("watched").last;
            let request = pb::WatchClaimEventsRequest {
                after_revision,
                ..Default::default()
            };
            let mut stream = match answer(client.watch_claim_events(request).await) {
                Answer::Done(stream) => stream,
                Answer::Cut(s) => {
                    assert!(killed.load(Ordering::SeqCst), "watch cut: {s:?}");
                    return;
                }
                Answer::Refused(s) => panic!("watch from {after_revision}: {s:?}"),
            };
            loop {
                match stream.message().await {
                    Ok(Some(event)) => {
                        let mut w = watched.lock().expect("watched");
                        assert_eq!(event.revision, w.last + 1, "the watcher's next event");
                        w.last = event.revision;
                        w.events.push(event);
                        at.send_replace(w.last);
                    }
                    Err(s) if reason(&s) == "WATCHER_TOO_SLOW" => break,
                    // The server died (a stream cut may also read as its
                    // end).
                    Ok(None) | Err(_) if killed.load(Ordering::SeqCst) => return,
                    Ok(None) => panic!("a watch ended while the server ran"),
                    Err(s) => panic!("the watch ended: {s:?}"),
                }
            }
        }
    });
    (handle, at_rx)
}

// ---------------------------------------------------------------------------
// The checks after a restart.

/// Checks the server against the writers' ledgers and the watcher; the
/// store's last revision.
async fn check(
    client: &Client,
    writers: &[Writer],
    watched: &Mutex<Watched>,
    mut watcher_at: watch::Receiver<u64>,
) -> u64 {
    let known: BTreeMap<String, Known> = writers
        .iter()
        .flat_map(|w| w.claims.iter().map(|(n, k)| (n.clone(), k.clone())))
        .collect();

    // Every claim, exactly as last acknowledged; no other claim.
    let listed = list_all(
        &mut client.clone(),
        ListClaimsRequest {
            page_size: 97,
            ..Default::default()
        },
    )
    .await;
    let listed: BTreeMap<String, Claim> = listed.into_iter().map(|c| (c.name.clone(), c)).collect();
    assert_eq!(
        listed.keys().collect::<Vec<_>>(),
        known.keys().collect::<Vec<_>>(),
        "the claims stored are the claims acknowledged"
    );
    for (name, k) in &known {
        assert_eq!(&listed[name], &k.claim, "{name} as last acknowledged");
    }

    // Every history: the acknowledged changes, at the revisions their
    // answers gave; all revisions together run 1, 2, 3... without a gap.
    let histories = in_parallel(
        client,
        known.values().cloned().collect(),
        |mut client, k: Known| async move {
            (
                k.claim.name.clone(),
                events_of(&mut client, &k.claim.name).await,
                k,
            )
        },
    )
    .await;
    let mut revisions = BTreeMap::new();
    for (name, events, k) in &histories {
        let steps: Vec<Step> = events
            .iter()
            .map(|e| {
                assert_eq!(&e.claim, name);
                Step {
                    revision: e.revision,
                    kind: e.r#type(),
                    actor: e.actor.clone(),
                    from: e.from_state(),
                    to: e.to_state(),
                }
            })
            .collect();
        assert_eq!(steps, k.steps, "history of {name}");
        for e in events {
            assert!(
                revisions.insert(e.revision, e).is_none(),
                "revision {} twice",
                e.revision
            );
        }
    }
    let last = revisions.len() as u64;
    assert!(
        revisions.keys().copied().eq(1..=last),
        "revisions are not 1..={last}"
    );

    // The watcher saw every event once, as the histories hold it.
    tokio::time::timeout(WAIT, watcher_at.wait_for(|at| *at >= last))
        .await
        .expect("the watcher catches up")
        .expect("the watcher runs");
    {
        let w = watched.lock().expect("watched");
        assert_eq!(w.last, last, "the watcher saw events beyond the store's");
        for (seen, stored) in w.events.iter().zip(revisions.values()) {
            assert_eq!(
                &seen, stored,
                "revision {} as watched and as stored",
                seen.revision
            );
        }
    }

    check_indexes(client, &listed, writers).await;
    check_counters(client, &listed).await;
    last
}

/// Each filtered listing finds exactly the claims the ledgers say.
async fn check_indexes(client: &Client, claims: &BTreeMap<String, Claim>, writers: &[Writer]) {
    let mut client = client.clone();
    let names = |keep: &dyn Fn(&Claim) -> bool| -> Vec<String> {
        claims
            .values()
            .filter(|c| keep(c))
            .map(|c| c.name.clone())
            .collect()
    };
    let mut filters: Vec<(ListClaimsRequest, Vec<String>)> = Vec::new();
    for state in [
        State::Unverified,
        State::InReview,
        State::Verified,
        State::Disputed,
        State::Inconclusive,
        State::Withdrawn,
    ] {
        let filter = ListClaimsRequest {
            state: state.into(),
            ..Default::default()
        };
        filters.push((filter, names(&|c| c.state() == state)));
    }
    for w in writers {
        let filter = ListClaimsRequest {
            assignee: w.checker.clone(),
            ..Default::default()
        };
        filters.push((filter, names(&|c| c.assignee == w.checker)));
        let filter = ListClaimsRequest {
            assignee: w.checker.clone(),
            state: State::InReview.into(),
            ..Default::default()
        };
        let expected = names(&|c| c.assignee == w.checker && c.state() == State::InReview);
        filters.push((filter, expected));
    }
    for source in SOURCES {
        let filter = ListClaimsRequest {
            source: source.to_uppercase(),
            ..Default::default()
        };
        let expected = names(&|c| c.attribution.as_ref().is_some_and(|a| a.source == source));
        filters.push((filter, expected));
    }
    for c in claims.values().step_by(17) {
        let filter = ListClaimsRequest {
            story: c.story.clone(),
            ..Default::default()
        };
        filters.push((filter, vec![c.name.clone()]));
    }
    for (filter, expected) in filters {
        let what = format!("{filter:?}");
        let found = list_all(&mut client, filter).await;
        let found: Vec<String> = found.into_iter().map(|c| c.name).collect();
        assert_eq!(found, expected, "{what}");
    }
}

/// GetQueueStats counts what ListClaims lists.
async fn check_counters(client: &Client, claims: &BTreeMap<String, Claim>) {
    let stats = client
        .clone()
        .get_queue_stats(pb::GetQueueStatsRequest::default())
        .await
        .expect("GetQueueStats")
        .into_inner();
    let mut by_state: BTreeMap<i32, i64> = BTreeMap::new();
    let mut waiting: BTreeMap<i32, i64> = BTreeMap::new();
    for c in claims.values() {
        *by_state.entry(c.state).or_default() += 1;
        if c.state() == State::Unverified {
            *waiting.entry(c.priority).or_default() += 1;
        }
    }
    for s in &stats.state_counts {
        let expected = by_state.get(&s.state).copied().unwrap_or(0);
        assert_eq!(s.count, expected, "claims in {:?}", s.state());
    }
    for p in &stats.waiting_counts {
        let expected = waiting.get(&p.priority).copied().unwrap_or(0);
        assert_eq!(p.count, expected, "waiting claims of {:?}", p.priority());
    }
    let counted: i64 = stats.state_counts.iter().map(|s| s.count).sum();
    assert_eq!(counted, claims.len() as i64, "every claim is counted once");
    assert_eq!(stats.overdue_count, 0, "no claim has a deadline");
}
