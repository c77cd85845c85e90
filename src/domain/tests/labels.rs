//! Labels.

use super::*;

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
