#![no_main]
//! Any bytes as a configuration profile: decode (plist or CMS-signed), encode back
//! losslessly, lint against no target and a set of targets, write the findings.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdm_profiles::fuzzing::profile_decode_lint(data));
