//! [`Store`] on [`PgStore`]: each method is the inherent method of the
//! same name.

use std::time::SystemTime;

use tokio::sync::watch;

use super::PgStore;
use crate::{
    domain::{Claim, ClaimId, Event, LinkId, Slug},
    error::Error,
    storage::{
        BackupSummary, Change, ClaimFilter, Conflict, Durable, Page, PageLimit, PairChange,
        QueueCounts, QueueQuery, RequestKey, Store, Submitted, Subscription,
    },
};

impl Store for PgStore {
    fn submit(&self, claim: Claim, request: Option<&RequestKey>) -> Result<Submitted, Error> {
        PgStore::submit(self, claim, request)
    }

    fn import(&self, claims: Vec<Claim>) -> Result<(), Error> {
        PgStore::import(self, claims)
    }

    fn get(&self, id: ClaimId) -> Result<Option<Claim>, Error> {
        PgStore::get(self, id)
    }

    fn list(
        &self,
        filter: &ClaimFilter,
        after: Option<ClaimId>,
        limit: PageLimit,
    ) -> Result<Page<Claim>, Error> {
        PgStore::list(self, filter, after, limit)
    }

    fn update(&self, id: ClaimId, change: Change) -> Result<(Claim, Vec<Event>), Error> {
        PgStore::update(self, id, change)
    }

    fn update_pair(&self, id: ClaimId, change: PairChange) -> Result<(Claim, Claim), Error> {
        PgStore::update_pair(self, id, change)
    }

    fn conflicts(
        &self,
        story: &Slug,
        after: Option<LinkId>,
        limit: PageLimit,
    ) -> Result<Page<Conflict>, Error> {
        PgStore::conflicts(self, story, after, limit)
    }

    fn events(&self, id: ClaimId, after: u64, limit: PageLimit) -> Result<Page<Event>, Error> {
        PgStore::events(self, id, after, limit)
    }

    fn durable(&self) -> Durable {
        PgStore::durable(self)
    }

    fn durable_for(&self, revision: u64) -> Durable {
        PgStore::durable_for(self, revision)
    }

    fn take_next(
        &self,
        query: &QueueQuery,
        change: Change,
    ) -> Result<Option<(Claim, Vec<Event>)>, Error> {
        PgStore::take_next(self, query, change)
    }

    fn leases_due(&self, now: SystemTime, limit: usize) -> Result<Vec<ClaimId>, Error> {
        PgStore::leases_due(self, now, limit)
    }

    fn next_lease_expiry(&self) -> Result<Option<SystemTime>, Error> {
        PgStore::next_lease_expiry(self)
    }

    fn queue_stats(&self, story: Option<&str>, now: SystemTime) -> Result<QueueCounts, Error> {
        PgStore::queue_stats(self, story, now)
    }

    fn events_since(&self, after: u64, up_to: u64, limit: usize) -> Result<Vec<Event>, Error> {
        PgStore::events_since(self, after, up_to, limit)
    }

    fn subscribe(&self) -> Subscription {
        PgStore::subscribe(self)
    }

    fn durable_revision(&self) -> u64 {
        PgStore::durable_revision(self)
    }

    fn backup(&self, out: &mut dyn std::io::Write) -> Result<BackupSummary, Error> {
        PgStore::backup(self, out)
    }

    fn size_on_disk(&self) -> Result<u64, Error> {
        PgStore::size_on_disk(self)
    }

    fn reachable(&self) -> Option<watch::Receiver<bool>> {
        PgStore::reachable(self)
    }
}
