//! The single writer: one thread applies every change to the store.
//!
//! Callers queue an [`Op`] and wait for its answer. The writer drains the
//! queue and applies what it took as one *batch*: every op in turn, in one
//! sled transaction, so each sees the effect of the ops before it (a
//! submission the earlier one made with the same request id, a claim an
//! earlier take took off the queue). One transaction per batch, not per
//! change, is what lets many concurrent writes cost little more than one;
//! the committer then makes the batch durable with one flush and fsync.
//!
//! An op the rules refuse (or that names no claim) writes nothing and gets
//! its refusal; the others are unaffected. An op that fails after it began
//! writing (a corrupt record, a panic) aborts the transaction: it gets its
//! error and the batch is applied again without it. A failure of sled
//! itself fails the whole batch and the store, which refuses every write
//! from then on, as after a failed durable flush.
//!
//! Revisions are given in the order the ops are applied, gap-free: an op
//! refused writes no event. Before the transaction commits, the writer
//! announces the revisions it may make visible (see `SledStore::settle`);
//! after it, it hands the batch's events to the hub in revision order.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc,
    },
    thread,
};

use super::{META_FORMAT, STORE_FORMAT, Trees, backup::Backups, write::Tx};
use crate::{
    domain::{Claim, ClaimId, Event, Wording},
    error::{Error, StorageError},
    storage::{Change, PairChange, QueueQuery, RequestKey, Submitted, hub::Hub},
};

/// Ops applied in one transaction at most: bounds the memory of a batch and
/// the wait of its first op.
const MAX_BATCH: usize = 256;

/// Where an op's answer goes.
type Reply<T> = mpsc::SyncSender<Result<T, Error>>;

/// One change queued for the writer, with where its answer goes.
pub(super) enum Op {
    Submit {
        claim: Box<New>,
        request: Option<RequestKey>,
        reply: Reply<Submitted>,
    },
    Update {
        id: ClaimId,
        change: Change,
        reply: Reply<(Claim, Vec<Event>)>,
    },
    /// A change of two claims.
    Pair {
        id: ClaimId,
        change: PairChange,
        reply: Reply<(Claim, Claim)>,
    },
    TakeNext {
        query: QueueQuery,
        change: Change,
        reply: Reply<Option<(Claim, Vec<Event>)>>,
    },
    /// New claims, in a transaction of their own.
    Import { claims: Vec<New>, reply: Reply<()> },
}

/// A new claim with its wording, read by the caller (on its own thread,
/// not the writer's: reading a statement costs as much as a small write).
pub(super) struct New {
    pub claim: Claim,
    pub wording: Wording,
}

impl New {
    pub fn of(claim: Claim) -> Self {
        let wording = Wording::of(claim.statement.as_str());
        Self { claim, wording }
    }
}

/// What an op did.
pub(super) enum Outcome {
    Submitted(Submitted),
    Changed(Claim, Vec<Event>),
    Paired(Box<(Claim, Claim)>),
    Taken(Option<(Claim, Vec<Event>)>),
    Imported,
}

impl Op {
    pub(super) fn context(&self) -> &'static str {
        match self {
            Op::Submit { .. } => "submit claim",
            Op::Update { .. } => "update claim",
            Op::Pair { .. } => "update linked claims",
            Op::TakeNext { .. } => "take next claim",
            Op::Import { .. } => "import claims",
        }
    }

    /// Sends the answer; a caller that has gone away misses nothing.
    fn answer(self, result: Result<Outcome, Error>) {
        /// Sends what `pick` finds in the outcome; a caller that has gone
        /// away misses nothing.
        fn send<T>(
            reply: Reply<T>,
            result: Result<Outcome, Error>,
            pick: fn(Outcome) -> Option<T>,
        ) {
            let _ = reply.send(result.and_then(|outcome| {
                pick(outcome).ok_or_else(|| {
                    Error::Internal("the writer answered an op with another's outcome".into())
                })
            }));
        }
        match self {
            Op::Submit { reply, .. } => send(reply, result, |o| match o {
                Outcome::Submitted(submitted) => Some(submitted),
                _ => None,
            }),
            Op::Update { reply, .. } => send(reply, result, |o| match o {
                Outcome::Changed(claim, events) => Some((claim, events)),
                _ => None,
            }),
            Op::Pair { reply, .. } => send(reply, result, |o| match o {
                Outcome::Paired(pair) => Some(*pair),
                _ => None,
            }),
            Op::TakeNext { reply, .. } => send(reply, result, |o| match o {
                Outcome::Taken(taken) => Some(taken),
                _ => None,
            }),
            Op::Import { reply, .. } => send(reply, result, |o| match o {
                Outcome::Imported => Some(()),
                _ => None,
            }),
        }
    }
}

/// Revisions shared by the writer and the readers.
#[derive(Debug)]
pub(super) struct Marks {
    /// The highest revision a write may have made visible to readers: set
    /// before a transaction commits, so a reader that saw a write also sees
    /// its revision here (see `SledStore::settle`).
    pub visible: AtomicU64,
    /// The revision of the last committed write; changed by the writer
    /// only.
    pub committed: AtomicU64,
    /// Whether `meta` says [`STORE_FORMAT`]; false until the first write to
    /// a store of an earlier format. Changed by the writer only.
    pub format_marked: AtomicBool,
    /// Whether the writer writes records in JSON, as earlier releases did
    /// (see [`WRITE_JSON`](crate::storage::records::WRITE_JSON)).
    #[cfg(test)]
    pub write_json: AtomicBool,
    /// Batches committed so far (one transaction each).
    pub batches: AtomicU64,
    /// Changes committed so far (one event each).
    pub changes: AtomicU64,
}

/// What the writer thread writes to.
pub(super) struct WriteSide {
    pub trees: Trees,
    pub marks: Arc<Marks>,
    pub hub: Arc<Hub>,
    /// Set by the committer once a durable flush failed: every write is
    /// refused from then on.
    pub failed: Arc<AtomicBool>,
    /// The backups being taken; locked by the writer for each batch, from
    /// its first op to its commit, so a backup begins between two batches.
    pub backups: Arc<Mutex<Backups>>,
}

/// Handle to the writer thread. The thread ends when the handle is dropped,
/// after applying the ops already queued, and releases the trees.
pub(super) struct Writer {
    /// `None` only while dropping.
    queue: Option<mpsc::Sender<Op>>,
    thread: Option<thread::JoinHandle<()>>,
    /// The store's failed flag (see [`WriteSide::failed`]).
    failed: Arc<AtomicBool>,
}

/// How often a caller still waiting for the writer looks whether the store
/// has failed meanwhile: then it is answered at once, even if the writer is
/// held up in the database by the failing disk.
const FAILED_POLL: std::time::Duration = std::time::Duration::from_millis(50);

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the writer thread panicked");
        }
    }
}

fn writer_stopped(context: &'static str) -> Error {
    StorageError::failed(context, "the writer thread has stopped").into()
}

impl Writer {
    pub fn start(side: WriteSide) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Op>();
        let failed = side.failed.clone();
        let thread = thread::Builder::new()
            .name("claimdesk-writer".into())
            .spawn(move || side.run(&rx))?;
        Ok(Self {
            queue: Some(tx),
            thread: Some(thread),
            failed,
        })
    }

    /// Queues the op `make` builds around its reply, and waits for the
    /// answer, or until the store has failed: the op may then be applied
    /// all the same, but is never made durable.
    pub fn call<T>(
        &self,
        context: &'static str,
        make: impl FnOnce(Reply<T>) -> Op,
    ) -> Result<T, Error> {
        let (reply, answer) = mpsc::sync_channel(1);
        let queue = self.queue.as_ref().ok_or_else(|| writer_stopped(context))?;
        queue
            .send(make(reply))
            .map_err(|_| writer_stopped(context))?;
        loop {
            match answer.recv_timeout(FAILED_POLL) {
                Ok(result) => return result,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(writer_stopped(context)),
                Err(mpsc::RecvTimeoutError::Timeout) if self.failed.load(Ordering::Acquire) => {
                    // An answer that came meanwhile says more.
                    return answer.try_recv().unwrap_or_else(|_| {
                        Err(StorageError::failed(
                            context,
                            "the store failed while the change waited for the writer",
                        )
                        .into())
                    });
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }
}

impl WriteSide {
    /// A second view of what `store`'s writer writes to, for tests that
    /// apply a batch of their own choosing while that writer is idle.
    #[cfg(test)]
    pub fn of(store: &super::SledStore) -> Self {
        Self {
            trees: store.trees.clone(),
            marks: store.marks.clone(),
            hub: store.hub.clone(),
            failed: store.committer.failed_flag(),
            backups: store.backups.clone(),
        }
    }

    fn run(self, queue: &mpsc::Receiver<Op>) {
        let mut waiting: VecDeque<Op> = VecDeque::new();
        loop {
            if waiting.is_empty() {
                match queue.recv() {
                    Ok(op) => waiting.push_back(op),
                    Err(_) => return,
                }
            }
            let room = MAX_BATCH.saturating_sub(waiting.len());
            waiting.extend(queue.try_iter().take(room));
            // An import is a transaction of its own.
            let batch: Vec<Op> = if matches!(waiting.front(), Some(Op::Import { .. })) {
                waiting.pop_front().into_iter().collect()
            } else {
                let end = waiting
                    .iter()
                    .position(|op| matches!(op, Op::Import { .. }))
                    .unwrap_or(waiting.len());
                waiting.drain(..end).collect()
            };
            self.apply(batch);
        }
    }

    /// Applies `ops` as one batch and answers each.
    fn apply(&self, ops: Vec<Op>) {
        if self.failed.load(Ordering::Acquire) {
            for op in ops {
                let context = op.context();
                op.answer(Err(StorageError::failed(
                    context,
                    "an earlier durable flush failed",
                )
                .into()));
            }
            return;
        }
        #[cfg(test)]
        crate::storage::records::WRITE_JSON.set(self.marks.write_json.load(Ordering::SeqCst));
        let backups = self
            .backups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = Tx::new(self);
        let outcomes: Vec<Result<Outcome, Error>> = ops.iter().map(|op| tx.run(op)).collect();
        if tx.is_empty() {
            // Refusals and replays only: nothing to write.
            for (op, outcome) in ops.into_iter().zip(outcomes) {
                op.answer(outcome);
            }
            return;
        }
        let mark_format = !self.marks.format_marked.load(Ordering::SeqCst);
        if mark_format {
            tx.mark_format(META_FORMAT, STORE_FORMAT);
        }
        let kept = tx.keep_for_backups(backups.sessions());
        let (staged, written) = tx.into_parts();
        let committed = match kept {
            Ok(()) => self.commit(&staged, &written),
            Err(e) => Err(StorageError::new("keep values for a backup", e.to_string())),
        };
        drop(backups);
        match committed {
            Ok(()) => {
                if mark_format {
                    self.marks.format_marked.store(true, Ordering::SeqCst);
                    tracing::info!(
                        to = STORE_FORMAT,
                        "the store takes records in the current format from now on; earlier releases will not open it"
                    );
                }
                tracing::trace!(ops = ops.len(), events = written.len(), "batch committed");
                self.marks.batches.fetch_add(1, Ordering::Relaxed);
                self.marks
                    .changes
                    .fetch_add(written.len() as u64, Ordering::Relaxed);
                self.hub.committed(written);
                for (op, outcome) in ops.into_iter().zip(outcomes) {
                    op.answer(outcome);
                }
            }
            Err(error) => {
                // sled may have applied part of the transaction in memory
                // and may or may not write it: the store fails, as after a
                // failed flush, and readers waiting for durability learn it.
                self.failed.store(true, Ordering::Release);
                self.hub.flush_failed();
                tracing::error!(error = %error, ops = ops.len(), "a batch of writes failed; refusing further writes");
                for (op, outcome) in ops.into_iter().zip(outcomes) {
                    // An op refused by the rules was refused whatever the
                    // others did; the rest are not stored.
                    op.answer(outcome.and(Err(error.clone().into())));
                }
            }
        }
    }

    /// Writes what a batch staged in one transaction.
    fn commit(
        &self,
        staged: &[BTreeMap<Vec<u8>, Option<sled::IVec>>; 8],
        written: &[Event],
    ) -> Result<(), StorageError> {
        let marks = &self.marks;
        let committed = marks.committed.load(Ordering::SeqCst);
        let last = written.last().map_or(committed, |e| e.revision);
        // Announced before the commit, so no reader can see the write and
        // then miss that it is not durable yet.
        marks.visible.store(last, Ordering::SeqCst);
        // Recorded whole first, so that a transaction that fails half-way
        // is not recovered half-way (see `pending.rs`).
        // If it fails, some of the writes may be visible: `visible` stays,
        // so reads of them wait for a durable flush, which the store
        // refuses from then on.
        super::pending::write(&self.trees, staged)?;
        marks.committed.store(last, Ordering::SeqCst);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
