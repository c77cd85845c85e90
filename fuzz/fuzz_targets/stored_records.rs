//! A stored claim, event, request id record or figure: see
//! `claimdesk::fuzzing::stored_records`.

#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| claimdesk::fuzzing::stored_records(input));
