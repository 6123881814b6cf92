//! Fuzz target: scep-proto `fuzzing::cert_rep`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    scep_proto::fuzzing::cert_rep(data);
});
