//! One measurement: workers making calls one after the other, all at once
//! (as many as the calls in flight), until the time or the number of calls
//! is up; the latency of every call goes into a histogram.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;

use super::{
    child::cpu_time,
    workloads::{Outcome, Worker},
};
use crate::cli::error::ClientError;

/// Latencies are recorded in microseconds, from 1 µs to a minute (the
/// client's call timeout), to three significant figures.
const LOWEST_MICROS: u64 = 1;
const HIGHEST_MICROS: u64 = 60_000_000;
const SIGNIFICANT_FIGURES: u8 = 3;

/// When a measurement ends.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// No call starts after this long.
    pub duration: Duration,
    /// No more calls than this start, if given.
    pub max_calls: Option<u64>,
}

/// What one measurement saw.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub calls: u64,
    /// From the start to the end of the last call.
    pub elapsed: Duration,
    /// Latency of each call, in microseconds.
    pub latencies: Histogram<u64>,
    /// CPU time the measured server used meanwhile, if it is known.
    pub server_cpu: Option<Duration>,
}

impl Measurement {
    /// Calls per second.
    pub fn throughput(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.calls as f64 / seconds
        } else {
            0.0
        }
    }
}

/// An empty histogram of latencies in microseconds.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_MICROS, HIGHEST_MICROS, SIGNIFICANT_FIGURES)
        .expect("the latency bounds are valid")
}

/// Runs every worker until `bounds` are reached (or a worker has nothing
/// left to do) and gives them back with the measurement. The first failed
/// call fails the measurement. `server_pid` is the measured server's, when
/// it is this command's child, for its CPU time.
pub async fn measure(
    workers: Vec<Worker>,
    bounds: Bounds,
    server_pid: Option<u32>,
) -> Result<(Measurement, Vec<Worker>), ClientError> {
    let started = Arc::new(AtomicU64::new(0));
    let cpu_before = server_pid.and_then(cpu_time);
    let start = Instant::now();
    let deadline = start + bounds.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for (index, mut worker) in workers.into_iter().enumerate() {
        let started = Arc::clone(&started);
        tasks.spawn(async move {
            let mut latencies = latency_histogram();
            while Instant::now() < deadline
                && bounds
                    .max_calls
                    .is_none_or(|max| started.fetch_add(1, Ordering::Relaxed) < max)
            {
                let call_start = Instant::now();
                match worker.call().await? {
                    Outcome::Called => {
                        let micros = call_start.elapsed().as_micros();
                        latencies.saturating_record(u64::try_from(micros).unwrap_or(u64::MAX));
                    }
                    Outcome::NothingLeft => break,
                }
            }
            Ok::<_, ClientError>((index, worker, latencies))
        });
    }
    let mut done = Vec::new();
    let mut latencies = latency_histogram();
    while let Some(joined) = tasks.join_next().await {
        let (index, worker, own) = joined.map_err(|e| {
            ClientError::Failed(format!("a worker of the measurement failed: {e}"))
        })??;
        latencies
            .add(&own)
            .map_err(|e| ClientError::Failed(format!("cannot merge latencies: {e:?}")))?;
        done.push((index, worker));
    }
    let elapsed = start.elapsed();
    let server_cpu = match (cpu_before, server_pid.and_then(cpu_time)) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    done.sort_by_key(|(index, _)| *index);
    let measurement = Measurement {
        calls: latencies.len(),
        elapsed,
        latencies,
        server_cpu,
    };
    Ok((measurement, done.into_iter().map(|(_, w)| w).collect()))
}
