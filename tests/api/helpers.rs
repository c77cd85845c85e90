//! Test helpers: spawn a server, connect a client, build requests as a named
//! user, make test claims, and decode error statuses.

// Each test module uses its own subset of these helpers.
#![allow(dead_code)]

use std::{
    net::SocketAddr,
    path::Path,
    sync::{Arc, Once},
};

use claimdesk::{
    pb::{
        self, Attribution, Claim, Evidence, claim, claim_service_client::ClaimServiceClient,
        evidence,
    },
    server::{self, Server},
    storage::{FlushHook, SledStore, Store, StoreConfig},
    testing,
};
use tempfile::TempDir;
use tonic::{Code, Request, Status, transport::Channel};
use tonic_types::{ErrorDetails, StatusExt};

/// The client type every test talks through.
pub type Client = ClaimServiceClient<Channel>;

/// The `ErrorInfo.domain` of every error of the service.
pub const DOMAIN: &str = "claimdesk.v1";

/// Installs a log subscriber for the tests if `TEST_LOG` is set (its value
/// is the filter, e.g. `TEST_LOG=debug`).
pub fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

/// The store the suite's servers keep their desks in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The embedded store, in a fresh temporary directory (the default).
    Sled,
    /// A fresh schema of the PostgreSQL database at this URL.
    Postgres(String),
}

/// Selects the backend of the whole suite: `postgres` for PostgreSQL (then
/// `CLAIMDESK_TEST_DATABASE_URL` names the database), anything else or
/// nothing for the embedded store.
pub const BACKEND_VARIABLE: &str = "CLAIMDESK_TEST_BACKEND";

/// Names the PostgreSQL database of the tests that need one.
pub const DATABASE_VARIABLE: &str = "CLAIMDESK_TEST_DATABASE_URL";

/// The backend of this run of the suite (see [`BACKEND_VARIABLE`]).
pub fn backend() -> &'static Backend {
    static BACKEND: std::sync::OnceLock<Backend> = std::sync::OnceLock::new();
    BACKEND.get_or_init(|| match std::env::var(BACKEND_VARIABLE).as_deref() {
        Ok("postgres") => Backend::Postgres(
            database_url()
                .unwrap_or_else(|| panic!("{BACKEND_VARIABLE}=postgres needs {DATABASE_VARIABLE}")),
        ),
        _ => Backend::Sled,
    })
}

/// The PostgreSQL database of the tests, if one is named.
pub fn database_url() -> Option<String> {
    std::env::var(DATABASE_VARIABLE)
        .ok()
        .filter(|url| !url.is_empty())
}

/// For tests of the embedded store itself (its directory and files, its
/// flushes, faults injected into it): `true`, saying the test is skipped,
/// when the suite runs on PostgreSQL.
pub fn sled_only(what: &str) -> bool {
    if *backend() == Backend::Sled {
        return false;
    }
    println!("skipped on PostgreSQL: {what} concerns the embedded store");
    true
}

/// A test server's builder on the suite's backend.
pub fn builder() -> testing::Builder {
    match backend() {
        Backend::Sled => testing::TestServer::builder(),
        Backend::Postgres(url) => testing::TestServer::builder().database(url),
    }
}

/// A claimdesk server running in this process on `127.0.0.1:<free port>`:
/// [`claimdesk::testing::TestServer`], whose failures fail the test. It
/// stops when dropped, and the drop fails the test if the server stopped
/// with an error.
pub struct TestServer(testing::TestServer);

impl TestServer {
    /// Starts a server on a fresh desk of the suite's backend.
    pub async fn spawn() -> Self {
        Self::start(builder()).await
    }

    /// Starts a server and connects a client to it.
    pub async fn with_client() -> (Self, Client) {
        let server = Self::spawn().await;
        let client = server.client().await;
        (server, client)
    }

    /// Starts a server, connects a client to it and submits
    /// [`harbour_claim`] as maria: the claim as submitted.
    pub async fn with_harbour_claim() -> (Self, Client, Claim) {
        let (server, mut client) = Self::with_client().await;
        let claim = submit(&mut client, "maria", harbour_claim()).await;
        (server, client, claim)
    }

    /// Starts a server on `dir`, which may hold the data of an earlier one.
    pub async fn spawn_in(dir: TempDir) -> Self {
        Self::start(testing::TestServer::builder().data_dir(dir)).await
    }

    /// Starts a server on a fresh data directory, configured by `configure`
    /// (authentication, limits...) before it runs.
    pub async fn spawn_configured(
        configure: impl FnOnce(Server) -> Server + Send + 'static,
    ) -> Self {
        Self::start(builder().configure(configure)).await
    }

    /// Starts a server on a store built by the test (e.g. one that injects
    /// faults).
    pub async fn spawn_with_store(store: Arc<dyn Store>) -> Self {
        Self::start(testing::TestServer::builder().store(store)).await
    }

    /// Starts a server speaking TLS (mutual TLS if `tls` has a client CA)
    /// on a fresh data directory.
    pub async fn spawn_tls(tls: claimdesk::tls::TlsConfig) -> Self {
        Self::start(builder().tls(tls)).await
    }

    /// Starts a server on a fresh data directory whose desk runs with
    /// `desk`, e.g. a review lease short enough to watch it run out.
    pub async fn spawn_with_desk(desk: claimdesk::desk::DeskConfig) -> Self {
        Self::start(builder().desk(desk)).await
    }

    /// Starts a server on `dir` (which may hold the data of an earlier one)
    /// whose desk runs with `desk`.
    pub async fn spawn_in_with_desk(dir: TempDir, desk: claimdesk::desk::DeskConfig) -> Self {
        Self::start(testing::TestServer::builder().data_dir(dir).desk(desk)).await
    }

    /// Starts a server on a fresh data directory with `limits` instead of
    /// the default transport limits.
    pub async fn spawn_with_limits(limits: server::Limits) -> Self {
        Self::start(builder().limits(limits)).await
    }

    /// Starts a server on a store built by the test with `limits` instead of
    /// the default transport limits.
    pub async fn spawn_with_store_and_limits(
        store: Arc<dyn Store>,
        limits: server::Limits,
    ) -> Self {
        Self::start(testing::TestServer::builder().store(store).limits(limits)).await
    }

    /// The listener is bound before `start` returns, so the server is ready
    /// as soon as this returns: connections queue until it accepts them.
    async fn start(builder: testing::Builder) -> Self {
        init_logging();
        match builder.start().await {
            Ok(server) => Self(server),
            Err(e) => panic!("the test server starts: {e}: {e:?}"),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.0.addr()
    }

    pub fn url(&self) -> String {
        self.0.url()
    }

    /// The data directory of a server not started on a store of the test.
    pub fn data_dir(&self) -> &Path {
        self.0
            .data_dir()
            .expect("this server was started on a data directory")
    }

    /// A new connection to the server.
    pub async fn client(&self) -> Client {
        self.0
            .client()
            .await
            .expect("the client connects to the test server")
    }

    /// A new channel to the server, for the health and reflection clients.
    pub async fn channel(&self) -> Channel {
        self.0
            .channel()
            .await
            .expect("a channel connects to the test server")
    }

    /// Shuts the server down gracefully, checks that it stopped cleanly and
    /// hands back its data directory (if it has one).
    pub async fn stop(self) -> Option<TempDir> {
        match self.0.stop().await {
            Ok(dir) => dir,
            Err(e) => panic!("the server stopped with an error: {e}"),
        }
    }

    /// Shuts the server down, which must fail: the error it stopped with.
    pub async fn stop_failing(self) -> server::ServeError {
        match self.0.stop().await {
            Ok(_) => panic!("the server stopped cleanly"),
            Err(e) => e,
        }
    }

    /// Stops the server and starts a new one on the same desk (its data
    /// directory, or its PostgreSQL schema).
    pub async fn restart(self) -> Self {
        self.restart_with(|builder| builder).await
    }

    /// Stops the server and starts a new one on the same desk, set up by
    /// `setup` (a desk configuration, say).
    pub async fn restart_with(
        self,
        setup: impl FnOnce(testing::Builder) -> testing::Builder,
    ) -> Self {
        let schema = self.0.schema();
        let dir = self.stop().await;
        let builder = match (dir, schema) {
            (Some(dir), _) => testing::TestServer::builder().data_dir(dir),
            (None, Some(schema)) => testing::TestServer::builder().schema(schema),
            (None, None) => panic!("only a server on a data directory or a schema can restart"),
        };
        Self::start(setup(builder)).await
    }
}

/// Runs `f` on every item, eight at a time, each with its own handle to
/// the server; the answers in the order of the items. A panic in `f` fails
/// the test with its message.
pub async fn in_parallel<T, R, F, Fut>(client: &Client, items: Vec<T>, f: F) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(Client, T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = R> + Send + 'static,
{
    let f = Arc::new(f);
    let queue = Arc::new(std::sync::Mutex::new(
        items.into_iter().enumerate().rev().collect::<Vec<_>>(),
    ));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (f, queue, client) = (f.clone(), queue.clone(), client.clone());
        tasks.spawn(async move {
            let mut out = Vec::new();
            loop {
                let next = queue.lock().expect("queue").pop();
                let Some((i, item)) = next else {
                    return out;
                };
                out.push((i, f(client.clone(), item).await));
            }
        });
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(out) => all.extend(out),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// Opens a sled store in `dir` (a test that wraps the real store).
pub async fn open_sled_store(dir: &Path) -> SledStore {
    open_sled_store_with(dir, None).await
}

/// Opens a sled store in `dir` that runs `before_flush` before each durable
/// flush (to delay or fail the disk).
pub async fn open_sled_store_with(dir: &Path, before_flush: Option<FlushHook>) -> SledStore {
    let mut config = StoreConfig::new(dir);
    config.cache_capacity = testing::TEST_CACHE_BYTES;
    config.before_flush = before_flush;
    // Opening waits for a durable flush, which must not block the runtime.
    tokio::task::spawn_blocking(move || SledStore::open(&config))
        .await
        .expect("opening the store does not panic")
        .expect("the store opens")
}

/// `message` as a request made by `user` (metadata `x-claimdesk-user`).
pub fn as_user<T>(message: T, user: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "x-claimdesk-user",
        user.parse().expect("a user name fit for metadata"),
    );
    request
}

// ---------------------------------------------------------------------------
// Test data (fictional).

pub const HARBOUR_STATEMENT: &str = "About 9,000 dock workers joined the strike";
pub const HARBOUR_SOURCE: &str = "Harbour Gazette";
pub const HARBOUR_RELAY: &str = "union officials";
pub const HARBOUR_STORY: &str = "harbour-strike";

pub const BORDER_STORY: &str = "northern-border";

/// A claim about a fictional harbour strike, attributed to the Harbour
/// Gazette, which had it from union officials.
pub fn harbour_claim() -> Claim {
    Claim {
        statement: HARBOUR_STATEMENT.to_owned(),
        attribution: Some(Attribution {
            source: HARBOUR_SOURCE.to_owned(),
            relayed_from: vec![HARBOUR_RELAY.to_owned()],
            url: "https://harbour-gazette.example/strike-day-one".to_owned(),
        }),
        story: HARBOUR_STORY.to_owned(),
        tags: vec!["labour".to_owned(), "ports".to_owned()],
        priority: claim::Priority::Urgent.into(),
        ..Default::default()
    }
}

/// Statements of the harbour story without figures, each worded unlike
/// the others and unlike [`HARBOUR_STATEMENT`]: claims made of them are not
/// suggested as duplicates of each other.
pub const OTHER_HARBOUR_STATEMENTS: [&str; 16] = [
    "Cranes stood idle at the container terminal",
    "Ferry crews walked off the evening shift",
    "Pickets blocked the grain silo gates overnight",
    "Union leaders rejected the port authority offer",
    "Tugboat pilots stayed home in solidarity",
    "Customs officers cleared no cargo since Monday",
    "Trucks queued along the coast road for hours",
    "Fishing boats unloaded at a neighbouring harbour",
    "Shipping agents diverted freighters toward Kessport",
    "Warehouse staff joined the walkout by lunchtime",
    "Harbour police escorted strikers away from berths",
    "Oil tankers anchored offshore awaiting clearance",
    "Dockside cafes reported empty tables all week",
    "Mediators called both sides back into talks",
    "Exporters warned of spoiled fruit shipments",
    "Pilots' association denied joining any stoppage",
];

/// [`harbour_claim`] saying the `i`th of [`OTHER_HARBOUR_STATEMENTS`]
/// (modulo their number).
pub fn other_harbour_claim(i: usize) -> Claim {
    Claim {
        statement: OTHER_HARBOUR_STATEMENTS[i % OTHER_HARBOUR_STATEMENTS.len()].to_owned(),
        ..harbour_claim()
    }
}

/// A claim about a fictional border deployment, with a troop figure that
/// other sources contradict.
pub fn border_claim(statement: &str, source: &str) -> Claim {
    Claim {
        statement: statement.to_owned(),
        attribution: Some(Attribution {
            source: source.to_owned(),
            relayed_from: Vec::new(),
            url: String::new(),
        }),
        story: BORDER_STORY.to_owned(),
        tags: vec!["troops".to_owned()],
        ..Default::default()
    }
}

/// A claim of `story` attributed to `source`, numbered so each is distinct.
pub fn numbered_claim(story: &str, source: &str, n: usize) -> Claim {
    Claim {
        statement: format!("Convoy number {n} crossed the river at dawn"),
        attribution: Some(Attribution {
            source: source.to_owned(),
            relayed_from: Vec::new(),
            url: String::new(),
        }),
        story: story.to_owned(),
        ..Default::default()
    }
}

/// Evidence from `source` taking `stance`.
pub fn evidence(source: &str, stance: evidence::Stance, summary: &str) -> Evidence {
    Evidence {
        summary: summary.to_owned(),
        source: source.to_owned(),
        stance: stance.into(),
        ..Default::default()
    }
}

/// Evidence from `source` that supports the claim.
pub fn supports(source: &str, summary: &str) -> Evidence {
    evidence(source, evidence::Stance::Supports, summary)
}

/// Evidence from `source` that refutes the claim.
pub fn refutes(source: &str, summary: &str) -> Evidence {
    evidence(source, evidence::Stance::Refutes, summary)
}

/// Evidence from `source` that gives the claim context.
pub fn gives_context(source: &str, summary: &str) -> Evidence {
    evidence(source, evidence::Stance::Context, summary)
}

/// The Port Authority's gate logs, which support the harbour claim.
pub fn gate_logs() -> Evidence {
    supports(
        "Port Authority",
        "Gate logs show 9,100 workers did not clock in",
    )
}

// ---------------------------------------------------------------------------
// The calls most tests make: `try_*` answers whatever the server says; the
// short forms without it panic on failure.

/// `result`'s value; panics naming `rpc` if the call failed.
#[track_caller]
fn succeeded<T>(result: Result<T, Status>, rpc: &str) -> T {
    result.unwrap_or_else(|status| panic!("{rpc} succeeds: {status:?}"))
}

/// A SubmitClaim request for `claim` by `user`, without a request id.
pub fn submit_request(user: &str, claim: Claim) -> Request<pb::SubmitClaimRequest> {
    submit_request_with_id(user, claim, "")
}

fn submit_request_with_id(
    user: &str,
    claim: Claim,
    request_id: &str,
) -> Request<pb::SubmitClaimRequest> {
    let request_id = request_id.to_owned();
    as_user(
        pb::SubmitClaimRequest {
            claim: Some(claim),
            request_id,
        },
        user,
    )
}

/// SubmitClaim of `claim` by `user` with `request_id`.
pub async fn submit_with_id(
    client: &mut Client,
    user: &str,
    claim: Claim,
    request_id: &str,
) -> Result<Claim, Status> {
    let request = submit_request_with_id(user, claim, request_id);
    client.submit_claim(request).await.map(|r| r.into_inner())
}

pub async fn submit(client: &mut Client, user: &str, claim: Claim) -> Claim {
    succeeded(submit_with_id(client, user, claim, "").await, "SubmitClaim")
}

pub async fn get(client: &mut Client, name: &str) -> Claim {
    let name = name.to_owned();
    let answer = client.get_claim(pb::GetClaimRequest { name }).await;
    succeeded(answer, "GetClaim").into_inner()
}

pub async fn try_start_review(
    client: &mut Client,
    user: &str,
    name: &str,
    etag: &str,
) -> Result<Claim, Status> {
    let (name, etag) = (name.to_owned(), etag.to_owned());
    let request = as_user(pb::StartReviewRequest { name, etag }, user);
    client.start_review(request).await.map(|r| r.into_inner())
}

pub async fn start_review(client: &mut Client, user: &str, name: &str) -> Claim {
    succeeded(
        try_start_review(client, user, name, "").await,
        "StartReview",
    )
}

pub async fn try_add_evidence(
    client: &mut Client,
    user: &str,
    name: &str,
    evidence: Option<Evidence>,
    etag: &str,
) -> Result<Claim, Status> {
    let (name, etag) = (name.to_owned(), etag.to_owned());
    let request = as_user(
        pb::AddEvidenceRequest {
            name,
            evidence,
            etag,
        },
        user,
    );
    client.add_evidence(request).await.map(|r| r.into_inner())
}

pub async fn add_evidence(client: &mut Client, user: &str, name: &str, e: Evidence) -> Claim {
    let result = try_add_evidence(client, user, name, Some(e), "").await;
    succeeded(result, "AddEvidence")
}

/// Defines, for each change that carries a free text (a note or a reason)
/// besides the etag, `$try_name(client, user, claim name, $text, etag)`,
/// which answers whatever the server says, and `$name(client, user, claim
/// name, $text)`, which sends it without an etag and must succeed.
macro_rules! changes_with_text {
    ($($try_name:ident / $name:ident: $method:ident($request:ident, $text:ident) $rpc:literal;)*) => {$(
        pub async fn $try_name(
            client: &mut Client,
            user: &str,
            name: &str,
            $text: &str,
            etag: &str,
        ) -> Result<Claim, Status> {
            let (name, $text, etag) = (name.to_owned(), $text.to_owned(), etag.to_owned());
            // Some requests have more fields than the text and the etag.
            #[allow(clippy::needless_update)]
            let request = as_user(
                pb::$request {
                    name,
                    $text,
                    etag,
                    ..Default::default()
                },
                user,
            );
            client.$method(request).await.map(|r| r.into_inner())
        }

        pub async fn $name(client: &mut Client, user: &str, name: &str, $text: &str) -> Claim {
            succeeded($try_name(client, user, name, $text, "").await, $rpc)
        }
    )*};
}

changes_with_text! {
    try_verify / verify: verify_claim(VerifyClaimRequest, note) "VerifyClaim";
    try_dispute / dispute: dispute_claim(DisputeClaimRequest, note) "DisputeClaim";
    try_mark_inconclusive / mark_inconclusive:
        mark_claim_inconclusive(MarkClaimInconclusiveRequest, note) "MarkClaimInconclusive";
    try_release / release: release_claim(ReleaseClaimRequest, note) "ReleaseClaim";
    try_reopen / reopen: reopen_claim(ReopenClaimRequest, reason) "ReopenClaim";
    try_withdraw / withdraw: withdraw_claim(WithdrawClaimRequest, reason) "WithdrawClaim";
}

/// VerifyClaim of `name` by tomas, noting "Checked", with whatever it
/// answers.
pub async fn verify_result(client: &mut Client, name: &str) -> Result<pb::Claim, tonic::Status> {
    try_verify(client, "tomas", name, "Checked", "").await
}

/// Adds `n` pieces of context from the Port Authority to `name` at once, as
/// ana, summarised `"{summary} {i}"`.
pub async fn add_context_at_once(client: &Client, name: &str, n: usize, summary: &str) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let mut client = client.clone();
        let name = name.to_owned();
        let summary = format!("{summary} {i}");
        tasks.spawn(async move {
            let context = gives_context("Port Authority", &summary);
            add_evidence(&mut client, "ana", &name, context).await
        });
    }
    tasks.join_all().await;
}

/// Submits claims `numbers` of `story` from `source` as `user`
/// ([`numbered_claim`]); their names, in order.
pub async fn submit_numbered(
    client: &mut Client,
    user: &str,
    (story, source): (&str, &str),
    numbers: std::ops::Range<usize>,
) -> Vec<String> {
    let mut names = Vec::new();
    for n in numbers {
        let claim = numbered_claim(story, source, n);
        names.push(submit(client, user, claim).await.name);
    }
    names
}

/// The one page of claims `request` asks for.
pub async fn list_page(
    client: &mut Client,
    request: pb::ListClaimsRequest,
) -> pb::ListClaimsResponse {
    succeeded(client.list_claims(request).await, "ListClaims").into_inner()
}

/// Every claim whose source has the comparison key of `source`.
pub async fn list_by_source(client: &mut Client, source: &str) -> Vec<Claim> {
    let request = pb::ListClaimsRequest {
        source: source.to_owned(),
        ..Default::default()
    };
    list_all(client, request).await
}

/// Fails the test unless `claim` reads back exactly as it is; `why` says
/// why it should.
pub async fn assert_reads_back(client: &mut Client, claim: &Claim, why: &str) {
    assert_eq!(&get(client, &claim.name).await, claim, "{why}");
}

/// Fails the test if any claim was stored.
pub async fn assert_nothing_stored(client: &mut Client) {
    let stored = list_all(client, pb::ListClaimsRequest::default()).await;
    assert!(stored.is_empty(), "nothing was stored: {stored:?}");
}

/// A listing request whose answer comes in pages.
trait Paged: Clone {
    type Item;
    fn set_page_token(&mut self, token: String);
    /// The page this request asks for: its items and the next page's token.
    async fn page(self, client: &mut Client) -> (Vec<Self::Item>, String);
}

impl Paged for pb::ListClaimsRequest {
    type Item = Claim;
    fn set_page_token(&mut self, token: String) {
        self.page_token = token;
    }
    async fn page(self, client: &mut Client) -> (Vec<Claim>, String) {
        let page = succeeded(client.list_claims(self).await, "ListClaims").into_inner();
        (page.claims, page.next_page_token)
    }
}

impl Paged for pb::ListClaimEventsRequest {
    type Item = pb::ClaimEvent;
    fn set_page_token(&mut self, token: String) {
        self.page_token = token;
    }
    async fn page(self, client: &mut Client) -> (Vec<pb::ClaimEvent>, String) {
        let answer = client.list_claim_events(self).await;
        let page = succeeded(answer, "ListClaimEvents").into_inner();
        (page.events, page.next_page_token)
    }
}

/// Every item `request` lists, from the page it names on, following page
/// tokens.
async fn all_pages<R: Paged>(client: &mut Client, mut request: R) -> Vec<R::Item> {
    let mut items = Vec::new();
    loop {
        let (page, next) = request.clone().page(client).await;
        items.extend(page);
        if next.is_empty() {
            return items;
        }
        request.set_page_token(next);
    }
}

/// Every claim matching `request`'s filters, following page tokens.
pub async fn list_all(client: &mut Client, request: pb::ListClaimsRequest) -> Vec<Claim> {
    all_pages(client, request).await
}

/// The names of claims, for comparing listings.
pub fn names(claims: &[Claim]) -> Vec<String> {
    claims.iter().map(|c| c.name.clone()).collect()
}

/// The whole history of a claim, following page tokens.
pub async fn events_of(client: &mut Client, name: &str) -> Vec<pb::ClaimEvent> {
    events_in_pages_of(client, name, 0).await
}

/// The whole history of a claim, asking for pages of `page_size` events (0:
/// the server's default).
pub async fn events_in_pages_of(
    client: &mut Client,
    name: &str,
    page_size: i32,
) -> Vec<pb::ClaimEvent> {
    let request = pb::ListClaimEventsRequest {
        name: name.to_owned(),
        page_size,
        ..Default::default()
    };
    all_pages(client, request).await
}

/// The id part of `claims/{id}`, checked to be a ULID.
pub fn claim_id(name: &str) -> &str {
    let id = name
        .strip_prefix("claims/")
        .unwrap_or_else(|| panic!("{name:?} has the form claims/{{id}}"));
    assert_eq!(id.len(), 26, "{id:?} is a ULID");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"ILOU".contains(&b))),
        "{id:?} is a ULID in Crockford base 32"
    );
    id
}

/// A well-formed claim name that names no claim.
pub const UNKNOWN_CLAIM: &str = "claims/01ARZ3NDEKTSV4RRFFQ69G5FAV";

// ---------------------------------------------------------------------------
// Errors.

/// Checks the code, the `ErrorInfo` reason and domain of `result`'s error
/// and returns its details.
#[track_caller]
pub fn expect_error<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: Code,
    reason: &str,
) -> (Status, ErrorDetails) {
    let status = match result {
        Ok(value) => panic!("expected {code:?} ({reason}), got a success: {value:?}"),
        Err(status) => status,
    };
    assert_eq!(status.code(), code, "code of {status:?}");
    let details = status.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("{status:?} carries an ErrorInfo"));
    assert_eq!(info.reason, reason, "reason of {status:?}");
    assert_eq!(info.domain, DOMAIN, "domain of {status:?}");
    (status, details)
}

/// Checks that `result` failed with INVALID_ARGUMENT and returns the paths
/// of the fields its BadRequest names.
#[track_caller]
pub fn expect_invalid<T: std::fmt::Debug>(result: Result<T, Status>) -> Vec<String> {
    let (status, details) = expect_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    let bad_request = details
        .bad_request()
        .unwrap_or_else(|| panic!("{status:?} carries a BadRequest"));
    assert!(
        !bad_request.field_violations.is_empty(),
        "{status:?} names at least one field"
    );
    for v in &bad_request.field_violations {
        assert!(!v.description.is_empty(), "{v:?} says what is wrong");
    }
    bad_request
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect()
}

/// Checks that `result` failed with INVALID_ARGUMENT naming exactly `fields`.
#[track_caller]
pub fn expect_invalid_fields<T: std::fmt::Debug>(result: Result<T, Status>, fields: &[&str]) {
    let got = expect_invalid(result);
    assert_eq!(got, fields, "fields named by the BadRequest");
}

/// A value of the `ErrorInfo` metadata.
pub fn error_metadata(details: &ErrorDetails, key: &str) -> Option<String> {
    details
        .error_info()
        .and_then(|info| info.metadata.get(key).cloned())
}

// ---------------------------------------------------------------------------
// The `claimdesk` binary.

/// `claimdesk` with no `CLAIMDESK_*` variable of the test's environment,
/// logging at `info`, stderr piped, stdout discarded (pipe it to read it),
/// killed if dropped while it runs.
pub fn claimdesk_command() -> tokio::process::Command {
    claimdesk_command_of(Path::new(env!("CARGO_BIN_EXE_claimdesk")))
}

/// [`claimdesk_command`] running the binary at `binary` (a release build,
/// say) instead of the one cargo built for the tests.
pub fn claimdesk_command_of(binary: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CLAIMDESK_") {
            command.env_remove(name);
        }
    }
    command
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    command
}

/// The line `claimdesk serve` logs once it serves, naming its address.
pub const READY_MESSAGE: &str = "serving claimdesk.v1.ClaimService";

/// Bounds waits for a `claimdesk` process (start-up on a busy two-core
/// machine can be slow); not a delay.
pub const PROCESS_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// `claimdesk serve --log-format json --data-dir <data_dir> <args>`.
pub fn serve_command(data_dir: &Path, args: &[&str]) -> tokio::process::Command {
    let mut command = claimdesk_command();
    command
        .args(["serve", "--log-format", "json", "--data-dir"])
        .arg(data_dir)
        .args(args);
    command
}

/// The ERROR line of a `claimdesk` process that exited with status 1 (an
/// exit, not a crash), given its exit `status` and `stderr`; `context`
/// begins the failure messages.
#[track_caller]
pub fn exit_error<'a>(status: std::process::ExitStatus, stderr: &'a str, context: &str) -> &'a str {
    assert_eq!(
        status.code(),
        Some(1),
        "{context}exit status {status}; stderr:\n{stderr}"
    );
    stderr
        .lines()
        .find(|l| l.contains("ERROR"))
        .unwrap_or_else(|| panic!("{context}no error logged:\n{stderr}"))
}

/// What a process wrote to stderr, line by line, as it arrives.
#[derive(Clone)]
pub struct Log(tokio::sync::watch::Receiver<Vec<String>>);

impl Log {
    pub fn capture(stderr: tokio::process::ChildStderr) -> Self {
        use tokio::io::AsyncBufReadExt;
        let (tx, rx) = tokio::sync::watch::channel(Vec::new());
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tx.send_modify(|all| all.push(line));
            }
            // Dropping `tx` tells waiters that stderr is closed.
        });
        Self(rx)
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.borrow().clone()
    }

    /// Waits until stderr is closed and every line written to it is read.
    pub async fn closed(&self) {
        let mut rx = self.0.clone();
        while rx.changed().await.is_ok() {}
    }

    pub fn text(&self) -> String {
        self.0.borrow().join("\n")
    }

    /// The lines written so far, parsed as JSON.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.0
            .borrow()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The first line `find` accepts, waiting for it to be written. Panics
    /// with the log if stderr closes first or `within` runs out.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        within: std::time::Duration,
        mut find: impl FnMut(&str) -> Option<T>,
    ) -> T {
        let mut rx = self.0.clone();
        // Err means stderr closed (or the time ran out); the check below
        // looks at everything that was written either way.
        let _ = tokio::time::timeout(
            within,
            rx.wait_for(|lines| lines.iter().any(|l| find(l).is_some())),
        )
        .await;
        let found = self.0.borrow().iter().find_map(|l| find(l));
        found.unwrap_or_else(|| {
            panic!(
                "no log line {what} within {within:?}; log:\n{}",
                self.text()
            )
        })
    }

    /// Waits until `n` log lines contain `needle`.
    pub async fn wait_for_lines(&self, needle: &str, n: usize) {
        let mut rx = self.0.clone();
        let seen = tokio::time::timeout(
            PROCESS_WAIT,
            rx.wait_for(|lines| lines.iter().filter(|l| l.contains(needle)).count() >= n),
        )
        .await
        .unwrap_or_else(|_| panic!("{needle}: not logged within {PROCESS_WAIT:?}"));
        assert!(seen.is_ok(), "stderr closed; log:\n{}", self.text());
    }
}

/// A `claimdesk serve` process, killed (SIGKILL) when dropped, and its
/// stderr lines as they arrive.
pub struct ServeProcess {
    pub child: tokio::process::Child,
    pub log: Log,
    /// Where it serves, once known (see [`ServeProcess::serve`]).
    addr: Option<SocketAddr>,
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        // Does nothing if it has already exited and been waited for.
        let _ = self.child.start_kill();
    }
}

impl ServeProcess {
    pub fn spawn(mut command: tokio::process::Command) -> Self {
        let mut child = command.spawn().expect("claimdesk starts");
        let log = Log::capture(child.stderr.take().expect("stderr is piped"));
        Self {
            child,
            log,
            addr: None,
        }
    }

    /// Starts `claimdesk serve` on `127.0.0.1:0` with JSON logs on
    /// `data_dir` and waits until it says it is serving.
    pub async fn start(data_dir: &Path) -> Self {
        Self::serve(serve_command(data_dir, &["--listen", "127.0.0.1:0"])).await
    }

    /// Spawns `command`, which must log JSON, and waits until it says it is
    /// serving; [`ServeProcess::client`] then talks to it.
    pub async fn serve(command: tokio::process::Command) -> Self {
        let mut process = Self::spawn(command);
        let addr = process.wait_until_serving().await;
        assert_ne!(addr.port(), 0, "the log names the bound port");
        process.serves_at(addr);
        process
    }

    /// Records where the process serves, for a test that reads it from the
    /// log itself (text logs, say).
    pub fn serves_at(&mut self, addr: SocketAddr) {
        self.addr = Some(addr);
    }

    /// Where the process serves.
    pub fn addr(&self) -> SocketAddr {
        self.addr
            .expect("the address is known once the process serves")
    }

    pub fn text(&self) -> String {
        self.log.text()
    }

    /// The lines written so far, parsed as JSON.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.log.json_lines()
    }

    /// Waits for the readiness line; the address it names.
    pub async fn wait_until_serving(&self) -> SocketAddr {
        self.log
            .wait_for("saying it is serving", PROCESS_WAIT, |line| {
                let v: serde_json::Value = serde_json::from_str(line).ok()?;
                if v["fields"]["message"] != READY_MESSAGE {
                    return None;
                }
                v["fields"]["addr"].as_str()?.parse().ok()
            })
            .await
    }

    /// Waits until `n` log lines contain `needle`.
    pub async fn wait_for_lines(&self, needle: &str, n: usize) {
        self.log.wait_for_lines(needle, n).await;
    }

    pub async fn client(&self) -> Client {
        ClaimServiceClient::new(self.channel().await)
    }

    pub async fn channel(&self) -> Channel {
        let addr = self.addr();
        let endpoint = Channel::from_shared(format!("http://{addr}")).expect("valid uri");
        tokio::time::timeout(PROCESS_WAIT, endpoint.connect())
            .await
            .expect("connecting in time")
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}; log:\n{}", self.text()))
    }

    /// Sends `signal` (`HUP`, `TERM`) with kill(1): the crate has no libc
    /// binding.
    fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "kill -{signal} failed: {status}");
    }

    /// Sends SIGHUP.
    pub fn hang_up(&self) {
        self.signal("HUP");
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// SIGKILL, and checks that the signal is what ended the process.
    pub async fn kill_9(&mut self) {
        use std::os::unix::process::ExitStatusExt;
        self.child.start_kill().expect("SIGKILL is sent");
        let status = self.exit_status().await;
        assert_eq!(
            status.signal(),
            Some(9),
            "the server should have died of SIGKILL, not {status}; log:\n{}",
            self.text()
        );
    }

    /// Waits for the process to end.
    pub async fn exit_status(&mut self) -> std::process::ExitStatus {
        self.exit_status_within(PROCESS_WAIT).await
    }

    /// Waits for the process to end; panics with the log if it is still
    /// running `within` later.
    pub async fn exit_status_within(
        &mut self,
        within: std::time::Duration,
    ) -> std::process::ExitStatus {
        let status = match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.expect("waiting for claimdesk"),
            Err(_) => panic!(
                "the process is still running {within:?} later; log:\n{}",
                self.text()
            ),
        };
        // The last lines may still be on their way through the pipe: read
        // to its end, so the log is whole once the exit status is known.
        let _ = tokio::time::timeout(within, self.log.closed()).await;
        status
    }
}

/// Checks that the health service says `expected` for the server as a whole
/// and for the API.
pub async fn assert_health(
    server: &TestServer,
    expected: tonic_health::pb::health_check_response::ServingStatus,
) {
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    for service in ["", "claimdesk.v1.ClaimService"] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .expect("the health check answers")
            .into_inner()
            .status();
        assert_eq!(status, expected, "health of {service:?}");
    }
}

/// The next status `watch` (a health watch) reports within `wait`; `what`
/// says what the test awaits.
pub async fn next_health_status(
    watch: &mut tonic::Streaming<tonic_health::pb::HealthCheckResponse>,
    wait: std::time::Duration,
    what: &str,
) -> tonic_health::pb::health_check_response::ServingStatus {
    tokio::time::timeout(wait, watch.message())
        .await
        .unwrap_or_else(|_| panic!("{what}: no status within {wait:?}"))
        .expect("the health watch answers")
        .expect("the health watch goes on")
        .status()
}

/// A health watch of the API on `channel`, checked to report SERVING first
/// (within `wait`).
pub async fn serving_health_watch(
    channel: Channel,
    wait: std::time::Duration,
) -> tonic::Streaming<tonic_health::pb::HealthCheckResponse> {
    let mut watch = tonic_health::pb::health_client::HealthClient::new(channel)
        .watch(tonic_health::pb::HealthCheckRequest {
            service: "claimdesk.v1.ClaimService".to_owned(),
        })
        .await
        .expect("a health watch")
        .into_inner();
    assert_eq!(
        next_health_status(&mut watch, wait, "the first status").await,
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
    watch
}
