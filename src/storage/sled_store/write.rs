//! The write path: the write lock, the transaction over every tree ([`Tx`]),
//! the writes of the [`Store`](crate::storage::Store) and the wait that
//! keeps reads (and refusals) from showing a write before it is durable.

use std::{
    cell::RefCell,
    sync::{MutexGuard, atomic::Ordering},
};

use sled::{
    Transactional,
    transaction::{ConflictableTransactionError, TransactionError, TransactionalTree},
};

use super::{
    JSON_STORE_FORMAT, META_FORMAT, META_LAST_HASH, META_LAST_REVISION, STORE_FORMAT, SledStore,
    corrupt, hex, read_count, read_revision,
};
use crate::{
    domain::{Claim, ClaimId, DomainError, Event, EventDraft},
    error::{Error, StorageError},
    storage::{
        Change, Fingerprint, QueueQuery, RequestKey, Submitted, keys,
        records::{self, ClaimRecord, EventRecord, HASH_LEN, Record, RequestRecord, StoredEvent},
    },
};

/// Claims [`SledStore::import_claims`] writes per transaction (fewer in
/// unit tests, so that a few hundred claims span several).
const IMPORT_BATCH: usize = if cfg!(test) { 64 } else { 2000 };

/// Failure inside a transaction: either our own (abort) or sled's.
pub(super) enum TxError {
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

pub(super) fn tx_result<T>(
    r: Result<T, TransactionError<TxError>>,
    context: &'static str,
) -> Result<T, Error> {
    match r {
        Ok(v) => Ok(v),
        Err(TransactionError::Abort(TxError::Abort(e))) => Err(e),
        Err(TransactionError::Storage(e)) => Err(StorageError::new(context, e).into()),
    }
}

pub(super) type TxResult<T> = Result<T, ConflictableTransactionError<TxError>>;

pub(super) fn tx_get(tree: &TransactionalTree, key: &[u8]) -> TxResult<Option<sled::IVec>> {
    tree.get(key).map_err(ConflictableTransactionError::from)
}

/// Everything one write transaction touches.
pub(super) struct Tx<'a> {
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
    pub(super) fn write(
        &self,
        old: Option<&Claim>,
        claim: &mut Claim,
        event: EventDraft,
    ) -> TxResult<Event> {
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
        // No change alters a claim's source: its entry is written once, at
        // submit, and its key is not computed again on every change.
        if old.is_none_or(|o| o.attribution.source != claim.attribution.source) {
            if let Some(old) = old {
                self.index.remove(keys::source_entry(old))?;
            }
            self.index.insert(keys::source_entry(claim), &[] as &[u8])?;
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

    pub(super) fn claim(&self, id: ClaimId) -> TxResult<Option<Claim>> {
        match tx_get(self.claims, &id.to_bytes())? {
            Some(bytes) => Ok(Some(
                ClaimRecord::decode(&bytes).map_err(|e| corrupt("read claim", e))?,
            )),
            None => Ok(None),
        }
    }
}

impl SledStore {
    /// Takes the write lock: writers are serialised. Refused once a
    /// durable flush has failed.
    pub(super) fn lock_writes(&self, context: &'static str) -> Result<MutexGuard<'_, ()>, Error> {
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
    pub(super) fn transact<T>(
        &self,
        writing: &MutexGuard<'_, ()>,
        context: &'static str,
        f: impl Fn(&Tx<'_>, &TransactionalTree) -> TxResult<T>,
    ) -> Result<T, Error> {
        // Every write stores one event: the revision it takes is the next.
        self.transact_events(writing, context, 1, f)
    }

    /// [`Self::transact`] for a transaction that stores up to `events`
    /// events.
    fn transact_events<T>(
        &self,
        _writing: &MutexGuard<'_, ()>,
        context: &'static str,
        events: u64,
        f: impl Fn(&Tx<'_>, &TransactionalTree) -> TxResult<T>,
    ) -> Result<T, Error> {
        // The revisions the events may take are announced before the
        // commit, so no reader can see the write and then miss that it is
        // not durable yet.
        let committed = self.committed.load(Ordering::SeqCst);
        self.visible.store(committed + events, Ordering::SeqCst);
        let mark_format = !self.format_marked.load(Ordering::SeqCst);
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
                    if mark_format {
                        tx.meta.insert(META_FORMAT, &STORE_FORMAT.to_be_bytes())?;
                    }
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
        if mark_format {
            self.format_marked.store(true, Ordering::SeqCst);
            tracing::info!(
                from = JSON_STORE_FORMAT,
                to = STORE_FORMAT,
                "the store takes records in the binary format from now on; earlier releases will not open it"
            );
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
    pub(super) fn settle(&self, revision: u64) -> Result<(), Error> {
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
    pub(super) fn settle_all(&self) -> Result<(), Error> {
        self.settle(self.visible.load(Ordering::SeqCst))
    }

    /// A refusal by the rules tells what the claim is now (its state, its
    /// etag): it waits, like a read, until that is durable.
    pub(super) fn settle_refusal<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        if let Err(Error::Rule(_) | Error::RequestIdReused(_)) = &result {
            self.settle_all()?;
        }
        result
    }

    /// [`Self::transact`] under the write lock.
    pub(super) fn write<T>(
        &self,
        context: &'static str,
        f: impl Fn(&Tx<'_>, &TransactionalTree) -> TxResult<T>,
    ) -> Result<T, Error> {
        let writing = self.lock_writes(context)?;
        self.transact(&writing, context, f)
    }

    /// [`Store::submit`](crate::storage::Store::submit).
    pub(super) fn submit_claim(
        &self,
        claim: Claim,
        request: Option<&RequestKey>,
    ) -> Result<Submitted, Error> {
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

    /// [`Store::import`](crate::storage::Store::import): `IMPORT_BATCH`
    /// claims per transaction under the write lock, each written by
    /// [`Tx::write`] as [`Self::submit_claim`] writes it, then one durable
    /// flush.
    pub(super) fn import_claims(&self, claims: Vec<Claim>) -> Result<(), Error> {
        for batch in claims.chunks(IMPORT_BATCH) {
            let writing = self.lock_writes("import claims")?;
            let events = u64::try_from(batch.len()).unwrap_or(u64::MAX);
            self.transact_events(&writing, "import claims", events, |tx, _| {
                for claim in batch {
                    if tx.claim(claim.id)?.is_some() {
                        return Err(Error::Internal(format!(
                            "claim {} cannot be imported: it is stored already",
                            claim.id
                        ))
                        .into());
                    }
                    let mut claim = claim.clone();
                    let draft = EventDraft::submitted(&claim);
                    tx.write(None, &mut claim, draft)?;
                }
                Ok(())
            })?;
        }
        self.committer.durable().wait_blocking()
    }

    /// [`Store::update`](crate::storage::Store::update).
    pub(super) fn update_claim(
        &self,
        id: ClaimId,
        change: Change<'_>,
    ) -> Result<(Claim, Event), Error> {
        let updated = self.write("update claim", |tx, _| {
            let old = tx.claim(id)?.ok_or(Error::NotFound(id))?;
            let (mut claim, draft) = change(&old)?;
            let event = tx.write(Some(&old), &mut claim, draft)?;
            Ok((claim, event))
        });
        self.settle_refusal(updated)
    }

    /// [`Store::take_next`](crate::storage::Store::take_next).
    pub(super) fn take_next_claim(
        &self,
        query: &QueueQuery,
        change: Change<'_>,
    ) -> Result<Option<(Claim, Event)>, Error> {
        // Under the write lock nobody else can take from the queue between
        // finding its head and taking it.
        let writing = self.lock_writes("take next claim")?;
        let mut head: Option<(Vec<u8>, usize)> = None;
        for prefix in keys::queue_prefixes(query.story.as_ref(), &query.tags) {
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
}

#[cfg(test)]
mod tests;
