//! Transport limits and the open-mode guard.
//!
//! In-process servers check what a client sees at each limit (an oversized
//! request, a call running past the request timeout, a burst of calls on one
//! connection, a flood of connections that never speak, connections beyond
//! the server's maximum) and that other clients are served meanwhile. The `claimdesk` binary checks that `serve`
//! listens on a network address only with `--allow-anonymous`.
//!
//! Nothing sleeps to synchronise: every wait is for an event and bounded by
//! a timeout. The few waits that expect nothing to happen (a stream that
//! must stay open past the request timeout) are bounded observation windows.

use std::{
    future::Future,
    net::SocketAddr,
    path::Path,
    process::Stdio,
    sync::{Arc, Condvar, Mutex},
    time::{Duration, Instant},
};

use claimdesk::{
    error::Error,
    pb::{self, GetClaimRequest, SubmitClaimRequest, WatchClaimEventsRequest, claim_event},
    server::Limits,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::watch,
    task::JoinSet,
};
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::helpers::*;
use crate::intercept::{Call, Intercept, Intercepted};

/// Bounds waits for events; not delays. Generous: the suite runs many
/// servers at once on small machines.
const WAIT: Duration = Duration::from_secs(60);
/// Bounds the burst of calls of one connection.
const BURST_WAIT: Duration = Duration::from_secs(300);

/// Awaits `future`, failing the test if it takes longer than `limit`.
async fn within<F: Future>(what: &str, limit: Duration, future: F) -> F::Output {
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: not done within {limit:?}"))
}

async fn health_check(channel: tonic::transport::Channel, service: &str) -> ServingStatus {
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .expect("health Check succeeds")
        .into_inner()
        .status()
}

// ---------------------------------------------------------------------------
// A store whose reads can be held up.

/// A gate that `Store::get` passes through: closed, reads wait until it
/// opens. Counts the reads that reached it.
struct ReadGate {
    closed: Mutex<bool>,
    opened: Condvar,
    entered: watch::Sender<usize>,
}

impl ReadGate {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            closed: Mutex::new(false),
            opened: Condvar::new(),
            entered: watch::Sender::new(0),
        })
    }

    /// Called by `get`, on the blocking pool.
    fn pass(&self) {
        self.entered.send_modify(|n| *n += 1);
        let mut closed = self.closed.lock().unwrap_or_else(|p| p.into_inner());
        while *closed {
            closed = self.opened.wait(closed).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Closes the gate until the returned guard is dropped (also when a test
    /// fails, so that no blocked read keeps the runtime from shutting down).
    fn close(self: &Arc<Self>) -> Closed {
        *self.closed.lock().unwrap_or_else(|p| p.into_inner()) = true;
        Closed(self.clone())
    }

    fn entered(&self) -> usize {
        *self.entered.borrow()
    }

    /// Waits until `n` reads in all have reached the gate.
    async fn wait_for_entered(&self, n: usize) {
        let mut rx = self.entered.subscribe();
        within(
            &format!("{n} reads reach the store"),
            WAIT,
            rx.wait_for(|entered| *entered >= n),
        )
        .await
        .expect("the gate is alive");
    }
}

struct Closed(Arc<ReadGate>);

impl Drop for Closed {
    fn drop(&mut self) {
        *self.0.closed.lock().unwrap_or_else(|p| p.into_inner()) = false;
        self.0.opened.notify_all();
    }
}

/// Hooks that make the real sled store's `get` pass through a [`ReadGate`].
struct ReadsAtTheGate {
    gate: Arc<ReadGate>,
}

impl Intercept for ReadsAtTheGate {
    fn before(&self, call: Call) -> Result<(), Error> {
        if let Call::Get(_) = call {
            self.gate.pass();
        }
        Ok(())
    }
}

/// A server with `limits` on a gated store in a fresh directory (kept alive
/// by the returned `TempDir`).
async fn server_with_a_read_gate(limits: Limits) -> (TestServer, Arc<ReadGate>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let gate = ReadGate::new();
    let store = Intercepted {
        inner: open_sled_store(dir.path()).await,
        hooks: ReadsAtTheGate { gate: gate.clone() },
    };
    let server = TestServer::spawn_with_store_and_limits(Arc::new(store), limits).await;
    (server, gate, dir)
}

// ---------------------------------------------------------------------------
// Message size

#[tokio::test]
async fn an_oversized_submit_claim_fails_with_resource_exhausted_and_the_server_keeps_serving() {
    let (server, mut client) = TestServer::with_client().await;

    let mut huge = harbour_claim();
    huge.statement = "x".repeat(2 * 1024 * 1024);
    let result = within(
        "the oversized SubmitClaim",
        WAIT,
        client.submit_claim(submit_request("ed.morgan", huge)),
    )
    .await;
    let (status, details) = expect_error(result, Code::ResourceExhausted, "MESSAGE_TOO_LARGE");
    assert_eq!(
        error_metadata(&details, "max_request_bytes").as_deref(),
        Some("1048576"),
        "{status:?}"
    );
    assert!(status.message().contains("1048576"), "{status:?}");

    // The same client (the same connection) goes on working...
    let claim = within("a normal SubmitClaim", WAIT, async {
        submit(&mut client, "ed.morgan", harbour_claim()).await
    })
    .await;
    assert_eq!(claim.statement, HARBOUR_STATEMENT);
    // ...and so does a new one.
    let mut other = server.client().await;
    let read = within(
        "GetClaim on a new client",
        WAIT,
        get(&mut other, &claim.name),
    )
    .await;
    assert_eq!(read, claim);
    // The refused claim was not stored.
    let all = list_all(&mut other, pb::ListClaimsRequest::default()).await;
    assert_eq!(names(&all), vec![claim.name.clone()]);
    assert_eq!(
        health_check(server.channel().await, "").await,
        ServingStatus::Serving
    );
}

#[tokio::test]
async fn a_request_just_under_the_size_limit_is_read_and_judged_on_its_content() {
    let (_server, mut client) = TestServer::with_client().await;

    // Well over the 2,000 characters a statement may have, but under 1 MiB
    // as a message: the service reads it and names the field.
    let mut long = harbour_claim();
    long.statement = "x".repeat(1024 * 1024 - 4096);
    let result = within(
        "the long SubmitClaim",
        WAIT,
        client.submit_claim(submit_request("ed.morgan", long)),
    )
    .await;
    expect_invalid_fields(result, &["claim.statement"]);
}

#[tokio::test]
async fn a_lower_configured_request_limit_is_enforced_and_named_in_the_error() {
    let server = TestServer::spawn_with_limits(Limits {
        max_request_bytes: 4096,
        ..Limits::default()
    })
    .await;
    let mut client = server.client().await;

    let mut big = harbour_claim();
    big.statement = "Dock ".repeat(1000); // 5,000 bytes
    let result = within(
        "the big SubmitClaim",
        WAIT,
        client.submit_claim(submit_request("ed.morgan", big)),
    )
    .await;
    let (_, details) = expect_error(result, Code::ResourceExhausted, "MESSAGE_TOO_LARGE");
    assert_eq!(
        error_metadata(&details, "max_request_bytes").as_deref(),
        Some("4096")
    );

    let claim = within("a small SubmitClaim", WAIT, async {
        submit(&mut client, "ed.morgan", harbour_claim()).await
    })
    .await;
    assert_eq!(get(&mut client, &claim.name).await, claim);
}

#[tokio::test]
async fn a_page_ends_early_with_a_token_rather_than_exceed_the_response_limit() {
    let server = TestServer::spawn_with_limits(Limits {
        max_response_bytes: 2048,
        ..Limits::default()
    })
    .await;
    let mut client = server.client().await;
    let mut submitted = Vec::new();
    for n in 0..20 {
        let claim = numbered_claim("convoy", "Vessa Radio", n);
        submitted.push(submit(&mut client, "ed.morgan", claim).await.name);
    }

    let page = |page_token: String| pb::ListClaimsRequest {
        story: "convoy".to_owned(),
        page_size: 20,
        page_token,
        ..Default::default()
    };
    let mut listed = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let response = within("a page of claims", WAIT, client.list_claims(page(token)))
            .await
            .expect("a page ended early fits the response limit")
            .into_inner();
        assert!(!response.claims.is_empty(), "every page holds a claim");
        listed.extend(response.claims.into_iter().map(|c| c.name));
        pages += 1;
        token = response.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(listed, submitted, "every claim once, in order");
    assert!(
        pages > 1,
        "20 claims do not fit 2,048 bytes: pages ended early"
    );
}

/// A claim's answer repeats its source in its label, so it can take twice
/// the bytes the claim takes in storage: pages are cut by stored bytes with
/// room for that.
#[tokio::test]
async fn a_page_of_claims_whose_answers_outweigh_their_records_fits_the_response_limit() {
    let server = TestServer::spawn_with_limits(Limits {
        max_response_bytes: 8 * 1024,
        ..Limits::default()
    })
    .await;
    let mut client = server.client().await;
    // The longest source, of four-byte characters; the shortest statement.
    let source = "\u{20000}".repeat(200);
    let mut submitted = Vec::new();
    for _ in 0..40 {
        let mut claim = border_claim("Idle", &source);
        claim.story = "wide-sources".to_owned();
        submitted.push(submit(&mut client, "ed.morgan", claim).await.name);
    }
    let mut listed = Vec::new();
    let mut token = String::new();
    loop {
        let request = pb::ListClaimsRequest {
            story: "wide-sources".to_owned(),
            page_size: 500,
            page_token: token,
            ..Default::default()
        };
        let response = within("a page of claims", WAIT, client.list_claims(request))
            .await
            .expect("the page fits the response limit")
            .into_inner();
        listed.extend(response.claims.into_iter().map(|c| c.name));
        token = response.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(listed, submitted, "every claim once, in order");
}

#[tokio::test]
async fn a_claim_above_the_response_limit_fails_with_out_of_range() {
    let server = TestServer::spawn_with_limits(Limits {
        max_response_bytes: 2048,
        ..Limits::default()
    })
    .await;
    let mut client = server.client().await;
    let mut big = harbour_claim();
    big.statement = "Dock ".repeat(400); // 2,000 bytes
    let big = submit_ignoring_answer(&mut client, big).await;
    let result = within(
        "a claim too big to send",
        WAIT,
        client.get_claim(GetClaimRequest { name: big }),
    )
    .await;
    let status = result.expect_err("the claim takes more than 2,048 bytes");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
}

/// Submits `claim` and returns its name, found by listing: its own answer
/// is too large to be sent.
async fn submit_ignoring_answer(client: &mut Client, claim: pb::Claim) -> String {
    let result = client.submit_claim(as_user(
        pb::SubmitClaimRequest {
            claim: Some(claim),
            request_id: String::new(),
        },
        "ed.morgan",
    ));
    let status = within("the big SubmitClaim", WAIT, result)
        .await
        .expect_err("the answer is too large");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    let listed = within(
        "ListClaims",
        WAIT,
        client.list_claims(pb::ListClaimsRequest {
            page_size: 1,
            ..Default::default()
        }),
    )
    .await;
    let status = listed.expect_err("a page of one claim too large to be sent");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    let events = client.watch_claim_events(pb::WatchClaimEventsRequest::default());
    let mut events = within("WatchClaimEvents", WAIT, events)
        .await
        .expect("a watch")
        .into_inner();
    let first = within("the first event", WAIT, events.message())
        .await
        .expect("an event")
        .expect("the stream is open");
    first.claim
}

// ---------------------------------------------------------------------------
// Request timeout

#[tokio::test]
async fn a_unary_call_running_past_the_request_timeout_ends_with_deadline_exceeded() {
    let timeout = Duration::from_millis(500);
    let (server, gate, _dir) = server_with_a_read_gate(Limits {
        request_timeout: Some(timeout),
        ..Limits::default()
    })
    .await;
    let mut client = server.client().await;
    let claim = submit(&mut client, "ed.morgan", harbour_claim()).await;

    let closed = gate.close();
    let started = Instant::now();
    let result = within(
        "the held-up GetClaim",
        WAIT,
        client.get_claim(GetClaimRequest {
            name: claim.name.clone(),
        }),
    )
    .await;
    let elapsed = started.elapsed();
    let (status, details) = expect_error(result, Code::DeadlineExceeded, "REQUEST_TIMEOUT");
    assert_eq!(
        error_metadata(&details, "timeout_ms").as_deref(),
        Some("500"),
        "{status:?}"
    );
    assert!(
        elapsed >= timeout,
        "the server waited for its timeout, not less: {elapsed:?}"
    );
    assert_eq!(gate.entered(), 1, "the call did reach the store");

    // Once reads flow again, the same connection is served.
    drop(closed);
    let read = within(
        "GetClaim after the timeout",
        WAIT,
        get(&mut client, &claim.name),
    )
    .await;
    assert_eq!(read, claim);
}

#[tokio::test]
async fn watch_streams_stay_open_past_the_request_timeout() {
    let timeout = Duration::from_millis(300);
    let server = TestServer::spawn_with_limits(Limits {
        request_timeout: Some(timeout),
        ..Limits::default()
    })
    .await;
    let mut client = server.client().await;

    let mut events = pb::claim_service_client::ClaimServiceClient::new(server.channel().await)
        .watch_claim_events(WatchClaimEventsRequest::default())
        .await
        .expect("WatchClaimEvents starts")
        .into_inner();
    let mut health = HealthClient::new(server.channel().await)
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health Watch starts")
        .into_inner();
    let first = within("the first health status", WAIT, health.message())
        .await
        .expect("health Watch")
        .expect("a status");
    assert_eq!(first.status(), ServingStatus::Serving);

    // Three times the request timeout with nothing to send: a stream cut by
    // the timeout would end (with an error) within this window.
    let window = timeout * 3;
    let quiet = tokio::time::timeout(window, events.message()).await;
    assert!(
        quiet.is_err(),
        "the event stream ended or sent something: {quiet:?}"
    );
    let quiet = tokio::time::timeout(Duration::from_millis(100), health.message()).await;
    assert!(
        quiet.is_err(),
        "the health stream ended or sent something: {quiet:?}"
    );

    // The event stream is alive: it delivers what happens now.
    let claim = submit(&mut client, "ed.morgan", harbour_claim()).await;
    let event = within("the submission's event", WAIT, events.message())
        .await
        .expect("WatchClaimEvents")
        .expect("an event");
    assert_eq!(event.claim, claim.name);
    assert_eq!(event.r#type(), claim_event::Type::Submitted);

    drop(events);
    drop(health);
}

// ---------------------------------------------------------------------------
// Connection age

#[tokio::test]
async fn a_connection_past_its_maximum_age_and_grace_is_closed_and_clients_reconnect() {
    let age = Duration::from_millis(300);
    let grace = Duration::from_millis(300);
    let server = TestServer::spawn_with_limits(Limits {
        max_connection_age: Some(age),
        max_connection_age_grace: Some(grace),
        ..Limits::default()
    })
    .await;
    let channel = server.channel().await;
    let connected = Instant::now();
    let mut client = pb::claim_service_client::ClaimServiceClient::new(channel.clone());
    let mut events = client
        .watch_claim_events(WatchClaimEventsRequest::default())
        .await
        .expect("WatchClaimEvents starts")
        .into_inner();

    // The stream never ends by itself; the connection's age ends it.
    let end = within("the stream's end", WAIT, async {
        loop {
            match events.message().await {
                Ok(Some(_)) => continue,
                end => return end,
            }
        }
    })
    .await;
    let lived = connected.elapsed();
    assert!(
        lived >= age + grace,
        "the connection was closed after {lived:?}, before its age and grace ran out: {end:?}"
    );

    // The same channel connects again for the next call.
    let claim = within("SubmitClaim on a reconnected channel", WAIT, async {
        submit(&mut client, "ed.morgan", harbour_claim()).await
    })
    .await;
    assert_eq!(get(&mut client, &claim.name).await, claim);
}

// ---------------------------------------------------------------------------
// Many calls on one connection

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_calls_on_one_connection_all_complete_and_another_client_is_served_meanwhile()
{
    const CALLS: usize = 10_000;
    let per_connection = Limits::DEFAULT_MAX_CALLS_PER_CONNECTION;
    let (server, gate, _dir) = server_with_a_read_gate(Limits::default()).await;
    let mut setup = server.client().await;
    let claim = submit(&mut setup, "ed.morgan", harbour_claim()).await;
    let before = gate.entered();

    // Reads wait at the gate, so the burst's calls pile up in the server.
    let closed = gate.close();
    let burst = pb::claim_service_client::ClaimServiceClient::new(server.channel().await);
    let mut calls = JoinSet::new();
    for _ in 0..CALLS {
        let mut client = burst.clone();
        let name = claim.name.clone();
        calls.spawn(async move { client.get_claim(GetClaimRequest { name }).await });
    }
    gate.wait_for_entered(before + per_connection).await;

    // Every call slot of that connection is taken: another client, on its
    // own connection, is served all the same.
    let mut other = server.client().await;
    let submitted = within("another client's SubmitClaim", WAIT, async {
        submit(
            &mut other,
            "kim.checker",
            border_claim("Troops crossed", "Vessa Radio"),
        )
        .await
    })
    .await;
    assert_eq!(submitted.statement, "Troops crossed");
    let status = within(
        "another client's health Check",
        WAIT,
        health_check(server.channel().await, "claimdesk.v1.ClaimService"),
    )
    .await;
    assert_eq!(status, ServingStatus::Serving);
    assert_eq!(
        gate.entered() - before,
        per_connection,
        "one connection runs at most {per_connection} calls at once"
    );

    drop(closed);
    let results = within("the burst", BURST_WAIT, calls.join_all()).await;
    assert_eq!(results.len(), CALLS);
    for result in results {
        let read = result.expect("every call of the burst succeeds");
        assert_eq!(read.into_inner(), claim);
    }
    assert_eq!(gate.entered() - before, CALLS);

    // The server is none the worse.
    let read = within(
        "GetClaim after the burst",
        WAIT,
        get(&mut other, &claim.name),
    )
    .await;
    assert_eq!(read, claim);
}

// ---------------------------------------------------------------------------
// Connections that never speak

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_silent_connections_do_not_stop_other_clients_from_being_served() {
    let server = TestServer::spawn().await;
    let mut before = server.client().await;
    let claim = submit(&mut before, "ed.morgan", harbour_claim()).await;

    // Half say nothing at all; half start the HTTP/2 preface and stop
    // half-way ("PRI * HTTP/2.0\r\n\r\n" of "...\r\n\r\nSM\r\n\r\n").
    let mut silent = Vec::new();
    for i in 0..200 {
        let mut stream = within("a raw connection", WAIT, TcpStream::connect(server.addr()))
            .await
            .expect("the server accepts TCP connections");
        if i % 2 == 1 {
            stream
                .write_all(b"PRI * HTTP/2.0\r\n\r\n")
                .await
                .expect("part of the preface is sent");
        }
        silent.push(stream);
    }

    // A new client connects and is served...
    let mut after = within("a new connection", WAIT, server.client()).await;
    let read = within(
        "GetClaim on a new connection",
        WAIT,
        get(&mut after, &claim.name),
    )
    .await;
    assert_eq!(read, claim);
    let submitted = within("SubmitClaim on a new connection", WAIT, async {
        submit(
            &mut after,
            "kim.checker",
            border_claim("Troops crossed", "Vessa Radio"),
        )
        .await
    })
    .await;
    // ...and so is the client connected before the flood.
    let read = within(
        "GetClaim on the earlier connection",
        WAIT,
        get(&mut before, &submitted.name),
    )
    .await;
    assert_eq!(read, submitted);
    let status = within(
        "health Check on a new connection",
        WAIT,
        health_check(server.channel().await, ""),
    )
    .await;
    assert_eq!(status, ServingStatus::Serving);

    // The silent connections are still open (the server has only sent its
    // own SETTINGS): nothing above depended on the server dropping them.
    for (i, stream) in silent.iter_mut().enumerate().take(2) {
        assert!(
            still_open(stream).await,
            "the server closed silent connection {i}"
        );
    }

    drop(silent);
}

/// Whether the server has left `stream` open: reads what it sent until
/// nothing more comes for a moment, and checks that it did not close.
async fn still_open(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
            Err(_) => return true,
            Ok(Ok(0)) | Ok(Err(_)) => return false,
            Ok(Ok(_)) => continue,
        }
    }
}

// ---------------------------------------------------------------------------
// Connections over the whole server

/// A client on a connection of its own, which it holds with an open health
/// `Watch` (needing no token, like anyone's).
struct Held {
    client: Client,
    watch: tonic::Streaming<tonic_health::pb::HealthCheckResponse>,
}

/// A lazily connecting channel: its connection is made by its first call,
/// so a refused connection shows as that call's status.
fn new_connection(addr: SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("a valid URL")
        .connect_lazy()
}

/// Opens a connection and a health `Watch` on it; the `Watch`'s status if
/// the server refuses the connection.
async fn hold_connection(addr: SocketAddr) -> Result<Held, tonic::Status> {
    let channel = new_connection(addr);
    let mut watch = within(
        "health Watch on a new connection",
        WAIT,
        HealthClient::new(channel.clone()).watch(HealthCheckRequest {
            service: String::new(),
        }),
    )
    .await?
    .into_inner();
    let first = within("the Watch's first answer", WAIT, watch.message())
        .await?
        .expect("the Watch answers the current status");
    assert_eq!(first.status(), ServingStatus::Serving);
    Ok(Held {
        client: pb::claim_service_client::ClaimServiceClient::new(channel),
        watch,
    })
}

impl Held {
    /// Checks that the connection still serves calls and that the `Watch`
    /// is still open.
    async fn still_served(&mut self, name: &str) {
        let read = within(
            "GetClaim on a held connection",
            WAIT,
            get(&mut self.client, name),
        )
        .await;
        assert_eq!(read.name, name);
        // The call's answer came after anything the server sent earlier on
        // this connection, an end of the `Watch` included: nothing is there.
        tokio::select! {
            biased;
            ended = self.watch.message() => panic!("the Watch ended: {ended:?}"),
            () = std::future::ready(()) => {}
        }
    }
}

/// Checks that the server refused the connection: its first call failed
/// with UNAVAILABLE or, when the hang-up reached tonic only after it had
/// sent the call, with UNKNOWN or CANCELLED caused by the broken connection
/// (reset, broken pipe, or closed before an answer).
#[track_caller]
fn assert_refused(result: Result<Held, tonic::Status>) {
    match result {
        Ok(_) => panic!("a connection beyond max_connections was admitted"),
        Err(status) => assert_refused_status(&status),
    }
}

/// [`assert_refused`] for the status a refused connection's call got.
#[track_caller]
fn assert_refused_status(status: &tonic::Status) {
    let broken = || {
        let mut cause = std::error::Error::source(status);
        while let Some(error) = cause {
            if let Some(io) = error.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind::*;
                return matches!(io.kind(), ConnectionReset | BrokenPipe | UnexpectedEof);
            }
            // hyper's own: "connection closed before message completed",
            // "operation was canceled: connection closed".
            if error.to_string().contains("connection closed") {
                return true;
            }
            cause = error.source();
        }
        false
    };
    assert!(
        status.code() == Code::Unavailable
            || (matches!(status.code(), Code::Unknown | Code::Cancelled) && broken()),
        "{status:?}"
    );
}

#[tokio::test]
async fn connections_beyond_max_connections_are_refused_at_once_and_a_freed_slot_admits_the_next() {
    let server = TestServer::spawn_with_limits(Limits {
        max_connections: 2,
        ..Limits::default()
    })
    .await;
    let mut first = hold_connection(server.addr()).await.expect("admitted");
    let claim = submit(&mut first.client, "ed.morgan", harbour_claim()).await;
    let mut second = hold_connection(server.addr()).await.expect("admitted");
    second.still_served(&claim.name).await;

    // A third connection is reset as soon as it is accepted: its call fails
    // rather than waiting (no deadline is set on it; a connection left in
    // the listen backlog would hang until `within` gives up), and so does
    // the next one's.
    assert_refused(hold_connection(server.addr()).await);
    assert_refused(hold_connection(server.addr()).await);
    first.still_served(&claim.name).await;
    second.still_served(&claim.name).await;

    // The second client goes away; the server frees its slot once it sees
    // the connection end, which happens after the drop returns: retry a
    // bounded number of times, each attempt waiting for its answer.
    drop(second);
    const ATTEMPTS: usize = 1000;
    let mut refused = 0;
    let mut third = loop {
        match hold_connection(server.addr()).await {
            Ok(held) => break held,
            Err(status) => {
                assert_refused_status(&status);
                refused += 1;
                assert!(
                    refused < ATTEMPTS,
                    "no connection admitted in {ATTEMPTS} attempts after a client left"
                );
                tokio::task::yield_now().await;
            }
        }
    };
    third.still_served(&claim.name).await;

    // Two connections again: the next one is refused, the others served.
    assert_refused(hold_connection(server.addr()).await);
    first.still_served(&claim.name).await;
    third.still_served(&claim.name).await;
    drop((first, third));
}

// ---------------------------------------------------------------------------
// Open mode: the `claimdesk` binary

const ANONYMOUS_WARNING: &str = "callers are not authenticated";

/// A channel to the port of `addr` on loopback.
async fn loopback_channel(addr: SocketAddr) -> tonic::transport::Channel {
    let url = format!("http://127.0.0.1:{}", addr.port());
    within(
        "connecting",
        WAIT,
        tonic::transport::Channel::from_shared(url)
            .expect("a valid URL")
            .connect(),
    )
    .await
    .expect("the server accepts the connection")
}

/// Connects to the port of `addr` on loopback and checks that it serves.
async fn check_serving(addr: SocketAddr) {
    let channel = loopback_channel(addr).await;
    let status = within("health Check", WAIT, health_check(channel, "")).await;
    assert_eq!(status, ServingStatus::Serving);
}

/// The WARN lines logged before the readiness line.
fn warnings_before_ready(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .take_while(|v| v["fields"]["message"] != READY_MESSAGE)
        .filter(|v| v["level"] == "WARN")
        .map(|v| v.to_string())
        .collect()
}

#[tokio::test]
async fn serve_on_a_network_address_without_allow_anonymous_refuses_naming_the_address_and_flag() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let mut command = claimdesk_command();
    command
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(&data_dir);
    let output = within("claimdesk gives up", WAIT, command.output())
        .await
        .expect("claimdesk runs");
    let stderr = String::from_utf8_lossy(&output.stderr);

    let error = exit_error(output.status, &stderr, "");
    assert!(
        error.contains("0.0.0.0:0"),
        "the error names the address: {error}"
    );
    assert!(
        error.contains("--allow-anonymous"),
        "the error names the flag: {error}"
    );
    assert!(
        error.contains("not authenticated"),
        "the error says why: {error}"
    );
    assert!(!stderr.contains(READY_MESSAGE), "{stderr}");
    assert!(
        !data_dir.exists(),
        "the data directory is not touched before the check"
    );
}

#[tokio::test]
async fn serve_on_a_network_address_with_allow_anonymous_starts_and_warns_that_callers_are_not_authenticated()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut process = ServeProcess::spawn(serve_command(
        dir.path(),
        &["--listen", "0.0.0.0:0", "--allow-anonymous"],
    ));
    let addr = process.wait_until_serving().await;
    assert!(addr.ip().is_unspecified(), "listening on {addr}");
    assert_ne!(addr.port(), 0);

    let warnings = warnings_before_ready(&process.json_lines());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains(ANONYMOUS_WARNING), "{warnings:?}");
    assert!(
        warnings[0].contains(&addr.to_string()),
        "the warning names the address: {warnings:?}"
    );
    check_serving(addr).await;

    process.child.start_kill().expect("the server is killed");
    process.exit_status().await;
}

#[tokio::test]
async fn claimdesk_allow_anonymous_in_the_environment_works_like_the_flag() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = serve_command(dir.path(), &[]);
    command
        .env("CLAIMDESK_LISTEN", "0.0.0.0:0")
        .env("CLAIMDESK_ALLOW_ANONYMOUS", "true");
    let process = ServeProcess::spawn(command);
    let addr = process.wait_until_serving().await;
    assert!(addr.ip().is_unspecified(), "listening on {addr}");
    let warnings = warnings_before_ready(&process.json_lines());
    assert!(
        warnings.iter().any(|w| w.contains(ANONYMOUS_WARNING)),
        "{warnings:?}"
    );
    check_serving(addr).await;
}

#[tokio::test]
async fn serve_on_loopback_needs_no_flag_and_does_not_warn() {
    let dir = tempfile::tempdir().expect("temp dir");
    let process = ServeProcess::spawn(serve_command(dir.path(), &["--listen", "127.0.0.1:0"]));
    let addr = process.wait_until_serving().await;
    assert!(addr.ip().is_loopback(), "listening on {addr}");
    let warnings = warnings_before_ready(&process.json_lines());
    assert!(warnings.is_empty(), "{warnings:?}");
    check_serving(addr).await;
}

// ---------------------------------------------------------------------------
// Tokens: the tokens file, `token new` and SIGHUP, through the binary.

/// `claimdesk token new --user <user> --role <role>`: the token and the
/// line for the tokens file.
async fn token_new(user: &str, role: &str) -> (String, String) {
    let mut command = claimdesk_command();
    command.args(["token", "new", "--user", user, "--role", role]);
    command.stdout(Stdio::piped());
    let output = within("token new", WAIT, command.output())
        .await
        .expect("claimdesk runs");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(
        output.status.success(),
        "token new failed: {}; {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "a token and a line: {stdout}");
    assert!(lines[0].starts_with("cdt_"), "{stdout}");
    assert!(
        !lines[1].contains(lines[0]),
        "the line does not hold the token"
    );
    (lines[0].to_owned(), lines[1].to_owned())
}

fn write_tokens_file(path: &Path, lines: &[&str]) {
    std::fs::write(path, format!("[tokens]\n{}\n", lines.join("\n")))
        .expect("the tokens file is written");
}

async fn connect(addr: SocketAddr) -> Client {
    pb::claim_service_client::ClaimServiceClient::new(loopback_channel(addr).await)
}

fn with_token<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ASCII"),
    );
    request
}

/// Submits a claim with `token`; the user the history names.
async fn submit_with(client: &mut Client, token: &str) -> Result<String, tonic::Status> {
    let claim = client
        .submit_claim(with_token(
            token,
            SubmitClaimRequest {
                claim: Some(harbour_claim()),
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    Ok(claim.submitted_by)
}

#[tokio::test]
async fn sighup_reloads_the_tokens_file_admitting_new_tokens_and_refusing_revoked_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tokens_file = dir.path().join("tokens.toml");
    let (old, old_line) = token_new("mara", "editor").await;
    write_tokens_file(&tokens_file, &[&old_line]);
    let process = ServeProcess::spawn(serve_command(
        &dir.path().join("data"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--tokens-file",
            tokens_file.to_str().expect("UTF-8 path"),
        ],
    ));
    let addr = process.wait_until_serving().await;
    let mut client = connect(addr).await;
    assert_eq!(
        submit_with(&mut client, &old).await.expect("old works"),
        "mara"
    );

    // Revoke mara's old token, give her a new one, add a chief.
    let (new, new_line) = token_new("mara", "editor").await;
    let (chief, chief_line) = token_new("ines", "chief").await;
    assert_eq!(
        submit_with(&mut client, &new).await.unwrap_err().code(),
        Code::Unauthenticated,
        "not before the reload"
    );
    write_tokens_file(&tokens_file, &[&new_line, &chief_line]);
    process.hang_up();
    process.wait_for_lines("tokens reloaded", 1).await;

    let (status, _) = expect_error(
        submit_with(&mut client, &old).await,
        Code::Unauthenticated,
        "TOKEN_UNKNOWN",
    );
    assert!(status.message().contains("not known"), "{status:?}");
    assert_eq!(
        submit_with(&mut client, &new).await.expect("new works"),
        "mara"
    );
    assert_eq!(
        submit_with(&mut client, &chief).await.expect("chief works"),
        "ines"
    );

    // A broken file is reported and changes nothing.
    std::fs::write(&tokens_file, "[tokens\n").expect("written");
    process.hang_up();
    process.wait_for_lines("tokens not reloaded", 1).await;
    assert_eq!(
        submit_with(&mut client, &new).await.expect("still works"),
        "mara"
    );
    assert_eq!(
        submit_with(&mut client, &old).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // Calls are logged with the caller's name and role.
    let named = process.json_lines().into_iter().any(|v| {
        v["fields"]["message"] == "done"
            && v["spans"].as_array().is_some_and(|spans| {
                spans.iter().any(|span| {
                    span["name"] == "caller" && span["user"] == "ines" && span["role"] == "chief"
                })
            })
    });
    assert!(named, "no call logged as ines (chief):\n{}", process.text());

    // Raw tokens never reach the log.
    let log = process.text();
    for token in [&old, &new, &chief] {
        assert!(!log.contains(token.as_str()), "a token was logged:\n{log}");
    }
}

#[tokio::test]
async fn sighup_with_a_tokens_file_listing_no_tokens_keeps_the_tokens_unless_the_file_allows_none()
{
    let dir = tempfile::tempdir().expect("temp dir");
    let tokens_file = dir.path().join("tokens.toml");
    let (token, line) = token_new("mara", "editor").await;
    write_tokens_file(&tokens_file, &[&line]);
    let process = ServeProcess::spawn(serve_command(
        &dir.path().join("data"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--tokens-file",
            tokens_file.to_str().expect("UTF-8 path"),
        ],
    ));
    let addr = process.wait_until_serving().await;
    let mut client = connect(addr).await;
    assert_eq!(
        submit_with(&mut client, &token).await.expect("works"),
        "mara"
    );

    // An editor saving the file: empty for a moment, or its table without
    // lines yet. Each reload is refused and logged; the token still works.
    for (n, half_written) in ["", "[tokens]\n"].into_iter().enumerate() {
        std::fs::write(&tokens_file, half_written).expect("written");
        process.hang_up();
        process.wait_for_lines("tokens not reloaded", n + 1).await;
        assert_eq!(
            submit_with(&mut client, &token)
                .await
                .unwrap_or_else(|e| panic!("after {half_written:?}: {e:?}")),
            "mara"
        );
    }
    let refusals: Vec<_> = process
        .json_lines()
        .into_iter()
        .filter(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("tokens not reloaded"))
        })
        .collect();
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    for refusal in &refusals {
        assert_eq!(refusal["level"], "ERROR", "{refusal}");
        let message = refusal["fields"]["message"].as_str().expect("a message");
        assert!(message.contains("lists no tokens"), "{message}");
        assert!(message.contains("allow_no_tokens = true"), "{message}");
    }

    // Said explicitly, the file revokes every token.
    std::fs::write(&tokens_file, "allow_no_tokens = true\n[tokens]\n").expect("written");
    process.hang_up();
    process.wait_for_lines("tokens reloaded", 1).await;
    expect_error(
        submit_with(&mut client, &token).await,
        Code::Unauthenticated,
        "TOKEN_UNKNOWN",
    );
    let reloaded = process
        .json_lines()
        .into_iter()
        .find(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("tokens reloaded"))
        })
        .expect("the reload is logged");
    assert_eq!(reloaded["level"], "WARN", "{reloaded}");
    assert_eq!(reloaded["fields"]["tokens"], 0, "{reloaded}");
}

#[tokio::test]
async fn serve_on_a_network_address_with_a_tokens_file_starts_without_warning_and_needs_tokens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tokens_file = dir.path().join("tokens.toml");
    let (token, line) = token_new("kofi", "checker").await;
    write_tokens_file(&tokens_file, &[&line]);
    let mut command = serve_command(&dir.path().join("data"), &["--listen", "0.0.0.0:0"]);
    command.env("CLAIMDESK_TOKENS_FILE", &tokens_file);
    let process = ServeProcess::spawn(command);
    let addr = process.wait_until_serving().await;
    assert!(addr.ip().is_unspecified(), "listening on {addr}");
    let warnings = warnings_before_ready(&process.json_lines());
    assert!(warnings.is_empty(), "{warnings:?}");

    let mut client = connect(addr).await;
    let (status, _) = expect_error(
        client
            .get_queue_stats(pb::GetQueueStatsRequest::default())
            .await,
        Code::Unauthenticated,
        "TOKEN_MISSING",
    );
    assert!(status.message().contains("Bearer"), "{status:?}");
    client
        .get_queue_stats(with_token(&token, pb::GetQueueStatsRequest::default()))
        .await
        .expect("the token works");
    check_serving(addr).await;
}

#[tokio::test]
async fn serve_with_a_broken_tokens_file_refuses_to_start_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tokens_file = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens_file,
        "[tokens]\n\"abc\" = { user = \"mara\", role = \"editor\" }\n",
    )
    .expect("written");
    let missing = dir.path().join("missing.toml");
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "[tokens]\n").expect("written");
    for (file, why) in [
        (&tokens_file, "64 hex digits"),
        (&missing, "cannot read"),
        (&empty, "allow_no_tokens = true"),
    ] {
        let mut command = serve_command(
            &dir.path().join("data"),
            &["--listen", "127.0.0.1:0", "--tokens-file"],
        );
        command.arg(file);
        let output = within("claimdesk gives up", WAIT, command.output())
            .await
            .expect("claimdesk runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
        assert!(
            stderr.contains(&file.display().to_string()),
            "names the file: {stderr}"
        );
        assert!(!stderr.contains(READY_MESSAGE), "{stderr}");
    }
}

#[tokio::test]
async fn serve_with_a_tokens_file_that_allows_no_tokens_starts_warning_and_refuses_every_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tokens_file = dir.path().join("tokens.toml");
    std::fs::write(&tokens_file, "allow_no_tokens = true\n").expect("written");
    let (token, _) = token_new("mara", "editor").await;
    let mut command = serve_command(&dir.path().join("data"), &["--listen", "127.0.0.1:0"]);
    command.env("CLAIMDESK_TOKENS_FILE", &tokens_file);
    let process = ServeProcess::spawn(command);
    let addr = process.wait_until_serving().await;
    let warnings = warnings_before_ready(&process.json_lines());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("lists none"), "{warnings:?}");
    let mut client = connect(addr).await;
    expect_error(
        submit_with(&mut client, &token).await,
        Code::Unauthenticated,
        "TOKEN_UNKNOWN",
    );
    check_serving(addr).await;
}

#[tokio::test]
async fn token_new_refuses_unknown_roles_and_invalid_names() {
    for args in [
        ["--user", "mara", "--role", "admin"],
        ["--user", "system", "--role", "chief"],
        ["--user", "", "--role", "editor"],
    ] {
        let mut command = claimdesk_command();
        command.args(["token", "new"]).args(args);
        command.stdout(Stdio::piped());
        let output = within("token new", WAIT, command.output())
            .await
            .expect("claimdesk runs");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "no token printed for {args:?}");
    }
}
