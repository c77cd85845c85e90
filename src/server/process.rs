//! `claimdesk serve` as a process: where its data lives (a directory given,
//! or a temporary one with `--ephemeral`), who its callers are, the
//! announcement once it accepts calls, and the signals that stop it.
//!
//! SIGINT and SIGTERM are caught before anything is created, so a signal
//! that arrives at any point after that (even during start-up, or right
//! after the announcement) stops the server cleanly: the ready file is
//! removed and the ephemeral data directory deleted.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use tokio::signal::unix::{Signal, SignalKind, signal};

use super::{
    Config, Database, Exposure, Limits, Server,
    announce::{self, AnnounceError, Announcement, ReadyFile},
    authentication, exposure,
    web::GrpcWeb,
};
use crate::{desk::DeskConfig, storage::postgres, tls::TlsConfig};

/// Where `serve` keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataDir {
    /// This directory, created if missing, kept at exit.
    At(PathBuf),
    /// A fresh temporary directory, removed at exit.
    Ephemeral,
    /// A PostgreSQL database; no directory.
    Database(Database),
}

/// Everything `claimdesk serve` was asked to do.
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub data_dir: DataDir,
    pub cache_capacity: u64,
    pub shutdown_grace: Duration,
    pub desk: DeskConfig,
    pub limits: Limits,
    /// The tokens file; `None`: open mode.
    pub tokens_file: Option<PathBuf>,
    /// Serve unauthenticated callers on a non-loopback address.
    pub allow_anonymous: bool,
    pub tls: Option<TlsConfig>,
    /// Where to write the announcement once the server accepts calls.
    pub ready_file: Option<PathBuf>,
    /// Where to serve `GET /metrics`, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Where to serve plaintext gRPC health alone, if anywhere.
    pub health_listen: Option<SocketAddr>,
    /// gRPC-Web too (`--grpc-web`); `None`: HTTP/2 gRPC only.
    pub grpc_web: Option<GrpcWeb>,
}

/// Runs `serve` until SIGINT or SIGTERM, then stops it gracefully, removes
/// the ready file and, with `--ephemeral`, the data directory.
pub async fn serve_until_signal(options: ServeOptions) -> Result<(), Box<dyn std::error::Error>> {
    let stop =
        StopSignals::install().map_err(|e| format!("cannot catch SIGINT and SIGTERM: {e}"))?;
    // Decided before anything is bound or opened.
    let exposure = exposure(
        options.listen,
        options.tokens_file.is_some(),
        options.allow_anonymous,
    )?;
    let authentication = authentication(options.tokens_file)?;
    let ready_file = options.ready_file.map(ReadyFile::claim).transpose()?;
    let (data_dir, ephemeral, database) = match options.data_dir {
        DataDir::At(dir) => (dir, None, None),
        DataDir::Database(database) => {
            tracing::info!(
                database = %postgres::redacted(&database.url),
                schema = database.schema.as_deref().unwrap_or("(the search path's)"),
                "the desk is kept in PostgreSQL"
            );
            (PathBuf::new(), None, Some(database))
        }
        DataDir::Ephemeral => {
            let dir = tempfile::Builder::new()
                .prefix("claimdesk-ephemeral-")
                .tempdir()
                .map_err(|e| format!("cannot make a temporary data directory: {e}"))?;
            tracing::info!(
                data_dir = %dir.path().display(),
                "ephemeral: the data is kept in a temporary directory removed at exit"
            );
            (dir.path().to_path_buf(), Some(dir), None)
        }
    };
    let announced_database = database.as_ref().map(|d| postgres::redacted(&d.url));
    let config = Config {
        listen: options.listen,
        data_dir: data_dir.clone(),
        cache_capacity: options.cache_capacity,
        shutdown_grace: options.shutdown_grace,
        desk: options.desk,
        metrics_listen: options.metrics_listen,
        health_listen: options.health_listen,
        database,
    };
    let (limits, tls, grpc_web) = (options.limits, options.tls, options.grpc_web);
    let speaks_tls = tls.is_some();
    let configure = move |mut server: Server| {
        server = server.limits(limits).authentication(authentication);
        if let Some(tls) = tls {
            server = server.tls(tls);
        }
        if let Some(web) = grpc_web {
            server = server.grpc_web(web);
        }
        server
    };
    let served = serve(config, configure, exposure, stop, {
        let ready_file = ready_file.clone();
        move |addr| {
            let announcement = match announced_database {
                Some(database) => Announcement::in_database(addr, speaks_tls, Some(database)),
                None => Announcement::new(addr, speaks_tls, &data_dir)?,
            };
            announce::announce(&announcement, ready_file.as_ref())
        }
    })
    .await;
    // The store is closed once `serve` returns, however it returns.
    if let Some(ready_file) = ready_file {
        ready_file.remove();
    }
    if let Some(dir) = ephemeral {
        let path = dir.path().to_path_buf();
        if let Err(e) = dir.close() {
            tracing::warn!(
                data_dir = %path.display(),
                "cannot remove the ephemeral data directory: {e}"
            );
        }
    }
    served
}

/// Builds the server on `config`, set up by `configure`, and serves it
/// until `stop`; `on_ready` is given the bound address.
async fn serve(
    config: Config,
    configure: impl FnOnce(Server) -> Server,
    exposure: Exposure,
    stop: StopSignals,
    on_ready: impl FnOnce(SocketAddr) -> Result<(), AnnounceError> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error>> {
    let server = configure(Server::build(&config).await?);
    if exposure == Exposure::NetworkAnonymous {
        tracing::warn!(
            addr = %server.local_addr(),
            "callers are not authenticated: anyone who can reach this address can act as \
             any user (--allow-anonymous without --tokens-file)"
        );
    }
    server.on_ready(on_ready).run_until(stop.wait()).await?;
    Ok(())
}

/// SIGINT and SIGTERM, caught from the moment they are installed.
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    fn install() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Resolves on the first SIGINT or SIGTERM received since
    /// [`StopSignals::install`].
    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => tracing::info!("SIGINT received"),
            _ = self.terminate.recv() => tracing::info!("SIGTERM received"),
        }
    }
}
