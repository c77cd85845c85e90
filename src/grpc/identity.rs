//! Who is calling: the one place that decides it. [`super::policy`] asks
//! [`Authentication::authenticate`] before any handler runs and hands the
//! [`Actor`] to the handler in the request's extensions, where [`caller`]
//! finds it.

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
};

use http::HeaderMap;
use tonic::Request;

use crate::{
    auth::{Credential, Tokens},
    domain::{Actor, Invalid, Role, UserName},
    error::Error,
};

/// Request metadata naming the caller in open mode.
pub const USER_HEADER: &str = "x-claimdesk-user";
/// The caller's name in open mode when the metadata is absent.
pub const ANONYMOUS: &str = "anonymous";
/// The longest bearer token accepted (generated ones have 47 characters).
pub const MAX_TOKEN_CHARS: usize = 512;

/// How callers are known.
#[derive(Debug, Clone)]
pub enum Authentication {
    /// For local use: callers name themselves in `x-claimdesk-user` and act
    /// as chiefs.
    Open,
    /// Callers present a bearer token from the tokens file, which names
    /// them and their role; `x-claimdesk-user` is ignored.
    Tokens(Tokens),
}

/// Why a caller could not be authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unauthenticated {
    #[error("this server needs `authorization: Bearer <token>` metadata")]
    Missing,
    #[error(
        "the `authorization` metadata must be `Bearer <token>`, the token made of letters, \
         digits and -._~+/ (at most {MAX_TOKEN_CHARS} characters)"
    )]
    Malformed,
    #[error("the token is not known to this server (revoked, or never issued)")]
    Unknown,
}

impl Unauthenticated {
    /// Every reason, in the order of their discriminants.
    pub const ALL: [Unauthenticated; 3] = [
        Unauthenticated::Missing,
        Unauthenticated::Malformed,
        Unauthenticated::Unknown,
    ];

    /// The `ErrorInfo` reason.
    pub fn reason(self) -> &'static str {
        match self {
            Unauthenticated::Missing => "TOKEN_MISSING",
            Unauthenticated::Malformed => "TOKEN_MALFORMED",
            Unauthenticated::Unknown => "TOKEN_UNKNOWN",
        }
    }
}

/// Why a call carries no usable identity.
#[derive(Debug)]
pub enum Refused {
    Unauthenticated(Unauthenticated),
    /// Open mode: `x-claimdesk-user` is not a valid name.
    Invalid(Error),
}

impl Authentication {
    /// The caller of a request with `headers`, and with tokens the
    /// credential that tells when their token is revoked.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
    ) -> Result<(Actor, Option<Credential>), Refused> {
        match self {
            Authentication::Open => open_caller(headers)
                .map(|actor| (actor, None))
                .map_err(Refused::Invalid),
            Authentication::Tokens(tokens) => {
                let token = bearer_token(headers).map_err(Refused::Unauthenticated)?;
                tokens
                    .authenticate(token)
                    .map(|(actor, credential)| (actor, Some(credential)))
                    .ok_or(Refused::Unauthenticated(Unauthenticated::Unknown))
            }
        }
    }

    /// Whether `user` may be given claims to review: with tokens, only a
    /// user holding a checker's or a chief's token; in open mode, anyone.
    pub fn check_reviewer(&self, user: &UserName) -> Result<(), Invalid> {
        let Authentication::Tokens(tokens) = self else {
            return Ok(());
        };
        match tokens.current().role_of(user) {
            Some(role) if role.includes(Role::Checker) => Ok(()),
            Some(role) => Err(Invalid(format!(
                "{user} is an {role}; only a checker or a chief reviews claims"
            ))),
            None => Err(Invalid(format!("{user} holds no token of this server"))),
        }
    }
}

/// The token of `authorization: Bearer <token>` (RFC 6750 `b64token`).
fn bearer_token(headers: &HeaderMap) -> Result<&str, Unauthenticated> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let value = values.next().ok_or(Unauthenticated::Missing)?;
    if values.next().is_some() {
        return Err(Unauthenticated::Malformed);
    }
    let value = value.to_str().map_err(|_| Unauthenticated::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(Unauthenticated::Malformed)?;
    let token = token.trim_start_matches(' ');
    let body = token.trim_end_matches('=');
    let well_formed = scheme.eq_ignore_ascii_case("bearer")
        && !body.is_empty()
        && token.len() <= MAX_TOKEN_CHARS
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if well_formed {
        Ok(token)
    } else {
        Err(Unauthenticated::Malformed)
    }
}

/// Names of open-mode callers parsed lately: a caller sends the same name
/// with every call, and checking a name (its comparison keys) costs more
/// than the rest of a small call. Emptied when full.
static OPEN_USERS: LazyLock<Mutex<HashMap<String, UserName>>> = LazyLock::new(Mutex::default);

/// How many names [`OPEN_USERS`] holds at most.
const OPEN_USERS_KEPT: usize = 1024;

/// Open mode: the `x-claimdesk-user` metadata, or `anonymous` without it.
fn open_caller(headers: &HeaderMap) -> Result<Actor, Error> {
    let raw = match headers.get(USER_HEADER) {
        None => ANONYMOUS,
        Some(value) => value
            .to_str()
            .map_err(|_| Error::invalid(USER_HEADER, "must be printable ASCII"))?,
    };
    let known = || OPEN_USERS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(name) = known().get(raw) {
        return Ok(Actor::new(name.clone(), Role::Chief));
    }
    let name = UserName::parse(raw).map_err(|Invalid(d)| Error::invalid(USER_HEADER, d))?;
    let mut kept = known();
    if kept.len() >= OPEN_USERS_KEPT {
        kept.clear();
    }
    kept.insert(raw.to_owned(), name.clone());
    Ok(Actor::new(name, Role::Chief))
}

/// Resolves when the token of `request`'s caller is revoked: never in
/// open mode.
pub fn revoked<T>(request: &Request<T>) -> impl Future<Output = Error> + Send + 'static {
    let credential = request.extensions().get::<Credential>().cloned();
    async move {
        match credential {
            Some(credential) => credential.revoked().await,
            None => std::future::pending().await,
        }
        Error::CredentialRevoked
    }
}

/// The caller of `request`, as authenticated before the handler ran.
pub fn caller<T>(request: &Request<T>) -> Result<Actor, Error> {
    request
        .extensions()
        .get::<Actor>()
        .cloned()
        .ok_or_else(|| Error::Internal("a call reached its handler unauthenticated".to_owned()))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(authorization: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in authorization {
            headers.append(
                http::header::AUTHORIZATION,
                HeaderValue::from_bytes(value).expect("a header value"),
            );
        }
        headers
    }

    #[test]
    fn a_bearer_token_is_read_from_the_authorization_metadata() {
        for (value, token) in [
            (&b"Bearer cdt_abc"[..], "cdt_abc"),
            (b"bearer cdt_abc", "cdt_abc"),
            (b"BEARER  a.b-c~d+e/f==", "a.b-c~d+e/f=="),
        ] {
            assert_eq!(bearer_token(&headers(&[value])), Ok(token));
        }
    }

    #[test]
    fn missing_and_malformed_authorization_is_told_apart() {
        assert_eq!(bearer_token(&headers(&[])), Err(Unauthenticated::Missing));
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_CHARS + 1));
        for value in [
            &b"cdt_abc"[..],
            b"Basic dXNlcjpwYXNz",
            b"Bearer",
            b"Bearer ",
            b"Bearer ===",
            b"Bearer a b",
            b"Bearer a=b",
            b"Bearer caf\xc3\xa9",
            long.as_bytes(),
        ] {
            assert_eq!(
                bearer_token(&headers(&[value])),
                Err(Unauthenticated::Malformed),
                "{}",
                String::from_utf8_lossy(value)
            );
        }
        assert_eq!(
            bearer_token(&headers(&[b"Bearer a", b"Bearer b"])),
            Err(Unauthenticated::Malformed),
            "two tokens"
        );
    }

    #[test]
    fn open_mode_names_the_caller_from_metadata_as_a_chief() {
        let mut h = HeaderMap::new();
        let actor = open_caller(&h).expect("anonymous");
        assert_eq!(actor.name.as_str(), ANONYMOUS);
        assert_eq!(actor.role, Role::Chief);
        h.insert(USER_HEADER, HeaderValue::from_static("mara"));
        assert_eq!(open_caller(&h).expect("named").name.as_str(), "mara");
        h.insert(USER_HEADER, HeaderValue::from_static("system"));
        assert!(open_caller(&h).is_err(), "the reserved name is refused");
    }
}
