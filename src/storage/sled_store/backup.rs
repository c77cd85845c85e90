//! Backups taken while the store serves, and restores into an empty data
//! directory, in the format of [`crate::storage::backup`].
//!
//! A backup is a copy of the store at the revision `R` the writer had
//! committed when the backup began. It begins between two batches of the
//! writer (it takes the lock the writer holds for a batch), so every write
//! up to `R` is committed and none after it has started. From then on,
//! until the backup ends, the writer keeps in the `backups` tree, in the
//! same transaction as the change, the value every claim and request id had
//! before its first change after `R`; the backup reads the events up to `R`
//! (they never change), and each claim and request id either as stored or,
//! if kept, as kept. A value read from its tree before the writer changed
//! it is the value at `R`; one read after is found kept (the transaction
//! wrote both), so the reads need no lock: writers go on at their pace,
//! each change writing one more value for the first change of each claim.
//! Claims and request ids are never removed, so a scan of their trees
//! meets every one that existed at `R`. A crash leaves kept values behind:
//! the next open removes them.
//!
//! A restore checks the whole backup first ([`backup::check`]), then writes
//! the records as they are, and the indexes, counters and per-claim event
//! lists they imply, into a fresh store, marked as being restored until
//! all of it is durable: a store whose restore did not finish is refused.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufReader, Write},
    path::Path,
    sync::PoisonError,
    time::SystemTime,
};

use super::{META_LAST_HASH, META_LAST_REVISION, SledStore, StoreConfig, corrupt, keys, storage};
use crate::{
    domain::Wording,
    error::{Error, StorageError},
    storage::{
        Store,
        backup::{self, BackupError, BackupReader, BackupSummary, BackupWriter, Item},
        records::{ClaimRecord, EventRecord, HASH_LEN, StoredEvent},
    },
};

/// Marks a store whose restore has not finished.
pub(super) const META_RESTORING: &[u8] = b"restoring";

/// Entries a restore writes between two flushes.
const RESTORE_FLUSH: usize = 20_000;

/// The backups being taken (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct Backups {
    next: u64,
    sessions: Vec<u64>,
}

impl Backups {
    /// The sessions the writer keeps values for.
    pub(super) fn sessions(&self) -> &[u64] {
        &self.sessions
    }
}

/// One backup being taken; ends, and lets go of what was kept for it, when
/// dropped.
struct Session<'a> {
    store: &'a SledStore,
    id: u64,
    revision: u64,
}

impl<'a> Session<'a> {
    /// Begins a backup at the revision the writer has committed: waits, at
    /// most, for the batch being written.
    fn begin(store: &'a SledStore) -> Self {
        let mut backups = store.backups.lock().unwrap_or_else(PoisonError::into_inner);
        let id = backups.next;
        backups.next += 1;
        backups.sessions.push(id);
        let revision = store
            .marks
            .committed
            .load(std::sync::atomic::Ordering::SeqCst);
        Self {
            store,
            id,
            revision,
        }
    }

    /// The value of `key` of the tree named `tree` at the backup's
    /// revision, given its value as read now: the value kept for the backup
    /// if the writer has changed it since (`None` if it did not exist yet).
    fn as_of(&self, tree: u8, key: &[u8], now: sled::IVec) -> Result<Option<sled::IVec>, Error> {
        let kept = self
            .store
            .trees
            .backups
            .get(keys::kept_for_backup(self.id, tree, key))
            .map_err(storage("read kept values"))?;
        match kept {
            None => Ok(Some(now)),
            Some(kept) => match kept.first() {
                Some(1) => Ok(Some(kept.subslice(1, kept.len() - 1))),
                Some(0) => Ok(None),
                _ => Err(corrupt("read kept values", "malformed kept value")),
            },
        }
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        self.store
            .backups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sessions
            .retain(|&s| s != self.id);
        // The writer keeps nothing more for this session: what it kept can
        // go (and if this fails, the next open removes it).
        let mut batch = sled::Batch::default();
        for entry in self
            .store
            .trees
            .backups
            .scan_prefix(keys::backup_session(self.id))
        {
            match entry {
                Ok((key, _)) => batch.remove(key),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the values kept for a backup");
                    return;
                }
            }
        }
        if let Err(e) = self.store.trees.backups.apply_batch(batch) {
            tracing::warn!(error = %e, "cannot remove the values kept for a backup");
        }
    }
}

/// Why a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error("{} is not empty: a restore writes only into a new or empty directory", .0.display())]
    NotEmpty(std::path::PathBuf),
    #[error(transparent)]
    Store(#[from] Error),
}

fn write_failed(e: std::io::Error) -> Error {
    StorageError::new("write the backup", e).into()
}

impl SledStore {
    /// See [`Store::backup`](crate::storage::Store::backup).
    pub(super) fn write_backup(&self, out: &mut dyn Write) -> Result<BackupSummary, Error> {
        self.writable("take a backup")?;
        let session = Session::begin(self);
        // Everything up to the backup's revision must be durable before
        // any of it is copied.
        self.durable().wait_blocking()?;
        let revision = session.revision;
        let last_hash = match revision {
            0 => [0; HASH_LEN],
            r => {
                let stored = self
                    .trees
                    .events
                    .get(keys::revision(r))
                    .map_err(storage("read history"))?
                    .ok_or_else(|| corrupt("read history", format!("event {r} is missing")))?;
                StoredEvent::split(&stored)
                    .map_err(|e| corrupt("read history", e))?
                    .hash
            }
        };
        let mut backup = BackupWriter::start(out, revision, last_hash, SystemTime::now())
            .map_err(write_failed)?;
        for entry in self.trees.events.range(..=keys::revision(revision)) {
            let (key, stored) = entry.map_err(storage("read history"))?;
            let key = <[u8; 8]>::try_from(key.as_ref())
                .map_err(|_| corrupt("read history", "malformed event key"))?;
            backup
                .event(u64::from_be_bytes(key), &stored)
                .map_err(write_failed)?;
        }
        for entry in self.trees.claims.iter() {
            let (key, now) = entry.map_err(storage("read claims"))?;
            if let Some(record) = session.as_of(b'c', &key, now)? {
                backup.claim(&record).map_err(write_failed)?;
            }
        }
        for entry in self.trees.requests.iter() {
            let (key, now) = entry.map_err(storage("read request ids"))?;
            if let Some(record) = session.as_of(b'r', &key, now)? {
                backup.request(&key, &record).map_err(write_failed)?;
            }
        }
        let summary = backup.finish().map_err(write_failed)?;
        tracing::info!(
            revision = summary.revision,
            claims = summary.claims,
            events = summary.events,
            bytes = summary.bytes,
            "backup taken"
        );
        Ok(summary)
    }

    /// Rebuilds a store in `config.path`, which must be missing or empty,
    /// from the backup in `file`. The whole backup is checked first
    /// ([`backup::check`]: its checksum, its audit chain, that it is one
    /// consistent copy); nothing is written unless it checks out. Until
    /// the restore is durable, the store is marked as being restored, and
    /// [`SledStore::open`] refuses it: a restore cut short is started again
    /// in an empty directory.
    pub fn restore(config: &StoreConfig, file: &Path) -> Result<BackupSummary, RestoreError> {
        let empty = |dir: &Path| match std::fs::read_dir(dir) {
            Ok(mut entries) => entries.next().is_none(),
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        };
        if !empty(&config.path) {
            return Err(RestoreError::NotEmpty(config.path.clone()));
        }
        let open = || {
            File::open(file)
                .map(BufReader::new)
                .map_err(BackupError::Io)
        };
        let summary = backup::check(open()?)?;
        if !empty(&config.path) {
            return Err(RestoreError::NotEmpty(config.path.clone()));
        }

        let store = SledStore::open(config)?;
        store
            .trees
            .meta
            .insert(META_RESTORING, &[1u8][..])
            .map_err(storage("mark the restore"))?;
        store.durable().wait_blocking()?;
        store.load_backup(BackupReader::open(open()?)?)?;
        store.durable().wait_blocking()?;
        store
            .trees
            .meta
            .remove(META_RESTORING)
            .map_err(storage("mark the restore"))?;
        store.durable().wait_blocking()?;
        let closed = store.on_close();
        drop(store);
        if let Some(closed) = closed {
            let _ = closed.blocking_recv();
        }
        tracing::info!(
            revision = summary.revision,
            claims = summary.claims,
            events = summary.events,
            "store restored"
        );
        Ok(summary)
    }

    /// Writes what `reader` holds (checked already) into this empty store.
    fn load_backup<R: std::io::Read>(
        &self,
        mut reader: BackupReader<R>,
    ) -> Result<(), RestoreError> {
        let trees = &self.trees;
        let mut counters: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        let mut written = 0usize;
        // The store is marked as being restored, so entries need not go in
        // transactions; what sled has not flushed it holds in memory, well
        // beyond its cache's bound, so the restore flushes as it goes.
        let mut put = |tree: &sled::Tree, key: Vec<u8>, value: Vec<u8>| -> Result<(), Error> {
            tree.insert(key, value)
                .map_err(storage("write the restore"))?;
            written += 1;
            if written.is_multiple_of(RESTORE_FLUSH) {
                self.durable().wait_blocking()?;
            }
            Ok(())
        };
        while let Some(item) = reader.next_item()? {
            match item {
                Item::Event { revision, stored } => {
                    let event = EventRecord::decode_stored(&stored)
                        .map_err(|e| corrupt("restore an event", e))?;
                    put(
                        &trees.events_by_claim,
                        keys::claim_event(event.claim_id, revision).to_vec(),
                        Vec::new(),
                    )?;
                    put(&trees.events, keys::revision(revision).to_vec(), stored)?;
                }
                Item::Claim(record) => {
                    let claim =
                        ClaimRecord::decode(&record).map_err(|e| corrupt("restore a claim", e))?;
                    let wording = Wording::of(claim.statement.as_str());
                    for key in keys::index_entries(&claim) {
                        put(&trees.index, key, Vec::new())?;
                    }
                    put(&trees.index, keys::source_entry(&claim), Vec::new())?;
                    for (key, value) in keys::written_once(&claim, &wording.key()) {
                        put(&trees.index, key, value)?;
                    }
                    for key in keys::counters(&claim) {
                        *counters.entry(key).or_default() += 1;
                    }
                    put(&trees.claims, claim.id.to_bytes().to_vec(), record)?;
                }
                Item::Request { key, record } => put(&trees.requests, key, record)?,
            }
        }
        let mut batch = sled::Batch::default();
        for (key, count) in counters {
            batch.insert(key, &count.to_be_bytes()[..]);
        }
        trees
            .counters
            .apply_batch(batch)
            .map_err(storage("write the restore"))?;
        let mut meta = sled::Batch::default();
        meta.insert(META_LAST_REVISION, &reader.revision().to_be_bytes()[..]);
        if reader.revision() > 0 {
            meta.insert(META_LAST_HASH, &reader.last_hash()[..]);
        }
        trees
            .meta
            .apply_batch(meta)
            .map_err(storage("write the restore"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
