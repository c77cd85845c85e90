//! `claimdesk export claimreview`: the real binary against a real server
//! whose story holds claims ruled every way, reopened, withdrawn and not
//! yet ruled. Each exported review is checked against the required and
//! recommended properties of Google's ClaimReview documentation, as mapped
//! in `src/cli/claimreview.rs`.

use claimdesk::{
    pb::{self, Claim, claim::State, claim_event::Type, evidence::Stance},
    server::Limits,
};
use serde_json::{Value, json};

use crate::{
    helpers::{
        Client, HARBOUR_SOURCE, HARBOUR_STORY, TestServer, add_evidence, as_user, border_claim,
        claim_id, dispute, events_of, evidence, get, harbour_claim, reopen, start_review, submit,
        verify, withdraw,
    },
    tls::{Finished, claimdesk, run},
};

const PUBLISHER: &str = "Lindell Courier";
const PUBLISHER_URL: &str = "https://courier.example/";
const BASE_URL: &str = "https://courier.example/fact-checks";
const EDITOR: &str = "maria";
const CHECKER: &str = "tomas";
const RADIO: &str = "Radio Lindell";
const UNION: &str = "Dockers' Union";

/// Limits under which ListClaims ends its pages after a few claims, so the
/// export has to follow page tokens.
fn small_pages() -> Limits {
    Limits {
        max_response_bytes: 2048,
        ..Limits::default()
    }
}

/// `claimdesk export claimreview --story story` against `server`, with
/// `args` after it.
async fn export(server: &TestServer, story: &str, args: &[&str]) -> Finished {
    let mut command = claimdesk();
    command
        .args(["export", "claimreview", "--story", story])
        .args(["--server", &server.url()])
        .args(args);
    run(command).await
}

/// The publishing options every export of these tests gives.
const PUBLISHED: [&str; 6] = [
    "--publisher",
    PUBLISHER,
    "--publisher-url",
    PUBLISHER_URL,
    "--base-url",
    BASE_URL,
];

/// A claim of the harbour story attributed to `source`.
fn story_claim(statement: &str, source: &str) -> Claim {
    Claim {
        story: HARBOUR_STORY.to_owned(),
        ..border_claim(statement, source)
    }
}

/// Submits `claim` and takes it into review.
async fn in_review(client: &mut Client, claim: Claim) -> String {
    let name = submit(client, EDITOR, claim).await.name;
    start_review(client, CHECKER, &name).await;
    name
}

/// Submits `claim` and rules it `state` (verified, disputed or
/// inconclusive) with the evidence the rule needs.
async fn ruled(client: &mut Client, claim: Claim, state: State) -> String {
    let name = in_review(client, claim).await;
    rule(client, &name, state).await;
    name
}

/// Rules the claim in review `name` `state`.
async fn rule(client: &mut Client, name: &str, state: State) {
    match state {
        State::Verified => {
            let support = evidence("Port Authority", Stance::Supports, "Gate counts agree");
            add_evidence(client, CHECKER, name, support).await;
            verify(client, CHECKER, name, "Gate counts agree").await;
        }
        State::Disputed => {
            let refutation = evidence("Port Authority", Stance::Refutes, "Gate counts differ");
            add_evidence(client, CHECKER, name, refutation).await;
            dispute(client, CHECKER, name, "Gate counts differ").await;
        }
        State::Inconclusive => {
            client
                .mark_claim_inconclusive(as_user(
                    pb::MarkClaimInconclusiveRequest {
                        name: name.to_owned(),
                        note: "Nobody else counted".to_owned(),
                        etag: String::new(),
                    },
                    CHECKER,
                ))
                .await
                .expect("MarkClaimInconclusive succeeds");
        }
        other => panic!("{other:?} is no ruling"),
    }
}

/// What the export of a ruled claim must say.
struct Expected {
    claim: Claim,
    rating: u8,
    /// When its last ruling was made, from its history.
    ruled_at: String,
}

async fn expected(client: &mut Client, name: &str, rating: u8) -> Expected {
    let ruling = events_of(client, name)
        .await
        .into_iter()
        .rfind(|e| {
            matches!(
                e.r#type(),
                Type::Verified | Type::Disputed | Type::MarkedInconclusive
            )
        })
        .expect("a ruling in the history");
    Expected {
        claim: get(client, name).await,
        rating,
        ruled_at: ruling.event_time.expect("an event time").to_string(),
    }
}

/// Checks every property of `review` against the claim it reviews.
#[track_caller]
fn assert_review(review: &Value, expected: &Expected) {
    let claim = &expected.claim;
    let attribution = claim.attribution.as_ref().expect("an attribution");
    let context = claim.name.as_str();
    // ClaimReview: required claimReviewed, reviewRating, url; recommended
    // author, itemReviewed; and the review's datePublished.
    assert_eq!(review["@context"], "https://schema.org", "{context}");
    assert_eq!(review["@type"], "ClaimReview", "{context}");
    assert_eq!(review["claimReviewed"], claim.statement, "{context}");
    assert_eq!(
        review["url"],
        format!("{BASE_URL}/{}", claim_id(&claim.name)),
        "{context}"
    );
    assert_eq!(
        review["author"],
        json!({ "@type": "Organization", "name": PUBLISHER, "url": PUBLISHER_URL }),
        "{context}"
    );
    assert_eq!(review["datePublished"], expected.ruled_at, "{context}");
    assert_eq!(
        review["datePublished"],
        claim.update_time.expect("an update time").to_string(),
        "{context}"
    );
    // Rating: required alternateName; recommended bestRating, ratingValue,
    // worstRating.
    assert_eq!(
        review["reviewRating"],
        json!({
            "@type": "Rating",
            "ratingValue": expected.rating,
            "bestRating": 5,
            "worstRating": 1,
            "alternateName": claim.label,
        }),
        "{context}"
    );
    // Claim: recommended appearance, author, datePublished (firstAppearance
    // is not known, see the mapping).
    let item = &review["itemReviewed"];
    assert_eq!(item["@type"], "Claim", "{context}");
    assert_eq!(
        item["author"],
        json!({ "@type": "Organization", "name": attribution.source }),
        "{context}"
    );
    assert_eq!(
        item["datePublished"],
        claim.create_time.expect("a create time").to_string(),
        "{context}"
    );
    let appearance = (!attribution.url.is_empty()).then(|| json!(attribution.url));
    assert_eq!(item.get("appearance"), appearance.as_ref(), "{context}");
    assert_eq!(item.get("firstAppearance"), None, "{context}");
    // The relay chain, nearest first, as claims each is based on.
    let mut based_on = item;
    for relay in &attribution.relayed_from {
        based_on = &based_on["isBasedOn"];
        assert_eq!(
            *based_on,
            json!({ "@type": "Claim", "author": { "@type": "Organization", "name": relay } }),
            "{context}"
        );
    }
    assert_eq!(based_on.get("isBasedOn"), None, "{context}");
}

/// The claims' names the reviews' URLs point at, in output order.
fn reviewed_names(reviews: &Value) -> Vec<String> {
    reviews
        .as_array()
        .expect("an array of reviews")
        .iter()
        .map(|r| {
            let url = r["url"].as_str().expect("a url");
            let id = url.rsplit('/').next().expect("an id");
            format!("claims/{id}")
        })
        .collect()
}

#[tokio::test]
async fn a_story_exports_its_current_rulings_as_claim_reviews_and_nothing_else() {
    // Small responses make ListClaims end its pages after a few claims, so
    // the export has to follow page tokens.
    let server = TestServer::spawn_with_limits(small_pages()).await;
    let mut client = server.client().await;

    // Claims left out (reopened and not yet ruled again; withdrawn after a
    // ruling; never ruled; in review; ruled in another story) come between
    // the ruled ones, which so spread over the pages.
    let unverified = story_claim("Fishing boats joined the strike", RADIO);
    let unverified = submit(&mut client, EDITOR, unverified).await.name;
    let mut ruled_names = Vec::new();
    for (claim, state) in [
        (harbour_claim(), State::Verified),
        (
            story_claim("The harbour master resigned", RADIO),
            State::Verified,
        ),
        (
            story_claim("The strike closed all four terminals", UNION),
            State::Disputed,
        ),
        (
            story_claim("Ferries run on a Sunday timetable", RADIO),
            State::Disputed,
        ),
        (
            story_claim("Ships queue for three days", HARBOUR_SOURCE),
            State::Inconclusive,
        ),
        (
            border_claim("12,000 troops crossed the border", "Kestrel Radio"),
            State::Verified,
        ),
        // Reopened and ruled again: exported with the new ruling.
        (
            story_claim("Fuel deliveries stopped on Monday", RADIO),
            State::Verified,
        ),
    ] {
        ruled_names.push(ruled(&mut client, claim, state).await);
    }
    let [
        verified,
        reopened,
        disputed,
        withdrawn,
        inconclusive,
        elsewhere,
        reruled,
    ] = <[String; 7]>::try_from(ruled_names).expect("seven claims were ruled");
    let reviewing = story_claim("Cranes stood still at noon", RADIO);
    let reviewing = in_review(&mut client, reviewing).await;
    reopen(
        &mut client,
        "chief",
        &reopened,
        "The resignation was denied",
    )
    .await;
    withdraw(&mut client, EDITOR, &withdrawn, "Cut from the copy").await;
    reopen(&mut client, "chief", &reruled, "The tanker log was misread").await;
    start_review(&mut client, CHECKER, &reruled).await;
    rule(&mut client, &reruled, State::Disputed).await;

    let first_page = client
        .list_claims(pb::ListClaimsRequest {
            story: HARBOUR_STORY.to_owned(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .expect("ListClaims succeeds")
        .into_inner();
    // Pages end by the stored size of the claims read, so how many fit on
    // one depends on how claims are stored: what matters is that the export
    // must follow page tokens to find every ruled claim.
    let exported = [&verified, &disputed, &inconclusive, &reruled];
    let on_first = exported
        .iter()
        .filter(|name| first_page.claims.iter().any(|c| &&c.name == *name))
        .count();
    assert!(
        !first_page.next_page_token.is_empty() && on_first < exported.len(),
        "the ruled claims spread over several pages ({on_first} of {} on the first, of {} claims)",
        exported.len(),
        first_page.claims.len()
    );

    let expected = [
        expected(&mut client, &verified, 5).await,
        expected(&mut client, &disputed, 1).await,
        expected(&mut client, &inconclusive, 3).await,
        expected(&mut client, &reruled, 1).await,
    ];
    assert_eq!(expected[0].claim.label, "verified");
    assert_eq!(expected[1].claim.label, "disputed");
    assert_eq!(
        expected[2].claim.label,
        format!("could not be independently verified (per {HARBOUR_SOURCE})")
    );
    assert_eq!(expected[3].claim.label, "disputed");

    let reviews = export(&server, HARBOUR_STORY, &PUBLISHED).await.json();

    let names = reviewed_names(&reviews);
    assert_eq!(
        names,
        [verified, disputed, inconclusive, reruled.clone()],
        "the ruled claims in submission order"
    );
    for left_out in [&reopened, &withdrawn, &unverified, &reviewing, &elsewhere] {
        assert!(!names.contains(left_out), "{left_out} is not exported");
    }
    for (review, expected) in reviews.as_array().expect("an array").iter().zip(&expected) {
        assert_review(review, expected);
    }
    // The re-ruled claim carries its second ruling, not its first.
    let first_ruling = events_of(&mut client, &reruled)
        .await
        .into_iter()
        .find(|e| e.r#type() == Type::Verified)
        .and_then(|e| e.event_time)
        .expect("the first ruling");
    assert_ne!(reviews[3]["datePublished"], first_ruling.to_string());

    // The same document, written to a file instead.
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("reviews.json");
    std::fs::write(&path, "an older export").expect("written");
    let file = path.to_str().expect("a UTF-8 path");
    let summary = export(
        &server,
        HARBOUR_STORY,
        &[&PUBLISHED[..], &["--file", file]].concat(),
    )
    .await
    .json();
    assert_eq!(summary, json!({ "file": file, "claim_reviews": 4 }));
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the file is written"))
            .expect("the file is JSON");
    assert_eq!(written, reviews);
}

#[tokio::test]
async fn a_story_without_rulings_exports_an_empty_array() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    in_review(&mut client, harbour_claim()).await;

    let finished = export(&server, HARBOUR_STORY, &["--publisher", PUBLISHER]).await;
    assert_eq!(finished.json(), json!([]));
    assert_eq!(finished.stdout, "[]\n");
    let unknown = export(&server, "no-such-story", &["--publisher", PUBLISHER]).await;
    assert_eq!(unknown.json(), json!([]));
}

#[tokio::test]
async fn bad_options_and_refused_calls_fail_as_the_other_client_commands_do() {
    let server = TestServer::spawn().await;

    // Refused by the server: the exit status of invalid input, with the
    // code and reason.
    export(&server, "Not A Slug", &["--publisher", PUBLISHER])
        .await
        .failed(
            4,
            &[
                "ListClaims failed: INVALID_ARGUMENT [INVALID_ARGUMENT]",
                "story",
            ],
        );
    // Bad options: exit status 2, naming the option, before any call.
    export(&server, "", &["--publisher", PUBLISHER])
        .await
        .failed(2, &["--story"]);
    export(&server, HARBOUR_STORY, &["--publisher", " "])
        .await
        .failed(2, &["--publisher"]);
    export(&server, HARBOUR_STORY, &[])
        .await
        .failed(2, &["--publisher"]);
    export(
        &server,
        HARBOUR_STORY,
        &["--publisher", PUBLISHER, "--base-url", "courier.example"],
    )
    .await
    .failed(2, &["--base-url"]);
    let dir = tempfile::tempdir().expect("a directory");
    let unwritable = dir.path().join("missing").join("reviews.json");
    let unwritable = unwritable.to_str().expect("a UTF-8 path");
    export(
        &server,
        HARBOUR_STORY,
        &["--publisher", PUBLISHER, "--file", unwritable],
    )
    .await
    .failed(1, &["cannot write", unwritable]);
}
