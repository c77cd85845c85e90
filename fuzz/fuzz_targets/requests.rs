//! A request of any RPC of claimdesk.v1.ClaimService, through the service's
//! codec and handler: see `claimdesk::grpc::fuzzing`.

#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| claimdesk::fuzzing::requests(input));
