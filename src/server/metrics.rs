//! Metrics for Prometheus: `serve --metrics-listen ADDR` serves
//! `GET /metrics` in the Prometheus text format (version 0.0.4) on a
//! listener of its own, apart from the API, needing no token.
//!
//! What is measured, and where:
//! - every call, by method and status code ([`rpc`], a layer around the
//!   whole server: refusals of the access policy, panics and timeouts
//!   included), with the names and labels of go-grpc-prometheus, so the
//!   dashboards and alerts a platform team already has for gRPC services
//!   apply;
//! - durable flushes (the group commit), told by the store through
//!   [`FlushObserver`];
//! - the queue, the desk's watchers and leases, the tokens and the store's
//!   size, read when Prometheus scrapes ([`Snapshot`]).
//!
//! Labels come from fixed sets only (the served methods, status codes,
//! states, priorities, reasons): a caller cannot make the server keep a
//! new series by sending a made-up method name.
//!
//! One scrape runs at a time; each reads the queue's counters (the cost of
//! `GetQueueStats` over every story: counters, plus one entry per overdue
//! claim) and walks the data directory's file names.

pub(super) mod rpc;

use std::{
    fmt::Write as _,
    net::TcpListener,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, prometheus_text},
    metrics::{
        MetricType,
        counter::{ConstCounter, Counter},
        gauge::ConstGauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};

use crate::{
    desk::Desk,
    domain::{Priority, State},
    grpc::{identity::Authentication, policy::Policy},
    storage::{FlushObserver, QueueCounts},
};

/// The metrics of one server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub(super) rpc: Arc<rpc::RpcMetrics>,
    flushes: Arc<Flushes>,
    scraped: Arc<Scraped>,
    /// One scrape at a time.
    scraping: tokio::sync::Mutex<()>,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let rpc = Arc::new(rpc::RpcMetrics::register(&mut registry));
        let flushes = Arc::new(Flushes::register(&mut registry));
        let scraped = Arc::new(Scraped::default());
        registry.register_collector(Box::new(scraped.clone()));
        Arc::new(Self {
            registry,
            rpc,
            flushes,
            scraped,
            scraping: tokio::sync::Mutex::new(()),
        })
    }

    /// What the store tells of its durable flushes.
    pub fn flush_observer(&self) -> Arc<dyn FlushObserver> {
        self.flushes.clone()
    }

    /// Reads what is measured at scrape time from `sources` and encodes
    /// every metric.
    pub(super) async fn scrape(&self, sources: &Sources) -> String {
        let _one_at_a_time = self.scraping.lock().await;
        let snapshot = Snapshot::read(sources).await;
        *self
            .scraped
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = snapshot;
        let mut text = String::new();
        if let Err(e) = prometheus_text::encode(&mut text, &self.registry) {
            tracing::error!("cannot encode the metrics: {e}");
            let _ = writeln!(text, "# the metrics could not be encoded");
        }
        text
    }
}

/// Where scrape-time metrics are read.
#[derive(Clone)]
pub(super) struct Sources {
    pub desk: Desk,
    pub policy: Arc<Policy>,
}

/// Durable flushes: how long each took, how many writes it acknowledged,
/// how many failed.
#[derive(Debug)]
struct Flushes {
    seconds: Histogram,
    writes: Histogram,
    failures: Counter,
}

impl Flushes {
    fn register(registry: &mut Registry) -> Self {
        let flushes = Self {
            // 100 µs to ~3.3 s.
            seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            // 1 to 4096 writes.
            writes: Histogram::new(exponential_buckets(1.0, 2.0, 13)),
            failures: Counter::default(),
        };
        registry.register_with_unit(
            "claimdesk_storage_durable_flush",
            "Time of each durable flush (the group commit: write out and fsync) of the store",
            Unit::Seconds,
            flushes.seconds.clone(),
        );
        registry.register(
            "claimdesk_storage_durable_flush_writes",
            "Writes (changes waiting for durability) acknowledged by each durable flush",
            flushes.writes.clone(),
        );
        registry.register(
            "claimdesk_storage_durable_flush_failures",
            "Durable flushes that failed; after one the store refuses writes until restarted",
            flushes.failures.clone(),
        );
        flushes
    }
}

impl FlushObserver for Flushes {
    fn flushed(&self, took: Duration, writers: usize, ok: bool) {
        self.seconds.observe(took.as_secs_f64());
        self.writes.observe(writers as f64);
        if !ok {
            self.failures.inc();
        }
    }
}

/// What is read when Prometheus scrapes.
#[derive(Debug, Default)]
struct Snapshot {
    /// `None`: the store could not be read (logged).
    queue: Option<(QueueCounts, SystemTime)>,
    store_bytes: Option<u64>,
    watchers: u64,
    watchers_too_slow: u64,
    leases_expired: u64,
    /// Reloads of the tokens file that succeeded and failed; `None` in open
    /// mode.
    token_reloads: Option<(u64, u64)>,
    authentication_failures: Vec<(&'static str, u64)>,
}

impl Snapshot {
    async fn read(sources: &Sources) -> Self {
        let desk = &sources.desk;
        let queue = match desk.queue_stats(None).await {
            Ok(counts) => Some((counts, desk.now())),
            Err(e) => {
                tracing::warn!(error = %e, "metrics: cannot read the queue's counts");
                None
            }
        };
        let store_bytes = match desk.size_on_disk().await {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                tracing::warn!(error = %e, "metrics: cannot measure the store");
                None
            }
        };
        let activity = desk.activity();
        Self {
            queue,
            store_bytes,
            watchers: activity.watchers(),
            watchers_too_slow: activity.watchers_too_slow(),
            leases_expired: activity.leases_expired(),
            token_reloads: match sources.policy.authentication() {
                Authentication::Open => None,
                Authentication::Tokens(tokens) => Some(tokens.reloads()),
            },
            authentication_failures: sources.policy.authentication_failures(),
        }
    }
}

/// Encodes the last [`Snapshot`].
#[derive(Debug, Default)]
struct Scraped(Mutex<Snapshot>);

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshot = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let e = &mut encoder;
        gauge(
            e,
            "claimdesk_build_info",
            "Always 1; the version of the running server in its label",
            None,
            &[([("version", env!("CARGO_PKG_VERSION"))], 1)],
        )?;
        if let Some((queue, now)) = &snapshot.queue {
            let states: Vec<_> = queue
                .states
                .iter()
                .map(|(state, count)| ([("state", state_label(*state))], *count))
                .collect();
            gauge(e, "claimdesk_claims", "Claims in each state", None, &states)?;
            let waiting: Vec<_> = queue
                .waiting
                .iter()
                .map(|(priority, count)| ([("priority", priority_label(*priority))], *count))
                .collect();
            gauge(
                e,
                "claimdesk_queue_waiting_claims",
                "Unverified claims waiting in the queue, by priority",
                None,
                &waiting,
            )?;
            let oldest = queue.oldest_waiting.map_or(0.0, |submitted| {
                now.duration_since(submitted)
                    .unwrap_or_default()
                    .as_secs_f64()
            });
            gauge(
                e,
                "claimdesk_queue_oldest_waiting_age",
                "Time since the oldest waiting (unverified) claim was submitted; 0 when none waits",
                Some(&Unit::Seconds),
                &[([] as [(&str, &str); 0], oldest)],
            )?;
            gauge(
                e,
                "claimdesk_claims_past_deadline",
                "Unverified or in-review claims whose deadline has passed",
                None,
                &[([] as [(&str, &str); 0], queue.overdue)],
            )?;
        }
        if let Some(bytes) = snapshot.store_bytes {
            gauge(
                e,
                "claimdesk_storage_size",
                "Bytes the data directory takes on disk (allocated blocks)",
                Some(&Unit::Bytes),
                &[([] as [(&str, &str); 0], bytes)],
            )?;
        }
        gauge(
            e,
            "claimdesk_watchers",
            "WatchClaimEvents streams open now",
            None,
            &[([] as [(&str, &str); 0], snapshot.watchers)],
        )?;
        counter(
            e,
            "claimdesk_watchers_too_slow",
            "WatchClaimEvents streams ended because the client fell too far behind",
            &[([] as [(&str, &str); 0], snapshot.watchers_too_slow)],
        )?;
        counter(
            e,
            "claimdesk_lease_expiries",
            "Claims returned to the queue because their review lease ran out",
            &[([] as [(&str, &str); 0], snapshot.leases_expired)],
        )?;
        if let Some((succeeded, failed)) = snapshot.token_reloads {
            counter(
                e,
                "claimdesk_token_reloads",
                "Reloads of the tokens file (SIGHUP), by result; on failure the tokens in force stay",
                &[
                    ([("result", "success")], succeeded),
                    ([("result", "failure")], failed),
                ],
            )?;
        }
        let failures: Vec<_> = snapshot
            .authentication_failures
            .iter()
            .map(|(reason, count)| ([("reason", *reason)], *count))
            .collect();
        counter(
            e,
            "claimdesk_authentication_failures",
            "Calls refused as not authenticated, by the reason of the refusal",
            &failures,
        )?;
        Ok(())
    }
}

/// A gauge family of `samples` (labels and value).
fn gauge<L, V>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    samples: &[(L, V)],
) -> Result<(), std::fmt::Error>
where
    L: prometheus_client::encoding::EncodeLabelSet,
    V: prometheus_client::encoding::EncodeGaugeValue + Copy + std::fmt::Debug,
{
    // As the registry ends the help of what is registered with it.
    let help = format!("{help}.");
    let mut family = encoder.encode_descriptor(name, &help, unit, MetricType::Gauge)?;
    for (labels, value) in samples {
        ConstGauge::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

/// A counter family of `samples` (labels and value).
fn counter<L: prometheus_client::encoding::EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: &[(L, u64)],
) -> Result<(), std::fmt::Error> {
    let help = format!("{help}.");
    let mut family = encoder.encode_descriptor(name, &help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        ConstCounter::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

fn state_label(state: State) -> &'static str {
    match state {
        State::Unverified => "unverified",
        State::InReview => "in_review",
        State::Verified => "verified",
        State::Disputed => "disputed",
        State::Inconclusive => "inconclusive",
        State::Withdrawn => "withdrawn",
    }
}

fn priority_label(priority: Priority) -> &'static str {
    match priority {
        Priority::Breaking => "breaking",
        Priority::Urgent => "urgent",
        Priority::Routine => "routine",
    }
}

/// Serves `GET /metrics` on `listener` until `stop` resolves.
pub(super) async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    sources: Sources,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::{http::header::CONTENT_TYPE, routing::get};
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let (metrics, sources) = (metrics.clone(), sources.clone());
            async move {
                let text = metrics.scrape(&sources).await;
                ([(CONTENT_TYPE, prometheus_text::CONTENT_TYPE)], text)
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
}
