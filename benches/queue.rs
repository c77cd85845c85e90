//! Benchmarks of the queue and the event stream. Run with
//! `cargo bench --bench queue` (sizes: `CLAIMDESK_BENCH_SIZES=10000,1000000`).
//!
//! Figures are ratios against a baseline measured in the same run, because
//! the machines this runs on are shared and noisy:
//! - `take_next`: the cost of TakeNextClaim's storage step at each store size,
//!   against a point read (`get`) in the same store. Served from an index,
//!   its cost must not grow with the number of claims.
//! - `watchers`: write throughput over gRPC with one reading watcher, and
//!   with one more watcher that never reads. The stuck watcher must not cost
//!   the writers more than 10%.

use std::time::{Duration, Instant, SystemTime};

use claimdesk::{
    domain::{
        Actor, Attribution, Claim, ClaimId, Command, NewClaim, Priority, Role, Slug, SourceName,
        Statement, UserName,
    },
    pb::{self, claim_service_client::ClaimServiceClient},
    server::{Config, Server},
    storage::{QueueQuery, SledStore, Store, StoreConfig, step},
};
use tokio_stream::StreamExt;

fn main() {
    let sizes: Vec<usize> = std::env::var("CLAIMDESK_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,1000000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("sizes are numbers"))
        .collect();
    let mut per_size = Vec::new();
    for &size in &sizes {
        per_size.push((size, take_next(size)));
    }
    if let (Some(first), Some(last)) = (per_size.first(), per_size.last()) {
        println!(
            "take_next: {} claims vs {} claims: {:.2}x the cost per take (relative to get: {:.2} vs {:.2})",
            last.0,
            first.0,
            last.1.take / first.1.take,
            last.1.take / last.1.get,
            first.1.take / first.1.get,
        );
    }
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(watchers());
}

struct Costs {
    /// Seconds per take.
    take: f64,
    /// Seconds per point read.
    get: f64,
}

fn new_claim(i: usize) -> NewClaim {
    NewClaim {
        // No figure: the claims of a story are not suggested as
        // contradicting each other (that cost is `benches/conflicts.rs`'s).
        statement: Statement::parse(&format!("Claim number {i}: dock workers walked out."))
            .unwrap(),
        attribution: Attribution {
            source: SourceName::parse(["Harbour Gazette", "Coast Radio", "Port Wire"][i % 3])
                .unwrap(),
            relayed_from: Vec::new(),
            url: None,
        },
        story: Slug::parse(&format!("story-{}", i % 100)).unwrap(),
        tags: vec![Slug::parse(["labour", "shipping", "weather"][i % 3]).unwrap()],
        priority: [Priority::Routine, Priority::Urgent, Priority::Breaking][i % 3],
        deadline: i
            .is_multiple_of(2)
            .then(|| SystemTime::now() + Duration::from_secs((i % 10_000) as u64)),
    }
}

/// Fills a store with `size` claims, then times taking from the queue and
/// reading claims.
fn take_next(size: usize) -> Costs {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&StoreConfig::new(dir.path())).unwrap();
    let editor = UserName::parse("bench.editor").unwrap();
    let mut ids = ulid::Generator::new();
    let mut names = Vec::with_capacity(size);
    let filled = Instant::now();
    for i in 0..size {
        let id = ClaimId::from_ulid(ids.generate().unwrap());
        let claim = Claim::submitted(id, new_claim(i), editor.clone(), SystemTime::now());
        store.submit(claim, None).unwrap();
        names.push(id);
        if i % 100_000 == 99_999 {
            eprintln!("  filled {} claims in {:.0?}", i + 1, filled.elapsed());
        }
    }
    store.durable().wait_blocking().unwrap();
    eprintln!("filled {size} claims in {:.1?}", filled.elapsed());

    let checker = Actor::new(UserName::parse("bench.checker").unwrap(), Role::Checker);
    let command = Command::StartReview {
        lease: Duration::from_secs(900),
    };
    let takes = 2_000.min(size);
    // Three kinds of takes in turn: the whole queue, one story's queue (a
    // different story each time), and claims with either of two tags.
    let query = |i: usize| match i % 3 {
        0 => QueueQuery::default(),
        1 => QueueQuery {
            story: Some(Slug::parse(&format!("story-{}", (i / 3) % 100)).unwrap()),
            tags: Vec::new(),
        },
        _ => QueueQuery {
            story: None,
            tags: vec![
                Slug::parse("weather").unwrap(),
                Slug::parse("labour").unwrap(),
            ],
        },
    };
    let started = Instant::now();
    for i in 0..takes {
        let taken = store
            .take_next(&query(i), {
                let (command, checker) = (command.clone(), checker.clone());
                step(move |claim: &Claim| claim.apply(command.clone(), &checker, SystemTime::now()))
            })
            .unwrap();
        assert!(taken.is_some(), "the queue holds claims");
    }
    let take = started.elapsed().as_secs_f64() / takes as f64;

    let reads = 20_000;
    let started = Instant::now();
    for i in 0..reads {
        let id = names[(i * 7919) % names.len()];
        assert!(store.get(id).unwrap().is_some());
    }
    let get = started.elapsed().as_secs_f64() / reads as f64;
    println!(
        "take_next @ {size:>8} claims: {:>8.1} µs per take, {:>6.1} µs per get ({:.1}x get)",
        take * 1e6,
        get * 1e6,
        take / get
    );
    Costs { take, get }
}

const WRITERS: usize = 16;
const WRITES: usize = 4_000;

/// Submits `WRITES` claims from `WRITERS` concurrent clients: claims/s.
async fn write_throughput(addr: std::net::SocketAddr) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let mut client = ClaimServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        tasks.push(tokio::spawn(async move {
            for i in (w..WRITES).step_by(WRITERS) {
                client
                    .submit_claim(pb::SubmitClaimRequest {
                        claim: Some(pb::Claim {
                            statement: format!("Claim {i} about the harbour."),
                            attribution: Some(pb::Attribution {
                                source: "Harbour Gazette".into(),
                                ..Default::default()
                            }),
                            story: "bench".into(),
                            ..Default::default()
                        }),
                        request_id: String::new(),
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    WRITES as f64 / started.elapsed().as_secs_f64()
}

/// A watcher that reads every event until told to stop; returns how many.
fn reading_watcher(
    addr: std::net::SocketAddr,
) -> (
    tokio::task::JoinHandle<usize>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut client = ClaimServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let mut stream = client
            .watch_claim_events(pb::WatchClaimEventsRequest::default())
            .await
            .unwrap()
            .into_inner();
        let mut seen = 0;
        loop {
            tokio::select! {
                item = stream.next() => match item {
                    Some(Ok(_)) => seen += 1,
                    _ => return seen,
                },
                _ = &mut stopped => return seen,
            }
        }
    });
    (task, stop)
}

async fn watchers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::build(&Config {
        cache_capacity: 256 * 1024 * 1024,
        shutdown_grace: Duration::from_secs(1),
        ..Config::new("127.0.0.1:0".parse().unwrap(), dir.path())
    })
    .await
    .unwrap();
    let addr = server.local_addr();
    let (shutdown, stop_server) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run_until(async {
        let _ = stop_server.await;
    }));

    // Warm up, then alternate the two set-ups so drift hits both alike.
    write_throughput(addr).await;
    let mut with_reader = Vec::new();
    let mut with_stuck = Vec::new();
    for round in 0..3 {
        let (reader, stop) = reading_watcher(addr);
        with_reader.push(write_throughput(addr).await);
        let _ = stop.send(());
        reader.await.unwrap();

        let (reader, stop) = reading_watcher(addr);
        // The stuck watcher opens its stream and never reads it.
        let mut stuck_client = ClaimServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let stuck = stuck_client
            .watch_claim_events(pb::WatchClaimEventsRequest::default())
            .await
            .unwrap();
        with_stuck.push(write_throughput(addr).await);
        let _ = stop.send(());
        reader.await.unwrap();
        drop(stuck);
        eprintln!(
            "round {round}: {:.0} claims/s with a reading watcher, {:.0} with a stuck one too",
            with_reader[round], with_stuck[round]
        );
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (reader, stuck) = (median(&mut with_reader), median(&mut with_stuck));
    println!(
        "watchers: write throughput with a stuck watcher is {:.2}x that without ({stuck:.0} vs {reader:.0} claims/s, medians of 3)",
        stuck / reader
    );
    let _ = shutdown.send(());
    serving.await.unwrap().unwrap();
}
