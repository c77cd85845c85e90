//! `serve --metrics-listen`: `GET /metrics` after real calls, every family
//! and the values the calls must have left; and `--health-listen`.

use std::{
    collections::BTreeMap,
    net::{SocketAddr, TcpListener},
    time::Duration,
};

use claimdesk::{
    domain::Role,
    pb::{
        self, GetClaimRequest, GetQueueStatsRequest, TakeNextClaimRequest, WatchClaimEventsRequest,
        claim, claim_service_client::ClaimServiceClient,
    },
    testing::TestServer,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_stream::StreamExt as _;
use tonic::{Code, Request};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::helpers::{harbour_claim, numbered_claim};

/// Every family `/metrics` must hold, by its `# TYPE` line.
const FAMILIES: [(&str, &str); 17] = [
    ("grpc_server_started_total", "counter"),
    ("grpc_server_handled_total", "counter"),
    ("grpc_server_handling_seconds", "histogram"),
    ("claimdesk_build_info", "gauge"),
    ("claimdesk_claims", "gauge"),
    ("claimdesk_queue_waiting_claims", "gauge"),
    ("claimdesk_queue_oldest_waiting_age_seconds", "gauge"),
    ("claimdesk_claims_past_deadline", "gauge"),
    ("claimdesk_storage_durable_flush_seconds", "histogram"),
    ("claimdesk_storage_durable_flush_writes", "histogram"),
    ("claimdesk_storage_durable_flush_failures_total", "counter"),
    ("claimdesk_storage_size_bytes", "gauge"),
    ("claimdesk_watchers", "gauge"),
    ("claimdesk_watchers_too_slow_total", "counter"),
    ("claimdesk_lease_expiries_total", "counter"),
    ("claimdesk_token_reloads_total", "counter"),
    ("claimdesk_authentication_failures_total", "counter"),
];

/// One scrape: the `# TYPE` of each family and the value of each series
/// (`name{labels}` as written).
pub struct Scrape {
    types: BTreeMap<String, String>,
    values: BTreeMap<String, f64>,
}

impl Scrape {
    pub async fn of(addr: SocketAddr) -> Self {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("the metrics listener accepts");
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: claimdesk\r\nConnection: close\r\n\r\n")
            .await
            .expect("the request is sent");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .expect("the response is read");
        let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/plain; version=0.0.4"),
            "the Prometheus text format: {head}"
        );
        let mut types = BTreeMap::new();
        let mut values = BTreeMap::new();
        for line in body.lines() {
            if let Some(declared) = line.strip_prefix("# TYPE ") {
                let (name, kind) = declared.split_once(' ').expect("name and type");
                types.insert(name.to_owned(), kind.to_owned());
            } else if !line.starts_with('#') && !line.is_empty() {
                let (series, value) = line.rsplit_once(' ').expect("a series and its value");
                let value = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
                values.insert(series.to_owned(), value);
            }
        }
        Self { types, values }
    }

    /// The value of `series`, which must be there.
    pub fn value(&self, series: &str) -> f64 {
        *self.values.get(series).unwrap_or_else(|| {
            let family = series.split('{').next().unwrap_or(series);
            let near: Vec<_> = self
                .values
                .keys()
                .filter(|k| k.starts_with(family))
                .collect();
            panic!("no series {series}; of that family: {near:#?}")
        })
    }

    /// The value of a call counter or histogram series of `method`.
    fn call(&self, family: &str, method: &str, code: &str) -> f64 {
        self.value(&format!(
            "{family}{{grpc_service=\"claimdesk.v1.ClaimService\",grpc_method=\"{method}\",\
             grpc_type=\"{}\",grpc_code=\"{code}\"}}",
            if method == "WatchClaimEvents" {
                "server_stream"
            } else {
                "unary"
            }
        ))
    }
}

fn loopback_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("a free loopback port")
}

#[tokio::test]
async fn metrics_count_calls_claims_flushes_watchers_and_refusals() {
    let metrics = loopback_listener();
    let metrics_addr = metrics.local_addr().expect("an address");
    let server = TestServer::builder()
        .user("ed", Role::Editor)
        .user("cy", Role::Checker)
        .configure(move |server| server.metrics_listener(metrics))
        .start()
        .await
        .expect("the server starts");
    let mut editor = server.client_as("ed").await.expect("a client");
    let mut checker = server.client_as("cy").await.expect("a client");

    // A watcher, open from here on: it sees every event.
    let mut events = checker
        .watch_claim_events(WatchClaimEventsRequest::default())
        .await
        .expect("the watch opens")
        .into_inner();

    let mut breaking = harbour_claim();
    breaking.priority = claim::Priority::Breaking.into();
    for claim in [
        breaking,
        numbered_claim("metrics", "Harbour Gazette", 1),
        numbered_claim("metrics", "Harbour Gazette", 2),
    ] {
        editor
            .submit_claim(pb::SubmitClaimRequest {
                claim: Some(claim),
                ..Default::default()
            })
            .await
            .expect("submitted");
    }
    let taken = checker
        .take_next_claim(TakeNextClaimRequest::default())
        .await
        .expect("a claim is taken")
        .into_inner();
    let missing = editor
        .get_claim(GetClaimRequest {
            name: "claims/01J00000000000000000000000".into(),
        })
        .await
        .expect_err("no such claim");
    assert_eq!(missing.code(), Code::NotFound);
    let refused = editor
        .take_next_claim(TakeNextClaimRequest::default())
        .await
        .expect_err("editors do not take claims");
    assert_eq!(refused.code(), Code::PermissionDenied);
    let mut anonymous = ClaimServiceClient::new(server.channel().await.expect("a channel"));
    let no_token = anonymous
        .get_queue_stats(GetQueueStatsRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(no_token.code(), Code::Unauthenticated);
    let mut unknown_token = Request::new(GetQueueStatsRequest::default());
    unknown_token.metadata_mut().insert(
        "authorization",
        format!(
            "Bearer {}",
            claimdesk::auth::new_token().expect("randomness")
        )
        .parse()
        .expect("ASCII"),
    );
    let unknown = anonymous
        .get_queue_stats(unknown_token)
        .await
        .expect_err("an unknown token");
    assert_eq!(unknown.code(), Code::Unauthenticated);
    // The watcher has seen the three submissions and the take: it is
    // counted, and every write is durable.
    for _ in 0..4 {
        events
            .next()
            .await
            .expect("an event")
            .expect("not an error");
    }

    let scrape = Scrape::of(metrics_addr).await;
    for (family, kind) in FAMILIES {
        assert_eq!(
            scrape.types.get(family).map(String::as_str),
            Some(kind),
            "family {family}"
        );
    }
    let handled = "grpc_server_handled_total";
    assert_eq!(scrape.call(handled, "SubmitClaim", "OK"), 3.0);
    assert_eq!(scrape.call(handled, "TakeNextClaim", "OK"), 1.0);
    assert_eq!(
        scrape.call(handled, "TakeNextClaim", "PermissionDenied"),
        1.0
    );
    assert_eq!(scrape.call(handled, "GetClaim", "NotFound"), 1.0);
    assert_eq!(
        scrape.call(handled, "GetQueueStats", "Unauthenticated"),
        2.0
    );
    assert_eq!(
        scrape.call("grpc_server_handling_seconds_count", "SubmitClaim", "OK"),
        3.0
    );
    assert!(scrape.call("grpc_server_handling_seconds_sum", "SubmitClaim", "OK") > 0.0);
    assert_eq!(
        scrape.value(
            "grpc_server_started_total{grpc_service=\"claimdesk.v1.ClaimService\",\
             grpc_method=\"WatchClaimEvents\",grpc_type=\"server_stream\"}"
        ),
        1.0
    );
    // Three waiting before the take; the breaking claim went first.
    assert_eq!(scrape.value("claimdesk_claims{state=\"unverified\"}"), 2.0);
    assert_eq!(scrape.value("claimdesk_claims{state=\"in_review\"}"), 1.0);
    assert_eq!(scrape.value("claimdesk_claims{state=\"verified\"}"), 0.0);
    assert_eq!(taken.priority(), claim::Priority::Breaking);
    assert_eq!(
        scrape.value("claimdesk_queue_waiting_claims{priority=\"breaking\"}"),
        0.0
    );
    let waiting = scrape.value("claimdesk_queue_waiting_claims{priority=\"urgent\"}")
        + scrape.value("claimdesk_queue_waiting_claims{priority=\"routine\"}");
    assert_eq!(waiting, 2.0);
    assert!(scrape.value("claimdesk_queue_oldest_waiting_age_seconds") >= 0.0);
    assert_eq!(scrape.value("claimdesk_claims_past_deadline"), 0.0);
    assert_eq!(scrape.value("claimdesk_watchers"), 1.0);
    assert_eq!(scrape.value("claimdesk_watchers_too_slow_total"), 0.0);
    assert_eq!(
        scrape.value("claimdesk_authentication_failures_total{reason=\"TOKEN_MISSING\"}"),
        1.0
    );
    assert_eq!(
        scrape.value("claimdesk_authentication_failures_total{reason=\"TOKEN_UNKNOWN\"}"),
        1.0
    );
    assert_eq!(
        scrape.value("claimdesk_authentication_failures_total{reason=\"TOKEN_MALFORMED\"}"),
        0.0
    );
    assert_eq!(
        scrape.value("claimdesk_token_reloads_total{result=\"success\"}"),
        0.0
    );
    // Four writes acknowledged (and the open's own flush), each after a
    // durable flush that covered it.
    let flushes = scrape.value("claimdesk_storage_durable_flush_seconds_count");
    let writes = scrape.value("claimdesk_storage_durable_flush_writes_sum");
    assert!(
        flushes >= 1.0 && writes >= 4.0,
        "{flushes} flushes, {writes} writes"
    );
    assert_eq!(
        scrape.value("claimdesk_storage_durable_flush_writes_count"),
        flushes
    );
    assert_eq!(
        scrape.value("claimdesk_storage_durable_flush_failures_total"),
        0.0
    );
    assert!(scrape.value("claimdesk_storage_size_bytes") > 0.0);
    assert_eq!(scrape.value("claimdesk_lease_expiries_total"), 0.0);
    assert_eq!(
        scrape.value(&format!(
            "claimdesk_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );

    // The watcher gone, the server counts it out once its feed notices;
    // a scrape is no call of the API.
    drop(events);
    let scrape = Scrape::of(metrics_addr).await;
    assert_eq!(scrape.call(handled, "SubmitClaim", "OK"), 3.0);
}

#[tokio::test]
async fn a_lease_that_runs_out_is_counted() {
    let metrics = loopback_listener();
    let metrics_addr = metrics.local_addr().expect("an address");
    let server = TestServer::builder()
        // Short, so that the lease runs out while the test watches.
        .lease(Duration::from_secs(1))
        .configure(move |server| server.metrics_listener(metrics))
        .start()
        .await
        .expect("the server starts");
    let mut client = server.client_as("cy").await.expect("a client");
    let mut events = client
        .watch_claim_events(WatchClaimEventsRequest::default())
        .await
        .expect("the watch opens")
        .into_inner();
    client
        .submit_claim(pb::SubmitClaimRequest {
            claim: Some(harbour_claim()),
            ..Default::default()
        })
        .await
        .expect("submitted");
    let taken = client
        .take_next_claim(TakeNextClaimRequest::default())
        .await
        .expect("a claim is taken")
        .into_inner();
    // Submitted, taken, then the lease runs out: the claim goes back.
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(
            events
                .next()
                .await
                .expect("an event")
                .expect("not an error"),
        );
    }
    let expired = &seen[2];
    assert_eq!(expired.claim, taken.name, "{seen:#?}");
    assert_eq!(expired.to_state(), claim::State::Unverified, "{seen:#?}");
    let scrape = Scrape::of(metrics_addr).await;
    assert_eq!(scrape.value("claimdesk_lease_expiries_total"), 1.0);
    assert_eq!(scrape.value("claimdesk_claims{state=\"in_review\"}"), 0.0);
    assert_eq!(scrape.value("claimdesk_claims{state=\"unverified\"}"), 1.0);
}

#[tokio::test]
async fn a_made_up_method_is_counted_under_one_label() {
    let metrics = loopback_listener();
    let metrics_addr = metrics.local_addr().expect("an address");
    let server = TestServer::builder()
        .configure(move |server| server.metrics_listener(metrics))
        .start()
        .await
        .expect("the server starts");
    let mut grpc = tonic::client::Grpc::new(server.channel().await.expect("a channel"));
    for name in ["Nope", "Nope2", "Other"] {
        grpc.ready().await.expect("ready");
        let path = format!("/claimdesk.v1.ClaimService/{name}")
            .parse()
            .expect("a path");
        let answer: Result<tonic::Response<GetClaimRequest>, _> = grpc
            .unary(
                Request::new(GetClaimRequest::default()),
                path,
                tonic_prost::ProstCodec::default(),
            )
            .await;
        assert!(answer.is_err(), "{name} is not a method");
    }
    let scrape = Scrape::of(metrics_addr).await;
    let unknown: f64 = scrape
        .values
        .iter()
        .filter(|(series, _)| {
            series.starts_with("grpc_server_handled_total{grpc_service=\"unknown\"")
        })
        .map(|(_, value)| value)
        .sum();
    assert_eq!(unknown, 3.0);
    assert!(
        !scrape.values.keys().any(|series| series.contains("Nope")),
        "no series names a made-up method"
    );
}

#[tokio::test]
async fn the_health_listener_serves_health_alone_in_plaintext_without_a_token() {
    let health = loopback_listener();
    let health_addr = health.local_addr().expect("an address");
    let server = TestServer::builder()
        .user("ed", Role::Editor)
        .configure(move |server| server.health_listener(health))
        .start()
        .await
        .expect("the server starts");
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{health_addr}"))
        .expect("a URL")
        .connect()
        .await
        .expect("the health listener accepts");
    for service in ["", "claimdesk.v1.ClaimService"] {
        let answer = HealthClient::new(channel.clone())
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health answers without a token")
            .into_inner();
        assert_eq!(answer.status(), ServingStatus::Serving, "{service:?}");
    }
    let mut api_there = ClaimServiceClient::new(channel);
    let mut request = Request::new(GetQueueStatsRequest::default());
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", server.token("ed").expect("a token"))
            .parse()
            .expect("ASCII"),
    );
    let refused = api_there
        .get_queue_stats(request)
        .await
        .expect_err("the API is not served there");
    assert_eq!(refused.code(), Code::Unimplemented, "{refused:?}");
    // On the API's own port, the same check answers too.
    let answer = HealthClient::new(server.channel().await.expect("a channel"))
        .check(HealthCheckRequest::default())
        .await
        .expect("health answers")
        .into_inner();
    assert_eq!(answer.status(), ServingStatus::Serving);
}
