//! The PostgreSQL store's write and read paths, as inherent methods of
//! [`PgStore`] with the signatures and semantics of the
//! [`Store`](crate::storage::Store) methods of the same names.
//!
//! # Threads
//!
//! The `Store` trait is blocking: its methods run on tokio's blocking pool.
//! A `PgStore` owns a small multi-thread tokio runtime of its own, on whose
//! workers its connections are driven; each method runs its queries with
//! [`tokio::runtime::Runtime::block_on`] from the caller's (blocking)
//! thread, one statement at a time, so that a rule run between two
//! statements of a transaction (an update's [`Change`]) runs on the
//! caller's thread and may itself read through the same transaction. The
//! methods must therefore not be called from within an async task (a
//! thread of tokio's blocking pool, or any plain thread, is fine).
//!
//! # Transactions
//!
//! Every change is one transaction, at PostgreSQL's default `READ
//! COMMITTED` level, which takes the one row of `chain_head` before it
//! gives a revision: that row lock serialises writers, so the revisions a
//! change gives follow the last committed one without gaps, and are
//! strictly increasing in commit order (see the module documentation of
//! [`super`]). An update locks its claim (`FOR NO KEY UPDATE`: no change
//! alters an id, and a stronger lock would also block the checks of the
//! references to it that other changes write) and runs the rules
//! first, then takes the chain's lock. A submission takes the chain's lock
//! first, so that it sees every request id and earlier claim committed
//! before it (as the sled store's one writer does), then locks the claims
//! it links with without waiting (`NOWAIT`): waiting there could close a
//! cycle with an update that holds one and waits for the chain's lock. On
//! finding one locked it rolls back, waits for that claim's lock holding
//! none, and begins again. A refusal by the rules, a reused request id or
//! any failure rolls the transaction back: nothing of it is written.
//!
//! # Durability
//!
//! A change returns once its `COMMIT` has returned. With
//! `synchronous_commit` at `on` (PostgreSQL's default), `local`,
//! `remote_write` or `remote_apply`, a commit returns only once its WAL is
//! flushed to the server's disk, so what a change returned survives a crash
//! of the server. [`PgStore::open`] refuses a server whose
//! `synchronous_commit` is `off` for the store's connections, where a
//! commit returns before that; the check is made once, at open, so the
//! setting must not be turned off for the database or role afterwards.
//! Nothing here waits for a flush of its own: reads see only committed
//! changes, which are durable.

use std::{collections::BTreeMap, sync::Arc, time::SystemTime};

use deadpool_postgres::{Object, Pool, PoolError, TimeoutType, Transaction};
use tokio::runtime::Runtime;
use tokio_postgres::{IsolationLevel, Row, error::SqlState, types::ToSql};

use self::feed::Feed;
use super::{ConnectError, MigrateError, connection_config, migrate, pool};
use crate::{
    domain::{
        Changed, Claim, ClaimId, End, Event, EventDraft, LinkId, MAX_LINKS_PER_CLAIM, Priority,
        Slug, State, Wording, suggest,
    },
    error::{Error, StorageError, StorageErrorKind},
    storage::{
        AuditReport, Change, Page, PageLimit, RequestKey, Submitted,
        candidates::{
            self, CANDIDATES_PER_FIGURE, MAX_CANDIDATES, MAX_FIGURE_ENTRIES, worth_comparing,
        },
        records::{self, ChainWalk, ClaimRecord, EventRecord, HASH_LEN, Record, StoredEvent},
    },
};

/// The version of the source keys (`claims.source_key`) this build
/// writes, as the database's `desk_format` row keeps it.
const SOURCE_KEYS_VERSION: i32 = candidates::SOURCE_KEYS_VERSION as i32;

/// Connections in the pool. Writers queue on the chain's row lock, each
/// holding a connection while it waits; readers share the same pool.
const POOL_SIZE: usize = 8;

/// Attempts of a submission whose candidates for links are locked by
/// other changes (see [`PgStore::submit`]); before each, it waits for the
/// change it found holding a candidate to end.
const SUBMIT_ATTEMPTS: usize = 1000;

/// Wording rows read per new claim (a query's `LIMIT`).
const WORDINGS: i64 = candidates::WORDINGS as i64;

/// Events the audit reads per statement.
const AUDIT_CHUNK: i64 = 1000;

/// Worker threads of the store's runtime, which only drive connections.
const RUNTIME_THREADS: usize = 2;

/// Why a store cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("cannot start the store's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot connect to the database: {0}")]
    Pool(String),
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error("cannot read or write the database's format: {0}")]
    Database(#[from] tokio_postgres::Error),
    #[error(
        "the database holds records of format {found}, newer than format {known}, the newest \
         this build reads: run a newer build"
    )]
    NewerRecords { found: i32, known: i32 },
    #[error(
        "the database's source keys are of version {found}, but this build makes version \
         {known}: they must be rebuilt, which this build cannot do for PostgreSQL"
    )]
    SourceKeys { found: i32, known: i32 },
    #[error(
        "the server's synchronous_commit is {0:?}: a commit would return before it is durable; \
         set it to on"
    )]
    NotDurable(String),
}

/// A store on PostgreSQL (see the module documentation).
pub struct PgStore {
    /// Always `Some` but while dropping (see the `Drop` implementation).
    runtime: Option<Runtime>,
    pool: Pool,
    feed: Arc<Feed>,
    /// The channel every change notifies when it commits (see [`feed`]).
    channel: String,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks end, which tokio
        // refuses inside an async context; the connections' tasks need no
        // waiting for.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A failure of the database, as the store reports it: of kind
/// [`StorageErrorKind::Unreachable`] if the server could not be reached
/// (nothing was done).
fn db(context: &'static str) -> impl FnOnce(tokio_postgres::Error) -> Error {
    move |e| {
        let kind = if is_unreachable(&e) {
            StorageErrorKind::Unreachable
        } else {
            StorageErrorKind::Call
        };
        StorageError::new(context, e).with_kind(kind).into()
    }
}

/// A failed `COMMIT`, as the store reports it: if the connection was lost
/// the change may or may not have been made
/// ([`StorageErrorKind::CommitUnknown`]); a refusal by the server (a
/// deferred check, say) rolled it back.
fn commit_failed(context: &'static str) -> impl FnOnce(tokio_postgres::Error) -> Error {
    move |e| {
        let kind = if is_unreachable(&e) {
            StorageErrorKind::CommitUnknown
        } else {
            StorageErrorKind::Call
        };
        StorageError::new(context, e).with_kind(kind).into()
    }
}

/// Whether `e` says the server could not be reached or went away: the
/// connection closed or failed, or the server refuses connections or is
/// shutting down (SQLSTATE class 08, 57P01 to 57P03).
pub(super) fn is_unreachable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            code.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                ]
                .contains(code)
        }
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

fn corrupt(context: &'static str, e: impl std::fmt::Display) -> Error {
    StorageError::new(context, format!("corrupt record: {e}")).into()
}

/// The channel the changes of the store in `schema` notify: the schema's
/// name after a prefix, cut to the 63 bytes a channel name may have (two
/// schemas that share a channel only wake each other's feeds for nothing).
fn notify_channel(schema: &str) -> String {
    let mut channel = format!("claimdesk_{schema}");
    while channel.len() > 63 {
        channel.pop();
    }
    channel
}

/// A claim a submission would link with, found locked by another change.
struct Locked(ClaimId);

/// The chain's end as a transaction holding its row lock has read it.
struct Head {
    revision: u64,
    link: [u8; HASH_LEN],
}

/// `ns` as the 16 big-endian bytes the deadline columns hold.
fn time_bytes(t: SystemTime) -> Vec<u8> {
    records::to_ns(t).to_be_bytes().to_vec()
}

fn rank(p: Priority) -> i16 {
    match p {
        Priority::Breaking => 0,
        Priority::Urgent => 1,
        Priority::Routine => 2,
    }
}

fn to_i64(n: u64, what: &'static str) -> Result<i64, Error> {
    i64::try_from(n).map_err(|_| Error::Internal(format!("{what} {n} does not fit a bigint")))
}

fn from_i64(n: i64, what: &'static str) -> Result<u64, Error> {
    u64::try_from(n).map_err(|_| corrupt(what, format!("negative value {n}")))
}

/// The open contradictions of `claim` at its subject end: their link ids
/// and the claims at their other ends.
fn open_contradictions(claim: &Claim) -> Vec<(LinkId, ClaimId)> {
    claim
        .links
        .iter()
        .filter(|l| l.is_open_contradiction() && l.end == End::Subject)
        .map(|l| (l.id, l.other))
        .collect()
}

/// The columns of a claim's row beside its id, record, state and source
/// key, and of its tag rows, as every write of the claim makes them.
struct Columns<'a> {
    story: &'a str,
    revision: i64,
    priority_rank: i16,
    deadline: Option<Vec<u8>>,
    lease_expires_ns: Option<i64>,
    assignee: Option<&'a str>,
    /// The tags of its tag rows: an unverified claim's, else none.
    queued_tags: &'a [Slug],
}

impl<'a> Columns<'a> {
    fn of(claim: &'a Claim) -> Result<Self, Error> {
        let lease_expires_ns = match (claim.state, claim.lease) {
            (State::InReview, Some(lease)) => {
                let ns = records::to_ns(lease.expires);
                Some(i64::try_from(ns).map_err(|_| {
                    Error::Internal(format!("lease expiry {ns} ns is past what a bigint holds"))
                })?)
            }
            _ => None,
        };
        Ok(Self {
            story: claim.story.as_str(),
            revision: to_i64(claim.revision, "revision")?,
            priority_rank: rank(claim.priority),
            deadline: claim.deadline.map(time_bytes),
            lease_expires_ns,
            assignee: claim.assignee.as_ref().map(|a| a.as_str()),
            queued_tags: if claim.state == State::Unverified {
                &claim.tags
            } else {
                &[]
            },
        })
    }
}

/// The figure rows of a claim, by figure key: one row per key, a later
/// figure of the same key replacing an earlier one, as in the sled index.
fn figure_rows(claim: &Claim) -> BTreeMap<String, Vec<u8>> {
    claim
        .figures
        .iter()
        .filter(|f| f.is_comparable())
        .map(|f| (f.index_key(), records::encode_figure(f)))
        .collect()
}

/// Keys of counter rows: `(story, state)` of `state_counts` and `(story,
/// rank)` of `waiting_counts`.
type Counters = (Vec<(String, String)>, Vec<(String, i16)>);

/// The counter rows of a claim, whose state's name is `state`: for its
/// story and for all (`''`).
fn counters(claim: &Claim, state: &str) -> Counters {
    let story = claim.story.as_str().to_owned();
    let states = vec![
        (String::new(), state.to_owned()),
        (story.clone(), state.to_owned()),
    ];
    let waiting = if claim.state == State::Unverified {
        let r = rank(claim.priority);
        vec![(String::new(), r), (story, r)]
    } else {
        Vec::new()
    };
    (states, waiting)
}

impl PgStore {
    /// Opens the store in the database at `url` (in `schema` if given,
    /// else the connection's search path): starts the runtime and the pool,
    /// brings the schema to the latest version ([`migrate()`]), refuses a
    /// server whose commits are not durable (`synchronous_commit = off`),
    /// and records the format of the records in `desk_format` on first
    /// open, refusing a database written in a newer format or with other
    /// source keys.
    pub fn open(url: &str, schema: Option<&str>) -> Result<Self, OpenError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("claimdesk-postgres")
            .enable_all()
            .build()
            .map_err(OpenError::Runtime)?;
        // The pool spawns each connection's task on the runtime it is
        // made in.
        let pool = {
            let _entered = runtime.enter();
            pool(url, schema, POOL_SIZE)?
        };
        let listener = connection_config(url, schema)?;
        // Made first, so that a refusal below drops the runtime as the
        // store does; the feed and channel are set once the schema is read.
        let mut store = Self {
            runtime: Some(runtime),
            pool,
            feed: Feed::new(0),
            channel: String::new(),
        };
        let (current_schema, revision) = store.block_on(async {
            let mut client = store
                .pool
                .get()
                .await
                .map_err(|e| OpenError::Pool(e.to_string()))?;
            let synchronous: String = client
                .query_one("SHOW synchronous_commit", &[])
                .await?
                .get(0);
            if synchronous == "off" {
                return Err(OpenError::NotDurable(synchronous));
            }
            migrate(&mut client).await?;
            let known = i32::try_from(records::FORMAT).expect("a small format number");
            client
                .execute(
                    "INSERT INTO desk_format (record_format, source_keys_version) \
                     VALUES ($1, $2) ON CONFLICT (only_row) DO NOTHING",
                    &[&known, &SOURCE_KEYS_VERSION],
                )
                .await?;
            let row = client
                .query_one(
                    "SELECT record_format, source_keys_version FROM desk_format",
                    &[],
                )
                .await?;
            let (found, keys): (i32, i32) = (row.get(0), row.get(1));
            if found > known {
                return Err(OpenError::NewerRecords { found, known });
            }
            if keys != SOURCE_KEYS_VERSION {
                return Err(OpenError::SourceKeys {
                    found: keys,
                    known: SOURCE_KEYS_VERSION,
                });
            }
            let row = client
                .query_one(
                    "SELECT current_schema(), last_revision FROM chain_head",
                    &[],
                )
                .await?;
            let schema: String = row.get(0);
            let revision = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
            Ok::<_, OpenError>((schema, revision))
        })?;
        store.channel = notify_channel(&current_schema);
        store.feed = Feed::new(revision);
        store.runtime().spawn(feed::run(
            store.feed.clone(),
            listener,
            store.channel.clone(),
        ));
        Ok(store)
    }

    fn runtime(&self) -> &Runtime {
        self.runtime.as_ref().expect("the runtime lives until drop")
    }

    /// Runs `f` to its end on the store's runtime, from the caller's thread.
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime().block_on(f)
    }

    /// A connection of the pool. Failing to make one (or to check an idle
    /// one) means the database cannot be reached; waiting too long for a
    /// free one only that the store is busy.
    fn client(&self) -> Result<Object, Error> {
        let e = match self.block_on(self.pool.get()) {
            Ok(client) => return Ok(client),
            Err(e) => e,
        };
        let kind = match &e {
            PoolError::Backend(e) if !is_unreachable(e) => StorageErrorKind::Call,
            PoolError::Timeout(TimeoutType::Wait) => StorageErrorKind::Call,
            _ => StorageErrorKind::Unreachable,
        };
        if kind == StorageErrorKind::Unreachable {
            self.feed.unreachable();
        }
        Err(StorageError::new("connect to the database", e.to_string())
            .with_kind(kind)
            .into())
    }

    /// A read-only `REPEATABLE READ` transaction on `client`: one snapshot
    /// of the store, which changes committed meanwhile do not alter.
    fn snapshot<'c>(
        &self,
        client: &'c mut Object,
        context: &'static str,
    ) -> Result<Transaction<'c>, Error> {
        self.block_on(
            client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start(),
        )
        .map_err(db(context))
    }

    /// Commits a change's transaction, and wakes the feed to publish its
    /// events.
    fn commit(&self, tx: Transaction<'_>, context: &'static str) -> Result<(), Error> {
        self.block_on(tx.commit()).map_err(commit_failed(context))?;
        self.feed.poke();
        Ok(())
    }

    /// [`Store::submit`](crate::storage::Store::submit): the claim, its
    /// index rows, counters, submission event and request id, and the
    /// links suggested by comparing it with the earlier claims of its story
    /// ([`crate::domain::suggest`]), each on both claims with its events,
    /// in one transaction. A known request id with the same fingerprint
    /// replays the claim it made; with another, [`Error::RequestIdReused`],
    /// and nothing is written.
    ///
    /// The transaction takes the chain's row lock first, so that it reads
    /// the request ids and the earlier claims every change committed before
    /// it; a candidate for a link that another change has locked (and which
    /// waits for the chain's lock) would then wait for this one in turn, so
    /// candidates are locked without waiting, and a submission that finds
    /// one locked is rolled back, waits for that change to end (holding no
    /// lock), and begins again.
    pub fn submit(&self, claim: Claim, request: Option<&RequestKey>) -> Result<Submitted, Error> {
        let wording = Wording::of(claim.statement.as_str());
        for _ in 0..SUBMIT_ATTEMPTS {
            match self.try_submit(&claim, &wording, request)? {
                Ok(submitted) => return Ok(submitted),
                Err(Locked(id)) => self.wait_unlocked(id)?,
            }
        }
        Err(StorageError::new(
            "submit claim",
            format!(
                "the claims to link with stayed locked by other changes over {SUBMIT_ATTEMPTS} \
                 attempts"
            ),
        )
        .into())
    }

    /// Returns once claim `id` is not locked by a change (which the
    /// caller no longer holds the chain's lock for).
    fn wait_unlocked(&self, id: ClaimId) -> Result<(), Error> {
        let mut client = self.client()?;
        let tx = self
            .block_on(client.transaction())
            .map_err(db("wait for a claim"))?;
        self.block_on(tx.query_opt(
            "SELECT 1 FROM claims WHERE id = $1 FOR SHARE",
            &[&id.to_bytes().as_slice()],
        ))
        .map_err(db("wait for a claim"))?;
        self.block_on(tx.rollback()).map_err(db("wait for a claim"))
    }

    /// One attempt of [`Self::submit`]: [`Locked`] if a candidate was
    /// locked (nothing is written).
    fn try_submit(
        &self,
        claim: &Claim,
        wording: &Wording,
        request: Option<&RequestKey>,
    ) -> Result<Result<Submitted, Locked>, Error> {
        let mut client = self.client()?;
        let tx = self
            .block_on(client.transaction())
            .map_err(db("begin submit"))?;
        let write = Writer {
            store: self,
            tx: &tx,
        };
        let mut head = write.lock_head()?;
        if let Some(request) = request {
            if let Some(known) = write.request(request)? {
                return Ok(Ok(Submitted::Replayed(known)));
            }
            let record = request.record(claim.id);
            write.exec(
                "insert request id",
                "INSERT INTO requests (caller, request_id, record) VALUES ($1, $2, $3)",
                &[&request.caller, &request.id, &record],
            )?;
        }
        let mut claim = claim.clone();
        write.write_new(&mut claim, wording, &mut head)?;
        let claim = match write.link_suggested(claim, wording, &mut head)? {
            Ok(claim) => claim,
            Err(locked) => return Ok(Err(locked)),
        };
        write.store_head(&head)?;
        self.commit(tx, "commit submit")?;
        Ok(Ok(Submitted::Created(claim)))
    }

    /// [`Store::get`](crate::storage::Store::get).
    pub fn get(&self, id: ClaimId) -> Result<Option<Claim>, Error> {
        let client = self.client()?;
        let row = self
            .block_on(async {
                let statement = client
                    .prepare_cached("SELECT record FROM claims WHERE id = $1")
                    .await?;
                client
                    .query_opt(&statement, &[&id.to_bytes().as_slice()])
                    .await
            })
            .map_err(db("read claim"))?;
        row.map(|row| ClaimRecord::decode(row.get(0)).map_err(|e| corrupt("read claim", e)))
            .transpose()
    }

    /// [`Store::update`](crate::storage::Store::update): locks the claim
    /// (`FOR NO KEY UPDATE`), applies `change` to it on the caller's thread, with
    /// the states of other claims read in the same transaction, and writes
    /// the result, its index rows, counters and events, in one
    /// transaction. [`Error::NotFound`] if the claim does not exist; a
    /// refusal by the rules (or a failed read of another claim) writes
    /// nothing.
    pub fn update(&self, id: ClaimId, change: Change) -> Result<(Claim, Vec<Event>), Error> {
        let mut client = self.client()?;
        let tx = self
            .block_on(client.transaction())
            .map_err(db("begin update"))?;
        let write = Writer {
            store: self,
            tx: &tx,
        };
        let old = write.claim(id, true)?.ok_or(Error::NotFound(id))?;
        // Other claims are read only if the rules ask (a dispute weighing
        // its contradictions).
        let Changed { mut claim, events } = write.decide(&old, &change)?;
        let mut head = write.lock_head()?;
        let events = write.write(Some(&old), &mut claim, events, &mut head)?;
        write.store_head(&head)?;
        self.commit(tx, "commit update")?;
        Ok((claim, events))
    }

    /// [`Store::events`](crate::storage::Store::events): from
    /// `events_by_claim`, at most `limit.items + 1` rows read (the one
    /// more tells whether more follow). [`Error::NotFound`] if the claim
    /// does not exist.
    pub fn events(&self, id: ClaimId, after: u64, limit: PageLimit) -> Result<Page<Event>, Error> {
        let client = self.client()?;
        let key = id.to_bytes();
        let key = key.as_slice();
        let exists = self
            .block_on(client.query_opt("SELECT 1 FROM claims WHERE id = $1", &[&key]))
            .map_err(db("read claim"))?;
        if exists.is_none() {
            return Err(Error::NotFound(id));
        }
        // Revisions past a bigint's range are none.
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let rows = i64::try_from(limit.items)
            .unwrap_or(i64::MAX)
            .saturating_add(1);
        let rows = self
            .block_on(client.query(
                "SELECT link, record FROM events WHERE claim_id = $1 AND revision > $2 \
                 ORDER BY revision LIMIT $3",
                &[&key, &after, &rows],
            ))
            .map_err(db("read history"))?;
        let mut items = Vec::new();
        let mut read = 0;
        for row in &rows {
            if limit.is_full(items.len(), read) {
                return Ok(Page { items, more: true });
            }
            let (link, body): (&[u8], &[u8]) = (row.get(0), row.get(1));
            // As the sled store counts them: the link and the record.
            read += link.len() + body.len();
            items.push(EventRecord::decode(body).map_err(|e| corrupt("read history", e))?);
        }
        Ok(Page { items, more: false })
    }

    /// [`Store::events_since`](crate::storage::Store::events_since): one
    /// range of the events' primary key.
    pub fn events_since(&self, after: u64, up_to: u64, limit: usize) -> Result<Vec<Event>, Error> {
        if after >= up_to || limit == 0 {
            return Ok(Vec::new());
        }
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let up_to = i64::try_from(up_to).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client()?;
        let rows = self
            .block_on(client.query(
                "SELECT record FROM events WHERE revision > $1 AND revision <= $2 \
                 ORDER BY revision LIMIT $3",
                &[&after, &up_to, &limit],
            ))
            .map_err(db("read history"))?;
        rows.iter()
            .map(|row| EventRecord::decode(row.get(0)).map_err(|e| corrupt("read history", e)))
            .collect()
    }

    /// Walks the whole history from revision 1, as the sled store's audit
    /// does: each event must follow the one before without a gap, and its
    /// chain link must be the hash of the previous link and its record;
    /// the chain's end (`chain_head`) must be the last event's. Reads one
    /// snapshot (a read-only `REPEATABLE READ` transaction), so changes
    /// committed meanwhile are neither half seen nor taken for damage.
    /// Reports the first event that fails, or how many check out.
    pub fn audit(&self) -> Result<AuditReport, Error> {
        let broken = |revision, reason: &str| {
            Ok(AuditReport::Broken {
                revision,
                reason: reason.to_owned(),
            })
        };
        let mut client = self.client()?;
        let tx = self.snapshot(&mut client, "begin audit")?;
        let mut walk = ChainWalk::default();
        let mut after = 0i64;
        loop {
            let rows = self
                .block_on(tx.query(
                    "SELECT revision, link, record FROM events WHERE revision > $1 \
                     ORDER BY revision LIMIT $2",
                    &[&after, &AUDIT_CHUNK],
                ))
                .map_err(db("read history"))?;
            let Some(last) = rows.last() else {
                break;
            };
            after = last.get(0);
            for row in &rows {
                let revision = from_i64(row.get(0), "read history")?;
                let stored = StoredEvent::join(
                    &<[u8; HASH_LEN]>::try_from(row.get::<_, &[u8]>(1))
                        .map_err(|_| corrupt("read history", "bad link"))?,
                    row.get(2),
                );
                if let Err(reason) = walk.step(revision, &stored) {
                    return broken(walk.next_revision(), reason);
                }
            }
        }
        let head = self
            .block_on(tx.query_one("SELECT last_revision, last_link FROM chain_head", &[]))
            .map_err(db("read chain"))?;
        self.block_on(tx.commit()).map_err(db("end audit"))?;
        let expected = walk.next_revision();
        let last = from_i64(head.get(0), "read chain")?;
        if last >= expected {
            return broken(expected, "the event is missing");
        }
        if expected > 1 && head.get::<_, &[u8]>(1) != walk.last_link().as_slice() {
            return broken(
                expected - 1,
                "the chain's recorded end does not match the last event",
            );
        }
        Ok(AuditReport::Intact {
            events: expected - 1,
        })
    }
}

/// The statements of one write transaction, run from the caller's thread.
struct Writer<'a> {
    store: &'a PgStore,
    tx: &'a Transaction<'a>,
}

impl<'a> Writer<'a> {
    /// The statements below run prepared once per connection (deadpool's
    /// statement cache), which saves a round trip each.
    async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        let statement = self.tx.prepare_cached(sql).await?;
        self.tx.execute(&statement, params).await
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let statement = self.tx.prepare_cached(sql).await?;
        self.tx.query(&statement, params).await
    }

    async fn query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, tokio_postgres::Error> {
        let statement = self.tx.prepare_cached(sql).await?;
        self.tx.query_one(&statement, params).await
    }

    async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        let statement = self.tx.prepare_cached(sql).await?;
        self.tx.query_opt(&statement, params).await
    }
}

impl Writer<'_> {
    fn exec(
        &self,
        context: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        self.store
            .block_on(self.execute(sql, params))
            .map_err(db(context))
    }

    /// Takes the chain's row lock, for the rest of the transaction, and
    /// reads the chain's end.
    fn lock_head(&self) -> Result<Head, Error> {
        let row = self
            .store
            .block_on(self.query_one(
                "SELECT last_revision, last_link FROM chain_head FOR UPDATE",
                &[],
            ))
            .map_err(db("lock the chain"))?;
        let revision = from_i64(row.get(0), "read chain")?;
        let link = <[u8; HASH_LEN]>::try_from(row.get::<_, &[u8]>(1))
            .map_err(|_| corrupt("read chain", "bad last link"))?;
        Ok(Head { revision, link })
    }

    /// Ends the chain at `head`, and notifies the store's channel: the
    /// notification is delivered when, and only if, the change commits.
    fn store_head(&self, head: &Head) -> Result<(), Error> {
        let revision = to_i64(head.revision, "revision")?;
        self.exec(
            "write chain",
            "UPDATE chain_head SET last_revision = $1, last_link = $2",
            &[&revision, &head.link.as_slice()],
        )?;
        self.store
            .block_on(self.query_one("SELECT pg_notify($1, '')", &[&self.store.channel]))
            .map_err(db("notify watchers"))?;
        Ok(())
    }

    /// The claim of a known request id, or [`Error::RequestIdReused`] if
    /// it was recorded with another fingerprint; `None` if it is new.
    fn request(&self, request: &RequestKey) -> Result<Option<Claim>, Error> {
        let row = self
            .store
            .block_on(self.query_opt(
                "SELECT record FROM requests WHERE caller = $1 AND request_id = $2",
                &[&request.caller, &request.id],
            ))
            .map_err(db("read request"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id = request.replayed_claim(row.get(0))?;
        self.claim(id, false)?
            .ok_or_else(|| corrupt("read request", "claim of request id missing"))
            .map(Some)
    }

    /// Claim `id` as the transaction sees it, locked for the rest of the
    /// transaction if `lock`.
    fn claim(&self, id: ClaimId, lock: bool) -> Result<Option<Claim>, Error> {
        let sql = if lock {
            "SELECT record FROM claims WHERE id = $1 FOR NO KEY UPDATE"
        } else {
            "SELECT record FROM claims WHERE id = $1"
        };
        let row = self
            .store
            .block_on(self.query_opt(sql, &[&id.to_bytes().as_slice()]))
            .map_err(db("read claim"))?;
        row.map(|row| ClaimRecord::decode(row.get(0)).map_err(|e| corrupt("read claim", e)))
            .transpose()
    }

    /// Links `claim`, just written, to the earlier claims of its story the
    /// rules suggest (see [`suggest`]); returns it as linked, or
    /// [`Locked`] if a candidate is locked by another change.
    fn link_suggested(
        &self,
        mut claim: Claim,
        wording: &Wording,
        head: &mut Head,
    ) -> Result<Result<Claim, Locked>, Error> {
        let candidates = match self.candidates(&claim, wording)? {
            Ok(candidates) => candidates,
            Err(locked) => return Ok(Err(locked)),
        };
        if candidates.is_empty() {
            return Ok(Ok(claim));
        }
        let candidates: Vec<&Claim> = candidates.iter().collect();
        for suggestion in suggest(&claim, wording, &candidates) {
            let Some(other) = candidates.iter().find(|c| c.id == suggestion.other) else {
                continue;
            };
            // Each suggestion links another candidate, so `other` is as it
            // was read; only the new claim changes from one to the next.
            let link = head.revision + 1;
            // A claim with no room for another link is left out.
            let Ok((mut new, mut old)) = suggestion.link(&claim, other, link) else {
                continue;
            };
            self.write(Some(&claim), &mut new.claim, new.events, head)?;
            self.write(Some(other), &mut old.claim, old.events, head)?;
            claim = new.claim;
        }
        Ok(Ok(claim))
    }

    /// The earlier claims of `claim`'s story worth comparing it with, as
    /// the sled store chooses them: newest first, at most
    /// [`MAX_CANDIDATES`]: those worded the same, then those with a figure
    /// that disagrees with or equals one of its own (read from the figure
    /// rows without reading the claims), but not withdrawn ones nor those
    /// with no room for another link. Each is locked for the rest of the
    /// transaction; [`Locked`] if one is locked by another change.
    fn candidates(
        &self,
        claim: &Claim,
        wording: &Wording,
    ) -> Result<Result<Vec<Claim>, Locked>, Error> {
        let story = claim.story.as_str();
        let mut ids: Vec<ClaimId> = Vec::new();
        let key = wording.key();
        let rows = self
            .store
            .block_on(self.query(
                "SELECT claim_id, wording_key FROM claim_wordings WHERE story = $1 \
                 ORDER BY claim_id DESC LIMIT $2",
                &[&story, &WORDINGS],
            ))
            .map_err(db("read wording index"))?;
        for row in &rows {
            let id = claim_id(row.get(0), "read wording index")?;
            if row.get::<_, &str>(1) == key && id != claim.id && ids.len() < MAX_CANDIDATES {
                ids.push(id);
            }
        }
        // However many figures the claim has, at most this many figure rows
        // are read.
        let mut budget = MAX_FIGURE_ENTRIES;
        for figure in claim.figures.iter().filter(|f| f.is_comparable()) {
            let limit = CANDIDATES_PER_FIGURE.min(budget);
            let rows = self
                .store
                .block_on(self.query(
                    "SELECT claim_id, figure FROM claim_figures \
                     WHERE story = $1 AND figure_key = $2 ORDER BY claim_id DESC LIMIT $3",
                    &[&story, &figure.index_key(), &(limit as i64)],
                ))
                .map_err(db("read figure index"))?;
            budget -= rows.len();
            for row in &rows {
                let id = claim_id(row.get(0), "read figure index")?;
                if id == claim.id || ids.contains(&id) || ids.len() >= MAX_CANDIDATES {
                    continue;
                }
                let theirs = records::decode_figure(row.get(1))
                    .map_err(|e| corrupt("read figure index", e))?;
                if worth_comparing(figure, &theirs) {
                    ids.push(id);
                }
            }
        }
        let mut claims = Vec::with_capacity(ids.len());
        for id in ids {
            let row = self.store.block_on(self.query_opt(
                "SELECT record FROM claims WHERE id = $1 FOR NO KEY UPDATE NOWAIT",
                &[&id.to_bytes().as_slice()],
            ));
            let row = match row {
                Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                    return Ok(Err(Locked(id)));
                }
                row => row.map_err(db("read claim"))?,
            };
            let candidate = row
                .map(|row| ClaimRecord::decode(row.get(0)).map_err(|e| corrupt("read claim", e)))
                .transpose()?
                .ok_or_else(|| corrupt("read figure index", "indexed claim missing"))?;
            if candidate.state != State::Withdrawn && candidate.links.len() < MAX_LINKS_PER_CLAIM {
                claims.push(candidate);
            }
        }
        // Newest first, whichever index found them.
        claims.sort_by_key(|c| std::cmp::Reverse(c.id));
        Ok(Ok(claims))
    }

    /// Writes a new claim with its submission event, and its figure and
    /// wording rows (written once: figures and statements never change).
    fn write_new(
        &self,
        claim: &mut Claim,
        wording: &Wording,
        head: &mut Head,
    ) -> Result<(), Error> {
        let draft = EventDraft::submitted(claim);
        self.write(None, claim, vec![draft], head)?;
        self.write_once(claim, wording)
    }

    /// Writes the figure and wording rows of a new claim, whose wording is
    /// `wording`.
    fn write_once(&self, claim: &Claim, wording: &Wording) -> Result<(), Error> {
        let id = claim.id.to_bytes();
        let story = claim.story.as_str();
        for (key, figure) in &figure_rows(claim) {
            self.exec(
                "write figure index",
                "INSERT INTO claim_figures (story, figure_key, claim_id, figure) \
                 VALUES ($1, $2, $3, $4)",
                &[&story, key, &id.as_slice(), figure],
            )?;
        }
        self.exec(
            "write wording index",
            "INSERT INTO claim_wordings (claim_id, story, wording_key) VALUES ($1, $2, $3)",
            &[&id.as_slice(), &story, &wording.key()],
        )?;
        Ok(())
    }

    /// Writes `claim` (giving it the revision of the last of `events`),
    /// its columns, tag and contradiction rows and counters moved from
    /// those of `old`, and appends the events to the chain after `head`.
    fn write(
        &self,
        old: Option<&Claim>,
        claim: &mut Claim,
        events: Vec<EventDraft>,
        head: &mut Head,
    ) -> Result<Vec<Event>, Error> {
        let first = head.revision + 1;
        let count = u64::try_from(events.len()).unwrap_or(u64::MAX);
        let Some(last) = count.checked_sub(1).map(|n| first + n) else {
            return Err(Error::Internal("a change made no event".into()));
        };
        claim.revision = last;
        let record = ClaimRecord::from(&*claim);
        self.write_claim(old, claim, &record.encode(), &record.state)?;
        self.write_contradictions(old, claim)?;
        self.move_counters(old, claim, &record.state)?;
        let mut written = Vec::with_capacity(events.len());
        for (revision, draft) in (first..=last).zip(events) {
            let event = draft.with_revision(claim, revision);
            self.append(&event, head)?;
            written.push(event);
        }
        Ok(written)
    }

    /// Writes the row of `claim`, whose stored record is `bytes` and
    /// whose state the record names `state`, and its tag rows: inserted
    /// if `old` is `None`, else rewritten over those of `old`.
    fn write_claim(
        &self,
        old: Option<&Claim>,
        claim: &Claim,
        bytes: &[u8],
        state: &str,
    ) -> Result<(), Error> {
        let id = claim.id.to_bytes();
        let id = id.as_slice();
        let Columns {
            story,
            revision,
            priority_rank,
            deadline,
            lease_expires_ns,
            assignee,
            queued_tags,
        } = Columns::of(claim)?;
        if old.is_none() {
            let source_key = claim.attribution.source.normalized();
            self.exec(
                "write claim",
                "INSERT INTO claims (id, record, revision, story, state, source_key, assignee, \
                 priority_rank, deadline, lease_expires_ns) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &id,
                    &bytes,
                    &revision,
                    &story,
                    &state,
                    &source_key,
                    &assignee,
                    &priority_rank,
                    &deadline,
                    &lease_expires_ns,
                ],
            )?;
        } else {
            // No change alters a claim's source: its key stays as written.
            self.exec(
                "write claim",
                "UPDATE claims SET record = $2, revision = $3, story = $4, state = $5, \
                 assignee = $6, priority_rank = $7, deadline = $8, lease_expires_ns = $9 \
                 WHERE id = $1",
                &[
                    &id,
                    &bytes,
                    &revision,
                    &story,
                    &state,
                    &assignee,
                    &priority_rank,
                    &deadline,
                    &lease_expires_ns,
                ],
            )?;
            self.exec(
                "write tag queues",
                "DELETE FROM claim_tags WHERE claim_id = $1",
                &[&id],
            )?;
        }
        for tag in queued_tags {
            self.exec(
                "write tag queues",
                "INSERT INTO claim_tags (claim_id, tag, story, priority_rank, deadline) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[&id, &tag.as_str(), &story, &priority_rank, &deadline],
            )?;
        }
        Ok(())
    }

    /// Writes the rows of the open contradictions at `claim`'s subject
    /// end that `old` (`None` for a new claim) did not have, and removes
    /// those it had that `claim` has not.
    fn write_contradictions(&self, old: Option<&Claim>, claim: &Claim) -> Result<(), Error> {
        let id = claim.id.to_bytes();
        let id = id.as_slice();
        let story = claim.story.as_str();
        // Only the rows of contradictions opened or closed by this change
        // are written: a row written again would lock the claim at its
        // other end (its reference's check), which this change need not
        // hold (see `FOR NO KEY UPDATE` in `claim`).
        let new_rows = open_contradictions(claim);
        let old_rows = old.map(open_contradictions).unwrap_or_default();
        for &(link_id, _) in old_rows.iter().filter(|r| !new_rows.contains(r)) {
            let link_id = to_i64(link_id, "link id")?;
            self.exec(
                "write contradictions",
                "DELETE FROM open_contradictions WHERE link_id = $1",
                &[&link_id],
            )?;
        }
        for &(link_id, other) in new_rows.iter().filter(|r| !old_rows.contains(r)) {
            let link_id = to_i64(link_id, "link id")?;
            self.exec(
                "write contradictions",
                "INSERT INTO open_contradictions (link_id, story, subject_id, object_id) \
                 VALUES ($1, $2, $3, $4)",
                &[&link_id, &story, &id, &other.to_bytes().as_slice()],
            )?;
        }
        Ok(())
    }

    /// Moves the counts from `old`'s rows to `claim`'s.
    fn move_counters(&self, old: Option<&Claim>, claim: &Claim, state: &str) -> Result<(), Error> {
        let (new_states, new_waiting) = counters(claim, state);
        let (old_states, old_waiting) = match old {
            Some(old) => counters(old, &ClaimRecord::from(old).state),
            None => Default::default(),
        };
        for (story, state) in &old_states {
            if !new_states.contains(&(story.clone(), state.clone())) {
                self.exec(
                    "write counters",
                    "UPDATE state_counts SET claims = claims - 1 WHERE story = $1 AND state = $2",
                    &[story, state],
                )?;
            }
        }
        for key in &new_states {
            if !old_states.contains(key) {
                self.exec(
                    "write counters",
                    "INSERT INTO state_counts (story, state, claims) VALUES ($1, $2, 1) \
                     ON CONFLICT (story, state) DO UPDATE SET claims = state_counts.claims + 1",
                    &[&key.0, &key.1],
                )?;
            }
        }
        for (story, rank) in &old_waiting {
            if !new_waiting.contains(&(story.clone(), *rank)) {
                self.exec(
                    "write counters",
                    "UPDATE waiting_counts SET claims = claims - 1 \
                     WHERE story = $1 AND priority_rank = $2",
                    &[story, rank],
                )?;
            }
        }
        for key in &new_waiting {
            if !old_waiting.contains(key) {
                self.exec(
                    "write counters",
                    "INSERT INTO waiting_counts (story, priority_rank, claims) VALUES ($1, $2, 1) \
                     ON CONFLICT (story, priority_rank) \
                     DO UPDATE SET claims = waiting_counts.claims + 1",
                    &[&key.0, &key.1],
                )?;
            }
        }
        Ok(())
    }

    /// Appends `event` to the history, linked into the chain after `head`,
    /// which it then ends.
    fn append(&self, event: &Event, head: &mut Head) -> Result<(), Error> {
        debug_assert_eq!(event.revision, head.revision + 1);
        let body = EventRecord::from(event).encode();
        let link = records::chain_hash(&head.link, &body);
        let revision = to_i64(event.revision, "revision")?;
        self.exec(
            "append event",
            "INSERT INTO events (revision, claim_id, link, record) VALUES ($1, $2, $3, $4)",
            &[
                &revision,
                &event.claim_id.to_bytes().as_slice(),
                &link.as_slice(),
                &body,
            ],
        )?;
        head.revision = event.revision;
        head.link = link;
        Ok(())
    }
}

mod backup;
mod feed;
mod queue;
mod read;
mod store_impl;
#[cfg(test)]
mod tests;

pub use backup::RestoreError;

/// The claim id of an index row.
fn claim_id(bytes: &[u8], context: &'static str) -> Result<ClaimId, Error> {
    <[u8; 16]>::try_from(bytes)
        .map(ClaimId::from_bytes)
        .map_err(|_| corrupt(context, "bad claim id"))
}
