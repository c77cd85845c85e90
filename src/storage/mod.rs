//! Durable storage of claims, their indexes and their history.
//!
//! [`Store`] is the boundary: the rest of the service sees domain types and
//! [`crate::error::Error`], never the engine. [`SledStore`] implements it on
//! an embedded sled database; this module tree is the only place that knows
//! sled.
//!
//! Every method blocks on disk I/O, so async callers run them on tokio's
//! blocking pool. Writes are acknowledged only after [`Store::durable`] says
//! they reached the disk, and no read shows a write before then: a read
//! that meets a change newer than the last durable flush waits for the next
//! one (so does a refusal by the rules, which tells the claim's state and
//! etag). A crash can thus take back only what no client has seen.

pub mod backup;
mod candidates;
mod durability;
mod hub;
mod keys;
pub mod postgres;
pub(crate) mod records;
mod sled_store;

pub use backup::BackupSummary;
pub use durability::{Durable, FlushObserver};
pub use hub::Subscription;
pub use sled_store::{FlushHook, RestoreError, SledStore, StoreConfig};

use std::{sync::Arc, time::SystemTime};

use crate::{
    domain::{
        Changed, Claim, ClaimId, DomainError, Event, EventDraft, Link, LinkId, Peers, Priority,
        Slug, SourceName, State, UserName,
    },
    error::{self, Error},
};

/// A request id, scoped to the caller who sent it, with the fingerprint of
/// the request's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    pub caller: String,
    pub id: String,
    pub fingerprint: Fingerprint,
}

/// The fingerprint of a request in every version a stored request id may
/// have been recorded with (see [`crate::fingerprint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    /// The version stored with new request ids (2).
    pub current: [u8; 32],
    /// Version 1, to recognise retries of requests stored by earlier
    /// releases.
    pub v1: [u8; 32],
}

impl Fingerprint {
    /// The version new request records are stored with.
    pub const CURRENT_VERSION: u32 = 2;

    /// The fingerprint in `version`, if known.
    pub fn in_version(&self, version: u32) -> Option<&[u8; 32]> {
        match version {
            1 => Some(&self.v1),
            Self::CURRENT_VERSION => Some(&self.current),
            _ => None,
        }
    }
}

impl RequestKey {
    /// The record that keeps this request id for claim `id`, with the
    /// fingerprint of the current version.
    pub(crate) fn record(&self, id: ClaimId) -> Vec<u8> {
        use records::Record as _;
        records::RequestRecord {
            format: records::FORMAT,
            claim_id: id.to_string(),
            fingerprint: records::hex(&self.fingerprint.current),
            fingerprint_version: Some(Fingerprint::CURRENT_VERSION),
        }
        .encode()
    }

    /// The claim that the stored record `bytes` of this request id names,
    /// if it was recorded for the same request (its fingerprint in the
    /// version it was stored with); [`Error::RequestIdReused`] otherwise.
    pub(crate) fn replayed_claim(&self, bytes: &[u8]) -> Result<ClaimId, Error> {
        let corrupt = |e: &dyn std::fmt::Display| -> Error {
            error::StorageError::new("read request", format!("corrupt record: {e}")).into()
        };
        let known = records::RequestRecord::decode(bytes).map_err(|e| corrupt(&e))?;
        let version = known.fingerprint_version.unwrap_or(1);
        let expected = self
            .fingerprint
            .in_version(version)
            .ok_or_else(|| corrupt(&format!("fingerprint version {version}")))?;
        if known.fingerprint != records::hex(expected) {
            return Err(Error::RequestIdReused(self.id.clone()));
        }
        known.claim_id.parse().map_err(|e| corrupt(&e))
    }

    /// `caller 0x00 id`: caller names hold no control characters, so the
    /// pair is unambiguous.
    fn storage_key(&self) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.caller.len() + 1 + self.id.len());
        key.extend_from_slice(self.caller.as_bytes());
        key.push(0);
        key.extend_from_slice(self.id.as_bytes());
        key
    }
}

/// The result of a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// The claim was stored now.
    Created(Claim),
    /// The request id had been used for the same request: the claim it made.
    Replayed(Claim),
}

/// The comparison key of a source (see [`SourceName::normalized`]), by
/// which sources are filtered and indexed. Made only from a [`SourceName`],
/// so it holds no NUL byte, which the index keys rely on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceKey(String);

impl SourceKey {
    pub fn of(source: &SourceName) -> Self {
        Self(source.normalized())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Filters of a claim listing, combined with AND. Sources are compared by
/// their [`SourceKey`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimFilter {
    pub story: Option<Slug>,
    pub state: Option<State>,
    pub source: Option<SourceKey>,
    pub assignee: Option<UserName>,
}

impl ClaimFilter {
    /// Whether `claim` passes every filter.
    pub fn matches(&self, claim: &Claim) -> bool {
        self.story.as_ref().is_none_or(|s| claim.story == *s)
            && self.state.is_none_or(|s| claim.state == s)
            && self
                .source
                .as_ref()
                .is_none_or(|s| claim.attribution.source.normalized() == s.as_str())
            && self
                .assignee
                .as_ref()
                .is_none_or(|a| claim.assignee.as_ref() == Some(a))
    }
}

/// Which waiting claims a checker takes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueQuery {
    /// Only claims of this story.
    pub story: Option<Slug>,
    /// Only claims with at least one of these tags (none: any claim).
    pub tags: Vec<Slug>,
}

/// Counts of the queue, overall or of one story.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueCounts {
    /// Claims per state, for every state.
    pub states: Vec<(State, u64)>,
    /// Unverified claims per priority, for every priority.
    pub waiting: Vec<(Priority, u64)>,
    /// When the oldest unverified claim was submitted.
    pub oldest_waiting: Option<SystemTime>,
    /// Unverified or in-review claims whose deadline has passed.
    pub overdue: u64,
}

/// What walking the audit chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditReport {
    /// Every event from revision 1 on links to the one before it.
    Intact { events: u64 },
    /// The first event that does not check out, and why.
    Broken { revision: u64, reason: String },
}

/// How much one page of a listing may hold: at most `items` entries, and
/// no entry after the stored entries read reach `bytes` (a page always
/// holds at least one entry, if any is left). Bounds the memory and the
/// response of one call whatever the entries' sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit {
    pub items: usize,
    pub bytes: usize,
}

impl PageLimit {
    /// Whether a page of `items` entries, `bytes` of them read, is full.
    pub fn is_full(&self, items: usize, bytes: usize) -> bool {
        items >= self.items || (items > 0 && bytes >= self.bytes)
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Whether more items follow the last one.
    pub more: bool,
}

/// A change of a claim decided by the rules, given its current form and
/// the states of other claims (read as the change is applied): the changed
/// claim and its history entries, or why the rules refuse it. It may be
/// called more than once if the store retries, and on another thread than
/// the caller's (a store may write many callers' changes together).
pub type Change = Arc<dyn Fn(&Claim, &dyn Peers) -> Result<Changed, DomainError> + Send + Sync>;

/// A [`Change`] of one step of the rules ([`Claim::apply`]), which reads
/// no other claim.
pub fn step(
    f: impl Fn(&Claim) -> Result<(Claim, EventDraft), DomainError> + Send + Sync + 'static,
) -> Change {
    Arc::new(move |claim, _| f(claim).map(|(claim, event)| Changed::one(claim, event)))
}

/// A change of two claims at once, both written in one transaction (a link
/// made or resolved): given the first claim, `other` names the second;
/// `apply` changes both, given the id a new link takes (the revision of
/// the change's first event).
#[derive(Clone)]
pub struct PairChange {
    pub other: Partner,
    pub apply: PairApply,
}

/// See [`PairChange::other`].
pub type Partner = Arc<dyn Fn(&Claim) -> Result<ClaimId, DomainError> + Send + Sync>;

/// See [`PairChange::apply`].
pub type PairApply =
    Arc<dyn Fn(&Claim, &Claim, LinkId) -> Result<(Changed, Changed), DomainError> + Send + Sync>;

/// One open contradiction of a story, with both claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The subject claim's end of the link.
    pub link: Link,
    pub subject: Claim,
    pub object: Claim,
}

pub trait Store: Send + Sync + 'static {
    /// Stores a new claim (its `revision` is assigned here) together with its
    /// index entries, its submission event and, if given, its request id, in
    /// one transaction, with the links suggested by comparing it with the
    /// earlier claims of its story that count the same things or are worded
    /// the same ([`crate::domain::suggest`]), each on both claims with its
    /// events. A known request id with the same fingerprint replays
    /// the claim it made; with another fingerprint it fails with
    /// [`Error::RequestIdReused`].
    fn submit(&self, claim: Claim, request: Option<&RequestKey>) -> Result<Submitted, Error>;

    /// Stores many new claims, each exactly as [`Store::submit`] stores one
    /// without a request id (its revision, index entries, counters and
    /// submission event, linked into the audit chain), many to a
    /// transaction, in the order given; returns once all are durable, their
    /// events published like any write's. For filling a store fast (a
    /// benchmark's); fails if a claim's id is stored already, leaving the
    /// claims of earlier transactions stored.
    fn import(&self, claims: Vec<Claim>) -> Result<(), Error>;

    fn get(&self, id: ClaimId) -> Result<Option<Claim>, Error>;

    /// [`Store::get`] answered on the caller's thread when it needs no
    /// waiting: a point read that meets a claim already durable, or none.
    /// `None` when the answer would have to wait (for a flush); async
    /// callers then run [`Store::get`] on the blocking pool. A store whose
    /// reads may block for long returns `None` always (the default).
    fn get_at_once(&self, id: ClaimId) -> Option<Result<Option<Claim>, Error>> {
        let _ = id;
        None
    }

    /// A page of claims matching `filter` with ids greater than `after`,
    /// in id (that is, submission) order, served from the indexes.
    fn list(
        &self,
        filter: &ClaimFilter,
        after: Option<ClaimId>,
        limit: PageLimit,
    ) -> Result<Page<Claim>, Error>;

    /// Applies `change` to the claim and stores the result with its index
    /// entries and its events in one transaction. Returns the stored claim
    /// and events.
    fn update(&self, id: ClaimId, change: Change) -> Result<(Claim, Vec<Event>), Error>;

    /// Applies `change` to claim `id` and the claim it names, and stores
    /// both with their index entries and events in one transaction.
    /// Returns both as stored, `id`'s first. [`Error::NotFound`] if either
    /// does not exist.
    fn update_pair(&self, id: ClaimId, change: PairChange) -> Result<(Claim, Claim), Error>;

    /// A page of the open contradictions of `story` with link ids greater
    /// than `after`, oldest first.
    fn conflicts(
        &self,
        story: &Slug,
        after: Option<LinkId>,
        limit: PageLimit,
    ) -> Result<Page<Conflict>, Error>;

    /// A page of the events of a claim with revisions greater than `after`,
    /// oldest first. [`Error::NotFound`] if the claim does not exist.
    fn events(&self, id: ClaimId, after: u64, limit: PageLimit) -> Result<Page<Event>, Error>;

    /// Resolves once every write committed before the call is on disk.
    /// Concurrent callers share one flush (group commit).
    fn durable(&self) -> Durable;

    /// [`Store::durable`] for a caller whose own change ends at `revision`:
    /// should the flush waited for fail, it still succeeds if an earlier
    /// flush made `revision` durable (the failure then concerns only
    /// changes committed after it, by others).
    fn durable_for(&self, revision: u64) -> Durable {
        let _ = revision;
        self.durable()
    }

    /// Applies `change` to the first claim of the queue that `query`
    /// selects (by priority, deadline, submission), in one transaction with
    /// finding it, so no two callers get the same claim. `None` if no claim
    /// waits.
    fn take_next(
        &self,
        query: &QueueQuery,
        change: Change,
    ) -> Result<Option<(Claim, Vec<Event>)>, Error>;

    /// Up to `limit` claims in review whose lease ran out by `now`.
    fn leases_due(&self, now: SystemTime, limit: usize) -> Result<Vec<ClaimId>, Error>;

    /// When the first lease runs out, if any claim is leased.
    fn next_lease_expiry(&self) -> Result<Option<SystemTime>, Error>;

    /// Counts of the queue at `now`, of one story or of all.
    fn queue_stats(&self, story: Option<&str>, now: SystemTime) -> Result<QueueCounts, Error>;

    /// Up to `limit` events of any claim with revisions in `after+1..=up_to`,
    /// in revision order.
    fn events_since(&self, after: u64, up_to: u64, limit: usize) -> Result<Vec<Event>, Error>;

    /// A live feed of events as they become durable.
    fn subscribe(&self) -> Subscription;

    /// The last revision that is durable and published.
    fn durable_revision(&self) -> u64;

    /// Writes a copy of the store at one revision to `out`, in the backup
    /// format ([`backup`]), while writes go on (they wait, at most, for
    /// the copy to begin): every event up to that revision, and every claim
    /// and request id as they were then, all durable. A restore
    /// ([`SledStore::restore`]) rebuilds a store from it.
    fn backup(&self, out: &mut dyn std::io::Write) -> Result<BackupSummary, Error>;

    /// The bytes the store takes on disk.
    fn size_on_disk(&self) -> Result<u64, Error>;

    /// Whether the store can serve calls now, and each time that changes:
    /// `None` for a store that serves until it fails for good (which its
    /// errors tell: [`Error::is_store_failure`]). A store on a database
    /// server says `false` while the server cannot be reached, and `true`
    /// again once it answers.
    fn reachable(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        None
    }
}
