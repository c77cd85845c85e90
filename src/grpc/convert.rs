//! Between protobuf messages and domain types. Input is validated here, each
//! problem reported against the path of its field; output is built from the
//! domain alone.
//!
//! Validation costs time linear in the size of the request and no more: a
//! repeated field's count is checked before its elements, and a list with
//! too many is refused without looking at them; duplicates are found with a
//! set. A request that fits the message limit can hold hundreds of
//! thousands of elements, and validation runs on an async worker, where the
//! request timeout cannot interrupt it.
//!
//! Over 600 lines only with its unit tests (the code is about 530): one
//! conversion per message of the API, both ways; split it by message when
//! the code itself grows past that.

use std::{collections::HashSet, time::SystemTime};

use super::{
    links,
    pb::{self, claim, claim_event, evidence},
    status::truncated,
};
use crate::{
    desk::EventFilter,
    domain::{
        Action, Attribution, Claim, ClaimId, Event, Evidence, Invalid, NewClaim, NewEvidence, Note,
        Priority, Slug, SourceName, Stance, State, Statement, UserName, WebUrl,
    },
    error::{Error, FieldViolations},
    storage::{ClaimFilter, QueueCounts, QueueQuery, SourceKey},
};

const CLAIM_COLLECTION: &str = "claims/";

/// Page size when the request leaves it at 0.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Larger page sizes are cut to this.
pub const MAX_PAGE_SIZE: usize = 500;
/// Longest accepted `request_id`.
pub const MAX_REQUEST_ID_CHARS: usize = 128;
/// Most `states` a watch may filter on: one of each.
pub const MAX_WATCH_STATES: usize = State::ALL.len();
/// Most bytes of a client's value quoted in an error description.
const MAX_QUOTED_BYTES: usize = 40;

/// `claims/{id}`.
pub fn claim_name(id: ClaimId) -> String {
    format!("{CLAIM_COLLECTION}{id}")
}

/// Collects the problems of a request, so a client learns of all of them at
/// once (the first [`FieldViolations::MAX_LISTED`], and how many more).
#[derive(Default)]
pub struct Violations(FieldViolations);

impl Violations {
    pub fn check<T>(&mut self, field: &str, result: Result<T, Invalid>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(Invalid(description)) => {
                self.add(field, description);
                None
            }
        }
    }

    pub fn add(&mut self, field: &str, description: impl Into<String>) {
        self.0.push(field, description);
    }

    /// Whether the repeated field at `field` has at most `max` entries. If
    /// not, says so (with the count): the caller then leaves the entries
    /// unexamined, so the work done stays bounded by `max`.
    fn count_within(&mut self, field: &str, count: usize, max: usize) -> bool {
        if count <= max {
            return true;
        }
        self.add(
            field,
            format!("must have at most {max} entries, has {count}"),
        );
        false
    }

    /// `Ok` if nothing was wrong.
    pub fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.0))
        }
    }

    /// `Ok(value)` if nothing was wrong (then every checked value is there).
    pub fn into_result<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, Error> {
        self.finish()?;
        value().ok_or_else(|| Error::Internal("validated value missing".into()))
    }
}

pub fn parse_claim_name(name: &str) -> Result<ClaimId, Invalid> {
    let id = name
        .strip_prefix(CLAIM_COLLECTION)
        .ok_or_else(|| Invalid(format!("must have the form {CLAIM_COLLECTION}{{claim}}")))?;
    id.parse().map_err(|_| {
        // Only a short prefix: the name may be as long as the request.
        let quoted = truncated(id, MAX_QUOTED_BYTES);
        Invalid(format!("{quoted:?} is not a claim id"))
    })
}

/// The claim named by the request's `name` field.
pub fn claim_id(name: &str) -> Result<ClaimId, Error> {
    parse_claim_name(name).map_err(|Invalid(d)| Error::invalid("name", d))
}

pub fn page_size(size: i32) -> Result<usize, Error> {
    match usize::try_from(size) {
        Err(_) => Err(Error::invalid(
            "page_size",
            format!("must not be negative, is {size}"),
        )),
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(n) => Ok(n.min(MAX_PAGE_SIZE)),
    }
}

fn enum_value<E: TryFrom<i32>>(value: i32) -> Result<E, Invalid> {
    E::try_from(value).map_err(|_| Invalid(format!("{value} is not a known value")))
}

fn timestamp(ts: &prost_types::Timestamp) -> Result<SystemTime, Invalid> {
    // The range of google.protobuf.Timestamp ends with 9999-12-31T23:59:59Z.
    const MAX_SECONDS: i64 = 253_402_300_799;
    // Nanos outside 0..1e9 carry into the seconds, so the range is checked
    // on the time meant (seconds 1, nanos -1e9 is 1970-01-01T00:00:00Z).
    let ts = ts.normalized();
    if ts.seconds < 0 {
        return Err(Invalid("must not be before 1970".into()));
    }
    if ts.seconds > MAX_SECONDS {
        return Err(Invalid("must not be after the year 9999".into()));
    }
    SystemTime::try_from(ts).map_err(|e| Invalid(format!("is not a valid time: {e}")))
}

pub fn to_timestamp(t: SystemTime) -> prost_types::Timestamp {
    t.into()
}

fn priority_from_pb(p: claim::Priority) -> Priority {
    match p {
        claim::Priority::Unspecified | claim::Priority::Routine => Priority::Routine,
        claim::Priority::Urgent => Priority::Urgent,
        claim::Priority::Breaking => Priority::Breaking,
    }
}

fn priority_to_pb(p: Priority) -> claim::Priority {
    match p {
        Priority::Routine => claim::Priority::Routine,
        Priority::Urgent => claim::Priority::Urgent,
        Priority::Breaking => claim::Priority::Breaking,
    }
}

pub fn state_to_pb(s: State) -> claim::State {
    match s {
        State::Unverified => claim::State::Unverified,
        State::InReview => claim::State::InReview,
        State::Verified => claim::State::Verified,
        State::Disputed => claim::State::Disputed,
        State::Inconclusive => claim::State::Inconclusive,
        State::Withdrawn => claim::State::Withdrawn,
    }
}

/// `None` for `STATE_UNSPECIFIED`.
fn state_from_pb(s: claim::State) -> Option<State> {
    match s {
        claim::State::Unspecified => None,
        claim::State::Unverified => Some(State::Unverified),
        claim::State::InReview => Some(State::InReview),
        claim::State::Verified => Some(State::Verified),
        claim::State::Disputed => Some(State::Disputed),
        claim::State::Inconclusive => Some(State::Inconclusive),
        claim::State::Withdrawn => Some(State::Withdrawn),
    }
}

/// The API name of a state, e.g. `STATE_IN_REVIEW`.
pub fn state_enum_name(s: State) -> &'static str {
    state_to_pb(s).as_str_name()
}

fn stance_to_pb(s: Stance) -> evidence::Stance {
    match s {
        Stance::Supports => evidence::Stance::Supports,
        Stance::Refutes => evidence::Stance::Refutes,
        Stance::Context => evidence::Stance::Context,
    }
}

fn event_type(a: Action) -> claim_event::Type {
    match a {
        Action::Submit => claim_event::Type::Submitted,
        Action::StartReview => claim_event::Type::ReviewStarted,
        Action::Release => claim_event::Type::Released,
        Action::RenewLease => claim_event::Type::LeaseRenewed,
        Action::ExpireLease => claim_event::Type::LeaseExpired,
        Action::Reassign => claim_event::Type::Reassigned,
        Action::AddEvidence => claim_event::Type::EvidenceAdded,
        Action::Verify => claim_event::Type::Verified,
        Action::Dispute => claim_event::Type::Disputed,
        Action::MarkInconclusive => claim_event::Type::MarkedInconclusive,
        Action::Reopen => claim_event::Type::Reopened,
        Action::Withdraw => claim_event::Type::Withdrawn,
        Action::Link => claim_event::Type::Linked,
        Action::ResolveLink => claim_event::Type::LinkResolved,
    }
}

/// A list of tags at `field`: at most [`NewClaim::MAX_TAGS`], each a slug,
/// duplicates dropped, order kept.
fn tags(v: &mut Violations, field: &str, raw: &[String]) -> Vec<Slug> {
    if !v.count_within(field, raw.len(), NewClaim::MAX_TAGS) {
        return Vec::new();
    }
    let mut seen = HashSet::with_capacity(raw.len());
    let mut tags = Vec::with_capacity(raw.len());
    for (i, t) in raw.iter().enumerate() {
        if let Some(tag) = v.check(&format!("{field}[{i}]"), Slug::parse(t))
            && seen.insert(t.as_str())
        {
            tags.push(tag);
        }
    }
    tags
}

/// Validates the claim of a `SubmitClaimRequest`.
pub fn new_claim(claim: Option<&pb::Claim>) -> Result<NewClaim, Error> {
    let Some(c) = claim else {
        return Err(Error::invalid("claim", "is required"));
    };
    let mut v = Violations::default();
    let statement = v.check("claim.statement", Statement::parse(&c.statement));
    let attribution = match &c.attribution {
        None => {
            v.add("claim.attribution", "is required");
            None
        }
        Some(a) => {
            let source = v.check("claim.attribution.source", SourceName::parse(&a.source));
            let relayed_from: Vec<_> = if v.count_within(
                "claim.attribution.relayed_from",
                a.relayed_from.len(),
                Attribution::MAX_RELAYED_FROM,
            ) {
                a.relayed_from
                    .iter()
                    .enumerate()
                    .filter_map(|(i, r)| {
                        v.check(
                            &format!("claim.attribution.relayed_from[{i}]"),
                            SourceName::parse(r),
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let url = v.check("claim.attribution.url", WebUrl::parse_optional(&a.url));
            match (source, url) {
                (Some(source), Some(url)) => Some(Attribution {
                    source,
                    relayed_from,
                    url,
                }),
                _ => None,
            }
        }
    };
    let story = v.check("claim.story", Slug::parse(&c.story));
    let tags = tags(&mut v, "claim.tags", &c.tags);
    let priority = v
        .check("claim.priority", enum_value::<claim::Priority>(c.priority))
        .map(priority_from_pb);
    let deadline = match &c.deadline {
        None => Some(None),
        Some(ts) => v.check("claim.deadline", timestamp(ts)).map(Some),
    };
    v.into_result(|| {
        Some(NewClaim {
            statement: statement?,
            attribution: attribution?,
            story: story?,
            tags,
            priority: priority?,
            deadline: deadline?,
        })
    })
}

/// Validates the evidence of an `AddEvidenceRequest`.
pub fn new_evidence(evidence: Option<&pb::Evidence>) -> Result<NewEvidence, Error> {
    let Some(e) = evidence else {
        return Err(Error::invalid("evidence", "is required"));
    };
    let mut v = Violations::default();
    let url = v.check("evidence.url", WebUrl::parse_optional(&e.url));
    let summary = v.check("evidence.summary", Note::parse(&e.summary));
    if e.url.trim().is_empty() && e.summary.trim().is_empty() {
        v.add("evidence.url", "is required when evidence.summary is empty");
    }
    let source = v.check("evidence.source", SourceName::parse(&e.source));
    let stance = match enum_value::<evidence::Stance>(e.stance) {
        Ok(evidence::Stance::Supports) => Some(Stance::Supports),
        Ok(evidence::Stance::Refutes) => Some(Stance::Refutes),
        Ok(evidence::Stance::Context) => Some(Stance::Context),
        Ok(evidence::Stance::Unspecified) => {
            v.add("evidence.stance", "is required");
            None
        }
        Err(Invalid(d)) => {
            v.add("evidence.stance", d);
            None
        }
    };
    v.into_result(|| {
        Some(NewEvidence {
            url: url?,
            summary: summary?,
            source: source?,
            stance: stance?,
        })
    })
}

/// A note field that may be empty.
pub fn note(field: &str, raw: &str) -> Result<Note, Error> {
    Note::parse(raw).map_err(|Invalid(d)| Error::invalid(field, d))
}

/// A note field that must not be empty.
pub fn required_note(field: &str, raw: &str) -> Result<Note, Error> {
    Note::parse_required(raw).map_err(|Invalid(d)| Error::invalid(field, d))
}

/// Validates a `request_id`: empty means none.
pub fn request_id(raw: &str) -> Result<Option<String>, Error> {
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.chars().count() > MAX_REQUEST_ID_CHARS {
        return Err(Error::invalid(
            "request_id",
            format!("must have at most {MAX_REQUEST_ID_CHARS} characters"),
        ));
    }
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::invalid(
            "request_id",
            "must not contain white space or control characters",
        ));
    }
    Ok(Some(raw.to_owned()))
}

/// An optional story slug (empty: none).
fn optional_story(v: &mut Violations, field: &str, raw: &str) -> Option<Slug> {
    (!raw.is_empty())
        .then(|| v.check(field, Slug::parse(raw)))
        .flatten()
}

/// The queue of a `TakeNextClaimRequest`.
pub fn queue_query(r: &pb::TakeNextClaimRequest) -> Result<QueueQuery, Error> {
    let mut v = Violations::default();
    let story = optional_story(&mut v, "story", &r.story);
    let tags = tags(&mut v, "tags", &r.tags);
    v.finish()?;
    Ok(QueueQuery { story, tags })
}

/// The story of a `GetQueueStatsRequest`.
pub fn stats_story(r: &pb::GetQueueStatsRequest) -> Result<Option<Slug>, Error> {
    let mut v = Violations::default();
    let story = optional_story(&mut v, "story", &r.story);
    v.finish()?;
    Ok(story)
}

/// The filter of a `WatchClaimEventsRequest`.
pub fn event_filter(r: &pb::WatchClaimEventsRequest) -> Result<EventFilter, Error> {
    let mut v = Violations::default();
    let story = optional_story(&mut v, "story", &r.story);
    let mut states = Vec::new();
    // One of each state at most; a state named twice is harmless and kept
    // once (among six, a list finds it as fast as a set).
    if v.count_within("states", r.states.len(), MAX_WATCH_STATES) {
        for (i, s) in r.states.iter().enumerate() {
            let field = format!("states[{i}]");
            match v
                .check(&field, enum_value::<claim::State>(*s))
                .map(state_from_pb)
            {
                Some(Some(state)) if !states.contains(&state) => states.push(state),
                Some(Some(_)) => {}
                Some(None) => v.add(&field, "must name a state"),
                None => {}
            }
        }
    }
    v.finish()?;
    Ok(EventFilter { story, states })
}

pub fn queue_stats_to_pb(
    story: Option<Slug>,
    counts: QueueCounts,
    now: SystemTime,
) -> pb::QueueStats {
    pb::QueueStats {
        story: story.map(Slug::into_inner).unwrap_or_default(),
        state_counts: counts
            .states
            .into_iter()
            .map(|(state, count)| pb::queue_stats::StateCount {
                state: state_to_pb(state).into(),
                count: i64::try_from(count).unwrap_or(i64::MAX),
            })
            .collect(),
        waiting_counts: counts
            .waiting
            .into_iter()
            .map(|(priority, count)| pb::queue_stats::PriorityCount {
                priority: priority_to_pb(priority).into(),
                count: i64::try_from(count).unwrap_or(i64::MAX),
            })
            .collect(),
        oldest_waiting_age: counts.oldest_waiting.map(|t| {
            let age = now.duration_since(t).unwrap_or_default();
            prost_types::Duration::try_from(age).unwrap_or_default()
        }),
        oldest_waiting_submit_time: counts.oldest_waiting.map(to_timestamp),
        overdue_count: i64::try_from(counts.overdue).unwrap_or(i64::MAX),
    }
}

/// The filter of a `ListClaimsRequest`.
pub fn claim_filter(r: &pb::ListClaimsRequest) -> Result<ClaimFilter, Error> {
    let mut v = Violations::default();
    let story = (!r.story.is_empty())
        .then(|| v.check("story", Slug::parse(&r.story)))
        .flatten();
    let state = v
        .check("state", enum_value::<claim::State>(r.state))
        .and_then(state_from_pb);
    let source = (!r.source.trim().is_empty())
        .then(|| v.check("source", SourceName::parse(&r.source)))
        .flatten()
        .map(|s| SourceKey::of(&s));
    let assignee = (!r.assignee.trim().is_empty())
        .then(|| v.check("assignee", UserName::parse(&r.assignee)))
        .flatten();
    v.finish()?;
    Ok(ClaimFilter {
        story,
        state,
        source,
        assignee,
    })
}

fn evidence_to_pb(e: Evidence) -> pb::Evidence {
    pb::Evidence {
        id: e.id.to_string(),
        url: e.url.map(WebUrl::into_inner).unwrap_or_default(),
        summary: e.summary.into_inner(),
        source: e.source.into_inner(),
        stance: stance_to_pb(e.stance).into(),
        added_by: e.added_by.into_inner(),
        add_time: Some(to_timestamp(e.add_time)),
    }
}

pub fn claim_to_pb(c: Claim) -> pb::Claim {
    let id = c.id;
    pb::Claim {
        name: claim_name(c.id),
        label: c.label(),
        etag: c.etag(),
        statement: c.statement.into_inner(),
        attribution: Some(pb::Attribution {
            source: c.attribution.source.into_inner(),
            relayed_from: c
                .attribution
                .relayed_from
                .into_iter()
                .map(SourceName::into_inner)
                .collect(),
            url: c
                .attribution
                .url
                .map(WebUrl::into_inner)
                .unwrap_or_default(),
        }),
        story: c.story.into_inner(),
        tags: c.tags.into_iter().map(Slug::into_inner).collect(),
        priority: priority_to_pb(c.priority).into(),
        deadline: c.deadline.map(to_timestamp),
        state: state_to_pb(c.state).into(),
        evidence: c.evidence.into_iter().map(evidence_to_pb).collect(),
        assignee: c.assignee.map(UserName::into_inner).unwrap_or_default(),
        submitted_by: c.submitted_by.into_inner(),
        verdict_note: c.verdict_note.into_inner(),
        create_time: Some(to_timestamp(c.create_time)),
        update_time: Some(to_timestamp(c.update_time)),
        lease_expire_time: c.lease.map(|l| to_timestamp(l.expires)),
        figures: c.figures.into_iter().map(links::figure_to_pb).collect(),
        links: c
            .links
            .into_iter()
            .map(|l| links::link_to_pb(id, l))
            .collect(),
    }
}

pub fn event_to_pb(e: Event) -> pb::ClaimEvent {
    pb::ClaimEvent {
        revision: e.revision,
        claim: claim_name(e.claim_id),
        story: e.story.into_inner(),
        r#type: event_type(e.action).into(),
        actor: e.actor.into_inner(),
        event_time: Some(to_timestamp(e.time)),
        from_state: e.from.map_or(claim::State::Unspecified, state_to_pb).into(),
        to_state: state_to_pb(e.to).into(),
        note: e.note.into_inner(),
        evidence: e.evidence.map(evidence_to_pb),
        assignee: e.assignee.map(UserName::into_inner).unwrap_or_default(),
        link: e.link.map(|l| links::link_to_pb(e.claim_id, l)),
        acknowledged_links: e
            .acknowledged
            .into_iter()
            .map(|l| links::link_name(e.claim_id, l))
            .collect(),
    }
}

pub use super::page_token::{
    claims_after, claims_page_token, conflicts_after, conflicts_page_token, events_after,
    events_page_token,
};

#[cfg(test)]
mod tests {
    use prost_types::Timestamp;

    use super::*;

    const MAX_SECONDS: i64 = 253_402_300_799;

    fn at(seconds: i64, nanos: i32) -> Result<SystemTime, Invalid> {
        timestamp(&Timestamp { seconds, nanos })
    }

    fn violations(error: Error) -> FieldViolations {
        match error {
            Error::Invalid(v) => v,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    fn fields(error: Error) -> Vec<String> {
        violations(error)
            .listed()
            .iter()
            .map(|v| v.field.clone())
            .collect()
    }

    fn claim_with(tags: Vec<String>, relayed_from: Vec<String>) -> pb::Claim {
        pb::Claim {
            statement: "About 9,000 dock workers joined the strike".into(),
            attribution: Some(pb::Attribution {
                source: "Harbour Gazette".into(),
                relayed_from,
                url: String::new(),
            }),
            story: "harbour-strike".into(),
            tags,
            ..Default::default()
        }
    }

    #[test]
    fn the_last_nanosecond_of_the_year_9999_is_accepted_and_the_next_refused() {
        assert!(at(MAX_SECONDS, 999_999_999).is_ok());
        assert!(at(MAX_SECONDS, 1_000_000_000).is_err());
        assert!(at(MAX_SECONDS, 1_000_000_005).is_err());
        assert!(at(MAX_SECONDS + 1, -1).is_ok(), "normalised to MAX_SECONDS");
        assert!(at(MAX_SECONDS, i32::MAX).is_err());
        assert!(at(i64::MAX, i32::MAX).is_err());
    }

    #[test]
    fn nanos_that_carry_into_1970_are_the_epoch_and_those_before_are_refused() {
        assert_eq!(at(-1, 1_000_000_000), Ok(SystemTime::UNIX_EPOCH));
        assert_eq!(at(1, -1_000_000_000), Ok(SystemTime::UNIX_EPOCH));
        assert_eq!(at(0, 0), Ok(SystemTime::UNIX_EPOCH));
        assert!(at(0, -1).is_err(), "one nanosecond before 1970");
        assert!(at(-1, 999_999_999).is_err());
        assert!(at(0, i32::MIN).is_err());
        assert!(at(i64::MIN, i32::MIN).is_err());
        assert!(at(i64::MIN, 0).is_err());
        assert!(
            at(2, i32::MIN).is_err(),
            "2 s - 2.147483648 s is before 1970"
        );
        assert_eq!(
            at(3, i32::MIN),
            Ok(SystemTime::UNIX_EPOCH + std::time::Duration::new(0, 852_516_352))
        );
    }

    #[test]
    fn too_many_tags_are_refused_with_their_count_without_examining_them() {
        let tags: Vec<String> = (0..150_000).map(|_| "Not A Slug".to_owned()).collect();
        let error = new_claim(Some(&claim_with(tags, Vec::new()))).expect_err("too many");
        let v = violations(error);
        assert_eq!(v.unlisted(), 0);
        assert_eq!(v.listed().len(), 1, "{v:?}");
        assert_eq!(v.listed()[0].field, "claim.tags");
        assert_eq!(
            v.listed()[0].description,
            "must have at most 20 entries, has 150000"
        );
    }

    #[test]
    fn duplicate_tags_are_kept_once_in_their_first_order() {
        let tags = ["b", "a", "b", "c", "a"].map(String::from).to_vec();
        let claim = new_claim(Some(&claim_with(tags, Vec::new()))).expect("valid");
        let tags: Vec<&str> = claim.tags.iter().map(Slug::as_str).collect();
        assert_eq!(tags, ["b", "a", "c"]);
    }

    #[test]
    fn too_many_relays_are_refused_with_their_count_without_examining_them() {
        let relays: Vec<String> = (0..1_000).map(|_| String::new()).collect();
        let error = new_claim(Some(&claim_with(Vec::new(), relays))).expect_err("too many");
        assert_eq!(fields(error), ["claim.attribution.relayed_from"]);
    }

    #[test]
    fn a_watch_filters_on_at_most_one_of_each_state() {
        let watch = |states: Vec<i32>| pb::WatchClaimEventsRequest {
            states,
            ..Default::default()
        };
        let all: Vec<i32> = State::ALL.iter().map(|s| state_to_pb(*s).into()).collect();
        assert_eq!(event_filter(&watch(all)).expect("valid").states, State::ALL);
        let twice = vec![claim::State::Verified.into(); 2];
        assert_eq!(
            event_filter(&watch(twice)).expect("valid").states,
            [State::Verified]
        );
        let error = event_filter(&watch(vec![42; 400_000])).expect_err("too many");
        let v = violations(error);
        assert_eq!(v.listed().len(), 1, "{v:?}");
        assert_eq!(v.listed()[0].field, "states");
        assert_eq!(
            v.listed()[0].description,
            "must have at most 6 entries, has 400000"
        );
    }

    #[test]
    fn violations_beyond_the_cap_are_counted_not_listed() {
        let tags = vec!["Bad Tag".to_owned(); NewClaim::MAX_TAGS];
        let relays = vec![" ".to_owned(); Attribution::MAX_RELAYED_FROM];
        let mut claim = claim_with(tags, relays);
        claim.statement = String::new();
        let v = violations(new_claim(Some(&claim)).expect_err("invalid"));
        assert_eq!(v.listed().len(), FieldViolations::MAX_LISTED);
        assert_eq!(
            v.listed().len() + v.unlisted(),
            1 + Attribution::MAX_RELAYED_FROM + NewClaim::MAX_TAGS
        );
    }

    #[test]
    fn an_invalid_claim_name_is_quoted_only_in_part() {
        let name = format!("{CLAIM_COLLECTION}{}", "x".repeat(1_000_000));
        let Invalid(description) = parse_claim_name(&name).expect_err("not an id");
        assert!(description.len() < 100, "{description}");
        assert!(description.ends_with("is not a claim id"), "{description}");
    }
}
