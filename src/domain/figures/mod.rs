//! The figures (numbers) of a claim's statement, read the way a desk editor
//! reads wire copy, so that the queue can suggest which statements of one
//! story **cannot both be true** (a conflict) and which **say the same thing**
//! (a duplicate). Suggestions only: a checker rules; nothing here is a
//! verdict.
//!
//! # What a figure is
//!
//! [`extract`] reads, in order of appearance and at most
//! [`Figure::MAX_PER_STATEMENT`] of them, every figure of a statement:
//!
//! - **a value**: digits with comma grouping (`14,000`), with space grouping
//!   (`14 000`, also with a no-break or thin space: the first group has one to
//!   three digits and every later group exactly three), a decimal point
//!   (`1.9`, `.5`). A full stop is always a decimal point: `14.000` is
//!   fourteen, as in English copy; continental grouping is not read. A scale
//!   word may follow: `thousand`, `million`, `billion`, `trillion`, `hundred`,
//!   `mn`, `mln`, `bn`, `tn`, glued `k` (`14k`), and glued `m` and `b` for
//!   money or before a counted thing of `THINGS` (`€300m`, `$2b`, `1.2m
//!   people`; `300m high` is metres). Number words: `one` to `nineteen`, the tens,
//!   `hundred`, `thousand`, `million`, ... with `and` and hyphens (`two
//!   hundred and fifty`, `twenty-five`, `fourteen thousand`), `a dozen`, `two
//!   dozen`, `a hundred`, `a million`, `half a million`.
//! - **a range**: `5,000-6,000` (any dash), `5,000 to 6,000`, `between 5 and 6
//!   thousand`; a scale or currency written once applies to both ends (`5 to 6
//!   million`, `$5-6 billion`). The low end must not exceed the high end.
//!   `from 300 to 450` is a change, not a range: only the new value (450) is
//!   read, and its text is the whole `from 300 to 450`.
//! - **a part of a whole**: `37 of 64 settlements` is 37 with `of` 64.
//! - **a qualifier** written just before the value (see [`Qualifier`]).
//! - **a unit**: `%`, `percent`, `per cent` ([`Unit::Percent`]); a fraction
//!   word (`two-thirds`, `half`, `a quarter of`, `one in five`:
//!   [`Unit::Fraction`], value in thousandths of one); money with a symbol
//!   before (`$`, `US$`, `€`, `£`, `¥`, `₽`, `₴`, `₹`, `A$`, `C$`, `HK$`), a
//!   code before or after (`USD 5 million`, `5 million EUR`) or a currency
//!   word after (`2 million rubles`; bare `dollars` are US dollars, `pounds`
//!   are sterling); a measure after the value, hyphenated or not (`12 km`,
//!   `30-mile`, `5 kg`, `3 hours`, `10 days`, `6.2-magnitude`, `magnitude
//!   6.2`, `4 percentage points`), named by its canonical unit (`km`, `m`,
//!   `mile`, `kg`, `tonne`, `hour`, `day`, ...). Units are never converted
//!   (`5 km` and `5,000 m` do not meet).
//! - **what is counted** ([`Counted`]): the noun phrase after the value (up to
//!   four words, after an optional `of the`/`of its` or `-strong`: `14,000
//!   North Korean troops`, `two-thirds of the residents`, `a 2,000-strong
//!   contingent`); what happened to it, read from the phrase itself (`6,000
//!   dead`), from the verb after it (`troops were sent`, `soldiers had been
//!   deployed`) or from the verb just before the value (`sent about 14,000
//!   troops`, `killing at least 40`); failing a phrase, the noun the value is
//!   reported for earlier in the clause (`the death toll rose to 300`,
//!   `losses amounted to more than 4,000`, `turnout was 64%`).
//!
//! Dates and times are [`Unit::Date`] and never compared: a plain four-digit
//! number from 1800 to 2100 (`in 2024`, `the 1990s`), a day next to a month
//! (`June 19`, `19 June 2024`), a clock time (`10:30`, `3 pm`, `3 p.m.`).
//! Not figures at all: ordinals (`3rd`), ages (`a 34-year-old`, `34 years
//! old`, `aged 34`), numbers that name (`No. 3`, `Route 66`, `Article 5`,
//! `Brigade 3`: see `LABELS`), phone numbers and codes (a leading zero
//! `0142`, a leading `+`, three or more numbers joined by dashes), `one` on
//! its own (`one of the`, `one person`: too often not a figure), vague
//! plurals (`dozens`, `hundreds`, `thousands of`), `first`/`third` as
//! ordinals (`a third round` is not a fraction: `a third` needs `of`), and
//! values that do not fit (above about 9.2 × 10^15).
//!
//! # Qualifiers
//!
//! The words just before the value (longest match first; see `QUALIFIERS`):
//! - [`Qualifier::About`]: about, around, roughly, some, approximately,
//!   circa, an estimated, estimated, an approximate, perhaps, or so (after).
//! - [`Qualifier::Nearly`]: nearly, almost, close to, just under, just below,
//!   just shy of, not quite.
//! - [`Qualifier::MoreThan`]: more than, over, upwards of, in excess of,
//!   above, just over, well over, well above, exceeding.
//! - [`Qualifier::AtLeast`]: at least, no fewer than, no less than, not fewer
//!   than, not less than, a minimum of, or more (after).
//! - [`Qualifier::UpTo`]: up to, at most, no more than, not more than, as many
//!   as, as much as, a maximum of, within.
//! - [`Qualifier::FewerThan`]: fewer than, less than, under, below, well
//!   under, well below.
//!
//! # Families
//!
//! A count's family is *what* is counted, then `:` and *what happened to it*
//! when the statement says so (`troops:sent`, `troops:killed`, `troops`,
//! `people:killed`). What is counted (`THINGS`):
//! - `troops`: troops, soldiers, servicemen, servicewomen, servicemembers,
//!   fighters, personnel, marines, conscripts, paratroopers, reservists;
//! - `people`: people, persons, individuals, lives — and the default when
//!   only an event is said (`6,000 dead`, `the death toll`, `more than 6,000
//!   had been killed`);
//! - `civilians`: civilians, residents, inhabitants, villagers;
//! - `children`, `refugees`, `migrants`, `police` (police, policemen,
//!   policewomen), `prisoners` (prisoners, detainees, captives, inmates,
//!   POWs), `hostages`, `voters` (voters, electorate), `votes` (votes,
//!   ballots), `seats`, `workers` (workers, employees, staff), `homes`
//!   (homes, houses, dwellings), `journalists` (journalists, reporters);
//! - anything else: the head noun of the phrase, singular (`6,000 engineers`
//!   is `engineer`, `37 of 64 settlements` is `settlement`), ASCII letters
//!   and digits only; a head with none is `unknown`.
//!
//! What happened (`EVENTS`):
//! - `killed`: killed, dead, deaths, death, died, lost, losses, fatalities,
//!   death toll, perished, slain, killing;
//! - `casualties`: casualties — its own family, since casualties include the
//!   wounded;
//! - `wounded`: wounded, injured, injuries, hurt;
//! - `sent`: sent, deployed, dispatched, transferred, moved, redeployed;
//! - `displaced`: displaced, fled, evacuated, uprooted, homeless;
//! - `arrested`: arrested, detained, arrests, detentions;
//! - `missing`, `captured`, `released` (released, freed), `rescued`.
//!
//! Other units keep their family apart from counts by a prefix naming the
//! unit: `fraction:residents:displaced`, `percent:turnout`,
//! `money:usd:aid`, `measure:km:pass`, `date`. A family ending in `unknown`
//! (nothing said of what is counted) never meets any figure.
//!
//! # Tolerances ([`Figure::bounds`])
//!
//! A written value `v` is rounded: its *rounding unit* is the place of its
//! last non-zero digit (`14,000`: 1,000; `14,200`: 100; `1.9 million`:
//! 100,000; `37`: 1). Then:
//! - **exact** (no qualifier): `v ± min(half the rounding unit, 5% of v)`.
//!   `14,000` is [13,500, 14,500] and meets `14,200`; `300` is [285, 315]
//!   and does not meet `350`; `100` is [95, 105].
//! - **about**: `v ± max(10% of v, the exact tolerance)`. `about 14,000` is
//!   [12,600, 15,400]: it meets `14,200` but not `12,000` ([11,500, 12,500]).
//! - **nearly**: below `v` but close: `[v - max(10% of v, exact tolerance),
//!   v]`. `nearly 2 million` ([1.8M, 2M]) meets `about 1.9 million`
//!   ([1.71M, 2.09M]).
//! - **more than** `v`: `(v, ∞)`; **at least**: `[v, ∞)`; **up to**: `[0, v]`;
//!   **fewer than**: `[0, v)`. `more than 4,000` meets `more than 6,000`;
//!   `up to 500` does not meet `at least 600`.
//! - a **range** widens each end by its own tolerance (`5,000-6,000` is
//!   [4,750, 6,300]; it meets `about 5,500`); a qualifier applies to the whole
//!   range.
//! - a **fraction** spelled in words allows 0.025 either side (`half` is
//!   [0.475, 0.525], `two-thirds` [0.642, 0.692]).
//!
//! Infinity is `i64::MAX` milli. Two figures conflict when their intervals do
//! not overlap ([`compare`]), with one exception: a one-sided figure (more
//! than, at least, up to, fewer than) is compared with the **written value**
//! of an exact figure, not its rounding, since whoever writes `fewer than
//! 100` denies the figure 100 itself: `fewer than 100` and `100` conflict.
//!
//! # Duplicates ([`same_claim`])
//!
//! Two statements say the same thing when their figures are the same (the
//! same unit, family, value and part-of-a-whole, in any order, or both have
//! none; the qualifier may differ) and their [`Wording`]s share at least
//! `SAME_WORDING` (0.7) of their tokens (Jaccard similarity). A wording is
//! the statement NFKC-normalised and lower-cased, its values replaced by one
//! token each (`14,000`, `14 000`, `fourteen thousand` and `14k` are one),
//! stop words dropped (`STOP_WORDS`: articles, auxiliaries, prepositions,
//! verbs of saying), the words of one family made one (`soldiers` is
//! `troops`, `deployed` is `sent`, `some` is `about`, `risen` is `rise`) and
//! a crude stemming (plural `-s`, `-es`, `-ies`). In the labelled pairs of
//! the tests, duplicates share 0.71 or more of their tokens, and the closest
//! non-duplicates with the same figures 0.67 ("fewer than 100 journalists
//! remain in the city" and "... left the city"): 0.7 lies between. A
//! statement that adds a figure is never a duplicate, however close, nor
//! is one whose numbers differ where they are not figures (`convoy 5` and
//! `convoy 7`, `item 3` and `item 8`).
//!
//! # What it does not understand
//!
//! By design, the reading is local and shallow:
//! - a figure spelled across sentences, or whose subject is a pronoun or an
//!   earlier sentence (`them`, `the figure`, `the rest`);
//! - negation and modality (`not 14,000`, `denied that 14,000`, `could reach
//!   14,000`): the figure is read as if asserted;
//! - time frames and rates (`300 a day`, `in the past week`, `per capita`):
//!   `300 killed this week` and `1,200 killed since March` may be flagged;
//! - fractions or percentages *of an earlier figure* (`a third of them`),
//!   and sums (`300 soldiers and 40 civilians` reads two figures, never 340);
//! - the difference between a total and a part when the words match
//!   (`14,000 troops` and `2,000 of those troops` may conflict);
//! - unit conversion (`5 km` and `3 miles`), exchange rates, inflation;
//! - an event said by a noun (`the evacuation of 3,400 civilians`) or a state
//!   (`massed`, `stationed`, `numbers`): such a count has the family of what
//!   is counted alone, and does not meet the same count said with a verb;
//! - a verb shared by a list: `sent 2 frigates and 1,200 marines` says the
//!   frigates were sent, not the marines;
//! - a number written next to another: with space grouping `on June 19 100
//!   people` reads 19,100; `in March 12 soldiers` reads a date;
//! - continental number formats (`14.000`, `1,5`), digits of other scripts,
//!   Roman numerals, negative numbers (`-5` is 5), number words of other
//!   languages;
//! - whose figure it is: attribution is compared by the caller.
//!
//! Only the first `Statement::MAX_CHARS` characters are read, and every step
//! looks at a bounded number of tokens around a value, so the work is linear
//! in the statement's length whatever it holds.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

use super::Statement;

mod reader;
mod tokens;
mod wording;
mod words;

use reader::{Reader, Step};
use words::UNKNOWN;

/// A quantity in thousandths (1.9 million = 1_900_000_000 milli; 2.5% =
/// 2_500), so figures are exact, `Eq` and `Hash`. Saturates at the bounds of
/// `i64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Milli(pub i64);

impl Milli {
    /// No upper bound.
    pub const INFINITY: Milli = Milli(i64::MAX);
}

/// How the statement hedges its value (see the module documentation for the
/// words of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qualifier {
    Exact,
    About,
    Nearly,
    MoreThan,
    AtLeast,
    UpTo,
    FewerThan,
}

impl Qualifier {
    /// One-sided qualifiers bound the value on one side only.
    fn is_one_sided(self) -> bool {
        matches!(
            self,
            Qualifier::MoreThan | Qualifier::AtLeast | Qualifier::UpTo | Qualifier::FewerThan
        )
    }
}

/// What a figure measures. Figures of different units never meet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Unit {
    /// A head count or count of things: "14,000 troops", "37 of 64
    /// settlements".
    Count,
    /// "40%", "40 percent", "40 per cent".
    Percent,
    /// "two-thirds", "half", "a quarter of" (value in milli of 1).
    Fraction,
    /// "$1.2 billion", "€300m", "2 million rubles": ISO code in lower case.
    Money { currency: String },
    /// "12 km", "5 kg", "3 hours": the canonical unit name.
    Measure { unit: String },
    /// Years, days of a month, clock times: never compared.
    Date,
}

/// What a figure counts, and the family it is compared within.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Counted {
    /// What is counted, as written (lower case, at most 80 chars): "north
    /// korean troops", "killed", "settlements".
    pub phrase: String,
    /// The family key (ASCII `[a-z0-9:_-]`, at most 64 bytes, never empty):
    /// see the module documentation.
    pub family: String,
}

/// One figure of a statement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Figure {
    /// The words the figure was read from, as written (at most 120 chars).
    pub text: String,
    /// `low == high` for a single value; `low < high` for a range.
    pub low: Milli,
    pub high: Milli,
    /// "37 of 64 settlements": `Some(64)` (value 37).
    pub of: Option<Milli>,
    pub qualifier: Qualifier,
    pub unit: Unit,
    pub counted: Counted,
}

const MAX_TEXT_CHARS: usize = 120;
const MAX_PHRASE_CHARS: usize = 80;
const MAX_FAMILY_BYTES: usize = 64;
const MAX_KEY_BYTES: usize = 80;

impl Figure {
    /// At most this many figures are read from one statement: bounds every
    /// later comparison (16 × 16 pairs per pair of statements).
    pub const MAX_PER_STATEMENT: usize = 16;

    /// The closed interval of true values the figure allows once its
    /// qualifier and its rounding are taken into account (see "Tolerances"
    /// in the module documentation); `Milli::INFINITY` for no upper bound.
    pub fn bounds(&self) -> (Milli, Milli) {
        let (low, high) = (self.low.0, self.high.0);
        let exact = |v: i64| self.exact_tolerance(v);
        let about = |v: i64| exact(v).max(v / 10);
        let (low, high) = match self.qualifier {
            Qualifier::Exact => (
                low.saturating_sub(exact(low)),
                high.saturating_add(exact(high)),
            ),
            Qualifier::About => (
                low.saturating_sub(about(low)),
                high.saturating_add(about(high)),
            ),
            Qualifier::Nearly => (low.saturating_sub(about(low)), high),
            Qualifier::MoreThan => (low.saturating_add(1), i64::MAX),
            Qualifier::AtLeast => (low, i64::MAX),
            Qualifier::UpTo => (0, high),
            Qualifier::FewerThan => (0, high.saturating_sub(1).max(0)),
        };
        (Milli(low.max(0)), Milli(high))
    }

    /// The key under which the store indexes this figure for candidate
    /// search: the unit and the family ("count:troops:sent",
    /// "percent:turnout", "money:usd:aid"). The family of every unit but
    /// `Count` already starts with its unit.
    /// Whether the figure is ever compared with another: dates are not,
    /// nor figures of something not understood (see [`compare`]). The store
    /// indexes only these.
    pub fn is_comparable(&self) -> bool {
        self.unit != Unit::Date && !is_unknown(&self.counted.family)
    }

    pub fn index_key(&self) -> String {
        let key = match self.unit {
            Unit::Count => format!("count:{}", self.counted.family),
            _ => self.counted.family.clone(),
        };
        truncate_bytes(&key, MAX_KEY_BYTES)
    }

    /// Half the rounding unit of `v`, at most 5% of it; fractions spelled
    /// in words get a fixed 0.025.
    fn exact_tolerance(&self, v: i64) -> i64 {
        if self.unit == Unit::Fraction {
            return 25;
        }
        if v <= 0 {
            return 0;
        }
        let mut unit: i64 = 1;
        while unit <= i64::MAX / 10 && v % (unit * 10) == 0 {
            unit *= 10;
        }
        (unit / 2).min(v / 20)
    }

    /// The interval compared with `other`: the written value of an exact
    /// figure when `other` is one-sided, [`Figure::bounds`] otherwise.
    fn interval_against(&self, other: &Figure) -> (Milli, Milli) {
        if self.qualifier == Qualifier::Exact && other.qualifier.is_one_sided() {
            (self.low, self.high)
        } else {
            self.bounds()
        }
    }
}

/// Every figure of `statement`, in order of appearance, at most
/// [`Figure::MAX_PER_STATEMENT`].
pub fn extract(statement: &str) -> Vec<Figure> {
    let reader = Reader::new(bounded(statement));
    let mut figures = Vec::new();
    let mut i = 0;
    while i < reader.tokens.len() && figures.len() < Figure::MAX_PER_STATEMENT {
        match reader.figure_at(i) {
            Step::Figure(figure, next) => {
                figures.push(*figure);
                i = next.max(i + 1);
            }
            Step::Skip(next) => i = next.max(i + 1),
        }
    }
    figures
}

/// How two figures relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agreement {
    /// Different unit or family, a date, or nothing said of what is counted.
    Unrelated,
    /// Both can be true.
    Compatible,
    /// They cannot both be true: their intervals do not overlap.
    Conflict,
}

/// How `a` and `b` relate (see "Tolerances" in the module documentation).
pub fn compare(a: &Figure, b: &Figure) -> Agreement {
    if a.unit != b.unit
        || a.unit == Unit::Date
        || a.counted.family != b.counted.family
        || is_unknown(&a.counted.family)
    {
        return Agreement::Unrelated;
    }
    let (a_low, a_high) = a.interval_against(b);
    let (b_low, b_high) = b.interval_against(a);
    if a_high < b_low || b_high < a_low {
        Agreement::Conflict
    } else {
        Agreement::Compatible
    }
}

/// The pairs (index in `a`, index in `b`) of figures that conflict: for each
/// figure of `a` the first of `b` it conflicts with, at most
/// [`Figure::MAX_PER_STATEMENT`] pairs in all.
pub fn conflicts(a: &[Figure], b: &[Figure]) -> Vec<(usize, usize)> {
    let b = &b[..b.len().min(Figure::MAX_PER_STATEMENT)];
    a.iter()
        .take(Figure::MAX_PER_STATEMENT)
        .enumerate()
        .filter_map(|(i, fa)| {
            b.iter()
                .position(|fb| compare(fa, fb) == Agreement::Conflict)
                .map(|j| (i, j))
        })
        .collect()
}

/// A statement's wording normalised for duplicate detection (see
/// "Duplicates" in the module documentation): its sorted, distinct tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wording {
    tokens: Vec<String>,
}

/// At most this many distinct tokens are kept (the smallest, in order).
const MAX_WORDING_TOKENS: usize = 400;

/// The share of tokens two duplicates have in common, at least.
const SAME_WORDING: f64 = 0.7;

impl Wording {
    pub fn of(statement: &str) -> Wording {
        let normalized: String = bounded(statement).nfkc().collect::<String>().to_lowercase();
        let reader = Reader::new(bounded(&normalized));
        let mut tokens = reader.wording_tokens();
        tokens.sort_unstable();
        tokens.dedup();
        tokens.truncate(MAX_WORDING_TOKENS);
        Wording { tokens }
    }

    /// A short stable key of the wording: the first 8 bytes of the SHA-256
    /// of its tokens, in hex. Equal wordings have equal keys.
    pub fn key(&self) -> String {
        let mut hasher = Sha256::new();
        for token in &self.tokens {
            hasher.update(token.as_bytes());
            hasher.update([0]);
        }
        let digest = hasher.finalize();
        let mut key = String::with_capacity(16);
        for byte in digest.iter().take(8) {
            let _ = write!(key, "{byte:02x}");
        }
        key
    }

    /// The tokens, sorted and distinct.
    #[cfg(test)]
    pub(super) fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// Whether both wordings hold the same numbers, figures or not: "convoy
    /// 5" and "convoy 7" are two claims however alike their words.
    fn same_numbers(&self, other: &Wording) -> bool {
        let numbers = |w: &Wording| {
            w.tokens
                .iter()
                .filter(|t| t.starts_with('#'))
                .cloned()
                .collect::<Vec<_>>()
        };
        numbers(self) == numbers(other)
    }

    /// The Jaccard similarity of two wordings; two empty wordings are equal.
    pub(super) fn similarity(&self, other: &Wording) -> f64 {
        let (mut i, mut j, mut common) = (0, 0, 0usize);
        while i < self.tokens.len() && j < other.tokens.len() {
            match self.tokens[i].cmp(&other.tokens[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    common += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        let union = self.tokens.len() + other.tokens.len() - common;
        if union == 0 {
            1.0
        } else {
            common as f64 / union as f64
        }
    }
}

/// Whether two statements say the same thing: the same figures and wordings
/// that overlap enough (see "Duplicates" in the module documentation).
/// Attribution is compared by the caller.
pub fn same_claim(a: &Wording, a_figures: &[Figure], b: &Wording, b_figures: &[Figure]) -> bool {
    same_figures(a_figures, b_figures) && a.same_numbers(b) && a.similarity(b) >= SAME_WORDING
}

/// What makes two figures the same for [`same_claim`]: not the qualifier
/// nor the words around them.
fn figure_identity(figure: &Figure) -> (String, Milli, Milli, Option<Milli>) {
    (figure.index_key(), figure.low, figure.high, figure.of)
}

fn same_figures(a: &[Figure], b: &[Figure]) -> bool {
    let mut a: Vec<_> = a.iter().map(figure_identity).collect();
    let mut b: Vec<_> = b.iter().map(figure_identity).collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

fn is_unknown(family: &str) -> bool {
    family == UNKNOWN || family.ends_with(":unknown")
}

/// The first `Statement::MAX_CHARS` characters of `text`.
fn bounded(text: &str) -> &str {
    match text.char_indices().nth(Statement::MAX_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

fn truncate_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// `text` cut to at most `max` bytes; used on ASCII keys only, so every byte
/// is a character boundary, but a boundary is looked for anyway.
fn truncate_bytes(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].trim_end_matches(':').to_owned()
}
