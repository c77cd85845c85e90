//! A full disk: the server's data directory on a small tmpfs, written to
//! until it is full. Writes fail cleanly (the store fails, STORAGE_FAILED),
//! every call is answered well within the request timeout, reads go on
//! without ever showing a refused change, and once there is room again and
//! the server has restarted, every acknowledged write is there and the
//! audit chain holds.
//!
//! Mounting needs root: without it (or if `mount` fails) the test says why
//! and passes without running.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use claimdesk::pb::{self, Attribution, Claim, evidence::Stance};
use tempfile::TempDir;
use tokio::{sync::Mutex, task::JoinSet};
use tonic::{Code, Status};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_types::StatusExt;

use crate::helpers::{Client, DOMAIN, ServeProcess, as_user, evidence, get, serve_command};

/// The request timeout the server is given. A call the disk holds back must
/// be answered well before it (see [`assert_prompt`]), by the store's own
/// bound on a flush (`StoreConfig::DEFAULT_STALL_LIMIT`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `took`, the time a call took to be answered, is well under the request
/// timeout: the store answered it, not the timeout.
#[track_caller]
fn assert_prompt(took: Duration, what: &str) {
    assert!(
        took < REQUEST_TIMEOUT / 2,
        "{what} took {took:?}, too close to the request timeout of {REQUEST_TIMEOUT:?}"
    );
}

/// Starts the server on `data` with [`REQUEST_TIMEOUT`].
async fn start(data: &Path) -> ServeProcess {
    let timeout = format!("{}s", REQUEST_TIMEOUT.as_secs());
    let args = ["--listen", "127.0.0.1:0", "--request-timeout", &timeout];
    ServeProcess::serve(serve_command(data, &args)).await
}

/// A tmpfs mounted on a temporary directory, unmounted when dropped (also
/// when the test fails).
struct Tmpfs {
    dir: Option<TempDir>,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`8m`), or says why it cannot.
    fn mount(size: &str) -> Result<Self, String> {
        if !rustix::process::geteuid().is_root() {
            return Err("not running as root".to_owned());
        }
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path()))?;
        Ok(Self { dir: Some(dir) })
    }

    fn path(&self) -> &Path {
        self.dir.as_ref().expect("mounted").path()
    }

    /// Gives the tmpfs a new size, keeping what it holds.
    fn resize(&self, size: &str) {
        let remount = run(Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.path()));
        remount.unwrap_or_else(|e| panic!("remount: {e}"));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        // A process still holding a file (a server left running by a failed
        // test) makes a plain unmount fail: detach it then.
        if run(Command::new("umount").arg(dir.path())).is_err() {
            let _ = run(Command::new("umount").arg("--lazy").arg(dir.path()));
        }
        drop(dir);
    }
}

/// Runs `command`; its stderr if it fails.
fn run(command: &mut Command) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!("{command:?}: {}: {}", output.status, stderr.trim()))
    }
}

/// What the writers were told.
#[derive(Default)]
struct Told {
    /// Each claim as last acknowledged.
    acknowledged: BTreeMap<String, Claim>,
    /// The errors that stopped the writers, with the claim each change
    /// was for (none for a submission).
    errors: Vec<(Option<String>, Status)>,
    /// The longest any write took to be answered.
    slowest: Duration,
}

/// Writes large claims and evidence from eight tasks until each gets an
/// error; gives up (failing the test) after `limit` writes per task.
async fn fill(client: &Client, limit: usize) -> Told {
    let told = Arc::new(Mutex::new(Told::default()));
    let statement =
        "The convoy route ran along the coast road past the old lighthouse. ".repeat(30);
    let summary = "Harbour master's logbook, page by page, read to the desk. ".repeat(68);
    let mut tasks = JoinSet::new();
    for task in 0..8 {
        let (mut client, told) = (client.clone(), told.clone());
        let (statement, summary) = (statement.clone(), summary.clone());
        tasks.spawn(async move {
            let mut claim: Option<Claim> = None;
            for i in 0..limit {
                let began = Instant::now();
                let result = match &claim {
                    Some(c) if c.evidence.len() < 60 => {
                        let request = pb::AddEvidenceRequest {
                            name: c.name.clone(),
                            evidence: Some(evidence(
                                "Harbour master",
                                Stance::Context,
                                &format!("{i}: {summary}"),
                            )),
                            etag: String::new(),
                        };
                        client.add_evidence(as_user(request, "kim.checker")).await
                    }
                    _ => {
                        let request = pb::SubmitClaimRequest {
                            claim: Some(Claim {
                                statement: format!("{task}-{i} {statement}")[..2000].to_owned(),
                                attribution: Some(Attribution {
                                    source: "Coastal Times".to_owned(),
                                    ..Default::default()
                                }),
                                story: format!("convoy-{task}"),
                                ..Default::default()
                            }),
                            request_id: format!("convoy-{task}-{i}"),
                        };
                        client.submit_claim(as_user(request, "ed.morgan")).await
                    }
                };
                let took = began.elapsed();
                let mut told = told.lock().await;
                told.slowest = told.slowest.max(took);
                match result {
                    Ok(answer) => {
                        let answer = answer.into_inner();
                        told.acknowledged
                            .insert(answer.name.clone(), answer.clone());
                        claim = Some(answer);
                    }
                    Err(status) => {
                        let target = claim.filter(|c| c.evidence.len() < 60).map(|c| c.name);
                        told.errors.push((target, status));
                        return;
                    }
                }
            }
            panic!("{limit} writes of task {task} fitted on the disk");
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    Arc::into_inner(told).expect("the tasks ended").into_inner()
}

/// Submits a small claim of story `story`.
async fn submit(client: &mut Client, story: &str) -> Result<Claim, Status> {
    let claim = Claim {
        statement: "The convoy reached the port at dawn.".to_owned(),
        attribution: Some(Attribution {
            source: "Coastal Times".to_owned(),
            ..Default::default()
        }),
        story: story.to_owned(),
        ..Default::default()
    };
    let request = pb::SubmitClaimRequest {
        claim: Some(claim),
        request_id: String::new(),
    };
    let answer = client.submit_claim(as_user(request, "ed.morgan")).await;
    answer.map(tonic::Response::into_inner)
}

/// `status` is UNAVAILABLE with one of `reasons`.
#[track_caller]
fn assert_storage_error(status: &Status, reasons: &[&str]) {
    let info = status.get_error_details().error_info().cloned();
    let info = info.unwrap_or_else(|| panic!("an ErrorInfo: {status:?}"));
    assert_eq!(
        (status.code(), info.domain.as_str()),
        (Code::Unavailable, DOMAIN)
    );
    assert!(reasons.contains(&info.reason.as_str()), "{status:?}");
}

async fn health(server: &ServeProcess) -> ServingStatus {
    let mut health = HealthClient::new(server.channel().await);
    let request = HealthCheckRequest {
        service: "claimdesk.v1.ClaimService".to_owned(),
    };
    let answer = health.check(request).await.expect("health answers");
    answer.into_inner().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_writes_cleanly_keeps_reads_and_loses_nothing_once_there_is_room() {
    let tmpfs = match Tmpfs::mount("8m") {
        Ok(tmpfs) => tmpfs,
        Err(why) => {
            println!("skipped: cannot mount a tmpfs ({why})");
            return;
        }
    };
    let data: PathBuf = tmpfs.path().join("data");
    let mut server = start(&data).await;
    let client = server.client().await;

    let told = fill(&client, 5_000).await;
    assert!(
        told.acknowledged.len() >= 8,
        "some writes fit: {:?}",
        told.errors
    );
    // Every write the full disk refused says that the store failed: sled
    // could not write (the batch's transaction failed), the durable flush
    // failed, or it did not finish in time. None waited for the request
    // timeout.
    for (_, status) in &told.errors {
        assert_storage_error(status, &["STORAGE_FAILED"]);
    }
    assert_prompt(told.slowest, "a write");
    println!("the slowest write was answered in {:?}", told.slowest);
    // The store refuses every change until it is restarted, at once, and
    // health says NOT_SERVING.
    let mut writer = server.client().await;
    for i in 0..5 {
        let began = Instant::now();
        let status = submit(&mut writer, &format!("after-{i}"))
            .await
            .expect_err("the disk is full");
        assert_prompt(began.elapsed(), "a write after the failure");
        assert_storage_error(&status, &["STORAGE_FAILED"]);
    }
    assert_eq!(health(&server).await, ServingStatus::NotServing);

    // Reads go on: a claim untouched since the last flush that worked reads
    // back as acknowledged. One whose change was refused reads back as
    // acknowledged, or fails with STORAGE_FAILED (the change may be in
    // sled's memory, and no flush can tell whether it is on disk); it never
    // shows the refused change, which a restart may take back (a change a
    // flush made durable before the store failed is acknowledged, not
    // refused). Every read is answered promptly.
    let touched: BTreeSet<&str> = told
        .errors
        .iter()
        .filter_map(|(name, _)| name.as_deref())
        .collect();
    let mut reader = server.client().await;
    let mut read = 0;
    for claim in told.acknowledged.values() {
        let name = claim.name.clone();
        let began = Instant::now();
        let answer = reader.get_claim(pb::GetClaimRequest { name }).await;
        assert_prompt(began.elapsed(), "a read");
        match answer {
            Ok(answer) => {
                assert_eq!(&answer.into_inner(), claim, "a read of {}", claim.name);
                read += 1;
            }
            Err(status) if touched.contains(claim.name.as_str()) => {
                assert_storage_error(&status, &["STORAGE_FAILED"]);
            }
            Err(status) => panic!("{} cannot be read: {status:?}", claim.name),
        }
    }
    assert!(read >= told.acknowledged.len() - touched.len());

    // Room again; the server restarts after a crash.
    server.kill_9().await;
    tmpfs.resize("64m");
    crate::audit::assert_verdict(&data, 0, "audit chain intact");
    let mut server = start(&data).await;
    assert_eq!(health(&server).await, ServingStatus::Serving);
    let mut client = server.client().await;
    // Every acknowledged change is there. A refused change (STORAGE_FAILED)
    // may have reached the disk before the error: after the restart its
    // claim is as acknowledged, or holds that one change whole (its
    // evidence added, and its event).
    let mut kept = 0;
    for claim in told.acknowledged.values() {
        let now = get(&mut client, &claim.name).await;
        if &now == claim || !touched.contains(claim.name.as_str()) {
            assert_eq!(
                (now.evidence.len(), &now.etag),
                (claim.evidence.len(), &claim.etag),
                "{} after the restart",
                claim.name
            );
            assert_eq!(&now, claim, "after the restart");
            continue;
        }
        kept += 1;
        assert_eq!(now.evidence.len(), claim.evidence.len() + 1, "{now:?}");
        assert_eq!(now.evidence[..claim.evidence.len()], claim.evidence[..]);
        let events = crate::helpers::events_of(&mut client, &claim.name).await;
        assert_eq!(
            events.len(),
            claim.evidence.len() + 2,
            "submitted, then each evidence"
        );
    }
    println!(
        "{} writes refused; {kept} of them were kept whole",
        told.errors.len()
    );
    let written = submit(&mut client, "convoy-after")
        .await
        .expect("writes work again");
    assert_eq!(get(&mut client, &written.name).await, written);
    // Stopped before the tmpfs is unmounted.
    server.terminate();
    assert_eq!(server.exit_status().await.code(), Some(0));
}
