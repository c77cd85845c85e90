//! API tokens: who a bearer token stands for.
//!
//! The tokens file (TOML) maps the SHA-256 of each token, in hex, to a user
//! and a role, one line a token:
//!
//! ```toml
//! [tokens]
//! "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" = { user = "mara", role = "editor" }
//! ```
//!
//! Only hashes are stored, so the file does not give the tokens away, and
//! raw tokens are never logged. [`Tokens`] holds the file's current
//! contents and swaps them on [`Tokens::reload`] (`serve` reloads on
//! SIGHUP); a file that fails to load leaves the tokens in force unchanged.
//!
//! A file that lists no tokens fails to load (at start and on reload): it
//! would refuse every caller, and is more likely a file caught half-written
//! than a wish. A file that means it says so at its top, before `[tokens]`:
//!
//! ```toml
//! allow_no_tokens = true
//! [tokens]
//! ```
//!
//! Over 600 lines only with its unit tests (the code is about 320).

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    path::{Path, PathBuf},
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::domain::{Actor, Role, UserName};

/// The prefix of tokens made by [`new_token`], so that secret scanners and
/// people recognise them.
pub const TOKEN_PREFIX: &str = "cdt_";

/// Random bytes in a token made by [`new_token`].
const TOKEN_BYTES: usize = 32;

/// The SHA-256 of a token, as stored in the tokens file.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    fn parse_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 {
            return None;
        }
        let mut bytes = [0; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            if !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Self(bytes))
    }

    pub fn to_hex(self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({})", self.to_hex())
    }
}

/// A fresh random token (`cdt_` and 43 base64url characters: 256 bits).
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0; TOKEN_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The line of the tokens file's `[tokens]` table that gives `token` to
/// `user` as `role`.
pub fn tokens_file_line(token: &str, user: &UserName, role: Role) -> String {
    format!(
        "\"{}\" = {{ user = {}, role = \"{role}\" }}",
        TokenHash::of(token).to_hex(),
        toml::Value::String(user.as_str().to_owned())
    )
}

/// Why the tokens file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokensFileError {
    #[error("cannot read the tokens file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the tokens file {path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(
        "the tokens file {path} lists no tokens (is it empty or half-written?); with it every \
         call would be refused. To lock every caller out on purpose, put \
         `{ALLOW_NO_TOKENS} = true` at the top of the file, before [tokens]"
    )]
    NoTokens { path: PathBuf },
}

/// The top-level key of the tokens file that lets it list no tokens.
pub const ALLOW_NO_TOKENS: &str = "allow_no_tokens";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    /// Says that a file listing no tokens is meant (every call refused),
    /// not an empty or half-written one.
    #[serde(default)]
    allow_no_tokens: bool,
    #[serde(default)]
    tokens: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    user: String,
    role: String,
}

/// The contents of a tokens file: who each token hash stands for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TokenSet {
    by_hash: HashMap<TokenHash, Actor>,
    /// The role of each user; a user may hold several tokens (to rotate
    /// them), all with one role.
    roles: HashMap<UserName, Role>,
}

impl TokenSet {
    /// Parses the text of a tokens file; `path` only names it in errors.
    /// A file listing no tokens is refused unless it says
    /// `allow_no_tokens = true`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, TokensFileError> {
        let invalid = |message: String| TokensFileError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let file: FileFormat = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        // An editor saving the file, or a script writing it, may leave it
        // empty for a moment: loaded then, it would revoke every token.
        if file.tokens.is_empty() && !file.allow_no_tokens {
            return Err(TokensFileError::NoTokens {
                path: path.to_path_buf(),
            });
        }
        let mut set = Self::default();
        // Users whose names compare equal (`mara`, Cyrillic `mаra`) would look
        // like one person in a claim's history; a file must not make both.
        let mut spellings: HashMap<String, UserName> = HashMap::new();
        for (hex, entry) in file.tokens {
            let hash = TokenHash::parse_hex(&hex.to_ascii_lowercase()).ok_or_else(|| {
                invalid(format!(
                    "key {hex:?} is not the SHA-256 of a token in hex (64 hex digits)"
                ))
            })?;
            let user = UserName::parse(&entry.user)
                .map_err(|e| invalid(format!("token {hex}: user {:?}: {e}", entry.user)))?;
            let role: Role = entry
                .role
                .parse()
                .map_err(|e| invalid(format!("token {hex}: role {:?}: {e}", entry.role)))?;
            if let Some(&other) = set.roles.get(&user)
                && other != role
            {
                return Err(invalid(format!(
                    "user {user} is given two roles ({other} and {role}); a user has one role"
                )));
            }
            if let Some(other) = spellings.insert(user.normalized(), user.clone())
                && other != user
            {
                return Err(invalid(format!(
                    "users {other:?} and {user:?} have names that look alike; give them names \
                     that differ"
                )));
            }
            set.roles.insert(user.clone(), role);
            // Keys that differ only in case name the same hash.
            if set.by_hash.insert(hash, Actor::new(user, role)).is_some() {
                return Err(invalid(format!("the hash {hex} is listed twice")));
            }
        }
        Ok(set)
    }

    /// Reads and parses the tokens file at `path`.
    pub fn load(path: &Path) -> Result<Self, TokensFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokensFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Who `token` stands for, if anyone.
    pub fn actor(&self, token: &str) -> Option<&Actor> {
        self.by_hash.get(&TokenHash::of(token))
    }

    /// The role of `user`, if they hold a token.
    pub fn role_of(&self, user: &UserName) -> Option<Role> {
        self.roles.get(user).copied()
    }

    /// Each token's hash with whom it stands for, in no order.
    pub fn entries(&self) -> impl Iterator<Item = (TokenHash, &Actor)> {
        self.by_hash.iter().map(|(hash, actor)| (*hash, actor))
    }

    /// How many tokens the set holds.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

/// The tokens in force, loaded from a file and reloaded on demand. Clones
/// share them.
#[derive(Debug, Clone)]
pub struct Tokens {
    path: PathBuf,
    current: Arc<RwLock<Arc<TokenSet>>>,
    /// Told of every successful reload.
    reloads: Arc<watch::Sender<()>>,
    /// Reloads so far: succeeded, failed.
    reloaded: Arc<[AtomicU64; 2]>,
}

/// The token a caller presented, to find out later that it was revoked.
#[derive(Debug, Clone)]
pub struct Credential {
    hash: TokenHash,
    actor: Actor,
    tokens: Tokens,
}

impl Credential {
    /// Whether the tokens in force still give this token to the same user
    /// with the same role.
    pub fn is_valid(&self) -> bool {
        self.tokens.current().by_hash.get(&self.hash) == Some(&self.actor)
    }

    /// Resolves once a reload revokes the token (or gives it to someone
    /// else, or another role); never if that does not happen.
    pub async fn revoked(self) {
        let mut reloads = self.tokens.reloads.subscribe();
        while self.is_valid() {
            if reloads.changed().await.is_err() {
                // Nothing can reload the tokens any more.
                std::future::pending::<()>().await;
            }
        }
    }
}

impl Tokens {
    /// Loads the tokens file at `path`; fails if it cannot be used.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, TokensFileError> {
        let path = path.into();
        let set = TokenSet::load(&path)?;
        Ok(Self {
            path,
            current: Arc::new(RwLock::new(Arc::new(set))),
            reloads: Arc::new(watch::channel(()).0),
            reloaded: Arc::default(),
        })
    }

    /// Reloads since the file was first loaded: how many succeeded, how
    /// many failed (the tokens in force then stayed).
    pub fn reloads(&self) -> (u64, u64) {
        let [ok, failed] = &*self.reloaded;
        (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed))
    }

    /// Who `token` stands for now, with the credential that finds out
    /// whether it is revoked later.
    pub fn authenticate(&self, token: &str) -> Option<(Actor, Credential)> {
        let hash = TokenHash::of(token);
        let actor = self.current().by_hash.get(&hash)?.clone();
        let credential = Credential {
            hash,
            actor: actor.clone(),
            tokens: self.clone(),
        };
        Some((actor, credential))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tokens in force now.
    pub fn current(&self) -> Arc<TokenSet> {
        // A poisoned lock still holds a whole set: the swap below cannot
        // panic half-way.
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Reads the file again. On success its tokens replace those in force
    /// (revoked tokens stop working at once) and the new count is returned;
    /// on failure the tokens in force stay.
    pub fn reload(&self) -> Result<usize, TokensFileError> {
        let loaded = TokenSet::load(&self.path);
        self.reloaded[usize::from(loaded.is_err())].fetch_add(1, Ordering::Relaxed);
        let set = loaded?;
        let count = set.len();
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(set);
        self.reloads.send_replace(());
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TokenSet, TokensFileError> {
        TokenSet::parse(text, Path::new("tokens.toml"))
    }

    fn user(name: &str) -> UserName {
        UserName::parse(name).expect("a valid user name")
    }

    #[test]
    fn a_new_token_is_prefixed_random_base64url_of_256_bits() {
        let a = new_token().expect("the OS has randomness");
        let b = new_token().expect("the OS has randomness");
        assert_ne!(a, b);
        let body = a.strip_prefix(TOKEN_PREFIX).expect("prefixed");
        assert_eq!(body.len(), 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(body).expect("base64url").len(), 32);
    }

    #[test]
    fn the_printed_line_makes_a_file_that_knows_the_token() {
        let token = new_token().expect("randomness");
        let line = tokens_file_line(&token, &user("Mara \"M\" Quinn"), Role::Checker);
        assert!(!line.contains(&token), "the raw token is not in {line}");
        let set = parse(&format!("[tokens]\n{line}\n")).expect("the line parses");
        assert_eq!(
            set.actor(&token),
            Some(&Actor::new(user("Mara \"M\" Quinn"), Role::Checker))
        );
        assert_eq!(set.actor("cdt_other"), None);
        assert_eq!(set.role_of(&user("Mara \"M\" Quinn")), Some(Role::Checker));
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn two_users_whose_names_look_alike_are_refused() {
        let line = |n: u8, name: &str| {
            format!(
                "\"{}\" = {{ user = \"{name}\", role = \"editor\" }}\n",
                TokenHash::of(&format!("cdt_{n}")).to_hex()
            )
        };
        let text = format!("[tokens]\n{}{}", line(1, "mara"), line(2, "m\u{430}ra"));
        let Err(TokensFileError::Invalid { message, .. }) = parse(&text) else {
            panic!("lookalike users accepted");
        };
        assert!(message.contains("look alike"), "{message}");
        let rotated = format!("[tokens]\n{}{}", line(1, "mara"), line(2, "mara"));
        assert_eq!(parse(&rotated).expect("two tokens of one user").len(), 2);
    }

    #[test]
    fn the_hash_is_the_sha256_hex_of_the_token() {
        assert_eq!(
            TokenHash::of("test").to_hex(),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
        let set = parse(
            "[tokens]\n\"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08\" = \
             { user = \"ana\", role = \"chief\" }\n",
        )
        .expect("upper-case hex is accepted");
        assert_eq!(set.actor("test").map(|a| a.role), Some(Role::Chief));
    }

    #[test]
    fn a_file_listing_no_tokens_is_refused_naming_the_key_that_allows_it() {
        for text in [
            "",
            "\n",
            "# tokens\n",
            "[tokens]\n",
            "allow_no_tokens = false\n[tokens]\n",
        ] {
            let error = parse(text).expect_err(text);
            assert!(
                matches!(error, TokensFileError::NoTokens { .. }),
                "{text:?}: {error:?}"
            );
            let message = error.to_string();
            assert!(message.contains("lists no tokens"), "{message}");
            assert!(message.contains("allow_no_tokens = true"), "{message}");
            assert!(message.contains("tokens.toml"), "{message}");
        }
    }

    #[test]
    fn a_file_that_allows_no_tokens_may_list_none_or_some() {
        for text in [
            "allow_no_tokens = true\n",
            "allow_no_tokens = true\n[tokens]\n",
        ] {
            assert!(parse(text).expect(text).is_empty(), "{text:?}");
        }
        let line = tokens_file_line("a", &user("ana"), Role::Editor);
        let set = parse(&format!("allow_no_tokens = true\n[tokens]\n{line}\n")).expect("valid");
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn allow_no_tokens_inside_the_tokens_table_is_refused_showing_the_line() {
        let error = parse("[tokens]\nallow_no_tokens = true\n").expect_err("misplaced");
        let message = error.to_string();
        assert!(message.contains("allow_no_tokens = true"), "{message}");
        assert!(message.contains("line 2"), "{message}");
    }

    #[test]
    fn invalid_files_are_refused_with_the_reason() {
        let h = TokenHash::of("x").to_hex();
        for (text, expected) in [
            ("[tokens\n".to_owned(), "tokens.toml"),
            (
                "[tokens]\n\"abc\" = { user = \"ana\", role = \"editor\" }".to_owned(),
                "64 hex digits",
            ),
            (
                format!("[tokens]\n\"{h}\" = {{ user = \"ana\", role = \"admin\" }}"),
                "editor, checker, chief",
            ),
            (
                format!("[tokens]\n\"{h}\" = {{ user = \"system\", role = \"chief\" }}"),
                "reserved",
            ),
            (
                format!("[tokens]\n\"{h}\" = {{ user = \"ana\" }}"),
                "missing field `role`",
            ),
            (
                format!(
                    "[tokens]\n\"{h}\" = {{ user = \"ana\", role = \"chief\", token = \"x\" }}"
                ),
                "unknown field",
            ),
            (
                format!(
                    "[tokens]\n\"{h}\" = {{ user = \"ana\", role = \"chief\" }}\n\"{}\" = \
                     {{ user = \"ana\", role = \"editor\" }}",
                    TokenHash::of("y").to_hex()
                ),
                "two roles",
            ),
            (
                format!(
                    "[tokens]\n\"{h}\" = {{ user = \"ana\", role = \"chief\" }}\n\"{}\" = \
                     {{ user = \"ana\", role = \"chief\" }}",
                    h.to_ascii_uppercase()
                ),
                "listed twice",
            ),
        ] {
            let error = parse(&text).expect_err(&text);
            let message = error.to_string();
            assert!(message.contains(expected), "{text:?}: {message}");
            assert!(message.contains("tokens.toml"), "{message}");
        }
    }

    #[test]
    fn one_user_may_hold_several_tokens_of_one_role() {
        let text = format!(
            "[tokens]\n{}\n{}\n",
            tokens_file_line("old", &user("ana"), Role::Editor),
            tokens_file_line("new", &user("ana"), Role::Editor)
        );
        let set = parse(&text).expect("valid");
        assert_eq!(set.len(), 2);
        assert_eq!(set.actor("old"), set.actor("new"));
    }

    #[test]
    fn reload_swaps_the_tokens_and_keeps_them_when_the_file_is_broken() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("tokens.toml");
        let write = |lines: &[String]| {
            std::fs::write(&path, format!("[tokens]\n{}\n", lines.join("\n"))).expect("written")
        };
        write(&[tokens_file_line("a", &user("ana"), Role::Editor)]);
        let tokens = Tokens::load(&path).expect("loads");
        assert!(tokens.current().actor("a").is_some());

        write(&[tokens_file_line("b", &user("bo"), Role::Chief)]);
        assert_eq!(tokens.reload().expect("reloads"), 1);
        assert!(tokens.current().actor("a").is_none(), "revoked");
        assert!(tokens.current().actor("b").is_some(), "added");

        std::fs::write(&path, "[tokens\n").expect("written");
        assert!(tokens.reload().is_err());
        assert!(tokens.current().actor("b").is_some(), "still in force");

        std::fs::remove_file(&path).expect("removed");
        assert!(matches!(tokens.reload(), Err(TokensFileError::Read { .. })));
        assert!(tokens.current().actor("b").is_some(), "still in force");
        assert_eq!(tokens.reloads(), (1, 2), "one reload loaded, two failed");
    }

    #[test]
    fn reload_keeps_the_tokens_when_the_file_lists_none_unless_it_allows_that() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("tokens.toml");
        let line = tokens_file_line("a", &user("ana"), Role::Editor);
        std::fs::write(&path, format!("[tokens]\n{line}\n")).expect("written");
        let tokens = Tokens::load(&path).expect("loads");
        let reloads = tokens.reloads.subscribe();

        for half_written in [
            "",
            "[tokens]\n",
            "[tokens]\n# the next line is being typed\n",
        ] {
            std::fs::write(&path, half_written).expect("written");
            assert!(
                matches!(tokens.reload(), Err(TokensFileError::NoTokens { .. })),
                "{half_written:?}"
            );
            assert!(tokens.current().actor("a").is_some(), "still in force");
        }
        assert!(
            !reloads.has_changed().expect("alive"),
            "no reload announced"
        );

        std::fs::write(&path, "allow_no_tokens = true\n[tokens]\n").expect("written");
        assert_eq!(tokens.reload().expect("allowed"), 0);
        assert!(tokens.current().actor("a").is_none(), "revoked");
        assert!(
            reloads.has_changed().expect("alive"),
            "the reload is announced"
        );
    }

    #[test]
    fn loading_a_file_that_lists_no_tokens_fails_unless_it_allows_that() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("tokens.toml");
        std::fs::write(&path, "[tokens]\n").expect("written");
        assert!(matches!(
            Tokens::load(&path),
            Err(TokensFileError::NoTokens { .. })
        ));
        std::fs::write(&path, "allow_no_tokens = true\n").expect("written");
        assert!(Tokens::load(&path).expect("allowed").current().is_empty());
    }

    #[tokio::test]
    async fn a_credential_is_revoked_when_a_reload_drops_or_changes_its_token() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("tokens.toml");
        let write = |lines: &[String]| {
            std::fs::write(&path, format!("[tokens]\n{}\n", lines.join("\n"))).expect("written")
        };
        write(&[
            tokens_file_line("a", &user("ana"), Role::Editor),
            tokens_file_line("b", &user("bo"), Role::Checker),
        ]);
        let tokens = Tokens::load(&path).expect("loads");
        let (_, ana) = tokens.authenticate("a").expect("known");
        let (bo_actor, bo) = tokens.authenticate("b").expect("known");
        assert_eq!(bo_actor, Actor::new(user("bo"), Role::Checker));
        assert!(tokens.authenticate("c").is_none());

        // Bo's token now stands for a chief: a changed credential.
        let bo_revoked = tokio::spawn(bo.clone().revoked());
        write(&[
            tokens_file_line("a", &user("ana"), Role::Editor),
            tokens_file_line("b", &user("bo"), Role::Chief),
        ]);
        tokens.reload().expect("reloads");
        tokio::time::timeout(std::time::Duration::from_secs(10), bo_revoked)
            .await
            .expect("resolves once the reload changed it")
            .expect("does not panic");
        assert!(!bo.is_valid());
        assert!(ana.is_valid(), "an unchanged token stays valid");

        std::fs::write(&path, "allow_no_tokens = true\n[tokens]\n").expect("written");
        tokens.reload().expect("reloads");
        assert!(!ana.is_valid());
        tokio::time::timeout(std::time::Duration::from_secs(10), ana.revoked())
            .await
            .expect("an already revoked credential resolves at once");
    }
}
