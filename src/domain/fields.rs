//! Validated inputs: each type can only be made by `parse`, so holding one is
//! proof that the value is acceptable ("parse, don't validate").

use std::{fmt, sync::LazyLock};

use super::names;

/// Why an input was refused, in words fit for a client's error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(message: impl Into<String>) -> Invalid {
    Invalid(message.into())
}

/// Trims `raw` and checks its length in characters and that it is one line
/// of plain text: no control characters (which would corrupt logs, labels
/// and copy), no line or paragraph separators, no bidirectional formatting
/// (see [`names::is_bidi_control`]).
fn text(raw: &str, min: usize, max: usize) -> Result<String, Invalid> {
    let trimmed = raw.trim();
    let chars = trimmed.chars().count();
    if chars < min {
        return Err(if min == 1 {
            invalid("must not be empty")
        } else {
            invalid(format!("must have at least {min} characters"))
        });
    }
    if chars > max {
        return Err(invalid(format!(
            "must have at most {max} characters, has {chars}"
        )));
    }
    for c in trimmed.chars() {
        if c.is_control() {
            return Err(invalid("must not contain control characters"));
        }
        if names::is_line_separator(c) {
            return Err(invalid(format!(
                "must be one line: must not contain U+{:04X} (a line or paragraph separator)",
                u32::from(c)
            )));
        }
        if names::is_bidi_control(c) {
            return Err(bidi_control(c));
        }
    }
    Ok(trimmed.to_owned())
}

fn bidi_control(c: char) -> Invalid {
    invalid(format!(
        "must not contain U+{:04X} (a bidirectional embedding, override or isolate)",
        u32::from(c)
    ))
}

/// [`text`] that names a party (a source or a user): it must show something
/// (not only invisible characters) and have a comparison key (not only
/// punctuation), or it would name nobody and equal every other such name.
fn party(raw: &str, max: usize) -> Result<String, Invalid> {
    let name = text(raw, 1, max)?;
    if name.chars().all(names::is_invisible) {
        return Err(invalid(
            "must contain a visible character, not only white space, zero-width or format characters",
        ));
    }
    if names::key(&name).is_empty() {
        return Err(invalid(
            "must contain a letter, digit or symbol, not only punctuation",
        ));
    }
    Ok(name)
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Rebuilds a value that was validated before it was stored.
            /// Loading must not re-apply today's rules to yesterday's data.
            pub(crate) fn from_stored(value: String) -> Self {
                Self(value)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype!(
    /// The claim as one sentence: 1 to 2,000 characters after trimming, one
    /// line of plain text (no control characters, line separators or
    /// bidirectional formatting).
    Statement
);
string_newtype!(
    /// A story slug or a tag: 1 to 64 characters of `a-z`, `0-9` and `-`.
    Slug
);
string_newtype!(
    /// Who says something ("Reuters", "Ukrainian officials"): 1 to 200
    /// characters after trimming, one line, with at least one visible
    /// character that is not punctuation. Kept as written, for display;
    /// compared by [`SourceName::normalized`].
    SourceName
);
string_newtype!(
    /// An absolute `http` or `https` URL of at most 2,048 characters.
    WebUrl
);
string_newtype!(
    /// A free-text note, reason or summary: at most 4,000 characters. It may
    /// hold line breaks and tabs, but no other control characters and no
    /// bidirectional formatting.
    Note
);
string_newtype!(
    /// The name of a person or of the system acting on a claim: 1 to 128
    /// characters after trimming, under the same rules as a [`SourceName`].
    /// User names are account identifiers (the tokens file gives them) and
    /// compare exactly; [`UserName::normalized`] only keeps lookalikes out.
    UserName
);

impl Statement {
    pub const MAX_CHARS: usize = 2_000;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        text(raw, 1, Self::MAX_CHARS).map(Self)
    }
}

impl Slug {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if raw.len() > Self::MAX_CHARS {
            return Err(invalid(format!(
                "must have at most {} characters",
                Self::MAX_CHARS
            )));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid("may only contain a-z, 0-9 and '-'"));
        }
        Ok(Self(raw.to_owned()))
    }
}

impl SourceName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        party(raw, Self::MAX_CHARS).map(Self)
    }

    /// The comparison key used to compare sources and to index them (see
    /// [`names::key`]): case, white space, invisible characters, punctuation
    /// that does not change the name and lookalike letters of other scripts
    /// do not matter ("R\u{435}u\u{200B}ters." is "Reuters").
    pub fn normalized(&self) -> String {
        names::key(&self.0)
    }

    /// The keys that decide whether two sources are the same party for the
    /// independence of evidence (see [`names::keys`]): the comparison key,
    /// and the key of the spelling as displayed, which also catches
    /// capitals of other scripts that look Latin (Greek `Η`, Cyrillic `Н`).
    pub fn party_keys(&self) -> [String; 2] {
        names::keys(&self.0)
    }
}

impl WebUrl {
    pub const MAX_CHARS: usize = 2_048;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        if trimmed.len() > Self::MAX_CHARS {
            return Err(invalid(format!(
                "must have at most {} characters",
                Self::MAX_CHARS
            )));
        }
        let url = url::Url::parse(trimmed).map_err(|e| invalid(format!("is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
            return Err(invalid("must be an http or https URL"));
        }
        Ok(Self(url.into()))
    }

    /// An empty input means "no URL".
    pub fn parse_optional(raw: &str) -> Result<Option<Self>, Invalid> {
        if raw.trim().is_empty() {
            Ok(None)
        } else {
            Self::parse(raw).map(Some)
        }
    }
}

impl Note {
    pub const MAX_CHARS: usize = 4_000;

    /// Trims; may be empty. Line breaks are allowed in notes.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        let chars = trimmed.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(invalid(format!(
                "must have at most {} characters, has {chars}",
                Self::MAX_CHARS
            )));
        }
        for c in trimmed.chars() {
            if c.is_control() && c != '\n' && c != '\t' {
                return Err(invalid(
                    "must not contain control characters other than line breaks and tabs",
                ));
            }
            if names::is_bidi_control(c) {
                return Err(bidi_control(c));
            }
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// Like [`Note::parse`], but an empty text is refused.
    pub fn parse_required(raw: &str) -> Result<Self, Invalid> {
        let note = Self::parse(raw)?;
        if note.0.is_empty() {
            return Err(invalid("must not be empty"));
        }
        Ok(note)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl UserName {
    pub const MAX_CHARS: usize = 128;

    /// The actor of changes the service makes by itself.
    pub const SYSTEM: &'static str = "system";

    /// Parses the name of a person; the reserved name `system` is refused in
    /// every spelling that compares equal to it (`SYSTEM`, Cyrillic `ѕystem`,
    /// `sys\u{200B}tem`) so that nobody can pass as the service in the
    /// history.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        static SYSTEM_KEYS: LazyLock<[String; 2]> = LazyLock::new(|| names::keys(UserName::SYSTEM));
        let name = party(raw, Self::MAX_CHARS)?;
        if names::keys(&name)
            .iter()
            .zip(SYSTEM_KEYS.iter())
            .any(|(a, b)| a == b)
        {
            return Err(invalid("'system' is reserved, in every spelling"));
        }
        Ok(Self(name))
    }

    /// The comparison key of the name (see [`names::key`]): two users whose
    /// names have one key would look the same in a claim's history.
    pub fn normalized(&self) -> String {
        names::key(&self.0)
    }

    pub fn system() -> Self {
        Self(Self::SYSTEM.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_trimmed() {
        assert_eq!(
            Statement::parse("  About 14,000 troops.  ")
                .unwrap()
                .as_str(),
            "About 14,000 troops."
        );
    }

    #[test]
    fn blank_statements_are_rejected() {
        assert!(Statement::parse(" \t ").is_err());
    }

    #[test]
    fn statement_length_counts_characters_not_bytes() {
        assert!(Statement::parse(&"é".repeat(2_000)).is_ok());
        assert!(Statement::parse(&"é".repeat(2_001)).is_err());
    }

    #[test]
    fn statements_with_control_characters_are_rejected() {
        assert!(Statement::parse("one\u{0}two").is_err());
        assert!(Statement::parse("one\ntwo").is_err());
    }

    #[test]
    fn slugs_allow_only_lowercase_digits_and_dashes() {
        assert!(Slug::parse("kursk-demining-2026").is_ok());
        assert!(Slug::parse("Kursk").is_err());
        assert!(Slug::parse("kursk region").is_err());
        assert!(Slug::parse("").is_err());
        assert!(Slug::parse(&"a".repeat(64)).is_ok());
        assert!(Slug::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn sources_compare_without_case_or_extra_spaces() {
        let a = SourceName::parse("Russian  Defense Ministry").unwrap();
        let b = SourceName::parse("russian defense ministry").unwrap();
        assert_eq!(a.normalized(), b.normalized());
    }

    #[test]
    fn urls_must_be_http_or_https() {
        assert!(WebUrl::parse("https://example.org/story").is_ok());
        assert!(WebUrl::parse("ftp://example.org/file").is_err());
        assert!(WebUrl::parse("javascript:alert(1)").is_err());
        assert!(WebUrl::parse("not a url").is_err());
        assert_eq!(WebUrl::parse_optional("  ").unwrap(), None);
    }

    #[test]
    fn notes_may_be_empty_unless_required() {
        assert!(Note::parse("").unwrap().is_empty());
        assert!(Note::parse_required(" ").is_err());
        assert!(Note::parse("line one\nline two").is_ok());
        assert!(Note::parse(&"x".repeat(4_001)).is_err());
    }

    #[test]
    fn nobody_may_pass_as_the_system() {
        assert!(UserName::parse("System").is_err());
        assert_eq!(UserName::parse(" ana ").unwrap().as_str(), "ana");
    }

    #[test]
    fn lookalikes_of_the_system_are_refused_as_user_names() {
        for spelling in [
            "\u{455}ystem",
            "s\u{443}stem",
            "sys\u{200b}tem",
            "\u{feff}system",
            "ｓｙｓｔｅｍ",
            "SYSTEM.",
        ] {
            let refused = UserName::parse(spelling).expect_err(spelling);
            assert!(refused.0.contains("reserved"), "{spelling:?}: {refused}");
        }
        assert!(UserName::parse("systems").is_ok());
    }

    #[test]
    fn names_made_only_of_invisible_characters_are_refused() {
        for raw in [
            "\u{200b}",
            " \u{200b}\u{200d} ",
            "\u{feff}",
            "\u{ad}\u{2060}",
            "\u{3164}",
        ] {
            for refused in [
                SourceName::parse(raw).expect_err(raw),
                UserName::parse(raw).expect_err(raw),
            ] {
                assert!(refused.0.contains("visible"), "{raw:?}: {refused}");
            }
        }
    }

    #[test]
    fn names_made_only_of_punctuation_are_refused() {
        for raw in ["...", "—", "“”", "(-)"] {
            assert!(SourceName::parse(raw).is_err(), "{raw:?}");
            assert!(UserName::parse(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn bidirectional_overrides_embeddings_and_isolates_are_refused_in_every_text() {
        for c in ('\u{202a}'..='\u{202e}').chain('\u{2066}'..='\u{2069}') {
            let raw = format!("Reu{c}ters");
            let code = format!("U+{:04X}", u32::from(c));
            for refused in [
                SourceName::parse(&raw).expect_err(&code),
                UserName::parse(&raw).expect_err(&code),
                Statement::parse(&raw).expect_err(&code),
                Note::parse(&raw).expect_err(&code),
            ] {
                assert!(refused.0.contains(&code), "{refused}");
            }
        }
    }

    #[test]
    fn direction_marks_are_allowed_and_do_not_change_a_name() {
        let marked = SourceName::parse("\u{200f}Reuters\u{200e}").unwrap();
        assert_eq!(
            marked.normalized(),
            SourceName::parse("Reuters").unwrap().normalized()
        );
    }

    #[test]
    fn line_separators_are_refused_in_single_line_fields_only() {
        for raw in ["Reuters\u{2028}UK", "Reuters\u{2029}UK"] {
            assert!(SourceName::parse(raw).is_err(), "{raw:?}");
            assert!(UserName::parse(raw).is_err(), "{raw:?}");
            assert!(Statement::parse(raw).is_err(), "{raw:?}");
            assert!(Note::parse(raw).is_ok(), "{raw:?}");
        }
    }

    #[test]
    fn validation_of_a_long_name_stops_at_the_length() {
        let long = "\u{200b}".repeat(1_000_000);
        let refused = SourceName::parse(&long).expect_err("too long");
        assert!(refused.0.contains("at most 200"), "{refused}");
    }
}
