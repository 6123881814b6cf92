//! Replays the fuzz entry point (`fuzzing::profile_decode_lint`, the body of
//! fuzz/fuzz_targets/profile_decode_lint.rs) over the corpus profiles (XML, binary and
//! CMS-signed), their prefixes and seeded mutations: it must never panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mdm_pki::EcKey;
use mdm_pki::issue::{IssueOptions, common_name, self_signed};
use mdm_profiles::Profile;
use mdm_profiles::fuzzing::{Rng, profile_decode_lint};

fn seeds() -> Option<Vec<Vec<u8>>> {
    let Some(dir) = mdm_test_support::shared::corpus("profiles") else {
        mdm_test_support::skip("../shared", "no corpus/profiles");
        return None;
    };
    let key = EcKey::generate().unwrap();
    let cert = self_signed(
        &key,
        &common_name("replay"),
        false,
        &IssueOptions::new(vec![1], 1_700_000_000, 86_400),
    )
    .unwrap();
    let mut out = Vec::new();
    for path in mdm_test_support::shared::files_in(&dir) {
        if path.extension().is_none_or(|e| e != "mobileconfig") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        if let Ok(p) = Profile::decode(&bytes) {
            out.push(p.encode_as(mdm_proto::Format::Binary).unwrap());
            out.push(p.sign(&cert, &key, &[]).unwrap());
        }
        out.push(bytes);
    }
    Some(out)
}

#[test]
fn corpus_and_prefixes_replay() {
    let Some(seeds) = seeds() else { return };
    for seed in seeds {
        // Every prefix of the first 2 KiB, then every 61st.
        let ends = (0..seed.len().min(2048)).chain((2048..seed.len()).step_by(61));
        for end in ends.chain([seed.len()]) {
            profile_decode_lint(&seed[..end]);
        }
    }
}

#[test]
fn mutations_replay() {
    let Some(seeds) = seeds() else { return };
    let mut rng = Rng::new(14);
    for seed in &seeds {
        for _ in 0..150 {
            let mut m = seed.clone();
            for _ in 0..=rng.next_u64() % 4 {
                if m.is_empty() {
                    break;
                }
                let at = (rng.next_u64() % m.len() as u64) as usize;
                match rng.next_u64() % 4 {
                    0 => m[at] = rng.next_u64() as u8,
                    1 => m[at] ^= 1 << (rng.next_u64() % 8),
                    2 => {
                        m.remove(at);
                    }
                    _ => {
                        let from = (rng.next_u64() % m.len() as u64) as usize;
                        let len = ((rng.next_u64() % 64) as usize).min(m.len() - from);
                        let chunk = m[from..from + len].to_vec();
                        let to = at.min(m.len());
                        m.splice(to..to, chunk);
                    }
                }
            }
            profile_decode_lint(&m);
        }
    }
}
