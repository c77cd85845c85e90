//! A server other projects' tests start: `claimdesk serve --listen
//! 127.0.0.1:0 --ready-file PATH --ephemeral` announces where it listens
//! in one JSON line on stdout and in the ready file, keeps its data in a
//! temporary directory, and leaves nothing behind when it stops.
//!
//! Every wait is for an event (the line, the file, the process ending),
//! bounded by [`PROCESS_WAIT`].

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Stdio,
};

use claimdesk::pb::claim::State;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    process::ChildStdout,
};

use crate::helpers::{PROCESS_WAIT, ServeProcess, claimdesk_command, get, harbour_claim, submit};

/// `claimdesk serve --listen 127.0.0.1:0 --ready-file <ready_file>
/// --ephemeral --log-format json`, with stdout piped.
fn spin_up_command(ready_file: &Path) -> tokio::process::Command {
    let mut command = claimdesk_command();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--ephemeral"])
        .args(["--log-format", "json", "--ready-file"])
        .arg(ready_file)
        .stdout(Stdio::piped());
    command
}

/// A server started by [`spin_up_command`], and its stdout.
struct SpunUp {
    process: ServeProcess,
    stdout: BufReader<ChildStdout>,
}

impl SpunUp {
    fn spawn(ready_file: &Path) -> Self {
        let mut process = ServeProcess::spawn(spin_up_command(ready_file));
        let stdout = process.child.stdout.take().expect("stdout is piped");
        Self {
            process,
            stdout: BufReader::new(stdout),
        }
    }

    /// The first line on stdout, waiting for it.
    async fn announcement(&mut self) -> String {
        let mut line = String::new();
        let read = tokio::time::timeout(PROCESS_WAIT, self.stdout.read_line(&mut line))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no line on stdout within {PROCESS_WAIT:?}; log:\n{}",
                    self.process.text()
                )
            })
            .expect("stdout reads");
        assert!(read > 0, "stdout closed; log:\n{}", self.process.text());
        line
    }

    /// What stdout carries after the announcement, once the process ended.
    async fn rest_of_stdout(&mut self) -> String {
        let mut rest = String::new();
        tokio::time::timeout(PROCESS_WAIT, self.stdout.read_to_string(&mut rest))
            .await
            .expect("stdout closes when the process ends")
            .expect("stdout reads");
        rest
    }

    /// The first line on stdout, checked, and what it says.
    async fn announced(&mut self) -> (String, Announced) {
        let line = self.announcement().await;
        let pid = self.process.child.id().expect("running");
        let announced = parse_announcement(&line, pid);
        (line, announced)
    }

    /// Sends `signal` (`TERM`, `INT`), checks the process exits with 0 and
    /// leaves neither `data_dir` nor `ready_file` behind.
    async fn stop_leaving_nothing(&mut self, signal: &str, data_dir: &Path, ready_file: &Path) {
        self.stop_with(signal).await;
        assert!(
            !data_dir.exists(),
            "the ephemeral data directory {} is removed after SIG{signal}",
            data_dir.display()
        );
        assert!(!ready_file.exists(), "the ready file is removed at exit");
    }

    /// Sends `signal` (`TERM`, `INT`) and checks the process exits with 0.
    async fn stop_with(&mut self, signal: &str) {
        let pid = self.process.child.id().expect("running").to_string();
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill(1) runs");
        assert!(sent.success(), "kill -{signal} {pid}: {sent}");
        let status = self.process.exit_status().await;
        assert!(
            status.success(),
            "the server exits 0 after SIG{signal}, not {status}; log:\n{}",
            self.process.text()
        );
    }
}

/// The announcement's fields, checked to be exactly the documented ones.
struct Announced {
    listening: std::net::SocketAddr,
    data_dir: PathBuf,
}

fn parse_announcement(line: &str, pid: u32) -> Announced {
    assert!(line.ends_with('\n'), "one whole line: {line:?}");
    assert_eq!(line.matches('\n').count(), 1, "one line: {line:?}");
    let v: serde_json::Value = serde_json::from_str(line).expect("the line is JSON");
    let fields: BTreeSet<&str> = v
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from(["listening", "tls", "data_dir", "database", "pid", "version"]),
        "the documented fields: {line}"
    );
    assert_eq!(v["tls"], false, "plaintext: {line}");
    assert_eq!(v["pid"], pid, "the server's pid: {line}");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"), "{line}");
    let listening: std::net::SocketAddr = v["listening"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("listening is an address: {line}"));
    assert_eq!(listening.ip().to_string(), "127.0.0.1", "{line}");
    assert_ne!(listening.port(), 0, "the port chosen for port 0: {line}");
    assert_eq!(
        v["database"],
        serde_json::Value::Null,
        "no database: {line}"
    );
    let data_dir = PathBuf::from(v["data_dir"].as_str().expect("data_dir is a string"));
    assert!(data_dir.is_absolute(), "data_dir is absolute: {line}");
    Announced {
        listening,
        data_dir,
    }
}

/// The names of the entries of `dir`.
fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("the directory lists")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_spun_up_server_announces_itself_serves_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ready_file = dir.path().join("ready.json");
    let mut server = SpunUp::spawn(&ready_file);
    let (line, announced) = server.announced().await;
    // The ready file is written before the line is printed.
    assert_eq!(
        std::fs::read_to_string(&ready_file).expect("the ready file exists once announced"),
        line,
        "the ready file holds the announced line"
    );
    assert_eq!(
        entries(dir.path()),
        BTreeSet::from(["ready.json".to_owned()]),
        "no temporary file is left beside the ready file"
    );
    assert!(
        announced.data_dir.is_dir(),
        "the ephemeral data directory {} exists while serving",
        announced.data_dir.display()
    );
    assert!(
        !entries(&announced.data_dir).is_empty(),
        "the store lives in the announced data directory"
    );

    server.process.serves_at(announced.listening);
    let mut client = server.process.client().await;
    let submitted = submit(&mut client, "ed.morgan", harbour_claim()).await;
    let got = get(&mut client, &submitted.name).await;
    assert_eq!(got.state(), State::Unverified);
    assert_eq!(got.statement, submitted.statement);
    drop(client);

    server
        .stop_leaving_nothing("TERM", &announced.data_dir, &ready_file)
        .await;
    assert_eq!(
        server.rest_of_stdout().await,
        "",
        "stdout carries the announcement only"
    );
}

#[tokio::test]
async fn an_interrupted_ephemeral_server_removes_its_data() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ready_file = dir.path().join("ready.json");
    let mut server = SpunUp::spawn(&ready_file);
    let (_, announced) = server.announced().await;
    assert!(announced.data_dir.is_dir(), "exists while serving");
    server
        .stop_leaving_nothing("INT", &announced.data_dir, &ready_file)
        .await;
}

/// The ready file is renamed into place whole: polled as fast as the test
/// can while the server starts, it is either absent or the complete line
/// (never empty, never cut), and it is the line printed on stdout.
#[tokio::test]
async fn the_ready_file_appears_whole() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ready_file = dir.path().join("ready.json");
    let mut server = SpunUp::spawn(&ready_file);
    let pid = server.process.child.id().expect("running");

    let mut absent = 0_u64;
    let found = tokio::time::timeout(PROCESS_WAIT, async {
        loop {
            match std::fs::read_to_string(&ready_file) {
                Ok(content) => return content,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    absent += 1;
                    tokio::task::yield_now().await;
                }
                Err(e) => panic!("reading {}: {e}", ready_file.display()),
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "no ready file within {PROCESS_WAIT:?}; log:\n{}",
            server.process.text()
        )
    });
    assert!(absent > 0, "the file was looked for before it appeared");
    parse_announcement(&found, pid);
    let (line, announced) = server.announced().await;
    assert_eq!(line, found, "stdout and the file say the same");
    server
        .stop_leaving_nothing("TERM", &announced.data_dir, &ready_file)
        .await;
}

/// A ready file that cannot be written stops the server with the reason,
/// before it announces anything; its ephemeral directory goes too.
#[tokio::test]
async fn a_ready_file_that_cannot_be_written_stops_the_server() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ready_file = dir.path().join("missing").join("ready.json");
    let mut server = SpunUp::spawn(&ready_file);
    let status = server.process.exit_status().await;
    assert_eq!(
        status.code(),
        Some(1),
        "{status}; log:\n{}",
        server.process.text()
    );
    let log = server.process.text();
    assert!(
        log.contains(&format!(
            "cannot write the ready file {}",
            ready_file.display()
        )),
        "the log says why:\n{log}"
    );
    assert_eq!(server.rest_of_stdout().await, "", "nothing is announced");
    let ephemeral: Vec<PathBuf> = server
        .process
        .json_lines()
        .iter()
        .filter_map(|l| l["fields"]["data_dir"].as_str().map(PathBuf::from))
        .collect();
    assert_eq!(
        ephemeral.len(),
        1,
        "the ephemeral directory is logged:\n{log}"
    );
    assert!(
        !ephemeral[0].exists(),
        "the ephemeral data directory {} is removed",
        ephemeral[0].display()
    );
}

/// `--ephemeral` and a data directory contradict each other, whether the
/// directory is given by flag or by the environment: refused before
/// anything is created.
#[tokio::test]
async fn ephemeral_with_a_data_dir_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data_dir = dir.path().join("data");
    let mut by_flag = claimdesk_command();
    by_flag
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--ephemeral",
            "--data-dir",
        ])
        .arg(&data_dir);
    let mut by_environment = claimdesk_command();
    by_environment
        .args(["serve", "--listen", "127.0.0.1:0", "--ephemeral"])
        .env("CLAIMDESK_DATA_DIR", &data_dir);
    let tip = "CLAIMDESK_DATA_DIR in the environment; unset it to use --ephemeral";
    for (how, mut command) in [("flag", by_flag), ("environment", by_environment)] {
        let output = tokio::time::timeout(PROCESS_WAIT, command.stdout(Stdio::piped()).output())
            .await
            .expect("the refusal is quick")
            .expect("claimdesk runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "a usage error ({how}): {stderr}"
        );
        assert!(
            stderr.contains("'--ephemeral' cannot be used with '--data-dir <DATA_DIR>'"),
            "the message names both ({how}): {stderr}"
        );
        assert_eq!(
            stderr.contains(tip),
            how == "environment",
            "the variable is named when it is the cause ({how}): {stderr}"
        );
        assert!(output.stdout.is_empty(), "nothing announced ({how})");
        assert!(!data_dir.exists(), "no data directory is made ({how})");
    }
}
