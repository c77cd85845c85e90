//! What the worst request of each RPC costs. Run with
//! `cargo bench --bench hostile` (one case only:
//! `CLAIMDESK_BENCH_ONLY=SubmitClaim`).
//!
//! Each RPC gets the request that costs the server most while fitting the
//! 1 MiB message limit: the most elements a repeated field can hold, the
//! longest strings. Requests are encoded once beforehand and sent as bytes,
//! so the figures are the server's (and the transport's), not the client's
//! encoding. Each is timed against a plain GetClaim on the same server in
//! the same run, and against GetClaim carrying 1 MiB of a field the server
//! skips unread: the floor of moving a full message through the transport.

use std::time::{Duration, Instant};

use claimdesk::{
    pb::{self, claim_service_client::ClaimServiceClient},
    server::{Config, Limits, Server},
};
use prost::{
    Message,
    bytes::{Buf, BufMut, Bytes},
};
use tonic::{
    Code, Request, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    transport::Channel,
};

/// Rounds of every case; the figure of a case is its median.
const ROUNDS: usize = 3;
/// Each case of a round is called for about this long (at least once).
const TIME_PER_CASE: Duration = Duration::from_millis(500);
/// Room left for the one large field of a request, under the limit.
const FILL: usize = Limits::DEFAULT_MAX_REQUEST_BYTES - 1024;

/// Sends requests encoded beforehand and skips the answers' bodies.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        *self
    }

    fn decoder(&mut self) -> Self::Decoder {
        *self
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = ();
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}

/// One request, encoded, and the code it is answered with.
struct Case {
    label: &'static str,
    method: &'static str,
    body: Bytes,
    streaming: bool,
    code: Code,
    /// Decodes the body as the server does before any handler runs.
    decode: fn(Bytes),
}

fn decode_as<M: Message + Default>(body: Bytes) {
    drop(M::decode(body).unwrap());
}

fn case<M: Message + Default>(
    label: &'static str,
    method: &'static str,
    message: M,
    code: Code,
) -> Case {
    let body = Bytes::from(message.encode_to_vec());
    assert!(
        body.len() <= Limits::DEFAULT_MAX_REQUEST_BYTES,
        "{label}: {} bytes",
        body.len()
    );
    Case {
        label,
        method,
        body,
        streaming: matches!(method, "WatchClaimEvents" | "BackupDesk"),
        code,
        decode: decode_as::<M>,
    }
}

fn long(n: usize) -> String {
    "x".repeat(n)
}

/// `n` distinct tags of four letters: the most slugs a message holds.
fn four_letter_tags(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            (0..4)
                .map(|d| char::from(b'a' + (i / 26usize.pow(d) % 26) as u8))
                .collect()
        })
        .collect()
}

fn claim() -> pb::Claim {
    pb::Claim {
        statement: "About 9,000 dock workers joined the strike".into(),
        attribution: Some(pb::Attribution {
            source: "Harbour Gazette".into(),
            ..Default::default()
        }),
        story: "harbour-strike".into(),
        ..Default::default()
    }
}

/// The story whose claims contradict each other: [`CONFLICTING_CLAIMS`]
/// claims, each a troop count that no other claim's allows, so that each
/// new claim is suggested to contradict the eight newest before it.
const CONFLICT_STORY: &str = "border-counts";
const CONFLICTING_CLAIMS: usize = 200;
/// The open contradictions of [`CONFLICT_STORY`]: eight for each claim
/// from the ninth on, fewer before.
const CONFLICTS: usize = 28 + 8 * (CONFLICTING_CLAIMS - 8);

/// The `k`th claim of [`CONFLICT_STORY`]: `7,000`, `27,000`, … troops, 20,000
/// apart while each allows at most 5% either side.
fn conflicting_claim(k: usize) -> pb::Claim {
    let thousands = 20 * k + 7;
    let (high, low) = (thousands / 1000, thousands % 1000);
    let count = if high > 0 {
        format!("{high},{low:03},000")
    } else {
        format!("{low},000")
    };
    pb::Claim {
        statement: format!("{count} troops were sent to the northern border"),
        attribution: Some(pb::Attribution {
            source: format!("Border Watch {}", k % 7),
            ..Default::default()
        }),
        story: CONFLICT_STORY.into(),
        ..Default::default()
    }
}

/// Submits the claims of [`CONFLICT_STORY`] and checks that they make
/// [`CONFLICTS`] open contradictions.
async fn preload_conflicts(client: &mut ClaimServiceClient<Channel>) {
    for k in 0..CONFLICTING_CLAIMS {
        client
            .submit_claim(pb::SubmitClaimRequest {
                claim: Some(conflicting_claim(k)),
                request_id: String::new(),
            })
            .await
            .unwrap();
    }
    let mut listed = 0;
    let mut page_token = String::new();
    loop {
        let page = client
            .list_conflicts(pb::ListConflictsRequest {
                story: CONFLICT_STORY.into(),
                page_size: 500,
                page_token,
            })
            .await
            .unwrap()
            .into_inner();
        listed += page.conflicts.len();
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(listed, CONFLICTS, "the conflicts of {CONFLICT_STORY}");
}

/// GetClaim of `name` followed by `padding` bytes of field 15, which
/// GetClaimRequest does not have: skipped unread.
fn padded_get(name: &str, padding: usize) -> Bytes {
    let mut body = pb::GetClaimRequest { name: name.into() }.encode_to_vec();
    prost::encoding::bytes::encode(15, &vec![b'x'; padding], &mut body);
    Bytes::from(body)
}

/// The baseline and the worst request of every RPC; `name` is a stored
/// claim.
fn cases(name: &str) -> Vec<Case> {
    use Code::{Aborted, InvalidArgument, Ok};
    let name = name.to_owned();
    let mut cases = vec![
        case(
            "GetClaim (baseline)",
            "GetClaim",
            pb::GetClaimRequest { name: name.clone() },
            Ok,
        ),
        Case {
            label: "GetClaim + 1 MiB unknown field",
            method: "GetClaim",
            body: padded_get(&name, FILL),
            streaming: false,
            code: Ok,
            decode: decode_as::<pb::GetClaimRequest>,
        },
        case(
            "SubmitClaim: 174,592 tags",
            "SubmitClaim",
            pb::SubmitClaimRequest {
                claim: Some(pb::Claim {
                    tags: four_letter_tags(FILL / 6),
                    ..claim()
                }),
                request_id: String::new(),
            },
            InvalidArgument,
        ),
        case(
            "SubmitClaim: 20 tags, 20 relays, bad fields",
            "SubmitClaim",
            pb::SubmitClaimRequest {
                claim: Some(pb::Claim {
                    statement: long(FILL / 3),
                    attribution: Some(pb::Attribution {
                        source: long(FILL / 3),
                        relayed_from: vec![long(FILL / 80); 20],
                        url: String::new(),
                    }),
                    tags: vec![long(64); 20],
                    ..claim()
                }),
                request_id: String::new(),
            },
            InvalidArgument,
        ),
        case(
            "SubmitClaim: 523,776 evidence entries (counted, not decoded)",
            "SubmitClaim",
            pb::SubmitClaimRequest {
                claim: Some(pb::Claim {
                    evidence: vec![pb::Evidence::default(); FILL / 2],
                    ..claim()
                }),
                request_id: String::new(),
            },
            InvalidArgument,
        ),
        case(
            "GetClaim: 1 MiB name",
            "GetClaim",
            pb::GetClaimRequest {
                name: format!("claims/{}", long(FILL)),
            },
            InvalidArgument,
        ),
        case(
            "ListClaims: 4 strings of 256 KiB",
            "ListClaims",
            pb::ListClaimsRequest {
                story: long(FILL / 4),
                state: 42,
                source: long(FILL / 4),
                assignee: long(FILL / 4),
                page_size: i32::MAX,
                page_token: long(FILL / 4),
            },
            InvalidArgument,
        ),
        case(
            "StartReview: 1 MiB etag",
            "StartReview",
            pb::StartReviewRequest {
                name: name.clone(),
                etag: long(FILL),
            },
            Aborted,
        ),
        case(
            "ReleaseClaim: 1 MiB note",
            "ReleaseClaim",
            pb::ReleaseClaimRequest {
                name: name.clone(),
                etag: String::new(),
                note: long(FILL),
            },
            InvalidArgument,
        ),
        case(
            "AddEvidence: url, summary, source of 341 KiB",
            "AddEvidence",
            pb::AddEvidenceRequest {
                name: name.clone(),
                evidence: Some(pb::Evidence {
                    url: format!("https://example.org/{}", long(FILL / 3)),
                    summary: long(FILL / 3),
                    source: long(FILL / 3),
                    stance: pb::evidence::Stance::Supports.into(),
                    ..Default::default()
                }),
                etag: String::new(),
            },
            InvalidArgument,
        ),
        case(
            "VerifyClaim: 1 MiB note",
            "VerifyClaim",
            pb::VerifyClaimRequest {
                name: name.clone(),
                note: long(FILL),
                etag: String::new(),
                acknowledge_contradictions: true,
            },
            InvalidArgument,
        ),
        case(
            "DisputeClaim: 1 MiB note",
            "DisputeClaim",
            pb::DisputeClaimRequest {
                name: name.clone(),
                note: long(FILL),
                etag: String::new(),
            },
            InvalidArgument,
        ),
        case(
            "MarkClaimInconclusive: 1 MiB note",
            "MarkClaimInconclusive",
            pb::MarkClaimInconclusiveRequest {
                name: name.clone(),
                note: long(FILL),
                etag: String::new(),
            },
            InvalidArgument,
        ),
        case(
            "ReopenClaim: 1 MiB reason",
            "ReopenClaim",
            pb::ReopenClaimRequest {
                name: name.clone(),
                reason: long(FILL),
                etag: String::new(),
            },
            InvalidArgument,
        ),
        case(
            "WithdrawClaim: 1 MiB reason",
            "WithdrawClaim",
            pb::WithdrawClaimRequest {
                name: name.clone(),
                reason: long(FILL),
                etag: String::new(),
            },
            InvalidArgument,
        ),
        case(
            "ListClaimEvents: 1 MiB page token",
            "ListClaimEvents",
            pb::ListClaimEventsRequest {
                name: name.clone(),
                page_size: i32::MAX,
                page_token: long(FILL),
            },
            InvalidArgument,
        ),
        case(
            "TakeNextClaim: 174,592 tags",
            "TakeNextClaim",
            pb::TakeNextClaimRequest {
                story: String::new(),
                tags: four_letter_tags(FILL / 6),
            },
            InvalidArgument,
        ),
        case(
            "RenewLease: 1 MiB etag",
            "RenewLease",
            pb::RenewLeaseRequest {
                name: name.clone(),
                etag: long(FILL),
            },
            Aborted,
        ),
        case(
            "GetQueueStats: 1 MiB story",
            "GetQueueStats",
            pb::GetQueueStatsRequest { story: long(FILL) },
            InvalidArgument,
        ),
        case(
            "WatchClaimEvents: 1,047,552 states",
            "WatchClaimEvents",
            pb::WatchClaimEventsRequest {
                after_revision: 0,
                story: String::new(),
                states: vec![42; FILL],
            },
            InvalidArgument,
        ),
        case(
            "ReassignClaim: 1 MiB assignee",
            "ReassignClaim",
            pb::ReassignClaimRequest {
                name: name.clone(),
                assignee: long(FILL),
                etag: String::new(),
                note: String::new(),
            },
            InvalidArgument,
        ),
        case(
            "LinkClaims: name, other and note of 341 KiB",
            "LinkClaims",
            pb::LinkClaimsRequest {
                name: format!("claims/{}", long(FILL / 3)),
                other: format!("claims/{}", long(FILL / 3)),
                relation: 42,
                note: long(FILL / 3),
                etag: long(64),
            },
            InvalidArgument,
        ),
        case(
            "ResolveLink: link name and note of 512 KiB",
            "ResolveLink",
            pb::ResolveLinkRequest {
                name: format!("{name}/links/{}", "9".repeat(FILL / 2)),
                status: 42,
                note: long(FILL / 2),
                etag: String::new(),
            },
            InvalidArgument,
        ),
        case(
            "ListConflicts: a full page of a story's 1,564 conflicts",
            "ListConflicts",
            pb::ListConflictsRequest {
                story: CONFLICT_STORY.into(),
                page_size: i32::MAX,
                page_token: String::new(),
            },
            Ok,
        ),
        case(
            "BackupDesk: the whole store (200 conflicting claims), read to its end",
            "BackupDesk",
            pb::BackupDeskRequest {},
            Ok,
        ),
    ];
    if let Result::Ok(only) = std::env::var("CLAIMDESK_BENCH_ONLY") {
        // The baseline stays.
        let mut index = 0;
        cases.retain(|c| {
            index += 1;
            index == 1 || c.label.contains(&only)
        });
    }
    cases
}

/// Sends `case` once; the code it was answered with.
async fn call(channel: &Channel, case: &Case) -> Code {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let path = format!("/claimdesk.v1.ClaimService/{}", case.method)
        .parse()
        .unwrap();
    let request = Request::new(case.body.clone());
    let result = if case.streaming {
        match grpc.server_streaming(request, path, RawCodec).await {
            // A backup costs what it takes to read it whole; a watch, to
            // start it.
            Result::Ok(pieces) if case.method == "BackupDesk" => {
                let mut pieces = pieces.into_inner();
                loop {
                    match pieces.message().await {
                        Result::Ok(Some(())) => {}
                        Result::Ok(None) => break Result::Ok(()),
                        Err(status) => break Err(status),
                    }
                }
            }
            started => started.map(drop),
        }
    } else {
        grpc.unary(request, path, RawCodec).await.map(drop)
    };
    match result {
        Ok(()) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// Seconds per call of `case`, over about [`TIME_PER_CASE`].
async fn cost(channel: &Channel, case: &Case) -> f64 {
    let started = Instant::now();
    let mut calls = 0u32;
    while calls == 0 || started.elapsed() < TIME_PER_CASE {
        let code = call(channel, case).await;
        assert_eq!(code, case.code, "{}", case.label);
        calls += 1;
    }
    started.elapsed().as_secs_f64() / f64::from(calls)
}

/// Seconds to decode the request of `case` (the median of a few), in
/// this thread: the part of its cost no handler can avoid.
fn decoding(case: &Case) -> f64 {
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let body = case.body.clone();
            let started = Instant::now();
            (case.decode)(body);
            started.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::build(&Config {
            cache_capacity: 64 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(1),
            ..Config::new("127.0.0.1:0".parse().unwrap(), dir.path())
        })
        .await
        .unwrap();
        let addr = server.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.run_until(async {
            let _ = stopped.await;
        }));
        let mut client = ClaimServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let name = client
            .submit_claim(pb::SubmitClaimRequest {
                claim: Some(claim()),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .name;
        preload_conflicts(&mut client).await;
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();

        let cases = cases(&name);
        // Warm up, then rounds of every case in turn so that drift hits all
        // alike.
        for case in &cases {
            call(&channel, case).await;
        }
        let mut costs = vec![Vec::new(); cases.len()];
        for round in 0..ROUNDS {
            for (case, costs) in cases.iter().zip(&mut costs) {
                costs.push(cost(&channel, case).await);
            }
            eprintln!("round {round} done");
        }
        let medians: Vec<f64> = costs
            .into_iter()
            .map(|mut v| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            })
            .collect();
        let get = medians[0];
        let floor = cases
            .iter()
            .position(|c| c.label.starts_with("GetClaim + 1 MiB"))
            .map(|i| medians[i]);
        println!(
            "hostile: cost per call (medians of {ROUNDS} rounds), as a ratio to GetClaim and \
             to GetClaim with 1 MiB of an unknown field; decoding the request alone"
        );
        for (case, cost) in cases.iter().zip(&medians) {
            let against_floor =
                floor.map_or(String::new(), |f| format!(", {:5.2}x 1 MiB", cost / f));
            println!(
                "  {:<48} {:>8.0} µs {:>6.1}x GetClaim{against_floor}, decoding {:>6.0} µs ({:?})",
                case.label,
                cost * 1e6,
                cost / get,
                decoding(case) * 1e6,
                case.code
            );
        }
        let _ = stop.send(());
        serving.await.unwrap().unwrap();
    });
}
