//! The service's clock: wall-clock time that advances with tokio's clock.
//!
//! Times are read as the wall clock at start plus the time elapsed on
//! tokio's monotonic clock, so they never go backwards while the server
//! runs, and tests can move them with `tokio::time::pause` and `advance`
//! (leases expire in a test without anybody sleeping).

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// The wall clock when the clock was started.
    wall_at_start: SystemTime,
    /// Tokio's clock at that moment.
    tokio_at_start: Instant,
}

impl Clock {
    /// A clock that reads the wall clock now and advances with tokio's.
    /// Must be called inside a tokio runtime.
    pub fn start() -> Self {
        Self {
            wall_at_start: SystemTime::now(),
            tokio_at_start: Instant::now(),
        }
    }

    pub fn now(&self) -> SystemTime {
        self.wall_at_start + self.tokio_at_start.elapsed()
    }

    /// The tokio instant at which this clock reads `t` (now, if `t` has
    /// passed).
    pub fn instant_at(&self, t: SystemTime) -> Instant {
        let from_now = t.duration_since(self.now()).unwrap_or(Duration::ZERO);
        Instant::now() + from_now
    }
}
