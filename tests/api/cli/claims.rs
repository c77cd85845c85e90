//! `claimdesk claim …`: submitting, reading, listing and every change of
//! the review, for people and as JSON.

use serde_json::Value;

use super::{CHECKER, EDITOR, OTHER_CHECKER, command, human, json, number, text, with_stdin};
use crate::helpers::{
    TestServer, assert_nothing_stored, get, harbour_claim, numbered_claim, submit,
};

const STORY: &str = "river-crossing";

fn submit_args<'a>(statement: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "claim",
        "submit",
        statement,
        "--source",
        "Valley Herald",
        "--story",
        STORY,
    ];
    args.extend_from_slice(extra);
    args
}

#[tokio::test]
async fn submit_sends_every_field_and_prints_the_claim_as_json() {
    let server = TestServer::spawn().await;
    let args = submit_args(
        "About 400 soldiers crossed the river",
        &[
            "--relayed-from",
            "a ministry aide",
            "--relayed-from",
            "a regional official",
            "--url",
            "https://valley-herald.example/crossing",
            "--tag",
            "troops",
            "--tag",
            "river",
            "--priority",
            "breaking",
            "--deadline",
            "2030-01-02T03:04:05Z",
        ],
    );
    let printed = json(&server, EDITOR, &args).await.json();
    assert_eq!(
        text(&printed, "statement"),
        "About 400 soldiers crossed the river"
    );
    assert_eq!(printed["attribution"]["source"], "Valley Herald");
    assert_eq!(
        printed["attribution"]["relayedFrom"],
        serde_json::json!(["a ministry aide", "a regional official"])
    );
    assert_eq!(
        printed["attribution"]["url"],
        "https://valley-herald.example/crossing"
    );
    assert_eq!(printed["tags"], serde_json::json!(["troops", "river"]));
    assert_eq!(printed["priority"], "PRIORITY_BREAKING");
    assert_eq!(printed["deadline"], "2030-01-02T03:04:05Z");
    assert_eq!(printed["state"], "STATE_UNVERIFIED");
    assert_eq!(printed["submittedBy"], EDITOR);
    assert!(
        printed.get("submitted_by").is_none(),
        "lowerCamelCase names"
    );

    let stored = get(&mut server.client().await, &text(&printed, "name")).await;
    assert_eq!(stored.story, STORY);
    assert_eq!(stored.etag, text(&printed, "etag"));
    assert_eq!(stored.label, text(&printed, "label"));
}

#[tokio::test]
async fn submit_prints_the_claim_for_people_with_a_relative_deadline() {
    let server = TestServer::spawn().await;
    let args = submit_args(
        "A bridge was closed",
        &["--deadline", "+2h", "--tag", "roads"],
    );
    let finished = human(&server, EDITOR, &args).await;
    assert_eq!(finished.field("label"), "unverified (per Valley Herald)");
    assert_eq!(finished.field("state"), "unverified");
    assert_eq!(finished.field("statement"), "A bridge was closed");
    assert_eq!(finished.field("tags"), "roads");
    assert_eq!(finished.field("priority"), "routine");
    let deadline = finished.field("deadline");
    assert!(deadline.starts_with("due in 1 h 5"), "{deadline}");
    assert!(
        !finished.stdout.contains('\u{1b}'),
        "no colour when stdout is not a terminal"
    );
    let name = finished.field("claim");
    assert!(name.starts_with("claims/"), "{name}");
}

#[tokio::test]
async fn submit_reads_the_statement_from_stdin() {
    let server = TestServer::spawn().await;
    for args in [submit_args("-", &["-o", "json"]), {
        let mut args = submit_args("", &["-o", "json"]);
        args.remove(2);
        args
    }] {
        let finished = with_stdin(
            command(&server.url(), EDITOR, &args),
            "Two ferries stopped running\n",
        )
        .await;
        assert_eq!(
            finished.json()["statement"],
            "Two ferries stopped running",
            "{args:?}"
        );
    }
}

#[tokio::test]
async fn a_statement_on_stdin_longer_than_a_claim_may_be_is_refused_before_any_call() {
    let (server, mut client) = TestServer::with_client().await;
    let finished = with_stdin(
        command(&server.url(), EDITOR, &submit_args("-", &[])),
        &"Ferries ".repeat(2_500),
    )
    .await;
    finished.failed(2, &["longer than a claim may be", "2000 characters"]);
    assert_nothing_stored(&mut client).await;
}

#[tokio::test]
async fn a_repeated_request_id_returns_the_first_claim_and_runs_without_one_are_new_claims() {
    let server = TestServer::spawn().await;
    let with_id = submit_args("Fuel ran out at the depot", &["--request-id", "retry-1"]);
    let first = json(&server, EDITOR, &with_id).await.json();
    let again = json(&server, EDITOR, &with_id).await.json();
    assert_eq!(first["name"], again["name"]);
    let plain = submit_args("Fuel ran out at the depot", &[]);
    let one = json(&server, EDITOR, &plain).await.json();
    let two = json(&server, EDITOR, &plain).await.json();
    assert_ne!(one["name"], two["name"]);
    assert_ne!(one["name"], first["name"]);
}

#[tokio::test]
async fn get_prints_a_claim_by_id_or_name_in_both_modes() {
    let server = TestServer::spawn().await;
    let claim = submit(&mut server.client().await, EDITOR, harbour_claim()).await;
    let id = claim.name.strip_prefix("claims/").expect("a claim name");
    for name in [id, claim.name.as_str()] {
        let printed = json(&server, EDITOR, &["claim", "get", name]).await.json();
        assert_eq!(printed["name"], claim.name);
        assert_eq!(printed["etag"], claim.etag);
        assert_eq!(printed["priority"], "PRIORITY_URGENT");
        let finished = human(&server, EDITOR, &["claim", "get", name]).await;
        assert_eq!(finished.field("claim"), claim.name);
        assert_eq!(finished.field("label"), claim.label);
        assert_eq!(finished.field("source"), "Harbour Gazette");
        assert_eq!(finished.field("relayed from"), "union officials");
        assert_eq!(finished.field("etag"), claim.etag);
    }
}

#[tokio::test]
async fn list_pages_through_every_claim_unless_limited_and_filters() {
    let server = TestServer::spawn().await;
    let mut client = server.client().await;
    let mut names = Vec::new();
    for n in 0..5 {
        names.push(
            submit(
                &mut client,
                EDITOR,
                numbered_claim(STORY, "Valley Herald", n),
            )
            .await
            .name,
        );
    }
    let other = submit(&mut client, EDITOR, harbour_claim()).await;
    let listed = |lines: Vec<Value>| lines.iter().map(|c| text(c, "name")).collect::<Vec<_>>();

    let all = json(
        &server,
        EDITOR,
        &["claim", "list", "--story", STORY, "--page-size", "2"],
    )
    .await;
    assert_eq!(listed(all.json_lines()), names);
    let limited = json(
        &server,
        EDITOR,
        &["claim", "list", "--limit", "3", "--page-size", "2"],
    )
    .await;
    assert_eq!(listed(limited.json_lines()), names[..3]);
    let everything = json(&server, EDITOR, &["claim", "list"]).await;
    assert_eq!(everything.json_lines().len(), 6);
    let by_source = json(
        &server,
        EDITOR,
        &["claim", "list", "--source", "harbour gazette"],
    )
    .await;
    assert_eq!(
        listed(by_source.json_lines()),
        std::slice::from_ref(&other.name)
    );
    let by_state = json(&server, EDITOR, &["claim", "list", "--state", "in-review"]).await;
    assert_eq!(by_state.ok(), "", "nothing in review: no lines");

    json(&server, CHECKER, &["claim", "start", &names[1]])
        .await
        .ok();
    let by_state = json(&server, EDITOR, &["claim", "list", "--state", "in-review"]).await;
    assert_eq!(listed(by_state.json_lines()), [names[1].clone()]);
    let by_assignee = json(&server, EDITOR, &["claim", "list", "--assignee", CHECKER]).await;
    assert_eq!(listed(by_assignee.json_lines()), [names[1].clone()]);

    let table = human(
        &server,
        EDITOR,
        &["claim", "list", "--story", STORY, "--page-size", "2"],
    )
    .await;
    let lines: Vec<&str> = table.ok().lines().collect();
    assert_eq!(lines.len(), 6, "a header and five rows:\n{}", table.stdout);
    assert!(lines[0].starts_with("ID  "), "{}", lines[0]);
    for (line, name) in lines[1..].iter().zip(&names) {
        assert!(
            line.starts_with(name.strip_prefix("claims/").expect("a name")),
            "{line}"
        );
    }
    assert!(lines[2].contains(CHECKER), "{}", lines[2]);
    let label_at = lines[0].find("LABEL").expect("a LABEL column");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l[label_at..].starts_with("unverified (per Valley Herald)  ")),
        "labels aligned under LABEL:\n{}",
        table.stdout
    );
    let none = human(
        &server,
        EDITOR,
        &["claim", "list", "--story", "nothing-here"],
    )
    .await;
    assert_eq!(none.ok().trim(), "no claims");
}

/// The review of a claim through every change command, as `(user, args,
/// state after)`: each ruling, reopening, release, reassignment and the
/// withdrawal.
fn review(name: &str, etag: &str) -> Vec<(&'static str, Vec<String>, &'static str)> {
    let steps: [(&str, &[&str], &str); 14] = [
        (CHECKER, &["start", name, "--etag", etag], "in review"),
        (
            CHECKER,
            &[
                "evidence",
                "add",
                name,
                "--source",
                "Port Authority",
                "--stance",
                "supports",
                "--summary",
                "payroll",
                "--url",
                "https://port.example/payroll",
            ],
            "in review",
        ),
        (
            CHECKER,
            &["verify", name, "--note", "two records"],
            "verified",
        ),
        (
            EDITOR,
            &["reopen", name, "--reason", "new figures"],
            "unverified",
        ),
        (CHECKER, &["start", name], "in review"),
        (
            CHECKER,
            &[
                "evidence",
                "add",
                name,
                "--source",
                "Harbour Board",
                "--stance",
                "refutes",
                "--url",
                "https://board.example/count",
            ],
            "in review",
        ),
        (
            CHECKER,
            &["dispute", name, "--note", "counts differ"],
            "disputed",
        ),
        (
            EDITOR,
            &["reopen", name, "--reason", "recount"],
            "unverified",
        ),
        (CHECKER, &["start", name], "in review"),
        (
            CHECKER,
            &["release", name, "--note", "off shift"],
            "unverified",
        ),
        (CHECKER, &["start", name], "in review"),
        (
            EDITOR,
            &[
                "reassign",
                name,
                "--to",
                OTHER_CHECKER,
                "--note",
                "handover",
            ],
            "in review",
        ),
        (
            OTHER_CHECKER,
            &["inconclusive", name, "--note", "no access"],
            "inconclusive",
        ),
        (EDITOR, &["withdraw", name, "--reason", "cut"], "withdrawn"),
    ];
    steps
        .into_iter()
        .map(|(user, args, state)| {
            let args = std::iter::once("claim")
                .chain(args.iter().copied())
                .map(str::to_owned)
                .collect();
            (user, args, state)
        })
        .collect()
}

/// The history's event types after [`review`].
const REVIEW_EVENTS: [&str; 15] = [
    "TYPE_SUBMITTED",
    "TYPE_REVIEW_STARTED",
    "TYPE_EVIDENCE_ADDED",
    "TYPE_VERIFIED",
    "TYPE_REOPENED",
    "TYPE_REVIEW_STARTED",
    "TYPE_EVIDENCE_ADDED",
    "TYPE_DISPUTED",
    "TYPE_REOPENED",
    "TYPE_REVIEW_STARTED",
    "TYPE_RELEASED",
    "TYPE_REVIEW_STARTED",
    "TYPE_REASSIGNED",
    "TYPE_MARKED_INCONCLUSIVE",
    "TYPE_WITHDRAWN",
];

#[tokio::test]
async fn every_review_command_changes_the_claim_and_prints_it_as_json() {
    let server = TestServer::spawn().await;
    let claim = submit(&mut server.client().await, EDITOR, harbour_claim()).await;
    let mut printed = Vec::new();
    for (user, args, state) in review(&claim.name, &claim.etag) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let after = json(&server, user, &args).await.json();
        let state = format!("STATE_{}", state.to_uppercase().replace(' ', "_"));
        assert_eq!(after["state"], state, "{args:?}");
        assert_eq!(after["name"], claim.name, "{args:?}");
        printed.push(after);
    }
    assert_eq!(printed[0]["assignee"], CHECKER);
    let evidence = &printed[1]["evidence"][0];
    assert_eq!(evidence["source"], "Port Authority");
    assert_eq!(evidence["stance"], "STANCE_SUPPORTS");
    assert_eq!(evidence["summary"], "payroll");
    assert_eq!(evidence["addedBy"], CHECKER);
    assert_eq!(printed[2]["verdictNote"], "two records");
    assert_eq!(printed[6]["verdictNote"], "counts differ");
    assert!(printed[9].get("assignee").is_none(), "{}", printed[9]);
    assert_eq!(printed[11]["assignee"], OTHER_CHECKER);

    let name = claim.name.as_str();
    let history = json(
        &server,
        EDITOR,
        &["claim", "history", name, "--page-size", "4"],
    )
    .await;
    let events = history.json_lines();
    let types: Vec<String> = events.iter().map(|e| text(e, "type")).collect();
    assert_eq!(types, REVIEW_EVENTS);
    let revisions: Vec<u64> = events.iter().map(|e| number(e, "revision")).collect();
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
    assert_eq!(events[12]["assignee"], OTHER_CHECKER);
    assert_eq!(events[14]["note"], "cut");
    let limited = json(&server, EDITOR, &["claim", "history", name, "--limit", "2"]).await;
    assert_eq!(limited.json_lines(), events[..2]);
}

#[tokio::test]
async fn every_review_command_prints_the_claim_for_people() {
    let server = TestServer::spawn().await;
    let claim = submit(&mut server.client().await, EDITOR, harbour_claim()).await;
    let mut last = None;
    for (user, args, state) in review(&claim.name, &claim.etag) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let after = human(&server, user, &args).await;
        assert_eq!(after.field("state"), state, "{args:?}");
        assert_eq!(after.field("claim"), claim.name, "{args:?}");
        last = Some(after);
    }
    let withdrawn = last.expect("the review has steps");
    assert!(
        withdrawn.field("label").starts_with("withdrawn"),
        "{}",
        withdrawn.stdout
    );
    let first = withdrawn.field("evidence 1");
    assert!(
        first.starts_with(
            "supports: Port Authority — payroll — https://port.example/payroll (by kim.checker, "
        ),
        "{first}"
    );
    assert!(
        withdrawn
            .field("evidence 2")
            .starts_with("refutes: Harbour Board")
    );

    let history = human(&server, EDITOR, &["claim", "history", &claim.name]).await;
    let lines: Vec<&str> = history.ok().lines().collect();
    assert_eq!(
        lines.len(),
        16,
        "a header and 15 events:\n{}",
        history.stdout
    );
    assert!(lines[0].starts_with("REV  WHEN"), "{}", lines[0]);
    for (line, kind) in lines[1..].iter().zip(REVIEW_EVENTS) {
        let kind = kind
            .trim_start_matches("TYPE_")
            .to_lowercase()
            .replace('_', " ");
        assert!(line.contains(&format!("  {kind}  ")), "{kind} in {line}");
    }
    assert!(lines[1].contains(EDITOR), "{}", lines[1]);
    assert!(lines[3].contains("supports Port Authority"), "{}", lines[3]);
    assert!(lines[8].contains("in review → disputed") && lines[8].contains("counts differ"));
    assert!(
        lines[13].contains(&format!("to {OTHER_CHECKER}; handover")),
        "{}",
        lines[13]
    );
    assert!(
        lines[15].contains("inconclusive → withdrawn  cut"),
        "{}",
        lines[15]
    );
}
