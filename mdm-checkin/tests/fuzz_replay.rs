//! Replays the fuzz entry point over the corpus, every prefix, and seeded mutations, plus
//! whatever `cargo fuzz` has saved in fuzz/corpus/checkin_decode and fuzz/artifacts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/shared.rs"]
mod shared;

use mdm_checkin::fuzzing;
use shared::*;
use std::path::Path;

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seeds() -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for (_, bytes) in good_checkins_with_broken()? {
        if let Ok(value) = mdm_proto::parse_value(&bytes, &mdm_proto::Limits::MDM) {
            out.push(mdm_proto::to_binary(&value).unwrap());
        }
        out.push(bytes);
    }
    for dir in [
        "mdm-checkin/tests/examples",
        "fuzz/corpus/checkin_decode",
        "fuzz/artifacts/checkin_decode",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                if let Ok(bytes) = std::fs::read(entry.path()) {
                    out.push(bytes);
                }
            }
        }
    }
    Some(out)
}

fn good_checkins_with_broken() -> Option<Vec<(String, Vec<u8>)>> {
    let mut files = good_checkins()?;
    for path in corpus_files("checkin")? {
        if BROKEN.contains(&name(&path).as_str()) {
            files.push((name(&path), std::fs::read(&path).unwrap()));
        }
    }
    Some(files)
}

#[test]
fn corpus_and_prefixes_replay() {
    let Some(seeds) = seeds() else { return };
    for seed in seeds {
        for end in 0..=seed.len() {
            fuzzing::decode(&seed[..end]);
        }
    }
}

#[test]
fn mutations_replay() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let Some(seeds) = seeds() else { return };
    for seed in &seeds {
        for _ in 0..300 {
            let mut m = seed.clone();
            for _ in 0..=rng.below(4) {
                if m.is_empty() {
                    break;
                }
                let at = rng.below(m.len());
                match rng.below(5) {
                    0 => m[at] = rng.next() as u8,
                    1 => m[at] ^= 1 << rng.below(8),
                    2 => {
                        m.remove(at);
                    }
                    3 => {
                        let b = m[rng.below(m.len())];
                        m.insert(at, b);
                    }
                    _ => {
                        // Splice a chunk of the same file elsewhere (duplicates tags, keys).
                        let from = rng.below(m.len());
                        let len = rng.below(64).min(m.len() - from);
                        let chunk = m[from..from + len].to_vec();
                        m.splice(at..at, chunk);
                    }
                }
            }
            fuzzing::decode(&m);
        }
    }
}
