//! `claimdesk events watch`: stored then new events, resuming after a cut
//! connection from the last revision printed, ending on SIGTERM or Ctrl-C.

use std::sync::{Arc, Mutex};

use tokio::{net::TcpListener, task::JoinHandle};

use super::{CHECKER, EDITOR, Running, command, number, text};
use crate::helpers::{
    TestServer, add_evidence, evidence, numbered_claim, other_harbour_claim, reopen, start_review,
    submit, verify,
};
use claimdesk::pb::evidence::Stance;

const STORY: &str = "river-crossing";

#[tokio::test]
async fn watch_prints_stored_then_new_events_after_a_revision_and_ends_on_sigterm() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    for n in 0..3 {
        submit(
            &mut client,
            EDITOR,
            numbered_claim(STORY, "Valley Herald", n),
        )
        .await;
    }
    let mut watch = Running::spawn(command(
        &server.url(),
        EDITOR,
        &["events", "watch", "--after", "1", "--output", "json"],
    ));
    assert_eq!(number(&watch.json().await, "revision"), 2);
    assert_eq!(number(&watch.json().await, "revision"), 3);
    let new = submit(
        &mut client,
        EDITOR,
        numbered_claim(STORY, "Valley Herald", 4),
    )
    .await;
    let event = watch.json().await;
    assert_eq!(number(&event, "revision"), 4);
    assert_eq!(text(&event, "claim"), new.name);
    assert_eq!(event["type"], "TYPE_SUBMITTED");
    assert_eq!(event["toState"], "STATE_UNVERIFIED");
    assert_eq!(watch.stop_with("TERM").await, Some(0));
}

#[tokio::test]
async fn watch_prints_events_for_people_filtered_and_ends_on_ctrl_c() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let first = submit(
        &mut client,
        EDITOR,
        numbered_claim(STORY, "Valley Herald", 0),
    )
    .await;
    submit(
        &mut client,
        EDITOR,
        numbered_claim("elsewhere", "Valley Herald", 1),
    )
    .await;
    let mut watch = Running::spawn(command(
        &server.url(),
        EDITOR,
        &[
            "events",
            "watch",
            "--story",
            STORY,
            "--state",
            "unverified",
            "--state",
            "in-review",
        ],
    ));
    let header = watch.line().await;
    assert!(header.trim_start().starts_with("REV  WHEN"), "{header}");
    let line = watch.line().await;
    let id = first.name.strip_prefix("claims/").expect("a name");
    assert!(line.trim_start().starts_with("1  "), "{line}");
    assert!(
        line.contains(id) && line.contains("submitted") && line.contains(EDITOR),
        "{line}"
    );
    let second = submit(
        &mut client,
        EDITOR,
        numbered_claim(STORY, "Valley Herald", 2),
    )
    .await;
    let next = watch.line().await;
    assert!(
        next.trim_start().starts_with("3  "),
        "the other story's event is left out: {next}"
    );
    assert!(
        next.contains(second.name.strip_prefix("claims/").expect("a name")),
        "{next}"
    );
    assert_eq!(
        line.find("submitted"),
        next.find("submitted"),
        "lines align:\n{line}\n{next}"
    );
    assert_eq!(
        header.find("EVENT"),
        line.find("submitted"),
        "under the header:\n{header}\n{line}"
    );
    assert_eq!(watch.stop_with("INT").await, Some(0));
}

/// A TCP proxy to `target` whose connections the test can cut.
struct Proxy {
    addr: std::net::SocketAddr,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepting: JoinHandle<()>,
}

impl Proxy {
    async fn start(target: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("an address");
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let open = Arc::clone(&connections);
        let accepting = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let connection = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                open.lock().expect("connections").push(connection);
            }
        });
        Proxy {
            addr,
            connections,
            accepting,
        }
    }

    /// Cuts every open connection (new ones still get through).
    fn cut(&self) -> usize {
        let mut open = self.connections.lock().expect("connections");
        for connection in open.iter() {
            connection.abort();
        }
        let cut = open.len();
        open.clear();
        cut
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accepting.abort();
        self.cut();
    }
}

#[tokio::test]
async fn watch_resumes_after_a_cut_connection_from_the_last_revision_printed() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let proxy = Proxy::start(server.addr()).await;
    submit(
        &mut client,
        EDITOR,
        numbered_claim(STORY, "Valley Herald", 0),
    )
    .await;
    let mut watch = Running::spawn(command(
        &format!("http://{}", proxy.addr),
        EDITOR,
        &["events", "watch", "--output", "json"],
    ));
    assert_eq!(number(&watch.json().await, "revision"), 1);

    assert_eq!(proxy.cut(), 1, "the watch's one connection is cut");
    // Written while the watch is cut off: it must arrive once, after the
    // resume, and nothing before it twice.
    submit(
        &mut client,
        EDITOR,
        numbered_claim(STORY, "Valley Herald", 1),
    )
    .await;
    submit(
        &mut client,
        EDITOR,
        numbered_claim(STORY, "Valley Herald", 2),
    )
    .await;
    assert_eq!(number(&watch.json().await, "revision"), 2);
    assert_eq!(number(&watch.json().await, "revision"), 3);
    submit(
        &mut client,
        EDITOR,
        numbered_claim(STORY, "Valley Herald", 3),
    )
    .await;
    assert_eq!(number(&watch.json().await, "revision"), 4);

    let notices = watch.terminate_with_notices().await;
    assert!(
        notices.contains("watch interrupted") && notices.contains("resuming after revision 1"),
        "{notices}"
    );
}

/// Writers of the slow-watch test, each reviewing a claim of its own over
/// and over with long notes, so that the events (about 6 MiB) outgrow what
/// the pipe, the transport (tonic's 2 MiB stream window) and the server
/// (1 MiB) hold for a watcher that stops reading.
const WRITERS: usize = 16;
const ROUNDS: usize = 48;

/// Reviews `name` `ROUNDS` times: start, verify, reopen, with long notes.
async fn review_again_and_again(server_client: &mut crate::helpers::Client, name: &str) {
    let note = "n".repeat(4_000);
    start_review(server_client, CHECKER, name).await;
    let supporting = evidence("Port Authority", Stance::Supports, "Payroll records");
    add_evidence(server_client, CHECKER, name, supporting).await;
    for _ in 0..ROUNDS {
        verify(server_client, CHECKER, name, &note).await;
        reopen(server_client, EDITOR, name, &note).await;
        start_review(server_client, CHECKER, name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_ended_as_too_slow_resumes_without_a_gap_or_a_repeat() {
    // The watching process is left blocked on its full stdout, its
    // connection unanswered, for as long as the writers take: no HTTP/2
    // keepalive, which would close that connection before the server ends
    // the watch as too slow.
    let server = TestServer::spawn_with_limits(claimdesk::server::Limits {
        http2_keepalive_interval: None,
        ..Default::default()
    })
    .await;
    let mut client = server.client().await;
    let mut names = Vec::new();
    for i in 0..WRITERS {
        names.push(
            submit(&mut client, EDITOR, other_harbour_claim(i))
                .await
                .name,
        );
    }
    let mut watch = Running::spawn(command(
        &server.url(),
        EDITOR,
        &["events", "watch", "-o", "json"],
    ));
    // Live: it printed the stored events. From here on nobody reads its
    // output until the writers are done, so it stops reading the stream.
    for revision in 1..=WRITERS as u64 {
        assert_eq!(number(&watch.json().await, "revision"), revision);
    }
    let mut writers = Vec::new();
    for name in names.clone() {
        let mut client = server.client().await;
        writers.push(tokio::spawn(async move {
            review_again_and_again(&mut client, &name).await;
        }));
    }
    for writer in writers {
        tokio::time::timeout(super::WAIT * 4, writer)
            .await
            .expect("the writers finish")
            .expect("a writer does not panic");
    }
    // The submissions, then per writer: start, evidence, and the rounds.
    let total = (WRITERS * (1 + 2 + 3 * ROUNDS)) as u64;

    let mut revisions = Vec::new();
    while revisions.last() != Some(&total) {
        revisions.push(number(&watch.json().await, "revision"));
    }
    let expected: Vec<u64> = (WRITERS as u64 + 1..=total).collect();
    assert_eq!(revisions.len(), expected.len(), "no gap and no repeat");
    assert_eq!(revisions, expected);

    let notices = watch.terminate_with_notices().await;
    assert!(
        notices.contains("watch interrupted: RESOURCE_EXHAUSTED"),
        "ended as too slow, then resumed: {notices}"
    );
}
