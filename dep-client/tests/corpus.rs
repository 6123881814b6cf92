//! The DEP files of ../shared/corpus decode, keep every key and re-encode to the same JSON.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use dep_client::endpoint::{self, Endpoint};
use dep_client::*;

fn corpus_dir() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let candidate = dir.join("shared");
        if candidate.join("corpus").is_dir() {
            return candidate.join("corpus").join("dep");
        }
        assert!(dir.pop(), "no shared/corpus next to the repository");
    }
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(name)).unwrap()
}

fn round_trip<E: Endpoint>(name: &str) -> E::Response
where
    E::Response: serde::Serialize,
{
    let bytes = read(name);
    let value: E::Response =
        parse_response::<E>(http::StatusCode::OK, &http::HeaderMap::new(), &bytes).unwrap();
    let original: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let again = serde_json::to_value(&value).unwrap();
    assert_eq!(original, again, "{name} does not round-trip");
    value
}

#[test]
fn account() {
    let a = round_trip::<endpoint::GetAccount>("micromdm_dep_account_response.json");
    assert_eq!(a.org_type, Some(OrgType::Org));
    assert_eq!(a.org_version, Some(OrgVersion::V2));
    assert_eq!(a.server_name.as_deref(), Some("dev"));
    let limit = a.limit_for("/server/devices").unwrap();
    assert_eq!((limit.default, limit.maximum), (Some(1000), Some(5000)));
    assert_eq!(a.urls.as_ref().unwrap().len(), 18);
}

#[test]
fn fetch_page() {
    let p = round_trip::<endpoint::FetchDevices>("micromdm_dep_device_response.json");
    assert_eq!(p.devices.len(), 1);
    let d = &p.devices[0];
    assert_eq!(d.serial_number, "C02T0HL0GGC0");
    assert_eq!(d.profile_status, Some(ProfileStatus::Assigned));
    assert!(!p.more_to_follow);
    assert!(p.cursor.is_some());
}

#[test]
fn device_details() {
    let p = round_trip::<endpoint::GetDeviceDetails>("micromdm_dep_device_details_response.json");
    let d = &p.devices["C02T0HL0GGC0"];
    assert_eq!(d.response_status, Some(DeviceStatus::Success));
    assert_eq!(d.device_family.as_deref(), Some("Mac"));
}

#[test]
fn profiles() {
    let p = round_trip::<endpoint::GetProfile>("micromdm_dep_fetch_profile_response.json");
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
    let bytes = read("nanodep_dep-profile.example.json");
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
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
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
    let yaml = corpus_dir()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("apple-device-management/other/skipkeys.yaml");
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
