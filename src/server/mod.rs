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
//! [`exposure()`] decides whether `serve` may listen on an address: without
//! tokens callers are not authenticated, so only loopback unless the
//! operator says otherwise.
//!
//! The parts, one file each: `config` ([`Config`], [`Limits`] and their
//! defaults), `exposure` (the open-mode guard), `connections` (the
//! connection limit), `gate` (the access policy and limits every call
//! passes, and the panic guard), `tokens` ([`authentication()`]: the
//! tokens file, reloaded on SIGHUP), `errors` ([`StartError`],
//! [`ServeError`]), `announce` (the line saying where the server accepts
//! calls, on stdout and in the ready file), `process` (`claimdesk serve`:
//! its data directory, possibly ephemeral, and the signals that stop it),
//! `web` ([`web::GrpcWeb`]: gRPC-Web and CORS); this file builds the server
//! and runs it until shutdown.

pub mod announce;
mod config;
mod connections;
mod errors;
mod exposure;
mod gate;
pub mod metrics;
pub mod process;
mod tokens;
pub mod web;

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use tokio::{net::TcpListener, task::JoinSet};
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tower_http::catch_panic::CatchPanicLayer;

use self::announce::AnnounceError;
pub use self::{
    config::{Config, Database, Limits},
    errors::{ServeError, StartError},
    exposure::{Exposure, exposure},
    tokens::authentication,
};
use self::{
    connections::{Refusals, admit, report_refusals},
    gate::{CallLimits, Gated, panic_to_status},
    metrics::{Metrics, Sources, rpc::RpcMetricsLayer},
    web::{GrpcWeb, WebLayer},
};
use crate::{
    desk::{DEFAULT_PAGE_BYTES, Desk, DeskConfig},
    error::Error,
    grpc::{
        self, ClaimServiceImpl, identity::Authentication,
        pb::claim_service_server::ClaimServiceServer, policy::Policy,
    },
    storage::{
        SledStore, Store, StoreConfig,
        postgres::{self, PgStore},
    },
    tls::TlsConfig,
};

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
    /// Told once the server accepts calls.
    on_ready: Option<OnReady>,
    metrics: Arc<Metrics>,
    /// Where `GET /metrics` is served, if anywhere.
    metrics_listener: Option<std::net::TcpListener>,
    /// Where plaintext gRPC health alone is served, if anywhere.
    health_listener: Option<std::net::TcpListener>,
    /// gRPC-Web too; `None`: HTTP/2 gRPC only.
    grpc_web: Option<GrpcWeb>,
}

/// Keeps health in step with the store: NOT_SERVING while its database
/// cannot be reached (`reachable`, if the store says), and for good once
/// it has failed for good. Aborted when the server shuts down (which says
/// NOT_SERVING itself).
async fn watch_store(
    desk: Desk,
    health: tonic_health::server::HealthReporter,
    mut reachable: Option<tokio::sync::watch::Receiver<bool>>,
) {
    let failed = desk.store_failed();
    tokio::pin!(failed);
    let mut serving = true;
    loop {
        let now = match reachable.as_mut() {
            None => {
                (&mut failed).await;
                break;
            }
            Some(watch) => {
                tokio::select! {
                    () = &mut failed => break,
                    changed = watch.changed() => {
                        if changed.is_err() {
                            reachable = None;
                            continue;
                        }
                        *watch.borrow_and_update()
                    }
                }
            }
        };
        if now == serving {
            continue;
        }
        serving = now;
        let status = if serving {
            tracing::info!("the database answers again: health is SERVING");
            ServingStatus::Serving
        } else {
            tracing::warn!("the database cannot be reached: health is NOT_SERVING until it can");
            ServingStatus::NotServing
        };
        health.set_service_status("", status).await;
        health
            .set_service_status(
                <ClaimServiceServer<ClaimServiceImpl> as tonic::server::NamedService>::NAME,
                status,
            )
            .await;
    }
    tracing::error!("storage failed: health is NOT_SERVING until the server is restarted");
    health
        .set_service_status("", ServingStatus::NotServing)
        .await;
    health
        .set_not_serving::<ClaimServiceServer<ClaimServiceImpl>>()
        .await;
}

/// What [`Server::on_ready`] runs, given the bound address.
pub type OnReady = Box<dyn FnOnce(SocketAddr) -> Result<(), AnnounceError> + Send>;

impl Server {
    /// Binds `config.listen`, then opens the store: in `config.database`
    /// if given, else the sled store in `config.data_dir` (binding first: a
    /// taken port is reported before the database is touched).
    pub async fn build(config: &Config) -> Result<Self, StartError> {
        let listener = bind(config.listen).await?;
        let metrics_listener = config.metrics_listen.map(bind_std).transpose()?;
        let health_listener = config.health_listen.map(bind_std).transpose()?;
        let metrics = Metrics::new();
        let (store, store_closed): (Arc<dyn Store>, _) = match &config.database {
            Some(database) => {
                let opened = {
                    let database = database.clone();
                    tokio::task::spawn_blocking(move || {
                        PgStore::open(&database.url, database.schema.as_deref())
                    })
                    .await
                };
                let database_error = |source| StartError::Database {
                    database: postgres::redacted(&database.url),
                    source,
                };
                let store = opened
                    .map_err(|e| {
                        database_error(postgres::OpenError::Pool(format!(
                            "the task opening the store failed: {e}"
                        )))
                    })?
                    .map_err(database_error)?;
                (Arc::new(store), None)
            }
            None => {
                let store_config = StoreConfig {
                    cache_capacity: config.cache_capacity,
                    observer: Some(metrics.flush_observer()),
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
                let closed = store.on_close();
                (Arc::new(store), closed)
            }
        };
        Ok(Self {
            store_closed,
            metrics,
            metrics_listener,
            health_listener,
            ..Self::serving(listener, store)
        }
        .shutdown_grace(config.shutdown_grace)
        .desk_config(config.desk))
    }

    /// Serves `store`, whatever its implementation, on `listen`.
    pub async fn with_store(listen: SocketAddr, store: Arc<dyn Store>) -> Result<Self, StartError> {
        Ok(Self::serving(bind(listen).await?, store))
    }

    /// A server of `store` on `listener` with every default.
    fn serving(listener: TcpListener, store: Arc<dyn Store>) -> Self {
        Self {
            listener,
            store,
            shutdown_grace: Config::DEFAULT_SHUTDOWN_GRACE,
            desk: DeskConfig::default(),
            limits: Limits::default(),
            authentication: Authentication::Open,
            store_closed: None,
            tls: None,
            on_ready: None,
            metrics: Metrics::new(),
            metrics_listener: None,
            health_listener: None,
            grpc_web: None,
        }
    }

    /// Serves `GET /metrics` (Prometheus text format, no token) on
    /// `listener`. Durable flushes are measured only for the store
    /// [`Server::build`] opens.
    pub fn metrics_listener(mut self, listener: std::net::TcpListener) -> Self {
        self.metrics_listener = Some(listener);
        self
    }

    /// Serves `grpc.health.v1.Health` alone, in plaintext gRPC, no token,
    /// on `listener` too: for probes that cannot speak TLS (Kubernetes'
    /// gRPC probes), or from another network than the API's.
    pub fn health_listener(mut self, listener: std::net::TcpListener) -> Self {
        self.health_listener = Some(listener);
        self
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

    /// Serves gRPC-Web as well, over HTTP/1.1 and HTTP/2, with CORS for
    /// `web`'s allowed origins; every call still passes the gate.
    pub fn grpc_web(mut self, web: GrpcWeb) -> Self {
        self.grpc_web = Some(web);
        self
    }

    /// Runs `on_ready` once the server accepts calls (everything is set up
    /// and the listener is about to be served). If it fails, the server
    /// shuts down gracefully straight away and `run_until` returns its
    /// error.
    pub fn on_ready(
        mut self,
        on_ready: impl FnOnce(SocketAddr) -> Result<(), AnnounceError> + Send + 'static,
    ) -> Self {
        self.on_ready = Some(Box::new(on_ready));
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
        let grace = self.shutdown_grace;
        self.serve(async move {
            shutdown.await;
            grace
        })
        .await
    }

    /// Serves until `shutdown` resolves to how long this shutdown waits for
    /// open calls and streams (a server whose callers are gone, such as a
    /// dropped [`crate::testing::TestServer`], waits for none).
    pub(crate) async fn serve(
        self,
        shutdown: impl Future<Output = Duration>,
    ) -> Result<(), ServeError> {
        let addr = self.local_addr();
        let limits = self.limits;
        // Pages read at most this many stored bytes (bounded work); the
        // service then ends them by their encoded size before the
        // response limit.
        let page_bytes = (limits.max_response_bytes / 2).min(DEFAULT_PAGE_BYTES);
        let reachable = self.store.reachable();
        let desk = Desk::new(self.store, self.desk).with_page_bytes(page_bytes);
        let sweeper = tokio::spawn(desk.clone().run_lease_sweeper());
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<ClaimServiceServer<ClaimServiceImpl>>()
            .await;
        // A store whose database cannot be reached serves nothing until it
        // can; one that failed for good refuses every write until
        // restarted: tell load balancers and orchestrators to stop sending
        // work.
        let failure_watch = tokio::spawn(watch_store(desk.clone(), health.clone(), reachable));

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
        let claim_service = ClaimServiceServer::new(
            ClaimServiceImpl::new(desk.clone(), self.authentication.clone())
                .max_response_bytes(limits.max_response_bytes),
        )
        .max_decoding_message_size(limits.max_request_bytes)
        .max_encoding_message_size(limits.max_response_bytes);
        let health_service = health_service
            .max_decoding_message_size(limits.max_request_bytes)
            .max_encoding_message_size(limits.max_response_bytes);
        let health_only = health_service.clone();
        let metrics_listener = self.metrics_listener;
        let rpc_metrics =
            RpcMetricsLayer(metrics_listener.is_some().then(|| self.metrics.rpc.clone()));
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
        GrpcWeb::log_mode(self.grpc_web.as_ref(), self.tls.is_some());

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
        // The metrics and health listeners stop once the API has.
        let (side_stop_tx, side_stop) = tokio::sync::watch::channel(false);
        let side_stopped = move || {
            let mut stop = side_stop.clone();
            async move {
                let _ = stop.wait_for(|stop| *stop).await;
            }
        };
        if let Some(listener) = metrics_listener {
            let at = listener.local_addr().ok();
            let sources = Sources {
                desk: desk.clone(),
                policy: policy.clone(),
            };
            let serving = metrics::serve(listener, self.metrics.clone(), sources, side_stopped());
            background.spawn(async move {
                if let Err(e) = serving.await {
                    tracing::error!(addr = ?at, "the metrics listener failed: {e}");
                }
            });
            tracing::info!(addr = ?at, "serving metrics: GET /metrics");
        }
        if let Some(listener) = self.health_listener {
            let at = listener.local_addr().ok();
            let serving = serve_health(
                listener,
                Gated::new(health_only, &policy, &calls),
                side_stopped(),
            );
            background.spawn(async move {
                if let Err(e) = serving.await {
                    tracing::error!(addr = ?at, "the health listener failed: {e}");
                }
            });
            tracing::info!(addr = ?at, "serving grpc.health.v1 alone, in plaintext");
        }
        tracing::info!(%addr, "serving claimdesk.v1.ClaimService");
        let announced = self.on_ready.map_or(Ok(()), |on_ready| on_ready(addr));
        let announce_failed = announced.is_err();
        let (stopping_tx, stopping) = tokio::sync::oneshot::channel::<Duration>();
        let stopping_desk = desk.clone();
        let serving = builder
            .accept_http1(self.grpc_web.is_some())
            // Outside the panic guard, so that its answer is translated too.
            .layer(WebLayer::new(self.grpc_web.as_ref()))
            .layer(rpc_metrics)
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
                    // Not announced: stop at once, before any call.
                    let grace = if announce_failed {
                        Duration::ZERO
                    } else {
                        shutdown.await
                    };
                    tracing::info!("shutting down: finishing in-flight requests");
                    stopping_desk.begin_shutdown();
                    health
                        .set_service_status("", ServingStatus::NotServing)
                        .await;
                    health
                        .set_not_serving::<ClaimServiceServer<ClaimServiceImpl>>()
                        .await;
                    let _ = stopping_tx.send(grace);
                },
            );
        // Streams that never end on their own (a health Watch, later event
        // watchers) would hold a graceful shutdown forever: after the grace
        // period, they are cut.
        let grace = std::sync::OnceLock::new();
        let grace_over = async {
            match stopping.await {
                Ok(given) => tokio::time::sleep(*grace.get_or_init(|| given)).await,
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            served = serving => served?,
            () = grace_over => tracing::warn!(
                grace_secs = grace.get().map_or(0.0, Duration::as_secs_f64),
                "calls still open after the shutdown grace period; closing them"
            ),
        }
        let grace = grace.get().copied().unwrap_or(self.shutdown_grace);

        let _ = side_stop_tx.send(true);
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
            && tokio::time::timeout(grace, closed).await.is_err()
        {
            tracing::warn!("the store was still in use after the shutdown grace period");
        }
        tracing::info!("stopped");
        announced.map_err(ServeError::Announce)
    }
}

/// Binds a listener served later (metrics, health).
fn bind_std(addr: SocketAddr) -> Result<std::net::TcpListener, StartError> {
    std::net::TcpListener::bind(addr).map_err(|source| StartError::Listen { addr, source })
}

/// Serves `health` alone on `listener`, in plaintext, until `stop`.
async fn serve_health<S>(
    listener: std::net::TcpListener,
    health: S,
    stop: impl Future<Output = ()>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    S: tonic::codegen::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    /// Probes, not clients: a few connections at a time.
    const MAX_CONNECTIONS: usize = 64;
    tonic::transport::Server::builder()
        .add_service(health)
        .serve_with_incoming_shutdown(
            admit(
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                MAX_CONNECTIONS,
                Arc::new(Refusals::default()),
            ),
            stop,
        )
        .await?;
    Ok(())
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })
}
