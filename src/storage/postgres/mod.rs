//! A PostgreSQL store: the connection pool, the versioned schema
//! ([`migrate()`]), and [`PgStore`] (`store.rs`), whose write and read
//! paths are inherent methods with the signatures and semantics of the
//! [`Store`](super::Store) methods of the same names (not all of them yet:
//! it does not implement the trait). This module tree is the only place
//! that knows tokio-postgres and deadpool-postgres.
//!
//! # The schema (migration 1) and why
//!
//! The schema holds the logical data the sled store keeps in its trees
//! (`keys.rs`), shaped so that every [`Store`](super::Store) method is one
//! indexed query, or one transaction of a few. Records stay exactly as
//! `records.rs` encodes them (`bytea`): an event's record is what its
//! audit-chain link hashed, claims and request ids keep their format rules,
//! and the backup format copies records as stored. Beside a claim's record
//! are the columns its indexes need, all of them functions of the record,
//! rewritten with it in the same statement.
//!
//! **Keys.** A claim id is the ULID's 16 bytes (`bytea`), whose byte order
//! is submission order, the order of every listing. Text that is compared
//! or ordered (story, tag, state, source key, assignee, caller, figure and
//! wording keys) is `text COLLATE "C"`: bytewise, as sled's keys compare,
//! whatever the database's locale, and cheaper than a linguistic collation.
//!
//! **Times.** Records keep times as `u128` nanoseconds since 1970.
//! Deadlines come from clients, and the API takes them up to the end of
//! 9999, far past 2262, where a `bigint` of nanoseconds ends; a `numeric`
//! would hold them, but tokio-postgres has no Rust type for it (each
//! parameter would go through text). So the queue and deadline indexes hold
//! a deadline as the 16 big-endian bytes `keys.rs` orders by (`bytea`:
//! exact, compared with `memcmp`, and byte order is time order); `NULL` is
//! no deadline, which an ascending index sorts last, as sled's all-ones
//! time does. A lease's expiry is made by the server (its clock plus at
//! most a day, `Lease::MAX`), so a `bigint` of nanoseconds holds it exactly
//! until 2262 and compares with the sweeper's `now` as a plain number (the
//! store converts with `i64::try_from`, refusing rather than wrapping a
//! time past that). `timestamptz` (microseconds) would lose the order of
//! times closer than a microsecond; it is used only where nothing is
//! ordered by it (when a migration was applied).
//!
//! **Claims** (`claims`): `id`, `record`, `revision`, `story`, `state` (the
//! records' names of states), `source_key`
//! ([`SourceKey`](super::SourceKey)), `assignee`, `priority_rank` (0
//! breaking, 1 urgent, 2 routine), `deadline`, `lease_expires_ns` (only
//! while in review with a lease). Each index of `keys.rs` is a B-tree
//! index, partial where sled's index holds only some claims:
//!
//! | sled index | PostgreSQL |
//! | --- | --- |
//! | `s` `t` `o` `a`: filters, by id | `claims_by_story` `(story, id)`, `claims_by_state`, `claims_by_source`, `claims_by_assignee` (where assigned) |
//! | `q` `Q`: the queue | `claims_queue` `(priority_rank, deadline, id)` and `claims_story_queue` `(story, …)`, where unverified |
//! | `g` `G`: the tag queues | `claim_tags` rows (one per tag of each unverified claim, with its rank and deadline copied), indexed `(tag, rank, deadline, claim_id)` and `(story, tag, …)` |
//! | `w`: waiting, by id | `claims_story_waiting` `(story, id)` where unverified; overall, `claims_by_state` |
//! | `l`: leases | `claims_leases` `(lease_expires_ns, id)` where leased |
//! | `d` `D`: deadlines | `claims_deadlines` `(deadline, id)` and `claims_story_deadlines`, where unverified or in review with a deadline |
//! | `f`: figures | `claim_figures` `(story, figure_key, claim_id)`, with the figure |
//! | `u`: wordings | `claim_wordings`, indexed `(story, claim_id)`, with the wording key |
//! | `k`: open contradictions | `open_contradictions` `(link_id)`, indexed `(story, link_id)`, with the subject and object claims |
//!
//! So: a listing is a range of one filter's index in id order after the
//! page token (PostgreSQL combines filters with a bitmap AND, or filters
//! the rows of the most selective); `TakeNextClaim` is `… WHERE state =
//! 'unverified' ORDER BY priority_rank, deadline, id LIMIT n FOR UPDATE
//! SKIP LOCKED` on `claims_queue` (or the story's, or a tag's through
//! `claim_tags`, one range per tag): a claim another taker has locked is
//! skipped, not waited for, and never given twice; the lease sweeper reads
//! `claims_leases` up to `now`; the overdue count reads the deadline index
//! up to `now` (its cost is the number of overdue claims, as in sled); a
//! page of a story's contradictions is one range of `open_contradictions`
//! joined with both claims' rows. The figure and wording indexes need no
//! inverted id for newest-first reads: PostgreSQL scans a B-tree backward
//! as fast as forward (`ORDER BY claim_id DESC LIMIT 64`). A claim has one
//! figure entry per figure key, as in sled, where a second figure of the
//! same key replaces the first. Figure and wording rows are written once,
//! with the claim; tag and contradiction rows follow the claim like its
//! columns.
//!
//! **History** (`events`): `revision` (`bigint` primary key: one event per
//! revision, and revision order is the primary key's order, which
//! `events_since` and the audit walk read), `claim_id`, `link` (the 32-byte
//! chain link) and `record`, with `events_by_claim (claim_id, revision)`
//! for a claim's history. Its reference to the claim is deferred to the
//! commit, so a restore may write events before claims.
//!
//! **Request ids** (`requests`): `(caller, request_id)` primary key, and
//! the record: a retry is one lookup, and a reused id one unique violation.
//!
//! **Counts** (`state_counts`, `waiting_counts`): claims per state and
//! unverified claims per priority, per story and (story `''`, which no slug
//! is) over all, updated in each change's transaction. They are counters
//! rather than `COUNT(*)`s because a count over an index costs in
//! proportion to the claims counted, and the queue statistics must not grow
//! with the store (the architecture's "the queue is an index"). The counter
//! rows are hot, but every change already takes the chain's row lock
//! (below), so they add no contention.
//!
//! **The chain's end** (`chain_head`): one row, the last revision given and
//! its link. Every change updates it in its transaction, after locking the
//! claims it changes: the row lock it takes is what serialises writers, so
//! the next change reads the revision and link the previous one committed,
//! revisions are given without gaps, and they are strictly increasing in
//! commit order. A sequence could not do that: it hands out numbers outside
//! transactions, so a rolled-back change leaves a gap, and two changes may
//! commit in the other order than their numbers, which a watcher reading
//! "events after revision n" would take for a lost event. PostgreSQL
//! releases a row lock only once its transaction's commit is visible, so
//! the change that takes the row next, and any reader after it, sees every
//! earlier revision. Its `last_link` is what the next event's link hashes.
//!
//! **What the store was written by** (`desk_format`): one row, the record
//! format and the version of the source keys, written by the store when it
//! first opens the database, as sled's `meta` is.
//!
//! **Backups** need nothing kept aside, unlike sled's `backups` tree: a
//! backup reads in one `REPEATABLE READ` transaction, whose snapshot is one
//! revision while writers go on.

pub mod migrate;
mod store;

pub use migrate::{MIGRATIONS, MigrateError, Migrated, Migration, latest_version, migrate};
pub use store::{OpenError, PgStore, RestoreError};

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

/// Why a pool cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid database URL: {0}")]
    Url(#[source] tokio_postgres::Error),
    #[error(
        "invalid schema name {0:?}: it must be a lower-case letter or '_', then lower-case \
         letters, digits or '_'"
    )]
    Schema(String),
    #[error("cannot make the connection pool: {0}")]
    Pool(String),
}

/// How long making a connection, or waiting for a free one of the pool,
/// may take before the call fails.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long data sent to the server may stay unacknowledged, and how long
/// an idle connection waits before probing, before the connection is taken
/// for lost: a server that vanished without closing its connections
/// (a host down, a network cut) fails calls after this long instead of
/// holding them for the system's TCP retransmission timeout (many minutes).
pub const LOST_AFTER: Duration = Duration::from_secs(15);

/// The configuration of a connection to the database at `url`
/// (`postgres://...` or a key=value string), with the search path set to
/// `schema` if given, so that the store's unqualified table names are those
/// of that schema.
pub fn connection_config(
    url: &str,
    schema: Option<&str>,
) -> Result<tokio_postgres::Config, ConnectError> {
    let mut config: tokio_postgres::Config = url.parse().map_err(ConnectError::Url)?;
    if config.get_application_name().is_none() {
        // What pg_stat_activity shows of the connection.
        config.application_name("claimdesk");
    }
    if let Some(schema) = schema {
        if !is_plain_name(schema) {
            return Err(ConnectError::Schema(schema.to_owned()));
        }
        let options = match config.get_options() {
            Some(given) => format!("{given} -c search_path={schema}"),
            None => format!("-c search_path={schema}"),
        };
        config.options(options);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config
        .keepalives(true)
        .keepalives_idle(LOST_AFTER)
        .tcp_user_timeout(LOST_AFTER);
    Ok(config)
}

/// A pool of at most `max_size` connections to the database at `url`, each
/// as [`connection_config`] makes it. Connections are made on first use;
/// getting one fails after [`CONNECT_TIMEOUT`].
pub fn pool(url: &str, schema: Option<&str>, max_size: usize) -> Result<Pool, ConnectError> {
    let config = connection_config(url, schema)?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(max_size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| ConnectError::Pool(e.to_string()))
}

/// The database `url` names, for logs and messages: user, hosts, ports and
/// database, never the password nor other options.
pub fn redacted(url: &str) -> String {
    let Ok(config) = url.parse::<tokio_postgres::Config>() else {
        return "(an invalid database URL)".to_owned();
    };
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            tokio_postgres::config::Host::Tcp(host) => format!("{host}:{port}"),
            tokio_postgres::config::Host::Unix(path) => format!("{}:{port}", path.display()),
        })
        .collect();
    format!(
        "postgres://{}{}/{}",
        config
            .get_user()
            .map(|u| format!("{u}@"))
            .unwrap_or_default(),
        hosts.join(","),
        config.get_dbname().unwrap_or_default()
    )
}

/// A schema made for one test (or a few servers of one test), with a
/// fresh random name, dropped with everything in it when the value is
/// dropped. Made and dropped from a thread of its own, so any thread may
/// do either, inside an async runtime or not.
pub struct ScratchSchema {
    url: String,
    name: String,
}

impl ScratchSchema {
    /// Makes a fresh schema in the database at `url`.
    pub fn create(url: &str) -> Result<Self, String> {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(|e| format!("no randomness: {e}"))?;
        let name = format!("claimdesk_scratch_{:016x}", u64::from_le_bytes(random));
        admin(url, format!("CREATE SCHEMA {name}"))?;
        Ok(Self {
            url: url.to_owned(),
            name,
        })
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ScratchSchema {
    fn drop(&mut self) {
        if let Err(e) = admin(&self.url, format!("DROP SCHEMA {} CASCADE", self.name)) {
            tracing::warn!(schema = %self.name, "cannot drop a scratch schema: {e}");
        }
    }
}

/// Runs `sql` on a connection of its own to `url`, from a thread of its own.
fn admin(url: &str, sql: String) -> Result<(), String> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let config = connection_config(&url, None).map_err(|e| e.to_string())?;
            let (client, connection) = config
                .connect(NoTls)
                .await
                .map_err(|e| format!("cannot connect to {}: {e}", redacted(&url)))?;
            let connection = tokio::spawn(connection);
            let done = client
                .batch_execute(&sql)
                .await
                .map_err(|e| format!("{sql}: {e}"));
            drop(client);
            let _ = connection.await;
            done
        })
    })
    .join()
    .map_err(|_| "the thread running a statement panicked".to_owned())?
}

/// A name that needs no quoting in SQL nor escaping in connection options.
fn is_plain_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.len() <= 63
}

#[cfg(test)]
mod tests;
