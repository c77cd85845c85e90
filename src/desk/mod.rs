//! The operations of the verification desk, as the transport calls them:
//! each one runs the storage work on tokio's blocking pool (sled blocks) and,
//! for a change, returns only once the change is durable. Also the two
//! long-running duties: returning claims whose lease ran out to the queue,
//! and feeding event watchers.
//!
//! Knows the domain and the [`Store`] trait; knows neither protobuf nor sled.

use std::{
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use tokio::sync::{Notify, broadcast::error::RecvError, mpsc, watch};

mod backup;
mod watch_buffer;

pub use backup::{BACKUP_PIECE, BackupStream, MAX_BACKUPS, PIECE_WAIT};

pub use watch_buffer::EventStream;
use watch_buffer::{WatchSender, watch_channel};

use crate::{
    clock::Clock,
    domain::{
        Action, Actor, Claim, ClaimId, Command, End, Event, LinkId, LinkStatus, NewClaim, Note,
        Relation, Slug, State, UserName, basis, link_claims, resolve_link,
    },
    error::Error,
    fingerprint,
    storage::{
        Change, ClaimFilter, Conflict, Page, PageLimit, PairChange, QueueCounts, QueueQuery,
        RequestKey, Store, Submitted, step,
    },
};

/// How the desk runs.
#[derive(Debug, Clone, Copy)]
pub struct DeskConfig {
    /// How long a checker holds a claim in review without acting on it.
    pub lease: Duration,
}

impl DeskConfig {
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(15 * 60);
}

impl Default for DeskConfig {
    fn default() -> Self {
        Self {
            lease: Self::DEFAULT_LEASE,
        }
    }
}

/// Events a watcher wants: of one story, leaving claims in some states.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub story: Option<Slug>,
    /// Empty: any state.
    pub states: Vec<State>,
}

impl EventFilter {
    pub fn matches(&self, event: &Event) -> bool {
        self.story.as_ref().is_none_or(|s| *s == event.story)
            && (self.states.is_empty() || self.states.contains(&event.to))
    }
}

/// Stored bytes one page of a listing reads, unless the server says
/// otherwise ([`Desk::with_page_bytes`]).
pub const DEFAULT_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Events a watcher may have waiting for it before it counts as too slow.
pub const WATCH_BUFFER: usize = 1024;
/// Bytes of events (their text, approximately) a watcher may have waiting
/// for it before it counts as too slow: events carry notes and evidence of
/// up to some kilobytes each, so a count alone would let one slow watcher
/// hold many megabytes.
pub const WATCH_BUFFER_BYTES: usize = 1024 * 1024;
/// Events read from storage at a time while a watcher catches up.
const REPLAY_PAGE: usize = 512;
/// Expired leases looked up per storage pass.
const EXPIRY_BATCH: usize = 256;

/// The verification desk: submits, reads and changes claims.
#[derive(Clone)]
pub struct Desk {
    store: Arc<dyn Store>,
    ids: Arc<Mutex<ulid::Generator>>,
    clock: Clock,
    config: DeskConfig,
    /// Woken whenever a lease is taken or renewed, so the lease sweeper can
    /// sleep until the earliest expiry.
    lease_taken: Arc<Notify>,
    /// Turns true when the server begins to shut down.
    stopping: Arc<watch::Sender<bool>>,
    /// Turns true once the store reports that it has failed for good.
    store_failed: Arc<watch::Sender<bool>>,
    /// Stored bytes a page of a listing reads before it ends early.
    page_bytes: usize,
    /// What the desk has done so far, for metrics.
    activity: Arc<Activity>,
    /// The places of the backups being taken ([`MAX_BACKUPS`]).
    backups: Arc<tokio::sync::Semaphore>,
}

/// Counts of what a desk has done since it started ([`Desk::activity`]).
#[derive(Debug, Default)]
pub struct Activity {
    watchers: AtomicU64,
    watchers_too_slow: AtomicU64,
    leases_expired: AtomicU64,
}

impl Activity {
    /// `WatchClaimEvents` streams open now.
    pub fn watchers(&self) -> u64 {
        self.watchers.load(Ordering::Relaxed)
    }

    /// Watchers ended since start because they fell too far behind.
    pub fn watchers_too_slow(&self) -> u64 {
        self.watchers_too_slow.load(Ordering::Relaxed)
    }

    /// Claims returned to the queue since start because their lease ran
    /// out.
    pub fn leases_expired(&self) -> u64 {
        self.leases_expired.load(Ordering::Relaxed)
    }
}

/// Counts one open watcher while it lives.
struct Watching(Arc<Activity>);

impl Watching {
    fn new(activity: &Arc<Activity>) -> Self {
        activity.watchers.fetch_add(1, Ordering::Relaxed);
        Self(activity.clone())
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Resolves once `feed` brings an event that gives a claim a lease (which
/// may run out before any the sweeper knows of), or once the feed lagged
/// (it may have missed one); never once the feed is closed.
async fn lease_given(feed: &mut tokio::sync::broadcast::Receiver<Arc<Event>>) {
    loop {
        match feed.recv().await {
            Ok(event) if matches!(event.action, Action::StartReview | Action::Reassign) => return,
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return,
            Err(RecvError::Closed) => std::future::pending().await,
        }
    }
}

impl Desk {
    /// A desk over `store`. Must be called inside a tokio runtime.
    pub fn new(store: Arc<dyn Store>, config: DeskConfig) -> Self {
        Self {
            store,
            ids: Arc::new(Mutex::new(ulid::Generator::new())),
            clock: Clock::start(),
            config,
            lease_taken: Arc::new(Notify::new()),
            stopping: Arc::new(watch::channel(false).0),
            store_failed: Arc::new(watch::channel(false).0),
            page_bytes: DEFAULT_PAGE_BYTES,
            activity: Arc::default(),
            backups: Arc::new(backup::places()),
        }
    }

    /// What the desk has done since it started.
    pub fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }

    /// The bytes the store takes on disk.
    pub async fn size_on_disk(&self) -> Result<u64, Error> {
        self.blocking(|store| store.size_on_disk()).await
    }

    /// Ends pages of listings early, with more to come, once they have
    /// read `bytes` of stored claims or events (a page holds at least one).
    pub fn with_page_bytes(mut self, bytes: usize) -> Self {
        self.page_bytes = bytes;
        self
    }

    fn page_limit(&self, items: usize) -> PageLimit {
        PageLimit {
            items,
            bytes: self.page_bytes,
        }
    }

    /// Passes `result` on, noting a failure of the store for good (see
    /// [`Desk::store_failed`]).
    fn noticed<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        if let Err(e) = &result
            && e.is_store_failure()
        {
            self.store_failed
                .send_if_modified(|failed| !std::mem::replace(failed, true));
        }
        result
    }

    /// Resolves once the store has failed for good (a durable flush
    /// failed): it refuses writes until the server is restarted, so the
    /// server should stop taking work (health NOT_SERVING).
    pub async fn store_failed(&self) {
        let mut failed = self.store_failed.subscribe();
        let _ = failed.wait_for(|failed| *failed).await;
    }

    /// Waits until every write made so far is durable.
    async fn durable(&self) -> Result<(), Error> {
        self.noticed(self.store.durable().wait().await)
    }

    /// Waits until every write made so far is durable; fails only if the
    /// caller's own change, ending at `revision`, is not (see
    /// [`Store::durable_for`]).
    async fn durable_for(&self, revision: u64) -> Result<(), Error> {
        self.noticed(self.store.durable_for(revision).wait().await)
    }

    /// The desk's current time.
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// A fresh id: time-ordered, and strictly increasing within this process
    /// even for ids made in the same millisecond.
    fn next_id(&self) -> ulid::Ulid {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        ids.generate()
            .unwrap_or_else(|overflow| overflow.commit_overflow_increment())
    }

    /// Runs blocking store work off the async workers. A panic in it becomes
    /// [`Error::Internal`] rather than taking the server down.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let store = self.store.clone();
        let result = tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| Error::Internal(format!("storage task failed: {e}")))
            .and_then(|r| r);
        self.noticed(result)
    }

    /// Submits a claim by `by`. With a request id, a retry of the same
    /// request by the same caller returns the claim made the first time.
    /// Request ids are scoped to their caller: editors' tools cannot collide
    /// with, or probe, each other's.
    pub async fn submit(
        &self,
        new: NewClaim,
        by: UserName,
        request_id: Option<String>,
    ) -> Result<Claim, Error> {
        let request = request_id.map(|id| RequestKey {
            caller: by.as_str().to_owned(),
            fingerprint: fingerprint::submission(&new, by.as_str()),
            id,
        });
        let id = ClaimId::from_ulid(self.next_id());
        let now = self.now();
        let submitted = self
            .blocking(move |store| {
                // Reading the statement's figures is work in proportion to
                // it: done here, off the async workers.
                let claim = Claim::submitted(id, new, by, now);
                store.submit(claim, request.as_ref())
            })
            .await?;
        // A replayed claim may come from a request still waiting for its own
        // flush: wait for durability in both cases.
        let claim = match submitted {
            Submitted::Created(claim) | Submitted::Replayed(claim) => claim,
        };
        self.durable_for(claim.revision).await?;
        Ok(claim)
    }

    /// A point read is answered on the async worker when the store can
    /// answer at once (it costs less than the trip to the blocking pool),
    /// else on the blocking pool.
    pub async fn get(&self, id: ClaimId) -> Result<Claim, Error> {
        if let Some(read) = self.store.get_at_once(id) {
            return self.noticed(read.and_then(|claim| claim.ok_or(Error::NotFound(id))));
        }
        self.blocking(move |store| store.get(id)?.ok_or(Error::NotFound(id)))
            .await
    }

    pub async fn list(
        &self,
        filter: ClaimFilter,
        after: Option<ClaimId>,
        limit: usize,
    ) -> Result<Page<Claim>, Error> {
        let limit = self.page_limit(limit);
        self.blocking(move |store| store.list(&filter, after, limit))
            .await
    }

    /// Applies `command` by `actor` to a claim, if `etag` is empty or still
    /// current.
    pub async fn change(
        &self,
        id: ClaimId,
        command: Command,
        actor: Actor,
        etag: String,
    ) -> Result<Claim, Error> {
        // The time is read here, where the clock is the runtime's (tests
        // pause it), not in the store's writer thread.
        let now = self.now();
        let change: Change = Arc::new(move |claim, peers| {
            claim.check_etag(&etag)?;
            claim.decide(command.clone(), &actor, now, peers)
        });
        let (claim, _events) = self.blocking(move |store| store.update(id, change)).await?;
        self.durable_for(claim.revision).await?;
        if claim.lease.is_some() {
            self.lease_taken.notify_one();
        }
        Ok(claim)
    }

    /// Links claim `id` to `other` as `relation` (`id` the subject of a
    /// directed one), confirmed: the desk's own link, on both claims, if
    /// `etag` is empty or still `id`'s. Returns `id`'s claim.
    pub async fn link(
        &self,
        id: ClaimId,
        other: ClaimId,
        relation: Relation,
        note: Note,
        actor: Actor,
        etag: String,
    ) -> Result<Claim, Error> {
        let now = self.now();
        let change = PairChange {
            other: Arc::new(move |_| Ok(other)),
            apply: Arc::new(move |a, b, link| {
                a.check_etag(&etag)?;
                link_claims(
                    a,
                    b,
                    link,
                    relation,
                    End::Subject,
                    LinkStatus::Confirmed,
                    note.clone(),
                    basis(relation, a, b),
                    &actor,
                    now,
                )
            }),
        };
        self.change_pair(id, change).await
    }

    /// Confirms or rejects link `link` of claim `id` (on both claims), if
    /// `etag` is empty or still `id`'s. Returns `id`'s claim.
    pub async fn resolve_link(
        &self,
        id: ClaimId,
        link: LinkId,
        status: LinkStatus,
        note: Note,
        actor: Actor,
        etag: String,
    ) -> Result<Claim, Error> {
        let now = self.now();
        let change = PairChange {
            other: Arc::new(move |a| {
                a.link(link)
                    .map(|l| l.other)
                    .ok_or(crate::domain::DomainError::NoSuchLink(link))
            }),
            apply: Arc::new(move |a, b, _| {
                a.check_etag(&etag)?;
                resolve_link(a, b, link, status, note.clone(), &actor, now)
            }),
        };
        self.change_pair(id, change).await
    }

    async fn change_pair(&self, id: ClaimId, change: PairChange) -> Result<Claim, Error> {
        let (claim, other) = self
            .blocking(move |store| store.update_pair(id, change))
            .await?;
        self.durable_for(claim.revision.max(other.revision)).await?;
        Ok(claim)
    }

    /// A page of the open contradictions of `story`, after link `after`.
    pub async fn conflicts(
        &self,
        story: Slug,
        after: Option<LinkId>,
        limit: usize,
    ) -> Result<Page<Conflict>, Error> {
        let limit = self.page_limit(limit);
        self.blocking(move |store| store.conflicts(&story, after, limit))
            .await
    }

    /// The command that takes a claim for review under the desk's lease.
    pub fn start_review_command(&self) -> Command {
        Command::StartReview {
            lease: self.config.lease,
        }
    }

    /// The command that gives a claim in review to `to` under the desk's
    /// lease.
    pub fn reassign_command(&self, to: UserName, note: Note) -> Command {
        Command::Reassign {
            to,
            lease: self.config.lease,
            note,
        }
    }

    /// Takes the most urgent waiting claim that `query` selects for
    /// `actor`, leased; [`Error::QueueEmpty`] if none waits.
    pub async fn take_next(&self, query: QueueQuery, actor: Actor) -> Result<Claim, Error> {
        let now = self.now();
        let command = self.start_review_command();
        let change = step(move |claim| claim.apply(command.clone(), &actor, now));
        let taken = self
            .blocking(move |store| store.take_next(&query, change))
            .await?;
        let Some((claim, _events)) = taken else {
            return Err(Error::QueueEmpty);
        };
        self.durable_for(claim.revision).await?;
        self.lease_taken.notify_one();
        Ok(claim)
    }

    /// Counts of the queue, of one story or of all.
    pub async fn queue_stats(&self, story: Option<Slug>) -> Result<QueueCounts, Error> {
        let now = self.now();
        self.blocking(move |store| store.queue_stats(story.as_ref().map(Slug::as_str), now))
            .await
    }

    /// Returns every claim whose lease has run out to the queue, as the
    /// system; returns how many.
    pub async fn expire_due_leases(&self) -> Result<usize, Error> {
        let mut expired = 0;
        loop {
            // One trip to the blocking pool per batch: find the claims due
            // and expire them.
            let clock = self.clock;
            let (done, full_batch) = self
                .blocking(move |store| {
                    let now = clock.now();
                    let due = store.leases_due(now, EXPIRY_BATCH)?;
                    let mut done = 0;
                    for &id in &due {
                        let result = store.update(
                            id,
                            step(move |claim| {
                                claim.apply(Command::ExpireLease, &Actor::system(), now)
                            }),
                        );
                        match result {
                            Ok(_) => done += 1,
                            // Renewed, released or ruled on in the meantime.
                            Err(Error::Rule(_) | Error::NotFound(_)) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    Ok((done, due.len() == EXPIRY_BATCH))
                })
                .await?;
            expired += done;
            self.activity
                .leases_expired
                .fetch_add(done as u64, Ordering::Relaxed);
            if !full_batch {
                break;
            }
        }
        if expired > 0 {
            self.durable().await?;
            tracing::info!(expired, "returned claims with expired leases to the queue");
        }
        Ok(expired)
    }

    /// Returns claims to the queue as their leases run out, until the desk
    /// stops. Sleeps until the earliest expiry, or until a lease is taken:
    /// here, or by any server of the same store (a review started or a
    /// claim reassigned in its feed of events).
    pub async fn run_lease_sweeper(self) {
        const FIRST_RETRY: Duration = Duration::from_secs(1);
        const LAST_RETRY: Duration = Duration::from_secs(60);
        let mut stopping = self.stopping.subscribe();
        let mut feed = self.store.subscribe().events;
        let mut retry: Option<Duration> = None;
        loop {
            match self.expire_due_leases().await {
                Ok(_) => retry = None,
                Err(e) => {
                    // Failing storage stays failed for a while (for good
                    // after a failed fsync): back off instead of spinning.
                    let wait = retry.map_or(FIRST_RETRY, |r| (r * 2).min(LAST_RETRY));
                    retry = Some(wait);
                    tracing::error!(error = %e, retry_secs = wait.as_secs(), "cannot expire leases");
                }
            }
            let next = self
                .blocking(|store| store.next_lease_expiry())
                .await
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, "cannot read leases");
                    None
                });
            // With no lease in sight, still look again once a minute.
            let now = tokio::time::Instant::now();
            let wake = match next {
                Some(t) => self.clock.instant_at(t),
                None => now + LAST_RETRY,
            };
            let wake = retry.map_or(wake, |r| wake.max(now + r));
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                () = self.lease_taken.notified() => {}
                () = lease_given(&mut feed) => {}
                _ = stopping.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Ends watchers and the lease sweeper: the server is shutting down.
    pub fn begin_shutdown(&self) {
        self.stopping.send_replace(true);
    }

    /// Streams the events after revision `after` that pass `filter`: first
    /// those stored, then new ones as they become durable, in revision order
    /// without gaps or duplicates. Ends with [`Error::WatcherTooSlow`] if
    /// the receiver falls [`WATCH_BUFFER`] events behind, and with
    /// [`Error::ShuttingDown`] when the server stops.
    /// [`Error::RevisionAhead`] if `after` is beyond the last stored
    /// revision (a client resuming against a store restored from an older
    /// backup must not silently skip events).
    pub fn watch(&self, after: u64, filter: EventFilter) -> Result<EventStream, Error> {
        self.watch_until(after, filter, std::future::pending())
    }

    /// As [`Desk::watch`], and the watch also ends, with the error `until`
    /// resolves to, when it does (e.g. once the watcher's credentials are
    /// revoked).
    pub fn watch_until(
        &self,
        after: u64,
        filter: EventFilter,
        until: impl Future<Output = Error> + Send + 'static,
    ) -> Result<EventStream, Error> {
        let latest = self.store.durable_revision();
        if after > latest {
            return Err(Error::RevisionAhead { after, latest });
        }
        let (tx, rx) = watch_channel(WATCH_BUFFER, WATCH_BUFFER_BYTES);
        let desk = self.clone();
        let watching = Watching::new(&self.activity);
        tokio::spawn(async move {
            let _watching = watching;
            let mut stopping = desk.stopping.subscribe();
            let end = tokio::select! {
                end = desk.feed(after, &filter, &tx) => end,
                _ = stopping.wait_for(|stop| *stop) => Err(Error::ShuttingDown),
                error = until => Err(error),
            };
            if let Err(e) = end {
                if matches!(e, Error::WatcherTooSlow) {
                    desk.activity
                        .watchers_too_slow
                        .fetch_add(1, Ordering::Relaxed);
                }
                // Waits for room: the watcher gets what is buffered, then the
                // reason; or it has gone away.
                tx.end(e).await;
            }
        });
        Ok(rx)
    }

    /// Sends events to a watcher until it goes away (`Ok`) or must be ended
    /// (`Err`).
    async fn feed(
        &self,
        mut last: u64,
        filter: &EventFilter,
        tx: &WatchSender,
    ) -> Result<(), Error> {
        // Catch up from storage first, without holding a live feed that a
        // long replay would overflow.
        loop {
            let durable = self.store.durable_revision();
            if last >= durable {
                break;
            }
            if !self.replay(&mut last, durable, filter, tx).await? {
                return Ok(());
            }
        }
        // Then subscribe, and replay what became durable in between.
        let mut live = self.store.subscribe();
        if !self
            .replay(&mut last, live.durable_revision, filter, tx)
            .await?
        {
            return Ok(());
        }
        loop {
            // A watcher whose filter rarely matches must still notice that
            // its client has gone.
            let received = tokio::select! {
                received = live.events.recv() => received,
                () = tx.closed() => return Ok(()),
            };
            let event = match received {
                Ok(event) => event,
                Err(RecvError::Lagged(_)) => return Err(Error::WatcherTooSlow),
                Err(RecvError::Closed) => return Err(Error::ShuttingDown),
            };
            if event.revision <= last {
                continue;
            }
            last = event.revision;
            if !filter.matches(&event) {
                continue;
            }
            match tx.try_send(Event::clone(&event)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(())) => return Err(Error::WatcherTooSlow),
                Err(mpsc::error::TrySendError::Closed(())) => return Ok(()),
            }
        }
    }

    /// Sends the stored events in `last+1..=up_to` that pass `filter`,
    /// moving `last`; `false` if the watcher went away.
    async fn replay(
        &self,
        last: &mut u64,
        up_to: u64,
        filter: &EventFilter,
        tx: &WatchSender,
    ) -> Result<bool, Error> {
        while *last < up_to {
            if tx.is_closed() {
                return Ok(false);
            }
            let after = *last;
            let page = self
                .blocking(move |store| store.events_since(after, up_to, REPLAY_PAGE))
                .await?;
            let Some(end) = page.last().map(|e| e.revision) else {
                return Err(Error::Internal(format!(
                    "events {after}..={up_to} are missing from storage"
                )));
            };
            for event in page {
                if filter.matches(&event) && !tx.send(event).await {
                    return Ok(false);
                }
            }
            *last = end;
        }
        Ok(true)
    }

    /// New evidence needs an id before the command is built.
    pub fn new_evidence_id(&self) -> ulid::Ulid {
        self.next_id()
    }

    pub async fn events(
        &self,
        id: ClaimId,
        after: u64,
        limit: usize,
    ) -> Result<Page<Event>, Error> {
        let limit = self.page_limit(limit);
        self.blocking(move |store| store.events(id, after, limit))
            .await
    }

    /// Resolves once everything written so far is on disk.
    pub async fn flush(&self) -> Result<(), Error> {
        self.durable().await
    }
}
