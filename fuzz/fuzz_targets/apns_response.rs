//! APNs response parsing: status, apns-id header and JSON error body from raw bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = apns_client::fuzzing::parse_response(data);
});
