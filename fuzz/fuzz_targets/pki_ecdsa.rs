//! Fuzz target: mdm-pki `fuzzing::ecdsa`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mdm_pki::fuzzing::ecdsa(data);
});
