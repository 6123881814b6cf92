#![no_main]
//! The one-pass XML plist reader against the pre-scan plus the plist crate's reader: the
//! same value or the same error for every input.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdm_proto::fuzzing::xml_reader_agrees(data));
