//! Fuzz target: mdm-pki `fuzzing::certificate`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mdm_pki::fuzzing::certificate(data);
});
