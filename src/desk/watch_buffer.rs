//! A watcher's buffer, bounded in events and in bytes: the feeding side
//! waits for room while replaying stored events, and gives up at once on
//! live ones (the watcher is then too slow).

use std::{pin::Pin, sync::Arc};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::Stream;

use crate::{domain::Event, error::Error};

/// The events of one watch, in order; ends with the error that ended the
/// watch, if any. Each event frees its room in the buffer as it is taken.
pub struct EventStream {
    rx: mpsc::Receiver<(Result<Event, Error>, Option<OwnedSemaphorePermit>)>,
}

impl EventStream {
    /// The next event, or the error that ended the watch; `None` after it.
    pub async fn recv(&mut self) -> Option<Result<Event, Error>> {
        self.rx.recv().await.map(|(event, _room)| event)
    }
}

impl Stream for EventStream {
    type Item = Result<Event, Error>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|(event, _room)| event))
    }
}

/// The feeding side of an [`EventStream`].
pub(super) struct WatchSender {
    tx: mpsc::Sender<(Result<Event, Error>, Option<OwnedSemaphorePermit>)>,
    /// One permit per byte of room.
    room: Arc<Semaphore>,
    max_bytes: usize,
}

pub(super) fn watch_channel(events: usize, bytes: usize) -> (WatchSender, EventStream) {
    let (tx, rx) = mpsc::channel(events);
    let sender = WatchSender {
        tx,
        room: Arc::new(Semaphore::new(bytes)),
        max_bytes: bytes,
    };
    (sender, EventStream { rx })
}

impl WatchSender {
    /// The room `event` takes: its text and a little for the rest, at most
    /// the whole buffer (so any one event fits an empty buffer).
    fn size(&self, event: &Event) -> u32 {
        let evidence = event.evidence.as_ref().map_or(0, |e| {
            e.summary.as_str().len()
                + e.source.as_str().len()
                + e.url.as_ref().map_or(0, |u| u.as_str().len())
                + e.added_by.as_str().len()
        });
        let text = event.note.as_str().len()
            + event.actor.as_str().len()
            + event.story.as_str().len()
            + event.assignee.as_ref().map_or(0, |a| a.as_str().len());
        let size = (128 + evidence + text).min(self.max_bytes);
        u32::try_from(size).unwrap_or(u32::MAX)
    }

    /// Sends `event`, waiting for room; `false` if the watcher went away.
    pub(super) async fn send(&self, event: Event) -> bool {
        let Ok(room) = self
            .room
            .clone()
            .acquire_many_owned(self.size(&event))
            .await
        else {
            return false;
        };
        self.tx.send((Ok(event), Some(room))).await.is_ok()
    }

    /// Sends `event` if there is room at once.
    pub(super) fn try_send(&self, event: Event) -> Result<(), mpsc::error::TrySendError<()>> {
        let room = self
            .room
            .clone()
            .try_acquire_many_owned(self.size(&event))
            .map_err(|_| mpsc::error::TrySendError::Full(()))?;
        self.tx
            .try_send((Ok(event), Some(room)))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => mpsc::error::TrySendError::Full(()),
                mpsc::error::TrySendError::Closed(_) => mpsc::error::TrySendError::Closed(()),
            })
    }

    /// Sends the error that ends the watch, after what is buffered.
    pub(super) async fn end(&self, error: Error) {
        let _ = self.tx.send((Err(error), None)).await;
    }

    pub(super) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    pub(super) async fn closed(&self) {
        self.tx.closed().await;
    }
}
