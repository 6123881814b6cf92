//! Replays the fuzz entry points over the corpus, declarations of every type, and
//! mutations of them (every prefix, byte flips, deep nesting).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/common.rs"]
mod common;

use mdm_ddm::DeclarationType;
use mdm_ddm::fuzzing;
use mdm_ddm::schema::Kind;
use serde_json::json;

fn seeds() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    // Without ../shared (a visible skip) the generated declarations still run.
    let reports: Vec<Vec<u8>> = common::corpus_files()
        .unwrap_or_default()
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let declarations = DeclarationType::KNOWN
        .iter()
        .map(|ty| {
            let payload = common::sample(&Kind::Dict(ty.keys().unwrap()));
            serde_json::to_vec(&json!({"Type": ty.as_str(), "Identifier": "i",
                "ServerToken": "t", "Payload": payload}))
            .unwrap()
        })
        .collect();
    (declarations, reports)
}

fn mutations(seed: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    // Every 7th prefix.
    for end in (0..seed.len()).step_by(7) {
        out.push(seed[..end].to_vec());
    }
    // Byte replacements at spread positions.
    for (i, pos) in (0..seed.len()).step_by(31).enumerate() {
        for b in [b'"', b'{', b'[', b'0', b'\\', b'}', 0xff] {
            let mut m = seed.to_vec();
            m[pos] = b.wrapping_add(i as u8 % 2);
            out.push(m);
        }
    }
    out
}

#[test]
fn declarations_replay() {
    let (declarations, reports) = seeds();
    for seed in declarations.iter().chain(reports.iter()) {
        fuzzing::declaration(seed);
        for m in mutations(seed) {
            fuzzing::declaration(&m);
        }
    }
}

#[test]
fn status_reports_replay() {
    let (declarations, reports) = seeds();
    for seed in reports.iter().chain(declarations.iter().take(3)) {
        fuzzing::status_report(seed);
        for m in mutations(seed) {
            fuzzing::status_report(&m);
        }
    }
}

#[test]
fn checkins_replay() {
    let (_, reports) = seeds();
    for endpoint in [
        &b"tokens"[..],
        b"declaration-items",
        b"declaration/configuration/x",
        b"declaration//",
        b"status",
        b"\xff\xfe",
    ] {
        fuzzing::checkin(endpoint);
    }
    for report in &reports {
        let mut data = b"status\0".to_vec();
        data.extend_from_slice(report);
        fuzzing::checkin(&data);
    }
}

#[test]
fn hostile_nesting_and_size() {
    let deep = format!(
        "{{\"StatusItems\":{}1{},\"Errors\":[]}}",
        "{\"a\":".repeat(10_000),
        "}".repeat(10_000)
    );
    fuzzing::status_report(deep.as_bytes());
    assert!(matches!(
        mdm_ddm::StatusReport::decode(deep.as_bytes()),
        Err(mdm_ddm::Error::TooDeep { .. })
    ));
    fuzzing::declaration("[".repeat(1_000_000).as_bytes());
    let big = vec![b' '; 11 * 1024 * 1024];
    assert!(matches!(
        mdm_ddm::Declaration::decode(&big),
        Err(mdm_ddm::Error::TooLarge { .. })
    ));
}
