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
//!
//! [`Flusher`] is that flush plus fsync for sled's files; the committer runs
//! it through a [`BoundedFlush`], which fails the store when a flush does
//! not finish in time (sled can leave one waiting forever on a full disk).

use std::{
    collections::HashMap,
    fs::File,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use tokio::sync::oneshot;

use crate::error::{Error, StorageError};

type Waiter = oneshot::Sender<Result<(), StorageError>>;

/// Resolves once the writes it covers are on disk.
#[must_use = "a write is not durable until this resolves"]
pub struct Durable {
    answer: oneshot::Receiver<Result<(), StorageError>>,
    /// Whether an earlier flush made the writes durable already: then a
    /// failure of the flush waited for does not concern them.
    covered: Option<Box<dyn Fn() -> bool + Send + Sync>>,
}

/// What a waiter learns when the committer is gone without answering.
fn committer_stopped() -> StorageError {
    StorageError::failed("durable flush", "the committer thread has stopped")
}

impl Durable {
    /// Resolves with what `answer` is sent (a store whose writes are
    /// durable by other means than this module's committer); a dropped
    /// sender fails it as a stopped committer does.
    pub fn answered_by(answer: oneshot::Receiver<Result<(), StorageError>>) -> Self {
        Self {
            answer,
            covered: None,
        }
    }

    /// Succeeds even if its flush fails, when `covered` says that the
    /// writes it waits for were made durable by an earlier flush (one that
    /// ran while they were queued for the next, say).
    pub fn unless_covered(mut self, covered: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.covered = Some(Box::new(covered));
        self
    }

    pub async fn wait(self) -> Result<(), Error> {
        let Self { answer, covered } = self;
        outcome(answer.await, covered)
    }

    /// Like [`Durable::wait`], for threads outside the async runtime.
    pub fn wait_blocking(self) -> Result<(), Error> {
        let Self { answer, covered } = self;
        outcome(answer.blocking_recv(), covered)
    }
}

/// What a [`Durable`] resolves to, given the committer's answer.
fn outcome(
    answer: Result<Result<(), StorageError>, oneshot::error::RecvError>,
    covered: Option<Box<dyn Fn() -> bool + Send + Sync>>,
) -> Result<(), Error> {
    let result = answer.unwrap_or_else(|_| Err(committer_stopped()));
    match (&result, covered) {
        (Err(_), Some(covered)) if covered() => Ok(()),
        _ => result.map_err(Error::from),
    }
}

/// Told of every durable flush the committer runs: how long the flush plus
/// fsync took, how many writers it acknowledged, and whether it succeeded.
/// Called on the committer thread, between the flush and the answers: it
/// must be quick and must not block.
pub trait FlushObserver: Send + Sync + std::fmt::Debug {
    fn flushed(&self, took: Duration, writers: usize, ok: bool);
}

/// Handle to the committer thread. The thread ends when the handle is
/// dropped, after serving the waiters already queued.
pub struct Committer {
    /// `None` only while dropping.
    queue: Option<mpsc::Sender<Waiter>>,
    failed: Arc<AtomicBool>,
    /// Durable flushes run so far.
    flushes: Arc<AtomicU64>,
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
        observer: Option<Arc<dyn FlushObserver>>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Waiter>();
        let failed = Arc::new(AtomicBool::new(false));
        let thread_failed = failed.clone();
        let flushes = Arc::new(AtomicU64::new(0));
        let thread_flushes = flushes.clone();
        let thread = thread::Builder::new()
            .name("claimdesk-committer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter());
                    let started = Instant::now();
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
                    thread_flushes.fetch_add(1, Ordering::Relaxed);
                    if let Some(observer) = &observer {
                        observer.flushed(started.elapsed(), batch.len(), result.is_ok());
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
            flushes,
            thread: Some(thread),
        })
    }

    /// The flag [`Committer::has_failed`] reads, for whoever must refuse
    /// writes too.
    pub fn failed_flag(&self) -> Arc<AtomicBool> {
        self.failed.clone()
    }

    /// How many durable flushes have run.
    pub fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
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
        Durable {
            answer: rx,
            covered: None,
        }
    }
}

/// Runs flushes on a thread of its own and waits for each at most a given
/// time.
///
/// sled 0.34 can leave a flush waiting forever: when it fails to write a
/// blob (a full disk), the log buffer it had reserved room in keeps a
/// writer that never leaves, so that buffer is never written and no flush
/// can get past it; and when it fails to write its log, a flush already
/// waiting is not always woken. A flush that does not finish in time is
/// therefore taken for a failed one: the disk cannot be trusted to make
/// anything durable, and the store fails (see [`StorageError::failed`]).
/// The flush left waiting keeps its thread; nothing asks that thread again,
/// and what it may still report is ignored.
pub(super) struct BoundedFlush {
    /// `None` only while dropping.
    requests: Option<mpsc::Sender<()>>,
    results: mpsc::Receiver<Result<(), StorageError>>,
    limit: Duration,
    /// A flush did not finish within `limit`; its thread is left to it.
    stalled: AtomicBool,
    thread: Option<thread::JoinHandle<()>>,
}

impl Drop for BoundedFlush {
    /// Ends the flush thread and waits for it, unless it is stuck in a
    /// flush that did not finish.
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(thread) = self.thread.take()
            && !self.stalled.load(Ordering::Acquire)
            && thread.join().is_err()
        {
            tracing::error!("the flush thread panicked");
        }
    }
}

impl BoundedFlush {
    /// Starts the thread that runs `flush` each time [`BoundedFlush::run`]
    /// asks.
    pub(super) fn start(
        flush: impl Fn() -> Result<(), StorageError> + Send + 'static,
        limit: Duration,
    ) -> std::io::Result<Self> {
        let (requests, asked) = mpsc::channel::<()>();
        let (answer, results) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("claimdesk-flush".into())
            .spawn(move || {
                while asked.recv().is_ok() {
                    if answer.send(flush()).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Self {
            requests: Some(requests),
            results,
            limit,
            stalled: AtomicBool::new(false),
            thread: Some(thread),
        })
    }

    /// Runs one flush; fails if it fails or does not finish within the
    /// limit, and for good once one did not finish.
    pub(super) fn run(&self) -> Result<(), StorageError> {
        if self.stalled.load(Ordering::Acquire) {
            return Err(StorageError::failed(
                "durable flush",
                "an earlier flush did not finish",
            ));
        }
        let stopped = || StorageError::failed("durable flush", "the flush thread has stopped");
        let requests = self.requests.as_ref().ok_or_else(stopped)?;
        requests.send(()).map_err(|_| stopped())?;
        match self.results.recv_timeout(self.limit) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                self.stalled.store(true, Ordering::Release);
                Err(StorageError::failed(
                    "durable flush",
                    format!(
                        "the flush did not finish within {:?}; the disk may be full or failing",
                        self.limit
                    ),
                ))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(stopped()),
        }
    }
}

/// Creates the data directory if it is missing, and makes its creation
/// durable: an fsync of each new directory and of the existing directory
/// that holds the first of them, so a crash cannot lose the directory under
/// data acknowledged later.
pub(super) fn create_dir_durably(path: &Path) -> std::io::Result<()> {
    // The directories to create, deepest first, and the one that exists.
    let mut missing = Vec::new();
    let mut existing = path;
    while !existing.exists() {
        missing.push(existing);
        existing = match existing.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
    }
    if missing.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(path)?;
    for dir in missing.into_iter().chain([existing]) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Makes sled's written data durable: `flush` (write out the buffers), then
/// `fsync` of the log file and of the blob files (large values and nodes
/// live in files of their own under `blobs/`, written once, never fsynced
/// by sled).
///
/// A blob is written in full before the log entry that points to it can be
/// flushed, so after `flush` every blob that flush made reachable is
/// complete. Blobs of writes still running may be caught half-written: a
/// blob counts as synced only at the length it had when it was fsynced, and
/// is fsynced again if it has grown since.
pub(super) struct Flusher {
    db: sled::Db,
    log: File,
    blobs_dir: PathBuf,
    synced_blobs: Mutex<HashMap<std::ffi::OsString, u64>>,
}

impl Flusher {
    pub(super) fn new(db: sled::Db, path: &Path) -> std::io::Result<Self> {
        let log = File::open(path.join("db"))?;
        // sled writes its configuration once, at creation, and never
        // fsyncs it; a store whose `conf` is lost cannot be opened.
        File::open(path.join("conf"))?.sync_all()?;
        // The directory entries of the files sled created must be durable too.
        File::open(path)?.sync_all()?;
        Ok(Self {
            db,
            log,
            blobs_dir: path.join("blobs"),
            synced_blobs: Mutex::new(HashMap::new()),
        })
    }

    pub(super) fn flush(&self) -> Result<(), StorageError> {
        self.db.flush().map_err(|e| StorageError::new("flush", e))?;
        self.sync_blobs()
            .map_err(|e| StorageError::new("fsync blobs", e))?;
        self.log
            .sync_all()
            .map_err(|e| StorageError::new("fsync log", e))
    }

    /// Fsyncs every blob that is new or has grown since its last fsync, then
    /// the directory if a blob was added.
    fn sync_blobs(&self) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(&self.blobs_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut synced = self
            .synced_blobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut present = HashMap::new();
        let mut added = false;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            // sled removes blobs it no longer needs, at any moment.
            let file = match File::open(entry.path()) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            // The length before the fsync: what the fsync covers at least.
            let len = file.metadata()?.len();
            let known = synced.get(&name).copied();
            if known != Some(len) {
                file.sync_all()?;
                added |= known.is_none();
            }
            present.insert(name, len);
        }
        if added {
            File::open(&self.blobs_dir)?.sync_all()?;
        }
        *synced = present;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex, atomic::AtomicUsize};

    use super::*;

    /// What the committer told its [`FlushObserver`]: writers and outcome
    /// of each flush.
    #[derive(Debug, Default)]
    struct Observed(Mutex<Vec<(usize, bool)>>);

    impl FlushObserver for Observed {
        fn flushed(&self, _took: Duration, writers: usize, ok: bool) {
            self.0.lock().unwrap().push((writers, ok));
        }
    }

    /// A committer whose flushes are counted and, while `gate` is held,
    /// blocked.
    fn gated_committer(fail: bool) -> (Committer, Arc<AtomicUsize>, Arc<Mutex<()>>) {
        gated_committer_observed(fail, None)
    }

    fn gated_committer_observed(
        fail: bool,
        observer: Option<Arc<dyn FlushObserver>>,
    ) -> (Committer, Arc<AtomicUsize>, Arc<Mutex<()>>) {
        let flushes = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Mutex::new(()));
        let (count, held) = (flushes.clone(), gate.clone());
        let committer = Committer::start(
            move || {
                let _wait_for_gate = held.lock().unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                if fail {
                    Err(StorageError::new("flush", "injected"))
                } else {
                    Ok(())
                }
            },
            observer,
        )
        .unwrap();
        (committer, flushes, gate)
    }

    #[test]
    fn writers_waiting_during_a_flush_share_the_next_one() {
        let observed = Arc::new(Observed::default());
        let (committer, flushes, gate) = gated_committer_observed(false, Some(observed.clone()));
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
        // The observer heard of every flush, the writers each acknowledged
        // and that they succeeded.
        drop(committer);
        let observed = observed.0.lock().unwrap().clone();
        assert_eq!(observed.len(), n, "{observed:?}");
        assert_eq!(observed.iter().map(|(w, _)| w).sum::<usize>(), 50);
        assert!(observed.iter().all(|(_, ok)| *ok), "{observed:?}");
    }

    #[test]
    fn a_waiter_whose_writes_an_earlier_flush_made_durable_is_not_failed() {
        let (committer, _flushes, _gate) = gated_committer(true);
        let uncovered = committer.durable().unless_covered(|| false);
        assert!(uncovered.wait_blocking().unwrap_err().is_store_failure());
        let covered = committer.durable().unless_covered(|| true);
        covered.wait_blocking().unwrap();
    }

    #[test]
    fn a_flush_that_does_not_finish_in_time_fails_for_good_and_is_not_asked_again() {
        let limit = Duration::from_millis(100);
        let (started, starts) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let released = Mutex::new(released);
        let flush = BoundedFlush::start(
            move || {
                started.send(()).unwrap();
                // Stuck until the test lets it go.
                let _ = released.lock().unwrap().recv();
                Ok(())
            },
            limit,
        )
        .unwrap();
        let began = Instant::now();
        let error = flush.run().unwrap_err();
        assert!(began.elapsed() >= limit);
        assert!(error.is_failed(), "{error}");
        let error = flush.run().unwrap_err();
        assert!(error.is_failed(), "{error}");
        // Once the stuck flush ends, its thread ends (with `started`):
        // it ran once.
        drop(release);
        drop(flush);
        assert_eq!(starts.iter().count(), 1);
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
