//! gRPC-Web (`serve --grpc-web`): real gRPC-Web requests, made with a hyper
//! client over HTTP/1.1 (HTTP/2 and TLS where said), framed and read here
//! byte by byte: a request body is frames of 1 flag byte, a 4-byte
//! big-endian length and a message; an answer's body is data frames, then
//! a trailer frame (flag 0x80) holding `grpc-status: N\r\n...`, unless the
//! call failed at once (a trailers-only answer: the status in the
//! headers). Nothing sleeps: every wait is for an answer or a frame,
//! bounded by [`ANSWER_TIMEOUT`].

use std::{net::SocketAddr, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use claimdesk::{
    domain::Role,
    pb,
    server::{
        Limits,
        web::{ALLOWED_HEADERS, EXPOSED_HEADERS, GrpcWeb, Origin},
    },
    testing::TestServer,
    tls::TlsConfig,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
};
use tonic::{Code, Status};

use crate::helpers::{
    PROCESS_WAIT, ServeProcess, UNKNOWN_CLAIM, error_metadata, expect_error, expect_invalid_fields,
    harbour_claim, numbered_claim, serve_command, submit,
};

/// Bounds every wait for an answer or a frame; not a delay.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

const ALLOWED: &str = "https://desk.example.org";
const ELSEWHERE: &str = "https://elsewhere.example";

const GRPC_WEB: &str = "application/grpc-web+proto";
const GRPC_WEB_TEXT: &str = "application/grpc-web-text";

// ---------------------------------------------------------------------------
// Servers.

async fn start(builder: claimdesk::testing::Builder) -> TestServer {
    builder.start().await.expect("the test server starts")
}

/// A server in open mode serving gRPC-Web with `web`.
async fn web_server(web: GrpcWeb) -> TestServer {
    start(TestServer::builder().configure(move |s| s.grpc_web(web))).await
}

/// gRPC-Web with CORS for [`ALLOWED`].
fn allowing_desk() -> GrpcWeb {
    GrpcWeb {
        allowed_origins: vec![Origin::parse(ALLOWED).expect("an origin")],
    }
}

// ---------------------------------------------------------------------------
// The client: one connection, HTTP/1.1 or HTTP/2.

enum Sender {
    Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

/// One connection to a server; dropping it closes the connection.
struct WebClient {
    addr: SocketAddr,
    sender: Sender,
    connection: tokio::task::JoinHandle<()>,
}

impl WebClient {
    /// An HTTP/1.1 connection, as a browser opens for gRPC-Web.
    async fn http1(addr: SocketAddr) -> Self {
        Self::http1_over(addr, connect(addr).await).await
    }

    async fn http1_over<IO>(addr: SocketAddr, io: IO) -> Self
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .expect("an HTTP/1.1 connection");
        Self {
            addr,
            sender: Sender::Http1(sender),
            connection: tokio::spawn(async move {
                let _ = connection.await;
            }),
        }
    }

    /// An HTTP/2 connection (prior knowledge without TLS).
    async fn http2_over<IO>(addr: SocketAddr, io: IO) -> Self
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
                .await
                .expect("an HTTP/2 connection");
        Self {
            addr,
            sender: Sender::Http2(sender),
            connection: tokio::spawn(async move {
                let _ = connection.await;
            }),
        }
    }

    /// Sends `request` (its URI a path); the answer's head, its body still
    /// to read.
    async fn try_send(
        &mut self,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, hyper::Error> {
        let authority = self.addr.to_string();
        let sent = match &mut self.sender {
            Sender::Http1(sender) => {
                let host = HeaderValue::from_str(&authority).expect("an address fits a header");
                request.headers_mut().insert(http::header::HOST, host);
                sender.send_request(request)
            }
            Sender::Http2(sender) => {
                let path = request.uri().path().to_owned();
                *request.uri_mut() = format!("http://{authority}{path}")
                    .parse()
                    .expect("an absolute URI");
                // An owned future, whichever the version.
                let sent = sender.send_request(request);
                return tokio::time::timeout(ANSWER_TIMEOUT, sent)
                    .await
                    .expect("an answer in time");
            }
        };
        tokio::time::timeout(ANSWER_TIMEOUT, sent)
            .await
            .expect("an answer in time")
    }

    async fn send(&mut self, request: Request<Full<Bytes>>) -> Response<Incoming> {
        self.try_send(request).await.expect("the server answers")
    }

    /// Sends `request` and reads its whole answer.
    async fn call(&mut self, request: Request<Full<Bytes>>) -> Answer {
        Answer::read(self.send(request).await).await
    }
}

impl Drop for WebClient {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

async fn connect(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(ANSWER_TIMEOUT, TcpStream::connect(addr))
        .await
        .expect("connected in time")
        .expect("the server accepts connections")
}

// ---------------------------------------------------------------------------
// Requests.

/// A data frame holding `message`.
fn frame(message: &impl Message) -> Vec<u8> {
    let message = message.encode_to_vec();
    let mut frame = vec![0];
    frame.extend(
        u32::try_from(message.len())
            .expect("a small message")
            .to_be_bytes(),
    );
    frame.extend(message);
    frame
}

/// A gRPC-Web request for `method` of `claimdesk.v1.ClaimService`, as a
/// browser client sends it, with `headers` besides.
fn web_request(
    method: &str,
    message: &impl Message,
    headers: &[(&str, &str)],
) -> Request<Full<Bytes>> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(format!("/claimdesk.v1.ClaimService/{method}"))
        .header("content-type", GRPC_WEB)
        .header("accept", GRPC_WEB)
        .header("x-grpc-web", "1")
        .header("x-user-agent", "grpc-web-javascript/0.1");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .body(Full::new(Bytes::from(frame(message))))
        .expect("a request")
}

/// [`web_request`] in open mode as `user`.
fn web_request_as(method: &str, message: &impl Message, user: &str) -> Request<Full<Bytes>> {
    web_request(method, message, &[("x-claimdesk-user", user)])
}

fn get_claim(name: &str) -> pb::GetClaimRequest {
    pb::GetClaimRequest {
        name: name.to_owned(),
    }
}

/// A CORS preflight from `origin` for a gRPC-Web call sending `headers`.
fn preflight(origin: &str, headers: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/claimdesk.v1.ClaimService/GetQueueStats")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", headers)
        .body(Full::default())
        .expect("a request")
}

// ---------------------------------------------------------------------------
// Answers.

/// The first frame of `buffer`, taken out of it once whole: its flag byte
/// and its payload.
fn take_frame(buffer: &mut Vec<u8>) -> Option<(u8, Vec<u8>)> {
    let header: [u8; 5] = buffer.get(..5)?.try_into().ok()?;
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if buffer.len() < 5 + len {
        return None;
    }
    let payload = buffer[5..5 + len].to_vec();
    buffer.drain(..5 + len);
    Some((header[0], payload))
}

/// The `name: value` lines of a trailer frame.
fn trailer_map(payload: &[u8]) -> HeaderMap {
    let text = std::str::from_utf8(payload).expect("trailers are text");
    let mut map = HeaderMap::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("{line:?} is `name: value`"));
        map.append(
            HeaderName::from_bytes(name.trim().as_bytes()).expect("a header name"),
            HeaderValue::from_str(value.trim()).expect("a header value"),
        );
    }
    map
}

/// A whole gRPC-Web answer.
#[derive(Debug)]
struct Answer {
    http: StatusCode,
    version: http::Version,
    headers: HeaderMap,
    /// The data frames' messages.
    messages: Vec<Vec<u8>>,
    /// The trailer frame, if the body ends with one.
    trailers: Option<HeaderMap>,
}

impl Answer {
    /// Reads the body of `response` to its end, undoing the base64 of
    /// `application/grpc-web-text`.
    async fn read(response: Response<Incoming>) -> Self {
        let (head, body) = response.into_parts();
        let body = tokio::time::timeout(ANSWER_TIMEOUT, body.collect())
            .await
            .expect("the whole body in time")
            .expect("the body is read")
            .to_bytes();
        let text = head
            .headers
            .get("content-type")
            .is_some_and(|t| t.as_bytes().starts_with(GRPC_WEB_TEXT.as_bytes()));
        let mut body = if text {
            decode_text(&body)
        } else {
            body.to_vec()
        };
        let (mut messages, mut trailers) = (Vec::new(), None);
        while let Some((flag, payload)) = take_frame(&mut body) {
            assert!(trailers.is_none(), "nothing follows the trailer frame");
            match flag {
                0 => messages.push(payload),
                0x80 => trailers = Some(trailer_map(&payload)),
                other => panic!("unexpected frame flag {other:#x}"),
            }
        }
        assert!(
            body.is_empty(),
            "the body ends with a whole frame: {body:?}"
        );
        Self {
            http: head.status,
            version: head.version,
            headers: head.headers,
            messages,
            trailers,
        }
    }

    /// The call's status: from the trailer frame, or, in a trailers-only
    /// answer, from the headers.
    fn status(&self) -> Status {
        let map = self.trailers.as_ref().unwrap_or(&self.headers);
        Status::from_header_map(map).unwrap_or_else(|| panic!("{self:?} carries a grpc-status"))
    }

    /// The one message of a unary call that succeeded, or its error status.
    fn result<T: Message + Default>(&self) -> Result<T, Status> {
        let status = self.status();
        if status.code() != Code::Ok {
            assert!(self.messages.is_empty(), "a failed call sends no message");
            return Err(status);
        }
        assert_eq!(self.messages.len(), 1, "a unary answer holds one message");
        Ok(T::decode(self.messages[0].as_slice()).expect("the message decodes"))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The body of an `application/grpc-web-text` answer: each chunk the
/// server wrote is base64 of its own, padded, so decode chunk by chunk.
fn decode_text(body: &[u8]) -> Vec<u8> {
    let mut decoded = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let end = match rest.iter().position(|&b| b == b'=') {
            Some(pad) => pad + rest[pad..].iter().take_while(|&&b| b == b'=').count(),
            None => rest.len(),
        };
        decoded.extend(STANDARD.decode(&rest[..end]).expect("base64"));
        rest = &rest[end..];
    }
    decoded
}

/// The value of `name` split at commas, trimmed and lowercase.
fn listed(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().expect("a text header").split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect()
}

fn cors_headers(headers: &HeaderMap) -> Vec<&HeaderName> {
    headers
        .keys()
        .filter(|name| name.as_str().starts_with("access-control-"))
        .collect()
}

// ---------------------------------------------------------------------------
// Calls.

#[tokio::test]
async fn unary_calls_over_http1_answer_their_message_then_grpc_status_0_in_the_trailer_frame() {
    let server = web_server(GrpcWeb::default()).await;
    let mut web = WebClient::http1(server.addr()).await;

    let submit = pb::SubmitClaimRequest {
        claim: Some(harbour_claim()),
        ..Default::default()
    };
    let submitted = web
        .call(web_request_as("SubmitClaim", &submit, "maria"))
        .await;
    assert_eq!(submitted.http, StatusCode::OK);
    assert_eq!(submitted.version, http::Version::HTTP_11);
    assert_eq!(submitted.header("content-type"), Some(GRPC_WEB));
    let submitted: pb::Claim = submitted.result().expect("SubmitClaim succeeds");
    assert_eq!(submitted.submitted_by, "maria");
    assert_eq!(submitted.label, "unverified (per Harbour Gazette)");

    // The same connection carries the next call.
    let got = web
        .call(web_request_as(
            "GetClaim",
            &get_claim(&submitted.name),
            "tomas",
        ))
        .await;
    let trailers = got.trailers.as_ref().expect("a trailer frame");
    assert_eq!(
        trailers.get("grpc-status").map(|v| v.as_bytes()),
        Some(&b"0"[..])
    );
    assert!(
        got.header("grpc-status").is_none(),
        "the status is in the trailer frame only"
    );
    let got: pb::Claim = got.result().expect("GetClaim succeeds");
    assert_eq!(got, submitted);

    // gRPC clients see the same claim on the same port.
    let mut grpc = server.client().await.expect("a gRPC client");
    let over_grpc = grpc
        .get_claim(get_claim(&got.name))
        .await
        .expect("GetClaim");
    assert_eq!(over_grpc.into_inner(), got);
}

#[tokio::test]
async fn errors_carry_the_code_reason_and_details_of_the_grpc_api() {
    let server = web_server(GrpcWeb::default()).await;
    let mut web = WebClient::http1(server.addr()).await;

    let missing = web
        .call(web_request_as(
            "GetClaim",
            &get_claim(UNKNOWN_CLAIM),
            "tomas",
        ))
        .await;
    assert_eq!(
        missing.http,
        StatusCode::OK,
        "gRPC errors travel in a 200 answer"
    );
    // A call that fails at once answers trailers-only: the status in the
    // headers, where CORS exposes it to a page.
    assert_eq!(missing.header("grpc-status"), Some("5"));
    let details_bin = missing
        .header("grpc-status-details-bin")
        .expect("the google.rpc.Status, in base64");
    assert!(!details_bin.is_empty());
    let (_, details) = expect_error(
        missing.result::<pb::Claim>(),
        Code::NotFound,
        "CLAIM_NOT_FOUND",
    );
    assert_eq!(
        error_metadata(&details, "name").as_deref(),
        Some(UNKNOWN_CLAIM)
    );

    let malformed = web
        .call(web_request_as(
            "GetClaim",
            &get_claim("claims/not-a-claim-id"),
            "tomas",
        ))
        .await;
    assert_eq!(malformed.header("grpc-status"), Some("3"));
    expect_invalid_fields(malformed.result::<pb::Claim>(), &["name"]);
}

#[tokio::test]
async fn a_server_stream_sends_the_stored_events_as_frames_in_revision_order() {
    let server = web_server(GrpcWeb::default()).await;
    let mut grpc = server.client().await.expect("a gRPC client");
    let mut submitted = Vec::new();
    for n in 0..3 {
        submitted.push(
            submit(
                &mut grpc,
                "maria",
                numbered_claim("river-crossing", "Valley Post", n),
            )
            .await,
        );
    }
    // Another story's claim is left out by the filter.
    submit(&mut grpc, "maria", harbour_claim()).await;

    let mut web = WebClient::http1(server.addr()).await;
    let watch = pb::WatchClaimEventsRequest {
        story: "river-crossing".into(),
        ..Default::default()
    };
    let response = web
        .send(web_request_as("WatchClaimEvents", &watch, "tomas"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();

    // The stream stays open: read the frames expected as they arrive.
    let mut buffer = Vec::new();
    let mut events = Vec::new();
    while events.len() < submitted.len() {
        let frame = tokio::time::timeout(ANSWER_TIMEOUT, body.frame())
            .await
            .expect("the next event in time")
            .expect("the stream goes on")
            .expect("the body is read");
        buffer.extend_from_slice(&frame.into_data().expect("data, not trailers"));
        while let Some((flag, payload)) = take_frame(&mut buffer) {
            assert_eq!(flag, 0, "a data frame while the stream is open");
            events.push(pb::ClaimEvent::decode(payload.as_slice()).expect("an event"));
        }
    }
    let revisions: Vec<u64> = events.iter().map(|e| e.revision).collect();
    assert!(
        revisions.windows(2).all(|w| w[0] < w[1]),
        "{revisions:?} ascend"
    );
    let claims: Vec<&str> = events.iter().map(|e| e.claim.as_str()).collect();
    let names: Vec<&str> = submitted.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(claims, names, "one submitted event per claim, in order");
    drop(body);
    drop(web);
}

#[tokio::test]
async fn grpc_web_text_carries_a_unary_call_in_base64() {
    let server = web_server(GrpcWeb::default()).await;
    let mut grpc = server.client().await.expect("a gRPC client");
    let claim = submit(&mut grpc, "maria", harbour_claim()).await;

    let mut web = WebClient::http1(server.addr()).await;
    let mut request = web_request_as("GetClaim", &get_claim(&claim.name), "tomas");
    let encoded = STANDARD.encode(
        request
            .body()
            .clone()
            .collect()
            .await
            .expect("a body")
            .to_bytes(),
    );
    *request.body_mut() = Full::new(Bytes::from(encoded));
    for name in ["content-type", "accept"] {
        request
            .headers_mut()
            .insert(name, HeaderValue::from_static(GRPC_WEB_TEXT));
    }
    let answer = web.call(request).await;
    assert_eq!(
        answer.header("content-type"),
        Some("application/grpc-web-text+proto")
    );
    assert!(
        answer.trailers.is_some(),
        "a trailer frame, in the base64 too"
    );
    let got: pb::Claim = answer.result().expect("GetClaim succeeds");
    assert_eq!(got, claim);
}

// ---------------------------------------------------------------------------
// Authentication, the access policy and the limits.

#[tokio::test]
async fn tokens_and_the_access_policy_apply_as_over_grpc() {
    let server = start(
        TestServer::builder()
            .user("maria", Role::Editor)
            .user("kofi", Role::Checker)
            .configure(|s| s.grpc_web(GrpcWeb::default())),
    )
    .await;
    let bearer = |user: &str| format!("Bearer {}", server.token(user).expect("a token"));
    let mut web = WebClient::http1(server.addr()).await;
    let stats = pb::GetQueueStatsRequest::default();

    let anonymous = web.call(web_request("GetQueueStats", &stats, &[])).await;
    expect_error(
        anonymous.result::<pb::QueueStats>(),
        Code::Unauthenticated,
        "TOKEN_MISSING",
    );
    // In token mode a name in x-claimdesk-user is no credential.
    let named = web
        .call(web_request_as("GetQueueStats", &stats, "kofi"))
        .await;
    expect_error(
        named.result::<pb::QueueStats>(),
        Code::Unauthenticated,
        "TOKEN_MISSING",
    );

    let maria = bearer("maria");
    let as_maria = [("authorization", maria.as_str())];
    let served = web
        .call(web_request("GetQueueStats", &stats, &as_maria))
        .await;
    served
        .result::<pb::QueueStats>()
        .expect("an editor reads the queue stats");

    let take = pb::TakeNextClaimRequest::default();
    let refused = web
        .call(web_request("TakeNextClaim", &take, &as_maria))
        .await;
    let (web_status, web_details) = expect_error(
        refused.result::<pb::Claim>(),
        Code::PermissionDenied,
        "ROLE_REQUIRED",
    );
    // Exactly what a gRPC client of the same server is told.
    let mut grpc = server.client_as("maria").await.expect("a gRPC client");
    let (grpc_status, grpc_details) = expect_error(
        grpc.take_next_claim(take.clone())
            .await
            .map(|r| r.into_inner()),
        Code::PermissionDenied,
        "ROLE_REQUIRED",
    );
    assert_eq!(web_status.message(), grpc_status.message());
    let info = |details: &tonic_types::ErrorDetails| {
        let info = details.error_info().expect("an ErrorInfo").clone();
        (info.reason, info.domain, info.metadata)
    };
    assert_eq!(info(&web_details), info(&grpc_details));
    assert_eq!(
        error_metadata(&web_details, "role").as_deref(),
        Some("checker")
    );

    // A checker passes the policy (and finds the queue empty).
    let kofi = bearer("kofi");
    let as_kofi = [("authorization", kofi.as_str())];
    let taken = web
        .call(web_request("TakeNextClaim", &take, &as_kofi))
        .await;
    let code = taken.status().code();
    assert!(
        !matches!(code, Code::PermissionDenied | Code::Unauthenticated),
        "{taken:?}"
    );
}

#[tokio::test]
async fn the_request_size_limit_holds_for_grpc_web_calls() {
    let limits = Limits {
        max_request_bytes: 1024,
        ..Limits::default()
    };
    let server = start(
        TestServer::builder()
            .limits(limits)
            .configure(|s| s.grpc_web(GrpcWeb::default())),
    )
    .await;
    let mut web = WebClient::http1(server.addr()).await;
    let mut claim = harbour_claim();
    claim.statement = "A crowd gathered at the quay ".repeat(60);
    let submit = pb::SubmitClaimRequest {
        claim: Some(claim),
        ..Default::default()
    };
    let answer = web
        .call(web_request_as("SubmitClaim", &submit, "maria"))
        .await;
    let (_, details) = expect_error(
        answer.result::<pb::Claim>(),
        Code::ResourceExhausted,
        "MESSAGE_TOO_LARGE",
    );
    assert_eq!(
        error_metadata(&details, "max_request_bytes").as_deref(),
        Some("1024")
    );

    // The connection goes on serving.
    let stats = web
        .call(web_request_as(
            "GetQueueStats",
            &pb::GetQueueStatsRequest::default(),
            "maria",
        ))
        .await;
    stats
        .result::<pb::QueueStats>()
        .expect("served after the refusal");
}

#[tokio::test]
async fn http1_connections_count_against_the_connection_limit() {
    let limits = Limits {
        max_connections: 1,
        ..Limits::default()
    };
    let server = start(
        TestServer::builder()
            .limits(limits)
            .configure(|s| s.grpc_web(GrpcWeb::default())),
    )
    .await;
    let stats = pb::GetQueueStatsRequest::default();
    let mut first = WebClient::http1(server.addr()).await;
    // Answered: the connection holds the one slot.
    let answer = first
        .call(web_request_as("GetQueueStats", &stats, "maria"))
        .await;
    answer
        .result::<pb::QueueStats>()
        .expect("the first connection is served");

    // The second connection is reset as soon as it is accepted: the reset
    // may reach the client while it connects, or once it sends.
    match TcpStream::connect(server.addr()).await {
        Err(e) => assert_eq!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset,
            "the second connection is reset: {e:?}"
        ),
        Ok(stream) => {
            let mut second = WebClient::http1_over(server.addr(), stream).await;
            let refused = second
                .try_send(web_request_as("GetQueueStats", &stats, "maria"))
                .await;
            assert!(
                refused.is_err(),
                "the second connection is reset: {refused:?}"
            );
        }
    }

    let again = first
        .call(web_request_as("GetQueueStats", &stats, "maria"))
        .await;
    again
        .result::<pb::QueueStats>()
        .expect("the first connection is still served");
}

#[tokio::test]
async fn an_http1_header_block_is_bounded_in_fields_and_size() {
    let server = web_server(GrpcWeb::default()).await;
    let stats = pb::GetQueueStatsRequest::default();
    let with_headers = |headers: &[(String, String)]| {
        let mut request = web_request_as("GetQueueStats", &stats, "maria");
        for (name, value) in headers {
            request.headers_mut().append(
                HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                HeaderValue::from_str(value).expect("a header value"),
            );
        }
        request
    };
    let numbered = |n: usize| -> Vec<(String, String)> {
        (0..n)
            .map(|i| (format!("x-note-{i}"), "v".to_owned()))
            .collect()
    };

    // 100 header fields at most, the request's own (host, content-type...)
    // included.
    let mut web = WebClient::http1(server.addr()).await;
    let answer = web.call(with_headers(&numbered(90))).await;
    answer
        .result::<pb::QueueStats>()
        .expect("90 more fields are served");
    let mut web = WebClient::http1(server.addr()).await;
    let answer = web.call(with_headers(&numbered(100))).await;
    assert_eq!(answer.http, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);

    // About 400 KiB of request line and headers at most.
    let big = |kib: usize| vec![("x-note".to_owned(), "a".repeat(kib * 1024))];
    let mut web = WebClient::http1(server.addr()).await;
    let answer = web.call(with_headers(&big(300))).await;
    answer
        .result::<pb::QueueStats>()
        .expect("300 KiB of headers are served");
    // Refused as soon as the limit is passed: the server answers 431 and
    // closes while the client may still be writing the rest, so the client
    // sees the answer or, if the close reached it first, a broken pipe or
    // a reset. Either way nothing was served.
    let mut web = WebClient::http1(server.addr()).await;
    match web.try_send(with_headers(&big(500))).await {
        Ok(answer) => assert_eq!(answer.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        Err(e) => {
            let io = std::error::Error::source(&e)
                .and_then(|cause| cause.downcast_ref::<std::io::Error>())
                .map(std::io::Error::kind);
            assert!(
                e.is_incomplete_message()
                    || matches!(
                        io,
                        Some(std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset)
                    ),
                "refused by closing, not by another failure: {e:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// CORS.

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered_with_the_cors_rules() {
    let server = web_server(allowing_desk()).await;
    let mut web = WebClient::http1(server.addr()).await;
    let asked = "content-type,x-grpc-web,x-user-agent,authorization,x-claimdesk-user,grpc-timeout";
    let answer = web.call(preflight(ALLOWED, asked)).await;

    assert!(answer.http.is_success(), "{answer:?}");
    assert_eq!(answer.header("access-control-allow-origin"), Some(ALLOWED));
    assert_eq!(
        listed(&answer.headers, "access-control-allow-methods"),
        ["post"]
    );
    let allowed = listed(&answer.headers, "access-control-allow-headers");
    for header in asked.split(',') {
        assert!(
            allowed.iter().any(|a| a == header),
            "{header} in {allowed:?}"
        );
    }
    assert_eq!(allowed.len(), ALLOWED_HEADERS.len(), "{allowed:?}");
    assert_eq!(answer.header("access-control-max-age"), Some("86400"));
    assert!(answer.header("access-control-allow-credentials").is_none());
}

#[tokio::test]
async fn a_call_from_an_allowed_origin_exposes_the_status_headers() {
    let server = web_server(allowing_desk()).await;
    let mut web = WebClient::http1(server.addr()).await;
    let origin = [("origin", ALLOWED), ("x-claimdesk-user", "tomas")];

    let missing = web
        .call(web_request("GetClaim", &get_claim(UNKNOWN_CLAIM), &origin))
        .await;
    assert_eq!(missing.header("access-control-allow-origin"), Some(ALLOWED));
    let exposed = listed(&missing.headers, "access-control-expose-headers");
    for header in EXPOSED_HEADERS {
        assert!(
            exposed.iter().any(|e| e == header.as_str()),
            "{header} in {exposed:?}"
        );
    }
    // What a page reads of a failed call: the exposed headers.
    expect_error(
        missing.result::<pb::Claim>(),
        Code::NotFound,
        "CLAIM_NOT_FOUND",
    );
}

#[tokio::test]
async fn another_origin_gets_no_allow_origin() {
    let server = web_server(allowing_desk()).await;
    let mut web = WebClient::http1(server.addr()).await;

    let answer = web
        .call(preflight(ELSEWHERE, "content-type,x-grpc-web"))
        .await;
    assert!(
        answer.header("access-control-allow-origin").is_none(),
        "{answer:?}"
    );

    // The call itself is answered (a browser keeps the answer from the
    // page), still without an allow-origin.
    let stats = pb::GetQueueStatsRequest::default();
    let call = web
        .call(web_request(
            "GetQueueStats",
            &stats,
            &[("origin", ELSEWHERE)],
        ))
        .await;
    assert!(
        call.header("access-control-allow-origin").is_none(),
        "{call:?}"
    );
    call.result::<pb::QueueStats>().expect("served");
}

#[tokio::test]
async fn a_server_without_allowed_origins_sends_no_cors_headers() {
    let server = web_server(GrpcWeb::default()).await;
    let mut web = WebClient::http1(server.addr()).await;

    let answer = web
        .call(preflight(ALLOWED, "content-type,x-grpc-web"))
        .await;
    assert_eq!(
        cors_headers(&answer.headers),
        Vec::<&HeaderName>::new(),
        "{answer:?}"
    );
    assert!(
        !answer.http.is_success(),
        "the preflight is not accepted: {answer:?}"
    );

    // A page of the server's own origin (or a tool) is served.
    let mut fresh = WebClient::http1(server.addr()).await;
    let stats = pb::GetQueueStatsRequest::default();
    let call = fresh
        .call(web_request("GetQueueStats", &stats, &[("origin", ALLOWED)]))
        .await;
    assert_eq!(
        cors_headers(&call.headers),
        Vec::<&HeaderName>::new(),
        "{call:?}"
    );
    call.result::<pb::QueueStats>().expect("served");
}

// ---------------------------------------------------------------------------
// HTTP versions and TLS.

#[tokio::test]
async fn without_grpc_web_an_http1_request_gets_no_http1_answer_and_its_connection_closed() {
    let server = start(TestServer::builder()).await;
    let stats = pb::GetQueueStatsRequest::default();

    // An HTTP/1.1 client gets no answer at all.
    let mut web = WebClient::http1(server.addr()).await;
    let refused = web
        .try_send(web_request_as("GetQueueStats", &stats, "maria"))
        .await;
    assert!(refused.is_err(), "no HTTP/1.1 answer: {refused:?}");

    // On the wire: the server speaks HTTP/2 only, so it reads the request
    // as a bad connection preface and closes the connection; the bytes
    // before the close, if any, are HTTP/2 frames (its SETTINGS first).
    let mut stream = connect(server.addr()).await;
    stream
        .write_all(
            b"POST /claimdesk.v1.ClaimService/GetQueueStats HTTP/1.1\r\n\
              host: claimdesk.test\r\ncontent-type: application/grpc-web+proto\r\n\
              x-grpc-web: 1\r\ncontent-length: 5\r\n\r\n\0\0\0\0\0",
        )
        .await
        .expect("the request is written");
    let mut answer = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        let read = tokio::time::timeout(ANSWER_TIMEOUT, stream.read(&mut chunk))
            .await
            .expect("the server closes the connection in time");
        match read {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            // Closed with the rest of the request unread: a reset.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading the answer: {e}"),
        }
    }
    assert!(
        !answer.starts_with(b"HTTP/"),
        "no HTTP/1 answer: {answer:?}"
    );
    if answer.len() >= 9 {
        assert_eq!(answer[3], 0x4, "an HTTP/2 SETTINGS frame first: {answer:?}");
    }

    // gRPC is served as ever.
    let mut grpc = server.client().await.expect("a gRPC client");
    grpc.get_queue_stats(stats).await.expect("gRPC is served");
}

#[tokio::test]
async fn grpc_web_is_served_over_http2_too() {
    let server = web_server(GrpcWeb::default()).await;
    let mut web = WebClient::http2_over(server.addr(), connect(server.addr()).await).await;
    let submit = pb::SubmitClaimRequest {
        claim: Some(harbour_claim()),
        ..Default::default()
    };
    let answer = web
        .call(web_request_as("SubmitClaim", &submit, "maria"))
        .await;
    assert_eq!(answer.version, http::Version::HTTP_2);
    assert_eq!(answer.header("content-type"), Some(GRPC_WEB));
    assert!(
        answer.trailers.is_some(),
        "the status in a trailer frame, not HTTP/2 trailers"
    );
    let claim: pb::Claim = answer.result().expect("SubmitClaim succeeds");
    assert_eq!(claim.submitted_by, "maria");
}

/// A TLS connection to `addr` trusting `cert`, offering `alpn`.
async fn tls_connect(
    addr: SocketAddr,
    cert: &rcgen::Certificate,
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(cert.der().clone())
        .expect("a trusted certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a server name");
    tokio::time::timeout(ANSWER_TIMEOUT, connector.connect(name, connect(addr).await))
        .await
        .expect("the handshake ends in time")
}

#[tokio::test]
async fn over_tls_browsers_get_grpc_web_over_http2_by_alpn() {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let tls = TlsConfig::from_pem(
        cert.pem().as_bytes(),
        signing_key.serialize_pem().as_bytes(),
        None,
    )
    .expect("a TLS configuration");
    let server = start(
        TestServer::builder()
            .tls(tls)
            .configure(|s| s.grpc_web(GrpcWeb::default())),
    )
    .await;
    let stats = pb::GetQueueStatsRequest::default();

    // A browser offers h2 and http/1.1; the server picks h2.
    let stream = tls_connect(server.addr(), &cert, &[b"h2", b"http/1.1"])
        .await
        .expect("the handshake succeeds");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut web = WebClient::http2_over(server.addr(), stream).await;
    let answer = web
        .call(web_request_as("GetQueueStats", &stats, "maria"))
        .await;
    assert_eq!(answer.version, http::Version::HTTP_2);
    answer
        .result::<pb::QueueStats>()
        .expect("served over TLS and HTTP/2");

    // A client offering no ALPN may speak HTTP/1.1.
    let stream = tls_connect(server.addr(), &cert, &[])
        .await
        .expect("the handshake succeeds");
    let mut web = WebClient::http1_over(server.addr(), stream).await;
    let answer = web
        .call(web_request_as("GetQueueStats", &stats, "maria"))
        .await;
    assert_eq!(answer.version, http::Version::HTTP_11);
    answer
        .result::<pb::QueueStats>()
        .expect("served over TLS and HTTP/1.1");

    // One offering only http/1.1 finds no protocol in common.
    let refused = tls_connect(server.addr(), &cert, &[b"http/1.1"]).await;
    assert!(
        refused.is_err(),
        "the handshake fails: {:?}",
        refused.map(|_| ())
    );
}

// ---------------------------------------------------------------------------
// `claimdesk serve`: the flags and their environment variables.

#[tokio::test]
async fn serve_takes_grpc_web_and_its_origins_from_the_environment() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut command = serve_command(dir.path(), &["--listen", "127.0.0.1:0"]);
    command.env("CLAIMDESK_GRPC_WEB", "on").env(
        "CLAIMDESK_CORS_ALLOWED_ORIGINS",
        "https://desk.example.org, HTTP://LOCALHOST:5173",
    );
    let process = ServeProcess::serve(command).await;
    let logged = process
        .json_lines()
        .into_iter()
        .find(|line| {
            line["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("gRPC-Web on"))
        })
        .unwrap_or_else(|| panic!("a gRPC-Web line at start:\n{}", process.text()));
    assert_eq!(
        logged["fields"]["cors_allowed_origins"],
        "https://desk.example.org,http://localhost:5173"
    );

    let mut web = WebClient::http1(process.addr()).await;
    let answer = web
        .call(preflight(
            "http://localhost:5173",
            "content-type,x-grpc-web",
        ))
        .await;
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    let stats = pb::GetQueueStatsRequest::default();
    let call = web
        .call(web_request_as("GetQueueStats", &stats, "maria"))
        .await;
    call.result::<pb::QueueStats>().expect("served");
}

/// `claimdesk serve` with `args` and `env`, which must stop at start: its
/// exit code and stderr, and whether it made its data directory.
async fn refused_at_start(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, bool) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data_dir = dir.path().join("data");
    let mut command = serve_command(&data_dir, &["--listen", "127.0.0.1:0"]);
    command.args(args).envs(env.iter().copied());
    let output = tokio::time::timeout(PROCESS_WAIT, command.output())
        .await
        .expect("the refusal is quick")
        .expect("claimdesk runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr, data_dir.exists())
}

#[tokio::test]
async fn serve_refuses_a_bad_origin_or_origins_without_grpc_web_before_touching_its_data() {
    for (args, env) in [
        (&["--grpc-web", "--cors-allowed-origin", "*"][..], &[][..]),
        (
            &["--grpc-web"][..],
            &[(
                "CLAIMDESK_CORS_ALLOWED_ORIGINS",
                "https://desk.example.org,*",
            )][..],
        ),
    ] {
        let (code, stderr, made) = refused_at_start(args, env).await;
        assert_eq!(code, Some(2), "a usage error ({args:?} {env:?}): {stderr}");
        assert!(stderr.contains("--cors-allowed-origin"), "{stderr}");
        assert!(stderr.contains("wildcards are not accepted"), "{stderr}");
        assert!(!made, "no data directory is made: {stderr}");
    }

    let (code, stderr, made) = refused_at_start(
        &["--cors-allowed-origin", "https://desk.example.org/app"],
        &[],
    )
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("it has a path"), "{stderr}");
    assert!(!made);

    let env = [("CLAIMDESK_CORS_ALLOWED_ORIGINS", "https://desk.example.org")];
    let (code, stderr, made) = refused_at_start(&[], &env).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("needs --grpc-web"), "{stderr}");
    assert!(!made, "no data directory is made: {stderr}");
}
