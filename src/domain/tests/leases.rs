//! Review leases.

use super::*;

#[test]
fn start_review_leases_the_claim_to_the_actor_for_the_given_duration() {
    let three_quarters_of_an_hour = Duration::from_secs(45 * 60);
    let (next, event) = submitted()
        .apply(
            Command::StartReview {
                lease: three_quarters_of_an_hour,
            },
            &by(other()),
            now(),
        )
        .unwrap();
    assert_eq!(next.state, State::InReview);
    assert_eq!(next.assignee, Some(other()));
    assert_eq!(
        next.lease,
        Some(Lease {
            expires: now() + three_quarters_of_an_hour,
            duration: three_quarters_of_an_hour,
        })
    );
    assert_eq!(event.action, Action::StartReview);
    assert_eq!(event.actor, other());
    assert_eq!(event.from, Some(State::Unverified));
    assert_eq!(event.to, State::InReview);
}

#[test]
fn any_action_of_the_assignee_renews_the_lease() {
    let claim = claim_in(State::InReview);
    let later = at(600);
    assert!(!claim.lease.unwrap().has_expired(later));

    let (renewed, _) = claim
        .apply(
            command_for(Action::AddEvidence).unwrap(),
            &by(checker()),
            later,
        )
        .unwrap();
    assert_eq!(
        renewed.lease,
        Some(Lease {
            expires: later + FIXTURE_LEASE,
            duration: FIXTURE_LEASE,
        })
    );

    // Evidence from someone else leaves the assignee's lease as it was.
    let (kept, _) = claim
        .apply(
            command_for(Action::AddEvidence).unwrap(),
            &by(researcher()),
            later,
        )
        .unwrap();
    assert_eq!(kept.lease, claim.lease);
    assert_eq!(kept.assignee, Some(checker()));
}

#[test]
fn renewing_needs_the_assignee() {
    let claim = claim_in(State::InReview);
    for someone in [other(), researcher(), submitter(), UserName::system()] {
        let error = claim
            .apply(Command::RenewLease, &by(someone.clone()), now())
            .unwrap_err();
        assert_eq!(
            error,
            DomainError::NotAssignee {
                action: Action::RenewLease,
                assignee: Some(checker()),
            },
            "renewed by {someone}"
        );
    }
    let error = claim
        .apply(Command::RenewLease, &by(other()), now())
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "only the assignee (Ana Ferreira) may renew the lease of this claim"
    );
}

#[test]
fn renew_lease_extends_from_now() {
    // Renewed shortly before it runs out, the lease lasts its duration from
    // the renewal, not from the old expiry.
    let (claim, event) = claim_in(State::InReview)
        .apply(Command::RenewLease, &by(checker()), at(900))
        .unwrap();
    assert_eq!(
        claim.lease,
        Some(Lease {
            expires: at(1_800),
            duration: FIXTURE_LEASE,
        })
    );
    assert_eq!(claim.state, State::InReview);
    assert_eq!(claim.assignee, Some(checker()));
    assert_eq!(claim.update_time, at(900));
    assert_eq!(
        event,
        EventDraft {
            link: None,
            acknowledged: Vec::new(),
            action: Action::RenewLease,
            actor: checker(),
            time: at(900),
            from: Some(State::InReview),
            to: State::InReview,
            note: Note::default(),
            evidence: None,
            assignee: None,
        }
    );

    // Renewing again keeps the same duration rather than adding up.
    let (claim, _) = claim
        .apply(Command::RenewLease, &by(checker()), at(1_700))
        .unwrap();
    assert_eq!(
        claim.lease,
        Some(Lease {
            expires: at(2_600),
            duration: FIXTURE_LEASE,
        })
    );
}

#[test]
fn release_verdicts_and_withdraw_end_the_lease() {
    for (action, actor, to) in [
        (Action::Release, checker(), State::Unverified),
        (Action::Verify, checker(), State::Verified),
        (Action::Dispute, checker(), State::Disputed),
        (Action::MarkInconclusive, checker(), State::Inconclusive),
        (Action::Withdraw, checker(), State::Withdrawn),
        (Action::Withdraw, submitter(), State::Withdrawn),
    ] {
        let (next, _) = claim_in(State::InReview)
            .apply(command_for(action).unwrap(), &chief(actor.clone()), now())
            .unwrap();
        assert_eq!(next.state, to, "{action:?} by {actor}");
        assert_eq!(next.lease, None, "{action:?} by {actor}");
        assert_eq!(next.expired_holder, None, "{action:?} by {actor}");
    }
}

#[test]
fn expiring_before_the_lease_runs_out_is_refused() {
    let claim = claim_in(State::InReview);
    for time in [now(), at(999)] {
        let error = claim
            .apply(Command::ExpireLease, &Actor::system(), time)
            .unwrap_err();
        assert_eq!(error, DomainError::LeaseNotExpired, "at {time:?}");
        assert_eq!(error.to_string(), "the review lease has not expired yet");
    }
}

#[test]
fn expiring_after_returns_the_claim_unassigned_to_unverified() {
    let claim = claim_in(State::InReview);
    let (next, event) = claim
        .apply(Command::ExpireLease, &Actor::system(), after_expiry())
        .unwrap();
    assert_eq!(next.state, State::Unverified);
    assert_eq!(next.assignee, None);
    assert_eq!(next.lease, None);
    assert_eq!(next.expired_holder, Some(checker()));
    assert_eq!(next.evidence, claim.evidence, "evidence survives expiry");
    assert_eq!(next.update_time, after_expiry());
    assert_eq!(next.label(), "unverified (per Reuters)");
    assert_eq!(
        event,
        EventDraft {
            link: None,
            acknowledged: Vec::new(),
            action: Action::ExpireLease,
            actor: UserName::system(),
            time: after_expiry(),
            from: Some(State::InReview),
            to: State::Unverified,
            note: Note::default(),
            evidence: None,
            assignee: None,
        }
    );
}

#[test]
fn the_holder_and_the_system_agree_on_the_instant_a_lease_runs_out() {
    // Up to the instant before expiry the holder may act and the system may
    // not expire; from the expiry instant on it is the other way round.
    let claim = claim_in(State::InReview);
    let just_before = at(999);
    assert!(verify_at(&claim, just_before).is_ok());
    assert_eq!(
        claim
            .apply(Command::ExpireLease, &Actor::system(), just_before)
            .unwrap_err(),
        DomainError::LeaseNotExpired
    );

    assert_eq!(
        verify_at(&claim, lease_expiry()).unwrap_err(),
        DomainError::LeaseExpired { holder: checker() }
    );
    assert!(
        claim
            .apply(Command::ExpireLease, &Actor::system(), lease_expiry())
            .is_ok()
    );
}

fn verify_at(claim: &Claim, time: SystemTime) -> Result<(Claim, EventDraft), DomainError> {
    claim.apply(command_for(Action::Verify).unwrap(), &by(checker()), time)
}

#[test]
fn the_holder_of_an_expired_lease_gets_lease_expired_even_before_the_system_returns_the_claim() {
    let claim = in_review_with_lease_run_out();
    assert_eq!(claim.state, State::InReview);
    assert_eq!(claim.assignee, Some(checker()));
    for action in [
        Action::Verify,
        Action::Release,
        Action::RenewLease,
        Action::Dispute,
        Action::MarkInconclusive,
    ] {
        let error = claim
            .apply(command_for(action).unwrap(), &by(checker()), now())
            .unwrap_err();
        assert_eq!(
            error,
            DomainError::LeaseExpired { holder: checker() },
            "{action:?}"
        );
        assert_eq!(
            error.to_string(),
            "the review lease of Ana Ferreira has expired; take the claim again"
        );
    }
    // The system may now return it.
    let (next, _) = claim
        .apply(Command::ExpireLease, &Actor::system(), now())
        .unwrap();
    assert_eq!(next.state, State::Unverified);
}

#[test]
fn someone_else_is_told_they_are_not_the_assignee_of_a_claim_whose_lease_ran_out() {
    let claim = in_review_with_lease_run_out();
    let error = claim
        .apply(command_for(Action::Verify).unwrap(), &by(other()), now())
        .unwrap_err();
    assert_eq!(
        error,
        DomainError::NotAssignee {
            action: Action::Verify,
            assignee: Some(checker()),
        }
    );
}

#[test]
fn a_stale_holder_gets_lease_expired_after_the_claim_went_back() {
    let (back, _) = claim_in(State::InReview)
        .apply(Command::ExpireLease, &Actor::system(), after_expiry())
        .unwrap();

    // Verifying an unverified claim would be an invalid transition for
    // anyone else; the old holder learns that their lease ran out.
    assert_eq!(
        verify_at(&back, at(1_600)).unwrap_err(),
        DomainError::LeaseExpired { holder: checker() }
    );
    assert_eq!(
        back.apply(
            command_for(Action::Verify).unwrap(),
            &by(other()),
            at(1_600)
        )
        .unwrap_err(),
        DomainError::InvalidTransition {
            action: Action::Verify,
            state: State::Unverified,
        }
    );

    // Someone else takes it: the old holder still hears about their lease,
    // while the new assignee can act.
    let (taken, _) = back
        .apply(
            command_for(Action::StartReview).unwrap(),
            &by(other()),
            at(1_700),
        )
        .unwrap();
    assert_eq!(taken.assignee, Some(other()));
    assert_eq!(
        verify_at(&taken, at(1_800)).unwrap_err(),
        DomainError::LeaseExpired { holder: checker() }
    );
    let (ruled, event) = taken
        .apply(
            command_for(Action::Verify).unwrap(),
            &by(other()),
            at(1_800),
        )
        .unwrap();
    assert_eq!(ruled.state, State::Verified);
    assert_eq!(ruled.assignee, Some(other()));
    assert_eq!(event.actor, other());
}

#[test]
fn the_old_holder_may_take_the_claim_again_after_it_went_back() {
    let (back, _) = claim_in(State::InReview)
        .apply(Command::ExpireLease, &Actor::system(), after_expiry())
        .unwrap();
    let (taken, _) = back
        .apply(
            command_for(Action::StartReview).unwrap(),
            &by(checker()),
            at(1_600),
        )
        .unwrap();
    assert_eq!(taken.assignee, Some(checker()));
    assert_eq!(
        taken.lease,
        Some(Lease {
            expires: at(1_600) + START_LEASE,
            duration: START_LEASE,
        })
    );
    let (ruled, _) = verify_at(&taken, at(1_700)).unwrap();
    assert_eq!(ruled.state, State::Verified);
}

#[test]
fn an_expiry_event_carries_the_story_of_its_claim() {
    let (claim, draft) = claim_in(State::InReview)
        .apply(Command::ExpireLease, &Actor::system(), after_expiry())
        .unwrap();
    let event = draft.with_revision(&claim, 9);
    assert_eq!(event.revision, 9);
    assert_eq!(event.claim_id, claim_id());
    assert_eq!(event.story, Slug::parse("valdoria-kelmar-buildup").unwrap());
    assert_eq!(event.action, Action::ExpireLease);
    assert_eq!(event.actor, UserName::system());
}

#[test]
fn only_the_system_expires_leases() {
    let error = in_review_with_lease_run_out()
        .apply(Command::ExpireLease, &by(checker()), after_expiry())
        .unwrap_err();
    assert_eq!(
        error,
        DomainError::SystemOnly {
            action: Action::ExpireLease
        }
    );
}

#[test]
fn the_holder_of_a_run_out_lease_cannot_revive_it_by_adding_evidence() {
    let error = in_review_with_lease_run_out()
        .apply(
            command_for(Action::AddEvidence).unwrap(),
            &by(checker()),
            now(),
        )
        .unwrap_err();
    assert_eq!(error, DomainError::LeaseExpired { holder: checker() });
}

#[test]
fn the_lost_lease_marker_ends_when_the_old_holder_takes_the_claim_again() {
    let (returned, _) = in_review_with_lease_run_out()
        .apply(Command::ExpireLease, &Actor::system(), after_expiry())
        .unwrap();
    assert_eq!(returned.expired_holder, Some(checker()));
    let (retaken, _) = returned
        .apply(
            command_for(Action::StartReview).unwrap(),
            &by(checker()),
            after_expiry(),
        )
        .unwrap();
    assert_eq!(retaken.expired_holder, None);
    let (released, _) = retaken
        .apply(
            command_for(Action::Release).unwrap(),
            &by(checker()),
            after_expiry(),
        )
        .unwrap();
    // Now an ordinary rule answers, not the old lease.
    let error = released
        .apply(
            command_for(Action::Verify).unwrap(),
            &by(checker()),
            after_expiry(),
        )
        .unwrap_err();
    assert!(
        matches!(error, DomainError::InvalidTransition { .. }),
        "{error:?}"
    );
}

#[test]
fn leases_longer_than_a_day_are_cut_to_a_day() {
    let lease = Lease::starting(now(), Duration::MAX);
    assert_eq!(lease.duration, Lease::MAX);
    assert_eq!(lease.expires, now() + Lease::MAX);
}
