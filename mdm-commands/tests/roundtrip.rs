//! Every command and response of the schema round-trips, typed and lossless.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use mdm_commands::fuzzing::{Rng, same, same_dict, sample_dict};
use mdm_commands::schema::all;
use mdm_commands::{AnyResponse, CommandEnvelope, json};
use mdm_proto::plist::{Dictionary, Value};
use mdm_proto::{CommandReport, CommandStatus, Identity};
use proptest::prelude::*;

fn envelope_dict(request_type: &str, payload: Dictionary) -> Dictionary {
    let mut command = Dictionary::new();
    command.insert("RequestType".into(), Value::String(request_type.into()));
    for (k, v) in payload {
        command.insert(k, v);
    }
    let mut dict = Dictionary::new();
    dict.insert("CommandUUID".into(), Value::String("UUID-1".into()));
    dict.insert("Command".into(), Value::Dictionary(command));
    dict
}

fn check_command(request_type: &str, payload: Dictionary) {
    let dict = envelope_dict(request_type, payload.clone());
    let envelope = CommandEnvelope::from_dictionary(dict.clone())
        .unwrap_or_else(|e| panic!("{request_type}: {e}"));
    assert!(envelope.command.is_known(), "{request_type}");
    assert_eq!(envelope.command.request_type(), request_type);
    assert!(
        same_dict(&envelope.to_dictionary(), &dict),
        "{request_type}: not lossless"
    );
    // Through bytes, XML and binary.
    let xml = envelope.encode().unwrap();
    assert_eq!(CommandEnvelope::decode(&xml).unwrap(), envelope);
    let bin = envelope.encode_binary().unwrap();
    assert_eq!(CommandEnvelope::decode(&bin).unwrap(), envelope);
    // Through JSON: data and dates come back as data and dates.
    let j = json::envelope_to_json(&envelope);
    let back = json::envelope_from_json(&j).unwrap_or_else(|e| panic!("{request_type}: {e}"));
    assert_eq!(back, envelope, "{request_type}: JSON round trip");
}

fn check_response(request_type: &str, keys: Dictionary) {
    let mut report = CommandReport::new(CommandStatus::Acknowledged, Identity::default());
    report.response = keys.clone();
    let typed = mdm_commands::decode_response(request_type, &report).unwrap();
    assert!(!matches!(typed, AnyResponse::Unknown { .. }));
    assert!(
        same(&typed.to_value(), &Value::Dictionary(keys)),
        "{request_type}: response not lossless"
    );
}

#[test]
fn every_command_and_response_round_trips_with_every_key() {
    assert_eq!(all().len(), 68, "64 commands of 27.0 and the 4 it removed");
    for spec in all() {
        let payload = sample_dict(spec.payload, &mut None, 0);
        check_command(spec.request_type, payload);
        let response = sample_dict(spec.response, &mut None, 0);
        check_response(spec.request_type, response);
    }
}

#[test]
fn every_command_and_response_round_trips_with_only_its_required_keys() {
    use mdm_commands::fuzzing::minimal_dict;
    for spec in all() {
        check_command(spec.request_type, minimal_dict(spec.payload, 0));
        check_response(spec.request_type, minimal_dict(spec.response, 0));
    }
}

#[test]
fn known_keys_are_typed_not_left_in_extra() {
    use mdm_commands::generated::settings::{Settings, SettingsItem};
    use mdm_proto::fields::FromValue;
    let spec = mdm_commands::schema::spec("Settings").unwrap();
    let payload = sample_dict(spec.payload, &mut None, 0);
    let settings = Settings::from_value(Value::Dictionary(payload), "Command").unwrap();
    assert_eq!(settings.extra.len(), 1, "only FutureKey is extra");
    assert_eq!(settings.settings.len(), spec.payload[0].children.len());
    assert!(
        !settings
            .settings
            .iter()
            .any(|i| matches!(i, SettingsItem::Unknown(_)))
    );
}

#[test]
fn unknown_commands_and_settings_items_are_kept() {
    let mut payload = Dictionary::new();
    payload.insert("Anything".into(), Value::Data(vec![1, 2, 3]));
    let dict = envelope_dict("BrandNewCommand", payload);
    let envelope = CommandEnvelope::from_dictionary(dict.clone()).unwrap();
    assert!(!envelope.command.is_known());
    assert_eq!(envelope.to_dictionary(), dict);

    let mut item = Dictionary::new();
    item.insert("Item".into(), Value::String("FutureSetting".into()));
    item.insert("Value".into(), Value::Integer(3.into()));
    let mut payload = Dictionary::new();
    payload.insert(
        "Settings".into(),
        Value::Array(vec![Value::Dictionary(item)]),
    );
    let dict = envelope_dict("Settings", payload);
    let envelope = CommandEnvelope::from_dictionary(dict.clone()).unwrap();
    assert_eq!(envelope.to_dictionary(), dict);
}

fn decode_err(payload: Dictionary, request_type: &str) -> String {
    CommandEnvelope::from_dictionary(envelope_dict(request_type, payload))
        .unwrap_err()
        .to_string()
}

#[test]
fn errors_name_the_key_path() {
    let err = decode_err(Dictionary::new(), "DeviceInformation");
    assert!(err.contains("`Command.Queries`"), "{err}");
    assert!(err.contains("missing"), "{err}");

    let mut p = Dictionary::new();
    p.insert("Queries".into(), Value::String("UDID".into()));
    let err = decode_err(p, "DeviceInformation");
    assert!(
        err.contains("`Command.Queries` should be an array"),
        "{err}"
    );

    let mut p = Dictionary::new();
    p.insert(
        "Queries".into(),
        Value::Array(vec![Value::Integer(1.into())]),
    );
    let err = decode_err(p, "DeviceInformation");
    assert!(err.contains("`Command.Queries[0]`"), "{err}");

    let mut item = Dictionary::new();
    item.insert("Item".into(), Value::String("DeviceName".into()));
    item.insert("DeviceName".into(), Value::Boolean(true));
    let mut p = Dictionary::new();
    p.insert(
        "Settings".into(),
        Value::Array(vec![Value::Dictionary(item)]),
    );
    let err = decode_err(p, "Settings");
    assert!(
        err.contains("`Command.Settings[0].DeviceName` should be a string"),
        "{err}"
    );

    let err = CommandEnvelope::from_dictionary(Dictionary::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("`CommandUUID`"), "{err}");
}

#[test]
fn mistyped_response_values_are_kept_in_extra() {
    use mdm_commands::generated::security_info::SecurityInfo;
    let mut inner = Dictionary::new();
    inner.insert("FDE_Enabled".into(), Value::String("not supported".into()));
    let mut keys = Dictionary::new();
    keys.insert("SecurityInfo".into(), Value::Dictionary(inner));
    let mut report = CommandReport::new(CommandStatus::Acknowledged, Identity::default());
    report.response = keys.clone();
    let r = mdm_commands::decode_report::<SecurityInfo>(&report).unwrap();
    let s = r.security_info.unwrap();
    assert_eq!(s.fde_enabled, None);
    assert!(s.extra.contains_key("FDE_Enabled"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn generated_commands_round_trip(index in 0usize..66, seed in any::<u64>()) {
        let spec = all()[index % all().len()];
        let mut rng = Some(Rng::new(seed));
        let payload = sample_dict(spec.payload, &mut rng, 0);
        check_command(spec.request_type, payload);
        let response = sample_dict(spec.response, &mut rng, 0);
        check_response(spec.request_type, response);
    }
}

#[test]
fn every_known_command_has_a_template() {
    for spec in all() {
        let t = mdm_commands::AnyCommand::template(spec.request_type)
            .unwrap_or_else(|| panic!("{}", spec.request_type));
        assert!(t.is_known());
    }
    assert!(mdm_commands::AnyCommand::template("Nope").is_none());
}
