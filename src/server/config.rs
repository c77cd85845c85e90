//! What `serve` is given: the [`Config`] of `claimdesk serve` and the
//! transport [`Limits`] one caller is held to, with their defaults.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use crate::desk::DeskConfig;

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
    /// Where `GET /metrics` is served; `None`: nowhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Where a plaintext gRPC listener serves only `grpc.health.v1`;
    /// `None`: nowhere.
    pub health_listen: Option<SocketAddr>,
    /// Keep everything in this PostgreSQL database instead of the embedded
    /// store in `data_dir` (which is then not used).
    pub database: Option<Database>,
}

/// A PostgreSQL database that holds the desk.
#[derive(Clone, PartialEq, Eq)]
pub struct Database {
    /// `postgres://user:password@host:port/database?...` or a
    /// `key=value` connection string.
    pub url: String,
    /// The schema of the desk's tables; `None`: the first of the
    /// connection's search path (usually `public`).
    pub schema: Option<String>,
}

impl std::fmt::Debug for Database {
    /// Without the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("url", &crate::storage::postgres::redacted(&self.url))
            .field("schema", &self.schema)
            .finish()
    }
}

impl Config {
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

    /// Serving `data_dir` on `listen`, every other setting at its default
    /// (that of `claimdesk serve`).
    pub fn new(listen: SocketAddr, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen,
            data_dir: data_dir.into(),
            cache_capacity: crate::storage::StoreConfig::DEFAULT_CACHE_CAPACITY,
            shutdown_grace: Self::DEFAULT_SHUTDOWN_GRACE,
            desk: DeskConfig::default(),
            metrics_listen: None,
            health_listen: None,
            database: None,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
