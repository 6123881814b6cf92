//! The types generated from the DEP JSON Schemas decode the DEP files of ../shared/corpus,
//! keep every key and re-encode to the same JSON; a body that does not match its schema is a
//! typed error naming the field.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dep_client::endpoint::decode_body;
use dep_client::generated::dep;
use dep_client::{Error, OpType, ProfileStatus};

fn read(name: &str) -> Option<Vec<u8>> {
    let dir = mdm_test_support::shared::corpus("dep")?;
    Some(std::fs::read(dir.join(name)).unwrap())
}

fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(name: &str) -> Option<T> {
    let bytes = read(name)?;
    let value: T = decode_body(&bytes, "corpus").unwrap();
    let original: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        original,
        serde_json::to_value(&value).unwrap(),
        "{name} does not round-trip"
    );
    Some(value)
}

#[test]
fn account_detail() {
    let Some(a) = round_trip::<dep::AccountDetail>("micromdm_dep_account_response.json") else {
        return;
    };
    assert!(a.urls.is_some_and(|u| !u.is_empty()));
}

#[test]
fn fetch_device_response() {
    let Some(r) = round_trip::<dep::FetchDeviceResponse>("micromdm_dep_device_response.json")
    else {
        return;
    };
    assert!(!r.cursor.is_empty());
    assert!(r.devices.is_some_and(|d| !d.is_empty()));
}

#[test]
fn device_list_response() {
    let Some(r) =
        round_trip::<dep::DeviceListResponse>("micromdm_dep_device_details_response.json")
    else {
        return;
    };
    assert!(r.devices.is_some_and(|d| !d.is_empty()));
}

#[test]
fn profile() {
    round_trip::<dep::Profile>("nanodep_dep-profile.example.json");
}

#[test]
fn open_enums_keep_unknown_values() {
    let body = br#"{"serial_number":"S1","model":"M","op_type":"archived","profile_status":"pushed","os":"fooOS","new_key":1}"#;
    let d: dep::Device = decode_body(body, "device").unwrap();
    assert_eq!(d.op_type.as_ref().map(OpType::as_str), Some("archived"));
    assert!(!d.op_type.as_ref().unwrap().is_known());
    assert_eq!(d.profile_status, Some(ProfileStatus::Pushed));
    assert_eq!(d.extra["new_key"], 1);
    let again = serde_json::to_value(&d).unwrap();
    assert_eq!(
        again,
        serde_json::from_slice::<serde_json::Value>(body).unwrap()
    );
}

#[test]
fn schema_mismatch_names_the_field() {
    // `model` is required by Device.json.
    let body = br#"{"cursor":"c","fetched_until":"t","more_to_follow":false,"devices":[{"serial_number":"A","model":"M"},{"serial_number":"B"}]}"#;
    let e = decode_body::<dep::FetchDeviceResponse>(body, "fetch").unwrap_err();
    let Error::Decode { path, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(path.starts_with("devices[1]"), "{path}");
    assert!(e.to_string().contains("model"), "{e}");

    // A wrong type deep inside.
    let body = br#"{"cursor":"c","fetched_until":"t","more_to_follow":"yes"}"#;
    let e = decode_body::<dep::FetchDeviceResponse>(body, "fetch").unwrap_err();
    let Error::Decode { path, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(path, "more_to_follow");
}

#[test]
fn endpoint_table_covers_every_call_once() {
    use dep_client::endpoint::{self, ENDPOINTS, Endpoint};
    assert_eq!(ENDPOINTS.len(), 14);
    let mut seen = std::collections::BTreeSet::new();
    for e in ENDPOINTS {
        assert!(seen.insert((e.method, e.path)), "{e:?} twice");
        assert!(e.path.starts_with('/'), "{e:?}");
    }
    // The table's lines and the types' constants are the same facts.
    assert_eq!(endpoint::SyncDevices::PATH, "/devices/sync");
    assert_eq!(endpoint::RemoveProfile::METHOD, http::Method::DELETE);
    assert!(
        ENDPOINTS
            .iter()
            .any(|e| e.method == "GET" && e.name == "get profile")
    );
}
