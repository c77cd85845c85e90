//! Publication of stored events to live watchers.
//!
//! An event is published only once it is durable, so a watcher never sees
//! an event that a crash could take back (its revision would then be reused
//! by another event). The writer hands each batch's committed events to the
//! hub as it commits them, so pending events are in revision order;
//! the committer takes the pending events before each flush and publishes
//! them after it succeeds.
//!
//! The broadcast channel never blocks the publisher: a watcher that falls
//! more than its capacity behind learns it (`Lagged`) and is ended, instead
//! of slowing writers or other watchers.

use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::broadcast;

use crate::domain::Event;

/// Live events lagging this many behind the newest are lost to a watcher.
pub const CAPACITY: usize = 4096;

/// A live feed of durable events, with the last revision durable when the
/// feed began: every later event arrives through the feed.
pub struct Subscription {
    pub events: broadcast::Receiver<Arc<Event>>,
    pub durable_revision: u64,
}

pub struct Hub {
    pending: Mutex<Vec<Event>>,
    /// The last published revision, and the sender. Subscribing and
    /// publishing take the same lock, so a subscriber misses nothing after
    /// the revision it is told and receives nothing before it.
    published: Mutex<(u64, broadcast::Sender<Arc<Event>>)>,
    /// Flushes begun and ended, for readers waiting for durability.
    flushes: Mutex<Flushes>,
    flush_ended: Condvar,
}

#[derive(Default)]
struct Flushes {
    begun: u64,
    ended: u64,
    /// A flush failed: nothing written since can be made durable.
    failed: bool,
}

impl Hub {
    /// A hub whose events up to `durable_revision` are already durable.
    pub fn new(durable_revision: u64) -> Self {
        Self {
            pending: Mutex::new(Vec::new()),
            published: Mutex::new((durable_revision, broadcast::channel(CAPACITY).0)),
            flushes: Mutex::new(Flushes::default()),
            flush_ended: Condvar::new(),
        }
    }

    /// A flush begins; call before [`Hub::take_pending`].
    pub fn flush_begins(&self) {
        lock(&self.flushes).begun += 1;
    }

    /// The flush failed, or the store failed otherwise (a batch of writes
    /// the database could not write): nothing written since the last
    /// published event will be made durable, and readers waiting for
    /// durability learn it.
    pub fn flush_failed(&self) {
        let mut flushes = lock(&self.flushes);
        flushes.failed = true;
        flushes.ended += 1;
        self.flush_ended.notify_all();
    }

    /// Blocks until the write of `revision`, already committed, is durable:
    /// until it is published, or until a flush begun after this call has
    /// ended (it covers every write committed before it). `start_flush` must
    /// make sure such a flush happens. `false` if a flush failed.
    pub fn wait_durable(&self, revision: u64, start_flush: impl FnOnce()) -> bool {
        let begun = lock(&self.flushes).begun;
        start_flush();
        let mut flushes = lock(&self.flushes);
        loop {
            if self.durable_revision() >= revision {
                return true;
            }
            if flushes.failed {
                return false;
            }
            if flushes.ended > begun {
                return true;
            }
            flushes = self
                .flush_ended
                .wait(flushes)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Queues committed events for publication after the next flush.
    pub fn committed(&self, events: Vec<Event>) {
        lock(&self.pending).extend(events);
    }

    /// The events committed so far; call before a flush.
    pub fn take_pending(&self) -> Vec<Event> {
        std::mem::take(&mut *lock(&self.pending))
    }

    /// Publishes events a flush made durable, in revision order, and
    /// tells waiting readers that the flush has ended.
    pub fn publish(&self, events: Vec<Event>) {
        {
            let mut published = lock(&self.published);
            for event in events {
                published.0 = event.revision;
                // No receivers is fine: nobody watches.
                let _ = published.1.send(Arc::new(event));
            }
        }
        // Not under `published`: a waiting reader holds `flushes` while it
        // reads the durable revision.
        lock(&self.flushes).ended += 1;
        self.flush_ended.notify_all();
    }

    pub fn subscribe(&self) -> Subscription {
        let published = lock(&self.published);
        Subscription {
            events: published.1.subscribe(),
            durable_revision: published.0,
        }
    }

    pub fn durable_revision(&self) -> u64 {
        lock(&self.published).0
    }
}

/// The data behind these locks stays consistent even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
