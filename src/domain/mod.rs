//! The verification rules, free of I/O: what a claim is, which inputs are
//! valid, which state changes are allowed and by whom, and the wording copy
//! may use. Nothing here knows about gRPC, protobuf or sled; time and ids are
//! passed in, so every rule is a plain function that unit tests can drive.

mod claim;
mod fields;
mod figures;
mod lifecycle;
mod links;
mod names;
mod roles;

pub use claim::{
    Attribution, Claim, ClaimId, Evidence, EvidenceId, MAX_EVIDENCE_PER_CLAIM, NewClaim,
    NewEvidence, Priority, Stance,
};
pub use fields::{Invalid, Note, Slug, SourceName, Statement, UserName, WebUrl};
pub use figures::{
    Agreement, Counted, Figure, Milli, Qualifier, Unit, Wording, compare, conflicts, extract,
    same_claim,
};
pub use lifecycle::{
    Action, Changed, Command, DomainError, Event, EventDraft, Lease, NoPeers, Peers,
    REOPENED_BY_EVIDENCE, State, label, link_claims, resolve_link,
};
pub use links::{
    End, FigurePair, Link, LinkId, LinkStatus, MAX_LINKS_PER_CLAIM, MAX_SUGGESTIONS, Relation,
    Resolution, Suggestion, basis, suggest,
};
pub use roles::{Actor, Role};

#[cfg(test)]
mod tests;
