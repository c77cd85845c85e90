//! The figures: a [`Row`] per workload (and variant) and number of calls in
//! flight, made from its rounds and the baseline measured before each; the
//! machine; the table for people and the JSON object for scripts.

use comfy_table::{Cell, CellAlignment};
use serde::Serialize;

use super::{
    child::Sharing, load::Measurement, load::latency_histogram, preload::Preload, workloads::Case,
};
use crate::cli::output::{Format, Printer};

/// The name of the baseline's rows.
pub const BASELINE: &str = "baseline";

/// The whole report of a run.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub settings: Settings,
    /// The baseline at each number of calls in flight, over all its rounds.
    pub baselines: Vec<Row>,
    /// A row per workload (and variant) and number of calls in flight.
    pub rows: Vec<Row>,
    /// With `--preload`: the store's size and the server's at that size.
    pub scale: Option<Scale>,
    /// How the writes of the whole run were shared, when the bench ran the
    /// server itself (without `--preload`, whose server is killed) and its
    /// log said.
    pub writes: Option<Sharing>,
}

/// The figures of a preloaded store besides the rows.
#[derive(Debug, Clone, Serialize)]
pub struct Scale {
    pub preload: Preload,
    /// The server's resident memory after the rows (Linux only).
    pub server_rss_bytes: Option<u64>,
    /// From starting the server again on the store, after killing it with
    /// SIGKILL, to its ready file.
    pub reopen_ms: f64,
    /// The claims of every state the restarted server counts (queue
    /// statistics).
    pub claims_after_reopen: u64,
}

impl Scale {
    fn describe(&self) -> String {
        let preload = &self.preload;
        format!(
            "preloaded {} claims in {:.1} s ({:.0} claims/s), {:.0} bytes per claim on disk; \
             server resident memory after the rows {}; reopened after kill -9 in {:.0} ms, \
             counting {} claims\n",
            preload.claims,
            preload.seconds,
            preload.claims_per_second,
            preload.bytes_per_claim,
            self.server_rss_bytes.map_or("unknown".into(), |b| format!(
                "{:.1} MiB",
                b as f64 / (1024.0 * 1024.0)
            )),
            self.reopen_ms,
            self.claims_after_reopen,
        )
    }
}

/// The machine the command ran on.
#[derive(Debug, Serialize)]
pub struct Machine {
    /// Cores this process may use.
    pub cores: usize,
    pub kernel: Option<String>,
    pub cpu_model: Option<String>,
}

impl Machine {
    /// This machine, as far as `/proc` tells (nothing where it is absent).
    pub fn this_one() -> Self {
        let read = |path| std::fs::read_to_string(path).ok();
        Self {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            kernel: read("/proc/sys/kernel/osrelease").map(|k| k.trim().to_owned()),
            cpu_model: read("/proc/cpuinfo").and_then(|info| cpu_model(&info)),
        }
    }
}

/// The first `model name` of a `/proc/cpuinfo`.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

/// What the run was asked to do.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// The server measured: its URL, or `own` for the command's child.
    pub server: String,
    pub connections: usize,
    pub in_flight: Vec<usize>,
    pub duration_ms: u64,
    pub max_calls: Option<u64>,
    pub rounds: usize,
    pub workloads: Vec<&'static str>,
    /// The story every claim of the run is submitted to.
    pub story: String,
    /// Claims seeded for GetClaim.
    pub seeded_claims: u64,
    /// Claims imported into the store before the server started.
    pub preload: Option<u64>,
    /// The store of the bench's own server: `sled` (a temporary data
    /// directory) or `postgres` (a scratch schema of `--database-url`);
    /// `null` for a server given with `--server`.
    pub store: Option<&'static str>,
    /// The PostgreSQL database of the own server (`--database-url`), used
    /// to start it and never reported.
    #[serde(skip)]
    pub database_url: Option<String>,
}

/// The figures of a workload (or the baseline) at a number of calls in
/// flight.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub workload: String,
    /// The variant (`by state`, `10 watchers`), if any.
    pub detail: Option<String>,
    pub in_flight: usize,
    pub rounds: usize,
    /// Calls made, over all rounds.
    pub calls: u64,
    /// Calls per second: the median over rounds.
    pub throughput: f64,
    /// Latency percentiles over the calls of all rounds, in milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    /// The median over rounds of the round's throughput divided by that of
    /// the baseline measured just before it. None for the baseline.
    pub ratio: Option<f64>,
    /// CPU time of the server per call, in microseconds (its own child
    /// only).
    pub server_cpu_us_per_call: Option<f64>,
    /// Watchers open while measured, and the events they received in all.
    pub watchers: usize,
    pub events_delivered: Option<u64>,
}

impl Row {
    /// The row of `case` from its rounds, each with the baseline measured
    /// just before it.
    pub fn workload(
        case: &Case,
        in_flight: usize,
        rounds: &[(Measurement, Measurement)],
        events_delivered: Option<u64>,
    ) -> Self {
        let measured: Vec<&Measurement> = rounds.iter().map(|(_, w)| w).collect();
        let pairs: Vec<(f64, f64)> = rounds
            .iter()
            .map(|(b, w)| (b.throughput(), w.throughput()))
            .collect();
        Row {
            workload: case.workload.name().to_owned(),
            detail: case.detail.clone(),
            ratio: median_ratio(&pairs),
            watchers: case.watchers,
            events_delivered,
            ..Row::of(BASELINE, in_flight, &measured)
        }
    }

    /// The baseline's row from all its measurements at `in_flight`.
    pub fn baseline(in_flight: usize, measured: &[&Measurement]) -> Self {
        Row::of(BASELINE, in_flight, measured)
    }

    fn of(workload: &str, in_flight: usize, measured: &[&Measurement]) -> Self {
        let mut latencies = latency_histogram();
        for m in measured {
            // Histograms of the same bounds always add up.
            let _ = latencies.add(&m.latencies);
        }
        let calls: u64 = measured.iter().map(|m| m.calls).sum();
        let cpu: Option<f64> = measured
            .iter()
            .map(|m| m.server_cpu.map(|c| c.as_secs_f64()))
            .sum();
        let ms = |q| latencies.value_at_quantile(q) as f64 / 1000.0;
        Row {
            workload: workload.to_owned(),
            detail: None,
            in_flight,
            rounds: measured.len(),
            calls,
            throughput: median(measured.iter().map(|m| m.throughput()).collect()).unwrap_or(0.0),
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            ratio: None,
            server_cpu_us_per_call: cpu
                .filter(|_| calls > 0)
                .map(|seconds| seconds * 1e6 / calls as f64),
            watchers: 0,
            events_delivered: None,
        }
    }

    fn name(&self) -> String {
        label(&self.workload, self.detail.as_deref())
    }
}

/// `workload (detail)`, or the workload alone.
fn label(workload: &str, detail: Option<&str>) -> String {
    match detail {
        Some(detail) => format!("{workload} ({detail})"),
        None => workload.to_owned(),
    }
}

/// The median; None for no values.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// The median over rounds of (workload throughput / baseline throughput),
/// given `(baseline, workload)` pairs; rounds whose baseline made no call
/// are left out.
pub fn median_ratio(pairs: &[(f64, f64)]) -> Option<f64> {
    median(
        pairs
            .iter()
            .filter(|(baseline, _)| *baseline > 0.0)
            .map(|(baseline, workload)| workload / baseline)
            .collect(),
    )
}

impl Report {
    /// The report as `format` prints it: a table for people, one JSON
    /// object otherwise.
    pub fn render(&self, printer: &Printer) -> String {
        match printer.format {
            Format::Json => serde_json::to_string(self).expect("a report serialises"),
            Format::Human => self.table(printer),
        }
    }

    fn table(&self, printer: &Printer) -> String {
        let mut table = printer.table();
        table.set_header(
            [
                "WORKLOAD",
                "IN FLIGHT",
                "CALLS/S",
                "RATIO",
                "P50 MS",
                "P99 MS",
                "P99.9 MS",
                "SERVER CPU µS/CALL",
            ]
            .map(Cell::new),
        );
        for &in_flight in &self.settings.in_flight {
            let rows = self
                .baselines
                .iter()
                .chain(&self.rows)
                .filter(|r| r.in_flight == in_flight);
            for row in rows {
                let right = |text: String| Cell::new(text).set_alignment(CellAlignment::Right);
                table.add_row(vec![
                    Cell::new(row.name()),
                    right(row.in_flight.to_string()),
                    right(format!("{:.0}", row.throughput)),
                    right(row.ratio.map_or("-".into(), |r| format!("{r:.3}"))),
                    right(format!("{:.2}", row.p50_ms)),
                    right(format!("{:.2}", row.p99_ms)),
                    right(format!("{:.2}", row.p999_ms)),
                    right(
                        row.server_cpu_us_per_call
                            .map_or("-".into(), |c| format!("{c:.0}")),
                    ),
                ]);
            }
        }
        let machine = &self.machine;
        let mut text = format!(
            "{} cores, kernel {}, {}; server {}, {} connections, {} rounds of {} ms\n",
            machine.cores,
            machine.kernel.as_deref().unwrap_or("unknown"),
            machine.cpu_model.as_deref().unwrap_or("cpu unknown"),
            self.settings.server,
            self.settings.connections,
            self.settings.rounds,
            self.settings.duration_ms,
        );
        text.push_str(&Printer::render(&mut table));
        if let Some(scale) = &self.scale {
            text.push('\n');
            text.push_str(&scale.describe());
        }
        if let Some(writes) = &self.writes {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&writes.describe());
        }
        text
    }
}

/// How each row's p50 grew from the first preloaded size to each later one,
/// all measured by one run of the bench (`--preload 10000,1000000`).
#[derive(Debug, Clone, Serialize)]
pub struct Growth {
    /// The first size, which the others are compared with.
    pub from_claims: u64,
    pub rows: Vec<GrowthRow>,
}

/// One row of a later size against the same row of the first.
#[derive(Debug, Clone, Serialize)]
pub struct GrowthRow {
    pub workload: String,
    pub detail: Option<String>,
    pub in_flight: usize,
    /// The preloaded size of this row.
    pub claims: u64,
    pub p50_ms: f64,
    /// `p50_ms` divided by the same row's p50 at `from_claims`.
    pub p50_growth: f64,
}

impl Growth {
    /// The growth over `reports`, one per preloaded size in the order
    /// measured; `None` with fewer than two sizes.
    pub fn of(reports: &[Report]) -> Option<Self> {
        let (first, later) = reports.split_first()?;
        if later.is_empty() {
            return None;
        }
        let from_claims = first.settings.preload?;
        let mut rows = Vec::new();
        for report in later {
            let claims = report.settings.preload?;
            for row in &report.rows {
                let same = first.rows.iter().find(|r| {
                    r.workload == row.workload
                        && r.detail == row.detail
                        && r.in_flight == row.in_flight
                });
                if let Some(base) = same.filter(|base| base.p50_ms > 0.0) {
                    rows.push(GrowthRow {
                        workload: row.workload.clone(),
                        detail: row.detail.clone(),
                        in_flight: row.in_flight,
                        claims,
                        p50_ms: row.p50_ms,
                        p50_growth: row.p50_ms / base.p50_ms,
                    });
                }
            }
        }
        Some(Self { from_claims, rows })
    }

    pub fn render(&self, printer: &Printer) -> String {
        match printer.format {
            Format::Json => serde_json::to_string(&serde_json::json!({ "growth": self }))
                .expect("a growth serialises"),
            Format::Human => {
                let mut table = printer.table();
                let against = format!("P50 / P50 AT {}", self.from_claims);
                table.set_header(
                    [
                        "WORKLOAD",
                        "IN FLIGHT",
                        "CLAIMS",
                        "P50 MS",
                        against.as_str(),
                    ]
                    .map(Cell::new),
                );
                for row in &self.rows {
                    let right = |text: String| Cell::new(text).set_alignment(CellAlignment::Right);
                    table.add_row(vec![
                        Cell::new(label(&row.workload, row.detail.as_deref())),
                        right(row.in_flight.to_string()),
                        right(row.claims.to_string()),
                        right(format!("{:.2}", row.p50_ms)),
                        right(format!("{:.2}", row.p50_growth)),
                    ]);
                }
                format!(
                    "p50 of each row against the same row at {} claims, in this run:\n{}",
                    self.from_claims,
                    Printer::render(&mut table)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cli::bench::workloads::Workload;

    #[test]
    fn the_median_of_an_odd_or_even_number_of_values() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn the_ratio_is_the_median_of_each_round_against_its_own_baseline() {
        // The machine slows down round by round; each round against its
        // own baseline says the same.
        let pairs = [(1000.0, 500.0), (500.0, 250.0), (250.0, 125.0)];
        assert_eq!(median_ratio(&pairs), Some(0.5));
        // A disturbed round does not move the median.
        let pairs = [(1000.0, 500.0), (1000.0, 100.0), (1000.0, 600.0)];
        assert_eq!(median_ratio(&pairs), Some(0.5));
        assert_eq!(median_ratio(&[(0.0, 10.0)]), None);
    }

    fn measurement(
        calls: u64,
        seconds: u64,
        latency_micros: u64,
        cpu_ms: Option<u64>,
    ) -> Measurement {
        let mut latencies = latency_histogram();
        latencies
            .record_n(latency_micros, calls)
            .expect("in bounds");
        Measurement {
            calls,
            elapsed: Duration::from_secs(seconds),
            latencies,
            server_cpu: cpu_ms.map(Duration::from_millis),
        }
    }

    #[test]
    fn a_row_takes_the_median_throughput_the_ratio_and_the_cpu_per_call() {
        let case = &Workload::List.cases()[0];
        let rounds = [
            (
                measurement(2000, 1, 100, Some(100)),
                measurement(1000, 1, 2000, Some(300)),
            ),
            (
                measurement(1000, 1, 100, Some(100)),
                measurement(400, 1, 2000, Some(100)),
            ),
            (
                measurement(3000, 1, 100, Some(100)),
                measurement(1800, 1, 2000, Some(200)),
            ),
        ];
        let row = Row::workload(case, 8, &rounds, None);
        assert_eq!(row.workload, "list");
        assert_eq!(row.detail.as_deref(), Some("by state"));
        assert_eq!(row.calls, 3200);
        assert_eq!(row.throughput, 1000.0);
        assert_eq!(row.ratio, Some(0.5));
        assert_eq!(row.p50_ms, 2.0);
        // 600 ms of CPU over 3200 calls.
        let cpu = row.server_cpu_us_per_call.expect("the CPU time is known");
        assert!((cpu - 187.5).abs() < 1e-9, "{cpu}");

        let without_cpu = [(measurement(10, 1, 5, None), measurement(10, 1, 5, None))];
        let row = Row::workload(case, 1, &without_cpu, None);
        assert_eq!(row.server_cpu_us_per_call, None);
    }

    #[test]
    fn the_table_shows_the_baseline_then_each_row_per_number_in_flight() {
        let base = measurement(1000, 1, 250, None);
        let listed = measurement(500, 1, 1500, None);
        let rows: Vec<Row> = Workload::List
            .cases()
            .iter()
            .map(|case| Row::workload(case, 4, &[(base.clone(), listed.clone())], None))
            .collect();
        let report = Report {
            machine: Machine {
                cores: 2,
                kernel: Some("6.1.0".into()),
                cpu_model: Some("Example CPU".into()),
            },
            settings: Settings {
                server: "own".into(),
                connections: 8,
                in_flight: vec![4],
                duration_ms: 1000,
                max_calls: None,
                rounds: 1,
                workloads: vec!["list"],
                story: "bench-1".into(),
                seeded_claims: 10,
                preload: None,
                store: Some("sled"),
                database_url: None,
            },
            baselines: vec![Row::baseline(4, &[&base])],
            rows,
            scale: None,
            writes: None,
        };
        let printer = Printer {
            format: Format::Human,
            colour: false,
            now: std::time::SystemTime::now(),
        };
        let text = report.render(&printer);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "2 cores, kernel 6.1.0, Example CPU; server own, 8 connections, 1 rounds of 1000 ms"
        );
        let words = |line: &str| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            words(lines[1]),
            [
                "WORKLOAD", "IN", "FLIGHT", "CALLS/S", "RATIO", "P50", "MS", "P99", "MS", "P99.9",
                "MS", "SERVER", "CPU", "µS/CALL"
            ]
        );
        assert_eq!(
            words(lines[2]),
            ["baseline", "4", "1000", "-", "0.25", "0.25", "0.25", "-"]
        );
        assert_eq!(
            words(lines[3]),
            [
                "list", "(by", "state)", "4", "500", "0.500", "1.50", "1.50", "1.50", "-"
            ]
        );
        assert_eq!(words(lines[4])[..3], ["list", "(by", "story)"]);
        assert_eq!(lines.len(), 5);

        let json: serde_json::Value = serde_json::from_str(&report.render(&Printer {
            format: Format::Json,
            ..printer
        }))
        .expect("one JSON object");
        assert_eq!(json["machine"]["cores"], 2);
        assert_eq!(json["rows"][1]["detail"], "by story");
        assert_eq!(json["rows"][1]["ratio"], 0.5);
        assert_eq!(json["baselines"][0]["ratio"], serde_json::Value::Null);
    }

    #[test]
    fn the_cpu_model_is_the_first_model_name() {
        let info = "processor\t: 0\nmodel name\t: Example CPU @ 2.0GHz\nprocessor\t: 1\nmodel name\t: Other\n";
        assert_eq!(cpu_model(info).as_deref(), Some("Example CPU @ 2.0GHz"));
        assert_eq!(cpu_model("processor : 0\n"), None);
    }
}
