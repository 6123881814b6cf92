//! Push certificate readers: DER and PEM certificates, PEM keys (legacy encryption too), PKCS#12.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    apns_client::fuzzing::parse_certificate(data);
});
