//! A store for tests that wraps the real one and changes only what a test
//! needs: [`Intercepted`] implements [`Store`] once, calling an [`Intercept`]
//! hook per method, and every hook forwards to the real store unless a test
//! store overrides it. A new store method thus needs one edit here, not one
//! per test store.

use std::time::SystemTime;

use claimdesk::{
    domain::{Claim, ClaimId, Event},
    error::Error,
    storage::{
        Change, ClaimFilter, Durable, Page, PageLimit, QueueCounts, QueueQuery, RequestKey,
        SledStore, Store, Submitted, Subscription,
    },
};

/// What a test store does instead of the real store's methods: one hook per
/// [`Store`] method, given the real store as `inner`; each forwards to it
/// unless overridden.
pub trait Intercept: Send + Sync + 'static {
    fn submit(
        &self,
        inner: &dyn Store,
        claim: Claim,
        request: Option<&RequestKey>,
    ) -> Result<Submitted, Error> {
        inner.submit(claim, request)
    }

    fn get(&self, inner: &dyn Store, id: ClaimId) -> Result<Option<Claim>, Error> {
        inner.get(id)
    }

    fn list(
        &self,
        inner: &dyn Store,
        filter: &ClaimFilter,
        after: Option<ClaimId>,
        limit: PageLimit,
    ) -> Result<Page<Claim>, Error> {
        inner.list(filter, after, limit)
    }

    fn update(
        &self,
        inner: &dyn Store,
        id: ClaimId,
        change: Change<'_>,
    ) -> Result<(Claim, Event), Error> {
        inner.update(id, change)
    }

    fn events(
        &self,
        inner: &dyn Store,
        id: ClaimId,
        after: u64,
        limit: PageLimit,
    ) -> Result<Page<Event>, Error> {
        inner.events(id, after, limit)
    }

    fn durable(&self, inner: &dyn Store) -> Durable {
        inner.durable()
    }

    fn take_next(
        &self,
        inner: &dyn Store,
        query: &QueueQuery,
        change: Change<'_>,
    ) -> Result<Option<(Claim, Event)>, Error> {
        inner.take_next(query, change)
    }

    fn leases_due(
        &self,
        inner: &dyn Store,
        now: SystemTime,
        limit: usize,
    ) -> Result<Vec<ClaimId>, Error> {
        inner.leases_due(now, limit)
    }

    fn next_lease_expiry(&self, inner: &dyn Store) -> Result<Option<SystemTime>, Error> {
        inner.next_lease_expiry()
    }

    fn queue_stats(
        &self,
        inner: &dyn Store,
        story: Option<&str>,
        now: SystemTime,
    ) -> Result<QueueCounts, Error> {
        inner.queue_stats(story, now)
    }

    fn events_since(
        &self,
        inner: &dyn Store,
        after: u64,
        up_to: u64,
        limit: usize,
    ) -> Result<Vec<Event>, Error> {
        inner.events_since(after, up_to, limit)
    }

    fn subscribe(&self, inner: &dyn Store) -> Subscription {
        inner.subscribe()
    }

    fn durable_revision(&self, inner: &dyn Store) -> u64 {
        inner.durable_revision()
    }
}

/// The real sled store, with every call going through `hooks`.
pub struct Intercepted<I> {
    pub inner: SledStore,
    pub hooks: I,
}

impl<I: Intercept> Store for Intercepted<I> {
    fn submit(&self, claim: Claim, request: Option<&RequestKey>) -> Result<Submitted, Error> {
        self.hooks.submit(&self.inner, claim, request)
    }

    fn get(&self, id: ClaimId) -> Result<Option<Claim>, Error> {
        self.hooks.get(&self.inner, id)
    }

    fn list(
        &self,
        filter: &ClaimFilter,
        after: Option<ClaimId>,
        limit: PageLimit,
    ) -> Result<Page<Claim>, Error> {
        self.hooks.list(&self.inner, filter, after, limit)
    }

    fn update(&self, id: ClaimId, change: Change<'_>) -> Result<(Claim, Event), Error> {
        self.hooks.update(&self.inner, id, change)
    }

    fn events(&self, id: ClaimId, after: u64, limit: PageLimit) -> Result<Page<Event>, Error> {
        self.hooks.events(&self.inner, id, after, limit)
    }

    fn durable(&self) -> Durable {
        self.hooks.durable(&self.inner)
    }

    fn take_next(
        &self,
        query: &QueueQuery,
        change: Change<'_>,
    ) -> Result<Option<(Claim, Event)>, Error> {
        self.hooks.take_next(&self.inner, query, change)
    }

    fn leases_due(&self, now: SystemTime, limit: usize) -> Result<Vec<ClaimId>, Error> {
        self.hooks.leases_due(&self.inner, now, limit)
    }

    fn next_lease_expiry(&self) -> Result<Option<SystemTime>, Error> {
        self.hooks.next_lease_expiry(&self.inner)
    }

    fn queue_stats(&self, story: Option<&str>, now: SystemTime) -> Result<QueueCounts, Error> {
        self.hooks.queue_stats(&self.inner, story, now)
    }

    fn events_since(&self, after: u64, up_to: u64, limit: usize) -> Result<Vec<Event>, Error> {
        self.hooks.events_since(&self.inner, after, up_to, limit)
    }

    fn subscribe(&self) -> Subscription {
        self.hooks.subscribe(&self.inner)
    }

    fn durable_revision(&self) -> u64 {
        self.hooks.durable_revision(&self.inner)
    }
}
