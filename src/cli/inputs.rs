//! What the `claim` commands (and the filters of `events watch`) take:
//! the claim a change is for, the fields of a submission, the filters and
//! paging of a listing, and their parsing into protobuf values.

use std::{io::Read, time::Duration};

use super::error::ClientError;
use crate::pb;

/// The claim a change is for.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// The claim: `claims/{id}`, or just the id.
    pub name: String,
    /// Change the claim only if its etag is still this (as `claim get`
    /// printed it); otherwise the change fails with ABORTED.
    #[arg(long)]
    pub etag: Option<String>,
}

impl Target {
    /// `claims/{id}`.
    pub fn name(&self) -> String {
        claim_name(&self.name)
    }

    /// The etag, or none (empty).
    pub fn etag(&self) -> String {
        self.etag.clone().unwrap_or_default()
    }
}

/// A ruling, or a release, with its note.
#[derive(Debug, clap::Args)]
pub struct Ruling {
    #[command(flatten)]
    pub target: Target,
    /// The explanation, kept in the history.
    #[arg(long)]
    pub note: Option<String>,
}

/// A reopening or withdrawal, with its reason.
#[derive(Debug, clap::Args)]
pub struct Undoing {
    #[command(flatten)]
    pub target: Target,
    /// Why (required).
    #[arg(long)]
    pub reason: String,
}

/// `claim submit`.
#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// The claim as copy states it; `-` or nothing reads it from stdin.
    pub statement: Option<String>,
    /// Who makes the claim (a person, office or outlet).
    #[arg(long)]
    pub source: String,
    /// Who the source says they have it from, nearest first; repeatable.
    #[arg(long, value_name = "PARTY")]
    pub relayed_from: Vec<String>,
    /// Where the source makes the claim.
    #[arg(long)]
    pub url: Option<String>,
    /// The story the claim belongs to.
    #[arg(long)]
    pub story: String,
    /// A tag for taking claims by topic; repeatable.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// How soon it must be checked.
    #[arg(long, value_enum, default_value = "routine")]
    pub priority: Priority,
    /// When the ruling is needed: RFC 3339 (`2026-11-30T18:00:00Z`) or from
    /// now (`+2h`, `+40m`, `+90s`).
    #[arg(long, value_parser = parse_deadline, value_name = "TIME")]
    pub deadline: Option<prost_types::Timestamp>,
    /// Makes a retry safe: the same id and claim return the claim made the
    /// first time. A fresh id is made for each run without it.
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,
}

/// `claim list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only claims of this story.
    #[arg(long)]
    pub story: Option<String>,
    /// Only claims in this state.
    #[arg(long, value_enum)]
    pub state: Option<State>,
    /// Only claims attributed to this source (compared as the desk compares
    /// names of parties).
    #[arg(long)]
    pub source: Option<String>,
    /// Only claims assigned to this user.
    #[arg(long, value_name = "USER")]
    pub assignee: Option<String>,
    #[command(flatten)]
    pub paging: Paging,
}

/// How much of a listing to read, and in pages of what size.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Paging {
    /// Print at most this many; all of them without it.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// How many to ask for per call (the server may send fewer).
    #[arg(long, value_name = "N", default_value_t = MAX_PAGE,
          value_parser = clap::value_parser!(u16).range(1..=MAX_PAGE as i64))]
    pub page_size: u16,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Priority {
    Routine,
    Urgent,
    Breaking,
}

impl From<Priority> for pb::claim::Priority {
    fn from(p: Priority) -> Self {
        match p {
            Priority::Routine => pb::claim::Priority::Routine,
            Priority::Urgent => pb::claim::Priority::Urgent,
            Priority::Breaking => pb::claim::Priority::Breaking,
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum State {
    Unverified,
    InReview,
    Verified,
    Disputed,
    Inconclusive,
    Withdrawn,
}

impl From<State> for pb::claim::State {
    fn from(s: State) -> Self {
        match s {
            State::Unverified => pb::claim::State::Unverified,
            State::InReview => pb::claim::State::InReview,
            State::Verified => pb::claim::State::Verified,
            State::Disputed => pb::claim::State::Disputed,
            State::Inconclusive => pb::claim::State::Inconclusive,
            State::Withdrawn => pb::claim::State::Withdrawn,
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Stance {
    Supports,
    Refutes,
    Context,
}

impl From<Stance> for pb::evidence::Stance {
    fn from(s: Stance) -> Self {
        match s {
            Stance::Supports => pb::evidence::Stance::Supports,
            Stance::Refutes => pb::evidence::Stance::Refutes,
            Stance::Context => pb::evidence::Stance::Context,
        }
    }
}

/// How a claim relates to another (`claim link --relation`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Relation {
    /// They cannot both be true.
    Contradicts,
    /// Each makes the other more likely.
    Corroborates,
    /// The claim says the same as the other, which came first.
    Duplicates,
    /// The claim replaces the other.
    Supersedes,
}

impl From<Relation> for pb::claim_link::Relation {
    fn from(r: Relation) -> Self {
        match r {
            Relation::Contradicts => pb::claim_link::Relation::Contradicts,
            Relation::Corroborates => pb::claim_link::Relation::Corroborates,
            Relation::Duplicates => pb::claim_link::Relation::Duplicates,
            Relation::Supersedes => pb::claim_link::Relation::Supersedes,
        }
    }
}

/// `claims/{id}` for an id or a name.
pub fn claim_name(name: &str) -> String {
    if name.contains('/') {
        name.to_owned()
    } else {
        format!("claims/{name}")
    }
}

/// `claims/{id}/links/{n}` for `{id}/links/{n}` or a link's name.
pub fn link_name(name: &str) -> String {
    if name.starts_with("claims/") {
        name.to_owned()
    } else {
        format!("claims/{name}")
    }
}

/// Durations written as a whole number and a unit (`90s`, `300ms`), as
/// flags take them.
#[derive(Debug, Clone, Copy)]
pub struct DurationUnits {
    /// Each unit's name and length.
    pub units: &'static [(&'static str, Duration)],
    /// The unit of a bare number.
    pub bare: Duration,
    /// Examples for the error, e.g. `90s, 15m or 2h`.
    pub examples: &'static str,
    /// The longest duration accepted, and how the error says it.
    pub max: (Duration, &'static str),
}

impl DurationUnits {
    /// The duration `raw` says: longer than zero, at most the maximum.
    pub fn parse(&self, raw: &str) -> Result<Duration, String> {
        let (number, unit) = raw
            .find(|c: char| !c.is_ascii_digit())
            .map_or((raw, None), |i| (&raw[..i], Some(&raw[i..])));
        let n: u64 = number
            .parse()
            .map_err(|_| format!("{raw:?} is not a duration like {}", self.examples))?;
        let length = match unit {
            None => self.bare,
            Some(unit) => match self.units.iter().find(|(name, _)| *name == unit) {
                Some((_, length)) => *length,
                None => {
                    let names: Vec<&str> = self.units.iter().map(|(name, _)| *name).collect();
                    let (last, others) = names.split_last().unwrap_or((&"", &[]));
                    return Err(format!(
                        "{raw:?}: the unit must be {} or {last}",
                        others.join(", ")
                    ));
                }
            },
        };
        let duration = u32::try_from(n).map_or(Duration::MAX, |n| length.saturating_mul(n));
        if duration.is_zero() {
            return Err("must be longer than zero".into());
        }
        if duration > self.max.0 {
            return Err(format!("must be at most {}", self.max.1));
        }
        Ok(duration)
    }
}

/// A deadline: RFC 3339, or `+N` with `s`, `m`, `h` or `d` from now.
pub fn parse_deadline(raw: &str) -> Result<prost_types::Timestamp, String> {
    let Some(relative) = raw.strip_prefix('+') else {
        return raw.parse().map_err(|_| {
            format!("{raw:?} is neither an RFC 3339 time (2026-11-30T18:00:00Z) nor +2h or +40m")
        });
    };
    let (number, unit) = relative.split_at(relative.len().saturating_sub(1));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{raw:?}: expected +N followed by s, m, h or d, e.g. +40m"))?;
    let seconds = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3_600),
        "d" => n.checked_mul(86_400),
        _ => return Err(format!("{raw:?}: the unit must be s, m, h or d")),
    }
    .filter(|s| *s <= 366 * 86_400)
    .ok_or_else(|| format!("{raw:?}: at most a year from now"))?;
    Ok((std::time::SystemTime::now() + Duration::from_secs(seconds)).into())
}

/// The statement given, or read from stdin for `-` or none.
fn statement(given: Option<String>) -> Result<String, ClientError> {
    match given {
        Some(statement) if statement != "-" => Ok(statement),
        _ => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!("claimdesk: reading the statement from stdin (end it with Ctrl-D)");
            }
            // A statement is at most 2,000 characters of up to 4 bytes:
            // a pasted file is refused here, not read whole and sent.
            let most = 4 * crate::domain::Statement::MAX_CHARS as u64 + 2;
            let mut text = String::new();
            std::io::stdin()
                .take(most + 1)
                .read_to_string(&mut text)
                .map_err(|e| {
                    ClientError::Usage(format!("cannot read the statement from stdin: {e}"))
                })?;
            if text.len() as u64 > most {
                return Err(ClientError::Usage(format!(
                    "the statement on stdin is longer than a claim may be ({} characters)",
                    crate::domain::Statement::MAX_CHARS
                )));
            }
            Ok(text.trim_end_matches(['\n', '\r']).to_owned())
        }
    }
}

impl SubmitArgs {
    /// The request, with the statement read if need be and a request id
    /// made if none was given.
    pub fn request(self) -> Result<pb::SubmitClaimRequest, ClientError> {
        let priority: pb::claim::Priority = self.priority.into();
        Ok(pb::SubmitClaimRequest {
            claim: Some(pb::Claim {
                statement: statement(self.statement)?,
                attribution: Some(pb::Attribution {
                    source: self.source,
                    relayed_from: self.relayed_from,
                    url: self.url.unwrap_or_default(),
                }),
                story: self.story,
                tags: self.tags,
                priority: priority.into(),
                deadline: self.deadline,
                ..Default::default()
            }),
            request_id: self
                .request_id
                .unwrap_or_else(|| ulid::Ulid::generate().to_string()),
        })
    }
}

impl ListArgs {
    /// The first page's request.
    pub fn request(&self) -> pb::ListClaimsRequest {
        pb::ListClaimsRequest {
            story: self.story.clone().unwrap_or_default(),
            state: self.state.map_or(0, |s| pb::claim::State::from(s).into()),
            source: self.source.clone().unwrap_or_default(),
            assignee: self.assignee.clone().unwrap_or_default(),
            page_size: 0,
            page_token: String::new(),
        }
    }
}

/// The largest page a server sends.
pub const MAX_PAGE: u16 = 500;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_is_rfc_3339_or_relative_to_now() {
        let at = parse_deadline("2026-11-30T18:00:00Z").expect("RFC 3339");
        assert_eq!(at.to_string(), "2026-11-30T18:00:00Z");
        let before = std::time::SystemTime::now();
        let soon = parse_deadline("+40m").expect("relative");
        let soon = std::time::SystemTime::try_from(soon).expect("a time");
        let ahead = soon.duration_since(before).expect("in the future");
        assert!(ahead >= Duration::from_secs(40 * 60), "{ahead:?}");
        assert!(ahead < Duration::from_secs(41 * 60), "{ahead:?}");
        for bad in [
            "tomorrow",
            "+",
            "+2",
            "+2w",
            "+-2h",
            "+99999d",
            "2026-13-01T00:00:00Z",
        ] {
            assert!(parse_deadline(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn an_id_is_a_claim_name() {
        assert_eq!(
            claim_name("01ARZ3NDEKTSV4RRFFQ69G5FAV"),
            "claims/01ARZ3NDEKTSV4RRFFQ69G5FAV"
        );
        assert_eq!(claim_name("claims/01ARZ"), "claims/01ARZ");
    }

    #[test]
    fn a_link_may_be_named_without_the_collection_of_its_claim() {
        assert_eq!(link_name("01ARZ/links/7"), "claims/01ARZ/links/7");
        assert_eq!(link_name("claims/01ARZ/links/7"), "claims/01ARZ/links/7");
    }
}
