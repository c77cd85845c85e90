//! A store for tests that wraps the real one and changes only what a test
//! needs: [`Intercepted`] implements [`Store`] once, telling an [`Intercept`]
//! of each call before forwarding it to the real store. A test store says
//! what it does per [`Call`] in one place, and a new store method needs one
//! edit here, not one per test store.

use std::time::SystemTime;

use claimdesk::{
    domain::{Claim, ClaimId, Event, LinkId, Slug},
    error::Error,
    storage::{
        BackupSummary, Change, ClaimFilter, Conflict, Durable, Page, PageLimit, PairChange,
        QueueCounts, QueueQuery, RequestKey, SledStore, Store, Submitted, Subscription,
    },
};

/// A fallible call of a [`Store`] method, with the claim it is about where
/// the method names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Submit,
    Import,
    Get(ClaimId),
    List,
    Update(ClaimId),
    UpdatePair(ClaimId),
    Conflicts,
    Events(ClaimId),
    TakeNext,
    LeasesDue,
    NextLeaseExpiry,
    QueueStats,
    EventsSince,
}

/// What a test store does besides the real store's work; each hook does
/// nothing of its own unless overridden.
pub trait Intercept: Send + Sync + 'static {
    /// Runs before `call` reaches the real store; an error fails the call
    /// without reaching it.
    fn before(&self, call: Call) -> Result<(), Error> {
        let _ = call;
        Ok(())
    }

    /// The change an `update` applies in the real store's transaction: the
    /// caller's unless overridden.
    fn update_change(&self, change: Change) -> Change {
        change
    }

    /// Waits for durability, given the real store as `inner`.
    fn durable(&self, inner: &dyn Store) -> Durable {
        inner.durable()
    }
}

/// The real sled store, with every call going through `hooks`.
pub struct Intercepted<I> {
    pub inner: SledStore,
    pub hooks: I,
}

impl<I: Intercept> Store for Intercepted<I> {
    fn submit(&self, claim: Claim, request: Option<&RequestKey>) -> Result<Submitted, Error> {
        self.hooks.before(Call::Submit)?;
        self.inner.submit(claim, request)
    }

    fn import(&self, claims: Vec<Claim>) -> Result<(), Error> {
        self.hooks.before(Call::Import)?;
        self.inner.import(claims)
    }

    fn get(&self, id: ClaimId) -> Result<Option<Claim>, Error> {
        self.hooks.before(Call::Get(id))?;
        self.inner.get(id)
    }

    fn list(
        &self,
        filter: &ClaimFilter,
        after: Option<ClaimId>,
        limit: PageLimit,
    ) -> Result<Page<Claim>, Error> {
        self.hooks.before(Call::List)?;
        self.inner.list(filter, after, limit)
    }

    fn update(&self, id: ClaimId, change: Change) -> Result<(Claim, Vec<Event>), Error> {
        self.hooks.before(Call::Update(id))?;
        self.inner.update(id, self.hooks.update_change(change))
    }

    fn update_pair(&self, id: ClaimId, change: PairChange) -> Result<(Claim, Claim), Error> {
        self.hooks.before(Call::UpdatePair(id))?;
        self.inner.update_pair(id, change)
    }

    fn conflicts(
        &self,
        story: &Slug,
        after: Option<LinkId>,
        limit: PageLimit,
    ) -> Result<Page<Conflict>, Error> {
        self.hooks.before(Call::Conflicts)?;
        self.inner.conflicts(story, after, limit)
    }

    fn events(&self, id: ClaimId, after: u64, limit: PageLimit) -> Result<Page<Event>, Error> {
        self.hooks.before(Call::Events(id))?;
        self.inner.events(id, after, limit)
    }

    fn durable(&self) -> Durable {
        self.hooks.durable(&self.inner)
    }

    fn take_next(
        &self,
        query: &QueueQuery,
        change: Change,
    ) -> Result<Option<(Claim, Vec<Event>)>, Error> {
        self.hooks.before(Call::TakeNext)?;
        self.inner.take_next(query, change)
    }

    fn leases_due(&self, now: SystemTime, limit: usize) -> Result<Vec<ClaimId>, Error> {
        self.hooks.before(Call::LeasesDue)?;
        self.inner.leases_due(now, limit)
    }

    fn next_lease_expiry(&self) -> Result<Option<SystemTime>, Error> {
        self.hooks.before(Call::NextLeaseExpiry)?;
        self.inner.next_lease_expiry()
    }

    fn queue_stats(&self, story: Option<&str>, now: SystemTime) -> Result<QueueCounts, Error> {
        self.hooks.before(Call::QueueStats)?;
        self.inner.queue_stats(story, now)
    }

    fn events_since(&self, after: u64, up_to: u64, limit: usize) -> Result<Vec<Event>, Error> {
        self.hooks.before(Call::EventsSince)?;
        self.inner.events_since(after, up_to, limit)
    }

    fn subscribe(&self) -> Subscription {
        self.inner.subscribe()
    }

    fn durable_revision(&self) -> u64 {
        self.inner.durable_revision()
    }

    fn backup(&self, out: &mut dyn std::io::Write) -> Result<BackupSummary, Error> {
        self.inner.backup(out)
    }

    fn size_on_disk(&self) -> Result<u64, Error> {
        self.inner.size_on_disk()
    }
}
