//! What comparing a new claim with its story costs as the story grows. Run
//! with `cargo bench --bench conflicts` (story sizes:
//! `CLAIMDESK_BENCH_STORY_SIZES=10,10000`).
//!
//! Every claim of the story counts the same thing with the same figure
//! ("about 9,000 dock workers"), so each is a candidate of every new claim
//! (as many as the store's bounds let it compare with) and none is a
//! contradiction or a duplicate: the figure is read, the candidates are
//! found and compared, and nothing but the new claim is written. Each probe
//! is submitted to a story of the size measured (a story of its own for
//! the small size, so that it holds exactly that many), straight to the
//! store, one at a time; the store's durable flush is not waited for.
//!
//! The figure is the cost per submission at each size as a ratio to the
//! smallest size, and each as a ratio to a submission without figures in
//! the same store (the baseline of the same run: the machines this runs on
//! are shared and noisy).

use std::time::{Duration, Instant, SystemTime};

use claimdesk::{
    domain::{
        Attribution, Claim, ClaimId, NewClaim, Priority, Slug, SourceName, Statement, UserName,
    },
    storage::{SledStore, Store, StoreConfig},
};

/// Probes submitted per size.
const PROBES: usize = 300;

fn main() {
    let sizes: Vec<usize> = std::env::var("CLAIMDESK_BENCH_STORY_SIZES")
        .unwrap_or_else(|_| "10,10000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("sizes are numbers"))
        .collect();
    let costs: Vec<(usize, Costs)> = sizes.iter().map(|&size| (size, measure(size))).collect();
    let Some((smallest, base)) = costs.first() else {
        return;
    };
    reading(base.plain);
    for (size, cost) in &costs {
        println!(
            "submit into a story of {size:>6} claims: {:>7.1} µs ({:.2}x a story of {smallest}; {:.2}x a submission without figures)",
            cost.probe * 1e6,
            cost.probe / base.probe,
            cost.probe / cost.plain,
        );
    }
}

/// What reading a statement costs (its figures, then its wording), against
/// a plain submission straight to the store.
fn reading(plain: f64) {
    let statements = [
        "Bench claim w3 s17: dock workers joined the strike",
        "North Korea sent about 14,000 troops to fight alongside Russia, officials said",
    ];
    for statement in statements {
        let rounds = 20_000;
        let started = Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(claimdesk::domain::extract(std::hint::black_box(statement)));
        }
        let extract = started.elapsed().as_secs_f64() / f64::from(rounds);
        let started = Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(claimdesk::domain::Wording::of(std::hint::black_box(
                statement,
            )));
        }
        let wording = started.elapsed().as_secs_f64() / f64::from(rounds);
        println!(
            "reading {:>3} characters: figures {:>5.1} µs, wording {:>5.1} µs ({:.3}x a plain submission)",
            statement.len(),
            extract * 1e6,
            wording * 1e6,
            (extract + wording) / plain,
        );
    }
}

struct Costs {
    /// Seconds per submission into the story.
    probe: f64,
    /// Seconds per submission without figures, in the same store.
    plain: f64,
}

fn claim(id: &mut ulid::Generator, story: &str, statement: String) -> Claim {
    let new = NewClaim {
        statement: Statement::parse(&statement).unwrap(),
        attribution: Attribution {
            source: SourceName::parse("Harbour Gazette").unwrap(),
            relayed_from: Vec::new(),
            url: None,
        },
        story: Slug::parse(story).unwrap(),
        tags: Vec::new(),
        priority: Priority::Routine,
        deadline: None,
    };
    Claim::submitted(
        ClaimId::from_ulid(id.generate().unwrap()),
        new,
        UserName::parse("bench.editor").unwrap(),
        SystemTime::now(),
    )
}

/// A story of `size` claims; the probes go to it, or (for a size below
/// the number of probes) each to a story of `size` of its own.
fn measure(size: usize) -> Costs {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&StoreConfig::new(dir.path())).unwrap();
    let mut ids = ulid::Generator::new();
    let stories: Vec<String> = if size < PROBES * 10 {
        (0..PROBES).map(|p| format!("strike-{p}")).collect()
    } else {
        vec!["strike".to_owned()]
    };
    let figure = "about 9,000 dock workers joined the strike";
    let mut claims = Vec::new();
    for story in &stories {
        for n in 0..size {
            claims.push(claim(
                &mut ids,
                story,
                format!("Claim number {n}: {figure}"),
            ));
        }
    }
    let filled = Instant::now();
    store.import(claims).unwrap();
    eprintln!(
        "{} stories of {size} claims filled in {:.1?}",
        stories.len(),
        filled.elapsed()
    );

    let mut probe = Duration::ZERO;
    let mut plain = Duration::ZERO;
    // Alternating, so drift hits both alike.
    for p in 0..PROBES {
        let story = &stories[p % stories.len()];
        let with_figure = claim(
            &mut ids,
            story,
            format!("Probe number {}: {figure}", 1_000_000 + p),
        );
        let started = Instant::now();
        let submitted = store.submit(with_figure, None).unwrap();
        probe += started.elapsed();
        let claimdesk::storage::Submitted::Created(created) = submitted else {
            panic!("a new claim");
        };
        assert_eq!(created.figures.len(), 1, "the probe's one figure is read");
        assert!(created.links.is_empty(), "nothing contradicts the probe");
        let without = claim(
            &mut ids,
            &format!("plain-{p}"),
            format!("Probe number {p}: dock crews walked out"),
        );
        let started = Instant::now();
        store.submit(without, None).unwrap();
        plain += started.elapsed();
    }
    store.durable().wait_blocking().unwrap();
    Costs {
        probe: probe.as_secs_f64() / PROBES as f64,
        plain: plain.as_secs_f64() / PROBES as f64,
    }
}
