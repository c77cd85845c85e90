//! The operations of a run, and how proptest makes them. Everything an
//! operation holds is a name or a small number, so that a counterexample
//! reads as a script: `Submit { by: "ed", .. }`, `Take { by: "cy", .. }`.
//!
//! A claim is named by its place in the run: `claim: 0` is the first claim
//! submitted, `claim: 1` the second; a place no submission has reached yet
//! names a claim that does not exist.

use proptest::prelude::*;

/// The desk's people, each with the one role their token would give them.
pub const USERS: [(&str, Role); 5] = [
    ("ed", Role::Editor),
    ("eve", Role::Editor),
    ("cy", Role::Checker),
    ("cal", Role::Checker),
    ("chi", Role::Chief),
];

/// Who a claim may be reassigned to: the API gives claims only to holders
/// of a checker's or a chief's token, before the desk is asked.
const REVIEWERS: [&str; 3] = ["cy", "cal", "chi"];

pub const STORIES: [&str; 2] = ["border", "harbour"];

/// Statements: the first two read as figures of one family that cannot
/// both be true (the README's own example); the third counts something
/// else; the last has no figure.
pub const STATEMENTS: [&str; 4] = [
    "About 14,000 troops were sent to the border",
    "12,000 soldiers were sent to the border",
    "6,000 soldiers were killed in the fighting",
    "The bridge at Korva was closed",
];

/// Sources of claims; the last is the party claims are relayed from, in
/// another spelling.
pub const SOURCES: [&str; 4] = [
    "Reuters",
    "the president",
    "Harbour Gazette",
    "lindell  dockers UNION",
];
pub const RELAYED: [&str; 1] = ["Lindell Dockers Union"];

/// Sources of evidence: the claims' parties in other spellings (case, white
/// space, a Cyrillic `о`), and parties of their own.
const EVIDENCE_SOURCES: [&str; 6] = [
    "REUTERS",
    "the  President",
    "Lindell D\u{43e}ckers Union",
    "Harbour Gazette",
    "Port Lindell Authority",
    "Coastal Times",
];

const REQUEST_IDS: [&str; 2] = ["req-1", "req-2"];

/// Reasons of reopening and withdrawal; the empty one is refused.
const REASONS: [&str; 2] = ["new figures came in", ""];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Editor,
    Checker,
    Chief,
}

/// The role of `user` (one of [`USERS`]).
pub fn role_of(user: &str) -> Role {
    USERS
        .iter()
        .find(|(name, _)| *name == user)
        .map(|(_, role)| *role)
        .expect("a user of the run")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Routine,
    Urgent,
    Breaking,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stance {
    Supports,
    Refutes,
    Context,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Contradicts,
    Corroborates,
    Duplicates,
    Supersedes,
}

impl Relation {
    /// Whether one end (the subject) duplicates or supersedes the other.
    pub fn is_directed(self) -> bool {
        matches!(self, Relation::Duplicates | Relation::Supersedes)
    }
}

/// The etag a change is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Etag {
    /// None: the change is unconditional.
    Unconditional,
    /// The claim's etag as last read.
    Current,
    /// The etag the claim had this many changes ago (its first, if it has
    /// changed fewer times).
    Stale(usize),
}

/// What a claim is submitted with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub story: &'static str,
    pub statement: &'static str,
    pub source: &'static str,
    pub relayed_from: Option<&'static str>,
    pub priority: Priority,
    /// Minutes after the start of the run.
    pub deadline: Option<u64>,
}

#[derive(Debug, Clone)]
pub enum Op {
    Submit {
        by: &'static str,
        claim: Submission,
        request_id: Option<&'static str>,
    },
    Take {
        by: &'static str,
        story: Option<&'static str>,
    },
    StartReview {
        by: &'static str,
        claim: usize,
        etag: Etag,
    },
    RenewLease {
        by: &'static str,
        claim: usize,
        etag: Etag,
    },
    Release {
        by: &'static str,
        claim: usize,
        etag: Etag,
    },
    Reassign {
        by: &'static str,
        claim: usize,
        to: &'static str,
        etag: Etag,
    },
    AddEvidence {
        by: &'static str,
        claim: usize,
        source: &'static str,
        stance: Stance,
        etag: Etag,
    },
    Verify {
        by: &'static str,
        claim: usize,
        acknowledge_contradictions: bool,
        etag: Etag,
    },
    Dispute {
        by: &'static str,
        claim: usize,
        etag: Etag,
    },
    MarkInconclusive {
        by: &'static str,
        claim: usize,
        etag: Etag,
    },
    Reopen {
        by: &'static str,
        claim: usize,
        reason: &'static str,
        etag: Etag,
    },
    Withdraw {
        by: &'static str,
        claim: usize,
        reason: &'static str,
        etag: Etag,
    },
    Link {
        by: &'static str,
        claim: usize,
        other: usize,
        relation: Relation,
        etag: Etag,
    },
    /// Confirms or rejects the `link`-th link the claim holds (oldest
    /// first); a place beyond its links names a link it does not hold.
    ResolveLink {
        by: &'static str,
        claim: usize,
        link: usize,
        confirm: bool,
        etag: Etag,
    },
    /// Moves the paused clock on.
    Wait { minutes: u64 },
    /// The lease sweeper's pass: every lease that ran out is expired.
    ExpireLeases,
}

impl Op {
    /// The RPC the operation calls, if any.
    pub fn method(&self) -> Option<&'static str> {
        Some(match self {
            Op::Submit { .. } => "SubmitClaim",
            Op::Take { .. } => "TakeNextClaim",
            Op::StartReview { .. } => "StartReview",
            Op::RenewLease { .. } => "RenewLease",
            Op::Release { .. } => "ReleaseClaim",
            Op::Reassign { .. } => "ReassignClaim",
            Op::AddEvidence { .. } => "AddEvidence",
            Op::Verify { .. } => "VerifyClaim",
            Op::Dispute { .. } => "DisputeClaim",
            Op::MarkInconclusive { .. } => "MarkClaimInconclusive",
            Op::Reopen { .. } => "ReopenClaim",
            Op::Withdraw { .. } => "WithdrawClaim",
            Op::Link { .. } => "LinkClaims",
            Op::ResolveLink { .. } => "ResolveLink",
            Op::Wait { .. } | Op::ExpireLeases => return None,
        })
    }

    /// Who calls it, if anyone.
    pub fn caller(&self) -> Option<&'static str> {
        match *self {
            Op::Submit { by, .. }
            | Op::Take { by, .. }
            | Op::StartReview { by, .. }
            | Op::RenewLease { by, .. }
            | Op::Release { by, .. }
            | Op::Reassign { by, .. }
            | Op::AddEvidence { by, .. }
            | Op::Verify { by, .. }
            | Op::Dispute { by, .. }
            | Op::MarkInconclusive { by, .. }
            | Op::Reopen { by, .. }
            | Op::Withdraw { by, .. }
            | Op::Link { by, .. }
            | Op::ResolveLink { by, .. } => Some(by),
            Op::Wait { .. } | Op::ExpireLeases => None,
        }
    }
}

fn user() -> impl Strategy<Value = &'static str> {
    prop::sample::select(USERS.map(|(name, _)| name).to_vec())
}

/// A checker or chief most of the time: they are the ones who review. One
/// checker more often than the others, so that they meet their own claims.
fn reviewer() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        4 => Just("cy"),
        3 => prop::sample::select(REVIEWERS.to_vec()),
        1 => user()
    ]
}

/// The first claims of the run most of the time (so that operations meet
/// on them), now and then a later one (which may not exist yet).
fn claim() -> impl Strategy<Value = usize> {
    prop_oneof![6 => Just(0usize), 4 => Just(1), 2 => Just(2), 1 => 3..9usize]
}

/// The chief most of the time: reopening and reassigning are theirs.
fn chief() -> impl Strategy<Value = &'static str> {
    prop_oneof![3 => Just("chi"), 1 => user()]
}

/// A reason, now and then the empty one, which is refused.
fn reason() -> impl Strategy<Value = &'static str> {
    prop_oneof![5 => Just(REASONS[0]), 1 => Just(REASONS[1])]
}

fn etag() -> impl Strategy<Value = Etag> {
    prop_oneof![
        6 => Just(Etag::Unconditional),
        3 => Just(Etag::Current),
        2 => (1..3usize).prop_map(Etag::Stale),
    ]
}

fn submission() -> impl Strategy<Value = Submission> {
    (
        prop_oneof![3 => Just(STORIES[0]), 1 => Just(STORIES[1])],
        // Mostly the two figures that cannot both be true.
        prop_oneof![
            3 => Just(STATEMENTS[0]),
            3 => Just(STATEMENTS[1]),
            1 => Just(STATEMENTS[2]),
            1 => Just(STATEMENTS[3])
        ],
        prop::sample::select(SOURCES.to_vec()),
        prop::option::weighted(0.3, prop::sample::select(RELAYED.to_vec())),
        // Mostly routine, so that the queue often hands out the first
        // claims, which most operations name.
        prop_oneof![
            4 => Just(Priority::Routine),
            1 => Just(Priority::Urgent),
            1 => Just(Priority::Breaking)
        ],
        prop::option::weighted(0.2, prop_oneof![Just(30u64), Just(60)]),
    )
        .prop_map(
            |(story, statement, source, relayed_from, priority, deadline)| Submission {
                story,
                statement,
                source,
                relayed_from,
                priority,
                deadline,
            },
        )
}

fn stance() -> impl Strategy<Value = Stance> {
    prop_oneof![
        2 => Just(Stance::Supports),
        1 => Just(Stance::Refutes),
        1 => Just(Stance::Context)
    ]
}

fn relation() -> impl Strategy<Value = Relation> {
    prop_oneof![
        Just(Relation::Contradicts),
        Just(Relation::Corroborates),
        Just(Relation::Duplicates),
        Just(Relation::Supersedes)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => submit(),
        5 => (reviewer(), prop::option::weighted(0.3, prop::sample::select(STORIES.to_vec())))
            .prop_map(|(by, story)| Op::Take { by, story }),
        3 => (reviewer(), claim(), etag()).prop_map(|(by, claim, etag)| Op::StartReview { by, claim, etag }),
        2 => (reviewer(), claim(), etag()).prop_map(|(by, claim, etag)| Op::RenewLease { by, claim, etag }),
        2 => (reviewer(), claim(), etag()).prop_map(|(by, claim, etag)| Op::Release { by, claim, etag }),
        1 => (chief(), claim(), prop::sample::select(REVIEWERS.to_vec()), etag())
            .prop_map(|(by, claim, to, etag)| Op::Reassign { by, claim, to, etag }),
        6 => (user(), claim(), prop::sample::select(EVIDENCE_SOURCES.to_vec()), stance(), etag())
            .prop_map(|(by, claim, source, stance, etag)| Op::AddEvidence { by, claim, source, stance, etag }),
        5 => (reviewer(), claim(), prop::bool::weighted(0.5), etag())
            .prop_map(|(by, claim, acknowledge_contradictions, etag)| Op::Verify { by, claim, acknowledge_contradictions, etag }),
        3 => (reviewer(), claim(), etag()).prop_map(|(by, claim, etag)| Op::Dispute { by, claim, etag }),
        2 => (reviewer(), claim(), etag()).prop_map(|(by, claim, etag)| Op::MarkInconclusive { by, claim, etag }),
        2 => (chief(), claim(), reason(), etag())
            .prop_map(|(by, claim, reason, etag)| Op::Reopen { by, claim, reason, etag }),
        2 => (user(), claim(), reason(), etag())
            .prop_map(|(by, claim, reason, etag)| Op::Withdraw { by, claim, reason, etag }),
        2 => (reviewer(), claim(), claim(), relation(), etag())
            .prop_map(|(by, claim, other, relation, etag)| Op::Link { by, claim, other, relation, etag }),
        2 => (reviewer(), claim(), prop_oneof![4 => Just(0usize), 2 => Just(1), 1 => Just(2)], any::<bool>(), etag())
            .prop_map(|(by, claim, link, confirm, etag)| Op::ResolveLink { by, claim, link, confirm, etag }),
        1 => prop_oneof![Just(1u64), Just(5), Just(14), Just(15), Just(16)]
            .prop_map(|minutes| Op::Wait { minutes }),
        1 => Just(Op::ExpireLeases),
    ]
}

fn submit() -> impl Strategy<Value = Op> {
    (
        user(),
        submission(),
        prop::option::weighted(0.4, prop::sample::select(REQUEST_IDS.to_vec())),
    )
        .prop_map(|(by, claim, request_id)| Op::Submit {
            by,
            claim,
            request_id,
        })
}

/// A run: a few submissions (so that the claims the other operations name
/// exist), then up to `max` operations of any kind.
pub fn run(max: usize) -> impl Strategy<Value = Vec<Op>> {
    (
        prop::collection::vec(submit(), 1..=3),
        prop::collection::vec(op(), 1..=max),
    )
        .prop_map(|(mut first, then)| {
            first.extend(then);
            first
        })
}
