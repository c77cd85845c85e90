//! `claimdesk bench`: measures a server with one command. Every figure is
//! a ratio to a baseline measured in the same run, in alternating rounds
//! (baseline, workload, baseline, workload…), so that the drift of a
//! shared, noisy machine weighs on both alike.
//!
//! `child` starts the server measured when none is given; `seed` submits
//! what the workloads need; `workloads` makes their calls and `load` times
//! them; `report` turns the rounds into rows and prints them.

mod child;
mod load;
mod preload;
mod report;
mod seed;
mod workloads;

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use child::ChildServer;
use load::{Bounds, Measurement, measure};
use preload::Preloaded;

use crate::storage::postgres::ScratchSchema;
use report::{Machine, Report, Row, Scale, Settings};
use seed::Watchers;
pub use workloads::Workload;
use workloads::{Case, Job, Shared, Worker};

use super::{
    connect::{ConnectArgs, Connection},
    error::{ClientError, EXIT_STATUS_HELP},
    inputs::DurationUnits,
    output::{OutputArgs, Printer, emit},
    run_multi_threaded,
};

/// `claimdesk bench`
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_STATUS_HELP)]
pub struct BenchArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// HTTP/2 connections the calls are spread over.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub connections: u16,
    /// Calls in flight at once, each number measured in turn [default:
    /// 1,64; 1,8 with --short].
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub in_flight: Option<Vec<u16>>,
    /// How long each measurement lasts, e.g. `3s`, `500ms` [default: 3s;
    /// 300ms with --short].
    #[arg(long, value_parser = parse_millis)]
    pub duration: Option<Duration>,
    /// At most this many calls per measurement.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_calls: Option<u64>,
    /// Rounds of each workload, each after a round of the baseline
    /// [default: 3; 1 with --short].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub rounds: Option<u16>,
    /// The workloads to measure, comma-separated [default: all].
    #[arg(long, value_delimiter = ',', value_enum)]
    pub workloads: Option<Vec<Workload>>,
    /// A few seconds in all: 1 round of 300 ms at 1 and 8 calls in flight,
    /// fewer claims seeded (to check that the harness works, not to
    /// measure). Flags given as well take precedence.
    #[arg(long)]
    pub short: bool,
    /// Fill the store with this many small claims before the server starts
    /// (imported by this process, many per transaction), add the `take`
    /// workload to the default ones, and report the store's size, the
    /// server's memory and its restart after kill -9. Several sizes,
    /// comma-separated (`10000,1000000`), measure one store of each in
    /// turn and compare each row's p50 at every size with the first.
    /// Own server only.
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = clap::value_parser!(u64).range(1..=100_000_000)
    )]
    pub preload: Option<Vec<u64>>,
    /// Keep the own server's desk in PostgreSQL, in a scratch schema of
    /// this database (made for the run, dropped after it), instead of a
    /// temporary data directory: the same workloads, measured on the
    /// other backend. Own server only; not with --preload. Given on the
    /// command line only.
    #[arg(long)]
    pub database_url: Option<String>,
}

/// Claims seeded for GetClaim.
const SEEDED_CLAIMS: u64 = 1000;
const SEEDED_CLAIMS_SHORT: u64 = 100;
/// Claims waiting in the queue before the first round that takes them,
/// per second of a round.
const REVIEW_CLAIMS_PER_SECOND: f64 = 400.0;

/// The long help of `bench`, and the server it measures.
pub const ABOUT: &str = "Measure a server's throughput and latency, each workload as a ratio to \
    the standard health check of the same server measured in alternating rounds.

Without --server on the command line (CLAIMDESK_SERVER does not count), it starts this \
program's own `serve --listen 127.0.0.1:0 --ephemeral` as a child process, without the \
CLAIMDESK_* variables of the environment, measures it, its CPU time per call too, and stops it \
with SIGTERM (on Ctrl-C and on errors too).

With --server URL (and --token, --user and the TLS options) it measures that server instead: \
it WRITES CLAIMS THERE (submissions and reviews), all under a story of its own, \
`bench-<milliseconds since 1970>`.";

/// Runs `claimdesk bench`. `server_given`: whether `--server` was on the
/// command line (its default, or `CLAIMDESK_SERVER`, does not count).
pub fn bench(args: BenchArgs, server_given: bool) -> std::process::ExitCode {
    run_multi_threaded(async move {
        let settings = resolve(&args, server_given)?;
        let printer = Printer::new(args.output.output);
        if server_given {
            let report = run(settings, &args.connect, None).await?;
            return emit(&report.render(&printer));
        }
        let user = args.connect.user.clone().unwrap_or_else(|| "bench".into());
        let sizes: Vec<Option<u64>> = match &args.preload {
            Some(sizes) => sizes.iter().copied().map(Some).collect(),
            None => vec![None],
        };
        let mut reports = Vec::with_capacity(sizes.len());
        for size in sizes {
            let report = run_own(
                Settings {
                    preload: size,
                    ..settings.clone()
                },
                &user,
            )
            .await?;
            emit(&report.render(&printer))?;
            reports.push(report);
        }
        if let Some(compared) = report::Growth::of(&reports) {
            emit(&compared.render(&printer))?;
        }
        Ok(())
    })
}

/// Measures a server of its own, on a store preloaded first if asked.
async fn run_own(settings: Settings, user: &str) -> Result<Report, ClientError> {
    let preloaded = match settings.preload {
        Some(count) => {
            eprintln!("preloading {count} claims");
            let preloading = preload::preload(count, &settings.story, user);
            Some(tokio::select! {
                preloaded = preloading => preloaded?,
                () = interrupted() => return Err(ClientError::Failed("interrupted".into())),
            })
        }
        None => None,
    };
    let data_dir = preloaded.as_ref().map(Preloaded::data_dir);
    let schema = match settings.database_url.clone() {
        Some(url) => Some(
            tokio::task::spawn_blocking(move || ScratchSchema::create(&url))
                .await
                .map_err(|e| ClientError::Failed(e.to_string()))?
                .map_err(|e| ClientError::Failed(format!("cannot make a scratch schema: {e}")))?,
        ),
        None => None,
    };
    let server = ChildServer::start(data_dir.as_deref(), schema.as_ref()).await?;
    let connect = own_connect(&server, user);
    let measured = tokio::select! {
        report = run(settings, &connect, Some(server.pid())) => report,
        () = interrupted() => Err(ClientError::Failed("interrupted".into())),
    };
    match (measured, preloaded) {
        (Ok(report), Some(preloaded)) => measure_scale(report, server, &preloaded, user).await,
        (measured, _) => {
            // Stopped whatever happened; a run that failed says why first.
            let stopped = server.stop().await;
            if let Some(schema) = schema {
                // Dropping it drops the schema, from a thread of its own.
                let _ = tokio::task::spawn_blocking(move || drop(schema)).await;
            }
            let mut report = measured?;
            report.writes = stopped?;
            Ok(report)
        }
    }
}

/// The scale figures of a preloaded store: the server's memory after the
/// rows, then the time it takes to open the store again after kill -9.
async fn measure_scale(
    mut report: Report,
    server: ChildServer,
    preloaded: &Preloaded,
    user: &str,
) -> Result<Report, ClientError> {
    let server_rss_bytes = child::resident_memory(server.pid());
    eprintln!("killing the server with SIGKILL and starting it again on its store");
    server.kill().await?;
    let started = Instant::now();
    let again = ChildServer::start(Some(&preloaded.data_dir()), None).await?;
    let reopen_ms = started.elapsed().as_secs_f64() * 1000.0;
    let counted = match own_connect(&again, user).connect().await {
        Ok(connection) => seed::stored(&connection).await,
        Err(e) => Err(e),
    };
    let stopped = again.stop().await;
    report.scale = Some(Scale {
        preload: preloaded.figures.clone(),
        server_rss_bytes,
        reopen_ms,
        claims_after_reopen: counted?,
    });
    stopped?;
    Ok(report)
}

/// How to reach the bench's own server, in open mode as `user`.
fn own_connect(server: &ChildServer, user: &str) -> ConnectArgs {
    ConnectArgs {
        server: server.url.clone(),
        token: None,
        user: Some(user.to_owned()),
        ca_cert: None,
        client_cert: None,
        client_key: None,
        tls_server_name: None,
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// The settings the flags make, `--short`'s defaults included.
fn resolve(args: &BenchArgs, server_given: bool) -> Result<Settings, ClientError> {
    let since_1970 = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|e| ClientError::Failed(format!("the clock is before 1970: {e}")))?;
    if server_given && args.database_url.is_some() {
        return Err(ClientError::Usage(
            "--database-url picks the store of the bench's own server; it cannot be used with \
             --server"
                .into(),
        ));
    }
    if args.database_url.is_some() && args.preload.is_some() {
        return Err(ClientError::Usage(
            "--preload fills the embedded store; it cannot be used with --database-url".into(),
        ));
    }
    if server_given && args.preload.is_some() {
        return Err(ClientError::Usage(
            "--preload fills a store of the bench's own server; it cannot be used with --server"
                .into(),
        ));
    }
    let workloads = args.workloads.clone().unwrap_or_else(|| {
        let mut default = Workload::ALL.to_vec();
        if args.preload.is_some() {
            default.push(Workload::Take);
        }
        default
    });
    let mut names: Vec<&'static str> = Vec::new();
    for workload in workloads {
        if !names.contains(&workload.name()) {
            names.push(workload.name());
        }
    }
    Ok(Settings {
        server: if server_given {
            args.connect.server.clone()
        } else {
            "own".into()
        },
        connections: args.connections.into(),
        in_flight: args
            .in_flight
            .clone()
            .unwrap_or(if args.short { vec![1, 8] } else { vec![1, 64] })
            .into_iter()
            .map(usize::from)
            .collect(),
        duration_ms: args
            .duration
            .unwrap_or(Duration::from_millis(if args.short { 300 } else { 3000 }))
            .as_millis()
            .try_into()
            .unwrap_or(u64::MAX),
        max_calls: args.max_calls,
        rounds: args.rounds.unwrap_or(if args.short { 1 } else { 3 }).into(),
        workloads: names,
        story: format!("bench-{}", since_1970.as_millis()),
        seeded_claims: if args.short {
            SEEDED_CLAIMS_SHORT
        } else {
            SEEDED_CLAIMS
        },
        preload: args
            .preload
            .as_ref()
            .and_then(|sizes| sizes.first().copied()),
        store: match (server_given, &args.database_url) {
            (true, _) => None,
            (false, None) => Some("sled"),
            (false, Some(_)) => Some("postgres"),
        },
        database_url: args.database_url.clone(),
    })
}

/// Seeds, then measures every workload at every number of calls in flight.
async fn run(
    settings: Settings,
    connect: &ConnectArgs,
    server_pid: Option<u32>,
) -> Result<Report, ClientError> {
    let mut connections = Vec::with_capacity(settings.connections);
    for _ in 0..settings.connections {
        connections.push(connect.connect().await?);
    }
    let largest_in_flight = settings.in_flight.iter().copied().max().unwrap_or(1);
    eprintln!(
        "seeding {} claims in story {}",
        settings.seeded_claims, settings.story
    );
    let seeded = seed::submit_claims(
        &connections,
        &settings.story,
        settings.seeded_claims,
        largest_in_flight,
    )
    .await?;
    let shared = Arc::new(Shared {
        story: settings.story.clone(),
        seeded,
    });
    let bounds = Bounds {
        duration: Duration::from_millis(settings.duration_ms),
        max_calls: settings.max_calls,
    };
    let cases: Vec<Case> = settings
        .workloads
        .iter()
        .filter_map(|name| {
            <Workload as clap::ValueEnum>::value_variants()
                .iter()
                .copied()
                .find(|w| w.name() == *name)
        })
        .flat_map(Workload::cases)
        .collect();
    let mut rows = Vec::new();
    let mut baselines = Vec::new();
    for &in_flight in &settings.in_flight {
        let mut baseline_rounds = Vec::new();
        for case in &cases {
            let bench = CaseBench {
                case,
                in_flight,
                bounds,
                rounds: settings.rounds,
                connect,
                connections: &connections,
                shared: &shared,
                server_pid,
            };
            let (row, rounds) = bench.run().await?;
            rows.push(row);
            baseline_rounds.extend(rounds);
        }
        let measured: Vec<&Measurement> = baseline_rounds.iter().collect();
        baselines.push(Row::baseline(in_flight, &measured));
    }
    Ok(Report {
        machine: Machine::this_one(),
        settings,
        baselines,
        rows,
        scale: None,
        writes: None,
    })
}

/// One row: a case at a number of calls in flight.
struct CaseBench<'a> {
    case: &'a Case,
    in_flight: usize,
    bounds: Bounds,
    rounds: usize,
    connect: &'a ConnectArgs,
    connections: &'a [Connection],
    shared: &'a Arc<Shared>,
    server_pid: Option<u32>,
}

impl CaseBench<'_> {
    /// Its rounds, each after one of the baseline: the row, and the
    /// baseline's measurements.
    async fn run(&self) -> Result<(Row, Vec<Measurement>), ClientError> {
        let case = self.case;
        eprintln!(
            "measuring {}{} at {} in flight",
            case.workload.name(),
            case.detail
                .as_deref()
                .map_or(String::new(), |d| format!(" ({d})")),
            self.in_flight
        );
        let watchers = Watchers::open(
            self.connect,
            &self.connections[0],
            &self.shared.story,
            case.watchers,
            case.idle_watchers,
        )
        .await?;
        // Claims that must wait in the queue before a round that takes
        // them: a guess at first, then half again what a round took.
        let mut to_take = self.bounds.max_calls.map_or(
            (REVIEW_CLAIMS_PER_SECOND * self.bounds.duration.as_secs_f64()).ceil() as u64,
            |max| max / 3 + 1,
        ) + self.in_flight as u64;
        let mut rounds = Vec::with_capacity(self.rounds);
        for _ in 0..self.rounds {
            if case.takes_claims() {
                self.fill_queue(to_take).await?;
            }
            let (baseline, _) = self.measure(Job::Health).await?;
            let (measured, workers) = self.measure(case.job).await?;
            let taken: u64 = workers.iter().map(|w| w.taken).sum();
            to_take = to_take.max(taken + taken / 2 + self.in_flight as u64);
            rounds.push((baseline, measured));
        }
        let events = if case.watchers > 0 {
            // Each watcher reads the event of every submission measured;
            // idle ones none, but must still be watching at the end.
            let submitted: u64 = rounds.iter().map(|(_, w)| w.calls).sum();
            let expected = if case.idle_watchers {
                0
            } else {
                submitted * case.watchers as u64
            };
            Some(watchers.close(expected).await?)
        } else {
            None
        };
        let row = Row::workload(case, self.in_flight, &rounds, events);
        Ok((row, rounds.into_iter().map(|(b, _)| b).collect()))
    }

    /// One measurement of `job`.
    async fn measure(&self, job: Job) -> Result<(Measurement, Vec<Worker>), ClientError> {
        let workers = (0..self.in_flight)
            .map(|index| {
                let connection = &self.connections[index % self.connections.len()];
                Worker::new(job, index, connection, Arc::clone(self.shared))
            })
            .collect();
        measure(workers, self.bounds, self.server_pid).await
    }

    /// Submits claims until at least `count` wait in the run's queue.
    async fn fill_queue(&self, count: u64) -> Result<(), ClientError> {
        let story = &self.shared.story;
        let waiting = seed::waiting(&self.connections[0], story).await?;
        if waiting < count {
            seed::submit_claims(self.connections, story, count - waiting, self.in_flight).await?;
        }
        Ok(())
    }
}

/// A duration such as `300ms`, `3s` or `1m` (a bare number is seconds).
fn parse_millis(raw: &str) -> Result<Duration, String> {
    const MILLISECONDS_TO_MINUTES: DurationUnits = DurationUnits {
        units: &[
            ("ms", Duration::from_millis(1)),
            ("s", Duration::from_secs(1)),
            ("m", Duration::from_secs(60)),
        ],
        bare: Duration::from_secs(1),
        examples: "300ms, 3s or 1m",
        max: (Duration::from_secs(3600), "1h"),
    };
    MILLISECONDS_TO_MINUTES.parse(raw)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn settings(args: &[&str]) -> Settings {
        let cli = Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
            .expect("valid flags");
        resolve(&cli.bench, false).expect("settings")
    }

    #[test]
    fn durations_take_milliseconds_seconds_or_minutes() {
        assert_eq!(parse_millis("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_millis("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_millis("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_millis("1m"), Ok(Duration::from_secs(60)));
        for bad in ["0ms", "3h", "fast", "2m30s", "61m"] {
            assert!(parse_millis(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_defaults_and_those_of_short_which_flags_override() {
        let full = settings(&[]);
        assert_eq!(full.in_flight, [1, 64]);
        assert_eq!(full.duration_ms, 3000);
        assert_eq!(full.rounds, 3);
        assert_eq!(full.connections, 8);
        assert_eq!(
            full.workloads,
            ["get", "submit", "list", "review", "mixed", "watch"]
        );
        assert_eq!(full.server, "own");
        assert!(full.story.starts_with("bench-"));

        let short = settings(&["--short"]);
        assert_eq!(short.in_flight, [1, 8]);
        assert_eq!(short.duration_ms, 300);
        assert_eq!(short.rounds, 1);
        assert!(short.seeded_claims < full.seeded_claims);

        let given = settings(&[
            "--short",
            "--in-flight",
            "2,4",
            "--duration",
            "100ms",
            "--workloads",
            "get,list",
        ]);
        assert_eq!(given.in_flight, [2, 4]);
        assert_eq!(given.duration_ms, 100);
        assert_eq!(given.workloads, ["get", "list"]);
    }

    #[test]
    fn zero_and_unknown_values_are_refused() {
        for args in [
            &["--connections", "0"][..],
            &["--in-flight", "0"],
            &["--rounds", "0"],
            &["--max-calls", "0"],
            &["--workloads", "delete"],
        ] {
            assert!(
                Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied())).is_err(),
                "{args:?}"
            );
        }
    }
}
