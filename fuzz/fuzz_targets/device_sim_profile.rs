#![no_main]
//! Enrollment profiles (CMS-signed or plain) as the simulated device reads them.
libfuzzer_sys::fuzz_target!(|data: &[u8]| device_sim::fuzzing::enrollment_profile(data));
