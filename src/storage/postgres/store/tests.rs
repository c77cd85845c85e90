//! [`PgStore`] against a real PostgreSQL named by
//! `CLAIMDESK_TEST_DATABASE_URL` (without it each test says it is skipped,
//! and passes), each test in a schema of its own; its behaviour compared
//! with the sled store's on the same inputs.

use std::{
    panic::{AssertUnwindSafe, catch_unwind, resume_unwind},
    sync::{Arc, Barrier},
    time::{Duration, SystemTime},
};

use tokio_postgres::NoTls;

use super::PgStore;
use crate::{
    domain::{
        Actor, Attribution, Changed, Claim, ClaimId, Command, Event, NewClaim, Note, Priority,
        Role, Slug, SourceName, State, Statement, UserName,
    },
    error::Error,
    storage::{
        AuditReport, Change, Fingerprint, PageLimit, RequestKey, SledStore, StoreConfig, Submitted,
        sled_store::tests::distinct_statement, step,
    },
};

const URL_VARIABLE: &str = "CLAIMDESK_TEST_DATABASE_URL";

/// Runs `admin` statements on the database at `url` from a plain thread.
fn admin(url: &str, sql: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {URL_VARIABLE} ({url}): {e}"));
        let connection = tokio::spawn(connection);
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        drop(client);
        let _ = connection.await;
    });
}

/// The test database's URL and a fresh schema's name, made for the test;
/// `None` (saying the test is skipped) without the URL.
pub(super) fn fresh_schema() -> Option<(String, String)> {
    let url = match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.is_empty() => url,
        _ => {
            println!("skipped: {URL_VARIABLE} is not set");
            return None;
        }
    };
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).expect("random bytes");
    let schema = format!("claimdesk_test_{:016x}", u64::from_le_bytes(random));
    admin(&url, &format!("CREATE SCHEMA {schema}"));
    Some((url, schema))
}

/// Runs `body` with a store opened on a fresh schema, dropped afterwards
/// even if `body` panics (the panic then goes on).
pub(super) fn with_store(body: impl FnOnce(&PgStore, &Sql)) {
    let Some((url, schema)) = fresh_schema() else {
        return;
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let store = PgStore::open(&url, Some(&schema)).expect("the store opens");
        let sql = Sql {
            url: url.clone(),
            schema: schema.clone(),
        };
        body(&store, &sql);
    }));
    admin(&url, &format!("DROP SCHEMA {schema} CASCADE"));
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
}

/// Reads of the test's schema, to check what the store wrote.
pub(super) struct Sql {
    pub(super) url: String,
    pub(super) schema: String,
}

impl Sql {
    /// The rows of `query` (which must select text), each as its columns.
    pub(super) fn rows(&self, query: &str) -> Vec<Vec<Option<String>>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
                .await
                .expect("connected");
            let connection = tokio::spawn(connection);
            client
                .batch_execute(&format!("SET search_path = {}", self.schema))
                .await
                .expect("search path");
            let rows = client
                .query(query, &[])
                .await
                .unwrap_or_else(|e| panic!("{query}: {e}"));
            let rows = rows
                .iter()
                .map(|row| (0..row.len()).map(|i| row.get(i)).collect())
                .collect();
            drop(client);
            let _ = connection.await;
            rows
        })
    }
}

pub(super) fn start() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_121_000)
}

/// Claim `n` of three stories, every priority, some tags and deadlines,
/// with ids in submission order.
pub(super) fn varied_claim(n: u16) -> Claim {
    submitted(n, varied_new(n))
}

/// `new` submitted as claim `n`.
pub(super) fn submitted(n: u16, new: NewClaim) -> Claim {
    let mut id = [0; 16];
    id[0] = 1;
    id[14..].copy_from_slice(&n.to_be_bytes());
    Claim::submitted(
        ClaimId::from_bytes(id),
        new,
        UserName::parse("ed.morgan").unwrap(),
        start() + Duration::from_secs(u64::from(n)),
    )
}

pub(super) fn varied_new(n: u16) -> NewClaim {
    NewClaim {
        statement: distinct_statement(n),
        attribution: Attribution {
            source: SourceName::parse(["Harbour Gazette", "Port Radio"][usize::from(n % 2)])
                .unwrap(),
            relayed_from: Vec::new(),
            url: None,
        },
        story: Slug::parse(&format!("story-{}", n % 3)).unwrap(),
        tags: if n.is_multiple_of(4) {
            vec![
                Slug::parse("economy").unwrap(),
                Slug::parse("transport").unwrap(),
            ]
        } else {
            Vec::new()
        },
        priority: [Priority::Routine, Priority::Urgent, Priority::Breaking][usize::from(n % 5 % 3)],
        deadline: n
            .is_multiple_of(7)
            .then(|| start() + Duration::from_secs(3600 - u64::from(n))),
    }
}

pub(super) fn sled_store() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&StoreConfig::new(dir.path())).unwrap();
    (dir, store)
}

pub(super) fn key(id: &str, fingerprint: u8) -> RequestKey {
    RequestKey {
        caller: "ed.morgan".into(),
        id: id.into(),
        fingerprint: Fingerprint {
            current: [fingerprint; 32],
            v1: [fingerprint.wrapping_add(100); 32],
        },
    }
}

#[test]
fn opening_twice_keeps_the_format_row() {
    with_store(|_, sql| {
        let store = PgStore::open(&sql.url, Some(&sql.schema)).expect("opens again");
        drop(store);
        assert_eq!(
            sql.rows("SELECT record_format::text, source_keys_version::text FROM desk_format"),
            vec![vec![Some("3".into()), Some("2".into())]]
        );
    });
}

#[test]
fn a_database_of_newer_records_is_refused() {
    with_store(|_, sql| {
        sql.rows("UPDATE desk_format SET record_format = 99 RETURNING ''");
        let refused = PgStore::open(&sql.url, Some(&sql.schema));
        assert!(
            matches!(
                refused,
                Err(super::OpenError::NewerRecords { found: 99, .. })
            ),
            "{:?}",
            refused.err()
        );
    });
}

#[test]
fn submitting_stores_what_the_sled_store_stores() {
    with_store(|pg, sql| {
        let (_dir, sled) = sled_store();
        for n in 0..24 {
            let claim = varied_claim(n);
            let ours = pg.submit(claim.clone(), None).expect("stored");
            let theirs = sled.submit(claim.clone(), None).expect("stored");
            assert_eq!(ours, theirs);
            let Submitted::Created(stored) = ours else {
                panic!("a new claim");
            };
            assert_eq!(stored.revision, u64::from(n) + 1);
            assert_eq!(pg.get(claim.id).unwrap(), Some(stored));
        }
        assert_eq!(pg.get(ClaimId::from_bytes([9; 16])).unwrap(), None);
        // The index columns and rows follow the claims.
        let of_rank = |p: Priority| (0..24).filter(|&n| varied_claim(n).priority == p).count();
        let breaking = of_rank(Priority::Breaking);
        assert_eq!(
            sql.rows(
                "SELECT count(*)::text, count(deadline)::text, \
                 count(*) FILTER (WHERE priority_rank = 0)::text FROM claims \
                 WHERE state = 'unverified' AND lease_expires_ns IS NULL"
            ),
            vec![vec![
                Some("24".into()),
                Some("4".into()),
                Some(breaking.to_string())
            ]]
        );
        assert_eq!(
            sql.rows("SELECT count(*)::text FROM claim_tags WHERE tag = 'economy'"),
            vec![vec![Some("6".into())]]
        );
        assert_eq!(
            sql.rows("SELECT story, state, claims::text FROM state_counts ORDER BY story, state"),
            vec![
                vec![
                    Some("".into()),
                    Some("unverified".into()),
                    Some("24".into())
                ],
                vec![
                    Some("story-0".into()),
                    Some("unverified".into()),
                    Some("8".into())
                ],
                vec![
                    Some("story-1".into()),
                    Some("unverified".into()),
                    Some("8".into())
                ],
                vec![
                    Some("story-2".into()),
                    Some("unverified".into()),
                    Some("8".into())
                ],
            ]
        );
        assert_eq!(
            sql.rows(
                "SELECT priority_rank::text, claims::text FROM waiting_counts WHERE story = '' \
                 ORDER BY priority_rank"
            ),
            [Priority::Breaking, Priority::Urgent, Priority::Routine]
                .into_iter()
                .enumerate()
                .map(|(rank, p)| vec![Some(rank.to_string()), Some(of_rank(p).to_string())])
                .collect::<Vec<_>>()
        );
        assert_eq!(
            sql.rows("SELECT count(*)::text FROM claim_wordings"),
            vec![vec![Some("24".into())]]
        );
        assert_eq!(
            sql.rows("SELECT last_revision::text FROM chain_head"),
            vec![vec![Some("24".into())]]
        );
    });
}

#[test]
fn a_retried_request_id_replays_and_a_reused_one_is_refused() {
    with_store(|pg, sql| {
        let (_dir, sled) = sled_store();
        for store in [pg as &dyn SubmitGet, &sled as &dyn SubmitGet] {
            let first = store.submit(varied_claim(1), Some(&key("r-1", 1))).unwrap();
            let Submitted::Created(stored) = first else {
                panic!("a new claim");
            };
            // The retry carries a claim of another id: the first one's is
            // given back.
            let again = store.submit(varied_claim(2), Some(&key("r-1", 1))).unwrap();
            assert_eq!(again, Submitted::Replayed(stored.clone()));
            let reused = store.submit(varied_claim(3), Some(&key("r-1", 2)));
            assert!(
                matches!(&reused, Err(Error::RequestIdReused(id)) if id == "r-1"),
                "{reused:?}"
            );
            assert_eq!(store.get(varied_claim(2).id).unwrap(), None);
            assert_eq!(store.get(varied_claim(3).id).unwrap(), None);
            // Another caller's id of the same name is another request.
            let mut other = key("r-1", 2);
            other.caller = "jo.lee".into();
            assert!(matches!(
                store.submit(varied_claim(4), Some(&other)).unwrap(),
                Submitted::Created(_)
            ));
        }
        // Nothing of the refused or replayed submissions was written.
        assert_eq!(
            sql.rows(
                "SELECT last_revision::text, (SELECT count(*) FROM events)::text FROM chain_head"
            ),
            vec![vec![Some("2".into()), Some("2".into())]]
        );
        assert_eq!(
            sql.rows("SELECT claims::text FROM state_counts WHERE story = ''"),
            vec![vec![Some("2".into())]]
        );
    });
}

/// A request id recorded by an earlier release, with a version 1
/// fingerprint, is recognised by it.
#[test]
fn a_request_id_of_fingerprint_version_1_replays() {
    with_store(|pg, sql| {
        let Submitted::Created(stored) = pg.submit(varied_claim(1), Some(&key("r-1", 1))).unwrap()
        else {
            panic!("a new claim");
        };
        let v1 = crate::storage::records::RequestRecord {
            format: crate::storage::records::FORMAT,
            claim_id: stored.id.to_string(),
            fingerprint: crate::storage::records::hex(&key("r-1", 1).fingerprint.v1),
            fingerprint_version: None,
        };
        let encoded = crate::storage::records::Record::encode(&v1);
        let hex: String = encoded.iter().map(|b| format!("{b:02x}")).collect();
        sql.rows(&format!(
            "UPDATE requests SET record = decode('{hex}', 'hex') RETURNING ''"
        ));
        assert_eq!(
            pg.submit(varied_claim(2), Some(&key("r-1", 1))).unwrap(),
            Submitted::Replayed(stored)
        );
        assert!(matches!(
            pg.submit(varied_claim(2), Some(&key("r-1", 3))),
            Err(Error::RequestIdReused(_))
        ));
    });
}

#[test]
fn a_claim_stored_already_is_refused_and_writes_nothing() {
    with_store(|pg, sql| {
        pg.submit(varied_claim(1), Some(&key("r-1", 1))).unwrap();
        let again = pg.submit(varied_claim(1), Some(&key("r-2", 1)));
        assert!(matches!(again, Err(Error::Storage(_))), "{again:?}");
        assert_eq!(
            sql.rows(
                "SELECT (SELECT count(*) FROM requests)::text, \
                 (SELECT count(*) FROM events)::text, last_revision::text FROM chain_head"
            ),
            vec![vec![Some("1".into()), Some("1".into()), Some("1".into())]]
        );
    });
}

#[test]
fn concurrent_submissions_get_gap_free_revisions_in_commit_order() {
    const THREADS: u16 = 6;
    const EACH: u16 = 15;
    with_store(|pg, sql| {
        let barrier = Arc::new(Barrier::new(usize::from(THREADS)));
        let revisions: Vec<u64> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let barrier = barrier.clone();
                    scope.spawn(move || {
                        barrier.wait();
                        (0..EACH)
                            .map(|i| {
                                let n = t * EACH + i;
                                // Every other thread retries its first
                                // request id as it goes: replays, no new
                                // revision.
                                let request = (t % 2 == 0).then(|| key(&format!("t{t}"), 7));
                                match pg.submit(varied_claim(n), request.as_ref()).unwrap() {
                                    Submitted::Created(c) => Some(c.revision),
                                    Submitted::Replayed(c) => {
                                        assert_eq!(c.id, varied_claim(t * EACH).id);
                                        None
                                    }
                                }
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .flatten()
                .collect()
        });
        let mut sorted = revisions.clone();
        sorted.sort_unstable();
        let created = u64::from(THREADS / 2 * EACH + THREADS / 2);
        assert_eq!(sorted, (1..=created).collect::<Vec<_>>());
        // The revisions of the events are those of the claims, and the
        // events of one claim and its record agree.
        assert_eq!(
            sql.rows(
                "SELECT count(*)::text FROM events e JOIN claims c ON c.id = e.claim_id \
                 WHERE c.revision = e.revision"
            ),
            vec![vec![Some(created.to_string())]]
        );
        assert_eq!(
            sql.rows("SELECT last_revision::text FROM chain_head"),
            vec![vec![Some(created.to_string())]]
        );
        assert_eq!(pg.audit().unwrap(), AuditReport::Intact { events: created });
    });
}

/// What the comparisons call on both stores.
trait SubmitGet {
    fn submit(&self, claim: Claim, request: Option<&RequestKey>) -> Result<Submitted, Error>;
    fn get(&self, id: ClaimId) -> Result<Option<Claim>, Error>;
}

impl SubmitGet for PgStore {
    fn submit(&self, claim: Claim, request: Option<&RequestKey>) -> Result<Submitted, Error> {
        PgStore::submit(self, claim, request)
    }
    fn get(&self, id: ClaimId) -> Result<Option<Claim>, Error> {
        PgStore::get(self, id)
    }
}

impl SubmitGet for SledStore {
    fn submit(&self, claim: Claim, request: Option<&RequestKey>) -> Result<Submitted, Error> {
        crate::storage::Store::submit(self, claim, request)
    }
    fn get(&self, id: ClaimId) -> Result<Option<Claim>, Error> {
        crate::storage::Store::get(self, id)
    }
}

#[test]
fn a_server_whose_commits_are_not_durable_is_refused() {
    with_store(|_, sql| {
        let separator = if sql.url.contains('?') { '&' } else { '?' };
        let url = format!(
            "{}{separator}options=-c%20synchronous_commit%3Doff",
            sql.url
        );
        let refused = PgStore::open(&url, Some(&sql.schema));
        assert!(
            matches!(&refused, Err(super::OpenError::NotDurable(v)) if v == "off"),
            "{:?}",
            refused.err()
        );
    });
}

/// Page limits that cut histories at every place: by count, by bytes, and
/// neither.
pub(super) const LIMITS: [PageLimit; 4] = [
    PageLimit {
        items: 1,
        bytes: usize::MAX,
    },
    PageLimit {
        items: 2,
        bytes: usize::MAX,
    },
    PageLimit {
        items: 100,
        bytes: 1,
    },
    PageLimit {
        items: usize::MAX,
        bytes: usize::MAX,
    },
];

/// Every page of `id`'s history from each revision on, under each of
/// [`LIMITS`], and windows of the whole history, from `store`.
fn histories(
    events: impl Fn(ClaimId, u64, PageLimit) -> Result<crate::storage::Page<Event>, Error>,
    since: impl Fn(u64, u64, usize) -> Result<Vec<Event>, Error>,
    ids: &[ClaimId],
    last: u64,
) -> Vec<String> {
    let mut seen = Vec::new();
    for &id in ids {
        for limit in LIMITS {
            for after in [0, 1, 2, last / 2, last, u64::MAX] {
                seen.push(format!(
                    "{id} {after} {limit:?}: {:?}",
                    events(id, after, limit)
                ));
            }
        }
    }
    for (after, up_to, limit) in [
        (0, last, usize::MAX),
        (0, last, 3),
        (2, last - 1, 5),
        (last, last + 5, 10),
        (5, 2, 10),
        (0, u64::MAX, 0),
        (0, u64::MAX, 7),
    ] {
        seen.push(format!(
            "{after} {up_to} {limit}: {:?}",
            since(after, up_to, limit)
        ));
    }
    seen
}

#[test]
fn histories_read_as_the_sled_store_reads_them() {
    with_store(|pg, _| {
        let (_dir, sled) = sled_store();
        let mut ids = vec![ClaimId::from_bytes([9; 16])];
        for n in 0..12 {
            let claim = varied_claim(n);
            ids.push(claim.id);
            pg.submit(claim.clone(), None).unwrap();
            crate::storage::Store::submit(&sled, claim, None).unwrap();
        }
        let ours = histories(
            |i, a, l| pg.events(i, a, l),
            |a, u, l| pg.events_since(a, u, l),
            &ids,
            12,
        );
        let theirs = histories(
            |i, a, l| crate::storage::Store::events(&sled, i, a, l),
            |a, u, l| crate::storage::Store::events_since(&sled, a, u, l),
            &ids,
            12,
        );
        assert_eq!(ours, theirs);
        assert!(matches!(
            pg.events(ids[0], 0, LIMITS[0]),
            Err(Error::NotFound(id)) if id == ids[0]
        ));
        assert_eq!(pg.events_since(0, 12, usize::MAX).unwrap().len(), 12);
    });
}

#[test]
fn the_audit_finds_what_was_tampered_with() {
    with_store(|pg, sql| {
        assert_eq!(pg.audit().unwrap(), AuditReport::Intact { events: 0 });
        for n in 0..5 {
            pg.submit(varied_claim(n), None).unwrap();
        }
        assert_eq!(pg.audit().unwrap(), AuditReport::Intact { events: 5 });
        let broken = |revision: u64| match pg.audit().unwrap() {
            AuditReport::Broken {
                revision: r,
                reason,
            } => {
                assert_eq!(r, revision, "{reason}");
                reason
            }
            intact => panic!("{intact:?}"),
        };

        sql.rows("UPDATE chain_head SET last_link = decode(repeat('11', 32), 'hex') RETURNING ''");
        assert!(broken(5).contains("recorded end"));
        sql.rows("UPDATE chain_head SET last_revision = 6 RETURNING ''");
        assert_eq!(broken(6), "the event is missing");

        sql.rows(
            "UPDATE events SET record = record || '\\x00'::bytea WHERE revision = 3 RETURNING ''",
        );
        assert!(broken(3).contains("hash"));
        sql.rows("DELETE FROM events WHERE revision = 2 RETURNING ''");
        assert_eq!(broken(2), "the event is missing");
    });
}

pub(super) fn chief() -> Actor {
    Actor::new(UserName::parse("cy.chief").unwrap(), Role::Chief)
}

/// A change of one command by a chief, `secs` seconds after the start.
pub(super) fn command(make: impl Fn() -> Command + Send + Sync + 'static, secs: u64) -> Change {
    step(move |claim: &Claim| {
        claim.apply(make(), &chief(), start() + Duration::from_secs(3600 + secs))
    })
}

pub(super) fn note(text: &str) -> Note {
    Note::parse(text).unwrap()
}

/// Changes of every kind, some refused by the rules, as `(claim, change)`.
pub(super) fn changes() -> Vec<(u16, Change)> {
    let review = || Command::StartReview {
        lease: Duration::from_secs(600),
    };
    vec![
        (0, command(review, 1)),
        (1, command(review, 2)),
        (2, command(review, 3)),
        (4, command(review, 4)),
        (8, command(review, 5)),
        // Refused: in review already.
        (0, command(review, 6)),
        (
            1,
            command(
                || Command::Release {
                    note: note("later"),
                },
                7,
            ),
        ),
        (
            2,
            command(
                || Command::MarkInconclusive {
                    note: note("no answer from the port"),
                },
                8,
            ),
        ),
        // Refused: not in review.
        (
            3,
            command(
                || Command::Verify {
                    note: note("too soon"),
                    acknowledge_contradictions: false,
                },
                9,
            ),
        ),
        (
            3,
            command(
                || Command::Withdraw {
                    reason: note("duplicate"),
                },
                10,
            ),
        ),
        (4, command(|| Command::Release { note: note("back") }, 11)),
        (
            8,
            command(
                || Command::MarkInconclusive {
                    note: note("unclear"),
                },
                12,
            ),
        ),
        (
            2,
            command(
                || Command::Reopen {
                    reason: note("new facts"),
                },
                13,
            ),
        ),
        (0, command(|| Command::Release { note: note("done") }, 14)),
        (5, command(review, 15)),
    ]
}

/// The counters, tag rows, contradiction rows and index columns of every
/// claim, as text.
pub(super) fn index_rows(sql: &Sql) -> Vec<Vec<Vec<Option<String>>>> {
    [
        "SELECT story, state, claims::text FROM state_counts WHERE claims > 0 ORDER BY 1, 2",
        "SELECT story, priority_rank::text, claims::text FROM waiting_counts WHERE claims > 0 \
         ORDER BY 1, 2",
        "SELECT encode(claim_id, 'hex'), tag, story, priority_rank::text, encode(deadline, 'hex') \
         FROM claim_tags ORDER BY 1, 2",
        "SELECT encode(id, 'hex'), revision::text, story, state, source_key, assignee, \
         priority_rank::text, encode(deadline, 'hex'), lease_expires_ns::text FROM claims \
         ORDER BY 1",
    ]
    .iter()
    .map(|query| sql.rows(query))
    .collect()
}

#[test]
fn updates_store_what_the_sled_store_stores() {
    with_store(|pg, sql| {
        let (_dir, sled) = sled_store();
        let mut ids = Vec::new();
        for n in 0..10 {
            ids.push(varied_claim(n).id);
            pg.submit(varied_claim(n), None).unwrap();
            crate::storage::Store::submit(&sled, varied_claim(n), None).unwrap();
        }
        let mut refused = 0;
        for (n, change) in changes() {
            let id = varied_claim(n).id;
            let before = sql.rows("SELECT last_revision::text FROM chain_head");
            let ours = pg.update(id, change.clone());
            let theirs = crate::storage::Store::update(&sled, id, change);
            assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
            if let Err(e) = ours {
                assert!(matches!(e, Error::Rule(_)), "{e:?}");
                refused += 1;
                assert_eq!(
                    sql.rows("SELECT last_revision::text FROM chain_head"),
                    before
                );
            }
            assert_eq!(
                pg.get(id).unwrap(),
                crate::storage::Store::get(&sled, id).unwrap()
            );
        }
        assert_eq!(refused, 2);
        let last = crate::storage::Store::durable_revision(&sled);
        assert_eq!(
            histories(
                |i, a, l| pg.events(i, a, l),
                |a, u, l| pg.events_since(a, u, l),
                &ids,
                last
            ),
            histories(
                |i, a, l| crate::storage::Store::events(&sled, i, a, l),
                |a, u, l| crate::storage::Store::events_since(&sled, a, u, l),
                &ids,
                last,
            )
        );
        assert_eq!(pg.audit().unwrap(), AuditReport::Intact { events: last });

        // The index rows follow the claims as they are now: what a store
        // filled by submitting them as they are holds.
        let rows = index_rows(sql);
        with_store(|fresh, fresh_sql| {
            for &id in &ids {
                let claim = pg.get(id).unwrap().unwrap();
                let stored = fresh.submit(claim, None).unwrap();
                assert!(matches!(stored, Submitted::Created(_)));
            }
            let mut fresh_rows = index_rows(fresh_sql);
            // Revisions differ; everything else must not.
            let without_revisions = |rows: &mut Vec<Vec<Vec<Option<String>>>>| {
                for row in &mut rows[3] {
                    row[1] = None;
                }
            };
            let mut rows = rows.clone();
            without_revisions(&mut rows);
            without_revisions(&mut fresh_rows);
            assert_eq!(rows, fresh_rows);
        });
    });
}

#[test]
fn updating_a_missing_claim_is_not_found_and_writes_nothing() {
    with_store(|pg, sql| {
        let missing = varied_claim(1).id;
        let result = pg.update(missing, command(|| Command::ExpireLease, 1));
        assert!(matches!(result, Err(Error::NotFound(id)) if id == missing));
        assert_eq!(
            sql.rows("SELECT last_revision::text FROM chain_head"),
            vec![vec![Some("0".into())]]
        );
    });
}

#[test]
fn a_change_reads_other_claims_in_its_transaction() {
    with_store(|pg, sql| {
        for n in 0..2 {
            pg.submit(varied_claim(n), None).unwrap();
        }
        pg.update(
            varied_claim(1).id,
            command(
                || Command::StartReview {
                    lease: Duration::from_secs(60),
                },
                1,
            ),
        )
        .unwrap();
        let (other, missing) = (varied_claim(1).id, varied_claim(7).id);
        let change: Change = Arc::new(move |claim, peers| {
            assert_eq!(peers.state_of(other), Some(State::InReview));
            assert_eq!(peers.state_of(missing), None);
            let (claim, event) = claim.apply(
                Command::Withdraw {
                    reason: note("gone"),
                },
                &chief(),
                start(),
            )?;
            Ok(Changed::one(claim, event))
        });
        let (claim, events) = pg.update(varied_claim(0).id, change).unwrap();
        assert_eq!(claim.state, State::Withdrawn);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].revision, 4);
        assert_eq!(claim.revision, 4);
        assert_eq!(
            sql.rows("SELECT state FROM claims ORDER BY id"),
            vec![
                vec![Some("withdrawn".into())],
                vec![Some("in_review".into())]
            ]
        );
    });
}

#[test]
fn concurrent_updates_and_submissions_keep_the_chain_whole() {
    const THREADS: u16 = 4;
    const EACH: u16 = 10;
    with_store(|pg, sql| {
        for n in 0..THREADS * EACH {
            pg.submit(varied_claim(n), None).unwrap();
        }
        let barrier = Barrier::new(usize::from(THREADS));
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    for i in 0..EACH {
                        let n = t * EACH + i;
                        let review = || Command::StartReview {
                            lease: Duration::from_secs(60),
                        };
                        // Each thread also takes claim 0: only the first
                        // take wins, the others are refused.
                        let _ = pg.update(varied_claim(0).id, command(review, 1));
                        if n != 0 {
                            pg.update(varied_claim(n).id, command(review, 1)).unwrap();
                        }
                        pg.submit(varied_claim(1000 + n), None).unwrap();
                    }
                });
            }
        });
        // Submissions, a take of every claim, one event each.
        let events = u64::from(THREADS * EACH) * 3;
        assert_eq!(pg.audit().unwrap(), AuditReport::Intact { events });
        assert_eq!(
            sql.rows("SELECT state, claims::text FROM state_counts WHERE story = '' ORDER BY 1"),
            vec![
                vec![Some("in_review".into()), Some((THREADS * EACH).to_string())],
                vec![
                    Some("unverified".into()),
                    Some((THREADS * EACH).to_string())
                ],
            ]
        );
    });
}

/// Statements of one story whose figures agree, disagree or repeat.
const FIGURED: [&str; 6] = [
    "North Korea sent about 14,000 troops to fight alongside Russia",
    "Of 12,000 North Korean soldiers sent to Russia, more than 4,000 were lost",
    "More than 6,000 of the North Korean troops have been killed",
    "North Korea is deploying 6,000 military engineers to Russia",
    "North Korea sent about 14,000 troops to fight alongside Russia",
    "Of 12,000 North Korean soldiers sent to Russia, more than 4,000 were lost",
];

/// Claim `n` of one story, with [`FIGURED`]'s statements in turn, from
/// two sources.
pub(super) fn figured_claim(n: u16) -> Claim {
    let mut new = varied_new(n);
    new.statement = Statement::parse(FIGURED[usize::from(n) % FIGURED.len()]).unwrap();
    new.story = Slug::parse("troops").unwrap();
    submitted(n, new)
}

#[test]
fn submissions_link_the_claims_the_sled_store_links() {
    with_store(|pg, sql| {
        let (_dir, sled) = sled_store();
        let mut ids = Vec::new();
        // Twice round the statements: every claim has earlier ones to be
        // compared with, some already linked.
        for n in 0..12 {
            let claim = figured_claim(n);
            ids.push(claim.id);
            let ours = pg.submit(claim.clone(), None).unwrap();
            let theirs = crate::storage::Store::submit(&sled, claim, None).unwrap();
            assert_eq!(ours, theirs);
        }
        for &id in &ids {
            assert_eq!(
                pg.get(id).unwrap(),
                crate::storage::Store::get(&sled, id).unwrap()
            );
        }
        let linked = ids
            .iter()
            .filter(|&&id| !pg.get(id).unwrap().unwrap().links.is_empty())
            .count();
        assert!(linked >= 6, "only {linked} claims were linked");
        let mut contradictions: Vec<Vec<Option<String>>> = ids
            .iter()
            .flat_map(|&id| pg.get(id).unwrap().unwrap().links)
            .filter(|l| l.is_open_contradiction() && l.end == crate::domain::End::Subject)
            .map(|l| vec![Some(l.id.to_string())])
            .collect();
        contradictions.sort();
        assert!(!contradictions.is_empty());
        assert_eq!(
            sql.rows("SELECT link_id::text FROM open_contradictions ORDER BY link_id::text"),
            contradictions
        );
        let last = crate::storage::Store::durable_revision(&sled);
        assert!(last > 12, "suggestions made events");
        assert_eq!(
            histories(
                |i, a, l| pg.events(i, a, l),
                |a, u, l| pg.events_since(a, u, l),
                &ids,
                last
            ),
            histories(
                |i, a, l| crate::storage::Store::events(&sled, i, a, l),
                |a, u, l| crate::storage::Store::events_since(&sled, a, u, l),
                &ids,
                last,
            )
        );
        assert_eq!(pg.audit().unwrap(), AuditReport::Intact { events: last });
    });
}

#[test]
fn submissions_linking_claims_that_changes_hold_wait_for_them() {
    const SUBMITTERS: u16 = 3;
    const EACH: u16 = 8;
    const UPDATES: u64 = 40;
    with_store(|pg, _| {
        // The first statements of the story, which later claims link with.
        for n in 0..4 {
            pg.submit(figured_claim(n), None).unwrap();
        }
        let barrier = Barrier::new(usize::from(SUBMITTERS) + 1);
        std::thread::scope(|scope| {
            let barrier = &barrier;
            scope.spawn(move || {
                barrier.wait();
                // Takes and releases the claims the submissions link with,
                // holding each one's lock while its change runs.
                for i in 0..UPDATES {
                    let id = figured_claim((i % 4) as u16).id;
                    let review = || Command::StartReview {
                        lease: Duration::from_secs(60),
                    };
                    pg.update(id, command(review, i)).unwrap();
                    pg.update(id, command(|| Command::Release { note: note("") }, i))
                        .unwrap();
                }
            });
            for t in 0..SUBMITTERS {
                scope.spawn(move || {
                    barrier.wait();
                    for i in 0..EACH {
                        pg.submit(figured_claim(4 + t * EACH + i), None).unwrap();
                    }
                });
            }
        });
        let claims: Vec<Claim> = (0..4 + SUBMITTERS * EACH)
            .map(|n| pg.get(figured_claim(n).id).unwrap().unwrap())
            .collect();
        // Every link is on both claims.
        let mut links = 0;
        for claim in &claims {
            for link in &claim.links {
                let other = claims.iter().find(|c| c.id == link.other).unwrap();
                let mirror = other.link(link.id).expect("the other end");
                assert_eq!(mirror.other, claim.id);
                assert_ne!(mirror.end, link.end);
                links += 1;
            }
        }
        assert!(links > 0);
        let last = pg.events_since(0, u64::MAX, usize::MAX).unwrap().len() as u64;
        assert_eq!(
            last,
            u64::from(4 + SUBMITTERS * EACH) + 2 * UPDATES + links,
            "one event per submission, change and end of a link"
        );
        assert_eq!(pg.audit().unwrap(), AuditReport::Intact { events: last });
    });
}

#[test]
fn a_change_that_panics_writes_nothing_and_leaves_the_store_usable() {
    with_store(|pg, sql| {
        pg.submit(varied_claim(1), None).unwrap();
        let id = varied_claim(1).id;
        let panicking: Change = Arc::new(|_, _| panic!("the rules failed"));
        // More panics than the pool has connections: none is left inside
        // a transaction.
        for _ in 0..10 {
            let outcome = catch_unwind(AssertUnwindSafe(|| pg.update(id, panicking.clone())));
            assert!(outcome.is_err());
        }
        assert_eq!(
            sql.rows("SELECT last_revision::text FROM chain_head"),
            vec![vec![Some("1".into())]]
        );
        let review = || Command::StartReview {
            lease: Duration::from_secs(60),
        };
        let (claim, events) = pg.update(id, command(review, 1)).unwrap();
        assert_eq!((claim.revision, events.len()), (2, 1));
        assert_eq!(pg.audit().unwrap(), AuditReport::Intact { events: 2 });
    });
}
