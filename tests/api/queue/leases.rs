//! Review leases through the API, and the lease sweeper of a running server.

use super::*;

#[tokio::test]
async fn start_review_leases_the_claim_to_the_checker_for_the_desk_lease() {
    let (_server, mut client) = TestServer::with_client().await;
    let submitted = submit_ferry(&mut client, "The new ferry holds 600").await;
    assert_eq!(
        submitted.lease_expire_time, None,
        "a waiting claim has no lease"
    );

    let before = SystemTime::now();
    let taken = start_review(&mut client, "checker-kofi", &submitted.name).await;
    let after = SystemTime::now();

    assert_eq!(taken.state(), claim::State::InReview);
    assert_eq!(taken.assignee, "checker-kofi");
    let expires = lease_of(&taken);
    assert_eq!(expires, time(&taken.update_time) + LEASE);
    assert!(
        before + LEASE <= expires && expires <= after + LEASE,
        "{expires:?} is the desk lease from now"
    );
    assert_eq!(
        get(&mut client, &submitted.name).await.lease_expire_time,
        taken.lease_expire_time
    );
}

#[tokio::test]
async fn renew_lease_by_the_assignee_moves_the_expiry_forward_and_records_a_lease_renewed_event() {
    let (_server, mut client) = TestServer::with_client().await;
    let submitted = submit_ferry(&mut client, "The ferry crew numbers twelve").await;
    let taken = take(&mut client, "checker-kofi").await;

    let renewed = renew_lease(&mut client, "checker-kofi", &submitted.name, "")
        .await
        .expect("the assignee renews the lease");

    assert_eq!(renewed.state(), claim::State::InReview);
    assert_eq!(renewed.assignee, "checker-kofi");
    assert!(
        lease_of(&renewed) > lease_of(&taken),
        "the lease moved forward"
    );
    assert_eq!(lease_of(&renewed), time(&renewed.update_time) + LEASE);
    assert_ne!(renewed.etag, taken.etag, "a renewal is a change");
    assert_eq!(get(&mut client, &submitted.name).await, renewed);

    let history = events_of(&mut client, &submitted.name).await;
    let types: Vec<_> = history.iter().map(|e| e.r#type()).collect();
    assert_eq!(
        types,
        [
            claim_event::Type::Submitted,
            claim_event::Type::ReviewStarted,
            claim_event::Type::LeaseRenewed
        ]
    );
    let event = &history[2];
    assert_eq!(event.actor, "checker-kofi");
    assert_eq!(event.from_state(), claim::State::InReview);
    assert_eq!(event.to_state(), claim::State::InReview);
    assert_eq!(event.event_time, renewed.update_time);
    assert_eq!(event.story, FERRY_STORY);

    // A renewal is conditional on the etag like any other change.
    let (_, details) = expect_error(
        renew_lease(&mut client, "checker-kofi", &submitted.name, &taken.etag).await,
        Code::Aborted,
        "ETAG_MISMATCH",
    );
    assert_eq!(error_metadata(&details, "etag"), Some(renewed.etag.clone()));
    let again = renew_lease(&mut client, "checker-kofi", &submitted.name, &renewed.etag)
        .await
        .expect("a renewal with the current etag succeeds");
    assert!(lease_of(&again) > lease_of(&renewed));
}

#[tokio::test]
async fn renew_lease_by_anyone_but_the_assignee_is_refused() {
    let (_server, mut client) = TestServer::with_client().await;
    let submitted = submit_ferry(&mut client, "The ferry burns diesel").await;
    let waiting = submit_ferry(&mut client, "The ferry has a bar").await;
    let taken = start_review(&mut client, "checker-kofi", &submitted.name).await;

    let (_, details) = expect_error(
        renew_lease(&mut client, "checker-lena", &submitted.name, "").await,
        Code::FailedPrecondition,
        "NOT_ASSIGNEE",
    );
    assert_eq!(
        error_metadata(&details, "assignee").as_deref(),
        Some("checker-kofi")
    );
    assert_eq!(
        get(&mut client, &submitted.name).await,
        taken,
        "the refused renewal changed nothing"
    );

    // Nobody holds a waiting claim: there is no lease to renew.
    expect_error(
        renew_lease(&mut client, "checker-kofi", &waiting.name, "").await,
        Code::FailedPrecondition,
        "INVALID_TRANSITION",
    );
    expect_error(
        renew_lease(&mut client, "checker-kofi", UNKNOWN_CLAIM, "").await,
        Code::NotFound,
        "CLAIM_NOT_FOUND",
    );
    expect_invalid_fields(
        renew_lease(&mut client, "checker-kofi", "ferry/1", "").await,
        &["name"],
    );
}

#[tokio::test]
async fn adding_evidence_renews_the_lease_of_the_assignee_only() {
    let (_server, mut client) = TestServer::with_client().await;
    let submitted = submit_ferry(&mut client, "The ferry crossed in 40 minutes").await;
    let taken = take(&mut client, "checker-kofi").await;

    let by_assignee =
        add_evidence(&mut client, "checker-kofi", &submitted.name, supporting()).await;
    assert!(
        lease_of(&by_assignee) > lease_of(&taken),
        "the assignee's action renews"
    );
    assert_eq!(
        lease_of(&by_assignee),
        time(&by_assignee.update_time) + LEASE
    );

    let by_other = add_evidence(&mut client, "checker-lena", &submitted.name, refuting()).await;
    assert!(
        time(&by_other.update_time) > time(&by_assignee.update_time),
        "the claim changed"
    );
    assert_eq!(
        by_other.lease_expire_time, by_assignee.lease_expire_time,
        "someone else's evidence does not renew the assignee's lease"
    );
    assert_eq!(by_other.assignee, "checker-kofi");
}

#[tokio::test]
async fn releasing_ruling_on_or_withdrawing_a_claim_ends_its_lease() {
    let (_server, mut client) = TestServer::with_client().await;
    let mut names = Vec::new();
    for statement in [
        "The ferry's radar failed",
        "The ferry's horn was heard in town",
        "The ferry left without its captain",
        "The ferry docked at the wrong pier",
    ] {
        names.push(submit_ferry(&mut client, statement).await.name);
    }
    let [to_release, to_rule, to_dispute, to_withdraw] = names.as_slice() else {
        unreachable!()
    };

    let taken = start_review(&mut client, "checker-kofi", to_release).await;
    lease_of(&taken);
    let released = release(&mut client, "checker-kofi", to_release).await;
    assert_eq!(released.lease_expire_time, None, "release ends the lease");

    start_review(&mut client, "checker-kofi", to_rule).await;
    add_evidence(&mut client, "checker-kofi", to_rule, supporting()).await;
    let verified = verify(
        &mut client,
        "checker-kofi",
        to_rule,
        "the authority confirms",
    )
    .await;
    assert_eq!(verified.state(), claim::State::Verified);
    assert_eq!(verified.lease_expire_time, None, "a ruling ends the lease");
    let reopened = reopen(&mut client, "editor-ines", to_rule, REOPEN_REASON).await;
    assert_eq!(reopened.lease_expire_time, None);
    start_review(&mut client, "checker-lena", to_rule).await;
    let inconclusive = mark_inconclusive(&mut client, "checker-lena", to_rule).await;
    assert_eq!(
        inconclusive.lease_expire_time, None,
        "a ruling ends the lease"
    );

    start_review(&mut client, "checker-kofi", to_dispute).await;
    add_evidence(&mut client, "checker-kofi", to_dispute, refuting()).await;
    let disputed = dispute(&mut client, "checker-kofi", to_dispute, DISPUTE_NOTE).await;
    assert_eq!(disputed.lease_expire_time, None, "a ruling ends the lease");

    start_review(&mut client, "checker-kofi", to_withdraw).await;
    let withdrawn = withdraw(&mut client, "editor-ines", to_withdraw, "cut from the copy").await;
    assert_eq!(
        withdrawn.lease_expire_time, None,
        "withdrawing ends the lease"
    );

    for name in [to_release, to_rule, to_dispute, to_withdraw] {
        assert_eq!(
            get(&mut client, name).await.lease_expire_time,
            None,
            "{name} is stored without a lease"
        );
    }
}

// ---------------------------------------------------------------------------
// 5. The lease sweeper of a running server.

#[tokio::test]
async fn the_server_returns_a_claim_whose_lease_ran_out_to_the_queue() {
    let lease = Duration::from_secs(1);
    let server = TestServer::spawn_with_desk(DeskConfig { lease }).await;
    let mut client = server.client().await;
    let submitted = submit_ferry(&mut client, "The ferry's engine was replaced").await;
    let mut events = watch_from_start(&mut client).await;

    let taken = take(&mut client, "checker-kofi").await;
    assert_eq!(taken.name, submitted.name);
    assert_eq!(lease_of(&taken), time(&taken.update_time) + lease);

    let (expired, before) = wait_for_event(&mut events, claim_event::Type::LeaseExpired).await;
    assert_eq!(
        before.iter().map(|e| e.r#type()).collect::<Vec<_>>(),
        [
            claim_event::Type::Submitted,
            claim_event::Type::ReviewStarted
        ]
    );
    assert_eq!(expired.claim, submitted.name);
    assert_eq!(expired.actor, "system");
    assert_eq!(expired.from_state(), claim::State::InReview);
    assert_eq!(expired.to_state(), claim::State::Unverified);
    assert_eq!(expired.story, FERRY_STORY);
    assert!(
        time(&expired.event_time) >= lease_of(&taken),
        "not before the lease ran out"
    );

    let back = get(&mut client, &submitted.name).await;
    assert_eq!(back.state(), claim::State::Unverified);
    assert_eq!(back.assignee, "");
    assert_eq!(back.lease_expire_time, None);
    assert_eq!(back.label, format!("unverified (per {FERRY_SOURCE})"));

    let (_, details) = expect_error(
        client
            .verify_claim(as_user(
                pb::VerifyClaimRequest {
                    name: submitted.name.clone(),
                    note: "too late".to_owned(),
                    etag: String::new(),
                    acknowledge_contradictions: false,
                },
                "checker-kofi",
            ))
            .await,
        Code::FailedPrecondition,
        "LEASE_EXPIRED",
    );
    assert_eq!(
        error_metadata(&details, "holder").as_deref(),
        Some("checker-kofi")
    );
    expect_error(
        renew_lease(&mut client, "checker-kofi", &submitted.name, "").await,
        Code::FailedPrecondition,
        "LEASE_EXPIRED",
    );

    let stats = queue_stats(&mut client, "").await;
    assert_eq!(state_counts(&stats), [1, 0, 0, 0, 0, 0]);
    let retaken = take(&mut client, "checker-lena").await;
    assert_eq!(retaken.name, submitted.name);
    assert_eq!(retaken.assignee, "checker-lena");
}

#[tokio::test]
async fn a_lease_taken_before_a_restart_runs_out_after_it() {
    let desk = DeskConfig {
        lease: Duration::from_secs(5),
    };
    let server = TestServer::spawn_with_desk(desk).await;
    let mut client = server.client().await;
    let submitted = submit_ferry(&mut client, "The ferry changed its flag").await;
    let taken = take(&mut client, "checker-kofi").await;
    drop(client);
    let restarted_at = SystemTime::now();
    let server = server.restart_with(|builder| builder.desk(desk)).await;
    let mut client = server.client().await;
    assert_eq!(
        get(&mut client, &submitted.name).await.lease_expire_time,
        taken.lease_expire_time,
        "the lease is stored"
    );
    let mut events = watch_from_start(&mut client).await;
    let (expired, _) = wait_for_event(&mut events, claim_event::Type::LeaseExpired).await;
    assert_eq!(expired.claim, submitted.name);
    assert_eq!(expired.actor, "system");
    assert!(
        time(&expired.event_time) >= restarted_at,
        "the restarted server expired the lease (the first one stopped within 5 s)"
    );
    assert_eq!(
        get(&mut client, &submitted.name).await.state(),
        claim::State::Unverified
    );
}
