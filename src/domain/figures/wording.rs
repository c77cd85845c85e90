//! The tokens of a wording (see "Duplicates" in the module documentation).

use super::MAX_WORDING_TOKENS;
use super::reader::{Reader, stem};
use super::tokens::Kind;
use super::words::*;

impl Reader<'_> {
    /// The tokens of the statement's wording, in order, with repeats.
    pub(super) fn wording_tokens(&self) -> Vec<String> {
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
