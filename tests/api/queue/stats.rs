//! GetQueueStats.

use super::*;

/// GetQueueStats of `story`, checked field by field (see [`assert_stats`]).
async fn assert_story_stats(
    client: &mut Client,
    story: &str,
    states: [i64; 6],
    waiting: [i64; 3],
    oldest_waiting: Option<&Claim>,
    overdue: i64,
) {
    let stats = queue_stats(client, story).await;
    assert_stats(&stats, story, states, waiting, oldest_waiting, overdue);
}

#[tokio::test]
async fn queue_stats_of_an_empty_desk_count_zero_for_every_state_and_priority() {
    let (_server, mut client) = TestServer::with_client().await;
    let stats = queue_stats(&mut client, "").await;
    assert_stats(&stats, "", [0; 6], [0; 3], None, 0);
    assert_story_stats(&mut client, FERRY_STORY, [0; 6], [0; 3], None, 0).await;

    expect_invalid_fields(
        client
            .get_queue_stats(pb::GetQueueStatsRequest {
                story: "Lakeside Ferry".to_owned(),
            })
            .await,
        &["story"],
    );
}

#[tokio::test]
async fn queue_stats_count_waiting_claims_the_oldest_and_the_overdue_overall_and_per_story() {
    use claim::Priority::{Breaking, Routine, Urgent};
    let (_server, mut client) = TestServer::with_client().await;
    let now = SystemTime::now();
    let (past, future) = (|h: u32| now - h * HOUR, now + 24 * HOUR);
    let started = Instant::now();
    let mut submit_one = async |story: &str, statement: &str, priority, deadline| {
        submit_queued(&mut client, story, statement, priority, deadline).await
    };
    let h1 = submit_one(HARBOUR_ONLY_STORY, "A crane toppled", Routine, None).await;
    let s1 = submit_one(
        HARBOUR_STORY,
        "Strikers numbered 900",
        Urgent,
        Some(past(2)),
    )
    .await;
    let h2 = submit_one(
        HARBOUR_ONLY_STORY,
        "Berth nine flooded",
        Breaking,
        Some(future),
    )
    .await;
    let _s2 = submit_one(
        HARBOUR_STORY,
        "The strike fund ran dry",
        Routine,
        Some(past(1)),
    )
    .await;
    let _h3 = submit_one(
        HARBOUR_ONLY_STORY,
        "Night shifts were cut",
        Urgent,
        Some(past(1)),
    )
    .await;
    let _s3 = submit_one(HARBOUR_STORY, "Police cleared gate four", Breaking, None).await;
    let _h4 = submit_one(
        HARBOUR_ONLY_STORY,
        "The harbour dredger broke down",
        Routine,
        None,
    )
    .await;

    let all = queue_stats(&mut client, "").await;
    let elapsed = started.elapsed();
    assert_stats(&all, "", [7, 0, 0, 0, 0, 0], [2, 2, 3], Some(&h1), 3);
    assert!(
        age(&all) <= elapsed,
        "{:?} is at most the {elapsed:?} since the first submission",
        age(&all)
    );

    assert_story_stats(
        &mut client,
        HARBOUR_ONLY_STORY,
        [4, 0, 0, 0, 0, 0],
        [1, 1, 2],
        Some(&h1),
        1,
    )
    .await;
    assert_story_stats(
        &mut client,
        HARBOUR_STORY,
        [3, 0, 0, 0, 0, 0],
        [1, 1, 1],
        Some(&s1),
        2,
    )
    .await;
    assert_story_stats(&mut client, FERRY_STORY, [0; 6], [0; 3], None, 0).await;

    // Taking the breaking harbour claim: it no longer waits; its deadline
    // is ahead, so nothing changes for overdue.
    let taken = take_next(&mut client, "checker-kofi", HARBOUR_ONLY_STORY, &[])
        .await
        .expect("a claim");
    assert_eq!(taken.name, h2.name);
    assert_story_stats(
        &mut client,
        HARBOUR_ONLY_STORY,
        [3, 1, 0, 0, 0, 0],
        [0, 1, 2],
        Some(&h1),
        1,
    )
    .await;
    assert_story_stats(
        &mut client,
        HARBOUR_STORY,
        [3, 0, 0, 0, 0, 0],
        [1, 1, 1],
        Some(&s1),
        2,
    )
    .await;
}

#[tokio::test]
async fn overdue_counts_only_unverified_and_in_review_claims_past_their_deadline() {
    let (_server, mut client) = TestServer::with_client().await;
    let past = SystemTime::now() - 3 * HOUR;
    let future = SystemTime::now() + 3 * HOUR;
    let mut submit_one = async |statement: &str, deadline| {
        submit_queued(
            &mut client,
            FERRY_STORY,
            statement,
            claim::Priority::Routine,
            deadline,
        )
        .await
        .name
    };
    let late_waiting = submit_one("The morning ferry was late", Some(past)).await;
    let late_in_review = submit_one("The ferry skipped a stop", Some(past)).await;
    let late_verified = submit_one("The ferry carried a horse", Some(past)).await;
    let late_withdrawn = submit_one("The ferry changed captains", Some(past)).await;
    let _on_time = submit_one("The ferry will get a new ramp", Some(future)).await;
    let _no_deadline = submit_one("The ferry was repainted", None).await;

    start_review(&mut client, "checker-kofi", &late_in_review).await;
    start_review(&mut client, "checker-kofi", &late_verified).await;
    add_evidence(&mut client, "checker-kofi", &late_verified, supporting()).await;
    verify(
        &mut client,
        "checker-kofi",
        &late_verified,
        "the stable confirms",
    )
    .await;
    withdraw(
        &mut client,
        "editor-ines",
        &late_withdrawn,
        "cut from the copy",
    )
    .await;

    let stats = queue_stats(&mut client, "").await;
    assert_eq!(
        stats.overdue_count, 2,
        "the waiting and the in-review late claims: {stats:?}"
    );
    let stats = queue_stats(&mut client, FERRY_STORY).await;
    assert_eq!(stats.overdue_count, 2, "{stats:?}");

    reopen(&mut client, "editor-ines", &late_verified, REOPEN_REASON).await;
    assert_eq!(
        queue_stats(&mut client, "").await.overdue_count,
        3,
        "a reopened late claim is overdue again"
    );
    withdraw(&mut client, "editor-ines", &late_in_review, "cut").await;
    withdraw(&mut client, "editor-ines", &late_waiting, "cut").await;
    assert_eq!(queue_stats(&mut client, "").await.overdue_count, 1);
}

/// Checks the stats of the ferry story, and of all stories (the same: the
/// ferry story is the only one), after `step`.
async fn check(
    client: &mut Client,
    states: [i64; 6],
    waiting: [i64; 3],
    oldest: Option<&Claim>,
    step: &str,
) {
    /// Names the step of a failing check.
    struct Step<'a>(&'a str);
    impl Drop for Step<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!("the stats were wrong after {}", self.0);
            }
        }
    }
    let _step = Step(step);
    for story in [FERRY_STORY, ""] {
        assert_story_stats(client, story, states, waiting, oldest, 0).await;
    }
}

#[tokio::test]
async fn queue_stats_follow_every_transition() {
    use claim::Priority::{Breaking, Routine, Urgent};
    let (_server, mut client) = TestServer::with_client().await;
    let mut submit_one = async |statement: &str, priority| {
        submit_queued(&mut client, FERRY_STORY, statement, priority, None).await
    };
    let a = submit_one("The ferry ran on biodiesel", Routine).await;
    let b = submit_one("The ferry's bell was stolen", Urgent).await;
    let c = submit_one("The ferry hit a swan", Breaking).await;
    let d = submit_one("The ferry's cafe closed", Routine).await;
    let e = submit_one("The ferry carried the mayor", Urgent).await;
    let client = &mut client;
    check(
        client,
        [5, 0, 0, 0, 0, 0],
        [1, 2, 2],
        Some(&a),
        "submitting",
    )
    .await;

    assert_eq!(take(client, "checker-kofi").await.name, c.name);
    check(client, [4, 1, 0, 0, 0, 0], [0, 2, 2], Some(&a), "taking c").await;
    assert_eq!(take(client, "checker-kofi").await.name, b.name);
    check(client, [3, 2, 0, 0, 0, 0], [0, 1, 2], Some(&a), "taking b").await;
    release(client, "checker-kofi", &b.name).await;
    check(
        client,
        [4, 1, 0, 0, 0, 0],
        [0, 2, 2],
        Some(&a),
        "releasing b",
    )
    .await;
    start_review(client, "checker-lena", &a.name).await;
    check(
        client,
        [3, 2, 0, 0, 0, 0],
        [0, 2, 1],
        Some(&b),
        "starting review of a",
    )
    .await;

    add_evidence(client, "checker-kofi", &c.name, supporting()).await;
    check(
        client,
        [3, 2, 0, 0, 0, 0],
        [0, 2, 1],
        Some(&b),
        "adding evidence to c",
    )
    .await;
    verify(client, "checker-kofi", &c.name, "the warden saw it").await;
    check(
        client,
        [3, 1, 1, 0, 0, 0],
        [0, 2, 1],
        Some(&b),
        "verifying c",
    )
    .await;
    reopen(client, "editor-ines", &c.name, REOPEN_REASON).await;
    check(
        client,
        [4, 1, 0, 0, 0, 0],
        [1, 2, 1],
        Some(&b),
        "reopening c",
    )
    .await;
    withdraw(client, "editor-ines", &d.name, "cut from the copy").await;
    check(
        client,
        [3, 1, 0, 0, 0, 1],
        [1, 2, 0],
        Some(&b),
        "withdrawing d (waiting)",
    )
    .await;
    withdraw(client, "editor-ines", &a.name, "cut from the copy").await;
    check(
        client,
        [3, 0, 0, 0, 0, 2],
        [1, 2, 0],
        Some(&b),
        "withdrawing a (in review)",
    )
    .await;

    assert_eq!(take(client, "checker-kofi").await.name, c.name);
    add_evidence(client, "checker-kofi", &c.name, refuting()).await;
    dispute(client, "checker-kofi", &c.name, DISPUTE_NOTE).await;
    check(
        client,
        [2, 0, 0, 1, 0, 2],
        [0, 2, 0],
        Some(&b),
        "disputing c",
    )
    .await;
    assert_eq!(take(client, "checker-kofi").await.name, b.name);
    check(
        client,
        [1, 1, 0, 1, 0, 2],
        [0, 1, 0],
        Some(&e),
        "taking b again",
    )
    .await;
    mark_inconclusive(client, "checker-kofi", &b.name).await;
    check(
        client,
        [1, 0, 0, 1, 1, 2],
        [0, 1, 0],
        Some(&e),
        "marking b inconclusive",
    )
    .await;
    assert_eq!(take(client, "checker-kofi").await.name, e.name);
    check(
        client,
        [0, 1, 0, 1, 1, 2],
        [0, 0, 0],
        None,
        "taking e, the last waiting claim",
    )
    .await;
    add_evidence(client, "checker-kofi", &e.name, supporting()).await;
    verify(
        client,
        "checker-kofi",
        &e.name,
        "the mayor's office confirms",
    )
    .await;
    check(client, [0, 0, 1, 1, 1, 2], [0, 0, 0], None, "verifying e").await;
}

#[tokio::test]
async fn queue_stats_survive_a_restart() {
    use claim::Priority::{Breaking, Routine, Urgent};
    let (server, mut client) = TestServer::with_client().await;
    let past = SystemTime::now() - HOUR;
    let mut submit_one = async |story: &str, statement: &str, priority, deadline| {
        submit_queued(&mut client, story, statement, priority, deadline).await
    };
    let oldest = submit_one(FERRY_STORY, "The ferry's ramp jammed", Routine, Some(past)).await;
    submit_one(FERRY_STORY, "The ferry lost a lifeboat", Breaking, None).await;
    submit_one(HARBOUR_STORY, "Dockers voted to return", Urgent, Some(past)).await;
    let ruled = submit_one(HARBOUR_STORY, "The vote was unanimous", Routine, None).await;
    submit_one(FERRY_STORY, "The ferry's captain retired", Urgent, None).await;
    take(&mut client, "checker-kofi").await;
    start_review(&mut client, "checker-kofi", &ruled.name).await;
    mark_inconclusive(&mut client, "checker-kofi", &ruled.name).await;
    let stories = ["", FERRY_STORY, HARBOUR_STORY];
    let mut before = Vec::new();
    for story in stories {
        before.push(queue_stats(&mut client, story).await);
    }
    assert_stats(
        &before[0],
        "",
        [3, 1, 0, 0, 1, 0],
        [0, 2, 1],
        Some(&oldest),
        2,
    );
    drop(client);

    let server = server.restart().await;
    let mut client = server.client().await;
    for (story, before) in stories.into_iter().zip(&before) {
        let after = queue_stats(&mut client, story).await;
        assert_eq!(after.story, before.story);
        assert_eq!(state_counts(&after), state_counts(before), "{story:?}");
        assert_eq!(waiting_counts(&after), waiting_counts(before), "{story:?}");
        assert_eq!(
            after.oldest_waiting_submit_time, before.oldest_waiting_submit_time,
            "{story:?}"
        );
        assert!(
            after.oldest_waiting_age.is_some(),
            "{story:?}: a claim still waits"
        );
        assert_eq!(after.overdue_count, before.overdue_count, "{story:?}");
    }
}
