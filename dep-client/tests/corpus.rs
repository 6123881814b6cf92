//! The DEP files of ../shared/corpus decode, keep every key and re-encode to the same JSON.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use dep_client::endpoint::{self, Endpoint};
use dep_client::*;

/// `shared/corpus/dep`, or `None` after a visible skip.
fn corpus_dir() -> Option<PathBuf> {
    mdm_test_support::shared::corpus("dep")
}

/// A file of the DEP corpus, or `None` after a visible skip.
fn read(name: &str) -> Option<Vec<u8>> {
    Some(std::fs::read(corpus_dir()?.join(name)).unwrap())
}

fn round_trip<E: Endpoint>(name: &str) -> Option<E::Response>
where
    E::Response: serde::Serialize,
{
    let bytes = read(name)?;
    let value: E::Response =
        parse_response::<E>(http::StatusCode::OK, &http::HeaderMap::new(), &bytes).unwrap();
    let original: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let again = serde_json::to_value(&value).unwrap();
    assert_eq!(original, again, "{name} does not round-trip");
    Some(value)
}

#[test]
fn account() {
    let Some(a) = round_trip::<endpoint::GetAccount>("micromdm_dep_account_response.json") else {
        return;
    };
    assert_eq!(a.org_type, Some(OrgType::Org));
    assert_eq!(a.org_version, Some(OrgVersion::V2));
    assert_eq!(a.server_name.as_deref(), Some("dev"));
    let limit = a.limit_for("/server/devices").unwrap();
    assert_eq!((limit.default, limit.maximum), (Some(1000), Some(5000)));
    assert_eq!(a.urls.as_ref().unwrap().len(), 18);
}

#[test]
fn fetch_page() {
    let Some(p) = round_trip::<endpoint::FetchDevices>("micromdm_dep_device_response.json") else {
        return;
    };
    assert_eq!(p.devices.len(), 1);
    let d = &p.devices[0];
    assert_eq!(d.serial_number, "C02T0HL0GGC0");
    assert_eq!(d.profile_status, Some(ProfileStatus::Assigned));
    assert!(!p.more_to_follow);
    assert!(p.cursor.is_some());
}

#[test]
fn device_details() {
    let Some(p) =
        round_trip::<endpoint::GetDeviceDetails>("micromdm_dep_device_details_response.json")
    else {
        return;
    };
    let d = &p.devices["C02T0HL0GGC0"];
    assert_eq!(d.response_status, Some(DeviceStatus::Success));
    assert_eq!(d.device_family.as_deref(), Some("Mac"));
}

#[test]
fn profiles() {
    let Some(p) = round_trip::<endpoint::GetProfile>("micromdm_dep_fetch_profile_response.json")
    else {
        return;
    };
    assert_eq!(p.profile_name, "default");
    assert_eq!(
        p.skip_setup_items.as_deref(),
        Some(&[SkipKey::AppleId, SkipKey::Android][..])
    );
    assert_eq!(
        p.profile_uuid.as_deref(),
        Some("C1F123098EB5074580041E69883004C3")
    );
    // The NanoDEP example is a define-profile body: it decodes as a Profile and re-encodes.
    let Some(bytes) = read("nanodep_dep-profile.example.json") else {
        return;
    };
    let p: Profile = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(p.devices.as_ref().unwrap().len(), 2);
    assert_eq!(p.anchor_certs.as_deref(), Some(&[][..]));
    let original: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(original, serde_json::to_value(&p).unwrap());
    // and it can be sent
    let req = Config::new()
        .request(&endpoint::DefineProfile(p), "s")
        .unwrap();
    assert_eq!(req.method(), http::Method::POST);
    let sent: serde_json::Value = serde_json::from_slice(req.body()).unwrap();
    assert_eq!(sent, original);
}

#[test]
fn every_corpus_file_is_handled() {
    // The JSON files decode through the fuzzing entry point without panicking; the plist
    // (MachineInfo sent to the enrollment URL) is not a DEP API body and must fail cleanly.
    let Some(dir) = corpus_dir() else { return };
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        dep_client::fuzzing::decode_responses(&bytes);
        if path.extension().is_some_and(|e| e == "xml") {
            let err = parse_response::<endpoint::FetchDevices>(
                http::StatusCode::OK,
                &http::HeaderMap::new(),
                &bytes,
            )
            .unwrap_err();
            assert!(err.to_string().contains("line 1"), "{err}");
        }
    }
}

#[test]
fn skip_keys_cover_apples_schema() {
    let Some(yaml) = mdm_test_support::shared::path("apple-device-management/other/skipkeys.yaml")
    else {
        return;
    };
    let text = std::fs::read_to_string(yaml).unwrap();
    let keys: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("- key: "))
        .map(str::trim)
        .collect();
    assert!(keys.len() > 40);
    for key in &keys {
        let k = SkipKey::from(*key);
        assert!(k.is_known(), "skip key {key} is not a known SkipKey");
        assert_eq!(k.as_str(), *key);
    }
    assert_eq!(SkipKey::KNOWN.len(), keys.len());
}
