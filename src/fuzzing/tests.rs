//! The fuzz targets over their committed corpora, and the making of their
//! seeds.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, SystemTime},
};

use super::*;
use crate::{
    auth::{TokenHash, tokens_file_line},
    domain::{
        Attribution, Claim, ClaimId, End, Event, FigurePair, Link, LinkStatus, NewClaim, Note,
        Priority, Relation, Resolution, Role, Slug, SourceName, Statement, UserName,
    },
    storage::{
        ClaimFilter, PageLimit, SledStore, Store as _, StoreConfig,
        records::{BINARY_FORMAT_2, HASH_LEN, Record, encode_json},
    },
};

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// Every seed and every finding committed in `fuzz/corpus/` passes its
/// target: the fuzz targets run as a test where no fuzzer does.
#[test]
fn every_input_of_the_committed_corpora_passes_its_target() {
    for (target, body) in TARGETS {
        let mut inputs: Vec<_> = fs::read_dir(corpus(target))
            .unwrap_or_else(|e| panic!("fuzz/corpus/{target}: {e}"))
            .map(|entry| entry.expect("an entry").path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "fuzz/corpus/{target} holds inputs");
        for input in inputs {
            let bytes = fs::read(&input).expect("a corpus file");
            let passed = std::panic::catch_unwind(|| body(&bytes));
            assert!(passed.is_ok(), "{target} fails on {}", input.display());
        }
    }
}

/// Writes the seeds of each target into `fuzz/corpus/<target>/seed-*`:
/// `cargo test --lib fuzzing::tests::write_the_seeds -- --ignored`.
#[test]
#[ignore = "writes the seed corpora into fuzz/corpus/"]
fn write_the_seeds() {
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = corpus(target);
        fs::create_dir_all(&dir).expect("the corpus folder");
        fs::write(dir.join(format!("seed-{name}")), bytes).expect("a seed written");
    };
    for (rpc, input) in crate::grpc::fuzzing::seeds() {
        write("requests", rpc, &input);
    }
    for (name, text) in tokens_files() {
        write("tokens_file", name, text.as_bytes());
    }
    for (name, bytes) in stored_records_of_fixtures() {
        write("stored_records", &name, &bytes);
    }
}

/// Tokens files: as `token new` writes them, and those that say more.
fn tokens_files() -> Vec<(&'static str, String)> {
    let line = |token: &str, user: &str, role| {
        tokens_file_line(token, &UserName::parse(user).expect("a valid name"), role)
    };
    vec![
        (
            "three-users",
            format!(
                "[tokens]\n{}\n{}\n{}\n",
                line("cdt_a", "mara", Role::Editor),
                line("cdt_b", "kofi", Role::Checker),
                line("cdt_c", "ana.chief", Role::Chief),
            ),
        ),
        (
            "rotated-hex-in-capitals",
            format!(
                "# kofi's old token goes on Friday\n[tokens]\n{}\n\"{}\" = {{ user = \"kofi\", role = \"checker\" }}\n",
                line("cdt_old", "kofi", Role::Checker),
                TokenHash::of("cdt_new").to_hex().to_uppercase(),
            ),
        ),
        (
            "none-on-purpose",
            "allow_no_tokens = true\n[tokens]\n".to_owned(),
        ),
    ]
}

/// The claims and events of the fixture stores of earlier releases
/// (`tests/fixtures/`), each in the three formats read, a request id
/// record and a figure.
fn stored_records_of_fixtures() -> Vec<(String, Vec<u8>)> {
    let mut records = Vec::new();
    for fixture in ["format1-store.tar.gz", "format2-store.tar.gz"] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let status = Command::new("tar")
            .arg("-xzf")
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures")
                    .join(fixture),
            )
            .arg("-C")
            .arg(dir.path())
            .arg("--strip-components=1")
            .status()
            .expect("tar runs");
        assert!(status.success(), "tar unpacks {fixture}");
        let store = SledStore::open(&StoreConfig::new(dir.path())).expect("the fixture opens");
        let all = PageLimit {
            items: 1_000,
            bytes: usize::MAX,
        };
        let claims = store
            .list(&ClaimFilter::default(), None, all)
            .expect("the claims list")
            .items;
        let events = store.events_since(0, u64::MAX, 1_000).expect("the events");
        let prefix = fixture.trim_end_matches("-store.tar.gz");
        // Each state of claim once, each action of event once.
        let mut seen = std::collections::HashSet::new();
        for claim in claims
            .iter()
            .filter(|c| seen.insert(format!("{:?}", c.state)))
        {
            for (format, bytes) in claim_in_every_format(claim) {
                records.push((format!("{prefix}-claim-{:?}-{format}", claim.state), bytes));
            }
        }
        for event in events
            .iter()
            .filter(|e| seen.insert(format!("{:?}", e.action)))
        {
            for (format, bytes) in event_in_every_format(event) {
                records.push((format!("{prefix}-event-{:?}-{format}", event.action), bytes));
            }
        }
        if let Some(event) = events.first() {
            let body = EventRecord::from(event).encode();
            let stored = StoredEvent::join(&[7; HASH_LEN], &body);
            records.push((format!("{prefix}-stored-event"), stored));
        }
        if let Some(figure) = claims.iter().flat_map(|c| &c.figures).next() {
            records.push((format!("{prefix}-figure"), encode_figure(figure)));
        }
    }
    let claim = claim_with_figures_and_a_link();
    records.push((
        "claim-with-figures-and-a-link-format3".into(),
        ClaimRecord::from(&claim).encode(),
    ));
    records.push(("figure".into(), encode_figure(&claim.figures[0])));
    let request = RequestRecord {
        format: FORMAT,
        claim_id: "01KAM0N3Q8R5W8E6H3J4F5G6T7".into(),
        fingerprint: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        fingerprint_version: Some(2),
    };
    records.push(("request-format3".into(), request.encode()));
    records.push(("request-format1".into(), encode_json(&request)));
    records
}

/// `record` as format 3 writes it, as format 2 wrote it (without the fields
/// added since, which must be empty) and as format 1 (JSON) did.
fn in_every_format<R: Record>(
    record: &R,
    without_added: impl FnOnce() -> R,
    format_2: impl FnOnce(&mut R),
) -> Vec<(&'static str, Vec<u8>)> {
    let mut two = without_added();
    format_2(&mut two);
    let mut binary_2 = postcard::to_extend(&two, vec![0x02]).expect("a record serialises");
    binary_2.truncate(binary_2.len() - R::ADDED_SINCE_2.len());
    vec![
        ("format3", record.encode()),
        ("format2", binary_2),
        ("format1", encode_json(record)),
    ]
}

fn claim_in_every_format(claim: &Claim) -> Vec<(&'static str, Vec<u8>)> {
    in_every_format(
        &ClaimRecord::from(claim),
        || ClaimRecord {
            figures: Vec::new(),
            links: Vec::new(),
            ..ClaimRecord::from(claim)
        },
        |r| r.format = BINARY_FORMAT_2,
    )
}

fn event_in_every_format(event: &Event) -> Vec<(&'static str, Vec<u8>)> {
    in_every_format(
        &EventRecord::from(event),
        || EventRecord {
            link: None,
            acknowledged: Vec::new(),
            ..EventRecord::from(event)
        },
        |r| r.format = BINARY_FORMAT_2,
    )
}

/// A claim with what format 3 added: figures, and a resolved link whose
/// basis is a pair of them.
fn claim_with_figures_and_a_link() -> Claim {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let id = |n| ClaimId::from_ulid(ulid::Ulid::from_parts(1_767_225_600_000, n));
    let new = NewClaim {
        statement: Statement::parse("About 2,000 ferry crew, 40% of them, stayed away on Monday")
            .expect("a valid statement"),
        attribution: Attribution {
            source: SourceName::parse("Coastal Times").expect("a valid source"),
            relayed_from: vec![SourceName::parse("the seafarers' union").expect("a valid source")],
            url: None,
        },
        story: Slug::parse("harbour-strike").expect("a valid story"),
        tags: vec![Slug::parse("transport").expect("a valid tag")],
        priority: Priority::Breaking,
        deadline: Some(at + Duration::from_secs(3600)),
    };
    let by = UserName::parse("ed.morgan").expect("a valid name");
    let mut claim = Claim::submitted(id(1), new, by.clone(), at);
    assert!(
        !claim.figures.is_empty(),
        "figures read: {:?}",
        claim.statement
    );
    let figure = claim.figures[0].clone();
    claim.links.push(Link {
        id: 1,
        other: id(2),
        relation: Relation::Contradicts,
        end: End::Subject,
        status: LinkStatus::Confirmed,
        note: Note::parse("Two counts of the same crews").expect("a valid note"),
        created_by: by.clone(),
        create_time: at,
        resolution: Some(Resolution {
            by,
            time: at + Duration::from_secs(60),
            note: Note::parse("Checked both counts").expect("a valid note"),
        }),
        basis: vec![FigurePair {
            this: figure.clone(),
            other: figure,
        }],
    });
    claim
}
