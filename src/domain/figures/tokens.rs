//! Tokens of a statement: words, digits as written, and symbols, with the
//! byte range each came from.

/// Digits as written: `mantissa × 10^exp`, with how they were written.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Digits {
    pub(super) mantissa: i128,
    pub(super) exp: i32,
    /// Written with group separators or a decimal point.
    pub(super) formatted: bool,
    /// More than one digit, the first a zero: a code, not a quantity.
    pub(super) leading_zero: bool,
    pub(super) int_digits: usize,
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
pub(super) enum Kind {
    Word(String),
    Num(Digits),
    Sym(char),
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) kind: Kind,
    /// Byte range in the text.
    pub(super) start: usize,
    pub(super) end: usize,
    /// Whether white space comes before the token ("14 k" versus "14k").
    pub(super) spaced: bool,
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

pub(super) fn is_dash(c: char) -> bool {
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

pub(super) fn tokenize(text: &str) -> Vec<Token> {
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
pub(super) fn to_milli(mantissa: i128, exp: i32) -> Option<i64> {
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
