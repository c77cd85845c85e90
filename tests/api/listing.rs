//! ListClaims: submission order, filters alone and combined, paging and
//! page sizes.

use claimdesk::pb::{self, Claim, ListClaimsRequest, claim::State};
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
    let claims = [
        (HARBOUR_STORY, HARBOUR_SOURCE),
        (HARBOUR_STORY, "Port Authority"),
        (HARBOUR_STORY, HARBOUR_SOURCE),
        (BORDER_STORY, "Defence Ministry"),
        (BORDER_STORY, "harbour  GAZETTE"),
        (BORDER_STORY, "Defence Ministry"),
    ];
    let mut names = Vec::new();
    for (n, (story, source)) in (1..).zip(claims) {
        let claim = numbered_claim(story, source, n);
        names.push(submit(client, "maria", claim).await.name);
    }
    let [a, b, c, d, e, f] = names.try_into().expect("six claims were submitted");
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

impl Desk {
    /// The names of the claims `letters` name, in that order.
    fn named(&self, letters: &str) -> Vec<String> {
        let name = |letter| match letter {
            'a' => &self.a,
            'b' => &self.b,
            'c' => &self.c,
            'd' => &self.d,
            'e' => &self.e,
            'f' => &self.f,
            _ => panic!("the desk has no claim {letter:?}"),
        };
        letters.chars().map(|l| name(l).clone()).collect()
    }
}

/// Checks that `request` lists exactly the claims of `desk` that `letters`
/// name, in that order.
async fn assert_listed(
    client: &mut Client,
    desk: &Desk,
    request: ListClaimsRequest,
    letters: &str,
) {
    let context = format!("{request:?}");
    assert_eq!(
        listed(client, request).await,
        desk.named(letters),
        "{context}"
    );
}

/// Checks that `request` lists no claim; `why` says why it should not.
async fn assert_none_listed(client: &mut Client, request: ListClaimsRequest, why: &str) {
    let found = listed(client, request).await;
    assert!(found.is_empty(), "{why}: {found:?}");
}

/// Every claim matching `request`, by name.
async fn listed(client: &mut Client, request: ListClaimsRequest) -> Vec<String> {
    names(&list_all(client, request).await)
}

/// Every claim, for [`Narrow`] to narrow down.
fn claims() -> ListClaimsRequest {
    ListClaimsRequest::default()
}

/// Narrowing a listing down, one filter (or the page size) at a time.
trait Narrow {
    fn in_story(self, story: &str) -> Self;
    fn in_state(self, state: State) -> Self;
    fn sourced_from(self, source: &str) -> Self;
    fn sized(self, page_size: i32) -> Self;
    fn assigned_to(self, assignee: &str) -> Self;
    /// From where the page that gave `page_token` ended.
    fn after(self, page_token: String) -> Self;
}

impl Narrow for ListClaimsRequest {
    fn in_story(mut self, story: &str) -> Self {
        self.story = story.to_owned();
        self
    }

    fn in_state(mut self, state: State) -> Self {
        self.state = state.into();
        self
    }

    fn sourced_from(mut self, source: &str) -> Self {
        self.source = source.to_owned();
        self
    }

    fn sized(mut self, page_size: i32) -> Self {
        self.page_size = page_size;
        self
    }

    fn assigned_to(mut self, assignee: &str) -> Self {
        self.assignee = assignee.to_owned();
        self
    }

    fn after(self, page_token: String) -> Self {
        Self { page_token, ..self }
    }
}

/// Checks that `page` holds exactly the claims named `expected`, and is
/// the last.
#[track_caller]
fn assert_last_page(page: &pb::ListClaimsResponse, expected: &[String]) {
    assert_eq!(names(&page.claims), expected);
    assert_eq!(page.next_page_token, "");
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

/// Submits `n` claims from Kestrel Radio, of the harbour and the border
/// story in turn ([`story_of`]), one after the other.
async fn submit_interleaved(client: &mut Client, n: usize) -> Vec<Claim> {
    let mut submitted = Vec::new();
    for i in 0..n {
        let claim = numbered_claim(story_of(i), "Kestrel Radio", i);
        submitted.push(submit(client, "maria", claim).await);
    }
    submitted
}

#[tokio::test]
async fn an_empty_desk_lists_no_claims() {
    let (_server, mut client) = TestServer::with_client().await;

    let page = list_page(&mut client, claims()).await;

    assert!(page.claims.is_empty());
    assert_eq!(page.next_page_token, "");
}

#[tokio::test]
async fn claims_are_listed_in_submission_order() {
    let (_server, mut client) = TestServer::with_client().await;
    let submitted = submit_interleaved(&mut client, 5).await;
    // A change does not move a claim in the listing.
    start_review(&mut client, "tomas", &submitted[0].name).await;

    let claims = list_all(&mut client, claims()).await;

    assert_eq!(names(&claims), names(&submitted));
    assert_eq!(claims[1..], submitted[1..], "listed claims are complete");
}

#[tokio::test]
async fn claims_filter_by_story() {
    let (_server, mut client, d) = on_a_desk().await;

    assert_listed(&mut client, &d, claims().in_story(HARBOUR_STORY), "abc").await;
    assert_listed(&mut client, &d, claims().in_story(BORDER_STORY), "def").await;
    assert_none_listed(&mut client, claims().in_story("harbour"), "no prefix match").await;
}

#[tokio::test]
async fn claims_filter_by_state() {
    let (_server, mut client, d) = on_a_desk().await;

    assert_listed(&mut client, &d, claims().in_state(State::InReview), "adf").await;
    assert_listed(&mut client, &d, claims().in_state(State::Unverified), "bce").await;
    let verified = claims().in_state(State::Verified);
    assert_none_listed(&mut client, verified, "no claim is verified").await;
    let any = listed(&mut client, claims().in_state(State::Unspecified)).await;
    assert_eq!(any.len(), 6, "unspecified means any state");
}

#[tokio::test]
async fn claims_filter_by_source_without_regard_to_case_or_spacing() {
    let (_server, mut client, d) = on_a_desk().await;

    for gazette in ["Harbour Gazette", "harbour gazette", " HARBOUR   Gazette "] {
        assert_listed(&mut client, &d, claims().sourced_from(gazette), "ace").await;
    }
    assert_listed(
        &mut client,
        &d,
        claims().sourced_from("port authority"),
        "b",
    )
    .await;
    assert_none_listed(
        &mut client,
        claims().sourced_from("Harbour"),
        "no prefix match",
    )
    .await;
}

#[tokio::test]
async fn claims_filter_by_assignee() {
    let (_server, mut client, d) = on_a_desk().await;

    assert_listed(&mut client, &d, claims().assigned_to("tomas"), "ad").await;
    assert_listed(&mut client, &d, claims().assigned_to("ana"), "f").await;
    let lis = claims().assigned_to("li");
    assert_none_listed(&mut client, lis, "li has taken no claim").await;
}

#[tokio::test]
async fn claim_filters_combine_with_and() {
    let (_server, mut client, d) = on_a_desk().await;

    let border_in_review = claims().in_story(BORDER_STORY).in_state(State::InReview);
    assert_listed(&mut client, &d, border_in_review.clone(), "df").await;
    let ana_in_review = border_in_review.assigned_to("ana");
    assert_listed(&mut client, &d, ana_in_review, "f").await;
    let gazette_unverified = claims()
        .sourced_from("HARBOUR GAZETTE")
        .in_state(State::Unverified);
    assert_listed(&mut client, &d, gazette_unverified, "ce").await;
    let every_filter = claims()
        .in_story(HARBOUR_STORY)
        .sourced_from("harbour gazette")
        .in_state(State::InReview)
        .assigned_to("tomas");
    assert_listed(&mut client, &d, every_filter, "a").await;
    let none = claims().in_story(HARBOUR_STORY).assigned_to("ana");
    assert!(listed(&mut client, none).await.is_empty());
}

#[tokio::test]
async fn filters_follow_changes_of_state_and_assignee() {
    let (_server, mut client, d) = on_a_desk().await;

    release(&mut client, "tomas", &d.a, "").await;
    withdraw(&mut client, "desk-editor", &d.f, "Cut").await;
    start_review(&mut client, "ana", &d.b).await;

    assert_listed(&mut client, &d, claims().assigned_to("tomas"), "d").await;
    assert_listed(&mut client, &d, claims().assigned_to("ana"), "b").await;
    assert_listed(&mut client, &d, claims().in_state(State::InReview), "bd").await;
    assert_listed(&mut client, &d, claims().in_state(State::Unverified), "ace").await;
    assert_listed(&mut client, &d, claims().in_state(State::Withdrawn), "f").await;
}

/// Submits `n` claims of `story` at once and returns their names in
/// submission order.
async fn submit_many(client: &Client, story: &str, n: usize) -> Vec<String> {
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let mut client = client.clone();
        let story = story.to_owned();
        tasks.spawn(async move {
            let claim = numbered_claim(&story, "Kestrel Radio", i);
            submit(&mut client, "maria", claim).await.name
        });
    }
    let mut names: Vec<String> = tasks.join_all().await;
    // ULIDs sort in submission order.
    names.sort();
    names
}

/// A server with a client, and `n` claims of the harbour story submitted at
/// once: their names in submission order.
async fn with_harbour_claims(n: usize) -> (TestServer, Client, Vec<String>) {
    let (server, client) = TestServer::with_client().await;
    let all = submit_many(&client, HARBOUR_STORY, n).await;
    (server, client, all)
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
    let (_server, mut client, all) = with_harbour_claims(7).await;

    let pages = pages(&mut client, claims().sized(2)).await;

    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 2, 1]);
    assert_eq!(pages.concat(), all);
}

#[tokio::test]
async fn a_filtered_listing_pages_through_the_matching_claims_only() {
    let (_server, mut client) = TestServer::with_client().await;
    // Interleave two stories so pages must skip claims.
    let submitted = submit_interleaved(&mut client, 10).await;
    let harbour: Vec<_> = submitted
        .into_iter()
        .filter(|c| c.story == HARBOUR_STORY)
        .map(|c| c.name)
        .collect();

    let pages = pages(&mut client, claims().in_story(HARBOUR_STORY).sized(2)).await;

    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    assert_eq!(pages.concat(), harbour);
}

#[tokio::test]
async fn the_last_page_has_no_next_page_token_even_when_it_is_full() {
    let (_server, mut client, all) = with_harbour_claims(4).await;

    let pages = pages(&mut client, claims().sized(2)).await;

    assert_eq!(pages, [all[..2].to_vec(), all[2..].to_vec()]);
}

#[tokio::test]
async fn a_page_size_of_zero_returns_fifty_claims() {
    let (_server, mut client, all) = with_harbour_claims(51).await;

    let first = list_page(&mut client, claims()).await;
    assert_eq!(names(&first.claims), all[..50]);
    assert!(!first.next_page_token.is_empty());
    let second = list_page(&mut client, claims().after(first.next_page_token)).await;
    assert_last_page(&second, &all[50..]);
}

#[tokio::test]
async fn page_sizes_above_500_are_cut_to_500() {
    let (_server, mut client, all) = with_harbour_claims(501).await;

    let first = list_page(&mut client, claims().sized(1000)).await;
    assert_eq!(first.claims.len(), 500);
    assert_eq!(names(&first.claims), all[..500]);
    assert!(!first.next_page_token.is_empty());
    let second = list_page(
        &mut client,
        claims().sized(i32::MAX).after(first.next_page_token),
    )
    .await;
    assert_last_page(&second, &all[500..]);
}

#[tokio::test]
async fn a_page_token_may_be_used_with_another_page_size() {
    let (_server, mut client, all) = with_harbour_claims(5).await;

    let first = list_page(&mut client, claims().sized(1)).await;
    let rest = list_page(&mut client, claims().sized(10).after(first.next_page_token)).await;

    assert_eq!(names(&first.claims), all[..1]);
    assert_last_page(&rest, &all[1..]);
}

#[tokio::test]
async fn the_source_filter_in_a_page_token_ignores_case() {
    let (_server, mut client, all) = with_harbour_claims(3).await;

    let first = list_page(&mut client, claims().sourced_from("Kestrel Radio").sized(2)).await;
    // The same filter, written differently.
    let rest = list_page(
        &mut client,
        claims()
            .sourced_from("kestrel radio")
            .sized(2)
            .after(first.next_page_token),
    )
    .await;

    assert_eq!(names(&first.claims), all[..2]);
    assert_eq!(names(&rest.claims), all[2..]);
}

#[tokio::test]
async fn source_filters_ignore_case_beyond_ascii() {
    let (_server, mut client) = TestServer::with_client().await;
    let accented = numbered_claim(HARBOUR_STORY, "Écho du Port", 1);
    let echo = submit(&mut client, "maria", accented).await;
    let plain = numbered_claim(HARBOUR_STORY, "Echo du Port", 2);
    submit(&mut client, "maria", plain).await;

    let found = listed(&mut client, claims().sourced_from("ÉCHO DU PORT")).await;

    assert_eq!(found, [echo.name]);
}
