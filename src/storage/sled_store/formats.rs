//! Stores that hold records of both formats, filled through the [`Store`]:
//! JSON (format 1) written as earlier releases did
//! ([`WRITE_JSON`](crate::storage::records::WRITE_JSON)), then
//! binary (format 2). And the measurement of what the binary format saves:
//! bytes on disk per small claim, and the time to decode a claim record
//! (`cargo test --release --lib -- --ignored --nocapture stored_size`).

use std::{
    path::Path,
    sync::atomic::Ordering,
    time::{Duration, Instant, SystemTime},
};

use super::{
    SledStore, StoreConfig,
    tests::{claim, new_claim},
};
use crate::{
    domain::{Actor, Claim, ClaimId, Command, Role, Statement, UserName},
    storage::{
        AuditReport, PageLimit, Store, Submitted,
        records::{ClaimRecord, Record, encode_json},
        step,
    },
};

const PAGE: PageLimit = PageLimit {
    items: 100,
    bytes: 1 << 20,
};

/// Runs `f` with the records `store`'s writer writes in JSON (format 1)
/// or not.
fn writing_json<T>(store: &SledStore, json: bool, f: impl FnOnce() -> T) -> T {
    let before = store.marks.write_json.swap(json, Ordering::SeqCst);
    let result = f();
    store.marks.write_json.store(before, Ordering::SeqCst);
    result
}

fn submit(store: &SledStore, claim: Claim) -> Claim {
    match store.submit(claim, None).expect("the claim is stored") {
        Submitted::Created(claim) => claim,
        Submitted::Replayed(_) => panic!("no request id was given"),
    }
}

fn start_review(store: &SledStore, id: ClaimId) -> Claim {
    let checker = Actor::new(UserName::parse("kim.checker").unwrap(), Role::Checker);
    let command = Command::StartReview {
        lease: Duration::from_secs(900),
    };
    let change = step(move |claim: &Claim| {
        let now = claim.update_time + Duration::from_secs(1);
        claim.apply(command.clone(), &checker, now)
    });
    store.update(id, change).expect("the review starts").0
}

#[test]
fn a_store_with_records_of_both_formats_reads_changes_and_audits() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&StoreConfig::new(dir.path())).unwrap();
    let old = writing_json(&store, true, || submit(&store, claim(1)));
    let changed = writing_json(&store, true, || submit(&store, claim(2)));
    assert_eq!(
        store.trees.claims.get(old.id.to_bytes()).unwrap().unwrap()[0],
        b'{'
    );

    // Binary from here on: a change to a JSON claim, and a new claim.
    let changed = start_review(&store, changed.id);
    let new = submit(&store, claim(3));
    assert_eq!(
        store
            .trees
            .claims
            .get(changed.id.to_bytes())
            .unwrap()
            .unwrap()[0],
        3
    );
    assert_eq!(
        store.trees.claims.get(new.id.to_bytes()).unwrap().unwrap()[0],
        3
    );

    for claim in [&old, &changed, &new] {
        assert_eq!(store.get(claim.id).unwrap().as_ref(), Some(claim));
    }
    let history = store.events(changed.id, 0, PAGE).unwrap().items;
    assert_eq!(
        history.iter().map(|e| e.revision).collect::<Vec<_>>(),
        [2, 3]
    );
    assert_eq!(history[1].to, changed.state);
    let all = store.events_since(0, u64::MAX, 10).unwrap();
    assert_eq!(all.len(), 4);
    assert!(matches!(
        store.audit().unwrap(),
        AuditReport::Intact { events: 4 }
    ));
}

/// A small claim: a statement of about 50 characters, one event.
fn small_claim(i: usize) -> Claim {
    let mut new = new_claim();
    new.statement = Statement::parse(&format!(
        "About {i:>6} dock workers walked out at noon today"
    ))
    .unwrap();
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_121_000 + i as u64);
    Claim::submitted(
        ClaimId::from_ulid(ulid::Ulid::from_datetime(time)),
        new,
        UserName::parse("ed.morgan").unwrap(),
        time,
    )
}

/// Bytes of the files under `dir`: as long as they are, and as allocated.
fn bytes_on_disk(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut total = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        let (len, allocated) = if meta.is_dir() {
            bytes_on_disk(&entry.path())
        } else {
            (meta.len(), meta.blocks() * 512)
        };
        total = (total.0 + len, total.1 + allocated);
    }
    total
}

/// How many claims the fill writes between durable flushes. Without them
/// sled's log keeps far more (7,462 bytes per claim in JSON, 6,133 in binary
/// at 10,000 claims).
const FLUSH_EVERY: usize = 100;

/// Bytes per claim of a store of `n` small claims written in JSON or not,
/// filled through the store, made durable every 100 claims (as the group
/// committer does under a load of writers) and closed.
fn bytes_per_claim(n: usize, json: bool) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&StoreConfig::new(dir.path())).unwrap();
    writing_json(&store, json, || {
        for i in 0..n {
            submit(&store, small_claim(i));
            if i % FLUSH_EVERY == FLUSH_EVERY - 1 {
                store.durable().wait_blocking().unwrap();
            }
        }
    });
    store.durable().wait_blocking().unwrap();
    let closed = store.on_close().unwrap();
    drop(store);
    closed.blocking_recv().unwrap();
    let (len, allocated) = bytes_on_disk(dir.path());
    (len as f64 / n as f64, allocated as f64 / n as f64)
}

/// Seconds per decode of `stored`, the best of five rounds.
fn decode_time(stored: &[u8]) -> f64 {
    const ROUNDS: usize = 5;
    const DECODES: u32 = 200_000;
    (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..DECODES {
                std::hint::black_box(ClaimRecord::decode(std::hint::black_box(stored)).unwrap());
            }
            start.elapsed().as_secs_f64() / f64::from(DECODES)
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
#[ignore = "a measurement: run with --release -- --ignored --nocapture stored_size"]
fn stored_size_and_decode_time_of_json_and_binary_records() {
    for n in [10_000, 100_000] {
        let json = bytes_per_claim(n, true);
        let binary = bytes_per_claim(n, false);
        println!(
            "{n:>7} small claims: {:>6.0} bytes per claim in JSON, {:>6.0} in binary ({:.2}x); allocated {:>6.0} vs {:>6.0} ({:.2}x)",
            json.0,
            binary.0,
            binary.0 / json.0,
            json.1,
            binary.1,
            binary.1 / json.1,
        );
        assert!(binary.0 < json.0);
    }

    let record = ClaimRecord::from(&small_claim(42));
    let (json, binary) = (encode_json(&record), record.encode());
    let (json_time, binary_time) = (decode_time(&json), decode_time(&binary));
    println!(
        "claim record: {} bytes in JSON, {} in binary; decode {:.0} ns vs {:.0} ns: {:.2}x",
        json.len(),
        binary.len(),
        json_time * 1e9,
        binary_time * 1e9,
        binary_time / json_time,
    );
    assert!(binary_time < json_time);
}
