//! Links between claims: making and resolving them on both claims, what the
//! service suggests for a new claim, and verdicts that weigh the other
//! claims (`Claim::decide`).

use std::collections::HashMap;

use super::*;

/// A claim of the fixture's story saying `statement`, attributed to
/// `from`, submitted at `at(secs)` with id `n`.
fn story_claim(n: u64, statement: &str, from: &str, secs: u64) -> Claim {
    let mut new = new_claim();
    new.statement = Statement::parse(statement).unwrap();
    new.attribution = Attribution {
        source: source(from),
        relayed_from: Vec::new(),
        url: None,
    };
    Claim::submitted(
        ClaimId::from_ulid(Ulid::from_parts(1_700_000_000_000 + n, u128::from(n))),
        new,
        submitter(),
        at(secs),
    )
}

/// The fixture's claim, another of its story contradicting it, and the
/// two linked by `status` as link 90.
fn contradicting_pair(status: LinkStatus) -> (Claim, Claim) {
    let ours = claim_in(State::InReview);
    let theirs = story_claim(
        1,
        "Valdoria has moved 9,000 troops to the Kelmar Pass.",
        "Valdorian defence ministry",
        60,
    );
    let (ours, theirs) = link_claims(
        &ours,
        &theirs,
        90,
        Relation::Contradicts,
        End::Subject,
        status,
        note("The counts differ"),
        Vec::new(),
        &by(checker()),
        now(),
    )
    .unwrap();
    (ours.claim, theirs.claim)
}

fn verify_acknowledging(claim: &Claim, acknowledge: bool) -> Result<Changed, DomainError> {
    claim.decide(
        Command::Verify {
            note: note("Imagery agrees"),
            acknowledge_contradictions: acknowledge,
        },
        &by(checker()),
        now(),
        &NoPeers,
    )
}

#[test]
fn a_link_is_made_on_both_claims_with_one_id_and_mirrored_ends() {
    let (ours, theirs) = contradicting_pair(LinkStatus::Confirmed);
    let mine = ours.link(90).expect("our end");
    let other = theirs.link(90).expect("their end");
    assert_eq!((mine.other, other.other), (theirs.id, ours.id));
    assert_eq!((mine.end, other.end), (End::Subject, End::Object));
    assert_eq!(mine.relation, other.relation);
    assert_eq!(mine.created_by, checker());
    // A link leaves the claim's own update time alone.
    assert_eq!(ours.update_time, claim_in(State::InReview).update_time);
}

#[test]
fn a_link_needs_two_claims_of_one_story_and_room_on_both() {
    let ours = claim_in(State::Unverified);
    let link = |a: &Claim, b: &Claim| {
        link_claims(
            a,
            b,
            91,
            Relation::Corroborates,
            End::Subject,
            LinkStatus::Confirmed,
            Note::default(),
            Vec::new(),
            &by(checker()),
            now(),
        )
    };
    assert_eq!(link(&ours, &ours).unwrap_err(), DomainError::SelfLink);
    let mut elsewhere = story_claim(2, "Ferries resumed.", "Harbour Gazette", 70);
    elsewhere.story = Slug::parse("harbour-strike").unwrap();
    assert!(matches!(
        link(&ours, &elsewhere).unwrap_err(),
        DomainError::OtherStory { .. }
    ));
    let mut full = story_claim(3, "The pass road is closed.", "Kelmar police", 80);
    full.links = (0..MAX_LINKS_PER_CLAIM as u64)
        .map(|i| Link {
            id: 1_000 + i,
            ..claim_in(State::Unverified).links[0].clone()
        })
        .collect();
    assert_eq!(link(&ours, &full).unwrap_err(), DomainError::TooManyLinks);
    // Once per relation while open.
    let theirs = story_claim(4, "The pass road is closed.", "Kelmar police", 80);
    let (linked, theirs) = link(&ours, &theirs).unwrap();
    assert_eq!(
        link(&linked.claim, &theirs.claim).unwrap_err(),
        DomainError::AlreadyLinked {
            id: 91,
            relation: Relation::Corroborates
        }
    );
    // A withdrawn claim is linked no more.
    let withdrawn = claim_in(State::Withdrawn);
    assert!(matches!(
        link(&withdrawn, &theirs.claim).unwrap_err(),
        DomainError::InvalidTransition { .. }
    ));
}

#[test]
fn a_suggestion_is_confirmed_or_rejected_and_a_confirmed_link_only_rejected() {
    let (ours, theirs) = contradicting_pair(LinkStatus::Suggested);
    let resolve = |a: &Claim, b: &Claim, status| {
        resolve_link(a, b, 90, status, note("Same convoy"), &by(other()), now())
    };
    let (ours, theirs) = resolve(&ours, &theirs, LinkStatus::Confirmed).unwrap();
    for claim in [&ours.claim, &theirs.claim] {
        let link = claim.link(90).unwrap();
        assert_eq!(link.status, LinkStatus::Confirmed);
        let resolution = link.resolution.as_ref().unwrap();
        assert_eq!((&resolution.by, resolution.time), (&other(), now()));
    }
    assert_eq!(ours.events[0].action, Action::ResolveLink);
    assert_eq!(
        resolve(&ours.claim, &theirs.claim, LinkStatus::Confirmed).unwrap_err(),
        DomainError::LinkResolved {
            from: LinkStatus::Confirmed,
            to: LinkStatus::Confirmed
        }
    );
    let (ours, theirs) = resolve(&ours.claim, &theirs.claim, LinkStatus::Rejected).unwrap();
    assert!(!ours.claim.link(90).unwrap().status.is_open());
    assert_eq!(
        resolve(&ours.claim, &theirs.claim, LinkStatus::Confirmed).unwrap_err(),
        DomainError::LinkResolved {
            from: LinkStatus::Rejected,
            to: LinkStatus::Confirmed
        }
    );
    let no_such = resolve_link(
        &ours.claim,
        &theirs.claim,
        7_777,
        LinkStatus::Rejected,
        Note::default(),
        &by(other()),
        now(),
    );
    assert_eq!(no_such.unwrap_err(), DomainError::NoSuchLink(7_777));
}

#[test]
fn verifying_with_open_contradictions_needs_them_acknowledged_and_records_them() {
    for status in [LinkStatus::Suggested, LinkStatus::Confirmed] {
        let (ours, _) = contradicting_pair(status);
        assert_eq!(
            verify_acknowledging(&ours, false).unwrap_err(),
            DomainError::OpenContradictions { links: vec![90] },
            "{status:?}"
        );
        let verified = verify_acknowledging(&ours, true).unwrap();
        assert_eq!(verified.claim.state, State::Verified);
        assert_eq!(verified.events[0].acknowledged, [90]);
    }
    // A rejected contradiction, or another relation, is nothing to
    // acknowledge.
    let (ours, theirs) = contradicting_pair(LinkStatus::Suggested);
    let (rejected, _) = resolve_link(
        &ours,
        &theirs,
        90,
        LinkStatus::Rejected,
        Note::default(),
        &by(checker()),
        now(),
    )
    .unwrap();
    let verified = verify_acknowledging(&rejected.claim, false).unwrap();
    assert!(verified.events[0].acknowledged.is_empty());
}

#[test]
fn a_confirmed_contradiction_of_a_verified_claim_refutes_for_a_dispute() {
    let (mut ours, theirs) = contradicting_pair(LinkStatus::Confirmed);
    ours.evidence.retain(|e| e.stance != Stance::Refutes);
    let dispute = |claim: &Claim, peers: &dyn Peers| {
        claim.decide(
            Command::Dispute {
                note: note("The ministry's count holds"),
            },
            &by(checker()),
            now(),
            peers,
        )
    };
    let states = |state| HashMap::from([(theirs.id, state)]);
    assert_eq!(
        dispute(&ours, &states(State::Unverified)).unwrap_err(),
        DomainError::NoRefutingEvidence
    );
    assert_eq!(
        dispute(&ours, &NoPeers).unwrap_err(),
        DomainError::NoRefutingEvidence
    );
    let disputed = dispute(&ours, &states(State::Verified)).unwrap();
    assert_eq!(disputed.claim.state, State::Disputed);
    // Only a confirmed one: a suggestion is not yet the desk's view.
    let (mut suggested, theirs) = contradicting_pair(LinkStatus::Suggested);
    suggested.evidence.retain(|e| e.stance != Stance::Refutes);
    let verified = HashMap::from([(theirs.id, State::Verified)]);
    assert_eq!(
        dispute(&suggested, &verified).unwrap_err(),
        DomainError::NoRefutingEvidence
    );
}

#[test]
fn refuting_evidence_reopens_a_verified_claim_in_the_same_change() {
    let verified = claim_in(State::Verified);
    let add = |stance| Command::AddEvidence {
        id: evidence_id(60),
        evidence: new_evidence(MONITORS, stance),
    };
    let changed = verified
        .decide(add(Stance::Refutes), &by(researcher()), now(), &NoPeers)
        .unwrap();
    assert_eq!(changed.claim.state, State::Unverified);
    assert_eq!(changed.claim.assignee, None);
    assert_eq!(changed.claim.verdict_note, Note::default());
    let [added, reopened] = &changed.events[..] else {
        panic!("{:?}", changed.events);
    };
    assert_eq!(
        (added.action, &added.actor, added.to),
        (Action::AddEvidence, &researcher(), State::Verified)
    );
    assert_eq!(
        (reopened.action, reopened.actor.as_str(), reopened.to),
        (Action::Reopen, UserName::SYSTEM, State::Unverified)
    );
    assert_eq!(reopened.note.as_str(), REOPENED_BY_EVIDENCE);
    for stance in [Stance::Supports, Stance::Context] {
        assert_eq!(
            verified
                .decide(add(stance), &by(researcher()), now(), &NoPeers)
                .unwrap_err(),
            DomainError::VerifiedNeedsRefuting
        );
    }
    // On other claims evidence is one event, as before.
    let in_review = claim_in(State::InReview)
        .decide(add(Stance::Refutes), &by(checker()), now(), &NoPeers)
        .unwrap();
    assert_eq!(in_review.events.len(), 1);
}

#[test]
fn a_new_claim_is_suggested_as_contradicting_and_duplicating_earlier_ones() {
    let earlier_count = story_claim(
        1,
        "Valdoria has moved 9,000 troops to the Kelmar Pass.",
        "Valdorian defence ministry",
        10,
    );
    let original = story_claim(
        2,
        "Valdoria moved about 14,000 troops to the Kelmar Pass.",
        ATTRIBUTED,
        20,
    );
    let repeated = story_claim(
        3,
        "About 14,000 troops were moved by Valdoria to the Kelmar Pass.",
        ATTRIBUTED,
        30,
    );
    let compatible = story_claim(
        4,
        "Valdoria has moved more than 10,000 troops to the Kelmar Pass.",
        "Kelmar border monitors",
        40,
    );
    let new = story_claim(
        5,
        "Some fourteen thousand troops were moved by Valdoria to the Kelmar Pass.",
        ATTRIBUTED,
        50,
    );
    // Newest first, as the store reads them.
    let candidates = [&compatible, &repeated, &original, &earlier_count];
    let wording = Wording::of(new.statement.as_str());
    let suggested: Vec<(ClaimId, Relation)> = suggest(&new, &wording, &candidates)
        .iter()
        .map(|s| (s.other, s.relation))
        .collect();
    assert_eq!(
        suggested,
        [
            // One duplicate, of the oldest that says the same.
            (original.id, Relation::Duplicates),
            (earlier_count.id, Relation::Contradicts),
        ]
    );
    let contradiction = &suggest(&new, &wording, &candidates)[1];
    assert_eq!(contradiction.basis.len(), 1);
    assert_eq!(contradiction.basis[0].this.low, Milli(14_000_000));
    assert_eq!(contradiction.basis[0].other.low, Milli(9_000_000));
    assert!(
        contradiction
            .note()
            .as_str()
            .contains("cannot both be true")
    );

    // Another source saying the same is no duplicate (it may corroborate).
    let mut elsewhere = new.clone();
    elsewhere.attribution.source = source("Kelmar Courier");
    let suggested = suggest(&elsewhere, &wording, &candidates);
    assert!(
        suggested
            .iter()
            .all(|s| s.relation == Relation::Contradicts),
        "{suggested:?}"
    );
}

#[test]
fn suggestions_are_bounded_and_skip_claims_linked_already() {
    let candidates: Vec<Claim> = (0..3 * MAX_SUGGESTIONS as u64)
        .map(|n| {
            story_claim(
                10 + n,
                &format!(
                    "Valdoria has moved {} troops to the Kelmar Pass.",
                    1_000 * (n + 1)
                ),
                "Valdorian defence ministry",
                n,
            )
        })
        .filter(|c| c.figures[0].low != Milli(14_000_000))
        .collect();
    let refs: Vec<&Claim> = candidates.iter().collect();
    let mut new = claim_in(State::Unverified);
    let wording = Wording::of(new.statement.as_str());
    assert_eq!(suggest(&new, &wording, &refs).len(), MAX_SUGGESTIONS);
    new.links = vec![Link {
        other: candidates[0].id,
        ..new.links[0].clone()
    }];
    assert!(
        suggest(&new, &wording, &refs)
            .iter()
            .all(|s| s.other != candidates[0].id)
    );
}
