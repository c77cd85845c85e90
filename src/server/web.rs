//! gRPC-Web (`serve --grpc-web`): browsers call the service on the gRPC
//! port, over HTTP/1.1 or HTTP/2, and pages of the origins allowed may do
//! so across origins (CORS).
//!
//! [`GrpcWeb`] is the configuration; [`WebLayer`] wraps the whole router,
//! outside every service's `Gated` (`gate.rs`): a gRPC-Web call is
//! translated into a gRPC call first, then passes the access policy and the
//! per-call limits exactly as a gRPC call does, and its answer (the
//! refusals of the gate and of the panic guard included) is translated
//! back. The connection limit (`connections.rs`) counts HTTP/1.1
//! connections as it counts HTTP/2 ones.
//!
//! CORS headers are sent only when at least one origin is allowed:
//! without, a browser page of another origin cannot call the server, while
//! tools outside a browser and pages of the server's own origin can. `*` is
//! refused ([`OriginError::Wildcard`]): with it, any web page the desk's
//! users open could call the server from their browsers, which in open
//! mode (no tokens) acts as anyone.

use std::{
    convert::Infallible,
    fmt,
    future::Future,
    pin::Pin,
    str::FromStr,
    task::{Context, Poll},
    time::Duration,
};

use http::{HeaderName, HeaderValue, Method, Request, Response, header};
use tonic::{
    body::Body,
    codegen::{Bytes, Service},
};
use tonic_web::{GrpcWebLayer, GrpcWebService};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};
use tower_layer::Layer;

use crate::grpc::identity::USER_HEADER;

/// gRPC-Web on the gRPC port: hand it to [`super::Server::grpc_web`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrpcWeb {
    /// Origins whose pages may call the server from a browser (CORS);
    /// none: no CORS headers are sent.
    pub allowed_origins: Vec<Origin>,
}

/// Request headers a browser may send across origins: those the service
/// reads (the caller's token or, in open mode, name) and those of the
/// gRPC-Web protocol.
pub const ALLOWED_HEADERS: [HeaderName; 6] = [
    header::AUTHORIZATION,
    HeaderName::from_static(USER_HEADER),
    header::CONTENT_TYPE,
    HeaderName::from_static("x-grpc-web"),
    HeaderName::from_static("x-user-agent"),
    HeaderName::from_static("grpc-timeout"),
];

/// Response headers a page may read across origins: the status of a call
/// that fails at once travels in them (a trailers-only answer) rather than
/// in the body's trailer frame.
pub const EXPOSED_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("grpc-status"),
    HeaderName::from_static("grpc-message"),
    HeaderName::from_static("grpc-status-details-bin"),
];

/// How long a browser may keep the answer to a preflight request (browsers
/// cap it lower: Chromium at 2 hours).
pub const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

impl GrpcWeb {
    /// The gRPC-Web settings the flags ask for: `None` without
    /// `--grpc-web`; allowed origins without it are refused rather than
    /// ignored.
    pub fn from_flags(
        enabled: bool,
        allowed_origins: Vec<Origin>,
    ) -> Result<Option<Self>, CorsWithoutGrpcWeb> {
        match (enabled, allowed_origins.is_empty()) {
            (true, _) => Ok(Some(Self { allowed_origins })),
            (false, true) => Ok(None),
            (false, false) => Err(CorsWithoutGrpcWeb),
        }
    }

    /// Logs at start what the server serves to browsers.
    pub(super) fn log_mode(web: Option<&Self>, tls: bool) {
        let Some(web) = web else {
            return;
        };
        let transport = if tls {
            "HTTP/2 by ALPN (and HTTP/1.1 for clients that offer no ALPN)"
        } else {
            "HTTP/1.1 and HTTP/2"
        };
        if web.allowed_origins.is_empty() {
            tracing::info!(
                transport,
                "gRPC-Web on; no CORS origin allowed: only same-origin pages and tools \
                 outside browsers can call"
            );
        } else {
            let origins = web
                .allowed_origins
                .iter()
                .map(Origin::as_str)
                .collect::<Vec<_>>()
                .join(",");
            tracing::info!(
                transport,
                cors_allowed_origins = origins,
                "gRPC-Web on; pages of these origins may call across origins"
            );
        }
    }

    /// The CORS rules; `None` without an allowed origin.
    fn cors(&self) -> Option<CorsLayer> {
        if self.allowed_origins.is_empty() {
            return None;
        }
        let origins = self.allowed_origins.iter().map(|o| o.header.clone());
        Some(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::POST])
                .allow_headers(ALLOWED_HEADERS)
                .expose_headers(EXPOSED_HEADERS)
                .max_age(PREFLIGHT_MAX_AGE),
        )
    }
}

/// `--cors-allowed-origin` given without `--grpc-web`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "--cors-allowed-origin (CLAIMDESK_CORS_ALLOWED_ORIGINS) needs --grpc-web \
     (CLAIMDESK_GRPC_WEB): CORS only applies to gRPC-Web"
)]
pub struct CorsWithoutGrpcWeb;

/// A web origin, `scheme://host[:port]` with `http` or `https`, as a
/// browser sends it in the `Origin` header: lowercase, without the default
/// port, an internationalised host in its ASCII form.
#[derive(Clone, PartialEq, Eq)]
pub struct Origin {
    serialized: String,
    header: HeaderValue,
}

/// Why a text is not an [`Origin`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    #[error(
        "wildcards are not accepted: name each origin whose pages may call the server \
         (with `*`, any web page its users open could)"
    )]
    Wildcard,
    #[error("not an origin (scheme://host[:port], e.g. https://desk.example.org): {0}")]
    Invalid(String),
}

impl Origin {
    /// Parses `scheme://host[:port]`, surrounding whitespace ignored.
    pub fn parse(raw: &str) -> Result<Self, OriginError> {
        let invalid = |why: &str| Err(OriginError::Invalid(why.to_owned()));
        let raw = raw.trim();
        if raw.contains('*') {
            return Err(OriginError::Wildcard);
        }
        if raw.is_empty() {
            return invalid("it is empty");
        }
        let Some((scheme, authority)) = raw.split_once("://") else {
            return invalid("it does not start with http:// or https://");
        };
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return invalid("its scheme must be http or https");
        }
        if authority.contains(['/', '?', '#', '\\']) {
            return invalid("it has a path, a query or a fragment (not even a trailing `/`)");
        }
        if authority.contains('@') {
            return invalid("it has user information");
        }
        let url = match url::Url::parse(raw) {
            Ok(url) => url,
            Err(e) => return invalid(&format!("{e}")),
        };
        if url.host().is_none() {
            return invalid("it has no host");
        }
        let serialized = url.origin().ascii_serialization();
        match HeaderValue::from_str(&serialized) {
            Ok(header) => Ok(Self { serialized, header }),
            Err(_) => invalid("it cannot be sent in a header"),
        }
    }

    /// As a browser sends it, e.g. `https://desk.example.org`.
    pub fn as_str(&self) -> &str {
        &self.serialized
    }
}

impl FromStr for Origin {
    type Err = OriginError;

    fn from_str(raw: &str) -> Result<Self, OriginError> {
        Self::parse(raw)
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.serialized, f)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.serialized)
    }
}

/// Wraps the router: CORS (with allowed origins) around the gRPC-Web
/// translation, or nothing without [`GrpcWeb`].
#[derive(Clone)]
pub(super) struct WebLayer {
    /// `None`: gRPC-Web off.
    web: Option<Option<CorsLayer>>,
}

impl WebLayer {
    pub(super) fn new(web: Option<&GrpcWeb>) -> Self {
        Self {
            web: web.map(GrpcWeb::cors),
        }
    }
}

impl<S> Layer<S> for WebLayer {
    type Service = Web<S>;

    fn layer(&self, inner: S) -> Web<S> {
        match &self.web {
            None => Web::Off(inner),
            Some(None) => Web::On(GrpcWebLayer::new().layer(inner)),
            Some(Some(cors)) => {
                Web::WithCors(Box::new(cors.layer(GrpcWebLayer::new().layer(inner))))
            }
        }
    }
}

/// The router as [`WebLayer`] made it.
#[derive(Clone)]
pub(super) enum Web<S> {
    /// gRPC only, as without this layer.
    Off(S),
    On(GrpcWebService<S>),
    /// Boxed: the CORS rules are far larger than the other variants.
    WithCors(Box<Cors<GrpcWebService<S>>>),
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, B> Service<Request<Body>> for Web<S>
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible>,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError> + fmt::Display,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        match self {
            Web::Off(inner) => inner.poll_ready(cx),
            Web::On(web) => Service::<Request<Body>>::poll_ready(web, cx),
            Web::WithCors(cors) => Service::<Request<Body>>::poll_ready(cors.as_mut(), cx),
        }
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        match self {
            Web::Off(inner) => {
                let call = inner.call(request);
                Box::pin(async move { Ok(call.await?.map(Body::new)) })
            }
            Web::On(web) => Box::pin(web.call(request)),
            Web::WithCors(cors) => Box::pin(cors.call(request)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(raw: &str) -> String {
        match Origin::parse(raw) {
            Err(OriginError::Invalid(why)) => why,
            other => panic!("{raw:?} is refused as invalid, not {other:?}"),
        }
    }

    #[test]
    fn an_origin_is_kept_as_a_browser_sends_it() {
        for (raw, sent) in [
            ("https://desk.example.org", "https://desk.example.org"),
            ("http://localhost:5173", "http://localhost:5173"),
            ("  HTTPS://Desk.Example.ORG  ", "https://desk.example.org"),
            ("https://desk.example.org:443", "https://desk.example.org"),
            ("http://desk.example.org:80", "http://desk.example.org"),
            (
                "https://desk.example.org:8443",
                "https://desk.example.org:8443",
            ),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            (
                "https://rédaction.example",
                "https://xn--rdaction-b1a.example",
            ),
        ] {
            let origin = Origin::parse(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
            assert_eq!(origin.as_str(), sent, "{raw:?}");
            assert_eq!(origin.header, sent, "{raw:?}");
        }
    }

    #[test]
    fn wildcards_are_refused() {
        for raw in ["*", " * ", "https://*.example.org", "*://desk.example.org"] {
            assert_eq!(Origin::parse(raw), Err(OriginError::Wildcard), "{raw:?}");
        }
    }

    #[test]
    fn paths_queries_fragments_and_user_information_are_refused() {
        for raw in [
            "https://desk.example.org/",
            "https://desk.example.org/app",
            "https://desk.example.org?x=1",
            "https://desk.example.org#top",
            "https://desk.example.org\\app",
        ] {
            assert!(invalid(raw).contains("path"), "{raw:?}");
        }
        assert!(invalid("https://kim@desk.example.org").contains("user information"));
    }

    #[test]
    fn other_schemes_bare_hosts_and_bad_ports_are_refused() {
        assert!(invalid("ftp://desk.example.org").contains("scheme"));
        assert!(invalid("file:///tmp").contains("scheme"));
        assert!(invalid("desk.example.org").contains("http://"));
        assert!(invalid("").contains("empty"));
        assert!(invalid("  ").contains("empty"));
        invalid("https://");
        invalid("https://desk.example.org:99999");
        invalid("https://desk example.org");
    }

    #[test]
    fn origins_need_grpc_web() {
        let origin = Origin::parse("https://desk.example.org").expect("an origin");
        assert_eq!(GrpcWeb::from_flags(false, Vec::new()), Ok(None));
        assert_eq!(
            GrpcWeb::from_flags(false, vec![origin.clone()]),
            Err(CorsWithoutGrpcWeb)
        );
        assert_eq!(
            GrpcWeb::from_flags(true, vec![origin.clone()]),
            Ok(Some(GrpcWeb {
                allowed_origins: vec![origin]
            }))
        );
        assert_eq!(
            GrpcWeb::from_flags(true, Vec::new()),
            Ok(Some(GrpcWeb::default()))
        );
    }

    #[test]
    fn cors_is_set_only_for_allowed_origins() {
        assert!(GrpcWeb::default().cors().is_none());
        let web = GrpcWeb {
            allowed_origins: vec![Origin::parse("https://desk.example.org").expect("an origin")],
        };
        assert!(web.cors().is_some());
    }
}
