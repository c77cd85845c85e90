//! Taking from the queue, changes of two claims, and durability and the
//! live feed as the desk sees them.

use std::cell::RefCell;

use tokio::sync::{oneshot, watch};
use tokio_postgres::{Row, error::SqlState};

use super::{PgStore, Writer, corrupt, db};
use crate::{
    domain::{Changed, Claim, ClaimId, Event, State},
    error::{Error, StorageError},
    storage::{Change, Durable, PairChange, QueueQuery, Subscription, records::ClaimRecord},
};

/// Rows of each tag's queue a take looks at: the first rows not locked by
/// other takes are taken, so this bounds how many takes may be under way
/// at once before one of them finds a tag's queue seemingly empty; the
/// take then looks again, further.
const TAG_ROWS: i64 = 64;

/// Attempts of a change that PostgreSQL ended as a deadlock's victim or
/// whose second claim changed while it locked both.
const ATTEMPTS: usize = 100;

impl PgStore {
    /// [`Store::take_next`](crate::storage::Store::take_next): the first
    /// unverified claim of the queue `query` selects (by priority,
    /// deadline, submission) that no other change has locked, locked
    /// (`FOR NO KEY UPDATE SKIP LOCKED`) in the transaction that applies
    /// `change` to it: two takes, on any replicas, never get the same
    /// claim, and neither waits for the other.
    ///
    /// With tags, the first [`TAG_ROWS`] rows of each tag's queue are
    /// merged (one index range each) and the first unlocked claim of them
    /// taken; should all be locked, it looks again at twice as many.
    pub fn take_next(
        &self,
        query: &QueueQuery,
        change: Change,
    ) -> Result<Option<(Claim, Vec<Event>)>, Error> {
        for _ in 0..ATTEMPTS {
            match self.try_take(query, &change) {
                Err(e) if is_deadlock(&e) => continue,
                taken => return taken,
            }
        }
        Err(gave_up("take next claim"))
    }

    fn try_take(
        &self,
        query: &QueueQuery,
        change: &Change,
    ) -> Result<Option<(Claim, Vec<Event>)>, Error> {
        let mut client = self.client()?;
        let tx = self
            .block_on(client.transaction())
            .map_err(db("begin take"))?;
        let write = Writer {
            store: self,
            tx: &tx,
        };
        let Some(old) = write.queue_head(query)? else {
            return Ok(None);
        };
        let changed = write.decide(&old, change)?;
        let Changed { mut claim, events } = changed;
        let mut head = write.lock_head()?;
        let events = write.write(Some(&old), &mut claim, events, &mut head)?;
        write.store_head(&head)?;
        self.commit(tx, "commit take")?;
        Ok(Some((claim, events)))
    }

    /// [`Store::update_pair`](crate::storage::Store::update_pair): both
    /// claims locked, in id order (so that two changes of the same pair,
    /// begun from either end, queue instead of deadlocking), then `change`
    /// applied and both written with their events in one transaction. The
    /// second claim is named by the first as read before locking; if the
    /// first, once locked, names another, the transaction begins again.
    pub fn update_pair(&self, id: ClaimId, change: PairChange) -> Result<(Claim, Claim), Error> {
        for _ in 0..ATTEMPTS {
            match self.try_pair(id, &change) {
                Err(e) if is_deadlock(&e) => continue,
                Ok(None) => continue,
                Ok(Some(pair)) => return Ok(pair),
                Err(e) => return Err(e),
            }
        }
        Err(gave_up("update linked claims"))
    }

    /// One attempt of [`Self::update_pair`]; `None` if the first claim
    /// named another second claim once locked.
    fn try_pair(&self, id: ClaimId, change: &PairChange) -> Result<Option<(Claim, Claim)>, Error> {
        let named = {
            let a = self.get(id)?.ok_or(Error::NotFound(id))?;
            (change.other)(&a)?
        };
        let mut client = self.client()?;
        let tx = self
            .block_on(client.transaction())
            .map_err(db("begin change of linked claims"))?;
        let write = Writer {
            store: self,
            tx: &tx,
        };
        let (first, second) = if id < named { (id, named) } else { (named, id) };
        let locked_first = write.claim(first, true)?;
        let locked_second = if first == second {
            locked_first.clone()
        } else {
            write.claim(second, true)?
        };
        let (a, b) = if first == id {
            (locked_first, locked_second)
        } else {
            (locked_second, locked_first)
        };
        let a = a.ok_or(Error::NotFound(id))?;
        let other = (change.other)(&a)?;
        if other != named {
            return Ok(None);
        }
        let b = b.ok_or(Error::NotFound(other))?;
        let mut head = write.lock_head()?;
        let link = head.revision + 1;
        let (mut a_changed, mut b_changed) = (change.apply)(&a, &b, link)?;
        write.write(Some(&a), &mut a_changed.claim, a_changed.events, &mut head)?;
        write.write(Some(&b), &mut b_changed.claim, b_changed.events, &mut head)?;
        write.store_head(&head)?;
        self.commit(tx, "commit change of linked claims")?;
        Ok(Some((a_changed.claim, b_changed.claim)))
    }

    /// [`Store::durable`](crate::storage::Store::durable): every committed
    /// change is durable (see the module documentation of the store);
    /// this resolves once the changes committed before the call, through
    /// any replica, are published to this process's watchers (or after
    /// [`feed::PUBLISH_WAIT`](super::feed::PUBLISH_WAIT)), so that a watch
    /// begun afterwards may resume from any of their revisions. Fails if
    /// the database cannot be read.
    pub fn durable(&self) -> Durable {
        let (answer, answered) = oneshot::channel();
        let pool = self.pool.clone();
        let feed = self.feed.clone();
        self.runtime().spawn(async move {
            let head = async {
                let client = pool.get().await.map_err(|e| e.to_string())?;
                let row = client
                    .query_one("SELECT last_revision FROM chain_head", &[])
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
            };
            match head.await {
                Ok(revision) => feed.wait_published(revision, answer).await,
                Err(e) => {
                    let _ = answer.send(Err(StorageError::new("read the chain's end", e)
                        .with_kind(crate::error::StorageErrorKind::Unreachable)));
                }
            }
        });
        Durable::answered_by(answered)
    }

    /// [`Store::durable_for`](crate::storage::Store::durable_for): the
    /// change ending at `revision` is committed, so durable; this resolves
    /// once it is published to this process's watchers, or after
    /// [`feed::PUBLISH_WAIT`](super::feed::PUBLISH_WAIT) all the same.
    pub fn durable_for(&self, revision: u64) -> Durable {
        let (answer, answered) = oneshot::channel();
        self.runtime()
            .spawn(self.feed.clone().wait_published(revision, answer));
        Durable::answered_by(answered)
    }

    /// [`Store::subscribe`](crate::storage::Store::subscribe).
    pub fn subscribe(&self) -> Subscription {
        self.feed.hub.subscribe()
    }

    /// [`Store::durable_revision`](crate::storage::Store::durable_revision):
    /// the last revision published to this process's watchers.
    pub fn durable_revision(&self) -> u64 {
        self.feed.hub.durable_revision()
    }

    /// [`Store::reachable`](crate::storage::Store::reachable): as the feed
    /// last found the database.
    pub fn reachable(&self) -> Option<watch::Receiver<bool>> {
        Some(self.feed.reachable())
    }
}

impl Writer<'_> {
    /// The first claim of the queue `query` selects that no other change
    /// holds, locked for the rest of the transaction.
    fn queue_head(&self, query: &QueueQuery) -> Result<Option<Claim>, Error> {
        let story = query.story.as_ref().map(|s| s.as_str());
        if query.tags.is_empty() {
            let row = match story {
                None => self.store.block_on(self.query_opt(
                    "SELECT record FROM claims WHERE state = 'unverified' \
                     ORDER BY priority_rank, deadline, id LIMIT 1 \
                     FOR NO KEY UPDATE SKIP LOCKED",
                    &[],
                )),
                Some(story) => self.store.block_on(self.query_opt(
                    "SELECT record FROM claims WHERE state = 'unverified' AND story = $1 \
                     ORDER BY priority_rank, deadline, id LIMIT 1 \
                     FOR NO KEY UPDATE SKIP LOCKED",
                    &[&story],
                )),
            }
            .map_err(db("read queue"))?;
            return self.queued(row);
        }
        let tags: Vec<&str> = query.tags.iter().map(|t| t.as_str()).collect();
        // A story's tag queue is a range of its own index.
        let (of_story, story) = match story {
            Some(story) => ("t.story = $2 AND", story),
            None => ("$2 = '' AND", ""),
        };
        let mut rows = TAG_ROWS;
        loop {
            // Each tag's first rows (one index range each), merged; the
            // first of them not locked by another change is locked.
            let found = self
                .store
                .block_on(self.query(
                    &format!(
                        "SELECT c.record FROM ( \
                         SELECT h.claim_id, h.priority_rank, h.deadline \
                         FROM unnest($1::text[]) AS w(tag) \
                         CROSS JOIN LATERAL ( \
                             SELECT t.claim_id, t.priority_rank, t.deadline FROM claim_tags t \
                             WHERE {of_story} t.tag = w.tag \
                             ORDER BY t.priority_rank, t.deadline, t.claim_id LIMIT $3 \
                         ) h \
                     ) q JOIN claims c ON c.id = q.claim_id \
                     WHERE c.state = 'unverified' \
                     ORDER BY q.priority_rank, q.deadline, q.claim_id LIMIT 1 \
                     FOR NO KEY UPDATE OF c SKIP LOCKED"
                    ),
                    &[&tags, &story, &rows],
                ))
                .map_err(db("read tag queues"))?;
            if let Some(row) = found.into_iter().next() {
                return self.queued(Some(row));
            }
            // Nothing unlocked among the rows looked at: if every tag had
            // as many rows as were asked for, more may follow.
            let seen = self
                .store
                .block_on(self.query_one(
                    &format!(
                        "SELECT count(*) FROM unnest($1::text[]) AS w(tag) \
                     CROSS JOIN LATERAL ( \
                         SELECT 1 FROM claim_tags t \
                         WHERE {of_story} t.tag = w.tag \
                         ORDER BY t.priority_rank, t.deadline, t.claim_id LIMIT $3 \
                     ) h"
                    ),
                    &[&tags, &story, &rows],
                ))
                .map_err(db("read tag queues"))?;
            let seen: i64 = seen.get(0);
            if seen < rows {
                return Ok(None);
            }
            rows = rows.saturating_mul(2);
        }
    }

    /// The claim of a queue's row, which must be unverified (a take that
    /// committed while this one waited is seen through its new state).
    fn queued(&self, row: Option<Row>) -> Result<Option<Claim>, Error> {
        let Some(row) = row else {
            return Ok(None);
        };
        let claim = ClaimRecord::decode(row.get(0)).map_err(|e| corrupt("read queue", e))?;
        if claim.state != State::Unverified {
            return Err(corrupt("read queue", "a queued claim is not unverified"));
        }
        Ok(Some(claim))
    }

    /// `change` applied to `old`, with the states of other claims read in
    /// the same transaction; a failed read fails the change.
    pub(super) fn decide(&self, old: &Claim, change: &Change) -> Result<Changed, Error> {
        let failed = RefCell::new(None);
        let peers = |other: ClaimId| match self.claim(other, false) {
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
        Ok(decided?)
    }
}

/// Whether PostgreSQL ended the transaction to break a deadlock.
fn is_deadlock(e: &Error) -> bool {
    let Error::Storage(e) = e else {
        return false;
    };
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<tokio_postgres::Error>())
        .and_then(|e| e.code())
        == Some(&SqlState::T_R_DEADLOCK_DETECTED)
}

fn gave_up(context: &'static str) -> Error {
    StorageError::new(
        context,
        format!("ended as a deadlock's victim {ATTEMPTS} times in a row"),
    )
    .into()
}
#[cfg(test)]
mod tests;
