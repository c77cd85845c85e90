//! The connection limit: connections beyond `max_connections` are reset as
//! soon as they are accepted, and reported in a log line a second at most.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    sync::{Notify, OwnedSemaphorePermit, Semaphore},
};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::server::{Connected, TcpConnectInfo, TcpIncoming};

/// The connections of `incoming` that find one of `max_connections` slots
/// free; the others are reset as soon as they are accepted, and counted in
/// `refusals`.
///
/// Accepting and resetting, rather than leaving connections in the listen
/// backlog, tells a client at once that the server is full (its call fails
/// with UNAVAILABLE) instead of leaving it hanging until its deadline. The
/// check takes no lock and never waits, so the accept loop goes on at full
/// speed however many connections are refused. TLS handshakes run after
/// this (tonic wraps the admitted connection), so a connection that never
/// finishes its handshake holds a slot until it is dropped.
pub(super) fn admit(
    incoming: TcpIncoming,
    max_connections: usize,
    refusals: Arc<Refusals>,
) -> impl Stream<Item = std::io::Result<Admitted>> {
    let slots = Arc::new(Semaphore::new(max_connections.min(Semaphore::MAX_PERMITS)));
    incoming.filter_map(move |accepted| match accepted {
        Err(e) => Some(Err(e)),
        Ok(stream) => match slots.clone().try_acquire_owned() {
            Ok(slot) => Some(Ok(Admitted {
                stream,
                _slot: slot,
            })),
            Err(_) => {
                refusals.note();
                // A reset rather than an orderly close: tonic clients then
                // report UNAVAILABLE (retryable), not CANCELLED, and the
                // socket skips TIME_WAIT, which a flood would fill.
                let _ = stream.set_zero_linger();
                drop(stream);
                None
            }
        },
    })
}

/// Connections refused and not reported yet: counted by the accept loop,
/// reported by [`report_refusals`].
#[derive(Debug, Default)]
pub(super) struct Refusals {
    count: AtomicU64,
    /// Wakes the reporter at the first refusal after a quiet spell.
    first: Notify,
}

impl Refusals {
    fn note(&self) {
        if self.count.fetch_add(1, Ordering::Relaxed) == 0 {
            // Stores a wake-up if the reporter is not waiting yet.
            self.first.notify_one();
        }
    }
}

/// How often a flood of refused connections is reported.
const REPORT_REFUSALS_EVERY: Duration = Duration::from_secs(1);

/// Hands `report` the number of refused connections: at once for the first
/// refusal after a quiet spell, then once a second while refusals go on. A
/// flood logs one line a second, and every refusal is counted in one.
pub(super) async fn report_refusals(refusals: Arc<Refusals>, mut report: impl FnMut(u64)) {
    loop {
        refusals.first.notified().await;
        loop {
            let refused = refusals.count.swap(0, Ordering::Relaxed);
            if refused == 0 {
                break;
            }
            report(refused);
            tokio::time::sleep(REPORT_REFUSALS_EVERY).await;
        }
    }
}

/// An accepted connection with the slot it holds until it is dropped (the
/// connection ended, or failed its TLS handshake).
pub(super) struct Admitted {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
}

/// The peer's and local address, as for a bare `TcpStream`: what handlers
/// and TLS see of the connection does not change.
impl Connected for Admitted {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Admitted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    // hyper writes a frame's header and body in one vectored write.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn refused_connections_are_reported_at_once_then_once_a_second_all_counted() {
        let refusals = Arc::new(Refusals::default());
        let (tx, mut reports) = tokio::sync::mpsc::unbounded_channel();
        let start = tokio::time::Instant::now();
        let reporter = tokio::spawn(report_refusals(refusals.clone(), move |refused| {
            let _ = tx.send((tokio::time::Instant::now() - start, refused));
        }));
        for _ in 0..3 {
            refusals.note();
        }
        assert_eq!(reports.recv().await, Some((Duration::ZERO, 3)), "at once");

        // More during the next second: one line when it is over.
        tokio::time::advance(Duration::from_millis(500)).await;
        for _ in 0..1000 {
            refusals.note();
        }
        assert_eq!(reports.recv().await, Some((Duration::from_secs(1), 1000)));

        // A quiet spell logs nothing; the next refusal is reported at once.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(reports.try_recv().is_err(), "nothing to report");
        refusals.note();
        assert_eq!(reports.recv().await, Some((Duration::from_secs(6), 1)));
        reporter.abort();
    }
}
