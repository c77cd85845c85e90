//! What the workloads need before they are measured: claims to read and
//! to review, submitted through the RPCs (every claim in the run's story),
//! and the watchers of the `watch` rows. Claims are submitted by
//! [`submit_claims`] alone; with `--preload`, most of the store is imported
//! before the server starts instead (`preload.rs`).

use std::{sync::Arc, time::Duration};

use tokio::{sync::watch, task::JoinHandle};

use super::{
    load::{Bounds, measure},
    workloads::{Job, Shared, Worker, submission},
};
use crate::{
    cli::{
        connect::{ConnectArgs, Connection},
        error::ClientError,
    },
    pb,
};

/// How long seeding may take.
const SEED_TIMEOUT: Duration = Duration::from_secs(600);
/// How long watchers may take to receive the events of the calls measured
/// after the calls are done.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Submits `count` claims to `story`, `in_flight` at a time over
/// `connections`; their names.
pub async fn submit_claims(
    connections: &[Connection],
    story: &str,
    count: u64,
    in_flight: usize,
) -> Result<Vec<String>, ClientError> {
    let shared = Arc::new(Shared {
        story: story.to_owned(),
        seeded: Vec::new(),
    });
    let workers = (0..in_flight.max(1))
        .map(|index| {
            let mut worker = Worker::new(
                Job::Submit,
                index,
                &connections[index % connections.len()],
                Arc::clone(&shared),
            );
            worker.submitted = Some(Vec::new());
            worker
        })
        .collect();
    let bounds = Bounds {
        duration: SEED_TIMEOUT,
        max_calls: Some(count),
    };
    let (_, workers) = measure(workers, bounds, None).await?;
    let names: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.submitted.unwrap_or_default())
        .collect();
    if (names.len() as u64) < count {
        return Err(ClientError::Failed(format!(
            "seeding submitted {} of {count} claims within {}s",
            names.len(),
            SEED_TIMEOUT.as_secs()
        )));
    }
    Ok(names)
}

/// The queue statistics of `story` (all of the server's for "").
async fn queue_stats(connection: &Connection, story: &str) -> Result<pb::QueueStats, ClientError> {
    Ok(connection
        .claims()
        .get_queue_stats(pb::GetQueueStatsRequest {
            story: story.to_owned(),
        })
        .await
        .map_err(ClientError::call("GetQueueStats", &connection.server))?
        .into_inner())
}

/// The sum of counts, negative ones (none are) as 0.
fn total(counts: impl Iterator<Item = i64>) -> u64 {
    counts.map(|c| u64::try_from(c).unwrap_or(0)).sum()
}

/// How many claims of `story` wait in the queue.
pub async fn waiting(connection: &Connection, story: &str) -> Result<u64, ClientError> {
    let stats = queue_stats(connection, story).await?;
    Ok(total(stats.waiting_counts.iter().map(|c| c.count)))
}

/// How many claims the server stores, in every state.
pub async fn stored(connection: &Connection) -> Result<u64, ClientError> {
    let stats = queue_stats(connection, "").await?;
    Ok(total(stats.state_counts.iter().map(|c| c.count)))
}

/// The revision of the newest event: that of a claim submitted for it.
async fn latest_revision(connection: &Connection, story: &str) -> Result<u64, ClientError> {
    let mut client = connection.claims();
    let claim = client
        .submit_claim(submission(story, 0, 0))
        .await
        .map_err(ClientError::call("SubmitClaim", &connection.server))?
        .into_inner();
    let events = client
        .list_claim_events(pb::ListClaimEventsRequest {
            name: claim.name,
            ..Default::default()
        })
        .await
        .map_err(ClientError::call("ListClaimEvents", &connection.server))?
        .into_inner();
    events
        .events
        .iter()
        .map(|e| e.revision)
        .max()
        .ok_or_else(|| ClientError::Failed("a new claim has no event".into()))
}

/// Watchers of every event, each on a connection of its own, reading
/// everything from the time they were opened.
pub struct Watchers {
    tasks: Vec<JoinHandle<Result<(), ClientError>>>,
    /// Events received by all of them so far.
    events: watch::Receiver<u64>,
}

impl Watchers {
    /// Opens `count` watchers (none for 0): of every event, or if `idle`,
    /// of the story `<story>-idle`, to which nothing is written.
    pub async fn open(
        connect: &ConnectArgs,
        some_connection: &Connection,
        story: &str,
        count: usize,
        idle: bool,
    ) -> Result<Self, ClientError> {
        let (counter, events) = watch::channel(0);
        let mut tasks = Vec::with_capacity(count);
        if count == 0 {
            return Ok(Self { tasks, events });
        }
        let after_revision = latest_revision(some_connection, story).await?;
        for _ in 0..count {
            let connection = connect.connect().await?;
            let mut stream = connection
                .claims()
                .watch_claim_events(pb::WatchClaimEventsRequest {
                    after_revision,
                    story: if idle {
                        format!("{story}-idle")
                    } else {
                        String::new()
                    },
                    ..Default::default()
                })
                .await
                .map_err(ClientError::call("WatchClaimEvents", &connection.server))?
                .into_inner();
            let counter = counter.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    match stream.message().await {
                        Ok(Some(_)) => counter.send_modify(|n| *n += 1),
                        Ok(None) => {
                            return Err(ClientError::Failed(
                                "a watcher's stream ended while it was measured".into(),
                            ));
                        }
                        Err(status) => {
                            return Err(ClientError::call("WatchClaimEvents", &connection.server)(
                                status,
                            ));
                        }
                    }
                }
            }));
        }
        Ok(Self { tasks, events })
    }

    /// Waits until the watchers have received `expected` events in all (one
    /// per watcher for each change made while they watched), then closes
    /// them; the events they received. Fails if one of them stopped, or if
    /// the events do not all arrive in time.
    pub async fn close(mut self, expected: u64) -> Result<u64, ClientError> {
        let arrived =
            tokio::time::timeout(DELIVERY_TIMEOUT, self.events.wait_for(|n| *n >= expected))
                .await
                .is_ok_and(|waited| waited.is_ok());
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            match task.await {
                Ok(Err(e)) => return Err(e),
                Ok(Ok(())) => {}
                Err(e) if e.is_cancelled() => {}
                Err(e) => {
                    return Err(ClientError::Failed(format!("a watcher failed: {e}")));
                }
            }
        }
        let received = *self.events.borrow();
        if !arrived {
            return Err(ClientError::Failed(format!(
                "the watchers received {received} of {expected} events within {}s",
                DELIVERY_TIMEOUT.as_secs()
            )));
        }
        Ok(received)
    }
}
