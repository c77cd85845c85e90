//! Unit tests of the state machine and the labels.
//!
//! The expected transition table is written out here on its own, not derived
//! from `State::after`, so that a change to the rules has to be made twice:
//! once in the code and once, deliberately, in these tests.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ulid::Ulid;

use super::*;

// ---------------------------------------------------------------------------
// Fixtures. The claim is about a fictional conflict (Valdoria, the Kelmar
// Pass); every name, figure and source other than "Reuters" is made up.
// ---------------------------------------------------------------------------

/// A fixed instant, `secs` seconds after an arbitrary start.
fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_780_000_000 + secs)
}

fn user(name: &str) -> UserName {
    UserName::parse(name).unwrap()
}

fn source(name: &str) -> SourceName {
    SourceName::parse(name).unwrap()
}

fn note(text: &str) -> Note {
    Note::parse(text).unwrap()
}

/// The checker who holds the claims in review in these tests.
fn checker() -> UserName {
    user("Ana Ferreira")
}

/// Another checker; never the assignee of a fixture claim.
fn other() -> UserName {
    user("Bo Lindqvist")
}

/// The reporter who submitted the fixture claim.
fn submitter() -> UserName {
    user("Petra Novak")
}

/// The researcher who attached the fixture evidence.
fn researcher() -> UserName {
    user("Omar Haddad")
}

fn claim_id() -> ClaimId {
    ClaimId::from_bytes([7; 16])
}

fn evidence_id(n: u64) -> EvidenceId {
    Ulid::from_parts(1_780_000_000_000 + n, u128::from(n))
}

/// Who the fixture claim is attributed to.
const ATTRIBUTED: &str = "Reuters";
/// Who told the attributed source, nearest first.
const RELAYED: [&str; 2] = [
    "Valdorian Ministry of Defence",
    "Governor of the Kelmar district",
];
/// A source outside the chain of attribution.
const INDEPENDENT: &str = "Tessaly Institute satellite analysis";
/// Another source outside the chain of attribution.
const MONITORS: &str = "Kelmar border monitors";

fn new_claim() -> NewClaim {
    NewClaim {
        statement: Statement::parse(
            "Valdoria has moved about 14,000 troops to within 30 km of the Kelmar Pass.",
        )
        .unwrap(),
        attribution: Attribution {
            source: source(ATTRIBUTED),
            relayed_from: RELAYED.iter().map(|s| source(s)).collect(),
            url: Some(WebUrl::parse("https://example.org/valdoria/kelmar-troops").unwrap()),
        },
        story: Slug::parse("valdoria-kelmar-buildup").unwrap(),
        tags: vec![Slug::parse("troop-figures").unwrap()],
        priority: Priority::Urgent,
        deadline: Some(at(6 * 3600)),
    }
}

/// The fixture claim as just submitted.
fn submitted() -> Claim {
    Claim::submitted(claim_id(), new_claim(), submitter(), at(0))
}

fn new_evidence(from: &str, stance: Stance) -> NewEvidence {
    let summary = match stance {
        Stance::Supports => "Images from two passes show tented camps along the pass road.",
        Stance::Refutes => "Monitors counted fewer than 3,000 soldiers in the sector this week.",
        Stance::Context => "The pass road has been closed to civilian traffic since March.",
    };
    NewEvidence {
        url: Some(WebUrl::parse("https://example.org/kelmar/evidence").unwrap()),
        summary: note(summary),
        source: source(from),
        stance,
    }
}

/// Evidence as stored on a claim: added by the researcher at `at(10)`.
fn stored_evidence(n: u64, from: &str, stance: Stance) -> Evidence {
    let new = new_evidence(from, stance);
    Evidence {
        id: evidence_id(n),
        url: new.url,
        summary: new.summary,
        source: new.source,
        stance: new.stance,
        added_by: researcher(),
        add_time: at(10),
    }
}

/// `n` pieces of independent supporting evidence.
fn many_evidence(n: usize) -> Vec<Evidence> {
    (0..n as u64)
        .map(|i| stored_evidence(1_000 + i, INDEPENDENT, Stance::Supports))
        .collect()
}

const RULING_NOTE: &str = "Ruled on after comparing the satellite and monitor counts.";

/// How long the fixture claim in review is leased for.
const FIXTURE_LEASE: Duration = Duration::from_secs(900);

/// When the lease of the fixture claim in review runs out: it was taken at
/// `at(100)` for [`FIXTURE_LEASE`].
fn lease_expiry() -> SystemTime {
    at(1_000)
}

/// A moment well after the fixture lease ran out.
fn after_expiry() -> SystemTime {
    at(1_500)
}

/// The fixture claim in `state`, as the rules would have left it there: in
/// review by [`checker`] under a lease that runs out at [`lease_expiry`]
/// (after [`now`]), or ruled on by [`checker`] with a verdict note, and
/// holding evidence that satisfies every evidence rule (independent
/// supporting, refuting and context evidence), at revision 7.
fn claim_in(state: State) -> Claim {
    let mut claim = submitted();
    claim.evidence = vec![
        stored_evidence(1, INDEPENDENT, Stance::Supports),
        stored_evidence(2, MONITORS, Stance::Refutes),
        stored_evidence(3, "Valdoria desk archive", Stance::Context),
    ];
    claim.state = state;
    claim.update_time = at(100);
    claim.revision = 7;
    match state {
        State::Unverified | State::Withdrawn => {}
        State::InReview => {
            claim.assignee = Some(checker());
            claim.lease = Some(Lease {
                expires: lease_expiry(),
                duration: FIXTURE_LEASE,
            });
        }
        State::Verified | State::Disputed | State::Inconclusive => {
            claim.assignee = Some(checker());
            claim.verdict_note = note(RULING_NOTE);
        }
    }
    claim
}

/// The fixture claim in review by [`checker`], holding exactly `evidence`.
fn in_review_with(evidence: Vec<Evidence>) -> Claim {
    let mut claim = claim_in(State::InReview);
    claim.evidence = evidence;
    claim
}

/// When the commands in these tests are applied (the fixture lease still
/// runs).
fn now() -> SystemTime {
    at(200)
}

/// The fixture claim in review by [`checker`], whose lease ran out at `now()`
/// though the system has not yet returned it to the queue.
fn in_review_with_lease_run_out() -> Claim {
    let mut claim = claim_in(State::InReview);
    claim.lease = Some(Lease {
        expires: now(),
        duration: FIXTURE_LEASE,
    });
    claim
}

/// `name` acting as a checker.
fn by(name: UserName) -> Actor {
    Actor::new(name, Role::Checker)
}

/// `name` acting as a chief.
fn chief(name: UserName) -> Actor {
    Actor::new(name, Role::Chief)
}

/// Who applies `action` in the generic tests, and when: the system expires
/// leases once they have run out; everything else is done by [`checker`]
/// (the assignee of claims in review), as a chief so that no role stands in
/// the way, at [`now`].
fn actor_and_time(action: Action) -> (Actor, SystemTime) {
    match action {
        Action::ExpireLease => (Actor::system(), after_expiry()),
        _ => (chief(checker()), now()),
    }
}

/// How long a review taken with [`command_for`] is leased for.
const START_LEASE: Duration = Duration::from_secs(1_200);

/// A command for `action` with a distinct note; `None` for `Submit`, which
/// is not a command (it only creates claims).
fn command_for(action: Action) -> Option<Command> {
    Some(match action {
        Action::Submit => return None,
        Action::StartReview => Command::StartReview { lease: START_LEASE },
        Action::Release => Command::Release {
            note: note("Handing over: this needs someone who reads Valdorian."),
        },
        Action::RenewLease => Command::RenewLease,
        Action::ExpireLease => Command::ExpireLease,
        Action::Reassign => Command::Reassign {
            to: other(),
            lease: START_LEASE,
            note: note("Bo reads Valdorian; handing the claim over."),
        },
        Action::AddEvidence => Command::AddEvidence {
            id: evidence_id(50),
            evidence: new_evidence("Kelmar Pass residents' council", Stance::Context),
        },
        Action::Verify => Command::Verify {
            note: note("Satellite images from an independent institute match the figure."),
        },
        Action::Dispute => Command::Dispute {
            note: note("Border monitors counted a fraction of the reported troops."),
        },
        Action::MarkInconclusive => Command::MarkInconclusive {
            note: note("No source outside the ministry could be reached before deadline."),
        },
        Action::Reopen => Command::Reopen {
            reason: note("The ministry published a corrected figure."),
        },
        Action::Withdraw => Command::Withdraw {
            reason: note("The desk dropped the story."),
        },
    })
}

/// The note the history should record for `command`.
fn expected_note(command: &Command) -> Note {
    match command {
        Command::StartReview { .. }
        | Command::RenewLease
        | Command::ExpireLease
        | Command::AddEvidence { .. } => Note::default(),
        Command::Release { note }
        | Command::Reassign { note, .. }
        | Command::Verify { note }
        | Command::Dispute { note }
        | Command::MarkInconclusive { note } => note.clone(),
        Command::Reopen { reason } | Command::Withdraw { reason } => reason.clone(),
    }
}

/// The evidence the history should record for `command` by `actor` at `time`.
fn expected_evidence(command: &Command, actor: &UserName, time: SystemTime) -> Option<Evidence> {
    match command {
        Command::AddEvidence { id, evidence } => Some(Evidence {
            id: *id,
            url: evidence.url.clone(),
            summary: evidence.summary.clone(),
            source: evidence.source.clone(),
            stance: evidence.stance,
            added_by: actor.clone(),
            add_time: time,
        }),
        _ => None,
    }
}

/// Every action that has a command, i.e. all but `Submit`.
fn commands() -> impl Iterator<Item = (Action, Command)> {
    Action::ALL
        .into_iter()
        .filter_map(|action| command_for(action).map(|command| (action, command)))
}

// ---------------------------------------------------------------------------
// The expected state machine, written independently of `State::after`.
// ---------------------------------------------------------------------------

/// Every allowed (from, action, to); every other pair is forbidden.
const ALLOWED: [(State, Action, State); 18] = {
    use Action::*;
    use State::*;
    [
        (Unverified, StartReview, InReview),
        (InReview, Release, Unverified),
        (InReview, RenewLease, InReview),
        (InReview, ExpireLease, Unverified),
        (InReview, Reassign, InReview),
        (Unverified, AddEvidence, Unverified),
        (InReview, AddEvidence, InReview),
        (InReview, Verify, Verified),
        (InReview, Dispute, Disputed),
        (InReview, MarkInconclusive, Inconclusive),
        (Verified, Reopen, Unverified),
        (Disputed, Reopen, Unverified),
        (Inconclusive, Reopen, Unverified),
        (Unverified, Withdraw, Withdrawn),
        (InReview, Withdraw, Withdrawn),
        (Verified, Withdraw, Withdrawn),
        (Disputed, Withdraw, Withdrawn),
        (Inconclusive, Withdraw, Withdrawn),
    ]
};

fn expected_after(state: State, action: Action) -> Option<State> {
    ALLOWED
        .iter()
        .find(|&&(from, a, _)| from == state && a == action)
        .map(|&(_, _, to)| to)
}

/// Actions only the assignee may take.
const ASSIGNEE_ONLY: [Action; 5] = [
    Action::Release,
    Action::RenewLease,
    Action::Verify,
    Action::Dispute,
    Action::MarkInconclusive,
];

// ---------------------------------------------------------------------------
// 1. The state machine.
// ---------------------------------------------------------------------------

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
        }
    }
    let mut states: Vec<usize> = State::ALL.into_iter().map(state_index).collect();
    states.sort_unstable();
    assert_eq!(states, (0..6).collect::<Vec<_>>());
    let mut actions: Vec<usize> = Action::ALL.into_iter().map(action_index).collect();
    actions.sort_unstable();
    assert_eq!(actions, (0..12).collect::<Vec<_>>());
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
fn a_withdrawn_claim_allows_nothing() {
    for action in Action::ALL {
        assert_eq!(
            State::Withdrawn.after(action),
            None,
            "{action:?} from withdrawn"
        );
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
            let note = expected_note(&command);
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
            assert_eq!(next.update_time, time, "{action:?} from {state:?}");
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
    // 6 states x 11 commands, less the allowed ones.
    assert_eq!(refused, 6 * 11 - ALLOWED.len());
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

// ---------------------------------------------------------------------------
// 3. Assignee rules.
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// 4. Evidence rules.
// ---------------------------------------------------------------------------

fn verify(claim: &Claim) -> Result<(Claim, EventDraft), DomainError> {
    claim.apply(command_for(Action::Verify).unwrap(), &by(checker()), now())
}

fn dispute(claim: &Claim) -> Result<(Claim, EventDraft), DomainError> {
    claim.apply(command_for(Action::Dispute).unwrap(), &by(checker()), now())
}

#[test]
fn verifying_needs_independent_supporting_evidence() {
    assert_eq!(
        verify(&in_review_with(vec![])).unwrap_err(),
        DomainError::NoIndependentEvidence
    );
    let claim = in_review_with(vec![stored_evidence(1, INDEPENDENT, Stance::Supports)]);
    let (next, _) = verify(&claim).unwrap();
    assert_eq!(next.state, State::Verified);
}

#[test]
fn supporting_evidence_from_the_attributed_source_does_not_verify() {
    for name in [
        "Reuters",
        "reuters",
        "  REUTERS ",
        "ReUtErS",
        "Reu\u{200b}ters",
        "R\u{435}uters",
        "Ｒｅｕｔｅｒｓ",
        "𝐑𝐞𝐮𝐭𝐞𝐫𝐬",
        "Reuters.",
    ] {
        let claim = in_review_with(vec![stored_evidence(1, name, Stance::Supports)]);
        assert_eq!(
            verify(&claim).unwrap_err(),
            DomainError::NoIndependentEvidence,
            "{name:?} counted as independent of Reuters"
        );
    }
}

#[test]
fn supporting_evidence_from_a_relayed_source_does_not_verify() {
    for name in [
        "Valdorian Ministry of Defence",
        "valdorian ministry of defence",
        "Valdorian   Ministry of  Defence",
        "Governor of the Kelmar district",
        "GOVERNOR OF THE KELMAR DISTRICT",
        "Governor of the Kelmar\u{ad} district",
        "Valdorian Ministry of D\u{435}fence",
        "Valdorian \u{41c}inistry of Defence",
    ] {
        let claim = in_review_with(vec![stored_evidence(1, name, Stance::Supports)]);
        assert_eq!(
            verify(&claim).unwrap_err(),
            DomainError::NoIndependentEvidence,
            "{name:?} counted as independent"
        );
    }
}

#[test]
fn refuting_or_context_evidence_from_another_source_does_not_verify() {
    let claim = in_review_with(vec![
        stored_evidence(1, INDEPENDENT, Stance::Refutes),
        stored_evidence(2, MONITORS, Stance::Context),
        stored_evidence(3, ATTRIBUTED, Stance::Supports),
        stored_evidence(4, RELAYED[0], Stance::Supports),
    ]);
    assert_eq!(
        verify(&claim).unwrap_err(),
        DomainError::NoIndependentEvidence
    );
}

#[test]
fn one_independent_supporting_piece_is_enough_among_dependent_ones() {
    let claim = in_review_with(vec![
        stored_evidence(1, ATTRIBUTED, Stance::Supports),
        stored_evidence(2, RELAYED[1], Stance::Supports),
        stored_evidence(3, MONITORS, Stance::Refutes),
        stored_evidence(4, INDEPENDENT, Stance::Supports),
    ]);
    let (next, event) = verify(&claim).unwrap();
    assert_eq!(next.state, State::Verified);
    assert_eq!(event.to, State::Verified);
}

#[test]
fn independence_compares_sources_by_their_comparison_key() {
    let attribution = Attribution {
        source: source("Agence Étoile"),
        relayed_from: vec![source("Harbour Workers' Union of Marrowhaven")],
        url: None,
    };
    for same in [
        "Agence Étoile",
        "agence étoile",
        "AGENCE ÉTOILE",
        " Agence\u{a0} Étoile ",
        "Agence E\u{301}toile",
        "Ag\u{200b}ence \u{c9}toile",
        "Ag\u{435}nce Étoile.",
        "Ａｇｅｎｃｅ Étoile",
        "harbour workers'   union of marrowhaven",
        "Harbour Workers’ Union of Marrowhaven",
        "Harbour Workers Union of Marrowhaven",
    ] {
        assert!(
            !attribution.is_independent_of(&source(same)),
            "{same:?} counted as independent"
        );
    }
    for different in [
        "Marrowhaven Port Authority",
        "Harbour Workers Union",
        "Agence Etoile",
    ] {
        assert!(
            attribution.is_independent_of(&source(different)),
            "{different:?} counted as part of the attribution"
        );
    }
}

#[test]
fn disputing_needs_refuting_evidence() {
    assert_eq!(
        dispute(&in_review_with(vec![])).unwrap_err(),
        DomainError::NoRefutingEvidence
    );
    let claim = in_review_with(vec![
        stored_evidence(1, INDEPENDENT, Stance::Supports),
        stored_evidence(2, MONITORS, Stance::Context),
    ]);
    assert_eq!(
        dispute(&claim).unwrap_err(),
        DomainError::NoRefutingEvidence
    );

    let claim = in_review_with(vec![stored_evidence(1, MONITORS, Stance::Refutes)]);
    let (next, _) = dispute(&claim).unwrap();
    assert_eq!(next.state, State::Disputed);
}

#[test]
fn refuting_evidence_need_not_be_independent_to_dispute() {
    // The attributed source itself walking the figure back is enough.
    let claim = in_review_with(vec![stored_evidence(1, ATTRIBUTED, Stance::Refutes)]);
    let (next, _) = dispute(&claim).unwrap();
    assert_eq!(next.state, State::Disputed);
}

#[test]
fn marking_inconclusive_needs_no_evidence() {
    let (next, _) = in_review_with(vec![])
        .apply(
            command_for(Action::MarkInconclusive).unwrap(),
            &by(checker()),
            now(),
        )
        .unwrap();
    assert_eq!(next.state, State::Inconclusive);
}

#[test]
fn evidence_is_accepted_up_to_the_limit_and_no_further() {
    for state in [State::Unverified, State::InReview] {
        let mut claim = claim_in(state);
        claim.evidence = many_evidence(MAX_EVIDENCE_PER_CLAIM - 1);
        let (full, _) = claim
            .apply(
                command_for(Action::AddEvidence).unwrap(),
                &by(researcher()),
                now(),
            )
            .unwrap();
        assert_eq!(full.evidence.len(), MAX_EVIDENCE_PER_CLAIM);

        let error = full
            .apply(
                command_for(Action::AddEvidence).unwrap(),
                &by(researcher()),
                now(),
            )
            .unwrap_err();
        assert_eq!(error, DomainError::TooMuchEvidence, "in {state:?}");
        assert!(
            error
                .to_string()
                .contains(&MAX_EVIDENCE_PER_CLAIM.to_string()),
            "{error}"
        );
    }
}

#[test]
fn added_evidence_carries_who_added_it_and_when() {
    let claim = claim_in(State::InReview);
    let summary = note("A harbour pilot saw three troop ships leave Marrowhaven at dawn.");
    let url = Some(WebUrl::parse("https://example.org/marrowhaven/pilot-account").unwrap());
    let command = Command::AddEvidence {
        id: evidence_id(77),
        evidence: NewEvidence {
            url: url.clone(),
            summary: summary.clone(),
            source: source("Marrowhaven harbour pilots"),
            stance: Stance::Supports,
        },
    };
    let (next, event) = claim.apply(command, &by(researcher()), now()).unwrap();

    let expected = Evidence {
        id: evidence_id(77),
        url,
        summary,
        source: source("Marrowhaven harbour pilots"),
        stance: Stance::Supports,
        added_by: researcher(),
        add_time: now(),
    };
    assert_eq!(next.evidence.len(), claim.evidence.len() + 1);
    assert_eq!(next.evidence[..claim.evidence.len()], claim.evidence[..]);
    assert_eq!(next.evidence.last(), Some(&expected));
    assert_eq!(event.evidence, Some(expected));
    assert_eq!(event.action, Action::AddEvidence);
    assert_eq!(event.from, Some(State::InReview));
    assert_eq!(event.to, State::InReview);
    assert_eq!(event.actor, researcher());
    assert!(event.note.is_empty());
}

#[test]
fn only_adding_evidence_puts_evidence_in_the_event() {
    for state in State::ALL {
        for (action, command) in commands() {
            if action == Action::AddEvidence || expected_after(state, action).is_none() {
                continue;
            }
            let (actor, time) = actor_and_time(action);
            let (_, event) = claim_in(state).apply(command, &actor, time).unwrap();
            assert_eq!(event.evidence, None, "{action:?} from {state:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// 5. The order of checks: lease, then state, then assignee, then evidence.
// ---------------------------------------------------------------------------

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
    let mut claim = claim_in(State::Verified);
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
            state: State::Verified,
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

// ---------------------------------------------------------------------------
// 6. Etags.
// ---------------------------------------------------------------------------

#[test]
fn an_empty_etag_always_passes() {
    for state in State::ALL {
        for revision in [0, 1, 7, u64::MAX] {
            let mut claim = claim_in(state);
            claim.revision = revision;
            assert_eq!(claim.check_etag(""), Ok(()), "{state:?} at {revision}");
        }
    }
}

#[test]
fn the_current_etag_passes() {
    let claim = claim_in(State::InReview);
    assert_eq!(claim.etag(), "7");
    assert_eq!(claim.check_etag(&claim.etag()), Ok(()));
    assert_eq!(claim.check_etag("7"), Ok(()));
}

#[test]
fn any_other_etag_is_stale_and_names_the_current_one() {
    let claim = claim_in(State::InReview);
    for etag in [
        "6", "8", "0", "07", " 7", "7 ", "\"7\"", "W/\"7\"", "seven", " ",
    ] {
        let error = claim.check_etag(etag).unwrap_err();
        assert_eq!(
            error,
            DomainError::StaleEtag {
                current: "7".to_owned(),
            },
            "{etag:?}"
        );
        assert!(error.to_string().contains("etag is now 7"), "{error}");
    }
}

#[test]
fn the_etag_changes_with_the_revision() {
    let mut claim = submitted();
    assert_eq!(claim.revision, 0);
    let before = claim.etag();
    claim.revision = 1;
    assert_ne!(claim.etag(), before);
    assert!(claim.check_etag(&before).is_err());
}

// ---------------------------------------------------------------------------
// 7. Labels.
// ---------------------------------------------------------------------------

const LABELS_PER_REUTERS: [(State, &str); 6] = [
    (State::Unverified, "unverified (per Reuters)"),
    (State::InReview, "unverified (per Reuters)"),
    (State::Verified, "verified"),
    (State::Disputed, "disputed"),
    (
        State::Inconclusive,
        "could not be independently verified (per Reuters)",
    ),
    (State::Withdrawn, "withdrawn"),
];

#[test]
fn every_state_has_the_expected_label() {
    assert_eq!(
        LABELS_PER_REUTERS.map(|(state, _)| state),
        State::ALL,
        "the table covers every state"
    );
    let reuters = source("Reuters");
    for (state, expected) in LABELS_PER_REUTERS {
        assert_eq!(label(state, &reuters), expected, "{state:?}");
    }
}

#[test]
fn a_claim_is_labelled_by_its_state_and_attributed_source() {
    for (state, expected) in LABELS_PER_REUTERS {
        assert_eq!(claim_in(state).label(), expected, "{state:?}");
    }
}

#[test]
fn labels_quote_the_source_as_written() {
    let port = source("  Marrowhaven Port Authority ");
    assert_eq!(
        label(State::Unverified, &port),
        "unverified (per Marrowhaven Port Authority)"
    );
    assert_eq!(
        label(State::Inconclusive, &port),
        "could not be independently verified (per Marrowhaven Port Authority)"
    );
}

#[test]
fn a_claim_in_review_reads_as_unverified() {
    let claim = claim_in(State::InReview);
    assert_eq!(claim.label(), label(State::Unverified, &source(ATTRIBUTED)));
}

// ---------------------------------------------------------------------------
// 8. Event drafts.
// ---------------------------------------------------------------------------

#[test]
fn a_submission_is_recorded_from_nothing_to_unverified_by_the_submitter() {
    let claim = submitted();
    assert_eq!(
        EventDraft::submitted(&claim),
        EventDraft {
            action: Action::Submit,
            actor: submitter(),
            time: at(0),
            from: None,
            to: State::Unverified,
            note: Note::default(),
            evidence: None,
            assignee: None,
        }
    );
}

#[test]
fn a_submitted_claim_is_unverified_unassigned_and_without_evidence() {
    let claim = submitted();
    assert_eq!(claim.id, claim_id());
    assert_eq!(claim.state, State::Unverified);
    assert_eq!(claim.assignee, None);
    assert_eq!(claim.lease, None);
    assert_eq!(claim.expired_holder, None);
    assert!(claim.evidence.is_empty());
    assert!(claim.verdict_note.is_empty());
    assert_eq!(claim.submitted_by, submitter());
    assert_eq!(claim.create_time, at(0));
    assert_eq!(claim.update_time, at(0));
    assert_eq!(claim.revision, 0);
    let new = new_claim();
    assert_eq!(claim.statement, new.statement);
    assert_eq!(claim.attribution, new.attribution);
    assert_eq!(claim.story, new.story);
    assert_eq!(claim.tags, new.tags);
    assert_eq!(claim.priority, new.priority);
    assert_eq!(claim.deadline, new.deadline);
}

#[test]
fn the_release_note_is_recorded() {
    let (_, event) = claim_in(State::InReview)
        .apply(
            Command::Release {
                note: note("Off shift; the troop count still needs a second source."),
            },
            &by(checker()),
            now(),
        )
        .unwrap();
    assert_eq!(event.action, Action::Release);
    assert_eq!(event.from, Some(State::InReview));
    assert_eq!(event.to, State::Unverified);
    assert_eq!(
        event.note,
        note("Off shift; the troop count still needs a second source.")
    );
}

#[test]
fn verdict_notes_are_recorded() {
    for (action, to) in [
        (Action::Verify, State::Verified),
        (Action::Dispute, State::Disputed),
        (Action::MarkInconclusive, State::Inconclusive),
    ] {
        let command = command_for(action).unwrap();
        let verdict = expected_note(&command);
        assert!(!verdict.is_empty());
        let (_, event) = claim_in(State::InReview)
            .apply(command, &by(checker()), now())
            .unwrap();
        assert_eq!(event.action, action);
        assert_eq!(event.from, Some(State::InReview));
        assert_eq!(event.to, to);
        assert_eq!(event.actor, checker());
        assert_eq!(event.time, now());
        assert_eq!(event.note, verdict, "{action:?}");
    }
}

#[test]
fn reopen_and_withdraw_reasons_are_recorded() {
    let (_, event) = claim_in(State::Disputed)
        .apply(
            Command::Reopen {
                reason: note("A second monitor report doubles the earlier count."),
            },
            &by(other()),
            now(),
        )
        .unwrap();
    assert_eq!(event.action, Action::Reopen);
    assert_eq!(event.from, Some(State::Disputed));
    assert_eq!(event.to, State::Unverified);
    assert_eq!(event.actor, other());
    assert_eq!(
        event.note,
        note("A second monitor report doubles the earlier count.")
    );

    let (_, event) = claim_in(State::Unverified)
        .apply(
            Command::Withdraw {
                reason: note("Submitted twice; the other copy is in review."),
            },
            &by(submitter()),
            now(),
        )
        .unwrap();
    assert_eq!(event.action, Action::Withdraw);
    assert_eq!(event.from, Some(State::Unverified));
    assert_eq!(event.to, State::Withdrawn);
    assert_eq!(event.actor, submitter());
    assert_eq!(
        event.note,
        note("Submitted twice; the other copy is in review.")
    );
}

#[test]
fn an_empty_note_is_recorded_as_empty() {
    let (next, event) = claim_in(State::InReview)
        .apply(
            Command::MarkInconclusive {
                note: Note::default(),
            },
            &by(checker()),
            now(),
        )
        .unwrap();
    assert!(event.note.is_empty());
    assert!(next.verdict_note.is_empty());
}

#[test]
fn a_draft_with_its_revision_keeps_every_field() {
    let (claim, draft) = claim_in(State::InReview)
        .apply(
            command_for(Action::AddEvidence).unwrap(),
            &by(researcher()),
            now(),
        )
        .unwrap();
    let event = draft.clone().with_revision(&claim, 42);
    assert_eq!(event.revision, 42);
    assert_eq!(event.claim_id, claim_id());
    assert_eq!(event.story, claim.story);
    assert_eq!(event.action, draft.action);
    assert_eq!(event.actor, draft.actor);
    assert_eq!(event.time, draft.time);
    assert_eq!(event.from, draft.from);
    assert_eq!(event.to, draft.to);
    assert_eq!(event.note, draft.note);
    assert_eq!(event.evidence, draft.evidence);
    assert!(event.evidence.is_some());
}

// ---------------------------------------------------------------------------
// 9. Review leases.
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Roles that depend on the claim: withdrawing and reassigning.
// ---------------------------------------------------------------------------

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
