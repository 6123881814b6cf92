#![no_main]
//! A device's command report decoded as every command's typed response, losslessly.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdm_commands::fuzzing::report(data));
