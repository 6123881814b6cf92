#![no_main]
//! Device bodies as an MDM server's two URLs read them: check-ins, command reports, garbage.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdm_checkin::fuzzing::device_body(data));
