//! ListClaimEvents: the history of a claim, oldest first, with global
//! revisions, and its paging.

use claimdesk::pb::{self, claim::State, claim_event::Type};

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

// The notes and reasons of the changes in the history below.
const HANDOVER: &str = "Handing over to the late shift";
const AGREE: &str = "Gate logs agree";
const MISDATED: &str = "The logs were from the day before";
const IRRECONCILABLE: &str = "Union and port figures cannot be reconciled";
const CUT: &str = "Paragraph cut";

#[tokio::test]
async fn the_history_lists_every_change_oldest_first_with_actor_states_and_notes() {
    let (_server, mut client, submitted) = TestServer::with_harbour_claim().await;
    let name = submitted.name.clone();

    start_review(&mut client, "tomas", &name).await;
    let with_evidence = add_evidence(&mut client, "ana", &name, gate_logs()).await;
    release(&mut client, "tomas", &name, HANDOVER).await;
    start_review(&mut client, "li", &name).await;
    verify(&mut client, "li", &name, AGREE).await;
    reopen(&mut client, "desk-editor", &name, MISDATED).await;
    start_review(&mut client, "li", &name).await;
    mark_inconclusive(&mut client, "li", &name, IRRECONCILABLE).await;
    let withdrawn = withdraw(&mut client, "desk-editor", &name, CUT).await;

    let events = events_of(&mut client, &name).await;

    use State::*;
    assert_eq!(
        events.iter().map(summary).collect::<Vec<_>>(),
        [
            row(Type::Submitted, "maria", Unspecified, Unverified, ""),
            row(Type::ReviewStarted, "tomas", Unverified, InReview, ""),
            row(Type::EvidenceAdded, "ana", InReview, InReview, ""),
            row(Type::Released, "tomas", InReview, Unverified, HANDOVER),
            row(Type::ReviewStarted, "li", Unverified, InReview, ""),
            row(Type::Verified, "li", InReview, Verified, AGREE),
            row(
                Type::Reopened,
                "desk-editor",
                Verified,
                Unverified,
                MISDATED
            ),
            row(Type::ReviewStarted, "li", Unverified, InReview, ""),
            row(
                Type::MarkedInconclusive,
                "li",
                InReview,
                Inconclusive,
                IRRECONCILABLE
            ),
            row(Type::Withdrawn, "desk-editor", Inconclusive, Withdrawn, CUT),
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
    let (_server, mut client, harbour) = TestServer::with_harbour_claim().await;
    let brigades = border_claim("Two brigades reached the border town", "Kestrel Radio");
    let border = submit(&mut client, "maria", brigades).await;

    // Interleaved changes, with refused ones in between.
    start_review(&mut client, "tomas", &border.name).await;
    let refused = try_verify(&mut client, "tomas", &harbour.name, "", "").await;
    assert!(refused.is_err(), "verifying an unverified claim is refused");
    start_review(&mut client, "ana", &harbour.name).await;
    let refused = try_start_review(&mut client, "ana", &border.name, "").await;
    assert!(refused.is_err(), "a claim in review cannot be taken again");
    let one_brigade = refutes("Border police", "One brigade");
    add_evidence(&mut client, "tomas", &border.name, one_brigade).await;
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

/// One page of `name`'s history: at most `page_size` events, from the
/// page `page_token` names on.
async fn events_page(
    client: &mut Client,
    name: &str,
    page_size: i32,
    page_token: &str,
) -> pb::ListClaimEventsResponse {
    let request = pb::ListClaimEventsRequest {
        name: name.to_owned(),
        page_size,
        page_token: page_token.to_owned(),
    };
    let answer = client.list_claim_events(request).await;
    answer.expect("ListClaimEvents succeeds").into_inner()
}

/// A claim with `n` events: the submission, then review started and
/// released in turn.
async fn claim_with_events(client: &mut Client, n: usize) -> String {
    let name = submit(client, "maria", harbour_claim()).await.name;
    for i in 1..n {
        if i % 2 == 1 {
            start_review(client, "tomas", &name).await;
        } else {
            release(client, "tomas", &name, "").await;
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
        let page = events_page(&mut client, &name, 3, &token).await;
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

    let first = events_page(&mut client, &name, 2, "").await;
    assert_eq!(first.events.len(), 2);
    assert!(!first.next_page_token.is_empty());
    let second = events_page(&mut client, &name, 2, &first.next_page_token).await;
    assert_eq!(second.events.len(), 2);
    assert_eq!(second.next_page_token, "", "no page follows the last one");
}

#[tokio::test]
async fn an_events_page_size_of_zero_means_fifty() {
    let (_server, mut client) = TestServer::with_client().await;
    let name = submit(&mut client, "maria", harbour_claim()).await.name;
    // 60 pieces of evidence at once: 61 events in all.
    add_context_at_once(&client, &name, 60, "Picket line count number").await;

    let default_page = events_page(&mut client, &name, 0, "").await;
    assert_eq!(default_page.events.len(), 50);
    assert!(!default_page.next_page_token.is_empty());
    let rest = events_page(&mut client, &name, 0, &default_page.next_page_token).await;
    assert_eq!(rest.events.len(), 11);
    assert_eq!(rest.next_page_token, "");

    // A page size above the limit is cut, not refused.
    let large = events_page(&mut client, &name, i32::MAX, "").await;
    assert_eq!(large.events.len(), 61);
    assert_eq!(large.next_page_token, "");
    assert_eq!(
        [default_page.events, rest.events].concat(),
        large.events,
        "the pages make up the whole history"
    );
}
