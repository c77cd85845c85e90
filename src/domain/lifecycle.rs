//! The state machine of a claim: which action is allowed in which state, by
//! whom and on what evidence, and the wording each state allows in copy.

use std::time::{Duration, SystemTime};

use super::{
    claim::{Claim, ClaimId, Evidence, EvidenceId, MAX_EVIDENCE_PER_CLAIM, NewEvidence, Stance},
    fields::{Note, Slug, SourceName, UserName},
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
            (Verify, InReview) => Some(Verified),
            (Dispute, InReview) => Some(Disputed),
            (MarkInconclusive, InReview) => Some(Inconclusive),
            (Reopen, Verified | Disputed | Inconclusive) => Some(Unverified),
            (Withdraw, Unverified | InReview | Verified | Disputed | Inconclusive) => {
                Some(Withdrawn)
            }
            (
                StartReview | Release | RenewLease | ExpireLease | Reassign | AddEvidence | Verify
                | Dispute | MarkInconclusive | Reopen | Withdraw,
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
}

impl Action {
    pub const ALL: [Action; 12] = [
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
        }
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
    /// The actor's role does not allow this change of this claim; `role`
    /// would.
    #[error("{}", role_required_message(*action, *role))]
    RoleRequired { action: Action, role: Role },
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

    /// Applies `command` by `actor` at `now`: the changed claim (its revision
    /// still to be set by the store) and the history entry, or why the rules
    /// refuse it. Checks run in a fixed order: lease, state, role, assignee,
    /// evidence.
    pub fn apply(
        &self,
        command: Command,
        actor: &Actor,
        now: SystemTime,
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
        next.update_time = now;
        if to != State::InReview {
            next.lease = None;
        } else if self.assignee.as_ref() == Some(name) {
            // Any action of the assignee renews their lease.
            next.lease = self.lease.map(|lease| lease.renewed(now));
        }
        let mut note = Note::default();
        let mut added = None;
        let mut reassigned_to = None;
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
            Command::Verify { note: n } => {
                let independent = self.attribution.any_independent(
                    self.evidence
                        .iter()
                        .filter(|e| e.stance == Stance::Supports)
                        .map(|e| &e.source),
                );
                if !independent {
                    return Err(DomainError::NoIndependentEvidence);
                }
                next.verdict_note = n.clone();
                note = n;
            }
            Command::Dispute { note: n } => {
                if !self.evidence.iter().any(|e| e.stance == Stance::Refutes) {
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
        }
        // Whoever lost the claim to an expired lease is told so until they
        // take it again or the claim moves on; another checker taking it
        // does not make the old holder's lease any less expired.
        let keeps_expired_holder = match action {
            Action::ExpireLease | Action::AddEvidence | Action::RenewLease => true,
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
        };
        Ok((next, event))
    }
}
