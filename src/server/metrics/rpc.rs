//! Calls by method and status code: `grpc_server_started_total`,
//! `grpc_server_handled_total` and `grpc_server_handling_seconds`, named
//! and labelled as go-grpc-prometheus names them (`grpc_service`,
//! `grpc_method`, `grpc_type`, `grpc_code` with codes spelled `OK`,
//! `NotFound`, ...).
//!
//! A call is handled when its status is known: at once for an answer with
//! the status in its headers (refusals, most errors), at the trailers
//! otherwise; a call whose response is dropped before its end (the client
//! went away, the connection broke) counts as `Canceled`. The time is from
//! the request to that moment, so for a stream it is the stream's life.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
    time::Instant,
};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};
use tonic::{Code, body::Body, codegen::Service};

use crate::grpc;

/// The labels of a call.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(in crate::server) struct CallLabels {
    grpc_service: String,
    grpc_method: String,
    grpc_type: String,
}

/// The labels of a call and its status.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(in crate::server) struct HandledLabels {
    grpc_service: String,
    grpc_method: String,
    grpc_type: String,
    grpc_code: String,
}

/// Every code, in the order of their numbers.
const CODES: usize = 17;

/// The metrics of one method, found without allocating on each call.
#[derive(Debug)]
struct MethodMetrics {
    labels: CallLabels,
    started: Counter,
    /// By status code, created at the first call with that code.
    handled: [OnceLock<(Counter, Histogram)>; CODES],
}

/// The calls' metrics of a server.
#[derive(Debug)]
pub(in crate::server) struct RpcMetrics {
    handled: Family<HandledLabels, Counter>,
    seconds: Family<HandledLabels, Histogram>,
    /// Every served method by path.
    methods: HashMap<String, Arc<MethodMetrics>>,
    /// Paths the server does not serve, all under one label.
    unknown: Arc<MethodMetrics>,
}

fn seconds_histogram() -> Histogram {
    // 100 µs to ~13 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

impl RpcMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let started = Family::<CallLabels, Counter>::default();
        let handled = Family::<HandledLabels, Counter>::default();
        let seconds = Family::<HandledLabels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        registry.register(
            "grpc_server_started",
            "Calls started on the server, by method",
            started.clone(),
        );
        registry.register(
            "grpc_server_handled",
            "Calls completed on the server, by method and status code",
            handled.clone(),
        );
        registry.register_with_unit(
            "grpc_server_handling",
            "Time from a call's request to its status (for a stream: its life), by method and \
             status code",
            Unit::Seconds,
            seconds.clone(),
        );
        let method = |service: &str, method: &str, kind: &str| {
            let labels = CallLabels {
                grpc_service: service.to_owned(),
                grpc_method: method.to_owned(),
                grpc_type: kind.to_owned(),
            };
            Arc::new(MethodMetrics {
                started: started.get_or_create(&labels).clone(),
                labels,
                handled: Default::default(),
            })
        };
        let methods = grpc::served_methods()
            .into_iter()
            .map(|m| {
                let (service, name) = m
                    .path
                    .trim_start_matches('/')
                    .split_once('/')
                    .unwrap_or(("", &m.path));
                let metrics = method(service, name, m.kind);
                (m.path, metrics)
            })
            .collect();
        let unknown = method("unknown", "unknown", "unknown");
        Self {
            handled,
            seconds,
            methods,
            unknown,
        }
    }

    fn method(&self, path: &str) -> Arc<MethodMetrics> {
        self.methods.get(path).unwrap_or(&self.unknown).clone()
    }

    fn handled<'m>(&self, method: &'m MethodMetrics, code: Code) -> &'m (Counter, Histogram) {
        method.handled[(code as usize).min(CODES - 1)].get_or_init(|| {
            let labels = HandledLabels {
                grpc_service: method.labels.grpc_service.clone(),
                grpc_method: method.labels.grpc_method.clone(),
                grpc_type: method.labels.grpc_type.clone(),
                grpc_code: code_name(code).to_owned(),
            };
            (
                self.handled.get_or_create(&labels).clone(),
                self.seconds.get_or_create(&labels).clone(),
            )
        })
    }
}

/// go-grpc-prometheus's spelling of each code (Go's `codes.Code.String()`).
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// One call, counted as handled once: with its status, or as `Canceled`
/// when dropped before it.
struct Call {
    metrics: Arc<RpcMetrics>,
    method: Arc<MethodMetrics>,
    start: Instant,
    done: bool,
}

impl Call {
    fn finish(&mut self, code: Code) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let (count, seconds) = self.metrics.handled(&self.method, code);
        count.inc();
        seconds.observe(self.start.elapsed().as_secs_f64());
    }

    /// The status in `headers`, if they hold one.
    fn status_in(headers: &http::HeaderMap) -> Option<Code> {
        let value = headers.get("grpc-status")?;
        let number = value.to_str().ok()?.parse::<i32>().ok()?;
        Some(Code::from_i32(number))
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish(Code::Cancelled);
    }
}

/// Wraps the whole server: counts every call. `None`: counts nothing (no
/// metrics listener).
#[derive(Clone)]
pub(in crate::server) struct RpcMetricsLayer(pub Option<Arc<RpcMetrics>>);

impl<S> tower_layer::Layer<S> for RpcMetricsLayer {
    type Service = Metered<S>;

    fn layer(&self, inner: S) -> Metered<S> {
        Metered {
            inner,
            metrics: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub(in crate::server) struct Metered<S> {
    inner: S,
    metrics: Option<Arc<RpcMetrics>>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for Metered<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let call = self.metrics.as_ref().map(|metrics| {
            let method = metrics.method(request.uri().path());
            method.started.inc();
            Call {
                metrics: metrics.clone(),
                method,
                start: Instant::now(),
                done: false,
            }
        });
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            let Some(mut call) = call else {
                return Ok(response.map(Body::new));
            };
            if let Some(code) = Call::status_in(response.headers()) {
                call.finish(code);
                return Ok(response.map(Body::new));
            }
            Ok(response.map(|body| Body::new(MeteredBody { inner: body, call })))
        })
    }
}

/// A response body that reports its call's status from the trailers.
struct MeteredBody<B> {
    inner: B,
    call: Call,
}

impl<B> HttpBody for MeteredBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    this.call
                        .finish(Call::status_in(trailers).unwrap_or(Code::Unknown));
                }
            }
            Poll::Ready(Some(Err(_))) => this.call.finish(Code::Unknown),
            // Ended without trailers: no status was sent.
            Poll::Ready(None) => this.call.finish(Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
