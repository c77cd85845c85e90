//! The claim and what hangs off it.

use std::{collections::HashSet, fmt, str::FromStr, time::SystemTime};

use ulid::Ulid;

use super::{
    fields::{Note, Slug, SourceName, Statement, UserName, WebUrl},
    figures::{self, Figure},
    lifecycle::{Lease, State},
    links::{Link, LinkId},
};

/// At most this many pieces of evidence are attached to one claim.
pub const MAX_EVIDENCE_PER_CLAIM: usize = 100;

/// Identifies a claim: a ULID made by the service when the claim is
/// submitted, so ids sort in submission order and never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClaimId(Ulid);

impl ClaimId {
    pub fn from_ulid(ulid: Ulid) -> Self {
        Self(ulid)
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(Ulid::from_bytes(bytes))
    }

    /// Big-endian bytes: they sort like the ids themselves.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_bytes()
    }
}

impl fmt::Display for ClaimId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ClaimId {
    type Err = ulid::DecodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ulid::from_string(s).map(Self)
    }
}

/// Identifies a piece of evidence (a ULID, unique across claims).
pub type EvidenceId = Ulid;

/// How urgent a claim is; the queue serves higher priorities first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    #[default]
    Routine,
    Urgent,
    Breaking,
}

/// How a piece of evidence bears on its claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stance {
    Supports,
    Refutes,
    Context,
}

/// Who a claim is attributed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    pub source: SourceName,
    /// Who told the source, nearest first.
    pub relayed_from: Vec<SourceName>,
    pub url: Option<WebUrl>,
}

impl Attribution {
    pub const MAX_RELAYED_FROM: usize = 20;

    /// Whether evidence from `source` comes from outside the claim's chain of
    /// attribution, i.e. whether it can verify the claim independently.
    /// Names are compared by their keys ([`SourceName::party_keys`]), so
    /// another spelling of the claim's source or of someone it relayed
    /// (`Reu\u{200B}ters`, Cyrillic `R\u{435}uters`, Greek `Η` for `H`) is
    /// not independent.
    pub fn is_independent_of(&self, source: &SourceName) -> bool {
        self.any_independent(std::iter::once(source))
    }

    /// Whether any of `sources` is independent (see
    /// [`Attribution::is_independent_of`]); the keys of the chain are
    /// computed once, not once per source.
    pub fn any_independent<'a>(&self, sources: impl IntoIterator<Item = &'a SourceName>) -> bool {
        // Each key is compared only with keys of its own kind.
        let chain: HashSet<(usize, String)> = std::iter::once(&self.source)
            .chain(&self.relayed_from)
            .flat_map(|s| s.party_keys().into_iter().enumerate())
            .collect();
        sources.into_iter().any(|source| {
            source
                .party_keys()
                .into_iter()
                .enumerate()
                .all(|key| !chain.contains(&key))
        })
    }
}

/// A claim as submitted, validated, before the service gives it an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClaim {
    pub statement: Statement,
    pub attribution: Attribution,
    pub story: Slug,
    /// Without duplicates, in the order given.
    pub tags: Vec<Slug>,
    pub priority: Priority,
    pub deadline: Option<SystemTime>,
}

impl NewClaim {
    pub const MAX_TAGS: usize = 20;
}

/// Evidence as submitted, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvidence {
    pub url: Option<WebUrl>,
    pub summary: Note,
    pub source: SourceName,
    pub stance: Stance,
}

/// A piece of evidence attached to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub id: EvidenceId,
    pub url: Option<WebUrl>,
    pub summary: Note,
    pub source: SourceName,
    pub stance: Stance,
    pub added_by: UserName,
    pub add_time: SystemTime,
}

/// A claim as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub id: ClaimId,
    pub statement: Statement,
    pub attribution: Attribution,
    pub story: Slug,
    pub tags: Vec<Slug>,
    pub priority: Priority,
    pub deadline: Option<SystemTime>,
    pub state: State,
    pub evidence: Vec<Evidence>,
    /// The checker who has the claim in review or gave its ruling.
    pub assignee: Option<UserName>,
    /// The assignee's lease, while the claim is in review.
    pub lease: Option<Lease>,
    /// Whoever last lost the claim because their lease ran out.
    pub expired_holder: Option<UserName>,
    pub submitted_by: UserName,
    /// The figures read from the statement when it was submitted (none for
    /// claims stored before figures were read).
    pub figures: Vec<Figure>,
    /// Its ends of links to other claims of its story, oldest first (at
    /// most [`MAX_LINKS_PER_CLAIM`](super::MAX_LINKS_PER_CLAIM)).
    pub links: Vec<Link>,
    /// The note of the latest ruling; empty if none.
    pub verdict_note: Note,
    pub create_time: SystemTime,
    pub update_time: SystemTime,
    /// The revision of the latest event of this claim; the etag is made of it.
    pub revision: u64,
}

impl Claim {
    /// A freshly submitted claim; `revision` is set by the store.
    pub fn submitted(id: ClaimId, new: NewClaim, by: UserName, now: SystemTime) -> Self {
        Self {
            id,
            figures: figures::extract(new.statement.as_str()),
            links: Vec::new(),
            statement: new.statement,
            attribution: new.attribution,
            story: new.story,
            tags: new.tags,
            priority: new.priority,
            deadline: new.deadline,
            state: State::Unverified,
            evidence: Vec::new(),
            assignee: None,
            lease: None,
            expired_holder: None,
            submitted_by: by,
            verdict_note: Note::default(),
            create_time: now,
            update_time: now,
            revision: 0,
        }
    }

    /// The wording copy may use for the claim.
    pub fn label(&self) -> String {
        super::lifecycle::label(self.state, &self.attribution.source)
    }

    /// Its end of link `id`.
    pub fn link(&self, id: LinkId) -> Option<&Link> {
        self.links.iter().find(|l| l.id == id)
    }

    /// Its open (suggested or confirmed) contradictions.
    pub fn open_contradictions(&self) -> impl Iterator<Item = &Link> {
        self.links.iter().filter(|l| l.is_open_contradiction())
    }

    /// Changes whenever the claim changes.
    pub fn etag(&self) -> String {
        self.revision.to_string()
    }
}

impl Default for Note {
    fn default() -> Self {
        Note::parse("").expect("the empty note is valid")
    }
}
