//! No client sees a change before it is durable, and a store that cannot
//! make changes durable says so. The disk is slowed or failed by a hook the
//! real sled store runs before each durable flush.

use std::{
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use claimdesk::{
    pb::{self, claim},
    server::ServeError,
    storage::{FlushHook, SledStore},
};
use tempfile::TempDir;
use tokio::sync::watch;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::helpers::*;

/// Only a guard against a test that hangs; nothing waits for it to pass.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// A disk whose flushes can be held back or failed.
#[derive(Default)]
struct Disk {
    /// Flushes wait while this is true.
    held: Mutex<bool>,
    released: Condvar,
    /// Flushes fail while this is true.
    failing: AtomicBool,
    /// Counts the flushes that began (sent from the committer thread).
    began: Mutex<Option<watch::Sender<u64>>>,
}

impl Disk {
    /// The disk and the hook the store runs before each flush.
    fn new() -> (Arc<Self>, FlushHook, watch::Receiver<u64>) {
        let (tx, rx) = watch::channel(0);
        let disk = Arc::new(Disk {
            began: Mutex::new(Some(tx)),
            ..Disk::default()
        });
        let hook = disk.clone();
        let hook = FlushHook(Arc::new(move || hook.before_flush()));
        (disk, hook, rx)
    }

    fn before_flush(&self) -> std::io::Result<()> {
        if let Some(began) = &*self.began.lock().unwrap() {
            began.send_modify(|n| *n += 1);
        }
        let mut held = self.held.lock().unwrap();
        while *held {
            held = self.released.wait(held).unwrap();
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("injected fsync failure"));
        }
        Ok(())
    }

    /// Holds flushes back until the guard is dropped (also when a test
    /// fails: a flush held forever would keep the server from stopping).
    fn hold(self: &Arc<Self>) -> Held {
        *self.held.lock().unwrap() = true;
        Held(self.clone())
    }
}

struct Held(Arc<Disk>);

impl Drop for Held {
    fn drop(&mut self) {
        *self.0.held.lock().unwrap() = false;
        self.0.released.notify_all();
    }
}

/// A server on a real sled store whose disk the test controls.
async fn server_on_disk() -> (
    TestServer,
    Arc<SledStore>,
    Arc<Disk>,
    watch::Receiver<u64>,
    TempDir,
) {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let (disk, hook, began) = Disk::new();
    let store = Arc::new(open_sled_store_with(dir.path(), Some(hook)).await);
    let server = TestServer::spawn_with_store(store.clone()).await;
    (server, store, disk, began, dir)
}

/// Waits until `n` flushes have begun.
async fn flushes_began(began: &mut watch::Receiver<u64>, n: u64) {
    tokio::time::timeout(HANG_GUARD, began.wait_for(|count| *count >= n))
        .await
        .expect("the flush begins")
        .expect("the disk is there");
}

/// Waits until `n` reads wait for durability in the store. The store has no
/// signal for it, so this looks again after letting other tasks run.
async fn reads_held(store: &SledStore, n: u64) {
    tokio::time::timeout(HANG_GUARD, async {
        while store.reads_held() < n {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the read meets the change and waits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_does_not_show_a_new_claim_until_its_flush_has_finished() {
    let (server, store, disk, mut began, _dir) = server_on_disk().await;
    let mut editor = server.client().await;
    let mut reader = server.client().await;
    let flushes = *began.borrow();

    let held = disk.hold();
    let submit =
        tokio::spawn(async move { submit(&mut editor, "ed.morgan", harbour_claim()).await });
    // The submit is committed and its flush has begun: it is visible in the
    // database but not durable.
    flushes_began(&mut began, flushes + 1).await;
    let list = tokio::spawn(async move {
        reader
            .list_claims(pb::ListClaimsRequest::default())
            .await
            .expect("ListClaims answers")
            .into_inner()
    });
    reads_held(&store, 1).await;
    assert!(!list.is_finished(), "the listing waits for the flush");
    assert!(!submit.is_finished(), "the submit waits for the flush");

    drop(held);
    let submitted = submit.await.expect("the submit task");
    let listed = list.await.expect("the listing task");
    assert_eq!(
        listed.claims,
        vec![submitted.clone()],
        "shown once durable, as acknowledged"
    );
    assert_eq!(submitted.etag, "1");
}

/// A server on a held disk where a review of a submitted claim is committed
/// but not yet durable: visible in the database, its flush begun and held.
struct ReviewNotYetDurable {
    /// Lets the flush go on when dropped.
    held: Held,
    /// The StartReview call, which answers once the review is durable.
    start: tokio::task::JoinHandle<pb::Claim>,
    /// The claim as submitted, before the review.
    claim: pb::Claim,
    /// A client of the server free for the test's own calls.
    other: Client,
    store: Arc<SledStore>,
    _server: TestServer,
    _dir: TempDir,
}

/// Submits a claim, holds the disk back and starts a review of the claim by
/// kim.checker; returns once the change is committed and its flush has
/// begun.
async fn review_not_yet_durable() -> ReviewNotYetDurable {
    let (server, store, disk, mut began, dir) = server_on_disk().await;
    let mut checker = server.client().await;
    let other = server.client().await;
    let claim = submit(&mut checker, "ed.morgan", harbour_claim()).await;
    let flushes = *began.borrow();
    let held = disk.hold();
    let name = claim.name.clone();
    let start = tokio::spawn(async move { start_review(&mut checker, "kim.checker", &name).await });
    flushes_began(&mut began, flushes + 1).await;
    ReviewNotYetDurable {
        held,
        start,
        claim,
        other,
        store,
        _server: server,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_of_a_changed_claim_and_its_history_wait_for_the_change_to_be_durable() {
    let ReviewNotYetDurable {
        held,
        start,
        claim,
        other: mut reader,
        store,
        _server,
        _dir,
    } = review_not_yet_durable().await;
    let name = claim.name.clone();
    let reads = tokio::spawn(async move {
        let got = reader
            .get_claim(pb::GetClaimRequest { name: name.clone() })
            .await
            .expect("GetClaim answers")
            .into_inner();
        let history = reader
            .list_claim_events(pb::ListClaimEventsRequest {
                name,
                ..Default::default()
            })
            .await
            .expect("ListClaimEvents answers")
            .into_inner();
        let stats = reader
            .get_queue_stats(pb::GetQueueStatsRequest::default())
            .await
            .expect("GetQueueStats answers")
            .into_inner();
        (got, history, stats)
    });
    reads_held(&store, 1).await;
    assert!(!reads.is_finished(), "GetClaim waits for the flush");

    drop(held);
    let started = start.await.expect("the start task");
    let (got, history, stats) = reads.await.expect("the reads");
    assert_eq!(got, started, "the claim as acknowledged");
    assert_eq!(got.state(), claim::State::InReview);
    assert_eq!(got.etag, "2");
    assert_eq!(history.events.len(), 2);
    let in_review = stats
        .state_counts
        .iter()
        .find(|c| c.state() == claim::State::InReview)
        .expect("a count of claims in review");
    assert_eq!(in_review.count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_naming_the_current_etag_waits_until_that_etag_is_durable() {
    let ReviewNotYetDurable {
        held,
        start,
        claim,
        mut other,
        store,
        _server,
        _dir,
    } = review_not_yet_durable().await;
    let stale = tokio::spawn(async move {
        other
            .release_claim(as_user(
                pb::ReleaseClaimRequest {
                    name: claim.name.clone(),
                    etag: claim.etag.clone(),
                    note: String::new(),
                },
                "kim.checker",
            ))
            .await
    });
    reads_held(&store, 1).await;
    assert!(!stale.is_finished(), "the refusal waits for the flush");

    drop(held);
    let started = start.await.expect("the start task");
    let result = stale.await.expect("the refused call");
    let (_, details) = expect_error(result, Code::Aborted, "ETAG_MISMATCH");
    assert_eq!(error_metadata(&details, "etag"), Some(started.etag));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failed_fsync_writes_fail_with_storage_failed_and_health_is_not_serving() {
    let (server, _store, disk, _began, _dir) = server_on_disk().await;
    let mut client = server.client().await;
    let kept = submit(&mut client, "ed.morgan", harbour_claim()).await;
    let mut watch = serving_health_watch(server.channel().await, HANG_GUARD).await;

    disk.failing.store(true, Ordering::SeqCst);
    let result = client
        .submit_claim(as_user(
            pb::SubmitClaimRequest {
                claim: Some(other_harbour_claim(0)),
                request_id: String::new(),
            },
            "ed.morgan",
        ))
        .await;
    let (status, _) = expect_error(result, Code::Unavailable, "STORAGE_FAILED");
    assert!(status.message().contains("restarted"), "{status:?}");
    assert!(
        !status.message().contains("injected"),
        "the cause stays in the log"
    );

    assert_eq!(
        next_health_status(
            &mut watch,
            HANG_GUARD,
            "the health watch reports the failure"
        )
        .await,
        ServingStatus::NotServing
    );
    assert_health(&server, ServingStatus::NotServing).await;

    // The disk works again, but nothing proves what the failed fsync lost:
    // writes stay refused until a restart; durable claims can still be read.
    disk.failing.store(false, Ordering::SeqCst);
    let result = client
        .start_review(as_user(
            pb::StartReviewRequest {
                name: kept.name.clone(),
                etag: String::new(),
            },
            "kim.checker",
        ))
        .await;
    expect_error(result, Code::Unavailable, "STORAGE_FAILED");
    assert_eq!(get(&mut client, &kept.name).await, kept);
    // Its last flush fails too, so the server stops with that error (once
    // the health watch, which would hold it for its grace period, is gone).
    drop(watch);
    assert!(
        matches!(server.stop_failing().await, ServeError::FinalFlush(_)),
        "the last flush fails"
    );
}
