//! Key layouts. Every key ends with the 16 big-endian bytes of a ULID or the
//! 8 big-endian bytes of a revision, so byte order is submission or revision
//! order.
//!
//! The `index` tree holds one entry per (claim, indexed field):
//! `[kind] value 0x00 suffix`. Indexed values never contain a NUL byte
//! (they are slugs, or names validated to hold no control characters), so
//! `[kind] value 0x00` is a prefix that selects exactly one value. Filter
//! indexes end with the claim id; the others put an order before it:
//!
//! | kind | value | suffix | holds |
//! | --- | --- | --- | --- |
//! | `s` `t` `o` `a` | story, state, source, assignee | id | every claim (assignee: if any) |
//! | `q` | — | rank ‖ deadline ‖ id | unverified claims: the queue |
//! | `Q` | story | rank ‖ deadline ‖ id | the queue of one story |
//! | `g` | tag | rank ‖ deadline ‖ id | the queue of one tag |
//! | `G` | story 0x00 tag | rank ‖ deadline ‖ id | the queue of one story and tag |
//! | `w` | story | id | unverified claims of one story, oldest first |
//! | `l` | — | lease expiry ‖ id | claims in review with a lease |
//! | `d` | — | deadline ‖ id | claims with a deadline and no ruling |
//! | `D` | story | deadline ‖ id | the same, of one story |
//! | `f` | story 0x00 figure key | !id | each figure of a claim, valued with the figure |
//! | `u` | story | !id | every claim, valued with the key of its normalised wording |
//! | `k` | story | link id ‖ id | open contradictions, at their subject claim |
//!
//! `!id` is the id with every bit inverted, so that these indexes read
//! forward give the newest claims first (sled 0.34 reads backward at many
//! times the cost), and a new claim's entry goes at the front of its
//! story's range, where the last one went. The figure and wording entries
//! are written once, with the claim, and never removed (figures and statements do not change); the figure key is
//! [`Figure::index_key`](crate::domain::Figure::index_key), the wording key
//! [`Wording::key`](crate::domain::Wording::key). A figure entry's value is
//! the figure ([`records::encode_figure`](super::records::encode_figure)),
//! so a new claim is compared with candidates without reading them.
//!
//! `rank` is one byte that sorts breaking before urgent before routine;
//! times are 16 big-endian bytes of nanoseconds since 1970 (no deadline
//! sorts last).
//!
//! The `counters` tree holds claim counts per state and unverified counts
//! per priority, overall and per story, kept in the same transaction as the
//! claims they count.

use std::time::SystemTime;

use crate::domain::{Claim, ClaimId, End, Figure, LinkId, Priority, Slug, State};

use super::{
    ClaimFilter,
    records::{self, state_code, to_ns},
};

const STORY: u8 = b's';
const STATE: u8 = b't';
const SOURCE: u8 = b'o';
const ASSIGNEE: u8 = b'a';
const QUEUE: u8 = b'q';
const STORY_QUEUE: u8 = b'Q';
const TAG_QUEUE: u8 = b'g';
const STORY_TAG_QUEUE: u8 = b'G';
const STORY_WAITING: u8 = b'w';
const LEASES: u8 = b'l';
const DEADLINES: u8 = b'd';
const STORY_DEADLINES: u8 = b'D';
const FIGURES: u8 = b'f';
const WORDING: u8 = b'u';
const CONFLICTS: u8 = b'k';

/// Length of a claim id at the end of every index key.
pub const ID_LEN: usize = 16;
/// Length of a time in index keys.
pub const TIME_LEN: usize = 16;

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

fn story_tag(story: &str, tag: &str) -> Vec<u8> {
    prefix(STORY_TAG_QUEUE, format!("{story}\0{tag}").as_bytes())
}

/// Breaking sorts first, then urgent, then routine.
fn rank(p: Priority) -> u8 {
    match p {
        Priority::Breaking => 0,
        Priority::Urgent => 1,
        Priority::Routine => 2,
    }
}

fn time(t: Option<SystemTime>) -> [u8; TIME_LEN] {
    t.map_or(u128::MAX, to_ns).to_be_bytes()
}

/// The index keys of a claim.
/// Every entry of the source index starts with this.
pub fn source_index() -> [u8; 1] {
    [SOURCE]
}

/// The source index entry of `claim`: its source's comparison key.
pub fn source_entry(claim: &Claim) -> Vec<u8> {
    let mut key = source(&claim.attribution.source.normalized());
    key.extend_from_slice(&claim.id.to_bytes());
    key
}

/// Every index entry of `claim` but its [`source_entry`].
pub fn index_entries(claim: &Claim) -> Vec<Vec<u8>> {
    let story_name = claim.story.as_str();
    let id = claim.id.to_bytes();
    let with = |mut key: Vec<u8>, parts: &[&[u8]]| {
        for part in parts {
            key.extend_from_slice(part);
        }
        key.extend_from_slice(&id);
        key
    };
    // The source entry is apart ([`source_entry`]): it changes only with
    // the source, and its key costs a Unicode normalisation.
    let mut keys = vec![
        with(story(story_name), &[]),
        with(state(state_code(claim.state)), &[]),
    ];
    if let Some(a) = &claim.assignee {
        keys.push(with(assignee(a.as_str()), &[]));
    }
    if claim.state == State::Unverified {
        let order = [&[rank(claim.priority)][..], &time(claim.deadline)];
        keys.push(with(prefix(QUEUE, &[]), &order));
        keys.push(with(prefix(STORY_QUEUE, story_name.as_bytes()), &order));
        for tag in &claim.tags {
            keys.push(with(prefix(TAG_QUEUE, tag.as_str().as_bytes()), &order));
            keys.push(with(story_tag(story_name, tag.as_str()), &order));
        }
        keys.push(with(prefix(STORY_WAITING, story_name.as_bytes()), &[]));
    }
    if let (State::InReview, Some(lease)) = (claim.state, claim.lease) {
        keys.push(with(prefix(LEASES, &[]), &[&time(Some(lease.expires))]));
    }
    for link in &claim.links {
        if link.is_open_contradiction() && link.end == End::Subject {
            keys.push(with(conflicts(story_name), &[&link.id.to_be_bytes()]));
        }
    }
    if matches!(claim.state, State::Unverified | State::InReview) && claim.deadline.is_some() {
        let deadline = time(claim.deadline);
        keys.push(with(prefix(DEADLINES, &[]), &[&deadline]));
        keys.push(with(
            prefix(STORY_DEADLINES, story_name.as_bytes()),
            &[&deadline],
        ));
    }
    keys
}

/// Prefix of the entries of `story`'s claims with a figure under `key`;
/// keys continue with the inverted id.
pub fn figures(story: &str, key: &str) -> Vec<u8> {
    prefix(FIGURES, format!("{story}\0{key}").as_bytes())
}

/// The figure index entry of `figure` of `claim`.
pub fn figure_entry(claim: &Claim, figure: &Figure) -> Vec<u8> {
    let mut key = figures(claim.story.as_str(), &figure.index_key());
    key.extend_from_slice(&newest_first(claim.id));
    key
}

/// Prefix of the wording entries of `story`'s claims; keys continue with
/// the inverted id.
pub fn wordings(story: &str) -> Vec<u8> {
    prefix(WORDING, story.as_bytes())
}

/// The wording index entry of `claim` (its value is the wording's key).
pub fn wording_entry(claim: &Claim) -> Vec<u8> {
    let mut key = wordings(claim.story.as_str());
    key.extend_from_slice(&newest_first(claim.id));
    key
}

/// The entries a claim gets once, when it is stored (figures and statements
/// never change), with their values: its comparable figures in the figure
/// index and its wording, whose key is `wording_key`, in the wording index.
pub fn written_once(claim: &Claim, wording_key: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = claim
        .figures
        .iter()
        .filter(|f| f.is_comparable())
        .map(|figure| (figure_entry(claim, figure), records::encode_figure(figure)))
        .collect();
    entries.push((wording_entry(claim), wording_key.as_bytes().to_vec()));
    entries
}

/// `id` with every bit inverted: later ids sort first.
fn newest_first(id: ClaimId) -> [u8; ID_LEN] {
    id.to_bytes().map(|b| !b)
}

/// The claim id that ends a key of the figure or wording index.
pub fn newest_first_id_at_end(key: &[u8]) -> Option<ClaimId> {
    let start = key.len().checked_sub(ID_LEN)?;
    let inverted: [u8; ID_LEN] = key[start..].try_into().ok()?;
    Some(ClaimId::from_bytes(inverted.map(|b| !b)))
}

/// Prefix of the open contradictions of `story`; keys continue with the
/// link id and the id of the claim at its subject end.
pub fn conflicts(story: &str) -> Vec<u8> {
    prefix(CONFLICTS, story.as_bytes())
}

/// The link id and subject claim of a contradiction entry under `prefix`.
pub fn conflict_at(key: &[u8], prefix: &[u8]) -> Option<(LinkId, ClaimId)> {
    let rest = key.get(prefix.len()..)?;
    if rest.len() != 8 + ID_LEN {
        return None;
    }
    let id = u64::from_be_bytes(rest[..8].try_into().ok()?);
    Some((id, id_at_end(key)?))
}

/// The queues to take from: one per tag if tags are given (a claim with
/// any of them qualifies), else the story's queue or the whole queue.
pub fn queue_prefixes(story: Option<&Slug>, tags: &[Slug]) -> Vec<Vec<u8>> {
    match (story.map(Slug::as_str), tags.is_empty()) {
        (None, true) => vec![prefix(QUEUE, &[])],
        (Some(s), true) => vec![prefix(STORY_QUEUE, s.as_bytes())],
        (None, false) => tags
            .iter()
            .map(|t| prefix(TAG_QUEUE, t.as_str().as_bytes()))
            .collect(),
        (Some(s), false) => tags.iter().map(|t| story_tag(s, t.as_str())).collect(),
    }
}

/// Prefix of the lease index; keys continue with expiry ‖ id.
pub fn leases() -> Vec<u8> {
    prefix(LEASES, &[])
}

/// Prefix of the deadline index of `story`, or of all claims; keys
/// continue with deadline ‖ id.
pub fn deadlines(story: Option<&str>) -> Vec<u8> {
    match story {
        None => prefix(DEADLINES, &[]),
        Some(s) => prefix(STORY_DEADLINES, s.as_bytes()),
    }
}

/// Prefix of the unverified claims of `story`, or of all claims, in
/// submission order; keys continue with the id.
pub fn waiting(story: Option<&str>) -> Vec<u8> {
    match story {
        None => state(state_code(State::Unverified)),
        Some(s) => prefix(STORY_WAITING, s.as_bytes()),
    }
}

/// The time that follows `prefix` in an index key.
pub fn time_following(key: &[u8], prefix: &[u8]) -> Option<SystemTime> {
    let bytes: [u8; TIME_LEN] = key
        .get(prefix.len()..prefix.len() + TIME_LEN)?
        .try_into()
        .ok()?;
    super::records::from_ns(u128::from_be_bytes(bytes))
}

/// The claim id that ends an index key.
pub fn id_at_end(key: &[u8]) -> Option<ClaimId> {
    let start = key.len().checked_sub(ID_LEN)?;
    Some(ClaimId::from_bytes(key[start..].try_into().ok()?))
}

/// Counter keys of a claim: its state, and its priority while it waits,
/// overall and for its story.
pub fn counters(claim: &Claim) -> Vec<Vec<u8>> {
    let code = state_code(claim.state);
    let mut keys = vec![
        state_counter(code, None),
        state_counter(code, Some(claim.story.as_str())),
    ];
    if claim.state == State::Unverified {
        let p = rank(claim.priority);
        keys.push(waiting_counter(p, None));
        keys.push(waiting_counter(p, Some(claim.story.as_str())));
    }
    keys
}

fn counter(kind: u8, code: u8, story: Option<&str>) -> Vec<u8> {
    let mut key = vec![kind, code];
    if let Some(s) = story {
        key.extend_from_slice(s.as_bytes());
    }
    key
}

/// Key of the count of claims in the state with `code`.
pub fn state_counter(code: u8, story: Option<&str>) -> Vec<u8> {
    counter(b's', code, story)
}

/// Key of the count of unverified claims of `priority`.
pub fn priority_counter(priority: Priority, story: Option<&str>) -> Vec<u8> {
    waiting_counter(rank(priority), story)
}

fn waiting_counter(rank: u8, story: Option<&str>) -> Vec<u8> {
    counter(b'p', rank, story)
}

/// The index prefixes a filter selects; empty if it filters nothing.
pub fn filter_prefixes(filter: &ClaimFilter) -> Vec<Vec<u8>> {
    let mut prefixes = Vec::new();
    if let Some(a) = &filter.assignee {
        prefixes.push(assignee(a.as_str()));
    }
    if let Some(s) = &filter.story {
        prefixes.push(story(s.as_str()));
    }
    if let Some(s) = &filter.source {
        prefixes.push(source(s.as_str()));
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

/// Prefix of the values kept for backup `session` in the `backups` tree.
pub fn backup_session(session: u64) -> [u8; 8] {
    session.to_be_bytes()
}

/// Key of the value kept for backup `session` of `key` of the tree named
/// `tree` (`c`: claims, `r`: request ids).
pub fn kept_for_backup(session: u64, tree: u8, key: &[u8]) -> Vec<u8> {
    let mut kept = Vec::with_capacity(9 + key.len());
    kept.extend_from_slice(&backup_session(session));
    kept.push(tree);
    kept.extend_from_slice(key);
    kept
}

/// The smallest id greater than `id`, if any.
pub fn successor(id: ClaimId) -> Option<ClaimId> {
    let n = u128::from_be_bytes(id.to_bytes());
    n.checked_add(1)
        .map(|n| ClaimId::from_bytes(n.to_be_bytes()))
}
