//! Etags.

use super::*;

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
