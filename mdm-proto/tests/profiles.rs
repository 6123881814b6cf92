//! Every configuration profile in ../shared/corpus decodes and encodes back to the same plist.

use mdm_proto::{Limits, Profile, parse_dictionary};
use std::path::PathBuf;

/// `shared/corpus/<dir>`, or `None` after a visible skip.
fn corpus(dir: &str) -> Option<PathBuf> {
    mdm_test_support::shared::corpus(dir)
}

#[test]
fn corpus_profiles_round_trip() {
    let mut seen = 0;
    for dir in ["profiles", "scep"] {
        let Some(folder) = corpus(dir) else {
            return;
        };
        for entry in std::fs::read_dir(folder).expect("corpus folder") {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "mobileconfig") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let profile =
                Profile::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!profile.content.is_empty(), "{}", path.display());
            let original = parse_dictionary(&bytes, &Limits::MDM).unwrap();
            assert_eq!(
                profile.to_dictionary(),
                original,
                "{} changed on re-encoding",
                path.display()
            );
            let again = Profile::decode(&profile.encode().unwrap()).unwrap();
            assert_eq!(again, profile);
            seen += 1;
        }
    }
    assert!(seen >= 13, "only {seen} profiles found");
}

#[test]
fn nanomdm_enrollment_profile_has_mdm_and_scep_payloads() {
    let Some(profiles) = corpus("profiles") else {
        return;
    };
    let bytes = std::fs::read(profiles.join("nanomdm_enroll.mobileconfig")).unwrap();
    let profile = Profile::decode(&bytes).unwrap();
    let mdm = profile.payload("com.apple.mdm").expect("mdm payload");
    let scep = profile
        .payload("com.apple.security.scep")
        .expect("scep payload");
    assert_eq!(
        mdm.keys
            .get("IdentityCertificateUUID")
            .and_then(|v| v.as_string()),
        Some(scep.uuid.as_str())
    );
    assert_eq!(
        mdm.keys
            .get("AccessRights")
            .and_then(|v| v.as_signed_integer()),
        Some(8191)
    );
}
