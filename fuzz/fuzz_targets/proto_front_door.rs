#![no_main]
//! The plist front door: limits, then decode, then encode.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdm_proto::fuzzing::front_door(data));
