//! The exit status and the one line on stderr of each kind of error.

use claimdesk::domain::Role;

use super::{CHECKER, EDITOR, TokenServer, command, finish, human, json};
use crate::helpers::{TestServer, harbour_claim, submit};

const MISSING: &str = "claims/01ARZ3NDEKTSV4RRFFQ69G5FAV";

#[tokio::test]
async fn a_claim_that_does_not_exist_exits_3() {
    let server = TestServer::spawn().await;
    for args in [
        &["claim", "get", MISSING][..],
        &["claim", "history", MISSING],
        &["claim", "verify", MISSING],
    ] {
        json(&server, CHECKER, args)
            .await
            .failed(3, &["NOT_FOUND [CLAIM_NOT_FOUND]", MISSING]);
    }
}

#[tokio::test]
async fn input_the_server_refuses_exits_4_naming_every_field() {
    let server = TestServer::spawn().await;
    let finished = human(
        &server,
        EDITOR,
        &[
            "claim",
            "submit",
            " ",
            "--source",
            "",
            "--story",
            "a story with spaces",
        ],
    )
    .await;
    finished.failed(
        4,
        &[
            "SubmitClaim failed: INVALID_ARGUMENT [INVALID_ARGUMENT]",
            "claim.statement: ",
            "claim.attribution.source: ",
            "claim.story: ",
        ],
    );
    human(&server, EDITOR, &["events", "watch", "--after", "99"])
        .await
        .failed(
            4,
            &["WatchClaimEvents failed: OUT_OF_RANGE [REVISION_AHEAD]"],
        );
    json(&server, EDITOR, &["claim", "get", "not-a-claim-id"])
        .await
        .failed(4, &["GetClaim failed: INVALID_ARGUMENT", "name: "]);
}

#[tokio::test]
async fn conflicts_with_the_claims_state_etag_or_request_id_exit_5() {
    let server = TestServer::spawn().await;
    let claim = submit(&mut server.client().await, EDITOR, harbour_claim()).await;
    // Not in review: FAILED_PRECONDITION.
    human(&server, CHECKER, &["claim", "verify", &claim.name])
        .await
        .failed(
            5,
            &["VerifyClaim failed: FAILED_PRECONDITION [INVALID_TRANSITION]"],
        );
    // A stale etag: ABORTED.
    human(
        &server,
        CHECKER,
        &["claim", "start", &claim.name, "--etag", "999"],
    )
    .await
    .failed(5, &["StartReview failed: ABORTED"]);
    // A request id reused for another claim: ALREADY_EXISTS.
    let submit_with = |statement: &'static str| {
        [
            "claim",
            "submit",
            statement,
            "--source",
            "Dock Radio",
            "--story",
            "harbour",
            "--request-id",
            "once",
        ]
    };
    json(&server, EDITOR, &submit_with("The cranes stopped"))
        .await
        .ok();
    json(&server, EDITOR, &submit_with("The cranes started"))
        .await
        .failed(5, &["SubmitClaim failed: ALREADY_EXISTS"]);
}

#[tokio::test]
async fn a_caller_without_the_role_or_a_token_exits_6() {
    let editor_token = claimdesk::auth::new_token().expect("randomness");
    let server = TokenServer::start(&[(&editor_token, EDITOR, Role::Editor)]).await;
    let mut as_editor = command(&server.url, EDITOR, &["queue", "take"]);
    as_editor.env("CLAIMDESK_TOKEN", &editor_token);
    finish(as_editor).await.failed(
        6,
        &[
            "TakeNextClaim failed: PERMISSION_DENIED [ROLE_REQUIRED]",
            "role: checker",
        ],
    );
    finish(command(&server.url, EDITOR, &["queue", "stats"]))
        .await
        .failed(
            6,
            &["GetQueueStats failed: UNAUTHENTICATED [TOKEN_MISSING]"],
        );
    let mut stats = command(&server.url, EDITOR, &["queue", "stats", "-o", "json"]);
    stats.env("CLAIMDESK_TOKEN", &editor_token);
    assert!(finish(stats).await.json()["stateCounts"].is_array());
}

#[tokio::test]
async fn no_server_exits_7() {
    let server = TestServer::spawn().await;
    let url = server.url();
    server.stop().await;
    for args in [
        &["claim", "get", MISSING][..],
        &["queue", "stats"],
        &["events", "watch"],
    ] {
        finish(command(&url, EDITOR, args))
            .await
            .failed(7, &["cannot connect to", &url]);
    }
}

#[tokio::test]
async fn bad_usage_exits_2_before_calling() {
    let server = TestServer::spawn().await;
    let cases: [(&[&str], &str); 4] = [
        (&["claim", "get"], "NAME"),
        (&["claim", "list", "--state", "pending"], "pending"),
        (
            &[
                "claim",
                "submit",
                "x",
                "--source",
                "s",
                "--story",
                "s",
                "--deadline",
                "soon",
            ],
            "soon",
        ),
        (&["claim", "reopen", MISSING], "--reason"),
    ];
    for (args, word) in cases {
        let finished = human(&server, EDITOR, args).await;
        assert_eq!(finished.code, Some(2), "{args:?}: {}", finished.stderr);
        assert!(
            finished.stderr.contains(word),
            "{word:?} in {}",
            finished.stderr
        );
        assert!(finished.stdout.is_empty(), "{}", finished.stdout);
    }
    finish(command(&server.url(), "two words", &["queue", "stats"]))
        .await
        .failed(2, &["--user"]);
    finish(command("localhost:1", EDITOR, &["queue", "stats"]))
        .await
        .failed(2, &["--server", "http://"]);
}

#[tokio::test]
async fn the_exit_statuses_are_listed_in_the_help() {
    let server = TestServer::spawn().await;
    for args in [
        &["claim", "--help"][..],
        &["claim", "verify", "--help"],
        &["queue", "take", "--help"],
    ] {
        let help = human(&server, EDITOR, args).await;
        let text = help.ok();
        for line in [
            "3  not found",
            "4  invalid input",
            "5  conflict",
            "6  permission",
            "7  unavailable",
        ] {
            assert!(text.contains(line), "{line:?} in {args:?}:\n{text}");
        }
    }
}
