//! Wiring of the server, shared by `claimdesk serve` and the tests:
//! [`Server::build`] binds the listener and opens the store;
//! [`Server::run_until`] serves until a shutdown signal.
//!
//! Shutdown sequence: the health service turns NOT_SERVING (so load
//! balancers stop sending work), the listener closes and open connections
//! get GOAWAY (no new RPCs), in-flight RPCs run to completion (streams that
//! outlive the grace period are cut), then one last durable flush and the
//! store is closed. Only then does `run_until` return.
//!
//! Every call passes the access policy ([`crate::grpc::policy`]) before its
//! handler runs. Transport [`Limits`] bound what one caller can ask of the
//! server: the size of a request message, how long a unary call runs, how
//! many calls and streams one connection carries, how long a silent peer
//! keeps its connection, and how many connections are open at once.
//! [`exposure`] decides whether `serve` may listen on an address: without
//! tokens callers are not authenticated, so only loopback unless the
//! operator says otherwise.

use std::{
    any::Any,
    collections::HashSet,
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    path::PathBuf,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{Notify, OwnedSemaphorePermit, Semaphore},
    task::JoinSet,
};
use tokio_stream::{Stream, StreamExt};
use tonic::{
    Code, Status,
    body::Body,
    codegen::Service,
    server::NamedService,
    transport::server::{Connected, TcpConnectInfo, TcpIncoming},
};
use tonic_health::ServingStatus;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::{Instrument, Span};

use crate::{
    desk::{DEFAULT_PAGE_BYTES, Desk, DeskConfig},
    error::Error,
    grpc::{
        self, ClaimServiceImpl, identity::Authentication,
        pb::claim_service_server::ClaimServiceServer, policy::Policy,
    },
    storage::{SledStore, Store, StoreConfig},
    tls::TlsConfig,
};

/// What `serve` needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Upper bound of the storage engine's cache, in bytes.
    pub cache_capacity: u64,
    /// How long a shutdown waits for open calls and streams to end.
    pub shutdown_grace: Duration,
    /// How the desk runs (review leases).
    pub desk: DeskConfig,
}

impl Config {
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
}

/// What one caller may ask of the server. [`Limits::default`] holds the
/// defaults of `claimdesk serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest request message accepted, in bytes. A larger one fails
    /// with RESOURCE_EXHAUSTED / MESSAGE_TOO_LARGE before its handler runs.
    pub max_request_bytes: usize,
    /// The largest response message sent, in bytes. A larger one fails with
    /// OUT_OF_RANGE (ask for a smaller page).
    pub max_response_bytes: usize,
    /// How long a unary call may run once the server has taken it; then it
    /// fails with DEADLINE_EXCEEDED / REQUEST_TIMEOUT. Streams
    /// (`WatchClaimEvents`, health `Watch`, reflection) are not limited.
    /// `None`: only the client's deadline (`grpc-timeout`) applies.
    pub request_timeout: Option<Duration>,
    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`: calls and streams open at
    /// once on one connection. Clients queue the rest.
    pub max_streams_per_connection: u32,
    /// Calls of one connection handled at once (their handlers running);
    /// the others wait in the server until one finishes. An open stream
    /// counts only until its handler has answered the headers.
    pub max_calls_per_connection: usize,
    /// How often an HTTP/2 PING checks that the peer is still there; `None`:
    /// never.
    pub http2_keepalive_interval: Option<Duration>,
    /// How long a PING may go unanswered before the connection is closed.
    pub http2_keepalive_timeout: Duration,
    /// Idle time before the kernel starts TCP keepalive probes; `None`: off.
    pub tcp_keepalive: Option<Duration>,
    /// After this long a connection is asked to go away (GOAWAY): calls in
    /// flight finish, new calls go to a new connection. `None`: never.
    pub max_connection_age: Option<Duration>,
    /// How long calls and streams may go on after `max_connection_age`
    /// before the connection is closed under them. `None`: until they end.
    pub max_connection_age_grace: Option<Duration>,
    /// Connections open at once, over the whole server. A connection
    /// accepted beyond it is reset at once (the client sees UNAVAILABLE and
    /// may retry), while the connections already open are served as usual;
    /// a slot is free again when its connection ends.
    pub max_connections: usize,
}

impl Limits {
    pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1024 * 1024;
    pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_MAX_STREAMS_PER_CONNECTION: u32 = 200;
    pub const DEFAULT_MAX_CALLS_PER_CONNECTION: usize = 64;
    pub const DEFAULT_HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
    pub const DEFAULT_HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
    pub const DEFAULT_TCP_KEEPALIVE: Duration = Duration::from_secs(60);
    /// A newsroom desk has at most a few hundred clients, each multiplexing
    /// its calls and watches over one or two HTTP/2 connections: 1024 leaves
    /// them ample room, while bounding what unauthenticated callers (health
    /// and reflection need no token) can make the server hold open: a task,
    /// a socket and HTTP/2 buffers per connection. It also stays below the
    /// open-files limits services usually get (systemd's `LimitNOFILE`,
    /// 65536 in `deploy/README.md`), so refusals happen here, in order,
    /// rather than as failing `accept` calls.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: Self::DEFAULT_MAX_REQUEST_BYTES,
            max_response_bytes: Self::DEFAULT_MAX_RESPONSE_BYTES,
            request_timeout: Some(Self::DEFAULT_REQUEST_TIMEOUT),
            max_streams_per_connection: Self::DEFAULT_MAX_STREAMS_PER_CONNECTION,
            max_calls_per_connection: Self::DEFAULT_MAX_CALLS_PER_CONNECTION,
            http2_keepalive_interval: Some(Self::DEFAULT_HTTP2_KEEPALIVE_INTERVAL),
            http2_keepalive_timeout: Self::DEFAULT_HTTP2_KEEPALIVE_TIMEOUT,
            tcp_keepalive: Some(Self::DEFAULT_TCP_KEEPALIVE),
            max_connection_age: None,
            max_connection_age_grace: None,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Who can reach a server on a given address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Only this host (127.0.0.0/8, ::1).
    Loopback,
    /// Other hosts too; callers authenticate with tokens.
    Network,
    /// Other hosts too, and the operator allowed unauthenticated callers.
    NetworkAnonymous,
}

/// Whether `serve` may listen on `listen`. With tokens (`authenticated`),
/// any address. Without, callers are not authenticated (anyone may name
/// any user in `x-claimdesk-user`), so only a loopback address is allowed,
/// unless `allow_anonymous` says that serving unknown callers on the
/// network is intended.
pub fn exposure(
    listen: SocketAddr,
    authenticated: bool,
    allow_anonymous: bool,
) -> Result<Exposure, StartError> {
    // `::ffff:127.0.0.1` is loopback too.
    if listen.ip().to_canonical().is_loopback() {
        Ok(Exposure::Loopback)
    } else if authenticated {
        Ok(Exposure::Network)
    } else if allow_anonymous {
        Ok(Exposure::NetworkAnonymous)
    } else {
        Err(StartError::AnonymousOnNetwork { addr: listen })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the data directory {dir}: {source}")]
    Store { dir: PathBuf, source: Error },
    #[error(
        "refusing to listen on {addr}: no tokens file is given, so callers are not \
         authenticated and anyone who can reach this address could act as any user; give \
         --tokens-file (CLAIMDESK_TOKENS_FILE), listen on a loopback address (127.0.0.1 or \
         ::1), or pass --allow-anonymous (CLAIMDESK_ALLOW_ANONYMOUS=true) to serve \
         unauthenticated callers on the network anyway"
    )]
    AnonymousOnNetwork { addr: SocketAddr },
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("transport failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("final flush failed: {0}")]
    FinalFlush(Error),
}

pub struct Server {
    listener: TcpListener,
    store: Arc<dyn Store>,
    shutdown_grace: Duration,
    desk: DeskConfig,
    limits: Limits,
    authentication: Authentication,
    /// Fires when the store is gone and its directory released.
    store_closed: Option<tokio::sync::oneshot::Receiver<()>>,
    /// TLS, and whether clients must present certificates; `None`:
    /// plaintext.
    tls: Option<TlsConfig>,
}

impl Server {
    /// Binds `config.listen`, then opens the sled store in
    /// `config.data_dir` (binding first: a taken port is reported before
    /// the database is touched).
    pub async fn build(config: &Config) -> Result<Self, StartError> {
        let listener = bind(config.listen).await?;
        let store_config = StoreConfig {
            cache_capacity: config.cache_capacity,
            ..StoreConfig::new(&config.data_dir)
        };
        let store_error = |source| StartError::Store {
            dir: config.data_dir.clone(),
            source,
        };
        let store = tokio::task::spawn_blocking(move || SledStore::open(&store_config))
            .await
            .map_err(|e| store_error(Error::Internal(e.to_string())))?
            .map_err(store_error)?;
        let store_closed = store.on_close();
        Ok(Self {
            listener,
            store: Arc::new(store),
            shutdown_grace: config.shutdown_grace,
            desk: config.desk,
            limits: Limits::default(),
            authentication: Authentication::Open,
            store_closed,
            tls: None,
        })
    }

    /// Serves `store`, whatever its implementation, on `listen`.
    pub async fn with_store(listen: SocketAddr, store: Arc<dyn Store>) -> Result<Self, StartError> {
        Ok(Self {
            listener: bind(listen).await?,
            store,
            shutdown_grace: Config::DEFAULT_SHUTDOWN_GRACE,
            desk: DeskConfig::default(),
            limits: Limits::default(),
            authentication: Authentication::Open,
            store_closed: None,
            tls: None,
        })
    }

    /// How long a shutdown waits for open calls and streams to end before
    /// closing them.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// How the desk runs (review leases).
    pub fn desk_config(mut self, desk: DeskConfig) -> Self {
        self.desk = desk;
        self
    }

    /// The transport limits (by default [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How callers are known (by default [`Authentication::Open`]: callers
    /// name themselves and act as chiefs).
    pub fn authentication(mut self, authentication: Authentication) -> Self {
        self.authentication = authentication;
        self
    }

    /// Serves TLS only (mutual TLS if `tls` has a client CA) instead of
    /// plaintext HTTP/2.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then shuts down gracefully.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
        let addr = self.local_addr();
        let limits = self.limits;
        // Pages end early rather than near the response limit: their
        // stored size only approximates their encoded size, and the last
        // entry may be large.
        let page_bytes = (limits.max_response_bytes / 2).min(DEFAULT_PAGE_BYTES);
        let desk = Desk::new(self.store, self.desk).with_page_bytes(page_bytes);
        let sweeper = tokio::spawn(desk.clone().run_lease_sweeper());
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<ClaimServiceServer<ClaimServiceImpl>>()
            .await;
        // A store that failed for good refuses every write until restarted:
        // tell load balancers and orchestrators to stop sending work.
        let failure_watch = tokio::spawn({
            let (desk, health) = (desk.clone(), health.clone());
            async move {
                desk.store_failed().await;
                tracing::error!(
                    "storage failed: health is NOT_SERVING until the server is restarted"
                );
                health
                    .set_service_status("", ServingStatus::NotServing)
                    .await;
                health
                    .set_not_serving::<ClaimServiceServer<ClaimServiceImpl>>()
                    .await;
            }
        });

        // v1 for current clients, v1alpha for grpcurl 1.8 and older tools.
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(grpc::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection().build_v1()?;
        let reflection_v1alpha = reflection().build_v1alpha()?;

        let calls = CallLimits::new(&limits);
        let policy = Policy::new(self.authentication.clone());
        let claim_service = ClaimServiceServer::new(ClaimServiceImpl::new(
            desk.clone(),
            self.authentication.clone(),
        ))
        .max_decoding_message_size(limits.max_request_bytes)
        .max_encoding_message_size(limits.max_response_bytes);
        let health_service = health_service
            .max_decoding_message_size(limits.max_request_bytes)
            .max_encoding_message_size(limits.max_response_bytes);
        let reflection_v1 = reflection_v1
            .max_decoding_message_size(limits.max_request_bytes)
            .max_encoding_message_size(limits.max_response_bytes);
        let reflection_v1alpha = reflection_v1alpha
            .max_decoding_message_size(limits.max_request_bytes)
            .max_encoding_message_size(limits.max_response_bytes);

        let mut builder = tonic::transport::Server::builder()
            .max_concurrent_streams(limits.max_streams_per_connection)
            .concurrency_limit_per_connection(limits.max_calls_per_connection)
            .http2_keepalive_interval(limits.http2_keepalive_interval)
            .http2_keepalive_timeout(Some(limits.http2_keepalive_timeout));
        if let Some(age) = limits.max_connection_age {
            builder = builder.max_connection_age(age);
        }
        if let Some(grace) = limits.max_connection_age_grace {
            builder = builder.max_connection_age_grace(grace);
        }
        // tonic runs the TLS handshake of each connection from the incoming
        // stream below in a task of its own; one that fails drops only that
        // connection.
        if let Some(tls) = &self.tls {
            builder = builder.tls_config(tls.server_config())?;
        }
        TlsConfig::log_mode(self.tls.as_ref());

        tracing::info!(
            max_request_bytes = limits.max_request_bytes,
            max_response_bytes = limits.max_response_bytes,
            request_timeout = ?limits.request_timeout,
            max_streams_per_connection = limits.max_streams_per_connection,
            max_calls_per_connection = limits.max_calls_per_connection,
            http2_keepalive_interval = ?limits.http2_keepalive_interval,
            http2_keepalive_timeout = ?limits.http2_keepalive_timeout,
            tcp_keepalive = ?limits.tcp_keepalive,
            max_connection_age = ?limits.max_connection_age,
            max_connection_age_grace = ?limits.max_connection_age_grace,
            max_connections = limits.max_connections,
            "transport limits"
        );
        match &self.authentication {
            Authentication::Open => tracing::info!(
                "open mode: callers name themselves in x-claimdesk-user and act as chiefs"
            ),
            Authentication::Tokens(tokens) if tokens.current().is_empty() => tracing::warn!(
                tokens_file = %tokens.path().display(),
                tokens = 0,
                "callers authenticate with bearer tokens, but the tokens file lists none \
                 (allow_no_tokens): every call needing a token is refused"
            ),
            Authentication::Tokens(tokens) => tracing::info!(
                tokens_file = %tokens.path().display(),
                tokens = tokens.current().len(),
                "callers authenticate with bearer tokens"
            ),
        }
        // Dropped when `run_until` returns, however it returns, which stops
        // the reporter.
        let mut background = JoinSet::new();
        let refusals = Arc::new(Refusals::default());
        let max_connections = limits.max_connections;
        background.spawn(report_refusals(refusals.clone(), move |refused| {
            tracing::warn!(
                max_connections,
                refused,
                "connections refused: the server holds as many as --max-connections allows"
            );
        }));
        tracing::info!(%addr, "serving claimdesk.v1.ClaimService");
        let (stopping_tx, stopping) = tokio::sync::oneshot::channel::<()>();
        let stopping_desk = desk.clone();
        let serving = builder
            .layer(CatchPanicLayer::custom(panic_to_status))
            .add_service(Gated::new(health_service, &policy, &calls))
            .add_service(Gated::new(reflection_v1, &policy, &calls))
            .add_service(Gated::new(reflection_v1alpha, &policy, &calls))
            .add_service(Gated::new(claim_service, &policy, &calls))
            .serve_with_incoming_shutdown(
                // Without TCP_NODELAY the tail of each response waits for the
                // client's delayed ACK (~40 ms per call on a reused
                // connection); tonic's own nodelay and TCP keepalive settings
                // do not apply to a listener handed in, so set them here.
                admit(
                    TcpIncoming::from(self.listener)
                        .with_nodelay(Some(true))
                        .with_keepalive(limits.tcp_keepalive),
                    limits.max_connections,
                    refusals,
                ),
                async move {
                    shutdown.await;
                    tracing::info!("shutting down: finishing in-flight requests");
                    stopping_desk.begin_shutdown();
                    health
                        .set_service_status("", ServingStatus::NotServing)
                        .await;
                    health
                        .set_not_serving::<ClaimServiceServer<ClaimServiceImpl>>()
                        .await;
                    let _ = stopping_tx.send(());
                },
            );
        // Streams that never end on their own (a health Watch, later event
        // watchers) would hold a graceful shutdown forever: after the grace
        // period, they are cut.
        let grace = self.shutdown_grace;
        let grace_over = async move {
            match stopping.await {
                Ok(()) => tokio::time::sleep(grace).await,
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            served = serving => served?,
            () = grace_over => tracing::warn!(
                grace_secs = grace.as_secs_f64(),
                "calls still open after the shutdown grace period; closing them"
            ),
        }

        desk.begin_shutdown();
        failure_watch.abort();
        let _ = failure_watch.await;
        if sweeper.await.is_err() {
            tracing::error!("the lease sweeper panicked");
        }
        desk.flush().await.map_err(ServeError::FinalFlush)?;
        // Closing the store joins its committer thread and releases the
        // data directory's lock: blocking work, off the async workers.
        tokio::task::spawn_blocking(move || drop(desk))
            .await
            .map_err(|e| ServeError::FinalFlush(Error::Internal(e.to_string())))?;
        // A connection task may still hold the store for a moment after the
        // server stopped; return only once the directory is free, so a
        // restart or `audit verify` right after finds it unlocked.
        if let Some(closed) = self.store_closed
            && tokio::time::timeout(self.shutdown_grace, closed)
                .await
                .is_err()
        {
            tracing::warn!("the store was still in use after the shutdown grace period");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })
}

/// A handler that panics answers INTERNAL; the server keeps serving.
fn panic_to_status(panic: Box<dyn Any + Send + 'static>) -> http::Response<tonic::body::Body> {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "handler panicked");
    grpc::status::internal().into_http()
}

// ---------------------------------------------------------------------------
// The connection limit.

/// The connections of `incoming` that find one of `max_connections` slots
/// free; the others are reset as soon as they are accepted, and counted in
/// `refusals`.
///
/// Accepting and resetting, rather than leaving connections in the listen
/// backlog, tells a client at once that the server is full (its call fails
/// with UNAVAILABLE) instead of leaving it hanging until its deadline. The
/// check takes no lock and never waits, so the accept loop goes on at full
/// speed however many connections are refused. TLS handshakes run after
/// this (tonic wraps the admitted connection), so a connection that never
/// finishes its handshake holds a slot until it is dropped.
fn admit(
    incoming: TcpIncoming,
    max_connections: usize,
    refusals: Arc<Refusals>,
) -> impl Stream<Item = std::io::Result<Admitted>> {
    let slots = Arc::new(Semaphore::new(max_connections.min(Semaphore::MAX_PERMITS)));
    incoming.filter_map(move |accepted| match accepted {
        Err(e) => Some(Err(e)),
        Ok(stream) => match slots.clone().try_acquire_owned() {
            Ok(slot) => Some(Ok(Admitted {
                stream,
                _slot: slot,
            })),
            Err(_) => {
                refusals.note();
                // A reset rather than an orderly close: tonic clients then
                // report UNAVAILABLE (retryable), not CANCELLED, and the
                // socket skips TIME_WAIT, which a flood would fill.
                let _ = stream.set_zero_linger();
                drop(stream);
                None
            }
        },
    })
}

/// Connections refused and not reported yet: counted by the accept loop,
/// reported by [`report_refusals`].
#[derive(Debug, Default)]
struct Refusals {
    count: AtomicU64,
    /// Wakes the reporter at the first refusal after a quiet spell.
    first: Notify,
}

impl Refusals {
    fn note(&self) {
        if self.count.fetch_add(1, Ordering::Relaxed) == 0 {
            // Stores a wake-up if the reporter is not waiting yet.
            self.first.notify_one();
        }
    }
}

/// How often a flood of refused connections is reported.
const REPORT_REFUSALS_EVERY: Duration = Duration::from_secs(1);

/// Hands `report` the number of refused connections: at once for the first
/// refusal after a quiet spell, then once a second while refusals go on. A
/// flood logs one line a second, and every refusal is counted in one.
async fn report_refusals(refusals: Arc<Refusals>, mut report: impl FnMut(u64)) {
    loop {
        refusals.first.notified().await;
        loop {
            let refused = refusals.count.swap(0, Ordering::Relaxed);
            if refused == 0 {
                break;
            }
            report(refused);
            tokio::time::sleep(REPORT_REFUSALS_EVERY).await;
        }
    }
}

/// An accepted connection with the slot it holds until it is dropped (the
/// connection ended, or failed its TLS handshake).
struct Admitted {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
}

/// The peer's and local address, as for a bare `TcpStream`: what handlers
/// and TLS see of the connection does not change.
impl Connected for Admitted {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Admitted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    // hyper writes a frame's header and body in one vectored write.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

// ---------------------------------------------------------------------------
// Per-call access policy and limits.

/// The limits [`Gated`] enforces, shared by the services of one server.
struct CallLimits {
    max_request_bytes: usize,
    request_timeout: Option<Duration>,
    /// Paths (`/package.Service/Method`) of the methods that stream in
    /// either direction; the request timeout does not apply to them.
    streaming: HashSet<String>,
}

impl CallLimits {
    fn new(limits: &Limits) -> Arc<Self> {
        Arc::new(Self {
            max_request_bytes: limits.max_request_bytes,
            request_timeout: limits.request_timeout,
            streaming: grpc::served_methods()
                .into_iter()
                .filter(|m| m.streaming)
                .map(|m| m.path)
                .collect(),
        })
    }
}

/// A gRPC service whose calls first pass the access [`Policy`], then run
/// within [`CallLimits`]:
///
/// - A call the policy refuses (no or unknown token, a role that does not
///   allow the method, a method without a policy) is answered at once: its
///   handler never runs and its request is never read. An admitted call
///   runs in a span naming the caller.
/// - A unary call whose handler (reading the request included) runs longer
///   than the request timeout is dropped and answered DEADLINE_EXCEEDED.
///   Streaming methods are left alone: a `WatchClaimEvents` or health
///   `Watch` stream is meant to stay open for hours. The deadline covers
///   the handler up to its answer, so even applied to a stream it would
///   only bound the stream's start; streams are left out all the same, so
///   that this holds whatever a stream's handler does first. (tonic's
///   `Server::timeout` is not used: it answers CANCELLED, not
///   DEADLINE_EXCEEDED, and cannot leave streams out.)
/// - tonic refuses a request message larger than its decoding limit with
///   OUT_OF_RANGE; the gRPC convention, and what clients retry on, is
///   RESOURCE_EXHAUSTED, so that answer is rewritten, with an `ErrorInfo`
///   like every other error of the service.
#[derive(Clone)]
struct Gated<S> {
    inner: S,
    policy: Arc<Policy>,
    limits: Arc<CallLimits>,
}

impl<S> Gated<S> {
    fn new(inner: S, policy: &Arc<Policy>, limits: &Arc<CallLimits>) -> Self {
        Self {
            inner,
            policy: policy.clone(),
            limits: limits.clone(),
        }
    }
}

impl<S: NamedService> NamedService for Gated<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for Gated<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let span = match self.policy.admit(&mut request) {
            Ok(span) => span.unwrap_or_else(Span::none),
            Err(refusal) => return Box::pin(std::future::ready(Ok(refusal.into_http()))),
        };
        let path = request.uri().path().to_owned();
        let timeout = self
            .limits
            .request_timeout
            .filter(|_| !self.limits.streaming.contains(&path));
        let max_request_bytes = self.limits.max_request_bytes;
        let call = span.in_scope(|| self.inner.call(request));
        let gated = async move {
            let response = match timeout {
                None => call.await?,
                Some(timeout) => match tokio::time::timeout(timeout, call).await {
                    Ok(response) => response?,
                    Err(_) => {
                        tracing::warn!(
                            method = path,
                            timeout_ms = timeout.as_millis(),
                            "call ran longer than the request timeout; ended"
                        );
                        return Ok(request_timeout(timeout).into_http());
                    }
                },
            };
            if is_oversized_request(&response) {
                tracing::info!(
                    method = path,
                    max_request_bytes,
                    "request message too large; refused"
                );
                return Ok(message_too_large(max_request_bytes).into_http());
            }
            Ok(response)
        };
        Box::pin(gated.instrument(span))
    }
}

/// Whether `response` is tonic's refusal of a request message above its
/// decoding limit (the status travels in the response's extensions).
fn is_oversized_request(response: &http::Response<Body>) -> bool {
    response.extensions().get::<Status>().is_some_and(|status| {
        status.code() == Code::OutOfRange
            && status
                .message()
                .starts_with("Error, decoded message length too large")
    })
}

fn message_too_large(limit: usize) -> Status {
    grpc::status::status(
        Code::ResourceExhausted,
        "MESSAGE_TOO_LARGE",
        format!("the request message is larger than the {limit} bytes the server accepts"),
        &[("max_request_bytes", limit.to_string())],
    )
}

fn request_timeout(timeout: Duration) -> Status {
    grpc::status::status(
        Code::DeadlineExceeded,
        "REQUEST_TIMEOUT",
        format!(
            "the call ran longer than the server's request timeout ({} ms)",
            timeout.as_millis()
        ),
        &[("timeout_ms", timeout.as_millis().to_string())],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("a socket address")
    }

    #[test]
    fn loopback_addresses_are_served_without_allow_anonymous() {
        for listen in [
            "127.0.0.1:50051",
            "127.0.0.1:0",
            "127.1.2.3:50051",
            "[::1]:50051",
            "[::ffff:127.0.0.1]:50051",
        ] {
            for (authenticated, allow_anonymous) in
                [(false, false), (false, true), (true, false), (true, true)]
            {
                assert_eq!(
                    exposure(addr(listen), authenticated, allow_anonymous).expect(listen),
                    Exposure::Loopback,
                    "{listen}"
                );
            }
        }
    }

    #[test]
    fn network_addresses_are_refused_without_allow_anonymous_naming_the_address_and_flag() {
        for listen in [
            "0.0.0.0:50051",
            "0.0.0.0:0",
            "[::]:50051",
            "192.168.1.20:50051",
            "10.0.0.7:50051",
            "[2001:db8::1]:50051",
            "[::ffff:10.0.0.7]:50051",
            "128.0.0.1:50051",
        ] {
            let error = exposure(addr(listen), false, false).expect_err(listen);
            assert!(
                matches!(error, StartError::AnonymousOnNetwork { addr: a } if a == addr(listen)),
                "{listen}: {error:?}"
            );
            let message = error.to_string();
            assert!(message.contains(listen), "{message}");
            assert!(message.contains("--allow-anonymous"), "{message}");
            assert!(message.contains("not authenticated"), "{message}");
            assert!(message.contains("--tokens-file"), "{message}");
        }
    }

    #[test]
    fn network_addresses_are_served_with_tokens_or_allow_anonymous() {
        for listen in ["0.0.0.0:50051", "[::]:0", "192.168.1.20:50051"] {
            assert_eq!(
                exposure(addr(listen), false, true).expect(listen),
                Exposure::NetworkAnonymous,
                "{listen}"
            );
            for allow_anonymous in [false, true] {
                assert_eq!(
                    exposure(addr(listen), true, allow_anonymous).expect(listen),
                    Exposure::Network,
                    "{listen}"
                );
            }
        }
    }

    #[test]
    fn only_the_streaming_methods_escape_the_request_timeout() {
        let streaming = CallLimits::new(&Limits::default()).streaming.clone();
        for path in [
            "/claimdesk.v1.ClaimService/WatchClaimEvents",
            "/grpc.health.v1.Health/Watch",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ] {
            assert!(streaming.contains(path), "{path} in {streaming:?}");
        }
        assert_eq!(streaming.len(), 4, "{streaming:?}");
        for path in [
            "/claimdesk.v1.ClaimService/GetClaim",
            "/claimdesk.v1.ClaimService/SubmitClaim",
            "/grpc.health.v1.Health/Check",
        ] {
            assert!(!streaming.contains(path), "{path}");
        }
    }

    #[test]
    fn the_default_limits_are_the_documented_ones() {
        let limits = Limits::default();
        assert_eq!(limits.max_request_bytes, 1 << 20);
        assert_eq!(limits.max_response_bytes, 16 << 20);
        assert_eq!(limits.request_timeout, Some(Duration::from_secs(30)));
        assert_eq!(limits.max_streams_per_connection, 200);
        assert_eq!(limits.max_calls_per_connection, 64);
        assert_eq!(
            limits.http2_keepalive_interval,
            Some(Duration::from_secs(60))
        );
        assert_eq!(limits.http2_keepalive_timeout, Duration::from_secs(20));
        assert_eq!(limits.tcp_keepalive, Some(Duration::from_secs(60)));
        assert_eq!(limits.max_connection_age, None);
        assert_eq!(limits.max_connection_age_grace, None);
        assert_eq!(limits.max_connections, 1024);
    }

    #[tokio::test(start_paused = true)]
    async fn refused_connections_are_reported_at_once_then_once_a_second_all_counted() {
        let refusals = Arc::new(Refusals::default());
        let (tx, mut reports) = tokio::sync::mpsc::unbounded_channel();
        let start = tokio::time::Instant::now();
        let reporter = tokio::spawn(report_refusals(refusals.clone(), move |refused| {
            let _ = tx.send((tokio::time::Instant::now() - start, refused));
        }));
        for _ in 0..3 {
            refusals.note();
        }
        assert_eq!(reports.recv().await, Some((Duration::ZERO, 3)), "at once");

        // More during the next second: one line when it is over.
        tokio::time::advance(Duration::from_millis(500)).await;
        for _ in 0..1000 {
            refusals.note();
        }
        assert_eq!(reports.recv().await, Some((Duration::from_secs(1), 1000)));

        // A quiet spell logs nothing; the next refusal is reported at once.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(reports.try_recv().is_err(), "nothing to report");
        refusals.note();
        assert_eq!(reports.recv().await, Some((Duration::from_secs(6), 1)));
        reporter.abort();
    }
}
