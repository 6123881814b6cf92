#![no_main]
//! DEP response decoding: every endpoint's body, error bodies, token text, bypass codes.
libfuzzer_sys::fuzz_target!(|data: &[u8]| dep_client::fuzzing::decode_responses(data));
