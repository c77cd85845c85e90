//! A graceful restart on the same data directory keeps everything: claims,
//! the indexes behind the list filters, histories, the revision counter and
//! page tokens.

use claimdesk::pb::{self, ListClaimsRequest, claim::State, evidence};

use crate::helpers::*;

/// What a client can read of the desk, to compare before and after.
#[derive(Debug, PartialEq)]
struct Snapshot {
    claims: Vec<pb::Claim>,
    filtered: Vec<Vec<String>>,
    histories: Vec<Vec<pb::ClaimEvent>>,
}

fn filters() -> Vec<ListClaimsRequest> {
    let filter = |story: &str, state: State, source: &str, assignee: &str| ListClaimsRequest {
        story: story.to_owned(),
        state: state.into(),
        source: source.to_owned(),
        assignee: assignee.to_owned(),
        ..Default::default()
    };
    vec![
        filter(HARBOUR_STORY, State::Unspecified, "", ""),
        filter(BORDER_STORY, State::Unspecified, "", ""),
        filter("", State::InReview, "", ""),
        filter("", State::Verified, "", ""),
        filter("", State::Withdrawn, "", ""),
        filter("", State::Unspecified, "harbour gazette", ""),
        filter("", State::Unspecified, "", "tomas"),
        filter("", State::Unspecified, "", "li"),
        filter(BORDER_STORY, State::Disputed, "defence ministry", "ana"),
    ]
}

async fn snapshot(client: &mut Client) -> Snapshot {
    let claims = list_all(client, ListClaimsRequest::default()).await;
    let mut filtered = Vec::new();
    for f in filters() {
        filtered.push(names(&list_all(client, f).await));
    }
    let mut histories = Vec::new();
    for c in &claims {
        histories.push(events_of(client, &c.name).await);
        assert_eq!(&get(client, &c.name).await, c);
    }
    Snapshot {
        claims,
        filtered,
        histories,
    }
}

/// Claims in several states, with evidence, assignees and notes.
async fn populate(client: &mut Client) {
    let verified = submit(client, "maria", harbour_claim()).await.name;
    start_review(client, "tomas", &verified).await;
    let gate_logs = supports("Port Authority", "Gate logs");
    add_evidence(client, "tomas", &verified, gate_logs).await;
    verify(client, "tomas", &verified, "Gate logs agree").await;

    let disputed = submit(
        client,
        "maria",
        border_claim(
            "Some 14,000 soldiers reached the border",
            "Defence Ministry",
        ),
    )
    .await
    .name;
    start_review(client, "ana", &disputed).await;
    add_evidence(
        client,
        "ana",
        &disputed,
        evidence(
            "Imagery analysts",
            evidence::Stance::Refutes,
            "Camps for 3,000",
        ),
    )
    .await;
    dispute(client, "ana", &disputed, "Imagery shows far fewer").await;

    let in_review = submit(
        client,
        "maria",
        border_claim("About 4,000 soldiers reached the border", "Kestrel Radio"),
    )
    .await
    .name;
    start_review(client, "li", &in_review).await;

    let withdrawn = submit(
        client,
        "maria",
        numbered_claim(HARBOUR_STORY, "Harbour Gazette", 7),
    )
    .await
    .name;
    withdraw(client, "desk-editor", &withdrawn, "Cut from the story").await;

    let mut with_deadline = numbered_claim(HARBOUR_STORY, "Port Authority", 8);
    with_deadline.deadline = Some(prost_types::Timestamp {
        seconds: 1_900_000_000,
        nanos: 500,
    });
    submit(client, "maria", with_deadline).await;
}

#[tokio::test]
async fn claims_indexes_and_histories_survive_a_restart() {
    let (server, mut client) = TestServer::with_client().await;
    populate(&mut client).await;
    let before = snapshot(&mut client).await;
    assert_eq!(before.claims.len(), 5);
    assert!(
        before.filtered.iter().all(|names| !names.is_empty()),
        "every filter matches something: {:?}",
        before.filtered
    );
    drop(client);
    let dir = (*backend() == Backend::Sled).then(|| server.data_dir().to_path_buf());

    let server = server.restart().await;
    let mut client = server.client().await;
    let after = snapshot(&mut client).await;

    if let Some(dir) = dir {
        assert_eq!(server.data_dir(), dir, "the same data directory");
    }
    assert_eq!(after, before);
}

#[tokio::test]
async fn work_goes_on_after_a_restart_with_later_revisions() {
    let (server, mut client) = TestServer::with_client().await;
    populate(&mut client).await;
    let before = snapshot(&mut client).await;
    let last_revision = before
        .histories
        .iter()
        .flatten()
        .map(|e| e.revision)
        .max()
        .expect("some events");
    drop(client);

    let server = server.restart().await;
    let mut client = server.client().await;
    let in_review = &before.claims[2];
    assert_eq!(in_review.state(), State::InReview);
    let (name, etag) = (&in_review.name, &in_review.etag);
    let released = try_release(&mut client, "li", name, "Back to the queue", etag)
        .await
        .expect("a change with an etag read before the restart succeeds");
    let newcomer = submit(&mut client, "maria", harbour_claim()).await;

    assert_ne!(released.etag, in_review.etag);
    let history = events_of(&mut client, &in_review.name).await;
    assert_eq!(
        history.last().map(|e| e.revision),
        Some(last_revision + 1),
        "the revision counter continues where it stopped"
    );
    assert_eq!(
        events_of(&mut client, &newcomer.name).await[0].revision,
        last_revision + 2
    );
    let all = list_all(&mut client, ListClaimsRequest::default()).await;
    assert_eq!(
        all.last().map(|c| c.name.as_str()),
        Some(newcomer.name.as_str()),
        "a new claim lists after the old ones"
    );
}

#[tokio::test]
async fn a_page_token_stays_valid_across_a_restart() {
    let (server, mut client) = TestServer::with_client().await;
    let all = submit_numbered(&mut client, "maria", (HARBOUR_STORY, "Kestrel Radio"), 0..4).await;
    let request = ListClaimsRequest {
        story: HARBOUR_STORY.to_owned(),
        page_size: 2,
        ..Default::default()
    };
    let first = list_page(&mut client, request.clone()).await;
    drop(client);

    let server = server.restart().await;
    let mut client = server.client().await;
    let second = client
        .list_claims(ListClaimsRequest {
            page_token: first.next_page_token,
            ..request
        })
        .await
        .expect("a token issued before the restart is accepted")
        .into_inner();

    assert_eq!(names(&first.claims), all[..2]);
    assert_eq!(names(&second.claims), all[2..]);
    assert_eq!(second.next_page_token, "");
}

/// Failed while `run_until` returned before the store was closed: the
/// committer thread of `SledStore` kept a `sled::Db` handle (and with it
/// sled's lock on `db`) until it next ran, so opening the directory again
/// right away failed with "could not acquire lock". (`SledStore::open` now
/// also waits up to 2 s for a lock sled's own threads still hold.)
#[tokio::test]
async fn a_server_restarts_on_its_data_directory_straight_after_stopping() {
    let mut server = TestServer::spawn().await;
    let mut client = server.client().await;
    let claim = submit(&mut client, "maria", harbour_claim()).await;
    drop(client);

    for _ in 0..10 {
        // No waiting: once run_until has returned, the directory is free.
        server = server.restart().await;
    }

    let mut client = server.client().await;
    assert_eq!(get(&mut client, &claim.name).await, claim);
}

/// Fails today: the error reads "cannot open the data directory …: storage
/// is unavailable", and that is all `claimdesk serve` logs; the cause (here
/// sled's lock, elsewhere a permission or an unsupported store format) is
/// only in the error's `source()` chain.
#[tokio::test]
async fn a_server_that_cannot_open_its_data_directory_says_why() {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    // Another store holds the directory.
    let _holder = open_sled_store(dir.path()).await;

    let result = claimdesk::server::Server::build(&claimdesk::server::Config {
        cache_capacity: 64 * 1024 * 1024,
        ..claimdesk::server::Config::new("127.0.0.1:0".parse().expect("an address"), dir.path())
    })
    .await;

    let Err(error) = result else {
        panic!("a second store cannot open a directory in use");
    };
    let message = error.to_string();
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message:?} names the directory"
    );
    assert!(message.contains("lock"), "{message:?} gives the cause");
}
