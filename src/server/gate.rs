//! What every call passes through: the access policy and the per-call
//! limits ([`Gated`]), and the panic guard ([`panic_to_status`]).

use std::{
    any::Any,
    collections::HashSet,
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use tonic::{Code, Status, body::Body, codegen::Service, server::NamedService};
use tracing::{Instrument, Span};

use super::Limits;
use crate::grpc::{self, policy::Policy};

/// The limits [`Gated`] enforces, shared by the services of one server.
pub(super) struct CallLimits {
    max_request_bytes: usize,
    request_timeout: Option<Duration>,
    /// Paths (`/package.Service/Method`) of the methods that stream in
    /// either direction; the request timeout does not apply to them.
    streaming: HashSet<String>,
}

impl CallLimits {
    pub(super) fn new(limits: &Limits) -> Arc<Self> {
        Arc::new(Self {
            max_request_bytes: limits.max_request_bytes,
            request_timeout: limits.request_timeout,
            streaming: grpc::served_methods()
                .into_iter()
                .filter(|m| m.streaming)
                .map(|m| m.path)
                .collect(),
        })
    }
}

/// A gRPC service whose calls first pass the access [`Policy`], then run
/// within [`CallLimits`]:
///
/// - A call the policy refuses (no or unknown token, a role that does not
///   allow the method, a method without a policy) is answered at once: its
///   handler never runs and its request is never read. An admitted call
///   runs in a span naming the caller.
/// - A unary call whose handler (reading the request included) runs longer
///   than the request timeout is dropped and answered DEADLINE_EXCEEDED.
///   Streaming methods are left alone: a `WatchClaimEvents` or health
///   `Watch` stream is meant to stay open for hours, and a `BackupDesk`
///   stream of a large desk lasts as long as the client takes to read it. The deadline covers
///   the handler up to its answer, so even applied to a stream it would
///   only bound the stream's start; streams are left out all the same, so
///   that this holds whatever a stream's handler does first. (tonic's
///   `Server::timeout` is not used: it answers CANCELLED, not
///   DEADLINE_EXCEEDED, and cannot leave streams out.)
/// - tonic refuses a request message larger than its decoding limit with
///   OUT_OF_RANGE; the gRPC convention, and what clients retry on, is
///   RESOURCE_EXHAUSTED, so that answer is rewritten, with an `ErrorInfo`
///   like every other error of the service.
#[derive(Clone)]
pub(super) struct Gated<S> {
    inner: S,
    policy: Arc<Policy>,
    limits: Arc<CallLimits>,
}

impl<S> Gated<S> {
    pub(super) fn new(inner: S, policy: &Arc<Policy>, limits: &Arc<CallLimits>) -> Self {
        Self {
            inner,
            policy: policy.clone(),
            limits: limits.clone(),
        }
    }
}

impl<S: NamedService> NamedService for Gated<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for Gated<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let span = match self.policy.admit(&mut request) {
            Ok(span) => span.unwrap_or_else(Span::none),
            Err(refusal) => return Box::pin(std::future::ready(Ok(refusal.into_http()))),
        };
        let path = request.uri().path().to_owned();
        let timeout = self
            .limits
            .request_timeout
            .filter(|_| !self.limits.streaming.contains(&path));
        let max_request_bytes = self.limits.max_request_bytes;
        let call = span.in_scope(|| self.inner.call(request));
        let gated = async move {
            let response = match timeout {
                None => call.await?,
                Some(timeout) => match tokio::time::timeout(timeout, call).await {
                    Ok(response) => response?,
                    Err(_) => {
                        tracing::warn!(
                            method = path,
                            timeout_ms = timeout.as_millis(),
                            "call ran longer than the request timeout; ended"
                        );
                        return Ok(request_timeout(timeout).into_http());
                    }
                },
            };
            if is_oversized_request(&response) {
                tracing::info!(
                    method = path,
                    max_request_bytes,
                    "request message too large; refused"
                );
                return Ok(message_too_large(max_request_bytes).into_http());
            }
            Ok(response)
        };
        Box::pin(gated.instrument(span))
    }
}

/// Whether `response` is tonic's refusal of a request message above its
/// decoding limit (the status travels in the response's extensions).
fn is_oversized_request(response: &http::Response<Body>) -> bool {
    response.extensions().get::<Status>().is_some_and(|status| {
        status.code() == Code::OutOfRange
            && status
                .message()
                .starts_with("Error, decoded message length too large")
    })
}

fn message_too_large(limit: usize) -> Status {
    grpc::status::status(
        Code::ResourceExhausted,
        "MESSAGE_TOO_LARGE",
        format!("the request message is larger than the {limit} bytes the server accepts"),
        &[("max_request_bytes", limit.to_string())],
    )
}

fn request_timeout(timeout: Duration) -> Status {
    grpc::status::status(
        Code::DeadlineExceeded,
        "REQUEST_TIMEOUT",
        format!(
            "the call ran longer than the server's request timeout ({} ms)",
            timeout.as_millis()
        ),
        &[("timeout_ms", timeout.as_millis().to_string())],
    )
}

/// A handler that panics answers INTERNAL; the server keeps serving.
pub(super) fn panic_to_status(
    panic: Box<dyn Any + Send + 'static>,
) -> http::Response<tonic::body::Body> {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "handler panicked");
    grpc::status::internal().into_http()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_streaming_methods_escape_the_request_timeout() {
        let streaming = CallLimits::new(&Limits::default()).streaming.clone();
        for path in [
            "/claimdesk.v1.ClaimService/WatchClaimEvents",
            "/claimdesk.v1.ClaimService/BackupDesk",
            "/grpc.health.v1.Health/Watch",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ] {
            assert!(streaming.contains(path), "{path} in {streaming:?}");
        }
        assert_eq!(streaming.len(), 5, "{streaming:?}");
        for path in [
            "/claimdesk.v1.ClaimService/GetClaim",
            "/claimdesk.v1.ClaimService/SubmitClaim",
            "/grpc.health.v1.Health/Check",
        ] {
            assert!(!streaming.contains(path), "{path}");
        }
    }
}
