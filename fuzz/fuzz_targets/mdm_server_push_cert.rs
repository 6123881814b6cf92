#![no_main]
//! Push certificates uploaded to the example server.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdm_server::fuzzing::push_cert(data));
