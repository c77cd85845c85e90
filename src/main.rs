//! The `claimdesk` command: `claimdesk serve` runs the service; `claim`,
//! `queue`, `conflicts`, `events`, `health`, `export` and `backup` call a
//! running one; `bench` measures one; `demo` walks a story through a
//! throw-away server; `audit verify`, `restore` and `token new` work on
//! files (`restore` also on a PostgreSQL database).

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, builder::BoolishValueParser};

use claimdesk::{
    cli::inputs::DurationUnits,
    desk::DeskConfig,
    domain::Role,
    server::{
        Config, Database, Limits,
        process::{DataDir, ServeOptions, serve_until_signal},
        web::{GrpcWeb, Origin},
    },
    storage::StoreConfig,
    telemetry::{self, LogFormat},
    tls::TlsArgs,
};

#[derive(Parser)]
#[command(
    version,
    about = "A newsroom's verification queue for claims found in copy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gRPC service.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "CLAIMDESK_LISTEN", default_value = "127.0.0.1:50051")]
        listen: SocketAddr,
        /// Directory of the embedded database (created if missing).
        #[arg(long, env = "CLAIMDESK_DATA_DIR", default_value = "./claimdesk-data")]
        data_dir: PathBuf,
        /// Keep the data in a fresh temporary directory, removed when the
        /// server exits (on SIGTERM or SIGINT too): a throwaway server for
        /// tests. Refused with --data-dir or CLAIMDESK_DATA_DIR. Given on
        /// the command line only, never by the environment.
        #[arg(long, conflicts_with = "data_dir")]
        ephemeral: bool,
        /// Keep everything in this PostgreSQL database
        /// (`postgres://user:password@host:port/database`) instead of the
        /// embedded store: several servers may then serve one desk. The data
        /// directory is not used. The schema is created or migrated at
        /// start.
        #[arg(
            long,
            env = "CLAIMDESK_DATABASE_URL",
            hide_env_values = true,
            conflicts_with = "ephemeral"
        )]
        database_url: Option<String>,
        /// The schema of the desk's tables in the database (default: the
        /// first of the connection's search path, usually `public`); one
        /// database can hold several desks in different schemas.
        #[arg(long, env = "CLAIMDESK_DATABASE_SCHEMA", requires = "database_url")]
        database_schema: Option<String>,
        /// Once the server accepts calls, write the line it prints on
        /// stdout (JSON: listening, tls, data_dir, pid, version) to this
        /// file, atomically (a temporary file in the same directory, fsync,
        /// rename). A file already there is removed at start; this one is
        /// removed when the server exits on SIGTERM or SIGINT.
        #[arg(long, env = "CLAIMDESK_READY_FILE")]
        ready_file: Option<PathBuf>,
        /// Upper bound of the database cache, in bytes.
        #[arg(long, env = "CLAIMDESK_CACHE_BYTES",
              default_value_t = StoreConfig::DEFAULT_CACHE_CAPACITY)]
        cache_bytes: u64,
        /// How long a checker holds a claim in review without acting on it,
        /// e.g. `15m`, `90s`, `1h`.
        #[arg(long, env = "CLAIMDESK_LEASE", default_value = "15m", value_parser = parse_duration)]
        lease: Duration,
        /// Seconds a shutdown waits for open calls and streams to end.
        #[arg(long, env = "CLAIMDESK_SHUTDOWN_GRACE_SECS",
              default_value_t = Config::DEFAULT_SHUTDOWN_GRACE.as_secs())]
        shutdown_grace_secs: u64,
        /// Log format; filter with RUST_LOG (default `info`).
        #[arg(long, env = "CLAIMDESK_LOG_FORMAT", value_enum, default_value = "text")]
        log_format: LogFormat,
        /// The tokens file (TOML): the SHA-256 of each API token with its
        /// user and role. With it, every call needs `authorization: Bearer
        /// <token>`; without it (open mode), callers name themselves and act
        /// as chiefs. Re-read on SIGHUP. A file listing no tokens is refused
        /// (at start and on reload) unless it says `allow_no_tokens = true`.
        #[arg(long, env = "CLAIMDESK_TOKENS_FILE")]
        tokens_file: Option<PathBuf>,
        /// Listen on an address other hosts can reach although no tokens
        /// file is given (anyone can act as any user). Without it or a
        /// tokens file, `serve` only listens on loopback addresses.
        #[arg(
            long,
            env = "CLAIMDESK_ALLOW_ANONYMOUS",
            value_parser = BoolishValueParser::new(),
            default_value_t = false
        )]
        allow_anonymous: bool,
        /// Serve metrics for Prometheus (`GET /metrics`, text format, no
        /// token) on this address, a listener apart from the API's. Off
        /// without it. The metrics are counts and timings, not claims, but
        /// keep the address to the monitoring network.
        #[arg(long, env = "CLAIMDESK_METRICS_LISTEN", value_name = "ADDR")]
        metrics_listen: Option<SocketAddr>,
        /// Also serve `grpc.health.v1.Health` alone, in plaintext gRPC and
        /// without a token, on this address: for probes that cannot speak
        /// TLS (Kubernetes' gRPC probes) when the API uses it. Off without
        /// it.
        #[arg(long, env = "CLAIMDESK_HEALTH_LISTEN", value_name = "ADDR")]
        health_listen: Option<SocketAddr>,
        /// Serve gRPC-Web too, for browsers: HTTP/1.1 and HTTP/2 on the
        /// same port. Off: HTTP/2 gRPC only.
        #[arg(
            long,
            env = "CLAIMDESK_GRPC_WEB",
            value_parser = BoolishValueParser::new(),
            default_value_t = false
        )]
        grpc_web: bool,
        /// An origin (`scheme://host[:port]`, http or https, no path) whose
        /// pages may call the server with gRPC-Web across origins (CORS);
        /// repeat for more, comma-delimited in the environment. None by
        /// default: no CORS headers. `*` is refused. Needs --grpc-web.
        #[arg(
            long = "cors-allowed-origin",
            env = "CLAIMDESK_CORS_ALLOWED_ORIGINS",
            value_name = "ORIGIN",
            value_delimiter = ',',
            value_parser = Origin::parse
        )]
        cors_allowed_origins: Vec<Origin>,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        tls: TlsArgs,
    },
    /// Check the tamper-evident history.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Submit, read, list, review and rule on claims of a running server.
    Claim(claimdesk::cli::claim::ClaimArgs),
    /// Take claims from the verification queue of a running server, and its
    /// statistics.
    Queue(claimdesk::cli::queue::QueueArgs),
    /// List the open contradictions of a story of a running server, each
    /// with both claims side by side and the figures that disagree.
    Conflicts(claimdesk::cli::conflicts::ConflictsArgs),
    /// Watch the events of a running server as they happen.
    Events(claimdesk::cli::events::EventsArgs),
    /// Check that a running server is serving (grpc.health.v1).
    Health(claimdesk::cli::health::HealthArgs),
    /// Walk a short story of claims through review to each outcome, on a
    /// throw-away server, and print the commands that do it.
    Demo(claimdesk::cli::demo::DemoArgs),
    /// Measure a server: throughput and latency of each workload, as a
    /// ratio to its health check measured in the same run.
    #[command(long_about = claimdesk::cli::bench::ABOUT)]
    Bench(claimdesk::cli::bench::BenchArgs),
    /// Export the rulings of a running server.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// Copy the whole desk of a running server to a file, while it works
    /// (chief): every claim, event and request id at one revision.
    Backup(claimdesk::cli::backup::BackupArgs),
    /// Rebuild a data directory (new or empty, with no server on it), or
    /// fill a PostgreSQL database that holds no desk yet, from a backup,
    /// checked whole first.
    Restore(claimdesk::cli::backup::RestoreArgs),
}

#[derive(Subcommand)]
enum ExportCommand {
    /// Print the rulings on a story's claims as schema.org ClaimReview
    /// JSON-LD.
    Claimreview(claimdesk::cli::claimreview::ClaimReviewArgs),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a fresh random token and the line that gives it to a user in
    /// the tokens file.
    New {
        /// The user the token stands for, as the history will name them.
        #[arg(long)]
        user: String,
        /// Their role: editor, checker or chief.
        #[arg(long)]
        role: Role,
    },
}

/// Transport limits; see [`Limits`]. The defaults here must be those of
/// `Limits::default()` (a test checks).
#[derive(Args)]
struct LimitArgs {
    /// Largest request message accepted, in bytes; larger ones fail with
    /// RESOURCE_EXHAUSTED.
    #[arg(long, env = "CLAIMDESK_MAX_REQUEST_BYTES", default_value_t = 1 << 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_request_bytes: u32,
    /// Largest response message sent, in bytes; larger ones fail with
    /// OUT_OF_RANGE.
    #[arg(long, env = "CLAIMDESK_MAX_RESPONSE_BYTES", default_value_t = 16 << 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_response_bytes: u32,
    /// How long a unary call may run in the server before it fails with
    /// DEADLINE_EXCEEDED, e.g. `30s`; `off` for no limit. Streams are not
    /// limited.
    #[arg(long, env = "CLAIMDESK_REQUEST_TIMEOUT", default_value = "30s",
          value_parser = parse_duration_or_off)]
    request_timeout: DurationOrOff,
    /// Calls and streams open at once on one connection (HTTP/2
    /// SETTINGS_MAX_CONCURRENT_STREAMS).
    #[arg(long, env = "CLAIMDESK_MAX_STREAMS_PER_CONNECTION", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_streams_per_connection: u32,
    /// Calls of one connection handled at once; the others wait.
    #[arg(long, env = "CLAIMDESK_MAX_CALLS_PER_CONNECTION", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_calls_per_connection: u32,
    /// Interval of HTTP/2 PINGs checking that a peer is alive; `off` for
    /// none.
    #[arg(long, env = "CLAIMDESK_HTTP2_KEEPALIVE_INTERVAL", default_value = "60s",
          value_parser = parse_duration_or_off)]
    http2_keepalive_interval: DurationOrOff,
    /// How long a PING may go unanswered before the connection is closed.
    #[arg(long, env = "CLAIMDESK_HTTP2_KEEPALIVE_TIMEOUT", default_value = "20s",
          value_parser = parse_duration)]
    http2_keepalive_timeout: Duration,
    /// Idle time before TCP keepalive probes start; `off` for none.
    #[arg(long, env = "CLAIMDESK_TCP_KEEPALIVE", default_value = "60s",
          value_parser = parse_duration_or_off)]
    tcp_keepalive: DurationOrOff,
    /// Age after which a connection is asked to go away (GOAWAY; clients
    /// reconnect); `off` for never.
    #[arg(long, env = "CLAIMDESK_MAX_CONNECTION_AGE", default_value = "off",
          value_parser = parse_duration_or_off)]
    max_connection_age: DurationOrOff,
    /// How long calls and streams may go on after the connection's maximum
    /// age before it is closed; `off` for until they end.
    #[arg(long, env = "CLAIMDESK_MAX_CONNECTION_AGE_GRACE", default_value = "off",
          value_parser = parse_duration_or_off)]
    max_connection_age_grace: DurationOrOff,
    /// Connections open at once, over the whole server; connections beyond
    /// it are closed as soon as they are accepted (clients see UNAVAILABLE).
    /// Keep it below the open-files limit (`ulimit -n`).
    #[arg(long, env = "CLAIMDESK_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            max_request_bytes: self.max_request_bytes as usize,
            max_response_bytes: self.max_response_bytes as usize,
            request_timeout: self.request_timeout.0,
            max_streams_per_connection: self.max_streams_per_connection,
            max_calls_per_connection: self.max_calls_per_connection as usize,
            http2_keepalive_interval: self.http2_keepalive_interval.0,
            http2_keepalive_timeout: self.http2_keepalive_timeout,
            tcp_keepalive: self.tcp_keepalive.0,
            max_connection_age: self.max_connection_age.0,
            max_connection_age_grace: self.max_connection_age_grace.0,
            max_connections: self.max_connections as usize,
        }
    }
}

/// A duration, or `off` (`None`).
#[derive(Debug, Clone, Copy)]
struct DurationOrOff(Option<Duration>);

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain of every event and report the first broken link.
    /// Run it on a stopped server's data directory or on a copy of it.
    Verify {
        /// Directory of the database to check.
        #[arg(long, env = "CLAIMDESK_DATA_DIR", default_value = "./claimdesk-data")]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let matches = Cli::command()
        .try_get_matches()
        .unwrap_or_else(|e| explain_data_dir_conflict(e).exit());
    // `bench` starts a server of its own unless `--server` itself is given.
    let server_given = matches.subcommand_matches("bench").is_some_and(|bench| {
        bench.value_source("server") == Some(clap::parser::ValueSource::CommandLine)
    });
    let cli =
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut Cli::command()).exit());
    match cli.command {
        Command::Serve {
            listen,
            data_dir,
            ephemeral,
            database_url,
            database_schema,
            ready_file,
            cache_bytes,
            shutdown_grace_secs,
            lease,
            log_format,
            tokens_file,
            allow_anonymous,
            metrics_listen,
            health_listen,
            grpc_web,
            cors_allowed_origins,
            limits,
            tls,
        } => {
            telemetry::init(log_format);
            let limits = limits.limits();
            // Read and checked before anything is bound or opened.
            let tls = match tls.load() {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::error!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let grpc_web = match GrpcWeb::from_flags(grpc_web, cors_allowed_origins) {
                Ok(grpc_web) => grpc_web,
                Err(e) => {
                    tracing::error!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let options = ServeOptions {
                listen,
                data_dir: match (database_url, ephemeral) {
                    (Some(url), _) => DataDir::Database(Database {
                        url,
                        schema: database_schema,
                    }),
                    (None, true) => DataDir::Ephemeral,
                    (None, false) => DataDir::At(data_dir),
                },
                cache_capacity: cache_bytes,
                shutdown_grace: Duration::from_secs(shutdown_grace_secs),
                desk: DeskConfig { lease },
                limits,
                tokens_file,
                allow_anonymous,
                tls,
                ready_file,
                metrics_listen,
                health_listen,
                grpc_web,
            };
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(e) => {
                    tracing::error!("cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve_until_signal(options)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Audit {
            command: AuditCommand::Verify { data_dir },
        } => claimdesk::cli::audit_verify(&data_dir),
        Command::Token {
            command: TokenCommand::New { user, role },
        } => claimdesk::cli::token_new(&user, role),
        Command::Claim(args) => claimdesk::cli::claim::claim(args),
        Command::Queue(args) => claimdesk::cli::queue::queue(args),
        Command::Conflicts(args) => claimdesk::cli::conflicts::conflicts(args),
        Command::Events(args) => claimdesk::cli::events::events(args),
        Command::Health(args) => claimdesk::cli::health::health(args),
        Command::Demo(args) => claimdesk::cli::demo::demo(args),
        Command::Bench(args) => claimdesk::cli::bench::bench(args, server_given),
        Command::Export {
            command: ExportCommand::Claimreview(args),
        } => claimdesk::cli::claimreview::export(args),
        Command::Backup(args) => claimdesk::cli::backup::backup(args),
        Command::Restore(args) => claimdesk::cli::backup::restore(args),
    }
}

/// `--ephemeral` (of `serve`) or `--database-url` (of `restore`) refused
/// because `CLAIMDESK_DATA_DIR` is set: clap names `--data-dir` alone, so
/// say where the directory came from.
fn explain_data_dir_conflict(mut e: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let flag = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) if arg == "--ephemeral" => "--ephemeral",
        Some(ContextValue::String(arg)) if arg.starts_with("--database-url") => "--database-url",
        _ => return e,
    };
    if e.kind() == ErrorKind::ArgumentConflict
        && std::env::var_os("CLAIMDESK_DATA_DIR").is_some()
        && !std::env::args_os()
            .any(|a| a == "--data-dir" || a.to_string_lossy().starts_with("--data-dir="))
    {
        e.insert(
            ContextKind::Suggested,
            ContextValue::StyledStrs(vec![
                format!(
                    "the data directory comes from CLAIMDESK_DATA_DIR in the environment; \
                     unset it to use {flag}"
                )
                .into(),
            ]),
        );
    }
    e
}

/// A duration such as `90s`, `15m` or `2h` (a bare number is seconds).
fn parse_duration(raw: &str) -> Result<Duration, String> {
    const SECONDS_TO_HOURS: DurationUnits = DurationUnits {
        units: &[
            ("s", Duration::from_secs(1)),
            ("m", Duration::from_secs(60)),
            ("h", Duration::from_secs(3600)),
        ],
        bare: Duration::from_secs(1),
        examples: "90s, 15m or 2h",
        max: (Duration::from_secs(24 * 3600), "24h"),
    };
    SECONDS_TO_HOURS.parse(raw)
}

/// A duration as [`parse_duration`] reads it, or `off`.
fn parse_duration_or_off(raw: &str) -> Result<DurationOrOff, String> {
    if raw == "off" {
        return Ok(DurationOrOff(None));
    }
    parse_duration(raw)
        .map(|d| DurationOrOff(Some(d)))
        .map_err(|e| format!("{e} (or `off`)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_limits(args: &[&str]) -> Result<Limits, clap::Error> {
        let cli = Cli::try_parse_from(["claimdesk", "serve"].iter().chain(args))?;
        match cli.command {
            Command::Serve { limits, .. } => Ok(limits.limits()),
            _ => unreachable!("serve parses as serve"),
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_defaults_of_the_flags_are_the_default_limits() {
        assert_eq!(serve_limits(&[]).expect("no flags"), Limits::default());
    }

    #[test]
    fn the_metrics_and_health_listeners_are_off_unless_given_an_address() {
        let listeners = |args: &[&str]| -> Result<_, clap::Error> {
            let cli = Cli::try_parse_from(["claimdesk", "serve"].iter().chain(args))?;
            match cli.command {
                Command::Serve {
                    metrics_listen,
                    health_listen,
                    ..
                } => Ok((metrics_listen, health_listen)),
                _ => unreachable!("serve parses as serve"),
            }
        };
        assert_eq!(listeners(&[]).expect("no flags"), (None, None));
        let given = listeners(&[
            "--metrics-listen",
            "0.0.0.0:9090",
            "--health-listen",
            "[::]:8081",
        ])
        .expect("addresses");
        assert_eq!(
            given,
            (
                Some("0.0.0.0:9090".parse().expect("an address")),
                Some("[::]:8081".parse().expect("an address"))
            )
        );
        assert!(listeners(&["--metrics-listen", "localhost"]).is_err());
    }

    /// Each default is written once, as a constant; the lease is written as
    /// text for `--help` too, which must say the same.
    #[test]
    fn the_defaults_of_the_flags_are_those_of_the_desk_store_and_server() {
        let cli = Cli::try_parse_from(["claimdesk", "serve"]).expect("no flags");
        let Command::Serve {
            lease,
            cache_bytes,
            shutdown_grace_secs,
            ..
        } = cli.command
        else {
            unreachable!("serve parses as serve")
        };
        assert_eq!(lease, DeskConfig::DEFAULT_LEASE);
        assert_eq!(cache_bytes, StoreConfig::DEFAULT_CACHE_CAPACITY);
        assert_eq!(
            shutdown_grace_secs,
            Config::DEFAULT_SHUTDOWN_GRACE.as_secs()
        );
    }

    #[test]
    fn limits_can_be_set_and_turned_off() {
        let limits = serve_limits(&[
            "--max-request-bytes",
            "4096",
            "--request-timeout",
            "off",
            "--max-calls-per-connection",
            "8",
            "--max-connection-age",
            "2h",
            "--max-connection-age-grace",
            "90s",
            "--tcp-keepalive",
            "off",
            "--max-connections",
            "16",
        ])
        .expect("valid flags");
        assert_eq!(
            limits,
            Limits {
                max_request_bytes: 4096,
                request_timeout: None,
                max_calls_per_connection: 8,
                max_connection_age: Some(Duration::from_secs(7200)),
                max_connection_age_grace: Some(Duration::from_secs(90)),
                tcp_keepalive: None,
                max_connections: 16,
                ..Limits::default()
            }
        );
    }

    #[test]
    fn zero_limits_are_refused() {
        for flag in [
            "--max-request-bytes",
            "--max-streams-per-connection",
            "--max-calls-per-connection",
            "--request-timeout",
            "--max-connections",
        ] {
            assert!(serve_limits(&[flag, "0"]).is_err(), "{flag} 0");
        }
    }

    fn serve_grpc_web(args: &[&str]) -> Result<(bool, Vec<Origin>), clap::Error> {
        let cli = Cli::try_parse_from(["claimdesk", "serve"].iter().chain(args))?;
        match cli.command {
            Command::Serve {
                grpc_web,
                cors_allowed_origins,
                ..
            } => Ok((grpc_web, cors_allowed_origins)),
            _ => unreachable!("serve parses as serve"),
        }
    }

    fn origins(raw: &[&str]) -> Vec<Origin> {
        raw.iter()
            .map(|o| Origin::parse(o).expect("an origin"))
            .collect()
    }

    #[test]
    fn grpc_web_is_off_and_allows_no_origin_by_default() {
        assert_eq!(serve_grpc_web(&[]).expect("no flags"), (false, Vec::new()));
    }

    #[test]
    fn grpc_web_takes_repeated_or_comma_delimited_origins() {
        let parsed = serve_grpc_web(&[
            "--grpc-web",
            "--cors-allowed-origin",
            "https://desk.example.org",
            "--cors-allowed-origin",
            "http://localhost:5173,HTTPS://Wire.Example.org:443",
        ])
        .expect("valid flags");
        assert_eq!(
            parsed,
            (
                true,
                origins(&[
                    "https://desk.example.org",
                    "http://localhost:5173",
                    "https://wire.example.org"
                ])
            )
        );
    }

    #[test]
    fn a_wildcard_or_an_origin_with_a_path_is_refused_naming_the_flag() {
        for bad in ["*", "https://desk.example.org/app", "desk.example.org"] {
            let refused = serve_grpc_web(&["--grpc-web", "--cors-allowed-origin", bad]);
            let e = refused.expect_err(bad);
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
            assert!(e.to_string().contains("--cors-allowed-origin"), "{e}");
        }
    }

    #[test]
    fn a_restore_takes_a_data_directory_or_a_database_but_not_both() {
        let restore = |args: &[&str]| {
            let mut argv = vec!["claimdesk", "restore", "--file", "b"];
            argv.extend_from_slice(args);
            match Cli::try_parse_from(argv).map(|cli| cli.command) {
                Ok(Command::Restore(args)) => Ok((args.data_dir, args.database_url)),
                Ok(_) => unreachable!("restore parses as restore"),
                Err(e) => Err(e.kind()),
            }
        };
        assert_eq!(
            restore(&["--data-dir", "d"]),
            Ok((Some(PathBuf::from("d")), None))
        );
        assert_eq!(
            restore(&["--database-url", "postgres://desk@db/claims"]),
            Ok((None, Some("postgres://desk@db/claims".into())))
        );
        if std::env::var_os("CLAIMDESK_DATA_DIR").is_none()
            && std::env::var_os("CLAIMDESK_DATABASE_URL").is_none()
        {
            assert_eq!(
                restore(&[]),
                Err(clap::error::ErrorKind::MissingRequiredArgument)
            );
        }
        assert_eq!(
            restore(&["--data-dir", "d", "--database-url", "postgres://db"]),
            Err(clap::error::ErrorKind::ArgumentConflict)
        );
    }

    #[test]
    fn ephemeral_takes_no_data_dir_and_a_ready_file_is_optional() {
        let cli = Cli::try_parse_from(["claimdesk", "serve", "--ephemeral", "--ready-file", "r"])
            .expect("valid flags");
        let Command::Serve {
            ephemeral,
            ready_file,
            ..
        } = cli.command
        else {
            unreachable!("serve parses as serve")
        };
        assert!(ephemeral);
        assert_eq!(ready_file, Some(PathBuf::from("r")));

        let refused = Cli::try_parse_from(["claimdesk", "serve", "--ephemeral", "--data-dir", "d"]);
        assert_eq!(
            refused.err().map(|e| e.kind()),
            Some(clap::error::ErrorKind::ArgumentConflict)
        );
    }
}
