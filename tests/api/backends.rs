//! The suite on both backends, and what only the PostgreSQL backend has:
//! a database that goes away and comes back.
//!
//! Every test of this binary starts its servers through
//! [`helpers::builder`], on the backend [`helpers::BACKEND_VARIABLE`]
//! selects (the embedded store by default). With a PostgreSQL database
//! named, [`the_suite_passes_on_postgresql`] runs this same binary again on
//! PostgreSQL, so `cargo test` runs the suite on both.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use claimdesk::{pb, storage::postgres::ScratchSchema, testing};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::helpers::{
    self, BACKEND_VARIABLE, Backend, DATABASE_VARIABLE, expect_error, harbour_claim, submit_request,
};

/// The name of [`the_suite_passes_on_postgresql`], which the run on
/// PostgreSQL skips.
const SUITE_TEST: &str = "backends::the_suite_passes_on_postgresql";

#[test]
fn the_suite_passes_on_postgresql() {
    if *helpers::backend() != Backend::Sled {
        return;
    }
    let Some(url) = helpers::database_url() else {
        println!(
            "skipped: {DATABASE_VARIABLE} is not set; the suite ran on the embedded store only"
        );
        return;
    };
    let binary = std::env::current_exe().expect("the test binary's path");
    let output = std::process::Command::new(binary)
        .args(["--skip", SUITE_TEST])
        .env(BACKEND_VARIABLE, "postgres")
        .env(DATABASE_VARIABLE, &url)
        .output()
        .expect("the suite runs again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout
        .lines()
        .filter(|l| l.starts_with("test result:"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        output.status.success(),
        "the suite failed on PostgreSQL ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    println!("on PostgreSQL: {summary}");
    let skipped = stdout
        .lines()
        .filter(|l| l.starts_with("skipped on PostgreSQL"))
        .count();
    println!("{skipped} tests of the embedded store itself were skipped there");
}

/// A TCP proxy from a loopback port to `target` that can cut every
/// connection through it, and refuse new ones, until restored: the
/// database going away, as a server sees it.
struct Proxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
}

impl Proxy {
    async fn to(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
        let addr = listener.local_addr().unwrap();
        let (up, _) = watch::channel(true);
        let state = up.subscribe();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let mut state = state.clone();
                if !*state.borrow_and_update() {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = state.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { addr, up }
    }

    fn cut(&self) {
        self.up.send_replace(false);
    }

    fn restore(&self) {
        self.up.send_replace(true);
    }
}

/// The `host:port` a `postgres://user@host:port/db...` URL names; `None`
/// for another form.
fn target_of(url: &str) -> Option<String> {
    let rest = url.strip_prefix("postgres://")?;
    let at = rest.find('@').map_or(0, |i| i + 1);
    let end = rest[at..].find('/').map_or(rest.len(), |i| at + i);
    let target = &rest[at..end];
    Some(if target.contains(':') {
        target.to_owned()
    } else {
        format!("{target}:5432")
    })
}

/// `url` with the `host:port` it names replaced by `addr`.
fn through(url: &str, addr: SocketAddr) -> String {
    let target = target_of(url).expect("a postgres:// URL");
    let named = url
        .find(&target)
        .map(|_| target.clone())
        .unwrap_or_else(|| target.trim_end_matches(":5432").to_owned());
    url.replacen(&named, &addr.to_string(), 1)
}

/// Waits until the health of the whole server is `status`.
async fn health_becomes(
    health: &mut HealthClient<tonic::transport::Channel>,
    status: ServingStatus,
) {
    let mut watch = health
        .watch(HealthCheckRequest::default())
        .await
        .expect("health is watched")
        .into_inner();
    let within = Duration::from_secs(60);
    let reached = tokio::time::timeout(within, async {
        while let Some(seen) = watch.message().await.expect("the watch goes on") {
            if seen.status == status as i32 {
                return;
            }
        }
        panic!("the health watch ended");
    })
    .await;
    assert!(
        reached.is_ok(),
        "health did not become {status:?} within {within:?}"
    );
}

// Multi-threaded: the proxy must keep running while the server stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_goes_away_makes_the_server_not_serving_until_it_is_back() {
    let Some(url) = helpers::database_url() else {
        println!("skipped: {DATABASE_VARIABLE} is not set");
        return;
    };
    let Some(target) = target_of(&url) else {
        println!("skipped: {DATABASE_VARIABLE} is not a postgres:// URL");
        return;
    };
    helpers::init_logging();
    let proxy = Proxy::to(target).await;
    let proxied = through(&url, proxy.addr);
    let schema = tokio::task::spawn_blocking(move || ScratchSchema::create(&proxied))
        .await
        .unwrap()
        .expect("a scratch schema");
    let server = testing::TestServer::builder()
        .schema(Arc::new(schema))
        .start()
        .await
        .expect("the server starts");
    let mut client = server.client().await.unwrap();
    let mut health = HealthClient::new(server.channel().await.unwrap());
    let submitted = client
        .submit_claim(submit_request("maria", harbour_claim()))
        .await
        .expect("stored")
        .into_inner();
    health_becomes(&mut health, ServingStatus::Serving).await;
    proxy.cut();
    health_becomes(&mut health, ServingStatus::NotServing).await;
    let read = client
        .get_claim(pb::GetClaimRequest {
            name: submitted.name.clone(),
        })
        .await;
    expect_error(read, Code::Unavailable, "DATABASE_UNAVAILABLE");
    let write = client
        .submit_claim(submit_request("maria", harbour_claim()))
        .await;
    expect_error(write, Code::Unavailable, "DATABASE_UNAVAILABLE");

    proxy.restore();
    health_becomes(&mut health, ServingStatus::Serving).await;
    let read = client
        .get_claim(pb::GetClaimRequest {
            name: submitted.name.clone(),
        })
        .await
        .expect("read again")
        .into_inner();
    assert_eq!(read, submitted);
    client
        .submit_claim(submit_request("maria", harbour_claim()))
        .await
        .expect("stored again");
    // The refused submission wrote nothing: two claims, two events.
    let stats = client
        .get_queue_stats(pb::GetQueueStatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let unverified = stats
        .state_counts
        .iter()
        .find(|c| c.state == pb::claim::State::Unverified as i32)
        .map(|c| c.count);
    assert_eq!(unverified, Some(2));
    server.stop().await.expect("the server stops cleanly");
}
