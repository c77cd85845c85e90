//! The read paths: claims and their listing (a leapfrog join of the index
//! ranges), history, queue counts and leases. A read that meets a write not
//! durable yet waits for it (see [`SledStore::settle`]).

use std::time::SystemTime;

use super::{SledStore, corrupt, read_count, storage};
use crate::{
    domain::{Claim, ClaimId, Event, LinkId, Priority, Slug, State},
    error::Error,
    storage::{
        ClaimFilter, Conflict, Page, PageLimit, QueueCounts, keys,
        records::{self, ClaimRecord, EventRecord},
    },
};

impl SledStore {
    /// [`Store::get`](crate::storage::Store::get).
    pub(super) fn get_claim(&self, id: ClaimId) -> Result<Option<Claim>, Error> {
        let claim = self.load(&id.to_bytes())?;
        if let Some(claim) = &claim {
            self.settle(claim.revision)?;
        }
        Ok(claim)
    }

    /// [`Store::get_at_once`](crate::storage::Store::get_at_once): one
    /// lookup in the claims tree, its pages almost always in sled's cache
    /// (else in the system's page cache, a few page reads at most); `None`
    /// if the claim is newer than the last durable flush.
    pub(super) fn get_claim_at_once(&self, id: ClaimId) -> Option<Result<Option<Claim>, Error>> {
        match self.load(&id.to_bytes()) {
            Ok(Some(claim)) if claim.revision > self.hub.durable_revision() => None,
            loaded => Some(loaded),
        }
    }

    /// [`Store::list`](crate::storage::Store::list).
    pub(super) fn list_claims(
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

    /// [`Store::events`](crate::storage::Store::events).
    pub(super) fn claim_events(
        &self,
        id: ClaimId,
        after: u64,
        limit: PageLimit,
    ) -> Result<Page<Event>, Error> {
        let page = self.events_of(id, after, limit)?;
        self.settle(page.items.last().map_or(0, |e| e.revision))?;
        Ok(page)
    }

    /// [`Store::conflicts`](crate::storage::Store::conflicts): from the
    /// contradiction index, each with its two claims.
    pub(super) fn story_conflicts(
        &self,
        story: &Slug,
        after: Option<LinkId>,
        limit: PageLimit,
    ) -> Result<Page<Conflict>, Error> {
        let prefix = keys::conflicts(story.as_str());
        let mut start = prefix.clone();
        start.extend_from_slice(&after.map_or(0, |a| a.saturating_add(1)).to_be_bytes());
        let mut items = Vec::new();
        let mut bytes = 0;
        for entry in self.trees.index.range(start..) {
            let (key, _) = entry.map_err(storage("read index"))?;
            if !key.starts_with(&prefix) {
                break;
            }
            if limit.is_full(items.len(), bytes) {
                self.settle_all()?;
                return Ok(Page { items, more: true });
            }
            let (link, subject) = keys::conflict_at(&key, &prefix)
                .ok_or_else(|| corrupt("read index", "bad contradiction key"))?;
            let missing = || corrupt("read contradictions", "linked claim missing");
            let (subject, subject_bytes) = self.load_sized(subject)?.ok_or_else(missing)?;
            // Resolved since the index was read: left out.
            let Some(end) = subject.link(link).filter(|l| l.is_open_contradiction()) else {
                continue;
            };
            let end = end.clone();
            let (object, object_bytes) = self.load_sized(end.other)?.ok_or_else(missing)?;
            bytes += subject_bytes + object_bytes;
            items.push(Conflict {
                link: end,
                subject,
                object,
            });
        }
        // Like a filtered listing, it shows what is absent too: a
        // contradiction resolved by a write not yet durable.
        self.settle_all()?;
        Ok(Page { items, more: false })
    }

    /// [`Store::leases_due`](crate::storage::Store::leases_due).
    pub(super) fn due_leases(&self, now: SystemTime, limit: usize) -> Result<Vec<ClaimId>, Error> {
        let prefix = keys::leases();
        let mut due = Vec::new();
        for entry in self.trees.index.scan_prefix(&prefix).take(limit) {
            let (key, _) = entry.map_err(storage("read leases"))?;
            let expires = keys::time_following(&key, &prefix)
                .ok_or_else(|| corrupt("read leases", "bad lease key"))?;
            if expires > now {
                break;
            }
            due.push(keys::id_at_end(&key).ok_or_else(|| corrupt("read leases", "bad lease key"))?);
        }
        Ok(due)
    }

    /// [`Store::next_lease_expiry`](crate::storage::Store::next_lease_expiry).
    pub(super) fn first_lease_expiry(&self) -> Result<Option<SystemTime>, Error> {
        let prefix = keys::leases();
        match self.first_under(&prefix)? {
            None => Ok(None),
            Some(key) => keys::time_following(&key, &prefix)
                .map(Some)
                .ok_or_else(|| corrupt("read leases", "bad lease key")),
        }
    }

    /// [`Store::queue_stats`](crate::storage::Store::queue_stats).
    pub(super) fn queue_counts(
        &self,
        story: Option<&str>,
        now: SystemTime,
    ) -> Result<QueueCounts, Error> {
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
        for entry in self.trees.index.scan_prefix(&prefix) {
            let (key, _) = entry.map_err(storage("read deadlines"))?;
            let deadline = keys::time_following(&key, &prefix)
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

    /// [`Store::events_since`](crate::storage::Store::events_since).
    pub(super) fn events_between(
        &self,
        after: u64,
        up_to: u64,
        limit: usize,
    ) -> Result<Vec<Event>, Error> {
        if after >= up_to {
            return Ok(Vec::new());
        }
        let range = keys::revision(after + 1)..=keys::revision(up_to);
        self.trees
            .events
            .range(range)
            .take(limit)
            .map(|entry| {
                let (_, bytes) = entry.map_err(storage("read history"))?;
                EventRecord::decode_stored(&bytes).map_err(|e| corrupt("read history", e))
            })
            .collect()
    }

    /// The first index key under `prefix`, if any.
    pub(super) fn first_under(&self, prefix: &[u8]) -> Result<Option<sled::IVec>, Error> {
        match self.trees.index.scan_prefix(prefix).next() {
            None => Ok(None),
            Some(entry) => Ok(Some(entry.map_err(storage("read index"))?.0)),
        }
    }

    fn read_counter(&self, key: &[u8]) -> Result<u64, Error> {
        match self
            .trees
            .counters
            .get(key)
            .map_err(storage("read counters"))?
        {
            Some(v) => read_count(&v).map_err(|_| corrupt("read counters", "bad counter")),
            None => Ok(0),
        }
    }

    /// A claim with the length of its stored record.
    fn load_sized(&self, id: ClaimId) -> Result<Option<(Claim, usize)>, Error> {
        match self
            .trees
            .claims
            .get(id.to_bytes())
            .map_err(storage("read claim"))?
        {
            Some(bytes) => ClaimRecord::decode(&bytes)
                .map(|claim| Some((claim, bytes.len())))
                .map_err(|e| corrupt("read claim", e)),
            None => Ok(None),
        }
    }

    pub(super) fn load(&self, key: &[u8]) -> Result<Option<Claim>, Error> {
        match self.trees.claims.get(key).map_err(storage("read claim"))? {
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
                let Some(entry) = self.trees.index.range(start..).next() else {
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

    /// A page of [`Store::list`](crate::storage::Store::list), read without
    /// waiting for durability.
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
                match self.trees.claims.range(from.to_bytes()..).next() {
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
                .trees
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

    /// A page of [`Store::events`](crate::storage::Store::events), read
    /// without waiting for durability.
    fn events_of(&self, id: ClaimId, after: u64, limit: PageLimit) -> Result<Page<Event>, Error> {
        if !self
            .trees
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
        for entry in self.trees.events_by_claim.range(start..=end) {
            let (key, _) = entry.map_err(storage("read history"))?;
            if limit.is_full(items.len(), read) {
                return Ok(Page { items, more: true });
            }
            // The key is id ‖ revision; a shorter one is a damaged index,
            // reported like every other damaged record rather than panicking.
            let revision = key
                .get(16..)
                .ok_or_else(|| corrupt("read history", "event index key too short"))?;
            let bytes = self
                .trees
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
