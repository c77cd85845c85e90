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

/// Every claim matching `request`, by name.
async fn listed(client: &mut Client, request: ListClaimsRequest) -> Vec<String> {
    names(&list_all(client, request).await)
}

fn strings(names: &[&String]) -> Vec<String> {
    names.iter().map(|s| (*s).clone()).collect()
}

#[tokio::test]
async fn an_empty_desk_lists_no_claims() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;

    let page = client
        .list_claims(ListClaimsRequest::default())
        .await
        .expect("ListClaims succeeds")
        .into_inner();

    assert!(page.claims.is_empty());
    assert_eq!(page.next_page_token, "");
    server.stop().await;
}

#[tokio::test]
async fn claims_are_listed_in_submission_order() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let mut submitted = Vec::new();
    for n in 0..5 {
        let story = if n % 2 == 0 {
            HARBOUR_STORY
        } else {
            BORDER_STORY
        };
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
    server.stop().await;
}

#[tokio::test]
async fn claims_filter_by_story() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let d = desk(&mut client).await;

    let request = |story: &str| ListClaimsRequest {
        story: story.to_owned(),
        ..Default::default()
    };
    assert_eq!(
        listed(&mut client, request(HARBOUR_STORY)).await,
        strings(&[&d.a, &d.b, &d.c])
    );
    assert_eq!(
        listed(&mut client, request(BORDER_STORY)).await,
        strings(&[&d.d, &d.e, &d.f])
    );
    assert!(
        listed(&mut client, request("harbour")).await.is_empty(),
        "no prefix match"
    );
    server.stop().await;
}

#[tokio::test]
async fn claims_filter_by_state() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let d = desk(&mut client).await;

    let request = |state: State| ListClaimsRequest {
        state: state.into(),
        ..Default::default()
    };
    assert_eq!(
        listed(&mut client, request(State::InReview)).await,
        strings(&[&d.a, &d.d, &d.f])
    );
    assert_eq!(
        listed(&mut client, request(State::Unverified)).await,
        strings(&[&d.b, &d.c, &d.e])
    );
    assert!(
        listed(&mut client, request(State::Verified))
            .await
            .is_empty()
    );
    assert_eq!(
        listed(&mut client, request(State::Unspecified)).await.len(),
        6,
        "unspecified means any state"
    );
    server.stop().await;
}

#[tokio::test]
async fn claims_filter_by_source_without_regard_to_case_or_spacing() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let d = desk(&mut client).await;

    let request = |source: &str| ListClaimsRequest {
        source: source.to_owned(),
        ..Default::default()
    };
    let gazette = strings(&[&d.a, &d.c, &d.e]);
    assert_eq!(
        listed(&mut client, request("Harbour Gazette")).await,
        gazette
    );
    assert_eq!(
        listed(&mut client, request("harbour gazette")).await,
        gazette
    );
    assert_eq!(
        listed(&mut client, request(" HARBOUR   Gazette ")).await,
        gazette
    );
    assert_eq!(
        listed(&mut client, request("port authority")).await,
        strings(&[&d.b])
    );
    assert!(
        listed(&mut client, request("Harbour")).await.is_empty(),
        "no prefix match"
    );
    server.stop().await;
}

#[tokio::test]
async fn claims_filter_by_assignee() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let d = desk(&mut client).await;

    let request = |assignee: &str| ListClaimsRequest {
        assignee: assignee.to_owned(),
        ..Default::default()
    };
    assert_eq!(
        listed(&mut client, request("tomas")).await,
        strings(&[&d.a, &d.d])
    );
    assert_eq!(listed(&mut client, request("ana")).await, strings(&[&d.f]));
    assert!(listed(&mut client, request("li")).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn claim_filters_combine_with_and() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let d = desk(&mut client).await;

    let border_in_review = ListClaimsRequest {
        story: BORDER_STORY.to_owned(),
        state: State::InReview.into(),
        ..Default::default()
    };
    assert_eq!(
        listed(&mut client, border_in_review.clone()).await,
        strings(&[&d.d, &d.f])
    );
    assert_eq!(
        listed(
            &mut client,
            ListClaimsRequest {
                assignee: "ana".to_owned(),
                ..border_in_review.clone()
            }
        )
        .await,
        strings(&[&d.f])
    );
    assert_eq!(
        listed(
            &mut client,
            ListClaimsRequest {
                source: "HARBOUR GAZETTE".to_owned(),
                state: State::Unverified.into(),
                ..Default::default()
            }
        )
        .await,
        strings(&[&d.c, &d.e])
    );
    assert_eq!(
        listed(
            &mut client,
            ListClaimsRequest {
                story: HARBOUR_STORY.to_owned(),
                source: "harbour gazette".to_owned(),
                state: State::InReview.into(),
                assignee: "tomas".to_owned(),
                ..Default::default()
            }
        )
        .await,
        strings(&[&d.a])
    );
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
    server.stop().await;
}

#[tokio::test]
async fn filters_follow_changes_of_state_and_assignee() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let d = desk(&mut client).await;

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

    let assigned = |assignee: &str| ListClaimsRequest {
        assignee: assignee.to_owned(),
        ..Default::default()
    };
    let in_state = |state: State| ListClaimsRequest {
        state: state.into(),
        ..Default::default()
    };
    assert_eq!(
        listed(&mut client, assigned("tomas")).await,
        strings(&[&d.d])
    );
    assert_eq!(listed(&mut client, assigned("ana")).await, strings(&[&d.b]));
    assert_eq!(
        listed(&mut client, in_state(State::InReview)).await,
        strings(&[&d.b, &d.d])
    );
    assert_eq!(
        listed(&mut client, in_state(State::Unverified)).await,
        strings(&[&d.a, &d.c, &d.e])
    );
    assert_eq!(
        listed(&mut client, in_state(State::Withdrawn)).await,
        strings(&[&d.f])
    );
    server.stop().await;
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
        let page = client
            .list_claims(request.clone())
            .await
            .expect("ListClaims succeeds")
            .into_inner();
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
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let all = submit_many(&client, HARBOUR_STORY, 7).await;

    let pages = pages(
        &mut client,
        ListClaimsRequest {
            page_size: 2,
            ..Default::default()
        },
    )
    .await;

    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 2, 1]);
    assert_eq!(pages.concat(), all);
    server.stop().await;
}

#[tokio::test]
async fn a_filtered_listing_pages_through_the_matching_claims_only() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    // Interleave two stories so pages must skip claims.
    let mut harbour = Vec::new();
    for n in 0..10 {
        let story = if n % 2 == 0 {
            HARBOUR_STORY
        } else {
            BORDER_STORY
        };
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
            story: HARBOUR_STORY.to_owned(),
            page_size: 2,
            ..Default::default()
        },
    )
    .await;

    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    assert_eq!(pages.concat(), harbour);
    server.stop().await;
}

#[tokio::test]
async fn the_last_page_has_no_next_page_token_even_when_it_is_full() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let all = submit_many(&client, HARBOUR_STORY, 4).await;

    let pages = pages(
        &mut client,
        ListClaimsRequest {
            page_size: 2,
            ..Default::default()
        },
    )
    .await;

    assert_eq!(pages, [all[..2].to_vec(), all[2..].to_vec()]);
    server.stop().await;
}

#[tokio::test]
async fn a_page_size_of_zero_returns_fifty_claims() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let all = submit_many(&client, HARBOUR_STORY, 51).await;

    let first = client
        .list_claims(ListClaimsRequest::default())
        .await
        .expect("ListClaims succeeds")
        .into_inner();
    assert_eq!(names(&first.claims), all[..50]);
    assert!(!first.next_page_token.is_empty());
    let second = client
        .list_claims(ListClaimsRequest {
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .expect("ListClaims succeeds")
        .into_inner();
    assert_eq!(names(&second.claims), all[50..]);
    assert_eq!(second.next_page_token, "");

    server.stop().await;
}

#[tokio::test]
async fn page_sizes_above_500_are_cut_to_500() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let all = submit_many(&client, HARBOUR_STORY, 501).await;

    let first = client
        .list_claims(ListClaimsRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("ListClaims succeeds")
        .into_inner();
    assert_eq!(first.claims.len(), 500);
    assert_eq!(names(&first.claims), all[..500]);
    assert!(!first.next_page_token.is_empty());
    let second = client
        .list_claims(ListClaimsRequest {
            page_size: i32::MAX,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .expect("ListClaims succeeds")
        .into_inner();
    assert_eq!(names(&second.claims), all[500..]);
    assert_eq!(second.next_page_token, "");

    server.stop().await;
}

#[tokio::test]
async fn a_page_token_may_be_used_with_another_page_size() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let all = submit_many(&client, HARBOUR_STORY, 5).await;

    let first = client
        .list_claims(ListClaimsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("ListClaims succeeds")
        .into_inner();
    let rest = client
        .list_claims(ListClaimsRequest {
            page_size: 10,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .expect("ListClaims succeeds")
        .into_inner();

    assert_eq!(names(&first.claims), all[..1]);
    assert_eq!(names(&rest.claims), all[1..]);
    assert_eq!(rest.next_page_token, "");
    server.stop().await;
}

#[tokio::test]
async fn the_source_filter_in_a_page_token_ignores_case() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let all = submit_many(&client, HARBOUR_STORY, 3).await;

    let first = client
        .list_claims(ListClaimsRequest {
            source: "Kestrel Radio".to_owned(),
            page_size: 2,
            ..Default::default()
        })
        .await
        .expect("ListClaims succeeds")
        .into_inner();
    // The same filter, written differently.
    let rest = client
        .list_claims(ListClaimsRequest {
            source: "kestrel radio".to_owned(),
            page_size: 2,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .expect("ListClaims succeeds")
        .into_inner();

    assert_eq!(names(&first.claims), all[..2]);
    assert_eq!(names(&rest.claims), all[2..]);
    server.stop().await;
}

#[tokio::test]
async fn source_filters_ignore_case_beyond_ascii() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
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

    let found = listed(
        &mut client,
        ListClaimsRequest {
            source: "ÉCHO DU PORT".to_owned(),
            ..Default::default()
        },
    )
    .await;

    assert_eq!(found, [echo.name]);
    server.stop().await;
}
