//! Versioned migrations of the PostgreSQL schema.
//!
//! The database records the migrations applied to it in
//! `claimdesk_schema_version` (version, name, applied_at), one row each.
//! [`migrate`] applies those of [`MIGRATIONS`] it lacks, in order, each in
//! a transaction of its own with its row, so a migration is applied whole
//! or not at all, and a run cut short resumes at the first one missing.
//!
//! Several replicas may start at once on one database. Each transaction
//! of the run begins by taking a transaction-level advisory lock
//! (`pg_advisory_xact_lock`) keyed by the schema, then reads the version
//! the database is at: a migration is applied only by the transaction that
//! finds the version just below it, so each is applied exactly once, and
//! the lock goes with the transaction (no session state is left on a
//! pooled connection, even when a run fails). The runners queue on the
//! lock; the first applies what is missing, the others find it applied.
//!
//! A database whose version is newer than the newest migration this build
//! knows is refused, naming both versions: its schema may hold what this
//! build would break. So is one whose migration of some version is not the
//! one this build has under that number.

use tokio_postgres::{Client, Transaction};

/// One migration: its version (from 1, one more than the one before), its
/// name and its SQL, which runs in the transaction the runner opens (so
/// neither `BEGIN`/`COMMIT` nor what cannot run in a transaction, such as
/// `CREATE INDEX CONCURRENTLY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order; the last one's version is the one this build
/// brings a database to. A migration, once released, never changes: a
/// change is a new migration.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "logical_data",
    sql: include_str!("migrations/0001_logical_data.sql"),
}];

/// The version this build brings a database to.
pub fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The first key of the advisory lock of a run (`clmd` in ASCII); the
/// second is a hash of the schema's name, so desks in different schemas of
/// one database do not wait for each other (a collision only makes them
/// wait).
const LOCK_CLASS: i32 = 0x636c_6d64;

/// Takes the run's lock, for the rest of the transaction `tx`.
const LOCK: &str = "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))";

const CREATE_VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS claimdesk_schema_version (
    version integer PRIMARY KEY CHECK (version > 0),
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)";

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The version the database was at before (0: none).
    pub from: i32,
    /// The version it is at now: [`latest_version`].
    pub to: i32,
    /// The versions this run applied, in order (empty if it was current,
    /// or another runner brought it up to date).
    pub applied: Vec<i32>,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "the database's schema is at version {database}, newer than version {known}, the newest \
         this build of claimdesk knows: run a newer build"
    )]
    Newer { database: i32, known: i32 },
    #[error(
        "the database's schema version {version} is {found:?}, but this build's migration \
         {version} is {expected:?}: the database was migrated by another build"
    )]
    Mismatch {
        version: i32,
        found: String,
        expected: &'static str,
    },
    #[error("migration {version} ({name}) failed: {source}")]
    Apply {
        version: i32,
        name: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("cannot read or record the schema version: {0}")]
    Database(#[from] tokio_postgres::Error),
}

/// Brings the database (the schema `client`'s `search_path` names first)
/// to [`latest_version`], applying the migrations it lacks; see the module
/// documentation.
pub async fn migrate(client: &mut Client) -> Result<Migrated, MigrateError> {
    migrate_with(client, MIGRATIONS).await
}

/// [`migrate`] with the given migrations (tests give fewer, or more).
pub(super) async fn migrate_with(
    client: &mut Client,
    migrations: &[Migration],
) -> Result<Migrated, MigrateError> {
    let known = migrations.last().map_or(0, |m| m.version);
    let from = {
        let tx = locked(client).await?;
        tx.batch_execute(CREATE_VERSION_TABLE).await?;
        let at = check(&tx, migrations, known).await?;
        tx.commit().await?;
        at
    };
    let mut applied = Vec::new();
    for migration in migrations {
        if migration.version <= from {
            continue;
        }
        let tx = locked(client).await?;
        let at = check(&tx, migrations, known).await?;
        if at >= migration.version {
            // Another runner applied it meanwhile.
            continue;
        }
        debug_assert_eq!(
            at + 1,
            migration.version,
            "migrations are numbered 1, 2, ..."
        );
        let failed = |source| MigrateError::Apply {
            version: migration.version,
            name: migration.name,
            source,
        };
        tx.batch_execute(migration.sql).await.map_err(failed)?;
        tx.execute(
            "INSERT INTO claimdesk_schema_version (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        applied.push(migration.version);
    }
    Ok(Migrated {
        from,
        to: known,
        applied,
    })
}

/// A transaction holding the run's lock.
async fn locked(client: &mut Client) -> Result<Transaction<'_>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute(LOCK, &[&LOCK_CLASS]).await?;
    Ok(tx)
}

/// The version the database is at, refused if it is newer than `known` or
/// if a migration it records is not the one of `migrations`.
async fn check(
    tx: &Transaction<'_>,
    migrations: &[Migration],
    known: i32,
) -> Result<i32, MigrateError> {
    let rows = tx
        .query(
            "SELECT version, name FROM claimdesk_schema_version ORDER BY version",
            &[],
        )
        .await?;
    let recorded: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let at = recorded.last().map_or(0, |(version, _)| *version);
    if at > known {
        return Err(MigrateError::Newer {
            database: at,
            known,
        });
    }
    for (version, name) in recorded {
        let expected = migrations
            .iter()
            .find(|m| m.version == version)
            .map_or("(none)", |m| m.name);
        if name != expected {
            return Err(MigrateError::Mismatch {
                version,
                found: name,
                expected,
            });
        }
    }
    Ok(at)
}
