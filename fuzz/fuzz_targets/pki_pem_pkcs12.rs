//! Fuzz target: mdm-pki `fuzzing::pem_and_pkcs12`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mdm_pki::fuzzing::pem_and_pkcs12(data);
});
