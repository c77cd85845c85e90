//! The state machine, and `Claim::apply` for every allowed and every
//! forbidden transition.

use super::*;

#[test]
fn state_and_action_lists_name_every_variant_once() {
    // The matches have no wildcard arm, so a new variant breaks the build
    // here until it is counted; the assertions then demand it be in `ALL`.
    fn state_index(state: State) -> usize {
        match state {
            State::Unverified => 0,
            State::InReview => 1,
            State::Verified => 2,
            State::Disputed => 3,
            State::Inconclusive => 4,
            State::Withdrawn => 5,
        }
    }
    fn action_index(action: Action) -> usize {
        match action {
            Action::Submit => 0,
            Action::StartReview => 1,
            Action::Release => 2,
            Action::RenewLease => 3,
            Action::ExpireLease => 4,
            Action::AddEvidence => 5,
            Action::Verify => 6,
            Action::Dispute => 7,
            Action::MarkInconclusive => 8,
            Action::Reopen => 9,
            Action::Withdraw => 10,
            Action::Reassign => 11,
            Action::Link => 12,
            Action::ResolveLink => 13,
        }
    }
    let mut states: Vec<usize> = State::ALL.into_iter().map(state_index).collect();
    states.sort_unstable();
    assert_eq!(states, (0..6).collect::<Vec<_>>());
    let mut actions: Vec<usize> = Action::ALL.into_iter().map(action_index).collect();
    actions.sort_unstable();
    assert_eq!(actions, (0..14).collect::<Vec<_>>());
}

#[test]
fn the_expected_table_lists_each_state_and_action_pair_at_most_once() {
    for (i, &(from, action, _)) in ALLOWED.iter().enumerate() {
        for &(other_from, other_action, _) in &ALLOWED[i + 1..] {
            assert!(
                (from, action) != (other_from, other_action),
                "{from:?} + {action:?} is listed twice"
            );
        }
    }
}

#[test]
fn the_state_machine_allows_exactly_the_listed_transitions() {
    let mut allowed = 0;
    for state in State::ALL {
        for action in Action::ALL {
            let expected = expected_after(state, action);
            assert_eq!(state.after(action), expected, "{action:?} from {state:?}");
            allowed += usize::from(expected.is_some());
        }
    }
    assert_eq!(allowed, ALLOWED.len());
}

#[test]
fn submit_is_never_allowed_on_an_existing_claim() {
    for state in State::ALL {
        assert_eq!(state.after(Action::Submit), None, "submit from {state:?}");
    }
}

#[test]
fn a_withdrawn_claim_allows_nothing_but_resolving_its_links() {
    for action in Action::ALL {
        let expected = (action == Action::ResolveLink).then_some(State::Withdrawn);
        assert_eq!(
            State::Withdrawn.after(action),
            expected,
            "{action:?} from withdrawn"
        );
    }
}

/// Every change of a verified, disputed or inconclusive claim takes it out
/// of that state, or changes its links only (which leaves its update time
/// alone), so a ruled claim's update time is the time of its ruling (the
/// `datePublished` of `claimdesk export claimreview`). Refuting evidence
/// keeps a verified claim verified for one step only: the same change
/// reopens it (`Claim::decide`, tested in `links.rs`).
#[test]
fn a_ruled_claim_changes_only_by_leaving_its_state() {
    for state in [State::Verified, State::Disputed, State::Inconclusive] {
        for action in Action::ALL {
            if action.is_about_links() || (state, action) == (State::Verified, Action::AddEvidence)
            {
                continue;
            }
            if let Some(next) = state.after(action) {
                assert_ne!(next, state, "{action:?} keeps a claim {state:?}");
            }
        }
    }
}

#[test]
fn every_state_but_withdrawn_can_be_withdrawn() {
    for state in State::ALL {
        let expected = (state != State::Withdrawn).then_some(State::Withdrawn);
        assert_eq!(state.after(Action::Withdraw), expected, "from {state:?}");
    }
}

#[test]
fn each_command_names_its_own_action() {
    for action in Action::ALL {
        match command_for(action) {
            Some(command) => assert_eq!(command.action(), action),
            None => assert_eq!(action, Action::Submit),
        }
    }
}

// ---------------------------------------------------------------------------
// 2. `Claim::apply` for every allowed and every forbidden transition.
// ---------------------------------------------------------------------------

#[test]
fn the_fixture_helper_builds_a_claim_in_each_state() {
    for state in State::ALL {
        let claim = claim_in(state);
        assert_eq!(claim.state, state);
        assert_eq!(claim.expired_holder, None, "{state:?}");
        match claim.lease {
            Some(lease) => {
                assert_eq!(state, State::InReview, "only a review is leased");
                assert!(!lease.has_expired(now()), "the fixture lease still runs");
                assert!(lease.has_expired(lease_expiry()));
            }
            None => assert_ne!(state, State::InReview, "a review is leased"),
        }
    }
}

#[test]
fn every_allowed_transition_is_applied() {
    let mut applied = 0;
    for state in State::ALL {
        for (action, command) in commands() {
            let Some(to) = expected_after(state, action) else {
                continue;
            };
            let claim = claim_in(state);
            let (actor, time) = actor_and_time(action);
            // Only refuting evidence may be added to a verified claim.
            let command = match (state, command) {
                (State::Verified, Command::AddEvidence { id, .. }) => Command::AddEvidence {
                    id,
                    evidence: new_evidence(MONITORS, Stance::Refutes),
                },
                (_, command) => command,
            };
            let note = expected_note(&command);
            let link = expected_link(&claim, &command, &actor.name, time);
            let evidence = expected_evidence(&command, &actor.name, time);
            let assignee = match &command {
                Command::Reassign { to, .. } => Some(to.clone()),
                _ => None,
            };
            // Written out independently of `Lease::starting`/`renewed`.
            let lease = match (action, to) {
                (Action::StartReview | Action::Reassign, _) => Some(Lease {
                    expires: time + START_LEASE,
                    duration: START_LEASE,
                }),
                (_, State::InReview) if claim.assignee.as_ref() == Some(&actor.name) => {
                    Some(Lease {
                        expires: time + FIXTURE_LEASE,
                        duration: FIXTURE_LEASE,
                    })
                }
                (_, State::InReview) => claim.lease,
                _ => None,
            };
            let expired_holder = match action {
                Action::ExpireLease => claim.assignee.clone(),
                Action::Reassign => None,
                _ => claim.expired_holder.clone(),
            };
            let (next, event) = claim
                .apply(command, &actor, time)
                .unwrap_or_else(|e| panic!("{action:?} from {state:?} refused: {e}"));
            assert_eq!(next.state, to, "{action:?} from {state:?}");
            let update_time = if action.is_about_links() {
                claim.update_time
            } else {
                time
            };
            assert_eq!(next.update_time, update_time, "{action:?} from {state:?}");
            match &link {
                Some(link) if action == Action::Link => {
                    assert_eq!(next.links.len(), claim.links.len() + 1);
                    assert_eq!(next.links.last(), Some(link));
                }
                Some(link) => assert_eq!(next.link(link.id), Some(link)),
                None => assert_eq!(next.links, claim.links, "{action:?} from {state:?}"),
            }
            assert_eq!(next.lease, lease, "{action:?} from {state:?}");
            assert_eq!(
                next.expired_holder, expired_holder,
                "{action:?} from {state:?}"
            );
            match &evidence {
                Some(added) => {
                    assert_eq!(next.evidence.len(), claim.evidence.len() + 1);
                    assert_eq!(next.evidence.last(), Some(added));
                }
                None => assert_eq!(next.evidence, claim.evidence, "{action:?} from {state:?}"),
            }
            assert_eq!(next.create_time, claim.create_time);
            assert_eq!(next.revision, claim.revision, "the store sets revisions");
            assert_eq!(next.id, claim.id);
            assert_eq!(next.statement, claim.statement);
            assert_eq!(next.attribution, claim.attribution);
            assert_eq!(next.submitted_by, claim.submitted_by);
            assert_eq!(
                event,
                EventDraft {
                    link,
                    acknowledged: Vec::new(),
                    action,
                    actor: actor.name,
                    time,
                    from: Some(state),
                    to,
                    note,
                    evidence,
                    assignee,
                },
                "{action:?} from {state:?}"
            );
            applied += 1;
        }
    }
    // All allowed transitions but none is a submission.
    assert_eq!(applied, ALLOWED.len());
}

#[test]
fn every_forbidden_transition_is_refused_naming_the_current_state() {
    let mut refused = 0;
    for state in State::ALL {
        for (action, command) in commands() {
            if expected_after(state, action).is_some() {
                continue;
            }
            let (actor, time) = actor_and_time(action);
            let error = claim_in(state)
                .apply(command, &actor, time)
                .expect_err("a forbidden transition was applied");
            assert_eq!(
                error,
                DomainError::InvalidTransition { action, state },
                "{action:?} from {state:?}"
            );
            assert!(
                error.to_string().contains(state.as_str()),
                "{error} does not name {state:?}"
            );
            refused += 1;
        }
    }
    // 6 states x 13 commands, less the allowed ones.
    assert_eq!(refused, 6 * 13 - ALLOWED.len());
}

#[test]
fn a_refused_transition_names_action_and_state_in_words() {
    let error = claim_in(State::Withdrawn)
        .apply(command_for(Action::Verify).unwrap(), &by(checker()), now())
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "verify is not allowed on a claim that is withdrawn"
    );

    let error = claim_in(State::Verified)
        .apply(
            command_for(Action::StartReview).unwrap(),
            &by(checker()),
            now(),
        )
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("start review") && message.contains("verified"),
        "{message}"
    );
}

#[test]
fn a_claim_can_go_round_the_whole_lifecycle() {
    let claim = submitted();
    let (claim, _) = claim
        .apply(
            Command::AddEvidence {
                id: evidence_id(1),
                evidence: new_evidence(INDEPENDENT, Stance::Supports),
            },
            &by(researcher()),
            at(1),
        )
        .unwrap();
    let (claim, _) = claim
        .apply(
            Command::StartReview { lease: START_LEASE },
            &by(checker()),
            at(2),
        )
        .unwrap();
    let (claim, _) = claim
        .apply(command_for(Action::Verify).unwrap(), &by(checker()), at(3))
        .unwrap();
    assert_eq!(claim.state, State::Verified);
    let (claim, _) = claim
        .apply(command_for(Action::Reopen).unwrap(), &by(other()), at(4))
        .unwrap();
    assert_eq!(claim.state, State::Unverified);
    let (claim, _) = claim
        .apply(
            Command::StartReview { lease: START_LEASE },
            &by(other()),
            at(5),
        )
        .unwrap();
    assert_eq!(claim.assignee, Some(other()));
    let (claim, _) = claim
        .apply(
            command_for(Action::Withdraw).unwrap(),
            &by(submitter()),
            at(6),
        )
        .unwrap();
    assert_eq!(claim.state, State::Withdrawn);
    assert_eq!(claim.update_time, at(6));
    assert_eq!(claim.create_time, at(0));
}
