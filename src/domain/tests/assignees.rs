//! Assignee rules.

use super::*;

#[test]
fn only_the_assignee_may_renew_or_rule_not_even_a_chief() {
    for action in ASSIGNEE_ONLY {
        if action == Action::Release {
            continue;
        }
        for actor in [by(other()), chief(other())] {
            let error = claim_in(State::InReview)
                .apply(command_for(action).unwrap(), &actor, now())
                .expect_err("someone other than the assignee was let through");
            assert_eq!(
                error,
                DomainError::NotAssignee {
                    action,
                    assignee: Some(checker()),
                },
                "{action:?} by {actor:?}"
            );
        }
    }
}

#[test]
fn another_checker_may_not_release_a_claim_in_review_but_a_chief_may() {
    let claim = claim_in(State::InReview);
    let error = claim
        .apply(command_for(Action::Release).unwrap(), &by(other()), now())
        .unwrap_err();
    assert_eq!(
        error,
        DomainError::RoleRequired {
            action: Action::Release,
            role: Role::Chief,
        }
    );
    assert_eq!(
        error.to_string(),
        "only the assignee or a chief may release a claim in review"
    );

    let (next, event) = claim
        .apply(
            command_for(Action::Release).unwrap(),
            &chief(other()),
            now(),
        )
        .expect("a chief releases another checker's claim");
    assert_eq!(next.state, State::Unverified);
    assert_eq!(next.assignee, None);
    assert_eq!(next.lease, None);
    assert_eq!(event.actor, other(), "the history names the chief");
}

#[test]
fn the_assignee_is_named_in_the_refusal() {
    let error = claim_in(State::InReview)
        .apply(command_for(Action::Verify).unwrap(), &by(other()), now())
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "only the assignee (Ana Ferreira) may verify this claim"
    );
}

#[test]
fn assignee_names_are_compared_exactly() {
    // "ana ferreira" is not "Ana Ferreira": user names are case-sensitive.
    let error = claim_in(State::InReview)
        .apply(
            command_for(Action::MarkInconclusive).unwrap(),
            &by(user("ana ferreira")),
            now(),
        )
        .unwrap_err();
    assert!(matches!(error, DomainError::NotAssignee { .. }), "{error}");
}

#[test]
fn a_claim_in_review_without_assignee_refuses_assignee_only_actions_to_all() {
    let mut claim = claim_in(State::InReview);
    claim.assignee = None;
    claim.lease = None;
    for action in ASSIGNEE_ONLY {
        let error = claim
            .apply(command_for(action).unwrap(), &by(checker()), now())
            .unwrap_err();
        if action == Action::Release {
            assert!(matches!(error, DomainError::RoleRequired { .. }), "{error}");
            continue;
        }
        assert_eq!(
            error,
            DomainError::NotAssignee {
                action,
                assignee: None,
            }
        );
        assert!(error.to_string().contains("(nobody)"), "{error}");
    }
}

#[test]
fn starting_review_assigns_the_actor() {
    let (next, event) = submitted()
        .apply(
            command_for(Action::StartReview).unwrap(),
            &by(other()),
            now(),
        )
        .unwrap();
    assert_eq!(next.state, State::InReview);
    assert_eq!(next.assignee, Some(other()));
    assert_eq!(event.actor, other());
    assert!(event.note.is_empty());
    assert_eq!(event.evidence, None);
}

#[test]
fn releasing_clears_the_assignee() {
    let (next, _) = claim_in(State::InReview)
        .apply(command_for(Action::Release).unwrap(), &by(checker()), now())
        .unwrap();
    assert_eq!(next.state, State::Unverified);
    assert_eq!(next.assignee, None);
}

#[test]
fn a_released_claim_can_be_taken_by_someone_else() {
    let (released, _) = claim_in(State::InReview)
        .apply(
            command_for(Action::Release).unwrap(),
            &by(checker()),
            at(150),
        )
        .unwrap();
    let (taken, _) = released
        .apply(
            command_for(Action::StartReview).unwrap(),
            &by(other()),
            now(),
        )
        .unwrap();
    assert_eq!(taken.assignee, Some(other()));
}

#[test]
fn reopening_clears_the_assignee_and_the_verdict_note() {
    for state in [State::Verified, State::Disputed, State::Inconclusive] {
        let claim = claim_in(state);
        assert!(!claim.verdict_note.is_empty());
        // Not only who ruled may reopen (who may at all is the API's
        // policy: chiefs).
        let (next, event) = claim
            .apply(command_for(Action::Reopen).unwrap(), &by(other()), now())
            .unwrap();
        assert_eq!(next.state, State::Unverified, "from {state:?}");
        assert_eq!(next.assignee, None, "from {state:?}");
        assert!(next.verdict_note.is_empty(), "from {state:?}");
        assert_eq!(next.evidence, claim.evidence, "evidence survives reopening");
        assert_eq!(event.actor, other());
    }
}

#[test]
fn withdrawing_a_claim_in_review_clears_the_assignee() {
    // The submitter may withdraw, even a claim someone else has in review.
    let (next, event) = claim_in(State::InReview)
        .apply(
            command_for(Action::Withdraw).unwrap(),
            &by(submitter()),
            now(),
        )
        .unwrap();
    assert_eq!(next.state, State::Withdrawn);
    assert_eq!(next.assignee, None);
    assert_eq!(event.actor, submitter());
}

#[test]
fn withdrawing_an_unverified_claim_leaves_it_unassigned() {
    let (next, _) = claim_in(State::Unverified)
        .apply(
            command_for(Action::Withdraw).unwrap(),
            &chief(other()),
            now(),
        )
        .unwrap();
    assert_eq!(next.state, State::Withdrawn);
    assert_eq!(next.assignee, None);
}

#[test]
fn withdrawing_a_ruled_claim_keeps_who_ruled_and_the_verdict_note() {
    for state in [State::Verified, State::Disputed, State::Inconclusive] {
        let (next, _) = claim_in(state)
            .apply(
                command_for(Action::Withdraw).unwrap(),
                &chief(other()),
                now(),
            )
            .unwrap();
        assert_eq!(next.state, State::Withdrawn, "from {state:?}");
        assert_eq!(next.assignee, Some(checker()), "from {state:?}");
        assert_eq!(next.verdict_note, note(RULING_NOTE), "from {state:?}");
    }
}

#[test]
fn rulings_keep_the_assignee_and_record_the_verdict_note() {
    for action in [Action::Verify, Action::Dispute, Action::MarkInconclusive] {
        let command = command_for(action).unwrap();
        let verdict = expected_note(&command);
        let (next, event) = claim_in(State::InReview)
            .apply(command, &by(checker()), now())
            .unwrap();
        assert_eq!(next.assignee, Some(checker()), "{action:?}");
        assert_eq!(next.verdict_note, verdict, "{action:?}");
        assert_eq!(event.note, verdict, "{action:?}");
    }
}

#[test]
fn anyone_may_add_evidence_to_a_claim_someone_else_has_in_review() {
    let (next, event) = claim_in(State::InReview)
        .apply(
            command_for(Action::AddEvidence).unwrap(),
            &by(other()),
            now(),
        )
        .unwrap();
    assert_eq!(next.state, State::InReview);
    assert_eq!(next.assignee, Some(checker()));
    assert_eq!(event.actor, other());
}

#[test]
fn adding_evidence_to_an_unverified_claim_assigns_nobody() {
    let (next, _) = submitted()
        .apply(
            command_for(Action::AddEvidence).unwrap(),
            &by(researcher()),
            now(),
        )
        .unwrap();
    assert_eq!(next.state, State::Unverified);
    assert_eq!(next.assignee, None);
}
