//! The `claimdesk` client commands, run as the real binary against a test
//! server: every subcommand in both output modes, and the exit status of
//! each kind of error.

mod claims;
mod demo;
mod errors;
mod events;
mod links;
mod queue;

use std::{process::Stdio, time::Duration};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdout},
};

use crate::helpers::{TestServer, claimdesk_command};

/// Bounds a wait for the binary (start-up on a busy two-core machine can
/// be slow); not a delay.
pub const WAIT: Duration = Duration::from_secs(60);

pub const EDITOR: &str = "ed.morgan";
pub const CHECKER: &str = "kim.checker";
pub const OTHER_CHECKER: &str = "lee.checker";

/// What a finished `claimdesk` command did.
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Its stdout, checking that it succeeded.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// Each line it printed, as JSON, checking that it succeeded.
    #[track_caller]
    pub fn json_lines(&self) -> Vec<Value> {
        self.ok()
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("a JSON line ({e}): {line}"))
            })
            .collect()
    }

    /// The one JSON object it printed.
    #[track_caller]
    pub fn json(&self) -> Value {
        let mut lines = self.json_lines();
        assert_eq!(lines.len(), 1, "one line:\n{}", self.stdout);
        lines.remove(0)
    }

    /// The value of `key` in a claim printed for people (`key   value`).
    #[track_caller]
    pub fn field(&self, key: &str) -> String {
        field(self.ok(), key)
    }

    /// Checks that it failed with exit status `code`, printing nothing on
    /// stdout and one line on stderr that says `words`.
    #[track_caller]
    pub fn failed(&self, code: i32, words: &[&str]) {
        assert_eq!(
            self.code,
            Some(code),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(self.stdout.is_empty(), "stdout:\n{}", self.stdout);
        assert_eq!(self.stderr.lines().count(), 1, "one line:\n{}", self.stderr);
        for word in words {
            assert!(self.stderr.contains(word), "{word:?} in:\n{}", self.stderr);
        }
    }
}

/// The value of `key` in `text`, a claim printed for people.
#[track_caller]
pub fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix(key)?;
            rest.starts_with("  ").then(|| rest.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no {key:?} in:\n{text}"))
}

/// `claimdesk <args> --server <server> --user <user>`, stdout piped.
pub fn command(server: &str, user: &str, args: &[&str]) -> tokio::process::Command {
    let mut command = claimdesk_command();
    command
        .args(args)
        .args(["--server", server, "--user", user])
        .stdout(Stdio::piped());
    command
}

/// Runs `command` to its end.
pub async fn finish(mut command: tokio::process::Command) -> Finished {
    finished(command.output()).await
}

/// What the command whose output `output` waits for did.
async fn finished(output: impl Future<Output = std::io::Result<std::process::Output>>) -> Finished {
    let output = tokio::time::timeout(WAIT, output)
        .await
        .expect("claimdesk ends in time")
        .expect("claimdesk runs");
    Finished {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `claimdesk <args>` as `user` against `server`, for people.
pub async fn human(server: &TestServer, user: &str, args: &[&str]) -> Finished {
    finish(command(&server.url(), user, args)).await
}

/// Runs `claimdesk <args> --output json` as `user` against `server`.
pub async fn json(server: &TestServer, user: &str, args: &[&str]) -> Finished {
    let mut command = command(&server.url(), user, args);
    command.args(["--output", "json"]);
    finish(command).await
}

/// Runs `claimdesk <args>` with `input` on stdin.
pub async fn with_stdin(mut command: tokio::process::Command, input: &str) -> Finished {
    command.stdin(Stdio::piped());
    let mut child = command.spawn().expect("claimdesk starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin.write_all(input.as_bytes()).await.expect("written");
    drop(stdin);
    finished(child.wait_with_output()).await
}

/// A command that keeps running (`events watch`), read line by line.
pub struct Running {
    pub child: Child,
    pub lines: Lines<BufReader<ChildStdout>>,
}

impl Running {
    pub fn spawn(mut command: tokio::process::Command) -> Self {
        let mut child = command.spawn().expect("claimdesk starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        Running {
            child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// The next line printed.
    pub async fn line(&mut self) -> String {
        tokio::time::timeout(WAIT, self.lines.next_line())
            .await
            .expect("a line in time")
            .expect("stdout reads")
            .expect("a line before the end")
    }

    /// The next line, as JSON.
    pub async fn json(&mut self) -> Value {
        let line = self.line().await;
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("a JSON line ({e}): {line}"))
    }

    /// Sends `signal` (`TERM`, `INT`) and waits for the exit status; what
    /// was left on stdout must be nothing.
    pub async fn stop_with(mut self, signal: &str) -> Option<i32> {
        let pid = self.child.id().expect("still running");
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal}: {status}");
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("claimdesk ends in time")
            .expect("an exit status");
        let rest = tokio::time::timeout(WAIT, self.lines.next_line())
            .await
            .expect("stdout closes")
            .expect("stdout reads");
        assert_eq!(rest, None, "nothing more printed");
        status.code()
    }
}

impl Running {
    /// Sends SIGTERM, checks that the command ended with exit status 0, and
    /// hands back what it wrote on stderr.
    pub async fn terminate_with_notices(mut self) -> String {
        let mut stderr = self.child.stderr.take().expect("stderr is piped");
        assert_eq!(self.stop_with("TERM").await, Some(0));
        let mut notices = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut notices)
            .await
            .expect("stderr reads");
        notices
    }
}

/// The string a JSON field holds.
#[track_caller]
pub fn text(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {value}"))
        .to_owned()
}

/// A `uint64`/`int64` field, which the JSON mapping prints as a string.
#[track_caller]
pub fn number(value: &Value, key: &str) -> u64 {
    match &value[key] {
        Value::Null => 0,
        v => v
            .as_str()
            .unwrap_or_else(|| panic!("{key} as a string in {value}"))
            .parse()
            .expect("a number"),
    }
}

/// `claimdesk serve` with a tokens file, on `127.0.0.1:0`, as a process:
/// for the errors only a server with tokens makes.
pub struct TokenServer {
    _child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl TokenServer {
    /// A server knowing `tokens` (token, user, role); waits until it
    /// serves.
    pub async fn start(tokens: &[(&str, &str, claimdesk::domain::Role)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let lines: Vec<String> = tokens
            .iter()
            .map(|(token, user, role)| {
                let user = claimdesk::domain::UserName::parse(user).expect("a valid name");
                claimdesk::auth::tokens_file_line(token, &user, *role)
            })
            .collect();
        let tokens_file = dir.path().join("tokens.toml");
        std::fs::write(&tokens_file, format!("[tokens]\n{}\n", lines.join("\n"))).expect("written");
        let mut command = claimdesk_command();
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--tokens-file")
            .arg(&tokens_file);
        let mut child = command.spawn().expect("claimdesk serve starts");
        let mut log = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
        let addr = tokio::time::timeout(WAIT, async {
            while let Some(line) = log.next_line().await.expect("the log reads") {
                let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                // The line `serve` logs once it serves, naming its address.
                if entry["fields"]["message"] == "serving claimdesk.v1.ClaimService" {
                    return entry["fields"]["addr"].as_str().map(str::to_owned);
                }
            }
            None
        })
        .await
        .expect("the server starts in time")
        .expect("the server says where it serves");
        // Keep reading the log so the server never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
        TokenServer {
            _child: child,
            url: format!("http://{addr}"),
            _dir: dir,
        }
    }
}
