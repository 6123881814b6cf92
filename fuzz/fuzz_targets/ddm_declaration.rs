#![no_main]
//! DDM declarations: limits, decode, validate, encode, decode again, server token.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdm_ddm::fuzzing::declaration(data));
