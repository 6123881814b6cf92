//! Fuzz target: scep-proto `fuzzing::ber`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    scep_proto::fuzzing::ber(data);
});
