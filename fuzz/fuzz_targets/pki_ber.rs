//! Fuzz target: mdm-pki `fuzzing::ber`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mdm_pki::fuzzing::ber(data);
});
