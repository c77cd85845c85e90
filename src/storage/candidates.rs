//! What every store shares about comparing a new claim with the earlier
//! claims of its story (the suggestions of [`Store::submit`](super::Store::submit)),
//! and about the keys sources are indexed by: the bounds of the work, and
//! the rule that picks candidates. The stores read their own indexes; the
//! numbers and the rule are one, so the stores cannot drift apart.

use crate::domain::{Agreement, Figure, compare};

/// Figure index entries read per figure of a new claim, newest first: bounds
/// the comparisons of a submission however large its story grows.
pub const CANDIDATES_PER_FIGURE: usize = 64;

/// Figure index entries read per new claim, at most, whatever the number of
/// its figures.
pub const MAX_FIGURE_ENTRIES: usize = 256;

/// Wording entries read per new claim: it is compared word for word with
/// the newest claims of its story, this many at most.
pub const WORDINGS: usize = 64;

/// Claims a new claim is compared with in full, at most (those whose
/// figures disagree with its own, or that may say the same thing).
pub const MAX_CANDIDATES: usize = 16;

/// The version of the comparison key of sources (`SourceName::normalized`)
/// that source indexes are built with. Raise it whenever that key changes:
/// a store's index built with another version would no longer find its
/// entries (the sled store rebuilds its index at open; the PostgreSQL store
/// refuses a database of another version).
pub const SOURCE_KEYS_VERSION: u32 = 2;

/// Whether a candidate's figure `theirs` makes its claim worth reading in
/// full for a new claim's `ours`: they disagree (a contradiction), or are
/// the same figure (a duplicate may say it).
pub fn worth_comparing(ours: &Figure, theirs: &Figure) -> bool {
    match compare(ours, theirs) {
        Agreement::Conflict => true,
        Agreement::Compatible => ours.low == theirs.low && ours.high == theirs.high,
        Agreement::Unrelated => false,
    }
}
