//! Every configuration profile in ../shared/corpus decodes and encodes back to the same plist.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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

/// Enrollment profiles in the corpus (the ones with an MDM payload) read as a device reads them.
#[test]
fn corpus_enrollment_profiles_read() {
    let Some(folder) = corpus("profiles") else {
        return;
    };
    let mut read = 0;
    for entry in std::fs::read_dir(folder).expect("corpus folder") {
        let path = entry.unwrap().path();
        let Ok(profile) = Profile::decode(&std::fs::read(&path).unwrap()) else {
            continue;
        };
        if profile.payload("com.apple.mdm").is_none() {
            continue;
        }
        let enrollment = mdm_proto::EnrollmentProfile::from_profile(&profile)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            enrollment.server_url.starts_with("https://"),
            "{}",
            path.display()
        );
        assert!(!enrollment.topic.is_empty(), "{}", path.display());
        read += 1;
    }
    assert!(read >= 1, "no enrollment profile in the corpus");
}

/// What a device refuses to read, with the key path that was wrong.
#[test]
fn enrollment_profiles_missing_keys_are_named() {
    let uuids = ["P", "S", "M", "R"].map(String::from);
    let built = mdm_proto::EnrollmentProfile::new(
        "org.example",
        "https://mdm.example.org/mdm",
        "com.apple.mgmt.External.1",
        "https://mdm.example.org/scep",
        uuids,
    )
    .build();
    let mut no_topic = built.clone();
    for payload in &mut no_topic.content {
        payload.keys.remove("Topic");
    }
    let err = mdm_proto::EnrollmentProfile::from_profile(&no_topic).unwrap_err();
    assert!(
        err.to_string()
            .contains("PayloadContent[com.apple.mdm].Topic"),
        "{err}"
    );
    let mut dangling = built.clone();
    for payload in &mut dangling.content {
        if payload.payload_type == "com.apple.mdm" {
            payload.keys.insert(
                "IdentityCertificateUUID".into(),
                mdm_proto::plist::Value::String("nowhere".into()),
            );
        }
    }
    let err = mdm_proto::EnrollmentProfile::from_profile(&dangling).unwrap_err();
    assert!(err.to_string().contains("names no payload"), "{err}");
}

fn text() -> impl proptest::strategy::Strategy<Value = String> {
    "[a-zA-Z0-9 .:/_-]{1,24}"
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// Building an enrollment profile, encoding it and reading it back gives the options back.
    #[test]
    fn enrollment_profile_builds_and_reads_back(
        identifier in text(), display in text(), server in text(), topic in text(), scep in text(),
        checkin in proptest::option::of(text()), challenge in proptest::option::of(text()),
        name in proptest::option::of(text()),
        subject in proptest::option::of(proptest::collection::vec((text(), text()), 0..4)),
        sign in proptest::bool::ANY, check_out in proptest::bool::ANY,
        rights in 0i64..8192, key_size in proptest::sample::select(vec![1024i64, 2048, 4096]),
        root in proptest::option::of(proptest::collection::vec(proptest::num::u8::ANY, 1..40)),
        caps in proptest::collection::vec(text(), 0..3),
    ) {
        let uuids = ["P", "S", "M", "R"].map(String::from);
        let mut options = mdm_proto::EnrollmentProfile::new(identifier, server, topic, scep, uuids);
        options.display_name = display;
        options.checkin_url = checkin;
        options.scep_challenge = challenge;
        options.scep_name = name;
        options.scep_subject = subject;
        options.sign_message = sign;
        options.check_out_when_removed = check_out;
        options.access_rights = rights;
        options.scep_key_size = key_size;
        options.server_capabilities = caps;
        options.trust_ca_der = root;
        let bytes = options.build().encode().unwrap();
        let mut read = mdm_proto::EnrollmentProfile::from_profile(&Profile::decode(&bytes).unwrap()).unwrap();
        if options.trust_ca_der.is_none() {
            // No root payload: no root UUID to read back.
            read.uuids[3].clone_from(&options.uuids[3]);
        }
        proptest::prop_assert_eq!(read, options);
    }
}
