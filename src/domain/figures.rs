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
//!   `mn`, `mln`, `bn`, `tn`, glued `k` (`14k`), and for money glued `m` and
//!   `b` (`€300m`, `$2b`). Number words: `one` to `nineteen`, the tens,
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
//!   word (`two-thirds`, `half`, `a quarter of`: [`Unit::Fraction`], value in
//!   thousandths of one); money with a symbol before (`$`, `US$`, `€`, `£`,
//!   `¥`, `₽`, `₴`, `₹`, `A$`, `C$`, `HK$`), a code before or after (`USD 5
//!   million`, `5 million EUR`) or a currency word after (`2 million rubles`;
//!   bare `dollars` are US dollars, `pounds` are sterling); a measure after
//!   the value, hyphenated or not (`12 km`, `30-mile`, `5 kg`, `3 hours`, `10
//!   days`, `6.2-magnitude`, `magnitude 6.2`, `4 percentage points`), named
//!   by its canonical unit (`km`, `m`, `mile`, `kg`, `tonne`, `hour`, `day`,
//!   ...). Units are never converted (`5 km` and `5,000 m` do not meet).
//! - **what is counted** ([`Counted`]): the noun phrase after the value (up to
//!   four words, after an optional `of the`/`of its`: `14,000 North Korean
//!   troops`, `two-thirds of the residents`), what happened to it, read from
//!   the phrase itself (`6,000 dead`), from the verb after it (`troops were
//!   sent`, `soldiers had been deployed`) or from the verb just before the
//!   value (`sent about 14,000 troops`, `killing at least 40`); failing a
//!   phrase, the noun the value is reported for earlier in the clause (`the
//!   death toll rose to 300`, `losses amounted to more than 4,000`, `turnout
//!   was 64%`).
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
//! none) and their [`Wording`]s share at least `SAME_WORDING` (0.6) of their
//! tokens (Jaccard similarity). A wording is the statement NFKC-normalised
//! and lower-cased, its values replaced by one token each (`14,000`, `14
//! 000`, `fourteen thousand` and `14k` are one), stop words dropped
//! (`STOP_WORDS`: articles, auxiliaries, prepositions, verbs of saying), the
//! words of one family made one (`soldiers` is `troops`, `deployed` is
//! `sent`, `some` is `about`) and a crude stemming (plural `-s`, `-es`,
//! `-ies`). In the labelled pairs of the tests, duplicates share 0.67 or more
//! of their tokens and the closest non-duplicate with the same figures
//! 0.5; 0.6 lies between.
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
const SAME_WORDING: f64 = 0.6;

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

    /// The Jaccard similarity of two wordings; two empty wordings are equal.
    fn similarity(&self, other: &Wording) -> f64 {
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
    same_figures(a_figures, b_figures) && a.similarity(b) >= SAME_WORDING
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

// ---------------------------------------------------------------------------
// Word tables.
// ---------------------------------------------------------------------------

const UNKNOWN: &str = "unknown";

/// Qualifier phrases, matched on the words just before a value.
const QUALIFIERS: &[(&[&str], Qualifier)] = &[
    (&["about"], Qualifier::About),
    (&["around"], Qualifier::About),
    (&["roughly"], Qualifier::About),
    (&["some"], Qualifier::About),
    (&["approximately"], Qualifier::About),
    (&["circa"], Qualifier::About),
    (&["estimated"], Qualifier::About),
    (&["an", "estimated"], Qualifier::About),
    (&["an", "approximate"], Qualifier::About),
    (&["perhaps"], Qualifier::About),
    (&["nearly"], Qualifier::Nearly),
    (&["almost"], Qualifier::Nearly),
    (&["close", "to"], Qualifier::Nearly),
    (&["just", "under"], Qualifier::Nearly),
    (&["just", "below"], Qualifier::Nearly),
    (&["just", "shy", "of"], Qualifier::Nearly),
    (&["not", "quite"], Qualifier::Nearly),
    (&["more", "than"], Qualifier::MoreThan),
    (&["over"], Qualifier::MoreThan),
    (&["upwards", "of"], Qualifier::MoreThan),
    (&["in", "excess", "of"], Qualifier::MoreThan),
    (&["above"], Qualifier::MoreThan),
    (&["just", "over"], Qualifier::MoreThan),
    (&["well", "over"], Qualifier::MoreThan),
    (&["well", "above"], Qualifier::MoreThan),
    (&["exceeding"], Qualifier::MoreThan),
    (&["at", "least"], Qualifier::AtLeast),
    (&["no", "fewer", "than"], Qualifier::AtLeast),
    (&["no", "less", "than"], Qualifier::AtLeast),
    (&["not", "fewer", "than"], Qualifier::AtLeast),
    (&["not", "less", "than"], Qualifier::AtLeast),
    (&["a", "minimum", "of"], Qualifier::AtLeast),
    (&["up", "to"], Qualifier::UpTo),
    (&["at", "most"], Qualifier::UpTo),
    (&["no", "more", "than"], Qualifier::UpTo),
    (&["not", "more", "than"], Qualifier::UpTo),
    (&["as", "many", "as"], Qualifier::UpTo),
    (&["as", "much", "as"], Qualifier::UpTo),
    (&["a", "maximum", "of"], Qualifier::UpTo),
    (&["within"], Qualifier::UpTo),
    (&["fewer", "than"], Qualifier::FewerThan),
    (&["less", "than"], Qualifier::FewerThan),
    (&["under"], Qualifier::FewerThan),
    (&["below"], Qualifier::FewerThan),
    (&["well", "under"], Qualifier::FewerThan),
    (&["well", "below"], Qualifier::FewerThan),
];

/// What is counted: word, family.
const THINGS: &[(&str, &str)] = &[
    ("troops", "troops"),
    ("troop", "troops"),
    ("soldiers", "troops"),
    ("soldier", "troops"),
    ("servicemen", "troops"),
    ("serviceman", "troops"),
    ("servicewomen", "troops"),
    ("servicemembers", "troops"),
    ("fighters", "troops"),
    ("personnel", "troops"),
    ("marines", "troops"),
    ("conscripts", "troops"),
    ("paratroopers", "troops"),
    ("reservists", "troops"),
    ("people", "people"),
    ("persons", "people"),
    ("individuals", "people"),
    ("lives", "people"),
    ("civilians", "civilians"),
    ("residents", "civilians"),
    ("inhabitants", "civilians"),
    ("villagers", "civilians"),
    ("children", "children"),
    ("refugees", "refugees"),
    ("migrants", "migrants"),
    ("police", "police"),
    ("policemen", "police"),
    ("policewomen", "police"),
    ("prisoners", "prisoners"),
    ("detainees", "prisoners"),
    ("captives", "prisoners"),
    ("inmates", "prisoners"),
    ("pows", "prisoners"),
    ("hostages", "hostages"),
    ("voters", "voters"),
    ("electorate", "voters"),
    ("votes", "votes"),
    ("vote", "votes"),
    ("ballots", "votes"),
    ("seats", "seats"),
    ("workers", "workers"),
    ("employees", "workers"),
    ("staff", "workers"),
    ("homes", "homes"),
    ("houses", "homes"),
    ("dwellings", "homes"),
    ("journalists", "journalists"),
    ("reporters", "journalists"),
];

/// What happened to what is counted: word, family.
const EVENTS: &[(&str, &str)] = &[
    ("killed", "killed"),
    ("dead", "killed"),
    ("deaths", "killed"),
    ("death", "killed"),
    ("died", "killed"),
    ("lost", "killed"),
    ("losses", "killed"),
    ("fatalities", "killed"),
    ("toll", "killed"),
    ("perished", "killed"),
    ("slain", "killed"),
    ("killing", "killed"),
    ("casualties", "casualties"),
    ("wounded", "wounded"),
    ("injured", "wounded"),
    ("injuries", "wounded"),
    ("hurt", "wounded"),
    ("sent", "sent"),
    ("deployed", "sent"),
    ("dispatched", "sent"),
    ("transferred", "sent"),
    ("moved", "sent"),
    ("redeployed", "sent"),
    ("displaced", "displaced"),
    ("fled", "displaced"),
    ("evacuated", "displaced"),
    ("uprooted", "displaced"),
    ("homeless", "displaced"),
    ("arrested", "arrested"),
    ("detained", "arrested"),
    ("arrests", "arrested"),
    ("detentions", "arrested"),
    ("missing", "missing"),
    ("captured", "captured"),
    ("released", "released"),
    ("freed", "released"),
    ("rescued", "rescued"),
];

/// Words between a counted phrase and the verb saying what happened to it
/// ("troops *had been* deployed", "soldiers *who were reportedly* killed").
const AUXILIARIES: &[&str] = &[
    "were",
    "was",
    "had",
    "have",
    "has",
    "been",
    "being",
    "are",
    "is",
    "be",
    "will",
    "would",
    "may",
    "might",
    "could",
    "reportedly",
    "allegedly",
    "also",
    "later",
    "already",
    "now",
    "all",
    "feared",
    "believed",
    "thought",
    "said",
    "to",
    "confirmed",
    "officially",
    "still",
    "who",
    "that",
    "which",
    "either",
    "been",
];

/// Words skipped when looking back from a value for what it is reported
/// for ("the death toll *rose to* 300", "turnout *was* 64%").
const BACK_SKIP: &[&str] = &[
    "to",
    "at",
    "rose",
    "risen",
    "rise",
    "rises",
    "rising",
    "climbed",
    "reached",
    "reach",
    "stood",
    "stands",
    "stand",
    "amounted",
    "amount",
    "totalled",
    "totaled",
    "total",
    "totals",
    "topped",
    "hit",
    "was",
    "were",
    "is",
    "are",
    "has",
    "had",
    "have",
    "been",
    "now",
    "put",
    "of",
    "estimated",
    "numbered",
    "number",
    "be",
    "will",
    "would",
    "already",
    "by",
    "increased",
    "fell",
    "fallen",
    "dropped",
    "jumped",
    "the",
    "a",
    "an",
    "its",
    "their",
    "official",
    "final",
    "overall",
    "latest",
    "just",
    "from",
    "worth",
    "valued",
    "costing",
];

/// Words at which looking back stops: what is before them belongs to
/// another clause or to the attribution ("officials *said* more than 6,000
/// ...").
const BOUNDARIES: &[&str] = &[
    "said",
    "says",
    "say",
    "told",
    "according",
    "and",
    "but",
    "while",
    "when",
    "after",
    "before",
    "as",
    "which",
    "who",
    "that",
    "than",
    "if",
    "because",
    "with",
    "reported",
    "announced",
    "claimed",
    "added",
    "estimates",
    "estimate",
];

/// Verbs that are not past tenses, looked past like them.
const VERBS: &[&str] = &[
    "carries",
    "carry",
    "holds",
    "hold",
    "held",
    "spend",
    "spends",
    "spent",
    "won",
    "win",
    "wins",
    "cut",
    "cuts",
    "kept",
    "keep",
    "keeps",
    "left",
    "leaves",
    "received",
    "receive",
    "has",
    "have",
    "pledged",
    "pledge",
    "pledges",
    "owes",
    "owe",
    "paid",
    "pay",
    "pays",
    "sold",
    "sell",
    "sells",
    "bought",
    "buy",
    "buys",
    "took",
    "take",
    "takes",
    "gave",
    "give",
    "gives",
    "lent",
    "lend",
    "raised",
    "raise",
    "raises",
    "made",
    "make",
    "makes",
    "got",
    "get",
    "gets",
    "saw",
    "see",
    "sees",
    "counted",
    "recorded",
    "registered",
    "reports",
    "lists",
    "lasted",
    "struck",
    "strikes",
    "strike",
    "hits",
];

/// Time words that end a counted phrase ("87 people *overnight*").
const TIME_WORDS: &[&str] = &[
    "overnight",
    "yesterday",
    "today",
    "tonight",
    "daily",
    "weekly",
    "monthly",
    "annually",
    "yearly",
    "so",
    "far",
    "alone",
    "each",
    "apiece",
    "altogether",
    "total",
    "in",
];

/// Function words that end a counted phrase.
const PHRASE_STOPS: &[&str] = &[
    "the",
    "a",
    "an",
    "of",
    "in",
    "on",
    "at",
    "to",
    "from",
    "by",
    "for",
    "with",
    "near",
    "into",
    "across",
    "since",
    "during",
    "after",
    "before",
    "over",
    "under",
    "about",
    "around",
    "than",
    "and",
    "or",
    "but",
    "as",
    "were",
    "was",
    "had",
    "have",
    "has",
    "been",
    "being",
    "are",
    "is",
    "be",
    "will",
    "would",
    "could",
    "may",
    "might",
    "said",
    "says",
    "say",
    "told",
    "according",
    "who",
    "which",
    "that",
    "this",
    "these",
    "those",
    "it",
    "its",
    "their",
    "his",
    "her",
    "they",
    "there",
    "here",
    "per",
    "each",
    "a",
    "within",
    "between",
    "last",
    "this",
    "next",
    "ago",
    "earlier",
    "later",
    "reportedly",
    "allegedly",
    "officials",
    "along",
    "toward",
    "towards",
    "against",
    "through",
    "while",
    "when",
    "where",
    "not",
];

/// Words inside a counted phrase that say nothing of what is counted
/// ("1,200 *more* troops").
const PHRASE_SKIPS: &[&str] = &[
    "more",
    "additional",
    "extra",
    "new",
    "other",
    "further",
    "fresh",
];

/// Determiners allowed after "of" before a counted phrase ("40% *of the*
/// vote", "14,000 *of its* troops").
const DETERMINERS: &[&str] = &[
    "the", "its", "their", "his", "her", "our", "those", "these", "all",
];

/// Words before a number that make it a name, not a figure ("Route 66").
const LABELS: &[&str] = &[
    "no",
    "number",
    "route",
    "article",
    "flight",
    "resolution",
    "chapter",
    "section",
    "page",
    "room",
    "gate",
    "platform",
    "line",
    "bus",
    "highway",
    "brigade",
    "division",
    "battalion",
    "regiment",
    "unit",
    "paragraph",
    "clause",
    "item",
    "level",
    "phase",
    "grade",
    "category",
    "version",
    "model",
    "channel",
    "district",
    "zone",
    "sector",
    "block",
    "building",
    "ward",
    "lot",
    "case",
    "code",
    "id",
    "apartment",
    "flat",
    "terminal",
    "pier",
    "berth",
    "runway",
    "round",
    "stage",
    "game",
    "match",
    "season",
];

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
];

const SMALL_NUMBERS: &[(&str, i128)] = &[
    ("zero", 0),
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("eleven", 11),
    ("twelve", 12),
    ("thirteen", 13),
    ("fourteen", 14),
    ("fifteen", 15),
    ("sixteen", 16),
    ("seventeen", 17),
    ("eighteen", 18),
    ("nineteen", 19),
];

const TENS: &[(&str, i128)] = &[
    ("twenty", 20),
    ("thirty", 30),
    ("forty", 40),
    ("fifty", 50),
    ("sixty", 60),
    ("seventy", 70),
    ("eighty", 80),
    ("ninety", 90),
];

/// Scale words and their power of ten.
const SCALES: &[(&str, i32)] = &[
    ("hundred", 2),
    ("thousand", 3),
    ("million", 6),
    ("billion", 9),
    ("trillion", 12),
    ("mn", 6),
    ("mln", 6),
    ("bn", 9),
    ("tn", 12),
    ("k", 3),
    ("m", 6),
    ("b", 9),
];

/// Scale words read only when glued to the digits ("14k", "€300m").
const GLUED_SCALES: &[&str] = &["k", "m", "b"];

/// Scale words read only for money: "300m" alone is 300 metres.
const MONEY_SCALES: &[&str] = &["m", "b"];

/// Denominators of fractions spelled in words.
const DENOMINATORS: &[(&str, i128)] = &[
    ("half", 2),
    ("halves", 2),
    ("third", 3),
    ("thirds", 3),
    ("quarter", 4),
    ("quarters", 4),
    ("fourth", 4),
    ("fourths", 4),
    ("fifth", 5),
    ("fifths", 5),
    ("sixth", 6),
    ("sixths", 6),
    ("eighth", 8),
    ("eighths", 8),
    ("tenth", 10),
    ("tenths", 10),
];

/// Currency symbols written before the value.
const CURRENCY_SYMBOLS: &[(char, &str)] = &[
    ('$', "usd"),
    ('€', "eur"),
    ('£', "gbp"),
    ('¥', "jpy"),
    ('₽', "rub"),
    ('₴', "uah"),
    ('₹', "inr"),
    ('₩', "krw"),
    ('₺', "try"),
];

/// Letters glued before `$` that name another dollar ("A$", "HK$").
const DOLLAR_PREFIXES: &[(&str, &str)] = &[
    ("us", "usd"),
    ("a", "aud"),
    ("au", "aud"),
    ("c", "cad"),
    ("ca", "cad"),
    ("hk", "hkd"),
    ("nz", "nzd"),
    ("s", "sgd"),
];

/// Currency codes, written before or after the value.
const CURRENCY_CODES: &[&str] = &[
    "usd", "eur", "gbp", "rub", "uah", "cny", "jpy", "inr", "chf", "cad", "aud", "krw",
];

/// Currency words written after the value.
const CURRENCY_WORDS: &[(&str, &str)] = &[
    ("dollars", "usd"),
    ("dollar", "usd"),
    ("euros", "eur"),
    ("euro", "eur"),
    ("pounds", "gbp"),
    ("sterling", "gbp"),
    ("rubles", "rub"),
    ("roubles", "rub"),
    ("ruble", "rub"),
    ("rouble", "rub"),
    ("hryvnias", "uah"),
    ("hryvnia", "uah"),
    ("hryvnias", "uah"),
    ("yuan", "cny"),
    ("renminbi", "cny"),
    ("yen", "jpy"),
    ("rupees", "inr"),
    ("francs", "chf"),
    ("lira", "try"),
];

/// Measure words written after the value, and their canonical unit.
const MEASURES: &[(&str, &str)] = &[
    ("km", "km"),
    ("kms", "km"),
    ("kilometres", "km"),
    ("kilometers", "km"),
    ("kilometre", "km"),
    ("kilometer", "km"),
    ("m", "m"),
    ("metres", "m"),
    ("meters", "m"),
    ("metre", "m"),
    ("meter", "m"),
    ("miles", "mile"),
    ("mile", "mile"),
    ("kg", "kg"),
    ("kilograms", "kg"),
    ("kilogram", "kg"),
    ("kilos", "kg"),
    ("tonnes", "tonne"),
    ("tonne", "tonne"),
    ("tons", "tonne"),
    ("ton", "tonne"),
    ("litres", "litre"),
    ("liters", "litre"),
    ("barrels", "barrel"),
    ("hectares", "hectare"),
    ("acres", "acre"),
    ("hours", "hour"),
    ("hour", "hour"),
    ("hrs", "hour"),
    ("minutes", "minute"),
    ("minute", "minute"),
    ("seconds", "second"),
    ("days", "day"),
    ("day", "day"),
    ("weeks", "week"),
    ("week", "week"),
    ("months", "month"),
    ("month", "month"),
    ("years", "year"),
    ("year", "year"),
    ("mw", "mw"),
    ("megawatts", "mw"),
    ("gw", "gw"),
    ("degrees", "degree"),
    ("magnitude", "magnitude"),
];

/// Words after a number that make it a clock time.
const CLOCK_WORDS: &[&str] = &["am", "pm", "gmt", "utc"];

/// Words dropped from a wording: they rarely tell two claims apart.
const STOP_WORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "had",
    "has",
    "have",
    "having",
    "were",
    "was",
    "is",
    "are",
    "be",
    "been",
    "being",
    "said",
    "says",
    "say",
    "saying",
    "told",
    "tells",
    "that",
    "which",
    "who",
    "according",
    "to",
    "of",
    "in",
    "on",
    "at",
    "by",
    "for",
    "with",
    "from",
    "and",
    "or",
    "but",
    "as",
    "it",
    "its",
    "their",
    "they",
    "them",
    "this",
    "these",
    "those",
    "than",
    "also",
    "reportedly",
    "reported",
    "there",
    "here",
    "will",
    "would",
    "could",
    "may",
    "might",
    "than",
    "so",
    "far",
    "just",
    "now",
    "since",
    "into",
    "onto",
];

/// Qualifier words of one meaning made one in a wording.
const WORDING_SYNONYMS: &[(&str, &str)] = &[
    ("around", "about"),
    ("roughly", "about"),
    ("some", "about"),
    ("approximately", "about"),
    ("estimated", "about"),
    ("circa", "about"),
    ("almost", "nearly"),
    ("over", "more"),
    ("above", "more"),
    ("upwards", "more"),
    ("exceeding", "more"),
    ("less", "fewer"),
    ("under", "fewer"),
    ("below", "fewer"),
];

fn currency_symbol(c: char) -> Option<&'static str> {
    CURRENCY_SYMBOLS
        .iter()
        .find(|&&(s, _)| s == c)
        .map(|&(_, code)| code)
}

fn lookup<T: Copy>(table: &[(&str, T)], word: &str) -> Option<T> {
    table.iter().find(|(w, _)| *w == word).map(|&(_, v)| v)
}

fn is_in(list: &[&str], word: &str) -> bool {
    list.contains(&word)
}

// ---------------------------------------------------------------------------
// Tokens.
// ---------------------------------------------------------------------------

/// Digits as written: `mantissa × 10^exp`, with how they were written.
#[derive(Debug, Clone, Copy, Default)]
struct Digits {
    mantissa: i128,
    exp: i32,
    /// Written with group separators or a decimal point.
    formatted: bool,
    /// More than one digit, the first a zero: a code, not a quantity.
    leading_zero: bool,
    int_digits: usize,
}

/// Mantissas stop growing here; further digits only raise the exponent, so
/// 2,000 digits cost no more than 30.
const MAX_MANTISSA: i128 = 1_000_000_000_000_000_000_000_000_000_000;

impl Digits {
    fn push_int(&mut self, digit: u32) {
        if self.mantissa < MAX_MANTISSA {
            self.mantissa = self.mantissa * 10 + i128::from(digit);
        } else {
            self.exp = self.exp.saturating_add(1);
        }
    }

    fn push_decimal(&mut self, digit: u32) {
        if self.mantissa < MAX_MANTISSA {
            self.mantissa = self.mantissa * 10 + i128::from(digit);
            self.exp -= 1;
        }
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Word(String),
    Num(Digits),
    Sym(char),
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    /// Byte range in the text.
    start: usize,
    end: usize,
    /// Whether white space comes before the token ("14 k" versus "14k").
    spaced: bool,
}

fn is_digit_at(chars: &[(usize, char)], i: usize) -> bool {
    chars.get(i).is_some_and(|&(_, c)| c.is_ascii_digit())
}

fn digit_at(chars: &[(usize, char)], i: usize) -> u32 {
    chars.get(i).and_then(|&(_, c)| c.to_digit(10)).unwrap_or(0)
}

/// Separators of digit groups: comma, space, no-break space, thin spaces.
fn is_group_separator(c: char) -> bool {
    matches!(c, ',' | ' ' | '\u{a0}' | '\u{202f}' | '\u{2009}')
}

fn is_dash(c: char) -> bool {
    matches!(
        c,
        '-' | '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2212}'
    )
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}')
}

/// Reads the digits starting at `i` (a digit, or a full stop before one).
fn read_digits(chars: &[(usize, char)], i: usize) -> (Digits, usize) {
    let mut digits = Digits::default();
    let mut j = i;
    while is_digit_at(chars, j) {
        digits.push_int(digit_at(chars, j));
        j += 1;
    }
    digits.int_digits = j - i;
    digits.leading_zero = digits.int_digits > 1 && chars[i].1 == '0';
    if (1..=3).contains(&digits.int_digits) {
        j = read_groups(chars, j, &mut digits);
    }
    if chars.get(j).is_some_and(|&(_, c)| c == '.') && is_digit_at(chars, j + 1) {
        j += 1;
        while is_digit_at(chars, j) {
            digits.push_decimal(digit_at(chars, j));
            j += 1;
        }
        digits.formatted = true;
    }
    (digits, j)
}

/// Reads groups of exactly three digits after one separator each, all the
/// same separator ("14,000,000", "14 000").
fn read_groups(chars: &[(usize, char)], mut j: usize, digits: &mut Digits) -> usize {
    let mut separator = None;
    while let Some(&(_, s)) = chars.get(j) {
        let same = separator.is_none_or(|k| k == s);
        let group = (1..=3).all(|k| is_digit_at(chars, j + k)) && !is_digit_at(chars, j + 4);
        if !is_group_separator(s) || !same || !group {
            break;
        }
        for k in 1..=3 {
            digits.push_int(digit_at(chars, j + k));
        }
        digits.formatted = true;
        separator = Some(s);
        j += 4;
    }
    j
}

fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut spaced = true;
    while let Some(&(start, c)) = chars.get(i) {
        if c.is_whitespace() {
            spaced = true;
            i += 1;
            continue;
        }
        let after_letter_or_digit = i > 0 && chars[i - 1].1.is_alphanumeric();
        let (kind, next) = if c.is_ascii_digit()
            || (c == '.' && is_digit_at(&chars, i + 1) && !after_letter_or_digit)
        {
            let (digits, next) = read_digits(&chars, i);
            (Kind::Num(digits), next)
        } else if c.is_alphabetic() {
            let next = word_end(&chars, i);
            let end = chars.get(next).map_or(text.len(), |&(b, _)| b);
            (Kind::Word(text[start..end].to_lowercase()), next)
        } else {
            (Kind::Sym(c), i + 1)
        };
        let end = chars.get(next).map_or(text.len(), |&(b, _)| b);
        tokens.push(Token {
            kind,
            start,
            end,
            spaced,
        });
        spaced = false;
        i = next;
    }
    tokens
}

/// The end of the word starting at `i`: letters and digits, and apostrophes
/// between letters ("valdoria's").
fn word_end(chars: &[(usize, char)], i: usize) -> usize {
    let mut j = i + 1;
    while let Some(&(_, c)) = chars.get(j) {
        let inner_apostrophe =
            is_apostrophe(c) && chars.get(j + 1).is_some_and(|&(_, n)| n.is_alphabetic());
        if !(c.is_alphabetic() || c.is_ascii_digit() || inner_apostrophe) {
            break;
        }
        j += 1;
    }
    j
}

/// `mantissa × 10^exp` in thousandths, if it fits in an `i64`.
fn to_milli(mantissa: i128, exp: i32) -> Option<i64> {
    let k = exp.checked_add(3)?;
    let value = if k >= 0 {
        mantissa.checked_mul(10i128.checked_pow(u32::try_from(k).ok()?)?)?
    } else {
        match 10i128.checked_pow(k.unsigned_abs()) {
            Some(divisor) => mantissa / divisor,
            None => 0,
        }
    };
    i64::try_from(value).ok()
}

// ---------------------------------------------------------------------------
// Values: the number itself, in digits or words.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum ValueKind {
    Digits,
    Words,
    Fraction,
}

#[derive(Debug, Clone, Copy)]
struct Value {
    milli: i64,
    /// The power of ten of the scale word read with it, 0 if none.
    scale: i32,
    /// Digits written plainly (no separator, decimal point or scale): the
    /// integer, for telling years and days apart.
    plain: Option<i64>,
    kind: ValueKind,
    leading_zero: bool,
    /// Token index after the value.
    next: usize,
}

/// What reading at a token gave.
enum Step {
    Figure(Box<Figure>, usize),
    Skip(usize),
}

struct Reader<'a> {
    text: &'a str,
    tokens: Vec<Token>,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Reader<'a> {
        Reader {
            text,
            tokens: tokenize(text),
        }
    }

    fn word(&self, i: usize) -> Option<&str> {
        match &self.tokens.get(i)?.kind {
            Kind::Word(w) => Some(w),
            _ => None,
        }
    }

    /// The word before token `i`, if any.
    fn word_before(&self, i: usize) -> Option<&str> {
        i.checked_sub(1).and_then(|j| self.word(j))
    }

    fn sym(&self, i: usize) -> Option<char> {
        match self.tokens.get(i)?.kind {
            Kind::Sym(c) => Some(c),
            _ => None,
        }
    }

    fn digits(&self, i: usize) -> Option<Digits> {
        match self.tokens.get(i)?.kind {
            Kind::Num(d) => Some(d),
            _ => None,
        }
    }

    fn glued(&self, i: usize) -> bool {
        self.tokens.get(i).is_some_and(|t| !t.spaced)
    }

    fn is_word(&self, i: usize, word: &str) -> bool {
        self.word(i) == Some(word)
    }

    fn word_in(&self, i: usize, list: &[&str]) -> bool {
        self.word(i).is_some_and(|w| is_in(list, w))
    }

    fn is_dash(&self, i: usize) -> bool {
        self.sym(i).is_some_and(is_dash)
    }

    /// The text of tokens `from..to`.
    fn span(&self, from: usize, to: usize) -> &str {
        match (
            self.tokens.get(from),
            to.checked_sub(1).and_then(|t| self.tokens.get(t)),
        ) {
            (Some(first), Some(last)) if first.start <= last.end => {
                &self.text[first.start..last.end]
            }
            _ => "",
        }
    }

    /// The value starting at token `i`, if any.
    fn value_at(&self, i: usize, money: bool) -> Option<Value> {
        match &self.tokens.get(i)?.kind {
            Kind::Num(digits) => self.digit_value(i, *digits, money),
            Kind::Word(_) => self.fraction_at(i).or_else(|| self.number_words(i)),
            Kind::Sym(_) => None,
        }
    }

    fn digit_value(&self, i: usize, digits: Digits, money: bool) -> Option<Value> {
        let scale = self.word(i + 1).and_then(|w| {
            let power = lookup(SCALES, w)?;
            let glued_only = is_in(GLUED_SCALES, w);
            let money_only = is_in(MONEY_SCALES, w);
            let allowed = (!glued_only || self.glued(i + 1)) && (!money_only || money);
            allowed.then_some(power)
        });
        let milli = to_milli(
            digits.mantissa,
            digits.exp.saturating_add(scale.unwrap_or(0)),
        )?;
        let plain = (!digits.formatted && scale.is_none())
            .then(|| i64::try_from(digits.mantissa).ok())
            .flatten()
            .filter(|_| digits.exp == 0);
        Some(Value {
            milli,
            scale: scale.unwrap_or(0),
            plain,
            kind: ValueKind::Digits,
            leading_zero: digits.leading_zero,
            next: i + 1 + usize::from(scale.is_some()),
        })
    }

    /// "two-thirds", "a quarter of", "half", "half a million".
    fn fraction_at(&self, i: usize) -> Option<Value> {
        let first = self.word(i)?;
        if first == "half" {
            return self.half_at(i);
        }
        let numerator = match first {
            "a" | "an" | "one" => 1,
            _ => lookup(SMALL_NUMBERS, first).filter(|n| (2..=10).contains(n))?,
        };
        let mut j = i + 1;
        if self.is_dash(j) && self.glued(j) {
            j += 1;
        }
        let denominator = lookup(DENOMINATORS, self.word(j)?)?;
        if numerator >= denominator {
            return None;
        }
        // "a third round", "the first quarter": an ordinal unless "of" follows.
        if matches!(first, "a" | "an" | "one") && denominator != 2 && !self.is_word(j + 1, "of") {
            return None;
        }
        Some(fraction_value(numerator, denominator, j + 1))
    }

    fn half_at(&self, i: usize) -> Option<Value> {
        let ordinal = [
            "first", "second", "last", "latter", "former", "other", "the",
        ];
        if self.word_before(i).is_some_and(|w| ordinal.contains(&w)) {
            return None;
        }
        let scaled = self.word_in(i + 1, &["a", "an"])
            && self
                .word(i + 2)
                .is_some_and(|w| matches!(w, "thousand" | "million" | "billion" | "dozen"));
        if !scaled {
            return Some(fraction_value(1, 2, i + 1));
        }
        let power = match self.word(i + 2) {
            Some("thousand") => 3,
            Some("million") => 6,
            Some("billion") => 9,
            _ => 0,
        };
        let whole: i64 = if power == 0 {
            12_000
        } else {
            10i64.pow(power + 3)
        };
        Some(Value {
            milli: whole / 2,
            scale: 0,
            plain: None,
            kind: ValueKind::Words,
            leading_zero: false,
            next: i + 3,
        })
    }

    /// Number words: "fourteen thousand", "two hundred and fifty",
    /// "twenty-five", "a dozen", "a million". "one" alone is not read.
    fn number_words(&self, i: usize) -> Option<Value> {
        let mut words = WordNumber::default();
        let mut j = i;
        if self.word_in(i, &["a", "an"]) {
            let next = self.word(i + 1)?;
            if (lookup(SCALES, next).is_none() && next != "dozen") || is_in(GLUED_SCALES, next) {
                return None;
            }
            words.current = 1;
            words.last = Last::Small;
            j += 1;
        }
        loop {
            if self.is_dash(j) && self.glued(j) && words.last == Last::Tens {
                if self
                    .word(j + 1)
                    .and_then(|w| lookup(SMALL_NUMBERS, w))
                    .is_some()
                {
                    j += 1;
                    continue;
                }
                break;
            }
            let Some(word) = self.word(j) else { break };
            let joined = word == "and"
                && matches!(words.last, Last::Hundred | Last::Scale)
                && self.word(j + 1).is_some_and(|w| {
                    lookup(SMALL_NUMBERS, w).is_some() || lookup(TENS, w).is_some()
                });
            if joined {
                j += 1;
                continue;
            }
            if !words.push(word) {
                break;
            }
            j += 1;
        }
        let value = words.total.saturating_add(words.current);
        let lone_one = words.scales_used == 0 && value == 1;
        if j == i || words.last == Last::None || lone_one {
            return None;
        }
        let milli = to_milli(value, 0)?;
        Some(Value {
            milli,
            scale: words.last_scale,
            plain: None,
            kind: ValueKind::Words,
            leading_zero: false,
            next: j,
        })
    }

    /// A currency written just before token `i`: its code and the token
    /// where it starts.
    fn currency_before(&self, i: usize) -> Option<(&'static str, usize)> {
        let before = i.checked_sub(1)?;
        if let Some(c) = self.sym(before) {
            let code = currency_symbol(c)?;
            let prefix = self
                .word_before(before)
                .and_then(|w| lookup(DOLLAR_PREFIXES, w))
                .filter(|_| c == '$' && self.glued(before));
            if let Some(prefix) = prefix {
                return Some((prefix, before - 1));
            }
            return Some((code, before));
        }
        let word = self.word(before)?;
        CURRENCY_CODES
            .iter()
            .find(|&&c| c == word)
            .map(|&c| (c, before))
    }

    /// The qualifier written just before token `i`, and where it starts.
    fn qualifier_before(&self, i: usize) -> (Qualifier, usize) {
        let mut best = (Qualifier::Exact, i);
        for &(words, qualifier) in QUALIFIERS {
            let Some(start) = i.checked_sub(words.len()) else {
                continue;
            };
            let matches = words
                .iter()
                .enumerate()
                .all(|(k, w)| self.is_word(start + k, w));
            if matches && start < best.1 {
                best = (qualifier, start);
            }
        }
        best
    }

    fn figure_at(&self, i: usize) -> Step {
        let currency = self.currency_before(i);
        let Some(value) = self.value_at(i, currency.is_some()) else {
            return Step::Skip(i + 1);
        };
        if let Some(next) = self.not_a_figure(i, &value) {
            return Step::Skip(next);
        }
        if let Some((figure, next)) = self.date_at(i, &value) {
            return Step::Figure(Box::new(figure), next);
        }
        let magnitude = self.is_word(i.wrapping_sub(1), "magnitude");
        let value_start = match (currency, magnitude) {
            (Some((_, start)), _) => start,
            (None, true) => i - 1,
            (None, false) => i,
        };
        let (mut qualifier, mut start) = self.qualifier_before(value_start);
        let (mut low, mut high, mut next) = (value.milli, value.milli, value.next);
        let between = self.is_word(start.wrapping_sub(1), "between");
        let change = self.is_word(start.wrapping_sub(1), "from");
        if let Some((end, end_start)) = self.range_end(&value, currency.is_some(), between) {
            if change {
                // "from 300 to 450": only the new value holds now.
                qualifier = self.qualifier_before_value(end_start).0;
                (low, high, next) = (end.milli, end.milli, end.next);
            } else if shared_scale(&value, &end) <= end.milli {
                (low, high, next) = (shared_scale(&value, &end), end.milli, end.next);
            }
        }
        if (between || change) && next != value.next {
            start -= 1;
        }
        let (of, next) = self.part_of(&value, low, next);
        let (unit, next) = self.unit_after(&value, currency.map(|(c, _)| c), magnitude, next);
        let (counted, end) = self.counted(&unit, start, next);
        let (qualifier, end) = self.qualifier_after(qualifier, end);
        let figure = Figure {
            text: truncate_chars(self.span(start, end), MAX_TEXT_CHARS),
            low: Milli(low),
            high: Milli(high),
            of,
            qualifier,
            unit,
            counted,
        };
        Step::Figure(Box::new(figure), end)
    }

    /// Where a value at `i` is no figure (a label, a code, an ordinal, an
    /// age), the token to go on from.
    fn not_a_figure(&self, i: usize, value: &Value) -> Option<usize> {
        let before = self.word_before(i);
        let label = before.is_some_and(|w| is_in(LABELS, w) || w == "aged")
            || (self.sym(i.wrapping_sub(1)) == Some('.') && self.is_word(i.wrapping_sub(2), "no"));
        if value.kind == ValueKind::Digits {
            let plus = self.sym(i.wrapping_sub(1)) == Some('+');
            let chain = self.is_dash(value.next)
                && self.digits(value.next + 1).is_some()
                && self.is_dash(value.next + 2)
                && self.digits(value.next + 3).is_some();
            let code_next = self.is_dash(value.next)
                && self.digits(value.next + 1).is_some_and(|d| d.leading_zero);
            if value.leading_zero || plus || chain || code_next {
                return Some(self.skip_code(value.next));
            }
            let ordinal =
                self.glued(value.next) && self.word_in(value.next, &["st", "nd", "rd", "th"]);
            if ordinal {
                return Some(value.next + 1);
            }
        }
        if label {
            return Some(value.next);
        }
        self.age_end(value.next)
    }

    /// Past a run of digits joined by dashes or spaces (a phone number).
    fn skip_code(&self, mut j: usize) -> usize {
        while self.digits(j).is_some() || (self.is_dash(j) && self.digits(j + 1).is_some()) {
            j += 1;
        }
        j
    }

    /// "34-year-old", "34 years old": the token after the age.
    fn age_end(&self, mut j: usize) -> Option<usize> {
        if self.is_dash(j) {
            j += 1;
        }
        if !self.word_in(j, &["year", "years"]) {
            return None;
        }
        j += 1;
        if self.is_dash(j) {
            j += 1;
        }
        self.is_word(j, "old").then_some(j + 1)
    }

    /// Years, days of a month and clock times.
    fn date_at(&self, i: usize, value: &Value) -> Option<(Figure, usize)> {
        let plain = value.plain?;
        let next = value.next;
        let (start, end) = if self.sym(next) == Some(':')
            && self.glued(next)
            && self.digits(next + 1).is_some()
        {
            (i, self.clock_suffix(next + 2))
        } else if self.word_in(next, CLOCK_WORDS) || self.is_clock_abbreviation(next) {
            (i, self.clock_suffix(next))
        } else if (1..=31).contains(&plain) && self.word_in(next, MONTHS) {
            (i, self.year_after(next + 1))
        } else if (1..=31).contains(&plain)
            && self
                .word(i.wrapping_sub(1))
                .is_some_and(|w| is_in(MONTHS, w))
        {
            (i - 1, self.year_after(next))
        } else if (1800..=2100).contains(&plain) && value.scale == 0 && !self.has_unit_after(next) {
            let decade = self.glued(next) && self.is_word(next, "s");
            (i, next + usize::from(decade))
        } else {
            return None;
        };
        let figure = Figure {
            text: truncate_chars(self.span(start, end), MAX_TEXT_CHARS),
            low: Milli(value.milli),
            high: Milli(value.milli),
            of: None,
            qualifier: Qualifier::Exact,
            unit: Unit::Date,
            counted: Counted {
                phrase: String::new(),
                family: "date".to_owned(),
            },
        };
        Some((figure, end))
    }

    /// "p.m.", "a.m.".
    fn is_clock_abbreviation(&self, j: usize) -> bool {
        self.word_in(j, &["a", "p"])
            && self.sym(j + 1) == Some('.')
            && self.glued(j + 1)
            && self.is_word(j + 2, "m")
    }

    /// Past "30", "pm", "p.m." after a clock time.
    fn clock_suffix(&self, mut j: usize) -> usize {
        if self.digits(j).is_some() {
            j += 1;
        }
        if self.word_in(j, CLOCK_WORDS) {
            j += 1;
        } else if self.is_clock_abbreviation(j) {
            j += 3;
            if self.sym(j) == Some('.') {
                j += 1;
            }
        }
        j
    }

    /// Past an optional ", 2024" after a day and month.
    fn year_after(&self, j: usize) -> usize {
        let comma = usize::from(self.sym(j) == Some(','));
        let year = self
            .digits(j + comma)
            .is_some_and(|d| d.int_digits == 4 && !d.formatted);
        if year { j + comma + 1 } else { j }
    }

    fn has_unit_after(&self, j: usize) -> bool {
        self.sym(j) == Some('%')
            || self.word(j).is_some_and(|w| {
                lookup(SCALES, w).is_some()
                    || w == "percent"
                    || lookup(MEASURES, w).is_some()
                    || lookup(CURRENCY_WORDS, w).is_some()
            })
    }

    /// The high end of a range starting with `value`, and the token after
    /// its connector: "-6,000", "to 6,000", "and 6 thousand" (after
    /// "between").
    fn range_end(&self, value: &Value, money: bool, between: bool) -> Option<(Value, usize)> {
        let j = value.next;
        let connector =
            self.is_dash(j) || self.is_word(j, "to") || (between && self.is_word(j, "and"));
        if !connector || value.kind == ValueKind::Fraction {
            return None;
        }
        let (_, after_qualifier) = self.qualifier_before_value(j + 1);
        let symbol = self
            .sym(after_qualifier)
            .and_then(currency_symbol)
            .is_some();
        let end = self.value_at(after_qualifier + usize::from(money && symbol), money)?;
        if end.kind == ValueKind::Fraction || end.leading_zero {
            return None;
        }
        Some((end, j + 1))
    }

    /// The qualifier written at `j` before a value ("to *more than* 450"),
    /// and the token after it.
    fn qualifier_before_value(&self, j: usize) -> (Qualifier, usize) {
        let mut best = (Qualifier::Exact, j);
        for &(words, qualifier) in QUALIFIERS {
            let matches = words
                .iter()
                .enumerate()
                .all(|(k, w)| self.is_word(j + k, w));
            if matches && j + words.len() > best.1 {
                best = (qualifier, j + words.len());
            }
        }
        best
    }

    /// "of 64" after a count ("37 of 64 settlements"), and the token after.
    fn part_of(&self, value: &Value, low: i64, next: usize) -> (Option<Milli>, usize) {
        if !self.is_word(next, "of") || value.kind == ValueKind::Fraction {
            return (None, next);
        }
        let det = usize::from(self.word_in(next + 1, &["the", "its", "their"]));
        let whole = self
            .digits(next + 1 + det)
            .and(self.value_at(next + 1 + det, false));
        match whole {
            Some(w) if w.milli >= low && w.plain.is_none_or(|p| !(1800..=2100).contains(&p)) => {
                (Some(Milli(w.milli)), w.next)
            }
            _ => (None, next),
        }
    }

    /// The unit written after the value, and the token after it.
    fn unit_after(
        &self,
        value: &Value,
        currency: Option<&str>,
        magnitude: bool,
        j: usize,
    ) -> (Unit, usize) {
        if magnitude {
            return (measure("magnitude"), j);
        }
        if let Some(code) = currency {
            return (money(code), j);
        }
        if self.sym(j) == Some('%') || self.word_in(j, &["percent", "pct"]) {
            return (Unit::Percent, j + 1);
        }
        if self.is_word(j, "per") && self.is_word(j + 1, "cent") {
            return (Unit::Percent, j + 2);
        }
        if self.is_word(j, "percentage") && self.word_in(j + 1, &["point", "points"]) {
            return (measure("percentage-point"), j + 2);
        }
        if let Some((code, next)) = self.currency_after(j) {
            return (money(code), next);
        }
        if let Some((unit, next)) = self.measure_after(value, j) {
            return (measure(unit), next);
        }
        if value.kind == ValueKind::Fraction {
            return (Unit::Fraction, j);
        }
        (Unit::Count, j)
    }

    fn currency_after(&self, j: usize) -> Option<(&'static str, usize)> {
        let us = usize::from(self.is_word(j, "us") && self.word_in(j + 1, &["dollars", "dollar"]));
        let word = self.word(j + us)?;
        if let Some(code) = lookup(CURRENCY_WORDS, word) {
            return Some((code, j + us + 1));
        }
        CURRENCY_CODES
            .iter()
            .find(|&&c| c == word)
            .map(|&c| (c, j + 1))
    }

    fn measure_after(&self, value: &Value, j: usize) -> Option<(&'static str, usize)> {
        let dash = usize::from(self.is_dash(j) && self.glued(j));
        let k = j + dash;
        if self.word_in(k, &["square", "cubic"]) {
            let unit = lookup(MEASURES, self.word(k + 1)?)?;
            let power = if self.is_word(k, "square") { 2 } else { 3 };
            return power_of(unit, power).map(|u| (u, k + 2));
        }
        let word = self.word(k)?;
        let unit = lookup(MEASURES, word)?;
        // A lone "m" is metres only glued to digits ("300m"), never after words.
        if word == "m" && (value.kind != ValueKind::Digits || !self.glued(k)) {
            return None;
        }
        Some((unit, k + 1))
    }

    /// An "or so" / "or more" after the figure, which hedges it.
    fn qualifier_after(&self, qualifier: Qualifier, end: usize) -> (Qualifier, usize) {
        if qualifier != Qualifier::Exact || !self.is_word(end, "or") {
            return (qualifier, end);
        }
        match self.word(end + 1) {
            Some("so") => (Qualifier::About, end + 2),
            Some("more") => (Qualifier::AtLeast, end + 2),
            _ => (qualifier, end),
        }
    }

    // -----------------------------------------------------------------------
    // What is counted.
    // -----------------------------------------------------------------------

    /// What the figure whose text starts at `start` and whose value and unit
    /// end before `after` counts, and the token where its text ends.
    fn counted(&self, unit: &Unit, start: usize, after: usize) -> (Counted, usize) {
        let money = matches!(unit, Unit::Money { .. });
        let (words, end) = self.phrase_after(after, money);
        let end = if words.is_empty() { after } else { end };
        let eventful = matches!(unit, Unit::Count | Unit::Fraction | Unit::Percent);
        let event = phrase_event(&words)
            .or_else(|| self.event_after(end))
            .or_else(|| self.event_before(start))
            .filter(|_| eventful);
        let words = if words.is_empty() && event.is_none() {
            self.phrase_before(start)
        } else {
            words
        };
        let event = event.or_else(|| phrase_event(&words)).filter(|_| eventful);
        let subject = subject(&words, event);
        let phrase = truncate_chars(&words.join(" "), MAX_PHRASE_CHARS);
        let phrase = if phrase.is_empty() {
            event.map(str::to_owned).unwrap_or_default()
        } else {
            phrase
        };
        let family = truncate_bytes(&format!("{}{subject}", unit_prefix(unit)), MAX_FAMILY_BYTES);
        (Counted { phrase, family }, end)
    }

    /// The noun phrase after a value: up to four words, after an optional
    /// "of" and determiner.
    fn phrase_after(&self, mut j: usize, money: bool) -> (Vec<String>, usize) {
        if self.is_word(j, "of") || (money && self.word_in(j, &["in", "for"])) {
            j += 1;
            if self.word_in(j, DETERMINERS) {
                j += 1;
            }
            if self.digits(j).is_some() {
                // "half of the 600 villagers"
                j += 1;
            }
        }
        let mut words: Vec<String> = Vec::new();
        let mut end = j;
        while words.len() < 4 {
            if self.is_dash(j) && self.glued(j) && self.glued(j + 1) && !words.is_empty() {
                let Some(w) = self.word(j + 1).filter(|w| is_phrase_word(w)) else {
                    break;
                };
                if let Some(last) = words.last_mut() {
                    last.push('-');
                    last.push_str(w);
                }
                j += 2;
                end = j;
                continue;
            }
            let Some(word) = self.word(j) else { break };
            let verb = is_verb(word) || (!words.is_empty() && lookup(EVENTS, word).is_some());
            if !is_phrase_word(word) || verb {
                break;
            }
            if !is_in(PHRASE_SKIPS, word) {
                words.push(word.to_owned());
            }
            j += 1;
            end = j;
            // The head noun ends the phrase unless a plural noun follows it
            // ("police officers"); what follows is mostly a verb.
            let plural_next = self.word(j).is_some_and(|w| {
                w.ends_with('s') && is_phrase_word(w) && !is_verb(w) && lookup(EVENTS, w).is_none()
            });
            if lookup(THINGS, word).is_some() && !plural_next {
                break;
            }
        }
        (words, end)
    }

    /// The event said by the verb after a phrase ("were killed", "had been
    /// deployed").
    fn event_after(&self, mut j: usize) -> Option<&'static str> {
        for _ in 0..6 {
            let word = self.word(j)?;
            if let Some(event) = lookup(EVENTS, word) {
                return (word != "lost" || self.lost_lives(j + 1)).then_some(event);
            }
            if !is_in(AUXILIARIES, word) {
                return None;
            }
            j += 1;
        }
        None
    }

    /// Whether "lost" before token `j` is a death: "lost their lives",
    /// "were lost", not "lost power" or "lost their homes".
    fn lost_lives(&self, j: usize) -> bool {
        match self.word(j) {
            None => true,
            Some("their" | "its" | "his" | "her") => self.is_word(j + 1, "lives"),
            Some(w) => w == "lives" || !is_phrase_word(w),
        }
    }

    /// The event said by the verb just before the figure ("sent about
    /// 14,000", "killing at least 40").
    fn event_before(&self, start: usize) -> Option<&'static str> {
        let mut j = start.checked_sub(1)?;
        if self.word_in(j, &["the", "a", "an", "another"]) {
            j = j.checked_sub(1)?;
        }
        lookup(EVENTS, self.word(j)?)
    }

    /// What a figure with no phrase after it is reported for, earlier in
    /// its clause ("the death toll rose to 300"): one content word and the
    /// word before it, if that is one too.
    fn phrase_before(&self, start: usize) -> Vec<String> {
        let mut j = start;
        for _ in 0..6 {
            let Some(k) = j.checked_sub(1) else { break };
            let Some(word) = self.word(k) else { break };
            if is_in(BOUNDARIES, word) || (is_in(PHRASE_STOPS, word) && !is_in(BACK_SKIP, word)) {
                break;
            }
            if is_in(BACK_SKIP, word) || is_in(QUALIFIER_WORDS, word) || is_verb(word) {
                j = k;
                continue;
            }
            let mut words = vec![word.to_owned()];
            if let Some(previous) = self.word_before(k).filter(|w| is_compound_start(w)) {
                words.insert(0, previous.to_owned());
            }
            return words;
        }
        Vec::new()
    }

    // -----------------------------------------------------------------------
    // Wording.
    // -----------------------------------------------------------------------

    fn wording_tokens(&self) -> Vec<String> {
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < self.tokens.len() && tokens.len() < 4 * MAX_WORDING_TOKENS {
            let money = self.currency_before(i).is_some();
            if let Some(value) = self.value_at(i, money) {
                tokens.push(format!("#{}", value.milli));
                i = value.next.max(i + 1);
                continue;
            }
            match &self.tokens[i].kind {
                Kind::Word(word) if !is_in(STOP_WORDS, word) => tokens.push(canonical_word(word)),
                Kind::Sym('%') => tokens.push("percent".to_owned()),
                Kind::Sym(c) => {
                    if let Some(code) = currency_symbol(*c) {
                        tokens.push(code.to_owned());
                    }
                }
                _ => {}
            }
            i += 1;
        }
        tokens
    }
}

/// Qualifier words, never part of a counted phrase nor what a value is
/// reported for.
const QUALIFIER_WORDS: &[&str] = &[
    "more",
    "over",
    "about",
    "around",
    "nearly",
    "almost",
    "least",
    "some",
    "roughly",
    "up",
    "approximately",
    "estimated",
    "fewer",
    "less",
    "under",
    "below",
    "above",
    "upwards",
];

#[derive(Debug, Clone, Copy, Default, PartialEq)]
enum Last {
    #[default]
    None,
    Small,
    Tens,
    Hundred,
    Scale,
}

/// The state of reading number words, one word at a time.
#[derive(Debug, Default)]
struct WordNumber {
    total: i128,
    current: i128,
    last: Last,
    last_scale: i32,
    scales_used: usize,
}

/// Values of number words stop growing here (far beyond any figure).
const MAX_WORD_VALUE: i128 = 1_000_000_000_000_000;

impl WordNumber {
    /// Takes `word` into the number; false if it does not continue it.
    fn push(&mut self, word: &str) -> bool {
        if let Some(n) = lookup(SMALL_NUMBERS, word) {
            let fits = matches!(self.last, Last::None | Last::Hundred | Last::Scale)
                || (self.last == Last::Tens && n < 10);
            if !fits {
                return false;
            }
            self.current += n;
            self.last = Last::Small;
        } else if let Some(n) = lookup(TENS, word) {
            if !matches!(self.last, Last::None | Last::Hundred | Last::Scale) {
                return false;
            }
            self.current += n;
            self.last = Last::Tens;
        } else if word == "hundred" || word == "dozen" {
            if !(1..100).contains(&self.current) || matches!(self.last, Last::Hundred) {
                return false;
            }
            self.current *= if word == "hundred" { 100 } else { 12 };
            self.last = Last::Hundred;
        } else if let Some(power) = lookup(SCALES, word).filter(|&p| p >= 3) {
            let decreasing = self.scales_used == 0 || power < self.last_scale;
            if self.current == 0 || !decreasing || is_in(GLUED_SCALES, word) {
                return false;
            }
            self.total =
                (self.total + self.current * 10i128.pow(power.unsigned_abs())).min(MAX_WORD_VALUE);
            self.current = 0;
            self.last = Last::Scale;
            self.last_scale = power;
            self.scales_used += 1;
        } else {
            return false;
        }
        true
    }
}

fn fraction_value(numerator: i128, denominator: i128, next: usize) -> Value {
    let milli = (numerator * 1000 + denominator / 2) / denominator;
    Value {
        milli: i64::try_from(milli).unwrap_or(0),
        scale: 0,
        plain: None,
        kind: ValueKind::Fraction,
        leading_zero: false,
        next,
    }
}

/// The low end of a range whose high end carries the scale ("between 5 and
/// 6 thousand", "1.2-1.5 million").
fn shared_scale(low: &Value, high: &Value) -> i64 {
    if low.scale != 0 || high.scale == 0 {
        return low.milli;
    }
    let shared = to_milli(i128::from(low.milli), high.scale - 3).unwrap_or(low.milli);
    if shared <= high.milli {
        shared
    } else {
        low.milli
    }
}

fn money(code: &str) -> Unit {
    Unit::Money {
        currency: code.to_owned(),
    }
}

fn measure(unit: &str) -> Unit {
    Unit::Measure {
        unit: unit.to_owned(),
    }
}

/// Square and cubic units ("square kilometres", "cubic metres").
fn power_of(unit: &str, power: u8) -> Option<&'static str> {
    match (unit, power) {
        ("km", 2) => Some("km2"),
        ("m", 2) => Some("m2"),
        ("mile", 2) => Some("sq-mile"),
        ("m", 3) => Some("m3"),
        ("km", 3) => Some("km3"),
        _ => None,
    }
}

fn unit_prefix(unit: &Unit) -> String {
    match unit {
        Unit::Count => String::new(),
        Unit::Percent => "percent:".to_owned(),
        Unit::Fraction => "fraction:".to_owned(),
        Unit::Money { currency } => format!("money:{}:", ascii_key(currency)),
        Unit::Measure { unit } => format!("measure:{}:", ascii_key(unit)),
        Unit::Date => "date:".to_owned(),
    }
}

/// Whether `word` may be part of a counted phrase.
fn is_phrase_word(word: &str) -> bool {
    !is_in(PHRASE_STOPS, word)
        && !is_in(TIME_WORDS, word)
        && !is_in(MONTHS, word)
        && lookup(SMALL_NUMBERS, word).is_none()
        && lookup(TENS, word).is_none()
        && lookup(SCALES, word).is_none()
        && !is_in(QUALIFIER_WORDS, word)
}

/// Whether `word` is a verb to look past for what a value is reported for
/// ("the pipeline *carries* 1.2 million barrels"): a past tense, or a verb
/// of `VERBS`. Events are never looked past.
fn is_verb(word: &str) -> bool {
    lookup(EVENTS, word).is_none() && (word.ends_with("ed") || is_in(VERBS, word))
}

/// Whether `word` may start a two-word subject ("death toll", "army
/// losses").
fn is_compound_start(word: &str) -> bool {
    !is_in(BACK_SKIP, word) && !is_in(BOUNDARIES, word) && !is_in(PHRASE_STOPS, word)
}

fn phrase_event(words: &[String]) -> Option<&'static str> {
    words.iter().find_map(|w| lookup(EVENTS, w))
}

/// The family of what is counted: a known thing with its event, "people"
/// with an event alone, or the head noun.
fn subject(words: &[String], event: Option<&str>) -> String {
    let thing = words.iter().find_map(|w| lookup(THINGS, w));
    let what = match thing {
        Some(thing) => thing.to_owned(),
        None if words.iter().any(|w| lookup(EVENTS, w).is_some()) => "people".to_owned(),
        None => match head_noun(words) {
            Some(head) => head,
            None if event.is_some() => "people".to_owned(),
            None => UNKNOWN.to_owned(),
        },
    };
    match event {
        Some(event) => format!("{what}:{event}"),
        None => what,
    }
}

/// The last word of the phrase that is not a participle, singular, in
/// ASCII letters and digits.
fn head_noun(words: &[String]) -> Option<String> {
    let head = words
        .iter()
        .rev()
        .find(|w| !(w.ends_with("ed") || w.ends_with("ing")) || words.len() == 1)?;
    let key = ascii_key(&stem(head));
    (!key.is_empty()).then_some(key)
}

/// Crude stemming: plural `-ies`, `-es` after a sibilant, `-s`.
fn stem(word: &str) -> String {
    let word = word.trim_end_matches("'s").trim_end_matches("\u{2019}s");
    if word.chars().count() <= 3 {
        return word.to_owned();
    }
    if let Some(base) = word.strip_suffix("ies") {
        return format!("{base}y");
    }
    for sibilant in ["ches", "shes", "sses", "xes"] {
        if word.ends_with(sibilant) {
            return word[..word.len() - 2].to_owned();
        }
    }
    match word.strip_suffix('s') {
        Some(base) if !base.ends_with('s') && !base.ends_with('u') => base.to_owned(),
        _ => word.to_owned(),
    }
}

/// `[a-z0-9-]` only: hyphens kept, every other character dropped.
fn ascii_key(word: &str) -> String {
    word.chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect()
}

/// A word of a wording: one token per family, qualifier or stem.
fn canonical_word(word: &str) -> String {
    if let Some(family) = lookup(THINGS, word).or_else(|| lookup(EVENTS, word)) {
        return family.to_owned();
    }
    if let Some(same) = lookup(WORDING_SYNONYMS, word) {
        return same.to_owned();
    }
    let stemmed = stem(word);
    lookup(THINGS, &stemmed)
        .map(str::to_owned)
        .unwrap_or(stemmed)
}
