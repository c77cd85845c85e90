//! Backups taken while the writer changes the store, restored and compared
//! tree by tree.

use std::{
    collections::BTreeMap,
    io::{self, Write},
    path::Path,
    time::{Duration, SystemTime},
};

use super::*;
use crate::{
    domain::{
        Actor, Claim, ClaimId, Command, NewEvidence, Note, Role, SourceName, Stance, State,
        Statement, UserName,
    },
    storage::{
        AuditReport, Fingerprint, RequestKey, Submitted,
        sled_store::tests::{claim, new_claim},
        step,
    },
};

fn chief() -> Actor {
    Actor::new(UserName::parse("cy.chief").unwrap(), Role::Chief)
}

fn act(store: &SledStore, id: ClaimId, command: Command) -> Claim {
    let actor = chief();
    store
        .update(
            id,
            step(move |claim: &Claim| {
                claim.apply(
                    command.clone(),
                    &actor,
                    claim.update_time + Duration::from_secs(1),
                )
            }),
        )
        .unwrap()
        .0
}

fn add_evidence(store: &SledStore, id: ClaimId, stance: Stance) -> Claim {
    act(
        store,
        id,
        Command::AddEvidence {
            id: ulid::Ulid::from_parts(1_796_121_000_000, u128::from(id.to_bytes()[0])),
            evidence: NewEvidence {
                url: None,
                summary: note("The authority's notice of Monday"),
                source: SourceName::parse("Port Authority").unwrap(),
                stance,
            },
        },
    )
}

fn note(text: &str) -> Note {
    Note::parse(text).unwrap()
}

fn request(n: u8) -> RequestKey {
    RequestKey {
        caller: "ed.morgan".into(),
        id: format!("paste-{n}"),
        fingerprint: Fingerprint {
            current: [n; 32],
            v1: [n; 32],
        },
    }
}

fn submit(store: &SledStore, claim: Claim, request: Option<&RequestKey>) -> Claim {
    match store.submit(claim, request).unwrap() {
        Submitted::Created(claim) => claim,
        Submitted::Replayed(_) => panic!("a new claim"),
    }
}

/// A store with claims in every state, evidence, request ids, and two
/// claims whose figures contradict each other (links, figure and conflict
/// index entries).
fn populated(dir: &Path) -> (SledStore, Vec<ClaimId>) {
    let store = SledStore::open(&StoreConfig::new(dir)).unwrap();
    let mut ids = Vec::new();
    for n in 1..=12u8 {
        let request = (n % 3 == 0).then(|| request(n));
        ids.push(submit(&store, claim(n), request.as_ref()).id);
    }
    let lease = Duration::from_secs(600);
    for (i, &id) in ids.iter().enumerate() {
        match i % 6 {
            0 => {}
            1 => {
                act(&store, id, Command::StartReview { lease });
            }
            2 => {
                act(&store, id, Command::StartReview { lease });
                add_evidence(&store, id, Stance::Supports);
                act(
                    &store,
                    id,
                    Command::Verify {
                        note: note("Matches the port authority's notice"),
                        acknowledge_contradictions: false,
                    },
                );
            }
            3 => {
                act(&store, id, Command::StartReview { lease });
                add_evidence(&store, id, Stance::Refutes);
                act(
                    &store,
                    id,
                    Command::Dispute {
                        note: note("Denied"),
                    },
                );
            }
            4 => {
                act(
                    &store,
                    id,
                    Command::Withdraw {
                        reason: note("Cut"),
                    },
                );
            }
            _ => {
                act(&store, id, Command::StartReview { lease });
                act(&store, id, Command::MarkInconclusive { note: note("?") });
                act(
                    &store,
                    id,
                    Command::Reopen {
                        reason: note("More"),
                    },
                );
            }
        }
    }
    for statement in [
        "14,000 dock workers walked out on Monday",
        "6,000 dock workers walked out on Monday",
    ] {
        let mut new = new_claim();
        new.statement = Statement::parse(statement).unwrap();
        let figures = Claim::submitted(
            ClaimId::from_bytes([0xf0 + ids.len() as u8; 16]),
            new,
            UserName::parse("ed.morgan").unwrap(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_121_100),
        );
        ids.push(submit(&store, figures, None).id);
    }
    store.durable().wait_blocking().unwrap();
    (store, ids)
}

/// The entries of a tree, in order.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Every entry of every tree but the values kept for backups.
fn trees(store: &SledStore) -> BTreeMap<&'static str, Entries> {
    let t = &store.trees;
    [
        ("claims", &t.claims),
        ("index", &t.index),
        ("events", &t.events),
        ("events_by_claim", &t.events_by_claim),
        ("requests", &t.requests),
        ("counters", &t.counters),
        ("meta", &t.meta),
    ]
    .into_iter()
    .map(|(name, tree)| {
        let entries = tree
            .iter()
            .map(|e| {
                let (k, v) = e.unwrap();
                (k.to_vec(), v.to_vec())
            })
            // The record of the last batch the writer wrote, which a
            // restore, writing no batch, has not.
            .filter(|(k, _)| name != "meta" || k != super::super::pending::META_PENDING_BATCH)
            .collect();
        (name, entries)
    })
    .collect()
}

fn backup_of(store: &SledStore) -> Vec<u8> {
    let mut out = Vec::new();
    store.backup(&mut out).unwrap();
    out
}

fn restored(bytes: &[u8]) -> (tempfile::TempDir, SledStore) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("restored");
    SledStore::restore(&StoreConfig::new(&target), file.path()).unwrap();
    let store = SledStore::open(&StoreConfig::new(&target)).unwrap();
    (dir, store)
}

#[test]
fn a_restored_backup_holds_every_tree_as_the_store_did() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ids) = populated(dir.path());
    let bytes = backup_of(&store);
    let summary = backup::check(&bytes[..]).unwrap();
    assert_eq!(summary.claims, ids.len() as u64);
    assert_eq!(summary.requests, 4);
    assert_eq!(summary.revision, store.durable_revision());
    assert_eq!(summary.bytes, bytes.len() as u64);

    let (_restored_dir, copy) = restored(&bytes);
    // Indexes (figures, wordings, conflicts, queues, leases, deadlines,
    // sources), counters and per-claim event lists are rebuilt exactly as
    // the writer kept them.
    assert_eq!(trees(&copy), trees(&store));
    assert!(
        trees(&store)["index"]
            .iter()
            .any(|(k, _)| k.first() == Some(&b'k')),
        "the fixture has an open contradiction"
    );
    assert_eq!(copy.audit().unwrap(), store.audit().unwrap());
    assert_eq!(copy.durable_revision(), store.durable_revision());
    // The copy takes writes where the store left off.
    let next = submit(&copy, claim(40), None);
    assert_eq!(next.revision, store.durable_revision() + 1);
    assert!(matches!(copy.audit().unwrap(), AuditReport::Intact { .. }));
}

/// A sink that, at its `at`-th write, runs `during` once (the changes of
/// other callers while the backup is being written).
struct Interleaved<'a> {
    out: Vec<u8>,
    writes: usize,
    at: usize,
    during: Option<Box<dyn FnOnce() + 'a>>,
}

impl Write for Interleaved<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writes += 1;
        if self.writes == self.at
            && let Some(during) = self.during.take()
        {
            during();
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_backup_is_the_store_at_its_revision_whatever_is_written_while_it_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ids) = populated(dir.path());
    let before = trees(&store);
    let revision = store.durable_revision();

    // Written while the backup copies the events: changes to claims it has
    // not copied yet, new claims, new request ids.
    let lease = Duration::from_secs(600);
    let during = || {
        for &id in &ids[..6] {
            let claim = store.get(id).unwrap().unwrap();
            match claim.state {
                State::Unverified => {
                    act(&store, id, Command::StartReview { lease });
                }
                State::Withdrawn => {}
                _ => {
                    act(
                        &store,
                        id,
                        Command::Withdraw {
                            reason: note("Later"),
                        },
                    );
                }
            }
        }
        submit(&store, claim(50), Some(&request(50)));
        store.durable().wait_blocking().unwrap();
    };
    let mut sink = Interleaved {
        out: Vec::new(),
        writes: 0,
        at: 5,
        during: Some(Box::new(during)),
    };
    let summary = store.backup(&mut sink).unwrap();
    assert!(sink.during.is_none(), "the changes ran during the backup");
    assert!(store.durable_revision() > revision);
    assert_eq!(summary.revision, revision);
    backup::check(&sink.out[..]).unwrap();

    let (_restored_dir, copy) = restored(&sink.out);
    assert_eq!(
        trees(&copy),
        before,
        "the store as it was at the backup's revision"
    );
    // Nothing kept for the backup is left once it ends.
    assert_eq!(store.trees.backups.len(), 0);
    // And the store went on: a second backup has the changes.
    let (_second_dir, second) = restored(&backup_of(&store));
    assert_eq!(trees(&second), trees(&store));
}

#[test]
fn values_kept_for_a_backup_cut_short_by_a_crash_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(&StoreConfig::new(dir.path())).unwrap();
        store
            .trees
            .backups
            .insert(keys::kept_for_backup(0, b'c', &[1; 16]), &[0u8][..])
            .unwrap();
        store.durable().wait_blocking().unwrap();
        let closed = store.on_close().unwrap();
        drop(store);
        closed.blocking_recv().unwrap();
    }
    let store = SledStore::open(&StoreConfig::new(dir.path())).unwrap();
    assert_eq!(store.trees.backups.len(), 0);
}

#[test]
fn a_restore_refuses_a_directory_that_is_not_empty_and_writes_nothing_from_a_bad_backup() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = populated(&dir.path().join("store"));
    let bytes = backup_of(&store);
    let file = dir.path().join("desk.backup");
    std::fs::write(&file, &bytes).unwrap();

    let occupied = dir.path().join("occupied");
    std::fs::create_dir(&occupied).unwrap();
    std::fs::write(occupied.join("notes.txt"), b"x").unwrap();
    let refused = SledStore::restore(&StoreConfig::new(&occupied), &file).unwrap_err();
    assert!(matches!(refused, RestoreError::NotEmpty(_)), "{refused}");

    // A flipped byte in the middle: the checksum says so.
    let mut damaged = bytes.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x40;
    std::fs::write(&file, &damaged).unwrap();
    let target = dir.path().join("target");
    let refused = SledStore::restore(&StoreConfig::new(&target), &file).unwrap_err();
    assert!(
        matches!(
            refused,
            RestoreError::Backup(
                BackupError::Checksum | BackupError::Chain { .. } | BackupError::Malformed { .. }
            )
        ),
        "{refused}"
    );
    assert!(!target.exists(), "nothing written");

    // Cut short: refused as truncated.
    std::fs::write(&file, &bytes[..bytes.len() - 10]).unwrap();
    let refused = SledStore::restore(&StoreConfig::new(&target), &file).unwrap_err();
    assert!(refused.to_string().contains("truncated"), "{refused}");
    assert!(!target.exists(), "nothing written");
}

#[test]
fn a_store_whose_restore_did_not_finish_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(&StoreConfig::new(dir.path())).unwrap();
        store.trees.meta.insert(META_RESTORING, &[1u8][..]).unwrap();
        store.durable().wait_blocking().unwrap();
        let closed = store.on_close().unwrap();
        drop(store);
        closed.blocking_recv().unwrap();
    }
    let Err(refused) = SledStore::open(&StoreConfig::new(dir.path())) else {
        panic!("opened a store whose restore did not finish");
    };
    assert!(
        refused.to_string().contains("restore that did not finish"),
        "{refused}"
    );
}

/// `bytes` read item by item and written again as a new backup (with a
/// checksum of its own), each item through `change` (`None` leaves it
/// out).
fn rewritten(bytes: &[u8], mut change: impl FnMut(Item) -> Option<Item>) -> Vec<u8> {
    let mut reader = BackupReader::open(bytes).unwrap();
    let mut out = Vec::new();
    let mut writer = BackupWriter::start(
        &mut out,
        reader.revision(),
        reader.last_hash(),
        SystemTime::UNIX_EPOCH,
    )
    .unwrap();
    while let Some(item) = reader.next_item().unwrap() {
        match change(item) {
            Some(Item::Event { revision, stored }) => writer.event(revision, &stored).unwrap(),
            Some(Item::Claim(record)) => writer.claim(&record).unwrap(),
            Some(Item::Request { key, record }) => writer.request(&key, &record).unwrap(),
            None => {}
        }
    }
    writer.finish().unwrap();
    out
}

#[test]
fn the_check_of_a_backup_finds_a_forged_event_a_mixed_copy_and_a_stray_request() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ids) = populated(dir.path());
    let bytes = backup_of(&store);
    assert_eq!(
        backup::check(&rewritten(&bytes, Some)[..]).unwrap().claims,
        ids.len() as u64,
        "a faithful copy checks out"
    );

    // An event's record changed, with a checksum that matches: the chain
    // does not.
    let forged = rewritten(&bytes, |item| match item {
        Item::Event {
            revision: 3,
            mut stored,
        } => {
            let last = stored.len() - 1;
            stored[last] ^= 1;
            Some(Item::Event {
                revision: 3,
                stored,
            })
        }
        other => Some(other),
    });
    let error = backup::check(&forged[..]).unwrap_err();
    assert!(
        matches!(error, BackupError::Chain { revision: 3, .. }),
        "{error}"
    );

    // A claim as it is after a later change, beside the events of before.
    let later = act(
        &store,
        ids[0],
        Command::Withdraw {
            reason: note("Cut"),
        },
    );
    let mixed = rewritten(&bytes, |item| match item {
        Item::Claim(record) if ClaimRecord::decode(&record).unwrap().id == later.id => {
            Some(Item::Claim(crate::storage::records::Record::encode(
                &ClaimRecord::from(&later),
            )))
        }
        other => Some(other),
    });
    let error = backup::check(&mixed[..]).unwrap_err();
    assert!(error.to_string().contains("not of one moment"), "{error}");

    // A claim left out: its events and its request id name it.
    let missing = rewritten(&bytes, |item| match item {
        Item::Claim(record) if ClaimRecord::decode(&record).unwrap().id == ids[2] => None,
        other => Some(other),
    });
    let error = backup::check(&missing[..]).unwrap_err();
    assert!(
        error.to_string().contains("not in the backup")
            || error.to_string().contains("but not the claim"),
        "{error}"
    );

    // Another version, and bytes after the end.
    let mut newer = bytes.clone();
    let at = newer
        .windows(b"\"version\":1".len())
        .position(|w| w == b"\"version\":1")
        .unwrap();
    newer[at + b"\"version\":".len()] = b'9';
    assert!(matches!(
        backup::check(&newer[..]).unwrap_err(),
        BackupError::Version(9)
    ));
    let mut trailing = bytes.clone();
    trailing.push(0);
    let error = backup::check(&trailing[..]).unwrap_err();
    assert!(error.to_string().contains("follow the end"), "{error}");
    assert!(matches!(
        backup::check(&b"SQLite format 3\0"[..]).unwrap_err(),
        BackupError::NotABackup
    ));
}
