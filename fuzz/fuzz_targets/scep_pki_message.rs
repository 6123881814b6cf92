//! Fuzz target: scep-proto `fuzzing::pki_message`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    scep_proto::fuzzing::pki_message(data);
});
