//! Backups of a sled store restored into PostgreSQL and back into sled,
//! compared with the stores they came from, and restores refused (against
//! a real PostgreSQL, as the store's other tests: skipped without
//! `CLAIMDESK_TEST_DATABASE_URL`).

use std::{io::BufReader, path::Path};

use super::{PgStore, RestoreError};
use crate::{
    domain::{Claim, ClaimId, Event},
    storage::{
        AuditReport, RequestKey, SledStore, Store, StoreConfig, Submitted,
        backup::{BackupError, BackupReader, Item},
        postgres::store::tests::{
            Sql, changes, figured_claim, key, sled_store, varied_claim, with_store,
        },
    },
};

/// The request id of claim `n`, of one of two callers, the first's name a
/// prefix of the second's (so that the order of the keys is tested).
fn request(n: u16) -> RequestKey {
    let mut request = key(&format!("paste-{n}"), n as u8);
    if n.is_multiple_of(3) {
        request.caller = "ed.morga".into();
    }
    request
}

/// The claims the tests submit, with the request ids of some: claims of
/// three stories, every priority, tags and deadlines, then claims whose
/// figures get them linked, with open contradictions.
fn submissions() -> Vec<(Claim, Option<RequestKey>)> {
    let varied = (0..10).map(|n| (varied_claim(n), n.is_multiple_of(2).then(|| request(n))));
    let figured = (100..112).map(|n| (figured_claim(n), n.is_multiple_of(4).then(|| request(n))));
    varied.chain(figured).collect()
}

/// Submits every claim of [`submissions`] and applies the changes of the
/// store's tests (reviews with leases, releases, rulings, a withdrawal, a
/// reopening; two of them refused by the rules) through `submit` and
/// `update`.
fn fill(
    submit: impl Fn(Claim, Option<&RequestKey>) -> Submitted,
    update: impl Fn(ClaimId, crate::storage::Change),
) {
    for (claim, request) in submissions() {
        assert!(matches!(
            submit(claim, request.as_ref()),
            Submitted::Created(_)
        ));
    }
    for (n, change) in changes() {
        update(varied_claim(n).id, change);
    }
}

/// A sled store filled by [`fill`].
fn filled_sled() -> (tempfile::TempDir, SledStore) {
    let (dir, sled) = sled_store();
    fill(
        |claim, request| sled.submit(claim, request).unwrap(),
        |id, change| {
            let _ = sled.update(id, change);
        },
    );
    (dir, sled)
}

fn ids() -> Vec<ClaimId> {
    submissions().iter().map(|(claim, _)| claim.id).collect()
}

/// What a store holds, read through the calls every store has: every claim,
/// the whole history and the audit's report.
fn contents(
    get: impl Fn(ClaimId) -> Option<Claim>,
    since: impl Fn(u64, u64) -> Vec<Event>,
    audit: AuditReport,
    revision: u64,
) -> (Vec<Option<Claim>>, Vec<Event>, AuditReport) {
    (
        ids().into_iter().map(get).collect(),
        since(0, revision),
        audit,
    )
}

fn sled_contents(
    store: &SledStore,
    revision: u64,
) -> (Vec<Option<Claim>>, Vec<Event>, AuditReport) {
    contents(
        |id| store.get(id).unwrap(),
        |after, up_to| store.events_since(after, up_to, usize::MAX).unwrap(),
        store.audit().unwrap(),
        revision,
    )
}

fn pg_contents(store: &PgStore, revision: u64) -> (Vec<Option<Claim>>, Vec<Event>, AuditReport) {
    contents(
        |id| store.get(id).unwrap(),
        |after, up_to| store.events_since(after, up_to, usize::MAX).unwrap(),
        store.audit().unwrap(),
        revision,
    )
}

/// Every row of every table of the desk, as text, table by table. Counter
/// rows at zero are left out: a store that counted a claim out of a state
/// keeps the row, which counts what no row would.
fn all_rows(sql: &Sql) -> Vec<Vec<Vec<Option<String>>>> {
    [
        "chain_head",
        "desk_format",
        "claims",
        "claim_tags",
        "events",
        "requests",
        "claim_figures",
        "claim_wordings",
        "open_contradictions",
        "state_counts t WHERE claims > 0",
        "waiting_counts t WHERE claims > 0",
    ]
    .iter()
    .map(|table| {
        let table = if table.contains(' ') {
            table.to_string()
        } else {
            format!("{table} t")
        };
        sql.rows(&format!("SELECT t::text FROM {table} ORDER BY 1"))
    })
    .collect()
}

/// Writes `store`'s backup into `path`.
fn write_backup(path: &Path, backup: impl FnOnce(&mut std::fs::File)) {
    let mut file = std::fs::File::create(path).unwrap();
    backup(&mut file);
    file.sync_all().unwrap();
}

/// The items of the backup in `path`, as stored.
fn items(path: &Path) -> Vec<Item> {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = BackupReader::open(BufReader::new(file)).unwrap();
    let mut items = Vec::new();
    while let Some(item) = reader.next_item().unwrap() {
        items.push(item);
    }
    items
}

#[test]
fn a_sled_backup_restored_into_postgres_and_backed_up_again_restores_the_sled_store() {
    with_store(|direct, direct_sql| {
        let (_dir, sled) = filled_sled();
        let files = tempfile::tempdir().unwrap();
        let from_sled = files.path().join("from-sled");
        let mut revision = 0;
        write_backup(&from_sled, |file| {
            revision = sled.backup(file).unwrap().revision;
        });
        let original = sled_contents(&sled, revision);
        assert_eq!(original.2, AuditReport::Intact { events: revision });
        let linked = original.0.iter().flatten().filter(|c| !c.links.is_empty());
        assert!(linked.count() >= 6, "suggestions linked claims");

        // The same calls on a PostgreSQL store: the rows a restore must
        // write.
        fill(
            |claim, request| direct.submit(claim, request).unwrap(),
            |id, change| {
                let _ = direct.update(id, change);
            },
        );
        let expected = all_rows(direct_sql);
        assert!(!expected[8].is_empty(), "open contradictions are written");

        with_store(|_, sql| {
            let summary = PgStore::restore(&sql.url, Some(&sql.schema), &from_sled).unwrap();
            assert_eq!(summary.revision, revision);
            assert_eq!(summary.claims, ids().len() as u64);
            assert_eq!(summary.requests, 8);
            assert_eq!(all_rows(sql), expected);
            let restored = PgStore::open(&sql.url, Some(&sql.schema)).unwrap();
            assert_eq!(pg_contents(&restored, revision), original);
            // The request ids replay the claims they made.
            for (claim, request) in submissions() {
                if let Some(request) = request {
                    let replayed = restored.submit(claim.clone(), Some(&request)).unwrap();
                    assert_eq!(
                        replayed,
                        Submitted::Replayed(sled.get(claim.id).unwrap().unwrap())
                    );
                }
            }

            let from_pg = files.path().join("from-postgres");
            write_backup(&from_pg, |file| {
                let summary = restored.backup(file).unwrap();
                assert_eq!(summary.revision, revision);
            });
            // The same items, byte for byte, in the same order.
            assert_eq!(items(&from_pg), items(&from_sled));
            let config = StoreConfig::new(files.path().join("sled-again"));
            SledStore::restore(&config, &from_pg).unwrap();
            let again = SledStore::open(&config).unwrap();
            assert_eq!(sled_contents(&again, revision), original);
        });
    });
}

#[test]
fn an_empty_store_backs_up_and_restores_at_revision_0() {
    with_store(|pg, sql| {
        let files = tempfile::tempdir().unwrap();
        let path = files.path().join("empty");
        write_backup(&path, |file| {
            let summary = pg.backup(file).unwrap();
            assert_eq!(
                (summary.revision, summary.events, summary.claims),
                (0, 0, 0)
            );
        });
        with_store(|_, other| {
            let summary = PgStore::restore(&other.url, Some(&other.schema), &path).unwrap();
            assert_eq!(summary.revision, 0);
            assert_eq!(all_rows(other), all_rows(sql));
        });
        let config = StoreConfig::new(files.path().join("sled"));
        SledStore::restore(&config, &path).unwrap();
        let sled = SledStore::open(&config).unwrap();
        assert_eq!(sled.audit().unwrap(), AuditReport::Intact { events: 0 });
    });
}

#[test]
fn a_restore_into_a_schema_that_holds_a_desk_is_refused() {
    with_store(|pg, sql| {
        let (_dir, sled) = filled_sled();
        let files = tempfile::tempdir().unwrap();
        let path = files.path().join("backup");
        let mut revision = 0;
        write_backup(&path, |file| {
            revision = sled.backup(file).unwrap().revision;
        });
        pg.submit(varied_claim(1), None).unwrap();
        let before = all_rows(sql);
        let refused = PgStore::restore(&sql.url, Some(&sql.schema), &path);
        assert!(
            matches!(refused, Err(RestoreError::NotEmpty { revision: 1 })),
            "{refused:?}"
        );
        assert_eq!(all_rows(sql), before);

        // Nor does a second restore write over a first.
        with_store(|_, other| {
            PgStore::restore(&other.url, Some(&other.schema), &path).unwrap();
            let restored = all_rows(other);
            let refused = PgStore::restore(&other.url, Some(&other.schema), &path);
            assert!(
                matches!(refused, Err(RestoreError::NotEmpty { revision: r }) if r == revision),
                "{refused:?}"
            );
            assert_eq!(all_rows(other), restored);
        });
    });
}

#[test]
fn a_damaged_backup_is_refused_and_nothing_is_written() {
    with_store(|_, sql| {
        let (_dir, sled) = filled_sled();
        let files = tempfile::tempdir().unwrap();
        let path = files.path().join("backup");
        let mut bytes = Vec::new();
        sled.backup(&mut bytes).unwrap();
        // A byte in the middle: an event's or a claim's record.
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();
        let empty = all_rows(sql);

        let refused = PgStore::restore(&sql.url, Some(&sql.schema), &path);
        assert!(
            matches!(
                refused,
                Err(RestoreError::Backup(
                    BackupError::Checksum
                        | BackupError::Chain { .. }
                        | BackupError::Malformed { .. }
                ))
            ),
            "{refused:?}"
        );
        assert_eq!(all_rows(sql), empty);
        assert_eq!(
            sql.rows("SELECT last_revision::text FROM chain_head"),
            vec![vec![Some("0".into())]]
        );
    });
}

#[test]
fn backups_taken_while_writers_change_the_store_are_each_of_one_revision() {
    const WRITERS: u16 = 3;
    const EACH: u16 = 15;
    with_store(|pg, _| {
        for n in 0..WRITERS * EACH {
            pg.submit(varied_claim(n), None).unwrap();
        }
        let done = std::sync::atomic::AtomicU16::new(0);
        let mut revisions = Vec::new();
        std::thread::scope(|scope| {
            for w in 0..WRITERS {
                let done = &done;
                scope.spawn(move || {
                    for i in 0..EACH {
                        let n = w * EACH + i;
                        for (_, change) in changes().into_iter().take(3) {
                            let _ = pg.update(varied_claim(n).id, change);
                        }
                        pg.submit(varied_claim(1000 + n), Some(&request(1000 + n)))
                            .unwrap();
                    }
                    done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                });
            }
            // Backups one after the other until the writers are done, and
            // one more after.
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst) == WRITERS;
                let mut bytes = Vec::new();
                let taken = pg.backup(&mut bytes).unwrap();
                // The whole check: chain, and every claim at the revision
                // of its last event in the copy.
                let checked = crate::storage::backup::check(bytes.as_slice()).unwrap();
                assert_eq!(checked, taken);
                revisions.push(taken.revision);
                if finished {
                    break;
                }
            }
        });
        assert!(revisions.is_sorted(), "{revisions:?}");
        let last = *revisions.last().unwrap();
        assert_eq!(pg.audit().unwrap(), AuditReport::Intact { events: last });
    });
}
