//! What checking callers costs. Run with `cargo bench --bench access`.
//!
//! One server in open mode (callers name themselves) and one with a tokens
//! file (every call hashes its bearer token, looks it up and checks the
//! method's policy) serve the same read, `GetClaim`, from 16 concurrent
//! clients. The figure is the tokens server's throughput as a ratio of the
//! open one's, both measured in the same run, alternating rounds so that
//! the machine's drift hits both alike.

use std::time::{Duration, Instant};

use claimdesk::{
    auth::{self, Tokens},
    domain::{Role, UserName},
    grpc::identity::Authentication,
    pb::{self, claim_service_client::ClaimServiceClient},
    server::{Config, Server},
};
use tonic::{Request, metadata::MetadataValue, transport::Channel};

const CLIENTS: usize = 16;
const CALLS_PER_CLIENT: usize = 2_000;
const ROUNDS: usize = 5;

struct Running {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<Result<(), claimdesk::server::ServeError>>,
    _dir: tempfile::TempDir,
}

async fn start(authentication: Authentication) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::build(&Config {
        cache_capacity: 64 * 1024 * 1024,
        shutdown_grace: Duration::from_secs(1),
        ..Config::new("127.0.0.1:0".parse().unwrap(), dir.path())
    })
    .await
    .unwrap()
    .authentication(authentication);
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop,
        serving,
        _dir: dir,
    }
}

fn signed<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        request.metadata_mut().insert(
            "authorization",
            MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
        );
    }
    request
}

/// Submits one claim; its name.
async fn seed(addr: std::net::SocketAddr, token: Option<&str>) -> String {
    let mut client = ClaimServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let claim = pb::Claim {
        statement: "About 9,000 dock workers joined the strike".into(),
        attribution: Some(pb::Attribution {
            source: "Harbour Gazette".into(),
            ..Default::default()
        }),
        story: "harbour-strike".into(),
        ..Default::default()
    };
    let request = pb::SubmitClaimRequest {
        claim: Some(claim),
        ..Default::default()
    };
    client
        .submit_claim(signed(request, token))
        .await
        .unwrap()
        .into_inner()
        .name
}

/// GetClaim calls per second from [`CLIENTS`] clients on one channel each.
async fn reads_per_second(addr: std::net::SocketAddr, name: &str, token: Option<&str>) -> f64 {
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        clients.push(ClaimServiceClient::new(channel));
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut client in clients {
        let name = name.to_owned();
        let token = token.map(str::to_owned);
        tasks.spawn(async move {
            for _ in 0..CALLS_PER_CLIENT {
                let request = pb::GetClaimRequest { name: name.clone() };
                client
                    .get_claim(signed(request, token.as_deref()))
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    (CLIENTS * CALLS_PER_CLIENT) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let token = auth::new_token().unwrap();
        let line = auth::tokens_file_line(&token, &UserName::parse("bench").unwrap(), Role::Editor);
        std::fs::write(&path, format!("[tokens]\n{line}\n")).unwrap();
        let open = start(Authentication::Open).await;
        let tokens = start(Authentication::Tokens(Tokens::load(&path).unwrap())).await;
        let open_claim = seed(open.addr, None).await;
        let tokens_claim = seed(tokens.addr, Some(&token)).await;

        // Warm up both, then alternate.
        reads_per_second(open.addr, &open_claim, None).await;
        reads_per_second(tokens.addr, &tokens_claim, Some(&token)).await;
        let (mut open_rates, mut token_rates) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            open_rates.push(reads_per_second(open.addr, &open_claim, None).await);
            token_rates.push(reads_per_second(tokens.addr, &tokens_claim, Some(&token)).await);
            eprintln!(
                "round {round}: {:.0} reads/s open, {:.0} with tokens",
                open_rates[round], token_rates[round]
            );
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (open_rate, token_rate) = (median(&mut open_rates), median(&mut token_rates));
        println!(
            "access: GetClaim throughput with tokens is {:.3}x that in open mode \
             ({token_rate:.0} vs {open_rate:.0} reads/s, {CLIENTS} clients, medians of {ROUNDS})",
            token_rate / open_rate
        );
        for server in [open, tokens] {
            let _ = server.stop.send(());
            server.serving.await.unwrap().unwrap();
        }
    });
}
