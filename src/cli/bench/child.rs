//! The server `bench` starts when no `--server` is given: this binary's own
//! `serve --listen 127.0.0.1:0 --ephemeral --ready-file …` (or `--data-dir`
//! of a preloaded store instead of `--ephemeral`) as a child process,
//! without the `CLAIMDESK_*` variables of the environment, stopped with
//! SIGTERM at the end (or killed, to time its restart); and its CPU time and
//! resident memory, read from `/proc`.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use crate::{cli::error::ClientError, storage::postgres::ScratchSchema};

/// How long the server may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How the writes of a run were shared, as the server's store says when it
/// closes (`store closed` in its log, at level info).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Sharing {
    /// Changes written (one event each).
    pub changes: u64,
    /// Transactions they were written in (the writer's batches).
    pub batches: u64,
    /// Durable flushes (flush and fsync) that covered them and the rest.
    pub durable_flushes: u64,
}

impl Sharing {
    pub fn describe(&self) -> String {
        let per = |n: u64| self.changes as f64 / n.max(1) as f64;
        format!(
            "writes over the run: {} changes in {} transactions ({:.1} per transaction) and {} durable flushes ({:.1} changes per flush)\n",
            self.changes,
            self.batches,
            per(self.batches),
            self.durable_flushes,
            per(self.durable_flushes),
        )
    }
}

/// The [`Sharing`] of the last `store closed` line of `log`, text (with or
/// without colours) or JSON.
fn sharing(log: &str) -> Option<Sharing> {
    let line = log.lines().rev().find(|l| l.contains("store closed"))?;
    let plain = strip_ansi(line);
    let field = |name: &str| -> Option<u64> {
        [format!("{name}="), format!("\"{name}\":")]
            .iter()
            .find_map(|pattern| {
                let rest = &plain[plain.find(pattern.as_str())? + pattern.len()..];
                let end = rest
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len());
                rest[..end].parse().ok()
            })
    };
    Some(Sharing {
        changes: field("changes")?,
        batches: field("batches")?,
        durable_flushes: field("durable_flushes")?,
    })
}

/// `text` without ANSI escape sequences (`ESC [ ... letter`).
fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// How long it may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The running child server. Dropped without [`ChildServer::stop`] (a
/// panic), it is killed outright.
pub struct ChildServer {
    child: Child,
    pid: u32,
    /// `http://ADDRESS` of the server.
    pub url: String,
    /// Holds the ready file and the server's log.
    dir: tempfile::TempDir,
}

/// What the ready file says (the fields `bench` needs).
#[derive(serde::Deserialize)]
struct Ready {
    listening: std::net::SocketAddr,
}

impl ChildServer {
    /// Starts the server, on the store in `data_dir`, in the PostgreSQL
    /// `schema`, or else on an ephemeral one, and waits until its ready
    /// file is written.
    pub async fn start(
        data_dir: Option<&Path>,
        schema: Option<&ScratchSchema>,
    ) -> Result<Self, ClientError> {
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            ClientError::Failed(format!("cannot start the server to measure: {what}: {e}"))
        };
        let exe = std::env::current_exe().map_err(|e| failed("no path to this program", &e))?;
        let dir = tempfile::Builder::new()
            .prefix("claimdesk-bench.")
            .tempdir()
            .map_err(|e| failed("no temporary directory", &e))?;
        let ready_file = dir.path().join("ready.json");
        let log = std::fs::File::create(log_path(dir.path()))
            .map_err(|e| failed("cannot create its log file", &e))?;
        let mut command = Command::new(exe);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--ready-file"])
            .arg(&ready_file);
        match (data_dir, schema) {
            (Some(data_dir), _) => command.arg("--data-dir").arg(data_dir),
            (None, Some(schema)) => command
                .args(["--database-url", schema.url()])
                .args(["--database-schema", schema.name()]),
            (None, None) => command.arg("--ephemeral"),
        };
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("CLAIMDESK_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .spawn()
            .map_err(|e| failed("cannot run this program", &e))?;
        let pid = child.id().ok_or_else(|| failed("it exited at once", &""))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| failed("no stdout", &""))?;
        // The line on stdout comes after the ready file is written: it
        // says the file is there, without polling for it.
        let mut announced = String::new();
        let read = tokio::time::timeout(
            START_TIMEOUT,
            BufReader::new(stdout).read_line(&mut announced),
        )
        .await;
        let mut server = Self {
            child,
            pid,
            url: String::new(),
            dir,
        };
        match read {
            Ok(Ok(n)) if n > 0 => {}
            Ok(Ok(_)) => return Err(server.failed_start("it exited before it was ready").await),
            Ok(Err(e)) => {
                return Err(server
                    .failed_start(&format!("reading its stdout: {e}"))
                    .await);
            }
            Err(_) => {
                let message = format!("not ready within {}s", START_TIMEOUT.as_secs());
                return Err(server.failed_start(&message).await);
            }
        }
        let ready: Ready = match std::fs::read_to_string(&ready_file)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
        {
            Ok(ready) => ready,
            Err(e) => return Err(server.failed_start(&format!("its ready file: {e}")).await),
        };
        server.url = format!("http://{}", ready.listening);
        Ok(server)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Stops the server with SIGTERM and checks that it exited cleanly.
    /// Returns how its writes were shared, if its log says.
    pub async fn stop(mut self) -> Result<Option<Sharing>, ClientError> {
        self.terminate();
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(sharing(&self.log())),
            Ok(Ok(status)) => Err(ClientError::Failed(format!(
                "the measured server exited with {status}; its log:\n{}",
                self.log()
            ))),
            Ok(Err(e)) => Err(ClientError::Failed(format!(
                "cannot wait for the measured server: {e}"
            ))),
            Err(_) => {
                let _ = self.child.kill().await;
                Err(ClientError::Failed(format!(
                    "the measured server did not stop within {}s of SIGTERM and was killed",
                    STOP_TIMEOUT.as_secs()
                )))
            }
        }
    }

    /// Kills the server with SIGKILL, as a crash would end it, and waits
    /// until it is gone.
    pub async fn kill(mut self) -> Result<(), ClientError> {
        self.child
            .kill()
            .await
            .map_err(|e| ClientError::Failed(format!("cannot kill the measured server: {e}")))
    }

    /// Stops a server that failed to start and says why, with its log.
    async fn failed_start(&mut self, why: &str) -> ClientError {
        self.terminate();
        if tokio::time::timeout(STOP_TIMEOUT, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        ClientError::Failed(format!(
            "cannot start the server to measure: {why}; its log:\n{}",
            self.log()
        ))
    }

    fn terminate(&self) {
        let pid = i32::try_from(self.pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            // It may have exited already: nothing to stop then.
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(log_path(self.dir.path()))
            .unwrap_or_else(|e| format!("(cannot read the log: {e})"))
    }
}

fn log_path(dir: &Path) -> PathBuf {
    dir.join("server.log")
}

/// The CPU time (user and system) the process `pid` has used so far, from
/// `/proc/<pid>/stat`; `None` where there is no such file (not Linux).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_ticks(&stat).map(|ticks| {
        Duration::from_secs_f64(ticks as f64 / rustix::param::clock_ticks_per_second() as f64)
    })
}

/// The resident memory of the process `pid` in bytes (`VmRSS` of
/// `/proc/<pid>/status`); `None` where there is no such file (not Linux).
pub fn resident_memory(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    vm_rss(&status)
}

/// `VmRSS:   1234 kB` of a `/proc/<pid>/status`, in bytes.
fn vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

/// utime + stime (fields 14 and 15, in clock ticks) of a `/proc/<pid>/stat`
/// line. The command name (field 2) is in parentheses and may hold spaces,
/// so fields are counted after its closing parenthesis.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sharing_of_writes_is_read_from_text_and_json_logs() {
        let expected = Some(Sharing {
            changes: 1200,
            batches: 40,
            durable_flushes: 25,
        });
        let text = "2026-11-30T15:00:00Z  INFO claimdesk::storage::sled_store: store closed \
                    changes=1200 batches=40 durable_flushes=25";
        assert_eq!(sharing(text), expected);
        let coloured = "\u{1b}[32m INFO\u{1b}[0m store closed \u{1b}[3mchanges\u{1b}[0m\u{1b}[2m=\u{1b}[0m1200 \
                        \u{1b}[3mbatches\u{1b}[0m\u{1b}[2m=\u{1b}[0m40 \
                        \u{1b}[3mdurable_flushes\u{1b}[0m\u{1b}[2m=\u{1b}[0m25";
        assert_eq!(sharing(coloured), expected);
        let json = r#"{"level":"INFO","fields":{"message":"store closed","changes":1200,"batches":40,"durable_flushes":25}}"#;
        assert_eq!(sharing(json), expected);
        assert_eq!(sharing("INFO listening"), None);
        assert_eq!(sharing("store closed changes=12"), None);
    }

    #[test]
    fn cpu_ticks_are_utime_plus_stime_even_with_spaces_in_the_name() {
        let stat = "4242 (claim desk) S 1 4242 4242 0 -1 4194560 1200 0 0 0 \
                    731 269 0 0 20 0 9 0 123456 1000000 500 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(1000));
        assert_eq!(cpu_ticks("4242 (x) S 1"), None);
        assert_eq!(cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn the_resident_memory_is_vm_rss_in_bytes() {
        let status = "Name:\tclaimdesk\nVmPeak:\t  9000 kB\nVmRSS:\t  1234 kB\nThreads:\t9\n";
        assert_eq!(vm_rss(status), Some(1234 * 1024));
        assert_eq!(vm_rss("Name:\tkthreadd\n"), None);
        assert_eq!(
            resident_memory(std::process::id()).is_some_and(|bytes| bytes > 0),
            cfg!(target_os = "linux")
        );
    }

    #[test]
    fn the_cpu_time_of_this_process_is_read_on_linux() {
        assert_eq!(
            cpu_time(std::process::id()).is_some(),
            cfg!(target_os = "linux")
        );
    }
}
