//! ListClaims: submission order, filters alone and combined, paging and
//! page sizes.

use claimdesk::pb::{self, ListClaimsRequest, claim::State};
use tokio::task::JoinSet;

use crate::helpers::*;

/// The desk the filter tests look at, each claim named by a letter.
struct Desk {
    /// harbour-strike, Harbour Gazette, in review by tomas
    a: String,
    /// harbour-strike, Port Authority, unverified
    b: String,
    /// harbour-strike, Harbour Gazette, unverified
    c: String,
    /// northern-border, Defence Ministry, in review by tomas
    d: String,
    /// northern-border, "harbour  GAZETTE", unverified
    e: String,
    /// northern-border, Defence Ministry, in review by ana
    f: String,
}

async fn desk(client: &mut Client) -> Desk {
    let harbour = |source: &str, n| numbered_claim(HARBOUR_STORY, source, n);
    let border = |source: &str, n| numbered_claim(BORDER_STORY, source, n);
    let a = submit(client, "maria", harbour(HARBOUR_SOURCE, 1))
        .await
        .name;
    let b = submit(client, "maria", harbour("Port Authority", 2))
        .await
        .name;
    let c = submit(client, "maria", harbour(HARBOUR_SOURCE, 3))
        .await
        .name;
    let d = submit(client, "maria", border("Defence Ministry", 4))
        .await
        .name;
    let e = submit(client, "maria", border("harbour  GAZETTE", 5))
        .await
        .name;
    let f = submit(client, "maria", border("Defence Ministry", 6))
        .await
        .name;
    start_review(client, "tomas", &a).await;
    start_review(client, "tomas", &d).await;
    start_review(client, "ana", &f).await;
    Desk { a, b, c, d, e, f }
}

/// A server with a client, on the desk the filter tests look at.
async fn on_a_desk() -> (TestServer, Client, Desk) {
    let (server, mut client) = TestServer::with_client().await;
    let d = desk(&mut client).await;
    (server, client, d)
}

/// Checks that `request` lists exactly `expected`, in that order.
async fn assert_listed(client: &mut Client, request: ListClaimsRequest, expected: &[&String]) {
    let context = format!("{request:?}");
    assert_eq!(
        listed(client, request).await,
        strings(expected),
        "{context}"
    );
}

/// Every claim matching `request`, by name.
async fn listed(client: &mut Client, request: ListClaimsRequest) -> Vec<String> {
    names(&list_all(client, request).await)
}

fn strings(names: &[&String]) -> Vec<String> {
    names.iter().map(|s| (*s).clone()).collect()
}

/// Claims of `story`.
fn by_story(story: &str) -> ListClaimsRequest {
    ListClaimsRequest {
        story: story.to_owned(),
        ..Default::default()
    }
}

/// Claims in `state`.
fn by_state(state: State) -> ListClaimsRequest {
    ListClaimsRequest {
        state: state.into(),
        ..Default::default()
    }
}

/// Claims from `source`.
fn by_source(source: &str) -> ListClaimsRequest {
    ListClaimsRequest {
        source: source.to_owned(),
        ..Default::default()
    }
}

/// Claims assigned to `assignee`.
fn by_assignee(assignee: &str) -> ListClaimsRequest {
    ListClaimsRequest {
        assignee: assignee.to_owned(),
        ..Default::default()
    }
}

/// Every claim, `page_size` at a time.
fn sized(page_size: i32) -> ListClaimsRequest {
    ListClaimsRequest {
        page_size,
        ..Default::default()
    }
}

/// Checks that `page` holds exactly the claims named `expected`, and is
/// the last.
#[track_caller]
fn assert_last_page(page: &pb::ListClaimsResponse, expected: &[String]) {
    assert_eq!(names(&page.claims), expected);
    assert_eq!(page.next_page_token, "");
}

/// `request` from where the page that gave `page_token` ended.
fn continued(request: ListClaimsRequest, page_token: String) -> ListClaimsRequest {
    ListClaimsRequest {
        page_token,
        ..request
    }
}

/// The story of the `n`th claim when two stories take turns: harbour for
/// even `n`, border for odd.
fn story_of(n: usize) -> &'static str {
    if n.is_multiple_of(2) {
        HARBOUR_STORY
    } else {
        BORDER_STORY
    }
}

/// One page of `request`.
async fn list_page(client: &mut Client, request: ListClaimsRequest) -> pb::ListClaimsResponse {
    client
        .list_claims(request)
        .await
        .expect("ListClaims succeeds")
        .into_inner()
}

#[tokio::test]
async fn an_empty_desk_lists_no_claims() {
    let (_server, mut client) = TestServer::with_client().await;

    let page = list_page(&mut client, ListClaimsRequest::default()).await;

    assert!(page.claims.is_empty());
    assert_eq!(page.next_page_token, "");
}

#[tokio::test]
async fn claims_are_listed_in_submission_order() {
    let (_server, mut client) = TestServer::with_client().await;
    let mut submitted = Vec::new();
    for n in 0..5 {
        let story = story_of(n);
        submitted.push(
            submit(
                &mut client,
                "maria",
                numbered_claim(story, "Kestrel Radio", n),
            )
            .await,
        );
    }
    // A change does not move a claim in the listing.
    start_review(&mut client, "tomas", &submitted[0].name).await;

    let claims = list_all(&mut client, ListClaimsRequest::default()).await;

    assert_eq!(names(&claims), names(&submitted));
    assert_eq!(claims[1..], submitted[1..], "listed claims are complete");
}

#[tokio::test]
async fn claims_filter_by_story() {
    let (_server, mut client, d) = on_a_desk().await;

    assert_listed(&mut client, by_story(HARBOUR_STORY), &[&d.a, &d.b, &d.c]).await;
    assert_listed(&mut client, by_story(BORDER_STORY), &[&d.d, &d.e, &d.f]).await;
    assert!(
        listed(&mut client, by_story("harbour")).await.is_empty(),
        "no prefix match"
    );
}

#[tokio::test]
async fn claims_filter_by_state() {
    let (_server, mut client, d) = on_a_desk().await;

    assert_listed(&mut client, by_state(State::InReview), &[&d.a, &d.d, &d.f]).await;
    assert_listed(
        &mut client,
        by_state(State::Unverified),
        &[&d.b, &d.c, &d.e],
    )
    .await;
    assert!(
        listed(&mut client, by_state(State::Verified))
            .await
            .is_empty()
    );
    assert_eq!(
        listed(&mut client, by_state(State::Unspecified))
            .await
            .len(),
        6,
        "unspecified means any state"
    );
}

#[tokio::test]
async fn claims_filter_by_source_without_regard_to_case_or_spacing() {
    let (_server, mut client, d) = on_a_desk().await;

    let gazette = strings(&[&d.a, &d.c, &d.e]);
    assert_eq!(
        listed(&mut client, by_source("Harbour Gazette")).await,
        gazette
    );
    assert_eq!(
        listed(&mut client, by_source("harbour gazette")).await,
        gazette
    );
    assert_eq!(
        listed(&mut client, by_source(" HARBOUR   Gazette ")).await,
        gazette
    );
    assert_listed(&mut client, by_source("port authority"), &[&d.b]).await;
    assert!(
        listed(&mut client, by_source("Harbour")).await.is_empty(),
        "no prefix match"
    );
}

#[tokio::test]
async fn claims_filter_by_assignee() {
    let (_server, mut client, d) = on_a_desk().await;

    assert_listed(&mut client, by_assignee("tomas"), &[&d.a, &d.d]).await;
    assert_listed(&mut client, by_assignee("ana"), &[&d.f]).await;
    assert!(listed(&mut client, by_assignee("li")).await.is_empty());
}

#[tokio::test]
async fn claim_filters_combine_with_and() {
    let (_server, mut client, d) = on_a_desk().await;

    let border_in_review = ListClaimsRequest {
        story: BORDER_STORY.to_owned(),
        state: State::InReview.into(),
        ..Default::default()
    };
    assert_listed(&mut client, border_in_review.clone(), &[&d.d, &d.f]).await;
    assert_listed(
        &mut client,
        ListClaimsRequest {
            assignee: "ana".to_owned(),
            ..border_in_review.clone()
        },
        &[&d.f],
    )
    .await;
    assert_listed(
        &mut client,
        ListClaimsRequest {
            source: "HARBOUR GAZETTE".to_owned(),
            state: State::Unverified.into(),
            ..Default::default()
        },
        &[&d.c, &d.e],
    )
    .await;
    assert_listed(
        &mut client,
        ListClaimsRequest {
            story: HARBOUR_STORY.to_owned(),
            source: "harbour gazette".to_owned(),
            state: State::InReview.into(),
            assignee: "tomas".to_owned(),
            ..Default::default()
        },
        &[&d.a],
    )
    .await;
    assert!(
        listed(
            &mut client,
            ListClaimsRequest {
                story: HARBOUR_STORY.to_owned(),
                assignee: "ana".to_owned(),
                ..Default::default()
            }
        )
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn filters_follow_changes_of_state_and_assignee() {
    let (_server, mut client, d) = on_a_desk().await;

    client
        .release_claim(as_user(
            pb::ReleaseClaimRequest {
                name: d.a.clone(),
                ..Default::default()
            },
            "tomas",
        ))
        .await
        .expect("ReleaseClaim succeeds");
    withdraw(&mut client, "desk-editor", &d.f, "Cut").await;
    start_review(&mut client, "ana", &d.b).await;

    assert_listed(&mut client, by_assignee("tomas"), &[&d.d]).await;
    assert_listed(&mut client, by_assignee("ana"), &[&d.b]).await;
    assert_listed(&mut client, by_state(State::InReview), &[&d.b, &d.d]).await;
    assert_listed(
        &mut client,
        by_state(State::Unverified),
        &[&d.a, &d.c, &d.e],
    )
    .await;
    assert_listed(&mut client, by_state(State::Withdrawn), &[&d.f]).await;
}

/// Submits `n` claims of `story` at once and returns their names in
/// submission order.
async fn submit_many(client: &Client, story: &str, n: usize) -> Vec<String> {
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let mut client = client.clone();
        let story = story.to_owned();
        tasks.spawn(async move {
            submit(
                &mut client,
                "maria",
                numbered_claim(&story, "Kestrel Radio", i),
            )
            .await
            .name
        });
    }
    let mut names: Vec<String> = tasks.join_all().await;
    // ULIDs sort in submission order.
    names.sort();
    names
}

/// Follows the pages of `request`, returning each page's names.
async fn pages(client: &mut Client, mut request: ListClaimsRequest) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    loop {
        let page = list_page(client, request.clone()).await;
        pages.push(names(&page.claims));
        if page.next_page_token.is_empty() {
            return pages;
        }
        assert!(pages.len() < 100, "paging ends");
        request.page_token = page.next_page_token;
    }
}

#[tokio::test]
async fn a_listing_pages_through_claims_two_at_a_time() {
    let (_server, mut client) = TestServer::with_client().await;
    let all = submit_many(&client, HARBOUR_STORY, 7).await;

    let pages = pages(&mut client, sized(2)).await;

    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 2, 1]);
    assert_eq!(pages.concat(), all);
}

#[tokio::test]
async fn a_filtered_listing_pages_through_the_matching_claims_only() {
    let (_server, mut client) = TestServer::with_client().await;
    // Interleave two stories so pages must skip claims.
    let mut harbour = Vec::new();
    for n in 0..10 {
        let story = story_of(n);
        let name = submit(
            &mut client,
            "maria",
            numbered_claim(story, "Kestrel Radio", n),
        )
        .await
        .name;
        if story == HARBOUR_STORY {
            harbour.push(name);
        }
    }

    let pages = pages(
        &mut client,
        ListClaimsRequest {
            page_size: 2,
            ..by_story(HARBOUR_STORY)
        },
    )
    .await;

    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    assert_eq!(pages.concat(), harbour);
}

#[tokio::test]
async fn the_last_page_has_no_next_page_token_even_when_it_is_full() {
    let (_server, mut client) = TestServer::with_client().await;
    let all = submit_many(&client, HARBOUR_STORY, 4).await;

    let pages = pages(&mut client, sized(2)).await;

    assert_eq!(pages, [all[..2].to_vec(), all[2..].to_vec()]);
}

#[tokio::test]
async fn a_page_size_of_zero_returns_fifty_claims() {
    let (_server, mut client) = TestServer::with_client().await;
    let all = submit_many(&client, HARBOUR_STORY, 51).await;

    let first = list_page(&mut client, ListClaimsRequest::default()).await;
    assert_eq!(names(&first.claims), all[..50]);
    assert!(!first.next_page_token.is_empty());
    let second = list_page(
        &mut client,
        continued(ListClaimsRequest::default(), first.next_page_token),
    )
    .await;
    assert_last_page(&second, &all[50..]);
}

#[tokio::test]
async fn page_sizes_above_500_are_cut_to_500() {
    let (_server, mut client) = TestServer::with_client().await;
    let all = submit_many(&client, HARBOUR_STORY, 501).await;

    let first = list_page(&mut client, sized(1000)).await;
    assert_eq!(first.claims.len(), 500);
    assert_eq!(names(&first.claims), all[..500]);
    assert!(!first.next_page_token.is_empty());
    let second = list_page(
        &mut client,
        continued(sized(i32::MAX), first.next_page_token),
    )
    .await;
    assert_last_page(&second, &all[500..]);
}

#[tokio::test]
async fn a_page_token_may_be_used_with_another_page_size() {
    let (_server, mut client) = TestServer::with_client().await;
    let all = submit_many(&client, HARBOUR_STORY, 5).await;

    let first = list_page(&mut client, sized(1)).await;
    let rest = list_page(&mut client, continued(sized(10), first.next_page_token)).await;

    assert_eq!(names(&first.claims), all[..1]);
    assert_last_page(&rest, &all[1..]);
}

#[tokio::test]
async fn the_source_filter_in_a_page_token_ignores_case() {
    let (_server, mut client) = TestServer::with_client().await;
    let all = submit_many(&client, HARBOUR_STORY, 3).await;

    let first = list_page(
        &mut client,
        ListClaimsRequest {
            page_size: 2,
            ..by_source("Kestrel Radio")
        },
    )
    .await;
    // The same filter, written differently.
    let rest = list_page(
        &mut client,
        continued(
            ListClaimsRequest {
                page_size: 2,
                ..by_source("kestrel radio")
            },
            first.next_page_token,
        ),
    )
    .await;

    assert_eq!(names(&first.claims), all[..2]);
    assert_eq!(names(&rest.claims), all[2..]);
}

#[tokio::test]
async fn source_filters_ignore_case_beyond_ascii() {
    let (_server, mut client) = TestServer::with_client().await;
    let echo = submit(
        &mut client,
        "maria",
        numbered_claim(HARBOUR_STORY, "Écho du Port", 1),
    )
    .await;
    submit(
        &mut client,
        "maria",
        numbered_claim(HARBOUR_STORY, "Echo du Port", 2),
    )
    .await;

    let found = listed(&mut client, by_source("ÉCHO DU PORT")).await;

    assert_eq!(found, [echo.name]);
}
