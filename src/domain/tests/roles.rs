//! Roles that depend on the claim: withdrawing and reassigning.

use super::*;

#[test]
fn only_the_submitter_or_a_chief_may_withdraw_a_claim() {
    for state in [State::Unverified, State::InReview, State::Verified] {
        let claim = claim_in(state);
        for role in [Role::Editor, Role::Checker] {
            let (next, _) = claim
                .apply(
                    command_for(Action::Withdraw).unwrap(),
                    &Actor::new(submitter(), role),
                    now(),
                )
                .unwrap_or_else(|e| panic!("the submitter as {role} withdraws: {e}"));
            assert_eq!(next.state, State::Withdrawn);
            let error = claim
                .apply(
                    command_for(Action::Withdraw).unwrap(),
                    &Actor::new(other(), role),
                    now(),
                )
                .expect_err("another editor or checker withdrew the claim");
            assert_eq!(
                error,
                DomainError::RoleRequired {
                    action: Action::Withdraw,
                    role: Role::Chief,
                },
                "{role} from {state:?}"
            );
            assert_eq!(
                error.to_string(),
                "only its submitter or a chief may withdraw a claim"
            );
        }
        let (next, event) = claim
            .apply(
                command_for(Action::Withdraw).unwrap(),
                &chief(other()),
                now(),
            )
            .expect("a chief withdraws any claim");
        assert_eq!(next.state, State::Withdrawn);
        assert_eq!(event.actor, other());
    }
}

#[test]
fn a_chief_reassigns_a_claim_in_review_with_a_fresh_lease_for_the_new_checker() {
    let claim = claim_in(State::InReview);
    let (next, event) = claim
        .apply(
            command_for(Action::Reassign).unwrap(),
            &chief(submitter()),
            at(500),
        )
        .expect("a chief reassigns");
    assert_eq!(next.state, State::InReview);
    assert_eq!(next.assignee, Some(other()));
    assert_eq!(
        next.lease,
        Some(Lease {
            expires: at(500) + START_LEASE,
            duration: START_LEASE,
        })
    );
    assert_eq!(event.action, Action::Reassign);
    assert_eq!(event.actor, submitter(), "the chief is the actor");
    assert_eq!(
        event.assignee,
        Some(other()),
        "the history names the new checker"
    );

    // The new checker may now rule; the old one may not.
    let mut ready = next.clone();
    ready.evidence = many_evidence(1);
    assert!(
        ready
            .apply(
                command_for(Action::MarkInconclusive).unwrap(),
                &by(other()),
                at(600)
            )
            .is_ok()
    );
    assert!(matches!(
        next.apply(
            command_for(Action::MarkInconclusive).unwrap(),
            &by(checker()),
            at(600)
        ),
        Err(DomainError::NotAssignee { .. })
    ));
}

#[test]
fn only_a_chief_may_reassign_even_the_assignee_may_not() {
    for actor in [
        by(checker()),
        by(other()),
        Actor::new(submitter(), Role::Editor),
    ] {
        let error = claim_in(State::InReview)
            .apply(command_for(Action::Reassign).unwrap(), &actor, now())
            .expect_err("reassigned without being a chief");
        assert_eq!(
            error,
            DomainError::RoleRequired {
                action: Action::Reassign,
                role: Role::Chief,
            },
            "{actor:?}"
        );
        assert_eq!(error.to_string(), "only a chief may reassign a claim");
    }
}

#[test]
fn a_reassigned_claim_no_longer_tells_its_expired_holder_their_lease_ran_out() {
    let (back, _) = in_review_with_lease_run_out()
        .apply(Command::ExpireLease, &Actor::system(), after_expiry())
        .unwrap();
    let (taken, _) = back
        .apply(
            command_for(Action::StartReview).unwrap(),
            &by(other()),
            after_expiry(),
        )
        .unwrap();
    let (reassigned, _) = taken
        .apply(
            Command::Reassign {
                to: researcher(),
                lease: START_LEASE,
                note: Note::default(),
            },
            &chief(submitter()),
            after_expiry(),
        )
        .unwrap();
    assert_eq!(reassigned.expired_holder, None);
    assert_eq!(reassigned.assignee, Some(researcher()));
}
