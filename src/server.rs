//! Wiring of the server, shared by `claimdesk serve` and the tests:
//! [`Server::build`] binds the listener and opens the store;
//! [`Server::run_until`] serves until a shutdown signal.
//!
//! Shutdown sequence: the health service turns NOT_SERVING (so load
//! balancers stop sending work), the listener closes and open connections
//! get GOAWAY (no new RPCs), in-flight RPCs run to completion, then one last
//! durable flush. Only then does `run_until` return.

use std::{any::Any, future::Future, net::SocketAddr, path::PathBuf, sync::Arc};

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic_health::ServingStatus;
use tower_http::catch_panic::CatchPanicLayer;

use crate::{
    desk::Desk,
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
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

pub struct Server {
    listener: TcpListener,
    store: Arc<dyn Store>,
}

impl Server {
    /// Opens the sled store in `config.data_dir` and binds `config.listen`.
    pub async fn build(config: &Config) -> Result<Self, StartError> {
        let store_config = StoreConfig {
            path: config.data_dir.clone(),
            cache_capacity: config.cache_capacity,
        };
        let store = tokio::task::spawn_blocking(move || SledStore::open(&store_config))
            .await
            .map_err(|e| StartError::Store {
                dir: config.data_dir.clone(),
                source: Error::Internal(e.to_string()),
            })?
            .map_err(|source| StartError::Store {
                dir: config.data_dir.clone(),
                source,
            })?;
        Self::with_store(config.listen, Arc::new(store)).await
    }

    /// Serves `store`, whatever its implementation, on `listen`.
    pub async fn with_store(listen: SocketAddr, store: Arc<dyn Store>) -> Result<Self, StartError> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| StartError::Listen {
                addr: listen,
                source,
            })?;
        Ok(Self { listener, store })
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
        let desk = Desk::new(self.store);
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
        let stopping_health = health.clone();
        tonic::transport::Server::builder()
            .layer(CatchPanicLayer::custom(panic_to_status))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(ClaimServiceServer::new(ClaimServiceImpl::new(desk.clone())))
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), async move {
                shutdown.await;
                tracing::info!("shutting down: finishing in-flight requests");
                stopping_health
                    .set_service_status("", ServingStatus::NotServing)
                    .await;
                stopping_health
                    .set_not_serving::<ClaimServiceServer<ClaimServiceImpl>>()
                    .await;
            })
            .await?;
        desk.flush().await.map_err(ServeError::FinalFlush)?;
        tracing::info!("stopped");
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("transport failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("final flush failed: {0}")]
    FinalFlush(Error),
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
