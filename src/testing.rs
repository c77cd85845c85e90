//! A claimdesk server for tests, in process: [`TestServer`].
//!
//! It serves on `127.0.0.1:<free port>` with a fresh temporary store (or
//! one the test gives), runs on a thread and Tokio runtime of its own, and
//! shuts down gracefully when dropped: the drop waits until the server has
//! stopped and its store is closed, and fails the test (panics) if the
//! server stopped with an error. So a test needs no clean-up code, a failing
//! test still frees its server, and a test in any runtime flavour (or none)
//! can use it.
//!
//! ```
//! use claimdesk::{pb, testing::TestServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = TestServer::start().await?;
//! let mut client = server.client_as("maria").await?;
//! let claim = pb::Claim {
//!     statement: "About 300 buses were taken off the coastal routes".into(),
//!     attribution: Some(pb::Attribution {
//!         source: "Transit Authority".into(),
//!         ..Default::default()
//!     }),
//!     story: "coastal-transit".into(),
//!     ..Default::default()
//! };
//! let request = pb::SubmitClaimRequest {
//!     claim: Some(claim),
//!     ..Default::default()
//! };
//! let submitted = client.submit_claim(request).await?.into_inner();
//! assert_eq!(submitted.label, "unverified (per Transit Authority)");
//! # Ok(())
//! # }
//! ```
//!
//! Without users the server runs in open mode: callers name themselves
//! (`x-claimdesk-user`, which [`TestServer::client_as`] sends) and act as
//! chiefs. With users, [`Builder::user`] gives each a token of a role;
//! [`TestServer::client_as`] sends it, [`TestServer::token`] hands it out:
//!
//! ```
//! use claimdesk::{domain::Role, pb, testing::TestServer};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = TestServer::builder()
//!     .user("maria", Role::Editor)
//!     .user("kofi", Role::Checker)
//!     .lease(Duration::from_secs(60))
//!     .start()
//!     .await?;
//! assert!(server.token("kofi").is_some_and(|t| t.starts_with("cdt_")));
//! let mut kofi = server.client_as("kofi").await?;
//! let stats = kofi.get_queue_stats(pb::GetQueueStatsRequest::default()).await?;
//! assert!(stats.into_inner().state_counts.iter().all(|c| c.count == 0));
//! // Without a token, the call is refused.
//! let mut anonymous = server.client().await?;
//! let refused = anonymous.get_queue_stats(pb::GetQueueStatsRequest::default()).await;
//! assert_eq!(refused.unwrap_err().code(), tonic::Code::Unauthenticated);
//! # Ok(())
//! # }
//! ```

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    thread,
    time::Duration,
};

use tempfile::TempDir;
use tokio::sync::oneshot;
use tonic::{
    Status,
    metadata::AsciiMetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

use crate::{
    auth::{self, Tokens},
    desk::DeskConfig,
    domain::{Role, UserName},
    error::Error,
    grpc::{
        identity::{Authentication, USER_HEADER},
        pb::claim_service_client::ClaimServiceClient,
    },
    server::{Config, Database, Limits, ServeError, Server, StartError},
    storage::{Store, postgres::ScratchSchema},
    tls::TlsConfig,
};

/// The cache of a test server's store: small, so that many can run at once.
pub const TEST_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// A client of a [`TestServer`].
pub type Client = ClaimServiceClient<Channel>;

/// A client of a [`TestServer`] that calls as one user.
pub type UserClient = ClaimServiceClient<InterceptedService<Channel, AsUser>>;

/// Sends the user's token (or, in open mode, their name) with each call.
#[derive(Clone)]
pub struct AsUser {
    key: &'static str,
    value: AsciiMetadataValue,
}

impl Interceptor for AsUser {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request.metadata_mut().insert(self.key, self.value.clone());
        Ok(request)
    }
}

/// Why [`TestServer::client_as`] has no client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to the test server: {0}")]
    Connect(#[from] tonic::transport::Error),
    #[error("{0:?} was not given a token (see Builder::user)")]
    NoToken(String),
    #[error("{0:?} cannot be sent as a user name")]
    BadName(String),
}

/// A claimdesk server running in this process; see the [module
/// docs](self).
pub struct TestServer {
    addr: SocketAddr,
    /// The data directory the server owns (removed when dropped).
    dir: Option<TempDir>,
    /// The data directory, owned or not; `None` for a store the test gave
    /// or a database.
    data_dir: Option<PathBuf>,
    /// The PostgreSQL schema of the desk, if it is kept in one.
    schema: Option<Arc<ScratchSchema>>,
    tokens: BTreeMap<String, String>,
    /// Holds the tokens file while the server runs.
    _tokens_dir: Option<TempDir>,
    /// Sends the grace period of the shutdown.
    shutdown: Option<oneshot::Sender<Duration>>,
    /// The grace period of [`TestServer::stop`].
    grace: Duration,
    thread: Option<thread::JoinHandle<Result<(), ServeError>>>,
}

/// Where the server keeps its data.
enum Data {
    Fresh,
    /// A directory of an earlier server, handed back by
    /// [`TestServer::stop`], which the new server then owns.
    Owned(TempDir),
    /// A directory the test owns.
    At(PathBuf),
    Store(Arc<dyn Store>),
    /// A fresh schema of the PostgreSQL database at this URL.
    Database(String),
    /// A schema another server of the test uses too.
    Schema(Arc<ScratchSchema>),
}

type Configure = Box<dyn FnOnce(Server) -> Server + Send>;

/// How a [`TestServer`] is set up; from [`TestServer::builder`].
#[must_use]
pub struct Builder {
    data: Data,
    desk: DeskConfig,
    limits: Limits,
    shutdown_grace: Duration,
    cache_capacity: u64,
    users: Vec<(String, Role)>,
    tls: Option<TlsConfig>,
    configure: Option<Configure>,
}

impl Builder {
    /// Serves the data left in `dir` by an earlier server (see
    /// [`TestServer::stop`]); the new server owns the directory.
    pub fn data_dir(mut self, dir: TempDir) -> Self {
        self.data = Data::Owned(dir);
        self
    }

    /// Serves the data in `path`, which the test owns (it is not removed).
    pub fn data_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.data = Data::At(path.into());
        self
    }

    /// Keeps the desk in PostgreSQL, in a fresh schema of the database at
    /// `url`, dropped when the server is (see [`TestServer::schema`] to
    /// serve it from more servers at once).
    pub fn database(mut self, url: impl Into<String>) -> Self {
        self.data = Data::Database(url.into());
        self
    }

    /// Keeps the desk in PostgreSQL, in `schema`, which other servers of
    /// the test may serve too (several replicas of one desk); dropped with
    /// the last server holding it.
    pub fn schema(mut self, schema: Arc<ScratchSchema>) -> Self {
        self.data = Data::Schema(schema);
        self
    }

    /// Serves `store`, whatever its implementation (e.g. one that injects
    /// faults).
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.data = Data::Store(store);
        self
    }

    /// How long a checker holds a claim without acting on it (by default
    /// [`DeskConfig::DEFAULT_LEASE`]).
    pub fn lease(mut self, lease: Duration) -> Self {
        self.desk.lease = lease;
        self
    }

    /// How the desk runs.
    pub fn desk(mut self, desk: DeskConfig) -> Self {
        self.desk = desk;
        self
    }

    /// The transport limits (by default [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How long the shutdown waits for open calls and streams.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Gives `user` a token of `role`; with at least one user every call
    /// needs a token ([`TestServer::token`] has them), without any the
    /// server runs in open mode (callers name themselves in
    /// `x-claimdesk-user` and act as chiefs).
    pub fn user(mut self, user: &str, role: Role) -> Self {
        self.users.push((user.to_owned(), role));
        self
    }

    /// Serves TLS only (mutual TLS if `tls` has a client CA).
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Any other setting of the [`Server`], applied last.
    pub fn configure(mut self, configure: impl FnOnce(Server) -> Server + Send + 'static) -> Self {
        self.configure = Some(Box::new(configure));
        self
    }

    /// Starts the server; it accepts calls once this returns.
    pub async fn start(self) -> Result<TestServer, StartError> {
        let scratch = |e: String| StartError::Store {
            dir: PathBuf::new(),
            source: Error::Internal(format!("cannot make a scratch schema: {e}")),
        };
        let (dir, data_dir, store, schema) = match self.data {
            Data::Fresh => {
                let dir = tempfile::tempdir().map_err(|e| temp_dir_error(&e))?;
                let path = dir.path().to_path_buf();
                (Some(dir), Some(path), None, None)
            }
            Data::Owned(dir) => {
                let path = dir.path().to_path_buf();
                (Some(dir), Some(path), None, None)
            }
            Data::At(path) => (None, Some(path), None, None),
            Data::Store(store) => (None, None, Some(store), None),
            Data::Database(url) => {
                let schema = ScratchSchema::create(&url).map_err(scratch)?;
                (None, None, None, Some(Arc::new(schema)))
            }
            Data::Schema(schema) => (None, None, None, Some(schema)),
        };
        let (tokens, tokens_dir, authentication) = tokens_for(&self.users)?;
        let config = data_dir
            .clone()
            .map(|data_dir| Config {
                cache_capacity: self.cache_capacity,
                shutdown_grace: self.shutdown_grace,
                desk: self.desk,
                ..Config::new(SocketAddr::from(([127, 0, 0, 1], 0)), data_dir)
            })
            .or_else(|| {
                schema.as_ref().map(|schema| Config {
                    shutdown_grace: self.shutdown_grace,
                    desk: self.desk,
                    database: Some(Database {
                        url: schema.url().to_owned(),
                        schema: Some(schema.name().to_owned()),
                    }),
                    ..Config::new(SocketAddr::from(([127, 0, 0, 1], 0)), PathBuf::new())
                })
            });
        let grace = self.shutdown_grace;
        let (desk, limits, tls, configure) = (self.desk, self.limits, self.tls, self.configure);
        let build = async move {
            let server = match (config, store) {
                (Some(config), _) => Server::build(&config).await?,
                (None, Some(store)) => {
                    Server::with_store(SocketAddr::from(([127, 0, 0, 1], 0)), store).await?
                }
                (None, None) => unreachable!("a test server has a directory, database or store"),
            };
            let mut server = server
                .desk_config(desk)
                .limits(limits)
                .shutdown_grace(grace)
                .authentication(authentication);
            if let Some(tls) = tls {
                server = server.tls(tls);
            }
            Ok(match configure {
                Some(configure) => configure(server),
                None => server,
            })
        };

        let (ready_tx, ready_rx) = oneshot::channel();
        let (shutdown, shutdown_rx) = oneshot::channel::<Duration>();
        let thread = thread::Builder::new()
            .name("claimdesk-test-server".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("claimdesk-test-worker")
                    .enable_all()
                    .build()
                    .map_err(ServeError::Runtime)?;
                runtime.block_on(async move {
                    let server: Server = match build.await {
                        Ok(server) => server,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return Ok(());
                        }
                    };
                    let _ = ready_tx.send(Ok(server.local_addr()));
                    // A dropped sender also stops the server, waiting for
                    // no call.
                    server
                        .serve(async move { shutdown_rx.await.unwrap_or(Duration::ZERO) })
                        .await
                })
            })
            .map_err(|e| StartError::Store {
                dir: PathBuf::new(),
                source: Error::Internal(format!("cannot start the server's thread: {e}")),
            })?;
        let addr = match ready_rx.await {
            Ok(Ok(addr)) => addr,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let outcome = thread.join();
                return Err(StartError::Store {
                    dir: data_dir.unwrap_or_default(),
                    source: Error::Internal(match outcome {
                        Ok(Err(e)) => format!("the server's runtime did not start: {e}"),
                        _ => "the server's thread ended before it served".into(),
                    }),
                });
            }
        };
        Ok(TestServer {
            addr,
            dir,
            data_dir,
            schema,
            tokens,
            _tokens_dir: tokens_dir,
            shutdown: Some(shutdown),
            grace,
            thread: Some(thread),
        })
    }
}

fn temp_dir_error(e: &std::io::Error) -> StartError {
    StartError::Store {
        dir: std::env::temp_dir(),
        source: Error::Internal(format!("cannot make a temporary directory: {e}")),
    }
}

type Issued = (BTreeMap<String, String>, Option<TempDir>, Authentication);

/// A token for each user, in a tokens file the server loads; open mode
/// without users.
fn tokens_for(users: &[(String, Role)]) -> Result<Issued, StartError> {
    if users.is_empty() {
        return Ok((BTreeMap::new(), None, Authentication::Open));
    }
    let internal = |what: String| StartError::Store {
        dir: PathBuf::new(),
        source: Error::Internal(what),
    };
    let mut tokens = BTreeMap::new();
    let mut file = String::from("[tokens]\n");
    for (user, role) in users {
        let name = UserName::parse(user).map_err(|e| internal(format!("user {user:?}: {e}")))?;
        let token = auth::new_token().map_err(|e| internal(format!("no randomness: {e}")))?;
        file.push_str(&auth::tokens_file_line(&token, &name, *role));
        file.push('\n');
        tokens.insert(user.clone(), token);
    }
    let dir = tempfile::tempdir().map_err(|e| temp_dir_error(&e))?;
    let path = dir.path().join("tokens.toml");
    std::fs::write(&path, file).map_err(|e| internal(format!("cannot write {path:?}: {e}")))?;
    let loaded = Tokens::load(&path)?;
    Ok((tokens, Some(dir), Authentication::Tokens(loaded)))
}

impl TestServer {
    /// Starts a server in open mode on a fresh temporary store.
    pub async fn start() -> Result<Self, StartError> {
        Self::builder().start().await
    }

    /// A server to set up before starting it.
    pub fn builder() -> Builder {
        Builder {
            data: Data::Fresh,
            desk: DeskConfig::default(),
            limits: Limits::default(),
            shutdown_grace: Config::DEFAULT_SHUTDOWN_GRACE,
            cache_capacity: TEST_CACHE_BYTES,
            users: Vec::new(),
            tls: None,
            configure: None,
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The data directory; `None` for a server on a store the test gave.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    /// The PostgreSQL schema the desk is kept in, if any: give it to
    /// [`Builder::schema`] to serve the same desk from another server.
    pub fn schema(&self) -> Option<Arc<ScratchSchema>> {
        self.schema.clone()
    }

    /// The token of `user` (see [`Builder::user`]).
    pub fn token(&self, user: &str) -> Option<&str> {
        self.tokens.get(user).map(String::as_str)
    }

    /// A new connection to the server.
    pub async fn client(&self) -> Result<Client, tonic::transport::Error> {
        Ok(ClaimServiceClient::new(self.channel().await?))
    }

    /// A new connection to the server that calls as `user`: with its token
    /// if the server has users (see [`Builder::user`]), by its name in open
    /// mode.
    pub async fn client_as(&self, user: &str) -> Result<UserClient, ClientError> {
        let (key, value) = if self.tokens.is_empty() {
            (USER_HEADER, user.to_owned())
        } else {
            let token = self
                .token(user)
                .ok_or_else(|| ClientError::NoToken(user.to_owned()))?;
            ("authorization", format!("Bearer {token}"))
        };
        let value = value
            .parse()
            .map_err(|_| ClientError::BadName(user.to_owned()))?;
        let channel = self.channel().await?;
        Ok(ClaimServiceClient::with_interceptor(
            channel,
            AsUser { key, value },
        ))
    }

    /// A new channel to the server (for the health and reflection clients,
    /// or a client with interceptors).
    pub async fn channel(&self) -> Result<Channel, tonic::transport::Error> {
        Endpoint::from_shared(self.url())?.connect().await
    }

    /// Shuts the server down gracefully and waits until it has stopped and
    /// closed its store; hands back the data directory it owned, to start
    /// another server on (see [`Builder::data_dir`]).
    pub async fn stop(mut self) -> Result<Option<TempDir>, ServeError> {
        let outcome = self.shut_down(self.grace);
        let waited = tokio::task::spawn_blocking(outcome).await;
        let result = waited.unwrap_or_else(|e| Err(ServeError::Runtime(std::io::Error::other(e))));
        result.map(|()| self.dir.take())
    }

    /// Stops the server, and starts another on the data it owned (its
    /// directory, or its PostgreSQL schema) with the same settings as a
    /// fresh [`TestServer::builder`].
    pub async fn restart(self) -> Result<Self, StartError> {
        if let Some(schema) = self.schema.clone() {
            self.stop().await.map_err(|e| StartError::Store {
                dir: PathBuf::new(),
                source: Error::Internal(format!("the server stopped with an error: {e}")),
            })?;
            return Self::builder().schema(schema).start().await;
        }
        let dir = self
            .stop()
            .await
            .map_err(|e| StartError::Store {
                dir: PathBuf::new(),
                source: Error::Internal(format!("the server stopped with an error: {e}")),
            })?
            .expect("only a server that owns its data directory can restart");
        Self::builder().data_dir(dir).start().await
    }

    /// Asks the server to stop, waiting up to `grace` for open calls and
    /// streams; the returned closure waits until it has stopped.
    fn shut_down(
        &mut self,
        grace: Duration,
    ) -> impl FnOnce() -> Result<(), ServeError> + Send + 'static {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(grace);
        }
        let thread = self.thread.take();
        move || match thread.map(thread::JoinHandle::join) {
            None => Ok(()),
            Some(Ok(result)) => result,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // The test is over: nothing will read what open calls and streams
        // would still send, and the clients' connections may be driven by
        // the very thread this drop blocks.
        let result = self.shut_down(Duration::ZERO)();
        if let Err(e) = result
            && !thread::panicking()
        {
            panic!("the test server stopped with an error: {e}");
        }
    }
}
