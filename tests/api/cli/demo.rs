//! `claimdesk demo`: the story on a throw-away server, and on a server
//! given.

use super::finish;
use crate::helpers::{TestServer, claimdesk_command, list_all};

/// The label of each outcome, as the demo prints it.
const OUTCOMES: [&str; 6] = [
    "verified",
    "disputed",
    "could not be independently verified (per Meridian News Agency)",
    "withdrawn",
    "unverified (per Red Star Gazette)",
    "verified",
];

#[tokio::test]
async fn the_demo_walks_claims_to_each_outcome_and_prints_the_commands() {
    let mut demo = claimdesk_command();
    demo.arg("demo").stdout(std::process::Stdio::piped());
    let finished = finish(demo).await;
    let out = finished.ok();
    let listing = out
        .split("each with its label:\n")
        .nth(1)
        .expect("the claims are listed");
    for label in OUTCOMES {
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with(&format!("  {label} — "))),
            "{label:?} in:\n{out}"
        );
    }
    assert!(listing.starts_with("ID  "), "the table first:\n{listing}");
    assert!(out.contains("Still waiting in the queue: 1"), "{out}");
    assert!(
        out.contains("  ! the server suggests claims/") && out.contains(": contradicts claims/"),
        "the suggestion is shown:\n{out}"
    );
    let conflicts = out
        .split("The open contradictions of kessel-demining")
        .nth(1)
        .and_then(|rest| rest.split("The history of C3").next())
        .expect("the conflicts are listed");
    assert!(
        conflicts.contains("$ claimdesk conflicts --story kessel-demining\n"),
        "{conflicts}"
    );
    assert_eq!(
        conflicts
            .matches(": contradicts, confirmed by kim.checker ")
            .count(),
        1,
        "one contradiction, confirmed:\n{conflicts}"
    );
    for words in [
        "SUBJECT",
        "OBJECT",
        "Eastmark General Staff",
        "President of Westland",
        "12,000 soldiers (11,500-12,500)",
        "about 9,000 soldiers (8,100-9,900)",
    ] {
        assert!(conflicts.contains(words), "{words:?} in:\n{conflicts}");
    }
    let history = out
        .split("The history of C3")
        .nth(1)
        .expect("one history is printed");
    for event in [
        "submitted",
        "review started",
        "evidence added",
        "marked inconclusive",
    ] {
        assert!(
            history.contains(&format!("  {event}  ")),
            "{event} in:\n{history}"
        );
    }
    let replay = out
        .split("To replay the story")
        .nth(1)
        .expect("the commands are printed");
    assert!(
        replay.contains("export CLAIMDESK_SERVER=http://127.0.0.1:50051"),
        "{replay}"
    );
    for (n, verb) in [
        (1, "verify"),
        (2, "dispute"),
        (3, "inconclusive"),
        (4, "withdraw"),
    ] {
        assert!(
            replay.contains(&format!("claimdesk claim {verb} \"$C{n}\" ")),
            "{verb} of C{n}:\n{replay}"
        );
    }
    assert!(replay.contains("C5=$(claimdesk claim submit "), "{replay}");
    assert!(
        replay.contains(
            "  L6=$(claimdesk claim get \"$C6\" --output json | jq -r '.links[0].name')\n  \
             claimdesk claim resolve-link \"$L6\" --confirm "
        ),
        "{replay}"
    );
    assert!(
        replay.contains("claimdesk claim verify \"$C6\" --acknowledge-contradictions "),
        "{replay}"
    );
    assert!(
        replay.contains("claimdesk conflicts --story kessel-demining"),
        "{replay}"
    );
}

#[tokio::test]
async fn the_demo_plays_on_the_server_given_under_a_story_of_its_own() {
    let server = TestServer::spawn().await;
    let mut demo = claimdesk_command();
    demo.args(["demo", "--server", &server.url()])
        .stdout(std::process::Stdio::piped());
    let out = finish(demo).await.ok().to_owned();
    let claims = list_all(&mut server.client().await, Default::default()).await;
    assert_eq!(claims.len(), 6, "{out}");
    let story = &claims[0].story;
    assert!(story.starts_with("kessel-demining-"), "{story}");
    assert!(claims.iter().all(|c| &c.story == story));
    let labels: Vec<&str> = claims.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels, OUTCOMES);
    assert!(
        out.contains(&format!("export CLAIMDESK_SERVER={}", server.url())),
        "{out}"
    );
    assert!(out.contains(&format!("--story {story}")), "{out}");
}
