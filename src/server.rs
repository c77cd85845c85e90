//! Wiring of the server, shared by `claimdesk serve` and the tests:
//! [`Server::build`] binds the listener and opens the store;
//! [`Server::run_until`] serves until a shutdown signal.
//!
//! Shutdown sequence: the health service turns NOT_SERVING (so load
//! balancers stop sending work), the listener closes and open connections
//! get GOAWAY (no new RPCs), in-flight RPCs run to completion (streams that
//! outlive the grace period are cut), then one last durable flush and the
//! store is closed. Only then does `run_until` return.

use std::{any::Any, future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tower_http::catch_panic::CatchPanicLayer;

use crate::{
    desk::{Desk, DeskConfig},
    error::Error,
    grpc::{self, ClaimServiceImpl, pb::claim_service_server::ClaimServiceServer},
    storage::{SledStore, Store, StoreConfig},
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

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the data directory {dir}: {source}")]
    Store { dir: PathBuf, source: Error },
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
}

impl Server {
    /// Binds `config.listen`, then opens the sled store in
    /// `config.data_dir` (binding first: a taken port is reported before
    /// the database is touched).
    pub async fn build(config: &Config) -> Result<Self, StartError> {
        let listener = bind(config.listen).await?;
        let store_config = StoreConfig {
            path: config.data_dir.clone(),
            cache_capacity: config.cache_capacity,
        };
        let store_error = |source| StartError::Store {
            dir: config.data_dir.clone(),
            source,
        };
        let store = tokio::task::spawn_blocking(move || SledStore::open(&store_config))
            .await
            .map_err(|e| store_error(Error::Internal(e.to_string())))?
            .map_err(store_error)?;
        Ok(Self {
            listener,
            store: Arc::new(store),
            shutdown_grace: config.shutdown_grace,
            desk: config.desk,
        })
    }

    /// Serves `store`, whatever its implementation, on `listen`.
    pub async fn with_store(listen: SocketAddr, store: Arc<dyn Store>) -> Result<Self, StartError> {
        Ok(Self {
            listener: bind(listen).await?,
            store,
            shutdown_grace: Config::DEFAULT_SHUTDOWN_GRACE,
            desk: DeskConfig::default(),
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

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then shuts down gracefully.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
        let addr = self.local_addr();
        let desk = Desk::new(self.store, self.desk);
        let sweeper = tokio::spawn(desk.clone().run_lease_sweeper());
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<ClaimServiceServer<ClaimServiceImpl>>()
            .await;

        // v1 for current clients, v1alpha for grpcurl 1.8 and older tools.
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(grpc::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection().build_v1()?;
        let reflection_v1alpha = reflection().build_v1alpha()?;

        tracing::info!(%addr, "serving claimdesk.v1.ClaimService");
        let (stopping_tx, stopping) = tokio::sync::oneshot::channel::<()>();
        let stopping_desk = desk.clone();
        let serving = tonic::transport::Server::builder()
            .layer(CatchPanicLayer::custom(panic_to_status))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(ClaimServiceServer::new(ClaimServiceImpl::new(desk.clone())))
            .serve_with_incoming_shutdown(
                // Without TCP_NODELAY the tail of each response waits for the
                // client's delayed ACK (~40 ms per call on a reused
                // connection); tonic's own nodelay setting does not apply to
                // a listener handed in, so set it here.
                TcpIncoming::from(self.listener).with_nodelay(Some(true)),
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
        if sweeper.await.is_err() {
            tracing::error!("the lease sweeper panicked");
        }
        desk.flush().await.map_err(ServeError::FinalFlush)?;
        // Closing the store joins its committer thread and releases the
        // data directory's lock: blocking work, off the async workers.
        tokio::task::spawn_blocking(move || drop(desk))
            .await
            .map_err(|e| ServeError::FinalFlush(Error::Internal(e.to_string())))?;
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
