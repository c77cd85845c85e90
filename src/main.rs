//! The `claimdesk` command: `claimdesk serve` runs the service.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};

use claimdesk::{
    desk::DeskConfig,
    server::{Config, Server},
    telemetry::{self, LogFormat},
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
        /// Upper bound of the database cache, in bytes.
        #[arg(long, env = "CLAIMDESK_CACHE_BYTES", default_value_t = 1 << 30)]
        cache_bytes: u64,
        /// How long a checker holds a claim in review without acting on it,
        /// e.g. `15m`, `90s`, `1h`.
        #[arg(long, env = "CLAIMDESK_LEASE", default_value = "15m", value_parser = parse_duration)]
        lease: Duration,
        /// Seconds a shutdown waits for open calls and streams to end.
        #[arg(long, env = "CLAIMDESK_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
        shutdown_grace_secs: u64,
        /// Log format; filter with RUST_LOG (default `info`).
        #[arg(long, env = "CLAIMDESK_LOG_FORMAT", value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// Check the tamper-evident history.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

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
    match Cli::parse().command {
        Command::Serve {
            listen,
            data_dir,
            cache_bytes,
            shutdown_grace_secs,
            lease,
            log_format,
        } => {
            telemetry::init(log_format);
            let config = Config {
                listen,
                data_dir,
                cache_capacity: cache_bytes,
                shutdown_grace: Duration::from_secs(shutdown_grace_secs),
                desk: DeskConfig { lease },
            };
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(e) => {
                    tracing::error!("cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve_until_signal(&config)) {
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
    }
}

async fn serve_until_signal(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::build(config).await?;
    server.run_until(shutdown_signal()).await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        _ = term.recv() => tracing::info!("SIGTERM received"),
    }
}

/// A duration such as `90s`, `15m` or `2h` (a bare number is seconds).
fn parse_duration(raw: &str) -> Result<Duration, String> {
    let (number, unit) = raw
        .find(|c: char| !c.is_ascii_digit())
        .map_or((raw, "s"), |i| raw.split_at(i));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration like 90s, 15m or 2h"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("{raw:?}: the unit must be s, m or h")),
    };
    if seconds == 0 {
        return Err("must be longer than zero".into());
    }
    if seconds > 24 * 60 * 60 {
        return Err("must be at most 24h".into());
    }
    Ok(Duration::from_secs(seconds))
}
