//! The write path: what one op writes in the writer's transaction over
//! every tree ([`Tx`]), the writes of the [`Store`](crate::storage::Store)
//! handed to the writer (see `writer.rs`), and the wait that keeps reads
//! (and refusals) from showing a write before it is durable.

use std::{
    cell::RefCell,
    collections::BTreeMap,
    ops::Bound,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::atomic::Ordering,
};

use super::{
    META_LAST_HASH, META_LAST_REVISION, SledStore, Trees, corrupt, read_count, read_revision,
    storage,
    writer::{New, Op, Outcome, WriteSide},
};
use crate::{
    domain::{Changed, Claim, ClaimId, Event, EventDraft, State, Wording, suggest},
    error::{Error, StorageError},
    storage::{
        Change, PairChange, QueueQuery, RequestKey, Submitted, keys,
        records::{self, ClaimRecord, EventRecord, HASH_LEN, Record, StoredEvent},
    },
};

use crate::storage::candidates::{
    CANDIDATES_PER_FIGURE, MAX_CANDIDATES, MAX_FIGURE_ENTRIES, WORDINGS, worth_comparing,
};

/// Claims [`SledStore::import_claims`] writes per transaction (fewer in
/// unit tests, so that a few hundred claims span several).
const IMPORT_BATCH: usize = if cfg!(test) { 64 } else { 2000 };

/// The trees a batch writes, by position in [`Staged`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum T {
    Claims,
    Index,
    Events,
    EventsByClaim,
    Requests,
    Counters,
    /// What backups being taken keep (see `backup.rs`).
    Backups,
    /// Last: a batch whose writes to `meta` are in place reached its end
    /// (see `pending.rs`).
    Meta,
}

impl T {
    pub(super) const ALL: [T; 8] = [
        T::Claims,
        T::Index,
        T::Events,
        T::EventsByClaim,
        T::Requests,
        T::Counters,
        T::Backups,
        T::Meta,
    ];
}

impl Trees {
    /// The tree `t` names.
    pub(super) fn get(&self, t: T) -> &sled::Tree {
        match t {
            T::Claims => &self.claims,
            T::Index => &self.index,
            T::Events => &self.events,
            T::EventsByClaim => &self.events_by_claim,
            T::Requests => &self.requests,
            T::Counters => &self.counters,
            T::Meta => &self.meta,
            T::Backups => &self.backups,
        }
    }
}

/// A staged entry: the value to write, or `None` to remove the key.
type Entry = Option<sled::IVec>;

/// A key an op wrote, with its staged entry before (`None`: not staged).
type Undo = (T, Vec<u8>, Option<Entry>);

/// What one batch writes, staged in memory over the committed trees: reads
/// see the batch's own writes first. The writer is the only writer, so the
/// committed trees do not change under it; the staged writes are then
/// applied by one short transaction that reads nothing (sled 0.34 holds a
/// lock that stops every other read and write of the process for as long
/// as a transaction runs, so nothing else happens inside it).
pub(super) struct Tx<'a> {
    side: &'a WriteSide,
    staged: RefCell<[BTreeMap<Vec<u8>, Entry>; 8]>,
    /// How to take back the writes of the op being applied: each key it
    /// wrote with its staged entry before (`None`: not staged).
    undo: RefCell<Vec<Undo>>,
    /// Events written by the batch, in revision order.
    written: RefCell<Vec<Event>>,
}

impl<'a> Tx<'a> {
    pub(super) fn new(side: &'a WriteSide) -> Self {
        Self {
            side,
            staged: RefCell::default(),
            undo: RefCell::default(),
            written: RefCell::default(),
        }
    }

    fn tree(&self, t: T) -> &sled::Tree {
        self.side.trees.get(t)
    }

    fn get(&self, t: T, key: &[u8]) -> Result<Option<sled::IVec>, Error> {
        if let Some(entry) = self.staged.borrow()[t as usize].get(key) {
            return Ok(entry.clone());
        }
        self.tree(t).get(key).map_err(storage("read for a write"))
    }

    fn stage(&self, t: T, key: Vec<u8>, entry: Entry) {
        let before = self.staged.borrow_mut()[t as usize].insert(key.clone(), entry);
        self.undo.borrow_mut().push((t, key, before));
    }

    fn put(&self, t: T, key: impl Into<Vec<u8>>, value: impl Into<sled::IVec>) {
        self.stage(t, key.into(), Some(value.into()));
    }

    fn del(&self, t: T, key: impl Into<Vec<u8>>) {
        self.stage(t, key.into(), None);
    }

    /// Applies one op: its outcome, or why it failed. A failed (or
    /// panicking) op leaves nothing staged; the batch goes on without it.
    pub(super) fn run(&self, op: &Op) -> Result<Outcome, Error> {
        self.undo.borrow_mut().clear();
        let events = self.written.borrow().len();
        let outcome = catch_unwind(AssertUnwindSafe(|| self.apply(op))).unwrap_or_else(|_| {
            Err(Error::Internal(format!(
                "{} panicked while the writer applied it",
                op.context()
            )))
        });
        if outcome.is_err() {
            let mut staged = self.staged.borrow_mut();
            for (t, key, before) in self.undo.borrow_mut().drain(..).rev() {
                match before {
                    Some(entry) => staged[t as usize].insert(key, entry),
                    None => staged[t as usize].remove(&key),
                };
            }
            self.written.borrow_mut().truncate(events);
        }
        outcome
    }

    fn apply(&self, op: &Op) -> Result<Outcome, Error> {
        match op {
            Op::Submit { claim, request, .. } => self.submit(claim, request.as_ref()),
            Op::Update { id, change, .. } => {
                let old = self.claim(*id)?.ok_or(Error::NotFound(*id))?;
                let (claim, events) = self.change(&old, change)?;
                Ok(Outcome::Changed(claim, events))
            }
            Op::Pair { id, change, .. } => {
                Ok(Outcome::Paired(Box::new(self.change_pair(*id, change)?)))
            }
            Op::TakeNext { query, change, .. } => {
                let Some(id) = self.queue_head(query)? else {
                    return Ok(Outcome::Taken(None));
                };
                let old = self
                    .claim(id)?
                    .ok_or_else(|| corrupt("read queue", "queued claim missing"))?;
                Ok(Outcome::Taken(Some(self.change(&old, change)?)))
            }
            Op::Import { claims, .. } => {
                for New { claim, wording } in claims {
                    if self.claim(claim.id)?.is_some() {
                        return Err(Error::Internal(format!(
                            "claim {} cannot be imported: it is stored already",
                            claim.id
                        )));
                    }
                    self.write_new(&mut claim.clone(), wording)?;
                }
                Ok(Outcome::Imported)
            }
        }
    }

    fn submit(&self, new: &New, request: Option<&RequestKey>) -> Result<Outcome, Error> {
        let New { claim, wording } = new;
        if let Some(request) = request {
            if let Some(bytes) = self.get(T::Requests, &request.storage_key())? {
                let id = request.replayed_claim(&bytes)?;
                let claim = self
                    .claim(id)?
                    .ok_or_else(|| corrupt("read request", "claim of request id missing"))?;
                return Ok(Outcome::Submitted(Submitted::Replayed(claim)));
            }
            self.put(T::Requests, request.storage_key(), request.record(claim.id));
        }
        let mut claim = claim.clone();
        self.write_new(&mut claim, wording)?;
        let claim = self.link_suggested(claim, wording)?;
        Ok(Outcome::Submitted(Submitted::Created(claim)))
    }

    /// `change` applied to `old` and written, or the rules' refusal.
    fn change(&self, old: &Claim, change: &Change) -> Result<(Claim, Vec<Event>), Error> {
        // Other claims are read only if the rules ask (a dispute weighing
        // its contradictions); a failed read fails the change.
        let failed = RefCell::new(None);
        let peers = |id: ClaimId| match self.claim(id) {
            Ok(claim) => claim.map(|c| c.state),
            Err(e) => {
                failed.borrow_mut().get_or_insert(e);
                None
            }
        };
        let decided = change(old, &peers);
        if let Some(e) = failed.into_inner() {
            return Err(e);
        }
        let Changed { mut claim, events } = decided?;
        let events = self.write(Some(old), &mut claim, events)?;
        Ok((claim, events))
    }

    /// `change` applied to claim `id` and the claim it names, both written.
    fn change_pair(&self, id: ClaimId, change: &PairChange) -> Result<(Claim, Claim), Error> {
        let a = self.claim(id)?.ok_or(Error::NotFound(id))?;
        let other = (change.other)(&a)?;
        let b = self.claim(other)?.ok_or(Error::NotFound(other))?;
        let link = self.next_revision()?;
        let (mut a_changed, mut b_changed) = (change.apply)(&a, &b, link)?;
        self.write(Some(&a), &mut a_changed.claim, a_changed.events)?;
        self.write(Some(&b), &mut b_changed.claim, b_changed.events)?;
        Ok((a_changed.claim, b_changed.claim))
    }

    /// Links `claim`, just written, to the earlier claims of its story the
    /// rules suggest (see [`suggest`]); returns it as linked.
    fn link_suggested(&self, mut claim: Claim, wording: &Wording) -> Result<Claim, Error> {
        let candidates = self.candidates(&claim, wording)?;
        if candidates.is_empty() {
            return Ok(claim);
        }
        let candidates: Vec<&Claim> = candidates.iter().collect();
        for suggestion in suggest(&claim, wording, &candidates) {
            let Some(other) = candidates.iter().find(|c| c.id == suggestion.other) else {
                continue;
            };
            // Each suggestion links another candidate, so `other` is as it
            // was read; only the new claim changes from one to the next.
            let link = self.next_revision()?;
            // A claim with no room for another link is left out.
            let Ok((mut new, mut old)) = suggestion.link(&claim, other, link) else {
                continue;
            };
            self.write(Some(&claim), &mut new.claim, new.events)?;
            self.write(Some(other), &mut old.claim, old.events)?;
            claim = new.claim;
        }
        Ok(claim)
    }

    /// The earlier claims of `claim`'s story worth comparing it with,
    /// newest first, at most [`MAX_CANDIDATES`]: those worded the same,
    /// then those with a figure that disagrees with or equals one of its
    /// own (read from the figure index without reading the claims), but
    /// not withdrawn ones nor those with no room for another link.
    fn candidates(&self, claim: &Claim, wording: &Wording) -> Result<Vec<Claim>, Error> {
        let story = claim.story.as_str();
        let mut ids: Vec<ClaimId> = Vec::new();
        let key = wording.key();
        for (entry, value) in self.scan_newest_first(T::Index, &keys::wordings(story), WORDINGS)? {
            let Some(id) = keys::newest_first_id_at_end(&entry) else {
                continue;
            };
            if value.as_ref() == key.as_bytes() && id != claim.id && ids.len() < MAX_CANDIDATES {
                ids.push(id);
            }
        }
        // However many figures the claim has, at most this many entries of
        // the figure index are read.
        let mut budget = MAX_FIGURE_ENTRIES;
        for figure in claim.figures.iter().filter(|f| f.is_comparable()) {
            let prefix = keys::figures(story, &figure.index_key());
            let limit = CANDIDATES_PER_FIGURE.min(budget);
            let entries = self.scan_newest_first(T::Index, &prefix, limit)?;
            budget -= entries.len();
            for (key, value) in entries {
                let Some(id) = keys::newest_first_id_at_end(&key) else {
                    continue;
                };
                if id == claim.id || ids.contains(&id) || ids.len() >= MAX_CANDIDATES {
                    continue;
                }
                let theirs =
                    records::decode_figure(&value).map_err(|e| corrupt("read figure index", e))?;
                if worth_comparing(figure, &theirs) {
                    ids.push(id);
                }
            }
        }
        let mut claims = Vec::with_capacity(ids.len());
        for id in ids {
            let candidate = self
                .claim(id)?
                .ok_or_else(|| corrupt("read figure index", "indexed claim missing"))?;
            if candidate.state != State::Withdrawn
                && candidate.links.len() < crate::domain::MAX_LINKS_PER_CLAIM
            {
                claims.push(candidate);
            }
        }
        // Newest first, whichever index found them.
        claims.sort_by_key(|c| std::cmp::Reverse(c.id));
        Ok(claims)
    }

    /// The first `limit` entries under `prefix` of tree `t`, as the batch
    /// has left it: the newest claims' in the figure and wording indexes,
    /// whose keys end with inverted ids. For indexes whose entries are never
    /// removed: the batch only adds to them.
    fn scan_newest_first(
        &self,
        t: T,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, sled::IVec)>, Error> {
        let mut found: BTreeMap<Vec<u8>, sled::IVec> = BTreeMap::new();
        for entry in self.tree(t).scan_prefix(prefix).take(limit) {
            let (key, value) = entry.map_err(storage("read index"))?;
            found.insert(key.to_vec(), value);
        }
        let staged = self.staged.borrow();
        let added = staged[t as usize]
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix));
        for (key, entry) in added {
            if let Some(value) = entry {
                found.insert(key.clone(), value.clone());
            }
        }
        Ok(found.into_iter().take(limit).collect())
    }

    /// The first claim of the queue that `query` selects, as the batch has
    /// left it: the committed index less the entries the batch removed,
    /// plus those it added. The committed entries skipped are at most those
    /// the batch removed, so the work stays bounded by the batch.
    fn queue_head(&self, query: &QueueQuery) -> Result<Option<ClaimId>, Error> {
        let staged = self.staged.borrow();
        let index = &staged[T::Index as usize];
        let mut head: Option<Vec<u8>> = None;
        for prefix in keys::queue_prefixes(query.story.as_ref(), &query.tags) {
            let mut first = None;
            for entry in self.side.trees.index.scan_prefix(&prefix) {
                let (key, _) = entry.map_err(storage("read index"))?;
                if !matches!(index.get(key.as_ref()), Some(None)) {
                    first = Some(key.to_vec());
                    break;
                }
            }
            let added = index
                .range::<[u8], _>((Bound::Included(prefix.as_slice()), Bound::Unbounded))
                .take_while(|(key, _)| key.starts_with(&prefix))
                .find(|(_, entry)| entry.is_some())
                .map(|(key, _)| key);
            if let Some(key) = added
                && first.as_ref().is_none_or(|f| key < f)
            {
                first = Some(key.clone());
            }
            if let Some(key) = first {
                let order = key[prefix.len()..].to_vec();
                if head.as_ref().is_none_or(|best| order < *best) {
                    head = Some(order);
                }
            }
        }
        match head {
            None => Ok(None),
            Some(order) => Ok(Some(
                keys::id_at_end(&order).ok_or_else(|| corrupt("read queue", "bad queue key"))?,
            )),
        }
    }

    fn next_revision(&self) -> Result<u64, Error> {
        let last = match self.get(T::Meta, META_LAST_REVISION)? {
            Some(v) => read_revision(&v)?,
            None => 0,
        };
        Ok(last + 1)
    }

    /// Writes a new claim, worded as `wording` says, with its submission
    /// event and its entries in the figure and wording indexes: figures and
    /// statements never change, so those are written once, here.
    fn write_new(&self, claim: &mut Claim, wording: &Wording) -> Result<(), Error> {
        let draft = EventDraft::submitted(claim);
        self.write(None, claim, vec![draft])?;
        for (key, value) in keys::written_once(claim, &wording.key()) {
            self.put(T::Index, key, value);
        }
        Ok(())
    }

    /// Writes `claim` (giving it the revision of the last of `events`),
    /// moves its index entries from those of `old`, and appends the events.
    pub(super) fn write(
        &self,
        old: Option<&Claim>,
        claim: &mut Claim,
        events: Vec<EventDraft>,
    ) -> Result<Vec<Event>, Error> {
        let first = self.next_revision()?;
        let count = u64::try_from(events.len()).unwrap_or(u64::MAX);
        let Some(last) = count.checked_sub(1).map(|n| first + n) else {
            return Err(Error::Internal("a change made no event".into()));
        };
        claim.revision = last;

        let new_keys = keys::index_entries(claim);
        let old_keys = old.map(keys::index_entries).unwrap_or_default();
        for key in &old_keys {
            if !new_keys.contains(key) {
                self.del(T::Index, key.clone());
            }
        }
        for key in new_keys {
            if !old_keys.contains(&key) {
                self.put(T::Index, key, &[] as &[u8]);
            }
        }
        // No change alters a claim's source: its entry is written once, at
        // submit, and its key is not computed again on every change.
        if old.is_none_or(|o| o.attribution.source != claim.attribution.source) {
            if let Some(old) = old {
                self.del(T::Index, keys::source_entry(old));
            }
            self.put(T::Index, keys::source_entry(claim), &[] as &[u8]);
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
        self.put(
            T::Claims,
            claim.id.to_bytes(),
            ClaimRecord::from(&*claim).encode(),
        );
        let mut written = Vec::with_capacity(events.len());
        for (revision, draft) in (first..=last).zip(events) {
            let event = draft.with_revision(claim, revision);
            self.append(&event)?;
            written.push(event);
        }
        Ok(written)
    }

    /// Appends `event` to the history, linked into the audit chain.
    fn append(&self, event: &Event) -> Result<(), Error> {
        let revision = event.revision;
        let previous = match self.get(T::Meta, META_LAST_HASH)? {
            Some(v) => <[u8; HASH_LEN]>::try_from(v.as_ref())
                .map_err(|_| corrupt("read chain", "bad last hash"))?,
            None => [0; HASH_LEN],
        };
        let body = EventRecord::from(event).encode();
        let hash = records::chain_hash(&previous, &body);
        self.put(
            T::Events,
            keys::revision(revision),
            StoredEvent::join(&hash, &body),
        );
        self.put(T::Meta, META_LAST_HASH, &hash[..]);
        self.put(
            T::EventsByClaim,
            keys::claim_event(event.claim_id, revision),
            &[] as &[u8],
        );
        self.put(T::Meta, META_LAST_REVISION, &revision.to_be_bytes()[..]);
        self.written.borrow_mut().push(event.clone());
        Ok(())
    }

    fn count(&self, key: &[u8], delta: i64) -> Result<(), Error> {
        let current = self
            .get(T::Counters, key)?
            .map(|v| read_count(&v))
            .transpose()?
            .unwrap_or(0);
        let next = current.saturating_add_signed(delta);
        if next == 0 {
            self.del(T::Counters, key);
        } else {
            self.put(T::Counters, key, &next.to_be_bytes()[..]);
        }
        Ok(())
    }

    pub(super) fn claim(&self, id: ClaimId) -> Result<Option<Claim>, Error> {
        match self.get(T::Claims, &id.to_bytes())? {
            Some(bytes) => Ok(Some(
                ClaimRecord::decode(&bytes).map_err(|e| corrupt("read claim", e))?,
            )),
            None => Ok(None),
        }
    }

    pub(super) fn mark_format(&self, key: &[u8], format: u32) {
        self.put(T::Meta, key, &format.to_be_bytes()[..]);
    }

    /// Keeps, for each backup being taken (`sessions`), the committed
    /// value of every claim and request id the batch changes that the
    /// backup has not kept yet: the value at the backup's revision, which
    /// it reads instead of the one the batch writes (see `backup.rs`).
    pub(super) fn keep_for_backups(&self, sessions: &[u64]) -> Result<(), Error> {
        if sessions.is_empty() {
            return Ok(());
        }
        let changed: Vec<(T, Vec<u8>)> = {
            let staged = self.staged.borrow();
            [T::Claims, T::Requests]
                .into_iter()
                .flat_map(|t| staged[t as usize].keys().map(move |k| (t, k.clone())))
                .collect()
        };
        for (t, key) in changed {
            let tree = if t == T::Claims { b'c' } else { b'r' };
            let mut committed = None;
            for &session in sessions {
                let kept = keys::kept_for_backup(session, tree, &key);
                if self.get(T::Backups, &kept)?.is_some() {
                    continue;
                }
                if committed.is_none() {
                    let value = self
                        .tree(t)
                        .get(&key)
                        .map_err(storage("read for a backup"))?;
                    committed = Some(match value {
                        Some(value) => [&[1u8][..], &value].concat(),
                        None => vec![0u8],
                    });
                }
                self.put(T::Backups, kept, committed.clone().expect("read above"));
            }
        }
        Ok(())
    }

    /// Whether the batch has staged nothing.
    pub(super) fn is_empty(&self) -> bool {
        self.staged.borrow().iter().all(BTreeMap::is_empty)
    }

    /// The staged writes per tree, and the events, in revision order.
    pub(super) fn into_parts(self) -> ([BTreeMap<Vec<u8>, Entry>; 8], Vec<Event>) {
        (self.staged.into_inner(), self.written.into_inner())
    }
}

impl SledStore {
    /// Refuses writes once a durable flush has failed.
    pub(super) fn writable(&self, context: &'static str) -> Result<(), Error> {
        if self.committer.has_failed() {
            return Err(StorageError::failed(context, "an earlier durable flush failed").into());
        }
        Ok(())
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
                return Err(StorageError::failed(
                    "durable read",
                    "the store failed before the change read was durable",
                )
                .into());
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
        self.settle(self.marks.visible.load(Ordering::SeqCst))
    }

    /// A refusal by the rules tells what the claim is now (its state, its
    /// etag): it waits, like a read, until that is durable.
    pub(super) fn settle_refusal<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        if let Err(Error::Rule(_) | Error::RequestIdReused(_)) = &result {
            self.settle_all()?;
        }
        result
    }

    /// [`Store::submit`](crate::storage::Store::submit).
    pub(super) fn submit_claim(
        &self,
        claim: Claim,
        request: Option<&RequestKey>,
    ) -> Result<Submitted, Error> {
        self.writable("submit claim")?;
        let request = request.cloned();
        let claim = Box::new(New::of(claim));
        let submitted = self.writer.call("submit claim", |reply| Op::Submit {
            claim,
            request,
            reply,
        });
        self.settle_refusal(submitted)
    }

    /// [`Store::import`](crate::storage::Store::import): `IMPORT_BATCH`
    /// claims per transaction, each written by [`Tx::write`] as a
    /// submission is, then one durable flush.
    pub(super) fn import_claims(&self, mut claims: Vec<Claim>) -> Result<(), Error> {
        while !claims.is_empty() {
            self.writable("import claims")?;
            let rest = claims.split_off(claims.len().min(IMPORT_BATCH));
            let batch = std::mem::replace(&mut claims, rest);
            let batch = batch.into_iter().map(New::of).collect();
            self.writer.call("import claims", |reply| Op::Import {
                claims: batch,
                reply,
            })?;
        }
        self.committer.durable().wait_blocking()
    }

    /// [`Store::update`](crate::storage::Store::update).
    pub(super) fn update_claim(
        &self,
        id: ClaimId,
        change: Change,
    ) -> Result<(Claim, Vec<Event>), Error> {
        self.writable("update claim")?;
        let updated = self
            .writer
            .call("update claim", |reply| Op::Update { id, change, reply });
        self.settle_refusal(updated)
    }

    /// [`Store::update_pair`](crate::storage::Store::update_pair).
    pub(super) fn update_claims(
        &self,
        id: ClaimId,
        change: PairChange,
    ) -> Result<(Claim, Claim), Error> {
        self.writable("update linked claims")?;
        let updated = self.writer.call("update linked claims", |reply| Op::Pair {
            id,
            change,
            reply,
        });
        self.settle_refusal(updated)
    }

    /// [`Store::take_next`](crate::storage::Store::take_next): the writer
    /// finds the queue's head and takes it in one transaction, so no two
    /// callers get the same claim.
    pub(super) fn take_next_claim(
        &self,
        query: &QueueQuery,
        change: Change,
    ) -> Result<Option<(Claim, Vec<Event>)>, Error> {
        self.writable("take next claim")?;
        let query = query.clone();
        let taken = self.writer.call("take next claim", |reply| Op::TakeNext {
            query,
            change,
            reply,
        });
        if let Ok(None) = taken {
            // An empty queue may be the work of a take not durable yet.
            self.settle_all()?;
        }
        self.settle_refusal(taken)
    }
}

#[cfg(test)]
mod tests;
