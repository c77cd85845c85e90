//! Names of parties (sources, user names) compared the way a careful editor
//! would: two spellings that a reader cannot tell apart, or that differ only
//! in case, spacing or punctuation that does not change the name, name the
//! same party.
//!
//! [`key`] computes a name's *comparison key*. The original spelling is kept
//! for display; the key is what every comparison and index uses. The key is
//! made of these steps, in this order:
//!
//! 1. **NFKC** (Unicode compatibility normalisation): fullwidth `Ｒ`,
//!    mathematical `𝐑`, ligatures and the no-break space become `R`, `R`, `fi`
//!    and a space; accents written decomposed (NFD) meet precomposed ones.
//! 2. **Full case folding** (`Straße` is `strasse`, `ΣΊΣΥΦΟΣ` is `σίσυφοσ`).
//! 3. **Invisible characters are dropped**: default-ignorable code points and
//!    format characters (general category Cf) — zero-width space and joiners,
//!    soft hyphen, byte order mark, direction marks, variation selectors,
//!    tag characters.
//! 4. **Words** ([`words`]): the text is split into words at white space,
//!    dashes (the Unicode `Dash` property: hyphen, en and em dash, minus
//!    sign, ...), connector punctuation (`_`) and brackets. Full stops (`.`)
//!    and quotation marks and apostrophes (the `Quotation_Mark` property:
//!    `'`, `’`, `"`, `«`, ...) are removed, joining what was around them
//!    (`U.N.` is `UN`, `O’Brien` is `OBrien`). Consecutive initials, each one
//!    letter and a full stop, are joined (`J. K.` is `JK`, like `J.K.`). Any
//!    other punctuation (`&`, `,`, `:`, `!`, `/`, ...) is kept inside the name
//!    without the spaces around it (`AT & T` is `AT&T`) and dropped at the
//!    name's start and end (`Reuters:` is `Reuters`). Words are joined by one
//!    space.
//! 5. **Confusable skeleton** of Unicode TS #39 (NFD, then each character
//!    replaced by its prototype): Cyrillic `е`, Greek `Ρ`, Latin `ꓣ` ... become
//!    the Latin letters they look like. The skeleton may yield punctuation (a
//!    lookalike of a full stop is a full stop), so step 4 runs again on it.
//! 6. Steps 1 to 5 are **repeated until the text no longer changes**: the
//!    skeleton yields capitals (`0` becomes `O`) and decomposed text that the
//!    next round folds and normalises. Two or three rounds suffice (a test
//!    checks every code point); the key is therefore idempotent:
//!    `key(key(x)) == key(x)`.
//!
//! Limits, by design: the key knows spellings, not parties (`AP` and
//! `Associated Press`, `Kyiv` and `Kiev` differ); the skeleton makes some
//! different names equal (`rn` and `m`, `0` and `O`, `1`, `I` and `l`); the
//! key is for comparing, never for showing.

use icu_casemap::CaseMapper;
use icu_properties::{
    CodePointMapData, CodePointSetData,
    props::{Dash, DefaultIgnorableCodePoint, GeneralCategory, GeneralCategoryGroup},
    props::{QuotationMark, WhiteSpace},
};
use unicode_normalization::UnicodeNormalization;

/// More rounds than any code point needs (see the test over all of them);
/// the bound keeps the work of a hostile input linear.
const MAX_ROUNDS: usize = 4;

/// The comparison key of a party's name (see the module documentation).
/// The key is empty if the name has nothing but invisible characters and
/// punctuation.
pub fn key(name: &str) -> String {
    let mut current = round(name);
    for _ in 1..MAX_ROUNDS {
        let next = round(&current);
        if next == current {
            break;
        }
        current = next;
    }
    current
}

/// The keys by which two names are *the same party* where it matters most,
/// for the independence of evidence: the [`key`], and the key of the name's
/// skeleton taken as displayed, before case folding. Names sharing either
/// key are the same party.
///
/// The second key is needed because case folding, which must come first to
/// compare `ΚΑΘΗΜΕΡΙΝΗ` with `Καθημερινη`, turns some capitals that look
/// like Latin ones into small letters that do not (Greek `Η` looks like `H`,
/// its `η` like `n`; Cyrillic `Н`, `В`, `М`, `Т` and their small forms).
/// No single key can have both: `H`, `Η`, `η` and `n` would all be one.
pub fn keys(name: &str) -> [String; 2] {
    let normalised: String = name.nfkc().collect();
    let displayed: String = unicode_security::skeleton(&normalised).collect();
    [key(name), key(&displayed)]
}

/// Steps 1 to 5 once.
fn round(text: &str) -> String {
    let normalised: String = text.nfkc().collect();
    let folded = CaseMapper::new().fold_string(&normalised);
    let visible: String = folded.chars().filter(|&c| !is_ignorable(c)).collect();
    let worded = words(&visible);
    let skeleton: String = unicode_security::skeleton(&worded).collect();
    words(&skeleton)
}

/// Characters that show nothing and are left out of keys: default-ignorable
/// code points and format characters.
pub fn is_ignorable(c: char) -> bool {
    CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        || CodePointMapData::<GeneralCategory>::new().get(c) == GeneralCategory::Format
}

/// Characters that show nothing: [`is_ignorable`] ones and white space. A
/// name made only of them names nobody.
pub fn is_invisible(c: char) -> bool {
    CodePointSetData::new::<WhiteSpace>().contains(c) || is_ignorable(c)
}

/// Explicit bidirectional formatting: embeddings and overrides (U+202A to
/// U+202E) and isolates (U+2066 to U+2069). They make text show in an order
/// other than the one it is stored in, and an unterminated one changes the
/// display of whatever text follows it where the text is copied to.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The line and paragraph separators (U+2028, U+2029): line breaks that a
/// single-line field must not hold.
pub fn is_line_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

/// Splits words: white space, dashes, connector punctuation, brackets and
/// (defensively: inputs refuse them) control characters.
fn is_separator(c: char) -> bool {
    if c.is_control()
        || CodePointSetData::new::<WhiteSpace>().contains(c)
        || CodePointSetData::new::<Dash>().contains(c)
    {
        return true;
    }
    matches!(
        CodePointMapData::<GeneralCategory>::new().get(c),
        GeneralCategory::ConnectorPunctuation
            | GeneralCategory::OpenPunctuation
            | GeneralCategory::ClosePunctuation
    )
}

/// Removed without a trace: full stops, quotation marks and apostrophes.
fn is_elided(c: char) -> bool {
    c == '.' || CodePointSetData::new::<QuotationMark>().contains(c)
}

fn is_punctuation(c: char) -> bool {
    GeneralCategoryGroup::Punctuation.contains(CodePointMapData::<GeneralCategory>::new().get(c))
}

fn is_mark(c: char) -> bool {
    GeneralCategoryGroup::Mark.contains(CodePointMapData::<GeneralCategory>::new().get(c))
}

/// Step 4: words, full stops, quotation marks and other punctuation.
fn words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous_initial = false;
    for raw in text.split(is_separator) {
        let word: String = raw.chars().filter(|&c| !is_elided(c)).collect();
        if word.is_empty() {
            continue;
        }
        // One letter (with its accents) and a full stop: `J.` in `J. K.`.
        let initial = raw.strip_suffix('.').is_some_and(|stem| {
            let mut chars = stem.chars();
            chars.next().is_some_and(char::is_alphanumeric) && chars.all(is_mark)
        });
        if !out.is_empty() {
            let glued = out.ends_with(is_punctuation)
                || word.starts_with(is_punctuation)
                || (previous_initial && initial);
            if !glued {
                out.push(' ');
            }
        }
        out.push_str(&word);
        previous_initial = initial;
    }
    out.trim_matches(is_punctuation).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two spellings, and whether they name the same party.
    const SPELLINGS: &[(&str, &str, bool)] = &[
        // Case and white space.
        ("Reuters", "reuters", true),
        ("Reuters", "REUTERS", true),
        ("Associated Press", "Associated   Press", true),
        ("Associated Press", " Associated\tPress ", true),
        ("Associated Press", "Associated\u{a0}Press", true),
        ("Associated Press", "Associated\u{3000}Press", true),
        ("Straße Zeitung", "STRASSE ZEITUNG", true),
        // Invisible characters.
        ("Reuters", "Reu\u{200b}ters", true),
        ("Reuters", "Reu\u{200d}ters", true),
        ("Reuters", "Reu\u{200c}ters", true),
        ("Reuters", "Reu\u{ad}ters", true),
        ("Reuters", "\u{feff}Reuters", true),
        ("Reuters", "Reuters\u{200e}", true),
        ("Reuters", "Reu\u{2060}ters", true),
        ("Reuters", "Reuters\u{e0041}", true),
        // Compatibility forms and lookalikes from other scripts.
        ("Reuters", "Ｒｅｕｔｅｒｓ", true),
        ("Reuters", "𝐑𝐞𝐮𝐭𝐞𝐫𝐬", true),
        ("Reuters", "𝔯𝔢𝔲𝔱𝔢𝔯𝔰", true),
        ("Reuters", "R\u{435}uters", true),
        ("Reuters", "Reuter\u{455}", true),
        ("Pravda", "\u{420}ravda", true),
        ("Athens News Agency", "\u{391}thens News \u{391}gency", true),
        ("Pravda", "\u{3a1}ravda", true),
        ("Pravda", "\u{440}ravda", true),
        ("Interfax", "Int\u{435}rf\u{430}x", true),
        ("system", "\u{455}ystem", true),
        ("system", "s\u{443}stem", true),
        // Accents: composed and decomposed; an accent still counts.
        ("Agence Étoile", "Agence E\u{301}toile", true),
        ("Agence Étoile", "AGENCE ÉTOILE", true),
        ("Agence Étoile", "Agence Etoile", false),
        ("Le Monde", "Le Mondé", false),
        // Apostrophes, quotation marks and dashes.
        ("Harbour Workers' Union", "Harbour Workers’ Union", true),
        ("Harbour Workers' Union", "Harbour Workers Union", true),
        ("O'Brien Media", "O\u{2bc}Brien Media", true),
        ("Reuters", "“Reuters”", true),
        ("Reuters", "«Reuters»", true),
        ("Interfax-Ukraine", "Interfax–Ukraine", true),
        ("Interfax-Ukraine", "Interfax\u{2011}Ukraine", true),
        ("Interfax-Ukraine", "Interfax — Ukraine", true),
        ("Interfax-Ukraine", "Interfax Ukraine", true),
        ("Interfax", "Interfax-Ukraine", false),
        // Full stops, initials and other punctuation.
        ("Reuters", "Reuters.", true),
        ("Reuters", "Reuters:", true),
        ("Reuters", "(Reuters)", true),
        ("U.N.", "UN", true),
        ("U.N.", "U. N.", true),
        ("U.N.", "U.N", true),
        ("J. K. Rowling", "J.K. Rowling", true),
        ("St. Petersburg Times", "St Petersburg Times", true),
        ("AT&T", "AT & T", true),
        ("AT&T", "ATT", false),
        ("Reuters UK", "Reuters (UK)", true),
        // Different parties.
        ("Reuters", "Reuter", false),
        ("AP", "AFP", false),
        ("AP", "Associated Press", false),
        ("Kyiv Independent", "Kyiv Post", false),
        ("Kyiv", "Kiev", false),
        ("BBC", "BBC News", false),
        ("Ministry of Defence", "Ministry of Defense", false),
        ("Al Jazeera", "Aljazeera", false),
        ("Україна", "Ukraina", false),
        ("Российская газета", "Rossiyskaya Gazeta", false),
    ];

    #[test]
    fn spellings_of_one_party_share_a_key_and_other_parties_do_not() {
        assert!(SPELLINGS.len() >= 40);
        for &(a, b, same) in SPELLINGS {
            assert_eq!(
                key(a) == key(b),
                same,
                "{a:?} ({:?}) and {b:?} ({:?}) should {}name the same party",
                key(a),
                key(b),
                if same { "" } else { "not " }
            );
        }
    }

    #[test]
    fn capitals_that_look_latin_are_the_same_party_by_the_displayed_key() {
        for (plain, lookalike) in [
            ("Harbour Gazette", "\u{397}arbour Gazette"),
            ("Harbour Gazette", "\u{41d}ARBOUR GAZETTE"),
            ("Kestrel Radio", "\u{41a}estrel Radio"),
            ("Berlin Times", "\u{392}erlin \u{422}imes"),
        ] {
            let [primary, displayed] = keys(lookalike);
            let [plain_primary, plain_displayed] = keys(plain);
            assert_eq!(displayed, plain_displayed, "{lookalike:?}");
            // What the displayed key adds: the primary key alone misses it.
            assert_ne!(primary, plain_primary, "{lookalike:?}");
        }
        // Case still does not matter in other scripts, by the primary key.
        assert_eq!(keys("ΚΑΘΗΜΕΡΙΝΗ")[0], keys("Καθημερινη")[0]);
    }

    #[test]
    fn the_key_of_a_key_is_itself() {
        for &(a, b, _) in SPELLINGS {
            for name in [a, b] {
                let k = key(name);
                assert_eq!(key(&k), k, "{name:?}");
            }
        }
    }

    #[test]
    fn every_assigned_code_point_settles_within_the_rounds() {
        // Unassigned and private-use code points have no mappings at all.
        let assigned = (0..=0x10FFFF).filter_map(char::from_u32).filter(|&c| {
            !matches!(
                CodePointMapData::<GeneralCategory>::new().get(c),
                GeneralCategory::Unassigned | GeneralCategory::PrivateUse
            )
        });
        // Each character between letters (where marks attach to a base and
        // punctuation is kept), many to a text to keep the test quick.
        let texts: Vec<String> = assigned
            .map(|c| format!("a{c}b "))
            .collect::<Vec<_>>()
            .chunks(256)
            .map(|chunk| chunk.concat())
            .collect();
        assert!(texts.len() > 500, "{} texts", texts.len());
        for text in texts {
            let mut current = round(&text);
            for rounds in 1.. {
                let next = round(&current);
                if next == current {
                    break;
                }
                assert!(rounds + 1 < MAX_ROUNDS, "{text:?} needs more rounds");
                current = next;
            }
        }
    }

    #[test]
    fn keys_of_names_made_of_invisible_characters_or_punctuation_are_empty() {
        for name in ["\u{200b}", "\u{feff}\u{200d}", "...", " — ", "“”"] {
            assert_eq!(key(name), "", "{name:?}");
        }
    }
}
