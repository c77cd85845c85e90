//! ListClaimEvents: the history of a claim, oldest first, with global
//! revisions, and its paging.

use claimdesk::pb::{self, claim::State, claim_event::Type, evidence};

use crate::helpers::*;

/// Type, actor, from, to and note of an event, for comparing histories.
fn summary(e: &pb::ClaimEvent) -> (Type, String, State, State, String) {
    (
        e.r#type(),
        e.actor.clone(),
        e.from_state(),
        e.to_state(),
        e.note.clone(),
    )
}

fn row(
    t: Type,
    actor: &str,
    from: State,
    to: State,
    note: &str,
) -> (Type, String, State, State, String) {
    (t, actor.to_owned(), from, to, note.to_owned())
}

#[tokio::test]
async fn the_history_lists_every_change_oldest_first_with_actor_states_and_notes() {
    let (_server, mut client) = TestServer::with_client().await;
    let submitted = submit(&mut client, "maria", harbour_claim()).await;
    let name = submitted.name.clone();

    start_review(&mut client, "tomas", &name).await;
    let with_evidence = add_evidence(
        &mut client,
        "ana",
        &name,
        evidence(
            "Port Authority",
            evidence::Stance::Supports,
            "Gate logs show 9,100 workers did not clock in",
        ),
    )
    .await;
    client
        .release_claim(as_user(
            pb::ReleaseClaimRequest {
                name: name.clone(),
                etag: String::new(),
                note: "Handing over to the late shift".to_owned(),
            },
            "tomas",
        ))
        .await
        .expect("ReleaseClaim succeeds");
    start_review(&mut client, "li", &name).await;
    verify(&mut client, "li", &name, "Gate logs agree").await;
    client
        .reopen_claim(as_user(
            pb::ReopenClaimRequest {
                name: name.clone(),
                reason: "The logs were from the day before".to_owned(),
                etag: String::new(),
            },
            "desk-editor",
        ))
        .await
        .expect("ReopenClaim succeeds");
    start_review(&mut client, "li", &name).await;
    client
        .mark_claim_inconclusive(as_user(
            pb::MarkClaimInconclusiveRequest {
                name: name.clone(),
                note: "Union and port figures cannot be reconciled".to_owned(),
                etag: String::new(),
            },
            "li",
        ))
        .await
        .expect("MarkClaimInconclusive succeeds");
    let withdrawn = withdraw(&mut client, "desk-editor", &name, "Paragraph cut").await;

    let events = events_of(&mut client, &name).await;

    use State::*;
    assert_eq!(
        events.iter().map(summary).collect::<Vec<_>>(),
        [
            row(Type::Submitted, "maria", Unspecified, Unverified, ""),
            row(Type::ReviewStarted, "tomas", Unverified, InReview, ""),
            row(Type::EvidenceAdded, "ana", InReview, InReview, ""),
            row(
                Type::Released,
                "tomas",
                InReview,
                Unverified,
                "Handing over to the late shift"
            ),
            row(Type::ReviewStarted, "li", Unverified, InReview, ""),
            row(Type::Verified, "li", InReview, Verified, "Gate logs agree"),
            row(
                Type::Reopened,
                "desk-editor",
                Verified,
                Unverified,
                "The logs were from the day before"
            ),
            row(Type::ReviewStarted, "li", Unverified, InReview, ""),
            row(
                Type::MarkedInconclusive,
                "li",
                InReview,
                Inconclusive,
                "Union and port figures cannot be reconciled"
            ),
            row(
                Type::Withdrawn,
                "desk-editor",
                Inconclusive,
                Withdrawn,
                "Paragraph cut"
            ),
        ]
    );
    for e in &events {
        assert_eq!(e.claim, name);
        assert!(e.event_time.is_some(), "{e:?} has a time");
        if e.r#type() == Type::EvidenceAdded {
            assert_eq!(e.evidence.as_ref(), Some(&with_evidence.evidence[0]));
        } else {
            assert_eq!(e.evidence, None, "only evidence events carry evidence");
        }
    }
    for pair in events.windows(2) {
        assert!(pair[0].revision < pair[1].revision, "revisions increase");
        let (a, b) = (pair[0].event_time.unwrap(), pair[1].event_time.unwrap());
        assert!(
            (a.seconds, a.nanos) <= (b.seconds, b.nanos),
            "event times do not go back"
        );
    }
    assert_eq!(events[0].event_time, submitted.create_time);
    assert_eq!(events.last().unwrap().event_time, withdrawn.update_time);
}

#[tokio::test]
async fn revisions_increase_across_all_claims_without_gaps() {
    let (_server, mut client) = TestServer::with_client().await;
    let harbour = submit(&mut client, "maria", harbour_claim()).await;
    let border = submit(
        &mut client,
        "maria",
        border_claim("Two brigades reached the border town", "Kestrel Radio"),
    )
    .await;

    // Interleaved changes, with refused ones in between.
    start_review(&mut client, "tomas", &border.name).await;
    let refused = client
        .verify_claim(as_user(
            pb::VerifyClaimRequest {
                name: harbour.name.clone(),
                ..Default::default()
            },
            "tomas",
        ))
        .await;
    assert!(refused.is_err(), "verifying an unverified claim is refused");
    start_review(&mut client, "ana", &harbour.name).await;
    let refused = start_review_result(&mut client, "ana", &border.name).await;
    assert!(refused.is_err(), "a claim in review cannot be taken again");
    add_evidence(
        &mut client,
        "tomas",
        &border.name,
        evidence("Border police", evidence::Stance::Refutes, "One brigade"),
    )
    .await;
    withdraw(&mut client, "desk-editor", &harbour.name, "Cut").await;

    let harbour_events = events_of(&mut client, &harbour.name).await;
    let border_events = events_of(&mut client, &border.name).await;
    for events in [&harbour_events, &border_events] {
        for pair in events.windows(2) {
            assert!(pair[0].revision < pair[1].revision);
        }
    }
    let mut all: Vec<u64> = harbour_events
        .iter()
        .chain(&border_events)
        .map(|e| e.revision)
        .collect();
    all.sort();
    let first = all[0];
    assert_eq!(
        all,
        (first..first + 6).collect::<Vec<_>>(),
        "six stored changes take six consecutive revisions"
    );
    // Submission order is revision order.
    assert!(harbour_events[0].revision < border_events[0].revision);
}

async fn start_review_result(
    client: &mut Client,
    user: &str,
    name: &str,
) -> Result<tonic::Response<pb::Claim>, tonic::Status> {
    client
        .start_review(as_user(
            pb::StartReviewRequest {
                name: name.to_owned(),
                etag: String::new(),
            },
            user,
        ))
        .await
}

/// A claim with `n` events: the submission, then review started and
/// released in turn.
async fn claim_with_events(client: &mut Client, n: usize) -> String {
    let name = submit(client, "maria", harbour_claim()).await.name;
    for i in 1..n {
        if i % 2 == 1 {
            start_review(client, "tomas", &name).await;
        } else {
            client
                .release_claim(as_user(
                    pb::ReleaseClaimRequest {
                        name: name.clone(),
                        ..Default::default()
                    },
                    "tomas",
                ))
                .await
                .expect("ReleaseClaim succeeds");
        }
    }
    name
}

#[tokio::test]
async fn claim_events_page_through_the_history() {
    let (_server, mut client) = TestServer::with_client().await;
    let name = claim_with_events(&mut client, 7).await;
    let all = events_of(&mut client, &name).await;
    assert_eq!(all.len(), 7);

    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_claim_events(pb::ListClaimEventsRequest {
                name: name.clone(),
                page_size: 3,
                page_token: token,
            })
            .await
            .expect("ListClaimEvents succeeds")
            .into_inner();
        pages.push(page.events);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }

    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [3, 3, 1],
        "pages of 3, the last one holding the rest"
    );
    assert_eq!(pages.concat(), all);
}

#[tokio::test]
async fn a_history_that_fills_its_last_page_exactly_ends_with_an_empty_token() {
    let (_server, mut client) = TestServer::with_client().await;
    let name = claim_with_events(&mut client, 4).await;

    let first = client
        .list_claim_events(pb::ListClaimEventsRequest {
            name: name.clone(),
            page_size: 2,
            page_token: String::new(),
        })
        .await
        .expect("ListClaimEvents succeeds")
        .into_inner();
    assert_eq!(first.events.len(), 2);
    assert!(!first.next_page_token.is_empty());
    let second = client
        .list_claim_events(pb::ListClaimEventsRequest {
            name: name.clone(),
            page_size: 2,
            page_token: first.next_page_token,
        })
        .await
        .expect("ListClaimEvents succeeds")
        .into_inner();
    assert_eq!(second.events.len(), 2);
    assert_eq!(second.next_page_token, "", "no page follows the last one");
}

#[tokio::test]
async fn an_events_page_size_of_zero_means_fifty() {
    let (_server, mut client) = TestServer::with_client().await;
    let name = submit(&mut client, "maria", harbour_claim()).await.name;
    // 60 pieces of evidence at once: 61 events in all.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let mut client = client.clone();
        let name = name.clone();
        tasks.spawn(async move {
            let summary = format!("Picket line count number {i}");
            add_evidence(
                &mut client,
                "ana",
                &name,
                evidence("Port Authority", evidence::Stance::Context, &summary),
            )
            .await
        });
    }
    tasks.join_all().await;

    let default_page = client
        .list_claim_events(pb::ListClaimEventsRequest {
            name: name.clone(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .expect("ListClaimEvents succeeds")
        .into_inner();
    assert_eq!(default_page.events.len(), 50);
    assert!(!default_page.next_page_token.is_empty());
    let rest = client
        .list_claim_events(pb::ListClaimEventsRequest {
            name: name.clone(),
            page_size: 0,
            page_token: default_page.next_page_token,
        })
        .await
        .expect("ListClaimEvents succeeds")
        .into_inner();
    assert_eq!(rest.events.len(), 11);
    assert_eq!(rest.next_page_token, "");

    // A page size above the limit is cut, not refused.
    let large = client
        .list_claim_events(pb::ListClaimEventsRequest {
            name: name.clone(),
            page_size: i32::MAX,
            page_token: String::new(),
        })
        .await
        .expect("ListClaimEvents succeeds")
        .into_inner();
    assert_eq!(large.events.len(), 61);
    assert_eq!(large.next_page_token, "");
    assert_eq!(
        [default_page.events, rest.events].concat(),
        large.events,
        "the pages make up the whole history"
    );
}
