//! How claims relate: links between two claims of one story, suggested by
//! the service when figures disagree or a statement repeats an earlier one,
//! or recorded by the desk.
//!
//! A link joins two claims and shows on both: each claim holds its end of
//! it ([`Link`]), with the same id, relation and status. Its id is the
//! revision of the event that made it, so it is unique and needs no
//! generator. A link is *open* while suggested or confirmed; a rejected link
//! stays in both claims' links and histories, and the pair may be linked
//! again.

use std::time::SystemTime;

use super::{
    claim::{Claim, ClaimId},
    fields::{Note, UserName},
    figures::{self, Figure, Wording},
};

/// At most this many links are held by one claim; a suggestion that would
/// go beyond it on either claim is not made.
pub const MAX_LINKS_PER_CLAIM: usize = 100;

/// At most this many links are suggested for one new claim.
pub const MAX_SUGGESTIONS: usize = 8;

/// Identifies a link: the revision of the event that made it.
pub type LinkId = u64;

/// How one claim bears on the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relation {
    /// The two cannot both be true.
    Contradicts,
    /// Each makes the other more likely.
    Corroborates,
    /// The subject says the same as the object, which came first.
    Duplicates,
    /// The subject replaces the object (a later, corrected figure).
    Supersedes,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Contradicts => "contradicts",
            Relation::Corroborates => "corroborates",
            Relation::Duplicates => "duplicates",
            Relation::Supersedes => "supersedes",
        }
    }
}

/// Where a link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkStatus {
    /// Made by the service; waits for a checker to confirm or reject it.
    Suggested,
    /// Made by the desk, or a suggestion a checker confirmed.
    Confirmed,
    /// A suggestion (or a link) a checker rejected. Final.
    Rejected,
}

impl LinkStatus {
    pub fn is_open(self) -> bool {
        self != LinkStatus::Rejected
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LinkStatus::Suggested => "suggested",
            LinkStatus::Confirmed => "confirmed",
            LinkStatus::Rejected => "rejected",
        }
    }
}

/// Which end of a link a claim holds: for a directed relation, the subject
/// is the claim that duplicates or supersedes the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    Subject,
    Object,
}

impl End {
    pub fn other(self) -> End {
        match self {
            End::Subject => End::Object,
            End::Object => End::Subject,
        }
    }
}

/// Two figures compared: one of this claim's and one of the other's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FigurePair {
    pub this: Figure,
    pub other: Figure,
}

impl FigurePair {
    fn swapped(&self) -> FigurePair {
        FigurePair {
            this: self.other.clone(),
            other: self.this.clone(),
        }
    }
}

/// A checker's decision on a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub by: UserName,
    pub time: SystemTime,
    pub note: Note,
}

/// One claim's end of a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub id: LinkId,
    /// The claim at the other end.
    pub other: ClaimId,
    pub relation: Relation,
    pub end: End,
    pub status: LinkStatus,
    /// Why it was made: the desk's note, or the service's account of the
    /// comparison.
    pub note: Note,
    pub created_by: UserName,
    pub create_time: SystemTime,
    /// The latest confirmation or rejection, if any.
    pub resolution: Option<Resolution>,
    /// The comparison that suggested it: the figures that disagree (a
    /// contradiction) or agree (a duplicate), this claim's first.
    pub basis: Vec<FigurePair>,
}

impl Link {
    /// The same link as the other claim holds it.
    pub fn mirrored(&self, this: ClaimId) -> Link {
        Link {
            other: this,
            end: self.end.other(),
            basis: self.basis.iter().map(FigurePair::swapped).collect(),
            ..self.clone()
        }
    }

    /// Whether the link is an open contradiction.
    pub fn is_open_contradiction(&self) -> bool {
        self.relation == Relation::Contradicts && self.status.is_open()
    }
}

/// A link the service suggests between a new claim and an earlier one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    pub other: ClaimId,
    /// `Contradicts`, or `Duplicates` (the new claim is the subject).
    pub relation: Relation,
    pub basis: Vec<FigurePair>,
}

impl Suggestion {
    /// The note the suggestion is made with: what was compared.
    pub fn note(&self) -> Note {
        let text = match self.relation {
            Relation::Duplicates => {
                "suggested: says the same as an earlier claim of the story from the same source"
                    .to_owned()
            }
            _ => {
                let pairs: Vec<String> = self
                    .basis
                    .iter()
                    .map(|p| format!("\"{}\" against \"{}\"", p.this.text, p.other.text))
                    .collect();
                format!(
                    "suggested: figures cannot both be true: {}",
                    pairs.join("; ")
                )
            }
        };
        // Bounded: at most MAX_PER_STATEMENT pairs of 120-character texts.
        Note::parse(&truncate(&text, Note::MAX_CHARS)).unwrap_or_default()
    }

    /// The suggested link `id` made between `new` (its subject) and
    /// `other`, the candidate it names, by the system as `new` is stored:
    /// both claims changed, or why the rules refuse it (a claim with no
    /// room for another link).
    pub fn link(
        self,
        new: &Claim,
        other: &Claim,
        id: LinkId,
    ) -> Result<(super::Changed, super::Changed), super::DomainError> {
        let note = self.note();
        super::link_claims(
            new,
            other,
            id,
            self.relation,
            End::Subject,
            LinkStatus::Suggested,
            note,
            self.basis,
            &super::Actor::system(),
            new.create_time,
        )
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// What the service suggests for `new`, compared with `candidates` (earlier
/// claims of its story that count some of the same things, or word it the
/// same way, newest first; the caller has left out withdrawn claims and
/// claims with no room for another link): that it duplicates the oldest
/// candidate that says the same thing from the same source (one duplicate
/// is enough to point the desk at the original), and that it contradicts
/// each candidate whose figures cannot be true with its own, newest first;
/// at most [`MAX_SUGGESTIONS`] in all. A candidate linked to `new` already
/// is skipped. `wording` is `new`'s ([`Wording::of`] its statement).
pub fn suggest(new: &Claim, wording: &Wording, candidates: &[&Claim]) -> Vec<Suggestion> {
    let unlinked = || {
        candidates
            .iter()
            .filter(|c| c.id != new.id && !new.links.iter().any(|l| l.other == c.id))
    };
    let original = unlinked().rfind(|c| {
        !c.attribution.is_independent_of(&new.attribution.source)
            && figures::same_claim(
                wording,
                &new.figures,
                &Wording::of(c.statement.as_str()),
                &c.figures,
            )
    });
    let mut out: Vec<Suggestion> = original
        .map(|c| Suggestion {
            other: c.id,
            relation: Relation::Duplicates,
            basis: basis(Relation::Duplicates, new, c),
        })
        .into_iter()
        .collect();
    for candidate in unlinked() {
        if out.len() >= MAX_SUGGESTIONS {
            break;
        }
        if original.is_some_and(|o| o.id == candidate.id) {
            continue;
        }
        let pairs = figures::conflicts(&new.figures, &candidate.figures);
        if !pairs.is_empty() {
            out.push(Suggestion {
                other: candidate.id,
                relation: Relation::Contradicts,
                basis: pairs
                    .into_iter()
                    .map(|(a, b)| FigurePair {
                        this: new.figures[a].clone(),
                        other: candidate.figures[b].clone(),
                    })
                    .collect(),
            });
        }
    }
    out
}

/// The figures a link between `a` and `b` rests on, `a`'s first: those that
/// disagree for a contradiction, else those that count the same things.
pub fn basis(relation: Relation, a: &Claim, b: &Claim) -> Vec<FigurePair> {
    let pair = |(i, j): (usize, usize)| FigurePair {
        this: a.figures[i].clone(),
        other: b.figures[j].clone(),
    };
    if relation == Relation::Contradicts {
        return figures::conflicts(&a.figures, &b.figures)
            .into_iter()
            .map(pair)
            .collect();
    }
    let mut pairs = Vec::new();
    for (i, this) in a.figures.iter().enumerate() {
        if let Some(j) = b
            .figures
            .iter()
            .position(|other| figures::compare(this, other) != figures::Agreement::Unrelated)
        {
            pairs.push(pair((i, j)));
        }
    }
    pairs
}
