//! Check-in bodies: decoding never panics, and what decodes re-encodes losslessly.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mdm_checkin::fuzzing::decode(data);
});
