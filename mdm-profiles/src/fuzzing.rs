//! Entry points for fuzz targets, tests and benches, and sample payloads built from the
//! schema. Not a stable API.

use crate::lint::{self, output};
use crate::profile::{LIMITS, Profile};
use crate::schema::{KeySpec, Kind};
use crate::target::Target;
use mdm_proto::plist::{Date, Dictionary, Value};

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

/// The targets the fuzz target lints for: none, then one per platform with and without a
/// version, supervision and User Enrollment.
pub fn fuzz_targets() -> Vec<Target> {
    let mut out = Vec::new();
    for (platform, version) in [
        ("ios", Some("17.0")),
        ("ios", Some("4.0")),
        ("macos", Some("14.0")),
        ("macos", None),
        ("tvos", Some("17.0")),
        ("visionos", Some("2.0")),
        ("watchos", Some("10.0")),
    ] {
        if let Ok(t) = Target::new(platform, version) {
            out.push(t.clone().supervised(true));
            out.push(t.user_enrollment(true));
        }
    }
    out
}

/// Decodes any bytes as a profile; when they decode, the profile must encode back to the
/// plist that was read, and lint (with no target, then [`fuzz_targets`]) and write its
/// findings in every format without panicking.
pub fn profile_decode_lint(data: &[u8]) {
    let Ok(profile) = Profile::decode(data) else {
        return;
    };
    if profile.signature.is_none()
        && let Ok(original) = mdm_proto::parse_dictionary(data, &LIMITS)
    {
        assert!(
            same_dict(&original, &profile.to_dictionary()),
            "the profile did not encode back to the plist read"
        );
    }
    if let Ok(bytes) = profile.encode() {
        let again = Profile::decode(&bytes);
        assert!(again.is_ok(), "an encoded profile does not decode");
    }
    let none = lint::lint(&profile, &[]);
    let all = lint::lint(&profile, &fuzz_targets());
    for report in [none, all] {
        let _ = output::human(&report, "fuzz");
        let _ = output::json(&report);
        let _ = output::sarif(&report, "fuzz");
    }
}

/// A small deterministic random source (xorshift) for generated samples.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A source from a seed.
    pub fn new(seed: u64) -> Self {
        Rng((seed ^ 0x9E37_79B9_7F4A_7C15).max(1))
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

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            // The remainder is below `n`, which is a usize.
            usize::try_from(self.next_u64() % n as u64).unwrap_or(0)
        }
    }
}

fn pick(rng: &mut Option<Rng>, n: usize) -> usize {
    rng.as_mut().map_or(0, |r| r.below(n))
}

/// A sample value for a key, of the schema's type and allowed values. With `rng`, optional
/// keys may be left out and values vary; without it, every key is present with a fixed
/// value.
pub fn sample_value(spec: &KeySpec, rng: &mut Option<Rng>, depth: usize) -> Value {
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
                None => Value::Integer(
                    rng.as_mut()
                        .map_or(7, |r| i64::from(r.next_u64() as u32))
                        .into(),
                ),
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

/// A sample dictionary for a list of keys, with one key the schema does not know
/// (`FutureKey`) unless the keys have a wildcard.
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
    // Under a wildcard every key has the wildcard's type: no room for an unknown one.
    if !keys.iter().any(KeySpec::is_wildcard) {
        dict.insert("FutureKey".to_owned(), Value::String("kept".to_owned()));
    }
    dict
}
