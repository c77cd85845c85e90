//! What the client commands print: for people, aligned tables with the
//! label coloured by state (on a terminal, unless `NO_COLOR` is set) and
//! times relative to now; with `--output json`, one JSON object per line per
//! claim, event or answer in the protobuf JSON mapping (the field names,
//! enum names and RFC 3339 times grpcurl prints), made by `prost-reflect`
//! from the descriptors the crate embeds.

use std::{
    io::{IsTerminal, Write},
    sync::LazyLock,
    time::{Duration, SystemTime},
};

use comfy_table::{Cell, CellAlignment, Color, ColumnConstraint, Table, Width, presets};
use prost_reflect::{DescriptorPool, DynamicMessage};

use super::error::ClientError;
use crate::{
    domain::{Counted, Figure, Milli, Qualifier, Unit},
    grpc::FILE_DESCRIPTOR_SET,
    pb,
};

/// How answers are printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Tables and sentences for people.
    #[default]
    Human,
    /// One JSON object per line (protobuf JSON mapping, as grpcurl prints).
    Json,
}

/// `--output`, shared by every client command.
#[derive(Debug, Clone, clap::Args)]
pub struct OutputArgs {
    /// How to print answers: `human`, or `json` for scripts (one object per
    /// line per claim or event, field names as grpcurl prints them).
    #[arg(long, short = 'o', value_enum, default_value_t, global = true)]
    pub output: Format,
}

/// The protobuf messages printed, by their full names in the descriptors.
pub trait Printed: prost::Message {
    const FULL_NAME: &'static str;
}

impl Printed for pb::Claim {
    const FULL_NAME: &'static str = "claimdesk.v1.Claim";
}
impl Printed for pb::ClaimEvent {
    const FULL_NAME: &'static str = "claimdesk.v1.ClaimEvent";
}
impl Printed for pb::Conflict {
    const FULL_NAME: &'static str = "claimdesk.v1.Conflict";
}
impl Printed for pb::QueueStats {
    const FULL_NAME: &'static str = "claimdesk.v1.QueueStats";
}
impl Printed for tonic_health::pb::HealthCheckResponse {
    const FULL_NAME: &'static str = "grpc.health.v1.HealthCheckResponse";
}

/// The API's descriptors and health's.
static DESCRIPTORS: LazyLock<DescriptorPool> = LazyLock::new(|| {
    let mut pool =
        DescriptorPool::decode(FILE_DESCRIPTOR_SET).expect("the built-in descriptor set decodes");
    pool.decode_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .expect("the health descriptor set decodes");
    pool
});

/// `message` in the protobuf JSON mapping, on one line.
pub fn json_line<M: Printed>(message: &M) -> String {
    let descriptor = DESCRIPTORS
        .get_message_by_name(M::FULL_NAME)
        .expect("every printed message is described");
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .expect("a message decodes as its own descriptor");
    serde_json::to_string(&dynamic).expect("a dynamic message serialises")
}

/// Writes `text` and a newline to stdout.
pub fn emit(text: &str) -> Result<(), ClientError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Writes `text` and a newline to stdout unless `text` is empty (a list of
/// nothing in JSON).
pub fn emit_some(text: &str) -> Result<(), ClientError> {
    if text.is_empty() {
        return Ok(());
    }
    emit(text)
}

/// Renders answers in one format.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub format: Format,
    /// Whether labels and states are coloured.
    pub colour: bool,
    /// The time relative times are relative to.
    pub now: SystemTime,
}

/// Least widths of the columns of an event line (`events watch`), spaces
/// after included, so that lines printed one by one align; a longer value
/// widens its column rather than wrap. The last column (the detail) is free.
const EVENT_WIDTHS: [u16; 6] = [8, 14, 28, 20, 18, 30];

/// The header of the columns of events, the revision aligned as its numbers
/// are.
fn event_header() -> Vec<Cell> {
    let mut cells: Vec<Cell> = ["REV", "WHEN", "CLAIM", "EVENT", "ACTOR", "STATE", "DETAIL"]
        .map(Cell::new)
        .to_vec();
    cells[0] = Cell::new("REV").set_alignment(CellAlignment::Right);
    cells
}

impl Printer {
    /// Prints in `format`, in colour if stdout is a terminal and
    /// `NO_COLOR` is unset or empty.
    pub fn new(format: Format) -> Self {
        let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Printer {
            format,
            colour: std::io::stdout().is_terminal() && !no_colour,
            now: SystemTime::now(),
        }
    }

    /// The same printer, with times relative to the time now.
    pub fn at_now(self) -> Self {
        Printer {
            now: SystemTime::now(),
            ..self
        }
    }

    pub(super) fn table(&self) -> Table {
        let mut table = Table::new();
        table.load_style(presets::NOTHING);
        if self.colour {
            table.enforce_styling();
        } else {
            table.force_no_tty();
        }
        table
    }

    pub(super) fn render(table: &mut Table) -> String {
        // No margin on the left; two spaces between columns.
        for column in table.column_iter_mut() {
            column.set_padding((0, 2));
        }
        table
            .lines()
            .map(|line| line.trim_end().to_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn label(&self, claim: &pb::Claim) -> Cell {
        state_cell(&claim.label, claim.state)
    }

    /// One claim in full.
    pub fn claim(&self, claim: &pb::Claim) -> String {
        if self.format == Format::Json {
            return json_line(claim);
        }
        let mut table = self.table();
        let mut row = |key: &str, value: Cell| {
            table.add_row(vec![Cell::new(key), value]);
        };
        row("claim", Cell::new(&claim.name));
        row("label", self.label(claim));
        row("state", Cell::new(state_name(claim.state)));
        row("statement", Cell::new(&claim.statement));
        if let Some(a) = &claim.attribution {
            row("source", Cell::new(&a.source));
            if !a.relayed_from.is_empty() {
                row("relayed from", Cell::new(a.relayed_from.join(", ")));
            }
            if !a.url.is_empty() {
                row("url", Cell::new(&a.url));
            }
        }
        row("story", Cell::new(&claim.story));
        if !claim.tags.is_empty() {
            row("tags", Cell::new(claim.tags.join(", ")));
        }
        row("priority", Cell::new(priority_name(claim.priority)));
        if let Some(deadline) = &claim.deadline {
            row("deadline", Cell::new(self.due(deadline)));
        }
        if !claim.assignee.is_empty() {
            let lease = claim
                .lease_expire_time
                .as_ref()
                .map(|t| format!(", lease ends {}", self.relative(t)))
                .unwrap_or_default();
            row("assignee", Cell::new(format!("{}{lease}", claim.assignee)));
        }
        if !claim.verdict_note.is_empty() {
            row("verdict note", Cell::new(&claim.verdict_note));
        }
        let submitted = claim
            .create_time
            .as_ref()
            .map(|t| format!(" {}", self.relative(t)))
            .unwrap_or_default();
        row(
            "submitted",
            Cell::new(format!("by {}{submitted}", claim.submitted_by)),
        );
        if let Some(updated) = &claim.update_time {
            row("updated", Cell::new(self.relative(updated)));
        }
        row("etag", Cell::new(&claim.etag));
        for (i, e) in claim.evidence.iter().enumerate() {
            let mut text = format!("{}: {}", stance_name(e.stance), e.source);
            for extra in [&e.summary, &e.url] {
                if !extra.is_empty() {
                    text.push_str(&format!(" — {extra}"));
                }
            }
            if let Some(added) = &e.add_time {
                text.push_str(&format!(" (by {}, {})", e.added_by, self.relative(added)));
            }
            row(&format!("evidence {}", i + 1), Cell::new(text));
        }
        for (i, figure) in claim.figures.iter().enumerate() {
            let family = if figure.family.is_empty() {
                String::new()
            } else {
                format!("; {}", figure.family)
            };
            row(
                &format!("figure {}", i + 1),
                Cell::new(format!("{}{family}", figure_text(figure))),
            );
        }
        for link in &claim.links {
            row(
                &format!("link {}", link_number(&link.name)),
                Cell::new(self.link_text(link)),
            );
        }
        Self::render(&mut table)
    }

    /// A claim's end of a link on one line: how it relates to the other
    /// claim, where the link stands and why.
    fn link_text(&self, link: &pb::ClaimLink) -> String {
        let mut text = format!(
            "{} {}, {}",
            relation_phrase(link),
            claim_id(&link.other),
            self.link_standing(link)
        );
        for note in [&link.note, &link.resolution_note] {
            if !note.is_empty() {
                text.push_str(&format!(" — {note}"));
            }
        }
        text
    }

    /// `suggested by system 3 min ago`, `confirmed by kim.checker 1 min ago`.
    fn link_standing(&self, link: &pb::ClaimLink) -> String {
        let (by, time) = if link.resolved_by.is_empty() {
            (&link.created_by, &link.create_time)
        } else {
            (&link.resolved_by, &link.resolve_time)
        };
        let when = time
            .as_ref()
            .map(|t| format!(" {}", self.relative(t)))
            .unwrap_or_default();
        format!("{} by {by}{when}", link_status_name(link.status))
    }

    /// Claims as a table, or one JSON line each.
    pub fn claims(&self, claims: &[pb::Claim]) -> String {
        if self.format == Format::Json {
            return claims.iter().map(json_line).collect::<Vec<_>>().join("\n");
        }
        if claims.is_empty() {
            return "no claims".to_owned();
        }
        let mut table = self.table();
        table.set_header(vec![
            "ID",
            "LABEL",
            "PRIORITY",
            "STORY",
            "ASSIGNEE",
            "DEADLINE",
            "UPDATED",
            "STATEMENT",
        ]);
        for claim in claims {
            table.add_row(vec![
                Cell::new(claim_id(&claim.name)),
                self.label(claim),
                Cell::new(priority_name(claim.priority)),
                Cell::new(&claim.story),
                Cell::new(&claim.assignee),
                Cell::new(
                    claim
                        .deadline
                        .as_ref()
                        .map(|d| self.due(d))
                        .unwrap_or_default(),
                ),
                Cell::new(
                    claim
                        .update_time
                        .as_ref()
                        .map(|t| self.relative(t))
                        .unwrap_or_default(),
                ),
                Cell::new(shortened(&claim.statement, 60)),
            ]);
        }
        Self::render(&mut table)
    }

    fn event_row(&self, event: &pb::ClaimEvent) -> Vec<Cell> {
        let when = event
            .event_time
            .as_ref()
            .map(|t| self.relative(t))
            .unwrap_or_default();
        let unspecified = pb::claim::State::Unspecified as i32;
        let change = if event.from_state == event.to_state || event.from_state == unspecified {
            state_name(event.to_state).to_owned()
        } else {
            format!(
                "{} → {}",
                state_name(event.from_state),
                state_name(event.to_state)
            )
        };
        let mut detail = Vec::new();
        if !event.assignee.is_empty() {
            detail.push(format!("to {}", event.assignee));
        }
        if let Some(e) = &event.evidence {
            detail.push(format!("{} {}", stance_name(e.stance), e.source));
        }
        if let Some(link) = &event.link {
            let status = link_status_name(link.status);
            let relation = format!("{} {}", relation_phrase(link), claim_id(&link.other));
            let number = link_number(&link.name);
            detail.push(
                if event.r#type == pb::claim_event::Type::LinkResolved as i32 {
                    format!("link {number} {status}: {relation}")
                } else {
                    format!("link {number}: {relation}, {status}")
                },
            );
        }
        if !event.acknowledged_links.is_empty() {
            let links: Vec<String> = event
                .acknowledged_links
                .iter()
                .map(|l| format!("link {}", link_number(l)))
                .collect();
            detail.push(format!("acknowledged {}", links.join(", ")));
        }
        if !event.note.is_empty() {
            detail.push(event.note.clone());
        }
        vec![
            Cell::new(event.revision).set_alignment(CellAlignment::Right),
            Cell::new(when),
            Cell::new(claim_id(&event.claim)),
            Cell::new(event_type_name(event.r#type)),
            Cell::new(&event.actor),
            state_cell(&change, event.to_state),
            Cell::new(detail.join("; ")),
        ]
    }

    /// A claim's history as a table, or one JSON line per event.
    pub fn events(&self, events: &[pb::ClaimEvent]) -> String {
        if self.format == Format::Json {
            return events.iter().map(json_line).collect::<Vec<_>>().join("\n");
        }
        let mut table = self.table();
        table.set_header(event_header());
        for event in events {
            table.add_row(self.event_row(event));
        }
        Self::render(&mut table)
    }

    /// The header of event lines: for people only.
    pub fn event_header(&self) -> Option<String> {
        (self.format == Format::Human).then(|| Self::one_line(self.table(), event_header()))
    }

    /// One event on a line of its own, aligned with the lines before it.
    pub fn event_line(&self, event: &pb::ClaimEvent) -> String {
        if self.format == Format::Json {
            return json_line(event);
        }
        Self::one_line(self.table(), self.event_row(event))
    }

    /// `cells` as a line of `table` with the least widths of event lines.
    fn one_line(mut table: Table, cells: Vec<Cell>) -> String {
        table.add_row(cells);
        for (i, width) in EVENT_WIDTHS.iter().enumerate() {
            if let Some(column) = table.column_mut(i) {
                column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(*width)));
            }
        }
        Self::render(&mut table)
    }

    /// Open contradictions: for people, each with its two claims side by
    /// side; in JSON, one line each.
    pub fn conflicts(&self, conflicts: &[pb::Conflict]) -> String {
        if self.format == Format::Json {
            return conflicts
                .iter()
                .map(json_line)
                .collect::<Vec<_>>()
                .join("\n");
        }
        if conflicts.is_empty() {
            return "no conflicts".to_owned();
        }
        conflicts
            .iter()
            .map(|c| self.conflict(c))
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// One contradiction: a line on the link, then its subject and object
    /// in two columns, the figures that disagree on the same lines.
    fn conflict(&self, conflict: &pb::Conflict) -> String {
        let empty = pb::ClaimLink::default();
        let link = conflict.link.as_ref().unwrap_or(&empty);
        let mut heading = format!(
            "{}: {}, {}",
            link.name,
            relation_name(link.relation),
            self.link_standing(link)
        );
        for note in [&link.note, &link.resolution_note] {
            if !note.is_empty() {
                heading.push_str(&format!(" — {note}"));
            }
        }
        let empty_side = pb::conflict::Side::default();
        let subject = conflict.subject.as_ref().unwrap_or(&empty_side);
        let object = conflict.object.as_ref().unwrap_or(&empty_side);
        let mut table = self.table();
        table.set_header(vec!["", "SUBJECT", "OBJECT"]);
        let mut row = |key: &str, subject: Cell, object: Cell| {
            table.add_row(vec![Cell::new(key), subject, object]);
        };
        let both = |text: fn(&pb::conflict::Side) -> String| {
            (Cell::new(text(subject)), Cell::new(text(object)))
        };
        let (s, o) = both(|side| claim_id(&side.name).to_owned());
        row("claim", s, o);
        let (s, o) = both(|side| side.source.clone());
        row("source", s, o);
        row(
            "label",
            state_cell(&subject.label, subject.state),
            state_cell(&object.label, object.state),
        );
        let (s, o) = both(|side| wrapped(&side.statement, STATEMENT_WIDTH));
        row("statement", s, o);
        let figures = |pick: fn(&pb::claim_link::FigurePair) -> Option<&pb::Figure>| {
            link.basis
                .iter()
                .map(|pair| pick(pair).map(figure_text).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
        };
        if !link.basis.is_empty() {
            row(
                "figures",
                Cell::new(figures(|p| p.this_figure.as_ref())),
                Cell::new(figures(|p| p.other_figure.as_ref())),
            );
        }
        let (s, o) = both(|side| side.etag.clone());
        row("etag", s, o);
        format!("{heading}\n{}", Self::render(&mut table))
    }

    /// The queue statistics.
    pub fn stats(&self, stats: &pb::QueueStats) -> String {
        if self.format == Format::Json {
            return json_line(stats);
        }
        let mut table = self.table();
        let story = if stats.story.is_empty() {
            "all stories"
        } else {
            &stats.story
        };
        table.add_row(vec![Cell::new("story"), Cell::new(story)]);
        for count in &stats.state_counts {
            table.add_row(vec![
                state_cell(&state_name(count.state), count.state),
                Cell::new(count.count),
            ]);
        }
        for count in &stats.waiting_counts {
            table.add_row(vec![
                Cell::new(format!("waiting, {}", priority_name(count.priority))),
                Cell::new(count.count),
            ]);
        }
        if let Some(oldest) = &stats.oldest_waiting_submit_time {
            table.add_row(vec![
                Cell::new("oldest waiting"),
                Cell::new(format!("submitted {}", self.relative(oldest))),
            ]);
        }
        table.add_row(vec![Cell::new("overdue"), Cell::new(stats.overdue_count)]);
        Self::render(&mut table)
    }

    /// A health check's answer.
    pub fn health(&self, answer: &tonic_health::pb::HealthCheckResponse) -> String {
        if self.format == Format::Json {
            return json_line(answer);
        }
        answer.status().as_str_name().to_owned()
    }

    /// `t` relative to now: `in 40 min`, `3 h ago`.
    pub fn relative(&self, t: &prost_types::Timestamp) -> String {
        let Ok(t) = SystemTime::try_from(*t) else {
            return t.to_string();
        };
        match t.duration_since(self.now) {
            Ok(ahead) => format!("in {}", span(ahead)),
            Err(behind) => format!("{} ago", span(behind.duration())),
        }
    }

    /// A deadline relative to now: `due in 40 min`, `due 3 h ago`.
    fn due(&self, deadline: &prost_types::Timestamp) -> String {
        format!("due {}", self.relative(deadline))
    }
}

/// A span of time in its largest units: `40 s`, `40 min`, `3 h 20 min`,
/// `30 h`, `2 d`.
fn span(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3_600 => format!("{} min", s / 60),
        3_600..36_000 if s % 3_600 >= 60 => format!("{} h {} min", s / 3_600, s % 3_600 / 60),
        3_600..172_800 => format!("{} h", s / 3_600),
        _ => format!("{} d", s / 86_400),
    }
}

/// `text` cut to `max` characters with an ellipsis.
fn shortened(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() <= max && line.len() == text.len() {
        return line.to_owned();
    }
    let cut: String = line.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// The id of `claims/{id}`.
pub fn claim_id(name: &str) -> &str {
    name.strip_prefix("claims/").unwrap_or(name)
}

/// The colour of a state.
fn state_colour(state: i32) -> Option<Color> {
    use pb::claim::State;
    match State::try_from(state).ok()? {
        State::Unspecified => None,
        State::Unverified => Some(Color::Yellow),
        State::InReview => Some(Color::Cyan),
        State::Verified => Some(Color::Green),
        State::Disputed => Some(Color::Red),
        State::Inconclusive => Some(Color::Magenta),
        State::Withdrawn => Some(Color::DarkGrey),
    }
}

/// `text` coloured as `state` is.
fn state_cell(text: &str, state: i32) -> Cell {
    let cell = Cell::new(text);
    match state_colour(state) {
        Some(colour) => cell.fg(colour),
        None => cell,
    }
}

/// An enum value's name without its prefix, lower case, with spaces:
/// `STATE_IN_REVIEW` → `in review`.
fn plain(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_lowercase()
        .replace('_', " ")
}

/// A state's name for people: `in review`.
pub fn state_name(state: i32) -> String {
    pb::claim::State::try_from(state)
        .map_or(state.to_string(), |s| plain(s.as_str_name(), "STATE_"))
}

fn priority_name(priority: i32) -> String {
    pb::claim::Priority::try_from(priority).map_or(priority.to_string(), |p| {
        plain(p.as_str_name(), "PRIORITY_")
    })
}

fn stance_name(stance: i32) -> String {
    pb::evidence::Stance::try_from(stance)
        .map_or(stance.to_string(), |s| plain(s.as_str_name(), "STANCE_"))
}

fn event_type_name(kind: i32) -> String {
    pb::claim_event::Type::try_from(kind)
        .map_or(kind.to_string(), |t| plain(t.as_str_name(), "TYPE_"))
}

/// A relation's name for people: `contradicts`.
pub fn relation_name(relation: i32) -> String {
    pb::claim_link::Relation::try_from(relation).map_or(relation.to_string(), |r| {
        plain(r.as_str_name(), "RELATION_")
    })
}

fn link_status_name(status: i32) -> String {
    pb::claim_link::Status::try_from(status)
        .map_or(status.to_string(), |s| plain(s.as_str_name(), "STATUS_"))
}

/// How a claim's end of a link reads before the other claim:
/// `contradicts`, `duplicates`, or `duplicated by` at the object's end.
fn relation_phrase(link: &pb::ClaimLink) -> String {
    use pb::claim_link::Relation;
    match Relation::try_from(link.relation) {
        Ok(Relation::Duplicates) if !link.subject => "duplicated by".to_owned(),
        Ok(Relation::Supersedes) if !link.subject => "superseded by".to_owned(),
        _ => relation_name(link.relation),
    }
}

/// The `{n}` of `claims/{id}/links/{n}`.
pub fn link_number(name: &str) -> &str {
    name.rsplit_once("/links/").map_or(name, |(_, n)| n)
}

/// How wide a statement is printed in a column of `conflicts`.
const STATEMENT_WIDTH: usize = 48;

/// `text` broken into lines of at most `width` characters, between words
/// where it can be.
fn wrapped(text: &str, width: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        let length = line.chars().count();
        if length > 0 && length + 1 + word.len() <= width {
            line.push(' ');
            line.extend(word);
            continue;
        }
        if length > 0 {
            lines.push(std::mem::take(&mut line));
        }
        while word.len() > width {
            lines.push(word.drain(..width).collect());
        }
        line = word.into_iter().collect();
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines.join("\n")
}

/// A figure as people read it: its words, then the values it allows once
/// its qualifier and rounding are taken into account (what the server
/// compares), e.g. `about 14,000 troops (12,600-15,400)`.
pub fn figure_text(figure: &pb::Figure) -> String {
    format!("{} ({})", figure.text, allowed(figure))
}

/// The values `figure` allows: `12,600-15,400`, `6,001 or more`, `38-42%`.
fn allowed(figure: &pb::Figure) -> String {
    use pb::figure::{Qualifier as Q, Unit as U};
    let milli = |v: f64| Milli((v * 1000.0).round() as i64);
    let unit = match U::try_from(figure.unit) {
        Ok(U::Date) => return "a date, not compared".to_owned(),
        Ok(U::Percent) => Unit::Percent,
        Ok(U::Fraction) => Unit::Fraction,
        Ok(U::Money) => Unit::Money {
            currency: figure.unit_name.clone(),
        },
        Ok(U::Measure) => Unit::Measure {
            unit: figure.unit_name.clone(),
        },
        Ok(U::Count | U::Unspecified) | Err(_) => Unit::Count,
    };
    let qualifier = match Q::try_from(figure.qualifier) {
        Ok(Q::About) => Qualifier::About,
        Ok(Q::Nearly) => Qualifier::Nearly,
        Ok(Q::MoreThan) => Qualifier::MoreThan,
        Ok(Q::AtLeast) => Qualifier::AtLeast,
        Ok(Q::UpTo) => Qualifier::UpTo,
        Ok(Q::FewerThan) => Qualifier::FewerThan,
        Ok(Q::Exact | Q::Unspecified) | Err(_) => Qualifier::Exact,
    };
    let (low, high) = Figure {
        text: String::new(),
        low: milli(figure.low),
        high: milli(figure.high),
        of: figure.of.map(milli),
        qualifier,
        unit: unit.clone(),
        counted: Counted {
            phrase: String::new(),
            family: String::new(),
        },
    }
    .bounds();
    let range = match qualifier {
        Qualifier::MoreThan => format!("above {}", amount(milli(figure.low))),
        Qualifier::AtLeast => format!("{} or more", amount(low)),
        Qualifier::UpTo => format!("{} or less", amount(high)),
        Qualifier::FewerThan => format!("below {}", amount(milli(figure.high))),
        _ if high == Milli::INFINITY => format!("{} or more", amount(low)),
        _ if low == high => amount(low),
        _ => format!("{}-{}", amount(low), amount(high)),
    };
    match unit {
        Unit::Percent => format!("{range}%"),
        Unit::Money { currency } => format!("{range} {}", currency.to_uppercase()),
        Unit::Measure { unit } => format!("{range} {unit}"),
        Unit::Count | Unit::Fraction | Unit::Date => range,
    }
}

/// A value in thousandths as people write it: `14,000`, `1.9`, `0.667`.
fn amount(value: Milli) -> String {
    let (whole, thousandths) = (value.0 / 1000, value.0 % 1000);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if thousandths == 0 {
        return grouped;
    }
    let decimals = format!("{thousandths:03}");
    format!("{grouped}.{}", decimals.trim_end_matches('0'))
}

#[cfg(test)]
mod tests;
