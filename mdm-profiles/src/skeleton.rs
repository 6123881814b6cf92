//! Minimal valid profiles: the keys the schema requires, with its defaults, for any payload
//! type (`mdmctl profile new`).

use crate::profile::{CONFIGURATION, Payload, Profile};
use crate::schema::{self, KeySpec, Kind, PayloadSpec};
use mdm_proto::plist::{Date, Dictionary, Value};

/// How deep required dictionaries are filled in (the schema's nesting is far shallower).
const MAX_DEPTH: usize = 16;

/// The value a required key gets: the schema's default, else its first allowed value, else
/// the lowest value of its range, else an empty value of its type.
pub fn value(spec: &KeySpec, depth: usize) -> Value {
    let default = spec
        .default
        .filter(|d| spec.values.is_empty() || spec.values.contains(d))
        .or_else(|| spec.values.first().copied());
    match spec.kind {
        Kind::Boolean => Value::Boolean(default.is_some_and(|d| d == "true")),
        Kind::Integer => {
            let parsed = default.and_then(|d| d.parse::<i64>().ok());
            let low = spec.min.map_or(0, |m| m.ceil() as i64);
            let high = spec.max.map_or(i64::MAX, |m| m.floor() as i64);
            Value::Integer(parsed.unwrap_or(low).clamp(low.min(high), high).into())
        }
        Kind::Real => {
            let parsed = default.and_then(|d| d.parse::<f64>().ok());
            Value::Real(parsed.or(spec.min).unwrap_or(0.0))
        }
        Kind::Data => Value::Data(Vec::new()),
        Kind::Date => Value::Date(Date::from(std::time::UNIX_EPOCH)),
        Kind::Dictionary => Value::Dictionary(required_keys(spec.children, depth + 1)),
        Kind::Array => Value::Array(Vec::new()),
        // Strings, `Kind::Any` and kinds a later mdm-proto adds.
        _ => Value::String(default.unwrap_or_default().to_owned()),
    }
}

/// The required keys among `keys` (wildcards left out), with [`value`]s.
pub fn required_keys(keys: &[KeySpec], depth: usize) -> Dictionary {
    let mut dict = Dictionary::new();
    if depth > MAX_DEPTH {
        return dict;
    }
    for key in keys.iter().filter(|k| k.required && !k.is_wildcard()) {
        dict.insert(key.key.to_owned(), value(key, depth));
    }
    dict
}

/// A payload of `spec`'s type with its required keys.
pub fn payload(spec: &PayloadSpec, identifier: &str, uuid: &str) -> Payload {
    Payload::from_dictionary(payload_dict(spec, identifier, uuid))
}

fn payload_dict(spec: &PayloadSpec, identifier: &str, uuid: &str) -> Dictionary {
    let mut dict = Dictionary::new();
    dict.insert(
        "PayloadType".into(),
        Value::String(spec.payload_type.to_owned()),
    );
    dict.insert("PayloadVersion".into(), Value::Integer(1.into()));
    dict.insert(
        "PayloadIdentifier".into(),
        Value::String(identifier.to_owned()),
    );
    dict.insert("PayloadUUID".into(), Value::String(uuid.to_owned()));
    dict.insert(
        "PayloadDisplayName".into(),
        Value::String(spec.title.to_owned()),
    );
    for (k, v) in required_keys(spec.keys, 0) {
        dict.insert(k, v);
    }
    dict
}

/// The payload type a required reference key points at: an identity (PKCS#12) for
/// identity keys, else a certificate (PKCS#1).
fn referenced_type(key: &str) -> &'static str {
    if key.to_ascii_lowercase().contains("identity") {
        "com.apple.security.pkcs12"
    } else {
        "com.apple.security.pkcs1"
    }
}

/// A profile holding one minimal payload of `payload_type` (and, when a required key of it
/// names a certificate or identity payload, a placeholder payload of that kind for it to
/// name). The profile is `identifier`, the payload `identifier.payload`; the UUIDs come
/// from `new_uuid` (fresh ones: this crate does no I/O and draws no random numbers).
/// `None` for a payload type the schema does not have.
///
/// ```
/// use mdm_profiles::{lint, skeleton};
/// let mut n = 0;
/// let p = skeleton::profile("com.apple.wifi.managed", "org.example.wifi", &mut || {
///     n += 1;
///     format!("0F4A0000-0000-4000-8000-{n:012}")
/// })
/// .expect("a payload type of the schema");
/// assert_eq!(p.payloads[0].identifier(), Some("org.example.wifi.payload"));
/// assert_eq!(lint(&p, &[]).findings, []);
/// ```
pub fn profile(
    payload_type: &str,
    identifier: &str,
    new_uuid: &mut dyn FnMut() -> String,
) -> Option<Profile> {
    let spec = schema::spec(payload_type)?;
    let mut top = Dictionary::new();
    top.insert("PayloadType".into(), Value::String(CONFIGURATION.into()));
    top.insert("PayloadVersion".into(), Value::Integer(1.into()));
    top.insert(
        "PayloadIdentifier".into(),
        Value::String(identifier.to_owned()),
    );
    top.insert("PayloadUUID".into(), Value::String(new_uuid()));
    top.insert(
        "PayloadDisplayName".into(),
        Value::String(spec.title.to_owned()),
    );
    let mut main = payload_dict(spec, &format!("{identifier}.payload"), &new_uuid());
    let mut payloads = Vec::new();
    for (key, value) in main.iter_mut() {
        if let Value::String(s) = value
            && crate::lint::identity::is_reference_key(key)
            && let Some(target) = schema::spec(referenced_type(key))
        {
            let uuid = new_uuid();
            let n = payloads.len() + 1;
            payloads.push(Value::Dictionary(payload_dict(
                target,
                &format!("{identifier}.certificate{n}"),
                &uuid,
            )));
            *s = uuid;
        }
    }
    payloads.insert(0, Value::Dictionary(main));
    top.insert("PayloadContent".into(), Value::Array(payloads));
    Some(Profile::from_dictionary(top))
}
