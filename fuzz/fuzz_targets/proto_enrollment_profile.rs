#![no_main]
//! Enrollment profiles as a device reads them (`EnrollmentProfile::from_profile`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdm_proto::fuzzing::enrollment_profile(data));
