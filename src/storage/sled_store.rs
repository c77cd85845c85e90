//! [`Store`] on sled 0.34.
//!
//! Trees:
//! - `claims`: claim id → [`ClaimRecord`]
//! - `index`: secondary index entries, see [`keys`]; values are empty
//! - `events`: revision → chain link ‖
//!   [`EventRecord`](super::records::EventRecord) body: the history of all
//!   claims, as a hash chain (see
//!   [`chain_hash`](super::records::chain_hash))
//! - `events_by_claim`: claim id ‖ revision → empty
//! - `requests`: caller ‖ 0x00 ‖ request id →
//!   [`RequestRecord`](super::records::RequestRecord)
//! - `meta`: `format` (format of the store, see [`STORE_FORMAT`]),
//!   `last_revision`, `last_hash` (chain link of the last event),
//!   `pending_batch` (the last batch of writes, see `pending.rs`)
//!
//! A write changes a claim, its index entries, its event, the revision
//! counter and (on submit) its request id in one sled transaction, so no
//! reader sees one without the others. One writer thread makes every write,
//! many changes to a transaction (see `writer.rs`): every write takes the
//! next revision, so concurrent writers would conflict on the counter
//! anyway.
//!
//! This file opens the store; the writer is in `writer.rs`, what one change
//! writes and the wait that keeps reads from showing what is not durable
//! yet are in `write.rs`, the reads in
//! `read.rs`, the audit of the hash chain in `audit.rs`. The flush and
//! fsync of sled's files are in [`super::durability`].

mod audit;
mod backup;
#[cfg(test)]
mod formats;
mod pending;
mod read;
mod write;
mod writer;

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use tokio::sync::oneshot;

use super::{
    BackupSummary, Change, ClaimFilter, Conflict, Page, PageLimit, PairChange, QueueCounts,
    QueueQuery, RequestKey, Store, Submitted, Subscription,
    durability::{BoundedFlush, Committer, Durable, FlushObserver, Flusher, create_dir_durably},
    hub::Hub,
    keys,
    records::ClaimRecord,
};
use crate::{
    domain::{Claim, ClaimId, Event, LinkId, Slug},
    error::{Error, StorageError},
};
pub use backup::RestoreError;
use backup::{Backups, META_RESTORING};
use writer::{Marks, WriteSide, Writer};

const META_FORMAT: &[u8] = b"format";

/// The format of the store, kept under `format` in `meta`: 3 holds records
/// of every format (JSON, [`JSON_FORMAT`](super::records::JSON_FORMAT), and
/// binary, of format 2 and [`FORMAT`](super::records::FORMAT)) side by
/// side, and the figure index. A store of an earlier format (1: JSON
/// records only; 2: JSON and binary of format 2), as earlier releases wrote
/// it, is marked 3 by the transaction of its first write, so those releases
/// refuse it from the moment it may hold a record they cannot read, and not
/// before; its old records stay as they are (and its claims, stored before
/// figures were read, have none).
const STORE_FORMAT: u32 = 3;

/// The formats of stores written by earlier releases (see
/// [`STORE_FORMAT`]).
const EARLIER_STORE_FORMATS: [u32; 2] = [1, 2];
const META_LAST_REVISION: &[u8] = b"last_revision";
const META_LAST_HASH: &[u8] = b"last_hash";
const META_SOURCE_KEYS: &[u8] = b"source_keys";

use super::candidates::SOURCE_KEYS_VERSION;

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// Upper bound of sled's page cache, in bytes.
    pub cache_capacity: u64,
    /// Runs in the committer before each durable flush; an error fails the
    /// flush as a failed fsync would. For fault injection: delaying or
    /// failing the disk is otherwise out of a test's reach.
    pub before_flush: Option<FlushHook>,
    /// Told of every durable flush (for metrics).
    pub observer: Option<Arc<dyn FlushObserver>>,
    /// How long a durable flush (with `before_flush`) may take: one that
    /// takes longer fails the store, as a failed flush does, and its writers
    /// and the reads waiting for it are answered then (sled may leave a
    /// flush waiting forever on a full disk; see
    /// [`BoundedFlush`](super::durability::BoundedFlush)).
    pub stall_limit: Duration,
}

/// See [`StoreConfig::before_flush`].
#[derive(Clone)]
pub struct FlushHook(pub Arc<dyn Fn() -> std::io::Result<()> + Send + Sync>);

impl std::fmt::Debug for FlushHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlushHook")
    }
}

impl StoreConfig {
    pub const DEFAULT_CACHE_CAPACITY: u64 = 1024 * 1024 * 1024;
    /// A third of the server's default request timeout: a write or read
    /// the disk holds back is answered well before that timeout. A healthy
    /// disk flushes in milliseconds, a slow one in well under a second.
    pub const DEFAULT_STALL_LIMIT: Duration = Duration::from_secs(10);

    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cache_capacity: Self::DEFAULT_CACHE_CAPACITY,
            before_flush: None,
            observer: None,
            stall_limit: Self::DEFAULT_STALL_LIMIT,
        }
    }
}

/// The trees of the store (see the module documentation); clones share
/// them.
#[derive(Clone)]
pub(super) struct Trees {
    claims: sled::Tree,
    index: sled::Tree,
    events: sled::Tree,
    events_by_claim: sled::Tree,
    requests: sled::Tree,
    counters: sled::Tree,
    meta: sled::Tree,
    /// Values kept for backups being taken (see `backup.rs`).
    backups: sled::Tree,
}

pub struct SledStore {
    /// First field: dropped first, so its thread has released the trees
    /// when the committer and the database go.
    writer: Writer,
    /// Read here; written by the writer only.
    trees: Trees,
    /// The revisions the writer has committed and may have made visible.
    marks: Arc<Marks>,
    /// The backups being taken (see `backup.rs`).
    backups: Arc<Mutex<Backups>>,
    /// Reads that met a change not durable yet and waited for a flush.
    reads_held: AtomicU64,
    hub: Arc<Hub>,
    committer: Committer,
    /// Taken by whoever needs to know when the files are released.
    on_close: Mutex<Option<oneshot::Receiver<()>>>,
    /// The data directory.
    dir: PathBuf,
    /// Last field: dropped after the trees and the committer (which holds
    /// the database), so it fires once the data directory is released.
    _close_notice: CloseNotice,
}

impl Drop for SledStore {
    /// Says how the writes of this run were shared: changes per
    /// transaction and per durable flush (`claimdesk bench` reads it).
    fn drop(&mut self) {
        let changes = self.marks.changes.load(Ordering::Relaxed);
        if changes > 0 {
            tracing::info!(
                changes,
                batches = self.marks.batches.load(Ordering::Relaxed),
                durable_flushes = self.committer.flushes(),
                "store closed"
            );
        }
    }
}

/// Fires its channel when dropped.
struct CloseNotice(Option<oneshot::Sender<()>>);

impl Drop for CloseNotice {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

fn storage(context: &'static str) -> impl FnOnce(sled::Error) -> Error {
    move |e| StorageError::new(context, e).into()
}

fn corrupt(context: &'static str, e: impl std::fmt::Display) -> Error {
    StorageError::new(context, format!("corrupt record: {e}")).into()
}

/// How long an open waits for a directory lock still held by a store of
/// this process that is closing: sled's background threads release their
/// files a moment after the last handle is dropped.
const LOCK_RELEASE_WAIT: Duration = Duration::from_secs(2);

/// Opens sled in `config.path`. A lock held by another process stays
/// refused after [`LOCK_RELEASE_WAIT`]: the error names the lock.
fn open_db(config: &StoreConfig) -> Result<sled::Db, Error> {
    let give_up = Instant::now() + LOCK_RELEASE_WAIT;
    loop {
        match sled::Config::new()
            .path(&config.path)
            .cache_capacity(config.cache_capacity)
            .open()
        {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock") && Instant::now() < give_up =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            opened => return opened.map_err(storage("open database")),
        }
    }
}

impl SledStore {
    /// Opens (or creates) the store at `config.path` and starts its
    /// committer thread. Refuses stores written in an unknown format.
    pub fn open(config: &StoreConfig) -> Result<Self, Error> {
        create_dir_durably(&config.path)
            .map_err(|e| Error::from(StorageError::new("create data directory", e)))?;
        let db = open_db(config)?;
        let tree = |name: &str| db.open_tree(name).map_err(storage("open tree"));
        let trees = Trees {
            claims: tree("claims")?,
            index: tree("index")?,
            events: tree("events")?,
            events_by_claim: tree("events_by_claim")?,
            requests: tree("requests")?,
            counters: tree("counters")?,
            meta: tree("meta")?,
            backups: tree("backups")?,
        };
        let meta = &trees.meta;
        let format_marked = match meta.get(META_FORMAT).map_err(storage("read format"))? {
            Some(v) if v.as_ref() == STORE_FORMAT.to_be_bytes() => true,
            // Written by an earlier release: marked with the first write
            // (see `writer.rs`), so that opening it (to audit it, say)
            // leaves it to that release.
            Some(v)
                if EARLIER_STORE_FORMATS
                    .iter()
                    .any(|f| v.as_ref() == f.to_be_bytes()) =>
            {
                false
            }
            Some(v) => {
                return Err(StorageError::new(
                    "open database",
                    format!(
                        "store format {:?} is not supported (this build reads formats {:?} and {})",
                        v.as_ref(),
                        EARLIER_STORE_FORMATS,
                        STORE_FORMAT
                    ),
                )
                .into());
            }
            None => {
                meta.insert(META_FORMAT, &STORE_FORMAT.to_be_bytes())
                    .map_err(storage("write format"))?;
                true
            }
        };
        if meta
            .get(META_RESTORING)
            .map_err(storage("read meta"))?
            .is_some()
        {
            return Err(StorageError::new(
                "open database",
                "the data directory holds a restore that did not finish: remove it and restore again",
            )
            .into());
        }

        // The last batch may have been cut in the middle of its transaction
        // by a failing disk: made whole before anything reads the store
        // (once it is known to be of a format this build reads).
        if pending::replay(&trees)? == pending::Found::Completed {
            tracing::warn!(
                "the last batch of writes was cut short by a failure; it has been completed"
            );
        }
        let last_revision = meta
            .get(META_LAST_REVISION)
            .map_err(storage("read revision"))?
            .map(|v| read_revision(&v))
            .transpose()?
            .unwrap_or(0);
        // Whatever was stored before this open is durable: the open below
        // waits for a flush before serving anything.
        let hub = Arc::new(Hub::new(last_revision));
        let flusher = Flusher::new(db.clone(), &config.path)
            .map_err(|e| Error::from(StorageError::new("open database files", e)))?;
        let publisher = hub.clone();
        let before_flush = config.before_flush.clone();
        let flush = BoundedFlush::start(
            move || {
                match &before_flush {
                    Some(FlushHook(hook)) => hook().map_err(|e| StorageError::new("flush", e)),
                    None => Ok(()),
                }
                .and_then(|()| flusher.flush())
            },
            config.stall_limit,
        )
        .map_err(|e| Error::from(StorageError::new("start flush thread", e)))?;
        let committer = Committer::start(
            move || {
                publisher.flush_begins();
                let committed = publisher.take_pending();
                // A flush that did not finish in time publishes nothing,
                // even if it finishes later: its writers were refused.
                let flushed = flush.run();
                match flushed {
                    Ok(()) => publisher.publish(committed),
                    Err(_) => publisher.flush_failed(),
                }
                flushed
            },
            config.observer.clone(),
        )
        .map_err(|e| Error::from(StorageError::new("start committer", e)))?;

        let (close_tx, close_rx) = oneshot::channel();
        let marks = Arc::new(Marks {
            visible: AtomicU64::new(last_revision),
            committed: AtomicU64::new(last_revision),
            format_marked: AtomicBool::new(format_marked),
            #[cfg(test)]
            write_json: AtomicBool::new(false),
            batches: AtomicU64::new(0),
            changes: AtomicU64::new(0),
        });
        // Kept for backups a crash cut short.
        trees
            .backups
            .clear()
            .map_err(storage("clear kept values"))?;
        let backups = Arc::new(Mutex::new(Backups::default()));
        let writer = Writer::start(WriteSide {
            trees: trees.clone(),
            marks: marks.clone(),
            hub: hub.clone(),
            failed: committer.failed_flag(),
            backups: backups.clone(),
        })
        .map_err(|e| Error::from(StorageError::new("start writer", e)))?;
        let store = Self {
            writer,
            trees,
            marks,
            backups,
            reads_held: AtomicU64::new(0),
            hub,
            committer,
            on_close: Mutex::new(Some(close_rx)),
            dir: config.path.clone(),
            _close_notice: CloseNotice(Some(close_tx)),
        };
        store.rebuild_source_index()?;
        // Make the format marker and the trees durable before any client
        // relies on them.
        store.durable().wait_blocking()?;
        Ok(store)
    }

    /// Rebuilds the source index if it was built with another version of
    /// the sources' comparison key. Runs before anything is served; a crash
    /// half-way leaves the version unchanged, so the next open starts again.
    fn rebuild_source_index(&self) -> Result<(), Error> {
        let current = SOURCE_KEYS_VERSION.to_be_bytes();
        let stored = self
            .trees
            .meta
            .get(META_SOURCE_KEYS)
            .map_err(storage("read meta"))?;
        if stored.as_deref() == Some(&current[..]) {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        let mut claims = 0u64;
        for entry in self.trees.index.scan_prefix(keys::source_index()) {
            let (key, _) = entry.map_err(storage("read index"))?;
            batch.remove(key);
        }
        for entry in self.trees.claims.iter() {
            let (_, bytes) = entry.map_err(storage("read claims"))?;
            let claim = ClaimRecord::decode(&bytes).map_err(|e| corrupt("read claim", e))?;
            batch.insert(keys::source_entry(&claim), &[] as &[u8]);
            claims += 1;
        }
        self.trees
            .index
            .apply_batch(batch)
            .map_err(storage("rebuild source index"))?;
        // The index must be durable before the version says it is built.
        self.durable().wait_blocking()?;
        self.trees
            .meta
            .insert(META_SOURCE_KEYS, &current)
            .map_err(storage("write meta"))?;
        if claims > 0 {
            tracing::info!(
                claims,
                version = SOURCE_KEYS_VERSION,
                "rebuilt the source index"
            );
        }
        Ok(())
    }

    /// Whether `dir` holds a store (sled's log file), without opening it.
    pub fn holds_store(dir: &Path) -> bool {
        dir.join("db").is_file()
    }

    /// Resolves once the store has been dropped and its data directory
    /// released (another process or store may then open it). The server
    /// awaits it so that it exits, or returns to a test, only when the
    /// directory is free; the last holder of the store may be a connection
    /// task that finishes just after the server stopped. `None` after the
    /// first call.
    pub fn on_close(&self) -> Option<oneshot::Receiver<()>> {
        self.on_close
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }
}

impl Store for SledStore {
    fn submit(&self, claim: Claim, request: Option<&RequestKey>) -> Result<Submitted, Error> {
        self.submit_claim(claim, request)
    }

    fn import(&self, claims: Vec<Claim>) -> Result<(), Error> {
        self.import_claims(claims)
    }

    fn get(&self, id: ClaimId) -> Result<Option<Claim>, Error> {
        self.get_claim(id)
    }

    fn get_at_once(&self, id: ClaimId) -> Option<Result<Option<Claim>, Error>> {
        self.get_claim_at_once(id)
    }

    fn list(
        &self,
        filter: &ClaimFilter,
        after: Option<ClaimId>,
        limit: PageLimit,
    ) -> Result<Page<Claim>, Error> {
        self.list_claims(filter, after, limit)
    }

    fn update(&self, id: ClaimId, change: Change) -> Result<(Claim, Vec<Event>), Error> {
        self.update_claim(id, change)
    }

    fn update_pair(&self, id: ClaimId, change: PairChange) -> Result<(Claim, Claim), Error> {
        self.update_claims(id, change)
    }

    fn conflicts(
        &self,
        story: &Slug,
        after: Option<LinkId>,
        limit: PageLimit,
    ) -> Result<Page<Conflict>, Error> {
        self.story_conflicts(story, after, limit)
    }

    fn events(&self, id: ClaimId, after: u64, limit: PageLimit) -> Result<Page<Event>, Error> {
        self.claim_events(id, after, limit)
    }

    /// A write answered before this call is covered by a flush that
    /// publishes its revision: if that flush succeeded while this waiter
    /// was queued for the next one, the failure of the next one does not
    /// concern it (its change is durable, and reads show it).
    fn durable(&self) -> Durable {
        self.durable_for(self.marks.committed.load(Ordering::SeqCst))
    }

    fn durable_for(&self, revision: u64) -> Durable {
        let hub = self.hub.clone();
        self.committer
            .durable()
            .unless_covered(move || hub.durable_revision() >= revision)
    }

    fn take_next(
        &self,
        query: &QueueQuery,
        change: Change,
    ) -> Result<Option<(Claim, Vec<Event>)>, Error> {
        self.take_next_claim(query, change)
    }

    fn leases_due(&self, now: SystemTime, limit: usize) -> Result<Vec<ClaimId>, Error> {
        self.due_leases(now, limit)
    }

    fn next_lease_expiry(&self) -> Result<Option<SystemTime>, Error> {
        self.first_lease_expiry()
    }

    fn queue_stats(&self, story: Option<&str>, now: SystemTime) -> Result<QueueCounts, Error> {
        self.queue_counts(story, now)
    }

    fn events_since(&self, after: u64, up_to: u64, limit: usize) -> Result<Vec<Event>, Error> {
        self.events_between(after, up_to, limit)
    }

    fn subscribe(&self) -> Subscription {
        self.hub.subscribe()
    }

    fn durable_revision(&self) -> u64 {
        self.hub.durable_revision()
    }

    fn backup(&self, out: &mut dyn std::io::Write) -> Result<BackupSummary, Error> {
        self.write_backup(out)
    }

    fn size_on_disk(&self) -> Result<u64, Error> {
        disk_usage(&self.dir).map_err(|e| StorageError::new("measure the data directory", e).into())
    }
}

/// The bytes the files under `dir` take on disk (allocated blocks, as `du`
/// counts them), down to sled's `blobs` folder.
fn disk_usage(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt as _;
    let mut total = 0;
    let mut folders = vec![(dir.to_path_buf(), 0)];
    while let Some((folder, depth)) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            let metadata = entry.metadata()?;
            if metadata.is_dir() && depth < 2 {
                folders.push((entry.path(), depth + 1));
            }
            total += metadata.blocks() * 512;
        }
    }
    Ok(total)
}

fn read_revision(bytes: &[u8]) -> Result<u64, Error> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| corrupt("read revision", "bad revision counter"))
}

fn read_count(bytes: &[u8]) -> Result<u64, Error> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| corrupt("read counters", "bad counter"))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::domain::{Attribution, NewClaim, Priority, Slug, SourceName, Statement, UserName};
    use crate::storage::{SourceKey, records::Record};

    pub(super) fn new_claim() -> NewClaim {
        NewClaim {
            statement: Statement::parse("Ferry services resume on Monday").unwrap(),
            attribution: Attribution {
                source: SourceName::parse("Harbour Gazette").unwrap(),
                relayed_from: Vec::new(),
                url: None,
            },
            story: Slug::parse("lindell-port-strike").unwrap(),
            tags: Vec::new(),
            priority: Priority::Routine,
            deadline: None,
        }
    }

    /// A statement of its own for claim `n`, without figures, worded unlike
    /// any other's: fixtures that are not meant to be linked are not
    /// suggested as duplicates of each other.
    pub(crate) fn distinct_statement(n: u16) -> Statement {
        let word = |i: u16| -> String {
            let v = n * 3 + i;
            [
                b'a' + (v / 26 / 26 % 26) as u8,
                b'a' + (v / 26 % 26) as u8,
                b'a' + (v % 26) as u8,
            ]
            .iter()
            .map(|&b| char::from(b))
            .collect()
        };
        Statement::parse(&format!(
            "Ferries of the {} {} {} line resume",
            word(0),
            word(1),
            word(2)
        ))
        .unwrap()
    }

    pub(super) fn claim(n: u8) -> Claim {
        let mut new = new_claim();
        new.statement = distinct_statement(n.into());
        Claim::submitted(
            ClaimId::from_bytes([n; 16]),
            new,
            UserName::parse("ed.morgan").unwrap(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_121_000),
        )
    }

    #[test]
    fn a_source_index_built_with_an_older_key_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&StoreConfig::new(dir.path())).unwrap();
        let Submitted::Created(first) = store.submit(claim(1), None).unwrap() else {
            panic!("a new claim");
        };
        // As an earlier release indexed it: another key, no version.
        let mut stale = vec![b'o'];
        stale.extend_from_slice(b"Harbour Gazette\0");
        stale.extend_from_slice(&first.id.to_bytes());
        store
            .trees
            .index
            .remove(keys::source_entry(&first))
            .unwrap();
        store.trees.index.insert(&stale, &[] as &[u8]).unwrap();
        store.trees.meta.remove(META_SOURCE_KEYS).unwrap();

        // What `open` does first. (Reopening here would race sled's
        // background writes for the directory's lock.)
        store.rebuild_source_index().unwrap();
        let entries: Vec<_> = store
            .trees
            .index
            .scan_prefix(keys::source_index())
            .map(|e| e.unwrap().0.to_vec())
            .collect();
        assert_eq!(entries, vec![keys::source_entry(&first)]);
        let filter = ClaimFilter {
            source: Some(SourceKey::of(&first.attribution.source)),
            ..ClaimFilter::default()
        };
        let limit = PageLimit {
            items: 10,
            bytes: 1 << 20,
        };
        assert_eq!(store.list(&filter, None, limit).unwrap().items, vec![first]);
    }

    #[test]
    fn a_read_at_once_answers_only_what_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&StoreConfig::new(dir.path())).unwrap();
        assert!(matches!(store.get_at_once(claim(1).id), Some(Ok(None))));
        let Submitted::Created(stored) = store.submit(claim(1), None).unwrap() else {
            panic!("a new claim");
        };
        // Not flushed yet: the read must wait, so not at once.
        assert!(store.get_at_once(stored.id).is_none());
        store.durable().wait_blocking().unwrap();
        assert_eq!(
            store.get_at_once(stored.id).unwrap().unwrap(),
            Some(stored.clone())
        );
        assert_eq!(store.get(stored.id).unwrap(), Some(stored));
    }

    #[test]
    fn a_flush_the_disk_holds_back_fails_the_store_in_time() {
        let dir = tempfile::tempdir().unwrap();
        // While true, flushes wait.
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let held = gate.clone();
        let config = StoreConfig {
            stall_limit: Duration::from_millis(200),
            before_flush: Some(FlushHook(Arc::new(move || {
                let (holding, released) = &*held;
                let mut holding = holding.lock().unwrap();
                while *holding {
                    holding = released.wait(holding).unwrap();
                }
                Ok(())
            }))),
            ..StoreConfig::new(dir.path())
        };
        let store = SledStore::open(&config).unwrap();
        let durable = store.durable_revision();
        *gate.0.lock().unwrap() = true;

        let Submitted::Created(stored) = store.submit(claim(1), None).unwrap() else {
            panic!("a new claim");
        };
        let began = Instant::now();
        let error = store.durable().wait_blocking().unwrap_err();
        let waited = began.elapsed();
        assert!(error.is_store_failure(), "{error:?}");
        assert!(waited >= config.stall_limit, "{waited:?}");
        // Answered by the limit, not by the disk.
        assert!(waited < config.stall_limit * 25, "{waited:?}");
        // The claim is not shown, writes are refused, at once.
        let error = store.get(stored.id).unwrap_err();
        assert!(error.is_store_failure(), "{error:?}");
        let error = store.submit(claim(2), None).unwrap_err();
        assert!(error.is_store_failure(), "{error:?}");
        let error = store.durable().wait_blocking().unwrap_err();
        assert!(error.is_store_failure(), "{error:?}");
        assert_eq!(store.durable_revision(), durable);

        *gate.0.lock().unwrap() = false;
        gate.1.notify_all();
    }

    #[test]
    fn a_failed_flush_fails_only_the_writes_it_was_to_make_durable() {
        let dir = tempfile::tempdir().unwrap();
        // While held, flushes wait; then they fail if failing.
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let failing = Arc::new(AtomicBool::new(false));
        let (held, fail) = (gate.clone(), failing.clone());
        let config = StoreConfig {
            before_flush: Some(FlushHook(Arc::new(move || {
                let (holding, released) = &*held;
                let mut holding = holding.lock().unwrap();
                while *holding {
                    holding = released.wait(holding).unwrap();
                }
                if fail.load(Ordering::SeqCst) {
                    Err(std::io::Error::other("injected fsync failure"))
                } else {
                    Ok(())
                }
            }))),
            ..StoreConfig::new(dir.path())
        };
        let store = SledStore::open(&config).unwrap();
        let Submitted::Created(first) = store.submit(claim(1), None).unwrap() else {
            panic!("a new claim");
        };
        store.durable().wait_blocking().unwrap();

        // A writer of the first claim that waits only now, for a flush
        // that will fail, was made durable by the flush before: it is not
        // failed. A writer of the second claim is.
        *gate.0.lock().unwrap() = true;
        let covered = store.durable();
        let Submitted::Created(second) = store.submit(claim(2), None).unwrap() else {
            panic!("a new claim");
        };
        let uncovered = store.durable();
        // A writer of the first claim that waits only after the second was
        // committed stands for its own change alone: not failed either.
        let own = store.durable_for(first.revision);
        failing.store(true, Ordering::SeqCst);
        *gate.0.lock().unwrap() = false;
        gate.1.notify_all();
        covered.wait_blocking().unwrap();
        own.wait_blocking().unwrap();
        let error = uncovered.wait_blocking().unwrap_err();
        assert!(error.is_store_failure(), "{error:?}");
        assert_eq!(store.get(first.id).unwrap(), Some(first));
        let error = store.get(second.id).unwrap_err();
        assert!(error.is_store_failure(), "{error:?}");
    }

    /// The largest claim the limits of the API allow: every text at its
    /// longest, in characters of four bytes, and all the evidence it may
    /// hold. Its stored size bounds what one claim costs to read, write and
    /// send, whatever clients do.
    #[test]
    fn the_largest_claim_the_limits_allow_is_stored_in_under_two_mebibytes() {
        use crate::domain::{Evidence, MAX_EVIDENCE_PER_CLAIM, Note, Stance, WebUrl};

        let wide = |n: usize| "\u{1D400}".repeat(n);
        let url = format!("https://example.org/{}", "a".repeat(WebUrl::MAX_CHARS - 20));
        let mut claim = claim(1);
        claim.statement = Statement::parse(&wide(Statement::MAX_CHARS)).unwrap();
        claim.attribution.source = SourceName::parse(&wide(SourceName::MAX_CHARS)).unwrap();
        claim.attribution.relayed_from =
            vec![SourceName::parse(&wide(SourceName::MAX_CHARS)).unwrap(); 20];
        claim.attribution.url = Some(WebUrl::parse(&url).unwrap());
        claim.tags = (0..NewClaim::MAX_TAGS)
            .map(|i| Slug::parse(&format!("{i:0>64}")).unwrap())
            .collect();
        claim.verdict_note = Note::parse(&wide(Note::MAX_CHARS)).unwrap();
        let user = UserName::parse(&"u".repeat(UserName::MAX_CHARS)).unwrap();
        claim.evidence = (0..MAX_EVIDENCE_PER_CLAIM)
            .map(|_| Evidence {
                id: ulid::Ulid::from_bytes([7; 16]),
                url: Some(WebUrl::parse(&url).unwrap()),
                summary: Note::parse(&wide(Note::MAX_CHARS)).unwrap(),
                source: SourceName::parse(&wide(SourceName::MAX_CHARS)).unwrap(),
                stance: Stance::Supports,
                added_by: user.clone(),
                add_time: SystemTime::UNIX_EPOCH,
            })
            .collect();
        let stored = ClaimRecord::from(&claim).encode().len();
        assert!(
            stored > 1_900_000,
            "the claim is as large as allowed: {stored}"
        );
        assert!(stored < 2 * 1024 * 1024, "{stored} bytes");
    }
}
