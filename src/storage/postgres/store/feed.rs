//! The feed of committed events to this process's watchers, and the
//! store's view of whether the database can be reached.
//!
//! Every change notifies the store's channel (`pg_notify`, delivered when,
//! and only if, the change commits). A task on the store's runtime holds a
//! connection of its own that listens on the channel; when woken (by a
//! notification, by a change made in this process, or every [`POLL`] in
//! case a notification was missed while it reconnected) it reads the
//! events after the last one it published, in revision order, and
//! publishes them to the [`Hub`]. The events table is the source of truth,
//! the notification only a wake-up: every replica's watchers see every
//! event committed through any replica, once each, in revision order.
//!
//! Revisions are given under the chain's row lock, which a change holds
//! until it has committed and become visible, so a reader that sees
//! revision `n` sees every revision before it: reading `revision > last`
//! never skips an event that commits later.
//!
//! The same task tells whether the database can be reached: it marks it
//! unreachable when its connection fails or a read does not answer within
//! [`PROBE_TIMEOUT`], and reachable once it has connected again and read.

use std::{sync::Arc, time::Duration};

use tokio::sync::{Notify, oneshot, watch};
use tokio_postgres::{AsyncMessage, Client, NoTls};

use crate::{
    domain::Event,
    error::StorageError,
    storage::{hub::Hub, records::EventRecord},
};

/// How often the feed reads the events table without being woken, and
/// probes the database.
const POLL: Duration = Duration::from_secs(1);

/// How long a read of the feed may take before the database is taken for
/// unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Events read per statement.
const PAGE: i64 = 1000;

/// The first and the longest wait before connecting again.
const RECONNECT_FIRST: Duration = Duration::from_millis(200);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// How long a writer waits for its own change to reach this process's
/// watchers before it returns all the same (the change is committed, so
/// durable, either way).
pub(super) const PUBLISH_WAIT: Duration = Duration::from_secs(5);

/// The state the feed task shares with the store.
pub(super) struct Feed {
    pub(super) hub: Hub,
    /// The last revision published to the hub.
    published: watch::Sender<u64>,
    /// Wakes the task: a change was committed in this process, or a call
    /// found the database unreachable.
    poke: Notify,
    reachable: watch::Sender<bool>,
}

impl Feed {
    /// A feed whose events up to `revision` need no publishing (watchers
    /// read them from the table).
    pub(super) fn new(revision: u64) -> Arc<Self> {
        Arc::new(Self {
            hub: Hub::new(revision),
            published: watch::channel(revision).0,
            poke: Notify::new(),
            reachable: watch::channel(true).0,
        })
    }

    /// Asks the task to read the table now.
    pub(super) fn poke(&self) {
        self.poke.notify_one();
    }

    /// A call could not reach the database: say so until the task has
    /// reached it again.
    pub(super) fn unreachable(&self) {
        self.set_reachable(false);
        self.poke();
    }

    fn set_reachable(&self, reachable: bool) {
        self.reachable.send_if_modified(|now| {
            let changed = *now != reachable;
            *now = reachable;
            changed
        });
    }

    pub(super) fn reachable(&self) -> watch::Receiver<bool> {
        self.reachable.subscribe()
    }

    /// Resolves `answer` once revision `revision` is published here, or
    /// after [`PUBLISH_WAIT`].
    pub(super) async fn wait_published(
        self: Arc<Self>,
        revision: u64,
        answer: oneshot::Sender<Result<(), StorageError>>,
    ) {
        let mut published = self.published.subscribe();
        self.poke();
        let waited = tokio::time::timeout(
            PUBLISH_WAIT,
            published.wait_for(|published| *published >= revision),
        )
        .await;
        if waited.is_err() {
            tracing::warn!(
                revision,
                "a committed change is not yet read back for this server's watchers"
            );
        }
        let _ = answer.send(Ok(()));
    }

    fn publish(&self, events: Vec<Event>) {
        let Some(last) = events.last().map(|e| e.revision) else {
            return;
        };
        self.hub.publish(events);
        self.published.send_replace(last);
    }
}

/// Runs the feed for the schema whose changes notify `channel`, connecting
/// with `config`, until the store's runtime shuts down.
pub(super) async fn run(feed: Arc<Feed>, config: tokio_postgres::Config, channel: String) {
    let mut wait = RECONNECT_FIRST;
    loop {
        let error = listen(&feed, &config, &channel, &mut wait).await;
        if *feed.reachable.borrow() {
            tracing::warn!(error = %error, "lost the database; reconnecting");
        } else {
            tracing::debug!(error = %error, "the database is still unreachable");
        }
        feed.set_reachable(false);
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(RECONNECT_MAX);
    }
}

/// Connects, listens and publishes until something fails; returns what.
async fn listen(
    feed: &Feed,
    config: &tokio_postgres::Config,
    channel: &str,
    wait: &mut Duration,
) -> String {
    let (client, mut connection) =
        match tokio::time::timeout(PROBE_TIMEOUT, config.connect(NoTls)).await {
            Ok(Ok(connected)) => connected,
            Ok(Err(e)) => return format!("cannot connect: {e}"),
            Err(_) => return "cannot connect: timed out".to_owned(),
        };
    let woken = Arc::new(Notify::new());
    let notified = woken.clone();
    let mut connection = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(_))) => notified.notify_one(),
                Some(Ok(_)) => {}
                Some(Err(e)) => return format!("connection failed: {e}"),
                None => return "connection closed".to_owned(),
            }
        }
    });
    let listening = client
        .batch_execute(&format!("LISTEN {}", quote_identifier(channel)))
        .await;
    if let Err(e) = listening {
        connection.abort();
        return format!("cannot listen: {e}");
    }
    let mut first = true;
    loop {
        match tokio::time::timeout(PROBE_TIMEOUT, catch_up(feed, &client)).await {
            Ok(Ok(())) => {
                if first {
                    first = false;
                    *wait = RECONNECT_FIRST;
                    if !*feed.reachable.borrow() {
                        tracing::info!("the database answers again");
                    }
                }
                feed.set_reachable(true);
            }
            Ok(Err(e)) => {
                connection.abort();
                return format!("cannot read events: {e}");
            }
            Err(_) => {
                connection.abort();
                return "reading events timed out".to_owned();
            }
        }
        tokio::select! {
            () = woken.notified() => {}
            () = feed.poke.notified() => {}
            () = tokio::time::sleep(POLL) => {}
            ended = &mut connection => {
                return ended.unwrap_or_else(|e| format!("connection task failed: {e}"));
            }
        }
    }
}

/// Publishes every committed event after the last published one.
async fn catch_up(feed: &Feed, client: &Client) -> Result<(), String> {
    let statement = client
        .prepare(
            "SELECT revision, record FROM events WHERE revision > $1 ORDER BY revision LIMIT $2",
        )
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let after = feed.hub.durable_revision();
        let after_sql = i64::try_from(after).map_err(|_| format!("revision {after} too large"))?;
        let rows = client
            .query(&statement, &[&after_sql, &PAGE])
            .await
            .map_err(|e| e.to_string())?;
        let mut events = Vec::with_capacity(rows.len());
        for (expected, row) in (after + 1..).zip(&rows) {
            let revision: i64 = row.get(0);
            if u64::try_from(revision).ok() != Some(expected) {
                // Cannot happen while revisions commit in order (see the
                // module documentation); publishing past a gap would lose
                // the missing event for good, so it waits for the next
                // read instead.
                tracing::error!(expected, found = revision, "a gap in the events read");
                break;
            }
            let event = EventRecord::decode(row.get(1))
                .map_err(|e| format!("corrupt event {revision}: {e}"))?;
            events.push(event);
        }
        let full = i64::try_from(events.len()).unwrap_or(i64::MAX) == PAGE;
        feed.publish(events);
        if !full {
            return Ok(());
        }
    }
}

/// `name` as a quoted SQL identifier.
pub(super) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
