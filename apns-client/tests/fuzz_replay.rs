//! Replays the fuzzing entry points over seeds and simple mutations.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use apns_client::fuzzing;

const SEEDS: &[&[u8]] = &[
    br#"{"reason":"Unregistered","timestamp":1700000000000}"#,
    br#"{"reason":"BadDeviceToken"}"#,
    br#"{"reason":"SomethingNew","x":[1,{"y":null}]}"#,
    br#"{"reason":"Unregistered","timestamp":-5}"#,
    br#"{"reason":"TooManyRequests","timestamp":1e99}"#,
    b"",
    b"{",
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
];

fn statuses() -> impl Iterator<Item = [u8; 2]> {
    [200u16, 400, 403, 404, 405, 410, 413, 429, 500, 503, 599]
        .into_iter()
        .map(|s| (s - 100).to_be_bytes())
}

#[test]
fn replay_response_seeds_and_mutations() {
    for seed in SEEDS {
        for status in statuses() {
            for id in [
                &b""[..],
                b"EC1BF194-B3B2-424A-89A9-5A918A6E6B5C",
                b"\xff\x00",
            ] {
                let mut input = status.to_vec();
                input.push(id.len() as u8);
                input.extend_from_slice(id);
                input.extend_from_slice(seed);
                fuzzing::parse_response(&input);
                // Mutations: every prefix, and each byte flipped.
                for cut in 0..input.len() {
                    fuzzing::parse_response(&input[..cut]);
                }
                for i in 0..input.len() {
                    let mut m = input.clone();
                    m[i] ^= 0x5a;
                    fuzzing::parse_response(&m);
                }
            }
        }
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut input = vec![1, 54, 0];
    input.extend_from_slice(deep.as_bytes());
    fuzzing::parse_response(&input);
}

#[test]
fn replay_fuzz_corpus_dir_if_present() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/apns_response");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        if let Ok(bytes) = std::fs::read(entry.path()) {
            fuzzing::parse_response(&bytes);
        }
    }
}
