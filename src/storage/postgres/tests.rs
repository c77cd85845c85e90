//! Tests against a real PostgreSQL, named by `CLAIMDESK_TEST_DATABASE_URL`
//! (without it they say they are skipped, and pass). Each test works in a
//! schema of its own, made for it and dropped after it, so they run in
//! parallel on one database.

use std::{future::Future, sync::Arc};

use deadpool_postgres::Pool;
use tokio::sync::Barrier;
use tokio_postgres::{NoTls, error::SqlState};

use super::{
    ConnectError, MIGRATIONS, MigrateError, Migrated, Migration, latest_version, migrate,
    migrate::migrate_with, pool,
};

const URL_VARIABLE: &str = "CLAIMDESK_TEST_DATABASE_URL";

/// A schema of the test's own, and a pool whose connections use it.
struct TestDb {
    schema: String,
    pool: Pool,
}

impl TestDb {
    async fn client(&self) -> deadpool_postgres::Object {
        self.pool.get().await.expect("a connection from the pool")
    }

    /// The versions recorded, with their names, in order.
    async fn versions(&self) -> Vec<(i32, String)> {
        self.client()
            .await
            .query(
                "SELECT version, name FROM claimdesk_schema_version ORDER BY version",
                &[],
            )
            .await
            .expect("the version table is read")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }
}

/// Runs `body` with a fresh schema, dropped afterwards even if `body`
/// panics (the panic then goes on); without the database URL, says the
/// test is skipped.
async fn with_schema<F, Fut>(body: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let url = match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.is_empty() => url,
        _ => {
            println!("skipped: {URL_VARIABLE} is not set");
            return;
        }
    };
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).expect("random bytes");
    let schema = format!("claimdesk_test_{:016x}", u64::from_le_bytes(random));
    let (admin, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {URL_VARIABLE} ({url}): {e}"));
    let connection = tokio::spawn(connection);
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("the test's schema is made");
    let db = TestDb {
        schema: schema.clone(),
        pool: pool(&url, Some(&schema), 8).expect("a pool"),
    };
    // On a task of its own, so that a panic is caught and the schema
    // dropped all the same; the pool goes with the task.
    let outcome = tokio::spawn(body(db)).await;
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .expect("the test's schema is dropped");
    drop(admin);
    let _ = connection.await;
    if let Err(failed) = outcome {
        std::panic::resume_unwind(failed.into_panic());
    }
}

/// The tables migration 1 makes.
const TABLES: &[&str] = &[
    "chain_head",
    "claim_figures",
    "claim_tags",
    "claim_wordings",
    "claimdesk_schema_version",
    "claims",
    "desk_format",
    "events",
    "open_contradictions",
    "requests",
    "state_counts",
    "waiting_counts",
];

#[tokio::test]
async fn a_fresh_database_migrates_to_the_latest_version() {
    with_schema(|db| async move {
        let mut client = db.client().await;
        let migrated = migrate(&mut client).await.expect("migrated");
        assert_eq!(
            migrated,
            Migrated {
                from: 0,
                to: latest_version(),
                applied: MIGRATIONS.iter().map(|m| m.version).collect(),
            }
        );
        let expected: Vec<_> = MIGRATIONS
            .iter()
            .map(|m| (m.version, m.name.to_owned()))
            .collect();
        assert_eq!(db.versions().await, expected);
        // In the test's schema, where the search path points.
        let mut tables: Vec<String> = client
            .query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
                &[&db.schema],
            )
            .await
            .expect("tables listed")
            .iter()
            .map(|r| r.get(0))
            .collect();
        tables.sort();
        assert_eq!(tables, TABLES);
        let head = client
            .query_one("SELECT last_revision, last_link FROM chain_head", &[])
            .await
            .expect("the chain's end");
        assert_eq!(head.get::<_, i64>(0), 0);
        assert_eq!(head.get::<_, Vec<u8>>(1), vec![0u8; 32]);
    })
    .await;
}

#[tokio::test]
async fn migrating_a_current_database_changes_nothing() {
    with_schema(|db| async move {
        let mut client = db.client().await;
        migrate(&mut client).await.expect("first run");
        let before: Vec<String> = client
            .query(
                "SELECT version || ' ' || name || ' ' || applied_at FROM claimdesk_schema_version \
                 ORDER BY version",
                &[],
            )
            .await
            .expect("versions")
            .iter()
            .map(|r| r.get(0))
            .collect();
        let again = migrate(&mut client).await.expect("second run");
        assert_eq!(
            again,
            Migrated {
                from: latest_version(),
                to: latest_version(),
                applied: Vec::new(),
            }
        );
        let after: Vec<String> = client
            .query(
                "SELECT version || ' ' || name || ' ' || applied_at FROM claimdesk_schema_version \
                 ORDER BY version",
                &[],
            )
            .await
            .expect("versions")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(after, before);
        let heads: i64 = client
            .query_one("SELECT count(*) FROM chain_head", &[])
            .await
            .expect("counted")
            .get(0);
        assert_eq!(heads, 1, "the chain's end was not inserted twice");
    })
    .await;
}

/// Migrations after the real ones, each failing if applied twice.
fn with_test_migrations() -> Vec<Migration> {
    let latest = latest_version();
    let mut all = MIGRATIONS.to_vec();
    all.push(Migration {
        version: latest + 1,
        name: "test_second",
        sql: "CREATE TABLE test_second (n integer PRIMARY KEY); \
              INSERT INTO test_second VALUES (1);",
    });
    all.push(Migration {
        version: latest + 2,
        name: "test_third",
        sql: "INSERT INTO test_second VALUES (2);",
    });
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_runners_at_once_apply_each_migration_exactly_once() {
    with_schema(|db| async move {
        let migrations: Arc<[Migration]> = with_test_migrations().into();
        let start = Arc::new(Barrier::new(4));
        let mut runners = Vec::new();
        for _ in 0..4 {
            // Each its own connection, made before any runs.
            let mut client = db.client().await;
            let (start, migrations) = (start.clone(), migrations.clone());
            runners.push(tokio::spawn(async move {
                start.wait().await;
                migrate_with(&mut client, &migrations).await
            }));
        }
        let mut applied = Vec::new();
        for runner in runners {
            let migrated = runner.await.expect("a runner").expect("migrated");
            assert_eq!(migrated.to, migrations.last().expect("some").version);
            applied.extend(migrated.applied);
        }
        applied.sort();
        let every: Vec<i32> = migrations.iter().map(|m| m.version).collect();
        assert_eq!(applied, every, "each migration applied by one runner");
        let recorded: Vec<i32> = db.versions().await.into_iter().map(|(v, _)| v).collect();
        assert_eq!(recorded, every);
        let rows: Vec<i32> = db
            .client()
            .await
            .query("SELECT n FROM test_second ORDER BY n", &[])
            .await
            .expect("read")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(rows, [1, 2]);
    })
    .await;
}

#[tokio::test]
async fn a_database_newer_than_the_build_is_refused() {
    with_schema(|db| async move {
        let mut client = db.client().await;
        let newer = with_test_migrations();
        migrate_with(&mut client, &newer).await.expect("migrated");
        let known = latest_version();
        let database = known + 2;
        let error = migrate(&mut client).await.expect_err("refused");
        assert!(
            matches!(error, MigrateError::Newer { database: d, known: k } if d == database && k == known),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains(&format!("version {database}"))
                && message.contains(&format!("version {known}")),
            "{message}"
        );
        assert_eq!(db.versions().await.len(), newer.len(), "nothing changed");
    })
    .await;
}

#[tokio::test]
async fn a_database_migrated_by_another_build_is_refused() {
    with_schema(|db| async move {
        let mut client = db.client().await;
        let mut other = MIGRATIONS.to_vec();
        other.push(Migration {
            version: latest_version() + 1,
            name: "elsewhere",
            sql: "CREATE TABLE elsewhere (n integer)",
        });
        migrate_with(&mut client, &other).await.expect("migrated");
        let mut ours = MIGRATIONS.to_vec();
        ours.push(Migration {
            version: latest_version() + 1,
            name: "here",
            sql: "CREATE TABLE here (n integer)",
        });
        let error = migrate_with(&mut client, &ours).await.expect_err("refused");
        assert!(
            matches!(&error, MigrateError::Mismatch { found, expected: "here", .. } if found == "elsewhere"),
            "{error:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_failing_migration_leaves_nothing_and_the_next_run_resumes() {
    with_schema(|db| async move {
        let mut client = db.client().await;
        let mut broken = MIGRATIONS.to_vec();
        broken.push(Migration {
            version: latest_version() + 1,
            name: "broken",
            sql: "CREATE TABLE half (n integer); SELECT * FROM no_such_table;",
        });
        let error = migrate_with(&mut client, &broken).await.expect_err("fails");
        assert!(
            matches!(error, MigrateError::Apply { name: "broken", .. }),
            "{error:?}"
        );
        // The migrations before it stay; nothing of it does.
        assert_eq!(db.versions().await.len(), MIGRATIONS.len());
        let half: i64 = client
            .query_one(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'half' \
                 AND table_schema = $1",
                &[&db.schema],
            )
            .await
            .expect("counted")
            .get(0);
        assert_eq!(half, 0);
        let resumed = migrate(&mut client).await.expect("current");
        assert!(resumed.applied.is_empty());
        assert_eq!(resumed.from, latest_version());
    })
    .await;
}

/// A claim row's columns for the tests of the constraints.
const INSERT_CLAIM: &str = "INSERT INTO claims (id, record, revision, story, state, source_key, \
     assignee, priority_rank, deadline, lease_expires_ns) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

fn id(n: u8) -> Vec<u8> {
    let mut id = vec![0x01; 16];
    id[15] = n;
    id
}

/// The SQL state of a failed statement.
fn state_of(result: Result<u64, tokio_postgres::Error>) -> SqlState {
    result
        .expect_err("refused")
        .code()
        .cloned()
        .expect("a database error")
}

#[tokio::test]
async fn the_schema_takes_claims_events_and_requests_and_refuses_what_it_must() {
    with_schema(|db| async move {
        let mut client = db.client().await;
        migrate(&mut client).await.expect("migrated");
        let deadline = 1_700_000_000_000_000_000u128.to_be_bytes().to_vec();
        let none: Option<&str> = None;
        let no_time: Option<Vec<u8>> = None;
        let no_lease: Option<i64> = None;
        let claim = client
            .execute(
                INSERT_CLAIM,
                &[
                    &id(1),
                    &b"\x03claim".to_vec(),
                    &1i64,
                    &"ferry-strike",
                    &"unverified",
                    &"harbour gazette",
                    &none,
                    &2i16,
                    &Some(deadline.clone()),
                    &no_lease,
                ],
            )
            .await;
        assert_eq!(claim.expect("a claim is stored"), 1);
        let insert_event =
            "INSERT INTO events (revision, claim_id, link, record) VALUES ($1, $2, $3, $4)";
        let event = client
            .execute(insert_event, &[&1i64, &id(1), &vec![7u8; 32], &b"\x03event".to_vec()])
            .await;
        assert_eq!(event.expect("an event is stored"), 1);
        let insert_request =
            "INSERT INTO requests (caller, request_id, record) VALUES ($1, $2, $3)";
        let request = client
            .execute(insert_request, &[&"ci.editor", &"r-1", &b"\x03request".to_vec()])
            .await;
        assert_eq!(request.expect("a request id is stored"), 1);

        // One event per revision, one record per request id, one claim per id.
        let duplicate_revision = client
            .execute(insert_event, &[&1i64, &id(1), &vec![8u8; 32], &b"\x03other".to_vec()])
            .await;
        assert_eq!(state_of(duplicate_revision), SqlState::UNIQUE_VIOLATION);
        let duplicate_request = client
            .execute(insert_request, &[&"ci.editor", &"r-1", &b"\x03again".to_vec()])
            .await;
        assert_eq!(state_of(duplicate_request), SqlState::UNIQUE_VIOLATION);
        let claim_row = |id: Vec<u8>, state: &'static str, lease: Option<i64>, deadline: Option<Vec<u8>>| {
            (id, state, lease, deadline)
        };
        let refused = [
            // The same id again.
            (claim_row(id(1), "unverified", None, None), SqlState::UNIQUE_VIOLATION),
            // A state no record has.
            (claim_row(id(2), "lost", None, None), SqlState::CHECK_VIOLATION),
            // A lease outside review.
            (claim_row(id(3), "verified", Some(5), None), SqlState::CHECK_VIOLATION),
            // A deadline of 8 bytes, not 16.
            (claim_row(id(4), "unverified", None, Some(vec![0; 8])), SqlState::CHECK_VIOLATION),
        ];
        for ((claim_id, state, lease, deadline), expected) in refused {
            let result = client
                .execute(
                    INSERT_CLAIM,
                    &[
                        &claim_id,
                        &b"\x03claim".to_vec(),
                        &2i64,
                        &"ferry-strike",
                        &state,
                        &"harbour gazette",
                        &none,
                        &1i16,
                        &deadline,
                        &lease,
                    ],
                )
                .await;
            assert_eq!(state_of(result), expected, "{state} {lease:?}");
        }
        let short_id = client
            .execute(
                INSERT_CLAIM,
                &[
                    &vec![1u8; 15],
                    &b"\x03claim".to_vec(),
                    &2i64,
                    &"ferry-strike",
                    &"unverified",
                    &"harbour gazette",
                    &none,
                    &1i16,
                    &no_time,
                    &no_lease,
                ],
            )
            .await;
        assert_eq!(state_of(short_id), SqlState::CHECK_VIOLATION);
        // A link of 31 bytes.
        let short_link = client
            .execute(insert_event, &[&2i64, &id(1), &vec![7u8; 31], &b"\x03event".to_vec()])
            .await;
        assert_eq!(state_of(short_link), SqlState::CHECK_VIOLATION);
        // The chain has one end.
        let second_head = client
            .execute(
                "INSERT INTO chain_head (last_revision, last_link) VALUES (1, $1)",
                &[&vec![0u8; 32]],
            )
            .await;
        assert_eq!(state_of(second_head), SqlState::UNIQUE_VIOLATION);
        let other_head = client
            .execute(
                "INSERT INTO chain_head (only_row, last_revision, last_link) VALUES (false, 1, $1)",
                &[&vec![0u8; 32]],
            )
            .await;
        assert_eq!(state_of(other_head), SqlState::CHECK_VIOLATION);
        // A count below zero.
        let negative = client
            .execute(
                "INSERT INTO state_counts (story, state, claims) VALUES ('', 'verified', -1)",
                &[],
            )
            .await;
        assert_eq!(state_of(negative), SqlState::CHECK_VIOLATION);
        // An index row of no claim.
        let orphan_tag = client
            .execute(
                "INSERT INTO claim_tags (claim_id, tag, story, priority_rank) VALUES ($1, 'x', 's', 0)",
                &[&id(9)],
            )
            .await;
        assert_eq!(state_of(orphan_tag), SqlState::FOREIGN_KEY_VIOLATION);
        // A contradiction of a claim with itself.
        let with_itself = client
            .execute(
                "INSERT INTO open_contradictions (link_id, story, subject_id, object_id) \
                 VALUES (7, 'ferry-strike', $1, $1)",
                &[&id(1)],
            )
            .await;
        assert_eq!(state_of(with_itself), SqlState::CHECK_VIOLATION);
        // An event of no claim: refused when its transaction commits.
        let tx = client.transaction().await.expect("a transaction");
        tx.execute(insert_event, &[&5i64, &id(9), &vec![7u8; 32], &b"\x03event".to_vec()])
            .await
            .expect("deferred to the commit");
        let orphan_event = tx.commit().await.expect_err("refused at commit");
        assert_eq!(orphan_event.code(), Some(&SqlState::FOREIGN_KEY_VIOLATION));
    })
    .await;
}

/// 16 big-endian bytes of nanoseconds since 1970, `seconds` after it.
fn at(seconds: u128) -> Vec<u8> {
    (seconds * 1_000_000_000).to_be_bytes().to_vec()
}

#[tokio::test]
async fn the_queue_orders_by_rank_then_deadline_then_id() {
    with_schema(|db| async move {
        let mut client = db.client().await;
        migrate(&mut client).await.expect("migrated");
        let none: Option<&str> = None;
        let no_lease: Option<i64> = None;
        // 2030, and the last second of 9999, past where a bigint of
        // nanoseconds ends (2262).
        let (soon, far) = (Some(at(1_900_000_000)), Some(at(253_402_300_799)));
        let claims: [(u8, &str, i16, Option<Vec<u8>>); 7] = [
            (1, "unverified", 2, None),
            (2, "unverified", 2, far.clone()),
            (3, "unverified", 2, soon.clone()),
            (4, "unverified", 0, None),
            (5, "in_review", 0, soon.clone()),
            (6, "unverified", 1, far.clone()),
            (7, "unverified", 2, soon.clone()),
        ];
        for (n, state, rank, deadline) in claims {
            client
                .execute(
                    INSERT_CLAIM,
                    &[
                        &id(n),
                        &b"\x03claim".to_vec(),
                        &i64::from(n),
                        &"ferry-strike",
                        &state,
                        &"harbour gazette",
                        &none,
                        &rank,
                        &deadline,
                        &no_lease,
                    ],
                )
                .await
                .expect("stored");
        }
        let queue: Vec<u8> = client
            .query(
                "SELECT id FROM claims WHERE state = 'unverified' \
                 ORDER BY priority_rank, deadline, id",
                &[],
            )
            .await
            .expect("read")
            .iter()
            .map(|r| r.get::<_, Vec<u8>>(0)[15])
            .collect();
        // Breaking, urgent, then routine by deadline (none last), then id.
        assert_eq!(queue, [4, 6, 3, 7, 2, 1]);
        let overdue: i64 = client
            .query_one(
                "SELECT count(*) FROM claims WHERE deadline IS NOT NULL \
                 AND state IN ('unverified', 'in_review') AND deadline < $1",
                &[&at(2_000_000_000)],
            )
            .await
            .expect("counted")
            .get(0);
        assert_eq!(overdue, 3, "the deadlines of 2030, in review included");
    })
    .await;
}

/// Checks that the plan of `query` reads `index` and sorts nothing: the
/// index gives the order itself.
pub(super) async fn plan_uses(client: &tokio_postgres::Client, query: &str, index: &str) {
    let plan: Vec<String> = client
        .query(&format!("EXPLAIN {query}"), &[])
        .await
        .expect("explained")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let plan = plan.join("\n");
    assert!(
        plan.contains(index) && !plan.contains("Sort"),
        "{query}\n{plan}"
    );
}

#[tokio::test]
async fn the_store_reads_are_index_ranges_in_the_order_asked() {
    with_schema(|db| async move {
        let mut client = db.client().await;
        migrate(&mut client).await.expect("migrated");
        // Small tables: make the planner show which index serves the order.
        client
            .batch_execute("SET enable_seqscan = off")
            .await
            .expect("set");
        plan_uses(
            &client,
            "SELECT id FROM claims WHERE state = 'unverified' \
             ORDER BY priority_rank, deadline, id LIMIT 1 FOR UPDATE SKIP LOCKED",
            "claims_queue",
        )
        .await;
        plan_uses(
            &client,
            "SELECT id FROM claims WHERE state = 'unverified' AND story = 'ferry' \
             ORDER BY priority_rank, deadline, id LIMIT 1",
            "claims_story_queue",
        )
        .await;
        plan_uses(
            &client,
            "SELECT claim_id FROM claim_tags WHERE tag = 'transport' \
             ORDER BY priority_rank, deadline, claim_id LIMIT 1",
            "claim_tags_queue",
        )
        .await;
        plan_uses(
            &client,
            "SELECT id FROM claims WHERE lease_expires_ns IS NOT NULL \
             AND lease_expires_ns <= 5 ORDER BY lease_expires_ns, id LIMIT 10",
            "claims_leases",
        )
        .await;
        plan_uses(
            &client,
            "SELECT claim_id, figure FROM claim_figures WHERE story = 'ferry' \
             AND figure_key = 'count:boats' ORDER BY claim_id DESC LIMIT 64",
            "Index Scan Backward",
        )
        .await;
        plan_uses(
            &client,
            "SELECT link_id, subject_id, object_id FROM open_contradictions \
             WHERE story = 'ferry' AND link_id > 3 ORDER BY link_id LIMIT 10",
            "open_contradictions_by_story",
        )
        .await;
        plan_uses(
            &client,
            "SELECT claim_id, revision FROM events WHERE claim_id = '\\x01' \
             AND revision > 3 ORDER BY revision LIMIT 10",
            "events_by_claim",
        )
        .await;
    })
    .await;
}

#[test]
fn migrations_are_numbered_from_one_and_run_in_a_transaction() {
    for (n, migration) in MIGRATIONS.iter().enumerate() {
        assert_eq!(
            usize::try_from(migration.version),
            Ok(n + 1),
            "{migration:?}"
        );
        let words: Vec<String> = migration
            .sql
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .flat_map(|l| l.split(|c: char| !c.is_ascii_alphanumeric() && c != '_'))
            .map(str::to_ascii_uppercase)
            .collect();
        for word in ["BEGIN", "COMMIT", "ROLLBACK", "CONCURRENTLY"] {
            assert!(
                !words.iter().any(|w| w == word),
                "migration {} holds {word}",
                migration.version
            );
        }
    }
    assert_eq!(
        latest_version(),
        MIGRATIONS.last().expect("one at least").version
    );
}

#[test]
fn a_schema_name_that_would_need_quoting_is_refused() {
    for bad in ["", "Desk", "1desk", "desk-a", "desk a", "desk;drop"] {
        assert!(
            matches!(
                pool("postgres://postgres@127.0.0.1/test", Some(bad), 1),
                Err(ConnectError::Schema(_))
            ),
            "{bad:?}"
        );
    }
    assert!(pool("postgres://postgres@127.0.0.1/test", Some("claimdesk_1"), 1).is_ok());
    assert!(matches!(
        pool("postgres://[bad", None, 1),
        Err(ConnectError::Url(_))
    ));
}
