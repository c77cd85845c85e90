//! `claimdesk backup`: a running server's desk, copied to a file; and
//! `claimdesk restore`: a data directory, or a PostgreSQL database, rebuilt
//! from such a file.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
};

use serde_json::json;

use super::{
    connect::ConnectArgs,
    error::{ClientError, EXIT_STATUS_HELP},
    output::{Format, OutputArgs, emit},
    run,
};
use crate::{
    pb,
    storage::{
        BackupSummary, RestoreError, SledStore, StoreConfig,
        backup::{self, BackupError},
        postgres::{PgStore, RestoreError as PgRestoreError},
    },
};

/// `claimdesk backup`
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_STATUS_HELP)]
pub struct BackupArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// The file to write the backup to; refused if it exists. The backup
    /// goes to a temporary file beside it, is checked whole (checksum,
    /// audit chain, one consistent copy), synced, and only then renamed to
    /// this name.
    #[arg(long)]
    pub file: PathBuf,
}

fn describe(summary: &BackupSummary) -> String {
    format!(
        "revision {}: {} claims, {} events, {} request ids, {} bytes",
        summary.revision, summary.claims, summary.events, summary.requests, summary.bytes
    )
}

/// Prints what was done (`what`, then the file or directory it was done
/// to, or the database when there is none) and what the backup holds. The
/// database is not named: its URL may hold a password.
fn print(
    format: Format,
    what: &str,
    file: Option<&Path>,
    summary: &BackupSummary,
) -> Result<(), ClientError> {
    match (format, file) {
        (Format::Human, Some(file)) => {
            emit(&format!("{what} {}: {}", file.display(), describe(summary)))
        }
        (Format::Human, None) => emit(&format!("{what} the database: {}", describe(summary))),
        (Format::Json, Some(file)) => {
            emit(&json!({ "file": file.display().to_string(), "backup": summary }).to_string())
        }
        (Format::Json, None) => emit(&json!({ "backup": summary }).to_string()),
    }
}

/// Runs `claimdesk backup`: streams BackupDesk into `--file`.
pub fn backup(args: BackupArgs) -> ExitCode {
    run(async move {
        let path = args.file;
        if path.symlink_metadata().is_ok() {
            return Err(ClientError::Usage(format!(
                "{} exists: give a new file name",
                path.display()
            )));
        }
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let cannot = |e: std::io::Error| {
            ClientError::Failed(format!("cannot write {}: {e}", path.display()))
        };
        let mut file = tempfile::Builder::new()
            .prefix(".claimdesk-backup-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(cannot)?;
        let connection = args.connect.connect().await?;
        let mut stream = connection
            .claims()
            .backup_desk(pb::BackupDeskRequest {})
            .await
            .map_err(ClientError::call("BackupDesk", &connection.server))?
            .into_inner();
        while let Some(piece) = stream
            .message()
            .await
            .map_err(ClientError::call("BackupDesk", &connection.server))?
        {
            file.write_all(&piece.data).map_err(cannot)?;
        }
        file.flush().map_err(cannot)?;
        let checked = tokio::task::spawn_blocking({
            let written = file.reopen().map_err(cannot)?;
            move || backup::check(std::io::BufReader::new(written))
        })
        .await
        .map_err(|e| ClientError::Failed(format!("the check of the backup failed: {e}")))?
        .map_err(|e| ClientError::Failed(format!("the server sent no whole backup: {e}")))?;
        file.as_file().sync_all().map_err(cannot)?;
        file.persist_noclobber(&path).map_err(|e| cannot(e.error))?;
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(cannot)?;
        print(
            args.output.output,
            "backup written to",
            Some(path.as_path()),
            &checked,
        )
    })
}

/// `claimdesk restore`
#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("target")
        .args(["data_dir", "database_url"])
        .required(true)
        .multiple(false)
))]
pub struct RestoreArgs {
    /// The data directory to rebuild; created if missing, refused unless
    /// empty. Start the server on it once the restore has finished.
    #[arg(long, env = "CLAIMDESK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Restore into this PostgreSQL database instead of a data directory
    /// (`postgres://user@host/name`, or `key=value` pairs): its tables are
    /// made if missing, and it must hold no desk yet (no claim, no event).
    /// The restore is one transaction: a server on the database sees all
    /// of it or none of it.
    #[arg(long, env = "CLAIMDESK_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The schema of the desk's tables in that database (as `serve
    /// --database-schema`; default: the connection's search path).
    #[arg(long, env = "CLAIMDESK_DATABASE_SCHEMA", requires = "database_url")]
    pub database_schema: Option<String>,
    /// The backup to restore (written by `claimdesk backup`).
    #[arg(long)]
    pub file: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Runs `claimdesk restore`. Exit status 0 once the directory or the
/// database holds the backup, durably; 1 if the backup does not check out
/// (nothing is written); 2 if the directory or the database is not empty,
/// or cannot be written.
pub fn restore(args: RestoreArgs) -> ExitCode {
    let printed = match (&args.data_dir, &args.database_url) {
        (_, Some(url)) => {
            match PgStore::restore(url, args.database_schema.as_deref(), &args.file) {
                Ok(summary) => print(args.output.output, "restored into", None, &summary),
                Err(PgRestoreError::Backup(e)) => return backup_refused(&args.file, e),
                Err(e) => {
                    eprintln!("cannot restore into the database: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        (Some(data_dir), None) => {
            let config = StoreConfig {
                cache_capacity: 64 * 1024 * 1024,
                ..StoreConfig::new(data_dir)
            };
            match SledStore::restore(&config, &args.file) {
                Ok(summary) => print(
                    args.output.output,
                    "restored into",
                    Some(data_dir.as_path()),
                    &summary,
                ),
                Err(RestoreError::Backup(e)) => return backup_refused(&args.file, e),
                Err(e) => {
                    eprintln!("cannot restore into {}: {e}", data_dir.display());
                    return ExitCode::from(2);
                }
            }
        }
        (None, None) => unreachable!("clap requires --data-dir or --database-url"),
    };
    match printed {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(2),
    }
}

/// The exit status of a restore refused for what reading `file` found: 2
/// if it cannot be read, else 1 (it is no whole, intact backup).
fn backup_refused(file: &Path, e: BackupError) -> ExitCode {
    match e {
        BackupError::Io(e) => {
            eprintln!("cannot read {}: {e}", file.display());
            ExitCode::from(2)
        }
        e => {
            eprintln!("{}: {e}; nothing was written", file.display());
            ExitCode::from(1)
        }
    }
}
