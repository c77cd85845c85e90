//! Unit tests of the state machine and the labels.
//!
//! The expected transition table is written out here on its own, not derived
//! from `State::after`, so that a change to the rules has to be made twice:
//! once in the code and once, deliberately, in these tests.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ulid::Ulid;

use super::*;

mod assignees;
mod check_order;
mod etags;
mod events;
mod evidence;
mod figures;
mod figures_compare;
mod figures_wording;
mod labels;
mod leases;
mod links;
mod roles;
mod state_machine;

// ---------------------------------------------------------------------------
// Fixtures. The claim is about a fictional conflict (Valdoria, the Kelmar
// Pass); every name, figure and source other than "Reuters" is made up.
// ---------------------------------------------------------------------------

/// A fixed instant, `secs` seconds after an arbitrary start.
fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_780_000_000 + secs)
}

fn user(name: &str) -> UserName {
    UserName::parse(name).unwrap()
}

fn source(name: &str) -> SourceName {
    SourceName::parse(name).unwrap()
}

fn note(text: &str) -> Note {
    Note::parse(text).unwrap()
}

/// The checker who holds the claims in review in these tests.
fn checker() -> UserName {
    user("Ana Ferreira")
}

/// Another checker; never the assignee of a fixture claim.
fn other() -> UserName {
    user("Bo Lindqvist")
}

/// The reporter who submitted the fixture claim.
fn submitter() -> UserName {
    user("Petra Novak")
}

/// The researcher who attached the fixture evidence.
fn researcher() -> UserName {
    user("Omar Haddad")
}

fn claim_id() -> ClaimId {
    ClaimId::from_bytes([7; 16])
}

fn evidence_id(n: u64) -> EvidenceId {
    Ulid::from_parts(1_780_000_000_000 + n, u128::from(n))
}

/// Who the fixture claim is attributed to.
const ATTRIBUTED: &str = "Reuters";
/// Who told the attributed source, nearest first.
const RELAYED: [&str; 2] = [
    "Valdorian Ministry of Defence",
    "Governor of the Kelmar district",
];
/// A source outside the chain of attribution.
const INDEPENDENT: &str = "Tessaly Institute satellite analysis";
/// Another source outside the chain of attribution.
const MONITORS: &str = "Kelmar border monitors";

fn new_claim() -> NewClaim {
    NewClaim {
        statement: Statement::parse(
            "Valdoria has moved about 14,000 troops to within 30 km of the Kelmar Pass.",
        )
        .unwrap(),
        attribution: Attribution {
            source: source(ATTRIBUTED),
            relayed_from: RELAYED.iter().map(|s| source(s)).collect(),
            url: Some(WebUrl::parse("https://example.org/valdoria/kelmar-troops").unwrap()),
        },
        story: Slug::parse("valdoria-kelmar-buildup").unwrap(),
        tags: vec![Slug::parse("troop-figures").unwrap()],
        priority: Priority::Urgent,
        deadline: Some(at(6 * 3600)),
    }
}

/// The fixture claim as just submitted.
fn submitted() -> Claim {
    Claim::submitted(claim_id(), new_claim(), submitter(), at(0))
}

fn new_evidence(from: &str, stance: Stance) -> NewEvidence {
    let summary = match stance {
        Stance::Supports => "Images from two passes show tented camps along the pass road.",
        Stance::Refutes => "Monitors counted fewer than 3,000 soldiers in the sector this week.",
        Stance::Context => "The pass road has been closed to civilian traffic since March.",
    };
    NewEvidence {
        url: Some(WebUrl::parse("https://example.org/kelmar/evidence").unwrap()),
        summary: note(summary),
        source: source(from),
        stance,
    }
}

/// Evidence as stored on a claim: added by the researcher at `at(10)`.
fn stored_evidence(n: u64, from: &str, stance: Stance) -> Evidence {
    let new = new_evidence(from, stance);
    Evidence {
        id: evidence_id(n),
        url: new.url,
        summary: new.summary,
        source: new.source,
        stance: new.stance,
        added_by: researcher(),
        add_time: at(10),
    }
}

/// `n` pieces of independent supporting evidence.
fn many_evidence(n: usize) -> Vec<Evidence> {
    (0..n as u64)
        .map(|i| stored_evidence(1_000 + i, INDEPENDENT, Stance::Supports))
        .collect()
}

const RULING_NOTE: &str = "Ruled on after comparing the satellite and monitor counts.";

/// How long the fixture claim in review is leased for.
const FIXTURE_LEASE: Duration = Duration::from_secs(900);

/// When the lease of the fixture claim in review runs out: it was taken at
/// `at(100)` for [`FIXTURE_LEASE`].
fn lease_expiry() -> SystemTime {
    at(1_000)
}

/// A moment well after the fixture lease ran out.
fn after_expiry() -> SystemTime {
    at(1_500)
}

/// The fixture claim in `state`, as the rules would have left it there: in
/// review by [`checker`] under a lease that runs out at [`lease_expiry`]
/// (after [`now`]), or ruled on by [`checker`] with a verdict note, and
/// holding evidence that satisfies every evidence rule (independent
/// supporting, refuting and context evidence) and a suggested link
/// ([`FIXTURE_LINK`]: it corroborates another claim), at revision 7.
fn claim_in(state: State) -> Claim {
    let mut claim = submitted();
    claim.links = vec![Link {
        id: FIXTURE_LINK,
        other: other_claim_id(),
        relation: Relation::Corroborates,
        end: End::Subject,
        status: LinkStatus::Suggested,
        note: note("Suggested: both count the troops sent."),
        created_by: UserName::system(),
        create_time: at(50),
        resolution: None,
        basis: Vec::new(),
    }];
    claim.evidence = vec![
        stored_evidence(1, INDEPENDENT, Stance::Supports),
        stored_evidence(2, MONITORS, Stance::Refutes),
        stored_evidence(3, "Valdoria desk archive", Stance::Context),
    ];
    claim.state = state;
    claim.update_time = at(100);
    claim.revision = 7;
    match state {
        State::Unverified | State::Withdrawn => {}
        State::InReview => {
            claim.assignee = Some(checker());
            claim.lease = Some(Lease {
                expires: lease_expiry(),
                duration: FIXTURE_LEASE,
            });
        }
        State::Verified | State::Disputed | State::Inconclusive => {
            claim.assignee = Some(checker());
            claim.verdict_note = note(RULING_NOTE);
        }
    }
    claim
}

/// The fixture claim in review by [`checker`], holding exactly `evidence`.
fn in_review_with(evidence: Vec<Evidence>) -> Claim {
    let mut claim = claim_in(State::InReview);
    claim.evidence = evidence;
    claim
}

/// When the commands in these tests are applied (the fixture lease still
/// runs).
fn now() -> SystemTime {
    at(200)
}

/// The fixture claim in review by [`checker`], whose lease ran out at `now()`
/// though the system has not yet returned it to the queue.
fn in_review_with_lease_run_out() -> Claim {
    let mut claim = claim_in(State::InReview);
    claim.lease = Some(Lease {
        expires: now(),
        duration: FIXTURE_LEASE,
    });
    claim
}

/// `name` acting as a checker.
fn by(name: UserName) -> Actor {
    Actor::new(name, Role::Checker)
}

/// `name` acting as a chief.
fn chief(name: UserName) -> Actor {
    Actor::new(name, Role::Chief)
}

/// Who applies `action` in the generic tests, and when: the system expires
/// leases once they have run out; everything else is done by [`checker`]
/// (the assignee of claims in review), as a chief so that no role stands in
/// the way, at [`now`].
fn actor_and_time(action: Action) -> (Actor, SystemTime) {
    match action {
        Action::ExpireLease => (Actor::system(), after_expiry()),
        _ => (chief(checker()), now()),
    }
}

/// How long a review taken with [`command_for`] is leased for.
const START_LEASE: Duration = Duration::from_secs(1_200);

/// A command for `action` with a distinct note; `None` for `Submit`, which
/// is not a command (it only creates claims).
fn command_for(action: Action) -> Option<Command> {
    Some(match action {
        Action::Submit => return None,
        Action::StartReview => Command::StartReview { lease: START_LEASE },
        Action::Release => Command::Release {
            note: note("Handing over: this needs someone who reads Valdorian."),
        },
        Action::RenewLease => Command::RenewLease,
        Action::ExpireLease => Command::ExpireLease,
        Action::Reassign => Command::Reassign {
            to: other(),
            lease: START_LEASE,
            note: note("Bo reads Valdorian; handing the claim over."),
        },
        Action::AddEvidence => Command::AddEvidence {
            id: evidence_id(50),
            evidence: new_evidence("Kelmar Pass residents' council", Stance::Context),
        },
        Action::Verify => Command::Verify {
            note: note("Satellite images from an independent institute match the figure."),
            acknowledge_contradictions: false,
        },
        Action::Dispute => Command::Dispute {
            note: note("Border monitors counted a fraction of the reported troops."),
        },
        Action::MarkInconclusive => Command::MarkInconclusive {
            note: note("No source outside the ministry could be reached before deadline."),
        },
        Action::Reopen => Command::Reopen {
            reason: note("The ministry published a corrected figure."),
        },
        Action::Withdraw => Command::Withdraw {
            reason: note("The desk dropped the story."),
        },
        Action::Link => Command::Link {
            link: Link {
                id: 40,
                other: other_claim_id(),
                relation: Relation::Supersedes,
                end: End::Subject,
                status: LinkStatus::Confirmed,
                note: note("The ministry's later statement corrects this figure."),
                created_by: checker(),
                create_time: now(),
                resolution: None,
                basis: Vec::new(),
            },
        },
        Action::ResolveLink => Command::ResolveLink {
            id: FIXTURE_LINK,
            status: LinkStatus::Confirmed,
            note: note("Both counts come from the same convoy."),
        },
    })
}

/// The id of the suggested link every fixture claim holds.
const FIXTURE_LINK: LinkId = 5;

/// Another claim of the fixture's story.
fn other_claim_id() -> ClaimId {
    ClaimId::from_ulid(Ulid::from_parts(1_700_000_000_000, 2))
}

/// The link the claim should hold after `command` by `actor` at `time`, as
/// the history records it.
fn expected_link(
    claim: &Claim,
    command: &Command,
    actor: &UserName,
    time: SystemTime,
) -> Option<Link> {
    match command {
        Command::Link { link } => Some(link.clone()),
        Command::ResolveLink { id, status, note } => {
            let mut link = claim.link(*id)?.clone();
            link.status = *status;
            link.resolution = Some(Resolution {
                by: actor.clone(),
                time,
                note: note.clone(),
            });
            Some(link)
        }
        _ => None,
    }
}

/// The note the history should record for `command`.
fn expected_note(command: &Command) -> Note {
    match command {
        Command::StartReview { .. }
        | Command::RenewLease
        | Command::ExpireLease
        | Command::AddEvidence { .. } => Note::default(),
        Command::Release { note }
        | Command::Reassign { note, .. }
        | Command::Verify { note, .. }
        | Command::Dispute { note }
        | Command::MarkInconclusive { note }
        | Command::ResolveLink { note, .. } => note.clone(),
        Command::Link { link } => link.note.clone(),
        Command::Reopen { reason } | Command::Withdraw { reason } => reason.clone(),
    }
}

/// The evidence the history should record for `command` by `actor` at `time`.
fn expected_evidence(command: &Command, actor: &UserName, time: SystemTime) -> Option<Evidence> {
    match command {
        Command::AddEvidence { id, evidence } => Some(Evidence {
            id: *id,
            url: evidence.url.clone(),
            summary: evidence.summary.clone(),
            source: evidence.source.clone(),
            stance: evidence.stance,
            added_by: actor.clone(),
            add_time: time,
        }),
        _ => None,
    }
}

/// Every action that has a command, i.e. all but `Submit`.
fn commands() -> impl Iterator<Item = (Action, Command)> {
    Action::ALL
        .into_iter()
        .filter_map(|action| command_for(action).map(|command| (action, command)))
}

// ---------------------------------------------------------------------------
// The expected state machine, written independently of `State::after`.
// ---------------------------------------------------------------------------

/// Every allowed (from, action, to); every other pair is forbidden.
const ALLOWED: [(State, Action, State); 30] = {
    use Action::*;
    use State::*;
    [
        (Unverified, StartReview, InReview),
        (InReview, Release, Unverified),
        (InReview, RenewLease, InReview),
        (InReview, ExpireLease, Unverified),
        (InReview, Reassign, InReview),
        (Unverified, AddEvidence, Unverified),
        (InReview, AddEvidence, InReview),
        (InReview, Verify, Verified),
        (InReview, Dispute, Disputed),
        (InReview, MarkInconclusive, Inconclusive),
        (Verified, Reopen, Unverified),
        (Disputed, Reopen, Unverified),
        (Inconclusive, Reopen, Unverified),
        (Unverified, Withdraw, Withdrawn),
        (InReview, Withdraw, Withdrawn),
        (Verified, Withdraw, Withdrawn),
        (Disputed, Withdraw, Withdrawn),
        (Inconclusive, Withdraw, Withdrawn),
        (Verified, AddEvidence, Verified),
        (Unverified, Link, Unverified),
        (InReview, Link, InReview),
        (Verified, Link, Verified),
        (Disputed, Link, Disputed),
        (Inconclusive, Link, Inconclusive),
        (Unverified, ResolveLink, Unverified),
        (InReview, ResolveLink, InReview),
        (Verified, ResolveLink, Verified),
        (Disputed, ResolveLink, Disputed),
        (Inconclusive, ResolveLink, Inconclusive),
        (Withdrawn, ResolveLink, Withdrawn),
    ]
};

fn expected_after(state: State, action: Action) -> Option<State> {
    ALLOWED
        .iter()
        .find(|&&(from, a, _)| from == state && a == action)
        .map(|&(_, _, to)| to)
}

/// Actions only the assignee may take.
const ASSIGNEE_ONLY: [Action; 5] = [
    Action::Release,
    Action::RenewLease,
    Action::Verify,
    Action::Dispute,
    Action::MarkInconclusive,
];

/// Verifying and disputing as the assignee, shared by the evidence rules and
/// the order of checks.
fn verify(claim: &Claim) -> Result<(Claim, EventDraft), DomainError> {
    claim.apply(command_for(Action::Verify).unwrap(), &by(checker()), now())
}

fn dispute(claim: &Claim) -> Result<(Claim, EventDraft), DomainError> {
    claim.apply(command_for(Action::Dispute).unwrap(), &by(checker()), now())
}
