//! The order of checks: lease, then state, then assignee, then evidence.

use super::*;

#[test]
fn a_forbidden_state_wins_over_a_wrong_assignee() {
    for state in State::ALL {
        for action in ASSIGNEE_ONLY {
            if expected_after(state, action).is_some() {
                continue;
            }
            let mut claim = claim_in(state);
            claim.evidence.clear();
            let error = claim
                .apply(command_for(action).unwrap(), &by(other()), now())
                .unwrap_err();
            assert_eq!(
                error,
                DomainError::InvalidTransition { action, state },
                "{action:?} by a non-assignee from {state:?}"
            );
        }
    }
}

#[test]
fn a_wrong_assignee_wins_over_missing_evidence() {
    let claim = in_review_with(vec![]);
    for action in [Action::Verify, Action::Dispute] {
        let error = claim
            .apply(command_for(action).unwrap(), &by(other()), now())
            .unwrap_err();
        assert_eq!(
            error,
            DomainError::NotAssignee {
                action,
                assignee: Some(checker()),
            },
            "{action:?}"
        );
    }
}

#[test]
fn missing_evidence_is_reported_to_the_assignee() {
    let claim = in_review_with(vec![]);
    assert_eq!(
        verify(&claim).unwrap_err(),
        DomainError::NoIndependentEvidence
    );
    assert_eq!(
        dispute(&claim).unwrap_err(),
        DomainError::NoRefutingEvidence
    );
}

#[test]
fn a_forbidden_state_wins_over_too_much_evidence() {
    let mut claim = claim_in(State::Disputed);
    claim.evidence = many_evidence(MAX_EVIDENCE_PER_CLAIM);
    let error = claim
        .apply(
            command_for(Action::AddEvidence).unwrap(),
            &by(researcher()),
            now(),
        )
        .unwrap_err();
    assert_eq!(
        error,
        DomainError::InvalidTransition {
            action: Action::AddEvidence,
            state: State::Disputed,
        }
    );
}

#[test]
fn a_lost_lease_wins_over_a_forbidden_state() {
    // Back in the queue, the claim allows none of these actions to anyone;
    // its old holder is told why they lost it instead.
    let (claim, _) = claim_in(State::InReview)
        .apply(Command::ExpireLease, &Actor::system(), after_expiry())
        .unwrap();
    assert_eq!(claim.state, State::Unverified);
    for action in ASSIGNEE_ONLY {
        assert_eq!(State::Unverified.after(action), None, "{action:?}");
        let error = claim
            .apply(command_for(action).unwrap(), &by(checker()), after_expiry())
            .unwrap_err();
        assert_eq!(
            error,
            DomainError::LeaseExpired { holder: checker() },
            "{action:?}"
        );
    }
}

#[test]
fn a_lost_lease_wins_over_a_wrong_assignee() {
    let (expired, _) = claim_in(State::InReview)
        .apply(Command::ExpireLease, &Actor::system(), after_expiry())
        .unwrap();
    let (taken, _) = expired
        .apply(
            command_for(Action::StartReview).unwrap(),
            &by(other()),
            at(1_600),
        )
        .unwrap();
    for action in ASSIGNEE_ONLY {
        let error = taken
            .apply(command_for(action).unwrap(), &by(checker()), at(1_700))
            .unwrap_err();
        assert_eq!(
            error,
            DomainError::LeaseExpired { holder: checker() },
            "{action:?}"
        );
    }
}

#[test]
fn an_expired_lease_wins_over_missing_evidence() {
    let mut claim = in_review_with_lease_run_out();
    claim.evidence.clear();
    for action in [Action::Verify, Action::Dispute] {
        let error = claim
            .apply(command_for(action).unwrap(), &by(checker()), now())
            .unwrap_err();
        assert_eq!(
            error,
            DomainError::LeaseExpired { holder: checker() },
            "{action:?}"
        );
    }
}

#[test]
fn a_forbidden_state_wins_over_a_lease_that_has_not_run_out() {
    // Only a claim in review can be expired; elsewhere the refusal is about
    // the state, not about a lease the claim does not have.
    for state in State::ALL {
        if state == State::InReview {
            continue;
        }
        let error = claim_in(state)
            .apply(Command::ExpireLease, &Actor::system(), after_expiry())
            .unwrap_err();
        assert_eq!(
            error,
            DomainError::InvalidTransition {
                action: Action::ExpireLease,
                state,
            },
            "from {state:?}"
        );
    }
}
