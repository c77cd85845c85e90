//! Group commit: one thread makes writes durable for everybody.
//!
//! sled 0.34's `flush` writes its buffers but ends with `sync_file_range`,
//! which neither reaches the disk's cache nor the file's metadata; a write is
//! durable only after an `fsync` of the files. Both are slow, so writers do
//! not flush themselves: they queue a waiter and the committer thread drains
//! the queue, runs one flush plus fsync covering every waiter it drained, and
//! wakes them all. A waiter queued during a flush waits for the next one, so
//! every write committed before its waiter was queued is covered.
//!
//! Flushing from this single thread also avoids sled 0.34.7's `flush_async`,
//! which deadlocks when several tasks call it at once (sled #1308, #1241).
//!
//! After a failed fsync the kernel may have dropped the dirty pages, so a
//! later success would prove nothing: the store stays failed until it is
//! reopened.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
};

use tokio::sync::oneshot;

use crate::error::{Error, StorageError};

type Waiter = oneshot::Sender<Result<(), StorageError>>;

/// Resolves once the writes it covers are on disk.
#[must_use = "a write is not durable until this resolves"]
pub struct Durable(oneshot::Receiver<Result<(), StorageError>>);

/// What a waiter learns when the committer is gone without answering.
fn committer_stopped() -> StorageError {
    StorageError::failed("durable flush", "the committer thread has stopped")
}

impl Durable {
    pub async fn wait(self) -> Result<(), Error> {
        let result = self.0.await.unwrap_or_else(|_| Err(committer_stopped()));
        result.map_err(Error::from)
    }

    /// Like [`Durable::wait`], for threads outside the async runtime.
    pub fn wait_blocking(self) -> Result<(), Error> {
        let result = self
            .0
            .blocking_recv()
            .unwrap_or_else(|_| Err(committer_stopped()));
        result.map_err(Error::from)
    }
}

/// Handle to the committer thread. The thread ends when the handle is
/// dropped, after serving the waiters already queued.
pub struct Committer {
    /// `None` only while dropping.
    queue: Option<mpsc::Sender<Waiter>>,
    failed: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Drop for Committer {
    /// Serves the waiters still queued, then waits for the thread to end, so
    /// that whatever it holds (the database and its lock) is released when
    /// the committer is gone.
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the committer thread panicked");
        }
    }
}

impl Committer {
    /// Starts the committer thread; `flush` makes every committed write
    /// durable.
    pub fn start(
        flush: impl Fn() -> Result<(), StorageError> + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Waiter>();
        let failed = Arc::new(AtomicBool::new(false));
        let thread_failed = failed.clone();
        let thread = thread::Builder::new()
            .name("claimdesk-committer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter());
                    let result = if thread_failed.load(Ordering::Acquire) {
                        Err(StorageError::failed(
                            "durable flush",
                            "an earlier flush failed; the store must be reopened",
                        ))
                    } else {
                        flush().map_err(|e| StorageError::failed("durable flush", e))
                    };
                    if let Err(e) = &result {
                        thread_failed.store(true, Ordering::Release);
                        tracing::error!(error = %e, "durable flush failed; refusing further writes");
                    }
                    tracing::trace!(writers = batch.len(), "group commit");
                    for waiter in batch {
                        // The writer may have gone away (client cancelled).
                        let _ = waiter.send(result.clone());
                    }
                }
            })?;
        Ok(Self {
            queue: Some(tx),
            failed,
            thread: Some(thread),
        })
    }

    /// Whether a flush has failed; writes must then be refused.
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    pub fn durable(&self) -> Durable {
        let (tx, rx) = oneshot::channel();
        // If the thread is gone, `tx` is dropped and the waiter learns it.
        if let Some(queue) = &self.queue {
            let _ = queue.send(tx);
        }
        Durable(rx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex, atomic::AtomicUsize};

    use super::*;

    /// A committer whose flushes are counted and, while `gate` is held,
    /// blocked.
    fn gated_committer(fail: bool) -> (Committer, Arc<AtomicUsize>, Arc<Mutex<()>>) {
        let flushes = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Mutex::new(()));
        let (count, held) = (flushes.clone(), gate.clone());
        let committer = Committer::start(move || {
            let _wait_for_gate = held.lock().unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            if fail {
                Err(StorageError::new("flush", "injected"))
            } else {
                Ok(())
            }
        })
        .unwrap();
        (committer, flushes, gate)
    }

    #[test]
    fn writers_waiting_during_a_flush_share_the_next_one() {
        let (committer, flushes, gate) = gated_committer(false);
        let held = gate.lock().unwrap();
        // The first waiter starts a flush that blocks on the gate...
        let first = committer.durable();
        // ...and every waiter queued meanwhile must wait for one more flush.
        let rest: Vec<_> = (0..49).map(|_| committer.durable()).collect();
        drop(held);
        first.wait_blocking().unwrap();
        for waiter in rest {
            waiter.wait_blocking().unwrap();
        }
        let n = flushes.load(Ordering::SeqCst);
        assert!(
            n <= 2,
            "50 writers should need at most 2 flushes, needed {n}"
        );
        assert!(n >= 1);
    }

    #[test]
    fn a_failed_flush_fails_its_writers_and_every_later_one() {
        let (committer, flushes, _gate) = gated_committer(true);
        assert!(committer.durable().wait_blocking().is_err());
        assert!(committer.has_failed());
        assert!(committer.durable().wait_blocking().is_err());
        // Once failed, the committer does not pretend a retry could succeed.
        assert_eq!(flushes.load(Ordering::SeqCst), 1);
    }
}
