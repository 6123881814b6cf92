#![no_main]
//! A command plist as a server sends it: decode, then re-encode losslessly, then JSON.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdm_commands::fuzzing::command(data));
