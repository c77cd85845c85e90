//! The stored form of claims, events and request ids: serde types kept apart
//! from the domain types, because what is on disk carries a compatibility
//! promise that in-memory types must not. Every record names its format
//! version; a reader refuses versions it does not know instead of guessing.
//!
//! Three formats are read, told apart by the record's first byte:
//!
//! - **Format 1**, written by earlier releases: a JSON object (so its first
//!   byte is `{`) whose `format` field is 1. Still read, never written:
//!   events cannot be rewritten (the audit chain hashes their stored bytes),
//!   so a store keeps them as they are, and claims and request ids are
//!   rewritten in format 2 only when they next change.
//! - **Format 2**, written by earlier releases: the byte `0x02`, then the
//!   record in postcard (fields in declaration order, integers as varints,
//!   no field names), whose `format` field is 2 as well. A JSON text never
//!   starts with `0x02`.
//! - **Format 3**, written now: the byte `0x03`, then postcard, as format 2
//!   with fields added at the end of claims (`figures`, `links`) and events
//!   (`link`, `acknowledged`). A format-2 record is read as a format-3 one
//!   whose added fields are empty: postcard writes an empty list and an
//!   absent value as one zero byte each, so the record plus those zero
//!   bytes ([`Record::ADDED_SINCE_2`]) is that format-3 record. Later
//!   formats take another first byte that JSON cannot start with (neither
//!   `{`, `[`, `"`, `-`, a digit, a letter nor white space).
//!
//! postcard is not self-describing: a binary record has every field, in
//! order, so no field may be skipped when serialising
//! (`skip_serializing_if`), and adding a field makes a new format.
//! `#[serde(default)]` stays for the JSON of format 1.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};

use crate::domain::{
    Action, Attribution, Claim, ClaimId, Counted, End, Event, Evidence, Figure, FigurePair, Lease,
    Link, LinkStatus, Milli, Note, Priority, Qualifier, Relation, Resolution, Slug, SourceName,
    Stance, State, Statement, Unit, UserName, WebUrl,
};

/// The record format written by this version of the service.
pub const FORMAT: u32 = 3;

/// The format of the binary records of earlier releases, still read.
pub const BINARY_FORMAT_2: u32 = 2;

/// The format of the JSON records of earlier releases, still read.
pub const JSON_FORMAT: u32 = 1;

/// The first byte of a record of the current format.
const FORMAT_TAG: u8 = 0x03;

/// The first byte of a format-2 record.
const FORMAT_2_TAG: u8 = 0x02;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed record: {0}")]
    Json(#[from] serde_json::Error),
    #[error("malformed record: {0}")]
    Binary(#[from] postcard::Error),
    #[error(
        "record format {0} is not supported (this build reads formats {JSON_FORMAT} to {FORMAT})"
    )]
    Format(u32),
    #[error("malformed record: a {encoding} record names format {format}")]
    Mislabelled { encoding: &'static str, format: u32 },
    #[error("malformed record: {0}")]
    Field(String),
}

/// What the stored records have in common: a format number, and an
/// encoding that follows from it.
pub trait Record: Serialize + DeserializeOwned {
    /// The `format` field.
    fn format(&self) -> u32;

    /// The postcard bytes of the fields added at the end of the record
    /// since format 2, when empty (see the module documentation).
    const ADDED_SINCE_2: &'static [u8] = &[];

    /// The record in the current format: [`FORMAT_TAG`], then postcard.
    fn encode(&self) -> Vec<u8> {
        debug_assert_eq!(
            self.format(),
            FORMAT,
            "records are written in the current format"
        );
        #[cfg(test)]
        if WRITE_JSON.get() {
            return encode_json(self);
        }
        postcard::to_extend(self, vec![FORMAT_TAG]).expect("a record always serialises")
    }

    /// Reads a record of any format this build knows, refusing any other.
    fn decode_record(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (record, format, encoding) = match bytes.first() {
            Some(b'{') => (serde_json::from_slice::<Self>(bytes)?, JSON_FORMAT, "JSON"),
            Some(&FORMAT_TAG) => (decode_binary(&bytes[1..])?, FORMAT, "binary"),
            Some(&FORMAT_2_TAG) => {
                let mut padded = Vec::with_capacity(bytes.len() + Self::ADDED_SINCE_2.len());
                padded.extend_from_slice(&bytes[1..]);
                padded.extend_from_slice(Self::ADDED_SINCE_2);
                (decode_binary(&padded)?, BINARY_FORMAT_2, "binary")
            }
            Some(&other) => return Err(DecodeError::Format(other.into())),
            None => return Err(DecodeError::Field("empty record".into())),
        };
        match record.format() {
            named if named == format => Ok(record),
            named @ (JSON_FORMAT | BINARY_FORMAT_2 | FORMAT) => Err(DecodeError::Mislabelled {
                encoding,
                format: named,
            }),
            named => Err(DecodeError::Format(named)),
        }
    }
}

/// A whole postcard record: nothing may follow it.
fn decode_binary<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (record, rest) = postcard::take_from_bytes::<T>(bytes)?;
    if !rest.is_empty() {
        return Err(DecodeError::Field(format!(
            "{} bytes after the record",
            rest.len()
        )));
    }
    Ok(record)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ClaimRecord {
    pub format: u32,
    pub id: String,
    pub statement: String,
    pub source: String,
    #[serde(default)]
    pub relayed_from: Vec<String>,
    #[serde(default)]
    pub attribution_url: Option<String>,
    pub story: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub priority: String,
    #[serde(default)]
    pub deadline_ns: Option<u128>,
    pub state: String,
    #[serde(default)]
    pub evidence: Vec<EvidenceRecord>,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub lease_expires_ns: Option<u128>,
    #[serde(default)]
    pub lease_duration_ms: Option<u64>,
    #[serde(default)]
    pub expired_holder: Option<String>,
    pub submitted_by: String,
    #[serde(default)]
    pub verdict_note: String,
    pub create_time_ns: u128,
    pub update_time_ns: u128,
    pub revision: u64,
    /// Since format 3.
    #[serde(default)]
    pub figures: Vec<FigureRecord>,
    /// Since format 3.
    #[serde(default)]
    pub links: Vec<LinkRecord>,
}

/// A figure read from a statement.
#[derive(Debug, Serialize, Deserialize)]
pub struct FigureRecord {
    pub text: String,
    pub low: i64,
    pub high: i64,
    pub of: Option<i64>,
    pub qualifier: String,
    /// `count`, `percent`, `fraction`, `date`, `money:{currency}` or
    /// `measure:{unit}`.
    pub unit: String,
    pub phrase: String,
    pub family: String,
}

/// A claim's end of a link.
#[derive(Debug, Serialize, Deserialize)]
pub struct LinkRecord {
    pub id: u64,
    pub other: String,
    pub relation: String,
    pub end: String,
    pub status: String,
    pub note: String,
    pub created_by: String,
    pub create_time_ns: u128,
    pub resolution: Option<ResolutionRecord>,
    /// Pairs of figures: this claim's, the other's.
    pub basis: Vec<(FigureRecord, FigureRecord)>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ResolutionRecord {
    pub by: String,
    pub time_ns: u128,
    pub note: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EvidenceRecord {
    pub id: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub summary: String,
    pub source: String,
    pub stance: String,
    pub added_by: String,
    pub add_time_ns: u128,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EventRecord {
    pub format: u32,
    pub revision: u64,
    pub claim_id: String,
    #[serde(default)]
    pub story: String,
    pub action: String,
    pub actor: String,
    pub time_ns: u128,
    #[serde(default)]
    pub from: Option<String>,
    pub to: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub evidence: Option<EvidenceRecord>,
    /// Whom a reassignment gave the claim to; absent otherwise (and in
    /// events written before reassignment existed).
    #[serde(default)]
    pub assignee: Option<String>,
    /// Since format 3: for a link made or resolved, the claim's end of it.
    #[serde(default)]
    pub link: Option<LinkRecord>,
    /// Since format 3: the open contradictions a verification acknowledged.
    #[serde(default)]
    pub acknowledged: Vec<u64>,
}

/// What a used request id stands for.
#[derive(Debug, Serialize, Deserialize)]
pub struct RequestRecord {
    pub format: u32,
    pub claim_id: String,
    /// Hex SHA-256 of the request (see [`crate::fingerprint`]).
    pub fingerprint: String,
    /// How `fingerprint` was made; absent in records of earlier releases,
    /// which made version 1.
    #[serde(default)]
    pub fingerprint_version: Option<u32>,
}

/// Nanoseconds since 1970, in 128 bits: 64 would end in 2554, and
/// deadlines are up to clients. Times before 1970 are refused at the API.
pub fn to_ns(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// The time `ns` nanoseconds after 1970, if the platform's `SystemTime`
/// reaches it (on Linux, until the year 292 billion or so): a corrupted
/// record or key may hold any number.
pub fn from_ns(ns: u128) -> Option<SystemTime> {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(ns / NANOS_PER_SEC).ok()?;
    let nanos = u32::try_from(ns % NANOS_PER_SEC).expect("below one second");
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// A stored time, which must be one [`from_ns`] reaches.
fn stored_time(ns: u128) -> Result<SystemTime, DecodeError> {
    from_ns(ns).ok_or_else(|| DecodeError::Field(format!("time {ns} ns is out of range")))
}

/// The name of a state in records (and in the PostgreSQL store's columns).
pub fn state_name(s: State) -> &'static str {
    match s {
        State::Unverified => "unverified",
        State::InReview => "in_review",
        State::Verified => "verified",
        State::Disputed => "disputed",
        State::Inconclusive => "inconclusive",
        State::Withdrawn => "withdrawn",
    }
}

fn parse_state(s: &str) -> Result<State, DecodeError> {
    State::ALL
        .into_iter()
        .find(|st| state_name(*st) == s)
        .ok_or_else(|| DecodeError::Field(format!("unknown state {s:?}")))
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Submit => "submit",
        Action::StartReview => "start_review",
        Action::Release => "release",
        Action::RenewLease => "renew_lease",
        Action::ExpireLease => "expire_lease",
        Action::Reassign => "reassign",
        Action::AddEvidence => "add_evidence",
        Action::Verify => "verify",
        Action::Dispute => "dispute",
        Action::MarkInconclusive => "mark_inconclusive",
        Action::Reopen => "reopen",
        Action::Withdraw => "withdraw",
        Action::Link => "link",
        Action::ResolveLink => "resolve_link",
    }
}

fn parse_action(s: &str) -> Result<Action, DecodeError> {
    Action::ALL
        .into_iter()
        .find(|a| action_name(*a) == s)
        .ok_or_else(|| DecodeError::Field(format!("unknown action {s:?}")))
}

fn priority_name(p: Priority) -> &'static str {
    match p {
        Priority::Routine => "routine",
        Priority::Urgent => "urgent",
        Priority::Breaking => "breaking",
    }
}

fn parse_priority(s: &str) -> Result<Priority, DecodeError> {
    [Priority::Routine, Priority::Urgent, Priority::Breaking]
        .into_iter()
        .find(|p| priority_name(*p) == s)
        .ok_or_else(|| DecodeError::Field(format!("unknown priority {s:?}")))
}

fn stance_name(s: Stance) -> &'static str {
    match s {
        Stance::Supports => "supports",
        Stance::Refutes => "refutes",
        Stance::Context => "context",
    }
}

fn parse_stance(s: &str) -> Result<Stance, DecodeError> {
    [Stance::Supports, Stance::Refutes, Stance::Context]
        .into_iter()
        .find(|st| stance_name(*st) == s)
        .ok_or_else(|| DecodeError::Field(format!("unknown stance {s:?}")))
}

fn parse_ulid(s: &str) -> Result<ulid::Ulid, DecodeError> {
    ulid::Ulid::from_string(s).map_err(|e| DecodeError::Field(format!("bad id {s:?}: {e}")))
}

/// The single-byte code of a state in index keys. Never reuse a code.
pub fn state_code(s: State) -> u8 {
    match s {
        State::Unverified => 1,
        State::InReview => 2,
        State::Verified => 3,
        State::Disputed => 4,
        State::Inconclusive => 5,
        State::Withdrawn => 6,
    }
}

impl From<&Evidence> for EvidenceRecord {
    fn from(e: &Evidence) -> Self {
        Self {
            id: e.id.to_string(),
            url: e.url.as_ref().map(|u| u.as_str().to_owned()),
            summary: e.summary.as_str().to_owned(),
            source: e.source.as_str().to_owned(),
            stance: stance_name(e.stance).to_owned(),
            added_by: e.added_by.as_str().to_owned(),
            add_time_ns: to_ns(e.add_time),
        }
    }
}

impl EvidenceRecord {
    fn into_domain(self) -> Result<Evidence, DecodeError> {
        Ok(Evidence {
            id: parse_ulid(&self.id)?,
            url: self.url.map(WebUrl::from_stored),
            summary: Note::from_stored(self.summary),
            source: SourceName::from_stored(self.source),
            stance: parse_stance(&self.stance)?,
            added_by: UserName::from_stored(self.added_by),
            add_time: stored_time(self.add_time_ns)?,
        })
    }
}

fn qualifier_name(q: Qualifier) -> &'static str {
    match q {
        Qualifier::Exact => "exact",
        Qualifier::About => "about",
        Qualifier::Nearly => "nearly",
        Qualifier::MoreThan => "more_than",
        Qualifier::AtLeast => "at_least",
        Qualifier::UpTo => "up_to",
        Qualifier::FewerThan => "fewer_than",
    }
}

fn parse_qualifier(s: &str) -> Result<Qualifier, DecodeError> {
    [
        Qualifier::Exact,
        Qualifier::About,
        Qualifier::Nearly,
        Qualifier::MoreThan,
        Qualifier::AtLeast,
        Qualifier::UpTo,
        Qualifier::FewerThan,
    ]
    .into_iter()
    .find(|q| qualifier_name(*q) == s)
    .ok_or_else(|| DecodeError::Field(format!("unknown qualifier {s:?}")))
}

fn unit_name(u: &Unit) -> String {
    match u {
        Unit::Count => "count".into(),
        Unit::Percent => "percent".into(),
        Unit::Fraction => "fraction".into(),
        Unit::Date => "date".into(),
        Unit::Money { currency } => format!("money:{currency}"),
        Unit::Measure { unit } => format!("measure:{unit}"),
    }
}

fn parse_unit(s: &str) -> Result<Unit, DecodeError> {
    Ok(match s.split_once(':') {
        None if s == "count" => Unit::Count,
        None if s == "percent" => Unit::Percent,
        None if s == "fraction" => Unit::Fraction,
        None if s == "date" => Unit::Date,
        Some(("money", currency)) => Unit::Money {
            currency: currency.to_owned(),
        },
        Some(("measure", unit)) => Unit::Measure {
            unit: unit.to_owned(),
        },
        _ => return Err(DecodeError::Field(format!("unknown unit {s:?}"))),
    })
}

fn parse_relation(s: &str) -> Result<Relation, DecodeError> {
    [
        Relation::Contradicts,
        Relation::Corroborates,
        Relation::Duplicates,
        Relation::Supersedes,
    ]
    .into_iter()
    .find(|r| r.as_str() == s)
    .ok_or_else(|| DecodeError::Field(format!("unknown relation {s:?}")))
}

fn parse_link_status(s: &str) -> Result<LinkStatus, DecodeError> {
    [
        LinkStatus::Suggested,
        LinkStatus::Confirmed,
        LinkStatus::Rejected,
    ]
    .into_iter()
    .find(|st| st.as_str() == s)
    .ok_or_else(|| DecodeError::Field(format!("unknown link status {s:?}")))
}

fn end_name(e: End) -> &'static str {
    match e {
        End::Subject => "subject",
        End::Object => "object",
    }
}

fn parse_end(s: &str) -> Result<End, DecodeError> {
    [End::Subject, End::Object]
        .into_iter()
        .find(|e| end_name(*e) == s)
        .ok_or_else(|| DecodeError::Field(format!("unknown link end {s:?}")))
}

/// A figure as the figure index holds it: postcard of its record. The
/// index is written with the claim, so its entries change format with the
/// store only.
pub fn encode_figure(figure: &Figure) -> Vec<u8> {
    postcard::to_allocvec(&FigureRecord::from(figure)).expect("a record always serialises")
}

pub fn decode_figure(bytes: &[u8]) -> Result<Figure, DecodeError> {
    decode_binary::<FigureRecord>(bytes)?.into_domain()
}

impl From<&Figure> for FigureRecord {
    fn from(f: &Figure) -> Self {
        Self {
            text: f.text.clone(),
            low: f.low.0,
            high: f.high.0,
            of: f.of.map(|m| m.0),
            qualifier: qualifier_name(f.qualifier).to_owned(),
            unit: unit_name(&f.unit),
            phrase: f.counted.phrase.clone(),
            family: f.counted.family.clone(),
        }
    }
}

impl FigureRecord {
    fn into_domain(self) -> Result<Figure, DecodeError> {
        Ok(Figure {
            text: self.text,
            low: Milli(self.low),
            high: Milli(self.high),
            of: self.of.map(Milli),
            qualifier: parse_qualifier(&self.qualifier)?,
            unit: parse_unit(&self.unit)?,
            counted: Counted {
                phrase: self.phrase,
                family: self.family,
            },
        })
    }
}

impl From<&Link> for LinkRecord {
    fn from(l: &Link) -> Self {
        Self {
            id: l.id,
            other: l.other.to_string(),
            relation: l.relation.as_str().to_owned(),
            end: end_name(l.end).to_owned(),
            status: l.status.as_str().to_owned(),
            note: l.note.as_str().to_owned(),
            created_by: l.created_by.as_str().to_owned(),
            create_time_ns: to_ns(l.create_time),
            resolution: l.resolution.as_ref().map(|r| ResolutionRecord {
                by: r.by.as_str().to_owned(),
                time_ns: to_ns(r.time),
                note: r.note.as_str().to_owned(),
            }),
            basis: l
                .basis
                .iter()
                .map(|p| (FigureRecord::from(&p.this), FigureRecord::from(&p.other)))
                .collect(),
        }
    }
}

impl LinkRecord {
    fn into_domain(self) -> Result<Link, DecodeError> {
        Ok(Link {
            id: self.id,
            other: ClaimId::from_ulid(parse_ulid(&self.other)?),
            relation: parse_relation(&self.relation)?,
            end: parse_end(&self.end)?,
            status: parse_link_status(&self.status)?,
            note: Note::from_stored(self.note),
            created_by: UserName::from_stored(self.created_by),
            create_time: stored_time(self.create_time_ns)?,
            resolution: self
                .resolution
                .map(|r| {
                    Ok::<_, DecodeError>(Resolution {
                        by: UserName::from_stored(r.by),
                        time: stored_time(r.time_ns)?,
                        note: Note::from_stored(r.note),
                    })
                })
                .transpose()?,
            basis: self
                .basis
                .into_iter()
                .map(|(this, other)| {
                    Ok(FigurePair {
                        this: this.into_domain()?,
                        other: other.into_domain()?,
                    })
                })
                .collect::<Result<_, DecodeError>>()?,
        })
    }
}

impl From<&Claim> for ClaimRecord {
    fn from(c: &Claim) -> Self {
        Self {
            format: FORMAT,
            id: c.id.to_string(),
            statement: c.statement.as_str().to_owned(),
            source: c.attribution.source.as_str().to_owned(),
            relayed_from: c
                .attribution
                .relayed_from
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            attribution_url: c.attribution.url.as_ref().map(|u| u.as_str().to_owned()),
            story: c.story.as_str().to_owned(),
            tags: c.tags.iter().map(|t| t.as_str().to_owned()).collect(),
            priority: priority_name(c.priority).to_owned(),
            deadline_ns: c.deadline.map(to_ns),
            state: state_name(c.state).to_owned(),
            evidence: c.evidence.iter().map(EvidenceRecord::from).collect(),
            assignee: c.assignee.as_ref().map(|a| a.as_str().to_owned()),
            lease_expires_ns: c.lease.map(|l| to_ns(l.expires)),
            lease_duration_ms: c
                .lease
                .map(|l| u64::try_from(l.duration.as_millis()).unwrap_or(u64::MAX)),
            expired_holder: c.expired_holder.as_ref().map(|h| h.as_str().to_owned()),
            submitted_by: c.submitted_by.as_str().to_owned(),
            verdict_note: c.verdict_note.as_str().to_owned(),
            create_time_ns: to_ns(c.create_time),
            update_time_ns: to_ns(c.update_time),
            revision: c.revision,
            figures: c.figures.iter().map(FigureRecord::from).collect(),
            links: c.links.iter().map(LinkRecord::from).collect(),
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Makes the records this thread writes JSON of format 1, as earlier
    /// releases wrote them: for tests and measurements that compare the
    /// formats in stores filled through the [`Store`](super::Store).
    pub static WRITE_JSON: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `record` as earlier releases stored it: JSON of format 1, without the
/// optional fields they left out when absent.
#[cfg(test)]
pub fn encode_json(record: &impl Record) -> Vec<u8> {
    let mut value = serde_json::to_value(record).expect("a record always serialises");
    let object = value.as_object_mut().expect("records are objects");
    object.insert("format".into(), JSON_FORMAT.into());
    for optional in ["assignee", "fingerprint_version"] {
        if object.get(optional).is_some_and(serde_json::Value::is_null) {
            object.remove(optional);
        }
    }
    serde_json::to_vec(&value).expect("a record always serialises")
}

impl Record for ClaimRecord {
    fn format(&self) -> u32 {
        self.format
    }

    /// No figures, no links.
    const ADDED_SINCE_2: &'static [u8] = &[0, 0];
}

impl ClaimRecord {
    pub fn decode(bytes: &[u8]) -> Result<Claim, DecodeError> {
        let r = Self::decode_record(bytes)?;
        Ok(Claim {
            id: ClaimId::from_ulid(parse_ulid(&r.id)?),
            statement: Statement::from_stored(r.statement),
            attribution: Attribution {
                source: SourceName::from_stored(r.source),
                relayed_from: r
                    .relayed_from
                    .into_iter()
                    .map(SourceName::from_stored)
                    .collect(),
                url: r.attribution_url.map(WebUrl::from_stored),
            },
            story: Slug::from_stored(r.story),
            tags: r.tags.into_iter().map(Slug::from_stored).collect(),
            priority: parse_priority(&r.priority)?,
            deadline: r.deadline_ns.map(stored_time).transpose()?,
            state: parse_state(&r.state)?,
            evidence: r
                .evidence
                .into_iter()
                .map(EvidenceRecord::into_domain)
                .collect::<Result<_, _>>()?,
            assignee: r.assignee.map(UserName::from_stored),
            lease: match (r.lease_expires_ns, r.lease_duration_ms) {
                (Some(expires), Some(ms)) => Some(Lease {
                    expires: stored_time(expires)?,
                    duration: Duration::from_millis(ms),
                }),
                (None, None) => None,
                _ => return Err(DecodeError::Field("half a lease".into())),
            },
            expired_holder: r.expired_holder.map(UserName::from_stored),
            submitted_by: UserName::from_stored(r.submitted_by),
            verdict_note: Note::from_stored(r.verdict_note),
            create_time: stored_time(r.create_time_ns)?,
            update_time: stored_time(r.update_time_ns)?,
            revision: r.revision,
            figures: r
                .figures
                .into_iter()
                .map(FigureRecord::into_domain)
                .collect::<Result<_, _>>()?,
            links: r
                .links
                .into_iter()
                .map(LinkRecord::into_domain)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl From<&Event> for EventRecord {
    fn from(e: &Event) -> Self {
        Self {
            format: FORMAT,
            revision: e.revision,
            claim_id: e.claim_id.to_string(),
            story: e.story.as_str().to_owned(),
            action: action_name(e.action).to_owned(),
            actor: e.actor.as_str().to_owned(),
            time_ns: to_ns(e.time),
            from: e.from.map(|s| state_name(s).to_owned()),
            to: state_name(e.to).to_owned(),
            note: e.note.as_str().to_owned(),
            evidence: e.evidence.as_ref().map(EvidenceRecord::from),
            assignee: e.assignee.as_ref().map(|a| a.as_str().to_owned()),
            link: e.link.as_ref().map(LinkRecord::from),
            acknowledged: e.acknowledged.clone(),
        }
    }
}

/// `bytes` in lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Length of the SHA-256 link that starts every stored event.
pub const HASH_LEN: usize = 32;

/// The link of an event in the audit chain:
/// `SHA-256(previous event's link ‖ this event's body)`. The first event's
/// previous link is all zeros.
pub fn chain_hash(previous: &[u8; HASH_LEN], body: &[u8]) -> [u8; HASH_LEN] {
    let mut h = Sha256::new();
    h.update(previous);
    h.update(body);
    h.finalize().into()
}

/// A walk of an event log's hash chain from revision 1: each event must
/// come under the next revision, its link must be [`chain_hash`] of the
/// previous link and its body, and its body must read as an event of that
/// revision. The audit and the check of a backup both walk it.
#[derive(Debug, Clone)]
pub struct ChainWalk {
    previous: [u8; HASH_LEN],
    next: u64,
}

impl Default for ChainWalk {
    fn default() -> Self {
        Self {
            previous: [0; HASH_LEN],
            next: 1,
        }
    }
}

impl ChainWalk {
    /// Checks the event stored (link and body) under `revision`, and
    /// returns it; or why it does not check out.
    pub fn step(&mut self, revision: u64, stored: &[u8]) -> Result<Event, &'static str> {
        if revision != self.next {
            return Err("the event is missing");
        }
        let Ok(stored) = StoredEvent::split(stored) else {
            return Err("the event is truncated");
        };
        if chain_hash(&self.previous, stored.body) != stored.hash {
            return Err("the event's hash does not match its content and the previous event");
        }
        let event = match EventRecord::decode(stored.body) {
            Ok(event) if event.revision == revision => event,
            Ok(_) => return Err("the event names another revision"),
            Err(_) => return Err("the event cannot be read"),
        };
        self.previous = stored.hash;
        self.next += 1;
        Ok(event)
    }

    /// The revision the next event must have.
    pub fn next_revision(&self) -> u64 {
        self.next
    }

    /// The link of the last event walked (zeros before the first).
    pub fn last_link(&self) -> [u8; HASH_LEN] {
        self.previous
    }
}

/// A stored event: its chain link, then its body (the record as encoded).
pub struct StoredEvent<'a> {
    pub hash: [u8; HASH_LEN],
    pub body: &'a [u8],
}

impl<'a> StoredEvent<'a> {
    pub fn split(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.len() < HASH_LEN {
            return Err(DecodeError::Field("event shorter than its hash".into()));
        }
        let (hash, body) = bytes.split_at(HASH_LEN);
        Ok(Self {
            hash: hash.try_into().expect("split at HASH_LEN"),
            body,
        })
    }

    /// Link and body, as stored.
    pub fn join(hash: &[u8; HASH_LEN], body: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HASH_LEN + body.len());
        bytes.extend_from_slice(hash);
        bytes.extend_from_slice(body);
        bytes
    }
}

impl Record for EventRecord {
    fn format(&self) -> u32 {
        self.format
    }

    /// No link, nothing acknowledged.
    const ADDED_SINCE_2: &'static [u8] = &[0, 0];
}

impl EventRecord {
    /// Decodes a stored event (link and body).
    pub fn decode_stored(bytes: &[u8]) -> Result<Event, DecodeError> {
        Self::decode(StoredEvent::split(bytes)?.body)
    }

    /// Decodes an event body.
    pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
        let r = Self::decode_record(bytes)?;
        Ok(Event {
            revision: r.revision,
            claim_id: ClaimId::from_ulid(parse_ulid(&r.claim_id)?),
            story: Slug::from_stored(r.story),
            action: parse_action(&r.action)?,
            actor: UserName::from_stored(r.actor),
            time: stored_time(r.time_ns)?,
            from: r.from.as_deref().map(parse_state).transpose()?,
            to: parse_state(&r.to)?,
            note: Note::from_stored(r.note),
            evidence: r.evidence.map(EvidenceRecord::into_domain).transpose()?,
            assignee: r.assignee.map(UserName::from_stored),
            link: r.link.map(LinkRecord::into_domain).transpose()?,
            acknowledged: r.acknowledged,
        })
    }
}

impl Record for RequestRecord {
    fn format(&self) -> u32 {
        self.format
    }
}

impl RequestRecord {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_record(bytes)
    }
}

#[cfg(test)]
mod tests;
