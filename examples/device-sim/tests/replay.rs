//! Replays the fuzzing entry points over real profiles and commands from ../shared/corpus,
//! and over truncations and byte flips of them: nothing may panic. Also reads a real
//! enrollment profile template.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

/// `shared/corpus`, or `None` after a visible skip.
fn corpus() -> Option<PathBuf> {
    mdm_test_support::shared::path("corpus")
}

fn files(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out.into_iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn mutations(seed: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![seed.to_vec()];
    let step = (seed.len() / 40).max(1);
    for n in (0..seed.len()).step_by(step) {
        out.push(seed[..n].to_vec());
        let mut flipped = seed.to_vec();
        flipped[n] ^= 0x5a;
        out.push(flipped);
    }
    out
}

#[test]
fn profiles_and_commands_never_panic() {
    let Some(corpus) = corpus() else { return };
    for seed in files(&corpus.join("profiles")) {
        for input in mutations(&seed) {
            device_sim::fuzzing::enrollment_profile(&input);
        }
    }
    for seed in files(&corpus.join("commands")) {
        for input in mutations(&seed) {
            device_sim::fuzzing::command(&input);
        }
    }
}

#[test]
fn reads_nanomdms_enrollment_profile_template() {
    let Some(corpus) = corpus() else { return };
    let bytes = std::fs::read(corpus.join("profiles/nanomdm_enroll.mobileconfig")).unwrap();
    let facts = device_sim::enroll::read_enrollment_profile(&bytes).unwrap();
    assert_eq!(facts.endpoints.server_url, "https://mdm.example.org/mdm");
    // No CheckInURL: check-ins go to the ServerURL.
    assert_eq!(facts.endpoints.checkin_url, "https://mdm.example.org/mdm");
    assert_eq!(
        facts.endpoints.topic,
        "com.apple.mgmt.External.YOUR-PUSH-TOPIC-HERE"
    );
    assert!(facts.sign_message);
    assert_eq!(facts.scep_url, "https://mdm.example.org/scep");
    assert_eq!(facts.scep_challenge.as_deref(), Some("SCEP-CHALLENGE-HERE"));
    assert_eq!(facts.key_bits(), 2048);
    assert_eq!(
        facts.identity_certificate_uuid.as_deref(),
        Some("CB90E976-AD44-4B69-8108-8095E6260978")
    );
    assert!(facts.signer_der.is_none());
}
