#![no_main]
//! DDM status reports: limits, decode into typed items, encode, apply to a status model.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdm_ddm::fuzzing::status_report(data));
