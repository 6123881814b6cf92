//! The schema walk: `P001 unknown-key` (with "did you mean"), `P002 wrong-type`,
//! `P003 value-not-allowed`, `P004 missing-required`, `P014 unknown-payload-type`; it asks
//! [`super::platform`] about every payload and key it meets.

use super::{
    MAX_DEPTH, MISSING_REQUIRED, Report, Severity, UNKNOWN_KEY, UNKNOWN_PAYLOAD_TYPE,
    VALUE_NOT_ALLOWED, WRONG_TYPE, platform,
};
use crate::profile::{CONFIGURATION, Payload, Profile};
use crate::schema::{self, KeySpec, Kind, find_key};
use crate::target::Target;
use mdm_proto::fields::kind_of;
use mdm_proto::plist::{Dictionary, Value};

/// Keys Apple's own tools (Profile Manager) write that the schema does not list: reported
/// as information only.
const PROFILE_MANAGER_KEYS: &[&str] = &["PayloadEnabled"];

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The keys of the profile itself, then every payload.
pub(crate) fn check_profile(profile: &Profile, targets: &[Target], report: &mut Report) {
    let top = schema::top_level();
    let walk = Walk { targets };
    if profile.keys.get("PayloadType").and_then(Value::as_string) != Some(CONFIGURATION)
        && profile.keys.contains_key("PayloadType")
    {
        report.push(
            &VALUE_NOT_ALLOWED,
            Severity::Error,
            "PayloadType",
            format!("a profile's PayloadType is `{CONFIGURATION}`"),
            None,
        );
    }
    let skip: &[&str] = if profile.has_content() {
        &["PayloadContent"]
    } else {
        &[]
    };
    walk.dict("", &profile.keys, &[top.keys], skip, 0, report);
    for (i, payload) in profile.payloads.iter().enumerate() {
        walk.payload(&format!("PayloadContent[{i}]"), payload, report);
    }
}

struct Walk<'a> {
    targets: &'a [Target],
}

impl Walk<'_> {
    fn payload(&self, path: &str, payload: &Payload, report: &mut Report) {
        let common = schema::common();
        let body = match payload.body.to_value() {
            Value::Dictionary(d) => d,
            _ => Dictionary::new(),
        };
        self.dict(path, &payload.common, &[common.keys], &[], 0, report);
        let Some(payload_type) = payload.payload_type() else {
            return;
        };
        match schema::spec(payload_type) {
            Some(spec) => {
                platform::check_payload(path, spec, self.targets, report);
                self.dict(path, &body, &[spec.keys], &[], 0, report);
            }
            None => report.push(
                &UNKNOWN_PAYLOAD_TYPE,
                Severity::Info,
                &join(path, "PayloadType"),
                format!(
                    "`{payload_type}` is not a payload type of Apple's schema{}; its keys are not checked",
                    suggestion(payload_type, schema::all().iter().map(|s| s.payload_type))
                ),
                None,
            ),
        }
    }

    /// Checks every key of `dict` against `specs` (the first set that has it), and that the
    /// required keys of the first set are there. Keys named in `skip` are not looked at.
    fn dict(
        &self,
        path: &str,
        dict: &Dictionary,
        specs: &[&'static [KeySpec]],
        skip: &[&str],
        depth: usize,
        report: &mut Report,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        for (key, value) in dict {
            if skip.contains(&key.as_str()) {
                continue;
            }
            let at = join(path, key);
            match specs.iter().find_map(|s| find_key(s, key)) {
                Some(spec) => self.value(&at, value, spec, depth + 1, report),
                None if PROFILE_MANAGER_KEYS.contains(&key.as_str()) => report.push(
                    &UNKNOWN_KEY,
                    Severity::Info,
                    &at,
                    format!(
                        "`{key}` is not in Apple's schema; Apple's Profile Manager writes it and devices ignore it"
                    ),
                    None,
                ),
                None => {
                    let names = specs
                        .iter()
                        .flat_map(|s| s.iter())
                        .filter(|s| !s.is_wildcard())
                        .map(|s| s.key);
                    report.push(
                        &UNKNOWN_KEY,
                        Severity::Warning,
                        &at,
                        format!(
                            "`{key}` is not a key of the schema here; the device ignores it{}",
                            suggestion(key, names)
                        ),
                        None,
                    );
                }
            }
        }
        if let Some(first) = specs.first() {
            for spec in first.iter() {
                if spec.required
                    && !spec.is_wildcard()
                    && !dict.contains_key(spec.key)
                    && !skip.contains(&spec.key)
                {
                    report.push(
                        &MISSING_REQUIRED,
                        Severity::Error,
                        &join(path, spec.key),
                        format!("the schema requires `{}`", spec.key),
                        None,
                    );
                }
            }
        }
    }

    fn value(
        &self,
        path: &str,
        value: &Value,
        spec: &'static KeySpec,
        depth: usize,
        report: &mut Report,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        if !kind_matches(spec.kind, value) {
            report.push(
                &WRONG_TYPE,
                Severity::Error,
                path,
                format!(
                    "the schema gives `{}` the type {}, this is {}",
                    spec.key,
                    kind_name(spec.kind),
                    kind_of(value)
                ),
                None,
            );
            return;
        }
        platform::check_key(path, spec, self.targets, report);
        allowed(path, value, spec, report);
        match value {
            Value::Dictionary(d) if !spec.children.is_empty() => {
                self.dict(path, d, &[spec.children], &[], depth, report);
            }
            Value::Array(items) => {
                if let [item] = spec.children {
                    for (i, v) in items.iter().enumerate() {
                        self.value(&format!("{path}[{i}]"), v, item, depth + 1, report);
                    }
                }
            }
            _ => {}
        }
    }
}

/// `P003`: allowed values and ranges of scalars.
fn allowed(path: &str, value: &Value, spec: &KeySpec, report: &mut Report) {
    let text = match value {
        Value::String(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    };
    if let Some(text) = &text
        && !spec.values.is_empty()
        && !spec.values.contains(&text.as_str())
    {
        let shown: Vec<String> = spec
            .values
            .iter()
            .take(12)
            .map(|v| format!("`{v}`"))
            .collect();
        report.push(
            &VALUE_NOT_ALLOWED,
            Severity::Error,
            path,
            format!(
                "`{text}` is not an allowed value of `{}` ({}{}){}",
                spec.key,
                shown.join(", "),
                if spec.values.len() > 12 { ", …" } else { "" },
                suggestion(text, spec.values.iter().copied())
            ),
            None,
        );
    }
    let number = match value {
        Value::Integer(i) => i
            .as_signed()
            .map(|x| x as f64)
            .or_else(|| i.as_unsigned().map(|x| x as f64)),
        Value::Real(r) => Some(*r),
        _ => None,
    };
    if let Some(x) = number {
        let below = spec.min.is_some_and(|m| x < m);
        let above = spec.max.is_some_and(|m| x > m);
        if below || above {
            let range = |v: Option<f64>| v.map_or_else(|| "…".to_owned(), |v| v.to_string());
            report.push(
                &VALUE_NOT_ALLOWED,
                Severity::Error,
                path,
                format!(
                    "{x} is outside the range of `{}` ({} to {})",
                    spec.key,
                    range(spec.min),
                    range(spec.max)
                ),
                None,
            );
        }
    }
}

fn kind_matches(kind: Kind, value: &Value) -> bool {
    match kind {
        Kind::String => matches!(value, Value::String(_)),
        Kind::Boolean => matches!(value, Value::Boolean(_)),
        Kind::Integer => matches!(value, Value::Integer(_)),
        // A device reads an integer where a real is expected.
        Kind::Real => matches!(value, Value::Real(_) | Value::Integer(_)),
        Kind::Data => matches!(value, Value::Data(_)),
        Kind::Date => matches!(value, Value::Date(_)),
        Kind::Dictionary => matches!(value, Value::Dictionary(_)),
        Kind::Array => matches!(value, Value::Array(_)),
        _ => true,
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::String => "a string",
        Kind::Boolean => "a boolean",
        Kind::Integer => "an integer",
        Kind::Real => "a real",
        Kind::Data => "data",
        Kind::Date => "a date",
        Kind::Dictionary => "a dictionary",
        Kind::Array => "an array",
        _ => "any",
    }
}

/// `; did you mean `X`?` for the closest candidate: same spelling but for case, or a few
/// edits away (Damerau-Levenshtein, at most a third of the name's length).
pub fn suggestion<'a>(given: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    let lower = given.to_ascii_lowercase();
    let limit = (given.chars().count() / 3).clamp(1, 4);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c == given {
            continue;
        }
        let d = if c.eq_ignore_ascii_case(given) {
            0
        } else {
            strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase())
        };
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}
