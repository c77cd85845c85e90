//! The bodies of the fuzz targets of `fuzz/` (`cargo fuzz`), each a
//! function of arbitrary bytes that panics when what must hold for them
//! does not. The targets call them; so does `cargo test`, over the seeds
//! and past findings committed in `fuzz/corpus/<target>/` (see
//! [`TARGETS`]). Built for the fuzz crate with the `fuzzing` feature, and
//! for the crate's own tests.
//!
//! - [`requests`]: a request of any RPC of `claimdesk.v1.ClaimService`
//!   through the service's codec and handler
//!   ([`crate::grpc::fuzzing`]).
//! - [`tokens_file`]: the text of a tokens file through
//!   [`TokenSet::parse`].
//! - [`stored_records`]: a stored record through the decoders of claims,
//!   events, request ids and figures of every format
//!   ([`crate::storage::records`]).

use std::path::Path;

use crate::{
    auth::TokenSet,
    storage::records::{
        ClaimRecord, EventRecord, FORMAT, Record as _, RequestRecord, StoredEvent, decode_figure,
        encode_figure,
    },
};

pub use crate::grpc::fuzzing::request as requests;

/// The body of a fuzz target: panics if what must hold for the input does
/// not.
pub type Body = fn(&[u8]);

/// Every target by name (its folder in `fuzz/corpus/` and its file in
/// `fuzz/fuzz_targets/`), with its body.
pub const TARGETS: [(&str, Body); 3] = [
    ("requests", requests),
    ("tokens_file", tokens_file),
    ("stored_records", stored_records),
];

/// The largest tokens file tried, in bytes (larger inputs are cut).
const MAX_TOKENS_FILE_BYTES: usize = 64 * 1024;

/// The text of a tokens file: parsed, or refused with an error. A file
/// that parses gives each user one role, and says the same once written
/// out again as a tokens file.
pub fn tokens_file(input: &[u8]) {
    let input = &input[..input.len().min(MAX_TOKENS_FILE_BYTES)];
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let path = Path::new("tokens.toml");
    let set = match TokenSet::parse(text, path) {
        Ok(set) => set,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let mut written = String::new();
    if set.is_empty() {
        written.push_str("allow_no_tokens = true\n");
    }
    written.push_str("[tokens]\n");
    for (hash, actor) in set.entries() {
        assert_eq!(
            set.role_of(&actor.name),
            Some(actor.role),
            "{} holds tokens of two roles",
            actor.name
        );
        written.push_str(&format!(
            "\"{}\" = {{ user = {}, role = \"{}\" }}\n",
            hash.to_hex(),
            toml::Value::String(actor.name.as_str().to_owned()),
            actor.role.as_str(),
        ));
    }
    let again = TokenSet::parse(&written, path)
        .unwrap_or_else(|e| panic!("the tokens written out do not parse: {e}\n{written}"));
    assert_eq!(again, set, "the tokens written out differ:\n{written}");
}

/// The largest stored record tried, in bytes (larger inputs are cut).
const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Bytes as a stored claim, event (body, and with its chain link), request
/// id record and figure: each decoder gives a value or an error, and a
/// value written again in the current format reads back the same.
pub fn stored_records(input: &[u8]) {
    let input = &input[..input.len().min(MAX_RECORD_BYTES)];
    match ClaimRecord::decode(input) {
        Ok(claim) => {
            let again = ClaimRecord::from(&claim).encode();
            let read = ClaimRecord::decode(&again)
                .unwrap_or_else(|e| panic!("a claim written again does not read: {e}"));
            assert_eq!(read, claim, "a claim written again reads otherwise");
        }
        Err(e) => drop(e.to_string()),
    }
    match EventRecord::decode(input) {
        Ok(event) => {
            let again = EventRecord::from(&event).encode();
            let read = EventRecord::decode(&again)
                .unwrap_or_else(|e| panic!("an event written again does not read: {e}"));
            assert_eq!(read, event, "an event written again reads otherwise");
        }
        Err(e) => drop(e.to_string()),
    }
    match EventRecord::decode_stored(input) {
        Ok(event) => {
            let body = StoredEvent::split(input)
                .expect("a stored event splits")
                .body;
            let read = EventRecord::decode(body).expect("the body of a stored event reads");
            assert_eq!(read, event, "a stored event reads otherwise than its body");
        }
        Err(e) => drop(e.to_string()),
    }
    match RequestRecord::decode(input) {
        Ok(request) => {
            let again = RequestRecord {
                format: FORMAT,
                claim_id: request.claim_id.clone(),
                fingerprint: request.fingerprint.clone(),
                fingerprint_version: request.fingerprint_version,
            };
            let read = RequestRecord::decode(&again.encode())
                .unwrap_or_else(|e| panic!("a request record written again does not read: {e}"));
            assert_eq!(
                (read.claim_id, read.fingerprint, read.fingerprint_version),
                (
                    request.claim_id,
                    request.fingerprint,
                    request.fingerprint_version
                ),
                "a request record written again reads otherwise"
            );
        }
        Err(e) => drop(e.to_string()),
    }
    match decode_figure(input) {
        Ok(figure) => {
            let read = decode_figure(&encode_figure(&figure))
                .unwrap_or_else(|e| panic!("a figure written again does not read: {e}"));
            assert_eq!(read, figure, "a figure written again reads otherwise");
        }
        Err(e) => drop(e.to_string()),
    }
}

#[cfg(test)]
mod tests;
