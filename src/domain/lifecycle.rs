//! The state machine of a claim: which action is allowed in which state, by
//! whom and on what evidence, and the wording each state allows in copy.

use std::{
    collections::HashMap,
    time::{Duration, SystemTime},
};

use super::{
    claim::{Claim, ClaimId, Evidence, EvidenceId, MAX_EVIDENCE_PER_CLAIM, NewEvidence, Stance},
    fields::{Note, Slug, SourceName, UserName},
    links::{End, Link, LinkId, LinkStatus, MAX_LINKS_PER_CLAIM, Relation, Resolution},
    roles::{Actor, Role},
};

/// Where a claim stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Unverified,
    InReview,
    Verified,
    Disputed,
    Inconclusive,
    Withdrawn,
}

impl State {
    pub const ALL: [State; 6] = [
        State::Unverified,
        State::InReview,
        State::Verified,
        State::Disputed,
        State::Inconclusive,
        State::Withdrawn,
    ];

    /// The state an action leads to from this one, or `None` if the action
    /// is not allowed here. This table is the whole state machine.
    pub fn after(self, action: Action) -> Option<State> {
        use {Action::*, State::*};
        match (action, self) {
            (Submit, _) => None,
            (StartReview, Unverified) => Some(InReview),
            (Release, InReview) => Some(Unverified),
            (RenewLease, InReview) => Some(InReview),
            (Reassign, InReview) => Some(InReview),
            (ExpireLease, InReview) => Some(Unverified),
            (AddEvidence, Unverified | InReview) => Some(self),
            // Refuting evidence only; the claim is then reopened (see
            // `Claim::decide`).
            (AddEvidence, Verified) => Some(self),
            // Links are kept beside the workflow: any claim but a withdrawn
            // one may be linked, and a link of any claim resolved.
            (Link, Unverified | InReview | Verified | Disputed | Inconclusive) => Some(self),
            (ResolveLink, _) => Some(self),
            (Verify, InReview) => Some(Verified),
            (Dispute, InReview) => Some(Disputed),
            (MarkInconclusive, InReview) => Some(Inconclusive),
            (Reopen, Verified | Disputed | Inconclusive) => Some(Unverified),
            (Withdraw, Unverified | InReview | Verified | Disputed | Inconclusive) => {
                Some(Withdrawn)
            }
            (
                StartReview | Release | RenewLease | ExpireLease | Reassign | AddEvidence | Verify
                | Dispute | MarkInconclusive | Reopen | Withdraw | Link,
                _,
            ) => None,
        }
    }

    /// Lower-case name used in messages, e.g. `in review`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Unverified => "unverified",
            State::InReview => "in review",
            State::Verified => "verified",
            State::Disputed => "disputed",
            State::Inconclusive => "inconclusive",
            State::Withdrawn => "withdrawn",
        }
    }
}

/// The wording copy may use for a claim in `state` attributed to `source`.
pub fn label(state: State, source: &SourceName) -> String {
    match state {
        State::Unverified | State::InReview => format!("unverified (per {source})"),
        State::Verified => "verified".to_owned(),
        State::Disputed => "disputed".to_owned(),
        State::Inconclusive => format!("could not be independently verified (per {source})"),
        State::Withdrawn => "withdrawn".to_owned(),
    }
}

/// Everything that can happen to a claim; also the type of a history event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Submit,
    StartReview,
    Release,
    RenewLease,
    ExpireLease,
    Reassign,
    AddEvidence,
    Verify,
    Dispute,
    MarkInconclusive,
    Reopen,
    Withdraw,
    /// One end of a link was made (by the desk, or suggested by the
    /// service).
    Link,
    /// A link was confirmed or rejected.
    ResolveLink,
}

impl Action {
    pub const ALL: [Action; 14] = [
        Action::Submit,
        Action::StartReview,
        Action::Release,
        Action::RenewLease,
        Action::ExpireLease,
        Action::Reassign,
        Action::AddEvidence,
        Action::Verify,
        Action::Dispute,
        Action::MarkInconclusive,
        Action::Reopen,
        Action::Withdraw,
        Action::Link,
        Action::ResolveLink,
    ];

    /// Lower-case name used in messages, e.g. `start review`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Submit => "submit",
            Action::StartReview => "start review",
            Action::Release => "release",
            Action::RenewLease => "renew the lease of",
            Action::ExpireLease => "expire the lease of",
            Action::Reassign => "reassign",
            Action::AddEvidence => "add evidence",
            Action::Verify => "verify",
            Action::Dispute => "dispute",
            Action::MarkInconclusive => "mark inconclusive",
            Action::Reopen => "reopen",
            Action::Withdraw => "withdraw",
            Action::Link => "link",
            Action::ResolveLink => "resolve a link of",
        }
    }

    /// Whether the action changes the claim's links only.
    pub fn is_about_links(self) -> bool {
        matches!(self, Action::Link | Action::ResolveLink)
    }

    /// Actions that only the claim's assignee may take.
    fn needs_assignee(self) -> bool {
        matches!(
            self,
            Action::Release
                | Action::RenewLease
                | Action::Verify
                | Action::Dispute
                | Action::MarkInconclusive
        )
    }
}

/// A change asked of an existing claim, with its validated input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Take the claim for review, leased to the actor for `lease`.
    StartReview {
        lease: Duration,
    },
    Release {
        note: Note,
    },
    /// Extend the assignee's lease by its duration, from now.
    RenewLease,
    /// Return a claim whose lease ran out to the queue (by the system).
    ExpireLease,
    /// Give a claim in review to another checker, leased to them for
    /// `lease` (by a chief).
    Reassign {
        to: UserName,
        lease: Duration,
        note: Note,
    },
    AddEvidence {
        id: EvidenceId,
        evidence: NewEvidence,
    },
    Verify {
        note: Note,
        /// Whether the checker acknowledges the claim's open
        /// contradictions: without it, a claim with any is not verified.
        acknowledge_contradictions: bool,
    },
    Dispute {
        note: Note,
    },
    MarkInconclusive {
        note: Note,
    },
    Reopen {
        reason: Note,
    },
    Withdraw {
        reason: Note,
    },
    /// Adds this claim's end of a link (the other claim gets the mirrored
    /// end in the same change).
    Link {
        link: Link,
    },
    /// Confirms or rejects a link: a suggested one either way, a confirmed
    /// one only to rejected.
    ResolveLink {
        id: LinkId,
        status: LinkStatus,
        note: Note,
    },
}

impl Command {
    pub fn action(&self) -> Action {
        match self {
            Command::StartReview { .. } => Action::StartReview,
            Command::Release { .. } => Action::Release,
            Command::RenewLease => Action::RenewLease,
            Command::ExpireLease => Action::ExpireLease,
            Command::Reassign { .. } => Action::Reassign,
            Command::AddEvidence { .. } => Action::AddEvidence,
            Command::Verify { .. } => Action::Verify,
            Command::Dispute { .. } => Action::Dispute,
            Command::MarkInconclusive { .. } => Action::MarkInconclusive,
            Command::Reopen { .. } => Action::Reopen,
            Command::Withdraw { .. } => Action::Withdraw,
            Command::Link { .. } => Action::Link,
            Command::ResolveLink { .. } => Action::ResolveLink,
        }
    }
}

/// Why a change was refused by the rules (as opposed to failing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{} is not allowed on a claim that is {}", action.as_str(), state.as_str())]
    InvalidTransition { action: Action, state: State },
    #[error("only the assignee ({}) may {} this claim", assignee.as_ref().map_or("nobody", UserName::as_str), action.as_str())]
    NotAssignee {
        action: Action,
        assignee: Option<UserName>,
    },
    #[error("verifying needs supporting evidence from a source other than the claim's attribution")]
    NoIndependentEvidence,
    #[error("disputing needs refuting evidence")]
    NoRefutingEvidence,
    #[error("a claim holds at most {MAX_EVIDENCE_PER_CLAIM} pieces of evidence")]
    TooMuchEvidence,
    #[error("the claim has changed since it was read (etag is now {current})")]
    StaleEtag { current: String },
    #[error("the review lease of {holder} has expired; take the claim again")]
    LeaseExpired { holder: UserName },
    #[error("the review lease has not expired yet")]
    LeaseNotExpired,
    #[error("only the system may {}", action.as_str())]
    SystemOnly { action: Action },
    #[error(
        "the claim has open contradictions ({}); verifying it needs them acknowledged",
        link_list(links)
    )]
    OpenContradictions { links: Vec<LinkId> },
    #[error("only refuting evidence may be added to a verified claim (it reopens the claim)")]
    VerifiedNeedsRefuting,
    #[error("a claim holds at most {MAX_LINKS_PER_CLAIM} links")]
    TooManyLinks,
    #[error("the claim has no link {0}")]
    NoSuchLink(LinkId),
    #[error("the claims are linked already as {} (link {id})", relation.as_str())]
    AlreadyLinked { id: LinkId, relation: Relation },
    #[error("a link is {} already and cannot become {}", from.as_str(), to.as_str())]
    LinkResolved { from: LinkStatus, to: LinkStatus },
    #[error("a claim cannot be linked to itself")]
    SelfLink,
    #[error("linked claims must belong to one story; the other claim is of {story}")]
    OtherStory { story: Slug },
    /// The actor's role does not allow this change of this claim; `role`
    /// would.
    #[error("{}", role_required_message(*action, *role))]
    RoleRequired { action: Action, role: Role },
}

fn link_list(links: &[LinkId]) -> String {
    let names: Vec<String> = links.iter().map(|l| format!("link {l}")).collect();
    names.join(", ")
}

fn role_required_message(action: Action, role: Role) -> String {
    match action {
        Action::Withdraw => format!("only its submitter or a {role} may withdraw a claim"),
        Action::Release => {
            format!("only the assignee or a {role} may release a claim in review")
        }
        _ => format!("only a {role} may {} a claim", action.as_str()),
    }
}

/// What an accepted change records in the history; the store gives it its
/// revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDraft {
    pub action: Action,
    pub actor: UserName,
    pub time: SystemTime,
    pub from: Option<State>,
    pub to: State,
    pub note: Note,
    pub evidence: Option<Evidence>,
    /// Whom a reassignment gave the claim to.
    pub assignee: Option<UserName>,
    /// For a link made or resolved: the claim's end of it, after the
    /// event.
    pub link: Option<Link>,
    /// For a verification: the open contradictions the checker
    /// acknowledged.
    pub acknowledged: Vec<LinkId>,
}

/// One entry of a claim's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Strictly increasing and gap-free across all claims.
    pub revision: u64,
    pub claim_id: ClaimId,
    /// The story of the claim, so followers of a story can pick its events.
    pub story: Slug,
    pub action: Action,
    pub actor: UserName,
    pub time: SystemTime,
    pub from: Option<State>,
    pub to: State,
    pub note: Note,
    pub evidence: Option<Evidence>,
    /// Whom a reassignment gave the claim to.
    pub assignee: Option<UserName>,
    /// For a link made or resolved: the claim's end of it, after the
    /// event.
    pub link: Option<Link>,
    /// For a verification: the open contradictions the checker
    /// acknowledged.
    pub acknowledged: Vec<LinkId>,
}

impl EventDraft {
    /// The history entry of a submission.
    pub fn submitted(claim: &Claim) -> Self {
        Self {
            action: Action::Submit,
            actor: claim.submitted_by.clone(),
            time: claim.create_time,
            from: None,
            to: claim.state,
            note: Note::default(),
            evidence: None,
            assignee: None,
            link: None,
            acknowledged: Vec::new(),
        }
    }

    /// The event as stored: of `claim` (as changed), at `revision`.
    pub fn with_revision(self, claim: &Claim, revision: u64) -> Event {
        Event {
            revision,
            claim_id: claim.id,
            story: claim.story.clone(),
            action: self.action,
            actor: self.actor,
            time: self.time,
            from: self.from,
            to: self.to,
            note: self.note,
            evidence: self.evidence,
            assignee: self.assignee,
            link: self.link,
            acknowledged: self.acknowledged,
        }
    }
}

/// A checker's hold on a claim in review. It runs out unless the checker
/// acts on the claim (each action renews it) before `expires`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub expires: SystemTime,
    /// How long each renewal extends it, from the moment of the renewal.
    pub duration: Duration,
}

impl Lease {
    /// The longest lease: a day. Longer ones are cut to it.
    pub const MAX: Duration = Duration::from_secs(24 * 60 * 60);

    pub fn starting(now: SystemTime, duration: Duration) -> Self {
        let duration = duration.min(Self::MAX);
        Self {
            expires: now + duration,
            duration,
        }
    }

    pub fn renewed(self, now: SystemTime) -> Self {
        Self::starting(now, self.duration)
    }

    pub fn has_expired(self, now: SystemTime) -> bool {
        self.expires <= now
    }
}

impl Claim {
    /// Fails with [`DomainError::LeaseExpired`] if `actor` is acting on a
    /// lease that has run out: theirs has expired (even if the system has
    /// not yet returned the claim to the queue), or the claim was taken from
    /// them when it did.
    fn check_lease(
        &self,
        action: Action,
        actor: &UserName,
        now: SystemTime,
    ) -> Result<(), DomainError> {
        if action == Action::ExpireLease {
            return if actor.as_str() == UserName::SYSTEM {
                Ok(())
            } else {
                Err(DomainError::SystemOnly { action })
            };
        }
        // Acting on the claim would renew a lease that has run out (or rule
        // on a claim the holder no longer holds); withdrawing is anyone's
        // right and renews nothing.
        let would_hold_it =
            action.needs_assignee() || self.state.after(action) == Some(State::InReview);
        let holds_expired_lease = would_hold_it
            && self.state == State::InReview
            && self.assignee.as_ref() == Some(actor)
            && self.lease.is_some_and(|l| l.has_expired(now));
        let lost_lease = action.needs_assignee()
            && self.assignee.as_ref() != Some(actor)
            && self.expired_holder.as_ref() == Some(actor);
        if holds_expired_lease || lost_lease {
            Err(DomainError::LeaseExpired {
                holder: actor.clone(),
            })
        } else {
            Ok(())
        }
    }

    /// Fails unless `etag` is empty (unconditional) or the current etag.
    pub fn check_etag(&self, etag: &str) -> Result<(), DomainError> {
        if etag.is_empty() || etag == self.etag() {
            Ok(())
        } else {
            Err(DomainError::StaleEtag {
                current: self.etag(),
            })
        }
    }

    /// Fails with [`DomainError::RoleRequired`] if the actor's role does
    /// not allow `action` on this claim: withdrawing another's claim,
    /// releasing another checker's, and reassigning need a chief.
    fn check_role(&self, action: Action, actor: &Actor) -> Result<(), DomainError> {
        let needs_chief = match action {
            Action::Withdraw => self.submitted_by != actor.name,
            Action::Release => self.assignee.as_ref() != Some(&actor.name),
            Action::Reassign => true,
            _ => false,
        };
        if needs_chief && !actor.role.includes(Role::Chief) {
            Err(DomainError::RoleRequired {
                action,
                role: Role::Chief,
            })
        } else {
            Ok(())
        }
    }

    /// Applies `command` by `actor` at `now` as one step: the changed claim
    /// (its revision still to be set by the store) and the history entry,
    /// or why the rules refuse it. Checks run in a fixed order: lease,
    /// state, role, assignee, evidence, links. [`Claim::decide`] adds what
    /// follows by itself and what other claims weigh.
    pub fn apply(
        &self,
        command: Command,
        actor: &Actor,
        now: SystemTime,
    ) -> Result<(Claim, EventDraft), DomainError> {
        self.apply_weighing(command, actor, now, &NoPeers)
    }

    /// What the desk asks of the store: `command` applied as by
    /// [`Claim::apply`], with the states of the claims at the other end of
    /// its links read from `peers` (a confirmed contradiction of a verified
    /// claim counts as refuting evidence for a dispute), and then what
    /// follows by itself: refuting evidence added to a verified claim
    /// reopens it, by the system, in the same change.
    pub fn decide(
        &self,
        command: Command,
        actor: &Actor,
        now: SystemTime,
        peers: &dyn Peers,
    ) -> Result<Changed, DomainError> {
        let reopens = command.action() == Action::AddEvidence && self.state == State::Verified;
        let (claim, event) = self.apply_weighing(command, actor, now, peers)?;
        let mut events = vec![event];
        if !reopens {
            return Ok(Changed { claim, events });
        }
        let reason = Note::parse(REOPENED_BY_EVIDENCE).expect("the reason is a valid note");
        let (claim, reopened) = claim.apply(Command::Reopen { reason }, &Actor::system(), now)?;
        events.push(reopened);
        Ok(Changed { claim, events })
    }

    fn apply_weighing(
        &self,
        command: Command,
        actor: &Actor,
        now: SystemTime,
        peers: &dyn Peers,
    ) -> Result<(Claim, EventDraft), DomainError> {
        let action = command.action();
        let name = &actor.name;
        self.check_lease(action, name, now)?;
        let to = self
            .state
            .after(action)
            .ok_or(DomainError::InvalidTransition {
                action,
                state: self.state,
            })?;
        self.check_role(action, actor)?;
        // A chief may release another checker's claim; every other action
        // of the assignee stays theirs alone.
        let chief_release = action == Action::Release && actor.role.includes(Role::Chief);
        if action.needs_assignee() && !chief_release && self.assignee.as_ref() != Some(name) {
            return Err(DomainError::NotAssignee {
                action,
                assignee: self.assignee.clone(),
            });
        }

        let mut next = self.clone();
        next.state = to;
        // A link made or resolved says how the claim bears on others; the
        // claim itself (and the time of its ruling) is unchanged.
        if !action.is_about_links() {
            next.update_time = now;
        }
        if to != State::InReview {
            next.lease = None;
        } else if self.assignee.as_ref() == Some(name) {
            // Any action of the assignee renews their lease.
            next.lease = self.lease.map(|lease| lease.renewed(now));
        }
        let mut note = Note::default();
        let mut added = None;
        let mut reassigned_to = None;
        let mut link = None;
        let mut acknowledged = Vec::new();
        match command {
            Command::StartReview { lease } => {
                next.assignee = Some(name.clone());
                next.lease = Some(Lease::starting(now, lease));
            }
            Command::Release { note: n } => {
                next.assignee = None;
                note = n;
            }
            Command::RenewLease => {}
            Command::Reassign { to, lease, note: n } => {
                next.assignee = Some(to.clone());
                next.lease = Some(Lease::starting(now, lease));
                reassigned_to = Some(to);
                note = n;
            }
            Command::ExpireLease => {
                if !self.lease.is_some_and(|l| l.has_expired(now)) {
                    return Err(DomainError::LeaseNotExpired);
                }
                next.expired_holder = next.assignee.take();
            }
            Command::AddEvidence { id, evidence } => {
                if self.evidence.len() >= MAX_EVIDENCE_PER_CLAIM {
                    return Err(DomainError::TooMuchEvidence);
                }
                if self.state == State::Verified && evidence.stance != Stance::Refutes {
                    return Err(DomainError::VerifiedNeedsRefuting);
                }
                let evidence = Evidence {
                    id,
                    url: evidence.url,
                    summary: evidence.summary,
                    source: evidence.source,
                    stance: evidence.stance,
                    added_by: name.clone(),
                    add_time: now,
                };
                next.evidence.push(evidence.clone());
                added = Some(evidence);
            }
            Command::Verify {
                note: n,
                acknowledge_contradictions,
            } => {
                let independent = self.attribution.any_independent(
                    self.evidence
                        .iter()
                        .filter(|e| e.stance == Stance::Supports)
                        .map(|e| &e.source),
                );
                if !independent {
                    return Err(DomainError::NoIndependentEvidence);
                }
                let open: Vec<LinkId> = self.open_contradictions().map(|l| l.id).collect();
                if !open.is_empty() && !acknowledge_contradictions {
                    return Err(DomainError::OpenContradictions { links: open });
                }
                acknowledged = open;
                next.verdict_note = n.clone();
                note = n;
            }
            Command::Dispute { note: n } => {
                let refuted = self.evidence.iter().any(|e| e.stance == Stance::Refutes)
                    || self.links.iter().any(|l| {
                        l.relation == Relation::Contradicts
                            && l.status == LinkStatus::Confirmed
                            && peers.state_of(l.other) == Some(State::Verified)
                    });
                if !refuted {
                    return Err(DomainError::NoRefutingEvidence);
                }
                next.verdict_note = n.clone();
                note = n;
            }
            Command::MarkInconclusive { note: n } => {
                next.verdict_note = n.clone();
                note = n;
            }
            Command::Reopen { reason } => {
                next.assignee = None;
                next.verdict_note = Note::default();
                note = reason;
            }
            Command::Withdraw { reason } => {
                if self.state == State::InReview {
                    next.assignee = None;
                }
                note = reason;
            }
            Command::Link { link: new } => {
                if let Some(open) = self.links.iter().find(|l| {
                    l.other == new.other && l.relation == new.relation && l.status.is_open()
                }) {
                    return Err(DomainError::AlreadyLinked {
                        id: open.id,
                        relation: open.relation,
                    });
                }
                if self.links.len() >= MAX_LINKS_PER_CLAIM {
                    return Err(DomainError::TooManyLinks);
                }
                note = new.note.clone();
                next.links.push(new.clone());
                link = Some(new);
            }
            Command::ResolveLink {
                id,
                status,
                note: n,
            } => {
                let at = self
                    .links
                    .iter()
                    .position(|l| l.id == id)
                    .ok_or(DomainError::NoSuchLink(id))?;
                let from = self.links[at].status;
                let allowed = matches!(
                    (from, status),
                    (
                        LinkStatus::Suggested,
                        LinkStatus::Confirmed | LinkStatus::Rejected
                    ) | (LinkStatus::Confirmed, LinkStatus::Rejected)
                );
                if !allowed {
                    return Err(DomainError::LinkResolved { from, to: status });
                }
                let resolved = &mut next.links[at];
                resolved.status = status;
                resolved.resolution = Some(Resolution {
                    by: name.clone(),
                    time: now,
                    note: n.clone(),
                });
                link = Some(resolved.clone());
                note = n;
            }
        }
        // Whoever lost the claim to an expired lease is told so until they
        // take it again or the claim moves on; another checker taking it
        // does not make the old holder's lease any less expired.
        let keeps_expired_holder = match action {
            Action::ExpireLease
            | Action::AddEvidence
            | Action::RenewLease
            | Action::Link
            | Action::ResolveLink => true,
            Action::StartReview => self.expired_holder.as_ref() != Some(name),
            _ => false,
        };
        if !keeps_expired_holder {
            next.expired_holder = None;
        }
        let event = EventDraft {
            action,
            actor: name.clone(),
            time: now,
            from: Some(self.state),
            to,
            note,
            evidence: added,
            assignee: reassigned_to,
            link,
            acknowledged,
        };
        Ok((next, event))
    }
}

/// The reason the system gives when refuting evidence reopens a verified
/// claim.
pub const REOPENED_BY_EVIDENCE: &str = "reopened by new evidence: refuting evidence was added";

/// The states of other claims, as a change reads them (see
/// [`Claim::decide`]).
pub trait Peers {
    fn state_of(&self, id: ClaimId) -> Option<State>;
}

/// No other claim is known.
pub struct NoPeers;

impl Peers for NoPeers {
    fn state_of(&self, _: ClaimId) -> Option<State> {
        None
    }
}

impl Peers for HashMap<ClaimId, State> {
    fn state_of(&self, id: ClaimId) -> Option<State> {
        self.get(&id).copied()
    }
}

impl<F: Fn(ClaimId) -> Option<State>> Peers for F {
    fn state_of(&self, id: ClaimId) -> Option<State> {
        self(id)
    }
}

/// What one change did to a claim: the claim as changed, and its history
/// entries in order (most changes make one; refuting evidence on a
/// verified claim makes two, the evidence and the reopening).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub claim: Claim,
    pub events: Vec<EventDraft>,
}

impl Changed {
    pub fn one(claim: Claim, event: EventDraft) -> Self {
        Self {
            claim,
            events: vec![event],
        }
    }
}

/// Links `a` to `b` with `relation`, `a` at end `a_end`, as one change of
/// both claims: each gets its end of link `id` and a history entry. Both
/// claims must be of one story.
#[allow(clippy::too_many_arguments)]
pub fn link_claims(
    a: &Claim,
    b: &Claim,
    id: LinkId,
    relation: Relation,
    a_end: End,
    status: LinkStatus,
    note: Note,
    basis: Vec<super::links::FigurePair>,
    actor: &Actor,
    now: SystemTime,
) -> Result<(Changed, Changed), DomainError> {
    if a.id == b.id {
        return Err(DomainError::SelfLink);
    }
    if a.story != b.story {
        return Err(DomainError::OtherStory {
            story: b.story.clone(),
        });
    }
    let link = Link {
        id,
        other: b.id,
        relation,
        end: a_end,
        status,
        note,
        created_by: actor.name.clone(),
        create_time: now,
        resolution: None,
        basis,
    };
    let mirrored = link.mirrored(a.id);
    let (a2, a_event) = a.apply(Command::Link { link }, actor, now)?;
    let (b2, b_event) = b.apply(Command::Link { link: mirrored }, actor, now)?;
    Ok((Changed::one(a2, a_event), Changed::one(b2, b_event)))
}

/// Resolves link `id` of `a` (whose other end is `b`) to `status`, on both
/// claims.
pub fn resolve_link(
    a: &Claim,
    b: &Claim,
    id: LinkId,
    status: LinkStatus,
    note: Note,
    actor: &Actor,
    now: SystemTime,
) -> Result<(Changed, Changed), DomainError> {
    let command = |note: Note| Command::ResolveLink { id, status, note };
    let (a2, a_event) = a.apply(command(note.clone()), actor, now)?;
    let (b2, b_event) = b.apply(command(note), actor, now)?;
    Ok((Changed::one(a2, a_event), Changed::one(b2, b_event)))
}
