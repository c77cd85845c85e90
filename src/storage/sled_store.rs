//! [`Store`] on sled 0.34.
//!
//! Trees:
//! - `claims`: claim id → [`ClaimRecord`]
//! - `index`: secondary index entries, see [`keys`]; values are empty
//! - `events`: revision → chain link ‖ [`EventRecord`] body: the history
//!   of all claims, as a hash chain (see [`records::chain_hash`])
//! - `events_by_claim`: claim id ‖ revision → empty
//! - `requests`: caller ‖ 0x00 ‖ request id → [`RequestRecord`]
//! - `meta`: `format` (record format of the store), `last_revision`,
//!   `last_hash` (chain link of the last event)
//!
//! A write changes a claim, its index entries, its event, the revision
//! counter and (on submit) its request id in one sled transaction, so no
//! reader sees one without the others. Writers are serialised by a mutex
//! around the transaction: every write takes the next revision, so they
//! would conflict on the counter anyway, and a mutex is cheaper than sled's
//! conflict-and-retry loop. Readers never take it.

use std::{
    cell::RefCell,
    collections::HashMap,
    fs::File,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::SystemTime,
};

use sled::{
    Transactional,
    transaction::{ConflictableTransactionError, TransactionError, TransactionalTree},
};
use tokio::sync::oneshot;

use super::{
    AuditReport, ClaimFilter, Fingerprint, Page, PageLimit, QueueCounts, QueueQuery, RequestKey,
    Store, Submitted, Subscription,
    durability::{Committer, Durable},
    hub::Hub,
    keys,
    records::{self, ClaimRecord, EventRecord, HASH_LEN, RequestRecord, StoredEvent},
};
use crate::{
    domain::{Claim, ClaimId, DomainError, Event, EventDraft, Priority, State},
    error::{Error, StorageError},
};

const META_FORMAT: &[u8] = b"format";
const META_LAST_REVISION: &[u8] = b"last_revision";
const META_LAST_HASH: &[u8] = b"last_hash";
const META_SOURCE_KEYS: &[u8] = b"source_keys";

/// The version of the comparison key of sources (`SourceName::normalized`)
/// that the source index is built with. Raise it whenever that key changes:
/// the next open rebuilds the index, whose entries would otherwise no longer
/// be found, nor removed when their claims change.
const SOURCE_KEYS_VERSION: u32 = 2;

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

    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cache_capacity: Self::DEFAULT_CACHE_CAPACITY,
            before_flush: None,
        }
    }
}

pub struct SledStore {
    claims: sled::Tree,
    index: sled::Tree,
    events: sled::Tree,
    events_by_claim: sled::Tree,
    requests: sled::Tree,
    counters: sled::Tree,
    meta: sled::Tree,
    write_lock: Mutex<()>,
    /// The highest revision a write may have made visible to readers: set
    /// before a transaction commits, so a reader that saw a write also sees
    /// its revision here (see [`SledStore::settle`]).
    visible: AtomicU64,
    /// The revision of the last committed write; changed under the write
    /// lock only.
    committed: AtomicU64,
    /// Reads that met a change not durable yet and waited for a flush.
    reads_held: AtomicU64,
    hub: Arc<Hub>,
    committer: Committer,
    /// Taken by whoever needs to know when the files are released.
    on_close: Mutex<Option<oneshot::Receiver<()>>>,
    /// Last field: dropped after the trees and the committer (which holds
    /// the database), so it fires once the data directory is released.
    _close_notice: CloseNotice,
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

/// Failure inside a transaction: either our own (abort) or sled's.
enum TxError {
    Abort(Error),
}

impl From<Error> for ConflictableTransactionError<TxError> {
    fn from(e: Error) -> Self {
        ConflictableTransactionError::Abort(TxError::Abort(e))
    }
}

impl From<DomainError> for ConflictableTransactionError<TxError> {
    fn from(e: DomainError) -> Self {
        ConflictableTransactionError::Abort(TxError::Abort(e.into()))
    }
}

fn tx_result<T>(
    r: Result<T, TransactionError<TxError>>,
    context: &'static str,
) -> Result<T, Error> {
    match r {
        Ok(v) => Ok(v),
        Err(TransactionError::Abort(TxError::Abort(e))) => Err(e),
        Err(TransactionError::Storage(e)) => Err(StorageError::new(context, e).into()),
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<TxError>>;

fn tx_get(tree: &TransactionalTree, key: &[u8]) -> TxResult<Option<sled::IVec>> {
    tree.get(key).map_err(ConflictableTransactionError::from)
}

/// Everything one write transaction touches.
struct Tx<'a> {
    claims: &'a TransactionalTree,
    index: &'a TransactionalTree,
    events: &'a TransactionalTree,
    events_by_claim: &'a TransactionalTree,
    counters: &'a TransactionalTree,
    meta: &'a TransactionalTree,
    /// Events written by this attempt of the transaction.
    written: RefCell<Vec<Event>>,
}

impl Tx<'_> {
    fn next_revision(&self) -> TxResult<u64> {
        let last = match tx_get(self.meta, META_LAST_REVISION)? {
            Some(v) => read_revision(&v)?,
            None => 0,
        };
        Ok(last + 1)
    }

    /// Writes `claim` (giving it `event`'s revision), moves its index
    /// entries from those of `old`, and appends the event.
    fn write(&self, old: Option<&Claim>, claim: &mut Claim, event: EventDraft) -> TxResult<Event> {
        let revision = self.next_revision()?;
        claim.revision = revision;
        let event = event.with_revision(claim, revision);

        let new_keys = keys::index_entries(claim);
        if let Some(old) = old {
            for key in keys::index_entries(old) {
                if !new_keys.contains(&key) {
                    self.index.remove(key)?;
                }
            }
        }
        for key in new_keys {
            self.index.insert(key, &[] as &[u8])?;
        }
        let new_counters = keys::counters(claim);
        let old_counters = old.map(keys::counters).unwrap_or_default();
        for key in &old_counters {
            if !new_counters.contains(key) {
                self.count(key, -1)?;
            }
        }
        for key in &new_counters {
            if !old_counters.contains(key) {
                self.count(key, 1)?;
            }
        }
        let id = claim.id.to_bytes();
        self.claims
            .insert(&id, ClaimRecord::from(&*claim).encode())?;
        let previous = match tx_get(self.meta, META_LAST_HASH)? {
            Some(v) => <[u8; HASH_LEN]>::try_from(v.as_ref())
                .map_err(|_| corrupt("read chain", "bad last hash"))?,
            None => [0; HASH_LEN],
        };
        let body = EventRecord::from(&event).encode();
        let hash = records::chain_hash(&previous, &body);
        self.events
            .insert(&keys::revision(revision), StoredEvent::join(&hash, &body))?;
        self.meta.insert(META_LAST_HASH, &hash)?;
        self.events_by_claim
            .insert(&keys::claim_event(claim.id, revision), &[] as &[u8])?;
        self.meta
            .insert(META_LAST_REVISION, &revision.to_be_bytes())?;
        self.written.borrow_mut().push(event.clone());
        Ok(event)
    }

    fn count(&self, key: &[u8], delta: i64) -> TxResult<()> {
        let current = tx_get(self.counters, key)?
            .map(|v| read_count(&v))
            .transpose()?
            .unwrap_or(0);
        let next = current.saturating_add_signed(delta);
        if next == 0 {
            self.counters.remove(key)?;
        } else {
            self.counters.insert(key, &next.to_be_bytes())?;
        }
        Ok(())
    }

    fn claim(&self, id: ClaimId) -> TxResult<Option<Claim>> {
        match tx_get(self.claims, &id.to_bytes())? {
            Some(bytes) => Ok(Some(
                ClaimRecord::decode(&bytes).map_err(|e| corrupt("read claim", e))?,
            )),
            None => Ok(None),
        }
    }
}

impl SledStore {
    /// Opens (or creates) the store at `config.path` and starts its
    /// committer thread. Refuses stores written in an unknown format.
    pub fn open(config: &StoreConfig) -> Result<Self, Error> {
        create_dir_durably(&config.path)
            .map_err(|e| Error::from(StorageError::new("create data directory", e)))?;
        let db = sled::Config::new()
            .path(&config.path)
            .cache_capacity(config.cache_capacity)
            .open()
            .map_err(storage("open database"))?;
        let tree = |name: &str| db.open_tree(name).map_err(storage("open tree"));
        let meta = tree("meta")?;
        match meta.get(META_FORMAT).map_err(storage("read format"))? {
            Some(v) if v.as_ref() == records::FORMAT.to_be_bytes() => {}
            Some(v) => {
                return Err(StorageError::new(
                    "open database",
                    format!(
                        "store format {:?} is not supported (this build reads format {})",
                        v.as_ref(),
                        records::FORMAT
                    ),
                )
                .into());
            }
            None => {
                meta.insert(META_FORMAT, &records::FORMAT.to_be_bytes())
                    .map_err(storage("write format"))?;
            }
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
        let committer = Committer::start(move || {
            publisher.flush_begins();
            let committed = publisher.take_pending();
            let flushed = match &before_flush {
                Some(FlushHook(hook)) => hook().map_err(|e| StorageError::new("flush", e)),
                None => Ok(()),
            }
            .and_then(|()| flusher.flush());
            match flushed {
                Ok(()) => publisher.publish(committed),
                Err(_) => publisher.flush_failed(),
            }
            flushed
        })
        .map_err(|e| Error::from(StorageError::new("start committer", e)))?;

        let (close_tx, close_rx) = oneshot::channel();
        let store = Self {
            claims: tree("claims")?,
            index: tree("index")?,
            events: tree("events")?,
            events_by_claim: tree("events_by_claim")?,
            requests: tree("requests")?,
            counters: tree("counters")?,
            meta,
            write_lock: Mutex::new(()),
            visible: AtomicU64::new(last_revision),
            committed: AtomicU64::new(last_revision),
            reads_held: AtomicU64::new(0),
            hub,
            committer,
            on_close: Mutex::new(Some(close_rx)),
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
            .meta
            .get(META_SOURCE_KEYS)
            .map_err(storage("read meta"))?;
        if stored.as_deref() == Some(&current[..]) {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        let mut claims = 0u64;
        for entry in self.index.scan_prefix(keys::source_index()) {
            let (key, _) = entry.map_err(storage("read index"))?;
            batch.remove(key);
        }
        for entry in self.claims.iter() {
            let (_, bytes) = entry.map_err(storage("read claims"))?;
            let claim = ClaimRecord::decode(&bytes).map_err(|e| corrupt("read claim", e))?;
            batch.insert(keys::source_entry(&claim), &[] as &[u8]);
            claims += 1;
        }
        self.index
            .apply_batch(batch)
            .map_err(storage("rebuild source index"))?;
        // The index must be durable before the version says it is built.
        self.durable().wait_blocking()?;
        self.meta
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

    /// Takes the write lock: writers are serialised. Refused once a
    /// durable flush has failed.
    fn lock_writes(&self, context: &'static str) -> Result<MutexGuard<'_, ()>, Error> {
        if self.committer.has_failed() {
            return Err(StorageError::failed(context, "an earlier durable flush failed").into());
        }
        Ok(self
            .write_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Runs a write transaction over every tree; the caller holds the write
    /// lock. The events it wrote go to the hub, in order, before the lock
    /// is released.
    fn transact<T>(
        &self,
        _writing: &MutexGuard<'_, ()>,
        context: &'static str,
        f: impl Fn(&Tx<'_>, &TransactionalTree) -> TxResult<T>,
    ) -> Result<T, Error> {
        // Every write stores one event: the revision it takes is the next.
        // Announced before the commit, so no reader can see the write and
        // then miss that it is not durable yet.
        let committed = self.committed.load(Ordering::SeqCst);
        self.visible.store(committed + 1, Ordering::SeqCst);
        let result = (
            &self.claims,
            &self.index,
            &self.events,
            &self.events_by_claim,
            &self.requests,
            &self.counters,
            &self.meta,
        )
            .transaction(
                |(claims, index, events, events_by_claim, requests, counters, meta)| {
                    let tx = Tx {
                        claims,
                        index,
                        events,
                        events_by_claim,
                        counters,
                        meta,
                        written: RefCell::new(Vec::new()),
                    };
                    let value = f(&tx, requests)?;
                    Ok((value, tx.written.into_inner()))
                },
            );
        let (value, written) = match tx_result(result, context) {
            Ok(done) => done,
            Err(e) => {
                // Nothing became visible.
                self.visible.store(committed, Ordering::SeqCst);
                return Err(e);
            }
        };
        if let Some(last) = written.last() {
            self.committed.store(last.revision, Ordering::SeqCst);
        }
        self.visible
            .store(self.committed.load(Ordering::SeqCst), Ordering::SeqCst);
        self.hub.committed(written);
        Ok(value)
    }

    /// Returns once the write of `revision`, which a read has just seen, is
    /// durable: at once if the last durable flush covered it, else after
    /// the next flush. Readers thus never show a change that a crash could
    /// still take back (its claim, its revision or its etag could then be
    /// gone or given to another change); only what changed in the last
    /// moments waits.
    fn settle(&self, revision: u64) -> Result<(), Error> {
        if revision > self.hub.durable_revision() {
            self.reads_held.fetch_add(1, Ordering::SeqCst);
            // The flush under way may cover the write already: wait for
            // whichever comes first, that flush or the next one.
            let start_flush = || drop(self.committer.durable());
            if !self.hub.wait_durable(revision, start_flush) {
                return Err(StorageError::failed("durable read", "a durable flush failed").into());
            }
        }
        Ok(())
    }

    /// How many reads so far met a change not durable yet and waited for
    /// the flush that made it durable.
    pub fn reads_held(&self) -> u64 {
        self.reads_held.load(Ordering::SeqCst)
    }

    /// [`Self::settle`] for a read whose answer may depend on any write so
    /// far, such as a count or the absence of something.
    fn settle_all(&self) -> Result<(), Error> {
        self.settle(self.visible.load(Ordering::SeqCst))
    }

    /// A refusal by the rules tells what the claim is now (its state, its
    /// etag): it waits, like a read, until that is durable.
    fn settle_refusal<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        if let Err(Error::Rule(_) | Error::RequestIdReused(_)) = &result {
            self.settle_all()?;
        }
        result
    }

    /// [`Self::transact`] under the write lock.
    fn write<T>(
        &self,
        context: &'static str,
        f: impl Fn(&Tx<'_>, &TransactionalTree) -> TxResult<T>,
    ) -> Result<T, Error> {
        let writing = self.lock_writes(context)?;
        self.transact(&writing, context, f)
    }

    /// The first index key under `prefix`, if any.
    fn first_under(&self, prefix: &[u8]) -> Result<Option<sled::IVec>, Error> {
        match self.index.scan_prefix(prefix).next() {
            None => Ok(None),
            Some(entry) => Ok(Some(entry.map_err(storage("read index"))?.0)),
        }
    }

    fn read_counter(&self, key: &[u8]) -> Result<u64, Error> {
        match self.counters.get(key).map_err(storage("read counters"))? {
            Some(v) => read_count(&v).map_err(|_| corrupt("read counters", "bad counter")),
            None => Ok(0),
        }
    }

    /// Walks the whole event log from revision 1: each event must sit under
    /// its own revision, without gaps, and its chain link must be the hash
    /// of the previous link and its body. Reports the first event that
    /// fails, or how many check out.
    pub fn audit(&self) -> Result<AuditReport, Error> {
        let broken = |revision, reason: &str| {
            Ok(AuditReport::Broken {
                revision,
                reason: reason.to_owned(),
            })
        };
        let mut previous = [0u8; HASH_LEN];
        let mut expected = 1u64;
        for entry in self.events.iter() {
            let (key, value) = entry.map_err(storage("read history"))?;
            let Ok(key) = <[u8; 8]>::try_from(key.as_ref()) else {
                return broken(expected, "an event is stored under a malformed key");
            };
            let revision = u64::from_be_bytes(key);
            if revision != expected {
                return broken(expected, "the event is missing");
            }
            let Ok(stored) = StoredEvent::split(&value) else {
                return broken(revision, "the event is truncated");
            };
            if records::chain_hash(&previous, stored.body) != stored.hash {
                return broken(
                    revision,
                    "the event's hash does not match its content and the previous event",
                );
            }
            match EventRecord::decode(stored.body) {
                Ok(event) if event.revision == revision => {}
                Ok(_) => return broken(revision, "the event names another revision"),
                Err(_) => return broken(revision, "the event cannot be read"),
            }
            previous = stored.hash;
            expected += 1;
        }
        let last = self
            .meta
            .get(META_LAST_REVISION)
            .map_err(storage("read revision"))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes);
        if last >= expected {
            return broken(expected, "the event is missing");
        }
        let last_hash = self
            .meta
            .get(META_LAST_HASH)
            .map_err(storage("read chain"))?;
        if expected > 1 && last_hash.as_deref() != Some(&previous[..]) {
            return broken(
                expected - 1,
                "the chain's recorded end does not match the last event",
            );
        }
        Ok(AuditReport::Intact {
            events: expected - 1,
        })
    }

    fn load(&self, key: &[u8]) -> Result<Option<Claim>, Error> {
        match self.claims.get(key).map_err(storage("read claim"))? {
            Some(bytes) => ClaimRecord::decode(&bytes)
                .map(Some)
                .map_err(|e| corrupt("read claim", e)),
            None => Ok(None),
        }
    }

    /// The first id ≥ `from` present under every prefix (a leapfrog join of
    /// the sorted index ranges), or `None`.
    fn next_in_all(&self, prefixes: &[Vec<u8>], from: ClaimId) -> Result<Option<ClaimId>, Error> {
        let mut candidate = from;
        'search: loop {
            for prefix in prefixes {
                let mut start = prefix.clone();
                start.extend_from_slice(&candidate.to_bytes());
                let Some(entry) = self.index.range(start..).next() else {
                    return Ok(None);
                };
                let (key, _) = entry.map_err(storage("read index"))?;
                let Some(id) = key.strip_prefix(prefix.as_slice()) else {
                    return Ok(None);
                };
                let id: [u8; 16] = id
                    .try_into()
                    .map_err(|_| corrupt("read index", "bad index key"))?;
                let id = ClaimId::from_bytes(id);
                if id != candidate {
                    candidate = id;
                    continue 'search;
                }
            }
            return Ok(Some(candidate));
        }
    }

    /// A page of [`Store::list`], read without waiting for durability.
    fn list_from(
        &self,
        filter: &ClaimFilter,
        prefixes: &[Vec<u8>],
        mut from: ClaimId,
        limit: PageLimit,
    ) -> Result<Page<Claim>, Error> {
        let mut items = Vec::new();
        let mut bytes = 0;
        loop {
            let next = if prefixes.is_empty() {
                match self.claims.range(from.to_bytes()..).next() {
                    None => None,
                    Some(entry) => {
                        let (key, _) = entry.map_err(storage("read claims"))?;
                        let id: [u8; 16] = key
                            .as_ref()
                            .try_into()
                            .map_err(|_| corrupt("read claims", "bad claim key"))?;
                        Some(ClaimId::from_bytes(id))
                    }
                }
            } else {
                self.next_in_all(prefixes, from)?
            };
            let Some(id) = next else {
                return Ok(Page { items, more: false });
            };
            if limit.is_full(items.len(), bytes) {
                return Ok(Page { items, more: true });
            }
            // The index and the claim are read at different moments: a write
            // in between may have moved the claim out of the filter.
            if let Some(record) = self
                .claims
                .get(id.to_bytes())
                .map_err(storage("read claim"))?
            {
                let claim = ClaimRecord::decode(&record).map_err(|e| corrupt("read claim", e))?;
                if filter.matches(&claim) {
                    bytes += record.len();
                    items.push(claim);
                }
            }
            match keys::successor(id) {
                Some(id) => from = id,
                None => return Ok(Page { items, more: false }),
            }
        }
    }

    /// A page of [`Store::events`], read without waiting for durability.
    fn events_of(&self, id: ClaimId, after: u64, limit: PageLimit) -> Result<Page<Event>, Error> {
        if !self
            .claims
            .contains_key(id.to_bytes())
            .map_err(storage("read claim"))?
        {
            return Err(Error::NotFound(id));
        }
        let start = keys::claim_event(id, after.saturating_add(1));
        let end = keys::claim_event(id, u64::MAX);
        let mut items = Vec::new();
        let mut read = 0;
        for entry in self.events_by_claim.range(start..=end) {
            let (key, _) = entry.map_err(storage("read history"))?;
            if limit.is_full(items.len(), read) {
                return Ok(Page { items, more: true });
            }
            let revision = &key[16..];
            let bytes = self
                .events
                .get(revision)
                .map_err(storage("read history"))?
                .ok_or_else(|| corrupt("read history", "indexed event missing"))?;
            read += bytes.len();
            items.push(EventRecord::decode_stored(&bytes).map_err(|e| corrupt("read history", e))?);
        }
        Ok(Page { items, more: false })
    }
}

impl Store for SledStore {
    fn submit(&self, claim: Claim, request: Option<&RequestKey>) -> Result<Submitted, Error> {
        let submitted = self.write("submit claim", |tx, requests| {
            if let Some(request) = request {
                if let Some(bytes) = tx_get(requests, &request.storage_key())? {
                    let known =
                        RequestRecord::decode(&bytes).map_err(|e| corrupt("read request", e))?;
                    let version = known.fingerprint_version.unwrap_or(1);
                    let expected = request.fingerprint.in_version(version).ok_or_else(|| {
                        corrupt("read request", format!("fingerprint version {version}"))
                    })?;
                    if known.fingerprint != hex(expected) {
                        return Err(Error::RequestIdReused(request.id.clone()).into());
                    }
                    let id: ClaimId = known
                        .claim_id
                        .parse()
                        .map_err(|e| corrupt("read request", e))?;
                    let claim = tx
                        .claim(id)?
                        .ok_or_else(|| corrupt("read request", "claim of request id missing"))?;
                    return Ok(Submitted::Replayed(claim));
                }
                requests.insert(
                    request.storage_key(),
                    RequestRecord {
                        format: records::FORMAT,
                        claim_id: claim.id.to_string(),
                        fingerprint: hex(&request.fingerprint.current),
                        fingerprint_version: Some(Fingerprint::CURRENT_VERSION),
                    }
                    .encode(),
                )?;
            }
            let mut claim = claim.clone();
            let draft = EventDraft::submitted(&claim);
            tx.write(None, &mut claim, draft)?;
            Ok(Submitted::Created(claim))
        });
        self.settle_refusal(submitted)
    }

    fn get(&self, id: ClaimId) -> Result<Option<Claim>, Error> {
        let claim = self.load(&id.to_bytes())?;
        if let Some(claim) = &claim {
            self.settle(claim.revision)?;
        }
        Ok(claim)
    }

    fn list(
        &self,
        filter: &ClaimFilter,
        after: Option<ClaimId>,
        limit: PageLimit,
    ) -> Result<Page<Claim>, Error> {
        let from = match after {
            Some(id) => match keys::successor(id) {
                Some(id) => id,
                None => {
                    return Ok(Page {
                        items: Vec::new(),
                        more: false,
                    });
                }
            },
            None => ClaimId::from_bytes([0; 16]),
        };
        let prefixes = keys::filter_prefixes(filter);
        // A filtered listing also shows what is absent: a claim that a
        // write not yet durable moved out of the filter.
        let page = self.list_from(filter, &prefixes, from, limit)?;
        if prefixes.is_empty() {
            let newest = page.items.iter().map(|c| c.revision).max().unwrap_or(0);
            self.settle(newest)?;
        } else {
            self.settle_all()?;
        }
        Ok(page)
    }

    fn update(&self, id: ClaimId, change: super::Change<'_>) -> Result<(Claim, Event), Error> {
        let updated = self.write("update claim", |tx, _| {
            let old = tx.claim(id)?.ok_or(Error::NotFound(id))?;
            let (mut claim, draft) = change(&old)?;
            let event = tx.write(Some(&old), &mut claim, draft)?;
            Ok((claim, event))
        });
        self.settle_refusal(updated)
    }

    fn events(&self, id: ClaimId, after: u64, limit: PageLimit) -> Result<Page<Event>, Error> {
        let page = self.events_of(id, after, limit)?;
        self.settle(page.items.last().map_or(0, |e| e.revision))?;
        Ok(page)
    }

    fn durable(&self) -> Durable {
        self.committer.durable()
    }

    fn take_next(
        &self,
        query: &QueueQuery,
        change: super::Change<'_>,
    ) -> Result<Option<(Claim, Event)>, Error> {
        // Under the write lock nobody else can take from the queue between
        // finding its head and taking it.
        let writing = self.lock_writes("take next claim")?;
        let mut head: Option<(Vec<u8>, usize)> = None;
        for prefix in keys::queue_prefixes(query.story.as_deref(), &query.tags) {
            if let Some(key) = self.first_under(&prefix)? {
                let order = &key[prefix.len()..];
                if head
                    .as_ref()
                    .is_none_or(|(best, _)| order < best.as_slice())
                {
                    head = Some((order.to_vec(), prefix.len()));
                }
            }
        }
        let Some((order, _)) = head else {
            drop(writing);
            // An empty queue may be the work of a take not durable yet.
            self.settle_all()?;
            return Ok(None);
        };
        let id = keys::id_at_end(&order).ok_or_else(|| corrupt("read queue", "bad queue key"))?;
        let taken = self.transact(&writing, "take next claim", |tx, _| {
            let old = tx
                .claim(id)?
                .ok_or_else(|| corrupt("read queue", "queued claim missing"))?;
            let (mut claim, draft) = change(&old)?;
            let event = tx.write(Some(&old), &mut claim, draft)?;
            Ok(Some((claim, event)))
        });
        drop(writing);
        self.settle_refusal(taken)
    }

    fn leases_due(&self, now: SystemTime, limit: usize) -> Result<Vec<ClaimId>, Error> {
        let prefix = keys::leases();
        let mut due = Vec::new();
        for entry in self.index.scan_prefix(&prefix).take(limit) {
            let (key, _) = entry.map_err(storage("read leases"))?;
            let expires = keys::time_after(&key, &prefix)
                .ok_or_else(|| corrupt("read leases", "bad lease key"))?;
            if expires > now {
                break;
            }
            due.push(keys::id_at_end(&key).ok_or_else(|| corrupt("read leases", "bad lease key"))?);
        }
        Ok(due)
    }

    fn next_lease_expiry(&self) -> Result<Option<SystemTime>, Error> {
        let prefix = keys::leases();
        match self.first_under(&prefix)? {
            None => Ok(None),
            Some(key) => keys::time_after(&key, &prefix)
                .map(Some)
                .ok_or_else(|| corrupt("read leases", "bad lease key")),
        }
    }

    fn queue_stats(&self, story: Option<&str>, now: SystemTime) -> Result<QueueCounts, Error> {
        let states = State::ALL
            .into_iter()
            .map(|s| {
                Ok((
                    s,
                    self.read_counter(&keys::state_counter(records::state_code(s), story))?,
                ))
            })
            .collect::<Result<_, Error>>()?;
        let waiting = [Priority::Breaking, Priority::Urgent, Priority::Routine]
            .into_iter()
            .map(|p| Ok((p, self.read_counter(&keys::priority_counter(p, story))?)))
            .collect::<Result<_, Error>>()?;
        let oldest_waiting = match self.first_under(&keys::waiting(story))? {
            None => None,
            Some(key) => {
                let id = keys::id_at_end(&key).ok_or_else(|| corrupt("read index", "bad key"))?;
                self.load(&id.to_bytes())?.map(|c| c.create_time)
            }
        };
        // Counting stops at the first deadline still ahead: the cost is the
        // number of overdue claims, not of all claims.
        let prefix = keys::deadlines(story);
        let mut overdue = 0;
        for entry in self.index.scan_prefix(&prefix) {
            let (key, _) = entry.map_err(storage("read deadlines"))?;
            let deadline = keys::time_after(&key, &prefix)
                .ok_or_else(|| corrupt("read deadlines", "bad deadline key"))?;
            if deadline >= now {
                break;
            }
            overdue += 1;
        }
        self.settle_all()?;
        Ok(QueueCounts {
            states,
            waiting,
            oldest_waiting,
            overdue,
        })
    }

    fn events_since(&self, after: u64, up_to: u64, limit: usize) -> Result<Vec<Event>, Error> {
        if after >= up_to {
            return Ok(Vec::new());
        }
        let range = keys::revision(after + 1)..=keys::revision(up_to);
        self.events
            .range(range)
            .take(limit)
            .map(|entry| {
                let (_, bytes) = entry.map_err(storage("read history"))?;
                EventRecord::decode_stored(&bytes).map_err(|e| corrupt("read history", e))
            })
            .collect()
    }

    fn subscribe(&self) -> Subscription {
        self.hub.subscribe()
    }

    fn durable_revision(&self) -> u64 {
        self.hub.durable_revision()
    }
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

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Creates the data directory if it is missing, and makes its creation
/// durable: an fsync of each new directory and of the existing directory
/// that holds the first of them, so a crash cannot lose the directory under
/// data acknowledged later.
fn create_dir_durably(path: &Path) -> std::io::Result<()> {
    // The directories to create, deepest first, and the one that exists.
    let mut missing = Vec::new();
    let mut existing = path;
    while !existing.exists() {
        missing.push(existing);
        existing = match existing.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
    }
    if missing.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(path)?;
    for dir in missing.into_iter().chain([existing]) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Makes sled's written data durable: `flush` (write out the buffers), then
/// `fsync` of the log file and of the blob files (large values and nodes
/// live in files of their own under `blobs/`, written once, never fsynced
/// by sled).
///
/// A blob is written in full before the log entry that points to it can be
/// flushed, so after `flush` every blob that flush made reachable is
/// complete. Blobs of writes still running may be caught half-written: a
/// blob counts as synced only at the length it had when it was fsynced, and
/// is fsynced again if it has grown since.
struct Flusher {
    db: sled::Db,
    log: File,
    blobs_dir: PathBuf,
    synced_blobs: Mutex<HashMap<std::ffi::OsString, u64>>,
}

impl Flusher {
    fn new(db: sled::Db, path: &Path) -> std::io::Result<Self> {
        let log = File::open(path.join("db"))?;
        // sled writes its configuration once, at creation, and never
        // fsyncs it; a store whose `conf` is lost cannot be opened.
        File::open(path.join("conf"))?.sync_all()?;
        // The directory entries of the files sled created must be durable too.
        File::open(path)?.sync_all()?;
        Ok(Self {
            db,
            log,
            blobs_dir: path.join("blobs"),
            synced_blobs: Mutex::new(HashMap::new()),
        })
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.db.flush().map_err(|e| StorageError::new("flush", e))?;
        self.sync_blobs()
            .map_err(|e| StorageError::new("fsync blobs", e))?;
        self.log
            .sync_all()
            .map_err(|e| StorageError::new("fsync log", e))
    }

    /// Fsyncs every blob that is new or has grown since its last fsync, then
    /// the directory if a blob was added.
    fn sync_blobs(&self) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(&self.blobs_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut synced = self
            .synced_blobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut present = HashMap::new();
        let mut added = false;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            // sled removes blobs it no longer needs, at any moment.
            let file = match File::open(entry.path()) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            // The length before the fsync: what the fsync covers at least.
            let len = file.metadata()?.len();
            let known = synced.get(&name).copied();
            if known != Some(len) {
                file.sync_all()?;
                added |= known.is_none();
            }
            present.insert(name, len);
        }
        if added {
            File::open(&self.blobs_dir)?.sync_all()?;
        }
        *synced = present;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::domain::{Attribution, NewClaim, Priority, Slug, SourceName, Statement, UserName};

    fn new_claim() -> NewClaim {
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

    fn claim(n: u8) -> Claim {
        Claim::submitted(
            ClaimId::from_bytes([n; 16]),
            new_claim(),
            UserName::parse("ed.morgan").unwrap(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_121_000),
        )
    }

    fn key(fingerprint: Fingerprint) -> RequestKey {
        RequestKey {
            caller: "ed.morgan".to_owned(),
            id: "retry-1".to_owned(),
            fingerprint,
        }
    }

    #[test]
    fn a_retry_of_a_request_stored_by_an_earlier_release_replays_its_claim() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&StoreConfig::new(dir.path())).unwrap();
        let fingerprint = crate::fingerprint::submission(&new_claim(), "ed.morgan");
        let Submitted::Created(first) = store.submit(claim(1), None).unwrap() else {
            panic!("a new claim");
        };
        // What an earlier release stored for the request that made `first`:
        // a version 1 fingerprint and no version field.
        let legacy = format!(
            r#"{{"format":1,"claim_id":"{}","fingerprint":"{}"}}"#,
            first.id,
            hex(&fingerprint.v1)
        );
        store
            .requests
            .insert(key(fingerprint).storage_key(), legacy.as_bytes())
            .unwrap();

        let retried = store.submit(claim(2), Some(&key(fingerprint))).unwrap();
        assert_eq!(retried, Submitted::Replayed(first));

        let mut other = fingerprint;
        other.v1[0] ^= 1;
        assert!(matches!(
            store.submit(claim(3), Some(&key(other))),
            Err(Error::RequestIdReused(_))
        ));
    }

    #[test]
    fn new_request_ids_are_stored_with_the_current_fingerprint_and_replay() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&StoreConfig::new(dir.path())).unwrap();
        let fingerprint = crate::fingerprint::submission(&new_claim(), "ed.morgan");
        let Submitted::Created(first) = store.submit(claim(1), Some(&key(fingerprint))).unwrap()
        else {
            panic!("a new claim");
        };
        let stored = store
            .requests
            .get(key(fingerprint).storage_key())
            .unwrap()
            .unwrap();
        let stored: serde_json::Value = serde_json::from_slice(&stored).unwrap();
        assert_eq!(stored["fingerprint_version"], 2);
        assert_eq!(stored["fingerprint"], hex(&fingerprint.current));
        assert_eq!(
            store.submit(claim(2), Some(&key(fingerprint))).unwrap(),
            Submitted::Replayed(first)
        );
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
        store.index.remove(keys::source_entry(&first)).unwrap();
        store.index.insert(&stale, &[] as &[u8]).unwrap();
        store.meta.remove(META_SOURCE_KEYS).unwrap();

        // What `open` does first. (Reopening here would race sled's
        // background writes for the directory's lock.)
        store.rebuild_source_index().unwrap();
        let entries: Vec<_> = store
            .index
            .scan_prefix(keys::source_index())
            .map(|e| e.unwrap().0.to_vec())
            .collect();
        assert_eq!(entries, vec![keys::source_entry(&first)]);
        let filter = ClaimFilter {
            source: Some(first.attribution.source.normalized()),
            ..ClaimFilter::default()
        };
        let limit = PageLimit {
            items: 10,
            bytes: 1 << 20,
        };
        assert_eq!(store.list(&filter, None, limit).unwrap().items, vec![first]);
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
