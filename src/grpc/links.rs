//! Between protobuf messages and the domain's figures and links: the
//! `figures` and `links` of a claim, the requests of LinkClaims,
//! ResolveLink and ListConflicts, and their answers.

use super::{
    convert::{Violations, claim_name, parse_claim_name, to_timestamp},
    pb::{self, claim_link, figure},
    status::truncated,
};
use crate::{
    domain::{
        Claim, ClaimId, Figure, FigurePair, Invalid, Link, LinkId, LinkStatus, Milli, Note,
        Qualifier, Relation, Slug, Unit,
    },
    error::Error,
    storage::Conflict,
};

/// Larger pages of ListConflicts are cut to this: each conflict reads two
/// claims.
pub const MAX_CONFLICTS_PAGE: usize = 100;

/// Between a claim's name and a link id in a link's name.
pub const LINK_COLLECTION: &str = "/links/";
/// Most bytes of a client's value quoted in an error description.
const MAX_QUOTED_BYTES: usize = 40;

/// `claims/{claim}/links/{link}`.
pub fn link_name(claim: ClaimId, link: LinkId) -> String {
    format!("{}{LINK_COLLECTION}{link}", claim_name(claim))
}

/// The claim and link of `claims/{claim}/links/{link}`.
pub fn parse_link_name(name: &str) -> Result<(ClaimId, LinkId), Invalid> {
    let form = || Invalid("must have the form claims/{claim}/links/{link}".to_owned());
    let (claim, link) = name.split_once(LINK_COLLECTION).ok_or_else(form)?;
    let claim = parse_claim_name(claim)?;
    let link = link.parse::<LinkId>().map_err(|_| {
        let quoted = truncated(link, MAX_QUOTED_BYTES);
        Invalid(format!("{quoted:?} is not a link id"))
    })?;
    Ok((claim, link))
}

fn relation_to_pb(r: Relation) -> claim_link::Relation {
    match r {
        Relation::Contradicts => claim_link::Relation::Contradicts,
        Relation::Corroborates => claim_link::Relation::Corroborates,
        Relation::Duplicates => claim_link::Relation::Duplicates,
        Relation::Supersedes => claim_link::Relation::Supersedes,
    }
}

fn status_to_pb(s: LinkStatus) -> claim_link::Status {
    match s {
        LinkStatus::Suggested => claim_link::Status::Suggested,
        LinkStatus::Confirmed => claim_link::Status::Confirmed,
        LinkStatus::Rejected => claim_link::Status::Rejected,
    }
}

fn qualifier_to_pb(q: Qualifier) -> figure::Qualifier {
    match q {
        Qualifier::Exact => figure::Qualifier::Exact,
        Qualifier::About => figure::Qualifier::About,
        Qualifier::Nearly => figure::Qualifier::Nearly,
        Qualifier::MoreThan => figure::Qualifier::MoreThan,
        Qualifier::AtLeast => figure::Qualifier::AtLeast,
        Qualifier::UpTo => figure::Qualifier::UpTo,
        Qualifier::FewerThan => figure::Qualifier::FewerThan,
    }
}

fn value(m: Milli) -> f64 {
    // Exact for every value below 2^53 thousandths.
    m.0 as f64 / 1000.0
}

pub fn figure_to_pb(f: Figure) -> pb::Figure {
    let (unit, unit_name) = match f.unit {
        Unit::Count => (figure::Unit::Count, String::new()),
        Unit::Percent => (figure::Unit::Percent, String::new()),
        Unit::Fraction => (figure::Unit::Fraction, String::new()),
        Unit::Date => (figure::Unit::Date, String::new()),
        Unit::Money { currency } => (figure::Unit::Money, currency),
        Unit::Measure { unit } => (figure::Unit::Measure, unit),
    };
    pb::Figure {
        text: f.text,
        low: value(f.low),
        high: value(f.high),
        of: f.of.map(value),
        qualifier: qualifier_to_pb(f.qualifier).into(),
        unit: unit.into(),
        unit_name,
        counted: f.counted.phrase,
        family: f.counted.family,
    }
}

fn pair_to_pb(p: FigurePair) -> claim_link::FigurePair {
    claim_link::FigurePair {
        this_figure: Some(figure_to_pb(p.this)),
        other_figure: Some(figure_to_pb(p.other)),
    }
}

/// `claim`'s end of `link`.
pub fn link_to_pb(claim: ClaimId, link: Link) -> pb::ClaimLink {
    let (resolved_by, resolve_time, resolution_note) = match link.resolution {
        Some(r) => (
            r.by.into_inner(),
            Some(to_timestamp(r.time)),
            r.note.into_inner(),
        ),
        None => (String::new(), None, String::new()),
    };
    pb::ClaimLink {
        name: link_name(claim, link.id),
        other: claim_name(link.other),
        relation: relation_to_pb(link.relation).into(),
        subject: link.end == crate::domain::End::Subject,
        status: status_to_pb(link.status).into(),
        note: link.note.into_inner(),
        created_by: link.created_by.into_inner(),
        create_time: Some(to_timestamp(link.create_time)),
        resolved_by,
        resolve_time,
        resolution_note,
        basis: link.basis.into_iter().map(pair_to_pb).collect(),
    }
}

/// A validated `LinkClaimsRequest`.
pub struct LinkRequest {
    pub id: ClaimId,
    pub other: ClaimId,
    pub relation: Relation,
    pub note: Note,
}

pub fn link_request(r: &pb::LinkClaimsRequest) -> Result<LinkRequest, Error> {
    let mut v = Violations::default();
    let id = v.check("name", parse_claim_name(&r.name));
    let other = v.check("other", parse_claim_name(&r.other));
    if let (Some(id), Some(other)) = (id, other)
        && id == other
    {
        v.add("other", "must name another claim than `name`");
    }
    let relation = match claim_link::Relation::try_from(r.relation) {
        Ok(claim_link::Relation::Contradicts) => Some(Relation::Contradicts),
        Ok(claim_link::Relation::Corroborates) => Some(Relation::Corroborates),
        Ok(claim_link::Relation::Duplicates) => Some(Relation::Duplicates),
        Ok(claim_link::Relation::Supersedes) => Some(Relation::Supersedes),
        Ok(claim_link::Relation::Unspecified) => {
            v.add("relation", "is required");
            None
        }
        Err(_) => {
            v.add("relation", format!("{} is not a known value", r.relation));
            None
        }
    };
    let note = v.check("note", Note::parse(&r.note));
    v.into_result(|| {
        Some(LinkRequest {
            id: id?,
            other: other?,
            relation: relation?,
            note: note?,
        })
    })
}

/// A validated `ResolveLinkRequest`.
pub struct ResolveRequest {
    pub id: ClaimId,
    pub link: LinkId,
    pub status: LinkStatus,
    pub note: Note,
}

pub fn resolve_request(r: &pb::ResolveLinkRequest) -> Result<ResolveRequest, Error> {
    let mut v = Violations::default();
    let name = v.check("name", parse_link_name(&r.name));
    let status = match claim_link::Status::try_from(r.status) {
        Ok(claim_link::Status::Confirmed) => Some(LinkStatus::Confirmed),
        Ok(claim_link::Status::Rejected) => Some(LinkStatus::Rejected),
        Ok(_) => {
            v.add("status", "must be STATUS_CONFIRMED or STATUS_REJECTED");
            None
        }
        Err(_) => {
            v.add("status", format!("{} is not a known value", r.status));
            None
        }
    };
    let note = v.check("note", Note::parse(&r.note));
    v.into_result(|| {
        let (id, link) = name?;
        Some(ResolveRequest {
            id,
            link,
            status: status?,
            note: note?,
        })
    })
}

/// The story of a `ListConflictsRequest`.
pub fn conflicts_story(r: &pb::ListConflictsRequest) -> Result<Slug, Error> {
    let mut v = Violations::default();
    let story = if r.story.is_empty() {
        v.add("story", "is required");
        None
    } else {
        v.check("story", Slug::parse(&r.story))
    };
    v.into_result(|| story)
}

fn side(c: Claim) -> pb::conflict::Side {
    pb::conflict::Side {
        name: claim_name(c.id),
        label: c.label(),
        etag: c.etag(),
        statement: c.statement.into_inner(),
        source: c.attribution.source.into_inner(),
        state: super::convert::state_to_pb(c.state).into(),
    }
}

pub fn conflict_to_pb(c: Conflict) -> pb::Conflict {
    pb::Conflict {
        link: Some(link_to_pb(c.subject.id, c.link)),
        subject: Some(side(c.subject)),
        object: Some(side(c.object)),
    }
}
