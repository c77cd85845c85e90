//! The desk as the README describes it, written down on its own: the roles
//! of each RPC, the state machine and the order of its checks, leases, the
//! queue's order, evidence and independence, labels, request ids, etags and
//! the links a submission suggests. It shares nothing with the service but
//! the names of the run (`ops`): no domain type, no rule of the code.

use std::{collections::HashMap, time::Duration};

use tonic::Code;

use super::ops::{Etag, Op, Priority, Relation, Role, Stance, Submission, role_of};

/// A review lease: the desk of the run is set up with the default.
pub const LEASE: Duration = Duration::from_secs(15 * 60);
/// Suggestions made for one new claim, at most.
const MAX_SUGGESTIONS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Unverified,
    InReview,
    Verified,
    Disputed,
    Inconclusive,
    Withdrawn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStatus {
    Suggested,
    Confirmed,
    Rejected,
}

/// One end of a link, as a claim holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEnd {
    pub other: usize,
    pub relation: Relation,
    /// Whether this claim is the subject (matters for duplicates and
    /// supersedes only).
    pub subject: bool,
    pub status: LinkStatus,
}

#[derive(Debug, Clone)]
pub struct ModelClaim {
    pub submission: Submission,
    pub submitted_by: &'static str,
    pub state: State,
    pub assignee: Option<&'static str>,
    /// When the lease runs out, on the run's clock; only while in review.
    pub lease_expires: Option<Duration>,
    /// Who lost the claim when their lease was expired: told so while the
    /// claim waits or is in another's review, until they take it again or
    /// the claim changes hands or is ruled on (released, reassigned, ruled,
    /// reopened, withdrawn).
    pub lost_by: Option<&'static str>,
    pub evidence: Vec<(&'static str, Stance)>,
    pub links: Vec<LinkEnd>,
    /// How many times the claim has changed since it was submitted: its
    /// etag changes with each.
    pub version: usize,
    /// Its history: the type of each event and its actor.
    pub history: Vec<(&'static str, &'static str)>,
}

/// The actor of what the server does itself.
const SYSTEM: &str = "system";

impl ModelClaim {
    fn record(&mut self, event: &'static str, actor: &'static str) {
        self.history.push((event, actor));
    }
}

impl ModelClaim {
    /// The wording copy may use, per the README's table.
    pub fn label(&self) -> String {
        let source = self.submission.source;
        match self.state {
            State::Unverified | State::InReview => format!("unverified (per {source})"),
            State::Verified => "verified".to_owned(),
            State::Disputed => "disputed".to_owned(),
            State::Inconclusive => {
                format!("could not be independently verified (per {source})")
            }
            State::Withdrawn => "withdrawn".to_owned(),
        }
    }

    /// The parties the claim came from: its source and whoever relayed it.
    fn parties(&self) -> Vec<String> {
        std::iter::once(self.submission.source)
            .chain(self.submission.relayed_from)
            .map(party)
            .collect()
    }

    fn is_open_contradiction(link: &LinkEnd) -> bool {
        link.relation == Relation::Contradicts && link.status != LinkStatus::Rejected
    }
}

/// A party's name as compared: regardless of case, white space and the
/// lookalike letters of other scripts (only the Cyrillic `о` occurs in the
/// run).
fn party(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
        .replace('\u{43e}', "o")
}

/// Whether two statements of the run cannot both be true: the README's
/// example, about 14,000 troops sent against 12,000 soldiers sent.
fn conflicting(a: &str, b: &str) -> bool {
    use super::ops::STATEMENTS as S;
    (a == S[0] && b == S[1]) || (a == S[1] && b == S[0])
}

/// What the desk should answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The claim at this place of the run.
    Claim(usize),
    /// How many leases the sweeper's pass expired.
    Expired(usize),
    /// Nothing to answer (the clock moved).
    Nothing,
}

/// The code and `ErrorInfo` reason of a refusal.
pub type Refusal = (Code, &'static str);

fn refuse<T>(code: Code, reason: &'static str) -> Result<T, Refusal> {
    Err((code, reason))
}

#[derive(Debug, Default)]
pub struct Model {
    pub claims: Vec<ModelClaim>,
    /// The run's clock: time since the desk started.
    pub now: Duration,
    /// Request ids by caller: the submission and the claim it made.
    requests: HashMap<(&'static str, &'static str), (Submission, usize)>,
}

/// The least role of each RPC, as the README's roles table gives it.
const LEAST_ROLES: [(&str, Role); 14] = [
    ("SubmitClaim", Role::Editor),
    ("AddEvidence", Role::Editor),
    ("WithdrawClaim", Role::Editor),
    ("TakeNextClaim", Role::Checker),
    ("StartReview", Role::Checker),
    ("RenewLease", Role::Checker),
    ("ReleaseClaim", Role::Checker),
    ("VerifyClaim", Role::Checker),
    ("DisputeClaim", Role::Checker),
    ("MarkClaimInconclusive", Role::Checker),
    ("LinkClaims", Role::Checker),
    ("ResolveLink", Role::Checker),
    ("ReopenClaim", Role::Chief),
    ("ReassignClaim", Role::Chief),
];

/// Whether the gate lets `op` through: the caller's role includes the
/// least role of its RPC.
fn admitted(op: &Op) -> bool {
    let (Some(method), Some(by)) = (op.method(), op.caller()) else {
        return true;
    };
    let needed = LEAST_ROLES
        .iter()
        .find(|(m, _)| *m == method)
        .map(|(_, role)| *role)
        .expect("every RPC of the run has a least role");
    role_of(by) >= needed
}

/// The actions only the assignee may take (a chief may also release).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AssigneeOnly {
    Renew,
    Release,
    Verify,
    Dispute,
    MarkInconclusive,
}

impl Model {
    /// How many claims are in each state, in the order of `states`.
    pub fn state_counts(&self, states: &[State]) -> Vec<u64> {
        states
            .iter()
            .map(|s| self.claims.iter().filter(|c| c.state == *s).count() as u64)
            .collect()
    }

    /// Which version of claim `c` an etag names: `None` for no etag.
    fn etag_version(&self, c: usize, etag: Etag) -> Option<usize> {
        let current = self.claims[c].version;
        match etag {
            Etag::Unconditional => None,
            Etag::Current => Some(current),
            Etag::Stale(back) => Some(current.saturating_sub(back)),
        }
    }

    /// Runs `op` on the model: what the desk should answer, the model
    /// changed as the desk should be.
    pub fn step(&mut self, op: &Op) -> Result<Answer, Refusal> {
        if !admitted(op) {
            return refuse(Code::PermissionDenied, "ROLE_REQUIRED");
        }
        match *op {
            Op::Submit {
                by,
                ref claim,
                request_id,
            } => self.submit(by, claim, request_id),
            Op::Take { by, story } => self.take(by, story),
            Op::StartReview { by, claim, etag } => {
                self.existing(claim, etag)?;
                self.start_review(by, claim)
            }
            Op::RenewLease { by, claim, etag } => {
                self.assignee_action(by, claim, etag, AssigneeOnly::Renew)
            }
            Op::Release { by, claim, etag } => {
                self.assignee_action(by, claim, etag, AssigneeOnly::Release)
            }
            Op::Verify {
                by,
                claim,
                acknowledge_contradictions,
                etag,
            } => self.assignee_action(
                by,
                claim,
                etag,
                AssigneeOnly::Verify.with(acknowledge_contradictions),
            ),
            Op::Dispute { by, claim, etag } => {
                self.assignee_action(by, claim, etag, AssigneeOnly::Dispute)
            }
            Op::MarkInconclusive { by, claim, etag } => {
                self.assignee_action(by, claim, etag, AssigneeOnly::MarkInconclusive)
            }
            Op::Reassign {
                by,
                claim,
                to,
                etag,
            } => {
                self.existing(claim, etag)?;
                self.not_on_expired_lease(by, claim)?;
                let c = &mut self.claims[claim];
                if c.state != State::InReview {
                    return refuse(Code::FailedPrecondition, "INVALID_TRANSITION");
                }
                c.assignee = Some(to);
                c.lease_expires = Some(self.now + LEASE);
                c.lost_by = None;
                c.version += 1;
                c.record("TYPE_REASSIGNED", by);
                Ok(Answer::Claim(claim))
            }
            Op::AddEvidence {
                by,
                claim,
                source,
                stance,
                etag,
            } => {
                self.existing(claim, etag)?;
                self.add_evidence(by, claim, source, stance)
            }
            Op::Reopen {
                by,
                claim,
                reason,
                etag,
            } => {
                if reason.is_empty() {
                    return refuse(Code::InvalidArgument, "INVALID_ARGUMENT");
                }
                self.existing(claim, etag)?;
                let c = &mut self.claims[claim];
                if !matches!(
                    c.state,
                    State::Verified | State::Disputed | State::Inconclusive
                ) {
                    return refuse(Code::FailedPrecondition, "INVALID_TRANSITION");
                }
                reopen(c);
                c.version += 1;
                c.record("TYPE_REOPENED", by);
                Ok(Answer::Claim(claim))
            }
            Op::Withdraw {
                by,
                claim,
                reason,
                etag,
            } => {
                if reason.is_empty() {
                    return refuse(Code::InvalidArgument, "INVALID_ARGUMENT");
                }
                self.existing(claim, etag)?;
                let c = &mut self.claims[claim];
                if c.state == State::Withdrawn {
                    return refuse(Code::FailedPrecondition, "INVALID_TRANSITION");
                }
                if c.submitted_by != by && role_of(by) < Role::Chief {
                    return refuse(Code::PermissionDenied, "ROLE_REQUIRED");
                }
                if c.state == State::InReview {
                    c.assignee = None;
                    c.lease_expires = None;
                }
                c.state = State::Withdrawn;
                c.lost_by = None;
                c.version += 1;
                c.record("TYPE_WITHDRAWN", by);
                Ok(Answer::Claim(claim))
            }
            Op::Link {
                by,
                claim,
                other,
                relation,
                etag,
            } => self.link(by, claim, other, relation, etag),
            Op::ResolveLink {
                by,
                claim,
                link,
                confirm,
                etag,
            } => self.resolve(by, claim, link, confirm, etag),
            Op::Wait { minutes } => {
                self.now += Duration::from_secs(minutes * 60);
                Ok(Answer::Nothing)
            }
            Op::ExpireLeases => {
                let now = self.now;
                let mut expired = 0;
                for c in &mut self.claims {
                    if c.state == State::InReview && c.lease_expires.is_some_and(|t| t <= now) {
                        c.state = State::Unverified;
                        c.lost_by = c.assignee.take();
                        c.lease_expires = None;
                        c.version += 1;
                        c.record("TYPE_LEASE_EXPIRED", SYSTEM);
                        expired += 1;
                    }
                }
                Ok(Answer::Expired(expired))
            }
        }
    }

    /// Claim `c` exists and `etag` (if any) is its current one.
    fn existing(&self, c: usize, etag: Etag) -> Result<(), Refusal> {
        if c >= self.claims.len() {
            return refuse(Code::NotFound, "CLAIM_NOT_FOUND");
        }
        match self.etag_version(c, etag) {
            Some(v) if v != self.claims[c].version => refuse(Code::Aborted, "ETAG_MISMATCH"),
            _ => Ok(()),
        }
    }

    /// Whether `by` holds claim `c` in review on a lease that has run out
    /// (whether or not the sweeper has expired it yet).
    fn holds_expired(&self, by: &str, c: usize) -> bool {
        let c = &self.claims[c];
        c.state == State::InReview
            && c.assignee == Some(by)
            && c.lease_expires.is_some_and(|t| t <= self.now)
    }

    /// Whether `by` acts as the assignee on a lease that ran out: theirs
    /// has, or the claim was taken from them when it did.
    fn lease_ran_out(&self, by: &str, c: usize) -> bool {
        let claim = &self.claims[c];
        let lost = claim.lost_by == Some(by) && claim.assignee != Some(by);
        self.holds_expired(by, c) || lost
    }

    /// Refuses what the holder of a lease that ran out does to a claim in
    /// review that would keep it under them: it would revive the lease.
    fn not_on_expired_lease(&self, by: &str, c: usize) -> Result<(), Refusal> {
        if self.holds_expired(by, c) {
            refuse(Code::FailedPrecondition, "LEASE_EXPIRED")
        } else {
            Ok(())
        }
    }

    fn submit(
        &mut self,
        by: &'static str,
        submission: &Submission,
        request_id: Option<&'static str>,
    ) -> Result<Answer, Refusal> {
        if let Some(id) = request_id
            && let Some((first, made)) = self.requests.get(&(by, id))
        {
            return if first == submission {
                Ok(Answer::Claim(*made))
            } else {
                refuse(Code::AlreadyExists, "REQUEST_ID_REUSED")
            };
        }
        let new = self.claims.len();
        self.claims.push(ModelClaim {
            submission: submission.clone(),
            submitted_by: by,
            state: State::Unverified,
            assignee: None,
            lease_expires: None,
            lost_by: None,
            evidence: Vec::new(),
            links: Vec::new(),
            version: 0,
            history: vec![("TYPE_SUBMITTED", by)],
        });
        if let Some(id) = request_id {
            self.requests.insert((by, id), (submission.clone(), new));
        }
        self.suggest(new);
        Ok(Answer::Claim(new))
    }

    /// The links a new claim gets: a duplicate of the original (the oldest
    /// earlier claim of the story saying the same from the same party),
    /// then contradictions with the newest earlier claims first, eight in
    /// all at most; withdrawn claims are not compared.
    fn suggest(&mut self, new: usize) {
        let n = &self.claims[new];
        let candidates: Vec<usize> = (0..new)
            .rev()
            .filter(|&c| {
                let c = &self.claims[c];
                c.submission.story == n.submission.story && c.state != State::Withdrawn
            })
            .collect();
        let source = party(n.submission.source);
        let original = candidates.iter().rev().copied().find(|&c| {
            let c = &self.claims[c];
            c.submission.statement == n.submission.statement && c.parties().contains(&source)
        });
        let mut suggested: Vec<(usize, Relation)> = original
            .map(|c| (c, Relation::Duplicates))
            .into_iter()
            .collect();
        for &c in &candidates {
            if suggested.len() >= MAX_SUGGESTIONS {
                break;
            }
            if Some(c) != original
                && conflicting(n.submission.statement, self.claims[c].submission.statement)
            {
                suggested.push((c, Relation::Contradicts));
            }
        }
        for (other, relation) in suggested {
            self.join(new, other, relation, LinkStatus::Suggested);
            self.claims[new].record("TYPE_LINKED", SYSTEM);
            self.claims[other].record("TYPE_LINKED", SYSTEM);
            // The new claim is still being made: only the other changes.
            self.claims[other].version += 1;
        }
    }

    /// Adds a link from `a` (its subject) to `b` on both.
    fn join(&mut self, a: usize, b: usize, relation: Relation, status: LinkStatus) {
        self.claims[a].links.push(LinkEnd {
            other: b,
            relation,
            subject: true,
            status,
        });
        self.claims[b].links.push(LinkEnd {
            other: a,
            relation,
            subject: false,
            status,
        });
    }

    /// The queue's most urgent waiting claim (of `story`), taken by `by`.
    fn take(&mut self, by: &'static str, story: Option<&str>) -> Result<Answer, Refusal> {
        let rank = |p: Priority| match p {
            Priority::Breaking => 0,
            Priority::Urgent => 1,
            Priority::Routine => 2,
        };
        // Priority, then the earliest deadline (none last), then the oldest.
        let next = (0..self.claims.len())
            .filter(|&c| {
                let c = &self.claims[c];
                c.state == State::Unverified && story.is_none_or(|s| c.submission.story == s)
            })
            .min_by_key(|&c| {
                let s = &self.claims[c].submission;
                (rank(s.priority), s.deadline.unwrap_or(u64::MAX), c)
            });
        match next {
            Some(c) => self.start_review(by, c),
            None => refuse(Code::NotFound, "QUEUE_EMPTY"),
        }
    }

    fn start_review(&mut self, by: &'static str, c: usize) -> Result<Answer, Refusal> {
        let now = self.now;
        let claim = &mut self.claims[c];
        if claim.state != State::Unverified {
            return refuse(Code::FailedPrecondition, "INVALID_TRANSITION");
        }
        claim.state = State::InReview;
        claim.assignee = Some(by);
        claim.lease_expires = Some(now + LEASE);
        if claim.lost_by == Some(by) {
            claim.lost_by = None;
        }
        claim.version += 1;
        claim.record("TYPE_REVIEW_STARTED", by);
        Ok(Answer::Claim(c))
    }

    /// Renews the lease of `c` if `by` holds it: every action of the
    /// assignee on a claim in review starts its lease over.
    fn renew_if_held(&mut self, by: &str, c: usize) {
        let now = self.now;
        let claim = &mut self.claims[c];
        if claim.state == State::InReview && claim.assignee == Some(by) {
            claim.lease_expires = Some(now + LEASE);
        }
    }

    fn assignee_action(
        &mut self,
        by: &'static str,
        c: usize,
        etag: Etag,
        action: impl Into<Assigned>,
    ) -> Result<Answer, Refusal> {
        let action = action.into();
        self.existing(c, etag)?;
        if self.lease_ran_out(by, c) {
            return refuse(Code::FailedPrecondition, "LEASE_EXPIRED");
        }
        let claim = &self.claims[c];
        if claim.state != State::InReview {
            return refuse(Code::FailedPrecondition, "INVALID_TRANSITION");
        }
        let is_assignee = claim.assignee == Some(by);
        let chief = role_of(by) >= Role::Chief;
        if action.kind == AssigneeOnly::Release {
            if !is_assignee && !chief {
                return refuse(Code::PermissionDenied, "ROLE_REQUIRED");
            }
        } else if !is_assignee {
            return refuse(Code::FailedPrecondition, "NOT_ASSIGNEE");
        }
        let ruling = match action.kind {
            AssigneeOnly::Renew => None,
            AssigneeOnly::Release => Some(State::Unverified),
            AssigneeOnly::Verify => {
                let parties = claim.parties();
                let independent = claim
                    .evidence
                    .iter()
                    .any(|(s, stance)| *stance == Stance::Supports && !parties.contains(&party(s)));
                if !independent {
                    return refuse(Code::FailedPrecondition, "NO_INDEPENDENT_EVIDENCE");
                }
                let open = claim.links.iter().any(ModelClaim::is_open_contradiction);
                if open && !action.acknowledge {
                    return refuse(Code::FailedPrecondition, "OPEN_CONTRADICTIONS");
                }
                Some(State::Verified)
            }
            AssigneeOnly::Dispute => {
                let refuted = claim.evidence.iter().any(|(_, s)| *s == Stance::Refutes)
                    || claim.links.iter().any(|l| {
                        l.relation == Relation::Contradicts
                            && l.status == LinkStatus::Confirmed
                            && self.claims[l.other].state == State::Verified
                    });
                if !refuted {
                    return refuse(Code::FailedPrecondition, "NO_REFUTING_EVIDENCE");
                }
                Some(State::Disputed)
            }
            AssigneeOnly::MarkInconclusive => Some(State::Inconclusive),
        };
        let now = self.now;
        let claim = &mut self.claims[c];
        match ruling {
            None => claim.lease_expires = Some(now + LEASE),
            Some(state) => {
                claim.state = state;
                claim.lease_expires = None;
                claim.lost_by = None;
                if state == State::Unverified {
                    claim.assignee = None;
                }
            }
        }
        claim.version += 1;
        claim.record(
            match action.kind {
                AssigneeOnly::Renew => "TYPE_LEASE_RENEWED",
                AssigneeOnly::Release => "TYPE_RELEASED",
                AssigneeOnly::Verify => "TYPE_VERIFIED",
                AssigneeOnly::Dispute => "TYPE_DISPUTED",
                AssigneeOnly::MarkInconclusive => "TYPE_MARKED_INCONCLUSIVE",
            },
            by,
        );
        Ok(Answer::Claim(c))
    }

    fn add_evidence(
        &mut self,
        by: &'static str,
        c: usize,
        source: &'static str,
        stance: Stance,
    ) -> Result<Answer, Refusal> {
        self.not_on_expired_lease(by, c)?;
        let claim = &self.claims[c];
        match claim.state {
            State::Unverified | State::InReview => {}
            State::Verified if stance == Stance::Refutes => {}
            State::Verified => {
                return refuse(Code::FailedPrecondition, "VERIFIED_NEEDS_REFUTING");
            }
            State::Disputed | State::Inconclusive | State::Withdrawn => {
                return refuse(Code::FailedPrecondition, "INVALID_TRANSITION");
            }
        }
        self.renew_if_held(by, c);
        let claim = &mut self.claims[c];
        claim.evidence.push((source, stance));
        claim.record("TYPE_EVIDENCE_ADDED", by);
        if claim.state == State::Verified {
            // Refuting evidence reopens a verified claim, for another look,
            // by the system in the same change.
            reopen(claim);
            claim.record("TYPE_REOPENED", SYSTEM);
        }
        claim.version += 1;
        Ok(Answer::Claim(c))
    }

    fn link(
        &mut self,
        by: &'static str,
        a: usize,
        b: usize,
        relation: Relation,
        etag: Etag,
    ) -> Result<Answer, Refusal> {
        if a >= self.claims.len() || b >= self.claims.len() {
            return refuse(Code::NotFound, "CLAIM_NOT_FOUND");
        }
        self.existing(a, etag)?;
        if a == b {
            return refuse(Code::InvalidArgument, "INVALID_ARGUMENT");
        }
        if self.claims[a].submission.story != self.claims[b].submission.story {
            return refuse(Code::FailedPrecondition, "OTHER_STORY");
        }
        self.not_on_expired_lease(by, a)?;
        if self.claims[a].state == State::Withdrawn {
            return refuse(Code::FailedPrecondition, "INVALID_TRANSITION");
        }
        let linked = self.claims[a]
            .links
            .iter()
            .any(|l| l.other == b && l.relation == relation && l.status != LinkStatus::Rejected);
        if linked {
            return refuse(Code::AlreadyExists, "LINK_EXISTS");
        }
        self.not_on_expired_lease(by, b)?;
        if self.claims[b].state == State::Withdrawn {
            return refuse(Code::FailedPrecondition, "INVALID_TRANSITION");
        }
        self.join(a, b, relation, LinkStatus::Confirmed);
        for c in [a, b] {
            self.renew_if_held(by, c);
            self.claims[c].version += 1;
            self.claims[c].record("TYPE_LINKED", by);
        }
        Ok(Answer::Claim(a))
    }

    fn resolve(
        &mut self,
        by: &'static str,
        a: usize,
        link: usize,
        confirm: bool,
        etag: Etag,
    ) -> Result<Answer, Refusal> {
        if a >= self.claims.len() {
            return refuse(Code::NotFound, "CLAIM_NOT_FOUND");
        }
        let Some(end) = self.claims[a].links.get(link).cloned() else {
            return refuse(Code::NotFound, "LINK_NOT_FOUND");
        };
        self.existing(a, etag)?;
        self.not_on_expired_lease(by, a)?;
        let to = if confirm {
            LinkStatus::Confirmed
        } else {
            LinkStatus::Rejected
        };
        let allowed = matches!(
            (end.status, to),
            (LinkStatus::Suggested, _) | (LinkStatus::Confirmed, LinkStatus::Rejected)
        );
        if !allowed {
            return refuse(Code::FailedPrecondition, "LINK_RESOLVED");
        }
        let b = end.other;
        self.not_on_expired_lease(by, b)?;
        // The same link at the other end: the one naming `a` that was made
        // at the same time, i.e. at the same place among the pair's links.
        let nth = self.claims[a].links[..link]
            .iter()
            .filter(|l| l.other == b)
            .count();
        let mirror = self.claims[b]
            .links
            .iter()
            .enumerate()
            .filter(|(_, l)| l.other == a)
            .nth(nth)
            .map(|(i, _)| i)
            .expect("both claims hold every link");
        self.claims[a].links[link].status = to;
        self.claims[b].links[mirror].status = to;
        for c in [a, b] {
            self.renew_if_held(by, c);
            self.claims[c].version += 1;
            self.claims[c].record("TYPE_LINK_RESOLVED", by);
        }
        Ok(Answer::Claim(a))
    }
}

/// Back to the queue for another look: unassigned, ruling cleared.
fn reopen(claim: &mut ModelClaim) {
    claim.state = State::Unverified;
    claim.assignee = None;
    claim.lease_expires = None;
    claim.lost_by = None;
}

/// An assignee-only action and what it carries.
#[derive(Debug, Clone, Copy)]
struct Assigned {
    kind: AssigneeOnly,
    acknowledge: bool,
}

impl AssigneeOnly {
    fn with(self, acknowledge: bool) -> Assigned {
        Assigned {
            kind: self,
            acknowledge,
        }
    }
}

impl From<AssigneeOnly> for Assigned {
    fn from(kind: AssigneeOnly) -> Self {
        kind.with(false)
    }
}
