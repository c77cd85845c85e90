//! How `claimdesk serve` tells whoever started it that it accepts calls:
//! one JSON line on stdout ([`Announcement`]) and, if asked, the same line
//! in a ready file written atomically ([`ReadyFile`]).
//!
//! The line is a stable interface for programs that start the server (test
//! fixtures of other projects): its fields are only ever added to, never
//! renamed, removed or given another meaning.

use std::{
    fs::File,
    io::{self, Write},
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::Serialize;

/// What `serve` announces once it accepts calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Announcement {
    /// The address bound, with the port the system chose for port 0: a
    /// gRPC target as is (`127.0.0.1:41234`, `[::1]:41234`).
    pub listening: SocketAddr,
    /// Whether the server speaks TLS (`https://`) rather than plaintext.
    pub tls: bool,
    /// The data directory in use, absolute (the temporary one with
    /// `--ephemeral`); `null` when the desk is kept in PostgreSQL.
    pub data_dir: Option<PathBuf>,
    /// The PostgreSQL database that keeps the desk, without its password
    /// (`postgres://user@host:port/database`); `null` for the embedded
    /// store.
    pub database: Option<String>,
    /// The server's process id, to signal it (SIGTERM stops it cleanly).
    pub pid: u32,
    /// The version of claimdesk.
    pub version: &'static str,
}

impl Announcement {
    /// The announcement of this process serving on `listening` with its data
    /// in `data_dir` (made absolute against the working directory).
    pub fn new(listening: SocketAddr, tls: bool, data_dir: &Path) -> Result<Self, AnnounceError> {
        let data_dir = std::path::absolute(data_dir).map_err(|source| AnnounceError::DataDir {
            dir: data_dir.to_path_buf(),
            source,
        })?;
        Ok(Self {
            data_dir: Some(data_dir),
            ..Self::in_database(listening, tls, None)
        })
    }

    /// The announcement of this process serving on `listening` with its data
    /// in the PostgreSQL database `database` (named without its password).
    pub fn in_database(listening: SocketAddr, tls: bool, database: Option<String>) -> Self {
        Self {
            listening,
            tls,
            data_dir: None,
            database,
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// The announcement as one line of JSON, newline included.
    pub fn line(&self) -> Result<String, AnnounceError> {
        let mut line = serde_json::to_string(self).map_err(|source| AnnounceError::Encode {
            dir: self.data_dir.clone().unwrap_or_default(),
            source,
        })?;
        line.push('\n');
        Ok(line)
    }
}

/// Why the announcement could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    #[error("cannot make the data directory {dir} absolute: {source}")]
    DataDir { dir: PathBuf, source: io::Error },
    /// JSON carries only UTF-8 text: a path that is not cannot be announced.
    #[error("cannot announce the data directory {dir} in JSON: {source}")]
    Encode {
        dir: PathBuf,
        source: serde_json::Error,
    },
    #[error("the ready file {path} has no parent directory to write it in")]
    ReadyFileDirectory { path: PathBuf },
    #[error("cannot write the ready file {path}: {source}")]
    ReadyFile { path: PathBuf, source: io::Error },
}

/// The ready file of `serve --ready-file PATH`.
///
/// It appears whole or not at all: the line is written to a temporary file
/// in the same directory, fsynced and renamed to `PATH` (then the directory
/// is fsynced), so a reader that finds `PATH` finds the complete line.
#[derive(Debug, Clone)]
pub struct ReadyFile {
    path: PathBuf,
}

impl ReadyFile {
    /// Takes charge of `path`, removing a file an earlier run left there so
    /// that nobody waiting for the file mistakes it for this run's.
    pub fn claim(path: PathBuf) -> Result<Self, AnnounceError> {
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!(path = %path.display(), "removed an earlier ready file"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(AnnounceError::ReadyFile { path, source }),
        }
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `line` atomically (temporary file, fsync, rename, fsync of the
    /// directory).
    pub fn write(&self, line: &str) -> Result<(), AnnounceError> {
        let error = |source| AnnounceError::ReadyFile {
            path: self.path.clone(),
            source,
        };
        let dir = match self.path.parent() {
            Some(dir) if dir.as_os_str().is_empty() => Path::new("."),
            Some(dir) => dir,
            None => {
                return Err(AnnounceError::ReadyFileDirectory {
                    path: self.path.clone(),
                });
            }
        };
        let mut temporary = tempfile::Builder::new()
            .prefix(".claimdesk-ready.")
            .tempfile_in(dir)
            .map_err(error)?;
        temporary.write_all(line.as_bytes()).map_err(error)?;
        temporary.as_file().sync_all().map_err(error)?;
        temporary.persist(&self.path).map_err(|e| error(e.error))?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(error)?;
        Ok(())
    }

    /// Removes the file (at a clean exit). Any earlier file was removed by
    /// [`ReadyFile::claim`], so one found here is this run's.
    pub fn remove(self) {
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(
                path = %self.path.display(),
                "cannot remove the ready file: {e}"
            ),
        }
    }
}

/// Announces on stdout, then in the ready file if there is one: whoever
/// reads the line on stdout finds the ready file written too.
pub fn announce(
    announcement: &Announcement,
    ready_file: Option<&ReadyFile>,
) -> Result<(), AnnounceError> {
    let line = announcement.line()?;
    if let Some(ready_file) = ready_file {
        ready_file.write(&line)?;
    }
    // A reader that went away (closed pipe) must not stop the server: it
    // still serves, and the ready file (if any) tells where.
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout
        .write_all(line.as_bytes())
        .and_then(|()| stdout.flush())
    {
        tracing::warn!("cannot write the announcement to stdout: {e}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_has_the_documented_fields() {
        let announcement = Announcement {
            listening: "127.0.0.1:41234".parse().expect("an address"),
            tls: false,
            data_dir: Some(PathBuf::from("/var/lib/claimdesk")),
            database: None,
            pid: 4321,
            version: "0.1.0",
        };
        assert_eq!(
            announcement.line().expect("encodes"),
            "{\"listening\":\"127.0.0.1:41234\",\"tls\":false,\
             \"data_dir\":\"/var/lib/claimdesk\",\"database\":null,\"pid\":4321,\
             \"version\":\"0.1.0\"}\n"
        );
    }

    #[test]
    fn a_relative_data_dir_is_announced_absolute() {
        let announcement = Announcement::new(
            "[::1]:50051".parse().expect("an address"),
            true,
            Path::new("claimdesk-data"),
        )
        .expect("made absolute");
        let data_dir = announcement.data_dir.expect("a data directory");
        assert!(data_dir.is_absolute());
        assert!(data_dir.ends_with("claimdesk-data"));
        assert_eq!(announcement.database, None);
        assert_eq!(announcement.pid, std::process::id());
        assert_eq!(announcement.version, env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn the_ready_file_replaces_an_earlier_one_and_is_removed_once_written() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("ready.json");
        std::fs::write(&path, "stale").expect("an earlier ready file");
        let ready = ReadyFile::claim(path.clone()).expect("claimed");
        assert!(!path.exists(), "the earlier file is removed at start");
        ready.write("{\"a\":1}\n").expect("written");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "{\"a\":1}\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("listed")
            .map(|e| e.expect("an entry").file_name())
            .collect();
        assert_eq!(names, ["ready.json"], "no temporary file is left");
        ready.remove();
        assert!(!path.exists(), "removed at exit");
    }

    #[test]
    fn a_ready_file_in_a_missing_directory_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("missing").join("ready.json");
        let ready = ReadyFile::claim(path.clone()).expect("nothing to remove");
        let error = ready.write("{}\n").expect_err("no directory to write in");
        assert!(
            error
                .to_string()
                .starts_with(&format!("cannot write the ready file {}", path.display())),
            "{error}"
        );
    }
}
