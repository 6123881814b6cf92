//! What the schema gives mdm-checkin, generated: every check-in message and its facts, the
//! `ReturnToService` answer and every error body of both releases, round-tripped with all
//! their keys and with only the required ones; where the types differ from the schema is
//! exactly what `overrides.rs` says.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use mdm_checkin::facts::{self, KeySpec, Kind};
use mdm_checkin::overrides::{Change, OVERRIDES};
use mdm_checkin::{
    CheckinMessage, ErrorBody, ErrorCode, Identity, Message, MessageType, ReturnToService,
    ReturnToServiceResponse, ReturnToServiceSettings, error_body,
};
use mdm_proto::plist::{Dictionary, Value};

/// A sample value for a key; `all` puts every optional key in, else only the required ones.
fn sample(spec: &KeySpec, all: bool) -> Value {
    match spec.kind {
        Kind::String => Value::String(spec.values.first().copied().unwrap_or("text").to_owned()),
        Kind::Boolean => Value::Boolean(true),
        Kind::Integer => Value::Integer(7.into()),
        Kind::Real => Value::Real(0.5),
        Kind::Data => Value::Data(vec![0, 1, 2]),
        Kind::Date => Value::Date(std::time::UNIX_EPOCH.into()),
        Kind::Dictionary => Value::Dictionary(sample_dict(spec.children, all)),
        Kind::Array => Value::Array(spec.children.iter().map(|c| sample(c, all)).collect()),
        _ => Value::String("any".to_owned()),
    }
}

fn sample_dict(keys: &[KeySpec], all: bool) -> Dictionary {
    keys.iter()
        .filter(|k| all || k.required)
        .map(|k| {
            let name = if k.is_wildcard() { "AnyName" } else { k.key };
            (name.to_owned(), sample(k, all))
        })
        .collect()
}

#[test]
fn every_check_in_of_the_schema_is_a_known_message_type() {
    assert_eq!(facts::ALL.len(), 9, "27.0 has 9 check-ins; 18.1 had 8");
    for spec in facts::ALL {
        assert!(
            MessageType::KNOWN.iter().any(|m| m.as_str() == spec.id),
            "{} is not typed",
            spec.id
        );
    }
    let rts = facts::spec("ReturnToService").unwrap();
    let ios = rts.os("iOS").unwrap();
    assert_eq!(ios.introduced, Some("26.0"));
    assert_eq!(ios.supervised, Some(true));
    assert_eq!(ios.requires_dep, Some(true));
    assert_eq!(rts.os("macOS").unwrap().introduced, Some("n/a"));
    // 27.0's new response key, with its own facts.
    let settings = rts
        .response
        .iter()
        .find(|k| k.key == "ReturnToService")
        .unwrap();
    let retry = settings.child("ShouldRetryEnrollment").unwrap();
    assert_eq!(retry.os("iOS").unwrap().introduced, Some("27.0"));
}

#[test]
fn every_check_in_round_trips_with_all_keys_and_with_only_the_required_ones() {
    for spec in facts::ALL {
        for all in [true, false] {
            let dict = sample_dict(spec.payload, all);
            let message = CheckinMessage::from_dictionary(dict.clone())
                .unwrap_or_else(|e| panic!("{} (all keys: {all}): {e}", spec.id));
            assert!(message.is_known(), "{}", spec.id);
            assert_eq!(message.message_type().as_str(), spec.id);
            assert_eq!(message.to_dictionary(), dict, "{}: not lossless", spec.id);
            let again = CheckinMessage::from_dictionary(message.to_dictionary()).unwrap();
            assert_eq!(again, message, "{}", spec.id);
            // Every key of the schema is typed: a value of the wrong type is refused and
            // named (an untyped key would pass into `extra`).
            for key in spec.payload.iter().filter(|k| all || k.required) {
                if key.key == "MessageType" {
                    continue;
                }
                let mut bad = dict.clone();
                let wrong = match key.kind {
                    Kind::Integer => Value::Boolean(true),
                    _ => Value::Integer(7.into()),
                };
                bad.insert(key.key.to_owned(), wrong);
                let err = CheckinMessage::from_dictionary(bad)
                    .map(|m| format!("decoded: {m:?}"))
                    .unwrap_or_else(|e| e.to_string());
                assert!(
                    err.contains(&format!("key `{}` should be", key.key)),
                    "{}.{}: {err}",
                    spec.id,
                    key.key
                );
            }
        }
    }
}

#[test]
fn every_check_in_response_of_the_schema_round_trips_with_all_keys_and_with_only_the_required_ones()
{
    /// Decodes `keys` as the response to `id` (and its encoding back), and gives its extra
    /// keys and its dictionary.
    fn typed(id: &str, keys: Dictionary) -> (Dictionary, Dictionary) {
        macro_rules! body {
            ($t:ty) => {{
                let r = <$t>::from_dictionary(keys).unwrap_or_else(|e| panic!("{id}: {e}"));
                let bytes = r.encode().unwrap();
                assert_eq!(<$t>::decode(&bytes).unwrap(), r, "{id}");
                (r.extra.clone(), r.to_dictionary())
            }};
        }
        match id {
            "GetBootstrapToken" => body!(mdm_checkin::GetBootstrapTokenResponse),
            "GetToken" => body!(mdm_checkin::GetTokenResponse),
            "ReturnToService" => body!(ReturnToServiceResponse),
            other => panic!("the response to {other} is not typed"),
        }
    }
    let with_response: Vec<_> = facts::ALL
        .iter()
        .filter(|s| !s.response.is_empty())
        .collect();
    assert_eq!(with_response.len(), 3);
    for spec in with_response {
        for all in [true, false] {
            let keys = sample_dict(spec.response, all);
            let (extra, dict) = typed(spec.id, keys.clone());
            assert!(
                extra.is_empty(),
                "{}: every key is typed: {extra:?}",
                spec.id
            );
            assert_eq!(dict, keys, "{}: not lossless", spec.id);
        }
    }
}

#[test]
fn a_schema_required_key_is_required_unless_overrides_or_identity_say_otherwise() {
    for spec in facts::ALL {
        let dict = sample_dict(spec.payload, false);
        for key in spec.payload.iter().filter(|k| k.required) {
            if key.key == "MessageType" {
                continue;
            }
            let listed = |change| {
                OVERRIDES
                    .iter()
                    .any(|o| o.message == spec.id && o.key == key.key && o.change == change)
            };
            let optional = listed(Change::Optional)
                || (Identity::KEYS.contains(&key.key) && !listed(Change::Required));
            let mut without = dict.clone();
            without.remove(key.key);
            let result = CheckinMessage::from_dictionary(without);
            assert_eq!(
                result.is_ok(),
                optional,
                "{}.{}: {result:?}",
                spec.id,
                key.key
            );
            if let Err(e) = result {
                assert!(e.to_string().contains(&format!("`{}`", key.key)), "{e}");
            }
        }
    }
    // Every override names a key of the schema's message, and says why.
    for o in OVERRIDES {
        let spec = facts::spec(o.message).unwrap_or_else(|| panic!("{o:?}"));
        assert!(spec.payload.iter().any(|k| k.key == o.key), "{o:?}");
        assert!(!o.why.is_empty(), "{o:?}");
    }
}

#[test]
fn return_to_service_round_trips() {
    let mut dict = Dictionary::new();
    dict.insert(
        "MessageType".into(),
        Value::String("ReturnToService".into()),
    );
    dict.insert("UDID".into(), Value::String("U1".into()));
    dict.insert("FutureKey".into(), Value::Integer(1.into()));
    let bytes = mdm_proto::to_xml(&Value::Dictionary(dict.clone())).unwrap();
    let message = mdm_checkin::decode(&bytes).unwrap();
    let CheckinMessage::ReturnToService(m) = &message else {
        panic!("{message:?}")
    };
    assert_eq!(m.identity.udid.as_deref(), Some("U1"));
    assert!(m.extra.contains_key("FutureKey"));
    assert_eq!(message.to_dictionary(), dict);
    assert_eq!(ReturnToService::decode(&bytes).unwrap(), *m);

    let spec = facts::spec("ReturnToService").unwrap();
    for all in [true, false] {
        let keys = sample_dict(spec.response, all);
        let r = ReturnToServiceResponse::from_dictionary(keys.clone()).unwrap();
        assert!(r.extra.is_empty(), "every key is typed: {:?}", r.extra);
        assert_eq!(r.to_dictionary(), {
            let mut k = keys.clone();
            k.sort_keys();
            k
        });
        assert_eq!(
            ReturnToServiceResponse::decode(&r.encode().unwrap()).unwrap(),
            r
        );
        assert_eq!(r.return_to_service.should_retry_enrollment.is_some(), all);
    }
    // Built by a server.
    let mut settings = ReturnToServiceSettings::new(true);
    settings.wi_fi_profile_data = Some(mdm_proto::Data(vec![1, 2]));
    let answer = ReturnToServiceResponse::new(settings);
    let text = String::from_utf8(answer.encode().unwrap()).unwrap();
    assert!(text.contains("<key>Enabled</key>"), "{text}");
    assert!(text.contains("<key>WiFiProfileData</key>"), "{text}");

    // A missing required key is named.
    let err = ReturnToServiceResponse::from_dictionary(Dictionary::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("ReturnToService"), "{err}");
}

#[test]
fn every_error_body_round_trips_as_plist_and_json() {
    assert_eq!(
        error_body::ALL.len(),
        5,
        "27.0 has 5 error bodies; 18.1 had 4"
    );
    for spec in error_body::ALL {
        for all in [true, false] {
            let dict = sample_dict(spec.payload, all);
            let body = ErrorBody::from_dictionary(dict.clone())
                .unwrap_or_else(|e| panic!("{}: {e}", spec.id));
            assert!(
                !matches!(body, ErrorBody::Unknown(_)),
                "{} is not typed",
                spec.id
            );
            assert_eq!(body.code().as_str(), spec.id);
            let mut sorted = dict.clone();
            sorted.sort_keys();
            assert_eq!(body.to_dictionary(), sorted, "{}: not lossless", spec.id);
            assert_eq!(ErrorBody::decode(&body.encode().unwrap()).unwrap(), body);
            let back = ErrorBody::decode_json(&body.encode_json())
                .unwrap_or_else(|e| panic!("{}: {e}", spec.id));
            assert_eq!(back, body, "{}: JSON round trip", spec.id);
        }
    }
}

#[test]
fn psso_required_is_typed_and_unknown_codes_are_kept() {
    let json = br#"{"code":"com.apple.psso.required","message":"Sign in first",
        "details":{"ProfileURL":"https://mdm.example/psso.mobileconfig",
        "AuthURL":"https://idp.example/auth",
        "Package":{"ManifestURL":"https://mdm.example/app.plist","PinningCerts":["AAEC"]}}}"#;
    let body = ErrorBody::decode_json(json).unwrap();
    assert_eq!(body.code(), ErrorCode::PssoRequired);
    let ErrorBody::PssoRequired(p) = &body else {
        panic!("{body:?}")
    };
    assert_eq!(p.details.auth_url, "https://idp.example/auth");
    assert_eq!(
        p.details.package.pinning_certs.as_deref(),
        Some(&[mdm_proto::Data(vec![0u8, 1, 2])][..])
    );
    let future = br#"{"code":"com.apple.future.required","details":{"X":1}}"#;
    let body = ErrorBody::decode_json(future).unwrap();
    assert!(matches!(body, ErrorBody::Unknown(_)));
    assert_eq!(body.code().as_str(), "com.apple.future.required");
    // A known code with a wrong value names the key.
    let bad = br#"{"code":"com.apple.psso.required","details":{"ProfileURL":3}}"#;
    let err = ErrorBody::decode_json(bad).unwrap_err().to_string();
    assert!(err.contains("details.ProfileURL"), "{err}");
}
