//! Replays the fuzz targets' functions over the corpus and mutations of it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use mdm_commands::fuzzing;
use std::path::Path;

/// The corpus files and fuzz seeds, or `None` after a visible skip.
fn seeds() -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for dir in ["commands", "command-results", "checkin"] {
        let dir = mdm_test_support::shared::corpus(dir)?;
        for p in mdm_test_support::shared::files_in(&dir) {
            out.push(std::fs::read(p).unwrap());
        }
    }
    // Fuzz corpus files, when the lead's fuzz/ directory has any for our targets.
    for target in ["commands_command", "commands_report"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                out.push(std::fs::read(e.path()).unwrap());
            }
        }
    }
    Some(out)
}

/// Deterministic mutations: truncations, byte flips, and the bytes of a generated command.
fn mutations(seed: &[u8], n: u64) -> Vec<Vec<u8>> {
    let mut rng = fuzzing::Rng::new(n);
    let mut out = Vec::new();
    for cut in [seed.len() / 3, seed.len() / 2, seed.len().saturating_sub(9)] {
        out.push(seed[..cut].to_vec());
    }
    for _ in 0..8 {
        let mut m = seed.to_vec();
        if !m.is_empty() {
            let i = (rng.next_u64() % m.len() as u64) as usize;
            m[i] = (rng.next_u64() & 0xff) as u8;
        }
        out.push(m);
    }
    out
}

#[test]
fn fuzz_functions_survive_the_corpus_and_mutations() {
    let Some(seeds) = seeds() else { return };
    for (n, seed) in seeds.iter().enumerate() {
        fuzzing::command(seed);
        fuzzing::report(seed);
        for m in mutations(seed, n as u64) {
            fuzzing::command(&m);
            fuzzing::report(&m);
        }
    }
}

#[test]
fn fuzz_functions_survive_generated_commands_with_wrong_types() {
    use mdm_proto::plist::Value;
    for (i, spec) in mdm_commands::schema::all().iter().enumerate() {
        let mut rng = Some(fuzzing::Rng::new(i as u64));
        let mut payload = fuzzing::sample_dict(spec.payload, &mut rng, 0);
        // A wrong type in one key: decoding must fail cleanly, never panic.
        if let Some((_, v)) = payload.iter_mut().next() {
            *v = Value::Boolean(true);
        }
        payload.insert(
            "RequestType".into(),
            Value::String(spec.request_type.into()),
        );
        let mut env = mdm_proto::plist::Dictionary::new();
        env.insert("CommandUUID".into(), Value::String("U".into()));
        env.insert("Command".into(), Value::Dictionary(payload.clone()));
        let bytes = mdm_proto::to_xml(&Value::Dictionary(env)).unwrap();
        fuzzing::command(&bytes);
        let mut report = payload;
        report.insert("Status".into(), Value::String("Acknowledged".into()));
        report.insert("UDID".into(), Value::String("X".into()));
        let bytes = mdm_proto::to_xml(&Value::Dictionary(report)).unwrap();
        fuzzing::report(&bytes);
    }
}
