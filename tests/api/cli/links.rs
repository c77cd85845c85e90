//! `claimdesk claim link`, `claim resolve-link` and `conflicts`, and the
//! figures and links `claim get` and `claim history` show, for people and
//! as JSON.

use serde_json::Value;

use super::{CHECKER, EDITOR, Finished, human, json, text};
use crate::helpers::TestServer;

const STORY: &str = "northern-border";
const TROOPS: &str = "Roughly 14,000 troops were sent to the northern border";
const SOLDIERS: &str = "12,000 soldiers were sent to the northern border";
const REFUGEES: &str = "About 2,000 refugees fled across the northern border";
const FEW_REFUGEES: &str = "500 refugees fled across the northern border";

/// Submits `statement` by `source` to [`STORY`] with the client; the claim
/// as JSON.
async fn submit(server: &TestServer, statement: &str, source: &str) -> Value {
    submit_to(server, STORY, statement, source).await
}

async fn submit_to(server: &TestServer, story: &str, statement: &str, source: &str) -> Value {
    let args = [
        "claim", "submit", statement, "--source", source, "--story", story,
    ];
    json(server, EDITOR, &args).await.json()
}

/// The claim's links, as JSON.
fn links(claim: &Value) -> Vec<Value> {
    claim["links"].as_array().cloned().unwrap_or_default()
}

/// `claims/{id}` without `claims/`.
fn id(name: &str) -> &str {
    name.strip_prefix("claims/").expect("a claim name")
}

/// The `{n}` of a link's name.
fn number(link: &str) -> &str {
    link.rsplit_once("/links/").expect("a link name").1
}

/// The two troop claims of the story: the second contradicts the first,
/// which the server suggests. The second claim, as submitted.
async fn contradicting(server: &TestServer) -> (Value, Value) {
    let first = submit(server, TROOPS, "Reuters").await;
    assert!(links(&first).is_empty(), "{first}");
    let second = submit(server, SOLDIERS, "the president").await;
    (first, second)
}

#[tokio::test]
async fn link_records_a_confirmed_link_on_both_claims_for_people_and_as_json() {
    let server = TestServer::spawn().await;
    let first = submit(&server, "The bridge at Halden was closed", "Reuters").await;
    let second = submit(&server, "Halden bridge is shut to traffic", "Nordic Wire").await;
    let (a, b) = (text(&first, "name"), text(&second, "name"));

    let linked = json(
        &server,
        CHECKER,
        &[
            "claim",
            "link",
            id(&a),
            "--to",
            id(&b),
            "--relation",
            "corroborates",
            "--note",
            "Both saw the barriers",
            "--etag",
            &text(&first, "etag"),
        ],
    )
    .await
    .json();
    let link = &links(&linked)[0];
    assert_eq!(link["other"], b.as_str());
    assert_eq!(link["relation"], "RELATION_CORROBORATES");
    assert_eq!(link["status"], "STATUS_CONFIRMED");
    assert_eq!(link["note"], "Both saw the barriers");
    assert_eq!(link["createdBy"], CHECKER);

    let superseding = human(
        &server,
        CHECKER,
        &["claim", "link", &b, "--to", &a, "--relation", "supersedes"],
    )
    .await;
    let link = superseding
        .ok()
        .lines()
        .find(|l| l.starts_with("link ") && l.contains("supersedes"))
        .unwrap_or_else(|| panic!("a supersedes link in:\n{}", superseding.stdout))
        .to_owned();
    assert!(
        link.contains(&format!("supersedes {}, confirmed by {CHECKER} ", id(&a))),
        "{link}"
    );
    let other_end = human(&server, EDITOR, &["claim", "get", &a]).await;
    let n = number(text(&links(&linked)[0], "name").as_str()).to_owned();
    assert!(
        other_end
            .field(&format!("link {n}"))
            .starts_with(&format!("corroborates {}, confirmed by {CHECKER}", id(&b))),
        "{}",
        other_end.stdout
    );
    assert!(
        other_end
            .ok()
            .contains(&format!("superseded by {}", id(&b))),
        "{}",
        other_end.stdout
    );

    // The same relation again: ALREADY_EXISTS; another story: refused.
    human(
        &server,
        CHECKER,
        &[
            "claim",
            "link",
            &a,
            "--to",
            &b,
            "--relation",
            "corroborates",
        ],
    )
    .await
    .failed(5, &["LinkClaims failed: ALREADY_EXISTS [LINK_EXISTS]"]);
    let elsewhere = submit_to(
        &server,
        "other-story",
        "Ferries stopped at Halden",
        "Reuters",
    )
    .await;
    json(
        &server,
        CHECKER,
        &[
            "claim",
            "link",
            &a,
            "--to",
            &text(&elsewhere, "name"),
            "--relation",
            "contradicts",
        ],
    )
    .await
    .failed(5, &["LinkClaims failed: FAILED_PRECONDITION [OTHER_STORY]"]);
}

#[tokio::test]
async fn resolve_link_confirms_or_rejects_a_suggested_contradiction() {
    let server = TestServer::spawn().await;
    let (first, second) = contradicting(&server).await;
    let suggested = &links(&second)[0];
    assert_eq!(suggested["relation"], "RELATION_CONTRADICTS");
    assert_eq!(suggested["status"], "STATUS_SUGGESTED");
    assert_eq!(suggested["createdBy"], "system");
    let name = text(suggested, "name");

    // As `{id}/links/{n}`, the way `claim get` shows it.
    let short = name.strip_prefix("claims/").expect("a link name");
    let confirmed = json(
        &server,
        CHECKER,
        &[
            "claim",
            "resolve-link",
            short,
            "--confirm",
            "--note",
            "Same deployment, counted twice",
        ],
    )
    .await
    .json();
    let link = &links(&confirmed)[0];
    assert_eq!(link["status"], "STATUS_CONFIRMED");
    assert_eq!(link["resolvedBy"], CHECKER);
    assert_eq!(link["resolutionNote"], "Same deployment, counted twice");

    let rejected = human(
        &server,
        CHECKER,
        &["claim", "resolve-link", &name, "--reject"],
    )
    .await;
    let line = rejected.field(&format!("link {}", number(&name)));
    assert!(
        line.starts_with(&format!(
            "contradicts {}, rejected by {CHECKER} ",
            id(&text(&first, "name"))
        )),
        "{line}"
    );

    // Rejected is final; a link that does not exist; no decision.
    human(
        &server,
        CHECKER,
        &["claim", "resolve-link", &name, "--confirm"],
    )
    .await
    .failed(
        5,
        &["ResolveLink failed: FAILED_PRECONDITION [LINK_RESOLVED]"],
    );
    let missing = format!("{}/links/999999", text(&second, "name"));
    json(
        &server,
        CHECKER,
        &["claim", "resolve-link", &missing, "--reject"],
    )
    .await
    .failed(3, &["ResolveLink failed: NOT_FOUND [LINK_NOT_FOUND]"]);
    let undecided = human(&server, CHECKER, &["claim", "resolve-link", &name]).await;
    assert_eq!(undecided.code, Some(2), "{}", undecided.stderr);
    assert!(
        undecided.stderr.contains("--confirm|--reject"),
        "{}",
        undecided.stderr
    );
}

/// The lines of `conflicts` for people, with the claims' sides: the line
/// holding `key` in its first column.
fn side_by_side<'a>(finished: &'a Finished, key: &str) -> &'a str {
    finished
        .ok()
        .lines()
        .find(|l| l.starts_with(&format!("{key}  ")))
        .unwrap_or_else(|| panic!("no {key:?} line in:\n{}", finished.stdout))
}

#[tokio::test]
async fn conflicts_prints_each_contradiction_side_by_side_or_as_json_lines() {
    let server = TestServer::spawn().await;
    let (first, second) = contradicting(&server).await;
    // Compatible figures (both one-sided and overlapping): no link.
    submit(&server, "More than 6,000 soldiers were killed", "Reuters").await;
    let compatible = submit(
        &server,
        "At least 4,000 soldiers were killed",
        "the president",
    )
    .await;
    assert!(links(&compatible).is_empty(), "{compatible}");
    submit(&server, REFUGEES, "Nordic Wire").await;
    let refugees = submit(&server, FEW_REFUGEES, "Border Police").await;
    assert_eq!(links(&refugees).len(), 1, "{refugees}");

    let lines = json(
        &server,
        EDITOR,
        &["conflicts", "--story", STORY, "--page-size", "1"],
    )
    .await
    .json_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let conflict = &lines[0];
    assert_eq!(conflict["subject"]["name"], second["name"]);
    assert_eq!(conflict["object"]["name"], first["name"]);
    assert_eq!(conflict["object"]["source"], "Reuters");
    assert_eq!(conflict["link"]["relation"], "RELATION_CONTRADICTS");
    assert_eq!(conflict["link"]["status"], "STATUS_SUGGESTED");
    let pair = &conflict["link"]["basis"][0];
    assert_eq!(pair["thisFigure"]["text"], "12,000 soldiers");
    assert_eq!(pair["otherFigure"]["text"], "Roughly 14,000 troops");
    assert_eq!(lines[1]["subject"]["name"], refugees["name"]);
    let limited = json(
        &server,
        EDITOR,
        &["conflicts", "--story", STORY, "--limit", "1"],
    )
    .await;
    assert_eq!(limited.json_lines(), lines[..1]);

    let people = human(&server, EDITOR, &["conflicts", "--story", STORY]).await;
    let link = text(&conflict["link"], "name");
    assert!(
        people
            .ok()
            .starts_with(&format!("{link}: contradicts, suggested by system ")),
        "{}",
        people.stdout
    );
    let header = side_by_side(&people, "");
    let (subject_at, object_at) = (
        header.find("SUBJECT").expect("a SUBJECT column"),
        header.find("OBJECT").expect("an OBJECT column"),
    );
    let column = |key: &str, at: usize| side_by_side(&people, key)[at..].to_owned();
    assert!(column("claim", subject_at).starts_with(id(&text(&second, "name"))));
    assert!(column("claim", object_at).starts_with(id(&text(&first, "name"))));
    assert!(column("source", subject_at).starts_with("the president  "));
    assert_eq!(column("source", object_at), "Reuters");
    assert!(column("label", subject_at).starts_with("unverified (per the president)"));
    assert!(column("statement", subject_at).starts_with(SOLDIERS));
    assert!(
        column("figures", subject_at).starts_with("12,000 soldiers (11,500-12,500)  "),
        "{}",
        people.stdout
    );
    assert_eq!(
        column("figures", object_at),
        "Roughly 14,000 troops (12,600-15,400)"
    );
    assert_eq!(
        people.ok().matches(": contradicts, suggested").count(),
        2,
        "{}",
        people.stdout
    );

    let none = human(&server, EDITOR, &["conflicts", "--story", "quiet-story"]).await;
    assert_eq!(none.ok().trim(), "no conflicts");
    let none = json(&server, EDITOR, &["conflicts", "--story", "quiet-story"]).await;
    assert_eq!(none.ok(), "", "no lines");
    human(&server, EDITOR, &["conflicts", "--story", "Not A Slug"])
        .await
        .failed(4, &["ListConflicts failed: INVALID_ARGUMENT", "story: "]);
}

#[tokio::test]
async fn get_and_history_show_figures_links_and_the_contradictions_a_verification_acknowledged() {
    let server = TestServer::spawn().await;
    let (_, second) = contradicting(&server).await;
    let name = text(&second, "name");
    let link = text(&links(&second)[0], "name");
    let n = number(&link);

    let got = human(&server, EDITOR, &["claim", "get", &name]).await;
    assert_eq!(
        got.field("figure 1"),
        "12,000 soldiers (11,500-12,500); troops:sent"
    );
    assert!(
        got.field(&format!("link {n}"))
            .contains(", suggested by system "),
        "{}",
        got.stdout
    );

    for args in [
        &["claim", "start", &name][..],
        &[
            "claim",
            "evidence",
            "add",
            &name,
            "--source",
            "Border Agency",
            "--stance",
            "supports",
            "--summary",
            "Rosters of the units sent",
        ],
    ] {
        human(&server, CHECKER, args).await.ok();
    }
    human(&server, CHECKER, &["claim", "verify", &name])
        .await
        .failed(
            5,
            &["VerifyClaim failed: FAILED_PRECONDITION [OPEN_CONTRADICTIONS]"],
        );
    let verified = json(
        &server,
        CHECKER,
        &["claim", "verify", &name, "--acknowledge-contradictions"],
    )
    .await
    .json();
    assert_eq!(verified["state"], "STATE_VERIFIED");
    human(
        &server,
        CHECKER,
        &["claim", "resolve-link", &link, "--reject"],
    )
    .await
    .ok();

    let history = human(&server, EDITOR, &["claim", "history", &name]).await;
    let line = |event: &str| {
        history
            .ok()
            .lines()
            .find(|l| l.contains(&format!("  {event}  ")))
            .unwrap_or_else(|| panic!("no {event} in:\n{}", history.stdout))
            .to_owned()
    };
    assert!(
        line("linked").contains(&format!("link {n}: contradicts ")),
        "{}",
        history.stdout
    );
    assert!(line("linked").contains(", suggested"), "{}", history.stdout);
    assert!(
        line("verified").contains(&format!("acknowledged link {n}")),
        "{}",
        history.stdout
    );
    assert!(
        line("link resolved").contains(&format!("link {n} rejected: contradicts ")),
        "{}",
        history.stdout
    );
    let events = json(&server, EDITOR, &["claim", "history", &name]).await;
    let types: Vec<String> = events
        .json_lines()
        .iter()
        .map(|e| text(e, "type"))
        .collect();
    assert_eq!(
        types,
        [
            "TYPE_SUBMITTED",
            "TYPE_LINKED",
            "TYPE_REVIEW_STARTED",
            "TYPE_EVIDENCE_ADDED",
            "TYPE_VERIFIED",
            "TYPE_LINK_RESOLVED"
        ]
    );
}
