#![no_main]
//! Command reports: decode, and re-encode losslessly.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdm_proto::fuzzing::report(data));
