//! Key layouts. Every key ends with the 16 big-endian bytes of a ULID or the
//! 8 big-endian bytes of a revision, so byte order is submission or revision
//! order.
//!
//! The `index` tree holds one entry per (claim, indexed field):
//! `[kind] value 0x00 claim_id`. Indexed values never contain a NUL byte
//! (they are slugs, or names validated to hold no control characters), so
//! `[kind] value 0x00` is a prefix that selects exactly one value.

use crate::domain::{Claim, ClaimId};

use super::{ClaimFilter, records::state_code};

const STORY: u8 = b's';
const STATE: u8 = b't';
const SOURCE: u8 = b'o';
const ASSIGNEE: u8 = b'a';

fn prefix(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(value.len() + 18);
    key.push(kind);
    key.extend_from_slice(value);
    key.push(0);
    key
}

fn story(value: &str) -> Vec<u8> {
    prefix(STORY, value.as_bytes())
}

fn state(code: u8) -> Vec<u8> {
    prefix(STATE, &[code])
}

fn source(normalized: &str) -> Vec<u8> {
    prefix(SOURCE, normalized.as_bytes())
}

fn assignee(name: &str) -> Vec<u8> {
    prefix(ASSIGNEE, name.as_bytes())
}

/// The index keys of a claim.
pub fn index_entries(claim: &Claim) -> Vec<Vec<u8>> {
    let mut prefixes = vec![
        story(claim.story.as_str()),
        state(state_code(claim.state)),
        source(&claim.attribution.source.normalized()),
    ];
    if let Some(a) = &claim.assignee {
        prefixes.push(assignee(a.as_str()));
    }
    let id = claim.id.to_bytes();
    prefixes
        .into_iter()
        .map(|mut p| {
            p.extend_from_slice(&id);
            p
        })
        .collect()
}

/// The index prefixes a filter selects; empty if it filters nothing.
pub fn filter_prefixes(filter: &ClaimFilter) -> Vec<Vec<u8>> {
    let mut prefixes = Vec::new();
    if let Some(a) = &filter.assignee {
        prefixes.push(assignee(a));
    }
    if let Some(s) = &filter.story {
        prefixes.push(story(s));
    }
    if let Some(s) = &filter.source {
        prefixes.push(source(s));
    }
    if let Some(s) = filter.state {
        prefixes.push(state(state_code(s)));
    }
    prefixes
}

pub fn revision(rev: u64) -> [u8; 8] {
    rev.to_be_bytes()
}

/// Key of a claim's event in `events_by_claim`.
pub fn claim_event(id: ClaimId, rev: u64) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(&id.to_bytes());
    key[16..].copy_from_slice(&rev.to_be_bytes());
    key
}

/// The smallest id greater than `id`, if any.
pub fn successor(id: ClaimId) -> Option<ClaimId> {
    let n = u128::from_be_bytes(id.to_bytes());
    n.checked_add(1)
        .map(|n| ClaimId::from_bytes(n.to_be_bytes()))
}
