//! Backups, streamed to the caller as the store writes them.

use std::{
    io::{self, Write},
    time::Duration,
};

use tokio::{
    runtime::Handle,
    sync::{Semaphore, mpsc},
};
use tokio_stream::wrappers::ReceiverStream;

use super::Desk;
use crate::error::Error;

/// Backups taken at once, at most: each holds a thread of the blocking
/// pool and makes every change keep one more value while it runs.
pub const MAX_BACKUPS: usize = 4;

/// How long a piece waits for the caller to take it: a caller that stops
/// reading for longer ends its backup, so it cannot hold a thread and a
/// backup's place for ever.
pub const PIECE_WAIT: Duration = Duration::from_secs(60);

/// The places of the backups being taken.
pub(super) fn places() -> Semaphore {
    Semaphore::new(MAX_BACKUPS)
}

/// The pieces of a backup, in order, as the store writes them; an `Err`
/// ends the stream, and so does the last piece of a backup written whole.
pub type BackupStream = ReceiverStream<Result<Vec<u8>, Error>>;

/// The largest piece of a backup sent at once.
pub const BACKUP_PIECE: usize = 64 * 1024;

/// Pieces of a backup the store may write ahead of the caller's reading.
const PIECES_AHEAD: usize = 4;

impl Desk {
    /// Takes a backup of the store ([`Store::backup`](crate::storage::Store::backup))
    /// on the blocking pool, and streams it. The store writes no faster
    /// than the caller reads (a few pieces ahead), and stops when the
    /// caller goes away or takes no piece for [`PIECE_WAIT`].
    /// [`Error::TooManyBackups`] while [`MAX_BACKUPS`] are being taken.
    pub fn backup(&self) -> Result<BackupStream, Error> {
        let place = self
            .backups
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::TooManyBackups)?;
        let (tx, rx) = mpsc::channel(PIECES_AHEAD);
        let store = self.store.clone();
        let runtime = Handle::current();
        tokio::task::spawn_blocking(move || {
            let _place = place;
            let mut pieces = Pieces {
                tx,
                runtime,
                piece: Vec::with_capacity(BACKUP_PIECE),
            };
            let written = store
                .backup(&mut pieces)
                .and_then(|_| pieces.flush().map_err(|e| Error::Internal(e.to_string())));
            if let Err(e) = written
                && !pieces.tx.is_closed()
            {
                tracing::warn!(error = %e, "a backup failed");
                let _ = pieces.tx.blocking_send(Err(e));
            }
        });
        Ok(ReceiverStream::new(rx))
    }
}

/// Cuts what the store writes into pieces and sends them.
struct Pieces {
    tx: mpsc::Sender<Result<Vec<u8>, Error>>,
    /// Times the wait for the caller (this runs on the blocking pool).
    runtime: Handle,
    piece: Vec<u8>,
}

impl Pieces {
    fn send(&mut self) -> io::Result<()> {
        let piece = std::mem::replace(&mut self.piece, Vec::with_capacity(BACKUP_PIECE));
        match self
            .runtime
            .block_on(tokio::time::timeout(PIECE_WAIT, self.tx.send(Ok(piece))))
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the caller went away",
            )),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the caller took no piece of the backup in time",
            )),
        }
    }
}

impl Write for Pieces {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(BACKUP_PIECE - self.piece.len());
        self.piece.extend_from_slice(&buf[..n]);
        if self.piece.len() == BACKUP_PIECE {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.piece.is_empty() {
            Ok(())
        } else {
            self.send()
        }
    }
}
