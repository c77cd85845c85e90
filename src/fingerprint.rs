//! Fingerprints of what clients send, for idempotent retries and for page
//! tokens. Each is SHA-256 over a canonical, versioned encoding written out
//! field by field: never `Debug` output, which Rust does not promise to keep,
//! so a retry after an upgrade still matches the request it repeats.
//!
//! Encoding: a version tag, then each field as its length (8 bytes, big
//! endian) and its bytes; lists as their count, then their entries. No two
//! different requests encode alike.

use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::{
    domain::{NewClaim, Priority, Slug, State, UserName},
    storage::{ClaimFilter, Fingerprint, SourceKey},
};

/// Hashes fields, each length-prefixed.
struct Encoder(Sha256);

impl Encoder {
    fn new(version_tag: &str) -> Self {
        let mut encoder = Self(Sha256::new());
        encoder.field(version_tag.as_bytes());
        encoder
    }

    fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update((bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
        self
    }

    fn count(&mut self, n: usize) -> &mut Self {
        self.field(&(n as u64).to_be_bytes())
    }

    fn optional(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            None => self.field(&[0]),
            Some(v) => self.field(&[1]).field(v.as_bytes()),
        }
    }

    fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// The fingerprint of a submission by `caller`.
pub fn submission(new: &NewClaim, caller: &str) -> Fingerprint {
    Fingerprint {
        current: submission_v2(new, caller),
        v1: submission_v1(new),
    }
}

fn priority_code(p: Priority) -> u8 {
    match p {
        Priority::Routine => 1,
        Priority::Urgent => 2,
        Priority::Breaking => 3,
    }
}

/// Version 2: every field of the claim and the caller.
fn submission_v2(new: &NewClaim, caller: &str) -> [u8; 32] {
    let mut e = Encoder::new("claimdesk.submit.v2");
    e.field(caller.as_bytes())
        .field(new.statement.as_str().as_bytes())
        .field(new.attribution.source.as_str().as_bytes())
        .count(new.attribution.relayed_from.len());
    for r in &new.attribution.relayed_from {
        e.field(r.as_str().as_bytes());
    }
    e.optional(new.attribution.url.as_ref().map(|u| u.as_str()))
        .field(new.story.as_str().as_bytes())
        .count(new.tags.len());
    for t in &new.tags {
        e.field(t.as_str().as_bytes());
    }
    e.field(&[priority_code(new.priority)]);
    match new.deadline {
        None => e.field(&[0]),
        Some(d) => {
            let since = d.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
            e.field(&[1])
                .field(&since.as_secs().to_be_bytes())
                .field(&since.subsec_nanos().to_be_bytes())
        }
    };
    e.finish()
}

/// Version 1, as stored by earlier releases (their request records carry no
/// version): no version tag, no caller, and the priority and deadline as
/// their `Debug` text of the time, spelled out here so that it no longer
/// depends on `Debug`.
fn submission_v1(new: &NewClaim) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(new.statement.as_str().as_bytes());
    field(new.attribution.source.as_str().as_bytes());
    field(&(new.attribution.relayed_from.len() as u64).to_be_bytes());
    for r in &new.attribution.relayed_from {
        field(r.as_str().as_bytes());
    }
    field(
        new.attribution
            .url
            .as_ref()
            .map_or("", |u| u.as_str())
            .as_bytes(),
    );
    field(new.story.as_str().as_bytes());
    field(&(new.tags.len() as u64).to_be_bytes());
    for t in &new.tags {
        field(t.as_str().as_bytes());
    }
    let priority = match new.priority {
        Priority::Routine => "Routine",
        Priority::Urgent => "Urgent",
        Priority::Breaking => "Breaking",
    };
    field(priority.as_bytes());
    let deadline = match new.deadline {
        None => "None".to_owned(),
        Some(d) => format!(
            "Some({})",
            v1_duration_text(d.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default())
        ),
    };
    field(deadline.as_bytes());
    h.finalize().into()
}

/// A duration as version 1 spelled it: the shortest decimal of the largest
/// unit that is at least 1 (`1796121000.25s`, `1.5ms`, `0ns`).
fn v1_duration_text(d: Duration) -> String {
    let (whole, fraction, digits, unit) = if d.as_secs() > 0 {
        (d.as_secs(), u64::from(d.subsec_nanos()), 9, "s")
    } else if d.subsec_nanos() >= 1_000_000 {
        let n = u64::from(d.subsec_nanos());
        (n / 1_000_000, n % 1_000_000, 6, "ms")
    } else if d.subsec_nanos() >= 1_000 {
        let n = u64::from(d.subsec_nanos());
        (n / 1_000, n % 1_000, 3, "µs")
    } else {
        (u64::from(d.subsec_nanos()), 0, 0, "ns")
    };
    if fraction == 0 {
        format!("{whole}{unit}")
    } else {
        let fraction = format!("{fraction:0digits$}");
        format!("{whole}.{}{unit}", fraction.trim_end_matches('0'))
    }
}

fn state_code(s: State) -> u8 {
    match s {
        State::Unverified => 1,
        State::InReview => 2,
        State::Verified => 3,
        State::Disputed => 4,
        State::Inconclusive => 5,
        State::Withdrawn => 6,
    }
}

/// The digest of a listing's filters, which its page tokens carry so that
/// a token is not replayed with other filters.
pub fn claim_filter(f: &ClaimFilter) -> [u8; 32] {
    let mut e = Encoder::new("claimdesk.list_claims.v2");
    e.optional(f.story.as_ref().map(Slug::as_str));
    match f.state {
        None => e.field(&[0]),
        Some(s) => e.field(&[1, state_code(s)]),
    };
    e.optional(f.source.as_ref().map(SourceKey::as_str))
        .optional(f.assignee.as_ref().map(UserName::as_str));
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Attribution, Slug, SourceName, Statement, WebUrl};

    fn hex(bytes: [u8; 32]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn ferry_claim() -> NewClaim {
        NewClaim {
            statement: Statement::parse("Ferry services resume on Monday").unwrap(),
            attribution: Attribution {
                source: SourceName::parse("Harbour Gazette").unwrap(),
                relayed_from: vec![SourceName::parse("Lindell Ferries").unwrap()],
                url: Some(WebUrl::parse("https://example.org/ferry").unwrap()),
            },
            story: Slug::parse("lindell-port-strike").unwrap(),
            tags: vec![
                Slug::parse("transport").unwrap(),
                Slug::parse("ferries").unwrap(),
            ],
            priority: Priority::Urgent,
            deadline: Some(SystemTime::UNIX_EPOCH + Duration::new(1_796_121_000, 250_000_000)),
        }
    }

    fn plain_claim() -> NewClaim {
        NewClaim {
            priority: Priority::Routine,
            deadline: None,
            attribution: Attribution {
                url: None,
                ..ferry_claim().attribution
            },
            ..ferry_claim()
        }
    }

    /// Fingerprints that earlier releases stored: a retry of the same
    /// request after an upgrade must still match them.
    #[test]
    fn version_1_fingerprints_are_those_earlier_releases_stored() {
        assert_eq!(
            hex(submission(&ferry_claim(), "ed.morgan").v1),
            "7902e426aef9a819847f090d14870c830c2f0cbb92927a25a56aadfde167dc59"
        );
        assert_eq!(
            hex(submission(&plain_claim(), "ed.morgan").v1),
            "2094e9054f9596e32e95cfd4a41fec707c145f340109852cc550856af1e1cb10"
        );
    }

    /// Stored from this release on: changing the encoding needs a version 3.
    #[test]
    fn version_2_fingerprints_stay_as_stored() {
        assert_eq!(
            hex(submission(&ferry_claim(), "ed.morgan").current),
            "d0b539a38667f3eb356dcd73f1844103da7ccfb5ec5e91de65dc03ebcbad3c77"
        );
    }

    #[test]
    fn the_caller_and_every_field_change_the_fingerprint() {
        let base = submission(&ferry_claim(), "ed.morgan").current;
        assert_ne!(submission(&ferry_claim(), "kim").current, base);
        let mut later = ferry_claim();
        later.deadline = Some(SystemTime::UNIX_EPOCH + Duration::new(1_796_121_000, 250_000_001));
        assert_ne!(submission(&later, "ed.morgan").current, base);
        let mut moved = ferry_claim();
        moved.tags.reverse();
        assert_ne!(submission(&moved, "ed.morgan").current, base);
        let mut breaking = ferry_claim();
        breaking.priority = Priority::Breaking;
        assert_ne!(submission(&breaking, "ed.morgan").current, base);
        assert_ne!(submission(&plain_claim(), "ed.morgan").current, base);
    }

    #[test]
    fn version_1_durations_are_spelled_as_debug_spelled_them() {
        for d in [
            Duration::new(1_796_121_000, 250_000_000),
            Duration::new(1_796_121_000, 0),
            Duration::new(1, 1),
            Duration::new(0, 1_500_000),
            Duration::new(0, 1_000_000),
            Duration::new(0, 2_500),
            Duration::new(0, 7),
            Duration::ZERO,
            Duration::new(253_402_300_799, 999_999_999),
        ] {
            assert_eq!(v1_duration_text(d), format!("{d:?}"));
        }
    }

    #[test]
    fn filters_that_differ_have_different_digests() {
        let all = ClaimFilter::default();
        let story = ClaimFilter {
            story: Some(Slug::parse("a").unwrap()),
            ..ClaimFilter::default()
        };
        let source = ClaimFilter {
            source: Some(SourceKey::of(&SourceName::parse("a").unwrap())),
            ..ClaimFilter::default()
        };
        let verified = ClaimFilter {
            state: Some(State::Verified),
            ..ClaimFilter::default()
        };
        let digests = [&all, &story, &source, &verified].map(claim_filter);
        for (i, a) in digests.iter().enumerate() {
            for b in &digests[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(claim_filter(&story), claim_filter(&story.clone()));
    }

    /// Page tokens carry this digest: a token issued before an upgrade must
    /// still be accepted with the same filters after it.
    #[test]
    fn filter_digests_stay_as_issued() {
        assert_eq!(
            hex(claim_filter(&ClaimFilter::default())),
            "e5d29931512f95f81f36ad6b245c4c5c09ed22b8d1031373f7d53be6deae6ada"
        );
        let every = ClaimFilter {
            story: Some(Slug::parse("lindell-port-strike").unwrap()),
            state: Some(State::Verified),
            source: Some(SourceKey::of(&SourceName::parse("reuters").unwrap())),
            assignee: Some(UserName::parse("checker-kofi").unwrap()),
        };
        assert_eq!(
            hex(claim_filter(&every)),
            "c39d4e0b3d842dc86831967d57e09bb6071de0cd68dffaa8bacf571310826f4f"
        );
    }
}
