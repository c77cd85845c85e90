//! Evidence rules.

use super::*;

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
