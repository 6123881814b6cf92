//! Entry points for fuzz targets, tests and benches. Not a stable API.

use crate::command::CommandEnvelope;
use crate::schema::{KeySpec, Kind};
use mdm_proto::plist::{Date, Dictionary, Value};
use mdm_proto::{CommandReport, Limits, parse_dictionary};

/// Plist equality where NaN equals NaN and dictionaries compare without order.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Real(x), Value::Real(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Dictionary(x), Value::Dictionary(y)) => same_dict(x, y),
        _ => a == b,
    }
}

/// [`same`] for dictionaries.
pub fn same_dict(x: &Dictionary, y: &Dictionary) -> bool {
    x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
}

/// Decodes a command plist; when it decodes, re-encoding must give back every key.
pub fn command(data: &[u8]) {
    let Ok(original) = parse_dictionary(data, &Limits::MDM) else {
        return;
    };
    let header = crate::CommandHeader::from_dictionary(&original);
    if let Ok(envelope) = CommandEnvelope::from_dictionary(original.clone()) {
        if let Ok(header) = &header {
            assert_eq!(
                header.command_uuid, envelope.command_uuid,
                "header and envelope disagree"
            );
        }
        let again = envelope.to_dictionary();
        assert!(
            same_dict(&original, &again),
            "command re-encoding lost or changed keys"
        );
        let json = crate::json::envelope_to_json(&envelope);
        let _ = crate::json::envelope_from_json(&json);
    }
}

/// Decodes a command report as the response of several commands; each decode must keep
/// every key.
pub fn report(data: &[u8]) {
    let Ok(report) = CommandReport::decode(data) else {
        return;
    };
    let keys = Value::Dictionary(report.response.clone());
    for spec in crate::schema::all() {
        if let Ok(typed) = crate::decode_response(spec.request_type, &report) {
            assert!(
                same(&typed.to_value(), &keys),
                "response of {} lost or changed keys",
                spec.request_type
            );
        }
    }
}

/// A small deterministic random source (xorshift) for generated samples.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A source from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

/// A sample value for a key. With `rng`, optional keys may be left out and values vary;
/// without it, every key is present with a fixed value.
pub fn sample_value(spec: &KeySpec, rng: &mut Option<Rng>, depth: usize) -> Value {
    let pick =
        |rng: &mut Option<Rng>, n: usize| rng.as_mut().map_or(0, |r| r.below(n as u64) as usize);
    match spec.kind {
        Kind::String => {
            if spec.values.is_empty() {
                match rng {
                    Some(r) => Value::String(format!("text {}", r.next_u64() % 1000)),
                    None => Value::String("text".to_owned()),
                }
            } else {
                let i = pick(rng, spec.values.len());
                Value::String(spec.values.get(i).copied().unwrap_or("").to_owned())
            }
        }
        Kind::Boolean => Value::Boolean(pick(rng, 2) == 0),
        Kind::Integer => {
            let i = pick(rng, spec.values.len().max(1));
            match spec.values.get(i).and_then(|v| v.parse::<i64>().ok()) {
                Some(v) => Value::Integer(v.into()),
                None => Value::Integer((rng.as_mut().map_or(7, |r| r.next_u64() as i64)).into()),
            }
        }
        Kind::Real => Value::Real(
            rng.as_mut()
                .map_or(0.5, |r| (r.next_u64() % 1000) as f64 / 8.0),
        ),
        Kind::Data => Value::Data(vec![0, 1, 2, pick(rng, 256) as u8]),
        Kind::Date => {
            let secs = 1_700_000_000 + rng.as_mut().map_or(0, |r| r.next_u64() % 100_000_000);
            Value::Date(Date::from(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
            ))
        }
        Kind::Dictionary => Value::Dictionary(sample_dict(spec.children, rng, depth + 1)),
        Kind::Array => {
            let mut items = Vec::new();
            if depth < 8 {
                if spec.children.len() > 1 {
                    for child in spec.children {
                        if rng.is_none() || pick(rng, 2) == 0 {
                            items.push(sample_value(child, rng, depth + 1));
                        }
                    }
                } else if let Some(child) = spec.children.first() {
                    let n = if rng.is_some() { pick(rng, 3) } else { 1 };
                    for _ in 0..n {
                        items.push(sample_value(child, rng, depth + 1));
                    }
                }
            }
            Value::Array(items)
        }
        // `Kind::Any`, and kinds a later mdm-proto adds.
        _ => Value::String("any".to_owned()),
    }
}

/// A sample dictionary for a list of keys, with one key the schema does not know.
pub fn sample_dict(keys: &[KeySpec], rng: &mut Option<Rng>, depth: usize) -> Dictionary {
    let mut dict = Dictionary::new();
    if depth > 8 {
        return dict;
    }
    for key in keys {
        let present = key.required || rng.as_mut().is_none_or(|r| r.next_u64() % 2 == 0);
        if !present {
            continue;
        }
        let name = if key.is_wildcard() {
            "AnyName"
        } else {
            key.key
        };
        dict.insert(name.to_owned(), sample_value(key, rng, depth));
    }
    dict.insert("FutureKey".to_owned(), Value::String("kept".to_owned()));
    dict
}

/// A sample dictionary with only the keys the schema marks required (at every level), and
/// one key the schema does not know.
pub fn minimal_dict(keys: &[KeySpec], depth: usize) -> Dictionary {
    let mut dict = Dictionary::new();
    if depth > 8 {
        return dict;
    }
    for key in keys.iter().filter(|k| k.required && !k.is_wildcard()) {
        let value = match key.kind {
            Kind::Dictionary => Value::Dictionary(minimal_dict(key.children, depth + 1)),
            Kind::Array => Value::Array(Vec::new()),
            _ => sample_value(key, &mut None, depth),
        };
        dict.insert(key.key.to_owned(), value);
    }
    dict.insert("FutureKey".to_owned(), Value::String("kept".to_owned()));
    dict
}
