//! Backups, streamed to the caller as the store writes them.

use std::io::{self, Write};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::Desk;
use crate::error::Error;

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
    /// caller goes away.
    pub fn backup(&self) -> BackupStream {
        let (tx, rx) = mpsc::channel(PIECES_AHEAD);
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut pieces = Pieces {
                tx,
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
        ReceiverStream::new(rx)
    }
}

/// Cuts what the store writes into pieces and sends them.
struct Pieces {
    tx: mpsc::Sender<Result<Vec<u8>, Error>>,
    piece: Vec<u8>,
}

impl Pieces {
    fn send(&mut self) -> io::Result<()> {
        let piece = std::mem::replace(&mut self.piece, Vec::with_capacity(BACKUP_PIECE));
        self.tx
            .blocking_send(Ok(piece))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the caller went away"))
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
