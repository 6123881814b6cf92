//! Replays the fuzzing entry point over the corpus, `fuzz/corpus/dep_response` if present,
//! and mutations: no input may panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let root = repo_root();
    let mut dirs = vec![root.join("fuzz/corpus/dep_response")];
    let mut dir = root.clone();
    while dir.pop() {
        if dir.join("shared/corpus/dep").is_dir() {
            dirs.push(dir.join("shared/corpus/dep"));
            break;
        }
    }
    for d in dirs {
        if let Ok(entries) = std::fs::read_dir(&d) {
            for e in entries.flatten() {
                if let Ok(bytes) = std::fs::read(e.path()) {
                    out.push(bytes);
                }
            }
        }
    }
    for extra in [
        &b"EXPIRED_CURSOR"[..],
        b"{\"code\":\"THROTTLED\"}",
        b"{\"auth_session_token\":\"x\"}",
        b"{\"betaEnrollmentTokens\":[{\"os\":\"iOS\"}]}",
        b"-----BEGIN MESSAGE-----\n{\"consumer_key\":\"a\"}\n-----END MESSAGE-----",
        b"ZZZZZ-ZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZW",
        b"",
    ] {
        out.push(extra.to_vec());
    }
    out
}

/// A small deterministic generator (no dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn seeds_and_mutations_never_panic() {
    let seeds = seeds();
    assert!(seeds.len() >= 10);
    let mut rng = Lcg(7);
    for seed in &seeds {
        dep_client::fuzzing::decode_responses(seed);
        for cut in [1, 2, 3, 5, 8] {
            dep_client::fuzzing::decode_responses(&seed[..seed.len() * cut / 9]);
        }
        for _ in 0..40 {
            let mut m = seed.clone();
            if m.is_empty() {
                m.push(b'{');
            }
            for _ in 0..1 + rng.next() % 4 {
                let i = (rng.next() as usize) % m.len();
                match rng.next() % 4 {
                    0 => m[i] = rng.next() as u8,
                    1 => {
                        m.remove(i);
                        if m.is_empty() {
                            m.push(b'[');
                        }
                    }
                    2 => m.insert(i, b"{}[]\",:0\\"[(rng.next() % 9) as usize]),
                    _ => {
                        let j = (rng.next() as usize) % m.len();
                        m.swap(i, j);
                    }
                }
            }
            dep_client::fuzzing::decode_responses(&m);
        }
    }
    // Deep nesting is refused by serde_json's recursion limit, not the stack.
    let deep = "[".repeat(100_000);
    dep_client::fuzzing::decode_responses(deep.as_bytes());
    let deep = "{\"devices\":".repeat(50_000);
    dep_client::fuzzing::decode_responses(deep.as_bytes());
}
