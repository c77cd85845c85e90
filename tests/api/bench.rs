//! `claimdesk bench`: the real binary with its shortest settings, measuring
//! a server of its own (with its CPU time) or a given one (without).

use std::process::Stdio;

use claimdesk::pb;
use serde_json::Value;

use crate::{
    cli::finish,
    helpers::{TestServer, claimdesk_command, list_all},
};

/// Every row of the workloads, by workload and detail.
const ROWS: [(&str, Option<&str>); 10] = [
    ("get", None),
    ("submit", None),
    ("list", Some("by state")),
    ("list", Some("by story")),
    ("review", None),
    ("mixed", None),
    ("watch", Some("0 watchers")),
    ("watch", Some("10 watchers")),
    ("watch", Some("100 watchers")),
    ("watch", Some("100 idle watchers")),
];

/// `claimdesk bench --short` at 2 calls in flight for 100 ms a round, with
/// `args`; its JSON report.
async fn bench(args: &[&str]) -> Value {
    let lines = bench_lines(args).await;
    assert_eq!(lines.len(), 1, "one JSON object: {lines:?}");
    lines.into_iter().next().unwrap()
}

/// [`bench`] for runs that print several JSON objects, one per line.
async fn bench_lines(args: &[&str]) -> Vec<Value> {
    let mut command = claimdesk_command();
    command
        .args([
            "bench",
            "--short",
            "--in-flight",
            "2",
            "--duration",
            "100ms",
        ])
        .args(["--output", "json"])
        .args(args)
        .stdout(Stdio::piped());
    let finished = finish(command).await;
    finished
        .ok()
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("not a JSON object per line ({e}):\n{}", finished.stdout);
            })
        })
        .collect()
}

fn number(row: &Value, key: &str) -> f64 {
    row[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {row}"))
}

/// Checks every row's figures; whether each has the server's CPU time per
/// call is `cpu`.
fn check_rows(report: &Value, cpu: bool) {
    let rows = report["rows"].as_array().expect("rows");
    let found: Vec<(&str, Option<&str>)> = rows
        .iter()
        .map(|r| {
            (
                r["workload"].as_str().expect("a workload"),
                r["detail"].as_str(),
            )
        })
        .collect();
    assert_eq!(found, ROWS);
    let baselines = report["baselines"].as_array().expect("baselines");
    assert_eq!(baselines.len(), 1, "one number in flight: {report}");
    for row in rows.iter().chain(baselines) {
        assert_eq!(row["in_flight"], 2, "{row}");
        assert!(number(row, "calls") > 0.0, "{row}");
        assert!(number(row, "throughput") > 0.0, "{row}");
        let (p50, p99, p999) = (
            number(row, "p50_ms"),
            number(row, "p99_ms"),
            number(row, "p999_ms"),
        );
        assert!(0.0 < p50 && p50 <= p99 && p99 <= p999, "{row}");
        assert_eq!(row["server_cpu_us_per_call"].is_number(), cpu, "{row}");
        if cpu {
            assert!(number(row, "server_cpu_us_per_call") >= 0.0, "{row}");
        }
    }
    for row in rows {
        assert!(number(row, "ratio") > 0.0, "{row}");
    }
    assert!(baselines[0]["ratio"].is_null());
    let watched = &rows[8];
    assert_eq!(watched["watchers"], 100);
    // Each of the 100 watchers read every submission of the round.
    assert!(
        number(watched, "events_delivered") >= 100.0 * number(watched, "calls"),
        "{watched}"
    );
    // The idle ones, of a story nothing is written to, read none.
    let idle = &rows[9];
    assert_eq!(idle["watchers"], 100);
    assert!(number(idle, "calls") > 0.0, "{idle}");
    assert_eq!(number(idle, "events_delivered"), 0.0, "{idle}");
}

#[tokio::test]
async fn bench_measures_a_server_of_its_own_with_its_cpu_time() {
    let report = bench(&[]).await;
    check_rows(&report, true);
    assert_eq!(report["settings"]["server"], "own");
    assert!(report["machine"]["cores"].as_u64().is_some_and(|c| c >= 1));
    // Its own server's log says how the writes were shared.
    let writes = &report["writes"];
    let changes = number(writes, "changes");
    assert!(changes > 0.0, "{report}");
    assert!(
        (1.0..=changes).contains(&number(writes, "batches")),
        "{writes}"
    );
    assert!(number(writes, "durable_flushes") >= 1.0, "{writes}");
}

#[tokio::test]
async fn bench_measures_a_given_server_under_a_story_of_its_own() {
    let server = TestServer::spawn().await;
    let report = bench(&["--server", &server.url(), "--user", "bench.runner"]).await;
    check_rows(&report, false);
    assert_eq!(report["settings"]["server"], server.url());
    let story = report["settings"]["story"].as_str().expect("a story");
    assert!(story.starts_with("bench-"), "{story}");
    let mut client = server.client().await;
    let everything = list_all(&mut client, pb::ListClaimsRequest::default()).await;
    assert!(!everything.is_empty());
    assert!(
        everything
            .iter()
            .all(|c| c.story == story && c.submitted_by == "bench.runner"),
        "every claim is the run's, in its story"
    );
}

#[tokio::test]
async fn bench_preloads_a_store_and_measures_listing_and_taking_at_its_size() {
    let report = bench(&["--preload", "2000", "--workloads", "list,take"]).await;
    let rows = report["rows"].as_array().expect("rows");
    let found: Vec<(&str, Option<&str>)> = rows
        .iter()
        .map(|r| (r["workload"].as_str().unwrap(), r["detail"].as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("list", Some("by state")),
            ("list", Some("by story")),
            ("take", None)
        ]
    );
    for row in rows {
        assert!(number(row, "calls") > 0.0, "{row}");
        assert!(number(row, "p50_ms") > 0.0, "{row}");
        assert!(number(row, "ratio") > 0.0, "{row}");
    }
    assert_eq!(report["settings"]["preload"], 2000);
    let scale = &report["scale"];
    assert_eq!(scale["preload"]["claims"], 2000, "{scale}");
    assert!(
        number(&scale["preload"], "claims_per_second") > 0.0,
        "{scale}"
    );
    assert!(
        number(&scale["preload"], "bytes_per_claim") > 0.0,
        "{scale}"
    );
    assert!(number(scale, "server_rss_bytes") > 0.0, "{scale}");
    assert!(number(scale, "reopen_ms") > 0.0, "{scale}");
    // The preloaded claims and the 100 seeded through the RPCs, counted by
    // the server opened again after kill -9.
    assert_eq!(scale["claims_after_reopen"], 2100, "{scale}");
}

#[tokio::test]
async fn bench_compares_the_rows_of_several_preloaded_sizes_in_one_run() {
    let lines = bench_lines(&["--preload", "300,1500", "--workloads", "take"]).await;
    assert_eq!(
        lines.len(),
        3,
        "a report per size, then the growth: {lines:?}"
    );
    assert_eq!(lines[0]["settings"]["preload"], 300);
    assert_eq!(lines[1]["settings"]["preload"], 1500);
    assert_eq!(lines[1]["scale"]["preload"]["claims"], 1500);
    let growth = &lines[2]["growth"];
    assert_eq!(growth["from_claims"], 300, "{growth}");
    let rows = growth["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "take at 2 in flight: {growth}");
    let row = &rows[0];
    assert_eq!(
        (&row["workload"], &row["claims"]),
        (&"take".into(), &1500.into())
    );
    let later = number(row, "p50_ms");
    let first = number(&lines[0]["rows"][0], "p50_ms");
    assert!(
        (number(row, "p50_growth") - later / first).abs() < 1e-9,
        "{row} against {first}"
    );
}

#[tokio::test]
async fn bench_refuses_to_preload_a_given_server() {
    let mut command = claimdesk_command();
    command
        .args(["bench", "--short", "--preload", "10"])
        .args(["--server", "http://127.0.0.1:9"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let finished = finish(command).await;
    assert_eq!(finished.code, Some(2), "a usage error");
    assert!(
        finished.stderr.contains("--preload") && finished.stderr.contains("--server"),
        "{}",
        finished.stderr
    );
}

#[tokio::test]
async fn bench_without_preload_reports_no_scale() {
    let report = bench(&["--workloads", "take"]).await;
    assert_eq!(report["rows"][0]["workload"], "take");
    assert!(number(&report["rows"][0], "calls") > 0.0);
    assert!(report["scale"].is_null());
}
