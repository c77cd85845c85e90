//! The text of a tokens file: see `claimdesk::fuzzing::tokens_file`.

#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| claimdesk::fuzzing::tokens_file(input));
