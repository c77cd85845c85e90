//! Event drafts.

use super::*;

#[test]
fn a_submission_is_recorded_from_nothing_to_unverified_by_the_submitter() {
    let claim = submitted();
    assert_eq!(
        EventDraft::submitted(&claim),
        EventDraft {
            link: None,
            acknowledged: Vec::new(),
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
