//! Reading figures from tokens: the value, its qualifier, unit and what it
//! counts. Every step looks at a bounded number of tokens around a value.

use super::tokens::{Digits, Kind, Token, is_dash, to_milli, tokenize};
use super::words::*;
use super::{
    Counted, Figure, MAX_FAMILY_BYTES, MAX_PHRASE_CHARS, MAX_TEXT_CHARS, Milli, Qualifier, Unit,
    truncate_bytes, truncate_chars,
};

#[derive(Debug, Clone, Copy, PartialEq)]
enum ValueKind {
    Digits,
    Words,
    Fraction,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Value {
    pub(super) milli: i64,
    /// The power of ten of the scale word read with it, 0 if none.
    scale: i32,
    /// Digits written plainly (no separator, decimal point or scale): the
    /// integer, for telling years and days apart.
    plain: Option<i64>,
    kind: ValueKind,
    leading_zero: bool,
    /// Token index after the value.
    pub(super) next: usize,
}

/// A value or range as read, before its unit.
struct Extent {
    low: i64,
    high: i64,
    /// The token after the value or range.
    next: usize,
    qualifier: Qualifier,
    /// The token where the figure's text starts.
    start: usize,
}

/// What reading at a token gave.
pub(super) enum Step {
    Figure(Box<Figure>, usize),
    Skip(usize),
}

pub(super) struct Reader<'a> {
    text: &'a str,
    pub(super) tokens: Vec<Token>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(text: &'a str) -> Reader<'a> {
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
    pub(super) fn value_at(&self, i: usize, money: bool) -> Option<Value> {
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
            // "1.2m people" is a count in millions; "300m high" is metres.
            let counted = self
                .word(i + 2)
                .is_some_and(|w| lookup(THINGS, w).is_some());
            let allowed = (!glued_only || self.glued(i + 1)) && (!money_only || money || counted);
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
        if first == "one" && self.is_word(i + 1, "in") {
            return self.one_in(i + 2);
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

    /// "one in five": the fraction whose denominator starts at token `j`.
    fn one_in(&self, j: usize) -> Option<Value> {
        let whole = self.number_words(j).or_else(|| {
            let digits = self.digits(j)?;
            self.digit_value(j, digits, false)
        })?;
        let denominator = i128::from(whole.milli / 1000);
        (denominator >= 2 && whole.milli % 1000 == 0)
            .then(|| fraction_value(1, denominator, whole.next))
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
    pub(super) fn currency_before(&self, i: usize) -> Option<(&'static str, usize)> {
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
        find_in(CURRENCY_CODES, word).map(|code| (code, before))
    }

    /// Whether the words of `phrase` are written from token `start` on.
    fn phrase_at(&self, start: usize, phrase: &str) -> bool {
        phrase
            .split(' ')
            .enumerate()
            .all(|(k, w)| self.is_word(start + k, w))
    }

    /// The qualifier written just before token `i`, and where it starts.
    fn qualifier_before(&self, i: usize) -> (Qualifier, usize) {
        let mut best = (Qualifier::Exact, i);
        for (qualifier, phrase) in qualifier_phrases() {
            let len = phrase.split(' ').count();
            let Some(start) = i.checked_sub(len) else {
                continue;
            };
            if self.phrase_at(start, phrase) && start < best.1 {
                best = (qualifier, start);
            }
        }
        best
    }

    pub(super) fn figure_at(&self, i: usize) -> Step {
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
        let magnitude = self.word_before(i) == Some("magnitude");
        let value_start = match (currency, magnitude) {
            (Some((_, start)), _) => start,
            (None, true) => i - 1,
            (None, false) => i,
        };
        let (qualifier, start) = self.qualifier_before(value_start);
        let extent = self.extent(&value, currency.is_some(), qualifier, start);
        let (of, next) = self.part_of(&value, extent.low, extent.next);
        let (unit, next) = self.unit_after(&value, currency.map(|(c, _)| c), magnitude, next);
        let (counted, end) = self.counted(&unit, extent.start, next);
        let (qualifier, end) = self.qualifier_after(extent.qualifier, end);
        let figure = Figure {
            text: truncate_chars(self.span(extent.start, end), MAX_TEXT_CHARS),
            low: Milli(extent.low),
            high: Milli(extent.high),
            of,
            qualifier,
            unit,
            counted,
        };
        Step::Figure(Box::new(figure), end)
    }

    /// The value or range read from `value` on, its qualifier and the token
    /// where its text starts: "between 5 and 6 thousand" is a range whose
    /// low end takes the scale of the high one; "from 300 to 450" is the
    /// new value alone.
    fn extent(&self, value: &Value, money: bool, qualifier: Qualifier, start: usize) -> Extent {
        let single = Extent {
            low: value.milli,
            high: value.milli,
            next: value.next,
            qualifier,
            start,
        };
        let between = self.word_before(start) == Some("between");
        let change = self.word_before(start) == Some("from");
        let Some((end, end_start)) = self.range_end(value, money, between) else {
            return single;
        };
        let low = if change {
            end.milli
        } else {
            shared_scale(value, &end)
        };
        if low > end.milli {
            return single;
        }
        let qualifier = if change {
            self.qualifier_before_value(end_start).0
        } else {
            qualifier
        };
        let with_word = between || change;
        Extent {
            low,
            high: end.milli,
            next: end.next,
            qualifier,
            start: start - usize::from(with_word),
        }
    }

    /// Where a value at `i` is no figure (a label, a code, an ordinal, an
    /// age), the token to go on from.
    fn not_a_figure(&self, i: usize, value: &Value) -> Option<usize> {
        let sym_before = i.checked_sub(1).and_then(|j| self.sym(j));
        let label = self
            .word_before(i)
            .is_some_and(|w| is_in(LABELS, w) || w == "aged")
            || (sym_before == Some('.') && i >= 2 && self.is_word(i - 2, "no"));
        if value.kind == ValueKind::Digits {
            let plus = sym_before == Some('+');
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
        } else if (1..=31).contains(&plain) && self.word_before(i).is_some_and(|w| is_in(MONTHS, w))
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
        for (qualifier, phrase) in qualifier_phrases() {
            let end = j + phrase.split(' ').count();
            if self.phrase_at(j, phrase) && end > best.1 {
                best = (qualifier, end);
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
        find_in(CURRENCY_CODES, word).map(|code| (code, j + 1))
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
        if self.is_dash(j) && self.glued(j) && self.is_word(j + 1, "strong") {
            // "a 2,000-strong contingent"
            j += 2;
        }
        let mut words: Vec<String> = Vec::new();
        let mut end = j;
        let last = j + MAX_PHRASE_TOKENS;
        while words.len() < 4 && j < last {
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
            // The head noun ends the phrase, unless it is a modifier
            // ("police officers"): what follows is mostly a verb.
            if lookup(THINGS, word).is_some() && !is_in(MODIFIERS, word) {
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
}

/// Tokens a counted phrase may span, hyphens included ("north-korean").
const MAX_PHRASE_TOKENS: usize = 12;

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
pub(super) fn stem(word: &str) -> String {
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
