//! Unexpected failures: a store that fails answers UNAVAILABLE without
//! leaking its cause; a handler that panics answers INTERNAL and the server
//! keeps serving. Faults come from a test store wrapping the real one.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use claimdesk::{
    error::{Error, StorageError},
    pb::{self, ListClaimEventsRequest, ListClaimsRequest, claim},
    storage::{Change, Durable, Store},
};
use tempfile::TempDir;
use tonic::{Code, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;

use crate::helpers::*;
use crate::intercept::{Call, Intercept, Intercepted};

/// The cause of injected storage failures, which clients must not see.
const CAUSE: &str = "disk on fire";

/// Switches of the faults to inject; all off at first.
#[derive(Default)]
struct Faults {
    /// `submit` and `update` fail with a storage error.
    fail_writes: AtomicBool,
    /// `get`, `list` and `events` fail with a storage error.
    fail_reads: AtomicBool,
    /// `get` panics (on the blocking pool, inside the desk).
    panic_in_get: AtomicBool,
    /// `durable` panics (on the async worker, inside the handler).
    panic_in_durable: AtomicBool,
    /// `update` panics inside the sled transaction, holding the write lock.
    panic_in_transaction: AtomicBool,
}

impl Faults {
    fn on(flag: &AtomicBool) -> bool {
        flag.load(Ordering::SeqCst)
    }
}

/// Runs `call` with the fault `flag` switched on, and off again after.
async fn with_fault<T>(flag: &AtomicBool, call: impl Future<Output = T>) -> T {
    flag.store(true, Ordering::SeqCst);
    let answer = call.await;
    flag.store(false, Ordering::SeqCst);
    answer
}

fn injected() -> Error {
    Error::Storage(StorageError::new("injected", CAUSE))
}

/// Fails with an injected storage error while `flag` is on.
fn fail_if(flag: &AtomicBool) -> Result<(), Error> {
    if Faults::on(flag) {
        return Err(injected());
    }
    Ok(())
}

/// Faults injected into the real sled store on demand.
struct FaultyStore {
    faults: Arc<Faults>,
}

impl Intercept for FaultyStore {
    fn before(&self, call: Call) -> Result<(), Error> {
        match call {
            Call::Get(id) if Faults::on(&self.faults.panic_in_get) => {
                panic!("injected panic while reading {id}")
            }
            Call::Submit
            | Call::Import
            | Call::Update(_)
            | Call::UpdatePair(_)
            | Call::TakeNext => fail_if(&self.faults.fail_writes),
            Call::Get(_)
            | Call::List
            | Call::Conflicts
            | Call::Events(_)
            | Call::QueueStats
            | Call::EventsSince => fail_if(&self.faults.fail_reads),
            Call::LeasesDue | Call::NextLeaseExpiry => Ok(()),
        }
    }

    fn update_change(&self, change: Change) -> Change {
        if Faults::on(&self.faults.panic_in_transaction) {
            return Arc::new(|_claim, _peers| panic!("injected panic inside a transaction"));
        }
        change
    }

    fn durable(&self, inner: &dyn Store) -> Durable {
        if Faults::on(&self.faults.panic_in_durable) {
            panic!("injected panic while waiting for durability");
        }
        inner.durable()
    }
}

/// A server on a faulty store in a fresh directory (kept alive by the
/// returned `TempDir`).
async fn faulty_server() -> (TestServer, Arc<Faults>, TempDir) {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let faults = Arc::new(Faults::default());
    let store = Intercepted {
        inner: open_sled_store(dir.path()).await,
        hooks: FaultyStore {
            faults: faults.clone(),
        },
    };
    let server = TestServer::spawn_with_store(Arc::new(store)).await;
    (server, faults, dir)
}

/// A faulty server (as `faulty_server` gives it), a client of it and one
/// claim submitted while nothing failed.
async fn faulty_server_with_a_claim() -> (TestServer, Arc<Faults>, TempDir, Client, pb::Claim) {
    let (server, faults, dir) = faulty_server().await;
    let mut client = server.client().await;
    let claim = submit(&mut client, "maria", harbour_claim()).await;
    (server, faults, dir, client, claim)
}

/// Checks UNAVAILABLE / STORAGE_UNAVAILABLE with nothing of the cause.
#[track_caller]
fn expect_unavailable<T: std::fmt::Debug>(result: Result<T, tonic::Status>) {
    let (status, _) = expect_error(result, Code::Unavailable, "STORAGE_UNAVAILABLE");
    assert!(
        !status.message().contains(CAUSE),
        "{status:?} hides the cause"
    );
    assert!(
        !status.message().contains("injected"),
        "{status:?} hides the cause"
    );
}

/// Checks INTERNAL / INTERNAL with nothing of the panic.
#[track_caller]
fn expect_internal<T: std::fmt::Debug>(result: Result<T, tonic::Status>) {
    let (status, _) = expect_error(result, Code::Internal, "INTERNAL");
    assert!(
        !status.message().contains("injected"),
        "{status:?} hides the panic"
    );
}

/// Checks that the health service says SERVING for the server and the API.
async fn assert_serving(server: &TestServer) {
    assert_health(server, ServingStatus::Serving).await;
}

/// SubmitClaim of the harbour claim by maria, with whatever it answers.
async fn try_submit(client: &mut Client) -> Result<Response<pb::Claim>, Status> {
    client
        .submit_claim(submit_request("maria", harbour_claim()))
        .await
}

/// StartReview of `name` by tomas, with whatever it answers.
async fn try_start_review(client: &mut Client, name: &str) -> Result<Response<pb::Claim>, Status> {
    client
        .start_review(as_user(
            pb::StartReviewRequest {
                name: name.to_owned(),
                etag: String::new(),
            },
            "tomas",
        ))
        .await
}

/// GetClaim of `name`, with whatever it answers.
async fn try_get(client: &mut Client, name: &str) -> Result<Response<pb::Claim>, Status> {
    client
        .get_claim(pb::GetClaimRequest {
            name: name.to_owned(),
        })
        .await
}

/// The names of every claim listed.
async fn all_names(client: &mut Client) -> Vec<String> {
    names(&list_all(client, ListClaimsRequest::default()).await)
}

#[tokio::test]
async fn a_storage_failure_answers_unavailable_without_revealing_its_cause() {
    let (server, faults, _dir, mut client, claim) = faulty_server_with_a_claim().await;

    with_fault(&faults.fail_writes, async {
        expect_unavailable(try_submit(&mut client).await);
        expect_unavailable(try_start_review(&mut client, &claim.name).await);
    })
    .await;

    with_fault(&faults.fail_reads, async {
        expect_unavailable(try_get(&mut client, &claim.name).await);
        expect_unavailable(client.list_claims(ListClaimsRequest::default()).await);
        expect_unavailable(
            client
                .list_claim_events(ListClaimEventsRequest {
                    name: claim.name.clone(),
                    ..Default::default()
                })
                .await,
        );
    })
    .await;

    // Once the store recovers, so does the service; nothing failed was
    // stored.
    assert_eq!(get(&mut client, &claim.name).await, claim);
    assert_eq!(all_names(&mut client).await, [claim.name.as_str()]);
    let in_review = start_review(&mut client, "tomas", &claim.name).await;
    assert_eq!(in_review.state(), claim::State::InReview);
    assert_serving(&server).await;
}

#[tokio::test]
async fn a_panic_in_the_store_answers_internal_and_the_server_keeps_serving() {
    let (server, faults, _dir, mut client, claim) = faulty_server_with_a_claim().await;

    expect_internal(with_fault(&faults.panic_in_get, try_get(&mut client, &claim.name)).await);

    // The same connection and new ones still work.
    assert_eq!(get(&mut client, &claim.name).await, claim);
    let mut other = server.client().await;
    assert_eq!(all_names(&mut other).await, [claim.name.as_str()]);
    assert_serving(&server).await;
}

#[tokio::test]
async fn a_panic_in_a_handler_answers_internal_and_the_server_keeps_serving() {
    let (server, faults, _dir) = faulty_server().await;
    let mut client = server.client().await;

    // Panics in the handler's own task, not on the blocking pool.
    expect_internal(with_fault(&faults.panic_in_durable, try_submit(&mut client)).await);

    let claim = submit(&mut client, "maria", harbour_claim()).await;
    assert_eq!(get(&mut client, &claim.name).await, claim);
    assert_serving(&server).await;
}

#[tokio::test]
async fn a_panic_inside_a_storage_transaction_leaves_the_store_writable() {
    let (server, faults, _dir, mut client, claim) = faulty_server_with_a_claim().await;

    expect_internal(
        with_fault(
            &faults.panic_in_transaction,
            try_start_review(&mut client, &claim.name),
        )
        .await,
    );

    // Nothing of the failed change was stored, and writes go on.
    assert_eq!(get(&mut client, &claim.name).await, claim);
    let in_review = start_review(&mut client, "tomas", &claim.name).await;
    assert_eq!(in_review.assignee, "tomas");
    let other = submit(&mut client, "maria", other_harbour_claim(0)).await;
    let revisions: Vec<u64> = events_of(&mut client, &claim.name)
        .await
        .iter()
        .chain(&events_of(&mut client, &other.name).await)
        .map(|e| e.revision)
        .collect();
    assert_eq!(
        revisions,
        [revisions[0], revisions[0] + 1, revisions[0] + 2],
        "the failed change took no revision"
    );
    assert_serving(&server).await;
}
