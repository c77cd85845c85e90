//! Claims that disagree, on a story like the one the desk meets most: one
//! party counts the troops sent and the dead one way, another the other
//! way, a third speaks of engineers. Contradictions and duplicates are
//! suggested as claims arrive, the desk links claims itself, confirms or
//! rejects suggestions, and a verdict weighs the other claims. Every
//! statement is written for the test.

use claimdesk::pb::{
    self, Attribution, Claim, ClaimEvent,
    claim::State,
    claim_event::Type,
    claim_link::{Relation, Status},
};
use tokio_stream::StreamExt;
use tonic::Code;

use crate::helpers::*;

const STORY: &str = "kursk-deployment";

fn story_claim(statement: &str, source: &str, relayed_from: &[&str]) -> Claim {
    Claim {
        statement: statement.to_owned(),
        attribution: Some(Attribution {
            source: source.to_owned(),
            relayed_from: relayed_from.iter().map(|s| (*s).to_owned()).collect(),
            url: String::new(),
        }),
        story: STORY.to_owned(),
        ..Default::default()
    }
}

/// The troop figure the wire reports, from officials it talked to.
const SENT_ABOUT_14000: &str = "North Korea sent about 14,000 troops to fight alongside Russia";
/// Its death toll, from the same reporting.
const KILLED_OVER_6000: &str = "More than 6,000 of the North Korean troops have been killed";
/// A head of state's own count of both.
const SENT_12000_LOST_OVER_4000: &str =
    "Of 12,000 North Korean soldiers sent to Russia, more than 4,000 were lost";
/// Another kind of unit, not the troops counted above.
const ENGINEERS_6000: &str = "North Korea is deploying 6,000 military engineers to Russia";
/// The wire's troop figure again, in other words.
const SENT_FOURTEEN_THOUSAND: &str =
    "Some fourteen thousand soldiers were dispatched by North Korea to fight alongside Russia";

/// The story's claims, submitted in order.
struct Story {
    wire_sent: Claim,
    wire_killed: Claim,
    president: Claim,
    engineers: Claim,
    reworded: Claim,
}

async fn submit_story(client: &mut Client) -> Story {
    let wire = |s| story_claim(s, "Reuters", &["South Korean officials"]);
    let wire_sent = submit(client, "maria", wire(SENT_ABOUT_14000)).await;
    let wire_killed = submit(client, "maria", wire(KILLED_OVER_6000)).await;
    let president = submit(
        client,
        "maria",
        story_claim(SENT_12000_LOST_OVER_4000, "Ukrainian President", &[]),
    )
    .await;
    let engineers = submit(
        client,
        "maria",
        story_claim(ENGINEERS_6000, "Ukrainian military intelligence", &[]),
    )
    .await;
    let reworded = submit(client, "ana", wire(SENT_FOURTEEN_THOUSAND)).await;
    Story {
        wire_sent,
        wire_killed,
        president,
        engineers,
        reworded,
    }
}

/// `claim`'s links as (relation, other claim, status).
fn links_of(claim: &Claim) -> Vec<(Relation, String, Status)> {
    claim
        .links
        .iter()
        .map(|l| (l.relation(), l.other.clone(), l.status()))
        .collect()
}

async fn list_conflicts(client: &mut Client) -> Vec<pb::Conflict> {
    let request = as_user(
        pb::ListConflictsRequest {
            story: STORY.to_owned(),
            ..Default::default()
        },
        "maria",
    );
    client
        .list_conflicts(request)
        .await
        .expect("ListConflicts succeeds")
        .into_inner()
        .conflicts
}

async fn try_resolve(
    client: &mut Client,
    user: &str,
    link: &str,
    status: Status,
) -> Result<Claim, tonic::Status> {
    let request = as_user(
        pb::ResolveLinkRequest {
            name: link.to_owned(),
            status: status.into(),
            note: "Both counts cover the same deployment".to_owned(),
            etag: String::new(),
        },
        user,
    );
    client.resolve_link(request).await.map(|r| r.into_inner())
}

async fn try_link(
    client: &mut Client,
    name: &str,
    other: &str,
    relation: Relation,
) -> Result<Claim, tonic::Status> {
    let request = as_user(
        pb::LinkClaimsRequest {
            name: name.to_owned(),
            other: other.to_owned(),
            relation: relation.into(),
            note: "The desk's own reading".to_owned(),
            etag: String::new(),
        },
        "tomas",
    );
    client.link_claims(request).await.map(|r| r.into_inner())
}

async fn try_verify_acknowledging(
    client: &mut Client,
    name: &str,
    acknowledge: bool,
) -> Result<Claim, tonic::Status> {
    let request = as_user(
        pb::VerifyClaimRequest {
            name: name.to_owned(),
            note: "Matches satellite counts".to_owned(),
            etag: String::new(),
            acknowledge_contradictions: acknowledge,
        },
        "tomas",
    );
    client.verify_claim(request).await.map(|r| r.into_inner())
}

/// Takes `name` into review by tomas with supporting evidence from a source
/// independent of every claim here.
async fn review_with_support(client: &mut Client, name: &str) {
    start_review(client, "tomas", name).await;
    add_evidence(
        client,
        "tomas",
        name,
        supports("Satellite imagery analysts", "Camps sized for the figure"),
    )
    .await;
}

#[tokio::test]
async fn conflicting_figures_are_suggested_compatible_ones_are_not_and_a_rewording_is_a_duplicate()
{
    let (_server, mut client) = TestServer::with_client().await;
    let story = submit_story(&mut client).await;

    // The figures read from each statement.
    let sent = &story.wire_sent.figures;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!((sent[0].low, sent[0].high), (14_000.0, 14_000.0));
    assert_eq!(sent[0].qualifier(), pb::figure::Qualifier::About);
    assert_eq!(sent[0].unit(), pb::figure::Unit::Count);
    assert_eq!(story.president.figures.len(), 2, "{:?}", story.president);

    // The first two claims count different things: nothing to compare.
    let wire_sent = get(&mut client, &story.wire_sent.name).await;
    let wire_killed = get(&mut client, &story.wire_killed.name).await;
    assert!(wire_killed.links.is_empty(), "{:?}", wire_killed.links);

    // 12,000 sent against about 14,000 sent: suggested, on both claims. More
    // than 4,000 lost and more than 6,000 killed can both hold: no link.
    assert_eq!(
        links_of(&story.president),
        [(
            Relation::Contradicts,
            story.wire_sent.name.clone(),
            Status::Suggested
        )]
    );
    let link = &story.president.links[0];
    assert!(link.subject, "the newer claim holds the subject end");
    assert_eq!(link.created_by, "system");
    assert_eq!(link.basis.len(), 1, "the figures that disagree");
    let pair = &link.basis[0];
    let this = pair.this_figure.as_ref().expect("this claim's figure");
    let other = pair.other_figure.as_ref().expect("the other's figure");
    assert_eq!((this.low, other.low), (12_000.0, 14_000.0));
    assert!(link.note.contains("cannot both be true"), "{}", link.note);
    let mirrored = wire_sent
        .links
        .iter()
        .find(|l| l.other == story.president.name)
        .expect("the earlier claim holds the other end");
    assert!(
        mirrored
            .name
            .starts_with(&format!("{}/links/", story.wire_sent.name))
    );
    assert_eq!(
        mirrored.name.rsplit('/').next(),
        link.name.rsplit('/').next(),
        "one link id at both ends"
    );
    assert!(!mirrored.subject);

    // Engineers are not the troops: nothing suggested.
    assert!(story.engineers.links.is_empty(), "{:?}", story.engineers);

    // The rewording from the same source duplicates the original, and
    // contradicts the president's count as the original does.
    assert_eq!(
        links_of(&story.reworded),
        [
            (
                Relation::Duplicates,
                story.wire_sent.name.clone(),
                Status::Suggested
            ),
            (
                Relation::Contradicts,
                story.president.name.clone(),
                Status::Suggested
            ),
        ]
    );
    assert!(
        story.reworded.links[0].subject,
        "the newer is the duplicate"
    );

    // The story's open contradictions: both, oldest first, each with both
    // claims and the disagreeing figures.
    let conflicts = list_conflicts(&mut client).await;
    let pairs: Vec<(String, String)> = conflicts
        .iter()
        .map(|c| {
            (
                c.subject.as_ref().unwrap().name.clone(),
                c.object.as_ref().unwrap().name.clone(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            (story.president.name.clone(), story.wire_sent.name.clone()),
            (story.reworded.name.clone(), story.president.name.clone()),
        ]
    );
    let first = &conflicts[0];
    let subject = first.subject.as_ref().unwrap();
    assert_eq!(subject.statement, SENT_12000_LOST_OVER_4000);
    assert_eq!(subject.source, "Ukrainian President");
    assert_eq!(subject.state(), State::Unverified);
    assert_eq!(subject.label, "unverified (per Ukrainian President)");
    assert_eq!(first.link.as_ref().unwrap().basis.len(), 1);

    // Each link is in both histories.
    for name in [&story.president.name, &story.wire_sent.name] {
        let linked: Vec<ClaimEvent> = events_of(&mut client, name)
            .await
            .into_iter()
            .filter(|e| e.r#type() == Type::Linked)
            .collect();
        assert!(
            linked
                .iter()
                .any(|e| e.actor == "system" && e.link.as_ref().is_some_and(|l| l.basis.len() == 1)),
            "{name}: {linked:?}"
        );
    }
}

#[tokio::test]
async fn a_confirmed_contradiction_blocks_a_silent_verify_and_weighs_on_a_dispute() {
    let (_server, mut client) = TestServer::with_client().await;
    let story = submit_story(&mut client).await;
    let link = story.president.links[0].name.clone();

    // A checker confirms the suggestion; it shows on both claims.
    let president = try_resolve(&mut client, "tomas", &link, Status::Confirmed)
        .await
        .expect("the suggestion is confirmed");
    assert_eq!(president.links[0].status(), Status::Confirmed);
    assert_eq!(president.links[0].resolved_by, "tomas");
    let wire_sent = get(&mut client, &story.wire_sent.name).await;
    let end = wire_sent
        .links
        .iter()
        .find(|l| l.other == story.president.name)
        .unwrap();
    assert_eq!(end.status(), Status::Confirmed);
    // A confirmed link is not confirmed again.
    let (_, details) = expect_error(
        try_resolve(&mut client, "tomas", &link, Status::Confirmed).await,
        Code::FailedPrecondition,
        "LINK_RESOLVED",
    );
    assert_eq!(
        error_metadata(&details, "status").as_deref(),
        Some("confirmed")
    );

    // Verifying the wire's claim needs its contradictions acknowledged.
    review_with_support(&mut client, &story.wire_sent.name).await;
    let (_, details) = expect_error(
        try_verify_acknowledging(&mut client, &story.wire_sent.name, false).await,
        Code::FailedPrecondition,
        "OPEN_CONTRADICTIONS",
    );
    assert!(error_metadata(&details, "links").is_some());
    assert_eq!(
        get(&mut client, &story.wire_sent.name).await.state(),
        State::InReview,
        "nothing changed"
    );
    let verified = try_verify_acknowledging(&mut client, &story.wire_sent.name, true)
        .await
        .expect("verified with the contradictions acknowledged");
    assert_eq!(verified.state(), State::Verified);
    let ruling = events_of(&mut client, &story.wire_sent.name)
        .await
        .into_iter()
        .find(|e| e.r#type() == Type::Verified)
        .expect("the ruling is in the history");
    let acknowledged: Vec<&str> = ruling
        .acknowledged_links
        .iter()
        .map(|l| l.rsplit('/').next().unwrap())
        .collect();
    let open: Vec<&str> = verified
        .links
        .iter()
        .filter(|l| l.relation() == Relation::Contradicts)
        .map(|l| l.name.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        acknowledged, open,
        "the history names what was acknowledged"
    );

    // The president's count has no refuting evidence of its own, but a
    // confirmed contradiction of a verified claim counts as such.
    start_review(&mut client, "tomas", &story.president.name).await;
    let disputed = dispute(
        &mut client,
        "tomas",
        &story.president.name,
        "The wire's count holds",
    )
    .await;
    assert_eq!(disputed.state(), State::Disputed);
}

#[tokio::test]
async fn a_suggested_contradiction_of_an_unverified_claim_is_no_refuting_evidence() {
    let (_server, mut client) = TestServer::with_client().await;
    let story = submit_story(&mut client).await;
    let link = story.president.links[0].name.clone();
    try_resolve(&mut client, "tomas", &link, Status::Confirmed)
        .await
        .expect("confirmed");
    // The other claim is not verified: the contradiction proves nothing yet.
    start_review(&mut client, "tomas", &story.president.name).await;
    expect_error(
        try_dispute(&mut client, "tomas", &story.president.name, "", "").await,
        Code::FailedPrecondition,
        "NO_REFUTING_EVIDENCE",
    );
}

#[tokio::test]
async fn a_rejected_suggestion_leaves_the_conflicts_and_needs_no_acknowledgement() {
    let (_server, mut client) = TestServer::with_client().await;
    let story = submit_story(&mut client).await;
    for link in [&story.president.links[0], &story.reworded.links[1]] {
        let resolved = try_resolve(&mut client, "tomas", &link.name, Status::Rejected)
            .await
            .expect("rejected");
        let end = resolved.links.iter().find(|l| l.name == link.name).unwrap();
        assert_eq!(end.status(), Status::Rejected);
    }
    assert!(list_conflicts(&mut client).await.is_empty());
    review_with_support(&mut client, &story.wire_sent.name).await;
    let verified = try_verify_acknowledging(&mut client, &story.wire_sent.name, false)
        .await
        .expect("no open contradiction is left");
    assert_eq!(verified.state(), State::Verified);
    // Rejected is final.
    expect_error(
        try_resolve(
            &mut client,
            "tomas",
            &story.president.links[0].name,
            Status::Confirmed,
        )
        .await,
        Code::FailedPrecondition,
        "LINK_RESOLVED",
    );
}

#[tokio::test]
async fn the_desk_links_claims_itself_once_per_relation() {
    let (_server, mut client) = TestServer::with_client().await;
    let story = submit_story(&mut client).await;

    let linked = try_link(
        &mut client,
        &story.wire_killed.name,
        &story.wire_sent.name,
        Relation::Corroborates,
    )
    .await
    .expect("linked");
    let end = linked.links.last().expect("the new link");
    assert_eq!(
        (end.relation(), end.status(), end.created_by.as_str()),
        (Relation::Corroborates, Status::Confirmed, "tomas")
    );
    assert_eq!(end.note, "The desk's own reading");
    let other = get(&mut client, &story.wire_sent.name).await;
    assert!(
        other
            .links
            .iter()
            .any(|l| l.other == story.wire_killed.name && l.relation() == Relation::Corroborates)
    );

    // Once per relation while open; another relation is another link.
    let (_, details) = expect_error(
        try_link(
            &mut client,
            &story.wire_sent.name,
            &story.wire_killed.name,
            Relation::Corroborates,
        )
        .await,
        Code::AlreadyExists,
        "LINK_EXISTS",
    );
    assert_eq!(
        error_metadata(&details, "relation").as_deref(),
        Some("corroborates")
    );
    // The desk may say the president's count supersedes the engineers'.
    let superseding = try_link(
        &mut client,
        &story.president.name,
        &story.engineers.name,
        Relation::Supersedes,
    )
    .await
    .expect("linked");
    assert!(superseding.links.last().unwrap().subject);

    // A claim of another story, itself, or none are refused.
    let elsewhere = submit(&mut client, "maria", harbour_claim()).await;
    expect_error(
        try_link(
            &mut client,
            &story.wire_sent.name,
            &elsewhere.name,
            Relation::Corroborates,
        )
        .await,
        Code::FailedPrecondition,
        "OTHER_STORY",
    );
    expect_invalid_fields(
        try_link(
            &mut client,
            &story.wire_sent.name,
            &story.wire_sent.name,
            Relation::Corroborates,
        )
        .await,
        &["other"],
    );
    expect_invalid_fields(
        try_link(
            &mut client,
            &story.wire_sent.name,
            "",
            Relation::Unspecified,
        )
        .await,
        &["other", "relation"],
    );
    let missing = "claims/01M8PRQSWPEEJ2D3NQXJTEZPFT";
    expect_error(
        try_link(
            &mut client,
            &story.wire_sent.name,
            missing,
            Relation::Corroborates,
        )
        .await,
        Code::NotFound,
        "CLAIM_NOT_FOUND",
    );
    let no_link = format!("{}/links/999999", story.wire_sent.name);
    expect_error(
        try_resolve(&mut client, "tomas", &no_link, Status::Rejected).await,
        Code::NotFound,
        "LINK_NOT_FOUND",
    );
}

#[tokio::test]
async fn refuting_evidence_reopens_a_verified_claim_by_itself() {
    let (_server, mut client) = TestServer::with_client().await;
    let claim = submit(
        &mut client,
        "maria",
        story_claim(ENGINEERS_6000, "Ukrainian military intelligence", &[]),
    )
    .await;
    review_with_support(&mut client, &claim.name).await;
    verify(&mut client, "tomas", &claim.name, "Imagery agrees").await;

    let reopened = add_evidence(
        &mut client,
        "ana",
        &claim.name,
        refutes("Border monitors", "Fewer than a thousand engineers crossed"),
    )
    .await;
    assert_eq!(reopened.state(), State::Unverified);
    assert_eq!(reopened.assignee, "");
    assert_eq!(reopened.verdict_note, "");
    let history = events_of(&mut client, &claim.name).await;
    let [.., added, reopening] = &history[..] else {
        panic!("{history:?}");
    };
    assert_eq!(
        (added.r#type(), added.actor.as_str(), added.to_state()),
        (Type::EvidenceAdded, "ana", State::Verified)
    );
    assert_eq!(
        (
            reopening.r#type(),
            reopening.actor.as_str(),
            reopening.to_state()
        ),
        (Type::Reopened, "system", State::Unverified)
    );
    assert!(
        reopening.note.contains("new evidence"),
        "{}",
        reopening.note
    );
    assert_eq!(reopening.revision, added.revision + 1);
    assert_eq!(reopened.etag, reopening.revision.to_string());
}

#[tokio::test]
async fn links_reach_watchers_in_revision_order() {
    let (_server, mut client) = TestServer::with_client().await;
    let mut watch = client
        .watch_claim_events(as_user(
            pb::WatchClaimEventsRequest {
                story: STORY.to_owned(),
                ..Default::default()
            },
            "maria",
        ))
        .await
        .expect("the watch starts")
        .into_inner();
    let story = submit_story(&mut client).await;
    let mut seen = Vec::new();
    while seen.len() < 11 {
        let event = watch.next().await.expect("an event").expect("not an error");
        seen.push(event);
    }
    let revisions: Vec<u64> = seen.iter().map(|e| e.revision).collect();
    assert!(
        revisions.windows(2).all(|w| w[1] == w[0] + 1),
        "{revisions:?}"
    );
    let linked: Vec<(&str, Relation)> = seen
        .iter()
        .filter(|e| e.r#type() == Type::Linked)
        .map(|e| (e.claim.as_str(), e.link.as_ref().unwrap().relation()))
        .collect();
    assert_eq!(
        linked,
        [
            (story.president.name.as_str(), Relation::Contradicts),
            (story.wire_sent.name.as_str(), Relation::Contradicts),
            (story.reworded.name.as_str(), Relation::Duplicates),
            (story.wire_sent.name.as_str(), Relation::Duplicates),
            (story.reworded.name.as_str(), Relation::Contradicts),
            (story.president.name.as_str(), Relation::Contradicts),
        ]
    );
}
