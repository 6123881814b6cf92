#![no_main]
//! Declarations posted to the example server's admin API.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdm_server::fuzzing::declaration(data));
