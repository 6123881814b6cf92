#![no_main]
//! Device-facing request bodies of the example server (check-ins and reports).
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdm_server::fuzzing::device_body(data));
