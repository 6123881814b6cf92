//! Finds the shared corpus next to the repository.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

/// The `shared` directory, or `None` after a visible skip (see mdm-test-support).
pub fn shared_dir() -> Option<PathBuf> {
    mdm_test_support::shared::dir()
}

/// Every file of a corpus category, sorted by name, or `None` after a visible skip.
pub fn corpus_files(category: &str) -> Option<Vec<PathBuf>> {
    let dir = mdm_test_support::shared::corpus(category)?;
    Some(mdm_test_support::shared::files_in(&dir))
}

/// The file name of a path.
pub fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Files MANIFEST.md documents as broken by sanitizing (invalid base64 in `<data>`).
pub const BROKEN: [&str; 2] = [
    "commandment_TokenUpdate_iOS-11.3.1.xml",
    "commandment_CertificateList_iOS-11.3.1.xml",
];

/// Corpus files that Python's plistlib reads but mdm-proto's front door does not yet:
/// `<data>AAAA=</data>` (a surplus `=` after a complete base64 quantum, a sanitizing
/// artefact) is refused by the plist crate's strict base64. Tests accept either a lossless
/// decode or exactly that error, so they tighten by themselves once mdm-proto is lenient.
pub const LENIENT_BASE64: [&str; 1] = ["micromdm-v0_macos10.11_token_update_user.plist"];

/// True when `err` is the strict-base64 refusal that [`LENIENT_BASE64`] files get today.
pub fn is_strict_base64_refusal(err: &dyn std::fmt::Display) -> bool {
    err.to_string().contains("not base64 data")
}

/// The check-in plist inside the NanoCMD webhook capture (base64 in
/// `checkin_event.raw_payload`).
pub fn webhook_payload() -> Option<Vec<u8>> {
    use base64::Engine;
    let path = shared_dir()?.join("corpus/checkin/nanocmd_tokenupdate-webhook.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let b64 = json["checkin_event"]["raw_payload"].as_str().unwrap();
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
}

/// Every check-in body of the corpus that is meant to decode: (name, bytes), or `None` after
/// a visible skip.
pub fn good_checkins() -> Option<Vec<(String, Vec<u8>)>> {
    let mut out: Vec<(String, Vec<u8>)> = corpus_files("checkin")?
        .into_iter()
        .filter(|p| !BROKEN.contains(&name(p).as_str()) && !name(p).ends_with(".json"))
        .map(|p| (name(&p), std::fs::read(&p).unwrap()))
        .collect();
    out.push((
        "nanocmd_tokenupdate-webhook.json#raw_payload".into(),
        webhook_payload()?,
    ));
    Some(out)
}
