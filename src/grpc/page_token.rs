//! Page tokens of ListClaims, ListClaimEvents and ListConflicts. Opaque to clients: a
//! version byte, the position, and a digest of the query, so a token cannot
//! be replayed with other filters.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use crate::{
    domain::{ClaimId, LinkId, Slug},
    error::Error,
    fingerprint,
    storage::ClaimFilter,
};

/// Page tokens are opaque to clients: a version byte, the position, and a
/// digest of the query (see [`crate::fingerprint`]), so a token cannot be
/// replayed with other filters. Version 1 tokens digested `Debug` text;
/// they are refused, and the client starts its listing again.
const TOKEN_VERSION: u8 = 2;

fn short_digest(digest: [u8; 32]) -> [u8; 8] {
    digest[..8].try_into().expect("8 of 32 bytes")
}

fn encode_token(position: &[u8], query: [u8; 32]) -> String {
    let mut bytes = vec![TOKEN_VERSION];
    bytes.extend_from_slice(position);
    bytes.extend_from_slice(&short_digest(query));
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_token<const N: usize>(token: &str, query: [u8; 32]) -> Result<Option<[u8; N]>, Error> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || Error::invalid("page_token", "is not a token of this query");
    // Longer than any token: not worth decoding.
    if token.len() > 64 {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    if bytes.first() == Some(&1) {
        return Err(Error::invalid(
            "page_token",
            "was made by an earlier version of the server; start the listing again",
        ));
    }
    if bytes.len() != 1 + N + 8
        || bytes[0] != TOKEN_VERSION
        || bytes[1 + N..] != short_digest(query)
    {
        return Err(invalid());
    }
    Ok(Some(bytes[1..1 + N].try_into().expect("length checked")))
}

fn events_query(id: ClaimId) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"claimdesk.list_claim_events.v2\0")
        .chain_update(id.to_bytes())
        .finalize()
        .into()
}

pub fn claims_page_token(filter: &ClaimFilter, last: ClaimId) -> String {
    encode_token(&last.to_bytes(), fingerprint::claim_filter(filter))
}

pub fn claims_after(filter: &ClaimFilter, token: &str) -> Result<Option<ClaimId>, Error> {
    Ok(decode_token::<16>(token, fingerprint::claim_filter(filter))?.map(ClaimId::from_bytes))
}

fn conflicts_query(story: &Slug) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"claimdesk.list_conflicts.v2\0")
        .chain_update(story.as_str())
        .finalize()
        .into()
}

pub fn conflicts_page_token(story: &Slug, last: LinkId) -> String {
    encode_token(&last.to_be_bytes(), conflicts_query(story))
}

pub fn conflicts_after(story: &Slug, token: &str) -> Result<Option<LinkId>, Error> {
    Ok(decode_token::<8>(token, conflicts_query(story))?.map(u64::from_be_bytes))
}

pub fn events_page_token(id: ClaimId, last_revision: u64) -> String {
    encode_token(&last_revision.to_be_bytes(), events_query(id))
}

pub fn events_after(id: ClaimId, token: &str) -> Result<u64, Error> {
    Ok(decode_token::<8>(token, events_query(id))?.map_or(0, u64::from_be_bytes))
}
