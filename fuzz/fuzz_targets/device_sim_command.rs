#![no_main]
//! Command plists as the simulated device answers them.
libfuzzer_sys::fuzz_target!(|data: &[u8]| device_sim::fuzzing::command(data));
