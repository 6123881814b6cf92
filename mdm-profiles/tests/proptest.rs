//! Round trips of the generated payload types: a payload built from the schema (every
//! type, with random keys and values and a key the schema does not know) decodes typed,
//! encodes back to the same plist, and survives the bytes (XML and binary); any plist
//! payload, known type or not, is kept losslessly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mdm_profiles::fuzzing::{Rng, same_dict, sample_dict};
use mdm_profiles::plist::{Dictionary, Value};
use mdm_profiles::{AnyPayload, Payload, Profile, schema};
use mdm_proto::Format;
use proptest::prelude::*;

fn common(payload_type: &str, n: usize) -> Dictionary {
    let mut d = Dictionary::new();
    d.insert("PayloadType".into(), Value::String(payload_type.into()));
    d.insert("PayloadVersion".into(), Value::Integer(1.into()));
    d.insert(
        "PayloadIdentifier".into(),
        Value::String(format!("org.example.prop.{n}")),
    );
    d.insert(
        "PayloadUUID".into(),
        Value::String(format!("9D0C0000-0000-4000-8000-{n:012}")),
    );
    d
}

fn profile_dict(payloads: Vec<Dictionary>, unknown: bool) -> Dictionary {
    let mut d = common("Configuration", 0);
    if unknown {
        d.insert("FutureProfileKey".into(), Value::Integer(7.into()));
    }
    d.insert(
        "PayloadContent".into(),
        Value::Array(payloads.into_iter().map(Value::Dictionary).collect()),
    );
    d
}

/// A payload of `payload_type` with the keys `sample` chose: typed, lossless, and the
/// same through XML and binary bytes.
fn check(payload_type: &str, body: Dictionary) {
    let mut dict = common(payload_type, 1);
    for (k, v) in body {
        dict.insert(k, v);
    }
    let payload = Payload::from_dictionary(dict.clone());
    assert_eq!(
        payload.untyped_reason, None,
        "{payload_type}: kept untyped: {dict:?}"
    );
    assert!(
        !matches!(payload.body, AnyPayload::Unknown(_)),
        "{payload_type}: not typed"
    );
    assert!(
        same_dict(&payload.to_dictionary(), &dict),
        "{payload_type}: not lossless"
    );
    // decode(encode(x)) == x, the payload inside a profile, through the bytes.
    let original = profile_dict(vec![dict], true);
    let profile = Profile::from_dictionary(original.clone());
    for format in [Format::Xml, Format::Binary] {
        let bytes = profile.encode_as(format).unwrap();
        let back = Profile::decode(&bytes).unwrap();
        assert_eq!(
            back.payloads, profile.payloads,
            "{payload_type}: {format:?}"
        );
        assert!(
            same_dict(&back.to_dictionary(), &original),
            "{payload_type}: {format:?} not lossless"
        );
    }
}

#[test]
fn every_payload_type_round_trips_with_every_key() {
    assert!(schema::all().len() >= 100, "{}", schema::all().len());
    for spec in schema::all() {
        check(spec.payload_type, sample_dict(spec.keys, &mut None, 0));
    }
}

/// Any plist value, up to a few levels deep.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Boolean),
        any::<i64>().prop_map(|i| Value::Integer(i.into())),
        any::<f64>()
            .prop_filter("NaN", |f| !f.is_nan())
            .prop_map(Value::Real),
        "[ -~]{0,12}".prop_map(Value::String),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(Value::Data),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[A-Za-z]{1,10}", inner), 0..4)
                .prop_map(|kv| Value::Dictionary(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_payloads_round_trip(index in 0usize..1000, seed in any::<u64>()) {
        let all = schema::all();
        let spec = all[index % all.len()];
        let body = sample_dict(spec.keys, &mut Some(Rng::new(seed)), 0);
        check(spec.payload_type, body);
    }

    /// Keys of any type under any name, in a payload of a known type or not: whatever
    /// decodes typed or stays untyped, the plist comes back the same, keys in order.
    #[test]
    fn any_payload_is_lossless(
        index in 0usize..1000,
        known in any::<bool>(),
        keys in prop::collection::vec(("[A-Za-z_]{1,16}", any_value()), 0..8),
    ) {
        let all = schema::all();
        let payload_type = if known { all[index % all.len()].payload_type } else { "org.example.custom" };
        let mut dict = common(payload_type, 1);
        for (k, v) in keys {
            dict.insert(k, v);
        }
        let original = profile_dict(vec![dict], true);
        let profile = Profile::from_dictionary(original.clone());
        let again = profile.to_dictionary();
        prop_assert!(same_dict(&again, &original));
        let order = |d: &Dictionary| -> Vec<String> {
            match d.get("PayloadContent") {
                Some(Value::Array(a)) => match a.first() {
                    Some(Value::Dictionary(p)) => p.keys().cloned().collect(),
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            }
        };
        prop_assert_eq!(order(&again), order(&original));
        let back = Profile::decode(&profile.encode().unwrap()).unwrap();
        prop_assert!(same_dict(&back.to_dictionary(), &original));
        // The linter has something to say or not, but never panics.
        let _ = mdm_profiles::lint(&back, &mdm_profiles::fuzzing::fuzz_targets());
    }
}
